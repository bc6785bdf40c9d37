"""Map pages, static assets, vector tiles and editor drafts over HTTP (FastAPI TestClient),
on the seeded demo city. The browser tests (test_maps_browser.py) check what gets drawn."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pytest
from sqlalchemy import text

from tests.test_maps_data import (
    EVIL_LEADER,
    EVIL_STEWARD,
    PATROL_DAY,
    PHONE,
    empty_database,
    seed_demo,
)


def token_for(engine, role: str, areas: tuple[str, ...] = (), name: str = "") -> str:  # noqa: ANN001
    from geo.accounts import create_user, issue_token

    with engine.begin() as conn:
        uid = create_user(conn, name or f"maps-{role}", "maps-test-password", role, areas)
        return issue_token(conn, uid)[1]


@pytest.fixture(scope="module")
def site(engine) -> dict[str, Any]:  # noqa: ANN001
    """The seeded demo city once for the module (tests here only add plans and users)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    db = empty_database(engine)
    demo = seed_demo(db)
    client = TestClient(create_app(db))
    demo["client"] = client
    demo["engine"] = db
    demo["auth"] = {"Authorization": f"Bearer {token_for(db, 'admin')}"}
    demo["viewer"] = {"Authorization": f"Bearer {token_for(db, 'viewer')}"}
    return demo


