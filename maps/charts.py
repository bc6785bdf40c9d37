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
) -> str:
    """Bars with an axis; ``tips`` replaces a bar's hover value where not None (a day with
    no duties reads 无责任, not 0)."""
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
        h = 0.0 if top_value <= 0 else plot_h * min(v, top_value) / top_value
        x = left + i * bw
        parts.append(
            f'<rect class="gw-bar" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="{c}">'
            f"<title>{esc(lab)}: {esc(tip)}</title></rect>"
        )
        if i % step == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{top + plot_h + 14}">{esc(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def household_histogram(
    households: Sequence[int], lo: int, hi: int, colors: dict[str, str], bins: int = 10
) -> str:
    """Histogram of grid households, bars coloured under / within / over [lo, hi]. The
    bounds are bar edges too, so a bar is wholly under, within or over: a bar coloured by
    its midpoint counted grids of 301–318 households as under 300 (outside tester M2)."""
    if not households:
        return '<p class="gw-note">暂无网格 no grids yet</p>'
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
