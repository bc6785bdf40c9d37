"""File I/O for the file-mode CLI: read area/buildings/streets, write grids as GeoJSON.

Kept apart from the engine (which never touches files). Inputs may be in any CRS the file
declares (converted to EPSG:4326); a file without a CRS is taken as EPSG:4326 unless the
caller declares one — including GCJ-02 / BD-09, which no file format can declare.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, geometries_to_wgs84, normalize_crs
from geo.errors import InputError
from geo.vector_io import HOUSEHOLD_NAMES, atomic_file, pick_column


def read_layer(path: Path, what: str, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file into EPSG:4326; InputError naming the file on any failure."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"cannot read {what} file {path}: {exc}") from None
    # features are numbered from 1 in errors ("building 3: households is missing"), as a GIS
    # and `gridward match` number them
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    if what == "buildings" and "households" not in gdf.columns:
        given = pick_column(gdf.columns, HOUSEHOLD_NAMES)  # 户数, as the importers read it
        if given is not None:
            gdf = gdf.rename(columns={given: "households"})
    if crs is not None:
        name = normalize_crs(crs)
        geoms = geometries_to_wgs84(np.asarray(gdf.geometry.values, dtype=object), name)
        return gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=geoms, crs=WGS84)
    if gdf.crs is None:
        return gdf.set_crs(WGS84)
    return gdf.to_crs(WGS84)


def read_area(path: Path, crs: str | None = None) -> shapely.Geometry:
    """The union of all polygon features of the area file."""
    gdf = read_layer(path, "area", crs)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms)]
    geoms = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])]
    if len(geoms) == 0:
        raise InputError(f"area file {path} holds no polygon")
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        raise InputError(
            f"area file {path}: invalid polygon ({shapely.is_valid_reason(geoms[bad][0])})"
        )
    return shapely.union_all(geoms)


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _rounded(geoms: np.ndarray, digits: int = 8) -> np.ndarray:
    """Coordinates to ``digits`` decimals (1e-8° ≈ 1 mm): the engine's reprojection leaves
    float noise (116.31300000000002) in the file. Grids sharing a vertex round it alike, so no
    gap opens; a grid that rounding would make invalid keeps its exact coordinates."""
    out = shapely.transform(geoms, lambda c: np.round(c, digits))
    bad = ~shapely.is_valid(out)
    out[bad] = geoms[bad]
    return out


def write_grids(grids: gpd.GeoDataFrame, summary: dict[str, Any], path: Path) -> None:
    """GeoJSON FeatureCollection of the grids, with the plan summary as a foreign member."""
    grids = grids.set_geometry(
        gpd.GeoSeries(
            _rounded(np.asarray(grids.geometry.values, dtype=object)),
            index=grids.index,
            crs=grids.crs,
        )
    )
    doc = json.loads(grids.to_json(na="null", drop_id=True))
    doc["summary"] = _clean(summary)
    path = Path(path)
    try:
        with atomic_file(path) as tmp:  # renamed over it: never half-written
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
