"""The patrol map's two costs made small without changing what it shows (T44): the chart's
days are judged in one pass per role (geo.patrol_days.judge_days) and read exactly
as a day judged alone; a track with very many fixes in a day is thinned in SQL for drawing,
and the page says so. Real PostGIS, the district week of tests/test_patrol_map_area_db.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text

import geo.map_data as map_data
import geo.patrol_days as patrol_days
import geo.patrol_reports as patrol_reports
from geo.map_data import patrols_of_day
from geo.patrol_reports import build_report, daily_frames
from geo.track_days import local_days
from tests.test_patrol_map_area_db import WEEK, _track, district  # noqa: F401
from tests.test_patrol_map_db import DAY, SHARE, _today, city  # noqa: F401

CHART = [DAY - dt.timedelta(days=i) for i in range(13, -1, -1)]


def _one_day_at_a_time(monkeypatch) -> None:  # noqa: ANN001
    """Judge each day alone, as the code did before the one pass."""
    monkeypatch.setattr(patrol_days, "_day_runs", lambda net, days: [[d] for d in days])


def _same(a: pd.DataFrame, b: pd.DataFrame, what: Any) -> None:
    """Equal to the last bit, index and columns in order (a text column's dtype may be
    ``str`` or ``object``: the same values either way)."""
    assert list(a.columns) == list(b.columns), what
    assert a.index.tolist() == b.index.tolist(), what
    pd.testing.assert_frame_equal(a, b, check_exact=True, check_dtype=False, obj=str(what))


def _retire_mid_week(db) -> int:  # noqa: ANN001
    """A held alley's segment retired by a re-import on the week's fourth day: the week
    has two networks. Its id."""
    with db.begin() as conn:
        seg = conn.execute(
            text(
                "SELECT s.id FROM street_segments s JOIN assignments a "
                "ON a.street_id = s.street_id AND a.role = 'alley_steward' "
                "JOIN patrol_visits v ON v.segment_id = s.id ORDER BY s.id LIMIT 1"
            )
        ).scalar_one()
        conn.execute(
            text("UPDATE street_segments SET retired_at = CAST(:t AS timestamptz) WHERE id = :s"),
            {"t": f"{WEEK[3]}T12:00:00+08:00", "s": seg},
        )
    return int(seg)


def test_one_pass_reads_as_each_day_alone(district, monkeypatch) -> None:  # noqa: ANN001, F811
    """Every table of the daily, weekly and monthly reports and the patrol map's 14 days,
    for the city and an area, with a network that changed mid-week, co-stewards, a steward
    who started and one who left mid-week, chiefs' corridors and today pending: the one
    pass per role gives the numbers, index and order the day-by-day judging gave, bit for
    bit."""
    db = district["db"]
    _retire_mid_week(db)
    net = patrol_days._NetworkByDay(
        patrol_reports._load(db, WEEK, None, with_areas=False)["segments"], "Asia/Shanghai"
    )
    assert len(patrol_days._day_runs(net, WEEK)) == 2  # before and after the re-import

    def everything() -> dict[Any, pd.DataFrame]:
        out: dict[Any, pd.DataFrame] = {}
        for area in (None, "110108015002"):
            for kind, today in (("daily", DAY), ("weekly", DAY), ("monthly", _today())):
                rep = build_report(db, kind, DAY, area, patrolled_share=SHARE, today=today)
                out.update({(area, kind, name): df for name, df in rep.items()})
            frames = daily_frames(db, CHART, area, SHARE, today=DAY)
            out.update({(area, d, n): df for d, tabs in frames.items() for n, df in tabs.items()})
        return out

    now = everything()
    _one_day_at_a_time(monkeypatch)
    alone = everything()
    assert now.keys() == alone.keys()
    for key in now:
        _same(now[key], alone[key], key)
    assert sum(len(df) for (_, kind, name), df in now.items() if kind == "monthly") > 100
    assert now[(None, "monthly", "alleys")]["patrolled"].any()
    assert now[(None, DAY, "alleys")]["pending"].any()  # today's not done yet


def test_the_chart_is_the_same_page(district, monkeypatch) -> None:  # noqa: ANN001, F811
    """The page's data (drawn alleys, counts, the chart's bars) is what the day-by-day
    judging made, for the city, an area and one person."""
    db = district["db"]
    who = sorted({p for p, *_ in district["duties"]})[0]
    pages = [
        {"area": None},
        {"area": "110108015002"},
        {"person_id": who},
    ]
    now = [patrols_of_day(db, DAY, threshold=SHARE, today=DAY, **kw) for kw in pages]
    _one_day_at_a_time(monkeypatch)
    alone = [patrols_of_day(db, DAY, threshold=SHARE, today=DAY, **kw) for kw in pages]
    for a, b in zip(now, alone, strict=True):
        assert a.alleys == b.alleys and a.compliance == b.compliance and a.counts == b.counts
        assert a.pending == b.pending and a.tracks == b.tracks


def _long_track(db, person: int, n: int, day: dt.date) -> int:  # noqa: ANN001
    """A recording of ``n`` fixes, one every 30 s from 20:00 the evening before ``day``
    (local), so its fixes fall on two local days and three UTC day tables; its id."""
    from geo.track_partitions import ensure_day_partitions

    start = pd.Timestamp(f"{day - dt.timedelta(days=1)}T20:00:00+08:00")
    end = start + pd.Timedelta(seconds=30 * (n - 1))
    ensure_day_partitions(db, [day - dt.timedelta(days=2), day - dt.timedelta(days=1), day])
    with db.begin() as conn:
        t = _track(conn, f"long-{n}-{day}", person)
        conn.execute(
            text("UPDATE tracks SET started_at = :a, ended_at = :b, n_points = :n WHERE id = :t"),
            {"a": start, "b": end, "n": n, "t": t},
        )
        conn.execute(
            text(
                "INSERT INTO track_points (track_id, seq, t, geom) SELECT :t, k, "
                "CAST(:a AS timestamptz) + k * interval '30 seconds', "
                "ST_SetSRID(ST_MakePoint(116.32 + 0.0005 * sin(k / 40.0), "
                "40.0 + k * 0.000005), 4326) FROM generate_series(0, :n - 1) k"
            ),
            {"t": t, "a": start, "n": n},
        )
    return int(t)


def test_a_long_tracks_day_is_thinned_in_sql_and_said(district, monkeypatch) -> None:  # noqa: ANN001, F811
    """A track with more fixes in the day than TRACK_DRAW_FIXES is read thinned: only that
    day's fixes, at most about TRACK_DRAW_FIXES of them (the first of each equal stretch of
    its time, and its last), each with its own time; n_points is the day's count and the
    page says it is drawn from a sample, Chinese first. A track under the limit is drawn
    from every fix of the day, as before. The patrol numbers do not move."""
    db = district["db"]
    who = sorted({p for p, *_ in district["duties"]})[0]
    monkeypatch.setattr(map_data, "TRACK_DRAW_FIXES", 60)
    before = patrols_of_day(db, DAY, who, threshold=SHARE, today=_today())
    long_id = _long_track(db, who, 3000, DAY)  # 4 h the evening before, 21 h of DAY
    short_id = _long_track(db, who, 50, DAY - dt.timedelta(days=3))  # 25 min on DAY - 4
    with db.connect() as conn:
        span = local_days(DAY, DAY, "Asia/Shanghai")
        rows = conn.execute(
            text("SELECT id, started_at, ended_at FROM tracks WHERE id = ANY(:i) ORDER BY id"),
            {"i": [long_id]},
        ).all()
        pts, counts = map_data._drawn_fixes(conn, rows, span)
        whole = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT seq, t FROM track_points WHERE track_id = :t "
                    "AND t >= :start AND t < :end ORDER BY seq"
                ),
                {"t": long_id, **span},
            ).all()
        )
    assert counts == {long_id: len(whole)} and len(whole) > 2000
    assert 30 <= len(pts) <= 62  # about one per stretch of time, and the last
    times = pts["time"].tolist()
    assert times == sorted(times) and set(times) <= set(pd.to_datetime(whole["t"], utc=True))
    assert times[0] == pd.Timestamp(whole["t"].iloc[0]) and times[-1] == pd.Timestamp(
        whole["t"].iloc[-1]
    )
    gaps = pd.Series(times).diff().dropna().dt.total_seconds()
    assert gaps.max() <= 2 * (times[-1] - times[0]).total_seconds() / 60 + 30  # even in time

    d = patrols_of_day(db, DAY, who, threshold=SHARE, today=_today())
    assert d.alleys == before.alleys and d.compliance == before.compliance
    drawn = {t["id"]: t for t in d.tracks}
    assert drawn[long_id]["thinned"] and drawn[long_id]["n_points"] == len(whole)
    assert 2 <= len(drawn[long_id]["points"]) <= 62
    assert all(not t["thinned"] for i, t in drawn.items() if i != long_id)
    from maps.patrol_map import build_patrol_map, thinned_note

    note = thinned_note(drawn[long_id])
    assert note.startswith(f"轨迹 {long_id} 当天有 {len(whole):,} 个定位点")
    assert f"track {long_id} has {len(whole):,} fixes this day" in note
    page = build_patrol_map(d, (116.3, 39.98, 116.34, 40.01), today=_today())
    assert f'data-track="{long_id}">{note}</p>' in page
    assert "已抽稀 thinned" in page

    # under the limit: every fix of the day, the same points the whole read gave
    other = patrols_of_day(db, DAY - dt.timedelta(days=4), who, threshold=SHARE, today=_today())
    mine = next(t for t in other.tracks if t["id"] == short_id)
    assert not mine["thinned"]
    monkeypatch.setattr(map_data, "_drawn_fixes", _whole_read)
    again = patrols_of_day(db, DAY - dt.timedelta(days=4), who, threshold=SHARE, today=_today())
    assert next(t for t in again.tracks if t["id"] == short_id) == {**mine, "thinned": False}
    assert "gw-thinned" not in build_patrol_map(other, (116.3, 39.98, 116.34, 40.01))


def _whole_read(conn, rows, span):  # noqa: ANN001, ANN202
    """The drawn fixes as read before: every fix of the tracks' spans, cut to the day."""
    from geo.track_points import read_track_points

    pts = read_track_points(conn, [r.id for r in rows])
    pts = pts[(pts["time"] >= span["start"]) & (pts["time"] < span["end"])]
    return pts, {int(k): int(v) for k, v in pts["track_id"].value_counts().items()}


