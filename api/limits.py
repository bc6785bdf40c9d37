"""Request-size limits enforced while the body streams in, never after buffering it.

Two layers:

* :class:`BodyLimitMiddleware` caps every request body (a declared ``Content-Length`` over the
  cap is refused before one byte is read; a chunked body is cut off when the running count
  passes the cap). It guards routes that let FastAPI parse forms or JSON: their cap is the
  upload limit plus :data:`FORM_OVERHEAD`.
* :func:`read_uploads` / :func:`read_upload` are for upload routes. Each FILE is limited to
  ``max_bytes`` (``GRIDWARD_MAX_UPLOAD_BYTES`` by default; 413 naming the file), counted while
  the multipart form streams in; the whole request to :func:`request_limit` (the files of
  :data:`TOTAL_FILES` at that limit, plus the form around them), which the middleware then
  allows for that request only. An upload route should take ``request: Request`` and call
  ``await read_uploads(request)`` instead of declaring ``UploadFile = File()`` (which spools the
  whole body before the route runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and small fields around the files
# A multi-file upload (the patrol map sends every chosen file in one request) may carry this
# many files at the per-file limit: 100 MB with the default 20 MB. WHY not limit x MAX_FILES
# (1 GB): the files are held in memory while stored, and one client must not stream that much.
# Many small files (50 phone tracks of 2 MB) fit; five big ones at a time do too.
TOTAL_FILES = 5
_SCOPE_KEY = "gridward.body_cap"
F = TypeVar("F", bound=Callable[..., Any])


# A request body must keep coming: after GRIDWARD_BODY_GRACE_S (30 s) it must have averaged
# GRIDWARD_BODY_MIN_RATE bytes a second (1 KB/s; a phone on 2G sends ~10 KB/s), and it must be
# whole by GRIDWARD_BODY_MAX_S (15 min). WHY: a tester's 200 clients trickling 5 bytes/s each
# held a request open for good (slowloris).


@dataclass(frozen=True)
class BodyPace:
    """The pace rule above, read from the settings once per request."""

    grace_s: float
    min_rate: int
    max_s: float

    @classmethod
    def from_settings(cls) -> BodyPace:
        from geo.settings import get_settings

        s = get_settings()
        return cls(s.body_grace_s, s.body_min_rate, s.body_max_s)

    def due(self, t0: float, seen: int) -> float:
        """The latest instant the next bytes may come, ``seen`` bytes after a start at t0."""
        return min(t0 + max(self.grace_s, (seen + 1) / self.min_rate), t0 + self.max_s)


class BodyTooSlow(HTTPException):
    """408: the body stopped coming or came too slowly; raised inside ``receive``."""

    def __init__(self, pace: BodyPace) -> None:
        super().__init__(
            408,
            f"上传太慢，未保存任何内容：请求体在 {pace.grace_s:g} 秒后须平均每秒至少 "
            f"{pace.min_rate:,} 字节，并在 {pace.max_s:g} 秒内传完 "
            f"request body too slow: it must average {pace.min_rate:,} bytes/s after "
            f"{pace.grace_s:g} s and be sent within {pace.max_s:g} s; nothing was stored",
        )


def describe_bytes(n: int) -> str:
    """``20 MB (20,971,520 bytes)``: a limit as people read it and as it is configured."""
    if n < 1024 * 1024 // 100:  # would read "0 MB"
        return f"{n / 1024:.3g} KB ({n:,} bytes)"
    mb = n / (1024 * 1024)
    text = f"{mb:.0f}" if n % (1024 * 1024) == 0 else f"{mb:.2f}".rstrip("0").rstrip(".")
    return f"{text} MB ({n:,} bytes)"


def describe_bytes_zh(n: int) -> str:
    """:func:`describe_bytes` in a Chinese sentence: ``20 MB（20,971,520 字节）``."""
    shown, _, exact = describe_bytes(n).partition(" (")
    return f"{shown}（{exact.removesuffix(' bytes)')} 字节）"


class BodyTooLarge(HTTPException):
    """413: raised inside ``receive`` so FastAPI's body parsing passes it through as is."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(
            413,
            message
            or f"请求体过大：上限为 {describe_bytes_zh(limit)} "
            f"request body too large: the limit is {describe_bytes(limit)}",
        )


