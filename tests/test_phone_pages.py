"""The steward's pages as a phone met them (outside tester T44, headless Chromium at 360 and
320 px), over HTTP here (TestClient, real PostGIS, the seeded demo city of test_maps_data);
what the browser measures (tap targets, sideways scrolling, the upload's behaviour) is in
test_maps_browser_phone.py. Also T43 #10: the editor on an old plan version said nothing of
its household counts being today's.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_maps_data import PATROL_DAY
from tests.test_maps_pages import site  # noqa: F401 - the module's demo city

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "maps" / "static"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _steward(site: dict[str, Any], name: str) -> dict[str, str]:  # noqa: F811
    """Bearer headers of a steward account linked to the demo's walker."""
    from geo.accounts import create_user, issue_token

    with site["engine"].begin() as conn:
        uid = create_user(conn, name, "phone-test-password", "steward", (), site["walker"])
        return {"Authorization": f"Bearer {issue_token(conn, uid)[1]}"}


def _day_shown(page: str) -> str:
    found = re.search(r'<input name="date" type="date" value="([0-9-]+)"', page)
    assert found, page[:300]
    return found.group(1)


def _css_block(css: str, query: str) -> str:
    """The rules inside every ``@media (query)`` block of ``css``, joined."""
    out = []
    for m in re.finditer(r"@media \(" + re.escape(query) + r"\) \{", css):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(css[i], 0)
            i += 1
        out.append(css[m.end() : i - 1])
    return "\n".join(out)


def test_a_stewards_page_opens_on_her_today(site) -> None:  # noqa: F811
    """T44 #7: a steward opening /maps/patrols before her first upload of the day got the
    latest day anyone in the city patrolled (yesterday), though the route says "default
    today". Chosen: a steward's page opens on today (her coverage to do, the day her
    uploads land on); everyone else on the latest day with patrols, which the page now says
    when it is not today, and the route's description says both."""
    from geo.settings import city_today

    c = site["client"]
    today = city_today().isoformat()
    assert str(PATROL_DAY) < today  # the demo's one day of patrols is in the past
    own = c.get("/maps/patrols", headers=_steward(site, "phone-walker-7"))
    assert own.status_code == 200, own.text[:300]
    assert _day_shown(own.text) == today
    assert 'id="gw-latest"' not in own.text
    viewer = c.get("/maps/patrols", headers=site["viewer"])
    assert _day_shown(viewer.text) == str(PATROL_DAY)
    note = re.search(r'<p class="gw-note" id="gw-latest">(.*?)</p>', viewer.text)
    assert note, viewer.text[:500]
    assert note.group(1) == (
        f"今天（{today}）尚无巡查，显示最近有巡查的一天 {PATROL_DAY} no patrols yet today "
        f"({today}): showing the latest day with patrols, {PATROL_DAY}"
    )
    asked = c.get(f"/maps/patrols?date={PATROL_DAY}", headers=site["viewer"]).text
    assert 'id="gw-latest"' not in asked  # a day asked for is just that day
    spec = c.get("/openapi.json").json()["paths"]["/maps/patrols"]["get"]["parameters"]
    date = next(p for p in spec if p["name"] == "date")["description"]
    assert "today for a steward" in date and "latest day with patrols" in date, date


def test_a_stewards_refusal_says_see_and_upload_not_handle(site) -> None:  # noqa: F811
    """T44 #9: a steward opening someone else's patrol page read 「只能为本人办理」 (handle a
    procedure). The page's refusal says she sees and uploads only her own patrols, and the
    error page links to her own; the API routes keep their words."""
    c = site["client"]
    steward = _steward(site, "phone-walker-9")
    with site["engine"].connect() as conn:
        other = conn.execute(
            text("SELECT id FROM people WHERE id <> :w ORDER BY id LIMIT 1"), {"w": site["walker"]}
        ).scalar_one()
    r = c.get(f"/maps/patrols?person=id:{other}", headers=steward)
    assert r.status_code == 403, r.text[:300]
    assert r.json()["error"] == (
        "巡查人员只能查看和上传本人的巡查：此页所指的人员不是您本人。请打开不带人员的巡查图"
        "（/maps/patrols）查看本人的巡查 stewards see and upload only their own patrols: "
        "this page is about someone else; open the patrol map without a person "
        "(/maps/patrols) to see your own"
    )
    page = c.get(f"/maps/patrols?person=id:{other}", headers={**steward, **BROWSER})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    msg = re.search(r'<p class="gw-error-msg"[^>]*>(.*?)</p>', page.text).group(1)
    assert html.unescape(msg).startswith("巡查人员只能查看和上传本人的巡查："), msg
    assert "办理" not in page.text
    assert '<a href="/maps/patrols">打开本人的巡查图 open your own patrols</a>' in page.text
    # an API route keeps its words
    api = c.get(f"/tracks?person_id={other}", headers=steward)
    assert api.status_code == 403 and "只能为本人办理" in api.json()["error"], api.text


