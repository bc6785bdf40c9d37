"""Patrol reports written for people: CSV and XLSX files with Chinese-first headers, and
JSON. The numbers come from :mod:`geo.patrol_reports`; this module only says them (labels,
rounding, yes/no, percentages, the sheet that says which days a report covers).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from geo.errors import InputError
from geo.patrol_reports import (
    ABOUT_SHEET,
    AREA_LEVELS,
    KIND_LABELS,
    RUNNING_NOTE,
    SHEETS,
    TABLES,
    Period,
    report_summary,
    role_label,
)
from geo.settings import get_settings

# decimals written to CSV/XLSX (shares to 0.1 %, metres to 0.1 m); JSON keeps full values
ROUND = {
    "compliance": 4,
    "walked_share": 4,
    "walked_fraction": 4,
    "walked_m": 1,
    "assigned_m": 1,
    "length_m": 1,
}

HEADERS = {
    "day": "日期 day",
    "period": "周期 period",
    "role": "职责 role",
    "person_id": "系统编号 system id",
    "person_code": "人员编号 person id",
    "person_name": "姓名 name",
    "alleys": "街巷数 alleys",
    "patrolled_alleys": "已巡街巷 patrolled",
    "compliance": "巡查率 compliance",
    "assigned_m": "责任长度(米) assigned m",
    "walked_m": "巡查长度(米) walked m",
    "rank": "排名 rank",
    "days": "天数 days",
    "alley_days": "街巷·天 alley-days",
    "patrolled_alley_days": "已巡街巷·天 patrolled alley-days",
    "alley_id": "街巷编号 alley id",
    "alley_name": "街巷名称 alley name",
    "length_m": "长度(米) length m",
    "walked_share": "巡查比例 walked share",
    "patrolled": "已巡 patrolled",
    "community_code": "社区编码 community code",
    "community_name": "社区 community",
    "subdistrict_code": "街道编码 subdistrict code",
    "subdistrict_name": "街道 subdistrict",
    "level": "层级 level",
    "people": "责任人 people",
    "person_codes": "责任人编号 their person ids",
    "first_time": "首次时间 first time",
    "last_time": "末次时间 last time",
    "pending": "待巡(今天未计) pending",
    "unstaffed": "无人负责·天 unstaffed days",
    "credited": "计入 credited",
    "holder_walked_m": "各人走过(米) walked by each",
    "segment_id": "路段编号 segment id",
    "kind": "类型 kind",
    "walked_fraction": "走过比例 walked fraction",
}


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
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(f"{path.name}: reports are written as .csv or .xlsx, not '{suffix}'")
    if suffix == ".csv":
        table = check_table(table, period.kind if period else None, report)
    elif table is not None:
        raise InputError(
            f"table '{table}' picks the table of a .csv file: an .xlsx holds every table"
        )
    tz = get_settings().timezone
    people = report.get("people")
    names: dict[Any, Any] = (  # by id: a name may itself hold "、"
        dict(zip(people["person_id"], people["person_name"], strict=True))
        if people is not None and {"person_id", "person_name"} <= set(people.columns)
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
        # the names say it for people
        out = out.drop(columns=["person_ids", "credited_ids"], errors="ignore")
        for col in out.columns:  # local wall-clock times: Excel has no time zones
            if col in ("first_time", "last_time") and out[col].dtype == object:
                out[col] = pd.to_datetime(out[col], utc=True)  # all-missing columns
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_convert(tz).dt.tz_localize(None)
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
        labelled[name] = out.rename(columns=HEADERS)
    if suffix == ".csv":
        _inert(labelled[table]).to_csv(path, index=False, encoding="utf-8-sig")
        return path
    # text stays text: a name written "=HYPERLINK(…)" (a registry typo, or an OSM alley name
    # someone chose) was a live formula in the sheet
    options = {"strings_to_formulas": False, "strings_to_urls": False}
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": options}) as xl:
        percent = xl.book.add_format({"num_format": "0.0%"})
        for name, df in labelled.items():
            sheet = SHEETS.get(name, name)[:31]
            df.to_excel(xl, sheet_name=sheet, index=False)
            _lay_out(xl.sheets[sheet], df, percent)
        if period is not None:  # last, as before (scripts read the people table first)
            about = _about(period, share, report_summary(report, period))
            about.to_excel(xl, sheet_name=ABOUT_SHEET, index=False)
            _lay_out(xl.sheets[ABOUT_SHEET], about, percent, max_width=90)
    return path


def _width(v: Any) -> int:
    """Columns a value takes in Excel or WPS: a CJK character is two."""
    text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _lay_out(ws: Any, df: pd.DataFrame, percent: Any, max_width: int = 40) -> None:
    """Columns as wide as their header and values (dates and times showed as ######## in
    8.4-character columns), the header row frozen and filterable, shares as percentages."""
    for i, col in enumerate(df.columns):
        sample = df[col].head(500)
        if col in PERCENT_HEADERS:
            wide = 7
        elif pd.api.types.is_datetime64_any_dtype(sample):
            wide = 19
        else:
            wide = max((_width(v) for v in sample), default=0)
        width = min(max(_width(col), wide) + 2, max_width)
        ws.set_column(i, i, width, percent if col in PERCENT_HEADERS else None)
    ws.freeze_panes(1, 0)
    if len(df.columns):
        ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(df: pd.DataFrame) -> pd.DataFrame:
    """A CSV table whose text cells cannot run as formulas when the file is opened in Excel
    or WPS: a cell starting with = + - @ (or a tab or carriage return) gets a leading '
    (OWASP's CSV-injection rule). Numbers are left alone: -3.5 is a number."""
    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col])):
            continue
        out[col] = out[col].map(
            lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
        )
    return out


