"""The walkable network as the map matcher needs it: metric geometry, a node graph, a spatial
index over straight sub-segments and a table of bounded shortest paths.

Built once per network and reused for every track (matching thousands of patrol tracks a day
must not rebuild indexes). The shortest-path table follows FMM's UBODT idea (Yang & Gidófalvi
2018): all node pairs closer than ``delta`` along the network are precomputed with scipy's
bounded Dijkstra and stored as sorted int64 keys, so the matcher looks up millions of route
distances with one vectorised ``searchsorted`` instead of running Dijkstra per transition.
Longer transitions (sparse fixes) fall back to a bounded Dijkstra per track piece.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from geo.crs import WGS84, metric_crs_for_points
from geo.errors import InputError
from geo.tracks.dead_ends import dead_end_nodes


@dataclass
class RouteRows:
    """Bounded Dijkstra rows computed on demand for sources missing from the table."""

    row_of: dict[int, int]
    dist: np.ndarray  # (rows, n_local + 1): last column is +inf for nodes outside
    pred: np.ndarray  # (rows, n_local), full node ids, -9999 where none
    local: np.ndarray  # full node id -> local column (-1: outside the subgraph)
    nodes: np.ndarray  # local column -> full node id

    def lookup(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        r = np.fromiter((self.row_of[int(s)] for s in src), dtype=np.int64, count=len(src))
        return self.dist[r, self.local[dst]]


def _plain(value: Any) -> str:
    """An id as the user wrote it: ``1`` or ``'a1'``, not ``np.int64(1)`` (numpy 2 reprs)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_lonlat(xy: np.ndarray) -> None:
    """Refuse WGS-84 coordinates that are not longitude/latitude: a GeoJSON without a "crs"
    member is WGS 84 (RFC 7946), but files in projected metres often lack one, and their
    numbers would otherwise reach the index as inf."""
    bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        x, y = xy[int(np.argmax(bad))]
        raise InputError(
            f'路网坐标不是经纬度（如 x={x:.10g}, y={y:.10g}）：请在文件里加 "crs" 成员注明坐标系'
            "（如 EPSG:32650），或转为 WGS 84 "
            f"network coordinates are not longitude/latitude (e.g. x={x:.10g}, y={y:.10g}): "
            'add a "crs" member naming their CRS (e.g. EPSG:32650) or reproject to WGS 84'
        )


# segment ends this close that did not become one node are reported (WalkNetwork.near_misses)
NEAR_MISS_M = 3.0


