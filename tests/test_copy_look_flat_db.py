"""An upload's look for the stored walk it copies stays flat as walks pile up (outside tester
T59, F8: 44 tracks/s with 2,000 walks stored, 32 with 30,000).

Each new upload looks near its mean fix for a nudged copy (geo.track_copies.walk_holder).
With a walk a day on each route the walks near a place are its whole history: every one was
fetched and sorted, and the nearest five's fixes were read (parsed from their kept files once
retention dropped them) and compared. Now each kind (live, withdrawn) is walked nearest first
and stops at five, a walk whose box leaves out the new one's fixes is not read at all, and a
stored walk's fixes are read from its own days' partitions only (planned, not only skipped).
Real PostGIS, the real upload path; plans read back with EXPLAIN (ANALYZE) of the very
statements the upload ran."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event, text

from geo.errors import ConflictError
from geo.track_copies import NEAR_WALKS
from geo.track_partitions import ensure_day_partitions, partition_name
from geo.track_points import read_track_points
from geo.track_store import store_track
from tests.test_tracks_db import _csv

M = 1 / 111_320  # a metre of latitude, in degrees
LON0, LAT0 = 116.30, 39.99  # where the walks are
COS = float(np.cos(np.radians(LAT0)))


def _line(seed: int, start: str, half_m: float, secs: int, step: int = 1) -> pd.DataFrame:
    """A walk along a straight east-west alley centred on (LON0, LAT0), ``half_m`` each way,
    there and back over ``secs`` seconds (a fix every ``step``), fixes scattered 8 m as a
    phone's: its mean fix lies on the alley's middle."""
    rng = np.random.default_rng(seed)
    n = secs // step
    x = -half_m * np.cos(np.linspace(0, 2 * np.pi, n))  # from the west end, east and back
    lon = LON0 + (x + rng.normal(0, 8, n)) * M / COS
    lat = LAT0 + rng.normal(0, 8, n) * M
    time = pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * step, "s")
    return pd.DataFrame({"lon": lon, "lat": lat, "time": time})


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements ``engine`` runs meanwhile (SQL, parameters)."""
    ran: list[tuple[str, Any]] = []

    def seen(_conn, _cur, statement, parameters, _ctx, _many) -> None:  # noqa: ANN001
        ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield ran
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def _plan(engine: Engine, statement: str, params: Any) -> list[dict[str, Any]]:
    """Every node of the plan ``statement`` ran with (EXPLAIN ANALYZE, the same parameters)."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            (doc,) = cur.fetchone()
        raw.rollback()
    finally:
        raw.close()
    root = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
    nodes, todo = [], [root]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


def _tracks_read(nodes: list[dict[str, Any]]) -> int:
    """Rows of ``tracks`` (or entries of its indexes) the plan's scans fetched, those its
    filters dropped included."""
    return sum(
        (n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
        for n in nodes
        if n.get("Relation Name") == "tracks"
        or str(n.get("Index Name", "")).startswith(("ix_tracks_", "tracks_"))
    )


def _history(engine: Engine, days: int, elsewhere: int) -> None:
    """``days`` stored walks of the alley, one a day before 2026-03 (each 20 min long, its mean
    fix within 3 m of the alley's middle, its box a point there: no walk's fixes are near a
    new walk's), and ``elsewhere`` 10-minute walks across the city (100 m or more north of
    it) on 2026-03-05 from 01:00 (a peak hour); rows only (their files never read)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, started_at, ended_at, "
                "n_points, status, fixes_sha256, fixes_center, fixes_extent) "
                "SELECT md5(i::text) || md5('h' || i), 'x'::bytea, 'csv', 'wgs84', 1, w.t0, "
                "w.t0 + w.span, 600, 'matched', md5('f' || i) || md5('g' || i), c.p, c.p "
                "FROM generate_series(1, :n) i CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint("
                "CASE WHEN i <= :days THEN :x + (i % 5 - 2) * :dx ELSE :x + (i % 97) * 1e-3 END, "
                "CASE WHEN i <= :days THEN :y + (i % 3 - 1) * :dy "
                "ELSE :y + (1 + i % 89) * 1e-3 END), 4326) AS p) c "
                "CROSS JOIN LATERAL (SELECT CASE WHEN i <= :days "
                "THEN TIMESTAMPTZ '2026-03-01 01:00Z' - i * interval '1 day' "
                "ELSE TIMESTAMPTZ '2026-03-05 01:00Z' + (i % 5) * interval '1 minute' END AS t0, "
                "CASE WHEN i <= :days THEN interval '20 minutes' ELSE interval '10 minutes' END "
                "AS span) w"
            ),
            {"n": days + elsewhere, "days": days, "x": LON0, "y": LAT0, "dx": M / COS,
             "dy": M},
        )  # fmt: skip
        conn.execute(text("ANALYZE tracks"))


