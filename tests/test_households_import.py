"""`import households` from a census as an office keeps it (outside tester T46 #5–#9, #15):
XLSX or Excel's CSV with a title row and 合计/制表人 rows, GCJ-02 points, repeated rows,
rows matching no building, each named by the spreadsheet's own row number."""

from __future__ import annotations

import os
import subprocess
import sys

import openpyxl
import pytest
from sqlalchemy import text

from geo.crs import wgs84_to_gcj02
from geo.errors import InputError
from geo.households_import import import_households
from geo.importer import import_osm
from tests.conftest import FIXTURES

HEADER = ["序号", "社区", "地址", "楼栋名称", "经度", "纬度", "户数"]
TITLE = "海淀区学院路街道 楼栋户数统计表（2026年）"
SIGNED = "制表人：王某某    审核人：李某某    制表日期：2026年11月20日"


@pytest.fixture()
def city(db):
    """The demo extract's buildings: (id, source_key, name, lon, lat of a point inside)."""
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, source_key, name, ST_X(ST_PointOnSurface(geom)), "
                "ST_Y(ST_PointOnSurface(geom)) FROM buildings ORDER BY id"
            )
        ).all()
    return db, rows


def _given(db) -> dict[int, int]:
    with db.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT id, households FROM buildings WHERE household_source = 'given'")
            ).all()
        )


def _census(buildings, households, gcj: bool = True) -> list[list]:
    """Census rows (HEADER's columns) for ``buildings`` in GCJ-02 (as 高德 gives them)."""
    out = []
    for n, (b, hh) in enumerate(zip(buildings, households, strict=True), start=1):
        x, y = (float(v) for v in wgs84_to_gcj02(b[3], b[4])) if gcj else (b[3], b[4])
        out.append([n, "110108017001", f"学院路{n}号院", f"{n}号楼", round(x, 7), round(y, 7), hh])
    return out


