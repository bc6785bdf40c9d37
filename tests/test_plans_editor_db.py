"""The grid editor page and picker against plans (tester W, F3 and F7): a draft opened in the
editor carries its own base version (a stale one is refused when saved, and said stale), and
the household bounds start from the plan's own. Real PostGIS, demo OSM cut."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_plan_commit_duties_db import COMMUNITY, _grids, _plan, demo  # noqa: F401


def _page_data(html: str) -> dict:
    """The DATA object the editor page hands to editor.js."""
    m = re.search(r"var DATA = (\{.*?\});\n", html, re.S)
    assert m, "no DATA on the page"
    return json.loads(m.group(1))


def _edited(grids: dict[str, list[int]]) -> dict[str, list[int]]:
    """``grids`` with one building moved (the last of the grid holding most) to another
    grid: a draft of the current grids unchanged is refused when saved (T63 #3)."""
    out = {c: list(ids) for c, ids in grids.items()}
    give = max(sorted(out), key=lambda c: len(out[c]))
    take = next(c for c in sorted(out) if c != give)
    out[take].append(out[give].pop())
    return out


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
        grids = _edited(_grids(client, planner, first))
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
        row = re.search(rf"plan={old_draft}\b.*?</span>", picker, re.S)
        assert row and "已过期：基于第 1 版网格" in row.group(0), picker
        assert "stale: made on version 1" in row.group(0), picker


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

        body = _draft_body(_edited(_grids(client, planner, plan)), 1, 120, 640)
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
        assert r.status_code == 422 and "max must be 1–" in r.json()["error"], r.text

        picker = client.get("/maps/editor", headers=planner).text
        assert f'community={COMMUNITY}&plan={draft}"' in picker  # no 300–500 in the link
        assert "150–300" in picker and "户数 120–640" in picker


def _current(client: TestClient, headers: dict) -> tuple[int, dict[str, list[int]]]:
    """A committed 300–500 plan (version 1) and its grids."""
    plan = _plan(client, headers, 300, 500)
    assert client.post(f"/plans/{plan}/commit", headers=headers).status_code == 200
    return plan, _grids(client, headers, plan)


def _plans_stored(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()


def test_a_base_version_the_community_never_had_is_a_bad_input(demo, auth_headers):  # noqa: F811
    """Tester, 16: base_version 99 on a community at version 1 was a 409 "changed since this
    editor was opened (version 99 → 1)": no page was opened on version 99, so it is a wrong
    number (422) naming the current version; an older one is still the 409 "reload"."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        _plan_id, grids = _current(client, planner)
        before = _plans_stored(demo)
        r = client.post("/plans/draft", json=_draft_body(grids, 99, 300, 500), headers=planner)
        assert r.status_code == 422, r.text
        said = r.json()["error"]
        assert said.startswith("网格版本 99 不存在"), said
        assert f"community {COMMUNITY} is at grid version 1" in said, said
        r = client.post("/plans/draft", json=_draft_body(grids, 0, 300, 500), headers=planner)
        assert r.status_code == 409 and "version 0 → 1" in r.json()["error"], r.text
        assert _plans_stored(demo) == before
        body = _draft_body(_edited(grids), 1, 300, 500)
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text


def test_a_draft_takes_whole_numbers_only_for_ids(demo, auth_headers):  # noqa: F811
    """T39 M4 (as POST /assignments): JSON true was read as building 1 and as version 1, 1.0
    as 1. Each is a 422 naming the field, and no draft is stored."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        _plan_id, grids = _current(client, planner)
        before = _plans_stored(demo)
        good = _draft_body(grids, 1, 300, 500)
        first = good["grids"][0]["building_ids"]
        for bad_ids, version in (([True, *first[1:]], 1), ([float(first[0]), *first[1:]], 1)):
            body = {**good, "grids": [{**good["grids"][0], "building_ids": bad_ids}]}
            body["grids"] += good["grids"][1:]
            r = client.post("/plans/draft", json={**body, "base_version": version}, headers=planner)
            assert r.status_code == 422, r.text
            assert "building_ids" in r.json()["error"], r.text
        for version in (True, 1.0):
            r = client.post("/plans/draft", json={**good, "base_version": version}, headers=planner)
            assert r.status_code == 422, r.text
            assert r.json()["error"].startswith("字段 base_version"), r.text
        assert _plans_stored(demo) == before


def test_a_grid_of_one_building_over_max_keeps_the_engines_flag(demo, auth_headers):  # noqa: F811
    """Tester, 16: the engine's ``over_max:single_building`` ("one building holds more than
    max: it cannot be split") became plain ``over_max`` once the grid went through the
    editor, so the committed grid lost the hint. A grid holding a building that alone is
    over max keeps it; a grid over max by its sum is plain ``over_max``."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        _plan_id, grids = _current(client, planner)
        with demo.connect() as conn:
            hh = dict(conn.execute(text("SELECT id, households FROM buildings")).all())
        big = max((b for ids in grids.values() for b in ids), key=lambda b: hh[b])
        hi = hh[big] - 1
        # the big building alone in its own new grid; other grids merged into the first
        # until it is over max by their sum
        rest = {c: [b for b in ids if b != big] for c, ids in grids.items()}
        a, *others = sorted(c for c in rest if rest[c])
        while sum(hh[x] for x in rest[a]) <= hi:
            rest[a] += rest.pop(others.pop())
        body = _draft_body({c: ids for c, ids in rest.items() if ids}, 1, 0, hi)
        body["grids"].append({"code": None, "building_ids": [big]})
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        out = r.json()
        alone = out["grids"][-1]
        assert alone["building_count"] == 1 and alone["flags"] == ["over_max:single_building"]
        merged = next(g for g in out["grids"] if g["code"] == a)
        assert merged["households"] > hi and "over_max" in merged["flags"], merged
        ok = {"allow_disconnected": True}
        r = client.post(f"/plans/{out['plan_id']}/commit", json=ok, headers=planner)
        assert r.status_code == 200, r.text
        with demo.connect() as conn:
            flags = conn.execute(
                text("SELECT flags FROM grids WHERE code = :c AND retired_at IS NULL"),
                {"c": alone["code"]},
            ).scalar_one()
        assert flags == ["over_max:single_building"]


def test_a_plan_outside_the_planners_areas_is_named_as_a_plan(demo, auth_headers):  # noqa: F811
    """Tester, 10: "不在您的管辖区域内 outside your areas: plan_id=110108015004" named a
    community code as the plan's id; the refusal now names the plan and its community, on
    every /plans/{plan_id} route. A plan that does not exist is still a 404."""
    planner = auth_headers("planner", ("110108015",))
    other = auth_headers("planner", ("110108016",))
    with TestClient(create_app(demo)) as client:
        plan = _plan(client, planner, 300, 500)
        for method, url in (
            ("GET", f"/plans/{plan}"),
            ("POST", f"/plans/{plan}/commit"),
            ("DELETE", f"/plans/{plan}"),
        ):
            r = client.request(method, url, headers=other)
            assert r.status_code == 403, (method, r.text)
            said = r.json()["error"]
            assert said == (
                f"方案 {plan} 属于社区 {COMMUNITY}，不在您的管辖区域内 plan {plan} is a plan of "
                f"community {COMMUNITY}, outside your areas"
            ), said
        assert client.get("/plans/999999", headers=other).status_code == 404
        assert client.get(f"/plans/{plan}", headers=planner).json()["status"] == "draft"


def test_an_area_outside_the_planners_areas_is_named_first(demo, auth_headers):  # noqa: F811
    """T42 #10: `不在您的管辖区域内：community=110108015。` put the query parameter before the
    area; the refusal now names the area first, as every other one, then the parameter (the
    English unchanged)."""
    other = auth_headers("planner", ("110108016",))
    with TestClient(create_app(demo)) as client:
        # (the grid history is read-only for every planner now, T67 #11: the drafts are not)
        r = client.get(f"/plans?community={COMMUNITY}", headers=other)
    assert r.status_code == 403, r.text
    assert r.json()["error"].startswith(f"不在您的管辖区域内：{COMMUNITY}"), r.text
    assert f"outside your areas: {COMMUNITY}" in r.json()["error"], r.text
