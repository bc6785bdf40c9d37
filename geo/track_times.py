"""An upload's times: the checks a new file must pass before it is stored (:func:`check_upload`:
parsed, timed fixes, times neither in the future nor shuffled) with what its uploader is warned
of (sparse fixes, an old date), and how far a file's times can be trusted to say when
(:func:`times_trust`), which decides whether a walk's time zone may be put right.

Apart from the store because ``gridward tracks check`` runs the same checks without storing,
and none of it reads or writes a track but :func:`stored_times_trust`'s one look at a kept file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from geo.crs import normalize_crs
from geo.errors import InputError
from geo.settings import Settings, city_today, get_settings


def times_trust(parsed: Any) -> int:
    """How far a file's times can be trusted to say when: 2 when they state their zone
    (offset, Z, a zone word, epoch), 1 written without one and read as the city's time (a
    table: phones write local time), 0 a zone-less GPX read as UTC (as GPX requires, though
    apps writing no zone mostly write local clock times). WHY: a time change (a walk's
    zone put right) may only go from a weaker reading to a stronger one. Any shift was
    taken before, so the zone-less file sent again after its correction (a retry, a folder
    re-sync) moved the walk back to the wrong day, and a steward re-sending her own walk
    with +6 h clock times, both files stating +08:00, moved it to a day she missed (an
    outside tester's F1 and F9)."""
    if not parsed.zoneless:
        return 2
    return 0 if parsed.format == "gpx" else 1


def zone_mistake(kept: int, started_at: Any) -> pd.Timedelta:
    """The shift that puts right the one mistake a zone-less reading can make in this city:
    a zone-less GPX (``kept`` 0) read as UTC whose clock was local moves back by the city's
    UTC offset; a zone-less table (1) read as local time whose clock was UTC moves on by it.
    WHY only that: any other shift is a walk moved to other hours, not a zone put right (an
    outside re-tester moved a table's walk 7 h on by sending it as a GPX stating +08:00)."""
    offset = pd.Timestamp(started_at).tz_convert(get_settings().timezone).utcoffset()
    return -pd.Timedelta(offset) if kept == 0 else pd.Timedelta(offset)


def stored_times_trust(engine: Engine, track_id: int) -> int:
    """:func:`times_trust` of the file a stored track's times came from (its kept bytes,
    re-read: only on the rare path of a same-walk file at shifted times). A file today's
    reader refuses counts as stating its times (nothing then corrects them)."""
    from geo.tracks.parse import parse_track

    s = get_settings()
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT raw, filename, crs FROM tracks WHERE id = :t"), {"t": track_id}
        ).one()
    try:
        parsed = parse_track(
            bytes(row.raw), row.filename, crs=row.crs, max_bytes=len(row.raw) + 1,
            default_tz=s.timezone,
        )  # fmt: skip
    except InputError:
        return 2
    return times_trust(parsed)


def check_upload(
    data: bytes, filename: str | None, crs: str = "wgs84", settings: Settings | None = None
) -> Any:
    """What a new upload must pass before it is stored: datum name, size, parsing (times
    without a zone in the city's), at least two timed fixes, times neither in the future nor
    out of order. Returns the :class:`~geo.tracks.parse.ParsedTrack`, its ``warnings``
    with what the uploader is told besides (sparse fixes, an old date); ``gridward tracks
    check`` calls it too, so it says OK exactly when an upload would take the file."""
    from geo.tracks.parse import parse_track

    s = settings or get_settings()
    normalize_crs(crs)
    parsed = parse_track(
        data, filename, crs=crs, max_bytes=s.max_upload_bytes, default_tz=s.timezone
    )
    if len(parsed.points) == 0:
        raise InputError(
            "文件里没有带时间的定位点，巡查轨迹需要每个定位点都有时间 no points with times"
        )
    if len(parsed.points) == 1:  # a shared location, or a logger stopped at once
        raise InputError(
            "只有 1 个带时间的定位点，巡查轨迹至少需要 2 个才能显示行走 "
            "only 1 point with a time: a patrol track needs at least 2 to show a walk"
        )
    # zone-less GPX times are read as UTC: local clock times written so are hours ahead
    check_times(parsed.points, s, zoneless_utc=parsed.zoneless and parsed.format == "gpx")
    for warning in (sparse_warning(parsed.points["time"]), old_walk_warning(parsed.points, s)):
        if warning:
            parsed.warnings.append(warning)
    return parsed


