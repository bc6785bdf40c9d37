"""Unknown query parameters on the API's reading routes (outside tester T67 #13): a sync job's
misspelt filter (``GET /people?area=…``: that route takes no area) got every row, as if it
had filtered. Now a 422 naming the parameter and those the route takes, with a code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture()
def client(db, auth_headers) -> Iterator[TestClient]:
    with TestClient(create_app(db), headers=auth_headers("admin")) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("/grids", {"foo": "bar"}, "foo"),
        ("/grids", {"level": "1", "since": "2026-11-26"}, "since"),
        ("/people", {"area": "110108015002"}, "area"),
        ("/tracks", {"sort": "uploaded_at"}, "sort"),
        ("/buildings", {"community_code": "110108015002"}, "community_code"),
    ],
)
def test_an_unknown_parameter_is_refused(client, path, params, unknown) -> None:  # noqa: ANN001
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "unknown_parameter"
    assert body["error"].startswith(f"未知参数 '{unknown}'")
    assert f"unknown parameter '{unknown}': GET {path} takes" in body["error"]


def test_known_parameters_still_answer(client) -> None:  # noqa: ANN001
    """The parameters a route declares (its own and its rule's) pass, so do none at all."""
    assert client.get("/grids", params={"level": 1, "limit": 5, "offset": 0}).status_code == 200
    assert client.get("/tracks", params={"limit": 5, "status": "matched"}).status_code == 200
    assert client.get("/people", params={"limit": 5}).status_code == 200
    assert client.get("/health").status_code == 200
    # the error names what the route takes, so the client can mend its call
    words = client.get("/grids", params={"levl": 1}).json()["error"]
    assert "level" in words and "community" in words and "bbox" in words


def test_pages_and_writes_are_left_to_their_own_checks(client) -> None:  # noqa: ANN001
    """A page opened with a marker of a link (not an API read) is not refused here."""
    r = client.get("/maps", params={"from": "menu"}, headers={"accept": "text/html"})
    assert r.status_code == 200
