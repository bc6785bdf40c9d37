"""What a steward is told when the API refuses her, and what the web form's datum hint says
(outside re-tester T39: M2, M7, L9, L10). Real PostGIS, the real upload path (the API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from api.app import create_app
from geo.day_networks import walk_network
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.dbcheck import fingerprint
from tests.test_track_cut_copies import walked  # noqa: F401 (a fixture: a 1.5 km walk)
from tests.test_tracks_db import _csv, _post, _second_steward, demo  # noqa: F401 (a fixture)


def _copies(pts: pd.DataFrame) -> dict[str, bytes]:
    """Files of the walk that the upload refuses as parts or copies of it, each by its own
    rule: a stretch, the walk with fixes added, its fixes nudged at other times, its fixes
    at other times."""
    rng = np.random.default_rng(9)
    n, step = len(pts), pts["time"].diff().median()
    more = pd.DataFrame(
        {
            "lon": pts["lon"].iloc[-1] + np.cumsum(rng.normal(0, 1e-5, 20)),
            "lat": pts["lat"].iloc[-1] + np.cumsum(rng.normal(0, 1e-5, 20)),
            "time": pts["time"].iloc[-1] + step * np.arange(1, 21),
        }
    )
    later = pts.assign(time=pts["time"] + pd.Timedelta(days=1))
    nudged = later.assign(
        lon=later["lon"] + rng.normal(0, 0.2 / 85_000, n),
        lat=later["lat"] + rng.normal(0, 0.2 / 111_320, n),
    )
    return {
        "part.csv": _csv(pts.iloc[: int(n * 0.4)]),
        "longer.csv": _csv(pd.concat([pts[["lon", "lat", "time"]], more], ignore_index=True)),
        "nudged.csv": _csv(nudged),
        "later.csv": _csv(later),
        "walk.csv": _csv(pts),  # the same bytes
    }


# what each refusal says to whoever may know whose walk it is (admins, planners, its walker)
_FULL = {
    "part.csv": "此文件是轨迹 {tid}（人员 S1，",
    "longer.csv": "此文件包含轨迹 {tid}（人员 S1，",
    "nudged.csv": "定位点与轨迹 {tid}（人员 S1，",
    "later.csv": "定位点与轨迹 {tid}（人员 S1，",
    "walk.csv": "此文件已存为王小巷（人员编号 S1，系统编号 id:1）的轨迹 {tid}",
}
# ... and to another steward: only that another person uploaded the walk (README)
_ANONYMOUS = {
    "part.csv": "此文件是他人已上传的一次巡查的一段",
    "longer.csv": "此文件包含他人已上传的一次巡查的全部定位点与时间",
    "nudged.csv": "此文件的定位点与他人已上传的一次巡查相差不到 1 米",
    "later.csv": "此文件的定位点与他人已上传的一次巡查完全相同",
    "walk.csv": "此文件已由他人上传",
}


def test_a_steward_sending_anothers_walk_hears_no_track_person_or_time(walked, auth_headers):  # noqa: F811
    """T39 M2: the 409s for a part or a copy of a stored walk named its track, its walker's
    registry id and its time to any steward who sent it. A steward now hears that another
    person uploaded the walk (as the README promises), nothing stored; an admin sending the
    same files hears the track and the person; the walker herself hears her own track."""
    db, pts = walked
    admin = auth_headers("admin")
    other = auth_headers("steward", person_id=2)
    walker = auth_headers("steward", person_id=1)
    files = _copies(pts)
    with TestClient(create_app(db)) as client:
        first = _post(client, walker, [("walk.csv", files["walk.csv"])])
        assert first.status_code == 201, first.text
        stored = first.json()["files"][0]
        tid, when = stored["track_id"], stored["started_at"]
        before = fingerprint(db)
        for name, data in files.items():
            r = _post(client, other, [(name, data)])
            assert r.status_code == 409, (name, r.text)
            said = r.json()["files"][0]["error"]
            assert _ANONYMOUS[name] in said, (name, said)
            assert "another person uploaded" in said, (name, said)
            for leak in (
                f"轨迹 {tid}",
                f"track {tid}",
                "S1",
                "王小巷",
                "id:1",
                when[:10],
                when[11:16],
            ):
                assert leak not in r.text, (name, leak, said)
            r = _post(client, admin, [(name, data)], person_id=2)
            assert r.status_code == 409, (name, r.text)
            assert _FULL[name].format(tid=tid) in r.json()["files"][0]["error"], (name, r.text)
        for name in ("part.csv", "nudged.csv", "later.csv"):  # her own walk: named to her
            r = _post(client, walker, [(name, files[name])])
            assert r.status_code == 409, (name, r.text)
            assert _FULL[name].format(tid=tid) in r.json()["files"][0]["error"], (name, r.text)
        assert fingerprint(db) == before


def test_a_part_of_a_walk_stored_for_nobody_names_nothing_to_a_steward(walked, auth_headers):  # noqa: F811
    """A walk an admin stored for nobody is not the steward's either: a part of it is
    refused to her without its track or time (she may ask a planner to give it to her)."""
    db, pts = walked
    admin, steward = auth_headers("admin"), auth_headers("steward", person_id=2)
    with TestClient(create_app(db)) as client:
        tid = _post(client, admin, [("walk.csv", _csv(pts))]).json()["files"][0]["track_id"]
        r = _post(client, steward, [("part.csv", _csv(pts.iloc[: len(pts) // 2]))])
        assert r.status_code == 409, r.text
        said = r.json()["error"]
        assert "此文件是他人已上传的一次巡查的一段" in said and "请联系规划员" in said, said
        assert f"轨迹 {tid}" not in said and "2026-03-03" not in said, said
        r = _post(client, admin, [("part.csv", _csv(pts.iloc[: len(pts) // 2]))], person_id=2)
        assert f"此文件是轨迹 {tid}（未指定人员，" in r.json()["error"], r.text


def test_a_stewards_403_for_another_person_names_what_she_asked(walked, auth_headers):  # noqa: F811
    """T39 L9: "小巷管家只能为本人办理" said neither what she tried nor for whom she may.
    Now it names the request, the person she named and her own person; the English is as
    it was."""
    db, pts = walked
    steward = auth_headers("steward", person_id=2)
    with TestClient(create_app(db)) as client:
        listed = client.get("/tracks", params={"person_id": 1}, headers=steward)
        sent = _post(client, steward, [("walk.csv", _csv(pts))], person_id=1)
        duties = client.get("/people/1/duties", headers=steward)
        for r, action in (
            (listed, "「轨迹列表」（GET /tracks）"),
            (sent, "「上传巡查轨迹」（POST /tracks）"),
            (duties, "「职责」（GET /people/1/duties）"),
        ):
            assert r.status_code == 403, r.text
            said = r.json()["error"]
            assert said.startswith(
                f"巡查人员（小巷管家/街巷长）只能为本人办理：{action}的 person_id=1 不是您本人，"
                "您只能为本人（person_id=2）办理 "
            ), said
            assert said.endswith(" stewards may act only for themselves"), said


def _gcj02_walk(pts: pd.DataFrame) -> bytes:
    """The walk as a GCJ-02 app (Amap) writes it, to be sent as WGS-84."""
    from geo.crs import wgs84_to_gcj02

    return _csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy()))


def test_the_web_forms_datum_hint_names_the_forms_own_choice(walked, auth_headers):  # noqa: F811
    """T39 M7: the patrol map's upload form showed the API's remedy, ``crs=gcj02``, a
    parameter the steward never sees. Sent by the page's script (signed in by its cookie,
    with the X-Requested-With its fetches carry), the hint names the form's 坐标 select and
    the option to choose, as the page shows them; an API client still reads crs=gcj02."""
    from maps.patrol_map import UPLOAD_FORM

    db, pts = walked
    walker = auth_headers("steward", person_id=1)
    token = walker["Authorization"].removeprefix("Bearer ")
    page = {"Cookie": f"gridward_token={token}", "X-Requested-With": "XMLHttpRequest"}
    label = "高德/腾讯 Amap/Tencent (GCJ-02)"
    assert f'<option value="gcj02">{label}</option>' in UPLOAD_FORM  # the page's own words
    assert '坐标 coordinates <select id="gw-crs">' in UPLOAD_FORM
    with TestClient(create_app(db)) as client:
        r = _post(client, page, [("amap.csv", _gcj02_walk(pts))])
        assert r.status_code == 201, r.text
        hint = r.json()["files"][0]["match"]["datum_hint"]
        assert hint["crs"] == "gcj02", hint
        said = hint["message"]
        assert f"请在“坐标 coordinates”中选“{label}”后重新上传 the fixes" in said, said
        assert said.endswith(f'choose "{label}" under "坐标 coordinates" and upload it again')
        assert "crs=" not in said, said
        sp = SimParams(length_m=1500, noise_m=5, start="2026-03-04T01:00:00Z")
        another, _ = simulate_patrol(walk_network(db), np.random.default_rng(8), sp)
        r = _post(client, walker, [("amap2.csv", _gcj02_walk(another))])
        assert r.status_code == 201, r.text
        said = r.json()["files"][0]["match"]["datum_hint"]["message"]
        assert "请用 crs=gcj02 重新上传" in said and "“坐标" not in said, said


def test_a_datum_hint_with_nothing_credited_says_so() -> None:
    """T39 L10: the hint said the alleys credited were most likely not the ones walked when
    none was credited. With nothing credited it says so; with some, as it was."""
    from geo.tracks.datum import DatumHint, worded

    hint = DatumHint("gcj02", "EPSG:4326", 16.04, 4.46)
    none = hint.message(credited=0)
    assert "按 gcj02 为 4 米；本次未计入任何路段：请用 crs=gcj02 重新上传 the fixes" in none
    assert "4 m as gcj02; nothing was credited: upload the file again with crs=gcj02" in none
    assert "记入的街巷" not in none and "credited are" not in none
    assert hint.message(credited=3) == hint.message()
    assert "本次记入的街巷多半不是您走过的" in hint.message(credited=3)
    kept = hint.as_dict()
    assert worded(kept, credited=0)["message"] == none
    assert worded(kept, credited=2) == kept
    old = {k: v for k, v in kept.items() if k != "declared"}  # kept before it held declared
    assert worded(old, credited=0) == old


def test_an_upload_crediting_nothing_in_the_wrong_datum_says_nothing_was_credited(
    walked,  # noqa: F811
    auth_headers,
):
    """T39 L10 through the API: five minutes standing in an alley, written by a GCJ-02 app
    and sent as WGS-84, credits nothing and gets the hint; the upload's answer, the track
    list and the track's page say nothing was credited."""
    db, _ = walked
    net = walk_network(db)
    rng = np.random.default_rng(1)
    edge = int(rng.integers(len(net.edge_ids)))
    spot = np.array(net.geoms_m[edge].interpolate(0.5, normalized=True).coords)[0]
    lon, lat = net.to_wgs84(spot + rng.normal(0, 3, (60, 2)))
    times = pd.Timestamp("2026-03-05T01:00:00Z") + pd.to_timedelta(np.arange(60) * 5, unit="s")
    stood = pd.DataFrame({"lon": lon, "lat": lat, "time": times})
    steward = auth_headers("steward", person_id=1)
    with TestClient(create_app(db)) as client:
        r = _post(client, steward, [("stood.csv", _gcj02_walk(stood))])
        assert r.status_code == 201, r.text
        match = r.json()["files"][0]["match"]
        tid = r.json()["files"][0]["track_id"]
        assert match["segments"] == 0 and match["datum_hint"]["crs"] == "gcj02", match
        listed = client.get("/tracks", headers=steward).json()["tracks"]
        shown = client.get(f"/tracks/{tid}", headers=steward).json()["matches"][0]
        for said in (
            match["datum_hint"]["message"],
            next(t for t in listed if t["id"] == tid)["datum_hint"]["message"],
            shown["datum_hint"]["message"],
        ):
            assert "；本次未计入任何路段：请用 crs=gcj02 重新上传 the fixes" in said, said
            assert "; nothing was credited: upload the file again with crs=gcj02" in said, said
            assert "记入的街巷" not in said and "the alleys credited" not in said, said


