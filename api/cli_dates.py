"""Days typed on the command line: ``YYYY-MM-DD`` and nothing else, as the API takes them.

WHY (outside tester T57 #6): Python's ``date.fromisoformat`` also reads ``20251231``,
``2025-W01`` (a week's Monday: a daily report then silently gave another day) and
``2020-W53-7``, which the API refuses; and a day that is not on the calendar (2025-02-29) was
told "not YYYY-MM-DD" though it was written so. One reader for every command's day options.
"""

from __future__ import annotations

import datetime as dt
import re

from geo.errors import InputError
from geo.track_days import off_calendar

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
