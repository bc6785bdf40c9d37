"""The files background report jobs made (``report_files``, migration 0026): stored, read
back for their download, purged once past their ``expires_at``.

WHY in the database: a deployment runs several API replicas (DESIGN: stateless API replicas);
a file on the disk of the process that made it could not be served by another one. WHY an
``expires_at`` per file: the keeping time (GRIDWARD_REPORT_FILE_KEEP_H) is the one the job's
result promised when it was made, not whatever another replica, or this one restarted with
another setting, reads later (outside tester T60 #7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from geo.jobs import finish_job, hold_unfinished
from geo.models import ReportFile
from geo.settings import get_settings

_files = ReportFile.__table__


def keep_for() -> dt.timedelta:
    """How long a file made now stays downloadable (GRIDWARD_REPORT_FILE_KEEP_H)."""
    return dt.timedelta(hours=get_settings().report_file_keep_h)


def store_report_file(
    engine: Engine,
    job_id: str,
    name: str,
    media_type: str,
    body: bytes,
    result: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Keep ``body`` as the file of ``job_id`` and purge files past their time (each new
    file clears old ones; the API's job keeper also purges every minute). Returns what the
    job's result says of it: name, media type, size, sha256, when it expires; with
    ``result`` (that to the job's result), the job is marked done with it in the same
    transaction (geo.jobs.finish_job: T61 #3, a stop between the two failed a job whose
    file was kept).

    A job no longer unfinished (failed meanwhile: its process was presumed dead, or the
    service stopped) stores nothing: JobEnded (a ConflictError). WHY: its files were kept
    for jobs that said failed, and their download was a 409 (T60 #2, #3)."""
    digest = hashlib.sha256(body).hexdigest()
    with engine.begin() as conn:
        hold_unfinished(conn, job_id, "文件", "file")
        purge_report_files(conn)
        expires = conn.execute(
            insert(_files)
            .values(
                job_id=job_id,
                name=name,
                media_type=media_type,
                size=len(body),
                sha256=digest,
                body=body,
                expires_at=func.now() + keep_for(),
            )
            .returning(_files.c.expires_at)
        ).scalar_one()
        kept = {
            "name": name,
            "media_type": media_type,
            "bytes": len(body),
            "sha256": digest,
            "expires_at": expires,
        }
        if result is not None:
            finish_job(conn, job_id, result(kept))
    return kept


def purge_report_files(conn: Connection) -> int:
    """Delete the files past their ``expires_at``; returns how many."""
    return conn.execute(delete(_files).where(_files.c.expires_at <= func.now())).rowcount


def read_report_file(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """The stored file of ``job_id`` (name, media_type, size, sha256, body, created_at,
    expires_at), or None when it was never made or is past its ``expires_at``."""
    row = conn.execute(
        select(_files).where(_files.c.job_id == job_id.lower(), _files.c.expires_at > func.now())
    ).first()
    return dict(row._mapping) if row is not None else None
