"""Leaflet's own controls on every map page as the text reviewer T71 (林老师) met them, in a
real headless Chromium on the demo city ``gridward demo`` serves (geo.demo.populate):

- #11: the zoom buttons said ``Zoom in`` / ``Zoom out`` only, the folded layer list
  ``Layers`` only, and the scale bar gave feet under the metres (``100 m`` over ``500 ft``).
  Now ``放大 Zoom in`` / ``缩小 Zoom out`` / ``图层 Layers`` and one metric bar in 米.

Skips (never fails) only when Chromium or its driver is missing or cannot start (the
``browser`` fixture of test_maps_browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_maps_browser import ARTIFACTS, _console_errors, _open, browser, served_demo  # noqa: F401

pytestmark = pytest.mark.browser

PAGES = (
    "/maps/grids",
    "/maps/stewards",
    "/maps/patrols",
    "/maps/editor?community=110108015001",  # 清华园西北社区
)

_CONTROLS = """
function title(css) { var e = document.querySelector(css); return e ? e.title : null; }
var scales = Array.prototype.map.call(
  document.querySelectorAll('.leaflet-control-scale-line'), function (e) { return e.textContent; });
return {
  zoomIn: title('.leaflet-control-zoom-in'),
  zoomOut: title('.leaflet-control-zoom-out'),
  layers: title('.leaflet-control-layers-toggle'),
  nZoom: document.querySelectorAll('.leaflet-control-zoom').length,
  scales: scales,
  attribution: title('.leaflet-control-attribution span[title]')
};
"""


@pytest.fixture(scope="module")
def city(engine, browser) -> Iterator[dict[str, Any]]:  # noqa: ANN001, F811
    """The demo city under uvicorn, the browser an admin (a bearer header on every request):
    the editor is an admin's or planner's page."""
    with served_demo(engine, browser, "admin", "t71-browser-admin") as served:
        yield served


@pytest.mark.parametrize("path", PAGES)
def test_leaflet_controls_speak_chinese_first_and_metric(city, browser, path: str) -> None:  # noqa: ANN001, F811
    """T71 #11: every map page's zoom buttons, layer button and scale bar, as the browser
    draws them: Chinese first, metres only (was ``Zoom in``, ``Layers``, ``500 ft``)."""
    shot = "t71_controls_" + path.split("?")[0].rsplit("/", 1)[-1]
    _open(browser, city["base"] + path, shot)
    assert _console_errors(browser) == []
    got = browser.execute_script(_CONTROLS)
    assert got["nZoom"] == 1, got  # one zoom control, not Leaflet's own beside ours
    assert got["zoomIn"] == "放大 Zoom in", got
    assert got["zoomOut"] == "缩小 Zoom out", got
    assert got["layers"] == "图层 Layers", got
    # one bar, in 米 (or 公里), never feet or miles
    assert len(got["scales"]) == 1 and re.fullmatch(r"\d+ (米|公里)", got["scales"][0]), got
    assert got["attribution"].startswith("Leaflet：交互式地图程序库"), got
