"""The patrol map's figures as outside tester T65 read them before a meeting, on the scenario
of test_patrol_map_db (a real PostGIS): five alleys of stewards (3 patrolled on the day) and
two streets of a chief (1 patrolled).

- F2: opened on the day itself, the alleys not done yet are the report's ``pending``, drawn
  in their own colour with a legend entry (they were red 未走), the headline says what is
  done so far of all that is due, and today's bar is drawn as so far (it was a full 100 %).
- F7: the rates are the daily report's, per role and to one decimal (the page gave 57 % for
  stewards and chief together, a figure in no report, and 62 % where the XLSX says 62.5 %).
"""

from __future__ import annotations

import json
import re
from typing import Any

from geo.map_data import patrols_of_day
from geo.patrol_reports import build_report, pending_by_role
from maps.patrol_map import build_patrol_map
from tests.test_patrol_map_db import DAY, SHARE, _today, city  # noqa: F401 (fixture)

BOUNDS = (116.3, 39.99, 116.33, 40.01)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'")


def _data(page: str) -> dict[str, Any]:
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", page).group(1))  # type: ignore[union-attr]


def _chart(page: str, role: str) -> str:
    """The compliance chart under the role's caption."""
    at = page.index(f'class="gw-note gw-chart-role" data-role="{role}"')
    return page[at : page.index("</svg>", at)]


def _day_bars(svg: str) -> list[tuple[str, str]]:
    """(class, hover text) of each day's bar."""
    return re.findall(r'<rect class="(gw-bar[^"]*)"[^>]*><title>([^<]*)</title>', svg)


def test_today_pending_is_its_own_kind_and_today_reads_so_far(city) -> None:  # noqa: ANN001, F811
    db = city["db"]
    rep = build_report(db, "daily", DAY, patrolled_share=SHARE, today=DAY)
    want = {(int(r.alley_id), r.role) for r in rep["alleys"].itertuples() if r.pending}
    assert len(want) == 3  # a3, a4 and the chief's second street: not done yet, not missed
    d = patrols_of_day(db, DAY, threshold=SHARE, today=DAY)
    shown = {
        (f["properties"]["id"], f["properties"]["role"])
        for f in d.alleys["features"]
        if f["properties"]["pending"]
    }
    assert shown == want
    assert not any(
        f["properties"]["pending"] and f["properties"]["patrolled"] for f in d.alleys["features"]
    )
    # each chart day's pending per role, as the report's (the charts are per role)
    assert d.compliance[-1]["pending_roles"] == pending_by_role(rep) == d.pending_roles
    assert all(c["pending_roles"] == {} for c in d.compliance[:-1])
    page = build_patrol_map(d, BOUNDS, today=DAY)
    # the pending colour is the page's, with its legend entry (the legend had none: red 未走)
    data = _data(page)
    assert data["colors"]["pending"] not in (data["colors"]["none"], data["colors"]["part"])
    assert 'id="gw-legend-pending"' in page and "待巡 pending（今天尚未完成，不计入达标率" in page
    # the headline: done so far of all due (was "已巡 4 (100%)；今天待巡 3")
    head = _text(re.search(r'<p class="gw-note" id="gw-so-far">(.*?)</p>', page).group(1))  # type: ignore[union-attr]
    assert head.startswith(
        "责任街巷 assigned alleys/streets: 7；今天截至目前已巡 patrolled so far today: 4 / 7"
        "（57.1%）；待巡 pending: 3"
    ), head
    # today's bar: the share so far of all due, hatched, labelled; never a finished rate
    for role, done, due in (("alley_steward", 3, 5), ("street_chief", 1, 2)):
        bars = _day_bars(_chart(page, role))
        assert len(bars) == 14
        cls, tip = bars[-1]
        assert cls == "gw-bar gw-bar-sofar", (role, bars[-1])
        assert tip.startswith(
            f"{DAY.strftime('%m-%d')}: 今天截至目前 so far: 已巡 patrolled "
            f"{done} / {due}（{done / due:.1%}）"
        ), tip
        assert f"今天截至目前 so far {done / due:.1%}" in _chart(page, role)
    # the day after, the same day is over: no pending, no legend entry, no "so far"
    later = build_patrol_map(patrols_of_day(db, DAY, threshold=SHARE, today=_today()), BOUNDS)
    for gone in ("gw-legend-pending", "gw-bar-sofar", "gw-sofar-label", 'id="gw-so-far"'):
        assert gone not in later, gone


def test_the_rates_are_the_reports_per_role_to_one_decimal(city) -> None:  # noqa: ANN001, F811
    db = city["db"]
    rep = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today())
    areas = rep["areas"]
    top = areas[areas["level"] == "subdistrict"]
    want = {}
    for role, rows in top.groupby("role"):  # the report's own rate of each role, city-wide
        counted = int(rows["alley_days"].sum() - rows["pending"].sum())
        want[role] = f"{rows['patrolled'].sum() / counted:.1%}"
        if len(rows) == 1:
            assert want[role] == f"{float(rows['compliance'].iloc[0]):.1%}"
    assert want == {"alley_steward": "60.0%", "street_chief": "50.0%"}
    page = build_patrol_map(patrols_of_day(db, DAY, threshold=SHARE, today=_today()), BOUNDS)
    for role, rate in want.items():
        line = _text(re.search(rf'data-role="{role}">(.*?)</div>', page).group(1))  # type: ignore[union-attr]
        assert line.endswith(f"达标率 compliance {rate}"), line
        bars = _day_bars(_chart(page, role))
        assert bars[-1] == (
            "gw-bar",
            f"{DAY.strftime('%m-%d')}: {rate}"
            f"（已巡 patrolled {3 if role == 'alley_steward' else 1} / "
            f"{5 if role == 'alley_steward' else 2}）",
        ), bars[-1]
    # both together (4 / 7 = 57 %) is in no report: the page gives no such rate
    assert not re.search(r"57(\.\d)?%", page), re.search(r".{80}57(\.\d)?%", page)
    head = _text(re.search(r'<p class="gw-note">(责任街巷 assigned.*?)</p>', page).group(1))  # type: ignore[union-attr]
    assert head == "责任街巷 assigned alleys/streets: 7，已巡 patrolled: 4" and "%" not in head


def test_a_rate_reads_as_the_reports_xlsx() -> None:
    """The XLSX formats a rate 0.0% (15 / 24 = 62.5%); the page rounded it to 62%. Nothing
    counted reads —, not 0 %."""
    from maps.patrol_map import role_line

    assert _text(role_line("alley_steward", 24, 15, 0)).endswith("达标率 compliance 62.5%")
    assert _text(role_line("street_chief", 14, 0, 14)).startswith(
        "街巷长·街 street chiefs' streets: 截至目前已巡 so far 0 / 14（0.0%），待巡 pending 14；"
        "达标率 compliance —（今天未结束 the day is not over）"
    )
