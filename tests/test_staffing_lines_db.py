"""Street chiefs and alley stewards follow the grids' rules for planned duties and duties
ending today (geo.staffing): a duty ending today leaves a gap from tomorrow, filled by someone
else from tomorrow; a person planned by hand counts as taken; a street or alley with a holder
planned from a later day gets a stand-in until the day before; the commit never writes a
second holder of a street or alley on a day. Real PostGIS, no mocks.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from geo.duties import Target, assign_duty, end_duty
from geo.errors import ConflictError
from geo.settings import city_today
from geo.staffing import commit, propose
from tests.dbcheck import fingerprint
from tests.test_import import run_cli
from tests.test_staffing_cross_area import ALLEYS_A, STREETS_A, _neighbours


def _held_on(db: Engine, role: str, day: dt.date) -> pd.DataFrame:
    """(person, item) of the duties of ``role`` in force on ``day``."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT person_id, street_id FROM assignments WHERE role = :r "
                "AND valid_from <= :d AND (valid_to IS NULL OR valid_to >= :d)"
            ),
            {"r": role, "d": day},
        ).all()
    return pd.DataFrame(rows, columns=["person", "item"])


def _doubles(db: Engine, role: str, first: dt.date, last: dt.date) -> list[str]:
    """Days from ``first`` to ``last`` on which a street or alley has two holders of ``role``
    (the solver gives one)."""
    bad = []
    for k in range((last - first).days + 1):
        day = first + dt.timedelta(days=k)
        n = _held_on(db, role, day)["item"].value_counts()
        bad += [f"{day}: {c} on {i}" for i, c in n[n > 1].items()]
    return bad


def _figure(table: str, label: str) -> int:
    """The value of the row whose label starts with ``label`` in a rich table the CLI printed
    (figure │ value │ note; a long label wraps onto the next line)."""
    found = re.search(rf"│ {label}[^│]*│\s*(\d+) │", table)
    assert found, f"no row {label}"
    return int(found.group(1))


def _staffed_a_week_ago(db: Engine, kind: str, area: str) -> None:
    """The area staffed as proposed, a week ago (ending a duty today keeps its history)."""
    commit(db, propose(db, kind, area))
    with db.begin() as conn:
        conn.execute(
            text("UPDATE assignments SET valid_from = :d"), {"d": city_today() - dt.timedelta(7)}
        )


def test_a_street_whose_chief_ends_today_gets_another_chief_from_tomorrow(
    db, pg_url, tmp_path: Path
):
    """A street whose chief's duty ends today (assign end) was seen as held: no proposal, and
    no chief from tomorrow. Now its slot is free from tomorrow: someone else is proposed from
    tomorrow (``valid_from``), never the one just ended there, and today is still theirs."""
    db = _neighbours(db, tmp_path, n_stewards=0, n_chiefs=6)
    today, tomorrow = city_today(), city_today() + dt.timedelta(days=1)
    _staffed_a_week_ago(db, "streets", STREETS_A)
    held = _held_on(db, "street_chief", today)
    street, chief = (int(v) for v in held.iloc[0][["item", "person"]])
    end_duty(db, chief, Target("street", street), "street_chief", today)
    for rebalance in (False, True):
        p = propose(db, "streets", STREETS_A, rebalance=rebalance)
        there = [x for x in p["pairs"] if x["item_id"] == street]
        assert len(there) == 1 and there[0]["person_id"] != chief
        assert there[0]["valid_from"] == tomorrow.isoformat()
        assert p["summary"]["ending_today"] == 1 and p["summary"]["starting_tomorrow"] >= 1
    # the command line shows the planner the same (it printed these rows for grids only)
    res = run_cli(["assign", "streets", "--area", STREETS_A, "--dry-run"], pg_url)
    assert res.returncode == 0, res.stderr
    assert _figure(res.stdout, "今日结束") == 1, res.stdout
    assert _figure(res.stdout, "明日开始") >= 1 and _figure(res.stdout, "日后缺岗") == 0
    done = commit(db, propose(db, "streets", STREETS_A))
    assert done["starting_tomorrow"] == 1
    on = {d: _held_on(db, "street_chief", d) for d in (today, tomorrow)}
    assert on[today][on[today]["item"] == street]["person"].tolist() == [chief]
    assert on[tomorrow][on[tomorrow]["item"] == street]["person"].tolist() not in ([], [chief])
    assert _doubles(db, "street_chief", today, tomorrow) == []


