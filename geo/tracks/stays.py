"""Stops in a walk: where the steward stood still, found so their GPS jitter is not matched.

WHY: a phone left still keeps reporting fixes that wander with the GPS error, and the matcher
reads the wander as walking: an outside tester's steward who stood 10 minutes at 70 % of an
alley was credited 0.86 of it (14 of 19 walks at 12 m noise passed the 80 % patrolled share,
none without the stop), and one who stood at a junction was credited the 35 m alleys round it.
Two rules, both collapsing a stop to two fixes (arrival, departure) at its centre:

- :func:`tight_stays`: every fix within a small radius of the stop's first fix for a minute.
  Catches short stops at low noise, but real phone noise is correlated in time (it drifts,
  rather than scattering about the true point), so at 8–12 m it wanders out of any radius
  that a slow walker would not also stay in.
- :func:`long_stays`: over a long window the walker's own movement adds up while the noise
  does not. A window of ``span_s`` is a stop when the mean positions of its three thirds lie
  within ``spread_m`` of each other (a walker at 0.5 m/s moves 80 m from the first third to
  the last) and its fixes' radius of gyration is within ``gyration_m`` (a walk into a dead end
  and back brings the thirds together but spreads the fixes along the alley). A window that
  moves at a steady pace (:func:`_steady_pace`) is a walk whatever its shape: in-and-out
  walks of a cluster of short dead ends pass the two tests above. The fixes of every window
  left belong to a stop.
- :func:`still_stretches`: a phone that never leaves a small area for half an hour (left at
  home or in a pocket on a chair, however much its fixes drift) is no patrol, whatever pace
  its drift looks like. Found over a long window by the fixes' radius of gyration alone, with
  no steady-pace exemption (see its docstring for why).

Pure numpy on metric positions and seconds; cumulative sums give every window's means in O(n).
"""

from __future__ import annotations

import numpy as np

# A window moving at a steady pace is a walk (see _steady_pace): the displacement over this
# lag has a coefficient of variation at most this, and a mean speed at least this.
PACE_LAG_S = 24.0
PACE_MAX_CV = 0.45
PACE_MIN_MPS = 0.3
# A still stretch (still_stretches) runs from its first to its last fix within this many times
# the median distance of its fixes from their median. WHY 2.4: drifting noise spreads a still
# phone's distances as a Rayleigh law (median 1.18σ), 2.4 medians is 2.8σ, inside which 98 %
# of them fall; a tighter cut (a fixed 20 m) left the last 11 minutes of an 8-hour stay at
# σ 20 m outside it, matched, and 62 m of an alley credited.
STILL_TRIM = 2.4


def long_stays(
    xy: np.ndarray, t: np.ndarray, span_s: float, spread_m: float, gyration_m: float
) -> list[tuple[int, int]]:
    """[start, end) fix ranges of long stops (see the module docstring).

    WHY those defaults (240 s, 30 m, 25 m; ``CleanParams``): on simulated stops with white and
    correlated noise (AR(1), τ 30–60 s), 97–100 % of a stop's fixes are found up to 15 m noise
    per axis and 85 % at 20 m; walks at 0.5 m/s or faster are never taken for one, nor walks
    into a 30–100 m dead end and back at 0.8 m/s or faster. 180 s found as much but took a
    slow walk's turn at the end of a 60 m dead end for a stop in 1 to 2 walks of 10.
    """
    n = len(t)
    if n < 6 or span_s <= 0:
        return []
    acc = _sums(xy)
    i = np.arange(n)
    b1 = np.searchsorted(t, t + span_s / 3)
    b2 = np.searchsorted(t, t + 2 * span_s / 3)
    b3 = np.searchsorted(t, t + span_s, side="right")
    whole = (b3 < n) | (t[-1] - t >= span_s)  # the window fits in the piece
    counted = (b1 - i >= 2) & (b2 - b1 >= 2) & (b3 - b2 >= 2)
    m1, m2, m3 = _means(acc, i, b1), _means(acc, b1, b2), _means(acc, b2, b3)
    m = _means(acc, i, b3)
    spread = np.maximum.reduce(
        [np.hypot(*(p - q)[:, :2].T) for p, q in ((m1, m2), (m2, m3), (m1, m3))]
    )
    gyration = _gyration(m)
    still = whole & counted & (spread <= spread_m) & (gyration <= gyration_m)
    if not still.any():
        return []
    still &= ~_steady_pace(xy, t, span_s)
    if not still.any():
        return []
    starts, ends = _runs(n, i[still], b3[still])
    # A window that passes may begin up to ~40 s before the walker stopped; the stop begins at
    # its first fix within half the spread of its centre (the walk up to it stays evidence for
    # the matcher: absorbed, the last 50 m of an alley walked in and out were lost with it).
    # Not split where the walker left and came back within the stop: fixes far from the centre
    # are as often the drift of correlated noise (kept, they brought back 11 of the 21 false
    # patrols this rule removes), so a turn 40 m away between two stops is lost.
    out = []
    for a, b in zip(starts, ends, strict=True):
        d = np.hypot(*(xy[a:b] - np.median(xy[a:b], axis=0)).T)
        near = np.flatnonzero(d <= spread_m / 2)
        if len(near) >= 3:
            out.append((a + int(near[0]), a + int(near[-1]) + 1))
    return out


