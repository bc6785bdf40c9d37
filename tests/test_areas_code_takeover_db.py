"""An areas file must not silently take over another area's code (outside tester T50 #1, #2,
#7): a second district's file with one community coded 110108015001 by mistake (another
name, 2 km away) turned the demo's 清华园西北社区 into 小月河社区, its buildings left every
community and past reports changed; with another parent_code it was re-parented (a scope
change); a district row drawn as the new area only left 清华园街道 outside its own district.
All exited 0 with no word. Now refused, nothing stored, unless ``--replace-codes`` names the
codes. Real PostGIS, the demo city."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.errors import InputError
from geo.plans import commit_plan, create_plan
from tests.dbcheck import community_buildings
from tests.test_import import run_cli
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

SW = "110108015001"  # 清华园西北社区 in the demo
# the new district's four communities, 116.349–116.359°E (2–4 km east of the demo)
NEW = [box(116.347 + i * 0.006, 40.000 + j * 0.005, 116.353 + i * 0.006, 40.005 + j * 0.005)
       for j in range(2) for i in range(2)]  # fmt: skip


def _state(db) -> list[tuple]:
    """What an import must leave alone when refused: every area and building link."""
    with db.connect() as conn:
        areas = conn.execute(
            text(
                "SELECT a.code, a.name, p.code, md5(ST_AsBinary(a.geom)), a.outline_from_children "
                "FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.code"
            )
        ).all()
        links = conn.execute(text("SELECT id, community_id FROM buildings ORDER BY id")).all()
    return [tuple(r) for r in areas] + [tuple(r) for r in links]


def _file(tmp_path: Path, rows: list[dict], name: str = "areas.gpkg") -> Path:
    """An areas file (EPSG:4548, as the district office writes them) of ``rows``: code, name,
    level, geometry (WGS 84), parent_code (optional)."""
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).to_crs(4548)
    path = tmp_path / name
    gdf.to_file(path, engine="pyogrio")
    return path


def _dupcode_b(tmp_path: Path) -> Path:
    """T50 #1: district 110105's file, its second community coded 110108015001 by mistake."""
    codes = ["110105030001", SW, "110105030003", "110105030004"]
    names = ["林大社区", "小月河社区", "石板房社区", "双泉堡社区"]
    rows = [
        {"code": "110105", "name": "朝阳区", "level": "区", "geometry": shapely.union_all(NEW)},
        {"code": "110105030", "name": "学院路街道", "level": "街道",
         "geometry": shapely.union_all(NEW)},
    ] + [
        {"code": c, "name": n, "level": "社区", "geometry": g}
        for c, n, g in zip(codes, names, NEW, strict=True)
    ]  # fmt: skip
    return _file(tmp_path, rows, "cau_areas_B_dupcode.gpkg")


def _commit_grids(db, community: str) -> tuple[int, int]:
    """Commit a plan of ``community``; its current level-1 grids and their households."""
    _n, total = community_buildings(db, community)
    commit_plan(db, create_plan(db, community, 100, max(200, int(total) // 3), created_by="t"))
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), sum(g.households) FROM grids g JOIN areas a "
                "ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 "
                "AND g.retired_at IS NULL"
            ),
            {"c": community},
        ).one()
    return int(row[0]), int(row[1])


def _refused(demo, path) -> str:  # noqa: ANN001
    """The import's refusal of ``path``."""
    with pytest.raises(InputError) as refused:
        import_areas(demo, path)
    return refused.value.message


