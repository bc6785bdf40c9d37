"""A plan commit carries grid duties by place, not by code (tester W, F1), names the grids left
short of staff, and refuses a grid in pieces unless told (F6). Real PostGIS, demo OSM cut."""

from __future__ import annotations

import datetime as dt
import math
import time

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.settings import city_today
from tests.dbcheck import fingerprint
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _plan(client: TestClient, headers: dict, lo: int, hi: int, seed: int = 0) -> int:
    body = {"community": COMMUNITY, "min_households": lo, "max_households": hi, "seed": seed}
    r = client.post("/plans", json=body, headers=headers)
    assert r.status_code == 202, r.text
    for _ in range(600):
        job = client.get(r.json()["job_url"], headers=headers).json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            return job["result"]["plan_id"]
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def _committed(client: TestClient, headers: dict) -> int:
    """A 300–500 plan of the community, committed (its version 1); its id."""
    plan_id = _plan(client, headers, 300, 500)
    assert client.post(f"/plans/{plan_id}/commit", headers=headers).status_code == 200
    return plan_id


def _grids(client: TestClient, headers: dict, plan_id: int) -> dict[str, list[int]]:
    feats = client.get(f"/plans/{plan_id}", headers=headers).json()["features"]["features"]
    return {f["properties"]["code"]: f["properties"]["building_ids"] for f in feats}


def _staff_every_grid(engine, start: dt.date) -> dict[int, int]:
    """A leader and ceil(households / 100) workers on every current level-1 grid of the
    community from ``start``; returns person id → grid id."""
    held: dict[int, int] = {}
    with engine.begin() as conn:
        grids = conn.execute(
            text(
                "SELECT g.id, g.code, g.households FROM grids g JOIN areas a ON "
                "a.id = g.community_id WHERE a.code = :c AND g.level = 1 AND g.retired_at IS NULL"
            ),
            {"c": COMMUNITY},
        ).all()
        for g in grids:
            roles = ["grid_leader"] + ["grid_worker"] * math.ceil(g.households / 100)
            for k, role in enumerate(roles):
                pid = conn.execute(
                    text(
                        "INSERT INTO people (external_id, name, roles) VALUES (:x, :n, "
                        "ARRAY[:r]) RETURNING id"
                    ),
                    {"x": f"{g.code}-{k}", "n": f"人{g.code[-3:]}-{k}", "r": role},
                ).scalar_one()
                conn.execute(
                    text(
                        "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                        "VALUES (:p, :r, :g, :d)"
                    ),
                    {"p": pid, "r": role, "g": g.id, "d": start},
                )
                held[pid] = g.id
    return held


def _commit_merged(client: TestClient, headers: dict, old: dict, a: str, b: str) -> dict:
    """Draft the version-1 grids ``old`` with grid ``b`` merged into ``a``, commit it; the
    commit's answer."""
    grids = [{"code": c, "building_ids": old[c]} for c in sorted(old) if c not in (a, b)]
    grids.append({"code": a, "building_ids": old[a] + old[b]})
    body = {"community": COMMUNITY, "min_households": 300, "max_households": 1000,
            "base_version": 1, "grids": grids}  # fmt: skip
    r = client.post("/plans/draft", json=body, headers=headers)
    assert r.status_code == 201, r.text
    r = client.post(f"/plans/{r.json()['plan_id']}/commit", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _duties(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.id, a.person_id, a.role, a.grid_id, a.valid_from, a.valid_to, g.code, "
                "g.retired_at IS NULL AS current, g.properties -> 'building_ids' AS bids "
                "FROM assignments a JOIN grids g ON g.id = a.grid_id ORDER BY a.id"
            )
        ).all()


