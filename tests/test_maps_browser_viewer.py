"""The map pages as the outside tester met them (a subdistrict viewer, real headless Chromium,
laptop 1400x900 and phone 390x844), on the demo city ``gridward demo`` serves (geo.demo:
4 communities, 35 stewards, yesterday's 30 walks): layers load once, community outlines and
unambiguous grid labels, a phone opens on the city, labels do not cover one another, forms
are checked before they are sent, steward colours differ between neighbours, 退出 signs out.

Skips (never fails) only when Chromium or its driver is missing or cannot start (the
``browser`` fixture of test_maps_browser.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.test_maps_browser import ARTIFACTS, _console_errors, _count, _open, browser, serve  # noqa: F401
from tests.test_maps_data import empty_database
from tests.test_maps_pages import token_for

pytestmark = pytest.mark.browser

PHONE = (390, 844)
LAPTOP = (1400, 900)
VIEWER_PASSWORD = "viewer-test-password"


@pytest.fixture(scope="module")
def demo_city(engine, browser) -> Iterator[dict[str, Any]]:  # noqa: ANN001, F811
    """The demo city served by uvicorn on a free loopback port, the browser an admin (a
    bearer header on every request, as in test_maps_browser.py)."""
    from api.app import create_app
    from geo.accounts import create_user
    from geo.demo import populate

    db = empty_database(engine)
    populate(db, seed=0)
    token = token_for(db, "admin", name="viewer-tests-admin")
    with db.begin() as conn:
        create_user(conn, "city-viewer", VIEWER_PASSWORD, "viewer", ())
    server, thread, port = serve(create_app(db))
    headers = {"Authorization": f"Bearer {token}"}
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "engine": db, "headers": headers}
    finally:
        browser.set_window_size(*LAPTOP)
        server.should_exit = True
        thread.join(timeout=10)


def _scalar(engine, sql: str, **params: Any) -> Any:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# how much of the map the drawn features fill, [width share, height share]
_FILL = """
var map = document.querySelector('.folium-map').getBoundingClientRect();
var els = document.querySelectorAll(arguments[0]);
var l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
els.forEach(function (e) { var q = e.getBoundingClientRect();
  l = Math.min(l, q.left); t = Math.min(t, q.top);
  r = Math.max(r, q.right); b = Math.max(b, q.bottom); });
return [(Math.min(r, map.right) - Math.max(l, map.left)) / map.width,
        (Math.min(b, map.bottom) - Math.max(t, map.top)) / map.height];
"""

# pairs of visible permanent labels that cover one another
_OVERLAPS = """
var els = Array.from(document.querySelectorAll('.gw-label, .gw-area-label')).filter(function (e) {
  return getComputedStyle(e).visibility !== 'hidden'; });
var rs = els.map(function (e) { return e.getBoundingClientRect(); }), n = 0;
for (var i = 0; i < rs.length; i++) for (var j = i + 1; j < rs.length; j++) {
  var a = rs[i], c = rs[j];
  if (a.left < c.right && c.left < a.right && a.top < c.bottom && c.top < a.bottom) n++; }