def default_limit() -> int:
    """The per-file upload limit from settings (``GRIDWARD_MAX_UPLOAD_BYTES``)."""
    from geo.settings import get_settings

    return int(get_settings().max_upload_bytes)


def request_limit(per_file: int, max_files: int = 1) -> int:
    """The whole body of an upload of up to ``max_files`` files of ``per_file`` bytes each: the
    files of at most :data:`TOTAL_FILES` of them, and the form around them."""
    return per_file * max(1, min(max_files, TOTAL_FILES)) + FORM_OVERHEAD


def file_too_large(filename: str | None, limit: int) -> BodyTooLarge:
    """413 naming the file and the per-file limit as configured."""
    who = f"{filename[:200]}: " if filename else ""  # the client's name, cut to a sane size
    said = f"文件 {filename[:200]} 过大" if filename else "文件过大"
    return BodyTooLarge(
        limit,
        f"{said}：每个文件最多 {describe_bytes_zh(limit)} "
        f"{who}file too large: the limit is {describe_bytes(limit)} per file",
    )


def _request_too_large(
    per_file: int, max_files: int, oversized: tuple[str, ...] = ()
) -> BodyTooLarge:
    """413 for a whole request past :func:`request_limit`: nothing of it is stored. ``oversized``:
    the files seen over the per-file limit before the cut, named (T67 #3: a single file over
    the limit was told to "send fewer files")."""
    total = request_limit(per_file, max_files)
    if max_files <= 1:
        return BodyTooLarge(
            total,
            f"请求体过大：上限为 {describe_bytes_zh(total)} "
            f"request body too large: the limit is {describe_bytes(total)}",
        )
    files = total - FORM_OVERHEAD
    each_zh, each = describe_bytes_zh(per_file), describe_bytes(per_file)
    if oversized:
        names = [n[:200] for n in oversized[:5]]
        many = len(oversized) > 1
        return BodyTooLarge(
            total,
            f"请求体过大，未存储任何文件：文件 {'、'.join(names)} 超过每个文件 {each_zh} 的"
            f"上限，整个请求也超过了文件合计 {describe_bytes_zh(files)} 的上限；请去掉过大的"
            "文件后重新上传 "
            f"request body too large, nothing was stored: {', '.join(names)} "
            f"{'are' if many else 'is'} over the limit of {each} per file, and the request "
            f"went past the limit of {describe_bytes(files)} for all files together: send it "
            f"again without {'them' if many else 'it'}",
        )
    return BodyTooLarge(
        total,
        f"请求体过大，未存储任何文件：每次请求的文件合计最多 {describe_bytes_zh(files)}"
        f"（每个文件最多 {each_zh}），请分批上传，一次少传几个文件（超过 {each_zh} 的文件"
        "无法上传） "
        f"request body too large, nothing was stored: the files together may be at most "
        f"{describe_bytes(files)} per request (each file at most {each}): send fewer files at a "
        f"time (a file over {each} cannot be uploaded)",
    )


_MANY_FILES = "gridward_many_files"  # the mark many_files puts on a route's endpoint


def many_files(endpoint: F) -> F:
    """Mark a route's endpoint as one reading several files (:func:`read_uploads` with
    ``max_files`` > 1), whose whole body may be :func:`request_limit`: the body limit's door
    then says so, and to no other route."""
    setattr(endpoint, _MANY_FILES, True)
    return endpoint


def reads_many_files(scope: Scope) -> bool:
    """Whether the route ``scope`` goes to is marked by :func:`many_files`."""
    from starlette.routing import Match

    from api.auth import iter_routes

    app = scope.get("app")
    if app is None:
        return False
    for info in iter_routes(app):
        if info.route.matches(scope)[0] is Match.FULL:
            return bool(getattr(getattr(info.route, "endpoint", None), _MANY_FILES, False))
    return False


def _declared_length(headers: list[tuple[bytes, bytes]] | object) -> int | None:
    for k, v in headers:  # type: ignore[union-attr]
        if k.lower() == b"content-length":
            try:
                return int(v)
            except ValueError:
                return -1
    return None


