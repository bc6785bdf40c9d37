"""Reader for the SparseTaxi map-matching benchmark (Li et al., SIGSPATIAL 2013), read in place.

Used by tests and bench/match.py only; the data must never be copied into the repository.
Pairs listed in one direction only are one-way (column ``oneway``); an edge's id is
``"<min vertex>-<max vertex>"`` so a ground-truth vertex path maps to edge ids directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def edge_key(a: int, b: int) -> str:
    return f"{min(a, b)}-{max(a, b)}"


# Route cost per metre relative to main roads: a taxi prefers arterials, so between fixes a
# minute apart the shortest *distance* is often a side street it did not take.
ROAD_COST = {
    "motorway": 1.0,
    "motorway_link": 1.1,
    "trunk": 1.0,
    "trunk_link": 1.1,
    "primary": 1.0,
    "primary_link": 1.1,
    "secondary": 1.05,
    "secondary_link": 1.1,
    "tertiary": 1.15,
    "tertiary_link": 1.2,
    "residential": 1.3,
    "unclassified": 1.3,
    "living_street": 1.5,
    "service": 1.5,
    # mapped for walkers and cyclists; a taxi is on them only where the mapping is off
    "footway": 3.0,
    "cycleway": 3.0,
    "pedestrian": 3.0,
    "path": 3.0,
    "steps": 3.0,
    "track": 3.0,
    "platform": 3.0,
    "bus_guideway": 3.0,
    "unknown": 1.0,
}


def edge_highway(folder: Path) -> dict[str, str]:
    """Highway class of each vertex pair, from the benchmark's OSM way tables."""
    vm = pd.read_csv(
        folder / "raw/map/vertexMap.txt", sep=r"\s+", header=None, usecols=[0, 1], dtype=np.int64
    )
    vid = dict(zip(vm[1].tolist(), vm[0].tolist(), strict=True))
    osm = folder / "raw/map/osm_data"
    kinds = [ln.split("\t")[1] for ln in (osm / "beijing.highway.txt").read_text().splitlines()]
    out: dict[str, str] = {}
    lines = (osm / "beijing.waynodes.txt").read_text().splitlines()
    for kind, ln in zip(kinds, lines, strict=False):
        # The network keeps only some of a way's OSM nodes (shape points between junctions
        # are dropped), so an edge joins consecutive *kept* nodes, not consecutive way nodes.
        ids = [i for i in (vid.get(int(x)) for x in ln.split()) if i is not None]
        for p, q in zip(ids[:-1], ids[1:], strict=False):
            if p != q:
                out.setdefault(edge_key(p, q), kind)
    return out


def load_network(folder: Path, bbox: tuple[float, float, float, float] | None = None):
    """Segments (edge_id, geometry) of the SparseTaxi network, optionally clipped to a bbox."""
    v = pd.read_csv(folder / "vertices_wgs84.csv")
    lon = v.set_index("vertex_id")["lon"]
    lat = v.set_index("vertex_id")["lat"]
    adj = np.loadtxt(
        folder / "raw/map/adjacentList.txt", skiprows=1, usecols=(0, 1), dtype=np.int64
    )
    adj = adj[adj[:, 0] != adj[:, 1]]
    a, b = np.minimum(adj[:, 0], adj[:, 1]), np.maximum(adj[:, 0], adj[:, 1])
    und, first, count = np.unique(
        np.column_stack([a, b]), axis=0, return_index=True, return_counts=True
    )
    # A pair listed in one direction only is one-way; draw it in its travel direction.
    dirs = {(int(p), int(q)) for p, q in adj.tolist()}
    oneway = np.array([not ((p, q) in dirs and (q, p) in dirs) for p, q in und.tolist()])
    pairs = np.array(
        [(p, q) if (p, q) in dirs else (q, p) for p, q in und.tolist()], dtype=np.int64
    ).reshape(-1, 2)
    del first, count
    x0, y0 = lon.loc[pairs[:, 0]].to_numpy(), lat.loc[pairs[:, 0]].to_numpy()
    x1, y1 = lon.loc[pairs[:, 1]].to_numpy(), lat.loc[pairs[:, 1]].to_numpy()
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        inside = (
            (np.minimum(x0, x1) <= maxx)
            & (np.maximum(x0, x1) >= minx)
            & (np.minimum(y0, y1) <= maxy)
            & (np.maximum(y0, y1) >= miny)
        )
        pairs, x0, y0, x1, y1 = pairs[inside], x0[inside], y0[inside], x1[inside], y1[inside]
        oneway = oneway[inside]
    coords = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    geoms = shapely.linestrings(coords)
    ids = [edge_key(p, q) for p, q in pairs.tolist()]
    hw = edge_highway(folder)
    kind = [hw.get(e, "unknown") for e in ids]
    cost = [ROAD_COST.get(k, 1.4) for k in kind]
    return gpd.GeoDataFrame(
        {"edge_id": ids, "oneway": oneway, "highway": kind, "cost_factor": cost},
        geometry=geoms,
        crs="EPSG:4326",
    )


