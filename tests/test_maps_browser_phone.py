"""A steward on a phone browser, as outside tester T44 used the pages: real headless Chromium
with mobile emulation (360x740 and 320 px wide, touch), the seeded demo city under uvicorn
(the ``live`` fixture of test_maps_browser.py), signed in as the demo's walker.

- #2: every control a finger taps on the patrol page, the map index and /login is at least
  40 px high (they were 14-38 px);
- #5, #6: neither /login nor the patrol page's panel scrolls sideways at 320 px, and the
  compliance chart fits with text read at 12 px or more;
- #1: a sign-in revoked while the page is open: the upload says so, with a sign-in link in
  a new tab, keeps the chosen file, and the same 上传 works once signed in again;
- #4: the upload shows its progress, the button is disabled while sending, and the server's
  too-slow refusal (408) reads as its plain remedy;
- T43 #10: the editor on a replaced version shows the commit's households beside today's.

Skips (never fails) only when Chromium or its driver is missing or cannot start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from tests.test_maps_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    _console_errors,
    _open,
    _scalar,
    browser,
    live,
)
from tests.test_maps_data import PATROL_DAY

pytestmark = pytest.mark.browser

NO_THROTTLE = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


def _headers(drv, token: str) -> None:  # noqa: ANN001
    drv.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {token}"}}
    )


@pytest.fixture(scope="module")
def steward(live, browser) -> Iterator[dict[str, Any]]:  # noqa: ANN001, F811
    """The browser signed in as a steward account of the demo's walker (a bearer header on
    every request, as the module's admin was); the admin's header back afterwards."""
    from geo.accounts import create_user, issue_token

    db = live["engine"]
    with db.begin() as conn:
        uid = create_user(
            conn, "phone-guoping", "phone-test-password", "steward", (), live["walker"]
        )
        token = issue_token(conn, uid)[1]
        admin_uid = create_user(conn, "phone-admin", "phone-test-password", "admin", ())
        admin = issue_token(conn, admin_uid)[1]
    _headers(browser, token)
    try:
        yield {"token": token, "admin": admin, "walker": live["walker"]}
    finally:
        _headers(browser, admin)


def _phone(drv, width: int, height: int = 740) -> None:  # noqa: ANN001
    """A phone's screen (CSS pixels, 3x, mobile viewport, touch), as T44's mobileEmulation."""
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 3, "mobile": True},
    )
    drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})


def _desktop(drv) -> None:  # noqa: ANN001
    drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


# each visible element of a CSS selector: [selector, its height, width]
_HEIGHTS = """
var out = [];
arguments[0].forEach(function (css) {
  document.querySelectorAll(css).forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) out.push([css, r.height, r.width]);
  });
});
return out;
"""

# the chart: [its right edge, the panel's inner right edge, the smallest text as drawn (px)]
_CHART = """
var svg = document.querySelector('svg.gw-compliance');
var panel = document.getElementById('gw-panel');
var r = svg.getBoundingClientRect(), p = panel.getBoundingClientRect();
var box = svg.viewBox && svg.viewBox.baseVal;
var vb = box && box.width ? box.width : r.width;
var scale = r.width / vb, least = 1e9;
svg.querySelectorAll('text').forEach(function (t) {
  least = Math.min(least, parseFloat(getComputedStyle(t).fontSize) * scale);
});
return [r.right, p.right - parseFloat(getComputedStyle(panel).paddingRight), least,
        panel.scrollWidth - panel.clientWidth];
