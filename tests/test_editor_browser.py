"""The grid editor in a real headless Chromium, as an outside tester (a planner) used it:
a draft opened again from the list is committed or discarded from its page, a stale one is
discarded there or from the list, unsaved work is not lost without a question, an expired
sign-in keeps the edits and says how to go on, "rebalance the rest" on an unchanged community
moves nothing (and a stale page says it is stale), Leaflet.draw and the commit confirm speak
the panel's words, the committed plan opened in the editor is called what it is, the picker
has the sign-out bar, and the panel judges a grid joined only by ground nobody lives on as
the saved draft does (不连通).

Fixtures (the browser, the seeded demo city under uvicorn) are those of
tests/test_maps_browser.py; skips (never fails) only when Chromium or its driver is missing.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from tests.test_maps_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    _console_errors,
    _count,
    _open,
    _scalar,
    browser,
    far_move,
    live,
)
from tests.test_maps_pages import token_for

pytestmark = pytest.mark.browser


def _groups(engine, code: str) -> tuple[Any, list[tuple[str | None, list[int]]]]:  # noqa: ANN001
    """The editor's start for ``code`` and its grids as (code, building ids)."""
    from geo.map_data import editor_data

    ed = editor_data(engine, code)
    members: dict[int, list[int]] = {}
    for f in ed.buildings["features"]:  # a building in no grid: the first grid's
        members.setdefault(f["properties"]["grid"] or 0, []).append(f["id"])
    return ed, [(ed.grids[i]["code"], ids) for i, ids in sorted(members.items())]


def _draft(engine, code: str, grids: list[tuple[str | None, list[int]]]) -> int:  # noqa: ANN001
    """A draft of ``grids`` saved as the editor saves one; its id."""
    from geo.plan_drafts import DraftGrid, save_draft

    return save_draft(
        engine, code, 300, 500, [DraftGrid(c, ids) for c, ids in grids], created_by="test"
    )["plan_id"]


def _commit_copy(engine, code: str) -> int:  # noqa: ANN001
    """Another planner's commit: the community's grids saved as a draft, one building moved
    from the grid with most buildings to another (a draft equal to the current grids is
    refused at commit since 227f740), and committed: its version goes up by one, so pages
    and drafts made before are stale. The plan's id."""
    from geo.plans import commit_plan

    _ed, grids = _groups(engine, code)
    give = max(range(len(grids)), key=lambda i: len(grids[i][1]))  # never left empty
    take = give - 1 if give else 1
    grids[take] = (grids[take][0], [*grids[take][1], grids[give][1][-1]])
    grids[give] = (grids[give][0], grids[give][1][:-1])
    plan = _draft(engine, code, grids)
    commit_plan(engine, plan, actor="test", allow_disconnected=True)
    return plan


def _status(engine, plan: int) -> str:  # noqa: ANN001
    return _scalar(engine, "SELECT status FROM grid_plans WHERE id = :p", p=plan)


def _wait(drv, script: str, timeout: int = 30) -> Any:  # noqa: ANN001
    WebDriverWait(drv, timeout).until(lambda d: d.execute_script(script))
    return drv.execute_script(script)


def _shown(drv, element_id: str) -> bool:  # noqa: ANN001
    return drv.find_element("id", element_id).is_displayed()


def _leaving_asks(drv) -> bool:  # noqa: ANN001
    """Whether leaving the page now would ask first (the page's beforeunload handler
    cancels the event): a synthetic event, since chromedriver answers a real prompt itself
    when it navigates."""
    return drv.execute_script(
        "var e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e);"
        "return e.defaultPrevented;"
    )


def _save(drv) -> dict:  # noqa: ANN001
    drv.execute_script("window.gwState.saved = null; window.gwState.saveError = null;")
    drv.find_element("id", "gw-save").click()
    _wait(drv, "return window.gwState.saved || window.gwState.saveError")
    saved = drv.execute_script("return window.gwState.saved")
    assert saved, drv.execute_script("return window.gwState.saveError")
    return saved


