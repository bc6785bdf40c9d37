"""T49 #10: draft validation names grids by their code when the body gave codes, and an
unknown building id is said not to exist; T49 #8: ``gridward plans history C --crosswalk``
gives old code/version → new code/version after the commit; plans made by ``plans import``
are listed as 文件导入; a grids file without a ``code`` column keeps the current grids' codes
(T49 #3: it ended every duty). Real PostGIS, the demo OSM cut."""

from __future__ import annotations

import csv

import geopandas as gpd
import pytest
from sqlalchemy import text

from geo.errors import InputError
from geo.export import export_layer
from geo.grid_file_import import import_grid_file
from geo.plan_drafts import DraftGrid, save_draft
from geo.plan_history import SOURCE_ZH, crosswalk
from geo.plans import commit_plan, create_plan
from geo.settings import get_settings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_plan_history_db import _members
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _refused(engine, grids: list[DraftGrid]) -> str:
    with pytest.raises(InputError) as exc:
        save_draft(engine, COMMUNITY, 300, 500, grids)
    return exc.value.message


def test_draft_problems_name_grids_by_code_and_unknown_buildings(demo):  # noqa: F811
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    first = _members(demo, 1)
    (a, ids_a), (b, ids_b) = sorted(first.items())[:2]
    dup = [DraftGrid(a, ids_a), DraftGrid(b, [*ids_b, ids_a[0]])]
    assert _refused(demo, dup) == (
        f"楼栋 {ids_a[0]} 同时在网格 {a} 和 {b} 中 "
        f"building {ids_a[0]} is in two grids ({a} and {b})"
    )
    assert _refused(demo, [DraftGrid(a, ids_a), DraftGrid(b, [])]) == (
        f"网格 {b} 没有楼栋 grid {b} has no buildings"
    )
    # no code: by position, as before
    assert _refused(demo, [DraftGrid(None, ids_a), DraftGrid(None, [])]) == (
        "第 2 个网格没有楼栋 grid 2 has no buildings"
    )
    grids = [DraftGrid(c, ids) for c, ids in first.items()]
    grids[0] = DraftGrid(grids[0].code, [*grids[0].building_ids, 99999])
    assert _refused(demo, grids) == "楼栋 99999 不存在 building(s) 99999 do not exist"


def test_a_crosswalk_of_codes_between_versions(demo, tmp_path, pg_url, monkeypatch, run_inproc):  # noqa: F811
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    commit_plan(demo, create_plan(demo, COMMUNITY, 150, 300))
    v1, v2 = _members(demo, 1), _members(demo, 2)
    with demo.connect() as conn:
        hh = dict(conn.execute(text("SELECT id, households FROM buildings")).all())
    rows = crosswalk(demo, COMMUNITY)
    assert {(r["old_version"], r["new_version"]) for r in rows} == {(1, 2)}
    for r in rows:
        shared = set(v1[r["old_code"]]) & set(v2[r["new_code"]])
        assert r["shared_buildings"] == len(shared) > 0
        assert r["shared_households"] == sum(hh[b] for b in shared)
    # every building of every old grid accounted for
    for code, ids in v1.items():
        assert sum(r["shared_buildings"] for r in rows if r["old_code"] == code) == len(ids)
        assert sum(r["successor"] for r in rows if r["old_code"] == code) == 1

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "x.csv"
        res = run_inproc("plans", "history", COMMUNITY, "--crosswalk", "--out", str(out))
    finally:
        get_settings.cache_clear()
    assert res.returncode == 0, res
    assert res.stdout.startswith(f"已写入社区 {COMMUNITY} 的新旧网格编码对照：{len(rows)} 行")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig") as f:
        read = list(csv.DictReader(f))
    # T51 #10: Chinese-first headers as the roster's, codes marked as text for Excel
    assert list(read[0]) == [
        "旧版本 old_version",
        "旧编码 old_code",
        "新版本 new_version",
        "新编码 new_code",
        "共有楼栋 shared_buildings",
        "共有户数 shared_households",
        "主要承接 successor",
        "提交时间 committed_at",
    ]
    assert [(r["旧编码 old_code"], r["新编码 new_code"]) for r in read] == [
        ("\t" + r["old_code"], "\t" + r["new_code"]) for r in rows
    ]
    assert read[0]["提交时间 committed_at"] == rows[0]["committed_at"]
    assert {r["主要承接 successor"] for r in read} == {"0", "1"}
    # stdout stays the plain CSV scripts read
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "history", COMMUNITY, "--crosswalk")
    finally:
        get_settings.cache_clear()
    assert res.stdout.startswith("old_version,old_code,new_version,new_code,"), res.stdout
    assert f"\n1,{rows[0]['old_code']},2," in res.stdout


def test_a_grids_file_without_codes_keeps_the_current_codes(demo, tmp_path):  # noqa: F811
    assert SOURCE_ZH["file"] == "文件导入"
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    first = _members(demo, 1)
    export_layer(demo, "grids", tmp_path / "all.gpkg")
    grids = gpd.read_file(tmp_path / "all.gpkg")
    grids = grids[(grids.level == 1) & (grids.community_code == COMMUNITY)]
    grids[["geometry"]].to_file(tmp_path / "nocode.gpkg")  # polygons only, no code column
    out = import_grid_file(demo, tmp_path / "nocode.gpkg", COMMUNITY)
    assert {g["code"] for g in out["grids"]} == set(first)
    # the current grids: no draft stored (T51 #8)
    assert out["unchanged"] and not any(out["new_grids"]) and "plan_id" not in out
    assert len(out["matched"]) == len(first)
    counts = {g["code"]: g["building_count"] for g in out["grids"]}
    assert counts == {c: len(b) for c, b in first.items()}
