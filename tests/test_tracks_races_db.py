"""Uploads racing each other, crashes mid-match and the match queue's jobs (acceptance B).

Races are made deterministic: a match is paused right before its visits are written (the
matcher's ``summarize`` step waits on an event) while the other request runs. A crash is
its state in the database: a track left ``stored`` with no match (a process killed while
matching inline), tracks left ``queued`` with their job failed (killed while draining), or
a row held ``FOR UPDATE`` by another connection (a live worker or upload matching it).
Real PostGIS throughout; a deadlock is injected once, where it cannot be made on purpose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from geo.day_networks import walk_network
from geo.match_queue import drain_queue
from geo.track_store import ingest_track, store_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests import test_tracks_db
from tests.test_tracks_db import _csv, _post, _second_steward, _visits

demo = test_tracks_db.demo  # demo communities, OSM streets, steward 1 (王小巷)


def _walk(db: Engine, seed: int, hours: int = 0, far: bool = False) -> bytes:
    """A simulated walk as CSV; ``hours`` later than the default start, ``far``: 5 km east
    of every street (it matches, crediting nothing)."""
    pts, _ = simulate_patrol(
        walk_network(db), np.random.default_rng(seed), SimParams(length_m=700, noise_m=5)
    )
    pts = pts.assign(time=pts["time"] + np.timedelta64(hours, "h"))
    return _csv(pts, lon=pts["lon"] + 0.06) if far else _csv(pts)


def _one(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as conn:
        return conn.execute(text(sql), params).all()


def _track_id(db: Engine, filename: str) -> int:
    return int(_one(db, "SELECT id FROM tracks WHERE filename = :f", f=filename)[0][0])


def _matches(db: Engine, track_id: int) -> int:
    return int(_one(db, "SELECT count(*) FROM track_matches WHERE track_id = :t", t=track_id)[0][0])


def _wait_job(client: TestClient, url: str, headers: dict, seconds: float = 60) -> dict:
    end = time.monotonic() + seconds
    while True:
        job = client.get(url, headers=headers).json()
        if job["status"] in ("done", "failed") or time.monotonic() > end:
            return job
        time.sleep(0.1)


def _wait_db_job(db: Engine, job_id: str, seconds: float = 60) -> dict:
    from geo.jobs import get_job

    end = time.monotonic() + seconds
    while True:
        with db.connect() as conn:
            job = get_job(conn, job_id)
        if job["status"] in ("done", "failed") or time.monotonic() > end:
            return job
        time.sleep(0.1)


@contextmanager
def _paused_before_visits(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The first match to reach ``summarize`` (after its visit rows are made, before they
    are written) waits there until ``gate["release"]`` is set; ``gate["paused"]`` is set
    when it does. Every other match runs through."""
    import geo.patrol_visits as patrol_visits
    import geo.track_store as ts

    real = patrol_visits.summarize
    gate: dict[str, Any] = {"paused": threading.Event(), "release": threading.Event()}
    first = threading.Lock()

    def summarize(*args: Any, **kwargs: Any) -> Any:
        if first.acquire(blocking=False):
            gate["paused"].set()
            assert gate["release"].wait(60), "the paused match was never released"
        return real(*args, **kwargs)

    monkeypatch.setattr(ts, "summarize", summarize)  # an upload's match looks it up here
    monkeypatch.setattr(patrol_visits, "summarize", summarize)  # the match queue's, here
    try:
        yield gate
    finally:
        gate["release"].set()


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001  (the test reads it)
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _visit_people(db: Engine, track_id: int) -> list[int | None]:
    rows = _one(db, "SELECT DISTINCT person_id FROM patrol_visits WHERE track_id = :t", t=track_id)
    return sorted((r[0] for r in rows), key=lambda p: -1 if p is None else p)


# --- A: a claim while the first upload is matching ----------------------------------------


