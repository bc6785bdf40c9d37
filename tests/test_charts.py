"""The grid map's household histogram: a bar's colour says what every grid in it is.

Outside tester M2: bars 108 households wide were coloured by their midpoint, so the
216–323 bar, coloured "under", held five grids of 301–318 households, all within the
bounds [300, 500] (the legend said 0 under)."""

from __future__ import annotations

import re

from maps.charts import household_histogram

COLORS = {"under": "#under", "within": "#within", "over": "#over"}


def _bars(svg: str) -> list[tuple[int, int, str]]:
    """(first households of the bar, grids in it, colour) per bar."""
    found = re.findall(r'fill="(#\w+)"><title>(\d+): (\d+)</title>', svg)
    return [(int(start), int(n), colour) for colour, start, n in found]


def test_every_grid_is_in_a_bar_of_its_own_band() -> None:
    hh = [120, 299, 300, 301, 306, 311, 316, 318, 450, 500, 501, 980]
    bars = _bars(household_histogram(hh, 300, 500, COLORS))
    assert sum(n for _, n, _ in bars) == len(hh)
    by_colour = {c: sum(n for _, n, col in bars if col == c) for c in COLORS.values()}
    assert by_colour == {"#under": 2, "#within": 8, "#over": 2}, bars
    starts = [s for s, _, _ in bars]
    assert 300 in starts and 501 in starts and starts == sorted(starts)


def test_bounds_off_the_regular_edges_split_bars() -> None:
    bars = _bars(household_histogram([301, 306, 311, 316, 318], 300, 500, COLORS))
    assert [(s, n) for s, n, c in bars if c == "#under" and n] == [], bars


def test_a_day_without_duties_reads_no_duties_not_zero() -> None:
    """A grey bar (no duties that day) said "11-20: 0" on hover, as if nothing was walked
    (outside tester T36, F16); a day with duties still shows its rate."""
    from maps.charts import compliance_chart

    svg = compliance_chart(["2026-11-20", "2026-11-21", "2026-11-22"], [None, 0.0, 0.5])
    tips = re.findall(r"<title>([^<]*)</title>", svg)
    assert tips == ["11-20: 无责任 no duties", "11-21: 0", "11-22: 50"], tips


def test_today_with_alleys_due_is_not_a_day_without_duties() -> None:
    """Today's bar with ten alleys due and none done said 无责任 (T37, F2); with some done it
    showed the rate with no word of the rest. Both say what is pending now."""
    from maps.charts import compliance_chart

    days = ["2026-11-23", "2026-11-24", "2026-11-25"]
    svg = compliance_chart(days, [None, 2 / 3, None], pending=[0, 0, 10])
    tips = re.findall(r"<title>([^<]*)</title>", svg)
    assert tips == [
        "11-23: 无责任 no duties",
        "11-24: 66.7",
        "11-25: 今天尚无完成（待巡 10） none done yet (10 pending)",
    ]
    svg = compliance_chart(days[2:], [1.0], pending=[8])
    assert re.findall(r"<title>([^<]*)</title>", svg) == [
        "11-25: 100（今天待巡 8） (8 pending today)"
    ]