def _csv(path, rows, title: bool = False, footer: bool = False, encoding: str = "gbk"):
    """A CSV as Excel saves it: GBK, a title row above the header, 合计 and 制表人 rows."""
    lines = [f"{TITLE},,,,,," for _ in range(title)] + [",".join(HEADER)]
    lines += [",".join(str(c) for c in r) for r in rows]
    if footer:
        lines += [f"合计,,,,,,{sum(r[6] for r in rows)}", f"{SIGNED},,,,,,"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_conflicting_rows_are_refused_and_a_repeat_counts_once(city, tmp_path):
    """T46 #5: one building twice with 131 and 999 stored 999, silently; an exact repeat
    was counted twice (更新楼栋 59 for 58 buildings)."""
    db, b = city
    rows = _census(b[:3], [131, 50, 60])
    rows.append([4, *rows[0][1:6], 999])
    path = _csv(tmp_path / "户数_冲突.csv", rows)
    with pytest.raises(InputError) as err:
        import_households(db, path, crs="gcj02")
    name = f"（{b[0].name}）" if b[0].name else ""
    assert err.value.message.startswith(
        "文件 户数_冲突.csv 有 1 栋楼在多行中出现且户数不同，请只保留正确的一行："
        f"第 2 行与第 5 行指向同一楼栋 {b[0].id}{name}，户数不同（131 / 999）（未作任何改动） "
    )
    assert "rows 2 and 5 name the same building" in err.value.message
    assert _given(db) == {}
    rows[3][6] = 131  # the same row pasted twice
    counts = import_households(db, _csv(tmp_path / "户数_重复.csv", rows), crs="gcj02")
    assert counts["rows"] == 4 and counts["buildings_updated"] == 3
    assert counts["warnings"] == [
        f"第 2 行与第 5 行指向同一楼栋 {b[0].id}{name}，户数相同（131），只计一次 "
        f"rows 2 and 5 name the same building {b[0].id}"
        f"{f' ({b[0].name})' if b[0].name else ''} with the same households (131): counted once"
    ]
    assert _given(db) == {b[0].id: 131, b[1].id: 50, b[2].id: 60}


def test_an_xlsx_census_with_title_and_footer_rows(city, tmp_path):
    """T46 #6, #7: the census as the office has it, an XLSX with a merged title row, a 合计
    row (a formula) and a 制表人 row, was refused by type; as Excel's CSV, by its title."""
    db, b = city
    rows = _census(b[:5], [131, 114, 0, 57, 68])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([TITLE])
    ws.merge_cells("A1:G1")
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    ws.append(["合计", None, None, None, None, None, "=SUM(G3:G7)"])
    ws.append([SIGNED])
    wb.save(tmp_path / "户数统计_2026.xlsx")
    counts = import_households(db, tmp_path / "户数统计_2026.xlsx", crs="gcj02")
    assert counts["rows"] == 5 and counts["buildings_updated"] == 5
    assert counts["warnings"] == [
        f"表头在第 2 行，其上方的第 1 行未读入（'{TITLE}'） "
        f"the header is row 2: the row(s) above it were left out: '{TITLE}'",
        f"第 8、9 行是合计或说明，未读入（'合计; {SIGNED}'） "
        f"2 summary or note row(s) were left out: '合计; {SIGNED}'",
    ]
    assert _given(db) == {x.id: hh for x, hh in zip(b[:5], [131, 114, 0, 57, 68], strict=True)}
    # the same census saved by Excel as CSV (GBK): the same rows read, the same words
    rows = _census(b[:5], [1, 2, 3, 4, 5])
    path = _csv(tmp_path / "户数统计_2026_excel.csv", rows, title=True, footer=True)
    counts = import_households(db, path, crs="gcj02")
    assert counts["buildings_updated"] == 5
    assert counts["warnings"][1].startswith("第 8、9 行是合计或说明，未读入（'合计 15; 制表人")
    assert _given(db) == {x.id: n for n, x in enumerate(b[:5], start=1)}


def test_every_unmatched_row_is_named_by_its_spreadsheet_row(city, tmp_path):
    """T46 #8, #15: only the first unmatched row was named ("第 60 行所指的其位置上的楼栋不存在"),
    and row numbers counted data rows in one message, file lines in another."""
    db, b = city
    rows = _census(b[:4], [10, 20, 30, 40])
    rows.append([5, "110108017002", "清华东路路中", "（空地）", 116.0, 40.5, 12])
    rows.append([6, "110108030003", "科荟路88号", "新建商品房", 116.1, 40.6, 240])
    path = _csv(tmp_path / "v4.csv", rows, title=True, footer=True)
    with pytest.raises(InputError) as err:
        import_households(db, path, crs="gcj02")
    assert err.value.message == (
        "文件 v4.csv 第 7 行与第 8 行的位置上没有楼栋（共 2 行对不上；未作任何改动）："
        "第 7 行 清华东路路中，（空地）（经度 116.0，纬度 40.5）；"
        "第 8 行 科荟路88号，新建商品房（经度 116.1，纬度 40.6） "
        "v4.csv: no building at the locations of rows 7 and 8 "
        "(2 rows unmatched; nothing changed): "
        "row 7 清华东路路中, （空地） (lon 116.0, lat 40.5); "
        "row 8 科荟路88号, 新建商品房 (lon 116.1, lat 40.6)"
    )
    assert _given(db) == {}
    # a row without households: the same numbering (the title row counted)
    rows = _census(b[:4], [10, 20, "", 40])
    with pytest.raises(InputError) as err:
        import_households(db, _csv(tmp_path / "blank.csv", rows, title=True), crs="gcj02")
    assert err.value.message.startswith("文件 blank.csv 第 5 行没有户数")
    # many unmatched ids: 20 named, then how many more
    many = tmp_path / "ids.csv"
    many.write_text(
        "building_id,户数\n" + "".join(f"osm:w99999{k},1\n" for k in range(25)), encoding="utf-8"
    )
    with pytest.raises(InputError) as err:
        import_households(db, many)
    msg = err.value.message
    assert msg.startswith(
        "文件 ids.csv 第 2、3、4、5、6、7、8、9、10、11、12、13、14、15、16、17、18、19、20、21 "
        "等 25 行所指的楼栋不存在（共 25 行对不上；未作任何改动）："
        "第 2 行（楼栋编号 'osm:w999990'）；"
    )
    assert "；另有 5 行 " in msg and "which do not exist" in msg


def test_gcj02_points_read_as_wgs84_get_a_hint(city, tmp_path):
    """T46 #9: 49 of 59 GCJ-02 points missed without --crs gcj02, and nothing said why."""
    db, b = city
    rows = _census(b[:30], list(range(1, 31)))
    path = _csv(tmp_path / "v5.csv", rows)
    with pytest.raises(InputError) as err:
        import_households(db, path)
    msg = err.value.message
    assert "坐标像是 GCJ-02（高德/腾讯），请加 --crs gcj02（按此换算后 30/30 行能对上楼栋）" in msg
    assert "look like GCJ-02 (Amap/Tencent): add --crs gcj02 (read so, 30 of 30 rows" in msg
    assert _given(db) == {}
    # with it, every row matches
    counts = import_households(db, path, crs="gcj02")
    # an equal count confirms an estimate, not counted as updated (T49 #2)
    assert counts["buildings_updated"] + counts["buildings_confirmed"] == 30
    # WGS-84 points given --crs gcj02: told to leave it out
    wgs = _csv(tmp_path / "wgs.csv", _census(b[:30], [1] * 30, gcj=False))
    with pytest.raises(InputError) as err:
        import_households(db, wgs, crs="gcj02")
    assert (
        "坐标像是 WGS-84（GPS）" in err.value.message and "请去掉 --crs gcj02" in err.value.message
    )
    # two stray rows among good ones: no hint (the shift would lose the others)
    rows.append([31, "", "科荟路88号", "", 116.1, 40.6, 240])
    with pytest.raises(InputError) as err:
        import_households(db, _csv(tmp_path / "stray.csv", rows), crs="gcj02")
    assert "坐标像是" not in err.value.message and "第 32 行" in err.value.message


def test_a_census_by_building_name(city, tmp_path):
    """T46 #6: a census naming its buildings (the stored OSM name) when it has no ids or
    points; a name held by two buildings is refused, naming the row."""
    db, b = city
    named = [x for x in b if x.name]
    others = [x for x in b if x.id != named[0].id]
    with db.begin() as conn:  # make one name unique and one shared
        conn.execute(
            text("UPDATE buildings SET name = '测试楼A' WHERE id = :i"), {"i": named[0].id}
        )
        conn.execute(
            text("UPDATE buildings SET name = '测试楼B' WHERE id IN (:i, :j)"),
            {"i": others[0].id, "j": others[1].id},
        )
    path = tmp_path / "names.csv"
    path.write_text("楼栋名称,户数\n测试楼A,77\n", encoding="utf-8")
    assert import_households(db, path)["buildings_updated"] == 1
    assert _given(db) == {named[0].id: 77}
    path.write_text("楼栋名称,户数\n测试楼A,77\n测试楼B,5\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_households(db, path)
    assert err.value.message.startswith(
        "文件 names.csv 有 1 行对应不止一栋楼，请改用楼栋编号："
        "第 3 行（楼栋名称 '测试楼B'）对应 2 栋（未作任何改动） "
        "names.csv: 1 row matches more than one building: row 3 (building name '测试楼B') "
        "matches 2; give building ids instead (nothing changed)"
    )  # row 3 named once in each language (T48 #7)


def test_other_spreadsheets_are_named_in_the_refusal(city, tmp_path):
    db, _b = city
    for suffix in (".xls", ".ods"):
        path = tmp_path / f"户数{suffix}"
        path.write_bytes(b"x")
        with pytest.raises(InputError) as err:
            import_households(db, path)
        assert err.value.message == (
            f"文件 户数{suffix} 的类型 '{suffix}' 不支持：户数表请另存为 .xlsx 或 CSV "
            f"户数{suffix}: unsupported file type '{suffix}': save the census as .xlsx or CSV"
        )


def test_the_cli_warns_of_rows_left_out(city, pg_url, tmp_path):
    db, b = city
    path = _csv(tmp_path / "c.csv", _census(b[:2], [3, 4]), title=True, footer=True)
    env = {**os.environ, "DATABASE_URL": pg_url}
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "import", "households", str(path), "--crs", "gcj02"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "rows=2, buildings_updated=2, grids_updated=0" in out.stdout
    assert "warning: 表头在第 2 行，其上方的第 1 行未读入" in out.stderr
    assert "warning: 第 5、6 行是合计或说明，未读入" in out.stderr