def test_a_claim_while_the_first_upload_is_matching_credits_the_steward(demo, monkeypatch):
    """The same bytes for nobody, then for steward 1 while the first is still matching.
    Old code: the first match read "nobody" before matching and wrote its visits after the
    claim, so every visit stayed with nobody (reports: 0 patrolled) while the track said 1.
    Now the claim waits for the match's lock and gives the visits its person; a claim made
    before the match starts is read by it; the queue's matches keep the claim too."""
    inline = _walk(demo, 31)
    with _paused_before_visits(monkeypatch) as gate:
        first, first_out = _in_thread(lambda: ingest_track(demo, inline, "w.csv"))
        assert gate["paused"].wait(60)
        claim, claim_out = _in_thread(
            lambda: ingest_track(demo, inline, "w.csv", person_id=1, uploaded_by="steward")
        )
        claim.join(0.5)  # old code: done at once; now: waits for the first match's commit
        gate["release"].set()
        first.join(60)
        claim.join(60)
    assert "error" not in first_out and "error" not in claim_out, (first_out, claim_out)
    tid = first_out["value"]["track_id"]
    assert first_out["value"]["status"] == "matched" and first_out["value"]["match"]["segments"]
    assert claim_out["value"]["person_set"] == 1 and claim_out["value"]["track_id"] == tid
    assert _one(demo, "SELECT person_id FROM tracks WHERE id = :t", t=tid)[0][0] == 1
    assert _visit_people(demo, tid) == [1]
    assert _matches(demo, tid) == 1  # the claim did not match it a second time

    # the other order through the queue: claimed while queued, then matched by a worker
    queued = store_track(demo, _walk(demo, 32, hours=2), "q.csv", queue=True).track_id
    ingest_track(demo, _walk(demo, 32, hours=2), "q.csv", person_id=1, queue=True)
    assert drain_queue(demo).matched == 1
    assert _visit_people(demo, queued) == [1]

    # a claim while a queue worker's batch is matching the track
    later = store_track(demo, _walk(demo, 33, hours=4), "l.csv", queue=True).track_id
    with _paused_before_visits(monkeypatch) as gate:
        worker, worker_out = _in_thread(lambda: drain_queue(demo))
        assert gate["paused"].wait(60)
        claim, claim_out = _in_thread(
            lambda: ingest_track(demo, _walk(demo, 33, hours=4), "l.csv", person_id=1)
        )
        claim.join(0.5)
        gate["release"].set()
        worker.join(60)
        claim.join(60)
    assert worker_out["value"].matched == 1 and claim_out["value"]["person_set"] == 1
    assert _visit_people(demo, later) == [1]


# --- B: tracks left unmatched by a crash ---------------------------------------------------


def test_a_resend_matches_a_track_left_stored_by_a_crash(demo, auth_headers, pg_url, tmp_path):
    """A process killed while matching an upload leaves its track ``stored``, no visits, no
    match. Old code answered a re-send "already stored" and never matched it. Now the
    re-send matches it (inline), queues it with a job (defer=true) or, from the CLI, matches
    it, and says so; a track someone is matching now (its row locked) is not matched twice."""
    from tests.test_import import run_cli

    admin = auth_headers("admin")
    walks = {name: _walk(demo, 40 + i, hours=2 * i) for i, name in enumerate("abcd")}
    ids = {n: store_track(demo, w, f"{n}.csv", person_id=1).track_id for n, w in walks.items()}
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [("a.csv", walks["a"])], person_id=1)
        assert r.status_code == 200, r.text
        item = r.json()["files"][0]
        assert item["created"] is False and item["status"] == "matched", item
        assert item["resumed"].endswith("matched now") and item["match"]["segments"] > 0
        assert _visits(demo, ids["a"]) and _visit_people(demo, ids["a"]) == [1]
        again = _post(client, admin, [("a.csv", walks["a"])]).json()["files"][0]
        # matched: not again, its status said as every entry's (T40 #10)
        assert "resumed" not in again and again["status"] == "matched"
        assert _matches(demo, ids["a"]) == 1

        r = _post(client, admin, [("b.csv", walks["b"])], defer="true")
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["files"][0]["status"] == "queued" and body["files"][0]["resumed"]
        job = _wait_job(client, body["job_url"], admin)
        assert job["status"] == "done", job
        assert job["result"]["tracks"][0]["status"] == "matched"
        assert _visits(demo, ids["b"])

        # another upload is matching c right now: a re-send leaves it to it
        with demo.begin() as held:
            held.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": ids["c"]})
            busy = _post(client, admin, [("c.csv", walks["c"])]).json()["files"][0]
            assert busy["status"] == "matching" and "being matched" in busy["note"], busy
        assert _matches(demo, ids["c"]) == 0

    path = tmp_path / "d.csv"
    path.write_bytes(walks["d"])
    res = run_cli(["tracks", "upload", str(path)], pg_url)
    assert res.returncode == 0, res.stderr
    assert "(already stored, never matched before), matched" in res.stdout, res.stdout
    assert _visits(demo, ids["d"])


