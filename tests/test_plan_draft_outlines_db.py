"""A draft saved from the editor keeps the outlines of the stored draft it was opened on
(POST /plans/draft ``outlines_plan``, geo.plan_drafts.save_draft): an engine draft re-saved
unchanged kept none, every grid redrawn from its buildings (a grid's Polsby–Popper 0.39 →
0.05 on the Tsinghua extract), while offices publish by the polygon. Real PostGIS: the
Tsinghua/Wudaokou extract as one community, and the demo city for the API and its page."""

from __future__ import annotations

import json
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.partition.metrics import polsby_popper
from geo.plan_drafts import DraftGrid, save_draft
from geo.plans import commit_plan, create_plan, get_plan
from tests.test_editor_browser import _save
from tests.test_maps_browser import (  # noqa: F401 (fixtures)
    _console_errors,
    _open,
    browser,
    far_move,
    live,
)
from tests.test_partition_elongated_db import CODE, _engine_draft, tsinghua  # noqa: F401
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

UTM50 = 32650  # metres, for Beijing
OTHER = "110108015001"  # another community of the demo city


def _grids(engine, plan: int) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    """A stored plan's grids: code → {geom, building_ids}."""
    return {
        f["properties"]["code"]: {
            "geom": shapely.geometry.shape(f["geometry"]),
            "building_ids": list(f["properties"]["building_ids"]),
        }
        for f in get_plan(engine, plan)["features"]["features"]
    }


def _pp(geoms: list[Any]) -> np.ndarray:
    """Polsby–Popper of WGS-84 outlines, measured in metres."""
    return polsby_popper(gpd.GeoSeries(geoms, crs=4326).to_crs(UTM50).values)


def _m2(geom: Any) -> float:
    return float(gpd.GeoSeries([geom], crs=4326).to_crs(UTM50).area.iloc[0])


def _wide(geom: Any) -> float:
    """m² of ``geom`` wider than rounding: what is left once slivers under 2e-7° (about
    2 cm) wide are taken off."""
    return _m2(shapely.buffer(geom, -1e-7))


def _same(a: Any, b: Any) -> bool:
    """The same outline to within 1e-9° (about 0.1 mm) both ways."""
    return a.geom_type == b.geom_type and shapely.hausdorff_distance(a, b) <= 1e-9


def _one_moved(grids: dict[str, dict[str, Any]]) -> tuple[str, str, dict[str, list[int]]]:
    """An editor's edit of two grids: of the two grids sharing the longest edge, the first
    gives the building nearest the second to it. (giver, taker, code → building ids)."""
    codes = sorted(grids)
    a, b = max(
        ((a, b) for a in codes for b in codes if a < b),
        key=lambda ab: shapely.length(
            shapely.intersection(grids[ab[0]]["geom"].boundary, grids[ab[1]]["geom"].boundary)
        ),
    )
    if len(grids[a]["building_ids"]) < 2:
        a, b = b, a
    return a, b, {c: list(g["building_ids"]) for c, g in grids.items()}


def _plans(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one())


def test_an_engine_draft_saved_unchanged_keeps_every_outline(tsinghua, pg_url) -> None:  # noqa: F811
    """Every grid keeps the engine draft's outline to 1e-9°, so its compactness too (saved
    without the plan, two grids went 0.39 → 0.05 and 0.17 → 0.11)."""
    _, plan_id = _engine_draft(pg_url)
    made = _grids(tsinghua, plan_id)
    draft = [DraftGrid(c, g["building_ids"]) for c, g in made.items()]
    out = save_draft(tsinghua, CODE, 100, 200, draft, created_by="test", outlines_plan=plan_id)
    shape = out["outlines"]
    assert (shape["plan"], shape["version"], shape["why"]) == (plan_id, None, None), shape
    assert sorted(shape["kept"]) == sorted(made) and shape["redrawn"] == []
    saved = _grids(tsinghua, out["plan_id"])
    assert saved.keys() == made.keys()
    moved = [c for c in saved if not _same(saved[c]["geom"], made[c]["geom"])]
    assert moved == [], moved
    codes = sorted(saved)
    before, after = _pp([made[c]["geom"] for c in codes]), _pp([saved[c]["geom"] for c in codes])
    assert np.abs(before - after).max() < 1e-9, (before, after)
    # the flags follow the outlines kept: the engine's strips stay elongated, no other is
    feats = get_plan(tsinghua, out["plan_id"])["features"]["features"]
    thin = sorted(f["properties"]["code"] for f in feats if "elongated" in f["properties"]["flags"])
    assert thin == sorted(c for c, pp in zip(codes, before, strict=True) if pp < 0.12)