def test_a_saved_draft_opened_again_is_committed_from_its_page(live, browser) -> None:  # noqa: F811
    """Tester, 1 HIGH: the draft opened from the list (or the "review the draft" link after
    saving) had no commit or discard button. Also 10: the commit confirm listed the flags as
    raw keys (under_min, over_max); it now words them as the panel does. And 3: leaving the
    page asks first only while there are unsaved edits."""
    db = live["engine"]
    code = live["communities"][0]
    ed, _grids = _groups(db, code)
    url = f"{live['base']}/maps/editor?community={code}&min=395&max=405"
    _open(browser, url, "editor_reopen_start")
    assert _console_errors(browser) == []
    assert not _leaving_asks(browser)  # nothing changed yet
    moved, far = far_move(ed)
    browser.execute_script(f"window.gwEditor.move([{moved}], {far});")
    assert _leaving_asks(browser)
    browser.find_element("id", "gw-undo").click()
    assert not _leaving_asks(browser)  # back where it started
    browser.find_element("id", "gw-redo").click()
    assert _leaving_asks(browser)
    saved = _save(browser)
    assert not _leaving_asks(browser)  # saved: nothing to lose
    flagged = {g["code"]: g["flags"] for g in saved["grids"] if g["flags"]}
    assert any("disconnected" in f for f in flagged.values()), flagged
    assert any(k in f for f in flagged.values() for k in ("under_min", "over_max")), flagged
    # the save message: Chinese first, each flagged grid and what is wrong in each part
    # (T38 L5: 「已存为草案 saved as draft plan #9（1 个网格有问题 grid(s) flagged）」)
    pid, n = saved["plan_id"], len(flagged)
    zh, en = browser.find_element("id", "gw-msg").text.split(" saved as draft plan ", 1)
    assert zh.startswith(f"已存为草案 #{pid}（{n} 个网格有问题：") and zh.endswith("）"), zh
    assert en.startswith(f"#{pid} ({n} grid(s) flagged: ") and "不" not in en, en
    assert all(c in zh and c in en for c in flagged) and "不连通" in zh and "disconnected" in en

    # the link after saving opens the draft: its page commits or discards it
    review = browser.find_element("id", "gw-plan-review")
    assert f"plan={saved['plan_id']}" in review.get_attribute("href")
    review.click()
    plan = _wait(browser, "return window.gwState && window.gwState.ready && window.gwState.plan")
    assert plan["id"] == saved["plan_id"] and plan["status"] == "draft", plan
    browser.save_screenshot(str(ARTIFACTS / "editor_reopened_draft.png"))
    assert _shown(browser, "gw-plan") and _shown(browser, "gw-commit")
    assert _shown(browser, "gw-discard") and not _shown(browser, "gw-plan-review")
    assert f"#{saved['plan_id']}" in browser.find_element("id", "gw-plan-name").text
    assert not _leaving_asks(browser)  # opened on the draft: it is what is saved
    browser.find_element("id", "gw-commit").click()
    alert = browser.switch_to.alert
    said = alert.text
    lines = {x.split(":")[0].strip(): x for x in said.splitlines() if x.startswith("  ")}
    assert set(lines) == set(flagged), said
    words = {"under_min": "不足 under", "over_max": "超出 over", "disconnected": "不连通"}
    for grid, flags in flagged.items():
        assert "under_min" not in lines[grid] and "over_max" not in lines[grid], said
        assert all(words[f] in lines[grid] for f in flags), (lines[grid], flags)
    alert.accept()
    done = _wait(browser, "return window.gwState.planAction")
    assert done["result"]["plan_id"] == saved["plan_id"]
    assert _status(db, saved["plan_id"]) == "committed"
    assert not _shown(browser, "gw-plan")
    assert _console_errors(browser) == []


def test_stale_drafts_are_discarded_from_the_list_and_their_page(live, browser) -> None:  # noqa: F811
    """Tester, 2: drafts made on an older grid version piled up in the list and nothing in
    the UI could discard them. The list has a discard button per stale draft (confirmed
    first); the stale draft's page offers discard (never commit)."""
    db = live["engine"]
    code = live["communities"][1]
    _ed, grids = _groups(db, code)
    stale_a, stale_b = _draft(db, code, grids), _draft(db, code, grids)
    _commit_copy(db, code)  # another planner commits: both drafts are now stale
    fresh = _draft(db, code, _groups(db, code)[1])

    browser.get(f"{live['base']}/maps/editor")
    # on a phone the list fits the screen (tester M2: 640 px wide on a 390 px phone)
    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        wide = browser.execute_script("return document.documentElement.scrollWidth")
        assert wide <= 390, wide
    finally:
        browser.set_window_size(size["width"], size["height"])
    # the bar of every page, its 退出 posted by gridward.js (not clicked: the module's
    # token would be revoked)
    assert browser.find_element("css selector", ".gw-topbar .gw-signout button").is_displayed()
    assert browser.execute_script("return typeof gw.signOut") == "function"
    buttons = browser.find_elements("css selector", "button.gw-discard-stale")
    assert {int(b.get_attribute("data-plan")) for b in buttons} >= {stale_a, stale_b}
    assert not browser.find_elements(
        "css selector", f'button.gw-discard-stale[data-plan="{fresh}"]'
    )
    button = browser.find_element("css selector", f'button.gw-discard-stale[data-plan="{stale_a}"]')
    button.click()
    browser.switch_to.alert.dismiss()  # asked first: no, and nothing happens
    assert _status(db, stale_a) == "draft"
    button.click()
    alert = browser.switch_to.alert
    assert f"#{stale_a}" in alert.text and "放弃" in alert.text
    alert.accept()
    res = _wait(browser, "return window.gwDiscarded")
    assert res["ok"], res
    assert _status(db, stale_a) == "discarded"
    assert f"草案 #{stale_a} 已放弃" in browser.find_element("id", "gw-msg").text
    assert not browser.find_elements(
        "css selector", f'button.gw-discard-stale[data-plan="{stale_a}"]'
    )
    browser.save_screenshot(str(ARTIFACTS / "editor_picker_discarded.png"))

    _open(browser, f"{live['base']}/maps/editor?community={code}&plan={stale_b}", "editor_stale")
    plan = _wait(browser, "return window.gwState.plan")
    assert plan["status"] == "draft" and plan["stale"] is True, plan
    assert _count(browser, "#gw-stale") == 1
    assert _shown(browser, "gw-discard") and not _shown(browser, "gw-commit")
    # saving or rebalancing it only failed (tester M2, N4): both are off on a stale page
    for off in ("gw-save", "gw-rebalance"):
        assert not browser.find_element("id", off).is_enabled(), off
    browser.find_element("id", "gw-discard").click()
    browser.switch_to.alert.accept()
    _wait(browser, "return window.gwState.planAction")
    assert _status(db, stale_b) == "discarded"
    assert _console_errors(browser) == []


