"""The tracks API as a phone-app developer meets it (outside tester T40): its answers are
documented as they come back, a retried restore, re-sent files, status words, cut-off and
nameless uploads, street chiefs' refusals, strict ids, and the restore and withdrawal
refusals a steward hears. Real PostGIS, through the API."""

from __future__ import annotations

import threading

import numpy as np
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text

from api.app import create_app
from geo.day_networks import walk_network
from geo.track_store import ingest_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.dbcheck import fingerprint
from tests.test_tracks_db import _csv, _post, _second_steward, _walk_with_duty, demo, gpx_bytes  # noqa: F401
from tests.test_tracks_races_db import _wait_job


def _walk(db, seed: int, length_m: float = 400, start: str | None = None):
    params = SimParams(length_m=length_m, noise_m=5)
    if start:
        params = SimParams(length_m=length_m, noise_m=5, start=start)
    return simulate_patrol(walk_network(db), np.random.default_rng(seed), params)[0]


def _undocumented(model: BaseModel, where: str = "") -> list[str]:
    """The keys of a validated answer that its model (or a nested one) does not name."""
    out = [f"{where}.{k}" for k in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                out += _undocumented(item, f"{where}.{name}[{i}]")
    return out


def _valid(model: type[BaseModel], answer: dict) -> BaseModel:
    """``answer`` validated by ``model``, every key of it documented."""
    found = model.model_validate(answer)
    assert _undocumented(found) == [], (model.__name__, _undocumented(found), answer)
    return found


def _count(db, sql: str = "SELECT count(*) FROM tracks") -> int:
    with db.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_openapi_documents_the_track_answers_and_real_answers_fit(demo, auth_headers):  # noqa: F811
    """(T40 #2) POST /tracks documented 201/202 with no schema and its 200 as {}, GET /tracks
    and GET /tracks/{id} untyped, crs an enum of three. Now each is a model, and real
    answers (a 201 holding a refused file, a re-send's 200, a deferred 202, a datum
    correction, the list, a track) validate with every key they hold documented."""
    from api.routes.tracks import TrackDetail, TrackList, UploadAnswer
    from geo.crs import wgs84_to_gcj02

    admin = auth_headers("admin")
    pts, other, third = _walk(demo, 41), _walk(demo, 42), _walk(demo, 43)
    gcj = _csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    with TestClient(create_app(demo)) as client:
        spec = client.get("/openapi.json").json()
        post = spec["paths"]["/tracks"]["post"]
        for code in ("200", "201", "202"):
            schema = post["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/UploadAnswer"}, (code, schema)
        assert "422" in post["responses"]["201"]["description"]
        assert "refused file" in post["description"] and "status" in post["description"]
        crs = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["crs"]
        assert "enum" not in crs and "cgcs2000" in crs["description"], crs
        schemas = spec["components"]["schemas"]
        files = schemas["UploadAnswer"]["properties"]["files"]["items"]["anyOf"]
        assert {f["$ref"].rsplit("/", 1)[1] for f in files} == {"UploadedFile", "FileRefused"}
        assert "status_label" in schemas["UploadedFile"]["required"]
        for path, name in (("/tracks", "TrackList"), ("/tracks/{track_id}", "TrackDetail")):
            ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
            assert ok["schema"] == {"$ref": f"#/components/schemas/{name}"}, path

        # a 201 with a refused file beside the stored ones
        r = _post(client, admin, [("a.csv", gcj), ("bad.csv", b"no,fixes\n1,2\n")], person_id=1)
        assert r.status_code == 201, r.text
        answer = _valid(UploadAnswer, r.json())
        assert [f.status for f in answer.files] == ["matched", 422]
        tid = r.json()["files"][0]["track_id"]
        assert r.json()["files"][0]["match"]["datum_hint"]["crs"] == "gcj02"
        # a re-send (200), the same file with the right datum (a correction, 200), and a
        # deferred upload (202)
        r = _post(client, admin, [("a.csv", gcj)], person_id=1)
        assert r.status_code == 200, r.text
        _valid(UploadAnswer, r.json())
        r = _post(client, admin, [("a.csv", gcj)], crs="gcj02")
        assert r.status_code == 200 and r.json()["files"][0]["crs_change"]["changed"], r.text
        _valid(UploadAnswer, r.json())
        r = _post(client, admin, [("b.csv", _csv(other))], defer="true", person_id=1)
        assert r.status_code == 202, r.text
        _valid(UploadAnswer, r.json())
        assert _wait_job(client, r.json()["job_url"], admin)["status"] == "done"
        # the list and a track, through the route's response_model: nothing cut or added
        _post(client, admin, [("c.csv", _csv(third))])
        listed = client.get("/tracks", headers=admin)
        assert listed.status_code == 200 and listed.json()["total"] == 3, listed.text
        _valid(TrackList, listed.json())
        assert all("datum_hint" in t and "late" in t for t in listed.json()["tracks"])
        page = client.get(f"/tracks/{tid}", headers=admin)
        assert page.status_code == 200, page.text
        _valid(TrackDetail, page.json())
        assert len(page.json()["matches"]) == 2 and page.json()["crs"] == "gcj02"
        assert page.json()["matches"][1]["datum_hint"]["crs"] == "gcj02"


def test_a_steward_retrying_a_restore_that_succeeded_is_told_it_is_not_withdrawn(
    demo,  # noqa: F811
    auth_headers,
):
    """(T40 #5) her retry was a 403 (小巷管家只能恢复本人的轨迹…): a restore clears who
    withdrew the track, and her rule read that. An admin got the 409; she does now."""
    steward = auth_headers("steward", person_id=1)
    pts = _walk(demo, 44)
    with TestClient(create_app(demo)) as client:
        tid = _post(client, steward, [("w.csv", _csv(pts))]).json()["files"][0]["track_id"]
        assert client.delete(f"/tracks/{tid}", headers=steward).status_code == 200
        r = client.post(f"/tracks/{tid}/restore", headers=steward)
        assert r.status_code == 200 and r.json()["status_label"] == "已匹配 matched", r.text
        before = fingerprint(demo)
        r = client.post(f"/tracks/{tid}/restore", headers=steward)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == (
            f"轨迹 {tid} 未撤回（状态 matched：已匹配），无需恢复 "
            f"track {tid} is not withdrawn (status matched)"
        )
        assert fingerprint(demo) == before
        # another steward still hears her 403, worded for street chiefs too (T40 #8)
        _second_steward(demo)
        r = client.post(f"/tracks/{tid}/restore", headers=auth_headers("steward", person_id=2))
        assert r.status_code == 403, r.text
        assert r.json()["error"].startswith("巡查人员（小巷管家/街巷长）只能恢复")
        assert r.json()["error"].endswith(
            "stewards may restore only their own tracks that they withdrew themselves"
        )


def test_a_resent_file_has_its_status_and_says_it_is_stored(demo, auth_headers):  # noqa: F811
    """(T40 #10) a re-sent file's entry had no status (every other entry has one) and no word
    that the file was stored already; crs_change had a message only when nothing changed."""
    from geo.crs import wgs84_to_gcj02

    admin = auth_headers("admin")
    pts = _walk(demo, 45)
    gcj = _csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    with TestClient(create_app(demo)) as client:
        first = _post(client, admin, [("a.csv", gcj)], person_id=1).json()["files"][0]
        assert first["created"] is True and first["duplicate"] is None
        assert (first["status"], first["status_label"]) == ("matched", "已匹配 matched")
        tid = first["track_id"]
        r = _post(client, admin, [("a.csv", gcj)], person_id=1)
        assert r.status_code == 200, r.text
        [item] = r.json()["files"]
        assert (item["status"], item["status_label"]) == ("matched", "已匹配 matched"), item
        assert item["created"] is False and item["duplicate"] == "same_file"
        assert item["note"] == (
            f"同一文件已存储为轨迹 {tid}，未再次存储 the same file is stored already as track "
            f"{tid}: not stored again"
        )
        # the same walk written otherwise (CRLF line ends): the same track, said how
        r = _post(client, admin, [("a2.csv", gcj.replace(b"\n", b"\r\n"))], person_id=1)
        [item] = r.json()["files"]
        assert (item["track_id"], item["duplicate"], item["status"]) == (
            tid,
            "same_walk",
            "matched",
        )
        assert "只是文件写法不同" in item["warnings"][0] and "note" not in item
        # the datum put right: said, as a datum kept is
        r = _post(client, admin, [("a.csv", gcj)], crs="gcj02")
        change = r.json()["files"][0]["crs_change"]
        assert change["changed"] is True, change
        assert change["message"] == (
            "坐标系已由 wgs84 改为 gcj02：定位点已按 gcj02 重新读取，轨迹将重新匹配 datum changed "
            "from wgs84 to gcj02: the fixes were read again and the track is matched again"
        )
        r = _post(client, admin, [("a.csv", gcj)], crs="wgs84")
        change = r.json()["files"][0]["crs_change"]
        assert change["changed"] is False and "kept as gcj02" in change["message"], change
        assert r.json()["files"][0]["status"] == "matched"


def test_the_same_bytes_sent_twice_at_once_say_the_file_is_stored(demo, monkeypatch):  # noqa: F811
    """(T40 #11) two requests with the same bytes at the same moment: the second was told
    "the same walk, only the file written differently" (它是同一文件). Both are held after
    the same-walk check until each has made it, as a phone's double send."""
    from geo import track_store

    pts = _walk(demo, 46, start="2026-03-04T01:00:00Z")
    data = _csv(pts)
    both_checked = threading.Barrier(2, timeout=30)
    same_walk = track_store._same_walk

    def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = same_walk(*args, **kwargs)
        if found is None:
            both_checked.wait()
        return found

    monkeypatch.setattr(track_store, "_same_walk", held)
    results: list[dict] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            results.append(ingest_track(demo, data, "walk.csv", person_id=1))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _count(demo) == 1
    new, again = sorted(results, key=lambda r: not r["created"])
    assert new["created"] and not again["created"], results
    assert again["duplicate"] == "same_file", again
    assert not any("写法不同" in w for w in again.get("warnings", [])), again
    assert again["note"].startswith(f"同一文件已存储为轨迹 {new['track_id']}")
    assert again["status"] in ("matched", "matching"), again


def test_every_track_answer_labels_its_status(demo, auth_headers):  # noqa: F811
    """(T40 #14) statuses were English codes only; each answer now has status_label beside
    status (kept as it was)."""
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("a.csv", _csv(_walk(demo, 47)))]).json()["files"][0]
        tid = tid["track_id"]
        r = _post(client, admin, [("q.csv", _csv(_walk(demo, 48)))], defer="true")
        assert r.json()["files"][0]["status_label"] == "排队等待匹配 queued"
        job = _wait_job(client, r.json()["job_url"], admin)
        assert job["status"] == "done", job
        assert [t["status_label"] for t in job["result"]["tracks"]] == ["已匹配 matched"]
        listed = client.get("/tracks", headers=admin).json()["tracks"]
        assert [(t["status"], t["status_label"]) for t in listed] == [
            ("matched", "已匹配 matched")
        ] * 2
        r = client.delete(f"/tracks/{tid}", headers=admin)
        assert r.json()["status_label"] == "已撤回 withdrawn", r.text
        page = client.get(f"/tracks/{tid}", headers=admin).json()
        assert (page["status"], page["status_label"]) == ("withdrawn", "已撤回 withdrawn")
        listed = client.get("/tracks", params={"status": "withdrawn"}, headers=admin).json()
        assert [t["status_label"] for t in listed["tracks"]] == ["已撤回 withdrawn"]


