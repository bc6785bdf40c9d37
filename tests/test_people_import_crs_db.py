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


def _buildings_at(db, points: list[tuple[float, float]]) -> None:
    """Small square buildings (about 20 m) centred on ``points`` (WGS 84)."""
    with db.begin() as conn:
        for i, (x, y) in enumerate(points):
            conn.execute(
                text(
                    "INSERT INTO buildings (source_key, households, household_source, geom) "
                    "VALUES (:k, 10, 'given', "
                    "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.0001)))"
                ),
                {"k": f"d{i}", "x": x, "y": y},
            )


def _six_homes(xy) -> list[tuple[float, float]]:
    """Six homes 80 m apart around community A's inner point, each in a building."""
    x0, y0 = xy[A]
    return [(x0 + 0.001 * (i % 3) + 0.002, y0 + 0.0008 * (i // 3) + 0.002) for i in range(6)]


def _roster(path, homes) -> None:
    lines = [f"D{i},住户{i},{x!r},{y!r}" for i, (x, y) in enumerate(homes)]
    path.write_text("人员编号,姓名,经度,纬度\n" + "\n".join(lines) + "\n", encoding="utf-8")


def _count_people(db) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM people")).scalar()


def test_wgs84_homes_sent_with_crs_gcj02_are_refused(place, tmp_path, pg_url) -> None:  # noqa: F811
    """T48 #4: a roster whose homes are WGS-84 (each in its building), sent with --crs gcj02,
    was stored with every home moved ~500 m, and the warning said to add the --crs gcj02
    given. The homes are judged against the buildings in each datum: refused, nothing stored,
    the remedy to leave the option out, with both figures."""
    db, xy = place
    homes = _six_homes(xy)
    _buildings_at(db, homes)
    roster = tmp_path / "名册.csv"
    _roster(roster, homes)
    res = run_cli(["import", "people", str(roster), "--crs", "gcj02"], pg_url)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1] == (
        "error: 文件 名册.csv 的住址按 --crs gcj02 换算后只有 0/6 个落在楼栋内："
        "坐标像是 WGS-84（GPS），请去掉 --crs gcj02（不换算时 6/6 个住址落在楼栋内）；"
        "未做任何更改 名册.csv: converted from --crs gcj02, only 0 of 6 homes lie in a "
        "building; the coordinates look like WGS-84 (GPS): leave out --crs gcj02 (not "
        "converted, 6 of 6 homes lie in a building); nothing changed"
    ), res.stderr
    assert _count_people(db) == 0
    res = run_cli(["import", "people", str(roster)], pg_url)  # as the remedy says
    assert res.returncode == 0, res.stderr
    assert "坐标" not in res.stderr, res.stderr
    assert _count_people(db) == 6
    assert _home(db, "D0") == pytest.approx(homes[0], abs=1e-9)


def test_gcj02_homes_without_crs_name_the_option_to_add(place, tmp_path) -> None:  # noqa: F811
    """The other way round: 高德 homes sent as WGS-84 are refused with --crs gcj02 to add;
    with --crs wgs84 given, the remedy is to use gcj02 instead (never the option given)."""
    db, xy = place
    homes = _six_homes(xy)
    _buildings_at(db, homes)
    roster = tmp_path / "amap.csv"
    _roster(roster, [_gcj(h) for h in homes])
    with pytest.raises(InputError) as err:
        import_people(db, roster)
    assert err.value.message.startswith(
        "文件 amap.csv 的住址不换算（按 WGS-84 读）时只有 0/6 个落在楼栋内：坐标像是 "
        "GCJ-02（高德/腾讯），请加 --crs gcj02（按 gcj02 换算后 6/6 个住址落在楼栋内）；"
        "未做任何更改 amap.csv: read as WGS-84 (not converted), only 0 of 6 homes"
    ), err.value.message
    with pytest.raises(InputError) as err:
        import_people(db, roster, crs="wgs84")
    assert "请改用 --crs gcj02（" in err.value.message, err.value.message
    assert "use --crs gcj02 instead (" in err.value.message, err.value.message
    assert _count_people(db) == 0
    assert import_people(db, roster, crs="gcj02")["people_read"] == 6
    x, y = _home(db, "D0")
    assert abs(x - homes[0][0]) < 1e-6 and abs(y - homes[0][1]) < 1e-6


def test_weak_evidence_is_warned_and_the_outside_remedy_never_repeats_the_option(
    place,  # noqa: F811
    tmp_path,
) -> None:
    """One home is too little to refuse on: it is stored, with a warning naming both figures.
    A home in no community, sent with --crs gcj02, is told to leave --crs out if it is GPS,
    not "此时请加 --crs gcj02" (T48 #4)."""
    db, xy = place
    roster = tmp_path / "one.csv"
    _roster(roster, [xy[A]])  # in building 29, WGS-84
    out = import_people(db, roster, crs="gcj02")
    assert out["warnings"][0] == (
        "文件 one.csv 的住址按 --crs gcj02 换算后有 0/1 个落在楼栋内，坐标可能是 WGS-84（GPS）"
        "（不换算时 1/1 个住址落在楼栋内）：已照此导入，请核对；若是，请去掉 --crs gcj02，"
        "再重新导入 one.csv: converted from --crs gcj02, 0 of 1 homes lie in a building; the "
        "coordinates may be WGS-84 (GPS) (not converted, 1 of 1 homes lie in a building): "
        "imported as they were read; check them, and if so, leave out --crs gcj02 and import "
        "again"
    ), out
    far = tmp_path / "far.csv"
    _roster(far, [(xy[A][0] + 0.2, xy[A][1] + 0.2)])  # some 25 km off, in no community
    warnings = import_people(db, far, crs="gcj02")["warnings"]
    assert len(warnings) == 1, warnings
    assert "此时请加 --crs gcj02" not in warnings[0]
    assert (
        "请检查其住址（已按 --crs gcj02 换算；若住址是 GPS（WGS-84）坐标，请去掉 --crs）"
        in (warnings[0])
    )
    assert (
        "check their homes (converted from --crs gcj02: if they are GPS (WGS-84) "
        "coordinates, leave out --crs)" in warnings[0]
    )


def test_api_remedies_name_the_crs_field_not_the_cli_option(place, auth_headers) -> None:  # noqa: F811
    """Stop 41's open item: POST /people/import's datum refusal and outside-home warning told
    a web client to leave out ``--crs``, an option the API has not (its form field is
    ``crs``). Now the API says ``crs=gcj02`` (nothing stored), the CLI still ``--crs``."""
    db, xy = place
    homes = _six_homes(xy)
    _buildings_at(db, homes)
    body = "人员编号,姓名,经度,纬度\n" + "".join(
        f"D{i},住户{i},{x!r},{y!r}\n" for i, (x, y) in enumerate(homes)
    )
    with TestClient(create_app(db)) as client:

        def send(text_: str, **form: str):
            return client.post(
                "/people/import",
                files={"file": ("p.csv", io.BytesIO(text_.encode("utf-8")), "text/csv")},
                data=form,
                headers=auth_headers("admin"),
            )

        r = send(body, crs="gcj02")
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "按 crs=gcj02 换算后只有 0/6 个落在楼栋内" in error, error
        assert "请去掉 crs=gcj02（" in error and "leave out crs=gcj02 (" in error, error
        assert "--crs" not in error, error
        assert _count_people(db) == 0
        far_x, far_y = xy[A][0] + 0.2, xy[A][1] + 0.2  # some 25 km off, in no community
        r = send(f"人员编号,姓名,经度,纬度\nF1,远处,{far_x!r},{far_y!r}\n", crs="gcj02")
        assert r.status_code == 200, r.text
        (warning,) = [w for w in r.json()["warnings"] if "不在任何社区" in w]
        assert "请去掉 crs）" in warning and "leave out crs)" in warning, warning
        assert "--crs" not in warning, warning
