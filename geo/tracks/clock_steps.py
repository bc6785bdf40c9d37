"""A phone clock set back mid-walk: the fixes before the step keep the file's order.

WHY: a phone corrects its clock while recording (network time, NTP): the fixes after the
correction are stamped up to minutes earlier than those just before, though they were taken
after them. Sorted by time, the two stretches interleave: each instant of the overlap has a
fix from the first stretch and one from the second, 100 m and more apart, and the cleaner
drops the zigzag as jumps. An outside tester (T57) lost more than half of an honest walk this
way with nothing said (credit 0.42 against 0.97; a 90 s step back).

Such a step is told from recordings sent out of order (a GPX's tracks in another order, fixes
an app cached and sent later: sorted by time as before) by four things: it is under an hour;
the fixes after it fall among the times before it, each with a fix before the step within a
few fix intervals of its time (recordings of one day written out of order leave hours between
them, T58 F2); at those instants the two stretches are far apart (cached fixes sent late agree
with the walk at their times); and the walk goes on from where it was (the fix after the step
is near the one before it).

Then the fixes BEFORE the step move earlier, to end one fix interval before the first fix
after it: a correction sets the clock right, so the fixes after it hold the true time and the
ones before were ahead (moving the later ones on instead put a walk ended at 23:59 past
midnight, and a fresh walk from a phone 17 minutes ahead read as "in the future", T58 F1).
Pure numpy; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.tracks.clean import local_xy

# a step back shorter than this interleaves a few fixes a few metres apart: sorting is harmless
MIN_STEP_S = 10.0
# a phone's clock correction is seconds to minutes; hours back is recordings out of order
MAX_STEP_S = 3600.0
# "goes on from where it was": the fix after the step within this of the one before, plus
# what a fast walker or a bike covers in the usual interval between fixes
NEAR_M = 60.0
NEAR_SPEED_MPS = 6.0
# at the same instant, the two stretches' fixes farther apart than two fixes' noise: the walk
# cannot have been at both places, so time order is not the walk's order
APART_M = 30.0
# "the same instant": a fix before the step within this many fix intervals (at least
# SAME_MIN_S); and most of the fixes after the step that fall among the times before it must
# have one
SAME_INTERVALS = 2.0
SAME_MIN_S = 10.0
SAME_SHARE = 0.5
# more steps than this is a shuffled file or a clock jumping about (refused by the upload
# checks, geo.track_times.MAX_BACK_JUMPS): nothing is moved
MAX_STEPS = 3


@dataclass(frozen=True)
class ClockStep:
    """One undone step: the file position of the first fix after it, how far back it went,
    and how many fixes (those before it) were moved earlier."""

    index: int
    back_s: float
    moved: int


def clock_steps(
    t_ns: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, list[ClockStep]]:
    """The times with clock steps back undone, and the steps (times in ns, in file order).

    A step back (the next fix more than :data:`MIN_STEP_S` and at most :data:`MAX_STEP_S`
    earlier) is undone when the fixes after it, up to the next step, interleave with the
    fixes before it at places more than :data:`APART_M` apart, and the first of them is near
    the last fix before it; the fixes before it then move earlier by the step plus the median
    interval between fixes. With no step or more than :data:`MAX_STEPS` steps, the times are
    returned unchanged."""
    t = np.asarray(t_ns, dtype=np.int64).copy()
    n = len(t)
    if n < 3:
        return t, []
    dt = np.diff(t)
    steps = np.flatnonzero(dt < -MIN_STEP_S * 1e9)
    if not len(steps) or len(steps) > MAX_STEPS:
        return t, []
    forward = dt[dt > 0]
    interval = int(np.median(forward)) if len(forward) else int(1e9)
    xy = local_xy(np.asarray(lon, float), np.asarray(lat, float))
    x, y = xy[:, 0], xy[:, 1]
    gap_m = np.hypot(np.diff(x), np.diff(y))
    near = NEAR_M + NEAR_SPEED_MPS * interval / 1e9
    same_ns = max(SAME_INTERVALS * interval, SAME_MIN_S * 1e9)
    done: list[ClockStep] = []
    ends = np.append(steps[1:] + 1, n)
    for i, end in zip(steps.tolist(), ends.tolist(), strict=True):
        back = int(t[i] - t[i + 1])
        if not MIN_STEP_S * 1e9 < back <= MAX_STEP_S * 1e9 or not gap_m[i] <= near:
            continue  # recordings out of order: sorted by time
        if not _interleaved(t, x, y, i + 1, end, same_ns):
            continue  # recordings or fixes sent late, where the walk was at their times
        t[: i + 1] -= back + interval
        done.append(ClockStep(index=i + 1, back_s=back / 1e9, moved=i + 1))
    return t, done


def _interleaved(
    t: np.ndarray, x: np.ndarray, y: np.ndarray, a: int, b: int, same_ns: float
) -> bool:
    """Whether most fixes ``a:b`` that fall among the times before ``a`` have a fix before
    ``a`` within ``same_ns`` of their time, and those lie (median) more than :data:`APART_M`
    from them."""
    order = np.argsort(t[:a], kind="stable")
    tb = t[:a][order]
    ta = t[a:b]
    if len(tb) < 2 or not len(ta):
        return False
    j = np.clip(np.searchsorted(tb, ta), 1, len(tb) - 1)
    j = np.where(np.abs(tb[j - 1] - ta) < np.abs(tb[j] - ta), j - 1, j)
    inside = (ta >= tb[0]) & (ta <= tb[-1])
    close = inside & (np.abs(tb[j] - ta) <= same_ns)
    if close.sum() < max(2, SAME_SHARE * inside.sum()):
        return False
    near = order[j[close]]
    d = np.hypot(x[a:b][close] - x[near], y[a:b][close] - y[near])
    return bool(np.median(d) > APART_M)
