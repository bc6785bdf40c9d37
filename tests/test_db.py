"""The embedded PostGIS cluster and the schema: real server, real migrations."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from geo import embedded
from geo.errors import SetupError
from geo.schema import metadata


def test_schema_matches_models(engine):
    """The migrated database and the ORM models agree (no pending autogenerate diff)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda o, n, t, r, c: not (t == "table" and r and c is None),
                "compare_type": True,
            },
        )
        diff = [d for d in compare_metadata(ctx, metadata) if "spatial_ref_sys" not in str(d)]
    assert diff == []


# Raw GPS fixes are read only by track or by day, never by place (spatial questions go to the
# matched patrol_visits); a GiST on them made every upload's COPY 2.3× slower. See
# geo.models.TrackPoint.
NO_SPATIAL_INDEX = {"track_points"}


def test_every_geometry_column_has_gist_index_and_srid(engine):
    with engine.connect() as conn:
        cols = conn.execute(
            text(
                "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns g "
                "WHERE f_table_schema = 'public' AND NOT EXISTS (SELECT 1 FROM pg_class c "
                "WHERE c.relname = g.f_table_name AND c.relispartition)"
            )
        ).all()
        indexes = conn.execute(
            text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        ).all()
    from geoalchemy2 import Geometry

    declared = {
        (t.name, c.name)
        for t in metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, Geometry)
    }
    assert {(t, c) for t, c, _ in cols} == declared
    for table, column, srid in cols:
        assert srid == 4326, (table, column)
        if table in NO_SPATIAL_INDEX:
            assert not any(t == table and "USING gist" in d for t, d in indexes), table
            continue
        assert any(t == table and "USING gist" in d and f"({column})" in d for t, d in indexes), (
            f"{table}.{column} has no GiST index"
        )


def test_constraints_reject_bad_rows(db):
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, level, name, geom) VALUES ('11010', 'district', 'x', "
                "ST_Multi(ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)))"
            )
        )
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO buildings (source_key, households, household_source, geom) VALUES "
                "('k', -1, 'given', ST_Multi(ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)))"
            )
        )
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM areas")).scalar() == 0


def test_embedded_cluster_lifecycle():
    """Start, reuse, stop, restart: the data survives and the port is reused."""
    folder = Path(tempfile.mkdtemp(prefix="gridward-life-"))
    folder.chmod(0o755)
    cluster = embedded.EmbeddedCluster(folder / "data", fast=True)
    try:
        state = cluster.start()
        assert cluster.is_running()
        again = embedded.EmbeddedCluster(folder / "data").start()  # a second process reuses it
        assert again.port == state.port and again.password == state.password
        eng = create_engine(state.url)
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE kept (x int)"))
            conn.execute(text("INSERT INTO kept VALUES (42)"))
            assert conn.execute(text("SELECT postgis_lib_version()")).scalar().startswith("3")
        eng.dispose()
        assert cluster.stop() is True
        assert not cluster.is_running()
        assert cluster.stop() is False
        state2 = cluster.start()
        eng = create_engine(state2.url)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT x FROM kept")).scalar() == 42
        eng.dispose()
        # the URL carries a password: the state file is private
        assert (cluster.state_file.stat().st_mode & 0o077) == 0
    finally:
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def test_missing_postgis_names_debian_package(monkeypatch):
    monkeypatch.setattr(embedded, "_postgis_installed", lambda version: False)
    with pytest.raises(SetupError) as err:
        embedded.find_binaries()
    assert "postgis-3" in err.value.message and "apt-get install" in err.value.message


def test_missing_server_names_debian_packages(monkeypatch):
    monkeypatch.setattr(embedded.Path, "glob", lambda self, pattern: iter(()))
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    with pytest.raises(SetupError) as err:
        embedded.find_binaries()
    assert embedded.DEBIAN_PACKAGES in err.value.message