def old_walk_warning(pts: pd.DataFrame, s: Settings) -> str | None:
    """A warning when the walk's last fix is more than ``old_walk_warn_days`` local days ago
    (its date and the days in the city's time, as the reports count it), else None. WHY a
    warning, not a refusal: stewards send old walks from a phone that was offline; but a
    phone with a wrong date credits a day long past, and was stored without a word."""
    if not s.old_walk_warn_days:
        return None
    day = pd.Timestamp(pts["time"].max()).tz_convert(s.timezone).date()
    ago = (city_today(s) - day).days
    if ago <= s.old_walk_warn_days:
        return None
    first = pd.Timestamp(pts["time"].min()).tz_convert(s.timezone).date()
    if first < day:  # over midnight: credited on each day it walked (T69 #2)
        return _old_days_warning(first, day, ago)
    return (
        f"轨迹日期较早：这次巡查的日期是 {day}（{ago} 天前，计入那一天），"
        "如日期不对，请检查手机日期 "
        f"this walk is dated {day} ({ago} days ago, counted on that day): check "
        "the phone's date if that is wrong"
    )


def _old_days_warning(first: dt.date, last: dt.date, ago: int) -> str:
    """:func:`old_walk_warning` for a walk over midnight (first and last fix on two or more
    local days), naming every day it is credited on. WHY (outside tester T69 #2): a walk of
    10-14 23:40 to 10-15 00:24 was told "counted on 10-15" while the reports credit both
    10-14 and 10-15, each for the part walked that day."""
    n = (last - first).days + 1
    days_zh = f"{first} 和 {last}" if n == 2 else f"{first} 至 {last}（共 {n} 天）"
    days_en = f"{first} and {last}" if n == 2 else f"{first} to {last} ({n} days)"
    return (
        f"轨迹日期较早：这次巡查跨零点，日期是 {days_zh}（最后一天为 {ago} 天前），分别计入这"
        f"{'两' if n == 2 else '几'}天，每天计当天走过的部分；如日期不对，请检查手机日期 "
        f"this walk spans midnight and is dated {days_en} (the last day {ago} days ago), "
        "counted on each of those days for the part walked that day: check the phone's date "
        "if that is wrong"
    )


# a walk whose fixes are a median of more than this apart is told so (the README asks for
# 10 s; between fixes the matcher infers the way, it does not see it: an outside tester got
# full credit for one fix at each end of an alley, 12-121 s apart)
SPARSE_FIX_S = 20.0


def sparse_warning(times: pd.Series) -> str | None:
    """A warning when the fixes are sparse (median interval over SPARSE_FIX_S), else None.
    Intervals longer than the cleaner's gap threshold are pauses, not sampling."""
    from geo.tracks.clean import CleanParams

    t = np.sort(pd.to_datetime(times, utc=True).to_numpy("datetime64[ns]").astype(np.int64))
    step = np.diff(t) / 1e9
    step = step[(step > 0) & (step <= CleanParams.gap_s)]
    median = float(np.median(step)) if len(step) >= 2 else 0.0
    if median <= SPARSE_FIX_S:
        return None
    return (
        f"定位点稀疏：定位点之间的间隔中位数为 {median:.0f} 秒，其间的路线是推断的而非记录的，"
        "在两个定位点之间走过的巷不会留下痕迹；请把 App 设为每 10 秒或更短记录一个定位点 "
        f"fixes a median {median:.0f} s apart: the way between "
        "them is inferred, not seen, and an alley walked between two fixes leaves no trace; "
        "set the app to a fix every 10 s or less"
    )


# jumps back in time (beyond GRIDWARD_TRACK_BACKWARDS_TOLERANCE_S) a file may have: its
# blocks are sorted by time; more is a shuffled file (see check_times)
MAX_BACK_JUMPS = 3