def test_the_committed_plan_is_not_called_a_stale_draft(live, browser) -> None:  # noqa: F811
    """Tester, 15: the committed plan (today's grids) opened in the editor said "draft plan
    7 草案 … 已过期 stale". It is said to be the committed plan and its version, and, being
    the current grids, is edited and saved as they are."""
    db = live["engine"]
    code = live["communities"][2]
    plan = _commit_copy(db, code)
    version = _scalar(
        db,
        "SELECT max(version) FROM grids g JOIN areas a ON a.id = g.community_id WHERE a.code = :c",
        c=code,
    )
    _open(browser, f"{live['base']}/maps/editor?community={code}&plan={plan}", "editor_committed")
    got = _wait(browser, "return window.gwState.plan")
    assert got["status"] == "committed" and got["stale"] is False, got
    start = browser.find_element("id", "gw-start").text
    assert start.startswith(f"已提交的方案 #{plan}（第 {version} 版），即现行网格 "), start
    assert f"(version {version})" in start and "草案" not in start
    assert _count(browser, "#gw-stale") == 0 and not _shown(browser, "gw-plan")
    # on today's grids the page is not stale (its save was a 409 "reload"): saved unchanged,
    # it is refused as the current grids (nothing stored, T63 #3); an edit is saved
    from geo.map_data import editor_data

    plans = _scalar(db, "SELECT count(*) FROM grid_plans")
    browser.find_element("id", "gw-save").click()
    said = _wait(browser, "return window.gwState.saveError")
    assert "与现行网格相同，无需提交" in said and "请刷新" not in said, said
    assert _scalar(db, "SELECT count(*) FROM grid_plans") == plans
    moved, far = far_move(editor_data(db, code, plan))
    browser.execute_script(f"window.gwEditor.move([{moved}], {far});")
    saved = _save(browser)
    assert _status(db, saved["plan_id"]) == "draft"
    _commit_copy(db, code)  # replaced: now it is said to be replaced, not a stale draft
    _open(browser, f"{live['base']}/maps/editor?community={code}&plan={plan}", "editor_replaced")
    _wait(browser, "return window.gwState.plan")
    note = browser.find_element("id", "gw-stale").text
    assert note.startswith(f"⚠ 此方案于第 {version} 版提交，现行为第 {version + 1} 版"), note
    assert "draft" not in browser.find_element("id", "gw-start").text
    assert _console_errors(browser) == []


def test_an_expired_sign_in_keeps_the_edits_and_says_how_to_go_on(live, browser) -> None:  # noqa: F811
    """Tester, 4: with the sign-in expired mid-edit, save said "保存失败 save failed: 未登录
    not signed in: send 'Authorization: Bearer <token>'". It now says the sign-in expired,
    that the edits are kept, and links to the sign-in page in a new tab; signed in again,
    the same save works."""
    db = live["engine"]
    code = live["communities"][3]
    ed, _grids = _groups(db, code)
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_expired")
    moved, far = far_move(ed)
    browser.execute_script(f"window.gwEditor.move([{moved}], {far});")
    plans = _scalar(db, "SELECT count(*) FROM grid_plans")
    # 退出 with unsaved edits asks before the sign-in is revoked (tester M2, N1: the page's
    # "leave?" prompt came after the logout, and "stay" kept edits nothing could save).
    # The page's requests are recorded, not sent: the module's token must live on.
    browser.execute_script(
        "window.__sent = []; window.__request = gw.request; window.confirm = function (t) {"
        " window.__asked = t; return false; }; gw.request = function (u) {"
        " window.__sent.push(u); return Promise.resolve(null); };"
    )
    stayed = browser.execute_async_script("gw.signOut().then(arguments[0]);")
    assert stayed is False and browser.execute_script("return window.__sent") == []
    assert browser.execute_script("return window.__asked").startswith("本页有未保存的修改")
    browser.execute_script("gw.request = window.__request;")

    def sign_in_as(token: str) -> None:
        browser.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {token}"}}
        )

    sign_in_as("gw_expired-token")
    try:
        browser.find_element("id", "gw-save").click()
        _wait(browser, "return window.gwState.saveError")
        msg = browser.find_element("id", "gw-msg")
        said = msg.text
        assert said.startswith("登录已过期"), said
        assert "修改仍保留" in said and "edits are kept" in said, said
        assert "Authorization" not in said and "Bearer" not in said, said
        link = browser.find_element("id", "gw-signin")
        assert link.get_attribute("target") == "_blank"
        assert "/login?next=" in link.get_attribute("href")
        assert browser.execute_script("return window.gwEditor.unsaved()")
        for button in ("gw-rebalance",):  # every call of the page says it the same way
            browser.find_element("id", button).click()
            WebDriverWait(browser, 30).until(lambda d: "中" not in msg.text)
            assert msg.text.startswith("登录已过期，重新平衡未完成"), msg.text
        assert _scalar(db, "SELECT count(*) FROM grid_plans") == plans
        browser.save_screenshot(str(ARTIFACTS / "editor_sign_in_expired.png"))
    finally:
        sign_in_as(token_for(db, "admin", name="editor-again"))
    saved = _save(browser)  # signed in again (another tab): the same save works
    assert _status(db, saved["plan_id"]) == "draft"
    members = next(
        f["properties"]["building_ids"]
        for f in _features(db, saved["plan_id"])
        if f["properties"]["code"] == ed.grids[far]["code"]
    )
    assert moved in members