def test_one_building_moved_keeps_the_other_outlines_and_the_two_still_tile(
    tsinghua,  # noqa: F811
    pg_url,
) -> None:
    """An edit of two grids (a building moved between neighbours): the grids it did not
    touch keep the engine draft's outlines exactly, the two are drawn from their buildings in
    the ground the two held."""
    _, plan_id = _engine_draft(pg_url)
    made = _grids(tsinghua, plan_id)
    a, b, members = _one_moved(made)
    with tsinghua.connect() as conn:
        bid = conn.execute(
            text(
                "SELECT id FROM buildings WHERE id = ANY(:ids) "
                "ORDER BY ST_Distance(geom, ST_GeomFromText(:b, 4326)), id LIMIT 1"
            ),
            {"ids": members[a], "b": made[b]["geom"].boundary.wkt},
        ).scalar_one()
    members[a].remove(bid)
    members[b].append(bid)
    draft = [DraftGrid(c, ids) for c, ids in members.items()]
    out = save_draft(tsinghua, CODE, 100, 200, draft, created_by="test", outlines_plan=plan_id)
    shape = out["outlines"]
    assert shape["plan"] == plan_id and shape["why"] is None, shape
    assert sorted(shape["redrawn"]) == sorted([a, b]), shape
    saved = _grids(tsinghua, out["plan_id"])
    moved = [c for c in saved if c not in (a, b) and not _same(saved[c]["geom"], made[c]["geom"])]
    assert moved == [], moved
    # the two changed grids hold the ground the two held and overlap no grid, but for
    # slivers of rounding (the redrawn outlines are rounded to 1e-7°, about 1 cm: 0.9 m² in
    # all, none of it wider than 2 cm)
    pair = shapely.union_all([saved[a]["geom"], saved[b]["geom"]])
    was = shapely.union_all([made[a]["geom"], made[b]["geom"]])
    rest = shapely.union_all([g["geom"] for c, g in saved.items() if c not in (a, b)])
    assert _wide(shapely.symmetric_difference(pair, was)) < 0.01
    assert _wide(shapely.intersection(pair, rest)) < 0.01
    assert _m2(shapely.intersection(saved[a]["geom"], saved[b]["geom"])) < 0.01
    whole = shapely.union_all([g["geom"] for g in made.values()])
    assert _wide(shapely.symmetric_difference(shapely.union(pair, rest), whole)) < 0.01
    assert shapely.contains(saved[b]["geom"].buffer(1e-7), _building(tsinghua, bid))


