"""A watching ``tracks worker`` outlives a database restart (tester's M4), and a batch cut off
mid-match is rolled back whole, its tracks claimable again.

The restart is real: a throwaway embedded cluster of this test's own (the session's cluster is
shared by every test and must not stop), stopped and started under a worker subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from geo.areas_import import import_areas
from geo.day_networks import walk_network
from geo.importer import import_osm
from geo.match_queue import drain_queue
from geo.track_store import store_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.conftest import FIXTURES, REPO
from tests.test_tracks_db import _csv
from tests.test_tracks_db import demo as demo  # the fixture: demo streets, one steward

GRIDWARD = Path(sys.executable).parent / "gridward"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} "


def _until(what: Callable[[], bool], why: str, limit_s: float = 60.0) -> None:
    """Wait until ``what()`` holds; fail naming ``why`` if it never does (a bound, not a
    timing assertion: a slow machine only waits longer)."""
    end = time.monotonic() + limit_s
    while not what():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting: {why}")
        time.sleep(0.1)


def _status(engine: Engine, track_id: int) -> str | None:
    with engine.connect() as conn:
        q = text("SELECT status FROM tracks WHERE id = :t")
        return conn.execute(q, {"t": track_id}).scalar()


def _walks(engine: Engine, n: int) -> list[bytes]:
    net, rng = walk_network(engine), np.random.default_rng(5)
    return [
        _csv(simulate_patrol(net, rng, SimParams(length_m=400, noise_m=5, dt_s=3))[0])
        for _ in range(n)
    ]


@pytest.fixture()
def own_cluster() -> object:
    """A throwaway embedded cluster this test may stop and start."""
    from geo.embedded import EmbeddedCluster

    folder = Path(tempfile.mkdtemp(prefix="gridward-restart-"))
    folder.chmod(0o755)  # the server may run as 'postgres' when tests run as root
    cluster = EmbeddedCluster(folder / "data", fast=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def test_watching_worker_waits_out_a_database_restart(own_cluster, tmp_path):
    from geo.db import get_engine

    url = own_cluster.read_state().url  # type: ignore[attr-defined]
    engine = get_engine(url)
    try:
        import_areas(engine, FIXTURES / "communities.geojson", level="community")
        import_osm(engine, FIXTURES / "haidian_demo.osm")
        first, second = _walks(engine, 2)
        out, err = tmp_path / "worker.out", tmp_path / "worker.err"
        cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
        # the worker finds the cluster as a deployment does, by its data folder: a restart
        # may move it to another port (the old one still in TIME_WAIT), and the worker follows
        env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
        env["GRIDWARD_DATA_DIR"] = str(own_cluster.data_dir)  # type: ignore[attr-defined]
        env.pop("GRIDWARD_PG_PORT", None)
        with out.open("w") as o, err.open("w") as e:
            worker = subprocess.Popen(
                [*cmd, "tracks", "worker", "--watch", "0.2"],
                cwd=REPO,
                stdout=o,
                stderr=e,
                env=env,
            )
        try:
            t1 = store_track(engine, first, "a.csv", queue=True).track_id
            _until(lambda: _status(engine, t1) == "matched", "the first track matched")
            own_cluster.stop()  # type: ignore[attr-defined]
            _until(
                lambda: "数据库不可用" in err.read_text() or worker.poll() is not None,
                "the worker to notice the database is gone",
            )
            assert worker.poll() is None, err.read_text()  # it exited for good before
            url = own_cluster.start().url  # type: ignore[attr-defined]
            engine.dispose()
            engine = get_engine(url)
            t2 = store_track(engine, second, "b.csv", queue=True).track_id
            _until(
                lambda: _status(engine, t2) == "matched" or worker.poll() is not None,
                "the track queued after the restart matched",
            )
            assert worker.poll() is None, err.read_text()
            _until(lambda: "数据库已恢复" in err.read_text(), "the worker to say it is back")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    finally:
        engine.dispose()
    logged = err.read_text().splitlines()
    # said once per outage, each way, timestamped
    assert sum("数据库不可用 database unavailable" in x for x in logged) == 1, logged
    assert sum("数据库已恢复 database available again" in x for x in logged) == 1, logged
    assert all(re.match(STAMP, x) for x in logged), logged
    printed = out.read_text().splitlines()
    # one timestamped line per drain that matched something; idle polls print nothing
    assert len(printed) == 2, printed
    assert all(re.match(STAMP + r"已匹配 1 条轨迹.* matched 1 tracks", x) for x in printed), printed


def test_a_batch_cut_off_mid_match_is_rolled_back_and_claimed_again(demo):
    """The worker's connection dies while its batch waits to write visits: nothing of the
    batch is kept, the tracks stay queued (claimable), and the next drain matches them."""
    ids = [
        store_track(demo, w, f"{i}.csv", queue=True).track_id for i, w in enumerate(_walks(demo, 2))
    ]
    failure: list[BaseException] = []

    def drain() -> None:
        try:
            drain_queue(demo)
        except BaseException as exc:  # noqa: BLE001 (the outcome the test reads)
            failure.append(exc)

    with demo.connect() as blocker:
        # the batch has claimed and matched, then waits on this lock to write its visits
        blocker.execute(text("LOCK TABLE patrol_visits IN ACCESS EXCLUSIVE MODE"))
        thread = threading.Thread(target=drain)
        thread.start()
        waiting = text(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids: list[int] = []

        def blocked() -> bool:
            with demo.connect() as probe:
                pids[:] = probe.execute(waiting).scalars().all()
            return bool(pids)

        _until(blocked, "the batch to wait for the lock")
        with demo.connect() as probe:  # as a database restart ends it
            probe.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        blocker.rollback()
    thread.join(timeout=60)
    from geo.match_queue import outage

    assert failure and outage(failure[0]) is not None, failure  # a worker retries this one
    with demo.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM patrol_visits")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM track_matches")).scalar() == 0
    assert [_status(demo, i) for i in ids] == ["queued", "queued"]
    rep = drain_queue(demo)
    assert rep.matched == 2 and [_status(demo, i) for i in ids] == ["matched", "matched"]


def _worker_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.pop("GRIDWARD_PG_PORT", None)
    env["DATABASE_URL"] = url
    return env


def _run_worker(url: str, *watch: str) -> subprocess.CompletedProcess[str]:
    """The worker with ``url``; a watching one that never ends fails the test (the bound is
    no timing assertion: on the old code it retried for ever)."""
    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    try:
        return subprocess.run(
            [*cmd, "tracks", "worker", *watch],
            cwd=REPO,
            env=_worker_env(url),
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the worker never ended; stderr: {exc.stderr!r}")


@pytest.fixture()
def newer_schema_url(pg_url: str) -> object:
    """A database whose schema revision is newer than this code's (a failed migration)."""
    import psycopg

    from tests.conftest import _throwaway_database

    made = _throwaway_database(pg_url)
    url = next(made)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    yield url
    next(made, None)


