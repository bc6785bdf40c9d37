"""A walk moved on by a GPS week-number rollover (T57 #4) keeps its day when retention
(``tracks drop-fixes``) has dropped its fixes and it is re-read from its kept file, e.g. for
``tracks rematch --track``: the file is read as at its upload (the rollover is judged by
the days before the upload), not as at the re-read, when the walk moved on is no recent walk
any more and would be counted in 2007.

The walk is on a day two months before today, uploaded that day (the upload's reading of
"now" set to that time, the one thing the test cannot wait for), so a re-read that judged the
rollover by today's date would not move it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from geo.day_networks import walk_network
from geo.patrol_reports import build_report
from geo.settings import city_today, get_settings
from geo.track_points import read_track_points
from geo.track_store import match_stored_track, store_track
from geo.tracks import parse as parse_module
from geo.tracks.parse_time import GPS_ROLLOVER, ROLLOVER_RECENT_DAYS
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_import import run_cli
from tests.test_tracks_db import _csv
from tests.test_tracks_db import demo as demo  # noqa: F401  (the fixture)

STEWARD = 1  # the demo fixture's 王小巷


def _visits(db: Any, track_id: int) -> list[tuple[Any, ...]]:
    """The track's patrol visits: segment, day, person and fraction (what credits whom)."""
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT segment_id, day, person_id, round(covered_fraction::numeric, 6) "
                    "FROM patrol_visits WHERE track_id = :t ORDER BY segment_id, day"
                ),
                {"t": track_id},
            )
        ]


def _own_row(db: Any, day: dt.date) -> dict[str, Any]:
    people = build_report(db, "daily", day)["people"]
    rows = people[people["person_id"] == STEWARD].sort_values("role")
    cols = ("role", "alleys", "walked_m", "compliance", "late_uploads")
    return {k: rows[k].tolist() for k in cols}


@pytest.fixture()
def rolled_over(demo, monkeypatch) -> dict[str, Any]:  # noqa: ANN001, F811
    """A walk of two months ago stamped 1024 weeks early, uploaded that day and matched, its
    steward holding the streets it runs along from a week before (matched again once they
    are set: the credit to keep)."""
    tz = get_settings().timezone
    day = city_today() - dt.timedelta(days=2 * ROLLOVER_RECENT_DAYS)
    start = pd.Timestamp(dt.datetime.combine(day, dt.time(9)), tz=tz).tz_convert("UTC")
    sim = SimParams(length_m=900, dt_s=3.0, start=start.isoformat())
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(21), sim)
    sent = pts["time"].max() + pd.Timedelta(hours=2)
    early = pts.assign(time=pts["time"] - GPS_ROLLOVER)
    assert early["time"].max().year < 2010  # as the receiver wrote it
    real = parse_module.gps_rollover
    # the upload reads the file at ``sent`` (and is stored with that upload time)
    monkeypatch.setattr(
        parse_module,
        "gps_rollover",
        lambda times, header=None, now=None: real(times, header, sent if now is None else now),
    )
    tid = store_track(demo, _csv(early), "old_logger.csv", person_id=STEWARD).track_id
    monkeypatch.setattr(parse_module, "gps_rollover", real)
    with demo.begin() as conn:
        conn.execute(
            text("UPDATE tracks SET uploaded_at = :u WHERE id = :t"),
            {"u": sent.to_pydatetime(), "t": tid},
        )
    match_stored_track(demo, tid)
    with demo.begin() as conn:
        # the streets the walk ran along for 100 m or more, each held by the steward in the
        # role of its kind (a street chief holds a street, a steward an alley)
        held = conn.execute(
            text(
                "SELECT st.id, st.kind FROM patrol_visits v JOIN street_segments s "
                "ON s.id = v.segment_id JOIN streets st ON st.id = s.street_id "
                "WHERE v.track_id = :t GROUP BY st.id, st.kind "
                "HAVING sum(s.length_m * v.covered_fraction) >= 100"
            ),
            {"t": tid},
        ).all()
        assert held, "the simulated walk should run along a street"
        for street, kind in held:
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                    "VALUES (:p, :r, :s, :d)"
                ),
                {
                    "p": STEWARD,
                    "r": "alley_steward" if kind == "alley" else "street_chief",
                    "s": street,
                    "d": day - dt.timedelta(days=7),
                },
            )
    match_stored_track(demo, tid)
    return {"db": demo, "track": tid, "day": day, "pts": pts}


def test_a_rolled_over_walk_re_read_after_drop_fixes_keeps_its_day(rolled_over, pg_url) -> None:  # noqa: ANN001
    """Stored on its moved-on day, matched and credited; its day's fixes dropped; re-matched
    with ``gridward tracks rematch --track`` (read again from the kept file): the same fixes
    on the same day, the same visits and the same credit in the day's report, not 2007."""
    db, tid, day, pts = (rolled_over[k] for k in ("db", "track", "day", "pts"))
    with db.connect() as conn:
        started = conn.execute(
            text("SELECT started_at FROM tracks WHERE id = :t"), {"t": tid}
        ).scalar_one()
    assert pd.Timestamp(started).tz_convert(get_settings().timezone).date() == day
    visits = _visits(db, tid)
    assert visits and {v[1] for v in visits} == {day} and {v[2] for v in visits} == {STEWARD}
    credit = _own_row(db, day)
    assert sum(credit["walked_m"]) >= 100 and not any(credit["late_uploads"]), credit

    before = (day + dt.timedelta(days=1)).isoformat()
    res = run_cli(["tracks", "drop-fixes", "--before", before], pg_url)
    assert res.returncode == 0, res.stderr
    with db.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM track_points WHERE track_id = :t"), {"t": tid}
        ).scalar_one()
    assert kept == 0  # every fix of the walk was dropped: it is read from the kept file

    with db.connect() as conn:  # read back as at its upload: moved on, fix for fix
        back = read_track_points(conn, [tid])
    assert len(back) == len(pts)
    assert (back["time"].to_numpy() == pts["time"].to_numpy()).all()

    res = run_cli(["tracks", "rematch", "--track", str(tid)], pg_url)
    assert res.returncode == 0, res.stderr
    with db.connect() as conn:
        status, matches = conn.execute(
            text(
                "SELECT t.status, (SELECT count(*) FROM track_matches m WHERE m.track_id = t.id) "
                "FROM tracks t WHERE t.id = :t"
            ),
            {"t": tid},
        ).one()
    assert status == "matched" and matches == 3, (status, matches)  # matched again
    assert _visits(db, tid) == visits  # the same day, person and fractions: not 2007
    assert _own_row(db, day) == credit
