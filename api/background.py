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
from geo.jobs import update_job

log = logging.getLogger("gridward.jobs")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gridward-job")

Work = Callable[[Callable[[float, str], None]], dict[str, Any]]


def run_job(engine: Engine, job_id: str, work: Work) -> Future:
    """Start ``work(progress)`` in the pool; its return value becomes the job's result."""

    def progress(fraction: float, message: str) -> None:
        update_job(engine, job_id, progress=fraction, message=message[:200])

    def target() -> None:
        try:
            update_job(engine, job_id, status="running", progress=0.0, message="started")
            result = work(progress)
            update_job(engine, job_id, status="done", progress=1.0, message="done", result=result)
        except GridwardError as exc:
            update_job(engine, job_id, status="failed", error=exc.message)
        except Exception as exc:  # noqa: BLE001  (a job must never be left running)
            log.exception("job %s failed", job_id)
            update_job(
                engine, job_id, status="failed", error=f"internal error: {type(exc).__name__}"
            )

    return _pool.submit(target)


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