def test_a_resend_between_an_uploads_insert_and_its_match_matches_the_track_once(demo, monkeypatch):
    """The same file sent again in the moment between a first upload's insert and its match
    found the track ``stored`` and unlocked, and matched it (a resume); the first upload then
    matched it again: a second, identical row in ``track_matches``. Now the first upload finds
    it matched and answers that match."""
    import geo.track_store as ts

    walk = _walk(demo, 61, hours=5)
    first_match = ts.match_stored_track
    resent: list[dict[str, Any]] = []

    def resend_first(*args: Any, **kwargs: Any) -> dict[str, Any]:
        resent.append(ingest_track(demo, walk, "twice.csv", person_id=1))
        return first_match(*args, **kwargs)

    monkeypatch.setattr(ts, "match_stored_track", resend_first)
    item = ingest_track(demo, walk, "twice.csv", person_id=1)
    tid = item["track_id"]
    assert resent[0]["resumed"].endswith("matched now"), resent
    assert item["created"] is True and item["status"] == "matched", item
    assert _matches(demo, tid) == 1
    assert item["match"]["segments"] == resent[0]["match"]["segments"] > 0, item
    assert item["match"]["note"] == ts.MATCHED_MEANWHILE
    assert _visit_people(demo, tid) == [1]


def test_a_deferred_resend_of_a_track_left_queued_gets_a_job_that_matches_it(demo, auth_headers):
    """Killed while draining a deferred upload: its job failed ("interrupted"), its tracks
    stay queued. Old code answered a re-send 200 "already stored" with no job, and nothing
    matched the tracks. Now the re-send gets a job (202, job_url) that ends once they are."""
    from geo.jobs import create_job, get_job, recover_stale_jobs

    admin = auth_headers("admin")
    walks = [_walk(demo, 50 + i, hours=2 * i) for i in range(2)]
    # the crash state is made after the app started (a start-up drain would match them)
    with TestClient(create_app(demo)) as client:
        ids = [store_track(demo, w, f"r{i}.csv", queue=True).track_id for i, w in enumerate(walks)]
        with demo.begin() as conn:
            dead = create_job(conn, "match_queue", {}, created_by="admin")
        assert recover_stale_jobs(demo) == 1
        files = [(f"r{i}.csv", w) for i, w in enumerate(walks)]
        r = _post(client, admin, files, defer="true")
        assert r.status_code == 202, r.text
        body = r.json()
        assert [f["status"] for f in body["files"]] == ["queued", "queued"], body
        assert body["job_url"] == f"/jobs/{body['job_id']}"
        job = _wait_job(client, body["job_url"], admin)
    assert job["status"] == "done" and job["progress"] == 1.0, job
    assert [t["status"] for t in job["result"]["tracks"]] == ["matched", "matched"]
    assert all(_visits(demo, i) for i in ids)
    with demo.connect() as conn:  # the dead job does not read as if the walks were lost
        assert "stay queued" in get_job(conn, dead)["error"]


