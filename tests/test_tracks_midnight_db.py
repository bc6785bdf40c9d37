"""A walk over local midnight, matched into PostGIS: both days share the walk, nothing between.

Old code cut the walk's fixes at midnight, so the path between the last fix before midnight
and the first after went to neither day (one whole step: 12 m at 10 s fixes, and more where
the first day's short stretch of the next segment then fell below the matcher's minimum
credit).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from geo.track_store import INTERPOLATED, ingest_track, split_local_days, walk_network
from geo.tracks.clean import CleanParams, clean_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_tracks_db import _csv
from tests.test_tracks_db import demo as demo  # noqa: F401  (the fixture)

TZ = ZoneInfo("Asia/Shanghai")
ALLEY = 19  # the demo map's 1216.4 m alley of four segments a tester walked over midnight
SPEED = 1.2


def _local(day: str, clock: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day}T{clock}", tz=TZ).tz_convert("UTC")


def _alley_route(db, net) -> list[tuple[int, float, float]]:
    """Legs along the alley from its dead end, and on along the longest other edge at its
    far end (so the walk does not end where the alley does: the last metres of a walk are
    the matcher's to guess, and no concern of midnight)."""
    with db.connect() as conn:
        seg_ids = conn.execute(
            text("SELECT id FROM street_segments WHERE street_id = :s"), {"s": ALLEY}
        ).scalars()
        pos = {int(e): i for i, e in enumerate(net.edge_ids.tolist())}
        edges = {pos[i] for i in seg_ids}
    ends = lambda e: (int(net.u[e]), int(net.v[e]))  # noqa: E731
    touching = lambda n, among: [e for e in among if n in ends(e)]  # noqa: E731
    count = pd.Series([n for e in edges for n in ends(e)]).value_counts()
    tips = sorted(count[count == 1].index)
    others = [e for e in range(len(net.u)) if e not in edges and net.u[e] != net.v[e]]
    node = min(tips, key=lambda n: len(touching(n, others)))  # the dead end
    legs, left = [], set(edges)

    def walk(e: int, start: int) -> int:
        length = float(net.length[e])
        fwd = int(net.u[e]) == start
        legs.append((e, 0.0, length) if fwd else (e, length, 0.0))
        return ends(e)[1] if fwd else ends(e)[0]

    while left:
        e = touching(node, left)[0]
        left.discard(e)
        node = walk(e, node)
    walk(max(touching(node, others), key=lambda e: float(net.length[e])), node)
    return legs


def _alley_metres(db, track_id: int) -> dict[dt.date, float]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.day, sum(v.covered_fraction * s.length_m) FROM patrol_visits v "
                "JOIN street_segments s ON s.id = v.segment_id "
                "WHERE v.track_id = :t AND s.street_id = :a GROUP BY v.day"
            ),
            {"t": track_id, "a": ALLEY},
        ).all()
    return {d: float(m) for d, m in rows}


def _visit_rows(db, track_id: int) -> pd.DataFrame:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT day, segment_id, first_time, last_time, intervals FROM patrol_visits "
                "WHERE track_id = :t ORDER BY day, first_time"
            ),
            {"t": track_id},
        ).all()
    return pd.DataFrame([r._mapping for r in rows])


def _upload(db, pts: pd.DataFrame, name: str) -> dict:
    item = ingest_track(db, _csv(pts), name, person_id=1)
    assert item["status"] == "matched", item
    return item


