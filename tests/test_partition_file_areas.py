"""File-mode partition of an area file of several communities (outside tester T64 #3,
#9): each feature a community, its grids numbered under its 12-digit code, every building
whole in the community holding most of it (the database's territory rule, ported to shapely
in geo.partition.territory), the communities' grids tiling; a feature without its code
refused; a code not of 12 digits named."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.partition import PartitionParams, partition
from tests.test_partition import check_partition, layout, to_utm, to_wgs
from tests.test_partition_file_crs import (
    BOUNDS,
    X0,
    Y0,
    _buildings_props,
    _city,
    _geojson,
    _one_error,
    _run,
    _warnings,
)

# ---------------------------------------------------------------- #3, #9: several areas
W, E = "110108015001", "110108015002"
# West x 0..200, east x 195..400 (they overlap by a 5 m strip); a building x 190..230
# straddles both: a quarter in the west, seven eighths in the east (its owner)
WEST = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
EAST = shapely.box(X0 + 195, Y0, X0 + 400, Y0 + 200)
STRADDLER = shapely.box(X0 + 190, Y0 + 38, X0 + 230, Y0 + 52)


def _two(tmp_path: Path, codes=(W, E), extra=()) -> tuple[list[str], gpd.GeoDataFrame]:  # noqa: ANN001
    """An area file of the west and east communities and ``extra`` features (``codes``: each
    feature's, None for no code property); buildings of a 4 × 2 layout and the straddler,
    last."""
    _area, b, s = layout(4, 2, [[45, 60, 30, 75, 55, 40]])
    b = gpd.GeoDataFrame(
        pd.concat(
            [b, gpd.GeoDataFrame({"households": [80]}, geometry=[to_wgs(STRADDLER)], crs=4326)],
            ignore_index=True,
        ),
        crs=4326,
    )
    geoms = [to_wgs(WEST), to_wgs(EAST), *extra]
    props = [{} if c is None else {"code": c} for c in codes]
    a = _geojson(tmp_path / "areas.geojson", geoms, props)
    bl = _geojson(tmp_path / "buildings.geojson", b.geometry, _buildings_props(b))
    st = _geojson(tmp_path / "streets.geojson", s.geometry)
    return ["partition", "--area", str(a), "--buildings", str(bl), "--streets", str(st)], b


def test_an_area_file_of_two_communities_gives_grids_that_tile(tmp_path) -> None:
    """T64 #3, #9: two communities in one area file were merged into one area under the
    default prefix 110108000000; run once per community, a building straddling both was in
    both runs (households counted twice) or under both communities' grids. Now each feature
    is a community: its grids numbered under its code and marked with it, every building
    whole in the one grid of the community holding most of it, the two communities' grids
    not overlapping, together covering both outlines."""
    from geo.partition.territory import building_communities, working_outlines

    args, b = _two(tmp_path)
    out = tmp_path / "grids.geojson"
    res = CliRunner().invoke(app, [*args, *BOUNDS, "--seed", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(grids["community"]) == {W, E}
    for code in (W, E):
        mine = grids[grids["community"] == code]
        seq = sorted(int(c[12:]) for c in mine["code"])
        assert all(c.startswith(code) for c in mine["code"]) and seq == list(
            range(1, len(mine) + 1)
        )
    # no building counted twice, none left out
    assert grids["households"].sum() == b["households"].sum()
    assert grids["building_count"].sum() == len(b)
    summary = doc["summary"]
    assert summary["households_total"] == b["households"].sum()
    assert [c["community"] for c in summary["communities"]] == [W, E]
    assert summary["params"]["code_prefix"] == [W, E]
    # tiling: the two communities' grids do not overlap, and cover both outlines
    g = to_utm(np.asarray(grids.geometry.values, dtype=object))
    west = shapely.union_all(g[(grids["community"] == W).to_numpy()])
    east = shapely.union_all(g[(grids["community"] == E).to_numpy()])
    assert shapely.area(shapely.intersection(west, east)) < 0.01
    whole = shapely.union_all([WEST, EAST])
    assert shapely.area(shapely.symmetric_difference(shapely.union(west, east), whole)) < 1.0
    # the straddler whole in the east (7/8 of it), none of it under the west's grids (but
    # the noise of coordinates written to 1e-8°, about a millimetre, along its 108 m)
    assert shapely.area(shapely.difference(STRADDLER, east)) < 0.05
    assert shapely.area(shapely.intersection(STRADDLER, west)) < 0.05
    n = len(b)
    notes = [x for x in _warnings(res) if "跨越社区边界" in x]
    assert len(notes) == 1 and f"第 {n} 个要素（id B{n}）（归 {E}）" in notes[0], res.stderr
    assert f"feature {n} (id B{n}) (to {E})" in notes[0], notes
    # each community's grids pass the engine's own checks on its territory
    geoms = np.asarray(b.geometry.values, dtype=object)
    areas = [to_wgs(WEST), to_wgs(EAST)]
    owner = building_communities(areas, [W, E], geoms)
    assert owner[-1] == 1 and (owner >= 0).all()
    outlines = working_outlines(areas, [W, E], geoms, owner)
    for k, code in enumerate((W, E)):
        mine = b[owner == k]
        params = PartitionParams(300, 500, seed=2, code_prefix=code)
        check_partition(outlines[k], mine, params, partition(outlines[k], mine, None, params))


def test_one_area_feature_is_partitioned_as_before(tmp_path) -> None:
    """T64 #3: a single-feature area file goes the way it always went: the file holds the
    engine's grids for that area, nothing more (no ``community`` column, the summary's own
    keys)."""
    area, b, s = _city()
    a = _geojson(tmp_path / "area.geojson", [area], [{"code": "110108015003"}])
    bl = _geojson(tmp_path / "buildings.geojson", b.geometry, _buildings_props(b))
    st = _geojson(tmp_path / "streets.geojson", s.geometry)
    out = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(a), "--buildings", str(bl), "--streets", str(st)]
    res = CliRunner().invoke(app, [*args, *BOUNDS, "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = gpd.read_file(out)
    want = partition(area, b, s, PartitionParams(300, 500, seed=3, code_prefix="110108015003"))
    assert "community" not in got.columns
    assert got["code"].tolist() == want.grids["code"].tolist()
    assert got["households"].tolist() == want.grids["households"].tolist()
    # the engine's grids to the written 1e-8° grid: snap-rounded together as one coverage
    # (geo.partition.coverage, T64 F5), a ring may gain a neighbour's vertex or start elsewhere
    for x, y in zip(got.geometry, want.grids.geometry, strict=True):
        assert shapely.hausdorff_distance(x, y) < 2e-8
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert "communities" not in summary and summary["params"]["code_prefix"] == "110108015003"


@pytest.mark.parametrize(
    ("codes", "zh", "en"),
    [
        ((W, None), "第 2 个要素没有编码", "feature 2 has no code"),
        ((None, None), "第 1 个要素没有编码", "feature 1 has no code"),
        ((W, "110108015"), "第 2 个要素的编码 110108015 不是 12 位数字",
         "feature 2 has code 110108015, not 12 digits"),
    ],
)  # fmt: skip
def test_several_area_features_need_each_its_code(tmp_path, codes, zh, en) -> None:
    """T64 #9: an area file of two features was merged into one area under the default
    prefix without a word. Each feature is now a community of its own and needs its 12-digit
    code: the first without one is named, with the code expected (exit 2, one line)."""
    args, _b = _two(tmp_path, codes)
    out = tmp_path / "grids.geojson"
    line = _one_error(_run([*args, *BOUNDS, "--out", str(out)]))
    assert line.startswith(f"error: 区域文件 {tmp_path / 'areas.geojson'} 的{zh}："), line
    assert f"{en}: in an area file of several communities each feature" in line, line
    assert "12-digit community code" in line and "--code-prefix" in line, line
    assert not out.exists()


def test_code_prefix_names_one_community(tmp_path) -> None:
    """--code-prefix with features of two codes is refused (it names one community); with
    features of no code it numbers them as one area, as it always did."""
    args, b = _two(tmp_path)
    out = tmp_path / "grids.geojson"
    res = CliRunner().invoke(
        app, [*args, *BOUNDS, "--code-prefix", "110108015009", "--out", str(out)]
    )
    msg = str(res.exception)
    assert res.exit_code != 0 and msg.startswith("--code-prefix 只能给出一个社区的编码"), msg
    assert f"carry 2 different codes ({W}, {E}): leave --code-prefix out" in msg, msg
    args, b = _two(tmp_path, (None, None))
    res = CliRunner().invoke(
        app, [*args, *BOUNDS, "--code-prefix", "110108015009", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out)
    assert all(c.startswith("110108015009") for c in grids["code"])
    assert "community" not in grids.columns and grids["households"].sum() == b["households"].sum()


def test_an_area_code_not_of_12_digits_is_a_warning(tmp_path) -> None:
    """T64 #9: a 9-digit area code (a subdistrict's) fell back to 110108000000 in silence:
    the warning names the code and the prefix used."""
    area, b, _s = _city()
    a = _geojson(tmp_path / "area.geojson", [area], [{"code": "110108015"}])
    bl = _geojson(tmp_path / "buildings.geojson", b.geometry, _buildings_props(b))
    out = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(a), "--buildings", str(bl), *BOUNDS, "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    notes = [x for x in _warnings(res) if "110108015 " in x]
    assert len(notes) == 1, res.stderr
    assert notes[0].startswith(f"warning: 区域文件 {a} 的编码 110108015 不是 12 位社区编码"), notes
    assert "the grids are numbered under the default prefix 110108000000" in notes[0], notes
    assert all(c.startswith("110108000000") for c in gpd.read_file(out)["code"])


def test_a_community_of_the_area_file_without_buildings_is_a_warning(tmp_path) -> None:
    """A community holding no building gets no grids, and a warning: line names it."""
    far = to_wgs(shapely.box(X0 + 1000, Y0, X0 + 1200, Y0 + 200))
    args, b = _two(tmp_path, (W, E, "110108015003"), extra=[far])
    out = tmp_path / "grids.geojson"
    res = CliRunner().invoke(app, [*args, *BOUNDS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert set(gpd.read_file(out)["community"]) == {W, E}
    notes = [x for x in _warnings(res) if "110108015003" in x]
    assert len(notes) == 1 and "holds no building: no grids made for it" in notes[0], res.stderr


# ------------------------------------------------------------- territory rule (shapely)
def test_building_communities_is_the_databases_rule() -> None:
    """geo.building_links' rule: covered whole, the lowest code covering it; else the most
    of its footprint, ties to the lower code; none when it overlaps none (touching is not
    overlapping). tests/test_partition_territory_db.py holds it to PostGIS itself."""
    from geo.partition.territory import building_communities

    a = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(5, 0, 15, 10)]
    codes = ["110108015003", "110108015001", "110108015002"]
    b = np.array(
        [
            shapely.box(6, 1, 8, 3),  # covered by 003 and 002: 002
            shapely.box(1, 1, 3, 3),  # covered by 003 only
            shapely.box(-1, 4, 3, 6),  # 3/4 in 003, the rest in none: 003
            shapely.box(8, 6, 12, 7),  # half in 003, half in 001, all in 002: covered by 002
            shapely.box(18, 4, 22, 5),  # half in 001: 001
            shapely.box(20, 0, 25, 5),  # touches 001 along a line: none
            shapely.box(30, 0, 35, 5),  # in none
        ],
        dtype=object,
    )
    assert building_communities(a, codes, b).tolist() == [2, 0, 0, 2, 1, -1, -1]
    tie = np.array([shapely.box(-2, 20, 2, 22)], dtype=object)  # half in each
    halves = [shapely.box(-5, 15, 0, 25), shapely.box(0, 15, 5, 25)]
    assert building_communities(halves, ["110108015002", "110108015001"], tie).tolist() == [1]


def test_working_outlines_tile_and_hold_their_buildings_whole() -> None:
    """geo.plans.OUTLINE_GEOM's territory: the overlap of two outlines the lower code's, each
    community's buildings whole in its own outline and out of the other's."""
    from geo.partition.territory import building_communities, working_outlines

    areas = [shapely.box(0, 0, 10, 10), shapely.box(8, 0, 20, 10)]  # overlap x 8..10
    codes = ["110108015002", "110108015001"]  # the east is the lower code
    # the first in the overlap (covered by both), the second from the west into it
    b = np.array([shapely.box(8.5, 2, 9.5, 4), shapely.box(3, 7, 9.5, 9)], dtype=object)
    owner = building_communities(areas, codes, b)
    assert owner.tolist() == [1, 0]
    west, east = working_outlines(areas, codes, b, owner)
    assert shapely.area(shapely.intersection(west, east)) < 1e-12
    both = shapely.union(west, east)
    assert shapely.area(shapely.symmetric_difference(both, shapely.union_all(areas))) < 1e-12
    assert east.covers(b[0]) and west.covers(b[1])
    assert shapely.area(shapely.intersection(west, b[0])) < 1e-12
    assert shapely.area(shapely.intersection(east, b[1])) < 1e-12
    assert east.covers(shapely.box(9.6, 0, 10, 3))  # the rest of the overlap: the lower code
