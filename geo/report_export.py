"""Patrol reports written for people: CSV and XLSX files with Chinese-first headers, and
JSON. The numbers come from :mod:`geo.patrol_reports`; this module only says them (labels,
rounding, yes/no, percentages, the sheet that says which days a report covers).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from geo.errors import InputError
from geo.patrol_reports import (
    ABOUT_SHEET,
    KIND_LABELS,
    SHARE_LABEL,
    SHEETS,
    TABLES,
    report_summary,
    role_label,
)
from geo.report_areas import AREA_LEVELS
from geo.report_period import RUNNING_NOTE_ZH, Period, zone_zh
from geo.settings import get_settings

# decimals written to CSV/XLSX (shares to 0.1 %, metres to 0.1 m); JSON keeps full values
ROUND = {
    "compliance": 4,
    "walked_share": 4,
    "walked_fraction": 4,
    "covered_share": 4,
    "covered_fraction": 4,
    "walked_m": 1,
    "covered_m": 1,
    "assigned_m": 1,
    "length_m": 1,
}

# The Chinese label of each field: the header of a CSV/XLSX column is the label, a space and
# the field's JSON key ("人员编号 person_code"), so a file and the JSON name a column alike
# and a script reads the key as the header's last word. WHY: the file said "人员编号 person id"
# for the JSON's person_code and "系统编号 system id" for its person_id (acceptance tester).
# The labels say 街巷 (streets and alleys): a street chief's rows count streets, a steward's
# alleys, under the same headers (the keys keep the JSON's names, alley_days for both).
LABELS = {
    "day": "日期",
    "period": "周期",
    "role": "职责",
    "person_id": "系统编号",
    "person_code": "人员编号",
    "person_name": "姓名",
    "alleys": "街巷数",
    "patrolled_alleys": "已巡街巷",
    "compliance": "达标率",
    "assigned_m": "责任长度(米)",
    "walked_m": "巡查长度(米)",
    "rank": "排名",
    "days": "天数",
    "alley_days": "街巷·天",
    "patrolled_alley_days": "已巡街巷·天",
    "alley_id": "街巷编号",
    "alley_name": "街巷名称",
    "length_m": "长度(米)",
    "walked_share": "巡查比例",
    "patrolled": "已巡",
    "community_code": "社区编码",
    "community_name": "社区",
    "subdistrict_code": "街道编码",
    "subdistrict_name": "街道",
    # the area rows' district (T50 #11); 区 as the level's label says it
    "district_code": "区编码",
    "district_name": "区",
    "level": "层级",
    "people": "责任人",
    "person_codes": "责任人编号",
    "first_time": "首次时间",
    "last_time": "末次时间",
    "pending": "待巡(今天未计)",
    "unstaffed": "无人负责·天",
    "credited": "计入",
    "holder_walked_m": "各人走过(米)",
    "segment_id": "路段编号",
    "kind": "类型",
    "walked_fraction": "走过比例",
    "late_uploads": "迟传轨迹",
    # the longest delay of the row's late uploads, in whole days (T52 #18)
    "late_days_max": "迟传最长天数",
    # flagged tracks that credited the row (T52 #12): evaluators' views only
    "suspect_tracks": "可疑轨迹",
    # the row's patrolled street/alley-days earned by walks over midnight (T69 #5)
    "midnight_alley_days": "跨零点已巡街巷·天",
    # walked_m counts the walking only; covered_* a chief's parallel ways beside it too,
    # and patrolled is judged on them (T40 #7)
    "covered_m": "覆盖长度(米)",
    "covered_share": "覆盖比例",
    "covered_fraction": "覆盖比例",
    # the days of a week or month the person held a duty (T43 #11)
    "first_day": "在岗首日",
    "last_day": "在岗末日",
}
HEADERS = {key: f"{label} {key}" for key, label in LABELS.items()}

# Codes: identifiers made of digits (area codes such as 110108015002, registry ids such as
# 007) that Excel and WPS read as numbers when they open a CSV: 1.10108E+11, 7. See csv_cell.
CODE_COLUMNS = (
    "person_code",
    "person_codes",
    "community_code",
    "subdistrict_code",
    "district_code",
)


def export_report(
    report: dict[str, pd.DataFrame],
    path: str | Path,
    period: Period | None = None,
    share: float | None = None,
    table: str | None = None,
) -> Path:
    """Write a report: .xlsx (one sheet per table, Chinese-first names, and with ``period`` a
    sheet saying which days it covers, whether it runs and what is pending) or .csv (one
    table: ``table``, default ``people``; ``segments`` only in a daily report). Roles and
    kinds are written as their labels and missing times as empty cells: the readers are
    people, not programs."""
    from geo.vector_io import atomic_file

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(
            f"报表文件 {path.name} 的类型 '{suffix}' 不支持，只能写成 .csv 或 .xlsx 文件 "
            f"{path.name}: reports are written as .csv or .xlsx, not '{suffix}'"
        )
    if suffix == ".csv":
        table = check_table(table, period.kind if period else None, report)
    elif table is not None:
        raise InputError(
            f"选表 '{table}' 只用于 .csv 文件，.xlsx 含全部表 "
            f"table '{table}' picks the table of a .csv file: an .xlsx holds every table"
        )
    tz = get_settings().timezone
    people = report.get("people")
    names: dict[Any, Any] = (  # by id: a name may itself hold "、"
        dict(zip(people["person_id"], people["person_name"], strict=True))
        if people is not None and {"person_id", "person_name"} <= set(people.columns)
        else {}
    )
    codes: dict[Any, Any] = (
        dict(zip(people["person_id"], people["person_code"], strict=True))
        if people is not None and {"person_id", "person_code"} <= set(people.columns)
        else {}
    )
    labelled = {}
    for name, df in report.items():
        if suffix == ".csv" and name != table:
            continue
        out = df.copy()
        if "holder_walked_m" in out.columns and "person_ids" in out.columns:
            out["holder_walked_m"] = [  # "王小巷 0.0、李小巷 600.0": who walked what
                _holders_walked(ids, joined, w, names)
                for ids, joined, w in zip(
                    out["person_ids"],
                    out.get("people", out["person_ids"]),
                    out["holder_walked_m"],
                    strict=True,
                )
            ]
        if "credited" in out.columns and "credited_ids" in out.columns:
            # 张兰玉（DEMO0030）: the holders have their 责任人编号 column, the credited had
            # names only (T55 #9)
            out["credited"] = [
                _with_codes(ids, joined, names, codes)
                for ids, joined in zip(out["credited_ids"], out["credited"], strict=True)
            ]
        # the names say it for people
        out = out.drop(columns=["person_ids", "credited_ids"], errors="ignore")
        for col in out.columns:  # local wall-clock times: Excel has no time zones
            if col in ("first_time", "last_time") and out[col].dtype == object:
                out[col] = pd.to_datetime(out[col], utc=True)  # all-missing columns
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_convert(tz).dt.tz_localize(None)
                if suffix == ".csv":
                    out[col] = csv_times(out[col])
            elif col in ROUND and pd.api.types.is_numeric_dtype(out[col]):
                out[col] = out[col].astype(float).round(ROUND[col])
        for col in out.columns:  # yes/no as the 报表 sheet says it, not TRUE/FALSE
            if _is_flag(out[col]):
                out[col] = out[col].map(lambda v: YES_NO.get(v, v) if isinstance(v, bool) else v)
        if "role" in out.columns:
            out["role"] = out["role"].map(role_label)
        if "level" in out.columns:
            out["level"] = out["level"].map(AREA_LEVELS)
        if "kind" in out.columns:
            out["kind"] = out["kind"].map(lambda k: KIND_LABELS.get(k, k))
        out = _codes_as_text(out)
        labelled[name] = (for_csv(out) if suffix == ".csv" else out).rename(columns=HEADERS)
    try:
        # as every file-mode --out: a missing folder is made, and the file is written beside
        # its name and renamed (a failed write leaves no half-written report)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            if suffix == ".csv":
                labelled[table].to_csv(tmp, index=False, encoding="utf-8-sig")
            else:
                _write_xlsx(labelled, tmp, report, period, share)
    except OSError as exc:  # a folder under a file, a read-only place, a full disk
        why = exc.strerror or type(exc).__name__
        raise InputError(
            f"无法写入报表文件 {path}（{why}）：请换一个可写的文件夹 cannot write {path}: {why}"
        ) from None
    return path


def _write_xlsx(
    labelled: dict[str, pd.DataFrame],
    path: Path,
    report: dict[str, pd.DataFrame],
    period: Period | None,
    share: float | None,
) -> None:
    """The XLSX of :func:`export_report`: a sheet per table, and the 报表 sheet. Written with
    xlsxwriter cell by cell, typed as pandas' ``to_excel`` typed them: its per-cell objects
    and styles were 60 % of the 6 s a city month's file took to write (T59)."""
    # opened here, as pandas did: an unwritable place is an OSError, not xlsxwriter's own
    with open(path, "wb") as fh, xlsxwriter.Workbook(fh, XLSX_OPTIONS) as book:
        formats = {
            "percent": book.add_format({"num_format": "0.0%"}),
            "text": book.add_format({"num_format": "@"}),  # a code typed in stays text
            # pandas' formats of dates and times
            "date": book.add_format({"num_format": "YYYY-MM-DD"}),
            "datetime": book.add_format({"num_format": "YYYY-MM-DD HH:MM:SS"}),
            "days": book.add_format({"num_format": "0"}),
        }
        for name, df in labelled.items():
            sheet = book.add_worksheet(SHEETS.get(name, name)[:31])
            _write_table(sheet, df, formats)
            _lay_out(sheet, df, formats)
        if period is not None:  # last, as before (scripts read the people table first)
            summary = report_summary(report, period)
            summary["signed"] = getattr(report, "meta", {}).get("signed")  # geo.report_signoffs
            about = _about(period, share, summary)
            sheet = book.add_worksheet(ABOUT_SHEET)
            _write_table(sheet, about, formats)
            if share is not None:  # 80%, as the web says it (T71 #5), a number still
                r = about.index[about.iloc[:, 0] == SHARE_LABEL][0] + 1
                whole = float(share * 100).is_integer()
                pct = book.add_format({"num_format": "0%" if whole else "0.0%"})
                sheet.write_number(r, 1, float(share), pct)
            _lay_out(sheet, about, formats, max_width=90)