@pytest.mark.parametrize("dropped", [True, False])
def test_a_track_whose_day_tables_were_dropped_is_still_drawn(district, dropped) -> None:  # noqa: ANN001, F811
    """Retention drops whole UTC day tables (geo.track_partitions.drop_days_before); a
    track whose fixes of the day lay in one is re-read from its kept upload, as before,
    and drawn from the same fixes."""
    from geo.demo import track_csv
    from geo.track_store import store_track

    db = district["db"]
    who = sorted({p for p, *_ in district["duties"]})[0]
    day = DAY - dt.timedelta(days=20)
    times = pd.date_range(f"{day}T07:00:00+08:00", periods=40, freq="60s").tz_convert("UTC")
    pts = pd.DataFrame({"lon": 116.32 + 0.0001 * pd.RangeIndex(40), "lat": 40.0, "time": times})
    tid = store_track(db, track_csv(pts), "morning.csv", "wgs84", who, "test").track_id
    want = patrols_of_day(db, day, who, threshold=SHARE, today=_today()).tracks
    if dropped:
        from geo.track_partitions import partition_name

        with db.begin() as conn:
            for utc_day in {t.date() for t in times}:
                conn.execute(text(f'DROP TABLE IF EXISTS "{partition_name(utc_day)}"'))
            left = conn.execute(
                text("SELECT count(*) FROM track_points WHERE track_id = :t"), {"t": tid}
            ).scalar()
        assert left == 0
    got = patrols_of_day(db, day, who, threshold=SHARE, today=_today()).tracks
    assert got == want and [t["id"] for t in got] == [tid]
    assert got[0]["n_points"] == 40 and not got[0]["thinned"]
