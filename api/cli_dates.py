"""Days typed on the command line: ``YYYY-MM-DD`` and nothing else, as the API takes them.

WHY (outside tester T57 #6): Python's ``date.fromisoformat`` also reads ``20251231``,
``2025-W01`` (a week's Monday: a daily report then silently gave another day) and
``2020-W53-7``, which the API refuses; and a day that is not on the calendar (2025-02-29) was
told "not YYYY-MM-DD" though it was written so. One reader for every command's day options.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from geo.errors import InputError

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def cli_day(value: str | None, option: str) -> dt.date | None:
    """``value`` as a day (surrounding blanks ignored); None stays None. A refusal names the
    option and the value (cut to 40 characters), and for a day not on the calendar, why."""
    if value is None:
        return None
    shown = value[:40]
    m = _DAY.fullmatch(value.strip())
    if m is None:
        raise InputError(
            f"{option} '{shown}' 不是日期，请写成 YYYY-MM-DD（如 2026-05-12） "
            f"{option} '{shown}' is not a date (YYYY-MM-DD)"
        )
    off = off_calendar(value.strip())
    if off is None:
        year, month, day = (int(g) for g in m.groups())
        return dt.date(year, month, day)
    why_zh, why = off
    raise InputError(
        f"{option} '{shown}' 不是日历上的日期：{why_zh} {option} '{shown}' is not a date: {why}"
    )


def off_calendar(value: str) -> tuple[str, str] | None:
    """Why ``value``, written ``YYYY-MM-DD``, is not on the calendar (Chinese, English:
    "2025 年 2 月只有 28 天", "February 2025 has 28 days"); None for a real day or for any
    other text. Shared with the API's reports (:mod:`api.routes.reports`, T58 F13): the API
    said only "write it as YYYY-MM-DD" of a day written so."""
    m = _DAY.fullmatch(value)
    if m is None:
        return None
    year, month, day = (int(g) for g in m.groups())
    try:
        dt.date(year, month, day)
        return None
    except ValueError:
        pass
    if not 1 <= month <= 12:
        return f"没有 {month} 月", f"there is no month {month}"
    if year < 1:
        return "没有公元 0 年", "there is no year 0"
    days = calendar.monthrange(year, month)[1]
    return (
        f"{year} 年 {month} 月只有 {days} 天",
        f"{calendar.month_name[month]} {year} has {days} days",
    )
