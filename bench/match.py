"""Map-matching benchmark: accuracy on ground truth, speed, and the same run of
leuvenmapmatching's DistanceMatcher for comparison.

    python bench/match.py                 # everything except the city-day
    python bench/match.py --quick         # fewer tracks (development)
    python bench/match.py --city-day      # + 4,000 stewards × 1 h at 1 fix / 3 s, pure pipeline
    python bench/match.py --city-day --stewards 400
    python bench/match.py --datum         # only the datum hint section ([5])

Data are read in place from ../shared/data (GeoLife and SparseTaxi must never be copied).
Timings are wall-clock on one core of a shared machine; the matcher is single-threaded.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"

from geo.tracks.clean import CleanParams, clean_track  # noqa: E402
from geo.tracks.match import MatchParams, match_track, match_tracks  # noqa: E402
from geo.tracks.network import WalkNetwork  # noqa: E402
from geo.tracks.parse import read_geolife_plt  # noqa: E402
from geo.tracks.simulate import (  # noqa: E402
    SimParams,
    corridor_score,
    courtyard_cuts,
    dead_end_shares,
    drifting_noise,
    score,
    simulate_patrol,
)


def machine_note() -> str:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared "
        f"with other engineers (load {load[0]:.1f}); Python {platform.python_version()}; "
        "single-threaded timings"
    )


def haidian_network() -> tuple[pd.DataFrame, WalkNetwork, float]:
    from geo.network import split_segments
    from geo.osm import read_osm

    ways = read_osm(DATA / "osm_beijing_haidian/tsinghua_wudaokou_2017.osm").ways
    segs = split_segments(ways).rename(columns={"uid": "edge_id"})
    t = time.perf_counter()
    net = WalkNetwork.from_segments(segs)
    return segs, net, time.perf_counter() - t


# ------------------------------------------------------------------ leuvenmapmatching
class Leuven:
    """DistanceMatcher on the same network, built from the straight sub-segments."""

    def __init__(self, net: WalkNetwork, max_dist: float = 60.0, obs_noise: float = 10.0):
        from leuvenmapmatching.map.inmem import InMemMap

        self.net = net
        # with its R-tree index (use_rtree), as its docs advise: without one it scans every node
        self.map = InMemMap("net", use_latlon=False, index_edges=True, use_rtree=True)
        x0, y0 = net.seg_x0, net.seg_y0
        x1, y1 = x0 + net.seg_dx, y0 + net.seg_dy
        key0 = np.round(np.column_stack([x0, y0]), 2)
        key1 = np.round(np.column_stack([x1, y1]), 2)
        allk, inv = np.unique(np.vstack([key0, key1]), axis=0, return_inverse=True)
        inv = inv.ravel()
        n = len(x0)
        self.a, self.b = inv[:n], inv[n:]
        for i, (x, y) in enumerate(allk.tolist()):
            self.map.add_node(i, (y, x))
        self.pair_edge = {}
        for s, (a, b) in enumerate(zip(self.a.tolist(), self.b.tolist(), strict=True)):
            if a == b:
                continue
            self.map.add_edge(a, b)
            self.map.add_edge(b, a)
            self.pair_edge[(a, b)] = self.pair_edge[(b, a)] = int(net.seg_edge[s])
        self.max_dist, self.obs_noise = max_dist, obs_noise

    def match(self, xy: np.ndarray) -> set:
        from leuvenmapmatching.matcher.distance import DistanceMatcher

        m = DistanceMatcher(
            self.map,
            max_dist=self.max_dist,
            obs_noise=self.obs_noise,
            obs_noise_ne=self.obs_noise * 2,
            non_emitting_states=True,
            max_lattice_width=5,
            dist_noise=self.obs_noise,
        )
        m.match([(y, x) for x, y in xy.tolist()])
        nodes = m.path_pred_onlynodes
        edges = set()
        for a, b in zip(nodes[:-1], nodes[1:], strict=False):
            e = self.pair_edge.get((a, b))
            if e is not None:
                edges.add(e)
        return edges


def edge_set_scores(matched_idx: set, truth_idx: set, length: np.ndarray) -> tuple[float, float]:
    inter = sum(length[e] for e in matched_idx & truth_idx)
    lm = sum(length[e] for e in matched_idx)
    lt = sum(length[e] for e in truth_idx)
    return inter / max(lm, 1e-9), inter / max(lt, 1e-9)


# ------------------------------------------------------------------ sections
def _taxi_clean(pair_id: str) -> CleanParams:
    # The "sparse" set has placeholder timestamps (60, 120, …; data README): no speed filter.
    return CleanParams(mode="drive", gap_s=900, max_speed_mps=1e4 if "sparse" in pair_id else None)


CONSISTENT_M = 50.0
# Third view: Beijing's arterials are mapped as two one-way carriageways plus side roads
# (辅路) 10-20 m from the main lanes; taxi fixes a minute apart rarely say which of them the
# car was on, and the hand-traced paths often take the other one (set60_05: main road matched,
# side road traced, 0.17 by edges while the two run 14 m apart for 4 km).
TAXI_CORRIDOR_M = 20.0


def bench_sparsetaxi(leuven_cap_s: float) -> None:
    from geo.tracks.sparsetaxi import (
        edge_scores,
        farthest_fix_from_truth,
        load_network,
        load_pairs,
        traced_backwards,
    )

    folder = DATA / "mapmatching_sparsetaxi_beijing"
    t = time.perf_counter()
    segs = load_network(folder)
    net = WalkNetwork.from_segments(
        segs, ubodt_delta_m=0, oneway_col="oneway", cost_factor_col="cost_factor"
    )
    print(f"SparseTaxi network: {net.summary()} built in {time.perf_counter() - t:.1f} s")
    length = pd.Series(net.length, index=net.edge_ids)
    pairs = load_pairs(folder)
    # second view (the all-pairs score stays the headline): pairs whose every fix lies within
    # CONSISTENT_M of the hand-traced path; in the others the path covers only part of the
    # trajectory (set60_14 stops 3 fixes early) or runs 100-500 m from some fixes
    consistent = {
        pr["pair_id"]
        for pr in pairs
        if farthest_fix_from_truth(net, pr["points"], pr["truth"]) <= CONSISTENT_M
    }
    backwards = [
        pr["pair_id"] for pr in pairs if traced_backwards(net, pr["points"], pr["truth_line"])
    ]
    ps, rs, n_pts, dt = [], [], 0, 0.0
    near: list[tuple[float, float]] = []
    for pr in pairs:
        t = time.perf_counter()
        pieces = clean_track(pr["points"], _taxi_clean(pr["pair_id"]))
        res = match_track(net, pieces, MatchParams.for_mode("drive"))
        dt += time.perf_counter() - t
        p, r = edge_scores(res.edges["edge_id"], pr["truth"], length)
        ps.append(p)
        rs.append(r)
        n_pts += len(pr["points"])
        truth = pd.DataFrame({"edge_id": pr["truth"], "start_fraction": 0.0, "end_fraction": 1.0})
        truth = truth[truth.edge_id.isin(length.index)]
        near.append(corridor_score(net, res.intervals, truth, TAXI_CORRIDOR_M))
    print(
        f"  gridward  {len(pairs)} pairs, {n_pts} fixes: precision {np.mean(ps):.3f} "
        f"recall {np.mean(rs):.3f} (mean over pairs, length-weighted edges); "
        f"{n_pts / dt:,.0f} fixes/s"
    )
    sel = [pr["pair_id"] in consistent for pr in pairs]
    print(
        f"    on the {sum(sel)} pairs whose every fix is within {CONSISTENT_M:.0f} m of the "
        f"hand-traced path: precision {np.mean(np.array(ps)[sel]):.3f} recall "
        f"{np.mean(np.array(rs)[sel]):.3f}"
    )
    print(
        f"    within {TAXI_CORRIDOR_M:.0f} m of the hand-traced path (the other carriageway, or a "
        f"main road's side road, counts): precision {np.mean([a for a, _ in near]):.3f} "
        f"recall {np.mean([b for _, b in near]):.3f}"
    )
    print(
        f"    {len(backwards)} hand-traced paths run from the last fix to the first "
        f"({', '.join(backwards)}), keeping one-way streets in that direction"
    )
    # leuven on a clipped network per pair (building its map for the whole city is slow)
    lp, lr, ln, lt, done = [], [], 0, 0.0, 0
    lsel: list[bool] = []
    for pr in pairs:
        if lt > leuven_cap_s:
            break
        pts = pr["points"]
        bbox = (
            pts.lon.min() - 0.01,
            pts.lat.min() - 0.01,
            pts.lon.max() + 0.01,
            pts.lat.max() + 0.01,
        )
        sub = WalkNetwork.from_segments(
            load_network(folder, bbox), ubodt_delta_m=0, oneway_col="oneway"
        )
        lv = Leuven(sub, max_dist=80.0, obs_noise=15.0)
        xy = sub.to_metric(pts["lon"].to_numpy(), pts["lat"].to_numpy())
        t = time.perf_counter()
        try:
            got = lv.match(xy)
        except Exception as exc:  # leuven raises on unmatched starts
            print(f"    leuven failed on {pr['pair_id']}: {exc}")
            got = set()
        lt += time.perf_counter() - t
        ids = sub.edge_ids
        p, r = edge_scores([ids[e] for e in got], pr["truth"], length)
        lp.append(p)
        lr.append(r)
        lsel.append(pr["pair_id"] in consistent)
        ln += len(pts)
        done += 1
    if done:
        print(
            f"  leuven    {done} pairs, {ln} fixes: precision {np.mean(lp):.3f} recall "
            f"{np.mean(lr):.3f}; {ln / lt:,.0f} fixes/s (clipped network per pair; cap "
            f"{leuven_cap_s:.0f} s)"
        )
    if any(lsel):
        print(
            f"    on the {sum(lsel)} of those pairs whose every fix is within "
            f"{CONSISTENT_M:.0f} m of the path: precision {np.mean(np.array(lp)[lsel]):.3f} "
            f"recall {np.mean(np.array(lr)[lsel]):.3f}"
        )


# Second, looser score for simulated patrols (the exact-edge score above stays the headline):
# the Haidian OSM network maps sidewalks and cycle tracks 5–15 m beside their roads as
# separate ways, which 20 m GPS noise cannot tell apart; for coverage, a steward matched to
# the sidewalk did walk that street. See geo.tracks.simulate.corridor_score.
CORRIDOR_M = 15.0


def _ci95(values: list[float]) -> float:
    """Half-width of the normal 95% interval of a mean over walks: walks differ a lot (one
    route runs along a road with a sidewalk, the next along lanes), so 30 walks leave ±0.01–0.02
    on recall, as much as the differences a tuning change makes."""
    v = np.asarray(values, float)
    return float(1.96 * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def bench_simulated(
    net: WalkNetwork, n_tracks: int, leuven_cap_s: float, with_leuven: bool = True
) -> None:
    lengths = pd.Series(net.length, index=net.edge_ids)
    idx_of = pd.Series(np.arange(len(net.edge_ids)), index=net.edge_ids)
    lv = Leuven(net, max_dist=60.0, obs_noise=10.0) if with_leuven else None
    for noise in (5.0, 10.0, 20.0):
        rng = np.random.default_rng(int(noise))
        ps, rs, n_pts, dt, pieces_n = [], [], 0, 0.0, []
        cps, crs = [], []
        tracks = []
        for i in range(n_tracks):
            pts, truth = simulate_patrol(net, rng, _patrol_params(rng, noise, i))
            tracks.append((pts, truth))
            t = time.perf_counter()
            pcs = clean_track(pts, CleanParams())
            res = match_track(net, pcs, MatchParams())
            dt += time.perf_counter() - t
            p, r = score(res.edges, truth, lengths)
            ps.append(p)
            rs.append(r)
            p, r = corridor_score(net, res.intervals, truth.attrs["intervals"], CORRIDOR_M)
            cps.append(p)
            crs.append(r)
            n_pts += len(pts)
            pieces_n.append(res.pieces)
        t = time.perf_counter()
        match_tracks(net, [clean_track(pts, CleanParams()) for pts, _ in tracks], MatchParams())
        dt_batch = time.perf_counter() - t
        print(
            f"  noise {noise:4.0f} m: gridward precision {np.mean(ps):.3f} ±{_ci95(ps):.3f} "
            f"recall {np.mean(rs):.3f} ±{_ci95(rs):.3f} "
            f"(min {np.min(ps):.2f}/{np.min(rs):.2f}) over {n_tracks} tracks, {n_pts:,} fixes, "
            f"{n_pts / dt:,.0f} fixes/s one by one, {n_pts / dt_batch:,.0f} fixes/s batched "
            "(clean+match)"
        )
        print(
            f"      within {CORRIDOR_M:.0f} m of the walked route (a sidewalk beside its road "
            f"counts): precision {np.mean(cps):.3f} recall {np.mean(crs):.3f} "
            f"(min {np.min(cps):.2f}/{np.min(crs):.2f})"
        )
        if lv is None:
            continue
        # leuven on the same tracks (edge-set scores for both, same network)
        lp, lr, gp, gr, ln, lt, gt = [], [], [], [], 0, 0.0, 0.0
        for pts, truth in tracks:
            if lt > leuven_cap_s / 3:
                break
            truth_idx = set(idx_of[truth["edge_id"]].tolist())
            xy = net.to_metric(pts["lon"].to_numpy(), pts["lat"].to_numpy())
            t = time.perf_counter()
            try:
                got = lv.match(xy)
            except Exception:
                got = set()
            lt += time.perf_counter() - t
            t = time.perf_counter()
            res = match_track(net, clean_track(pts, CleanParams()), MatchParams())
            gt += time.perf_counter() - t
            mine = set(idx_of[res.edges["edge_id"]].tolist())
            p, r = edge_set_scores(got, truth_idx, net.length)
            lp.append(p)
            lr.append(r)
            p, r = edge_set_scores(mine, truth_idx, net.length)
            gp.append(p)
            gr.append(r)
            ln += len(pts)
        if ln:
            print(
                f"      same {len(lp)} tracks, edge sets: leuven P {np.mean(lp):.3f} R "
                f"{np.mean(lr):.3f} {ln / lt:,.0f} fixes/s | gridward P {np.mean(gp):.3f} R "
                f"{np.mean(gr):.3f} {ln / gt:,.0f} fixes/s | speed ratio {lt / gt:,.0f}×"
            )


def _patrol_params(rng: np.random.Generator, noise: float, i: int) -> SimParams:
    """bench_simulated's walker (1–10 s sampling, stops, U-turns, a gap in every 4th, outliers)."""
    return SimParams(
        noise_m=noise,
        dt_s=float(rng.integers(1, 11)),
        length_m=float(rng.uniform(800, 2500)),
        stops=int(rng.integers(0, 3)),
        uturns=int(rng.integers(0, 3)),
        gap_s=600.0 if i % 4 == 0 else 0.0,
        outliers=int(rng.integers(0, 4)),
    )