def test_another_districts_file_with_a_stored_code_is_refused(demo, pg_url, tmp_path):  # noqa: F811
    """T50 #1: refused, naming the feature, the code, the stored name and parent, the file's
    name and parent, the overlap and distance, the committed grids and the buildings that
    would leave; nothing stored. --replace-codes lets it through."""
    grids, households = _commit_grids(demo, SW)
    nb, nh = community_buildings(demo, SW)
    before = _state(demo)
    path = _dupcode_b(tmp_path)
    proc = run_cli(["import", "areas", str(path)], pg_url)
    assert proc.returncode != 0, proc.stdout
    err = " ".join(proc.stderr.split())  # rich may wrap the error line
    assert (
        "文件 cau_areas_B_dupcode.gpkg 中有 1 个区划会改掉已存的同代码区划：第 4 个要素，社区 "
        "110108015001：已存为 清华园西北社区（上级 110108015 清华园街道），文件中为 小月河社区"
        "（上级 110108015 清华园街道）；两者边界重叠 0%，中心相距 3."
    ) in err, proc.stderr
    assert (
        f" 公里；它有 {grids} 个现行网格（{households} 户）；按新边界，其 {nb} 栋楼（{nh} 户）"
        "将离开该社区。"
    ) in err, proc.stderr
    assert (
        "请加 --replace-codes 110108015001 重新导入；未导入任何数据 "
        "cau_areas_B_dupcode.gpkg: 1 area would take over a stored area of the same code: "
        "feature 4, community 110108015001: stored as 清华园西北社区 (parent 110108015 "
        "清华园街道), the file says 小月河社区 (parent 110108015 清华园街道); the outlines "
        "overlap 0%, their centres 3."
    ) in err, proc.stderr
    assert (
        f" km apart; it has {grids} current grids ({households} households); {nb} buildings "
        f"({nh} households) would fall outside the new outline and leave it."
    ) in err, proc.stderr
    assert err.endswith("import again with --replace-codes 110108015001; nothing was imported"), (
        proc.stderr
    )
    assert _state(demo) == before
    # the real case (the community renamed and redrawn): named, it goes through
    proc = run_cli(["import", "areas", str(path), "--replace-codes", SW], pg_url)
    assert proc.returncode == 0, proc.stderr
    # and said so, with the same words
    assert (
        "warning: 已按 --replace-codes 替换 1 个已存的同代码区划：第 4 个要素，社区 110108015001："
        "已存为 清华园西北社区（上级 110108015 清华园街道），文件中为 小月河社区"
    ) in proc.stderr, proc.stderr
    assert " replaced 1 stored area of the same code as --replace-codes says: feature 4, " in (
        proc.stderr
    )
    with demo.connect() as conn:
        name = conn.execute(text("SELECT name FROM areas WHERE code = :c"), {"c": SW}).scalar()
    assert name == "小月河社区"


def test_a_stored_community_named_under_another_parent_is_refused(demo, tmp_path):  # noqa: F811
    """T50 #2: the same community (same name, same outline) with parent_code 110108017: a
    move to another subdistrict, a scope change for planners: refused, naming both parents;
    --replace-codes lets it through and the community is re-parented."""
    with demo.connect() as conn:
        geom = conn.execute(
            text("SELECT ST_AsText(geom) FROM areas WHERE code = :c"), {"c": SW}
        ).scalar_one()
    rows = [
        {"code": "110108017", "name": "学院路街道", "level": "街道", "parent_code": None,
         "geometry": shapely.union_all(NEW)},
        {"code": SW, "name": "清华园西北社区", "level": "社区", "parent_code": "110108017",
         "geometry": shapely.from_wkt(geom)},
    ]  # fmt: skip
    path = _file(tmp_path, rows)
    before = _state(demo)
    msg = _refused(demo, path)
    assert msg.startswith(
        "文件 areas.gpkg 中有 1 个区划会改掉已存的同代码区划：第 2 个要素，社区 110108015001："
        "已存为 清华园西北社区（上级 110108015 清华园街道），文件中为 清华园西北社区（上级 "
        "110108017 学院路街道）；两者边界重叠 100%，中心相距 0.0 公里。"
    ), msg
    assert (
        "feature 2, community 110108015001: stored as 清华园西北社区 (parent 110108015 "
        "清华园街道), the file says 清华园西北社区 (parent 110108017 学院路街道); the outlines "
        "overlap 100%, their centres 0.0 km apart."
    ) in msg
    assert _state(demo) == before
    import_areas(demo, path, replace_codes=[SW])
    with demo.connect() as conn:
        parent = conn.execute(
            text("SELECT p.code FROM areas a JOIN areas p ON p.id = a.parent_id WHERE a.code = :c"),
            {"c": SW},
        ).scalar_one()
    assert parent == "110108017"


def test_a_district_redrawn_around_the_new_area_only_is_refused(demo, tmp_path):  # noqa: F811
    """T50 #7: a 110108 海淀区 row drawn as the new area only would leave 清华园街道 wholly
    outside its own district: refused, naming it; --replace-codes 110108 lets it through."""
    rows = [
        {"code": "110108", "name": "海淀区", "level": "区", "geometry": shapely.union_all(NEW)},
        {"code": "110108017", "name": "学院路街道", "level": "街道",
         "geometry": shapely.union_all(NEW)},
    ]  # fmt: skip
    path = _file(tmp_path, rows, "withdistrict.gpkg")
    before = _state(demo)
    msg = _refused(demo, path)
    assert msg.startswith(
        "文件 withdistrict.gpkg 中有 1 个区划会改掉已存的同代码区划：第 1 个要素，区 110108 "
        "海淀区：新边界将使已存的下级区划大部分落在其外：街道 110108015 清华园街道（0% 在内）。"
    ), msg
    assert (
        "withdistrict.gpkg: 1 area would take over a stored area of the same code: feature 1, "
        "district 110108 海淀区: its new outline would leave stored child areas mostly "
        "outside it: subdistrict 110108015 清华园街道 (0% inside)."
    ) in msg
    assert "--replace-codes 110108" in msg
    assert _state(demo) == before
    import_areas(demo, path, replace_codes=["110108"])
    with demo.connect() as conn:
        made = conn.execute(
            text("SELECT outline_from_children FROM areas WHERE code = '110108'")
        ).scalar_one()
    assert made is False


