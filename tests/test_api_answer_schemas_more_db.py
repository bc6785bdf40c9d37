"""More answers outside tester T67 found documented as an untyped object in /openapi.json: a
job (GET /jobs/{id}, its ``result`` by the job's kind), a plan (GET /plans/{id}), coverage
(GET /coverage), a person's duties (GET /people/{id}/duties), a duty ended (POST
/assignments/end), undone (DELETE /assignments/{id}), a person leaving (POST
/people/{id}/leave). As tests/test_api_answer_schemas_db.py:
each operation called for real on the demo city and each answer validated against
/openapi.json with every object closed (``additionalProperties: false``). Real PostGIS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from geo.settings import city_today
from tests.test_api_answer_schemas_db import (
    Contract,
    _done,
    committed_plan_edited,
    demo_city_readers,
)

TYPED = [
    ("get", "/jobs/{job_id}"),
    ("get", "/plans/{plan_id}"),
    ("get", "/coverage"),
    ("get", "/people/{person_id}/duties"),
    ("post", "/assignments/end"),
    ("delete", "/assignments/{duty_id}"),
    ("post", "/people/{person_id}/leave"),
]


class Typed(Contract):
    """The contract, refusing an answer whose schema is an object of anything (FastAPI's
    ``dict[str, Any]``: every answer valid, closed or not)."""

    def check(self, method: str, path: str, answer: Any) -> Any:
        media = answer.headers["content-type"].split(";")[0].strip()
        schema = self.schema(method, path, answer.status_code, media) or {}
        assert schema.get("additionalProperties") is not True, f"{method} {path}: {schema}"
        return super().check(method, path, answer)


@pytest.fixture(scope="module")
def town(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city once for the module, an admin, a planner of a subdistrict, a steward
    and the contract read from the app."""
    yield from demo_city_readers(engine, "more", Typed)


def test_no_answer_of_these_operations_is_an_untyped_object(town) -> None:  # noqa: ANN001
    """T67: each 2xx JSON answer names its keys (not ``{}``, not an object of anything)."""
    paths = town["contract"].spec["paths"]
    for method, path in TYPED:
        for status, answer in paths[path][method]["responses"].items():
            if not status.startswith("2"):
                continue
            for media, body in answer.get("content", {}).items():
                schema = body.get("schema")
                assert schema not in (None, {}), f"{method} {path} {status} {media}: untyped"
                assert schema.get("additionalProperties") is not True, (method, path, schema)
                assert "$ref" in schema or "oneOf" in schema or "anyOf" in schema, schema


