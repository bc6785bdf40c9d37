"""File-mode partition at its edges (outside tester T64 #4, #8, #10): a building just over
the area's line, household bounds database mode refuses, the words of a flag."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.partition import FLAG_ENCLOSED, PartitionParams, partition
from geo.partition.validate import placement
from tests.test_partition import check_partition, layout, to_utm, to_wgs
from tests.test_partition_file_crs import (
    BOUNDS,
    X0,
    Y0,
    _buildings_props,
    _city,
    _geojson,
    _warnings,
)


# --------------------------------------------------------------------- #4: on the line
def test_a_building_just_over_the_area_line_is_kept_whole_and_named(tmp_path) -> None:
    """T64 #4: a building 99.5 % inside the area was clipped to it (0.1 m × 14 m outside every
    grid) and named in no warning, where database mode keeps it whole. Now it is taken whole
    and named like any building on the line."""
    area, b, s = _city()
    poke = shapely.box(X0 + 280, Y0 + 38, X0 + 300.1, Y0 + 52)  # between rows of buildings
    b = gpd.GeoDataFrame(
        pd.concat(
            [b, gpd.GeoDataFrame({"households": [20]}, geometry=[to_wgs(poke)], crs=4326)],
            ignore_index=True,
        ),
        crs=4326,
    )
    straddle, out = placement(area, np.asarray(b.geometry.values, dtype=object))
    assert straddle.tolist() == [len(b) - 1] and not len(out)
    a = _geojson(tmp_path / "area.geojson", [area], [{"code": "110108015003"}])
    bl = _geojson(tmp_path / "buildings.geojson", b.geometry, _buildings_props(b))
    st = _geojson(tmp_path / "streets.geojson", s.geometry)
    grids_path = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(a), "--buildings", str(bl), "--streets", str(st)]
    res = CliRunner().invoke(app, [*args, *BOUNDS, "--out", str(grids_path)])
    assert res.exit_code == 0, res.output
    n = len(b)
    notes = [x for x in _warnings(res) if "跨越区域边界" in x]
    assert len(notes) == 1 and f"第 {n} 个要素（id B{n}）" in notes[0], res.stderr
    grids = to_utm(np.asarray(gpd.read_file(grids_path).geometry.values, dtype=object))
    # whole but the noise of coordinates written to 1e-8° (1.4 m² was cut off)
    assert shapely.area(shapely.difference(poke, shapely.union_all(grids))) < 0.05


# --------------------------------------------------------------------- #10: the bounds
def test_file_mode_refuses_bounds_database_mode_refuses(tmp_path) -> None:
    """T64 #10 (the bounds): file mode took --max-households 99999999999, which database
    mode and the API refuse (over 1,000,000): one rule, naming the option."""
    area, b, _s = _city()
    a = _geojson(tmp_path / "area.geojson", [area], [{"code": "110108015003"}])
    bl = _geojson(tmp_path / "buildings.geojson", b.geometry, _buildings_props(b))
    out = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(a), "--buildings", str(bl), "--out", str(out)]
    res = CliRunner().invoke(
        app, [*args, "--min-households", "300", "--max-households", "99999999999"]
    )
    msg = str(res.exception)
    assert msg.startswith("户数上限 --max-households 须在 1–1,000,000 之间，现为 99999999999"), msg
    assert "--max-households must be 1–1,000,000, got 99999999999" in msg, msg
    assert not out.exists()


# --------------------------------------------------------------------- #8: a flag's words
def test_a_piece_walled_off_by_buildings_over_the_max_is_not_called_a_separate_piece() -> None:
    """T64 #8: a grid of one polygon's area, walled off from the rest by buildings each over
    the maximum, was said to be "a separate piece of the area"; its reason now says what
    cut it off. A separate polygon of the area is still called so."""
    area, b, s = layout(3, 1, [[50], [0], [50]])
    params = PartitionParams(1, 20)
    r = partition(area, b, s, params)
    check_partition(area, b, params, r)
    [item] = [f for f in r.summary["flagged"] if FLAG_ENCLOSED in f["flags"]]
    assert item["reasons"] == [
        "a piece of the area cut off from the rest by buildings of more than 20 households "
        "(each a grid of its own) holds 0 households, fewer than 1"
    ], item
    assert item["reasons_zh"] == [
        "区域中被超过上限 20 户的楼栋（各自成格）与其余部分隔开的一块只有 0 户，少于下限 1"
    ], item
    area, b, s = layout(3, 3, [[60] * 6], island=[10, 20, 5])
    r = partition(area, b, s, PartitionParams(300, 500))
    [item] = [f for f in r.summary["flagged"] if FLAG_ENCLOSED in f["flags"]]
    assert item["reasons"] == ["a separate piece of the area with 35 households, fewer than 300"]
