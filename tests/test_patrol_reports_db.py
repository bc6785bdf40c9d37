"""Patrol reports over a real PostGIS: periods cut at the city's today, far dates refused,
missing times as null, Chinese-first labels (API, files and CLI).

Visits are written straight into ``patrol_visits`` relative to the real city today, so the
expected days hold whatever day the tests run on.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from geo.settings import city_today, get_settings
from geo.street_areas import street_areas_sql
from tests.conftest import FIXTURES
from tests.test_import import GRIDWARD

STEWARD, CHIEF = 1, 2


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@pytest.fixture()
def city(db):
    """Demo city; steward 1 holds 4 alleys and walked all of them every day of this week and
    this month so far (local midnight, so today's walk is never in the future); chief 2 holds
    one street and never walked."""
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    today = city_today()
    since = today - dt.timedelta(days=60)
    first = min(_week_start(today), _month_start(today))
    tz = ZoneInfo(get_settings().timezone)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES "
                "('S1', '王小巷', ARRAY['alley_steward']), ('C1', '张街长', ARRAY['street_chief'])"
            )
        )
        # ways of the demo's communities (geo.street_areas): some run mostly beyond them
        inside = f"SELECT alley_id FROM ({street_areas_sql()}) w WHERE community_code IS NOT NULL"
        alleys = conn.execute(
            text(
                "SELECT st.id FROM streets st WHERE st.kind = 'alley' AND EXISTS "
                "(SELECT 1 FROM street_segments s WHERE s.street_id = st.id) "
                f"AND st.id IN ({inside}) ORDER BY st.id LIMIT 4"
            )
        ).scalars()
        alleys = list(alleys)
        street = conn.execute(
            text(
                f"SELECT id FROM streets WHERE kind = 'street' AND id IN ({inside}) "
                "ORDER BY id LIMIT 1"
            )
        ).scalar_one()
        for sid, who, role in [(a, STEWARD, "alley_steward") for a in alleys] + [
            (street, CHIEF, "street_chief")
        ]:
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                    "VALUES (:p, :r, :s, :d)"
                ),
                {"p": who, "r": role, "s": sid, "d": since},
            )
        track = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                "person_id, status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, 1, 'matched') "
                "RETURNING id"
            ),
            {"h": "a" * 64},
        ).scalar_one()
        segments = conn.execute(
            text("SELECT id FROM street_segments WHERE street_id = ANY(:a)"), {"a": alleys}
        ).scalars()
        segments = list(segments)
        day = first
        while day <= today:
            at = dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)
            for seg in segments:
                conn.execute(
                    text(
                        "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                        "covered_fraction, first_time, last_time, intervals) "
                        "VALUES (:t, :s, 1, :d, 1.0, :at, :at, '[[0, 1]]')"
                    ),
                    {"t": track, "s": seg, "d": day, "at": at},
                )
            day += dt.timedelta(days=1)
    return db


def _steward(rep: dict) -> dict:
    return next(p for p in rep["people"] if p["person_id"] == STEWARD)


def test_running_week_and_month_stop_at_today(city, auth_headers):
    """Old code: 7 days / the whole month, days to come counted as missed (compliance 2/7 on
    a Tuesday), and no from/to in the answer."""
    admin = auth_headers("admin")
    today = city_today()
    with TestClient(create_app(city)) as client:
        for kind, start, whole in (
            ("weekly", _week_start(today), 7),
            ("monthly", _month_start(today), None),
        ):
            r = client.get(f"/reports/{kind}", params={"date": str(today)}, headers=admin)
            assert r.status_code == 200, r.text
            rep = r.json()
            n = (today - start).days + 1
            steward = _steward(rep)
            assert steward["compliance"] == pytest.approx(1.0), (kind, steward)
            assert steward["days"] == n and steward["alley_days"] == 4 * n
            days = {a["day"] for a in rep["alleys"] if a["role"] == "alley_steward"}
            assert max(days) == str(today) and len(days) == n
            assert (rep["from"], rep["to"], rep["days"]) == (str(start), str(today), n)
            assert rep["period_from"] == str(start) and rep["date"] == str(today)
            end = dt.date.fromisoformat(rep["period_to"])
            assert rep["partial"] == (end != today)
            if whole:
                assert (end - start).days + 1 == whole
            assert end.month == start.month or kind == "weekly"
        daily = client.get("/reports/daily", params={"date": str(today)}, headers=admin).json()
        assert (daily["from"], daily["to"], daily["days"], daily["partial"]) == (
            str(today),
            str(today),
            1,
            False,
        )
        assert _steward(daily)["compliance"] == pytest.approx(1.0)
        # a past month is whole
        last = _month_start(today) - dt.timedelta(days=1)
        past = client.get("/reports/monthly", params={"date": str(last)}, headers=admin).json()
        assert past["to"] == str(last) and past["days"] == last.day and not past["partial"]


def test_future_far_and_ancient_dates_are_a_422(city, auth_headers):
    """Old code: 9999 overflowed (500), year 1 overflowed pandas (500), and a future period
    was a report with every day missed (200)."""
    admin = auth_headers("admin")
    today = city_today()
    nxt_month = (_month_start(today) + dt.timedelta(days=32)).replace(day=1)
    cases = [
        ("daily", today + dt.timedelta(days=1), "in the future"),
        ("weekly", _week_start(today) + dt.timedelta(days=7), "in the future"),
        ("monthly", nxt_month, "in the future"),
        ("weekly", dt.date(9999, 12, 28), "week starting 9999-12-27 is in the future"),
        ("weekly", dt.date(9999, 12, 31), "in the future"),
        ("monthly", dt.date(9999, 12, 31), "9999-12 is in the future"),
        ("daily", dt.date(9999, 12, 31), "in the future"),
        ("daily", dt.date(1, 1, 1), "before 1990-01-01"),
        ("weekly", dt.date(1, 1, 1), "before 1990-01-01"),
        ("monthly", dt.date(1, 1, 1), "before 1990-01-01"),
    ]
    with TestClient(create_app(city)) as client:
        for kind, day, words in cases:
            for fmt in ("json", "xlsx"):
                r = client.get(
                    f"/reports/{kind}", params={"date": str(day), "format": fmt}, headers=admin
                )
                assert r.status_code == 422, (kind, day, r.text)
                assert words in r.json()["error"], (kind, day, r.text)
        r = client.get("/reports/daily", params={"share": 1.5}, headers=admin)
        assert r.status_code == 422 and "share" in r.json()["error"]
        # a misspelt or repeated parameter gave another report than the one asked for
        r = client.get("/reports/weekly?data=2026-11-05", headers=admin)
        assert r.status_code == 422 and "unknown parameter 'data'" in r.json()["error"]
        r = client.get(f"/reports/daily?date={today}&date={today}", headers=admin)
        assert r.status_code == 422 and "'date' given more than once" in r.json()["error"]


def test_missing_times_are_null_and_roles_and_sheets_are_labelled(city, auth_headers):
    """Old code: "first_time": "NaT" on unwalked alleys, raw role codes in CSV/XLSX, English
    sheet names, and no sheet saying which days the file covers."""
    admin = auth_headers("admin")
    today = city_today()
    quiet = today - dt.timedelta(days=45)  # before any walk, after the duties began
    with TestClient(create_app(city)) as client:
        # today the steward's alleys were walked and the chief's street was not
        walked = client.get("/reports/daily", params={"date": str(today)}, headers=admin).json()
        assert "NaT" not in str(walked)
        times = {a["role"]: (a["first_time"], a["last_time"]) for a in walked["alleys"]}
        assert times["street_chief"] == (None, None) and all(times["alley_steward"])
        rep = client.get("/reports/daily", params={"date": str(quiet)}, headers=admin).json()
        assert rep["alleys"] and all(a["first_time"] is None for a in rep["alleys"])
        assert all(a["last_time"] is None for a in rep["alleys"])
        roles = {(p["role"], p["role_label"]) for p in rep["people"]}
        assert roles == {
            ("alley_steward", "小巷管家 alley steward"),
            ("street_chief", "街巷长 street chief"),
        }

        r = client.get(
            "/reports/weekly", params={"date": str(today), "format": "csv"}, headers=admin
        )
        assert r.status_code == 200
        start = _week_start(today)
        assert f"weekly_{start}_{today}.csv" in r.headers["content-disposition"]
        people = pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")
        assert set(people["职责 role"]) == {"小巷管家 alley steward", "街巷长 street chief"}

        r = client.get(
            "/reports/daily", params={"date": str(quiet), "format": "xlsx"}, headers=admin
        )
        assert r.status_code == 200
        sheets = pd.read_excel(io.BytesIO(r.content), sheet_name=None)
    # a daily report also has its segments (one row per segment of every duty alley)
    assert list(sheets) == [
        "人员 people",
        "街巷 alleys",
        "区域 areas",
        "路段 segments",
        "报表 report",
    ]
    assert all(len(name) <= 31 and not set(name) & set("[]:*?/\\") for name in sheets)
    alleys = sheets["街巷 alleys"]
    assert alleys["首次时间 first_time"].isna().all() and len(alleys) == 5
    assert set(alleys["职责 role"]) == {"小巷管家 alley steward", "街巷长 street chief"}
    about = dict(sheets["报表 report"].to_numpy().tolist())
    assert about["报表 report"] == f"日巡 daily patrol {quiet}"
    assert (about["起 from"], about["止 to"]) == (str(quiet), str(quiet))
    assert about["达标线 patrolled when"] == 0.8  # the rule behind the numbers (a number)


def test_reports_say_their_share_and_give_local_times(city, auth_headers):
    """Old code: no word of the share used, and first/last times in UTC."""
    admin = auth_headers("admin")
    today = str(city_today())
    with TestClient(create_app(city)) as client:
        rep = client.get("/reports/daily", params={"date": today}, headers=admin).json()
        assert rep["share"] == 0.8
        assert rep["time_zone"] == "Asia/Shanghai"  # the days' zone too (T40 #9)
        assert all(a["first_time"].endswith("+08:00") for a in rep["alleys"] if a["first_time"])
        strict = {"date": today, "share": 0.5}
        assert client.get("/reports/daily", params=strict, headers=admin).json()["share"] == 0.5


def test_areas_have_subdistrict_totals_and_community_ranks(city, auth_headers, pg_url):
    """Old code: community rows only, no subdistrict (街道) total, no ranking, and the CLI
    printed people only."""
    admin = auth_headers("admin")
    today = str(city_today())
    with TestClient(create_app(city)) as client:
        rep = client.get("/reports/weekly", params={"date": today}, headers=admin).json()
    areas = pd.DataFrame(rep["areas"])
    for role, rows in areas.groupby("role"):
        subs, comms = rows[rows["level"] == "subdistrict"], rows[rows["level"] == "community"]
        assert len(subs) >= 1 and len(comms) >= 1, role
        # a subdistrict's alley-days are its communities' together
        assert subs["alley_days"].sum() == comms["alley_days"].sum()
        assert subs["patrolled"].sum() == comms["patrolled"].sum()
        # communities whose alleys nobody holds have a row (their unstaffed alley-days)
        # but no rate and no rank
        # the demo's ways that run mostly beyond its communities have a row named as
        # outside every community: no area, so never ranked
        outside = comms["community_code"].isna()
        assert comms.loc[outside, "rank"].isna().all()
        comms = comms[~outside]
        # nothing patrolled is no rank either (see test_nobody_patrolled_ranks_nobody_first)
        rated = comms[comms["compliance"] > 0]
        assert (comms.loc[comms["compliance"].isna(), "alley_days"] == 0).all()
        assert (
            rated["rank"].notna().all()
            and comms.loc[~comms.index.isin(rated.index), "rank"].isna().all()
        )
        best = rated.sort_values("compliance", ascending=False)["rank"].astype(int).tolist()
        assert not best or (best[0] == 1 and best == sorted(best))
    out = _cli(["report", "weekly", "--date", today], pg_url)
    assert out.returncode == 0, out.stderr
    assert "区域 areas" in out.stdout and "街道 subdistrict" in out.stdout


def test_nobody_patrolled_ranks_nobody_first():
    """On a day no chief patrolled, every chief read 排名 rank 1, which a supervisor reads as
    the best (an outside tester): a rate of 0 gets no rank; ties still share one."""
    from geo.coverage import rank_rates as _rank

    rates = pd.Series([0.0, 0.0, None, 0.5, 0.5, 0.25])
    roles = ["chief", "chief", "steward", "steward", "steward", "steward"]
    assert _rank(rates, roles).tolist() == [pd.NA, pd.NA, pd.NA, 1, 1, 3]


def test_a_later_time_zone_setting_keeps_old_walks_on_their_day(city, auth_headers, monkeypatch):
    """A visit keeps the local day it was matched on. Old code filtered on that stored day
    and then worked the day out again in the current zone: with GRIDWARD_TIMEZONE changed to
    UTC, a walk at 00:00 Beijing (16:00 UTC the day before) fell out of both days."""
    admin = auth_headers("admin")
    day = city_today() - dt.timedelta(days=40)  # before the fixture's walks
    at = dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    with city.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) SELECT v.track_id, "
                "v.segment_id, 1, :d, 1.0, :at, :at, '[[0, 1]]' FROM patrol_visits v "
                "WHERE v.day = (SELECT min(day) FROM patrol_visits)"
            ),
            {"d": day, "at": at},
        )
    try:
        monkeypatch.setenv("GRIDWARD_TIMEZONE", "UTC")
        get_settings.cache_clear()
        with TestClient(create_app(city)) as client:
            rep = client.get("/reports/daily", params={"date": str(day)}, headers=admin).json()
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE")
        get_settings.cache_clear()
    assert _steward(rep)["compliance"] == pytest.approx(1.0)


def _cli(args: list[str], pg_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": pg_url, "COLUMNS": "200"}  # a wide, untruncated title
    return subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_titles_and_roles(city, pg_url):
    """Old code: an English title with the typed date, and raw role codes."""
    today = city_today()
    start, end = _week_start(today), _week_start(today) + dt.timedelta(days=6)
    res = _cli(["report", "weekly", "--date", str(today)], pg_url)
    assert res.returncode == 0, res.stderr
    assert f"周查 weekly check {start} 至 {end}" in res.stdout
    if today != end:
        assert f"截至 through {today}" in res.stdout
    assert "小巷管家 alley steward" in res.stdout and "alley_steward" not in res.stdout
    res = _cli(["report", "monthly", "--date", str(today)], pg_url)
    assert f"月评 monthly evaluation {today:%Y-%m}" in res.stdout
    res = _cli(["report", "daily", "--date", str(today)], pg_url)
    assert f"日巡 daily patrol {today}" in res.stdout and "截至" not in res.stdout


def test_cli_errors_name_the_problem(city, pg_url):
    """Old code: OverflowError tracebacks for 9999, a pandas one for year 1,
    'patrolled_share must be in (0, 1]' and 'area  does not exist'."""
    for args, words in (
        (["monthly", "--date", "9999-12-31"], "9999-12 is in the future"),
        (["weekly", "--date", "9999-12-28"], "week starting 9999-12-27 is in the future"),
        (["weekly", "--date", "0001-01-01"], "before 1990-01-01"),
        (["daily", "--share", "1.5"], "--share 1.5 must be in (0, 1]"),
        (["daily", "--area", ""], "area code is empty"),
    ):
        res = _cli(["report", *args], pg_url)
        assert res.returncode == 2, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (
            args,
            res.stderr,
        )


def _make_chief(conn: Connection, street: int, day: dt.date) -> None:
    """CHIEF holds ``street`` as its street chief from the day before ``day``."""
    conn.execute(
        text(
            "INSERT INTO assignments (person_id, role, street_id, valid_from) "
            "VALUES (:p, 'street_chief', :s, :d)"
        ),
        {"p": CHIEF, "s": street, "d": day - dt.timedelta(days=1)},
    )


def test_a_chief_who_walks_one_way_of_a_street_drawn_as_several_is_credited(city, auth_headers):
    """成府路 is five parallel OSM ways (4.7 km of lines for 1.6 km of road). Old code: a
    chief who walked its longest way end to end had 0.34 of it, never patrolled. Now the
    street counts where it lies within 20 m of the chief's walk."""
    admin = auth_headers("admin")
    day = city_today() - dt.timedelta(days=30)
    at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    with city.begin() as conn:
        street = conn.execute(text("SELECT id FROM streets WHERE name = '成府路'")).scalar_one()
        _make_chief(conn, street, day)
        way = conn.execute(
            text(
                "SELECT osm_way_id FROM street_segments WHERE street_id = :s "
                "GROUP BY osm_way_id ORDER BY sum(length_m) DESC LIMIT 1"
            ),
            {"s": street},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) "
                "SELECT (SELECT min(id) FROM tracks), s.id, :p, :d, 1.0, :at, :at, '[[0, 1]]' "
                "FROM street_segments s WHERE s.street_id = :s AND s.osm_way_id = :w"
            ),
            {"p": CHIEF, "d": day, "at": at, "s": street, "w": way},
        )
    with TestClient(create_app(city)) as client:
        rep = client.get("/reports/daily", params={"date": str(day)}, headers=admin).json()
    row = next(a for a in rep["alleys"] if a["alley_id"] == street and a["role"] == "street_chief")
    assert row["covered_share"] > 0.9 and row["patrolled"], row
    # the metres are the way walked, not the parallel ways beside it (T40 #7)
    assert row["walked_m"] == pytest.approx(row["length_m"] * row["walked_share"])
    assert 0.3 < row["walked_share"] < 0.4 and row["walked_m"] < row["covered_m"], row
    # the steward's alleys are not walked that day, and gain nothing from the chief's walk
    steward = [a for a in rep["alleys"] if a["role"] == "alley_steward"]
    assert steward and all(a["walked_share"] == 0 for a in steward)


