"""Stopping the API stops its thread jobs (partition, staffing, match drains), real PostGIS.

WHY: the API closed its port and then lived on until those jobs ended (an upload's job waits
up to 30 minutes for a worker holding its tracks), and a kill left their rows "running"
until another process's sweep failed them minutes later.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.background import (
    _pool,
    _thread_jobs,
    _threads_lock,
    match_pool,
    run_job,
    stop_thread_jobs,
)
from geo.jobs import JOB_INTERRUPTED, QUEUE_INTERRUPTED, create_job
from tests.test_plans_db import COMMUNITY as PLAN_COMMUNITY
from tests.test_plans_db import demo as plan_demo  # noqa: F401
from tests.test_worker_watch_db import _until


def _jobs(db, *kinds: str) -> list[str]:  # noqa: ANN001
    with db.begin() as conn:
        return [create_job(conn, k, {}, created_by="t") for k in kinds]


def _rows(db) -> dict[str, tuple[str, str | None]]:  # noqa: ANN001
    with db.connect() as conn:
        rows = conn.execute(text("SELECT id, status, error FROM jobs")).all()
    return {str(i): (s, e) for i, s, e in rows}


def _endless(progress: Any) -> dict[str, Any]:
    """A job that reports progress for good: only a stop ends it."""
    while True:
        progress(0.5, "工作中 working")
        time.sleep(0.05)


def test_a_stop_interrupts_running_and_queued_jobs_and_keeps_a_finished_ones_result(db) -> None:  # noqa: ANN001
    part, staff, waiting, drain, quick = _jobs(
        db, "partition", "assignment", "partition", "match_queue", "partition"
    )
    ran_waiting = threading.Event()
    quick_started = threading.Event()

    def never(progress: Any) -> dict[str, Any]:
        ran_waiting.set()
        return {}

    def finishes(progress: Any) -> dict[str, Any]:
        quick_started.set()
        time.sleep(1.0)  # a stage without progress, ending within the stop's wait
        return {"plan_id": 7}

    futures = [
        run_job(db, part, _endless),
        run_job(db, staff, _endless),
        run_job(db, waiting, never),  # the two job threads are busy: it waits
        run_job(db, drain, _endless, match_pool),
        run_job(db, quick, finishes, match_pool),
    ]
    _until(lambda: quick_started.is_set() and _rows(db)[drain][0] == "running", "drains run")
    _until(lambda: _rows(db)[part][0] == _rows(db)[staff][0] == "running", "jobs run")
    assert stop_thread_jobs(db, wait_s=15.0) == 4
    for future in futures:
        _until(future.done, "each job ended")
    assert not ran_waiting.is_set(), "a queued job started after the stop"
    rows = _rows(db)
    assert rows[part] == rows[staff] == rows[waiting] == ("failed", JOB_INTERRUPTED)
    # a match job's tracks stay queued: its error says they are matched at the next start
    assert rows[drain] == ("failed", QUEUE_INTERRUPTED)
    assert rows[quick] == ("done", None)  # it finished: its result is true and kept
    # the stop was of those jobs, not of the process (a test runs many apps, the CLI none)
    (after,) = _jobs(db, "partition")
    run_job(db, after, lambda progress: progress(0.5, "x") or {"ok": 1}).result(timeout=30)
    assert _rows(db)[after] == ("done", None)
    assert not _pool._shutdown and not match_pool._shutdown


def test_the_apis_shutdown_stops_its_thread_jobs(db) -> None:  # noqa: ANN001
    """Through the app's lifespan, as `gridward serve` stops on SIGTERM: the job is failed
    as interrupted when the app has stopped, its thread ended; a new app runs jobs again."""
    with TestClient(create_app(db)):
        (job,) = _jobs(db, "partition")
        future = run_job(db, job, _endless)
        _until(lambda: _rows(db)[job][0] == "running", "the job runs")
    assert future.done()
    assert _rows(db)[job] == ("failed", JOB_INTERRUPTED)
    with TestClient(create_app(db)):
        (again,) = _jobs(db, "partition")
        run_job(db, again, lambda progress: {"ok": 1}).result(timeout=30)
    assert _rows(db)[again] == ("done", None)


def _plans(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()


def _partition_with(db, auth_headers, monkeypatch, at: float, then: Any) -> dict[str, Any]:  # noqa: ANN001
    """POST /plans for the demo community; when its partition reports stage ``at``,
    ``then(job_id)`` runs (a stop, a sweep); the job's row once its thread has ended."""
    import api.routes.plans as plans_route
    from geo.plans import create_plan

    def create(*args: Any, progress: Any, **kw: Any) -> int:
        def told(fraction: float, message: str) -> None:
            if fraction >= at:
                then(job_id)
            progress(fraction, message)

        return create_plan(*args, progress=told, **kw)

    monkeypatch.setattr(plans_route, "create_plan", create)
    planner = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        body = {"community": PLAN_COMMUNITY, "min_households": 300, "max_households": 500}
        r = client.post("/plans", json=body, headers=planner)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        with _threads_lock:
            future = _thread_jobs[job_id][0]
        future.result(timeout=120)
        stop_thread_jobs(db)  # the stop itself, after what the test made happen
        return client.get(f"/jobs/{job_id}", headers=planner).json()


