"""Small SVG charts for the side panels (household histogram, daily compliance).

Why hand-made SVG: two bar charts do not justify a charting library that would have to be
vendored and loaded offline; the SVG is built server-side and needs no script at all.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from maps.page import esc

# the plot's margins inside the SVG: the y labels on the left, the x labels below, the title
# above (and, in a compliance chart with today's bar, the "so far" line under the title)
LEFT, RIGHT, BOTTOM, TOP = 34, 6, 34, 18
# today's bar, not done yet (the patrol map's 待巡 pending colour, patrol_map.WALKED)
SO_FAR = "#4e79a7"
ZERO_STUB = 3.0  # px: a day at 0 % is a red stub, not nothing (T65 F6)
# a finished day's bar by its rate: all patrolled, half or more, under half. One table for
# the bars and the caption that explains them (maps.patrol_map.CHART_NOTE): the yellow 66.3 %
# bar was explained nowhere, and a red 45 % day read as the map legend's red 未走 (T71 #20)
RATE_COLORS = {"full": "#59a14f", "half": "#edc948", "low": "#e15759"}
HALF = 0.5


def rate_color(share: float, target: float = 1.0) -> str:
    """A finished day's bar colour: green at ``target`` (all), yellow from half, red below."""
    if share >= target:
        return RATE_COLORS["full"]
    return RATE_COLORS["half"] if share >= HALF else RATE_COLORS["low"]


def _frame(
    title: str,
    y_label: str,
    top_text: str,
    width: int,
    height: int,
    css_class: str,
    top: int = TOP,
) -> list[str]:
    """The SVG's opening, title, axes and y labels; the caller adds bars and closes it."""
    plot_w, plot_h = width - LEFT - RIGHT, height - BOTTOM - top
    return [
        # a viewBox, so the chart scales down to a panel narrower than it (gridward.css: width
        # 100%, at most its own): a fixed 340 px ran out of a 320 px phone's panel (T44 #6)
        f'<svg class="{css_class}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{LEFT}" y="14">{esc(title)}</text>',
        f'<line x1="{LEFT}" y1="{top + plot_h}" x2="{LEFT + plot_w}" y2="{top + plot_h}" '
        'stroke="#555"/>',
        f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="2" y="{top + 8}">{esc(top_text)}</text>',
        f'<text x="2" y="{top + plot_h}">0</text>',
        f'<text x="2" y="{height - 2}">{esc(y_label)}</text>',
    ]


