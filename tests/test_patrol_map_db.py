"""The patrol map (/maps/patrols, geo.map_data.patrols_of_day) shows the 日巡 daily report's
numbers (geo.patrol_reports.build_report), on the demo city in a real PostGIS.

The scenario holds every way the map used to disagree with the report: an alley of several
segments (the map counted segments), an alley walked half by one upload and half by another
(the map took the best single upload), a co-steward's walk (patrols the alley, but credits
only the co-steward who walked it: a holder is credited for their own part, share ÷
holders), a walk by someone not assigned (the map counted it for everyone), a street chief
(the map kept only alleys) and a steward who started three days before the day (the map's
14-day chart gave every day the day's duties).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from geo.map_data import patrols_of_day
from geo.patrol_reports import build_report
from tests.conftest import FIXTURES

DAY = dt.date(2025, 6, 18)  # a past day: the report refuses days to come
SHARE = 0.8


def _person(conn, ext: str, name: str, role: str) -> int:  # noqa: ANN001
    return conn.execute(
        text(
            "INSERT INTO people (external_id, name, roles) VALUES (:e, :n, ARRAY[:r]) RETURNING id"
        ),
        {"e": ext, "n": name, "r": role},
    ).scalar_one()


def _assign(conn, person: int, role: str, street: int, since: dt.date) -> None:  # noqa: ANN001
    conn.execute(
        text(
            "INSERT INTO assignments (person_id, role, street_id, valid_from) "
            "VALUES (:p, :r, :s, :d)"
        ),
        {"p": person, "r": role, "s": street, "d": since},
    )


def _streets(conn, kind: str, min_segments: int, n: int, skip: tuple = ()) -> list[int]:  # noqa: ANN001
    return list(
        conn.execute(
            text(
                "SELECT st.id FROM streets st JOIN street_segments s ON s.street_id = st.id "
                "WHERE st.kind = :k AND NOT st.id = ANY(:skip) GROUP BY st.id "
                "HAVING count(*) >= :m ORDER BY st.id LIMIT :n"
            ),
            {"k": kind, "m": min_segments, "n": n, "skip": list(skip)},
        ).scalars()
    )


@pytest.fixture()
def city(db) -> dict[str, Any]:  # noqa: ANN001
    """The demo city and one day of visits (stretches as a matched upload stores them)."""
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    since = DAY - dt.timedelta(days=60)
    with db.begin() as conn:
        s1 = _person(conn, "S1", "王小巷", "alley_steward")
        s2 = _person(conn, "S2", "李小巷", "alley_steward")
        s3 = _person(conn, "S3", "赵新人", "alley_steward")
        chief = _person(conn, "C1", "张街长", "street_chief")
        other = _person(conn, "X1", "路人甲", "alley_steward")  # walks, holds nothing
        a1, a2 = _streets(conn, "alley", 2, 2)  # alleys of several segments
        a3, a4, a5 = _streets(conn, "alley", 1, 3, (a1, a2))
        (st1,) = _streets(conn, "street", 1, 1)
        # the chief's second street lies away from the first: a street counts where it is
        # within 20 m of the chief's walk (parallel OSM ways of one road)
        st2 = conn.execute(
            text(
                "SELECT b.id FROM streets a, streets b WHERE a.id = :a AND b.kind = 'street' "
                "AND ST_Distance(a.geom::geography, b.geom::geography) > 100 AND EXISTS "
                "(SELECT 1 FROM street_segments s WHERE s.street_id = b.id) ORDER BY b.id LIMIT 1"
            ),
            {"a": st1},
        ).scalar_one()
        for person, role, street, start in (
            (s1, "alley_steward", a1, since),
            (s1, "alley_steward", a2, since),
            (s2, "alley_steward", a2, since),  # co-steward of a2
            (s1, "alley_steward", a3, since),
            (s1, "alley_steward", a4, since),
            (s3, "alley_steward", a5, DAY - dt.timedelta(days=3)),  # started 3 days ago
            (chief, "street_chief", st1, since),
            (chief, "street_chief", st2, since),
        ):
            _assign(conn, person, role, street, start)
        tracks: dict[str, int] = {}
        for i, (key, who) in enumerate(
            (("s1a", s1), ("s1b", s1), ("s2", s2), ("x", other), ("s3", s3), ("chief", chief))
        ):
            tracks[key] = conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                    "person_id, status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, 'matched') "
                    "RETURNING id"
                ),
                {"h": f"{i:064x}", "p": who},
            ).scalar_one()

        def walk(track: str, street: int, lo: float, hi: float, first: bool = True) -> None:
            segs = conn.execute(
                text("SELECT id FROM street_segments WHERE street_id = :s ORDER BY id"),
                {"s": street},
            ).scalars()
            segs = list(segs)
            for seg in segs if first else segs[:1]:
                conn.execute(
                    text(
                        "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                        "covered_fraction, intervals) SELECT :t, :s, person_id, :d, :f, "
                        "CAST(:iv AS jsonb) FROM tracks WHERE id = :t"
                    ),
                    {
                        "t": tracks[track],
                        "s": seg,
                        "d": DAY,
                        "f": hi - lo,
                        "iv": json.dumps([[lo, hi]]),
                    },
                )

        walk("s1a", a1, 0.0, 0.5)  # a1: half in one upload …
        walk("s1b", a1, 0.5, 1.0)  # … the other half in another: walked whole
        walk("s2", a2, 0.0, 1.0)  # a2: the co-steward walked it
        walk("x", a3, 0.0, 1.0)  # a3: walked by someone not assigned: not patrolled
        walk("s3", a5, 0.0, 1.0)  # a5: the new steward walked it
        walk("chief", st1, 0.0, 0.9)  # the chief's first street: 90 %
        walk("chief", st2, 0.0, 0.3)  # the second: 30 %
    return {
        "db": db,
        "s1": s1,
        "s2": s2,
        "s3": s3,
        "chief": chief,
        "other": other,
        "alleys": [a1, a2, a3, a4, a5],
        "streets": [st1, st2],
    }


def _report_counts(rep: dict, person: int | None) -> dict[str, dict[str, int]]:
    """What the daily report says: the person's line, or every assigned alley per role."""
    out: dict[str, dict[str, int]] = {}
    if person is not None:
        for r in rep["people"][rep["people"]["person_id"] == person].itertuples():
            out[r.role] = {"alleys": int(r.alleys), "patrolled": int(r.patrolled_alleys)}
        return out
    for role, grp in rep["alleys"].groupby("role"):
        out[role] = {"alleys": len(grp), "patrolled": int(grp["patrolled"].sum())}
    return out


