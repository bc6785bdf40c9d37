"""Outside tester T70 (an IT lead bringing gridward up for his own subdistrict, 学院路东, from
an empty installation with the cau_xueqinglu_2026 extract), findings #5, #9, #16, #17.

- #5: the household estimate gave a campus's 体育馆 (leisure=fitness_centre) 272 households,
  Teaching Building 3 170, a library 79, three 教学楼 19–23: about 700 phantom households,
  found by name. A building=yes whose own tags name a leisure or sport use now gets none;
  what stays an estimate on university grounds (kept as staff housing, as README says) is
  named by the import, largest first, to be checked and given; a dormitory (学生公寓) keeps
  its households and is not named.
- #9: the first import into an empty database said new_streets_without_duty=0 and no hint,
  with 255 streets and alleys nobody held.
- #17: a household correction left a grid needing 4 full-time workers with 3, and the import
  said only 网格户数已更新 3; now it names the grid as plans commit does, and says whether any
  full-time worker is free to staff it.
- #16: ``gridward export buildings`` wrote no table: a census sheet keyed by 楼栋编号 had to
  be made in QGIS. Now .csv and .xlsx, which import households reads back unchanged.

Real PostGIS, the real extract and the demo city."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from geo.households import estimate_households
from geo.households_import import import_households
from geo.importer import import_osm
from geo.osm import read_osm
from tests.conftest import FIXTURES
from tests.test_import import run_cli
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

CAU = "cau_xueqinglu_2026.osm"
# the cau_xueqinglu_2026 buildings T70 named (OSM way ids), and how the estimate takes them
GYM = 154079723  # 中国农业大学体育馆, building=yes + leisure=fitness_centre: was 272 households
ON_CAMPUS = {  # building=yes on 中国农业大学's grounds, nothing says their use: named to check
    167169201: 170,  # Teaching Building 3
    154823541: 79,  # 中国农业大学东区图书馆
    247351553: 22,  # 教学楼
    247351554: 23,  # 教学楼
    247351555: 19,  # 教学楼
}
DORMS = {154827373: 274, 154079756: 149, 167171222: 84}  # 学生公寓二号楼, 学生公寓3号楼, 女生宿舍楼


@pytest.fixture()
def cau(shared_data: Path) -> Path:
    return shared_data / "osm_beijing_haidian" / CAU


def test_buildings_tagged_with_a_leisure_use_get_no_households(cau, shared_data):
    """T70 #5 on the real extract: the 体育馆 (leisure=fitness_centre) gets 0 and is typed by
    its use, the extract's estimate falls 6,734 → 6,462 (exactly its 272); the campus
    buildings nothing explains are marked to be named by the import, the dormitories
    (学生公寓二号楼 is building=yes, but its name says homes) keep theirs and are not marked.
    The demo city's extract has no such building: its 8,571 households stay."""
    est = estimate_households(read_osm(cau).buildings).set_index("osm_id")
    assert (est.loc[GYM, "building_type"], est.loc[GYM, "households"]) == ("fitness_centre", 0)
    assert int(est["households"].sum()) == 6734 - 272
    assert est.loc[list(ON_CAMPUS), "households"].to_dict() == ON_CAMPUS
    assert est.loc[list(ON_CAMPUS), "campus"].all()
    assert est.loc[list(DORMS), "households"].to_dict() == DORMS
    assert not est.loc[list(DORMS), "campus"].any()
    assert int(est.loc[est["campus"], "households"].sum()) == 1616
    # the Tsinghua extract: 综合体育馆 (leisure=stadium), 游泳馆, 射击馆 … get 0
    wdk = read_osm(shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    w = estimate_households(wdk.buildings).set_index("osm_id")
    assert w.loc[[83799756, 79699801, 80716194], "households"].tolist() == [0, 0, 0]
    assert int(w["households"].sum()) == 21747 - 545
    demo = estimate_households(read_osm(FIXTURES / "haidian_demo.osm").buildings)
    assert int(demo["households"].sum()) == 8571 and not demo["campus"].any()


def test_first_import_names_unstaffed_streets_and_campus_estimates(db, pg_url, cau, tmp_path):
    """T70 #9: into an empty database the import counts every street and alley as having
    nobody and says what to do; T70 #5: it names the estimates left on university grounds,
    largest first, and a building given a count (0) drops out of that note."""
    proc = run_cli(["import", "osm", str(cau)], pg_url)
    assert proc.returncode == 0, proc.stderr
    with db.connect() as conn:
        s, a = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE kind = 'street'), "
                "count(*) FILTER (WHERE kind = 'alley') FROM streets"
            )
        ).one()
        campus = conn.execute(
            text("SELECT id, name, households FROM buildings WHERE source_key = 'osm:w167169201'")
        ).one()
        gym = conn.execute(
            text("SELECT households FROM buildings WHERE source_key = 'osm:w154079723'")
        ).scalar_one()
    assert s + a == 255
    assert "new_streets_without_duty=255," in proc.stdout, proc.stdout
    notes = [ln for ln in proc.stderr.splitlines() if "新区域的路网" in ln]
    assert notes == [
        f"warning: 新区域的路网：255 条新街巷（街 {s} 条、巷 {a} 条）尚无人负责："
        "它们不在任何街道（乡镇）内：请先导入其区划（gridward import areas），再用 gridward "
        "assign streets|alleys --area 区划代码 安排 "
        f"the new area's network: 255 new streets and alleys ({s} streets, {a} alleys) have "
        "nobody assigned: they lie in no subdistrict (township): import their areas first "
        "(gridward import areas), then run gridward assign streets|alleys --area CODE"
    ], proc.stderr
    assert gym == 0
    # the largest estimate on campus: Teaching Building 3, 170 (学生公寓二号楼, 274, says it
    # holds homes: not named)
    assert (campus.name, campus.households) == ("Teaching Building 3", 170)
    campus_notes = [ln for ln in proc.stderr.splitlines() if "大学、学院用地上" in ln]
    assert len(campus_notes) == 1, proc.stderr
    note = campus_notes[0]
    assert note.startswith("warning: 大学、学院用地上有 70 栋未注明用途的楼（building=yes）"
                           "按住宅估算了 1616 户："), note  # fmt: skip
    assert f"户数最多的是 楼栋 {campus.id} Teaching Building 3 170 户、楼栋 " in note
    assert f"the largest: building {campus.id} Teaching Building 3 170, building " in note
    assert "中国农业大学东区图书馆 79 户" in note
    assert "学生公寓" not in note
    assert "gridward import households" in note
    # given a count, it is no estimate any more: the next import leaves it out
    given = _write(tmp_path / "zero.xlsx", {campus.id: 0})
    assert import_households(db, given)["buildings_updated"] == 1
    notes: dict = {}
    import_osm(db, cau, notes=notes)
    again = [n for n in notes["warnings"] if n.startswith("大学、学院用地上")]
    assert again and again[0].startswith("大学、学院用地上有 69 栋未注明用途的楼（building=yes）"
                                         "按住宅估算了 1446 户："), again  # fmt: skip
    assert "Teaching Building 3" not in again[0]


