"""Importing real Haidian data into PostGIS: counts, validity, lengths, CRS, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.crs import wgs84_to_gcj02
from geo.errors import InputError
from geo.households_import import import_households
from geo.importer import import_buildings, import_osm
from tests.conftest import FIXTURES
from tests.dbcheck import fingerprint
from tests.test_osm import _expected_segments, _walkable_xml

EXTRACTS = ["tsinghua_wudaokou_2017.osm", "cau_xueqinglu_2026.osm"]
GEOD = Geod(ellps="WGS84")
GRIDWARD = [sys.executable, "-m", "api.cli"]


def run_cli(args: list[str], pg_url: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": pg_url}
    return subprocess.run(
        [*GRIDWARD, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _gdal_building_count(path: Path) -> int:
    gdal = pyogrio.read_dataframe(path, layer="multipolygons", columns=["building"])
    return int((gdal["building"].notna() & (gdal["building"] != "no")).sum())


def test_import_both_extracts_counts_validity_lengths(db, shared_data):
    expected_buildings = 0
    expected_segments = 0
    for name in EXTRACTS:
        path = shared_data / "osm_beijing_haidian" / name
        counts = import_osm(db, path)
        ways, _ = _walkable_xml(path)
        n_seg = sum(_expected_segments(ways).values())
        n_bld = _gdal_building_count(path)
        assert counts["segments_read"] == n_seg
        assert counts["buildings_read"] == n_bld
        expected_buildings += n_bld
        expected_segments += n_seg
    with db.connect() as conn:
        n_b, bad_b, srid_b = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
                "array_agg(DISTINCT ST_SRID(geom)) FROM buildings"
            )
        ).one()
        n_s, bad_s, srid_s = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
                "array_agg(DISTINCT ST_SRID(geom)) FROM street_segments"
            )
        ).one()
        kinds = dict(
            conn.execute(text("SELECT kind, count(*) FROM street_segments GROUP BY kind")).all()
        )
        hh = conn.execute(text("SELECT household_source, count(*) FROM buildings GROUP BY 1")).all()
    assert n_b == expected_buildings and bad_b == 0 and srid_b == [4326]
    assert n_s == expected_segments and bad_s == 0 and srid_s == [4326]
    assert kinds["alley"] > kinds["street"] > 100
    assert dict(hh) == {"estimated": expected_buildings}

    # stored lengths (metres) agree with a pyproj geodesic length of the stored geometry
    segs = gpd.read_postgis(
        "SELECT length_m, geom FROM street_segments", db, geom_col="geom", crs="EPSG:4326"
    )
    geodesic = np.array([GEOD.geometry_length(g) for g in segs.geometry])
    assert np.all(np.abs(segs["length_m"].to_numpy() - geodesic) <= 0.01 * geodesic + 1e-6)

    # idempotent: importing again writes nothing and duplicates nothing
    before = fingerprint(db)
    again = import_osm(db, shared_data / "osm_beijing_haidian" / EXTRACTS[0])
    assert again["buildings_written"] == again["segments_written"] == 0
    after = fingerprint(db)
    for table in ("buildings", "streets", "street_segments"):
        assert after[table] == before[table]


def test_demo_fixtures_areas_and_links(db):
    counts = import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    fc = json.loads((FIXTURES / "communities.geojson").read_text())
    assert counts["areas_read"] == len(fc["features"])
    with db.connect() as conn:
        levels = dict(conn.execute(text("SELECT level, count(*) FROM areas GROUP BY 1")).all())
        orphans = conn.execute(
            text("SELECT count(*) FROM areas WHERE level <> 'district' AND parent_id IS NULL")
        ).scalar()
        unlinked = conn.execute(
            text("SELECT count(*) FROM buildings WHERE community_id IS NULL")
        ).scalar()
        # the district is the union of its communities: same area within 0.1 %
        areas = dict(conn.execute(text("SELECT level, sum(area_m2) FROM areas GROUP BY 1")).all())
    assert levels == {"district": 1, "subdistrict": 1, "community": len(fc["features"])}
    assert orphans == 0
    assert unlinked == 0  # every building of the demo lies in a community
    assert areas["district"] == pytest.approx(areas["community"], rel=1e-3)


def _area_feature(code: str, x0: float, **props: str) -> dict:
    ring = [[x0, 39.99], [x0 + 0.002, 39.99], [x0 + 0.002, 39.992], [x0, 39.992], [x0, 39.99]]
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"社区{code[-3:]}", "level": "community", **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_a_new_subdistrict_is_the_union_of_the_communities_linked_to_it(db, tmp_path):
    """A subdistrict named by the file is made from its communities by parent link, not only
    those whose code begins with its own (outside tester: a file whose only community did not
    nest crashed the import with a NOT NULL error; one nesting and one linked community gave
    the subdistrict the nesting one's outline only)."""
    sub = {"subdistrict_code": "110108055", "subdistrict_name": "新街道"}
    path = tmp_path / "new.geojson"
    feats = [
        _area_feature("110108055001", 116.30, **sub),
        _area_feature("110108088001", 116.31, parent_code="110108055", **sub),
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    assert import_areas(db, path)["parents"] == 1
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, p.code, a.area_m2 FROM areas a LEFT JOIN areas p "
                "ON p.id = a.parent_id ORDER BY a.code"
            )
        ).all()
    got = {c: (pc, m2) for c, pc, m2 in rows}
    assert got["110108055001"][0] == got["110108088001"][0] == "110108055"
    assert got["110108055"][1] == pytest.approx(
        got["110108055001"][1] + got["110108088001"][1], rel=1e-6
    )
    # a file naming its communities' subdistrict only by subdistrict_code links them to it
    only = tmp_path / "only.geojson"
    feats = [_area_feature("110108099001", 116.32, **sub)]
    only.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    import_areas(db, only)
    with db.connect() as conn:
        parent = conn.execute(
            text(
                "SELECT p.code FROM areas a JOIN areas p ON p.id = a.parent_id "
                "WHERE a.code = '110108099001'"
            )
        ).scalar()
    assert parent == "110108055"


