"""Undoing the OLD duty of a plan commit's carry (geo.duty_undo over geo.plan_duties), on a real
PostGIS with the demo OSM cut.

Old code: `assign undo` of a duty a plan commit had ended on the retired grid and carried to
its successor removed it and said nothing else: the answer (CLI and API) listed what the
person held on the RETIRED grid only (nothing), while they still held the carried copy on the
new grid. The answer now names that copy (its id, grid and version) and the `assign end` that
ends it, in the note (Chinese first) and as ``carried_copy``; each test here fails on the old
code.
"""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.settings import city_today
from tests.test_import import run_cli
from tests.test_plan_commit_duties_db import (
    _commit_merged,
    _committed,
    _grids,
    _plan,
    _staff_every_grid,
)
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _duty(engine, duty_id: int):  # -> Row | None
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.id, a.valid_from, a.valid_to, g.code, g.version FROM assignments a "
                "JOIN grids g ON g.id = a.grid_id WHERE a.id = :i"
            ),
            {"i": duty_id},
        ).first()


def _merged(client: TestClient, planner: dict, demo) -> dict:
    """Version 1 staffed from 10 days ago, then its first two grids merged (version 2)."""
    first = _committed(client, planner)
    _staff_every_grid(demo, city_today() - dt.timedelta(days=10))
    old = _grids(client, planner, first)
    a, b = sorted(old)[:2]
    return _commit_merged(client, planner, old, a, b)


def test_undoing_the_old_duty_names_the_carried_copy_and_how_to_end_it(demo, auth_headers, pg_url):
    """API and CLI: the old duty is removed (it gives nothing back, takes nothing from the
    copy), and the answer says which copy the person still holds, on which grid version,
    and the `assign end` that ends it; that command, run as given, ends it."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        out = _merged(client, planner, demo)
        workers = [d for d in out["duties_carried"] if d["role"] == "grid_worker"]
        c, d = workers[0], workers[1]
        r = client.delete(f"/assignments/{c['duty']}", headers=planner)
    assert r.status_code == 200, r.text
    got = r.json()
    end = (
        f"assign end --person {c['person']} --role grid_worker --grid {c['to_grid']} "
        f"--last-day {today}"
    )
    note = got["note"]
    assert note.startswith(
        f"职责 {c['duty']} 已由方案 {out['plan_id']} 于 {today} 的提交（审计记录 "
    ), note
    assert f"顺延到网格 {c['to_grid']}（第 2 版）为职责 {c['new_duty']}，" in note, note
    assert f"仍担任该职责（{today} 起（长期）），" in note and f"请结束它（{end}）" in note, note
    assert f"as duty {c['new_duty']} by the commit of plan {out['plan_id']} on {today}" in note
    assert f"({c['person']}) still holds it ({today} – (open-ended))" in note, note
    assert f"assign undo --duty {c['new_duty']}" in note, note
    copy = got["carried_copy"]
    assert copy["id"] == c["new_duty"] and copy["end_command"] == end, copy
    assert copy["grid"]["code"] == c["to_grid"] and copy["grid"]["version"] == 2, copy
    assert copy["carried_by"]["plan"] == out["plan_id"], copy
    assert _duty(demo, c["duty"]) is None and _duty(demo, c["new_duty"]).valid_to is None

    # the CLI says it in its line, and the command it gives ends the copy today
    res = run_cli(["assign", "undo", "--duty", str(d["duty"])], pg_url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("职责已撤销 duty undone: "), res.stdout
    assert f"; 说明 note: 职责 {d['duty']} 已由方案 {out['plan_id']} " in res.stdout, res.stdout
    given = res.stdout.split("请结束它（", 1)[1].split("）", 1)[0]
    assert given.startswith(f"assign end --person {d['person']} "), given
    res = run_cli(given.split(), pg_url)
    assert res.returncode == 0, res.stderr
    assert _duty(demo, d["new_duty"]).valid_to == today


def test_the_copy_is_followed_through_a_later_commit_and_an_ended_one_is_said(demo, auth_headers):
    """Carried again by a later commit (version 3), the copy named is the one held now, on
    version 3; a copy that has ended is said to have ended, with no `assign end` to run."""
    planner = auth_headers("planner", ("110108015",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        out = _merged(client, planner, demo)
        third = _plan(client, planner, 150, 300, seed=3)
        r = client.post(f"/plans/{third}/commit", headers=planner)
        assert r.status_code == 200, r.text
        again = {x["duty"]: x for x in r.json()["duties_carried"]}
        workers = [x for x in out["duties_carried"] if x["new_duty"] in again]
        c, d = workers[0], workers[1]
        now = again[c["new_duty"]]
        r = client.delete(f"/assignments/{c['duty']}", headers=planner)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["carried_copy"]["id"] == now["new_duty"], got
        assert got["carried_copy"]["grid"] == {
            "id": got["carried_copy"]["grid"]["id"],
            "code": now["to_grid"],
            "version": 3,
        }, got
        assert f"网格 {now['to_grid']}（第 3 版）为职责 {now['new_duty']}" in got["note"], got
        # d's copy on version 3 ended yesterday (as a person leaving would): said, no command
        last = today - dt.timedelta(days=1)
        with demo.begin() as conn:
            conn.execute(
                text("UPDATE assignments SET valid_from = :f, valid_to = :l WHERE id = :i"),
                {"f": last, "l": last, "i": again[d["new_duty"]]["new_duty"]},
            )
        r = client.delete(f"/assignments/{d['duty']}", headers=planner)
        assert r.status_code == 200, r.text
        got = r.json()
    assert got["carried_copy"]["end_command"] is None, got
    assert f"，该职责已于 {last} 结束（" in got["note"], got["note"]
    assert "assign end" not in got["note"], got["note"]
