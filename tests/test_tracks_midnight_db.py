"""A walk over local midnight, matched into PostGIS: both days share the walk, nothing between.

Old code cut the walk's fixes at midnight, so the path between the last fix before midnight
and the first after went to neither day (one whole step: 12 m at 10 s fixes, and more where
the first day's short stretch of the next segment then fell below the matcher's minimum
credit). Code after it matched each day's part, ending at a fix interpolated at midnight, on
its own: the stretch on either side of midnight was still dropped by the minimum credit
(~16 m) when midnight fell that close to a segment's end, and the parts' ends were matched
without the fixes beyond them. The walk is now matched whole and only its covered
stretches are cut at midnight (geo.day_networks.match_by_day).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from geo.day_networks import match_by_day, walk_network
from geo.track_store import ingest_track
from geo.tracks.clean import CleanParams, clean_track
from geo.tracks.match import MatchParams
from geo.tracks.network import WalkNetwork
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_tracks_db import _csv
from tests.test_tracks_db import demo as demo  # noqa: F401  (the fixture)
from tests.test_tracks_match import _grid_network, _walk

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


def _forget(db, track_id: int) -> None:
    """Remove a reference walk once measured: the same fixes sent again 12 hours on would be
    its times put right (geo.walk_digest), not a second walk."""
    with db.begin() as conn:
        for sql in (
            "DELETE FROM track_points WHERE track_id = :t",
            "DELETE FROM tracks WHERE id = :t",
        ):
            conn.execute(text(sql), {"t": track_id})


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
        ref = _alley_metres(demo, whole["track_id"])
        _forget(demo, whole["track_id"])
        over = _upload(demo, pts, name)
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
        # of the route's own segments (a way drawn beside one is credited with it as walked:
        # geo.tracks.twins, on both days too)
        route = {int(net.edge_ids[e]) for e, _, _ in legs}
        crossing = crossing[crossing.isin(route)]
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
    # seed 5: with the tester's walk's seed (4) these are its fixes at their own times, less
    # the gap's: a stretch of a stored walk, refused as a part of it (geo.track_store)
    pts, _ = simulate_patrol(net, np.random.default_rng(5), sp, legs)
    gone = (pts["time"] > _local("2026-01-31", "23:54:00")) & (
        pts["time"] < _local("2026-02-01", "00:01:00")
    )
    pts = pts[~gone].reset_index(drop=True)
    before = pts.loc[pts["time"] < midnight, "time"].max()
    after = pts.loc[pts["time"] > midnight, "time"].min()
    assert (after - before).total_seconds() > CleanParams().gap_s
    whole = _upload(demo, pts.assign(time=pts["time"] - pd.Timedelta(hours=12)), "noon_gap.csv")
    ref = _alley_metres(demo, whole["track_id"])
    _forget(demo, whole["track_id"])
    over = _upload(demo, pts, "gap.csv")
    visits = _visit_rows(demo, over["track_id"])
    assert visits.loc[visits["day"] == day1, "last_time"].max() <= before
    assert visits.loc[visits["day"] == day2, "first_time"].min() >= after
    got = _alley_metres(demo, over["track_id"])
    # nothing walked across the gap is made up: the gap's stretch is missing at noon too
    assert sum(got.values()) == pytest.approx(ref[day1], abs=3.0), (got, ref)
    assert over["match"]["points"] == whole["match"]["points"] == len(pts)


def _segment_metres(db, track_id: int) -> dict[tuple[dt.date, int], float]:
    """(day, segment) → metres credited to the track's visits."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.day, v.segment_id, v.covered_fraction * s.length_m FROM patrol_visits v "
                "JOIN street_segments s ON s.id = v.segment_id WHERE v.track_id = :t"
            ),
            {"t": track_id},
        ).all()
    return {(d, int(seg)): float(m) for d, seg, m in rows}


