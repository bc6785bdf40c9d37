"""Run long work (partition, batch matching) off the request thread, reporting to a job row.

A small thread pool is enough here: the heavy parts (GEOS, numpy, PostGIS) release the GIL, and
one deployment serves one city. The job row (``geo.jobs``) carries status, progress and the
result or a readable error, so a client polls ``GET /jobs/{id}``; a job whose process died is
marked failed at the next start-up (``recover_stale_jobs``), never left "running".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from geo.errors import GridwardError
from geo.jobs import create_job, update_job
from geo.match_queue import SWEEP_EVERY_S, AbandonedSweep, drain_queue

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
    becomes the job's result."""

    def progress(fraction: float, message: str) -> None:
        update_job(engine, job_id, progress=fraction, message=message[:200])

    def target() -> None:
        try:
            update_job(engine, job_id, status="running", progress=0.0, message="已开始 started")
            result = work(progress)
            update_job(
                engine, job_id, status="done", progress=1.0, message="已完成 done", result=result
            )
        except GridwardError as exc:
            update_job(engine, job_id, status="failed", error=exc.message)
        except Exception as exc:  # noqa: BLE001  (a job must never be left running)
            log.exception("任务 %s 失败 job %s failed", job_id, job_id)
            update_job(
                engine,
                job_id,
                status="failed",
                error=f"内部错误（{type(exc).__name__}），详见服务日志 "
                f"internal error: {type(exc).__name__}",
            )

    return (pool or _pool).submit(target)


def job_url(job_id: str) -> str:
    """Where a client polls a job's status."""
    return f"/jobs/{job_id}"


def job_accepted(job_id: str) -> JSONResponse:
    """202 Accepted for a job just started: its id and where to poll (also as Location)."""
    url = job_url(job_id)
    return JSONResponse(
        {"job_id": job_id, "status": "queued", "job_url": url},
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
    from sqlalchemy import text

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
        return None
    _say_abandoned(abandoned)
    with engine.begin() as conn:
        job_id = create_job(
            conn, "match_queue", {"reason": "abandoned", "tracks": abandoned[:100]}, None
        )
    run_job(engine, job_id, _drain_work(engine, abandoned), match_pool)
    return job_id


class MatchSweeper:
    """A thread of the running API that calls :func:`sweep_abandoned` every ``every``
    seconds (default :data:`geo.match_queue.SWEEP_EVERY_S`), until :meth:`stop`. A failed
    look (the database away) is logged and tried again at the next one."""

    def __init__(self, engine: Engine, sweep: AbandonedSweep, every: float | None = None):
        import threading

        self.engine, self.sweep = engine, sweep
        self.every = SWEEP_EVERY_S if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gridward-match-sweep", daemon=True)

    def start(self) -> MatchSweeper:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.every):
            try:
                sweep_abandoned(self.engine, self.sweep)
            except Exception as exc:  # noqa: BLE001  (the next look tries again)
                if not failing:
                    log.warning(
                        "查找未匹配的轨迹失败，稍后重试 looking for unmatched tracks failed, "
                        "retrying: %s",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
                failing = True
            else:
                failing = False
