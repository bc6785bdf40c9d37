"""Grid map 网格图 (/maps/grids): level-1 grids coloured by households against [min, max].

Level-1 grids are embedded (they are the subject, a few hundred per district, simplified);
levels 2/3, buildings, streets and alleys load from the API for the current view.
"""

from __future__ import annotations

from typing import Any

from maps.charts import household_histogram
from maps.page import add_panel, add_script, base_map, esc, render, title_block

COLORS = {"under": "#4e79a7", "within": "#59a14f", "over": "#e15759"}

_JS = "gwGridMap(map, DATA);"
PAGE_JS = "grid_map.js"


def build_grid_map(
    grids: dict[str, Any],
    bounds: tuple[float, float, float, float],
    min_households: int,
    max_households: int,
    tile_url: str | None = None,
    community: str | None = None,
) -> str:
    """The grid map page as HTML; ``community`` (the page's ?community=) is kept by the
    household-range form, so applying a range stays on that community."""
    hh = [int(f["properties"]["households"]) for f in grids["features"]]
    bands = {
        "under": sum(h < min_households for h in hh),
        "within": sum(min_households <= h <= max_households for h in hh),
        "over": sum(h > max_households for h in hh),
    }
    m = base_map(bounds, "网格图 grid map", tile_url, page_js=PAGE_JS)
    legend = "".join(
        f'<div><span class="gw-swatch" style="background:{COLORS[k]}"></span>{esc(label)} '
        f'<span class="gw-num" id="gw-n-{k}">{bands[k]}</span></div>'
        for k, label in (
            ("under", f"不足 under (< {min_households})"),
            ("within", f"达标 within [{min_households}, {max_households}]"),
            ("over", f"超出 over (> {max_households})"),
        )
    )
    total = sum(hh)
    panel = (
        title_block("网格图", "Grid map")
        + f'<p class="gw-note">一级网格 level-1 grids: <b id="gw-grid-count">{len(hh)}</b>, '
        f"户数合计 households: <b>{total}</b></p>"
        + f'<form method="get" class="gw-note">户数范围 households '
        f'<input name="min" type="number" min="0" value="{min_households}" style="width:5em"> – '
        f'<input name="max" type="number" min="0" value="{max_households}" style="width:5em"> '
        + (f'<input type="hidden" name="community" value="{esc(community)}">' if community else "")
        + '<button class="gw-btn" type="submit">应用 apply</button></form>'
        + f'<h2>图例 Legend</h2><div class="gw-legend">{legend}</div>'
        + "<h2>户数分布 Households</h2>"
        + household_histogram(hh, min_households, max_households, COLORS)
    )
    add_panel(m, panel)
    add_script(m, _JS, {"grids": grids, "min": min_households, "max": max_households})
    return render(m)