@dataclass
class _BodyCap:
    """One request's body cap in the middleware; an upload route may raise it (up to
    ``ceiling``) before it reads the body: :func:`allow_body`."""

    limit: int
    ceiling: int
    error: BodyTooLarge | None = None
    # how far the body has come, for UploadSlots to say when a stalled upload is dropped
    pace: BodyPace | None = None
    t0: float | None = None  # when the route first asked for the body
    seen: int = 0
    whole: bool = False

    def too_large(self) -> BodyTooLarge:
        return self.error or BodyTooLarge(self.limit)

    def dropped_in(self) -> float | None:
        """Seconds until the pace rule gives this body up if no more of it comes (None: it
        has all come, or no rule watches it)."""
        if self.whole or self.pace is None:
            return None
        now = time.monotonic()
        return max(0.0, self.pace.due(now if self.t0 is None else self.t0, self.seen) - now)


def body_progress(request: Request) -> _BodyCap | None:
    """The middleware's record of this request's body (None without the middleware)."""
    cap = request.scope.get(_SCOPE_KEY)
    return cap if isinstance(cap, _BodyCap) else None


def allow_body(request: Request, limit: int, error: BodyTooLarge | None = None) -> None:
    """Let this request's body grow to ``limit`` (never past the middleware's ceiling), refused
    with ``error`` beyond. Call before reading the body; a no-op without the middleware."""
    cap = request.scope.get(_SCOPE_KEY)
    if isinstance(cap, _BodyCap):
        cap.limit = min(max(cap.limit, limit), cap.ceiling)
        if error is not None and cap.limit == limit:
            cap.error = error