def _write_table(ws: Any, df: pd.DataFrame, formats: dict[str, Any]) -> None:
    """``df`` on ``ws``: its column names as the header row (plain, as pandas 3 writes
    them), its values below, a missing value (None, NaN, NaT, NA, "") an empty cell."""
    for c, name in enumerate(df.columns):
        _write_cell(ws, 0, c, name, formats)
    for c in range(df.shape[1]):
        _write_column(ws, c, df.iloc[:, c], formats)


def _write_column(ws: Any, c: int, col: pd.Series, formats: dict[str, Any]) -> None:
    """One column's cells from row 1. Whole numeric and time columns by their dtype (the
    bulk of a report: no per-cell type check); other columns cell by cell (:func:`_cell`)."""
    kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else "O"
    if kind in "iu":
        for r, v in enumerate(col.to_numpy().tolist(), 1):
            ws.write_number(r, c, v)
    elif kind == "b":
        for r, v in enumerate(col.to_numpy().tolist(), 1):
            ws.write_boolean(r, c, v)
    elif kind == "f":
        for r, v in enumerate(col.to_numpy().tolist(), 1):
            if v - v == 0:  # neither NaN nor ±inf
                ws.write_number(r, c, v)
            elif v == v:
                ws.write_string(r, c, "inf" if v > 0 else "-inf")
    elif kind == "M":
        stamp, serials = formats["datetime"], _excel_serials(col)
        if serials is None:  # before March 1900: xlsxwriter's own rules
            for r, v in enumerate(col.tolist(), 1):
                if v is not pd.NaT:
                    ws.write_datetime(r, c, v, stamp)
            return
        for r, v in enumerate(serials.tolist(), 1):
            if v == v:  # not NaT
                ws.write_number(r, c, v, stamp)  # a time cell: a number in a time format
    else:
        day = formats["date"]
        for r, v in enumerate(col.tolist(), 1):
            if v.__class__ is str:  # most of them: names, codes, labels
                if v:  # "" is an empty cell, as pandas wrote it
                    ws.write_string(r, c, v)
            elif v.__class__ is dt.date:  # the days of a report
                ws.write_datetime(r, c, v, day)
            else:
                _write_cell(ws, r, c, v, formats)


