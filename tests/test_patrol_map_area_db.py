"""The patrol map's data with an area filter is the whole city's restricted to that area
(T44 #11), read in one load of the database; and a day with more tracks than the page
draws says so (T44 #3). Real PostGIS, the demo city of tests/test_patrol_map_db.py with a
district-like week on top: a dozen stewards (some sharing alleys, one starting mid-week,
one who left), street chiefs, walks whole, half and none over seven days, and walking by
people who hold nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import geo.patrol_reports as patrol_reports
from geo.map_data import MAX_TRACKS, patrols_of_day
from geo.patrol_reports import build_report
from geo.sql_frames import read_frame
from geo.street_areas import AREA_CODES, street_areas_sql
from tests.test_patrol_map_db import DAY, SHARE, _assign, _person, _today, city  # noqa: F401

WEEK = [DAY - dt.timedelta(days=i) for i in range(6, -1, -1)]


def _track(conn, key: str, person: int) -> int:  # noqa: ANN001
    return conn.execute(
        text(
            "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, person_id, "
            "status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, 'matched') RETURNING id"
        ),
        {"h": key.encode().hex().rjust(64, "0"), "p": person},
    ).scalar_one()


def _visit(conn, track: int, segment: int, day: dt.date, lo: float, hi: float) -> None:  # noqa: ANN001
    conn.execute(
        text(
            "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, covered_fraction, "
            "intervals) SELECT :t, :s, person_id, :d, :f, CAST(:iv AS jsonb) FROM tracks "
            "WHERE id = :t"
        ),
        {"t": track, "s": segment, "d": day, "f": hi - lo, "iv": json.dumps([[lo, hi]])},
    )


@pytest.fixture()
def district(city) -> dict[str, Any]:  # noqa: F811 - the fixture imported above
    """The demo city's other alleys and streets held by more people, walked over a week."""
    db = city["db"]
    rng = np.random.default_rng(44)
    taken = city["alleys"] + city["streets"]
    since = DAY - dt.timedelta(days=60)
    with db.begin() as conn:
        segs = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT s.id, s.street_id, st.kind FROM street_segments s "
                    "JOIN streets st ON st.id = s.street_id WHERE NOT st.id = ANY(:t) "
                    "ORDER BY s.street_id, s.id"
                ),
                {"t": taken},
            ).all()
        )
        alleys = sorted(segs.loc[segs["kind"] == "alley", "street_id"].unique().tolist())
        streets = sorted(segs.loc[segs["kind"] == "street", "street_id"].unique().tolist())
        duties: list[tuple[int, int, dt.date, dt.date | None]] = []  # person, street, from, to
        walkers = [city["other"]]  # people who walk without holding what they walk
        for k in range(12):
            p = _person(conn, f"D{k}", f"巡查员{k}", "alley_steward")
            start = DAY - dt.timedelta(days=3) if k == 5 else since  # started mid-week
            end = DAY - dt.timedelta(days=2) if k == 6 else None  # left mid-week
            for a in alleys[3 * k : 3 * k + 3] + ([alleys[3 * k + 3]] if k % 4 == 0 else []):
                duties.append((p, a, start, end))  # k % 4 == 0: shares its neighbour's
        for k in range(3):
            p = _person(conn, f"DC{k}", f"街巷长{k}", "street_chief")
            duties += [(p, s, since, None) for s in streets[2 * k : 2 * k + 2]]
        walkers.append(_person(conn, "DX", "路人乙", "alley_steward"))
        for p, s, start, end in duties:
            role = "street_chief" if s in streets else "alley_steward"
            _assign(conn, p, role, s, start)
            if end is not None:
                conn.execute(
                    text("UPDATE assignments SET valid_to = :e WHERE person_id = :p"),
                    {"e": end, "p": p},
                )
        for day in WEEK:
            walks: dict[int, list[int]] = {}
            for p, s, _, _ in duties:
                walks.setdefault(p, []).append(s)
            for w in walkers:  # someone else's alleys
                walks[w] = [int(a) for a in rng.choice(alleys[:40], 4, replace=False)]
            for p, held in walks.items():
                track = _track(conn, f"{p}-{day}", p)
                for s in held:
                    u = rng.random()
                    if u < 0.3:  # not walked
                        continue
                    lo, hi = (0.0, 1.0) if u < 0.7 else sorted(rng.uniform(0, 1, 2))
                    for seg in segs.loc[segs["street_id"] == s, "id"]:
                        _visit(conn, track, int(seg), day, lo, hi)
    return {**city, "duties": duties}


def _key(f: dict[str, Any]) -> tuple[int, str]:
    return (f["properties"]["id"], f["properties"]["role"])


def _bar(rows: pd.DataFrame) -> dict[str, Any]:
    """A chart bar made from daily report rows."""
    roles = {
        str(role): {"alleys": len(g), "patrolled": int(g["patrolled"].sum())}
        for role, g in rows.groupby("role")
    }
    pending = rows["pending"].fillna(False).astype(bool)
    return {
        "alleys": len(rows),
        "patrolled": int(rows["patrolled"].sum()),
        "pending": int(pending.sum()),
        "roles": roles,
    }


