"""The district IT operator's findings on running the database (outside tester T68: #4, #7,
#8, #9, #10, #11, #15, #17, #18, and #6's log hint).

Real clusters only: the session's cluster for databases reached by DATABASE_URL (one made
here without PostGIS, for a role that is not a superuser), and one embedded cluster of this
module's own (on a small tmpfs when this runs as root, for the full-disk start of serve),
crashed with kill -9, stopped, and restored into.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from geo.embedded import EmbeddedCluster

REPO = Path(__file__).resolve().parents[1]
GRIDWARD = str(Path(sys.executable).with_name("gridward"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRIDWARD, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(COLUMNS="200", **extra)
    return env


def _libpq(url: str, database: str | None = None, user: str | None = None, pw: str = "") -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    if user is not None:
        u = u.set(username=user, password=pw)
    return u.render_as_string(hide_password=False)


def _until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _head() -> str:
    from geo.db import migration_scripts

    return str(migration_scripts().get_current_head())


# ------------------------------------------------------------------------------------------
# DATABASE_URL: a server whose database lacks PostGIS, a role that is not a superuser
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def district(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    """The session server's superuser URL (on database postgres) and a role of its own that
    is not a superuser (name; its password is "pw"); the role and its databases are dropped
    after."""
    admin = _libpq(pg_admin_url, "postgres")
    role = f"t68_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER")
    try:
        yield admin, role
    finally:
        from geo.db import dispose_engines

        dispose_engines()
        drop_databases_like(admin, role)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def drop_databases_like(admin: str, prefix: str) -> None:
    """Drop every database whose name starts with ``prefix`` (a test's own, by its random
    prefix), connections and all."""
    with psycopg.connect(admin, autocommit=True) as conn:
        for (db,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}%",)
        ).fetchall():
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


def _database(district: tuple[str, str], suffix: str, postgis: bool) -> str:
    """A new database owned by the district's role (with PostGIS, installed by the
    superuser, when asked); its DATABASE_URL for that role."""
    admin, role = district
    name = f"{role}_{suffix}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER {role}')
    if postgis:
        with psycopg.connect(_libpq(admin, name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
    return _libpq(admin, name, role, "pw")


@pytest.fixture(scope="module")
def nopostgis(district) -> str:
    """DATABASE_URL of a database of the district's role without PostGIS."""
    return _database(district, "nopostgis", postgis=False)


def test_status_without_postgis_names_it_as_db_start_does(nopostgis: str) -> None:
    """T68 #4: without PostGIS `db status` said 无法连接 … 服务器是否在运行 (exit 1), sending the
    operator to a server that ran fine, while `db start` named the fix: status now gives
    that line, with the set-up exit code 3."""
    name = make_url(nopostgis).database
    fix = f"须先由超级用户在数据库 {name} 中执行 CREATE EXTENSION postgis"
    out = _cli(_env(DATABASE_URL=nopostgis), "db", "status")
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stderr.startswith("error: 缺少 PostGIS 扩展（"), out.stderr
    assert fix in out.stderr and "a superuser must run CREATE EXTENSION postgis" in out.stderr
    assert "服务器是否在运行" not in out.stdout + out.stderr
    started = _cli(_env(DATABASE_URL=nopostgis), "db", "start")  # the role may not install it
    assert started.returncode == 3 and fix in started.stderr, started.stderr


def test_status_exits_3_on_a_refused_login(nopostgis: str) -> None:
    """T68 #8: a wrong DATABASE_URL password was exit 1 ("stopped or unreachable"); login
    refused is a set-up error (3), as `db status --help` documents. A server that is down
    stays 1."""
    wrong = make_url(nopostgis).set(password="not-it").render_as_string(hide_password=False)
    out = _cli(_env(DATABASE_URL=wrong), "db", "status")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "密码验证失败；请检查 DATABASE_URL 中的用户名和密码" in out.stdout, out.stdout
    closed = make_url(nopostgis).set(port=_free_port()).render_as_string(hide_password=False)
    out = _cli(_env(DATABASE_URL=closed), "db", "status")
    assert out.returncode == 1 and "服务器是否在运行" in out.stdout, out.stdout


