"""The city IT admin's bad day (outside tester T47 #3 #4 #7 #9 #10 #12): a full disk, a backup's
password and its orphaned pg_dump, Ctrl-C on a large people import, a corrupt cluster.json,
a backup on a full disk and a truncated one, and a cluster killed with kill -9. Real PostGIS,
real clusters, real pg_dump and pg_restore."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from api.cli import INTERRUPTED, INTERRUPTED_IMPORT
from geo.day_networks import walk_network
from geo.embedded import EmbeddedCluster
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_tracks_db import _csv, demo  # noqa: F401

GRIDWARD = str(Path(sys.executable).with_name("gridward"))

# a trigger that fails each new track as PostgreSQL does when the data folder's disk is full
# (SQLSTATE 53100 disk_full, the server's own words): the upload path meets the real error
_FULL_DISK_SQL = """
CREATE FUNCTION t47_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'could not extend file "base/16384/16397": No space left on device'
    USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
END $$;
CREATE TRIGGER t47_disk_full BEFORE INSERT ON tracks
  FOR EACH ROW EXECUTE FUNCTION t47_disk_full();
"""


@pytest.fixture()
def full_disk(demo):  # noqa: F811
    """The session database with every new track failing as on a full disk (made by the
    app's role, which owns the tables)."""
    with demo.begin() as conn:
        conn.execute(text(_FULL_DISK_SQL))
    try:
        yield demo
    finally:
        with demo.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS t47_disk_full ON tracks"))
            conn.execute(text("DROP FUNCTION IF EXISTS t47_disk_full()"))


def _tracks(db) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tracks")).scalar_one()


def test_an_upload_on_a_full_disk_is_a_507_that_says_so(full_disk, auth_headers) -> None:
    """T47 #3: an upload onto a full data folder answered 503 数据库暂不可用，请稍后重试 with
    Retry-After, and retrying can never help. Now 507, no Retry-After, words naming the full
    disk and the remedy; one file of several gets the same per file. Nothing is stored."""
    net = walk_network(full_disk)
    pts = simulate_patrol(net, np.random.default_rng(3), SimParams(length_m=300))[0]
    admin = auth_headers("admin")
    with TestClient(create_app(full_disk)) as client:
        one = client.post(
            "/tracks",
            files=[("file", ("walk.csv", io.BytesIO(_csv(pts)), "text/csv"))],
            data={"person_id": "1"},
            headers=admin,
        )
        assert one.status_code == 507, one.text
        assert "retry-after" not in {k.lower() for k in one.headers}
        assert one.json() == {
            "error": "服务器磁盘已满，本次上传未保存；请通知管理员清理空间 the server's disk is "
            "full: nothing was stored; ask the administrator to free space",
            "status": 507,
            "code": "disk_full",
        }
        pts2 = simulate_patrol(net, np.random.default_rng(4), SimParams(length_m=300))[0]
        two = client.post(
            "/tracks",
            files=[
                ("file", ("a.csv", io.BytesIO(_csv(pts)), "text/csv")),
                ("file", ("b.csv", io.BytesIO(_csv(pts2)), "text/csv")),
            ],
            data={"person_id": "1"},
            headers=admin,
        )
        assert two.status_code == 507, two.text
        assert "retry-after" not in {k.lower() for k in two.headers}
        body = two.json()
        assert [f["status"] for f in body["files"]] == [507, 507]
        assert body["files"][0]["error"].startswith("服务器磁盘已满，此文件未保存")
        assert body["error"].startswith("全部 2 个文件均未存储 all 2 files: 服务器磁盘已满")
    assert _tracks(full_disk) == 0


def test_the_cli_upload_on_a_full_disk_says_so_not_send_again(full_disk, tmp_path) -> None:
    """T47 #3 for ``gridward tracks upload``: each file said 数据库出错…请重新发送此文件."""
    from tests.test_import import run_cli

    net = walk_network(full_disk)
    pts = simulate_patrol(net, np.random.default_rng(5), SimParams(length_m=300))[0]
    walk = tmp_path / "walk.csv"
    walk.write_bytes(_csv(pts))
    url = full_disk.url.render_as_string(hide_password=False)
    res = run_cli(["tracks", "upload", str(walk), "--person", "id:1"], url)
    assert res.returncode != 0, res.stdout
    assert "walk.csv: 上传失败 error: 服务器磁盘已满，此文件未保存" in res.stdout, res.stdout
    assert "请重新发送此文件" not in res.stdout
    assert _tracks(full_disk) == 0


def test_disk_full_errors_are_told_from_an_outage() -> None:
    """T47 #3: SQLSTATE 53100 (raw from COPY, or wrapped by SQLAlchemy), an OSError ENOSPC
    anywhere in the cause chain are a full disk; a lost connection and a deadlock are not."""
    import errno

    import psycopg
    from sqlalchemy.exc import OperationalError

    from api.errors import disk_full_error

    raw = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert disk_full_error(raw)
    assert disk_full_error(OperationalError("INSERT …", {}, raw))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("writing the upload failed") from exc
    except RuntimeError as wrapped:
        assert disk_full_error(wrapped)
    assert not disk_full_error(psycopg.OperationalError("connection refused"))
    assert not disk_full_error(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not disk_full_error(ValueError("No space left on device"))


def test_db_status_warns_of_a_full_or_nearly_full_data_disk(pg_cluster, monkeypatch) -> None:
    """T47 #3: db status said 运行中 with no word of a full disk. It now warns (stderr) when
    the data folder's disk is full or nearly so, naming the folder and the free space; the
    status line itself is unchanged. h49: and exits 4 (full) or 5 (nearly full), not 0: a
    monitor reads only the exit code."""
    if pg_cluster is None:
        pytest.skip("the embedded cluster's status (DATABASE_URL is set)")
    from typer.testing import CliRunner

    from api.cli import app
    from geo.settings import get_settings

    monkeypatch.setenv("GRIDWARD_DATA_DIR", str(pg_cluster.data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDWARD_PG_PORT", str(pg_cluster.read_state().port))
    get_settings.cache_clear()
    real = shutil.disk_usage
    try:
        ok = CliRunner().invoke(app, ["db", "status"])
        assert ok.exit_code == 0, ok.output
        assert "运行中" in ok.stdout and "磁盘" not in ok.stderr

        def full(path):  # the data folder's disk with 5 MB of 300 MB left
            return real(path)._replace(total=300_000_000, free=5_000_000, used=295_000_000)

        monkeypatch.setattr(shutil, "disk_usage", full)
        out = CliRunner().invoke(app, ["db", "status"])
        assert out.exit_code == 4, out.output
        assert out.stdout.startswith("运行中"), out.stdout
        assert out.stderr.startswith("warning: 磁盘已满：数据文件夹 "), out.stderr
        assert "5.0 MB" in out.stderr and "disk full" in out.stderr

        def low(path):  # 20 MB of 300 MB: nearly full
            return real(path)._replace(total=300_000_000, free=20_000_000, used=280_000_000)

        monkeypatch.setattr(shutil, "disk_usage", low)
        out = CliRunner().invoke(app, ["db", "status"])
        assert out.exit_code == 5, out.output
        assert out.stderr.startswith("warning: 磁盘将满：数据文件夹 "), out.stderr
        assert "nearly full" in out.stderr

        # 2 GB free of 10 GB: healthy again, exit 0, no warning
        def roomy(path):
            return real(path)._replace(total=10**10, free=2 * 10**9, used=8 * 10**9)

        monkeypatch.setattr(shutil, "disk_usage", roomy)
        out = CliRunner().invoke(app, ["db", "status"])
        assert out.exit_code == 0 and "磁盘" not in out.stderr, out.output
    finally:
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------------
# T47 #7: Ctrl-C during a large people import
# ------------------------------------------------------------------------------------------

# Ctrl-C (a real SIGINT, sent by the process to itself) while psycopg turns the roster's
# middle row into query parameters: the moment a Ctrl-C lands most often in a large import,
# inside executemany's pipeline with the rows before it already sent
_INTERRUPTED_IMPORT = """
import os, signal, sys
import psycopg
from psycopg.types.string import StrDumper
import geo.people_import as pi

class Name(str):
    pass

class CtrlC(StrDumper):
    def dump(self, obj):
        os.kill(os.getpid(), signal.SIGINT)
        return super().dump(obj)

psycopg.adapters.register_dumper(Name, CtrlC)
rows = pi._rows

def interrupted_rows(df, crs=None):
    out = rows(df, crs)
    out[len(out) // 2]["name"] = Name(out[len(out) // 2]["name"])
    return out

pi._rows = interrupted_rows
sys.argv = ["gridward", "import", "people", sys.argv[1]]
from api.cli import main
main()
"""


def _cluster_env(pg_cluster) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        GRIDWARD_DATA_DIR=str(pg_cluster.data_dir),
        GRIDWARD_PG_PORT=str(pg_cluster.read_state().port),
        COLUMNS="200",
    )
    return env


def test_ctrl_c_in_a_people_import_exits_130_without_driver_noise(
    demo,  # noqa: F811
    pg_cluster,
    tmp_path: Path,
) -> None:
    """T47 #7: Ctrl-C while a large roster's rows were being written sometimes printed
    psycopg's ``error ignored terminating <psycopg.Pipeline [INERROR, pipeline=ON] …>:
    pipeline aborted`` (the rows go through executemany, which psycopg runs in pipeline
    mode). Now it exits 130 with no driver noise; nothing is imported, and (h49) one line
    says so."""
    if pg_cluster is None:
        pytest.skip("the CLI on the embedded cluster (DATABASE_URL is set)")
    roster = tmp_path / "roster.csv"
    rng = np.random.default_rng(7)
    lines = ["person_id,name,lon,lat"] + [
        f"T{i:05d},测试{i},{116.3135 + rng.random() * 0.011:.6f},"
        f"{39.991 + rng.random() * 0.0095:.6f}"
        for i in range(4000)
    ]
    roster.write_text("\n".join(lines) + "\n", "utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT, str(roster)],
        env=_cluster_env(pg_cluster),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 130, (proc.stdout, proc.stderr)
    assert "ipeline" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == INTERRUPTED_IMPORT + "\n", proc.stderr
    assert proc.stderr.startswith("已中断（Ctrl-C）：导入已撤销，未导入任何数据")
    with demo.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM people")).scalar_one() == 1


# A command made slow where it would open the database (``geo.db.get_engine``), saying
# "ready" first: a real SIGINT from outside then lands inside the command, as a user's Ctrl-C
_SLOW_COMMAND = """
import sys, time
import geo.db

def slow(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(120)

geo.db.get_engine = slow
sys.argv = ["gridward", *sys.argv[1:]]
from api.cli import main
main()
"""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["report", "daily", "--date", "2026-05-12"], INTERRUPTED),
        (["import", "people", "ROSTER"], INTERRUPTED_IMPORT),
    ],
)
def test_ctrl_c_says_in_one_line_what_was_stored(tmp_path: Path, args, said) -> None:
    """h49: Ctrl-C (SIGINT sent from outside) on a long command exited 130 and printed
    nothing, so the user did not know whether anything was stored. Now one line on stderr,
    Chinese first: an import stored nothing; any other command kept what it reported done.
    Exit 130 as before."""
    roster = tmp_path / "roster.csv"
    roster.write_text("person_id,name\nT1,测试\n", "utf-8")
    args = [str(roster) if a == "ROSTER" else a for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert err == said + "\n", err
    assert err.startswith("已中断（Ctrl-C）：") and " interrupted (Ctrl-C): " in err


# ------------------------------------------------------------------------------------------
# T47 #9: a corrupt cluster.json
# ------------------------------------------------------------------------------------------


def test_a_corrupt_cluster_json_is_damaged_not_missing(tmp_path: Path) -> None:
    """T47 #9: a cluster.json that is there but does not parse read 数据库配置文件丢失
    (missing) with the parser's English inside the Chinese. Now 已损坏 and where it broke in
    Chinese; the English as it was. A missing one still reads 丢失 … 不存在."""
    folder = tmp_path / "data"
    (folder / "pg").mkdir(parents=True)
    (folder / "pg" / "PG_VERSION").write_text("15\n")
    cluster = EmbeddedCluster(folder)
    cluster.state_file.write_text('{"port": 55747, "passw\x01ord": "x"}')
    state, why = cluster.state_and_problem()
    assert state is None
    msg = cluster.lost_state_error(why).message
    assert msg.startswith(
        f"数据库配置文件已损坏：{cluster.state_file} 无法读取（第 1 行第 23 个字符处格式错误）；"
    )
    assert "丢失" not in msg and "Invalid control character" not in msg.split(" is unreadable")[0]
    assert (
        f"{cluster.state_file} is unreadable: Invalid control character at: line 1 column 23" in msg
    )
    cluster.state_file.unlink()
    msg = cluster.lost_state_error(cluster.state_and_problem()[1]).message
    assert msg.startswith(f"数据库配置文件丢失：{cluster.state_file} 不存在；"), msg


# ------------------------------------------------------------------------------------------
# T47 #4, #10: db backup's password and pg_dump's life; a full disk, a truncated backup
# ------------------------------------------------------------------------------------------


def _children(pid: int, name: str | None = None) -> list[int]:
    """The live processes whose parent is ``pid`` (named ``name``), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            state, ppid = fields[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == pid and state != "Z" and (name is None or comm == name):
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_backup_keeps_the_password_off_the_command_line_and_pg_dump_dies_with_it(
    demo,  # noqa: F811
    pg_cluster,
    tmp_path: Path,
) -> None:
    """T47 #4: ``db backup`` ran ``pg_dump … -d postgresql://gridward_app:PASSWORD@…``, the
    password readable by every local user in ps for the whole backup (URL.set(password=None)
    kept it); and after kill -9 of gridward, pg_dump ran on. A lock held on tracks keeps
    pg_dump waiting, so its command line can be read while it runs; then gridward is killed."""
    if pg_cluster is None:
        pytest.skip("the CLI on the embedded cluster (DATABASE_URL is set)")
    password = pg_cluster.read_state().app_password
    assert password
    dump = tmp_path / "b.dump"
    with demo.connect() as lock:
        lock.execute(text("LOCK TABLE tracks IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen(
            [GRIDWARD, "db", "backup", str(dump)],
            env=_cluster_env(pg_cluster),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            found: list[int] = []
            for _ in range(600):
                found = _children(proc.pid, "pg_dump")
                if found or proc.poll() is not None:
                    break
                time.sleep(0.05)
            assert found, proc.communicate()
            # comm is "pg_dump" from the start of its exec, but its argv is readable only once
            # the exec has set up the new stack: an empty read is that instant (a CI run met it)
            for _ in range(200):
                argv = Path(f"/proc/{found[0]}/cmdline").read_bytes().split(b"\0")
                if argv[0]:
                    break
                time.sleep(0.01)
            assert argv[0].endswith(b"pg_dump") and b"-Fc" in argv
            assert not [a for a in argv if password.encode() in a], argv
            assert any(a.startswith(b"postgresql://gridward_app@127.0.0.1:") for a in argv), argv
            proc.kill()  # kill -9 of gridward: pg_dump goes with it
            proc.communicate()
            for _ in range(600):
                if not _alive(found[0]):
                    break
                time.sleep(0.05)
            assert not _alive(found[0]), "pg_dump outlived gridward"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            for pid in found:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            lock.rollback()
    assert not dump.exists()


def test_pg_tool_failures_name_a_full_disk_and_a_cut_backup_first() -> None:
    """T47 #10: the cause was given in pg's English only. Now named first in the Chinese,
    pg's words kept after it and the English as it was."""
    from api.cli_db import _tool_failure

    full = _tool_failure(
        "备份失败：pg_dump 出错",
        "pg_dump failed:",
        "could not write to output file: No space left on device",
        "pg_dump",
    )
    assert full == (
        "备份失败：磁盘已满（备份文件所在的磁盘）；未写入备份，请清理该磁盘的空间后重试"
        "（pg_dump：could not write to output file: No space left on device） "
        "pg_dump failed: could not write to output file: No space left on device"
    )
    cut = _tool_failure(
        "恢复失败：pg_restore 出错（未作任何更改）",
        "pg_restore failed (nothing was changed):",
        "could not read from input file: end of file",
        "pg_restore",
    )
    assert cut == (
        "恢复失败：备份文件不完整（可能被截断或复制中断）；未作任何更改，请改用完整的备份"
        "（pg_restore：could not read from input file: end of file） "
        "pg_restore failed (nothing was changed): could not read from input file: end of file"
    )
    other = _tool_failure("备份失败：pg_dump 出错", "pg_dump failed:", "x y", "pg_dump")
    assert other == "备份失败：pg_dump 出错（x y） pg_dump failed: x y"


def test_a_truncated_backup_is_named_as_such_and_changes_nothing(
    demo,  # noqa: F811
    pg_cluster,
    tmp_path: Path,
) -> None:
    """T47 #10: a restore of a backup cut short read 恢复失败：pg_restore 出错（未作任何更改）
    （could not read from input file: end of file）. Now 备份文件不完整（可能被截断或复制中断）
    first; the database is as it was."""
    if pg_cluster is None:
        pytest.skip("the CLI on the embedded cluster (DATABASE_URL is set)")
    from geo.db import dispose_engines

    with demo.begin() as conn:  # some rows, so that the archive has data to cut
        conn.execute(
            text(
                "INSERT INTO people (external_id, name) "
                "SELECT 'X' || g, 'x' FROM generate_series(1, 3000) g"
            )
        )
    env = _cluster_env(pg_cluster)
    dump = tmp_path / "b.dump"
    made = subprocess.run(
        [GRIDWARD, "db", "backup", str(dump)], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    data = dump.read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    cut.chmod(0o600)
    demo.dispose()  # restore refuses while this process holds connections to the database
    dispose_engines()
    out = subprocess.run(
        [GRIDWARD, "db", "restore", "--force", str(cut)], env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "备份文件不完整（可能被截断或复制中断）" in out.stderr, out.stderr
    assert out.stderr.count("error:") == 1 and "end of file" in out.stderr, out.stderr
    head = out.stderr.split("备份文件不完整", 1)[0]
    assert "end of file" not in head  # the cause first, pg's words after
    with demo.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM people")).scalar_one() == 3001


def test_a_backup_onto_a_full_disk_says_so(
    demo,  # noqa: F811
    pg_cluster,
    tmp_path: Path,
) -> None:
    """T47 #10: a backup onto a full disk read 备份失败：pg_dump 出错（could not write to output
    file: No space left on device）. Now 磁盘已满 first. A real full disk: a 256 kB tmpfs
    (root only)."""
    if pg_cluster is None:
        pytest.skip("the CLI on the embedded cluster (DATABASE_URL is set)")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        with demo.begin() as conn:  # more than 256 kB of archive
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, phone) SELECT 'X' || g, "
                    "md5(g::text) || md5((g + 1)::text), md5(g::text) "
                    "FROM generate_series(1, 20000) g"
                )
            )
        out = subprocess.run(
            [GRIDWARD, "db", "backup", str(small / "b.dump")],
            env=_cluster_env(pg_cluster),
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0
        assert out.stderr.startswith("error: 备份失败：磁盘已满（备份文件所在的磁盘）"), out.stderr
        assert "No space left on device" in out.stderr
        assert " pg_dump failed: could not write to output file: No space left on device" in (
            out.stderr
        )
        assert list(small.iterdir()) == []  # nothing left behind
    finally:
        subprocess.run(["umount", str(small)], check=False)


# ------------------------------------------------------------------------------------------
# T47 #12: the cluster killed with kill -9
# ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_crashed_cluster_is_named_and_its_start_says_it_started(folder: Path) -> None:
    """T47 #12: after kill -9 of the postmaster, db status said 数据库已停止 as after any
    stop, and db start then 数据库已在 127.0.0.1:PORT 运行 (read as "was already running"). Now
    status says it did not stop cleanly and start recovers it; start says 已启动 when it
    started the server, and 已在 … 运行 only when it was running. The English as it was."""
    import ctypes

    # this process adopts the server (pg_ctl daemonizes it), so that it can reap it once
    # killed: where PID 1 reaps no orphans (a container), a killed postmaster stays a zombie
    # and pg_ctl takes it for running
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_child_subreaper = 36
    if prctl(pr_set_child_subreaper, 1) != 0:
        pytest.skip("cannot adopt the server's process here (PR_SET_CHILD_SUBREAPER)")
    try:
        _crash_and_start(folder)
    finally:
        prctl(pr_set_child_subreaper, 0)


def _reap(pid: int) -> None:
    """Reap ``pid`` if it is a child of this process that has ended (else leave it)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _crash_and_start(folder: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(GRIDWARD_DATA_DIR=str(folder), GRIDWARD_PG_PORT=str(port), COLUMNS="200")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [GRIDWARD, *args], env=env, capture_output=True, text=True, timeout=300
        )

    first = cli("db", "start")
    assert first.returncode == 0, first.stderr
    where = f"127.0.0.1:{port}"
    assert first.stdout.startswith(f"数据库已启动，运行于 {where}，数据在 "), first.stdout
    assert f" running on {where}, data in " in first.stdout
    again = cli("db", "start")
    assert again.stdout.startswith(f"数据库已在 {where} 运行，数据在 "), again.stdout

    state = EmbeddedCluster(folder).read_state()
    assert state is not None
    eng = create_engine(state.url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE kept AS SELECT 42 AS x"))
    eng.dispose()
    postmaster = int((folder / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])
    helpers = _children(postmaster)
    os.kill(postmaster, signal.SIGKILL)
    for _ in range(600):  # its server processes notice and exit
        for pid in (postmaster, *helpers):
            _reap(pid)
        if not _alive(postmaster) and not any(_alive(p) for p in helpers):
            break
        time.sleep(0.05)
    assert not _alive(postmaster)

    status = cli("db", "status")
    assert status.returncode == 1
    assert status.stdout.startswith("数据库未正常停止（可能崩溃或断电），数据文件夹 "), (
        status.stdout
    )
    assert "'gridward db start' 会恢复并启动它" in status.stdout
    assert "stopped, not cleanly" in status.stdout

    started = cli("db", "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(
        f"数据库已启动（上次未正常停止，已自动恢复），运行于 {where}，数据在 "
    ), started.stdout
    assert f" running on {where}, data in " in started.stdout
    eng = create_engine(state.url)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT x FROM kept")).scalar_one() == 42
    eng.dispose()

    # a clean stop is told as before; the start after it is 已启动, with no recovery
    assert cli("db", "stop").returncode == 0
    stopped = cli("db", "status")
    assert stopped.stdout.startswith("数据库已停止（"), stopped.stdout
    back = cli("db", "start")
    assert back.stdout.startswith(f"数据库已启动，运行于 {where}，"), back.stdout


def test_db_status_help_names_its_exit_codes() -> None:
    """h49: the exit codes a monitor reads, and the disk thresholds, are in --help."""
    from typer.testing import CliRunner

    from api.cli import app

    out = CliRunner().invoke(app, ["db", "status", "--help"], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    said = " ".join(out.stdout.split())
    assert "0 运行中且正常 running and healthy" in said
    assert "1 已停止、未正常停止（崩溃）或无法连接" in said
    assert "4 运行中，但数据文件夹所在磁盘已满（可用空间不足 64 MB 且不足磁盘的 5%）" in said
    assert "5 运行中，但该磁盘将满（可用空间不足 1 GB 且不足磁盘的 10%）" in said
