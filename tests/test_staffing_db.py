"""People and duties on PostGIS: registry, proposals, dated commits, leavers, coverage rates."""

from __future__ import annotations

import datetime as dt
import io
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.duties import person_leaves
from geo.errors import ConflictError, InputError
from geo.importer import import_osm
from geo.people_import import import_people
from geo.plans import commit_plan, create_plan
from geo.settings import city_today
from geo.staffing import commit, coverage_rates, propose
from tests.conftest import FIXTURES
from tests.dbcheck import fingerprint

AREA = "110108015002"


def _people_csv(db, path, n_stewards=40, n_chiefs=10, n_leaders=10, n_workers=40, seed=0):
    with db.connect() as conn:
        homes = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)) "
                "FROM buildings b JOIN areas a ON a.id = b.community_id WHERE a.code = :c "
                "ORDER BY b.id"
            ),
            {"c": AREA},
        ).all()
    rng = np.random.default_rng(seed)
    roles = (
        ["小巷管家"] * n_stewards
        + ["街巷长"] * n_chiefs
        + ["网格长"] * n_leaders
        + ["专职网格员"] * n_workers
    )
    rows = []
    for i, role in enumerate(roles):
        x, y = homes[int(rng.integers(len(homes)))]
        rows.append(
            {
                "编号": f"P{i:03d}",
                "姓名": f"测试{i}",
                "手机": f"139{i:08d}",
                "角色": role,
                "经度": x,
                "纬度": y,
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture()
def demo(db, tmp_path):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    commit_plan(db, create_plan(db, AREA, 300, 500))
    import_people(db, _people_csv(db, tmp_path / "people.csv"))
    return db


def _current(db) -> set[tuple[int, int]]:
    with db.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT street_id, person_id FROM assignments WHERE role = 'alley_steward' "
                    "AND valid_to IS NULL"
                )
            ).all()
        )


def test_propose_commit_is_stable_and_a_leaver_moves_only_their_alleys(demo):
    first = propose(demo, "alleys", AREA)
    assert first["changes"]["start"] == len(first["pairs"]) > 0
    commit(demo, first)
    rates = coverage_rates(demo, AREA)
    assert rates["alleys_covered"] == len({p["item_id"] for p in first["pairs"]})
    assert rates["alley_coverage"] == pytest.approx(first["summary"]["coverage"], abs=1e-3)

    again = propose(demo, "alleys", AREA)  # nothing changed: nothing moves
    assert again["changes"] == {"keep": len(first["pairs"]), "end": 0, "start": 0}
    # a kept duty shows the same walk as when it was proposed (it was null)
    walks = {(p["item_id"], p["person_id"]): p["walk_m"] for p in first["pairs"]}
    assert {(p["item_id"], p["person_id"]): p["walk_m"] for p in again["pairs"]} == walks
    assert all(w is not None and w >= 0 for w in walks.values())

    before = _current(demo)
    counts: dict[int, int] = {}
    for _alley, person in before:
        counts[person] = counts.get(person, 0) + 1
    leaver = max(counts, key=counts.get)
    theirs = {a for a, p in before if p == leaver}
    # the city's day (Asia/Shanghai), as person_leaves counts it: the machine's date differs
    # from 16:00 to 24:00 UTC
    yesterday = city_today() - dt.timedelta(days=1)
    # make the duties a week old so ending them keeps history
    with demo.begin() as conn:
        conn.execute(
            text("UPDATE assignments SET valid_from = :d"), {"d": yesterday - dt.timedelta(days=6)}
        )
    assert person_leaves(demo, leaver)["duties_ended"] == len(theirs)
    after_leave = _current(demo)
    assert after_leave == {(a, p) for a, p in before if p != leaver}
    refill = propose(demo, "alleys", AREA)
    started = {(p["item_id"], p["person_id"]) for p in refill["pairs"]} - after_leave
    assert {a for a, _ in started} <= theirs  # only the leaver's alleys move
    assert all(p != leaver for _, p in started)
    commit(demo, refill)
    with demo.connect() as conn:
        history = conn.execute(
            text("SELECT count(*) FROM assignments WHERE person_id = :p AND valid_to = :y"),
            {"p": leaver, "y": yesterday},
        ).scalar()
    assert history == len(theirs)  # past reports still see who held them


