"""The match queue: deferred uploads are matched in batches by workers that never collide."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.match_queue import drain_queue, queued_count
from geo.track_store import ingest_track, store_track, walk_network
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
        ids = [f["track_id"] for f in body["files"]]
        assert all(_statuses(demo)[i] == "matched" for i in ids)
        queued = {i: _visits(demo, i) for i in ids}
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
    real = match_mod.match_tracks
    # fault injection: the matcher refuses the second track (as it would a track it cannot
    # handle); the database and the other tracks are real
    bad_first_lon = float(walks[1].split(b"\n")[1].split(b",")[0])

    def is_bad(pieces) -> bool:
        return bool(pieces) and abs(float(pieces[0]["lon"].iloc[0]) - bad_first_lon) < 1e-9

    def picky_batch(net, tracks, params=None):
        if any(is_bad(t) for t in tracks):
            raise InputError("matcher refused this track")
        return real(net, tracks, params)

    def picky_one(net, pieces, params=None):
        return picky_batch(net, [pieces], params)[0]

    monkeypatch.setattr(match_mod, "match_track", picky_one)
    monkeypatch.setattr(match_mod, "match_tracks", picky_batch)
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
