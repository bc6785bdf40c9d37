"""Benchmark: alley stewards at district scale and on the Haidian extract.

Cases
- district: ~4,300 alleys and ~3,800 people on the real SparseTaxi Beijing network (2013 OSM,
  read in place from ../shared/data, never copied). Alleys are the minor OSM ways (residential,
  service, living_street, unclassified, footway, pedestrian, path, track) cut at vertices into
  patrol sections of about 300 m (kept when 60–600 m), the 4,300 nearest the old-city centre (a
  district-sized region); the walking network is every SparseTaxi edge around them (arterials
  included: they are walkable along their pavements); people live near the alleys (seeded).
- haidian: alleys of the Tsinghua/Wudaokou OSM extract (split_segments kind 'alley', merged per
  street, cut into the same sections), 0.8 people per alley living near them (seeded).
- haidian whole ways: the same alleys uncut (at least 60 m, no upper bound), as the database
  holds them (the demo city: a 1216 m alley among ones of 100-300 m), 0.8 people per alley;
  compared with the old target rule (the longest alley / slack, whatever its length), which
  left most volunteers idle (outside tester's F11). Its raw spread is set by outlier alleys
  (up to 2795 m) each held alone; the spread checked leaves them out, as in every case.

Each case compares, in the same run: gridward (min-cost flow + local search), a greedy
nearest-person baseline (each alley, nearest pair first, to the nearest person with room), and
the Hungarian minimum-distance one-to-one matching (scipy linear_sum_assignment) as the walking
distance reference (it ignores fairness and covers at most one alley per person).

Targets (issue 5): < 30 s for the district case; every alley covered when people suffice; load
spread (max/median alley metres per steward) ≤ 1.5; mean walk ≤ 1.5 × the Hungarian mean.

How the spread is checked (column "fair"; the raw max/median is printed beside it, "spread"):
the max is taken over the stewards an assignment covering the same alleys could lighten. Left
out of it, each listed with why: a steward above 1.5 × the median holding one alley alone
(whoever holds it carries that much), and one of 2+ alleys whose load is no more than the
least heaviest load a min-max ILP proves for their neighbourhood: R, the people who can reach
their alleys, S, the alleys nobody outside R can reach, S shared among R (≤ the alley cap
each). A steward of 2+ above both is counted: that imbalance is the assignment's. WHY: the
district's raw 1.984 was one steward holding 396 + 397 m (793 m against a median of 400 m),
of 4 sections that only 3 people can reach within 2 km: covering all 4 (issue 5: coverage
first) leaves one of the 3 with two, at least 793 m, whatever the solver does; the rest stood
at 1.500. Raw max/median also counts a lone 600 m section (the sections are 60–600 m) against
a median near 300 m: set by the data, not by fairness of workloads, which is issue 5's aim.

Each case also runs without the hand-on to idle people (StewardParams.idle_spread=None), and
with a planner's option, --fill-idle (StewardParams(fill_idle=True): idle people take alleys
over from stewards of 2+, stewards of 2+ levelled to 1.5 × the median, the target the fair
share; outside tester T64, F7): its figures (people idle, idle within the take-over walk of an
alley of a steward of 2+, spread, spread of stewards of 2+, fair spread as above, mean walk
against the Hungarian) are printed beside the default's. Targets are checked on the default
only; the option's row is reported.
--demo adds the demo city (geo.demo in a throwaway embedded cluster, its alleys proposed as
`gridward demo` staffs them): current, no hand-on, old target rule.

Run: .venv/bin/python bench/assign.py [--seed 7] [--alleys 4300] [--people 3800]
     [--no-hungarian] [--demo]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.assign.baselines import greedy_nearest, hungarian  # noqa: E402
from geo.assign.bounds import min_max_milp  # noqa: E402
from geo.assign.reach import compute_reach  # noqa: E402
from geo.assign.sections import patrol_sections as sections  # noqa: E402
from geo.assign.stewards import StewardParams, assign_stewards, steward_summary  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TAXI = DATA / "mapmatching_sparsetaxi_beijing"
OSM = DATA / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm"
UTM = "EPSG:32650"
MINOR = {"residential", "service", "living_street", "unclassified", "footway", "pedestrian",
         "path", "track"}  # fmt: skip
NOT_WALKABLE = {"motorway", "motorway_link", "platform", "construction", "proposed"}
CENTRE = (116.397, 39.913)  # the old city (Dongcheng/Xicheng), where hutongs are
SPREAD_TARGET = 1.5  # issue 5: max/median alley metres per steward


def machine_note() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared "
        f"with other engineers (load avg {load:.1f}), Python {platform.python_version()}"
    )


def _minor_way_paths(vert: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Vertex-id paths of the minor OSM ways of the SparseTaxi map (their alley candidates)."""
    d = TAXI / "raw" / "map" / "osm_data"
    osm2v = dict(zip(vert["osm_node_id"], vert["vertex_id"], strict=True))
    text = (d / "beijing.highway.txt").read_text(encoding="utf-8")
    kinds = [ln.split("\t") for ln in text.splitlines()]
    nodes = [ln.split() for ln in (d / "beijing.waynodes.txt").read_text().splitlines()]
    out = []
    for k, ns in zip(kinds, nodes, strict=True):
        if k[1] not in MINOR:
            continue
        vs = [osm2v.get(int(n)) for n in ns]
        vs = [q for q in vs if q is not None]
        if len(vs) >= 2:
            out.append((k[1], np.asarray(vs, dtype=np.int64)))
    return out


