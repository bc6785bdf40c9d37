"""Where imported areas lie against what is stored, and buildings in no community (outside
re-tester T48): communities imported with a wrong --crs before the OSM were stored 255 km
from their own subdistrict and the OSM then linked none of its buildings, silently (#2); a
building in a community's hole was never mentioned (#6); and the English halves' plurals
and repeated row numbers (#7). Real PostGIS."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.errors import InputError
from geo.importer import import_buildings, import_osm
from geo.plans import create_plan
from geo.settings import get_settings
from tests.conftest import FIXTURES
from tests.dbcheck import community_buildings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_import import run_cli
from tests.test_import_areas_files import (
    NAMES,
    X0,
    Y0,
    W,
    _areas,
    _communities,
    _one_far,
    _shapefile,
)
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _subdistrict(tmp_path: Path) -> Path:
    """The three communities' subdistrict (学院路街道, 110108017), right, as GeoJSON."""
    sub = gpd.GeoDataFrame(
        {"代码": ["110108017"], "名称": ["学院路街道"]},
        geometry=[shapely.union_all(_communities().geometry.to_numpy())],
        crs=4326,
    )
    path = tmp_path / "街道.geojson"
    sub.to_file(path, engine="pyogrio")
    return path


def _buildings(tmp_path: Path, feats: list[tuple[str, shapely.Geometry, int, str | None]]):
    """A buildings GeoJSON: (id, footprint, households, name) each."""
    path = tmp_path / "buildings.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": i, "households": hh, "name": name},
                        "geometry": shapely.geometry.mapping(g),
                    }
                    for i, g, hh, name in feats
                ],
            }
        ),
        "utf-8",
    )
    return path


def _inside(i: int) -> shapely.Geometry:
    """A small building inside community ``i`` (0, 1, 2), near its south-west corner."""
    return box(X0 + i * W + 0.001, Y0 + 0.001, X0 + i * W + 0.0012, Y0 + 0.0012)


def test_communities_far_from_their_stored_subdistrict_are_refused(db, pg_url, tmp_path):
    """T48 #2 (a): on an empty folder, the subdistrict right, then the communities (EPSG:4548,
    no .prj) with --crs EPSG:4547: they were stored at 113.3°E under their own subdistrict
    (linked by code) at 116.3°E, with no word. With no building or street stored they are
    now checked against the stored areas they nest in: refused, naming the --crs given and
    the zone the stored data imply; nothing stored."""
    import_areas(db, _subdistrict(tmp_path), level="街道")
    path = _shapefile(_communities().to_crs(4548), tmp_path / "社区.shp", "UTF-8", True, False)
    proc = run_cli(["import", "areas", str(path), "--crs", "EPSG:4547", "--level", "社区"], pg_url)
    assert proc.returncode != 0
    err = " ".join(proc.stderr.split())  # rich may wrap the error line
    assert (
        "文件 社区.shp 中有已存上级或下级的 3 个区划离它们都超过 5 公里（如社区 110108017001 "
        "静淑苑社区 在东经 113.3" in err
    ), proc.stderr
    assert (
        "其上级街道 110108017 学院路街道 在东经 116.3260°、北纬 39.9920°）：多半是 --crs "
        "EPSG:4547 不对；已有数据在东经 116.33° 附近，那里的 CGCS2000 3度带（中央经线 117°E）"
        "是 EPSG:4548。若坐标无误，请核对区划代码（上级按 parent_code 或代码的前几位确定）；"
        "未导入任何数据 社区.shp: all 3 areas with a stored parent or child lie over 5 km "
        "from them (e.g. community 110108017001 静淑苑社区 at 113.3"
    ) in err, proc.stderr
    assert (
        "its parent subdistrict 110108017 学院路街道 at 116.3260E, 39.9920N): most likely "
        "--crs EPSG:4547 is wrong; the stored data lie near 116.33E, where the CGCS2000 "
        "3-degree Gauss-Kruger zone (CM 117E) is EPSG:4548. If their coordinates are right, "
        "check their codes (the parent is named by parent_code or the code's first digits); "
        "nothing was imported"
    ) in err, proc.stderr
    assert set(_areas(db)) == {"110108017"}
    counts = import_areas(db, path, crs="EPSG:4548", level="社区")  # the right one
    assert counts["parents_linked"] == 3 and "warnings" not in counts
    assert set(_areas(db)) == {"110108017", *NAMES}