"""

_SIDEWAYS = "return document.documentElement.scrollWidth - window.innerWidth;"


def _small(drv, selectors: list[str], least: float = 40) -> list[Any]:  # noqa: ANN001
    found = drv.execute_script(_HEIGHTS, selectors)
    for css in selectors:
        assert any(f[0] == css for f in found), (css, found)
    return [f for f in found if f[1] < least]


def test_phone_tap_targets_and_no_sideways_scroll(live, browser, steward) -> None:  # noqa: ANN001, F811
    """T44 #2, #5, #6 at 360 and 320 px."""
    page = f"{live['base']}/maps/patrols?date={PATROL_DAY}"
    controls = [
        "#gw-files",
        "#gw-crs",
        "input[name=date]",
        "select[name=area]",
        "#gw-track",
        "#gw-time",
        "#gw-play",
        "#gw-upload button",
        "#gw-panel form button",
        ".leaflet-control-zoom-in",
        ".leaflet-control-zoom-out",
        ".gw-topbar a",
        ".gw-signout button",
    ]
    try:
        for width in (360, 320):
            _phone(browser, width)
            _open(browser, page, f"phone_{width}_patrols")
            assert _console_errors(browser) == []
            assert _small(browser, controls) == [], width
            assert browser.execute_script(_SIDEWAYS) <= 0, width
            right, inner, least, panel_sideways = browser.execute_script(_CHART)
            assert right <= inner + 1 and panel_sideways <= 0, (width, right, inner)
            assert least >= 11.9, (width, least)  # 10 px before, at both widths
            browser.get(live["base"] + "/maps")  # the map index: rows to tap
            assert _small(browser, [".gw-links a", ".gw-topbar a"]) == [], width
            assert browser.execute_script(_SIDEWAYS) <= 0, width
            browser.get(live["base"] + "/login")
            assert browser.execute_script(_SIDEWAYS) <= 0, width  # 4 and 24 px before
            left = browser.execute_script(
                "return document.getElementById('f').getBoundingClientRect().left"
            )
            assert left >= 0, (width, left)
            assert _small(browser, ["#u", "#p", "#f button"]) == [], width
            browser.save_screenshot(str(ARTIFACTS / f"phone_{width}_login.png"))
    finally:
        _desktop(browser)
    # a desktop keeps its compact controls (the rules are for narrow screens only)
    _open(browser, page, "desktop_patrols")
    assert browser.execute_script(_HEIGHTS, ["#gw-crs"])[0][1] < 30


def _choose(drv, path: Path) -> None:  # noqa: ANN001
    drv.execute_script("document.getElementById('gw-files').value = '';")
    drv.find_element(By.ID, "gw-files").send_keys(str(path))


def _send(drv, timeout: int = 90) -> dict[str, Any]:  # noqa: ANN001
    drv.execute_script("window.gwState.upload = null;")
    drv.find_element(By.CSS_SELECTOR, "#gw-upload button").click()
    WebDriverWait(drv, timeout).until(lambda d: d.execute_script("return window.gwState.upload"))
    return drv.execute_script("return window.gwState.upload")


def _walk(live: dict[str, Any], tmp_path: Path) -> Path:  # noqa: F811
    import numpy as np

    from geo.day_networks import walk_network
    from geo.tracks.simulate import SimParams, simulate_patrol
    from tests.test_tracks_db import _csv

    sp = SimParams(length_m=600, noise_m=5, dt_s=3, start="2026-11-21T01:00:00Z")
    pts = simulate_patrol(walk_network(live["engine"]), np.random.default_rng(7), sp)[0]
    walk = tmp_path / "walk.csv"
    walk.write_bytes(_csv(pts))
    return walk


def test_a_revoked_sign_in_keeps_the_file(live, browser, steward, tmp_path) -> None:  # noqa: ANN001, F811
    """T44 #1: revoked while the page was open, 上传 said "✗ 令牌无效、已过期或已吊销，请重新
    登录 …" with no way to sign in but a reload, which dropped the chosen file."""
    db = live["engine"]
    last_id = _scalar(db, "SELECT coalesce(max(id), 0) FROM tracks")
    walk = _walk(live, tmp_path)
    _phone(browser, 360)
    try:
        _open(browser, f"{live['base']}/maps/patrols", "phone_expired")
        _choose(browser, walk)
        _headers(browser, "gw_revoked-token")  # as `gridward users password` leaves her
        got = _send(browser)
        assert got["status"] == 401 and got["files"] == [], got
        said = browser.find_element(By.ID, "gw-upload-msg").text
        assert said.startswith(
            "登录已过期，文件未上传。请点此重新登录（新标签页），然后再点“上传”。 "
            "Your sign-in has expired: the files were not uploaded."
        ), said
        assert "令牌" not in said and "token" not in said, said
        link = browser.find_element(By.ID, "gw-signin")
        assert link.text == "点此重新登录（新标签页）"
        assert link.get_attribute("target") == "_blank"
        assert link.get_attribute("href").endswith("/login?next=%2Fmaps%2Fpatrols")
        assert (
            browser.execute_script("return document.getElementById('gw-files').files.length") == 1
        )
        assert browser.find_element(By.CSS_SELECTOR, "#gw-upload button").is_enabled()
        assert _scalar(db, "SELECT coalesce(max(id), 0) FROM tracks") == last_id
        browser.save_screenshot(str(ARTIFACTS / "phone_upload_expired.png"))
        _headers(browser, steward["token"])  # signed in again in the other tab
        again = _send(browser)  # the same file, the same button
        assert again["status"] == 201, again
        tid = again["files"][0]["track_id"]
        assert _scalar(db, "SELECT person_id FROM tracks WHERE id = :t", t=tid) == live["walker"]
    finally:
        _headers(browser, steward["token"])
        _desktop(browser)
        with db.begin() as conn:
            conn.execute(text("DELETE FROM tracks WHERE id > :n"), {"n": last_id})


