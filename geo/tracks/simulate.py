"""Simulated patrols on a network with known truth, for tests and benchmarks.

Real tracks have no ground truth; a simulated walker on the real network does: we know which
stretch of every edge was walked, so matched coverage can be scored exactly. Noise, sampling,
stops, U-turns, a gap and outliers are the failure modes seen in phone tracks.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.tracks.clean import clean_track
from geo.tracks.match import MatchParams, match_track
from geo.tracks.network import WalkNetwork


@dataclass
class SimParams:
    """A walker: route length, pace, sampling, GPS noise (σ per axis) and the nuisances."""

    length_m: float = 1500.0
    speed_mps: float = 1.3
    dt_s: float = 3.0
    noise_m: float = 10.0
    stops: int = 1
    stop_s: float = 120.0
    uturns: int = 1
    gap_s: float = 0.0
    outliers: int = 0
    outlier_m: float = 200.0
    start: str = "2026-03-02T01:00:00Z"


# A network's walking graph, built once per network (benches simulate hundreds of walks on
# one); weak keys, so a dropped network takes its graph with it.
_GRAPHS: weakref.WeakKeyDictionary[WalkNetwork, tuple[dict[int, list[int]], list[int]]] = (
    weakref.WeakKeyDictionary()
)


def _walk_graph(net: WalkNetwork) -> tuple[dict[int, list[int]], list[int]]:
    """Edges at each node, and the nodes a walk may start from.

    Walks start in the network's largest connected part: OSM leaves small islands (a footway
    ring round one building, 100–700 m), and a 1–2.5 km walk started on one circles it a
    dozen times: a track of a few short edges, where one missed edge reads as half the route
    missed, which says nothing about a real patrol."""
    if net in _GRAPHS:
        return _GRAPHS[net]
    adj: dict[int, list[int]] = {}
    for e, (a, b) in enumerate(zip(net.u.tolist(), net.v.tolist(), strict=True)):
        if a != b:
            adj.setdefault(a, []).append(e)
            adj.setdefault(b, []).append(e)
    g = coo_matrix((np.ones(len(net.u)), (net.u, net.v)), shape=(net.n_nodes, net.n_nodes))
    _, label = connected_components(g, directed=False)
    main = int(np.argmax(np.bincount(label[net.u], weights=net.length)))
    starts = [n for n, es in adj.items() if len(es) >= 2 and label[n] == main]
    _GRAPHS[net] = (adj, starts)
    return adj, starts


def random_route(
    net: WalkNetwork, rng: np.random.Generator, length_m: float, uturns: int = 0
) -> list[tuple[int, float, float]]:
    """A random walk without immediate backtracking: legs (edge, from_offset, to_offset)."""
    adj, starts = _walk_graph(net)
    node = int(rng.choice(starts))
    legs: list[tuple[int, float, float]] = []
    total, prev, visited = 0.0, -1, set()
    uturn_at = set(rng.choice(np.arange(3, 40), size=uturns, replace=False).tolist())
    while total < length_m and len(legs) < 10_000:
        opts = [e for e in adj.get(node, []) if e != prev] or adj.get(node, [])
        fresh = [e for e in opts if e not in visited]
        e = int(rng.choice(fresh or opts))
        L = float(net.length[e])
        fwd = int(net.u[e]) == node
        if len(legs) in uturn_at and L > 30:
            mid = L * rng.uniform(0.4, 0.7)
            a, b = (0.0, mid) if fwd else (L, L - mid)
            legs += [(e, a, b), (e, b, a)]
            total += 2 * mid
            prev = -1
            uturn_at.discard(len(legs) - 2)
            continue
        legs.append((e, 0.0, L) if fwd else (e, L, 0.0))
        visited.add(e)
        total += L
        prev = e
        node = int(net.v[e] if fwd else net.u[e])
    return legs


def route_through(
    net: WalkNetwork, targets: list[int], rng: np.random.Generator
) -> list[tuple[int, float, float]]:
    """A walk that covers every edge in ``targets`` (edge positions; a steward's alleys):
    from one of them, on to the nearest one not yet walked by the shortest way, along it,
    and so on. Legs as :func:`random_route`'s. Targets unreachable from the first are left
    out (an alley on an OSM island)."""
    from scipy.sparse.csgraph import dijkstra

    if not targets:
        return []
    g = coo_matrix((net.length, (net.u, net.v)), shape=(net.n_nodes, net.n_nodes)).tocsr()
    by_pair: dict[tuple[int, int], int] = {}
    for e in np.argsort(net.length).tolist()[::-1]:  # the shortest edge between two nodes wins
        a, b = int(net.u[e]), int(net.v[e])
        by_pair[(a, b)] = by_pair[(b, a)] = e
    left = set(targets)
    e0 = int(rng.choice(sorted(left)))
    node = int(net.u[e0])
    legs: list[tuple[int, float, float]] = []

    def walk(e: int, start: int) -> int:
        L = float(net.length[e])
        fwd = int(net.u[e]) == start
        legs.append((e, 0.0, L) if fwd else (e, L, 0.0))
        left.discard(e)
        return int(net.v[e] if fwd else net.u[e])

    while left:
        dist, pred = dijkstra(g, directed=False, indices=node, return_predecessors=True)
        cand = sorted(left)
        ends = np.minimum(dist[net.u[cand]], dist[net.v[cand]])
        if not np.isfinite(ends.min()):
            break
        e = cand[int(np.argmin(ends))]
        to = int(net.u[e] if dist[net.u[e]] <= dist[net.v[e]] else net.v[e])
        path = [to]
        while path[-1] != node:
            path.append(int(pred[path[-1]]))
        for a, b in zip(path[::-1][:-1], path[::-1][1:], strict=True):
            node = walk(by_pair[(a, b)], a)
        node = walk(e, to)
    return legs


def simulate_patrol(
    net: WalkNetwork,
    rng: np.random.Generator,
    sp: SimParams | None = None,
    legs: list[tuple[int, float, float]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points lon/lat/time/accuracy, truth edge_id/covered_fraction/covered_m).

    ``legs``: walk this route (e.g. :func:`route_through`) instead of a random one of
    ``sp.length_m``."""
    sp = sp or SimParams()
    if legs is None:
        legs = random_route(net, rng, sp.length_m, sp.uturns)
    if not legs:
        raise ValueError("a simulated walk needs at least one leg")
    parts, cum = [], [0.0]
    for e, a, b in legs:
        g = net.geoms_m[e]
        seg = shapely.ops.substring(g, min(a, b), max(a, b))
        c = shapely.get_coordinates(seg)
        if a > b:
            c = c[::-1]
        parts.append(c if not parts else c[1:])
        cum.append(cum[-1] + abs(b - a))
    line = shapely.linestrings(np.vstack(parts))
    total = cum[-1]
    # timeline: distance along the route at each fix, with stops (standing still)
    t_move = total / sp.speed_mps
    stop_at = np.sort(rng.uniform(0.1, 0.9, sp.stops)) * t_move
    times, dist = [], []
    t, clock = 0.0, 0.0
    stops = list(stop_at)
    while t <= t_move:
        times.append(clock)
        dist.append(t * sp.speed_mps)
        step = sp.dt_s
        if stops and t >= stops[0]:
            stops.pop(0)
            for _ in range(int(sp.stop_s // sp.dt_s)):
                clock += sp.dt_s
                times.append(clock)
                dist.append(t * sp.speed_mps)
        t += step
        clock += step
    times_a, dist_a = np.asarray(times), np.minimum(np.asarray(dist), total)
    observed = np.ones(len(times_a), dtype=bool)
    if sp.gap_s > 0:
        g0 = rng.uniform(0.3, 0.6) * times_a[-1]
        observed = (times_a < g0) | (times_a > g0 + sp.gap_s)
    pos = shapely.get_coordinates(shapely.line_interpolate_point(line, dist_a))
    noisy = pos + rng.normal(0, sp.noise_m, pos.shape)
    if sp.outliers:
        idx = rng.choice(np.arange(5, len(noisy) - 5), size=sp.outliers, replace=False)
        ang = rng.uniform(0, 2 * np.pi, sp.outliers)
        noisy[idx] += sp.outlier_m * np.column_stack([np.cos(ang), np.sin(ang)])
    lon, lat = net.to_wgs84(noisy)
    t0 = pd.Timestamp(sp.start)
    pts = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "time": t0 + pd.to_timedelta(times_a, unit="s"),
            "accuracy": np.nan,
            "source_index": np.arange(len(lon)),
        }
    )[observed].reset_index(drop=True)
    # truth: route distance ranges actually observed (a gap hides what was walked in it)
    d_obs = dist_a[observed]
    ranges = [(d_obs[0], d_obs[-1])]
    if sp.gap_s > 0:
        brk = np.flatnonzero(np.diff(np.flatnonzero(observed)) > 1)
        if len(brk):
            i = int(brk[0])
            ranges = [(d_obs[0], d_obs[i]), (d_obs[i + 1], d_obs[-1])]
    cov: dict[int, list[tuple[float, float]]] = {}
    for (e, a, b), r0, r1 in zip(legs, cum[:-1], cum[1:], strict=True):
        for s0, s1 in ranges:
            lo, hi = max(r0, s0), min(r1, s1)
            if hi <= lo:
                continue
            f0, f1 = (lo - r0) / (r1 - r0), (hi - r0) / (r1 - r0)
            x0, x1 = a + (b - a) * f0, a + (b - a) * f1
            cov.setdefault(e, []).append((min(x0, x1), max(x0, x1)))
    rows, blocks = [], []
    for e, ivs in cov.items():
        ivs.sort()
        tot, cur_lo, cur_hi = 0.0, ivs[0][0], ivs[0][1]
        L = float(net.length[e])
        for lo, hi in ivs[1:]:
            if lo > cur_hi:
                tot += cur_hi - cur_lo
                blocks.append((net.edge_ids[e], cur_lo / L, cur_hi / L))
                cur_lo, cur_hi = lo, hi
            else:
                cur_hi = max(cur_hi, hi)
        tot += cur_hi - cur_lo
        blocks.append((net.edge_ids[e], cur_lo / L, cur_hi / L))
        rows.append((net.edge_ids[e], tot / L, tot))
    truth = pd.DataFrame(rows, columns=["edge_id", "covered_fraction", "covered_m"])
    # the walked stretches, in MatchResult.intervals' form, for corridor_score
    truth.attrs["intervals"] = pd.DataFrame(
        blocks, columns=["edge_id", "start_fraction", "end_fraction"]
    )
    return pts, truth


def dead_end_walk(
    net: WalkNetwork,
    e: int,
    rng: np.random.Generator,
    noise_m: float,
    drift: bool = False,
    enter: bool = True,
    onward: bool = False,
) -> pd.DataFrame | None:
    """A walker comes along a neighbouring way (> 60 m), walks dead-end edge ``e`` to its end
    and back out (1.3 m/s, a fix every 3 s, ``noise_m`` per axis; ``drift``: phone-like
    drifting noise, see :func:`drifting_noise`), then back the way they came, or with
    ``onward`` on along another way (> 60 m): seen over 20 s, a short dead end between two
    ways is a corner turned, not a turn back. ``enter=False``: the walker passes the dead
    end's junction on to another way without turning in, what a matcher must not credit.
    None without such ways."""
    deg = np.bincount(np.concatenate([net.u, net.v]))
    j = net.u[e] if deg[net.v[e]] == 1 else net.v[e]
    ways = [f for f in np.flatnonzero((net.u == j) | (net.v == j)) if f != e]
    ways = [f for f in ways if net.length[f] > 60]
    if len(ways) < (1 if enter and not onward else 2):
        return None
    a = shapely.get_coordinates(net.geoms_m[ways[0]])
    a = a[::-1] if net.u[ways[0]] == j else a  # ends at the junction
    if enter:
        b = shapely.get_coordinates(net.geoms_m[e])
        b = b if net.u[e] == j else b[::-1]  # starts at the junction
        c = a[::-1]
        if onward:
            c = shapely.get_coordinates(net.geoms_m[ways[1]])
            c = c if net.u[ways[1]] == j else c[::-1]  # starts at the junction
        line = shapely.linestrings(np.vstack([a, b[1:], b[::-1][1:], c[1:]]))
    else:
        c = shapely.get_coordinates(net.geoms_m[ways[1]])
        c = c if net.u[ways[1]] == j else c[::-1]  # starts at the junction
        line = shapely.linestrings(np.vstack([a, c[1:]]))
    return walk_along(net, line, rng, noise_m, "2026-03-02T01:00:00Z", drift)


def drifting_noise(
    rng: np.random.Generator, n: int, sigma: float, dt: float, tau: float = 30.0
) -> np.ndarray:
    """n × 2 GPS errors as phones make them: σ per axis, drifting with a ``tau``-second
    correlation (AR(1)) rather than scattering afresh at every fix. Standing still, white noise
    averages out; drift wanders like slow walking (what :mod:`geo.tracks.stays` must tell)."""
    phi = np.exp(-dt / tau)
    step = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), (n, 2))
    out = np.empty((n, 2))
    out[0] = rng.normal(0.0, sigma, 2)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + step[i]
    return out


