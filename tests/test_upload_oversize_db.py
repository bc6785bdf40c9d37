"""A file over the upload limit among others (T67 #3), the body limits' words on other routes
(#18), a form sent to a JSON route (#19), and one file sent by two accounts at once (#20).

Real PostGIS, the demo city and its people (DEMO0002), the real GPX samples: 250808726.gpx
(25 KB, 68 fixes) is the good file, and with the per-file limit at 512 KiB
(GRIDWARD_MAX_UPLOAD_BYTES), 220267559.gpx (836 KB) is the one over it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.limits import FORM_OVERHEAD, TOTAL_FILES, describe_bytes, describe_bytes_zh
from tests.dbcheck import fingerprint

LIMIT = 512 * 1024  # GRIDWARD_MAX_UPLOAD_BYTES in these tests
GOOD = "250808726.gpx"
BIG = "220267559.gpx"
PERSON = "DEMO0002"


def _too_big(name: str, limit: int = LIMIT) -> str:
    """A file's own 413, as POST /tracks and `tracks upload` word it."""
    return (
        f"文件 {name} 过大：每个文件最多 {describe_bytes_zh(limit)} "
        f"{name}: file too large: the limit is {describe_bytes(limit)} per file"
    )


@pytest.fixture
def samples(shared_data: Path) -> dict[str, bytes]:
    folder = shared_data / "gpx_samples" / "garmin_connect_beijing"
    files = {name: (folder / name).read_bytes() for name in (GOOD, BIG)}
    assert len(files[GOOD]) < LIMIT < len(files[BIG])
    return files


@pytest.fixture
def city(db):  # noqa: ANN001, ANN201
    """The demo city's areas, streets and people (no grids: not needed to store a walk)."""
    from geo.demo import load_city, make_people

    load_city(db)
    make_people(db, 0)
    return db


@pytest.fixture
def small_limit(monkeypatch) -> Iterator[None]:  # noqa: ANN001
    """GRIDWARD_MAX_UPLOAD_BYTES at 512 KiB, for the app and for the CLI's processes."""
    from geo.settings import get_settings

    monkeypatch.setenv("GRIDWARD_MAX_UPLOAD_BYTES", str(LIMIT))
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("GRIDWARD_MAX_UPLOAD_BYTES")
    get_settings.cache_clear()


@pytest.fixture
def client(city, small_limit, auth_headers) -> Iterator[tuple[TestClient, dict]]:  # noqa: ANN001
    with TestClient(create_app(city), raise_server_exceptions=False) as c:
        yield c, auth_headers("admin")


def _post(client: TestClient, headers: dict, files: list[tuple[str, bytes]], **fields: str):
    return client.post(
        "/tracks",
        files=[("file", (name, io.BytesIO(d), "application/gpx+xml")) for name, d in files],
        data={"person": PERSON, **fields},
        headers=headers,
    )


def _listed(client: TestClient, headers: dict) -> list[dict]:
    r = client.get("/tracks", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["tracks"]


def _person_id(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM people WHERE external_id = :e"), {"e": PERSON}
            ).scalar_one()
        )


# ---- T67 #3: the file over the limit refused alone, the others stored ----


@pytest.mark.parametrize("big_first", [False, True], ids=["good_then_big", "big_then_good"])
def test_a_file_over_the_limit_is_refused_alone_and_the_other_is_stored(
    client, samples, big_first: bool
) -> None:
    """Old code: 413 for the whole request, no ``files``, the good file not stored."""
    c, admin = client
    sent = [(GOOD, samples[GOOD]), (BIG, samples[BIG])]
    if big_first:
        sent.reverse()
    r = _post(c, admin, sent)
    assert r.status_code == 201, r.text  # as a truncated GPX beside a good one
    files = {f["filename"]: f for f in r.json()["files"]}
    assert [f["filename"] for f in r.json()["files"]] == [name for name, _ in sent]
    assert files[BIG] == {
        "filename": BIG,
        "error": _too_big(BIG),
        "status": 413,
        "code": "too_large",
    }
    good = files[GOOD]
    assert good["created"] is True and good["status"] == "matched", good
    assert good["n_points"] == samples[GOOD].count(b"<trkpt") == 68
    listed = _listed(c, admin)
    assert [(t["id"], t["filename"], t["n_points"]) for t in listed] == [
        (good["track_id"], GOOD, 68)
    ]
    assert listed[0]["person_id"] == _person_id(c.app.state.engine)
    # the same bytes again: stored already (the tester's created:true showed it was not)
    r = _post(c, admin, [(GOOD, samples[GOOD])])
    assert r.status_code == 200 and r.json()["files"][0]["created"] is False, r.text


def test_deferred_the_file_over_the_limit_is_refused_alone_and_the_other_queued(
    client, samples
) -> None:
    c, admin = client
    r = _post(c, admin, [(BIG, samples[BIG]), (GOOD, samples[GOOD])], defer="true")
    assert r.status_code == 202, r.text
    big, good = r.json()["files"]
    assert big == {"filename": BIG, "error": _too_big(BIG), "status": 413, "code": "too_large"}
    assert good["filename"] == GOOD and good["created"] is True, good
    assert good["status"] in ("queued", "matching", "matched"), good
    assert r.json()["job_id"] and r.json()["job_url"]
    assert [t["id"] for t in _listed(c, admin)] == [good["track_id"]]


