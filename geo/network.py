"""The walkable street network: OSM ways split into segments at intersections.

Coverage (patrols) is counted per segment, so a segment must be a stable unit: it runs between
two consecutive *split nodes* of one way, where a split node is a way end or any node used
twice or more (by two ways, or twice by one way as in loops and lollipops). The uid is built
from OSM identity only (way id + end node ids), so re-importing the same data gives the same
uids, and an edit elsewhere in the city does not renumber this street.
"""

from __future__ import annotations

import re
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from geo.errors import InputError

WGS84 = "EPSG:4326"
_GEOD = Geod(ellps="WGS84")

#: highway=* values that are not part of the walkable network, and why.
EXCLUDED_HIGHWAYS: frozenset[str] = frozenset(
    {
        "platform",  # a bus/tram stop waiting area (often a polygon), not a way to walk along
        "construction",  # not open yet
        "proposed",  # does not exist
        "planned",  # does not exist
        "abandoned",  # disused, not maintained
        "disused",  # same
        "razed",  # demolished
        "motorway",  # pedestrians prohibited (expressways, 高速/快速路 main lanes)
        "motorway_link",  # ramps of the above
        "raceway",  # a race track
        "bus_guideway",  # bus-only track
        "busway",  # bus-only lane mapped as its own way
        "escape",  # runaway-truck ramp
        "elevator",  # a vertical connection, no length on the map
        "emergency_bay",  # a lay-by, not a way
        "rest_area",  # an area, not a way
        "services",  # an area, not a way
    }
)

#: classes that are always alleys (back streets and small ways stewards patrol).
ALLEY_HIGHWAYS: frozenset[str] = frozenset(
    {
        "living_street",
        "service",
        "footway",
        "pedestrian",
        "path",
        "steps",
        "track",
        "cycleway",
        "corridor",
        "bridleway",
    }
)

#: classes that are streets (vehicle roads). ``*_link`` ramps of these are streets too.
STREET_HIGHWAYS: frozenset[str] = frozenset(
    {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "road"}
)

#: arterial classes that stay streets even when their name ends like an alley's: names such
#: as 东四十条 or 平安里 belong to major roads in Beijing.
ARTERIAL_HIGHWAYS: frozenset[str] = frozenset(
    {"trunk", "primary", "secondary", "trunk_link", "primary_link", "secondary_link"}
)

#: name endings that mark an alley (hutong and lane words).
ALLEY_NAME_SUFFIXES: tuple[str, ...] = ("胡同", "巷", "条", "里", "弄", "夹道")
_TRAILING_QUALIFIER = re.compile(r"\s*[（(][^()（）]*[)）]\s*$")


def is_walkable(tags: dict[str, str]) -> bool:
    """Whether a ``highway=*`` way belongs to the walkable network.

    Excluded: classes in :data:`EXCLUDED_HIGHWAYS`; ``area=yes`` (a pedestrian square drawn
    as a polygon is not a way to walk along); ``foot=no`` (pedestrians explicitly banned).
    Private access is kept: compound lanes are ``access=private`` yet patrolled.
    """
    hw = tags.get("highway")
    if not hw or hw in EXCLUDED_HIGHWAYS:
        return False
    if tags.get("area") == "yes":
        return False
    return tags.get("foot") != "no"


def classify_kind(highway: str, name: str | None) -> Literal["street", "alley"]:
    """Street or alley (街 or 巷), the split that decides street chiefs vs alley stewards.

    Rule, in order:

    1. trunk/primary/secondary and their ``_link`` ramps → ``street`` (arterials; some carry
       alley-like names such as 东四十条).
    2. a name ending 胡同/巷/条/里/弄/夹道 (after dropping a trailing bracketed qualifier such
       as "（北段）") → ``alley``.
    3. living_street, service, footway, pedestrian, path, steps, track, cycleway, corridor,
       bridleway → ``alley``.
    4. tertiary, unclassified, residential, road and any other ``*_link`` → ``street``.
    5. any other class → ``alley`` (unknown small ways: better patrolled than forgotten).
    """
    hw = (highway or "").strip()
    if hw in ARTERIAL_HIGHWAYS:
        return "street"
    if name:
        base = _TRAILING_QUALIFIER.sub("", name.strip())
        if base.endswith(ALLEY_NAME_SUFFIXES):
            return "alley"
    if hw in ALLEY_HIGHWAYS:
        return "alley"
    if hw in STREET_HIGHWAYS or hw.endswith("_link"):
        return "street"
    return "alley"


