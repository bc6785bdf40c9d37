"""File mode's territory rule (geo.partition.territory, shapely) is the database's
(geo.building_links' _LINK_SQL, geo.plans.OUTLINE_GEOM, PostGIS): the same buildings to the
same communities, the same working outlines, on the layouts that test the database's rule
(a gap and an overlap between outlines, ties, a building touching a line, one in no
community; outlines overlapping with a building in the overlap). Real PostGIS. WHY (T64 #3):
an area file of several communities is partitioned as database mode partitions them."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.importer import import_buildings
from geo.partition.territory import building_communities, working_outlines
from geo.plans import load_inputs
from tests import test_building_links_db as links
from tests import test_partition_overlapping_communities_db as overlapping


@pytest.mark.parametrize(
    ("communities", "buildings"),
    [
        (links.COMMUNITIES, links.BUILDINGS),
        (overlapping.COMMUNITIES, overlapping.BUILDINGS),
    ],
    ids=["links", "overlapping"],
)
def test_the_shapely_territory_is_the_databases(db, tmp_path, communities, buildings) -> None:
    a, b = links._write(tmp_path, communities, buildings)
    import_areas(db, a, level="community")
    import_buildings(db, b)
    with db.connect() as conn:
        areas = conn.execute(
            text("SELECT code, ST_AsBinary(geom) AS g FROM areas ORDER BY code")
        ).all()
        rows = conn.execute(
            text(
                "SELECT b.households, ST_AsBinary(b.geom) AS g, a.code FROM buildings b "
                "LEFT JOIN areas a ON a.id = b.community_id ORDER BY b.id"
            )
        ).all()
        db_outline = {r.code: load_inputs(conn, r.code)[1] for r in areas}
    codes = [r.code for r in areas]
    outlines = [shapely.from_wkb(bytes(r.g)) for r in areas]
    geoms = shapely.from_wkb([bytes(r.g) for r in rows])
    owner = building_communities(outlines, codes, geoms)
    mine = {
        int(r.households): (codes[k] if k >= 0 else None) for r, k in zip(rows, owner, strict=True)
    }
    assert mine == {int(r.households): r.code for r in rows}
    assert any(v is None for v in mine.values()) == (communities is links.COMMUNITIES)
    for code, got in zip(codes, working_outlines(outlines, codes, geoms, owner), strict=True):
        want = db_outline[code]
        assert shapely.area(shapely.symmetric_difference(got, want)) < 1e-9 * want.area, code
