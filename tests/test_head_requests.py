"""HEAD on every GET path (outside re-tester T41 #10): ``curl -I`` on /maps/static/...,
/maps and the layers was a 405 with ``Allow: GET``. A HEAD answers as the GET does (status,
headers, the same auth), without the body; a 405 lists HEAD where it lists GET."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

STATIC = ["/maps/static/gridward.js", "/maps/static/vendor/swagger-ui-dist/swagger-ui-bundle.js"]
# a static file, a map page, a GeoJSON layer, a page and the health check
PATHS = [*STATIC, "/maps", "/areas?limit=5", "/login", "/health"]
# Starlette's test client throws a HEAD answer's body away itself: these are read from the
# ASGI messages the app sends, as a server gets them
Sent = list[dict[str, Any]]


@pytest.fixture()
def app(db):  # noqa: ANN001, ANN201
    return create_app(db)


@pytest.fixture()
def client(app, auth_headers) -> Iterator[TestClient]:  # noqa: ANN001
    with TestClient(app, headers=auth_headers("admin")) as c:
        yield c


def _call(app, method: str, url: str, headers: dict[str, str]) -> Sent:  # noqa: ANN001
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent: Sent = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while not any(_last(m) for m in sent):  # the client leaves once the answer is in
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _last(message: dict[str, Any]) -> bool:
    body = message["type"] in ("http.response.body", "http.response.pathsend")
    return body and not message.get("more_body", False)


def _start(sent: Sent) -> tuple[int, list[tuple[bytes, bytes]]]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], start["headers"]


_NONCE = re.compile(rb"'nonce-[^']+'")


def _comparable(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers as they compare: a page's CSP nonce is fresh in each answer (T42 #5), and so
    is a compressed page's length with it."""
    lower = [(k.lower(), v) for k, v in headers]
    nonced = any(k == b"content-security-policy" and b"'nonce-" in v for k, v in lower)
    zipped = any(k == b"content-encoding" for k, _ in lower)
    return [
        (k, _NONCE.sub(b"'nonce-N'", v))
        for k, v in lower
        if not (nonced and zipped and k == b"content-length")
    ]


def _body(sent: Sent) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"].startswith("http.response.b"))


@pytest.mark.parametrize("url", PATHS)
def test_head_answers_as_get_does_without_the_body(client, url: str) -> None:
    get, head = client.get(url), client.head(url)
    assert get.status_code == 200, (url, get.text[:300])
    assert head.status_code == 200, url
    # Content-Type, Content-Length, ETag, ...
    assert _comparable(head.headers.raw) == _comparable(get.headers.raw), url
    assert head.content == b""


@pytest.mark.parametrize("url", PATHS)
def test_no_body_bytes_leave_the_app_for_a_head(app, auth_headers, url: str) -> None:
    headers = {**auth_headers("admin"), "accept-encoding": "gzip"}
    get, head = _call(app, "GET", url, headers), _call(app, "HEAD", url, headers)
    (code, headers), (get_code, get_headers) = _start(head), _start(get)
    assert (code, _comparable(headers)) == (get_code, _comparable(get_headers)), url
    assert _body(get) and _body(head) == b"", url
    assert all(m["type"] != "http.response.pathsend" for m in head)


def test_head_without_a_token_is_refused_as_get_is(app) -> None:  # noqa: ANN001
    with TestClient(app) as c:
        for url in ("/maps", "/areas", "/maps/grids", "/tracks"):
            get, head = c.get(url), c.head(url)
            assert get.status_code == head.status_code == 401, url
            assert head.headers == get.headers and head.content == b"", url
            assert head.headers["www-authenticate"] == "Bearer"
        # a browser (Accept: text/html) opening a map page goes to the sign-in page, either way
        page = {"Accept": "text/html"}
        get = c.get("/maps", headers=page, follow_redirects=False)
        head = c.head("/maps", headers=page, follow_redirects=False)
        assert get.status_code == head.status_code == 303
        assert head.headers["location"] == get.headers["location"] == "/login?next=/maps"
    sent = _call(app, "HEAD", "/areas", {})
    assert _start(sent)[0] == 401 and _body(sent) == b""


def test_a_missing_static_file_is_a_404_for_head_too(client) -> None:
    url = "/maps/static/no-such-file.js"
    get, head = client.get(url), client.head(url)
    assert get.status_code == head.status_code == 404
    assert head.headers == get.headers and head.content == b""


def test_a_405_lists_head_where_get_is_allowed(client) -> None:
    for url in ("/areas", "/maps", "/maps/static/gridward.js", "/health"):
        r = client.delete(url)
        assert r.status_code == 405, url
        assert r.headers["allow"] == "GET, HEAD", url
    r = client.put("/tracks")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"
    r = client.head("/auth/token")  # a path with no GET has no HEAD either
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = client.post("/areas/", follow_redirects=False)
    assert r.json()["error"] == (
        "路径 /areas/ 不存在：去掉末尾的 / 的路径 /areas 可用 GET、HEAD，不可用 POST "
        "not found: /areas/; the path without the trailing slash, /areas, takes GET, HEAD, "
        "not POST"
    )
