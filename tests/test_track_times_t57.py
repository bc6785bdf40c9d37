"""Outside tester T57's attacks on time: zone-less times on the days a city with daylight
saving changes its clocks (#2 the skipped hour, #3 the repeated hour), a GPS week-number
rollover (#4), the map's floor of days (#8) and time labels without a zone (#10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from geo.errors import InputError
from geo.settings import get_settings
from geo.track_times import check_upload
from geo.tracks.parse import parse_track
from geo.tracks.parse_time import GPS_ROLLOVER, gps_rollover, parse_times

BERLIN = "Europe/Berlin"
# alley 89 of the demo, as the tester walked it (a few fixes are enough here)
_LON, _LAT = 116.3246728, 39.9961067


@pytest.fixture()
def berlin(monkeypatch) -> Iterator[None]:
    """GRIDWARD_TIMEZONE=Europe/Berlin, as the tester ran it."""
    monkeypatch.setenv("GRIDWARD_TIMEZONE", BERLIN)
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("GRIDWARD_TIMEZONE")
    get_settings.cache_clear()


def _csv(times: list[str]) -> bytes:
    rows = [f"{t},{_LON + i * 2e-5:.7f},{_LAT:.7f}" for i, t in enumerate(times)]
    return ("time,lon,lat\n" + "\n".join(rows) + "\n").encode()


def _clock(start: str, n: int, step_s: int = 3) -> list[str]:
    t0 = dt.datetime.fromisoformat(start)
    return [(t0 + dt.timedelta(seconds=i * step_s)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


# ---------------------------------------------------------------- #2 the skipped hour
def test_times_in_the_spring_forward_gap_stay_apart_and_are_warned(berlin) -> None:
    """02:20-02:27 on 2026-03-29 do not exist in Berlin: shift_forward had put every fix at
    03:00 ("all fixes have the same time", credited on no day). Read with the offset before
    the switch (+01:00), 3 s apart as written, with a warning naming the gap and the remedy."""
    parsed = check_upload(_csv(_clock("2026-03-29 02:20:00", 141)), "walk.csv")
    t = parsed.points["time"]
    assert t.iloc[0] == pd.Timestamp("2026-03-29 01:20:00", tz="UTC")
    assert t.iloc[-1] == pd.Timestamp("2026-03-29 01:27:00", tz="UTC")
    assert (t.diff().dropna() == pd.Timedelta(seconds=3)).all()
    said = " ".join(parsed.warnings)
    assert "相同" not in said and "same time" not in said
    (gap,) = [w for w in parsed.warnings if "跳过" in w]
    assert gap.index("跳过") < gap.index("skipped when clocks went forward")  # Chinese first
    assert "2026-03-29 02:00–03:00" in gap and "+01:00" in gap and "2026-03-29 02:20:00" in gap
    assert "03:20:00–03:27:00" in gap  # where they landed, in the city's summer time


def test_a_walk_into_the_gap_runs_on_without_a_jump(berlin) -> None:
    """A logger kept on standard time, 01:58 to 02:02: one 4-minute walk, not one with a
    one-hour hole (or with its second half at 03:00)."""
    parsed = parse_track(_csv(_clock("2026-03-29 01:58:00", 81)), "w.csv", default_tz=BERLIN)
    t = parsed.points["time"]
    assert (t.diff().dropna() == pd.Timedelta(seconds=3)).all()
    assert t.iloc[0] == pd.Timestamp("2026-03-29 00:58:00", tz="UTC")


def test_excel_serial_days_in_the_gap_are_read_alike() -> None:
    """The Excel serial path localised with shift_forward too."""
    day0 = dt.datetime(1899, 12, 30)
    serials = [
        f"{(dt.datetime(2026, 3, 29, 2, 20, 0) + dt.timedelta(seconds=3 * i) - day0) / dt.timedelta(days=1):.10f}"  # noqa: E501
        for i in range(3)
    ]
    said: list[str] = []
    t = parse_times(serials, BERLIN, warnings=said)
    assert t.iloc[0] == pd.Timestamp("2026-03-29 01:20:00", tz="UTC")
    assert t.diff().dropna().dt.total_seconds().round().tolist() == [3.0, 3.0]
    assert len(said) == 1 and "跳过" in said[0]


# ---------------------------------------------------------------- #3 the repeated hour
def test_a_walk_through_the_fall_back_switch_is_read_by_its_order(berlin) -> None:
    """02:56 summer time, then (clocks back) 02:00 .. 02:01 standard time: refused as "CSV
    points have no times" before. In order, the times have one reading; newest first too."""
    times = _clock("2026-10-25 02:56:00", 80) + _clock("2026-10-25 02:00:00", 21)
    for order in (times, times[::-1]):
        parsed = check_upload(_csv(order), "walk.csv")
        t = parsed.points["time"]
        assert t.iloc[0] == pd.Timestamp("2026-10-25 00:56:00", tz="UTC")
        assert t.iloc[-1] == pd.Timestamp("2026-10-25 01:01:00", tz="UTC")
        assert (t.diff().dropna() == pd.Timedelta(seconds=3)).all()