class BodyLimitMiddleware:
    """Pure ASGI middleware: refuse bodies over the cap with a 413 JSON error.

    The cap is ``max_bytes`` (``GRIDWARD_MAX_BODY_BYTES``; default: the upload limit plus
    :data:`FORM_OVERHEAD`). An upload route raises it for its own request with
    :func:`allow_body`, up to the ceiling (``max_bytes`` when set, else the largest
    multi-file upload, :func:`request_limit`); a declared length over the ceiling is refused at
    the door, one between the cap and the ceiling when the route starts reading."""

    def __init__(self, app: ASGIApp, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.ceiling: int | None = max_bytes
        self.door: BodyTooLarge | None = None  # the answer to a body over the ceiling

    def _limits(self) -> tuple[int, int]:
        if self.max_bytes is None:
            from geo.auth_settings import get_auth_settings

            s = get_auth_settings()
            self.max_bytes = s.max_body_bytes or default_limit() + FORM_OVERHEAD
            upload = request_limit(default_limit(), TOTAL_FILES)
            self.ceiling = s.max_body_bytes or max(self.max_bytes, upload)
            if self.ceiling == upload:  # the biggest request is a multi-file upload: say so
                self.door = _request_too_large(default_limit(), TOTAL_FILES)
        return self.max_bytes, self.ceiling or self.max_bytes

    def _at_door(self, scope: Scope, limit: int) -> BodyTooLarge:
        """The 413 for a declared length over the ceiling: the many-files words ("send fewer
        files") on a route that reads several files (:func:`many_files`) only; any other
        route's own cap, as a body between the two is told. WHY (T67 #18): a 120 MB JSON body
        to POST /auth/api-tokens was told to send fewer files, a 60 MB one its 20.06 MB."""
        if self.door is not None and reads_many_files(scope):
            return self.door
        return BodyTooLarge(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or b""
        if b"%00" in raw or b"\x00" in raw or b"%00" in scope.get("query_string", b""):
            # PostgreSQL text cannot hold NUL: refuse it at the door rather than as a 500 later
            await error_response(
                400, "网址中不能有 NUL 字符（%00） NUL character (%00) in the URL is not allowed"
            )(scope, receive, send)
            return
        limit, ceiling = self._limits()
        declared = _declared_length(scope.get("headers", []))
        if declared is not None and (declared < 0 or declared > ceiling):
            too_large = self._at_door(scope, limit)
            msg = (
                "请求头 Content-Length 无效 invalid Content-Length"
                if declared < 0
                else too_large.detail
            )
            code = 400 if declared < 0 else 413
            await error_response(code, msg, {"Connection": "close"})(scope, receive, send)
            return
        pace = BodyPace.from_settings()
        cap = _BodyCap(limit, ceiling, pace=pace)
        scope[_SCOPE_KEY] = cap
        seen = 0
        first = True
        started = False
        whole = False  # the body has ended: later receives wait for a disconnect, untimed
        t0 = 0.0  # when the route first asked for the body: the clock starts there

        async def limited_receive() -> Message:
            nonlocal seen, first, whole, t0
            if first:  # the route's cap is known now: a declared length over it reads nothing
                first = False
                t0 = cap.t0 = time.monotonic()
                if declared is not None and declared > cap.limit:
                    raise cap.too_large()
            if whole:
                return await receive()
            due = pace.due(t0, seen)
            try:
                message = await asyncio.wait_for(receive(), max(due - time.monotonic(), 0.01))
            except TimeoutError:
                raise BodyTooSlow(pace) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                whole = not message.get("more_body", False)
                cap.seen, cap.whole = seen, whole
                if seen > cap.limit:
                    raise cap.too_large()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTooSlow) as exc:  # raised where no handler caught it
            if started:
                raise
            await error_response(exc.status_code, str(exc.detail), {"Connection": "close"})(
                scope, receive, send
            )


async def stream_limited(
    request: Request, max_bytes: int | None = None, error: BodyTooLarge | None = None
) -> AsyncIterator[bytes]:
    """The body's chunks; 413 (``error``) as soon as more than ``max_bytes`` arrived (or are
    declared). ``max_bytes`` is the whole body: the caller adds any form overhead."""
    limit = default_limit() + FORM_OVERHEAD if max_bytes is None else max_bytes
    too_large = error or BodyTooLarge(limit)
    allow_body(request, limit, too_large)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise HTTPException(400, "请求头 Content-Length 无效 invalid Content-Length") from None
        if n > limit:
            raise too_large
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large
        yield chunk


async def read_limited(
    request: Request, max_bytes: int | None = None, error: BodyTooLarge | None = None
) -> bytes:
    """The whole body as bytes, at most ``max_bytes`` (413 beyond, while streaming)."""
    limit = default_limit() if max_bytes is None else max_bytes
    return b"".join([c async for c in stream_limited(request, limit, error)])


class _LimitedParser(MultiPartParser):
    """Starlette's multipart parser with a size limit on each FILE, counted as its bytes arrive
    (Starlette limits only the other fields), and a plain message for too many files.

    ``keep_going``: a file over the limit is refused on its own (:attr:`oversized`) and the
    rest of its bytes dropped as they arrive, not kept, so the files after it are still read;
    else the first such file ends the parse (413)."""

    def __init__(
        self, *args: Any, max_file_bytes: int, keep_going: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_file_bytes = max_file_bytes
        self.keep_going = keep_going
        self._file_bytes = 0
        self.oversized: dict[int, str] = {}  # id() of each file over the limit: its name

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.max_file_bytes:
                if not self.keep_going:
                    raise file_too_large(part.file.filename, self.max_file_bytes)
                # dropped: what came before the limit stays in its spool file (on disk past
                # 1 MB) until the form is closed, the rest is never held
                self.oversized[id(part.file)] = part.file.filename or ""
                return
        super().on_part_data(data, start, end)

    def on_headers_finished(self) -> None:
        try:
            super().on_headers_finished()
        except MultiPartException:
            if getattr(self, "_current_files", 0) > self.max_files:
                raise HTTPException(
                    413,
                    f"文件太多，每次最多 {self.max_files:g} 个 "
                    f"too many files: at most {self.max_files:g} files per request",
                ) from None
            raise


@dataclass
class Upload:
    """One uploaded file and the form's other fields; ``refused``: the file's own 413 when it
    was over the limit (:func:`read_uploads` with ``keep_oversized``; ``data`` is empty)."""

    filename: str | None
    content_type: str | None
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    refused: BodyTooLarge | None = None


RAW_TYPES = (
    "application/octet-stream",
    "application/gpx+xml",
    "application/vnd.google-earth.kml+xml",
    "application/vnd.google-earth.kmz",
    "application/xml",
    "text/xml",
    "application/geo+json",
    "application/json",
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/nmea",
)


# a raw body's file name when the client sends no X-Filename: the type decides the parser
_RAW_NAMES = {
    "application/gpx+xml": "upload.gpx",
    "application/vnd.google-earth.kml+xml": "upload.kml",
    "application/vnd.google-earth.kmz": "upload.kmz",
    "application/xml": "upload.gpx",
    "text/xml": "upload.gpx",
    "application/geo+json": "upload.geojson",
    "application/json": "upload.geojson",
    "text/csv": "upload.csv",
    "text/tab-separated-values": "upload.tsv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "upload.xlsx",
    "application/vnd.ms-excel": "upload.xls",
    "application/vnd.oasis.opendocument.spreadsheet": "upload.ods",
    "application/nmea": "upload.nmea",
}


def upload_openapi(
    fields: dict[str, dict[str, Any]],
    *,
    many: bool = False,
    raw_types: tuple[str, ...] = (),
    file_field: str = "file",
) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its upload with :func:`read_uploads`.

    Such a route takes ``request: Request`` (so the size limit holds while streaming), which
    leaves FastAPI nothing to document: without this, ``/docs`` cannot try the upload.
    ``fields``: the form's other fields as JSON schemas (also accepted as query parameters,
    with a form or a raw body of one of ``raw_types``)."""
    binary = {"type": "string", "format": "binary"}
    file_schema = {"type": "array", "items": binary, "minItems": 1} if many else binary
    form = {
        "type": "object",
        "required": [file_field],
        "properties": {file_field: file_schema, **fields},
    }
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    content.update({t: {"schema": binary} for t in raw_types})
    return {"requestBody": {"required": True, "content": content}}


_WHERE_ZH = {"form": "表单", "URL": "网址"}


def _once(items: list[tuple[str, str]], where: str) -> dict[str, str]:
    """Fields by name; 422 for a name given twice with different values. WHY: the last one
    silently won (``person=A&person=B`` stored the walk for B, acceptance tester)."""
    out: dict[str, str] = {}
    for k, v in items:
        if k in out and out[k] != v:
            raise HTTPException(
                422,
                f"参数 {k[:40]} 在{_WHERE_ZH.get(where, where)}中给了两次（{out[k][:40]!r} 和 "
                f"{v[:40]!r}），请只给一次 "
                f"{k[:40]} is given twice in the {where}, {out[k][:40]!r} and {v[:40]!r}: "
                "give it once",
            )
        out[k] = v
    return out


class _FormEnd:
    """Whether a multipart body reached its closing delimiter (``--boundary--``), watched as
    it streams in (``request``: the same request, read through this watch).

    WHY (T40 #16): a body cut off on the way (a phone losing its connection, a proxy's
    limit) ended the parse without an error: the files before the cut were stored and the
    one it cut was dropped without a word, and a body cut inside its first file was told
    that the form had no 'file' field. Here, in the one reader of uploads, so a people
    roster or an areas file cut on the way is refused as well, not read as far as it came."""

    def __init__(self, request: Request) -> None:
        from python_multipart.multipart import parse_options_header

        self.request = request
        self.seen = True
        self._delimiter = b""
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "multipart/form-data":
            return
        boundary = parse_options_header(ctype)[1].get(b"boundary")
        if not boundary:
            return  # the parser names a form without one
        self.seen, self._delimiter, self._tail = False, b"--" + boundary + b"--", b""
        self._receive = request.receive
        self.request = Request(request.scope, self._watch)

    async def _watch(self) -> Any:
        message = await self._receive()
        if message.get("type") == "http.request" and not self.seen:
            body, n = message.get("body", b""), len(self._delimiter)
            # the delimiter within this chunk, or across the end of the one before
            edge = self._tail + body[:n]
            self.seen = self._delimiter in body or self._delimiter in edge
            self._tail = (self._tail + body)[-n:] if len(body) < n else body[-n:]
        return message

    @staticmethod
    def cut_off(dropped: dict[int, str] | None = None, limit: int = 0) -> HTTPException:
        """422: the form was cut off, nothing stored; 413 naming the file(s) when some file
        was over ``limit`` before the cut (sent again whole, it would be refused all the
        same: "send it again" alone was the wrong remedy for it)."""
        if dropped:
            names = [n[:200] or "upload" for n in list(dropped.values())[:5]]
            # named alike, so the guard (tests/test_messages_chinese_first.py) sees the
            # Chinese name what the English does
            files, files_zh = ", ".join(names), "、".join(names)
            each, each_zh = describe_bytes(limit), describe_bytes_zh(limit)
            return HTTPException(
                413,
                f"文件 {files_zh} 过大：每个文件最多 {each_zh}；上传的表单也不完整（请求体在结尾"
                "分隔线之前就结束了），未存储任何文件 "
                f"{files}: file too large: the limit is {each} per file; the upload body was "
                "also cut off before its closing boundary: no file was stored",
            )
        return HTTPException(
            422,
            "上传的表单不完整：请求体在表单的结尾分隔线（--boundary--）之前就结束了，上传可能被"
            "中断或截断；未存储任何文件，请重新上传 the upload body was cut off: the "
            "multipart form ended before its closing boundary (an interrupted or truncated "
            "upload); no file was stored, send it again",
        )


async def read_uploads(
    request: Request,
    max_bytes: int | None = None,
    file_field: str = "file",
    max_files: int = 1,
    keep_oversized: bool = False,
) -> list[Upload]:
    """Read up to ``max_files`` uploaded files: ``multipart/form-data`` (field ``file_field``,
    repeated) or one raw body of a file type (GPX/KML/KMZ/GeoJSON/CSV). 413 while streaming:
    past ``max_bytes`` in any one file (the message names it), past :func:`request_limit` for
    the whole request, or more than ``max_files`` files; 415 for other content types; 422 when
    the form has no such file or one is empty. Each Upload carries the form's other fields (or
    the query parameters).

    ``keep_oversized`` (a form of several files): a file past ``max_bytes`` does not refuse
    the request; it is an Upload with its 413 in ``refused`` (its bytes past the limit read
    and dropped), so the route stores the others (T67 #3). The whole request's limit still
    refuses the request."""
    limit = default_limit() if max_bytes is None else max_bytes
    ctype = request.headers.get("content-type", "")
    main = ctype.split(";")[0].strip().lower()
    out: list[Upload] = []
    if main == "multipart/form-data":
        watch = _FormEnd(request)
        dropped: dict[int, str] = {}  # the files over the limit (keep_oversized), by id()
        try:
            out = await _read_form(
                watch.request, limit, file_field, max_files, keep_oversized, dropped
            )
        except HTTPException as exc:  # a form cut inside its first file has no file field
            if exc.status_code == 422 and not watch.seen:
                raise watch.cut_off(dropped, limit) from None
            raise
        if not watch.seen:  # the last file(s) were dropped by the parser without a word
            raise watch.cut_off(dropped, limit)
    elif main in RAW_TYPES:
        given = request.headers.get("x-filename")
        data = await read_limited(request, limit, file_too_large(given, limit))
        name = given or _RAW_NAMES.get(main)
        out.append(Upload(name, main, data, _once(request.query_params.multi_items(), "URL")))
    else:
        sent, sent_zh = main or "(none)", main or "（无）"
        raise HTTPException(
            415,
            f"不支持的内容类型 {sent_zh!r}：请用 multipart/form-data 上传（文件放在 "
            f"'{file_field}' 字段），或直接以 application/gpx+xml、application/geo+json 或 "
            "text/csv 发送文件本身 "
            f"unsupported content type {sent!r}: send multipart/form-data with a "
            f"'{file_field}' field, or the file itself as application/gpx+xml, "
            "application/geo+json or text/csv",
        )
    if len(out) == 1 and not out[0].data and out[0].refused is None:
        raise HTTPException(422, "上传的文件是空的 the uploaded file is empty")
    return out


async def _read_form(
    request: Request,
    limit: int,
    file_field: str,
    max_files: int,
    keep_oversized: bool = False,
    dropped: dict[int, str] | None = None,
) -> list[Upload]:
    """The files of a ``multipart/form-data`` body (see :func:`read_uploads`); ``dropped``
    gets the files over ``limit`` (``keep_oversized``) as they are seen."""
    out: list[Upload] = []
    whole = _request_too_large(limit, max_files)
    parser = _LimitedParser(
        request.headers,
        stream_limited(request, request_limit(limit, max_files), whole),
        max_files=max_files,
        max_fields=20,
        max_part_size=64 * 1024,
        max_file_bytes=limit,
        keep_going=keep_oversized,
    )
    if dropped is not None:
        parser.oversized = dropped
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(
            422, f"表单格式有误（{exc.message}） malformed multipart form: {exc.message}"
        ) from None
    except BodyTooLarge as exc:
        if exc.detail == whole.detail and parser.oversized:
            # the whole request's limit, reached while a file over its own was dropped: name
            # it (the request's words alone said "send fewer files" to one big file)
            names = tuple(n or "upload" for n in parser.oversized.values())
            raise _request_too_large(limit, max_files, names) from None
        raise
    try:
        given = _once([(k, v) for k, v in form.multi_items() if isinstance(v, str)], "form")
        stray = sorted({k for k, v in form.multi_items() if not isinstance(v, str)} - {file_field})
        if stray:  # WHY: a file sent as 'files' was dropped without a word
            raise HTTPException(
                422,
                f"表单字段 {stray[0][:40]!r} 带有文件：每个文件都须放在 {file_field!r} 字段 "
                f"form field {stray[0][:40]!r} carries a file: send each file as "
                f"{file_field!r}",
            )
        # the query string counts too (as with a raw body): ``POST /tracks?person_id=51``
        # with a form once stored walks for nobody without a word
        query = _once(request.query_params.multi_items(), "URL")
        clash = sorted(k for k in given.keys() & query.keys() if given[k] != query[k])
        if clash:
            raise HTTPException(
                422,
                f"参数 {clash[0]} 给了两次，网址中为 {query[clash[0]][:40]!r}，表单中为 "
                f"{given[clash[0]][:40]!r}，请只给一次 "
                f"{clash[0]} is given twice, {query[clash[0]][:40]!r} in the URL and "
                f"{given[clash[0]][:40]!r} in the form: give it once",
            )
        fields = {**query, **given}
        for item in form.getlist(file_field):
            if not isinstance(item, UploadFile):
                raise HTTPException(
                    422,
                    f"表单字段 {file_field!r} 须为文件 form field {file_field!r} must carry a file",
                )
            if id(item) in parser.oversized:  # its bytes were dropped: refused on its own
                refused = file_too_large(item.filename, limit)
                out.append(Upload(item.filename, item.content_type, b"", fields, refused))
                continue
            data = await item.read(limit + 1)
            if len(data) > limit:  # counted while streaming already: a second guard
                raise file_too_large(item.filename, limit)
            out.append(Upload(item.filename, item.content_type, data, fields))
    finally:
        await form.close()
    if not out:
        raise HTTPException(
            422,
            f"表单中缺少带文件的 {file_field!r} 字段 "
            f"form field {file_field!r} with a file is missing",
        )
    return out


async def read_upload(
    request: Request, max_bytes: int | None = None, file_field: str = "file"
) -> Upload:
    """Read one uploaded file (see :func:`read_uploads`)."""
    return (await read_uploads(request, max_bytes, file_field, max_files=1))[0]


# --------------------------------------------------------------------------------------------
# how many uploads at once (T42 #3)
# --------------------------------------------------------------------------------------------
# WHY: a 19 MB CSV of 600,000 fixes takes ~500 MB while it is parsed and matched; one
# steward's four such files sent in parallel took the server to 1.5 GB and /health to 4.5 s,
# and nothing bounded it. Two bounds, each where its memory is:
#
# * per account (GRIDWARD_UPLOADS_PER_USER, 1): taken BEFORE the body is read, so one account's
#   extra requests are refused before their bytes (up to request_limit each) are held, and held
#   until its files are stored and matched. A slow phone holds only its own place.
# * per process (GRIDWARD_UPLOADS_AT_ONCE, the CPU count within 2-4): taken once the files
#   have arrived, around their parse and match (geo.track_store.ingest_track), and not while a
#   body streams in, so slow clients cannot hold the server's few places; a request waits up
#   to GRIDWARD_UPLOAD_WAIT_S for one. A deferred upload (defer=true) parses and stores its
#   fixes inside the place too; its match then runs in api.background.match_pool, two at a
#   time already.
# Both refusals are 429 with Retry-After and nothing stored: the same file sent again later is
# taken (or found stored: created false), as any re-send.

UPLOAD_RETRY_S = 5  # the Retry-After of a refused upload


def _busy(message: str, close: bool = False, retry_s: int = UPLOAD_RETRY_S) -> HTTPException:
    headers = {"Retry-After": str(retry_s)}
    if close:  # its body was not read: the connection cannot carry another request
        headers["Connection"] = "close"
    return HTTPException(429, message, headers=headers)


class UploadSlots:
    """The places of :data:`api.routes.tracks` uploads in one process (see above): counters
    under a thread lock, so any event loop (uvicorn's, a test client's) may take them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[object, int] = {}
        self._bodies: dict[object, list[_BodyCap | None]] = {}  # the holders' bodies
        self._running = 0

    @contextlib.contextmanager
    def for_user(
        self, key: object, limit: int | None = None, body: _BodyCap | None = None
    ) -> Iterator[None]:
        """One of the account ``key``'s places, or 429 at once. ``body``
        (:func:`body_progress`): how far this upload's body has come, so that a refusal
        meanwhile can say when a stalled one is dropped."""
        from geo.settings import get_settings

        limit = limit or get_settings().uploads_per_user
        with self._lock:
            held = self._users.get(key, 0)
            if held >= limit:
                stalled = self._stalled(key)
                if stalled is not None:
                    raise stalled
                other_zh = "另一批" if limit == 1 else f"另外 {limit} 批"
                other = (
                    "another upload of yours is"
                    if limit == 1
                    else (f"{limit} other uploads of yours are")
                )
                raise _busy(
                    f"正在处理您的{other_zh}上传，请等它完成后再传（每个账号同时最多 {limit} 批，"
                    f"约 {UPLOAD_RETRY_S} 秒后再试）；本批未存储任何文件 "
                    f"{other} being processed (at most {limit} at a time per account): send "
                    f"this one once it is done (in about {UPLOAD_RETRY_S} s); nothing of this "
                    "one was stored",
                    close=True,
                )
            self._users[key] = held + 1
            self._bodies.setdefault(key, []).append(body)
        try:
            yield
        finally:
            with self._lock:
                left = self._users.pop(key) - 1
                if left:
                    self._users[key] = left
                bodies = self._bodies.pop(key)
                bodies.remove(body)
                if bodies:
                    self._bodies[key] = bodies

    def _stalled(self, key: object) -> HTTPException | None:
        """The refusal while every place of ``key`` is held by an upload still arriving
        (None when one is being processed: the usual words). WHY (T45 #2): a phone that lost
        its signal mid-upload left that upload holding the place, and each retry was told
        "正在处理您的另一批上传…约 5 秒后再试" for up to the pace rule's limit: nothing the
        steward could see was running, and 5 s was wrong every time. The body pace rule
        (:class:`BodyPace`) drops a body that stops coming; this says when, and Retry-After
        is that wait."""
        waits = [b.dropped_in() if b is not None else None for b in self._bodies.get(key, [])]
        if not waits or any(w is None for w in waits):
            return None
        n = math.ceil(min(waits)) + 1  # the place is free just after the drop
        many = len(waits)
        who_zh = "您上一次的上传" if many == 1 else f"您之前的 {many} 批上传"
        who = "your previous upload has" if many == 1 else f"your {many} previous uploads have"
        return _busy(
            f"{who_zh}尚未传完（可能是网络中断的那一次）：若不再有数据传来，约 {n} 秒后自动放弃，"
            f"之后即可重传；本批未存储任何文件 {who} not finished arriving (maybe one "
            f"cut off): if no more of it comes it is dropped within about {n} s, then send "
            "again; nothing of this one was stored",
            close=True,
            retry_s=n,
        )

    @contextlib.asynccontextmanager
    async def running(
        self, limit: int | None = None, wait_s: float | None = None
    ) -> AsyncIterator[None]:
        """One of the process's places, waited for up to ``wait_s``; 429 after that."""
        from geo.settings import get_settings

        s = get_settings()
        limit = limit or s.uploads_at_once
        wait_s = s.upload_wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                if self._running < limit:
                    self._running += 1
                    break
            if time.monotonic() >= deadline:
                raise _busy(
                    f"服务器正忙于其他上传（同时最多处理 {limit} 批，已等 {wait_s:g} 秒），请约 "
                    f"{UPLOAD_RETRY_S} 秒后重新上传；本批未存储任何文件 "
                    f"the server is busy with other uploads (at most {limit} at a time; waited "
                    f"{wait_s:g} s): send it again in about {UPLOAD_RETRY_S} s; nothing of this "
                    "one was stored"
                )
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1


def upload_slots(request: Request) -> UploadSlots:
    """The app's upload places (made by api.app.create_app; one per app otherwise)."""
    state = request.app.state
    slots = getattr(state, "upload_slots", None)
    if slots is None:
        slots = state.upload_slots = UploadSlots()
    return slots
