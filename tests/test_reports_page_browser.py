"""The patrol reports page in a real headless Chromium, as the outside tester T65 (刘科长, a
viewer preparing the monthly meeting) would use it: signed in on the sign-in page (a cookie),
from the map index to 巡查报表, the kinds and the previous period one tap each, the report's
files downloadable (direct and made in the background), on a laptop (1366×768), a tablet
(768×1024) and a phone (390×844): nothing runs off the screen sideways, every control is a
finger's size on the tablet and the phone, tables scroll inside their box on the tablet and
are a card per row on the phone. Screenshots go to artifacts/ (reports_*.png).

The browser fixture is tests/test_maps_browser.py's; skips (never fails) only when Chromium
or its driver is missing.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from geo.settings import city_today
from tests.test_maps_browser import ARTIFACTS, _console_errors, browser, serve  # noqa: F401
from tests.test_maps_data import empty_database

pytestmark = pytest.mark.browser

PASSWORD = "reports-page-password"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LAPTOP, TABLET, PHONE = (1366, 768), (768, 1024), (390, 844)

# every control a finger taps on the page: [selector, height, width] of each one shown
_CONTROLS = """
var out = [];
arguments[0].forEach(function (css) {
  document.querySelectorAll(css).forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) out.push([css, r.height, r.width]);
  });
});
return out;
"""
CONTROLS = [
    ".gw-rep-kinds a",
    "#gw-date",
    "#gw-area",
    ".gw-rep-form button",
    ".gw-rep-steps a",
    "a.gw-dl",
    "#gw-job",
    ".gw-topbar a",
    ".gw-signout button",
]
_SIDEWAYS = "return document.documentElement.scrollWidth - window.innerWidth;"
# the JSON the page was made from, fetched by the page's own cookie
_FETCH = """
var done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'}).then(function (r) {
  var type = r.headers.get('content-type');
  return (type.indexOf('json') >= 0 ? r.json() : r.blob().then(function (b) { return b.size; }))
    .then(function (body) { done({status: r.status, type: type, body: body}); });
}).catch(function (e) { done({error: String(e)}); });
"""


@pytest.fixture(scope="module")
def city(engine, browser) -> Iterator[dict[str, Any]]:  # noqa: ANN001, F811
    """The demo city ``gridward demo`` loads, served on a free loopback port, with a viewer
    who signs in on the sign-in page."""
    from api.app import create_app
    from geo.accounts import create_user
    from geo.demo import populate

    db = empty_database(engine)
    populate(db, seed=0)
    with db.begin() as conn:
        create_user(conn, "liukz", PASSWORD, "viewer", ())
    server, thread, port = serve(create_app(db))
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    browser.delete_all_cookies()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "engine": db}
    finally:
        browser.set_window_size(1400, 900)
        server.should_exit = True
        thread.join(timeout=10)


def _shot(drv, name: str) -> None:  # noqa: ANN001
    """The viewport, and the whole page (for a person to look at the tables too)."""
    drv.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    full = drv.execute_cdp_cmd(
        "Page.captureScreenshot", {"captureBeyondViewport": True, "fromSurface": True}
    )
    (ARTIFACTS / f"{name}_full.png").write_bytes(base64.b64decode(full["data"]))


def _ready(drv) -> None:  # noqa: ANN001
    WebDriverWait(drv, 30).until(
        lambda d: d.execute_script("return !!(window.gwState && window.gwState.ready)")
    )


def _fetch(drv, url: str) -> dict[str, Any]:  # noqa: ANN001
    return drv.execute_async_script(_FETCH, url)


def _look(drv, size: tuple[int, int], name: str, touch: bool) -> None:  # noqa: ANN001
    """At ``size``: no sideways scroll, and with ``touch`` every control 44 px high."""
    drv.set_window_size(*size)
    drv.refresh()
    _ready(drv)
    _shot(drv, name)
    assert drv.execute_script(_SIDEWAYS) <= 0, (name, drv.execute_script(_SIDEWAYS))
    found = drv.execute_script(_CONTROLS, CONTROLS)
    for css in CONTROLS:
        assert any(f[0] == css for f in found), (name, css)
    if touch:
        small = [f for f in found if f[1] < 44]
        assert small == [], (name, small)


def test_a_viewer_reads_and_downloads_the_reports(city, browser) -> None:  # noqa: ANN001, F811
    drv, base = browser, city["base"]
    today = city_today()
    drv.set_window_size(*LAPTOP)
    drv.get(f"{base}/login?next={quote('/maps', safe='')}")
    drv.find_element(By.ID, "u").send_keys("liukz")
    drv.find_element(By.ID, "p").send_keys(PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "#f button").click()
    wait = WebDriverWait(drv, 30)
    wait.until(lambda d: d.current_url == base + "/maps")
    # the map index leads to the reports (T65 F1: it linked the three maps only)
    drv.find_element(By.CSS_SELECTOR, '.gw-links a[href="/maps/reports"]').click()
    wait.until(lambda d: d.current_url == base + "/maps/reports")
    _ready(drv)
    drv.get_log("browser")
    heading = drv.find_element(By.ID, "gw-heading").text
    assert heading == f"日巡 daily patrol {today} · 全市 whole city", heading

    # 月评 in one tap, its previous month in one more, both read from the JSON API's figures
    drv.find_element(By.CSS_SELECTOR, '.gw-rep-kinds a[data-kind="monthly"]').click()
    wait.until(lambda d: "kind=monthly" in d.current_url)
    _ready(drv)
    assert drv.find_element(By.ID, "gw-heading").text.startswith(
        f"月评 monthly evaluation {today:%Y-%m}"
    )
    body = _fetch(drv, f"/reports/monthly?date={today}")["body"]
    ranks = drv.execute_script(
        "return Array.from(document.querySelectorAll("
        "'table[data-table=people] tbody tr')).map(function (tr) {"
        " return [tr.querySelector('[data-key=rank]').textContent,"
        " tr.querySelector('[data-key=person_name]').textContent,"
        " tr.querySelector('[data-key=compliance]').textContent]; });"
    )
    want = [
        [
            "—" if p["rank"] is None else str(p["rank"]),
            p["person_name"],
            f"{p['compliance'] * 100:.1f}%" if p["compliance"] is not None else "—",
        ]
        for p in body["people"]
    ]
    assert ranks == want and len(want) > 10
    _look(drv, LAPTOP, "reports_laptop", touch=False)
    assert _console_errors(drv) == []

    # the files: the API's own URLs, with the page's cookie
    for link in drv.find_elements(By.CSS_SELECTOR, "a.gw-dl"):
        got = _fetch(drv, link.get_attribute("href"))
        assert got["status"] == 200 and got["body"] > 0, (link.get_attribute("href"), got)
        fmt = link.get_attribute("data-format")
        assert got["type"].startswith(XLSX if fmt == "xlsx" else "text/csv"), got
    # made in the background: the job's progress, then its file
    drv.find_element(By.ID, "gw-job").click()
    WebDriverWait(drv, 120).until(lambda d: d.find_elements(By.ID, "gw-job-file"))
    made = drv.find_element(By.ID, "gw-job-file")
    assert made.get_attribute("href").startswith(f"{base}/reports/files/")
    assert made.text.startswith(f"下载 download monthly_{today.replace(day=1)}_{today}")
    got = _fetch(drv, made.get_attribute("href"))
    assert got["status"] == 200 and got["type"] == XLSX and got["body"] > 1000, got
    _shot(drv, "reports_laptop_job")

    drv.find_element(By.ID, "gw-prev").click()
    before = today.replace(day=1) - dt.timedelta(days=1)
    wait.until(lambda d: f"date={before}" in d.current_url)
    _ready(drv)
    assert drv.find_element(By.ID, "gw-heading").text.startswith(
        f"月评 monthly evaluation {before:%Y-%m}"
    )
    drv.find_element(By.ID, "gw-now").click()
    wait.until(lambda d: d.current_url == f"{base}/maps/reports?kind=monthly")

    # a community picked in the form (the patrol map's picker), the week around yesterday
    drv.get(f"{base}/maps/reports?kind=weekly&date={today - dt.timedelta(days=1)}")
    _ready(drv)
    drv.execute_script(
        "var s = document.getElementById('gw-area');"
        "s.value = '110108015002'; s.dispatchEvent(new Event('change'));"
    )
    drv.find_element(By.CSS_SELECTOR, ".gw-rep-form button").click()
    wait.until(lambda d: "area=110108015002" in d.current_url)
    _ready(drv)
    assert drv.find_element(By.ID, "gw-heading").text.endswith("社区 community 110108015002")
    assert _console_errors(drv) == []

    # the tablet: a finger's controls, the wide tables scrolled inside their box
    _look(drv, TABLET, "reports_tablet", touch=True)
    overflow = drv.execute_script(
        "return Array.from(document.querySelectorAll('.gw-rep-scroll')).map(function (b) {"
        " return [getComputedStyle(b).overflowX, b.getBoundingClientRect().right]; });"
    )
    assert overflow and all(o == "auto" and right <= 768 for o, right in overflow), overflow

    # the phone: a card per row, its name on top, each cell labelled
    drv.get(f"{base}/maps/reports?kind=monthly")
    _look(drv, PHONE, "reports_phone", touch=True)
    cards = drv.execute_script(
        "var tr = document.querySelector('table[data-table=people] tbody tr');"
        "var name = tr.querySelector('.gw-rep-name'), rank = tr.querySelector('[data-key=rank]');"
        "return [getComputedStyle(tr).display,"
        " getComputedStyle(document.querySelector('.gw-rep-table thead')).display,"
        " name.getBoundingClientRect().top < rank.getBoundingClientRect().top,"
        " getComputedStyle(rank, '::before').content];"
    )
    assert cards == ["flex", "none", True, '"排名 rank："'], cards
    for part in ("gw-downloads", "gw-people", "gw-areas"):
        drv.execute_script(f"document.getElementById('{part}').scrollIntoView();")
        drv.save_screenshot(str(ARTIFACTS / f"reports_phone_{part[3:]}.png"))
    assert _console_errors(drv) == []