def test_a_deferred_resend_of_a_track_a_worker_holds_says_it_is_being_matched(demo, auth_headers):
    """T61 #9: a file sent again with defer=true while a ``tracks worker`` held its queued
    track was answered ``queued`` with a job, as if it waited. Now it is ``matching`` with
    the note, as the inline re-send says, and gets no job; once the worker lets go, a
    re-send is ``queued`` with a job again."""
    admin = auth_headers("admin")
    walk = _walk(demo, 71, hours=3)
    with TestClient(create_app(demo)) as client:
        tid = store_track(demo, walk, "held.csv", queue=True).track_id
        with demo.begin() as held:  # the worker's claim on the track
            held.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": tid})
            r = _post(client, admin, [("held.csv", walk)], defer="true")
            assert r.status_code == 200, r.text
            body = r.json()
            item = body["files"][0]
            assert item["status"] == "matching" and "being matched" in item["note"], item
            assert "job_id" not in body and "resumed" not in item, body
        assert _one(demo, "SELECT status FROM tracks WHERE id = :t", t=tid)[0][0] == "queued"
        r = _post(client, admin, [("held.csv", walk)], defer="true")
        assert r.status_code == 202, r.text
        assert r.json()["files"][0]["status"] == "queued", r.text
        job = _wait_job(client, r.json()["job_url"], admin)
    assert job["status"] == "done", job
    assert _matches(demo, tid) == 1


def test_the_api_start_drains_tracks_left_queued_each_track_once(demo, monkeypatch):
    """At start-up, queued tracks that no one holds are drained by a job. Two API processes
    starting at once may both start one: the queue's SKIP LOCKED still matches each track
    once. Nothing queued, or every queued track held by a running worker: no job."""
    import api.background as background
    from api.background import resume_match_queue

    # both processes look before either job runs, as two starting at once do: run the jobs
    # only once both have been started (the first job's drain could otherwise claim every
    # track before the second start looks, a race of the test, not of the code)
    started: list[tuple] = []
    real_run_job = background.run_job
    monkeypatch.setattr(background, "run_job", lambda *a: started.append(a))

    assert resume_match_queue(demo) is None  # an empty queue
    walks = [_walk(demo, 60 + i, hours=2 * i) for i in range(4)]
    ids = [store_track(demo, w, f"s{i}.csv", queue=True).track_id for i, w in enumerate(walks)]
    with demo.begin() as held:  # a worker holds them all: nothing for a new job to do
        held.execute(text("SELECT 1 FROM tracks WHERE status = 'queued' FOR UPDATE"))
        assert resume_match_queue(demo) is None
    jobs = [resume_match_queue(demo), resume_match_queue(demo)]
    assert all(jobs) and jobs[0] != jobs[1]
    for args in started:
        real_run_job(*args)
    finished = [_wait_db_job(demo, j) for j in jobs]
    assert [j["status"] for j in finished] == ["done", "done"], finished
    assert sum(j["result"]["matched"] for j in finished) == 4
    assert [_matches(demo, i) for i in ids] == [1, 1, 1, 1]
    assert all(_visits(demo, i) for i in ids)
    monkeypatch.setattr(background, "run_job", real_run_job)
    assert resume_match_queue(demo) is None


def test_the_api_start_matches_a_track_an_upload_left_stored_long_ago(demo):
    """An inline upload killed mid-match leaves its track ``stored`` (no visits). At start-up
    one stored over GRIDWARD_STALE_UPLOAD_S ago and held by no one is queued and matched; a
    fresh one (an upload between its insert and its match) is left alone."""
    from api.background import resume_match_queue
    from geo.settings import get_settings

    old, fresh = (
        store_track(demo, _walk(demo, 70 + i, hours=2 * i), f"o{i}.csv", person_id=1).track_id
        for i in range(2)
    )
    with demo.begin() as conn:
        conn.execute(
            text("UPDATE tracks SET uploaded_at = now() - make_interval(secs => :s) WHERE id = :t"),
            {"s": get_settings().stale_upload_s + 60, "t": old},
        )
    job = resume_match_queue(demo)
    assert job is not None and _wait_db_job(demo, job)["status"] == "done"
    assert _matches(demo, old) == 1 and _visit_people(demo, old) == [1]
    assert _matches(demo, fresh) == 0
    with demo.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM tracks WHERE id = :t"), {"t": fresh}).scalar()
            == "stored"
        )


# --- C: a job that ends before its tracks are matched -------------------------------------