def test_a_full_disk_is_named_not_a_lost_connection(tmp_path: Path) -> None:
    """Outside tester item 2: a restore on a full disk read "无法连接数据库 … server closed
    the connection unexpectedly" (the server PANICs; its log says why). A DiskFull error, or
    a cut connection with the embedded cluster's log saying so, is 磁盘已满 disk full."""
    import psycopg

    from geo.db import failure_line
    from geo.errors import db_failure
    from geo.settings import Settings

    here = Settings(data_dir=tmp_path, database_url=None)
    full = db_failure(psycopg.errors.DiskFull("could not extend file: No space left on device"))
    assert full is not None
    # the driver's English only in the English part (T37 F13)
    assert failure_line(full, here).startswith(
        "磁盘已满（数据库错误（DiskFull）：磁盘上没有剩余空间）"
    )
    assert "disk full: No space left on device (database error (DiskFull)" in failure_line(
        full, here
    )

    cut = db_failure(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert cut is not None
    assert failure_line(cut, here).startswith("无法连接数据库")
    (tmp_path / "postgres.log").write_text(
        '2025-01-01 PANIC:  could not write to file "pg_wal/xlogtemp.1": No space left on '
        "device\n2025-01-01 LOG:  all server processes terminated; reinitializing\n"
    )
    line = failure_line(cut, here)
    assert line.startswith("磁盘已满：") and "postgres.log" in line, line
    assert " disk full: " in line and "请清理数据库所在磁盘的空间" in line, line


def test_a_failed_connection_reads_chinese_in_the_chinese(pg_url: str) -> None:
    """T37 F13: psycopg's words ("Connection refused", "password authentication failed …")
    stood inside the Chinese of the CLI's line. Now the Chinese says them in Chinese, the host,
    port, user and database kept; the English part keeps the driver's words as they were."""
    import psycopg
    from sqlalchemy.engine import make_url

    from geo.db import failure_line
    from geo.errors import db_failure
    from geo.settings import Settings

    url = make_url(pg_url).set(drivername="postgresql")
    port = url.port
    cases = {
        "password": (url.set(password="not-it"), f"用户 {url.username} 密码验证失败"),
        "database": (url.set(database="no_such_db"), "数据库 no_such_db 不存在"),
    }
    outside = Settings(database_url=pg_url)
    for what, (bad, said_zh) in cases.items():
        with pytest.raises(psycopg.OperationalError) as err:
            psycopg.connect(bad.render_as_string(hide_password=False), connect_timeout=10)
        failed = db_failure(err.value)
        assert failed is not None
        line = failure_line(failed, outside)
        chinese, english = line.split(" database error (OperationalError): ", 1)
        assert f"连接服务器 {url.host} 端口 {port} 失败：{said_zh}" in chinese, (what, line)
        assert "failed" not in chinese and "FATAL" not in chinese, (what, line)
        assert failed.line in line and english.startswith(failed.line), (what, line)


def _gridward_at_a_closed_port(*args: str):  # -> subprocess.CompletedProcess[str]
    """The installed ``gridward ARGS`` run with a DATABASE_URL whose port nothing listens on."""
    return _gridward_with("postgresql://nobody:x@127.0.0.1:1/none", *args)


def _gridward_with(database_url: str, *args: str):  # -> subprocess.CompletedProcess[str]
    """The installed ``gridward ARGS`` run with DATABASE_URL ``database_url``."""
    import os
    import subprocess
    import sys

    from tests.test_assign_cli import GRIDWARD, REPO

    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.run(
        [*cmd, *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_server_that_is_down_reads_chinese_first_in_the_cli() -> None:
    """T37 F13: `gridward report daily` against a port nothing listens on said "… port 1
    failed: Connection refused" inside the Chinese; now 连接被拒绝, the English unchanged."""
    res = _gridward_at_a_closed_port("report", "daily")
    (line,) = res.stderr.strip().splitlines()
    assert res.returncode == 1, res.stderr
    assert line.startswith(
        "error: 无法连接数据库（数据库错误（OperationalError）：连接服务器 127.0.0.1 端口 1 失败："
        "连接被拒绝）：服务器是否在运行？请检查 DATABASE_URL 中的主机和端口 "
    ), line
    chinese = line.split(" database error ", 1)[0]
    assert "Connection refused" not in chinese and "failed" not in chinese, line
    assert line.endswith(
        " database error (OperationalError): connection failed: connection to server at "
        '"127.0.0.1", port 1 failed: Connection refused (is the server running? check the '
        "host and port in DATABASE_URL)"
    ), line


def test_a_refused_embedded_login_says_why_in_chinese(tmp_path: Path) -> None:
    """T37 F13: the stale cluster.json line quoted "password authentication failed for user
    …" inside its Chinese."""
    why = 'password authentication failed for user "gridward"'
    msg = embedded.login_refused_message(tmp_path, why)
    chinese, english = msg.split(" the embedded database refused", 1)
    assert "保存的登录（用户 gridward 密码验证失败）" in chinese, msg
    assert "password" not in chinese and f"({why})" in english, msg


def test_db_status_of_a_server_not_running_says_why_in_chinese() -> None:
    """`gridward db status` of an unreachable DATABASE_URL quoted libpq's "Connection refused"
    inside its Chinese (T37 F13, the status line)."""
    res = _gridward_at_a_closed_port("db", "status")
    assert res.returncode == 1, res.stdout + res.stderr
    (line,) = res.stdout.strip().splitlines()
    chinese, english = line.split("。 unreachable (", 1)
    assert "连接服务器 127.0.0.1 端口 1 失败：连接被拒绝" in chinese, line
    assert "Connection refused" not in chinese and "failed" not in chinese, line
    assert "Connection refused" in english, line
    # refused: the server may be down, and that is the remedy (T39 M6 kept it for this cause)
    assert chinese.endswith("；服务器是否在运行？请检查主机和端口"), line
    assert english.endswith(": is the server running? check the host and port"), line


@pytest.mark.parametrize("cause", ["password", "database", "host"])
def test_db_status_remedy_follows_the_cause(pg_url: str, cause: str) -> None:
    """T39 M6: `gridward db status` with a DATABASE_URL whose password was wrong said
    "服务器是否在运行" (is the server running?). Each cause now has its remedy: the user and
    password, the database name, the host name. Run against the test cluster (it checks
    passwords: scram-sha-256 for its gridward role over TCP)."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url).set(drivername="postgresql")
    bad, said_zh, do_zh, do = {
        "password": (
            url.set(password="not-it"),
            f"连接服务器 {url.host} 端口 {url.port} 失败：用户 {url.username} 密码验证失败",
            "请检查 DATABASE_URL 中的用户名和密码",
            "check the user and password in DATABASE_URL",
        ),
        "database": (
            url.set(database="no_such_db"),
            f"连接服务器 {url.host} 端口 {url.port} 失败：数据库 no_such_db 不存在",
            "请检查 DATABASE_URL 中的数据库名，或先创建该数据库",
            "check the database name in DATABASE_URL, or create it",
        ),
        "host": (
            url.set(host="no-such-host.invalid"),
            "无法解析主机名 no-such-host.invalid",
            "请检查 DATABASE_URL 中的主机名",
            "check the host name in DATABASE_URL",
        ),
    }[cause]
    res = _gridward_with(bad.render_as_string(hide_password=False), "db", "status")
    # a login refused or a database missing is set-up (3); a host unknown may be DNS (T68 #8)
    assert res.returncode == (1 if cause == "host" else 3), res.stdout + res.stderr
    (line,) = res.stdout.strip().splitlines()
    chinese, english = line.split("。 unreachable (", 1)
    assert chinese.startswith("无法连接（DATABASE_URL：主机 "), line
    assert chinese.endswith(f"：{said_zh}；{do_zh}"), line
    assert english.endswith(f": {do}"), line
    assert "服务器是否在运行" not in line and "is the server running" not in line, line


def test_connections_run_without_jit(engine):
    """T44 #11: JIT compiled the report queries on every request (0.8-1.0 s each) for 0.1 s
    of running; every pooled connection has it off, also after the pool reset it."""
    for _ in range(3):  # the same pooled connection, checked out again after a reset
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
            conn.rollback()