def _areas_m2(db) -> dict[str, float]:
    with db.connect() as conn:
        return dict(conn.execute(text("SELECT code, area_m2 FROM areas")).all())


def _write(path: Path, feats: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    return path


def test_a_subdistrict_made_from_its_communities_follows_later_links(db, tmp_path):
    """A subdistrict (and district) made from its children is redrawn by every later import:
    a community linked to it later lies inside it, one linked away leaves it (outside tester:
    its outline stayed the union at creation, so staffing, which looks for people near the
    stored outline, missed the later community's people). A subdistrict imported with its own
    outline keeps it."""
    sub = {
        "subdistrict_code": "110108055",
        "subdistrict_name": "新街道",
        "district_code": "110108",
        "district_name": "海淀区",
    }
    import_areas(db, _write(tmp_path / "a.geojson", [_area_feature("110108055001", 116.30, **sub)]))
    first = _areas_m2(db)
    assert first["110108055"] == pytest.approx(first["110108055001"], rel=1e-6)
    # a later file links a community coded elsewhere, and one nesting by code alone
    later = [
        _area_feature("110108088001", 116.31, parent_code="110108055"),
        _area_feature("110108055002", 116.32),
    ]
    import_areas(db, _write(tmp_path / "b.geojson", later))
    m2 = _areas_m2(db)
    three = m2["110108055001"] + m2["110108088001"] + m2["110108055002"]
    assert m2["110108055"] == pytest.approx(three, rel=1e-6)
    assert m2["110108"] == pytest.approx(three, rel=1e-6)  # the district made from it follows
    with db.connect() as conn:
        inside = conn.execute(
            text(
                "SELECT bool_and(ST_Covers(p.geom, c.geom)) FROM areas c "
                "JOIN areas p ON p.id = c.parent_id"
            )
        ).scalar()
    assert inside
    # linked away to a subdistrict with its own outline: the made one shrinks, the given
    # one is not redrawn
    own = _area_feature("110108066", 116.40)
    own["properties"]["level"] = "subdistrict"
    moved = _area_feature("110108088001", 116.31, parent_code="110108066")
    # (a move to another subdistrict is named, T50 #2)
    import_areas(db, _write(tmp_path / "c.geojson", [own, moved]), replace_codes=["110108088001"])
    m2 = _areas_m2(db)
    two = m2["110108055001"] + m2["110108055002"]
    assert m2["110108055"] == pytest.approx(two, rel=1e-6)
    assert m2["110108066"] == pytest.approx(m2["110108055001"], rel=1e-2)  # its own square
    assert m2["110108066"] < m2["110108055"]


def test_a_parent_code_naming_no_area_is_refused_and_nothing_is_imported(db, tmp_path):
    path = tmp_path / "orphan.geojson"
    feats = [_area_feature("110108099002", 116.30, parent_code="110108077")]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    with pytest.raises(InputError, match="parent_code '110108077' of area 110108099002 names no"):
        import_areas(db, path)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM areas")).scalar() == 0


def test_gcj02_buildings_land_within_1m_of_truth(db, tmp_path):
    truth = gpd.read_file(FIXTURES / "communities.geojson")  # any real polygons will do
    # real building footprints from the demo extract, written as if a Chinese app made them
    from geo.osm import read_osm

    blds = read_osm(FIXTURES / "haidian_demo.osm").buildings.head(40).reset_index(drop=True)

    def to_gcj(coords: np.ndarray) -> np.ndarray:
        x, y = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    gcj = gpd.GeoDataFrame(
        {"building_id": [f"b{i}" for i in range(len(blds))], "households": 10},
        geometry=shapely.transform(blds.geometry.to_numpy(), to_gcj),
        crs="EPSG:4326",
    )
    path = tmp_path / "gcj.geojson"
    gcj.to_file(path, driver="GeoJSON")
    assert len(truth) > 0
    import_buildings(db, path, crs="gcj02")
    stored = gpd.read_postgis(
        "SELECT source_key, household_source, households, geom FROM buildings ORDER BY id",
        db,
        geom_col="geom",
        crs="EPSG:4326",
    )
    assert len(stored) == len(blds)
    stored = stored.set_index("source_key").loc[[f"file:b{i}" for i in range(len(blds))]]
    assert set(stored["household_source"]) == {"given"} and set(stored["households"]) == {10}
    utm = "EPSG:32650"
    a = gpd.GeoSeries(stored.geometry.values, crs="EPSG:4326").to_crs(utm)
    b = gpd.GeoSeries(blds.geometry.values, crs="EPSG:4326").to_crs(utm)
    dist = np.array([shapely.hausdorff_distance(x, y) for x, y in zip(a, b, strict=True)])
    assert dist.max() < 1.0
    # and the uncorrected GCJ-02 input really was hundreds of metres off
    raw = gpd.GeoSeries(gcj.geometry.values, crs="EPSG:4326").to_crs(utm)
    assert shapely.hausdorff_distance(raw.iloc[0], b.iloc[0]) > 300


def test_households_file_sets_given_counts(db, tmp_path):
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, source_key, ST_X(ST_PointOnSurface(geom)), "
                "ST_Y(ST_PointOnSurface(geom)) FROM buildings ORDER BY id LIMIT 3"
            )
        ).all()
    by_id = tmp_path / "hh.csv"
    by_id.write_text(f"building_id,户数\n{rows[0][1]},123\n{rows[1][0]},45\n", encoding="utf-8")
    import_households(db, by_id)
    by_point = tmp_path / "hh_points.csv"
    by_point.write_text(f"经度,纬度,households\n{rows[2][2]},{rows[2][3]},77\n")
    import_households(db, by_point)
    with db.connect() as conn:
        got = dict(
            conn.execute(
                text("SELECT id, households FROM buildings WHERE household_source = 'given'")
            ).all()
        )
    assert got == {rows[0][0]: 123, rows[1][0]: 45, rows[2][0]: 77}
    # re-importing OSM keeps the given counts
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM buildings WHERE household_source = 'given'")
        ).scalar()
    assert n == 3


