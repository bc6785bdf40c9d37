"""A planner's history (T38): plans listed (M5a, b), a community's grid versions (M5c), a revert
to one as a new draft (M5d); every draft audited whatever made it, the shell user named (M4);
a commit's carried duty dated by its new start (L8); audit targets named (L13); a community
without buildings refused up front (L14). Real PostGIS, the demo OSM cut."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo import audit
from geo.plans import commit_plan, create_plan, get_plan
from geo.settings import city_today, get_settings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_plan_commit_duties_db import _plan
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _me(client: TestClient, headers: dict) -> str:
    return client.get("/auth/me", headers=headers).json()["username"]


def _members(engine, version: int) -> dict[str, list[int]]:
    """Level-1 grids of ``version`` of the community: code → building ids."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, g.properties->'building_ids' AS ids FROM grids g JOIN areas a "
                "ON a.id = g.community_id WHERE a.code = :c AND g.version = :v AND g.level = 1"
            ),
            {"c": COMMUNITY, "v": version},
        ).all()
    return {r.code: sorted(r.ids) for r in rows}


def _entries(engine, plan_id: int) -> list[tuple[str, str, dict]]:
    with engine.connect() as conn:
        return [
            (e["actor"], e["action"], e["detail"])
            for e in audit.entries(conn, "grid_plan", plan_id)
        ]


