"""Run long work (partition, batch matching) off the request thread, reporting to a job row.

A small thread pool is enough here: the heavy parts (GEOS, numpy, PostGIS) release the GIL, and
one deployment serves one city. The job row (``geo.jobs``) carries status, progress and the
result or a readable error, so a client polls ``GET /jobs/{id}``; a job whose process died is
marked failed at the next start-up (``recover_stale_jobs``), never left "running".
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from api.job_keeper import Every, own, owned, release
from geo.errors import GridwardError
from geo.jobs import DONE, FAILED, JobEnded, create_job, update_job
from geo.match_queue import (
    SWEEP_EVERY_S,
    AbandonedSweep,
    drain_queue,
    left_queued,
    worker_connected,
)
from geo.settings import get_settings

log = logging.getLogger("gridward.jobs")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gridward-job")
# match-queue jobs run apart: an upload's job may wait minutes for a worker that holds its
# tracks (geo.match_queue.drain_queue), and partition or staffing jobs must not queue behind
match_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gridward-match")

Work = Callable[[Callable[[float, str], None]], dict[str, Any]]


def run_job(
    engine: Engine, job_id: str, work: Work, pool: ThreadPoolExecutor | None = None
) -> Future:
    """Start ``work(progress)`` in ``pool`` (the shared one by default); its return value
    becomes the job's result. The job is this process's until it ends (api.job_keeper
    keeps it alive meanwhile, queued or running)."""
    stop = threading.Event()
    future = (pool or _pool).submit(run_job_here, engine, job_id, work, stop)
    with _threads_lock:
        _thread_jobs[job_id] = (future, stop, pool or _pool)
    future.add_done_callback(lambda _f: _forget_thread_job(job_id))
    return _owned_while(job_id, future)


class Interrupted(Exception):
    """Raised by a thread job's progress once the API is stopping (:func:`stop_thread_jobs`)."""


# this process's thread jobs, queued or running, each with the event that stops it at its
# next progress report (one event a job, not one for the process: a test process starts and
# stops many apps, and the CLI runs these functions without an app)
_thread_jobs: dict[str, tuple[Future, threading.Event, ThreadPoolExecutor]] = {}
_threads_lock = threading.Lock()


def thread_jobs_left() -> int:
    """This process's thread jobs not yet ended (queued or running)."""
    with _threads_lock:
        return sum(not f.done() for f, _s, _p in _thread_jobs.values())


def draining() -> bool:
    """Whether a match job (a drain) of this process is queued or running."""
    with _threads_lock:
        return any(p is match_pool and not f.done() for f, _s, p in _thread_jobs.values())


def _forget_thread_job(job_id: str) -> None:
    with _threads_lock:
        _thread_jobs.pop(job_id, None)


def stop_thread_jobs(engine: Engine, wait_s: float = 10.0) -> int:
    """At shutdown: the partition, staffing and match jobs this process holds in its threads
    are stopped: the queued never start, the running stop at their next progress report
    (a partition before it stores its plan; a drain between batches, each batch already
    stored; an upload's job waiting for a worker at once); those that do not finish are
    failed as interrupted (a match job's tracks stay queued, for the next start). Returns
    how many. WHY: the API closed its port and then lived on until they ended: an upload's
    job waits up to GRIDWARD_MATCH_WAIT_S (30 min) for a worker, and systemd's kill left
    the job "running" until another process's sweep failed it minutes later. A job that
    finishes meanwhile keeps its result: it is true."""
    import time

    from geo.jobs import fail_interrupted

    with _threads_lock:
        jobs = dict(_thread_jobs)  # before the stop: a job ends (and leaves) as it is told
    for future, stop, _pool_of in jobs.values():
        stop.set()
        future.cancel()  # the queued: never started
    end = time.monotonic() + wait_s
    for future, _stop, _pool_of in jobs.values():
        if not future.cancelled():
            # a long stage without progress runs on past the wait: its job is failed below
            with contextlib.suppress(TimeoutError):
                future.exception(timeout=max(end - time.monotonic(), 0.0))
    n = fail_interrupted(engine, sorted(jobs))
    if n:
        log.warning("停止：%d 个后台任务已中断 stopping: %d background jobs interrupted", n, n)
    return n


