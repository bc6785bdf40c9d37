"""The last answers outside tester T67 found documented as an untyped object in /openapi.json:
the plans list, a rebalance, a commit, a discard (GET /plans, POST /plans/rebalance, POST
/plans/{id}/commit, DELETE /plans/{id}), the people (GET /people), the signed reports (GET
/reports/signed), a track given to another person, withdrawn, restored (PATCH, DELETE
/tracks/{id}, POST /tracks/{id}/restore), a proposal committed (POST
/assignments/proposals/{job_id}/commit), /health, and a staffing proposal's solver
``summary`` inside GET /jobs/{id}. As tests/test_api_answer_schemas_db.py: each operation
called for real on the demo city and each answer validated against /openapi.json with every
object closed (``additionalProperties: false``); here also no object of anything anywhere in
these operations' schemas (a list of free objects, a free ``summary``), which a closed top
level does not catch. Real PostGIS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo.settings import city_today
from tests.test_api_answer_schemas_db import _done, committed_plan_edited, demo_city_readers
from tests.test_api_answer_schemas_more_db import Typed

TYPED = [
    ("get", "/health"),
    ("head", "/health"),
    ("get", "/people"),
    ("get", "/plans"),
    ("post", "/plans/rebalance"),
    ("post", "/plans/{plan_id}/commit"),
    ("delete", "/plans/{plan_id}"),
    ("get", "/reports/signed"),
    ("patch", "/tracks/{track_id}"),
    ("delete", "/tracks/{track_id}"),
    ("post", "/tracks/{track_id}/restore"),
    ("post", "/assignments/proposals/{job_id}/commit"),
    ("get", "/jobs/{job_id}"),
]


# the keys by which a JSON Schema says what a value is
_TYPING = {"type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum", "properties", "items"}


def open_objects(schema: Any, schemas: dict[str, Any], where: str = "") -> list[str]:
    """Where ``schema`` lets a value be anything (``{}``), or an object of anything (no
    properties, no typed ``additionalProperties``): what a generated client cannot type.
    A map of typed values (``dict[str, str]``) is typed. References are followed once."""
    found: list[str] = []
    seen: set[str] = set()

    def walk(s: Any, at: str) -> None:
        if not isinstance(s, dict):
            return
        if "$ref" in s:
            name = s["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(schemas[name], name)
            return
        if not s.keys() & _TYPING:  # {} or a description alone: any value at all
            found.append(at or "(answer)")
            return
        if s.get("type") == "object" and "properties" not in s:
            extra = s.get("additionalProperties", True)
            if extra is True or extra == {}:
                found.append(at or "(answer)")
            else:
                walk(extra, at + "{}")
        for key, sub in s.get("properties", {}).items():
            walk(sub, f"{at}.{key}")
        walk(s.get("items"), at + "[]")
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for sub in s.get(key, []):
                walk(sub, at)

    walk(schema, where)
    return found


def _free(schema: dict[str, Any]) -> bool:
    """An object of anything: ``{}``, or an object without properties or typed values."""
    if not schema:
        return True
    free = schema.get("additionalProperties", True) in (True, {})
    return schema.get("type") == "object" and "properties" not in schema and free


class Closed(Typed):
    """The contract, refusing also an answer whose schema leaves an object of anything
    anywhere inside it (the old ``summary: {}`` of a proposal, GET /people's list of free
    objects)."""

    def check(self, method: str, path: str, answer: Any) -> Any:
        media = answer.headers["content-type"].split(";")[0].strip()
        schema = self.schema(method, path, answer.status_code, media)
        spots = open_objects(schema, self.spec["components"]["schemas"])
        assert not spots, f"{method} {path} {answer.status_code}: open objects at {spots}"
        return super().check(method, path, answer)


@pytest.fixture(scope="module")
def town(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city once for the module, an account of each role and the contract."""
    yield from demo_city_readers(engine, "rest", Closed)


