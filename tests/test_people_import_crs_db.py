"""`import people --crs` / POST /people/import's ``crs`` (outside tester T46 #14): a roster
geocoded in 高德 (GCJ-02) was read as WGS 84 and its homes stored about 500 m off, silently.
Now the homes' datum is given as for the other imports and track uploads (wgs84 by default,
gcj02, bd09, a geographic EPSG code) and homes are stored in WGS 84. Real PostGIS."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.errors import InputError
from geo.people_import import import_people
from tests.test_import import run_cli
from tests.test_people_import_db import A, place  # noqa: F401 (fixture)


def _home(db, ext: str) -> tuple[float, float]:
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text("SELECT ST_X(home), ST_Y(home) FROM people WHERE external_id = :e"),
                {"e": ext},
            ).one()
        )


def _gcj(xy: tuple[float, float]) -> tuple[float, float]:
    """A WGS 84 point as 高德 gives it (about 500 m off in Beijing)."""
    x, y = wgs84_to_gcj02(xy[0], xy[1])
    return float(x), float(y)


def test_cli_crs_gcj02_stores_the_home_in_wgs84(place, tmp_path, pg_url) -> None:  # noqa: F811
    db, xy = place
    gx, gy = _gcj(xy[A])
    roster = tmp_path / "名册.csv"
    roster.write_text(f"人员编号,姓名,经度,纬度\nG1,高德,{gx!r},{gy!r}\n", encoding="utf-8")
    res = run_cli(["import", "people", str(roster), "--crs", "gcj02"], pg_url)
    assert res.returncode == 0, res.stderr
    x, y = _home(db, "G1")
    assert abs(x - xy[A][0]) < 1e-6 and abs(y - xy[A][1]) < 1e-6, (x, y, xy[A])
    # without --crs the same file is WGS 84, as before: the home is where the numbers say
    res = run_cli(["import", "people", str(roster)], pg_url)
    assert res.returncode == 0, res.stderr
    assert _home(db, "G1") == pytest.approx((gx, gy), abs=1e-9)
    assert "--crs" in run_cli(["import", "people", "--help"], pg_url).stdout


def test_api_crs_field_and_refusals(place, auth_headers) -> None:  # noqa: F811
    db, xy = place
    bx, by = wgs84_to_gcj02(*xy[A])
    amap = f"person_id,name,lon,lat\nB1,高德,{float(bx)!r},{float(by)!r}\n"
    with TestClient(create_app(db)) as client:

        def send(body: str, **form: str):
            f = io.BytesIO(body.encode("utf-8"))
            return client.post(
                "/people/import",
                files={"file": ("p.csv", f, "text/csv")},
                data=form,
                headers=auth_headers("admin"),
            )

        r = send(amap, crs="GCJ-02")
        assert r.status_code == 200, r.text
        x, y = _home(db, "B1")
        assert abs(x - xy[A][0]) < 1e-6 and abs(y - xy[A][1]) < 1e-6
        r = send(amap, crs="EPSG:4548")  # metres: no lon/lat
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith(
            "坐标系 EPSG:4548 是平面坐标（米），而人员住址是经纬度"
        ), r.text
        r = send(amap, crs="gcj03")
        assert r.status_code == 422 and "坐标系 'gcj03' 无法识别" in r.json()["error"], r.text
    with pytest.raises(InputError):  # refused before anything is read or written
        import_people(db, "/nonexistent.csv", crs="EPSG:32650")
    gx, gy = gcj02_to_wgs84(bx, by)
    assert abs(float(gx) - xy[A][0]) < 1e-6