def _form(boundary: str, files: list[tuple[str, bytes]]) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="person_id"\r\n\r\n1\r\n'.encode()
    ]
    for name, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            "\r\nContent-Type: text/csv\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_a_cut_off_upload_is_said_so_and_stores_nothing(demo, auth_headers):  # noqa: F811
    """(T40 #16) a multipart body cut inside its file was told 缺少…'file' 字段; cut inside its
    second file, the first was stored and the second dropped without a word."""
    admin = auth_headers("admin")
    a, b = _csv(_walk(demo, 49)), _csv(_walk(demo, 50))
    body = _form("gwB0undary", [("a.csv", a), ("b.csv", b)])
    headers = {**admin, "content-type": "multipart/form-data; boundary=gwB0undary"}
    with TestClient(create_app(demo)) as client:
        before = fingerprint(demo)
        for cut in (len(body) - len(b) // 2, 200, len(body) - 5):
            r = client.post("/tracks", content=body[:cut], headers=headers)
            assert r.status_code == 422, (cut, r.text)
            assert r.json()["error"].startswith("上传的表单不完整：请求体在表单的结尾分隔线"), (
                r.text
            )
            assert "the upload body was cut off" in r.json()["error"]
        assert fingerprint(demo) == before
        # the whole body: both stored
        r = client.post("/tracks", content=body, headers=headers)
        assert r.status_code == 201 and len(r.json()["files"]) == 2, r.text
        # a form without a file at all still says so
        empty = b'--gwB0undary\r\nContent-Disposition: form-data; name="mode"\r\n\r\nwalk\r\n'
        r = client.post("/tracks", content=empty + b"--gwB0undary--\r\n", headers=headers)
        assert r.status_code == 422 and "'file'" in r.json()["error"], r.text


def test_a_file_sent_without_a_name_is_named_by_what_it_holds(demo, auth_headers):  # noqa: F811
    """(T40 #16) a text/plain raw body was answered filename: null. Named upload.<format> as
    read (a GPX sent as text/plain is upload.gpx), stored so; unreadable, upload."""
    admin = auth_headers("admin")
    pts, gpx_pts = _walk(demo, 51), _walk(demo, 52, start="2026-03-05T01:00:00Z")
    with TestClient(create_app(demo)) as client:
        for data, ctype, name in (
            (_csv(pts), "text/plain", "upload.csv"),
            (gpx_bytes(gpx_pts, "Z"), "text/plain", "upload.gpx"),
            (_csv(pts), "application/octet-stream", "upload.csv"),  # stored already: named too
        ):
            r = client.post("/tracks", content=data, headers={**admin, "content-type": ctype})
            assert r.status_code in (200, 201), r.text
            item = r.json()["files"][0]
            assert item["filename"] == name, item
            page = client.get(f"/tracks/{item['track_id']}", headers=admin).json()
            assert page["filename"] == name
        r = client.post(
            "/tracks",
            content=b"nothing here\n",
            headers={**admin, "content-type": "text/plain"},
        )
        assert r.status_code == 422 and r.json()["files"][0]["filename"] == "upload", r.text
        assert "upload: " in r.json()["error"], r.text
        # a named raw body keeps its name
        r = client.post(
            "/tracks",
            content=_csv(_walk(demo, 53)),
            headers={**admin, "content-type": "text/plain", "x-filename": "mine.csv"},
        )
        assert r.json()["files"][0]["filename"] == "mine.csv", r.text


def test_a_street_chief_is_refused_in_words_that_fit_her(demo, auth_headers):  # noqa: F811
    """(T40 #8) a street chief's account (linked to one person, as a steward's) read
    "小巷管家只能查看本人的轨迹"; the English stays as scripts match it."""
    with demo.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES "
                "('C1', '赵街长', ARRAY['street_chief'])"
            )
        )
    admin = auth_headers("admin")
    chief = auth_headers("steward", person_id=2)
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("a.csv", _csv(_walk(demo, 54)))], person_id=1)
        tid = tid.json()["files"][0]["track_id"]
        r = client.get(f"/tracks/{tid}", headers=chief)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == (
            "巡查人员（小巷管家/街巷长）只能查看本人的轨迹 stewards may read only their own tracks"
        )
        r = client.delete(f"/tracks/{tid}", headers=chief)
        assert r.status_code == 403 and r.json()["error"].startswith(
            "巡查人员（小巷管家/街巷长）只能撤回本人的轨迹 "
        ), r.text
        assert r.json()["error"].endswith("stewards may withdraw only their own tracks")
        r = _post(client, chief, [("b.csv", _csv(_walk(demo, 55)))], person="S1")
        assert r.status_code == 403, r.text
        assert r.json()["error"].startswith("巡查人员（小巷管家/街巷长）只能为本人上传")
        assert "stewards may act only for themselves: person 'S1' is not you" in r.json()["error"]


