"""Patrol tracks through the API into PostGIS: real files, idempotency, matching, GCJ-02."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.crs import wgs84_to_gcj02
from geo.day_networks import walk_network
from geo.importer import import_osm
from geo.track_store import ingest_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.conftest import FIXTURES
from tests.dbcheck import fingerprint
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)


@pytest.fixture()
def demo(db):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, phone, roles) VALUES "
                "('S1', '王小巷', '13800001234', ARRAY['alley_steward'])"
            )
        )
    return db


def _second_steward(db) -> None:
    """Person 2, a second steward (person 1 is the demo fixture's 王小巷)."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES "
                "('S2', '李小巷', ARRAY['alley_steward'])"
            )
        )


def _csv(
    points: pd.DataFrame, lon: np.ndarray | None = None, lat: np.ndarray | None = None
) -> bytes:
    df = pd.DataFrame(
        {
            "经度": points["lon"] if lon is None else lon,
            "纬度": points["lat"] if lat is None else lat,
            "时间": points["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    return df.to_csv(index=False).encode("utf-8")


def _zoneless_gpx(points: pd.DataFrame) -> bytes:
    """A GPX whose times carry no zone (as some Chinese apps write them): read as UTC."""
    return gpx_bytes(points)


def gpx_bytes(points: pd.DataFrame, zone: str = "") -> bytes:
    """A GPX 1.1 track of ``points`` (lon, lat, time), times written with ``zone`` ("Z", or
    "" for none)."""
    fixes = "".join(
        f'<trkpt lat="{lat!r}" lon="{lon!r}"><time>{t:%Y-%m-%dT%H:%M:%S}{zone}</time></trkpt>'
        for lon, lat, t in zip(points["lon"], points["lat"], points["time"], strict=True)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        f"{fixes}</trkseg></trk></gpx>"
    ).encode()


def _post(client: TestClient, headers: dict, files: list[tuple[str, bytes]], **fields):
    return client.post(
        "/tracks",
        files=[
            ("file", (name, io.BytesIO(data), "application/octet-stream")) for name, data in files
        ],
        data={k: str(v) for k, v in fields.items()},
        headers=headers,
    )


def _visits(db, track_id: int) -> dict[int, float]:
    with db.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT segment_id, covered_fraction FROM patrol_visits WHERE track_id = :t"),
                {"t": track_id},
            ).all()
        )


def _length_weighted(matched: dict[int, float], truth: pd.DataFrame, lengths: dict[int, float]):
    t = dict(zip(truth["edge_id"].astype(int), truth["covered_fraction"], strict=True))
    inter = sum(min(matched.get(e, 0.0), f) * lengths[e] for e, f in t.items())
    precision = inter / max(sum(f * lengths[e] for e, f in matched.items()), 1e-9)
    recall = inter / max(sum(f * lengths[e] for e, f in t.items()), 1e-9)
    return precision, recall


def test_simulated_walk_matches_walked_segments(demo, auth_headers):
    admin = auth_headers("admin")
    net = walk_network(demo)
    rng = np.random.default_rng(7)
    pts, truth = simulate_patrol(net, rng, SimParams(length_m=1200, noise_m=5, dt_s=3))
    with demo.connect() as conn:
        lengths = dict(conn.execute(text("SELECT id, length_m FROM street_segments")).all())
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("walk.csv", _csv(pts))], person_id=1)
        assert r.status_code == 201, r.text
        item = r.json()["files"][0]
        assert item["created"] and item["status"] == "matched"
        precision, recall = _length_weighted(_visits(demo, item["track_id"]), truth, lengths)
        assert precision >= 0.9 and recall >= 0.9, (precision, recall)

        # the same bytes again: the same track, nothing duplicated
        before = fingerprint(demo)
        again = _post(client, admin, [("walk.csv", _csv(pts))], person_id=1)
        assert again.status_code == 200
        assert again.json()["files"][0]["track_id"] == item["track_id"]
        assert not again.json()["files"][0]["created"]
        assert fingerprint(demo)["tracks"] == before["tracks"]

        # GCJ-02 coordinates of the same walk: converted back, the same fixes to 0.1 m and
        # the same times, so the same walk (its track; test_a_walk_sent_again_...)
        glon, glat = wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())
        r = _post(client, admin, [("walk_gcj.csv", _csv(pts, glon, glat))], crs="gcj02")
        assert r.status_code == 200, r.text
        gcj = r.json()["files"][0]
        assert gcj["track_id"] == item["track_id"] and "同一轨迹已存储" in gcj["warnings"][0]
        assert fingerprint(demo)["tracks"] == before["tracks"]

        # the raw bytes are kept and the track reads back
        with demo.connect() as conn:
            raw = conn.execute(
                text("SELECT raw FROM tracks WHERE id = :t"), {"t": item["track_id"]}
            ).scalar()
        assert bytes(raw) == _csv(pts)
        got = client.get(f"/tracks/{item['track_id']}", headers=admin).json()
        assert got["geometry"]["type"] == "LineString" and got["person_id"] == 1
        assert "13800001234" not in str(got)
        # visits read in city time, like the reports: each one's times fall on its local day
        assert got["visits"] and got["started_at"].endswith("+08:00")
        for v in got["visits"]:
            assert v["first_time"].endswith("+08:00") and v["first_time"][:10] == v["day"]
            assert v["kind"] in ("street", "alley") and "street" in v


def test_gap_splits_into_two_pieces(demo, auth_headers):
    admin = auth_headers("admin")
    net = walk_network(demo)
    pts, _ = simulate_patrol(
        net, np.random.default_rng(3), SimParams(length_m=1500, noise_m=5, stops=0)
    )
    half = len(pts) // 2  # the phone lost its fix for 30 minutes in the middle of the walk
    pts.loc[half:, "time"] = pts.loc[half:, "time"] + pd.Timedelta(minutes=30)
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("gap.csv", _csv(pts))])
        assert r.status_code == 201, r.text
        assert r.json()["files"][0]["match"]["pieces"] == 2
        # the match summary is kept on the track: the listing and the track's page show it
        match = r.json()["files"][0]["match"]
        listed = client.get("/tracks", headers=admin).json()["tracks"][0]
        assert (listed["pieces"], listed["matched_points"]) == (2, match["matched_points"])
        assert 0 < listed["matched_points"] <= listed["n_points"] == len(pts)
        page = client.get(f"/tracks/{listed['id']}", headers=admin).json()
        assert (page["pieces"], page["matched_points"]) == (2, match["matched_points"])


def test_every_gpx_sample_imports_or_gets_a_reason(demo, auth_headers, shared_data):
    admin = auth_headers("admin")
    samples = sorted((shared_data / "gpx_samples").rglob("*.gpx"))
    assert len(samples) == 25
    outcomes = {}
    with TestClient(create_app(demo)) as client:
        for path in samples:
            before = fingerprint(demo)
            r = _post(client, admin, [(path.name, path.read_bytes())])
            body = r.json()
            if r.status_code in (200, 201):
                outcomes[path.name] = "stored"
                assert body["files"][0]["n_points"] > 0
            else:
                assert 400 <= r.status_code < 500, (path.name, r.status_code, body)
                assert body["error"] and path.name in body["error"]
                assert fingerprint(demo) == before  # nothing half-written
                outcomes[path.name] = body["error"]
    assert outcomes["220267559.gpx"] == "stored"
    assert outcomes["around-visnjan-with-car.gpx"] == "stored"
    assert "1901" in outcomes["Mojstrovka.gpx"]  # its device clock is wrong: refused, said why
    truncated = outcomes["250808726_truncated_at_15000_bytes.gpx"]
    assert truncated != "stored" and ("xml" in truncated.lower() or "truncat" in truncated.lower())
    assert "time" in outcomes["cerknicko-without-times.gpx"].lower()
    assert outcomes["gpx_with_garmin_extension.gpx"] != "stored"  # a waypoint only
    assert "only 1 point" in outcomes["gpx-with-node-with-comments.gpx"]  # nothing to follow