def _today() -> dt.date:
    return DAY + dt.timedelta(days=400)


def test_map_counts_and_colours_are_the_daily_reports(city) -> None:  # noqa: ANN001
    db = city["db"]
    a1, a2, a3, a4, a5 = city["alleys"]
    st1, st2 = city["streets"]
    rep = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today())
    expected = {
        # a1 (two uploads); a2 is patrolled, but by the co-steward s2 alone: s1 walked none
        # of their half of it, so s1 is not credited (they were, before shared alleys
        # credited each holder's own part only)
        city["s1"]: {"alley_steward": {"alleys": 4, "patrolled": 1}},
        city["s2"]: {"alley_steward": {"alleys": 1, "patrolled": 1}},
        city["s3"]: {"alley_steward": {"alleys": 1, "patrolled": 1}},
        city["chief"]: {"street_chief": {"alleys": 2, "patrolled": 1}},
        city["other"]: {},
        None: {
            "alley_steward": {"alleys": 5, "patrolled": 3},  # a3's walker is not its steward
            "street_chief": {"alleys": 2, "patrolled": 1},
        },
    }
    report_rows = {
        (int(r.alley_id), r.role): (float(r.walked_share), bool(r.patrolled))
        for r in rep["alleys"].itertuples()
    }
    covered = {
        (int(r.alley_id), r.role): float(r.covered_share) for r in rep["alleys"].itertuples()
    }
    # one person's view: their own walking and credit on each of their alleys, as the report
    own_rows = {
        (int(r.alley_id), r.role, p): (
            r.holder_walked_m[r.person_ids.index(p)] / r.length_m,
            p in r.credited_ids,
        )
        for r in rep["alleys"].itertuples()
        for p in r.person_ids
    }
    mine = {
        city["s1"]: {(a, "alley_steward") for a in (a1, a2, a3, a4)},
        city["s2"]: {(a2, "alley_steward")},
        city["s3"]: {(a5, "alley_steward")},
        city["chief"]: {(st1, "street_chief"), (st2, "street_chief")},
        city["other"]: set(),
        None: set(report_rows),
    }
    for person, want in expected.items():
        assert _report_counts(rep, person) == want, person  # the scenario is what we think
        d = patrols_of_day(db, DAY, person, threshold=SHARE, today=_today())
        assert d.counts == want, person
        feats = d.alleys["features"]
        shown = {(f["properties"]["id"], f["properties"]["role"]): f for f in feats}
        assert len(shown) == len(feats) and set(shown) == mine[person], person
        for key, f in shown.items():
            walked, patrolled = report_rows[key] if person is None else own_rows[(*key, person)]
            assert f["properties"]["alley_patrolled"] == report_rows[key][1], (person, key)
            # the map says what judged a chief's street: covered (T40 #7), as the report
            assert f["properties"]["covered"] == pytest.approx(covered[key], abs=1e-3), key
            assert f["properties"]["patrolled"] == patrolled, (person, key)
            assert f["properties"]["walked"] == pytest.approx(walked, abs=1e-3), (person, key)
            assert f["geometry"] is not None
        assert sum(f["properties"]["patrolled"] for f in feats) == sum(
            c["patrolled"] for c in want.values()
        )
        today_bar = d.compliance[-1]
        assert today_bar["day"] == DAY.isoformat() and today_bar["roles"] == want
    s1 = patrols_of_day(db, DAY, city["s1"], threshold=SHARE, today=_today())
    walked = {f["properties"]["id"]: f["properties"]["walked"] for f in s1.alleys["features"]}
    assert walked[a1] == pytest.approx(1.0) and walked[a3] == 0.0
    # a2 for s1: the alley is patrolled (s2 walked all of it), s1 walked none of it and
    # needed 0.8 / 2 = 0.4 of it: not credited, shown as their own 0 %
    a2_s1 = next(f["properties"] for f in s1.alleys["features"] if f["properties"]["id"] == a2)
    assert a2_s1["alley_patrolled"] and a2_s1["alley_walked"] == pytest.approx(1.0)
    assert (a2_s1["walked"], a2_s1["walked_m"], a2_s1["patrolled"]) == (0.0, 0.0, False)
    assert a2_s1["required"] == pytest.approx(0.4)
    s2 = patrols_of_day(db, DAY, city["s2"], threshold=SHARE, today=_today())
    (a2_s2,) = [f["properties"] for f in s2.alleys["features"]]
    assert a2_s2["patrolled"] and a2_s2["walked"] == pytest.approx(1.0)