def test_a_walk_over_midnight_is_shared_by_its_two_days_and_a_gap_is_not_bridged(demo):
    """The tester's walk: the alley end to end at 1.2 m/s from 23:46, so 1008 m before
    midnight by the clock; and a walk reaching midnight 100 m into a 200 m segment, with a
    fix every 15 s. Each is matched against the same fixes 12 hours earlier (one day, no
    cut): the two days' metres on the alley add up to that whole walk's, each visit lies
    within its day, the segment walked over midnight is credited up to midnight on the
    first day and from midnight on the next, and the fixes added at midnight are not counted
    as fixes. A walk with a gap over midnight longer than the cleaner's gap threshold gets
    nothing across the gap."""
    net = walk_network(demo)
    legs = _alley_route(demo, net)
    lengths = [abs(b - a) for _, a, b in legs]
    assert sum(lengths[:-1]) == pytest.approx(1216.4, abs=1.0)
    day1, day2 = dt.date(2026, 1, 31), dt.date(2026, 2, 1)
    midnight = _local("2026-02-01", "00:00:00")
    walks = {
        "tester.csv": (_local("2026-01-31", "23:46:00"), 5.0, 4),
        # 100 m into the third segment: the reach of midnight, in metres from the dead end
        "mid_segment.csv": (
            midnight - pd.Timedelta(seconds=round((sum(lengths[:2]) + 100) / SPEED)),
            15.0,
            2,
        ),
    }
    for name, (start, dt_s, seed) in walks.items():
        sp = SimParams(
            speed_mps=SPEED, dt_s=dt_s, noise_m=5, stops=0, uturns=0, start=start.isoformat()
        )
        pts, _ = simulate_patrol(net, np.random.default_rng(seed), sp, legs=legs)
        assert pts["time"].iloc[0] < midnight < pts["time"].iloc[-1]
        whole = _upload(demo, pts.assign(time=pts["time"] - pd.Timedelta(hours=12)), "noon_" + name)
        over = _upload(demo, pts, name)
        ref = _alley_metres(demo, whole["track_id"])
        got = _alley_metres(demo, over["track_id"])
        assert list(ref) == [day1] and ref[day1] > 1190, ref  # the alley, nearly whole
        assert sorted(got) == [day1, day2], got
        # old code: 21.4 and 21.0 m short. The step over midnight (6 and 18 m here) went to
        # neither day, and in the tester's walk the first day's metres of the next segment
        # then fell below the matcher's minimum credit and went too.
        assert got[day1] + got[day2] == pytest.approx(ref[day1], abs=3.0), (name, got, ref)
        by_clock = float(np.clip((midnight - start).total_seconds() * SPEED, 0, 1216.4))
        assert got[day1] == pytest.approx(by_clock, abs=15.0), (name, got, by_clock)

        visits = _visit_rows(demo, over["track_id"])
        for v in visits.itertuples():  # every visit lies within its own local day
            assert v.first_time.astimezone(TZ).date() == v.day == v.last_time.astimezone(TZ).date()
        # the segment walked over midnight: up to midnight on day 1, from it on day 2, and
        # the two stretches meet (within 5 m)
        crossing = visits.groupby("segment_id")["day"].nunique().loc[lambda n: n == 2].index
        assert len(crossing) == 1, visits
        seg = visits[visits["segment_id"] == crossing[0]].set_index("day")
        assert seg.loc[day1, "last_time"] == midnight - pd.Timedelta(microseconds=1)
        assert seg.loc[day2, "first_time"] == midnight
        seg_m = float(net.length[list(net.edge_ids).index(crossing[0])])
        end1 = max(hi for _, hi in seg.loc[day1, "intervals"])
        start2 = min(lo for lo, _ in seg.loc[day2, "intervals"])
        assert abs(end1 - start2) * seg_m < 5.0, (end1, start2, seg_m)
        # the fixes at midnight are no fixes of the walk: the counts are the whole walk's
        assert over["match"]["points"] == whole["match"]["points"] == len(pts)
        assert over["match"]["matched_points"] <= over["n_points"] == len(pts)

    # fixes from 23:54 to 00:01 lost (7 min, beyond the cleaner's 5 min gap threshold)
    start = _local("2026-01-31", "23:46:00").isoformat()
    sp = SimParams(speed_mps=SPEED, dt_s=5.0, noise_m=5, stops=0, uturns=0, start=start)
    pts, _ = simulate_patrol(net, np.random.default_rng(4), sp, legs)
    gone = (pts["time"] > _local("2026-01-31", "23:54:00")) & (
        pts["time"] < _local("2026-02-01", "00:01:00")
    )
    pts = pts[~gone].reset_index(drop=True)
    before = pts.loc[pts["time"] < midnight, "time"].max()
    after = pts.loc[pts["time"] > midnight, "time"].min()
    assert (after - before).total_seconds() > CleanParams().gap_s
    whole = _upload(demo, pts.assign(time=pts["time"] - pd.Timedelta(hours=12)), "noon_gap.csv")
    over = _upload(demo, pts, "gap.csv")
    visits = _visit_rows(demo, over["track_id"])
    assert visits.loc[visits["day"] == day1, "last_time"].max() <= before
    assert visits.loc[visits["day"] == day2, "first_time"].min() >= after
    got, ref = _alley_metres(demo, over["track_id"]), _alley_metres(demo, whole["track_id"])
    # nothing walked across the gap is made up: the gap's stretch is missing at noon too
    assert sum(got.values()) == pytest.approx(ref[day1], abs=3.0), (got, ref)
    assert over["match"]["points"] == whole["match"]["points"] == len(pts)


