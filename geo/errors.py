"""User-facing errors.

Every bad input must end as one readable line (CLI) or a 4xx JSON body (API). Code raises
these with a message that names the problem; the CLI and the API translate them, so no
layer has to guess whether a message is safe and meaningful to show.
"""

from __future__ import annotations

from dataclasses import dataclass


class GridwardError(Exception):
    """Base class: an error whose message is written for the user."""

    status_code: int = 400
    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(GridwardError):
    """The input (file, parameter, geometry) is wrong; nothing was stored."""

    status_code = 422


class NotFoundError(GridwardError):
    """A referenced object does not exist."""

    status_code = 404


class ConflictError(GridwardError):
    """The request conflicts with the current state (stale plan, duplicate id, version)."""

    status_code = 409


class SetupError(GridwardError):
    """The machine lacks something gridward needs (binaries, permissions)."""

    status_code = 503
    exit_code = 3


@dataclass(frozen=True)
class DbFailure:
    """What a database error means to the person who met it. ``kind``: ``conflict`` (SQLSTATE
    class 40, a deadlock or serialization failure: nothing was written, send it again),
    ``unavailable`` (the connection: down or lost) or ``other``; ``name`` the driver's class,
    ``line`` the first line of its message."""

    kind: str
    name: str
    line: str


def db_failure(exc: BaseException) -> DbFailure | None:
    """:class:`DbFailure` of ``exc`` (SQLAlchemy's wrapper or psycopg's own error, as COPY
    raises it), None for anything else. WHY one place: the API's handler, a multi-file
    upload's per-file answer and the CLI each told these apart, one by a psycopg class that
    deadlocks are not a subclass of (psycopg gives class 40 no common base). By class name,
    so the CLI's error path imports no driver."""
    orig = getattr(exc, "orig", None) or exc
    classes = (*type(exc).__mro__, *type(orig).__mro__)
    wrapped = any(c.__name__ == "DBAPIError" for c in classes)
    if not wrapped and not type(orig).__module__.startswith("psycopg"):
        return None
    state = str(getattr(orig, "sqlstate", "") or "")
    if state.startswith("40"):
        kind = "conflict"
    elif any(c.__name__ == "OperationalError" for c in classes):
        kind = "unavailable"
    else:
        kind = "other"
    line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return DbFailure(kind, type(orig).__name__, line)
