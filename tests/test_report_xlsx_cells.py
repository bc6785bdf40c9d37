"""Report XLSX cells written by xlsxwriter directly, as pandas' ``to_excel`` wrote them.

WHY: a city month's XLSX (T59: 2,564 people, 25,141 alley-days) took ~6 s to write, 60 % of
it pandas' per-cell objects and styles. The file must stay the same for a reader: every
kind of value a report table can hold is written here both ways and compared cell by cell
(value, type, number format), with the layout of :func:`geo.report_export._lay_out`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from pandas.io.formats.excel import ExcelFormatter

from geo.report_export import HEADERS, XLSX_OPTIONS, _lay_out, _write_xlsx

NAT = pd.NaT


def _tables() -> dict[str, pd.DataFrame]:
    """Tables with every kind of value: missing ones of each sort, ±inf, "" and text that
    looks like a formula or a link, times with microseconds, times before March 1900 (the
    day Excel counts that never was), dates, durations, values of mixed types."""
    times = [
        "2026-10-01 07:25:00.123456",
        None,
        "2026-10-31 23:59:59.999999",
        "2000-02-29 12:00",
        "1970-01-01",
        "2099-12-31 00:00:01",
    ]
    early = ["1900-01-01 06:00", "1899-12-31", "1900-02-28 23:00", None, "1900-03-01", "1950-01-01"]
    people = pd.DataFrame(
        {
            "周期 period": [
                dt.date(2026, 10, 1),
                None,
                dt.date(1900, 1, 1),
                NAT,
                dt.date(1900, 3, 1),
                dt.date(2026, 10, 31),
            ],
            "人员编号 person_code": pd.array(
                ["007", "", None, "=1+2", "http://x.example", "S1"], dtype="str"
            ),
            "姓名 person_name": [
                "管家",
                '=HYPERLINK("http://a.example","x")',
                "",
                None,
                "王 ",
                "\t李",
            ],
            "天数 days": np.array([1, -2, 0, 2**40, 7, 3], dtype=np.int64),
            HEADERS["compliance"]: [1.0, math.nan, 0.98765, 0.5, 0.0, 0.1 + 0.2],
            "巡查长度(米) walked_m": [1.5, math.nan, math.inf, -math.inf, 1e-300, 123456789.1],
            "排名 rank": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
            "旗 flag": [True, False, True, False, True, False],
            "可空旗 maybe": [True, None, False, np.bool_(True), None, False],
            "首次时间 first_time": pd.to_datetime(times, format="ISO8601").as_unit("us"),
            "末次时间 last_time": pd.to_datetime(times, format="ISO8601").as_unit("ns"),
            "早 early": pd.to_datetime(early, format="ISO8601").as_unit("s"),
            "时长 span": pd.to_timedelta(["1 day", None, "36h", "90s", "0s", "-1h"]),
            "杂 mixed": [np.int64(5), 2.5, "x", [1, 2], Decimal("1.25"), pd.Timedelta(hours=36)],
            "杂二 mixed2": [
                np.float64("nan"),
                np.bool_(False),
                dt.time(7, 30),
                np.datetime64("2026-01-01"),
                math.inf,
                pd.NA,
            ],
            7: ["number header", None, None, None, None, None],
        }
    )
    empty = pd.DataFrame(
        {"日期 day": pd.Series([], dtype=object), "长度 length_m": pd.Series([], dtype=float)}
    )
    return {"people": people, "alleys": empty}


def _pandas_xlsx(labelled: dict[str, pd.DataFrame], path: Path) -> None:
    """The file as it was written before: pandas' ``to_excel`` and the same layout."""
    from geo.patrol_reports import SHEETS

    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": XLSX_OPTIONS}) as xl:
        formats = {
            "percent": xl.book.add_format({"num_format": "0.0%"}),
            "text": xl.book.add_format({"num_format": "@"}),
        }
        for name, df in labelled.items():
            sheet = SHEETS.get(name, name)[:31]
            df.to_excel(xl, sheet_name=sheet, index=False)
            _lay_out(xl.sheets[sheet], df, formats)


def _cells(path: Path) -> dict[str, Any]:
    """What a reader sees of each sheet: its cells (value, type, number format), widths,
    frozen panes and filter."""
    book = openpyxl.load_workbook(path)
    out: dict[str, Any] = {}
    for ws in book.worksheets:
        cells = [
            (c.coordinate, c.value, type(c.value).__name__, c.data_type, c.number_format)
            for row in ws.iter_rows()
            for c in row
        ]
        widths = {k: (d.min, d.max, d.width) for k, d in ws.column_dimensions.items()}
        out[ws.title] = (cells, widths, ws.freeze_panes, ws.auto_filter.ref)
    return out


def test_xlsx_cells_as_pandas_wrote_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell, width, frozen header and filter as pandas wrote them, without pandas'
    per-cell formatter (the slow part: its use fails this test)."""
    tables = _tables()
    _pandas_xlsx(tables, tmp_path / "pandas.xlsx")

    def slow(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pandas' per-cell ExcelFormatter was used")

    monkeypatch.setattr(ExcelFormatter, "get_formatted_cells", slow)
    _write_xlsx(tables, tmp_path / "direct.xlsx", {}, None, None)
    want, got = _cells(tmp_path / "pandas.xlsx"), _cells(tmp_path / "direct.xlsx")
    assert list(got) == list(want) == ["人员 people", "街巷 alleys"]
    for sheet in want:
        assert got[sheet][0] == want[sheet][0], sheet
        assert got[sheet][1:] == want[sheet][1:], sheet
    cells = {c[0]: c for c in got["人员 people"][0]}
    # the cases themselves, as a reader sees them
    assert cells["B3"][1] is None and cells["C4"][1] is None  # "" and missing: empty
    assert cells["C3"][1:4] == ('=HYPERLINK("http://a.example","x")', "str", "s")  # text
    assert cells["F4"][1] == "inf" and cells["F5"][1] == "-inf"  # as pandas: text
    assert cells["J2"][1] == dt.datetime(2026, 10, 1, 7, 25, 0, 123000)  # ms: openpyxl's
    assert cells["J2"][4] == "YYYY-MM-DD HH:MM:SS" and cells["A2"][4] == "YYYY-MM-DD"
    assert cells["E2"][4] == "0.0%" and cells["B2"][4] == "@"
    assert cells["P1"][1] == 7  # a header that is a number stays one, as before
