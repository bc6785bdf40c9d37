"""track_points by UTC day: partitions made on upload, reads across days, races, migration."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from geo.day_networks import walk_network
from geo.track_partitions import ensure_day_partitions, partition_name
from geo.track_points import read_track_points
from geo.track_store import match_stored_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.conftest import _throwaway_database
from tests.dbcheck import fingerprint
from tests.test_import import run_cli
from tests.test_tracks_db import _csv, _post, _visits
from tests.test_tracks_db import demo as demo  # noqa: F401  (the fixture)


def _n_partitions(db) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'track_points'::regclass")
            ).scalar()
        )


def _rows_per_partition(db, track_id: int) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tableoid::regclass::text AS part, count(*) FROM track_points "
                "WHERE track_id = :t GROUP BY 1"
            ),
            {"t": track_id},
        ).all()
    return {r.part: int(r.count) for r in rows}


def test_walk_across_utc_midnight_lands_in_two_day_partitions(demo, auth_headers):
    """07:50–08:10 in Beijing is 23:50–00:10 UTC: the fixes of one walk go to two day tables,
    and reading the track back gives every fix in order."""
    net = walk_network(demo)
    sp = SimParams(length_m=1200, dt_s=3.0, start="2026-11-18T23:50:00Z")
    pts, _ = simulate_patrol(net, np.random.default_rng(5), sp)
    midnight = pd.Timestamp("2026-11-19T00:00:00Z")
    before = int((pts["time"] < midnight).sum())
    assert 0 < before < len(pts)  # the walk really straddles midnight
    with TestClient(create_app(demo)) as client:
        r = _post(client, auth_headers("admin"), [("night.csv", _csv(pts))], person_id=1)
    assert r.status_code == 201, r.text
    tid = r.json()["files"][0]["track_id"]
    parts = _rows_per_partition(demo, tid)
    assert parts == {
        partition_name(dt.date(2026, 11, 18)): before,
        partition_name(dt.date(2026, 11, 19)): len(pts) - before,
    }
    with demo.connect() as conn:
        back = read_track_points(conn, [tid])
    assert len(back) == len(pts)
    assert back["time"].is_monotonic_increasing
    np.testing.assert_allclose(back["lon"], pts["lon"], atol=1e-9)
    assert (back["time"].to_numpy() == pts["time"].to_numpy()).all()


def test_stored_fixes_keep_microseconds_accuracy_and_missing_accuracy(demo):
    """The COPY text is written by hand: times to the microsecond (in any zone), accuracy and
    a missing accuracy come back as sent."""
    from geo.track_store import store_track

    lines = [
        "lon,lat,time,accuracy",
        "116.3200,39.9990,2026-11-18T08:00:00.123456+08:00,4.5",
        "116.3201,39.9991,2026-11-18T00:00:03.5Z,",
        "116.3202,39.9992,2026-11-18T00:00:07Z,0.0001",
    ]
    tid = store_track(demo, "\n".join(lines).encode(), "precise.csv", "wgs84").track_id
    with demo.connect() as conn:
        back = read_track_points(conn, [tid])
    assert [str(t) for t in back["time"]] == [
        "2026-11-18 00:00:00.123456+00:00",
        "2026-11-18 00:00:03.500000+00:00",
        "2026-11-18 00:00:07+00:00",
    ]
    assert back["accuracy"].iloc[0] == 4.5 and np.isnan(back["accuracy"].iloc[1])
    assert back["accuracy"].iloc[2] == 0.0001
    np.testing.assert_allclose(back["lat"], [39.9990, 39.9991, 39.9992], atol=1e-12)


def test_patrol_map_shows_a_walk_whose_first_utc_day_was_dropped(demo, auth_headers):
    """A Beijing walk across 08:00 (UTC midnight) on the oldest kept day: retention drops the
    earlier UTC day, and the day's patrol map still shows every fix (the dropped half is read
    back from the kept upload, not left out)."""
    from geo.track_partitions import drop_days_before

    net = walk_network(demo)
    sp = SimParams(
        length_m=900, dt_s=3.0, start="2024-11-18T23:55:00Z"
    )  # 2024: no other test's day
    pts, _ = simulate_patrol(net, np.random.default_rng(6), sp)
    before = int((pts["time"] < pd.Timestamp("2024-11-19T00:00:00Z")).sum())
    assert 0 < before < len(pts)
    with TestClient(create_app(demo)) as client:
        r = _post(client, auth_headers("admin"), [("edge.csv", _csv(pts))], person_id=1)
    assert r.status_code == 201, r.text
    tid = r.json()["files"][0]["track_id"]
    shown = _map_track(demo, dt.date(2024, 11, 19), tid)
    assert shown[0] == len(pts) and 0 < len(shown[1]) <= len(pts)
    dropped = dict(drop_days_before(demo, dt.date(2024, 11, 19)))
    # (older empty day tables other tests made, e.g. for 2009 GPX samples, go too)
    assert dropped.pop(dt.date(2024, 11, 18)) == before and not any(dropped.values())
    assert _rows_per_partition(demo, tid) == {
        partition_name(dt.date(2024, 11, 19)): len(pts) - before
    }
    assert _map_track(demo, dt.date(2024, 11, 19), tid) == shown


def test_concurrent_uploads_create_a_new_day_once(db):
    """Four sessions wanting the same new day: one creates it, none fails."""
    day = dt.date(2031, 1, 2)
    created: list[int] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def worker() -> None:
        try:
            gate.wait()
            created.append(ensure_day_partitions(db, [day, day + dt.timedelta(days=1)]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(created) == [0, 0, 0, 2]
    n = _n_partitions(db)
    with db.connect() as conn:
        made = conn.execute(
            text("SELECT to_regclass(:a) IS NOT NULL AND to_regclass(:b) IS NOT NULL"),
            {"a": partition_name(day), "b": partition_name(day + dt.timedelta(days=1))},
        ).scalar()
    assert made and n >= 2


def test_track_over_too_many_days_is_refused_and_changes_nothing(demo, auth_headers):
    times = pd.to_datetime(["2026-01-01T01:00:00Z", "2026-03-01T01:00:00Z"], utc=True)
    pts = pd.DataFrame({"lon": [116.32, 116.3201], "lat": [40.0, 40.0001], "time": times})
    admin = auth_headers("admin")
    before = fingerprint(demo)
    n_parts = _n_partitions(demo)
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("long.csv", _csv(pts))])
    assert 400 <= r.status_code < 500
    assert "spans 60 days" in r.text
    assert fingerprint(demo) == before
    assert _n_partitions(demo) == n_parts


def test_migration_moves_existing_fixes_into_day_partitions(pg_url):
    """Upgrade from 0005 (one plain table) to 0006 keeps every stored fix, each in its day."""
    from geo.db import migrate, normalize_url

    for url in _throwaway_database(pg_url):
        eng = create_engine(normalize_url(url))
        migrate(eng, "0005")
        t0 = dt.datetime(2026, 5, 1, 23, 59, 50, tzinfo=dt.UTC)
        times = [t0 + dt.timedelta(seconds=5 * i) for i in range(6)]
        with eng.begin() as conn:
            tid = conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, status) "
                    "VALUES (repeat('a', 64), 'x', 'csv', 'wgs84', 1, 6, 'stored') RETURNING id"
                )
            ).scalar()
            for i, t in enumerate(times):
                conn.execute(
                    text(
                        "INSERT INTO track_points (track_id, seq, t, accuracy, geom) VALUES "
                        "(:tid, :i, :t, :a, ST_SetSRID(ST_MakePoint(116.3 + :i * 1e-4, 40), 4326))"
                    ),
                    {"tid": tid, "i": i, "t": t, "a": float(i)},
                )
        migrate(eng)
        with eng.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT tableoid::regclass::text AS part, seq, t AS ts, accuracy, "
                    "ST_X(geom) AS x FROM track_points ORDER BY seq"
                )
            ).all()
        eng.dispose()
        assert [r.seq for r in rows] == list(range(6))
        assert [r.ts for r in rows] == times
        assert [r.accuracy for r in rows] == [float(i) for i in range(6)]
        assert [r.part for r in rows] == [partition_name(t.date()) for t in times]
        assert {r.part for r in rows} == {"track_points_p20260501", "track_points_p20260502"}
        assert rows[5].x == pytest.approx(116.3005)


def _has_partition(db, day: dt.date) -> bool:
    with db.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_class WHERE relname = :n"),
                {"n": partition_name(day)},
            ).scalar()
        )


def _map_track(db, day: dt.date, track_id: int) -> tuple[int, list]:
    """How many fixes the patrol map counts for the track on that local day, and the
    [lon, lat, time] points it draws (the fixes that shape the walk: the map thins them)."""
    from geo.map_data import patrols_of_day

    shown = [t for t in patrols_of_day(db, day, 1).tracks if t["id"] == track_id]
    assert len(shown) == 1, shown
    return shown[0]["n_points"], shown[0]["points"]


def test_dropped_days_leave_old_tracks_readable_and_rematchable(demo, auth_headers, pg_url):
    """Retention (``tracks drop-fixes``) drops a finished day's fixes: the track still reads
    back fix for fix (parsed from its kept upload), re-matches to the same visits and shows
    the same line, on its own page and on the day's patrol map; a late upload of that day
    makes the day's table again; a future date is refused."""
    net = walk_network(demo)
    old_day = dt.date(2025, 3, 3)
    sp = SimParams(length_m=900, dt_s=3.0, start="2025-03-03T01:00:00Z")
    pts, _ = simulate_patrol(net, np.random.default_rng(11), sp)
    h = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        r = _post(client, h, [("old.csv", _csv(pts))], person_id=1)
        assert r.status_code == 201, r.text
        tid = r.json()["files"][0]["track_id"]
        line_before = client.get(f"/tracks/{tid}", headers=h).json()["geometry"]
        visits_before = _visits(demo, tid)
        map_before = _map_track(demo, old_day, tid)
        assert map_before[0] == len(pts)
        assert visits_before and len(line_before["coordinates"]) == len(pts)

        res = run_cli(["tracks", "drop-fixes", "--before", "2025-03-04", "--dry-run"], pg_url)
        assert res.returncode == 0, res.stderr
        assert f"2025-03-03: 将删除 {len(pts)} 个定位点 would drop {len(pts)} fixes" in res.stdout
        assert _has_partition(demo, old_day)

        res = run_cli(["tracks", "drop-fixes", "--before", "2025-03-04"], pg_url)
        assert res.returncode == 0, res.stderr
        assert f"2025-03-03: 已删除 {len(pts)} 个定位点 dropped {len(pts)} fixes" in res.stdout
        assert not _has_partition(demo, old_day)

        with demo.connect() as conn:
            back = read_track_points(conn, [tid])
        assert len(back) == len(pts)
        np.testing.assert_allclose(back["lon"], pts["lon"], atol=1e-9)
        assert (back["time"].to_numpy() == pts["time"].to_numpy()).all()
        match_stored_track(demo, tid)
        assert _visits(demo, tid) == visits_before
        line_after = client.get(f"/tracks/{tid}", headers=h).json()["geometry"]
        assert line_after == line_before
        assert _map_track(demo, old_day, tid) == map_before  # the patrol map still shows it

        late, _ = simulate_patrol(net, np.random.default_rng(12), sp)
        r = _post(client, h, [("late.csv", _csv(late))], person_id=1)
        assert r.status_code == 201, r.text
        assert _has_partition(demo, old_day)

    res = run_cli(["tracks", "drop-fixes", "--before", "2999-01-01"], pg_url)
    assert res.returncode == 2 and "after today" in res.stderr
    res = run_cli(["tracks", "drop-fixes", "--dry-run"], pg_url)
    assert res.returncode == 2 and "exactly one of" in res.stderr
    # a daily cron keeping 30 days would drop 2025-03-03 (the dry run only lists it)
    res = run_cli(["tracks", "drop-fixes", "--keep-days", "30", "--dry-run"], pg_url)
    assert res.returncode == 0 and "2025-03-03: 将删除" in res.stdout and "would drop" in res.stdout
    assert _has_partition(demo, old_day)