def test_track_ids_and_person_ids_in_bodies_are_whole_numbers(demo, auth_headers):  # noqa: F811
    """(T39 M4 leftover) PATCH /tracks/{id} {"person_id": true} gave the track to person 1,
    POST /tracks/rematch {"track_ids": [true]} queued track 1."""
    admin = auth_headers("admin")
    _second_steward(demo)
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("a.csv", _csv(_walk(demo, 56)))], person_id=2)
        tid = tid.json()["files"][0]["track_id"]
        before = fingerprint(demo)
        for body in ({"person_id": True}, {"person_id": 1.0}):
            r = client.patch(f"/tracks/{tid}", json=body, headers=admin)
            assert r.status_code == 422 and "person_id" in r.json()["error"], (body, r.text)
        for body in ({"track_ids": [True]}, {"track_ids": [1.0]}):
            r = client.post("/tracks/rematch", json=body, headers=admin)
            assert r.status_code == 422 and "track_ids" in r.json()["error"], (body, r.text)
        assert fingerprint(demo) == before
        r = client.patch(f"/tracks/{tid}", json={"person_id": 1}, headers=admin)
        assert r.status_code == 200, r.text


def test_a_steward_restoring_is_not_told_anothers_track_that_holds_her_walk(
    demo,  # noqa: F811
    auth_headers,
):
    """(leftover of T39 M2) a steward restoring her own withdrawn walk while another
    person's longer copy of it is stored read that track's id; she hears that another
    person uploaded the walk, an admin the full refusal."""
    _second_steward(demo)
    pts, _day = _walk_with_duty(demo, 36)
    steward = auth_headers("steward", person_id=1)
    admin = auth_headers("admin")
    rng = np.random.default_rng(37)
    nudge = 0.4 / 111_320
    longer = _csv(
        pts,
        pts["lon"] + rng.uniform(-nudge, nudge, len(pts)),
        pts["lat"] + rng.uniform(-nudge, nudge, len(pts)),
    )
    with TestClient(create_app(demo)) as client:
        mine = _post(client, steward, [("first.csv", _csv(pts.iloc[:-3]))])
        tid = mine.json()["files"][0]["track_id"]
        assert client.delete(f"/tracks/{tid}", headers=steward).status_code == 200
        # sent for her, then given to person 2: a file holding a withdrawn walk is taken
        # only for its own person (T41 #1)
        r = _post(client, admin, [("other_app.csv", longer)], person_id=1)
        assert r.status_code == 201 and r.json()["files"][0]["created"], r.text
        other = r.json()["files"][0]["track_id"]
        r = client.patch(f"/tracks/{other}", json={"person_id": 2}, headers=admin)
        assert r.status_code == 200, r.text
        before = fingerprint(demo)
        r = client.post(f"/tracks/{tid}/restore", headers=steward)
        assert r.status_code == 409, r.text
        said = r.json()["error"]
        assert said == (
            f"他人已上传的一条轨迹记录着同一次巡查，恢复轨迹 {tid} 会重复计入，未恢复；"
            "如那是您本人的巡查，请联系规划员处理 another person uploaded this walk "
            f"already: restoring track {tid} would credit it twice; not restored (if "
            "it is yours, ask a planner)"
        )
        assert f"轨迹 {other}" not in said and f"track {other}" not in said
        r = client.post(f"/tracks/{tid}/restore", headers=admin)
        assert r.status_code == 409 and r.json()["error"].startswith(f"轨迹 {other} 与轨迹 {tid}")
        assert fingerprint(demo) == before


