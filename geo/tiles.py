"""Mapbox Vector Tiles of the big layers, made inside PostGIS (ST_AsMVT + ST_TileEnvelope).

Why in the database: a tile of 100k buildings is cut, clipped, quantised and encoded next to
the GiST index, so nothing but the finished protobuf crosses the wire. Geometry is stored in
EPSG:4326; the tile envelope is in EPSG:3857, so the bbox filter transforms the envelope once
(to 4326, with a small margin) and the index is used, then only the hits are transformed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from geo.errors import InputError

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64


@dataclass(frozen=True)
class TileLayer:
    """One tiled layer: its rows (``id``, ``geom`` and attribute columns) and its min zoom.

    Below ``min_zoom`` the tile is empty: a building is under a pixel there, and a z13 tile
    of a dense city holds ~10k of them (hundreds of ms and ~250 KB for nothing visible)."""

    source: str
    columns: str
    min_zoom: int = 0


TILE_LAYERS: dict[str, TileLayer] = {
    "grids": TileLayer(
        source="grids g JOIN areas a ON a.id = g.community_id",
        columns="g.id, g.code, g.level, g.households, g.building_count, a.code AS community",
        min_zoom=0,
    ),
    "buildings": TileLayer(
        source="buildings g",
        columns="g.id, g.households, g.building_type",
        min_zoom=14,
    ),
    "segments": TileLayer(
        source="street_segments g",
        columns="g.id, g.kind, g.name, g.street_id, round(g.length_m::numeric, 1) AS length_m",
        min_zoom=12,
    ),
}
# current rows only: retired grids and street segments retired by a re-import are history
_EXTRA_WHERE = {"grids": "AND g.retired_at IS NULL", "segments": "AND g.retired_at IS NULL"}


def check_tile(layer: str, z: int, x: int, y: int) -> None:
    """InputError naming what is wrong with a tile address."""
    if layer not in TILE_LAYERS:
        known = ", ".join(TILE_LAYERS)
        raise InputError(
            f"瓦片图层 '{layer}' 不存在（可用：{known}） "
            f"unknown tile layer '{layer}' (known: {known})"
        )
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(
            f"瓦片级别 z={z} 超出范围（须在 0..{MAX_ZOOM} 之间） "
            f"tile zoom z={z} is outside 0..{MAX_ZOOM}"
        )
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InputError(
            f"瓦片坐标 x={x}, y={y} 超出范围：级别 {z} 下须在 0..{n - 1} 之间 "
            f"tile x={x}, y={y} is outside 0..{n - 1} at zoom {z}"
        )


def tile_sql(layer: str) -> str:
    """The SQL of one layer's tile, parameters :z, :x, :y (exposed so bench can run it raw)."""
    spec = TILE_LAYERS[layer]
    extra = _EXTRA_WHERE.get(layer, "")
    # ST_TileEnvelope's margin gives the bbox of the buffered tile, so features just outside
    # still draw their strokes across the edge. Rows are ordered so a tile's bytes are the
    # same on every request (cacheable, comparable).
    margin = BUFFER / EXTENT
    return (
        "WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e3857, "
        f"ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {margin}), 4326) AS e4326), "
        f"rows AS (SELECT {spec.columns}, "
        f"ST_AsMVTGeom(ST_Transform(g.geom, 3857), env.e3857, {EXTENT}, {BUFFER}, true) AS geom "
        f"FROM {spec.source}, env WHERE g.geom && env.e4326 {extra} ORDER BY g.id) "
        f"SELECT ST_AsMVT(rows, '{layer}', {EXTENT}, 'geom', 'id') FROM rows "
        "WHERE geom IS NOT NULL"
    )


def render_tile(conn_or_engine: Engine | Connection, layer: str, z: int, x: int, y: int) -> bytes:
    """The MVT bytes of ``layer`` at z/x/y (empty bytes when the tile holds nothing)."""
    check_tile(layer, z, x, y)
    if z < TILE_LAYERS[layer].min_zoom:
        return b""
    sql = text(tile_sql(layer))
    params = {"z": z, "x": x, "y": y}
    if isinstance(conn_or_engine, Connection):
        data = conn_or_engine.execute(sql, params).scalar()
    else:
        with conn_or_engine.connect() as conn:
            data = conn.execute(sql, params).scalar()
    return bytes(data) if data is not None else b""
