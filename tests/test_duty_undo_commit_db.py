"""Undoing a duty that a staffing commit started (geo.duty_undo over geo.staffing.commit), on a
real PostGIS: what the commit ended, removed or brought forward on that alley is given back,
under the same ids, only when nothing changed since; ``leave_others`` removes the duty alone;
a commit recorded before commits said what they ended is undone alone, and the reply says so.

Old code: a commit's audit row held only counts, so undoing its steward restored nothing (the
previous steward stayed ended) and said nothing about it; every test here fails on it.

Later: when one commit started several duties of a role on one target (grid workers 230, 231
for 117, 118), undoing the first gave back everything it ended (5 workers), and undoing the
second was refused with advice that did not apply; a duty a commit brought forward was
deleted, losing the planner's plan; a planned duty brought forward by a commit recorded with
counts only was undone without a note; the note gave the UTC day, and was given for a commit
that ended nothing; the "has left since" refusal advised putting duties back; the CLI called
a duty reinstated from today "planned". The tests of those (from
``test_duties_started_together_come_back_when_the_last_is_undone`` on) fail on the code before.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from geo import audit
from geo.duties import Target, assign_duty, end_duty
from geo.duty_undo import undo_duty
from geo.errors import ConflictError
from geo.settings import city_today, get_settings
from geo.staffing import commit, propose
from tests import test_duties_db as hand
from tests.dbcheck import fingerprint
from tests.test_import import run_cli

town = hand.town  # the demo city: S1 has held alley A for 60 days; S2, S3 stewards without duty
_DAY = dt.timedelta(days=1)


def _commit(town: dict, *pairs: tuple[int, str]) -> dict:
    """Commit a proposal for the subdistrict's alleys holding exactly ``pairs`` (alley,
    steward), as a planner's reviewed proposal would: every other steward duty in force ends."""
    db, ids = town["db"], town["ids"]
    hand._homes(db, town["community"], "S1", "S2", "S3")  # people the solver may consider
    proposal = propose(db, "alleys", hand.SUBDISTRICT)
    proposal["pairs"] = [
        {"item_id": a, "person_id": ids[p], "role": "alley_steward"} for a, p in pairs
    ]
    commit(db, proposal, actor="planner")
    return _entries(db, "assignments.commit")[-1]


def _entries(db, action: str) -> list[dict]:
    with db.connect() as conn:
        return [e for e in audit.entries(conn) if e["action"] == action]


def _id(db, alley: int, person: str) -> int:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.id FROM assignments a JOIN people p ON p.id = a.person_id "
                "WHERE a.street_id = :a AND p.external_id = :p ORDER BY a.id DESC LIMIT 1"
            ),
            {"a": alley, "p": person},
        ).scalar_one()


def test_undoing_a_committed_steward_gives_the_alley_back_to_the_one_it_ended(town):
    """A commit replaced steward S1 by S2 on alley A: undoing S2's duty gives S1 their duty
    back, open-ended under its old id, and every duty row is exactly as before the commit."""
    db, alley, ids = town["db"], town["alley"], town["ids"]
    today = city_today()
    rows = hand._rows(db)
    s1 = _id(db, alley, "S1")
    entry = _commit(town, (alley, "S2"))
    s2 = _id(db, alley, "S2")
    assert hand._duties(db, alley) == [("S1", town["since"], today - _DAY), ("S2", today, None)]

    out = undo_duty(db, s2, "wrong steward", actor="planner1")

    assert hand._rows(db) == rows
    d = entry["detail"]  # the commit's record of what it did
    assert (d["started"], d["ended"], d["kept"], d["day"]) == (1, 1, 0, str(today))
    assert d["ended_duties"] == [
        {"id": s1, "person_id": ids["S1"], "role": "alley_steward", "target": alley,
         "valid_from": str(town["since"]), "valid_to": None, "valid_to_after": str(today - _DAY)}
    ]  # fmt: skip
    assert d["inserted"] == d["started_ids"] == [s2] and d["brought_forward"] == []
    assert len(_entries(db, "assignments.commit")) == 1  # still one row per commit
    assert [(r["action"], r["id"], r["after"]["person"], r["after"]["valid_to"])
            for r in out["restored"]] == [("continues", s1, "S1", None)]  # fmt: skip
    assert out["left_as_is"] == [] and out["note"] is None and out["undone"]["id"] == s2
    (undo,) = _entries(db, "assignments.undo")
    u = undo["detail"]
    assert u["undoes"] == entry["id"] and u["restored"] == [{"action": "continues", "id": s1}]
    assert [(b["id"], b["valid_to"]) for b in u["before"]] == [(s1, str(today - _DAY))]
    assert [(a["id"], a["valid_to"]) for a in u["after"]] == [(s1, None)]