def bench_drifting(net: WalkNetwork, n_tracks: int) -> None:
    """bench_simulated's walks with a phone's drifting error instead of white noise
    (:func:`geo.tracks.simulate.drifting_noise`: AR(1), τ 30 s, σ per axis): real phones drift,
    and an outside tester (T54 #15) found 10 m drifting noise costs 0.05–0.15 of precision
    that white noise does not. Same walks at each noise level (one seed)."""
    lengths = pd.Series(net.length, index=net.edge_ids)
    row = []
    for noise in (5.0, 10.0, 20.0):
        rng = np.random.default_rng(54)
        ps, rs = [], []
        for i in range(n_tracks):
            sp = _patrol_params(rng, noise, i)
            clean_sp = SimParams(**{**sp.__dict__, "noise_m": 0.0})
            pts, truth = simulate_patrol(net, rng, clean_sp)
            # the error over the whole timeline (a gap's fixes are dropped afterwards anyway)
            xy = net.to_metric(pts["lon"].to_numpy(), pts["lat"].to_numpy())
            xy = xy + drifting_noise(rng, len(xy), noise, sp.dt_s)
            pts["lon"], pts["lat"] = net.to_wgs84(xy)
            res = match_track(net, clean_track(pts, CleanParams()), MatchParams())
            p, r = score(res.edges, truth, lengths)
            ps.append(p)
            rs.append(r)
        row.append(
            f"{noise:.0f} m P {np.mean(ps):.3f} R {np.mean(rs):.3f} "
            f"(min {np.min(ps):.2f}/{np.min(rs):.2f})"
        )
    print(f"  drifting phone noise (AR(1), τ 30 s; {n_tracks} walks each): " + " | ".join(row))


