"""The demo city seeded for the map tests, and tests of the pages' read queries and of draft
plans saved from the editor (geo.map_data, geo.plan_drafts), on a real PostGIS.

``seed_demo`` imports the fixtures (Haidian OSM cut + communities), then, since the partition
and assignment engines are other issues, makes level-1 grids by cutting each community into
west→east strips of ~``target`` households, names people (one with HTML in the name, all with
phones that must never show), assigns stewards to part of the alleys and stores one patrol.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from geo.errors import InputError
from geo.track_partitions import ensure_day_partitions
from tests.conftest import empty_database  # noqa: F401 (the map tests import it from here)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PATROL_DAY = dt.date(2026, 11, 20)
PHONE = "13912345678"
EVIL_LEADER = "<script>alert('leader')</script>王五"
EVIL_STEWARD = "<img src=x onerror=alert(2)>李四"


def _insert_person(conn, ext: str, name: str, roles: list[str]) -> int:  # noqa: ANN001
    return conn.execute(
        text(
            "INSERT INTO people (external_id, name, phone, roles, part_time, active) "
            "VALUES (:e, :n, :p, :r, false, true) "
            "RETURNING id"
        ),
        {"e": ext, "n": name, "p": PHONE, "r": roles},
    ).scalar_one()


def seed_demo(engine: Engine, target: int = 400) -> dict[str, Any]:
    """Import the demo city and add grids, people, assignments and one day of patrols."""
    from geo.areas_import import import_areas
    from geo.importer import import_osm

    import_areas(engine, FIXTURES / "communities.geojson", level="community")
    import_osm(engine, FIXTURES / "haidian_demo.osm")
    out: dict[str, Any] = {"communities": [], "leaders": {}}
    with engine.begin() as conn:
        comms = conn.execute(
            text("SELECT id, code FROM areas WHERE level = 'community' ORDER BY code")
        ).all()
        for c in comms:
            b = conn.execute(
                text(
                    "SELECT b.households, ST_X(ST_PointOnSurface(b.geom)) AS x FROM buildings b "
                    "JOIN areas a ON a.id = :a "
                    "WHERE ST_Intersects(ST_PointOnSurface(b.geom), a.geom) ORDER BY x"
                ),
                {"a": c.id},
            ).all()
            total = sum(r.households for r in b)
            k = max(1, round(total / target))
            cuts, acc, step = [-180.0], 0, total / k
            for i, r in enumerate(b[:-1]):
                acc += r.households
                if acc >= step * len(cuts) and len(cuts) < k:
                    cuts.append((r.x + b[i + 1].x) / 2)
            cuts.append(180.0)
            for seq in range(len(cuts) - 1):
                conn.execute(
                    text(
                        "WITH g AS (SELECT ST_Multi(ST_CollectionExtract(ST_Intersection(a.geom, "
                        " ST_MakeEnvelope(:x0, -90, :x1, 90, 4326)), 3)) AS geom "
                        " FROM areas a WHERE a.id = :a) "
                        "INSERT INTO grids (code, level, community_id, households, "
                        " building_count, geom, version, flags, properties) "
                        "SELECT :code, 1, :a, COALESCE(sum(b.households), 0), count(b.id), "
                        " g.geom, 1, '[]', '{}' FROM g LEFT JOIN buildings b "
                        " ON ST_Intersects(ST_PointOnSurface(b.geom), g.geom) GROUP BY g.geom"
                    ),
                    {
                        "a": c.id,
                        "x0": cuts[seq],
                        "x1": cuts[seq + 1],
                        "code": f"{c.code}{seq + 1:03d}",
                    },
                )
            out["communities"].append(c.code)
        # Level 2: the first few residential buildings of the first grid.
        first = conn.execute(text("SELECT id, code, community_id FROM grids ORDER BY code")).first()
        lvl2 = conn.execute(
            text(
                "SELECT b.id, b.households, b.geom FROM buildings b JOIN grids g ON g.id = :g "
                "WHERE ST_Intersects(ST_PointOnSurface(b.geom), g.geom) AND b.households > 0 "
                "ORDER BY b.id LIMIT 3"
            ),
            {"g": first.id},
        ).all()
        for j, r in enumerate(lvl2):
            conn.execute(
                text(
                    "INSERT INTO grids (code, level, parent_id, community_id, households, "
                    "building_count, geom, version, flags, properties) "
                    "SELECT :code, 2, :p, :c, :h, 1, geom, 1, '[]', '{}' FROM buildings "
                    "WHERE id = :b"
                ),
                {
                    "code": f"{first.code}{j + 1:03d}",  # level 2: parent code + 3 digits
                    "p": first.id,
                    "c": first.community_id,
                    "h": r.households,
                    "b": r.id,
                },
            )
        # People: a leader and ceil(households / 100) workers per level-1 grid.
        grids = conn.execute(
            text("SELECT id, code, households FROM grids WHERE level = 1 ORDER BY code")
        ).all()
        since = dt.date(2026, 1, 1)
        for i, g in enumerate(grids):
            name = EVIL_LEADER if i == 0 else f"网格长{i:02d}"
            pid = _insert_person(conn, f"leader-{g.code}", name, ["grid_leader"])
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                    "VALUES (:p, 'grid_leader', :g, :d)"
                ),
                {"p": pid, "g": g.id, "d": since},
            )
            out["leaders"][g.code] = name
            for w in range(math.ceil(g.households / 100)):
                wid = _insert_person(conn, f"worker-{g.code}-{w}", f"网格员{i:02d}-{w}", [])
                conn.execute(
                    text(
                        "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                        "VALUES (:p, 'grid_worker', :g, :d)"
                    ),
                    {"p": wid, "g": g.id, "d": since},
                )
        # Stewards: three people share the first 60 % of the alley streets.
        alleys = (
            conn.execute(text("SELECT id FROM streets WHERE kind = 'alley' ORDER BY id"))
            .scalars()
            .all()
        )
        stewards = [
            _insert_person(conn, f"steward-{j}", n, ["alley_steward"])
            for j, n in enumerate([EVIL_STEWARD, "赵六", "钱七"])
        ]
        staffed = alleys[: int(len(alleys) * 0.6)]
        for j, sid in enumerate(staffed):
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                    "VALUES (:p, 'alley_steward', :s, :d)"
                ),
                {"p": stewards[j % 3], "s": sid, "d": since},
            )
        # One patrol by the first steward: walk every segment of their first alley.
        walker = stewards[0]
        segs = (
            conn.execute(
                text("SELECT s.id FROM street_segments s WHERE s.street_id = :st ORDER BY s.id"),
                {"st": staffed[0]},
            )
            .scalars()
            .all()
        )
        raw = f"demo patrol {walker}".encode()
        tid = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, person_id, status, "
                "n_points) VALUES (:h, :r, 'gpx', 'wgs84', :n, :p, 'matched', 0) RETURNING id"
            ),
            {"h": hashlib.sha256(raw).hexdigest(), "r": raw, "n": len(raw), "p": walker},
        ).scalar_one()
        start = dt.datetime(2026, 11, 20, 0, 30, tzinfo=dt.UTC)  # 08:30 in Beijing
        ensure_day_partitions(conn, [start.date()])
        conn.execute(
            text(
                "INSERT INTO track_points (track_id, seq, t, geom) "
                "SELECT :t, row_number() OVER (ORDER BY s.id, d.path) - 1, "
                " CAST(:t0 AS timestamptz) + (row_number() OVER (ORDER BY s.id, d.path)) "
                " * interval '10 seconds', d.geom "
                "FROM street_segments s, ST_DumpPoints(s.geom) d WHERE s.id = ANY(:segs)"
            ),
            {"t": tid, "t0": start, "segs": segs},
        )
        conn.execute(  # what an upload records: the fix count and the walk's time span
            text(
                "UPDATE tracks SET (n_points, started_at, ended_at) = (SELECT count(*), "
                "min(t), max(t) FROM track_points WHERE track_id = :t) WHERE id = :t"
            ),
            {"t": tid},
        )
        for s in segs:
            conn.execute(
                text(
                    "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                    "covered_fraction) VALUES (:t, :s, :p, :d, 1.0)"
                ),
                {"t": tid, "s": s, "p": walker, "d": PATROL_DAY},
            )
        out.update(
            stewards=stewards,
            walker=walker,
            track=tid,
            walked_segments=segs,
            staffed_streets=staffed,
        )
    return out


@pytest.fixture(scope="module")
def db(engine) -> Engine:  # noqa: ANN001
    """One emptied database for this module: seeding the demo city once keeps it fast, and
    no test here changes the seeded rows (they only add plans)."""
    return empty_database(engine)


@pytest.fixture(scope="module")
def demo(db) -> dict[str, Any]:  # noqa: ANN001
    return seed_demo(db)


def test_seeded_grids_tile_each_community(db, demo) -> None:  # noqa: ANN001
    """The test grids are a real tiling (so the pages are checked against sane data)."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, abs(ST_Area(a.geom::geography) - "
                " ST_Area(ST_Union(g.geom)::geography)) AS diff, sum(g.households) AS hh, "
                " (SELECT sum(b.households) FROM buildings b "
                "  WHERE ST_Intersects(ST_PointOnSurface(b.geom), a.geom)) AS bhh "
                "FROM areas a JOIN grids g ON g.community_id = a.id AND g.level = 1 "
                "WHERE a.level = 'community' GROUP BY a.id"
            )
        ).all()
    assert len(rows) == 4
    for r in rows:
        assert r.diff < 5.0, r  # m² of ~300,000: floating-point noise of the union only
        assert r.hh == r.bhh


