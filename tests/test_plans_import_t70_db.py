"""Outside tester T70 (何工, a subdistrict's IT lead bringing gridward up for his own area from
an empty installation): the CAU extract as 学院路东街道 110108012 with the three communities he
drew, community 001 partitioned at 300–500 households, one building moved in QGIS and
committed, then a household correction (one building 6 → 36), then the building moved back
in QGIS. Real PostGIS, the real OSM extract (no file of his is read)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import shapely.ops
from shapely.geometry import mapping, shape
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.export import export_layer
from geo.households_import import import_households
from geo.importer import import_osm
from geo.plans import commit_plan, create_plan, get_plan
from tests.t70_city import communities_file
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)

COMMUNITY = "110108012001"
# the building he moved (id 116 in his installation) and the one he corrected (6 → 36)
MOVED = "osm:w167302111"
CORRECTED = "osm:w167170297"


def _setup(db, shared_data: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """His empty installation after `import osm`, `import areas` and his two household
    files (the campus's non-residential buildings zeroed; the staff housing from 高德)."""
    import_osm(db, shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm")
    areas = communities_file(tmp_path / "communities_wgs84.geojson")
    import_areas(db, areas)
    zero = tmp_path / "hh_ids.csv"
    keys = ["osm:w154079723", "osm:w154823541", "osm:w167169201", "osm:w682589371"]
    with db.connect() as conn:
        keys += [
            r.source_key
            for r in conn.execute(text("SELECT source_key FROM buildings WHERE name = '教学楼'"))
        ]
    pd.DataFrame({"楼栋编号": keys, "户数": 0}).to_csv(zero, index=False)
    import_households(db, zero)
    gaode = tmp_path / "hh_gaode.csv"
    pd.DataFrame(
        {
            "地址": [f"农大东区家属院{i}号楼" for i in range(1, 7)] + ["东区公寓A", "东区公寓B"],
            "经度": [116.353453, 116.354283, 116.355031, 116.355062, 116.353421, 116.352969,
                     116.362179, 116.363947],
            "纬度": [40.004372, 40.004387, 40.005397, 40.005674, 40.005344, 40.006028,
                     40.001720, 40.002252],
            "户数": [48, 52, 60, 80, 54, 96, 120, 120],
        }
    ).to_csv(gaode, index=False)  # fmt: skip
    import_households(db, gaode, crs="gcj02")


def _move(db, tmp_path: Path, key: str, to: str, name: str) -> Path:  # noqa: ANN001
    """His edit_grids2.py on gridward's own export: the building's footprint (grown 5e-5°)
    cut from its grid's polygon and added to grid ``to``'s; the level-1 rows written."""
    export = tmp_path / f"export_{name}"
    export_layer(db, "grids", export)
    frame = json.loads(export.read_text("utf-8"))
    g1 = {f["properties"]["code"]: f for f in frame["features"] if f["properties"]["level"] == 1}
    with db.connect() as conn:
        wkb = conn.execute(
            text("SELECT ST_AsBinary(geom) FROM buildings WHERE source_key = :k"), {"k": key}
        ).scalar_one()
    footprint = shapely.from_wkb(bytes(wkb))
    src = max(g1, key=lambda c: shape(g1[c]["geometry"]).intersection(footprint).area)
    s, d = shape(g1[src]["geometry"]), shape(g1[to]["geometry"])
    piece = footprint.buffer(0.00005).intersection(s)
    g1[src]["geometry"] = mapping(s.difference(piece))
    g1[to]["geometry"] = mapping(d.union(piece))
    frame["features"] = list(g1.values())
    path = tmp_path / name
    path.write_text(json.dumps(frame, ensure_ascii=False), "utf-8")
    return path


def _correct(db, tmp_path: Path) -> dict:  # noqa: ANN001
    """His hh_fix.xlsx: building osm:w167170297 corrected from 6 to 36 households."""
    fix = tmp_path / "hh_fix.xlsx"
    pd.DataFrame({"楼栋编号": [CORRECTED], "户数": [36], "备注": ["核查后更正"]}).to_excel(
        fix, index=False
    )
    return import_households(db, fix)


def _version2(db, shared_data: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """His version 1 (the engine's 300–500 plan) and version 2 (building 116 moved from grid
    001 to 004 in QGIS and imported)."""
    from geo.grid_file_import import import_grid_file

    _setup(db, shared_data, tmp_path)
    commit_plan(db, create_plan(db, COMMUNITY, 300, 500, created_by="t"), actor="t")
    edited = _move(db, tmp_path, MOVED, "110108012001004", "grids_edited.geojson")
    commit_plan(db, import_grid_file(db, edited, COMMUNITY)["plan_id"], actor="t")


def _outlines(db, version: int) -> dict[str, shapely.Geometry]:  # noqa: ANN001
    """Community 001's level-1 grids of ``version``: code → outline as stored."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, ST_AsBinary(g.geom) AS wkb FROM grids g JOIN areas a "
                "ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 AND g.version = :v"
            ),
            {"c": COMMUNITY, "v": version},
        ).all()
    return {r.code: shapely.from_wkb(bytes(r.wkb)) for r in rows}


def _latest_plan(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return int(conn.execute(text("SELECT max(id) FROM grid_plans")).scalar_one())


def _plans(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one())


def _same(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    """The same outline, but for the float noise of a GeoJSON round trip."""
    return float(shapely.area(shapely.symmetric_difference(a, b))) < 1e-14


def _footprint(db, key: str) -> shapely.Geometry:  # noqa: ANN001
    with db.connect() as conn:
        wkb = conn.execute(
            text("SELECT ST_AsBinary(geom) FROM buildings WHERE source_key = :k"), {"k": key}
        ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def _redraw_in_osm(db, key: str, dx: float, dy: float) -> None:  # noqa: ANN001
    """A footprint redrawn in OSM and imported again, as the database then holds it."""
    with db.begin() as conn:
        conn.execute(
            text("UPDATE buildings SET geom = ST_Translate(geom, :dx, :dy) WHERE source_key = :k"),
            {"dx": dx, "dy": dy, "k": key},
        )


@pytest.fixture()
def cli(run_inproc, monkeypatch, pg_url):  # noqa: ANN001, ANN201, F811
    """``gridward ARGS…`` run in process against the test database."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)

    def run(*args: str):  # noqa: ANN202
        get_settings.cache_clear()
        try:
            return run_inproc(*args)
        finally:
            get_settings.cache_clear()

    return run


def test_a_household_correction_keeps_the_outlines_of_the_grids_not_edited(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
    cli,  # noqa: ANN001
) -> None:
    """T70 #4: after one building's households were corrected 6 → 36, moving building 116
    back from grid 004 to 001 in QGIS redrew every outline (the data fingerprint hashes the
    household counts) and grid 005, which no edit touched (same 14 buildings, 316
    households), came out as 4 pieces, flagged 不连通 and refused at commit. A household
    count moves no outline: the four grids holding their version-2 buildings keep their
    version-2 outlines exactly, the two edited grids are redrawn, no grid is in pieces, the
    output says so, and the commit goes through without --allow-disconnected."""
    _version2(db, shared_data, tmp_path)
    version2 = _outlines(db, 2)
    assert all(shapely.get_num_geometries(g) == 1 for g in version2.values())
    assert _correct(db, tmp_path)["buildings_updated"] == 1
    back = _move(db, tmp_path, MOVED, "110108012001001", "grids_edited3.geojson")

    res = cli("plans", "import", str(back), "--community", COMMUNITY)
    assert res.returncode == 0, res
    edited = ["110108012001001", "110108012001004"]
    assert (
        "轮廓：4 个网格保留现行第 2 版的轮廓，2 个按楼栋重新绘制（110108012001001, "
        "110108012001004） outlines: 4 grid(s) keep their outline of version 2, 2 redrawn "
        "from their buildings (110108012001001, 110108012001004)"
    ) in res.stdout, res.stdout
    assert "不连通" not in res.stdout and "disconnected" not in res.stdout, res.stdout
    pid = _latest_plan(db)
    grids = {
        f["properties"]["code"]: (f["properties"], shape(f["geometry"]))
        for f in get_plan(db, pid)["features"]["features"]
    }
    assert {c: p["households"] for c, (p, _) in grids.items()} == {
        "110108012001001": 406,
        "110108012001002": 330,  # the corrected building's grid
        "110108012001003": 441,
        "110108012001004": 456,
        "110108012001005": 316,
        "110108012001006": 353,
    }
    for code, (props, geom) in grids.items():
        assert props["flags"] == [] and shapely.get_num_geometries(geom) == 1, (code, props)
        if code not in edited:
            assert _same(geom, version2[code]), code
    done = commit_plan(db, pid, actor="t")
    assert done["version"] == 3 and done["grids_in_pieces"] == [], done


def test_a_footprint_moved_since_redraws_only_the_grids_it_lies_in(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """The other side of the rule: a footprint redrawn in OSM since version 2 (building
    osm:w167171224 of grid 005, moved 2 m over the line into grid 006) leaves grids 005 and
    006 with the same buildings but outlines that no longer hold them alone: those two are
    redrawn, the answer naming them and why, and grids 002 and 003 keep their outlines. On
    the old code any change to the data redrew every outline."""
    from geo.grid_file_import import import_grid_file

    _version2(db, shared_data, tmp_path)
    version2 = _outlines(db, 2)
    b = _footprint(db, "osm:w167171224")
    assert b.within(version2["110108012001005"])
    near = shapely.ops.nearest_points(b, version2["110108012001005"].boundary)
    dx, dy = near[1].x - near[0].x, near[1].y - near[0].y
    k = 1 + 2e-5 / (dx * dx + dy * dy) ** 0.5  # 2 m past the line
    _redraw_in_osm(db, "osm:w167171224", dx * k, dy * k)
    moved = _footprint(db, "osm:w167171224")
    assert moved.intersects(version2["110108012001006"])
    back = _move(db, tmp_path, MOVED, "110108012001001", "grids_edited3.geojson")

    out = import_grid_file(db, back, COMMUNITY)
    shape_ = out["outlines"]
    assert shape_["kept"] == ["110108012001002", "110108012001003"], shape_
    assert shape_["redrawn"] == [
        "110108012001001",
        "110108012001004",
        "110108012001005",
        "110108012001006",
    ], shape_
    assert shape_["why"].startswith(
        "社区的楼栋自第 2 版以来有变动：网格 110108012001005、110108012001006 的楼栋未变，但"
        "楼栋轮廓已不全在其原网格轮廓内"
    ), shape_
    assert "grid(s) 110108012001005, 110108012001006 hold the same buildings" in shape_["why"]
    drawn = {
        f["properties"]["code"]: shape(f["geometry"])
        for f in get_plan(db, out["plan_id"])["features"]["features"]
    }
    for code in shape_["kept"]:
        assert _same(drawn[code], version2[code]), code
    assert moved.difference(drawn["110108012001005"]).area < 1e-3 * moved.area


def test_a_grid_redrawn_in_pieces_is_not_told_to_move_stray_buildings(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
    cli,  # noqa: ANN001
) -> None:
    """When the outlines cannot be kept (here a footprint on the community line, building
    osm:w167171226 of grid 005, redrawn 6 m further out: the community's territory changed),
    every grid is redrawn and grid 005, whose 14 buildings are those of version 2, comes out
    in pieces. The commit's refusal said "move the stray buildings to a neighbouring grid",
    and 005 has none: it now says its buildings are the current ones, the pieces come from
    redrawing, and what to do."""
    from geo.grid_file_import import import_grid_file

    _version2(db, shared_data, tmp_path)
    _redraw_in_osm(db, "osm:w167171226", 0.0, -5.4e-5)  # 6 m south, over the line
    back = _move(db, tmp_path, MOVED, "110108012001001", "grids_edited3.geojson")
    out = import_grid_file(db, back, COMMUNITY)
    assert out["outlines"]["kept"] == [], out["outlines"]
    assert out["outlines"]["why"].startswith("社区边界自第 2 版以来有变动"), out["outlines"]
    pieces = [g["code"] for g in out["grids"] if "disconnected" in g["flags"]]
    assert pieces == ["110108012001005"], out["grids"]

    res = cli("plans", "commit", str(out["plan_id"]))
    assert res.returncode != 0
    err = " ".join(res.stderr.split())
    assert "把分离的楼栋移入" not in err and "stray buildings to" not in err, err
    assert (
        "网格 110108012001005 的楼栋与现行第 2 版相同，并无分离的楼栋：分块是其轮廓按楼栋重新"
        "绘制所致"
    ) in err, err
    assert (
        "grid(s) 110108012001005 hold the same buildings as in version 2, with no stray "
        "building: the pieces are how the outline was redrawn from the buildings"
    ) in err, err
    assert "--allow-disconnected" in err


WDK = "110108013001"  # 华清社区 of his second subdistrict, 五道口街道 110108013
# his wudaokou_communities.geojson: two boxes
WDK_BOXES = {
    "110108013001": ("华清社区", (116.325, 39.99, 116.332, 40.0)),
    "110108013002": ("东升社区", (116.325, 40.0, 116.332, 40.012)),
}


def _wudaokou(db, shared_data: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """His second subdistrict: the Tsinghua/Wudaokou extract and his two communities."""
    import_osm(db, shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    feats = [
        {
            "type": "Feature",
            "properties": {
                "code": code,
                "name": name,
                "level": "社区",
                "subdistrict_code": "110108013",
                "subdistrict_name": "五道口街道",
                "district_code": "110108",
                "district_name": "海淀区",
            },
            "geometry": mapping(shapely.box(*bounds)),
        }
        for code, (name, bounds) in WDK_BOXES.items()
    ]
    areas = tmp_path / "wudaokou_communities.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    import_areas(db, areas)


def _merged(db, tmp_path: Path) -> tuple[Path, str, str]:  # noqa: ANN001
    """gridward's export of the wudaokou grids with two neighbouring grids of WDK merged in
    QGIS (the second row deleted, its polygon added to the first): the file, the codes."""
    export = tmp_path / "wdk_export.geojson"
    export_layer(db, "grids", export)
    frame = gpd.read_file(export)
    grids = frame[(frame.level == 1) & (frame.community_code == WDK)].reset_index(drop=True)
    geoms = list(grids.geometry)
    whole = [i for i, g in enumerate(geoms) if shapely.get_num_geometries(g) == 1]
    i, j = next(  # not the engine's grid in two parts: the merged grid is one piece
        (i, j)
        for i in whole
        for j in whole
        if i < j
        and shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)) > 1e-4
    )
    keep, gone = grids.code[i], grids.code[j]
    merged = grids.drop(index=j).reset_index(drop=True)
    merged.loc[merged.code == keep, "geometry"] = shapely.union(geoms[i], geoms[j])
    path = tmp_path / "wdk_merged.geojson"
    merged.to_file(path, driver="GeoJSON")
    return path, keep, gone


def test_the_partition_names_a_grid_in_two_parts_and_a_repeat_gives_the_open_draft(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
    cli,  # noqa: ANN001
) -> None:
    """T70 #13: `partition --community 110108013001 --min-households 300 --max-households
    500` warned "5 个网格中有 1 个户数不在 300–500 之间" for a grid of 343 households flagged
    only multipart (网格分成 2 块); the warning now names the grid as in two parts. The same
    command run again made a second identical draft: it now answers the open one."""
    _wudaokou(db, shared_data, tmp_path)
    args = ("partition", "--community", WDK, "--min-households", "300", "--max-households")
    res = cli(*args, "500")
    assert res.returncode == 0, res
    err = " ".join(res.stderr.split())
    assert "户数不在 300–500 之间" not in err and "outside 300–500 households" not in err, err
    assert (
        "warning: 5 个网格中有 1 个分成多块（多块 multipart，不计为界内）：110108013001001"
        "（343 户）"
    ) in err, err
    assert (
        "1 of 5 grid(s) in several parts (multipart, not counted as within bounds): "
        "110108013001001 (343 households)"
    ) in err, err
    assert _plans(db) == 1

    again = cli(*args, "500")
    assert again.returncode == 0, again
    out = " ".join(again.stdout.split())
    assert f"与社区 {WDK} 未提交的草案 1 相同" in out and "未另存" in out, out
    assert "the same as open draft plan 1" in out and "not saved again" in out, out
    assert _plans(db) == 1
    # other bounds are another plan
    assert cli(*args, "600").returncode == 0
    assert _plans(db) == 2


def test_a_wrong_community_is_told_first_and_a_file_imported_twice_is_one_draft(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
    cli,  # noqa: ANN001
    auth_headers,  # noqa: ANN001
) -> None:
    """T70 #8: a file of community 110108013001 imported with --community 110108013002
    (which has no grids, so no stored household bounds) was first asked for
    --min-households/--max-households; with them given, it was told that the file holds no
    grid of that community. That comes first now. T70 #13: the same file imported twice
    made plans 8 and 9; the second now answers the first (CLI and POST /plans/import: 200,
    ``existing`` true)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    _wudaokou(db, shared_data, tmp_path)
    commit_plan(db, create_plan(db, WDK, 300, 500, created_by="t"), actor="t")
    path, keep, gone = _merged(db, tmp_path)

    wrong = cli("plans", "import", str(path), "--community", "110108013002")
    assert wrong.returncode == 2, wrong
    err = " ".join(wrong.stderr.split())
    assert "没有记录户数上下限" not in err and "--min-households" not in err, err
    assert (
        f"文件 wdk_merged.geojson 中没有社区 110108013002 的网格：其中的网格属于社区 {WDK}"
    ) in err, err
    assert f"或用 --community {WDK}" in err, err
    assert _plans(db) == 1

    first = cli("plans", "import", str(path), "--community", WDK)
    assert first.returncode == 0, first
    assert "已按文件 wdk_merged.geojson 为社区 110108013001 生成草案 2" in first.stdout
    assert _plans(db) == 2
    again = cli("plans", "import", str(path), "--community", WDK)
    assert again.returncode == 0, again
    out = " ".join(again.stdout.split())
    assert (
        "文件 wdk_merged.geojson 的网格与社区 110108013001 未提交的草案 2 相同" in out
        and "未另存" in out
    ), out
    assert "the grids of wdk_merged.geojson are those of open draft plan 2" in out, out
    assert _plans(db) == 2

    headers = auth_headers("planner", ("110108013",))
    with TestClient(create_app(db)) as client:
        r = client.post(
            "/plans/import",
            data={"community": WDK},
            files={"file": (path.name, path.read_bytes(), "application/geo+json")},
            headers=headers,
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["existing"] is True and body["plan_id"] == 2, body
    assert body["message"] == "与草案 #2 相同，未另存 identical to draft #2: not saved again"
    assert _plans(db) == 2


def test_a_file_imported_plan_measures_its_grids_compactness(
    db,  # noqa: ANN001
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """T70 #21: version 2, committed from a file, had polsby_popper null on every level-1
    grid (version 1, from the engine, had 0.24–0.65). A file-imported draft now measures each
    grid as the engine does (area, compactness, street share), and the committed grids keep
    the figures: a grid whose outline was kept has the engine's figures."""
    from geo.grid_file_import import import_grid_file

    _wudaokou(db, shared_data, tmp_path)
    engine_plan = create_plan(db, WDK, 300, 500, created_by="t")
    commit_plan(db, engine_plan, actor="t")
    engine_figures = {
        f["properties"]["code"]: f["properties"]
        for f in get_plan(db, engine_plan)["features"]["features"]
    }
    path, keep, gone = _merged(db, tmp_path)
    out = import_grid_file(db, path, WDK)
    commit_plan(db, out["plan_id"], actor="t")
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, g.properties, ST_AsBinary(g.geom) AS wkb FROM grids g "
                "JOIN areas a ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 "
                "AND g.version = 2 ORDER BY g.code"
            ),
            {"c": WDK},
        ).all()
    assert len(rows) == len(engine_figures) - 1
    metric = gpd.GeoSeries([shapely.from_wkb(bytes(r.wkb)) for r in rows], crs=4326)
    metric = metric.to_crs(32650)  # the UTM zone the engine measures Beijing in
    for r, geom in zip(rows, metric, strict=True):
        pp = r.properties.get("polsby_popper")
        assert pp is not None, r.code
        assert abs(pp - 4 * 3.141592653589793 * geom.area / geom.length**2) < 1e-3, r.code
        assert abs(r.properties["area_m2"] - geom.area) < 1.0, r.code
        assert 0.0 <= r.properties["street_share"] <= 1.0, r.code
        if r.code not in (keep, gone):  # kept outline: the engine's own figures
            for k in ("polsby_popper", "area_m2", "street_share"):
                assert abs(r.properties[k] - engine_figures[r.code][k]) < 1e-3, (r.code, k)
