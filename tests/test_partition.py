"""Partition engine: invariants checked by an independent geometric checker.

The checker (``check_partition``) recomputes everything from the inputs and the result
with plain shapely in a metric CRS — it shares no code with the engine — and asserts
invariants 1–4 of issue 3 (tiling, connectivity, unsplit buildings, honest bounds) plus
codes and staffing. Layouts come from hypothesis; bad inputs must raise InputError.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.errors import InputError
from geo.partition import PartitionParams, PartitionResult, partition

UTM = "EPSG:32650"
_TO_WGS = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
_TO_UTM = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)


def to_wgs(g):
    return shapely.transform(g, lambda c: np.column_stack(_TO_WGS.transform(c[:, 0], c[:, 1])))


def to_utm(g):
    return shapely.transform(g, lambda c: np.column_stack(_TO_UTM.transform(c[:, 0], c[:, 1])))


# --------------------------------------------------------------------------- checker
def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The areal parts of a repaired geometry (make_valid can add collapsed zero-area lines)."""
    parts = shapely.get_parts(geom)
    return shapely.union_all(parts[np.isin(shapely.get_type_id(parts), [3, 6])])


def check_partition(
    area: shapely.Geometry,
    buildings: gpd.GeoDataFrame,
    params: PartitionParams,
    result: PartitionResult,
) -> None:
    """Assert invariants 1–4 (+ codes, staffing) from scratch; inputs in EPSG:4326."""
    grids = result.grids
    assert grids.crs.to_epsg() == 4326
    wgs = np.asarray(grids.geometry.values, dtype=object)
    assert shapely.is_valid(wgs).all(), "grid polygons must be valid"
    assert np.isin(shapely.get_type_id(wgs), [3, 6]).all(), "grids are (Multi)Polygons"
    # Reprojection may turn a point-touching ring into a 1e-9 m crossing: repair our copy.
    g = to_utm(wgs)
    bad = ~shapely.is_valid(g)
    g[bad] = [_polygonal(x) for x in shapely.make_valid(g[bad])]
    a = to_utm(area)
    n = len(g)
    assert n >= 1
    # 1. Tiling: union equals the area, no overlaps, no slivers.
    union = shapely.union_all(g)
    tol = 1e-6 * a.area + 1.0
    assert shapely.area(shapely.symmetric_difference(union, a)) < tol, "grids must tile area"
    assert abs(shapely.area(g).sum() - union.area) < tol, "grids must not overlap"
    parts = shapely.get_parts(g)
    assert shapely.area(parts).min() > 1.0, "no sliver parts"
    # 2. Connected, else flagged.
    for geom, flags in zip(g, grids["flags"], strict=True):
        if shapely.get_num_geometries(geom) > 1:
            assert "multipart" in flags
        else:
            assert geom.geom_type == "Polygon"
    # 3. Never split a building: each footprint (inside the area) lies in its grid.
    codes = grids["code"].to_numpy()
    code_pos = {c: i for i, c in enumerate(codes)}
    bg = result.building_grid.reindex(buildings.index)
    assert bg.notna().all(), "every building is assigned"
    pos = np.array([code_pos[c] for c in bg])
    fp = shapely.intersection(to_utm(np.asarray(buildings.geometry.values, dtype=object)), a)
    outside = shapely.area(shapely.difference(fp, g[pos]))
    assert (outside <= 1e-6 * shapely.area(fp) + 1e-3).all(), "a building is split"
    # 4. Bounds: households recounted; out of bounds only with a matching flag.
    hh = np.bincount(pos, weights=buildings["households"].to_numpy(float), minlength=n)
    assert np.array_equal(hh.astype(int), grids["households"].to_numpy()), "household sums"
    counts = np.bincount(pos, minlength=n)
    assert np.array_equal(counts, grids["building_count"].to_numpy())
    lo, hi = params.min_households, params.max_households
    bh = buildings["households"].to_numpy()
    for i, (h, flags) in enumerate(zip(hh, grids["flags"], strict=True)):
        if h < lo:
            assert any(f.startswith("under_min") for f in flags), f"grid {i} silently < min"
        if h > hi:
            assert any(f.startswith("over_max") for f in flags), f"grid {i} silently > max"
        if "over_max:single_building" in flags:
            assert (bh[pos == i] > hi).any(), "single-building flag without such building"
        if lo <= h <= hi:
            assert not any(f.startswith(("under_min", "over_max")) for f in flags)
    s = result.summary
    # a grid in several parts is never counted within bounds, whatever its households (the
    # engine's rule: 网格分成 k 块…不计为界内); a generated layout rarely makes one in bounds
    multi = grids["flags"].map(lambda f: "multipart" in f).to_numpy()
    within = (hh >= lo) & (hh <= hi) & ~multi
    assert s["n_grids"] == n and s["n_within_bounds"] == int(within.sum())
    assert len(s["flagged"]) == sum(1 for f in grids["flags"] if f)
    # 8. Codes: 15 digits, prefix, sequence 001..n in north→south rows, west→east.
    assert all(len(c) == 15 and c.isdigit() for c in codes)
    assert all(c.startswith(params.code_prefix) for c in codes)
    assert sorted(int(c[-3:]) for c in codes) == list(range(1, n + 1))
    assert list(codes) == sorted(codes)
    # Staffing 1 + ceil(hh / ratio).
    assert (grids["leader_count"] == 1).all()
    expect = [math.ceil(h / params.households_per_worker) for h in hh]
    assert grids["worker_count"].tolist() == expect
    pp = 4 * math.pi * shapely.area(g) / shapely.length(g) ** 2
    assert np.allclose(pp, grids["polsby_popper"], atol=1e-3)


