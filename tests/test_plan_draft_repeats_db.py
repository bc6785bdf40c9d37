"""Outside tester T63 #3: saving an unchanged editor page stored a copy of its draft (#6 the
same as #5), and a draft of the current grids was stored and refused only at commit. POST
/plans/draft now answers the open draft it repeats (200, ``existing``, 与草案 #N 相同，未另存)
and refuses the current grids at once (409, the commit's words), storing nothing; a real
change is saved as before (201). Real PostGIS, the demo OSM cut."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_plan_commit_duties_db import COMMUNITY, _grids, _plan, demo  # noqa: F401
from tests.test_plans_editor_db import _draft_body, _edited


def _stored(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()


def test_a_save_repeating_a_draft_answers_it_and_the_current_grids_are_refused(
    demo,  # noqa: F811
    auth_headers,
):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        first = _plan(client, planner, 300, 500)
        assert client.post(f"/plans/{first}/commit", headers=planner).status_code == 200
        current = _grids(client, planner, first)
        before = _stored(demo)

        # the current grids (any order, any bounds): nothing to commit, so nothing stored
        for lo, hi in ((300, 500), (200, 600)):
            body = _draft_body(current, 1, lo, hi)
            body["grids"].reverse()
            r = client.post("/plans/draft", json=body, headers=planner)
            assert r.status_code == 409, r.text
            said = r.json()["error"]
            assert said.startswith(
                "草案与现行网格相同，无需提交：每个网格的编码、楼栋和轮廓都与第 1 版"
            ), said
            assert "the draft is the same as the current grids (version 1" in said, said
        assert _stored(demo) == before

        # an edit: stored; the same page saved again: that draft, not a copy
        edited = _edited(current)
        body = _draft_body(edited, 1, 300, 500)
        body["grids"].append({"code": None, "building_ids": [body["grids"][0]["building_ids"][0]]})
        del body["grids"][0]["building_ids"][0]  # a new grid, as the editor sends one
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["existing"] is False and made["outlines"] is not None
        draft, new_code = made["plan_id"], made["grids"][-1]["code"]
        assert new_code.startswith(COMMUNITY)
        assert _stored(demo) == before + 1
        again = {**body, "grids": list(reversed(body["grids"]))}
        for sent in (body, again):  # the new grid without a code, or in another order
            r = client.post("/plans/draft", json=sent, headers=planner)
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["existing"] is True and out["plan_id"] == draft, out
            assert (
                out["message"]
                == f"与草案 #{draft} 相同，未另存 identical to draft #{draft}: not saved again"
            )
            # each answered grid is the one sent at its place (the editor pairs them so)
            codes = [g["code"] or new_code for g in sent["grids"]]
            assert [g["code"] for g in out["grids"]] == codes
            assert out["grids"] == [next(g for g in made["grids"] if g["code"] == c) for c in codes]
            assert out["summary"] == made["summary"]
        named = {**body, "grids": [*body["grids"][:-1], {**body["grids"][-1], "code": new_code}]}
        r = client.post("/plans/draft", json=named, headers=planner)
        assert (r.status_code, r.json()["plan_id"]) == (200, draft), r.text
        assert _stored(demo) == before + 1

        # other bounds are another draft; a discarded draft is not answered
        r = client.post("/plans/draft", json={**body, "min_households": 250}, headers=planner)
        assert r.status_code == 201 and r.json()["plan_id"] != draft, r.text
        assert client.delete(f"/plans/{draft}", headers=planner).status_code == 200
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201 and r.json()["plan_id"] != draft, r.text
        assert _stored(demo) == before + 3
