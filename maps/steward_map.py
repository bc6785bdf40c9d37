"""Steward map 小巷管家图 (/maps/stewards): alleys coloured by steward, unstaffed alleys red,
one person's alleys highlighted on selection, coverage rates in the panel."""

from __future__ import annotations

from typing import Any

from maps.page import add_panel, add_script, base_map, esc, render, title_block

NO_STEWARD = "#d62728"

_JS = "gwStewardMap(map, DATA);"
PAGE_JS = "steward_map.js"


def build_steward_map(
    alleys: dict[str, Any],
    stewards: list[dict[str, Any]],
    rates: dict[str, Any],
    bounds: tuple[float, float, float, float],
    tile_url: str | None = None,
) -> str:
    """The steward map page as HTML."""
    m = base_map(bounds, "小巷管家图 steward map", tile_url, page_js=PAGE_JS)
    rows = "".join(
        f'<tr class="gw-click" data-person="{int(s["id"])}">'
        f'<td><span class="gw-swatch gw-steward-swatch" data-i="{i}"></span>{esc(s["name"])}</td>'
        f'<td class="gw-num">{s["segments"]}</td>'
        f'<td class="gw-num">{s["length_m"]:.0f}</td></tr>'
        for i, s in enumerate(stewards)
    )
    options = "".join(f'<option value="{int(s["id"])}">{esc(s["name"])}</option>' for s in stewards)
    panel = (
        title_block("小巷管家图", "Alley stewards")
        + "<h2>覆盖率 Coverage</h2>"
        + '<table class="gw-table">'
        + f'<tr><td>小巷段 alley segments</td><td class="gw-num">{rates["alleys"]}</td></tr>'
        + f"<tr><td>有管家 with a steward</td>"
        f'<td class="gw-num" id="gw-staffed">{rates["alleys_with_steward"]}</td></tr>'
        + f'<tr><td>按段 share by count</td><td class="gw-num">{100 * rates["share_alleys"]:.1f}%'
        "</td></tr>" + f'<tr><td>按长度 share by length</td><td class="gw-num">'
        f"{100 * rates['share_length']:.1f}%</td></tr>"
        + f'<tr><td>管家人数 stewards</td><td class="gw-num">{rates["stewards"]}</td></tr>'
        + "</table>"
        + '<h2>图例 Legend</h2><div class="gw-legend">'
        + f'<div><span class="gw-swatch" style="background:{NO_STEWARD}"></span>'
        "无管家 no steward</div><div>其他颜色 other colours: 各管家 one per steward</div></div>"
        + '<h2>管家 Stewards</h2><p class="gw-note">选择查看其小巷 select to highlight: '
        f'<select id="gw-person"><option value="">全部 all</option>{options}</select></p>'
        + '<table class="gw-table"><tr><th>姓名 name</th><th class="gw-num">段 segs</th>'
        f'<th class="gw-num">米 m</th></tr>{rows}</table>'
    )
    add_panel(m, panel)
    names = {s["id"]: s["name"] for s in stewards}
    js = _JS + (
        "document.querySelectorAll('.gw-steward-swatch').forEach(function (el) {"
        " el.style.background = gw.palette(Number(el.dataset.i)); });"
    )
    add_script(
        m,
        js,
        {"alleys": alleys, "stewards": stewards, "names": names, "noSteward": NO_STEWARD},
    )
    return render(m)