def bench_network_size(segs: pd.DataFrame, net: WalkNetwork, n_tracks: int) -> None:
    """The same walks matched on the Haidian network and on it padded past
    ``WalkNetwork.dense_max_nodes`` (copies of it 9–36 km east, no walk goes there): the
    figures must agree. WHY: an ``else`` under the wrong ``if`` emptied the route table of every
    network over 4,096 nodes, and a perfect walk read 0.61 recall on a 12,631-edge network
    (T54 #1); every bench row ran on the 980-node Haidian network and could not see it."""
    import geopandas as gpd
    import shapely

    copies = [segs]
    k = 1
    while len(copies) * net.n_nodes <= net.dense_max_nodes:
        c = segs.copy()
        c["geometry"] = shapely.transform(segs.geometry.to_numpy(), lambda x, k=k: x + [0.1 * k, 0])
        c["edge_id"] = [f"pad{k}:{e}" for e in segs["edge_id"]]
        copies.append(c)
        k += 1
    big_segs = gpd.GeoDataFrame(pd.concat(copies, ignore_index=True), crs=segs.crs)
    big = WalkNetwork.from_segments(big_segs)
    lengths = pd.Series(net.length, index=net.edge_ids)
    got = {}
    for name, n in (("small", net), ("large", big)):
        rng = np.random.default_rng(4096)
        ps, rs = [], []
        for i in range(n_tracks):
            pts, truth = simulate_patrol(net, rng, _patrol_params(rng, 10.0, i))
            res = match_track(n, clean_track(pts, CleanParams()), MatchParams())
            p, r = score(res.edges, truth, lengths)
            ps.append(p)
            rs.append(r)
        s = n.summary()
        got[name] = (
            f"{s['nodes']:,} nodes, {s['ubodt_entries']:,} route-table entries: "
            f"P {np.mean(ps):.3f} R {np.mean(rs):.3f}"
        )
    print(
        f"  same {n_tracks} walks (10 m noise) on the Haidian network ({got['small']}) | padded "
        f"past {net.dense_max_nodes:,} nodes ({got['large']})"
    )


