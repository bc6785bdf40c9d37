"""Plan quality figures: compactness, street-following share, staffing."""

from __future__ import annotations

import math

import numpy as np
import shapely

STREET_TOL_M = 0.5  # a grid edge within this distance of a street centreline is "on" it


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """4πA / P²: 1 for a disc, 0.785 for a square, → 0 for slivers."""
    a = shapely.area(geoms)
    p = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(p > 0, 4.0 * math.pi * a / (p * p), 0.0)
    return pp


def street_shares(
    grids: np.ndarray, area: shapely.Geometry, streets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid: (boundary length on streets, internal boundary length, share).

    Internal boundary = perimeter minus the part on the area's own boundary (that part is
    fixed by the area, not chosen by the plan).
    """
    boundary = shapely.boundary(grids)
    perim = shapely.length(boundary)
    edge = shapely.buffer(area.boundary, STREET_TOL_M)
    shapely.prepare(edge)
    on_edge = shapely.length(shapely.intersection(boundary, edge))
    internal = np.maximum(perim - on_edge, 0.0)
    if streets is None or len(streets) == 0:
        on_street = np.zeros(len(grids))
    else:
        lines = shapely.intersection(streets, area)
        lines = lines[~shapely.is_empty(lines)]
        # Buffer the streets piecewise and index them: one big union would be slow.
        bufs = shapely.buffer(lines, STREET_TOL_M, quad_segs=2)
        zone = shapely.difference(shapely.union_all(bufs), edge)
        shapely.prepare(zone)
        on_street = shapely.length(shapely.intersection(boundary, zone))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(internal > 1e-6, np.minimum(on_street / internal, 1.0), np.nan)
    return on_street, internal, share


def worker_count(households: np.ndarray, ratio: int) -> np.ndarray:
    """Full-time workers of the "1+N" rule: ceil(households / ratio)."""
    return np.ceil(np.asarray(households) / float(ratio)).astype(np.int64)