def test_upload_rules(demo, auth_headers):
    steward = auth_headers("steward", person_id=1)
    viewer = auth_headers("viewer")
    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(1), SimParams(length_m=300))
    with TestClient(create_app(demo)) as client:
        r = _post(client, viewer, [("a.csv", _csv(pts))])
        assert r.status_code == 403 and "admin or planner or steward" in r.json()["error"]
        # /docs can try the upload: the documented form is the one the route reads
        body = client.get("/openapi.json").json()["paths"]["/tracks"]["post"]["requestBody"]
        form = body["content"]["multipart/form-data"]["schema"]
        assert set(form["properties"]) == {"file", "crs", "person_id", "person", "mode", "defer"}
        # (T40 #2) a string, not an enum of three: cgcs2000 and EPSG codes are taken too
        crs = form["properties"]["crs"]
        assert "enum" not in crs and crs["type"] == "string", crs
        assert "cgcs2000" in crs["examples"] and "EPSG:4490" in crs["description"]
        admin = auth_headers("admin")
        r = _post(client, admin, [("a.csv", _csv(pts)), ("b.csv", _csv(pts))], person_id=999999)
        assert r.status_code == 422
        assert r.json()["error"] == (
            "全部 2 个文件均未存储 all 2 files: 系统编号为 id:999999 的人员不存在 "
            "person 999999 does not exist"
        )
        r = _post(client, steward, [("a.csv", _csv(pts))])
        assert r.status_code == 201, r.text
        with demo.connect() as conn:
            owner = conn.execute(text("SELECT person_id FROM tracks")).scalar()
        assert owner == 1  # a steward's upload is theirs, whatever they claim
        r = _post(client, steward, [("b.csv", _csv(pts.iloc[:50]))], person_id=2)
        assert r.status_code == 403
        r = client.post("/tracks", content=b"x,y", headers={**steward, "content-type": "image/png"})
        assert r.status_code == 415 and "content type" in r.json()["error"]
        # a form with ?person_id= in the URL: the walk is that person's (it was nobody's);
        # another walk (a stretch of a.csv at its own times is a part of it, refused)
        other, _ = simulate_patrol(net, np.random.default_rng(2), SimParams(length_m=300))
        r = client.post(
            "/tracks?person_id=1", files=[("file", ("c.csv", _csv(other)))], headers=admin
        )
        assert r.status_code == 201, r.text
        with demo.connect() as conn:
            owner = conn.execute(
                text("SELECT person_id FROM tracks WHERE id = :t"),
                {"t": r.json()["files"][0]["track_id"]},
            ).scalar()
        assert owner == 1
        r = client.post(
            "/tracks?person_id=1",
            files=[("file", ("d.csv", _csv(pts.iloc[:70])))],
            data={"person_id": "2"},
            headers=admin,
        )
        assert r.status_code == 422 and "given twice" in r.json()["error"]


def test_a_walk_sent_with_a_registry_id_is_that_persons(demo, auth_headers):
    """Acceptance tester: a form field ``person=S1`` (the CLI's --person takes registry ids)
    was ignored without a word and the walk stored for nobody. Now ``person`` names the
    person as --person does, and a field /tracks does not know is refused, named."""
    _second_steward(demo)
    admin, steward = auth_headers("admin"), auth_headers("steward", person_id=1)
    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(4), SimParams(length_m=300))
    # another walk: a.csv's fixes with more added would be a copy of S2's walk (T39 H1)
    pts2, _ = simulate_patrol(net, np.random.default_rng(5), SimParams(length_m=300))

    def owner(r) -> int | None:  # noqa: ANN001
        assert r.status_code == 201, r.text
        with demo.connect() as conn:
            return conn.execute(
                text("SELECT person_id FROM tracks WHERE id = :t"),
                {"t": r.json()["files"][0]["track_id"]},
            ).scalar()

    with TestClient(create_app(demo)) as client:
        assert owner(_post(client, admin, [("a.csv", _csv(pts.iloc[:50]))], person="S2")) == 2
        assert owner(_post(client, admin, [("b.csv", _csv(pts2.iloc[:55]))], person="id:1")) == 1
        r = _post(client, admin, [("c.csv", _csv(pts.iloc[:60]))], person="S9")
        assert r.status_code == 404 and "person 'S9' does not exist" in r.json()["error"]
        r = _post(client, admin, [("c.csv", _csv(pts.iloc[:60]))], person="id:S1")
        assert r.status_code == 422
        said = r.json()["error"]
        assert said.startswith("系统编号有误") and "person 'id:S1': a people.id is a whole" in said
        r = _post(client, admin, [("c.csv", _csv(pts.iloc[:60]))], person="S1", person_id=2)
        assert r.status_code == 422 and "give one of them" in r.json()["error"]
        # the Chinese names the person in Chinese (T40 #13: it read 'registry id S1, people.id 1')
        said_zh = r.json()["error"].split(" person ")[0]
        assert "（人员编号 S1，系统编号 id:1）" in said_zh and "registry id" not in said_zh, said_zh
        r = _post(client, admin, [("c.csv", _csv(pts.iloc[:60]))], persn="S1")
        assert r.status_code == 422
        said = r.json()["error"]
        assert said.startswith("未知字段 'persn'：POST /tracks 只接受 crs"), said
        assert "unknown field 'persn': POST /tracks takes crs" in said, said
        # a steward names only themselves, and hears nothing of anyone else
        r = _post(client, steward, [("c.csv", _csv(pts.iloc[:60]))], person="S2")
        assert r.status_code == 403 and "only for themselves" in r.json()["error"]
        r = _post(client, steward, [("c.csv", _csv(pts.iloc[:60]))], person="S9")
        assert r.status_code == 403
        # with their own person_id beside: still 403, and nothing about 李小巷 (the names and
        # ids of everyone were read off a 422 that said who S2 is)
        r = _post(client, steward, [("c.csv", _csv(pts.iloc[:60]))], person="S2", person_id=1)
        assert r.status_code == 403 and "李小巷" not in r.text and "(registry id" not in r.text
        # a field given twice, or a file under another name, is refused rather than dropped
        r = client.post(
            "/tracks?person=S1&person=S2",
            files=[("file", ("c.csv", _csv(pts.iloc[:60])))],
            headers=admin,
        )
        assert r.status_code == 422 and "person is given twice" in r.json()["error"]
        r = client.post(
            "/tracks",
            files=[("file", ("c.csv", _csv(pts.iloc[:60]))), ("files", ("e.csv", b"x"))],
            headers=admin,
        )
        assert r.status_code == 422 and "'files' carries a file" in r.json()["error"]
        assert owner(_post(client, steward, [("d.csv", _csv(pts2.iloc[:65]))], person="S1")) == 1
        with demo.connect() as conn:  # the refused uploads stored nothing
            assert conn.execute(text("SELECT count(*) FROM tracks")).scalar() == 3


def test_daily_report_names_exactly_the_walked_alleys(demo, auth_headers, tmp_path):
    admin = auth_headers("admin")
    net = walk_network(demo)
    pts, truth = simulate_patrol(
        net, np.random.default_rng(11), SimParams(length_m=2500, noise_m=5, stops=0, uturns=0)
    )
    with demo.connect() as conn:
        segs = pd.read_sql(
            text(
                "SELECT s.id AS edge_id, s.street_id, s.length_m, st.kind FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id"
            ),
            conn,
        )
    walked = segs.merge(truth, on="edge_id", how="left").fillna({"covered_fraction": 0.0})
    walked["walked_m"] = walked["covered_fraction"] * walked["length_m"]
    per = walked.groupby("street_id").agg(
        walked_m=("walked_m", "sum"), length_m=("length_m", "sum")
    )
    share = per["walked_m"] / per["length_m"]
    touched = share[share > 0].index.tolist()
    untouched = share[share == 0].index.tolist()[:5]
    duty = touched + untouched
    with demo.begin() as conn:  # steward 1 holds every alley the walk touched and five others
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "SELECT 1, 'alley_steward', unnest(CAST(:ids AS int[])), DATE '2026-01-01'"
            ),
            {"ids": duty},
        )
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("day.csv", _csv(pts))], person_id=1)
        assert r.status_code == 201, r.text
        day = pts["time"].dt.tz_convert("Asia/Shanghai").dt.date.iloc[0].isoformat()
        rep = client.get("/reports/daily", params={"date": day}, headers=admin).json()
    alleys = {a["alley_id"]: a for a in rep["alleys"]}
    assert set(alleys) == set(duty)
    clear_yes = {int(s) for s in share[share >= 0.95].index}
    clear_no = {int(s) for s in share[share <= 0.6].index} & set(duty)
    patrolled = {a for a, row in alleys.items() if row["patrolled"]}
    assert clear_yes <= patrolled
    assert not (clear_no & patrolled)
    person = rep["people"][0]
    assert person["person_id"] == 1 and person["person_name"] == "王小巷"
    assert person["alleys"] == len(duty) and person["patrolled_alleys"] == len(patrolled)
    assert "13800001234" not in str(rep)

    # the same report as XLSX and through the CLI-facing exporter
    from geo.patrol_reports import build_report
    from geo.report_export import export_report

    out = export_report(
        build_report(demo, "monthly", pd.Timestamp(day).date()), tmp_path / "m.xlsx"
    )
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"人员 people", "街巷 alleys", "区域 areas"} <= set(sheets)
    assert sheets["人员 people"]["姓名 person_name"].tolist() == ["王小巷"]


