"""NMEA 0183 logs (``$GPRMC``/``$GNRMC``, ``$GPGGA``/``$GNGGA``) as points: what GPS logger
apps on phones export as .nmea, .txt or .log.

Its own module because NMEA is a line protocol, not a table: positions are ddmm.mmmm with a
hemisphere, only RMC sentences carry the date (GGA has the time of day and the HDOP), each
sentence may end in a checksum, and every time is UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import reduce
from operator import xor

import numpy as np

from geo.errors import InputError
from geo.tracks.parse_raw import Raw

# accuracy hint from HDOP: horizontal dilution of precision times a typical phone receiver's
# range error (~5 m), so GRIDWARD_MAX_ACCURACY_M (50 m) drops fixes with HDOP over 10
HDOP_METRES = 5.0
# a sentence is at most 82 characters by the standard; longer lines are not sentences
_MAX_LINE = 200
_SENTENCE_HEAD = re.compile(rb"(?m)^[ \t]{0,8}\$[A-Z]{5},")
_TIME_RE = re.compile(r"(\d\d)(\d\d)(\d\d)(\.\d{1,6})?")
_DATE_RE = re.compile(r"(\d\d)(\d\d)(\d\d)")
_COORD_RE = re.compile(r"\d{1,5}(?:\.\d{1,10})?")
_HALF_DAY_MS = 12 * 3600 * 1000


def looks_like_nmea(head: bytes) -> bool:
    """True when a line of the first bytes is an NMEA sentence (``$GPRMC,…``)."""
    return _SENTENCE_HEAD.search(head[:4096]) is not None


class _Epoch:
    """What the sentences of one instant (same time of day, in a row) say."""

    __slots__ = ("tod_ms", "date", "lon", "lat", "hdop", "from_rmc")

    def __init__(self, tod_ms: int) -> None:
        self.tod_ms = tod_ms
        self.date: dt.date | None = None
        self.lon: float | None = None
        self.lat: float | None = None
        self.hdop: float | None = None
        self.from_rmc = False


def parse_nmea(text: str) -> Raw:
    """Fixes of an NMEA log: one per instant, its position from RMC (else GGA), its date from
    RMC (GGA-only instants take the date of the RMC before them, or after them at the start
    of the log, across midnight too), its accuracy from GGA's HDOP. Sentences with a wrong
    checksum or unreadable fields are skipped and counted in a warning; a log without one
    valid RMC (status A, a date and a time) is refused: its fixes cannot be placed in time."""
    epochs: list[_Epoch] = []
    bad_sum = bad = no_fix = 0
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("$"):
            continue
        kind = line[3:6]
        if kind not in ("RMC", "GGA"):
            continue  # GSV, GSA, VTG …: nothing a track needs
        if len(line) > _MAX_LINE:
            bad += 1
            continue
        body, star, given = line[1:].partition("*")
        if star and not _checksum_ok(body, given):
            bad_sum += 1
            continue
        fields = body.split(",")
        try:
            fix = _rmc(fields) if kind == "RMC" else _gga(fields)
        except ValueError:
            bad += 1
            continue
        if fix is None:
            no_fix += 1
            continue
        tod_ms, date, lon, lat, hdop = fix
        e = epochs[-1] if epochs and epochs[-1].tod_ms == tod_ms else None
        if e is None:
            e = _Epoch(tod_ms)
            epochs.append(e)
        if kind == "RMC":
            e.date, e.lon, e.lat, e.from_rmc = date, lon, lat, True
        else:
            e.hdop = hdop
            if not e.from_rmc:
                e.lon, e.lat = lon, lat
    skipped, skipped_zh = _skipped(bad_sum, bad)
    if not any(e.date for e in epochs):
        tail = f" ({skipped})" if skipped else ""
        tail_zh = f"（已跳过 {skipped_zh}）" if skipped else ""
        raise InputError(
            "NMEA 记录中没有有效的 RMC 语句（$GPRMC/$GNRMC，状态为 A，含时间和日期）"
            f"{tail_zh}，无法确定定位点的时间 "
            "NMEA log has no valid RMC sentence ($GPRMC/$GNRMC with status A, a time and a "
            f"date): its fixes cannot be placed in time{tail}"
        )
    raw = Raw([], [], [], [], zone="UTC")
    for e, date in zip(epochs, _dates(epochs), strict=True):
        raw.lon.append(e.lon)
        raw.lat.append(e.lat)
        ms = e.tod_ms
        raw.time.append(
            f"{date.isoformat()}T{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:"
            f"{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"
        )
        raw.accuracy.append(e.hdop * HDOP_METRES if e.hdop is not None else np.nan)
    if skipped:
        n = bad_sum + bad
        raw.warnings.append(
            f"已跳过 {n} 条无效的 NMEA 语句（{skipped_zh}） {n} NMEA sentences skipped ({skipped})"
        )
    if no_fix:
        raw.warnings.append(
            f"已跳过 {no_fix} 条未定位的 NMEA 语句（状态 V，定位质量 0） "
            f"{no_fix} NMEA sentences without a fix (status V, quality 0) skipped"
        )
    return raw


def _skipped(bad_sum: int, bad: int) -> tuple[str, str]:
    """The sentences skipped and why, in English and in Chinese ("" when none)."""
    parts = [f"{bad_sum} with a wrong checksum"] if bad_sum else []
    parts += [f"{bad} unreadable"] if bad else []
    parts_zh = [f"{bad_sum} 条校验和错误"] if bad_sum else []
    parts_zh += [f"{bad} 条无法读取"] if bad else []
    return ", ".join(parts), "，".join(parts_zh)


def _checksum_ok(body: str, given: str) -> bool:
    """The XOR of the characters between ``$`` and ``*`` equals the two hex digits after."""
    given = given.strip()
    if len(given) != 2:
        return False
    try:
        want = int(given, 16)
    except ValueError:
        return False
    return reduce(xor, body.encode("ascii", "replace"), 0) == want


def _tod_ms(value: str) -> int:
    m = _TIME_RE.fullmatch(value)
    if m is None:
        raise ValueError(value)
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h > 23 or mi > 59 or s > 60:
        raise ValueError(value)
    frac = round(float(m.group(4) or 0) * 1000)
    return min(((h * 60 + mi) * 60 + s) * 1000 + frac, 86_399_999)


def _degrees(value: str, hemi: str, top: int, pos: str, neg: str) -> float:
    """ddmm.mmmm (latitude) or dddmm.mmmm (longitude) and a hemisphere as signed degrees."""
    if _COORD_RE.fullmatch(value) is None or hemi not in (pos, neg):
        raise ValueError(value)
    v = float(value)
    deg = int(v // 100)
    minutes = v - deg * 100
    if deg > top or minutes >= 60:
        raise ValueError(value)
    out = deg + minutes / 60
    return -out if hemi == neg else out


def _rmc(f: list[str]) -> tuple[int, dt.date, float, float, None] | None:
    """RMC: time, status, lat, N/S, lon, E/W, speed, course, date (ddmmyy), [variation,
    E/W, mode]. None when the receiver had no fix (status V, or mode N)."""
    if len(f) < 10:
        raise ValueError("short RMC")
    if f[2] != "A" or (len(f) > 12 and f[12][:1] == "N"):
        return None
    tod = _tod_ms(f[1])
    m = _DATE_RE.fullmatch(f[9])
    if m is None:
        raise ValueError(f[9])
    yy = int(m.group(3))
    date = dt.date(2000 + yy if yy < 80 else 1900 + yy, int(m.group(2)), int(m.group(1)))
    lat = _degrees(f[3], f[4], 90, "N", "S")
    lon = _degrees(f[5], f[6], 180, "E", "W")
    return tod, date, lon, lat, None


def _gga(f: list[str]) -> tuple[int, None, float, float, float | None] | None:
    """GGA: time, lat, N/S, lon, E/W, quality (0 = no fix), satellites, HDOP, altitude …"""
    if len(f) < 9:
        raise ValueError("short GGA")
    if f[6] in ("", "0"):
        return None
    tod = _tod_ms(f[1])
    lat = _degrees(f[2], f[3], 90, "N", "S")
    lon = _degrees(f[4], f[5], 180, "E", "W")
    hdop = float(f[8]) if f[8] else None
    if hdop is not None and not 0 < hdop < 100:
        hdop = None
    return tod, None, lon, lat, hdop


def _dates(epochs: list[_Epoch]) -> list[dt.date]:
    """The date of every epoch: its RMC's, else the last RMC date before it, a day later when
    its time of day falls back by more than 12 hours (midnight passed); epochs before the
    first RMC take its date, a day earlier when their time of day is more than 12 hours
    after it."""
    first = next(i for i, e in enumerate(epochs) if e.date is not None)
    out: list[dt.date] = []
    date, tod = dt.date.min, epochs[first].tod_ms
    for e in epochs[first:]:
        if e.date is not None:
            date = e.date
        elif e.tod_ms < tod - _HALF_DAY_MS:
            date += dt.timedelta(days=1)
        out.append(date)
        tod = e.tod_ms
    before: list[dt.date] = []
    date, tod = out[0], epochs[first].tod_ms
    for e in reversed(epochs[:first]):
        if e.tod_ms > tod + _HALF_DAY_MS:
            date -= dt.timedelta(days=1)
        before.append(date)
        tod = e.tod_ms
    return before[::-1] + out