def test_the_jobs(town) -> None:  # noqa: ANN001
    """GET /jobs/{id} of each kind of job (a partition, a report as JSON and as CSV, a
    rematch, staffing proposals of alleys, streets and grids), as first polled and once
    done: ``kind`` says which ``result`` it has."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    admin = heads["admin"]
    yesterday = city_today() - dt.timedelta(days=1)
    started = []
    body = {"community": town["communities"][1], "min_households": 300, "max_households": 500}
    started.append(("partition", admin, client.post("/plans", json=body, headers=admin)))
    for who, kind, fmt in (("viewer", "weekly", "json"), ("steward", "daily", "csv")):
        query = {"date": str(yesterday), "format": fmt}
        answer = client.post(f"/reports/{kind}/jobs", params=query, headers=heads[who])
        started.append(("report", heads[who], answer))
    for what in ("alleys", "streets", "grids"):  # each its own pairs and summary
        proposal = {"kind": what, "area": town["sub"], "rebalance": what == "grids"}
        answer = client.post("/assignments/proposals", json=proposal, headers=admin)
        started.append(("assignment", admin, answer))
    rematch = {"since": str(yesterday - dt.timedelta(days=1)), "until": str(yesterday)}
    started.append(
        ("match_queue", admin, client.post("/tracks/rematch", json=rematch, headers=admin))
    )
    for kind, who, answer in started:
        assert answer.status_code == 202, answer.text
        url = answer.json()["job_url"]
        first = client.get(url, headers=who)
        assert first.status_code == 200, first.text
        assert contract.check("get", "/jobs/{job_id}", first)["kind"] == kind
        finished = _done(client, url, who)
        assert finished["status"] == "done", finished
        last = client.get(url, headers=who)
        job = contract.check("get", "/jobs/{job_id}", last)
        assert job["result"], job


def test_coverage(town) -> None:  # noqa: ANN001
    """GET /coverage of a district, a subdistrict and a community, today and a day before."""
    contract, client, viewer = town["contract"], town["client"], town["heads"]["viewer"]
    week_ago = city_today() - dt.timedelta(days=7)
    for area in (town["district"], town["sub"], town["communities"][0]):
        for query in ({"area": area}, {"area": area, "date": str(week_ago)}):
            answer = client.get("/coverage", params=query, headers=viewer)
            assert answer.status_code == 200, answer.text
            contract.check("get", "/coverage", answer)


def test_a_persons_duties_ended_and_undone(town) -> None:  # noqa: ANN001
    """GET /people/{id}/duties (today's, every one, a steward's own), POST /assignments/end,
    DELETE /assignments/{id} of a duty set by hand and of a replacement (what it gave back)."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    admin = heads["admin"]
    today = city_today()
    with town["db"].connect() as conn:
        worker = conn.execute(
            text("SELECT person_id FROM assignments WHERE grid_id IS NOT NULL ORDER BY id LIMIT 1")
        ).scalar_one()
    for pid, who, query in (
        (town["person"], "viewer", {}),
        (town["person"], "admin", {"all": "true"}),
        (town["person"], "steward", {}),
        (worker, "viewer", {"all": "true"}),
        (worker, "viewer", {"date": str(today - dt.timedelta(days=3))}),
    ):
        answer = client.get(f"/people/{pid}/duties", params=query, headers=heads[who])
        assert answer.status_code == 200, answer.text
        body = contract.check("get", "/people/{person_id}/duties", answer)
        assert body["duties"], body

    with town["db"].connect() as conn:
        pid, ext = conn.execute(
            text(
                "SELECT id, external_id FROM people WHERE 'alley_steward' = ANY(roles) "
                "ORDER BY id LIMIT 1"
            )
        ).one()
        free = (
            conn.execute(
                text(
                    "SELECT s.id FROM streets s WHERE s.kind = 'alley' AND NOT EXISTS (SELECT 1 "
                    "FROM assignments a WHERE a.street_id = s.id) ORDER BY s.id LIMIT 2"
                )
            )
            .scalars()
            .all()
        )
        held = conn.execute(
            text(
                "SELECT street_id FROM assignments WHERE role = 'alley_steward' "
                "AND person_id <> :p AND valid_to IS NULL ORDER BY id LIMIT 1"
            ),
            {"p": pid},
        ).scalar_one()

    def day(n: int) -> str:
        return str(today + dt.timedelta(days=n))

    duty = {"person": ext, "target": free[0], "role": "alley_steward", "valid_from": day(-5)}
    assert client.post("/assignments", json=duty, headers=admin).status_code == 201
    end = {"person": ext, "target": free[0], "role": "alley_steward", "last_day": day(3)}
    answer = client.post("/assignments/end", json=end, headers=admin)
    assert answer.status_code == 200, answer.text
    contract.check("post", "/assignments/end", answer)

    plain = duty | {"target": free[1], "valid_from": day(2)}
    made = client.post("/assignments", json=plain, headers=admin)
    assert made.status_code == 201, made.text
    swap = duty | {"target": held, "valid_from": day(3), "valid_to": day(9), "replace": True}
    stand_in = client.post("/assignments", json=swap, headers=admin)
    assert stand_in.status_code == 201, stand_in.text
    for duty_id, query in (
        (made.json()["duty"]["id"], {"reason": "录错 entered by mistake"}),
        (stand_in.json()["duty"]["id"], {}),
    ):
        answer = client.delete(f"/assignments/{duty_id}", params=query, headers=admin)
        assert answer.status_code == 200, answer.text
        contract.check("delete", "/assignments/{duty_id}", answer)