def test_a_repartition_carries_each_duty_to_the_grid_holding_its_old_households(demo, auth_headers):
    """150–300 after 300–500: codes are renumbered by position, so "the grid of the same
    code" is another place; every duty goes where most of its old grid's households went, the
    old row ends yesterday on its old grid (history), and the answer names the grids left
    without a leader or short of workers, by code."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        _committed(client, planner)
        held = _staff_every_grid(demo, today - dt.timedelta(days=30))
        old_bids = {r.grid_id: set(r.bids) for r in _duties(demo)}  # old grid id → its buildings
        second = _plan(client, planner, 150, 300, seed=3)
        new = _grids(client, planner, second)
        r = client.post(f"/plans/{second}/commit", headers=planner)
        assert r.status_code == 200, r.text
        out = r.json()
    with demo.connect() as conn:
        hh = dict(conn.execute(text("SELECT id, households FROM buildings")).all())

    def successor(old_grid: int) -> str:
        return max(new, key=lambda c: sum(hh[b] for b in set(new[c]) & old_bids[old_grid]))

    rows = _duties(demo)
    old_rows = [r for r in rows if not r.current]
    new_rows = {r.person_id: r for r in rows if r.current}
    assert len(old_rows) == len(held)  # every old duty kept on its old grid, ended
    for r in old_rows:
        assert r.grid_id == held[r.person_id]
        assert r.valid_to == today - dt.timedelta(days=1)
    leaders_carried = {c for c in (successor(g) for g in set(held.values()))}
    for pid, old_grid in held.items():
        n = new_rows.get(pid)
        if n is None:  # only a second leader for one new grid is ended
            assert any(d["person_id"] == pid and d["role"] == "grid_leader"
                       for d in out["duties_ended"])  # fmt: skip
            continue
        assert n.code == successor(old_grid), (pid, n.code)
        assert (n.valid_from, n.valid_to) == (today, None)
    assert out["duties"]["carried"] == len(new_rows)
    assert out["duties"]["carried"] + out["duties"]["ended"] == len(held)
    assert out["duties"]["ended"] == len(set(held.values())) - len(leaders_carried)
    assert out["successors"] == {
        c: successor(g) for c, g in {r.code: r.grid_id for r in old_rows}.items()
    }
    # what is left to staff, by code: no leader, or fewer workers than ceil(hh / 100)
    with demo.connect() as conn:
        now = conn.execute(
            text(
                "SELECT g.code, g.households, count(*) FILTER (WHERE a.role = 'grid_leader') "
                "AS l, count(a.id) FILTER (WHERE a.role = 'grid_worker') AS w FROM grids g "
                "LEFT JOIN assignments a ON a.grid_id = g.id AND a.valid_to IS NULL "
                "WHERE g.retired_at IS NULL AND g.level = 1 GROUP BY g.id ORDER BY g.code"
            )
        ).all()
    short = [g.code for g in now if g.l == 0 or g.w < math.ceil(g.households / 100)]
    assert short, "a finer partition leaves some grids to staff"
    assert [g["grid"] for g in out["staffing_gaps"]] == short
    assert all(len(g["grid"]) == 15 for g in out["staffing_gaps"])


def test_the_same_grids_without_codes_in_another_order_keep_every_duty(demo, auth_headers):
    """An editor draft of the very same grids with no codes (new codes 00N+1…) used to end
    every duty of the community; the places are the same, so every duty carries over."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        held = _staff_every_grid(demo, today - dt.timedelta(days=10))
        old = _grids(client, planner, first)
        body = {
            "community": COMMUNITY,
            "min_households": 300,
            "max_households": 500,
            "base_version": 1,
            "grids": [{"building_ids": ids} for _, ids in sorted(old.items(), reverse=True)],
        }
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        new_codes = [g["code"] for g in r.json()["grids"]]
        assert not set(new_codes) & set(old)  # fresh codes, as the finding had it
        r = client.post(f"/plans/{r.json()['plan_id']}/commit", headers=planner)
        assert r.status_code == 200, r.text
        out = r.json()
    assert out["duties"] == {"continued": 0, "carried": len(held), "ended": 0, "removed": 0}
    assert out["staffing_gaps"] == []
    rename = dict(zip(sorted(old, reverse=True), new_codes, strict=True))
    assert out["successors"] == rename
    current = {r.person_id: r.code for r in _duties(demo) if r.current}
    codes = {r.grid_id: r.code for r in _duties(demo) if not r.current}
    assert current == {p: rename[codes[g]] for p, g in held.items()}


