"""`gridward db restore --force` carries the replaced database's audit entries from after the
backup over only when that database descends from the backup (outside tester T68 #14: an
installation's backup restored over the district server's database, which held another
demo, carried that demo's 47 entries into the restored log, naming tracks and users it did
not hold).

Real databases only: each test makes its own on the session's server and points the CLI at
it with DATABASE_URL (restore as the server's superuser, as a one-role district server).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from tests.test_db_ops_t68 import _libpq, drop_databases_like

REPO = Path(__file__).resolve().parents[1]
GRIDWARD = str(Path(sys.executable).with_name("gridward"))
ENTRY = "SELECT id, at, actor, action, target_type, target_id FROM audit_log ORDER BY id"


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(COLUMNS="200", DATABASE_URL=url)
    return subprocess.run(
        [GRIDWARD, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def _rows(url: str, sql: str = ENTRY) -> list[tuple]:
    with psycopg.connect(_libpq(url)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture()
def databases(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Makes migrated gridward databases (with PostGIS) on the session's server, each
    an installation of its own; its DATABASE_URL. All are dropped after."""
    from geo.db import dispose_engines, migrate

    admin = _libpq(pg_admin_url, "postgres")
    prefix = f"lineage_{secrets.token_hex(3)}"
    made: list[str] = []

    def make() -> str:
        name = f"{prefix}_{len(made)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        engine = create_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        return url

    try:
        yield make
    finally:
        dispose_engines()
        drop_databases_like(admin, prefix)


def _built(url: str, build: Callable[[Engine], object]) -> None:
    engine = create_engine(url)
    try:
        build(engine)
    finally:
        engine.dispose()


def _demo_with_grids(engine: Engine) -> None:
    from geo.demo import load_city, make_grids

    load_city(engine)
    make_grids(engine)


def _record(url: str, action: str, n: int) -> None:
    from geo.audit import record

    _built(url, lambda e: _in_one(e, lambda c: record(c, "alice", action, "grid", n, {})))


def _in_one(engine: Engine, write: Callable) -> None:
    with engine.begin() as conn:
        write(conn)


def test_another_installations_entries_are_not_carried_over(databases, tmp_path) -> None:
    """T68 #14: the demo city's backup restored over another installation's database (the
    demo city with its grids committed) carried that one's entries (import, plan.commit)
    into the restored log, and moved the restored ids on to that one's. Now the restored
    log is the backup's and the restore's own entry; one line says how many were not
    carried and why, and so does the db.restore entry."""
    from geo.demo import load_city

    home, district = databases(), databases()
    _built(home, load_city)
    dump = tmp_path / "backup1.dump"
    assert _cli(home, "db", "backup", str(dump)).returncode == 0
    backed = _rows(home)
    sequences = "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
    home_ids = _rows(home, sequences)
    _built(district, _demo_with_grids)
    theirs = _rows(district)
    assert len(theirs) > len(backed) and any(r[3] == "plan.commit" for r in theirs)
    assert _rows(district, sequences) != home_ids  # its grids' ids, at least, are further on

    out = _cli(district, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stdout + out.stderr
    n = len(theirs)
    assert (
        "审计记录未转入：被替换的数据库属于另一套安装（备份中最新的审计记录不在其中）；"
        f"其 {n} 条审计记录未转入恢复后的数据库，已随它删除（除非替换前已备份它） "
        "the replaced database was another installation's (the backup's newest audit entry "
        f"is not in it): its {n} audit entries were not carried over into the restored "
        "database and are gone with it (unless it was backed up first)\n"
    ) in out.stdout, out.stdout
    assert "审计记录：备份之后" not in out.stdout and "were carried over" not in out.stdout
    after = _rows(district)
    assert after[:-1] == backed, after  # the backup's entries, ids and all; none of theirs
    assert after[-1][3] == "db.restore"
    detail = _rows(district, f"SELECT detail FROM audit_log WHERE id = {after[-1][0]}")[0][0]
    assert detail["carried_over"] == 0 and detail["not_carried_over"] == n, detail
    # the ids go on from the backup's own, as a restore into an empty database's would
    assert _rows(district, sequences) == [
        (s, v if s != "audit_log_id_seq" else after[-1][0]) for s, v in home_ids
    ]


def test_own_entries_are_carried_over_whatever_their_id_now(databases, tmp_path) -> None:
    """A database descended from the backup keeps its entries made since, as before: over
    a database an earlier restore made (of the same backup, or of an older one whose restore
    carried the backup's entries over with new ids). A backup with an empty audit log cannot
    tell whose it is: nothing is carried, and the line says why."""
    home = databases()
    x, y = tmp_path / "x.dump", tmp_path / "y.dump"
    _record(home, "grid.update", 1)
    assert _cli(home, "db", "backup", str(x)).returncode == 0
    _record(home, "grid.update", 2)
    assert _cli(home, "db", "backup", str(y)).returncode == 0
    _record(home, "grid.update", 3)

    def restore(dump: Path, carried: int) -> list[tuple]:
        out = _cli(home, "db", "restore", str(dump), "--force")
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"审计记录：备份之后的 {carried} 条审计记录已转入" in out.stdout, out.stdout
        assert "审计记录未转入" not in out.stdout
        return _rows(home)

    def told(rows: list[tuple]) -> list[tuple]:
        return [(r[3], r[5]) for r in rows]

    rows = restore(x, carried=2)  # entries 2 and 3, new ids
    assert told(rows) == [("grid.update", "1"), ("grid.update", "2"), ("grid.update", "3")] + [
        ("db.restore", None)
    ]
    # y's newest entry (2) is here under its new id: the line goes on, carrying 3 and the
    # restore of x
    rows = restore(y, carried=2)
    assert told(rows) == [("grid.update", str(n)) for n in (1, 2, 3)] + [("db.restore", None)] * 2
    rows = restore(y, carried=3)  # over y's own restore
    assert len(rows) == 6 and told(rows)[-3:] == [("db.restore", None)] * 3

    blank = databases()  # an installation that has recorded nothing yet
    empty = tmp_path / "empty.dump"
    assert _cli(blank, "db", "backup", str(empty)).returncode == 0
    out = _cli(home, "db", "restore", str(empty), "--force")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        "审计记录未转入：备份中没有审计记录，无法确认被替换的数据库由这份备份而来；其 6 条审计记录"
        "未转入恢复后的数据库" in out.stdout
    ), out.stdout
    assert "the backup holds no audit entries, so the replaced database cannot be shown" in (
        out.stdout
    )
    assert told(_rows(home)) == [("db.restore", None)]