return [n, els.length];
"""


def _requests(driver, fragment: str) -> int:  # noqa: ANN001
    return int(
        driver.execute_script(
            "var part = arguments[0];"
            "return performance.getEntriesByType('resource').filter(function (e) {"
            " return e.name.indexOf(part) >= 0; }).length;",
            fragment,
        )
    )


def test_grid_map_loads_each_layer_once_with_community_outlines(demo_city, browser) -> None:  # noqa: ANN001, F811
    db = demo_city["engine"]
    browser.set_window_size(*LAPTOP)
    _open(
        browser,
        demo_city["base"] + "/maps/grids",
        "viewer_grid_map",
        ("buildings", "streets", "alleys"),
    )
    time.sleep(1.0)  # a second load would have started by now
    assert _console_errors(browser) == []
    # one request per layer for the first view (there were two: before and after the fit)
    assert _requests(browser, "/buildings?") == 1
    assert _requests(browser, "/streets?kind=street") == 1
    assert _requests(browser, "/streets?kind=alley") == 1
    # the communities are outlined and named, on at first on a subdistrict's map
    names = [
        r[0]
        for r in db.connect().execute(
            text("SELECT name FROM areas WHERE level = 'community' ORDER BY code")
        )
    ]
    assert _count(browser, "path.gw-community") == len(names) == 4
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('.gw-area-label'), e => e.textContent)"
    )
    assert sorted(shown) == sorted(names)
    # no grid label twice on the map ("001" was there four times): the community's short
    # name goes before a number that repeats
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('.gw-label'), e => e.textContent)"
    )
    n_grids = _scalar(db, "SELECT count(*) FROM grids WHERE level = 1 AND retired_at IS NULL")
    assert len(labels) == n_grids and len(set(labels)) == len(labels), labels
    assert "西北 001" in labels and "东北 001" in labels
    # every grid alike, its community's short name and its number (T38 L15: the name went
    # only before a number that repeated, so 「清华园东北 005」 and then a bare 006)
    assert all(re.fullmatch(r"\S+ \d{3}", x) for x in labels), labels
    assert browser.execute_script(_OVERLAPS)[0] == 0
    # one community's map: its outline is there, off at first
    code = _scalar(db, "SELECT min(code) FROM areas WHERE level = 'community'")
    _open(browser, f"{demo_city['base']}/maps/grids?community={code}", "viewer_grid_community")
    assert _count(browser, "path.gw-community") == 0
    assert _console_errors(browser) == []


def test_a_phone_opens_on_the_city_and_labels_do_not_overlap(demo_city, browser) -> None:  # noqa: ANN001, F811
    browser.set_window_size(*PHONE)
    try:
        _open(browser, demo_city["base"] + "/maps/grids", "viewer_phone_grids", ("buildings",))
        assert _console_errors(browser) == []
        width, height = browser.execute_script(_FILL, "path.gw-grid")
        # the grids fill the map one way or the other (they filled 40 % both ways)
        assert max(width, height) > 0.75, (width, height)
        overlaps, visible = browser.execute_script(_OVERLAPS)
        assert overlaps == 0 and visible > 0
        # zoomed in, labels hidden for room come back
        browser.execute_script("window.gwMap.setZoom(window.gwMap.getZoom() + 2, {animate: false})")
        time.sleep(0.5)
        overlaps, closer = browser.execute_script(_OVERLAPS)
        assert overlaps == 0
        hidden = browser.execute_script("return window.gwState.labels.hidden")
        assert closer >= visible or hidden == 0
        _open(browser, demo_city["base"] + "/maps/patrols", "viewer_phone_patrols")
        assert _console_errors(browser) == []
        width, height = browser.execute_script(_FILL, "path.gw-alley, path.gw-track")
        assert max(width, height) > 0.75, (width, height)
        _open(browser, demo_city["base"] + "/maps/stewards", "viewer_phone_stewards")
        width, height = browser.execute_script(_FILL, "path.gw-alley")
        assert max(width, height) > 0.75, (width, height)
    finally:
        browser.set_window_size(*LAPTOP)


def test_forms_are_checked_before_they_are_sent(demo_city, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base = demo_city["base"]
    _open(browser, base + "/maps/grids", "viewer_range")
    lo = browser.find_element(By.CSS_SELECTOR, "#gw-panel input[name=min]")
    hi = browser.find_element(By.CSS_SELECTOR, "#gw-panel input[name=max]")
    apply = "//form[.//input[@name='min']]//button"
    for el, v in ((lo, "600"), (hi, "500")):
        el.clear()
        el.send_keys(v)
    browser.find_element(By.XPATH, apply).click()
    time.sleep(0.5)
    assert browser.current_url == base + "/maps/grids"  # not sent (it was: a JSON page)
    said = browser.find_element(By.ID, "gw-range-msg").text  # as the server words it (T38 L5)
    assert said.startswith("户数下限大于上限：min（600）大于 max（500） min (600) is greater"), said
    assert (
        browser.execute_script("return document.getElementById('gw-range').checkValidity()")
        is False
    )
    hi.clear()
    hi.send_keys("700")
    assert browser.find_element(By.ID, "gw-range-msg").text == ""
    browser.find_element(By.XPATH, apply).click()
    WebDriverWait(browser, 30).until(lambda d: "min=600&max=700" in d.current_url)
    # the patrol map's day stops at today: a later day is not sent
    _open(browser, base + "/maps/patrols", "viewer_date")
    shown = browser.current_url
    browser.execute_script(
        "var i = document.querySelector('input[name=date]');"
        "var d = new Date(i.max); d.setDate(d.getDate() + 2);"
        "i.value = d.toISOString().slice(0, 10);"
    )
    browser.find_element(By.XPATH, "//button[contains(., '查看')]").click()
    time.sleep(0.5)
    assert browser.current_url == shown
    assert browser.execute_script(
        "return document.querySelector('input[name=date]').validity.rangeOverflow"
    )
    # a link that is wrong anyway is a page to read, not JSON
    browser.get(base + "/maps/grids?min=600&max=500")
    assert "输入有误" in browser.find_element(By.TAG_NAME, "h1").text
    assert "户数下限大于上限" in browser.find_element(By.CLASS_NAME, "gw-error-msg").text
    browser.find_element(By.LINK_TEXT, "返回地图目录 back to the maps").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url == base + "/maps")


def test_steward_colours_differ_between_neighbours(demo_city, browser) -> None:  # noqa: ANN001, F811
    from geo.street_areas import street_areas_sql

    db = demo_city["engine"]
    _open(browser, demo_city["base"] + "/maps/stewards", "viewer_stewards")
    assert _console_errors(browser) == []
    # each steward's colour as the panel's list shows it
    colour = {
        int(k): v
        for k, v in browser.execute_script(
            "var out = {}; document.querySelectorAll('tr.gw-click').forEach(function (tr) {"
            " out[tr.dataset.person] = getComputedStyle(tr.querySelector('.gw-swatch'))"
            ".backgroundColor; }); return out;"
        ).items()
    }
    assert len(colour) == 35
    # alleys that touch or nearly (5 m), held by different stewards: different colours
    with db.connect() as conn:
        pairs = conn.execute(
            text(
                "WITH s AS (SELECT g.id, g.geom, min(a.person_id) AS p FROM street_segments g "
                " JOIN assignments a ON a.street_id = g.street_id AND a.role = 'alley_steward' "
                " AND a.valid_to IS NULL WHERE g.kind = 'alley' GROUP BY g.id, g.geom) "
                "SELECT DISTINCT x.p, y.p FROM s x JOIN s y ON x.p < y.p "
                "AND ST_DWithin(x.geom::geography, y.geom::geography, 5)"
            )
        ).all()
        where = {
            r.alley_id: r.community_code
            for r in conn.execute(text(f"SELECT * FROM ({street_areas_sql()}) h"))
        }
        segs = (
            conn.execute(text("SELECT street_id FROM street_segments WHERE kind = 'alley'"))
            .scalars()
            .all()
        )
    assert pairs
    clashes = [(a, b) for a, b in pairs if colour[a] == colour[b]]
    assert clashes == [], clashes
    # the alleys are drawn in the colours the list shows
    drawn = browser.execute_script(
        "return Array.from(new Set(Array.from(document.querySelectorAll('path.gw-staffed'),"
        " e => getComputedStyle(e).stroke)))"
    )
    assert drawn and set(drawn) <= set(colour.values())
    # alleys outside every community: grey, counted apart in the panel
    outside = sum(1 for s in segs if where.get(s) is None)
    assert outside > 0 and _count(browser, "path.gw-outside") == outside
    cell = browser.find_element("id", "gw-outside").text
    assert cell.startswith(f"{outside} 段"), cell
    assert browser.find_element("id", "gw-inside").text.startswith(
        f"{len(segs) - outside} / {len(segs) - outside} 段"
    )


def test_sign_out_from_the_bar(demo_city, browser) -> None:  # noqa: ANN001, F811
    """A viewer signs in on the sign-in page (a cookie, no bearer header), meets a 403 page
    with the bar, and signs out: the sign-in is revoked, the cookie gone, /maps asks again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, db = demo_city["base"], demo_city["engine"]
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    try:
        browser.delete_all_cookies()
        browser.get(base + "/maps")
        WebDriverWait(browser, 30).until(lambda d: "/login" in d.current_url)
        browser.find_element(By.ID, "u").send_keys("city-viewer")
        browser.find_element(By.ID, "p").send_keys(VIEWER_PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "#f button").click()
        WebDriverWait(browser, 30).until(lambda d: d.current_url == base + "/maps")
        assert browser.find_elements(By.CSS_SELECTOR, ".gw-signout button"), "no 退出 sign out"
        assert browser.find_element(By.CLASS_NAME, "gw-user").text == "city-viewer"
        # a shared editor link: a page saying why, with the way back
        browser.get(base + "/maps/editor")
        assert "无权访问" in browser.find_element(By.TAG_NAME, "h1").text
        assert "403" in browser.find_element(By.TAG_NAME, "h1").text
        assert browser.find_element(By.LINK_TEXT, "返回地图目录 back to the maps")
        _open(browser, base + "/maps/grids", "viewer_signed_in")
        # the sign-in ends while the page is open (a new password, say): moving the map
        # then says so on the page, with the way back (re-tester T35: layers just stopped)
        assert not browser.find_elements(By.ID, "gw-expired")
        with db.begin() as conn:
            conn.execute(
                text(
                    "UPDATE api_tokens SET revoked_at = now() WHERE user_id = (SELECT id "
                    "FROM users WHERE username = 'city-viewer') AND revoked_at IS NULL"
                )
            )
        browser.execute_script("window.gwMap.panBy([300, 200], {animate: false})")
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "gw-expired"))
        banner = browser.find_element(By.ID, "gw-expired")
        assert banner.text.startswith("登录已过期") and banner.is_displayed()
        link = banner.find_element(By.TAG_NAME, "a").get_attribute("href")
        assert link == base + "/login?next=%2Fmaps%2Fgrids", link
        with db.begin() as conn:  # signed in again, to sign out below
            conn.execute(
                text(
                    "UPDATE api_tokens SET revoked_at = NULL WHERE user_id = (SELECT id "
                    "FROM users WHERE username = 'city-viewer')"
                )
            )
        browser.find_element(By.CSS_SELECTOR, ".gw-signout button").click()
        WebDriverWait(browser, 30).until(lambda d: d.current_url.startswith(base + "/login"))
        assert not [c for c in browser.get_cookies() if c["name"] == "gridward_token"]
        open_tokens = _scalar(
            db,
            "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE u.username = 'city-viewer' AND t.revoked_at IS NULL",
        )
        assert open_tokens == 0
        browser.get(base + "/maps")
        WebDriverWait(browser, 30).until(lambda d: "/login?next=" in d.current_url)
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": demo_city["headers"]})