def test_the_chiefs_corridor_widens_the_walk_but_does_not_lengthen_it(city, auth_headers):
    """A chief who walked the middle 60 % of a one-way street (no parallel way) is credited
    60 %. Old code: the corridor's round ends added up to 20 m at each end of the walk along
    the street itself (an outside tester: 0.66 walked read 0.85, patrolled)."""
    admin = auth_headers("admin")
    day = city_today() - dt.timedelta(days=31)
    at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    with city.begin() as conn:
        street, seg, length = conn.execute(
            text(
                "SELECT s.street_id, min(s.id), sum(s.length_m) FROM street_segments s "
                "JOIN streets t ON t.id = s.street_id GROUP BY s.street_id "
                "HAVING count(*) = 1 AND sum(s.length_m) BETWEEN 120 AND 400 "
                "ORDER BY sum(s.length_m) LIMIT 1"
            )
        ).one()
        _make_chief(conn, street, day)
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) VALUES "
                "((SELECT min(id) FROM tracks), :g, :p, :d, 0.6, :at, :at, '[[0.2, 0.8]]')"
            ),
            {"g": seg, "p": CHIEF, "d": day, "at": at},
        )
    with TestClient(create_app(city)) as client:
        rep = client.get("/reports/daily", params={"date": str(day)}, headers=admin).json()
    row = next(a for a in rep["alleys"] if a["alley_id"] == street and a["role"] == "street_chief")
    assert row["walked_share"] == pytest.approx(0.6, abs=0.01), (row, length)
    assert not row["patrolled"]


