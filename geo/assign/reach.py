"""Who can reach which item on foot: the distance table every assignment starts from."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.assign.inputs import show_ids
from geo.assign.people import swap_note
from geo.assign.walk import (
    build_walk_graph,
    item_nodes,
    join_unreached,
    snap_homes,
    walk_distances,
)
from geo.crs import WGS84, metric_crs_for_bounds
from geo.errors import InputError

# A connector across a gap in the network data costs this many times its straight length: the
# way across (a bridge's unmapped end, stairs) is unknown, so it is priced as a detour.
GAP_FACTOR = 2.0


@dataclass
class Reach:
    """Items measured in metres and the sparse home → item walking distances."""

    crs: str
    item_length_m: np.ndarray
    item_xy: np.ndarray  # item centroids (metres)
    home_xy: np.ndarray  # homes (metres)
    home_offset_m: np.ndarray  # straight walk from home to the network
    person: np.ndarray  # sparse triples
    item: np.ndarray
    metres: np.ndarray
    # items reached only across a gap in the network data (walk.join_unreached)
    across_gap: np.ndarray | None = None
    # people whose homes lie too far from any walkable line: given nothing (compute_reach)
    outside: np.ndarray | None = None

    def pairs_for(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (item, person, metres) within range for the given items."""
        m = np.isin(self.item, items)
        return self.item[m], self.person[m], self.metres[m]

    def lookup(self, items: np.ndarray, persons: np.ndarray) -> np.ndarray:
        """Walking metres for (item, person) pairs; NaN where beyond the search limit."""
        n_items = len(self.item_length_m)
        keys = self.person.astype(np.int64) * n_items + self.item
        order = np.argsort(keys)
        want = np.asarray(persons, dtype=np.int64) * n_items + np.asarray(items, dtype=np.int64)
        pos = np.searchsorted(keys[order], want)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        out = np.full(len(want), np.nan)
        if len(keys):
            hit = keys[order][pos] == want
            out[hit] = self.metres[order][pos[hit]]
        return out


def compute_reach(
    items: gpd.GeoDataFrame,
    people: pd.DataFrame,
    network: gpd.GeoDataFrame | None,
    limit_m: float,
    max_home_offset_m: float,
    what: str,
    max_gap_m: float = 0.0,
    gap_factor: float = GAP_FACTOR,
) -> Reach:
    """Project to the local UTM zone, build the walking graph, measure home → item walks.

    ``items`` and ``network`` are EPSG:4326; when ``network`` is None the items themselves form
    the network. People who live farther than ``max_home_offset_m`` from any walkable line
    (outside the area: a wrong home, or someone of another district in the registry) are
    left out, marked in ``outside`` (WHY: one such row used to stop the whole run); an
    InputError only when that is everyone. ``max_gap_m`` > 0 joins pieces of network where
    nobody lives to their nearest piece across gaps up to that (:func:`join_unreached`).
    """
    bounds = items.total_bounds
    crs = metric_crs_for_bounds(bounds)
    tr = Transformer.from_crs(WGS84, crs, always_xy=True)
    items_m = items.geometry.to_crs(crs).values
    if network is not None:
        if len(network) == 0:
            raise InputError(
                "步行路网为空，请检查路网文件（--network） the walking network is empty"
            )
        net = network if network.crs is not None else network.set_crs(WGS84)
        lines = net.geometry.to_crs(crs).values
        kinds = shapely.get_type_id(lines)
        lines = lines[np.isin(kinds, [1, 5])]
        # Items are walkable too, even where the network file misses one.
        lines = np.concatenate([np.asarray(lines, dtype=object), np.asarray(items_m, dtype=object)])
    else:
        lines = np.asarray(items_m, dtype=object)
    wg = build_walk_graph(lines, crs, attach=shapely.get_coordinates(items_m))
    flat, offsets = item_nodes(wg, items_m)
    hx, hy = tr.transform(people["lon"].to_numpy(float), people["lat"].to_numpy(float))
    home_xy = np.column_stack([hx, hy])
    old_component = wg.component
    useful = np.flatnonzero(np.isin(wg.component, np.unique(wg.component[flat])))
    entry_nodes, entry_m, home_off = snap_homes(wg, home_xy, useful)
    far = home_off > max_home_offset_m
    if len(far) and far.all():
        ids = people.loc[far, "person_id"].astype(str).tolist()
        n, off, shown = int(far.sum()), f"{max_home_offset_m:.0f}", show_ids(ids)
        turned = _swapped_inside(people, items.total_bounds, max_home_offset_m)
        swap_zh, swap = (
            swap_note(turned, "对调后即在这些街巷附近", "swapped, they lie near these lines")
            if turned
            else ("", "")
        )
        raise InputError(
            (f"{swap_zh}；" if turned else "")
            + f"全部 {n} 人都住在区域外（离任何可步行的线都超过 {off} 米：{shown}），请检查其住址"
            "经纬度（WGS 84）和坐标系（--crs） "
            f"all {n} people live outside the area (more than "
            f"{off} m from any walkable line): {shown}" + (f"; {swap}" if turned else "")
        )
    # nobody lives where the far homes snapped: they neither join pieces nor get walks
    wg, joined = join_unreached(wg, entry_nodes[~far].ravel(), flat, max_gap_m, gap_factor)
    p, i, d = walk_distances(wg, entry_nodes, entry_m, flat, offsets, limit_m)
    near = ~far[p]
    p, i, d = p[near], i[near], d[near]
    first = np.minimum(offsets[:-1], max(len(flat) - 1, 0))
    across = np.isin(old_component[flat[first]], joined) & (np.diff(offsets) > 0)
    cent = shapely.centroid(items_m)
    return Reach(
        crs=crs,
        item_length_m=shapely.length(items_m),
        item_xy=shapely.get_coordinates(cent),
        home_xy=home_xy,
        home_offset_m=home_off,
        person=p,
        item=i,
        metres=d,
        across_gap=across,
        outside=far,
    )


