"""Upload size limits of POST /tracks (api/limits.py): GRIDWARD_MAX_UPLOAD_BYTES holds for each
FILE (413 naming it), the whole request may carry several files at that limit (the patrol map
sends every chosen file in one request) up to a total cap, and every limit holds while the body
streams in. A small limit (1 MiB) keeps the files small; the rules scale with the setting."""

from __future__ import annotations

import asyncio
import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.limits import FORM_OVERHEAD, TOTAL_FILES, describe_bytes
from tests.dbcheck import fingerprint

MIB = 1024 * 1024
LIMIT = MIB  # GRIDWARD_MAX_UPLOAD_BYTES in these tests
SAID = "1 MB (1,048,576 bytes)"  # the limit as the messages state it
SAID_ZH = "1 MB（1,048,576 字节）"  # and in their Chinese part


def _too_big(name: str) -> str:
    """The 413 an upload of a file over the limit gets, the file named."""
    return (
        f"文件 {name} 过大：每个文件最多 {SAID_ZH} "
        f"{name}: file too large: the limit is {SAID} per file"
    )


@pytest.fixture
def env(db, auth_headers, monkeypatch):
    """An app whose upload limit is 1 MiB per file, and an admin's headers."""
    from geo.settings import get_settings

    monkeypatch.setenv("GRIDWARD_MAX_UPLOAD_BYTES", str(LIMIT))
    get_settings.cache_clear()
    try:
        with TestClient(create_app(db), raise_server_exceptions=False) as client:
            yield client, auth_headers("admin"), db
    finally:
        monkeypatch.delenv("GRIDWARD_MAX_UPLOAD_BYTES")
        get_settings.cache_clear()


def _gpx(size: int, seed: int = 0, n: int = 20) -> bytes:
    """A valid GPX walk of exactly ``size`` bytes (an XML comment pads it); ``seed`` makes the
    bytes (and so the stored track) differ."""
    t0 = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=3, minutes=seed)
    pts = "".join(
        f'<trkpt lat="{39.995 + i * 1e-5:.6f}" lon="{116.316 + i * 1e-5 + seed * 1e-4:.6f}">'
        f"<time>{(t0 + pd.Timedelta(seconds=5 * i)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time></trkpt>"
        for i in range(n)
    )
    head = (
        '<?xml version="1.0"?><gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>' + pts
    )
    tail = "</trkseg></trk></gpx>"
    pad = size - len(head) - len(tail) - len("<!---->")
    assert pad >= 0
    data = (head + "<!--" + "x" * pad + "-->" + tail).encode()
    assert len(data) == size
    return data


def _post(client: TestClient, headers: dict, files: list[tuple[str, bytes]]):
    return client.post(
        "/tracks",
        files=[("file", (name, io.BytesIO(d), "application/gpx+xml")) for name, d in files],
        headers=headers,
    )


def _n_tracks(db) -> int:
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM tracks")).scalar() or 0)


