"""The match queue: deferred uploads are matched in batches by workers that never collide."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.day_networks import walk_network
from geo.match_queue import drain_queue, queued_count
from geo.settings import city_today
from geo.track_store import ingest_track, store_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests import test_tracks_db
from tests.test_tracks_db import _csv, _post, _visits

demo = test_tracks_db.demo  # the same fixture: demo communities, OSM streets, one steward


def _walks(db, n: int, seed: int = 11) -> list[bytes]:
    net = walk_network(db)
    rng = np.random.default_rng(seed)
    return [
        _csv(simulate_patrol(net, rng, SimParams(length_m=900, noise_m=6, dt_s=3))[0])
        for _ in range(n)
    ]


def _statuses(db) -> dict[int, str]:
    with db.connect() as conn:
        return dict(conn.execute(text("SELECT id, status FROM tracks")).all())


def test_deferred_api_upload_is_matched_by_the_job_like_a_direct_upload(demo, auth_headers):
    admin = auth_headers("admin")
    walks = _walks(demo, 3)
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [(f"w{i}.csv", w) for i, w in enumerate(walks)], defer="true")
        assert r.status_code == 202, r.text
        body = r.json()
        assert [f["status"] for f in body["files"]] == ["queued"] * 3
        for _ in range(200):
            job = client.get(body["job_url"], headers=admin).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        assert job["result"]["matched"] == 3 and job["result"]["failed"] == 0
        # the caller's own tracks, whoever matched them
        mine = job["result"]["tracks"]
        assert [t["track_id"] for t in mine] == sorted(f["track_id"] for f in body["files"])
        assert all(t["status"] == "matched" and t["segments"] > 0 for t in mine), mine
        # the job drained the whole queue: a steward who did not start it cannot read it
        other = auth_headers("steward", person_id=1)
        assert client.get(body["job_url"], headers=other).status_code == 404
        # nor a viewer (tester W's F17: a job is its creator's, admins' and its area's planners')
        assert client.get(body["job_url"], headers=auth_headers("viewer")).status_code == 403
        ids = [f["track_id"] for f in body["files"]]
        assert all(_statuses(demo)[i] == "matched" for i in ids)
        queued = {i: _visits(demo, i) for i in ids}
        with demo.connect() as conn:  # the queue keeps each track's match summary too
            rows = conn.execute(
                text(
                    "SELECT track_id, matched_points, pieces, walked_m FROM track_matches "
                    "WHERE track_id = ANY(:i)"
                ),
                {"i": ids},
            ).all()
        summary = {r.track_id: (r.matched_points, r.pieces, round(r.walked_m, 1)) for r in rows}
        assert len(summary) == len(rows) == 3  # one match each
        assert all(queued.values()), queued
        bad = _post(client, admin, [("x.csv", walks[0] + b"\n")], defer="maybe")
        assert bad.status_code == 422 and "defer" in bad.json()["error"]
    # the same walks matched directly (one by one, no queue) give the same visits
    with demo.begin() as conn:
        conn.execute(text("DELETE FROM tracks"))
    for i, w in enumerate(walks):
        item = ingest_track(demo, w, f"w{i}.csv")
        direct = _visits(demo, item["track_id"])
        assert set(direct) == set(queued[ids[i]])
        m = item["match"]
        assert summary[ids[i]] == (m["matched_points"], m["pieces"], m["walked_m"])
        assert all(abs(direct[k] - queued[ids[i]][k]) < 1e-6 for k in direct)


def test_two_workers_share_the_queue_without_taking_a_track_twice(demo):
    walks = _walks(demo, 8, seed=5)
    ids = [store_track(demo, w, f"q{i}.csv", queue=True).track_id for i, w in enumerate(walks)]
    assert queued_count(demo) == 8 and set(_statuses(demo).values()) == {"queued"}
    reports = []
    workers = [
        threading.Thread(target=lambda: reports.append(drain_queue(demo, batch=2)))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(r.matched for r in reports) == 8  # each track once, by one worker or the other
    assert queued_count(demo) == 0
    assert all(_statuses(demo)[i] == "matched" for i in ids)
    with demo.connect() as conn:
        dup = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT track_id, segment_id, day FROM patrol_visits "
                "GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
            )
        ).scalar()
    assert dup == 0
    # an empty queue is a no-op
    assert drain_queue(demo).matched == 0


def test_a_track_that_cannot_be_matched_fails_alone(demo, monkeypatch):
    import geo.tracks.match as match_mod
    from geo.errors import InputError

    walks = _walks(demo, 3, seed=9)
    ids = [store_track(demo, w, f"f{i}.csv", queue=True).track_id for i, w in enumerate(walks)]
    real = match_mod.match_tracks_split
    # fault injection: the matcher refuses the second track (as it would a track it cannot
    # handle); the database and the other tracks are real
    bad_first_lon = float(walks[1].split(b"\n")[1].split(b",")[0])

    def is_bad(pieces) -> bool:
        return bool(pieces) and abs(float(pieces[0]["lon"].iloc[0]) - bad_first_lon) < 1e-9

    def picky_split(net, tracks, params=None, cuts=None):
        if any(is_bad(t) for t in tracks):
            raise InputError("matcher refused this track")
        return real(net, tracks, params, cuts)

    # every way into the matcher (one track, a batch, a batch cut at local midnights)
    monkeypatch.setattr(match_mod, "match_tracks_split", picky_split)
    monkeypatch.setattr(
        match_mod, "match_tracks", lambda n, ts, p=None: [s[0] for s in picky_split(n, ts, p)]
    )
    monkeypatch.setattr(match_mod, "match_track", lambda n, t, p=None: picky_split(n, [t], p)[0][0])
    rep = drain_queue(demo)
    assert rep.matched == 2 and rep.failed == 1
    st = _statuses(demo)
    assert [st[i] for i in ids] == ["matched", "failed", "matched"]
    with demo.connect() as conn:
        err = conn.execute(text("SELECT error FROM tracks WHERE id = :t"), {"t": ids[1]}).scalar()
    assert err == "matcher refused this track"
    assert _visits(demo, ids[1]) == {} and _visits(demo, ids[0])


def test_cli_defer_then_worker(demo, pg_url, tmp_path):
    from tests.test_import import run_cli

    paths = []
    for i, w in enumerate(_walks(demo, 2, seed=3)):
        p = tmp_path / f"c{i}.csv"
        p.write_bytes(w)
        paths.append(str(p))
    res = run_cli(["tracks", "upload", "--defer", *paths], pg_url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("queued for matching") == 2
    assert queued_count(demo) == 2
    res = run_cli(["tracks", "worker", "--batch", "1"], pg_url)
    assert res.returncode == 0, res.stderr
    assert "matched 2 tracks" in res.stdout
    assert queued_count(demo) == 0


def test_bad_mode_is_refused_before_storing(demo):
    from geo.errors import InputError

    with pytest.raises(InputError, match="unknown mode"):
        store_track(demo, _walks(demo, 1)[0], "m.csv", mode="run", queue=True)
    assert _statuses(demo) == {}


def _local_day(db, track_id: int) -> str:
    with db.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT (started_at AT TIME ZONE 'Asia/Shanghai')::date FROM tracks "
                    "WHERE id = :t"
                ),
                {"t": track_id},
            ).scalar()
        )


def test_rematch_follows_a_corrected_network_and_restores_the_same_visits(demo):
    """A walked segment is misplaced in the map, then fixed: re-matching the stored track drops
    it, then gives back exactly the visits of the first match (the network is re-read each time,
    the fixes come from the stored track)."""
    import datetime as dt

    from geo.errors import InputError, NotFoundError
    from geo.match_queue import requeue_tracks

    tid = ingest_track(demo, _walks(demo, 1, seed=21)[0], "r.csv")["track_id"]
    first = _visits(demo, tid)
    with demo.connect() as conn:
        seg, geom, length = conn.execute(
            text(
                "SELECT s.id, s.geom, s.length_m FROM patrol_visits v JOIN street_segments s "
                "ON s.id = v.segment_id WHERE v.track_id = :t ORDER BY v.covered_fraction * "
                "s.length_m DESC LIMIT 1"
            ),
            {"t": tid},
        ).one()
    assert first[seg] > 0.9

    def set_segment(g, n: float) -> None:
        with demo.begin() as conn:
            conn.execute(
                text("UPDATE street_segments SET geom = :g, length_m = :n WHERE id = :s"),
                {"g": g, "n": n, "s": seg},
            )

    with demo.connect() as conn:
        far = conn.execute(text("SELECT ST_Translate(CAST(:g AS geometry), 0.01, 0)"), {"g": geom})
        far = far.scalar()
    set_segment(far, length + 0.5)  # the map is wrong: the alley drawn 850 m east
    assert requeue_tracks(demo, [tid]) == (1, 0)
    assert _statuses(demo)[tid] == "queued"
    rep = drain_queue(demo)
    assert (rep.matched, rep.rematched, rep.changed) == (1, 1, 1)
    moved = _visits(demo, tid)
    assert seg not in moved and moved, moved
    # the alley's walked metres are lost, counted per segment: a parallel alley that takes
    # over the credit is a gain of its own, not a cancellation
    with demo.connect() as conn:
        lengths = dict(conn.execute(text("SELECT id, length_m FROM street_segments")).all())
    delta = [(moved.get(s, 0.0) - first.get(s, 0.0)) * lengths[s] for s in set(first) | set(moved)]
    assert rep.lost_m >= first[seg] * (length + 0.5) - 0.01
    assert rep.lost_m == pytest.approx(sum(-d for d in delta if d < 0), abs=0.01)
    assert rep.gained_m == pytest.approx(sum(d for d in delta if d > 0), abs=0.01)
    set_segment(geom, length)  # corrected
    day = dt.date.fromisoformat(_local_day(demo, tid))
    assert requeue_tracks(demo, since=day + dt.timedelta(days=1)) == (0, 0)
    assert requeue_tracks(demo, since=day - dt.timedelta(days=3), until=day) == (1, 0)
    assert requeue_tracks(demo, since=day) == (0, 1)  # queued already
    back = drain_queue(demo)
    assert (back.matched, back.rematched, back.changed) == (1, 1, 1)
    # the reverse change (the misplaced alley was drawn 0.5 m longer)
    assert (back.gained_m, back.lost_m) == pytest.approx(
        (rep.lost_m - 0.5 * first[seg], rep.gained_m), abs=0.01
    )
    again = _visits(demo, tid)
    assert set(again) == set(first)
    assert all(abs(again[k] - first[k]) < 1e-9 for k in first)
    with demo.connect() as conn:  # every match is kept, newest last
        walked = conn.execute(
            text("SELECT walked_m FROM track_matches WHERE track_id = :t ORDER BY id"),
            {"t": tid},
        ).scalars()
        walked = list(walked)
    assert len(walked) == 3 and walked[0] == pytest.approx(walked[2])
    assert walked[0] - walked[1] == pytest.approx(rep.lost_m - rep.gained_m, abs=1.0)
    with pytest.raises(InputError, match="not both"):
        requeue_tracks(demo, [tid], since=day)
    with pytest.raises(InputError, match="not both and not neither"):
        requeue_tracks(demo)
    with pytest.raises(InputError, match="after until"):
        requeue_tracks(demo, since=day, until=day - dt.timedelta(days=1))
    with pytest.raises(InputError, match="until needs since"):
        requeue_tracks(demo, [tid], until=day)
    with pytest.raises(NotFoundError, match="no such track: 99999"):
        requeue_tracks(demo, [tid, 99999])
    assert _statuses(demo)[tid] == "matched"  # refused requests changed nothing


def test_a_rematch_that_only_moves_the_day_is_a_change(demo, monkeypatch):
    """Z3: after GRIDWARD_TIMEZONE changed, 'tracks rematch' moved walks to other days yet
    said "0 of 1 re-matched tracks changed": the same metres on the same alleys. Crediting
    another day changes every report of both days, so it counts, and is named."""
    from geo.match_queue import requeue_tracks
    from geo.settings import get_settings

    tid = ingest_track(demo, _walks(demo, 1, seed=25)[0], "z.csv")["track_id"]
    with demo.connect() as conn:
        hour = conn.execute(
            text(
                "SELECT extract(hour FROM started_at AT TIME ZONE 'Asia/Shanghai') FROM tracks "
                "WHERE id = :t"
            ),
            {"t": tid},
        ).scalar()
    # a zone whose local day differs from Shanghai's at that hour (+14 h or -11 h)
    far_zone = "Pacific/Kiritimati" if hour >= 18 else "Pacific/Pago_Pago"

    def rematch_in(zone: str):
        monkeypatch.setenv("GRIDWARD_TIMEZONE", zone)
        get_settings.cache_clear()
        assert requeue_tracks(demo, [tid]) == (1, 0)
        return drain_queue(demo)

    def days() -> set:
        with demo.connect() as conn:
            q = text("SELECT DISTINCT day FROM patrol_visits WHERE track_id = :t")
            return set(conn.execute(q, {"t": tid}).scalars())

    before = days()
    try:
        moved = rematch_in(far_zone)
        assert days() != before
        assert (moved.rematched, moved.changed, moved.days_moved) == (1, 1, 1)
        assert moved.gained_m + moved.lost_m < 1.0  # the same metres: only the day moved
        assert moved.moved_m > 100  # the walk's whole 900 m-ish credit
        assert moved.as_dict()["days_moved"] == 1
        back = rematch_in("Asia/Shanghai")
        assert days() == before and (back.changed, back.days_moved) == (1, 1)
        same = rematch_in("Asia/Shanghai")
        assert (same.rematched, same.changed, same.days_moved) == (1, 0, 0)
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE", raising=False)
        get_settings.cache_clear()


def test_credit_moved_between_days_is_told_apart_from_credit_gained_or_lost() -> None:
    """Re-tester T35: a walk credited for the first time by a re-match (a changed accuracy
    limit) was said to be "on other days", and credit split over the same two days otherwise
    (a zone change near midnight) was "0 changed". Moved metres are per segment, per day."""
    import datetime as dt

    from geo.patrol_visits import _credit_change

    d1, d2 = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
    # first credit, then all lost: gained / lost, nothing moved
    assert _credit_change([1], {}, {(1, 33, d1): 397.0}) == ({1: 397.0}, {1: 0.0}, {1: 0.0})
    assert _credit_change([1], {(1, 33, d1): 397.0}, {}) == ({1: 0.0}, {1: 397.0}, {1: 0.0})
    # 100 m of one alley on the 19th becomes 42 m on the 19th and 58 m on the 20th; another
    # alley's 50 m moves from the 19th to the 20th while the track's days stay {19th, 20th}
    old = {(1, 33, d1): 100.0, (1, 35, d1): 50.0, (1, 36, d2): 10.0}
    new = {(1, 33, d1): 42.0, (1, 33, d2): 58.0, (1, 35, d2): 50.0, (1, 36, d2): 12.0}
    gained, lost, moved = _credit_change([1], old, new)
    assert (gained[1], lost[1]) == pytest.approx((2.0, 0.0))
    assert moved[1] == pytest.approx(58.0 + 50.0)


def test_rematch_api_and_cli(demo, auth_headers, pg_url):
    from tests.test_import import run_cli

    admin = auth_headers("admin")
    tid = ingest_track(demo, _walks(demo, 1, seed=23)[0], "a.csv")["track_id"]
    first = _visits(demo, tid)
    with TestClient(create_app(demo)) as client:
        r = client.post("/tracks/rematch", json={"track_ids": [tid]}, headers=admin)
        assert r.status_code == 202, r.text
        assert r.json()["queued"] == 1
        for _ in range(200):
            job = client.get(r.json()["job_url"], headers=admin).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done" and job["result"]["matched"] == 1, job
        # the same network: the re-match changes nothing, and says so
        assert (job["result"]["rematched"], job["result"]["changed"]) == (1, 0), job
        assert _visits(demo, tid) == pytest.approx(first)
        shown = client.get(f"/tracks/{tid}", headers=admin).json()
        assert [m["walked_m"] for m in shown["matches"]] == [shown["matches"][1]["walked_m"]] * 2
        assert shown["matches"][0]["matched_at"] >= shown["matches"][1]["matched_at"]
        assert shown["matched_points"] == shown["matches"][0]["matched_points"] > 0
        listed = client.get("/tracks", headers=admin).json()["tracks"]
        assert [t["matched_at"] for t in listed if t["id"] == tid] == [
            shown["matches"][0]["matched_at"]
        ]
        for body, code, words in (
            ({}, 422, "not neither"),
            ({"track_ids": [tid], "since": "2026-05-01"}, 422, "not both"),
            ({"until": "2026-05-01"}, 422, "until needs since"),
            ({"since": "2026-05-02", "until": "2026-05-01"}, 422, "after until"),
            ({"since": "May 1st"}, 422, "since"),
            ({"track_ids": [tid + 1000]}, 404, "no such track"),
        ):
            bad = client.post("/tracks/rematch", json=body, headers=admin)
            assert bad.status_code == code and words in bad.json()["error"], (body, bad.text)
        far = client.post(
            "/tracks/rematch", json={"since": "2020-01-01", "until": "2020-01-31"}, headers=admin
        )
        assert far.status_code == 200 and far.json() == {"queued": 0, "already_queued": 0}
        # since alone runs to today (T59 #5); a day after today is refused, naming today
        ahead = str(city_today() + dt.timedelta(days=1))
        bad = client.post("/tracks/rematch", json={"since": ahead}, headers=admin)
        assert bad.status_code == 422 and f"since {ahead} is after today" in bad.json()["error"]
    day = _local_day(demo, tid)
    res = run_cli(["tracks", "rematch", "--since", day], pg_url)
    assert res.returncode == 0, res.stderr
    assert "queued 1 tracks" in res.stdout and "matched 1 tracks" in res.stdout
    assert "0 of 1 re-matched tracks changed" in res.stdout, res.stdout
    assert _visits(demo, tid) == pytest.approx(first)
    for args, words in (
        ([], "not neither"),
        (["--until", day], "until needs since"),
        (["--since", "2026-13-01"], "not a date"),
        (["--track", str(tid + 1000)], "no such track"),
    ):
        res = run_cli(["tracks", "rematch", *args], pg_url)
        assert res.returncode == 2 and words in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_migration_keeps_each_matched_tracks_summary_as_its_first_match(pg_url):
    """0008 → 0009: a matched track's summary and visits become its first track_matches row
    (a track matched before 0008 gets one too, its unknown figures NULL); the downgrade puts
    the newest summary back on the track."""
    from alembic import command
    from sqlalchemy import create_engine

    from geo.db import alembic_config, migrate, normalize_url
    from tests.conftest import _throwaway_database

    for url in _throwaway_database(pg_url):
        eng = create_engine(normalize_url(url))
        migrate(eng, "0008")
        with eng.begin() as conn:
            street = conn.execute(
                text(
                    "INSERT INTO streets (key, kind, length_m) VALUES ('s', 'alley', 80) "
                    "RETURNING id"
                )
            ).scalar()
            seg = conn.execute(
                text(
                    "INSERT INTO street_segments (uid, street_id, kind, length_m, geom) VALUES "
                    "('a', :s, 'alley', 80, ST_GeomFromText('LINESTRING(116.3 40, 116.301 40)',"
                    " 4326)) RETURNING id"
                ),
                {"s": street},
            ).scalar()
            ids = {}
            for name, status, summary in (
                ("a", "matched", (40, 2)),  # matched since 0008: a summary
                ("b", "matched", (None, None)),  # matched before 0008
                ("c", "stored", (None, None)),  # never matched
            ):
                ids[name] = conn.execute(
                    text(
                        "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                        "status, matched_points, pieces) VALUES (repeat(:c, 64), 'x', 'csv', "
                        "'wgs84', 1, 50, :st, :m, :p) RETURNING id"
                    ),
                    {"c": name, "st": status, "m": summary[0], "p": summary[1]},
                ).scalar()
            conn.execute(
                text(
                    "INSERT INTO patrol_visits (track_id, segment_id, day, covered_fraction) "
                    "VALUES (:t, :s, '2026-05-01', 0.5), (:t, :s, '2026-05-02', 0.25)"
                ),
                {"t": ids["a"], "s": seg},
            )
        migrate(eng)
        with eng.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT m.track_id, m.matched_points, m.pieces, m.segments, m.walked_m, "
                    "m.matched_at = t.uploaded_at AS at_upload FROM track_matches m "
                    "JOIN tracks t ON t.id = m.track_id ORDER BY m.track_id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (ids["a"], 40, 2, 2, 60.0, True),
            (ids["b"], None, None, 0, 0.0, True),
        ]
        cfg = alembic_config()
        with eng.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
            conn.commit()
        with eng.connect() as conn:
            back = conn.execute(
                text("SELECT id, matched_points, pieces FROM tracks ORDER BY id")
            ).all()
        eng.dispose()
        assert [tuple(r) for r in back] == [
            (ids["a"], 40, 2),
            (ids["b"], None, None),
            (ids["c"], None, None),
        ]


def test_a_queued_track_that_credits_nothing_says_why(demo):
    """Old code: the worker said "matched", 0 visits, no reason, where the same file
    uploaded directly was told "no street or alley within 60 m"."""
    import pandas as pd

    from tests.test_tracks_db import _csv as csv_of

    net = walk_network(demo)
    pts, _ = simulate_patrol(net, np.random.default_rng(21), SimParams(length_m=500))
    far = csv_of(pts, lon=pts["lon"] + 0.06)  # 5 km east of every street
    near = csv_of(pts.assign(time=pts["time"] + pd.Timedelta(hours=1)))
    far_id = store_track(demo, far, "far.csv", queue=True).track_id
    store_track(demo, near, "near.csv", queue=True)
    rep = drain_queue(demo)
    assert rep.matched == 2 and list(rep.uncredited) == [far_id]
    assert "no street or alley within" in rep.as_dict()["uncredited"][str(far_id)]


def test_an_upload_drain_stops_once_its_own_tracks_are_matched(demo):
    """An upload's job waits for the uploader's tracks (and those queued before them), not
    for tracks sent after, and its progress counts the uploader's tracks only."""
    drain_queue(demo)  # start from an empty queue
    walks = _walks(demo, 5, seed=21)
    ids = [store_track(demo, w, f"o{i}.csv", queue=True).track_id for i, w in enumerate(walks)]
    older, mine, later = ids[:2], ids[2:3], ids[3:]
    steps: list[tuple[int, int]] = []
    twice = mine + mine  # the same file twice in one upload
    rep = drain_queue(demo, batch=1, progress=lambda d, t: steps.append((d, t)), waiting_for=twice)
    st = _statuses(demo)
    assert [st[i] for i in older + mine] == ["matched"] * 3
    assert [st[i] for i in later] == ["queued", "queued"]
    assert rep.matched == 3
    assert steps == [(0, 1), (0, 1), (1, 1)]  # two older tracks first, then the uploader's
    # already matched: a second wait does nothing
    assert drain_queue(demo, waiting_for=mine).matched == 0
    assert drain_queue(demo).matched == 2