def test_future_and_out_of_order_times_refused(demo, auth_headers):
    admin = auth_headers("admin")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    future = pd.DataFrame(
        {
            "lon": [116.316, 116.3162, 116.3164],
            "lat": [39.995, 39.9951, 39.9952],
            "time": [now + pd.Timedelta(days=30, seconds=i * 5) for i in range(3)],
        }
    )
    # four jumps back in file order: shuffled (a block or two out of order is sorted)
    hours = [2, 4, 1, 5, 0.5, 6, 0.2, 7]
    shuffled = pd.DataFrame(
        {
            "lon": [116.316 + 0.0002 * i for i in range(8)],
            "lat": [39.995 + 0.0001 * i for i in range(8)],
            "time": [now - pd.Timedelta(hours=h) for h in hours],
        }
    )
    newest_first = shuffled.assign(time=sorted(shuffled["time"], reverse=True))
    with TestClient(create_app(demo)) as client:
        # an app that exports newest first is in order, backwards: taken
        r = _post(client, admin, [("newest.csv", _csv(newest_first))])
        assert r.status_code == 201, r.text
        before = fingerprint(demo)
        r = _post(client, admin, [("future.csv", _csv(future))])
        assert r.status_code == 422 and "future" in r.json()["error"]
        r = _post(client, admin, [("shuffled.csv", _csv(shuffled))])
        assert r.status_code == 422 and "out of order" in r.json()["error"]
        assert fingerprint(demo) == before


def test_cli_upload_reports_each_file_and_fails_on_a_bad_one(demo, pg_url, shared_data):
    from tests.test_import import run_cli

    good = shared_data / "gpx_samples" / "garmin_connect_beijing" / "250808726.gpx"
    bad = (
        shared_data / "gpx_samples" / "derived_malformed" / "250808726_truncated_at_15000_bytes.gpx"
    )
    res = run_cli(["tracks", "upload", str(good), str(bad)], pg_url)
    assert res.returncode == 2
    assert "250808726.gpx: 轨迹 " in res.stdout and " track " in res.stdout, res.stdout
    assert "truncated" in res.stdout
    again = run_cli(["tracks", "upload", str(good)], pg_url)
    assert again.returncode == 0 and "already stored" in again.stdout


