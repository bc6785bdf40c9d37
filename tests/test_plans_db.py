"""Grid plans on PostGIS through the API: job, preview, commit, history, conflicts, scope."""

from __future__ import annotations

import time

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from tests.conftest import FIXTURES

COMMUNITY = "110108015002"


@pytest.fixture()
def demo(db):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    return db


def _wait(client: TestClient, job_url: str, headers: dict) -> dict:
    for _ in range(600):
        job = client.get(job_url, headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def _make_plan(client: TestClient, headers: dict, community: str = COMMUNITY) -> int:
    r = client.post(
        "/plans",
        json={"community": community, "min_households": 300, "max_households": 500},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["job_url"], headers)
    assert job["status"] == "done", job
    assert job["progress"] == 1.0
    return job["result"]["plan_id"]


def test_plan_preview_commit_history(demo, auth_headers):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        plan_id = _make_plan(client, planner)
        plan = client.get(f"/plans/{plan_id}", headers=planner).json()
        assert plan["status"] == "draft"
        feats = plan["features"]["features"]
        # every building of the community is in exactly one grid, counts add up
        with demo.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT b.id, b.households FROM buildings b JOIN areas a "
                    "ON a.id = b.community_id WHERE a.code = :c"
                ),
                {"c": COMMUNITY},
            ).all()
        members = [bid for f in feats for bid in f["properties"]["building_ids"]]
        assert sorted(members) == sorted(r.id for r in rows)
        hh = {r.id: r.households for r in rows}
        for f in feats:
            p = f["properties"]
            assert p["households"] == sum(hh[b] for b in p["building_ids"])
            assert p["code"].startswith(COMMUNITY) and len(p["code"]) == 15
            if not p["flags"]:
                assert 300 <= p["households"] <= 500
        # grids do not overlap
        geoms = [shape(f["geometry"]) for f in feats]
        total = sum(g.area for g in geoms)
        assert shapely.union_all(geoms).area == pytest.approx(total, rel=1e-6)

        r = client.post(f"/plans/{plan_id}/commit", headers=planner)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1
        grids = client.get(
            "/grids", params={"community": COMMUNITY, "level": 1}, headers=planner
        ).json()
        assert grids["numberReturned"] == len(feats)
        # committing again: refused, nothing changes
        r = client.post(f"/plans/{plan_id}/commit", headers=planner)
        assert r.status_code == 409 and "draft" in r.json()["error"]

        # the same plan again is the current grids: refused, nothing to commit (T49 #3)
        same = _make_plan(client, planner)
        r = client.post(f"/plans/{same}/commit", headers=planner)
        assert r.status_code == 409 and "与现行网格相同，无需提交" in r.json()["error"], r.text
        # a second plan replaces the grids and keeps history
        body = {"community": COMMUNITY, "min_households": 150, "max_households": 300}
        job = _wait(
            client, client.post("/plans", json=body, headers=planner).json()["job_url"], planner
        )
        plan2 = job["result"]["plan_id"]
        assert client.post(f"/plans/{plan2}/commit", headers=planner).json()["version"] == 2
        with demo.connect() as conn:
            versions = conn.execute(
                text(
                    "SELECT version, count(*), count(retired_at) FROM grids g JOIN areas a "
                    "ON a.id = g.community_id WHERE a.code = :c GROUP BY version ORDER BY 1"
                ),
                {"c": COMMUNITY},
            ).all()
        assert [(v, n == r) for v, n, r in versions] == [(1, True), (2, False)]


def test_stale_plans_are_refused(demo, auth_headers):
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        first = _make_plan(client, admin)
        second = _make_plan(client, admin)
        assert client.post(f"/plans/{first}/commit", headers=admin).status_code == 200
        r = client.post(f"/plans/{second}/commit", headers=admin)
        assert r.status_code == 409 and "version" in r.json()["error"]
        error = r.json()["error"]
        assert error.startswith(f"社区 {COMMUNITY} 的网格已是第 "), error  # Chinese first
        assert f"而方案 {second} 是按第 " in error and "请重新生成方案" in error, error

        third = _make_plan(client, admin)
        with demo.begin() as conn:  # households change after the plan was made
            conn.execute(
                text(
                    "UPDATE buildings SET households = households + 1, household_source = 'given' "
                    "WHERE id = (SELECT b.id FROM buildings b JOIN areas a "
                    "ON a.id = b.community_id WHERE a.code = :c ORDER BY b.id LIMIT 1)"
                ),
                {"c": COMMUNITY},
            )
        r = client.post(f"/plans/{third}/commit", headers=admin)
        assert r.status_code == 409 and "changed" in r.json()["error"]
        assert client.delete(f"/plans/{third}", headers=admin).json()["status"] == "discarded"
        r = client.post(f"/plans/{third}/commit", headers=admin)
        assert r.status_code == 409 and r.json()["error"].startswith(f"方案 {third} 已放弃")
        r = client.delete(f"/plans/{third}", headers=admin)
        assert r.status_code == 409 and "只有草案可以放弃" in r.json()["error"]


