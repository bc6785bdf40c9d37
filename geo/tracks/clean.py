"""Clean a parsed track before matching: duplicates, jumps, poor fixes, standing jitter, gaps.

Phone GPS is noisy in ways a matcher should not have to explain: repeated timestamps, sudden
jumps of hundreds of metres, fixes with 100 m accuracy, a cloud of points while the steward chats
at a gate. A long gap (phone in a pocket, app killed) splits the track into pieces that are
matched separately, so a gap never fails a whole track.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.tracks.smooth import SIGMA_PER_MEDIAN_D2, second_differences
from geo.tracks.stays import collapse, long_stays, still_stretches, tight_stays, windows_cover

_R = 6_371_008.8

# Fastest plausible speed per mode (m/s). Walk: patrols walk at 1–2 m/s, a steward may jog to
# catch up, 4 m/s (14 km/h) is above any patrol pace but below what GPS jumps produce.
# Bike: e-bikes are capped at 25 km/h (GB 17761-2018, 6.9 m/s), conventional bikes reach
# ~10 m/s downhill; 12 m/s leaves margin. Drive (taxi benchmarks): 35 m/s (126 km/h).
MODE_MAX_SPEED = {"walk": 4.0, "bike": 12.0, "drive": 35.0}
# Held for a minute, faster than anyone walks a patrol (a brisk walk is 1.8-2 m/s): a shared
# bike at 3.5-4.5 m/s stays under the 4 m/s limit, and its alleys were credited as walked.
MODE_SUSTAINED_SPEED = {"walk": 2.5}


@dataclass
class CleanParams:
    """Cleaning thresholds (local policy, all overridable).

    mode: walk | bike | drive, picks ``max_speed_mps`` when it is None.
    max_speed_mps: a fix implying a faster move from the previous kept fix is a jump …
    jump_slack_m: … beyond this allowance for GPS noise (two 10–15 m errors in opposite
        directions at 1 s sampling would otherwise look like 25 m/s).
    max_accuracy_m: fixes reporting a worse accuracy radius are dropped (unknown is kept).
    gap_s: a time gap longer than this splits the track into pieces.
    stay_radius_m, stay_min_s: points staying within this radius for at least this long are a
        stop; they collapse to two points (arrival, departure) at the stop's centre, which
        removes the jitter that would otherwise be credited as walking.
    long_stay_s, long_stay_spread_m, long_stay_gyration_m: a stop found over a window this
        long, for phone noise that drifts out of any small radius (see
        :func:`geo.tracks.stays.long_stays`). None: off.
    max_rejects: after this many consecutive jump rejections the new position is accepted
        (the earlier fix was the outlier, or the walker really moved during a dropout) …
    burst_lookahead_s: … unless a fix within this many seconds after them is again where the
        walker could be from the last kept fix: then the run was a burst of outliers (multipath
        near tall buildings) and stays rejected. Accepting a 6-fix burst 300 m off made the
        ride rule drop 26–66 good fixes round it and cut the track (an outside tester). 0: off.
    jump_slack_sigmas, max_noise_m: on a densely sampled noisy track the noise allowance is at
        least this many times the track's measured noise σ (capped at max_noise_m): two fixes
        with σ per axis differ by more than 5σ once in ~500 pairs, so a fixed 30 m rejects a
        quarter of the fixes of a 20 m-noise walk (see ``_dense_noise``).
    min_piece_points: pieces with fewer points are discarded (cannot be matched).
    ride_window_s: fixes on a stretch covered faster than ``max_speed_mps`` over this long
        (less the noise allowance) are dropped and the track is cut there: a steward who rides
        a scooter or a bus through alleys in walk mode did not walk them. 30 s, chosen on
        simulated walks and rides on the Haidian network: a ride at 10-15 m/s keeps 6 % of
        its route credited (60 s: 14-16 %, winding routes shorten the straight line; 10 s:
        noise calls 10 % of 30 m-noise walks rides), and 1 walk in 100 at 20-30 m noise
        loses a few fixes. None: off.
    sustained_speed_mps, sustained_window_s: the same over a longer window at a lower speed
        (walk: 2.5 m/s over 60 s, 3 m/s with the noise allowance). None: the mode's
        (``MODE_SUSTAINED_SPEED``; none for bike and drive).
    """

    mode: str = "walk"
    max_speed_mps: float | None = None
    jump_slack_m: float = 30.0
    max_accuracy_m: float = 50.0
    gap_s: float = 300.0
    stay_radius_m: float = 10.0
    stay_min_s: float = 60.0
    long_stay_s: float | None = 240.0
    long_stay_spread_m: float = 30.0
    long_stay_gyration_m: float = 25.0
    still_s: float | None = 1800.0
    still_gyration_m: float = 40.0
    max_rejects: int = 5
    burst_lookahead_s: float = 60.0
    min_piece_points: int = 2
    jump_slack_sigmas: float = 5.0
    max_noise_m: float = 25.0
    ride_window_s: float | None = 30.0
    sustained_speed_mps: float | None = None
    sustained_window_s: float | None = 60.0

    def speed(self) -> float:
        if self.max_speed_mps is not None:
            return float(self.max_speed_mps)
        if self.mode not in MODE_MAX_SPEED:
            modes = ", ".join(MODE_MAX_SPEED)
            raise InputError(
                f"出行方式 '{self.mode}' 有误，请用 {modes} 之一 "
                f"unknown mode '{self.mode}': use {modes}"
            )
        return MODE_MAX_SPEED[self.mode]

    def sustained_speed(self) -> float | None:
        return self.sustained_speed_mps or MODE_SUSTAINED_SPEED.get(self.mode)


@dataclass
class CleanReport:
    """How many points each rule removed, and how many pieces came out."""

    points_in: int = 0
    duplicate_times: int = 0
    poor_accuracy: int = 0
    jumps: int = 0
    too_fast: int = 0
    stay_jitter: int = 0
    short_pieces_points: int = 0
    points_out: int = 0
    pieces: int = 0
    gaps: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def local_xy(lon: np.ndarray, lat: np.ndarray, lat0: float | None = None) -> np.ndarray:
    """Equirectangular metres around ``lat0``; < 0.1 % error over a city, enough for cleaning."""
    lat0 = float(np.mean(lat)) if lat0 is None else lat0
    x = np.radians(lon) * _R * np.cos(np.radians(lat0))
    y = np.radians(lat) * _R
    return np.column_stack([x, y])


def clean_track(points: pd.DataFrame, params: CleanParams | None = None) -> list[pd.DataFrame]:
    """Cleaned pieces (each with a 0-based ``piece`` column); counts: clean_with_report."""
    return clean_with_report(points, params)[0]


def clean_with_report(
    points: pd.DataFrame, params: CleanParams | None = None
) -> tuple[list[pd.DataFrame], CleanReport]:
    """Clean ``points`` (columns lon, lat, time, accuracy; as from parse_track).

    Returns the pieces and a :class:`CleanReport`. An empty result is not an error: a track may
    be all jitter; the caller decides what to tell the user.

    Every rule works on numpy arrays of row positions; the pieces are cut from ``points`` once
    at the end. (Filtering a DataFrame at each rule cost ~8 ms per track, a third of the time
    to clean and match a short patrol.)
    """
    p = params or CleanParams()
    vmax = p.speed()
    rep = CleanReport(points_in=len(points))
    t_all = points["time"].to_numpy("datetime64[ns]").astype(np.int64)
    idx = np.argsort(t_all, kind="stable")
    t_ns = t_all[idx]
    # 1. duplicate timestamps: keep the first fix of each instant
    dup = np.zeros(len(idx), dtype=bool)
    dup[1:] = t_ns[1:] == t_ns[:-1]
    rep.duplicate_times = int(dup.sum())
    idx, t_ns = idx[~dup], t_ns[~dup]
    # 2. poor accuracy
    if "accuracy" in points:
        acc = points["accuracy"].to_numpy(float)[idx]
        poor = np.isfinite(acc) & (acc > p.max_accuracy_m)
        rep.poor_accuracy = int(poor.sum())
        idx, t_ns = idx[~poor], t_ns[~poor]
    if len(idx) == 0:
        return [], rep
    t = t_ns / 1e9
    lon_all, lat_all = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    xy = local_xy(lon_all[idx], lat_all[idx])
    # 3. jumps: sequential against the last kept fix. A Python loop because each decision
    # depends on the previous one; it runs at ~1 µs per point.
    noise = min(_dense_noise(xy, t), p.max_noise_m)
    slack = max(p.jump_slack_m, p.jump_slack_sigmas * noise)
    keep = _reject_jumps(xy, t, vmax, slack, p.max_rejects, p.gap_s, p.burst_lookahead_s)
    rep.jumps = int((~keep).sum())
    idx, xy, t = idx[keep], xy[keep], t[keep]
    # 4. rides: sustained speed above the mode's; dropped, and the track is cut where they were
    # (else the matcher would join the walks either side along the ride's streets)
    ride = _rides(xy, t, vmax, slack, p.ride_window_s, p.gap_s)
    v_held = p.sustained_speed()
    if v_held is not None:
        ride |= _rides(xy, t, v_held, slack, p.sustained_window_s, p.gap_s)
    rep.too_fast = int(ride.sum())
    cut_after = np.zeros(len(t), dtype=bool)
    if rep.too_fast:
        cut_after[:-1] = ride[1:] & ~ride[:-1]  # the last walked fix before a ride
        idx, xy, t, cut_after = idx[~ride], xy[~ride], t[~ride], cut_after[~ride]
    # 5. gaps → pieces
    dt = np.diff(t)
    gap = dt > p.gap_s
    rep.gaps = [float(g) for g in dt[gap]]
    brk = gap | cut_after[:-1]
    bounds = np.concatenate([[0], np.flatnonzero(brk) + 1, [len(t)]])
    # 6. stays within each piece
    pieces: list[pd.DataFrame] = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        lon, lat = lon_all[idx[a:b]], lat_all[idx[a:b]]
        kept = _collapse_stays(lon, lat, xy[a:b].copy(), t[a:b], p)
        rep.stay_jitter += b - a - len(kept)
        if len(kept) < p.min_piece_points:
            rep.short_pieces_points += len(kept)
            continue
        pieces.append(_cut(points, idx[a:b][kept], lon[kept], lat[kept], len(pieces)))
    rep.pieces = len(pieces)
    rep.points_out = int(sum(len(s) for s in pieces))
    return pieces, rep


def _cut(
    points: pd.DataFrame, rows: np.ndarray, lon: np.ndarray, lat: np.ndarray, piece: int
) -> pd.DataFrame:
    """One piece: ``points`` at row positions ``rows`` (all columns kept), with the cleaned
    positions and its ``piece`` number."""
    cols = {c: points[c].array.take(rows) for c in points.columns}
    cols["lon"], cols["lat"] = lon, lat
    cols["piece"] = np.full(len(rows), piece, dtype=np.int64)
    return pd.DataFrame(cols)


def _dense_noise(xy: np.ndarray, t: np.ndarray, max_dt: float = 15.0) -> float:
    """GPS noise σ (per axis) of a densely sampled track from the second differences of
    consecutive fixes (the median is robust to the few real jumps), or 0 when fixes are too
    sparse for that (real motion between sparse fixes would be read as noise). Two fixes with
    noise σ differ by up to ~5σ (1 in 500), so a fixed jump allowance tuned for 5 m noise
    rejects a quarter of a 20 m-noise track's fixes, and keeps those nearest the last kept
    fix: a biased, sticky subset."""
    if len(t) < 12:
        return 0.0
    dt = np.diff(t)
    ok = (dt[1:] <= max_dt) & (dt[:-1] <= max_dt) & (dt[1:] > 0) & (dt[:-1] > 0)
    if ok.sum() < 10:
        return 0.0
    sigma = float(np.median(second_differences(xy)[ok])) * SIGMA_PER_MEDIAN_D2
    step = np.hypot(*np.diff(xy, axis=0).T)
    if float(np.median(step)) >= 4.0 * sigma:
        return 0.0
    return sigma


def _reject_jumps(
    xy: np.ndarray,
    t: np.ndarray,
    vmax: float,
    slack: float,
    max_rejects: int,
    gap_s: float,
    lookahead_s: float = 0.0,
) -> np.ndarray:
    """Fixes kept by the jump rule (see ``CleanParams.max_rejects``, ``burst_lookahead_s``)."""
    n = len(t)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    xs, ys, ts = xy[:, 0].tolist(), xy[:, 1].tolist(), t.tolist()
    # Python floats: a numpy scalar limit (a median) would turn each comparison into numpy
    # scalar arithmetic, several times slower
    vmax, slack, gap_s = float(vmax), float(slack), float(gap_s)
    last = 0
    rejects: list[int] = []
    for i in range(1, n):
        dt = ts[i] - ts[last]
        d = ((xs[i] - xs[last]) ** 2 + (ys[i] - ys[last]) ** 2) ** 0.5
        if dt > gap_s or d <= vmax * dt + slack:
            last = i
            rejects.clear()
            continue
        rejects.append(i)
        if len(rejects) > max_rejects and not _comes_back(
            xs, ys, ts, last, i, vmax, slack, lookahead_s
        ):
            # The run of "jumps" is consistent: it is the new truth; un-reject it.
            for j in rejects:
                keep[j] = True
            last = i
            rejects.clear()
        else:
            keep[i] = False
    return keep


def _comes_back(
    xs: list[float],
    ys: list[float],
    ts: list[float],
    last: int,
    i: int,
    vmax: float,
    slack: float,
    lookahead_s: float,
) -> bool:
    """Whether a fix after ``i`` (within ``lookahead_s`` of it) lies where the walker could be
    from the last kept fix ``last``: the rejected run before it was an outlier burst."""
    for k in range(i + 1, len(ts)):
        if ts[k] - ts[i] > lookahead_s:
            return False
        dt = ts[k] - ts[last]
        if ((xs[k] - xs[last]) ** 2 + (ys[k] - ys[last]) ** 2) ** 0.5 <= vmax * dt + slack:
            return True
    return False


def _rides(
    xy: np.ndarray, t: np.ndarray, vmax: float, slack: float, window_s: float | None, gap_s: float
) -> np.ndarray:
    """Fixes on a stretch covered faster than ``vmax`` over ``window_s``: from each fix to the
    first one at least ``window_s`` later (within twice that and no gap), the straight-line
    distance less ``slack`` (two fixes' noise) over the time. Straight-line distance
    understates a winding route, so a walk is never called a ride; a ride may take up to a
    window of walking either side with it."""
    n = len(t)
    if window_s is None or n < 3:
        return np.zeros(n, dtype=bool)
    j = np.searchsorted(t, t + window_s)
    i = np.flatnonzero(j < n)
    j = j[i]
    dt = t[j] - t[i]
    d = np.hypot(*(xy[j] - xy[i]).T)
    fast = (dt <= min(2 * window_s, gap_s)) & (d - slack > vmax * dt)
    return windows_cover(n, i[fast], j[fast] + 1)


def _collapse_stays(
    lon: np.ndarray, lat: np.ndarray, xy: np.ndarray, t: np.ndarray, p: CleanParams
) -> np.ndarray:
    """Row positions kept once the piece's stops are collapsed (half-hour still stretches
    first, then long stops, then tight ones among what is left; :mod:`geo.tracks.stays`); a
    stop's two kept fixes are moved in place in ``lon``/``lat``/``xy`` to its centre."""
    rows = np.arange(len(t))
    if p.still_s:
        still = still_stretches(xy, t, p.still_s, p.still_gyration_m)
        rows = collapse([lon, lat, xy], still, "median")
    if p.long_stay_s:
        sub = [lon[rows], lat[rows], xy[rows]]
        found = long_stays(
            sub[2], t[rows], p.long_stay_s, p.long_stay_spread_m, p.long_stay_gyration_m
        )
        kept = collapse(sub, found, "median")
        lon[rows], lat[rows], xy[rows] = sub
        rows = rows[kept]
    sub = [lon[rows], lat[rows], xy[rows]]
    kept = collapse(sub, tight_stays(sub[2], t[rows], p.stay_radius_m, p.stay_min_s))
    lon[rows], lat[rows] = sub[0], sub[1]
    return rows[kept]