def bench_sampling(net: WalkNetwork, n_tracks: int) -> None:
    """Phones in power-saving mode send a fix every 30–120 s. Between sparse fixes the
    walker's path is unknown (a loop round a block leaves no trace), so recall falls whatever
    the matcher does. The 1 m row is that limit: the same walks, almost without noise."""
    lengths = pd.Series(net.length, index=net.edge_ids)
    for dt_s in (10.0, 30.0, 60.0, 120.0):
        row = []
        for noise in (1.0, 10.0):
            rng = np.random.default_rng(int(dt_s))  # same walks for both noise levels
            ps, rs = [], []
            for _ in range(n_tracks):
                sp = SimParams(
                    noise_m=noise,
                    dt_s=dt_s,
                    length_m=float(rng.uniform(1500, 3000)),
                    stops=int(rng.integers(0, 3)),
                    uturns=0,
                )
                pts, truth = simulate_patrol(net, rng, sp)
                res = match_track(net, clean_track(pts, CleanParams()), MatchParams())
                p, r = score(res.edges, truth, lengths)
                ps.append(p)
                rs.append(r)
            row.append(f"{noise:.0f} m noise P {np.mean(ps):.3f} R {np.mean(rs):.3f}")
        print(f"  one fix every {dt_s:3.0f} s: " + " | ".join(row))


