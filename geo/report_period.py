"""The days a report covers: daily patrol (日巡), weekly check (周查), monthly evaluation
(月评), cut at the city's today (:class:`Period`, :func:`report_period`).

Apart from :mod:`geo.patrol_reports` because it reads no data: the export, the patrol map
and the notes name a period without loading one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from geo.errors import InputError
from geo.settings import city_today, get_settings
from geo.track_days import EARLIEST_DAY

KINDS = {
    "daily": "日巡 daily patrol",
    "weekly": "周查 weekly check",
    "monthly": "月评 monthly evaluation",
}
# Upload refuses fix times before 1990 (geo.tracks.parse), so no patrol is older; pandas
# could not hold year 1 anyway. 1990-01-01 is a Monday, so no week or month straddles it.
EARLIEST = EARLIEST_DAY


# the IANA zone a Chinese office calls 北京时间
BEIJING = "Asia/Shanghai"


def zone_zh(tz: str) -> str:
    """The city's zone as the Chinese part of a text names it: 北京时间 for Asia/Shanghai,
    else its IANA id. WHY: an office says 北京时间, and a bare IANA id in Chinese is jargon
    (T71 #21); the English keeps the id."""
    return "北京时间" if tz == BEIJING else tz


RUNNING_NOTE_ZH, RUNNING_NOTE_EN = "今天未完成的不计", "today not counted unless done"
RUNNING_NOTE = f"{RUNNING_NOTE_ZH} {RUNNING_NOTE_EN}"


@dataclass(frozen=True)
class Period:
    """The days a report covers: its whole period, cut at the city's today (WHY: a day that
    has not happened yet is not a missed patrol)."""

    kind: str
    start: dt.date
    end: dt.date  # last day of the whole period
    through: dt.date  # last day covered: ``end``, or today while the period runs
    today: dt.date | None = None  # the city's today the period was cut at

    @property
    def days(self) -> list[dt.date]:
        n = (self.through - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(n)]

    @property
    def partial(self) -> bool:
        return self.through < self.end

    @property
    def running(self) -> bool:
        """Today lies in the period: today's unpatrolled duty-days are pending, not missed."""
        return self.today is not None and self.start <= self.today <= self.end

    def span(self, en: bool = False) -> str:
        """The whole period as people name it: a day, a week's two ends (``2026-11-23 至
        2026-11-29``, in English ``… to …``; T71 #30: an en dash in the Chinese, where the
        same page wrote 至), or a month."""
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "monthly":
            return f"{self.start:%Y-%m}"
        return f"{self.start} {'to' if en else '至'} {self.end}"

    def title(self) -> str:
        """Chinese first, and how far a running period goes (for the CLI and XLSX)."""
        head = f"{KINDS[self.kind]} {self.span()}"
        if not self.partial:
            return f"{head} (进行中 running; {RUNNING_NOTE})" if self.running else head
        total = (self.end - self.start).days + 1
        days = f"截至 through {self.through}, {len(self.days)}/{total} 天 days"
        return f"{head} ({days}; {RUNNING_NOTE})" if self.running else f"{head} ({days})"

    def title_zh(self) -> str:
        """:meth:`title` in Chinese only (for a line whose English follows)."""
        head = f"{KINDS[self.kind].split()[0]} {self.span()}"
        total = (self.end - self.start).days + 1
        parts = [f"截至 {self.through}，{len(self.days)}/{total} 天"] if self.partial else []
        parts += [f"进行中，{RUNNING_NOTE_ZH}"] if self.running else []
        return f"{head}（{'；'.join(parts)}）" if parts else head

    def meta(self) -> dict[str, Any]:
        """JSON fields: the days covered (``from``–``to``) and the whole period."""
        return {
            "label": KINDS[self.kind],
            "from": self.start.isoformat(),
            "to": self.through.isoformat(),
            "days": len(self.days),
            "period_from": self.start.isoformat(),
            "period_to": self.end.isoformat(),
            "partial": self.partial,
            "running": self.running,
        }


def report_period(kind: str, day: dt.date, today: dt.date | None = None) -> Period:
    """The period of ``kind`` holding ``day`` (the day, its ISO week from Monday, its month),
    up to ``today`` (default: the city's). A period not begun yet is an error, not an empty
    or all-missed report."""
    if kind not in KINDS:
        raise InputError(
            f"报表类型 '{kind}' 有误，请用 daily（日巡）、weekly（周查）或 monthly（月评） "
            f"unknown report '{kind}': use daily, weekly or monthly"
        )
    if day < EARLIEST:
        raise InputError(
            f"日期 {day} 早于 {EARLIEST}，没有这么早的巡查记录 "
            f"date {day} is before {EARLIEST}: there are no patrols that old"
        )
    today = today or city_today()
    if kind == "daily":
        start, what = day, f"{day}"
        what_zh = f"{day} 这一天"
    elif kind == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        what = f"the week starting {start}"
        what_zh = f"从 {start} 开始的一周"
    else:
        start, what = day.replace(day=1), f"{day:%Y-%m}"
        what_zh = f"{day:%Y-%m} 这个月"
    if start > today:  # checked before the end is computed: the end of 9999-12 overflows
        tz = get_settings().timezone
        raise InputError(
            f"报表期尚未开始：{what_zh}在将来，今天是 {today}（{zone_zh(tz)}） "
            f"{what} is in the future: today is {today} ({tz})"
        )
    if kind == "daily":
        end = day
    elif kind == "weekly":
        end = start + dt.timedelta(days=6)
    else:
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return Period(kind, start, end, min(end, today), today)
