"""Whom ``gridward assign alleys|streets --area`` pools (outside tester T50 #4): the people of
the area (home community under it by parent link; a community's run: its subdistrict's, the
neighbours as before), not another subdistrict's stewards living within 2 km; and the people
left out are named 李静（DEMO0002）, not by the streets with the same ids. The demo city with
a second subdistrict drawn beside it, real PostGIS."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo.staffing import propose
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)

SUBDISTRICT = "110108015"  # the demo's
OTHER = "110108017001"  # a community of a second subdistrict, just east of the demo


@pytest.fixture()
def city(db):  # noqa: ANN001, ANN201
    """The demo city (areas, network, grids, people), a second subdistrict 110108017 with
    one community east of it, and three people: 赵外区 (X1), a steward of that community
    living 100 m from the demo's edge; 钱无区 (X2), a steward in no community beside him;
    and a demo steward whose home was moved 1 km west of every line (a wrong home)."""
    from geo.demo import load_city, make_grids, make_people

    load_city(db)
    make_grids(db)
    make_people(db, 0)
    with db.begin() as conn:
        district = conn.execute(text("SELECT id FROM areas WHERE code = '110108'")).scalar()
        box = "ST_Multi(ST_MakeEnvelope(116.326, 39.991, 116.334, 40.001, 4326))"
        sub = conn.execute(
            text(
                "INSERT INTO areas (code, level, name, parent_id, geom) VALUES "
                f"('110108017', 'subdistrict', '学院路街道', :d, {box}) RETURNING id"
            ),
            {"d": district},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO areas (code, level, name, parent_id, geom) VALUES "
                f"(:c, 'community', '林大社区', :s, {box})"
            ),
            {"c": OTHER, "s": sub},
        )
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles, home, area_id) VALUES "
                "('X1', '赵外区', ARRAY['alley_steward','street_chief'], "
                "ST_SetSRID(ST_MakePoint(116.3262, 39.996), 4326), "
                "(SELECT id FROM areas WHERE code = :c)), "
                "('X2', '钱无区', ARRAY['alley_steward','street_chief'], "
                "ST_SetSRID(ST_MakePoint(116.3263, 39.997), 4326), NULL)"
            ),
            {"c": OTHER},
        )
        moved = conn.execute(
            text(
                "UPDATE people SET home = ST_SetSRID(ST_MakePoint(116.297, 39.996), 4326) "
                "WHERE id = (SELECT min(id) FROM people WHERE 'alley_steward' = ANY(roles) "
                "AND area_id IS NOT NULL) RETURNING id, name, external_id"
            )
        ).one()
    return db, moved


def _ids(db, *codes: str) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT external_id, id FROM people WHERE external_id = ANY(:x)"),
            {"x": list(codes)},
        ).all()
    return dict(rows)


@pytest.mark.parametrize("kind", ["alleys", "streets"])
def test_another_subdistricts_people_are_not_pooled(city, kind):  # noqa: ANN001
    db, _moved = city
    ids = _ids(db, "X1", "X2")
    for area in (SUBDISTRICT, f"{SUBDISTRICT}004"):  # the subdistrict, and a community of it
        proposal = propose(db, kind, area)
        proposed = {p["person_id"] for p in proposal["pairs"]}
        left_out = set(proposal["summary"].get("outside_area") or [])
        assert not (set(ids.values()) & (proposed | left_out)), (area, ids)
    with db.connect() as conn:  # the pool is the subdistrict's people with the role
        role = "alley_steward" if kind == "alleys" else "street_chief"
        pool = conn.execute(
            text(
                "SELECT count(*) FROM people p JOIN areas c ON c.id = p.area_id "
                "JOIN areas s ON s.id = c.parent_id WHERE s.code = :s AND p.active "
                "AND p.home IS NOT NULL AND :r = ANY(p.roles)"
            ),
            {"s": SUBDISTRICT, "r": role},
        ).scalar_one()
    assert propose(db, kind, SUBDISTRICT)["summary"]["people"] == pool


def test_people_left_out_are_named_by_name_and_registry_id(city, pg_url, run_inproc, monkeypatch):  # noqa: ANN001, F811
    from geo.settings import get_settings

    db, moved = city
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("assign", "alleys", "--area", SUBDISTRICT, "--dry-run")
    finally:
        get_settings.cache_clear()
    assert res.returncode == 0, res.stderr
    [line] = [x for x in res.stdout.splitlines() if "people left out" in x] or [res.stdout]
    assert line.startswith("住址离任何可步行的线都超过 500 米、未分配的人员 1 人"), line
    assert line.endswith(f"(1): {moved.name}（{moved.external_id}）"), line
    assert not re.search(r"\(1\): \d", line), line
    assert "赵外区" not in res.stdout and "钱无区" not in res.stdout