def test_chart_uses_each_days_own_report(city) -> None:  # noqa: ANN001
    """A steward who started three days before the day has no duty before that (not 0 %);
    every bar equals that day's daily report, for the person and for everyone."""
    db = city["db"]
    for person in (city["s3"], city["s1"], None):
        d = patrols_of_day(db, DAY, person, threshold=SHARE, today=_today())
        assert len(d.compliance) == 14
        for bar in d.compliance:
            day = dt.date.fromisoformat(bar["day"])
            rep = build_report(db, "daily", day, patrolled_share=SHARE, today=_today())
            want = _report_counts(rep, person)
            assert bar["roles"] == want, (person, day)
            assert bar["alleys"] == sum(c["alleys"] for c in want.values())
            assert bar["patrolled"] == sum(c["patrolled"] for c in want.values())
    new = patrols_of_day(db, DAY, city["s3"], threshold=SHARE, today=_today()).compliance
    assert [b["alleys"] for b in new] == [0] * 10 + [1] * 4
    assert [b["patrolled"] for b in new] == [0] * 13 + [1]


def _panel_numbers(page: str) -> tuple[int, int, int]:
    alleys = int(re.search(r'id="gw-alleys">(\d+)<', page).group(1))
    done = int(re.search(r'id="gw-done">(\d+)<', page).group(1))
    data = json.loads(re.search(r"var DATA = (\{.*?\});\n", page).group(1))
    return alleys, done, len(data["alleys"]["features"])