def test_a_same_day_duty_the_commit_deleted_is_reinstated_under_its_old_id(town):
    """S3 was added beside S1 from today; the commit ended S1 and deleted S3's duty (it never
    took effect): undoing S2 puts both back, S3's under its old id."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    s3 = assign_duty(db, "S3", Target("alley", alley), None, today)["duty"]["id"]
    rows = hand._rows(db)
    entry = _commit(town, (alley, "S2"))
    assert hand._duties(db, alley) == [("S1", town["since"], today - _DAY), ("S2", today, None)]

    out = undo_duty(db, _id(db, alley, "S2"))

    assert hand._rows(db) == rows
    removed = entry["detail"]["ended_duties"][1]
    assert (removed["id"], removed["removed"], removed["valid_from"]) == (s3, True, str(today))
    assert [(r["action"], r["id"]) for r in out["restored"]] == [
        ("continues", _id(db, alley, "S1")), ("reinstated", s3)]  # fmt: skip


def test_undoing_a_committed_steward_after_the_ended_duty_changed_is_refused(town):
    """S1's duty, which the commit ended, was ended earlier by hand since: giving it back is no
    longer exact, so the undo is refused naming it, with nothing changed; --leave-others
    removes S2's duty alone."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    s1 = _id(db, alley, "S1")
    _commit(town, (alley, "S2"))
    s2 = _id(db, alley, "S2")
    end_duty(db, "S1", Target("alley", alley), None, today - 10 * _DAY)
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        undo_duty(db, s2)
    msg = err.value.message
    assert f"王一 (S1)'s duty {s1}, which it ended, was changed since" in msg
    assert "nothing changed" in msg and "--leave-others" in msg
    assert fingerprint(db) == before

    out = undo_duty(db, s2, leave_others=True)

    assert out["restored"] == [] and out["left_as_is"] == [{"action": "ended", "id": s1}]
    assert hand._duties(db, alley) == [("S1", town["since"], today - 10 * _DAY)]


