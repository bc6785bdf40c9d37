"""Re-importing gridward's own unchanged exports changes nothing (outside tester T49 #2, #9)."""

from __future__ import annotations

import os
import subprocess
import sys

import geopandas as gpd
from sqlalchemy import text

from geo.export import export_layer
from geo.households_import import import_households
from geo.importer import import_osm
from tests.conftest import FIXTURES


def _buildings(db) -> list[tuple]:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT id, households, household_source, updated_at FROM buildings ORDER BY id")
        ).all()


def test_the_unchanged_buildings_export_updates_nothing(db, tmp_path):
    """T49 #2: `export buildings` fed to `import households` turned every estimate into a
    census-given count (更新楼栋 153), although the file's household_source said estimated."""
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.begin() as conn:  # two census counts stored already: given, kept as they are
        conn.execute(
            text(
                "UPDATE buildings SET household_source = 'given', households = 40 "
                "WHERE id IN (SELECT id FROM buildings ORDER BY id LIMIT 2)"
            )
        )
    before = _buildings(db)
    n = len(before)
    estimated = sum(1 for b in before if b.household_source == "estimated")
    assert estimated == n - 2
    for name, unit in (("b.gpkg", "个要素"), ("b.geojson", "个要素"), ("b.shp", "个要素")):
        path = tmp_path / name
        export_layer(db, "buildings", path)
        counts = import_households(db, path)
        col = "hh_source" if name.endswith(".shp") else "household_source"
        assert counts["warnings"] == [
            f"{estimated} {unit}的户数是估算值（{col}=estimated），未作为普查户数导入；"
            f"若确是普查户数，请把 {col} 列改为 given 或删去该列 "
            f"{estimated} features give estimated households ({col}=estimated): not "
            f"imported as census counts; if they are census counts, set {col} to given or "
            "delete the column"
        ]
        assert {k: v for k, v in counts.items() if k != "warnings"} == {
            "rows": n,
            "buildings_updated": 0,
            "grids_updated": 0,
            "buildings_confirmed": 0,
            "buildings_unchanged": 2,
            "rows_estimated": estimated,
        }
        assert _buildings(db) == before  # not even updated_at


def test_a_census_equal_to_an_estimate_confirms_it(db, tmp_path):
    """A census row (no household_source column, or given) with the estimate's number is a
    real confirmation: the building turns given, counted as confirmed, not updated."""
    import_osm(db, FIXTURES / "haidian_demo.osm")
    b = _buildings(db)
    path = tmp_path / "census.csv"
    path.write_text(
        f"building_id,户数\n{b[0].id},{b[0].households}\n{b[1].id},{b[1].households + 5}\n",
        encoding="utf-8",
    )
    counts = import_households(db, path)
    assert (counts["buildings_updated"], counts["buildings_confirmed"]) == (1, 1)
    assert counts["warnings"] == []
    after = {r.id: r for r in _buildings(db)}
    assert (after[b[0].id].households, after[b[0].id].household_source) == (
        b[0].households,
        "given",
    )
    assert (after[b[1].id].households, after[b[1].id].household_source) == (
        b[1].households + 5,
        "given",
    )
    # the export edited: one row's count changed and marked given, another marked given only
    export = tmp_path / "b.gpkg"
    export_layer(db, "buildings", export)
    gdf = gpd.read_file(export)
    i2, i3 = (gdf.index[gdf["id"] == b[k].id][0] for k in (2, 3))
    gdf.loc[i2, "household_source"] = "given"
    gdf.loc[i3, ["households", "household_source"]] = [b[3].households + 1, "given"]
    gdf.to_file(export, driver="GPKG", layer="buildings")
    counts = import_households(db, export)
    assert {k: counts[k] for k in counts if k.startswith("buildings")} == {
        "buildings_updated": 1,
        "buildings_confirmed": 1,
        "buildings_unchanged": 2,
    }
    assert counts["rows_estimated"] == len(b) - 4