def _bad_inputs(tmp_path: Path, shared_data: Path) -> list[tuple[list[str], str]]:
    corrupt = tmp_path / "corrupt.osm"
    raw = (shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm").read_bytes()
    corrupt.write_bytes(raw[: len(raw) // 2])
    no_coords = tmp_path / "no_coords.csv"
    no_coords.write_text("name,households\nA,10\n")
    good = tmp_path / "good.csv"
    good.write_text(
        'code,name,wkt\n110108015001,x,"POLYGON((116.3 40,116.31 40,116.31 40.01,116.3 40))"\n'
    )
    missing_hh = tmp_path / "unknown_building.csv"
    missing_hh.write_text("building_id,households\nosm:w999999999,5\n")
    self_cross = tmp_path / "bowtie.geojson"
    self_cross.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "110108015001", "name": "x"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [
                                    [116.3, 40],
                                    [116.31, 40.01],
                                    [116.31, 40],
                                    [116.3, 40.01],
                                    [116.3, 40],
                                ]
                            ],
                        },
                    }
                ],
            }
        )
    )
    return [
        (["import", "osm", str(corrupt)], "corrupt"),
        (["import", "buildings", str(no_coords)], "no coordinate columns"),
        (
            ["import", "areas", str(good), "--crs", "EPSG:999999", "--level", "community"],
            "unknown CRS",
        ),
        (["import", "households", str(missing_hh)], "does not exist"),
        (["import", "areas", str(self_cross), "--level", "community"], "not a valid polygon"),
        (["import", "osm", str(tmp_path / "missing.osm")], "missing.osm"),
    ]


