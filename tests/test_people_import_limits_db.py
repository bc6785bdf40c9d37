"""A people roster meets the limits a track file meets (outside tester T42 #2, HIGH): a 2 MB
XLSX whose one cell unpacked to 2 GiB, sent to ``POST /people/import``, grew the server to
23 GB until the kernel killed it; a smaller one came back as a 200 MB 422 repeating the cell
as a column name. Real PostGIS, a 1 MiB upload limit (the rules scale with the setting)."""

from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

# the 1 MiB upload limit and the app under it, as the track upload limits' tests have them
from tests.test_upload_limits_db import LIMIT
from tests.test_upload_limits_db import env as env


def _xlsx(rows: list[list[str]], big: str = "") -> bytes:
    """A workbook of ``rows``; the cell ``BIG`` becomes ``big`` (openpyxl cuts a cell at
    Excel's 32,767 characters, so the bomb's cell is written into the sheet's XML here)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    if not big:
        return out.getvalue()
    bomb = io.BytesIO()
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert b"BIG" in data
                data = data.replace(b"BIG", big.encode())
            dst.writestr(info.filename, data)
    return bomb.getvalue()


def _post(client: TestClient, headers: dict, name: str, data: bytes):
    return client.post(
        "/people/import",
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
        headers=headers,
    )


def _people(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM people")).scalar_one())


def test_a_roster_workbook_that_unpacks_past_the_limit_is_a_413_and_stores_nothing(env) -> None:
    client, headers, db = env
    cell = "A" * (4 * LIMIT)  # 4 MiB of one letter: a few KB zipped
    bomb = _xlsx([["人员编号", "姓名", "经度", "纬度"], ["X1", "BIG", "116.31", "39.99"]], cell)
    assert len(bomb) < LIMIT  # within the upload limit: only unpacked is it too big
    r = _post(client, headers, "roster.xlsx", bomb)
    assert r.status_code == 413, r.text[:300]
    words = r.json()["error"]
    assert words.startswith(f"文件过大：XLSX 解压后超过 {3 * LIMIT:,} 字节")
    assert f"XLSX unpacks to more than {3 * LIMIT:,} bytes" in words
    assert len(r.content) < 2000  # the cell is not repeated back
    assert _people(db) == 0


def test_the_cli_reads_a_roster_file_under_the_same_limits(env, tmp_path) -> None:
    from geo.errors import TooLargeError
    from geo.people_import import import_people

    _client, _headers, db = env
    path = tmp_path / "roster.xlsx"
    path.write_bytes(_xlsx([["人员编号", "姓名"], ["X1", "BIG"]], "B" * (4 * LIMIT)))
    with pytest.raises(TooLargeError, match="XLSX 解压后超过"):
        import_people(db, path)
    assert _people(db) == 0


def test_long_and_many_unknown_columns_are_named_short(env) -> None:
    """Each name cut to 40 characters, at most 10 named, then how many more."""
    client, headers, db = env
    extra = ["备注" * 300] + [f"附加列{i}" for i in range(14)]
    roster = [["人员编号", "姓名", "经度", "纬度", *extra], ["X1", "张三", "116.31", "39.99"]]
    r = _post(client, headers, "roster.xlsx", _xlsx(roster))
    assert r.status_code == 200, r.text[:300]
    left = r.json()["columns_left_out"]
    assert left[0] == "备注" * 20 + "…"
    # the 10 names, no "另 5 列" entry among them, and the real number apart (T45 #3)
    assert left == ["备注" * 20 + "…"] + [f"附加列{i}" for i in range(9)]
    assert r.json()["columns_left_out_count"] == 15
    assert len(json.dumps(r.json(), ensure_ascii=False)) < 3000
    assert _people(db) == 1


def test_the_cli_counts_every_column_left_out(db, tmp_path, pg_url) -> None:
    """T45 #3: 100 unknown columns printed columns_left_out=11 (the 10 names cut, plus the
    "另 90 列" entry). The words keep the cut list; the key=value count is the real one."""
    from tests.test_import import run_cli

    extra = [f"附加列{i}" for i in range(100)]
    path = tmp_path / "cols.csv"
    path.write_text(
        ",".join(["人员编号", "姓名", "经度", "纬度", *extra]) + "\nX1,张三,116.31,39.99\n",
        "utf-8",
    )
    res = run_cli(["import", "people", str(path)], pg_url)
    assert res.returncode == 0, res.stderr
    names = "、".join(f"附加列{i}" for i in range(10))
    line = "已导入人员：读入 1 人，新增 1 人，更新 0 人，未变 0 人，"  # T67 #9: the counts
    line += f"未读入的列：{names}、另 90 列 90 more "
    counts = "people_read=1, created=1, updated=0, unchanged=0, "  # T67 #9
    assert res.stdout.strip() == line + counts + "columns_left_out=100", res.stdout