def test_a_chief_who_walked_30_percent_of_one_carriageway_reads_the_metres_walked(city):
    """T40 #7, outside tester: a chief walked 474 m of one carriageway of 成府路; the daily
    report said walked_m 1188.4 for the street and 1371.7 on his person row (the 20 m rule
    counted the other carriageway as walked), and areas and months summed those. Now
    walked_m is the walking alone in every table, and ``covered_*`` (what patrolled is
    judged on) adds the parallel ways beside it."""
    from geo.patrol_reports import build_report, daily_frames
    from geo.report_period import report_period

    # a day of last month (a whole week and month: nobody else walks then)
    day = _month_start(city_today()) - dt.timedelta(days=10)
    at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    with city.begin() as conn:
        street = conn.execute(text("SELECT id FROM streets WHERE name = '成府路'")).scalar_one()
        _make_chief(conn, street, day)
        way = conn.execute(  # its longest way, a carriageway of the dual road
            text(
                "SELECT osm_way_id FROM street_segments WHERE street_id = :s "
                "GROUP BY osm_way_id ORDER BY sum(length_m) DESC LIMIT 1"
            ),
            {"s": street},
        ).scalar_one()
        segs = conn.execute(
            text(
                "SELECT id, length_m FROM street_segments WHERE street_id = :s "
                "AND osm_way_id = :w ORDER BY id"
            ),
            {"s": street, "w": way},
        ).all()
        want = 0.3 * sum(g.length_m for g in segs)  # 30 % of the carriageway
        walked = 0.0
        for g in segs:
            f = min(1.0, (want - walked) / g.length_m)
            if f <= 0:
                break
            conn.execute(
                text(
                    "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                    "covered_fraction, first_time, last_time, intervals) VALUES "
                    "((SELECT min(id) FROM tracks), :g, :p, :d, :f, :at, :at, CAST(:iv AS jsonb))"
                ),
                {"g": g.id, "p": CHIEF, "d": day, "f": f, "at": at, "iv": f"[[0, {f}]]"},
            )
            walked += f * g.length_m
    assert walked == pytest.approx(want)
    rep = build_report(city, "daily", day)
    chief = rep["alleys"][rep["alleys"]["role"] == "street_chief"]
    row = chief[chief["alley_id"] == street].iloc[0]
    assert row["walked_m"] == pytest.approx(walked, abs=0.5), row  # old code: 1233.4
    assert row["walked_share"] == pytest.approx(walked / row["length_m"], abs=1e-4)
    assert row["holder_walked_m"] == [round(walked, 1)]
    # the other carriageway lies within 20 m: covered, and not walked
    assert row["covered_m"] > walked + 200 and not row["patrolled"], row
    assert row["covered_share"] == pytest.approx(row["covered_m"] / row["length_m"])
    segments = rep["segments"][rep["segments"]["alley_id"] == street]
    assert segments["walked_m"].sum() == pytest.approx(walked, abs=0.5)
    assert segments["covered_m"].sum() == pytest.approx(row["covered_m"], abs=0.5)
    people = rep["people"].set_index("person_id")
    assert people.loc[CHIEF, "walked_m"] == pytest.approx(walked, abs=0.5)  # old: 1233.4
    areas = rep["areas"][rep["areas"]["role"] == "street_chief"]
    for level in ("community", "subdistrict"):
        got = areas.loc[areas["level"] == level, "walked_m"].sum()
        assert got == pytest.approx(walked, abs=0.5), (level, areas)
    # weekly and monthly: the sum of their days' person rows, the metres walked
    for kind in ("weekly", "monthly"):
        period = report_period(kind, day)
        days = daily_frames(city, period.days)
        dailies = sum(
            f["people"].loc[f["people"]["person_id"] == CHIEF, "walked_m"].sum()
            for f in days.values()
        )
        rolled = build_report(city, kind, day)["people"].set_index("person_id")
        assert rolled.loc[CHIEF, "walked_m"] == pytest.approx(dailies), kind
        assert rolled.loc[CHIEF, "walked_m"] == pytest.approx(walked, abs=0.5), kind


