"""The grid editor page and picker against plans (tester W, F3 and F7): a draft opened in the
editor carries its own base version (a stale one is refused when saved, and said stale), and
the household bounds start from the plan's own. Real PostGIS, demo OSM cut."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from api.app import create_app
from tests.test_plan_commit_duties_db import COMMUNITY, _grids, _plan, demo  # noqa: F401


def _page_data(html: str) -> dict:
    """The DATA object the editor page hands to editor.js."""
    m = re.search(r"var DATA = (\{.*?\});\n", html, re.S)
    assert m, "no DATA on the page"
    return json.loads(m.group(1))


def _draft_body(grids: dict[str, list[int]], version: int, lo: int, hi: int) -> dict:
    return {
        "community": COMMUNITY,
        "min_households": lo,
        "max_households": hi,
        "base_version": version,
        "grids": [{"code": c, "building_ids": ids} for c, ids in sorted(grids.items())],
    }


def test_a_stale_draft_opened_in_the_editor_cannot_be_saved_over_a_newer_commit(
    demo,  # noqa: F811
    auth_headers,
):
    """F3: the editor on draft 7 (made on version 1) after two commits used to send the
    CURRENT version with a save, so the stale grids committed over the newer ones. The page
    now sends the draft's own version (the save is a 409 "reload"), says it is stale, and the
    picker marks it stale instead of offering it as an open draft."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        first = _plan(client, planner, 300, 500)
        assert client.post(f"/plans/{first}/commit", headers=planner).status_code == 200
        grids = _grids(client, planner, first)
        r = client.post("/plans/draft", json=_draft_body(grids, 1, 300, 500), headers=planner)
        assert r.status_code == 201, r.text
        old_draft = r.json()["plan_id"]
        newer = _plan(client, planner, 150, 300, seed=3)
        assert client.post(f"/plans/{newer}/commit", headers=planner).status_code == 200

        page = client.get(
            f"/maps/editor?community={COMMUNITY}&plan={old_draft}", headers=planner
        ).text
        data = _page_data(page)
        assert data["version"] == 1 and data["stale"] is True
        assert 'id="gw-stale"' in page and "已过期" in page
        # what the page's save sends (editor.js payload(): base_version = DATA.version)
        body = _draft_body(grids, data["version"], data["min"], data["max"])
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 409 and "请刷新编辑器" in r.json()["error"], r.text

        fresh = client.get(f"/maps/editor?community={COMMUNITY}", headers=planner).text
        assert _page_data(fresh)["version"] == 2 and 'id="gw-stale"' not in fresh

        picker = client.get("/maps/editor", headers=planner).text
        row = re.search(rf"plan={old_draft}\b.*?</small></span>", picker, re.S)
        assert row and "已过期 stale" in row.group(0), picker


def test_the_editor_judges_by_the_plans_own_bounds_and_lets_them_change(
    demo,  # noqa: F811
    auth_headers,
):
    """F7: a community partitioned with 150–300 opened in the editor was judged by 300–500
    (9 of 11 grids "under"); the page now starts from its plan's bounds, a draft's from the
    draft's own, a URL's bounds still win, and two number inputs change them."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        plan = _plan(client, planner, 150, 300, seed=3)
        assert client.post(f"/plans/{plan}/commit", headers=planner).status_code == 200
        page = client.get(f"/maps/editor?community={COMMUNITY}", headers=planner).text
        data = _page_data(page)
        assert (data["min"], data["max"]) == (150, 300)
        assert 'id="gw-min"' in page and 'value="150"' in page
        assert 'id="gw-max"' in page and 'value="300"' in page

        body = _draft_body(_grids(client, planner, plan), 1, 120, 640)
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        draft = r.json()["plan_id"]
        url = f"/maps/editor?community={COMMUNITY}&plan={draft}"
        data = _page_data(client.get(url, headers=planner).text)
        assert (data["min"], data["max"]) == (120, 640)
        data = _page_data(client.get(url + "&min=200&max=400", headers=planner).text)
        assert (data["min"], data["max"]) == (200, 400)
        r = client.get(url + "&min=700", headers=planner)  # above the draft's max: refused
        assert r.status_code == 422 and r.json()["error"], r.text
        # F15: the one bounds rule of every plan; max 0 opened an editor flagging every grid
        r = client.get(url + "&min=0&max=0", headers=planner)
        assert r.status_code == 422 and "max_households must be 1–" in r.json()["error"], r.text

        picker = client.get("/maps/editor", headers=planner).text
        assert f'community={COMMUNITY}&plan={draft}"' in picker  # no 300–500 in the link
        assert "150–300" in picker and "户数 120–640" in picker
