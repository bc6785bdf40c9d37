"""Withdrawing a track uploaded by mistake (撤回轨迹), through the API and the CLI, on real
PostGIS with simulated walks: its credit leaves the daily report, the audit log keeps who
withdrew which file and why, and the same file sent again does not bring it back."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo import audit
from geo.errors import ConflictError
from geo.patrol_reports import build_report
from geo.track_store import ingest_track
from tests.dbcheck import fingerprint
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_tracks_db import _csv, _post, _second_steward, _walk_with_duty, demo  # noqa: F401

COMMUNITY = "110108015001"  # 清华园西北社区 (fixtures/communities.geojson): steward 1's home


def _walked_m(db, day: str, person_id: int = 1) -> float:
    """Metres the daily report credits ``person_id`` with on ``day`` (0 without a row)."""
    people = build_report(db, "daily", dt.date.fromisoformat(day))["people"]
    rows = people[people["person_id"] == person_id]
    return float(rows["walked_m"].sum()) if len(rows) else 0.0


def _counts(db, track_id: int) -> dict[str, int]:
    """What the store keeps for a track: visits, fixes, queue row."""
    with db.connect() as conn:
        return {
            "visits": conn.execute(
                text("SELECT count(*) FROM patrol_visits WHERE track_id = :t"), {"t": track_id}
            ).scalar_one(),
            "fixes": conn.execute(
                text("SELECT count(*) FROM track_points WHERE track_id = :t"), {"t": track_id}
            ).scalar_one(),
            "queued": conn.execute(
                text("SELECT count(*) FROM tracks WHERE id = :t AND status = 'queued'"),
                {"t": track_id},
            ).scalar_one(),
        }


def _audit(db, action: str, track_id: int) -> list[tuple]:
    """(actor, detail) of the track's audit entries of ``action``, oldest first."""
    with db.connect() as conn:
        rows = audit.entries(conn, "track", track_id)
    return [(e["actor"], e["detail"]) for e in rows if e["action"] == action]


def _home(db, person_id: int, code: str) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE people SET area_id = (SELECT id FROM areas WHERE code = :c) WHERE id = :p"
            ),
            {"c": code, "p": person_id},
        )


