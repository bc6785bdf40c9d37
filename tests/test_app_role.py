"""The app's database role is not a superuser (security audit T42 #4).

The embedded cluster keeps initdb's superuser (``gridward``) for its administration; the API,
the CLI and the migrations log in as ``gridward_app``, which owns the database and every
object of the app. A cluster made by an older gridward (one login, a superuser's, owning
everything) is upgraded by its next start, and one cut off half way (kill -9) by the start
after. Real clusters only (fsync off), as in test_embedded_db.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from geo.embedded import EmbeddedCluster, _to_hand_over
from tests.dbcheck import fingerprint

REPO = Path(__file__).resolve().parents[1]
GRIDWARD = str(Path(sys.executable).with_name("gridward"))
APP = "gridward_app"
_SUPER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"


def _libpq(url: str, database: str | None = None) -> str:
    out = url.replace("postgresql+psycopg://", "postgresql://")
    return out if database is None else out.rsplit("/", 1)[0] + "/" + database


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env.update(GRIDWARD_DATA_DIR=str(folder), COLUMNS="200")
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRIDWARD, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def _refused(url: str, sql: str) -> str:
    """The server's refusal of ``sql`` run with ``url`` (fails the test when it runs)."""
    with (
        psycopg.connect(_libpq(url), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as err,
    ):
        conn.execute(sql)
    return str(err.value)


def _owners(admin_url: str) -> dict[str, int]:
    """How many of the app's objects each role owns (tables with partitions, sequences,
    the database), and the superuser's left to hand over."""
    with psycopg.connect(_libpq(admin_url)) as conn:
        rows = conn.execute(
            "SELECT pg_get_userbyid(c.relowner), count(*) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND c.relkind IN ('r', 'p', 'S') AND c.relname <> 'spatial_ref_sys' GROUP BY 1"
        ).fetchall()
        out = {r[0]: int(r[1]) for r in rows}
        out[
            "database:"
            + conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            ).fetchone()[0]
        ] = 1
        out["left"] = len(_to_hand_over(conn, "gridward"))
    return out


