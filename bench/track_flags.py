"""Flags on untrustworthy walks (geo.track_flags): false flags on real and honest simulated
tracks, the share of simulated cheats caught, and speed; beside "no flags (today)".

    python bench/track_flags.py            # everything (a few minutes on a shared core)
    python bench/track_flags.py --quick    # fewer simulated walks

Real tracks are read in place from ../shared/data (GeoLife, Garmin and gpxpy files are never
copied). GeoLife files of users with labels are cut into their labelled stretches (labels are
by time, not by file), so a walk is judged as a walk and a bus ride as a bus ride; files of
users without labels are judged whole. Lines are the Tsinghua/Wudaokou OSM extract's ways
(where GeoLife is); simulated walks run on the demo network (fixtures/haidian_demo.osm).
Honest simulated walks carry phone-like drifting noise (geo.tracks.simulate.drifting_noise,
τ 30 s, plus 1 m white): simulate_patrol's own i.i.d. noise is exactly what a generator adds,
so it is a cheat here, not an honest walk.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import shapely.ops

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"

from geo import track_flags as tf  # noqa: E402
from geo.crs import metric_crs_for_points  # noqa: E402
from geo.tracks.network import WalkNetwork  # noqa: E402
from geo.tracks.parse import parse_track, read_geolife_plt  # noqa: E402
from geo.tracks.simulate import drifting_noise, random_route  # noqa: E402

CODES = tf.CODES


def network(path: Path) -> WalkNetwork:
    from geo.network import split_segments
    from geo.osm import read_osm

    segs = split_segments(read_osm(path).ways).rename(columns={"uid": "edge_id"})
    return WalkNetwork.from_segments(segs, ubodt_delta_m=0)


def epoch(times: pd.Series) -> np.ndarray:
    t = pd.to_datetime(times, utc=True)
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


# ------------------------------------------------------------------ real tracks
def geolife_tracks(net: WalkNetwork) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(group, name, xy, t): labelled stretches by mode, unlabelled users' files whole."""
    root = DATA / "geolife_beijing_sample" / "Data"
    out = []
    for user in sorted(root.iterdir()):
        labels = None
        if (user / "labels.txt").exists():
            labels = pd.read_csv(user / "labels.txt", sep="\t")
            labels["a"] = pd.to_datetime(labels["Start Time"], utc=True)
            labels["b"] = pd.to_datetime(labels["End Time"], utc=True)
        for plt in sorted((user / "Trajectory").glob("*.plt")):
            p = read_geolife_plt(plt)
            xy = net.to_metric(p["lon"].to_numpy(), p["lat"].to_numpy())
            t = epoch(p["time"])
            name = f"{user.name}/{plt.stem}"
            if labels is None:
                out.append(("GeoLife unlabelled", name, xy, t))
                continue
            for lab in labels.itertuples():
                m = (p["time"] >= lab.a) & (p["time"] <= lab.b)
                if m.sum() >= tf.FLAG_MIN_FIXES:
                    mode = lab._3
                    out.append((f"GeoLife {mode}", f"{name}@{lab.a:%H:%M}", xy[m], t[m]))
    return out


def gpx_tracks(net: WalkNetwork) -> list[tuple[str, str, np.ndarray, np.ndarray, bool]]:
    """(group, name, xy, t, near_net): the real phone and device files that parse with times;
    ``near_net``: in the network's UTM zone (lines apply), else in their own zone, no lines."""
    out = []
    for folder in ("garmin_connect_beijing", "gpxpy_test_files"):
        for f in sorted((DATA / "gpx_samples" / folder).glob("*.gpx")):
            try:
                p = parse_track(f.read_bytes(), f.name).points
            except Exception:  # no times, a route, no points: nothing to judge
                continue
            ll = p[["lon", "lat"]].to_numpy()
            crs = metric_crs_for_points(ll)
            if crs == net.crs:
                xy, near = net.to_metric(ll[:, 0], ll[:, 1]), True
            else:
                from pyproj import Transformer

                tr = Transformer.from_crs(4326, crs, always_xy=True)
                xy, near = np.column_stack(tr.transform(ll[:, 0], ll[:, 1])), False
            out.append((folder, f.name, xy, epoch(p["time"]), near))
    return out


# ------------------------------------------------------------------ simulated walks
def route_line(net: WalkNetwork, legs: list[tuple[int, float, float]]) -> shapely.LineString:
    parts = []
    for e, a, b in legs:
        c = shapely.get_coordinates(shapely.ops.substring(net.geoms_m[e], min(a, b), max(a, b)))
        parts.append(c[::-1] if a > b else c)
    return shapely.linestrings(np.vstack(parts))