def test_bad_files_give_one_line_and_change_nothing(db, pg_url, shared_data, tmp_path):
    import_osm(db, FIXTURES / "haidian_demo.osm")
    before = fingerprint(db)
    for args, needle in _bad_inputs(tmp_path, shared_data):
        proc = run_cli(args, pg_url)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "%" not in ln]
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, proc.stderr)
        assert needle.lower() in lines[0].lower(), (args, lines[0])
        assert "Traceback" not in proc.stderr
    assert fingerprint(db) == before


def test_cli_import_and_export_roundtrip(db, pg_url, tmp_path):
    proc = run_cli(["import", "osm", str(FIXTURES / "haidian_demo.osm")], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "segments_read=" in proc.stdout
    assert proc.stdout.startswith("已导入 OSM：读入楼栋 "), proc.stdout  # T38 L12
    out = tmp_path / "segments.gpkg"
    proc = run_cli(["export", "segments", "--out", str(out)], pg_url)
    assert proc.returncode == 0, proc.stderr
    exported = gpd.read_file(out)
    with db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM street_segments")).scalar()
    assert len(exported) == n > 100
    assert exported.crs.to_epsg() == 4326
    out2 = tmp_path / "buildings.geojson"
    assert run_cli(["export", "buildings", "--out", str(out2)], pg_url).returncode == 0
    b = gpd.read_file(out2)
    assert "phone" not in b.columns and b["households"].sum() > 0
    assert isinstance(b, pd.DataFrame)


@pytest.mark.parametrize("with_ids", [True, False])
def test_a_building_listed_twice_or_of_a_million_households_is_refused(db, tmp_path, with_ids):
    """Helper B found what tester W's F9 found in file mode here too: a footprint listed
    twice was stored twice under two ids (its households counted twice), or, without ids,
    once with one copy's count picked at random; 10^12 households went in. Both refused by
    feature number, nothing stored; the file without them imports."""
    from geo.osm import read_osm

    blds = read_osm(FIXTURES / "haidian_demo.osm").buildings.head(6).reset_index(drop=True)
    frame = gpd.GeoDataFrame(
        {"households": [10, 20, 30, 40, 50, 60]}, geometry=blds.geometry.values, crs=4326
    )
    if with_ids:
        frame["building_id"] = [f"b{i}" for i in range(len(frame))]
    doubled = pd.concat([frame, frame.iloc[[2]].assign(households=99)], ignore_index=True)
    if with_ids:
        doubled.loc[len(doubled) - 1, "building_id"] = "copy"
    path = tmp_path / "b.geojson"
    gpd.GeoDataFrame(doubled, crs=4326).to_file(path, driver="GeoJSON")
    before = fingerprint(db)
    with pytest.raises(InputError, match="features 3 and 7 have identical footprints"):
        import_buildings(db, path)
    huge = frame.assign(households=[10, 20, 30, 10**12, 50, 60])
    gpd.GeoDataFrame(huge, crs=4326).to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match="feature 4 has households 1000000000000"):
        import_buildings(db, path)
    assert fingerprint(db) == before
    frame.to_file(path, driver="GeoJSON")
    assert import_buildings(db, path)["buildings_written"] == 6


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_an_areas_file_with_swapped_coordinates_is_called_swapped(db, pg_url, tmp_path, suffix):
    """T37 F15: communities written (lat, lon) were refused as "从 EPSG:4326 换算后坐标超出
    经纬度范围：--crs 是否写对了？", sending the clerk to --crs. Now the refusal says the
    longitude and latitude look swapped, Chinese first, naming a point; nothing stored. The
    file as it should be still imports."""
    good = gpd.read_file(FIXTURES / "communities.geojson")
    turned = good.copy()
    turned["geometry"] = shapely.transform(good.geometry.values, lambda xy: xy[:, ::-1])
    path = tmp_path / f"swapped{suffix}"
    turned.to_file(path, driver="GPKG" if suffix == ".gpkg" else "GeoJSON")
    x, y = shapely.get_coordinates(turned.geometry.values)[0]
    before = fingerprint(db)
    with pytest.raises(InputError) as err:
        import_areas(db, path, level="community")
    msg = err.value.message
    assert msg.startswith(
        f"文件 {path.name} 的经纬度疑似写反（如第 1 个坐标读作经度 {x:.10g}、纬度 {y:.10g}）："
        "读作纬度的值都在 73–136 之间，像是中国的经度；对调后所有坐标都在中国境内。"
        "请对调每个坐标的经度与纬度（坐标应为经度在前、纬度在后）后重新导入；未导入任何数据 "
    ), msg
    assert f"{path.name}: longitude and latitude look swapped" in msg, msg
    assert "--crs" not in msg and "nothing was imported" in msg, msg
    assert fingerprint(db) == before

    # the CLI says the same, in one line, exit 2, and stores nothing
    proc = run_cli(["import", "areas", str(path), "--level", "community"], pg_url)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert proc.returncode == 2 and lines == [f"error: {msg}"], proc.stderr
    assert fingerprint(db) == before
    assert import_areas(db, FIXTURES / "communities.geojson", level="community")["areas_read"] == 4


