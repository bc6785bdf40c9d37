"""The grid map (/maps/grids) on the demo city, as outside tester T65 (a viewer preparing the
monthly meeting) read it: real PostGIS, the demo's 4 communities, 19 grids, 153 buildings.

- F3: each grid's label lies inside its grid (it was the bounding box's centre: 东北 004's sat
  inside 东北 003, 西南 004's inside 西南 001); each community name's spots lie inside it;
- F4: every household count on the page says it is an estimate (all 8,571 were, from floor
  area), the grid totals say how many, and a grid given census counts for some of its
  buildings says how much of it is still estimated;
- F13: the grids short of staff (no leader, or fewer full-time workers than 1 per 100
  households) are the ones GET /coverage counts short: the demo's 西南 003 (1019 户, 10 of 11),
  and a grid whose leader left; the panel counts them and names them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from geo.settings import city_today
from tests.conftest import demo_with_duties
from tests.test_maps_pages import token_for

SUBDISTRICT = "110108015"
SHORT = "110108015003003"  # 西南 003: 1019 户, 10 full-time workers, 11 needed


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city (grids, people, duties) and a viewer's client."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    demo_with_duties(engine)
    headers = {"Authorization": f"Bearer {token_for(engine, 'viewer', name='t65-viewer')}"}
    with TestClient(create_app(engine)) as client:
        yield {"client": client, "engine": engine, "headers": headers}


def _page(city: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = city["client"].get("/maps/grids", headers=city["headers"])
    assert r.status_code == 200, r.text
    m = re.search(r"var DATA = (\{.*?\});\n", r.text, re.S)
    assert m, "no DATA on the page"
    return r.text, json.loads(m.group(1))


def _panel(html: str) -> str:
    return re.search(r'<aside id="gw-panel".*?</aside>', html, re.S).group(0)


def _text(html: str, ident: str) -> str:
    m = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no #{ident}"
    return re.sub(r"<[^>]+>", "", m.group(2))


def test_every_label_lies_inside_its_own_grid(city) -> None:  # noqa: ANN001
    _html, data = _page(city)
    grids = data["grids"]["features"]
    assert len(grids) == 19
    points = [(f["properties"]["code"], *f["properties"]["label_at"]) for f in grids]
    with city["engine"].connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.code, g.code AS holder, "
                " ST_Contains(ST_Envelope(o.geom), ST_Centroid(ST_Envelope(o.geom))) "
                " AND ST_Contains(o.geom, ST_Centroid(ST_Envelope(o.geom))) AS box_centre_in "
                "FROM json_to_recordset(CAST(:pts AS json)) AS p(code text, lat float, lon float) "
                "JOIN grids o ON o.code = p.code AND o.retired_at IS NULL "
                "LEFT JOIN grids g ON g.level = 1 AND g.retired_at IS NULL "
                " AND ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))"
            ),
            {"pts": json.dumps([{"code": c, "lat": la, "lon": lo} for c, la, lo in points])},
        ).all()
    # the label's point is in its own grid and in no other (PostGIS, on the stored outlines)
    assert sorted((r.code, r.holder) for r in rows) == sorted((c, c) for c, _, _ in points)
    # the two T65 met: their bounding box's centre is in another grid, the label is not
    outside = {r.code for r in rows if not r.box_centre_in}
    assert {"110108015002004", "110108015003004"} <= outside
    # each community's name: every spot it may take is inside the community
    areas = data["communities"]["features"]
    assert len(areas) == 4
    with city["engine"].connect() as conn:
        for f in areas:
            spots = f["properties"]["label_at"]
            assert spots, f["properties"]
            inside = conn.execute(
                text(
                    "SELECT bool_and(ST_Contains(a.geom, ST_SetSRID(ST_MakePoint(s.lon, "
                    "s.lat), 4326))) FROM areas a, json_to_recordset(CAST(:s AS json)) "
                    "AS s(lat float, lon float) WHERE a.code = :c"
                ),
                {
                    "c": f["properties"]["code"],
                    "s": json.dumps([{"lat": la, "lon": lo} for la, lo in spots]),
                },
            ).scalar()
            assert inside, f["properties"]["name"]


def test_estimated_households_are_marked_wherever_shown(city) -> None:  # noqa: ANN001
    db = city["engine"]
    html, data = _page(city)
    panel = _panel(html)
    # all 153 of the demo's buildings are estimated: the total and every grid say so
    assert "户数合计 households：<b>8571</b> 户" in panel
    assert _text(panel, "gw-total-estimate") == "（估算 estimated）"
    note = _text(panel, "gw-estimate-note")
    assert note.startswith("户数全部为估算：未导入普查户数的楼栋按建筑面积估算"), note
    assert "Households: all estimated" in note
    assert {f["properties"]["estimate"] for f in data["grids"]["features"]} == {
        "（估算 estimated）"
    }
    assert {f["properties"]["estimate"] for f in data["communities"]["features"]} == {
        "（估算 estimated）"
    }
    assert data["estimated"] == "（估算 estimated）"  # the building hover's mark
    assert "户数分布 Households（估算 estimated）" in panel
    # census counts for part of one grid (the grid's largest buildings, more than half its
    # households): that grid says how many are still estimated, the total too
    code = "110108015001001"  # 西北 001, 480 户 in 16 buildings
    with db.connect() as conn:
        ids = conn.execute(
            text(
                "SELECT jsonb_array_elements_text(properties -> 'building_ids')::int FROM grids "
                "WHERE code = :c AND retired_at IS NULL"
            ),
            {"c": code},
        ).scalars()
        rows = conn.execute(
            text(
                "SELECT id, households FROM buildings WHERE id = ANY(:ids) "
                "ORDER BY households DESC, id"
            ),
            {"ids": list(ids)},
        ).all()
    given, given_hh = [], 0
    for r in rows:  # the largest first, until more than half are census counts
        if 2 * given_hh > 480:
            break
        given.append(r.id)
        given_hh += r.households
    left = sum(r.households for r in rows) - given_hh
    assert sum(r.households for r in rows) == 480 and 0 < left < 480
    try:
        with db.begin() as conn:
            conn.execute(
                text("UPDATE buildings SET household_source = 'given' WHERE id = ANY(:ids)"),
                {"ids": given},
            )
        html, data = _page(city)
        grid = next(
            f["properties"] for f in data["grids"]["features"] if f["properties"]["code"] == code
        )
        assert grid["households_estimated"] == left
        assert grid["estimate"] == f"（其中估算 {left} 户 of which {left} estimated）"
        panel = _panel(html)
        rest = 8571 - given_hh
        assert (
            _text(panel, "gw-total-estimate")
            == f"（多为估算：其中 {rest} 户为估算 mostly estimated: {rest} of them）"
        )
        note = _text(panel, "gw-estimate-note")
        assert note.startswith(f"8571 户中 {rest} 户为估算：未导入普查户数的楼栋"), note
        assert "18 / 19 个网格的户数多为估算" in note and "18 of 19 grids" in note
        # its community's level-2/3 grids: some of its counts are estimated
        west = next(
            f["properties"]
            for f in data["communities"]["features"]
            if f["properties"]["code"] == code[:12]
        )
        assert west["estimate"] == (
            "（本社区部分楼栋户数为估算 some of this community's counts are estimated）"
        )
    finally:
        with db.begin() as conn:
            conn.execute(
                text("UPDATE buildings SET household_source = 'estimated' WHERE id = ANY(:ids)"),
                {"ids": given},
            )


def test_short_staffed_grids_are_the_ones_coverage_counts_short(city) -> None:  # noqa: ANN001
    db, c, h = city["engine"], city["client"], city["headers"]

    def short_on_map() -> tuple[dict[str, dict[str, Any]], str]:
        html, data = _page(city)
        return {
            f["properties"]["code"]: f["properties"]
            for f in data["grids"]["features"]
            if f["properties"]["short"]
        }, _panel(html)

    def coverage_short() -> int:
        r = c.get(f"/coverage?area={SUBDISTRICT}", headers=h).json()
        return r["grids"] - r["grids_fully_staffed"]

    short, panel = short_on_map()
    assert set(short) == {SHORT} and coverage_short() == 1
    p = short[SHORT]
    assert (p["households"], p["full_time"], p["workers_needed"]) == (1019, 10, 11)
    assert p["short"] == {"leader": False, "workers": 1}
    assert p["staff"] == [
        "缺员 short-staffed: 专职网格员缺 1 名 1 full-time worker short",
        "专职网格员 full-time workers: 10 / 需 needed 11（每 100 户 1 名 1 per 100 households）",
    ]
    assert _text(panel, "gw-short") == "缺员网格 short-staffed grids: 1（西南 003）"
    assert _text(panel, "gw-n-short") == "1"
    assert "缺员 short-staffed（无网格长，或专职网格员少于每 100 户 1 名）" in panel
    # a leader who left yesterday: that grid is short of its leader, here and in /coverage
    other = "110108015004002"  # 东南 002
    with db.begin() as conn:
        duty = conn.execute(
            text(
                "UPDATE assignments SET valid_to = :d WHERE role = 'grid_leader' "
                "AND valid_to IS NULL AND grid_id = (SELECT id FROM grids WHERE code = :c "
                "AND retired_at IS NULL) RETURNING id"
            ),
            {"c": other, "d": city_today() - dt.timedelta(days=1)},
        ).scalar_one()
    try:
        short, panel = short_on_map()
        assert set(short) == {SHORT, other} and coverage_short() == 2
        assert short[other]["short"] == {"leader": True, "workers": 0}
        assert short[other]["staff"][0] == "缺员 short-staffed: 无网格长 no leader"
        assert _text(panel, "gw-short") == "缺员网格 short-staffed grids: 2（西南 003、东南 002）"
    finally:
        with db.begin() as conn:
            conn.execute(text("UPDATE assignments SET valid_to = NULL WHERE id = :i"), {"i": duty})
    # a fully staffed grid's hover gives its figures, nothing short
    _html, data = _page(city)
    full = next(
        f["properties"] for f in data["grids"]["features"] if f["properties"]["code"] == other
    )
    assert full["short"] is None
    assert full["staff"] == [
        "专职网格员 full-time workers: 5 / 需 needed 5（每 100 户 1 名 1 per 100 households）"
    ]