def test_grids_with_staff_names_and_no_phone(db, demo) -> None:  # noqa: ANN001
    from geo.map_data import grids_with_staff

    fc = grids_with_staff(db, level=1)
    with db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM grids WHERE level = 1")).scalar()
    assert len(fc["features"]) == n
    by_code = {f["properties"]["code"]: f["properties"] for f in fc["features"]}
    for code, leader in demo["leaders"].items():
        assert by_code[code]["leader"] == leader
        assert len(by_code[code]["workers"]) == math.ceil(by_code[code]["households"] / 100)
    assert PHONE not in str(fc)


def test_alleys_with_stewards_rates(db, demo) -> None:  # noqa: ANN001
    from geo.map_data import alleys_with_stewards

    d = alleys_with_stewards(db)
    with db.connect() as conn:
        n_alleys, n_staffed = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE street_id = ANY(:s)) "
                "FROM street_segments WHERE kind = 'alley'"
            ),
            {"s": demo["staffed_streets"]},
        ).one()
    assert d.rates["alleys"] == n_alleys
    assert d.rates["alleys_with_steward"] == n_staffed
    assert 0 < d.rates["share_alleys"] < 1
    assert {s["id"] for s in d.stewards} == set(demo["stewards"])


def test_patrols_of_day(db, demo) -> None:  # noqa: ANN001
    """The walker's alleys (whole alleys, not segments) as the daily report judges them."""
    from geo.map_data import patrols_of_day
    from geo.patrol_reports import build_report

    d = patrols_of_day(db, PATROL_DAY, demo["walker"])
    mine = demo["staffed_streets"][::3]  # every third staffed alley is the walker's
    feats = d.alleys["features"]
    assert sorted(f["properties"]["id"] for f in feats) == sorted(mine)
    patrolled = {f["properties"]["id"] for f in feats if f["properties"]["patrolled"]}
    assert patrolled == {demo["staffed_streets"][0]}
    assert d.counts == {"alley_steward": {"alleys": len(mine), "patrolled": 1}}
    rep = build_report(db, "daily", PATROL_DAY)["people"]
    line = rep[rep["person_id"] == demo["walker"]].iloc[0]
    assert (line["alleys"], line["patrolled_alleys"]) == (len(mine), 1)
    assert [t["id"] for t in d.tracks] == [demo["track"]]
    assert d.compliance[-1]["patrolled"] == 1 and d.compliance[-1]["alleys"] == len(mine)
    assert d.compliance[0]["patrolled"] == 0
    other = patrols_of_day(db, PATROL_DAY - dt.timedelta(days=1), demo["walker"])
    assert not other.tracks and all(
        f["properties"]["walked"] == 0 and not f["properties"]["patrolled"]
        for f in other.alleys["features"]
    )


