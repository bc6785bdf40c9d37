"""Database mode flags elongated grids as file mode does (outside tester T64, F6): the draft
stores the flag and its value, ``partition --community`` names the grid in a ``warning:``
line, ``plans show`` says 狭长：紧凑度 0.xxx, and the stored grid keeps no hairline hole ring
(T64's 110108015006002). Real PostGIS, the Tsinghua/Wudaokou extract as one community."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.areas_import import import_areas
from geo.importer import import_osm
from tests.test_import import run_cli
from tests.test_partition_file_coverage import TSINGHUA_BOX

CODE = "110108015007"
FLAG_ELONGATED = "elongated"  # geo.partition.FLAG_ELONGATED, as stored


@pytest.fixture()
def tsinghua(db, shared_data, tmp_path):
    area = tmp_path / "community.geojson"
    gpd.GeoDataFrame(
        {"code": [CODE], "name": ["清华园测试社区"], "level": ["community"]},
        geometry=[shapely.box(*TSINGHUA_BOX)],
        crs=4326,
    ).to_file(area)
    import_areas(db, area, level="community")
    import_osm(db, shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    return db


def _engine_draft(pg_url: str) -> tuple[Any, int]:
    """``partition --community`` at 100–200 (seed 0): its CLI result and draft plan id."""
    res = run_cli(
        ["partition", "--community", CODE, "--min-households", "100",
         "--max-households", "200", "--seed", "0"],
        pg_url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res, int(res.stdout.split("draft plan ")[1].split()[0])


def test_database_mode_flags_an_elongated_grid_and_plans_show_says_so(
    tsinghua, pg_url, monkeypatch
) -> None:
    from geo.plans import get_plan

    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    res, plan_id = _engine_draft(pg_url)
    plan = get_plan(tsinghua, plan_id)
    props = [f["properties"] for f in plan["features"]["features"]]
    pp = np.array([p["polsby_popper"] for p in props])
    thin = [FLAG_ELONGATED in p["flags"] for p in props]
    assert any(thin) and thin == (pp < 0.12).tolist()
    assert not thin[int(np.argmax(pp))] and pp.max() > 0.7  # a compact one: no flag
    k = thin.index(True)
    code, v = props[k]["code"], f"{pp[k]:.3f}"
    assert plan["summary"]["n_elongated"] == sum(thin)
    # the warning line, as file mode's
    (line,) = [x for x in res.stderr.splitlines() if "elongated" in x]
    assert line.startswith(f"warning: {sum(thin)} 个网格狭长（紧凑度 Polsby–Popper 低于 0.12")
    assert f"{code}（{v}）" in line and f"{code} ({v})" in line
    # the flagged table: Chinese reason first, then the English, then the flag
    row = next(x for x in res.stdout.splitlines() if code in x)
    assert f"网格狭长：紧凑度（Polsby–Popper）{v}，低于 0.12" in row
    assert row.index("网格狭长") < row.index("the grid is elongated") < row.index("（elongated）")
    # plans show: the flag in Chinese with its value
    shown = run_cli(["plans", "show", str(plan_id)], pg_url)
    assert shown.returncode == 0, shown.stderr
    (line,) = [x for x in shown.stdout.splitlines() if code in x]
    assert f"（狭长：紧凑度 {v}）" in line and f"elongated (Polsby–Popper {v})" in line, line
    # no hairline hole ring in what the draft stores (and a commit copies)
    crs = plan["summary"]["metric_crs"]
    geoms = gpd.GeoSeries(
        [shapely.geometry.shape(f["geometry"]) for f in plan["features"]["features"]], crs=4326
    ).to_crs(crs)
    small = [
        (p["code"], shapely.Polygon(ring).area)
        for p, geom in zip(props, geoms, strict=True)
        for part in shapely.get_parts(geom)
        for ring in part.interiors
        if shapely.Polygon(ring).area < 1.0
    ]
    assert not small, small


def test_a_draft_saved_from_the_editor_flags_its_elongated_grids(tsinghua, pg_url) -> None:
    """The editor's save rebuilds every flag (geo.plan_drafts.save_draft): it dropped
    ``elongated``, so an engine draft re-saved from the editor hid its strips again. The
    flag is judged on the outline the draft stores, measured in metres."""
    from geo.partition.metrics import polsby_popper
    from geo.plan_drafts import DraftGrid, save_draft
    from geo.plans import get_plan

    _, plan_id = _engine_draft(pg_url)
    engine_props = [f["properties"] for f in get_plan(tsinghua, plan_id)["features"]["features"]]
    grids = [DraftGrid(p["code"], list(p["building_ids"])) for p in engine_props]
    saved = save_draft(tsinghua, CODE, 100, 200, grids, created_by="test")
    feats = get_plan(tsinghua, saved["plan_id"])["features"]["features"]
    codes = [f["properties"]["code"] for f in feats]
    metric = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in feats], crs=4326)
    pp = polsby_popper(metric.to_crs(32650).values)
    thin = [FLAG_ELONGATED in f["properties"]["flags"] for f in feats]
    assert thin == (pp < 0.12).tolist() and any(thin)
    was = {p["code"] for p in engine_props if FLAG_ELONGATED in p["flags"]}
    assert was and was <= {c for c, t in zip(codes, thin, strict=True) if t}
    answered = {g["code"] for g in saved["grids"] if FLAG_ELONGATED in g["flags"]}
    assert answered == {c for c, t in zip(codes, thin, strict=True) if t}