def test_the_cli_says_confirmed_and_unchanged(db, pg_url, tmp_path):
    import_osm(db, FIXTURES / "haidian_demo.osm")
    b = _buildings(db)
    path = tmp_path / "census.csv"
    path.write_text(f"building_id,户数\n{b[0].id},{b[0].households}\n", encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": pg_url}
    cmd = [sys.executable, "-m", "api.cli", "import", "households", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(
        "已导入户数：读入 1 行，更新楼栋 0，确认楼栋 1（户数与估算值相同，改为普查给定），"
        "网格户数已更新 0 rows=1, buildings_updated=0, grids_updated=0, "
        "buildings_confirmed=1, buildings_unchanged=0, rows_estimated=0"
    )
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("已导入户数：读入 1 行，更新楼栋 0，户数未变 1，网格户数已更新 0")


def _areas(db) -> dict[str, tuple]:
    """Every stored area's row, its outline as EWKB bytes."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, a.level, a.name, a.name_en, p.code AS parent, a.area_m2, "
                "a.outline_from_children, ST_AsEWKB(a.geom) AS wkb, a.updated_at "
                "FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.code"
            )
        ).all()
    return {r.code: tuple(r) for r in rows}


def _follow(db) -> dict[str, tuple[bool, bool]]:
    """Each parent area: (made from its children, its outline the union of theirs)."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.code, p.outline_from_children, "
                "ST_Equals(p.geom, ST_Union(c.geom)) FROM areas p "
                "JOIN areas c ON c.parent_id = p.id GROUP BY p.id ORDER BY p.code"
            )
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_the_unchanged_areas_export_writes_nothing(db, tmp_path):
    """T49 #9: the unchanged areas export wrote 2 (GPKG: the district and subdistrict made
    from their communities stopped following them) or 6 (GeoJSON: every outline rewritten
    at its 1e-7° rounding). Now 0, every row as it was, and the parents still follow."""
    from geo.areas_import import import_areas

    import_areas(db, FIXTURES / "communities.geojson", level="community")
    before = _areas(db)
    assert before["110108015"][6] and before["110108"][6]  # made from their children
    for name in ("areas.gpkg", "areas.geojson"):
        path = tmp_path / name
        export_layer(db, "areas", path)
        counts = import_areas(db, path)
        assert counts["areas_written"] == 0, name
        assert _areas(db) == before, name
    # the parents still follow their communities: one community redrawn and imported alone
    one = gpd.read_file(path)
    one = one[one["code"] == "110108015001"]
    one["geometry"] = one.geometry.translate(0.003, 0.002)
    one.to_file(tmp_path / "one.geojson", driver="GeoJSON")
    assert import_areas(db, tmp_path / "one.geojson")["areas_written"] == 1
    assert _follow(db) == {"110108": (True, True), "110108015": (True, True)}


def test_an_areas_export_with_a_community_redrawn_keeps_the_parents_derived(db, tmp_path):
    """A changed community in the file is written; the parents, whose outlines in the file
    are the union of their children as the file gives them, stay derived and follow it."""
    from geo.areas_import import import_areas

    import_areas(db, FIXTURES / "communities.geojson", level="community")
    before = _areas(db)
    path = tmp_path / "areas.gpkg"
    export_layer(db, "areas", path)
    gdf = gpd.read_file(path)
    i = gdf.index[gdf["code"] == "110108015001"][0]
    gdf.loc[i, "geometry"] = gdf.loc[i, "geometry"].buffer(0.0005)
    gdf.loc[i, "name"] = "清华园西北社区（新）"
    gdf.to_file(path, driver="GPKG", layer="areas")
    counts = import_areas(db, path)
    assert counts["areas_written"] == 1
    after = _areas(db)
    assert [c for c in after if after[c] != before[c]] == ["110108", "110108015", "110108015001"]
    assert after["110108015"][6] and after["110108"][6]
    assert _follow(db) == {"110108": (True, True), "110108015": (True, True)}


def test_edited_counts_marked_estimated_are_named(db, tmp_path):
    """T51 #4: 7 households added to 3 buildings of the export, household_source left as
    exported (estimated): the edits were dropped without being named. Still not imported
    (the file calls them estimates), but each is named with old→new."""
    import_osm(db, FIXTURES / "haidian_demo.osm")
    before = _buildings(db)
    export = tmp_path / "b.gpkg"
    export_layer(db, "buildings", export)
    gdf = gpd.read_file(export)
    edited = [r for r in before if r.household_source == "estimated"][:6]
    for r in edited:
        gdf.loc[gdf["id"] == r.id, "households"] = r.households + 7
    gdf.to_file(export, driver="GPKG", layer="buildings")
    with db.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM buildings")).all())

    def shown(r, zh: bool) -> str:
        name = names[r.id]
        b = (
            (f"楼栋 {r.id}（{name}）" if zh else f"building {r.id} ({name})")
            if name
            else (f"楼栋 {r.id}" if zh else f"building {r.id}")
        )
        return f"{b} {r.households}→{r.households + 7}"

    counts = import_households(db, export)
    assert counts["buildings_updated"] == 0 and _buildings(db) == before
    listed_zh = "、".join(shown(r, True) for r in edited[:5])
    listed = ", ".join(shown(r, False) for r in edited[:5])
    assert counts["warnings"][-1] == (
        "6 个要素标为 household_source=estimated 的户数与现存估算值不同"
        f"（{listed_zh} 等 6 个要素），因标为估算值未导入；"
        "如是新的户数，请把这些行的 household_source 改为 given 后重新导入 "
        f"6 features marked household_source=estimated give households other than the stored "
        f"estimate ({listed} and 1 more): not imported, being marked estimated; if they are "
        "new counts, set household_source to given on those rows and import again"
    ), counts["warnings"]


def test_a_blank_household_source_keeps_estimates(db, tmp_path):
    """T51 #5: the export with household_source present but blank turned all 150 estimates
    into census-given counts. A blank cell does not say census: an equal count stays an
    estimate (nothing written); a changed count is an edit, stored as given."""
    import_osm(db, FIXTURES / "haidian_demo.osm")
    before = _buildings(db)
    estimated = [r for r in before if r.household_source == "estimated"]
    changed = estimated[0]
    rows = [
        f"{r.id},{r.households + (3 if r.id == changed.id else 0)},"
        for r in before
        if r.household_source == "estimated"
    ]
    path = tmp_path / "b_blanksrc.csv"
    path.write_text("id,households,household_source\n" + "\n".join(rows) + "\n", "utf-8")
    counts = import_households(db, path)
    assert {k: v for k, v in counts.items() if k != "warnings"} == {
        "rows": len(estimated),
        "buildings_updated": 1,
        "grids_updated": 0,
        "buildings_confirmed": 0,
        "buildings_unchanged": len(estimated) - 1,
        "rows_estimated": 0,
    }
    k = len(estimated) - 1
    assert counts["warnings"] == [
        f"{k} 栋楼的 household_source 为空且户数与现存估算值相同，仍为估算值（未改为普查给定）；"
        "如是普查户数，请在这些行的 household_source 填 given 后重新导入 "
        f"{k} buildings with a blank household_source give the stored estimate: kept as "
        "estimates (not made census-given); if they are census counts, write given in "
        "household_source and import again"
    ]
    after = {r.id: r for r in _buildings(db)}
    for r in before:
        if r.id == changed.id:
            assert (after[r.id].households, after[r.id].household_source) == (
                r.households + 3,
                "given",
            )
        else:
            assert after[r.id] == r  # not even updated_at
