"""Walking distances along the street network, from people's homes to line items.

Stewards walk streets, not straight lines: an alley across a river or behind a wall is far even
when it looks near. We build one undirected graph from every consecutive vertex pair of the
network lines (OSM ways share nodes at crossings, so no prior splitting is needed), snap homes
and item vertices to graph nodes, and run bounded multi-source Dijkstra
(``scipy.sparse.csgraph.dijkstra`` with ``limit``) in chunks so memory stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geo.errors import InputError

# Node coordinates are merged on this grid (metres): exact-equal OSM nodes coincide after
# projection; 1 cm tolerates float noise without merging distinct nodes.
_MERGE_M = 0.01


@dataclass(frozen=True)
class WalkGraph:
    """An undirected walking graph in a metric CRS (weights in metres)."""

    crs: str
    xy: np.ndarray  # (n_nodes, 2) metres
    graph: sparse.csr_matrix  # symmetric, weights = segment lengths in metres
    tree: cKDTree  # over all nodes
    component: np.ndarray  # connected-component label per node
    edges: np.ndarray  # (n_edges, 2) undirected node pairs, each once

    @property
    def n_nodes(self) -> int:
        return int(self.xy.shape[0])


def _split_at_points(
    xy: np.ndarray, u: np.ndarray, v: np.ndarray, points: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert ``points`` lying on an edge (within ``tol``) as nodes splitting that edge.

    An alley drawn onto the middle of a street (a T-junction without a shared vertex, common in
    hand-made files) would otherwise float unconnected. Crossings of two network lines are
    deliberately not noded: OSM shares nodes at real junctions, and bridges must stay apart.
    """
    known = {tuple(k): i for i, k in enumerate(np.round(xy / _MERGE_M).astype(np.int64))}
    pkeys = np.unique(np.round(points / _MERGE_M).astype(np.int64), axis=0)
    points = pkeys.astype(float) * _MERGE_M
    if len(points) == 0 or len(u) == 0:
        return xy, u, v
    segs = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    pi, si = shapely.STRtree(segs).query(shapely.points(points), predicate="dwithin", distance=tol)
    along = shapely.line_locate_point(segs[si], shapely.points(points[pi]))
    # Only interior points split an edge; an edge's own ends are already joined.
    inner = (along > tol) & (along < shapely.length(segs[si]) - tol)
    pi, si, along = pi[inner], si[inner], along[inner]
    if len(pi) == 0:
        return xy, u, v
    node_of = np.empty(len(points), dtype=np.int64)
    extra = []
    for j, k in enumerate(pkeys):
        got = known.get(tuple(k))
        if got is None:
            got = len(xy) + len(extra)
            extra.append(points[j])
        node_of[j] = got
    if extra:
        xy = np.vstack([xy, np.asarray(extra)])
    drop = np.zeros(len(u), dtype=bool)
    add_u: list[int] = []
    add_v: list[int] = []
    order = np.lexsort((along, si))
    pi, si, along = pi[order], si[order], along[order]
    for s in np.unique(si):
        m = si == s
        chain = [int(u[s])] + [int(node_of[p]) for p in pi[m]] + [int(v[s])]
        add_u.extend(chain[:-1])
        add_v.extend(chain[1:])
        drop[s] = True
    u = np.concatenate([u[~drop], np.asarray(add_u, dtype=u.dtype)])
    v = np.concatenate([v[~drop], np.asarray(add_v, dtype=v.dtype)])
    return xy, u, v


