"""The steward map (/maps/stewards) on the demo city, as outside tester T65 read it: real
PostGIS, the demo's 205 alley segments (26 outside every community) and 35 stewards.

- F8: the coverage headline is that of the alleys that need a steward, the coverage rates'
  (by alley as GET /coverage, by segment, by length); it said 87.3 % / 75.6 % counting the
  26 segments outside every community, beside a line and a /coverage saying 100 %; those
  segments are a line of their own; no API words for a viewer;
- F9: stewards whose alleys lie within 100 m of each other have different colours (15 colours
  were each two stewards'), and the legend says far-apart ones may share one.
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


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city (grids, people, duties) and a viewer's client."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    demo_with_duties(engine)
    headers = {"Authorization": f"Bearer {token_for(engine, 'viewer', name='t65-viewer-s')}"}
    with TestClient(create_app(engine)) as client:
        yield {"client": client, "engine": engine, "headers": headers}


def _page(city: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = city["client"].get("/maps/stewards", headers=city["headers"])
    assert r.status_code == 200, r.text
    m = re.search(r"var DATA = (\{.*?\});\n", r.text, re.S)
    assert m, "no DATA on the page"
    return r.text, json.loads(m.group(1))


def _cell(html: str, ident: str) -> str:
    m = re.search(rf'id="{ident}">(.*?)</td>', html, re.S)
    assert m, f"no #{ident}"
    return m.group(1)


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}%"


# segments in a community (the street_areas rule /coverage counts by), with a steward or not
_SEGMENTS = """
WITH h AS ({areas}),
st AS (SELECT DISTINCT street_id FROM assignments WHERE role = 'alley_steward'
       AND valid_from <= :d AND (valid_to IS NULL OR valid_to >= :d))
SELECT count(*) AS n, count(st.street_id) AS staffed, sum(s.length_m) AS m,
       sum(s.length_m) FILTER (WHERE st.street_id IS NOT NULL) AS staffed_m
FROM street_segments s JOIN h ON h.alley_id = s.street_id AND h.community_code IS NOT NULL
LEFT JOIN st ON st.street_id = s.street_id
WHERE s.kind = 'alley' AND s.retired_at IS NULL
"""


def _headline_is_coverages(city: dict[str, Any]) -> str:
    """The page's headline against GET /coverage and a recount in PostGIS; the page."""
    from geo.street_areas import street_areas_sql

    html, _data = _page(city)
    cov = city["client"].get(f"/coverage?area={SUBDISTRICT}", headers=city["headers"]).json()
    with city["engine"].connect() as conn:
        seg = conn.execute(
            text(_SEGMENTS.format(areas=street_areas_sql())), {"d": city_today()}
        ).one()
    alleys, covered = cov["alleys"], cov["alleys_covered"]
    assert _cell(html, "gw-by-alley") == f"{covered} / {alleys} 条 ({_pct(covered, alleys)})"
    assert _cell(html, "gw-inside") == f"{seg.staffed} / {seg.n} 段 ({_pct(seg.staffed, seg.n)})"
    # by length: the page adds up the lengths it draws, each to 0.1 m
    m = re.fullmatch(r"(\d+) / (\d+) 米 \((\d+\.\d)%\)", _cell(html, "gw-by-length"))
    assert m, _cell(html, "gw-by-length")
    staffed_m, total_m = float(seg.staffed_m or 0), float(seg.m)
    slack = 0.05 * seg.n + 0.5
    assert abs(int(m.group(1)) - staffed_m) <= slack and abs(int(m.group(2)) - total_m) <= slack
    assert abs(float(m.group(3)) - 100 * staffed_m / total_m) <= 0.1
    return html


def test_the_headline_is_that_of_the_alleys_needing_a_steward(city) -> None:  # noqa: ANN001
    html = _headline_is_coverages(city)
    # the demo: every alley in a community has a steward; 26 segments lie outside them all
    assert _cell(html, "gw-by-alley") == "86 / 86 条 (100.0%)"
    assert _cell(html, "gw-inside") == "179 / 179 段 (100.0%)"
    assert _cell(html, "gw-outside") == "26 段"
    assert "87.3%" not in html and "75.6%" not in html  # the figures with those 26 in
    assert "GET /coverage" not in html and "/coverage" not in html  # no API words
    assert "社区外的 26 段小巷不属任何社区，无需管家，不计入" in html
    # a steward's alley left without her: the headline follows /coverage below 100 %
    db = city["engine"]
    with db.begin() as conn:
        duty = conn.execute(
            text(
                "UPDATE assignments SET valid_to = :d WHERE id = (SELECT min(id) FROM "
                "assignments WHERE role = 'alley_steward' AND valid_to IS NULL) RETURNING id"
            ),
            {"d": city_today() - dt.timedelta(days=1)},
        ).scalar_one()
    try:
        html = _headline_is_coverages(city)
        assert _cell(html, "gw-by-alley") == "85 / 86 条 (98.8%)"
    finally:
        with db.begin() as conn:
            conn.execute(text("UPDATE assignments SET valid_to = NULL WHERE id = :i"), {"i": duty})


def test_stewards_within_100_m_have_different_colours(city) -> None:  # noqa: ANN001
    html, data = _page(city)
    colour = {int(s["id"]): s["color"] for s in data["stewards"]}
    assert len(colour) == 35
    with city["engine"].connect() as conn:
        pairs = conn.execute(
            text(
                "WITH s AS (SELECT g.id, g.geom, a.person_id AS p FROM street_segments g "
                " JOIN assignments a ON a.street_id = g.street_id AND a.role = 'alley_steward' "
                " AND a.valid_to IS NULL WHERE g.kind = 'alley' AND g.retired_at IS NULL) "
                "SELECT DISTINCT x.p, y.p FROM s x JOIN s y ON x.p < y.p "
                "AND ST_DWithin(x.geom::geography, y.geom::geography, 100)"
            )
        ).all()
    assert len(pairs) > 100
    clashes = [(a, b) for a, b in pairs if colour[a] == colour[b]]
    assert clashes == [], clashes
    # 35 stewards, 20 colours: some far-apart stewards share one, and the legend says so
    assert len(set(colour.values())) < len(colour)
    assert "其他颜色：各管家一色，相距 100 米内的管家颜色不同，相距远的可能同色" in html
    assert "far-apart stewards may share one" in html
    assert "各管家 one per steward" not in html
