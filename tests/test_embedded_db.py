"""The embedded cluster as a city IT admin runs it (tester Z: H1, H2, M1, M7, L5, L6).

Real clusters only: each test makes a small throwaway one (fsync off) and stops it after.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo import embedded
from geo.db import database_url
from geo.embedded import EmbeddedCluster
from geo.errors import ConflictError, SetupError, chinese_first
from geo.settings import Settings
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[1]
GRIDWARD = str(Path(sys.executable).with_name("gridward"))
COUNTED = ("tracks", "patrol_visits", "assignments", "users", "track_points", "api_tokens")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scalar(url: str, sql: str, autocommit: bool = False):
    engine = create_engine(url, **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_cluster_json_lost_or_odd_never_deletes_the_data(folder: Path, capsys) -> None:
    """H1: an extra key is read; a typo or a deleted file is refused with the data kept, and
    --adopt takes the cluster back. The old code deleted pg/ and made an empty cluster."""
    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    created = capsys.readouterr().err
    _scalar(state.url, "CREATE TABLE kept AS SELECT 42 AS x")
    cluster.stop()

    data = json.loads(cluster.state_file.read_text())
    cluster.state_file.write_text(json.dumps({**data, "note": "from a newer gridward"}))
    again = EmbeddedCluster(folder, fast=True).start()
    assert _scalar(again.url, "SELECT x FROM kept") == 42
    assert "新建数据库" not in capsys.readouterr().err  # an existing cluster is not new
    cluster.stop()

    for broken in ('{"port": 5432, "password": "x",}', None):
        if broken is None:
            cluster.state_file.unlink()
        else:
            cluster.state_file.write_text(broken)
        with pytest.raises(SetupError) as err:
            EmbeddedCluster(folder, fast=True).start()
        msg = err.value.message
        # a file that is there but does not parse is 已损坏, not 丢失 (T47 #9)
        tag = "数据库配置文件丢失" if broken is None else "数据库配置文件已损坏"
        assert msg.startswith(tag) and "is kept" in msg and "--adopt" in msg
        assert (cluster.pgdata / "PG_VERSION").exists()
        # a command that only reads the URL (a worker in an outage, db status) says the same;
        # it said "not created yet", as if there were no database
        with pytest.raises(SetupError) as err:
            database_url(Settings(data_dir=folder), start=False)
        assert err.value.message.startswith(tag), err.value.message

    adopted = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert _scalar(adopted.url, "SELECT x FROM kept") == 42
    assert adopted.password != state.password
    # a new cluster is announced, so a stray one made elsewhere is noticed (H2)
    assert "新建数据库：正在 " in created and " creating a new database cluster in" in created


def test_no_cluster_yet_and_setup_errors_read_as_set_up_problems(folder: Path) -> None:
    """Reading the URL of a folder with no cluster names the folder and the command; a set-up
    error written in English opens with 运行环境有误, not 服务暂不可用 ("try again later"),
    which told an admin to wait for a missing package (tester Z, M7)."""
    with pytest.raises(SetupError) as err:
        database_url(Settings(data_dir=folder), start=False)
    msg = err.value.message
    assert msg.startswith("数据库不存在") and str(folder) in msg and "db start" in msg
    assert SetupError("pg_ctl not found").message == "运行环境有误 pg_ctl not found"
    assert chinese_first(SetupError("x y").message, 503).startswith("运行环境有误 ")
    assert SetupError("缺少软件包 pg_dump not found").message.startswith("缺少软件包")


def test_half_made_init_is_redone(folder: Path) -> None:
    """Only an interrupted initdb (marked, or without PG_VERSION) is removed and made again."""
    pg = folder / "pg"
    pg.mkdir(parents=True)
    (pg / "PG_VERSION").write_text("15\n")
    (folder / "initdb-in-progress").touch()
    state = EmbeddedCluster(folder, fast=True).start()
    assert _scalar(state.url, "SELECT 1") == 1
    assert not (folder / "initdb-in-progress").exists()


def test_default_data_dir_does_not_follow_the_working_directory(tmp_path, monkeypatch) -> None:
    """H2: run from another folder (cron, systemd), gridward uses the same cluster."""
    from geo import settings

    monkeypatch.delenv("GRIDWARD_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.Settings().data_dir == REPO / ".gridward"
    # not a checkout (a wheel in site-packages): the user's data folder
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert settings.default_data_dir(tmp_path / "geo") == tmp_path / "xdg" / "gridward"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert settings.default_data_dir(tmp_path / "geo") == (
        Path.home() / ".local" / "share" / "gridward"
    )


def _cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRIDWARD, *args], env=env, capture_output=True, text=True, timeout=300, cwd=cwd
    )


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedCluster, dict[str, str]]]:
    """One running cluster for the backup tests, and the environment pointing the CLI at it."""
    base = Path(tempfile.mkdtemp(prefix="gridward-bak-"))
    base.chmod(0o755)
    port = _free_port()
    cluster = EmbeddedCluster(base / "data", port=port, fast=True)
    cluster.start()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(GRIDWARD_DATA_DIR=str(base / "data"), GRIDWARD_PG_PORT=str(port), COLUMNS="200")
    try:
        yield cluster, env
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_backup_and_restore_round_trip(served) -> None:
    """M1: db url --libpq works with libpq tools; backup, restore (refused over data without
    --force), a dropped database recreated by db start; counts and a report identical."""
    from geo.accounts import create_user, issue_token
    from geo.db import migrate
    from geo.demo import populate
    from geo.settings import city_today

    cluster, env = served
    state = cluster.start()
    folder = cluster.data_dir
    engine = create_engine(state.url)
    migrate(engine)
    populate(engine, seed=0)
    with engine.begin() as conn:
        issue_token(conn, create_user(conn, "backup_admin", "pw-" + "x" * 12, "admin", (), None))
    engine.dispose()
    day = str(city_today() - dt.timedelta(days=1))
    before, report = _counts(state.url), _cli(env, "report", "daily", "--date", day).stdout
    assert before["tracks"] > 0 and before["patrol_visits"] > 0 and before["users"] > 0

    libpq = _cli(env, "db", "url", "--libpq").stdout.strip()
    assert libpq.startswith("postgresql://")
    psql = subprocess.run(
        [str(cluster.bins.bindir / "psql"), libpq, "-Atc", "SELECT count(*) FROM tracks"],
        capture_output=True,
        text=True,
    )
    assert psql.stdout.strip() == str(before["tracks"]), psql.stderr

    dump = folder.parent / "b.dump"
    out = _cli(env, "db", "backup", str(dump))
    assert out.returncode == 0 and "备份完成" in out.stdout and dump.stat().st_size > 0, out.stderr

    refused = _cli(env, "db", "restore", str(dump))
    assert refused.returncode != 0 and refused.stderr.count("error:") == 1
    assert "--force" in refused.stderr

    _scalar(state.url, "DELETE FROM patrol_visits")
    out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    assert _counts(state.url) == before
    assert _cli(env, "report", "daily", "--date", day).stdout == report

    # the database dropped under a running cluster: db start makes it again, restore fills it
    admin = state.admin_url.rsplit("/", 1)[0] + "/postgres"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP DATABASE gridward WITH (FORCE)"))
    engine.dispose()
    out = _cli(env, "db", "start")
    assert out.returncode == 0 and "新建空数据库" in out.stderr, out.stderr
    assert _scalar(state.url, "SELECT count(*) FROM tracks") == 0
    assert _cli(env, "db", "restore", str(dump)).returncode == 0
    assert _counts(state.url) == before


def test_db_start_recreates_a_dropped_database(served, capsys) -> None:
    """M1: the cluster runs but its database was dropped: start makes it again (it said
    "running" and left every command failing on a missing database)."""
    cluster, _env = served
    state = cluster.start()
    admin = create_engine(
        state.admin_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE gridward WITH (FORCE)"))
    admin.dispose()
    EmbeddedCluster(cluster.data_dir, port=state.port, fast=True).start()
    assert _scalar(state.url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == 1
    assert "新建空数据库" in capsys.readouterr().err


def test_restore_migrates_an_older_backup_and_refuses_a_newer_one(served) -> None:
    """M1: an older backup is migrated after the restore; a newer one, or no archive, is
    refused with one error: line and the database left as it was."""
    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    folder = cluster.data_dir
    engine = create_engine(
        state.admin_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE old"))
    engine.dispose()
    old_url = state.admin_url.rsplit("/", 1)[0] + "/old"
    engine = create_engine(old_url)
    migrate(engine, "0005")
    engine.dispose()
    old_dump, new_dump = folder.parent / "old.dump", folder.parent / "new.dump"
    assert _cli({**env, "DATABASE_URL": old_url}, "db", "backup", str(old_dump)).returncode == 0
    _scalar(old_url, "UPDATE alembic_version SET version_num = '9999'")
    assert _cli({**env, "DATABASE_URL": old_url}, "db", "backup", str(new_dump)).returncode == 0

    out = _cli(env, "db", "restore", str(old_dump), "--force")
    assert out.returncode == 0 and "migrated from 0005" in out.stdout, out.stderr
    head = _scalar(state.url, "SELECT version_num FROM alembic_version")
    assert head != "0005"

    for bad, words in ((new_dump, "9999"), (Path(__file__), "备份文件有误")):
        out = _cli(env, "db", "restore", str(bad), "--force")
        assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
        assert words in out.stderr
    assert _scalar(state.url, "SELECT version_num FROM alembic_version") == head


def test_restore_skips_grants_says_when_and_waits_for_the_api_to_stop(served) -> None:
    """Tester Z2 N1, N3, N5, N10: a backup holding a grant to a role the server lacks (a
    read-only report role) restores (it failed on "Command was: GRANT …"); the backup is 0600
    (it was 0644: password hashes, phones, homes); a restore while another program is
    connected is refused, naming it (the API's 202 uploads went into the dropped database);
    the output gives the backup's time and says accounts and tokens are as they were then."""
    import psycopg

    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    migrate(engine)
    engine.dispose()
    _scalar(state.admin_url, "DROP ROLE IF EXISTS report_ro")
    _scalar(state.admin_url, "CREATE ROLE report_ro")
    _scalar(state.url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO report_ro")
    dump = cluster.data_dir.parent / "grants.dump"
    out = _cli(env, "db", "backup", str(dump))
    assert out.returncode == 0, out.stderr
    assert dump.stat().st_mode & 0o777 == 0o600
    _scalar(state.admin_url, "DROP OWNED BY report_ro")
    _scalar(state.admin_url, "DROP ROLE report_ro")  # a new server, without that role

    libpq = _cli(env, "db", "url", "--libpq").stdout.strip()
    with psycopg.connect(libpq, application_name="bi-tool"):
        out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
    assert "数据库正在使用" in out.stderr and "bi-tool" in out.stderr, out.stderr
    assert "gridward serve" in out.stderr

    out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    assert "备份时间" in out.stdout and "未恢复授权" in out.stdout, out.stdout
    assert "revoke again" in out.stdout


def test_restore_by_a_role_that_is_not_a_superuser(served) -> None:
    """Tester Z2 N2: with DATABASE_URL of a role that may create databases but is not a
    superuser, restore says what it needs (it failed on CREATE EXTENSION postgis); with PostGIS
    in template1, it restores."""
    cluster, env = served
    state = cluster.start()
    root = state.admin_url.rsplit("/", 1)[0]
    dump = cluster.data_dir.parent / "plain.dump"
    assert _cli(env, "db", "backup", str(dump)).returncode == 0
    _scalar(root + "/postgres", "DROP DATABASE IF EXISTS appdb", autocommit=True)
    _scalar(root + "/postgres", "DROP ROLE IF EXISTS app")
    _scalar(root + "/postgres", "CREATE ROLE app LOGIN PASSWORD 'app-pw' CREATEDB")
    _scalar(root + "/postgres", "CREATE DATABASE appdb OWNER app", autocommit=True)
    _scalar(root + "/appdb", "CREATE EXTENSION postgis")
    app_env = {**env, "DATABASE_URL": f"postgresql://app:app-pw@127.0.0.1:{state.port}/appdb"}
    try:
        out = _cli(app_env, "db", "restore", str(dump))
        assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
        assert "superuser" in out.stderr and "template1" in out.stderr, out.stderr
        left = "SELECT count(*) FROM pg_database WHERE datname LIKE 'appdb_%'"
        assert _scalar(root + "/postgres", left) == 0

        _scalar(root + "/template1", "CREATE EXTENSION postgis")
        out = _cli(app_env, "db", "restore", str(dump))
        assert out.returncode == 0, out.stderr
        assert _scalar(root + "/appdb", "SELECT count(*) FROM alembic_version") == 1
    finally:
        _scalar(root + "/template1", "DROP EXTENSION IF EXISTS postgis")
        _scalar(root + "/postgres", "DROP DATABASE IF EXISTS appdb WITH (FORCE)", autocommit=True)
        _scalar(root + "/postgres", "DROP ROLE IF EXISTS app")


def test_backup_and_status_refusals(served, tmp_path: Path) -> None:
    """Tester Z2 minor: `db backup -` is refused (it wrote a file named "-"); `db status` on
    a newer schema exits non-zero (it exited 0); a file as the data folder is named as such
    (it said "File exists")."""
    cluster, env = served
    state = cluster.start()
    out = _cli(env, "db", "backup", "-", cwd=tmp_path)
    assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
    assert not (tmp_path / "-").exists()

    _scalar(state.url, "CREATE TABLE IF NOT EXISTS alembic_version (version_num text)")
    head = _scalar(state.url, "SELECT version_num FROM alembic_version")
    _scalar(state.url, "UPDATE alembic_version SET version_num = '9999'")
    try:
        out = _cli(env, "db", "status")
    finally:
        _scalar(state.url, f"UPDATE alembic_version SET version_num = '{head}'")
    assert out.returncode != 0 and "数据库版本较新" in out.stderr, (out.stdout, out.stderr)

    afile = tmp_path / "afile"
    afile.write_text("")
    for sub in (afile, afile / "x"):
        out = _cli({**env, "GRIDWARD_DATA_DIR": str(sub)}, "db", "start")
        assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
        assert f"{afile} is a file, not a folder" in out.stderr, out.stderr


def test_adopt_only_takes_back_a_lost_cluster_and_backup_stops_what_it_started(
    folder: Path,
) -> None:
    """Tester Z2 N4: --adopt with a valid cluster.json is refused (it stopped a healthy
    cluster and changed its password, leaving the API on 503); on an empty folder too (it
    made a new cluster). `db backup` of a stopped cluster leaves it stopped (it ran on)."""
    with pytest.raises(ConflictError) as err:
        EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert err.value.message.startswith("无需接管") and not (folder / "pg").exists()
    assert not folder.exists()  # not even the folder and a lock file (re-tester T35)

    from geo.db import migrate

    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    with pytest.raises(ConflictError) as err:
        EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert err.value.message.startswith("无需接管"), err.value.message
    assert cluster.is_running() and _scalar(state.url, "SELECT 1") == 1

    engine = create_engine(state.url)
    migrate(engine)  # a backup is of gridward's schema (one without is refused)
    engine.dispose()
    cluster.stop()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env["GRIDWARD_DATA_DIR"] = str(folder)
    out = _cli(env, "db", "backup", str(folder.parent / "stopped.dump"))
    assert out.returncode == 0, out.stderr
    assert not cluster.is_running()


def test_port_in_use_is_named_and_a_moved_port_is_said(folder: Path, capsys) -> None:
    """M7: a fixed port held by another program is named as such (a setup problem, not
    服务暂不可用); without a fixed port, moving to another port is said on stderr."""
    cluster = EmbeddedCluster(folder, fast=True)
    first = cluster.start()
    cluster.stop()
    capsys.readouterr()
    with socket.socket() as busy:
        # the stopped cluster's connections may hold the port in TIME_WAIT for a while
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", first.port))
        busy.listen()
        moved = EmbeddedCluster(folder, fast=True).start()
        err = capsys.readouterr().err
        cluster.stop()
        with pytest.raises(SetupError) as caught:
            EmbeddedCluster(folder, port=first.port, fast=True).start()
    line = chinese_first(caught.value.message, caught.value.status_code)
    said_moved = f"port {first.port} is in use" in err and str(moved.port) in err
    named_port = line.startswith(f"端口已被占用：端口 {first.port} 已被占用；") and (
        f" port {first.port} is already in use" in line
    )
    assert (said_moved, named_port) == (True, True), (err, line)
    assert "GRIDWARD_PG_PORT" in line and "服务暂不可用" not in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the folder to another user")
def test_data_folder_of_the_wrong_user_names_the_chown(folder: Path) -> None:
    """L5: a data folder copied back as root: the error gives the chown that fixes it."""
    cluster = EmbeddedCluster(folder, fast=True)
    cluster.start()
    cluster.stop()
    owner = cluster.pgdata.stat()
    os.chown(cluster.pgdata, 0, 0)
    try:
        with pytest.raises(SetupError) as err:
            EmbeddedCluster(folder, fast=True).start()
        user = pwd.getpwuid(owner.st_uid).pw_name
        assert f"chown -R {user}: {cluster.pgdata}" in err.value.message
    finally:
        os.chown(cluster.pgdata, owner.st_uid, owner.st_gid)


def test_two_starts_at_once_on_an_empty_folder_both_succeed(folder: Path) -> None:
    """L6: the second start waits for the first's initdb instead of failing."""
    code = (
        "import sys; from pathlib import Path; from geo.embedded import EmbeddedCluster; "
        "print(EmbeddedCluster(Path(sys.argv[1]), fast=True).start().port)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    assert sum("新建数据库" in err for _, err in outs) == 1


def test_a_stale_cluster_json_is_named_and_adopt_takes_the_cluster_back(
    folder: Path, monkeypatch
) -> None:
    """Tester Z2 N6: a valid cluster.json whose login the cluster refuses (an old copy, a
    cluster replaced by hand) ended in psycopg's bare "password authentication failed", and
    --adopt refused it as "nothing to adopt". Now one line names the file and the fix, and
    --adopt takes the cluster back once its connections are gone (refused while one is
    open, naming it); a login that works is still nothing to adopt."""
    import psycopg

    from geo.db import failure_line
    from geo.errors import DbFailure

    cluster = EmbeddedCluster(folder, fast=True)
    state = cluster.start()
    _scalar(state.url, "CREATE TABLE kept AS SELECT 42 AS x")
    real = state.admin_url.replace("postgresql+psycopg://", "postgresql://")
    cluster.state_file.write_text(json.dumps({**state.__dict__, "password": "an-old-copy"}))

    with pytest.raises(SetupError) as err:
        EmbeddedCluster(folder, fast=True).start()
    msg = err.value.message
    assert msg.startswith(f"数据库拒绝登录：内置数据库拒绝了 {cluster.state_file} 中保存的登录"), (
        msg
    )
    assert " the embedded database refused the login stored in " in msg, msg
    assert str(cluster.state_file) in msg and "password authentication failed" in msg, msg
    assert "gridward db start --adopt" in msg and "GRIDWARD_DATA_DIR" in msg, msg
    refused = 'connection failed: … FATAL:  password authentication failed for user "gridward"'
    line = failure_line(
        DbFailure("unavailable", "OperationalError", refused), Settings(data_dir=folder)
    )
    assert line.startswith("数据库拒绝登录") and str(cluster.state_file) in line, line
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env["GRIDWARD_DATA_DIR"] = str(folder)
    for cmd in (["report", "daily"], ["db", "status"]):
        out = _cli(env, *cmd)
        assert out.returncode == 3 and out.stderr.startswith("error: 数据库拒绝登录"), out.stderr
        assert out.stderr.count("\n") == 1, out.stderr

    with psycopg.connect(real, application_name="bi-tool") as held:
        with pytest.raises(ConflictError) as busy:
            EmbeddedCluster(folder, fast=True).start(adopt=True)
        said = busy.value.message
        assert said.startswith(
            f"数据库正在使用：{cluster.pgdata} 中的数据库集群还有 1 个其他连接"
        ), said
        assert "用户 gridward，来自 127.0.0.1，数据库 gridward" in said, said
        assert " 1 other connection(s) to " in said, said
        assert "gridward on database gridward from 127.0.0.1" in said
        assert held.execute("SELECT 1").fetchone() == (1,)  # not cut off
        # /proc hiding the server's processes (hidepid): refused, not a blind go-ahead (Z3)
        with monkeypatch.context() as m:
            m.setattr(embedded, "PROC", folder / "no-proc")
            with pytest.raises(SetupError) as hidden:
                EmbeddedCluster(folder, fast=True).start(adopt=True)
        assert hidden.value.message.startswith("无法检查连接"), hidden.value.message
        assert "hidepid" in hidden.value.message and "db stop" in hidden.value.message
        assert held.execute("SELECT 1").fetchone() == (1,)  # not cut off
    adopted = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert _scalar(adopted.url, "SELECT x FROM kept") == 42
    assert json.loads(folder.joinpath("cluster.json.refused").read_text())["password"] == (
        "an-old-copy"
    )
    with pytest.raises(ConflictError) as err:  # its login works now: nothing to adopt
        EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert err.value.message.startswith("无需接管"), err.value.message
    assert _scalar(adopted.url, "SELECT 1") == 1
    # refused again: a second adopt keeps the first kept file and adds .2 (Z3: overwritten)
    cluster.state_file.write_text(json.dumps({**adopted.__dict__, "password": "second-copy"}))
    again = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert _scalar(again.url, "SELECT x FROM kept") == 42
    kept = {p.name: json.loads(p.read_text())["password"] for p in folder.glob("cluster.json.*")}
    assert kept == {"cluster.json.refused": "an-old-copy", "cluster.json.refused.2": "second-copy"}
    # the refusal's advice under hidepid works: stopped first, the cluster is adopted (T35: the
    # adopt started it to try the login, then refused to touch the server it had started)
    cluster.stop()
    cluster.state_file.write_text(json.dumps({**again.__dict__, "password": "third-copy"}))
    monkeypatch.setattr(embedded, "PROC", folder / "no-proc")
    third = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert _scalar(third.url, "SELECT x FROM kept") == 42
    assert json.loads(folder.joinpath("cluster.json.refused.3").read_text())["password"] == (
        "third-copy"
    )


# every command that only reads: none may make a cluster (N8)
READ_COMMANDS = (
    ("report", "daily"),
    ("report", "weekly"),
    ("report", "monthly"),
    ("export", "grids", "--out", "grids.geojson"),
    ("audit",),
    ("db", "status"),
    ("db", "url"),
    ("db", "backup", "b.dump"),
    ("plans", "show", "1"),
    ("users", "list"),
    ("users", "tokens", "admin"),
    ("tracks", "worker"),
)


def test_commands_that_only_read_never_make_a_cluster(tmp_path: Path) -> None:
    """Tester Z2 N8: a mistyped GRIDWARD_DATA_DIR made a new, empty cluster, and a report
    from cron printed an empty table; a relative one made one in each folder a command ran
    from. Now a read finds no database and says so in one line, making nothing; a relative
    folder is refused, naming the absolute one it would have been."""
    typo = tmp_path / "gridwrad"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env["GRIDWARD_DATA_DIR"] = str(typo)
    for cmd in READ_COMMANDS:
        out = _cli(env, *cmd, cwd=tmp_path)
        assert out.returncode == 3, (cmd, out.stdout, out.stderr)
        lines = out.stderr.splitlines()
        assert lines == [
            f"error: 数据库不存在：{typo} 中没有 gridward 数据库；请先运行 'gridward db start'"
            "（或 'gridward demo'），或把 GRIDWARD_DATA_DIR 设为存放它的文件夹，或设置 "
            f"DATABASE_URL no gridward database in {typo}: run 'gridward db start' (or "
            "'gridward demo') first, or set GRIDWARD_DATA_DIR to the folder that holds it, or "
            "DATABASE_URL"
        ], (cmd, out.stderr)
        assert not typo.exists(), cmd
    with pytest.raises(SetupError, match="^数据库不存在"):
        database_url(Settings(data_dir=typo))  # started, but not made
    assert not typo.exists()

    # a set-up command with a missing file (tester Z3, 9) is refused before the database is
    # asked for: it made the cluster, then failed
    for cmd in (("import", "areas", "nonexistent.geojson"), ("import", "osm", "no.osm"),
                ("import", "people", "nobody.csv")):  # fmt: skip
        out = _cli(env, *cmd, cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, (cmd, out.stderr)
        assert "not found: nonexistent.geojson" in out.stderr or "not found: no" in out.stderr
        assert not typo.exists(), cmd

    out = _cli({**env, "GRIDWARD_DATA_DIR": "gw/data"}, "report", "daily", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(
        "error: 设置有误：GRIDWARD_DATA_DIR 须为绝对路径（相对路径在不同目录下运行命令时指向不同的"
        f"文件夹）：是否想写 GRIDWARD_DATA_DIR={tmp_path / 'gw' / 'data'}？ must be an "
    ), out
    assert f"did you mean GRIDWARD_DATA_DIR={tmp_path / 'gw' / 'data'}?" in out.stderr
    assert not (tmp_path / "gw").exists()


@pytest.mark.parametrize(
    "cmd",
    [
        ("users", "add", "admin", "--role", "admin", "--password-stdin"),
        ("import", "areas", str(FIXTURES / "communities.geojson")),
    ],
    ids=["users-add", "import-areas"],
)
def test_commands_that_set_a_city_up_make_the_cluster(cmd) -> None:
    """The other side of N8: the first admin of a new machine, or its first import, sets
    things up, so it makes the cluster (announced) and does its work there, as db start,
    demo and serve do. (After the N8 fix they ended with 数据库不存在 until db start ran.)"""
    base = Path(tempfile.mkdtemp(prefix="gridward-setup-"))
    base.chmod(0o755)  # the server runs as postgres when the tests run as root
    fresh = base / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env["GRIDWARD_DATA_DIR"] = str(fresh)
    try:
        out = subprocess.run(
            [GRIDWARD, *cmd], env=env, capture_output=True, text=True, timeout=300,
            input="a long enough password\n",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert f"新建数据库：正在 {fresh / 'pg'} 中新建数据库集群 " in out.stderr, out.stderr
        assert f"creating a new database cluster in {fresh}" in out.stderr, out.stderr
        url = EmbeddedCluster(fresh).read_state().url  # type: ignore[union-attr]
        table = "users" if cmd[0] == "users" else "areas"
        assert _scalar(url, f"SELECT count(*) FROM {table}") > 0
    finally:
        EmbeddedCluster(fresh).destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_restore_onto_a_new_machine_makes_the_cluster_and_is_audited(served) -> None:
    """db restore sets things up: into a data folder without a cluster (a new machine) it
    makes one, announced, and restores; the restore is in the audit log (db.restore: the OS
    user, the file, when the backup was made), which it was not."""
    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    from geo.db import migrate

    migrate(engine)
    engine.dispose()
    dump = cluster.data_dir.parent / "to-move.dump"
    assert _cli(env, "db", "backup", str(dump)).returncode == 0
    fresh = cluster.data_dir.parent / "new-machine"
    new_env = {k: v for k, v in env.items() if k != "GRIDWARD_PG_PORT"}
    new_env["GRIDWARD_DATA_DIR"] = str(fresh)
    try:
        out = _cli(new_env, "db", "restore", str(dump))
        assert out.returncode == 0, out.stderr
        assert "新建数据库：正在 " in out.stderr, out.stderr
        assert " creating a new database cluster in" in out.stderr, out.stderr
        made = out.stdout.split(" was made at ", 1)[1].split(";", 1)[0]
        out = _cli(new_env, "audit", "--action", "db.restore")
        assert out.returncode == 0, out.stderr
        rows = [r.split("\t") for r in out.stdout.splitlines()[1:]]
        # earlier ones came along; the actor names the OS user (T38 M4)
        who = pwd.getpwuid(os.getuid()).pw_name
        assert rows[0][2:4] == [f"cli:{who}", "db.restore"], out.stdout
        url = EmbeddedCluster(fresh).read_state().url  # type: ignore[union-attr]
        detail = _scalar(url, f"SELECT detail FROM audit_log WHERE id = {rows[0][0]}")
        assert detail["file"] == str(dump) and detail["backup_made"] == made, detail
        assert detail["os_user"] == pwd.getpwuid(os.getuid()).pw_name
    finally:
        EmbeddedCluster(fresh).destroy()


def test_a_dropped_database_is_made_again_only_by_set_up_commands(served, tmp_path) -> None:
    """Outside tester item 1: with the gridward database dropped from a running cluster, a
    read made it again, empty, and a nightly `db backup` then wrote an empty backup over a
    good one (exit 0). Now reads exit 3 with 数据库不存在 and make nothing; `db backup`
    never writes a backup of a database without a schema revision, keeping the old file."""
    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    migrate(engine)
    engine.dispose()
    good = tmp_path / "nightly.dump"
    assert _cli(env, "db", "backup", str(good)).returncode == 0
    before = good.read_bytes()
    admin = state.admin_url.rsplit("/", 1)[0] + "/postgres"
    gone = "SELECT count(*) FROM pg_database WHERE datname = 'gridward'"
    _scalar(admin, "DROP DATABASE gridward WITH (FORCE)", autocommit=True)
    try:
        for cmd in (("report", "daily"), ("db", "url"), ("db", "backup", str(good))):
            out = _cli(env, *cmd)
            assert out.returncode == 3 and out.stderr.count("error:") == 1, (cmd, out.stderr)
            assert "数据库不存在" in out.stderr and "新建空数据库" not in out.stderr, out.stderr
            assert _scalar(admin, gone) == 0, cmd
        assert good.read_bytes() == before
        # a database without gridward's schema (made by hand, or by an older gridward)
        _scalar(admin, "CREATE DATABASE gridward", autocommit=True)
        out = _cli(env, "db", "backup", str(good))
        assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
        assert "备份被拒" in out.stderr and "kept as it was" in out.stderr, out.stderr
        assert good.read_bytes() == before and not list(tmp_path.glob("*.partial"))
    finally:
        _scalar(admin, "DROP DATABASE IF EXISTS gridward WITH (FORCE)", autocommit=True)
        out = _cli(env, "db", "start")  # a set-up command makes it again
    assert out.returncode == 0 and "新建空数据库" in out.stderr, out.stderr


def test_backup_refuses_to_overwrite_what_is_not_a_backup(served, tmp_path) -> None:
    """Outside tester item 4: `db backup FILE` overwrote cluster.json, files in PGDATA and a
    README in the checkout; into a missing folder it named its own `.partial` file. Now a path
    in the data folder and an existing file that is not a pg_dump archive are refused (left
    as they were); an earlier backup is replaced (nightly rotation)."""
    cluster, env = served
    cluster.start()
    state_file = cluster.data_dir / "cluster.json"
    kept = state_file.read_bytes()
    for inside in (state_file, cluster.pgdata / "backup.dump"):
        out = _cli(env, "db", "backup", str(inside))
        assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
        assert f"inside the data folder {cluster.data_dir}" in out.stderr, out.stderr
    assert state_file.read_bytes() == kept and not (cluster.pgdata / "backup.dump").exists()

    readme = tmp_path / "README"
    readme.write_text("notes\n")
    out = _cli(env, "db", "backup", str(readme))
    assert out.returncode != 0 and "is not a gridward backup" in out.stderr, out.stderr
    assert readme.read_text() == "notes\n"

    missing = tmp_path / "no-such-folder"
    out = _cli(env, "db", "backup", str(missing / "x.dump"))
    assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
    assert f"the folder {missing} does not exist" in out.stderr and ".partial" not in out.stderr

    dump = tmp_path / "rotate.dump"
    for _ in range(2):
        out = _cli(env, "db", "backup", str(dump))
        assert out.returncode == 0 and "备份完成" in out.stdout, out.stderr
    # a folder that exists but takes no new file (re-tester T35, F10: it named the .partial)
    out = _cli(env, "db", "backup", "/proc/gridward.dump")
    assert out.returncode == 2 and out.stderr.count("error:") == 1, out.stderr
    assert "备份文件无法写入：无法写入 /proc/gridward.dump（" in out.stderr, out.stderr
    assert " cannot write /proc/gridward.dump: " in out.stderr, out.stderr
    assert ".partial" not in out.stderr


def test_the_pg_folder_as_data_folder_is_refused(served) -> None:
    """Outside tester item 6: GRIDWARD_DATA_DIR pointed at the pg folder (it holds
    PG_VERSION) made a new, empty cluster nested inside the real PGDATA."""
    cluster, env = served
    cluster.start()
    for cmd in (("db", "start"), ("db", "status"), ("report", "daily")):
        out = _cli({**env, "GRIDWARD_DATA_DIR": str(cluster.pgdata)}, *cmd)
        assert out.returncode == 3 and out.stderr.count("error:") == 1, (cmd, out.stderr)
        assert "is the cluster's pg folder" in out.stderr, out.stderr
        assert f"set GRIDWARD_DATA_DIR to its parent {cluster.data_dir}" in out.stderr
    assert not (cluster.pgdata / "pg").exists()


def test_no_migration_under_a_running_older_program(served) -> None:
    """Outside tester item 3 and N10: a command of a newly installed gridward migrated the
    schema under the older API still connected, which then wrote rows the migration meant to
    fix. Now it refuses, naming the program (exit 3, nothing migrated); this process's own
    connections and two commands started at once do not count; gridward's connections carry
    an application_name (the API and workers showed as '?' in these lists)."""
    import time

    import psycopg

    from geo.db import migrate

    cluster, env = served
    root = cluster.start().admin_url.rsplit("/", 1)[0]
    revision = "SELECT version_num FROM alembic_version"
    old_url, old_env = root + "/olddb", {**env, "DATABASE_URL": root + "/olddb"}
    libpq = old_url.replace("postgresql+psycopg://", "postgresql://")
    _scalar(root + "/postgres", "DROP DATABASE IF EXISTS olddb WITH (FORCE)", autocommit=True)
    _scalar(root + "/postgres", "CREATE DATABASE olddb", autocommit=True)
    engine = create_engine(old_url)
    worker = None
    try:
        migrate(engine, "0018")
        with psycopg.connect(libpq, application_name="old-api"):
            out = _cli(old_env, "users", "list")
        assert out.returncode == 3 and out.stderr.count("error:") == 1, out.stderr
        assert "数据库正在使用" in out.stderr and "old-api from 127.0.0.1" in out.stderr
        assert "stop the API" in out.stderr and "run the command again" in out.stderr
        assert _scalar(old_url, revision) == "0018"

        with engine.connect() as held:  # this process's own connection: not another program
            held.execute(text("SELECT 1"))
            migrate(engine, "0019")
        assert _scalar(old_url, revision) == "0019"
        engine.dispose()  # this process is another program to the commands below

        both = [
            subprocess.Popen([GRIDWARD, "users", "list"], env=old_env, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        errs = [p.communicate(timeout=120)[1].decode() for p in both]
        assert [p.returncode for p in both] == [0, 0], errs
        assert _scalar(old_url, revision) != "0019"

        worker = subprocess.Popen(
            [GRIDWARD, "tracks", "worker", "--watch", "60"],
            env=old_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        names: list[str] = []
        for _ in range(100):
            with psycopg.connect(libpq) as conn:
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT application_name FROM pg_stat_activity WHERE datname = 'olddb'"
                    )
                ]
            if f"gridward worker [{worker.pid}]" in names:
                break
            time.sleep(0.2)
        assert f"gridward worker [{worker.pid}]" in names, names
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        engine.dispose()
        _scalar(root + "/postgres", "DROP DATABASE IF EXISTS olddb WITH (FORCE)", autocommit=True)


def test_restore_clears_what_failed_restores_left_and_takes_only_backups(served) -> None:
    """Outside tester items 2 and 14: a restore that failed (disk full) or was cut off (db
    stop) left a gridward_restore_* copy for good, and neither restore nor status named it;
    a plain SQL dump was answered "appears to be a text format dump. Please use psql."."""
    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    migrate(engine)
    engine.dispose()
    root = state.admin_url.rsplit("/", 1)[0]
    dump = cluster.data_dir.parent / "leftover.dump"
    assert _cli(env, "db", "backup", str(dump)).returncode == 0
    _scalar(root + "/postgres", "CREATE DATABASE gridward_restore_dead1", autocommit=True)
    out = _cli(env, "db", "status")
    assert out.returncode == 0 and "遗留数据库：数据库 'gridward_restore_dead1'（" in out.stdout
    assert " database 'gridward_restore_dead1' (" in out.stdout, out.stdout

    plain = cluster.data_dir.parent / "plain.sql"
    plain.write_text("--\n-- PostgreSQL database dump\n--\n")
    out = _cli(env, "db", "restore", str(plain), "--force")
    assert out.returncode != 0 and out.stderr.count("error:") == 1, out.stderr
    assert "gridward restores only the files 'gridward db backup' writes" in out.stderr
    assert "psql" not in out.stderr

    out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    assert "已清理：已删除一次未完成的恢复留下的数据库 'gridward_restore_dead1'" in out.stdout
    assert " removed database 'gridward_restore_dead1' (" in out.stdout, out.stdout
    left = "SELECT count(*) FROM pg_database WHERE datname LIKE 'gridward\\_re%'"
    assert _scalar(root + "/postgres", left) == 0
    assert "遗留数据库" not in _cli(env, "db", "status").stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="a root-owned log needs root")
def test_adopt_a_folder_copied_back_as_root(folder: Path, capsys) -> None:
    """Outside tester item 5: a data folder copied back by hand (cluster.json lost, a
    root-owned postgres.log): `db start --adopt` said 已接管数据库, then failed on
    "cannot create …/postgres.log: Permission denied" with a chown of pg/ that did not help.
    Now gridward gives the log to the server user itself, and says 已接管 once it runs."""
    cluster = EmbeddedCluster(folder, fast=True)
    cluster.start()
    cluster.stop()
    (folder / "cluster.json").unlink()
    os.chown(folder / "postgres.log", 0, 0)
    (folder / "postgres.log").chmod(0o644)
    capsys.readouterr()
    state = EmbeddedCluster(folder, fast=True).start(adopt=True)
    assert "已接管数据库" in capsys.readouterr().err
    assert _scalar(state.url, "SELECT 1") == 1


def test_restore_keeps_the_audit_trail_made_after_the_backup(served) -> None:
    """Outside tester item 7: a restore erased the audit entries made since the backup (and
    earlier db.restore entries), and their ids were used again. Now they are carried over into
    the restored database with new ids, marked so, and the db.restore entry counts them."""
    from geo.audit import record
    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        record(conn, "alice", "grid.update", "grid", 1, {"n": 1})
    dump = cluster.data_dir.parent / "audit.dump"
    assert _cli(env, "db", "backup", str(dump)).returncode == 0
    person = "INSERT INTO people (external_id, name) VALUES (:x, '甲') RETURNING id"
    with engine.begin() as conn:
        after = [record(conn, "bob", "user.update", "user", 7, {"n": n}) for n in (2, 3)]
        lost = conn.execute(text(person), {"x": "lost-by-restore"}).scalar_one()
    engine.dispose()
    out = _cli(env, "db", "restore", str(dump), "--force")
    assert out.returncode == 0 and "审计记录：备份之后的 2 条审计记录" in out.stdout, out.stdout
    assert " 2 audit entries made after the backup were carried over" in out.stdout
    engine = create_engine(state.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, action, detail FROM audit_log ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [r.action for r in rows] == ["grid.update", "user.update", "user.update", "db.restore"]
    assert [r.detail.get("old_id") for r in rows[1:3]] == after
    assert all("from before the restore of" in r.detail["carried_over"] for r in rows[1:3])
    assert rows[1].id > after[-1] and rows[3].detail["carried_over"] == 2
    # re-tester T35, F9: a person made after the restore does not get the id of one the
    # restore lost (the carried-over entries would name the wrong person)
    engine = create_engine(state.url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text(person), {"x": "made-after"}).scalar_one() > lost
    finally:
        engine.dispose()


def test_users_add_with_a_short_password_makes_no_cluster(tmp_path: Path) -> None:
    """Outside tester item 9: `users add` with a password too short still made a cluster in
    a mistyped folder before refusing it; the password is checked first."""
    typo = tmp_path / "gridwrad"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDWARD_PG_PORT")}
    env["GRIDWARD_DATA_DIR"] = str(typo)
    out = subprocess.run(
        [GRIDWARD, "users", "add", "admin", "--role", "admin", "--password-stdin"],
        env=env, capture_output=True, text=True, timeout=120, input="short\n",
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("error:") == 1, out.stderr
    assert "password too short" in out.stderr and not typo.exists()


def test_status_names_where_what_is_pending_and_stop_without_a_cluster(
    served, tmp_path: Path
) -> None:
    """Outside tester item 10: `db status` with DATABASE_URL named neither host nor database,
    printed a raw "connection refused" with no hint, and said nothing of a pending migration;
    `db stop` on a folder without a cluster said "not running", not that there is none."""
    from geo.db import migrate

    cluster, env = served
    root = cluster.start().admin_url.rsplit("/", 1)[0]
    _scalar(root + "/postgres", "DROP DATABASE IF EXISTS status_old WITH (FORCE)", autocommit=True)
    _scalar(root + "/postgres", "CREATE DATABASE status_old", autocommit=True)
    engine = create_engine(root + "/status_old")
    try:
        migrate(engine, "0019")
    finally:
        engine.dispose()
    try:
        out = _cli({**env, "DATABASE_URL": root + "/status_old"}, "db", "status")
        assert out.returncode == 0, out.stderr
        assert "host 127.0.0.1" in out.stdout and "database status_old" in out.stdout
        assert "migration pending (0019 → 0027)" in out.stdout, out.stdout
        password = cluster.read_state().password  # type: ignore[union-attr]
        assert password not in out.stdout
        closed = f"postgresql://gridward:pw@127.0.0.1:{_free_port()}/gridward"
        out = _cli({**env, "DATABASE_URL": closed}, "db", "status")
        assert out.returncode == 1 and "is the server running?" in out.stdout, out.stdout
    finally:
        _scalar(root + "/postgres", "DROP DATABASE status_old WITH (FORCE)", autocommit=True)

    env_none = {**env, "GRIDWARD_DATA_DIR": str(tmp_path / "none")}
    out = _cli(env_none, "db", "stop")
    assert out.returncode == 0 and out.stdout.startswith("数据库不存在"), out.stdout


def test_admin_times_are_in_the_city_zone(served) -> None:
    """Outside tester item 11: worker lines showed the OS zone (+0000) and a restore's 备份时间
    and backup_made were UTC, while the README and reports show the city's +0800."""
    from geo.db import migrate

    cluster, env = served
    state = cluster.start()
    engine = create_engine(state.url)
    migrate(engine)
    engine.dispose()
    city = {**env, "TZ": "UTC", "GRIDWARD_TIMEZONE": "Asia/Shanghai"}
    out = _cli(city, "tracks", "worker")
    assert out.returncode == 0 and out.stdout[19:25] == "+0800 ", out.stdout
    dump = cluster.data_dir.parent / "zone.dump"
    assert _cli(city, "db", "backup", str(dump)).returncode == 0
    out = _cli(city, "db", "restore", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    made = out.stdout.split(" was made at ", 1)[1].split(";", 1)[0]
    assert made.endswith("+0800") and dt.datetime.strptime(made, "%Y-%m-%d %H:%M:%S%z"), made


def test_db_stop_names_connected_programs_and_reads_do_not_start_it_again(folder: Path) -> None:
    """Re-tester T35, F11: `db stop` under a connected API cut it off without a word, and the
    next read command (a report from cron) started the cluster again behind the admin's back.
    Now it is refused naming the program (--force cuts it off, named), and a read says the
    cluster was stopped; `db start` starts it and reads work again."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(GRIDWARD_DATA_DIR=str(folder), GRIDWARD_PG_PORT=str(port), COLUMNS="200")
    assert _cli(env, "db", "start").returncode == 0
    cluster = EmbeddedCluster(folder, port=port)
    api = create_engine(
        cluster.read_state().url,  # type: ignore[union-attr]
        connect_args={"application_name": "gridward serve [4242]"},
    )
    try:
        held = api.connect()
        out = _cli(env, "db", "stop")
        assert out.returncode == 2, out.stdout + out.stderr
        assert "数据库正在使用" in out.stderr and "gridward serve [4242]" in out.stderr
        assert "--force" in out.stderr and cluster.is_running()
        assert held.execute(text("SELECT 1")).scalar() == 1  # not cut off

        out = _cli(env, "db", "stop", "--force")
        assert out.returncode == 0, out.stderr
        assert "已断开" in out.stderr and "gridward serve [4242]" in out.stderr
        assert out.stdout.startswith("已停止") and not cluster.is_running()
        held.invalidate()  # cut off: nothing to roll back
    finally:
        api.dispose()

    out = _cli(env, "report", "daily")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "数据库已停止" in out.stderr and "gridward db start" in out.stderr
    assert not cluster.is_running()  # the read did not start it
    out = _cli(env, "db", "status")
    assert out.returncode == 1 and "by 'gridward db stop' at" in out.stdout, out.stdout
    # a watching worker (re)started meanwhile waits for `db start` (it exited: T36)
    worker = subprocess.Popen(
        [GRIDWARD, "tracks", "worker", "--watch", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=8)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert "数据库不可用" in err and "数据库已停止" in err, err
    assert not cluster.is_running()

    assert _cli(env, "db", "start").returncode == 0
    assert not cluster.stop_marker.exists()
    out = _cli(env, "report", "daily")
    assert out.returncode == 0, out.stderr
    # a cluster stopped otherwise (a reboot) is still started by a read, as before
    cluster.stop()
    assert _cli(env, "report", "daily").returncode == 0 and cluster.is_running()
    cluster.stop()


def test_a_cluster_running_in_another_pid_namespace_is_named(folder: Path) -> None:
    """Re-tester T35, F4: `db start` (and `--adopt`) from another PID namespace, a container,
    where `pg_ctl status` cannot see the server, said "PostgreSQL did not start" and a
    shared-memory line. Now it says the cluster runs elsewhere, and the server is untouched."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare(1) and root to make a PID namespace")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(GRIDWARD_DATA_DIR=str(folder), GRIDWARD_PG_PORT=str(port), COLUMNS="200")
    assert _cli(env, "db", "start").returncode == 0
    cluster = EmbeddedCluster(folder, port=port)
    state_file = cluster.state_file.read_bytes()
    for args in (("db", "start"), ("db", "start", "--adopt"), ("db", "status"), ("db", "stop")):
        out = subprocess.run(
            [unshare, "--pid", "--fork", "--mount-proc", GRIDWARD, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.stderr.startswith("unshare:"):  # a sandbox that forbids namespaces
            pytest.skip(out.stderr.strip())
        assert out.returncode == 3 and out.stderr.count("error:") == 1, out.stderr
        assert "数据库已在别处运行" in out.stderr and "another container" in out.stderr
    assert cluster.state_file.read_bytes() == state_file  # adopt changed nothing
    assert cluster.is_running() and not cluster.stop_marker.exists()  # stop did nothing
    assert _scalar(cluster.read_state().url, "SELECT 1") == 1  # type: ignore[union-attr]
