"""The GeoJSON layers as outside tester T67 (a developer integrating the district platform)
read them: real PostGIS, the demo city (4 communities, 19 level-1 grids, 153 buildings) with
duties from a week ago.

- #2: /grids gave the plan's ``worker_count`` (the workers its households needed when it was
  made), read as today's staff: 西南 003 (1019 户) said 11 while 10 worked there and
  GET /coverage counted it short, and an 11th worker moved /coverage but not /grids. Level-1
  grids now give ``leaders``, ``workers``, ``part_time_workers`` (the duties in force on the
  city's day), ``workers_needed`` and ``short_staffed`` (GET /coverage's rule); the plan's
  ``leader_count``/``worker_count`` are gone; ``gridward export grids`` carries the same.
- #17: polygon rings came in stored order (areas all clockwise, a third of the level-2 grids
  and most buildings counter-clockwise) under ``application/geo+json``: RFC 7946 §3.1.6 wants
  exteriors counter-clockwise and holes clockwise, in the API and in the exports.
- #16: README's ``code_path`` was in neither the API nor the export, level-2/3 grids named no
  parent, and /buildings had no ``grid_code`` (the export had).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
from sqlalchemy import event, text

from geo.settings import city_today
from tests.conftest import demo_with_duties
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_maps_pages import token_for

SUBDISTRICT = "110108015"
SHORT = "110108015003003"  # 西南 003: 1019 户, 10 full-time workers, 11 needed
ROLES = {
    "grid_leader": "leaders",
    "grid_worker": "workers",
    "part_time_worker": "part_time_workers",
}
STAFF = ("leaders", "workers", "part_time_workers", "workers_needed", "short_staffed")


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city with duties, one building given a courtyard (a hole) and stored with
    its rings the wrong way round (exterior clockwise, hole counter-clockwise), and an
    admin's client."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    demo_with_duties(engine)
    with engine.begin() as conn:
        courtyard = conn.execute(
            text(
                "WITH c AS (SELECT id, geom, ST_Centroid(geom) AS o FROM buildings), "
                "h AS (SELECT id, geom, ST_Translate(ST_Scale(ST_Translate(geom, -ST_X(o), "
                "-ST_Y(o)), 0.4, 0.4), ST_X(o), ST_Y(o)) AS hole FROM c) "
                "UPDATE buildings b SET geom = ST_Multi(ST_ForcePolygonCW("
                "ST_Difference(h.geom, h.hole))) FROM h WHERE b.id = (SELECT id FROM h "
                "WHERE ST_Within(hole, geom) AND ST_NumGeometries(geom) = 1 "
                "ORDER BY ST_Area(geom) DESC LIMIT 1) AND h.id = b.id RETURNING b.id"
            )
        ).scalar_one()
    headers = {"Authorization": f"Bearer {token_for(engine, 'admin', name='t67-admin')}"}
    with TestClient(create_app(engine)) as client:
        yield {"client": client, "engine": engine, "headers": headers, "courtyard": courtyard}


@pytest.fixture
def run(run_inproc, monkeypatch, city, pg_url):  # noqa: ANN001, ANN201, F811
    """``gridward ARGS`` in-process against the session database."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield run_inproc
    monkeypatch.undo()
    get_settings.cache_clear()


