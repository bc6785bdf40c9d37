"""Nested grid levels in PostGIS (issue 3, requirement 9): a committed plan stores level 1
(the plan's grids), level 2 (one per building with households) and level 3 (the units of
each such building, slices of its footprint), with parent links, one version for all three.

Expected figures are computed independently from the buildings table (households, units,
footprints) and checked with PostGIS geography areas, not with the code under test.
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.errors import InputError
from geo.importer import import_osm
from geo.partition.levels import LevelParams
from geo.plans import commit_plan, create_plan, get_plan
from tests.conftest import FIXTURES

COMMUNITY = "110108015002"
GIVEN_UNITS = 3  # units given to a few buildings before planning (the rest are estimated)


@pytest.fixture()
def demo(db):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.begin() as conn:  # a few buildings with a surveyed unit count
        conn.execute(
            text(
                "UPDATE buildings SET units = :u WHERE id IN (SELECT b.id FROM buildings b "
                "JOIN areas a ON a.id = b.community_id WHERE a.code = :c AND b.households > 0 "
                "ORDER BY b.id LIMIT 5)"
            ),
            {"u": GIVEN_UNITS, "c": COMMUNITY},
        )
        conn.execute(  # and a few without households (no level-2 grid of their own)
            text(
                "UPDATE buildings SET households = 0, household_source = 'given' WHERE id IN "
                "(SELECT b.id FROM buildings b JOIN areas a ON a.id = b.community_id "
                "WHERE a.code = :c ORDER BY b.id DESC LIMIT 4)"
            ),
            {"c": COMMUNITY},
        )
    return db


def _rows(conn, level: int, version: int | None = None) -> list:
    return conn.execute(
        text(
            "SELECT g.id, g.code, g.level, g.parent_id, g.households, g.building_count, "
            "g.properties, g.version, g.retired_at FROM grids g JOIN areas a "
            "ON a.id = g.community_id WHERE a.code = :c AND g.level = :l "
            "AND (CAST(:v AS int) IS NULL OR g.version = :v) ORDER BY g.code"
        ),
        {"c": COMMUNITY, "l": level, "v": version},
    ).all()


def test_commit_stores_levels_2_and_3(demo):
    plan_id = create_plan(demo, COMMUNITY, 300, 500)
    feats = get_plan(demo, plan_id)["features"]["features"]
    out = commit_plan(demo, plan_id, actor="test")
    with demo.connect() as conn:
        bld = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT b.id, b.households, b.units FROM buildings b JOIN areas a "
                    "ON a.id = b.community_id WHERE a.code = :c"
                ),
                {"c": COMMUNITY},
            ).all()
        }
        l1, l2, l3 = (_rows(conn, lvl) for lvl in (1, 2, 3))
    assert out["grids"] == len(l1) == len(feats) and out["level2"] == len(l2) > 0
    assert out["level3"] == len(l3) > len(l2)
    by_id = {r.id: r for r in (*l1, *l2, *l3)}
    members = {f["properties"]["code"]: f["properties"]["building_ids"] for f in feats}

    empty = [b for ids in members.values() for b in ids if bld[b].households == 0]
    # planned into level-1 grids (every building without households, a school, a kindergarten),
    # but no level-2 grid of their own
    assert len(empty) == sum(b.households == 0 for b in bld.values()) >= 4
    assert not {r.properties["building_id"] for r in l2} & set(empty)
    # level 2: exactly the level-1 grid's buildings with households, one each, same households
    for g in l1:
        kids = [r for r in l2 if r.parent_id == g.id]
        want = sorted(b for b in members[g.code] if bld[b].households > 0)
        assert sorted(r.properties["building_id"] for r in kids) == want
        assert sum(r.households for r in kids) == g.households
    for r in l2:
        p = by_id[r.parent_id]
        assert p.level == 1 and r.code[:15] == p.code and len(r.code) == 18
        assert r.households == bld[r.properties["building_id"]].households
        assert r.properties["code_path"] == f"{p.code}-{r.code[15:]}"

    # level 3: units given or ceil(households / 12), households shares sum to the building's
    for r in l2:
        kids = [u for u in l3 if u.parent_id == r.id]
        b = bld[r.properties["building_id"]]
        n = b.units if b.units else math.ceil(b.households / LevelParams().households_per_unit)
        assert len(kids) == min(n, 99)
        assert sum(u.households for u in kids) == r.households
        assert max(u.households for u in kids) - min(u.households for u in kids) <= 1
        assert all(u.code[:18] == r.code and len(u.code) == 20 for u in kids)
        assert {u.properties["units_source"] for u in kids} == {"given" if b.units else "estimated"}
    assert sum(1 for r in l3 if r.properties["units_source"] == "given") == 5 * GIVEN_UNITS
    codes = [r.code for r in (*l1, *l2, *l3)]
    assert len(codes) == len(set(codes))
    assert {r.version for r in (*l1, *l2, *l3)} == {out["version"]}


def test_level_geometries_nest(demo):
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    with demo.connect() as conn:
        # a level-2 grid is its building's footprint, inside its level-1 grid
        bad2 = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE NOT ST_Equals(g.geom, ST_Multi(b.geom))), "
                "count(*) FILTER (WHERE NOT ST_Intersects(ST_PointOnSurface(b.geom), p.geom)), "
                "count(*) FROM grids g JOIN grids p ON p.id = g.parent_id "
                "JOIN buildings b ON b.id = (g.properties->>'building_id')::int WHERE g.level = 2"
            )
        ).one()
        assert bad2[0] == 0 and bad2[1] == 0 and bad2[2] > 0
        # the units of a building lie within its footprint and tile it (areas in m²)
        per_building = conn.execute(
            text(
                "SELECT b.id, ST_Area(b.geom::geography) AS area, "
                "sum(ST_Area(u.geom::geography)) AS units_area, "
                "ST_Area(ST_Union(u.geom)::geography) AS union_area, "
                "max(ST_Area(ST_Difference(u.geom, b.geom)::geography)) AS outside, "
                "count(*) FILTER (WHERE ST_IsEmpty(u.geom) OR NOT ST_IsValid(u.geom)) AS broken "
                "FROM grids u JOIN buildings b ON b.id = (u.properties->>'building_id')::int "
                "WHERE u.level = 3 GROUP BY b.id"
            )
        ).all()
    assert len(per_building) == bad2[2]
    for r in per_building:
        assert r.broken == 0, r
        assert r.outside <= 1e-6 * r.area, r
        assert r.units_area == pytest.approx(r.area, rel=0.01), r  # no gap
        assert r.union_area == pytest.approx(r.units_area, rel=0.01), r  # no overlap


def test_levels_through_the_api_and_map(demo, auth_headers):
    viewer = auth_headers("viewer")
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    with demo.connect() as conn:
        n = {lvl: len(_rows(conn, lvl)) for lvl in (1, 2, 3)}
    with TestClient(create_app(demo)) as client:
        for lvl in (1, 2, 3):
            fc = client.get(
                "/grids",
                params={"level": lvl, "community": COMMUNITY, "limit": 5000},
                headers=viewer,
            ).json()
            assert fc["type"] == "FeatureCollection" and fc["numberReturned"] == n[lvl]
            for f in fc["features"]:
                assert f["geometry"]["type"] == "MultiPolygon"
                assert f["properties"]["level"] == lvl
                assert len(f["properties"]["code"]) == {1: 15, 2: 18, 3: 20}[lvl]
        page = client.get("/maps/grids", params={"community": COMMUNITY}, headers=viewer)
        assert page.status_code == 200 and "/maps/static/grid_map.js" in page.text
        assert f'id="gw-grid-count">{n[1]}<' in page.text  # only level 1 is embedded
        # the household-range form stays on the community the page shows
        assert f'<input type="hidden" name="community" value="{COMMUNITY}">' in page.text
        script = client.get("/maps/static/grid_map.js", headers=viewer).text
        assert "/grids?level=2" in script and "/grids?level=3" in script
    from geo.map_data import grids_with_staff

    assert len(grids_with_staff(demo, level=2, community=COMMUNITY)["features"]) == n[2]


def test_second_commit_retires_all_levels(demo):
    first = commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    second = commit_plan(demo, create_plan(demo, COMMUNITY, 250, 450, seed=1))
    assert second["retired"] == first["grids"] + first["level2"] + first["level3"]
    with demo.connect() as conn:
        by = conn.execute(
            text(
                "SELECT g.version, g.level, count(*), count(g.retired_at) FROM grids g "
                "JOIN areas a ON a.id = g.community_id WHERE a.code = :c "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            {"c": COMMUNITY},
        ).all()
    assert [(v, lvl) for v, lvl, _, _ in by] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    for v, _lvl, n, retired in by:
        assert retired == (n if v == 1 else 0)
    # history keeps the old hierarchy linked: old children point at old parents
    with demo.connect() as conn:
        cross = conn.execute(
            text(
                "SELECT count(*) FROM grids c JOIN grids p ON p.id = c.parent_id "
                "WHERE c.version <> p.version OR c.level <> p.level + 1"
            )
        ).scalar()
    assert cross == 0


def test_bad_level_parameters_leave_nothing_committed(demo):
    plan_id = create_plan(demo, COMMUNITY, 300, 500)
    with pytest.raises(InputError, match="households per unit"):
        commit_plan(demo, plan_id, levels=LevelParams(households_per_unit=0))
    assert get_plan(demo, plan_id)["status"] == "draft"
    with demo.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids")).scalar() == 0
    assert commit_plan(demo, plan_id)["version"] == 1  # the same draft commits afterwards


def test_database_refuses_codes_of_the_wrong_length(demo):
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="ck_grids_code"), demo.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO grids (code, level, parent_id, community_id, version, households, "
                "building_count, flags, properties, geom) SELECT substr(code, 1, 15), 3, id, "
                "community_id, version, 0, 0, '[]', '{}', geom FROM grids WHERE level = 2 LIMIT 1"
            )
        )


def test_grid_counts_follow_a_households_import(demo, tmp_path):
    """The grid map showed a grid's households as committed after `import households` set a
    building's count (the editor, summing buildings, showed the new one)."""
    from geo.households_import import import_households

    plan = create_plan(demo, COMMUNITY, 300, 500)
    commit_plan(demo, plan)
    with demo.connect() as conn:
        level1 = {r.code: r for r in _rows(conn, 1)}
        code, row = next(iter(level1.items()))
        bid = row.properties["building_ids"][0]
        old = conn.execute(
            text("SELECT households FROM buildings WHERE id = :i"), {"i": bid}
        ).scalar()
    (tmp_path / "hh.csv").write_text(f"building_id,households\n{bid},{old + 50}\n")
    counts = import_households(demo, tmp_path / "hh.csv")
    assert counts["grids_updated"] >= 1
    with demo.connect() as conn:
        now = {r.code: r for r in _rows(conn, 1)}
        level2 = [r for r in _rows(conn, 2) if r.properties.get("building_id") == bid]
        units = sorted(
            (r.code, r.households) for r in _rows(conn, 3) if r.properties["building_id"] == bid
        )
    assert now[code].households == row.households + 50
    assert all(now[c].households == level1[c].households for c in level1 if c != code)
    assert [r.households for r in level2] == [old + 50]
    # its units share the new count as a commit splits it: evenly, the rest to the first ones
    n = len(units)
    assert n >= 1 and sum(h for _c, h in units) == old + 50
    assert [h for _c, h in units] == [(old + 50) // n + (k < (old + 50) % n) for k in range(n)]