def test_swapped_coordinates_outside_china_and_in_a_table_are_named(tmp_path):
    """T37 F15, the other cases: latitudes beyond ±90 that are valid longitudes once swapped
    (not China) are called swapped too; a CSV's remedy names its two columns; metres of a
    projected CRS are not judged so."""
    from geo.vector_io import read_vector

    box = shapely.box(37.0, -122.1, 37.1, -122.0)  # San Francisco written (lat, lon)
    path = tmp_path / "sf.geojson"
    gpd.GeoDataFrame({"code": ["1"]}, geometry=[box], crs=4326).to_file(path, driver="GeoJSON")
    with pytest.raises(InputError) as err:
        read_vector(path)
    assert "的经纬度疑似写反" in err.value.message, err.value.message
    assert "有纬度超出 ±90，对调后所有坐标都是有效的经纬度" in err.value.message
    assert "latitudes beyond ±90: swapped, every point is a valid longitude/latitude" in (
        err.value.message
    )

    table = tmp_path / "homes.csv"
    table.write_text("code,经度,纬度\n1,39.99,116.31\n2,40.00,116.32\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_vector(table)
    assert "请对调 经度 与 纬度 两列的列名（若列名无误，则对调两列的值）" in err.value.message
    assert "swap the headers of columns 经度 and 纬度 (or their values)" in err.value.message

    utm = tmp_path / "utm.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(440000, 4420000, 440100, 4420100)], crs=32650).to_file(
        utm, driver="GeoJSON"
    )
    assert len(read_vector(utm)) == 1