# --- #17: a household import that leaves grids short of full-time workers ------------------


def _staffed_grid(engine) -> tuple:  # noqa: ANN001
    """A current grid with a leader and exactly the full-time workers its households need
    today, and its largest building: (grid code, community code, households, workers,
    building id, building households)."""
    from geo.settings import city_today

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, a.code AS community, g.households, "
                "count(x.id) FILTER (WHERE x.role = 'grid_worker') AS workers, "
                "count(x.id) FILTER (WHERE x.role = 'grid_leader') AS leaders, "
                "(SELECT b.id FROM buildings b WHERE b.id IN (SELECT jsonb_array_elements_text("
                "  g.properties->'building_ids')::int) ORDER BY b.households DESC, b.id LIMIT 1) "
                "AS bid FROM grids g JOIN areas a ON a.id = g.community_id "
                "LEFT JOIN assignments x ON x.grid_id = g.id AND x.valid_from <= :d "
                "AND (x.valid_to IS NULL OR x.valid_to >= :d) "
                "WHERE g.level = 1 AND g.retired_at IS NULL GROUP BY g.id, a.code ORDER BY g.code"
            ),
            {"d": city_today()},
        ).all()
        for r in rows:
            if r.leaders and r.households and r.workers == math.ceil(r.households / 100):
                hh = conn.execute(
                    text("SELECT households FROM buildings WHERE id = :b"), {"b": r.bid}
                ).scalar_one()
                return r.code, r.community, r.households, r.workers, r.bid, hh
    raise AssertionError("no fully staffed grid in the demo")


def _idle_workers(engine, community: str) -> list[int]:  # noqa: ANN001
    """Full-time workers who live in the community's subdistrict and hold no current grid."""
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT p.id FROM people p JOIN areas c ON c.id = p.area_id "
                    "WHERE p.active AND 'grid_worker' = ANY(p.roles) AND c.parent_id = "
                    "(SELECT parent_id FROM areas WHERE code = :c) AND NOT EXISTS ("
                    "  SELECT 1 FROM assignments x JOIN grids g ON g.id = x.grid_id "
                    "  WHERE x.person_id = p.id AND g.retired_at IS NULL "
                    "  AND (x.valid_to IS NULL OR x.valid_to >= CURRENT_DATE)) ORDER BY p.id"
                ),
                {"c": community},
            )
            .scalars()
            .all()
        )


