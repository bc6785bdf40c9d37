"""Which community a building belongs to (geo.building_links): the one whose outline covers
most of its footprint, ties to the lower code, none when it overlaps none (outside tester
T46 #1, #2: the inner-point rule left a building 85 % inside a community out of every
community when its inner point fell in a 4 m gap between two outlines, and gave one mostly
in a community to an overlapping neighbour of lower code). Real PostGIS."""

from __future__ import annotations

import json

import numpy as np
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.importer import import_buildings

X0, Y0, S = 116.35, 40.0, 1e-5  # about 0.85 m east, 1.1 m north per unit


def _deg(g: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(g, lambda c: c * S + (X0, Y0))


def _bar(x0: float, x1: float, x2: float) -> shapely.Geometry:
    """A long low bar x0..x1 across y 45..55 and a tall one x2..x1 over y 0..100: the inner
    point (PointOnSurface: the middle of the widest span at mid-height) is at (x0+x1)/2,
    while most of the footprint is the tall bar."""
    return shapely.Polygon(shapely.union_all([box(x0, 45, x1, 55), box(x2, 0, x1, 100)]).exterior)


# 001 and 002 leave a 4-unit gap (100..104); 003 overlaps 002 by 6 units (204..210)
COMMUNITIES = {
    "110108030001": box(0, 0, 100, 100),
    "110108030002": box(104, 0, 210, 100),
    "110108030003": box(204, 0, 300, 100),
    "110108030004": box(0, 200, 100, 300),
}
BUILDINGS = {  # households: which building is which, in the assertions
    44: _bar(60, 144, 120),  # inner point in the 001/002 gap (x 102); 85 % in 002
    47: _bar(160, 254, 230),  # inner point in the 002/003 overlap (x 207); 86 % in 003
    10: box(20, 20, 40, 40),  # wholly inside 001
    11: box(95, 215, 110, 230),  # 1/3 in 004, the rest in no community: 004
    12: box(100, 240, 120, 260),  # touches 004 along its edge only: none
    13: box(20, 120, 40, 140),  # in no community
    14: box(80, 60, 124, 70),  # 20 in 001, 20 in 002 (gap 4): a tie, the lower code 001
}


def _write(tmp_path, communities=COMMUNITIES, buildings=BUILDINGS) -> tuple:
    """areas.geojson (``communities``: code → outline in units) and buildings.geojson
    (``buildings``: households → footprint) in ``tmp_path``."""
    areas = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": mapping(_deg(g)),
             "properties": {"code": c, "name": f"社区{c[-1]}", "level": "community"}}
            for c, g in communities.items()
        ],
    }  # fmt: skip
    blds = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": mapping(_deg(g)), "properties": {"households": h}}
            for h, g in buildings.items()
        ],
    }
    a, b = tmp_path / "areas.geojson", tmp_path / "buildings.geojson"
    a.write_text(json.dumps(areas), encoding="utf-8")
    b.write_text(json.dumps(blds), encoding="utf-8")
    return a, b


def _communities(engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT b.households, a.code FROM buildings b "
                "LEFT JOIN areas a ON a.id = b.community_id"
            )
        ).all()
    return {int(r.households): r.code for r in rows}


def test_a_building_belongs_to_the_community_holding_most_of_its_footprint(db, tmp_path):
    a, b = _write(tmp_path)
    # the set-up is the tester's: the inner point in the gap, and in the overlap
    gap, over = _deg(BUILDINGS[44]), _deg(BUILDINGS[47])
    c = {k: _deg(g) for k, g in COMMUNITIES.items()}
    assert not any(shapely.intersects(g, shapely.point_on_surface(gap)) for g in c.values())
    assert shapely.intersects(c["110108030002"], shapely.point_on_surface(over))
    assert shapely.intersects(c["110108030003"], shapely.point_on_surface(over))
    # buildings first, then areas (the areas import links them), then buildings again
    import_buildings(db, b)
    import_areas(db, a, level="community")
    want = {
        44: "110108030002",  # was None (T46 #1)
        47: "110108030003",  # was 110108030002 (T46 #2)
        10: "110108030001",
        11: "110108030004",
        12: None,
        13: None,
        14: "110108030001",
    }
    assert _communities(db) == want
    import_buildings(db, b)  # the other order: the buildings import links them too
    assert _communities(db) == want


def test_a_partition_takes_such_a_building_whole(db, tmp_path):
    """The community's working outline is widened by the building (geo.plans.OUTLINE_GEOM),
    so its partition holds it whole and the neighbours' leave it out."""
    from geo.partition import PartitionParams, partition
    from geo.plans import load_inputs

    a, b = _write(tmp_path)
    import_areas(db, a, level="community")
    import_buildings(db, b)
    with db.connect() as conn:
        bid = conn.execute(text("SELECT id FROM buildings WHERE households = 44")).scalar_one()
        _area, outline, frame, _streets = load_inputs(conn, "110108030002")
        _a1, outline1, frame1, _s1 = load_inputs(conn, "110108030001")
    assert bid in frame.index and bid not in frame1.index
    r = partition(outline, frame, None, PartitionParams(0, 500, code_prefix="110108030002"))
    assert bid in r.building_grid.index
    cover = shapely.union_all(r.grids.geometry.values)
    footprint = frame.geometry[bid]
    assert shapely.area(shapely.difference(footprint, cover)) / shapely.area(footprint) < 1e-4
    # the neighbour's outline leaves it out whole
    assert shapely.area(shapely.intersection(outline1, footprint)) < 1e-4 * footprint.area


def test_file_mode_takes_a_building_overlapping_the_area_whole():
    """File mode (one area, no database) restates the rule with the one area it knows: a
    building overlapping the area belongs to it whatever its inner point (the database's
    rule, when no other community overlaps it); one only touching its line does not."""
    from geo.partition.validate import placement

    area = _deg(COMMUNITIES["110108030002"])
    gap = _deg(BUILDINGS[44])  # 85 % inside, inner point outside (in the gap): was refused
    edge = _deg(_bar(180, 40, 90))  # 13 % inside, the rest in no community
    touching = _deg(box(80, 60, 104, 70))
    geoms = np.array([gap, edge, touching], dtype=object)
    taken, refused = placement(area, geoms)
    assert taken.tolist() == [0, 1] and refused.tolist() == [2]
