"""The street chiefs' corridor: the stretches of a chief's street within
:data:`STREET_CORRIDOR_M` of the chief's walk of the day count as covered
(:func:`chief_corridor`), and the SQL of a visit's walked stretches it shares with the report.

Apart from :mod:`geo.patrol_reports` because it is one rule with its own SQL and reason
(OSM's parallel ways), read by the report's load."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import text

from geo.crs import metric_crs_for_bounds
from geo.patrol_days import STRETCH_COLS, segment_live_at
from geo.settings import get_settings
from geo.sql_frames import read_frame

# A street chief's street counts as covered (for patrolled, not for walked metres) where it
# lies within this many metres of the chief's walk that day (see chief_corridor).
STREET_CORRIDOR_M = 20.0

# One row per walked stretch of a visit (its intervals; a visit stored without them is one
# stretch from 0 to its covered fraction): the reports and the street corridor read the same.
STRETCHES_FROM = """
FROM patrol_visits v
CROSS JOIN LATERAL (
    SELECT LEAST((e ->> 0)::float8, (e ->> 1)::float8) AS f0,
           GREATEST((e ->> 0)::float8, (e ->> 1)::float8) AS f1
    FROM jsonb_array_elements(CASE WHEN jsonb_array_length(v.intervals) > 0 THEN v.intervals
         ELSE jsonb_build_array(jsonb_build_array(0, v.covered_fraction)) END) AS e
) AS x
WHERE v.day BETWEEN :a AND :b AND v.person_id IS NOT NULL
  -- walked, or in a mode the city credits (GRIDWARD_CREDITED_MODES): a ride is no patrol
  AND EXISTS (SELECT 1 FROM tracks tr WHERE tr.id = v.track_id
              AND tr.mode = ANY(CAST(:modes AS text[])))
"""

_CORRIDOR_SQL = (
    """
WITH chief AS (
    SELECT DISTINCT u.person_id, u.street_id
    FROM unnest(CAST(:p AS int[]), CAST(:s AS int[])) AS u(person_id, street_id)
), stretch AS (
    SELECT v.day, v.person_id, v.first_time, v.last_time,
           ST_LineSubstring(
               (SELECT ST_Transform(s.geom, :srid) FROM street_segments s
                WHERE s.id = v.segment_id), x.f0, x.f1) AS g
"""
    + STRETCHES_FROM
    + """
    AND v.person_id IN (SELECT person_id FROM chief)
), walked AS (
    -- flat ends: the corridor reaches across the street (its parallel ways), not along it
    -- (round ends credited up to 20 m past each end of the walk on the street itself)
    -- the day's stretches kept with the zone: the times below look only at these (a lateral
    -- over the whole CTE read every chief's every day for each piece: quadratic in the
    -- period, 16 s of a city month's 21, T59 F2)
    SELECT day, person_id, ST_Buffer(ST_LineMerge(ST_Union(g)), :r, 'endcap=flat join=round')
           AS zone, array_agg(g) AS gs, array_agg(first_time) AS ft, array_agg(last_time) AS lt
    FROM stretch GROUP BY day, person_id
)
SELECT w.day, w.person_id, s.id AS edge_id, t.first_time, t.last_time,
       ST_LineLocatePoint(m.g, ST_StartPoint(p.geom)) AS f0,
       ST_LineLocatePoint(m.g, ST_EndPoint(p.geom)) AS f1
FROM walked w
JOIN chief c ON c.person_id = w.person_id
-- the street as it was that day: its segments live at the day's local end (_NetworkByDay)
JOIN street_segments s ON s.street_id = c.street_id
 AND """
    + segment_live_at("s", "((w.day + 1)::timestamp AT TIME ZONE :tz)")
    + """
CROSS JOIN LATERAL (SELECT ST_Transform(s.geom, :srid) AS g) AS m
CROSS JOIN LATERAL ST_Dump(ST_Intersection(m.g, w.zone)) AS p
-- the times of the walking that credited this piece, not of the chief's whole day
CROSS JOIN LATERAL (
    SELECT min(x.ft) AS first_time, max(x.lt) AS last_time
    FROM unnest(w.gs, w.ft, w.lt) AS x(g, ft, lt) WHERE ST_DWithin(x.g, p.geom, :r)
) AS t
WHERE m.g && w.zone AND ST_GeometryType(p.geom) = 'ST_LineString'
"""
)


def chief_corridor(conn: Any, duties: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Stretches of street chiefs' streets within :data:`STREET_CORRIDOR_M` of the chief's
    walk of the day, as walked stretches of the chief (columns as ``STRETCH_COLS``).

    WHY: OSM draws a main street as several parallel ways 7-30 m apart (carriageways, side
    roads, sidewalks; 成府路 in the demo city is five ways, 4.7 km for 1.6 km of road). A
    chief who walks the street end to end is matched to one of them and earned a third of
    it, and no walk could reach 80 %. Alley stewards keep exact credit: a hutong is one way,
    and a corridor would credit the next hutong over. The corridor has flat ends: it widens
    the walk, never lengthens it. Its stretches judge ``patrolled`` (``covered_*``), not the
    metres walked (the rows carry ``walked`` false: T40 #7)."""
    chiefs = duties[duties["role"] == "street_chief"][["person_id", "alley_id"]].drop_duplicates()
    if chiefs.empty:
        return pd.DataFrame(columns=STRETCH_COLS)
    box = conn.execute(
        text(
            # retired segments too: a past report keeps its metric CRS after a re-import
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM street_segments) AS x"
        )
    ).one()
    if box[0] is None:
        return pd.DataFrame(columns=STRETCH_COLS)
    srid = int(metric_crs_for_bounds(tuple(box)).split(":")[1])
    df = read_frame(
        text(_CORRIDOR_SQL),
        conn,
        params={
            "p": chiefs["person_id"].astype(int).tolist(),
            "s": chiefs["alley_id"].astype(int).tolist(),
            "a": start,
            "b": end,
            "srid": srid,
            "r": STREET_CORRIDOR_M,
            "tz": get_settings().timezone,
            "modes": get_settings().credited(),
        },
    )
    df["start_fraction"] = df[["f0", "f1"]].min(axis=1)
    df["end_fraction"] = df[["f0", "f1"]].max(axis=1)
    return df