def test_an_upload_job_waits_for_its_tracks_while_a_worker_holds_them(demo, monkeypatch, request):
    """A CLI worker has the upload's track claimed (locked) when the upload's job starts.
    Old code: the job's drain claimed nothing and the job ended "done", its track still
    queued. Now it waits and ends done once the worker has matched the track; if the worker
    holds it past the wait, the job fails saying so (never "done" with the track queued)."""
    from api.routes.tracks import _start_drain
    from geo.settings import get_settings

    tid = store_track(demo, _walk(demo, 70), "c.csv", queue=True).track_id
    with _paused_before_visits(monkeypatch) as gate:
        worker, worker_out = _in_thread(lambda: drain_queue(demo, batch=1))
        assert gate["paused"].wait(60)
        job_id = _start_drain(demo, "admin", [tid])
        time.sleep(1.0)
        early = _wait_db_job(demo, job_id, seconds=0)
        assert early["status"] not in ("done", "failed"), early
        gate["release"].set()
        worker.join(60)
    assert worker_out["value"].matched == 1
    job = _wait_db_job(demo, job_id)
    assert job["status"] == "done" and job["progress"] == 1.0, job
    segments = len(_visits(demo, tid))
    label = "已匹配 matched"  # (T40 #14)
    assert job["result"]["tracks"] == [
        {
            "track_id": tid,
            "status": "matched",
            "status_label": label,
            "segments": segments,
            "error": None,
        }
    ]
    assert job["result"]["matched"] == 0  # the worker matched it, not this job

    # a worker that holds the track past the wait: the job fails and says why
    monkeypatch.setenv("GRIDWARD_MATCH_WAIT_S", "0.5")
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    stuck = store_track(demo, _walk(demo, 71, hours=3), "s.csv", queue=True).track_id
    with demo.begin() as held:
        held.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": stuck})
        job = _wait_db_job(demo, _start_drain(demo, "admin", [stuck]))
    assert job["status"] == "failed" and f"tracks {stuck} are still being matched" in job["error"]


# --- D: what a steward may see of others' tracks -------------------------------------------


def test_a_stewards_job_and_conflicts_name_no_other_persons_tracks(demo, auth_headers):
    """Steward 1's deferred upload drains steward 2's track queued before it. Old code: the
    job's result gave that track's id and why it credits nothing, and a steward sending the
    other's file got a 409 naming that track and person. Now the job shows the uploader's
    tracks only, and the 409 says only that another person uploaded the file (an admin
    still gets the ids)."""
    _second_steward(demo)
    admin = auth_headers("admin")
    one = auth_headers("steward", person_id=1)
    two = auth_headers("steward", person_id=2)
    theirs = _walk(demo, 80, far=True)  # credits nothing: the drain gives a reason for it
    mine_far = _walk(demo, 81, hours=3, far=True)
    with TestClient(create_app(demo)) as client:  # queued after start-up: this job drains it
        other = store_track(demo, theirs, "theirs.csv", person_id=2, queue=True).track_id
        r = _post(client, one, [("mine.csv", mine_far)], defer="true")
        assert r.status_code == 202, r.text
        mine = r.json()["files"][0]["track_id"]
        job = _wait_job(client, r.json()["job_url"], one)
        assert job["status"] == "done", job
        assert list(job["result"]["uncredited"]) == [str(mine)], job["result"]
        # its totals are the uploader's track's: the other one is only counted
        assert (job["result"]["matched"], job["result"]["others_matched"]) == (1, 1), job
        fixes = _one(demo, "SELECT n_points FROM tracks WHERE id = :t", t=mine)[0][0]
        assert 0 < job["result"]["points"] <= fixes, (job["result"], fixes)
        assert str(other) not in str(job["result"]["uncredited"])
        assert [t["track_id"] for t in job["result"]["tracks"]] == [mine]

        refused = _post(client, one, [("theirs.csv", theirs)])
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert "another person" in error, error
        assert str(other) not in error and "person 2" not in error, error
        both = _post(client, one, [("x.csv", _walk(demo, 82, hours=6)), ("t.csv", theirs)])
        assert both.status_code == 201, both.text
        assert both.json()["files"][1] == {
            "filename": "t.csv",
            "error": "此文件已由他人上传（同一文件只算一条轨迹）；如是您本人的巡查，"
            "请联系规划员改归属给您（由规划员发送同一文件可看到是哪条轨迹） another person "
            "uploaded this file already (the same bytes are one track): if it is yours, ask a "
            "planner to reassign it to you (the same file sent by them names the track)",
            "status": 409,
            "code": "file_of_another",
        }
        told = _post(client, admin, [("theirs.csv", theirs)], person_id=1)
        assert told.status_code == 409 and f"track {other}" in told.json()["error"]
        assert "person 2" in told.json()["error"]
        # the Chinese names both people, not bare ids (T37, F11)
        with demo.connect() as conn:
            names = dict(conn.execute(text("SELECT id, name FROM people WHERE id IN (1, 2)")).all())
        said = told.json()["error"]
        assert (
            said.startswith(f"theirs.csv: 此文件已存为{names[2]}（") and "id:2）的轨迹" in said
        ), said
        assert f"如确属{names[1]}（" in said, said
        assert _post(client, two, [("theirs.csv", theirs)]).status_code == 200