def test_describe_bytes_states_the_limit_as_configured() -> None:
    assert describe_bytes(20 * MIB) == "20 MB (20,971,520 bytes)"
    assert describe_bytes(1_000_000) == "0.95 MB (1,000,000 bytes)"
    assert describe_bytes(MIB + MIB // 2) == "1.5 MB (1,572,864 bytes)"
    assert describe_bytes(5000) == "4.88 KB (5,000 bytes)"  # was "0 MB"


def test_several_files_each_under_the_limit_go_in_one_request(env) -> None:
    """Three files of 0.8 MiB: 2.4 MiB together, over the per-file limit but each under it
    (was: 413 "request body too large" for the whole request, no file named)."""
    client, admin, db = env
    files = [(f"walk{i}.gpx", _gpx(int(0.8 * LIMIT), seed=i)) for i in range(3)]
    r = _post(client, admin, files)
    assert r.status_code == 201, r.text
    assert [f["filename"] for f in r.json()["files"]] == ["walk0.gpx", "walk1.gpx", "walk2.gpx"]
    assert all("track_id" in f for f in r.json()["files"]), r.json()
    assert _n_tracks(db) == 3


def test_a_file_over_the_limit_is_named_with_the_limit_and_nothing_is_stored(env) -> None:
    client, admin, db = env
    before = fingerprint(db)
    exact = _gpx(LIMIT, seed=1)
    over = _gpx(LIMIT + 1, seed=2)
    # alone (beside a good file it is refused on its own, the other stored: T67 #3,
    # tests/test_upload_oversize_db.py)
    r = _post(client, admin, [("just_over.gpx", over)])
    assert r.status_code == 413, r.text
    said = r.json()["error"]
    assert said == _too_big("just_over.gpx")
    # a bigger one says the same limit (was: the limit plus 64 KiB of form overhead)
    r = _post(client, admin, [("big.gpx", _gpx(LIMIT + 2 * FORM_OVERHEAD, seed=4))])
    assert r.status_code == 413
    assert r.json()["error"] == _too_big("big.gpx")
    # the same as a raw body: named by X-Filename
    r = client.post(
        "/tracks",
        content=over,
        headers={**admin, "content-type": "application/gpx+xml", "x-filename": "raw.gpx"},
    )
    assert r.status_code == 413
    assert r.json()["error"] == _too_big("raw.gpx")
    assert fingerprint(db) == before
    # exactly the limit is allowed
    r = _post(client, admin, [("exact.gpx", exact)])
    assert r.status_code == 201, r.text


def test_the_whole_request_has_a_total_cap(env) -> None:
    """TOTAL_FILES files at the limit (plus the form) per request: a client cannot stream
    unbounded data by sending many files."""
    client, admin, db = env
    n = TOTAL_FILES + 1
    files = [(f"w{i}.gpx", _gpx(int(0.95 * LIMIT), seed=i)) for i in range(n)]
    r = _post(client, admin, files)
    assert r.status_code == 413, r.text
    msg = r.json()["error"]
    assert "request body too large" in msg and "send fewer files" in msg, msg
    assert describe_bytes(TOTAL_FILES * LIMIT) in msg and SAID in msg, msg
    assert _n_tracks(db) == 0


def test_at_most_50_files_per_request(env) -> None:
    client, admin, db = env
    files = [(f"w{i}.gpx", _gpx(1500, seed=i, n=3)) for i in range(51)]
    r = _post(client, admin, files)
    assert r.status_code == 413, r.text
    assert (
        r.json()["error"]
        == "文件太多，每次最多 50 个 " + "too many files: at most 50 files per request"
    )
    assert _n_tracks(db) == 0


def _drive(app, path: str, headers: list, chunks: list[bytes], pause_s: float = 0.0):
    """Send a chunked body (no Content-Length) straight to the ASGI app: the response and how
    many chunks the app pulled before answering. ``pause_s`` before each chunk after the
    first (a slow client); a chunk of None is the client hanging up."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        if pulled > 1 and pause_s:
            await asyncio.sleep(pause_s)
        if pulled > len(chunks) or chunks[pulled - 1] is None:
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body.decode(), pulled


def test_limits_hold_while_streaming(env) -> None:
    """A 20 MiB file is cut off at the request limit (its bytes past the per-file limit
    dropped), not read to its end; a route without its own limit (JSON) keeps the limit plus
    the form allowance."""
    client, admin, db = env
    app = client.app
    chunk = b"<" * (64 * 1024)
    head = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="endless.gpx"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    headers = [
        (b"authorization", admin["Authorization"].encode()),
        (b"content-type", b"multipart/form-data; boundary=xyz"),
        (b"host", b"testserver"),
    ]
    status, body, pulled = _drive(app, "/tracks", headers, [head + chunk] + [chunk] * 319)
    # past its own limit its bytes are dropped, read on for the files after it (T67 #3), up
    # to the whole request's limit, which then names it
    assert status == 413 and "endless.gpx is over the limit" in body, body
    assert pulled <= (TOTAL_FILES * LIMIT + FORM_OVERHEAD) // len(chunk) + 3, pulled
    # many files, each under the limit: cut off at the total cap
    parts = b"".join(
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="w%d.gpx"\r\n'
        b"Content-Type: application/gpx+xml\r\n\r\n%s\r\n" % (i, _gpx(int(0.95 * LIMIT), i))
        for i in range(TOTAL_FILES + 2)
    )
    chunks = [parts[i : i + len(chunk)] for i in range(0, len(parts), len(chunk))]
    status, body, pulled = _drive(app, "/tracks", headers, chunks)
    assert status == 413 and "send fewer files" in body, body
    assert pulled <= (TOTAL_FILES * LIMIT + FORM_OVERHEAD) // len(chunk) + 3, pulled
    json_headers = [*headers[:1], (b"content-type", b"application/json"), headers[2]]
    status, body, pulled = _drive(app, "/auth/api-tokens", json_headers, [chunk] * 320)
    assert status == 413 and "request body too large" in body, body
    assert pulled <= (LIMIT + FORM_OVERHEAD) // len(chunk) + 3
    # a declared length: over the route's own cap refused before the body is read ...
    r = client.post(
        "/auth/api-tokens", content=b"{" * (2 * LIMIT), headers={**admin, "content-type": "x"}
    )
    assert r.status_code == 413 and "request body too large" in r.json()["error"]
    # ... and over the largest any route allows at the door
    r = client.post("/tracks", headers={**admin, "Content-Length": str(10**12)}, content=b"x")
    assert r.status_code in (400, 413) and "error" in r.json()
    assert _n_tracks(db) == 0


def test_a_workbook_sent_as_a_raw_body_is_read(env) -> None:
    """An .xlsx (or NMEA log) sent as the body itself, as a phone app's HTTP POST does: its
    content type is accepted (was a 415) and the file is read as a track."""
    import openpyxl

    client, admin, db = env
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["经度", "纬度", "时间"])
    t0 = pd.Timestamp("2026-11-20 08:00:00")
    for i in range(20):
        ws.append(
            [116.3200 + i * 1e-4, 39.9900, (t0 + pd.Timedelta(seconds=5 * i)).to_pydatetime()]
        )
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = client.post("/tracks", content=buf.getvalue(), headers={**admin, "content-type": xlsx})
    assert r.status_code == 201, r.text
    item = r.json()["files"][0]
    with db.connect() as conn:
        started = conn.execute(
            text("SELECT started_at FROM tracks WHERE id = :t"), {"t": item["track_id"]}
        ).scalar()
    # a date cell without a zone is city time (Asia/Shanghai): 08:00 is 00:00 UTC
    assert pd.Timestamp(started) == pd.Timestamp("2026-11-20 00:00:00", tz="UTC")


_HEAD = (
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.gpx"\r\n'
    b"Content-Type: application/gpx+xml\r\n\r\n"
)


def _headers(admin: dict) -> list[tuple[bytes, bytes]]:
    return [
        (b"authorization", admin["Authorization"].encode()),
        (b"content-type", b"multipart/form-data; boundary=xyz"),
        (b"host", b"testserver"),
    ]


def test_a_body_that_trickles_in_is_cut_off_and_stores_nothing(env, monkeypatch, request) -> None:
    """A body averaging less than GRIDWARD_BODY_MIN_RATE after the grace time is a 408
    naming the rule: a tester's clients trickling 5 bytes/s held their requests open for
    good. A body that keeps up is read whole. The rule is read from the settings."""
    from geo.settings import get_settings

    client, admin, db = env
    monkeypatch.setenv("GRIDWARD_BODY_GRACE_S", "0.2")
    monkeypatch.setenv("GRIDWARD_BODY_MIN_RATE", "50000")
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    walk = _gpx(20_000, 1)
    slow = [_HEAD] + [walk[i : i + 5] for i in range(0, 400, 5)]
    status, body, pulled = _drive(client.app, "/tracks", _headers(admin), slow, pause_s=0.05)
    assert status == 408 and "must average 50,000 bytes/s after 0.2 s" in body, body
    assert pulled < len(slow)
    fast = [_HEAD + walk[:10_000], walk[10_000:] + b"\r\n--xyz--\r\n"]
    status, body, _ = _drive(client.app, "/tracks", _headers(admin), fast, pause_s=0.05)
    assert status == 201, body
    assert _n_tracks(db) == 1


def test_a_client_hanging_up_is_a_quiet_400(env, caplog) -> None:
    """A client that hangs up mid-body stores nothing and is logged as one info line, not as
    an unhandled error with a traceback (a tester counted 404 of those in a server log)."""
    client, admin, db = env
    chunks = [_HEAD + _gpx(20_000, 2)[:5_000], None]
    with caplog.at_level("INFO", logger="gridward.api"):
        status, body, _ = _drive(client.app, "/tracks", _headers(admin), chunks)
    assert status == 400 and "disconnected" in body, body
    assert _n_tracks(db) == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
