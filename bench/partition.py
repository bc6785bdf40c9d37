"""Benchmark: gridward's level-1 partition vs PySAL spopt max-p and SKATER.

Inputs: the real Tsinghua/Wudaokou OSM extract (households estimated from footprints) and
a generated city (geo.partition.synthetic) at 1k, 10k and 100k buildings. For each: wall
and CPU time, number of grids, share within [min, max] (all grids, and grids where the
bounds are feasible), mean Polsby–Popper, share of grid boundary on streets, multipart.

Peers run on the very same building cells (geo.partition.cells) in a subprocess with a
time cap: MaxPHeuristic(threshold = min households, attributes = cell centroid x/y) and
Skater(n_clusters = round(total / target), same attributes). Their regions are measured
with the same code as gridward's grids.

    python bench/partition.py                       # everything (peers up to 1k cells)
    python bench/partition.py --sizes 1000,10000 --skip-peers
    python bench/partition.py --peer-sizes 500,1000 --peer-timeout 600
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import shapely  # noqa: E402

OSM = REPO.parent / "shared" / "data" / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm"


def machine_note() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} — the 2 cores are shared "
        "with other engineers' jobs, so wall times are noisy; CPU time is shown too."
    )


def haidian():
    from geo.households import estimate_households
    from geo.osm import read_osm

    layers = read_osm(OSM)
    area = shapely.box(116.3084, 39.9905, 116.3320, 40.0123)
    b = estimate_households(layers.buildings)
    b = b[b.within(area)][["households", "geometry"]].reset_index(drop=True)
    return area, b, layers.ways[["geometry"]]


def measure(regions_m, hh, lo, hi, area_m, streets_m, infeasible=None):
    from geo.partition.metrics import polsby_popper, street_shares

    within = (hh >= lo) & (hh <= hi)
    feas = np.ones(len(hh), bool) if infeasible is None else ~infeasible
    on, internal, _ = street_shares(regions_m, area_m, streets_m)
    return {
        "grids": len(hh),
        "within": float(within.mean()),
        "feasible_within": float(within[feas].mean()) if feas.any() else 1.0,
        "pp": float(np.mean(polsby_popper(regions_m))),
        "street": float(on.sum() / internal.sum()) if internal.sum() > 0 else float("nan"),
        "multipart": int((shapely.get_num_geometries(regions_m) > 1).sum()),
    }


def run_gridward(area, b, s, params):
    from geo.partition import partition
    from geo.partition.prepare import prepare

    t = time.perf_counter()
    c = time.process_time()
    r = partition(area, b, s, params)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    prep = prepare(area, b, s, params)
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", prep.metric_crs, always_xy=True)
    g = shapely.transform(
        np.asarray(r.grids.geometry.values, dtype=object),
        lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])),
    )
    inf = (
        r.grids["flags"]
        .map(
            lambda f: any(x in ("over_max:single_building", "under_min:enclosed_block") for x in f)
        )
        .to_numpy()
    )
    m = measure(
        g,
        r.grids["households"].to_numpy(),
        params.min_households,
        params.max_households,
        prep.area_m,
        prep.streets_m,
        inf,
    )
    m.update(wall=wall, cpu=cpu)
    return m, prep


# ---------------------------------------------------------------- peers (subprocess)
def _peer_main(name: str, cells_path: str, out_path: str, lo: int, hi: int) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from libpysal.weights import Queen
    from spopt.region import MaxPHeuristic, Skater

    cells = pickle.loads(Path(cells_path).read_bytes())
    c = shapely.get_coordinates(shapely.centroid(cells.geometry.values))
    cells["x"], cells["y"] = c[:, 0], c[:, 1]
    w = Queen.from_dataframe(cells, use_index=False, silence_warnings=True)
    t = time.perf_counter()
    if name == "maxp":
        model = MaxPHeuristic(cells, w, ["x", "y"], "households", lo, top_n=2, verbose=False)
    else:
        k = max(1, round(cells["households"].sum() / ((lo + hi) / 2)))
        model = Skater(cells, w, ["x", "y"], n_clusters=k, islands="increase")
    model.solve()
    wall = time.perf_counter() - t
    Path(out_path).write_bytes(pickle.dumps({"labels": np.asarray(model.labels_), "wall": wall}))


def run_peer(name, cells_m, prep, lo, hi, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        cp, op = Path(tmp) / "cells.pkl", Path(tmp) / "out.pkl"
        cp.write_bytes(pickle.dumps(cells_m.drop(columns=["buildings"])))
        cmd = [
            sys.executable,
            __file__,
            "--peer",
            name,
            "--cells",
            str(cp),
            "--result",
            str(op),
            "--min",
            str(lo),
            "--max",
            str(hi),
        ]
        try:
            proc = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"timeout": timeout}
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
        res = pickle.loads(op.read_bytes())
    labels = res["labels"]
    uniq, inv = np.unique(labels, return_inverse=True)
    geoms = np.asarray(cells_m.geometry.values, dtype=object)
    regions = np.array([shapely.union_all(geoms[inv == k]) for k in range(len(uniq))])
    hh = np.bincount(inv, weights=cells_m["households"].to_numpy(), minlength=len(uniq))
    m = measure(regions, hh, lo, hi, prep.area_m, prep.streets_m)
    m.update(wall=res["wall"], cpu=float("nan"))
    return m


def fmt(name, case, n, m):
    if "timeout" in m:
        return f"{case:<22}{n:>8}  {name:<10} > {m['timeout']:.0f} s (time cap reached)"
    if "error" in m:
        return f"{case:<22}{n:>8}  {name:<10} error: {m['error']}"
    return (
        f"{case:<22}{n:>8}  {name:<10}{m['wall']:>9.2f}{m['cpu']:>8.2f}{m['grids']:>7}"
        f"{100 * m['within']:>9.1f}{100 * m['feasible_within']:>10.1f}{m['pp']:>8.3f}"
        f"{100 * m['street']:>9.1f}{m['multipart']:>6}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--peer-sizes", default="1000", help="generated-city sizes peers run on")
    ap.add_argument("--peer-timeout", type=float, default=600.0)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--peers", default="maxp,skater", help="which peers: maxp, skater")
    ap.add_argument("--skip-haidian", action="store_true")
    ap.add_argument("--min", type=int, default=300)
    ap.add_argument("--max", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--cells", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peer:
        _peer_main(a.peer, a.cells, a.result, a.min, a.max)
        return

    from geo.partition import PartitionParams
    from geo.partition.cells import building_cells
    from geo.partition.synthetic import generated_city

    print(machine_note())
    print(f"bounds [{a.min}, {a.max}] households, seed {a.seed}")
    params = PartitionParams(a.min, a.max, seed=a.seed, code_overflow="extend")
    sizes = [int(x) for x in a.sizes.split(",") if x]
    peer_sizes = set() if a.skip_peers else {int(x) for x in a.peer_sizes.split(",") if x}
    cases = []
    if not a.skip_haidian and OSM.is_file():
        cases.append(("haidian tsinghua OSM", haidian, True))
    for n in sorted(set(sizes) | peer_sizes):
        cases.append(
            (f"generated city {n}", lambda n=n: generated_city(n, seed=a.seed), n in peer_sizes)
        )
    head = (
        f"{'input':<22}{'bldgs':>8}  {'method':<10}{'wall s':>9}{'cpu s':>8}{'grids':>7}"
        f"{'in[%]':>9}{'feas[%]':>10}{'PP':>8}{'street%':>9}{'multi':>6}"
    )
    print(head)
    print("-" * len(head))
    for case, make, with_peers in cases:
        area, b, s = make()
        m, prep = run_gridward(area, b, s, params)
        print(fmt("gridward", case, len(b), m), flush=True)
        if not with_peers or a.skip_peers:
            continue
        cells = building_cells(area, b, s, params, metric=True)
        for peer in [p for p in a.peers.split(",") if p in ("maxp", "skater")]:
            pm = run_peer(peer, cells, prep, a.min, a.max, a.peer_timeout)
            line = fmt(peer, case, len(b), pm)
            if "wall" in pm:
                line += f"   (gridward {pm['wall'] / m['wall']:.0f}× faster)"
            elif "timeout" in pm:
                line += f"   (gridward > {pm['timeout'] / m['wall']:.0f}× faster)"
            print(line, flush=True)
    print(
        "in% = grids within bounds; feas% = of grids where bounds are feasible (not a single "
        "building over max / an enclosed block under min); PP = mean Polsby–Popper; "
        "street% = share of internal grid boundary on streets."
    )


if __name__ == "__main__":
    main()
