"""Small SVG charts for the side panels (household histogram, daily compliance).

Why hand-made SVG: two bar charts do not justify a charting library that would have to be
vendored and loaded offline; the SVG is built server-side and needs no script at all.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from maps.page import esc


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
) -> str:
    """Bars with an axis; ``tips`` replaces a bar's hover value where not None (a day with
    no duties reads 无责任, not 0). ``stacks``: per bar, its parts from the bottom up as
    (value, colour, hover text), drawn in place of the one-colour bar (``values`` are then
    the parts' sums, ``colors`` unused)."""
    left, bottom, top = 34, 34, 18
    plot_w, plot_h = width - left - 6, height - bottom - top
    top_value = y_max if y_max is not None else max([1.0, *values])
    n = max(1, len(values))
    bw = plot_w / n
    parts = [
        # a viewBox, so the chart scales down to a panel narrower than it (gridward.css: width
        # 100%, at most its own): a fixed 340 px ran out of a 320 px phone's panel (T44 #6)
        f'<svg class="{css_class}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="14">{esc(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="2" y="{top + 8}">{esc(value_fmt.format(top_value))}</text>',
        f'<text x="2" y="{top + plot_h}">0</text>',
        f'<text x="2" y="{height - 2}">{esc(y_label)}</text>',
    ]
    # at most ~6 x labels, so they never overlap at the 12-14 px text of gridward.css
    step = max(1, math.ceil(n / 6))
    for i, (lab, v, c) in enumerate(zip(labels, values, colors, strict=True)):
        tip = tips[i] if tips is not None and tips[i] is not None else value_fmt.format(v)
        x = left + i * bw
        pieces = stacks[i] if stacks is not None else [(v, c, tip)]
        base = 0.0
        for pv, pc, ptip in pieces:
            if stacks is not None and pv <= 0:
                continue  # a part with no grid: nothing to draw or hover
            h = 0.0 if top_value <= 0 else plot_h * min(pv, top_value) / top_value
            cls = "gw-bar" if stacks is None else "gw-bar gw-bar-part"
            parts.append(
                f'<rect class="{cls}" x="{x + 1:.1f}" y="{top + plot_h - base - h:.1f}" '
                f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="{pc}">'
                f"<title>{esc(lab)}: {esc(ptip)}</title></rect>"
            )
            base += h
        if i % step == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{top + plot_h + 14}">{esc(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


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
    its midpoint counted grids of 301–318 households as under 300 (outside tester M2).

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
    top = max(max(households), hi + 1)
    width = max(1, math.ceil(top / bins))
    edges = sorted({i * width for i in range(bins)} | {lo, hi + 1})
    counts = [0] * len(edges)
    for h in households:
        counts[max(0, bisect.bisect_right(edges, h) - 1)] += 1
    labels = [f"{a}" for a in edges]
    cols = [
        colors["under"] if a < lo else colors["over"] if a > hi else colors["within"] for a in edges
    ]
    return _bars(
        labels,
        counts,
        cols,
        "网格户数分布 households per grid",
        "户 hh",
        css_class="gw-chart gw-histogram",
    )


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
        "户 hh",
        css_class="gw-chart gw-histogram",
        stacks=stacks,
    ) + (
        '<p class="gw-note" id="gw-histogram-note">各网格按其社区的户数范围着色，同一柱中可有'
        "不足、达标、超出。 Each grid is coloured by its own community's bounds: a bar may hold "
        "grids under, within and over.</p>"
    )


def compliance_chart(
    days: Sequence[str],
    shares: Sequence[float | None],
    target: float = 1.0,
    label: str = "每日巡查达标率 daily compliance (%)",
    pending: Sequence[int] | None = None,
) -> str:
    """Daily share of alleys patrolled (0–100 %), one bar per day; ``None`` for a day without
    duties (nothing to patrol: an empty grey bar whose hover reads 无责任, not a 0 % day:
    outside tester T36, F16). ``pending``: per day, duty-days not done yet (today's), out of
    the rate: a day with only those reads 今天尚无完成, one with some done adds the count
    (T37, F2: today's bar said 无责任 while ten alleys were due)."""
    colors = [
        "#bab0ac"
        if s is None
        else "#59a14f"
        if s >= target
        else "#e15759"
        if s < 0.5
        else "#edc948"
        for s in shares
    ]
    return _bars(
        [d[5:] for d in days],
        [0.0 if s is None else round(100 * s, 1) for s in shares],
        colors,
        label,
        "%",
        y_max=100.0,
        css_class="gw-chart gw-compliance",
        tips=[_tip(s, p) for s, p in zip(shares, pending or [0] * len(shares), strict=True)],
    )


def _tip(share: float | None, pending: int) -> str | None:
    """A compliance bar's hover text where the rate alone would mislead (None: the rate)."""
    if share is None:
        if pending:
            return f"今天尚无完成（待巡 {pending}） none done yet ({pending} pending)"
        return "无责任 no duties"
    if pending:
        return f"{round(100 * share, 1):g}（今天待巡 {pending}） ({pending} pending today)"
    return None