def _owned_while(job_id: str, future: Future) -> Future:
    own(job_id)
    future.add_done_callback(lambda _f: release(job_id))
    return future


def run_job_here(
    engine: Engine, job_id: str, work: Work, stopping: threading.Event | None = None
) -> None:
    """Run ``work(progress)`` now, in this thread: the job row says running, its progress,
    then done with the result or failed with a readable error (never left running).
    ``stopping`` set (the API is stopping): ``progress`` raises :class:`Interrupted` and the
    row is left to :func:`stop_thread_jobs`."""

    def progress(fraction: float, message: str) -> None:
        if stopping is not None and stopping.is_set():
            raise Interrupted
        update_job(engine, job_id, progress=fraction, message=message[:200])

    if stopping is not None and stopping.is_set():
        return  # started as the API stopped: failed as interrupted by stop_thread_jobs
    try:
        update_job(engine, job_id, status="running", progress=0.0, message="已开始 started")
        result = work(progress)
        # (a job that stored its work with geo.jobs.finish_job is done already: no change)
        update_job(engine, job_id, status="done", progress=1.0, message=DONE, result=result)
    except Interrupted:
        return  # stop_thread_jobs fails the job as interrupted
    except JobEnded:
        return  # failed meanwhile (a stop, a sweep), as it says: its work was not stored
    except GridwardError as exc:
        update_job(engine, job_id, status="failed", message=FAILED, error=exc.message)
    except Exception as exc:  # noqa: BLE001  (a job must never be left running)
        log.exception("任务 %s 失败 job %s failed", job_id, job_id)
        update_job(engine, job_id, status="failed", message=FAILED, error=internal_error(exc))


def internal_error(exc: BaseException) -> str:
    """A failed job's error for an unexpected exception: its kind, not its text (which may
    hold SQL or paths); the log has the rest."""
    return f"内部错误（{type(exc).__name__}），详见服务日志 internal error: {type(exc).__name__}"


def job_url(job_id: str) -> str:
    """Where a client polls a job's status."""
    return f"/jobs/{job_id}"


def job_accepted(job_id: str, status: str = "queued", repeated: bool = False) -> JSONResponse:
    """202 Accepted for a job just started (or, ``repeated``, for a retry: the one already
    started, saying so): its id and where to poll (also as Location)."""
    url = job_url(job_id)
    body = {"job_id": job_id, "status": status, "job_url": url}
    if repeated:
        body["repeated"] = True
    return JSONResponse(
        body,
        status_code=202,
        headers={"Location": url},
    )


def resume_match_queue(engine: Engine, sweep: AbandonedSweep | None = None) -> str | None:
    """At start-up: if tracks wait in the match queue and no one holds them, start a job that
    drains the queue; returns its id (None when there is nothing to drain). Tracks an upload
    stored but never matched, GRIDWARD_STALE_UPLOAD_S ago or more, are queued first: such a
    track, neither matched, queued nor being matched, was left by a process that died
    mid-match (an upload matches within seconds of storing): see
    :class:`geo.match_queue.AbandonedSweep` (``sweep``: the process's own, whose later looks
    :class:`MatchSweeper` makes).

    WHY: a deferred upload's job dies with its process (``recover_stale_jobs`` then marks it
    failed) and its tracks stay ``queued``; nothing matched them until someone ran
    ``gridward tracks worker``, so a deployment without a worker kept them unmatched for good.
    Two API processes starting at once may both start a job: the drain claims tracks with
    ``FOR UPDATE SKIP LOCKED``, so each track is still matched once, by one of them; tracks a
    running worker holds are skipped here (the probe below skips locked rows too)."""
    abandoned = (sweep or AbandonedSweep()).queue(engine)
    if abandoned:
        _say_abandoned(abandoned)
    with engine.begin() as conn:
        free = conn.execute(
            text("SELECT id FROM tracks WHERE status = 'queued' LIMIT 1 FOR UPDATE SKIP LOCKED")
        ).first()
        if free is None:
            return None
        job_id = create_job(conn, "match_queue", {"reason": "start-up"}, created_by=None)
    log.info(
        "有轨迹仍在排队：任务 %s 清空匹配队列 tracks left queued: job %s drains the match queue",
        job_id,
        job_id,
    )
    run_job(engine, job_id, _drain_work(engine), match_pool)
    return job_id