def test_plans_listed_versions_kept_and_a_version_brought_back(
    demo,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
):
    planner = auth_headers("planner", ("110108015",))
    elsewhere = auth_headers("planner", ("110108016",))
    today = city_today()
    with TestClient(create_app(demo)) as client:
        name = _me(client, planner)
        v1 = _plan(client, planner, 300, 500)
        assert client.post(f"/plans/{v1}/commit", headers=planner).status_code == 200
        first = _members(demo, 1)
        v2 = _plan(client, planner, 200, 400, seed=3)
        # a grid v2 changes: one it keeps as it is keeps its duties as they are (T49 #3)
        then = {
            f["properties"]["code"]: sorted(f["properties"]["building_ids"])
            for f in get_plan(demo, v2)["features"]["features"]
        }
        code0 = next(c for c in sorted(first) if then.get(c) != first[c])
        # L8: a worker on a version-1 grid since a week ago, carried by the next commit
        with demo.begin() as conn:
            person = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES ('H1', '何一', "
                    "ARRAY['grid_worker']) RETURNING id"
                )
            ).scalar_one()
            duty = conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, grid_id, valid_from) SELECT :p, "
                    "'grid_worker', id, :d FROM grids WHERE code = :c AND retired_at IS NULL "
                    "AND level = 1 RETURNING id"
                ),
                {"p": person, "d": today - dt.timedelta(days=7), "c": code0},
            ).scalar_one()
        r = client.post(f"/plans/{v2}/commit", headers=planner)
        assert r.status_code == 200, r.text
        [carried] = [c for c in r.json()["duties_carried"] if c["duty"] == duty]
        # valid_from was the old duty's start, a week before the new duty began (T38 L8)
        assert carried["valid_from"] == today.isoformat(), carried
        assert carried["old_valid_from"] == (today - dt.timedelta(days=7)).isoformat()
        assert carried["old_last_day"] == (today - dt.timedelta(days=1)).isoformat()
        with demo.connect() as conn:
            start = conn.execute(
                text("SELECT valid_from FROM assignments WHERE id = :i"),
                {"i": carried["new_duty"]},
            ).scalar_one()
        assert start == today
        draft = _plan(client, planner, 300, 500)
        dropped = _plan(client, planner, 250, 450)
        assert client.delete(f"/plans/{dropped}", headers=planner).status_code == 200

        # M5 (b): GET /plans, newest first, with who, when, versions and households
        r = client.get("/plans", headers=planner)
        assert r.status_code == 200, r.text
        listed = {p["plan_id"]: p for p in r.json()}
        assert [p["plan_id"] for p in r.json()] == [dropped, draft, v2, v1]
        p1, p2 = listed[v1], listed[v2]
        assert (p1["status"], p1["version"], p1["current"]) == ("committed", 1, False)
        assert (p2["status"], p2["version"], p2["current"]) == ("committed", 2, True)
        assert p2["committed_by"] == name and p2["created_by"] == name
        assert p2["bounds"] == [200, 400] and p2["source"] == "partition"
        feats = get_plan(demo, v2)["features"]["features"]
        hh = [f["properties"]["households"] for f in feats]
        assert (p2["grids"], p2["households_min"], p2["households_max"]) == (
            len(feats), min(hh), max(hh),
        )  # fmt: skip
        assert listed[draft]["status"] == "draft" and listed[draft]["stale"] is False
        assert listed[dropped]["status"] == "discarded"
        r = client.get("/plans", params={"status": "committed"}, headers=planner)
        assert [p["plan_id"] for p in r.json()] == [v2, v1]
        r = client.get("/plans", params={"status": "done"}, headers=planner)
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith("方案状态 'done' 无效，可选："), r.text
        assert client.get("/plans", headers=elsewhere).json() == []  # not their areas
        r = client.get("/plans", params={"community": COMMUNITY}, headers=elsewhere)
        assert r.status_code == 403

        # M5 (c): the community's grid versions
        r = client.get("/plans/history", params={"community": COMMUNITY}, headers=planner)
        assert r.status_code == 200, r.text
        hist = r.json()
        assert hist["current_version"] == 2
        assert [(v["version"], v["plan_id"], v["current"]) for v in hist["versions"]] == [
            (2, v2, True), (1, v1, False),
        ]  # fmt: skip
        assert [v["committed_by"] for v in hist["versions"]] == [name, name]
        assert hist["versions"][1]["grids"] == len(first)
        assert hist["versions"][1]["replaced_at"] is not None
        # read-only: a planner of elsewhere reads it as a viewer does (T67 #11)
        r = client.get("/plans/history", params={"community": COMMUNITY}, headers=elsewhere)
        assert r.status_code == 200 and r.json() == hist

        # M5 (d): back to version 1, a building added since and one gone since
        code1 = sorted(first)[1]
        added, gone = first[code0][0], first[code1][-1]
        with demo.begin() as conn:  # as if `added` had come after version 1 was committed
            conn.execute(
                text(
                    "UPDATE grids SET properties = jsonb_set(properties, '{building_ids}', "
                    "(SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements("
                    "properties->'building_ids') x WHERE x::int <> :b)) WHERE code = :c "
                    "AND version = 1"
                ),
                {"b": added, "c": code0},
            )
            conn.execute(text("DELETE FROM buildings WHERE id = :b"), {"b": gone})
        for version, words in ((2, "无需恢复"), (9, "没有第 9 版网格")):
            body = {"community": COMMUNITY, "version": version}
            r = client.post("/plans/revert", json=body, headers=planner)
            assert r.status_code == 422 and words in r.json()["error"], r.text
        body = {"community": COMMUNITY, "version": 1}
        assert client.post("/plans/revert", json=body, headers=elsewhere).status_code == 403
        r = client.post("/plans/revert", json=body, headers=planner)
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["reverted_from"] == {"version": 1, "plan_id": v1}
        assert out["bounds"] == [300, 500] and out["base_version"] == 2
        assert out["buildings_added"] == [{"building": added, "grid": code0, "how": "inside"}]
        assert out["buildings_gone"] == [gone] and out["grids_dropped"] == []
        back = out["plan_id"]
        plan = get_plan(demo, back)
        got = {
            f["properties"]["code"]: sorted(f["properties"]["building_ids"])
            for f in plan["features"]["features"]
        }
        want = {c: sorted(b for b in ids if b != gone) for c, ids in first.items()}
        assert got == want  # the buildings as they were assigned then
        assert plan["status"] == "draft" and plan["summary"]["source"] == "revert"
        [(actor, action, detail)] = _entries(demo, back)
        assert (actor, action) == (name, "plan.create")
        assert detail["reverted_from"] == {"version": 1, "plan_id": v1}
        # committed through the one commit path
        r = client.post(f"/plans/{back}/commit", headers=planner)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 3
        assert _members(demo, 3) == want

    # the same from the shell
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "list", "--community", COMMUNITY)
        assert res.returncode == 0, res.stderr
        head, *rows = res.stdout.splitlines()
        assert head.startswith("方案 plan\t社区 community\t状态 status\t来源 source\t创建者 by")
        assert [int(r.split("\t")[0]) for r in rows] == [back, dropped, draft, v2, v1]
        assert rows[0].split("\t")[2:4] == ["已提交 committed", "恢复旧版 revert"], rows[0]
        assert rows[0].split("\t")[6] == name and rows[0].split("\t")[8] == "3（现行 current）"
        assert rows[1].split("\t")[2] == "已放弃 discarded"
        assert rows[2].split("\t")[2] == "草案（已过时） draft (stale)"
        res = run_inproc("plans", "list", "--status", "draft", "--json")
        assert [p["plan_id"] for p in json.loads(res.stdout)] == [draft]
        res = run_inproc("plans", "list", "--status", "old")
        assert res.returncode == 2 and "no plan status 'old'" in res.stderr, res
        res = run_inproc("plans", "history", COMMUNITY)
        assert res.returncode == 0, res.stderr
        head, *rows = res.stdout.splitlines()
        assert head.startswith("版本 version\t方案 plan\t提交于 committed")
        assert [r.split("\t")[:2] for r in rows] == [
            ["3", str(back)],
            ["2", str(v2)],
            ["1", str(v1)],
        ]
        assert rows[0].endswith("现行 current") and "已替换 replaced" in rows[1]
        res = run_inproc("plans", "history", COMMUNITY, "--json")
        assert [v["version"] for v in json.loads(res.stdout)["versions"]] == [3, 2, 1]
        res = run_inproc("plans", "revert", COMMUNITY, "--version", "2")
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"已按社区 {COMMUNITY} 第 2 版网格生成草案 "), res.stdout
        again = int(res.stdout.split("made draft plan ")[1].split()[0])
        assert "gridward plans commit" in res.stdout
        [(actor, action, detail)] = _entries(demo, again)
        assert (actor, action) == (audit.shell_actor(), "plan.create")  # M4: the OS user
        assert detail["source"] == "revert"
        assert get_plan(demo, again)["created_by"] == audit.shell_actor()
    finally:
        get_settings.cache_clear()