def bench_dead_ends(net: WalkNetwork, rounds: int) -> None:
    """Dead-end alleys walked to the end and back out, as hutong dead ends are patrolled:
    the median share credited and the share of walks reaching the 80% patrolled threshold.
    Long ones (40–90 m, white noise) against the matcher without the turn-back handling in
    the smoother (which rounds the turn off short); short ones (15–40 m, drifting phone
    noise) against the matcher without keeping the turn's fixes and without carrying a turn
    within the noise of the end to it (geo.tracks.dead_ends). Walks that pass the same short
    dead ends by without turning in show what those rules might credit wrongly."""
    row = []
    for noise in (5.0, 10.0, 20.0):
        ours = dead_end_shares(net, np.random.default_rng(0), noise, MatchParams(), rounds)
        plain = dead_end_shares(
            net, np.random.default_rng(0), noise, MatchParams(reversal_window_s=0.0), rounds
        )
        row.append(f"{noise:.0f} m: {np.median(ours):.2f} (without {np.median(plain):.2f})")
    print(
        f"  dead ends walked in and out ({len(ours)} walks), median share credited: "
        + " | ".join(row)
    )
    before = MatchParams(keep_reversals=False, dead_end_sigmas=None)
    walks = (
        ("walked in and out", True, False),
        ("walked in and on along another way", True, True),
        ("passed by, not entered", False, False),
    )
    for what, enter, onward in walks:
        row = []
        for noise in (8.0, 12.0, 20.0):
            got = []
            for params in (MatchParams(), before):
                sh = np.asarray(
                    dead_end_shares(
                        net,
                        np.random.default_rng(0),
                        noise,
                        params,
                        rounds,
                        15.0,
                        40.0,
                        drift=True,
                        enter=enter,
                        onward=onward,
                    )
                )
                got.append(f"{np.median(sh):.2f}/{np.mean(sh >= 0.8):.2f}")
            row.append(f"{noise:.0f} m: {got[0]} (without {got[1]})")
        print(
            f"  short dead ends (15–40 m, drifting noise) {what} ({len(sh)} walks), median share"
            " credited/share patrolled: " + " | ".join(row)
        )