def _features(engine, plan: int) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT features FROM grid_plans WHERE id = :p"), {"p": plan}
        ).scalar_one()["features"]


def test_rebalancing_an_unchanged_community_moves_nothing(live, browser) -> None:  # noqa: F811
    """Tester, 6: "rebalance the rest" on a community the engine had just partitioned said
    "38 楼栋 moved": only the grid codes had swapped (001↔002, 003↔004), and the colours
    with them. Nothing moves now and every grid keeps its code; on a page made stale by
    another planner's commit it says so instead of rebalancing."""
    from geo.errors import ConflictError
    from geo.plans import commit_plan, create_plan

    db = live["engine"]
    code = "110108015002"  # the tester's community
    assert code in live["communities"]
    try:
        commit_plan(db, create_plan(db, code, 300, 500, created_by="test"), actor="test")
    except ConflictError as e:  # today's grids are that partition already (refused as equal)
        assert "无需提交" in str(e), e
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_rebalance_same")
    before = browser.execute_script("return window.gwState.grids")
    browser.find_element("id", "gw-rebalance").click()
    done = _wait(browser, "return window.gwState.rebalanced", 60)
    msg = browser.find_element("id", "gw-msg").text
    assert done == {"moved": 0} and msg == "已重新平衡：移动 0 栋楼 rebalanced: 0 building(s) moved"
    assert browser.execute_script("return window.gwState.grids") == before
    assert not browser.execute_script("return window.gwEditor.unsaved()")
    assert _console_errors(browser) == []

    _commit_copy(db, code)  # another planner commits behind the page's back
    browser.execute_script("window.gwState.rebalanced = null;")
    browser.find_element("id", "gw-rebalance").click()
    WebDriverWait(browser, 60).until(lambda d: "中" not in d.find_element("id", "gw-msg").text)
    msg = browser.find_element("id", "gw-msg").text
    assert msg.startswith("重新平衡失败") and "请刷新编辑器" in msg, msg
    assert browser.execute_script("return window.gwState.rebalanced") is None
    assert [e for e in _console_errors(browser) if "409 (Conflict)" not in e] == []


def test_leaflet_draw_speaks_chinese_first(live, browser) -> None:  # noqa: F811
    """Tester, 10: the drawing tools said "Draw a polygon", "Click to start drawing shape.",
    "Finish", "Delete last point", "Cancel" and "Edit layers" in English only. (The edit
    tools are gone since T63 B: a drawn boundary is a one-shot action.)"""
    code = live["communities"][0]
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_draw_zh")
    polygon = browser.find_element("css selector", ".leaflet-draw-draw-polygon")
    assert polygon.get_attribute("title").startswith("画边界"), polygon.get_attribute("title")
    polygon.click()
    actions = [
        a.text
        for a in browser.find_elements("css selector", ".leaflet-draw-actions a")
        if a.is_displayed()
    ]
    assert actions == ["完成 Finish", "删除上一点 Delete last point", "取消 Cancel"], actions
    tip = browser.find_element("css selector", ".leaflet-draw-tooltip")
    assert tip.get_attribute("textContent").startswith("点击开始画边界"), tip.text
    browser.save_screenshot(str(ARTIFACTS / "editor_draw_zh.png"))
    next(a for a in browser.find_elements("link text", "取消 Cancel") if a.is_displayed()).click()
    assert _console_errors(browser) == []


def _panel_disconnected(drv) -> tuple[int, list[int]]:  # noqa: ANN001
    """The panel's 不连通 count (问题 Violations) and the rows (grid positions) it flags."""
    count = drv.find_element("css selector", '#gw-violations [data-kind="disconnected"]').text
    rows = drv.find_elements("css selector", "#gw-grids tr.gw-grid-row")
    flagged = [
        int(r.get_attribute("data-i"))
        for r in rows
        if "不连通" in r.find_elements("tag name", "td")[3].text
    ]
    return int(count.rsplit(":", 1)[1]), flagged


def _saved_disconnected(drv, saved: dict) -> list[int]:  # noqa: ANN001
    """The grids (page positions) the saved draft flags ``disconnected``: the page sends its
    grids that hold a building, in order."""
    sent = drv.execute_script(
        "return window.gwState.grids.map(function (g, i) { return g.buildings ? i : -1; })"
        ".filter(function (i) { return i >= 0; })"
    )
    assert len(sent) == len(saved["grids"]), (sent, saved["grids"])
    return [i for i, g in zip(sent, saved["grids"], strict=True) if "disconnected" in g["flags"]]


