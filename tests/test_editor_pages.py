"""The grid editor's pages as served, before any script runs (FastAPI TestClient, real
PostGIS, demo OSM cut): the committed plan of today's grids is called what it is from the
start (it said "此草案…已过期 stale draft" until editor.js had asked the API), a stale draft
is still called stale, and the picker has the bar every other page has (退出 sign out)."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from tests.test_maps_pages import token_for
from tests.test_plans_db import demo  # noqa: F401 (the fixture)

COMMUNITY = "110108015002"


def _page_data(html: str) -> dict:
    """The DATA object the editor page hands to editor.js."""
    m = re.search(r"var DATA = (\{.*?\});\n", html, re.S)
    assert m, "no DATA on the page"
    return json.loads(m.group(1))


def _start(html: str) -> str:
    m = re.search(r'<span id="gw-start">(.*?)</span>', html, re.S)
    assert m, "no start on the page"
    return m.group(1)


def _same_grids_draft(engine: Engine, plan: int) -> int:
    """A draft of the grids of ``plan``, saved as the editor saves one."""
    from geo.map_data import editor_data
    from geo.plan_drafts import DraftGrid, save_draft

    ed = editor_data(engine, COMMUNITY, plan)
    members: dict[int, list[int]] = {}
    for f in ed.buildings["features"]:
        members.setdefault(f["properties"]["grid"] or 0, []).append(f["id"])
    grids = [DraftGrid(ed.grids[i]["code"], ids) for i, ids in sorted(members.items())]
    return save_draft(engine, COMMUNITY, 300, 500, grids, created_by="test")["plan_id"]


def test_the_committed_plan_is_said_committed_before_the_script_runs(demo) -> None:  # noqa: ANN001, F811
    """Tester: /maps/editor?community=…&plan=N on the committed plan of today's grids first
    showed "此草案基于第 0 版网格…已过期" and a "draft plan N 草案" start, which editor.js
    replaced once the page had loaded. The served page already says 已提交 (its version,
    today's grids) and is not stale; a draft made before a newer commit still says 已过期,
    and the committed plan, once replaced, says so (not "stale draft")."""
    from geo.plans import commit_plan, create_plan

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    first = create_plan(demo, COMMUNITY, 300, 500, created_by="test")
    commit_plan(demo, first, actor="test")  # version 1
    with TestClient(create_app(demo)) as client:
        url = f"/maps/editor?community={COMMUNITY}&plan={first}"
        page = client.get(url, headers=planner)
        assert page.status_code == 200, page.text
        html = page.text
        start = _start(html)
        assert start.startswith(f"已提交的方案 #{first}（第 1 版），即现行网格 "), start
        assert f"committed plan #{first} (version 1)" in start, start
        assert "现行网格" in start and "草案" not in start and "draft" not in start, start
        assert 'id="gw-stale"' not in html and "已过期" not in html
        data = _page_data(html)
        assert data["version"] == 1 == data["current_version"] and data["stale"] is False

        draft = _same_grids_draft(demo, first)  # made on version 1
        # other bounds: a plan equal to the current grids is refused at commit (227f740)
        commit_plan(demo, create_plan(demo, COMMUNITY, 250, 450), actor="test")
        stale = client.get(f"/maps/editor?community={COMMUNITY}&plan={draft}", headers=planner)
        html = stale.text
        assert stale.status_code == 200 and 'id="gw-stale"' in html, html[:300]
        assert "此草案基于第 1 版网格，现行为第 2 版：已过期" in html
        assert "已提交" not in html and _start(html) == f"草案 #{draft} draft plan #{draft}"
        assert _page_data(html)["stale"] is True and _page_data(html)["version"] == 1

        replaced = client.get(url, headers=planner).text  # the first commit, replaced since
        assert "此方案于第 1 版提交，现行为第 2 版：已被取代" in replaced
        assert "此草案" not in replaced and "已过期" not in replaced
        assert _start(replaced) == (
            f"已提交的方案 #{first}（第 1 版），现行为第 2 版 "
            f"committed plan #{first} (version 1), since replaced by version 2"
        )
        assert _page_data(replaced)["stale"] is True


def test_the_picker_has_the_sign_out_bar(demo) -> None:  # noqa: ANN001, F811
    """Every map page has the bar (map index, who is signed in, 退出 sign out, posted by
    gridward.js); the editor's picker, a page of its own, had none."""
    token = token_for(demo, "planner", ("110108015",), name="picker-planner")
    planner = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(demo)) as client:
        for url in ("/maps/editor", f"/maps/editor?community={COMMUNITY}"):
            html = client.get(url, headers=planner).text
            bar = re.search(r'<nav class="gw-topbar">.*?</nav>', html, re.S)
            assert bar, url
            assert '<form class="gw-signout" method="post" action="/auth/logout">' in bar[0]
            assert "退出 sign out" in bar[0] and 'href="/maps"' in bar[0], bar[0]
            assert '<span class="gw-user">picker-planner</span>' in bar[0], (url, bar[0])
            # each page script carries the answer's CSP nonce (T42 #5)
            assert re.search(r'<script nonce="[^"]+" src="/maps/static/gridward\.js">', html), url
        picker = client.get("/maps/editor", headers=planner).text
        assert picker.index('class="gw-topbar"') < picker.index("<h1>")  # on top