def _external_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(https?://[^"]+)"', page)


def test_pages_are_html_offline_and_escape_names(site) -> None:  # noqa: ANN001
    c, h = site["client"], site["auth"]
    code = site["communities"][0]
    pages = {
        "/maps": None,
        "/maps/grids": "gwGridMap",
        "/maps/stewards": "gwStewardMap",
        f"/maps/patrols?date={PATROL_DAY}": "gwPatrolMap",
        f"/maps/editor?community={code}": "gwEditor",
    }
    for url, fn in pages.items():
        r = c.get(url, headers=h)
        assert r.status_code == 200, (url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        assert _external_urls(page) == [], url  # nothing from a CDN: works offline
        assert PHONE not in page, url
        # user-supplied names never appear as markup
        assert "<script>alert(" not in page and "<img src=x" not in page, url
        if fn:
            assert f"{fn}(map, DATA)" in page
            for src in re.findall(r'src="(/maps/static/[^"]+)"', page):
                assert c.get(src).status_code == 200, src
    grid_page = c.get("/maps/grids", headers=h).text
    assert "\\u003cscript\\u003ealert(" in grid_page  # the leader's name is there, as data
    steward_page = c.get("/maps/stewards", headers=h).text
    assert "&lt;img src=x onerror=alert(2)&gt;李四" in steward_page  # panel text, escaped
    assert EVIL_LEADER not in grid_page and EVIL_STEWARD not in steward_page


def test_pages_need_sign_in_and_editor_needs_planner(site) -> None:  # noqa: ANN001
    c = site["client"]
    code = site["communities"][0]
    assert c.get("/maps/grids").status_code == 401
    assert c.get("/maps/grids", headers=site["viewer"]).status_code == 200
    assert c.get(f"/maps/editor?community={code}", headers=site["viewer"]).status_code == 403
    assert c.get("/maps/static/vendor/leaflet/leaflet.js").status_code == 200  # public asset


def test_patrol_map_offers_upload_to_those_who_may_upload(site) -> None:  # noqa: ANN001
    """The upload form is on the patrol map for the roles POST /tracks admits, not viewers."""
    c = site["client"]
    url = f"/maps/patrols?date={PATROL_DAY}"
    from geo.accounts import create_user, issue_token

    with site["engine"].begin() as conn:
        uid = create_user(conn, "maps-walker", "maps-test-password", "steward", (), site["walker"])
        steward = {"Authorization": f"Bearer {issue_token(conn, uid)[1]}"}
    for headers, shown in ((site["auth"], True), (site["viewer"], False), (steward, True)):
        page = c.get(url, headers=headers)
        assert page.status_code == 200, page.text[:300]
        assert ('id="gw-upload"' in page.text) is shown
        assert ("上传轨迹 Upload tracks" in page.text) is shown


def test_patrol_map_names_what_its_chart_counts(site) -> None:  # noqa: ANN001
    """Everyone and one person: the chart is the 日巡 daily report's compliance (each alley
    judged by its assigned steward's own walking), and the page says so. Old code: for
    everyone, segments walked by anyone."""
    c, h = site["client"], site["auth"]
    everyone = c.get(f"/maps/patrols?date={PATROL_DAY}", headers=h).text
    one = c.get(f"/maps/patrols?date={PATROL_DAY}&person={site['walker']}", headers=h).text
    for page in (everyone, one):
        assert "每日巡查达标率 daily compliance (%)" in page
        assert "达标率 Compliance" in page and "segments walked (%)" not in page
        assert "as the daily report" in page


def test_patrol_map_of_a_future_day_is_refused_as_the_report_refuses_it(site) -> None:  # noqa: ANN001
    from geo.settings import city_today

    c, h = site["client"], site["auth"]
    ahead = city_today() + dt.timedelta(days=3)
    r = c.get(f"/maps/patrols?date={ahead}", headers=h)
    assert r.status_code == 422 and "future" in r.json()["error"], r.text


def test_bad_page_parameters_are_4xx_json(site) -> None:  # noqa: ANN001
    c, h = site["client"], site["auth"]
    for url in (
        "/maps/grids?min=600&max=500",
        "/maps/grids?min=-1",
        "/maps/patrols?date=2026-13-40",
        "/maps/patrols?person=999999",
        "/maps/editor?community=999999999999",
        "/maps/editor?community=abc",
        "/maps/editor?plan=1",
        "/maps/static/../../geo/db.py",
        "/maps/static/%2e%2e/%2e%2e/geo/db.py",
        "/maps/static/nope.js",
        "/maps/static/" + "a" * 5000,
        "/maps/patrols?date=0001-01-01",
    ):
        r = c.get(url, headers=h)
        assert 400 <= r.status_code < 500, (url, r.status_code)
        assert "error" in r.json(), url


def test_a_page_names_its_parameters_as_its_url_does_chinese_first(site) -> None:  # noqa: ANN001
    """A map page's bounds are ?min= and ?max=: a refusal naming min_households (a plan's
    JSON field) sent the user looking for a parameter the URL does not have (T35)."""
    c, h = site["client"], site["auth"]
    code = site["communities"][0]
    for url in (
        "/maps/grids?min=500&max=300",
        "/maps/editor?min=500&max=300",
        f"/maps/editor?community={code}&min=500&max=300",
    ):
        r = c.get(url, headers=h)
        error = r.json()["error"]
        assert r.status_code == 422, (url, r.text)
        assert error.startswith("户数下限大于上限：min（500）大于 max（300） "), (url, error)
        assert "min (500) is greater than max (300)" in error, (url, error)
        assert "min_households" not in error, (url, error)
    # ?plan= alone opens the plan's own community (T39 L13): an unknown plan is a 404
    r = c.get("/maps/editor?plan=999999", headers=h)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "方案 999999 不存在 plan 999999 does not exist", r.text


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 2**z

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


@pytest.mark.parametrize(
    ("layer", "table"),
    [
        ("grids", "grids WHERE retired_at IS NULL"),
        ("buildings", "buildings WHERE true"),
        ("segments", "street_segments WHERE true"),
    ],
)
def test_tiles_are_mvt_with_the_features_of_the_tile(site, layer: str, table: str) -> None:  # noqa: ANN001
    import mapbox_vector_tile

    c, h, db = site["client"], site["auth"], site["client"].app.state.engine
    with db.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM areas) s"
            )
        ).one()
    for z in (14, 16):
        x, y = _tile_of(lon, lat, z)
        r = c.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", headers=h)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        tile = mapbox_vector_tile.decode(r.content)
        minx, miny, maxx, maxy = _tile_bounds(z, x, y)
        with db.connect() as conn:
            expected = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} AND ST_Intersects(geom, "
                    "ST_MakeEnvelope(:a, :b, :c, :d, 4326))"
                ),
                {"a": minx, "b": miny, "c": maxx, "d": maxy},
            ).scalar()
        assert expected > 0
        got = len(tile[layer]["features"])
        # The tile also carries features in its 64/4096 buffer, never fewer than inside it.
        assert expected <= got <= expected * 1.5 + 5, (z, expected, got)
        if layer == "grids":
            hh = {
                f["properties"]["code"]: f["properties"]["households"]
                for f in tile[layer]["features"]
            }
            with db.connect() as conn:
                truth = dict(conn.execute(text("SELECT code, households FROM grids")).all())
            assert all(truth[k] == v for k, v in hh.items())