def test_merged_grids_keep_one_leader_and_planned_duties_move(demo, auth_headers):
    """Two grids merged: one leader (1+N) — the one whose grid gave the merged grid most of
    its households — the other leader's duty ends yesterday and is listed; workers of both
    carry. A duty planned for a later day moves with its place, same row, same days."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        held = _staff_every_grid(demo, today - dt.timedelta(days=10))
        old = _grids(client, planner, first)
        with demo.begin() as conn:
            hh = dict(conn.execute(text("SELECT id, households FROM buildings")).all())
            ids = dict(
                conn.execute(
                    text("SELECT code, id FROM grids WHERE retired_at IS NULL AND level = 1")
                ).all()
            )
            # a planned worker on the grid that is merged away
            a, b = sorted(old)[:2]
            pid = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES ('P1', '计划', "
                    "ARRAY['grid_worker']) RETURNING id"
                )
            ).scalar_one()
            planned = conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, grid_id, valid_from, valid_to) "
                    "VALUES (:p, 'grid_worker', :g, :d, :e) RETURNING id"
                ),
                {"p": pid, "g": ids[b], "d": today + dt.timedelta(days=5),
                 "e": today + dt.timedelta(days=40)},
            ).scalar_one()  # fmt: skip
        big, small = sorted((a, b), key=lambda c: -sum(hh[x] for x in old[c]))
        out = _commit_merged(client, planner, old, a, b)
    assert out["successors"][b] == a
    [ended] = out["duties_ended"]
    assert (ended["role"], ended["grid"]) == ("grid_leader", small)
    assert ended["last_day"] == (today - dt.timedelta(days=1)).isoformat()
    rows = {r.id: r for r in _duties(demo)}
    moved = rows[planned]
    assert (moved.code, moved.current) == (a, True)
    assert (moved.valid_from, moved.valid_to) == (
        today + dt.timedelta(days=5),
        today + dt.timedelta(days=40),
    )
    now = [r for r in rows.values() if r.current and r.code == a and r.valid_from == today]
    assert sum(r.role == "grid_leader" for r in now) == 1
    assert (
        sum(r.role == "grid_worker" for r in now)
        == sum(1 for p, g in held.items() if g in (ids[a], ids[b])) - 2
    )  # every worker of both grids; one leader of the two
    # every duty but the second leader's carried, and the planned one moved
    # the untouched grids' duties continue as they are (T49 #3), the merged ones' are carried
    d = out["duties"]
    assert (d["continued"] + d["carried"], d["ended"], d["removed"]) == (len(held), 1, 0)


def test_a_disconnected_grid_is_refused_unless_allowed(demo, auth_headers, pg_url):
    """F6: an edited draft with a grid in two pieces is a 409 naming it (Chinese first),
    nothing changes; with allow_disconnected it commits and the answer names the grid. An
    unknown body field is a 422. The CLI takes --allow-disconnected."""
    from tests.test_import import run_cli

    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        old = _grids(client, planner, first)
        codes = sorted(old)
        src = max(codes, key=lambda c: len(old[c]))
        # a building of the grid with most buildings goes to the grid farthest from it
        with demo.connect() as conn:
            far = conn.execute(
                text(
                    "SELECT g2.code FROM grids g1, grids g2 WHERE g1.code = :c AND g2.code <> :c "
                    "AND g1.retired_at IS NULL AND g2.retired_at IS NULL AND g2.level = 1 "
                    "ORDER BY ST_Distance(g1.geom, g2.geom) DESC LIMIT 1"
                ),
                {"c": src},
            ).scalar_one()
        moved = old[src][:1]
        grids = [
            {"code": c, "building_ids": [b for b in old[c] if b not in moved]
             + (moved if c == far else [])}
            for c in codes
        ]  # fmt: skip
        body = {"community": COMMUNITY, "min_households": 0, "max_households": 5000,
                "base_version": 1, "grids": grids}  # fmt: skip
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        draft = r.json()["plan_id"]
        flagged = [g["code"] for g in r.json()["grids"] if "disconnected" in g["flags"]]
        assert far in flagged
        r = client.post(f"/plans/{draft}/commit", headers=planner)
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err.startswith(f"方案 {draft} 有网格不连通") and far in err
        assert "allow_disconnected" in err
        r = client.post(f"/plans/{draft}/commit", json={"allow_disconect": True}, headers=planner)
        assert r.status_code == 422, r.text
        with demo.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM grid_plans WHERE id = :i"), {"i": draft}
            ).scalar_one()
        assert status == "draft"
    res = run_cli(["plans", "commit", str(draft)], pg_url)
    assert res.returncode == 2 and res.stderr.count("error:") == 1 and far in res.stderr
    res = run_cli(["plans", "commit", str(draft), "--allow-disconnected"], pg_url)
    assert res.returncode == 0, res.stderr
    assert f"grids in several pieces: {', '.join(sorted(flagged))}" in res.stdout


def test_the_cli_commit_names_the_grids_to_staff(demo, pg_url, auth_headers):
    """`gridward plans commit` prints each code now naming another place and the grids left
    short of staff, by code, with the command to staff them."""
    from tests.test_import import run_cli

    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        _committed(client, planner)
        _staff_every_grid(demo, city_today() - dt.timedelta(days=3))
        second = _plan(client, planner, 150, 300, seed=3)
    res = run_cli(["plans", "commit", str(second)], pg_url)
    assert res.returncode == 0, res.stderr
    assert "carried to the grid now holding" in res.stdout
    assert f"gridward assign grids --area {COMMUNITY}" in res.stdout
    with demo.connect() as conn:
        unled = (
            conn.execute(
                text(
                    "SELECT g.code FROM grids g WHERE g.retired_at IS NULL AND g.level = 1 AND NOT "
                    "EXISTS (SELECT 1 FROM assignments a WHERE a.grid_id = g.id AND "
                    "a.role = 'grid_leader') ORDER BY g.code"
                )
            )
            .scalars()
            .all()
        )
    assert unled
    for code in unled:
        assert any(code in line and "no leader" in line for line in res.stdout.splitlines())


def test_a_merge_names_a_duty_started_today_removed_not_ended_nor_planned(
    demo, auth_headers, capsys
):
    """Tester Y, NEW-6: merging two grids staffed from today drops the smaller one's leader;
    that duty never took effect, so it is deleted: the answer marks it not planned and the
    CLI says removed, not "ended" nor "planned"."""
    from api.cli_plans import _echo_commit

    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        _staff_every_grid(demo, today)
        old = _grids(client, planner, first)
        a, b = sorted(old)[:2]
        out = _commit_merged(client, planner, old, a, b)
    assert out["duties"]["ended"] == 0 and out["duties"]["removed"] == 1
    [gone] = out["duties_removed"]
    assert (gone["role"], gone["valid_from"], gone["planned"]) == (
        "grid_leader",
        today.isoformat(),
        False,
    )
    _echo_commit(out)
    printed = capsys.readouterr().out
    [line] = [s for s in printed.splitlines() if gone["person"] in s]
    assert "removed" in line and "ended" not in line and "planned" not in line
    assert "planned ones removed" not in printed


def test_a_merge_never_makes_one_person_leader_and_worker_of_a_grid(demo, auth_headers):
    """A review of the carrying rule: the leader of one grid who also worked on the grid
    merged into it was carried twice, leader and worker of one grid, which the hand path
    refuses (one role per grid). Leaders go first; their worker duty there ends."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        _staff_every_grid(demo, today - dt.timedelta(days=10))
        old = _grids(client, planner, first)
        a, b = sorted(old)[:2]
        with demo.begin() as conn:
            ids = dict(
                conn.execute(
                    text("SELECT code, id FROM grids WHERE retired_at IS NULL AND level = 1")
                ).all()
            )
            leader = conn.execute(
                text(
                    "SELECT person_id FROM assignments WHERE grid_id = :g AND role = 'grid_leader'"
                ),
                {"g": ids[a]},
            ).scalar_one()
            conn.execute(  # a's leader also works on b
                text(
                    "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                    "VALUES (:p, 'grid_worker', :g, :d)"
                ),
                {"p": leader, "g": ids[b], "d": today - dt.timedelta(days=10)},
            )
        _commit_merged(client, planner, old, a, b)
    now = [
        d
        for d in _duties(demo)
        if d.current and d.person_id == leader and (d.valid_to is None or d.valid_to >= today)
    ]
    assert [(d.role, d.code) for d in now] == [("grid_leader", a)], now