def test_stewards_and_viewers_are_told_to_ask_an_admin_not_to_run_a_command(
    city, auth_headers, tmp_path
):
    """T40 #12: a steward's report said 请导入缺少的社区（gridward import areas）, an admin's
    shell command on a steward's phone. Stewards and viewers are told to ask an admin, and
    so are planners and admins reading the API or the web page (T71 #35: no shell in a
    browser); the CLI's report (build_report as gridward report prints it) keeps the
    command."""
    today = str(city_today())
    users = {
        "admin": auth_headers("admin"),
        "planner": auth_headers("planner", areas=("110108",)),
        "viewer": auth_headers("viewer"),
        "steward": auth_headers("steward", person_id=STEWARD),
    }
    with TestClient(create_app(city)) as client:
        notes = {
            role: client.get("/reports/daily", params={"date": today}, headers=h).json()["notes"]
            for role, h in users.items()
        }
        r = client.get(
            "/reports/weekly", params={"date": today, "format": "xlsx"}, headers=users["steward"]
        )
        assert r.status_code == 200
        about = pd.read_excel(io.BytesIO(r.content), sheet_name="报表 report")
    from geo.patrol_reports import build_report

    cli = build_report(city, "daily", city_today()).meta["notes"]
    (note,) = [n for n in cli if "no imported community" in n]
    assert "请导入缺少的社区（gridward import areas）后再计" in note, note
    assert note.endswith("import the missing communities (gridward import areas) to count them")
    for role in ("admin", "planner", "viewer", "steward"):
        (note,) = [n for n in notes[role] if "no imported community" in n]
        assert "gridward" not in note, (role, note)
        assert "请联系管理员导入缺少的社区后再计" in note, note
        assert note.endswith("ask an admin to import the missing communities to count them")
    sheet = " ".join(str(v) for v in about["值 value"])
    assert "ask an admin to import" in sheet and "gridward" not in sheet