# --- E, F: one bad file in a multi-file upload ---------------------------------------------


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart body with the file names as given (httpx would %-escape a NUL)."""
    boundary = "gridwardtestboundary"
    out = b""
    for name, data in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}\r\n".encode()
    out += b'Content-Disposition: form-data; name="person_id"\r\n\r\n1\r\n'
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_control_character_in_a_file_name_is_cleaned_not_a_500(demo, auth_headers):
    """A NUL (or a line break) in a multipart file name: old code answered 500, the
    request's first file stored anyway. The name is only a label: it is stored with each
    control character as "_" and the walk is taken like any other."""
    admin = auth_headers("admin")
    body, ctype = _multipart(
        [
            ("good.csv", _walk(demo, 90)),
            ("b\x00ad.csv", _walk(demo, 91, hours=2)),
            ("two\nlines\t.csv", _walk(demo, 92, hours=4)),
        ]
    )
    with TestClient(create_app(demo)) as client:
        r = client.post("/tracks", content=body, headers={**admin, "content-type": ctype})
    assert r.status_code == 201, r.text
    files = r.json()["files"]
    assert [f["filename"] for f in files] == ["good.csv", "b_ad.csv", "two_lines_.csv"]
    assert [f["status"] for f in files] == ["matched"] * 3, files
    names = {n for (n,) in _one(demo, "SELECT filename FROM tracks")}
    assert names == {"good.csv", "b_ad.csv", "two_lines_.csv"}


def test_one_files_database_error_is_its_own_and_an_empty_file_has_a_status(
    demo, auth_headers, monkeypatch
):
    """A deadlock on the second of three files (injected: a real one cannot be made on
    purpose). Old code: 503 for the whole request, though the first file was stored and
    the third never tried. Now that file gets a 503 of its own and the others their
    results. An empty file's error carries its status (422) as every per-file error does."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    import geo.track_store as ts

    admin = auth_headers("admin")
    walks = [_walk(demo, 100 + i, hours=2 * i) for i in range(3)]
    real = ts._insert_track

    def deadlocks_on_the_second(conn: Any, row: dict, pts: Any) -> Any:
        if row["fn"] == "w1.csv":
            raise OperationalError("INSERT", {}, psycopg.errors.DeadlockDetected("deadlock"))
        return real(conn, row, pts)

    monkeypatch.setattr(ts, "_insert_track", deadlocks_on_the_second)
    with TestClient(create_app(demo)) as client:
        r = _post(client, admin, [(f"w{i}.csv", w) for i, w in enumerate(walks)], person_id=1)
        assert r.status_code == 201, r.text
        files = r.json()["files"]
        assert [f.get("status") for f in files] == ["matched", 503, "matched"], files
        assert "send this file again" in files[1]["error"]
        monkeypatch.setattr(ts, "_insert_track", real)
        r = _post(client, admin, [("w1.csv", walks[1]), ("empty.csv", b"")], person_id=1)
        assert r.status_code == 201, r.text
        empty = r.json()["files"][1]
        assert empty == {
            "filename": "empty.csv",
            "error": "上传的文件是空的 the uploaded file is empty",
            "status": 422,
            "code": "invalid_input",
        }
        r = _post(client, admin, [("e1.csv", b""), ("e2.csv", b"")])
        assert r.status_code == 422, r.text
        assert [f["status"] for f in r.json()["files"]] == [422, 422]
    assert _track_id(demo, "w1.csv")