def test_a_steward_withdraws_their_walk_and_its_credit_leaves_the_report(demo, auth_headers):  # noqa: F811
    pts, day = _walk_with_duty(demo, 26)
    data = _csv(pts)
    _second_steward(demo)
    steward = auth_headers("steward", person_id=1)
    with TestClient(create_app(demo)) as client:
        r = _post(client, steward, [("mistake.csv", data)])
        assert r.status_code == 201, r.text
        tid = r.json()["files"][0]["track_id"]
        before = _walked_m(demo, day)
        kept = _counts(demo, tid)
        assert before > 0 and kept["visits"] > 0 and kept["fixes"] == len(pts)

        # who may not: 404 for no such track, 403 for a viewer, another steward, a planner
        # of elsewhere; nothing changes
        others = [
            auth_headers("viewer"),
            auth_headers("steward", person_id=2),
            auth_headers("planner", ("120101",)),
        ]
        untouched = fingerprint(demo)
        r = client.delete("/tracks/999999", headers=steward)
        assert r.status_code == 404 and "does not exist" in r.json()["error"], r.text
        for who in others:
            r = client.delete(f"/tracks/{tid}", headers=who)
            assert r.status_code == 403 and r.json()["status"] == 403, r.text
        assert fingerprint(demo) == untouched

        r = client.delete(f"/tracks/{tid}", params={"reason": "测试 a test walk"}, headers=steward)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] == "withdrawn" and out["days"] == [day]
        assert out["visits"] == kept["visits"] and out["walked_m"] > 0
        assert out["fixes"] == out["fixes_deleted"] == len(pts) and not out["dequeued"]

        # the credit is gone from the report, the visits and fixes from the store
        assert _walked_m(demo, day) == 0.0
        assert _counts(demo, tid) == {"visits": 0, "fixes": 0, "queued": 0}
        # the track reads back as withdrawn (its line from the kept file) and leaves the list
        page = client.get(f"/tracks/{tid}", headers=steward).json()
        assert page["status"] == "withdrawn" and page["visits"] == []
        assert page["withdrawn"]["reason"] == "测试 a test walk"
        assert len(page["geometry"]["coordinates"]) == len(pts)
        assert client.get("/tracks", headers=steward).json()["total"] == 0
        listed = client.get("/tracks", params={"status": "withdrawn"}, headers=steward).json()
        assert [t["id"] for t in listed["tracks"]] == [tid]
        # its undone match is no summary any more (it showed the last match's fixes), in
        # the list and on its page; the page's history keeps that match
        [entry] = listed["tracks"]
        assert (entry["matched_points"], entry["pieces"], entry["segments"]) == (None, None, 0)
        assert (page["matched_points"], page["pieces"]) == (None, None)
        assert page["matches"][0]["matched_points"] > 0
        assert entry["late"] is True and page["late"] is True  # walked in March, sent now

        # the audit log: who, which track and file, whose walk on which day, why
        [(actor, detail)] = _audit(demo, "track.withdraw", tid)
        assert actor == page["withdrawn"]["by"] and actor.startswith("steward_")
        assert detail["sha256"] == hashlib.sha256(data).hexdigest()
        assert (detail["person_id"], detail["person"], detail["days"]) == (1, "S1", [day])
        assert detail["reason"] == "测试 a test walk" and detail["visits"] == kept["visits"]

        # again: 409, it is withdrawn already
        r = client.delete(f"/tracks/{tid}", headers=steward)
        assert r.status_code == 409 and "已撤回" in r.json()["error"], r.text
        assert r.json()["code"] == "conflict"

        # the same file again (a retry, a folder sent again) does not bring it back
        before_resend = fingerprint(demo)
        r = _post(client, steward, [("mistake.csv", data)])
        assert r.status_code == 409, r.text
        assert "已撤回" in r.json()["error"] and "restore" in r.json()["error"]
        # a program tells this refusal by its code, in the answer and the file's entry (T67 #7)
        assert r.json()["code"] == "track_withdrawn"
        assert [f["code"] for f in r.json()["files"]] == ["track_withdrawn"]
        assert fingerprint(demo) == before_resend and _walked_m(demo, day) == 0.0

        # nor does another file of its fixes: re-exported (CRLF line ends), or moved to
        # another day (an outside tester re-dated a withdrawn walk and was credited); the
        # walk's own steward is told how to restore it, another one whom to ask
        shifted = pts.assign(time=pts["time"] + pd.Timedelta(days=1))
        for body in (data.replace(b"\n", b"\r\n"), _csv(shifted)):
            r = _post(client, steward, [("again.csv", body)])
            assert r.status_code == 409, r.text
            assert "已撤回" in r.json()["error"] and f"restore {tid}" in r.json()["error"]
        r = _post(client, others[1], [("mine.csv", data)])
        assert r.status_code == 409 and "ask a planner" in r.json()["error"], r.text
        assert fingerprint(demo) == before_resend and _walked_m(demo, day) == 0.0

        # it comes back by a restore, matched in the same request
        r = client.post(f"/tracks/{tid}/restore", headers=steward)
        assert r.status_code == 200 and r.json()["status"] == "matched", r.text
        assert _walked_m(demo, day) == pytest.approx(before, abs=0.5)
        # with its fixes written back (they stayed deleted, read from the file each time):
        # withdrawn again, it has them to delete
        assert _counts(demo, tid) == {**kept, "queued": 0}
        r = client.delete(f"/tracks/{tid}", headers=steward)
        assert r.status_code == 200 and r.json()["fixes_deleted"] == len(pts), r.text