def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_a_script(site) -> None:  # noqa: F811
    """T44 #10: a phone opening /nope showed raw JSON. A browser now gets the site's error
    page (Chinese first, the address named, a way back to the map index), signed in or not;
    a script's JSON is unchanged, and an API route's own 404 stays JSON for a browser too."""
    c = site["client"]
    for headers, bar in (({}, False), (site["viewer"], True)):
        r = c.get("/nope", headers={**headers, **BROWSER})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text
        msg = html.unescape(re.search(r'<p class="gw-error-msg"[^>]*>(.*?)</p>', r.text).group(1))
        assert msg == (
            "未找到此地址 /nope：请从地图目录打开所需页面 "
            "Not Found: there is no page at /nope; open pages from the maps index"
        )
        assert "<h1>未找到 Not found" in r.text
        assert '<a href="/maps">返回地图目录 back to the maps</a>' in r.text
        assert ('class="gw-topbar"' in r.text) is bar
        assert '<meta name="viewport"' in r.text
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        j = c.get("/nope", headers=headers)
        assert j.status_code == 404 and j.json() == {
            "error": "未找到 Not Found",
            "status": 404,
            "code": "not_found",
        }
    missing = c.get("/tracks/999999", headers={**site["auth"], **BROWSER})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/json"
    ), missing.text


def test_the_upload_form_speaks_chinese_first_and_reports_progress(site) -> None:  # noqa: F811
    """T44 #8: `GPS (WGS-84)` was the only datum not opening in Chinese. T44 #1 and #4: the
    form's script (patrol_map.js) sends with XMLHttpRequest (upload progress), keeps the
    button disabled while sending, says an expired sign-in plainly with a sign-in link in a
    new tab, and a too-slow network with its remedy (behaviour: test_maps_browser_phone)."""
    page = site["client"].get(f"/maps/patrols?date={PATROL_DAY}", headers=site["auth"]).text
    assert '<option value="wgs84">手机 GPS 原始坐标 GPS (WGS-84)</option>' in page
    assert '<button id="gw-upload-send" class="gw-btn" type="submit">' in page
    assert '<progress id="gw-upload-progress" max="100" value="0" hidden></progress>' in page
    js = (STATIC / "patrol_map.js").read_text(encoding="utf-8")
    assert "new XMLHttpRequest()" in js and "xhr.upload.onprogress" in js
    assert "send.disabled = true" in js
    assert "登录已过期，文件未上传。请" in js
    assert "点此重新登录（新标签页）</a>，然后再点“上传”。" in js
    assert 'target="_blank"' in js
    assert "网络太慢，上传未完成，未保存任何内容。请到信号好的地方或连上 Wi-Fi 后再上传。" in js
    # T45 #1: the body sent is not the file stored: "已上传" waits for the server's answer
    assert "已发出，等待服务器确认… sent, waiting for the server…" in js
    assert "已上传，正在匹配" not in js and "xhr.upload.onload" in js


def test_narrow_screens_get_tap_targets_and_charts_that_fit(site) -> None:  # noqa: F811
    """T44 #2 and #6, as the stylesheet and the SVG say them (measured in Chromium in
    test_maps_browser_phone): under 700 px every control is at least 44 px high, the zoom
    buttons 44 px, the index links full-width rows; the charts scale (a viewBox, width 100%)
    and their text is 12 px on a desktop, 14 px (≥ 12 px scaled to 320 px) on a phone."""
    css = (STATIC / "gridward.css").read_text(encoding="utf-8")
    narrow = _css_block(css, "max-width: 700px")
    assert re.search(
        r"\.gw-btn, \.gw-panel select, \.gw-panel input:not\(\[type=checkbox\]\):not\("
        r"\[type=radio\]\) \{\s*min-height: 44px;",
        narrow,
    ), narrow
    assert ".leaflet-touch .leaflet-bar a { width: 44px; height: 44px;" in narrow
    assert re.search(r"\.gw-page ul\.gw-links a \{ display: flex;[^}]*min-height: 48px", narrow)
    assert ".gw-chart text { font-size: 14px; }" in narrow
    assert ".gw-chart text { font-size: 12px; fill: #333; }" in css
    assert ".gw-chart { display: block; width: 100%; max-width: 340px; height: auto; }" in css
    assert "font-size: 10px" not in css
    page = site["client"].get(f"/maps/patrols?date={PATROL_DAY}", headers=site["auth"]).text
    svg = re.search(r'<svg class="gw-chart gw-compliance"[^>]*>', page).group(0)
    assert 'viewBox="0 0 340 170"' in svg, svg
    grids = site["client"].get("/maps/grids", headers=site["auth"]).text
    assert 'viewBox="0 0 340 170"' in re.search(r'<svg class="gw-chart[^>]*>', grids).group(0)


