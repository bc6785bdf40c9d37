"""What the plans commands say in their own words (outside re-tester T39): a bound given on
the command line is named as its option, not as the API's JSON field (L8), and a revert's
flagged grid says in Chinese why no edit helps it (L7). Real PostGIS, the demo OSM cut."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.plans import commit_plan, create_plan
from geo.settings import get_settings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _plans(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()


def test_each_interface_names_the_bounds_its_own_way(
    demo,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """L8: ``gridward partition --community … --min-households 600 --max-households 500``
    and ``gridward plans revert … --min-households 600`` were told of min_households and
    max_households, the JSON fields; the shell user typed --min-households. The one rule,
    each interface naming its own: options on the command line, fields in the API."""
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500, created_by="t"), actor="t")
    commit_plan(demo, create_plan(demo, COMMUNITY, 200, 400, seed=3, created_by="t"), actor="t")
    before = _plans(demo)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        bounds = ["--min-households", "600", "--max-households", "500"]
        for args in (
            ["partition", "--community", COMMUNITY, *bounds],
            ["plans", "revert", COMMUNITY, "--version", "1", *bounds],
        ):
            res = run_inproc(*args)
            assert res.returncode == 2, (args, res)
            assert res.stderr.strip() == (
                "error: 户数下限大于上限：--min-households（600）大于 --max-households（500） "
                "--min-households (600) is greater than --max-households (500)"
            ), (args, res.stderr)
        zero = ["--min-households", "0", "--max-households", "0"]
        res = run_inproc("partition", "--community", COMMUNITY, *zero)
        assert res.returncode == 2, res
        said = "error: 户数上限 --max-households 须在 1–1,000,000 之间，"
        assert res.stderr.startswith(said), res
        assert "max_households" not in res.stderr, res.stderr
    finally:
        get_settings.cache_clear()
    with TestClient(create_app(demo)) as client:  # the API names its fields, as before
        body = {"community": COMMUNITY, "version": 1, "min_households": 600, "max_households": 500}
        r = client.post("/plans/revert", json=body, headers=auth_headers("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == (
        "户数下限大于上限：min_households（600）大于 max_households（500） "
        "min_households (600) is greater than max_households (500)"
    ), r.text
    assert _plans(demo) == before  # nothing made


def test_a_reverted_grid_says_why_it_is_flagged_in_chinese(
    demo,  # noqa: F811
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """L7: a grid one building of which holds more households than the maximum read
    ``629 户（户数超出）  629 households  over_max:single_building``: that no edit can help it
    was said by the flag's name only. Now the Chinese says it too; the revert's lines stay
    Chinese first (the buildings added and gone since, the grids left empty)."""
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500, created_by="t"), actor="t")
    commit_plan(demo, create_plan(demo, COMMUNITY, 200, 400, seed=3, created_by="t"), actor="t")
    with demo.begin() as conn:
        first = dict(
            conn.execute(
                text(
                    "SELECT g.code, g.properties->'building_ids' FROM grids g JOIN areas a ON "
                    "a.id = g.community_id WHERE a.code = :c AND g.version = 1 AND g.level = 1"
                ),
                {"c": COMMUNITY},
            ).all()
        )
        codes = sorted(first)
        # the last grid's buildings gone since (the grid left empty), one more gone, and one
        # building as if added after version 1
        conn.execute(text("DELETE FROM buildings WHERE id = ANY(:i)"), {"i": first[codes[-1]]})
        conn.execute(text("DELETE FROM buildings WHERE id = :i"), {"i": first[codes[0]][-1]})
        conn.execute(
            text(
                "UPDATE grids SET properties = jsonb_set(properties, '{building_ids}', "
                "(SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements("
                "properties->'building_ids') x WHERE x::int <> :b)) WHERE code = :c "
                "AND version = 1"
            ),
            {"b": first[codes[1]][0], "c": codes[1]},
        )
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "revert", COMMUNITY, "--version", "1")
    finally:
        get_settings.cache_clear()
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()[1:]
    assert lines, res.stdout
    added = f"  新增楼栋 {first[codes[1]][0]} → {codes[1]}（位于该网格内） building "
    assert any(x.startswith(added) for x in lines), lines
    assert any(x.startswith("  已不存在的楼栋 ") for x in lines), lines
    dropped = f"  网格 {codes[-1]} 已无楼栋，未列入草案 grid(s) with no building left, "
    assert any(x.startswith(dropped) for x in lines), lines
    single = [x for x in lines if x.endswith("over_max:single_building")]
    assert single, res.stdout  # the demo's 629-household building, over 500
    for line in single:
        assert "户（户数超出：单栋楼超上限，无法拆分）  " in line, line
