"""A census table (户数统计表) as the office has it: a CSV (UTF-8 or GB18030, as Excel saves
it) or an Excel workbook (.xlsx/.xlsm), perhaps with a title row above the header and
合计/小计/制表人 rows in or below the table.

Each row keeps the number the spreadsheet shows for it (the header's row counted, and any
title row above it): every message of the households import names rows by that number
(outside tester T46 #15: one file got two numbering schemes in two messages).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geo.errors import InputError
from geo.vector_io import csv_text

TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
# spreadsheets this import does not read (as the people roster does not): named in the refusal
OTHER_SHEETS = {".xls", ".ods", ".et", ".numbers", ".fods"}
# the header is looked for among the first HEAD_ROWS non-blank rows (title rows above it)
HEAD_ROWS = 10


@dataclass
class CensusTable:
    """The table found in a file: ``frame`` holds text cells (None when empty) under the
    header's names, indexed by each row's number in the spreadsheet; ``columns`` the header's
    non-empty names as the file writes them; ``warnings`` name the rows left out."""

    frame: pd.DataFrame
    columns: list[str]
    warnings: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    """A cell's text: None when empty; an integral float without its ".0" (Excel stores
    131 and building id 4 as numbers)."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    text = str(value).strip()
    return text or None


def _csv_rows(path: Path, raw: bytes) -> list[list[str | None]]:
    decoded = csv_text(path, raw)
    try:
        return [[_text(c) for c in r] for r in csv.reader(io.StringIO(decoded))]
    except csv.Error as exc:
        raise InputError(
            f"文件 {path.name} 无法作为 CSV 读取（{exc}） {path.name}: unreadable CSV ({exc})"
        ) from None


def _xlsx_rows(path: Path, raw: bytes) -> list[list[str | None]]:
    """The first sheet's rows from its row 1 (blank rows kept: the numbers stay Excel's),
    after the size checks a people roster meets (:func:`geo.assign.people.read_workbook`)."""
    import warnings

    import openpyxl

    from geo.assign.people import unreadable
    from geo.settings import get_settings
    from geo.tracks.parse_table import XLSX_MAX_COLUMNS, check_workbook_size

    try:
        check_workbook_size(raw, get_settings().max_upload_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no default style" and the like: not the user's
            wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
            try:
                if not wb.worksheets:
                    return []
                ws = wb.worksheets[0]
                ws.reset_dimensions()  # a sheet's stated size may be wrong
                return [
                    [_text(v) for v in row]
                    for row in ws.iter_rows(min_row=1, max_col=XLSX_MAX_COLUMNS, values_only=True)
                ]
            finally:
                wb.close()
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # openpyxl on a broken zip raises anything
        raise unreadable(path.name, exc) from None


def _filled(row: list[str | None]) -> list[str]:
    return [c for c in row if c]


def _shown(rows: list[tuple[int, list[str | None]]]) -> tuple[str, str]:
    """Rows left out as a warning names them: (their numbers, their text cut to 80)."""
    numbers = "、".join(str(n) for n, _r in rows[:10]) + ("…" if len(rows) > 10 else "")
    text = "; ".join(" ".join(_filled(r)) for _n, r in rows)[:80]
    return numbers, text


def read_census(path: Path, header_names: tuple[str, ...]) -> CensusTable:
    """The census table of ``path`` (a CSV or an XLSX): the header is the first of the first
    :data:`HEAD_ROWS` non-blank rows with a cell naming one of ``header_names`` (the
    households column), else the first non-blank row; rows above it are left out, and so are
    summary and note rows (合计, 小计, 总计, 制表人：…) that give no lon/lat pair, each named in
    a warning."""
    from geo.people_import import is_summary_row

    raw = path.read_bytes()
    suffix = path.suffix.lower()
    rows = _xlsx_rows(path, raw) if suffix in (".xlsx", ".xlsm") else _csv_rows(path, raw)
    wanted = {n.lower() for n in header_names}
    top: int | None = None
    seen = 0
    for i, row in enumerate(rows):
        if not _filled(row):
            continue
        if top is None:
            top = i  # the first non-blank row, unless a later one names the column
        if any(c.lower() in wanted for c in _filled(row)):
            top = i
            break
        seen += 1
        if seen == HEAD_ROWS:
            break
    if top is None:
        raise InputError(f"文件 {path.name} 没有数据行 {path.name}: the file has no rows")
    header = [c or "" for c in rows[top]]
    while header and not header[-1]:
        header.pop()
    names: list[str] = []
    for j, c in enumerate(header):  # empty or repeated names: unique, never pandas' Unnamed
        name = c or f"#{j + 1}"
        while name in names:
            name += "_"
        names.append(name)
    lower = [n.lower() for n in names]
    from geo.vector_io import LAT_NAMES, LON_NAMES

    xy = [j for j, n in enumerate(lower) if n in LON_NAMES or n in LAT_NAMES][:2]
    warnings: list[str] = []
    above = [(i + 1, r) for i, r in enumerate(rows[:top]) if _filled(r)]
    if above:
        numbers, text = _shown(above)
        # (T46 #7) a title row above the header, as Excel saves a census: left out, named
        warnings.append(
            f"表头在第 {top + 1} 行，其上方的第 {numbers} 行未读入（{text!r}） "
            f"the header is row {top + 1}: the row(s) above it were left out: {text!r}"
        )
    body: list[tuple[int, list[str | None]]] = []
    summaries: list[tuple[int, list[str | None]]] = []
    for i in range(top + 1, len(rows)):
        row = rows[i]
        if not _filled(row):
            continue
        # (T46 #7) 合计/小计 and 制表人 rows: no building, and no lon/lat pair to be one
        if is_summary_row(row, xy):
            summaries.append((i + 1, row))
            continue
        body.append((i + 1, (row + [None] * len(names))[: len(names)]))
    if summaries:
        numbers, text = _shown(summaries)
        warnings.append(
            f"第 {numbers} 行是合计或说明，未读入（{text!r}） "
            f"{len(summaries)} summary or note row(s) were left out: {text!r}"
        )
    frame = pd.DataFrame(
        [r for _n, r in body], columns=names, index=[n for n, _r in body], dtype=object
    )
    return CensusTable(frame, [n for n in header if n], warnings)