def test_midnight_near_a_segment_end_loses_nothing_on_either_day(demo):
    """Midnight 2, 5, 10 and 15 m before and after the junctions between the alley's first
    three segments (fixes every 5 s at 1.2 m/s; 2 m noise, so the matched position at
    midnight stays on the segment walked even 2 m from its end: what is tested is the
    credit, not the matcher's accuracy). Per segment, the two days' metres add up to the same
    walk's at noon within 1 m; the segment walked over midnight is credited on both days,
    each day near the metres the clock says (old code: the side shorter than the minimum
    credit, ~16 m, was dropped, and the days added up to as much as 15 m less)."""
    net = walk_network(demo)
    legs = _alley_route(demo, net)
    lengths = [abs(b - a) for _, a, b in legs]
    ends = np.cumsum(lengths)
    day1, day2 = dt.date(2026, 1, 31), dt.date(2026, 2, 1)
    midnight = _local("2026-02-01", "00:00:00")
    cases = [(j, off) for j in (0, 1) for off in (-15, -10, -5, -2, 2, 5, 10, 15)]
    for n, (j, off) in enumerate(cases):
        reach = float(ends[j] + off)  # metres from the dead end at midnight
        start = midnight - pd.Timedelta(seconds=reach / SPEED)
        sp = SimParams(
            speed_mps=SPEED, dt_s=5.0, noise_m=2, stops=0, uturns=0, start=start.isoformat()
        )
        pts, _ = simulate_patrol(net, np.random.default_rng(100 + n), sp, legs=legs)
        name = f"j{j}_{off:+d}.csv"
        whole = _upload(demo, pts.assign(time=pts["time"] - pd.Timedelta(hours=12)), "noon_" + name)
        ref = _segment_metres(demo, whole["track_id"])
        _forget(demo, whole["track_id"])
        over = _upload(demo, pts, name)
        got = _segment_metres(demo, over["track_id"])
        assert {d for d, _ in ref} == {day1} and {d for d, _ in got} == {day1, day2}, (name, got)
        for seg in {s for _, s in ref} | {s for _, s in got}:
            both = got.get((day1, seg), 0.0) + got.get((day2, seg), 0.0)
            assert both == pytest.approx(ref.get((day1, seg), 0.0), abs=1.0), (
                name,
                seg,
                sorted(got.items()),
                sorted(ref.items()),
            )
        # the segment walked over midnight: credited on both days, each near the clock's share
        cut = int(net.edge_ids[legs[j + 1 if off > 0 else j][0]])
        clock = (off, lengths[j + 1] - off) if off > 0 else (lengths[j] + off, -off)
        for day, want in zip((day1, day2), clock, strict=True):
            assert (day, cut) in got, (name, day, cut, got)
            assert got[(day, cut)] == pytest.approx(want, abs=5.0), (name, day, got[(day, cut)])


def test_midnight_near_a_segment_end_never_costs_metres_at_5_m_noise(demo):
    """The same walks as above at 5 m noise, six seeds each, matched directly (no upload):
    per segment the two days never hold less than the noon walk (old code: up to 15 m
    less). They may hold more: where the matched path steps back a few metres over midnight
    (noise), each day is credited with what its side of the path covered."""
    net = walk_network(demo)
    legs = _alley_route(demo, net)
    ends = np.cumsum([abs(b - a) for _, a, b in legs])
    midnight = _local("2026-02-01", "00:00:00")
    for j in (0, 1):
        for off in (-15, -10, -5, -2, 2, 5, 10, 15):
            for seed in range(6):
                start = midnight - pd.Timedelta(seconds=float(ends[j] + off) / SPEED)
                sp = SimParams(
                    speed_mps=SPEED, dt_s=5.0, noise_m=5, stops=0, uturns=0, start=start.isoformat()
                )
                pts, _ = simulate_patrol(net, np.random.default_rng(seed), sp, legs=legs)
                noon = pts.assign(time=pts["time"] - pd.Timedelta(hours=12))
                [ref], got = _day_metres(net, noon), _day_metres(net, pts)
                assert len(got) == 2
                short = ref.sub(pd.concat(got).groupby(level=0).sum(), fill_value=0.0)
                assert (short < 0.5).all(), (j, off, seed, short[short >= 0.5].to_dict())


def _day_metres(net: WalkNetwork, pts: pd.DataFrame) -> list[pd.Series]:
    """Per local day (Asia/Shanghai), metres credited per edge (match_by_day)."""
    found = match_by_day(net, [clean_track(pts, CleanParams())], MatchParams(), "Asia/Shanghai")
    return [r.edges.set_index("edge_id")["covered_m"] for _, r in found[0].days]


def _grid_walk_over_midnight(reach_m: float, dt_s: float = 3.0, seed: int = 0) -> pd.DataFrame:
    """A walk east along the grid's bottom row (h0_0, h0_1, h0_2: 300 m, junctions at 100
    and 200 m), a fix every ``dt_s`` at 1.3 m/s with 3 m noise, at local midnight
    (Asia/Shanghai) ``reach_m`` from its start."""
    pts = _walk(np.array([(0, 0), (300, 0)]), dt=dt_s, noise=3.0, seed=seed)
    t0 = _local("2026-02-01", "00:00:00") - pd.Timedelta(seconds=reach_m / 1.3)
    return pts.assign(time=t0 + (pts["time"] - pts["time"].iloc[0]))