def test_the_plans(town, tmp_path) -> None:  # noqa: ANN001
    """GET /plans/{id} of each kind of plan: committed by the engine (the demo's), an
    engine's draft, an editor's draft (then committed), a grids file's draft, a revert's
    draft and a discarded one."""
    import io

    import geopandas as gpd
    import shapely

    from geo.export import export_layer

    contract, client, admin = town["contract"], town["client"], town["heads"]["admin"]
    community, other = town["communities"][0], town["communities"][2]
    body = {"community": other, "min_households": 300, "max_households": 500}
    job = client.post("/plans", json=body, headers=admin)
    assert job.status_code == 202, job.text
    made = _done(client, job.json()["job_url"], admin)["result"]["plan_id"]

    committed, edit = committed_plan_edited(client, admin, community)
    draft = client.post("/plans/draft", json=edit, headers=admin)
    assert draft.status_code == 201, draft.text
    edited = draft.json()["plan_id"]
    seen = {}
    for plan_id in (committed, made, edited):
        seen[plan_id] = client.get(f"/plans/{plan_id}", headers=admin)

    done = client.post(f"/plans/{edited}/commit", json={"allow_disconnected": True}, headers=admin)
    assert done.status_code == 200, done.text
    back = client.post("/plans/revert", json={"community": community, "version": 1}, headers=admin)
    assert back.status_code == 201, back.text
    reverted = back.json()["plan_id"]

    path = tmp_path / "grids.geojson"
    export_layer(town["db"], "grids", path)
    current = gpd.read_file(path)
    current = current[(current.level == 1) & (current.community_code == community)]
    current = current.reset_index(drop=True)
    geoms = list(current.geometry)
    merged = current.drop(index=1).reset_index(drop=True)
    merged.loc[0, "geometry"] = shapely.union(geoms[0], geoms[1])
    buf = io.BytesIO()
    merged.to_file(buf, driver="GeoJSON")
    file = ("grids.geojson", buf.getvalue(), "application/geo+json")
    sent = client.post(
        "/plans/import", files={"file": file}, data={"community": community}, headers=admin
    )
    assert sent.status_code == 201, sent.text
    imported = sent.json()["plan_id"]
    assert client.delete(f"/plans/{made}", headers=admin).status_code == 200
    for plan_id in (edited, reverted, imported, made):
        seen[f"{plan_id} now"] = client.get(f"/plans/{plan_id}", headers=admin)

    sources = set()
    for answer in seen.values():
        assert answer.status_code == 200, answer.text
        plan = contract.check("get", "/plans/{plan_id}", answer)
        sources.add((plan["status"], plan["params"].get("source", "editor")))
    assert {
        ("committed", "partition"),
        ("draft", "partition"),
        ("discarded", "partition"),
    } <= sources
    assert {("committed", "editor"), ("draft", "revert"), ("draft", "file")} <= sources, sources


def test_a_person_leaves(town) -> None:  # noqa: ANN001
    """POST /people/{id}/leave: a steward with duties (the body's last day), then a worker
    by a planner of the area (the default last day, yesterday)."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    today = city_today()
    with town["db"].connect() as conn:
        steward = conn.execute(
            text(
                "SELECT a.person_id FROM assignments a JOIN people p ON p.id = a.person_id "
                "WHERE a.role = 'alley_steward' AND p.active AND a.person_id <> :p "
                "ORDER BY a.person_id DESC LIMIT 1"
            ),
            {"p": town["person"]},
        ).scalar_one()
        worker = conn.execute(
            text(
                "SELECT a.person_id FROM assignments a JOIN grids g ON g.id = a.grid_id "
                "JOIN areas c ON c.id = g.community_id JOIN areas s ON s.id = c.parent_id "
                "JOIN people p ON p.id = a.person_id WHERE a.role = 'grid_worker' AND p.active "
                "AND s.code = :s AND NOT EXISTS (SELECT 1 FROM assignments o WHERE "
                "o.person_id = a.person_id AND o.grid_id IS NULL) "
                "ORDER BY a.person_id DESC LIMIT 1"
            ),
            {"s": town["sub"]},
        ).scalar_one()
    for pid, who, body in (
        (steward, "admin", {"last_day": str(today)}),
        (worker, "planner", None),
    ):
        answer = client.post(f"/people/{pid}/leave", json=body, headers=heads[who])
        assert answer.status_code == 200, answer.text
        left = contract.check("post", "/people/{person_id}/leave", answer)
        assert left["person_id"] == pid and left["duties_ended"] >= 1, left
