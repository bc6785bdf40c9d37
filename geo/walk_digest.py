"""Knowing a walk sent twice: the digest of its fixes and what a change of its times means.

A file's sha256 makes the same bytes one track, but a walk written again (CRLF line ends,
another export, GCJ-02 instead of WGS 84) or re-sent with its dates moved (yesterday's walk
as today's, a colleague's as one's own) has other bytes and used to be credited again (an
outside tester). No two walks give the same fixes to 0.1 m: the digest of the fixes finds
them. Kept apart from the store (geo.track_store), which decides what to do with a match."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

# fewer distinct positions than this: no digest (a phone lying still, or one repeating a cached
# position, gives the same fixes any day; such a track credits nothing worth copying)
MIN_DISTINCT_FIXES = 3
# a re-send whose every time moved by a whole number of these, up to MAX_ZONE_SHIFT, is the
# same walk with its time zone corrected (a GPX written without a zone was read as UTC)
ZONE_STEP = pd.Timedelta(minutes=15)
MAX_ZONE_SHIFT = pd.Timedelta(hours=14)


def fixes_digest(pts: pd.DataFrame) -> str | None:
    """sha256 of a track's fixes, lon/lat rounded to 1e-6° (0.1 m) in their order; None when
    they hold fewer than MIN_DISTINCT_FIXES positions. Times are left out on purpose: a walk
    re-sent with its dates moved has the same digest."""
    coords = np.round(pts[["lon", "lat"]].to_numpy(dtype=np.float64), 6) + 0.0  # no -0.0
    if len(np.unique(coords, axis=0)) < MIN_DISTINCT_FIXES:
        return None
    return hashlib.sha256(np.ascontiguousarray(coords).tobytes()).hexdigest()


def zone_shift(old: pd.Series, new: pd.Series) -> pd.Timedelta | None:
    """The shift when ``new`` is ``old`` with every time moved by one whole number of quarter
    hours, at most 14 h and not 0 (a time zone put right); None otherwise (other times: a
    replay of the walk, not a correction)."""
    if len(old) != len(new) or not len(old):
        return None
    diff = pd.to_datetime(new, utc=True).to_numpy() - pd.to_datetime(old, utc=True).to_numpy()
    if not (diff == diff[0]).all():
        return None
    shift = pd.Timedelta(diff[0])
    if shift == pd.Timedelta(0) or abs(shift) > MAX_ZONE_SHIFT or shift % ZONE_STEP:
        return None
    return shift


# A copy with its fixes nudged (each moved by under a metre, as an outside tester's were)
# has another digest. Its fixes still lie on the stored walk's, NEAR_M apart at most for
# NEAR_SHARE of them, and at one time offset (the copy's shift) for NEAR_SHARE of those.
# Two real walks of one alley never do both: phone fixes scatter 3-15 m across the way, and
# where they do not (an app that snaps its track to the roads: every walk on the same line)
# two walks' paces still drift apart by seconds (stops, crossings, a slower stretch).
NEAR_M = 1.0
NEAR_SHARE = 0.95
NEAR_TIME_S = 1.5  # a matched fix's time offset within this of the walk's: the copy's shift
SNAPPED_M = 0.05  # fixes this close to the chords of their neighbours: a snapped track
MIN_NEAR_POSITIONS = 20  # fewer distinct positions, or a walk shorter than MIN_NEAR_SPAN_S:
MIN_NEAR_SPAN_S = 120.0  # too little to call a walk a copy (two short walks may agree)
# candidates are stored walks whose mean fix lies this close to the new one's (degrees of
# latitude, about 6.7 m; a nudged copy's mean moves by centimetres)
CENTER_RADIUS_DEG = 6e-5
_M_PER_DEG = 111_320.0


def fixes_center(pts: pd.DataFrame) -> tuple[float, float]:
    """The mean lon/lat of a walk's fixes: where a copy of it is looked for (kept only for
    walks with a digest: fewer positions cannot tell walks apart)."""
    return float(pts["lon"].mean()), float(pts["lat"].mean())


def on_lines(xy: np.ndarray) -> bool:
    """Whether a walk's fixes (n×2, metres) lie on straight lines to SNAPPED_M: each fix on
    the chord of its neighbours, for most of them. WHY: an app that snaps its track to the
    roads puts every walk of an alley on one line, where a second walk at a steady pace is
    its first one to the metre and the second (an outside re-tester: 13 of a month's 24
    such walks were refused as copies). Such a walk is judged by its exact digest only; a
    nudged copy is off its lines by its nudges, so it is judged as any."""
    keep = np.concatenate([[True], np.any(np.diff(xy, axis=0) != 0, axis=1)])
    p = xy[keep]
    if len(p) < 3:
        return False
    chord = p[2:] - p[:-2]
    side = p[1:-1] - p[:-2]
    length = np.hypot(chord[:, 0], chord[:, 1])
    off = np.abs(chord[:, 0] * side[:, 1] - chord[:, 1] * side[:, 0]) / np.maximum(length, 1e-9)
    return bool(np.median(off[length > 0]) < SNAPPED_M) if (length > 0).any() else False


def _scale(lonlat: np.ndarray) -> np.ndarray:
    """Metres per degree (lon, lat) at the mean latitude of ``lonlat`` (n×2): the local
    equirectangular scale :func:`near_copy` measures a walk in."""
    return np.array([_M_PER_DEG * np.cos(np.radians(float(lonlat[:, 1].mean()))), _M_PER_DEG])


def may_be_copy(new: pd.DataFrame) -> bool:
    """Whether walk ``new`` passes what :func:`near_copy` asks of the new walk alone (two
    fixes, MIN_NEAR_SPAN_S, MIN_NEAR_POSITIONS, not snapped to lines). WHY apart: when it
    does not, no stored walk's fixes need reading to know it copies none of them."""
    a = new[["lon", "lat"]].to_numpy(dtype=np.float64)
    t = pd.to_datetime(new["time"], utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    if len(a) < 2 or (t.max() - t.min()) / 1e9 < MIN_NEAR_SPAN_S:
        return False
    xy = a * _scale(a)
    return len(np.unique(np.round(xy, 1), axis=0)) >= MIN_NEAR_POSITIONS and not on_lines(xy)


def box_rules_out(new: pd.DataFrame, box: tuple[float, float, float, float]) -> bool:
    """Whether walk ``new`` cannot be a nudged copy (:func:`near_copy`) of a stored walk whose
    fixes all lie in ``box`` (lon0, lat0, lon1, lat1: ``tracks.fixes_extent``): fewer than
    NEAR_SHARE of its fixes lie within NEAR_M of the box, so fewer lie within NEAR_M of the
    walk's fixes. WHY: the stored walks near a new one's mean (its place's history, a walk a
    day) were each read and compared, from their kept files once retention dropped their
    fixes; most are ruled out by their box. The margin is widened by 1 % (float rounding):
    it may keep a walk, never drop a copy."""
    a = new[["lon", "lat"]].to_numpy(dtype=np.float64)
    mx, my = 1.01 * NEAR_M / _scale(a)
    lon0, lat0, lon1, lat1 = box
    inside = (
        (a[:, 0] >= lon0 - mx)
        & (a[:, 0] <= lon1 + mx)
        & (a[:, 1] >= lat0 - my)
        & (a[:, 1] <= lat1 + my)
    )
    return bool(inside.mean() < NEAR_SHARE)


def near_copy(new: pd.DataFrame, old: pd.DataFrame) -> bool:
    """Whether the walk ``new`` (lon, lat, time) is the stored walk ``old`` with its fixes
    nudged: NEAR_SHARE of its fixes within NEAR_M of one of ``old``'s, and NEAR_SHARE of
    those at the same time offset from it (±NEAR_TIME_S). WHY one-sided: a copy cut short
    is still a copy. Metres by a local equirectangular scale, exact enough at a metre over
    a walk's few kilometres."""
    return may_be_copy(new) and nudged_from(new, old)


def nudged_from(new: pd.DataFrame, old: pd.DataFrame) -> bool:
    """:func:`near_copy` for a walk ``new`` that passed :func:`may_be_copy` already: the
    comparison with ``old`` alone (a new upload checked once, not again per candidate)."""
    from scipy.spatial import cKDTree

    t_new = pd.to_datetime(new["time"], utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    t_old = pd.to_datetime(old["time"], utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    a = new[["lon", "lat"]].to_numpy(dtype=np.float64)
    b = old[["lon", "lat"]].to_numpy(dtype=np.float64)
    if len(b) < 2:
        return False
    scale = _scale(a)
    a, b = a * scale, b * scale
    if len(np.unique(np.round(b, 1), axis=0)) < MIN_NEAR_POSITIONS:
        return False
    dist, j = cKDTree(b).query(a, distance_upper_bound=NEAR_M)
    on = dist <= NEAR_M
    if on.mean() < NEAR_SHARE:
        return False
    offset = (t_new[on] - t_old[j[on]]) / 1e9
    same = np.abs(offset - np.median(offset)) <= NEAR_TIME_S
    return bool(same.mean() >= NEAR_SHARE)