def test_stale_proposal_refused_and_grids_staffed(demo):
    a = propose(demo, "grids", AREA)
    b = propose(demo, "grids", AREA)
    commit(demo, a)
    before = fingerprint(demo)
    with pytest.raises(ConflictError):
        commit(demo, b)
    assert fingerprint(demo) == before
    rates = coverage_rates(demo, AREA)
    assert rates["grids"] > 0
    assert rates["grids_fully_staffed"] == rates["grids"] - len(a["uncovered"])
    with demo.connect() as conn:
        per_grid = conn.execute(
            text(
                "SELECT g.households, count(*) FILTER (WHERE x.role = 'grid_leader'), "
                "count(*) FILTER (WHERE x.role = 'grid_worker') FROM grids g JOIN assignments x "
                "ON x.grid_id = g.id GROUP BY g.id, g.households"
            )
        ).all()
    for households, leaders, workers in per_grid:
        assert leaders <= 1 and workers <= int(np.ceil(households / 100))


def test_bad_people_files_change_nothing(demo, tmp_path):
    before = fingerprint(demo)
    dup = tmp_path / "dup.csv"
    dup.write_text("person_id,name,lon,lat\nA,x,116.31,39.99\nA,y,116.31,39.99\n")
    unknown = tmp_path / "unknown.csv"  # a misspelt home column: named in the error
    unknown.write_text("person_id,name,shoe_size,long,lat\nA,x,42,116.31,39.99\n")
    nowhere = tmp_path / "nobuilding.csv"
    nowhere.write_text("person_id,name,building_id\nA,x,osm:w1\n")
    for path, needle in (
        (dup, "duplicate"),
        (unknown, "shoe_size, long"),
        (nowhere, "does not exist"),
    ):
        with pytest.raises(InputError) as err:
            import_people(demo, path)
        assert needle in err.value.message.lower()
    assert fingerprint(demo) == before
    with pytest.raises(InputError) as err:
        propose(demo, "grids", "110108015004")  # no grids committed there yet
    assert "no current grids" in err.value.message
    with pytest.raises(InputError):
        propose(demo, "rivers", AREA)
    from geo.errors import NotFoundError

    with pytest.raises(NotFoundError):
        propose(demo, "alleys", "110108099")


def test_api_flow_and_no_phone_numbers(demo, auth_headers, tmp_path):
    planner = auth_headers("planner", ("110108015",))
    viewer = auth_headers("viewer")
    with TestClient(create_app(demo)) as client:
        r = client.post(
            "/assignments/proposals", json={"kind": "alleys", "area": AREA}, headers=planner
        )
        assert r.status_code == 202, r.text
        for _ in range(300):
            job = client.get(r.json()["job_url"], headers=planner).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        done = client.post(f"/assignments/proposals/{job['job_id']}/commit", headers=planner)
        assert done.status_code == 200 and done.json()["started"] > 0
        again = client.post(f"/assignments/proposals/{job['job_id']}/commit", headers=planner)
        assert again.status_code == 409
        people = client.get("/people", headers=viewer)
        assert people.status_code == 200 and len(people.json()) == 100
        assert "139" not in people.text
        pid = job["result"]["pairs"][0]["person_id"]
        duties = client.get(f"/people/{pid}/duties", headers=viewer).json()["duties"]
        assert duties and all(d["role"] == "alley_steward" for d in duties)
        steward = auth_headers("steward", person_id=pid)
        assert client.get(f"/people/{pid}/duties", headers=steward).status_code == 200
        other = pid + 1
        assert client.get(f"/people/{other}/duties", headers=steward).status_code == 403
        cov = client.get("/coverage", params={"area": AREA}, headers=viewer).json()
        assert cov["alley_coverage"] > 0.5
        csv = io.BytesIO(b"person_id,name,lon,lat\nNEW1,\xe6\x96\xb0,116.316,39.995\n")
        r = client.post(
            "/people/import",
            files={"file": ("p.csv", csv, "text/csv")},
            headers=auth_headers("admin"),
        )
        assert r.status_code == 200 and r.json()["people_read"] == 1
        # planners import the people of their areas (tests/test_people_import_db.py)
        outside = auth_headers("planner", ("120101",))
        csv.seek(0)
        r = client.post(
            "/people/import", files={"file": ("p.csv", csv, "text/csv")}, headers=outside
        )
        assert r.status_code == 403 and "NEW1" in r.json()["error"], r.text


