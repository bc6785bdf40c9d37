"""``GET /exports/people`` and ``/exports/roster`` without ``area`` (outside tester T50 #10):
a planner of one area gets theirs; of several, a 422 naming them; an area outside theirs
stays a 403 in the words it had. It read 不在您的管辖区域内：（未给出）, as if outside."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture()
def city(db):  # noqa: ANN001, ANN201
    from geo.demo import load_city, make_grids, make_people

    load_city(db)
    make_grids(db)
    make_people(db, 0)
    return db


@pytest.mark.parametrize("what", ["people", "roster"])
def test_a_planner_without_area_gets_their_own(city, auth_headers, what):  # noqa: ANN001
    one = auth_headers("planner", ("110108015001",))
    two = auth_headers("planner", ("110108015001", "110108015002"))
    with TestClient(create_app(city)) as client:
        url = f"/exports/{what}?format=csv"
        mine = client.get(url, headers=one)
        assert mine.status_code == 200, mine.text
        assert f"{what}_110108015001.csv" in mine.headers["content-disposition"]
        asked = client.get(f"{url}&area=110108015001", headers=one)
        assert asked.status_code == 200 and asked.content == mine.content

        r = client.get(url, headers=two)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == (
            "请指定区域参数 area，须为您的区域之一（110108015001、110108015002） "
            "area is required: one of your areas 110108015001, 110108015002"
        )
        r = client.get(f"{url}&area=110108015003", headers=one)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == (
            "不在您的管辖区域内：110108015003（参数 area）。 outside your areas: area=110108015003"
        )
        # an admin without area: the whole city, as before
        r = client.get(url, headers=auth_headers("admin"))
        assert r.status_code == 200, r.text
        assert f'filename="{what}.csv"' in r.headers["content-disposition"]