def test_track_list_filters_and_steward_scope(demo, auth_headers):
    """GET /tracks: newest walk first, with person, status and local-day filters; a steward
    sees only their own tracks and may not ask for another person's."""
    import datetime as dt

    net = walk_network(demo)
    rng = np.random.default_rng(12)
    walks = [simulate_patrol(net, rng, SimParams(length_m=600, noise_m=5))[0] for _ in range(3)]
    # walk 1 one local day later than walk 0; walk 2 on the same day, by nobody in particular
    walks[1]["time"] = walks[1]["time"] + pd.Timedelta(days=1)
    admin = auth_headers("admin")
    _second_steward(demo)
    with TestClient(create_app(demo)) as client:
        ids = []
        for i, person in enumerate((1, 1, 2)):
            r = _post(client, admin, [(f"l{i}.csv", _csv(walks[i]))], person_id=person)
            assert r.status_code == 201, r.text
            ids.append(r.json()["files"][0]["track_id"])
        day0 = (walks[0]["time"].iloc[0].tz_convert("Asia/Shanghai")).date()

        def listed(headers, **query):
            r = client.get("/tracks", params=query, headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        everything = listed(admin)
        assert everything["total"] == 3
        assert [t["id"] for t in everything["tracks"]][0] == ids[1]  # the latest walk first
        first = next(t for t in everything["tracks"] if t["id"] == ids[0])
        assert first["person"] == "王小巷" and first["status"] == "matched"
        assert first["segments"] == len(_visits(demo, ids[0])) > 0
        assert first["n_points"] == len(walks[0]) and first["filename"] == "l0.csv"
        assert {t["id"] for t in listed(admin, person_id=1)["tracks"]} == {ids[0], ids[1]}
        assert {t["id"] for t in listed(admin, since=str(day0), until=str(day0))["tracks"]} == {
            ids[0],
            ids[2],
        }
        next_day = str(day0 + dt.timedelta(days=1))
        assert [t["id"] for t in listed(admin, since=next_day)["tracks"]] == [ids[1]]
        assert listed(admin, status="failed") == {"total": 0, "tracks": []}
        page = listed(admin, limit=1, offset=2)
        assert page["total"] == 3 and len(page["tracks"]) == 1
        assert listed(admin, offset=10) == {"total": 3, "tracks": []}
        for query, words in (
            ({"status": "lost"}, "status must be one of"),
            ({"since": str(day0), "until": str(day0 - dt.timedelta(days=1))}, "after until"),
            ({"limit": 0}, "limit"),
            ({"since": "yesterday"}, "since"),
        ):
            bad = client.get("/tracks", params=query, headers=admin)
            assert bad.status_code == 422 and words in bad.json()["error"], (query, bad.text)

        steward = auth_headers("steward", person_id=2)
        assert [t["id"] for t in listed(steward)["tracks"]] == [ids[2]]
        assert client.get("/tracks?person_id=1", headers=steward).status_code == 403


def test_reports_default_to_today_in_the_citys_time_zone(demo, auth_headers, monkeypatch):
    """Without a date a report is for the city's today, not the server clock's: UTC+14 and
    UTC−12 are 26 hours apart, so their days always differ (and one differs from the
    server's)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from geo.settings import get_settings

    admin = auth_headers("admin")
    seen = []
    try:
        for tz in ("Etc/GMT-14", "Etc/GMT+12"):  # POSIX signs: these are UTC+14 and UTC−12
            monkeypatch.setenv("GRIDWARD_TIMEZONE", tz)
            get_settings.cache_clear()
            with TestClient(create_app(demo)) as client:
                r = client.get("/reports/weekly", headers=admin)
            assert r.status_code == 200, r.text
            seen.append(r.json()["date"])
            assert seen[-1] == dt.datetime.now(ZoneInfo(tz)).date().isoformat()
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE")
        get_settings.cache_clear()
    assert seen[0] != seen[1]


def test_kml_and_kmz_uploads_match_like_their_csv(demo, auth_headers):
    """The same walk as CSV, KML (a form upload) and KMZ (a raw body with its MIME type):
    read to the same fixes and times, so one walk, the CSV's track (before fixes digests:
    three tracks with the same visits). Another walk as KML is stored as KML and matched."""
    from tests.test_tracks_parse import _kml, _zip

    admin = auth_headers("admin")
    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(8), SimParams(noise_m=5))
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("w.csv", _csv(pts))])
        assert r.status_code == 201, r.text
        tid = r.json()["files"][0]["track_id"]
        r = _post(client, admin, [("w.kml", _kml(pts))])
        kmz = client.post(
            "/tracks",
            content=_zip({"doc.kml": _kml(pts)}),
            headers={**admin, "Content-Type": "application/vnd.google-earth.kmz"},
        )
        for got in (r, kmz):
            assert got.status_code == 200, got.text
            (item,) = got.json()["files"]
            assert item["track_id"] == tid and "同一轨迹已存储" in item["warnings"][0], item
        sp = SimParams(noise_m=5, start="2026-03-02T03:00:00Z")
        other, _ = simulate_patrol(net, np.random.default_rng(9), sp)
        r = _post(client, admin, [("o.kml", _kml(other))])
        assert r.status_code == 201, r.text
        oid = r.json()["files"][0]["track_id"]
        assert client.get(f"/tracks/{oid}", headers=admin).json()["format"] == "kml"
    assert _visits(demo, tid) and _visits(demo, oid)


def test_a_kept_kmz_is_read_again_after_retention_dropped_its_fixes(demo):
    """Old code re-read a kept upload with a size limit of its own length + 1 byte: a KMZ
    unpacks to more than that, so once ``tracks drop-fixes`` had dropped its day, reading or
    re-matching the track failed ("KMZ unpacks to more than …")."""
    import datetime as dt

    from geo.track_partitions import drop_days_before
    from geo.track_points import read_track_points
    from geo.track_store import ingest_track, match_stored_track
    from tests.test_tracks_parse import _kml, _zip

    sp = SimParams(length_m=900, noise_m=5, start="2025-05-06T01:00:00Z")  # no other test's day
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(15), sp)
    kmz = _zip({"doc.kml": _kml(pts)})
    item = ingest_track(demo, kmz, "walk.kmz", person_id=1)
    assert item["format"] == "kmz" and item["status"] == "matched", item
    tid, visits = item["track_id"], _visits(demo, item["track_id"])
    assert visits
    dropped = dict(drop_days_before(demo, dt.date(2025, 5, 7)))
    assert dropped[dt.date(2025, 5, 6)] == len(pts)
    with demo.connect() as conn:
        back = read_track_points(conn, [tid])
    assert len(back) == len(pts)
    np.testing.assert_allclose(back["lon"], pts["lon"], atol=1e-9)
    assert (back["time"].to_numpy() == pts["time"].to_numpy()).all()
    again = match_stored_track(demo, tid)
    assert again["points"] == item["match"]["points"]
    assert _visits(demo, tid) == pytest.approx(visits, abs=1e-9)


def test_wrong_datum_is_flagged_and_the_same_file_with_the_right_one_corrects_the_track(
    demo, auth_headers
):
    """A walk written by a GCJ-02 app but uploaded as WGS-84 is stored and matched, with a
    hint naming GCJ-02; the same bytes sent again as GCJ-02 correct that track (one track,
    re-read fixes, the visits of the true walk); sent with the default datum they change
    nothing, and a true WGS-84 walk sent again as GCJ-02 (which moves it off the streets) is
    kept."""
    from geo.crs import wgs84_to_gcj02
    from tests.dbcheck import fingerprint

    admin = auth_headers("admin")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(4), SimParams(noise_m=5))
    gcj = _csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    with TestClient(create_app(demo)) as client:
        true = _post(client, admin, [("true.csv", _csv(pts))]).json()["files"][0]
        assert "datum_hint" not in true["match"]
        first = _post(client, admin, [("amap.csv", gcj)])
        assert first.status_code == 201, first.text
        item = first.json()["files"][0]
        tid, hint = item["track_id"], item["match"]["datum_hint"]
        assert hint["crs"] == "gcj02" and hint["other_m"] * 3 < hint["declared_m"], hint
        assert "crs=gcj02" in hint["message"] and "GCJ-02" in hint["message"]
        listed = client.get("/tracks", params={"status": "matched"}, headers=admin).json()
        assert [t["datum_hint"]["crs"] for t in listed["tracks"] if t["id"] == tid] == ["gcj02"]
        before = fingerprint(demo)
        for name, data, fields in (
            ("amap.csv", gcj, {}),
            ("true.csv", _csv(pts), {"crs": "gcj02"}),
        ):
            again = _post(client, admin, [(name, data)], **fields)
            assert again.status_code == 200, again.text
            same = tid if name == "amap.csv" else true["track_id"]
            assert again.json()["files"][0]["track_id"] == same
            change = again.json()["files"][0].get("crs_change")
            if name == "true.csv":
                assert change["changed"] is False and change["new_m"] > change["old_m"], change
                assert "kept as wgs84" in change["message"]
            else:
                assert change is None, change
        assert fingerprint(demo) == before
        fixed = _post(client, admin, [("amap.csv", gcj)], crs="gcj02")
        assert fixed.status_code == 200, fixed.text
        item = fixed.json()["files"][0]
        assert item["track_id"] == tid and item["created"] is False
        assert item["crs_change"]["changed"] is True and item["crs_change"]["to"] == "gcj02"
        assert item["status"] == "matched" and "datum_hint" not in item["match"]
        shown = client.get(f"/tracks/{tid}", headers=admin).json()
        assert shown["crs"] == "gcj02"
        assert [m["datum_hint"] is not None for m in shown["matches"]] == [False, True]
    assert _visits(demo, tid) == pytest.approx(_visits(demo, true["track_id"]), abs=1e-6)
    with demo.connect() as conn:
        actions = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'track.crs' AND target_id = :t"),
            {"t": str(tid)},
        ).scalars()
        assert [d["to"] for d in actions] == ["gcj02"]


def test_a_file_stored_for_nobody_becomes_the_stewards_and_no_one_elses(demo, auth_headers):
    """An admin stores a walk for nobody; the steward who walked it sends the same bytes: the
    track and its visits become theirs (their reports count it, they may read it). Sent then
    for another person it is refused with 409, and a bad datum or person on a stored file is
    refused too; neither changes anything."""
    admin = auth_headers("admin")
    _second_steward(demo)
    steward = auth_headers("steward", person_id=1)
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(7), SimParams(noise_m=5))
    walk = _csv(pts)
    with TestClient(create_app(demo)) as client:
        first = _post(client, admin, [("walk.csv", walk)]).json()["files"][0]
        tid = first["track_id"]
        assert first["status"] == "matched" and "person_set" not in first
        assert client.get(f"/tracks/{tid}", headers=steward).status_code == 403
        mine = _post(client, steward, [("walk.csv", walk)])
        assert mine.status_code == 200, mine.text
        item = mine.json()["files"][0]
        assert item["track_id"] == tid and item["created"] is False and item["person_set"] == 1
        assert client.get(f"/tracks/{tid}", headers=steward).status_code == 200
        with demo.connect() as conn:
            owners = conn.execute(
                text(
                    "SELECT DISTINCT person_id FROM patrol_visits WHERE track_id = :t UNION ALL "
                    "SELECT person_id FROM tracks WHERE id = :t"
                ),
                {"t": tid},
            ).scalars()
            assert sorted(owners) == [1, 1]
            audit = conn.execute(
                text("SELECT detail FROM audit_log WHERE action = 'track.person'")
            ).scalars()
            assert [d["person_id"] for d in audit] == [1]
        before = fingerprint(demo)
        again = _post(client, steward, [("walk.csv", walk)])
        assert again.status_code == 200 and "person_set" not in again.json()["files"][0]
        for fields, status, words in (
            ({"person_id": 2}, 409, ("track", "person 1", "not person 2")),
            ({"crs": "foo"}, 422, ("unknown CRS", "foo")),
            ({"person_id": 99999}, 422, ("person 99999", "does not exist")),
        ):
            refused = _post(client, admin, [("walk.csv", walk)], **fields)
            assert refused.status_code == status, refused.text
            assert all(w in refused.json()["error"] for w in words), refused.text
        assert fingerprint(demo) == before


def test_a_default_resend_of_an_off_network_walk_keeps_its_corrected_datum(demo, auth_headers):
    """With no street near the fixes in either datum there is nothing to compare: re-sending
    the file with the default datum must not undo the datum it was stored with."""
    admin = auth_headers("admin")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(9), SimParams(noise_m=5))
    far = _csv(pts, pts["lon"].to_numpy() + 0.2, pts["lat"].to_numpy())  # ~17 km east
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("far.csv", far)], crs="bd09").json()["files"][0]["track_id"]
        before = fingerprint(demo)
        again = _post(client, admin, [("far.csv", far)])
        assert again.status_code == 200, again.text
        change = again.json()["files"][0]["crs_change"]
        assert change["changed"] is False and change["new_m"] == change["old_m"], change
        assert "kept as bd09" in change["message"]
        assert client.get(f"/tracks/{tid}", headers=admin).json()["crs"] == "bd09"
    assert fingerprint(demo) == before


def test_cli_upload_warns_of_a_wrong_datum_and_corrects_it(demo, pg_url, tmp_path):
    from geo.crs import wgs84_to_gcj02
    from tests.test_import import run_cli

    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(4), SimParams(noise_m=5))
    amap = tmp_path / "amap.csv"
    amap.write_bytes(_csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())))
    first = run_cli(["tracks", "upload", str(amap)], pg_url)
    assert first.returncode == 0 and "warning:" in first.stdout, first.stdout
    # the command line's remedy, naming the file; not the API's crs=gcj02 (T37 F14)
    run = f"gridward tracks upload {amap} --crs gcj02"
    assert f"请用 {run} 重新上传" in first.stdout and f"upload it again with {run}" in first.stdout
    assert "crs=" not in first.stdout, first.stdout
    # a true WGS-84 walk read as GCJ-02 moves off the streets: the stored datum is kept
    true = tmp_path / "true.csv"
    true.write_bytes(_csv(pts))
    assert run_cli(["tracks", "upload", str(true)], pg_url).returncode == 0
    kept = run_cli(["tracks", "upload", str(true), "--crs", "gcj02"], pg_url)
    assert "kept as wgs84" in kept.stdout, kept.stdout
    fixed = run_cli(["tracks", "upload", str(amap), "--crs", "gcj02"], pg_url)
    assert "datum corrected wgs84 -> gcj02" in fixed.stdout, fixed.stdout
    assert ", matched " in fixed.stdout and "warning:" not in fixed.stdout


def test_a_file_of_two_days_credits_each_day_and_a_walk_is_cut_at_local_midnight(
    demo, auth_headers
):
    """Coverage is per segment per local day. The old code matched a file as one walk and
    put each segment on the day of its first fix: the second day of a two-day file was lost,
    and a walk over midnight gave visits ending on the next day."""
    from zoneinfo import ZoneInfo

    admin = auth_headers("admin")
    net = walk_network(demo)
    # 09:00 Beijing on 2 March, and the same walk a day later
    sp = SimParams(length_m=1500, noise_m=5, stops=0, uturns=0, start="2026-03-02T01:00:00Z")
    pts, truth = simulate_patrol(net, np.random.default_rng(5), sp)
    two_days = pd.concat([pts, pts.assign(time=pts["time"] + pd.Timedelta(days=1))])
    # the same walk from 23:55 Beijing on 9 March, 20 minutes over midnight (3 m west: the
    # same fixes again would be a copy of the first day's walk)
    late = pts.assign(
        time=pts["time"] + pd.Timedelta(days=7, hours=14, minutes=55), lon=pts["lon"] - 3.5e-5
    )
    with TestClient(create_app(demo)) as client:
        for name, df in (("two.csv", two_days), ("late.csv", late)):
            r = _post(client, admin, [(name, _csv(df))], person_id=1)
            assert r.status_code == 201, r.text
    tz = ZoneInfo("Asia/Shanghai")
    with demo.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.filename, v.day, v.segment_id, v.covered_fraction, v.first_time, "
                "v.last_time FROM patrol_visits v JOIN tracks t ON t.id = v.track_id"
            )
        ).all()
    for r in rows:  # every visit lies within its own local day
        assert r.first_time.astimezone(tz).date() == r.day == r.last_time.astimezone(tz).date()
    two = pd.DataFrame([r._mapping for r in rows if r.filename == "two.csv"])
    per_day = two.groupby("day")["segment_id"].apply(set)
    assert list(per_day.index) == [
        pd.Timestamp("2026-03-02").date(),
        pd.Timestamp("2026-03-03").date(),
    ]
    assert per_day.iloc[0] == per_day.iloc[1]  # the same walk, credited on both days
    walked = set(truth.loc[truth["covered_fraction"] > 0.9, "edge_id"].astype(int))
    assert walked <= per_day.iloc[1]
    late_days = {r.day for r in rows if r.filename == "late.csv"}
    assert late_days == {pd.Timestamp("2026-03-09").date(), pd.Timestamp("2026-03-10").date()}


def test_an_upload_that_loses_the_race_to_the_same_bytes_gets_the_resend_checks(demo, monkeypatch):
    """Two requests with the same file at once: the loser's insert conflicts. Old code then
    answered "already stored" at once, so a person (or datum) sent with it was never
    applied; now it is answered as a re-send: the track stored for nobody becomes the
    steward's."""
    import geo.track_store as ts

    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(8), SimParams(length_m=400))
    data = _csv(pts)
    real_insert = ts._insert_track

    def winner_first(conn, row, points):
        with demo.begin() as other:  # the concurrent upload, for nobody, commits first
            real_insert(other, {**row, "person": None}, points)
        return real_insert(conn, row, points)

    monkeypatch.setattr(ts, "_insert_track", winner_first)
    item = ts.ingest_track(demo, data, "race.csv", person_id=1, uploaded_by="admin")
    assert item["created"] is False and item["person_set"] == 1, item
    with demo.connect() as conn:
        owners = conn.execute(text("SELECT person_id FROM tracks")).scalars().all()
    assert owners == [1]