def _write_cell(ws: Any, r: int, c: int, v: Any, formats: dict[str, Any]) -> None:
    """One cell of any value, as :func:`_cell` says it (nothing for an empty one)."""
    cell = _cell(v)
    if cell is not None:
        ws.write(r, c, cell[0], formats[cell[1]] if cell[1] else None)


# Excel's day 1 is 1900-01-01 (xlsxwriter counts from 1899-12-31); from 1900-03-01 on it
# counts the 29 February 1900 that never was, one day more
_EXCEL_EPOCH = np.datetime64("1899-12-31", "us")
_EXCEL_LEAP = np.datetime64("1900-03-01", "us")
_DAY_US = 86_400_000_000


def _excel_serials(col: pd.Series) -> np.ndarray | None:
    """The Excel serial numbers of a naive time column, the floats xlsxwriter's
    ``write_datetime`` computes one by one (its arithmetic, in numpy: the same bits), NaN
    for NaT; None when a time is before 1900-03-01 (rules this need not repeat)."""
    stamps = col.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(stamps)
    if (stamps[~missing] < _EXCEL_LEAP).any():
        return None
    delta = (stamps - _EXCEL_EPOCH).astype(np.int64)  # microseconds
    days, rest = np.divmod(delta, _DAY_US)
    seconds, micro = np.divmod(rest, 1_000_000)
    serials = days + (seconds.astype(float) + micro.astype(float) / 1e6) / 86400 + 1
    serials[missing] = np.nan
    return serials