def still_stretches(
    xy: np.ndarray, t: np.ndarray, span_s: float, gyration_m: float
) -> list[tuple[int, int]]:
    """[start, end) fix ranges where the phone stayed within a small area for at least
    ``span_s``: every window of that span from a fix in them has its fixes' radius of
    gyration within ``gyration_m``. Each range is trimmed to its first and last fix within
    :data:`STILL_TRIM` × the median distance of its fixes from their median (the walk up to
    it and away from it stays evidence; a window may take in 2–3 minutes of either), or to
    the range's ends where the fixes beyond that cut go no farther than those within it.

    WHY (an outside tester's phones left at home 8 h beside an alley, drifting noise σ 15–20 m
    per axis, τ 120 s): :func:`long_stays` took out 86–95 % of the fixes, but at 20 m the
    thirds of a 4-minute window drift apart by more than 30 m and its fixes spread beyond
    25 m, and the steady-pace exemption fires on 1 window in 10 (a drifting phone's 24 s
    steps have a CV of 0.52, estimated from ten of them); the fixes left credited a 29 m and
    an 86 m alley in full. Over 30 minutes drifting noise settles to its own σ√2 radius
    (28 m at σ 20 m per axis, 35 m at the matcher's 25 m cap), while a walker in that time
    has covered 1–2 km: 40 m is a 140 m alley paced up and down for half an hour, or a
    cluster of short dead ends walked round and round, neither a patrol of more than what
    the walk in and out of it shows. WHY no pace test: over that span the drift's pace looks
    steady often enough somewhere in 8 hours to let fragments through.

    Not :func:`geo.track_flags.still_stretches` (the ``stationary`` flag's rule: 95 % of
    the RAW fixes within 60 m of their median, minute means under 0.7 m/s, time spans with
    their radius for the flag's sentence). This one cleans a piece before matching: it takes
    fixes out, so it gives fix ranges trimmed to the stop's own noise (the walk in and out
    stays evidence) and was set by what the matcher credits (CleanParams.still_s,
    still_gyration_m); that one only marks a walk for an evaluator and was set by false flags
    on real tracks (bench/track_flags.py). One rule for both would move one of the two
    calibrations; :func:`geo.track_judging._credited_while_still` joins them (a stationary
    flag stands only where a visit was credited inside the flag's stretch anyway).
    """
    n = len(t)
    if n < 6 or span_s <= 0:
        return []
    acc = _sums(xy)
    i = np.arange(n)
    b = np.searchsorted(t, t + span_s, side="right")
    whole = (b < n) | (t[-1] - t >= span_s)
    gyration = _gyration(_means(acc, i, b))
    still = whole & (b - i >= 6) & (gyration <= gyration_m)
    if not still.any():
        return []
    starts, ends = _runs(n, i[still], b[still])
    out = []
    for a, z in zip(starts, ends, strict=True):
        d = np.hypot(*(xy[a:z] - np.median(xy[a:z], axis=0)).T)
        near = np.flatnonzero(d <= STILL_TRIM * max(float(np.median(d)), 2.0))
        if len(near) < 3:
            continue
        first, last = int(near[0]), int(near[-1])
        # fixes beyond the cut that go no farther than the stop's own noise went are that
        # noise, not a walk to or from it (a walk leaves farther within the window's minutes)
        reach = float(d[first : last + 1].max())
        if (d[:first] <= reach).all():
            first = 0
        if (d[last + 1 :] <= reach).all():
            last = z - a - 1
        out.append((a + first, a + last + 1))
    return out


def _sums(xy: np.ndarray) -> np.ndarray:
    """Cumulative sums (n+1 rows) of the fixes' x, y and x² + y², centred on their mean (so
    the squares stay small): window [a, b)'s means are ``(acc[b] - acc[a]) / (b - a)``."""
    c = xy - xy.mean(axis=0)
    acc = np.zeros((len(xy) + 1, 3))
    np.cumsum(np.column_stack([c, (c**2).sum(axis=1)]), axis=0, out=acc[1:])
    return acc