def _by_day(net: WalkNetwork, pts: pd.DataFrame, **clean: float):
    return match_by_day(
        net, [clean_track(pts, CleanParams(**clean))], MatchParams(), "Asia/Shanghai"
    )[0]


def test_the_step_over_midnight_is_cut_where_the_walker_was():
    """match_by_day on a generated grid: the walk is matched whole and its step over midnight
    cut along the matched path; the days' stretches meet, add up to the noon walk's per edge
    (to the micrometre), the first day's visits end 1 µs before midnight and the second's
    start at it, and the fixes are counted on their own day. Midnight 4 m either side of a
    junction: the 4 m are credited on their day (the minimum credit is ~16 m here). A fix
    exactly at midnight is the second day's; a gap over midnight longer than the cleaner's gap
    threshold is not bridged."""
    net = WalkNetwork.from_segments(_grid_network())
    midnight = _local("2026-02-01", "00:00:00")
    day1, day2 = dt.date(2026, 1, 31), dt.date(2026, 2, 1)
    for reach, cut_edge, clock in (
        (150.0, "h0_1", 50.0),
        (104.0, "h0_1", 4.0),
        (196.0, "h0_1", 96.0),
    ):
        pts = _grid_walk_over_midnight(reach)
        noon = _by_day(net, pts.assign(time=pts["time"] - pd.Timedelta(hours=12)))
        over = _by_day(net, pts)
        assert [d for d, _ in noon.days] == [day1] and [d for d, _ in over.days] == [day1, day2]
        ref = noon.days[0][1].edges.set_index("edge_id")["covered_m"]
        (_, first), (_, second) = over.days
        a, b = (r.edges.set_index("edge_id") for r in (first, second))
        both = a["covered_m"].add(b["covered_m"], fill_value=0.0)
        pd.testing.assert_series_equal(
            both.sort_index(), ref.sort_index(), check_names=False, atol=1e-6
        )
        # the edge walked over midnight: on both days, meeting where the walker was
        assert a.loc[cut_edge, "last_time"] == midnight - pd.Timedelta(microseconds=1)
        assert b.loc[cut_edge, "first_time"] == midnight
        assert (a["last_time"] < midnight).all() and (b["first_time"] >= midnight).all()
        iv1, iv2 = (r.intervals[r.intervals["edge_id"] == cut_edge] for r in (first, second))
        assert iv1["end_fraction"].max() == pytest.approx(iv2["start_fraction"].min(), abs=1e-9)
        at = iv1["end_fraction"].max() * 100.0
        assert at == pytest.approx(clock, abs=4.0), (reach, at)
        assert a.loc[cut_edge, "covered_m"] > 0 and b.loc[cut_edge, "covered_m"] > 0
        # fixes on their own day; the counts are the walk's
        before = int((pts["time"] < midnight).sum())
        assert over.fixes == [
            (before, first.matched_points),
            (len(pts) - before, second.matched_points),
        ]
        assert over.total_points == noon.total_points == len(pts)

    # a fix exactly at midnight (13 m apart: every fix is a step of the matcher), 4-17 m past
    # the junction: the second day's first fix; the first day ends 1 µs before midnight and
    # is credited with its few metres of h0_1 too
    pts = _grid_walk_over_midnight(104.0, dt_s=10.0)
    i = int((pts["time"] < midnight).sum())
    pts.loc[i, "time"] = midnight
    over = _by_day(net, pts)
    (_, first), (_, second) = over.days
    assert first.edges["last_time"].max() == midnight - pd.Timedelta(microseconds=1)
    assert second.edges["first_time"].min() == midnight
    assert over.fixes[0][0] == i and over.fixes[1][0] == len(pts) - i
    short = first.edges.set_index("edge_id").loc["h0_1", "covered_m"]
    assert 0 < short < 16, short

    # a 6 min gap over midnight: the cleaner makes two pieces, and nothing joins them
    pts = _grid_walk_over_midnight(150.0)
    late = pts["time"] >= midnight
    pts = pts.assign(time=pts["time"].where(~late, pts["time"] + pd.Timedelta(minutes=6)))
    over = _by_day(net, pts, stay_radius_m=0)
    (_, first), (_, second) = over.days
    assert over.pieces == 2
    assert first.edges["last_time"].max() <= pts.loc[~late, "time"].max()
    assert second.edges["first_time"].min() >= pts.loc[late, "time"].min()
