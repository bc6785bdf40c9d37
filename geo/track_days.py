"""The city's local days and times of walks: which stored walks fall on a range of local days
(SPAN_OVERLAPS, :func:`local_days`), and an instant as the city's local time (:func:`local_iso`).

Apart from the store because reports, listings, the match queue, the map and the day networks
all select or show walks by local day, and none of them needs the upload path to do so.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from geo.errors import InputError
from geo.settings import get_settings

# Tracks (alias ``t``) whose walk overlaps the time range [:start, :end); either bound may be
# NULL (open). Written as the expression of the GiST index ix_tracks_span so it is used.
SPAN_OVERLAPS = (
    "t.started_at IS NOT NULL AND tstzrange(t.started_at, t.ended_at, '[]') && "
    "tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz), '[)')"
)


# the days a walk can fall on (uploads refuse fixes before 1990 or after 2100): a date outside
# is a typo, and year 9999 + 1 day overflowed into a 500. The one place of these bounds:
# reports, duties and the patrol map take them from here (T57 #8: the map refused days before
# 2000 that uploads and reports took)
EARLIEST_DAY, LATEST_DAY = dt.date(1990, 1, 1), dt.date(2100, 12, 31)


_DAY_ZH = {"since": "起始日期", "until": "结束日期"}


def local_days(
    since: dt.date | None, until: dt.date | None, tz: str | None = None
) -> dict[str, dt.datetime | None]:
    """``{"start", "end"}`` for SPAN_OVERLAPS: the local days ``since`` to ``until`` (both
    included) in the city's time zone as a UTC-comparable range; a missing day leaves that
    side open. Reports, rematch and listings all count a walk on its local day."""
    if since is not None and until is not None and since > until:
        raise InputError(
            f"起始日期 {since} 晚于结束日期 {until}，请对调 since {since} is after until {until}"
        )
    for name, day in (("since", since), ("until", until)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InputError(
                f"{_DAY_ZH[name]}（{name}）{day} 超出范围，巡查日期须在 {EARLIEST_DAY} 至 "
                f"{LATEST_DAY} 之间 "
                f"{name} {day} is out of range: walks are dated {EARLIEST_DAY} to {LATEST_DAY}"
            )
    zone = ZoneInfo(tz or get_settings().timezone)

    def midnight(day: dt.date | None) -> dt.datetime | None:
        return None if day is None else dt.datetime.combine(day, dt.time.min, tzinfo=zone)

    return {
        "start": midnight(since),
        "end": midnight(until + dt.timedelta(days=1) if until is not None else None),
    }


def local_iso(t: Any) -> str | None:
    """An instant as the city's local time, as every other answer about tracks gives it."""
    if t is None or t is pd.NaT:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(get_settings().timezone)
    return ts.isoformat()


_YMD = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def off_calendar(value: str) -> tuple[str, str] | None:
    """Why ``value``, written ``YYYY-MM-DD``, is not on the calendar (Chinese, English:
    "2025 年 2 月只有 28 天", "February 2025 has 28 days"); None for a real day or for any
    other text. The CLI's days (:mod:`api.cli_dates`) and every API date (the validation
    errors, :mod:`api.errors`) say it alike (T58 F13: the API said only "write it as
    YYYY-MM-DD" of a day written so)."""
    m = _YMD.fullmatch(value)
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


def refuse_ahead(day: dt.date | None, option: str) -> None:
    """Refuse a day after the city's today, as reports refuse a period not begun: a re-match
    of a future day matched nothing and said so as done (T57 #7)."""
    from geo.settings import city_today

    today = city_today()
    if day is not None and day > today:
        tz = get_settings().timezone
        raise InputError(
            f"{option} {day} 还没到（本市今天是 {today}，{tz}），这天还没有巡查轨迹 "
            f"{option} {day} is after today ({today} in {tz}): no walks on that day yet"
        )