class WalkNetwork:
    """Edges (segments) of a walkable network, ready for map matching.

    Internal edges are numbered 0..n-1 in input order; ``edge_ids`` holds the caller's ids.
    """

    def __init__(self) -> None:  # use from_segments
        self.crs: str = ""
        self.edge_ids: np.ndarray = np.empty(0)
        self.geoms_wgs84: np.ndarray = np.empty(0, dtype=object)
        self.u = self.v = np.empty(0, dtype=np.int64)
        self.length = np.empty(0)
        self.n_nodes = 0
        self.node_xy = np.empty((0, 2))
        self.ubodt_delta_m = 0.0
        self.oneway = np.empty(0, dtype=bool)
        self.dense_max_nodes = 4096
        self.ub_dense = None
        self.cost_factor = np.empty(0)
        self.snap_m = 0.5  # endpoints closer than this are one node (from_segments)
        self.near_misses = 0  # nodes with another within NEAR_MISS_M they were not joined to
        self._dead_ends: tuple[np.ndarray, np.ndarray] | None = None
        self._twins: Any = None  # geo.tracks.twins.twins, computed on first use

    # ------------------------------------------------------------------ building
    @classmethod
    def from_segments(
        cls,
        segments: gpd.GeoDataFrame,
        edge_id_col: str = "edge_id",
        snap_m: float = 0.5,
        ubodt_delta_m: float = 400.0,
        oneway_col: str | None = None,
        cost_factor_col: str | None = None,
    ) -> WalkNetwork:
        """Build from LineString segments (split at intersections) with a unique id column.

        ``oneway_col`` (optional, bool) marks edges passable only in their drawn direction
        (vehicles; walkers ignore one-way rules, so patrol matching leaves it unset).
        ``cost_factor_col`` (optional, ≥ 1) multiplies an edge's length in route costs, so
        routes prefer main roads (vehicles); patrol matching leaves it unset.
        Endpoints closer than ``snap_m`` become one node. ``ubodt_delta_m`` bounds the
        precomputed shortest-path table (0 disables it; everything then goes through the
        per-piece fallback, which suits large networks matched with few tracks).
        """
        if len(segments) == 0:  # first: an empty file has no columns either
            raise InputError("路网没有路段 network has no segments")
        if edge_id_col not in segments.columns:
            raise InputError(f"路网缺少 '{edge_id_col}' 列 network has no '{edge_id_col}' column")
        ids = segments[edge_id_col]
        if ids.isna().any():
            raise InputError(
                f"路网有路段缺少 '{edge_id_col}' 值 network has segments without '{edge_id_col}'"
            )
        if ids.duplicated().any():
            dup = ids[ids.duplicated()].iloc[0]
            raise InputError(
                f"路网的 '{edge_id_col}' 有重复值（如 {_plain(dup)}），须唯一 "
                f"network '{edge_id_col}' is not unique (e.g. {_plain(dup)})"
            )
        gs = segments.geometry
        if gs.crs is not None and gs.crs.to_epsg() != 4326:
            gs = gs.to_crs(WGS84)
        geoms = np.asarray(gs.values, dtype=object)
        if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
            raise InputError("有路段没有几何 network has segments without geometry")
        _check_lonlat(shapely.get_coordinates(geoms))
        types = shapely.get_type_id(geoms)
        multi = types == 5
        if multi.any():
            geoms = geoms.copy()
            geoms[multi] = shapely.line_merge(geoms[multi])
            types = shapely.get_type_id(geoms)
        if (types != 1).any():
            bad = ids.iloc[int(np.argmax(types != 1))]
            raise InputError(
                f"路段 {_plain(bad)} 不是单条线（LineString） "
                f"network segment {_plain(bad)} is not a single LineString"
            )
        net = cls()
        net.edge_ids = ids.to_numpy()
        net.geoms_wgs84 = geoms
        coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
        net.crs = metric_crs_for_points(coords)
        net._to_metric = Transformer.from_crs(WGS84, net.crs, always_xy=True)
        net._to_wgs84 = Transformer.from_crs(net.crs, WGS84, always_xy=True)
        x, y = net._to_metric.transform(coords[:, 0], coords[:, 1])
        xy = np.column_stack([x, y])
        net.geoms_m = shapely.linestrings(xy, indices=line_idx)
        if oneway_col is not None:
            if oneway_col not in segments.columns:
                raise InputError(f"路网缺少 '{oneway_col}' 列 network has no '{oneway_col}' column")
            net.oneway = segments[oneway_col].fillna(False).astype(bool).to_numpy()
        else:
            net.oneway = np.zeros(len(geoms), dtype=bool)
        net.cost_factor = np.ones(len(geoms))
        if cost_factor_col is not None:
            f = segments[cost_factor_col].astype(float).fillna(1.0).to_numpy()
            if (f <= 0).any() or not np.isfinite(f).all():
                raise InputError(
                    f"'{cost_factor_col}' 列的值须为正数 "
                    f"'{cost_factor_col}' must be positive numbers"
                )
            net.cost_factor = f
        net._build(xy, line_idx, len(geoms), snap_m)
        net.build_ubodt(ubodt_delta_m)
        return net

    def dead_end_flags(self) -> tuple[np.ndarray, np.ndarray]:
        """Per edge: whether its u end, and its v end, is a dead end (no other edge there).
        Computed once per network (matching asks per track)."""
        if self._dead_ends is None:
            dead = dead_end_nodes(self.u, self.v, self.n_nodes)
            self._dead_ends = (dead[self.u], dead[self.v])
        return self._dead_ends

    def t_junctions(self) -> int:
        """Nodes lying on another segment's middle (within NEAR_MISS_M of it, and of neither
        of its ends): a network of whole ways not split at junctions. A route cannot turn
        there, so a walk through one loses what it walked (an outside tester: 7–25 % of the
        metres of a walk on raw OSM ways); the file-mode command warns. Computed when asked,
        not when the network is built (the matcher never needs it)."""
        r = NEAR_MISS_M
        xy = self.node_xy
        node, seg = self.tree.query(shapely.box(*(xy - r).T, *(xy + r).T))
        if not len(node):
            return 0
        a = np.column_stack([self.seg_x0[seg], self.seg_y0[seg]])
        d = np.column_stack([self.seg_dx[seg], self.seg_dy[seg]])
        t = np.clip(((xy[node] - a) * d).sum(1) / self.seg_len2[seg], 0, 1)
        dist = np.hypot(*(a + t[:, None] * d - xy[node]).T)
        edge = self.seg_edge[seg]
        on = (dist <= r) & (node != self.u[edge]) & (node != self.v[edge])
        return int(len(np.unique(node[on])))

    def _build(self, xy: np.ndarray, line_idx: np.ndarray, n_edges: int, snap_m: float) -> None:
        starts = np.searchsorted(line_idx, np.arange(n_edges), side="left")
        ends = np.searchsorted(line_idx, np.arange(n_edges), side="right") - 1
        if (ends <= starts).any():
            raise InputError("有路段少于 2 个点 network has a segment with fewer than 2 points")
        # sub-segments: consecutive vertices of the same line
        same = line_idx[:-1] == line_idx[1:]
        i0 = np.flatnonzero(same)
        p0, p1 = xy[i0], xy[i0 + 1]
        seglen = np.hypot(*(p1 - p0).T)
        sedge = line_idx[i0]
        cum = np.cumsum(seglen)
        edge_start_cum = np.zeros(n_edges)
        first_seg = np.searchsorted(sedge, np.arange(n_edges), side="left")
        before = np.concatenate([[0.0], cum])[first_seg]
        edge_start_cum[:] = before
        self.seg_x0, self.seg_y0 = p0[:, 0].copy(), p0[:, 1].copy()
        self.seg_dx, self.seg_dy = (p1 - p0)[:, 0].copy(), (p1 - p0)[:, 1].copy()
        self.seg_len2 = np.maximum(seglen**2, 1e-12)
        self.seg_edge = sedge
        self.seg_off = cum - seglen - edge_start_cum[sedge]
        self.length = np.bincount(sedge, weights=seglen, minlength=n_edges)
        self.tree = shapely.STRtree(
            shapely.box(
                np.minimum(p0[:, 0], p1[:, 0]),
                np.minimum(p0[:, 1], p1[:, 1]),
                np.maximum(p0[:, 0], p1[:, 0]),
                np.maximum(p0[:, 1], p1[:, 1]),
            )
        )
        # nodes: snap endpoints within snap_m (union of close pairs)
        self.snap_m = snap_m
        ends_xy = np.vstack([xy[starts], xy[ends]])
        kd = cKDTree(ends_xy)
        pairs = kd.query_pairs(max(snap_m, 1e-9), output_type="ndarray")
        m = len(ends_xy)
        adj = coo_matrix(
            (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1]) if len(pairs) else ([], [])),
            shape=(m, m),
        )
        _, label = connected_components(adj, directed=False)
        self.n_nodes = int(label.max()) + 1
        # ends a little farther apart than snap_m stay apart: the network is cut there, which
        # costs recall silently (an outside tester: ±1 m off, 0.86 instead of 1.00), so say it
        near = kd.query_pairs(NEAR_MISS_M, output_type="ndarray")
        apart = label[near[:, 0]] != label[near[:, 1]] if len(near) else np.zeros(0, bool)
        self.near_misses = int(len(np.unique(label[near[apart]].ravel()))) if apart.any() else 0
        self.u = label[:n_edges].astype(np.int64)
        self.v = label[n_edges:].astype(np.int64)
        node_xy = np.zeros((self.n_nodes, 2))
        np.add.at(node_xy, label, ends_xy)
        node_xy /= np.bincount(label, minlength=self.n_nodes)[:, None]
        self.node_xy = node_xy
        self._node_x_order = np.argsort(node_xy[:, 0], kind="stable")
        self._node_x_sorted = node_xy[self._node_x_order, 0]
        # graph: shortest edge for each directed node pair (both ways unless one-way)
        ok = self.u != self.v
        eidx = np.flatnonzero(ok)
        two = eidx[~self.oneway[eidx]]
        src = np.concatenate([self.u[eidx], self.v[two]])
        dst = np.concatenate([self.v[eidx], self.u[two]])
        e_all = np.concatenate([eidx, two])
        w = self.length[e_all] * self.cost_factor[e_all]
        order = np.lexsort((w, dst, src))
        src, dst, w, e_all = src[order], dst[order], w[order], e_all[order]
        first = np.ones(len(src), dtype=bool)
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        src, dst, w, e_all = src[first], dst[first], np.maximum(w[first], 1e-6), e_all[first]
        self.pair_edge: dict[tuple[int, int], int] = dict(
            zip(zip(src.tolist(), dst.tolist(), strict=True), e_all.tolist(), strict=True)
        )
        n = self.n_nodes
        self.graph = csr_matrix((w, (src, dst)), shape=(n, n))

    def build_ubodt(self, delta_m: float, batch_cells: int = 4_000_000) -> None:
        """Precompute all node pairs within ``delta_m`` along the network (sorted keys)."""
        self.ubodt_delta_m = float(delta_m)
        n = self.n_nodes
        keys, dists, preds = [], [], []
        if delta_m > 0:
            batch = max(1, batch_cells // max(n, 1))
            for s0 in range(0, n, batch):
                src = np.arange(s0, min(n, s0 + batch))
                d, p = dijkstra(
                    self.graph, directed=True, indices=src, limit=delta_m, return_predecessors=True
                )
                r, c = np.nonzero(np.isfinite(d))
                keys.append(src[r].astype(np.int64) * n + c)
                dists.append(d[r, c])
                preds.append(p[r, c].astype(np.int32))
        if keys:
            self.ub_keys = np.concatenate(keys)
            self.ub_dist = np.concatenate(dists)
            self.ub_pred = np.concatenate(preds)
        else:
            self.ub_keys = np.empty(0, np.int64)
            self.ub_dist = np.empty(0)
            self.ub_pred = np.empty(0, np.int32)
        # Small networks (a district's alleys) also get the table as a dense matrix: a direct
        # index is ~10× faster than a binary search over the sorted keys.
        self.ub_dense: np.ndarray | None = None
        if 0 < n <= self.dense_max_nodes and delta_m > 0:
            dense = np.full((n, n), np.inf, dtype=np.float32)
            dense[self.ub_keys // n, self.ub_keys % n] = self.ub_dist
            np.fill_diagonal(dense, 0.0)
            self.ub_dense = dense
        # (a larger network keeps the sorted keys: an ``else`` here once emptied them, and
        # every network over dense_max_nodes lost its table: short routes read as beyond
        # the table's 400 m, a perfect walk 0.61 recall on 12,631 edges; T54 #1)

    # ------------------------------------------------------------------ queries
    def to_metric(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = self._to_metric.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.column_stack([x, y])

    def to_wgs84(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._to_wgs84.transform(xy[:, 0], xy[:, 1])
        return np.asarray(lon), np.asarray(lat)

    def nearest_distance(self, xy: np.ndarray, radius: float, near_m: float = 30.0) -> np.ndarray:
        """Distance (m) from each point to its nearest edge within ``radius`` (inf: none).

        Searched within ``near_m`` first, then within ``radius`` only for the points with no
        edge that near: the same distances as one search at ``radius``, and a box a quarter the
        area holds a quarter of the segments to project on (most of the cost).
        """
        d = self.candidates(xy, min(near_m, radius), 1)[2][:, 0]
        far = ~np.isfinite(d)
        if far.any() and near_m < radius:
            d[far] = self.candidates(xy[far], radius, 1)[2][:, 0]
        return d

    def candidates(
        self, xy: np.ndarray, radius: float, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` nearest edges within ``radius`` of each point, padded with -1.

        Returns (edge (n,k) int, offset along the edge (n,k), distance (n,k)). The STRtree only
        prefilters by bounding box; the exact point-to-segment projection is numpy arithmetic,
        which is much cheaper than a GEOS call per pair.
        """
        n = len(xy)
        edge = np.full((n, k), -1, dtype=np.int64)
        off = np.zeros((n, k))
        dist = np.full((n, k), np.inf)
        if n == 0:
            return edge, off, dist
        boxes = shapely.box(
            xy[:, 0] - radius, xy[:, 1] - radius, xy[:, 0] + radius, xy[:, 1] + radius
        )
        pi, si = self.tree.query(boxes)
        if len(pi) == 0:
            return edge, off, dist
        px, py = xy[pi, 0], xy[pi, 1]
        dx, dy = self.seg_dx[si], self.seg_dy[si]
        t = np.clip(
            ((px - self.seg_x0[si]) * dx + (py - self.seg_y0[si]) * dy) / self.seg_len2[si], 0, 1
        )
        qx, qy = self.seg_x0[si] + t * dx, self.seg_y0[si] + t * dy
        d = np.hypot(px - qx, py - qy)
        keep = d <= radius
        pi, si, t, d = pi[keep], si[keep], t[keep], d[keep]
        e = self.seg_edge[si]
        o = self.seg_off[si] + t * np.sqrt(self.seg_len2[si])
        # best sub-segment per (point, edge), then k best edges per point
        order = np.lexsort((d, e, pi))
        pi, e, o, d = pi[order], e[order], o[order], d[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = (pi[1:] != pi[:-1]) | (e[1:] != e[:-1])
        pi, e, o, d = pi[first], e[first], o[first], d[first]
        order = np.lexsort((d, pi))
        pi, e, o, d = pi[order], e[order], o[order], d[order]
        start = np.searchsorted(pi, pi, side="left")
        rank = np.arange(len(pi)) - start
        sel = rank < k
        edge[pi[sel], rank[sel]] = e[sel]
        off[pi[sel], rank[sel]] = np.minimum(o[sel], self.length[e[sel]])
        dist[pi[sel], rank[sel]] = d[sel]
        return edge, off, dist

    def ubodt_lookup(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Route distance node→node from the table; (dist, found). Same node: 0."""
        if self.ub_dense is not None:
            d = self.ub_dense[src, dst].astype(np.float64)
            return d, np.isfinite(d)
        key = src.astype(np.int64) * self.n_nodes + dst
        pos = np.searchsorted(self.ub_keys, key)
        pos = np.minimum(pos, max(len(self.ub_keys) - 1, 0))
        found = self.ub_keys[pos] == key if len(self.ub_keys) else np.zeros(len(key), bool)
        d = np.where(found, self.ub_dist[pos] if len(self.ub_keys) else np.inf, np.inf)
        same = src == dst
        d[same] = 0.0
        return d, found | same

    def bounded_rows(self, sources: np.ndarray, limit: float) -> RouteRows:
        """Bounded Dijkstra rows for ``sources`` (one batch per track piece).

        Runs on the subgraph of nodes within ``limit`` (straight line) of the sources' bounding
        box: a route within the limit cannot leave it, and a city-size graph would otherwise make
        every row cost O(all nodes).
        """
        src = np.unique(np.asarray(sources, dtype=np.int64))
        lo = self.node_xy[src].min(axis=0) - limit
        hi = self.node_xy[src].max(axis=0) + limit
        # nodes in the box: a binary search on x-sorted nodes, then a y filter on that slice
        i0, i1 = np.searchsorted(self._node_x_sorted, [lo[0], hi[0]])
        cand = self._node_x_order[i0:i1]
        y = self.node_xy[cand, 1]
        nodes = np.sort(cand[(y >= lo[1]) & (y <= hi[1])])
        local = np.full(self.n_nodes, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sub = self.graph[nodes][:, nodes]
        d, p = dijkstra(
            sub, directed=True, indices=local[src], limit=limit, return_predecessors=True
        )
        # back to full node numbering; one extra column (index -1) holds "outside" = inf
        d = np.hstack([d, np.full((len(src), 1), np.inf)])
        pred = np.where(p >= 0, nodes[np.maximum(p, 0)], -9999)
        return RouteRows({int(s): i for i, s in enumerate(src)}, d, pred, local, nodes)

    def path_nodes(self, s: int, t: int, rows: RouteRows | None) -> list[int]:
        """Nodes of the shortest path s→t (inclusive), from the table or the fallback rows."""
        if s == t:
            return [s]
        n = self.n_nodes
        out = [t]
        key = s * n + t
        pos = int(np.searchsorted(self.ub_keys, key)) if len(self.ub_keys) else 0
        if len(self.ub_keys) and pos < len(self.ub_keys) and self.ub_keys[pos] == key:
            cur = t
            while cur != s:
                k2 = s * n + cur
                cur = int(self.ub_pred[int(np.searchsorted(self.ub_keys, k2))])
                out.append(cur)
            return out[::-1]
        if rows is None or s not in rows.row_of:
            return [s, t]
        pr = rows.pred[rows.row_of[s]]
        cur = t
        while cur != s:
            loc = int(rows.local[cur])
            cur = int(pr[loc]) if loc >= 0 else -1
            if cur < 0:
                return [s, t]
            out.append(cur)
        return out[::-1]

    def edge_between(self, a: int, b: int) -> int:
        """The (shortest) edge that leads from node a to node b."""
        return self.pair_edge[(a, b)]

    def summary(self) -> dict[str, Any]:
        return {
            "edges": len(self.length),
            "nodes": self.n_nodes,
            "km": float(self.length.sum() / 1000),
            "ubodt_entries": int(len(self.ub_keys)),
            "crs": self.crs,
        }


_CACHE: OrderedDict[str, WalkNetwork] = OrderedDict()


def cached_network(key: str, build: Callable[[], WalkNetwork], size: int = 4) -> WalkNetwork:
    """The network for ``key`` (e.g. "<district>:<network version>"), built once per process.

    Building the index and route table takes about a second for a district; matching a
    patrol takes milliseconds, so the service must not rebuild per upload. Least recently used
    networks beyond ``size`` are dropped.
    """
    net = _CACHE.get(key)
    if net is None:
        net = build()
        _CACHE[key] = net
        while len(_CACHE) > size:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return net