def _pending_roles(rows: pd.DataFrame) -> dict[str, int]:
    """Today's pending alleys/streets per role, from daily report rows."""
    pending = rows["pending"].fillna(False).astype(bool)
    return {str(role): int(n) for role, n in pending.groupby(rows["role"]).sum().items() if n}


@pytest.mark.parametrize("today", ["later", "the day"])
def test_an_areas_page_data_is_the_citys_restricted_to_it(district, today) -> None:  # noqa: ANN001
    """For every area (each community, the subdistrict, the district): the drawn alleys and
    streets (every property: walked, patrolled, covered, pending, people, geometry), the
    counts per role, today's pending and each bar of the 14-day chart are the whole city's
    for the alleys and streets of that area (which they are: the one rule of
    geo.street_areas). And the whole city's are the reports'."""
    db = district["db"]
    now = _today() if today == "later" else DAY
    city_page = patrols_of_day(db, DAY, threshold=SHARE, today=now)
    chart = [dt.date.fromisoformat(b["day"]) for b in city_page.compliance]
    whole = {
        d: build_report(db, "daily", d, patrolled_share=SHARE, today=now)["alleys"] for d in chart
    }
    # the whole city, as the reports
    assert [
        {k: b[k] for k in ("alleys", "patrolled", "pending", "roles")} for b in city_page.compliance
    ] == [_bar(whole[d]) for d in chart]
    assert city_page.counts == _bar(whole[DAY])["roles"]
    assert city_page.pending == _bar(whole[DAY])["pending"]
    assert {_key(f) for f in city_page.alleys["features"]} == {
        (int(r.alley_id), r.role) for r in whole[DAY].itertuples()
    }
    assert sum(b["alleys"] for b in city_page.compliance) > 100  # a week of duties
    with db.connect() as conn:
        codes = list(conn.execute(text("SELECT code FROM areas ORDER BY code")).scalars())
        # each street's community, subdistrict and district: the one rule (geo.street_areas)
        where = read_frame(text(street_areas_sql()), conn)
    seen = 0
    for code in codes:
        ids = set(where.loc[where[AREA_CODES].eq(code).any(axis=1), "alley_id"])
        mine = {d: rows[rows["alley_id"].isin(ids)] for d, rows in whole.items()}
        page = patrols_of_day(db, DAY, threshold=SHARE, today=now, area=code)
        keys = {(int(r.alley_id), r.role) for r in mine[DAY].itertuples()}
        want = [f for f in city_page.alleys["features"] if _key(f) in keys]
        assert sorted(page.alleys["features"], key=_key) == sorted(want, key=_key), code
        bar = _bar(mine[DAY])
        assert page.counts == bar["roles"] and page.pending == bar["pending"], code
        assert page.pending_roles == _pending_roles(mine[DAY]), code
        for b, d in zip(page.compliance, chart, strict=True):
            assert {k: b[k] for k in ("alleys", "patrolled", "pending", "roles")} == _bar(
                mine[d]
            ), (code, d)
        seen += bool(keys) and len(keys) < len(whole[DAY])
    assert seen >= 3, "the scenario's duties lie in several communities"
    if today == "the day":
        assert city_page.pending > 0  # today's alleys not done yet, as the report


