"""Steward map 小巷管家图 (/maps/stewards): alleys coloured by steward, unstaffed alleys red
(grey when they lie outside every community, where no steward is expected), one person's
alleys highlighted on selection, coverage rates in the panel.

Colours: a greedy colouring of the stewards' neighbour graph (stewards with alleys within
100 m of each other, geo.map_data.NEIGHBOUR_M, never share a colour) over a palette of 20,
the least used free colour first. WHY: 14 colours handed out in turn to 35 stewards gave
neighbouring alleys of two stewards one colour (tester). Far-apart stewards may share one,
and the legend says so (T65 F9: it promised one colour per steward); hovering an alley or
a name shows all of that steward's alleys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from geo.map_data import NEIGHBOUR_M
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


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _rates_table(rates: dict[str, Any]) -> str:
    """The coverage figures of the alleys that need a steward, those inside communities, as
    the coverage rates count them (by alley, by segment, by length); the alleys outside every
    community on a line of their own. WHY: the headline counted those 26 segments too
    (87.3 % / 75.6 %) while the line below and the coverage rates said 100 % (T65 F8)."""

    def row(label: str, value: str, ident: str = "") -> str:
        attr = f' id="{ident}"' if ident else ""
        return f'<tr><td>{label}</td><td class="gw-num"{attr}>{value}</td></tr>'

    inside, staffed_in = rates["inside"], rates["inside_with_steward"]
    streets = rates["alley_streets_inside"]
    staffed_streets = rates["alley_streets_inside_with_steward"]
    length = rates.get("inside_length", 0.0)
    staffed_length = rates.get("inside_length_with_steward", 0.0)
    outside, outside_staffed = rates["outside"], rates["outside_with_steward"]
    # 0 of them: said only when some are staffed (a steward given an alley nobody needs)
    staffed_words = f"（其中有管家 {outside_staffed} of them with a steward）"
    return (
        '<table class="gw-table">'
        + row(
            "按条 alleys with a steward",
            f"{staffed_streets} / {streets} 条 ({_pct(staffed_streets, streets)})",
            "gw-by-alley",
        )
        + row(
            "按段 segments with a steward",
            f"{staffed_in} / {inside} 段 ({_pct(staffed_in, inside)})",
            "gw-inside",
        )
        + row(
            "按长度 length with a steward",
            f"{staffed_length:.0f} / {length:.0f} 米 ({_pct(staffed_length, length)})",
            "gw-by-length",
        )
        + row("管家人数 stewards", str(rates["stewards"]))
        + row(
            "社区外小巷段 segments outside every community",
            f"{outside} 段" + (staffed_words if outside_staffed else ""),
            "gw-outside",
        )
        + "</table>"
        + '<p class="gw-note">覆盖率只算社区内、需要管家的小巷'
        + (f"；社区外的 {outside} 段小巷不属任何社区，无需管家，不计入" if outside else "")
        + " · coverage counts the alleys inside communities, which need a steward"
        + (
            f"; the {outside} segments outside every community are nobody's to staff and "
            "are not counted"
            if outside
            else ""
        )
        + "</p>"
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
        + f"<div>其他颜色：各管家一色，相距 {NEIGHBOUR_M:.0f} 米内的管家颜色不同，相距远的"
        "可能同色；悬停小巷或姓名可看该管家的全部小巷 other colours: one per steward, "
        "different for "
        f"stewards within {NEIGHBOUR_M:.0f} m of each other; far-apart stewards may share "
        "one: hover an alley or a name to see all of that steward's alleys</div></div>"
        + '<h2>管家 Stewards</h2><p class="gw-note">选择查看其小巷 select to highlight：'
        f'<select id="gw-person"><option value="">全部 all</option>{options}</select></p>'
        + '<table class="gw-table"><tr><th>姓名 name</th><th class="gw-num">路段 segments</th>'
        f'<th class="gw-num">长度（米）length (m)</th></tr>{rows}</table>'
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