def load_pairs(folder: Path) -> list[dict]:
    """The 41 validated pairs: pair_id, points (lon, lat, time), truth edge ids and
    truth_line (the hand-traced path's lon/lat vertices, in its travel order)."""
    d = json.loads((folder / "benchmark_pairs_wgs84.geojson").read_text())
    by: dict[str, dict] = {}
    for f in d["features"]:
        pr = f["properties"]
        rec = by.setdefault(pr["pair_id"], {"pair_id": pr["pair_id"]})
        if pr["kind"] == "gps_trajectory":
            c = np.asarray(f["geometry"]["coordinates"], float)
            t = pd.to_datetime(pd.Series(pr["raw_t"]), unit="s", utc=True)
            rec["points"] = pd.DataFrame(
                {"lon": c[:, 0], "lat": c[:, 1], "time": t, "accuracy": np.nan}
            )
        else:
            vids = pr["vertex_ids"]
            rec["truth"] = [edge_key(p, q) for p, q in zip(vids[:-1], vids[1:], strict=True)]
            rec["truth_line"] = np.asarray(f["geometry"]["coordinates"], float)
    return [r for r in by.values() if "points" in r and "truth" in r]


def edge_scores(matched_ids, truth_ids, length: pd.Series) -> tuple[float, float]:
    """Length-weighted precision and recall of edge sets (full edge lengths)."""
    m, t = set(matched_ids), set(truth_ids)
    inter = sum(length.get(e, 0.0) for e in m & t)
    lm = sum(length.get(e, 0.0) for e in m)
    lt = sum(length.get(e, 0.0) for e in t)
    return inter / max(lm, 1e-9), inter / max(lt, 1e-9)


def farthest_fix_from_truth(net, points: pd.DataFrame, truth_ids) -> float:
    """Metres from the hand-traced path to the pair's farthest fix (``net``: a WalkNetwork of
    the benchmark network). Large values flag pairs whose path was traced for only part of
    the trajectory or away from its fixes, where no matcher can agree with it."""
    pos = pd.Index(net.edge_ids).get_indexer(list(truth_ids))
    pos = pos[pos >= 0]
    if len(pos) == 0:
        return float("inf")
    path = shapely.union_all(net.geoms_m[pos])
    xy = net.to_metric(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    return float(shapely.distance(shapely.points(xy), path).max())


def traced_backwards(net, points: pd.DataFrame, truth_line: np.ndarray) -> bool:
    """True when the hand-traced path runs from the trajectory's last fix to its first.

    Its start is nearer the last fix than the first, and its end nearer the first. Two pairs
    (set60_06, set60_08) are like that. Their paths keep every one-way street in the traced
    direction, so a matcher that follows the fixes' time order has to take the other
    carriageway wherever the road is a dual carriageway."""
    ends = net.to_metric(truth_line[[0, -1], 0], truth_line[[0, -1], 1])
    fixes = net.to_metric(
        points["lon"].to_numpy(float)[[0, -1]], points["lat"].to_numpy(float)[[0, -1]]
    )
    d = np.hypot(*(ends[:, None, :] - fixes[None, :, :]).transpose(2, 0, 1))
    # d[i, j]: path end i (0 start, 1 end) to fix j (0 first, 1 last)
    return bool(d[0, 1] < d[0, 0] and d[1, 0] < d[1, 1])