def walk_along(
    net: WalkNetwork,
    line: shapely.LineString,
    rng: np.random.Generator,
    noise_m: float,
    start: str,
    drift: bool = False,
) -> pd.DataFrame:
    """Fixes of a walker following ``line`` (metric) from ``start`` at 1.3 m/s, one every 3 s,
    with ``noise_m`` GPS noise per axis (white, or drifting: :func:`drifting_noise`)."""
    d = np.arange(0.0, line.length, 1.3 * 3.0)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    err = drifting_noise(rng, len(xy), noise_m, 3.0) if drift else rng.normal(0, noise_m, xy.shape)
    lon, lat = net.to_wgs84(xy + err)
    t = pd.Timestamp(start) + pd.to_timedelta(d / 1.3, unit="s")
    return pd.DataFrame({"lon": lon, "lat": lat, "time": t, "accuracy": np.nan})


def dead_end_shares(
    net: WalkNetwork,
    rng: np.random.Generator,
    noise_m: float,
    params: MatchParams,
    rounds: int = 1,
    min_m: float = 40.0,
    max_m: float = 90.0,
    drift: bool = False,
    enter: bool = True,
    onward: bool = False,
) -> list[float]:
    """The credited share of each dead-end edge (``min_m``–``max_m`` long) walked in and out
    (:func:`dead_end_walk`; ``enter=False``: passed by; ``onward``: left by another way),
    matched with ``params``: hutong dead
    ends are patrolled this way, and an 80% rule fails them if the turn is credited short."""
    deg = np.bincount(np.concatenate([net.u, net.v]))
    dead = np.flatnonzero(((deg[net.u] == 1) != (deg[net.v] == 1)) & (net.length >= min_m))
    dead = dead[net.length[dead] <= max_m]
    shares = []
    for _ in range(rounds):
        for e in dead:
            pts = dead_end_walk(net, int(e), rng, noise_m, drift, enter, onward)
            if pts is None:
                continue
            edges = match_track(net, clean_track(pts), params).edges
            got = edges.loc[edges["edge_id"] == net.edge_ids[e], "covered_fraction"]
            shares.append(float(got.iloc[0]) if len(got) else 0.0)
    return shares