def test_two_restores_at_once_leave_the_track_matched(demo):  # noqa: F811
    """A double click on restore: one restores and matches, the other is a 409; an outside
    tester's pair left the track restored but never matched, its credit gone (6 of 6)."""
    import threading
    import time

    from geo.track_withdraw import restore_track, withdraw_track

    pts, day = _walk_with_duty(demo, 34)
    tid = ingest_track(demo, _csv(pts), "twice.csv", person_id=1)["track_id"]
    before = _walked_m(demo, day)
    for _ in range(3):
        withdraw_track(demo, tid, actor="test")
        results: list[object] = []
        start = threading.Barrier(2)

        def restore(start: threading.Barrier = start, results: list = results) -> None:
            start.wait()
            try:  # a permission check as slow as a real one, while the row is held
                out = restore_track(demo, tid, actor="test", authorize=lambda _: time.sleep(0.3))
                results.append(out["status"])
            except ConflictError as exc:
                results.append(exc.message)

        threads = [threading.Thread(target=restore) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("matched") == 1, results
        assert _walked_m(demo, day) == pytest.approx(before, abs=0.5), results


def test_a_reason_with_a_control_character_or_an_unknown_field_is_a_422(demo, auth_headers):  # noqa: F811
    pts, _ = _walk_with_duty(demo, 35)
    tid = ingest_track(demo, _csv(pts), "nul.csv", person_id=1)["track_id"]
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        untouched = fingerprint(demo)
        for body in ({"reason": "a\u0000b"}, {"reason": "x", "force": True}):
            r = client.request("DELETE", f"/tracks/{tid}", json=body, headers=admin)
            assert r.status_code == 422 and r.json()["status"] == 422, r.text
        assert fingerprint(demo) == untouched


def test_planners_withdraw_in_their_areas_and_their_own_uploads(demo, auth_headers):  # noqa: F811
    pts, day = _walk_with_duty(demo, 28)
    _home(demo, 1, COMMUNITY)
    admin = auth_headers("admin")
    inside = auth_headers("planner", ("110108015",))
    outside = auth_headers("planner", ("120101",))
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("a.csv", _csv(pts))], person_id=1).json()["files"][0]
        tid = tid["track_id"]
        r = client.request(
            "DELETE", f"/tracks/{tid}", json={"reason": "body"}, params={"reason": "query"},
            headers=inside,
        )  # fmt: skip
        assert r.status_code == 422 and "once" in r.json()["error"], r.text
        assert client.delete(f"/tracks/{tid}", headers=outside).status_code == 403
        r = client.request(
            "DELETE", f"/tracks/{tid}", json={"reason": "别人的 walk"}, headers=inside
        )
        assert r.status_code == 200 and r.json()["reason"] == "别人的 walk", r.text
        assert _walked_m(demo, day) == 0.0

        # restored by mistake-undo: a steward may not undo a planner's withdrawal
        steward = auth_headers("steward", person_id=1)
        r = client.post(f"/tracks/{tid}/restore", headers=steward)
        assert r.status_code == 403 and "withdrew themselves" in r.json()["error"], r.text
        r = client.post(
            f"/tracks/{tid}/restore", json={"reason": "误撤 by mistake"}, headers=inside
        )
        assert r.status_code == 200 and r.json()["status"] == "matched", r.text
        assert _walked_m(demo, day) > 0
        [(_, detail)] = _audit(demo, "track.restore", tid)
        assert detail["reason"] == "误撤 by mistake" and detail["withdraw_reason"] == "别人的 walk"

        # a planner's own upload (for nobody: since T50 #3 a planner uploads only for people
        # of their areas): theirs to take back
        other, _ = _walk_with_duty(demo, 29)
        mine = _post(client, outside, [("o.csv", _csv(other))]).json()["files"][0]
        assert client.delete(f"/tracks/{mine['track_id']}", headers=outside).status_code == 200


def test_cli_withdraws_and_restores_with_readable_errors(demo, pg_url, run_inproc, monkeypatch):  # noqa: F811
    from geo.settings import get_settings

    pts, day = _walk_with_duty(demo, 30)
    item = ingest_track(demo, _csv(pts), "cli.csv", person_id=1, uploaded_by="officer")
    tid = item["track_id"]
    before = _walked_m(demo, day)
    assert before > 0
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("tracks", "delete", str(tid), "--reason", "wrong file")
        assert res.returncode == 0, res.stderr
        assert f"track {tid} withdrawn" in res.stdout and day in res.stdout
        assert _walked_m(demo, day) == 0.0 and _counts(demo, tid)["visits"] == 0
        [(actor, detail)] = _audit(demo, "track.withdraw", tid)
        # the shell user is named (T38 M4)
        assert actor == audit.shell_actor() and detail["reason"] == "wrong file"

        for args, words in (
            (["tracks", "delete", str(tid)], "已撤回（"),
            (["tracks", "delete", "999999"], "does not exist"),
            (["tracks", "delete", "12a"], "not a track id"),
            (["tracks", "delete", "0"], "not a track id"),
        ):
            res = run_inproc(*args)
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1, (args, res.stdout, res.stderr)
            assert lines[0].startswith("error: ") and words in lines[0], lines[0]

        res = run_inproc("tracks", "restore", str(tid))
        assert res.returncode == 0 and "restored: matched" in res.stdout, res.stderr
        assert _walked_m(demo, day) == pytest.approx(before, abs=0.5)
        res = run_inproc("tracks", "restore", str(tid))
        assert res.returncode == 2 and "not withdrawn" in res.stderr
    finally:
        get_settings.cache_clear()


def test_a_queued_track_leaves_the_queue_and_one_being_matched_is_a_409(demo):  # noqa: F811
    from geo.match_queue import drain_queue, requeue_tracks
    from geo.track_withdraw import withdraw_track

    pts, day = _walk_with_duty(demo, 31)
    queued = ingest_track(demo, _csv(pts), "q.csv", person_id=1, queue=True)
    assert _counts(demo, queued["track_id"])["queued"] == 1
    out = withdraw_track(demo, queued["track_id"], actor="test")
    assert out["dequeued"] and out["visits"] == 0
    assert drain_queue(demo).matched == 0  # nothing left to match
    assert _walked_m(demo, day) == 0.0
    # re-matching: by id refused (it would be credited again), by day passed by
    with pytest.raises(ConflictError, match="withdrawn"):
        requeue_tracks(demo, [queued["track_id"]])
    assert requeue_tracks(demo, since=dt.date.fromisoformat(day)) == (0, 0)

    other, _ = _walk_with_duty(demo, 32)
    busy = ingest_track(demo, _csv(other), "b.csv", person_id=1)["track_id"]
    credit = _counts(demo, busy)
    with demo.connect() as holder, holder.begin():  # as a match holds its track
        holder.execute(text("SELECT 1 FROM tracks WHERE id = :t FOR UPDATE"), {"t": busy})
        with pytest.raises(ConflictError, match="being matched"):
            withdraw_track(demo, busy, actor="test")
    assert _counts(demo, busy) == credit  # nothing half-deleted
    assert withdraw_track(demo, busy, actor="test")["visits"] == credit["visits"]


