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
