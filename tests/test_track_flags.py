"""Flags on untrustworthy walks (geo.track_flags): each cheat an outside tester (T52) got full
credit with is flagged with its code and a Chinese-first sentence; real phone tracks and
honest simulated walks (one route on several days too) are not. No database: the lines are
the demo network's (fixtures/haidian_demo.osm), the real tracks are read in place."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.ops

from geo import track_flags as tf
from geo.errors import reads_chinese_first
from geo.tracks.network import WalkNetwork
from geo.tracks.parse import parse_track, read_geolife_plt
from geo.tracks.simulate import drifting_noise, random_route
from tests.conftest import FIXTURES

DAY = 86400.0
T0 = pd.Timestamp("2026-11-18T00:02:00Z").timestamp()  # 11-18 08:02 in Beijing


@pytest.fixture(scope="module")
def demo() -> WalkNetwork:
    from geo.network import split_segments
    from geo.osm import read_osm

    segs = split_segments(read_osm(FIXTURES / "haidian_demo.osm").ways)
    return WalkNetwork.from_segments(segs.rename(columns={"uid": "edge_id"}), ubodt_delta_m=0)


def _line(net: WalkNetwork, rng: np.random.Generator, length: float) -> shapely.LineString:
    parts = []
    for e, a, b in random_route(net, rng, length):
        c = shapely.get_coordinates(shapely.ops.substring(net.geoms_m[e], min(a, b), max(a, b)))
        parts.append(c[::-1] if a > b else c)
    return shapely.linestrings(np.vstack(parts))


def _honest(rng, line, sigma=5.0, dt=3.0, t0=T0):
    """A walker on ``line``: own pace 1.3 m/s ±10 % drifting ±10 %, 0-3 stops of 10-60 s,
    a fix every dt s (±0.3), drifting phone noise σ plus 1 m white."""
    base = 1.3 * rng.uniform(0.9, 1.1)
    stops = sorted(rng.uniform(0.1, 0.9, int(rng.integers(0, 4))) * line.length)
    t, d, pace, s, clock = [0.0], [0.0], base, 0.0, 0.0
    while s < line.length:
        step = dt + rng.uniform(-0.3, 0.3)
        pace = float(np.clip(pace + rng.normal(0, 0.02), 0.9 * base, 1.1 * base))
        if stops and s >= stops[0]:
            stops.pop(0)
            clock += rng.uniform(10, 60)
        s, clock = min(line.length, s + pace * step), clock + step
        t.append(clock)
        d.append(s)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, np.asarray(d)))
    xy = xy + drifting_noise(rng, len(xy), sigma, dt) + rng.normal(0, 1.0, xy.shape)
    return xy, t0 + np.asarray(t)


def _nudged(rng, xy, lo=2.0, hi=5.0):
    r, a = rng.uniform(lo, hi, len(xy)), rng.uniform(0, 2 * np.pi, len(xy))
    return xy + np.column_stack([r * np.cos(a), r * np.sin(a)])


def _generated(line, dt, speed=1.3):
    d = np.arange(0.0, line.length, speed * dt)
    return shapely.get_coordinates(shapely.line_interpolate_point(line, d)), T0 + d / speed


def _codes(flags):
    return [f.code for f in flags]


def _chinese_first(flags, start: str):
    for f in flags:
        assert f.zh.startswith(start), f.zh
        assert reads_chinese_first(f.message()), f.message()
        assert f.message() == f"{f.zh} {f.en}"
        assert f.as_json() == {"code": f.code, "message": f.message(), "other_track": f.other_track}


# ---------------------------------------------------------------- copies
def test_a_replay_with_fresh_noise_names_the_track_and_the_offset(demo):
    rng = np.random.default_rng(1)
    xy, t = _honest(rng, _line(demo, rng, 700))
    stored = [tf.OtherWalk(37, "朱秀霞 DEMO0014", 14, xy, t)]
    flags = tf.copy_flags(_nudged(rng, xy), t + 7 * DAY, 14, stored)
    assert _codes(flags) == ["replay"] and flags[0].other_track == 37
    _chinese_first(flags, "与轨迹 37（朱秀霞 DEMO0014，11-18 08:02）路线和节奏相同，时间相差 7 天")
    assert "7 d later" in flags[0].en
    # a colleague's walk re-sent a week and 37 s later by another person: a replay too
    flags = tf.copy_flags(_nudged(rng, xy), t + 7 * DAY + 37, 54, stored)
    assert _codes(flags) == ["replay"] and "时间相差 7 天 37 秒" in flags[0].zh


def test_another_apps_export_of_a_stored_walk_is_a_replay(demo):
    rng = np.random.default_rng(2)
    xy, t = _honest(rng, _line(demo, rng, 900), dt=2.0)
    q = np.arange(t[0] + 0.7, t[-1], 3.0)  # the same positions read every 3 s
    copy = np.column_stack([np.interp(q, t, xy[:, 0]), np.interp(q, t, xy[:, 1])])
    flags = tf.copy_flags(copy, q + 7 * DAY, 42, [tf.OtherWalk(33, "", 42, xy, t)])
    assert _codes(flags) == ["replay"] and flags[0].other_track == 33
    _chinese_first(flags, "与轨迹 33（11-18 08:02）路线和节奏相同")


def test_a_colleagues_walk_at_the_same_times_is_alongside_and_ten_minutes_later_a_replay(demo):
    rng = np.random.default_rng(3)
    xy, t = _honest(rng, _line(demo, rng, 800))
    stored = [tf.OtherWalk(37, "朱秀霞 DEMO0014", 14, xy, t)]
    flags = tf.copy_flags(_nudged(rng, xy), t, 54, stored)
    assert _codes(flags) == ["alongside"] and flags[0].other_track == 37
    _chinese_first(flags, "与轨迹 37（朱秀霞 DEMO0014，11-18 08:02）同时同路")
    # co-held alleys: the second holder's copy has no person on either side known: flagged
    assert _codes(tf.copy_flags(_nudged(rng, xy), t, None, stored)) == ["alongside"]
    # the same person's walk from two apps at once is not "alongside"
    assert tf.copy_flags(_nudged(rng, xy), t, 14, stored) == []
    flags = tf.copy_flags(_nudged(rng, xy), t + 600, 54, stored)
    assert _codes(flags) == ["replay"] and "时间相差 10 分钟（本轨迹晚）" in flags[0].zh


def test_honest_walks_of_one_route_on_several_days_are_not_copies(demo):
    rng = np.random.default_rng(4)
    for _ in range(5):
        line = _line(demo, rng, float(rng.uniform(400, 1500)))
        sigma, dt = float(rng.choice([3.0, 5.0])), float(rng.integers(1, 6))
        walks = [_honest(rng, line, sigma, dt, T0 + k * DAY) for k in range(3)]
        for a in range(3):
            others = [tf.OtherWalk(b, "", 1 if b % 2 else 2, *walks[b]) for b in range(3) if b != a]
            assert tf.copy_flags(*walks[a], 1, others) == []


def test_a_short_or_unrelated_walk_is_no_copy(demo):
    rng = np.random.default_rng(5)
    xy, t = _honest(rng, _line(demo, rng, 900))
    other, ot = _honest(rng, _line(demo, rng, 900))
    assert tf.copy_flags(xy, t, 1, [tf.OtherWalk(9, "", 2, other, ot)]) == []
    # two minutes of a copy: too short to call
    head = t <= t[0] + 100
    assert (
        tf.copy_flags(_nudged(rng, xy[head]), t[head] + DAY, 1, [tf.OtherWalk(9, "", 2, xy, t)])
        == []
    )


def _fresh(rng, xy, dt=3.0):
    """Phone-like noise drawn afresh on a copy (T53): σ 5 m drifting, τ 60 s, plus 1 m."""
    return xy + drifting_noise(rng, len(xy), 5.0, dt, tau=60.0) + rng.normal(0, 1.0, xy.shape)


def _steady(rng, line, speed, t0):
    """T53's steady walker (N5): a fix a second, each second's pace ``speed`` ± 0.05 m/s
    afresh, a good phone (σ 3 m drifting, τ 60 s, plus 1 m)."""
    d = np.minimum(np.cumsum(np.maximum(0.6, speed + rng.normal(0, 0.05, 2000))), line.length)
    d = np.concatenate([[0.0], d[: int(np.searchsorted(d, line.length)) + 1]])
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    xy = xy + drifting_noise(rng, len(d), 3.0, 1.0, tau=60.0) + rng.normal(0, 1.0, xy.shape)
    return xy, t0 + np.arange(len(d), dtype=float)


def test_a_steady_walker_on_one_alley_every_morning_is_no_replay(demo):
    """T53 N5: one steward, one alley, 09:00 every day at one steady pace (1-3 % apart):
    yesterday's walk lies within 8 m for most of today's, but the distances are two phones'
    drifting errors, not what a copy leaves (the same fixes, or noise drawn afresh on each
    fix)."""
    rng = np.random.default_rng(53)
    for _ in range(3):
        line = _line(demo, rng, float(rng.uniform(300, 700)))
        days = [_steady(rng, line, 1.30 * rng.uniform(0.97, 1.03), T0 + k * DAY) for k in range(5)]
        for a in range(5):
            others = [tf.OtherWalk(b, "", 25, *days[b]) for b in range(5) if b != a]
            assert tf.copy_flags(*days[a], 25, others) == [], a


def test_a_replay_played_slower_or_faster_is_a_replay(demo):
    """T53 N2 in part: a stored walk played 10 % slower (or 8 % faster), resampled every 2 s
    or with fresh 2-5 m noise on each fix, lines up at a free pace scale. (With fresh
    DRIFTING noise it is not told from an honest walk: see test_a_steady_walker…)"""
    rng = np.random.default_rng(28)
    xy, t = _honest(rng, _line(demo, rng, 800), dt=3.0)
    stored = [tf.OtherWalk(32, "孙兰 DEMO0028", 28, xy, t)]
    q = np.arange(t[0] + 0.4, t[-1], 2.0)
    copy = np.column_stack([np.interp(q, t, xy[:, 0]), np.interp(q, t, xy[:, 1])])
    for fixes, times, said in (
        (copy, q[0] + 5 * DAY + (q - q[0]) * 1.10, ("整体放慢 10%", "played 10% slower")),
        (_nudged(rng, xy), t[0] + 4 * DAY + (t - t[0]) * 1.10, ("整体放慢 10%", "10% slower")),
        (_nudged(rng, xy), t[0] + 3 * DAY + (t - t[0]) / 1.08, ("整体加快 7%", "7% faster")),
    ):
        flags = tf.copy_flags(fixes, times, 28, stored)
        assert _codes(flags) == ["replay"] and flags[0].other_track == 32
        _chinese_first(flags, "与轨迹 32（孙兰 DEMO0028，11-18 08:02）路线和节奏相同")
        assert said[0] in flags[0].zh and said[1] in flags[0].en, flags[0].message()


def test_a_short_copy_of_a_colleagues_stretch_at_the_same_times_is_alongside(demo):
    """T53 N3: 2.8 minutes of a colleague's walk (the stretch on one's own alleys), at the
    same times, with fresh noise: under the 3 minutes a whole walk needs, but wholly inside
    the colleague's walk at the same seconds."""
    rng = np.random.default_rng(54)
    xy, t = _honest(rng, _line(demo, rng, 900), dt=3.0)
    stored = [tf.OtherWalk(37, "朱秀霞 DEMO0014", 14, xy, t)]
    part = (t >= t[0] + 240) & (t <= t[0] + 410)
    flags = tf.copy_flags(_fresh(rng, xy[part], 3.0), t[part], 54, stored)
    assert _codes(flags) == ["alongside"] and flags[0].other_track == 37
    _chinese_first(flags, "与轨迹 37（朱秀霞 DEMO0014，11-18 08:02）同时同路")
    # the same person's stretch (two apps at once) is nothing to flag
    assert tf.copy_flags(_fresh(rng, xy[part], 3.0), t[part], 14, stored) == []


