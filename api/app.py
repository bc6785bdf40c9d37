"""The FastAPI application: routers over geo, JSON errors, OpenAPI docs at /docs and /redoc
(their scripts served by the app itself), CORS for the origins configured, security headers on
every answer and a script policy (CSP with a nonce) on every page."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import document_error_responses, iter_routes
from api.errors import error_response, install_error_handlers, path_methods
from api.etag import ConditionalGet
from api.limits import BodyLimitMiddleware, UploadSlots
from api.query_check import refuse_unknown_query
from api.routes import audit as audit_routes
from api.routes import auth as auth_routes
from api.routes import exports as export_routes
from api.routes import (
    features,
    login,
    plans,
    plans_editor,
    report_jobs,
    reports,
    staffing,
    tiles,
    tracks,
)
from api.routes import maps as maps_routes
from api.runtime import version
from geo.accounts_models import USER_ROLES
from geo.auth_settings import check_production, get_auth_settings
from geo.settings import get_settings

# Answers of at least this many bytes are gzip'd for clients that accept it (the patrol map
# page and the layers shrink to a fifth: nothing was compressed, tester); not XLSX, which is
# a zip file already. File downloads stream through it intact (tests/test_maps_viewer.py).
GZIP_MIN_BYTES = 1000
GZIP_SKIP = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


# The docs pages' scripts, vendored by maps/vendor_assets.py and served as /maps/static files.
# WHY not FastAPI's defaults: those load from cdn.jsdelivr.net (and Google Fonts), so /docs and
# /redoc were blank offline, on government intranets and where the CDN is blocked (T40 #3).
VENDOR_URL = "/maps/static/vendor"
SWAGGER_JS = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui.css"
DOCS_ICON = f"{VENDOR_URL}/swagger-ui-dist/favicon-32x32.png"
DOCS_URL, OAUTH2_REDIRECT_URL, REDOC_URL = "/docs", "/docs/oauth2-redirect", "/redoc"
# ReDoc's bundle as /redoc serves it: the vendored file with the address of Redocly's logo
# emptied. WHY: its sidebar draws that logo from https://cdn.redoc.ly (no option turns it off);
# the page's CSP blocked it, a console error on every /redoc, and the page named an outside
# host on intranets (T48 brief, h49). An image with no address fails at once and ReDoc hides it.
REDOC_JS = f"{REDOC_URL}/redoc.standalone.js"
REDOC_FILE = maps_routes.STATIC_DIR / "vendor" / "redoc" / "redoc.standalone.js"
REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


@lru_cache(maxsize=1)
def redoc_bundle() -> bytes:
    """The vendored ReDoc bundle with no outside image (:data:`REDOC_LOGO` emptied)."""
    return REDOC_FILE.read_bytes().replace(REDOC_LOGO, b'src:""')


def _add_docs_pages(app: FastAPI) -> None:
    """/docs (Swagger UI), its OAuth2 redirect page and /redoc, as FastAPI adds them but with
    the vendored scripts. Plain routes, as FastAPI's own (tests/test_auth_matrix.py)."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger(req: Request) -> HTMLResponse:
        root = req.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + DOCS_ICON,
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            # no badge asking validator.swagger.io about the schema (online only)
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def oauth2_redirect(_req: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(req: Request) -> HTMLResponse:
        root = req.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=root + REDOC_JS,
            redoc_favicon_url=root + DOCS_ICON,
            with_google_fonts=False,
        )

    app.add_route(DOCS_URL, swagger, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)

    async def redoc_js(_req: Request) -> Response:
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    app.add_route(REDOC_URL, redoc, include_in_schema=False)
    app.add_route(REDOC_JS, redoc_js, include_in_schema=False)


def _error_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


