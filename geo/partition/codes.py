"""Grid codes (单元网格标识码): 12-digit community prefix + 3-digit sequence.

Sequence order, west→east then north→south (DB11 practice), made precise:
grid centroids (in the metric CRS) are cut into latitude bands of height ``band_m`` counted
down from the northernmost centroid (default: the median grid size, √ of the median grid
area, so a band holds about one row of grids); bands are numbered north to south, and
inside a band grids run west to east by centroid x. Ties fall back to the grid's northmost
y, then its index, so the numbering is deterministic.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.errors import InputError


def sequence_order(grids: np.ndarray, band_m: float | None = None) -> np.ndarray:
    """Indices of ``grids`` (metric polygons) in code sequence order.

    An empty polygon has no place to be numbered by: refused by name (the engine never
    makes one, every grid holds a building) rather than numpy's shape error."""
    if len(grids) == 0:
        return np.zeros(0, dtype=np.int64)
    empty = np.flatnonzero(shapely.is_empty(grids) | shapely.is_missing(grids))
    if len(empty):
        raise ValueError(f"grid {int(empty[0])} has an empty polygon: it cannot be numbered")
    c = shapely.get_coordinates(shapely.centroid(grids))
    if band_m is None:
        band_m = float(np.sqrt(np.median(shapely.area(grids))))
    band_m = max(band_m, 1e-6)
    band = np.floor((c[:, 1].max() - c[:, 1]) / band_m).astype(np.int64)
    return np.lexsort((np.arange(len(grids)), -c[:, 1], c[:, 0], band))


def grid_codes(prefix: str, n: int, overflow: str = "error") -> list[str]:
    """Codes prefix+001 … in sequence order; more than 999 grids need ``overflow='extend'``."""
    if n > 999 and overflow != "extend":
        raise InputError(
            f"网格数 {n} 超过一个社区的上限 999，请缩小范围或调高户数上下限 "
            f"{n} grids do not fit the 3-digit grid sequence of one community (max 999); "
            "partition a smaller area or raise the household bounds"
        )
    width = max(3, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]