def test_empty_tile_and_bad_tile_addresses(site) -> None:  # noqa: ANN001
    c, h = site["client"], site["auth"]
    r = c.get("/tiles/grids/10/0/0.pbf", headers=h)  # mid-Pacific: nothing there
    assert r.status_code == 200 and r.content == b""
    # Below a layer's min zoom the tile is empty even over the city.
    from geo.tiles import TILE_LAYERS

    db = c.app.state.engine
    with db.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM areas) s"
            )
        ).one()
    z = TILE_LAYERS["buildings"].min_zoom
    x, y = _tile_of(lon, lat, z)
    assert c.get(f"/tiles/buildings/{z}/{x}/{y}.pbf", headers=h).content != b""
    x, y = _tile_of(lon, lat, z - 1)
    r = c.get(f"/tiles/buildings/{z - 1}/{x}/{y}.pbf", headers=h)
    assert r.status_code == 200 and r.content == b""
    for url in (
        "/tiles/parcels/14/1/1.pbf",
        "/tiles/grids/23/0/0.pbf",
        "/tiles/grids/-1/0/0.pbf",
        "/tiles/grids/2/4/0.pbf",
        "/tiles/grids/2/0/4.pbf",
        "/tiles/grids/a/0/0.pbf",
        "/tiles/grids/2/0/1e3.pbf",
    ):
        r = c.get(url, headers=h)
        assert r.status_code == 422, url  # the app's bad-input status (T40 #15)
        assert r.json()["error"].startswith("瓦片"), url
    assert c.get("/tiles/grids/10/0/0.pbf").status_code == 401


def test_draft_plan_api(site) -> None:  # noqa: ANN001
    c, h = site["client"], site["auth"]
    db = c.app.state.engine
    code = site["communities"][1]
    from geo.map_data import editor_data

    ed = editor_data(db, code)
    groups: dict[int, list[int]] = {}
    for f in ed.buildings["features"]:
        groups.setdefault(f["properties"]["grid"], []).append(f["id"])
    body = {
        "community": code,
        "min_households": 300,
        "max_households": 500,
        "grids": [
            {"code": ed.grids[i]["code"], "building_ids": ids, "locked": i == 0}
            for i, ids in sorted(groups.items())
        ],
    }
    r = c.post("/plans/draft", json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    with db.connect() as conn:
        truth = dict(
            conn.execute(
                text(
                    "SELECT code, households FROM grids WHERE community_id = "
                    "(SELECT id FROM areas WHERE code = :c) AND level = 1"
                ),
                {"c": code},
            ).all()
        )
    assert {g["code"]: g["households"] for g in out["grids"]} == truth
    got = c.get(f"/plans/{out['plan_id']}", headers=h).json()
    assert got["status"] == "draft" and got["features"]["type"] == "FeatureCollection"
    assert c.get("/plans/999999", headers=h).status_code == 404
    bad = dict(body, grids=[{"code": None, "building_ids": [10**6], "locked": False}])
    twice = dict(body, grids=[body["grids"][0], body["grids"][0]])
    foreign = dict(body, grids=[dict(body["grids"][0], code="120101001001001")])
    for endpoint in ("/plans/draft", "/plans/rebalance"):
        for b in (bad, twice, foreign, dict(body, min_households=900)):
            r = c.post(endpoint, json=b, headers=h)
            assert r.status_code == 422 and r.json()["error"], (endpoint, r.text)
    planner_out = {"Authorization": f"Bearer {token_for(db, 'planner', ('120101',))}"}
    assert c.post("/plans/draft", json=body, headers=planner_out).status_code == 403


def test_basemap_only_when_configured(site, monkeypatch) -> None:  # noqa: ANN001
    import api.routes.maps as routes
    from geo.settings import Settings

    c, h = site["client"], site["auth"]
    assert "L.tileLayer" not in c.get("/maps/grids", headers=h).text  # vector layers only
    url = "http://tiles.example.internal/{z}/{x}/{y}.png"
    monkeypatch.setattr(routes, "get_settings", lambda: Settings(tile_url=url))
    page = c.get("/maps/grids", headers=h).text
    assert "L.tileLayer" in page and url in page
    # tiles send this site's origin as Referer (a key bound to a domain), the page itself
    # keeps Referrer-Policy: same-origin
    assert '"referrerPolicy": "strict-origin-when-cross-origin"' in page


def test_the_editor_starts_from_the_planners_communities(site) -> None:  # noqa: ANN001
    """/maps/editor without a community lists the ones the planner may edit and their open
    drafts (it was a 422 JSON page); a community outside their areas is a 403 when the page
    is opened, not only when a draft is saved; viewers are not shown the editor link."""
    c, db = site["client"], site["client"].app.state.engine
    first, second = site["communities"][:2]
    token = token_for(db, "planner", (first,), name="maps-picker")
    planner = {"Authorization": f"Bearer {token}"}
    page = c.get("/maps/editor", headers=planner)
    assert page.status_code == 200, page.text
    assert f"/maps/editor?community={first}" in page.text
    assert f"community={second}" not in page.text
    assert c.get(f"/maps/editor?community={second}", headers=planner).status_code == 403
    assert c.get(f"/maps/editor?community={first}", headers=planner).status_code == 200
    assert "/maps/editor" not in c.get("/maps", headers=site["viewer"]).text
    assert "/maps/editor" in c.get("/maps", headers=planner).text
