"""A new subdistrict's areas files (outside tester T70, 何工: 学院路东街道 110108012 drawn by
hand over the CAU/学清路 extract, then 五道口 as a second subdistrict). Real PostGIS, the real
OSM extract.

- #1: communities drawn on a 高德 (GCJ-02) base map, imported without --crs, were stored about
  540 m off with no word (83 buildings in a community, not 184).
- #2: 五道口's file kept one row of 学院路东's (code 110108012003, same name) with an outline
  2 km west: the community moved, its 54 buildings left its 2 committed grids, no word.
- #19: a GeoJSON in EPSG:4548 metres without --crs was told of "converting from EPSG:4326"
  and no CRS to try.
- #20: after the GCJ-02 correction the subdistrict and district made from the communities
  were MultiPolygons of 2 parts sharing an edge (children meeting 1e-13° apart).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.errors import InputError
from geo.importer import import_osm
from geo.plans import commit_plan, create_plan
from tests.dbcheck import community_buildings
from tests.t70_city import OUTLINES, PARENTS, SUB, communities_file
from tests.test_import import run_cli

C003 = "110108012003"


@pytest.fixture()
def city(db, shared_data):  # noqa: ANN001, ANN201
    """An empty installation with the CAU/学清路 extract imported, as T70 began."""
    import_osm(db, shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm")
    return db


def _write(path: Path, features: list[tuple[dict, shapely.Geometry]]) -> Path:
    """A GeoJSON of (properties, geometry), with no crs member (as QGIS and 高德 exports)."""
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": mapping(g)} for p, g in features
        ],
    }
    path.write_text(json.dumps(fc, ensure_ascii=False), "utf-8")
    return path


def _wudaokou_samename(tmp_path: Path) -> Path:
    """T70's 五道口 file made from his template: one row kept 110108012003 清华东路南社区,
    its outline 五道口's 华清社区, 2 km west."""
    props = {"code": C003, "name": "清华东路南社区", "level": "社区"}
    outline = box(116.325, 39.99, 116.332, 40.0)
    return _write(tmp_path / "wudaokou_samename.geojson", [(props, outline)])


