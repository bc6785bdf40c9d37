"""The audit log: who changed which grid, assignment, plan or account, and when.

Call :func:`record` with the same connection as the change itself, so the entry is written in
the change's transaction: either both are stored or neither is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select

from geo.models import AuditEntry

_audit = AuditEntry.__table__

# Actions written by the database and sign-in code (the others name their own in place)
DB_RESTORE = "db.restore"  # gridward db restore: who (the OS user), the file, its time
SIGNIN_OK = "signin.success"  # POST /auth/token: the username and the address
SIGNIN_FAILED = "signin.failure"  # the same, refused: the name as typed, the address
SIGNIN_LOCKED = "signin.locked"  # a name locked from an address, or an address: once a lock
SIGNIN_UNLOCK = "signin.unlock"  # gridward users unlock: a name ("*" every address) or an address
# actions ``gridward audit --action`` knows before the log holds one (a quiet log is valid)
ANNOUNCED = (DB_RESTORE, SIGNIN_FAILED, SIGNIN_LOCKED, SIGNIN_OK, SIGNIN_UNLOCK)


def record(
    conn: Connection,
    actor: str | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry (e.g. ``record(conn, "alice", "grid.update", "grid", 42, {...})``).

    ``detail`` must be JSON-serialisable; never put passwords, tokens or phone numbers in it.
    Returns the entry id.
    """
    values = {
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "detail": detail or {},
    }
    return int(conn.execute(insert(_audit).values(**values).returning(_audit.c.id)).scalar_one())


def entries(
    conn: Connection, target_type: str | None = None, target_id: object | None = None
) -> list[dict[str, Any]]:
    """Entries oldest first, optionally for one target (reports and tests)."""
    q = select(_audit).order_by(_audit.c.id)
    if target_type is not None:
        q = q.where(_audit.c.target_type == target_type)
    if target_id is not None:
        q = q.where(_audit.c.target_id == str(target_id))
    return [dict(r._mapping) for r in conn.execute(q)]


def search(
    conn: Connection,
    since: dt.datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Entries newest first, at most ``limit``: from ``since`` on, by ``actor``, of ``action``
    (``track`` also finds ``track.upload``, ``track.withdraw`` …; in any case: ``User.Update``
    finds ``user.update``). WHY: an admin had no way to read the log short of SQL
    (``gridward audit``)."""
    q = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
    if since is not None:
        q = q.where(_audit.c.at >= since)
    if actor is not None:
        q = q.where(_audit.c.actor == actor)
    if action is not None:
        wanted = action.lower()
        family = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
        name = func.lower(_audit.c.action)
        q = q.where(or_(name == wanted, name.like(family, escape="\\")))
    return [dict(r._mapping) for r in conn.execute(q)]


def distinct(conn: Connection, column: str) -> list[str]:
    """Every value of ``column`` (``action`` or ``actor``) in the log, sorted. WHY: an unknown
    ``--action`` (``user.set`` for ``user.update``) printed an empty table, as if nothing had
    happened (outside tester Z2, N9); ``gridward audit`` now names the known ones."""
    col = _audit.c[column]
    q = select(col).where(col.is_not(None)).distinct().order_by(col)
    return list(conn.execute(q).scalars())