def district_case(n_alleys: int, n_people: int, seed: int):
    """Alleys, network and people on the SparseTaxi Beijing network around the old city.

    Alleys: minor OSM ways (residential, service, footway, …) cut into ~300 m sections, the
    ``n_alleys`` nearest the old-city centre; network: every walkable edge around them.
    """
    vert = pd.read_csv(TAXI / "vertices_wgs84.csv")
    edges = pd.read_csv(
        TAXI / "raw" / "map" / "adjacentList.txt", sep=" ", skiprows=1, header=None,
        names=["u", "v", "km"],
    )  # fmt: skip
    a = np.minimum(edges["u"], edges["v"]).to_numpy()
    b = np.maximum(edges["u"], edges["v"]).to_numpy()
    uv = np.unique(np.column_stack([a, b]), axis=0)
    uv = uv[uv[:, 0] != uv[:, 1]]
    lon, lat = vert["lon"].to_numpy(), vert["lat"].to_numpy()
    tr = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    to_wgs = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    x, y = tr.transform(lon, lat)
    xy = np.column_stack([x, y])
    cx, cy = tr.transform(*CENTRE)
    pieces: list[np.ndarray] = []
    for _kind, path in _minor_way_paths(vert):
        pts = xy[path]
        if np.hypot(pts[:, 0].mean() - cx, pts[:, 1].mean() - cy) > 15_000:
            continue
        for sec in sections(pts):
            pieces.append(sec)
    geoms = np.array([shapely.LineString(p) for p in pieces], dtype=object)
    length = shapely.length(geoms)
    cent = shapely.get_coordinates(shapely.centroid(geoms))
    order = np.argsort(np.hypot(cent[:, 0] - cx, cent[:, 1] - cy))
    # Drop stubs, and single undivided edges too long to be a lane (no vertex to cut at).
    chosen = [i for i in order if 60 <= length[i] <= 600][:n_alleys]

    def wgs(g):
        return shapely.transform(g, lambda c: np.column_stack(to_wgs.transform(c[:, 0], c[:, 1])))

    alleys = gpd.GeoDataFrame(
        {"alley_id": [f"A{i:05d}" for i in range(len(chosen))]},
        geometry=wgs(geoms[chosen]),
        crs="EPSG:4326",
    )
    bx = alleys.total_bounds
    pad = 0.01
    near = (lon > bx[0] - pad) & (lon < bx[2] + pad) & (lat > bx[1] - pad) & (lat < bx[3] + pad)
    nm = near[uv[:, 0]] & near[uv[:, 1]]
    u, v = uv[nm, 0], uv[nm, 1]
    network = gpd.GeoDataFrame(
        geometry=wgs(shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))), crs="EPSG:4326"
    )
    # People live near the alleys: a random point of a random alley, a few metres off the lane.
    rng = np.random.default_rng(seed)
    pick = geoms[np.array(chosen)[rng.integers(0, len(chosen), n_people)]]
    homes = shapely.get_coordinates(
        shapely.line_interpolate_point(pick, rng.random(n_people), normalized=True)
    ) + rng.normal(0, 15, (n_people, 2))
    hl, ht = to_wgs.transform(homes[:, 0], homes[:, 1])
    people = pd.DataFrame(
        {"person_id": [f"P{i:05d}" for i in range(n_people)], "lon": hl, "lat": ht}
    )
    return alleys, network, people


