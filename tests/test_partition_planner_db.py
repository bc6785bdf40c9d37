"""A planner's day with the partition (outside tester T38): file mode on files exported from
the database (M1), no lower bound (M2), database mode's flag reasons (L1) and where it says
to look at the draft (L4). Real PostGIS, the demo fixtures."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.areas_import import import_areas
from geo.importer import import_osm
from geo.partition import FLAG_SINGLE, PartitionParams, partition
from tests.conftest import FIXTURES
from tests.test_import import run_cli
from tests.test_partition import check_partition

COMMUNITIES = ("110108015001", "110108015002", "110108015003", "110108015004")


@pytest.fixture()
def demo(db):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    return db


def _inputs(engine, code: str):
    from geo.plans import load_inputs

    with engine.connect() as conn:
        _area, outline, buildings, streets = load_inputs(conn, code)
    return outline, buildings, streets if len(streets) else None


def _fewest(buildings: gpd.GeoDataFrame, hi: int) -> int:
    """The fewest grids max ``hi`` allows: a building over it alone, the rest ceil(/ hi)."""
    hh = buildings["households"].to_numpy()
    big = hh > hi
    return int(big.sum()) + math.ceil(hh[~big].sum() / hi)


@pytest.mark.parametrize("lo", [0, 1, 100])
def test_no_lower_bound_makes_the_fewest_grids_the_max_allows(demo, lo) -> None:
    """M2: min 0 (or 1) with max 500 split 110108015001's 791 households into 5 grids,
    86 / 456 / 62 / 62 / 125, where min 300 gave 2 (480 / 311); 110108015002 got 14 grids
    (15 households the smallest) where 8 do. A lower bound under half the max now aims at
    the fewest grids the max allows: never more than one over that, never more than a real
    lower bound (300) makes; the plan keeps every invariant (contiguous, gapless, buildings
    whole, bounds)."""
    for code in COMMUNITIES:
        outline, b, s = _inputs(demo, code)
        params = PartitionParams(lo, 500, seed=0, code_prefix=code)
        r = partition(outline, b, s, params)
        check_partition(outline, b, params, r)
        bounded = partition(outline, b, s, PartitionParams(300, 500, seed=0, code_prefix=code))
        n, fewest = r.summary["n_grids"], _fewest(b, 500)
        assert n <= fewest + 1, (code, n, fewest, sorted(r.grids["households"]))
        assert n <= bounded.summary["n_grids"], (code, n, bounded.summary["n_grids"])
        single = r.grids["flags"].map(lambda f: FLAG_SINGLE in f)
        assert (r.grids["households"][~single] <= 500).all()
    outline, b, s = _inputs(demo, "110108015001")
    r = partition(outline, b, s, PartitionParams(lo, 500, seed=0))
    assert sorted(r.grids["households"]) == [311, 480]  # was 62 / 62 / 86 / 125 / 456


def test_a_low_bound_from_the_command_line_gives_the_fewest_grids(demo, pg_url) -> None:
    """M2 through the CLI, as the tester ran it: `partition --community 110108015001
    --min-households 0 --max-households 500` stores a draft of 2 grids, not 5."""
    res = run_cli(
        ["partition", "--community", "110108015001", "--min-households", "0",
         "--max-households", "500"],
        pg_url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    plan_id = int(res.stdout.split("draft plan ")[1].split()[0])
    from geo.plans import get_plan

    grids = get_plan(demo, plan_id)["features"]["features"]
    assert sorted(g["properties"]["households"] for g in grids) == [311, 480]


def test_database_mode_says_why_in_chinese_and_where_to_look(demo, pg_url, monkeypatch) -> None:
    """L1: a flagged grid's reason read in English only (over_max:single_building: one
    building holds 629 households, more than 500); it opens in Chinese now, with the values.
    L4: "请在 /plans/5 查看" named an API path a shell user cannot open: the command and the
    editor page (community and plan, as the editor's URL takes them) instead."""
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    res = run_cli(
        ["partition", "--community", "110108015002", "--min-households", "300",
         "--max-households", "500"],
        pg_url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    plan_id = int(res.stdout.split("draft plan ")[1].split()[0])
    rows = [ln for ln in res.stdout.splitlines() if "one building holds" in ln]
    assert len(rows) == 2, res.stdout
    assert any(
        "单栋楼 629 户，超过上限 500，无法拆分 one building holds 629 households, more than 500"
        "（over_max:single_building）" in row
        for row in rows
    ), res.stdout
    assert "单栋楼 1080 户，超过上限 500，无法拆分" in res.stdout
    editor = f"/maps/editor?community=110108015002&plan={plan_id}"
    assert f"请用 'gridward plans show {plan_id}' 或在网格编辑器 {editor} 查看" in res.stdout, (
        res.stdout
    )
    assert f"review it with 'gridward plans show {plan_id}' or in the grid editor at {editor}" in (
        res.stdout
    )
    assert "/plans/" not in res.stdout
    # the editor opens that draft at that address
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.test_maps_pages import token_for

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    with TestClient(create_app(demo)) as client:
        page = client.get(editor, headers=planner)
    assert page.status_code == 200 and f"#{plan_id}" in page.text, page.text[:500]


def _export(engine, tmp_path: Path, code: str) -> tuple[Path, Path, gpd.GeoDataFrame]:
    """The tester's files: the area feature of ``code`` and the buildings whose
    community_code is ``code``, as `gridward export areas|buildings` writes them."""
    from geo.export import export_layer

    export_layer(engine, "areas", tmp_path / "areas.geojson")
    export_layer(engine, "buildings", tmp_path / "buildings.geojson")
    areas = json.loads((tmp_path / "areas.geojson").read_text(encoding="utf-8"))
    blds = json.loads((tmp_path / "buildings.geojson").read_text(encoding="utf-8"))
    a, b = tmp_path / f"c_{code}.geojson", tmp_path / f"b_{code}.geojson"
    for path, doc, keep in (
        (a, areas, lambda p: p["code"] == code),
        (b, blds, lambda p: p["community_code"] == code),
    ):
        feats = [f for f in doc["features"] if keep(f["properties"])]
        path.write_text(json.dumps({**doc, "features": feats}), encoding="utf-8")
    return a, b, gpd.read_file(b)


def test_file_mode_takes_buildings_straddling_the_area_whole(demo, tmp_path) -> None:
    """M1: the buildings of 110108015002 with its area feature, as exported: two straddle
    the line, and file mode refused them (`2 栋楼在区域外或跨越区域边界（第一栋：楼栋 55）`,
    exit 2) though database mode takes them whole. Now they are taken whole here too (their
    grid crosses the line by them), one warning names them by feature number and id, and
    the stdout table is as before."""
    from tests.test_partition_cli_inputs import GRIDWARD, REPO

    code = "110108015002"
    a, b, frame = _export(demo, tmp_path, code)
    area = shapely.union_all(gpd.read_file(a).geometry.values)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    across = np.flatnonzero(~shapely.covers(area, geoms))
    assert len(across) == 2  # the tester's two
    names = [f"第 {i + 1} 个要素（id {int(frame['id'][i])}）" for i in across]
    assert names[0] == "第 55 个要素（id 147）", names  # as the tester met it
    out = tmp_path / "g.geojson"
    args = ["partition", "--area", str(a), "--buildings", str(b), "--min-households", "300",
            "--max-households", "500", "--out", str(out)]  # fmt: skip
    res = subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if "跨越区域边界" in ln]
    assert len(warn) == 1 and warn[0].startswith("warning: 2 栋楼跨越区域边界"), res.stderr
    assert "、".join(names) in warn[0], warn[0]
    en = ", ".join(f"feature {i + 1} (id {int(frame['id'][i])})" for i in across)
    assert "2 building(s) straddle the area boundary" in warn[0] and en in warn[0], warn[0]
    # stdout: the summary table and the written line, nothing new
    assert re.search(r"楼栋数 Buildings\s*│\s*59 ", res.stdout), res.stdout
    assert "跨越" not in res.stdout
    grids = gpd.read_file(out)
    assert int(grids["households"].sum()) == int(frame["households"].sum())
    cover = shapely.union_all(grids.geometry.values)
    for i in across:  # each whole inside the grids, none clipped (coordinates to 1e-8°)
        left_out = shapely.area(shapely.difference(geoms[i], cover)) / shapely.area(geoms[i])
        assert left_out < 1e-4, (i, left_out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc["features"][0]["properties"]) == {
        "code", "households", "building_count", "flags", "polsby_popper", "street_share",
        "leader_count", "worker_count", "area_m2",
    }  # fmt: skip


def test_file_mode_still_refuses_a_building_that_belongs_elsewhere(demo, tmp_path) -> None:
    """M1: a building that lies wholly outside is still refused, named by its feature number
    and its own id, not "楼栋 55" (which a planner read as building 55). One overlapping the
    area with its inner point outside was refused too; T46 #1: it is taken whole."""
    from tests.test_partition_cli_inputs import _one_error, _run

    code = "110108015002"
    a, b, frame = _export(demo, tmp_path, code)
    area = shapely.union_all(gpd.read_file(a).geometry.values)
    # the area without most of one building wholly inside: a strip of it is left inside, on
    # the side away from its inner point, which now lies outside
    geoms = np.asarray(frame.geometry.values, dtype=object)
    inside = shapely.covers(area, geoms) & (shapely.get_num_geometries(geoms) == 1)
    k = int(np.flatnonzero(inside)[0])
    g = geoms[k]
    x0, y0, x1, y1 = g.bounds
    w = 0.15 * (x1 - x0)
    far_left = shapely.point_on_surface(g).x > (x0 + x1) / 2
    strip = shapely.box(x0, y0, x0 + w, y1) if far_left else shapely.box(x1 - w, y0, x1, y1)
    cut = shapely.difference(area, shapely.difference(g, strip).buffer(1e-7))
    assert shapely.intersects(cut, g) and not shapely.intersects(cut, shapely.point_on_surface(g))
    shrunk = tmp_path / "shrunk.geojson"
    gpd.GeoDataFrame({"code": [code]}, geometry=[cut], crs=4326).to_file(shrunk)
    # T46 #1: now taken whole, as the database takes a building overlapping one community
    # only (its inner point was the rule, and refused it); named in the straddle warning
    res = _run(["partition", "--area", str(shrunk), "--buildings", str(b)], tmp_path / "o.json")
    n, ident = k + 1, int(frame["id"].iloc[k])
    assert res.returncode == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if "跨越区域边界" in ln]
    assert len(warn) == 1 and f"第 {n} 个要素（id {ident}）" in warn[0], res.stderr
    assert f"feature {n} (id {ident})" in warn[0], warn[0]
    # one drawn far away: wholly outside
    far = frame.copy()
    far.loc[far.index[2], "geometry"] = shapely.affinity.translate(far.geometry.values[2], 0.05)
    moved = tmp_path / "far.geojson"
    far.to_file(moved)
    line = _one_error(
        _run(["partition", "--area", str(a), "--buildings", str(moved)], tmp_path / "o.json")
    )
    ident = int(frame["id"].iloc[2])
    assert f"1 栋楼在区域外（第一栋：第 3 个要素（id {ident}））" in line, line
    assert f"1 building(s) lie outside the area (first: feature 3 (id {ident}))" in line, line