def test_ground_nobody_lives_on_does_not_join_a_grid_on_the_page(live, browser) -> None:  # noqa: F811
    """Tester, demo 110108015004: buildings 47–51 (top right) and 104 (alone on the far
    bottom-left strip) in a new grid passed as connected on the page while the saved draft,
    drawn since 0abf095 by giving ground out atom by atom (it joins parts of a grid within
    30 m, or ground that grid alone encloses), flags it disconnected. The page gives the
    ground out as the server does: on the engine's grids nothing is 不连通; after each edit
    the panel flags exactly the grids the saved draft flags. (The pieces the page read
    before missed 003 split by taking 1, 7 and 151 out, and called 003 split when 104 joins
    it across ground only it borders.)"""
    from geo.plans import commit_plan, create_plan

    db = live["engine"]
    code = "110108015004"
    assert code in live["communities"]
    commit_plan(db, create_plan(db, code, 300, 500, created_by="test"), actor="test")
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_ground_start")
    assert _panel_disconnected(browser) == (0, [])
    assert browser.execute_script("return window.gwState.violations.disconnected") == 0
    # the server agrees: no grid of the engine's is in pieces (they are the current grids:
    # saved unchanged, nothing would be stored since T63 #3)
    pieces = _scalar(
        db,
        "SELECT count(*) FROM grids g JOIN areas a ON a.id = g.community_id WHERE a.code = :c "
        "AND g.level = 1 AND g.retired_at IS NULL AND g.flags ? 'disconnected'",
        c=code,
    )
    assert pieces == 0
    grid_of = browser.execute_script("return window.gwEditor.state.assign")
    assert [grid_of[str(b)] for b in (47, 104, 1, 7, 151)] == [0, 4, 2, 2, 2], grid_of

    browser.find_element("id", "gw-new").click()
    new = browser.execute_script("return window.gwEditor.state.active")
    assert new == 5
    for moved, to, expected in (
        ([47, 48, 49, 50, 51, 104], new, [new]),  # the tester's grid: two parts
        ([1, 7, 151], new, [2]),  # what is left of 003 is in two parts
        ([104], 2, []),  # 104 joins 003 through the southern ground only 003 borders
    ):
        while browser.execute_script("return window.gwEditor.state.undo.length"):
            browser.find_element("id", "gw-undo").click()
        browser.execute_script(f"window.gwEditor.move({moved}, {to});")
        count, flagged = _panel_disconnected(browser)
        assert (count, flagged) == (len(expected), expected), (moved, count, flagged)
        saved = _save(browser)
        assert _saved_disconnected(browser, saved) == flagged, (moved, saved["grids"])
        if moved[0] == 47:
            browser.save_screenshot(str(ARTIFACTS / "editor_ground_new_grid.png"))
            # the smaller part, 104 alone, is outlined as the stray one
            marked = browser.execute_script(
                "return Array.from(document.querySelectorAll('path.gw-disconnected'))"
                ".map(function (p) { return p.getAttribute('class'); })"
            )
            assert len(marked) == 1 and "gw-b-104" in marked[0].split(), marked
            stored = _features(db, saved["plan_id"])[new]["properties"]
            assert stored["building_ids"] == moved and "disconnected" in stored["flags"]
    assert _console_errors(browser) == []


def _set_bounds(drv, lo: str, hi: str) -> str:  # noqa: ANN001
    """Type ``lo`` and ``hi`` into the bounds inputs; the message line after."""
    drv.execute_script(
        "for (const [id, v] of [['gw-min', arguments[0]], ['gw-max', arguments[1]]]) {"
        " const el = document.getElementById(id); el.value = v;"
        " el.dispatchEvent(new Event('input')); }",
        lo,
        hi,
    )
    return drv.find_element("id", "gw-msg").text


def test_the_bounds_refusal_names_the_values_and_the_rule(live, browser) -> None:  # noqa: F811
    """T38 L5: 「户数范围无效 household bounds must be whole numbers 0–1000000 with min ≤ max」
    said neither the values nor which rule failed, and an emptied input was read as 0. Each
    refusal names them in the Chinese (the English sentence stays, the values after it)."""
    code = live["communities"][3]
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_bounds_words")
    bounds = "var p = window.gwEditor.payload(); return [p.min_households, p.max_households];"
    start = browser.execute_script(bounds)
    rule = (
        "（须为 0–1000000 的整数，下限不大于上限） "
        "household bounds must be whole numbers 0–1000000 with min ≤ max"
    )
    assert _set_bounds(browser, "600", "500") == (
        f"户数范围无效：下限 600 大于上限 500{rule} (min 600 > max 500)"
    )
    assert _set_bounds(browser, "", "500") == f"户数范围无效：下限为空{rule} (min is empty)"
    assert _set_bounds(browser, "700", "2000000") == (
        f"户数范围无效：上限 2000000 不是 0–1000000 的整数{rule} "
        "(max 2000000 is not a whole number 0–1000000)"
    )
    assert "gw-bad" in browser.find_element("id", "gw-msg").get_attribute("class")
    assert browser.execute_script(bounds) == start  # refused: the bounds stay
    assert _set_bounds(browser, "250", "450") == (
        "户数范围已设为 [250, 450] household bounds set to [250, 450]"
    )
    assert browser.execute_script(bounds) == [250, 450] != start
    _set_bounds(browser, *map(str, start))  # back: leaving the page asks nothing
    assert not browser.execute_script("return window.gwEditor.unsaved()")
    assert _console_errors(browser) == []


