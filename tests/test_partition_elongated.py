"""Elongated grids are flagged (outside tester T64, F6): nothing said that file mode's 街道 grid
014 was a strip of 383 households, Polsby–Popper 0.087, 1.0 × 1.66 km along the outline. A
grid whose compactness is under ``elongated_pp`` (0.12, measured on real Haidian grids: see
geo.partition.metrics.ELONGATED_PP) carries the flag ``elongated`` (狭长) with its value, in
the file and database mode's plans alike; a compact one does not; its bounds are unaffected.

Real data: the Tsinghua/Wudaokou extract, where seed 4 at 300–500 leaves a strip along the
extract's west edge (PP 0.10)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.errors import InputError
from geo.partition import PartitionParams, partition
from tests.test_partition import check_partition
from tests.test_partition_file_coverage import TSINGHUA_BOX, _osm_inputs

PARAMS = PartitionParams(300, 500, seed=4, code_prefix="110108015000")
# the flag and its default bound as a planner reads them (geo.partition.FLAG_ELONGATED,
# geo.partition.metrics.ELONGATED_PP), spelled out so the test runs on the code before them
FLAG_ELONGATED, ELONGATED_PP = "elongated", 0.12


@pytest.fixture(scope="module")
def tsinghua(shared_data):
    from geo.households import estimate_households
    from geo.osm import read_osm

    layers = read_osm(shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    box = shapely.box(*TSINGHUA_BOX)
    b = estimate_households(layers.buildings)
    b = b[b.within(box)][["households", "geometry"]].reset_index(drop=True)
    return box, b, layers.ways[["geometry"]]


def _elongated(grids: gpd.GeoDataFrame) -> np.ndarray:
    return grids["flags"].map(lambda f: FLAG_ELONGATED in f).to_numpy()


def test_a_strip_is_flagged_and_a_compact_grid_is_not(tsinghua) -> None:
    area, b, s = tsinghua
    r = partition(area, b, s, PARAMS)
    check_partition(area, b, PARAMS, r)
    g = r.grids
    pp = g["polsby_popper"].to_numpy()
    thin = _elongated(g)
    # exactly the grids under the bound, and there is one here: the west-edge strip
    assert thin.tolist() == (pp < ELONGATED_PP).tolist()
    assert thin.sum() >= 1 and pp[thin].max() < 0.12
    # a compact grid (the most compact here, about a square's 0.785) is not flagged
    assert not thin[int(np.argmax(pp))] and pp.max() > 0.7
    # a flag to look at, not a bound: the strip is within bounds, counted so
    (k,) = np.flatnonzero(thin)[:1]
    assert 300 <= g["households"][k] <= 500
    assert r.summary["n_elongated"] == int(thin.sum())
    lo_ok = (g["households"] >= 300) & (g["households"] <= 500)
    assert r.summary["n_within_bounds"] == int(lo_ok.sum())  # multipart: none here
    # said why, Chinese first, every English value also in the Chinese
    item = next(x for x in r.summary["flagged"] if x["code"] == g["code"][k])
    assert item["flags"] == [FLAG_ELONGATED]
    (zh,), (en,) = item["reasons_zh"], item["reasons"]
    v = f"{pp[k]:.3f}"
    assert zh.startswith(f"网格狭长：紧凑度（Polsby–Popper）{v}，低于 0.12（正方形为 0.785）")
    assert en.startswith(f"the grid is elongated: Polsby–Popper compactness {v}, under 0.12")
    for number in re.findall(r"\d+(?:\.\d+)?", en):
        assert number in zh, (number, zh)


def test_the_bound_is_a_parameter(tsinghua) -> None:
    """``elongated_pp`` 0 flags none; a bound outside [0, 1) is refused, in Chinese first."""
    area, b, s = tsinghua
    r = partition(area, b, s, replace(PARAMS, elongated_pp=0.0))
    assert not _elongated(r.grids).any() and r.summary["n_elongated"] == 0
    with pytest.raises(InputError, match=r"^狭长标记阈值 elongated_pp 须在 0 到 1 之间"):
        partition(area, b, s, replace(PARAMS, elongated_pp=1.5))


def test_file_mode_flags_it_in_the_file_and_names_it_in_a_warning(
    tsinghua, tmp_path, shared_data, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    osm = shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm"
    buildings, streets = _osm_inputs(osm, tmp_path, TSINGHUA_BOX)
    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame(
        {"code": ["110108015000"]}, geometry=[shapely.box(*TSINGHUA_BOX)], crs=4326
    ).to_file(area)
    out = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(area), "--buildings", str(buildings)]
    args += ["--streets", str(streets), "--min-households", "300", "--max-households", "500"]
    res = CliRunner().invoke(app, [*args, "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    props = [f["properties"] for f in doc["features"]]
    thin = [p for p in props if FLAG_ELONGATED in p["flags"]]
    assert thin and all(p["polsby_popper"] < 0.12 for p in thin)
    assert all(FLAG_ELONGATED not in p["flags"] for p in props if p["polsby_popper"] >= 0.12)
    assert doc["summary"]["n_elongated"] == len(thin)
    assert doc["summary"]["params"]["elongated_pp"] == 0.12
    lines = [x for x in res.stderr.splitlines() if "elongated" in x]
    assert len(lines) == 1 and lines[0].startswith(
        f"warning: {len(thin)} 个网格狭长（紧凑度 Polsby–Popper 低于 0.12，正方形为 0.785）："
    ), res.stderr
    named = f"{thin[0]['code']}（{thin[0]['polsby_popper']:.3f}）"
    assert named in lines[0] and f"{thin[0]['code']} ({thin[0]['polsby_popper']:.3f})" in lines[0]
    assert "check on the map" in lines[0]
    assert re.search(rf"狭长网格 Elongated\s*│\s*{len(thin)}\s*│", res.stdout), res.stdout
    row = next(x for x in res.stdout.splitlines() if thin[0]["code"] in x)
    assert "elongated: the grid is elongated: Polsby–Popper compactness" in row


def test_flag_words_for_plans_show() -> None:
    """``plans show`` says the flag in Chinese with its value (狭长：紧凑度 0.087)."""
    from api.cli_partition import FLAG_ZH
    from api.cli_plans import _flags_zh

    assert _flags_zh(["elongated"], 0.0873) == "狭长：紧凑度 0.087"
    assert _flags_zh(["elongated"]) == "狭长"
    assert _flags_zh(["over_max", "elongated"], 0.1) == "户数超出；狭长：紧凑度 0.100"
    assert FLAG_ZH["elongated"] == "狭长"