def _means(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The means of x, y and x² + y² over each window [a[k], b[k]) (:func:`_sums`)."""
    return (acc[b] - acc[a]) / np.maximum(b - a, 1)[:, None]


def _gyration(means: np.ndarray) -> np.ndarray:
    """Each window's radius of gyration from its means of x, y and x² + y² (:func:`_means`)."""
    return np.sqrt(np.maximum(means[:, 2] - (means[:, :2] ** 2).sum(axis=1), 0.0))


def _runs(n: int, starts: np.ndarray, stops: np.ndarray) -> tuple[list[int], list[int]]:
    """The [start, end) fix ranges that the windows [starts[k], stops[k]) cover together."""
    inside = windows_cover(n, starts, stops)
    edges = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()


def _steady_pace(xy: np.ndarray, t: np.ndarray, span_s: float) -> np.ndarray:
    """Per window of ``span_s`` from each fix: does it move at a steady pace?

    WHY: an error that drifts (AR(1), any σ and τ) displaces a still phone over a lag by an
    isotropic Gaussian step, so the step's length follows the Rayleigh law, whose coefficient
    of variation is 0.52 whatever σ and τ. A walker's step over 24 s is mostly their own
    pace (CV well under that, turnarounds aside) while the noise is smaller than 24 s of
    walking. Windows whose steps have CV ≤ 0.45 at ≥ 0.3 m/s are walks. On simulated walks
    through a cluster of 30–40 m dead ends of the demo (an outside tester's: 23 % of a
    1.3 m/s walk's fixes were taken for a stop and a 36 m alley lost all its credit), 3 m
    noise: no fix is now taken for a stop at 0.5–1.3 m/s; 5 m: 0–6 % (was 13–22 %); 8 m:
    3–17 % (was 12–22 %); stops found at 5–12 m noise are unchanged (τ 30–120 s), at 20 m
    0.65–0.80 of a 5-minute stop's fixes (was 0.73–0.82).
    """
    n = len(t)
    j = np.searchsorted(t, t + PACE_LAG_S)  # the first fix at least the lag later
    has = j < n
    jj = np.minimum(j, n - 1)
    v = np.where(has, np.hypot(*(xy[jj] - xy).T) / np.maximum(t[jj] - t, 1e-9), 0.0)
    w = has.astype(float)
    acc = np.zeros((n + 1, 3))
    np.cumsum(np.column_stack([w, v * w, v * v * w]), axis=0, out=acc[1:])
    i = np.arange(n)
    end = np.maximum(np.searchsorted(t, t + span_s - PACE_LAG_S, side="right"), i + 1)
    s = acc[end] - acc[i]
    k = np.maximum(s[:, 0], 1.0)
    mean = s[:, 1] / k
    sd = np.sqrt(np.maximum(s[:, 2] / k - mean**2, 0.0))
    return (s[:, 0] >= 3) & (mean >= PACE_MIN_MPS) & (sd <= PACE_MAX_CV * mean)


def windows_cover(n: int, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Which of n fixes lie in at least one window [starts[k], stops[k]): a difference array
    summed once, not a loop over windows that overlap by hundreds of fixes. Also the ride
    rule's (:func:`geo.tracks.clean._rides`)."""
    depth = np.zeros(n + 1, dtype=np.int64)
    np.add.at(depth, starts, 1)
    np.add.at(depth, stops, -1)
    return np.cumsum(depth[:n]) > 0


def tight_stays(
    xy: np.ndarray, t: np.ndarray, radius: float, min_s: float
) -> list[tuple[int, int]]:
    """[start, end) fix ranges where every fix stays within ``radius`` of the range's first
    fix for at least ``min_s`` seconds (at least 3 fixes)."""
    n = len(t)
    if n < 3 or radius <= 0:
        return []
    xs, ys, ts = xy[:, 0].tolist(), xy[:, 1].tolist(), t.tolist()
    r2 = radius * radius
    # A stay starting at i needs the fix min_s later still within the radius: a vectorised
    # necessary condition that skips the scan for every fix of a walker who keeps moving.
    j_min = np.minimum(np.searchsorted(t, t + min_s), n - 1)
    maybe = ((xy[j_min] - xy) ** 2).sum(axis=1) <= r2
    maybe &= t[j_min] - t >= min_s
    cand = np.flatnonzero(maybe).tolist()
    out: list[tuple[int, int]] = []
    ci = 0
    i = cand[0] if cand else n
    while i < n - 1:
        j = i + 1
        while j < n and (xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2 <= r2:
            j += 1
        # points i..j-1 stay within radius of point i
        if j - i >= 3 and ts[j - 1] - ts[i] >= min_s:
            out.append((i, j))
            i = j
        else:
            i += 1
        # jump to the next fix that may start a stay
        while ci < len(cand) and cand[ci] < i:
            ci += 1
        if ci == len(cand):
            break
        i = cand[ci]
    return out


def collapse(
    arrays: list[np.ndarray], stays: list[tuple[int, int]], centre: str = "mean"
) -> np.ndarray:
    """Row positions kept when each stay [a, b) keeps only its first and last fix, both moved
    (in place, in every array of ``arrays``: lon, lat, metric xy...) to the stay's centre: the
    mean, or the median, which a long stop's window needs because it may take in the last
    metres of the walk up to it."""
    n = len(arrays[0])
    keep = np.ones(n, dtype=bool)
    pick = np.median if centre == "median" else np.mean
    for a, b in stays:
        keep[a + 1 : b - 1] = False
        for arr in arrays:
            arr[a] = arr[b - 1] = pick(arr[a:b], axis=0)
    return np.flatnonzero(keep)