# The error answers an operation documents besides ``default`` (api.auth), each the app's own
# body {error, status}. WHY: every 422 was documented as FastAPI's {"detail": [...]}
# (HTTPValidationError), a body the app never sends; a client generated from the schema
# (a phone app's) could not read the real one (T40 #1).
_422 = _error_answer(
    "输入有误：参数或请求体未通过校验，error 逐项说明（最多 5 项） "
    "validation error: a parameter or the body is invalid; error names each (up to five)"
)
_401 = _error_answer(
    "未登录：没有令牌，或令牌无效、已过期 not signed in: no token, or it is invalid or expired"
)
_403 = _error_answer(
    "无权限：账号的角色或管辖区域不允许此操作 "
    "forbidden: the account's role or areas do not allow this"
)
_404 = _error_answer(
    "未找到：路径中的编号或编码不存在 not found: nothing has the id or code in the path"
)
_413 = _error_answer(
    "请求体过大：超过 GRIDWARD_MAX_BODY_BYTES（上传为每个文件的上限与每次请求的合计上限） "
    "body too large: over GRIDWARD_MAX_BODY_BYTES (uploads: the per-file and per-request limits)"
)
_415 = _error_answer(
    "格式不支持：请求体的内容类型不是此接口接受的（JSON、表单或文件） "
    "unsupported media type: the body's content type is not the one this route takes"
)
_503 = _error_answer(
    "服务暂不可用：数据库暂不可用或正忙于冲突的修改，按 Retry-After 重试 "
    "unavailable: the database is away or was busy with a conflicting change; retry after "
    "Retry-After"
)
# Refusals particular to some operations, beside those every one of its kind has (T67 #5: a
# client read 409s and 404s the schema never named): (method, path) → {status: words}
_OWN_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/tracks"): {
        "404": "未找到：person / person_id 指定的人员不存在 not found: no such person",
        "408": "请求超时：请求体到达过慢 request timeout: the body arrived too slowly",
        "409": "冲突：整个请求只有一个文件且被拒（他人的文件或巡查、复制、已撤回；code 说明是哪种）"
        " conflict: the one file was refused (another's file or walk, a copy, withdrawn: "
        "see code)",
    },
    ("post", "/assignments"): {
        "404": "未找到：人员或对象不存在 not found: no such person or target",
        "409": "冲突：与已有职责重叠，或人员已离岗 conflict: overlaps a duty, or the person left",
    },
    ("delete", "/tracks/{track_id}"): {
        "409": "冲突：已撤回，或正在匹配 conflict: withdrawn already, or being matched",
    },
    ("post", "/tracks/{track_id}/restore"): {
        "409": "冲突：未撤回，或同一次巡查已由另一条轨迹记录 conflict: not withdrawn, or "
        "another track holds the walk",
    },
    ("get", "/tracks/{track_id}"): {
        "403": "无权限：巡查人员只能查看自己的轨迹 forbidden: a steward reads her own tracks",
    },
    ("get", "/jobs/{job_id}"): {
        "403": "无权限：只有任务的发起人、管理员和所辖区域的规划员可以查看 forbidden: the "
        "job's starter, admins and planners of its area read it",
    },
    ("get", "/coverage"): {"404": "未找到：区域不存在 not found: no such area"},
    ("post", "/plans/{plan_id}/commit"): {
        "409": "冲突：草案所依据的网格版本已不是现行版本，或网格不连通 conflict: the draft's "
        "grid version is no longer current, or a grid is in pieces",
    },
}
_CONVERTER = re.compile(r"\{(\w+):\w+\}")  # "{path:path}" as OpenAPI writes it: "{path}"


