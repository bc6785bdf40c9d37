"""A deterministic generated city (streets, blocks, buildings with households).

Used by the tests and the benchmark where real data of the wanted size does not exist: a
street grid with some segments missing (so blocks vary in size), buildings of varied
footprints, floors and uses inside each block. Generated in UTM 50N near Beijing and
returned in EPSG:4326 like real input.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

METRIC = "EPSG:32650"
ORIGIN = (441_000.0, 4_427_000.0)  # Haidian, Beijing, in UTM 50N


def generated_city(
    n_buildings: int,
    seed: int = 0,
    block_m: tuple[float, float] = (140.0, 100.0),
    per_block: int = 12,
    drop_street_share: float = 0.15,
) -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(area, buildings, streets) in EPSG:4326 with about ``n_buildings`` buildings."""
    rng = np.random.default_rng(seed)
    n_blocks = max(1, math.ceil(n_buildings / per_block))
    nx = max(1, round(math.sqrt(n_blocks * block_m[1] / block_m[0])))
    ny = math.ceil(n_blocks / nx)
    bw, bh = block_m
    x0, y0 = ORIGIN
    # Streets: every grid line, split into block-edge segments, some dropped.
    segs = []
    for i in range(nx + 1):
        for j in range(ny):
            segs.append(
                ((x0 + i * bw, y0 + j * bh), (x0 + i * bw, y0 + (j + 1) * bh), i in (0, nx))
            )
    for j in range(ny + 1):
        for i in range(nx):
            segs.append(
                ((x0 + i * bw, y0 + j * bh), (x0 + (i + 1) * bw, y0 + j * bh), j in (0, ny))
            )
    keep = [s for s in segs if s[2] or rng.random() >= drop_street_share]
    street_geoms = shapely.linestrings([[a, b] for a, b, _ in keep])
    area = shapely.box(x0, y0, x0 + nx * bw, y0 + ny * bh)
    # Buildings: rows × cols slots per block, footprint a random share of its slot.
    cols = max(1, round(math.sqrt(per_block * bw / bh)))
    rows = math.ceil(per_block / cols)
    setback = 8.0
    sw, sh = (bw - 2 * setback) / cols, (bh - 2 * setback) / rows
    boxes = []
    count = 0
    for bj in range(ny):
        for bi in range(nx):
            for r in range(rows):
                for c in range(cols):
                    if count >= n_buildings:
                        break
                    fw = sw * rng.uniform(0.45, 0.85)
                    fh = sh * rng.uniform(0.45, 0.85)
                    cx = (
                        x0 + bi * bw + setback + (c + 0.5) * sw + rng.uniform(-1, 1) * (sw - fw) / 2
                    )
                    cy = (
                        y0 + bj * bh + setback + (r + 0.5) * sh + rng.uniform(-1, 1) * (sh - fh) / 2
                    )
                    boxes.append((cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2))
                    count += 1
    b = np.array(boxes)
    geoms = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    floors = rng.choice([2, 3, 6, 6, 9, 12, 18], size=len(geoms))
    residential = rng.random(len(geoms)) >= 0.15
    hh = np.where(residential, np.round(shapely.area(geoms) * floors / 90.0), 0)
    tr = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)

    def to_wgs(g):
        return shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))

    buildings = gpd.GeoDataFrame(
        {"households": hh.astype(np.int64)}, geometry=to_wgs(geoms), crs="EPSG:4326"
    )
    streets = gpd.GeoDataFrame(geometry=to_wgs(street_geoms), crs="EPSG:4326")
    return to_wgs(area), buildings, streets