def test_the_fix_at_midnight_is_interpolated_and_only_within_a_piece():
    """split_local_days: the step over midnight gets a fix at midnight on both sides,
    linear in time (position) and no better than its neighbours (accuracy), marked as
    interpolated; a real fix at midnight needs none on its side; a gap over midnight the
    cleaner cut the track at gets none."""
    t = [_local("2026-01-31", c) for c in ("23:59:40", "23:59:50")] + [
        _local("2026-02-01", c) for c in ("00:00:10", "00:00:20")
    ]
    pts = pd.DataFrame(
        {
            "lon": [116.3000, 116.3001, 116.3003, 116.3004],
            "lat": [39.9900, 39.9900, 39.9902, 39.9902],
            "time": pd.Series(t).dt.tz_convert("UTC"),
            "accuracy": [5.0, 6.0, 12.0, np.nan],
        }
    )
    days = split_local_days([pts], "Asia/Shanghai")
    assert [d for d, _ in days] == [dt.date(2026, 1, 31), dt.date(2026, 2, 1)]
    (first,), (second,) = (parts for _, parts in days)
    assert first[INTERPOLATED].tolist() == [False, False, True]
    assert second[INTERPOLATED].tolist() == [True, False, False]
    end, start = first.iloc[-1], second.iloc[0]
    midnight = _local("2026-02-01", "00:00:00")
    assert end["time"] == midnight - pd.Timedelta(microseconds=1) and start["time"] == midnight
    for fix in (end, start):  # halfway through the 20 s step
        assert fix["lon"] == pytest.approx(116.3002, abs=1e-9)
        assert fix["lat"] == pytest.approx(39.9901, abs=1e-9)
        assert fix["accuracy"] == 12.0

    # a fix exactly at midnight: day 1 still ends at midnight, day 2 starts with that fix
    at = pts.assign(time=pts["time"].where(pts.index != 2, midnight))
    (first,), (second,) = (parts for _, parts in split_local_days([at], "Asia/Shanghai"))
    assert first[INTERPOLATED].tolist() == [False, False, True]
    assert not second[INTERPOLATED].any() and second["time"].iloc[0] == midnight

    # a 6 min gap over midnight: the cleaner makes two pieces, and nothing joins them
    gap = pts.assign(time=pts["time"].where(pts.index < 2, pts["time"] + pd.Timedelta(minutes=6)))
    pieces = clean_track(gap, CleanParams(stay_radius_m=0))
    assert len(pieces) == 2
    days = split_local_days(pieces, "Asia/Shanghai")
    assert [len(parts[0]) for _, parts in days] == [2, 2]
    assert not any(part[INTERPOLATED].any() for _, parts in days for part in parts)
