"""Every error leaves the API as JSON ``{"error": "...", "status": N}`` with a 4xx/5xx code.

Bad input is a 4xx that names the problem; a database that went away is a 503 with
Retry-After (clients retry, the pool reconnects by itself); anything else is a 500 whose
details go to the log, not to the client.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from geo.errors import GridwardError, chinese_first, db_failure

log = logging.getLogger("gridward.api")


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": chinese_first(message, status), "status": status},
        status_code=status,
        headers=headers,
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        raw = [str(p) for p in err.get("loc", ())]
        loc = ".".join(p for p in raw if p not in ("body", "query", "path"))
        if not loc and raw[:1] == ["body"]:
            loc = "request body"  # the body as a whole (not JSON, wrong type)
        msg = err.get("msg", "invalid")
        kind = str(err.get("type", ""))
        if kind.startswith("date_"):
            # pydantic's words for 20261120 ("Datetimes provided to dates should have zero
            # time": it read a Unix time) told a user nothing (two outside testers)
            given = str(err.get("input"))[:40]
            msg = f"{given!r} is not a date: give it as YYYY-MM-DD, e.g. 2026-11-20"
        elif kind.startswith("datetime_"):
            msg = f"{msg} (give a time as YYYY-MM-DDTHH:MM:SS+08:00)"
        parts.append(f"{loc}: {msg}" if loc else str(msg))
    return "; ".join(parts) or "invalid request"


def _database_gone(exc: BaseException) -> bool:
    """True when the cause chain holds a lost-connection error (pandas wraps the driver's)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, OperationalError):
            return True
        # the driver's own class and its subclasses (AdminShutdown when the server stops):
        # raised unwrapped from COPY on the raw connection, and wrapped by pandas.read_sql
        if isinstance(cur, psycopg.OperationalError):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(GridwardError)
    async def _gridward(_req: Request, exc: GridwardError) -> JSONResponse:
        return error_response(exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> Response:
        if (
            exc.status_code == 401
            and req.method == "GET"
            and req.url.path.startswith("/maps")
            and "text/html" in req.headers.get("accept", "")
        ):  # a person opening a map page in a browser: to the sign-in page, then back
            target = quote(req.url.path + (f"?{req.url.query}" if req.url.query else ""))
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(_req: Request, exc: OperationalError) -> JSONResponse:
        failed = db_failure(exc)
        if failed is not None and failed.kind == "conflict":
            # a deadlock or serialization failure: the database is up and nothing was
            # written; "unavailable" sent operators looking for an outage
            log.warning("transaction rolled back: %s", failed.line)
            return error_response(
                503,
                "the database was busy with a conflicting change: send it again",
                {"Retry-After": "1"},
            )
        log.warning("database unavailable: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return error_response(503, "database unavailable, retry shortly", {"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _db_error(_req: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return error_response(503, "database unavailable, retry shortly", {"Retry-After": "5"})
        log.exception("database error")
        return error_response(500, "internal database error")

    @app.exception_handler(ClientDisconnect)
    async def _gone(req: Request, _exc: ClientDisconnect) -> JSONResponse:
        # the client hung up before its body was read (a phone losing signal): nothing was
        # stored and nobody reads the answer; a traceback per hang-up (a tester counted 404)
        # buried the real errors in the log
        log.info("client disconnected during %s %s", req.method, req.url.path)
        return error_response(400, "the client disconnected before the request was read")

    @app.exception_handler(Exception)
    async def _other(_req: Request, exc: Exception) -> JSONResponse:
        if _database_gone(exc):
            return error_response(503, "database unavailable, retry shortly", {"Retry-After": "5"})
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal error")
