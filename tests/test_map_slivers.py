"""geo.map_data.drop_slivers on the shapes an overlay of grids really leaves."""

from __future__ import annotations

import warnings

import shapely
from shapely.geometry import mapping, shape

from geo.map_data import drop_slivers

# a 40 m × 40 m block in Haidian and a part collapsed to one of its corners (four equal
# vertices: what a difference of two grids sharing that corner left in the editor's data)
_BLOCK = shapely.box(116.3300, 39.9900, 116.33047, 39.99036)
_POINT_RING = shapely.Polygon([(116.3300, 39.9900)] * 4)
_SLIVER = shapely.box(116.3300, 39.9900, 116.33047, 39.9900001)  # 1 cm wide


def test_a_collapsed_part_is_dropped_without_a_warning() -> None:
    """A part with no area is no width: dropped, and GEOS is not asked to buffer it (its
    "invalid value encountered in buffer" RuntimeWarning filled CI's log 33 times)."""
    geom = mapping(shapely.MultiPolygon([_BLOCK, _POINT_RING]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = drop_slivers(geom)
    assert out is not None
    assert shape(out).equals(shapely.MultiPolygon([_BLOCK]))


def test_only_slivers_and_collapsed_parts_give_none() -> None:
    """Nothing at least a metre wide: no polygon at all (the caller draws nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert drop_slivers(mapping(shapely.MultiPolygon([_SLIVER, _POINT_RING]))) is None
        assert drop_slivers(mapping(_POINT_RING)) is None
