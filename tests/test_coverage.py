"""Coverage roll-ups on small hand-built tables (expected values worked out in the comments)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.coverage import (
    alley_day_status,
    compliance_rollup,
    segment_day_coverage,
    steward_daily_compliance,
)
from geo.errors import InputError

SEGMENTS = pd.DataFrame(
    {
        "edge_id": ["a1", "a2", "b1"],
        "alley_id": ["A", "A", "B"],
        "length_m": [60.0, 40.0, 100.0],
    }
)
ASSIGN = pd.DataFrame({"alley_id": ["A", "B"], "person_id": [1, 2]})


def _t(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def test_union_over_tracks_and_local_day():
    te = pd.DataFrame(
        {
            "track_id": [10, 11, 11],
            "person_id": [1, 1, 1],
            "edge_id": ["a1", "a1", "a2"],
            "start_fraction": [0.0, 0.3, 0.0],
            "end_fraction": [0.5, 0.9, 1.0],
            # 23:30 UTC on 1 March is 07:30 on 2 March in Beijing
            "first_time": [_t("2026-03-01T23:30"), _t("2026-03-02T01:00"), _t("2026-03-02T01:05")],
            "last_time": [_t("2026-03-01T23:40"), _t("2026-03-02T01:02"), _t("2026-03-02T01:06")],
        }
    )
    sd = segment_day_coverage(te)
    assert set(sd["day"]) == {date(2026, 3, 2)}
    a1 = sd.set_index("edge_id").loc["a1"]
    assert a1["walked_fraction"] == pytest.approx(0.9)  # [0, .5] ∪ [.3, .9]
    assert a1["first_time"] == _t("2026-03-01T23:30")
    # In UTC it would have been two days
    assert len(set(segment_day_coverage(te, tz="UTC")["day"])) == 2


def test_alley_patrolled_only_by_its_steward():
    sd = pd.DataFrame(
        {
            "day": [date(2026, 3, 2)] * 3,
            "person_id": [1, 1, 2],
            "edge_id": ["a1", "a2", "a1"],
            "walked_fraction": [1.0, 0.6, 1.0],
            "first_time": [_t("2026-03-02T01:00")] * 3,
            "last_time": [_t("2026-03-02T02:00")] * 3,
        }
    )
    ad = alley_day_status(sd, SEGMENTS, ASSIGN).set_index("alley_id")
    # A: 60 + 0.6*40 = 84 of 100 m by steward 1 → patrolled at 0.8
    assert ad.loc["A", "walked_m"] == pytest.approx(84.0)
    assert bool(ad.loc["A", "patrolled"])
    # B: nobody assigned walked it (person 2 walked alley A, which is not theirs)
    assert ad.loc["B", "walked_m"] == 0 and not bool(ad.loc["B", "patrolled"])
    assert not bool(
        alley_day_status(sd, SEGMENTS, ASSIGN, 0.9).set_index("alley_id").loc["A", "patrolled"]
    )
    comp = steward_daily_compliance(ad.reset_index(), ASSIGN).set_index("person_id")
    assert comp.loc[1, "compliance"] == 1.0 and comp.loc[2, "compliance"] == 0.0


def test_weekly_monthly_rollup_and_ranking():
    days = pd.date_range("2026-03-02", "2026-03-15", freq="D").date  # two ISO weeks
    rows = []
    for d in days:
        rows.append(
            {"day": d, "person_id": 1, "alleys": 2, "patrolled_alleys": 2, "walked_m": 100.0}
        )
        rows.append(
            {"day": d, "person_id": 2, "alleys": 2, "patrolled_alleys": 1, "walked_m": 50.0}
        )
    sdc = pd.DataFrame(rows)
    sdc["compliance"] = sdc["patrolled_alleys"] / sdc["alleys"]
    wk = compliance_rollup(sdc, "week")
    assert sorted(set(wk["period"])) == [date(2026, 3, 2), date(2026, 3, 9)]
    w1 = wk[wk["period"] == date(2026, 3, 2)].set_index("person_id")
    assert w1.loc[1, "rank"] == 1 and w1.loc[2, "rank"] == 2
    assert w1.loc[2, "compliance"] == pytest.approx(0.5) and w1.loc[1, "days"] == 7
    mo = compliance_rollup(sdc, "month")
    assert list(mo["period"].unique()) == [date(2026, 3, 1)]
    with pytest.raises(InputError):
        compliance_rollup(sdc, "year")
    # nothing patrolled all week gets no rank (a tester's chiefs who never walked read
    # "rank 1" of the week and of the month); the others keep theirs
    idle = sdc[sdc["person_id"] == 1].assign(person_id=3, patrolled_alleys=0, compliance=0.0)
    for period in ("week", "month"):
        rolled = compliance_rollup(pd.concat([sdc, idle]), period)
        first = rolled[rolled["period"] == rolled["period"].min()].set_index("person_id")
        assert pd.isna(first.loc[3, "rank"]) and first.loc[3, "compliance"] == 0
        assert (first.loc[1, "rank"], first.loc[2, "rank"]) == (1, 2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_union_is_bounded_by_max_and_sum(ivs):
    ivs = [(min(a, b), max(a, b)) for a, b in ivs]
    te = pd.DataFrame(
        {
            "person_id": 1,
            "edge_id": "a1",
            "start_fraction": [a for a, _ in ivs],
            "end_fraction": [b for _, b in ivs],
            "first_time": _t("2026-03-02T02:00"),
            "last_time": _t("2026-03-02T03:00"),
        }
    )
    f = segment_day_coverage(te)["walked_fraction"].iloc[0]
    lens = [b - a for a, b in ivs]
    assert max(lens) - 1e-9 <= f <= min(1.0, sum(lens)) + 1e-9
    # independent check on a fine grid
    grid = [i / 2000 for i in range(2000)]
    covered = sum(any(a <= x < b for a, b in ivs) for x in grid) / 2000
    assert abs(f - covered) < 0.01


def test_group_compliance_for_communities():
    from geo.coverage import group_daily_compliance

    ad = pd.DataFrame(
        {
            "day": [date(2026, 3, 2)] * 3,
            "alley_id": ["A", "B", "C"],
            "length_m": [100.0, 50.0, 80.0],
            "walked_m": [90.0, 10.0, 80.0],
            "walked_share": [0.9, 0.2, 1.0],
            "patrolled": [True, False, True],
        }
    )
    groups = pd.DataFrame({"alley_id": ["A", "B", "C"], "community": ["x", "x", "y"]})
    g = group_daily_compliance(ad, groups, key="community").set_index("community")
    assert g.loc["x", "alleys"] == 2 and g.loc["x", "compliance"] == 0.5
    assert g.loc["y", "compliance"] == 1.0
    r = compliance_rollup(g.reset_index(), "month", key="community").set_index("community")
    assert r.loc["y", "rank"] == 1 and r.loc["x", "rank"] == 2


def test_co_stewards_are_combined_by_the_union_of_their_stretches():
    """Two stewards of alley A (100 m: a1 60 m + a2 40 m). Walking the same half of a1
    twice is still that half (30 m of 100: not patrolled); the old per-segment sum made it
    all of a1 (60 m). Complementary halves make the whole of a1."""
    both = pd.DataFrame({"alley_id": ["A", "A"], "person_id": [1, 2]})
    day = date(2026, 3, 2)

    def stretches(*rows):
        return pd.DataFrame(
            [
                (day, p, e, s0, s1, _t("2026-03-02T01:00"), _t("2026-03-02T01:10"))
                for p, e, s0, s1 in rows
            ],
            columns=[
                "day",
                "person_id",
                "edge_id",
                "start_fraction",
                "end_fraction",
                "first_time",
                "last_time",
            ],
        )

    same = alley_day_status(stretches((1, "a1", 0.0, 0.5), (2, "a1", 0.0, 0.5)), SEGMENTS, both)
    assert same["walked_m"].iloc[0] == pytest.approx(30.0)
    halves = stretches((1, "a1", 0.0, 0.5), (2, "a1", 0.5, 1.0), (2, "a2", 0.0, 1.0))
    done = alley_day_status(halves, SEGMENTS, both)
    assert done["walked_share"].iloc[0] == pytest.approx(1.0) and done["patrolled"].iloc[0]
    # a stretch by someone not assigned to A adds nothing
    other = alley_day_status(stretches((1, "a1", 0.0, 0.5), (3, "a1", 0.5, 1.0)), SEGMENTS, both)
    assert other["walked_m"].iloc[0] == pytest.approx(30.0)


def test_each_co_holder_is_credited_for_their_own_part_only():
    """Alley A (100 m: a1 60 m + a2 40 m), share 0.8, two holders: each needs 0.4 of A of
    their own walking, and the alley must be patrolled (union ≥ 0.8)."""
    from geo.coverage import holder_daily_compliance, holder_day_status

    both = pd.DataFrame({"alley_id": ["A", "A"], "person_id": [1, 2]})
    day = date(2026, 3, 2)
    cols = ["day", "person_id", "edge_id", "start_fraction", "end_fraction"]

    def judge(*rows):
        sd = pd.DataFrame([(day, *r) for r in rows], columns=cols).assign(
            first_time=_t("2026-03-02T01:00"), last_time=_t("2026-03-02T01:10")
        )
        ad = alley_day_status(sd, SEGMENTS, both, days=[day])
        hd = holder_day_status(sd, SEGMENTS, both, ad).set_index("person_id")
        return ad.iloc[0], hd

    # 2 walked all of A, 1 nothing: A patrolled, only 2 credited; 1 walked 0 m
    alley, hd = judge((2, "a1", 0.0, 1.0), (2, "a2", 0.0, 1.0))
    assert alley["patrolled"] and list(hd["patrolled"]) == [False, True]
    assert list(hd["walked_m"]) == [0.0, 100.0] and list(hd["required_share"]) == [0.4, 0.4]
    # 1 a token 10 % of a1 (6 m): still not their part (40 m)
    _, hd = judge((2, "a1", 0.0, 1.0), (2, "a2", 0.0, 1.0), (1, "a1", 0.0, 0.1))
    assert list(hd["patrolled"]) == [False, True] and hd.loc[1, "walked_m"] == pytest.approx(6)
    # halves: 1 walks a1 (60 m), 2 walks a2 (40 m = exactly 0.4): both credited
    _, hd = judge((1, "a1", 0.0, 1.0), (2, "a2", 0.0, 1.0))
    assert list(hd["patrolled"]) == [True, True]
    # each walked their part, but the alley is not patrolled (same 50 m of a1): nobody
    alley, hd = judge((1, "a1", 0.0, 0.75), (2, "a1", 0.0, 0.75))
    assert not alley["patrolled"] and not hd["patrolled"].any()
    # a day still running: not done is pending, and out of the rate
    _, hd = judge((1, "a1", 0.0, 1.0), (1, "a2", 0.0, 1.0))
    steward = holder_daily_compliance(hd.reset_index().assign(pending=~hd["patrolled"].values))
    steward = steward.set_index("person_id")
    assert steward.loc[1, "compliance"] == 1.0 and steward.loc[2, "pending"] == 1
    assert pd.isna(steward.loc[2, "compliance"])
    week = compliance_rollup(steward.reset_index(), "week").set_index("person_id")
    assert week.loc[2, "pending"] == 1 and pd.isna(week.loc[2, "rank"])
    assert week.loc[1, "rank"] == 1
