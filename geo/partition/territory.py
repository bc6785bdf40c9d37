"""The territory rule of several communities partitioned together (file mode, an area file of
several features), in shapely: the database's rule, ported.

* Which community a building belongs to: :func:`building_communities`, the rule of
  :mod:`geo.building_links` (``_LINK_SQL``): whole to the community whose outline covers
  most of its footprint (one covering it whole: the lowest such code; shares within
  :data:`TIE` of each other: the lower code); a building overlapping no community (touching a
  line is not overlapping) is in none.
* Each community's working outline: :func:`working_outlines`, the outline of
  :data:`geo.plans.OUTLINE_GEOM`: its outline less the overlap with lower codes whose
  interiors meet it, widened by its own buildings and narrowed by its neighbours' buildings
  that touch it. The outlines then tile wherever the communities' outlines tile or overlap,
  and no building is in two.

WHY (T64 #3): file mode run once per community took a building straddling two communities
whole in both runs (42 buildings, households 23,943 instead of 19,783), or, with buildings
chosen by majority footprint, drew both communities' grids over it (30,259 m² of overlap).

Everything is in EPSG:4326, as the database computes it: areas in degrees² are compared only
between the communities of one building, where the degree-to-metre factor is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

# Shares within this of each other (of the building's footprint) are a tie: the lower code.
# The database's value (geo.building_links._TIE): a building split exactly in half gives areas
# differing in the last bits.
TIE = 1e-9

# shapely type ids of (multi)polygons
_POLYGONAL = [3, 6]


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``g`` made valid (ST_CollectionExtract(ST_MakeValid(g), 3))."""
    g = shapely.make_valid(g)
    if shapely.get_type_id(g) in _POLYGONAL:
        return g
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def building_communities(
    areas: Sequence[shapely.Geometry], codes: Sequence[str], buildings: np.ndarray
) -> np.ndarray:
    """Position (in ``areas``) of the community each building belongs to, -1 for none.

    ``buildings``: valid (multi)polygons, EPSG:4326 as ``areas``. The database's rule
    (:mod:`geo.building_links`): a community covering the footprint whole takes it (the
    lowest code when several do); else the one overlapping most of it, ties (:data:`TIE`) to
    the lower code; none when none overlaps it."""
    geoms = np.asarray(buildings, dtype=object)
    owner = np.full(len(geoms), -1, dtype=np.int64)
    if not len(geoms) or not len(areas):
        return owner
    outline = np.asarray(list(areas), dtype=object)
    rank = np.argsort(np.argsort(np.asarray(codes, dtype=str), kind="stable"), kind="stable")
    b, a = shapely.STRtree(outline).query(geoms, predicate="intersects")
    if not len(b):
        return owner
    whole = shapely.covers(outline[a], geoms[b])
    # covering: lowest code first, then the first pair per building
    order = np.lexsort((rank[a], ~whole, b))
    b, a, whole = b[order], a[order], whole[order]
    first = np.r_[True, b[1:] != b[:-1]]
    cover = first & whole
    owner[b[cover]] = a[cover]
    rest = ~np.isin(b, b[cover])
    b, a = b[rest], a[rest]
    if not len(b):
        return owner
    share = shapely.area(shapely.intersection(outline[a], geoms[b])) / shapely.area(geoms[b])
    real = share > 0
    b, a, share = b[real], a[real], share[real]
    bucket = np.round(share / TIE)
    order = np.lexsort((rank[a], -bucket, b))
    b, a = b[order], a[order]
    first = np.r_[True, b[1:] != b[:-1]] if len(b) else np.zeros(0, dtype=bool)
    owner[b[first]] = a[first]
    return owner


def working_outlines(
    areas: Sequence[shapely.Geometry],
    codes: Sequence[str],
    buildings: np.ndarray,
    owner: np.ndarray,
) -> list[shapely.Geometry]:
    """Each community's working outline (:data:`geo.plans.OUTLINE_GEOM`): its outline less
    the part of lower codes whose interiors meet it (ST_Relate 'T********': one merely
    sharing a line is left alone), plus its own buildings whole, less the buildings of others
    that intersect its outline. ``owner``: :func:`building_communities`."""
    outline = np.asarray(list(areas), dtype=object)
    geoms = np.asarray(buildings, dtype=object)
    tree = shapely.STRtree(outline)
    btree = shapely.STRtree(geoms) if len(geoms) else None
    out: list[shapely.Geometry] = []
    for k, a in enumerate(outline.tolist()):
        near = tree.query(a, predicate="intersects")
        lower = [
            outline[n]
            for n in near.tolist()
            if codes[n] < codes[k] and shapely.relate_pattern(outline[n], a, "T********")
        ]
        base = shapely.difference(a, shapely.union_all(lower)) if lower else a
        mine = geoms[owner == k]
        if len(mine):
            base = shapely.union_all([base, *mine])
        if btree is not None:
            hit = btree.query(a, predicate="intersects")
            others = hit[owner[hit] != k]
            if len(others):
                base = shapely.difference(base, shapely.union_all(geoms[others]))
        out.append(_polygonal(base))
    return out