def _make_old_layout(
    cluster: EmbeddedCluster, populate: bool = True
) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    """The cluster as an older gridward left it: one login (the superuser's) in cluster.json,
    the database and every object made by and owned by that superuser, no app role; stopped.
    Returns who owned what (:func:`_owners`) and every table's fingerprint."""
    from geo.accounts import create_user
    from geo.db import migrate

    state = cluster.start()
    admin = state.admin_url
    with psycopg.connect(_libpq(admin, "postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE gridward WITH (FORCE)")
        conn.execute("DROP ROLE gridward_app")
        conn.execute("CREATE DATABASE gridward")
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    engine = create_engine(admin)
    try:
        migrate(engine)
        if populate:
            from geo.demo import populate as fill

            fill(engine, seed=0)
        with engine.begin() as conn:
            create_user(conn, "kept", "pw-" + "x" * 12, "admin", (), None)
        before = fingerprint(engine)
    finally:
        engine.dispose()
    owners = _owners(admin)
    old = {"port": state.port, "password": state.password, "user": "gridward"}
    cluster.state_file.write_text(json.dumps({**old, "database": "gridward"}))
    cluster.state_file.chmod(0o600)
    cluster.stop()
    return owners, before


def test_a_new_cluster_s_app_login_is_not_a_superuser(folder: Path) -> None:
    """The app's URL (state.url, `db url`) is a role that is no superuser and owns the
    database: COPY … TO PROGRAM (a shell), ALTER SYSTEM and pg_read_file are refused; the
    superuser's login is kept in cluster.json (600) and given by `db url --admin` only."""
    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    assert state.app_user == APP and f"//{APP}:" in state.url
    with psycopg.connect(_libpq(state.url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False)
        owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'gridward'"
        assert conn.execute(owner).fetchone()[0] == APP
    assert "COPY to or from an external program" in _refused(
        state.url, "COPY (SELECT 1) TO PROGRAM 'id'"
    )
    assert "permission denied" in _refused(state.url, "ALTER SYSTEM SET work_mem = '8MB'")
    assert "permission denied" in _refused(state.url, "SELECT pg_read_file('PG_VERSION')")
    assert "must be superuser" in _refused(state.url, "CREATE ROLE intruder SUPERUSER")
    with psycopg.connect(_libpq(state.admin_url), autocommit=True) as conn:
        assert conn.execute(_SUPER).fetchone() == (True,)
    saved = json.loads(cluster.state_file.read_text())
    assert saved["user"] == "gridward" and saved["app_user"] == APP
    assert saved["app_password"] != saved["password"]
    assert cluster.state_file.stat().st_mode & 0o777 == 0o600

    env = {**_env(folder), "GRIDWARD_PG_PORT": str(state.port)}
    assert _cli(env, "db", "url").stdout.strip() == state.url
    assert _cli(env, "db", "url", "--libpq").stdout.strip() == _libpq(state.url)
    assert _cli(env, "db", "url", "--admin").stdout.strip() == _libpq(
        state.admin_url, "postgres"
    ).replace("postgresql://", "postgresql+psycopg://")
    out = _cli(env, "db", "status")
    assert out.returncode == 0 and "warning" not in out.stderr, (out.stdout, out.stderr)


def test_the_session_database_is_used_as_a_role_that_is_not_a_superuser(engine) -> None:
    """Every test of the suite runs the app as it runs in a city (not with DATABASE_URL)."""
    if os.environ.get("DATABASE_URL"):
        pytest.skip("DATABASE_URL: the server's role is the tester's")
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert tuple(row) == (APP, False)


def test_an_old_cluster_is_upgraded_on_start_with_every_row_kept(folder: Path) -> None:
    """A cluster.json with the superuser's login only (an older gridward's): the next start
    makes the app role, hands it the database and every object (the day tables too), not
    PostGIS's, says so once on stderr, and writes both logins. Every row is as it was; a
    new day's upload then makes its day table as the app; a second start changes nothing."""
    from geo.track_partitions import ensure_day_partitions

    cluster = EmbeddedCluster(folder, fast=True)
    before_owners, before = _make_old_layout(cluster)
    admin = json.loads(cluster.state_file.read_text())
    assert set(admin) == {"port", "password", "user", "database"}
    assert before_owners.get(APP) is None and before_owners["left"] > 10, before_owners

    out = _cli(_env(folder), "db", "start")
    assert out.returncode == 0, out.stderr
    told = [ln for ln in out.stderr.splitlines() if "数据库升级" in ln]
    assert len(told) == 1 and f"now belong to role {APP}" in told[0], out.stderr

    state = cluster.read_state()
    assert state.app_user == APP and state.password == admin["password"]
    owners = _owners(state.admin_url)
    assert owners["left"] == 0 and "gridward" not in owners, owners
    assert owners["database:" + APP] == 1 and owners[APP] > 10
    with psycopg.connect(_libpq(state.admin_url)) as conn:  # PostGIS stays the superuser's
        srs = "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'spatial_ref_sys'"
        assert conn.execute(srs).fetchone()[0] == "gridward"
    engine = create_engine(state.url)
    try:
        assert fingerprint(engine) == before
        with engine.connect() as conn:
            assert conn.execute(text(_SUPER)).scalar() is False
            days = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'track_points'::regclass")
            ).scalar()
        assert days > 0
        new_day = dt.date(2031, 1, 2)
        assert ensure_day_partitions(engine, [new_day]) == 1
        with engine.connect() as conn:
            made = conn.execute(
                text(
                    "SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relname = 'track_points_p20310102'"
                )
            ).scalar()
        assert made == APP
    finally:
        engine.dispose()

    again = _cli(_env(folder), "db", "start")
    assert again.returncode == 0 and "数据库升级" not in again.stderr, again.stderr
    assert cluster.read_state().app_password == state.app_password


_KILLED_AT = """
import os, sys
from pathlib import Path
import geo.embedded as E

where = sys.argv[2]
if where == "hand-over":  # after the first of several small transactions
    real, calls = E._to_hand_over, []
    def few(conn, admin):
        calls.append(1)
        if len(calls) == 3:  # the app's look, the first batch, then killed before the next
            os.kill(os.getpid(), 9)
        return real(conn, admin)[:5]
    E._to_hand_over = few
else:  # everything handed over, cluster.json not yet written
    real_write = E.EmbeddedCluster._write_state
    def write(self, state):
        if state.app_password:
            os.kill(os.getpid(), 9)
        real_write(self, state)
    E.EmbeddedCluster._write_state = write
E.EmbeddedCluster(Path(sys.argv[1]), fast=True).start()
"""


@pytest.mark.parametrize("where", ["hand-over", "cluster.json"])
def test_an_upgrade_killed_half_way_is_finished_by_the_next_start(folder: Path, where) -> None:
    """kill -9 in the middle of handing objects over (some moved, in committed batches), or
    after it and before cluster.json is written (the role's password never kept): the next
    start finishes the upgrade; every row kept, nothing left to the superuser."""
    cluster = EmbeddedCluster(folder, fast=True)
    _make_old_layout(cluster, populate=False)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, str(folder), where],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    assert cluster.read_state().app_user is None  # cluster.json as the older gridward left it
    if where == "hand-over":
        halfway = _owners(cluster.read_state().admin_url)
        assert halfway.get(APP, 0) > 0 and halfway["left"] > 0, halfway

    state = EmbeddedCluster(folder, fast=True).start()
    assert state.app_user == APP
    owners = _owners(state.admin_url)
    assert owners["left"] == 0 and "gridward" not in owners, owners
    with psycopg.connect(_libpq(state.url)) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [("kept",)]