def test_save_draft_moves_households(db, demo) -> None:  # noqa: ANN001
    from geo.errors import InputError
    from geo.map_data import editor_data
    from geo.plan_drafts import DraftGrid, save_draft
    from geo.plans import get_plan

    code = demo["communities"][0]
    ed = editor_data(db, code)
    groups: dict[int, list[int]] = {}
    hh = {}
    for f in ed.buildings["features"]:
        groups.setdefault(f["properties"]["grid"], []).append(f["id"])
        hh[f["id"]] = f["properties"]["households"]
    assert None not in groups  # every building starts in a grid
    g0, g1 = sorted(groups)[:2]
    moved = max(groups[g0], key=lambda b: hh[b])
    groups[g0].remove(moved)
    groups[g1].append(moved)
    grids = [DraftGrid(ed.grids[i]["code"], ids) for i, ids in sorted(groups.items())]
    out = save_draft(db, code, 300, 500, grids)
    counts = {g["code"]: g["households"] for g in out["grids"]}
    assert counts[ed.grids[g1]["code"]] == sum(hh[b] for b in groups[g1])
    plan = get_plan(db, out["plan_id"])
    assert plan["status"] == "draft"
    assert len(plan["features"]["features"]) == len(grids)
    with pytest.raises(InputError, match="two grids"):
        save_draft(db, code, 300, 500, [DraftGrid(None, [moved]), DraftGrid(None, [moved])])
    with pytest.raises(InputError, match="greater than"):
        save_draft(db, code, 600, 500, grids)


