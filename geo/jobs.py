"""Job rows for long work (partition, batch matching): status, progress, result, error.

A job is ``queued`` → ``running`` → ``done`` | ``failed``. Each update touches ``updated_at``,
which doubles as a heartbeat: when the process running a job dies, nothing updates it any more,
and :func:`recover_stale_jobs` (run at app start-up) marks it failed with a reason, so no job is
left "running" for ever. A client re-submits a failed job; the work is idempotent by design
(plans are previews until committed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, select, update

from geo.errors import ConflictError, InputError, NotFoundError
from geo.models import Job

_jobs = Job.__table__
STATUSES = ("queued", "running", "done", "failed")
_FINAL = ("done", "failed")
INTERRUPTED = "interrupted: the service stopped or restarted before this job was finished"
# (T47 #2) the uploader reads these in GET /jobs/{id}: Chinese first;
# (T61 #8) "restarted" alone was untrue of a plain stop and of another replica's sweep
INTERRUPTED_ZH = "已中断：任务完成前服务停止或重启了"
QUEUE_INTERRUPTED = (
    f"{INTERRUPTED_ZH}；其尚未匹配的轨迹仍在排队，会自动匹配（服务启动时，或稍后由仍在运行的"
    f"服务进程匹配；要跟踪进度，请再上传同样的文件） {INTERRUPTED}; its tracks not yet "
    "matched stay queued and are matched automatically (when the service starts, or later by "
    "an API process still running; send the same files again for a job that follows them)"
)
JOB_INTERRUPTED = f"{INTERRUPTED_ZH}，请重新提交 {INTERRUPTED}; submit it again"


def create_job(
    conn: Connection,
    kind: str,
    params: dict[str, Any] | None = None,
    created_by: str | None = None,
    message: str | None = None,
) -> str:
    """Insert a queued job (``message``: what it says while queued); returns its id."""
    if not kind or len(kind) > 32:
        raise InputError("任务类型须为 1-32 个字符 job kind must be 1-32 characters")
    job_id = str(uuid.uuid4())
    conn.execute(
        insert(_jobs).values(
            id=job_id,
            kind=kind,
            status="queued",
            progress=0.0,
            params=params or {},
            created_by=created_by,
            message=message,
        )
    )
    return job_id


DONE = "已完成 done"
# a failed job's message: its last stage ("正在读取…") beside "failed" read as still working
FAILED = "已失败 failed"


class JobEnded(ConflictError):
    """The job ended (failed: the service stopped, or its process was taken for dead) before
    its work could store what it made: nothing is stored."""


def hold_unfinished(conn: Connection, job_id: str, what_zh: str, what: str) -> None:
    """Lock ``job_id``'s row in ``conn``'s transaction, which is about to store the job's
    work (``what``: its plan, its file); JobEnded if the job is no longer unfinished. A stop
    or a sweep failing the job waits for the lock, then finds it done and leaves it."""
    status = conn.execute(
        select(_jobs.c.status).where(_jobs.c.id == job_id).with_for_update()
    ).scalar()
    if status not in ("queued", "running"):
        raise JobEnded(
            f"任务 {job_id} 已结束（{status}），不再保存其{what_zh} "
            f"job {job_id} has ended ({status}): its {what} is not kept"
        )


def finish_job(conn: Connection, job_id: str, result: dict[str, Any]) -> None:
    """Mark ``job_id`` done with ``result`` in ``conn``'s transaction, the one that stores
    what the job made. WHY (T61 #1, #3): stored in one transaction and "done" in another, a
    stop or a kill between the two left a job "interrupted, submit it again" beside its
    stored plan or file (resubmitted: a second draft). JobEnded if it ended meanwhile (the
    caller's transaction then rolls back: nothing stored for a failed job)."""
    hold_unfinished(conn, job_id, "结果", "result")
    conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id)
        .values(status="done", progress=1.0, message=DONE, result=result, updated_at=func.now())
    )