def test_a_failure_mid_withdrawal_leaves_everything_as_it_was(demo, monkeypatch):  # noqa: F811
    import geo.track_withdraw as tw

    pts, day = _walk_with_duty(demo, 33)
    tid = ingest_track(demo, _csv(pts), "f.csv", person_id=1)["track_id"]
    before = fingerprint(demo)
    credit = _walked_m(demo, day)

    def broken(*_a, **_k):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(tw.audit, "record", broken)
    with pytest.raises(RuntimeError):
        tw.withdraw_track(demo, tid, actor="test")
    assert fingerprint(demo) == before and _walked_m(demo, day) == credit


def test_a_track_restored_after_retention_is_matched_from_its_file(demo):  # noqa: F811
    """Restoring writes the fixes back only where their day tables are: a walk whose days
    retention dropped while it was withdrawn is matched from its kept file again, credited
    as before, and its days stay dropped (retention's choice is not undone)."""
    from geo.track_partitions import day_partitions, drop_days_before
    from geo.track_withdraw import restore_track, withdraw_track

    pts, day = _walk_with_duty(demo, 26)
    tid = ingest_track(demo, _csv(pts), "walk.csv", person_id=1)["track_id"]
    before = _walked_m(demo, day)
    assert before > 0
    withdraw_track(demo, tid, "wrong file")
    last = pts["time"].max().tz_convert("UTC").date()
    assert sum(n for _, n in drop_days_before(demo, last + dt.timedelta(days=1))) == 0
    out = restore_track(demo, tid)
    assert out["status"] == "matched", out
    assert _walked_m(demo, day) == pytest.approx(before, abs=0.5)
    assert _counts(demo, tid)["fixes"] == 0
    with demo.connect() as conn:
        assert all(d > last for d, _ in day_partitions(conn))


def test_a_restore_is_refused_while_another_track_holds_its_walk_nudged(demo):  # noqa: F811
    """A walk is withdrawn (sent for the wrong person, say); the same walk exported by
    another app, its fixes nudged by under half a metre (other rounding) and its recording
    a few seconds longer, is sent after: stored, for it is no copy of the withdrawn one
    (longer). Old code compared exact digests only and restored the first file: the walk
    credited twice. A restore now sees what an upload sees (walk_digest.near_copy: the
    withdrawn walk is the stored one nudged, cut short): 409 naming the other track, the
    withdrawal stands. Once that one is withdrawn, the restore goes through."""
    import numpy as np

    from geo.track_withdraw import restore_track, withdraw_track

    pts, day = _walk_with_duty(demo, 36)
    first = pts.iloc[:-3]  # the other app recorded 9 s more at the end
    tid = ingest_track(demo, _csv(first), "first.csv", person_id=1)["track_id"]
    withdraw_track(demo, tid, "wrong person", actor="test")
    rng = np.random.default_rng(37)
    nudge = 0.4 / 111_320
    other = ingest_track(
        demo,
        _csv(
            pts,
            pts["lon"] + rng.uniform(-nudge, nudge, len(pts)),
            pts["lat"] + rng.uniform(-nudge, nudge, len(pts)),
        ),
        "other_app.csv",
        person_id=1,
    )
    assert other["created"] and other["status"] == "matched", other
    credit = _walked_m(demo, day)
    assert credit > 0

    with pytest.raises(ConflictError) as refused:
        restore_track(demo, tid, actor="test")
    message = refused.value.message
    assert message.startswith(
        f"轨迹 {other['track_id']} 与轨迹 {tid} 是同一次巡查"
        f"（轨迹 {tid} 的定位点与它相差不到 1 米），恢复 {tid} 会重复计入"
    ), message
    assert f"{tid}'s fixes lie within 1 m" in message and "credit it twice" in message
    with demo.connect() as conn:
        status = conn.execute(text("SELECT status FROM tracks WHERE id = :t"), {"t": tid})
        assert status.scalar_one() == "withdrawn"
    assert _walked_m(demo, day) == pytest.approx(credit, abs=0.5)

    withdraw_track(demo, other["track_id"], "sent twice", actor="test")
    assert restore_track(demo, tid, actor="test")["status"] == "matched"
    assert _walked_m(demo, day) == pytest.approx(credit, abs=25)