def test_household_import_names_grids_it_left_short_staffed(engine, pg_url, tmp_path):
    """T70 #17: a correction taking a fully staffed grid past its next hundred households is
    named, old→new households and workers held/needed, with the assign command and whether
    anyone is free to staff it: with every full-time worker in post (the demo staffs them
    all), the note says to add people first; back to the old count, nothing is said; with a
    new worker in the registry, the note says one is free."""
    from geo.people_import import import_people
    from tests.conftest import demo_with_duties

    demo_with_duties(engine)
    code, community, hh, workers, bid, b_hh = _staffed_grid(engine)
    raise_by = workers * 100 - hh + 1  # the grid then needs one worker more
    with engine.begin() as conn:  # none idle (the demo staffs every full-time worker)
        idle = _idle_workers(engine, community)
        conn.execute(text("UPDATE people SET active = false WHERE id = ANY(:i)"), {"i": idle})
        pool = conn.execute(
            text(
                "SELECT count(*) FROM people p JOIN areas c ON c.id = p.area_id WHERE p.active "
                "AND 'grid_worker' = ANY(p.roles) AND c.parent_id = "
                "(SELECT parent_id FROM areas WHERE code = :c)"
            ),
            {"c": community},
        ).scalar_one()
    sheet = _write(tmp_path / "a.xlsx", {bid: b_hh + raise_by})
    proc = run_cli(["import", "households", str(sheet)], pg_url)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "户数变动后" in ln]
    assert lines == [
        f"warning: 户数变动后社区 {community} 有 1 个网格专职网格员不足（每 100 户 1 名）："
        f"{code} {hh}→{hh + raise_by} 户，专职网格员 {workers}/{workers + 1}；没有空闲的专职"
        f"网格员：可安排到社区 {community} 的 {pool} 名专职网格员都已有网格，请先增补人员"
        f"（gridward import people），再运行 gridward assign grids --area {community} "
        f"the household change left 1 grid of community {community} short of full-time "
        f"workers (1 per 100 households): {code} {hh}→{hh + raise_by} households, workers "
        f"{workers}/{workers + 1}; no idle full-time grid worker is left: all {pool} who may "
        f"serve community {community} hold a grid; add people first (gridward import "
        f"people), then run gridward assign grids --area {community}"
    ], proc.stderr
    # back to the old count: staffed again, nothing said
    back = import_households(engine, _write(tmp_path / "b.xlsx", {bid: b_hh}))
    assert not [w for w in back["warnings"] if w.startswith("户数变动后")], back["warnings"]
    # a new full-time worker living in the grid's building: one is free
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                 "FROM buildings WHERE id = :b) x"),
            {"b": bid},
        ).one()  # fmt: skip
    roster = tmp_path / "new.csv"
    pd.DataFrame(
        [{"person_id": "T70-W1", "name": "何新", "phone": "", "role": "grid_worker",
          "lon": round(lon, 7), "lat": round(lat, 7)}]
    ).to_csv(roster, index=False)  # fmt: skip
    assert import_people(engine, roster)["created"] == 1
    out = import_households(engine, _write(tmp_path / "c.xlsx", {bid: b_hh + raise_by}))
    short = [w for w in out["warnings"] if w.startswith("户数变动后")]
    assert short == [
        f"户数变动后社区 {community} 有 1 个网格专职网格员不足（每 100 户 1 名）："
        f"{code} {hh}→{hh + raise_by} 户，专职网格员 {workers}/{workers + 1}；"
        f"有 1 名专职网格员尚无网格：请运行 gridward assign grids --area {community} "
        f"the household change left 1 grid of community {community} short of full-time "
        f"workers (1 per 100 households): {code} {hh}→{hh + raise_by} households, workers "
        f"{workers}/{workers + 1}; 1 full-time grid worker holds no grid: run "
        f"gridward assign grids --area {community}"
    ], out["warnings"]


def _write(path: Path, counts: dict[int, int]) -> Path:
    """A census sheet (xlsx) giving ``counts`` by 楼栋编号."""
    pd.DataFrame({"楼栋编号": list(counts), "户数": list(counts.values())}).to_excel(
        path, index=False
    )
    return path


