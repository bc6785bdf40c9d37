"""/maps/grids judges each community's grids by the bounds of its current plan, as the editor
does (outside tester T46 #12: every plan committed with 200–400, and the legend said
`不足 under (< 300) 17` from a hard-coded 300–500). Real PostGIS, the demo fixtures."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from geo.plans import commit_plan, create_plan
from tests.conftest import FIXTURES

A, B = "110108015001", "110108015002"


@pytest.fixture()
def demo(db):
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    return db


def _data(page: str) -> dict:
    m = re.search(r"var DATA = (\{.*?\});\n", page, re.S)
    assert m, page[-2000:]
    return json.loads(m.group(1))


def _count(page: str, band: str) -> int:
    m = re.search(rf'id="gw-n-{band}">(\d+)<', page)
    assert m, page
    return int(m.group(1))


def test_grids_are_judged_by_their_plans_bounds(demo, auth_headers):
    commit_plan(demo, create_plan(demo, A, 200, 400))
    viewer = auth_headers("viewer")
    with TestClient(create_app(demo)) as client:
        page = client.get("/maps/grids", params={"community": A}, headers=viewer).text
        grids = [f["properties"] for f in _data(page)["grids"]["features"]]
        assert grids and all((p["min"], p["max"]) == (200, 400) for p in grids)
        # the legend says the plan's bounds, and counts by them
        assert "不足（&lt; 200）under" in page and "达标（200–400）within" in page, page
        assert "（&lt; 300）" not in page
        under = sum(p["households"] < 200 for p in grids)
        assert _count(page, "under") == under
        assert _count(page, "within") == sum(200 <= p["households"] <= 400 for p in grids)
        assert "户数范围 200–400：所示社区现行方案的户数范围" in page
        # a second community by another plan: each by its own, said per community
        commit_plan(demo, create_plan(demo, B, 300, 500))
        page = client.get("/maps/grids", headers=viewer).text
        props = [f["properties"] for f in _data(page)["grids"]["features"]]
        by = {p["community"]: (p["min"], p["max"]) for p in props}
        assert by == {A: (200, 400), B: (300, 500)}
        assert "不足（低于本社区下限）under its community" in page
        assert "各社区网格按其现行方案的户数范围判断：" in page and "200–400" in page
        bad = sum(not (p["min"] <= p["households"] <= p["max"]) for p in props)
        assert _count(page, "under") + _count(page, "over") == bad
        # ?min=&max= judge every grid by the range given, as before
        page = client.get("/maps/grids?min=300&max=500", headers=viewer).text
        assert all(
            (f["properties"]["min"], f["properties"]["max"]) == (300, 500)
            for f in _data(page)["grids"]["features"]
        )
        assert "不足（&lt; 300）under" in page
        script = client.get("/maps/static/grid_map.js", headers=viewer).text
        assert "户数范围 bounds" in script and "lo(f.properties)" in script
