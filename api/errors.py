"""Every error leaves the API as JSON ``{"error": "...", "status": N}`` with a 4xx/5xx code;
a browser opening a page (/maps, /login) gets the same words as a small HTML page instead.

Bad input is a 4xx that names the problem; a database that went away is a 503 with
Retry-After (clients retry, the pool reconnects by itself); anything else is a 500 whose
details go to the log, not to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api.usage_words import EN_BY_TYPE, ZH_BY_TYPE, pattern_words, zh_detail
from geo.errors import GridwardError, chinese_first, db_failure, reads_chinese_first

log = logging.getLogger("gridward.api")
# the 503 while the database is down or restarting (each caller adds Retry-After)
_DB_DOWN = "数据库暂不可用，请稍后重试 database unavailable, retry shortly"


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": chinese_first(message, status), "status": status},
        status_code=status,
        headers=headers,
    )


def _prefers_html(accept: str) -> bool:
    """Whether an Accept header puts HTML first (a browser navigating), not JSON or ``*/*``
    (scripts, curl, the test client)."""
    best: dict[str, float] = {}
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best[kind.strip().lower()] = max(q, best.get(kind.strip().lower(), 0.0))
    html = max(best.get("text/html", 0.0), best.get("application/xhtml+xml", 0.0))
    return html > 0 and html >= best.get("application/json", 0.0)


def _wants_page(req: Request) -> bool:
    """A person's browser opening a page route (/, /login, /maps, /maps/..., not its static
    files; and the bar's plain sign-out form): its errors are a page to read, not JSON
    (tester: 户数范围 min > max → a bare ``{"error": …}``)."""
    path = req.url.path
    page = path in ("/", "/login", "/maps", "/auth/logout") or (
        path.startswith("/maps/") and not path.startswith("/maps/static/")
    )
    return page and _prefers_html(req.headers.get("accept", ""))


def _reply(
    req: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The error as JSON, or as an HTML page for a browser opening a page route."""
    if not _wants_page(req):
        return error_response(status, message, headers)
    from maps.shell import error_page

    user = _page_user(req) if status < 500 and status != 401 else None
    page = error_page(status, chinese_first(message, status), req.url.path, req.url.query, user)
    return HTMLResponse(page, status_code=status, headers=headers)


def _page_user(req: Request) -> str | None:
    """Who is signed in, for the error page's top bar: the principal the request's rule found,
    or the sign-in cookie read here (a 404 or a 422 can come before any rule ran). None when
    no one is, or the lookup fails: an error page must not fail in its turn."""
    from api.auth import COOKIE
    from geo.accounts import verify_token

    principal = getattr(req.state, "principal", None)
    if principal is not None:
        return principal.username
    scheme, _, bearer = req.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else req.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = verify_token(req.app.state.engine, token)
    except Exception:  # noqa: BLE001 - the page goes out without a name
        log.debug("error page: the sign-in token could not be read", exc_info=True)
        return None
    return None if principal is None else principal.username


def _validation_part(err: Mapping[str, Any]) -> str:
    """One pydantic error as "缺少字段 max_households: field required": the Chinese kind,
    the field, then the English."""
    raw = [str(p) for p in err.get("loc", ())]
    loc = ".".join(p for p in raw if p not in ("body", "query", "path"))
    if not loc and raw[:1] == ["body"]:
        loc = "request body"  # the body as a whole (not JSON, wrong type)
    kind = str(err.get("type", ""))
    msg = EN_BY_TYPE.get(kind) or str(err.get("msg", "invalid"))
    if kind == "json_invalid":  # its loc is ("body", offset): say where, of what
        msg, loc = f"{msg} at character {loc}", "request body"
    zh = next((z for prefix, z in ZH_BY_TYPE if kind.startswith(prefix)), "")
    given = str(err.get("input"))[:40]
    if kind.startswith("date_"):
        # pydantic's words for 20261120 ("Datetimes provided to dates should have zero
        # time": it read a Unix time) told a user nothing (two outside testers); the date
        # given and the form, in Chinese too (T37, F6)
        msg = f"{given!r} is not a date: give it as YYYY-MM-DD, e.g. 2026-11-20"
        zh = f"日期 {given!r} 无效，请写成 YYYY-MM-DD（如 2026-11-20）"
    elif kind.startswith("datetime_"):
        msg = f"{msg} (give a time as YYYY-MM-DDTHH:MM:SS+08:00)"
        zh = f"时间 {given!r} 无效，请写成 YYYY-MM-DDTHH:MM:SS+08:00"
    elif kind == "value_error":
        # a validator's own words (Chinese first already where written so)
        msg = msg.removeprefix("Value error, ")
        if loc == "request body" and reads_chinese_first(msg):
            return msg  # a rule over several fields names them itself
    if zh and reads_chinese_first(msg):
        zh = ""  # the message says it in Chinese already
    elif zh and kind == "string_pattern_mismatch":
        zh_rule, en_rule = pattern_words(str((err.get("ctx") or {}).get("pattern", "")))
        zh = f"{zh}，{zh_rule}（收到 {given!r}）"
        msg = f"{en_rule}, got {given!r}"
    elif zh and not kind.startswith(("date_", "datetime_", "json_")):
        zh += zh_detail(kind, err)
    text = f"{loc}: {msg}" if loc else msg
    return f"{zh} {text}" if zh else text


def _validation_message(exc: RequestValidationError) -> str:
    """Up to five of a request's validation errors, each Chinese first (the response keeps
    its shape: ``{"error": "...", "status": 422}``)."""
    parts = [_validation_part(err) for err in exc.errors()[:5]]
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
    """Register the error handlers on ``app`` (JSON; HTML for a browser opening a page)."""

    @app.exception_handler(GridwardError)
    async def _gridward(req: Request, exc: GridwardError) -> Response:
        return _reply(req, exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError) -> Response:
        return _reply(req, 422, _validation_message(exc))

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
        return _reply(req, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(req: Request, exc: OperationalError) -> Response:
        failed = db_failure(exc)
        if failed is not None and failed.kind == "conflict":
            # a deadlock or serialization failure: the database is up and nothing was
            # written; "unavailable" sent operators looking for an outage
            log.warning("事务已回滚 transaction rolled back: %s", failed.line)
            return _reply(
                req,
                503,
                "数据库正忙于冲突的修改，请重新提交 "
                "the database was busy with a conflicting change: send it again",
                {"Retry-After": "1"},
            )
        log.warning(
            "数据库不可用 database unavailable: %s",
            str(exc.orig).splitlines()[0] if exc.orig else exc,
        )
        return _reply(req, 503, _DB_DOWN, {"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _db_error(req: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return _reply(req, 503, _DB_DOWN, {"Retry-After": "5"})
        log.exception("database error")
        return _reply(req, 500, "数据库内部错误 internal database error")

    @app.exception_handler(ClientDisconnect)
    async def _gone(req: Request, _exc: ClientDisconnect) -> JSONResponse:
        # the client hung up before its body was read (a phone losing signal): nothing was
        # stored and nobody reads the answer; a traceback per hang-up (a tester counted 404)
        # buried the real errors in the log
        log.info("client disconnected during %s %s", req.method, req.url.path)
        return error_response(400, "连接已断开 the client disconnected before the request was read")

    @app.exception_handler(Exception)
    async def _other(req: Request, exc: Exception) -> Response:
        if _database_gone(exc):
            return _reply(req, 503, _DB_DOWN, {"Retry-After": "5"})
        log.exception("unhandled error", exc_info=exc)
        return _reply(req, 500, "内部错误 internal error")