def test_the_import_lines_open_in_chinese_and_count_linked_parents(db, pg_url, tmp_path):
    """Outside tester T38, L12: `import areas` printed areas_read=1, areas_written=1,
    parents=0 only, no Chinese, and parents=0 though the community was linked to its stored
    subdistrict: parents counts the parents made from their children. Each import line now
    opens in Chinese saying what it did, parents said as made (由下级生成上级) and the
    linked ones counted (parents_linked); the key=value part last, its keys unchanged."""
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    feat = _area_feature("110108015009", 116.330, parent_code="110108015")
    path = _write(tmp_path / "empty_comm.geojson", [feat])
    proc = run_cli(["import", "areas", str(path)], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "已导入区划：读入 1，写入 1，由下级生成上级 0，已关联上级 1 "
        "areas_read=1, areas_written=1, parents=0, parents_linked=1"
    ), proc.stdout
    with db.connect() as conn:
        parent = conn.execute(
            text(
                "SELECT p.code FROM areas a JOIN areas p ON p.id = a.parent_id "
                "WHERE a.code = '110108015009'"
            )
        ).scalar()
    assert parent == "110108015"

    ring = [[116.3310, 39.9910], [116.3312, 39.9910], [116.3312, 39.9912], [116.3310, 39.9912]]
    b = {
        "type": "Feature",
        "properties": {"building_id": "b1", "households": 12},
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }
    path = _write(tmp_path / "b.geojson", [b])
    proc = run_cli(["import", "buildings", str(path)], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "已导入楼栋：读入 1，写入 1，户数为给定 1、为估算 0，网格户数已更新 0 buildings_read=1, "
        "buildings_written=1, households_given=1, households_estimated=0, grids_updated=0"
    ), proc.stdout
    hh = tmp_path / "hh.csv"
    hh.write_text("building_id,户数\nb1,15\n", encoding="utf-8")
    proc = run_cli(["import", "households", str(hh)], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "已导入户数：读入 1 行，更新楼栋 1，网格户数已更新 0 "
        "rows=1, buildings_updated=1, grids_updated=0, buildings_confirmed=0, "
        "buildings_unchanged=0, rows_estimated=0"
    ), proc.stdout


def test_a_missing_field_of_a_geojson_is_a_property_and_of_a_csv_a_column(db, tmp_path):
    """T41 #6: "文件 area_nocode.geojson 缺少 code 列（现有的列：name, geometry）": a GeoJSON
    feature has properties, not columns, and its geometry is none of them. A GeoJSON (or
    GeoPackage) now names the properties it has; a CSV keeps 列 and names its own header."""
    feat = _area_feature("110108015009", 116.330)
    del feat["properties"]["code"], feat["properties"]["level"]
    path = _write(tmp_path / "area_nocode.geojson", [feat])
    with pytest.raises(InputError) as err:
        import_areas(db, path, level="community")
    assert err.value.message == (
        "文件 area_nocode.geojson 缺少 code 属性（现有的属性：name） "
        "area_nocode.geojson: missing property 'code'; found name"
    )
    gpkg = tmp_path / "area_nocode.gpkg"
    gpd.read_file(path).to_file(gpkg, driver="GPKG")
    with pytest.raises(InputError) as err:
        import_areas(db, gpkg, level="community")
    assert err.value.message.startswith("文件 area_nocode.gpkg 缺少 code 属性（现有的属性：name）")
    # features without any property
    bare = _write(tmp_path / "bare.geojson", [{**feat, "properties": {}}])
    with pytest.raises(InputError) as err:
        import_areas(db, bare, level="community")
    assert err.value.message == (
        "文件 bare.geojson 缺少 code 属性（现有的属性：无） "
        "bare.geojson: missing property 'code'; found none"
    )
    # a CSV: its columns, as the file has them (lon/lat included, no geometry)
    csv = tmp_path / "area_nocode.csv"
    csv.write_text("name,lon,lat\nx,116.33,39.99\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_areas(db, csv, level="community")
    assert err.value.message == (
        "文件 area_nocode.csv 缺少 code 列（现有的列：name, lon, lat） "
        "area_nocode.csv: missing column 'code'; found name, lon, lat"
    )
    # a households file: the same words
    hh = _write(
        tmp_path / "hh.geojson",
        [{"type": "Feature", "properties": {"人数": 3}, "geometry": {"type": "Point",
          "coordinates": [116.331, 39.991]}}],
    )  # fmt: skip
    with pytest.raises(InputError) as err:
        import_households(db, hh)
    assert err.value.message == (
        "文件 hh.geojson 没有户数属性（households 或 户数；现有的属性：人数） "
        "hh.geojson: no households property (households or 户数); found 人数"
    )
    hh_csv = tmp_path / "hh.csv"
    hh_csv.write_text("building_id,人数\nb1,3\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_households(db, hh_csv)
    assert err.value.message.startswith(
        "文件 hh.csv 没有户数列（households 或 户数；现有的列：building_id, 人数） "
    )