# ---------------------------------------------------------------- the walk alone
def test_a_track_generated_on_the_centrelines_is_flagged(demo):
    rng = np.random.default_rng(6)
    xy, t = _generated(_line(demo, rng, 600), 5.0)
    flags = tf.walk_flags(xy, t, list(demo.geoms_m))
    assert set(_codes(flags)) == {"on_centreline", "steady_speed"}
    _chinese_first(
        [f for f in flags if f.code == "on_centreline"], "100% 的定位点落在街巷中线 0.5 米以内"
    )
    _chinese_first([f for f in flags if f.code == "steady_speed"], "有 ")


def test_synthetic_white_noise_is_flagged(demo):
    rng = np.random.default_rng(7)
    xy, t = _generated(_line(demo, rng, 700), 5.0)
    flags = tf.walk_flags(xy + rng.normal(0, 4.0, xy.shape), t, list(demo.geoms_m))
    assert _codes(flags) == ["white_noise"]
    _chinese_first(flags, "定位点偏离中线的偏差逐点独立")


def test_straight_virtual_location_lines_are_a_steady_speed(demo):
    corners = (
        np.array([[0.0, 0.0], [300.0, 0.0], [300.0, 250.0], [0.0, 250.0]])
        + demo.geoms_m[0].coords[0]
    )
    xy, t = _generated(shapely.linestrings(corners), 1.0)
    flags = tf.walk_flags(xy, t, list(demo.geoms_m))
    assert "steady_speed" in _codes(flags)
    _chinese_first([f for f in flags if f.code == "steady_speed"], "有 ")
    assert "1.30 米/秒" in flags[0].zh


