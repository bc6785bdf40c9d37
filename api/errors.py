"""Every error leaves the API as JSON ``{"error": "...", "status": N, "code": "..."}`` with a
4xx/5xx status;
a browser opening a page (/maps, /login) gets the same words as a small HTML page instead.

Bad input is a 4xx that names the problem; a database that went away is a 503 with
Retry-After (clients retry, the pool reconnects by itself); anything else is a 500 whose
details go to the log, not to the client.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Mapping, Sequence
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
from geo.db import down_note
from geo.errors import (
    GridwardError,
    chinese_first,
    db_failure,
    error_code,
    reads_chinese_first,
)
from geo.track_days import off_calendar

log = logging.getLogger("gridward.api")
# the 503 while the database is down or restarting (each caller adds Retry-After)
_DB_DOWN = "数据库暂不可用，请稍后重试 database unavailable, retry shortly"
# the database's disk is full: 507, no Retry-After (retrying cannot help until an admin frees
# space; T47 #3: it was the 503 above, and phones retried for nothing)
DISK_FULL_STATUS = 507
DISK_FULL_UPLOAD = (
    "服务器磁盘已满，本次上传未保存；请通知管理员清理空间 "
    "the server's disk is full: nothing was stored; ask the administrator to free space"
)
DISK_FULL_FILE = (
    "服务器磁盘已满，此文件未保存；请通知管理员清理空间 "
    "the server's disk is full: this file was not stored; ask the administrator to free space"
)
_DISK_FULL_OTHER = (
    "服务器磁盘已满，本次请求未完成，未保存任何内容；请通知管理员清理空间 "
    "the server's disk is full: the request was not completed and nothing was stored; ask "
    "the administrator to free space"
)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    """The JSON error body: the words for people (Chinese first), the status again, and a
    ``code`` for programs (:func:`geo.errors.error_code`: the raiser's, else the status's)."""
    return JSONResponse(
        {
            "error": chinese_first(message, status),
            "status": status,
            "code": error_code(status, code),
        },
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
    files; and the bar's plain sign-out form), or an address no route has: its errors are a
    page to read, not JSON (tester: 户数范围 min > max → a bare ``{"error": …}``; T44 #10: a
    phone opening a mistyped address showed raw JSON)."""
    path = req.url.path
    page = path in ("/", "/login", "/maps", "/auth/logout") or (
        path.startswith("/maps/") and not path.startswith("/maps/static/")
    )
    return (page or _unrouted(req)) and _prefers_html(req.headers.get("accept", ""))


def _unrouted(req: Request) -> bool:
    """Whether no route of the app takes the request's path with any method (an unknown
    address, not an API route's own 404 of a missing thing)."""
    try:
        return not path_methods(req.app, req.scope)
    except Exception:  # noqa: BLE001 - an error page must not fail in its turn
        log.debug("error page: the routes could not be read", exc_info=True)
        return False