YES_NO = {True: "是 yes", False: "否 no"}
# shares written as percentages in an XLSX (kept as fractions: a sheet computes with them)
PERCENT_HEADERS = {HEADERS[c] for c in ("compliance", "walked_share", "walked_fraction")}


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
        raise InputError(f"unknown table '{table}': use {', '.join(TABLES)}")
    daily_only = kind not in (None, "daily") or (report is not None and table not in report)
    if table == "segments" and daily_only:
        raise InputError(
            "the segments table (per segment per day) is in daily reports only: "
            "ask for a daily report of the day"
        )
    return table


def _holders_walked(ids: Any, joined: Any, walked: Any, names: dict[Any, Any]) -> str | None:
    """ "王小巷 0、李小巷 600": each holder's own metres, named by id (the report's people
    table; a steward's own view has only them, so the row's own list of names fills in
    when it splits into as many names as there are holders)."""
    if not isinstance(walked, list) or not isinstance(ids, list) or len(ids) != len(walked):
        return None
    row = str(joined).split("、") if isinstance(joined, str) else []
    own = dict(zip(ids, row, strict=True)) if len(row) == len(ids) else {}
    return "、".join(
        f"{names.get(i) or own.get(i) or i} {m:g}" for i, m in zip(ids, walked, strict=True)
    )


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
            f"{area['name'] or ''} {area['code']}".strip() if area else "全部 all areas",
        ),
        ("起 from", period.start.isoformat()),
        ("止 to", period.through.isoformat()),
        ("天数 days", len(period.days)),
        ("周期止 period to", period.end.isoformat()),
        ("未完 partial", "是 yes" if period.partial else "否 no"),
        ("进行中 running", "是 yes" if period.running else "否 no"),
    ]
    if share is not None:
        rows.append(("达标比例 patrolled share", float(share)))
    if summary is not None:
        if period.running:
            rows.append(
                (
                    "待巡 pending",
                    f"{summary['pending']} 今天未完成，不计入巡查率 today's alley-days not "
                    "done yet, not in any rate",
                )
            )
        rows += [("说明 note", n) for n in summary["notes"] if not n.startswith(RUNNING_NOTE)]
    return pd.DataFrame(rows, columns=["项目 item", "值 value"])


def report_json(report: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """A report as JSON-ready lists of records (dates as ISO strings, times in the city's
    zone with their offset, missing as null); rows with a ``role`` code also carry its
    ``role_label``."""
    tz = get_settings().timezone
    out: dict[str, Any] = {}
    for name, df in report.items():
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