def test_a_phone_left_at_home_for_eight_hours_is_stationary(demo):
    rng = np.random.default_rng(8)
    n = 8 * 720
    xy = np.array(demo.geoms_m[5].coords[0]) + 12 + drifting_noise(rng, n, 15.0, 5.0, tau=120.0)
    t = T0 + 5.0 * np.arange(n)
    flags = tf.walk_flags(xy, t, list(demo.geoms_m))
    assert _codes(flags) == ["stationary"]
    _chinese_first(flags, "8.0 小时内未离开 ")
    assert "（11-18 08:02–16:01）" in flags[0].zh
    # the rule's length is configurable: 9 hours asked, 8 hours seen, nothing flagged
    assert tf.walk_flags(xy, t, list(demo.geoms_m), still_min_s=9 * 3600) == []


def test_honest_simulated_walks_are_not_flagged(demo):
    rng = np.random.default_rng(9)
    lines = list(demo.geoms_m)
    for sigma in (5.0, 10.0, 20.0):
        for dt in (1.0, 3.0, 5.0, 10.0):
            xy, t = _honest(rng, _line(demo, rng, float(rng.uniform(800, 2000))), sigma, dt)
            assert tf.walk_flags(xy, t, lines) == [], (sigma, dt)


# ---------------------------------------------------------------- real tracks
def _metric(net: WalkNetwork, pts: pd.DataFrame):
    t = pd.to_datetime(pts["time"], utc=True)
    secs = ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    return net.to_metric(pts["lon"].to_numpy(), pts["lat"].to_numpy()), secs