def test_db_start_says_it_created_the_schema(district) -> None:
    """T68 #9: `db start` with DATABASE_URL said 数据库结构已是最新（无需启动） right after
    building the schema from nothing; it says 已建立 无 → head, and 已是最新 only when
    nothing was done."""
    head = _head()
    empty = _database(district, "empty", postgis=True)
    out = _cli(_env(DATABASE_URL=empty), "db", "start")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"使用 DATABASE_URL，已建立数据库结构 无 → {head} "), out.stdout
    assert f"created the schema none → {head}" in out.stdout
    again = _cli(_env(DATABASE_URL=empty), "db", "start")
    assert f"数据库结构 {head} 已是最新" in again.stdout, again.stdout
    assert "已建立" not in again.stdout and "已升级" not in again.stdout


def test_migration_refusal_names_an_unnamed_program_by_its_pid(district) -> None:
    """T68 #15: the refusal to migrate under another program named it "?，来自 local" (old
    versions set no application_name): its backend pid (pg_stat_activity.pid) now. Then
    #9: the upgrade says 已升级 old → head."""
    from geo.db import dispose_engines, migrate

    older = _database(district, "older", postgis=True)
    engine = create_engine(make_url(older).set(drivername="postgresql+psycopg"))
    try:
        migrate(engine, "0026")
    finally:
        engine.dispose()
        dispose_engines()
    with psycopg.connect(older) as held:  # a program that sets no application_name
        pid = held.info.backend_pid
        out = _cli(_env(DATABASE_URL=older), "db", "start")
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"数据库正在使用：数据库 '{make_url(older).database}' 还有 1 个其他连接" in out.stderr
    assert f"?，来自 127.0.0.1，后端进程号 {pid}。" in out.stderr, out.stderr
    assert f"(? from 127.0.0.1, backend pid {pid})" in out.stderr, out.stderr
    head = _head()
    out = _cli(_env(DATABASE_URL=older), "db", "start")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"使用 DATABASE_URL，已升级数据库结构 0026 → {head} "), out.stdout
    assert f"migrated the schema 0026 → {head}" in out.stdout


# ------------------------------------------------------------------------------------------
# the embedded cluster
# ------------------------------------------------------------------------------------------


class Own(NamedTuple):
    cluster: EmbeddedCluster
    env: dict[str, str]  # the CLI's, pointing at it
    mounted: bool  # on a tmpfs of its own
    reaper: bool  # its server is this process's child (a subreaper): kill -9 may be reaped


# prctl's PR_SET_CHILD_SUBREAPER
_SUBREAPER = 36


