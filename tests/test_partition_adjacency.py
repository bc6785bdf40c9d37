"""Atom adjacency is shared boundary of real length, and a grid connected on it is one
polygon.

Two defects behind grids "in two parts touching at one point":
* adjacency attributed a whole boundary segment by its midpoint, so a corner touching the
  middle of a neighbour's edge made the two atoms neighbours (and a short edge beside a
  long street side was missed);
* the dissolve of a grid's pieces left a micrometre wedge where a cell edge met a street
  side at a T-junction (grid 024 of the demo cut at 100–300 households, seed 2).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.partition.assemble import grid_polygons
from geo.partition.blocks import Blocks, Units
from geo.partition.graph import AtomGraph, build_graph
from geo.partition.tessellate import adjacency, shared_length

# Metric (UTM 50N) test shapes near Haidian.
X0, Y0 = 441_000.0, 4_427_000.0


def _graph(blocks: list[shapely.Geometry]) -> AtomGraph:
    """The atom graph of whole blocks, one small building in each."""
    geoms = np.array(blocks, dtype=object)
    units = shapely.buffer(shapely.point_on_surface(geoms), 0.5)
    return build_graph(
        Blocks(geoms=geoms, unit_block=np.arange(len(geoms))),
        Units(
            geoms=units,
            households=np.full(len(geoms), 10, dtype=np.int64),
            building_unit=np.arange(len(geoms)),
        ),
        split_threshold=10_000,
        internal_cut_penalty=3.0,
        sample_spacing=5.0,
    )


def _pairs(g: AtomGraph) -> set[tuple[int, int]]:
    return {(int(u), int(v)) for u, v in zip(g.eu, g.ev, strict=True)}


def test_atoms_touching_at_a_point_are_not_neighbours():
    """A block whose corner touches the middle of another block's 20 m side shares no
    boundary with it: no edge (it was one of 10 m)."""
    square = shapely.box(X0, Y0, X0 + 20, Y0 + 20)
    wedge = shapely.Polygon([(X0 + 10, Y0 + 20), (X0, Y0 + 30), (X0 + 20, Y0 + 30)])
    assert shapely.intersection(square, wedge).geom_type == "Point"
    assert shared_length(square, wedge) == 0.0
    assert len(adjacency(np.array([square, wedge], dtype=object))[0]) == 0
    g = _graph([square, wedge])
    assert _pairs(g) == set()


def test_corner_to_corner_blocks_are_not_neighbours():
    a = shapely.box(X0, Y0, X0 + 20, Y0 + 20)
    b = shapely.box(X0 + 20, Y0 + 20, X0 + 40, Y0 + 40)
    c = shapely.box(X0 + 20, Y0, X0 + 40, Y0 + 20)  # shares a side with both
    g = _graph([a, b, c])
    assert _pairs(g) == {(0, 2), (1, 2)}


def test_a_short_edge_beside_a_long_street_side_is_an_edge():
    """A's 20 m side is shared with B (0.8 m) and C (19.2 m): both are neighbours, with
    those lengths (the midpoint rule gave A–B 0.4 m, under the 0.5 m floor)."""
    a = shapely.box(X0, Y0, X0 + 20, Y0 + 10)
    b = shapely.box(X0, Y0 + 10, X0 + 0.8, Y0 + 20)
    c = shapely.box(X0 + 0.8, Y0 + 10, X0 + 20, Y0 + 20)
    u, v, w = adjacency(np.array([a, b, c], dtype=object))
    got = {(int(x), int(y)): float(z) for x, y, z in zip(u, v, w, strict=True)}
    assert got == pytest.approx({(0, 1): 0.8, (0, 2): 19.2, (1, 2): 10.0})
    assert shared_length(a, b) == pytest.approx(0.8)
    assert shared_length(b, a) == pytest.approx(0.8)
    assert _pairs(_graph([a, b, c])) == {(0, 1), (0, 2), (1, 2)}


def test_shared_length_ignores_vertices_off_by_float_noise():
    """Cells from different overlays meet with vertices a few nanometres apart."""
    a = shapely.box(X0, Y0, X0 + 30, Y0 + 10)
    b = shapely.Polygon(
        [(X0 + 30, Y0 + 10), (X0 + 12.5, Y0 + 10 + 3e-9), (X0, Y0 + 10), (X0, Y0 + 20)]
        + [(X0 + 30, Y0 + 20)]
    )
    assert shared_length(a, b) == pytest.approx(30.0)


# Four cells of grid 024 (demo cut, 100–300 households, seed 2), metres in UTM 50N: 94 and
# 95 from one block, 132 and 133 from the block across the street. 95's edge meets the
# street side at (441975.1877, 4427147.8107), a vertex 132's side does not have.
T_JUNCTION = [
    "POLYGON ((441985.22333874507 4427261.1941298945, 441984.4338758354 4427278.475064199, "
    "441979.45224938006 4427320.8966501495, 442070.7227326301 4427307.8777814545, "
    "442071.82125578733 4427291.323367204, 441985.22333874507 4427261.1941298945))",
    "POLYGON ((442080.37471220735 4427265.083765682, 442063.3284009007 4427171.461164654, "
    "441975.18765853764 4427147.810717226, 441972.74270737154 4427210.833270307, "
    "441986.9214789044 4427224.022721114, 441985.22333874507 4427261.1941298945, "
    "442071.82125578733 4427291.323367204, 442073.5718471918 4427264.94248019, "
    "442080.37471220735 4427265.083765682))",
    "POLYGON ((441972.74270737154 4427210.833270307, 441975.89429715363 4427129.595969096, "
    "441934.5396690884 4427130.383475856, 441930.205580709 4427208.7286822405, "
    "441972.74270737154 4427210.833270307))",
    "POLYGON ((441975.89429715363 4427129.595969096, 441977.58037334477 4427086.134640409, "
    "441897.2722815383 4427083.417395802, 441879.75302787824 4427082.823287798, "
    "441884.3627977384 4427096.849871844, 441934.5396690884 4427130.383475856, "
    "441975.89429715363 4427129.595969096))",
]


def test_cells_meeting_at_a_t_junction_dissolve_into_one_polygon():
    cells = shapely.from_wkt(np.array(T_JUNCTION, dtype=object))
    # What the plain micrometre-grid union makes of them (two parts meeting at a point):
    # if a GEOS release no longer does, this case no longer exercises the noding.
    plain = shapely.union_all(cells, grid_size=1e-6)
    assert shapely.get_num_geometries(plain) == 2
    assert shapely.intersection(*shapely.get_parts(plain)).geom_type == "Point"
    # The graph sees 95 and 132 as neighbours along 63 m of street side.
    u, v, w = adjacency(cells)
    got = {(int(x), int(y)): float(z) for x, y, z in zip(u, v, w, strict=True)}
    assert got[(1, 2)] == pytest.approx(63.07, abs=0.01)

    # The four cells as one grid, beside a second grid in each of their two blocks.
    far = [shapely.box(X0 + k * 10, Y0, X0 + k * 10 + 5, Y0 + 5) for k in (0, 2)]
    geoms = np.array([*cells, *far], dtype=object)
    n = len(geoms)
    units = shapely.buffer(shapely.point_on_surface(geoms), 0.5)
    block = np.array([0, 0, 1, 1, 0, 1])
    graph = AtomGraph(
        households=np.full(n, 10, dtype=np.int64),
        area=shapely.area(geoms),
        xy=shapely.get_coordinates(shapely.centroid(geoms)),
        block=block,
        unit_atom=np.arange(n),
        block_atom=np.full(2, -1),
        exploded=np.ones(2, dtype=bool),
        eu=np.zeros(0, dtype=np.int64),
        ev=np.zeros(0, dtype=np.int64),
        ecost=np.zeros(0),
        estreet=np.zeros(0, dtype=bool),
        geoms=geoms,
    )
    blocks = Blocks(
        geoms=np.array([shapely.union_all(geoms[block == b]) for b in (0, 1)], dtype=object),
        unit_block=block,
    )
    units_ = Units(geoms=units, households=graph.households.copy(), building_unit=np.arange(n))
    polys = grid_polygons(blocks, units_, graph, np.array([0, 0, 0, 0, 1, 1]), 2)
    assert polys[0].geom_type == "Polygon"
    assert shapely.area(polys[0]) == pytest.approx(shapely.area(shapely.union_all(cells)), abs=1e-3)
    assert shapely.is_valid(polys[0])