def test_a_table_locked_by_a_long_query_stops_the_upgrade_naming_it(
    folder: Path, monkeypatch
) -> None:
    """h49: the hand-over's ALTER … OWNER waited for ever on a table a long query (or a
    session idle in a transaction) held, and the start hung saying nothing. Now each waits
    at most the lock timeout; the start then fails naming the table, who holds it and the
    remedy, with the batches already handed over kept; once the holder is gone the next
    start finishes."""
    import geo.embedded as embedded
    from geo.errors import ConflictError

    cluster = EmbeddedCluster(folder, fast=True)
    _make_old_layout(cluster, populate=False)
    old = cluster.read_state()
    cluster._start_server(old)  # running, as an older gridward left it (nothing handed over)
    monkeypatch.setattr(embedded, "HAND_OVER_BATCH", 5)  # several batches before users
    monkeypatch.setattr(embedded, "HAND_OVER_LOCK_TIMEOUT_S", 0.5)
    holder = psycopg.connect(_libpq(old.admin_url), application_name="t49-report")
    try:
        # the server ends the holder after 30 s: code with no lock timeout fails, not hangs
        holder.execute("SET idle_in_transaction_session_timeout = '30s'")
        holder.execute("SELECT count(*) FROM users").fetchone()  # idle in its transaction
        pid = holder.info.backend_pid
        with pytest.raises(ConflictError) as stuck:
            EmbeddedCluster(folder, fast=True).start()
        said = stuck.value.message
        assert said.startswith(
            f"数据库升级未完成：表 public.users 被其他连接锁住（进程 {pid}（t49-report，来自 "
            "127.0.0.1，事务未结束且空闲，已 "
        ), said
        assert "等待 0.5 秒后放弃；已交给角色 gridward_app 的 " in said, said
        assert "其余（含 public.users）由下次启动继续。请结束占用它的程序或会话" in said, said
        assert (
            " database upgrade not finished: the table public.users is locked by another "
            f"connection (pid {pid} (t49-report, from 127.0.0.1, idle in transaction for "
        ) in said, said
        assert "gave up after waiting 0.5 s; the " in said and "'gridward db start' again" in said
        halfway = _owners(old.admin_url)
        assert halfway.get(APP, 0) >= 5 and halfway["left"] > 0, halfway  # batches kept
        assert cluster.read_state().app_user is None  # cluster.json as the older one left it
    finally:
        holder.close()
    state = EmbeddedCluster(folder, fast=True).start()
    assert state.app_user == APP
    owners = _owners(state.admin_url)
    assert owners["left"] == 0 and "gridward" not in owners, owners
    with psycopg.connect(_libpq(state.url)) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [("kept",)]


def test_adopt_takes_back_an_old_cluster_and_upgrades_it(folder: Path) -> None:
    """--adopt of a cluster of an older gridward whose cluster.json was lost: the superuser
    gets a new password, and the same start makes the app role and hands everything over."""
    cluster = EmbeddedCluster(folder, fast=True)
    _make_old_layout(cluster, populate=False)
    cluster.state_file.unlink()
    state = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert state.app_user == APP and state.app_password
    owners = _owners(state.admin_url)
    assert owners["left"] == 0 and "gridward" not in owners, owners
    with psycopg.connect(_libpq(state.url)) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [("kept",)]
        assert conn.execute(_SUPER).fetchone() == (False,)
    saved = json.loads(cluster.state_file.read_text())
    assert saved["app_password"] == state.app_password and saved["password"] == state.password