def test_patrol_page_shows_the_reports_counts(city, auth_headers) -> None:  # noqa: ANN001
    """Over HTTP, at the default share: the panel's counts and the drawn alleys are the
    daily report's, for a steward, a street chief and everyone; the chief's street is drawn."""
    db = city["db"]
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        rep = client.get(
            "/reports/daily", params={"date": str(DAY), "format": "json"}, headers=admin
        ).json()
        lines = {(p["person_id"], p["role"]): p for p in rep["people"]}
        for person, role in ((city["s1"], "alley_steward"), (city["chief"], "street_chief")):
            r = client.get(f"/maps/patrols?date={DAY}&person={person}", headers=admin)
            assert r.status_code == 200, r.text[:300]
            line = lines[(person, role)]
            assert _panel_numbers(r.text) == (
                line["alleys"],
                line["patrolled_alleys"],
                line["alleys"],
            )
        page = client.get(f"/maps/patrols?date={DAY}", headers=admin).text
        alleys, done, drawn = _panel_numbers(page)
        assert (alleys, done, drawn) == (
            len(rep["alleys"]),
            sum(a["patrolled"] for a in rep["alleys"]),
            len(rep["alleys"]),
        )
        assert "街巷长·街 street chiefs" in page and "街巷长·街道" not in page


def test_uploads_of_one_alley_combine_as_in_the_report(city, auth_headers) -> None:  # noqa: ANN001
    """Two simulated walks uploaded by the steward, each over a little more than half of a
    one-segment alley: the map's share is their union, as the report's (old map: the best
    single upload, ~55 %, not patrolled)."""
    from geo.day_networks import walk_network
    from geo.tracks.simulate import SimParams, simulate_patrol
    from tests.test_tracks_db import _csv, _post

    db = city["db"]
    net = walk_network(db)
    with db.begin() as conn:
        seg, alley = conn.execute(
            text(
                "SELECT s.id, s.street_id FROM street_segments s JOIN streets st "
                "ON st.id = s.street_id WHERE st.kind = 'alley' AND NOT st.id = ANY(:taken) "
                "AND (SELECT count(*) FROM street_segments x WHERE x.street_id = st.id) = 1 "
                "AND s.length_m BETWEEN 120 AND 400 ORDER BY s.length_m DESC LIMIT 1"
            ),
            {"taken": city["alleys"]},
        ).one()
        _assign(conn, city["s2"], "alley_steward", alley, DAY - dt.timedelta(days=60))
    e = int(np.flatnonzero(net.edge_ids == seg)[0])
    length = float(net.length[e])
    day = DAY + dt.timedelta(days=1)
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        for i, legs in enumerate(([(e, 0.0, 0.6 * length)], [(e, length, 0.4 * length)])):
            sp = SimParams(noise_m=3, dt_s=2, stops=0, start=f"{day}T0{1 + 2 * i}:00:00Z")
            pts, _ = simulate_patrol(net, np.random.default_rng(20 + i), sp, legs=legs)
            r = _post(client, admin, [(f"half{i}.csv", _csv(pts))], person_id=city["s2"])
            assert r.status_code == 201, r.text
    with db.connect() as conn:
        best = conn.execute(
            text("SELECT max(covered_fraction) FROM patrol_visits WHERE segment_id = :s"),
            {"s": seg},
        ).scalar()
    assert best < SHARE  # no single upload is enough
    rep = build_report(db, "daily", day, patrolled_share=SHARE, today=_today())
    row = rep["alleys"][rep["alleys"]["alley_id"] == alley].iloc[0]
    assert row["patrolled"] and row["walked_share"] >= SHARE
    for person in (city["s2"], None):
        d = patrols_of_day(db, day, person, threshold=SHARE, today=_today())
        f = next(f for f in d.alleys["features"] if f["properties"]["id"] == alley)
        assert f["properties"]["patrolled"]
        assert f["properties"]["walked"] == pytest.approx(row["walked_share"], abs=1e-3)
        assert d.counts == _report_counts(rep, person)