def test_a_slow_upload_shows_progress(live, browser, steward, tmp_path, monkeypatch) -> None:  # noqa: ANN001, F811
    """T44 #4: at 500 B/s the form showed a static 上传中 for 151 s, the button stayed live
    (a second tap sends again), and the server's 408 spoke of bytes per second. Now the
    percentage goes up while the body is sent, the button is disabled until the answer, and
    the 408 reads as what to do. The server's limits are unchanged; here its pace rule is
    made strict (1 s, 1 MB/s) so that a 20 KB/s phone meets it within seconds."""
    from api import limits

    db = live["engine"]
    last_id = _scalar(db, "SELECT coalesce(max(id), 0) FROM tracks")
    # about 160 KB of rows the reader refuses: what is measured here is the sending
    junk = tmp_path / "slow.csv"
    junk.write_text("经度,纬度,时间\n" + "x,y,z\n" * 32000, encoding="utf-8")
    _phone(browser, 360)
    try:
        _open(browser, f"{live['base']}/maps/patrols", "phone_slow")
        _choose(browser, junk)
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions", {**NO_THROTTLE, "uploadThroughput": 40 * 1024}
        )
        browser.execute_script("window.gwState.upload = null;")
        browser.find_element(By.CSS_SELECTOR, "#gw-upload button").click()
        seen: list[tuple[str, bool]] = []
        deadline = time.monotonic() + 90
        while not browser.execute_script("return window.gwState.upload"):
            assert time.monotonic() < deadline, seen[-3:]
            seen.append(
                browser.execute_script(
                    "return [document.getElementById('gw-upload-msg').textContent,"
                    " document.querySelector('#gw-upload button').disabled];"
                )
            )
            time.sleep(0.1)
        sending = [s for s in seen if s[0].startswith("上传中 ") and "%" in s[0]]
        assert sending, seen[:5]
        assert all(disabled for _msg, disabled in sending)
        progress = browser.execute_script("return window.gwState.uploadProgress")
        assert any(0 < p < 100 for p in progress) and progress == sorted(progress), progress
        assert browser.find_element(
            By.CSS_SELECTOR, "#gw-upload button"
        ).is_enabled()  # after the answer
        got = browser.execute_script("return window.gwState.upload")
        assert got["status"] == 422, got  # the reader's refusal of the junk, as before
        # T45 #1: once the body is sent, and until the answer, only "sent", never "已上传"
        said = browser.execute_script("return window.gwState.uploadSaid")
        assert said[-1] == "已发出，等待服务器确认… sent, waiting for the server…", said
        assert not any("已上传" in s or "uploaded" in s for s in said + [m for m, _ in seen])

        # the server's too-slow refusal (its pace rule made strict for this request)
        monkeypatch.setattr(
            limits.BodyPace,
            "from_settings",
            classmethod(lambda cls: cls(grace_s=1, min_rate=1_000_000, max_s=900)),
        )
        got = _send(browser)
        assert got["status"] == 408, got
        said = browser.find_element(By.ID, "gw-upload-msg").text
        assert said == (
            "✗ 网络太慢，上传未完成，未保存任何内容。请到信号好的地方或连上 Wi-Fi 后再上传。 "
            "network too slow: the upload did not finish and nothing was stored; try again "
            "where the signal is good or on Wi-Fi"
        ), said
        assert "字节" not in said and "bytes/s" not in said
        assert browser.find_element(By.CSS_SELECTOR, "#gw-upload button").is_enabled()
        browser.save_screenshot(str(ARTIFACTS / "phone_upload_too_slow.png"))
        assert _scalar(db, "SELECT coalesce(max(id), 0) FROM tracks") == last_id
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", NO_THROTTLE)
        _desktop(browser)
        with db.begin() as conn:
            conn.execute(text("DELETE FROM tracks WHERE id > :n"), {"n": last_id})