def test_no_answer_is_an_untyped_object(town) -> None:  # noqa: ANN001
    """T67: these operations' 2xx JSON answers name their keys all the way down; and no
    operation of the API answers a bare ``{}``, an object of anything, or a list of them."""
    spec = town["contract"].spec
    schemas = spec["components"]["schemas"]
    for method, path in TYPED:
        answers = spec["paths"][path][method]["responses"]
        assert any(s.startswith("2") for s in answers), (method, path)
        for status, answer in answers.items():
            if not status.startswith("2"):
                continue
            for media, body in answer.get("content", {}).items():
                spots = open_objects(body.get("schema"), schemas)
                assert not spots, f"{method} {path} {status} {media}: {spots}"
    untyped = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for status, answer in op.get("responses", {}).items():
                for media, body in answer.get("content", {}).items():
                    if not status.startswith("2") or "json" not in media:
                        continue
                    schema = body.get("schema") or {}
                    if _free(schema) or (
                        schema.get("type") == "array" and _free(schema.get("items") or {})
                    ):
                        untyped.append(f"{method} {path} {status} {media}")
    assert not untyped, untyped


def test_health(town) -> None:  # noqa: ANN001
    """GET /health as typed; HEAD the same status with no body."""
    contract, client = town["contract"], town["client"]
    health = contract.check("get", "/health", client.get("/health"))
    assert health["status"] == "ok" and health["schema"], health
    head = client.head("/health")
    assert head.status_code == 200 and head.content == b"", head.content


def test_people(town) -> None:  # noqa: ANN001
    """GET /people: every person, by role, a page, a page past the end."""
    contract, client, viewer = town["contract"], town["client"], town["heads"]["viewer"]
    for query in ({}, {"role": "alley_steward"}, {"limit": 5, "offset": 3}, {"offset": 99999}):
        answer = client.get("/people", params=query, headers=viewer)
        assert answer.status_code == 200, answer.text
        people = contract.check("get", "/people", answer)
        assert bool(people) == (query.get("offset", 0) < 1000), query


def _plan_of(client: TestClient, admin: dict[str, str], community: str) -> dict[str, Any]:
    """The community's current committed plan as GET /plans lists it."""
    plans = client.get("/plans", params={"community": community}, headers=admin).json()
    return next(p for p in plans if p["status"] == "committed" and p["current"])