def test_a_day_before_any_duty_is_an_empty_map(city) -> None:
    """Nobody held anything 100 days before: no alleys, zero counts, for one person too."""
    early = DAY - dt.timedelta(days=100)
    for person in (None, city["s1"]):
        data = patrols_of_day(city["db"], early, person_id=person)
        assert data.alleys["features"] == [] and data.counts == {}


def test_a_report_of_some_streets_is_the_whole_reports_rows(city) -> None:  # noqa: ANN001
    """One steward's patrol map reads only their alleys (``streets``: 2.7 s of a city-day's
    report for a few alleys before). The rows of those alleys, and the line of a steward
    whose every duty is among them, are the whole report's: a co-steward's walking (a2),
    an unassigned walker (a3), the chief's corridor (st1, st2) included."""
    db = city["db"]
    a1, a2, a3, a4, a5 = city["alleys"]
    whole = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today())
    cols = ["role", "walked_share", "patrolled", "person_ids", "credited_ids", "length_m"]

    def rows(rep, ids):  # noqa: ANN001, ANN202
        a = rep["alleys"]
        a = a[a["alley_id"].isin(ids)].sort_values(["alley_id", "role"])
        a = a[["alley_id", *cols]].reset_index(drop=True)
        return a.round({"walked_share": 9, "length_m": 6})  # summed in another order

    for person, ids in (
        (city["s1"], [a1, a2, a3, a4]),
        (city["chief"], city["streets"]),
        (city["s3"], [a5]),
    ):
        part = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today(), streets=ids)
        assert set(part["alleys"]["alley_id"]) == set(ids), person  # nothing else read
        assert rows(part, ids).to_dict("records") == rows(whole, ids).to_dict("records")
        assert _report_counts(part, person) == _report_counts(whole, person), person
    # s2 holds a2 only: in s1's report, s2's line counts a2 alone, as the whole report does
    part = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today(), streets=[a2])
    assert _report_counts(part, city["s2"]) == _report_counts(whole, city["s2"])


def test_the_line_per_role_leaves_todays_pending_out_of_its_rate(city) -> None:  # noqa: ANN001
    """Re-tester T36: on the day itself, the page's line per role counted today's alleys not
    done yet as not patrolled (1 / 86, 1 %), while the report and the page's own top line
    leave them out of the rate."""
    from maps.patrol_map import build_patrol_map

    db = city["db"]
    d = patrols_of_day(db, DAY, threshold=SHARE, today=DAY)
    # a3 (walked by someone not assigned) and a4 (not walked) are due, not failed, today
    assert d.counts["alley_steward"] == {"alleys": 5, "patrolled": 3}
    assert d.pending_roles == {"alley_steward": 2, "street_chief": 1}
    page = build_patrol_map(d, (116.3, 39.99, 116.33, 40.01), today=DAY)
    line = re.sub(
        r"<[^>]+>", "", re.search(r'data-role="alley_steward">(.*?)</div>', page).group(1)
    )
    # what is done so far of all due first; no rate while the day runs: with the 2 pending
    # left out it read 100.0% (3 / 3) beside 3 / 5 (T71 #17)
    assert (
        "截至目前已巡 so far 3 / 5（60.0%），待巡 pending 2；"
        "达标率 compliance —（今天未结束 the day is not over）" in line
    ), line
    assert "100.0%" not in line, line
    s3 = patrols_of_day(db, DAY, city["s3"], threshold=SHARE, today=DAY)
    line = re.search(r'data-role="alley_steward">(.*?)</div>', build_patrol_map(s3, (0, 0, 1, 1)))
    line = re.sub(r"<[^>]+>", "", line.group(1))
    assert line.endswith("已巡 patrolled 1 / 1，达标率 compliance 100.0%"), line  # a5, done