def test_the_page_loads_the_database_once(district, monkeypatch) -> None:  # noqa: ANN001
    """The day and the 13 days of its chart come from one load (geo.patrol_reports._load),
    with the area filter in it: the page built the day's whole report and then loaded the
    13 days before apart, every query twice, the chiefs' corridor the dearest (T44 #11)."""
    loads: list[tuple[list[dt.date], str | None]] = []
    real = patrol_reports._load

    def counted(engine, days, area, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        loads.append((list(days), area))
        return real(engine, days, area, *args, **kwargs)

    monkeypatch.setattr(patrol_reports, "_load", counted)
    db = district["db"]
    for area in (None, "110108015002"):
        loads.clear()
        patrols_of_day(db, DAY, threshold=SHARE, today=_today(), area=area)
        assert loads == [([DAY - dt.timedelta(days=i) for i in range(13, -1, -1)], area)]
    loads.clear()
    patrols_of_day(db, DAY, district["s1"], threshold=SHARE, today=_today())
    assert len(loads) == 1


def _spans(db, day: dt.date, people: list[int], n: int) -> list[int]:  # noqa: ANN001
    """``n`` walks of ``day`` (two fixes each, 10 minutes apart), by ``people`` in turn, the
    k-th ending k minutes after 08:10; their track ids."""
    from geo.track_partitions import ensure_day_partitions

    ensure_day_partitions(db, [day - dt.timedelta(days=1), day])
    ids = []
    with db.begin() as conn:
        for k in range(n):
            t = _track(conn, f"span-{day}-{k}", people[k % len(people)])
            start = pd.Timestamp(f"{day}T08:00:00+08:00") + pd.Timedelta(minutes=k)
            conn.execute(
                text(
                    "UPDATE tracks SET started_at = :a, ended_at = :b, n_points = 2 WHERE id = :t"
                ),
                {"a": start, "b": start + pd.Timedelta(minutes=10), "t": t},
            )
            conn.execute(
                text(
                    "INSERT INTO track_points (track_id, seq, t, geom) SELECT :t, k, "
                    "CAST(:a AS timestamptz) + k * interval '10 minutes', "
                    "ST_SetSRID(ST_MakePoint(116.32 + k * 0.001, 40.0), 4326) "
                    "FROM generate_series(0, 1) k"
                ),
                {"t": t, "a": start},
            )
            ids.append(t)
    return ids


def test_a_day_with_more_tracks_than_drawn_says_so(district) -> None:  # noqa: ANN001
    """T44 #3: the page drew 50 of a day's 856 tracks (the first by id) and said nothing.
    Now it draws the 50 that ended latest and says how many the day has, Chinese first;
    a view with fewer says nothing. An area counts its own holders' tracks."""
    db = district["db"]
    holders = sorted({p for p, *_ in district["duties"]})
    ids = _spans(db, DAY, holders, MAX_TRACKS + 7)
    d = patrols_of_day(db, DAY, threshold=SHARE, today=_today())
    assert d.tracks_total == MAX_TRACKS + 7
    assert sorted(t["id"] for t in d.tracks) == sorted(ids[7:])  # the latest 50
    assert [t["id"] for t in d.tracks] == sorted(ids[7:])  # listed by id
    assert d.tracks_note == (
        f"仅显示最晚结束的 50 条轨迹（共 {MAX_TRACKS + 7} 条），请按区域或人员筛选 "
        f"showing the 50 latest of {MAX_TRACKS + 7} tracks: filter by area or person"
    )
    from maps.patrol_map import build_patrol_map

    page = build_patrol_map(d, (116.3, 39.98, 116.34, 40.01), today=_today())
    assert f'<p class="gw-note" id="gw-tracks-note">{d.tracks_note}</p>' in page  # said
    one = patrols_of_day(db, DAY, holders[0], threshold=SHARE, today=_today())
    assert 'id="gw-tracks-note"' not in build_patrol_map(one, (116.3, 39.98, 116.34, 40.01))
    mine = [t for k, t in enumerate(ids) if holders[k % len(holders)] == holders[0]]
    assert one.tracks_total == len(mine) and one.tracks_note is None
    assert sorted(t["id"] for t in one.tracks) == mine
    first_in = []  # the areas holders[0] holds something in
    for code in ("110108015001", "110108015002", "110108015003", "110108015004"):
        rep = build_report(db, "daily", DAY, code, patrolled_share=SHARE, today=_today())
        inside = {int(p) for ps in rep["alleys"]["person_ids"] for p in ps}
        first_in += [code] if holders[0] in inside else []
        want = [t for k, t in enumerate(ids) if holders[k % len(holders)] in inside]
        area = patrols_of_day(db, DAY, threshold=SHARE, today=_today(), area=code)
        assert area.tracks_total == len(want), code
        assert sorted(t["id"] for t in area.tracks) == want[-MAX_TRACKS:], code
        assert area.tracks_note is None or len(want) > MAX_TRACKS, code
    earlier = patrols_of_day(db, DAY - dt.timedelta(days=1), threshold=SHARE, today=_today())
    assert earlier.tracks == [] and earlier.tracks_total == 0 and earlier.tracks_note is None

    # T45 #9: a person's page drawing 50 of her own tracks was told to filter by person, an
    # area's page by area: the advice names only a filter the page does not have
    before = DAY - dt.timedelta(days=1)
    _spans(db, before, [holders[0]], MAX_TRACKS + 3)
    n = MAX_TRACKS + 3
    hers = patrols_of_day(db, before, holders[0], threshold=SHARE, today=_today())
    assert hers.tracks_total == n and len(hers.tracks) == MAX_TRACKS
    assert hers.tracks_note == (
        f"仅显示最晚结束的 50 条轨迹（共 {n} 条） showing the 50 latest of {n} tracks"
    )
    assert first_in
    for code in first_in:
        area = patrols_of_day(db, before, threshold=SHARE, today=_today(), area=code)
        assert area.tracks_total == n, code
        assert area.tracks_note == (
            f"仅显示最晚结束的 50 条轨迹（共 {n} 条），请按人员筛选 "
            f"showing the 50 latest of {n} tracks: filter by person"
        ), code
    city_day = patrols_of_day(db, before, threshold=SHARE, today=_today())
    assert city_day.tracks_note == (
        f"仅显示最晚结束的 50 条轨迹（共 {n} 条），请按区域或人员筛选 "
        f"showing the 50 latest of {n} tracks: filter by area or person"
    )