def assert_same(r1: PartitionResult, r2: PartitionResult) -> None:
    """Invariant 7: same seed, same plan (codes, counts and geometry)."""
    assert r1.grids["code"].tolist() == r2.grids["code"].tolist()
    assert r1.grids["households"].tolist() == r2.grids["households"].tolist()
    assert r1.building_grid.equals(r2.building_grid)
    assert all(
        shapely.equals_exact(a, b, 0.0)
        for a, b in zip(r1.grids.geometry, r2.grids.geometry, strict=True)
    )


# --------------------------------------------------------------------------- layouts
def layout(
    nx: int,
    ny: int,
    per_block: list[list[int]],
    block: float = 100.0,
    drop: tuple[int, ...] = (),
    hole: bool = False,
    island: list[int] | None = None,
    tower: int | None = None,
) -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A street grid of nx × ny blocks; per_block[j*nx+i] = households of its buildings.

    ``hole`` cuts a lake out of the middle (buildings avoid it); ``island`` adds a separate
    area polygon east of the city with those buildings (an enclosed block); ``tower`` puts
    one building of that many households in block 0. All built in UTM, returned in WGS 84.
    """
    x0, y0 = 440_000.0, 4_430_000.0
    area = shapely.box(x0, y0, x0 + nx * block, y0 + ny * block)
    lake = shapely.box(
        x0 + 0.3 * nx * block, y0 + 0.35 * ny * block, x0 + 0.7 * nx * block, y0 + 0.65 * ny * block
    )
    if hole:
        area = area.difference(lake)
    lines = []
    for i in range(1, nx):
        lines.append(shapely.LineString([(x0 + i * block, y0), (x0 + i * block, y0 + ny * block)]))
    for j in range(1, ny):
        lines.append(shapely.LineString([(x0, y0 + j * block), (x0 + nx * block, y0 + j * block)]))
    lines = [ln for k, ln in enumerate(lines) if k not in drop]
    geoms, hh = [], []
    for j in range(ny):
        for i in range(nx):
            values = per_block[(j * nx + i) % len(per_block)]
            m = len(values)
            cols = max(1, math.ceil(math.sqrt(m)))
            rows = math.ceil(m / cols)
            cw, ch = (block - 20) / cols, (block - 20) / rows
            for k, h in enumerate(values):
                r, c = divmod(k, cols)
                bx = x0 + i * block + 10 + c * cw
                by = y0 + j * block + 10 + r * ch
                fp = shapely.box(bx + 0.15 * cw, by + 0.15 * ch, bx + 0.85 * cw, by + 0.85 * ch)
                if hole and fp.intersects(lake.buffer(2)):
                    continue
                geoms.append(fp)
                hh.append(h)
    if tower is not None:
        geoms.append(shapely.box(x0 + 2, y0 + 2, x0 + 9, y0 + 9))
        hh.append(tower)
    if island:
        isl = shapely.box(x0 + nx * block + 50, y0, x0 + nx * block + 130, y0 + 80)
        area = shapely.union(area, isl)
        for k, h in enumerate(island):
            bx = x0 + nx * block + 55 + 12 * (k % 5)
            by = y0 + 5 + 12 * (k // 5)
            geoms.append(shapely.box(bx, by, bx + 8, by + 8))
            hh.append(h)
    b = gpd.GeoDataFrame({"households": hh}, geometry=to_wgs(np.array(geoms)), crs=4326)
    s = gpd.GeoDataFrame(geometry=to_wgs(np.array(lines, dtype=object)), crs=4326)
    return to_wgs(area), b, s


def run_and_check(area, b, s, params) -> PartitionResult:
    r = partition(area, b, s, params)
    check_partition(area, b, params, r)
    return r


# --------------------------------------------------------------------------- properties
households = st.integers(min_value=0, max_value=220)
block_lists = st.lists(st.lists(households, min_size=1, max_size=9), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nx=st.integers(1, 4),
    ny=st.integers(1, 4),
    per_block=block_lists,
    bounds=st.tuples(st.integers(0, 400), st.integers(0, 300)),
    drop=st.sets(st.integers(0, 6), max_size=3),
    hole=st.booleans(),
    seed=st.integers(0, 3),
)
def test_invariants_on_generated_layouts(nx, ny, per_block, bounds, drop, hole, seed):
    lo, width = bounds
    params = PartitionParams(lo, max(1, lo + width), seed=seed)
    area, b, s = layout(nx, ny, per_block, drop=tuple(drop), hole=hole and nx * ny >= 4)
    if len(b) == 0:
        return
    r = run_and_check(area, b, s, params)
    assert_same(r, partition(area, b, s, params))


def test_river_hole_grids_avoid_the_lake():
    area, b, s = layout(4, 4, [[40] * 9], hole=True)
    r = run_and_check(area, b, s, PartitionParams(300, 500))
    lake = to_utm(area).interiors
    assert len(list(lake)) == 1
    assert r.summary["share_feasible_within_bounds"] == 1.0


def test_single_tower_over_max_is_flagged():
    area, b, s = layout(3, 3, [[60] * 6], tower=900)
    r = run_and_check(area, b, s, PartitionParams(300, 500))
    flagged = r.grids[r.grids["flags"].map(lambda f: "over_max:single_building" in f)]
    assert len(flagged) == 1 and flagged["households"].iloc[0] >= 900
    assert r.summary["n_infeasible"] >= 1


def test_enclosed_block_under_min_is_flagged():
    area, b, s = layout(3, 3, [[60] * 6], island=[10, 20, 5])
    r = run_and_check(area, b, s, PartitionParams(300, 500))
    enclosed = r.grids[r.grids["flags"].map(lambda f: "under_min:enclosed_block" in f)]
    assert enclosed["households"].tolist() == [35]
    assert r.summary["share_feasible_within_bounds"] == 1.0


def test_min_equals_max():
    area, b, s = layout(2, 2, [[50] * 8])
    r = run_and_check(area, b, s, PartitionParams(400, 400))
    assert (r.grids["households"] == 400).all()


def test_zero_household_buildings_and_empty_blocks():
    area, b, s = layout(3, 2, [[0, 0, 0], [120, 130, 0, 90], [0]])
    run_and_check(area, b, s, PartitionParams(200, 400))


def test_no_streets_divides_area_by_cells():
    area, b, _ = layout(3, 3, [[45] * 9])
    r = run_and_check(area, b, None, PartitionParams(300, 500))
    assert r.summary["share_feasible_within_bounds"] == 1.0


def test_seed_changes_nothing_invalid_and_is_deterministic():
    area, b, s = layout(4, 3, [[35, 80, 20, 65, 50]])
    r0 = run_and_check(area, b, s, PartitionParams(250, 450, seed=0))
    r1 = run_and_check(area, b, s, PartitionParams(250, 450, seed=7))
    assert_same(r1, partition(area, b, s, PartitionParams(250, 450, seed=7)))
    assert r0.summary["households_total"] == r1.summary["households_total"]


def test_input_in_another_crs_is_converted():
    area, b, s = layout(2, 2, [[60] * 6])
    r = partition(area, b.to_crs(UTM), s.to_crs(UTM), PartitionParams(300, 500))
    check_partition(area, b, PartitionParams(300, 500), r)


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    return layout(2, 1, [[60] * 4])


@pytest.mark.parametrize(
    ("lo", "hi", "message"),
    [(500, 300, "greater than"), (-1, 300, ">= 0"), (0, 0, "> 0")],
)
def test_bad_bounds(small, lo, hi, message):
    area, b, s = small
    with pytest.raises(InputError, match=message):
        partition(area, b, s, PartitionParams(lo, hi))


def test_no_buildings(small):
    area, b, s = small
    with pytest.raises(InputError, match="no buildings"):
        partition(area, b.iloc[:0], s, PartitionParams(100, 200))


def test_buildings_outside_area(small):
    area, b, s = small
    far = b.copy()
    far.geometry = far.geometry.translate(0.05, 0)
    with pytest.raises(InputError, match="outside"):
        partition(area, far, s, PartitionParams(100, 200))


def test_invalid_polygons(small):
    area, b, s = small
    bad = b.copy()
    x, y = area.centroid.x, area.centroid.y
    d = 1e-4
    bowtie = shapely.Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d)])
    bad.loc[bad.index[0], "geometry"] = bowtie
    with pytest.raises(InputError, match="invalid"):
        partition(area, bad, s, PartitionParams(100, 200))
    with pytest.raises(InputError, match="area"):
        partition(bowtie, b, s, PartitionParams(100, 200))
    with pytest.raises(InputError, match="Polygon"):
        partition(area.boundary, b, s, PartitionParams(100, 200))


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "missing"), (-3, "negative"), (2.5, "not an integer"), ("many", "not a number")],
)
def test_bad_households(small, value, message):
    area, b, s = small
    bad = b.copy()
    bad["households"] = bad["households"].astype(object)
    bad.loc[bad.index[1], "households"] = value
    with pytest.raises(InputError, match=message):
        partition(area, bad, s, PartitionParams(100, 200))


def test_missing_households_column(small):
    area, b, s = small
    with pytest.raises(InputError, match="households"):
        partition(area, b.drop(columns="households"), s, PartitionParams(100, 200))


def test_bad_code_prefix(small):
    area, b, s = small
    with pytest.raises(InputError, match="12 digits"):
        partition(area, b, s, PartitionParams(100, 200, code_prefix="1101"))


def test_checker_catches_broken_plans():
    """The checker itself must fail on plans that break the invariants."""
    import copy

    area, b, s = layout(3, 2, [[70] * 6])
    params = PartitionParams(300, 500)
    r = partition(area, b, s, params)
    check_partition(area, b, params, r)
    gap = copy.deepcopy(r)
    gap.grids = gap.grids.iloc[1:].reset_index(drop=True)
    with pytest.raises(AssertionError):
        check_partition(area, b, params, gap)
    moved = copy.deepcopy(r)
    other = [c for c in moved.grids["code"] if c != moved.building_grid.iloc[0]][0]
    moved.building_grid.iloc[0] = other
    with pytest.raises(AssertionError):
        check_partition(area, b, params, moved)
    silent = copy.deepcopy(r)
    silent.grids.loc[0, "households"] = 999
    with pytest.raises(AssertionError):
        check_partition(area, b, params, silent)
    shifted = copy.deepcopy(r)
    shifted.grids.geometry = shifted.grids.geometry.translate(1e-4, 0)
    with pytest.raises(AssertionError):
        check_partition(area, b, params, shifted)


# --------------------------------------------------------------------------- levels 2/3
def test_level2_and_level3_nest_inside_their_parents():
    from geo.partition.levels import LevelParams, level2_grids, level3_units

    area, b, s = layout(2, 2, [[40, 70, 25, 0, 55, 30]])
    r = partition(area, b, s, PartitionParams(200, 400))
    x0, y0 = 440_000.0, 4_430_000.0
    compounds = gpd.GeoDataFrame(
        geometry=[to_wgs(shapely.box(x0, y0, x0 + 100, y0 + 100))], crs=4326
    )
    l2, bmap = level2_grids(r, b, compounds)
    assert set(l2["kind"]) == {"compound", "building"}
    assert l2["households"].sum() == b["households"].sum()
    assert all(c[:15] == p for c, p in zip(l2["code"], l2["parent_code"], strict=True))
    assert all(len(c) == 18 for c in l2["code"])
    g1 = dict(zip(r.grids["code"], to_utm(np.asarray(r.grids.geometry.values)), strict=True))
    for geom, parent in zip(to_utm(np.asarray(l2.geometry.values)), l2["parent_code"], strict=True):
        assert shapely.area(shapely.difference(geom, g1[parent])) < 1e-3 * geom.area + 0.01
    b2 = b.copy()
    b2["units"] = [3 if i == 0 else None for i in range(len(b))]
    l3 = level3_units(b2, bmap, LevelParams(households_per_unit=20))
    for idx, fp in zip(b.index, to_utm(np.asarray(b.geometry.values)), strict=True):
        mine = l3[l3["building"] == idx]
        expect = 3 if idx == b.index[0] else max(1, math.ceil(b.loc[idx, "households"] / 20))
        assert len(mine) == expect
        assert mine["households"].sum() == b.loc[idx, "households"]
        pieces = to_utm(np.asarray(mine.geometry.values))
        assert abs(shapely.area(pieces).sum() - fp.area) < 1e-3 * fp.area
        assert abs(shapely.union_all(pieces).area - fp.area) < 1e-3 * fp.area


def test_rural_groups_then_about_n_households():
    from geo.partition.rural import rural_partition

    area, b, s = layout(3, 2, [[20, 35, 15, 25, 30, 10]])
    x = to_utm(np.asarray(b.geometry.values))
    cx = shapely.get_coordinates(shapely.centroid(x))[:, 0]
    b = b.assign(group=np.where(cx < np.median(cx), "一组", "二组"))
    res = rural_partition(area, b, s, households_per_grid=60, tolerance=0.5)
    assert list(res.groups["group"].sort_values()) == ["一组", "二组"]
    g = to_utm(np.asarray(res.groups.geometry.values))
    a = to_utm(area)
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(g), a)) < 1e-6 * a.area + 1
    assert res.level2["households"].sum() == b["households"].sum()
    assert res.building_level2.notna().all()
    for parent, hh in res.level2.groupby("parent_code")["households"].sum().items():
        grp = res.groups.loc[res.groups["code"] == parent, "households"].iloc[0]
        assert hh == grp
