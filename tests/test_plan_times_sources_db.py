"""Outside tester T63 #4: GET /plans/{id} gave ``created_at`` in UTC with microseconds
(2026-11-26T08:42:09.706842+00:00) where GET /plans gave the city's time (+08:00) to the
second, and GET /plans/history gave version 1's ``source`` as null where the list (and
``plans list``) said partition. Every plan time of the plans API is now the city's, to the
second, and the history's source is the list's. Real PostGIS, the demo OSM cut."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_plan_commit_duties_db import COMMUNITY, _grids, _plan, demo  # noqa: F401
from tests.test_plans_editor_db import _draft_body, _edited

CITY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")  # Asia/Shanghai, seconds


def test_plan_times_are_the_citys_and_the_history_names_the_lists_sources(
    demo,  # noqa: F811
    auth_headers,
):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        first = _plan(client, planner, 300, 500)
        assert client.post(f"/plans/{first}/commit", headers=planner).status_code == 200
        body = _draft_body(_edited(_grids(client, planner, first)), 1, 300, 500)
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        second = r.json()["plan_id"]
        ok = {"allow_disconnected": True}
        assert client.post(f"/plans/{second}/commit", json=ok, headers=planner).status_code == 200
        draft = _plan(client, planner, 200, 400)

        listed = {p["plan_id"]: p for p in client.get("/plans", headers=planner).json()}
        for plan in (first, second, draft):
            one = client.get(f"/plans/{plan}", headers=planner).json()
            assert CITY_TIME.match(one["created_at"]), one["created_at"]
            assert one["created_at"] == listed[plan]["created_at"]
            assert one["committed_at"] == listed[plan]["committed_at"]
            if plan != draft:
                assert CITY_TIME.match(one["committed_at"]), one["committed_at"]
        assert listed[draft]["committed_at"] is None

        hist = client.get("/plans/history", params={"community": COMMUNITY}, headers=planner)
        assert hist.status_code == 200, hist.text
        got = [(v["plan_id"], v["source"]) for v in hist.json()["versions"]]
        assert got == [(second, "editor"), (first, "partition")]
        assert [listed[p]["source"] for p, _s in got] == ["editor", "partition"]
        with demo.connect() as conn:  # the engine's plan names no source of its own
            stored = conn.execute(
                text("SELECT summary->>'source' FROM grid_plans WHERE id = :i"), {"i": first}
            ).scalar()
        assert stored is None