def test_drop_slivers_keeps_real_parts_only() -> None:
    from shapely.geometry import box, mapping, shape

    from geo.map_data import drop_slivers

    d = 1 / 111_000  # ~1 m of latitude in degrees
    real = box(116.3, 40.0, 116.3 + 30 * d, 40.0 + 30 * d)
    hair = box(116.31, 40.0, 116.31 + 200 * d, 40.0 + 0.01 * d)  # 200 m × 1 cm
    kept = drop_slivers(
        {
            "type": "MultiPolygon",
            "coordinates": [mapping(real)["coordinates"], mapping(hair)["coordinates"]],
        }
    )
    assert kept is not None and shape(kept).equals(real)
    assert drop_slivers(mapping(hair)) is None


def test_editor_data_problems_of_current_grids_and_of_a_plan(db, demo) -> None:  # noqa: ANN001
    from geo.map_data import editor_data
    from geo.partition.given import GAP_M
    from geo.plan_drafts import DraftGrid, save_draft

    code = demo["communities"][3]
    ed = editor_data(db, code)
    # The seeded grids tile the community exactly: no gap, no overlap, nothing outside.
    assert ed.problems == {"gap": None, "overlap": None, "outside": None}
    assert ed.plan_id is None and ed.plan_status is None and not ed.committed
    ids = [f["id"] for f in ed.buildings["features"]]
    # the page's contiguity check gives out the building-less ground as the server draws
    # (geo.partition.given.ground): every atom it names is one of these buildings
    assert ed.ground is not None and ed.ground["gap_m"] == GAP_M and ed.ground["atoms"]
    named = {b for touch, _beside in ed.ground["atoms"] for b, _m in touch}
    named |= {b for pair in ed.ground["near"] for b in pair}
    assert named and named <= set(ids)
    # An edited plan is drawn on the engine's atoms: one grid of every building covers the
    # whole community, streets and yards included (it was the footprints alone, with gaps).
    plan = save_draft(db, code, 1, 10**6, [DraftGrid(None, ids)])
    ep = editor_data(db, code, plan["plan_id"])
    assert ep.problems == {"gap": None, "overlap": None, "outside": None}
    assert {f["properties"]["grid"] for f in ep.buildings["features"]} == {0}
    assert ep.grids[0]["code"] == plan["grids"][0]["code"]
    assert (ep.plan_id, ep.plan_status) == (plan["plan_id"], "draft")
    assert not ep.stale
    with pytest.raises(InputError, match="not a plan of community"):
        editor_data(db, demo["communities"][0], plan["plan_id"])


def test_rebalance_keeps_locked_grids_and_partitions_the_rest(db, demo) -> None:  # noqa: ANN001
    from geo.map_data import editor_data
    from geo.plan_drafts import DraftGrid, rebalance

    code = demo["communities"][1]
    ed = editor_data(db, code)
    groups: dict[int, list[int]] = {}
    for f in ed.buildings["features"]:
        groups.setdefault(f["properties"]["grid"], []).append(f["id"])
    order = sorted(groups)
    grids = [DraftGrid(ed.grids[i]["code"], groups[i], locked=(i == order[0])) for i in order]
    out = rebalance(db, code, 300, 500, grids)
    locked = [g for g in out["grids"] if g["locked"]]
    assert len(locked) == 1 and locked[0]["building_ids"] == sorted(groups[order[0]])
    others = [b for g in out["grids"] if not g["locked"] for b in g["building_ids"]]
    assert len(others) == len(set(others))
    assert not set(others) & set(groups[order[0]])
    codes = [g["code"] for g in out["grids"]]
    assert len(codes) == len(set(codes)) and all(len(c) == 15 for c in codes)
    with db.connect() as conn:
        for g in out["grids"]:
            hh = conn.execute(
                text("SELECT sum(households) FROM buildings WHERE id = ANY(:i)"),
                {"i": g["building_ids"]},
            ).scalar()
            assert hh == g["households"]
    with pytest.raises(InputError, match="nothing to rebalance"):
        rebalance(db, code, 300, 500, [DraftGrid(g.code, g.building_ids, True) for g in grids])