def test_corrections_and_the_right_second_district_still_go_through(demo, tmp_path):  # noqa: F811
    """What is not a takeover: a community renamed on (mostly) the same outline, and the new
    district's right file (new codes; the demo's district rebuilt from both subdistricts)."""
    with demo.connect() as conn:
        geom = conn.execute(
            text("SELECT ST_AsText(geom) FROM areas WHERE code = :c"), {"c": SW}
        ).scalar_one()
    renamed = shapely.affinity.translate(shapely.from_wkt(geom), 0.0003, 0)  # ~25 m east
    path = _file(tmp_path, [{"code": SW, "name": "清华园西北新社区", "level": "社区",
                             "geometry": renamed}], "renamed.gpkg")  # fmt: skip
    assert import_areas(demo, path)["areas_written"] == 1
    codes = ["110108017001", "110108017002", "110108017003", "110108017004"]
    rows = [
        {"code": "110108017", "name": "学院路街道", "level": "街道",
         "geometry": shapely.union_all(NEW)},
    ] + [
        {"code": c, "name": f"社区{i}", "level": "社区", "geometry": g}
        for i, (c, g) in enumerate(zip(codes, NEW, strict=True))
    ]  # fmt: skip
    counts = import_areas(demo, _file(tmp_path, rows, "a.gpkg"))
    assert counts["areas_written"] == 5


def test_a_new_areas_extract_names_its_unstaffed_streets(demo, shared_data, pg_url, tmp_path):  # noqa: F811
    """T50 #9: the second district's extract into the live demo said
    new_streets_without_duty=0 and no note, with 255 new streets nobody held (it shares
    nothing with the stored network, so its streets were not counted as new). Now counted,
    and one note, Chinese first, names how many and the assign commands per subdistrict."""
    osm = shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm"
    # the new subdistrict, covering the extract's west part only
    sub = box(116.330, 39.995, 116.345, 40.020)
    path = _file(tmp_path, [{"code": "110108017", "name": "学院路街道", "level": "街道",
                             "geometry": sub}], "sub.gpkg")  # fmt: skip
    import_areas(demo, path)
    with demo.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM streets")).scalar_one()
    proc = run_cli(["import", "osm", str(osm)], pg_url)
    assert proc.returncode == 0, proc.stderr
    with demo.connect() as conn:
        s, a, inside = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE kind = 'street'), "
                "count(*) FILTER (WHERE kind = 'alley'), "
                "count(*) FILTER (WHERE ST_Intersects(st.geom, (SELECT geom FROM areas "
                "  WHERE code = '110108017'))) FROM streets st WHERE id > :m"
            ),
            {"m": before},
        ).one()
    assert s and a and 0 < inside < s + a
    assert f"new_streets_without_duty={s + a}," in proc.stdout, proc.stdout
    notes = [ln for ln in proc.stderr.splitlines() if "新区域的路网" in ln]
    assert notes == [
        f"warning: 新区域的路网：{s + a} 条新街巷（街 {s} 条、巷 {a} 条）尚无人负责："
        f"110108017 学院路街道 内 {inside} 条，请运行 gridward assign streets --area 110108017 "
        f"和 gridward assign alleys --area 110108017；另有 {s + a - inside} 条不在任何街道"
        "（乡镇）内：请先导入其区划（gridward import areas），再用 gridward assign "
        "streets|alleys --area 区划代码 安排 "
        f"the new area's network: {s + a} new streets and alleys ({s} streets, {a} alleys) "
        f"have nobody assigned: {inside} in 110108017 学院路街道: run gridward assign streets "
        f"--area 110108017 and gridward assign alleys --area 110108017; {s + a - inside} lie "
        "in no subdistrict (township): import their areas first (gridward import areas), "
        "then run gridward assign streets|alleys --area CODE"
    ], proc.stderr
