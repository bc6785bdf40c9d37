"""Which community each building belongs to: one rule, run after every import that changes
buildings or areas (OSM, buildings, areas), so grids, partitions and reports agree."""

from __future__ import annotations

from sqlalchemy import Connection, text


def link_buildings_to_communities(conn: Connection) -> int:
    """Set each building's community: the community/village containing its inner point."""
    return int(
        conn.execute(
            text(
                "UPDATE buildings b SET community_id = sub.area_id FROM ("
                "  SELECT b2.id AS building_id, ("
                "    SELECT a.id FROM areas a WHERE a.level IN ('community', 'village') "
                "    AND ST_Intersects(a.geom, ST_PointOnSurface(b2.geom)) "
                "    ORDER BY a.code LIMIT 1) AS area_id FROM buildings b2"
                ") sub WHERE b.id = sub.building_id "
                "AND b.community_id IS DISTINCT FROM sub.area_id"
            )
        ).rowcount
        or 0
    )