def test_the_plans(town) -> None:  # noqa: ANN001
    """GET /plans (every reader of it); POST /plans/rebalance with a grid locked, none, and
    bounds that make a new grid (no code yet); commits: an edited draft (a grid in pieces), a
    revert (reverted_from), an engine's plan (grids short of staff and over), two grids merged
    (a leader's duty ended, a planned duty removed); DELETE /plans/{id} of an engine's draft;
    GET /plans again (committed, discarded, an open draft)."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    admin = heads["admin"]
    first, second, third, fourth = town["communities"][:4]

    committed, edit = committed_plan_edited(client, admin, first)
    plan = client.get(f"/plans/{committed}", headers=admin).json()
    grids = [
        {"code": f["properties"]["code"], "building_ids": f["properties"]["building_ids"]}
        for f in plan["features"]["features"]
    ]
    bounds = {"community": first, "min_households": 300, "max_households": 500}
    sent = [
        (admin, bounds | {"grids": [g | {"locked": i == 0} for i, g in enumerate(grids)]}),
        (heads["planner"], bounds | {"grids": grids, "base_version": 1}),
        (admin, bounds | {"min_households": 100, "max_households": 200, "grids": grids}),
    ]
    for who, body in sent:
        answer = client.post("/plans/rebalance", json=body, headers=who)
        assert answer.status_code == 200, answer.text
        rebalanced = contract.check("post", "/plans/rebalance", answer)
    assert any(g["code"] is None and g["source"] is None for g in rebalanced["grids"])

    def commit(plan_id: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = client.post(f"/plans/{plan_id}/commit", json=options, headers=admin)
        assert answer.status_code == 200, answer.text
        return contract.check("post", "/plans/{plan_id}/commit", answer)

    pieces = {"allow_disconnected": True}
    draft = client.post("/plans/draft", json=edit, headers=admin)
    assert draft.status_code == 201, draft.text
    done = [commit(draft.json()["plan_id"], pieces)]
    back = client.post("/plans/revert", json={"community": first, "version": 1}, headers=admin)
    assert back.status_code == 201, back.text
    done.append(commit(back.json()["plan_id"]))
    body = {"community": second, "min_households": 250, "max_households": 450}
    job = client.post("/plans", json=body, headers=admin)
    assert job.status_code == 202, job.text
    done.append(commit(_done(client, job.json()["job_url"], admin)["result"]["plan_id"]))
    done.append(commit(_merged_draft(town, fourth), pieces))
    assert done[0]["grids_in_pieces"] and done[1]["reverted_from"] == 1, done[:2]
    assert done[2]["staffing_gaps"] and done[2]["staffing_surplus"], done[2]
    assert done[3]["duties_ended"] and done[3]["duties_removed"], done[3]

    body = {"community": third, "min_households": 200, "max_households": 400}
    job = client.post("/plans", json=body, headers=admin)
    made = _done(client, job.json()["job_url"], admin)["result"]["plan_id"]
    gone = client.delete(f"/plans/{made}", headers=admin)
    assert gone.status_code == 200, gone.text
    assert contract.check("delete", "/plans/{plan_id}", gone)["status"] == "discarded"
    _, edit = committed_plan_edited(client, admin, third)  # a draft left open
    assert client.post("/plans/draft", json=edit, headers=admin).status_code == 201

    for who, query in (
        ("admin", {}),
        ("admin", {"community": first}),
        ("planner", {"status": "discarded"}),
        ("planner", {"status": "draft", "limit": 2}),
    ):
        answer = client.get("/plans", params=query, headers=heads[who])
        assert answer.status_code == 200, answer.text
        assert contract.check("get", "/plans", answer), query


def _merged_draft(town: dict[str, Any], community: str) -> int:
    """A draft of ``community`` whose two first grids are one (under the bigger one's code),
    stored after a worker of the bigger one was given a duty on the smaller from tomorrow:
    its commit ends the smaller grid's leader (a second leader of the grid) and removes that
    planned duty (the worker twice on one grid). The draft's id."""
    client, admin = town["client"], town["heads"]["admin"]
    current = _plan_of(client, admin, community)
    plan = client.get(f"/plans/{current['plan_id']}", headers=admin).json()
    grids = sorted(
        ({"code": f["properties"]["code"], "building_ids": f["properties"]["building_ids"],
          "households": f["properties"]["households"]} for f in plan["features"]["features"]),
        key=lambda g: g["code"],
    )  # fmt: skip
    big, small = sorted(grids[:2], key=lambda g: -g["households"])
    with town["db"].connect() as conn:
        worker = conn.execute(
            text(
                "SELECT p.external_id FROM assignments a JOIN grids g ON g.id = a.grid_id "
                "JOIN people p ON p.id = a.person_id WHERE g.code = :c AND g.retired_at IS "
                "NULL AND a.role = 'grid_worker' AND a.valid_to IS NULL ORDER BY a.id LIMIT 1"
            ),
            {"c": big["code"]},
        ).scalar_one()
    tomorrow = str(city_today() + dt.timedelta(days=1))
    duty = {"person": worker, "target": small["code"], "role": "grid_worker"}
    planned = client.post("/assignments", json=duty | {"valid_from": tomorrow}, headers=admin)
    assert planned.status_code == 201, planned.text
    merged = {"code": big["code"], "building_ids": big["building_ids"] + small["building_ids"]}
    rest = [{"code": g["code"], "building_ids": g["building_ids"]} for g in grids[2:]]
    body = {"community": community, "min_households": 300, "max_households": 1500}
    body |= {"grids": [merged, *rest], "base_version": current["version"]}
    draft = client.post("/plans/draft", json=body, headers=admin)
    assert draft.status_code == 201, draft.text
    return int(draft.json()["plan_id"])


def test_the_signed_reports(town) -> None:  # noqa: ANN001
    """GET /reports/signed: none yet, then the city's daily report and a subdistrict's week
    (with a note), as a viewer, by kind, by area, since a day, as a planner."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    none = client.get("/reports/signed", headers=heads["viewer"])
    assert contract.check("get", "/reports/signed", none) == {"signoffs": []}
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    last_week = today - dt.timedelta(days=today.weekday() + 7)
    signed = client.post(
        "/reports/daily/sign", params={"date": str(yesterday)}, headers=heads["admin"]
    )
    assert signed.status_code == 201, signed.text
    week = {"date": str(last_week), "area": town["sub"], "note": "已核 checked"}
    signed = client.post("/reports/weekly/sign", json=week, headers=heads["planner"])
    assert signed.status_code == 201, signed.text
    for who, query in (
        ("viewer", {}),
        ("admin", {"kind": "daily"}),
        ("viewer", {"area": town["sub"]}),
        ("viewer", {"since": str(yesterday)}),
        ("planner", {}),
    ):
        answer = client.get("/reports/signed", params=query, headers=heads[who])
        assert answer.status_code == 200, answer.text
        assert contract.check("get", "/reports/signed", answer)["signoffs"], query


def test_a_track_given_withdrawn_restored(town) -> None:  # noqa: ANN001
    """PATCH /tracks/{id} to another person, to the same again, to a person who has left (a
    warning); DELETE /tracks/{id} with a reason and by the steward herself; POST
    /tracks/{id}/restore with a reason and without."""
    contract, client, heads = town["contract"], town["client"], town["heads"]
    admin = heads["admin"]
    with town["db"].connect() as conn:
        tracks = conn.execute(
            text(
                "SELECT id, person_id FROM tracks WHERE status = 'matched' AND person_id <> :p "
                "ORDER BY id LIMIT 3"
            ),
            {"p": town["person"]},
        ).all()
        own = conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p ORDER BY id LIMIT 1"),
            {"p": town["person"]},
        ).scalar_one()
        others = (
            conn.execute(
                text(
                    "SELECT id FROM people WHERE 'alley_steward' = ANY(roles) AND active "
                    "AND id <> ALL(:p) ORDER BY id DESC LIMIT 2"
                ),
                {"p": [town["person"], *(t.person_id for t in tracks)]},
            )
            .scalars()
            .all()
        )
    leaver = client.post(f"/people/{others[1]}/leave", headers=admin)
    assert leaver.status_code == 200, leaver.text
    given = []
    for track, person in (
        (tracks[0].id, others[0]),
        (tracks[0].id, others[0]),
        (tracks[0].id, tracks[0].person_id),
        (tracks[1].id, others[1]),
    ):
        answer = client.patch(f"/tracks/{track}", json={"person_id": person}, headers=admin)
        assert answer.status_code == 200, answer.text
        given.append(contract.check("patch", "/tracks/{track_id}", answer))
    assert [g["changed"] for g in given] == [True, False, True, True], given
    assert "warning" in given[3] and "warning" not in given[0], given

    reason = {"reason": "错传 sent by mistake"}
    for track, who, body in ((tracks[2].id, "admin", reason), (own, "steward", None)):
        answer = client.request("DELETE", f"/tracks/{track}", json=body, headers=heads[who])
        assert answer.status_code == 200, answer.text
        withdrawn = contract.check("delete", "/tracks/{track_id}", answer)
        assert withdrawn["status"] == "withdrawn" and withdrawn["visits"] >= 0, withdrawn
    for track, who, body in ((tracks[2].id, "admin", {"reason": "误撤"}), (own, "steward", None)):
        answer = client.post(f"/tracks/{track}/restore", json=body, headers=heads[who])
        assert answer.status_code == 200, answer.text
        restored = contract.check("post", "/tracks/{track_id}/restore", answer)
        assert restored["status"] == "matched" and restored["match"]["cleaning"], restored


def test_the_proposals_and_their_commits(town) -> None:  # noqa: ANN001
    """GET /jobs/{id} of staffing proposals of each kind (gaps only, a rebalance, fill_idle:
    each its own solver summary), each committed (POST
    /assignments/proposals/{job_id}/commit), and the job read again once committed."""
    contract, client, admin = town["contract"], town["client"], town["heads"]["admin"]
    kinds = set()
    for kind, rebalance, fill_idle in (
        ("alleys", False, False),
        ("alleys", True, True),
        ("streets", False, False),
        ("streets", True, True),
        ("grids", False, False),
        ("grids", True, False),
    ):
        body = {"kind": kind, "area": town["sub"], "rebalance": rebalance, "fill_idle": fill_idle}
        started = client.post("/assignments/proposals", json=body, headers=admin)
        assert started.status_code == 202, started.text
        url = started.json()["job_url"]
        assert _done(client, url, admin)["status"] == "done"
        job = contract.check("get", "/jobs/{job_id}", client.get(url, headers=admin))
        summary = job["result"]["summary"]
        assert ("fill_idle" in summary) == fill_idle, summary
        kinds.add(job["result"]["kind"])
        answer = client.post(f"/assignments/proposals/{job['job_id']}/commit", headers=admin)
        assert answer.status_code == 200, answer.text
        contract.check("post", "/assignments/proposals/{job_id}/commit", answer)
        again = contract.check("get", "/jobs/{job_id}", client.get(url, headers=admin))
        assert again["result"]["committed"] is True, again["result"]
    assert kinds == {"alleys", "streets", "grids"}
