"""Read the time values of a track file as UTC instants.

Kept apart from :mod:`geo.tracks.parse` because phones and spreadsheets write times in many
local forms (epoch units told by magnitude, compact digits, Excel serial days, Chinese dates,
zone words such as ``CST`` or ``GMT+8``) and each rule needs its own tests; every reader
(GPX, KML, GeoJSON, CSV, XLSX, NMEA) ends here.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.errors import InputError, count_en
from geo.library_words import time_zh
from geo.tracks.parse_raw import short as _short

DEFAULT_TZ = "Asia/Shanghai"
_ZONE_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)
# a time of day alone (no date): "09:00:00", "9:00", "08:00:05.5 PM"
_TOD_RE = re.compile(r"\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?")
# "…08:00:00+08": an hour-only UTC offset after a time
_HOUR_ZONE_RE = re.compile(r"(:\d\d(?:\.\d+)?)\s*([+-]\d\d)$")
_CN_DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*")
# 10时05分30秒 (or 点 for 时, 秒 left out): a clock written in words
_CN_CLOCK_RE = re.compile(r"(\d{1,2})\s*[时点]\s*(\d{1,2})\s*分(?:\s*(\d{1,2}(?:\.\d+)?)\s*秒)?")
_CN_AMPM_RE = re.compile(r"(上午|下午)\s*(\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?)")
# 05/11/2026, 05.11.2026, 05-11-2026: day/month order decided once per file
_DMY_RE = r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})((?:[ T].*)?)$"
# 26/11/22, 22.11.26, 11-22-26: a two-digit year, where it stands decided once per file
_YY_RE = r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{1,2})((?:[ T].*)?)$"
# where the year, month and day of such a date stand, by the orders people write
_YY_ORDERS = {
    "year/month/day": (0, 1, 2),  # 26/11/22: Chinese short dates
    "day/month/year": (2, 1, 0),  # 22/11/26: British, European
    "month/day/year": (2, 0, 1),  # 11/22/26: American
}
_YY_ORDERS_ZH = {
    "year/month/day": "年/月/日",
    "day/month/year": "日/月/年",
    "month/day/year": "月/日/年",
}
# the most days apart the dates of one track file lie (a walk, the walks of some weeks)
_YY_SPAN_DAYS = 92
# the words a refusal of dates for their order starts with (DateOrderError)
DATE_ORDER_TAGS = ("日期有歧义", "日期顺序不一")
_COMPACT_RE = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?")
# a zone written as words after the time: "… CST" (China Standard Time, as Java's Date and
# Chinese apps write it), "… GMT+8", "…(UTC+08:00)", "… 北京时间"; not the end of a longer
# word ("ACST" is Australian Central); bounded runs only, so a search from every position of
# a long value stays linear
_ZONE_WORD_RE = re.compile(
    r"\s{0,3}[(（\[【]?\s{0,3}"
    r"(?<![A-Za-z])(?:(CST|北京时间)|(?:GMT|UTC)\s{0,2}([+-])\s{0,2}(\d{1,2})(?::?(\d\d))?)"
    r"\s{0,3}[)）\]】]?$"
)
_ZONE_WORD_MAX = 32  # the longest text _ZONE_WORD_RE matches is 28 characters
# "北京时间 2026-11-20 08:00:00", "北京时间：…": the same zone written before the time
_ZONE_WORD_LEAD_RE = re.compile(r"^[(（\[【]?北京时间[)）\]】:：]?\s{0,3}")
# Java's Date.toString(), which Android apps write: "Fri Nov 20 08:00:00 CST 2026"
_JAVA_DATE_RE = re.compile(
    r"(?:[A-Z][a-z]{2},?\s{1,2})?([A-Z][a-z]{2})\s{1,2}(\d{1,2})\s{1,2}"
    r"(\d{1,2}:\d\d:\d\d(?:\.\d{1,9})?)\s{1,2}([A-Z]{3}(?:[+-]\d\d:?\d\d)?)\s{1,2}(\d{4})"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# Excel stores a date-time as days since 1899-12-30 (its "serial" number, the fraction being
# the time of day); a sheet saved as CSV writes it so when the cell is not formatted as a date.
# A workbook in the 1904 date system (old Mac Excel) counts from 1904-01-01 instead: an XLSX
# says which (openpyxl's ``wb.epoch``); a CSV cannot, so its numbers are read with 1900's.
_EXCEL_DAY0 = np.datetime64("1899-12-30", "s")
_EXCEL_DAY0_1904 = np.datetime64("1904-01-01", "s")


def excel_day0(mac_1904: bool = False) -> np.datetime64:
    """Day 0 of Excel serial numbers: 1899-12-30, or 1904-01-01 in the 1904 date system."""
    return _EXCEL_DAY0_1904 if mac_1904 else _EXCEL_DAY0


def serial_range(day0: np.datetime64 = _EXCEL_DAY0) -> tuple[float, float]:
    """The serial numbers of 1990-01-01 and 2100-01-01 counted from ``day0``: the days a
    track can fall on."""
    day = np.timedelta64(1, "D")
    lo, hi = np.datetime64("1990-01-01", "s"), np.datetime64("2100-01-01", "s")
    return float((lo - day0) / day), float((hi - day0) / day)


def zoneless(values: list[Any]) -> bool:
    """Whether the first text time among ``values`` is written without a zone, judged as
    :func:`parse_times` judges it (zone words such as ``CST`` or ``+08`` rewritten first, a
    trailing ``UTC``/``GMT`` read by pandas): what GPX times should never be."""
    for v in values:
        if type(v) is str and v.strip():
            (t,) = _zone_forms([v.strip()])
            if t.upper().endswith(("UTC", "GMT")):
                return False
            return _ZONE_RE.search(t, max(len(t) - 6, 0)) is None
    return False


def parse_times(
    values: list[Any],
    default_tz: str = DEFAULT_TZ,
    mac_1904: bool = False,
    field: str | None = "column",
    warnings: list[str] | None = None,
) -> pd.Series:
    """Times as tz-aware UTC; NaT where missing. ISO 8601 and the usual local forms, compact
    ``yyyymmddHHMMSS``, epoch seconds / ms / µs / ns (told apart by magnitude), Excel serial
    days (local time; counted from 1904-01-01 when ``mac_1904``, see :func:`excel_day0`), zone
    words (``CST``, ``GMT+8``, ``UTC+08:00``, ``北京时间``: +08:00).

    A time without a zone is local time in ``default_tz``. A time of day without a date is
    refused: it would silently land on today. Values whose epoch would overflow come out as
    a time after 2100, which :func:`_finish` drops as an impossible clock. A value pandas
    cannot read is refused with a :class:`TimeValueError`, which names it and its index.

    ``field`` is what holds the times in the file, for the remedies: "column" (a table's:
    add a date column), "property" (a GeoJSON feature's: 属性, not 列), None (GPX, KML, NMEA).

    Zone-less times on a day ``default_tz`` changes its clocks are read by
    :func:`localize`: those in the skipped hour with the offset before the switch (a warning
    is appended to ``warnings``), those in the repeated hour by their order, else refused.

    Plain Python over the values where pandas' string accessors would run (strip, the zone
    test) and one assignment per kind into a numpy array: pandas spent ~11 ms on a
    1,300-fix phone track here, most of the parse time of an upload (now ~3 ms).
    """
    n = len(values)
    texts = [v.strip() if type(v) is str else "" if _missing(v) else str(v).strip() for v in values]
    present = np.fromiter((t != "" for t in texts), dtype=bool, count=n)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if not present.any():
        return _utc_series(out)
    where = np.flatnonzero(present)
    text = [texts[i] for i in where]
    if _is_number(text[0]):
        if all(_COMPACT_RE.fullmatch(t) for t in text):
            text = [_COMPACT_RE.sub(r"\1-\2-\3 \4:\5:\6\7", t) for t in text]
        else:
            serial = _excel_serial_ns(text, default_tz, excel_day0(mac_1904), field, warnings)
            if serial is not None:
                out[where] = serial
                return _utc_series(out)
            epoch = _epoch_ns(text)
            if epoch is not None:
                out[where] = epoch
                return _utc_series(out)
    text = _normalise_dates(text, field)
    # a zone is at most 6 characters at the end ("+08:00"): searched there, not from the start
    zoned = np.fromiter(
        (_ZONE_RE.search(t, len(t) - 6) is not None for t in text), bool, count=len(text)
    )
    try:
        if zoned.any():
            zt = [t for t, k in zip(text, zoned, strict=True) if k]
            try:
                z = pd.to_datetime(zt, utc=True, format="ISO8601")
            except ValueError:  # "2026/11/20 08:00:00+08:00" (a zone word rewritten)
                z = pd.to_datetime(zt, utc=True, format="mixed")
            out[where[zoned]] = _naive_utc(z)
        local = None
        if not zoned.all():
            local = pd.to_datetime(
                [t for t, k in zip(text, zoned, strict=True) if not k], format="mixed"
            )
    except (ValueError, TypeError, OverflowError) as exc:
        msg = _short(exc)
        # the value pandas could not read, by its index among ``values`` (T39 L11: the
        # refusal named neither the value nor where it stands); pandas' "at position N"
        # counts among the values it was given, not the file's rows: left out of the Chinese
        bad = _first_unreadable(text, zoned)
        index = None if bad is None else int(where[bad])
        msg_zh = time_zh(_AT_POSITION_RE.sub("", msg) if index is not None else msg)
        if "tz" in msg or "zone" in msg:  # pandas' words on zones mean nothing to a user
            msg = f"mixed or unknown time zones, e.g. {text[0]!r}"
            msg_zh = f"时区混杂或无法识别，如 {text[0]!r}"
        value = texts[index] if index is not None else None
        raise TimeValueError(msg, msg_zh, index, value) from None
    if local is not None:
        if local.tz is None:  # a zone pandas found itself ("… UTC") is kept
            local = localize(local, default_tz, warnings)
        out[where[~zoned]] = _naive_utc(local)
    return _utc_series(out)


def _offsets(t: datetime, zone: ZoneInfo) -> tuple[timedelta, timedelta]:
    """The UTC offsets in force before and after the clock change at the wall-clock time
    ``t`` (naive) that is skipped or repeated in ``zone`` (PEP 495: fold 0 reads such a time
    with the offset before the change, fold 1 with the one after)."""
    before = t.replace(tzinfo=zone, fold=0).utcoffset()
    after = t.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    return before, after


def _switch_hours(t: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The wall-clock span skipped (clocks forward) or repeated (clocks back) by the change
    at ``t`` in ``zone``, e.g. 02:00 and 03:00: the change's instant found to the second
    between the two readings of ``t``."""
    before, after = _offsets(t, zone)
    lo, hi = t - max(before, after), t - min(before, after)  # naive UTC
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.replace(tzinfo=UTC).astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    change = hi.replace(microsecond=0)
    return change + min(before, after), change + max(before, after)