# --- #16: the buildings as a census sheet ---------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_buildings_as_a_census_sheet_imports_back_unchanged(demo, pg_url, tmp_path, suffix):  # noqa: F811
    """T70 #16: ``export buildings --out x.csv|x.xlsx``: one row per building keyed by 楼栋编号,
    with name, 地址 (community and nearest street), codes as text, households and their
    source, and a point inside the building; fed back to import households it changes
    nothing (the estimates are left out, with a warning, as for the GeoJSON export)."""
    out = tmp_path / f"census{suffix}"
    proc = run_cli(["export", "buildings", "--out", str(out)], pg_url)
    assert proc.returncode == 0, proc.stderr
    if suffix == ".csv":
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
        sheet = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    else:
        sheet = pd.read_excel(out, dtype=str)
    assert list(sheet.columns) == [
        "楼栋编号", "楼栋名称", "楼栋类型", "地址", "社区编码", "网格编码", "户数", "户数来源",
        "经度", "纬度",
    ]  # fmt: skip
    with demo.connect() as conn:
        n, n_est = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE household_source = 'estimated') "
                "FROM buildings"
            )
        ).one()
        assert len(sheet) == n
        for row in sheet.itertuples(index=False):
            b = conn.execute(
                text(
                    "SELECT b.name, b.households, b.household_source, a.code, a.name AS comm, "
                    "ST_Covers(b.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) AS inside "
                    "FROM buildings b LEFT JOIN areas a ON a.id = b.community_id "
                    "WHERE b.id = :i"
                ),
                {"x": float(row[8]), "y": float(row[9]), "i": int(row[0])},
            ).one()
            assert b.inside, row
            assert int(row[6]) == b.households
            assert row[7] == {"estimated": "估算", "given": "给定"}[b.household_source]
            assert row[4].strip() == b.code and len(row[4].strip()) == 12
            assert b.comm in row[3]
            assert (row[1] if isinstance(row[1], str) else None) == b.name
    assert sheet["网格编码"].isna().all()  # the demo fixture has no grids
    named = sheet[sheet["地址"].str.contains("附近", na=False)]
    assert len(named) > n / 2, sheet["地址"].head()
    back = run_cli(["import", "households", str(out)], pg_url)
    assert back.returncode == 0, back.stderr
    assert "buildings_updated=0," in back.stdout and f"rows_estimated={n_est}" in back.stdout
    assert f"{n_est} 行的户数是估算值（户数来源=估算），未作为普查户数导入；若确是普查户数，" \
        "请把 户数来源 列改为 给定 或删去该列" in back.stderr, back.stderr  # fmt: skip
    # the census office fills in one building: its count, 给定
    first = sheet.index[sheet["户数来源"] == "估算"][0]
    bid = int(sheet.loc[first, "楼栋编号"])
    sheet.loc[first, ["户数", "户数来源"]] = ["123", "给定"]
    filled = tmp_path / f"filled{suffix}"
    if suffix == ".csv":
        sheet.to_csv(filled, index=False, encoding="utf-8-sig")
    else:
        sheet.to_excel(filled, index=False)
    done = import_households(demo, filled)
    assert (done["buildings_updated"], done["rows_estimated"]) == (1, n_est - 1)
    with demo.connect() as conn:
        assert conn.execute(
            text("SELECT households, household_source FROM buildings WHERE id = :i"), {"i": bid}
        ).one() == (123, "given")


def test_export_table_refusals(demo, pg_url, tmp_path):  # noqa: F811
    """A table is the buildings layer's only, in lon/lat: grids as .csv and a projected
    --crs are refused before anything is written; --crs gcj02 shifts the points as the
    phone apps show them."""
    grids = run_cli(["export", "grids", "--out", str(tmp_path / "g.csv")], pg_url)
    assert grids.returncode == 2 and "不用于 grids" in grids.stderr, grids.stderr
    proj = tmp_path / "b.csv"
    metres = run_cli(["export", "buildings", "--out", str(proj), "--crs", "EPSG:4548"], pg_url)
    assert metres.returncode == 2 and "不能用投影坐标系" in metres.stderr, metres.stderr
    assert not proj.exists()
    wgs, gcj = tmp_path / "w.csv", tmp_path / "g2.csv"
    assert run_cli(["export", "buildings", "--out", str(wgs)], pg_url).returncode == 0
    gcj_run = run_cli(["export", "buildings", "--out", str(gcj), "--crs", "gcj02"], pg_url)
    assert gcj_run.returncode == 0, gcj_run.stderr
    a = pd.read_csv(wgs, encoding="utf-8-sig")
    b = pd.read_csv(gcj, encoding="utf-8-sig")
    shift = ((b["经度"] - a["经度"]) * 85_300) ** 2 + ((b["纬度"] - a["纬度"]) * 111_000) ** 2
    assert ((shift**0.5 > 300) & (shift**0.5 < 800)).all()
