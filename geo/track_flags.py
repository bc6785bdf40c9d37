"""Marks on walks that cannot be trusted as patrols: copies of other walks, generated tracks
and a phone left lying still.

An outside tester (T52, a district inspection office) got full patrol credit for eight kinds
of cheat with nothing marking them: a stored walk re-sent with fresh 2–5 m noise on every fix,
or resampled as "another app's export", or a colleague's walk re-noised (at the same times or
10 minutes later), a walk generated on the alleys' centrelines at a constant 1.3 m/s, the same
with i.i.d. 4 m noise, straight "virtual location" lines at a constant speed, and a phone left
at home for 8 hours beside an alley. Exact copies and copies nudged under a metre are refused
at upload (:mod:`geo.walk_digest`); these are the ones that get through. A walk flagged here is
credited as before and marked for the evaluator: each flag says what was seen, with figures,
so a person judges it (an honest walk can, rarely, look like one).

Pure functions (numpy, shapely, pandas; no SQL, no HTTP). Inputs are a track's RAW fixes as
uploaded, projected to metres (n×2) with epoch-second times: cleaning removes exactly the
fixes that tell (a stay's jitter, repeated positions). The thresholds are module constants;
each says why, with the figures that set it (``python bench/track_flags.py`` prints them:
false flags on real GeoLife, Garmin and gpxpy tracks and on simulated honest patrols, and the
share of simulated cheats caught).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

CODES = ("replay", "alongside", "steady_speed", "on_centreline", "white_noise", "stationary")

# ---------------------------------------------------------------- copies (replay, alongside)
# Fixes lying near another walk's at one time offset are WEAK evidence on their own: one
# steward walking one alley at one steady pace every morning lies within 8 m of yesterday's
# walk for 94-98 % of it (T53 N5: 3 of 5 days flagged; bench: simulated steady same-hour
# walkers, σ 3 m drifting, paces 1-3 % apart: 44 of 800 pairs flagged by the old rule, 0 by
# this one). A copy is called on one of three grounds (CopyMatch.kind):
#   "fixes": COPY_MIN_SHARE within COPY_TOL_M at the best offset and pace scale, and the
#     distances are what a copy leaves and two phones never do: under COPY_TINY_M at the
#     median (a resampled or re-timed file: under 1 m; 1,200 simulated honest pairs, steady
#     walkers included: 3.2 m or more), or drawn afresh on each fix, their components' lag-1
#     correlation under COPY_WHITE_R, over consecutive fixes COPY_WHITE_DT_S apart at most
#     (T52's `nudge`: -0.07 to 0.08; the 97 simulated honest pairs that do hold 90 % within
#     8 m, all steady walkers: 0.67 or more; a phone's drift of τ 30 s keeps e^-1/3 = 0.72
#     over 10 s);
#   "same_time": at under ALONGSIDE_S (pace scale 1 ± SAME_TIME_MAX_SCALE) the positions
#     alone say it (two people at one place at the same seconds walked together or copied):
#     COPY_MIN_SHARE within COPY_TOL_M, as before;
#   "inside": a short walk (INSIDE_MIN_S, INSIDE_MIN_MOVED_M) lying wholly within another
#     person's at the same times (|δ| ≤ INSIDE_MAX_DELTA_S, INSIDE_MIN_PART of its fixes
#     shared) with INSIDE_MIN_SHARE within COPY_TOL_M (T53 N3: the 2.8 minutes of a
#     colleague's walk on one's own alleys, σ 5 m noise: 0.82).
# NOT caught: a replay on another day with fresh DRIFTING noise (T53 N2: resampled with σ 5 m
# drifting noise, 10 % slower, at a wandering pace). Its distances are those of two phones,
# so only a pace structure the two walks could not share by chance would tell it, and stops
# are no such thing: a steward stopping at the same gates every day, 10-60 s as it comes,
# matched a copy's stops (place, moment, and length within 20 %) in 6 of 75 simulated pairs
# at thresholds catching 20-25 % of such replays of walks with stops; thresholds flagging
# none of them caught 1-2 of 40 (a rule on stops was tried for T53 and left out).
# WHY 8 m: fresh noise of 2–5 m on every fix (the tester's `nudge`) leaves a copy 2–5 m from
# the original, a resampled copy under 1 m; two honest phones (σ 5 m drifting each) are 7 m
# per axis apart.
COPY_TOL_M = 8.0
COPY_MIN_SHARE = 0.9
COPY_TINY_M = 1.5
COPY_WHITE_R = 0.3
COPY_WHITE_DT_S = 10.0
COPY_WHITE_MIN_PAIRS = 20
# the shared span must be a walk, not a glance: at least this long, this far moved (30-s means,
# so noise does not add metres), and this share of the new walk's fixes (a copy cut short is
# a copy; a walk that only passes through a stretch of another is not)
COPY_MIN_S = 180.0
COPY_MIN_MOVED_M = 150.0
COPY_MIN_PART = 0.5
# δ and the pace scale are found by votes: every pair of fixes (new, other) within VOTE_M
# votes, for each scale in COPY_SCALES (the new walk's seconds per second of the other: a
# replay played 10 % slower is 1.10), for the offset at the other walk's middle, in VOTE_BIN_S
# bins; the VOTE_CANDIDATES best are refined (offset ±REFINE_S by 1.5 s, scale ±0.02 by
# 0.005, offset ±1.5 s by 0.25 s). Scale 1 is kept when it explains COPY_SCALE_ONE of the
# fixes the best scale does. WHY 15 m: a copy with 5 m noise has its original fix within 5 m;
# 15 m also pairs a resampled copy's fixes with the original's on either side at walking pace
# (3 s × 1.35 m/s); wider pairs honest walks of other routes.
VOTE_M = 15.0
VOTE_BIN_S = 10.0
VOTE_CANDIDATES = 3
REFINE_S = 15.0
COPY_SCALES = np.round(np.arange(0.80, 1.2501, 0.02), 3)
COPY_SCALE_ONE = 0.97
SAME_TIME_MAX_SCALE = 0.03
# interpolating the other walk across a gap longer than this says nothing about where it was
COPY_MAX_GAP_S = 60.0
# at most this many fixes of the new walk are compared (evenly spread), at most VOTE_OTHER of
# the other's vote (it is interpolated in full): called against tens of candidates per upload
COPY_SAMPLE = 200
VOTE_OTHER = 2000
# the inside rule (see above). WHY 0.7: two people really walking together with σ 6 m phones
# each hold 0.36 (T53's together_s2/s36); 60 s and 50 m: an alley of 80 m walked
INSIDE_MAX_DELTA_S = 10.0
INSIDE_MIN_PART = 0.95
INSIDE_MIN_S = 60.0
INSIDE_MIN_MOVED_M = 50.0
INSIDE_MIN_SHARE = 0.7
# |δ| under this: the same time, so "alongside" (walking together, or a copy at the same
# times), flagged only between different people; at least this: "replay" (any person)
ALONGSIDE_S = 60.0

# ---------------------------------------------------------------- steady speed
# A stretch of at least STEADY_MIN_S over which step speeds (metres between consecutive fixes
# over their seconds) vary by under STEADY_MAX_CV (robust: 1.4826 × MAD / median), at a median
# of at least STEADY_MIN_SPEED. WHY: a generator or a virtual-location app moves a point at one
# speed (the tester's files and simulated ones: 0.0 %). Real tracks never come near 2 %: the
# steadiest 3 minutes of a labelled GeoLife walk vary by 6.3 %, of a bike ride 4.9 %, of a bus
# 7.1 %, of a Garmin run 3.4 %, of a gpxpy test file 3.2 % (bench); honest simulated walks
# 8.9 %. Limit: a generator writing 6 decimals (±5 cm) at 1 s adds ~3.5 % and escapes.
STEADY_MIN_S = 180.0
STEADY_MAX_CV = 0.02
STEADY_MIN_SPEED = 0.5
STEADY_MIN_STEPS = 20  # a window of fewer steps says little (a 5-s file: 36 in 3 minutes)
STEADY_MAX_DT_S = 30.0

# ---------------------------------------------------------------- on the centreline
# CENTRE_MIN_SHARE of the fixes within CENTRE_M of a street centreline. WHY: a track generated
# from the network's geometry lies on it to the centimetre (the tester's fab45: 100 %), while
# phones scatter 3–15 m and walkers keep to one side: a GeoLife track has at most 14.6 % of
# its fixes within 0.5 m of the OSM ways (median 2.5 % for walks), an honest simulated walk at
# most 24 % (σ 5 m). An app that snaps to ITS map is metres off ours; one snapping to the
# same OSM ways would be flagged (the sentence says what was seen).
CENTRE_M = 0.5
CENTRE_MIN_SHARE = 0.9
FLAG_MIN_FIXES = 20  # fewer fixes: too few to judge any rule on
CENTRE_MIN_EXTENT_M = 50.0  # a phone lying still on a line is "stationary", not generated

# ---------------------------------------------------------------- white noise
# The lag-1 autocorrelation of the fixes' signed offsets from their nearest centreline (pairs
# of consecutive fixes on the same line, WN_MAX_DT_S apart at most, within WN_NEAR_M of it)
# under WN_MAX_R, when the offsets spread by at least WN_MIN_SPREAD_M over at least
# WN_MIN_PAIRS pairs. WHY: a phone's error drifts (satellites and multipath change over tens
# of seconds), so consecutive fixes share most of it: GeoLife tracks 0.61–0.99 (walks 0.75 or
# more), a Garmin log 0.79, the tester's honest files 0.47–0.91, honest simulated walks (σ 5–20
# m drifting, τ 30 s, at 1–6 s) 0.51 or more; noise drawn afresh per fix gives 0 (±0.15 at 40
# pairs; bench: 97 % of such walks at 1–6 s caught). WHY 6 s: at 7–10 s a drift of τ 30 s keeps
# less (e^-1/3), and 2 of 120 honest simulated walks fell to 0.28: sparser walks are not judged.
# A spread under 2 m is the centreline rule's business.
WN_MAX_R = 0.3
WN_MIN_SPREAD_M = 2.0
WN_MAX_DT_S = 6.0
WN_NEAR_M = 25.0
WN_MIN_PAIRS = 40

# ---------------------------------------------------------------- stationary
# At least STILL_MIN_S in which STILL_SHARE of the fixes stay within STILL_RADIUS_M of their
# median, minute means moving at a median under STILL_MAX_SPEED, no gap over STILL_MAX_GAP_S.
# WHY 60 m: a phone lying still wanders with its error (the tester's σ 20 m drift: 95 % within
# 46 m in a typical half hour, 76 m at worst; simulated stays of σ 8–25 m caught 50 of 50 at
# 60 m, 48 at 50 m), while at 100 m 2 labelled GeoLife walks and 3 bike rides were flagged
# (0 of 181 labelled stretches at 60 m). WHY the speed too: walking up and down one alley for
# 40 minutes (the tester's tg5) stays within 96–104 m, but its minute means move at ~1.3 m/s;
# a still phone's (σ 20 m, τ 120 s) at ~0.35. 95 % of fixes, so a few jumps do not break a
# stay. 30 minutes: the tester's own figure. A lunch break with the phone on is flagged too
# (the sentence says when), and so are 15 of 45 whole-day GeoLife logs (hours indoors).
STILL_MIN_S = 1800.0
STILL_RADIUS_M = 60.0
STILL_SHARE = 0.95
STILL_MAX_GAP_S = 600.0
STILL_STEP_S = 60.0
STILL_MAX_SPEED = 0.7


@dataclass(frozen=True)
class Flag:
    """One reason to doubt a walk: ``code`` (one of CODES), the sentence in Chinese (``zh``)
    and in English (``en``), with the figures, and the walk it copies or went alongside.
    (``stationary`` is for the bench and the file-level check only: the store keeps none, as
    the cleaner takes a still phone out before matching; see geo.track_judging.)"""

    code: str
    zh: str
    en: str
    other_track: int | None = None

    def message(self) -> str:
        return f"{self.zh} {self.en}"

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message(), "other_track": self.other_track}


@dataclass(frozen=True)
class OtherWalk:
    """A stored walk a new one may copy or go alongside: its raw fixes in the new walk's
    metric CRS, times in epoch seconds (ascending), and who walked it (``who_zh``: name and
    registry id, e.g. "朱秀霞 DEMO0014"; "" if nobody)."""

    track_id: int
    who_zh: str
    person_id: int | None
    xy: np.ndarray
    t: np.ndarray


# ================================================================= helpers
def _prep(xy: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite fixes sorted by time (stable: a file's order among equal times)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(t, dtype=np.float64).ravel()
    ok = np.isfinite(xy).all(axis=1) & np.isfinite(t)
    xy, t = xy[ok], t[ok]
    order = np.argsort(t, kind="stable")
    return xy[order], t[order]


def _moved_m(xy: np.ndarray, t: np.ndarray, bin_s: float = 30.0) -> float:
    """Metres moved along 30-second means of the fixes: a walk's length without its noise
    (fix-to-fix sums make a still phone "walk" kilometres)."""
    if len(t) < 2:
        return 0.0
    b = np.floor((t - t[0]) / bin_s).astype(np.int64)
    _, inv, cnt = np.unique(b, return_inverse=True, return_counts=True)
    mx = np.bincount(inv, xy[:, 0]) / cnt
    my = np.bincount(inv, xy[:, 1]) / cnt
    return float(np.hypot(np.diff(mx), np.diff(my)).sum())


def _minutes(seconds: float) -> tuple[str, str]:
    """A duration for the sentences: "12.5 分钟" / "12.5 min", hours from 90 minutes on."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} 小时", f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} 分钟", f"{seconds / 60:.1f} min"