def test_the_sign_in_form_fits_a_phone(site) -> None:  # noqa: F811
    """T44 #5: /login's form was 368 px (18rem plus 2 × 2.5rem padding, content-box): the
    page scrolled sideways at 360 and 320 px. It is border-box and at most the screen's
    width; under 400 px its padding is smaller and the fields are 44 px tap targets."""
    page = site["client"].get("/login").text
    form = re.search(r"form \{ ([^}]*)\}", page).group(1)
    assert "box-sizing: border-box" in form and "max-width: calc(100vw - 1rem)" in form, form
    assert "min-width: 18rem" not in page
    phone = re.search(r"@media \(max-width: 400px\) \{(.*?)\n\}", page, re.S)
    assert phone and "min-height: 44px" in phone.group(1), page


def _stored_column(page: str) -> str | None:
    found = re.search(r'<th class="gw-num" id="gw-hh-stored"[^>]*>(.*?)</th>', page)
    return html.unescape(found.group(1)) if found else None


def _page_data(page: str) -> dict:
    m = re.search(r"var DATA = (\{.*?\});\n", page, re.S)
    assert m, "no DATA on the page"
    return json.loads(m.group(1))


def test_an_old_version_in_the_editor_shows_the_commits_counts(site) -> None:  # noqa: F811
    """T43 #10: /maps/editor?plan=N on a replaced version listed today's households (500,
    399) where `gridward plans show N` printed the commit's (1080, 339), nothing saying so.
    The live column is now labelled 按当前户数 current households, and the plan's own counts
    and flags (those `plans show` prints) stand beside them; the current grids' page has one
    column as before."""
    from geo.plans import commit_plan, create_plan, get_plan

    db, community = site["engine"], site["communities"][-1]
    planner = site["auth"]
    first = create_plan(db, community, 300, 500, created_by="test")
    commit_plan(db, first, actor="test", allow_disconnected=True)
    with db.begin() as conn:  # a building gains 700 households after that commit
        grown = conn.execute(
            text(
                "UPDATE buildings SET households = households + 700 WHERE id = (SELECT b.id "
                "FROM buildings b JOIN areas a ON a.code = :c WHERE b.community_id = a.id "
                "AND b.households > 0 ORDER BY b.id LIMIT 1) RETURNING id"
            ),
            {"c": community},
        ).scalar_one()
    later = create_plan(db, community, 300, 500, seed=3)
    commit_plan(db, later, actor="test", allow_disconnected=True)
    shown = {
        f["properties"]["code"]: f["properties"]["households"]
        for f in get_plan(db, first)["features"]["features"]
    }
    with TestClient(create_app(db)) as client:
        old = client.get(f"/maps/editor?plan={first}", headers=planner)
        assert old.status_code == 200, old.text[:300]
        assert (
            html.unescape(
                re.search(r'<th class="gw-num" id="gw-hh-now">(.*?)</th>', old.text).group(1)
            )
            == "当前户数 current households"
        )
        assert _stored_column(old.text) == "提交时户数 households at commit"
        assert f'title="gridward plans show {first}"' in old.text
        data = _page_data(old.text)
        assert {k: v["households"] for k, v in data["stored"].items()} == shown
        # today's counts (the buildings the page carries) differ where the building grew
        now: dict[int, int] = {}
        for f in data["buildings"]["features"]:
            p = f["properties"]
            if p["grid"] is not None:
                now[p["grid"]] = now.get(p["grid"], 0) + p["households"]
        codes = [g["code"] for g in data["grids"]]
        grid_of = next(
            f["properties"]["grid"] for f in data["buildings"]["features"] if f["id"] == grown
        )
        assert now[grid_of] == shown[codes[grid_of]] + 700
        current = client.get(f"/maps/editor?community={community}", headers=planner).text
        assert _stored_column(current) is None and 'id="gw-hh-now"' not in current
        assert _page_data(current)["stored"] is None
    js = (STATIC / "editor.js").read_text(encoding="utf-8")
    assert "DATA.stored[S.grids[i].code]" in js and "gw-grid-stored" in js
