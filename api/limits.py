"""Request-size limits enforced while the body streams in, never after buffering it.

Two layers:

* :class:`BodyLimitMiddleware` caps every request body (a declared ``Content-Length`` over the
  cap is refused before one byte is read; a chunked body is cut off when the running count
  passes the cap). It guards routes that let FastAPI parse forms or JSON.
* :func:`read_upload` / :func:`read_limited` are for upload routes with their own, usually
  smaller, limit: they read ``request.stream()`` chunk by chunk and stop at the limit with 413.
  An upload route should take ``request: Request`` and call ``await read_upload(request)``
  instead of declaring ``UploadFile = File()`` (which spools the whole body before the route
  runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and small fields around the file


class BodyTooLarge(HTTPException):
    """413: raised inside ``receive`` so FastAPI's body parsing passes it through as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: the limit is {limit} bytes")


def default_limit() -> int:
    """The upload limit from settings (``GRIDWARD_MAX_UPLOAD_BYTES``)."""
    from geo.settings import get_settings

    return int(get_settings().max_upload_bytes)


def _declared_length(headers: list[tuple[bytes, bytes]] | object) -> int | None:
    for k, v in headers:  # type: ignore[union-attr]
        if k.lower() == b"content-length":
            try:
                return int(v)
            except ValueError:
                return -1
    return None


class BodyLimitMiddleware:
    """Pure ASGI middleware: refuse bodies over ``max_bytes`` with a 413 JSON error."""

    def __init__(self, app: ASGIApp, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _limit(self) -> int:
        if self.max_bytes is None:
            from geo.auth_settings import get_auth_settings

            s = get_auth_settings()
            self.max_bytes = s.max_body_bytes or default_limit() + FORM_OVERHEAD
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or b""
        if b"%00" in raw or b"\x00" in raw or b"%00" in scope.get("query_string", b""):
            # PostgreSQL text cannot hold NUL: refuse it at the door rather than as a 500 later
            await error_response(400, "NUL character (%00) in the URL is not allowed")(
                scope, receive, send
            )
            return
        limit = self._limit()
        declared = _declared_length(scope.get("headers", []))
        if declared is not None and (declared < 0 or declared > limit):
            msg = "invalid Content-Length" if declared < 0 else BodyTooLarge(limit).detail
            code = 400 if declared < 0 else 413
            await error_response(code, msg, {"Connection": "close"})(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:  # raised where no handler caught it
            if started:
                raise
            await error_response(413, str(exc.detail), {"Connection": "close"})(
                scope, receive, send
            )


async def stream_limited(request: Request, max_bytes: int | None = None) -> AsyncIterator[bytes]:
    """The body's chunks; 413 as soon as more than ``max_bytes`` arrived (or are declared)."""
    limit = default_limit() if max_bytes is None else max_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit + FORM_OVERHEAD:
                raise BodyTooLarge(limit)
        except ValueError:
            raise HTTPException(400, "invalid Content-Length") from None
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit + FORM_OVERHEAD:
            raise BodyTooLarge(limit)
        yield chunk


async def read_limited(request: Request, max_bytes: int | None = None) -> bytes:
    """The whole body as bytes, at most ``max_bytes`` (413 beyond, while streaming)."""
    limit = default_limit() if max_bytes is None else max_bytes
    parts: list[bytes] = []
    size = 0
    async for chunk in stream_limited(request, limit):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


@dataclass
class Upload:
    """One uploaded file and the form's other fields."""

    filename: str | None
    content_type: str | None
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


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
    "text/plain",
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
    ``fields``: the form's other fields as JSON schemas (also accepted as query parameters
    with a raw body of one of ``raw_types``)."""
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


async def read_uploads(
    request: Request, max_bytes: int | None = None, file_field: str = "file", max_files: int = 1
) -> list[Upload]:
    """Read up to ``max_files`` uploaded files: ``multipart/form-data`` (field ``file_field``,
    repeated) or one raw body of a file type (GPX/KML/KMZ/GeoJSON/CSV). 413 past ``max_bytes`` while
    streaming; 415 for other content types; 422 when the form has no such file or one is
    empty. Each Upload carries the form's other fields (or the query parameters)."""
    limit = default_limit() if max_bytes is None else max_bytes
    ctype = request.headers.get("content-type", "")
    main = ctype.split(";")[0].strip().lower()
    out: list[Upload] = []
    if main == "multipart/form-data":
        parser = MultiPartParser(
            request.headers,
            stream_limited(request, limit),
            max_files=max_files,
            max_fields=20,
            max_part_size=64 * 1024,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(422, f"malformed multipart form: {exc.message}") from None
        try:
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            for item in form.getlist(file_field):
                if not isinstance(item, UploadFile):
                    raise HTTPException(422, f"form field {file_field!r} must carry a file")
                data = await item.read(limit + 1)
                if len(data) > limit:
                    raise BodyTooLarge(limit)
                out.append(Upload(item.filename, item.content_type, data, fields))
        finally:
            await form.close()
        if not out:
            raise HTTPException(422, f"form field {file_field!r} with a file is missing")
    elif main in RAW_TYPES:
        data = await read_limited(request, limit)
        name = request.headers.get("x-filename") or _RAW_NAMES.get(main)
        out.append(Upload(name, main, data, dict(request.query_params)))
    else:
        raise HTTPException(
            415,
            f"unsupported content type {main or '(none)'!r}: send multipart/form-data with a "
            f"'{file_field}' field, or the file itself as application/gpx+xml, "
            "application/geo+json or text/csv",
        )
    if len(out) == 1 and not out[0].data:
        raise HTTPException(422, "the uploaded file is empty")
    return out


async def read_upload(
    request: Request, max_bytes: int | None = None, file_field: str = "file"
) -> Upload:
    """Read one uploaded file (see :func:`read_uploads`)."""
    return (await read_uploads(request, max_bytes, file_field, max_files=1))[0]