def update_job(
    engine: Engine,
    job_id: str,
    *,
    status: str | None = None,
    progress: float | None = None,
    message: str | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Update a job in its own short transaction (progress must not wait for the work's).

    A finished job (done/failed) is never changed again: a late update from a process that was
    presumed dead cannot resurrect it."""
    values: dict[str, Any] = {"updated_at": func.now()}
    if status is not None:
        if status not in STATUSES:
            raise InputError(
                f"任务状态 {status!r} 无效，须为 {', '.join(STATUSES)} 之一 "
                f"job status {status!r} is not one of {', '.join(STATUSES)}"
            )
        values["status"] = status
    if progress is not None:
        # to 0.001: a stage's 0.02 + 0.78 × 0.4 read 0.3320000000000001 (T60 #13)
        values["progress"] = round(min(max(float(progress), 0.0), 1.0), 3)
    if message is not None:
        values["message"] = message
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    with engine.begin() as conn:
        n = conn.execute(
            update(_jobs).where(_jobs.c.id == job_id, _jobs.c.status.not_in(_FINAL)).values(values)
        ).rowcount
        if n == 0 and conn.execute(select(_jobs.c.id).where(_jobs.c.id == job_id)).first() is None:
            raise NotFoundError(f"任务 {job_id} 不存在 job {job_id} not found")


def job_key(job_id: str) -> str:
    """A job id as stored (``str(uuid4())``: lower case, with dashes), however a client
    wrote it: upper case (iOS; T40 #6: its ``GET /jobs/{ID}`` was a 404), its 32 hex digits
    without dashes, in braces or as ``urn:uuid:`` (T60 #13: "too short"). InputError when it
    is no UUID at all."""
    try:
        return str(uuid.UUID(job_id.strip()))
    except ValueError:
        raise InputError(
            f"任务编号 {job_id[:60]!r} 不是有效的编号（应为 UUID，如 "
            f"3f2b1c4e-0a1b-4c2d-9e8f-0123456789ab） job id {job_id[:60]!r} is not a UUID"
        ) from None


def get_job(conn: Connection, job_id: str) -> dict[str, Any]:
    """The job row as a dict, or NotFoundError; the id as :func:`job_key` reads it."""
    row = conn.execute(select(_jobs).where(_jobs.c.id == job_key(job_id))).first()
    if row is None:
        raise NotFoundError(f"任务 {job_id} 不存在 job {job_id} not found")
    return dict(row._mapping)


def job_area(job: dict[str, Any]) -> str | None:
    """The area code a job works on, from its parameters (a staffing proposal's ``area``, a
    partition's ``community``); None for a job of no one area (track matching). Who may read
    a job beside its creator and admins is decided by it (api.auth.require_job_reader)."""
    params = job.get("params") or {}
    code = params.get("area") or params.get("community")
    return str(code) if code else None


def touch_jobs(engine: Engine, ids: list[str]) -> int:
    """Touch (``updated_at``) those of ``ids`` still unfinished: the heartbeat of the jobs a
    process holds (api.job_keeper); returns how many."""
    if not ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(
            update(_jobs)
            .where(_jobs.c.id.in_(ids), _jobs.c.status.not_in(_FINAL))
            .values(updated_at=func.now())
        ).rowcount


def fail_jobs(engine: Engine, ids: list[str], error: str, message: str, kind: str) -> int:
    """Fail those of ``ids`` of ``kind`` still unfinished with ``error`` (a shutdown's
    interruption); returns how many."""
    if not ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(
            update(_jobs)
            .where(_jobs.c.id.in_(ids), _jobs.c.kind == kind, _jobs.c.status.not_in(_FINAL))
            .values(status="failed", error=error, message=message, updated_at=func.now())
        ).rowcount


def fresh_jobs(engine: Engine, within: dt.timedelta) -> int:
    """How many unfinished jobs were touched within ``within``: live ones, by their
    heartbeat (api.job_keeper)."""
    cutoff = dt.datetime.now(dt.UTC) - within
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(_jobs)
            .where(_jobs.c.status.not_in(_FINAL), _jobs.c.updated_at > cutoff)
        ).scalar_one()


def open_jobs(conn: Connection, kind: str, created_by: str) -> list[Any]:
    """``created_by``'s unfinished jobs of ``kind`` (id, status, params), oldest first."""
    return conn.execute(
        select(_jobs.c.id, _jobs.c.status, _jobs.c.params)
        .where(
            _jobs.c.kind == kind,
            _jobs.c.created_by == created_by,
            _jobs.c.status.not_in(_FINAL),
        )
        .order_by(_jobs.c.created_at)
    ).all()


def jobs_ahead(conn: Connection, job: dict[str, Any]) -> int:
    """The unfinished jobs of ``job``'s kind made before it: its place in the queue."""
    return conn.execute(
        select(func.count())
        .select_from(_jobs)
        .where(
            _jobs.c.kind == job["kind"],
            _jobs.c.status.not_in(_FINAL),
            _jobs.c.created_at < job["created_at"],
        )
    ).scalar_one()


def recover_stale_jobs(engine: Engine, stale_after: dt.timedelta | None = None) -> int:
    """Mark ``running`` (and ``queued``) jobs not updated for ``stale_after`` as failed.

    Call at start-up: after a restart nothing runs them any more. Default ``stale_after`` comes
    from ``GRIDWARD_JOB_STALE_SECONDS`` (0: every unfinished job, for a single API process).
    Returns how many jobs were marked."""
    if stale_after is None:
        from geo.auth_settings import get_auth_settings

        stale_after = dt.timedelta(seconds=get_auth_settings().job_stale_seconds)
    cutoff = dt.datetime.now(dt.UTC) - stale_after
    stale = (_jobs.c.status.in_(("queued", "running")), _jobs.c.updated_at <= cutoff)
    with engine.begin() as conn:
        return _fail_interrupted(conn, *stale)


def fail_interrupted(engine: Engine, ids: list[str]) -> int:
    """Fail those of ``ids`` still unfinished as interrupted (a shutdown's), each with the
    words for its kind (:func:`_fail_interrupted`); returns how many."""
    if not ids:
        return 0
    with engine.begin() as conn:
        return _fail_interrupted(conn, _jobs.c.id.in_(ids), _jobs.c.status.not_in(_FINAL))


def _fail_interrupted(conn: Connection, *where: Any) -> int:
    """Fail the jobs ``where`` selects as interrupted: one rule for the start-up's recovery,
    the running API's sweep and a shutdown. WHY a match job says more: its tracks are kept
    queued, and a start or a running API process drains them
    (api.background.resume_match_queue, sweep_abandoned); "submit it again" alone read as
    if the walks were lost; both Chinese first (T47 #2: English only, and the uploader reads
    it). Message 已失败: its last stage ("保存方案…") beside "failed" read as still working
    (T61 #7)."""
    error = case((_jobs.c.kind == "match_queue", QUEUE_INTERRUPTED), else_=JOB_INTERRUPTED)
    return conn.execute(
        update(_jobs)
        .where(*where)
        .values(status="failed", error=error, message=FAILED, updated_at=func.now())
    ).rowcount