def test_a_duty_from_a_commit_recorded_with_counts_only_is_undone_alone_and_says_so(town):
    """A commit made before commits recorded what they ended (its audit row has only counts):
    its steward is removed alone, S1 stays ended, and the reply and the audit say why."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    entry = _commit(town, (alley, "S2"))
    with db.begin() as conn:  # the audit row as older versions wrote it
        conn.execute(
            text(
                "UPDATE audit_log SET detail = jsonb_build_object('kind', 'alleys', "
                "'started', 1, 'ended', 1, 'kept', 0) WHERE id = :i"
            ),
            {"i": entry["id"]},
        )

    out = undo_duty(db, _id(db, alley, "S2"))

    assert out["restored"] == [] and out["left_as_is"] == []
    assert hand._duties(db, alley) == [("S1", town["since"], today - _DAY)]
    note = out["note"]
    assert note.startswith("其他职责未恢复：") and "没有写明它结束了哪些职责" in note, note
    assert " nothing else was restored" in note and "does not say what it ended" in note
    assert f"commit of area {hand.SUBDISTRICT}" in note and f"entry {entry['id']}" in note
    (undo,) = _entries(db, "assignments.undo")
    assert undo["detail"]["note"] == note and undo["detail"]["undoes"] == entry["id"]


# --------------------------------------------------------------------------------------------
# several duties started on one target; brought-forward duties; old commits; messages
# --------------------------------------------------------------------------------------------


def _grid_commit(town: dict, *pairs: tuple[str, str]) -> tuple[int, dict]:
    """Commit a grid proposal for grid G holding exactly ``pairs`` (person, role); returns
    G's id and the commit's audit entry."""
    db, ids = town["db"], town["ids"]
    with db.connect() as conn:
        gid = conn.execute(
            text("SELECT id FROM grids WHERE code = :c"), {"c": town["grid"]}
        ).scalar_one()
    proposal = propose(db, "grids", hand.SUBDISTRICT)
    proposal["pairs"] = [{"item_id": gid, "person_id": ids[p], "role": r} for p, r in pairs]
    commit(db, proposal, actor="planner")
    return gid, _entries(db, "assignments.commit")[-1]


def _workers(town: dict) -> dt.date:
    """Grid G led by L1 with workers W1, W2 since ``since``; W3, W4 workers without duty."""
    db = town["db"]
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles, active) VALUES "
                "('W2', '郑员', ARRAY['grid_worker'], true), "
                "('W3', '冯员', ARRAY['grid_worker'], true), "
                "('W4', '陈员', ARRAY['grid_worker'], true)"
            )
        )
        town["ids"].update(conn.execute(text("SELECT external_id, id FROM people")).all())
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, grid_id, valid_from) SELECT p.id, "
                "CASE WHEN p.external_id = 'L1' THEN 'grid_leader' ELSE 'grid_worker' END, g.id, "
                ":d FROM people p, grids g WHERE g.code = :g AND p.external_id IN "
                "('L1', 'W1', 'W2') ORDER BY p.external_id"
            ),
            {"g": town["grid"], "d": town["since"]},
        )
    hand._homes(db, town["community"], "L1", "W1", "W2", "W3", "W4")
    return town["since"]


def _grid_duties(db, gid: int) -> list[tuple]:
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT a.id, p.external_id, a.valid_from, a.valid_to FROM assignments a "
                    "JOIN people p ON p.id = a.person_id WHERE a.grid_id = :g "
                    "AND a.role = 'grid_worker' ORDER BY a.id"
                ),
                {"g": gid},
            ).all()
        ]


@pytest.mark.parametrize("first", ["W3", "W4"])
def test_duties_started_together_come_back_when_the_last_is_undone(town, first):
    """A rebalance ended workers W1, W2 on grid G and started W3, W4. Undoing one of W3, W4
    removes it alone and says what comes back when the other is undone too; undoing the other
    then gives W1 and W2 their duties back: every duty is as before the commit, in either
    order. (Old code gave back W1 and W2 at the first undo, five workers for four, and refused
    the second as 'W1 was changed since'.)"""
    db = town["db"]
    since = _workers(town)
    today = city_today()
    rows = hand._rows(db)
    gid, entry = _grid_commit(
        town, ("L1", "grid_leader"), ("W3", "grid_worker"), ("W4", "grid_worker")
    )
    before = {p: i for i, p, _, _ in _grid_duties(db, gid)}
    w1, w2, w3, w4 = before["W1"], before["W2"], before["W3"], before["W4"]
    assert sorted(entry["detail"]["inserted"]) == [w3, w4]
    second = "W4" if first == "W3" else "W3"

    out = undo_duty(db, before[first], "wrong workers")

    assert out["restored"] == [] and out["left_as_is"] == [] and out["moved_back"] is None
    assert _grid_duties(db, gid) == [
        (w1, "W1", since, today - _DAY), (w2, "W2", since, today - _DAY),
        (before[second], second, today, None)]  # fmt: skip
    note = out["note"]
    assert note.startswith("其他职责暂未恢复：") and f"（审计记录 {entry['id']}）" in note, note
    assert " nothing else was restored yet" in note and f"entry {entry['id']}" in note
    assert f"also started duty {before[second]} (" in note and "专职网格员 grid worker" in note
    assert f"what it ended there (duties {w1}, {w2}) comes back when that one is undone" in note
    (undo,) = _entries(db, "assignments.undo")
    assert undo["detail"]["note"] == note and undo["detail"]["undoes"] == entry["id"]

    out = undo_duty(db, before[second], "wrong workers")

    assert hand._rows(db) == rows
    assert [(r["action"], r["id"]) for r in out["restored"]] == [
        ("continues", w1), ("continues", w2)]  # fmt: skip
    assert out["note"] is None


def test_the_last_duty_started_is_refused_with_advice_that_fits_and_leaves_others(town):
    """After W3 is undone alone, W1's duty (ended by the commit) is corrected by hand: undoing
    W4, the last one started there, is refused naming it and saying how to put it back or
    leave the others; --leave-others removes W4 alone and lists W1 and W2 as left."""
    db = town["db"]
    since = _workers(town)
    today = city_today()
    gid, _ = _grid_commit(town, ("L1", "grid_leader"), ("W3", "grid_worker"), ("W4", "grid_worker"))
    ids = {p: i for i, p, _, _ in _grid_duties(db, gid)}
    undo_duty(db, ids["W3"])
    end_duty(db, "W1", Target("grid", town["grid"]), "grid_worker", today - 5 * _DAY)
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        undo_duty(db, ids["W4"])
    msg = err.value.message
    assert f"was started by the staffing commit of area {hand.SUBDISTRICT}" in msg
    assert f"吴员 (W1)'s duty {ids['W1']}, which it ended, was changed since" in msg
    assert "first put that duty back as it was left (assign end" in msg and "--leave-others" in msg
    assert fingerprint(db) == before

    out = undo_duty(db, ids["W4"], leave_others=True)

    assert out["restored"] == [] and out["left_as_is"] == [
        {"action": "ended", "id": ids["W1"]}, {"action": "ended", "id": ids["W2"]}]  # fmt: skip
    assert _grid_duties(db, gid) == [
        (ids["W1"], "W1", since, today - 5 * _DAY),
        (ids["W2"], "W2", since, today - _DAY),
    ]


@pytest.mark.parametrize("first", ["inserted", "brought forward"])
def test_an_inserted_and_a_brought_forward_duty_are_undone_in_either_order(town, first):
    """S3 was planned on A from next week; the commit ended S1, brought S3 forward to today and
    added S2. Whichever is undone first goes alone (S3 back to its planned start, S2 removed);
    the second gives S1 the alley back: every duty is as before the commit. Undoing S3 once
    more removes it (its own set entry). (Old code, S2 first: S3 was moved back too and then
    its undo refused as 'changed since it was set'; S3 first: S3 was deleted.)"""
    db, alley = town["db"], town["alley"]
    today = city_today()
    planned = today + 7 * _DAY
    s3 = assign_duty(db, "S3", Target("alley", alley), None, planned)["duty"]["id"]
    set_entry = _entries(db, "assignments.set")[-1]["id"]
    s1 = _id(db, alley, "S1")
    rows = hand._rows(db)
    entry = _commit(town, (alley, "S2"), (alley, "S3"))
    s2 = _id(db, alley, "S2")
    assert entry["detail"]["brought_forward"] == [
        {"id": s3, "person_id": town["ids"]["S3"], "role": "alley_steward", "target": alley,
         "valid_from": str(planned), "valid_from_after": str(today), "valid_to": None}
    ]  # fmt: skip
    assert sorted(entry["detail"]["started_ids"]) == sorted([s2, s3])

    if first == "inserted":
        out = undo_duty(db, s2)
        assert hand._duties(db, alley) == [
            ("S1", town["since"], today - _DAY), ("S3", today, None)]  # fmt: skip
        assert out.get("moved_back") is None and out["undone"]["id"] == s2
        assert f"also started duty {s3} (张三 (S3))" in out["note"]
    else:
        out = undo_duty(db, s3)
        assert hand._duties(db, alley) == [
            ("S1", town["since"], today - _DAY), ("S2", today, None), ("S3", planned, None)
        ]  # fmt: skip
        assert out.get("moved_back") == {
            "id": s3, "person_id": town["ids"]["S3"], "person": "S3", "name": "张三",
            "valid_from": str(planned), "valid_to": None, "was_valid_from": str(today)}  # fmt: skip
        assert f"also started duty {s2} (李二 (S2))" in out["note"]
        assert out["still_holds"] == []
    assert out["restored"] == [] and f"what it ended there (duty {s1}) comes back" in out["note"]

    out = undo_duty(db, s3 if first == "inserted" else s2)

    assert hand._rows(db) == rows
    assert [(r["action"], r["id"]) for r in out["restored"]] == [("continues", s1)]
    assert out["note"] is None
    assert (out["moved_back"] or {}).get("valid_from") == (
        str(planned) if first == "inserted" else None
    )
    out = undo_duty(db, s3)  # now its own hand-set duty: removed
    assert out["moved_back"] is None and out["undone"]["id"] == s3 and out["note"] is None
    assert _entries(db, "assignments.undo")[-1]["detail"]["undoes"] == set_entry
    assert hand._duties(db, alley) == [("S1", town["since"], None)]


def test_a_duty_the_commit_brought_forward_goes_back_to_its_plan(town, pg_url):
    """S3 was planned on A for a month from next week; the commit brought S3 forward and ended
    S1. Undoing S3 moves it back to its planned start (it stays, as planned) and gives S1 the
    alley back; refused while S3 ends before its planned start. (Old code deleted S3's duty,
    the plan lost.)"""
    db, alley = town["db"], town["alley"]
    today = city_today()
    planned, last = today + 7 * _DAY, today + 30 * _DAY
    a = Target("alley", alley)
    s3 = assign_duty(db, "S3", a, None, planned, last)["duty"]["id"]
    rows = hand._rows(db)
    entry = _commit(town, (alley, "S3"))
    end_duty(db, "S3", a, None, today + 2 * _DAY)
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        undo_duty(db, s3)
    msg = err.value.message
    assert f"was planned from {planned}" in msg and f"entry {entry['id']}" in msg
    assert f"it ends on {today + 2 * _DAY} now, before {planned}: nothing changed" in msg
    assert f"first give it a last day on or after {planned} (assign end)" in msg
    assert fingerprint(db) == before
    end_duty(db, "S3", a, None, last)  # as the commit left it

    res = run_cli(["assign", "undo", "--duty", str(s3), "--reason", "计划不变"], pg_url)

    assert res.returncode == 0, res.stderr
    line = res.stdout.strip()
    assert line.count("\n") == 0 and "职责已撤销" not in line, line
    assert line.startswith(
        "职责改回原计划 moved back to its planned start: 张三 (S3) 小巷管家 alley steward · "
    ), line
    assert f"{planned} → {last} · 职责编号 duty id {s3} (原 was from {today})" in line
    assert f"恢复 continuous again: 王一 (S1) {town['since']} → 长期 open-ended" in line
    assert hand._rows(db) == rows
    (undo,) = _entries(db, "assignments.undo")
    u = undo["detail"]
    assert u["removed"] is None and u["reason"] == "计划不变" and u["undoes"] == entry["id"]
    assert (u["moved_back"]["id"], u["moved_back"]["valid_from"]) == (s3, str(planned))
    assert [(b["id"], b["valid_from"]) for b in u["before"]][:1] == [(s3, str(today))]
    assert [(b["id"], b["valid_from"]) for b in u["after"]][:1] == [(s3, str(planned))]

    out = undo_duty(db, s3)  # a second time: the planned duty itself goes

    assert out["moved_back"] is None and out["restored"] == []
    assert hand._duties(db, alley) == [("S1", town["since"], None)]


def _as_old_commit(db, entry: dict, **counts: int) -> None:
    """Rewrite a commit's audit row as older versions wrote it: counts only."""
    with db.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET detail = CAST(:d AS jsonb) WHERE id = :i"),
            {"d": json.dumps({"kind": "alleys", **counts}), "i": entry["id"]},
        )