def _cell(v: Any) -> tuple[Any, str | None] | None:
    """A value as pandas' ``to_excel`` wrote it, with the name of its number format, or
    None for an empty cell: numbers as numbers (±inf as text), times and dates with their
    formats, durations as days, anything else as its text."""
    if isinstance(v, str):
        return (v, None) if v else None
    if pd.api.types.is_scalar(v) and pd.isna(v):
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v), None
    if pd.api.types.is_integer(v):
        return int(v), None
    if pd.api.types.is_float(v):
        return (float(v), None) if math.isfinite(v) else ("inf" if v > 0 else "-inf", None)
    if isinstance(v, Decimal):
        return v, None
    if isinstance(v, dt.datetime):
        return v, "datetime"
    if isinstance(v, dt.date):
        return v, "date"
    if isinstance(v, dt.timedelta):
        return v.total_seconds() / 86400, "days"
    text = str(v)
    return (text, None) if text else None


# text stays text: a name written "=HYPERLINK(…)" (a registry typo, or an OSM alley name
# someone chose) was a live formula in the sheet
XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False}


def _width(v: Any) -> int:
    """Columns a value takes in Excel or WPS: a CJK character is two."""
    text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _lay_out(
    ws: Any,
    df: pd.DataFrame,
    formats: dict[str, Any],
    max_width: int = 40,
    code_headers: set[str] | None = None,
) -> None:
    """Columns as wide as their header and values (dates and times showed as ######## in
    8.4-character columns), the header row frozen and filterable, shares as percentages,
    codes (``code_headers``, default :data:`CODE_HEADERS`) as text (their cells are strings
    already: this keeps a code typed in as text)."""
    code_headers = CODE_HEADERS if code_headers is None else code_headers
    for i, col in enumerate(df.columns):
        sample = df[col].head(500)
        if col in PERCENT_HEADERS:
            wide = 7
        elif pd.api.types.is_datetime64_any_dtype(sample):
            wide = 19
        else:
            wide = max((_width(v) for v in sample), default=0)
        width = min(max(_width(col), wide) + 2, max_width)
        fmt = "percent" if col in PERCENT_HEADERS else "text" if col in code_headers else None
        ws.set_column(i, i, width, formats.get(fmt) if fmt else None)
    ws.freeze_panes(1, 0)
    if len(df.columns):
        ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _codes_as_text(df: pd.DataFrame, code_columns: tuple[str, ...] = CODE_COLUMNS) -> pd.DataFrame:
    """``df`` with its code columns as text (missing stays missing), so an XLSX writes them
    as string cells and a CSV can mark them, whatever type a code came in."""
    out = df.copy()
    for col in code_columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: v if pd.isna(v) else str(v))
    return out


# how a CSV writes a time: always with its clock, whatever the other times of its column
CSV_TIME = "%Y-%m-%d %H:%M:%S"