def test_a_planned_chief_is_taken_and_their_street_gets_a_stand_in_until_then(db, tmp_path: Path):
    """A chief planned by hand on a street from a later day could be proposed for another
    street (beyond their own capacity from that day), and the street got a second chief from
    today, open-ended. Now the planned chief counts as holding it, and the street's proposed
    chief stands in until the day before; the commit leaves one chief per street every day."""
    db = _neighbours(db, tmp_path, n_stewards=0, n_chiefs=6)
    today, soon = city_today(), city_today() + dt.timedelta(days=5)
    first = propose(db, "streets", STREETS_A)
    street = first["pairs"][0]["item_id"]
    other = next(
        x["person_id"] for x in first["pairs"] if x["person_id"] != first["pairs"][0]["person_id"]
    )
    with db.begin() as conn:  # they take one street at most
        conn.execute(text("UPDATE people SET capacity = 1 WHERE id = :p"), {"p": other})
    assign_duty(db, other, Target("street", street), "street_chief", soon)
    for rebalance in (False, True):
        p = propose(db, "streets", STREETS_A, rebalance=rebalance)
        assert other not in {x["person_id"] for x in p["pairs"]}
        [stand_in] = [x for x in p["pairs"] if x["item_id"] == street]
        assert stand_in["valid_to"] == (soon - dt.timedelta(days=1)).isoformat()
        assert p["summary"]["until_planned"] == 1
    commit(db, propose(db, "streets", STREETS_A))
    assert _doubles(db, "street_chief", today, soon + dt.timedelta(days=2)) == []
    assert _held_on(db, "street_chief", soon)["person"].value_counts()[other] == 1


def test_alleys_ended_today_and_planned_follow_the_same_rules(db, tmp_path: Path):
    """Alleys alike: an alley whose steward ends today gets another steward from tomorrow;
    an empty alley with a steward planned from a later day gets a stand-in until the day
    before, and the planned steward is not given other alleys on top."""
    db = _neighbours(db, tmp_path, n_stewards=20, n_chiefs=0)
    today, tomorrow = city_today(), city_today() + dt.timedelta(days=1)
    soon = today + dt.timedelta(days=5)
    _staffed_a_week_ago(db, "alleys", ALLEYS_A)
    held = _held_on(db, "alley_steward", today)
    ended, emptied = held.iloc[0], held[held["person"] != held.iloc[0]["person"]].iloc[0]
    a1, x = int(ended["item"]), int(ended["person"])
    a2, y = int(emptied["item"]), int(emptied["person"])
    end_duty(db, x, Target("alley", a1), "alley_steward", today)
    end_duty(db, y, Target("alley", a2), "alley_steward", today - dt.timedelta(days=1))
    z = int(held[~held["person"].isin([x, y])]["person"].iloc[0])
    assign_duty(db, z, Target("alley", a2), "alley_steward", soon)
    for rebalance in (False, True):
        p = propose(db, "alleys", ALLEYS_A, rebalance=rebalance)
        [new] = [v for v in p["pairs"] if v["item_id"] == a1]
        assert new["person_id"] != x and new["valid_from"] == tomorrow.isoformat()
        [stand_in] = [v for v in p["pairs"] if v["item_id"] == a2]
        assert stand_in["valid_to"] == (soon - dt.timedelta(days=1)).isoformat()
        assert stand_in["person_id"] != z
    commit(db, propose(db, "alleys", ALLEYS_A))
    assert _doubles(db, "alley_steward", today, soon + dt.timedelta(days=2)) == []
    on = _held_on(db, "alley_steward", tomorrow)
    assert on[on["item"] == a1]["person"].tolist() not in ([], [x])


def test_a_commit_refuses_a_chief_open_ended_beside_a_planned_one(db, tmp_path: Path):
    """``assign set`` adds co-holders to streets and alleys freely (geo.duties has no rule
    for their number), so the commit refuses only real doubles: more chiefs of one street on
    a day than a proposal gives it, as an open-ended chief beside one planned from a later day
    (what the old proposals committed). Refused whole, Chinese first; nothing is written."""
    db = _neighbours(db, tmp_path, n_stewards=0, n_chiefs=6)
    soon = city_today() + dt.timedelta(days=5)
    first = propose(db, "streets", STREETS_A)
    street, chief = first["pairs"][0]["item_id"], first["pairs"][0]["person_id"]
    planned = next(x["person_id"] for x in first["pairs"] if x["person_id"] != chief)
    assign_duty(db, planned, Target("street", street), "street_chief", soon)
    p = propose(db, "streets", STREETS_A)
    pairs = [{**x, "valid_to": None} if x["item_id"] == street else x for x in p["pairs"]]
    before = fingerprint(db)
    with pytest.raises(ConflictError, match=r"^街 .*已有街巷长"):
        commit(db, {**p, "pairs": pairs})
    assert fingerprint(db) == before