def build_walk_graph(
    lines_metric: np.ndarray, crs: str, attach: np.ndarray | None = None, tol: float = 0.5
) -> WalkGraph:
    """Build the graph from an array of (Multi)LineStrings already in metric ``crs``.

    ``attach``: points (metres) that must become nodes where they lie on an edge (the vertices of
    the items), see :func:`_split_at_points`.
    """
    parts = shapely.get_parts(np.asarray(lines_metric, dtype=object))
    parts = parts[~shapely.is_empty(parts)]
    if len(parts) == 0:
        raise InputError("步行路网中没有线，请检查路网文件 the walking network has no lines")
    coords, part_idx = shapely.get_coordinates(parts, return_index=True)
    keys = np.round(coords / _MERGE_M).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    xy = uniq.astype(float) * _MERGE_M
    same_part = part_idx[1:] == part_idx[:-1]
    u = inverse[:-1][same_part]
    v = inverse[1:][same_part]
    keep = u != v
    u, v = u[keep], v[keep]
    if attach is not None and len(attach):
        xy, u, v = _split_at_points(xy, u, v, np.asarray(attach, dtype=float), tol)
    w = np.hypot(*(xy[u] - xy[v]).T)
    # Both directions, then keep the shortest of parallel edges (coo→csr would sum them).
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    ww = np.concatenate([w, w])
    order = np.lexsort((ww, dst, src))
    src, dst, ww = src[order], dst[order], ww[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    n = len(xy)
    # A zero-weight edge would vanish from a sparse matrix; a micrometre keeps it.
    weights = np.maximum(ww[first], 1e-6)
    graph = sparse.csr_matrix((weights, (src[first], dst[first])), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=False)
    s, d = src[first], dst[first]
    und = np.column_stack([s[s < d], d[s < d]])
    return WalkGraph(crs=crs, xy=xy, graph=graph, tree=cKDTree(xy), component=labels, edges=und)


def item_nodes(wg: WalkGraph, items_metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Snap each item's vertices to graph nodes.

    Returns ``(flat_nodes, offsets)``: item ``i`` touches ``flat_nodes[offsets[i]:offsets[i+1]]``.
    """
    coords, idx = shapely.get_coordinates(np.asarray(items_metric, dtype=object), return_index=True)
    _, nodes = wg.tree.query(coords)
    pairs = np.unique(np.column_stack([idx, nodes]), axis=0)
    n_items = len(items_metric)
    counts = np.bincount(pairs[:, 0], minlength=n_items)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return pairs[:, 1].astype(np.int64), offsets


def snap_homes(
    wg: WalkGraph, home_xy: np.ndarray, useful_nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snap homes onto the nearest edge whose component holds items; enter it at both ends.

    Snapping onto edges, not nodes, matters where edges are long (a 600 m lane with no vertex
    in between). Only useful components count, so a home beside an isolated footpath is not cut
    off from every alley. Returns ``(nodes (n, 2), metres to each node (n, 2), offset_m (n,))``:
    offset = straight walk from home to the edge; metres = offset + along the edge to that end.
    """
    useful = np.zeros(wg.n_nodes, dtype=bool)
    useful[useful_nodes] = True
    keep = useful[wg.edges[:, 0]]
    edges = wg.edges[keep]
    segs = shapely.linestrings(np.stack([wg.xy[edges[:, 0]], wg.xy[edges[:, 1]]], axis=1))
    tree = shapely.STRtree(segs)
    pts = shapely.points(home_xy)
    hit = tree.nearest(pts)
    seg = segs[hit]
    offset = shapely.distance(pts, seg)
    along = shapely.line_locate_point(seg, pts)
    total = shapely.length(seg)
    nodes = edges[hit]
    metres = np.column_stack([offset + along, offset + (total - along)])
    return nodes, metres, offset


def _item_min_reducer(flat: np.ndarray, starts: np.ndarray, counts: np.ndarray, width: int = 8):
    """Return f(dist) → (rows, items): min of ``dist`` over each item's nodes.

    ``np.minimum.reduceat`` over thousands of tiny segments is slow (per-segment overhead), so
    items with at most ``width`` nodes are padded (repeating their last node) and reduced with a
    plain ``min`` over a small trailing axis; only the few longer items use ``reduceat``.
    """
    small = counts <= width
    pad = np.empty((int(small.sum()), width), dtype=np.int64)
    s_starts, s_counts = starts[small], counts[small]
    cols = np.minimum(np.arange(width)[None, :], (s_counts - 1)[:, None])
    pad[:] = flat[s_starts[:, None] + cols]
    big = np.flatnonzero(~small)
    big_flat = (
        np.concatenate([flat[starts[i] : starts[i] + counts[i]] for i in big])
        if len(big)
        else np.zeros(0, dtype=np.int64)
    )
    big_starts = np.concatenate([[0], np.cumsum(counts[big])[:-1]]).astype(np.int64)
    small_ix = np.flatnonzero(small)

    def reduce(dist: np.ndarray) -> np.ndarray:
        out = np.empty((dist.shape[0], len(counts)))
        out[:, small_ix] = dist[:, pad].min(axis=2)
        if len(big):
            out[:, big] = np.minimum.reduceat(dist[:, big_flat], big_starts, axis=1)
        return out

    return reduce


def walk_distances(
    wg: WalkGraph,
    entry_nodes: np.ndarray,
    entry_metres: np.ndarray,
    flat_nodes: np.ndarray,
    offsets: np.ndarray,
    limit_m: float,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network distance from every home to every item within ``limit_m``, as sparse triples.

    Distance = walk from home to an end of its snapped edge (``entry_metres``) + shortest path
    to the nearest node of the item, the better of the two ends. Returns
    ``(person_idx, item_idx, metres)``.
    """
    n_homes = len(entry_nodes)
    home_nodes = entry_nodes.reshape(-1)
    home_offsets = entry_metres.reshape(-1)
    n_items = len(offsets) - 1
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    reduce_min = _item_min_reducer(flat_nodes, offsets[nonempty], np.diff(offsets)[nonempty])
    uniq_nodes, home_to_u = np.unique(home_nodes, return_inverse=True)
    rows_u: list[np.ndarray] = []
    rows_i: list[np.ndarray] = []
    rows_d: list[np.ndarray] = []
    for s in range(0, len(uniq_nodes), chunk):
        src = uniq_nodes[s : s + chunk]
        dist = csgraph.dijkstra(wg.graph, directed=True, indices=src, limit=limit_m)
        per_item = reduce_min(dist)
        r, c = np.nonzero(np.isfinite(per_item))
        rows_u.append(r + s)
        rows_i.append(nonempty[c])
        rows_d.append(per_item[r, c])
    u_idx = np.concatenate(rows_u) if rows_u else np.zeros(0, dtype=np.int64)
    i_idx = np.concatenate(rows_i) if rows_i else np.zeros(0, dtype=np.int64)
    d_val = np.concatenate(rows_d) if rows_d else np.zeros(0)
    # Expand per unique source node to the people living there (rows are already by node).
    counts = np.bincount(u_idx, minlength=len(uniq_nodes))
    first = np.concatenate([[0], np.cumsum(counts)])
    per_person = counts[home_to_u]
    person = np.repeat(np.arange(len(home_nodes)), per_person)
    pos = np.repeat(first[home_to_u], per_person) + (
        np.arange(per_person.sum()) - np.repeat(np.cumsum(per_person) - per_person, per_person)
    )
    item = i_idx[pos]
    metres = d_val[pos] + home_offsets[person]
    person = person // entry_nodes.shape[1]  # two entries per home → the home
    ok = metres <= limit_m
    person, item, metres = person[ok], item[ok], metres[ok]
    # Best of the two entries per (home, item).
    key = person.astype(np.int64) * n_items + item
    order = np.argsort(key)
    key, metres = key[order], metres[order]
    if len(key) == 0:
        return key, key.copy(), metres
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    best = np.minimum.reduceat(metres, first)
    key = key[first]
    assert key.max(initial=-1) < n_items * n_homes
    return key // n_items, key % n_items, best


def join_unreached(
    wg: WalkGraph, home_nodes: np.ndarray, item_nodes: np.ndarray, max_gap_m: float, factor: float
) -> tuple[WalkGraph, np.ndarray]:
    """Join each piece of network that holds items but no home to its nearest other piece;
    returns the graph and the pieces (component labels before joining) a home now reaches.

    WHY: an extract cut from OSM has pieces no walk reaches: paths on an island whose bridge
    ends short of the shore, a footbridge whose stairs are not mapped (the demo city's 莲桥
    island, 50–74 m from the nearest path, and the bridge over 成府路). Unjoined, their alleys
    stay unstaffed for ever, with nothing to tell the planner why. Joined by one straight
    connector of ``factor`` × the gap (the real way across is unknown, so it is priced as a
    detour), up to ``max_gap_m``, they can be staffed, and the caller says which.

    Only pieces with no home are joined, each by one connector, so every piece forms a tree
    hanging off one it joins: a walk between two nodes that were connected before never
    becomes shorter, and pieces where people live are never joined to each other (a river or
    a motorway between them stays uncrossed). Connectors are not in ``edges``: homes are not
    snapped onto them.
    """
    labels = wg.component
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    none = np.zeros(0, dtype=np.int64)
    if max_gap_m <= 0 or n_labels < 2:
        return wg, none
    root = np.arange(n_labels)
    homed = np.zeros(n_labels, dtype=bool)
    homed[labels[home_nodes]] = True
    wanted = np.unique(labels[item_nodes])
    wanted = wanted[~homed[wanted]]
    au: list[int] = []
    av: list[int] = []
    gaps: list[float] = []
    changed = True
    while changed:
        changed = False
        groups = np.unique(root[wanted])
        for g in groups[~homed[groups]]:
            if homed[root[g]] or root[g] != g:  # joined earlier in this round
                continue
            inside = root[labels] == g
            mine = np.flatnonzero(inside)
            lo, hi = wg.xy[mine].min(axis=0) - max_gap_m, wg.xy[mine].max(axis=0) + max_gap_m
            near = np.flatnonzero(~inside & np.all((wg.xy >= lo) & (wg.xy <= hi), axis=1))
            if len(near) == 0:
                continue
            d, k = cKDTree(wg.xy[mine]).query(wg.xy[near], distance_upper_bound=max_gap_m)
            best = int(np.argmin(d))
            if not np.isfinite(d[best]):
                continue
            a, b = int(mine[k[best]]), int(near[best])
            au.append(a)
            av.append(b)
            gaps.append(float(d[best]))
            other = root[labels[b]]
            root[root == g] = other
            changed = True
    if not au:
        return wg, none
    u, v, gap = np.array(au, dtype=np.int64), np.array(av, dtype=np.int64), np.array(gaps)
    w = np.maximum(gap * factor, 1e-6)
    extra = sparse.csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))),
        shape=wg.graph.shape,
    )
    graph = (wg.graph + extra).tocsr()  # no connector doubles an edge: it joins two pieces
    _, comp = csgraph.connected_components(graph, directed=False)
    a_node = np.full(n_labels, -1)
    a_node[labels] = np.arange(len(labels))  # some node of each piece
    joined = wanted[np.isin(comp[a_node[wanted]], comp[home_nodes])]
    out = WalkGraph(crs=wg.crs, xy=wg.xy, graph=graph, tree=wg.tree, component=comp, edges=wg.edges)
    return out, joined