def _hhmm(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _span(a: datetime, b: datetime) -> str:
    """The span as 2026-03-29 02:20:00–02:27:00 (the day once when both lie on it; one time
    alone)."""
    if a == b:
        return f"{a:%Y-%m-%d %H:%M:%S}"
    if a.date() == b.date():
        return f"{a:%Y-%m-%d %H:%M:%S}–{b:%H:%M:%S}"
    return f"{a:%Y-%m-%d %H:%M:%S}–{b:%Y-%m-%d %H:%M:%S}"


def localize(
    local: pd.DatetimeIndex, tz: str, warnings: list[str] | None = None
) -> pd.DatetimeIndex:
    """Zone-less wall-clock times (``local``, in file order) as instants of the zone ``tz``,
    on the days its clocks change too (T57 #2, #3: an outside tester in Europe/Berlin).

    * A time the clocks skip (02:20 on the spring-forward day) is read with the offset in
      force before the switch: 02:20 +01:00, i.e. 03:20 summer time. WHY not refused: only a
      clock that did not switch (a logger kept on standard time) writes such times, and for
      it this is the right reading; the fixes stay as far apart as written (pandas'
      ``shift_forward`` had put them all at 03:00, a walk "with one time", credited on no
      day). The uploader is warned (``warnings``) with the span, the offset and the remedy.
    * A time the clocks repeat (02:30 on the fall-back day) is told by the order of the
      file: a walk running through the switch (02:56 summer time, then 02:01 standard) has
      one reading with its times in order (pandas' ``infer``; a file newest first is read
      backwards). A run that gives no such reading (all of it in the repeated hour, no
      switch seen) is refused naming the repeated hour and the remedy, never read as "no
      times" (``ambiguous="NaT"`` did that).

    Zones without such changes (Asia/Shanghai since 1991) take the first, unchanged path."""
    n = len(local)
    try:
        return local.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except ValueError:  # a skipped or repeated time (pandas says which in words only)
        pass
    zone = ZoneInfo(tz)
    every = np.ones(n, dtype=bool)  # a repeated time read as its first: only gaps are NaT
    gap = local.tz_localize(tz, ambiguous=every, nonexistent="NaT").isna() & local.notna()
    read = local.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    repeated = read.isna() & local.notna() & ~gap
    if repeated.any():
        read = _infer_repeated(local, tz, zone, repeated)
    out = read.tz_convert("UTC").tz_localize(None).to_numpy().copy()
    if gap.any():
        at = np.flatnonzero(gap)
        walls = [local[i].to_pydatetime() for i in at]
        out[at] = [np.datetime64(w - _offsets(w, zone)[0], "ns") for w in walls]
        if warnings is not None:
            warnings.append(_gap_warning(walls, tz, zone))
    return pd.DatetimeIndex(out).tz_localize("UTC").tz_convert(tz)


def _infer_repeated(
    local: pd.DatetimeIndex, tz: str, zone: ZoneInfo, repeated: np.ndarray
) -> pd.DatetimeIndex:
    """``local`` read in ``tz`` with its repeated times told by their order (see
    :func:`localize`); refused when neither the file's order nor its reverse tells them, or
    the reading puts them out of order."""
    for order in (slice(None), slice(None, None, -1)):
        try:
            read = local[order].tz_localize(tz, ambiguous="infer", nonexistent="NaT")[order]
        except ValueError:
            continue
        instants = read[repeated].asi8
        step = np.diff(instants[order])
        if len(instants) and (step >= 0).all():
            return read
    first = local[np.flatnonzero(repeated)[0]].to_pydatetime()
    a, b = _switch_hours(first, zone)
    before, after = _offsets(first, zone)
    hours = f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"
    x, y = _hhmm(before), _hhmm(after)
    raise InputError(
        f"时间 {first:%Y-%m-%d %H:%M:%S} 没有写时区，而它落在本市时区 {tz} 夏令时结束、时钟回拨时"
        f"重复的一小时（{hours}）内：这一小时先按 {x}、再按 {y} 各过一次，文件中的时间顺序"
        f"也看不出是哪一次，无法确定时刻；请把时间连同时区一起写出（如 {x} 或 {y}）后重新上传 "
        f"time {first:%Y-%m-%d %H:%M:%S} carries no zone and falls in the hour repeated when "
        f"clocks went back in {tz} ({hours}, once at {x}, then at {y}); the order of the "
        f"file's times does not tell which: write the times with their zone (e.g. {x} or {y}) "
        "and upload again"
    )


def _gap_warning(walls: list[datetime], tz: str, zone: ZoneInfo) -> str:
    """What the uploader is told of zone-less times the clocks skipped (see :func:`localize`):
    the span written, the skipped hour, the offset they were read with, where they land."""
    lo, hi = min(walls), max(walls)
    before, after = _offsets(lo, zone)
    a, b = _switch_hours(lo, zone)
    skipped = f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"
    shift = after - before
    landed = _span(lo + shift, hi + shift)
    x, y = _hhmm(before), _hhmm(after)
    n = len(walls)
    return (
        f"{n} 个定位点的时间（{_span(lo, hi)}）没有写时区，而它们落在本市时区 {tz} 夏令时开始、"
        f"时钟拨快时跳过的时段（{skipped}）内，本地并不存在这些时刻：已按拨快前的时差 {x} 读取"
        f"（即本地时间 {landed}，{y}），定位点之间的间隔不变；如不对，请把时间连同时区一起写出"
        f"（如 {x} 或 {y}）后重新上传 "
        f"the times of {count_en(n, 'fix', 'fixes')} ({_span(lo, hi)}) carry no zone and "
        f"fall in the span skipped when clocks went forward in {tz} ({skipped}), which does "
        "not exist there: "
        f"read with the offset before the switch, {x} (local {landed}, {y}), the fixes as far "
        f"apart as written; if that is wrong, write the times with their zone (e.g. {x} or "
        f"{y}) and upload again"
    )


_AT_POSITION_RE = re.compile(r",? at position \d+\s*$")


def _first_unreadable(text: list[str], zoned: np.ndarray) -> int | None:
    """The index in ``text`` of the first value pandas cannot read as :func:`parse_times`
    reads it (ISO 8601 with a zone, any usual form without one); None when each reads alone
    (the refusal was of the values together: zones mixed)."""
    bad: list[int] = []
    for group in (zoned, ~zoned):
        at = np.flatnonzero(group)
        if not len(at):
            continue
        values = [text[i] for i in at]
        kw: dict[str, Any] = {"utc": True} if group is zoned else {}
        try:
            read = pd.to_datetime(values, format="mixed", errors="coerce", **kw)
        except (ValueError, TypeError, OverflowError):  # zones mixed: no one value to blame
            continue
        missing = np.flatnonzero(pd.isna(read))
        if len(missing):
            bad.append(int(at[missing[0]]))
    return min(bad) if bad else None


class TimeValueError(InputError):
    """A time value pandas cannot read: the library's words (``detail``, ``detail_zh``), the
    value's ``index`` among the values given and the ``value`` (None: not told), so a reader
    that knows where the value stands in its file says so (see :meth:`placed`)."""

    def __init__(self, detail: str, detail_zh: str, index: int | None, value: str | None):
        super().__init__(
            f"无法识别时间值（{detail_zh}）：请用 ISO 8601 格式或 epoch 秒数 "
            f"time values not understood (use ISO 8601 or epoch seconds): {detail}"
        )
        self.detail, self.detail_zh, self.index, self.value = detail, detail_zh, index, value

    def placed(self, place_zh: str, place: str) -> InputError:
        """The refusal naming where the value stands (``place_zh``: 文件第 4 行, 第 2 个定位点;
        ``place``: row 4 of the file, point 2) and the value, Chinese first; the English as
        before, the place and value after it."""
        shown = (self.value or "")[:60]
        return InputError(
            f"无法识别时间值：{place_zh}的时间 {shown!r}（{self.detail_zh}）："
            "请用 ISO 8601 格式或 epoch 秒数 "
            f"time values not understood (use ISO 8601 or epoch seconds): {self.detail} "
            f"({place}: {shown!r})"
        )


# GPS week numbers are sent in 10 bits: they count 1024 weeks from 1980-01-06 and start
# again. A receiver whose firmware does not know how often the count has wrapped dates its
# fixes exactly 1024 weeks (7168 days, 19.6 years) early (T57 #4: a walk of 2026-11-24
# stamped 2007-04-10, stored and reported on 2007).
GPS_ROLLOVER = pd.Timedelta(weeks=1024)
# a walk that, read 1024 weeks later, ends within this many days before the upload is such a
# walk: a genuine walk exactly 7168 days old, less a month, is not a patrol sent to this
# product (kept short so that no genuine old walk is mistaken)
ROLLOVER_RECENT_DAYS = 31
# nor may it then end further after now than an upload allows a clock ahead
# (GRIDWARD_TRACK_FUTURE_TOLERANCE_S's default)
_ROLLOVER_AHEAD = pd.Timedelta(seconds=900)


def gps_rollover(
    times: pd.Series, header: pd.Timestamp | None = None, now: pd.Timestamp | None = None
) -> int:
    """How many times 1024 weeks (:data:`GPS_ROLLOVER`) a walk's ``times`` (UTC) read early
    for a GPS week-number rollover; 0 when they do not. A rollover when, moved on by k×1024
    weeks (k 1 or 2), the walk lies on the day its GPX header time (``header``,
    ``<metadata><time>``, written by the phone or app, not the receiver) is dated, within a
    day, or ends within the last ROLLOVER_RECENT_DAYS days before ``now`` (when the file was
    received; default the current time) and not in the future. Never when the header lies on
    the walk's days as written: the phone's own clock agrees with the fixes (a walk dated 2007
    with a 2007 header is not moved, T58 F3).

    Times before 1990 never reach here (dropped as a clock not set), so k = 2 (from 1987)
    is refused as that until 2029."""
    if not len(times):
        return 0
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    end = times.max()
    if header is not None and header_dates(times, header, 0):
        return 0  # the phone's own header agrees with the fixes: a walk of that day (T58 F3)
    for k in (1, 2):
        shift = k * GPS_ROLLOVER
        if header is not None and header_dates(times, header, k):
            return k
        recent = now - pd.Timedelta(days=ROLLOVER_RECENT_DAYS)
        if recent <= end + shift <= now + _ROLLOVER_AHEAD:
            return k
    return 0


def header_dates(times: pd.Series, header: pd.Timestamp, k: int) -> bool:
    """Whether the GPX header time lies on the walk's days (within a day) once the walk is
    moved on by ``k`` × 1024 weeks (``k`` 0: as written)."""
    shift, day = k * GPS_ROLLOVER, pd.Timedelta(days=1)
    return bool(times.min() + shift - day <= header <= times.max() + shift + day)


def rollover_warning(times: pd.Series, k: int, tz: str, header: bool) -> str:
    """What the uploader is told of fixes moved on by ``k`` × 1024 weeks (see
    :func:`gps_rollover`): the day written, the shift, the day counted (local days of
    ``tz``) and what told it (``header``: the GPX header time, else the upload's time)."""

    def days(t: pd.Series) -> tuple[str, str]:
        a, b = t.min().tz_convert(tz).date(), t.max().tz_convert(tz).date()
        return (str(a), str(a)) if a == b else (f"{a} 至 {b}", f"{a} to {b}")

    weeks, n_days = 1024 * k, 7168 * k
    (was_zh, was), (now_zh, now) = days(times), days(times + k * GPS_ROLLOVER)
    if header:
        why_zh = (
            f"比 GPX 文件头的时间（<metadata><time>，{now_zh}）正好早 {weeks} 周（{n_days} 天）"
        )
        why = f"exactly {weeks} weeks ({n_days} days) before the GPX header time ({now})"
    else:
        why_zh = (
            f"后移正好 {weeks} 周（{n_days} 天）即是最近 {ROLLOVER_RECENT_DAYS} 天内的巡查"
            f"（{now_zh}）"
        )
        why = (
            f"moved on by exactly {weeks} weeks ({n_days} days) they are a walk of the last "
            f"{ROLLOVER_RECENT_DAYS} days ({now})"
        )
    return (
        f"GPS 周数翻转：定位点的日期是 {was_zh}，{why_zh}：旧 GPS 设备的周数计数每 1024 周"
        f"从头开始，把日期算早了；已把全部定位点的时间后移 {weeks} 周，计入 {now_zh}；"
        "请更新 GPS 设备的固件或换用新设备 "
        f"GPS week-number rollover: the fixes are dated {was}, {why}: an old GPS receiver's"
        " week count starts again every 1024 weeks and dated the walk early; all fix "
        f"times were moved on by {weeks} weeks and counted on {now}: update the receiver's "
        "firmware or use another one"
    )


def _epoch_ns(text: list[str]) -> np.ndarray | None:
    """Epoch numbers as datetime64[ns] UTC, or None when some value is not a number. The unit
    follows the typical magnitude (the median, so one stray value does not decide it):
    seconds below 1e11, ms below 1e14, µs below 1e17, else ns."""
    num = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce")
    if not num.notna().all():
        return None
    vals = num.to_numpy(float)
    finite = np.isfinite(vals)
    if not finite.any():
        return None
    mag = float(np.median(np.abs(vals[finite])))  # inf is clipped below: out of range
    unit, per_s = next((u, f) for u, f, top in _EPOCH_UNITS if mag < top)
    limit = _MAX_EPOCH_S * per_s  # beyond year 2255: kept out of range, not an overflow
    if pd.api.types.is_integer_dtype(num):
        ints = np.clip(num.to_numpy(np.int64), -limit, limit)
        return (ints * (10**9 // per_s)).astype("datetime64[ns]")
    vals = np.clip(np.nan_to_num(vals, nan=limit), -limit, limit)
    return pd.to_datetime(vals, unit=unit).as_unit("ns").to_numpy()


def _excel_serial_ns(
    text: list[str],
    default_tz: str,
    day0: np.datetime64 = _EXCEL_DAY0,
    field: str | None = "column",
    warnings: list[str] | None = None,
) -> np.ndarray | None:
    """Excel serial days as datetime64[ns] UTC, or None when the values are not such numbers.

    Only numbers whose median lies between 1990 and 2100 as days since ``day0`` (32874–73051
    from 1899-12-30) are taken: as epoch seconds (or ms, µs) such numbers fall on 1 January
    1970, never a real fix, so no epoch a phone writes is read as a serial. Excel has no
    zones: the day is local (``default_tz``). Rounded to the second: a serial written with
    Excel's usual 10–15 digits is exact to well under a second (46349.3541666 is
    08:29:59.994, meant 08:30:00). All whole numbers are dates without a time of day:
    refused, the fixes cannot be told apart."""
    num = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce")
    if not num.notna().all():
        return None
    vals = num.to_numpy(float)
    finite = np.isfinite(vals)
    lo, hi = serial_range(day0)
    if not finite.any() or not lo <= float(np.median(vals[finite])) < hi:
        return None
    if (vals[finite] == np.round(vals[finite])).all():
        day = str(day0 + np.timedelta64(int(np.median(vals[finite])), "D"))[:10]
        do_zh, do = _DAYS_REMEDY[field]
        raise InputError(
            f"时间值（如 {text[0]!r}）是 Excel 日期，只有日期（{day}）没有一天中的时刻："
            f"{do_zh} "
            f"time values such as {text[0]!r} are Excel dates without a time of day "
            f"({day}): {do}"
        )
    # a stray non-number day (inf) lands in 1899: dropped later as a clock not set
    days = np.clip(np.nan_to_num(vals, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 120_000.0)
    local = day0 + np.round(days * 86400.0).astype(np.int64).astype("timedelta64[s]")
    idx = pd.DatetimeIndex(local.astype("datetime64[ns]"))
    return _naive_utc(localize(idx, default_tz, warnings))


def _zone_words(t: str) -> str:
    """``t`` with a zone written as words (CST, GMT+8, UTC+08:00, 北京时间) as a +hh:mm
    offset, and Java's ``Fri Nov 20 08:00:00 CST 2026`` as ISO; else ``t`` unchanged.
    CST is China Standard Time (+08:00) here, as Chinese phones write it; GMT+8 means eight
    hours east, as people write it (not the inverted POSIX ``Etc/GMT+8``)."""
    if t[:1].isascii() and t[:1].isalpha():  # "Fri Nov 20 …": no date comes first
        m = _JAVA_DATE_RE.fullmatch(t)
        if m is not None and m.group(1) in _MONTHS:
            mon, day, tod, zone, year = m.groups()
            t = f"{year}-{_MONTHS[mon]:02d}-{int(day):02d} {tod} {zone}"
    if "北京时间" in t[:8]:
        lead = _ZONE_WORD_LEAD_RE.match(t)
        if lead is not None and lead.end() < len(t):
            return t[lead.end() :].strip() + "+08:00"
    tail = len(t) - _ZONE_WORD_MAX  # a zone word is short: only the end is searched
    m = _ZONE_WORD_RE.search(t, max(tail, 0))
    if m is None or m.start() == 0:
        return t
    if m.group(1):  # CST, 北京时间
        return t[: m.start()].rstrip() + "+08:00"
    hours, minutes = int(m.group(3)), int(m.group(4) or 0)
    if hours > 14 or minutes > 59:
        return t
    return f"{t[: m.start()].rstrip()}{m.group(2)}{hours:02d}:{minutes:02d}"


_MAX_EPOCH_S = 9_000_000_000
_EPOCH_UNITS = (("s", 1, 1e11), ("ms", 10**3, 1e14), ("us", 10**6, 1e17), ("ns", 10**9, np.inf))


# what to do about times without a day, by what holds them in the file (``field`` of
# parse_times): a GeoJSON's are in a property, not a column (T39 L15: "请加日期列" for one)
_TOD_REMEDY = {
    "column": (
        "请加日期列（日期）或写完整的日期时间",
        "add a date column (日期/date) or write full date-times such as 2026-11-23 08:00:00",
    ),
    "property": (
        "请在时间属性中写完整的日期时间（如 2026-11-23 08:00:00）",
        "write full date-times in the time property, such as 2026-11-23 08:00:00",
    ),
    None: (
        "请写完整的日期时间（如 2026-11-23 08:00:00）",
        "write full date-times such as 2026-11-23 08:00:00",
    ),
}
_DAYS_REMEDY = {
    "column": (
        "请写日期时间，或分为日期列和时间列",
        "give date-times, or a date and a time column",
    ),
    "property": ("请在时间属性中写日期时间", "give date-times in the time property"),
    None: ("请写日期时间", "give date-times"),
}


def _normalise_dates(text: list[str], field: str | None = "column") -> list[str]:
    """Rewrite the local forms pandas misreads or guesses per value: zone words (CST,
    GMT+8, 北京时间), 2026年11月23日, 上午/下午, an hour-only offset (+08), and dd/mm/yyyy vs
    mm/dd/yyyy (one order for the whole
    file); a time of day without a date is refused. Year-first dates (2026/11/05) need
    nothing: pandas reads them year/month/day. Each rewrite runs only when some value needs it,
    so ISO and Excel-style tracks pay a few cheap scans (the words are looked for once in the
    joined text: value by value it took ~0.15 s of a 400,000-fix file)."""
    text = _zone_forms(text)
    joined = "\n".join(text)
    if "年" in joined:
        text = [_CN_DATE_RE.sub(r"\1-\2-\3 ", t).strip() for t in text]
    if "分" in joined:
        text = [_CN_CLOCK_RE.sub(_clock, t) for t in text]
    if "午" in joined:
        text = [_CN_AMPM_RE.sub(_ampm, t) for t in text]
    if any(t[-3:-2] in ("+", "-") for t in text):  # 10时05分30秒+08, a clock rewritten above
        text = [_HOUR_ZONE_RE.sub(r"\1\2:00", t) for t in text]
    sample = next((t for t in text if len(t) < 19 and _TOD_RE.fullmatch(t)), None)
    if sample is not None:
        do_zh, do = _TOD_REMEDY[field]
        raise InputError(f"时间 {sample!r} 没有日期：{do_zh} time {sample!r} has no date: {do}")
    if any(t[1:2] in _DATE_SEPS or t[2:3] in _DATE_SEPS for t in text):
        text = _two_digit_years(_day_month_order(text))
    return text


_DATE_SEPS = ("/", ".", "-")


def _zone_forms(text: list[str]) -> list[str]:
    """Zone words (CST, GMT+8, 北京时间) and an hour-only offset (+08) as +hh:mm offsets.
    Apart from the date rewrites so :func:`zoneless` can judge one value's zone: one value
    alone cannot tell a date's day/month order, which the whole column decides."""
    joined = "\n".join(text)
    if "ST" in joined or "GMT" in joined or "UTC" in joined or "北京" in joined:
        text = [_zone_words(t) for t in text]
    if any(t[-3:-2] in ("+", "-") for t in text):
        text = [_HOUR_ZONE_RE.sub(r"\1\2:00", t) for t in text]
    return text


def _clock(m: re.Match[str]) -> str:
    return f"{int(m.group(1)):02d}:{int(m.group(2)):02d}:{m.group(3) or '00'}"


def _ampm(m: re.Match[str]) -> str:
    return f"{m.group(2)} {'AM' if m.group(1) == '上午' else 'PM'}"


def _day_month_order(text: list[str]) -> list[str]:
    """dd/mm/yyyy or mm/dd/yyyy as yyyy-mm-dd, one order for the whole file: a first field
    over 12 means day first, a second one over 12 month first; if no value decides it, the
    file is refused rather than read half one way and half the other."""
    s = pd.Series(text, dtype=object)
    parts = s.str.extract(_DMY_RE)
    has = parts[0].notna().to_numpy()
    if not has.any():
        return text
    a = parts.loc[has, 0].astype(int)
    b = parts.loc[has, 2].astype(int)
    day_first, month_first = bool((a > 12).any()), bool((b > 12).any())
    if day_first and month_first:
        x, y = s[has][(a > 12).to_numpy()].iloc[0], s[has][(b > 12).to_numpy()].iloc[0]
        raise DateOrderError(
            f"{DATE_ORDER_TAGS[1]}：{x!r} 是日在前，{y!r} 是月在前，日/月顺序混杂："
            "请把日期写成 YYYY-MM-DD "
            f"dates mix day/month orders: {x!r} is day first, "
            f"{y!r} month first"
        )
    if not (day_first or month_first) and (a != b).any():
        ex = s[has][(a != b).to_numpy()].iloc[0]
        i, j = int(a[a != b].iloc[0]), int(b[a != b].iloc[0])
        year = parts.loc[has, 3][(a != b).to_numpy()].iloc[0]
        raise DateOrderError(
            f"{DATE_ORDER_TAGS[0]}：如 {ex!r} 可读作 {year}-{j:02d}-{i:02d}（日/月）或 "
            f"{year}-{i:02d}-{j:02d}（月/日），文件中没有日期能判断是哪种：请把日期写成 YYYY-MM-DD "
            f"ambiguous dates such as {ex!r}: {year}-{j:02d}-{i:02d} "
            f"(day/month) or "
            f"{year}-{i:02d}-{j:02d} (month/day), and no date in the file tells which: "
            "write dates as yyyy-mm-dd"
        )
    day, month = (a, b) if day_first else (b, a)
    iso = parts.loc[has, 3] + "-" + month.map("{:02d}".format) + "-" + day.map("{:02d}".format)
    s[has] = iso + parts.loc[has, 4].fillna("")
    return s.tolist()


def _two_digit_years(text: list[str]) -> list[str]:
    """Dates with a two-digit year (26/11/22, 22.11.26, 11-22-26) as yyyy-mm-dd, in the one
    order that reads every such date of the column. WHY: pandas guessed per value and read
    the Chinese yy/mm/dd 26/11/22 as 2022-11-26, a walk silently years away; a column that
    two orders read as different days is refused, as four-digit ambiguous dates are. No
    order is preferred, not even year first with dashes (26-11-22): 22-11-26 is as common."""
    s = pd.Series(text, dtype=object)
    parts = s.str.extract(_YY_RE)
    has = parts[0].notna().to_numpy()
    if not has.any():
        return text
    keys = parts.loc[has, 0] + "/" + parts.loc[has, 2] + "/" + parts.loc[has, 3]
    once = ~keys.duplicated().to_numpy()
    first = dict(zip(keys[once], s[has][once], strict=True))  # each date as first written
    dates, written = [tuple(k.split("/")) for k in first], list(first.values())
    readings = {name: [_yy_reading(d, at) for d in dates] for name, at in _YY_ORDERS.items()}
    problems = {name: _yy_misfit(name, r, written) for name, r in readings.items()}
    fits = {name: r for name, r in readings.items() if problems[name] is None}
    if not fits:
        why = "; ".join(p[0] for p in problems.values() if p)
        why_zh = "；".join(p[1] for p in problems.values() if p)
        raise DateOrderError(
            f"{DATE_ORDER_TAGS[1]}：年/月/日顺序混杂，没有一种顺序能读出所有日期（{why_zh}）："
            "请把日期写成 YYYY-MM-DD "
            f"dates mix day/month/year orders, no one order reads them "
            f"all ({why}): write dates as yyyy-mm-dd"
        )
    if len({tuple(r) for r in fits.values()}) > 1:
        _refuse_ambiguous_yy(written, fits)
    iso = dict(zip(first, next(iter(fits.values())), strict=True))
    s[has] = keys.map(iso) + parts.loc[has, 4].fillna("")
    return s.tolist()


def _yy_reading(fields: tuple[str, ...], at: tuple[int, int, int]) -> str | None:
    """The yyyy-mm-dd a two-digit-year date (its three ``fields`` as written) is when its
    year, month and day stand at ``at``; None when it is no date so (a month over 12, a day
    past the month's end, a year of one digit). Years 69-99 are 19xx, as strptime's %y."""
    yy, mm, dd = (fields[i] for i in at)
    if len(yy) != 2:
        return None
    year, month, day = int(yy) + (1900 if int(yy) >= 69 else 2000), int(mm), int(dd)
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return f"{year}-{month:02d}-{day:02d}"


def _refuse_ambiguous_yy(written: list[str], fits: dict[str, list[str | None]]) -> NoReturn:
    """Refuse two-digit-year dates that several orders read, naming the first date they
    read differently and its readings."""
    i = next(k for k in range(len(written)) if len({r[k] for r in fits.values()}) > 1)
    names: dict[str | None, list[str]] = {}
    for name, r in fits.items():
        names.setdefault(r[i], []).append(name)
    told = " or ".join(f"{day} ({', '.join(n)})" for day, n in names.items())
    told_zh = " 或 ".join(
        f"{day}（{'、'.join(_YY_ORDERS_ZH[k] for k in n)}）" for day, n in names.items()
    )
    raise DateOrderError(
        f"{DATE_ORDER_TAGS[0]}：如 {written[i]!r} 可读作 {told_zh}，文件中没有日期能判断年、月、日"
        "的顺序：请把日期写成 YYYY-MM-DD "
        f"ambiguous dates such as {written[i]!r}: {told}, and no date in "
        "the file tells the order of year, month and day: write dates as yyyy-mm-dd"
    )


def _yy_misfit(name: str, reading: list[str | None], written: list[str]) -> tuple[str, str] | None:
    """Why the order ``name`` cannot be the file's (a date it cannot read, or its dates
    lying over _YY_SPAN_DAYS apart), in English and in Chinese; None when it can. WHY the
    span: where two orders read every date, the field that changes within a walk is a day
    in one and a year in the other (26/11/22 then 26/11/23, a walk past midnight, is not
    2022 then 2023)."""
    zh = _YY_ORDERS_ZH[name]
    if None in reading:
        bad = written[reading.index(None)]
        return f"{bad!r} is not {name}", f"{bad!r} 不是{zh}"
    lo, hi = min(map(str, reading)), max(map(str, reading))
    if (date.fromisoformat(hi) - date.fromisoformat(lo)).days > _YY_SPAN_DAYS:
        return f"{name} would span {lo} to {hi}", f"按{zh}读，日期会从 {lo} 跨到 {hi}"
    return None


class DateOrderError(InputError):
    """Dates refused for their day/month/year order (日期有歧义, 日期顺序不一): the values
    are dates all the same (a table reader still knows the column for its time column)."""


def date_order_refused(exc: InputError) -> bool:
    """Whether ``exc`` refuses dates for their order (:class:`DateOrderError`)."""
    return isinstance(exc, DateOrderError)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NaT or v is pd.NA


def _is_number(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def _naive_utc(times: Any) -> np.ndarray:
    """datetime64[ns] UTC values of tz-aware ``times`` (an index or a series)."""
    idx = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    return idx.as_unit("ns").to_numpy()


def _utc_series(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(ns).tz_localize("UTC"))


_DIGITS_RE = re.compile(r"\d")


def cut_short(values: list[Any]) -> int | None:
    """The index of the last time value when it is the one before it cut short: a file that
    ends mid-line (an upload or a copy interrupted) leaves ``2026-11-20T08:1`` or
    ``2026-11-20``, which read as a valid but wrong time (local midnight, a minute early) or
    refuse the whole file. Cut short means its shape (digits as ``d``) is a strict prefix of
    the previous value's, and what it lacks starts with a digit or a clock/date separator,
    not a fraction or a zone (``08:10:01`` after ``08:10:00.5`` or ``…+08:00`` is whole).
    Numbers (epochs, Excel serial days) are not judged: their decimals vary.
    None when the last value is whole (or there is no previous value to judge by)."""
    texts = [(i, v.strip()) for i, v in enumerate(values) if type(v) is str and v.strip()]
    if len(texts) < 2 or texts[-1][0] != len(values) - 1 or _is_number(texts[-1][1]):
        return None  # (numbers' decimals vary; a cut epoch reads as 1970, refused as such)
    last, before = (_DIGITS_RE.sub("d", t) for _, t in texts[-2:][::-1])
    if len(last) >= len(before) or not before.startswith(last):
        return None
    return None if before[len(last)] in ".,+Zz" else texts[-1][0]