def test_real_phone_and_device_files_are_not_flagged(shared_data, demo):
    judged = 0
    for folder in ("garmin_connect_beijing", "gpxpy_test_files"):
        for f in sorted((shared_data / "gpx_samples" / folder).glob("*.gpx")):
            try:
                pts = parse_track(f.read_bytes(), f.name).points
            except Exception:  # no times or no track: nothing to judge
                continue
            beijing = folder == "garmin_connect_beijing"
            # Slovenian files: the time rules only (no lines there; metres in UTM 50 N are
            # stretched, but steady speed and stillness are judged on ratios and 60 m)
            xy, t = _metric(demo, pts)
            assert tf.walk_flags(xy, t, list(demo.geoms_m) if beijing else []) == [], f.name
            judged += 1
    assert judged >= 10


def test_real_geolife_walks_are_not_flagged_nor_copies_of_each_other(shared_data):
    from geo.network import split_segments
    from geo.osm import read_osm

    ways = read_osm(shared_data / "osm_beijing_haidian/tsinghua_wudaokou_2017.osm").ways
    segs = split_segments(ways).rename(columns={"uid": "edge_id"})
    net = WalkNetwork.from_segments(segs, ubodt_delta_m=0)
    lines = list(net.geoms_m)
    walks = []
    for labels in sorted((shared_data / "geolife_beijing_sample" / "Data").glob("*/labels.txt")):
        lab = pd.read_csv(labels, sep="\t")
        lab = lab[lab["Transportation Mode"] == "walk"]
        for plt in sorted((labels.parent / "Trajectory").glob("*.plt")):
            pts = read_geolife_plt(plt)
            for row in lab.itertuples():
                a, b = pd.Timestamp(row[1], tz="UTC"), pd.Timestamp(row[2], tz="UTC")
                part = pts[(pts["time"] >= a) & (pts["time"] <= b)]
                if len(part) >= tf.FLAG_MIN_FIXES:
                    walks.append((f"{plt}@{a}", *_metric(net, part)))
    assert len(walks) >= 30
    for name, xy, t in walks:
        assert tf.walk_flags(xy, t, lines) == [], name
    # one person's walks on other days, or other people's, are no replays of each other.
    # Not compared: stretches holding the same fixes (a labels file may label one stretch
    # twice, and GeoLife stores some files under two users: those ARE flagged alongside)
    others = [tf.OtherWalk(i, "", i, xy, t) for i, (_, xy, t) in enumerate(walks)]
    for i, (name, xy, t) in enumerate(walks[:20]):
        rest = [o for o in others if not np.isin(t, o.t).any()]
        assert tf.copy_flags(xy, t, i, rest) == [], name