def document_error_codes(app: FastAPI) -> None:
    """Document each operation's 422 (in place of FastAPI's) and, where true, 401 (it needs
    a token), 403 (its rule refuses some roles, or checks areas or the steward's own person)
    and 404 (its path holds an id or code) with the app's ``Error`` body, which the error
    answers a route declares itself (a wrong password's 401) get too."""
    previous = app.openapi

    def openapi() -> dict[str, Any]:
        schema = previous()  # cached by FastAPI; what follows is idempotent
        everyone = frozenset(USER_ROLES)
        refusing = {
            (method.lower(), _CONVERTER.sub(r"{\1}", info.path))
            for info in iter_routes(app)
            for method in info.methods
            if any(
                not r.public and (r.roles != everyone or r.area_param or r.own_person)
                for r in info.rules
            )
        }
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                answers, params = op["responses"], op.get("parameters", [])
                if params or "requestBody" in op or "422" in answers:
                    answers["422"] = _422
                if "security" in op:
                    answers.setdefault("401", _401)
                if (method, path) in refusing:
                    answers.setdefault("403", _403)
                if any(p.get("in") == "path" for p in params):
                    answers.setdefault("404", _404)
                if "requestBody" in op:  # the body limit, and a body of another type
                    answers.setdefault("413", _413)
                    answers.setdefault("415", _415)
                if path != "/login":  # every answer reads the database (/health's too)
                    answers.setdefault("503", _503)
                for code, words in _OWN_ERRORS.get((method, path), {}).items():
                    answers.setdefault(code, _error_answer(words))
                for code, answer in answers.items():  # a route's own (401 wrong password)
                    if code[:1] in "45" and "content" not in answer:
                        answer["content"] = _error_answer("")["content"]
        schemas = schema.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        if '"#/components/schemas/ValidationError"' not in json.dumps(schema):
            schemas.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class NoRedirectForWrites:
    """A write (POST, PUT, PATCH, DELETE) to a path with a trailing slash that only the path
    without it takes is a JSON 404 naming that path; GET and HEAD keep the router's redirect.
    WHY not the redirect (307, no body) nor a 308: many clients drop a redirected request's
    body or turn it into a GET, and those that keep it send it twice (a 100 MB upload);
    behind a TLS proxy the Location can even point at plain http. Taking both paths would
    hide the mistake behind a second, undocumented URL. A 404 that names the right path is
    fixed once, in the client (T40 #15)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD")
            or not path.endswith("/")
            or not path.rstrip("/")
            or _routed(scope["app"], scope)
        ):
            await self.app(scope, receive, send)
            return
        takes = path_methods(scope["app"], {**scope, "path": path.rstrip("/")})
        if not takes:  # no such path either way: the router's own 404
            await self.app(scope, receive, send)
            return
        shown, meant, method = path[:100], path.rstrip("/")[:100], scope["method"][:20]
        if method in takes:
            words = (
                f"路径 {shown} 不存在：请去掉末尾的 /，改用 {method} {meant}（不做重定向："
                "重定向会让很多客户端丢掉或重发请求体） "
                f"not found: {shown}; send {method} {meant}, without the trailing slash "
                "(no redirect: many clients drop or re-send the body of a redirected request)"
            )
        else:
            words = (
                f"路径 {shown} 不存在：去掉末尾的 / 的路径 {meant} 可用 {'、'.join(takes)}，"
                f"不可用 {method} "
                f"not found: {shown}; the path without the trailing slash, {meant}, takes "
                f"{', '.join(takes)}, not {method}"
            )
        await error_response(404, words)(scope, receive, send)


class HeadAsGet:
    """HEAD on every GET path: run as the GET (the same auth, redirects, headers such as
    Content-Type and Content-Length), its body dropped; a route that takes HEAD itself
    (HEAD /health) answers it as it is. A 405's ``Allow`` lists HEAD where it lists GET
    (:func:`api.errors.path_methods`, which every 405 of the app is made from).
    WHY one middleware: FastAPI's routes take only the methods they declare, so ``curl -I``
    on a map page, a layer or /maps/static/... (a GET route, not a StaticFiles mount) was a
    405 with ``Allow: GET``; link checkers, proxies and monitors send HEAD (T41 #10)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[Any] | None = None  # the app's routes, read at the first HEAD

    def _as_get(self, scope: Scope) -> bool:
        """Whether no route takes this HEAD itself but one takes the GET. A path with no GET
        keeps its HEAD: its 405 names HEAD, not a GET nobody sent."""
        if self._routes is None:
            self._routes = [i.route for i in iter_routes(scope["app"])]

        def taken(method: str) -> bool:
            probe = {**scope, "method": method}
            return any(r.matches(probe)[0] is Match.FULL for r in self._routes or ())

        return not taken("HEAD") and taken("GET")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":  # every other request as is
            await self.app(scope, receive, send)
            return
        if self._as_get(scope):
            scope = {**scope, "method": "GET"}  # a copy: the server's log still says HEAD

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.pathsend":  # a file, by path
                message = {"type": "http.response.body", "body": b""}
            elif message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the body's parts: none go out for a HEAD
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, answer)


def _routed(app: Any, scope: Scope) -> bool:
    """Whether some route of ``app`` takes ``scope``'s path (any method)."""
    return any(info.route.matches(scope)[0] is not Match.NONE for info in iter_routes(app))


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as the app's JSON error (its own
    answer is plain text "Disallowed CORS origin"), naming the origin and the setting."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        origin = request_headers.get("origin", "")[:100]
        method = request_headers.get("access-control-request-method", "")[:20]
        return error_response(
            answer.status_code,
            f"跨域预检被拒：来源 {origin!r}（请求方法 {method}）"
            "不在 GRIDWARD_CORS_ORIGINS 所列之中 "
            f"CORS preflight refused: origin {origin!r} (method {method}) is not allowed by "
            "GRIDWARD_CORS_ORIGINS",
        )


# ---- security headers (T42 #5) ------------------------------------------------------------
# Every answer: no MIME sniffing, never framed (clickjacking), no address sent to other sites.
# An HTML page also gets a Content-Security-Policy that runs only the app's own scripts: files
# from this origin, and inline scripts carrying this answer's nonce. WHY: T42 #1 (names run as
# template code, fixed in 22ae5dd) put script into pages for every user; a CSP is the second
# line: script injected into a page without the nonce does not run.
BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
NO_FRAMES = "frame-ancestors 'none'"
_SCRIPT_TAG = re.compile(rb"<script(?=[\s>/])", re.IGNORECASE)
_SOURCE = re.compile(r"[A-Za-z0-9.*:/\[\]-]+")