def test_undoing_a_carried_duty_is_refused_and_leave_others_says_what_is_left(demo, auth_headers):
    """Item 3: `assign undo` of a duty a plan commit carried deleted it and left the person
    with no duty, silently (the duty it continued stays ended on a retired grid). It is
    refused (409, nothing changed) naming the plan and the ways to end or move it; with
    leave_others it is removed and the answer says the old duty stays ended and that the
    person now holds no duty."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        first = _committed(client, planner)
        _staff_every_grid(demo, today - dt.timedelta(days=10))
        old = _grids(client, planner, first)
        a, b = sorted(old)[:2]
        out = _commit_merged(client, planner, old, a, b)
        c = next(d for d in out["duties_carried"] if d["role"] == "grid_worker")
        new, was = c["new_duty"], c["duty"]
        before = fingerprint(demo)
        r = client.delete(f"/assignments/{new}", headers=planner)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error.startswith(f"职责 {new} 是方案 {out['plan_id']} 提交时从旧网格"), error
        assert f"continues their duty {was} on grid {c['grid']} of version 1" in error, error
        assert f"assign end --person {c['person']} --role grid_worker" in error, error
        assert "leave_others" in error and fingerprint(demo) == before
        r = client.delete(f"/assignments/{new}?leave_others=true", headers=planner)
        assert r.status_code == 200, r.text
        got = r.json()
        # the duty it continued undone first (the whole run was a mistake): nothing to give
        # back, so the carried one is undone alone, and the note says so
        d = next(x for x in out["duties_carried"] if x["role"] == "grid_worker" and x != c)
        assert client.delete(f"/assignments/{d['duty']}", headers=planner).status_code == 200
        r = client.delete(f"/assignments/{d['new_duty']}", headers=planner)
        assert r.status_code == 200, r.text
        assert "which was undone since: nothing to give back" in r.json()["note"], r.text
    assert got["undone"]["id"] == new and got["restored"] == []
    assert got["left_as_is"] == [{"action": "ended", "id": was}]
    assert f"duty {was} stays ended" in got["note"], got["note"]
    assert got["note"].endswith(f"({c['person']}) holds no duty from {today} on"), got["note"]
    rows = {r.id: r for r in _duties(demo)}
    assert new not in rows and rows[was].valid_to == today - dt.timedelta(days=1)
