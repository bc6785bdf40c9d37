"""Every JSON request body refuses a field it does not know (api.bodies.StrictBody): a
misspelt optional field is a 422 naming it, not dropped while the request runs on defaults.
Real app, real PostGIS."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app


def _json_bodies(spec: dict) -> dict[str, dict]:
    """Each operation's JSON body schema (resolved), by method and path, from the OpenAPI
    document the API publishes (a body that forbids extras says additionalProperties false)."""
    schemas = spec["components"]["schemas"]
    out = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            schema = body["schema"]
            for ref in [schema, *schema.get("anyOf", [])]:  # Optional[Model] bodies
                if "$ref" in ref:
                    out[f"{method.upper()} {path}"] = schemas[ref["$ref"].rsplit("/", 1)[1]]
    return out


def test_every_json_body_forbids_unknown_fields(db):
    """The rule holds for every body the API takes, including ones added later (a staffing
    proposal, a duty, a rematch and a track's person took any extra field silently)."""
    with TestClient(create_app(db)) as client:
        bodies = _json_bodies(client.get("/openapi.json").json())
    assert {"POST /assignments", "POST /tracks/rematch", "PATCH /tracks/{track_id}"} <= set(
        bodies
    ), sorted(bodies)
    loose = sorted(k for k, b in bodies.items() if b.get("additionalProperties") is not False)
    assert loose == [], loose


def test_a_misspelt_field_is_a_422_naming_it(db, auth_headers):
    """A duty with ``valid_form`` for ``valid_from`` and a rematch with ``untill``: refused,
    the field named Chinese first; nothing runs on defaults."""
    with TestClient(create_app(db), headers=auth_headers("admin")) as client:
        r = client.post("/tracks/rematch", json={"since": "2026-11-01", "untill": "2026-11-02"})
        assert r.status_code == 422, r.text
        assert "未知字段 untill" in r.json()["error"], r.text
        r = client.post(
            "/assignments",
            json={"person": "X1", "target": 1, "role": "alley_steward", "valid_form": "2026-11-01"},
        )
        assert r.status_code == 422, r.text
        assert "未知字段 valid_form" in r.json()["error"], r.text


def test_a_422_names_the_field_in_its_chinese(db, auth_headers):
    """The Chinese of a 422 names the body's field (字段) or the query's parameter (参数) it
    is about: the name stood only between the Chinese and the English (T37); a union-typed
    field (a duty's target: a registry id or a database id) is named once, without
    pydantic's "target.constrained-str" / "target.constrained-int"."""
    with TestClient(create_app(db), headers=auth_headers("admin")) as client:
        r = client.get("/tracks", params={"limit": 0})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == (
            "参数 limit 数值过小，须不小于 1，收到 '0' "
            "limit: Input should be greater than or equal to 1"
        ), r.text
        duty = {"person": None, "target": 0, "role": "alley_steward", "valid_from": "2026-11-01"}
        r = client.post("/assignments", json=duty)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == (
            "字段 person 须为文字或整数 person: Input should be a valid string or a valid "
            "integer; 字段 target 数值过小，须不小于 1，收到 0 target: Input should be greater "
            "than or equal to 1"
        ), r.text
        r = client.get("/reports/hourly", params={"format": "pdf"})
        assert r.status_code == 422, r.text
        # the choices with one separator, Chinese first
        assert r.json()["error"].startswith(
            "参数 kind 取值无效，可选值：'daily'、'weekly'、'monthly'，收到 'hourly' kind: "
        ), r.text