def test_a_track_that_credits_nothing_says_why(demo, auth_headers, monkeypatch):
    """Old code: "matched", 0 segments, no reason. Every fix reporting 51 m accuracy is
    dropped (a setting raises the limit); a walk far from the streets is named as such."""
    from geo.settings import get_settings

    admin = auth_headers("admin")
    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(9), SimParams(length_m=600, noise_m=5))

    def csv_with_accuracy(df: pd.DataFrame, shift: float = 0.0) -> bytes:
        out = pd.DataFrame(
            {
                "lon": df["lon"] + shift,
                "lat": df["lat"],
                "time": df["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "accuracy": 51.0,
            }
        )
        return out.to_csv(index=False).encode()

    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("acc.csv", csv_with_accuracy(pts))])
        match = r.json()["files"][0]["match"]
        assert match["segments"] == 0
        assert "accuracy worse than 50 m" in match["warning"], match
        away = pts.assign(time=pts["time"] + pd.Timedelta(hours=1))
        r = _post(client, admin, [("far.csv", _csv(away, lon=away["lon"] + 0.05))])
        assert "no street or alley within" in r.json()["files"][0]["match"]["warning"]
        # a few metres on an alley: placed on the streets, too short to credit (it was told
        # to check its datum)
        a, b = pts.iloc[0], pts.iloc[1]
        f = np.array([0.0, 0.3, 0.6])
        short = pd.DataFrame(
            {
                "lon": a["lon"] + f * (b["lon"] - a["lon"]),
                "lat": a["lat"] + f * (b["lat"] - a["lat"]),
                "time": a["time"] + pd.Timedelta(hours=3) + pd.to_timedelta(f * 10, unit="s"),
            }
        )
        r = _post(client, admin, [("short.csv", _csv(short))])
        match = r.json()["files"][0]["match"]
        assert match["segments"] == 0 and "too little" in match["warning"], match
    try:
        monkeypatch.setenv("GRIDWARD_MAX_ACCURACY_M", "100")
        get_settings.cache_clear()
        later = pts.assign(time=pts["time"] + pd.Timedelta(hours=2))
        # 3 m east: another walk (the same fixes 2 h on, or nudged by under a metre, would
        # be this one's times put right, or a copy)
        with TestClient(create_app(demo)) as client:
            r = _post(client, admin, [("acc2.csv", csv_with_accuracy(later, shift=3.5e-5))])
        match = r.json()["files"][0]["match"]
        assert match["segments"] > 0 and "warning" not in match, match
    finally:
        monkeypatch.delenv("GRIDWARD_MAX_ACCURACY_M")
        get_settings.cache_clear()


def _walk_with_duty(db, seed: int) -> tuple[pd.DataFrame, str]:
    """A 600 m simulated walk whose walked alleys are all steward 1's; and its local day."""
    net = walk_network(db)
    pts, truth = simulate_patrol(net, np.random.default_rng(seed), SimParams(length_m=600))
    with db.begin() as conn:
        conn.execute(  # the streets it walks whole (≥ 95 % of their length)
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "SELECT 1, 'alley_steward', s.street_id, DATE '2026-01-01' "
                "FROM street_segments s LEFT JOIN unnest(CAST(:e AS int[]), "
                "CAST(:f AS float8[])) AS w(edge_id, f) ON w.edge_id = s.id "
                "GROUP BY s.street_id "
                "HAVING sum(coalesce(w.f, 0) * s.length_m) >= 0.95 * sum(s.length_m)"
            ),
            {
                "e": truth["edge_id"].astype(int).tolist(),
                "f": truth["covered_fraction"].astype(float).tolist(),
            },
        )
    return pts, pts["time"].dt.tz_convert("Asia/Shanghai").dt.date.iloc[0].isoformat()


def _patrolled(client: TestClient, headers: dict, day: str) -> dict[int, int]:
    rep = client.get("/reports/daily", params={"date": day}, headers=headers).json()
    return {p["person_id"]: p["patrolled_alleys"] for p in rep["people"]}