def test_a_grid_left_without_buildings_is_said_before_and_after_saving(live, browser) -> None:  # noqa: F811
    """T38 L6: moving the only building out of grid 110108015004002 left a row reading 「0 …
    不足 under」, and saving silently dropped the grid from the draft. The row and the
    problem list say the grid will be removed, saving asks first (no: nothing is saved),
    and the save message names it, Chinese first with every value (L5: 「已存为草案 saved as
    draft plan #9（1 个网格有问题 …）」). A move and the commit are said Chinese first too.
    T39 L3: the row names the grid and reads "—" for its counts, and once saved (then
    committed) says it was removed, not that it will be."""
    db = live["engine"]
    code = live["communities"][3]
    _ed, grids = _groups(db, code)
    # the grid with the fewest buildings goes empty: all of them into the next grid
    src = min(range(len(grids)), key=lambda i: len(grids[i][1]))
    gone, ids = grids[src]
    dst = (src + 1) % len(grids)
    kept = grids[dst][0]
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_emptied")
    _set_bounds(browser, "0", "1000000")
    browser.execute_script(f"window.gwEditor.move({ids}, {dst});")
    n = len(ids)
    msg = browser.find_element("id", "gw-msg").text
    assert msg == f"已将 {n} 栋楼移入网格 {kept} moved {n} building(s) to grid {kept}", msg
    will = (
        f"网格 {gone} 已无楼栋，保存时将删除 grid {gone} has no buildings left: "
        "it will be removed when saved"
    )
    # T39 L3: the row named no grid (「已无楼栋，保存时将删除 no buildings left: removed when
    # saved」) and showed 0 households, 0 buildings as a grid's counts
    assert _row(browser, src) == [gone, "—", "—", will]
    note = browser.find_element("css selector", '#gw-violations [data-kind="empty"]').text
    assert note == will
    plans = _scalar(db, "SELECT count(*) FROM grid_plans")
    browser.find_element("id", "gw-save").click()
    alert = browser.switch_to.alert
    assert alert.text.startswith(f"保存后将删除已无楼栋的网格：{gone}。仍要保存？"), alert.text
    alert.dismiss()
    assert _scalar(db, "SELECT count(*) FROM grid_plans") == plans
    assert browser.find_element("id", "gw-msg").text.startswith(f"未保存。要保留网格 {gone}，")
    browser.execute_script("window.gwState.saved = null; window.gwState.saveError = null;")
    browser.find_element("id", "gw-save").click()
    browser.switch_to.alert.accept()
    _wait(browser, "return window.gwState.saved || window.gwState.saveError")
    saved = browser.execute_script("return window.gwState.saved")
    assert saved, browser.execute_script("return window.gwState.saveError")
    pid = saved["plan_id"]
    assert gone not in [f["properties"]["code"] for f in _features(db, pid)]
    # T39 L3: after the save the row and the note still said "will be removed when saved"
    was = (
        f"网格 {gone} 已无楼栋，已在草案 #{pid} 中删除 grid {gone} had no buildings left: "
        f"it was removed in draft #{pid}"
    )
    assert _row(browser, src) == [gone, "—", "—", was]
    assert browser.find_element("css selector", '#gw-violations [data-kind="empty"]').text == was
    msg = browser.find_element("id", "gw-msg").text
    flagged = [g for g in saved["grids"] if g["flags"]]
    zh, en = msg.split(" saved as draft plan ", 1)
    assert zh.startswith(f"已存为草案 #{pid}（") and zh.endswith(f"已删除无楼栋的网格 {gone}）"), (
        msg
    )
    assert en.startswith(f"#{pid} (") and en.endswith(f"removed grid(s) with no buildings: {gone})")
    if flagged:  # each named with what is wrong, in each language's part
        assert f"{len(flagged)} 个网格有问题：" in zh and all(g["code"] in zh for g in flagged), msg
        assert f"{len(flagged)} grid(s) flagged: " in en, msg
    assert not any(ch in en for ch in "网格已删除有问题"), msg
    assert browser.find_element("id", "gw-plan-name").text == f"草案 #{pid} draft #{pid}"

    browser.find_element("id", "gw-commit").click()
    browser.switch_to.alert.accept()
    done = _wait(browser, "return window.gwState.planAction")["result"]
    msg = browser.find_element("id", "gw-msg").text
    assert msg.startswith(f"已提交：第 {done['version']} 版，{done['grids']} 个网格；职责 "), msg
    assert f" committed: version {done['version']}, {done['grids']} grids; duties: " in msg
    assert (
        _scalar(db, "SELECT count(*) FROM grids WHERE code = :c AND retired_at IS NULL", c=gone)
        == 0
    )
    v = done["version"]
    assert _row(browser, src) == [
        gone,
        "—",
        "—",
        f"网格 {gone} 已无楼栋，已在第 {v} 版中删除（草案 #{pid} 已提交） grid {gone} had no "
        f"buildings left: it was removed in version {v} (draft #{pid} committed)",
    ]
    # a new grid given no building is named too, Chinese first
    browser.find_element("id", "gw-new").click()
    k = len(grids) + 1
    assert _row(browser, k - 1) == [
        f"新网格 {k} new grid {k}",
        "—",
        "—",
        f"新网格 {k} 尚无楼栋，保存时将删除 new grid {k} has no buildings: it will be dropped "
        "when saved",
    ]
    assert _console_errors(browser) == []