@pytest.mark.parametrize("wrong", ["password", "database", "host", "schema"])
def test_a_watching_worker_ends_on_what_waiting_cannot_mend(wrong, pg_url, newer_schema_url):
    """N7 (outside tester Z2): a wrong password, an unknown database or host, a migration
    that cannot run: one error line and the exit code of a worker without --watch, not a
    retry for ever after one warning."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    bad = {
        "password": url.set(password="not-the-password"),
        "database": url.set(database="gridward_no_such_db"),
        "host": url.set(host="no-such-host.invalid"),
        "schema": make_url(newer_schema_url),
    }[wrong].render_as_string(hide_password=False)
    once = _run_worker(bad)
    watching = _run_worker(bad, "--watch", "0.2")
    assert once.returncode in (1, 3), once.stderr
    assert watching.returncode == once.returncode, watching.stderr
    errors = [x for x in watching.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [x for x in once.stderr.splitlines() if x.startswith("error: ")], (
        watching.stderr
    )
    assert len(errors) == 1 and "数据库不可用" not in watching.stderr, watching.stderr
    tag = {"password": "数据库登录失败", "database": "数据库不存在", "host": "数据库主机未知"}
    assert errors[0].startswith(f"error: {tag.get(wrong, '数据库版本较新')}"), errors


def test_a_watching_worker_started_before_its_database_waits_for_it(pg_url, tmp_path):
    """A worker started before the database (a boot sequence) waits, from the first try."""
    import socket

    from sqlalchemy.engine import make_url

    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = make_url(pg_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    err = tmp_path / "worker.err"
    with err.open("w") as e:
        worker = subprocess.Popen(
            [*cmd, "tracks", "worker", "--watch", "0.2"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=e,
            env=_worker_env(url),
        )
    try:
        _until(
            lambda: "数据库不可用" in err.read_text() or worker.poll() is not None,
            "the worker to say the database is not up",
        )
        assert worker.poll() is None, err.read_text()
        assert "Connection refused" in err.read_text(), err.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_worker_without_watch_stamps_its_lines_too(pg_url):
    """Run from cron (no --watch), the worker's lines started without the time, so its log
    could not say when a batch was matched; now each line starts with it, as with --watch."""
    once = _run_worker(pg_url)
    assert once.returncode == 0, once.stderr
    lines = once.stdout.splitlines()
    heads = STAMP + r"(已匹配 \d+ 条轨迹|轨迹 \d+|重新匹配的 \d+ 条)"
    assert lines and all(re.match(heads, x) for x in lines), lines
