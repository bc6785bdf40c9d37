"""Conditional reads of the API's JSON answers: an ETag on each, 304 when the client has it.

WHY (outside tester T67 #4): a nightly sync job pulls the layers, people, duties and reports
again and again, and nothing told it that nothing had changed (no ETag, no Last-Modified;
``If-None-Match`` answered 200 with the whole body). Every JSON or GeoJSON answer of a GET now
carries a weak ETag, the SHA-256 of its bytes (weak: the same entity may leave gzipped or
not), and ``If-None-Match`` with it answers 304 without a body. The answer is still computed
(a change feed by time would need every table's change times); what is saved is the transfer
and the client's parsing and writing, the bulk of a full pull on a slow link.

A route's own ETag (the report files') is left as it is, and ``/health`` (a probe) untagged.
Bodies above :data:`MAX_BYTES` pass through untouched (held in memory to hash them otherwise).
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BYTES = 32 * 1024 * 1024
_JSON = ("application/json", "application/geo+json")


def _matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, RFC 9110 13.1.2:
    ``W/`` ignored), or is ``*``."""
    if if_none_match.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in if_none_match.split(","))


class ConditionalGet:
    """ASGI middleware: ETag and 304 for GET answers of JSON (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] == "/health":
            # /health: a probe's answer of the moment (and its HEAD its own), never kept
            await self.app(scope, receive, send)
            return
        asked = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing = False

        async def held(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                kind = headers.get("content-type", "").split(";")[0].strip().lower()
                if message["status"] != 200 or kind not in _JSON or "etag" in headers:
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BYTES:  # too big to hold: sent as it comes, without an ETag
                passing = True
                await send(start)
                await send({**message, "body": b"".join(chunks)})
                return
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["ETag"] = etag
            if "cache-control" not in headers:
                # revalidate every time (the data changes), never shared (answers depend on
                # who asks)
                headers["Cache-Control"] = "private, no-cache"
            if asked is not None and _matches(asked, etag):
                for name in ("content-length", "content-type"):
                    if name in headers:
                        del headers[name]
                await send({**start, "status": 304, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, held)