def score(matched: pd.DataFrame, truth: pd.DataFrame, lengths: pd.Series) -> tuple[float, float]:
    """Length-weighted precision and recall of covered edge length.

    Overlap per edge is min(matched, true) covered fraction × edge length: partial edges count
    with the part credited, so crediting a whole alley when a third was walked is penalised.
    """
    m = matched.set_index("edge_id")["covered_fraction"]
    t = truth.set_index("edge_id")["covered_fraction"]
    ids = m.index.union(t.index)
    mv = m.reindex(ids, fill_value=0.0).to_numpy()
    tv = t.reindex(ids, fill_value=0.0).to_numpy()
    L = lengths.reindex(ids).to_numpy()
    inter = float((np.minimum(mv, tv) * L).sum())
    prec = inter / max(float((mv * L).sum()), 1e-9)
    rec = inter / max(float((tv * L).sum()), 1e-9)
    return prec, rec


def _interval_points(
    net: WalkNetwork, intervals: pd.DataFrame, step_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points every ~step_m along covered stretches (metric), with the length each stands for."""
    if len(intervals) == 0:
        return np.empty(0, dtype=object), np.empty(0)
    e = pd.Index(net.edge_ids).get_indexer(intervals["edge_id"])
    if (e < 0).any():
        raise ValueError("intervals name edges that are not in the network")
    L = net.length[e]
    lo = np.minimum(intervals["start_fraction"], intervals["end_fraction"]).to_numpy() * L
    hi = np.maximum(intervals["start_fraction"], intervals["end_fraction"]).to_numpy() * L
    n = np.maximum(np.ceil((hi - lo) / step_m).astype(np.int64), 1)
    row = np.repeat(np.arange(len(e)), n)
    j = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    off = lo[row] + (j + 0.5) * (hi - lo)[row] / n[row]  # midpoints of n equal parts
    pts = shapely.line_interpolate_point(net.geoms_m[e[row]], off)
    return pts, ((hi - lo) / n)[row]


def corridor_score(
    net: WalkNetwork,
    matched: pd.DataFrame,
    truth: pd.DataFrame,
    tol_m: float = 15.0,
    step_m: float = 2.0,
) -> tuple[float, float]:
    """Length-weighted precision and recall where "walked there" means within ``tol_m``.

    ``matched`` and ``truth`` are covered stretches (edge_id, start_fraction, end_fraction):
    ``MatchResult.intervals`` and ``truth.attrs["intervals"]`` from :func:`simulate_patrol`.
    Precision: share of matched length lying within tol_m of the walked route; recall: share
    of the walked route within tol_m of the matched stretches. WHY a second score: many OSM
    networks map a sidewalk or cycle track 5–15 m beside its road as a separate way; at 20 m
    GPS noise the two cannot be told apart, and for patrol coverage a steward matched to the
    sidewalk did walk that street. :func:`score` (exact edges) stays the headline figure.
    """
    mp, mw = _interval_points(net, matched, step_m)
    tp, tw = _interval_points(net, truth, step_m)
    if len(mp) == 0 or len(tp) == 0:
        return (0.0 if len(mp) else 1.0), (0.0 if len(tp) else 1.0)
    tree_t, tree_m = shapely.STRtree(tp), shapely.STRtree(mp)
    # a point is "near" when some sample of the other side lies within tol_m + step_m / 2
    near = tol_m + step_m / 2
    m_ok = np.zeros(len(mp), dtype=bool)
    m_ok[np.unique(tree_t.query(mp, predicate="dwithin", distance=near)[0])] = True
    t_ok = np.zeros(len(tp), dtype=bool)
    t_ok[np.unique(tree_m.query(tp, predicate="dwithin", distance=near)[0])] = True
    return float(mw[m_ok].sum() / mw.sum()), float(tw[t_ok].sum() / tw.sum())


@dataclass
class CourtyardCut:
    """One walk of :func:`courtyard_cuts` scored: metres credited farther than the tolerance
    from anywhere the walker went, share of the stretch walked along the block's edge that
    was credited, and whether a way the walker never came near reads as patrolled."""

    false_m: float
    walked_share: float
    side_patrolled: bool


def courtyard_cuts(
    net: WalkNetwork,
    rng: np.random.Generator,
    noise_m: float,
    params: MatchParams,
    n: int = 40,
    along_m: float = 60.0,
    area_m2: tuple[float, float] = (2_000.0, 20_000.0),
    tol_m: float = 15.0,
) -> list[CourtyardCut]:
    """Walks that follow a block's edge for ``along_m`` and then cut straight across the block
    to its farthest corner, where they stop (1.3 m/s, a fix every 3 s, ``noise_m`` per axis),
    on ``n`` blocks of the network (faces of ``area_m2``, not slivers between a road and its
    sidewalk), matched with ``params``. WHY: a steward who cuts through a courtyard must not get
    the alleys around it. Credit within ``tol_m`` of the walker's path (the cut's ends, where it
    passes within noise of a way) is not counted as false: no matcher can tell it apart."""
    faces = shapely.get_parts(shapely.polygonize(net.geoms_m))
    area, perim = shapely.area(faces), shapely.length(faces)
    compact = 4 * np.pi * area / np.maximum(perim, 1e-9) ** 2
    ok = np.flatnonzero((area >= area_m2[0]) & (area <= area_m2[1]) & (compact >= 0.4))
    pick = rng.choice(ok, size=min(n, len(ok)), replace=False)
    ids = pd.Index(net.edge_ids)
    out = []
    for f in pick:
        ring = shapely.LineString(shapely.get_coordinates(shapely.get_exterior_ring(faces[f])))
        walked = shapely.ops.substring(ring, 0.0, along_m)
        a = shapely.get_coordinates(walked)
        corners = shapely.get_coordinates(ring)
        far = corners[np.argmax(np.hypot(*(corners - a[-1]).T))]
        path = shapely.linestrings(np.vstack([a, far]))
        pts = walk_along(net, path, rng, noise_m, "2026-03-02T02:00:00Z")
        res = match_track(net, clean_track(pts), params)
        assert res.intervals is not None
        pts_m, w = _interval_points(net, res.intervals, 2.0)
        away = shapely.distance(pts_m, path) > tol_m if len(w) else np.zeros(0, bool)
        e = ids.get_indexer(res.edges["edge_id"])
        near = shapely.length(shapely.intersection(net.geoms_m[e], path.buffer(tol_m)))
        true_m = shapely.length(shapely.intersection(net.geoms_m[e], walked.buffer(1.0)))
        frac = res.edges["covered_fraction"].to_numpy()
        long = net.length[e] >= 30.0
        out.append(
            CourtyardCut(
                float(w[away].sum()),
                float(np.minimum(res.edges["covered_m"].to_numpy(), true_m).sum() / along_m),
                bool(((frac >= 0.8) & long & (near < 0.5 * net.length[e])).any()),
            )
        )
    return out
