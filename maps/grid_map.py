"""Grid map 网格图 (/maps/grids): level-1 grids coloured by households against [min, max].

Level-1 grids are embedded (they are the subject, a few hundred per district, simplified),
with the community outlines and names (grid codes repeat from one community to the next);
levels 2/3, buildings, streets and alleys load from the API for the current view.
"""

from __future__ import annotations

import os
from typing import Any

from geo.plans import MAX_GRID_HOUSEHOLDS
from maps.charts import household_histogram
from maps.page import add_panel, add_script, base_map, esc, render, title_block

COLORS = {"under": "#4e79a7", "within": "#59a14f", "over": "#e15759"}
# what a community's name ends with, left out of the short name on grid labels
_SUFFIXES = ("社区居民委员会", "社区居委会", "村民委员会", "村委会", "居委会", "社区", "村")

_JS = "gwGridMap(map, DATA);"
PAGE_JS = "grid_map.js"


def short_names(names: dict[str, str]) -> dict[str, str]:
    """Community code → the part of its name that tells it from the others on the map:
    without 社区/村委会…, and without the start all of them share (清华园西北社区, 清华园东北社区
    → 西北, 东北). Less shortened (or the whole name) when that would make two alike."""
    base = {}
    for code, name in names.items():
        n = name or code
        for suffix in _SUFFIXES:
            if n.endswith(suffix) and len(n) > len(suffix):
                n = n[: -len(suffix)]
                break
        base[code] = n
    common = os.path.commonprefix(list(base.values())) if len(base) > 1 else ""
    short = {c: (n[len(common) :] or n) for c, n in base.items()}
    for names_tried in (short, base):
        if len(set(names_tried.values())) == len(names_tried):
            return names_tried
    return {c: n or c for c, n in names.items()}


def grid_labels(grids: dict[str, Any], shorts: dict[str, str]) -> dict[str, str]:
    """Grid code → its label on the map: the grid's number (the last 3 digits of its code),
    after its community's short name on a map of several communities' grids, on every grid
    alike. Why every grid: the name went only before a number that repeats on the map, so
    the tester read 「清华园东北 005」 and then bare 006, 007, 008 of the same community
    (T38 L15). The panel says what a label is; the hover gives the full code and community."""
    props = [f["properties"] for f in grids["features"]]
    several = len({p.get("community") for p in props}) > 1
    out = {}
    for p in props:
        code = str(p["code"])
        short = shorts.get(p.get("community") or "")
        # a grid whose community has no outline here: its full code, never a bare number
        out[code] = (f"{short} {code[-3:]}" if short else code) if several else code[-3:]
    return out


def build_grid_map(
    grids: dict[str, Any],
    bounds: tuple[float, float, float, float],
    min_households: int,
    max_households: int,
    tile_url: str | None = None,
    community: str | None = None,
    communities: dict[str, Any] | None = None,
    user: str | None = None,
    grid_bounds: dict[str, tuple[int, int]] | None = None,
) -> str:
    """The grid map page as HTML; ``community`` (the page's ?community=) is kept by the
    household-range form, so applying a range stays on that community. ``communities``:
    the community outlines, drawn with their names (shown at first on a map of several).
    ``grid_bounds``: community code → the bounds its grids are judged by (its current
    plan's); a grid of a community not in it is judged by ``min_households`` –
    ``max_households``. Each grid carries its bounds (``min``, ``max``) for the page."""
    judged = grid_bounds or {}
    hh, pairs = [], []
    for f in grids["features"]:
        p = f["properties"]
        lo, hi = judged.get(str(p.get("community")), (min_households, max_households))
        p["min"], p["max"] = lo, hi
        hh.append(int(p["households"]))
        pairs.append((lo, hi))
    bands = {
        "under": sum(h < lo for h, (lo, hi) in zip(hh, pairs, strict=True)),
        "within": sum(lo <= h <= hi for h, (lo, hi) in zip(hh, pairs, strict=True)),
        "over": sum(h > hi for h, (lo, hi) in zip(hh, pairs, strict=True)),
    }
    # one range on the page (every grid alike) reads as before; several: each grid by its
    # community's, said in the legend (T46 #12)
    ranges = sorted(set(pairs)) or [(min_households, max_households)]
    if len(ranges) == 1:
        min_households, max_households = ranges[0]
    areas = communities or {"type": "FeatureCollection", "features": []}
    shorts = short_names(
        {f["properties"]["code"]: f["properties"]["name"] for f in areas["features"]}
    )
    for f in areas["features"]:
        f["properties"]["short"] = shorts[f["properties"]["code"]]
    named = grid_labels(grids, shorts)
    names = {f["properties"]["code"]: f["properties"]["name"] for f in areas["features"]}
    for f in grids["features"]:
        p = f["properties"]
        p["label"] = named[p["code"]]
        p["community_name"] = names.get(p.get("community"))
    m = base_map(bounds, "网格图 grid map", tile_url, page_js=PAGE_JS)
    if len(ranges) == 1:
        labels = (
            ("under", f"不足 under (< {min_households})"),
            ("within", f"达标 within [{min_households}, {max_households}]"),
            ("over", f"超出 over (> {max_households})"),
        )
    else:
        labels = (
            ("under", "不足 under (< 本社区下限 its community's min)"),
            ("within", "达标 within [下限 min, 上限 max]"),
            ("over", "超出 over (> 本社区上限 its community's max)"),
        )
    legend = "".join(
        f'<div><span class="gw-swatch" style="background:{COLORS[k]}"></span>{esc(label)} '
        f'<span class="gw-num" id="gw-n-{k}">{bands[k]}</span></div>'
        for k, label in labels
    ) + _bounds_note(grids, judged, ranges, (min_households, max_households))
    total = sum(hh)
    top = MAX_GRID_HOUSEHOLDS
    panel = (
        title_block("网格图", "Grid map")
        + f'<p class="gw-note">一级网格 level-1 grids: <b id="gw-grid-count">{len(hh)}</b>, '
        f"户数合计 households: <b>{total}</b></p>"
        # checked in the page before it is sent (as the editor checks its bounds): a range
        # the server refuses never leaves the page
         + '<form id="gw-range" method="get" class="gw-note">户数范围 households '
        f'<input id="gw-range-min" name="min" type="number" min="0" max="{top}" step="1" '
        f'required value="{min_households}" style="width:5em"> – '
        f'<input id="gw-range-max" name="max" type="number" min="1" max="{top}" step="1" '
        f'required value="{max_households}" style="width:5em"> '
        + (f'<input type="hidden" name="community" value="{esc(community)}">' if community else "")
        + '<button class="gw-btn" type="submit">应用 apply</button>'
        '<div id="gw-range-msg" role="alert"></div></form>'
        + f'<h2>图例 Legend</h2><div class="gw-legend">{legend}</div>'
        + _label_note(grids, named)
        + "<h2>户数分布 Households</h2>"
        # each grid by its own bounds, as the legend counts it (T63 F)
        + household_histogram(hh, min_households, max_households, COLORS, bounds=pairs)
    )
    add_panel(m, panel, user)
    add_script(
        m,
        _JS,
        {
            "grids": grids,
            "min": min_households,
            "max": max_households,
            "maxHouseholds": top,
            "communities": areas,
            "community": community,
        },
    )
    return render(m)