def test_grid_staff_of_a_neighbour_community_are_not_given_a_second_grid(demo):
    """Acceptance tester: the candidates for an area's grids are everyone living within 2 km,
    neighbours included, and the solver saw only that area's grids, so a rebalance gave
    full-time workers a grid while they kept one in the next community, and one person led
    two grids (grids_per_person is 1). Now grids held elsewhere count against a person's
    capacity: after staffing two neighbouring communities nobody holds two grids."""
    other = "110108015001"
    commit(demo, propose(demo, "grids", AREA))
    commit_plan(demo, create_plan(demo, other, 300, 500))
    with demo.connect() as conn:
        staffed_here = set(
            conn.execute(
                text("SELECT DISTINCT person_id FROM assignments WHERE grid_id IS NOT NULL")
            ).scalars()
        )
    assert staffed_here
    for rebalance in (False, True):
        proposal = propose(demo, "grids", other, rebalance=rebalance)
        given = {int(p["person_id"]) for p in proposal["pairs"]}
        assert given and not given & staffed_here
    commit(demo, propose(demo, "grids", other, rebalance=True))
    with demo.connect() as conn:
        most = conn.execute(
            text(
                "SELECT max(n) FROM (SELECT person_id, count(DISTINCT grid_id) AS n FROM "
                "assignments WHERE grid_id IS NOT NULL AND valid_to IS NULL GROUP BY person_id) x"
            )
        ).scalar_one()
    assert most == 1


def _grid_duties_today(db, day):
    """(person, grid, role, valid_from, valid_to, retired) of grid duties in force on ``day``."""
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.person_id, a.grid_id, a.role, a.valid_from, a.valid_to, "
                "g.retired_at IS NOT NULL FROM assignments a JOIN grids g ON g.id = a.grid_id "
                "WHERE a.valid_from <= :d AND (a.valid_to IS NULL OR a.valid_to >= :d)"
            ),
            {"d": day},
        ).all()