def test_one_area_far_from_its_parent_is_warned_of(db, tmp_path):
    """The same check, one area of three far from its parent (a wrong code or outline, not
    the file's CRS): imported, and named in a warning."""
    import_areas(db, _subdistrict(tmp_path), level="街道")
    path = _one_far(tmp_path)
    counts = import_areas(db, path, level="community")
    assert counts["areas_written"] == 3
    assert counts["warnings"] == [
        "文件 c.geojson 中有 1 个区划离已存的上级或下级区划超过 5 公里（110108017003；如社区 "
        "110108017003 清华东路社区 在东经 117.0020°、北纬 39.9920°，其上级街道 110108017 "
        "学院路街道 在东经 116.3260°、北纬 39.9920°）：请核对它们的坐标和区划代码"
        "（上级按 parent_code 或代码的前几位确定） "
        "c.geojson: 1 area lies over 5 km from a stored area it nests in or contains "
        "(110108017003; e.g. community 110108017003 清华东路社区 at 117.0020E, 39.9920N, its "
        "parent subdistrict 110108017 学院路街道 at 116.3260E, 39.9920N): check their "
        "coordinates and codes (the parent is named by parent_code or the code's first digits)"
    ]


def test_a_subdistrict_far_from_its_stored_communities_is_refused(db, tmp_path):
    """The other way round: communities first, then their subdistrict with a wrong CRS."""
    path = tmp_path / "c.geojson"
    _communities().to_file(path, engine="pyogrio")
    import_areas(db, path, level="community")
    sub = gpd.read_file(_subdistrict(tmp_path)).to_crs(4548)
    wrong = _shapefile(sub, tmp_path / "街道.shp", "UTF-8", True, False)
    with pytest.raises(InputError) as err:
        import_areas(db, wrong, crs="EPSG:4547", level="subdistrict")
    assert "其下级社区 110108017001 静淑苑社区" in err.value.message
    assert "its child area community 110108017001 静淑苑社区" in err.value.message
    assert "110108017" not in _areas(db)


def test_buildings_in_no_community_after_wrong_areas_are_warned_of(db, pg_url, tmp_path):
    """T48 #2 (b): communities alone (nothing to check them against) imported with a wrong
    --crs, then the OSM: 0 buildings got a community and `import osm` said nothing. It now
    warns, Chinese first, with the counts, the likely cause and the remedy; `import
    buildings` too. Imported again with the right --crs, they hold the buildings."""
    path = _shapefile(_communities().to_crs(4548), tmp_path / "社区.shp", "UTF-8", True, False)
    assert "warnings" not in import_areas(db, path, crs="EPSG:4547", level="community")
    proc = run_cli(["import", "osm", str(FIXTURES / "haidian_demo.osm")], pg_url)
    assert proc.returncode == 0, proc.stderr
    with db.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    # then the first import's streets nobody holds (T70 #9)
    assert len(warning) == 2 and warning[1].startswith("warning: 新区域的路网："), proc.stderr
    assert warning[0].startswith(
        f"warning: 已存 3 个社区，但 {total} 栋楼中没有一栋在任何社区内（社区在东经 113.3"
    )
    assert (
        "：多半是导入社区边界时坐标系（--crs）不对；若区划文件是平面坐标（米），已有数据在东经 "
        "116.3"
    ) in warning[0]
    assert (
        "是 EPSG:4548。请用正确的 --crs 重新导入社区（gridward import areas 文件 --crs …），"
        "楼栋随即归入社区；在此之前这些楼栋不在任何网格中，也不计入任何社区的户数 "
        f"3 communities are stored, but none of the {total} buildings lies in any of them "
        "(the communities near 113.3"
    ) in warning[0]
    assert warning[0].endswith(
        "Import the communities again with the right --crs (gridward import areas FILE "
        "--crs …) and the buildings join them; until then these buildings are in no grid and "
        "in no community's household count"
    )
    # import buildings says it too
    counts = import_buildings(db, _buildings(tmp_path, [("b0", _inside(0), 10, None)]))
    assert counts["warnings"][0].startswith(
        f"已存 3 个社区，但 {total + 1} 栋楼中没有一栋在任何社区内"
    )
    # the right --crs: the stored communities are moved (not judged by where they were)
    counts = import_areas(db, path, crs="EPSG:4548", level="community")
    assert counts["areas_written"] == 3
    assert not any("没有一栋" in w for w in counts.get("warnings", []))
    with db.connect() as conn:
        linked = conn.execute(
            text("SELECT count(*) FROM buildings WHERE community_id IS NOT NULL")
        ).scalar_one()
    assert linked >= 1