def walk_times(
    rng: np.random.Generator, length: float, dt: float, stops: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """A walker's clock along a route: fixes every ``dt`` s (±0.3 s jitter), pace 1.3 m/s
    ±10 % (the walk's own) drifting ±10 % within the walk, ``stops`` stops of 10–60 s."""
    base = 1.3 * rng.uniform(0.9, 1.1)
    stop_at = np.sort(rng.uniform(0.1, 0.9, stops)) * length
    stop_s = rng.uniform(10, 60, stops)
    times, dist = [0.0], [0.0]
    pace, s, clock, k = base, 0.0, 0.0, 0
    while s < length:
        step = max(0.5, dt + rng.uniform(-0.3, 0.3))
        pace = np.clip(pace + rng.normal(0, 0.02), 0.9 * base, 1.1 * base)
        if k < stops and s >= stop_at[k]:
            clock += stop_s[k]
            k += 1
        s = min(length, s + pace * step)
        clock += step
        times.append(clock)
        dist.append(s)
    return np.asarray(times), np.asarray(dist)


def honest_walk(
    net: WalkNetwork, rng: np.random.Generator, legs, sigma: float, dt: float, t0: float
) -> tuple[np.ndarray, np.ndarray]:
    line = route_line(net, legs)
    ts, d = walk_times(rng, line.length, dt, int(rng.integers(0, 4)))
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    xy = xy + drifting_noise(rng, len(xy), sigma, dt) + rng.normal(0, 1.0, xy.shape)
    return xy, t0 + ts


def nudge(rng: np.random.Generator, xy: np.ndarray, lo: float = 2.0, hi: float = 5.0):
    r, a = rng.uniform(lo, hi, len(xy)), rng.uniform(0, 2 * np.pi, len(xy))
    return xy + np.column_stack([r * np.cos(a), r * np.sin(a)])


def resampled(xy: np.ndarray, t: np.ndarray, step: float, start: float):
    """Another app's export: the same (noisy) positions read every ``step`` s."""
    q = np.arange(t[0] + 0.7, t[-1], step)
    return np.column_stack([np.interp(q, t, xy[:, 0]), np.interp(q, t, xy[:, 1])]), q - t[0] + start


def generated(net, rng, legs, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """A track generated from the network: the route's centreline at 1.3 m/s, every dt s."""
    line = route_line(net, legs)
    d = np.arange(0, line.length, 1.3 * dt)
    return shapely.get_coordinates(shapely.line_interpolate_point(line, d)), d / 1.3


def steady_walk(
    line: shapely.LineString,
    rng: np.random.Generator,
    speed: float,
    t0: float,
    stops: tuple[tuple[float, float], ...] = (),
    sigma: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """T53's steady walker (N5): a fix every second, each second's pace ``speed`` ± 0.05 m/s
    drawn afresh (no drift: the same pace every day), a good phone (σ drifting, τ 60 s, plus
    1 m white); ``stops``: (metres along, seconds) where it stands still, the phone on."""
    todo = sorted(stops)
    s, d = 0.0, [0.0]
    while s < line.length:
        if todo and s >= todo[0][0]:
            d += [s] * int(todo.pop(0)[1])
        s = min(line.length, s + max(0.6, speed + rng.normal(0, 0.05)))
        d.append(s)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, np.asarray(d)))
    xy = xy + drifting_noise(rng, len(d), sigma, 1.0, tau=60.0) + rng.normal(0, 1.0, xy.shape)
    return xy, t0 + np.arange(len(d), dtype=float)


def fresh_noise(rng: np.random.Generator, xy: np.ndarray) -> np.ndarray:
    """T53's copies: phone-like drifting noise drawn afresh (σ 5 m, τ 60 s, every 2 s)."""
    return xy + drifting_noise(rng, len(xy), 5.0, 2.0, tau=60.0) + rng.normal(0, 1.0, xy.shape)


def wandering(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """T53's r28_p4_warp: the times played at a pace drifting within 0.85-1.15."""
    f = np.clip(1.0 + np.cumsum(rng.normal(0, 0.03, len(t) - 1)), 0.85, 1.15)
    return t[0] + np.concatenate([[0.0], np.cumsum(np.diff(t) * f)])


DAY = 86400.0
T0 = pd.Timestamp("2026-11-18T01:00:00Z").timestamp()


# ------------------------------------------------------------------ the run
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_sim = 12 if args.quick else 40
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores shared (load {load:.1f}); "
        f"Python {platform.python_version()}; single-threaded"
    )
    real_net = network(DATA / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    demo = network(REPO / "fixtures" / "haidian_demo.osm")
    real_lines, demo_lines = list(real_net.geoms_m), list(demo.geoms_m)
    rng = np.random.default_rng(52)

    # ---- false flags: real tracks, each on its own
    flagged: dict[str, Counter] = defaultdict(Counter)
    total: Counter = Counter()
    examples: dict[tuple[str, str], str] = {}
    walks_s, walks_n = 0.0, 0
    stats: dict[str, list] = defaultdict(list)

    def judge(group: str, name: str, xy, t, lines) -> None:
        nonlocal walks_s, walks_n
        a = time.perf_counter()
        flags = tf.walk_flags(xy, t, lines)
        walks_s += time.perf_counter() - a
        walks_n += 1
        total[group] += 1
        for f in flags:
            flagged[group][f.code] += 1
            examples.setdefault((group, f.code), f"{name}: {f.message()}")
        st = tf.steady_stretch(*tf._prep(xy, t))
        if st is not None:
            stats[f"steady {group}"].append(st[0])
        if lines:
            share, pairs, r, spread, med_dt = tf.line_stats(*tf._prep(xy, t), lines)
            stats[f"centre {group}"].append(share)
            if pairs >= tf.WN_MIN_PAIRS and med_dt <= tf.WN_MAX_DT_S and spread >= 2:
                stats[f"lag1 {group}"].append(r)

    geo = geolife_tracks(real_net)
    for group, name, xy, t in geo:
        judge(group, name, xy, t, real_lines)
    for group, name, xy, t, near in gpx_tracks(real_net):
        judge(group, name, xy, t, real_lines if near else [])
    for sigma in (5.0, 10.0, 20.0):
        for _ in range(n_sim):
            legs = random_route(demo, rng, float(rng.uniform(800, 2500)))
            xy, t = honest_walk(demo, rng, legs, sigma, float(rng.integers(1, 11)), T0)
            judge(f"simulated honest σ {sigma:g} m", "sim", xy, t, demo_lines)

    print("\n[1] false flags on real and honest simulated tracks (tracks flagged / tracks)")
    head = f"  {'group':34s} {'n':>4s} " + " ".join(f"{c:>13s}" for c in CODES[2:])
    print(head + f" {'no flags (today)':>17s}")
    for group in sorted(total):
        row = " ".join(f"{flagged[group][c]:>13d}" for c in CODES[2:])
        print(f"  {group:34s} {total[group]:>4d} {row} {0:>17d}")
    for (group, code), text in sorted(examples.items()):
        print(f"    e.g. {group} {code}: {text[:170]}")
    print("\n  the figures the thresholds stand on (min / 5th pct / median over tracks):")
    for key in sorted(stats):
        v = np.asarray(stats[key], dtype=float)
        v = v[np.isfinite(v)]
        if len(v):
            print(
                f"    {key:44s} n={len(v):4d} min {v.min():.3f} p5 {np.percentile(v, 5):.3f} "
                f"median {np.median(v):.3f} max {v.max():.3f}"
            )

    # ---- false replay/alongside: honest walks of one route on several days
    pairs = copies = 0
    shares = []
    copy_s, copy_n = 0.0, 0
    for i in range(n_sim * 2):
        legs = random_route(demo, rng, float(rng.uniform(400, 2000)))
        sigma = float(rng.choice([3.0, 5.0, 10.0]))
        walks = [
            honest_walk(demo, rng, legs, sigma, float(rng.integers(1, 11)), T0 + k * DAY)
            for k in range(4)
        ]
        for a in range(4):
            others = [tf.OtherWalk(b, "", 1 if i % 2 else b, *walks[b]) for b in range(4) if b != a]
            s = time.perf_counter()
            got = tf.copy_flags(*walks[a], 1, others)
            copy_s += time.perf_counter() - s
            copy_n += len(others)
            pairs += len(others)
            copies += len(got)
            for o in others:
                m = tf.best_match(*walks[a], o.xy, o.t)
                shares.append(m.share if m is not None and m.moved >= tf.COPY_MIN_MOVED_M else 0.0)
    # real repeats: every pair of GeoLife walks whose boxes overlap
    real_pairs = real_copies = real_same = 0
    real_found: list[str] = []
    same_found: list[str] = []
    walks_real = [(n, xy, t) for g, n, xy, t in geo if g in ("GeoLife walk", "GeoLife unlabelled")]
    boxes = [(xy.min(axis=0), xy.max(axis=0)) for _, xy, _ in walks_real]
    for a in range(len(walks_real)):
        for b in range(len(walks_real)):
            if a == b or (boxes[a][1] < boxes[b][0]).any() or (boxes[b][1] < boxes[a][0]).any():
                continue
            na, xa, ta = walks_real[a]
            nb, xb, tb = walks_real[b]
            got = tf.copy_flags(xa, ta, 1, [tf.OtherWalk(b, nb, 2, xb, tb)])
            real_pairs += 1
            same = len(xa) == len(xb) and np.array_equal(xa, xb) and np.array_equal(ta, tb)
            real_same += same
            real_copies += bool(got) and not same
            if got and not same:
                real_found.append(f"{na} vs {nb}: {got[0].message()[:150]}")
            if got and same and len(same_found) < 2:
                same_found.append(f"{na} vs {nb}: {got[0].message()[:150]}")
    # T53 N5: one steward, one route, the same hour and steady pace every day (1-3 % apart),
    # some with stops at the same places every day (a gate, a crossing: 10-60 s, as it comes)
    steady_pairs = steady_copies = 0
    steady_share = []
    for _ in range(n_sim):
        line = route_line(demo, random_route(demo, rng, float(rng.uniform(150, 900))))
        places = tuple(float(x) for x in rng.uniform(0.1, 0.9, int(rng.integers(0, 3))))
        walks = []
        for k in range(5):
            stops = tuple((p * line.length, float(rng.uniform(10, 60))) for p in places)
            speed = 1.30 * (1 + float(rng.uniform(-0.03, 0.03)))
            walks.append(steady_walk(line, rng, speed, T0 + k * DAY, stops))
        for a in range(5):
            others = [tf.OtherWalk(b, "", 1, *walks[b]) for b in range(5) if b != a]
            got = tf.copy_flags(*walks[a], 1, others)
            steady_pairs += len(others)
            steady_copies += len(got)
            for o in others:
                m = tf.best_match(*walks[a], o.xy, o.t)
                steady_share.append(m.share if m is not None else 0.0)
    sh = np.asarray(shares)
    print("\n[2] false replay/alongside flags")
    print(
        f"  simulated: {n_sim * 2} routes × 4 honest walks on 4 days (own pace ±10 %, drifting "
        f"within ±10 %, 0-3 stops of 10-60 s, σ 3/5/10 m drifting noise, 1-10 s): "
        f"{copies} of {pairs} pairs flagged; share within {tf.COPY_TOL_M:g} m at the best "
        f"offset: max {sh.max():.2f}, p99 {np.percentile(sh, 99):.2f} (flag at "
        f"{tf.COPY_MIN_SHARE})"
    )
    ss = np.asarray(steady_share)
    print(
        f"  steady same-hour walker (T53 N5): {n_sim} routes of 150-900 m × 5 days, 1 s fixes, "
        "σ 3 m drifting, pace 1.30 m/s ±3 % a day, 0-2 stops of 10-60 s at the same places: "
        f"{steady_copies} of {steady_pairs} pairs flagged; share within {tf.COPY_TOL_M:g} m at "
        f"the best offset: max {ss.max():.2f}, median {np.median(ss):.2f}"
    )
    print(
        f"  real: {real_copies} of {real_pairs} overlapping pairs of GeoLife walking/unlabelled "
        f"tracks flagged; besides, {real_same} pairs are one file stored under two users (the "
        "same fixes and times: GeoLife's own duplicates), each flagged alongside:"
    )
    for line in same_found + real_found[:6]:
        print(f"    {line}")

    # ---- detection of simulated cheats
    caught: dict[str, list[bool]] = defaultdict(list)
    expect = {}

    def cheat(kind: str, code: str, flags: list[tf.Flag]) -> None:
        expect[kind] = code
        caught[kind].append(any(f.code == code for f in flags))

    for _ in range(n_sim):
        legs = random_route(demo, rng, float(rng.uniform(400, 2000)))
        dt = float(rng.integers(1, 6))
        xy, t = honest_walk(demo, rng, legs, float(rng.choice([3.0, 5.0, 10.0])), dt, T0)
        orig = [tf.OtherWalk(7, "某人 DEMO0001", 1, xy, t)]
        days = float(rng.integers(1, 8)) * DAY + float(rng.integers(0, 120))
        cheat(
            "replay, fresh 2-5 m noise", "replay", tf.copy_flags(nudge(rng, xy), t + days, 1, orig)
        )
        rx, rt = resampled(xy, t, 3.0, t[0] + 7 * DAY)
        cheat("replay, resampled every 3 s", "replay", tf.copy_flags(rx, rt, 1, orig))
        sx, st = nudge(rng, xy), t + 600
        cheat("colleague's copy +10 min, noise", "replay", tf.copy_flags(sx, st, 2, orig))
        cheat(
            "colleague's copy, same times", "alongside", tf.copy_flags(nudge(rng, xy), t, 2, orig)
        )
        ax, at = resampled(xy, t, 2.0, t[0])
        cheat("colleague's copy resampled 2 s", "alongside", tf.copy_flags(ax, at, 2, orig))
        # T53 N2: replays resampled every 2 s with fresh drifting noise, as they are, 10 %
        # slower, at a wandering pace; split by whether the original stood still anywhere
        stops = "original with stops" if (np.diff(t) > 9.5).any() else "original w/o stops"
        qx, qt = resampled(xy, t, 2.0, t[0] + 6 * DAY)
        cheat(
            f"T53 resampled+drift noise, {stops}",
            "replay",
            tf.copy_flags(fresh_noise(rng, qx), qt, 1, orig),
        )
        cheat(
            f"T53 10 % slower+noise, {stops}",
            "replay",
            tf.copy_flags(fresh_noise(rng, qx), qt[0] - DAY + (qt - qt[0]) * 1.1, 1, orig),
        )
        cheat(
            f"T53 wandering pace+noise, {stops}",
            "replay",
            tf.copy_flags(fresh_noise(rng, qx), wandering(rng, qt) - 2 * DAY, 1, orig),
        )
        cheat(
            "replay 10 % slower, resampled 2 s",
            "replay",
            tf.copy_flags(qx, qt[0] - 3 * DAY + (qt - qt[0]) * 1.1, 1, orig),
        )
        # T53 N3: 1.5-3 minutes of a colleague's walk, same times, fresh drifting noise
        a0 = t[0] + float(rng.uniform(0, max(1.0, t[-1] - t[0] - 200)))
        part = (qt - 6 * DAY >= a0) & (qt - 6 * DAY <= a0 + float(rng.uniform(90, 180)))
        cheat(
            "T53 part of a colleague's, same times",
            "alongside",
            tf.copy_flags(fresh_noise(rng, qx[part]), qt[part] - 6 * DAY, 2, orig),
        )
        gx, gt = generated(demo, rng, legs, float(rng.integers(1, 11)))
        cheat("centreline-generated", "on_centreline", tf.walk_flags(gx, T0 + gt, demo_lines))
        for lo, hi, kind in ((1, 6, "1-6 s"), (7, 10, "7-10 s (not judged)")):
            wx, wt = generated(demo, rng, legs, float(rng.integers(lo, hi + 1)))
            wx = wx + rng.normal(0, float(rng.uniform(3, 6)), wx.shape)
            flags = tf.walk_flags(wx, T0 + wt, demo_lines)
            cheat(f"i.i.d. synthetic noise 3-6 m, {kind}", "white_noise", flags)
        # virtual location: straight lines between the route's corners at one speed, 1 s
        line = route_line(demo, legs)
        corners = shapely.get_coordinates(line)[:: max(1, len(shapely.get_coordinates(line)) // 4)]
        straight = shapely.linestrings(corners)
        if straight.length < 300:  # a route that loops back: its own vertices, straight between
            straight = line
        d = np.arange(0, straight.length, 1.3 * rng.uniform(0.8, 1.2))
        vx = shapely.get_coordinates(shapely.line_interpolate_point(straight, d))
        cheat(
            "virtual straight lines",
            "steady_speed",
            tf.walk_flags(vx, T0 + np.arange(len(d)), demo_lines),
        )
        hours = float(rng.uniform(1, 8))
        n = int(hours * 3600 / 5)
        here = shapely.get_coordinates(line.interpolate(0.5, normalized=True))[0] + 10
        px = here + drifting_noise(rng, n, float(rng.uniform(8, 20)), 5.0, tau=120.0)
        px = px + rng.normal(0, 2.0, px.shape)
        cheat(
            "phone left still 1-8 h",
            "stationary",
            tf.walk_flags(px, T0 + 5.0 * np.arange(n), demo_lines),
        )

    print("\n[3] simulated cheats caught (share of walks with the expected flag)")
    print(
        f"  {'cheat':46s} {'flag':14s} {'n':>4s} {'geo.track_flags':>16s} {'no flags (today)':>17s}"
    )
    for kind, got in caught.items():
        print(f"  {kind:46s} {expect[kind]:14s} {len(got):>4d} {np.mean(got):>16.2f} {0.0:>17.2f}")

    print("\n[4] speed")
    print(f"  walk_flags: {walks_n / walks_s:,.0f} walks/s ({walks_n} real and simulated walks)")
    print(f"  copy_flags: {copy_n / copy_s:,.0f} candidate walks/s (honest simulated pairs)")


if __name__ == "__main__":
    main()