def haidian_case(seed: int, sectioned: bool = True):
    """Alleys of the Haidian extract: kind 'alley' segments merged per street, in sections
    (or whole)."""
    from geo.network import split_segments
    from geo.osm import read_osm

    segs = split_segments(read_osm(OSM).ways)
    alley_segs = segs[segs["kind"] == "alley"].to_crs(UTM)
    merged = alley_segs[["street_key", "geometry"]].dissolve(by="street_key")
    parts = shapely.get_parts(shapely.line_merge(merged.geometry.to_numpy()))
    if sectioned:
        pieces = [sec for part in parts for sec in sections(shapely.get_coordinates(part))]
        geoms = np.array([shapely.LineString(p) for p in pieces], dtype=object)
    else:
        geoms = np.asarray(parts, dtype=object)
    glen = shapely.length(geoms)
    geoms = geoms[(glen >= 60) & ((glen <= 600) | (not sectioned))]
    alleys = gpd.GeoDataFrame(
        {"alley_id": [f"H{i:04d}" for i in range(len(geoms))]}, geometry=geoms, crs=UTM
    ).to_crs("EPSG:4326")
    rng = np.random.default_rng(seed)
    n = int(len(alleys) * 0.8)
    lines = geoms[rng.integers(0, len(geoms), n)]
    pts = shapely.get_coordinates(
        shapely.line_interpolate_point(lines, rng.random(n), normalized=True)
    )
    pts = pts + rng.normal(0, 15, pts.shape)
    hl, ht = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(pts[:, 0], pts[:, 1])
    people = pd.DataFrame({"person_id": [f"R{i:04d}" for i in range(n)], "lon": hl, "lat": ht})
    return alleys, segs[["geometry"]], people


def coverable(reach, max_alleys: int) -> int:
    """Most alleys any assignment can cover: a max flow person → reachable alley with each person
    holding at most ``max_alleys`` (lengths ignored), i.e. what "when people suffice" allows."""
    from ortools.graph.python import max_flow

    n_a, n_p = len(reach.item_length_m), len(reach.home_xy)
    src, sink = 0, 1
    person = 2 + np.arange(n_p)
    alley = 2 + n_p + np.arange(n_a)
    mf = max_flow.SimpleMaxFlow()
    mf.add_arcs_with_capacity(np.full(n_p, src), person, np.full(n_p, max_alleys))
    mf.add_arcs_with_capacity(person[reach.person], alley[reach.item], np.ones(len(reach.item)))
    mf.add_arcs_with_capacity(alley, np.full(n_a, sink), np.ones(n_a, dtype=np.int64))
    if mf.solve(src, sink) != mf.OPTIMAL:
        raise RuntimeError("max flow failed")
    return int(mf.optimal_flow())


def reach_matrices(reach) -> tuple[sparse.csr_array, sparse.csr_array]:
    """The reach table as item × person and person × item sparse matrices of walking metres,
    to read an alley's reachers and a person's alleys as index slices."""
    shape = (len(reach.item_length_m), len(reach.home_xy))
    by_item = sparse.csr_array((reach.metres, (reach.item, reach.person)), shape=shape)
    return by_item, by_item.T.tocsr()


def _row(m: sparse.csr_array, i: int) -> np.ndarray:
    return m.indices[m.indptr[i] : m.indptr[i + 1]]


