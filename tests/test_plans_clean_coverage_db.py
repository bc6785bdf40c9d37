"""Database mode stores a clean coverage (as file mode writes one): an engine draft's grids,
and the grid version its commit stores, neither overlap nor leave gaps between neighbours.
WHY: ``create_plan`` stored the engine's outlines as they were, which meet only to about a
millimetre (reprojected from metres): the Tsinghua extract at 100–200 stored 104 pairs of
overlapping grids and 77 gap pieces, the demo city's 110108015002 at 300–500 7 and 5, and a
commit made them the grids offices publish and ``ST_Intersects`` reads.

Measured in metres (UTM 50N) on what is stored: no two grids of the community share any
area, no piece of its territory (geo.plans.OUTLINE_GEOM) lies outside every grid except
along its outline, within rounding; the grids' union is the territory to a millimetre; each
building lies in exactly one grid (to a millimetre: the engine's own outlines reach a
fraction of one past some footprints), the grid listing it, whose counts it makes.
Real PostGIS; the demo city's OSM cut and the Tsinghua/Wudaokou extract as one community."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from geo.areas_import import import_areas
from geo.importer import import_osm
from tests.conftest import FIXTURES

TSINGHUA = "110108015007"
TSINGHUA_BOX = (116.3084, 39.9905, 116.3320, 40.0123)  # the extract's <bounds>
DEMO = "110108015002"  # the demo city's largest community (its neighbours imported too)
METRIC = "EPSG:32650"
ROUNDING_M = 0.001  # what rounding may move an outline by (1e-10° is about 10 µm)


@pytest.fixture()
def tsinghua(db, shared_data, tmp_path) -> Engine:
    area = tmp_path / "community.geojson"
    gpd.GeoDataFrame(
        {"code": [TSINGHUA], "name": ["清华园测试社区"], "level": ["community"]},
        geometry=[shapely.box(*TSINGHUA_BOX)],
        crs=4326,
    ).to_file(area)
    import_areas(db, area, level="community")
    import_osm(db, shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    return db


@pytest.fixture()
def demo(db) -> Engine:
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    return db


def _metric(geoms: list[Any]) -> np.ndarray:
    return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(METRIC).values, dtype=object)


def _territory_and_buildings(engine: Engine, code: str) -> tuple[Any, gpd.GeoDataFrame]:
    """The community's territory (what its plans are drawn in) and its buildings."""
    from geo.plans import OUTLINE_GEOM
    from geo.sql_frames import read_geoframe

    with engine.connect() as conn:
        wkb = conn.execute(
            text(f"SELECT ST_AsBinary({OUTLINE_GEOM}) FROM areas a WHERE a.code = :c"),
            {"c": code},
        ).scalar_one()
        buildings = read_geoframe(
            text(
                "SELECT b.id, b.households, b.geom FROM buildings b "
                "JOIN areas a ON a.id = b.community_id WHERE a.code = :c ORDER BY b.id"
            ),
            conn,
            geom_col="geom",
            params={"c": code},
            crs="EPSG:4326",
        )
    return shapely.from_wkb(bytes(wkb)), buildings


def _assert_clean(
    engine: Engine, code: str, geoms: list[Any], members: list[list[int]], counts: list[tuple]
) -> None:
    """The grids ``geoms`` (EPSG:4326) of community ``code``, each holding the buildings
    ``members`` and stored with (households, building_count) ``counts``, are a clean
    coverage of its territory (see the module docstring)."""
    territory, buildings = _territory_and_buildings(engine, code)
    g = _metric(geoms)
    tm = _metric([territory])[0]
    assert shapely.is_valid(g).all()
    # no two grids share any area
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    k = i < j
    overlap = shapely.area(shapely.intersection(g[i[k]], g[j[k]]))
    assert not (overlap > 0).any(), (
        f"{int((overlap > 0).sum())} overlapping pairs, {overlap.sum():.6f} m² in all"
    )
    # no gap between grids: what of the territory no grid covers lies along its outline
    union = shapely.union_all(g)
    left = shapely.get_parts(shapely.difference(tm, union))
    left = left[shapely.area(left) > 0]
    inner = left[~shapely.within(left, shapely.buffer(tm.boundary, ROUNDING_M))]
    assert len(inner) == 0, f"{len(inner)} gap pieces, {shapely.area(inner).sum():.6f} m²"
    # the grids' union is the territory, to rounding
    assert shapely.hausdorff_distance(union, tm, densify=0.05) < ROUNDING_M
    assert shapely.area(shapely.symmetric_difference(union, tm)) < 1e-4 * shapely.area(tm)
    # each building in exactly one grid (to a millimetre), the one listing it
    bm = _metric(list(buildings.geometry))
    near = shapely.buffer(g, ROUNDING_M)
    bi, gi = shapely.STRtree(near).query(bm, predicate="covered_by")
    held = np.bincount(bi, minlength=len(bm))
    assert (held == 1).all(), f"{int((held != 1).sum())} buildings not in exactly one grid"
    listed = {b: r for r, ids in enumerate(members) for b in ids}
    ids = buildings["id"].tolist()
    assert {ids[b]: int(r) for b, r in zip(bi, gi, strict=True)} == listed
    hh = dict(zip(ids, buildings["households"].astype(int), strict=True))
    assert counts == [(sum(hh[b] for b in m), len(m)) for m in members]