def test_the_judging_pre_filter_keeps_the_copies_least_near_the_other_walk(demo):
    """geo.track_judging compares a stored walk only when MIN_NEAR_SHARE of the new walk's
    fixes lie near its path. The copies with the fewest such fixes that are still flagged
    pass it: a whole walk replayed 10 % slower with fresh noise and then walked on elsewhere
    for nearly as long (COPY_MIN_PART: a copy is half the walk or more), resampled or not,
    and a short stretch wholly inside a colleague's walk (the "inside" kind)."""
    from geo.track_judging import MIN_NEAR_SHARE, near_share

    rng = np.random.default_rng(56)
    xy, t = _honest(rng, _line(demo, rng, 700), dt=3.0)
    stored = [tf.OtherWalk(41, "", 7, xy, t)]
    more_xy, more_t = _honest(rng, _line(demo, rng, 800), dt=3.0)
    q = np.arange(t[0] + 0.4, t[-1], 2.0)
    resampled = np.column_stack([np.interp(q, t, xy[:, 0]), np.interp(q, t, xy[:, 1])])
    for fixes, times in ((_nudged(rng, xy), t), (resampled, q)):
        slow = times[0] + 2 * DAY + (times - times[0]) * 1.10
        n = int(len(fixes) * 0.85)  # walked on: 46 % of the fixes, 3 km away
        on_xy = more_xy[:n] + 3000.0
        on_t = slow[-1] + 30.0 + (more_t[:n] - more_t[0])
        walk_xy, walk_t = np.vstack([fixes, on_xy]), np.concatenate([slow, on_t])
        flags = tf.copy_flags(walk_xy, walk_t, 8, stored)
        assert _codes(flags) == ["replay"], flags
        share = near_share(walk_xy, xy)
        assert MIN_NEAR_SHARE <= share < 0.6, share
    part = (t >= t[0] + 240) & (t <= t[0] + 410)
    inside_xy = _fresh(rng, xy[part], 3.0)
    assert _codes(tf.copy_flags(inside_xy, t[part], 8, stored)) == ["alongside"]
    assert near_share(inside_xy, xy) >= MIN_NEAR_SHARE


def test_the_vectorised_medians_are_np_medians_exactly():
    """steady_stretch's windows and best_match's tries take their medians from sorted rows
    (one numpy pass for all, for speed): the same numbers as np.median, to the last bit."""
    rng = np.random.default_rng(7)
    v = rng.gamma(2.0, 0.7, 500)
    v[100:140] = 1.3  # ties
    lo = np.sort(rng.integers(0, 450, 80))
    hi = lo + rng.integers(1, 50, 80)
    med, mad = tf._window_medians(v, lo, hi)
    for a, b, m, d in zip(lo, hi, med, mad, strict=True):
        assert m == np.median(v[a:b]) and d == np.median(np.abs(v[a:b] - m))
    xy, t = rng.normal(0, 5, (200, 2)), np.cumsum(rng.uniform(1, 4, 200))
    ox, ot = xy + rng.normal(0, 4, xy.shape), t + 0.5
    deltas = np.arange(-3.0, 3.1, 0.25)
    centre = float(ot[0] + ot[-1]) / 2.0
    for (n, m), delta in zip(tf._scores(xy, t, ox, ot, deltas, 1.02, centre), deltas, strict=True):
        shared, d = tf._aligned(xy, t, ox, ot, tf._other_time(t, delta, 1.02, centre))
        hit = shared & (d <= tf.COPY_TOL_M)
        assert (n, m) == (int(hit.sum()), -float(np.median(d[hit])))