def _empty_segments() -> gpd.GeoDataFrame:
    cols = {
        "uid": object,
        "osm_way_id": "int64",
        "street_key": object,
        "name": object,
        "highway": object,
        "kind": object,
        "from_node": "int64",
        "to_node": "int64",
        "length_m": "float64",
    }
    df = pd.DataFrame({k: pd.Series(dtype=t) for k, t in cols.items()})
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def geodesic_lengths(lon: np.ndarray, lat: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Geodesic length in metres of ``n`` polylines given as flat vertex arrays.

    ``group`` gives each vertex's polyline (sorted, vertices in order). One vectorised
    ``Geod.inv`` over all consecutive pairs, then a bincount per polyline.
    """
    if len(lon) < 2:
        return np.zeros(n)
    _, _, dist = _GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    same = group[:-1] == group[1:]
    return np.bincount(group[:-1][same], weights=np.asarray(dist)[same], minlength=n)


def split_segments(ways: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Split ways (as from :func:`geo.osm.read_osm`) into segments at every split node.

    Vectorised: the vertices of all ways are one flat array; split nodes come from one
    ``np.unique`` count; segment membership from a cumulative sum; geometry from one
    ``shapely.linestrings`` call and lengths from one ``Geod.inv`` call. Only the per-way
    classification and the node-id flattening loop over ways.
    """
    if len(ways) == 0:
        return _empty_segments()
    missing = {"osm_id", "highway", "name", "node_ids", "geometry"} - set(ways.columns)
    if missing:
        cols = ", ".join(sorted(missing))
        raise InputError(f"道路表缺少列（{cols}） ways table lacks column(s): {cols}")
    ways = ways.reset_index(drop=True)
    if ways.crs is not None and ways.crs.to_epsg() != 4326:
        ways = ways.to_crs(WGS84)
    coords, widx = shapely.get_coordinates(ways.geometry.values, return_index=True)
    node_lists = ways["node_ids"].tolist()
    counts = np.fromiter((len(x) for x in node_lists), dtype=np.int64, count=len(node_lists))
    if counts.sum() != len(coords) or not np.array_equal(
        np.bincount(widx, minlength=len(ways)), counts
    ):
        raise InputError(
            "道路表不一致：node_ids 与几何图形的顶点对不上 "
            "ways table is inconsistent: node_ids do not match the geometry vertices"
        )
    nid = np.fromiter((v for x in node_lists for v in x), dtype=np.int64, count=int(counts.sum()))
    n = len(nid)
    ends = np.cumsum(counts)
    starts = ends - counts
    is_first = np.zeros(n, bool)
    is_first[starts] = True
    is_last = np.zeros(n, bool)
    is_last[ends - 1] = True

    _, inv, occ = np.unique(nid, return_inverse=True, return_counts=True)
    is_split = (occ[inv] >= 2) | is_first | is_last
    starts_seg = is_split & ~is_last
    gseg = np.cumsum(starts_seg) - 1  # segment of each vertex (last vertex: the previous one)
    inner = is_split & ~is_first & ~is_last  # also closes the previous segment

    pos = np.arange(n)
    rec_pos = np.concatenate([pos, pos[inner]])
    rec_seg = np.concatenate([gseg, gseg[inner] - 1])
    order = np.lexsort((rec_pos, rec_seg))
    rec_pos, rec_seg = rec_pos[order], rec_seg[order]
    n_seg = int(starts_seg.sum())

    seg_first = np.searchsorted(rec_seg, np.arange(n_seg), side="left")
    seg_last = np.searchsorted(rec_seg, np.arange(n_seg), side="right") - 1
    from_node = nid[rec_pos[seg_first]]
    to_node = nid[rec_pos[seg_last]]
    seg_way = widx[rec_pos[seg_first]]
    xy = coords[rec_pos]
    geoms = shapely.linestrings(xy, indices=rec_seg)
    length = geodesic_lengths(xy[:, 0], xy[:, 1], rec_seg, n_seg)

    way_ids = ways["osm_id"].to_numpy(dtype=np.int64)
    names = [nm if isinstance(nm, str) and nm else None for nm in ways["name"].tolist()]
    highways = ways["highway"].astype(str).tolist()
    kinds = [classify_kind(h, nm) for h, nm in zip(highways, names, strict=True)]
    keys = [
        f"name:{k}:{nm}" if nm else f"way:{w}"
        for k, nm, w in zip(kinds, names, way_ids.tolist(), strict=True)
    ]
    uid = pd.Series(
        [
            f"w{w}:{a}-{b}"
            for w, a, b in zip(
                way_ids[seg_way].tolist(), from_node.tolist(), to_node.tolist(), strict=True
            )
        ]
    )
    dup = uid.groupby(uid).cumcount()
    uid = uid.where(dup == 0, uid + "#" + (dup + 1).astype(str))

    def per_seg(values: list) -> pd.Series:  # object dtype keeps None for a missing name
        return pd.Series(np.asarray(values, dtype=object)[seg_way], dtype=object)

    df = pd.DataFrame(
        {
            "uid": pd.Series(uid.tolist(), dtype=object),
            "osm_way_id": way_ids[seg_way],
            "street_key": per_seg(keys),
            "name": per_seg(names),
            "highway": per_seg(highways),
            "kind": per_seg(kinds),
            "from_node": from_node.astype(np.int64),
            "to_node": to_node.astype(np.int64),
            "length_m": length.astype(np.float64),
        }
    )
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