def _schema_with_user(url: str, username: str) -> None:
    """gridward's schema in the database of ``url``, made by its role, and one admin."""
    from geo.accounts import create_user
    from geo.db import migrate

    engine = create_engine(url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            create_user(conn, username, "pw-" + "x" * 12, "admin", (), None)
    finally:
        engine.dispose()


def _restored_holds(env: dict[str, str], dump: Path, state, username: str) -> None:  # noqa: ANN001
    """``db restore`` of ``dump`` succeeds, leaves every object the app's, and the database
    holds ``username`` only."""
    out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    owners = _owners(state.admin_url)
    assert owners["left"] == 0 and "gridward" not in owners, owners
    with psycopg.connect(_libpq(state.url)) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [(username,)]


def test_backup_and_restore_round_trip_as_the_app_role(folder: Path, tmp_path: Path) -> None:
    """`db backup` and `db restore` as the app role (the superuser only makes, renames and
    drops databases and installs PostGIS): a backup of this layout, and one made of the old
    superuser-owned layout (an older gridward's), both restore, every object then the app's.
    `db status` warns of a DATABASE_URL whose role is a superuser, and only then."""
    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    _schema_with_user(state.url, "new_layout")
    env = {**_env(folder), "GRIDWARD_PG_PORT": str(state.port)}
    dump = tmp_path / "new.dump"
    out = _cli(env, "db", "backup", str(dump))
    assert out.returncode == 0, out.stderr
    with psycopg.connect(_libpq(state.url), autocommit=True) as conn:
        conn.execute("DELETE FROM users")
    _restored_holds(env, dump, state, "new_layout")

    # a backup of an older gridward's cluster: every object the superuser's
    old_url = state.admin_url.rsplit("/", 1)[0] + "/oldlayout"
    with psycopg.connect(_libpq(state.admin_url, "postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE oldlayout")
    with psycopg.connect(_libpq(old_url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    _schema_with_user(old_url, "old_layout")
    old_env = {**env, "DATABASE_URL": old_url}
    status = _cli(old_env, "db", "status")
    assert status.returncode == 0, status.stderr
    assert "warning: DATABASE_URL 中的角色 gridward 是超级用户" in status.stderr, status.stderr
    assert "the role gridward in DATABASE_URL is a superuser" in status.stderr
    old_dump = tmp_path / "old.dump"
    assert _cli(old_env, "db", "backup", str(old_dump)).returncode == 0
    with psycopg.connect(_libpq(state.admin_url, "postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE oldlayout WITH (FORCE)")
    _restored_holds(env, old_dump, state, "old_layout")
    status = _cli({**env, "DATABASE_URL": state.url}, "db", "status")
    assert status.returncode == 0 and "warning" not in status.stderr, status.stderr


def test_the_superuser_never_runs_the_apps_functions(folder: Path) -> None:
    """T48 #1: the app owns the database, so it set the database's search_path to a schema of
    its own holding a ``format()``; the next start's hand-over (as the superuser) ran it, and
    the app made itself a superuser. The superuser's sessions now resolve names in pg_catalog
    only, whatever the database's settings; its `db url --admin` opens `postgres`."""
    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    trap = (
        "CREATE SCHEMA evil; "
        "CREATE FUNCTION evil.format(a text, b text, c regclass, d text) RETURNS text "
        "LANGUAGE plpgsql AS $$ BEGIN IF current_user = 'gridward' THEN "
        "EXECUTE 'ALTER ROLE gridward_app SUPERUSER'; END IF; "
        "RETURN pg_catalog.format(a, b, c, d); END $$; "
        "CREATE FUNCTION evil.format(a text, b text, c text) RETURNS text "
        "LANGUAGE plpgsql AS $$ BEGIN IF current_user = 'gridward' THEN "
        "EXECUTE 'ALTER ROLE gridward_app SUPERUSER'; END IF; "
        "RETURN pg_catalog.format(a, b, c); END $$; "
        "ALTER DATABASE gridward SET search_path = evil, pg_catalog, public"
    )
    with psycopg.connect(_libpq(state.url), autocommit=True) as conn:
        conn.execute(trap)
    # one object of the superuser's to hand over (as an older gridward's upload makes)
    with psycopg.connect(_libpq(state.admin_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.left_behind (x int)")
    with cluster._connect(state, state.database) as conn:
        assert conn.execute("SHOW search_path").fetchone()[0] == "pg_catalog,pg_temp"
    state = cluster.start()  # hands left_behind over
    with psycopg.connect(_libpq(state.admin_url, "postgres")) as conn:
        assert not conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'gridward_app'"
        ).fetchone()[0]
        owner = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'left_behind'"
        ).fetchone()
    assert owner is None or owner[0] in ("gridward_app", "gridward")
    with psycopg.connect(_libpq(state.url)) as conn:
        assert (
            conn.execute(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'left_behind'"
            ).fetchone()[0]
            == "gridward_app"
        )
    out = _cli(_env(folder), "db", "url", "--admin", "--libpq")
    assert out.returncode == 0 and out.stdout.strip().endswith("/postgres"), out
