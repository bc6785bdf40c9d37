"""The answers outside tester T67 found documented as an untyped ``{}`` in /openapi.json (the
client he generated from it had no types) are checked against what /openapi.json now says:
each operation called for real on the demo city (``gridward demo``: grids, people, duties from
a week ago, yesterday's walks), each answer validated (jsonschema_rs, JSON Schema 2020-12 as
OpenAPI 3.1 writes it) against the schema of its status and content type, with every object
that declares properties closed (``additionalProperties: false``): a key the route sends and
the schema does not declare fails, as does a declared key of the wrong type or a required one
left out. Real PostGIS, FastAPI TestClient."""

from __future__ import annotations

import copy
import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import jsonschema_rs
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo.settings import city_today
from tests.conftest import empty_database

# (method, path) of the operations T67 met as ``{}``, whose JSON answers are typed now
TYPED = [
    ("get", "/areas"),
    ("get", "/buildings"),
    ("get", "/streets"),
    ("post", "/plans/draft"),
    ("post", "/plans/import"),
    ("post", "/plans"),
    ("post", "/plans/revert"),
    ("post", "/reports/{kind}/jobs"),
    ("get", "/reports/files/{job_id}"),
    ("post", "/reports/{kind}/sign"),
    ("get", "/reports/signed/{signoff_id}"),
    ("get", "/reports/{kind}"),
    ("post", "/assignments"),
    ("post", "/assignments/proposals"),
]
# files only: their ``{}`` was an application/json answer they never give
FILES = [("get", "/exports/roster"), ("get", "/exports/people")]


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` in every object schema that declares
    properties (the property names themselves left alone)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: {name: _closed(s) for name, s in v.items()} if k == "properties" else _closed(v)
        for k, v in schema.items()
    }
    if "properties" in schema:
        out["additionalProperties"] = False
    return out


class Contract:
    """The app's own /openapi.json, every object closed; answers checked against it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = {"schemas": _closed(spec["components"]["schemas"])}
        self._validators: dict[tuple[str, ...], Any] = {}

    def schema(self, method: str, path: str, status: int, media: str) -> Any:
        answers = self.spec["paths"][path][method]["responses"]
        assert str(status) in answers, f"{method} {path}: {status} not documented"
        content = answers[str(status)].get("content", {})
        assert media in content, f"{method} {path} {status}: {media} not in {list(content)}"
        return content[media].get("schema")

    def problems(self, method: str, path: str, status: int, media: str, body: Any) -> list[str]:
        """What is wrong with ``body`` as the ``status`` answer of ``method path``."""
        schema = self.schema(method, path, status, media)
        key = (method, path, str(status), media)
        if key not in self._validators:
            closed = {**_closed(schema), "components": self.components}
            self._validators[key] = jsonschema_rs.Draft202012Validator(closed)
        errors = self._validators[key].iter_errors(body)
        return [f"{list(e.instance_path)[:6]}: {e.message[:300]}" for e in errors][:10]

    def check(self, method: str, path: str, answer: Any) -> Any:
        """``answer`` (an httpx response) valid against its documented schema; its JSON."""
        media = answer.headers["content-type"].split(";")[0].strip()
        schema = self.schema(method, path, answer.status_code, media)
        assert schema not in (None, {}), f"{method} {path} {answer.status_code}: untyped"
        body = answer.json()
        wrong = self.problems(method, path, answer.status_code, media, body)
        assert not wrong, f"{method} {path} {answer.status_code}: {wrong}"
        return body


def _token(
    engine: Any, name: str, role: str, areas: tuple[str, ...] = (), person: int | None = None
) -> dict[str, str]:
    from geo.accounts import create_user, issue_token

    with engine.begin() as conn:
        uid = create_user(conn, name, "answer-schemas-password", role, areas, person)
        return {"Authorization": f"Bearer {issue_token(conn, uid)[1]}"}


def demo_city_readers(
    engine: Any, prefix: str, contract: type[Contract]
) -> Iterator[dict[str, Any]]:
    """The demo city in emptied tables, an account of each role (a planner of the first
    subdistrict, a steward who walked), a client and the contract read from the app: what
    the answer-schema test modules share."""
    from api.app import create_app
    from geo.demo import populate

    db = empty_database(engine)
    populate(db, seed=0)
    with db.connect() as conn:
        person = conn.execute(
            text(
                "SELECT t.person_id FROM tracks t JOIN assignments a ON a.person_id = "
                "t.person_id AND a.role = 'alley_steward' ORDER BY t.id LIMIT 1"
            )
        ).scalar_one()
        codes = {
            level: list(
                conn.execute(
                    text("SELECT code FROM areas WHERE level = :l ORDER BY code"), {"l": level}
                ).scalars()
            )
            for level in ("community", "subdistrict", "district")
        }
    sub = codes["subdistrict"][0]
    heads = {
        "admin": _token(db, f"{prefix}-admin", "admin"),
        "viewer": _token(db, f"{prefix}-viewer", "viewer"),
        "planner": _token(db, f"{prefix}-planner", "planner", (sub,)),
        "steward": _token(db, f"{prefix}-steward", "steward", (), person),
    }
    with TestClient(create_app(db)) as client:
        yield {
            "client": client,
            "db": db,
            "heads": heads,
            "person": person,
            "communities": codes["community"],
            "community": codes["community"][0],
            "other": codes["community"][1],
            "sub": sub,
            "district": codes["district"][0],
            "contract": contract(client.get("/openapi.json").json()),
        }


def committed_plan_edited(
    client: TestClient, admin: dict[str, str], community: str
) -> tuple[int, dict[str, Any]]:
    """The community's committed plan id, and an editor draft of it with one building moved
    from its first grid to its second (the body of POST /plans/draft)."""
    plans = client.get("/plans", params={"community": community}, headers=admin).json()
    committed = next(p["plan_id"] for p in plans if p["status"] == "committed")
    plan = client.get(f"/plans/{committed}", headers=admin).json()
    grids = [
        {"code": f["properties"]["code"], "building_ids": list(f["properties"]["building_ids"])}
        for f in plan["features"]["features"]
    ]
    grids[1]["building_ids"].append(grids[0]["building_ids"].pop())
    edit = {"community": community, "min_households": 300, "max_households": 500}
    return committed, edit | {"grids": grids, "base_version": 1}


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city once for the module, an account of each role (a planner of the
    subdistrict, a steward who walked yesterday) and the contract read from the app."""
    yield from demo_city_readers(engine, "schemas", Contract)


def _done(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The job once finished (polled; a generous bound, not a timing check)."""
    for _ in range(1200):
        job = client.get(url, headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job never finished: {job}")


def test_no_answer_of_these_operations_is_an_untyped_object(city) -> None:  # noqa: ANN001
    """T67: a 2xx JSON answer documented as ``{}`` (or an object of anything) gives a
    generated client no type; the exports, files only, document no JSON answer at all."""
    paths = city["contract"].spec["paths"]
    for method, path in TYPED + FILES:
        answers = paths[path][method]["responses"]
        for status, answer in answers.items():
            if not status.startswith("2"):
                continue
            for media, body in answer.get("content", {}).items():
                if "json" not in media:
                    continue
                assert (method, path) not in FILES, f"{method} {path}: a file, not {media}"
                schema = body.get("schema")
                assert schema not in (None, {}), f"{method} {path} {status} {media}: untyped"
                assert schema != {"type": "object", "additionalProperties": True}, path


def test_a_key_the_schema_does_not_declare_fails(city) -> None:  # noqa: ANN001
    """The check has teeth: an undeclared key anywhere, a required key left out or a key of
    the wrong type is reported."""
    contract, client = city["contract"], city["client"]
    answer = client.get("/areas", params={"limit": 2}, headers=city["heads"]["viewer"])
    body = contract.check("get", "/areas", answer)
    media = "application/geo+json"
    extra = copy.deepcopy(body)
    extra["features"][0]["properties"]["population"] = 1
    assert contract.problems("get", "/areas", 200, media, extra)
    missing = copy.deepcopy(body)
    del missing["features"][0]["properties"]["parent_code"]
    assert contract.problems("get", "/areas", 200, media, missing)
    wrong = copy.deepcopy(body)
    wrong["numberMatched"] = "4"
    assert contract.problems("get", "/areas", 200, media, wrong)


def test_the_layers(city) -> None:  # noqa: ANN001
    """GET /areas, /buildings, /streets: GeoJSON FeatureCollections, each feature's
    properties as declared; ``bbox`` left out of an empty page."""
    contract, client = city["contract"], city["client"]
    viewer = city["heads"]["viewer"]
    community = city["community"]
    asked = {
        "/areas": [{}, {"level": "community"}, {"code": community}],
        "/buildings": [{}, {"limit": 3}, {"community": community}],
        "/streets": [{}, {"kind": "alley", "limit": 3}, {"bbox": "0,0,1,1"}],
    }
    for path, queries in asked.items():
        for query in queries:
            answer = client.get(path, params=query, headers=viewer)
            assert answer.status_code == 200, answer.text
            body = contract.check("get", path, answer)
            assert ("bbox" in body) == bool(body["features"]), (path, query)


def test_the_plans_answers(city, tmp_path) -> None:  # noqa: ANN001
    """POST /plans (a job), /plans/draft (a new draft; the same again), /plans/revert (after a
    commit), /plans/import (the current grids: no draft; two grids merged: a draft)."""
    from geo.export import export_layer

    contract, client = city["contract"], city["client"]
    admin, community = city["heads"]["admin"], city["community"]
    body = {"community": city["other"], "min_households": 300, "max_households": 500}
    job = contract.check("post", "/plans", client.post("/plans", json=body, headers=admin))
    assert _done(client, job["job_url"], admin)["status"] == "done"

    _committed, edit = committed_plan_edited(client, admin, community)
    first = client.post("/plans/draft", json=edit, headers=admin)
    assert first.status_code == 201, first.text
    draft = contract.check("post", "/plans/draft", first)
    again = client.post("/plans/draft", json=edit, headers=admin)
    assert again.status_code == 200, again.text
    assert contract.check("post", "/plans/draft", again)["existing"] is True

    done = client.post(
        f"/plans/{draft['plan_id']}/commit", json={"allow_disconnected": True}, headers=admin
    )
    assert done.status_code == 200, done.text
    back = client.post("/plans/revert", json={"community": community, "version": 1}, headers=admin)
    assert back.status_code == 201, back.text
    assert contract.check("post", "/plans/revert", back)["reverted_from"]["version"] == 1

    path = tmp_path / "grids.geojson"
    export_layer(city["db"], "grids", path)
    current = gpd.read_file(path)
    current = current[(current.level == 1) & (current.community_code == community)]
    current = current.reset_index(drop=True)

    def send(frame: gpd.GeoDataFrame) -> Any:
        buf = io.BytesIO()
        frame.to_file(buf, driver="GeoJSON")
        file = ("grids.geojson", buf.getvalue(), "application/geo+json")
        return client.post(
            "/plans/import", files={"file": file}, data={"community": community}, headers=admin
        )

    same = send(current)
    assert same.status_code == 200, same.text
    assert contract.check("post", "/plans/import", same)["unchanged"] is True
    geoms = list(current.geometry)
    merged = current.drop(index=1).reset_index(drop=True)
    merged.loc[0, "geometry"] = shapely.union(geoms[0], geoms[1])
    made = send(merged)
    assert made.status_code == 201, made.text
    assert "plan_id" in contract.check("post", "/plans/import", made)


def test_the_reports_and_their_signing(city) -> None:  # noqa: ANN001
    """GET /reports/{kind} for each kind, reader and area (a steward's own view leaves out
    the flag counts); a signing (201), the same again (200), a signed copy, a live report
    carrying its signoff; a report job (202) and the JSON file it made."""
    contract, client, heads = city["contract"], city["client"], city["heads"]
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    last_week = today - dt.timedelta(days=today.weekday() + 7)
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    asked = [
        ("daily", yesterday),
        ("daily", today),
        ("weekly", yesterday),
        ("weekly", last_week),
        ("monthly", yesterday),
        ("monthly", last_month),
    ]
    # an admin's every period and area; a viewer's (notes worded for readers) and a
    # steward's own view (no flag counts, no signoff) of fewer
    readers = [("admin", k, d, a) for k, d in asked for a in (None, city["community"], city["sub"])]
    readers += [("viewer", "daily", yesterday, None), ("viewer", "weekly", last_week, None)]
    readers += [("steward", k, d, None) for k, d in asked]
    readers.append(("steward", "daily", yesterday, city["sub"]))
    for who, kind, day, area in readers:
        query = {"date": str(day)} | ({"area": area} if area else {})
        answer = client.get(f"/reports/{kind}", params=query, headers=heads[who])
        assert answer.status_code == 200, answer.text
        report = contract.check("get", "/reports/{kind}", answer)
        if who == "steward":
            assert report["signed"] is None, report["signed"]
            assert all("suspect_tracks" not in p for p in report["people"])

    admin, day = heads["admin"], {"date": str(yesterday)}
    signed = client.post("/reports/daily/sign", params=day, headers=admin)
    assert signed.status_code == 201, signed.text
    first = contract.check("post", "/reports/{kind}/sign", signed)
    again = client.post("/reports/daily/sign", params=day, headers=admin)
    assert again.status_code == 200, again.text
    assert contract.check("post", "/reports/{kind}/sign", again)["repeated"] is True
    week = {"date": str(last_week), "area": city["sub"], "note": "签发 signed"}
    by_planner = client.post("/reports/weekly/sign", json=week, headers=heads["planner"])
    assert by_planner.status_code == 201, by_planner.text
    second = contract.check("post", "/reports/{kind}/sign", by_planner)
    for sid in (first["id"], second["id"]):
        copy_ = client.get(f"/reports/signed/{sid}", headers=heads["viewer"])
        assert copy_.status_code == 200, copy_.text
        assert contract.check("get", "/reports/signed/{signoff_id}", copy_)["signed"]["id"] == sid
    live = client.get("/reports/daily", params=day, headers=heads["viewer"])
    assert contract.check("get", "/reports/{kind}", live)["signed"]["id"] == first["id"]

    for who, kind in (("viewer", "weekly"), ("steward", "daily")):
        query = {"date": str(yesterday), "format": "json"}
        started = client.post(f"/reports/{kind}/jobs", params=query, headers=heads[who])
        assert started.status_code == 202, started.text
        job = contract.check("post", "/reports/{kind}/jobs", started)
        retry = client.post(f"/reports/{kind}/jobs", params=query, headers=heads[who])
        contract.check("post", "/reports/{kind}/jobs", retry)
        finished = _done(client, job["job_url"], heads[who])
        assert finished["status"] == "done", finished
        file = client.get(finished["result"]["file_url"], headers=heads[who])
        assert file.status_code == 200, file.text
        assert contract.check("get", "/reports/files/{job_id}", file)["kind"] == kind


def test_the_duty_answers(city) -> None:  # noqa: ANN001
    """POST /assignments: a duty set (201), the same again (200), a replacement (the others'
    changes), a co-holder, a grid duty; POST /assignments/proposals (a job)."""
    contract, client, admin = city["contract"], city["client"], city["heads"]["admin"]
    today = city_today()
    with city["db"].connect() as conn:
        pid, ext = conn.execute(
            text(
                "SELECT id, external_id FROM people WHERE 'alley_steward' = ANY(roles) "
                "ORDER BY id LIMIT 1"
            )
        ).one()
        free = conn.execute(
            text(
                "SELECT s.id FROM streets s WHERE s.kind = 'alley' AND NOT EXISTS (SELECT 1 "
                "FROM assignments a WHERE a.street_id = s.id AND a.person_id = :p) "
                "ORDER BY s.id LIMIT 1"
            ),
            {"p": pid},
        ).scalar_one()
        held = conn.execute(
            text(
                "SELECT street_id FROM assignments WHERE role = 'alley_steward' "
                "AND person_id <> :p ORDER BY id LIMIT 1"
            ),
            {"p": pid},
        ).scalar_one()
        grid = conn.execute(
            text("SELECT code FROM grids WHERE level = 1 AND retired_at IS NULL ORDER BY code")
        ).scalar()
        worker = conn.execute(
            text(
                "SELECT external_id FROM people WHERE 'grid_worker' = ANY(roles) "
                "ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()

    def day(n: int) -> str:
        return str(today + dt.timedelta(days=n))

    duty = {"person": ext, "target": free, "role": "alley_steward", "valid_from": day(2)}
    sent = [
        (duty, 201),
        (duty, 200),
        (duty | {"target": held, "valid_from": day(3), "valid_to": day(9), "replace": True}, 201),
        ({"person": pid, "target": held, "role": "alley_steward", "valid_from": day(20)}, 201),
        ({"person": worker, "target": grid, "role": "grid_worker", "valid_from": day(2)}, 201),
    ]
    answers = []
    for body, status in sent:
        answer = client.post("/assignments", json=body, headers=admin)
        assert answer.status_code == status, answer.text
        answers.append(contract.check("post", "/assignments", answer))
    assert answers[2]["changes"] and answers[3]["co_holders"], answers
    assert answers[4]["duty"]["target"]["kind"] == "grid"

    proposal = {"kind": "alleys", "area": city["sub"]}
    started = client.post("/assignments/proposals", json=proposal, headers=admin)
    assert started.status_code == 202, started.text
    job = contract.check("post", "/assignments/proposals", started)
    assert _done(client, job["job_url"], admin)["status"] == "done"


def test_the_exports_are_the_files_documented(city) -> None:  # noqa: ANN001
    """GET /exports/roster and /exports/people answer CSV or XLSX, as documented, never
    JSON (their schema had an application/json ``{}`` that no request could get)."""
    contract, client, admin = city["contract"], city["client"], city["heads"]["admin"]
    for path in ("/exports/roster", "/exports/people"):
        for fmt in ("csv", "xlsx"):
            answer = client.get(path, params={"format": fmt}, headers=admin)
            assert answer.status_code == 200, answer.text
            media = answer.headers["content-type"].split(";")[0]
            assert contract.schema("get", path, 200, media) is not None
