"""A stretch or a copy of a withdrawn walk is refused as the withdrawn walk re-sent is, and
the words for a file of another person's walk (outside re-tester T41 #1, #2). Real PostGIS,
the real upload path (the API), a simulated walk on the demo's network."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from api.app import create_app
from tests.dbcheck import fingerprint
from tests.test_steward_refusal_words import _copies
from tests.test_track_cut_copies import walked  # noqa: F401 (a fixture: a 1.5 km walk)
from tests.test_tracks_db import _csv, _post, _second_steward, demo, gpx_bytes  # noqa: F401


def _files(pts: pd.DataFrame) -> dict[str, bytes]:
    """Every file of the walk the upload tells apart: a stretch at its own times (its head,
    its middle), the walk with fixes added, its fixes nudged at its own times and at other
    times, its fixes at other times, the same fixes in other bytes (a GPX), the same bytes."""
    rng = np.random.default_rng(11)
    n = len(pts)
    files = _copies(pts)
    files["middle.csv"] = _csv(pts.iloc[int(n * 0.3) : int(n * 0.65)])
    files["nudged_same_times.csv"] = _csv(
        pts,
        pts["lon"] + rng.normal(0, 0.2 / 85_000, n),
        pts["lat"] + rng.normal(0, 0.2 / 111_320, n),
    )
    files["walk.gpx"] = gpx_bytes(pts, "Z")
    return files


# what the full refusal calls each file of the withdrawn walk
_WHAT = {
    "part.csv": "这次巡查的一段（定位点与时间都与它相同）",
    "middle.csv": "这次巡查的一段（定位点与时间都与它相同）",
    "longer.csv": "包含这次巡查全部定位点与时间的文件（另加了一些定位点）",
    "nudged.csv": "同一次巡查的文件（定位点相差不到 1 米）",
    "nudged_same_times.csv": "同一次巡查的文件（定位点相差不到 1 米）",
    "later.csv": "同一次巡查的文件（定位点相同）",
    "walk.gpx": "同一次巡查的文件（定位点相同）",
    "walk.csv": "同一文件",
}


def test_no_file_of_a_withdrawn_walk_brings_it_back(walked, auth_headers):  # noqa: F811
    """T41 #1: an admin stored a walk for S1 and withdrew it; a stretch of it at its own
    times, sent by another steward, was stored and credited to her (and blocked a later
    restore), and so was the walk with fixes added. Each file of the walk is now refused as
    the walk re-sent is: to the other steward without its track, person or time; to an
    admin, and to its walker, naming the track and the restore. The restore then goes
    through."""
    db, pts = walked
    admin = auth_headers("admin")
    walker = auth_headers("steward", person_id=1)
    other = auth_headers("steward", person_id=2)
    files = _files(pts)
    with TestClient(create_app(db)) as client:
        first = _post(client, admin, [("walk.csv", files["walk.csv"])], person_id=1)
        tid, when = first.json()["files"][0]["track_id"], first.json()["files"][0]["started_at"]
        assert client.delete(f"/tracks/{tid}", headers=admin).status_code == 200
        before = fingerprint(db)
        for name, data in files.items():
            r = _post(client, other, [(name, data)])
            assert r.status_code == 409, (name, r.text)
            said = r.json()["files"][0]["error"]
            assert said.startswith("此轨迹已上传并已撤回；如是您本人的巡查，请联系规划员恢复"), said
            assert "this walk was uploaded and withdrawn" in said, (name, said)
            for leak in (f"轨迹 {tid}", f"track {tid}", "S1", "王小巷", "id:1", when[:10]):
                assert leak not in r.text, (name, leak, said)
            for headers, person in ((admin, 2), (walker, 1)):
                r = _post(client, headers, [(name, data)], person_id=person)
                assert r.status_code == 409, (name, person, r.text)
                said = r.json()["files"][0]["error"]
                assert said.startswith(f"轨迹 {tid} 已撤回（"), (name, said)
                assert f"，{_WHAT[name]}不再存储。" in said, (name, said)
                assert f"gridward tracks restore {tid}" in said, (name, said)
        assert fingerprint(db) == before
        r = client.post(f"/tracks/{tid}/restore", headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "matched", r.text


def test_a_walk_withdrawn_for_the_wrong_person_goes_to_its_walker_by_restore(walked, auth_headers):  # noqa: F811
    """The case a withdrawal is for: S2's walk was uploaded for S1 and withdrawn. The same
    file sent by S2 was refused before (a 409 telling her to ask a planner to restore it and
    give it to her), and still is; so are a stretch of it and her own longer export of it,
    which used to be stored (T41 #1). Restored and reassigned to her, her longer export is
    hers to send (a walk's own longer export is a walk)."""
    db, pts = walked
    admin, s2 = auth_headers("admin"), auth_headers("steward", person_id=2)
    files = _files(pts)
    with TestClient(create_app(db)) as client:
        tid = _post(client, admin, [("walk.csv", files["walk.csv"])], person_id=1).json()["files"][
            0
        ]["track_id"]
        assert client.delete(f"/tracks/{tid}", headers=admin).status_code == 200
        for name in ("walk.csv", "part.csv", "longer.csv"):
            r = _post(client, s2, [(name, files[name])])
            assert r.status_code == 409, (name, r.text)
            assert "ask a planner to restore it and reassign it to you" in r.text, r.text
        assert client.post(f"/tracks/{tid}/restore", headers=admin).status_code == 200
        r = client.patch(f"/tracks/{tid}", json={"person_id": 2}, headers=admin)
        assert r.status_code == 200, r.text
        r = _post(client, s2, [("longer.csv", files["longer.csv"])])
        assert r.status_code == 201 and r.json()["files"][0]["track_id"] != tid, r.text


def test_a_walkers_corrected_longer_export_is_stored_if_she_may_restore(walked, auth_headers):  # noqa: F811
    """Why withdrawn walks were left out of the "file holding a stored walk" rule, and what
    of it still holds: a steward who withdrew her own cut-short upload sends the whole walk
    (its corrected file): stored, as before. One whose walk a supervisor withdrew (say, a
    colleague's walk sent as hers) may not restore it, and so may not bring its credit back
    by sending it with a minute of fixes added: refused, naming the restore. The admin may
    restore it, and may send that file for her."""
    db, pts = walked
    admin, walker = auth_headers("admin"), auth_headers("steward", person_id=1)
    files = _files(pts)
    cut = _csv(pts.iloc[: int(len(pts) * 0.6)])
    with TestClient(create_app(db)) as client:
        tid = _post(client, walker, [("cut.csv", cut)]).json()["files"][0]["track_id"]
        assert client.delete(f"/tracks/{tid}", headers=walker).status_code == 200
        r = _post(client, walker, [("walk.csv", files["walk.csv"])])
        assert r.status_code == 201 and r.json()["files"][0]["created"], r.text
        whole = r.json()["files"][0]["track_id"]
        assert client.delete(f"/tracks/{whole}", headers=admin).status_code == 200
        before = fingerprint(db)
        r = _post(client, walker, [("longer.csv", files["longer.csv"])])
        assert r.status_code == 409, r.text
        said = r.json()["files"][0]["error"]
        assert said.startswith(f"轨迹 {whole} 已撤回（"), said
        assert "包含这次巡查全部定位点与时间的文件" in said and "restore" in said, said
        assert fingerprint(db) == before
        r = _post(client, admin, [("longer.csv", files["longer.csv"])], person_id=1)
        assert r.status_code == 201, r.text


def test_the_same_walk_in_other_bytes_is_not_called_the_same_bytes(walked, auth_headers):  # noqa: F811
    """T41 #2: a file of another person's walk at its own times (its fixes nudged by under
    a metre, or the same fixes written as a GPX) was told "the same bytes are one track".
    It is the same walk, said so, to a steward and to an admin; the same bytes still say
    same bytes. The steward's English now carries the remedy its Chinese has."""
    db, pts = walked
    admin, walker = auth_headers("admin"), auth_headers("steward", person_id=1)
    other = auth_headers("steward", person_id=2)
    files = _files(pts)
    with TestClient(create_app(db)) as client:
        tid = _post(client, walker, [("walk.csv", files["walk.csv"])]).json()["files"][0][
            "track_id"
        ]
        before = fingerprint(db)
        for name, how_zh, how in (
            ("nudged_same_times.csv", "定位点相差不到 1 米", "fixes within 1 m"),
            ("walk.gpx", "定位点相同", "the same fixes"),
        ):
            r = _post(client, other, [(name, files[name])])
            assert r.status_code == 409, r.text
            said = r.json()["files"][0]["error"]
            assert said == (
                f"此文件与他人已上传的一次巡查是同一次巡查（{how_zh}、时间相同，只是文件写法不同），"
                "未存储；如是您本人的巡查，请联系规划员改归属给您（由规划员发送同一文件可看到是哪条"
                "轨迹） another person uploaded this walk already: the file is the same walk "
                f"({how} and times, written differently); not stored: if it is yours, ask a "
                "planner to reassign it to you (the same file sent by them names the track)"
            ), said
            r = _post(client, admin, [(name, files[name])], person_id=2)
            said = r.json()["files"][0]["error"]
            assert said.startswith(
                f"此文件与王小巷（人员编号 S1，系统编号 id:1）的轨迹 {tid} 是同一次巡查（{how_zh}"
            ), said
            assert "同一文件只算一条轨迹" not in said and "same bytes" not in said, said
            assert f"the same walk as track {tid} of person 1, not person 2 ({how}" in said
        r = _post(client, other, [("walk.csv", files["walk.csv"])])
        said = r.json()["files"][0]["error"]
        assert said.startswith("此文件已由他人上传（同一文件只算一条轨迹）；如是您本人的巡查"), said
        assert said.endswith(
            "another person uploaded this file already (the same bytes are one track): if it "
            "is yours, ask a planner to reassign it to you (the same file sent by them names "
            "the track)"
        ), said
        r = _post(client, admin, [("walk.csv", files["walk.csv"])], person_id=2)
        assert "(the same bytes are one track;" in r.json()["files"][0]["error"], r.text
        assert fingerprint(db) == before
