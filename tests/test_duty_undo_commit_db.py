"""Undoing a duty that a staffing commit started (geo.duty_undo over geo.staffing.commit), on a
real PostGIS: what the commit ended, removed or brought forward on that alley is given back,
under the same ids, only when nothing changed since; ``leave_others`` removes the duty alone;
a commit recorded before commits said what they ended is undone alone, and the reply says so.

Old code: a commit's audit row held only counts, so undoing its steward restored nothing (the
previous steward stayed ended) and said nothing about it; every test here fails on it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from geo import audit
from geo.duties import Target, assign_duty, end_duty
from geo.duty_undo import undo_duty
from geo.errors import ConflictError
from geo.settings import city_today
from geo.staffing import commit, propose
from tests import test_duties_db as hand
from tests.dbcheck import fingerprint

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


def test_a_planned_duty_the_commit_brought_forward_starts_as_planned_again(town):
    """S3 was planned on A from next week; the commit ended S1, brought S3 forward to today
    and added S2. Undoing S2 ends S3's early start too; undoing S3 after a second such commit
    removes S3's duty and gives S1 the alley back (the commit is newer than S3's own entry)."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    planned = today + 7 * _DAY
    s3 = assign_duty(db, "S3", Target("alley", alley), None, planned)["duty"]["id"]
    rows = hand._rows(db)
    entry = _commit(town, (alley, "S2"), (alley, "S3"))

    out = undo_duty(db, _id(db, alley, "S2"))

    assert hand._rows(db) == rows
    assert entry["detail"]["brought_forward"] == [
        {"id": s3, "person_id": town["ids"]["S3"], "role": "alley_steward", "target": alley,
         "valid_from": str(planned), "valid_from_after": str(today), "valid_to": None}
    ]  # fmt: skip
    assert (s3 in entry["detail"]["started_ids"]) and len(entry["detail"]["started_ids"]) == 2
    assert [(r["action"], r["id"], r["after"]["valid_from"]) for r in out["restored"]] == [
        ("continues", _id(db, alley, "S1"), str(town["since"])),
        ("starts again", s3, str(planned)),
    ]
    _commit(town, (alley, "S2"), (alley, "S3"))
    undo_duty(db, s3)
    assert hand._duties(db, alley) == [("S1", town["since"], None), ("S2", today, None)]


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
    assert note.startswith("nothing else was restored") and "does not say what it ended" in note
    assert f"commit of area {hand.SUBDISTRICT}" in note and f"entry {entry['id']}" in note
    (undo,) = _entries(db, "assignments.undo")
    assert undo["detail"]["note"] == note and undo["detail"]["undoes"] == entry["id"]