def _incommunities_file(db) -> dict[str, int]:  # noqa: ANN001
    """Buildings linked to each community."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, count(b.id) FROM areas a LEFT JOIN buildings b "
                "ON b.community_id = a.id WHERE a.level = 'community' GROUP BY a.code"
            )
        ).all()
    return dict(rows)


def _state(db) -> list[tuple]:  # noqa: ANN001
    """Every area (code, name, outline) and building link: what a refusal leaves alone."""
    with db.connect() as conn:
        areas = conn.execute(
            text("SELECT code, name, md5(ST_AsBinary(geom)) FROM areas ORDER BY code")
        ).all()
        links = conn.execute(text("SELECT id, community_id FROM buildings ORDER BY id")).all()
    return [tuple(r) for r in areas] + [tuple(r) for r in links]


def _grids(db, community: str) -> tuple[int, int]:  # noqa: ANN001
    """Commit a partition of ``community`` at 300–500 (T70's bounds): its grids, households."""
    commit_plan(db, create_plan(db, community, 300, 500, created_by="t70"))
    with db.connect() as conn:
        n, hh = conn.execute(
            text(
                "SELECT count(*), sum(g.households) FROM grids g JOIN areas a "
                "ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 "
                "AND g.retired_at IS NULL"
            ),
            {"c": community},
        ).one()
    return int(n), int(hh)


def test_communities_drawn_in_gcj02_without_crs_are_refused(city, pg_url, tmp_path):
    """#1: refused (exit 2, nothing stored), naming the fit as read and as gcj02 and the
    --crs to add; with --crs gcj02 the communities hold their buildings. The right WGS-84
    file goes in without a word, and sent with --crs gcj02 it is warned about."""
    gcj = communities_file(tmp_path / "communities_gcj02.geojson", "gcj02")
    proc = run_cli(["import", "areas", str(gcj)], pg_url)
    assert proc.returncode == 2, proc.stdout
    err = " ".join(proc.stderr.split())  # rich may wrap the error line
    assert (
        "error: 文件 communities_gcj02.geojson 的社区不换算（按 WGS-84 读）时，有 83 栋楼落在"
        "社区内、17 栋被社区边界切开：坐标像是 GCJ-02（高德/腾讯），请加 --crs gcj02（按 gcj02 "
        "换算后 184 栋在内、6 栋被切开）；若坐标确是 WGS-84（GPS），请加 --crs wgs84 重新导入；"
        "未导入任何数据 communities_gcj02.geojson: its community outlines read as WGS-84 (not "
        "converted) hold 83 stored buildings and their boundaries cut 17; the coordinates look "
        "like GCJ-02 (Amap/Tencent): add --crs gcj02 (converted from gcj02, 184 lie inside and "
        "6 are cut); if they really are WGS-84 (GPS), import again with --crs wgs84; nothing "
        "was imported"
    ) in err, proc.stderr
    with city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM areas")).scalar_one() == 0

    counts = import_areas(city, gcj, crs="gcj02")
    assert "warnings" not in counts, counts
    by_datum = _incommunities_file(city)
    # the same as the right WGS-84 file gives
    wgs = communities_file(tmp_path / "communities_wgs84.geojson")
    counts = import_areas(city, wgs)
    assert "warnings" not in counts and counts["areas_written"] == 0, counts
    assert _incommunities_file(city) == by_datum
    assert sum(by_datum.values()) >= 180, by_datum

    # the right file with a wrong --crs: imported as declared, and said so
    counts = import_areas(city, wgs, crs="gcj02")
    assert counts["warnings"][0] == (
        "文件 communities_wgs84.geojson 的社区按 --crs gcj02 换算后，有 195 栋楼落在社区内、"
        "35 栋被社区边界切开，坐标可能是 WGS-84（GPS）（不换算时 184 栋在内、6 栋被切开）："
        "已照此导入，请核对；若是，请去掉 --crs gcj02，再重新导入 communities_wgs84.geojson: "
        "its community outlines converted from --crs gcj02 hold 195 stored buildings and their "
        "boundaries cut 35; the coordinates may be WGS-84 (GPS) (not converted, 184 lie inside "
        "and 6 are cut): imported as they were read; check them, and if so, leave out --crs "
        "gcj02 and import again"
    ), counts


def test_a_same_name_community_moved_off_its_grids_is_refused(city, tmp_path):
    """#2: 五道口's file keeping 110108012003 清华东路南社区 with an outline 2 km west, while
    the community has committed grids: refused as a different name is, naming the grids,
    their households, the buildings that would leave and --replace-codes; nothing stored.
    --replace-codes lets it through, and says so."""
    import_areas(city, communities_file(tmp_path / "communities_wgs84.geojson"))
    grids, households = _grids(city, C003)
    nb, nh = community_buildings(city, C003)
    assert grids >= 2 and nb >= 50
    moved = _wudaokou_samename(tmp_path)
    before = _state(city)
    with pytest.raises(InputError) as refused:
        import_areas(city, moved)
    msg = refused.value.message
    assert msg.startswith(
        "文件 wudaokou_samename.geojson 中有 1 个区划会改掉已存的同代码区划：第 1 个要素，社区 "
        "110108012003：已存为 清华东路南社区（上级 110108012 学院路东街道），文件中为 "
        "清华东路南社区（上级 110108012 学院路东街道）；两者边界重叠 0%，中心相距 2.1 公里；"
        f"它有 {grids} 个现行网格（{households} 户）；按新边界，其 {nb} 栋楼（{nh} 户）将离开"
        "该社区。"
    ), msg
    assert "或新边界使现行网格中的楼栋离开该社区" in msg
    assert "请加 --replace-codes 110108012003 重新导入；未导入任何数据" in msg
    assert (
        f"it has {grids} current grids ({households} households); {nb} buildings ({nh} "
        "households) would fall outside the new outline and leave it."
    ) in msg
    assert "import again with --replace-codes 110108012003; nothing was imported" in msg
    assert _state(city) == before

    counts = import_areas(city, moved, replace_codes=[C003])
    replaced = "已按 --replace-codes 替换 1 个已存的同代码区划："
    assert counts["warnings"][0].startswith(replaced), counts
    assert _incommunities_file(city)[C003] == 0  # no building of the extract lies in Wudaokou


def test_a_same_name_community_moved_without_grids_is_named(city, tmp_path):
    """#2, the documented part kept: with no grid committed, an area of a stored code moved
    far is still taken as a correction, but a warning names the move and what left it."""
    import_areas(city, communities_file(tmp_path / "communities_wgs84.geojson"))
    nb = _incommunities_file(city)[C003]
    moved = _wudaokou_samename(tmp_path)
    counts = import_areas(city, moved)
    assert counts["areas_written"] == 1
    [warning] = [w for w in counts["warnings"] if "新边界与已存边界重叠" in w]
    assert warning.startswith(
        "第 1 个要素，社区 110108012003 清华东路南社区：新边界与已存边界重叠 0%，中心相距 2.1 "
        f"公里，其 {nb} 栋楼（"
    ), warning
    assert (
        "feature 1, community 110108012003 清华东路南社区: the new outline overlaps the stored "
        f"one 0%, their centres 2.1 km apart, and {nb} buildings ("
    ) in warning


def test_a_datum_correction_under_grids_goes_through_and_parents_are_one_polygon(city, tmp_path):
    """#2's exception and #20: the GCJ-02 file stored as WGS-84 (declared so), grids committed
    on it, then put right with --crs gcj02: the grids' buildings move, and it is a datum
    correction, not a takeover: it goes through. The subdistrict and district made from the
    communities are then one valid polygon each (were 2 parts sharing an edge), and stay
    valid with coordinates rounded to 1e-7° as the API writes them."""
    gcj = communities_file(tmp_path / "communities_gcj02.geojson", "gcj02")
    counts = import_areas(city, gcj, crs="wgs84")  # declared: imported, with a warning
    assert "坐标可能是 GCJ-02（高德/腾讯）" in counts["warnings"][0], counts
    _grids(city, "110108012001")
    before = _incommunities_file(city)
    counts = import_areas(city, gcj, crs="gcj02")
    assert counts["areas_written"] == 3 and "warnings" not in counts, counts
    after = _incommunities_file(city)
    assert after["110108012001"] > before["110108012001"], (before, after)
    with city.connect() as conn:
        parents = conn.execute(
            text(
                "SELECT code, ST_NumGeometries(geom), ST_IsValid(geom), ST_AsBinary(geom), "
                "outline_from_children FROM areas WHERE level <> 'community' ORDER BY code"
            )
        ).all()
    assert [(c, n, ok, made) for c, n, ok, _g, made in parents] == [
        ("110108", 1, True, True),
        (SUB, 1, True, True),
    ]
    for _c, _n, _ok, wkb, _m in parents:
        rounded = shapely.transform(shapely.from_wkb(bytes(wkb)), lambda xy: np.round(xy, 7))
        assert shapely.is_valid(rounded), shapely.is_valid_reason(rounded)


def test_parents_made_from_gcj02_communities_are_one_polygon(city, tmp_path):
    """#20 on a first import: the parents made from communities converted from GCJ-02 are
    one valid polygon each, covering the communities to within the snap (about 1 mm)."""
    import_areas(city, communities_file(tmp_path / "c.geojson", "gcj02"), crs="gcj02")
    with city.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.code, ST_NumGeometries(p.geom), ST_IsValid(p.geom), "
                "max(ST_Area(ST_Difference(c.geom, p.geom)::geography)) FROM areas p "
                "JOIN areas c ON c.parent_id = p.id GROUP BY p.code, p.geom ORDER BY p.code"
            )
        ).all()
    assert [(c, n, ok) for c, n, ok, _m2 in rows] == [("110108", 1, True), (SUB, 1, True)]
    assert max(m2 for *_, m2 in rows) < 0.01


