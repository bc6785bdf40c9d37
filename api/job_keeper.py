"""This API process's jobs kept alive in the database, and the jobs of dead processes failed.

A job's ``updated_at`` is its heartbeat. Jobs were touched only when their work reported
progress, so a job queued behind others, or in a long stage, looked as dead as one whose
process had died; and dead ones were looked for only at start-up. With replicas (outside
tester T60 #1, #2) a replica killed and restarted left its jobs "running" for good (a
retry answered with the dead job; three of them held an account's report slots), and
another replica's restart failed live jobs that were merely queued.

Now each process touches the jobs it owns (queued or running) every :data:`HEARTBEAT_S`,
and every :data:`SWEEP_S` fails the unfinished jobs nobody touched for
:func:`stale_after` (GRIDWARD_JOB_STALE_SECONDS, at least :data:`STALE_FLOOR_S`) and purges
report files past their time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger("gridward.jobs")

HEARTBEAT_S = 20.0
SWEEP_S = 60.0
#: a job untouched this long while the sweep runs is dead: three heartbeats missed, and more
STALE_FLOOR_S = 120.0

_owned: set[str] = set()
_owned_lock = threading.Lock()


def own(job_id: str) -> None:
    """This process runs ``job_id`` (queued here or running): keep it alive."""
    with _owned_lock:
        _owned.add(job_id)


def release(job_id: str) -> None:
    with _owned_lock:
        _owned.discard(job_id)


def owned() -> list[str]:
    with _owned_lock:
        return sorted(_owned)


def beat(engine: Engine) -> int:
    """Touch the unfinished jobs this process owns; returns how many."""
    from geo.jobs import touch_jobs

    return touch_jobs(engine, owned())


def stale_after() -> dt.timedelta:
    """How long a job may go untouched while the service runs before it is taken for dead."""
    from geo.auth_settings import get_auth_settings

    return dt.timedelta(seconds=max(get_auth_settings().job_stale_seconds, STALE_FLOOR_S))


def sweep(engine: Engine) -> int:
    """Fail the jobs of dead processes and purge expired report files; returns the jobs."""
    from geo.jobs import recover_stale_jobs
    from geo.report_files import purge_report_files

    n = recover_stale_jobs(engine, stale_after())
    if n:
        log.warning(
            "%d 个任务的进程已不在，已标记为失败 %d jobs of dead processes marked failed", n, n
        )
    with engine.begin() as conn:
        purge_report_files(conn)
    return n


def warn_live_jobs(engine: Engine) -> int:
    """At start-up, before its recovery fails every unfinished job (GRIDWARD_JOB_STALE_SECONDS
    0, the default): warn when some were touched within two heartbeats, as another running
    replica's are; returns how many. WHY (T61 #6): adding a replica with the defaults failed
    the running one's jobs, silently."""
    from geo.auth_settings import get_auth_settings
    from geo.jobs import fresh_jobs

    if get_auth_settings().job_stale_seconds > 0:
        return 0
    n = fresh_jobs(engine, dt.timedelta(seconds=2 * HEARTBEAT_S))
    if n:
        log.warning(
            "%d 个未完成的任务在 %d 秒内仍有心跳，可能属于另一个正在运行的服务进程，"
            "现按已中断处理；多副本部署请设置 GRIDWARD_JOB_STALE_SECONDS（如 120） "
            "%d unfinished jobs were touched "
            "within %d s, perhaps by another API process still running, and are failed as "
            "interrupted: with replicas set GRIDWARD_JOB_STALE_SECONDS (e.g. 120)",
            n,
            2 * HEARTBEAT_S,
            n,
            2 * HEARTBEAT_S,
        )
    return n


class Every:
    """A daemon thread of the running API calling :meth:`tick` every ``every`` seconds until
    :meth:`stop`. A failed round (the database away) is logged once, as ``failing`` (its
    Chinese and English), and tried again at the next."""

    name = "gridward-every"
    failing = "后台任务失败，稍后重试 a background round failed, retrying"

    def __init__(self, every: float):
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self):  # -> Self
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001  (the next round tries again)
                if not failing:
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    log.warning("%s: %s", self.failing, first)
                failing = True
            else:
                failing = False


class JobKeeper(Every):
    """:func:`beat` every ``every`` seconds, :func:`sweep` every ``sweep_every``."""

    name = "gridward-job-keeper"
    failing = "任务心跳失败，稍后重试 the jobs' heartbeat failed, retrying"

    def __init__(self, engine: Engine, every: float = HEARTBEAT_S, sweep_every: float = SWEEP_S):
        super().__init__(every)
        self.engine, self.sweep_every, self._since_sweep = engine, sweep_every, 0.0

    def tick(self) -> None:
        self._since_sweep += self.every
        beat(self.engine)
        if self._since_sweep >= self.sweep_every:
            self._since_sweep = 0.0
            sweep(self.engine)
