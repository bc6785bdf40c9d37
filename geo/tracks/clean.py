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

_R = 6_371_008.8

# Fastest plausible speed per mode (m/s). Walk: patrols walk at 1–2 m/s, a steward may jog to
# catch up, 4 m/s (14 km/h) is above any patrol pace but below what GPS jumps produce.
# Bike: e-bikes are capped at 25 km/h (GB 17761-2018, 6.9 m/s), conventional bikes reach
# ~10 m/s downhill; 12 m/s leaves margin. Drive (taxi benchmarks): 35 m/s (126 km/h).
MODE_MAX_SPEED = {"walk": 4.0, "bike": 12.0, "drive": 35.0}


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
    max_rejects: after this many consecutive jump rejections the new position is accepted
        (the earlier fix was the outlier, or the walker really moved during a dropout).
    min_piece_points: pieces with fewer points are discarded (cannot be matched).
    """

    mode: str = "walk"
    max_speed_mps: float | None = None
    jump_slack_m: float = 30.0
    max_accuracy_m: float = 50.0
    gap_s: float = 300.0
    stay_radius_m: float = 10.0
    stay_min_s: float = 60.0
    max_rejects: int = 5
    min_piece_points: int = 2

    def speed(self) -> float:
        if self.max_speed_mps is not None:
            return float(self.max_speed_mps)
        if self.mode not in MODE_MAX_SPEED:
            raise InputError(f"unknown mode '{self.mode}': use {', '.join(MODE_MAX_SPEED)}")
        return MODE_MAX_SPEED[self.mode]


@dataclass
class CleanReport:
    """How many points each rule removed, and how many pieces came out."""

    points_in: int = 0
    duplicate_times: int = 0
    poor_accuracy: int = 0
    jumps: int = 0
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
    """
    p = params or CleanParams()
    vmax = p.speed()
    rep = CleanReport(points_in=len(points))
    df = points.sort_values("time", kind="stable").reset_index(drop=True)
    # 1. duplicate timestamps: keep the first fix of each instant
    dup = df["time"].duplicated(keep="first").to_numpy()
    rep.duplicate_times = int(dup.sum())
    df = df[~dup]
    # 2. poor accuracy
    if "accuracy" in df:
        acc = df["accuracy"].to_numpy(float)
        poor = np.isfinite(acc) & (acc > p.max_accuracy_m)
        rep.poor_accuracy = int(poor.sum())
        df = df[~poor]
    df = df.reset_index(drop=True)
    if df.empty:
        return [], rep
    t = df["time"].to_numpy("datetime64[ns]").astype(np.int64) / 1e9
    xy = local_xy(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    # 3. jumps: sequential against the last kept fix. A Python loop because each decision
    # depends on the previous one; it runs at ~1 µs per point.
    keep = _reject_jumps(xy, t, vmax, p.jump_slack_m, p.max_rejects, p.gap_s)
    rep.jumps = int((~keep).sum())
    df, xy, t = df[keep].reset_index(drop=True), xy[keep], t[keep]
    # 4. gaps → pieces
    dt = np.diff(t)
    gap = dt > p.gap_s
    rep.gaps = [float(g) for g in dt[gap]]
    piece = np.concatenate([[0], np.cumsum(gap)])
    df["piece"] = piece
    # 5. stays within each piece
    pieces: list[pd.DataFrame] = []
    for k in range(int(piece[-1]) + 1 if len(piece) else 0):
        m = piece == k
        sub, removed = _collapse_stays(df[m], xy[m], t[m], p.stay_radius_m, p.stay_min_s)
        rep.stay_jitter += removed
        if len(sub) < p.min_piece_points:
            rep.short_pieces_points += len(sub)
            continue
        pieces.append(sub)
    pieces = [sub.assign(piece=i).reset_index(drop=True) for i, sub in enumerate(pieces)]
    rep.pieces = len(pieces)
    rep.points_out = int(sum(len(s) for s in pieces))
    return pieces, rep


def _reject_jumps(
    xy: np.ndarray, t: np.ndarray, vmax: float, slack: float, max_rejects: int, gap_s: float
) -> np.ndarray:
    n = len(t)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    xs, ys, ts = xy[:, 0].tolist(), xy[:, 1].tolist(), t.tolist()
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
        if len(rejects) > max_rejects:
            # The run of "jumps" is consistent: it is the new truth; un-reject it.
            for j in rejects:
                keep[j] = True
            last = i
            rejects.clear()
        else:
            keep[i] = False
    return keep


def _collapse_stays(
    df: pd.DataFrame, xy: np.ndarray, t: np.ndarray, radius: float, min_s: float
) -> tuple[pd.DataFrame, int]:
    n = len(df)
    if n < 3 or radius <= 0:
        return df.copy(), 0
    xs, ys, ts = xy[:, 0].tolist(), xy[:, 1].tolist(), t.tolist()
    keep = np.ones(n, dtype=bool)
    lon = df["lon"].to_numpy(float).copy()
    lat = df["lat"].to_numpy(float).copy()
    r2 = radius * radius
    # A stay starting at i needs the fix min_s later still within the radius: a vectorised
    # necessary condition that skips the scan for every fix of a walker who keeps moving.
    j_min = np.minimum(np.searchsorted(t, t + min_s), n - 1)
    maybe = ((xy[j_min] - xy) ** 2).sum(axis=1) <= r2
    maybe &= t[j_min] - t >= min_s
    cand = np.flatnonzero(maybe).tolist()
    if not cand:
        return df.copy(), 0
    i = cand[0]
    ci = 0
    while i < n - 1:
        j = i + 1
        while j < n and (xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2 <= r2:
            j += 1
        # points i..j-1 stay within radius of point i
        if j - i >= 3 and ts[j - 1] - ts[i] >= min_s:
            clon, clat = lon[i:j].mean(), lat[i:j].mean()
            keep[i + 1 : j - 1] = False
            lon[i], lat[i], lon[j - 1], lat[j - 1] = clon, clat, clon, clat
            i = j
        else:
            i += 1
        # jump to the next fix that may start a stay
        while ci < len(cand) and cand[ci] < i:
            ci += 1
        if ci == len(cand):
            break
        i = cand[ci]
    out = df.copy()
    out["lon"], out["lat"] = lon, lat
    return out[keep], int((~keep).sum())