def test_a_building_in_a_community_hole_is_named(db, pg_url, tmp_path):
    """T48 #6: building 87 (272 households) in the hole of a community was in no community
    and no grid, and no import said so. `import areas` and `import buildings` name it (one
    line, Chinese first); a building outside every area (an extract wider than the district)
    is not mentioned."""
    gdf = _communities()
    hole = box(X0 + W + 0.0015, Y0 + 0.0015, X0 + W + 0.0025, Y0 + 0.0025)
    gdf.loc[1, "geometry"] = gdf.geometry[1].difference(hole)
    areas = tmp_path / "c.geojson"
    gdf.to_file(areas, engine="pyogrio")
    in_hole = box(X0 + W + 0.0018, Y0 + 0.0018, X0 + W + 0.0022, Y0 + 0.0022)
    outside = box(X0 + 0.02, Y0, X0 + 0.0202, Y0 + 0.0002)  # 1.7 km east of them all
    feats = [(f"b{i}", _inside(i), 10, None) for i in range(3)]
    feats += [("gym", in_hole, 272, "中国农业大学体育馆"), ("far", outside, 5, "远处")]
    buildings = _buildings(tmp_path, feats)
    import_buildings(db, buildings)
    with db.connect() as conn:
        gym = conn.execute(
            text("SELECT id FROM buildings WHERE source_key = 'file:gym'")
        ).scalar_one()
    line = (
        f"1 栋楼（272 户）不在任何社区内：楼栋 {gym} 中国农业大学体育馆。它在社区边界的空洞或"
        "缝隙里（或所在社区还没导入），不在任何网格中，也不计入任何社区的户数；若它属于某个社区，"
        "请在 GIS 中修正其边界后重新导入区划（或导入那个社区） "
        f"1 building (272 households) in no community: building {gym} 中国农业大学体育馆. "
        "It lies in a hole or a gap of the community outlines (or in a community not imported "
        "yet), in no grid and in no community's household count; if it belongs to a "
        "community, correct its outline and import the areas again (or import that community)"
    )
    assert import_areas(db, areas, level="community")["warnings"] == [line]
    proc = run_cli(["import", "buildings", str(buildings)], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(
        "buildings_read=5, buildings_written=0, households_given=5, households_estimated=0, "
        "grids_updated=0"
    ), proc.stdout
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")] == [
        f"warning: {line}"
    ]
    # outlines with no hole: nothing to say
    _communities().to_file(areas, engine="pyogrio")
    assert "warnings" not in import_areas(db, areas, level="community")


def test_the_demo_city_says_nothing_of_buildings_in_no_community(db):
    """The demo: its OSM cut is wider than its communities; no warning for that."""
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    notes: dict = {}
    import_osm(db, FIXTURES / "haidian_demo.osm", notes=notes)
    # only the first import's streets nobody holds yet (T70 #9)
    assert len(notes["warnings"]) == 1, notes["warnings"]
    assert notes["warnings"][0].startswith(
        "新区域的路网：114 条新街巷（街 17 条、巷 97 条）尚无人负责："
        "110108015 清华园街道 内 114 条，"
    )


def test_one_overlapping_pair_is_singular(db, tmp_path):
    """T48 #7: "1 pairs of communities overlap"."""
    path = tmp_path / "two.geojson"
    _communities(("110108017001", "110108017002"), overlap_deg=0.0001).to_file(
        path, engine="pyogrio"
    )
    (warning,) = import_areas(db, path, level="community")["warnings"]
    assert warning.startswith("有 1 对社区边界相互重叠：110108017001 静淑苑社区 与 ")
    assert " 1 pair of communities overlaps: 110108017001 and 110108017002 by " in warning


def test_a_commit_of_one_grid_is_singular(
    demo,  # noqa: F811
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
):
    """T48 #7: "committed plan 5: version 1, 1 grids"."""
    _n, total = community_buildings(demo, COMMUNITY)
    plan = create_plan(demo, COMMUNITY, 1, int(total) + 1, created_by="t")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "commit", str(plan))
    finally:
        get_settings.cache_clear()
    assert res.returncode == 0, res
    assert res.stdout.splitlines()[0] == (
        f"已提交方案 {plan}：第 1 版，1 个网格 committed plan {plan}: version 1, 1 grid"
    ), res.stdout