def _bounds_note(
    grids: dict[str, Any],
    judged: dict[str, tuple[int, int]],
    ranges: list[tuple[int, int]],
    page: tuple[int, int],
) -> str:
    """Where the legend's bounds come from: the current plan of each community shown, or the
    page's range (the default 300–500 or the ?min=/?max= given)."""
    shown: dict[str, tuple[str, tuple[int, int]]] = {}
    for f in grids["features"]:
        p = f["properties"]
        code = str(p.get("community"))
        shown.setdefault(code, (str(p.get("community_name") or code), (p["min"], p["max"])))
    if not shown:
        return ""
    planned = {c: v for c, v in shown.items() if c in judged}
    if len(ranges) == 1:
        lo, hi = ranges[0]
        if len(planned) == len(shown):
            return (
                f'<p id="gw-bounds-note" class="gw-note">户数范围 {lo}–{hi}：所示社区现行方案的'
                f"户数范围 household bounds {lo}–{hi}: those of the current plans of the "
                "communities shown</p>"
            )
        return ""
    items = [f"{esc(name)} {lo}–{hi}" for _c, (name, (lo, hi)) in sorted(shown.items())]
    rest = "" if len(planned) == len(shown) else (f"；无方案户数范围的社区按 {page[0]}–{page[1]} ")
    rest_en = (
        ""
        if len(planned) == len(shown)
        else (f"; communities with no plan bounds by {page[0]}–{page[1]}")
    )
    return (
        '<p id="gw-bounds-note" class="gw-note">各社区网格按其现行方案的户数范围判断：'
        f"{'；'.join(items)}{rest} each community's grids are judged by the household bounds "
        f"of its current plan: {'; '.join(items)}{rest_en}</p>"
    )


def _label_note(grids: dict[str, Any], named: dict[str, str]) -> str:
    """What a grid's label on the map is, with one of the map's own as the example (the
    legend's line for it, T38 L15)."""
    props = [f["properties"] for f in grids["features"]]
    if not props:
        return ""
    example = esc(named[str(props[0]["code"])])
    if len({p.get("community") for p in props}) > 1:
        return (
            '<p id="gw-label-note" class="gw-note">网格标注：社区简称和网格编号（编码末 3 位），'
            f"如“{example}”；悬停可见完整编码和社区名。 Grid labels: the community's short "
            f"name and the grid's number (the last 3 digits of its code), e.g. {example}; "
            "hover for the full code and community.</p>"
        )
    name = esc(props[0].get("community_name") or props[0].get("community") or "")
    return (
        f'<p id="gw-label-note" class="gw-note">网格标注：网格编号（编码末 3 位），如“{example}”，'
        f"均属社区 {name}；悬停可见完整编码。 Grid labels: the grid's number (the last 3 "
        f"digits of its code), e.g. {example}, all in community {name}; hover for the full "
        "code.</p>"
    )