def _say_abandoned(ids: list[int]) -> None:
    shown = ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
    log.warning(
        "%d 条轨迹已存储但从未匹配（上传进程中途退出），已排队匹配：%s "
        "%d tracks stored but never matched (their upload's process died): queued: %s",
        len(ids),
        shown,
        len(ids),
        shown,
    )


def _drain_work(engine: Engine, waiting_for: list[int] | None = None) -> Work:
    """A job's work that drains the queue (until ``waiting_for`` are matched, when given)."""

    def work(progress: Callable[[float, str], None]) -> dict[str, Any]:
        def step(done: int, total: int) -> None:
            progress(
                done / max(total, 1),
                f"排队的 {total} 条轨迹已匹配 {done} 条 {done} of {total} queued tracks matched",
            )

        rep = drain_queue(engine, progress=step, waiting_for=waiting_for, wait_s=0.0)
        return rep.as_dict()

    return work


def sweep_abandoned(engine: Engine, sweep: AbandonedSweep) -> str | None:
    """One look of a running API (:class:`MatchSweeper`): tracks an upload stored but never
    matched over GRIDWARD_STALE_UPLOAD_S ago, held by no one, are queued and a job matches
    them (and the tracks queued before them); returns its id, None when there were none.
    WHY (T47 #1): only the start-up looked for them, and only at tracks stored over the stale
    age ago; a server killed mid-upload and restarted at once kept its track unmatched for
    good. Each track is still matched once with several processes: the sweep and the drain
    claim rows with ``FOR UPDATE SKIP LOCKED``, and a live match holds its row locked."""
    abandoned = sweep.queue(engine)
    if not abandoned:
        return _drain_left_queued(engine)
    _say_abandoned(abandoned)
    with engine.begin() as conn:
        job_id = create_job(
            conn, "match_queue", {"reason": "abandoned", "tracks": abandoned[:100]}, None
        )
    run_job(engine, job_id, _drain_work(engine, abandoned), match_pool)
    return job_id


def _drain_left_queued(engine: Engine) -> str | None:
    """When this process drains nothing: if a track queued over GRIDWARD_STALE_UPLOAD_S ago
    is held by no one, a job drains the queue; returns its id, else None. WHY (T61 #4): a
    replica killed with its uploads' tracks queued left them to the next start of an API
    process; the replicas still running never took them (their sweep took ``stored``
    tracks only), and the jobs' "matched when the service starts" waited on a restart.
    Claims skip locked rows, so a worker or another process draining meanwhile shares the
    work and each track is still matched once. While a ``tracks worker`` is connected, the
    tracks are its next batches and nothing is started: this process joined in when a
    worker was busy with a backlog older than the stale age (a whole month's rematch), and
    spent the API's time matching beside it."""
    if draining():
        return None
    age = get_settings().stale_upload_s
    left = left_queued(engine, age)
    if not left or worker_connected(engine):
        return None
    with engine.begin() as conn:
        job_id = create_job(conn, "match_queue", {"reason": "left queued"}, created_by=None)
    log.warning(
        "%d 条轨迹排队已超过 %d 秒且无人匹配（其服务进程可能已退出），任务 %s 匹配它们 "
        "%d tracks queued over %d s ago are held by no one (their process may have died): "
        "job %s matches them",
        left,
        age,
        job_id,
        left,
        age,
        job_id,
    )
    run_job(engine, job_id, _drain_work(engine), match_pool)
    return job_id


class MatchSweeper(Every):
    """A thread of the running API that calls :func:`sweep_abandoned` every ``every``
    seconds (default :data:`geo.match_queue.SWEEP_EVERY_S`), until :meth:`stop`. A failed
    look (the database away) is logged and tried again at the next one."""

    name = "gridward-match-sweep"
    failing = "查找未匹配的轨迹失败，稍后重试 looking for unmatched tracks failed, retrying"

    def __init__(self, engine: Engine, sweep: AbandonedSweep, every: float | None = None):
        super().__init__(SWEEP_EVERY_S if every is None else every)
        self.engine, self.sweep = engine, sweep

    def tick(self) -> None:
        sweep_abandoned(self.engine, self.sweep)


