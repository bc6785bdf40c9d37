"""The grid map's household histogram agrees with its legend when communities are judged by
different bounds (outside tester T63 F): the legend judged each community's grids by its own
plan's bounds (不足 0, 达标 17, 超出 3), while the histogram coloured its bars by the page's
300–500, so grids of 247 and 224 households, within their community's 200–500, showed in a
blue "under" bar. Each bar is now stacked from its grids under, within and over their own
bounds; the grids of each colour add up to the legend's counts."""

from __future__ import annotations

import re

from maps.charts import household_histogram
from maps.grid_map import COLORS, build_grid_map

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0.001, 0], [0.001, 0.001], [0, 0]]]}
A, B = "110108015001", "110108015002"
# the tester's case: A judged by 200–500 (its plan's), B by the page's 300–500
HOUSEHOLDS = {A: [247, 224, 310, 480, 520], B: [247, 305, 420, 499, 610, 150]}


def _grids() -> dict:
    feats = []
    for community, hh in HOUSEHOLDS.items():
        for i, h in enumerate(hh, 1):
            props = {"code": f"{community}{i:03d}", "community": community, "households": h}
            feats.append({"type": "Feature", "geometry": SQUARE, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _by_colour(svg: str) -> dict[str, int]:
    """Grids per colour, over every bar (or part of a bar) of the histogram."""
    svg = svg[svg.index('class="gw-chart gw-histogram"') :]
    svg = svg[: svg.index("</svg>")]
    out = dict.fromkeys(COLORS.values(), 0)
    for colour, n in re.findall(r'fill="(#\w+)"><title>\d+: (\d+)', svg):
        out[colour] += int(n)
    return out


def _legend(page: str) -> dict[str, int]:
    return {
        COLORS[k]: int(re.search(rf'id="gw-n-{k}">(\d+)<', page).group(1))  # type: ignore[union-attr]
        for k in COLORS
    }


def test_the_histogram_counts_each_grid_by_its_own_bounds_as_the_legend() -> None:
    page = build_grid_map(_grids(), (0, 0, 0.001, 0.001), 300, 500, grid_bounds={A: (200, 500)})
    legend = _legend(page)
    # A: 247, 224, 310, 480 within 200–500, 520 over; B: 305, 420, 499 within, 247 and
    # 150 under 300, 610 over
    assert legend == {COLORS["under"]: 2, COLORS["within"]: 7, COLORS["over"]: 2}, legend
    assert _by_colour(page) == legend  # 247 and 224 of A were in an "under" bar
    assert 'id="gw-histogram-note"' in page


def test_a_bar_holds_grids_of_several_bands_as_parts() -> None:
    hh = [247, 247, 150]
    svg = household_histogram(hh, 300, 500, COLORS, bounds=[(200, 500), (300, 500), (0, 100)])
    parts = re.findall(r'fill="(#\w+)"><title>(\d+): (\d+) ([^<]*)</title>', svg)
    starts = [start for _c, start, _n, _w in parts]
    shared = next(s for s in starts if starts.count(s) == 2)  # the bar of both 247s
    assert int(shared) <= 247
    bar = [(c, int(n), what) for c, start, n, what in parts if start == shared]
    assert bar == [  # bottom up: under, within, over
        (COLORS["under"], 1, "不足 under"),
        (COLORS["within"], 1, "达标 within"),
    ], parts
    assert _by_colour(svg) == {COLORS["under"]: 1, COLORS["within"]: 1, COLORS["over"]: 1}


def test_one_range_for_every_grid_draws_the_bars_as_before() -> None:
    hh = [120, 299, 300, 501]
    alike = household_histogram(hh, 300, 500, COLORS, bounds=[(300, 500)] * len(hh))
    assert alike == household_histogram(hh, 300, 500, COLORS)
    assert "gw-bar-part" not in alike and "gw-histogram-note" not in alike