@lru_cache(maxsize=8)
def tile_source(tile_url: str | None) -> str | None:
    """The CSP source the basemap's tiles come from (``GRIDWARD_TILE_URL``): its scheme and
    host, the labels holding a placeholder as ``*`` (``https://webrd0{s}.is.autonavi.com/…``
    gives ``https://*.is.autonavi.com``); None for a URL on this site (``'self'`` holds it)
    or none. A host that no source can name (a placeholder in its last label) gives its
    scheme: ``https:``."""
    if not tile_url:
        return None
    try:
        parts = urlsplit(tile_url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host_port = parts.netloc.rpartition("@")[2]
    if not host_port:
        return None  # a path on this site
    host, colon, port = host_port.partition(":") if "]" not in host_port else (host_port, "", "")
    labels = host.split(".")
    marked = [i for i, label in enumerate(labels) if "{" in label or "}" in label]
    if marked:
        rest = labels[marked[-1] + 1 :]
        if len(rest) < 2:  # no host left to name ("{s}.example"): any of that scheme
            return f"{scheme}:" if scheme else None
        host = "*." + ".".join(rest)
    if "{" in port or "}" in port:
        port = "*"
    source = f"{scheme + '://' if scheme else ''}{host}{colon}{port}"
    if not _SOURCE.fullmatch(source):  # no CSP separator (; , space) may slip in
        return f"{scheme}:" if scheme in ("http", "https") else None
    return source


def page_policy(nonce: str | None) -> str:
    """The Content-Security-Policy of an HTML page: scripts from this origin and, with
    ``nonce``, inline ones carrying it; styles inline too (folium writes style attributes and
    elements); images from this origin, data: and blob: URLs and the basemap's tile server."""
    from geo.settings import get_settings

    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    tiles = tile_source(get_settings().tile_url)
    images = "'self' data: blob:" + (f" {tiles}" if tiles else "")
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        f"object-src 'none'; base-uri 'self'; form-action 'self'; {NO_FRAMES}"
    )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


class PageNonce:
    """An HTML answer's inline scripts carry a fresh nonce, named in its CSP (page_policy).

    The nonce goes onto every ``<script`` tag of the page's bytes. That is sound because a
    page never holds user text unescaped: names and other text reach the HTML only through
    maps.shell.esc (html.escape: ``<`` becomes ``&lt;``), and page data only through
    maps.page.js_data (``<`` written as ``\\u003c``); the sign-in page's ``next`` likewise. So
    each literal ``<script`` in a page body is a tag the page's own code wrote, and script a
    user managed to inject anyway (a page that forgot to escape) gets no nonce and does not
    run. A page added later must keep to this: escape what it shows.
    Inside GZipMiddleware (it reads the page uncompressed); the page is held whole (pages are
    one body) and its Content-Length set anew."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def nonced(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = (_header(headers, b"content-type") or b"").lower()
                if kind.startswith(b"text/html") and _header(headers, b"content-encoding") is None:
                    start = {**message, "headers": headers}
                    return  # sent with the body, once its length is known
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                nonce = secrets.token_urlsafe(16)
                body = _SCRIPT_TAG.sub(f'<script nonce="{nonce}"'.encode(), b"".join(chunks))
                headers = [
                    (k, v)
                    for k, v in start["headers"]
                    if k.lower() not in (b"content-length", b"content-security-policy")
                ]
                headers += [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-security-policy", page_policy(nonce).encode()),
                ]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, nonced)


class SecurityHeaders:
    """The headers every answer carries (BASE_HEADERS), and a CSP on one that has none: an
    HTML page's without a nonce (an error page from outside PageNonce: its script is a
    file), ``frame-ancestors 'none'`` on anything else. Wrapped around the whole app, the
    error handlers' 500s included (create_app)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in BASE_HEADERS if k not in have]
                if b"content-security-policy" not in have:
                    kind = (_header(headers, b"content-type") or b"").lower()
                    policy = page_policy(None) if kind.startswith(b"text/html") else NO_FRAMES
                    headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, headed)


