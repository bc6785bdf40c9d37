"""The grid editor's "平衡其余 rebalance the rest" on the demo city (tester W's F5).

Locking a grid and rebalancing the rest was a 500 in 15 of the demo's 19 cases: the rest
(the community minus the locked grid's polygon) kept hairline slivers along the locked
grid's edge, each became a grid of 0 buildings with an empty polygon, and numbering the
grids crashed. Here every grid of every community is locked in turn.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text

from api.app import create_app
from geo.crs import WGS84, metric_crs_for_bounds
from geo.partition.given import atoms, grid_areas
from geo.plans import create_plan, get_plan, load_inputs

LO, HI = 300, 500


@pytest.fixture()
def city(db):
    from geo.demo import load_city, make_grids

    load_city(db)
    make_grids(db, LO, HI)
    return db


def _current_grids(engine) -> dict[str, list[tuple[str, list[int]]]]:  # noqa: ANN001
    """community code -> [(grid code, building ids)] of its current level-1 grids."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code AS community, g.code, g.properties->'building_ids' AS ids "
                "FROM grids g JOIN areas a ON a.id = g.community_id "
                "WHERE g.level = 1 AND g.retired_at IS NULL ORDER BY 1, 2"
            )
        ).all()
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for r in rows:
        out.setdefault(r.community, []).append((r.code, [int(b) for b in r.ids]))
    return out


def _metric(polys: np.ndarray, outline: shapely.Geometry) -> tuple[np.ndarray, shapely.Geometry]:
    """Both in the community's UTM zone, so tolerances are square metres."""
    to_m = Transformer.from_crs(WGS84, metric_crs_for_bounds(outline.bounds), always_xy=True)

    def f(c: np.ndarray) -> np.ndarray:
        return np.column_stack(to_m.transform(c[:, 0], c[:, 1]))

    return shapely.transform(polys, f), shapely.transform(outline, f)


def _assert_tiles(engine, community: str, grids: list[dict]) -> None:  # noqa: ANN001
    """The rebalanced grids drawn as a saved draft draws them: no empty grid, no overlap,
    the unlocked grids cover exactly the community minus the locked one."""
    with engine.connect() as conn:
        _area, outline, buildings, streets = load_inputs(conn, community)
    label = {b: i for i, g in enumerate(grids) for b in g["building_ids"]}
    ids = buildings.index.tolist()
    assert sorted(label) == sorted(ids), "every building of the community once"
    assert sum(len(g["building_ids"]) for g in grids) == len(ids)
    polys = grid_areas(
        atoms(outline, buildings, streets if len(streets) else None),
        np.array([label[b] for b in ids], dtype=np.int64),
        len(grids),
    )
    assert not shapely.is_empty(polys).any()
    locked = np.array([g["locked"] for g in grids])
    polys, outline = _metric(polys, outline)
    whole = shapely.union_all(polys)
    tol = 1e-6 * outline.area + 1.0  # m², as tests/test_partition.py judges a tiling
    assert shapely.area(shapely.symmetric_difference(whole, outline)) < tol
    assert abs(shapely.area(polys).sum() - whole.area) < tol, "grids overlap"
    rest = shapely.difference(outline, shapely.union_all(polys[locked]))
    moved = shapely.union_all(polys[~locked])
    assert shapely.area(shapely.symmetric_difference(moved, rest)) < tol


def test_rebalance_with_each_grid_locked_tiles_the_rest(city, auth_headers) -> None:
    planner = auth_headers("planner", ("110108015",))
    by_community = _current_grids(city)
    assert sum(len(g) for g in by_community.values()) >= 15
    with TestClient(create_app(city)) as client:
        for community, current in by_community.items():
            for i, (code, ids) in enumerate(current):
                body = {
                    "community": community,
                    "min_households": LO,
                    "max_households": HI,
                    "grids": [
                        {"code": c, "building_ids": b, "locked": j == i}
                        for j, (c, b) in enumerate(current)
                    ],
                }
                r = client.post("/plans/rebalance", json=body, headers=planner)
                assert r.status_code == 200, (community, code, r.text)
                grids = r.json()["grids"]
                assert [g for g in grids if g["locked"]] == [
                    {
                        "code": code,
                        "building_ids": sorted(ids),
                        "locked": True,
                        "households": grids[0]["households"],
                        "source": i,
                    }
                ]
                assert all(g["building_ids"] for g in grids), (community, code)
                named = [g["code"] for g in grids if g["code"] is not None]
                assert len(set(named)) == len(named)
                # a grid keeps the code of the grid it continues; new ones get none yet
                assert all(
                    g["code"] == (None if g["source"] is None else current[g["source"]][0])
                    for g in grids
                )
                _assert_tiles(city, community, grids)
        # every grid locked: nothing left to rebalance, a 4xx that says so
        community, current = next(iter(by_community.items()))
        body["community"] = community
        body["grids"] = [{"code": c, "building_ids": b, "locked": True} for c, b in current]
        r = client.post("/plans/rebalance", json=body, headers=planner)
        assert r.status_code == 422, r.text
        assert "every building is in a locked grid" in r.json()["error"]


