"""Steward map 小巷管家图 (/maps/stewards): alleys coloured by steward, unstaffed alleys red
(grey when they lie outside every community, where no steward is expected), one person's
alleys highlighted on selection, coverage rates in the panel.

Colours: a greedy colouring of the stewards' neighbour graph (stewards with alleys within
~30 m of each other never share a colour) over a palette of 20, the least used free colour
first. WHY: 14 colours handed out in turn to 35 stewards gave neighbouring alleys of two
stewards one colour (tester).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from maps.page import add_panel, add_script, base_map, esc, render, title_block

NO_STEWARD = "#d62728"
OUTSIDE = "#9e9e9e"  # an alley outside every community: nobody's to staff
# distinct hues and shades, none red (no steward) or grey (outside communities)
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#393b79", "#637939", "#8c6d31", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
    "#6baed6", "#fd8d3c", "#74c476", "#ce6dbd",
)  # fmt: skip

_JS = "gwStewardMap(map, DATA);"
PAGE_JS = "steward_map.js"


def steward_colours(
    ids: Iterable[int], neighbours: Iterable[tuple[int, int]], palette: tuple[str, ...] = PALETTE
) -> dict[int, str]:
    """A colour per steward, different from each neighbour's while the palette lasts (most
    neighbours first; ties: the colour used least so far, so far-apart stewards vary too).
    With more neighbours than colours, the colour fewest neighbours hold."""
    ids = list(ids)
    near: dict[int, set[int]] = {i: set() for i in ids}
    for a, b in neighbours:
        if a in near and b in near and a != b:
            near[a].add(b)
            near[b].add(a)
    used: Counter[int] = Counter()
    pick: dict[int, int] = {}
    for i in sorted(ids, key=lambda i: (-len(near[i]), i)):
        clash = Counter(pick[j] for j in near[i] if j in pick)
        c = min(range(len(palette)), key=lambda c: (clash[c], used[c], c))
        pick[i] = c
        used[c] += 1
    return {i: palette[c] for i, c in pick.items()}


def _rates_table(rates: dict[str, Any]) -> str:
    """The coverage figures, inside communities (what GET /coverage counts) and outside."""

    def row(label: str, value: str, ident: str = "") -> str:
        attr = f' id="{ident}"' if ident else ""
        return f'<tr><td>{label}</td><td class="gw-num"{attr}>{value}</td></tr>'

    inside, staffed_in = rates["inside"], rates["inside_with_steward"]
    share_in = f" ({100 * staffed_in / inside:.1f}%)" if inside else ""
    outside = rates["outside"]
    return (
        '<table class="gw-table">'
        + row("小巷段 alley segments", str(rates["alleys"]))
        + row("有管家 with a steward", str(rates["alleys_with_steward"]), "gw-staffed")
        + row("按段 share by count", f"{100 * rates['share_alleys']:.1f}%")
        + row("按长度 share by length", f"{100 * rates['share_length']:.1f}%")
        + row(
            "社区内 in communities: 有管家 with a steward",
            f"{staffed_in} / {inside} 段{share_in}",
            "gw-inside",
        )
        + row(
            "社区外 not in any community",
            f"{outside} 段" + (f", 有管家 {rates['outside_with_steward']}" if outside else ""),
            "gw-outside",
        )
        + row(
            "按条 alleys in communities (as GET /coverage)",
            f"{rates['alley_streets_inside_with_steward']} / {rates['alley_streets_inside']}",
        )
        + row("管家人数 stewards", str(rates["stewards"]))
        + "</table>"
        + (
            '<p class="gw-note">社区外的小巷不属任何社区，不安排管家，覆盖率只算社区内的小巷'
            " · alleys outside every community are nobody's to staff: coverage "
            "(GET /coverage) counts the alleys inside communities</p>"
            if outside
            else ""
        )
    )


def build_steward_map(
    alleys: dict[str, Any],
    stewards: list[dict[str, Any]],
    rates: dict[str, Any],
    bounds: tuple[float, float, float, float],
    tile_url: str | None = None,
    neighbours: Iterable[tuple[int, int]] = (),
    user: str | None = None,
) -> str:
    """The steward map page as HTML; ``neighbours``: pairs of stewards whose alleys are
    near each other (they get different colours)."""
    colours = steward_colours((int(s["id"]) for s in stewards), neighbours)
    stewards = [{**s, "color": colours[int(s["id"])]} for s in stewards]
    m = base_map(bounds, "小巷管家图 steward map", tile_url, page_js=PAGE_JS)
    rows = "".join(
        f'<tr class="gw-click" data-person="{int(s["id"])}">'
        f'<td><span class="gw-swatch gw-steward-swatch" style="background:{s["color"]}">'
        f"</span>{esc(s['name'])}</td>"
        f'<td class="gw-num">{s["segments"]}</td>'
        f'<td class="gw-num">{s["length_m"]:.0f}</td></tr>'
        for s in stewards
    )
    options = "".join(f'<option value="{int(s["id"])}">{esc(s["name"])}</option>' for s in stewards)
    panel = (
        title_block("小巷管家图", "Alley stewards")
        + "<h2>覆盖率 Coverage</h2>"
        + _rates_table(rates)
        + '<h2>图例 Legend</h2><div class="gw-legend">'
        + f'<div><span class="gw-swatch" style="background:{NO_STEWARD}"></span>'
        "无管家 no steward</div>"
        + f'<div><span class="gw-swatch" style="background:{OUTSIDE}"></span>'
        "社区外 not in any community (无需管家 none expected)</div>"
        + "<div>其他颜色 other colours: 各管家 one per steward</div></div>"
        + '<h2>管家 Stewards</h2><p class="gw-note">选择查看其小巷 select to highlight: '
        f'<select id="gw-person"><option value="">全部 all</option>{options}</select></p>'
        + '<table class="gw-table"><tr><th>姓名 name</th><th class="gw-num">段 segs</th>'
        f'<th class="gw-num">米 m</th></tr>{rows}</table>'
    )
    add_panel(m, panel, user)
    names = {s["id"]: s["name"] for s in stewards}
    add_script(
        m,
        _JS,
        {
            "alleys": alleys,
            "stewards": stewards,
            "names": names,
            "noSteward": NO_STEWARD,
            "outside": OUTSIDE,
        },
    )
    return render(m)
