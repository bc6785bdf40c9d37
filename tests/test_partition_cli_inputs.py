"""File-mode partition input checks (tester W's F9, F15): a building drawn twice, footprints
overlapping, a household count no building can hold. Run as a script runs the CLI, so the
exit code and the single ``error:`` line are what a script sees."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.partition.io import area_code, overlap_warning, read_layer
from tests.test_import import GRIDWARD
from tests.test_partition import layout, to_utm, to_wgs

REPO = Path(__file__).resolve().parents[1]


def _files(tmp_path: Path, buildings: gpd.GeoDataFrame, area) -> list[str]:  # noqa: ANN001
    a, b = tmp_path / "area.geojson", tmp_path / "buildings.geojson"
    gpd.GeoDataFrame({"code": ["110108015003"]}, geometry=[area], crs=4326).to_file(a)
    buildings.to_file(b)
    return ["partition", "--area", str(a), "--buildings", str(b)]


def _run(args: list[str], out: Path) -> subprocess.CompletedProcess:
    args = [*args, "--min-households", "300", "--max-households", "500", "--out", str(out)]
    return subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def _city() -> tuple[shapely.Geometry, gpd.GeoDataFrame]:
    area, b, _ = layout(3, 2, [[45, 60, 30, 75, 55, 40]])
    b = b.assign(id=[f"B{i}" for i in range(1, len(b) + 1)])
    return area, b


def _one_error(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.mark.parametrize("same_id", [False, True])
def test_a_building_listed_twice_is_refused_by_feature_number(tmp_path, same_id) -> None:
    """F9: a copy of feature 1 (same footprint, households 52, another id or the same)
    was counted twice: 52 households too many, exit 0, no word."""
    area, b = _city()
    copy = b.iloc[[0]].assign(households=52, id="B1" if same_id else "X9")
    doubled = gpd.GeoDataFrame(pd.concat([b, copy], ignore_index=True), crs=4326)
    out = tmp_path / "grids.geojson"
    line = _one_error(_run(_files(tmp_path, doubled, area), out))
    assert f"features 1 and {len(doubled)} have identical footprints" in line, line
    assert not out.exists()


def test_overlapping_footprints_are_named_in_a_warning() -> None:
    """F9: a footprint drawn over its neighbour is legitimate in OSM (building parts), so
    the planner is told, not stopped; neighbours sharing a wall are not named."""
    area, b = _city()
    g = to_utm(b.geometry.values[1])
    wall = to_wgs(shapely.box(g.bounds[2], g.bounds[1], g.bounds[2] + 5, g.bounds[3]))
    over = b.geometry.values[0].buffer(0.00005)
    extra = gpd.GeoDataFrame(
        {"households": [10, 10], "id": ["W", "O"]}, geometry=[wall, over], crs=4326
    )
    both = gpd.GeoDataFrame(pd.concat([b, extra], ignore_index=True), crs=4326)
    both.index = pd.RangeIndex(1, len(both) + 1)
    note = overlap_warning(both)
    n = len(both)
    assert note is not None and f"features 1 and {n} (100%)" in note, note
    assert note.startswith(f"1 对楼栋轮廓重叠超过较小者的 10%：第 1 与 {n} 个要素（100%）；"), note
    assert "1 pair(s) of building footprints overlap" in note, note  # not the wall-sharing one
    assert overlap_warning(b.set_axis(pd.RangeIndex(1, len(b) + 1))) is None


def test_a_household_count_no_building_holds_is_refused(tmp_path) -> None:
    """F15: households 10^12 in one building was taken (ten billion workers)."""
    area, b = _city()
    b.loc[b.index[2], "households"] = 10**12
    out = tmp_path / "grids.geojson"
    line = _one_error(_run(_files(tmp_path, b, area), out))
    # the feature's number and its own id (T38 M1: "building 3" read as an id)
    assert "feature 3 (id B3): households 1000000000000 is not plausible" in line, line
    assert "第 3 个要素（id B3）的户数为 1000000000000" in line, line
    assert not out.exists()


def test_the_area_code_is_read_from_the_area_file(tmp_path) -> None:
    """F16: the area's own 12-digit code, when every feature carries the same one."""
    area, b = _city()
    _files(tmp_path, b, area)
    assert area_code(tmp_path / "area.geojson") == "110108015003"
    gpd.GeoDataFrame({"code": ["1101", "110108015004"]}, geometry=[area, area], crs=4326).to_file(
        tmp_path / "two.geojson"
    )
    assert area_code(tmp_path / "two.geojson") is None
    assert len(read_layer(tmp_path / "buildings.geojson", "buildings")) == len(b)


def test_the_cli_numbers_grids_under_the_area_code_and_warns_of_overlaps(tmp_path) -> None:
    """F16 and F9 through the command: grids are numbered under the area file's code (they
    read 110108000000…, a Haidian prefix, for any area), and overlapping footprints are
    one ``warning:`` line; the file is written (exit 0)."""
    import json

    area, b = _city()
    over = b.iloc[[0]].assign(households=10, id="O", geometry=[b.geometry.values[0].buffer(5e-5)])
    both = gpd.GeoDataFrame(pd.concat([b, over], ignore_index=True), crs=4326)
    out = tmp_path / "grids.geojson"
    res = _run(_files(tmp_path, both, area), out)
    assert res.returncode == 0, res.stderr
    codes = [f["properties"]["code"] for f in json.loads(out.read_text())["features"]]
    assert codes and all(c.startswith("110108015003") and len(c) == 15 for c in codes), codes
    warnings = [x for x in res.stderr.splitlines() if x.startswith("warning:")]
    assert any("楼栋轮廓重叠" in x for x in warnings), res.stderr
