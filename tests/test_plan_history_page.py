"""The grid history page /maps/editor/history?community=CODE as served (outside tester T63 #1:
history and revert were on the command line and the API only): the committed versions newest
first, with when (the city's time, to the minute), by whom, what made them, their grids and
households, the current one marked, each opened in the editor, the others with a revert
button; who may open it as the editor says. FastAPI TestClient, real PostGIS, demo OSM cut."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.plan_drafts import save_draft
from geo.plan_history import revert_plan
from geo.plans import commit_plan, create_plan
from geo.settings import get_settings
from tests.test_maps_pages import token_for
from tests.test_plan_outlines_kept_db import _edited
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

URL = f"/maps/editor/history?community={COMMUNITY}"


def _three_versions(engine) -> list[int]:  # noqa: ANN001
    """Version 1 by the engine, 2 saved in the editor, 3 a revert to 1: their plans."""
    first = create_plan(engine, COMMUNITY, 300, 500, created_by="test")
    commit_plan(engine, first, actor="规划员甲")
    second = save_draft(engine, COMMUNITY, 300, 500, _edited(engine, 1), base_version=1)
    commit_plan(engine, second["plan_id"], actor="planner-li", allow_disconnected=True)
    third = revert_plan(engine, COMMUNITY, 1, created_by="planner-li")["plan_id"]
    commit_plan(engine, third, actor="planner-li", allow_disconnected=True)
    return [first, second["plan_id"], third]


def _rows(page: str) -> dict[int, str]:
    """Each version's table row (its HTML), by version, in page order."""
    return {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'<tr data-version="(\d+)".*?</tr>', page, re.S)
    }


def _cell(row: str, label: str) -> str:
    m = re.search(rf'data-label="{re.escape(label)}">(.*?)</td>', row, re.S)
    assert m, (label, row)
    return html.unescape(m.group(1))


def test_the_history_page_lists_the_versions_and_offers_a_revert(demo) -> None:  # noqa: ANN001, F811
    plans = _three_versions(demo)
    planner = {"Authorization": f"Bearer {token_for(demo, 'planner', ('110108015',), 'li')}"}
    tz = get_settings().timezone
    with demo.connect() as conn:
        made = {
            r.version: r
            for r in conn.execute(
                text(
                    "SELECT g.version, count(*) AS n, min(g.households) AS lo, "
                    "max(g.households) AS hi, to_char(p.committed_at AT TIME ZONE :tz, "
                    "'YYYY-MM-DD HH24:MI') AS at FROM grids g JOIN grid_plans p ON "
                    "p.id = g.plan_id WHERE g.level = 1 GROUP BY g.version, p.committed_at"
                ),
                {"tz": tz},
            )
        }
    with TestClient(create_app(demo)) as client:
        r = client.get(URL, headers=planner)
        assert r.status_code == 200, r.text
        page = r.text
    assert "网格历史版本 grid versions" in page and "清华园" in page  # the community's name
    assert f'data-community="{COMMUNITY}"' in page
    assert 'class="gw-signout"' in page and '<span class="gw-user">li</span>' in page
    assert 'src="/maps/static/plan_history.js"></script>' in page
    assert f"提交于 committed ({tz})" in page
    rows = _rows(page)
    assert list(rows) == [3, 2, 1]  # newest first
    words = {3: "恢复旧版 revert", 2: "编辑器保存 editor", 1: "自动划分 partition"}
    by = {3: "planner-li", 2: "planner-li", 1: "规划员甲"}
    for version, row in rows.items():
        plan, m = plans[version - 1], made[version]
        assert _cell(row, "方案 plan") == f"#{plan}"
        assert _cell(row, "提交于 committed") == m.at  # the city's time, to the minute
        assert _cell(row, "提交者 by") == by[version]
        assert _cell(row, "来源 source") == words[version]
        assert _cell(row, "网格 grids") == str(m.n)
        assert _cell(row, "每格户数 households") == f"{m.lo}–{m.hi}"
        opens = f'href="/maps/editor?community={COMMUNITY}&amp;plan={plan}"'
        assert opens in row and "打开 open" in row
        current = version == 3
        assert ("现行 current" in row) is current
        assert ('class="gw-btn gw-revert"' in row) is not current, row
        if not current:
            assert f'data-version="{version}" title="按第 {version} 版网格生成新草案' in row
    assert 'class="gw-picker gw-history"' in page  # a card per version on a phone


def test_who_may_open_the_history_page(demo) -> None:  # noqa: ANN001, F811
    """Planners of the community's areas and admins (the editor's rule); a viewer, a steward
    and a planner of elsewhere are refused (403); an unknown community is a 404."""
    heads = {
        who: {"Authorization": f"Bearer {token_for(demo, role, areas, who)}"}
        for who, role, areas in (
            ("admin", "admin", ()),
            ("viewer", "viewer", ()),
            ("steward", "steward", ()),
            ("here", "planner", ("110108015",)),
            ("elsewhere", "planner", ("110108016",)),
        )
    }
    with TestClient(create_app(demo)) as client:
        got = {who: client.get(URL, headers=h).status_code for who, h in heads.items()}
        assert got == {"admin": 200, "viewer": 403, "steward": 403, "here": 200, "elsewhere": 403}
        page = client.get(URL, headers=heads["here"]).text
        assert "尚无已提交的网格版本" in page and 'id="gw-versions"' not in page
        unknown = "/maps/editor/history?community=110108015999"
        for who in ("admin", "here"):
            r = client.get(unknown, headers=heads[who])
            assert r.status_code == 404 and "110108015999" in r.json()["error"], r.text
        r = client.get("/maps/editor/history", headers=heads["admin"])
        assert r.status_code == 422, r.text
        assert client.get(URL).status_code == 401
        r = client.get("/maps/static/plan_history.js")
        assert r.status_code == 200 and "/plans/revert" in r.text