def test_people_freed_today_are_staffed_and_short_grids_named_by_code(demo):
    """Outside tester (F8): a plan commit (before 2e55c92) ended the dropped grids' duties on
    its own day, and staffing counted every duty in force today as a grid held elsewhere, so
    the people it freed were invisible: 0 workers proposed, 0% staffed for the day. A duty on a
    retired grid is no load; one ending today on another current grid makes the new duty start
    tomorrow, so nobody holds two current grids on one day. Short grids are named by code."""
    from geo.duties import Target, assign_duty

    today = city_today()
    tomorrow = today + dt.timedelta(days=1)
    commit_plan(demo, create_plan(demo, "110108015001", 300, 500))  # the community next door
    commit(demo, propose(demo, "grids", AREA))
    with demo.begin() as conn:  # a week old, so a commit ends them rather than deleting them
        conn.execute(text("UPDATE assignments SET valid_from = :d"), {"d": today - dt.timedelta(7)})
    # a new version of the grid layer, other grids than the demo's 300–500 (an identical plan
    # is refused, and grids keeping their buildings keep their duties: 227f740)
    commit_plan(demo, create_plan(demo, AREA, 200, 400))
    # the state such a commit left: the old grids' duties end today, the new grids have none
    with demo.begin() as conn:
        conn.execute(text("DELETE FROM assignments WHERE valid_from = :d"), {"d": today})
        # duties that continued on a grid keeping its code and buildings (227f740) back on
        # the old version's grid, as that commit left them
        conn.execute(
            text(
                "UPDATE assignments a SET grid_id = o.id FROM grids g, grids o "
                "WHERE g.id = a.grid_id AND g.retired_at IS NULL AND o.code = g.code "
                "AND o.community_id = g.community_id AND o.version = g.version - 1 "
                "AND a.valid_from < :d"
            ),
            {"d": today},
        )
        conn.execute(
            text(
                "UPDATE assignments a SET valid_to = :d FROM grids g WHERE g.id = a.grid_id "
                "AND g.retired_at IS NOT NULL"
            ),
            {"d": today},
        )
        other = conn.execute(
            text(
                "SELECT g.code FROM grids g JOIN areas c ON c.id = g.community_id WHERE c.code "
                "= '110108015001' AND g.level = 1 AND g.retired_at IS NULL ORDER BY g.code"
            )
        ).scalar()
    duties = _grid_duties_today(demo, today)
    freed = {r.person_id for r in duties if r[5]}
    assert freed and coverage_rates(demo, AREA)["grid_staffing_rate"] == 0.0
    # one of them also held a grid next door by hand until today (gridward assign end)
    late = min(r.person_id for r in duties if r[5] and r.role == "grid_worker")
    assign_duty(demo, late, Target("grid", other), "grid_worker", today - dt.timedelta(3), today)

    for rebalance in (True, False):
        p = propose(demo, "grids", AREA, rebalance=rebalance)
        assert p["summary"]["workers"] > 0 and p["summary"]["leaders"] > 0
        given = {int(x["person_id"]) for x in p["pairs"]}
        assert len(given & freed) >= len(freed) - 1, "the people the commit freed are staffed"
        starts = {int(x["person_id"]): x["valid_from"] for x in p["pairs"]}
        assert {v for k, v in starts.items() if k != late} == {None}
        assert starts.get(late, tomorrow.isoformat()) == tomorrow.isoformat()
        assert all(isinstance(u, str) and len(u) == 15 for u in p["uncovered"])
    assert late in given and p["uncovered"]  # both cases above are met
    done = commit(demo, p)
    assert done["started"] == len(p["pairs"]) and done["starting_tomorrow"] == 1
    assert coverage_rates(demo, AREA)["grid_staffing_rate"] > 0
    for day in (today, tomorrow):  # nobody holds two current grids on one day
        held = pd.Series([r.person_id for r in _grid_duties_today(demo, day) if not r[5]])
        assert held.value_counts().max() == 1, day


def _overlaps(db, first: dt.date, last: dt.date) -> list[str]:
    """What ``assign set`` refuses, on any day from ``first`` to ``last``: two leaders on one
    grid, one person in two roles on one grid, or holding two current grids."""
    bad = []
    for k in range((last - first).days + 1):
        day = first + dt.timedelta(days=k)
        rows = [r for r in _grid_duties_today(db, day) if not r[5]]
        duties = pd.DataFrame([r[:3] for r in rows], columns=["person", "grid", "role"])
        leaders = duties[duties["role"] == "grid_leader"]["grid"].value_counts()
        bad += [f"{day}: two leaders on {g}" for g in leaders[leaders > 1].index]
        roles = duties.groupby(["person", "grid"]).size()
        bad += [f"{day}: {p} in two roles on {g}" for p, g in roles[roles > 1].index]
        grids = duties.groupby("person")["grid"].nunique()
        bad += [f"{day}: {p} on {n} grids" for p, n in grids[grids > 1].items()]
    return bad