def test_a_bike_ride_is_matched_but_credits_no_patrol_until_sent_as_a_walk(
    demo, auth_headers, monkeypatch
):
    """Outside tester: mode=bike (up to 12 m/s) credited a ride, even a car at 36 km/h, as
    a patrol, and a re-send with mode=walk answered "mode_kept: bike". Now only walks count
    (GRIDWARD_CREDITED_MODES), the upload says so, and naming the other mode re-matches."""
    from geo.settings import get_settings

    admin = auth_headers("admin")
    pts, day = _walk_with_duty(demo, 26)
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("w.csv", _csv(pts))], person_id=1, mode="bike")
        item = r.json()["files"][0]
        assert r.status_code == 201 and item["mode"] == "bike", r.text
        assert any("mode bike" in w for w in item["warnings"]), item
        assert item["match"]["segments"] > 0  # matched and shown
        assert client.get(f"/tracks/{item['track_id']}", headers=admin).json()["mode"] == "bike"
        assert _patrolled(client, admin, day).get(1, 0) == 0
        try:  # a city that accepts patrols by bike
            monkeypatch.setenv("GRIDWARD_CREDITED_MODES", "walk,bike")
            get_settings.cache_clear()
            by_bike = _patrolled(client, admin, day)[1]
        finally:
            monkeypatch.delenv("GRIDWARD_CREDITED_MODES")
            get_settings.cache_clear()
        assert by_bike > 0
        # sent again without a mode: kept, nothing re-matched
        same = _post(client, admin, [("w.csv", _csv(pts))]).json()["files"][0]
        assert same["mode"] == "bike" and "mode_change" not in same and "match" not in same
        # sent again as a walk: matched again, and credited
        walk = _post(client, admin, [("w.csv", _csv(pts))], mode="walk").json()["files"][0]
        assert walk["mode_change"] == {"from": "bike", "to": "walk"}, walk
        assert walk["track_id"] == item["track_id"] and walk["status"] == "matched"
        assert _patrolled(client, admin, day)[1] == by_bike
        assert client.get(f"/tracks/{item['track_id']}", headers=admin).json()["mode"] == "walk"


def test_a_walk_uploaded_for_the_wrong_person_is_given_to_the_right_one(demo, auth_headers):
    """Outside tester: a walk uploaded for the wrong steward could never be fixed (the same
    bytes again for the right one: 409, with no way out), and an upload for nobody said
    "matched" with no word that it credits nobody."""
    _second_steward(demo)
    admin = auth_headers("admin")
    pts, day = _walk_with_duty(demo, 28)
    with TestClient(create_app(demo)) as client:
        nobody = _post(client, admin, [("x.csv", _csv(pts.iloc[:40]))]).json()["files"][0]
        assert any("no person given" in w for w in nobody["warnings"]), nobody
        r = _post(client, admin, [("w.csv", _csv(pts))], person_id=2)
        tid = r.json()["files"][0]["track_id"]
        assert _patrolled(client, admin, day).get(1, 0) == 0
        r = _post(client, admin, [("w.csv", _csv(pts))], person_id=1)
        assert r.status_code == 409 and f"tracks reassign --track {tid}" in r.text, r.text
        other = auth_headers("planner", ("110199",))
        r = client.patch(f"/tracks/{tid}", json={"person": "S1"}, headers=other)
        assert r.status_code == 403, r.text
        r = client.patch(f"/tracks/{tid}", json={"person": "S1"}, headers=admin)
        assert r.status_code == 200 and r.json()["before"] == 2, r.text
        assert _patrolled(client, admin, day)[1] > 0
        assert client.get(f"/tracks/{tid}", headers=admin).json()["person_id"] == 1
        r = client.patch(f"/tracks/{tid}", json={"person": "S1", "person_id": 1}, headers=admin)
        assert r.status_code == 422, r.text
    with demo.connect() as conn:
        moved = conn.execute(
            text("SELECT count(*) FROM patrol_visits WHERE track_id = :t AND person_id = 1"),
            {"t": tid},
        ).scalar()
        logged = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'track.person'")
        ).scalar()
    assert moved > 0 and logged == 1


def test_exported_segments_are_a_network_for_the_match_command(
    demo,
    tmp_path,
    run_inproc,  # noqa: F811 (the imported fixture)
):
    """Old code: `gridward export segments` wrote `id` only, and `gridward match` refused
    the file ("network has no 'edge_id' column")."""
    from geo.export import export_layer

    net_file = tmp_path / "segments.geojson"
    export_layer(demo, "segments", net_file)
    net = walk_network(demo)
    pts, truth = simulate_patrol(net, np.random.default_rng(13), SimParams(length_m=800))
    track = tmp_path / "walk.csv"
    track.write_bytes(_csv(pts))
    out = tmp_path / "matched.geojson"
    r = run_inproc("match", "--network", str(net_file), "--track", str(track), "--out", str(out))
    assert r.returncode == 0, r.stderr
    import geopandas as gpd

    got = set(gpd.read_file(out)["edge_id"].astype(int))
    walked = set(truth.loc[truth["covered_fraction"] > 0.9, "edge_id"].astype(int))
    assert walked and len(walked & got) >= 0.8 * len(walked)


def test_a_segment_moved_in_place_makes_a_new_matching_network(demo):
    """Old code keyed the cached network on count, ids, lengths and creation times: a
    geometry corrected in place kept being matched (and re-matched) against the old one
    until the server restarted."""
    before = walk_network(demo)
    assert walk_network(demo) is before  # cached while nothing changes
    with demo.begin() as conn:
        seg = conn.execute(text("SELECT min(id) FROM street_segments")).scalar_one()
        conn.execute(
            text("UPDATE street_segments SET geom = ST_Translate(geom, 0, 0.0004) WHERE id = :s"),
            {"s": seg},
        )
    after = walk_network(demo)
    assert after is not before
    i = list(after.edge_ids).index(seg)
    moved = after.geoms_m[i].centroid.y - before.geoms_m[i].centroid.y
    assert 40 < moved < 50  # 0.0004° of latitude ≈ 44 m


def test_dates_out_of_range_are_a_422_not_a_500(demo, auth_headers):
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        r = client.get("/tracks", params={"until": "9999-12-31"}, headers=admin)
        assert r.status_code == 422 and "out of range" in r.json()["error"], r.text
        r = client.post("/tracks/rematch", json={"since": "9999-12-31"}, headers=admin)
        # refused as after today (a since alone runs to today, T59 #5)
        assert r.status_code == 422 and "is after today" in r.json()["error"], r.text


def test_a_walked_segment_cannot_be_deleted(demo, auth_headers):
    """Old schema: deleting a segment cascaded to its patrol visits, silently changing past
    compliance (migration 0010: RESTRICT). A segment nobody walked can still go."""
    import sqlalchemy.exc

    admin = auth_headers("admin")
    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(14), SimParams(length_m=500))
    with TestClient(create_app(demo)) as client:
        assert _post(client, admin, [("w.csv", _csv(pts))]).status_code == 201
    with demo.connect() as conn:
        walked = conn.execute(text("SELECT min(segment_id) FROM patrol_visits")).scalar_one()
        idle = conn.execute(
            text(
                "SELECT min(id) FROM street_segments s WHERE NOT EXISTS "
                "(SELECT 1 FROM patrol_visits v WHERE v.segment_id = s.id)"
            )
        ).scalar_one()
    before = fingerprint(demo)
    with pytest.raises(sqlalchemy.exc.IntegrityError), demo.begin() as conn:
        conn.execute(text("DELETE FROM street_segments WHERE id = :s"), {"s": walked})
    assert fingerprint(demo) == before
    with demo.begin() as conn:
        conn.execute(text("DELETE FROM street_segments WHERE id = :s"), {"s": idle})


def test_tracks_check_says_when_a_file_looks_like_another_datum(demo, pg_url, tmp_path):
    """Outside tester: `tracks check` said a plain OK for a GCJ-02 file sent as WGS 84, which
    upload would have warned about (and matched to the wrong alleys)."""
    from tests.test_import import run_cli

    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(31), SimParams(length_m=600))
    amap = tmp_path / "amap.csv"
    lon, lat = wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())
    amap.write_bytes(_csv(pts, lon, lat))
    res = run_cli(["tracks", "check", str(amap)], pg_url)
    assert res.returncode == 0 and res.stdout.startswith("可上传 OK"), res.stdout + res.stderr
    assert "GCJ-02" in res.stdout and "--crs gcj02" in res.stdout, res.stdout
    assert "检查和上传时请加 --crs gcj02" in res.stdout and "crs=" not in res.stdout  # T37 F14
    res = run_cli(["tracks", "check", "--crs", "gcj02", str(amap)], pg_url)
    assert res.returncode == 0 and "GCJ-02" not in res.stdout, res.stdout


def test_a_date_in_another_form_is_told_the_form(demo, auth_headers):
    """Outside tester: ?date=20261120 answered "Datetimes provided to dates should have zero
    time"."""
    with TestClient(create_app(demo)) as client:
        r = client.get("/reports/daily?date=20261120", headers=auth_headers("viewer"))
    assert r.status_code == 422 and "YYYY-MM-DD" in r.json()["error"], r.text
    assert "'20261120' is not a date" in r.json()["error"] and "Datetimes" not in r.text


