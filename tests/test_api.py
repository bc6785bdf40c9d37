"""The API skeleton on the demo city: valid RFC 7946 GeoJSON, filters, JSON errors."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, shape
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from tests.conftest import FIXTURES


@pytest.fixture()
def client(db, auth_headers):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with TestClient(create_app(db), headers=auth_headers("viewer")) as c:
        yield c


def _auth(_client: TestClient) -> dict[str, str]:
    return {}  # the client signs in as a viewer


def assert_feature_collection(fc: dict, limit: int) -> list:
    assert fc["type"] == "FeatureCollection"
    assert isinstance(fc["features"], list)
    assert fc["numberReturned"] == len(fc["features"]) <= limit
    assert fc["numberMatched"] >= fc["numberReturned"]
    geoms = []
    for f in fc["features"]:
        assert f["type"] == "Feature" and "id" in f and isinstance(f["properties"], dict)
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty
        for x, y in shapely.get_coordinates(g):
            assert -180 <= x <= 180 and -90 <= y <= 90
        geoms.append(g)
    if geoms:
        minx, miny, maxx, maxy = fc["bbox"]
        assert box(minx - 1e-6, miny - 1e-6, maxx + 1e-6, maxy + 1e-6).contains(
            shapely.union_all(geoms).envelope
        )
    return geoms


def test_layers_need_a_signed_in_user(db):
    with TestClient(create_app(db)) as anonymous:
        r = anonymous.get("/buildings")
        assert r.status_code == 401 and "error" in r.json()
        assert anonymous.get("/health").status_code == 200


def test_health_checks_database(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "ok" and body["postgis"].startswith("3")


def test_layers_are_geojson(client, db):
    h = _auth(client)
    with db.connect() as conn:
        n_b = conn.execute(text("SELECT count(*) FROM buildings")).scalar()
        n_alley = conn.execute(
            text("SELECT count(*) FROM street_segments WHERE kind = 'alley'")
        ).scalar()
        hh = conn.execute(text("SELECT sum(households) FROM buildings")).scalar()
    r = client.get("/buildings", params={"limit": 10000}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert_feature_collection(fc, 10000)
    assert fc["numberReturned"] == n_b
    assert sum(f["properties"]["households"] for f in fc["features"]) == hh
    assert all("community_code" in f["properties"] for f in fc["features"])

    alleys = client.get("/streets", params={"kind": "alley", "limit": 10000}, headers=h).json()
    assert_feature_collection(alleys, 10000)
    assert alleys["numberReturned"] == n_alley
    assert {f["properties"]["kind"] for f in alleys["features"]} == {"alley"}

    areas = client.get("/areas", params={"level": "community"}, headers=h).json()
    assert_feature_collection(areas, 1000)
    assert {f["properties"]["level"] for f in areas["features"]} == {"community"}


def test_bbox_and_limit_filter(client):
    h = _auth(client)
    bbox = (116.316, 39.993, 116.320, 39.997)
    fc = client.get(
        "/buildings", params={"bbox": ",".join(map(str, bbox)), "limit": 10000}, headers=h
    ).json()
    geoms = assert_feature_collection(fc, 10000)
    assert len(geoms) > 0
    assert all(g.intersects(box(*bbox)) for g in geoms)
    full = client.get("/buildings", params={"limit": 10000}, headers=h).json()
    outside = [shape(f["geometry"]) for f in full["features"]]
    assert sum(g.intersects(box(*bbox)) for g in outside) == len(geoms)
    page = client.get("/buildings", params={"limit": 5}, headers=h).json()
    assert page["numberReturned"] == 5 and page["numberMatched"] == full["numberReturned"]
    page2 = client.get("/buildings", params={"limit": 5, "offset": 5}, headers=h).json()
    assert {f["id"] for f in page["features"]}.isdisjoint({f["id"] for f in page2["features"]})


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"bbox": "1,2,3"}, "four numbers"),
        ({"bbox": "a,b,c,d"}, "four numbers"),
        ({"bbox": "116.4,39.9,116.3,40.0"}, "greater than"),
        ({"bbox": "0,0,200,10"}, "outside"),
        ({"bbox": "nan,0,1,1"}, "finite"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**9}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_parameters_are_4xx_json(client, params, needle):
    r = client.get("/buildings", params=params, headers=_auth(client))
    assert 400 <= r.status_code < 500
    body = r.json()
    assert needle in body["error"]


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/health", "/areas", "/buildings", "/streets"):
        assert path in spec["paths"]


def test_a_deadlock_is_a_busy_503_and_an_outage_an_unavailable_one(db):
    """A deadlock (SQLSTATE 40P01) rolled back the request: the database is up, so the answer
    says it was busy, send it again; a lost server says unavailable. Both were "database
    unavailable" (and a first handler for deadlocks named a psycopg class that does not
    exist, so every database error became a 500)."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    app = create_app(db)
    errors = {
        "deadlock": psycopg.errors.DeadlockDetected("deadlock detected"),
        "gone": psycopg.OperationalError("connection refused"),
    }

    @app.get("/boom/{kind}")
    def boom(kind: str) -> None:
        raise OperationalError("SELECT 1", {}, errors[kind])

    with TestClient(app, raise_server_exceptions=False) as c:
        busy, gone = c.get("/boom/deadlock"), c.get("/boom/gone")
    assert busy.status_code == 503 and "busy" in busy.json()["error"], busy.text
    assert busy.headers["retry-after"] == "1"
    assert gone.status_code == 503 and "unavailable" in gone.json()["error"], gone.text