@pytest.fixture(scope="module")
def own() -> Iterator[Own]:
    """This module's embedded cluster, running, and the environment pointing the CLI at it.
    As root it lives on a 320 MB tmpfs (the full-disk test fills it); else in /tmp. This
    process adopts the servers its children start (pg_ctl daemonizes them), so that it can
    reap one killed with kill -9: where PID 1 reaps no orphans (a container), a killed
    postmaster stays a zombie that pg_ctl takes for running."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    reaper = prctl(_SUBREAPER, 1) == 0
    base = Path(tempfile.mkdtemp(prefix="gridward-t68-"))
    mounted = os.geteuid() == 0 and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=320m,mode=0755", "tmpfs", str(base)],
            capture_output=True,
        ).returncode
        == 0
    )
    base.chmod(0o755)
    port = _free_port()
    env = _env(GRIDWARD_DATA_DIR=str(base / "data"), GRIDWARD_PG_PORT=str(port))
    try:
        assert _cli(env, "db", "start").returncode == 0
        yield Own(EmbeddedCluster(base / "data", port=port), env, mounted, reaper)
    finally:
        EmbeddedCluster(base / "data").destroy()
        if mounted:
            subprocess.run(["umount", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
        if reaper:
            prctl(_SUBREAPER, 0)


@pytest.fixture(autouse=True)
def _own_runs_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """The module's cluster running again after a test that stopped or killed it and
    failed before starting it."""
    yield
    if "own" in request.fixturenames:
        cluster, env, _, _ = request.getfixturevalue("own")
        if not cluster.is_running():
            _cli(env, "db", "start")


def test_status_names_a_damaged_cluster_json_on_a_stopped_cluster(own) -> None:
    """T68 #8: with the cluster stopped, a damaged cluster.json read 数据库已停止 … 请用 'gridward
    db start' 启动 (exit 1), and db start then refused it; it is named as when it runs (3)."""
    cluster, env, _, _ = own
    saved = cluster.state_file.read_bytes()
    cluster.stop()
    try:
        cluster.state_file.write_text('{"port": 1,\n', encoding="utf-8")
        out = _cli(env, "db", "status")
        assert out.returncode == 3, out.stdout + out.stderr
        assert out.stderr.startswith("error: 数据库配置文件已损坏："), out.stderr
        assert "数据库已停止" not in out.stdout
    finally:
        cluster.state_file.write_bytes(saved)
        assert _cli(env, "db", "start").returncode == 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def _crash(own: Own) -> None:
    """kill -9 of the module cluster's postmaster; it and its server processes, which exit
    on their own, are reaped."""
    if not own.reaper:
        pytest.skip("cannot adopt the server's process here (PR_SET_CHILD_SUBREAPER)")
    cluster = own.cluster
    postmaster = int((cluster.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    helpers = _children(postmaster)
    os.kill(postmaster, signal.SIGKILL)

    def gone() -> bool:
        for pid in (postmaster, *helpers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        return not _alive(postmaster) and not any(_alive(p) for p in helpers)

    _until(gone, "the killed postmaster to go")
    assert not cluster.is_running()


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """``gridward serve`` on a free port, its stderr into ``log``, once it answers."""
    port = _free_port()
    with log.open("w") as err:
        server = subprocess.Popen(
            [GRIDWARD, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=REPO,
        )
    try:
        _until(
            lambda: "Application startup complete" in log.read_text() or server.poll() is not None,
            "serve to start",
            120,
        )
        assert server.poll() is None, log.read_text()
    except BaseException:
        _stop(server)
        raise
    return server, port


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_status_says_why_a_newer_schema_exits_3(own) -> None:
    """T68 #8: a schema newer than the code exited 3 with 运行中 … 数据库结构版本 0027 as the
    only line on stdout; the status line now says why, and the reason is on stderr."""
    cluster, env, _, _ = own
    state = cluster.read_state()
    assert state is not None
    head = _head()
    app = _libpq(state.url)
    with psycopg.connect(app, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    try:
        out = _cli(env, "db", "status")
    finally:
        with psycopg.connect(app, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"数据库结构版本 9999；数据库版本较新：比本 gridward 的（{head}）新" in out.stdout
    assert f"newer than this gridward ({head}): it cannot use it" in out.stdout, out.stdout
    assert out.stderr.startswith("error: 数据库版本较新"), out.stderr


def test_serve_says_it_recovered_a_crashed_cluster(own, tmp_path: Path) -> None:
    """T68 #10: after kill -9 of the postmaster, a restart of serve alone (what systemd does)
    recovered it with no word in serve's log. serve (and every command that starts the
    cluster) now says the line `db start` says, both halves."""
    cluster, env, _, _ = own
    _crash(own)
    log = tmp_path / "serve.log"
    server, port = _serve(env, log)
    try:
        said = log.read_text()
        where = f"127.0.0.1:{cluster.requested_port}"
        assert f"数据库已启动（上次未正常停止，已自动恢复），运行于 {where}" in said, said
        assert f"started after an unclean stop (recovered), running on {where}" in said, said
        assert _health(port) == 200
    finally:
        _stop(server)


def test_db_start_says_the_recovery_in_english_too(own) -> None:
    """T68 #10: `db start` after a crash said 已自动恢复 in its Chinese, and only "running on
    …" in its English."""
    cluster, env, _, _ = own
    _crash(own)
    where = f"127.0.0.1:{cluster.requested_port}"
    out = _cli(env, "db", "start")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"数据库已启动（上次未正常停止，已自动恢复），运行于 {where}")
    assert f"started after an unclean stop (recovered), running on {where}, data in " in (
        out.stdout
    )
    again = _cli(env, "db", "start")
    assert f"already running on {where}, data in " in again.stdout, again.stdout


def test_the_api_log_names_db_start_while_the_cluster_is_down(own, tmp_path: Path) -> None:
    """T68 #6: with the embedded cluster down under a running API, its log repeated
    数据库不可用 database unavailable … Connection refused and never said how to bring the
    database back; the warning now names 'gridward db start'."""
    cluster, env, _, _ = own
    log = tmp_path / "serve.log"
    server, port = _serve(env, log)
    try:
        cluster.stop()  # as if it had died: the API is cut off
        assert _health(port) == 503
        _until(lambda: "database unavailable" in log.read_text(), "the warning")
        warning = next(ln for ln in log.read_text().splitlines() if "database unavailable" in ln)
        assert "内置数据库未运行" in warning and "请运行 'gridward db start'" in warning, warning
        assert "start it with 'gridward db start'" in warning, warning
        assert _cli(env, "db", "start").returncode == 0
        _until(lambda: _health(port) == 200, "the API to find the database again")
    finally:
        _stop(server)
        if not cluster.is_running():
            _cli(env, "db", "start")


def test_restore_checks_the_port_before_making_a_cluster(own) -> None:
    """T68 #17: a restore into a new folder while the database port was taken made a
    cluster, then failed on the port, leaving it half made. The port is checked first."""
    cluster, _, _, _ = own
    dump = cluster.data_dir.parent / "header.dump"
    dump.write_bytes(b"PGDMP")  # restore reads no further before the cluster starts
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fresh = cluster.data_dir.parent / "new"  # a folder the server user may enter
        new = _env(GRIDWARD_DATA_DIR=str(fresh), GRIDWARD_PG_PORT=str(port))
        try:
            out = _cli(new, "db", "restore", str(dump))
            made = (fresh / "pg").exists()
        finally:
            EmbeddedCluster(fresh).destroy()
            dump.unlink()
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stderr.startswith(f"error: 端口已被占用：端口 {port} 已被占用"), out.stderr
    assert "新建数据库" not in out.stderr and not made


def test_restore_into_a_missing_database_does_not_say_it_made_one_empty(
    own, tmp_path: Path
) -> None:
    """T68 #17: a restore into a cluster without its database said mid-restore 新建空数据库：
    … 已新建一个空的（要找回数据：gridward db restore FILE）, which read as if the restore had
    failed."""
    cluster, env, _, _ = own
    dump = tmp_path / "t68.dump"
    assert _cli(env, "db", "backup", str(dump)).returncode == 0
    state = cluster.read_state()
    assert state is not None
    with psycopg.connect(_libpq(state.admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{state.database}" WITH (FORCE)')
    out = _cli(env, "db", "restore", str(dump))
    assert out.returncode == 0, out.stderr
    assert "新建空数据库" not in out.stderr and "恢复完成" in out.stdout, out.stderr


def test_serve_warns_of_a_full_disk_at_start(own, tmp_path: Path) -> None:
    """T68 #18: serve on a nearly full data disk started without a word (`db status` warned);
    its log now has the same warning at start."""
    cluster, env, mounted, _ = own
    if not mounted:
        pytest.skip("needs root to mount a small tmpfs for the data folder")
    filler = cluster.data_dir.parent / "filler"
    free = shutil.disk_usage(cluster.data_dir).free
    total = shutil.disk_usage(cluster.data_dir).total
    left = total // 10 - 8_000_000  # under a tenth free: 磁盘将满 (the server keeps room)
    server = None
    try:
        with open(filler, "wb") as fh:
            os.posix_fallocate(fh.fileno(), 0, free - left)
        server, _ = _serve(env, tmp_path / "serve.log")
        said = (tmp_path / "serve.log").read_text()
        assert "WARNING gridward.serve: 磁盘将满：数据文件夹 " in said, said
        assert "the disk is nearly full: the disk of the data folder" in said, said
    finally:
        if server is not None:
            _stop(server)
        filler.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------
# the web port, the version
# ------------------------------------------------------------------------------------------


def test_demo_checks_the_web_port_before_any_work_and_names_gridward_port() -> None:
    """T68 #11: a second demo while the first served imported everything again, then failed
    on the port saying only --port (the port came from GRIDWARD_PORT). Now the port is
    checked first (here the database is unreachable: nothing before the check touches it),
    and the message names GRIDWARD_PORT."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        closed = f"postgresql://nobody:x@127.0.0.1:{_free_port()}/none"
        out = _cli(_env(DATABASE_URL=closed, GRIDWARD_PORT=str(port)), "demo")
    assert out.returncode == 3, out.stdout + out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: 端口 {port} 已被占用（127.0.0.1:{port}）：请用 --port 或 "), (
        line
    )
    assert "GRIDWARD_PORT 换一个端口" in line and "with --port or GRIDWARD_PORT" in line, line
    assert "已导入" not in out.stdout


def test_serve_and_demo_help_name_gridward_port() -> None:
    """T68 #11: --help said 端口 port (default 8000), not that GRIDWARD_PORT sets it."""
    from typer.testing import CliRunner

    from api.cli import app

    for cmd in ("serve", "demo"):
        shown = CliRunner().invoke(app, [cmd, "--help"], env={"COLUMNS": "300"})
        said = " ".join(shown.stdout.split())
        assert "端口（默认取 GRIDWARD_PORT，未设置时为 8000） port (default GRIDWARD_PORT" in said
        assert "GRIDWARD_HOST" in said, said


def _git_head() -> str | None:
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def test_the_version_names_the_commit(db) -> None:
    """T68 #7: `--version` and /health said 0.1.0 for every commit; from a git checkout they
    now carry the commit (0.1.0+g863a6a6), read from .git without git."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    head = _git_head()
    if head is None:
        pytest.skip("not run from a git checkout")
    want = f"{dist_version('gridward')}+g{head[:7]}"
    out = _cli(_env(), "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"gridward {want}", out.stdout
    with TestClient(create_app(db)) as client:
        assert client.get("/health").json()["version"] == want


def test_commit_is_read_from_loose_packed_and_worktree_refs(tmp_path: Path) -> None:
    """The commit without a git program: HEAD naming a loose ref, a packed one, a detached
    commit, a worktree's .git file; nothing for a folder that is not a checkout."""
    from api.runtime import commit

    sha, other = "863a6a6" + "0" * 33, "abcdef1" + "1" * 33
    main = tmp_path / "main"
    (main / ".git" / "refs" / "heads").mkdir(parents=True)
    (main / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (main / ".git" / "packed-refs").write_text(f"# pack-refs\n{sha} refs/heads/main\n")
    assert commit.__wrapped__(main) == "863a6a6"
    (main / ".git" / "refs" / "heads" / "main").write_text(other + "\n")
    assert commit.__wrapped__(main) == "abcdef1"
    wt = tmp_path / "wt"
    gitdir = main / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "HEAD").write_text(sha + "\n")
    (gitdir / "commondir").write_text("../..\n")
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {gitdir}\n")
    assert commit.__wrapped__(wt) == "863a6a6"
    assert commit.__wrapped__(tmp_path / "none") is None
    (main / ".git" / "HEAD").write_text("ref: refs/heads/gone\n")
    assert commit.__wrapped__(main) is None