def test_a_planned_leader_is_neither_doubled_nor_given_a_second_grid(demo):
    """Tester Y, NEW-3: a leader planned by hand from a later day was invisible to staffing:
    the proposal made someone else leader of that grid open-ended and gave the planned leader
    another grid, so from the planned day the grid had two leaders and the person led two.
    Now the planned leader counts as taken, and the grid's proposed leader stands in until the
    day before (valid_to); the commit never writes what ``assign set`` refuses."""
    from geo.duties import Target, assign_duty

    today = city_today()
    soon = today + dt.timedelta(days=5)
    first = propose(demo, "grids", AREA)
    lead = [p for p in first["pairs"] if p["role"] == "grid_leader"]
    assert len(lead) >= 2
    g, other = lead[0]["item_id"], lead[1]["person_id"]
    with demo.connect() as conn:
        code = conn.execute(text("SELECT code FROM grids WHERE id = :g"), {"g": g}).scalar_one()
    # the leader the solver gives another grid is planned to lead this one from ``soon``
    assign_duty(demo, int(other), Target("grid", code), "grid_leader", soon)
    for rebalance in (False, True):
        p = propose(demo, "grids", AREA, rebalance=rebalance)
        assert int(other) not in {int(x["person_id"]) for x in p["pairs"]}
        [stand_in] = [x for x in p["pairs"] if x["item_id"] == g and x["role"] == "grid_leader"]
        assert stand_in["valid_to"] == (soon - dt.timedelta(days=1)).isoformat()
        assert p["summary"]["until_planned"] >= 1
    commit(demo, propose(demo, "grids", AREA))
    assert _overlaps(demo, today, soon + dt.timedelta(days=2)) == []
    commit(demo, propose(demo, "grids", AREA, rebalance=True))
    assert _overlaps(demo, today, soon + dt.timedelta(days=2)) == []


def test_a_commit_refuses_a_second_leader_as_assign_set_does(demo):
    """The commit checks each duty it starts with the rules of ``assign set``
    (geo.duties.refuse_grid_clash): a proposal naming two leaders of one grid is refused
    whole, Chinese first, and nothing is written."""
    p = propose(demo, "grids", AREA)
    lead = [x for x in p["pairs"] if x["role"] == "grid_leader"]
    second = {**lead[1], "item_id": lead[0]["item_id"]}
    before = fingerprint(demo)
    with pytest.raises(ConflictError, match=r"^网格 .*已有网格长"):
        commit(demo, {**p, "pairs": [*p["pairs"], second]})
    assert fingerprint(demo) == before


