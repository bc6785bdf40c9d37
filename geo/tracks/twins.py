"""Ways drawn side by side closer than GPS can tell apart, and the stretches of them a match
passed alongside.

WHY (outside tester T62 #1): OSM draws footways and cycleways 4–8 m beside a street, and
some of them are alleys with a steward. A phone's fix drifts 5–10 m, so the matcher puts a
walk of such an alley on the street beside it about as often as on the alley: of 50 full
walks of five such alleys, 11 credited the alley nothing and only 34 were patrolled. No
matcher can tell two ways 4 m apart from fixes scattered over 10 m, so the walking of one
is known to have passed alongside the other (:func:`alongside`), and the patrol visits
credit it to the walker's own alley there (:func:`geo.patrol_visits.visit_rows`).

Pure numpy and shapely on :class:`~geo.tracks.network.WalkNetwork`'s projected pieces;
computed once per network and kept on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo.tracks.network import WalkNetwork

# two ways closer than this (metres, projected), running within TWIN_DEG of parallel over
# at least TWIN_RUN_M, are twins: a fix's drift (5-10 m) cannot say which one was walked.
# Dual carriageways (10 m and more apart) and crossing ways stay apart.
TWIN_M = 8.0
TWIN_DEG = 20.0
TWIN_RUN_M = 15.0
# one sample along a way every TWIN_STEP_M metres
TWIN_STEP_M = 2.0
# a point of a way alongside another's end (nearest to its end point) is not beside it
_END_M = 1.0


@dataclass(frozen=True)
class Twins:
    """Samples of ways alongside another way: sample ``i`` lies on edge ``b[i]`` (positions
    into the network's edges) at fraction ``fb[i]``, beside edge ``a[i]`` at fraction
    ``fa[i]``; ``half[i]``: half the fraction of ``b`` one sample stands for."""

    b: np.ndarray
    fb: np.ndarray
    a: np.ndarray
    fa: np.ndarray
    half: np.ndarray


def twins(net: WalkNetwork) -> Twins:
    """The network's twin samples, computed on first use and kept on ``net``."""
    found = getattr(net, "_twins", None)  # a network pickled before it had the attribute
    if found is None:
        found = net._twins = _twins(net)
    return found


def _twins(net: WalkNetwork) -> Twins:
    n_e = len(net.length)
    length = np.asarray(net.length, dtype=float)
    sedge = np.asarray(net.seg_edge)
    off = np.asarray(net.seg_off)
    x0, y0 = net.seg_x0, net.seg_y0
    dx, dy = net.seg_dx, net.seg_dy
    seglen = np.sqrt(net.seg_len2)
    if n_e == 0:
        return _empty()
    # samples every TWIN_STEP_M along each edge, at the middle of their stretch
    count = np.maximum(np.ceil(length / TWIN_STEP_M).astype(np.int64), 1)
    edge = np.repeat(np.arange(n_e), count)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    k = np.arange(len(edge)) - np.repeat(first, count)
    step = length[edge] / count[edge]
    s = (k + 0.5) * step
    base = np.concatenate([[0.0], np.cumsum(length)[:-1]])
    g_sub = base[sedge] + off  # each piece's start along all edges end to end
    piece = np.clip(np.searchsorted(g_sub, base[edge] + s, side="right") - 1, 0, len(sedge) - 1)
    t = np.clip((s - off[piece]) / np.maximum(seglen[piece], 1e-9), 0.0, 1.0)
    px, py = x0[piece] + t * dx[piece], y0[piece] + t * dy[piece]
    norm = np.maximum(seglen[piece], 1e-9)
    ux, uy = dx[piece] / norm, dy[piece] / norm
    pts = shapely.points(px, py)
    i, j = net.tree.query(pts, predicate="dwithin", distance=TWIN_M)
    keep = sedge[j] != edge[i]
    i, j = i[keep], j[keep]
    # the nearest point of piece j to sample i
    tj = np.clip(
        ((px[i] - x0[j]) * dx[j] + (py[i] - y0[j]) * dy[j]) / net.seg_len2[j],
        0.0,
        1.0,
    )
    dist = np.hypot(x0[j] + tj * dx[j] - px[i], y0[j] + tj * dy[j] - py[i])
    cos = np.abs(ux[i] * dx[j] + uy[i] * dy[j]) / np.maximum(seglen[j], 1e-9)
    at = off[j] + tj * seglen[j]  # metres along edge a
    a = sedge[j]
    ok = (
        (dist <= TWIN_M)
        & (cos >= math.cos(math.radians(TWIN_DEG)))
        & (at > _END_M)
        & (at < length[a] - _END_M)
    )
    i, a, at, dist = i[ok], a[ok], at[ok], dist[ok]
    if not len(i):
        return _empty()
    # one point per sample and edge beside it: the nearest (a bend's two pieces)
    o = np.lexsort((dist, a, i))
    i, a, at = i[o], a[o], at[o]
    first_of = np.concatenate([[True], (i[1:] != i[:-1]) | (a[1:] != a[:-1])])
    i, a, at = i[first_of], a[first_of], at[first_of]
    # pairs of ways alongside each other over at least TWIN_RUN_M
    b = edge[i]
    _, pair = np.unique(b.astype(np.int64) * n_e + a, return_inverse=True)
    long = np.bincount(pair, weights=step[i])[pair] >= TWIN_RUN_M
    i, a, at, b = i[long], a[long], at[long], b[long]
    return Twins(
        b=b,
        fb=s[i] / length[b],
        a=a,
        fa=at / length[a],
        half=step[i] / 2.0 / length[b],
    )


def _empty() -> Twins:
    z = np.empty(0)
    zi = np.empty(0, dtype=np.int64)
    return Twins(zi, z, zi, z, z)


ALONGSIDE_COLUMNS = ["edge_id", "by_edge_id", "start_fraction", "end_fraction"]


def alongside(net: WalkNetwork, intervals: pd.DataFrame | None) -> pd.DataFrame:
    """The stretches of other ways that the covered ``intervals`` (``edge_id``,
    ``start_fraction``, ``end_fraction``: a match's) passed alongside: ``edge_id`` (the way
    beside), ``by_edge_id`` (the way walked), ``start_fraction``, ``end_fraction`` (of the
    way beside, merged runs of samples). Numpy throughout: it runs on every match."""
    tw = twins(net)
    if intervals is None or not len(intervals) or not len(tw.b):
        return pd.DataFrame(columns=ALONGSIDE_COLUMNS)
    ids = np.asarray(net.edge_ids)
    pos = pd.Index(ids).get_indexer(intervals["edge_id"].to_numpy())
    lo = intervals["start_fraction"].to_numpy(float)
    hi = intervals["end_fraction"].to_numpy(float)
    walked = pos >= 0
    pos, lo, hi = pos[walked], lo[walked], hi[walked]
    # the twin samples beside a covered way, each against that way's covered intervals
    near = np.flatnonzero(np.isin(tw.a, pos))
    k, m = np.nonzero(tw.a[near, None] == pos[None, :])
    passed = (tw.fa[near[k]] >= lo[m]) & (tw.fa[near[k]] <= hi[m])
    k = np.unique(near[k[passed]])
    sb, fb, sa, half = tw.b[k], tw.fb[k], tw.a[k], tw.half[k]
    o = np.lexsort((fb, sa, sb))
    sb, fb, sa, half = sb[o], fb[o], sa[o], half[o]
    # runs: the same two ways, samples next to each other
    cut = (sb[1:] != sb[:-1]) | (sa[1:] != sa[:-1]) | (np.diff(fb) > 2.5 * half[1:])
    first = np.flatnonzero(np.concatenate([[True], cut])) if len(sb) else np.empty(0, int)
    last = np.concatenate([first[1:] - 1, [len(sb) - 1]]) if len(first) else first
    return pd.DataFrame(
        {
            "edge_id": ids[sb[first]],
            "by_edge_id": ids[sa[first]],
            "start_fraction": np.maximum(fb[first] - half[first], 0.0),
            "end_fraction": np.minimum(fb[last] + half[last], 1.0),
        },
        columns=ALONGSIDE_COLUMNS,
    )
