"""The map pages on a tablet and on today's patrol map, as outside tester T65 (刘科长, a
viewer preparing the monthly meeting on PC, tablet and phone) met them: real headless
Chromium on the demo city ``gridward demo`` serves (``demo_city`` of
test_maps_browser_viewer: duties from a week ago, yesterday's walks, none yet today).

- F5: at 768 x 1024 with touch, the controls were a desktop's (checkboxes 13 px, selects
  19, buttons 24) and the patrol map's area and playback selects ran past the screen's
  edge. Every control of the patrol, grid and steward maps is now finger-sized there and on
  a wider touch screen, none runs past the edge, and a desktop keeps its compact ones.
- F2: today's alleys not walked yet were drawn red 未走 (not walked); they are the report's
  pending, drawn dashed in their own colour, and today's bar is "so far".

Skips (never fails) only when Chromium or its driver is missing or cannot start.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.test_maps_browser import ARTIFACTS, _console_errors, _count, _open  # noqa: F401
from tests.test_maps_browser_viewer import browser, demo_city  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PAGES = ("/maps/patrols", "/maps/grids", "/maps/stewards")

# [what, height, width] of each visible control, and the elements past the screen's right edge
_MEASURE = """
var out = {controls: [], past: []}, vw = document.documentElement.clientWidth;
[['panel', '#gw-panel select, #gw-panel button, #gw-panel input:not([type=checkbox])' +
   ':not([type=radio]):not([type=hidden])'],
 ['box', '#gw-panel input[type=checkbox], #gw-panel input[type=radio]'],
 ['layer', '.leaflet-control-layers-expanded label > span'],
 ['zoom', '.leaflet-control-zoom a']].forEach(function (kind) {
  document.querySelectorAll(kind[1]).forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0)
      out.controls.push([kind[0] + ' ' + (e.id || e.name || e.textContent).slice(0, 30),
                         r.height, r.width]);
  });
});
document.querySelectorAll('body *').forEach(function (e) {
  var r = e.getBoundingClientRect();
  if (r.width > 0 && r.right > vw + 1 && !e.closest('.leaflet-pane'))
    out.past.push(e.tagName + '#' + e.id + ' ' + Math.round(r.left) + '-' + Math.round(r.right));
});
out.sideways = document.documentElement.scrollWidth - vw;
return out;
"""
LEAST = {"panel": 44, "box": 32, "layer": 44, "zoom": 44}


def _screen(drv, width: int, height: int, touch: bool) -> None:  # noqa: ANN001
    """A screen of that size (CSS pixels); ``touch``: a touch screen (pointer: coarse)."""
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": touch},
    )
    drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": touch})


def _reset(drv) -> None:  # noqa: ANN001
    drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


def _small(found: dict[str, Any]) -> list[Any]:
    return [c for c in found["controls"] if c[1] < LEAST[c[0].split(" ")[0]] - 0.5]


def test_touch_screens_get_finger_sized_controls_none_past_the_edge(demo_city, browser) -> None:  # noqa: ANN001, F811
    try:
        for width, height in ((768, 1024), (1280, 800)):  # a tablet upright; a touch laptop
            _screen(browser, width, height, touch=True)
            for page in PAGES:
                _open(browser, demo_city["base"] + page, f"tablet_{width}{page.replace('/', '_')}")
                assert _console_errors(browser) == [], page
                found = browser.execute_script(_MEASURE)
                kinds = {c[0].split(" ")[0] for c in found["controls"]}
                assert {"panel", "zoom"} <= kinds, (page, found["controls"])
                if width == 768:  # the layer list starts folded on a tablet; a tap opens it
                    assert _count(browser, ".leaflet-control-layers-expanded") == 0, page
                    browser.find_element("css selector", ".leaflet-control-layers-toggle").click()
                    found = browser.execute_script(_MEASURE)
                    kinds = {c[0].split(" ")[0] for c in found["controls"]}
                    assert "layer" in kinds, (page, found["controls"])
                assert _small(found) == [], (width, page)
                assert found["past"] == [] and found["sideways"] <= 0, (width, page, found)
        # a desktop keeps its compact controls (the rules are for touch and narrow screens)
        _reset(browser)
        _screen(browser, 1366, 768, touch=False)
        _open(browser, demo_city["base"] + "/maps/patrols", "desktop_1366_patrols")
        found = browser.execute_script(_MEASURE)
        assert found["past"] == [], found
        sizes = {c[0]: c[1] for c in found["controls"]}
        assert sizes["panel area"] < 30 and sizes["zoom +"] < 40, sizes
    finally:
        _reset(browser)


def test_todays_alleys_not_walked_yet_are_pending_not_red(demo_city, browser) -> None:  # noqa: ANN001, F811
    from geo.patrol_reports import build_report
    from geo.settings import city_today

    db = demo_city["engine"]
    today = city_today()
    rows = build_report(db, "daily", today)["alleys"]
    pending = int(rows["pending"].sum())
    assert pending == len(rows) > 0  # the demo walked yesterday: every duty of today is due
    _screen(browser, 1366, 768, touch=False)
    try:
        _open(browser, f"{demo_city['base']}/maps/patrols?date={today}", "patrols_today")
        assert _console_errors(browser) == []
        assert _count(browser, "path.gw-walk-pending") == pending
        assert _count(browser, "path.gw-walk-none") == 0  # were all red 未走
        assert browser.execute_script("return window.gwState.counts.pending") == pending
        dashes = browser.execute_script(
            "return Array.from(document.querySelectorAll('path.gw-walk-pending'),"
            " function (p) { return p.getAttribute('stroke-dasharray'); })"
        )
        assert set(dashes) == {"8 6"}, set(dashes)
        assert browser.find_element("id", "gw-legend-pending").is_displayed()
        head = browser.find_element("id", "gw-so-far").text
        assert f"今天截至目前已巡 patrolled so far today: 0 / {len(rows)}（0.0%）" in head, head
        # today's bar in each role's chart is "so far", not a day without duties or a rate
        roles = rows["role"].nunique()
        assert _count(browser, ".gw-compliance rect.gw-bar-sofar") == roles
        assert _count(browser, ".gw-compliance .gw-sofar-label") == roles
        # the days before with duties and nothing walked are red stubs marked 0%
        assert _count(browser, ".gw-compliance text.gw-zero") > 0
        yesterday = today - dt.timedelta(days=1)
        _open(browser, f"{demo_city['base']}/maps/patrols?date={yesterday}", "patrols_yesterday")
        assert _count(browser, "path.gw-walk-pending") == 0  # a day that is over
        assert _count(browser, "#gw-legend-pending") == 0
    finally:
        _reset(browser)
