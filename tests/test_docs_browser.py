"""/docs and /redoc in a real headless Chromium with every https request blocked: both draw
the API's operations from the app's own scripts (outside tester T40 #3: they loaded them from
cdn.jsdelivr.net and stayed blank offline). Skips when Chromium is missing, as
tests/test_maps_browser.py does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.test_maps_browser import browser, serve  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.browser


def _wait_for(driver: Any, script: str, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"{what} did not appear; console: {driver.get_log('browser')}")


def test_docs_pages_draw_with_no_internet(db, browser) -> None:  # noqa: F811
    from api.app import create_app

    server, thread, port = serve(create_app(db))
    base = f"http://127.0.0.1:{port}"
    browser.execute_cdp_cmd("Network.enable", {})
    # the app is plain http on loopback: blocking every https request is "no internet" here
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["https://*"]})
    try:
        browser.get(f"{base}/docs")
        n = _wait_for(
            browser,
            "return document.querySelectorAll('.opblock').length",
            "Swagger UI's operations",
        )
        assert n > 30
        title = browser.execute_script("return document.querySelector('.info .title').innerText")
        assert "gridward" in title
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(u.startswith(base) for u in loaded), json.dumps(loaded)
        console = browser.get_log("browser")  # CSP refusals, failed loads: none

        browser.get(f"{base}/redoc")
        n = _wait_for(
            browser,
            "return document.querySelectorAll('[data-section-id^=\"operation/\"]').length",
            "ReDoc's operations",
        )
        assert n > 30
        heading = browser.execute_script("return document.querySelector('h1').innerText")
        assert "gridward" in heading
        # everything the page loaded came from the app: ReDoc's Redocly logo was fetched
        # from https://cdn.redoc.ly, which the CSP blocked with a console error (h49)
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        scripts = [u for u in loaded if u.endswith((".js", ".css"))]
        assert scripts and all(u.startswith(base) for u in loaded), json.dumps(loaded)
        assert console == [] and browser.get_log("browser") == [], console
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        server.should_exit = True
        thread.join(timeout=10)