# --- G: a withdrawal while an upload's writer waits for the track's row -------------------


def _withdrawn_while_waiting(
    db: Engine, monkeypatch: pytest.MonkeyPatch, track_id: int, send: Callable[[], Any]
) -> Any:
    """``send()`` (an upload of the track's walk) run while a withdrawal of ``track_id``
    holds the track's row: the withdrawal pauses once it has it (before it deletes the credit)
    until the upload waits for that row (after its status check), then commits. The upload's
    outcome (its value, or the exception it raised)."""
    import geo.track_withdraw as tw

    real = tw._credit
    gate: dict[str, Any] = {"held": threading.Event(), "release": threading.Event()}

    def credit(conn: Any, tid: int) -> dict[str, Any]:
        gate["pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        gate["held"].set()
        assert gate["release"].wait(60), "the withdrawal was never released"
        return real(conn, tid)

    monkeypatch.setattr(tw, "_credit", credit)
    withdrawal, withdrawn = _in_thread(lambda: tw.withdraw_track(db, track_id, actor="test"))
    try:
        assert gate["held"].wait(60)
        upload, sent = _in_thread(send)
        waits = "SELECT count(*) FROM pg_stat_activity WHERE :w = ANY(pg_blocking_pids(pid))"
        end = time.monotonic() + 60
        while not _one(db, waits, w=gate["pid"])[0][0]:
            assert upload.is_alive(), sent  # old code or new: it reaches the row's lock
            assert time.monotonic() < end, "the upload never waited for the track's row"
            time.sleep(0.05)
    finally:
        gate["release"].set()
    withdrawal.join(60)
    upload.join(60)
    assert "error" not in withdrawn, withdrawn
    return sent.get("value", sent.get("error"))


@pytest.mark.parametrize("writer", ["claim", "mode", "datum", "times"])
def test_a_withdrawal_while_an_uploads_writer_waits_is_a_409_and_stands(
    demo, auth_headers, monkeypatch, writer
):
    """Each writer an upload of a stored walk runs (a claim for a person, another mode,
    another datum, its times put right) waited for the track's row while a withdrawal held
    it, having read the status before. Old code: it then wrote over the withdrawal (the
    walk claimed, or stored and matched again: its credit back). Now each refuses once it
    has the row: 409 已撤回, the track as the withdrawal left it."""
    from geo.crs import wgs84_to_gcj02
    from tests.test_tracks_db import _zoneless_gpx

    sp = SimParams(length_m=500, noise_m=5, start="2026-03-02T01:00:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(110), sp)
    amap = _csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    earlier = _csv(pts.assign(time=pts["time"] - np.timedelta64(8, "h")))
    first, person, again, fields = {  # the first upload and its person, the re-send
        "claim": (_csv(pts), None, _csv(pts), {"person_id": 1}),
        "mode": (_csv(pts), 1, _csv(pts), {"person_id": 1, "mode": "bike"}),
        "datum": (amap, 1, amap, {"person_id": 1, "crs": "gcj02"}),
        "times": (_zoneless_gpx(pts), 1, earlier, {"person_id": 1}),  # read as UTC: -8 h
    }[writer]
    name = f"{writer}.{'gpx' if first.startswith(b'<') else 'csv'}"
    tid = ingest_track(demo, first, name, person_id=person)["track_id"]
    columns = "person_id, mode, crs, started_at, status, withdrawn_by"
    [before] = _one(demo, f"SELECT {columns} FROM tracks WHERE id = :t", t=tid)
    with TestClient(create_app(demo)) as client:
        r = _withdrawn_while_waiting(
            demo,
            monkeypatch,
            tid,
            lambda: _post(client, auth_headers("admin"), [("again.csv", again)], **fields),
        )
    assert r.status_code == 409, r.text
    error = r.json()["files"][0]["error"]
    assert error.startswith(f"轨迹 {tid} 已撤回") and "restore" in error, error
    [after] = _one(demo, f"SELECT {columns} FROM tracks WHERE id = :t", t=tid)
    assert after[:4] == before[:4] and after[4:] == ("withdrawn", "test"), (before, after)
    assert not _visits(demo, tid)