def _bars(
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str],
    title: str,
    y_label: str,
    width: int = 340,
    height: int = 170,
    y_max: float | None = None,
    value_fmt: str = "{:g}",
    css_class: str = "gw-chart",
    tips: Sequence[str | None] | None = None,
    stacks: Sequence[Sequence[tuple[float, str, str]]] | None = None,
    spans: Sequence[tuple[float, float]] | None = None,
    ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """Bars with an axis; ``tips`` replaces a bar's hover value where not None. ``stacks``:
    per bar, its parts from the bottom up as (value, colour, hover text), drawn in place of
    the one-colour bar (``values`` are then the parts' sums, ``colors`` unused).

    ``spans``: per bar, where it starts and ends as shares (0–1) of the x axis, so bins of
    unequal width are drawn as wide as they are (T65 F10: 300–323 and 324–431 drew equally
    wide, the axis read as linear when it was not); ``ticks`` (share, label) then label the
    axis. Without them every bar is equally wide and labelled by ``labels``."""
    plot_w, plot_h = width - LEFT - RIGHT, height - BOTTOM - TOP
    top_value = y_max if y_max is not None else max([1.0, *values])
    n = max(1, len(values))
    if spans is None:
        spans = [(i / n, (i + 1) / n) for i in range(len(values))]
    parts = _frame(title, y_label, value_fmt.format(top_value), width, height, css_class)
    # at most ~6 x labels, so they never overlap at the 12-14 px text of gridward.css
    step = max(1, math.ceil(n / 6))
    for i, (lab, v, c) in enumerate(zip(labels, values, colors, strict=True)):
        tip = tips[i] if tips is not None and tips[i] is not None else value_fmt.format(v)
        x, bw = LEFT + plot_w * spans[i][0], plot_w * (spans[i][1] - spans[i][0])
        pieces = stacks[i] if stacks is not None else [(v, c, tip)]
        base = 0.0
        for pv, pc, ptip in pieces:
            if stacks is not None and pv <= 0:
                continue  # a part with no grid: nothing to draw or hover
            h = 0.0 if top_value <= 0 else plot_h * min(pv, top_value) / top_value
            cls = "gw-bar" if stacks is None else "gw-bar gw-bar-part"
            # 1 px of gap each side, none on a bin narrower than 3 px (it keeps its width)
            gap = 1.0 if bw >= 3 else 0.0
            parts.append(
                f'<rect class="{cls}" x="{x + gap:.1f}" y="{TOP + plot_h - base - h:.1f}" '
                f'width="{max(bw - 2 * gap, 0.5):.1f}" height="{h:.1f}" fill="{pc}">'
                f"<title>{esc(lab)}: {esc(ptip)}</title></rect>"
            )
            base += h
        if ticks is None and i % step == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{TOP + plot_h + 14}">{esc(lab)}</text>')
    for share, text in ticks or ():
        tx = LEFT + plot_w * share
        # centred on its tick; one that would run past the SVG's edge ends at its tick
        anchor = "end" if tx + 3.5 * len(text) > width else "middle"
        parts.append(
            f'<line class="gw-tick" x1="{tx:.1f}" y1="{TOP + plot_h}" x2="{tx:.1f}" '
            f'y2="{TOP + plot_h + 4}" stroke="#555"/>'
            f'<text x="{tx:.1f}" y="{TOP + plot_h + 16}" text-anchor="{anchor}">{esc(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_ticks(end: float, most: int = 7) -> list[float]:
    """Round values 0, s, 2s … ≤ ``end`` (s = 1, 2 or 5 × 10^k), at most ``most`` of them:
    a linear axis read at a glance."""
    if end <= 0:
        return [0.0]
    k = 10 ** math.floor(math.log10(end))
    for s in (k / 10, k / 5, k / 2, k, 2 * k, 5 * k, 10 * k):
        if end / s + 1 <= most:
            return [i * s for i in range(int(end // s) + 1)]
    return [0.0, end]


# the bands as the legend names them (maps/grid_map.py), bottom to top in a stacked bar
_BANDS = (("under", "不足 under"), ("within", "达标 within"), ("over", "超出 over"))


def household_histogram(
    households: Sequence[int],
    lo: int,
    hi: int,
    colors: dict[str, str],
    bins: int = 10,
    bounds: Sequence[tuple[int, int]] | None = None,
) -> str:
    """Histogram of grid households, bars coloured under / within / over [lo, hi]. The
    bounds are bar edges too, so a bar is wholly under, within or over: a bar coloured by
    its midpoint counted grids of 301–318 households as under 300 (outside tester M2). Each
    band is cut into bins of about equal width (:func:`_edges`), each bar drawn as wide as
    its bin on a linear axis (T65 F10), its hover giving its range (300–399: 5).

    ``bounds``: per grid (as ``households``), the (min, max) it is judged by, its
    community's plan's. All alike, they are ``lo``–``hi``; when they differ, each bar is
    stacked from its grids under, within and over their own bounds, so the grids of each
    colour add up to the legend's counts (T63 F: grids of 247 and 224 households, within
    their community's 200–500, sat in a blue "under" bar of the page's 300–500)."""
    if not households:
        return '<p class="gw-note">暂无网格 no grids yet</p>'
    ranges = set(bounds) if bounds is not None else {(lo, hi)}
    if len(ranges) > 1:
        return _stacked_histogram(households, list(bounds or ()), colors, bins)
    lo, hi = next(iter(ranges))
    edges, end = _edges(households, lo, hi, bins)
    counts = [0] * len(edges)
    for h in households:
        counts[max(0, bisect.bisect_right(edges, h) - 1)] += 1
    stops = [*edges[1:], end]
    cols = [
        colors["under"] if a < lo else colors["over"] if a > hi else colors["within"] for a in edges
    ]
    return _bars(
        [f"{a}–{b - 1}" if b - 1 > a else f"{a}" for a, b in zip(edges, stops, strict=True)],
        counts,
        cols,
        "网格户数分布 households per grid",
        "户数 households",
        css_class="gw-chart gw-histogram",
        spans=[(a / end, b / end) for a, b in zip(edges, stops, strict=True)],
        ticks=[(t / end, f"{t:g}") for t in _nice_ticks(end)],
    )


def _edges(households: Sequence[int], lo: int, hi: int, bins: int) -> tuple[list[int], int]:
    """Bin edges from 0, ``lo`` and ``hi + 1`` among them (so a bar is wholly under, within or
    over), and where the last bin ends (past the largest grid, at least a bin past ``hi``).
    Each band is cut into bins as near the regular width (the axis / ``bins``) as whole
    households allow. WHY: the bounds added to regular edges made bins of 24 and 108
    households side by side (T65 F10); drawn to scale, such bars misled by their area."""
    width = max(1, math.ceil(max(max(households), hi + 1) / bins))
    end = max(max(households) + 1, hi + 1 + width)

    def cut(a: int, b: int) -> list[int]:
        k = max(1, round((b - a) / width))
        return [a + round(i * (b - a) / k) for i in range(k)]

    return [*(cut(0, lo) if lo > 0 else []), *cut(lo, hi + 1), *cut(hi + 1, end)], end


def _stacked_histogram(
    households: Sequence[int], bounds: Sequence[tuple[int, int]], colors: dict[str, str], bins: int
) -> str:
    """Grids judged by several bounds: regular bars, each stacked under / within / over, a
    grid counted in the part of its own band."""
    top = max(max(households), *(b[1] + 1 for b in bounds))
    width = max(1, math.ceil(top / bins))
    edges = [i * width for i in range(bins)]
    counts = [dict.fromkeys(colors, 0) for _ in edges]
    for h, (a, b) in zip(households, bounds, strict=True):
        band = "under" if h < a else "over" if h > b else "within"
        counts[max(0, bisect.bisect_right(edges, h) - 1)][band] += 1
    stacks = [[(c[k], colors[k], f"{c[k]} {label}") for k, label in _BANDS] for c in counts]
    return _bars(
        [f"{a}" for a in edges],
        [sum(c.values()) for c in counts],
        [colors["within"]] * len(edges),
        "网格户数分布 households per grid",
        "户数 households",
        css_class="gw-chart gw-histogram",
        stacks=stacks,
    ) + (
        '<p class="gw-note" id="gw-histogram-note">各网格按其社区的户数范围着色，同一柱中可有'
        "不足、达标、超出。 Each grid is coloured by its own community's bounds: a bar may hold "
        "grids under, within and over.</p>"
    )


def rate_text(done: int, counted: int) -> str:
    """A rate as the daily report's XLSX shows it (one decimal, 62.5%, not 62%: T65 F7);
    nothing counted reads "—", not 0 %."""
    return f"{done / counted:.1%}" if counted > 0 else "—"


def compliance_chart(
    days: Sequence[str],
    done: Sequence[int],
    due: Sequence[int],
    pending: Sequence[int] | None = None,
    target: float = 1.0,
    label: str = "每日巡查达标率 daily compliance (%)",
    key: str = "all",
) -> str:
    """One bar per day from that day's counts: ``due`` duty-days, ``done`` patrolled, of them
    ``pending`` not done yet (today's: out of the rate, as the report's patrolled / (due −
    pending)). Three kinds of day must not look alike:

    * no duty (``due`` 0): no bar, its hover reads 无责任 (T36 F16: not a 0 % day);
    * a day at 0 %: a red stub labelled 0%, not a zero-height bar that looked exactly like a
      day without duties (T65 F6: the month's worst days disappeared);
    * today with duties still pending: the share done SO FAR of all due, hatched inside a
      dashed box of what is due, labelled 今天截至目前 so far. Its rate (pending left out) read
      as a finished 100 % bar beside 49 alleys still to walk (T65 F2).

    ``key`` makes the hatch pattern's id unique when a page has several charts."""
    pending = pending or [0] * len(days)
    width, height = 340, 170
    running = [p > 0 and d > 0 for d, p in zip(due, pending, strict=True)]
    top = TOP + (14 if any(running) else 0)  # a line under the title for "so far"
    plot_w, plot_h = width - LEFT - RIGHT, height - BOTTOM - top
    hatch = f"gw-sofar-{esc(key)}"
    parts = _frame(label, "%", "100", width, height, "gw-chart gw-compliance", top)
    parts.append(
        f'<defs><pattern id="{hatch}" patternUnits="userSpaceOnUse" width="5" height="5" '
        f'patternTransform="rotate(45)"><rect width="5" height="5" fill="#dbe5f1"/>'
        f'<rect width="2.5" height="5" fill="{SO_FAR}"/></pattern></defs>'
    )
    n = max(1, len(days))
    bw = plot_w / n
    base = top + plot_h
    step = max(1, math.ceil(n / 6))
    for i, (day, k, d, p) in enumerate(zip(days, done, due, pending, strict=True)):
        x, md = LEFT + i * bw, day[5:]
        counted = d - p
        if d <= 0:
            parts.append(
                _rect("gw-bar gw-noduty", x, base, bw, 0.0, "#bab0ac", md, "无责任 no duties")
            )
        elif running[i]:
            so_far = k / d
            tip = (
                f"今天截至目前 so far: 已巡 patrolled {k} / {d}（{so_far:.1%}），待巡 pending {p}；"
                "日巡达标率 daily compliance —（今天未结束 the day is not over）"
            )
            parts.append(
                f'<rect class="gw-bar-due" x="{x + 1:.1f}" y="{top:.1f}" '
                f'width="{max(bw - 2, 1):.1f}" height="{plot_h:.1f}" fill="none" '
                f'stroke="{SO_FAR}" stroke-dasharray="3 2"/>'
            )
            parts.append(
                _rect(
                    "gw-bar gw-bar-sofar", x, base, bw, plot_h * so_far, f"url(#{hatch})", md, tip
                )
            )
            parts.append(
                f'<text class="gw-sofar-label" x="{LEFT + plot_w}" y="{top - 4}" '
                f'text-anchor="end" fill="{SO_FAR}">今天截至目前 so far {so_far:.1%}</text>'
            )
        else:
            share = k / counted
            color = rate_color(share, target)
            h = max(plot_h * share, ZERO_STUB)
            tip = f"{share:.1%}（已巡 patrolled {k} / {counted}）"
            parts.append(_rect("gw-bar", x, base, bw, h, color, md, tip))
            if k == 0:
                parts.append(
                    f'<text class="gw-zero" x="{x + bw / 2:.1f}" y="{base - ZERO_STUB - 3:.1f}" '
                    f'text-anchor="middle" fill="#c0392b">0%</text>'
                )
        if i % step == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{base + 14}">{esc(md)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rect(
    cls: str, x: float, base: float, bw: float, h: float, fill: str, md: str, tip: str
) -> str:
    """One day's bar, standing on the axis at ``base``, with its hover text."""
    return (
        f'<rect class="{cls}" x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(bw - 2, 1):.1f}" '
        f'height="{h:.1f}" fill="{fill}"><title>{esc(md)}: {esc(tip)}</title></rect>'
    )