def test_every_draft_is_audited_and_the_shell_user_named(
    demo,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
):
    """M4: a draft saved in the editor had no plan.create entry; the shell's were all `cli`."""
    planner = auth_headers("planner", ("110108015",))
    engine_plan = create_plan(demo, COMMUNITY, 300, 500, created_by="cli")
    feats = get_plan(demo, engine_plan)["features"]["features"]
    grids = [
        {"code": f["properties"]["code"], "building_ids": f["properties"]["building_ids"]}
        for f in feats
    ]
    # other bounds: the engine's own draft saved again is not stored again (T63 #3)
    body = {"community": COMMUNITY, "min_households": 250, "max_households": 500, "grids": grids}
    with TestClient(create_app(demo)) as client:
        name = _me(client, planner)
        r = client.post("/plans/draft", json=body, headers=planner)
        assert r.status_code == 201, r.text
        edited = r.json()["plan_id"]
    [(actor, action, detail)] = _entries(demo, edited)
    assert (actor, action) == (name, "plan.create")
    assert detail == {"community": COMMUNITY, "source": "editor", "grids": len(grids)}
    cli = audit.shell_actor()
    assert cli.startswith("cli:") and len(cli) > 4
    assert [(a, x) for a, x, _d in _entries(demo, engine_plan)] == [(cli, "plan.create")]
    with demo.begin() as conn:  # an entry written before the OS user was named
        conn.execute(
            text("INSERT INTO audit_log (actor, action, detail) VALUES ('cli', 'zz.old', '{}')")
        )
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "discard", str(edited))
        assert res.returncode == 0, res.stderr
        assert _entries(demo, edited)[-1][:2] == (cli, "plan.discard")
        # --actor cli: the old `cli` rows and the new `cli:USER` ones; cli:USER: those only
        res = run_inproc("audit", "--actor", "cli")
        assert res.returncode == 0, res.stderr
        got = [r.split("\t")[2:4] for r in res.stdout.splitlines()[1:]]
        assert got[:3] == [[cli, "plan.discard"], ["cli", "zz.old"], [cli, "plan.create"]], got
        assert {a for a, _x in got} == {"cli", cli}, got  # the demo's imports too
        res = run_inproc("audit", "--actor", cli)
        got = [r.split("\t")[2:4] for r in res.stdout.splitlines()[1:]]
        assert got[:2] == [[cli, "plan.discard"], [cli, "plan.create"]], got
        assert ["cli", "zz.old"] not in got
    finally:
        get_settings.cache_clear()


def test_audit_names_grids_people_and_accounts(demo, pg_url, monkeypatch, run_inproc):  # noqa: F811
    """L13: the target read `grid 1387`, a database id."""
    from geo.accounts import create_user

    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500, created_by="t"), actor="t")
    with demo.begin() as conn:
        grid_id, code = conn.execute(
            text("SELECT id, code FROM grids WHERE level = 1 ORDER BY code LIMIT 1")
        ).one()
        person = conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES ('DEMO0032', '王超', "
                "ARRAY['grid_worker']) RETURNING id"
            )
        ).scalar_one()
        uid = create_user(conn, "zz-viewer", "zz-password-123", "viewer")
        audit.record(conn, "t", "grid.update", "grid", grid_id, {})
        audit.record(conn, "t", "person.leave", "person", person, {})
        audit.record(conn, "t", "track.withdraw", "track", 7, {})
        audit.record(conn, "t", "grid.update", "grid", 99999999, {})  # no such grid
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("audit", "--actor", "t", "--limit", "4")
        assert res.returncode == 0, res.stderr
        targets = [r.split("\t")[4] for r in res.stdout.splitlines()[1:]]
        assert targets == [
            "grid 99999999",
            "track 7",
            f"person 王超（人员编号 DEMO0032，系统编号 id:{person}）",
            f"grid {code}（系统编号 id:{grid_id}）",
        ], targets
        res = run_inproc("audit", "--action", "user.create")
        assert f"\tuser zz-viewer（系统编号 id:{uid}）\t" in res.stdout, res.stdout
    finally:
        get_settings.cache_clear()


def test_a_community_without_buildings_is_refused_before_the_job(demo, auth_headers):  # noqa: F811
    """L14: POST /plans answered 202 and its job failed; the CLI refused at once."""
    admin = auth_headers("admin")
    empty = "110108015099"
    with demo.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, level, name, geom) VALUES (:c, 'community', '空社区', "
                "ST_Multi(ST_MakeEnvelope(116.30, 39.98, 116.301, 39.981, 4326)))"
            ),
            {"c": empty},
        )
    body = {"community": empty, "min_households": 300, "max_households": 500}
    with TestClient(create_app(demo)) as client:
        r = client.post("/plans", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == (
        f"社区 {empty} 没有楼栋，请先导入楼栋 community {empty} has no buildings: "
        "import buildings first"
    )
    with demo.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 0
