"""Rides through winding alleys, found along the matched route.

The cleaner's ride rules (:func:`geo.tracks.clean._rides`) measure straight lines between
fixes, which understate a winding route: a bike at 3-4.5 m/s through the alleys of a
hutong stays under a walker's 2.5 m/s in a straight line, and an outside tester's rides
sent as walks were credited with 1.6-2.75 patrolled alleys each. After matching, the
shortest walk between two matched positions is known; a stretch covered faster than a
walker, measured along the network, was ridden, and its steps are taken off the network
before anything is credited. Kept apart from the matcher: functions of positions, route
distances and times."""

from __future__ import annotations

import numpy as np

from geo.tracks.network import WalkNetwork
from geo.tracks.stays import windows_cover


def ride_windows(
    t: np.ndarray, run: np.ndarray, window_s: float, min_window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) step indices of the windows to measure: from each step to the first one
    at least ``window_s`` later, within twice that and on the same run (``run``: each step's
    run of linked steps; ``t`` in seconds, sorted).

    A piece shorter than ``window_s`` is measured over its whole length, if that is at least
    ``min_window_s``: the cleaner cuts a track where it finds a ride and leaves the
    walked-looking bits between rides (20-60 s through U-turns), which a longer window
    would never judge."""
    n = len(t)
    none = np.empty(0, dtype=np.int64)
    if n < 3 or t[-1] - t[0] < min_window_s:
        return none, none
    window_s = min(window_s, float(t[-1] - t[0]))
    j = np.searchsorted(t, t + window_s)
    i = np.flatnonzero(j < n)
    j = j[i]
    ok = (run[i] == run[j]) & (t[j] - t[i] <= 2 * window_s)
    return i[ok], j[ok]


def ridden_steps(
    n: int,
    i: np.ndarray,
    j: np.ndarray,
    metres: np.ndarray,
    seconds: np.ndarray,
    speed_mps: float,
    slack_m: float,
) -> np.ndarray:
    """Which of ``n`` steps lie in a window (i to j) whose ``metres`` along the network, less
    ``slack_m`` (the two ends' noise), took less than ``seconds`` at ``speed_mps``."""
    fast = metres - slack_m > speed_mps * seconds
    return windows_cover(n, i[fast], j[fast] + 1)


def route_metres(
    net: WalkNetwork, ea: np.ndarray, oa: np.ndarray, eb: np.ndarray, ob: np.ndarray
) -> np.ndarray:
    """The shortest walk (metres) from position a to position b (edge index, metres from its
    u end), through the network's route table; inf beyond it (farther than its bound, 400 m
    on a walk network: a ride over a window of a minute or less). Lengths, not route costs:
    the matcher's transitions (geo.tracks.match._transitions) score every candidate pair with
    cost factors, one-way rules and a Dijkstra fallback; here it is one pair per window."""
    best = np.where(ea == eb, np.abs(ob - oa), np.inf)
    la, lb = net.length[ea], net.length[eb]
    for sn, sc in ((net.u[ea], oa), (net.v[ea], la - oa)):
        for tn, tc in ((net.u[eb], ob), (net.v[eb], lb - ob)):
            d, _ = net.ubodt_lookup(sn, tn)
            best = np.minimum(best, sc + d + tc)
    return best