def _reply(
    req: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> Response:
    """The error as JSON, or as an HTML page for a browser opening a page route."""
    if not _wants_page(req):
        return error_response(status, message, headers, code)
    from maps.shell import error_page

    user = _page_user(req) if status < 500 and status != 401 else None
    if status == 404 and message == "Not Found" and _unrouted(req):
        # the router's own words name neither the address nor a way on (T44 #10)
        shown = req.url.path[:100]
        message = (
            f"未找到此地址 {shown}：请从地图目录打开所需页面 "
            f"Not Found: there is no page at {shown}; open pages from the maps index"
        )
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


# where a request's value came from (an error's loc[0]), as the Chinese names the value
_WHERE_ZH = {
    "body": "字段",
    "query": "参数",
    "path": "参数",
    "header": "请求头",
    "cookie": "Cookie",
}
# the names pydantic gives a union's members in an error's loc ("target.constrained-str",
# "function-after[…]", "literal['a']", "int", a model's class name): not the user's field
# names, and meaningless to a clerk (T37, union-typed fields such as a duty's target)
_MEMBER = re.compile(
    r"[a-z]+(?:-[a-z]+)+(?:\[.*\])?|[a-z-]+\[.*\]|[A-Z]\w*"
    r"|str|int|float|bool|bytes|none|any|date|datetime|time|timedelta|decimal|uuid|url|json"
    r"|list|dict|set|frozenset|tuple|complex|callable",
    re.S,
)


def _without_members(
    loc: Sequence[Any], body: Any, kind: str
) -> tuple[tuple[Any, ...], tuple[tuple[Any, ...], str] | None]:
    """``loc`` without the union-member names pydantic puts after a union-typed field, and
    the first such name with the loc of its field (None when there is none). A segment is
    a member name when it looks like one, follows the field's own name, and is not a key of
    the body at that point (a nested field named ``date`` stays); a missing field's own name
    (the last segment) always stays."""
    names = list(loc)
    source = names.pop(0) if names and names[0] in _WHERE_ZH else None
    kept: list[Any] = [source] if source else []
    member: tuple[tuple[Any, ...], str] | None = None
    cur = body if source == "body" else None
    for i, seg in enumerate(names):
        if (
            i > 0
            and isinstance(seg, str)
            and _MEMBER.fullmatch(seg) is not None
            and not (isinstance(cur, Mapping) and seg in cur)
            and not (kind == "missing" and i == len(names) - 1)
        ):
            member = member or (tuple(kept), seg)
            continue
        kept.append(seg)
        if isinstance(cur, Mapping):
            cur = cur.get(seg)
        elif isinstance(cur, list) and isinstance(seg, int) and -len(cur) <= seg < len(cur):
            cur = cur[seg]
        else:
            cur = None
    return tuple(kept), member


def _usefulness(kind: str) -> int:
    """How much an error of one union member tells (lower: more): a limit the value broke
    (the member it was meant for) before a value that did not parse, before a plain "not
    that type" or a shape that does not fit (a member's field missing or unknown)."""
    if kind.endswith("_type") or kind in ("missing", "extra_forbidden"):
        return 2
    if kind.endswith("_parsing") or "_from_" in kind:
        return 1
    return 0


def _zh_or(words: Sequence[str]) -> str:
    """Words joined by 或, spaced where a word is Latin ("文字或整数", "整数或 true 或 false")."""
    out = ""
    for w in dict.fromkeys(words):
        if out:
            out += " 或 " if (out[-1].isascii() or w[:1].isascii()) else "或"
        out += w
    return out


def _member_errors(members: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The errors to show for one union-typed field, from its members' errors: those of the
    member the value came nearest to (its most telling error, then the fewest errors); when
    the value is of none of the member types (each says only "not my type"), one error
    naming them all ("须为文字或整数")."""

    def score(errs: list[dict[str, Any]]) -> tuple[int, int]:
        return min(_usefulness(str(e.get("type", ""))) for e in errs), len(errs)

    best = min(score(errs) for errs in members.values())
    tied = [errs for errs in members.values() if score(errs) == best]
    if best[0] < 2 or len(tied) == 1 or any(len(errs) > 1 for errs in tied):
        return tied[0]
    if len({e[0]["loc"] for e in tied}) > 1:
        return tied[0]
    kinds = [str(errs[0].get("type", "")) for errs in tied]
    en = list(dict.fromkeys(str(errs[0].get("msg", "")) for errs in tied))
    merged = {
        **tied[0][0],
        "zh_kind": "须为" + _zh_or([_zh_kind(k).removeprefix("须为").strip() for k in kinds]),
        "msg": en[0] + "".join(f" or {m.removeprefix('Input should be ')}" for m in en[1:]),
    }
    return [merged]


def _merged_union_errors(errors: Sequence[Mapping[str, Any]], body: Any) -> list[dict[str, Any]]:
    """The request's errors with union-member names dropped from their locs, and a
    union-typed field's errors (pydantic gives each member's: "should be a valid string"
    and "should be a valid integer" for one value) cut to one member's (_member_errors)."""
    out: list[dict[str, Any] | tuple[Any, ...]] = []
    unions: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
    for err in errors:
        loc, member = _without_members(err.get("loc", ()), body, str(err.get("type", "")))
        shown = {**err, "loc": loc}
        if member is None:
            out.append(shown)
            continue
        field, name = member
        if field not in unions:
            unions[field] = {}
            out.append(field)  # the field's errors go here, in the order they came
        unions[field].setdefault(name, []).append(shown)
    return [
        e
        for item in out
        for e in (_member_errors(unions[item]) if isinstance(item, tuple) else [item])
    ]


def _zh_kind(kind: str) -> str:
    """pydantic's error type in Chinese ("须为整数"), "" for a type without a wording."""
    return next((z for prefix, z in ZH_BY_TYPE if kind.startswith(prefix)), "")


def _validation_part(err: Mapping[str, Any]) -> str:
    """One pydantic error as "字段 max_households 数值过小，须不小于 1，收到 0
    max_households: Input should be …": the Chinese names the field (a body's 字段, a query's
    or path's 参数) and says what is wrong with it, then the field and the English. WHY name
    it in the Chinese: it stood between the two parts, so the Chinese alone did not say
    which field (T37)."""
    raw = [str(p) for p in err.get("loc", ())]
    source = raw[0] if raw and raw[0] in _WHERE_ZH else ""
    loc = ".".join(raw[1:] if source else raw)
    # what the Chinese calls the value: "字段 max_households", "参数 date", "请求体"
    where = _WHERE_ZH.get(source, "字段")
    subject = f"{where} {loc}" if loc else ""
    if not loc and source == "body":
        loc, subject = "request body", "请求体"  # the body as a whole (not JSON, wrong type)
    of = f"{subject} 的" if subject else ""  # "参数 date 的日期 'x' 无效"
    kind = str(err.get("type", ""))
    msg = EN_BY_TYPE.get(kind) or str(err.get("msg", "invalid"))
    zh = str(err.get("zh_kind") or _zh_kind(kind))
    given = str(err.get("input"))[:40]
    if kind == "json_invalid":  # its loc is ("body", offset): say where, of what
        msg = f"{msg} at character {loc}"
        zh = f"{zh}（错在第 {loc} 个字符处，从 0 数起）"
        loc = "request body"
    elif kind in ("missing", "extra_forbidden"):
        # "缺少字段 max_households: field required": the field that follows the kind ends the
        # Chinese and opens the English (said twice, it read as a stutter); a query's is a
        # 参数 ("缺少参数 area")
        zh = zh.removesuffix("字段") + ("请求体" if subject == "请求体" else where)
    elif kind.startswith("date_"):
        # pydantic's words for 20261120 ("Datetimes provided to dates should have zero
        # time": it read a Unix time) told a user nothing (two outside testers); the date
        # given and the form, in Chinese too (T37, F6)
        msg = f"{given!r} is not a date: give it as YYYY-MM-DD, e.g. 2026-11-20"
        zh = f"{of}日期 {given!r} 无效，请写成 YYYY-MM-DD（如 2026-11-20）"
        off = off_calendar(given.strip())
        if off is not None:  # written so, but not a day: why (as the CLI, T58 F13)
            msg = f"{given!r} is not a date: {off[1]}"
            zh = f"{of}日期 {given!r} 不是日历上的日期：{off[0]}"
    elif kind.startswith("datetime_"):
        msg = f"{msg} (give a time as YYYY-MM-DDTHH:MM:SS+08:00)"
        zh = f"{of}时间 {given!r} 无效，请写成 YYYY-MM-DDTHH:MM:SS+08:00"
    else:
        if kind == "value_error":
            # a validator's own words (Chinese first already where written so)
            msg = msg.removeprefix("Value error, ")
        if reads_chinese_first(msg):
            # the message says it in Chinese already; a rule over several fields (the
            # body as a whole) names them itself
            return f"{subject}：{msg}" if subject and subject != "请求体" else msg
        if kind == "string_pattern_mismatch":
            zh_rule, en_rule = pattern_words(str((err.get("ctx") or {}).get("pattern", "")))
            zh = f"{zh}，{zh_rule}（收到 {given!r}）"
            msg = f"{en_rule}, got {given!r}"
        elif zh:
            zh += zh_detail(kind, err)
        else:
            zh = "输入有误"  # a type without a wording of its own
        zh = f"{subject}{' ' if subject and subject != '请求体' else ''}{zh}"
    text = f"{loc}: {msg}" if loc else msg
    return f"{zh} {text}"


def _validation_message(exc: RequestValidationError) -> str:
    """Up to five of a request's validation errors, each Chinese first (the response keeps
    its shape: ``{"error": "...", "status": 422}``); a union-typed field's errors as one."""
    errors = _merged_union_errors(exc.errors(), getattr(exc, "body", None))
    parts = [_validation_part(err) for err in errors[:5]]
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


def disk_full_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error in its cause chain) says the database's disk is full:
    SQLSTATE 53100 disk_full (PostgreSQL's "could not extend file …: No space left on
    device"), an OSError ENOSPC, or those words; or a connection the server cut while its log
    says it ran out of space and the data folder's disk is still (nearly) full
    (:func:`geo.db.disk_full`: the server PANICs on a full WAL disk and restarts). WHY: each
    was answered 503 数据库暂不可用，请稍后重试, and retrying never helps (T47 #3)."""
    from geo.db import data_disk_full, disk_full

    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        for err in (cur, getattr(cur, "orig", None)):
            if err is None:
                continue
            if str(getattr(err, "sqlstate", "") or "") == "53100":
                return True
            if isinstance(err, OSError) and err.errno == errno.ENOSPC:
                return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    failed = db_failure(exc)
    if failed is None:
        return False
    if failed.name == "DiskFull" or "No space left on device" in failed.line:
        return True
    # a cut connection only counts while the disk is still full: the log may tell of an
    # earlier full disk, since freed
    return disk_full(f"{failed.name} {failed.line}") is not None and data_disk_full()


def _disk_full_reply(req: Request, exc: BaseException) -> Response:
    """The 507 of a full disk: the upload's words for an upload, else the request's."""
    failed = db_failure(exc)
    log.error(
        "磁盘已满 disk full: %s",
        failed.line if failed is not None else (str(exc).splitlines() or [""])[0],
    )
    upload = req.method == "POST" and (
        req.url.path == "/tracks"
        or req.headers.get("content-type", "").startswith("multipart/form-data")
    )
    return _reply(req, DISK_FULL_STATUS, DISK_FULL_UPLOAD if upload else _DISK_FULL_OTHER)


def with_head(methods: list[str]) -> list[str]:
    """``methods`` with HEAD added where GET is there (api.app.HeadAsGet answers it), sorted."""
    return sorted({*methods, "HEAD"}) if "GET" in methods else methods


def path_methods(app: Any, scope: Mapping[str, Any]) -> list[str]:
    """Every method some route takes on the request's path (``scope``), sorted; HEAD wherever
    GET is (T41 #10: a 405's words named GET, POST while its Allow said GET, HEAD, POST)."""
    from starlette.routing import Match

    from api.auth import iter_routes

    methods: set[str] = set()
    for info in iter_routes(app):
        if info.methods and info.route.matches(scope)[0] is not Match.NONE:
            methods |= info.methods
    return with_head(sorted(methods))


def _not_allowed(req: Request) -> Response:
    """405 naming the method and every method the path takes, in ``Allow`` too. WHY: the
    router answers from the first route on the path alone, so ``PUT /tracks`` was told
    ``Allow: POST`` though ``GET /tracks`` exists, and the words named neither (T40 #4)."""
    allowed = path_methods(req.app, req.scope)
    path, method = req.url.path[:100], req.method[:20]
    return _reply(
        req,
        405,
        f"不支持此请求方法 {method}（路径 {path} 可用：{'、'.join(allowed) or '无'}） "
        f"Method Not Allowed: {method} {path}; this path takes {', '.join(allowed) or 'none'}",
        {"Allow": ", ".join(allowed)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the error handlers on ``app`` (JSON; HTML for a browser opening a page)."""

    @app.exception_handler(GridwardError)
    async def _gridward(req: Request, exc: GridwardError) -> Response:
        return _reply(req, exc.status_code, exc.message, code=exc.code)

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
        if exc.status_code == 405:
            return _not_allowed(req)
        return _reply(req, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(req: Request, exc: OperationalError) -> Response:
        if disk_full_error(exc):  # (T47 #3)
            return _disk_full_reply(req, exc)
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
            "数据库不可用 database unavailable: %s%s",
            str(exc.orig).splitlines()[0] if exc.orig else exc,
            down_note(),
        )
        return _reply(req, 503, _DB_DOWN, {"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _db_error(req: Request, exc: DBAPIError) -> Response:
        if disk_full_error(exc):  # (T47 #3)
            return _disk_full_reply(req, exc)
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
        if disk_full_error(exc):  # a raw psycopg DiskFull (COPY), an OSError ENOSPC (T47 #3)
            return _disk_full_reply(req, exc)
        if _database_gone(exc):
            return _reply(req, 503, _DB_DOWN, {"Retry-After": "5"})
        log.exception("unhandled error", exc_info=exc)
        return _reply(req, 500, "内部错误 internal error")
