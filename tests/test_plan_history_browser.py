"""The grid history page in a real headless Chromium at a phone's size, used by a planner who
signed in on the sign-in page (a cookie, no bearer header): 恢复此版 makes a draft of that
version through POST /plans/revert and opens the editor on it (outside tester T63 #1); a
refusal is shown on the page in the API's own words. The browser fixture is
tests/test_maps_browser.py's; skips (never fails) only when Chromium or its driver is missing.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from api.app import create_app
from geo.accounts import create_user
from geo.plan_drafts import save_draft
from geo.plans import commit_plan, create_plan
from tests.test_maps_browser import ARTIFACTS, _console_errors, browser, serve  # noqa: F401
from tests.test_plan_outlines_kept_db import _edited
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

PASSWORD = "history-page-password"


def test_revert_from_the_history_page_opens_the_new_draft(demo, browser) -> None:  # noqa: ANN001, F811
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500), actor="test")
    second = save_draft(demo, COMMUNITY, 300, 500, _edited(demo, 1), base_version=1)
    commit_plan(demo, second["plan_id"], actor="test", allow_disconnected=True)
    with demo.begin() as conn:
        create_user(conn, "history-li", PASSWORD, "planner", ("110108015",))
    server, thread, port = serve(create_app(demo))
    base, page = f"http://127.0.0.1:{port}", f"/maps/editor/history?community={COMMUNITY}"
    try:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        browser.delete_all_cookies()
        browser.set_window_size(390, 844)  # a phone
        browser.get(f"{base}/login?next={quote(page, safe='')}")
        browser.find_element(By.ID, "u").send_keys("history-li")
        browser.find_element(By.ID, "p").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "#f button").click()
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.current_url == base + page)
        wait.until(lambda d: d.execute_script("return !!(window.gwState && window.gwState.ready)"))
        browser.save_screenshot(str(ARTIFACTS / "plan_history_phone.png"))
        assert _console_errors(browser) == []
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        ), "the page is wider than the phone"
        button = browser.find_element(By.CSS_SELECTOR, 'button.gw-revert[data-version="1"]')
        assert button.size["height"] >= 44  # a finger's target
        assert not browser.find_elements(By.CSS_SELECTOR, 'button.gw-revert[data-version="2"]')

        # a refusal is said in the API's words (a version gone since the page was opened)
        browser.execute_script("arguments[0].dataset.version = '9';", button)
        button.click()
        msg = browser.find_element(By.ID, "gw-msg")
        wait.until(lambda d: "gw-bad" in msg.get_attribute("class"))
        said = msg.text
        assert said.startswith(f"恢复失败 revert failed: 社区 {COMMUNITY} 没有第 9 版网格"), said
        assert button.is_enabled()

        browser.execute_script("arguments[0].dataset.version = '1';", button)
        button.click()
        wait.until(lambda d: "/maps/editor?" in d.current_url)
        got = browser.current_url
        assert got.startswith(f"{base}/maps/editor?community={COMMUNITY}&plan="), got
        plan = int(got.rsplit("=", 1)[1])
        with demo.connect() as conn:
            row = conn.execute(
                text("SELECT status, created_by, params FROM grid_plans WHERE id = :i"),
                {"i": plan},
            ).one()
        assert (row.status, row.created_by) == ("draft", "history-li")
        assert row.params["reverted_from"]["version"] == 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