def test_a_planned_duty_an_old_commit_brought_forward_is_undone_with_a_note(town):
    """S3 was planned from next week; a commit recorded with counts only brought it forward and
    ended S1. Undoing S3 (its origin is its own set entry) removes it alone, and the note says
    that the commit does not say what it ended."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    planned = today + 7 * _DAY
    s3 = assign_duty(db, "S3", Target("alley", alley), None, planned)["duty"]["id"]
    entry = _commit(town, (alley, "S3"))
    _as_old_commit(db, entry, started=1, ended=1, kept=0)

    out = undo_duty(db, s3)

    assert out["restored"] == [] and out.get("moved_back") is None
    assert hand._duties(db, alley) == [("S1", town["since"], today - _DAY)]
    note = out["note"]
    assert note.startswith(f"其他职责未恢复：职责 {s3}（原定自 {planned} 起）被"), note
    assert f" nothing else was restored: duty {s3}, set from {planned}, was " in note
    assert f"brought forward to {today} by the staffing commit of area {hand.SUBDISTRICT}" in note
    assert f"(audit entry {entry['id']})" in note and "does not say what it ended" in note


def test_no_note_for_an_old_commit_whose_counts_say_it_ended_nothing(town):
    """A commit with counts only whose counts say it ended nothing: its duty is undone with no
    note (nothing was there to give back)."""
    db, alley = town["db"], town["alley"]
    entry = _commit(town, (alley, "S1"), (alley, "S2"))  # S2 beside S1: nothing ended
    _as_old_commit(db, entry, started=1, ended=0, kept=1)

    out = undo_duty(db, _id(db, alley, "S2"))

    assert out["note"] is None and out["restored"] == []
    assert _entries(db, "assignments.undo")[-1]["detail"]["undoes"] == entry["id"]
    assert hand._duties(db, alley) == [("S1", town["since"], None)]


def test_an_old_commit_note_gives_the_city_day(town):
    """A commit with counts only, made at 00:30 city time (the day before in UTC), ended S1:
    the note gives the city's day, not the UTC one."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    entry = _commit(town, (alley, "S2"))
    _as_old_commit(db, entry, started=1, ended=1, kept=0)
    early = dt.datetime.combine(today, dt.time(0, 30), ZoneInfo(get_settings().timezone))
    with db.begin() as conn:  # the duty and the commit in one transaction: one now()
        conn.execute(
            text("UPDATE audit_log SET at = :t WHERE id = :i"), {"t": early, "i": entry["id"]}
        )
        conn.execute(
            text("UPDATE assignments SET created_at = :t WHERE id = :i"),
            {"t": early, "i": _id(db, alley, "S2")},
        )

    out = undo_duty(db, _id(db, alley, "S2"))

    assert f"commit of area {hand.SUBDISTRICT} on {today} (audit entry" in out["note"]
    assert hand._duties(db, alley) == [("S1", town["since"], today - _DAY)]