def csv_times(col: pd.Series) -> pd.Series:
    """A naive time column as a CSV's text (``2026-11-01 00:00:00``, missing: empty). WHY
    (outside tester T69 #1): pandas writes a column whose times are all at midnight as bare
    dates (``2026-11-01``), so one day's first_time read as a date and another's as a time."""
    return col.dt.strftime(CSV_TIME).astype(object).where(col.notna(), None)


def for_csv(df: pd.DataFrame, code_columns: tuple[str, ...] = CODE_COLUMNS) -> pd.DataFrame:
    """A CSV table as Excel and WPS must read it when they open it (see :func:`csv_cell`).
    Numbers are left alone: -3.5 is a number."""
    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col])):
            continue
        code = col in code_columns
        out[col] = out[col].map(lambda v, code=code: csv_cell(v, code))
    return out


def csv_cell(v: Any, code: bool = False) -> Any:
    """One text cell of a CSV, at most one mark:

    * starting with = + - @ (or a tab or carriage return): a leading ' so it cannot run as a
      formula (OWASP's CSV-injection rule; Excel shows the ', and that is the point);
    * a code (:data:`CODE_COLUMNS`) starting with a digit: a leading tab, so Excel and WPS
      keep it as text, as written (007, 110108015002, 20-digit grid codes).

    WHY a tab for codes: Excel and WPS give a CSV cell no type but the one they guess, and
    they guess a number for digits. ``="007"`` is a formula: other tools read it as that
    text, and the formula rule above would neutralise it anyway. A leading ' is a marker
    Excel honours when typed, but a CSV it opens may show it (versions differ), and here it
    already means "this was a formula". A leading tab keeps the cell text in Excel and WPS,
    is not seen, and a script removes it with strip() (common for 身份证号 in Chinese
    exports). Not verified here in Excel or WPS themselves: the test checks the bytes.
    It cannot start a formula: OWASP lists a leading tab because a reader that drops it
    sees what follows, here only a code that starts with a digit. A cell never gets both:
    a digit is no formula start. The XLSX needs neither: its code cells are strings."""
    if not isinstance(v, str):
        return v
    if v.startswith(_FORMULA_START):
        return "'" + v
    if code and "0" <= v[:1] <= "9":
        return "\t" + v
    return v


YES_NO = {True: "是 yes", False: "否 no"}
# shares written as percentages in an XLSX (kept as fractions: a sheet computes with them)
PERCENT_HEADERS = {
    HEADERS[c]
    for c in ("compliance", "walked_share", "walked_fraction", "covered_share", "covered_fraction")
}
CODE_HEADERS = {HEADERS[c] for c in CODE_COLUMNS}


def _is_flag(col: pd.Series) -> bool:
    """A yes/no column: booleans, perhaps with gaps (a column pandas made object)."""
    if pd.api.types.is_bool_dtype(col):
        return True
    seen = col.dropna()
    return col.dtype == object and len(seen) > 0 and all(isinstance(v, bool) for v in seen)


def check_table(
    table: str | None, kind: str | None = None, report: dict[str, Any] | None = None
) -> str:
    """The CSV table asked for (default ``people``), or an InputError naming the choices;
    ``segments`` exists in daily reports only."""
    table = table or "people"
    if table not in TABLES:
        raise InputError(
            f"没有表 '{table}'，请用 {', '.join(TABLES)} 之一 "
            f"unknown table '{table}': use {', '.join(TABLES)}"
        )
    daily_only = kind not in (None, "daily") or (report is not None and table not in report)
    if table == "segments" and daily_only:
        raise InputError(
            "路段表只在日报中，请查当天的日巡报表 "
            "the segments table (per segment per day) is in daily reports only: "
            "ask for a daily report of the day"
        )
    return table


def _with_codes(ids: Any, joined: Any, names: dict[Any, Any], codes: dict[Any, Any]) -> Any:
    """ "王小巷（DEMO0001）、李小巷（DEMO0002）": the row's people with their registry ids, as
    the people table names them (two stewards of one name told apart); the row's own text
    where the ids are not all known (a steward's own view)."""
    if not isinstance(ids, list) or not ids or not all(codes.get(i) for i in ids):
        return joined
    named = _names_of(ids, joined, names)
    return "、".join(f"{named[i]}（{codes[i]}）" for i in ids)