# Report jobs (POST /reports/{kind}/jobs) run in processes of their own, two at a time.
# WHY processes: building and writing a city's month is mostly Python (pandas, the XLSX
# writer) and holds the GIL: four in threads took 3x as long each as one alone, and the
# API's own matching beside them fell from 68 to 8 walks/s (bench/report_month.py --load).
# A fresh process per report (max_tasks_per_child=1, ~2 s to start) gives its memory back
# (a city month peaks at ~0.5 GB) and cannot take the API down if it is killed.
_report_pool: ProcessPoolExecutor | None = None
_report_pool_lock = threading.Lock()
_pool_stopped = threading.Event()  # set when the current pool is stopped at shutdown
REPORT_PROCESSES = 2


def _report_processes(fresh: bool = False) -> ProcessPoolExecutor:
    global _report_pool, _pool_stopped
    with _report_pool_lock:
        if _report_pool is None or fresh:
            _pool_stopped = threading.Event()
            _report_pool = ProcessPoolExecutor(
                max_workers=REPORT_PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=1,
                initializer=_leave_interrupts,
            )
        return _report_pool


def _leave_interrupts() -> None:
    """A report process ignores Ctrl+C (sent to the terminal's whole process group): the
    API's shutdown stops it (:func:`stop_report_jobs`), saying why, rather than each child
    dying on its own as if out of memory."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_report_jobs(engine: Engine) -> int:
    """At shutdown: the report jobs this process still holds (queued or being made) are
    failed as interrupted, the queued ones dropped and the report processes stopped;
    returns how many. WHY (T60 #3): the API closed its port, said it had finished, and then
    lived on, silently, until every running and queued report was made (minutes at a city
    month end; systemd kills it at 90 s), and a service started meanwhile failed those
    jobs while the old one still stored their files."""
    from geo.jobs import JOB_INTERRUPTED, fail_jobs

    global _report_pool
    with _report_pool_lock:
        pool, _report_pool = _report_pool, None
    if pool is None:
        return 0
    _pool_stopped.set()  # its processes' deaths are this stop, not a failure to report
    n = fail_jobs(engine, owned(), JOB_INTERRUPTED, FAILED, kind="report")
    if n:
        log.warning("停止：%d 个报表任务已中断 stopping: %d report jobs interrupted", n, n)
    _terminate(pool)
    return n


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # no public way before Python 3.14 (terminate_workers)
        process.terminate()


def terminate_report_processes() -> None:
    """The report processes stopped at once, their jobs left as they are. For a process
    that ends without the API's shutdown (a test session): Python's exit otherwise waits
    on the pool's manager thread, and a report process still starting or making a report
    (against a database already gone) held a whole test run at its end."""
    global _report_pool
    with _report_pool_lock:
        pool, _report_pool = _report_pool, None
    if pool is not None:
        _pool_stopped.set()
        _terminate(pool)


def run_job_in_process(engine: Engine, job_id: str, fn: Callable[..., None], *args: Any) -> Future:
    """Start ``fn(*args)`` (a module-level function that runs the job itself, e.g. through
    :func:`run_job_here` on an engine of its own) in a report process. A process that dies
    (killed, out of memory) fails its job with a reason; the next job gets a new pool."""
    try:
        future = _report_processes().submit(fn, *args)
    except BrokenProcessPool:  # an earlier report's process died: the pool is spent
        future = _report_processes(fresh=True).submit(fn, *args)

    stopped = _pool_stopped  # this pool's (not the pool itself: a reference kept it alive,
    # and its manager thread then failed on a pool shut down; CPython 3.11)

    def died(f: Future) -> None:
        if f.cancelled() or stopped.is_set():  # at shutdown: stop_report_jobs said so
            return
        exc = f.exception()
        if exc is None:
            return
        log.error("报表进程失败 report process failed: job %s: %r", job_id, exc)
        error = (
            "报表进程意外退出（可能内存不足），请重新提交 the report's process died (out of "
            "memory?): submit it again"
            if isinstance(exc, BrokenProcessPool)
            else internal_error(exc)
        )
        try:
            update_job(engine, job_id, status="failed", error=error)
        except Exception:  # noqa: BLE001  (the database away: recover_stale_jobs will)
            log.exception(
                "任务 %s 无法标记为失败 job %s could not be marked failed", job_id, job_id
            )

    future.add_done_callback(died)
    return _owned_while(job_id, future)
