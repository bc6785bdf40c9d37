"""The side panels' SVG charts (maps.charts), read back from the SVG they draw.

The grid map's household histogram: a bar's colour says what every grid in it is (outside
tester M2: bars 108 households wide were coloured by their midpoint, so the 216–323 bar,
coloured "under", held five grids of 301–318 households, all within the bounds [300, 500]),
and each bar is as wide as its bin on a linear axis (T65 F10).

The patrol map's compliance chart: a day without duties, a day at 0 % and today with duties
still pending each look like what they are (T36 F16, T65 F6, T65 F2)."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from maps.charts import compliance_chart, household_histogram

COLORS = {"under": "#under", "within": "#within", "over": "#over"}
BAR = re.compile(
    r'<rect class="gw-bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" '
    r'fill="(#\w+)"><title>(\d+)(?:–(\d+))?: (\d+)</title>'
)


def _bars(svg: str) -> list[tuple[int, int, int, str, float, float]]:
    """(first and last households of the bar, grids in it, colour, x, width) per bar."""
    return [
        (int(a), int(b or a), int(n), colour, float(x), float(w))
        for x, w, colour, a, b, n in BAR.findall(svg)
    ]


def test_every_grid_is_in_a_bar_of_its_own_band() -> None:
    hh = [120, 299, 300, 301, 306, 311, 316, 318, 450, 500, 501, 980]
    bars = _bars(household_histogram(hh, 300, 500, COLORS))
    assert sum(n for _, _, n, _, _, _ in bars) == len(hh)
    by_colour = {c: sum(b[2] for b in bars if b[3] == c) for c in COLORS.values()}
    assert by_colour == {"#under": 2, "#within": 8, "#over": 2}, bars
    starts = [b[0] for b in bars]
    assert 300 in starts and 501 in starts and starts == sorted(starts)
    for a, z, n, _c, _x, _w in bars:  # each bar counts exactly the grids of its range
        assert n == sum(a <= h <= z for h in hh), (a, z, n)


def test_bounds_off_the_regular_edges_split_bars() -> None:
    bars = _bars(household_histogram([301, 306, 311, 316, 318], 300, 500, COLORS))
    assert [(b[0], b[2]) for b in bars if b[3] == "#under" and b[2]] == [], bars


def test_bars_are_as_wide_as_their_bins_on_a_linear_axis() -> None:
    """T65 F10: the bounds 300 and 501 added to edges every 108 households made bins of 24,
    108, 69, 39 and 108 households (300–323, 324–431, 432–500, 501–539, 540–647) drawn
    equally wide, the axis ticked 0/216/324/501/648/864 as if linear. Now each band is cut
    into bins of about one width, each bar is as wide as its bin, and the axis' ticks are
    evenly spaced round numbers; every grid is still counted in its own bin."""
    hh = [305, 310, 312, 318, 322, 330, 350, 380, 400, 410, 420, 425, 430, 431, 470, 499]
    hh += [520, 600, 1019, 1080]
    svg = household_histogram(hh, 300, 500, COLORS)
    bars = _bars(svg)
    assert sum(b[2] for b in bars) == len(hh)
    for a, z, n, _c, _x, _w in bars:
        assert n == sum(a <= h <= z for h in hh), (a, z, n)
    # contiguous from 0, the bounds among the edges
    assert bars[0][0] == 0 and all(p[1] + 1 == q[0] for p, q in pairwise(bars))
    assert {300, 501} <= {b[0] for b in bars}
    # drawn to scale: pixels per household the same for every bar (1 px gap each side)
    scale = [(w + 2) / (z - a + 1) for a, z, _n, _c, _x, w in bars]
    assert max(scale) - min(scale) < 0.01, scale
    for p, q in pairwise(bars):  # each starts where the one before ends
        assert abs((p[4] + p[5] + 2) - q[4]) < 0.15, (p, q)
    widths = [z - a + 1 for a, z, *_ in bars]
    assert max(widths) / min(widths) < 1.25, widths  # 108 / 24 = 4.5 before
    ticks = re.findall(r'<line class="gw-tick" x1="([\d.]+)"[^>]*/><text[^>]*>(\d+)</text>', svg)
    values = [int(t) for _x, t in ticks]
    assert values == list(range(0, 1001, 200)), values
    gaps = {round(float(b[0]) - float(a[0]), 1) for a, b in pairwise(ticks)}
    assert max(gaps) - min(gaps) <= 0.2, gaps  # a linear axis


# the compliance chart: (class, height, fill, hover text) per day
DAY = re.compile(
    r'<rect class="(gw-bar[^"]*)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" '
    r'fill="([^"]+)"><title>([^<]*)</title>'
)


def test_a_day_without_duties_reads_no_duties_not_zero() -> None:
    """A grey bar (no duties that day) said "11-20: 0" on hover, as if nothing was walked
    (outside tester T36, F16); a day with duties shows its rate as the report's XLSX does
    (one decimal) and its counts."""
    svg = compliance_chart(["2026-11-20", "2026-11-21", "2026-11-22"], [0, 0, 1], [0, 2, 2])
    tips = [t for *_x, t in DAY.findall(svg)]
    assert tips == [
        "11-20: 无责任 no duties",
        "11-21: 0.0%（已巡 patrolled 0 / 2）",
        "11-22: 50.0%（已巡 patrolled 1 / 2）",
    ], tips


def test_a_day_at_zero_is_a_red_stub_not_a_blank() -> None:
    """T65 F6: 11-19…11-22 (86 alley duties each, none patrolled) were zero-height red bars,
    drawn exactly as the no-duty days beside them: the month's worst days disappeared. A
    0 % day is now a red stub marked 0%; a day without duties draws nothing."""
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    svg = compliance_chart(days, [0, 0, 43], [0, 86, 86])
    (_c0, h0, _f0, t0), (_c1, h1, f1, t1), (_c2, h2, _f2, _t2) = DAY.findall(svg)
    assert float(h0) == 0 and "无责任" in t0
    assert float(h1) >= 3 and f1 == "#e15759" and t1.startswith("11-19: 0.0%"), (h1, f1, t1)
    assert float(h2) > float(h1)
    zeros = re.findall(r'<text class="gw-zero" x="([\d.]+)"[^>]*>0%</text>', svg)
    assert len(zeros) == 1  # over the 11-19 bar only, not over the day without duties


def test_today_is_drawn_as_so_far_not_a_finished_rate() -> None:
    """T65 F2: with 51 of 100 duties done and 49 pending (the day not over), today's bar was
    a full green 100 % (the rate leaves pending out). It is now the share done so far of all
    due (51 %), hatched inside a dashed box of all that is due, labelled 今天截至目前 so far;
    the hover gives both figures. None done yet reads so far 0.0%, not 无责任."""
    days = ["2026-11-25", "2026-11-26"]
    svg = compliance_chart(days, [57, 51], [100, 100], pending=[0, 49])
    bars = DAY.findall(svg)
    assert [c for c, *_r in bars] == ["gw-bar", "gw-bar gw-bar-sofar"]
    cls, height, fill, tip = bars[1]
    due = re.search(r'<rect class="gw-bar-due"[^>]*height="([\d.]+)"', svg)
    assert due, svg
    assert float(height) / float(due.group(1)) == pytest.approx(0.51, abs=0.005)
    assert fill.startswith("url(#gw-sofar-") and "#59a14f" not in svg  # no finished green bar
    assert tip == (
        "11-26: 今天截至目前 so far: 已巡 patrolled 51 / 100（51.0%），待巡 pending 49；"
        "日巡达标率 daily compliance —（今天未结束 the day is not over）"
    ), tip
    assert re.search(r'class="gw-sofar-label"[^>]*>今天截至目前 so far 51.0%</text>', svg)
    none_yet = compliance_chart(days[1:], [0], [10], pending=[10])
    ((_c, height, _f, tip),) = DAY.findall(none_yet)
    assert float(height) == 0 and "so far: 已巡 patrolled 0 / 10（0.0%）" in tip, tip
    assert "日巡达标率 daily compliance —" in tip
    assert "今天截至目前 so far 0.0%" in none_yet and "无责任" not in none_yet


def test_two_charts_on_a_page_hatch_with_their_own_patterns() -> None:
    """Stewards' and chiefs' charts side by side: each hatch pattern's id is its own."""
    a = compliance_chart(["2026-11-26"], [1], [2], [1], key="alley_steward")
    b = compliance_chart(["2026-11-26"], [0], [2], [2], key="street_chief")
    ids = re.findall(r'<pattern id="([^"]+)"', a + b)
    assert len(ids) == len(set(ids)) == 2