def _future_refusal(
    latest: pd.Timestamp, now: pd.Timestamp, tz: str, zoneless_utc: bool = False
) -> str:
    """Why a track ending after now is refused, with the likely cause when its times are ahead
    by the city's UTC offset: local clock times read as UTC. For a GPX whose times carry no
    zone (``zoneless_utc``), that cause is named whenever read as local time the walk has
    ended: a steward uploads hours after walking, so "about the offset" ahead told most of
    them their clock was wrong (outside tester T37, F1)."""
    ahead_h = (latest - now).total_seconds() / 3600
    offset = now.tz_convert(tz).utcoffset()
    offset_h = offset.total_seconds() / 3600 if offset is not None else 0.0
    local = latest.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
    why = "the device clock is wrong, or the walk is dated ahead"
    why_zh = "可能是设备时钟不准，或巡查的日期写到了将来；请检查设备时间后重新导出"
    if zoneless_utc and offset_h > 0 and ahead_h <= offset_h + 0.25:
        # the clock time as written, read as local: no instant needed (tz_localize raised on a
        # time in a repeated hour and moved one in a skipped hour, T57 #3)
        shown = latest.tz_convert("UTC").strftime("%Y-%m-%d %H:%M")
        why = (
            f"the GPX times carry no zone, so they were read as UTC (GPX's rule); read as local "
            f"time the walk ended at {shown}, which has passed: the file holds local clock "
            "times: write them with their zone, e.g. +08:00, or export with the zone"
        )
        why_zh = (
            f"文件中的 GPX 时间没有写时区，按 GPX 标准被当作 UTC 读取；若按本地时间读，这次巡查"
            f"结束于 {shown}，已经过去：文件里写的应是本地时间。请把时间连同时区一起写出"
            "（如 +08:00），或在 App 中选择带时区导出"
        )
    elif offset_h > 0 and abs(ahead_h - offset_h) <= 1:
        why = (
            f"ahead by about the city's UTC offset ({offset_h:+g} h): local clock times read as "
            "UTC (a GPX time without a zone is UTC): write them with their zone, e.g. +08:00"
        )
        why_zh = (
            f"超前的时长约等于本市与 UTC 的时差（{offset_h:+g} 小时）：很可能文件里的时间是本地时间"
            "却没有写时区，因而被当作 UTC 读取（GPX 中不带时区的时间一律按 UTC 读）；请把时间连同"
            "时区一起写出（如 +08:00），或在 App 中选择带时区导出"
        )
    return (
        f"轨迹时间晚于当前时间：这次巡查结束于本地时间 {local}，比现在晚 {ahead_h:.1f} 小时；"
        f"{why_zh} the walk ends in the future ({local} local, {ahead_h:.1f} h from now): {why}"
    )


def check_times(pts: pd.DataFrame, s: Settings, zoneless_utc: bool = False) -> None:
    """Refuse tracks from a clock in the future or with times out of order (hostile or broken).
    The messages do not name the file: the callers do, as for the reader's refusals."""
    latest = pts["time"].max()
    now = pd.Timestamp.now(tz="UTC")
    if latest > now + pd.Timedelta(seconds=s.track_future_tolerance_s):
        raise InputError(_future_refusal(latest, now, s.timezone, zoneless_utc))
    if "source_index" in pts.columns and len(pts) > 1:
        in_file = pts.sort_values("source_index")["time"].astype("int64").to_numpy()
        back = -np.diff(in_file) / 1e9
        jumps = np.flatnonzero(back > s.track_backwards_tolerance_s)
        if (back >= 0).all():  # newest first, as some apps export: in order, backwards
            jumps = jumps[:0]
        # A few jumps back are whole recordings in another order (a GPX's <trk>s, fixes an
        # app cached offline and sent later): the parser sorted them by time. Many are a
        # shuffled file or a clock jumping about, whose time order is not the walk.
        if len(jumps) > MAX_BACK_JUMPS:
            worst = int(jumps[np.argmax(back[jumps])])
            raise InputError(
                f"定位点时间顺序混乱，文件像是被打乱：有 {len(jumps)} 处下一个定位点的时间更早"
                f"（最严重的是第 {worst + 2} 个定位点，早了 {back[worst]:.0f} 秒）；"
                "少数几段顺序颠倒会自动排好，整个文件打乱则不行 "
                f"timestamps out of order: {len(jumps)} times the next point is "
                f"earlier (point {worst + 2} by {back[worst]:.0f} s); a few blocks out of "
                "order are sorted, a shuffled file is not"
            )