def closed_neighbourhood(
    by_item: sparse.csr_array, by_person: sparse.csr_array, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """R, the people who can reach ``items`` (sorted), and S, the alleys nobody outside R can
    reach (``items`` among them): any assignment covering S gives its alleys to R alone."""
    people = np.unique(np.concatenate([_row(by_item, int(i)) for i in items]))
    inside = np.zeros(by_item.shape[1], dtype=bool)
    inside[people] = True
    near = np.unique(np.concatenate([_row(by_person, int(p)) for p in people]))
    return people, np.array([j for j in near if inside[_row(by_item, int(j))].all()])


def min_max_share(
    by_item: sparse.csr_array, length: np.ndarray, people: np.ndarray, closed: np.ndarray,
    max_alleys: int,
) -> float:  # fmt: skip
    """The least heaviest load when every alley of ``closed`` goes to one of ``people`` who can
    reach it, ≤ ``max_alleys`` each: a min-max ILP (scipy.optimize.milp, HiGHS), its dual
    bound, so a lower bound even when stopped early; NaN when they cannot cover them all."""
    reachers = [_row(by_item, int(j)) for j in closed]
    ji = np.repeat(np.arange(len(closed)), [len(r) for r in reachers])  # pair → alley
    slot = np.searchsorted(people, np.concatenate(reachers))  # pair → person among R
    res = min_max_milp(ji, slot, length[closed], len(people), max_alleys, time_limit=20)
    bound = getattr(res, "mip_dual_bound", None)
    ok = res.status in (0, 1) and bound is not None and np.isfinite(bound)
    return float(bound) if ok else math.nan


def least_max_load(
    mats: tuple, length: np.ndarray, items: np.ndarray, max_alleys: int
) -> tuple[float, int, int]:
    """A lower bound on the heaviest load of any assignment covering every alley, from the
    neighbourhood of a steward's ``items`` (:func:`closed_neighbourhood`, shared out by
    :func:`min_max_share`). Returns (bound, |S|, |R|). WHY: a steward above the others may
    be put there by the data (4 sections within reach of 3 people only: one of them carries
    two), which no solver can change."""
    people, closed = closed_neighbourhood(*mats, items)
    least = min_max_share(mats[0], length, people, closed, max_alleys)
    return least, len(closed), len(people)


@dataclass
class Fairness:
    """The load spread of one assignment, raw and as issue 5 means it (see the docstring)."""

    median: float
    raw: float  # max/median over everyone holding an alley
    fair: float  # max/median over the stewards a fairer assignment could lighten
    alone: list  # (person, metres) above the bound, one alley: that alley is their load
    forced: list  # (person, metres, alley lengths, least max, |S|, |R|) at the least max
    unforced: list  # (person, metres, alley lengths, least max, |S|, |R|) above it: unfair
    top: list  # (person, metres, alley lengths): the heaviest few


def fairness(
    assignments: pd.DataFrame, reach, mats: tuple, max_alleys: int, alley_ids: list
) -> Fairness:
    """Who sets the load spread, and whether any assignment covering the same alleys could
    lower it: a steward above ``SPREAD_TARGET`` × the median is excused from the max when
    their load is one alley (any holder of it carries that much) or no higher than the least
    heaviest load :func:`least_max_load` proves for their neighbourhood. Everyone else counts.
    WHY: fairness of workloads is what an assignment can even out; a spread set by the data
    (sections of 60–600 m against a median of 400 m, or alleys only a few people can reach)
    is no solver's to fix, and counting it hid whether the rest is fair (issue 5)."""
    a_ix = {x: i for i, x in enumerate(alley_ids)}
    ai = assignments["alley_id"].map(a_ix).to_numpy(int)
    per = pd.Series(ai).groupby(assignments["person_id"].to_numpy()).agg(list)
    loads = per.map(lambda its: float(reach.item_length_m[its].sum()))
    med = float(loads.median()) if len(loads) else math.nan
    alone, forced, unforced, counted = [], [], [], []
    for person, its in per.items():
        load, lengths = loads[person], sorted(np.round(reach.item_length_m[its]).astype(int))
        if not load > SPREAD_TARGET * med:
            counted.append(load)
        elif len(its) == 1:
            alone.append((person, load))
        else:
            least, n_s, n_r = least_max_load(mats, reach.item_length_m, np.asarray(its), max_alleys)
            row = (person, load, lengths, least, n_s, n_r)
            (forced if load <= least * (1 + 1e-4) + 0.5 else unforced).append(row)
    counted += [r[1] for r in unforced]
    heavy = loads.sort_values(ascending=False).head(5)
    return Fairness(
        median=med,
        raw=float(loads.max()) / med if len(loads) else math.nan,
        fair=max(counted) / med if counted else math.nan,
        alone=alone,
        forced=forced,
        unforced=unforced,
        top=[
            (p, m, sorted(np.round(reach.item_length_m[per[p]]).astype(int)))
            for p, m in heavy.items()
        ],
    )


def print_fairness(f: Fairness) -> None:
    """The heaviest loads, and every steward above the bound with why they stand there."""
    bound = SPREAD_TARGET * f.median
    print("heaviest loads: " + "; ".join(
        f"{p} {m:.0f} m ({len(ls)} alley{'s' if len(ls) > 1 else ''}: "
        f"{' + '.join(map(str, ls))})" for p, m, ls in f.top
    ))  # fmt: skip
    print(
        f"above {SPREAD_TARGET} × the median ({bound:.0f} m): {len(f.alone)} holding one alley "
        f"alone (max {max((m for _, m in f.alone), default=0):.0f} m), {len(f.forced)} of 2+ "
        f"alleys at the least load any covering assignment allows, {len(f.unforced)} of 2+ "
        f"above it (unfair: counted)"
    )
    for tag, rows in (("least possible", f.forced), ("NOT the least", f.unforced)):
        for p, m, ls, least, n_s, n_r in rows[:5]:
            print(
                f"  {tag}: {p} {m:.0f} m = {' + '.join(map(str, ls))} m; the {n_s} alleys "
                f"only {n_r} people can reach (these among them) leave one of them ≥ "
                f"{least:.0f} m (min-max ILP)"
            )
    print(f"load spread, raw max/median {f.raw:.3f}; over the stewards an assignment could "
          f"lighten {f.fair:.3f}")  # fmt: skip


def _pairs_frame(pairs, reach, alley_ids, person_ids) -> pd.DataFrame:
    ai = np.array([i for i, _ in pairs], dtype=np.int64)
    pi = np.array([p for _, p in pairs], dtype=np.int64)
    return pd.DataFrame(
        {
            "alley_id": [alley_ids[i] for i in ai],
            "person_id": [person_ids[p] for p in pi],
            "walk_m": reach.lookup(ai, pi) if len(ai) else [],
        }
    )


def _packed(assignments: pd.DataFrame, min_items: int) -> int:
    """Stewards holding ``min_items`` alleys or more."""
    return int((assignments.groupby("person_id").size() >= min_items).sum())


def idle_figures(
    assignments: pd.DataFrame, reach, alley_ids: list, person_ids: list, near_m: float,
    h_mean: float,
) -> dict:  # fmt: skip
    """What --fill-idle is about, for one assignment: people idle (holding no alley), those of
    them within the take-over walk of an alley of a steward of 2+ (walking to it no farther
    than that steward, or at most ``near_m``), the load spread (max/median over everyone
    holding an alley), that of stewards of 2+ (their max over the same median) and the mean
    walk against the Hungarian's."""
    a = assignments
    a_ix = {x: i for i, x in enumerate(alley_ids)}
    load = a.assign(m=reach.item_length_m[a["alley_id"].map(a_ix).to_numpy(int)])
    load = load.groupby("person_id")["m"].sum()
    count = a.groupby("person_id").size()
    med = float(load.median()) if len(load) else math.nan
    p_ix = {p: i for i, p in enumerate(person_ids)}
    idle = [p_ix[q] for q in set(person_ids) - set(a["person_id"])]
    shared = a[a["person_id"].map(count) >= 2]
    walk_to = np.full(len(alley_ids), np.nan)  # each shared alley's take-over walk
    for alley, walk in zip(shared["alley_id"], shared["walk_m"], strict=True):
        walk_to[a_ix[alley]] = np.fmax(walk_to[a_ix[alley]], np.fmax(float(walk), near_m))
    on = np.isin(reach.person, idle) & np.isfinite(walk_to[reach.item])
    near = reach.person[on][reach.metres[on] <= walk_to[reach.item[on]] + 1e-9]
    two = load[count >= 2]
    return {
        "idle": len(idle),
        "idle_near": int(len(np.unique(near))),
        "spread": float(load.max()) / med if len(load) else math.nan,
        "spread_2": float(two.max()) / med if len(two) else math.nan,
        "walk_x": float(np.nanmean(a["walk_m"].to_numpy(float))) / h_mean,
    }


def demo_case(params: StewardParams) -> None:
    """The demo city's own steward proposal (``gridward demo``: geo.demo, then geo.staffing's
    proposal for the subdistrict's alleys), in a throwaway embedded cluster; compared with no
    hand-on and with the old target rule. The outside tester saw its first run (F11)."""
    import datetime as dt
    import shutil
    import tempfile
    from dataclasses import replace

    from geo import demo
    from geo.db import dispose_engines, get_engine
    from geo.embedded import EmbeddedCluster
    from geo.settings import city_today
    from geo.staffing import commit, propose

    folder = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    folder.chmod(0o755)  # the server may run as the 'postgres' user when run as root
    cluster = EmbeddedCluster(folder / "data", fast=True)
    try:
        engine = get_engine(cluster.start().url)
        demo.load_city(engine)
        demo.make_grids(engine)
        demo.make_people(engine, 0)
        day = city_today() - dt.timedelta(days=7)  # as geo.demo.populate staffs it
        for kind in ("grids", "streets"):
            commit(engine, propose(engine, kind, demo.SUBDISTRICT, day=day), "demo", day)
        print(f"\n== demo city ({demo.SUBDISTRICT}), as gridward demo staffs its alleys ==")
        print(f"{'method':34s} {'time s':>7s} {'coverage':>9s} {'stewards':>12s} {'spread':>7s} "
              f"{'max m':>7s} {'median m':>8s} {'mean walk m':>11s} {'handed':>6s}")  # fmt: skip
        for label, p in (
            ("gridward flow+local search", params),
            ("gridward, no hand-on to idle people", replace(params, idle_spread=None)),
            ("gridward, old target rule", replace(params, long_alley_factor=math.inf)),
        ):
            r = propose(engine, "alleys", demo.SUBDISTRICT, day=day, params=p)["summary"]
            print(
                f"{label:34s} {r['runtime_s']:7.2f} {r['coverage']:9.2%} "
                f"{r['stewards']:5d} of {r['people']:3d} {r['load_spread']:7.3f} "
                f"{r['load_max_m']:7.0f} {r['load_median_m']:8.0f} {r['mean_walk_m']:11.1f} "
                f"{r.get('handed_to_idle', 0):6d}"
            )
    finally:
        dispose_engines()
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def run_case(name, alleys, network, people, params, do_hungarian=True) -> bool:
    print(f"\n== {name}: {len(alleys)} alleys, {len(people)} people, "
          f"{len(network)} network lines ==")  # fmt: skip
    t, cpu = time.perf_counter(), time.process_time()
    ours = assign_stewards(alleys, people, params, network=network)
    t_ours, cpu_ours = time.perf_counter() - t, time.process_time() - cpu
    s = ours.summary
    t = time.perf_counter()
    # the baselines walk the same network, gaps in the data joined as gridward's solver does
    reach = compute_reach(
        alleys, people, network, params.max_walk_m, params.max_home_offset_m, "a",
        max_gap_m=params.max_data_gap_m,
    )  # fmt: skip
    t_reach = time.perf_counter() - t
    alley_ids, person_ids = alleys["alley_id"].tolist(), people["person_id"].tolist()
    t = time.perf_counter()
    g_pairs = greedy_nearest(reach, s["capacity_m"], params.max_alleys_per_person)
    t_greedy = time.perf_counter() - t + t_reach
    g_frame = _pairs_frame(g_pairs, reach, alley_ids, person_ids)
    g = steward_summary(g_frame, reach.item_length_m, alley_ids, len(people))
    from dataclasses import replace

    strict = assign_stewards(
        alleys, people, replace(params, overflow_to_cover=False), network=network
    )
    packed = assign_stewards(alleys, people, replace(params, idle_spread=None), network=network)
    filled = assign_stewards(alleys, people, replace(params, fill_idle=True), network=network)
    rows = [
        ("gridward flow+local search", s, t_ours, ours.assignments),
        ("gridward, no hand-on to idle people", packed.summary, packed.summary["runtime_s"],
         packed.assignments),
        ("gridward, never above capacity", strict.summary, strict.summary["runtime_s"],
         strict.assignments),
        ("greedy nearest person", g, t_greedy, g_frame),
    ]  # fmt: skip
    if "whole" in name:  # the old target rule: the longest alley, outlier or not
        old = assign_stewards(
            alleys, people, replace(params, long_alley_factor=math.inf), network=network
        )
        rows.insert(3, ("gridward, old target rule", old.summary, old.summary["runtime_s"],
                        old.assignments))  # fmt: skip
    h_mean = float("nan")
    if do_hungarian:
        t = time.perf_counter()
        h_pairs, h_mean = hungarian(reach)
        t_h = time.perf_counter() - t + t_reach
        h_frame = _pairs_frame(h_pairs, reach, alley_ids, person_ids)
        h = steward_summary(h_frame, reach.item_length_m, alley_ids, len(people))
        rows.append(("Hungarian one-to-one (reference)", h, t_h, h_frame))
    mats = reach_matrices(reach)
    n_max = params.max_alleys_per_person
    head = f"{'method':34s} {'time s':>7s} {'coverage':>9s} {'stewards':>8s} {'spread':>7s} "
    head += f"{'fair':>6s} {'max m':>7s} {'median m':>8s} {'mean walk m':>11s}"
    print(head)
    fair = {}
    for label, r, secs, frame in rows:
        fair[label] = fairness(frame, reach, mats, n_max, alley_ids)
        print(
            f"{label:34s} {secs:7.2f} {r['coverage']:9.2%} {r['stewards']:8d} "
            f"{r['load_spread']:7.3f} {fair[label].fair:6.3f} {r['load_max_m']:7.0f} "
            f"{r['load_median_m']:8.0f} {r['mean_walk_m']:11.1f}"
        )
    mine = fair[rows[0][0]]
    print_fairness(mine)
    reachable = int(len(np.unique(reach.item)))
    print(f"gridward CPU time {cpu_ours:.2f} s (wall {t_ours:.2f} s on the shared machine)")
    bound = coverable(reach, params.max_alleys_per_person)
    loads = (
        ours.assignments.assign(
            m=ours.assignments["alley_id"].map(
                dict(zip(alley_ids, reach.item_length_m, strict=True))
            )
        )
        .groupby("person_id")["m"]
        .agg(["sum", "size"])
    )
    over = int(((loads["sum"] > s["capacity_m"] + 1e-6) & (loads["size"] > 1)).sum())
    print(
        f"stewards above the soft capacity (to cover alleys nobody else can take): {over}; "
        f"stewards at the {params.max_alleys_per_person}-alley limit: "
        f"{int((loads['size'] >= params.max_alleys_per_person).sum())}"
    )
    print(
        f"alleys reachable by someone within {params.max_walk_m:.0f} m: {reachable}; coverable "
        f"at most (max flow, ≤ {params.max_alleys_per_person} alleys each): {bound}; "
        f"uncovered by gridward: {len(ours.uncovered)}; target load {s['target_m']} m, "
        f"capacity {s['capacity_m']} m; objective {s['objective']}; "
        f"local-search passes {s['improve_passes']}"
    )
    print(
        f"people used {s['stewards']} of {len(people)}; alleys longer than "
        f"{params.long_alley_factor} × the fair share ({s['fair_share_m']} m), each one steward's "
        f"whole load: {s['long_alleys']}; most alleys held by one steward: "
        f"{int(loads['size'].max()) if len(loads) else 0}"
    )
    print(
        f"handed to idle neighbours: {s['handed_to_idle']} alleys; stewards with "
        f"≥ {params.idle_min_items} alleys: {int((loads['size'] >= params.idle_min_items).sum())} "
        f"(without the hand-on: {_packed(packed.assignments, params.idle_min_items)})"
    )
    print(
        f"the option --fill-idle (StewardParams.fill_idle; reported, not checked), idle within "
        f"the take-over walk: of an alley of a steward of 2+, no farther than that steward or "
        f"{params.take_over_near_m:.0f} m"
    )
    print(f"{'method':34s} {'time s':>7s} {'idle':>5s} {'idle within walk':>16s} {'spread':>7s} "
          f"{'spread of 2+':>12s} {'fair':>6s} {'walk / Hungarian':>16s} {'taken over':>10s} "
          f"{'levelled':>8s}")  # fmt: skip
    for label, r in (("gridward (default)", ours), ("gridward --fill-idle", filled)):
        f = idle_figures(
            r.assignments, reach, alley_ids, person_ids, params.take_over_near_m, h_mean
        )
        took = r.summary["handed_to_idle"] if r is filled else "-"
        lev = r.summary.get("levelled", "-")
        fr = mine if r is ours else fairness(r.assignments, reach, mats, n_max, alley_ids)
        print(
            f"{label:34s} {r.summary['runtime_s']:7.2f} {f['idle']:5d} {f['idle_near']:16d} "
            f"{f['spread']:7.3f} {f['spread_2']:12.3f} {fr.fair:6.3f} {f['walk_x']:15.2f}× "
            f"{took!s:>10s} {lev!s:>8s}"
        )
    ratio = s["mean_walk_m"] / h_mean if do_hungarian else float("nan")
    checks = {
        "every alley covered that people suffice for (max-flow bound)": s["covered"] >= bound,
    }
    checks[
        f"load spread ≤ {SPREAD_TARGET} over the stewards an assignment could lighten "
        f"({mine.fair:.3f}; raw max/median {mine.raw:.3f}: {len(mine.forced)} of 2+ at the "
        f"least possible, {len(mine.alone)} alone on one alley)"
    ] = round(mine.fair, 3) <= SPREAD_TARGET  # to 3 decimals, as steward_summary's spread
    if do_hungarian:
        checks[f"mean walk ≤ 1.5 × Hungarian ({ratio:.2f}×)"] = ratio <= 1.5
    if name.startswith("district"):
        checks["runtime < 30 s"] = t_ours < 30
    for label, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {label}")
    return all(checks.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--alleys", type=int, default=4300)
    ap.add_argument("--people", type=int, default=3800)
    ap.add_argument("--no-hungarian", action="store_true")
    ap.add_argument("--demo", action="store_true", help="also the demo city (builds a database)")
    args = ap.parse_args()
    print(machine_note())
    if not TAXI.is_dir():
        sys.exit(f"missing {TAXI}")
    params = StewardParams()
    print(f"params: {params}")
    t = time.perf_counter()
    alleys, network, people = district_case(args.alleys, args.people, args.seed)
    print(f"district case built in {time.perf_counter() - t:.1f} s (not timed below)")
    ok = run_case("district (SparseTaxi Beijing)", alleys, network, people, params,
                  not args.no_hungarian)  # fmt: skip
    alleys, network, people = haidian_case(args.seed)
    ok &= run_case("haidian (Tsinghua/Wudaokou OSM)", alleys, network, people, params, True)
    alleys, network, people = haidian_case(args.seed, sectioned=False)
    ok &= run_case("haidian whole ways (as in the database)", alleys, network, people, params)
    if args.demo:
        demo_case(params)
    print("\nALL TARGETS MET" if ok else "\nSOME TARGETS MISSED")


if __name__ == "__main__":
    main()
