"""How many track uploads run at once (outside tester T42 #3), on PostGIS.

Old code: nothing bounded them. One steward's four 19 MB CSVs sent in parallel took the server
to 1.5 GB and /health to 4.5 s. Now an account has GRIDWARD_UPLOADS_PER_USER (1) uploads in
progress at once, the process parses and matches GRIDWARD_UPLOADS_AT_ONCE at once (a request
waits GRIDWARD_UPLOAD_WAIT_S for a place); the others get 429 with Retry-After, nothing
stored, and the same file sent again later is taken. Each upload here is held inside its
parse (geo.track_store.ingest_track) until the test lets it go.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_upload_limits_db import _gpx

PER_USER = (
    "正在处理您的另一批上传，请等它完成后再传（每个账号同时最多 1 批，约 5 秒后再试）；"
    "本批未存储任何文件 another upload of yours is being processed (at most 1 at a time per "
    "account): send this one once it is done (in about 5 s); nothing of this one was stored"
)


def _busy(limit: int, wait: float) -> str:
    return (
        f"服务器正忙于其他上传（同时最多处理 {limit} 批，已等 {wait:g} 秒），请约 5 秒后重新上传；"
        f"本批未存储任何文件 the server is busy with other uploads (at most {limit} at a time; "
        f"waited {wait:g} s): send it again in about 5 s; nothing of this one was stored"
    )


class Held:
    """ingest_track, each call held until ``release`` is set; ``entered`` counts the calls
    that got in (a semaphore: the test waits for the n-th)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.calls = 0
        self.fail: BaseException | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.release()
        assert self.release.wait(60), "the held upload was never let go"
        if self.fail is not None:
            raise self.fail
        return self.real(*args, **kwargs)

    def wait_entered(self) -> None:
        assert self.entered.acquire(timeout=60), "the upload never reached its parse"


@pytest.fixture
def env(db, auth_headers, monkeypatch) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    from api.routes import tracks
    from geo.settings import get_settings

    monkeypatch.setenv("GRIDWARD_UPLOADS_AT_ONCE", "2")
    monkeypatch.setenv("GRIDWARD_UPLOAD_WAIT_S", "0")
    get_settings.cache_clear()
    held = Held(tracks.ingest_track)
    monkeypatch.setattr(tracks, "ingest_track", held)
    app = create_app(db)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield {
                "client": client,
                "app": app,
                "db": db,
                "held": held,
                "a": auth_headers("admin"),
                "b": auth_headers("admin"),  # another account
            }
    finally:
        held.release.set()
        get_settings.cache_clear()


def _post(client: TestClient, headers: dict, name: str, data: bytes) -> Any:
    return client.post(
        "/tracks",
        files=[("file", (name, io.BytesIO(data), "application/gpx+xml"))],
        headers=headers,
    )


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["r"] = fn()

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _tracks(db) -> list[str]:  # noqa: ANN001
    with db.connect() as conn:
        return list(conn.execute(text("SELECT filename FROM tracks ORDER BY id")).scalars())


def _free(app: Any) -> None:
    """No place left taken once every upload has answered."""
    slots = app.state.upload_slots
    assert slots._users == {} and slots._running == 0


def test_one_account_has_one_upload_in_progress(env) -> None:  # noqa: ANN001
    c, held, db = env["client"], env["held"], env["db"]
    one, two, three = _gpx(4000, 1), _gpx(4000, 2), _gpx(4000, 3)
    first, out = _in_thread(lambda: _post(c, env["a"], "one.gpx", one))
    held.wait_entered()

    r = _post(c, env["a"], "two.gpx", two)  # the same account meanwhile
    assert r.status_code == 429, r.text
    assert r.json() == {"error": PER_USER, "status": 429, "code": "too_many_requests"}
    assert r.headers["retry-after"] == "5"
    assert held.calls == 1  # never parsed

    # another account is not held up by it
    other, other_out = _in_thread(lambda: _post(c, env["b"], "three.gpx", three))
    held.wait_entered()
    held.release.set()
    first.join(60)
    other.join(60)
    assert out["r"].status_code == 201, out["r"].text
    assert other_out["r"].status_code == 201, other_out["r"].text
    assert sorted(_tracks(db)) == ["one.gpx", "three.gpx"]

    # sent again once the first is done: taken; the first again: the same track
    r = _post(c, env["a"], "two.gpx", two)
    assert r.status_code == 201, r.text
    again = _post(c, env["a"], "one.gpx", one)
    assert again.status_code == 200 and again.json()["files"][0]["created"] is False
    assert sorted(_tracks(db)) == ["one.gpx", "three.gpx", "two.gpx"]
    _free(env["app"])