def test_the_cli_upload_line_says_nothing_was_credited_too() -> None:
    """T39 L10 on the command line: the upload line's hint (its own --crs remedy) said the
    alleys credited were not the ones walked when the match credited no segment."""
    from api.cli_patrol import _datum_warning
    from geo.tracks.datum import DatumHint

    hint = DatumHint("gcj02", "EPSG:4326", 16.04, 4.46).as_dict()
    none = _datum_warning(hint, "walk.csv", 0)
    assert "本次未计入任何路段" in none and "nothing was credited" in none, none
    assert "gridward tracks upload walk.csv --crs gcj02" in none, none
    assert "本次未计入任何路段" not in _datum_warning(hint, "walk.csv", 3)


def test_the_forms_nothing_credited_line_names_no_crs(walked, auth_headers):  # noqa: F811
    """T41 #5: on the upload form, under the datum hint naming the form's 坐标 choice, the
    "nothing credited" line asked whether the "坐标系（crs）" was right, a parameter the
    page never shows. From the page it now leaves the datum to the hint above it; with no
    hint it names the form's choice. An API client reads the line as before."""
    from geo.match_words import form_words

    db, _ = walked
    net = walk_network(db)
    rng = np.random.default_rng(1)
    edge = int(rng.integers(len(net.edge_ids)))
    spot = np.array(net.geoms_m[edge].interpolate(0.5, normalized=True).coords)[0]
    steward = auth_headers("steward", person_id=1)
    token = steward["Authorization"].removeprefix("Bearer ")
    page = {"Cookie": f"gridward_token={token}", "X-Requested-With": "XMLHttpRequest"}
    with TestClient(create_app(db)) as client:
        for hour, headers in ((1, page), (2, steward)):
            times = pd.Timestamp(f"2026-03-05T0{hour}:00:00Z") + pd.to_timedelta(
                np.arange(60) * 5, unit="s"
            )
            lon, lat = net.to_wgs84(spot + rng.normal(0, 3, (60, 2)))  # two stands
            stood = pd.DataFrame({"lon": lon, "lat": lat, "time": times})
            r = _post(client, headers, [("stood.csv", _gcj02_walk(stood))])
            assert r.status_code == 201, r.text
            match = r.json()["files"][0]["match"]
            assert match["segments"] == 0 and match["datum_hint"]["crs"] == "gcj02", match
            said = match["warning"]
            assert said.startswith("定位点 60 米内没有街巷：请检查这次巡查是否在本市街巷"), said
            if headers is page:
                assert "crs" not in said, said
                assert "范围内（坐标系见上方提示） no street or alley within 60 m" in said, said
                assert said.endswith("inside the city's streets (the datum: see the note above)?")
            else:
                assert said.endswith("streets, and its datum (crs) right?"), said
                assert "、坐标系（crs）是否正确 no street" in said, said
    plain = (
        "定位点 60 米内没有街巷：请检查这次巡查是否在本市街巷范围内、坐标系（crs）是否正确 no "
        "street or alley within 60 m of the fixes: is the walk inside the city's streets, "
        "and its datum (crs) right?"
    )
    assert form_words(plain, hinted=False) == (
        "定位点 60 米内没有街巷：请检查这次巡查是否在本市街巷范围内、“坐标 coordinates”是否选对 "
        "no street or alley within 60 m of the fixes: is the walk inside the city's streets, "
        'and the "坐标 coordinates" choice right?'
    )
    other = "定位点太少，无法还原行走（文件中共 3 个） too few fixes to follow a walk (3 in file)"
    assert form_words(other, hinted=True) == other