def test_a_projected_geojson_without_crs_is_told_to_give_one(db, pg_url, tmp_path):
    """#19: T70's communities in EPSG:4548 metres, a GeoJSON with no crs member, no --crs:
    refused as projected (metres), naming EPSG:4548 for Beijing, not "converting from
    EPSG:4326"; with --crs EPSG:4548 it imports."""
    from geo.crs import reproject

    feats = [
        ({"code": code, "name": name, "level": "社区", **PARENTS},
         reproject(shapely.Polygon(ring), "EPSG:4326", "EPSG:4548"))
        for code, (name, ring) in OUTLINES.items()
    ]  # fmt: skip
    path = _write(tmp_path / "communities_4548_nocrs.geojson", feats)
    proc = run_cli(["import", "areas", str(path)], pg_url)
    assert proc.returncode == 2, proc.stdout
    err = " ".join(proc.stderr.split())
    assert (
        "error: 文件 communities_4548_nocrs.geojson 未声明其他坐标系（GeoJSON 按 WGS-84 "
        "经纬度读），坐标（如 444194.983, 4429744.705）不是经纬度，像是平面坐标（米）：请用 --crs "
        "指定其坐标系，如北京 EPSG:4548（CGCS2000 3度带，中央经线 117°E）"
    ) in err, proc.stderr
    assert (
        "communities_4548_nocrs.geojson declares no other CRS (a GeoJSON is read as WGS-84 "
        "longitude/latitude) and its coordinates (e.g. 444194.983, 4429744.705) are not "
        "degrees but look projected (metres): give its CRS with --crs, e.g. EPSG:4548"
    ) in err, proc.stderr
    assert "EPSG:4326" not in err
    assert import_areas(db, path, crs="EPSG:4548")["areas_read"] == 3