def test_an_area_shows_its_own_alleys_as_its_report_does(city, auth_headers) -> None:  # noqa: ANN001
    """?area= on the patrol page: the alleys, counts, chart and tracks of one community are
    the daily report's with that area filter, and the tracks are those of the people who
    hold its duties (the page for everyone drew the city's first 50 tracks)."""
    db = city["db"]
    from geo.track_partitions import ensure_day_partitions

    whole = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today())
    ensure_day_partitions(db, [DAY - dt.timedelta(days=1), DAY])
    with db.begin() as conn:  # each upload's fixes: two, at 08:00 and 08:10 of the day
        conn.execute(
            text(
                "UPDATE tracks SET started_at = CAST(:a AS timestamptz), "
                "ended_at = CAST(:b AS timestamptz), n_points = 2"
            ),
            {"a": f"{DAY}T08:00:00+08:00", "b": f"{DAY}T08:10:00+08:00"},
        )
        conn.execute(
            text(
                "INSERT INTO track_points (track_id, seq, t, geom) SELECT id, k, "
                "CAST(:a AS timestamptz) + k * interval '10 minutes', "
                "ST_SetSRID(ST_MakePoint(116.32 + k * 0.001, 40.0), 4326) "
                "FROM tracks, generate_series(0, 1) k"
            ),
            {"a": f"{DAY}T08:00:00+08:00"},
        )
    with db.connect() as conn:
        codes = list(
            conn.execute(
                text("SELECT code FROM areas WHERE level = 'community' ORDER BY code")
            ).scalars()
        )
    checked = 0
    for code in codes:
        rep = build_report(db, "daily", DAY, code, patrolled_share=SHARE, today=_today())
        if rep["alleys"].empty:
            continue
        checked += 1
        d = patrols_of_day(db, DAY, threshold=SHARE, today=_today(), area=code)
        assert d.area is not None and d.area["code"] == code and d.area["level"] == "community"
        assert d.counts == _report_counts(rep, None), code
        shown = {(f["properties"]["id"], f["properties"]["role"]) for f in d.alleys["features"]}
        assert shown == {(int(r.alley_id), r.role) for r in rep["alleys"].itertuples()}, code
        assert len(shown) < len(whole["alleys"]), code  # a part of the city, not all of it
        holders = {int(p) for ids in rep["alleys"]["person_ids"] for p in ids}
        with db.connect() as conn:
            walkers = {
                conn.execute(
                    text("SELECT person_id FROM tracks WHERE id = :t"), {"t": t["id"]}
                ).scalar()
                for t in d.tracks
            }
        assert walkers <= holders and walkers, (code, walkers, holders)
        assert city["other"] not in walkers  # walked an alley, holds nothing
        for bar in d.compliance[-3:]:
            day = dt.date.fromisoformat(bar["day"])
            want = _report_counts(
                build_report(db, "daily", day, code, patrolled_share=SHARE, today=_today()),
                None,
            )
            assert bar["roles"] == want, (code, day)
        page_case = (code, rep, holders)  # the page below: a community with duties
    assert checked >= 2, "the scenario's duties lie in at least two communities"
    code, rep, holders = page_case
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        page = client.get(f"/maps/patrols?date={DAY}&area={code}", headers=admin)
        assert page.status_code == 200, page.text[:300]
        alleys, done, drawn = _panel_numbers(page.text)
        assert (alleys, drawn) == (len(rep["alleys"]), len(rep["alleys"]))
        assert f'<option value="{code}" selected>' in page.text
        assert re.search(r'id="gw-area">[^<]*社区 ' + code + "<", page.text), page.text[:200]
        # a person with no duty in the area is told so (T37, F20): not a bare 0 (—)
        url = f"/maps/patrols?date={DAY}&area={code}&person="
        page = client.get(url + str(city["other"]), headers=admin).text
        assert 'id="gw-none-here">此人在本区域无责任街巷' in page
        page = client.get(url + str(min(holders)), headers=admin).text
        assert "gw-none-here" not in page and _panel_numbers(page)[0] > 0
        missing = client.get(f"/maps/patrols?date={DAY}&area=110108999999", headers=admin)
        assert missing.status_code == 404 and "110108999999" in missing.json()["error"]
        bad = client.get(f"/maps/patrols?date={DAY}&area=abc", headers=admin)
        assert bad.status_code == 422 and "须为 6 到 12 位数字" in bad.json()["error"]