def _row(drv, i: int) -> list[str]:  # noqa: ANN001
    """The cells of grid row ``i`` of the panel's table (name, households, buildings, status)."""
    row = drv.find_element("css selector", f'#gw-grids tr.gw-grid-row[data-i="{i}"]')
    return [td.text for td in row.find_elements("tag name", "td")[:4]]


# the shapes drawn with Leaflet.draw still on the map: paths that are no GeoJSON feature of
# the page's own layers (buildings, grid outlines, streets, problems, the community)
_DRAWN = (
    "var n = 0; window.gwMap.eachLayer(function (l) {"
    " if (l instanceof L.Path && !l.feature) n += 1; }); return n;"
)


def _draw_around(drv, ids: list[int]) -> None:  # noqa: ANN001
    """Draw a boundary around buildings ``ids`` with the toolbar's polygon tool, by clicks on
    the map as a planner draws it, and finish it with 完成 Finish."""
    from selenium.webdriver.common.action_chains import ActionChains

    corners = drv.execute_script(
        "var s = window.gwEditor.state, b = null;"
        "arguments[0].forEach(function (id) { var lb = s.layers[id].getBounds();"
        " b = b ? b.extend(lb) : L.latLngBounds(lb.getSouthWest(), lb.getNorthEast()); });"
        "b = b.pad(0.15); var m = window.gwMap;"
        "return [b.getSouthWest(), b.getNorthWest(), b.getNorthEast(), b.getSouthEast()]"
        ".map(function (c) { var p = m.latLngToContainerPoint(c); return [p.x, p.y]; });",
        ids,
    )
    box = drv.find_element("css selector", ".folium-map")
    w, h = box.size["width"], box.size["height"]
    drv.find_element("css selector", ".leaflet-draw-draw-polygon").click()
    for x, y in corners:  # Selenium's offsets are from the element's centre
        ActionChains(drv).move_to_element_with_offset(
            box, int(x - w / 2), int(y - h / 2)
        ).click().perform()
    next(
        a for a in drv.find_elements("css selector", ".leaflet-draw-actions a") if a.is_displayed()
    ).click()


def test_the_editor_draws_the_streets_and_alleys_under_the_buildings(live, browser) -> None:  # noqa: F811
    """T63 A: the editor drew no streets (the grid map does), so without a basemap the
    planner could not see the street a boundary should follow. Streets and alleys are drawn
    beneath the buildings, styled apart as on the grid map, named in the layer list, and
    let clicks through to the buildings and the draw tool."""
    from geo.map_data import editor_data

    code = live["communities"][1]
    kinds = [f["properties"]["kind"] for f in editor_data(live["engine"], code).streets["features"]]
    assert "street" in kinds and "alley" in kinds, kinds
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_streets")
    counts = browser.execute_script("return window.gwState.counts")
    assert (counts["streets"], counts["alleys"]) == (kinds.count("street"), kinds.count("alley"))
    lines = browser.execute_script(
        "return ['street', 'alley'].map(function (k) {"
        " var p = document.querySelector('path.gw-' + k), s = getComputedStyle(p);"
        " return [document.querySelectorAll('path.gw-' + k).length, s.stroke, s.strokeWidth,"
        " s.pointerEvents, !!(p.compareDocumentPosition(document.querySelector('path.gw-bld'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING)]; });"
    )
    (ns, street_colour, street_w, street_pe, street_under), alley = lines
    assert ns == kinds.count("street") and alley[0] == kinds.count("alley"), lines
    assert street_colour != alley[1] and street_w != alley[2], lines  # styled apart
    assert street_pe == alley[3] == "none", lines  # clicks go through to what is under
    assert street_under and alley[4], lines  # drawn before (beneath) the buildings
    legend = browser.find_element("css selector", ".leaflet-control-layers").get_attribute(
        "textContent"
    )
    assert "街 streets" in legend and "小巷 alleys" in legend, legend
    assert _console_errors(browser) == []


def test_a_drawn_boundary_is_a_one_shot_move(live, browser) -> None:  # noqa: F811
    """T63 B: a boundary drawn for grid 009, then reshaped with the edit tool while 003 was
    selected, moved its building into 003 and left the one now outside in 009; boundaries
    stayed on the map after undo, and the delete tool could not pick one. A drawn boundary
    now moves the buildings inside it into the grid selected then and is taken off the map
    (undo and redo as any move), and the toolbar has no reshape or delete."""
    from geo.map_data import editor_data

    code = live["communities"][1]
    ed = editor_data(live["engine"], code)
    grid_of = {f["id"]: f["properties"]["grid"] for f in ed.buildings["features"]}
    a, b = next((x, y) for x, y in ed.adjacency if grid_of[x] == grid_of[y])
    dst = next(g for g in range(len(ed.grids)) if g != grid_of[a])
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_one_shot")
    # no reshape or delete of drawn boundaries: nothing drawn stays
    assert _count(browser, ".leaflet-draw-edit-edit, .leaflet-draw-edit-remove") == 0
    hint = browser.find_element("id", "gw-hint").text
    assert "边界随即消失" in hint and "the boundary is removed" in hint, hint
    browser.find_element("css selector", f'input[name="gw-active"][value="{dst}"]').click()
    _draw_around(browser, [a, b])
    assign = browser.execute_script("return window.gwEditor.state.assign")
    assert (assign[str(a)], assign[str(b)]) == (dst, dst), (a, b, dst)
    assert browser.execute_script(_DRAWN) == 0  # the boundary is gone once applied
    browser.save_screenshot(str(ARTIFACTS / "editor_one_shot_drawn.png"))
    browser.find_element("id", "gw-undo").click()
    assign = browser.execute_script("return window.gwEditor.state.assign")
    assert (assign[str(a)], assign[str(b)]) == (grid_of[a], grid_of[b])
    assert browser.execute_script(_DRAWN) == 0
    browser.find_element("id", "gw-redo").click()
    assign = browser.execute_script("return window.gwEditor.state.assign")
    assert (assign[str(a)], assign[str(b)]) == (dst, dst)
    assert browser.execute_script(_DRAWN) == 0
    assert _console_errors(browser) == []