def test_times_only_in_the_repeated_hour_are_refused_naming_it(berlin) -> None:
    """02:30-02:37 on 2026-10-25 happened twice (+02:00, then +01:00) and nothing tells
    which: refused naming the repeated hour, the zone and the remedy, not "no times"."""
    with pytest.raises(InputError) as refused:
        check_upload(_csv(_clock("2026-10-25 02:30:00", 145)), "walk.csv")
    msg = str(refused.value)
    assert "no times" not in msg and "没有时间" not in msg
    assert "重复的一小时（2026-10-25 02:00–03:00）" in msg and BERLIN in msg
    assert "+02:00" in msg and "+01:00" in msg
    assert msg.index("重复") < msg.index("repeated when clocks went back")


def test_shanghai_times_are_read_as_before() -> None:
    """No clock changes in Shanghai today: the same instants, no warning."""
    said: list[str] = []
    t = parse_times(["2026-11-20 08:00:00", "2026-11-20 08:00:03"], "Asia/Shanghai", warnings=said)
    assert t.tolist() == [
        pd.Timestamp("2026-11-20 00:00:00", tz="UTC"),
        pd.Timestamp("2026-11-20 00:00:03", tz="UTC"),
    ]
    assert said == []


# ---------------------------------------------------------------- #4 GPS week rollover
def _gpx(start: pd.Timestamp, n: int = 60, header: pd.Timestamp | None = None) -> bytes:
    meta = f"<metadata><time>{header:%Y-%m-%dT%H:%M:%SZ}</time></metadata>" if header else ""
    pts = "".join(
        f'<trkpt lat="{_LAT + i * 2e-5:.7f}" lon="{_LON:.7f}">'
        f"<time>{start + pd.Timedelta(seconds=3 * i):%Y-%m-%dT%H:%M:%SZ}</time></trkpt>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        f"{meta}<trk><trkseg>{pts}</trkseg></trk></gpx>"
    ).encode()


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("s")


def test_a_walk_dated_1024_weeks_early_is_moved_on_with_a_warning() -> None:
    """A walk of yesterday stamped 1024 weeks earlier (2007 for a 2026 walk) was stored on
    that day with only the old-date warning. The upload check moves it on and says why."""
    walked = _now() - pd.Timedelta(days=1)
    parsed = check_upload(_gpx(walked - GPS_ROLLOVER), "old_logger.gpx")
    assert parsed.points["time"].iloc[0] == walked
    said = " ".join(parsed.warnings)
    assert "轨迹日期较早" not in said  # the old day is not credited
    (w,) = [w for w in parsed.warnings if "GPS 周数翻转" in w]
    old_day = (walked - GPS_ROLLOVER).tz_convert("Asia/Shanghai").date()
    assert str(old_day) in w and "1024 周（7168 天）" in w and "week-number rollover" in w
    assert str(walked.tz_convert("Asia/Shanghai").date()) in w


def test_the_gpx_header_tells_the_rollover_whenever_the_file_is_read() -> None:
    """The tester's c2a2: fixes of 2007-04-10, header 2026-11-24: the file itself says so,
    read today or in a year."""
    data = _gpx(pd.Timestamp("2007-04-10 01:30", tz="UTC"), header=pd.Timestamp("2026-11-24 01:40", tz="UTC"))  # fmt: skip  # noqa: E501
    for now in (pd.Timestamp("2026-11-25", tz="UTC"), pd.Timestamp("2028-01-01", tz="UTC")):
        parsed = parse_track(data, "c2a2.gpx", now=now)
        assert parsed.points["time"].iloc[0] == pd.Timestamp("2026-11-24 01:30", tz="UTC")
        assert any("GPX 文件头" in w and "GPS 周数翻转" in w for w in parsed.warnings)
        assert not any("相差 7168 天" in w for w in parsed.warnings)  # no header-day warning