def _get(city: dict[str, Any], path: str, **params: Any) -> Any:
    r = city["client"].get(path, params=params, headers=city["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def _grids(city: dict[str, Any], level: int | None = 1) -> dict[str, dict[str, Any]]:
    params = {"limit": 10_000} | ({"level": level} if level else {})
    fc = _get(city, "/grids", **params)
    return {f["properties"]["code"]: f["properties"] for f in fc["features"]}


def _duties_today(engine) -> dict[str, dict[str, int]]:  # noqa: ANN001
    """Each current level-1 grid's duties in force on the city's day, counted by role,
    straight from the assignments table."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, a.role, count(*) AS n FROM grids g JOIN assignments a "
                "ON a.grid_id = g.id WHERE g.level = 1 AND g.retired_at IS NULL "
                "AND a.valid_from <= :d AND (a.valid_to IS NULL OR a.valid_to >= :d) "
                "GROUP BY g.code, a.role"
            ),
            {"d": city_today()},
        ).all()
    out: dict[str, dict[str, int]] = {}
    for code, role, n in rows:
        out.setdefault(code, dict.fromkeys(ROLES.values(), 0))[ROLES[role]] = n
    return out


def _short_by_coverage(city: dict[str, Any], area: str = SUBDISTRICT) -> int:
    cov = _get(city, "/coverage", area=area)
    return cov["grids"] - cov["grids_fully_staffed"]


def test_grids_give_todays_duties_and_coverage_rule(city) -> None:  # noqa: ANN001
    grids = _grids(city)
    assert len(grids) == 19
    duties = _duties_today(city["engine"])
    zero = dict.fromkeys(ROLES.values(), 0)
    for code, p in grids.items():
        assert {k: p[k] for k in ROLES.values()} == duties.get(code, zero), code
        assert "worker_count" not in p and "leader_count" not in p  # the plan's, gone
        assert p["workers_needed"] == -(-p["households"] // 100)  # GRIDWARD default 100
        assert p["short_staffed"] is (p["leaders"] < 1 or p["workers"] < p["workers_needed"])
    # the tester's grid: 10 workers for 1019 households, 11 needed (the plan said 11)
    assert {k: grids[SHORT][k] for k in STAFF} == {
        "leaders": 1, "workers": 10, "part_time_workers": 0, "workers_needed": 11,
        "short_staffed": True,
    }  # fmt: skip
    # short_staffed counts what GET /coverage counts short, per community and in all
    assert sum(p["short_staffed"] for p in grids.values()) == _short_by_coverage(city) >= 1
    for community in {p["community_code"] for p in grids.values()}:
        mine = [p for p in grids.values() if p["community_code"] == community]
        assert sum(p["short_staffed"] for p in mine) == _short_by_coverage(city, community)
    # level-2/3 grids hold no duties: their staff fields are null, not 0
    for level in (2, 3):
        lower = _grids(city, level)
        assert lower and all(p[k] is None for p in lower.values() for k in STAFF), level


def test_one_query_answers_a_page_of_grids(city) -> None:  # noqa: ANN001
    """The staff of a whole page comes with the page (one statement, not one per grid)."""
    from geo.features import feature_collection

    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(city["engine"], "before_cursor_execute", count)
    try:
        fc = feature_collection(city["engine"], "grids", limit=10_000, filters={"level": 1})
    finally:
        event.remove(city["engine"], "before_cursor_execute", count)
    assert fc["numberReturned"] == 19 and all("workers" in f["properties"] for f in fc["features"])
    assert len(seen) == 1 and "assignments" in seen[0], seen


def test_a_worker_added_and_undone_moves_grids_as_coverage(city) -> None:  # noqa: ANN001
    client, headers, db = city["client"], city["headers"], city["engine"]
    today = city_today()
    before, short_before = _grids(city), _short_by_coverage(city)
    with db.connect() as conn:  # a worker of another grid takes a second one (capacity warns)
        donor, person = conn.execute(
            text(
                "SELECT g.code, p.external_id FROM assignments a JOIN grids g ON g.id = "
                "a.grid_id JOIN people p ON p.id = a.person_id WHERE a.role = 'grid_worker' "
                "AND g.code <> :c AND a.valid_to IS NULL ORDER BY g.code, p.external_id LIMIT 1"
            ),
            {"c": SHORT},
        ).one()
    body = {"person": person, "target": SHORT, "role": "grid_worker"}
    # a duty that starts tomorrow (the city's day) is planned, not in force: nothing moves
    r = client.post(
        "/assignments", json={**body, "valid_from": str(today + dt.timedelta(days=1))},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert _grids(city) == before
    assert client.delete(f"/assignments/{r.json()['duty']['id']}", headers=headers).is_success
    # from today: the 11th worker staffs the grid, in /grids as in /coverage
    r = client.post("/assignments", json={**body, "valid_from": str(today)}, headers=headers)
    assert r.status_code == 201, r.text
    after = _grids(city)
    assert (after[SHORT]["workers"], after[SHORT]["short_staffed"]) == (11, False)
    assert _short_by_coverage(city) == short_before - 1
    assert sum(p["short_staffed"] for p in after.values()) == short_before - 1
    assert after[donor] == before[donor]  # the worker still works on the donor grid
    assert {c: p for c, p in after.items() if c != SHORT} == {
        c: p for c, p in before.items() if c != SHORT
    }
    # undone, everything is as it was
    r = client.delete(f"/assignments/{r.json()['duty']['id']}", headers=headers)
    assert r.status_code == 200, r.text
    assert _grids(city) == before and _short_by_coverage(city) == short_before


def _rings(geom: shapely.Geometry) -> Iterator[tuple[shapely.LinearRing, bool]]:
    """(ring, is exterior) of every polygon in ``geom``."""
    for poly in getattr(geom, "geoms", [geom]):
        if isinstance(poly, shapely.Polygon):
            yield poly.exterior, True
            for hole in poly.interiors:
                yield hole, False


def _wrong_rings(geoms: list[shapely.Geometry]) -> list[int]:
    """Indexes of the geometries with an exterior not counter-clockwise or a hole not
    clockwise (RFC 7946 §3.1.6)."""
    return [
        i
        for i, g in enumerate(geoms)
        if any(ring.is_ccw is not exterior for ring, exterior in _rings(g))
    ]


def _holes(geoms: list[shapely.Geometry]) -> int:
    return sum(not exterior for g in geoms for _, exterior in _rings(g))


def test_api_layers_follow_rfc7946_ring_order(city) -> None:  # noqa: ANN001
    for path in ("/areas", "/grids", "/buildings"):
        fc = _get(city, path, limit=10_000)
        geoms = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
        assert geoms and all(isinstance(g, shapely.MultiPolygon) for g in geoms), path
        assert _wrong_rings(geoms) == [], path
    # the courtyard, stored exterior clockwise and hole counter-clockwise, comes out right
    fc = _get(city, "/buildings", limit=10_000)
    court = next(f for f in fc["features"] if f["id"] == city["courtyard"])
    outer, hole = court["geometry"]["coordinates"][0]
    assert shapely.LinearRing(outer).is_ccw and not shapely.LinearRing(hole).is_ccw


def test_exports_follow_rfc7946_ring_order(run, city, tmp_path) -> None:  # noqa: ANN001
    """Every polygon export: a GeoJSON in WGS 84 (GDAL's RFC 7946 mode did it already), in
    GCJ-02, in a projected CRS (EPSG:4548), a GeoPackage and a KML (these kept the stored
    order)."""
    for suffix, crs in [(".geojson", None), (".geojson", "gcj02"), (".geojson", "EPSG:4548"),
                        (".gpkg", None), (".kml", None)]:  # fmt: skip
        for layer in ("areas", "grids", "buildings"):
            out = tmp_path / f"{layer}-{crs or 'wgs84'}{suffix}".replace(":", "")
            r = run("export", layer, "--out", str(out), *(["--crs", crs] if crs else []))
            assert r.returncode == 0, r.stderr
            geoms = list(gpd.read_file(out).geometry)
            assert len(geoms) >= 6 and _wrong_rings(geoms) == [], (layer, suffix, crs)
            if layer == "buildings":
                assert _holes(geoms) == 1  # the courtyard, clockwise


def test_export_grids_agree_with_api_field_by_field(run, city, tmp_path) -> None:  # noqa: ANN001
    api = _grids(city, None)
    out = tmp_path / "grids.geojson"
    r = run("export", "grids", "--out", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    exported = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert exported.keys() == api.keys() and len(api) == 19 + 147 + 784
    for code, props in exported.items():
        assert set(props) == set(api[code]) - {"id"}, code
        assert {k: v for k, v in props.items() if k != "flags"} == {
            k: api[code][k] for k in props if k != "flags"
        }, code
    assert exported[SHORT]["workers"] == 10 and exported[SHORT]["short_staffed"] is True
    # a Shapefile carries the same under 10-character names
    shp = tmp_path / "grids.shp"
    assert run("export", "grids", "--out", str(shp)).returncode == 0
    fields = set(pyogrio.read_info(shp)["fields"])
    assert {"leaders", "workers", "pt_workers", "wrk_needed", "short_staf", "code_path",
            "parent_cd", "st_share", "polsby_pp", "area_m2"} <= fields  # fmt: skip
    back = gpd.read_file(shp).set_index("code")
    assert back.loc[SHORT, "wrk_needed"] == 11 and bool(back.loc[SHORT, "short_staf"])


def test_grid_paths_parents_and_building_grids(run, city, tmp_path) -> None:  # noqa: ANN001
    with city["engine"].connect() as conn:
        stored = {
            r.code: r
            for r in conn.execute(
                text(
                    "SELECT g.code, g.level, p.code AS parent, g.properties ->> 'code_path' "
                    "AS path FROM grids g LEFT JOIN grids p ON p.id = g.parent_id "
                    "WHERE g.retired_at IS NULL"
                )
            )
        }
        # each building's level-1 grid: the one whose stored building_ids hold it
        held = dict(
            conn.execute(
                text(
                    "SELECT CAST(b AS int), g.code FROM grids g, "
                    "jsonb_array_elements_text(g.properties -> 'building_ids') b "
                    "WHERE g.level = 1 AND g.retired_at IS NULL"
                )
            ).all()
        )
    grids = _grids(city, None)
    assert {p["level"] for p in grids.values()} == {1, 2, 3}
    for code, p in grids.items():
        row = stored[code]
        assert p["parent_code"] == row.parent, code
        if p["level"] == 1:
            assert p["parent_code"] is None and p["code_path"] == code
        else:  # the parent is the code's own prefix, the path what the commit stored
            assert p["parent_code"] == code[: {2: 15, 3: 18}[p["level"]]]
            assert (
                p["code_path"]
                == row.path
                == "-".join(x for x in (code[:15], code[15:18], code[18:]) if x)
            )
    assert grids["11010801500300300101"]["code_path"] == "110108015003003-001-01"
    fc = _get(city, "/buildings", limit=10_000)
    api = {f["id"]: f["properties"]["grid_code"] for f in fc["features"]}
    assert len(api) == 153 and api == {b: held.get(b) for b in api}
    assert sum(c is not None for c in api.values()) == len(held)
    # the export's grid_code is the same
    out = tmp_path / "buildings.geojson"
    assert run("export", "buildings", "--out", str(out)).returncode == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert {f["properties"]["id"]: f["properties"]["grid_code"] for f in doc["features"]} == api