def _draft(engine: Engine, code: str, lo: int, hi: int) -> tuple[int, list[dict]]:
    from geo.plans import create_plan, get_plan

    plan_id = create_plan(engine, code, lo, hi, seed=0)
    return plan_id, get_plan(engine, plan_id)["features"]["features"]


def _assert_draft_clean(engine: Engine, code: str, feats: list[dict]) -> None:
    props = [f["properties"] for f in feats]
    _assert_clean(
        engine,
        code,
        [shapely.geometry.shape(f["geometry"]) for f in feats],
        [p["building_ids"] for p in props],
        [(p["households"], p["building_count"]) for p in props],
    )


@pytest.mark.parametrize(
    ("area", "code", "lo", "hi"),
    [("tsinghua", TSINGHUA, 100, 200), ("demo", DEMO, 300, 500)],
)
def test_an_engine_draft_is_stored_as_a_clean_coverage(request, area, code, lo, hi) -> None:
    """Before: the Tsinghua draft had 104 overlapping pairs and 77 gap pieces (0.0017 and
    0.0012 m²), the demo city's 7 and 5. Its figures and flags are the engine's, and the
    elongated flag still says what the stored outline's compactness, in metres, says."""
    from geo.partition.metrics import polsby_popper

    engine = request.getfixturevalue(area)
    _, feats = _draft(engine, code, lo, hi)
    _assert_draft_clean(engine, code, feats)
    pp = polsby_popper(_metric([shapely.geometry.shape(f["geometry"]) for f in feats]))
    stored = np.array([f["properties"]["polsby_popper"] for f in feats])
    thin = [("elongated" in f["properties"]["flags"]) for f in feats]
    assert thin == (stored < 0.12).tolist() == (pp < 0.12).tolist()


def test_a_committed_engine_draft_stores_a_clean_grid_version(tsinghua) -> None:
    """The grid version a commit stores is the draft's clean coverage: in PostGIS no two of
    its grids' interiors meet (ST_Relate 2********), and each building's inner point is in
    exactly one grid. Before: the interiors of 105 pairs met. Its level-2 grids are still
    made, and a draft of the same data on the committed version is refused as unchanged."""
    from geo.errors import ConflictError
    from geo.plans import commit_plan

    plan_id, feats = _draft(tsinghua, TSINGHUA, 100, 200)
    out = commit_plan(tsinghua, plan_id)
    assert out["version"] == 1 and out["grids"] == len(feats) and out["level2"] > 0
    with tsinghua.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, ST_AsBinary(g.geom) AS wkb, g.households, g.building_count, "
                "g.properties->'building_ids' AS ids FROM grids g JOIN areas a "
                "ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 AND g.version = 1 "
                "ORDER BY g.code"
            ),
            {"c": TSINGHUA},
        ).all()
        meeting = conn.execute(
            text(
                "SELECT count(*) FROM grids x JOIN grids y ON x.id < y.id AND x.geom && y.geom "
                "AND ST_Relate(x.geom, y.geom, '2********') JOIN areas a "
                "ON a.id = x.community_id WHERE a.code = :c AND x.community_id = y.community_id "
                "AND x.level = 1 AND y.level = 1 AND x.version = 1 AND y.version = 1"
            ),
            {"c": TSINGHUA},
        ).scalar_one()
        in_grids = conn.execute(
            text(
                "SELECT count(g.id) FROM buildings b JOIN areas a ON a.id = b.community_id "
                "LEFT JOIN grids g ON g.community_id = a.id AND g.level = 1 "
                "AND g.retired_at IS NULL AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom)) "
                "WHERE a.code = :c GROUP BY b.id"
            ),
            {"c": TSINGHUA},
        ).scalars()
        assert set(in_grids) == {1}
    assert meeting == 0
    assert [r.code for r in rows] == [f["properties"]["code"] for f in feats]
    _assert_clean(
        tsinghua,
        TSINGHUA,
        [shapely.from_wkb(bytes(r.wkb)) for r in rows],
        [list(r.ids) for r in rows],
        [(r.households, r.building_count) for r in rows],
    )
    # the same data on the committed version: the engine's draft is the current grids
    again, _ = _draft(tsinghua, TSINGHUA, 100, 200)
    with pytest.raises(ConflictError, match="same as the current grids"):
        commit_plan(tsinghua, again)