def _swapped_inside(people: pd.DataFrame, bounds: np.ndarray, margin_m: float) -> list[str]:
    """The people whose home, longitude and latitude swapped, lies within the items' bounds
    (``bounds``: WGS 84, grown by ``margin_m``): their numbers are in the wrong columns
    (outside tester T36, #10), not homes elsewhere."""
    pad = margin_m / 111_000 + 0.01  # degrees, generously
    x = people["lat"].to_numpy(float)  # swapped: the latitude column read as longitude
    y = people["lon"].to_numpy(float)
    inside = (
        (x >= bounds[0] - pad)
        & (x <= bounds[2] + pad)
        & (y >= bounds[1] - pad)
        & (y <= bounds[3] + pad)
    )
    return people.loc[inside, "person_id"].astype(str).tolist()


def nearest_candidates(
    reach: Reach, n_items: int, n_people: int, per_item: int, per_person: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``per_item`` nearest people of each item, plus the ``per_person`` nearest items of
    each person (so nobody is left without options)."""
    p, i, d = reach.person, reach.item, reach.metres
    if len(p) == 0:
        return p, i, d
    order = np.lexsort((d, i))
    rank = _rank_in_group(i[order])
    keep = np.zeros(len(p), dtype=bool)
    keep[order[rank < per_item]] = True
    order = np.lexsort((d, p))
    rank = _rank_in_group(p[order])
    keep[order[rank < per_person]] = True
    return i[keep], p[keep], d[keep]


def _rank_in_group(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2… within runs of equal values of a sorted array."""
    n = len(sorted_groups)
    starts = np.ones(n, dtype=bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_pos


def pair_frame(
    reach: Reach, pairs: list[tuple[int, int]], item_ids: list, person_ids: list, id_col: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Solved (item index, person index) pairs as ``id_col, person_id, walk_m`` rows (sorted),
    the item index of every pair (to count holders per item) and the unrounded walks."""
    pi = np.array([i for i, _ in pairs], dtype=np.int64)
    pp = np.array([p for _, p in pairs], dtype=np.int64)
    walk = reach.lookup(pi, pp) if len(pi) else np.zeros(0)
    out = pd.DataFrame(
        {
            id_col: [item_ids[i] for i in pi],
            "person_id": [person_ids[p] for p in pp],
            "walk_m": np.round(walk, 1),
        }
    ).sort_values([id_col, "person_id"], kind="stable", ignore_index=True)
    return out, pi, walk


def reach_notes(reach: Reach, held: np.ndarray, item_ids: list, person_ids: list) -> dict:
    """What the planner should know about reach, for a solver's summary (always all three,
    empty when there is nothing to say): the items staffed only across a gap in the network
    data (``across_gaps``: check there is a way), the items nobody can walk to within the
    limit (``unreachable``: why they stay uncovered), and the people left out because they
    live too far from any walkable line (``outside_area``: check their homes)."""
    outside = reach.outside if reach.outside is not None else np.zeros(len(person_ids), bool)
    across = reach.across_gap if reach.across_gap is not None else np.zeros(len(item_ids), bool)
    reached = np.zeros(len(item_ids), dtype=bool)
    reached[reach.item] = True
    return {
        "across_gaps": [item_ids[i] for i in np.flatnonzero(across & (held > 0))],
        "unreachable": [item_ids[i] for i in np.flatnonzero(~reached)],
        "outside_area": [person_ids[p] for p in np.flatnonzero(outside)],
    }