def test_upload_racing_a_retention_run_makes_the_day_again(demo, monkeypatch):
    """The day table existed when the upload looked, and a retention run dropped it before
    the fixes went in: the upload makes the table again and stores every fix."""
    from geo import track_store
    from geo.track_partitions import drop_days_before

    day = dt.date(2025, 4, 5)
    ensure_day_partitions(demo, [day])
    assert (day, 0) in drop_days_before(demo, day + dt.timedelta(days=1))
    real = track_store.ensure_day_partitions
    calls: list[int] = []

    def racing(engine, days):
        calls.append(1)
        return 0 if len(calls) == 1 else real(engine, days)

    monkeypatch.setattr(track_store, "ensure_day_partitions", racing)
    sp = SimParams(length_m=600, dt_s=3.0, start="2025-04-05T02:00:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(13), sp)
    stored = track_store.store_track(demo, _csv(pts), "race.csv")
    assert stored.created and len(calls) == 2
    assert _rows_per_partition(demo, stored.track_id) == {partition_name(day): len(pts)}


def test_a_new_day_table_made_while_an_upload_is_in_flight_does_not_deadlock(db):
    """An upload holds its new ``tracks`` row and is about to COPY its fixes when another
    upload makes a new day's table. With the foreign key track_points → tracks, making the
    table held track_points and waited for tracks, the upload held tracks and waited for
    track_points: PostgreSQL killed one (a tester's concurrent uploads got 503s). Now the
    day table waits for nothing the upload holds, and both finish."""
    old_day, new_day = dt.date(2031, 2, 1), dt.date(2031, 2, 9)
    ensure_day_partitions(db, [old_day])
    made: list[int] = []
    errors: list[BaseException] = []

    def make_day() -> None:
        try:
            made.append(ensure_day_partitions(db, [new_day]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    at = dt.datetime.combine(old_day, dt.time(8), dt.UTC)
    with db.begin() as conn:
        tid = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, status) "
                "VALUES (repeat('d', 64), 'x', 'csv', 'wgs84', 1, 1, 'stored') RETURNING id"
            )
        ).scalar_one()
        maker = threading.Thread(target=make_day)
        maker.start()
        # until the maker finished or waits for a lock (the deadlock's first half)
        with db.connect() as watch:
            for _ in range(200):
                waiting = watch.execute(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar()
                if waiting or not maker.is_alive():
                    break
                threading.Event().wait(0.05)
        conn.execute(
            text(
                "INSERT INTO track_points (track_id, seq, t, geom) "
                "VALUES (:t, 0, :at, ST_SetSRID(ST_MakePoint(116.3, 40.0), 4326))"
            ),
            {"t": tid, "at": at},
        )
    maker.join()
    assert errors == [] and made == [1]
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_points")).scalar() == 1


def test_a_new_day_table_does_not_wait_for_readers_of_the_fixes(db):
    """A worker's batch reads fixes and keeps its transaction open while it matches. Making
    a new day's table as CREATE TABLE ... PARTITION OF waited for it (ACCESS EXCLUSIVE on
    track_points), and every upload and read queued behind: a tester saw 8.4 s stalls. The
    table is now attached, which readers do not block: with a lock timeout it is made while
    the reader's transaction is still open (the old way timed out)."""
    old_day, new_day = dt.date(2031, 3, 1), dt.date(2031, 3, 9)
    ensure_day_partitions(db, [old_day])
    with db.connect() as reader:
        reader.begin()
        reader.execute(text("SELECT count(*) FROM track_points"))  # held: ACCESS SHARE
        with db.begin() as maker:
            maker.execute(text("SET LOCAL lock_timeout = '3s'"))
            assert ensure_day_partitions(maker, [new_day]) == 1
        reader.rollback()
    with db.connect() as conn:
        made = conn.execute(
            text(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'track_points'::regclass "
                "AND inhrelid = to_regclass(:n)"
            ),
            {"n": partition_name(new_day)},
        ).scalar()
        pk = conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE tablename = :n"),
            {"n": partition_name(new_day)},
        ).scalar()
    assert made == 1 and pk == 1  # a partition with its key index, as the others have
