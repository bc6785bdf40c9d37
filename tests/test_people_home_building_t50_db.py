"""A home inside a stored building takes that building's community (outside tester T50 #8):
the building rule (where most of its footprint lies) decides, as for its households and
grid, not the community holding the point; else the point's community as before. The
planner's people export then holds the person. The demo city, real PostGIS."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from geo.people_export import people_table
from geo.people_import import import_people


@pytest.fixture()
def city(db):  # noqa: ANN001, ANN201
    from geo.demo import load_city

    load_city(db)
    return db


def _astride(db, outside: str) -> tuple[float, float, str, str]:
    """A point inside a building but outside the community gridward puts the building in
    (the part of its footprint poking out): lon, lat, the building's community and the
    building's id; ``outside``: "none" for a point in no community, "other" for one in
    another community."""
    where = (
        "NOT EXISTS (SELECT 1 FROM areas o WHERE o.level = 'community' "
        "AND ST_Intersects(o.geom, x.pt))"
        if outside == "none"
        else "EXISTS (SELECT 1 FROM areas o WHERE o.level = 'community' AND o.id <> x.cid "
        "AND ST_Intersects(o.geom, x.pt))"
    )
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(x.pt), ST_Y(x.pt), x.code, x.bid FROM (SELECT b.id AS bid, "
                "c.id AS cid, c.code, ST_PointOnSurface(ST_Difference(b.geom, c.geom)) AS pt "
                "FROM buildings b JOIN areas c ON c.id = b.community_id "
                "WHERE NOT ST_Covers(c.geom, b.geom) "
                "AND ST_Area(ST_Difference(b.geom, c.geom)::geography) > 20) x "
                f"WHERE NOT ST_IsEmpty(x.pt) AND {where} ORDER BY x.bid LIMIT 1"
            )
        ).first()
    if row is None:
        pytest.skip(f"the demo city has no building poking into {outside} community")
    return float(row[0]), float(row[1]), str(row[2]), str(row[3])


def _csv(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    pd.DataFrame(
        [
            {
                "人员编号": x,
                "姓名": n,
                "角色": "小巷管家",
                "经度": f"{lon:.9f}",
                "纬度": f"{lat:.9f}",
            }
            for x, n, lon, lat in rows
        ]
    ).to_csv(path, index=False)
    return path


def _area(db, ext: str) -> str | None:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.code FROM people p LEFT JOIN areas a ON a.id = p.area_id "
                "WHERE p.external_id = :x"
            ),
            {"x": ext},
        ).scalar()


@pytest.mark.parametrize("outside", ["none", "other"])
def test_a_home_in_a_building_takes_the_buildings_community(city, tmp_path, outside):  # noqa: ANN001
    lon, lat, community, _bid = _astride(city, outside)
    counts = import_people(city, _csv(tmp_path / "p.csv", [("H1", "吴静杰", lon, lat)]))
    assert _area(city, "H1") == community, (lon, lat)
    # not named in the "no community" warning
    assert "吴静杰" not in " ".join(str(w) for w in counts.get("warnings", [])), counts
    exported = people_table(city, community)
    assert "H1" in set(exported["person_id"]), exported
    assert "H1" in set(people_table(city, community[:9])["person_id"])  # its subdistrict


def test_a_home_in_no_building_keeps_the_points_community(city, tmp_path):  # noqa: ANN001
    with city.connect() as conn:
        lon, lat, code = conn.execute(
            text(
                "SELECT ST_X(pt), ST_Y(pt), code FROM (SELECT a.code, ST_PointOnSurface("
                "ST_Difference(a.geom, (SELECT ST_Union(ST_Buffer(b.geom, 0.00005)) FROM "
                "buildings b))) AS pt FROM areas a WHERE a.level = 'community' "
                "ORDER BY a.code LIMIT 1) x"
            )
        ).one()
    import_people(city, _csv(tmp_path / "p.csv", [("H2", "李静", lon, lat)]))
    assert _area(city, "H2") == code