def test_flag_reasons_in_chinese_and_file_mode_unchanged() -> None:
    """L1: the engine gives each reason in Chinese too (``reasons_zh``, beside ``reasons``);
    database mode's table reads it first, file mode's stdout keeps its English row as
    planners' scripts read it; a plan stored before ``reasons_zh`` gets the editor's words."""
    from api.cli_partition import _reasons_cell
    from tests.test_partition import layout

    area, b, s = layout(2, 1, [[60, 700, 80, 90]])
    r = partition(area, b, s, PartitionParams(100, 500))
    item = next(x for x in r.summary["flagged"] if FLAG_SINGLE in x["flags"])
    assert item["reasons"] == ["one building holds 700 households, more than 500"]
    assert item["reasons_zh"] == ["单栋楼 700 户，超过上限 500，无法拆分"]
    assert _reasons_cell(item, chinese=False) == (
        "over_max:single_building: one building holds 700 households, more than 500"
    )
    assert _reasons_cell(item, chinese=True) == (
        "单栋楼 700 户，超过上限 500，无法拆分 one building holds 700 households, more than 500"
        "（over_max:single_building）"
    )
    stored = {k: v for k, v in item.items() if k != "reasons_zh"}  # a plan from before
    assert _reasons_cell(stored, chinese=True) == (
        "单栋楼超上限，无法拆分 one building holds 700 households, more than 500"
        "（over_max:single_building）"
    )
    bare = {"flags": ["under_min:unresolved", "multipart"], "reasons": []}
    assert _reasons_cell(bare, chinese=True) == (
        "未找到合适划分、多块（under_min:unresolved, multipart）"
    )