def test_a_walk_sent_again_is_one_track_and_a_copy_of_it_is_refused(demo, auth_headers):
    """Old code: any other bytes were a new track and credited again. A walk's fixes are its
    own to 0.1 m: the same walk written again (CRLF line ends, GCJ-02) is its track; its
    fixes at other dates, or sent by someone else, are a copy (409, nothing stored); its
    times moved by a time zone (−8 h: a GPX without a zone read as UTC, put right by a file
    stating its zone) move the track and its credit to the right day, and the zone-less file
    sent again leaves them there (an outside tester's F1: it moved the walk back); the same
    walk at other clock times, both files stating their zone, is a copy (tester X's F9: a
    steward re-dated her walk by 6 h); a phone lying still twice is two tracks (no digest)."""
    _second_steward(demo)
    admin = auth_headers("admin")
    sp = SimParams(length_m=500, noise_m=5, start="2026-03-03T16:30:00Z")  # 00:30 local
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(21), sp)
    body = _zoneless_gpx(pts)  # its clock reads 16:30, local clock times written without zone

    def days(track_id: int) -> set:
        with demo.connect() as conn:
            sql = "SELECT DISTINCT day::text FROM patrol_visits WHERE track_id = :t"
            return set(conn.execute(text(sql), {"t": track_id}).scalars())

    def n_tracks() -> int:
        with demo.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM tracks")).scalar_one()

    with TestClient(create_app(demo)) as client:
        first = _post(client, admin, [("w.gpx", body)], person_id=1).json()["files"][0]
        tid = first["track_id"]
        assert first["created"] and days(tid) == {"2026-03-04"}, first
        glon, glat = wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())
        for name, data, fields in (
            ("crlf.gpx", body.replace(b"><", b">\r\n<"), {"person_id": 1}),
            ("gcj.csv", _csv(pts, glon, glat), {"person_id": 1, "crs": "gcj02"}),
        ):
            r = _post(client, admin, [(name, data)], **fields)
            assert r.status_code == 200, (name, r.text)
            item = r.json()["files"][0]
            assert item["track_id"] == tid and not item["created"], (name, item)
            assert "同一轨迹已存储" in item["warnings"][0], item
        # the next day's date, for the same steward or another: a copy
        before = fingerprint(demo)
        tomorrow = pts.assign(time=pts["time"] + pd.Timedelta(days=1))
        for person in (1, 2):
            r = _post(client, admin, [("again.csv", _csv(tomorrow))], person_id=person)
            assert r.status_code == 409, r.text
            assert "copy of a walk" in r.json()["error"] and f"track {tid}" in r.json()["error"]
        # the same times for another steward: their file is someone else's track
        r = _post(client, admin, [("mine.gpx", body + b"\n")], person_id=2)
        assert r.status_code == 409, r.text
        assert fingerprint(demo) == before
        # −8 h: the walk was at 16:30 local the day before (its times read in the wrong zone)
        earlier = pts.assign(time=pts["time"] - pd.Timedelta(hours=8))
        r = _post(client, admin, [("fixed.csv", _csv(earlier))], person_id=1)
        assert r.status_code == 200, r.text
        item = r.json()["files"][0]
        assert item["track_id"] == tid and item["time_change"]["shift_h"] == -8, item
        assert item["started_at"].startswith("2026-03-03T16:30") and "时间已更正" in str(item)
        assert days(tid) == {"2026-03-03"} and n_tracks() == 1
        # the zone-less file again (a retry, a folder re-synced): the corrected times stand
        fixed = fingerprint(demo)
        r = _post(client, admin, [("w.gpx", body)], person_id=1)
        assert r.status_code == 200, r.text
        item = r.json()["files"][0]
        assert item["track_id"] == tid and "time_change" not in item, item
        assert "时间未改" in item["warnings"][0] and "+8 h" in item["warnings"][0], item
        assert fingerprint(demo) == fixed and days(tid) == {"2026-03-03"}
        # the corrected walk at +6 h, also stating its zone: a re-dated copy
        later = earlier.assign(time=earlier["time"] + pd.Timedelta(hours=6))
        r = _post(client, admin, [("later.csv", _csv(later))], person_id=1)
        assert r.status_code == 409 and "copy of a walk" in r.json()["error"], r.text
        assert fingerprint(demo) == fixed and days(tid) == {"2026-03-03"}
        # a phone on a desk (one position) on two days: nothing to compare, two tracks
        still = pd.DataFrame({"lon": [116.3] * 5, "lat": [39.99] * 5})
        for day in ("2026-03-05", "2026-03-06"):
            still["time"] = pd.date_range(f"{day}T01:00:00Z", periods=5, freq="10s")
            r = _post(client, admin, [(f"{day}.csv", _csv(still))], person_id=1)
            assert r.status_code == 201, r.text
        assert n_tracks() == 3


def test_cli_upload_says_a_walks_times_were_put_right_and_refuses_a_copy(demo, pg_url, tmp_path):
    from tests.test_import import run_cli

    sp = SimParams(length_m=400, noise_m=5, start="2026-03-03T16:30:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(22), sp)
    files = {
        "local.gpx": pts,  # local clock times without a zone: read as UTC, 8 h late
        "beijing.csv": pts.assign(time=pts["time"] - pd.Timedelta(hours=8)),
        "replay.csv": pts.assign(time=pts["time"] + pd.Timedelta(days=2)),
    }
    for name, frame in files.items():
        (tmp_path / name).write_bytes(_zoneless_gpx(frame) if name.endswith("gpx") else _csv(frame))
    paths = [str(tmp_path / n) for n in files]
    res = run_cli(["tracks", "upload", *paths, "--person", "1"], pg_url)
    assert res.returncode == 2, res.stdout
    lines = res.stdout.splitlines()
    assert lines[1].startswith("beijing.csv: 轨迹 1，"), lines
    assert "（已存储；时间已移动 -8 小时），已匹配" in lines[1], lines
    assert "track 1," in lines[1] and "(already stored; times moved -8 h), matched" in lines[1]
    assert "时间已更正" in lines[1], lines
    # Chinese first as the stored files' lines, error: kept for scripts (T37 F21c)
    assert lines[2].startswith("replay.csv: 上传失败 error: 定位点与轨迹 1（人员 S1，"), lines
    assert "完全相同，仅时间不同：是复制的轨迹" in lines[2], lines
    # and one error: line, Chinese first, as every command ends (tester X's F6: none)
    errors = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert errors == [
        "error: 3 个轨迹文件中有 1 个未存储，原因见上面各行 "
        "1 of 3 track file(s) not stored: see their lines above"
    ]
    (tmp_path / "binary.gpx").write_bytes(bytes(range(256)) * 4)
    res = run_cli(["tracks", "upload", str(tmp_path / "binary.gpx"), "--person", "1"], pg_url)
    assert res.returncode == 2, res.stdout
    assert (
        "binary.gpx: 上传失败 error: 文件格式不支持：内容像是二进制数据，"
        "不是 GPX、KML、KMZ、GeoJSON、CSV、XLSX、XLS、ODS 或 NMEA file looks binary" in res.stdout
    ), res.stdout


def test_a_sparse_track_is_told_its_way_is_inferred(demo, auth_headers, tmp_path, run_inproc):  # noqa: F811
    """Old code: one fix every 40 s (one per alley end) got full credit and no word. The upload
    and `tracks check` now say the fixes are sparse; a walk at 5 s is not warned."""
    admin = auth_headers("admin")
    net = walk_network(demo)
    rng = np.random.default_rng(23)
    sparse, _ = simulate_patrol(net, rng, SimParams(length_m=900, noise_m=5, dt_s=40.0))
    dense, _ = simulate_patrol(
        net, rng, SimParams(length_m=900, noise_m=5, dt_s=5.0, start="2026-03-02T05:00:00Z")
    )
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("sparse.csv", _csv(sparse))], person_id=1)
        told = r.json()["files"][0]["warnings"]
        assert any(w.startswith("定位点稀疏：定位点之间的间隔中位数为 40 秒") for w in told), told
        assert any("fixes a median 40 s apart" in w for w in told), told
        r = _post(client, admin, [("dense.csv", _csv(dense))], person_id=1)
        told = r.json()["files"][0].get("warnings", [])  # dated March: told it is old
        assert not [w for w in told if "定位点稀疏" in w], told
    path = tmp_path / "sparse.csv"
    path.write_bytes(_csv(sparse))
    res = run_inproc("tracks", "check", str(path))
    assert res.returncode == 0 and "定位点稀疏" in res.stdout + res.stderr, res.stdout


