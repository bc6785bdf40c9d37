"""Which community each building belongs to: one rule, run after every import that changes
buildings or areas (OSM, buildings, areas), so grids, partitions and reports agree.

The rule (README, "Grids and community lines"): a building belongs whole to the community
whose outline covers most of its footprint, ties to the lower code; a building that overlaps
no community (touching a line is not overlapping) is in none. WHY not the inner point, as
before (T46 #1, #2): a building 85 % inside a community whose inner point fell in a 4 m gap
between two outlines got no community at all (its 44 households in no grid), and one mostly
in a community went to an overlapping neighbour of lower code.

Speed: a district holds tens of thousands of buildings, nearly all wholly inside one
community. Pairs are found community by community over the buildings' GiST index (so
PostGIS keeps each community's outline prepared); a building some community covers takes
the lowest such code at once, and only the others (straddlers) have intersection areas
computed. Areas are in degrees²: they are only compared between communities for one
building, where the degree-to-metre factor is the same.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# Shares within this of each other (of the building's footprint) are a tie: the lower code.
# WHY: a building split exactly in half gives areas differing in the last bits.
_TIE = 1e-9

_LINK_SQL = f"""
WITH pairs AS MATERIALIZED (
  SELECT b.id AS bid, a.id AS aid, a.code, ST_Covers(a.geom, b.geom) AS whole
  FROM areas a JOIN buildings b ON b.geom && a.geom AND ST_Intersects(a.geom, b.geom)
  WHERE a.level IN ('community', 'village')
),
whole AS (
  SELECT DISTINCT ON (bid) bid, aid FROM pairs WHERE whole ORDER BY bid, code
),
part AS (
  SELECT DISTINCT ON (s.bid) s.bid, s.aid FROM (
    SELECT p.bid, p.aid, p.code,
           ST_Area(ST_Intersection(a.geom, b.geom)) / NULLIF(ST_Area(b.geom), 0) AS share
    FROM pairs p JOIN areas a ON a.id = p.aid JOIN buildings b ON b.id = p.bid
    WHERE NOT EXISTS (SELECT 1 FROM whole w WHERE w.bid = p.bid)) s
  WHERE s.share > 0
  ORDER BY s.bid, round(s.share / {_TIE}) DESC, s.code
),
best AS (SELECT bid, aid FROM whole UNION ALL SELECT bid, aid FROM part)
UPDATE buildings b SET community_id = sub.aid
FROM (SELECT b2.id, best.aid FROM buildings b2 LEFT JOIN best ON best.bid = b2.id) sub
WHERE b.id = sub.id AND b.community_id IS DISTINCT FROM sub.aid
"""


def link_buildings_to_communities(conn: Connection) -> int:
    """Set each building's community: the community/village covering most of its footprint
    (ties: the lower code; none when it overlaps none). Returns the buildings changed."""
    return int(conn.execute(text(_LINK_SQL)).rowcount or 0)