def test_the_process_parses_a_few_at_once(env, monkeypatch) -> None:  # noqa: ANN001
    from geo.settings import get_settings

    c, held, db = env["client"], env["held"], env["db"]
    monkeypatch.setenv("GRIDWARD_UPLOADS_AT_ONCE", "1")
    get_settings.cache_clear()
    first, out = _in_thread(lambda: _post(c, env["a"], "one.gpx", _gpx(4000, 1)))
    held.wait_entered()

    r = _post(c, env["b"], "two.gpx", _gpx(4000, 2))  # no wait: refused at once
    assert r.status_code == 429, r.text
    assert r.json() == {"error": _busy(1, 0), "status": 429, "code": "too_many_requests"}
    assert r.headers["retry-after"] == "5"
    assert held.calls == 1

    # with a wait, the upload waits for the place and goes on once it is free
    monkeypatch.setenv("GRIDWARD_UPLOAD_WAIT_S", "60")
    get_settings.cache_clear()
    second, out2 = _in_thread(lambda: _post(c, env["b"], "two.gpx", _gpx(4000, 2)))
    second.join(0.5)
    assert second.is_alive() and held.calls == 1  # waiting, not parsing
    held.release.set()
    first.join(60)
    second.join(60)
    assert out["r"].status_code == 201 and out2["r"].status_code == 201, out2["r"].text
    assert held.calls == 2
    assert sorted(_tracks(db)) == ["one.gpx", "two.gpx"]
    _free(env["app"])


def test_places_are_given_back_after_a_refusal_or_a_failure(env) -> None:  # noqa: ANN001
    c, held, app = env["client"], env["held"], env["app"]
    held.release.set()  # nothing held here
    r = _post(c, env["a"], "bad.gpx", b"<gpx>not a track")
    assert r.status_code == 422
    r = c.post("/tracks", files=[("files", ("x.gpx", b"x"))], headers=env["a"])
    assert r.status_code == 422  # refused while reading the form
    held.fail = RuntimeError("boom")
    r = _post(c, env["a"], "boom.gpx", _gpx(4000, 5))
    assert r.status_code == 500
    held.fail = None
    _free(app)
    r = _post(c, env["a"], "ok.gpx", _gpx(4000, 6))
    assert r.status_code == 201, r.text
    _free(app)


def _stalled(n: int) -> str:
    return (
        f"您上一次的上传尚未传完（可能是网络中断的那一次）：若不再有数据传来，约 {n} 秒后自动放弃，"
        f"之后即可重传；本批未存储任何文件 your previous upload has not finished arriving "
        f"(maybe one cut off): if no more of it comes it is dropped within about {n} s, then "
        "send again; nothing of this one was stored"
    )


def test_a_stalled_upload_says_when_it_is_dropped(env) -> None:  # noqa: ANN001
    """T45 #2: an upload whose connection stayed open with only 3 KB of its body sent (a
    phone that lost its signal) held the account's place, and every retry was told
    "正在处理您的另一批上传…约 5 秒后再试" (Retry-After 5) for 30 s and more. Now the retry
    hears that the earlier upload is still arriving and when the body pace rule drops it,
    and Retry-After is that wait (at most the rule's grace here: 3 KB is under it). The
    body is streamed through httpx's ASGI transport, which hands it on as it comes."""
    import asyncio

    import httpx

    from geo.settings import get_settings

    app, db = env["app"], env["db"]
    env["held"].release.set()  # the parse is not what holds the place here
    grace = get_settings().body_grace_s
    boundary = "gw-t45-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="slow.gpx"\r\nContent-Type: application/gpx+xml\r\n\r\n'
        ).encode()
        + _gpx(4000, 7)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert len(body) > 3000

    async def run() -> tuple[httpx.Response, httpx.Response]:
        go_on = asyncio.Event()

        async def trickle() -> Any:
            yield body[:3000]
            await go_on.wait()  # the connection open, nothing more coming
            yield body[3000:]

        slots = app.state.upload_slots
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as ac:
            headers = {**env["a"], "content-type": f"multipart/form-data; boundary={boundary}"}
            first = asyncio.create_task(ac.post("/tracks", content=trickle(), headers=headers))
            for _ in range(1000):  # until it holds the place with its first 3 KB read
                if any(b is not None and b.seen for bs in slots._bodies.values() for b in bs):
                    break
                await asyncio.sleep(0.01)
            retry = await ac.post(
                "/tracks",
                files=[("file", ("again.gpx", _gpx(4000, 8), "application/gpx+xml"))],
                headers=env["a"],
            )
            go_on.set()
            return retry, await first

    retry, first = asyncio.run(run())
    assert retry.status_code == 429, retry.text
    n = int(retry.headers["retry-after"])
    assert 1 <= n <= grace + 1, n
    assert retry.json() == {"error": _stalled(n), "status": 429, "code": "too_many_requests"}
    assert retry.headers["connection"] == "close"
    assert first.status_code == 201, first.text  # the rest came: stored
    assert _tracks(db) == ["slow.gpx"]
    _free(app)


def test_the_defaults() -> None:
    from geo.settings import Settings

    s = Settings()
    assert s.uploads_per_user == 1 and 2 <= s.uploads_at_once <= 4 and s.upload_wait_s == 10