def _json_bodies_take_json(app: FastAPI) -> None:
    """A JSON route's body sent as another type (a form, text) answered 415 naming the type
    to send (:func:`api.bodies.not_json_words`), ahead of the validation handler's 422; every
    other validation error as before. WHY here: POST /auth/token (a form route) and the upload
    routes answer a wrong type 415 already; JSON routes said 请求体须为 JSON 对象 (T67 #19)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from api.bodies import not_json_words

    validation = app.exception_handlers[RequestValidationError]
    http = app.exception_handlers[StarletteHTTPException]

    async def handler(req: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            words = not_json_words(exc, req.headers.get("content-type"))
            if words is not None:
                return await http(req, StarletteHTTPException(415, words))
        return await validation(req, exc)

    app.add_exception_handler(RequestValidationError, handler)


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app; with no engine, the configured database is started and migrated."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            from geo.db import get_engine

            app.state.engine = get_engine()
        from api.job_keeper import warn_live_jobs
        from geo.jobs import recover_stale_jobs

        warn_live_jobs(app.state.engine)  # a replica's live jobs about to be failed: say so
        recover_stale_jobs(app.state.engine)  # jobs left "running" by a dead process → failed
        from api.background import MatchSweeper, resume_match_queue
        from geo.match_queue import AbandonedSweep

        sweep = AbandonedSweep()
        resume_match_queue(app.state.engine, sweep)  # tracks left queued by a dead process
        # and, every minute, tracks a dead upload left stored (T47 #1: only the start-up
        # looked, and a restart at once found them too fresh to take)
        sweeper = MatchSweeper(app.state.engine, sweep).start()
        from api.background import stop_report_jobs, stop_thread_jobs
        from api.job_keeper import JobKeeper

        # this process's jobs kept alive (queued too), dead processes' failed, old report
        # files purged, while it runs (T60 #1, #2)
        keeper = JobKeeper(app.state.engine).start()
        try:
            yield
        finally:
            sweeper.stop()
            keeper.stop()
            stop_report_jobs(app.state.engine)  # not made after the service stopped (T60 #3)
            stop_thread_jobs(app.state.engine)  # nor partitions, staffing, match waits

    check_production(get_auth_settings())  # no default secret in production (SetupError)
    app = FastAPI(
        title="gridward",
        summary="Urban grid management 网格化管理: grids, people, patrols on PostGIS",
        version=version(),
        lifespan=lifespan,
        docs_url=None,  # added by _add_docs_pages, with vendored scripts
        redoc_url=None,
        # an unknown query parameter on a reading route is a 422, not ignored (T67 #13)
        dependencies=[Depends(refuse_unknown_query)],
    )
    app.state.engine = engine
    from api.ratelimit import FailureLimiter

    app.state.signin_limiter = FailureLimiter()
    app.state.upload_slots = UploadSlots()  # track uploads at once (T42 #3)
    install_error_handlers(app)
    _json_bodies_take_json(app)  # a form sent to a JSON route: 415, not 422 (T67 #19)
    app.add_middleware(BodyLimitMiddleware)  # cap every body while it streams in (413)
    app.add_middleware(PageNonce)  # inside gzip: it reads the page's own bytes (T42 #5)
    app.add_middleware(ConditionalGet)  # ETag, If-None-Match → 304; inside gzip (T67 #4)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=6,  # 9 costs several times the time for a few per cent
        exclude_content_types=GZIP_SKIP,
    )
    app.add_middleware(NoRedirectForWrites)
    origins = get_settings().cors_origin_list()
    if origins:
        # (T40 #4) a web or hybrid phone app served from another origin; preflights were 405.
        # WHY no credentials: a phone or web app sends Bearer tokens; the map pages' sign-in
        # cookie must never ride a cross-origin request (the CSRF guard relies on that)
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "Retry-After",
                "Content-Disposition",
                "Location",
                "WWW-Authenticate",
                "X-Total-Count",
            ],
            max_age=600,
        )
    # outermost, so every layer (auth, CORS, gzip, the body limit) sees HEAD as the GET (T41 #10)
    app.add_middleware(HeadAsGet)
    # around everything, ServerErrorMiddleware (whose handler answers a 500) included: no
    # add_middleware reaches outside that (T42 #5: every answer)
    stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(stack())  # type: ignore[method-assign]
    document_error_responses(app)  # OpenAPI: any operation may answer {error, status}
    document_error_codes(app)  # … and its 422, 401, 403, 404 do, as {error, status}
    _add_docs_pages(app)
    app.include_router(auth_routes.router)
    app.include_router(features.router)
    app.include_router(tiles.router)
    app.include_router(maps_routes.router)
    app.include_router(plans_editor.router)
    app.include_router(plans.router)
    app.include_router(tracks.router)
    app.include_router(report_jobs.router)
    app.include_router(reports.router)
    app.include_router(export_routes.router)
    app.include_router(staffing.router)
    app.include_router(login.router)
    app.include_router(audit_routes.router)
    return app