def test_alleys_name_who_answered_for_them_and_a_steward_sees_their_own(city, auth_headers):
    """Old code: no responsible person on an alley row, and a steward's report hid even
    their own alleys. The chief's street stays out of the steward's view."""
    today = str(city_today())
    with TestClient(create_app(city)) as client:
        admin = client.get(
            "/reports/daily", params={"date": today}, headers=auth_headers("admin")
        ).json()
        mine = client.get(
            "/reports/daily", params={"date": today}, headers=auth_headers("steward", person_id=1)
        ).json()
    by_role = {(a["role"], a["people"]) for a in admin["alleys"]}
    assert by_role == {("alley_steward", "王小巷"), ("street_chief", "张街长")}
    assert len(mine["alleys"]) == 4 and all(a["person_ids"] == [STEWARD] for a in mine["alleys"])
    assert [p["person_id"] for p in mine["people"]] == [STEWARD]


def test_a_chiefs_rows_read_as_streets(city, tmp_path):
    """L8, an outside tester: street chiefs' rows read as alleys. The tables' labels say 街巷
    (streets and alleys, both kinds) and never an alley alone (小巷, 巷·天); a chief's
    segments are 街 street, not 街道 (the subdistrict's word in the same file); the running
    day's note and 报表 sheet count street/alley-days."""
    import openpyxl

    from geo.patrol_reports import build_report, report_summary
    from geo.report_export import export_report
    from geo.report_period import report_period

    today = city_today()
    rep = build_report(city, "daily", today)
    period = report_period("daily", today)
    book = openpyxl.load_workbook(export_report(rep, tmp_path / "r.xlsx", period, 0.8))
    heads = [c.value for ws in book.worksheets[:-1] for c in ws[1]]
    labels = [h.rsplit(" ", 1)[0] for h in heads]
    assert not [x for x in labels if "小巷" in x or "巷" in x.replace("街巷", "")], labels
    segs = book["路段 segments"]
    head = [c.value for c in segs[1]]
    rows = [dict(zip(head, (c.value for c in r), strict=True)) for r in segs.iter_rows(2)]
    kinds = {(r["职责 role"], r["类型 kind"]) for r in rows}
    assert kinds == {("小巷管家 alley steward", "小巷 alley"), ("街巷长 street chief", "街 street")}
    about = {r[0].value: r[1].value for r in book["报表 report"].iter_rows(2)}
    assert "street/alley-days" in about["待巡 pending"]
    assert any("street/alley-days" in n for n in report_summary(rep, period)["notes"])
