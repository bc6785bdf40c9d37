"""Grid map 网格图 (/maps/grids): level-1 grids coloured by households against [min, max].

Level-1 grids are embedded (they are the subject, a few hundred per district, simplified),
with the community outlines and names (grid codes repeat from one community to the next);
levels 2/3, buildings, streets and alleys load from the API for the current view.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from geo.plans import MAX_GRID_HOUSEHOLDS
from geo.settings import get_settings
from maps.charts import household_histogram
from maps.page import add_panel, add_script, base_map, esc, render, title_block

COLORS = {"under": "#4e79a7", "within": "#59a14f", "over": "#e15759"}
# what a community's name ends with, left out of the short name on grid labels
_SUFFIXES = ("社区居民委员会", "社区居委会", "村民委员会", "村委会", "居委会", "社区", "村")

_JS = "gwGridMap(map, DATA);"
PAGE_JS = "grid_map.js"
# a grid short of staff: its outline (grid_map.js) and the legend's swatch
SHORT_LINE = {"color": "#000", "weight": 4, "dashArray": "10 6"}
ESTIMATED = "（估算 estimated）"
# the page's own styles (gridward.css is shared): a short-staffed grid's label says 缺员
_STYLE = (
    "<style>.gw-label.gw-label-short{color:#b00020;border:1.5px solid #b00020}"
    '.gw-label.gw-label-short::after{content:" 缺员"}'
    ".gw-swatch-short{background:transparent;border:2px dashed #000;box-sizing:border-box}"
    "</style>"
)


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


def _metric(geom: Any) -> tuple[Any, float]:
    """``geom`` with longitudes shrunk by cos(latitude), so a circle in it is a circle on
    the ground (a degree of longitude is ~0.77 of one of latitude in Beijing), and the factor."""
    k = math.cos(math.radians(shapely.get_y(geom.centroid)))
    return shapely.transform(geom, lambda xy: xy * np.array([k, 1.0])), k


def label_point(geometry: dict[str, Any]) -> list[float] | None:
    """[lat, lon] of the centre of the widest circle inside the polygon (its pole of
    inaccessibility), None for no area. WHY not the bounding box's centre: that lies in
    another grid when a grid is L-shaped or bent (T65 F3: 东北 004's label sat inside
    东北 003, 西南 004's inside 西南 001); point_on_surface is inside but can hug an edge."""
    geom = shape(geometry)
    if geom.is_empty or geom.area <= 0:
        return None
    flat, k = _metric(geom)
    x0, y0, x1, y1 = flat.bounds
    centre = shapely.get_point(
        shapely.maximum_inscribed_circle(flat, max(x1 - x0, y1 - y0) / 500), 0
    )
    point = shapely.Point(shapely.get_x(centre) / k, shapely.get_y(centre))
    if not geom.contains(point):  # a sliver the tolerance missed
        point = geom.point_on_surface()
    return [round(float(shapely.get_y(point)), 6), round(float(shapely.get_x(point)), 6)]


def label_spots(geometry: dict[str, Any], n: int = 12) -> list[list[float]]:
    """Up to ``n`` [lat, lon] inside the polygon, spread apart, the most inward first (the
    pole of inaccessibility): where a community's name may go. The page takes the first
    that covers no other community's name, no control and the fewest grid labels. WHY: one
    fixed spot per community put 清华园东南社区 on another community's name at the opening
    zoom, and its name was hidden on every screen size (T65 F3)."""
    first = label_point(geometry)
    if first is None:
        return []
    geom = shape(geometry)
    flat, k = _metric(geom)
    x0, y0, x1, y1 = flat.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 18)[1:-1], np.linspace(y0, y1, 18)[1:-1])
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(flat, pts)]
    depth = shapely.distance(pts, flat.boundary)
    spread = max(x1 - x0, y1 - y0) / 6
    chosen = [shapely.Point(first[1] * k, first[0])]
    for i in np.argsort(-depth, kind="stable"):
        if len(chosen) >= n:
            break
        if all(pts[i].distance(c) >= spread for c in chosen):
            chosen.append(pts[i])
    return [first] + [
        [round(float(shapely.get_y(c)), 6), round(float(shapely.get_x(c)) / k, 6)]
        for c in chosen[1:]
    ]