def test_a_genuine_old_walk_is_not_moved() -> None:
    """Only a walk that, moved on, ended within ROLLOVER_RECENT_DAYS before the upload: one
    that would land two months ago, or in the future, keeps its day (and its warning)."""
    now = pd.Timestamp("2026-11-25 12:00", tz="UTC")
    for walked in (now - pd.Timedelta(days=60), now + pd.Timedelta(hours=2)):
        t = pd.Series([walked - GPS_ROLLOVER, walked - GPS_ROLLOVER + pd.Timedelta(minutes=5)])
        assert gps_rollover(t, None, now) == 0
    t = pd.Series([now - pd.Timedelta(days=3), now - pd.Timedelta(days=3, minutes=-5)])
    assert gps_rollover(t, None, now) == 0  # a walk of this week: nothing to do
    old = _now() - pd.Timedelta(days=7168 + 60)
    parsed = check_upload(_gpx(old), "old.gpx")
    assert parsed.points["time"].iloc[0] == old
    assert any("轨迹日期较早" in w for w in parsed.warnings)
    assert not any("GPS 周数翻转" in w for w in parsed.warnings)


def test_a_walk_whose_header_agrees_with_its_fixes_is_not_moved() -> None:
    """T58 F3: a walk dated 2007 whose GPX header says 2007 too was moved to 2026 by the
    recency rule, with a warning quoting the header as 2026. The phone's own clock agrees with
    the fixes: the walk keeps its day."""
    now = pd.Timestamp("2026-11-25 12:00", tz="UTC")
    walked = now - pd.Timedelta(days=6) - GPS_ROLLOVER
    data = _gpx(walked, header=walked + pd.Timedelta(minutes=5))
    parsed = parse_track(data, "k4.gpx", now=now)
    assert parsed.points["time"].iloc[0] == walked
    assert not any("GPS 周数翻转" in w for w in parsed.warnings)
    # a header on neither day: the recency rule moves it, and the warning does not cite it
    data = _gpx(walked, header=pd.Timestamp("2015-06-01", tz="UTC"))
    (w,) = [w for w in parse_track(data, "k4b.gpx", now=now).warnings if "GPS 周数翻转" in w]
    assert "GPX 文件头" not in w and "最近 31 天内的巡查" in w


# ---------------------------------------------------------------- #10 the zone named
def test_the_1970_refusal_names_its_zone() -> None:
    with pytest.raises(InputError) as refused:
        parse_track(_gpx(pd.Timestamp("1970-01-01 00:00:05", tz="UTC")), "c.gpx")
    assert "时间 1970-01-01 00:00（UTC）超出范围" in str(refused.value)
    assert "time 1970-01-01 00:00 UTC out of range (before 1990" in str(refused.value)


def test_the_token_line_gives_the_city_time_and_zone(db, pg_url, monkeypatch) -> None:
    """`users token` printed the UTC date (`expires 2027-11-25`) where `users tokens` lists
    2027-11-26 04:23 (Asia/Shanghai): now both the city's time, the zone said."""
    from typer.testing import CliRunner

    from api.cli import app
    from geo import accounts

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        with db.begin() as conn:
            accounts.create_user(conn, "t57-phone", "phone password", "steward")
        r = CliRunner().invoke(app, ["users", "token", "t57-phone", "--days", "30"])
        assert r.exit_code == 0, r.output
        line = r.output.splitlines()[0]
        listed = CliRunner().invoke(app, ["users", "tokens", "t57-phone"]).output
    finally:
        get_settings.cache_clear()
    expires = line.split("expires ")[1]
    assert expires.endswith(" (Asia/Shanghai)")
    local = expires.removesuffix(" (Asia/Shanghai)")
    assert f"Asia/Shanghai 时间 {local} 到期" in line
    assert local in listed  # the listing's expiry, the same words


# ---------------------------------------------------------------- #8 one floor of days
def test_the_patrol_map_takes_the_days_reports_take(db, auth_headers) -> None:
    """/maps/patrols?date=1999-05-01 was a 422 (outside 2000-01-01..) while uploads and
    reports take days from 1990; the page's date input said min 2000-01-01."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        r = client.get("/maps/patrols?date=1999-05-01", headers=admin)
        assert r.status_code == 200, r.text
        assert 'min="1990-01-01"' in r.text
        r = client.get("/maps/patrols?date=1989-12-31", headers=admin)
    assert r.status_code == 422 and "outside 1990-01-01..2100-12-31" in r.text