def test_only_files_over_the_limit_are_each_named_and_nothing_is_stored(client, samples) -> None:
    """Every file over the limit: that error, each file in ``files`` (old code: no ``files``;
    the second file was never named)."""
    c, admin = client
    before = fingerprint(c.app.state.engine)
    r = _post(c, admin, [(BIG, samples[BIG])])
    assert r.status_code == 413, r.text
    assert r.json()["error"] == _too_big(BIG)  # named once, not "220267559.gpx: 文件 …"
    assert r.json()["files"] == [
        {"filename": BIG, "error": _too_big(BIG), "status": 413, "code": "too_large"}
    ]
    r = _post(c, admin, [(BIG, samples[BIG]), ("copy.gpx", samples[BIG])])
    assert r.status_code == 413, r.text
    assert r.json()["error"] == f"{_too_big(BIG)}; {_too_big('copy.gpx')}"
    assert [f["status"] for f in r.json()["files"]] == [413, 413]
    assert fingerprint(c.app.state.engine) == before


def _form(parts: list[tuple[str, bytes]], fields: dict[str, str]) -> list[bytes]:
    """A multipart body in 64 KiB chunks, as a client streams it."""
    body = b"".join(
        f'--xyz\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    for name, data in parts:
        body += (
            f'--xyz\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/gpx+xml\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += b"--xyz--\r\n"
    return [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]


def test_the_whole_request_over_its_limit_names_the_file_over_its_own(client, samples) -> None:
    """A file past the request's limit (5 files at the limit), its body streamed in (no
    Content-Length): the request is refused, nothing stored, and the words name that file
    (old code: 文件 X 过大 alone, as if the others were stored). Declared so at the door:
    the many-files words, now saying nothing was stored and that a file over the limit
    cannot go at all (old code: "send fewer files" alone, to one file)."""
    from tests.test_upload_limits_db import _drive

    c, admin = client
    before = fingerprint(c.app.state.engine)
    cap = TOTAL_FILES * LIMIT
    huge = samples[BIG] + b"<!--" + b"x" * (cap + FORM_OVERHEAD) + b"-->"
    headers = [
        (b"authorization", admin["Authorization"].encode()),
        (b"content-type", b"multipart/form-data; boundary=xyz"),
        (b"host", b"testserver"),
    ]
    chunks = _form([(GOOD, samples[GOOD]), ("huge.gpx", huge)], {"person": PERSON})
    status, said, pulled = _drive(c.app, "/tracks", headers, chunks)
    assert status == 413, said
    assert pulled <= (cap + FORM_OVERHEAD) // (64 * 1024) + 3, pulled  # cut off at the cap
    assert (
        f"请求体过大，未存储任何文件：文件 huge.gpx 超过每个文件 {describe_bytes_zh(LIMIT)} 的"
        f"上限，整个请求也超过了文件合计 {describe_bytes_zh(cap)} 的上限" in said
    ), said
    assert (
        "request body too large, nothing was stored: huge.gpx is over the limit of "
        f"{describe_bytes(LIMIT)} per file" in said
    ), said
    assert fingerprint(c.app.state.engine) == before
    # cut off inside the file over the limit (no closing boundary): that file named, 413
    # (old code: its 413 alone; a 422 "send it again" once it was read on)
    cut = b"".join(_form([(GOOD, samples[GOOD]), ("huge.gpx", samples[BIG])], {}))
    cut = cut[: -len(b"\r\n--xyz--\r\n")]
    status, said, _pulled = _drive(c.app, "/tracks", headers, [cut])
    assert status == 413, said
    each = describe_bytes_zh(LIMIT)
    assert f"文件 huge.gpx 过大：每个文件最多 {each}；上传的表单也不完整" in said, said
    assert "the upload body was also cut off before its closing boundary" in said, said
    assert fingerprint(c.app.state.engine) == before
    r = c.post("/tracks", headers={**admin, "Content-Length": str(10 * cap)}, content=b"x")
    assert r.status_code == 413, r.text
    said = r.json()["error"]
    assert said.startswith("请求体过大，未存储任何文件：每次请求的文件合计最多"), said
    assert f"（超过 {describe_bytes_zh(LIMIT)} 的文件无法上传）" in said, said
    assert "send fewer files at a time" in said and "nothing was stored" in said, said


# ---- the command line ----


@pytest.mark.parametrize("big_first", [False, True], ids=["good_then_big", "big_then_good"])
def test_cli_upload_refuses_the_file_over_the_limit_on_its_line_and_stores_the_other(
    city, small_limit, samples, shared_data, pg_url, big_first: bool
) -> None:
    """One line per file, the big one in the API's words; exit 2 and one error: line (as
    any file not stored). Old code: 文件过大：文件超过 524,288 字节的上限 (other words)."""
    from tests.test_import import run_cli

    folder = shared_data / "gpx_samples" / "garmin_connect_beijing"
    paths = [str(folder / GOOD), str(folder / BIG)]
    if big_first:
        paths.reverse()
    res = run_cli(["tracks", "upload", *paths, "--person", PERSON], pg_url)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = {line.split(":")[0]: line for line in res.stdout.splitlines() if ": " in line}
    assert lines[BIG] == f"{BIG}: 上传失败 error: {_too_big(BIG)}", res.stdout
    assert lines[GOOD].startswith(f"{GOOD}: 轨迹 "), res.stdout
    assert [x for x in res.stderr.splitlines() if x.startswith("error:")] == [
        "error: 2 个轨迹文件中有 1 个未存储，原因见上面各行 "
        "1 of 2 track file(s) not stored: see their lines above"
    ], res.stderr
    with city.connect() as conn:
        rows = conn.execute(text("SELECT filename, person_id FROM tracks")).all()
    assert [(r.filename, r.person_id) for r in rows] == [(GOOD, _person_id(city))]


# ---- T67 #18, #19: the words of the other routes ----


def test_a_json_route_is_never_told_the_upload_words(db, auth_headers) -> None:
    """Default limits: a 120 MB JSON body declared to POST /auth/api-tokens is told that
    route's limit (20.06 MB), as 21 MB and 60 MB bodies are; POST /tracks keeps its
    many-files words. Old code: "请求体过大，请分批上传 … send fewer files" to the JSON route.
    The body is declared, not sent: the door refuses it before reading a byte."""
    admin = auth_headers("admin")
    json_cap = 20 * 1024 * 1024 + FORM_OVERHEAD
    right = (
        f"请求体过大：上限为 {describe_bytes_zh(json_cap)} "
        f"request body too large: the limit is {describe_bytes(json_cap)}"
    )
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        for mb in (21, 60, 120):
            r = c.post(
                "/auth/api-tokens",
                content=b'{"name": "x"}',
                headers={
                    **admin,
                    "content-type": "application/json",
                    "Content-Length": str(mb * 1024 * 1024),
                },
            )
            assert r.status_code == 413, (mb, r.text)
            assert r.json()["error"] == right, (mb, r.json())
        r = c.post(
            "/tracks",
            content=b"x",
            headers={**admin, "Content-Length": str(120 * 1024 * 1024)},
        )
        assert r.status_code == 413 and "send fewer files" in r.json()["error"], r.text


def test_a_form_sent_to_a_json_route_is_a_415(db, auth_headers) -> None:
    """Old code: 422 请求体须为 JSON 对象. JSON that is no object stays a 422."""
    admin = auth_headers("admin")
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        r = c.post("/auth/api-tokens", data={"name": "x"}, headers=admin)
        assert r.status_code == 415, r.text
        assert r.json()["error"] == (
            "请求体须为 JSON：请用 Content-Type: application/json 发送 JSON 对象"
            "（收到的内容类型为 'application/x-www-form-urlencoded'） "
            "the request body must be JSON: send a JSON object with Content-Type: "
            "application/json (got content type 'application/x-www-form-urlencoded')"
        )
        # JSON sent as text (fetch's default for a string body): the same 415
        r = c.post(
            "/auth/api-tokens",
            content=b'{"name": "x"}',
            headers={**admin, "content-type": "text/plain"},
        )
        assert r.status_code == 415 and "'text/plain'" in r.json()["error"], r.text
        r = c.post("/auth/api-tokens", json=[1], headers=admin)  # JSON, but not an object
        assert r.status_code == 422 and "请求体须为 JSON 对象" in r.json()["error"], r.text
        r = c.post("/auth/api-tokens", json={"name": "x"}, headers=admin)
        assert r.status_code == 201, r.text  # as JSON it is taken


# ---- T67 #20: one file sent by two accounts at once ----


def test_the_same_file_stored_meanwhile_is_answered_same_file(city, samples, monkeypatch) -> None:
    """The race's loser: its first look found nothing, then the other upload stored the
    same bytes while this one parsed them. Old code: ``duplicate: same_walk`` (its fixes
    were found before its bytes); now ``same_file``, one track."""
    import geo.track_store as store

    data = samples[GOOD]
    person = _person_id(city)
    parse = store.check_upload
    raced: list[dict] = []

    def parse_while_another_stores(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        parsed = parse(*args, **kwargs)
        if not raced:  # the other account's upload of these bytes lands now
            raced.append({})
            raced[0] = store.ingest_track(city, data, GOOD, "wgs84", person, "planner_b")
        return parsed

    monkeypatch.setattr(store, "check_upload", parse_while_another_stores)
    loser = store.ingest_track(city, data, GOOD, "wgs84", person, "admin_a")
    winner = raced[0]
    assert winner["created"] is True and winner["duplicate"] is None, winner
    assert loser["track_id"] == winner["track_id"] and loser["created"] is False, loser
    assert loser["duplicate"] == "same_file", loser
    with city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tracks")).scalar() == 1