def _offset(delta: float) -> tuple[str, str]:
    """A time offset in whole days, hours, minutes and seconds: "7 天 37 秒" / "7 d 37 s"."""
    s = int(round(abs(delta)))
    parts = [
        (s // 86400, "天", "d"),
        (s % 86400 // 3600, "小时", "h"),
        (s % 3600 // 60, "分钟", "min"),
        (s % 60, "秒", "s"),
    ]
    kept = [(n, zh, en) for n, zh, en in parts if n] or [(0, "秒", "s")]
    return " ".join(f"{n} {zh}" for n, zh, _ in kept), " ".join(f"{n} {en}" for n, _, en in kept)


def _clock(t: float, tz: str, with_year: bool = False) -> str:
    ts = pd.Timestamp(t, unit="s", tz="UTC").tz_convert(tz)
    return ts.strftime("%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M")


def _nearest(xy: np.ndarray, lines: Sequence[shapely.LineString]) -> tuple[np.ndarray, np.ndarray]:
    """For each fix, its nearest line's position in ``lines`` (-1: none within WN_NEAR_M
    × 4) and the distance (inf: none)."""
    n = len(xy)
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    geoms = np.asarray(list(lines), dtype=object)
    if not len(geoms) or not n:
        return idx, dist
    tree = shapely.STRtree(geoms)
    pts = shapely.points(xy)
    (pi, li), d = tree.query_nearest(
        pts, max_distance=4 * WN_NEAR_M, return_distance=True, all_matches=False
    )
    idx[pi] = li
    dist[pi] = d
    return idx, dist


# ================================================================= the walk alone
def walk_flags(
    xy: np.ndarray,
    t: np.ndarray,
    lines: Sequence[shapely.LineString],
    tz: str = "Asia/Shanghai",
    still_min_s: float = STILL_MIN_S,
) -> list[Flag]:
    """The flags a walk earns on its own: steady_speed, on_centreline, white_noise and
    stationary. ``xy``: raw fixes (n×2 metres), ``t``: epoch seconds, ``lines``: the street
    segments near the walk in the same metric CRS (none: the two rules that need them are
    skipped). ``tz`` writes the clock times in the stationary sentence; ``still_min_s`` is
    the shortest stay flagged (STILL_MIN_S)."""
    xy, t = _prep(xy, t)
    if len(t) < FLAG_MIN_FIXES:
        return []
    out: list[Flag] = []
    for flag in (
        _steady_speed(xy, t),
        *_line_flags(xy, t, lines),
        _stationary(xy, t, tz, still_min_s),
    ):
        if flag is not None:
            out.append(flag)
    return out


def steady_stretch(xy: np.ndarray, t: np.ndarray) -> tuple[float, float, float] | None:
    """The steadiest stretch of at least STEADY_MIN_S: (robust CV of its step speeds, its
    median speed m/s, the seconds of all windows as steady as the flag asks, or the best
    window's if none), among stretches of STEADY_MIN_STEPS steps or more, none longer than
    STEADY_MAX_DT_S (a gap is no step: a 5-minute dropout read as one step is "steady"),
    moving at STEADY_MIN_SPEED or more; None if there is none. Exposed for the benchmark."""
    step = np.hypot(*np.diff(xy, axis=0).T)
    dt = np.diff(t)
    ok = dt > 0
    if ok.sum() < STEADY_MIN_STEPS:
        return None
    v, dt, t0, t1 = step[ok] / dt[ok], dt[ok], t[:-1][ok], t[1:][ok]
    gap = np.concatenate([[0], np.cumsum(dt > STEADY_MAX_DT_S)])
    ends = np.searchsorted(t1, t0 + STEADY_MIN_S)  # first step ending STEADY_MIN_S on
    starts = np.flatnonzero(ends < len(v))
    starts = starts[(ends[starts] - starts + 1 >= STEADY_MIN_STEPS)]
    starts = starts[gap[ends[starts] + 1] == gap[starts]]
    if not len(starts):
        return None
    # at most ~600 windows (a long track is judged at every few steps)
    starts = starts[:: max(1, len(starts) // 600)]
    med, mad = _window_medians(v, starts, ends[starts] + 1)
    use = med >= STEADY_MIN_SPEED
    if not use.any():
        return None
    cv = np.where(use, 1.4826 * mad / np.where(use, med, 1.0), np.inf)
    # the first steadiest window, as a loop over the windows keeping a strictly lower cv would
    i = int(np.argmin(cv))
    a, j = int(starts[i]), int(ends[starts[i]]) + 1
    best = (float(cv[i]), float(med[i]), float(t1[j - 1] - t0[a]))
    steady = use & (cv < STEADY_MAX_CV)
    if not steady.any():
        return best
    # the steps of all steady windows: +1 where one starts, -1 after it ends
    cover = np.zeros(len(v) + 1, dtype=np.int64)
    np.add.at(cover, starts[steady], 1)
    np.add.at(cover, ends[starts[steady]] + 1, -1)
    marked = np.cumsum(cover[:-1]) > 0
    return best[0], best[1], float(dt[marked].sum())


def _window_medians(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each window v[lo:hi] (none empty), np.median of its values and of their absolute
    deviations from it: the same numbers. WHY not a loop of np.median: two calls per window
    over up to 600 windows were a quarter of a walk's judging; here the windows are rows of
    one padded array (padding inf, sorted last), sorted at once, in chunks of ~1M values."""
    n = hi - lo
    med = np.empty(len(lo))
    mad = np.empty(len(lo))
    width = int(n.max()) if len(n) else 0
    rows = max(1, 1_000_000 // max(width, 1))
    col = np.arange(width)
    for c in range(0, len(lo), rows):
        cl, cn = lo[c : c + rows], n[c : c + rows]
        pad = col[None, :] >= cn[:, None]
        w = np.where(pad, np.inf, v[np.minimum(cl[:, None] + col[None, :], len(v) - 1)])
        m = _row_median(np.sort(w, axis=1), cn)
        dev = np.where(pad, np.inf, np.abs(w - m[:, None]))
        med[c : c + rows] = m
        mad[c : c + rows] = _row_median(np.sort(dev, axis=1), cn)
    return med, mad


def _row_median(srt: np.ndarray, n: np.ndarray) -> np.ndarray:
    """np.median of the first n[r] values of each sorted row r (n ≥ 1): the middle one, or
    the mean of the middle two as np.median takes it ((a + b) / 2)."""
    rows = np.arange(len(n))
    lo = srt[rows, (n - 1) // 2]
    hi = srt[rows, n // 2]
    return np.where(n % 2 == 1, lo, (lo + hi) / 2)


def _steady_speed(xy: np.ndarray, t: np.ndarray) -> Flag | None:
    found = steady_stretch(xy, t)
    if found is None or found[0] >= STEADY_MAX_CV:
        return None
    cv, speed, secs = found
    zh_d, en_d = _minutes(secs)
    return Flag(
        "steady_speed",
        f"有 {zh_d}以恒定速度移动（{speed:.2f} 米/秒，步速变化 {cv:.1%}），"
        "步行者不会如此匀速：疑为生成或虚拟定位的轨迹",
        f"moved at one constant speed for {en_d} ({speed:.2f} m/s, step speeds vary "
        f"{cv:.1%}); no walker is that steady: generated or virtual-location track?",
    )


def line_stats(
    xy: np.ndarray, t: np.ndarray, lines: Sequence[shapely.LineString]
) -> tuple[float, int, float, float, float]:
    """(share of fixes within CENTRE_M of a line, pairs judged, lag-1 correlation of the
    signed offsets, their spread (m), the median fix interval (s)): what the on_centreline
    and white_noise rules read; exposed for the benchmark's calibration."""
    idx, dist = _nearest(xy, lines)
    share = float((dist <= CENTRE_M).mean()) if len(dist) else 0.0
    near = (idx >= 0) & (dist <= WN_NEAR_M)
    dts = np.diff(t)
    med_dt = float(np.median(dts)) if len(dts) else float("nan")
    if near.sum() < 2:
        return share, 0, float("nan"), 0.0, med_dt
    geoms = np.asarray(list(lines), dtype=object)
    k = np.flatnonzero(near)
    g = geoms[idx[k]]
    pts = shapely.points(xy[k])
    at = shapely.line_locate_point(g, pts)
    length = shapely.length(g)
    a = shapely.get_coordinates(shapely.line_interpolate_point(g, np.maximum(at - 0.5, 0.0)))
    b = shapely.get_coordinates(shapely.line_interpolate_point(g, np.minimum(at + 0.5, length)))
    foot = shapely.get_coordinates(shapely.line_interpolate_point(g, at))
    tan = b - a
    rel = xy[k] - foot
    sign = np.sign(tan[:, 0] * rel[:, 1] - tan[:, 1] * rel[:, 0])
    off = np.full(len(xy), np.nan)
    off[k] = sign * dist[k]
    line_of = np.where(near, idx, -1)
    pair = near[:-1] & near[1:] & (line_of[:-1] == line_of[1:]) & (dts > 0) & (dts <= WN_MAX_DT_S)
    n = int(pair.sum())
    if n < 3:
        return share, n, float("nan"), 0.0, med_dt
    o0, o1 = off[:-1][pair], off[1:][pair]
    spread = float(np.std(np.concatenate([o0, o1])))
    if np.std(o0) == 0 or np.std(o1) == 0:
        return share, n, float("nan"), spread, med_dt
    r = float(np.corrcoef(o0, o1)[0, 1])
    return share, n, r, spread, med_dt


def _line_flags(
    xy: np.ndarray, t: np.ndarray, lines: Sequence[shapely.LineString]
) -> list[Flag | None]:
    if not len(lines):
        return []
    share, pairs, r, spread, med_dt = line_stats(xy, t, lines)
    out: list[Flag | None] = []
    extent = float(np.hypot(*(np.percentile(xy, 95, axis=0) - np.percentile(xy, 5, axis=0))))
    if share >= CENTRE_MIN_SHARE and extent >= CENTRE_MIN_EXTENT_M:
        out.append(
            Flag(
                "on_centreline",
                f"{share:.0%} 的定位点落在街巷中线 {CENTRE_M:g} 米以内，真实手机定位会偏离数米："
                "疑为按路网生成的轨迹",
                f"{share:.0%} of the fixes lie within {CENTRE_M:g} m of street centrelines, "
                "where phone fixes scatter by metres: generated from the network?",
            )
        )
    if (
        pairs >= WN_MIN_PAIRS
        and med_dt <= WN_MAX_DT_S
        and spread >= WN_MIN_SPREAD_M
        and np.isfinite(r)
        and r < WN_MAX_R
    ):
        out.append(
            Flag(
                "white_noise",
                f"定位点偏离中线的偏差逐点独立（相邻两点偏差相关系数 {r:.2f}，"
                f"偏差 {spread:.1f} 米，间隔 {med_dt:.0f} 秒，{pairs} 对），"
                "真实手机的偏差是连续漂移的：疑为加了人工噪声的生成轨迹",
                f"the fixes' offsets from the centreline are independent fix to fix (lag-1 "
                f"correlation {r:.2f}, spread {spread:.1f} m, every {med_dt:.0f} s, "
                f"{pairs} pairs), "
                "where a phone's error drifts: generated with synthetic noise?",
            )
        )
    return out


def still_stretches(
    xy: np.ndarray, t: np.ndarray, min_s: float = STILL_MIN_S
) -> list[tuple[float, float, float]]:
    """Stretches of at least ``min_s`` in which the phone lay still: (first time, last time,
    radius holding STILL_SHARE of their fixes around their median). Windows of ``min_s``
    judged every STILL_STEP_S (still: STILL_SHARE of the fixes within STILL_RADIUS_M of the
    median, and minute means moving at a median under STILL_MAX_SPEED), overlapping still
    windows joined.

    Not :func:`geo.tracks.stays.still_stretches` (the cleaner's rule: every 30-minute
    window's radius of gyration within 40 m, fix ranges taken out before matching so a
    phone left still credits nothing). This one reads the RAW fixes (cleaning removes the
    fixes that tell), gives time spans and a radius for the flag's sentence, and was set by
    false flags on real GeoLife, Garmin and gpxpy tracks (bench/track_flags.py), the cleaner's
    by what the matcher credits; one rule for both would move one of the two calibrations."""
    if len(t) < FLAG_MIN_FIXES or t[-1] - t[0] < min_s:
        return []
    # minute means and the speed between consecutive ones (m/s), at the minute they end
    k = np.floor((t - t[0]) / STILL_STEP_S).astype(np.int64)
    kk, inv, cnt = np.unique(k, return_inverse=True, return_counts=True)
    mx = np.bincount(inv, xy[:, 0]) / cnt
    my = np.bincount(inv, xy[:, 1]) / cnt
    step_ok = np.diff(kk) == 1
    speed = np.hypot(np.diff(mx), np.diff(my))[step_ok] / STILL_STEP_S
    speed_at = kk[1:][step_ok]
    gaps = np.diff(t)
    starts = np.arange(t[0], t[-1] - min_s + 1e-9, STILL_STEP_S)
    lo = np.searchsorted(t, starts)
    hi = np.searchsorted(t, starts + min_s, side="right")
    s_lo = np.searchsorted(speed_at, (starts - t[0]) / STILL_STEP_S + 1)
    s_hi = np.searchsorted(speed_at, (starts - t[0] + min_s) / STILL_STEP_S, side="right")
    # a gap longer than STILL_MAX_GAP_S inside a window: the phone may have gone and come back
    big = np.concatenate([[0], np.cumsum(gaps > STILL_MAX_GAP_S)])
    spans: list[tuple[float, float]] = []
    for a, b, sa, sb in zip(lo.tolist(), hi.tolist(), s_lo.tolist(), s_hi.tolist(), strict=True):
        if b - a < FLAG_MIN_FIXES or big[b - 1] != big[a] or sb - sa < 3:
            continue
        if t[b - 1] - t[a] < min_s - 2 * STILL_STEP_S:  # fixes missing at an end: not so long
            continue
        if np.median(speed[sa:sb]) > STILL_MAX_SPEED:
            continue
        w = xy[a:b]
        r = np.hypot(*(w - np.median(w, axis=0)).T)
        if np.quantile(r, STILL_SHARE) <= STILL_RADIUS_M:
            s, e = float(t[a]), float(t[b - 1])
            if spans and s <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], e))
            else:
                spans.append((s, e))
    out = []
    for s, e in spans:
        w = xy[(t >= s) & (t <= e)]
        r = np.hypot(*(w - np.median(w, axis=0)).T)
        out.append((s, e, float(np.quantile(r, STILL_SHARE))))
    return out


def _stationary(xy: np.ndarray, t: np.ndarray, tz: str, min_s: float) -> Flag | None:
    spans = still_stretches(xy, t, min_s)
    if not spans:
        return None
    s, e, radius = max(spans, key=lambda x: x[1] - x[0])
    zh_d, en_d = _minutes(e - s)
    r = int(np.ceil(radius / 5.0) * 5)
    when = f"{_clock(s, tz)}–{_clock(e, tz)[-5:]}"
    more_zh = f"（共 {len(spans)} 段）" if len(spans) > 1 else ""
    more_en = f" ({len(spans)} such stretches)" if len(spans) > 1 else ""
    return Flag(
        "stationary",
        f"{zh_d}内未离开 {r} 米范围（{when}）{more_zh}：疑为手机未随身，放在一处",
        f"stayed within {r} m for {en_d} ({when}){more_en}: phone left lying, not carried?",
    )


# ================================================================= against other walks
@dataclass(frozen=True)
class CopyMatch:
    """How a walk lines up with another at its best time offset and pace scale: ``delta``
    (s; new time − other's, at the first shared fix), ``scale`` (the new walk's seconds per
    second of the other: 1.10 is played 10 % slower), ``share`` of the shared fixes within
    COPY_TOL_M, the shared ``seconds``, metres ``moved`` over them and the ``part`` of the new
    walk's fixes they are; ``median_m`` of the distances and ``white``, their components'
    lag-1 correlation; ``contained``: the new walk lies wholly inside the other's time span."""

    delta: float
    share: float
    seconds: float
    moved: float
    part: float
    scale: float = 1.0
    median_m: float = float("inf")
    white: float = float("nan")
    contained: bool = False

    @property
    def kind(self) -> str | None:
        """Why it is a copy, or None: "fixes" (the same positions, or the same positions
        with noise drawn afresh on each fix), "same_time" (at the same times: the positions
        alone say it), "inside" (a short walk wholly inside another's at the same times)."""
        walk = (
            self.seconds >= COPY_MIN_S
            and self.moved >= COPY_MIN_MOVED_M
            and self.part >= COPY_MIN_PART
        )
        same_time = abs(self.delta) < ALONGSIDE_S and abs(self.scale - 1.0) <= SAME_TIME_MAX_SCALE
        if walk and self.share >= COPY_MIN_SHARE:
            if self.median_m <= COPY_TINY_M or self.white < COPY_WHITE_R:
                return "fixes"
            if same_time:
                return "same_time"
        if (
            same_time
            and abs(self.delta) <= INSIDE_MAX_DELTA_S
            and self.contained
            and self.part >= INSIDE_MIN_PART
            and self.seconds >= INSIDE_MIN_S
            and self.moved >= INSIDE_MIN_MOVED_M
            and self.share >= INSIDE_MIN_SHARE
        ):
            return "inside"
        return None

    @property
    def is_copy(self) -> bool:
        return self.kind is not None


def _dedupe_times(xy: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.concatenate([[True], np.diff(t) > 0])
    return xy[keep], t[keep]


def _other_time(ts: np.ndarray, delta: float, scale: float, centre: float) -> np.ndarray:
    """The other walk's time matching each new time: ``delta`` is the offset at ``centre``
    (the other walk's middle), ``scale`` the new walk's seconds per second of the other."""
    return centre + (ts - delta - centre) / scale


def _aligned(
    xs: np.ndarray, ts: np.ndarray, ox: np.ndarray, ot: np.ndarray, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(shared: the new fixes whose other time ``q`` falls inside the other walk, not in a
    gap; distance to the other's interpolated position there). ``q`` may hold one row of
    other times per (offset, scale) tried, each as long as ``xs``: the answers are as many."""
    k = np.searchsorted(ot, q)
    inside = (k > 0) & (k < len(ot))
    kk = np.clip(k, 1, len(ot) - 1)
    shared = inside & ((ot[kk] - ot[kk - 1]) <= COPY_MAX_GAP_S)
    # exactly on a fix (the first one too). WHY not np.isin(q, ot): ``ot`` is sorted and its
    # times unique, so the fix at or after q (the binary search above) is q's if any, and
    # np.isin's sort of both was a third of a comparison's time
    shared |= ot[np.minimum(k, len(ot) - 1)] == q
    px = np.interp(q, ot, ox[:, 0])
    py = np.interp(q, ot, ox[:, 1])
    return shared, np.hypot(xs[:, 0] - px, xs[:, 1] - py)


def _scores(
    xs: np.ndarray,
    ts: np.ndarray,
    ox: np.ndarray,
    ot: np.ndarray,
    deltas: np.ndarray,
    scales: np.ndarray | float,
    centre: float,
) -> list[tuple[int, float]]:
    """For each (offset, scale) of ``deltas`` and ``scales`` (broadcast): (the sampled fixes
    within COPY_TOL_M of the other walk there, minus the median of their distances; 0.0 if
    none), the larger the better. WHY one pass for all: a candidate's refinement tries ~40
    offsets and scales, and a numpy call per try was mostly per-call overhead on 200 fixes
    (~106 calls a comparison: 13 ms; now ~7 arrays of up to 21 rows)."""
    deltas = np.asarray(deltas, dtype=np.float64)
    ks = np.broadcast_to(np.asarray(scales, dtype=np.float64), deltas.shape)
    q = centre + (ts[None, :] - deltas[:, None] - centre) / ks[:, None]
    shared, d = _aligned(xs, ts, ox, ot, q)
    hit = shared & (d <= COPY_TOL_M)
    n = hit.sum(axis=1)
    # the median of each row's hit distances, as np.median takes it (misses sorted last)
    med = _row_median(np.sort(np.where(hit, d, np.inf), axis=1), np.maximum(n, 1))
    return [(c, -m if c else 0.0) for c, m in zip(n.tolist(), med.tolist(), strict=True)]


def _white(xy: np.ndarray, t: np.ndarray, ox: np.ndarray, ot: np.ndarray, q: np.ndarray) -> float:
    """The lag-1 correlation of the offsets (new fix − the other's position at ``q``, per
    axis, averaged) over pairs of consecutive fixes at most COPY_WHITE_DT_S apart (all the
    new walk's fixes, not the sample: noise drawn afresh on each fix shows fix to fix, a
    phone's drift fades over tens of seconds); NaN under COPY_WHITE_MIN_PAIRS pairs."""
    shared, _ = _aligned(xy, t, ox, ot, q)
    off = xy - np.column_stack([np.interp(q, ot, ox[:, 0]), np.interp(q, ot, ox[:, 1])])
    pair = shared[:-1] & shared[1:] & (np.diff(t) <= COPY_WHITE_DT_S)
    if pair.sum() < COPY_WHITE_MIN_PAIRS:
        return float("nan")
    rs = []
    for axis in (0, 1):
        a, b = off[:-1, axis][pair], off[1:, axis][pair]
        if np.std(a) > 0 and np.std(b) > 0:
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(rs)) if rs else float("nan")


@dataclass(frozen=True)
class _NewWalk:
    """The new walk's side of :func:`best_match`, made once for all the walks it is compared
    with (:func:`copy_flags`): its fixes (:func:`_prep`), the sample compared (``xs``,
    ``ts``) and their k-d tree."""

    xy: np.ndarray
    t: np.ndarray
    xs: np.ndarray
    ts: np.ndarray
    tree: object

    @classmethod
    def of(cls, xy: np.ndarray, t: np.ndarray) -> _NewWalk:
        from scipy.spatial import cKDTree

        xy, t = _prep(xy, t)
        n = len(t)
        pick = np.unique(np.linspace(0, n - 1, min(COPY_SAMPLE, n)).round().astype(int))
        xs, ts = xy[pick], t[pick]
        return cls(xy, t, xs, ts, cKDTree(xs) if n else None)


def best_match(xy: np.ndarray, t: np.ndarray, other_xy: np.ndarray, other_t: np.ndarray):
    """The other walk's best time offset and pace scale against this one
    (:class:`CopyMatch`), or None when no fixes come within VOTE_M. Exposed for the
    benchmark's calibration."""
    return _best_match(_NewWalk.of(xy, t), other_xy, other_t)


def _best_match(new: _NewWalk, other_xy: np.ndarray, other_t: np.ndarray):
    from scipy.spatial import cKDTree

    xy, t, xs, ts = new.xy, new.t, new.xs, new.ts
    ox, ot = _dedupe_times(*_prep(other_xy, other_t))
    if len(t) < FLAG_MIN_FIXES or len(ot) < FLAG_MIN_FIXES:
        return None
    vote = np.arange(0, len(ot), max(1, len(ot) // VOTE_OTHER))
    pairs = new.tree.sparse_distance_matrix(cKDTree(ox[vote]), VOTE_M, output_type="coo_matrix")
    if pairs.nnz == 0:
        return None
    centre = float(ot[0] + ot[-1]) / 2.0
    tn, to = ts[pairs.row], ot[vote][pairs.col] - centre
    # under COPY_MIN_S a pace scale is not measured (2 % is 3 s): scale 1 only, the same
    # times or none (the one rule for so short a walk is "inside")
    short = t[-1] - t[0] < COPY_MIN_S
    # the votes, one row per scale (the scale's index in the key's low digits)
    ki = np.flatnonzero(COPY_SCALES == 1.0) if short else np.arange(len(COPY_SCALES))
    at = np.floor((tn[None, :] - centre - COPY_SCALES[ki, None] * to[None, :]) / VOTE_BIN_S)
    keys = at.astype(np.int64) * len(COPY_SCALES) + ki[:, None]
    bins, counts = np.unique(keys.ravel(), return_counts=True)
    top = bins[np.argsort(-counts, kind="stable")[:VOTE_CANDIDATES]]
    # each fix of a copy votes at least once within VOTE_M / walking pace (±11 s) of δ: a
    # candidate whose 5 bins around hold fewer votes than the fixes a copy shares is none
    need = COPY_MIN_PART * COPY_MIN_SHARE * len(xs)
    n_k = len(COPY_SCALES)
    cand = []
    for key in top.tolist():
        b, i = divmod(key, n_k)
        around = (bins % n_k == i) & (np.abs(bins // n_k - b) <= 2)
        if int(counts[around].sum()) >= need:
            cand.append(((b + 0.5) * VOTE_BIN_S, float(COPY_SCALES[i])))
    if not cand:
        return CopyMatch(0.0, 0.0, 0.0, 0.0, 0.0)

    def best_of(deltas: np.ndarray, scales: np.ndarray | float, keys: np.ndarray):
        """max over (score, key) as the tries come: most fixes, then the nearer median,
        then the larger key"""
        scores = _scores(xs, ts, ox, ot, deltas, scales, centre)
        return max(zip(scores, keys.tolist(), strict=True))

    best: tuple[tuple[int, float], float, float] | None = None
    for delta, scale in cand:
        ds = delta + np.arange(-15, 15.1, 1.5)
        delta = best_of(ds, scale, ds)[1]
        if not short:
            ks = scale + np.arange(-0.02, 0.021, 0.005)
            scale = best_of(np.full(len(ks), delta), ks, ks)[1]
        ds = delta + np.arange(-1.5, 1.6, 0.25)
        got, delta = best_of(ds, scale, ds)
        if best is None or got > best[0]:
            best = (got, delta, scale)
    assert best is not None
    got, delta, scale = best
    if scale != 1.0:  # the simplest reading when it explains (nearly) as many fixes
        ds = delta + np.arange(-3.0, 3.1, 0.25)
        one = best_of(ds, 1.0, ds)
        if one[0][0] >= COPY_SCALE_ONE * got[0]:
            delta, scale = one[1], 1.0
    q = _other_time(ts, delta, scale, centre)
    shared, d = _aligned(xs, ts, ox, ot, q)
    if not shared.any():
        return CopyMatch(float(delta), 0.0, 0.0, 0.0, 0.0, scale)
    st, ds = ts[shared], d[shared]
    share = float((ds <= COPY_TOL_M).mean())
    return CopyMatch(
        delta=float(st[0] - q[shared][0]),
        share=share,
        seconds=float(st[-1] - st[0]),
        moved=_moved_m(xs[shared], st),
        part=float(shared.mean()),
        scale=float(scale),
        median_m=float(np.median(ds)),
        white=_white(xy, t, ox, ot, _other_time(t, delta, scale, centre)),
        contained=bool(q[0] >= ot[0] - 1.0 and q[-1] <= ot[-1] + 1.0),
    )


def copy_flags(
    xy: np.ndarray,
    t: np.ndarray,
    person_id: int | None,
    others: Sequence[OtherWalk],
    tz: str = "Asia/Shanghai",
) -> list[Flag]:
    """The new walk against stored ones (not itself): "replay" when its fixes follow one's at
    one time offset of ALONGSIDE_S or more (any person: one's own walk of another day re-sent
    is no patrol either), "alongside" at under ALONGSIDE_S by ANOTHER person (walking together,
    or a copy at the same times; ``person_id`` None on either side counts as another). One flag
    per walk matched, best first."""
    found: list[tuple[float, Flag]] = []
    new = _NewWalk.of(xy, t)
    for o in others:
        m = _best_match(new, o.xy, o.t)
        if m is None or not m.is_copy:
            continue
        other_t = np.asarray(o.t, dtype=np.float64)
        new_t = np.asarray(t, dtype=np.float64)
        same_year = (
            _clock(float(np.min(other_t)), tz, True)[:4]
            == _clock(float(np.min(new_t)), tz, True)[:4]
        )
        when = _clock(float(np.min(other_t)), tz, not same_year)
        who = f"{o.who_zh}，{when}" if o.who_zh else when
        who_en = f"{o.who_zh}, {when}" if o.who_zh else when
        zh_d, en_d = _minutes(m.seconds)
        share = f"{m.share:.0%}"
        if abs(m.delta) < ALONGSIDE_S:
            if person_id is not None and o.person_id == person_id:
                continue  # the same person's walk twice (two apps): nothing to flag here
            zh_off, en_off = _offset(m.delta)
            flag = Flag(
                "alongside",
                f"与轨迹 {o.track_id}（{who}）同时同路：{zh_d}内 {share} 的定位点与其相距不到 "
                f"{COPY_TOL_M:g} 米，时间相差 {zh_off}；疑为同行或复制他人轨迹",
                f"walked alongside track {o.track_id} ({who_en}) at the same times: {share} of "
                f"the fixes within {COPY_TOL_M:g} m of it over {en_d}, {en_off} apart; walking "
                "together, or a copy of another's walk?",
                o.track_id,
            )
        else:
            zh_off, en_off = _offset(m.delta)
            later_zh, later_en = ("晚", "later") if m.delta > 0 else ("早", "earlier")
            pace_zh = pace_en = ""
            if abs(m.scale - 1.0) >= 0.005:
                slow = m.scale > 1.0
                pct = f"{abs(m.scale - 1.0):.0%}"
                pace_zh = f"，整体{'放慢' if slow else '加快'} {pct}"
                pace_en = f", played {pct} {'slower' if slow else 'faster'}"
            flag = Flag(
                "replay",
                f"与轨迹 {o.track_id}（{who}）路线和节奏相同，"
                f"时间相差 {zh_off}（本轨迹{later_zh}）{pace_zh}："
                f"{zh_d}内 {share} 的定位点与其相距不到 {COPY_TOL_M:g} 米；疑为重放的轨迹",
                f"same route and pace as track {o.track_id} ({who_en}), {en_off} {later_en}"
                f"{pace_en}: {share} of the fixes within {COPY_TOL_M:g} m of it over {en_d}; "
                "a replay?",
                o.track_id,
            )
        found.append((m.share, flag))
    found.sort(key=lambda x: -x[0])
    return [f for _, f in found]