def test_the_near_look_reads_five_walks_however_long_the_place_history(db):
    """400 walks of one alley stored (a year of it, a walk a day), 3,000 elsewhere: a new
    walk of the alley reads NEAR_WALKS of them nearest first (and the withdrawn ones, none),
    not all 400 sorted. It is stored: none of them is a copy of it."""
    _history(db, days=400, elsewhere=3_000)
    walk = _line(1, "2026-03-05T01:00:00Z", half_m=150, secs=900)
    with _statements(db) as ran:
        stored = store_track(db, _csv(walk), "walk.csv")
    assert stored.created
    near = [(s, p) for s, p in ran if "ST_DWithin(t.fixes_center" in s]
    assert len(near) == 1, near
    read = _tracks_read(_plan(db, *near[0]))
    # live and withdrawn nearest-first scans (NEAR_WALKS at most each) and their rows by id
    assert read <= 3 * NEAR_WALKS, read
    # nor were those walks' fixes (or kept files) read: their boxes leave the new one out
    assert not [s for s, _ in ran if "FROM track_points" in s or "SELECT id, raw" in s]


def test_a_walk_whose_box_leaves_out_the_file_is_not_read_and_a_copy_still_is(db):
    """Three walks of the alley's middle 400 m stored, on other days, there and back in 20
    minutes: their mean fixes lie where a new walk of the whole 1.2 km alley has its own, but
    their boxes leave out three quarters of its fixes, so it is no nudged copy of them and
    their fixes are not read to tell. A nudged copy of one of them, days on, is still
    refused."""
    middles = [
        _line(10 + k, f"2026-03-0{k + 1}T01:00:00Z", half_m=200, secs=1200, step=10)
        for k in range(3)
    ]
    for k, w in enumerate(middles):
        assert store_track(db, _csv(w), f"middle{k}.csv").created
    whole = _line(20, "2026-03-06T01:00:00Z", half_m=600, secs=1000, step=5)
    with _statements(db) as ran:
        assert store_track(db, _csv(whole), "whole.csv").created
    assert [s for s, _ in ran if "ST_DWithin(t.fixes_center" in s]  # they were looked for
    assert not [s for s, _ in ran if "FROM track_points" in s or "SELECT id, raw" in s]
    rng = np.random.default_rng(30)
    first = middles[0]
    nudged = first.assign(
        lon=first["lon"] + rng.uniform(-0.4, 0.4, len(first)) * M / COS,
        lat=first["lat"] + rng.uniform(-0.4, 0.4, len(first)) * M,
        time=first["time"] + pd.Timedelta(days=9),
    )
    with pytest.raises(ConflictError, match="相差不到"):
        store_track(db, _csv(nudged), "nudged.csv")


def test_a_walks_fixes_are_read_from_its_own_days_partitions(db):
    """With 40 more days of fixes kept (40 day tables), reading a walk's fixes plans its own
    day's table only. WHY: its days came from a subquery the planner could not see into, so
    every day table was planned (then skipped): ~20 ms a read with a year of tables."""
    walk = _line(40, "2026-03-05T01:00:00Z", half_m=150, secs=600)
    tid = store_track(db, _csv(walk), "walk.csv").track_id
    days = [dt.date(2031, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    ensure_day_partitions(db, days)
    try:
        with _statements(db) as ran, db.connect() as conn:
            assert len(read_track_points(conn, [tid])) == len(walk)
        (read,) = [(s, p) for s, p in ran if "FROM track_points" in s]
        tables = {n["Relation Name"] for n in _plan(db, *read) if "Relation Name" in n}
        assert tables == {partition_name(dt.date(2026, 3, 5))}, tables
    finally:
        with db.begin() as conn:
            for d in days:
                conn.execute(text(f'DROP TABLE IF EXISTS "{partition_name(d)}"'))


def test_the_walks_a_file_holds_are_looked_for_in_its_time_and_place_at_once(db):
    """The same 400 days of the alley and 3,000 walks elsewhere at the new walk's hour: the look
    for a stored walk the new file holds (its span within the file's, its mean fix within the
    file's box) reads the index entries of walks within both, none here; not every walk of
    the alley's box (its history) nor every walk of the hour (migration 0025's
    ix_tracks_span_center)."""
    _history(db, days=400, elsewhere=3_000)
    walk = _line(2, "2026-03-05T01:00:00Z", half_m=150, secs=900)
    with _statements(db) as ran:
        assert store_track(db, _csv(walk), "walk.csv").created
    holds = [(s, p) for s, p in ran if "<@ tstzrange(" in s]
    assert len(holds) == 1, holds
    read = _tracks_read(_plan(db, *holds[0]))
    assert read <= NEAR_WALKS, read