def test_a_report_of_an_area_is_the_whole_reports_rows(city) -> None:  # noqa: ANN001
    """An area's report reads only its streets' walking (a community's patrol page cost
    what the city's did: 2.4 s of a 4,000-steward city-day). Its alley rows are the whole
    report's, and so is the line of anyone whose every duty lies in it."""
    db = city["db"]
    whole = build_report(db, "daily", DAY, patrolled_share=SHARE, today=_today())
    cols = ["role", "walked_share", "patrolled", "person_ids", "credited_ids", "holder_walked_m"]

    def rows(rep, ids):  # noqa: ANN001, ANN202
        a = rep["alleys"]
        a = a[a["alley_id"].isin(ids)].sort_values(["alley_id", "role"])
        return a[["alley_id", *cols]].round({"walked_share": 9}).to_dict("records")

    from geo.sql_frames import read_frame
    from geo.street_areas import AREA_CODES, street_areas_sql

    held = whole["alleys"].explode("person_ids").groupby("person_ids")["alley_id"].agg(set)
    with db.connect() as conn:
        codes = conn.execute(text("SELECT code FROM areas ORDER BY code")).scalars().all()
        where = read_frame(text(street_areas_sql()), conn)  # each street's areas, read whole
    seen = 0
    for code in codes:
        part = build_report(db, "daily", DAY, code, patrolled_share=SHARE, today=_today())
        ids = set(part["alleys"]["alley_id"])
        streets = set(where.loc[where[AREA_CODES].eq(code).any(axis=1), "alley_id"])
        assert ids == set(whole["alleys"]["alley_id"]) & streets, code  # all its duties
        if not ids:
            continue
        seen += 1
        assert rows(part, ids) == rows(whole, ids), code
        for person, theirs in held.items():
            if theirs <= ids:
                assert _report_counts(part, person) == _report_counts(whole, person), code
    assert seen >= 3  # two communities at least, and their subdistrict and district


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _page_error(r) -> str:  # noqa: ANN001
    """The message of an HTML error page (maps.shell.error_page)."""
    assert r.headers["content-type"].startswith("text/html"), r.text[:200]
    found = re.search(r'class="gw-error-msg" data-status="(\d+)">([^<]*)<', r.text)
    assert found and int(found.group(1)) == r.status_code, r.text[:300]
    return html.unescape(found.group(2))


def test_person_is_a_registry_id_or_a_people_id(city, auth_headers) -> None:  # noqa: ANN001
    """?person= takes a registry id (人员编号) as the CLI's --person does (T37 F9: DEMO0032
    was a 422 "须为整数"); an unknown one is a 404 naming it, Chinese first. The page's own
    form keeps the people.id (as id:N). A steward sees herself by either, and nobody else."""
    db, s1 = city["db"], city["s1"]
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        by_id = client.get(f"/maps/patrols?date={DAY}&person={s1}", headers=admin)
        assert by_id.status_code == 200, by_id.text[:300]
        for value in ("S1", "ext:S1", f"id:{s1}"):
            page = client.get(f"/maps/patrols?date={DAY}&person={value}", headers=admin)
            assert page.status_code == 200, (value, page.text[:300])
            assert _panel_numbers(page.text) == _panel_numbers(by_id.text), value
            assert f'<input name="person" type="hidden" value="id:{s1}">' in page.text, value
        unknown = client.get(f"/maps/patrols?date={DAY}&person=NOPE9", headers=admin)
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"].startswith("人员 'NOPE9' 不存在（没有此人员编号或系统编号）")
        assert "person 'NOPE9' does not exist" in unknown.json()["error"]
        page = client.get(f"/maps/patrols?date={DAY}&person=NOPE9", headers={**admin, **BROWSER})
        assert page.status_code == 404 and "人员 'NOPE9' 不存在" in _page_error(page)
        steward = auth_headers("steward", person_id=s1)
        for value, status in (("S1", 200), (str(s1), 200), ("S2", 403), ("NOPE9", 403)):
            r = client.get(f"/maps/patrols?date={DAY}&person={value}", headers=steward)
            assert r.status_code == status, (value, r.text[:300])
        # the unknown one: not a 404 (the page's own words, T44 #9)
        assert "巡查人员只能查看和上传本人的巡查" in r.json()["error"]