def test_an_old_version_shows_the_commits_households(live, browser, steward) -> None:  # noqa: ANN001, F811
    """T43 #10 in the page: each grid row of a replaced version holds today's count (the
    live column, labelled 按当前户数) and the commit's (as `plans show` prints it)."""
    from geo.plans import get_plan
    from tests.test_editor_browser import _commit_copy

    db = live["engine"]
    code = live["communities"][1]
    first = _commit_copy(db, code)
    with db.begin() as conn:  # one building of the community gains 700 households
        conn.execute(
            text(
                "UPDATE buildings SET households = households + 700 WHERE id = (SELECT b.id "
                "FROM buildings b JOIN areas a ON a.code = :c WHERE b.community_id = a.id "
                "AND b.households > 0 ORDER BY b.id LIMIT 1)"
            ),
            {"c": code},
        )
    _commit_copy(db, code)  # the first commit is replaced
    stored = {
        f["properties"]["code"]: f["properties"]["households"]
        for f in get_plan(db, first)["features"]["features"]
    }
    _headers(browser, steward["admin"])
    try:
        _open(browser, f"{live['base']}/maps/editor?plan={first}", "editor_old_version")
        rows = browser.execute_script(
            "return Array.from(document.querySelectorAll('#gw-grids tr'), function (tr) {"
            " return [tr.querySelector('td').textContent,"
            " tr.querySelector('.gw-grid-hh').textContent,"
            " tr.querySelector('.gw-grid-stored').textContent]; });"
        )
        assert rows, rows
        for name, _now, then in rows:
            assert int(then.split()[0]) == stored[name.strip()], (name, then)
        assert sum(int(now) - int(then.split()[0]) for _n, now, then in rows) == 700, rows
        head = browser.find_element(By.ID, "gw-hh-now").text
        assert head == "当前户数 current households"
        assert _console_errors(browser) == []
    finally:
        _headers(browser, steward["token"])


# the polygon tool's button: its size, and its icon sprite's size and place; every grid
# radio and lock box: [height, width]
_DRAW_BUTTON = """
var a = document.querySelector('.leaflet-draw-draw-polygon'), s = getComputedStyle(a);
var r = a.getBoundingClientRect();
var boxes = Array.from(document.querySelectorAll(
  '#gw-grids input[type=radio], #gw-grids input[type=checkbox]'), function (e) {
  var b = e.getBoundingClientRect(); return [b.height, b.width]; });
return [r.width, r.height, s.backgroundSize, s.backgroundPosition, boxes];
"""


def test_the_editor_on_a_phone_scales_the_draw_icons_and_its_boxes(live, browser, steward) -> None:  # noqa: ANN001, F811
    """T63 E at 390 px: Leaflet.draw's buttons were 44 px but its 30 px icon sprite was not
    scaled, so pieces of the neighbouring icons showed; the grid radios and lock boxes were
    22 px. The sprite is scaled with the button (ten icons, ten buttons wide, the polygon
    the second), and the boxes are finger-sized (at least 32 px)."""
    code = live["communities"][0]
    _headers(browser, steward["admin"])
    try:
        _phone(browser, 390, 844)
        _open(browser, f"{live['base']}/maps/editor?community={code}", "phone_390_editor")
        width, height, size, place, boxes = browser.execute_script(_DRAW_BUTTON)
        assert width >= 44 and height >= 44, (width, height)
        # per background layer (the vendor's png under a gradient, or its svg)
        assert set(size.split(", ")) == {"1000% 100%"}, size  # was 300px 30px on 44 px
        assert {p.split()[0] for p in place.split(", ")} == {"11.111%"}, place  # 2nd of 10
        assert boxes and all(h >= 32 and w >= 32 for h, w in boxes), boxes
        assert _console_errors(browser) == []
    finally:
        _desktop(browser)
        _headers(browser, steward["token"])
    # a desktop keeps the vendor's sprite as drawn
    _headers(browser, steward["admin"])
    try:
        _open(browser, f"{live['base']}/maps/editor?community={code}", "desktop_editor")
        assert set(browser.execute_script(_DRAW_BUTTON)[2].split(", ")) == {"300px 30px"}
    finally:
        _headers(browser, steward["token"])