def test_plan_requests_checked(demo, auth_headers):
    other = auth_headers("planner", ("110108016",))
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        body = {"community": COMMUNITY, "min_households": 300, "max_households": 500}
        assert client.post("/plans", json=body, headers=other).status_code == 403
        assert client.post("/plans", json=body).status_code == 401
        bad = {**body, "min_households": 600}
        r = client.post("/plans", json=bad, headers=admin)
        assert r.status_code == 422 and "greater" in r.json()["error"]
        r = client.post("/plans", json={**body, "community": "110108099099"}, headers=admin)
        assert r.status_code == 422 and "does not exist" in r.json()["error"]
        assert client.get("/plans/999999", headers=admin).status_code == 404
        # a planner asking for a plan that does not exist is told so, not "outside your areas"
        for method, url in (
            ("GET", "/plans/999999"),
            ("DELETE", "/plans/999999"),
            ("POST", "/plans/999999/commit"),
        ):
            r = client.request(method, url, headers=other)
            assert r.status_code == 404 and "999999" in r.json()["error"], (method, r.text)
        r = client.get("/jobs/00000000-0000-0000-0000-000000000000", headers=admin)
        assert r.status_code == 404


def test_editor_draft_commits_like_any_plan(demo, auth_headers):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        plan_id = _make_plan(client, planner)
        feats = client.get(f"/plans/{plan_id}", headers=planner).json()["features"]["features"]
        grids = [
            {"code": f["properties"]["code"], "building_ids": f["properties"]["building_ids"]}
            for f in feats
        ]
        # The planner moves one building over to a neighbouring grid: the building of the
        # first grid nearest to the second (one far away would make the second grid two
        # parts, a `disconnected` draft the commit refuses).
        other = shape(feats[1]["geometry"])
        with demo.connect() as conn:
            near = conn.execute(
                text(
                    "SELECT id FROM buildings WHERE id = ANY(:ids) ORDER BY "
                    "ST_Distance(geom::geography, ST_GeomFromText(:g, 4326)::geography) LIMIT 1"
                ),
                {"ids": grids[0]["building_ids"], "g": other.wkt},
            ).scalar_one()
        grids[0]["building_ids"].remove(near)
        grids[1]["building_ids"].append(near)
        body = {
            "community": COMMUNITY,
            "min_households": 300,
            "max_households": 500,
            "grids": grids,
        }
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        draft = r.json()["plan_id"]
        r = client.post(f"/plans/{draft}/commit", headers=planner)
        assert r.status_code == 200, r.text
        with demo.connect() as conn:
            stored = dict(
                conn.execute(
                    text(
                        "SELECT g.code, g.building_count FROM grids g JOIN areas a ON "
                        "a.id = g.community_id WHERE a.code = :c AND g.retired_at IS NULL"
                    ),
                    {"c": COMMUNITY},
                ).all()
            )
        assert stored[grids[1]["code"]] == len(grids[1]["building_ids"])
        assert stored[grids[0]["code"]] == len(grids[0]["building_ids"])


def test_cli_database_mode_makes_a_draft_then_commits(demo, pg_url):
    from tests.test_import import run_cli

    res = run_cli(
        ["partition", "--community", COMMUNITY, "--min-households", "300",
         "--max-households", "500"],
        pg_url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    plan_id = int(res.stdout.split("draft plan ")[1].split()[0])
    shown = run_cli(["plans", "show", str(plan_id)], pg_url)
    assert shown.returncode == 0 and "(draft)" in shown.stdout
    assert run_cli(["plans", "commit", str(plan_id)], pg_url).returncode == 0
    again = run_cli(["plans", "commit", str(plan_id)], pg_url)
    assert again.returncode == 2 and "only a draft" in again.stderr
    with demo.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM grids WHERE retired_at IS NULL AND level = 1")
        ).scalar()
    assert n == shown.stdout.count(" households ")


def _community_grids(engine, code: str = COMMUNITY) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.id, g.code, ST_AsBinary(g.geom) AS g, a.geom AS ag, "
                "ST_AsBinary(a.geom) AS a FROM grids g JOIN areas a ON a.id = g.community_id "
                "WHERE a.code = :c AND g.level = 1 AND g.retired_at IS NULL ORDER BY g.code"
            ),
            {"c": code},
        ).all()
    return {
        r.code: (r.id, shapely.from_wkb(bytes(r.g)), shapely.from_wkb(bytes(r.a))) for r in rows
    }


def _editor_body(client, headers, plan_id: int) -> dict:
    feats = client.get(f"/plans/{plan_id}", headers=headers).json()["features"]["features"]
    grids = [
        {"code": f["properties"]["code"], "building_ids": f["properties"]["building_ids"]}
        for f in feats
    ]
    return {"community": COMMUNITY, "min_households": 300, "max_households": 500, "grids": grids}