def test_the_start_and_the_drafts_read_chinese_first(demo) -> None:  # noqa: ANN001, F811
    """T38 L5: the header read 「起点 start: current grids 现行网格」 (English first) and a
    draft 「草案 draft plan #9」 (its number in the English only); the picker listed 「草案
    draft #9 (editor, …)」. Each is Chinese first now, every value in the Chinese."""
    from geo.plans import create_plan, discard_plan

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    draft = create_plan(demo, COMMUNITY, 300, 500, created_by="test")
    gone = create_plan(demo, COMMUNITY, 300, 500, created_by="test")
    discard_plan(demo, gone, actor="test")
    with TestClient(create_app(demo)) as client:
        html = client.get(f"/maps/editor?community={COMMUNITY}", headers=planner).text
        assert '起点：<span id="gw-start">现行网格 current grids</span>' in html
        assert "社区：" in html and f"（{COMMUNITY}） community<br>" in html
        html = client.get(f"/maps/editor?community={COMMUNITY}&plan={draft}", headers=planner)
        assert _start(html.text) == f"草案 #{draft} draft plan #{draft}"
        html = client.get(f"/maps/editor?community={COMMUNITY}&plan={gone}", headers=planner)
        assert _start(html.text) == f"已放弃的草案 #{gone} discarded draft #{gone}"
        picker = client.get("/maps/editor", headers=planner).text
        link = re.search(rf'<span class="gw-draft" data-plan="{draft}">(.*?)</span>', picker)
        assert link, picker
        text = re.sub(r"<[^>]+>", "", link.group(1))
        assert text.startswith(f"草案 #{draft} draft #{draft} （自动划分 partition，test，"), text
        assert text.endswith("，户数 300–500 households）"), text