def test_a_plan_stored_as_the_stop_comes_is_its_done_job(plan_demo, auth_headers, monkeypatch):  # noqa: ANN001, F811
    """T61 #1: the plan was committed, then the partition's last progress report raised the
    stop and the job was failed "interrupted, submit it again" beside its stored draft (a
    resubmit: a second draft). Now the plan and the job's done are one transaction."""

    def stop(job_id: str) -> None:  # the stop's event, right after the plan was stored
        with _threads_lock:
            _thread_jobs[job_id][1].set()

    job = _partition_with(plan_demo, auth_headers, monkeypatch, 1.0, stop)
    assert job["status"] == "done", job
    assert _plans(plan_demo) == 1 and job["result"]["plan_id"] > 0


def test_a_job_failed_before_its_plan_is_stored_stores_none(plan_demo, auth_headers, monkeypatch):  # noqa: ANN001, F811
    """The other order: the job failed (another replica's sweep, a stop) while it was still
    partitioning; its plan is not stored, and the job keeps the reason it was failed for."""
    from geo.jobs import FAILED, fail_jobs

    def swept(job_id: str) -> None:
        fail_jobs(plan_demo, [job_id], JOB_INTERRUPTED, FAILED, kind="partition")

    job = _partition_with(plan_demo, auth_headers, monkeypatch, 0.92, swept)
    assert (job["status"], job["error"]) == ("failed", JOB_INTERRUPTED), job
    assert _plans(plan_demo) == 0


def test_the_end_of_serve_does_not_wait_for_a_job_still_running(db, pg_url) -> None:  # noqa: ANN001
    """T61 #2: after Ctrl+C the process lived on for minutes after "Finished server
    process", the interpreter's exit waiting for a match batch past the stop's wait, which
    then committed what its job said was left queued. The end of ``serve`` now ends the
    process with a thread job still running (here one that would sleep ten minutes without
    reporting progress), saying so; the timeout below is a bound, not a timing check."""
    script = (
        "import sys, time\n"
        "from api.background import run_job\n"
        "from api.cli_serve import _end\n"
        "from geo.db import get_engine\n"
        "from geo.jobs import create_job\n"
        "engine = get_engine(sys.argv[1], run_migrations=False)\n"
        "with engine.begin() as conn:\n"
        "    job = create_job(conn, 'partition', {}, created_by='t')\n"
        "run_job(engine, job, lambda progress: time.sleep(600) or {})\n"
        "time.sleep(0.5)\n"
        "_end(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, pg_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert "1 个后台任务仍在运行，已放弃" in done.stderr, done.stderr


def test_ctrl_c_on_serve_ends_it_through_its_end_with_the_log_kept(db, pg_url, tmp_path) -> None:  # noqa: ANN001, E501
    """Ctrl+C on ``serve``: uvicorn stops, then the process ends through ``_end`` (the path
    the test above checks) with uvicorn's last log line flushed, not lost to the immediate
    exit, and exit code 130 as every other command interrupted so (uvicorn.run swallowed
    the KeyboardInterrupt: exit 0)."""
    from tests.test_http_protocol import start_serve

    server, _port, err = start_serve(pg_url, tmp_path)
    try:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=120) == 130, err.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Finished server process" in err.read_text().splitlines()[-1]


def test_a_start_says_when_it_fails_jobs_a_live_process_touched(db, caplog) -> None:  # noqa: ANN001
    """T61 #6: with GRIDWARD_JOB_STALE_SECONDS 0 (the default) a new replica's start failed
    the running one's jobs, silently. It still does (the documented rule for one process),
    but now says so, naming the setting; a dead process's old job alone is not warned of."""
    (old,) = _jobs(db, "partition")
    with db.begin() as conn:
        conn.execute(text("UPDATE jobs SET updated_at = now() - interval '1 hour'"))
    with caplog.at_level("WARNING", logger="gridward.jobs"), TestClient(create_app(db)):
        pass
    assert "可能属于另一个正在运行的服务进程" not in caplog.text
    assert _rows(db)[old] == ("failed", JOB_INTERRUPTED)
    caplog.clear()
    (live,) = _jobs(db, "partition")  # touched just now, as a live replica's heartbeat does
    with caplog.at_level("WARNING", logger="gridward.jobs"), TestClient(create_app(db)):
        pass
    assert "1 个未完成的任务在 40 秒内仍有心跳" in caplog.text, caplog.text
    assert "GRIDWARD_JOB_STALE_SECONDS" in caplog.text
    assert _rows(db)[live][0] == "failed"
