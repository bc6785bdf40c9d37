"""Export stored layers (grids, buildings, street segments, streets, areas) to files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from sqlalchemy import Engine

from geo.errors import InputError
from geo.sql_frames import read_geoframe
from geo.vector_io import write_vector

# layer name → SQL selecting the exported columns (phone numbers never leave through here)
LAYER_SQL: dict[str, str] = {
    "grids": (
        "SELECT g.code, g.level, g.name, g.households, g.building_count, g.version, "
        "g.flags::text AS flags, a.code AS community_code, g.geom FROM grids g "
        "JOIN areas a ON a.id = g.community_id WHERE g.retired_at IS NULL ORDER BY g.code"
    ),
    "buildings": (
        "SELECT b.id, b.source_key, b.name, b.building_type, b.levels, b.households, "
        "b.household_source, b.units, b.area_m2, a.code AS community_code, b.geom "
        "FROM buildings b LEFT JOIN areas a ON a.id = b.community_id ORDER BY b.id"
    ),
    "segments": (
        # edge_id (= id): the file is a network for `gridward match --network` as it is
        "SELECT s.id, s.id AS edge_id, s.uid, s.name, s.highway, s.kind, s.length_m, "
        "st.key AS street_key, s.street_id, s.geom FROM street_segments s "
        "JOIN streets st ON st.id = s.street_id WHERE s.retired_at IS NULL "
        "ORDER BY s.id"
    ),
    "streets": (
        "SELECT id, key, name, kind, length_m, geom FROM streets WHERE retired_at IS NULL "
        "ORDER BY id"
    ),
    "areas": (
        "SELECT a.code, a.level, a.name, a.name_en, p.code AS parent_code, a.area_m2, a.geom "
        "FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.code"
    ),
}


def read_layer(engine: Engine, layer: str) -> gpd.GeoDataFrame:
    """A stored layer as a WGS 84 GeoDataFrame."""
    if layer not in LAYER_SQL:
        raise InputError(
            f"图层 {layer} 不存在，请选 {', '.join(LAYER_SQL)} 之一 "
            f"unknown layer '{layer}': choose one of {', '.join(LAYER_SQL)}"
        )
    with engine.connect() as conn:
        return read_geoframe(LAYER_SQL[layer], conn, geom_col="geom", crs="EPSG:4326")


def export_layer(engine: Engine, layer: str, path: str | Path) -> int:
    """Write one layer to GeoJSON or GeoPackage; returns the number of features."""
    gdf = read_layer(engine, layer)
    write_vector(gdf, path, layer=layer)
    return len(gdf)