def test_bounds_allowing_zero_households_make_no_grid_without_buildings(city) -> None:
    """F15: ``min 0, max 1`` made a grid of an empty block (0 buildings, unflagged)."""
    plan = get_plan(city, create_plan(city, "110108015001", 0, 1, created_by="test"))
    feats = plan["features"]["features"]
    assert feats and all(f["properties"]["building_count"] >= 1 for f in feats)
    assert all(f["properties"]["households"] <= 1 or f["properties"]["flags"] for f in feats)


def test_a_building_moved_out_of_a_locked_grid_is_rebalanced(city, auth_headers) -> None:
    """A building the planner moved out of a grid, which they then locked, fell out of the
    answer: the rest was the community minus the locked grid's stored polygon, which still
    covered it (saving the draft was then refused, a building left out)."""
    planner = auth_headers("planner", ("110108015",))
    community, current = next((c, g) for c, g in _current_grids(city).items() if len(g) >= 2)
    (code0, ids0), (code1, ids1) = current[0], current[1]
    moved = ids0[0]
    grids = [
        {"code": code0, "building_ids": ids0[1:], "locked": True},
        {"code": code1, "building_ids": [*ids1, moved], "locked": False},
        *({"code": c, "building_ids": b, "locked": False} for c, b in current[2:]),
    ]
    body = {"community": community, "min_households": LO, "max_households": HI, "grids": grids}
    with TestClient(create_app(city)) as client:
        r = client.post("/plans/rebalance", json=body, headers=planner)
    assert r.status_code == 200, r.text
    out = r.json()["grids"]
    assert [g["building_ids"] for g in out if g["locked"]] == [sorted(ids0[1:])]
    assert any(moved in g["building_ids"] for g in out if not g["locked"]), out
    _assert_tiles(city, community, out)


def test_rebalancing_an_unchanged_community_moves_nothing(city, auth_headers) -> None:
    """Tester, 6: "rebalance the rest" on a community the engine had just partitioned said
    "38 楼栋 moved": the engine numbers its grids afresh, so 001↔002 and 003↔004 swapped
    codes (and colours in the editor). Its grids are now matched to the ones they continue
    by their buildings: the same grids come back under their own codes, nothing moved."""
    planner = auth_headers("planner", ("110108015",))
    by_community = _current_grids(city)
    with TestClient(create_app(city)) as client:
        for community, current in by_community.items():
            body = {
                "community": community,
                "min_households": LO,
                "max_households": HI,
                "base_version": 1,
                "grids": [{"code": c, "building_ids": b} for c, b in reversed(current)],
            }
            r = client.post("/plans/rebalance", json=body, headers=planner)
            assert r.status_code == 200, (community, r.text)
            out = r.json()
            got = {g["code"]: g["building_ids"] for g in out["grids"]}
            assert got == {c: sorted(b) for c, b in current}, community
            assert out["summary"]["moved_buildings"] == 0, community
            n = len(current)
            assert [g["source"] for g in out["grids"]] == list(range(n)), community


def test_rebalance_on_a_stale_page_says_so(city, auth_headers) -> None:
    """Tester, 6: a page opened before another planner's commit rebalanced the grids it
    holds as if they were current; it is now refused as its save is (409, reload), and a
    version the community never had is a bad input (422 naming the current one)."""
    planner = auth_headers("planner", ("110108015",))
    community, current = next(iter(_current_grids(city).items()))
    body = {
        "community": community,
        "min_households": LO,
        "max_households": HI,
        "base_version": 0,
        "grids": [{"code": c, "building_ids": b} for c, b in current],
    }
    with TestClient(create_app(city)) as client:
        r = client.post("/plans/rebalance", json=body, headers=planner)
        assert r.status_code == 409, r.text
        assert "请刷新编辑器" in r.json()["error"] and "version 0 → 1" in r.json()["error"]
        r = client.post("/plans/rebalance", json=dict(body, base_version=7), headers=planner)
        assert r.status_code == 422, r.text
        assert "community " + community + " is at grid version 1" in r.json()["error"]