def test_a_new_action_replaces_the_last_message_and_note(live, browser) -> None:  # noqa: F811
    """T63 D: after ＋新网格 the last boundary's 「已移动 6 栋楼，见下方提示」 and its
    cut-building note stayed on screen."""
    code = live["communities"][1]
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_messages")
    n = len(browser.execute_script("return window.gwState.grids"))
    a = browser.execute_script("return Number(Object.keys(window.gwEditor.state.layers)[0])")
    browser.execute_script(  # a boundary across buildings
        f"var b = window.gwEditor.state.layers[{a}].getBounds().pad(3); var poly = L.polygon("
        "[b.getSouthWest(), b.getNorthWest(), b.getNorthEast(), b.getSouthEast()]); "
        "window.gwMap.fire('draw:created', {layer: poly});"
    )
    msg = browser.find_element("id", "gw-msg")
    assert "见下方提示" in msg.text, msg.text
    assert _count(browser, '#gw-violations [data-kind="draw"]') == 1
    browser.find_element("id", "gw-new").click()
    assert msg.text == (
        f"已添加新网格 {n + 1}并选中，点击楼栋归入 added new grid {n + 1} and selected it: "
        "click buildings to move them into it"
    ), msg.text
    assert _count(browser, '#gw-violations [data-kind="draw"]') == 0
    browser.find_element("id", "gw-undo").click()  # the boundary's move
    browser.find_element("id", "gw-undo").click()  # nothing left: said so
    assert msg.text == "没有可撤销的操作 nothing to undo", msg.text
    assert _console_errors(browser) == []


def test_new_grids_take_the_codes_the_saved_draft_gave_them(live, browser) -> None:  # noqa: F811
    """T63 C: ＋新网格 twice, buildings into 新网格 11, save: the message said
    「110108015002010 不足」 while the panel still listed 「新网格 10 … 尚无楼栋」 and
    「新网格 11 62」. After a save the panel names each new grid by the code the draft gave
    it, and the empty new grid is said to be dropped, before and after the save, in its row,
    the problem list and the save message; a discard of the draft makes them new again."""
    db = live["engine"]
    code = live["communities"][3]
    ed, grids = _groups(db, code)
    n = len(ed.grids)
    _open(browser, f"{live['base']}/maps/editor?community={code}", "editor_new_codes")
    browser.find_element("id", "gw-new").click()
    browser.find_element("id", "gw-new").click()
    empty, used = n, n + 1  # 新网格 n+1 stays empty, 新网格 n+2 takes buildings
    moved = max(grids, key=lambda g: len(g[1]))[1][:2]
    browser.execute_script(f"window.gwEditor.move({moved}, {used});")
    will = (
        f"新网格 {empty + 1} 尚无楼栋，保存时将删除 new grid {empty + 1} has no buildings: it "
        "will be dropped when saved"
    )
    assert _row(browser, empty)[:3] == [f"新网格 {empty + 1} new grid {empty + 1}", "—", "—"]
    before = (
        _row(browser, empty)[3],
        browser.execute_script(
            "var e = document.querySelector('#gw-violations [data-kind=\"empty-new\"]');"
            "return e && e.textContent;"
        ),
    )
    saved = _save(browser)
    pid = saved["plan_id"]
    given = saved["grids"][-1]["code"]  # the grids are sent in the panel's order
    assert given and given.startswith(code), saved["grids"]
    row = _row(browser, used)
    assert row[0] == given, row  # was 「新网格 12 new grid 12」
    assert before == (will, will)  # was 「尚无楼栋，不会保存 … it is not saved」
    was = (
        f"新网格 {empty + 1} 尚无楼栋，已在草案 #{pid} 中删除 new grid {empty + 1} had no "
        f"buildings: it was dropped from draft #{pid}"
    )
    assert _row(browser, empty)[3] == was
    msg = browser.find_element("id", "gw-msg").text
    zh, en = msg.split(" saved as draft plan ", 1)
    assert f"已删除无楼栋的新网格 {empty + 1}" in zh, msg
    assert f"dropped new grid {empty + 1} with no buildings" in en, msg
    payload = browser.execute_script("return window.gwEditor.payload().grids")
    assert payload[-1]["code"] == given  # saved again, it keeps its code

    browser.find_element("id", "gw-discard").click()
    browser.switch_to.alert.accept()
    _wait(browser, "return window.gwState.planAction")
    assert _status(db, pid) == "discarded"
    # the code was the discarded draft's only: the grid is new again
    assert _row(browser, used)[0] == f"新网格 {used + 1} new grid {used + 1}"
    assert _row(browser, empty)[3] == will
    assert _console_errors(browser) == []
