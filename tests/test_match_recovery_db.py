"""Recovery of uploads a killed server left unmatched, and the words of a job it interrupted
(outside tester T47 #1, #2). Real PostGIS.

A crash is its state in the database, as in tests/test_tracks_races_db.py: a track an inline
upload stored and never matched is ``stored`` with no match; a live match holds its row
``FOR UPDATE``. "Time passing" is the track's ``uploaded_at`` moved back.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from api.app import create_app
from geo.settings import get_settings
from geo.track_store import store_track
from tests import test_tracks_db
from tests.test_tracks_races_db import _matches, _visit_people, _wait_db_job, _walk

demo = test_tracks_db.demo  # demo communities, OSM streets, steward 1 (王小巷)


def _status(db: Engine, track_id: int) -> str:
    with db.connect() as conn:
        return conn.execute(text("SELECT status FROM tracks WHERE id = :t"), {"t": track_id}).one()[
            0
        ]


def _age(db: Engine, track_id: int, seconds: float) -> None:
    """Track ``track_id`` stored ``seconds`` ago."""
    with db.begin() as conn:
        conn.execute(
            text("UPDATE tracks SET uploaded_at = now() - make_interval(secs => :s) WHERE id = :t"),
            {"s": seconds, "t": track_id},
        )


def _stale() -> float:
    return get_settings().stale_upload_s + 60


def _left_stored(db: Engine, seed: int, name: str, hours: int = 0) -> int:
    """A track as an inline upload killed mid-match leaves it: stored, never matched."""
    return store_track(db, _walk(db, seed, hours=hours), name, person_id=1).track_id


def _until(check: Any, seconds: float = 60) -> bool:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def test_a_running_api_matches_a_track_a_killed_upload_left_stored(demo, monkeypatch):
    """T47 #1: kill -9 of the server mid-upload, restarted at once (systemd): the track was
    stored seconds ago, too fresh for the start-up to take (it may be a live upload of
    another process). Old code: nothing looked again, and it stayed ``stored`` for good.
    Now the running API looks every minute (here 0.2 s) and matches it, once, once it is
    over GRIDWARD_STALE_UPLOAD_S old; a fresh one is still left alone."""
    monkeypatch.setattr("api.background.SWEEP_EVERY_S", 0.2, raising=False)
    killed = _left_stored(demo, 80, "k.csv")
    fresh = _left_stored(demo, 81, "f.csv", hours=2)
    with TestClient(create_app(demo)):
        time.sleep(0.5)  # the start-up and a few looks: too fresh to take
        assert _status(demo, killed) == "stored" and _matches(demo, killed) == 0
        _age(demo, killed, _stale())  # ten minutes pass
        assert _until(lambda: _status(demo, killed) == "matched"), _status(demo, killed)
        time.sleep(0.5)  # more looks: matched once, the fresh one untouched
        assert _matches(demo, killed) == 1 and _visit_people(demo, killed) == [1]
        assert _status(demo, fresh) == "stored" and _matches(demo, fresh) == 0
    with demo.connect() as conn:
        job = conn.execute(
            text("SELECT status, params FROM jobs WHERE params->>'reason' = 'abandoned'")
        ).one()
    assert job.status == "done" and job.params["tracks"] == [killed]


def test_the_sweep_leaves_a_track_being_matched_and_each_track_is_matched_once(demo):
    """A stale ``stored`` track whose row a live process holds (an upload matching it) is not
    taken; two processes sweeping at once queue each track once, and their jobs match it
    once. The floor: later looks read only newer tracks, and still find one stored after."""
    from api.background import sweep_abandoned
    from geo.match_queue import AbandonedSweep

    ids = [_left_stored(demo, 90 + i, f"s{i}.csv", hours=2 * i) for i in range(3)]
    for tid in ids:
        _age(demo, tid, _stale())
    one, two = AbandonedSweep(), AbandonedSweep()
    with demo.begin() as held:  # a live upload matches ids[0]
        held.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": ids[0]})
        assert one.queue(demo) == ids[1:]
        assert two.queue(demo) == []  # queued already: nothing left to take
    assert _status(demo, ids[0]) == "stored"  # released: its process died after all
    jobs = [sweep_abandoned(demo, two), sweep_abandoned(demo, one)]
    assert jobs[0] is not None and jobs[1] is None  # the first look took it
    assert _wait_db_job(demo, jobs[0])["status"] == "done"
    # the job waits for its own track and drains those queued before it too
    assert _until(lambda: all(_status(demo, t) == "matched" for t in ids))
    assert [_matches(demo, t) for t in ids] == [1, 1, 1]

    later = _left_stored(demo, 95, "later.csv", hours=8)
    assert one.floor is not None and one.floor < later
    assert one.queue(demo) == []  # fresh
    _age(demo, later, _stale())
    assert one.queue(demo) == [later]


def test_a_full_look_finds_a_track_set_back_to_stored_below_the_floor(demo):
    """A re-send naming another datum or mode sets an old track back to ``stored``; killed
    then, its id lies under the floor of the quick looks. Every ``full_every``-th look reads
    the whole table and takes it."""
    from geo.match_queue import AbandonedSweep

    old = _left_stored(demo, 100, "old.csv")
    _age(demo, old, _stale())
    sweep = AbandonedSweep(full_every=3)
    assert sweep.queue(demo) == [old]
    with demo.begin() as conn:  # as matched, then set back to stored and left there
        conn.execute(text("UPDATE tracks SET status = 'stored' WHERE id = :t"), {"t": old})
    _left_stored(demo, 101, "new.csv", hours=2)  # fresh, newer: raises nothing
    assert sweep.queue(demo) == [] and sweep.floor is not None and sweep.floor >= old
    assert sweep.queue(demo) == []
    assert sweep.queue(demo) == [old]  # every third look after the first reads everything


def test_tracks_worker_matches_a_track_a_killed_upload_left_stored(demo, pg_url):
    """T47 #1: the report's note sends the admin to ``gridward tracks worker``, which took
    queued tracks only and printed 已匹配 0 条轨迹. Now it takes a stored track over the
    stale age held by no one (saying so on stderr), and leaves a fresh one."""
    from tests.test_import import run_cli

    killed = _left_stored(demo, 110, "w.csv")
    fresh = _left_stored(demo, 111, "w2.csv", hours=2)
    _age(demo, killed, _stale())
    res = run_cli(["tracks", "worker"], pg_url)
    assert res.returncode == 0, res.stderr
    assert "已匹配 1 条轨迹" in res.stdout and "matched 1 tracks" in res.stdout, res.stdout
    assert f"stored but never matched (their upload's process died): queued: {killed}" in (
        res.stderr
    )
    assert _status(demo, killed) == "matched" and _matches(demo, killed) == 1
    assert _visit_people(demo, killed) == [1]
    assert _status(demo, fresh) == "stored"


@pytest.mark.parametrize("kind", ["match_queue", "partition"])
def test_an_interrupted_job_says_so_in_chinese_first(demo, auth_headers, kind):
    """T47 #2: a job the restart interrupted read ``interrupted: …`` in English only in
    ``GET /jobs/{id}``. Now Chinese first, the English after it unchanged."""
    from geo.errors import reads_chinese_first
    from geo.jobs import create_job

    with demo.begin() as conn:
        job_id = create_job(conn, kind, {}, created_by="admin")
    with TestClient(create_app(demo)) as client:  # the start-up marks it failed
        body = client.get(f"/jobs/{job_id}", headers=auth_headers("admin")).json()
    assert body["status"] == "failed", body
    error = body["error"]
    assert reads_chinese_first(error), error
    assert body["message"] == "已失败 failed"  # not its last stage (T61 #7)
    # (T61 #8) not "restarted" alone: a plain stop or another replica's sweep fails it too
    if kind == "match_queue":
        assert error == (
            "已中断：任务完成前服务停止或重启了；其尚未匹配的轨迹仍在排队，会自动匹配（服务启动时，"
            "或稍后由仍在运行的服务进程匹配；要跟踪进度，请再上传同样的文件） interrupted: the "
            "service stopped or restarted before this job was finished; its tracks not yet "
            "matched stay queued and are matched automatically (when the service starts, or "
            "later by an API process still running; send the same files again for a job that "
            "follows them)"
        )
    else:
        assert error == (
            "已中断：任务完成前服务停止或重启了，请重新提交 interrupted: the service stopped or "
            "restarted before this job was finished; submit it again"
        )


def test_a_running_api_drains_tracks_a_killed_replica_left_queued(demo):
    """T61 #4: replica A killed with its deferred uploads' tracks queued; replica B, running,
    failed A's jobs ("matched when the service starts") and never matched the tracks: its
    sweep took ``stored`` ones only, and the queue was drained at start-up alone. Now a look
    that finds nothing abandoned drains the queue when a track queued over the stale age is
    held by no one; fresh ones, ones a worker holds and, while a ``tracks worker`` is
    connected, all of them are left, and each is matched once."""
    from api.background import sweep_abandoned
    from geo.match_queue import AbandonedSweep

    ids = [_left_stored(demo, 110 + i, f"q{i}.csv", hours=2 * i) for i in range(3)]
    with demo.begin() as conn:
        conn.execute(text("UPDATE tracks SET status = 'queued' WHERE id = ANY(:i)"), {"i": ids})
    sweep = AbandonedSweep()
    assert sweep_abandoned(demo, sweep) is None  # just queued: an upload's own job drains them
    _age(demo, ids[0], _stale())
    with demo.begin() as held:  # a worker holds the old one (its batch being matched)
        held.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": ids[0]})
        assert sweep_abandoned(demo, sweep) is None
    # a tracks worker is connected (busy with an older backlog): the tracks are its next
    # batches, this process leaves them to it
    worker = create_engine(
        demo.url, connect_args={"application_name": f"gridward worker [{os.getpid()}]"}
    )
    try:
        with worker.connect() as conn:
            conn.execute(text("SELECT 1"))
            assert sweep_abandoned(demo, sweep) is None
    finally:
        worker.dispose()
    job = sweep_abandoned(demo, sweep)  # no worker, nothing held: its process died after all
    assert job is not None
    assert sweep_abandoned(demo, sweep) is None  # this process drains already: not twice
    assert _wait_db_job(demo, job)["status"] == "done"
    assert _until(lambda: all(_status(demo, t) == "matched" for t in ids))
    assert [_matches(demo, t) for t in ids] == [1, 1, 1]
    with demo.connect() as conn:
        reason = conn.execute(
            text("SELECT params->>'reason' FROM jobs WHERE id = :j"), {"j": job}
        ).scalar()
    assert reason == "left queued"
