"""Conditional reads for a sync job (outside tester T67 #4): the API's JSON answers carry an
ETag, and ``If-None-Match`` with it is a 304 without a body, until the data changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app


@pytest.fixture()
def client(db, auth_headers) -> Iterator[TestClient]:
    with TestClient(create_app(db), headers=auth_headers("admin")) as c:
        yield c


def _area(db) -> None:  # noqa: ANN001
    """One district, stored as an import would (what /areas lists)."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, name, level, geom) VALUES ('110108', '海淀区', "
                "'district', ST_Multi(ST_MakeEnvelope(116.30, 39.98, 116.33, 40.01, 4326)))"
            )
        )


def test_an_unchanged_layer_is_a_304_and_a_changed_one_a_200(client, db) -> None:  # noqa: ANN001
    _area(db)
    first = client.get("/areas")
    assert first.status_code == 200 and first.json()["features"]
    tag = first.headers["etag"]
    assert tag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"
    # the same answer again: the same tag; asked with it, 304 and no body
    assert client.get("/areas").headers["etag"] == tag
    again = client.get("/areas", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    # a list of tags, and the strong form of the weak one, match too (weak comparison)
    assert client.get("/areas", headers={"If-None-Match": f'"x", {tag}'}).status_code == 304
    assert client.get("/areas", headers={"If-None-Match": tag[2:]}).status_code == 304
    # the data changes: a new tag, the whole answer
    with db.begin() as conn:
        conn.execute(text("UPDATE areas SET name = '海淀区（新）' WHERE code = '110108'"))
    changed = client.get("/areas", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["features"][0]["properties"]["name"] == "海淀区（新）"


def test_errors_writes_and_other_types_carry_no_tag(client) -> None:  # noqa: ANN001
    """Only a successful JSON read is tagged: an error, a write's answer and a page are not
    answers to keep."""
    missing = client.get("/plans/999999")
    assert missing.status_code == 404 and "etag" not in missing.headers
    assert "etag" not in client.get("/maps", headers={"accept": "text/html"}).headers
    wrote = client.post("/auth/api-tokens", json={"name": "etag-test", "days": 1})
    assert wrote.status_code == 201 and "etag" not in wrote.headers


def test_a_gzipped_answer_keeps_its_tag(client, db) -> None:  # noqa: ANN001
    """Compressed or not, one entity: the weak tag is the same, and matches either way."""
    _area(db)
    plain = client.get("/areas", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/areas", headers={"Accept-Encoding": "gzip"})
    assert plain.headers["etag"] == zipped.headers["etag"]
    hit = client.get(
        "/areas", headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]}
    )
    assert hit.status_code == 304