def _building(engine, bid: int) -> Any:  # noqa: ANN001
    with engine.connect() as conn:
        wkb = conn.execute(
            text("SELECT ST_AsBinary(geom) FROM buildings WHERE id = :b"), {"b": bid}
        ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def test_without_the_plan_the_outlines_are_the_current_versions(tsinghua, pg_url) -> None:  # noqa: F811
    """No ``outlines_plan``: as before, the current version's outlines (none before a commit:
    every grid drawn from its buildings), and the answer says so (``plan`` None)."""
    _, plan_id = _engine_draft(pg_url)
    made = _grids(tsinghua, plan_id)
    draft = [DraftGrid(c, g["building_ids"]) for c, g in made.items()]
    out = save_draft(tsinghua, CODE, 100, 200, draft, created_by="test")
    assert out["outlines"] == {
        "version": 0,
        "plan": None,
        "kept": [],
        "redrawn": sorted(made),
        "why": None,
    }
    saved = _grids(tsinghua, out["plan_id"])
    codes = sorted(made)
    drift = np.abs(_pp([made[c]["geom"] for c in codes]) - _pp([saved[c]["geom"] for c in codes]))
    assert drift.max() > 0.05  # the defect: redrawn, 0.39 → 0.05 on one grid


def test_an_engine_version_keeps_its_outlines_in_an_edit(tsinghua, pg_url) -> None:  # noqa: F811
    """The territory check lets the engine's drift pass: its grids' outer edges leave the
    community's long straight edges by up to 3.5 cm (drawn in metres), which was taken for a
    moved community line (社区边界自第 1 版以来有变动) and redrew every grid of an edit saved on
    a committed engine plan; the drift slivers stay out of the kept grids."""
    _, plan_id = _engine_draft(pg_url)
    commit_plan(tsinghua, plan_id, allow_disconnected=True)
    with tsinghua.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, ST_AsBinary(geom) AS wkb, properties->'building_ids' AS ids "
                "FROM grids WHERE version = 1 AND level = 1"
            )
        ).all()
    made = {
        r.code: {"geom": shapely.from_wkb(bytes(r.wkb)), "building_ids": list(r.ids)} for r in rows
    }
    a, b, members = _one_moved(made)
    members[b].append(members[a].pop())
    draft = [DraftGrid(c, ids) for c, ids in members.items()]
    out = save_draft(tsinghua, CODE, 100, 200, draft, created_by="test", base_version=1)
    shape = out["outlines"]
    assert (shape["version"], shape["plan"], shape["why"]) == (1, None, None), shape
    assert sorted(shape["redrawn"]) == sorted([a, b]), shape
    saved = _grids(tsinghua, out["plan_id"])
    moved = [c for c in saved if c not in (a, b) and not _same(saved[c]["geom"], made[c]["geom"])]
    assert moved == [], moved


def _page_data(html: str) -> dict:
    """The DATA object the editor page hands to editor.js."""
    m = re.search(r"var DATA = (\{.*?\});\n", html, re.S)
    assert m, "no DATA on the page"
    return json.loads(m.group(1))


def test_the_api_takes_the_plan_the_editor_was_opened_on(demo, auth_headers) -> None:  # noqa: F811
    """The editor page opened on a draft hands its id to the save (``outlines_plan``); a plan
    that does not exist or is another community's is a 422 naming it, nothing stored."""
    mine = create_plan(demo, COMMUNITY, 300, 500)
    theirs = create_plan(demo, OTHER, 300, 500)
    planner = auth_headers("planner", ("110108015",))
    made = _grids(demo, mine)
    assert len(made) > 4, len(made)
    a, b, members = _one_moved(made)
    members[b].append(members[a].pop())
    body = {
        "community": COMMUNITY,
        "min_households": 300,
        "max_households": 500,
        "base_version": 0,
        "grids": [{"code": c, "building_ids": ids} for c, ids in sorted(members.items())],
    }
    with TestClient(create_app(demo)) as client:
        page = client.get(f"/maps/editor?plan={mine}", headers=planner)
        assert page.status_code == 200, page.text
        assert _page_data(page.text)["outlines_plan"] == mine
        page = client.get(f"/maps/editor?community={COMMUNITY}", headers=planner)
        assert _page_data(page.text)["outlines_plan"] is None  # the current grids: none

        stored = _plans(demo)
        r = client.post("/plans/draft", json={**body, "outlines_plan": 999_999}, headers=planner)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == (
            "outlines_plan：方案 999999 不存在，轮廓无从保留 "
            "outlines_plan: plan 999999 does not exist, no outline can be kept from it"
        )
        r = client.post("/plans/draft", json={**body, "outlines_plan": theirs}, headers=planner)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        zh, en = error.split(" outlines_plan: ")
        assert zh == (
            f"outlines_plan：方案 {theirs} 属于社区 {OTHER}，不是社区 {COMMUNITY} 的方案，"
            "不能沿用其轮廓"
        )
        assert en == (
            f"plan {theirs} is a plan of community {OTHER}, not of community {COMMUNITY}: "
            "its outlines cannot be kept"
        )
        r = client.post("/plans/draft", json={**body, "outlines_plan": "1"}, headers=planner)
        assert r.status_code == 422 and "outlines_plan" in r.json()["error"], r.text
        assert _plans(demo) == stored  # nothing stored

        r = client.post("/plans/draft", json={**body, "outlines_plan": mine}, headers=planner)
        assert r.status_code == 201, r.text
        shape = r.json()["outlines"]
        assert shape["plan"] == mine and shape["why"] is None, shape
        assert sorted(shape["redrawn"]) == sorted([a, b])
        assert sorted(shape["kept"]) == sorted(set(made) - {a, b})
        saved = _grids(demo, r.json()["plan_id"])
        assert all(_same(saved[c]["geom"], made[c]["geom"]) for c in shape["kept"])