def test_duties_ending_today_leave_a_gap_the_proposal_fills_from_tomorrow(demo):
    """Tester Y, NEW-4: workers of a grid ended with --last-day today still counted as its
    staff: both proposals said 100 % and started nobody, and the grid was short from
    tomorrow. Today's coverage is still theirs; the proposal sees tomorrow's gap and fills it
    with duties starting tomorrow, never putting back the people a planner just ended."""
    from geo.duties import Target, end_duty

    today = city_today()
    tomorrow = today + dt.timedelta(days=1)
    commit(demo, propose(demo, "grids", AREA))
    with demo.begin() as conn:  # a week old: ending them today keeps them until tonight
        conn.execute(text("UPDATE assignments SET valid_from = :d"), {"d": today - dt.timedelta(7)})
        full = conn.execute(
            text(
                "SELECT g.id, g.code, ST_X(ST_PointOnSurface(g.geom)) AS x, "
                "ST_Y(ST_PointOnSurface(g.geom)) AS y FROM grids g JOIN assignments a ON "
                "a.grid_id = g.id AND a.role = 'grid_worker' WHERE g.retired_at IS NULL "
                "GROUP BY g.id HAVING count(*) >= 3 AND count(*) = ceil(g.households / 100.0) "
                "ORDER BY g.code LIMIT 1"
            )
        ).one()
        workers = (
            conn.execute(
                text(
                    "SELECT p.external_id FROM assignments a JOIN people p ON p.id = a.person_id "
                    "WHERE a.grid_id = :g AND a.role = 'grid_worker' ORDER BY p.external_id"
                ),
                {"g": full.id},
            )
            .scalars()
            .all()
        )
        for k in range(2):  # two new workers living in that grid
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles, home) VALUES (:x, :n, "
                    "ARRAY['grid_worker'], ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
                ),
                {"x": f"NEW{k}", "n": f"新人{k}", "lon": full.x, "lat": full.y},
            )
    rate = coverage_rates(demo, AREA)["grid_staffing_rate"]
    leaving = workers[:2]
    for who in leaving:
        end_duty(demo, who, Target("grid", full.code), "grid_worker", today)
    assert coverage_rates(demo, AREA)["grid_staffing_rate"] == rate  # true of today
    with demo.connect() as conn:
        gone = set(
            conn.execute(
                text("SELECT id FROM people WHERE external_id = ANY(:x)"), {"x": leaving}
            ).scalars()
        )
    for rebalance in (False, True):
        p = propose(demo, "grids", AREA, rebalance=rebalance)
        here = [x for x in p["pairs"] if x["item_id"] == full.id and x["role"] == "grid_worker"]
        assert not gone & {int(x["person_id"]) for x in here}, "the ended ones are not put back"
        new = [x for x in here if x["valid_from"] is not None]
        assert len(new) >= 2 and {x["valid_from"] for x in new} == {tomorrow.isoformat()}
        assert p["summary"]["starting_tomorrow"] >= 2 and p["summary"]["ending_today"] >= 2
    done = commit(demo, propose(demo, "grids", AREA))
    assert done["starting_tomorrow"] >= 2
    staff = {day: [r for r in _grid_duties_today(demo, day) if r.grid_id == full.id]
             for day in (today, tomorrow)}  # fmt: skip
    assert sum(r.role == "grid_worker" for r in staff[tomorrow]) == len(workers)
    assert {r.person_id for r in staff[today]} >= gone  # they serve until tonight
    assert not gone & {r.person_id for r in staff[tomorrow]}
    assert _overlaps(demo, today, tomorrow) == []


def test_the_grid_a_planned_leader_leaves_is_named_short_from_that_day(demo):
    """Re-test: a leader moved by hand (their duty on one grid ends the day before they lead
    another) left the grid they leave short from that day, while the stand-in on the other
    grid went home: nobody was told. The proposal lists that grid in ``short_from``; a
    rebalance, which takes the moved leader off it now, gives it a leader who stays."""
    from geo.duties import Target, assign_duty

    today = city_today()
    soon = today + dt.timedelta(days=5)
    lead = [p for p in propose(demo, "grids", AREA)["pairs"] if p["role"] == "grid_leader"]
    (a, who), b = (lead[0]["item_id"], int(lead[0]["person_id"])), lead[1]["item_id"]
    with demo.connect() as conn:
        code = dict(conn.execute(text("SELECT id, code FROM grids")).all())
    last = soon - dt.timedelta(days=1)
    assign_duty(demo, who, Target("grid", code[a]), "grid_leader", today - dt.timedelta(7), last)
    assign_duty(demo, who, Target("grid", code[b]), "grid_leader", soon)
    for rebalance in (False, True):
        p = propose(demo, "grids", AREA, rebalance=rebalance)
        [stand_in] = [x for x in p["pairs"] if x["item_id"] == b and x["role"] == "grid_leader"]
        assert stand_in["valid_to"] == last.isoformat()
        if rebalance:
            [led] = [x for x in p["pairs"] if x["item_id"] == a and x["role"] == "grid_leader"]
            assert led["person_id"] != who and led["valid_to"] is None
            continue
        short = {"item_id": code[a], "role": "grid_leader", "from": soon.isoformat(),
                 "holders": 0, "needed": 1}  # fmt: skip
        assert short in p["short_from"] and p["summary"]["short_later"] >= 1