def test_one_walk_in_two_files_sent_at_once_is_one_track(demo, monkeypatch):
    """Tester X's F8: the same walk as GPX and as CSV, sent at the same moment, became two
    tracks (both passed the same-walk check before either was stored). Both requests are
    held after that check until each has made it; the second is now that walk's track."""
    import threading

    from geo import track_store

    sp = SimParams(length_m=400, noise_m=5, start="2026-03-03T01:00:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(31), sp)
    both_checked = threading.Barrier(2, timeout=30)
    same_walk = track_store._same_walk

    def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = same_walk(*args, **kwargs)
        if found is None:  # each request found no stored walk: now both go on at once
            both_checked.wait()
        return found

    monkeypatch.setattr(track_store, "_same_walk", held)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def send(name: str, data: bytes) -> None:
        try:
            results[name] = ingest_track(demo, data, name, person_id=1)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    gpx = pts.assign(time=pts["time"].dt.tz_convert("UTC"))
    threads = [
        threading.Thread(target=send, args=("walk.gpx", _zoneless_gpx(gpx))),
        threading.Thread(target=send, args=("walk.csv", _csv(pts))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ids = {r["track_id"] for r in results.values()}
    with demo.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM tracks")).scalar_one()
    assert len(ids) == 1 and n == 1, results
    assert sorted(r["created"] for r in results.values()) == [False, True]


def test_a_copy_with_its_fixes_nudged_is_refused(demo, auth_headers):
    """Tester X's F5: an old walk moved a day on, each fix nudged by under half a metre, was
    a new patrol (its digest differs). Its fixes lie on the stored walk's: a copy, 409, as an
    exact one; at the walk's own times it is that walk (another export, fewer decimals). A
    walk whose fixes lie metres off (another walk of the same way) is a walk: stored."""
    sp = SimParams(length_m=600, noise_m=5, start="2026-03-03T01:00:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(41), sp)
    rng = np.random.default_rng(42)

    def nudged(frame: pd.DataFrame, metres: float, shift: pd.Timedelta | None = None) -> bytes:
        deg = metres / 111_320
        lon = frame["lon"] + rng.uniform(-deg, deg, len(frame))
        lat = frame["lat"] + rng.uniform(-deg, deg, len(frame))
        moved = frame["time"] + (shift if shift is not None else pd.Timedelta(0))
        return _csv(frame.assign(time=moved), lon, lat)

    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("walk.csv", _csv(pts))], person_id=1).json()["files"][0][
            "track_id"
        ]
        before = fingerprint(demo)
        r = _post(
            client,
            admin,
            [("copy.csv", nudged(pts, 0.4, pd.Timedelta(days=1, seconds=7)))],
            person_id=1,
        )
        assert r.status_code == 409, r.text
        assert "复制的轨迹" in r.json()["error"] and f"within 1 m of track {tid}" in r.text
        r = _post(client, admin, [("short.csv", nudged(pts, 0.6))], person_id=1)
        assert r.status_code == 200, r.text
        item = r.json()["files"][0]
        assert item["track_id"] == tid and "fixes to a metre" in item["warnings"][0], item
        assert fingerprint(demo) == before
        again = pts.assign(
            lon=pts["lon"] + rng.normal(0, 4 / 111_320, len(pts)),
            lat=pts["lat"] + rng.normal(0, 4 / 111_320, len(pts)),
            time=pts["time"] + pd.Timedelta(days=1),
        )
        # the walk with its last fixes cut off, at its own times: a part of it, said so
        # (T37, F3: it was called a copy at other times with its fixes nudged)
        r = _post(client, admin, [("cut.csv", _csv(pts.iloc[:-3]))], person_id=1)
        assert r.status_code == 409, r.text
        said = r.json()["error"]
        assert said.startswith(f"cut.csv: 此文件是轨迹 {tid}（") and "的一段" in said, said
        assert "仅时间不同" not in said and f"part of track {tid}'s" in said, said
        assert fingerprint(demo) == before
        r = _post(client, admin, [("tomorrow.csv", _csv(again))], person_id=1)
        assert r.status_code == 201 and r.json()["files"][0]["track_id"] != tid, r.text


def test_only_the_zone_mistake_of_a_reading_puts_a_walks_times_right(demo, auth_headers):
    """An outside re-tester (NEW-1): a walk sent as a zone-less table (read as local time),
    then as a GPX stating +08:00 at +7 h, moved to a day it was not walked; a zone-less GPX
    (read as UTC) took a -3 h shift too. A zone-less reading can be wrong by the city's UTC
    offset only: the GPX's local clock read as UTC (-8 h), the table's UTC clock read as
    local (+8 h). Any other shift is a copy (409); -8 h still puts the GPX right."""
    admin = auth_headers("admin")
    net = walk_network(demo)
    sp = SimParams(length_m=400, noise_m=5, start="2026-03-03T01:00:00Z")
    table_walk, _ = simulate_patrol(net, np.random.default_rng(51), sp)
    gpx_walk, _ = simulate_patrol(net, np.random.default_rng(52), sp)
    local = table_walk["time"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M:%S")
    zoneless_table = pd.DataFrame(
        {"经度": table_walk["lon"], "纬度": table_walk["lat"], "时间": local}
    ).to_csv(index=False)
    with TestClient(create_app(demo)) as client:
        for name, data in (("t.csv", zoneless_table.encode()), ("g.gpx", _zoneless_gpx(gpx_walk))):
            assert _post(client, admin, [(name, data)], person_id=1).status_code == 201
        before = fingerprint(demo)
        for name, frame, hours in (("t7.csv", table_walk, 7), ("g3.csv", gpx_walk, -3)):
            moved = frame.assign(time=frame["time"] + pd.Timedelta(hours=hours))
            r = _post(client, admin, [(name, _csv(moved))], person_id=1)
            assert r.status_code == 409 and "copy of a walk" in r.json()["error"], r.text
        assert fingerprint(demo) == before
        fixed = gpx_walk.assign(time=gpx_walk["time"] - pd.Timedelta(hours=8))
        r = _post(client, admin, [("g8.csv", _csv(fixed))], person_id=1)
        assert r.status_code == 200 and r.json()["files"][0]["time_change"]["shift_h"] == -8


def test_a_walk_dated_long_ago_is_stored_with_a_warning(
    demo,
    auth_headers,
    monkeypatch,
    request,
    pg_url,
    tmp_path,
    run_inproc,  # noqa: F811
):
    """Old code stored a walk dated months back without a word (a phone with a wrong date
    credits a day long past). It is still stored (a steward's phone may have been offline),
    with a warning naming its local date and how many local days ago, past
    GRIDWARD_OLD_WALK_WARN_DAYS: in the upload's answer, the CLI's line and `tracks check`.
    Each walk here is at 00:05-00:15 Beijing time, the day before at UTC."""
    import datetime as dt

    from geo.settings import city_today, get_settings

    monkeypatch.setenv("GRIDWARD_OLD_WALK_WARN_DAYS", "5")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    today = city_today()
    net = walk_network(demo)

    def walk(seed: int, days_ago: int) -> tuple[bytes, dt.date]:
        day = today - dt.timedelta(days=days_ago)
        start = f"{day - dt.timedelta(days=1)}T16:05:00Z"
        sp = SimParams(length_m=400, noise_m=5, stops=0, start=start)
        return _csv(simulate_patrol(net, np.random.default_rng(seed), sp)[0]), day

    (recent, _), (old, old_day) = walk(61, 5), walk(62, 6)
    with TestClient(create_app(demo)) as client:
        r = _post(client, auth_headers("admin"), [("r.csv", recent), ("o.csv", old)], person_id=1)
    assert r.status_code == 201, r.text
    kept, warned = r.json()["files"]
    assert kept["status"] == warned["status"] == "matched", r.json()
    assert "warnings" not in kept, kept  # 5 local days ago: not past the setting
    assert warned["warnings"] == [
        f"轨迹日期较早：这次巡查的日期是 {old_day}（6 天前，计入那一天），如日期不对，请检查手机"
        f"日期 this walk is dated {old_day} (6 days ago, counted on that day): check "
        "the phone's date if that is wrong"
    ], warned

    path = tmp_path / "older.csv"
    data, day = walk(63, 40)
    path.write_bytes(data)
    for command in ("check", "upload"):
        res = run_inproc("tracks", command, str(path))
        assert res.returncode == 0, res.stdout + res.stderr
        told = f"轨迹日期较早：这次巡查的日期是 {day}（40 天前"
        assert told in res.stdout, (command, res.stdout)