def bench_courtyards(net: WalkNetwork, n: int) -> None:
    """Walks that follow a block's edge for 60 m, then cut across the block to its far corner
    (:func:`geo.tracks.simulate.courtyard_cuts`, real Haidian blocks of 2,000–20,000 m²):
    metres credited more than 15 m from anywhere the walker went, and walks in which a way
    (≥ 30 m) the walker never came near reads as patrolled, against the same matcher without
    the crossing rule (:mod:`geo.tracks.crossings`)."""
    row = []
    for noise in (5.0, 10.0, 20.0):
        got = {}
        plain = MatchParams(crossing_sigmas=None)
        for name, params in (("ours", MatchParams()), ("without", plain)):
            cuts = courtyard_cuts(net, np.random.default_rng(1), noise, params, n)
            got[name] = (
                np.mean([c.false_m for c in cuts]),
                sum(c.side_patrolled for c in cuts),
                np.mean([c.walked_share for c in cuts]),
            )
        (fo, po, wo), (fw, pw, _) = got["ours"], got["without"]
        row.append(
            f"{noise:.0f} m: {fo:.0f} m, {po} patrolled, walked part {wo:.2f} "
            f"(without {fw:.0f} m, {pw})"
        )
    print(
        f"  courtyard cuts ({len(cuts)} walks; false metres per walk, ways never neared read "
        "as patrolled): " + " | ".join(row)
    )


def bench_geolife(net: WalkNetwork, max_files: int) -> None:
    idx = pd.read_csv(DATA / "geolife_beijing_sample/index.csv", dtype={"User": str, "traj": str})
    files = sorted((DATA / "geolife_beijing_sample/Data").glob("*/Trajectory/*.plt"))[:max_files]
    n_pts = n_match = n_plain = 0
    plain = MatchParams.for_mode("bike", crossing_sigmas=None)
    pieces, dt = [], 0.0
    for f in files:
        pts = read_geolife_plt(f)
        t = time.perf_counter()
        pcs = clean_track(pts, CleanParams(mode="bike"))
        res = match_track(net, pcs, MatchParams.for_mode("bike"))
        dt += time.perf_counter() - t
        # only fixes inside the network's area count for "share matched"
        n_pts += res.total_points
        n_match += res.matched_points
        pieces.append(res.pieces)
        n_plain += match_track(net, pcs, plain).matched_points
    print(
        f"  GeoLife {len(files)} files (of {len(idx)}), {n_pts:,} cleaned fixes: matched "
        f"{n_match / max(n_pts, 1):.1%}, pieces per track median {np.median(pieces):.0f} "
        f"(max {max(pieces)}), {n_pts / dt:,.0f} fixes/s (clean+match; fixes outside the "
        "extract count as unmatched)"
    )
    print(
        f"      without the courtyard-crossing rule {n_plain / max(n_pts, 1):.1%} matched (the "
        "difference: fixes taken off the network as walks across blocks and parks)"
    )