def test_a_refusal_for_someone_who_left_advises_leaving_the_others(town):
    """The commit replaced S1 by S2, and S1 has left since: the refusal advises removing S2's
    duty alone and setting duties by hand, not putting duties back (that cannot help)."""
    from geo.duties import person_leaves

    db, alley = town["db"], town["alley"]
    _commit(town, (alley, "S2"))
    person_leaves(db, town["ids"]["S1"])
    with pytest.raises(ConflictError) as err:
        undo_duty(db, _id(db, alley, "S2"))
    msg = err.value.message
    assert "王一 (S1) has left since: nothing changed. To undo it, remove only this duty" in msg
    assert '--leave-others; API "leave_others": true' in msg and "by hand (assign set" in msg
    assert "put" not in msg


def test_the_cli_calls_a_duty_reinstated_from_today_not_planned(town, pg_url):
    """S3 was added beside S1 from today and the commit deleted it: the CLI line of the undo
    says it is reinstated, not 'reinstated (planned)' (it starts today)."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    assign_duty(db, "S3", Target("alley", alley), None, today)
    _commit(town, (alley, "S2"))

    res = run_cli(["assign", "undo", "--duty", str(_id(db, alley, "S2"))], pg_url)

    assert res.returncode == 0, res.stderr
    assert f"; 恢复 reinstated: 张三 (S3) {today} → 长期 open-ended" in res.stdout
    assert "(planned)" not in res.stdout