def test_a_plan_made_on_other_data_or_ground_is_redrawn_and_says_why(demo) -> None:  # noqa: F811
    """The checks a version's outlines pass apply to a plan's: the community's buildings or
    streets changed since it was made, or its outline, and every grid is redrawn, the answer
    saying why (Chinese first, the plan's number in both)."""
    plan = create_plan(demo, COMMUNITY, 300, 500)
    draft = [DraftGrid(c, g["building_ids"]) for c, g in _grids(demo, plan).items()]
    with demo.begin() as conn:  # every footprint redrawn: none lies in its grid any more
        conn.execute(
            text(
                "UPDATE buildings b SET geom = ST_Rotate(b.geom, pi(), ST_Centroid(a.geom)) "
                "FROM areas a WHERE a.id = b.community_id AND a.code = :c"
            ),
            {"c": COMMUNITY},
        )
    out = save_draft(demo, COMMUNITY, 300, 500, draft, outlines_plan=plan)["outlines"]
    assert out["kept"] == [] and out["plan"] == plan, out
    assert out["why"] == (
        f"社区的楼栋或街巷自方案 #{plan} 制作以来有变动，各网格轮廓已按楼栋重新绘制 the "
        f"community's buildings or streets changed since plan #{plan} was made: every grid "
        "outline is redrawn from its buildings"
    )

    # a plan made on today's data, then the community's line moved: a corner cut off
    plan = create_plan(demo, COMMUNITY, 300, 500)
    draft = [DraftGrid(c, g["building_ids"]) for c, g in _grids(demo, plan).items()]
    with demo.begin() as conn:
        conn.execute(
            text(
                "UPDATE areas a SET geom = ST_Multi(ST_Difference(a.geom, ST_Expand(p.geom, "
                "1e-4))) FROM (SELECT d.geom FROM areas x, ST_DumpPoints(x.geom) d "
                "WHERE x.code = :c ORDER BY (SELECT min(ST_Distance(d.geom, b.geom)) "
                "FROM buildings b) DESC LIMIT 1) p WHERE a.code = :c"
            ),
            {"c": COMMUNITY},
        )
    out = save_draft(demo, COMMUNITY, 300, 500, draft, outlines_plan=plan)["outlines"]
    assert out["kept"] == [] and out["plan"] == plan, out
    assert out["why"].startswith(f"社区边界自方案 #{plan} 制作以来有变动（相差约 "), out
    assert f"the community's outline changed since plan #{plan} was made (by about " in out["why"]


@pytest.mark.browser
def test_the_editor_opened_on_a_draft_saves_with_its_outlines(live, browser) -> None:  # noqa: F811
    """The page sends the draft it was opened on: an engine draft with one building moved,
    saved from the page, keeps the engine's outlines of every other grid."""
    from geo.map_data import editor_data

    db = live["engine"]
    code = live["communities"][0]
    plan = create_plan(db, code, 100, 200)
    _open(browser, f"{live['base']}/maps/editor?plan={plan}", "editor_outlines_plan")
    assert _console_errors(browser) == []
    moved, far = far_move(editor_data(db, code, plan))
    browser.execute_script(f"window.gwEditor.move([{moved}], {far});")
    answer = _save(browser)
    shape, made = answer["outlines"], _grids(db, plan)
    assert len(made) > 4, len(made)
    assert shape["plan"] == plan and shape["why"] is None, shape
    assert len(shape["redrawn"]) == 2 and len(shape["kept"]) == len(made) - 2, shape
    saved = _grids(db, answer["plan_id"])
    assert all(_same(saved[c]["geom"], made[c]["geom"]) for c in shape["kept"])