def test_a_plan_alone_opens_its_own_community(demo) -> None:  # noqa: ANN001, F811
    """T39 L13: /maps/editor?plan=N without community= was a 422 asking for the community,
    though every plan is of one. The plan's community is taken from the plan: the page is
    the one community=…&plan=N serves. A planner outside that community gets the 403 naming
    it; a community= that disagrees with the plan is a 422 naming both (an HTML error page
    for a browser), Chinese first."""
    from geo.plans import create_plan

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    other = "110108015001"  # a neighbour in the same subdistrict: the planner's too
    elsewhere = {
        "Authorization": f"Bearer {token_for(demo, 'planner', (other,), name='nb-planner')}"
    }
    plan = create_plan(demo, COMMUNITY, 300, 500, created_by="test")
    browser = {**planner, "accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(create_app(demo)) as client:
        alone = client.get(f"/maps/editor?plan={plan}", headers=planner)
        assert alone.status_code == 200, alone.text[:300]
        both = client.get(f"/maps/editor?community={COMMUNITY}&plan={plan}", headers=planner)
        assert _start(alone.text) == _start(both.text) == f"草案 #{plan} draft plan #{plan}"
        assert f"（{COMMUNITY}） community<br>" in alone.text
        assert _page_data(alone.text)["community"]["code"] == COMMUNITY
        assert _page_data(alone.text)["grids"] == _page_data(both.text)["grids"]

        refused = client.get(f"/maps/editor?plan={plan}", headers=elsewhere)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"].startswith(f"不在您的管辖区域内：{COMMUNITY}。"), (
            refused.text
        )

        r = client.get(f"/maps/editor?community={other}&plan={plan}", headers=planner)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error == (
            f"方案 {plan} 属于社区 {COMMUNITY}，不属于所给的社区 {other}：请去掉 community=，"
            f"或改为 community={COMMUNITY} plan {plan} is not a plan of community {other}: "
            f"it is community {COMMUNITY}'s (leave out community= or give community={COMMUNITY})"
        ), error
        page = client.get(f"/maps/editor?community={other}&plan={plan}", headers=browser)
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
        assert f"方案 {plan} 属于社区 {COMMUNITY}，不属于所给的社区 {other}" in html.unescape(
            page.text
        ), page.text[:500]


def test_the_page_carries_the_communitys_streets_and_alleys(demo) -> None:  # noqa: ANN001, F811
    """T63 A: the editor drew no streets (the grid map draws them), so without a basemap a
    boundary could not follow one. The page's data holds the community's street segments,
    those the engine cuts it by, as lines with their kind and name, rounded to 6 decimals;
    the draw toolbar offers no reshape or delete of a drawn boundary (T63 B)."""
    from sqlalchemy import text

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    with demo.connect() as conn:
        expected = dict(
            conn.execute(
                text(
                    "SELECT s.id, s.kind FROM street_segments s JOIN areas a ON a.code = :c "
                    "WHERE s.retired_at IS NULL AND ST_Intersects(s.geom, a.geom)"
                ),
                {"c": COMMUNITY},
            ).all()
        )
    with TestClient(create_app(demo)) as client:
        html = client.get(f"/maps/editor?community={COMMUNITY}", headers=planner).text
    lines = _page_data(html)["streets"]["features"]
    assert {f["properties"]["id"]: f["properties"]["kind"] for f in lines} == expected
    assert {"street", "alley"} <= set(expected.values())
    assert all(f["geometry"]["type"] in ("LineString", "MultiLineString") for f in lines)
    assert any(f["properties"]["name"] for f in lines)
    digits = re.findall(r"\d+\.(\d+)", json.dumps([f["geometry"] for f in lines]))
    assert digits and max(len(d) for d in digits) <= 6
    assert '"edit": false' in html and '"remove": false' in html  # the Draw control's options


def test_a_building_of_another_community_is_named_by_its_id(demo) -> None:  # noqa: ANN001, F811
    """T63 D: 「方案中有 1 栋楼不属于社区 110108015002（9）」 did not say 9 is a building id."""
    from sqlalchemy import text

    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',))}"}
    with demo.connect() as conn:
        ours = list(
            conn.execute(
                text(
                    "SELECT b.id FROM buildings b JOIN areas a ON a.id = b.community_id "
                    "WHERE a.code = :c ORDER BY b.id"
                ),
                {"c": COMMUNITY},
            ).scalars()
        )
        theirs = conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN areas a ON a.id = b.community_id "
                "WHERE a.code <> :c ORDER BY b.id LIMIT 1"
            ),
            {"c": COMMUNITY},
        ).scalar_one()
    body = {
        "community": COMMUNITY,
        "min_households": 300,
        "max_households": 500,
        "grids": [{"code": None, "building_ids": [*ours, theirs]}],
    }
    with TestClient(create_app(demo)) as client:
        r = client.post("/plans/draft", json=body, headers=planner)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == (
        f"方案中有 1 栋楼不属于社区 {COMMUNITY}（楼栋编号 {theirs}） buildings not in "
        f"community {COMMUNITY}: building id(s) {theirs}"
    )