def _form_person(page: str) -> str:
    """The person the page's own form sends back (its hidden person= field)."""
    found = re.search(r'<input name="person" type="hidden" value="([^"]*)">', page)
    assert found, page[:300]
    return html.unescape(found.group(1))


def _shown_person(page: str) -> str:
    """The panel's 人员 person line: 「name（registry id）」 (T71 #34: was 「name (#id)」)."""
    found = re.search(r"人员 person：([^；<]*)；", page)
    assert found, page[:300]
    return html.unescape(found.group(1))


def test_the_pages_form_names_its_person_by_people_id(city, auth_headers) -> None:  # noqa: ANN001
    """T39 M3: the page's own form (date, area) sent person=<people.id> bare. ?person= takes
    registry ids too, so when someone's 人员编号 is that number ("3" here, another person's
    people.id) the form's next page named two people: an admin got a 422 「指向两人」, the
    steward herself (her own page, no ?person=) a 403. The form sends id:N; following it
    opens the same person, for an admin and for each steward herself. The upload's link to
    its day (patrol_map.js) says id:N too."""
    db, s1 = city["db"], city["s1"]
    with db.begin() as conn:  # a registry id that is a number: s1's people.id
        numeric = _person(conn, str(s1), "钱数字", "alley_steward")
    names = {s1: "王小巷（S1）", numeric: f"钱数字（{s1}）"}
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        for opened, pid in ((f"id:{s1}", s1), (f"ext:{s1}", numeric), (f"id:{numeric}", numeric)):
            page = client.get(f"/maps/patrols?date={DAY}&person={opened}", headers=admin)
            assert page.status_code == 200, (opened, page.text[:300])
            assert _shown_person(page.text) == names[pid], opened
            sent = _form_person(page.text)
            again = client.get(
                "/maps/patrols", params={"date": str(DAY), "person": sent}, headers=admin
            )
            assert again.status_code == 200, (opened, again.text[:300])
            assert _shown_person(again.text) == names[pid], opened
            assert sent == f"id:{pid}", (opened, sent)
        for pid in (s1, numeric):
            steward = auth_headers("steward", person_id=pid)
            own = client.get(f"/maps/patrols?date={DAY}", headers=steward)
            assert own.status_code == 200, own.text[:300]
            again = client.get(
                "/maps/patrols",
                params={"date": str(DAY), "person": _form_person(own.text)},
                headers={**steward, **BROWSER},
            )
            assert again.status_code == 200, (pid, again.text[:300])
            assert _shown_person(again.text) == names[pid], pid
            assert _form_person(own.text) == f"id:{pid}"
    js = (Path(__file__).resolve().parents[1] / "maps" / "static" / "patrol_map.js").read_text()
    assert '"&person=id:" + DATA.uploadPerson' in js


def test_a_bad_area_is_an_error_page_for_a_browser(city, auth_headers) -> None:  # noqa: ANN001
    """A browser opening the page with a bad ?area= gets the HTML error page, naming the
    value, Chinese first; a script (no Accept: text/html) gets JSON (T37 F21a). The picker's
    全市 (whole city) sends area= empty: that is the whole city, not a 422 "收到 ''"."""
    db = city["db"]
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        for area, status, words in (
            ("abc", 422, "参数 area 格式不符，须为 6 到 12 位数字（收到 'abc'）"),
            ("110108999999", 404, "区域 110108999999 不存在"),
        ):
            url = f"/maps/patrols?date={DAY}&area={area}"
            page = client.get(url, headers={**admin, **BROWSER})
            assert page.status_code == status and _page_error(page).startswith(words), area
            plain = client.get(url, headers=admin)
            assert plain.status_code == status, area
            assert plain.headers["content-type"] == "application/json"
            assert plain.json()["error"].startswith(words), plain.text
        whole = client.get(f"/maps/patrols?date={DAY}", headers=admin)
        picked = client.get(f"/maps/patrols?date={DAY}&area=&person=", headers={**admin, **BROWSER})
        assert picked.status_code == 200, picked.text[:300]
        assert _panel_numbers(picked.text) == _panel_numbers(whole.text)
        assert 'id="gw-area">全市 whole city<' in picked.text