def test_a_withdrawal_checks_who_asks_before_waiting_for_the_track(demo, auth_headers):  # noqa: F811
    """(leftover) while a match held the track, another steward asking to withdraw it was
    told "track N is being matched right now" (its lock wait came first): now her 403; the
    walk's own steward still hears the 409."""
    _second_steward(demo)
    steward = auth_headers("steward", person_id=1)
    stranger = auth_headers("steward", person_id=2)
    with TestClient(create_app(demo)) as client:
        tid = _post(client, steward, [("a.csv", _csv(_walk(demo, 57)))])
        tid = tid.json()["files"][0]["track_id"]
        with demo.connect() as holder:  # a match holding the row
            tx = holder.begin()
            holder.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": tid})
            try:
                r = client.delete(f"/tracks/{tid}", headers=stranger)
                assert r.status_code == 403, r.text
                assert "stewards may withdraw only their own tracks" in r.json()["error"]
                r = client.delete(f"/tracks/{tid}", headers=steward)
                assert r.status_code == 409, r.text
                assert "being matched right now" in r.json()["error"]
            finally:
                tx.rollback()
        r = client.delete(f"/tracks/{tid}", headers=steward)
        assert r.status_code == 200, r.text


def test_the_end_of_a_form_is_seen_however_the_body_is_cut_into_chunks() -> None:
    """(T40 #16) the closing delimiter split across two chunks, or sent a byte at a time."""
    import asyncio

    from starlette.requests import Request

    from api.limits import _FormEnd

    body = _form("XyZ", [("a.csv", b"lon,lat,time\n")])

    def seen(chunks: list[bytes]) -> bool:
        messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
        messages.append({"type": "http.request", "body": b"", "more_body": False})

        async def receive() -> dict:
            return messages.pop(0)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/tracks",
            "headers": [(b"content-type", b"multipart/form-data; boundary=XyZ")],
        }
        end = _FormEnd(Request(scope, receive))

        async def read() -> None:
            async for _ in end.request.stream():
                pass

        asyncio.run(read())
        return end.seen

    for cut in range(len(body) - 20, len(body) + 1):
        assert seen([body[:cut], body[cut:]]), cut
    assert seen([body[i : i + 1] for i in range(len(body))])
    assert not seen([body[:-3]])
    assert not seen([body[i : i + 1] for i in range(len(body) - 3)])