def test_an_edited_draft_tiles_the_community_and_keeps_the_grid_staff(demo, auth_headers):
    """The editor's draft, committed: grids cover the community (they were the buildings'
    footprints, a fifth of it) and the leaders and workers stay on their grids (they stayed on
    the retired rows: every grid read as unstaffed)."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        plan_id = _make_plan(client, planner)
        assert client.post(f"/plans/{plan_id}/commit", headers=planner).status_code == 200
        first = _community_grids(demo)
        codes = sorted(first)
        with demo.begin() as conn:
            for i, code in enumerate(codes):
                conn.execute(
                    text(
                        "WITH p AS (INSERT INTO people (external_id, name, roles) VALUES "
                        "(:x, :n, ARRAY['grid_leader']) RETURNING id) INSERT INTO assignments "
                        "(person_id, role, grid_id, valid_from) SELECT p.id, 'grid_leader', :g, "
                        "current_date - 30 FROM p"
                    ),
                    {"x": f"L{i}", "n": f"网格长{i}", "g": first[code][0]},
                )
        body = _editor_body(client, planner, plan_id)
        dropped = body["grids"].pop()  # the last grid's buildings go to its neighbour
        gone = first[dropped["code"]][1]
        taker = max(
            body["grids"], key=lambda g: first[g["code"]][1].buffer(1e-6).intersection(gone).area
        )
        taker["building_ids"] += dropped["building_ids"]
        body["base_version"] = 1
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        draft = r.json()["plan_id"]
        r = client.post(f"/plans/{draft}/commit", headers=planner)
        assert r.status_code == 200, r.text
        out = r.json()
        # the grids left as they were keep their duties as they are (T49 #3)
        assert out["duties"] == {
            "continued": len(codes) - 2,
            "carried": 1,
            "ended": 1,
            "removed": 0,
        }
        assert [d["grid"] for d in out["duties_ended"]] == [dropped["code"]]
        now = _community_grids(demo)
        assert sorted(now) == codes[:-1]
        outline = next(iter(now.values()))[2]
        union = shapely.union_all([g for _, g, _ in now.values()])
        assert union.area >= 0.995 * outline.area  # streets and yards belong to a grid
        assert sum(g.area for _, g, _ in now.values()) <= 1.001 * union.area  # no overlap
        assert all(shapely.get_num_geometries(g) == 1 for _, g, _ in now.values())
        with demo.connect() as conn:
            held = dict(
                conn.execute(
                    text(
                        "SELECT g.code, count(*) FROM assignments a JOIN grids g ON "
                        "g.id = a.grid_id WHERE g.retired_at IS NULL AND a.valid_to IS NULL "
                        "GROUP BY g.code"
                    )
                ).all()
            )
            inside = conn.execute(
                text(
                    "SELECT count(*) FROM buildings b JOIN grids g ON g.retired_at IS NULL "
                    "AND g.level = 1 AND ST_Covers(ST_Buffer(g.geom::geography, 0.01)::geometry, "
                    "b.geom) WHERE b.id = ANY(:ids) AND g.code = :c"
                ),
                {"ids": taker["building_ids"], "c": taker["code"]},
            ).scalar()
        assert held == {c: 1 for c in codes[:-1]}
        assert inside == len(taker["building_ids"])
        from geo.map_data import grids_with_staff

        shown = {
            f["properties"]["code"]: f["properties"]["leader"]
            for f in grids_with_staff(demo, level=1)["features"]
            if f["properties"]["code"].startswith(COMMUNITY)
        }
        assert all(shown[c] for c in codes[:-1])  # the grid map names each leader again


def test_an_editor_draft_must_place_every_building_and_be_made_on_the_current_grids(
    demo, auth_headers
):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        plan_id = _make_plan(client, planner)
        body = _editor_body(client, planner, plan_id)
        with demo.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM grid_plans")).scalar()
        left_out = body["grids"][0]["building_ids"].pop()
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 422, r.text
        assert f"in no grid: {left_out}" in r.json()["error"]
        body["grids"][0]["building_ids"].append(left_out)
        # a page opened on version 0, saved after another planner's commit (version 1)
        assert client.post(f"/plans/{plan_id}/commit", headers=planner).status_code == 200
        r = client.post("/plans/draft", json=dict(body, base_version=0), headers=planner)
        assert r.status_code == 409 and "version 0 → 1" in r.json()["error"], r.text
        with demo.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM grid_plans")).scalar() == before
        # on the current grids, one building moved (unchanged, it is not saved: T63 #3)
        body["grids"][0]["building_ids"].append(body["grids"][1]["building_ids"].pop())
        r = client.post("/plans/draft", json=dict(body, base_version=1), headers=planner)
        assert r.status_code == 201, r.text