def bench_city_day(net: WalkNetwork, stewards: int) -> None:
    from geo.coverage import alley_day_status, segment_day_coverage, steward_daily_compliance
    from geo.tracks.parse import parse_track

    rng = np.random.default_rng(2026)
    print(f"  simulating {stewards} stewards × 1 h at 1 fix / 3 s (not timed)…", flush=True)
    files = []
    for _ in range(stewards):
        pts, _ = simulate_patrol(
            net, rng, SimParams(noise_m=10.0, dt_s=3.0, length_m=1.3 * 3600 * 0.93, stops=1)
        )
        buf = io.StringIO()
        pts.assign(time=pts["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[
            ["lon", "lat", "time"]
        ].to_csv(buf, index=False)
        files.append(buf.getvalue().encode())
    t0 = time.perf_counter()
    rows, n_pts = [], 0
    tp = tc = tm = 0.0
    batch = 200  # tracks per match_tracks call (lockstep Viterbi)
    for b0 in range(0, len(files), batch):
        a = time.perf_counter()
        parsed = [parse_track(data, "t.csv") for data in files[b0 : b0 + batch]]
        b = time.perf_counter()
        cleaned = [clean_track(pt.points, CleanParams()) for pt in parsed]
        c = time.perf_counter()
        results = match_tracks(net, cleaned, MatchParams())
        d = time.perf_counter()
        tp, tc, tm = tp + b - a, tc + c - b, tm + d - c
        for j, (pt, res) in enumerate(zip(parsed, results, strict=True)):
            sid = b0 + j
            n_pts += len(pt.points)
            iv = res.intervals.merge(
                res.edges[["edge_id", "first_time", "last_time"]], on="edge_id"
            )
            rows.append(iv.assign(person_id=sid, track_id=sid))
    a = time.perf_counter()
    te = pd.concat(rows, ignore_index=True)
    sd = segment_day_coverage(te)
    segs = pd.DataFrame({"edge_id": net.edge_ids, "length_m": net.length})
    segs["alley_id"] = segs["edge_id"]  # one alley per segment for the roll-up load
    assign = pd.DataFrame(
        {"alley_id": rng.choice(net.edge_ids, stewards), "person_id": np.arange(stewards)}
    )
    ad = alley_day_status(sd, segs, assign)
    comp = steward_daily_compliance(ad, assign)
    tcov = time.perf_counter() - a
    total = time.perf_counter() - t0
    print(
        f"  city-day: {stewards} tracks, {n_pts:,} fixes in {total:.1f} s "
        f"(parse {tp:.1f} s, clean {tc:.1f} s, match {tm:.1f} s, coverage {tcov:.1f} s) = "
        f"{n_pts / total:,.0f} fixes/s end to end; {len(sd):,} segment-days, "
        f"{int(comp['patrolled_alleys'].sum())} assigned alleys patrolled"
    )


def _off_network_false_hints(
    net: WalkNetwork, rules: tuple[tuple[str, Any], ...], n: int
) -> tuple[int, dict[str, int]]:
    """WGS-84 walks drawn 15–35 m to one side of a random route (a walker on a path no map
    has), uploaded as WGS-84: how many each rule hints at another datum. WHY measured: such a
    walk's shifted readings sometimes fall along a parallel street, and the along-street rule
    cannot tell that from a true GCJ-02 walk at 15–20 m noise (a stricter rule tried in
    session 49 cut these false hints 6 → 1 of 170 on Haidian but lost 45 of 71 true hints at
    20 m noise, so the rule stayed)."""
    from tests.test_datum_hint import _phone_walk, _random_line

    rng = np.random.default_rng(2024)
    walks, false = 0, {k: 0 for k, _ in rules}
    while walks < n:
        side = rng.uniform(15.0, 35.0) * rng.choice([-1.0, 1.0])
        line = shapely.offset_curve(_random_line(net, rng), side, join_style="mitre")
        if line.geom_type != "LineString" or line.is_empty:  # a route folding on itself
            continue
        walks += 1
        lon, lat = _phone_walk(net, line, rng, float(rng.uniform(3.0, 10.0)))
        for k, rule in rules:
            false[k] += rule(net, lon, lat, "wgs84") is not None
    return walks, false


def bench_datum(n_walks: int) -> None:
    """The datum hint (geo.tracks.datum), the rule before (all fixes' mean distance, 3× and
    15 m) against the along-street rule, on the same walks: GCJ-02 walks uploaded as WGS-84
    (hinted, of n) and WGS-84 walks uploaded as WGS-84 (false hints), drifting phone noise,
    a fix every 1–5 s, 8–28 minutes (tests/test_datum_hint.py's walks); real GeoLife tracks
    (WGS-84) for false hints; and the cost per correctly declared track."""
    from geo.crs import wgs84_to_gcj02
    from geo.network import split_segments
    from geo.osm import read_osm
    from geo.tracks.datum import datum_hint, old_datum_hint
    from tests.test_datum_hint import DEMO_OSM, _phone_walk, _random_line

    rules = (("old", old_datum_hint), ("new", datum_hint))
    demo = split_segments(read_osm(DEMO_OSM).ways).rename(columns={"uid": "edge_id"})
    _, big, _ = haidian_network()
    for name, net in (("demo city", WalkNetwork.from_segments(demo)), ("Haidian", big)):
        row, cost = [], {k: 0.0 for k, _ in rules}
        for noise in (5.0, 8.0, 10.0, 15.0, 20.0):
            rng = np.random.default_rng(int(noise) + 900)
            hit = {k: 0 for k, _ in rules}
            false = dict(hit)
            for _ in range(n_walks):
                lon, lat = _phone_walk(net, _random_line(net, rng), rng, noise)
                glon, glat = wgs84_to_gcj02(lon, lat)
                for k, rule in rules:
                    hit[k] += rule(net, glon, glat, "wgs84") is not None
                    t = time.perf_counter()
                    false[k] += rule(net, lon, lat, "wgs84") is not None
                    cost[k] += time.perf_counter() - t
            row.append(
                f"{noise:.0f} m: hinted {hit['old']}→{hit['new']}, false {false['old']}→"
                f"{false['new']}"
            )
        per = {k: 1000 * v / (5 * n_walks) for k, v in cost.items()}
        print(
            f"  {name}, {n_walks} walks per noise level (old→new): "
            + " | ".join(row)
            + f"; cost per WGS-84 track {per['old']:.1f}→{per['new']:.1f} ms"
        )
        off, false = _off_network_false_hints(net, rules, 4 * n_walks)
        print(
            f"  {name}, {off} WGS-84 walks 15–35 m beside their route on no mapped way (3–10 m "
            f"noise; outside tester T62 #3): false hints {false['old']}→{false['new']}"
        )
    files = sorted((DATA / "geolife_beijing_sample/Data").glob("*/Trajectory/*.plt"))
    false = {k: 0 for k, _ in rules}
    checked = 0
    for f in files:
        pts = read_geolife_plt(f)
        lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
        near = np.isfinite(big.candidates(big.to_metric(lon, lat), 200.0, 1)[2][:, 0])
        if near.sum() < 30:
            continue
        checked += 1
        for k, rule in rules:
            false[k] += rule(big, lon[near], lat[near], "wgs84") is not None
    print(f"  GeoLife {checked} real WGS-84 tracks: false hints {false['old']}→{false['new']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--city-day", action="store_true")
    ap.add_argument("--datum", action="store_true", help="only the datum hint section")
    ap.add_argument("--stewards", type=int, default=4000)
    ap.add_argument("--leuven-cap", type=float, default=90.0, help="seconds per leuven section")
    args = ap.parse_args()
    print(machine_note())
    if args.datum:
        print("\n[5] Datum hint: GCJ-02 walks uploaded as WGS-84")
        bench_datum(12 if args.quick else 50)
        return
    segs, net, tb = haidian_network()
    print(f"Haidian walkable network: {net.summary()}, matcher structures built in {tb:.2f} s")
    print("\n[1] SparseTaxi ground truth (41 hand-matched taxi paths, ~60 s fixes)")
    bench_sparsetaxi(args.leuven_cap / (3 if args.quick else 1))
    print(
        "\n[2] Simulated patrols on the Haidian network (1–10 s sampling, stops, U-turns, "
        "a 10-min gap in every 4th track, outliers)"
    )
    bench_simulated(net, 8 if args.quick else 120, args.leuven_cap / (3 if args.quick else 1))
    print(
        "    same, on the network without separately mapped footways/cycleways (sidewalks and "
        "cycle tracks 5–15 m beside a road cannot be told apart at 10–20 m noise):"
    )
    sub = segs[~segs["highway"].isin(["footway", "cycleway"])]
    bench_simulated(WalkNetwork.from_segments(sub), 8 if args.quick else 120, 0, False)
    print(
        "    sparse sampling (1,500–3,000 m walks, stops, no U-turns; "
        f"{8 if args.quick else 30} walks per row):"
    )
    bench_sampling(net, 8 if args.quick else 30)
    bench_drifting(net, 8 if args.quick else 60)
    bench_network_size(segs, net, 8 if args.quick else 30)
    bench_dead_ends(net, 1 if args.quick else 3)
    bench_courtyards(net, 20 if args.quick else 80)
    print("\n[3] Real GeoLife tracks on the Haidian network (no ground truth)")
    bench_geolife(net, 20 if args.quick else 130)
    print("\n[5] Datum hint: GCJ-02 walks uploaded as WGS-84")
    bench_datum(12 if args.quick else 50)
    if args.city_day:
        print("\n[4] Simulated city-day, pure pipeline (parse → clean → match → coverage)")
        bench_city_day(net, args.stewards)


if __name__ == "__main__":
    main()
