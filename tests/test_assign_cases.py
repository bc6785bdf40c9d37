"""Test cases for the assignment tests, built from the real Haidian OSM extract (read in place).

People live exactly on OSM nodes of the network, so the walking distances can be checked against
an independent networkx shortest-path computation over the split segments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.assign.sections import patrol_sections as sections

UTM = "EPSG:32650"
OSM_REL = Path("osm_beijing_haidian") / "tsinghua_wudaokou_2017.osm"


@lru_cache(maxsize=2)
def haidian_segments(shared_data: Path) -> gpd.GeoDataFrame:
    from geo.network import split_segments
    from geo.osm import read_osm

    return split_segments(read_osm(shared_data / OSM_REL).ways)


def haidian_alleys(shared_data: Path, sectioned: bool = True) -> gpd.GeoDataFrame:
    """Alleys (kind 'alley') merged per street; optionally cut into ~300 m sections, 60–600 m."""
    segs = haidian_segments(shared_data)
    al = segs[segs["kind"] == "alley"].to_crs(UTM)
    merged = al[["street_key", "geometry"]].dissolve(by="street_key")
    parts = shapely.get_parts(shapely.line_merge(merged.geometry.to_numpy()))
    if sectioned:
        pieces = [s for p in parts for s in sections(shapely.get_coordinates(p))]
        geoms = np.array([shapely.LineString(p) for p in pieces], dtype=object)
    else:
        geoms = parts
    length = shapely.length(geoms)
    geoms = geoms[(length >= 60) & (length <= 600)]
    return gpd.GeoDataFrame(
        {"alley_id": [f"al{i:04d}" for i in range(len(geoms))]}, geometry=geoms, crs=UTM
    ).to_crs("EPSG:4326")


def node_graph(shared_data: Path) -> tuple[nx.Graph, dict[tuple[float, float], int]]:
    """networkx graph of the segments (by rounded UTM coordinates of every vertex)."""
    segs = haidian_segments(shared_data).to_crs(UTM)
    g = nx.Graph()
    key: dict[tuple[float, float], int] = {}
    for line in segs.geometry:
        c = shapely.get_coordinates(line)
        ids = []
        for x, y in c:
            k = (round(x, 2), round(y, 2))
            ids.append(key.setdefault(k, len(key)))
        for a, b, p, q in zip(ids[:-1], ids[1:], c[:-1], c[1:], strict=True):
            w = float(np.hypot(*(p - q)))
            if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
                g.add_edge(a, b, weight=w)
    return g, key


def people_on_nodes(
    alleys: gpd.GeoDataFrame, n: int, seed: int, extra: dict | None = None
) -> pd.DataFrame:
    """``n`` people living on random vertices of random alleys (seeded)."""
    rng = np.random.default_rng(seed)
    al = alleys.to_crs(UTM).geometry.to_numpy()
    xs, ys = [], []
    for i in rng.integers(0, len(al), n):
        c = shapely.get_coordinates(al[i])
        x, y = c[rng.integers(0, len(c))]
        xs.append(x)
        ys.append(y)
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(xs, ys)
    df = pd.DataFrame({"person_id": [f"p{i:04d}" for i in range(n)], "lon": lon, "lat": lat})
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def independent_walks(
    shared_data: Path, lines: gpd.GeoDataFrame, id_col: str, people: pd.DataFrame, max_walk: float
) -> dict:
    """networkx multi-source shortest paths: item id → {person id: metres} within ``max_walk``."""
    from scipy.spatial import cKDTree

    g, key = node_graph(shared_data)
    coords = np.array(list(key.keys()))
    ids = np.array(list(key.values()))
    tree = cKDTree(coords)
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    hx, hy = to_utm.transform(people["lon"].to_numpy(), people["lat"].to_numpy())
    d, j = tree.query(np.column_stack([hx, hy]))
    assert d.max() < 0.05  # people live on network vertices
    home_node = ids[j]
    walks = {}
    for item, line in zip(lines[id_col], lines.to_crs(UTM).geometry.to_numpy(), strict=True):
        _, k = tree.query(shapely.get_coordinates(line))
        src = {int(ids[x]) for x in k}
        dist = nx.multi_source_dijkstra_path_length(g, src, cutoff=max_walk, weight="weight")
        walks[item] = {
            pid: dist[n] for pid, n in zip(people["person_id"], home_node, strict=True) if n in dist
        }
    return walks