def _names_of(ids: list[Any], joined: Any, names: dict[Any, Any]) -> dict[Any, Any]:
    """Each of a row's person ``ids`` named as the people table names them, else by the row's
    own "、"-joined names when they split into as many, else by the id."""
    row = str(joined).split("、") if isinstance(joined, str) else []
    own = dict(zip(ids, row, strict=True)) if len(row) == len(ids) else {}
    return {i: names.get(i) or own.get(i) or i for i in ids}


def _holders_walked(ids: Any, joined: Any, walked: Any, names: dict[Any, Any]) -> str | None:
    """ "王小巷 0、李小巷 600": each holder's own metres, named by id (the report's people
    table; a steward's own view has only them, so the row's own list of names fills in
    when it splits into as many names as there are holders)."""
    if not isinstance(walked, list) or not isinstance(ids, list) or len(ids) != len(walked):
        return None
    named = _names_of(ids, joined, names)
    return "、".join(f"{named[i]} {m:g}" for i, m in zip(ids, walked, strict=True))


def _about(
    period: Period, share: float | None = None, summary: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The XLSX sheet that says which days the report covers, by which share, whether the
    period is still running (today's duty-days not done yet are pending), and its notes."""
    area = (summary or {}).get("area")
    rows = [
        ("报表 report", period.title()),
        (
            "区域 area",
            f"{area['name'] or ''} {area['code']}".strip() if area else "全市 whole city",
        ),
        ("起 from", period.start.isoformat()),
        ("止 to", period.through.isoformat()),
        ("天数 days", len(period.days)),
        ("周期止 period to", period.end.isoformat()),
        ("未完 partial", "是 yes" if period.partial else "否 no"),
        ("进行中 running", "是 yes" if period.running else "否 no"),
    ]
    tz = get_settings().timezone
    # the cells' times carry no zone (Excel has none): the sheet names it (T40 #9). Not in
    # the headers: a header is the label and the JSON key, the key its last word
    zh = (
        f"首次时间、末次时间均为{zone_zh(tz)}，按{zone_zh(tz)}分日"
        if zone_zh(tz) != tz
        else f"{tz}：首次时间、末次时间均为 {tz} 当地时间，日期按 {tz} 分日"
    )
    rows.append(
        (
            "时区 time zone",
            f"{zh} first_time and last_time are local times in {tz}, and days are {tz} days",
        )
    )
    if share is not None:
        rows.append((SHARE_LABEL, float(share)))  # a percentage cell (_write_xlsx)
    if summary is not None:
        # which data, and when the file was made: a checker signs the file, not the server
        # (T55 #3); the data's time stays the same when the report is made again unchanged
        rows.append((AS_OF_LABEL, as_of_text(summary)))
        made = pd.Timestamp.now(tz="UTC").isoformat()
        rows.append(("生成时间 made at", local_text(made)))
        rows += _signed_rows(summary.get("signed"), made)
        if period.running:
            rows.append(
                (
                    "待巡 pending",
                    # the count in both languages (T71 #23: the English had none)
                    f"今天有 {summary['pending']} 项街巷·天尚未完成，不计入达标率 "
                    f"{summary['pending']} street/alley-days of today not done yet, "
                    "in no rate",
                )
            )
        notes = [n for n in summary["notes"] if not n.startswith(RUNNING_NOTE_ZH)]
        rows += [("说明 note", n) for n in notes]
    return pd.DataFrame(rows, columns=["项目 item", "值 value"])


def _signed_rows(signed: dict[str, Any] | None, made: str | None) -> list[tuple[str, str]]:
    """The 报表 sheet's rows on the period's signoff (签发, :mod:`geo.report_signoffs`): the
    signed copy says it is one (签发件: version, time, signer) with the signer's note; a live
    file of a signed period says the period was signed and that it is live data made at
    ``made``. WHY: both said 已签发 alike, so a printout could not tell them apart, and the
    note (why version 2 was signed) was in no file (T58 F16, F17)."""
    if not signed:
        return []
    v, sid = signed["version"], signed["id"]
    at, at_en = (local_text(signed["signed_at"], lang=k) for k in ("zh", "en"))
    if not signed.get("copy"):
        made_zh, made_en = (local_text(made, lang=k) for k in ("zh", "en"))
        return [
            (
                "签发 signed",
                f"本期已签发（第 {v} 版，{zh_then(at)}签发，编号 id:{sid}）；本文件是 "
                f"{zh_then(made_zh)}生成的"
                f"实时数据，非签发件，数字可能与签发件不同 the period was signed (version {v}, "
                f"at {at_en}, id {sid}); this file is live data made at {made_en}, not the "
                "signed copy, and its figures may differ from it",
            )
        ]
    by, by_en = signer_text(signed["signed_by"])
    # 由 admin 签发 (a name in Latin letters set apart), 由命令行（系统账号 root）签发
    by = f"由 {by} 签发" if by == signed["signed_by"] else f"由{by}签发"
    rows = [
        (
            "签发 signed",
            f"签发件：第 {v} 版，{zh_then(at)}{by}（编号 id:{sid}） "
            f"the signed copy: version {v}, signed at {at_en} by {by_en} (id {sid})",
        )
    ]
    if signed.get("note"):
        rows.append(("签发说明 signing note", signed["note"]))
    return rows


def zh_then(at: str | None) -> str:
    """A local time as a Chinese sentence goes on after it: ``…（北京时间）签发``, set apart
    by a space after an IANA id (``… Europe/Berlin 签发``)."""
    at = at or ""
    return at if at.endswith("）") else f"{at} "


def signer_text(by: str | None) -> tuple[str, str]:
    """Who signed, as a person reads it, Chinese and English: an account's name as it is;
    the command line's ``cli:root`` (the stored value, :func:`geo.audit.actor_name`) as
    ``命令行（系统账号 root）`` / ``the command line (system account root)``. WHY: an official
    signed copy named an OS account as if it were a person (T71 #39)."""
    who = by or "?"
    if who.startswith("cli:"):
        user = who.removeprefix("cli:")
        return f"命令行（系统账号 {user}）", f"the command line (system account {user})"
    return who, who


AS_OF_LABEL = "数据更新于 data as of"


def as_of_text(summary: dict[str, Any]) -> str:
    """A report summary's ``data_as_of`` as the XLSX and the CLI say it."""
    return local_text(summary.get("data_as_of")) or "尚无数据 no data yet"


def local_text(iso: Any, seconds: bool = True, lang: str = "both") -> str | None:
    """An instant (ISO text or a datetime) as the city's local wall clock with its zone, for
    a value read in both languages (``lang`` "both"): ``2026-11-23 09:12:05（北京时间
    Asia/Shanghai）``; inside a Chinese sentence ("zh"): ``2026-11-23 09:12:05（北京时间）``;
    inside an English one ("en"): ``2026-11-23 09:12:05 Asia/Shanghai``. Another zone is its
    IANA id in both (``2026-11-23 09:12:05 Europe/Berlin``); without the seconds:
    ``2026-11-23 09:12 …``. WHY: a Chinese office says 北京时间 (T71 #21)."""
    if iso is None or (isinstance(iso, str) and not iso):
        return None
    tz = get_settings().timezone
    form = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    at = pd.Timestamp(iso).tz_convert(tz).strftime(form)
    if zone_zh(tz) == tz or lang == "en":
        return f"{at} {tz}"
    return f"{at}（{zone_zh(tz)}）" if lang == "zh" else f"{at}（{zone_zh(tz)} {tz}）"


def report_json(report: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """A report as JSON-ready lists of records (dates as ISO strings, times in the city's
    zone with their offset, missing as null); rows with a ``role`` code also carry its
    ``role_label``. ``columns``: each table's keys, in order, which an empty table's ``[]``
    cannot say (the CSV/XLSX header of a key is ``HEADERS[key]``)."""
    tz = get_settings().timezone
    out: dict[str, Any] = {"columns": {}}
    for name, df in report.items():
        keys = [*df.columns, *(["role_label"] if "role" in df.columns else [])]
        out["columns"][name] = keys
        records = []
        for rec in df.to_dict(orient="records"):
            row = {k: _plain(v, tz) for k, v in rec.items()}
            if "role" in row:
                row["role_label"] = role_label(row["role"])
            records.append(row)
        out[name] = records
    return out


def _plain(v: Any, tz: str | None = None) -> Any:
    """A JSON value. WHY the missing-value test comes first: pandas' NaT is a datetime too,
    and its isoformat() is the string "NaT"."""
    if isinstance(v, (list, tuple, dict)):
        return v
    try:
        if v is None or pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(v, (dt.datetime, pd.Timestamp)) and v.tzinfo is not None and tz:
        return pd.Timestamp(v).tz_convert(tz).isoformat()
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return v
