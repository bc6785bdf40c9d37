"""DataFrames and GeoDataFrames from SQL queries on an open connection.

Why not ``pandas.read_sql`` / ``geopandas.read_postgis`` (which calls it): read_sql first asks
the database whether the query text is a table name, and swallows any error it gets while
asking. If the connection drops at that moment, the lost-connection error (which the API
answers with 503 + Retry-After) is thrown away. The query then fails on the invalidated
connection with a ``PendingRollbackError``, which reads like a bug (500). A stress run of the
database-restart test hit exactly this. ``read_sql_query`` runs the query and nothing else.
It also skips that catalogue query on every read.

Geometries come back from PostGIS as hex EWKB. They are parsed in one vectorised
``shapely.from_wkb`` call; geopandas parses them one row at a time.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import TextClause, text


def read_frame(
    sql: str | TextClause, conn: Any, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Rows of ``sql`` (text or ``text()``, bound ``:name`` parameters) as a DataFrame.
    Arguments in pandas' order, so it replaces ``pd.read_sql`` one for one."""
    return pd.read_sql_query(text(sql) if isinstance(sql, str) else sql, conn, params=params)


def read_geoframe(
    sql: str | TextClause,
    conn: Any,
    params: dict[str, Any] | None = None,
    geom_col: str = "geom",
    crs: str = "EPSG:4326",
) -> gpd.GeoDataFrame:
    """Rows of ``sql`` as a GeoDataFrame whose ``geom_col`` (PostGIS geometry) is the geometry.
    Arguments as ``gpd.read_postgis``."""
    df = read_frame(sql, conn, params)
    df[geom_col] = shapely.from_wkb(df[geom_col].to_numpy(object))
    return gpd.GeoDataFrame(df, geometry=geom_col, crs=crs)