def estimate_words(households: int, estimated: int) -> str:
    """How much of a household count is estimated, said where the count is shown (T65 F4:
    all 8,571 of the demo's were estimates from floor area, 李兆基科技大楼 401 户, and the
    map said nothing, yet they decide which grids are over and how many workers they get)."""
    if estimated <= 0 or households <= 0:
        return ""
    if estimated >= households:
        return ESTIMATED
    if 2 * estimated > households:
        return f"（多为估算：其中 {estimated} 户为估算 mostly estimated: {estimated} of them）"
    return f"（其中估算 {estimated} 户 of which {estimated} estimated）"


def community_estimate_words(households: int, estimated: int) -> str:
    """What a level-2/3 grid's hover adds to its households: its own buildings' sources are
    not on the page, its community's are (all, none or some estimated)."""
    if estimated <= 0 or households <= 0:
        return ""
    if estimated >= households:
        return ESTIMATED
    return "（本社区部分楼栋户数为估算 some of this community's counts are estimated）"


def staff_words(p: dict[str, Any], ratio: int) -> list[str]:
    """The hover's staffing lines: what is short, when anything is (no leader, too few
    full-time workers), then the full-time workers against 1 per ``ratio`` households (T65
    F13: 西南 003, 1019 户 with 10 workers, was short only in GET /coverage's 18/19). None
    for a grid with no staffing figures."""
    if "workers_needed" not in p:
        return []
    have, need = int(p.get("full_time", 0)), int(p["workers_needed"])
    figures = (
        f"专职网格员 full-time workers: {have} / 需 needed {need}"
        f"（每 {ratio} 户 1 名 1 per {ratio} households）"
    )
    short = p.get("short")
    if not short:
        return [figures]
    missing = []
    if short.get("leader"):
        missing.append(("无网格长", "no leader"))
    if short.get("workers"):
        n = int(short["workers"])
        missing.append(
            (f"专职网格员缺 {n} 名", f"{n} full-time worker{'s' if n > 1 else ''} short")
        )
    zh = "、".join(m[0] for m in missing)
    en = ", ".join(m[1] for m in missing)
    return [f"缺员 short-staffed: {zh} {en}", figures]


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
    ratio = get_settings().households_per_worker
    names = {f["properties"]["code"]: f["properties"]["name"] for f in areas["features"]}
    for f in grids["features"]:
        p = f["properties"]
        p["label"] = named[p["code"]]
        p["community_name"] = names.get(p.get("community"))
        p["label_at"] = label_point(f["geometry"])
        p["estimate"] = estimate_words(int(p["households"]), int(p.get("households_estimated", 0)))
        p["staff"] = staff_words(p, ratio)
    for f in areas["features"]:
        q = f["properties"]
        q["label_at"] = label_spots(f["geometry"])
        q["estimate"] = community_estimate_words(
            int(q.get("households", 0)), int(q.get("households_estimated", 0))
        )
    m = base_map(bounds, "网格图 grid map", tile_url, page_js=PAGE_JS)
    # full-width brackets in the Chinese, the figures once (T71 #24: 「不足 under (< 300)」)
    if len(ranges) == 1:
        labels = (
            ("under", f"不足（< {min_households}）under"),
            ("within", f"达标（{min_households}–{max_households}）within"),
            ("over", f"超出（> {max_households}）over"),
        )
    else:
        labels = (
            ("under", "不足（低于本社区下限）under its community's min"),
            ("within", "达标（本社区下限至上限）within its community's bounds"),
            ("over", "超出（高于本社区上限）over its community's max"),
        )
    legend = "".join(
        f'<div><span class="gw-swatch" style="background:{COLORS[k]}"></span>{esc(label)} '
        f'<span class="gw-num" id="gw-n-{k}">{bands[k]}</span></div>'
        for k, label in labels
    )
    short = [f["properties"] for f in grids["features"] if f["properties"].get("short")]
    legend += (
        '<div><span class="gw-swatch gw-swatch-short"></span>缺员 short-staffed（无网格长，或专职'
        f"网格员少于每 {ratio} 户 1 名） (no leader, or fewer full-time workers than 1 per "
        f'{ratio} households) <span class="gw-num" id="gw-n-short">{len(short)}</span></div>'
    )
    legend += _bounds_note(grids, judged, ranges, (min_households, max_households))
    total = sum(hh)
    estimated = sum(int(f["properties"].get("households_estimated", 0)) for f in grids["features"])
    top = MAX_GRID_HOUSEHOLDS
    panel = (
        _STYLE
        + title_block("网格图", "Grid map")
        + f'<p class="gw-note">一级网格 level-1 grids：<b id="gw-grid-count">{len(hh)}</b> 个，'
        f"户数合计 households：<b>{total}</b> 户"
        f'<span id="gw-total-estimate">{esc(estimate_words(total, estimated))}</span></p>'
        + _short_line(short)
        + _estimate_note(grids, total, estimated)
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
        # filled in by the page when a community's name has no room at the zoom shown
        + '<p class="gw-note" id="gw-area-note" role="status"></p>'
        + f"<h2>户数分布 Households{_histogram_mark(total, estimated)}</h2>"
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
            "estimated": ESTIMATED,
            "shortLine": SHORT_LINE,
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


def _short_line(short: list[dict[str, Any]]) -> str:
    """The panel's 缺员网格 line: how many grids are short of staff and which (their labels,
    10 at most), so the one /coverage counts short is found on the map (T65 F13)."""
    names = [esc(p.get("label") or p["code"]) for p in short]
    more = f" 等，共 {len(names)} 个 {len(names)} in all" if len(names) > 10 else ""
    which = "、".join(names[:10]) + more
    return (
        f'<p class="gw-note" id="gw-short">缺员网格 short-staffed grids: <b id="gw-short-count">'
        f"{len(short)}</b>" + (f"（{which}）" if short else "") + "</p>"
    )


def _estimate_note(grids: dict[str, Any], total: int, estimated: int) -> str:
    """Under the totals, when any count is an estimate: where estimates come from, that the
    bands and the staffing are judged on them, and how many grids are mostly estimated."""
    if estimated <= 0:
        return ""
    props = [f["properties"] for f in grids["features"]]
    mostly = sum(
        1 for p in props if 2 * int(p.get("households_estimated", 0)) > int(p["households"]) > 0
    )
    if estimated >= total:
        share, share_en, grids_zh, grids_en = "户数全部", "all", "", ""
    else:
        share, share_en = f"{total} 户中 {estimated} 户", f"{estimated} of {total}"
        grids_zh = f"{mostly} / {len(props)} 个网格的户数多为估算。"
        grids_en = f"{mostly} of {len(props)} grids are mostly estimated. "
    return (
        f'<p class="gw-note" id="gw-estimate-note">{share}为估算：未导入普查户数的楼栋按'
        "建筑面积估算，非住宅楼（教学楼、办公楼等）也会算出户数；网格的不足/超出和需配专职"
        f"网格员人数都按这些户数判断。{grids_zh}管理员导入普查户数后即按实数计。 Households: "
        f"{share_en} estimated. A building with no census count gets one estimated from its "
        "floor area, non-residential ones (teaching, offices) too; under/over and the full-time "
        f"workers a grid needs are judged on these counts. {grids_en}Once an administrator imports "
        "census counts, the real ones are used.</p>"
    )


def _histogram_mark(total: int, estimated: int) -> str:
    """The histogram's heading mark: its counts are the estimates the note explains."""
    if estimated <= 0:
        return ""
    return ESTIMATED if estimated >= total else "（含估算 incl. estimates）"
