"""What changed after a signing or a period's end, as the evaluation section head who signs
the monthly evaluation reads it (outside tester T69, 孙科长): an upload within the late-upload
grace is not called late (#7), a renumbered person is said (#3), and a re-match that moved no
credit is not a reason the figures may differ (#6).

The demo network and communities (:func:`tests.test_tracks_db.demo`: steward 1 王小巷, S1),
simulated walks of Monday 2026-03-02 uploaded and matched for real, signed through the API,
re-matched by the match queue and renumbered as ``gridward people renumber`` does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.day_networks import walk_network
from geo.match_queue import drain_queue, requeue_tracks
from geo.people_import import renumber_person
from geo.settings import city_today
from geo.track_store import ingest_track
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_tracks_db import _csv, _second_steward, demo  # noqa: F401 (a fixture)

DAY = dt.date(2026, 3, 2)  # a Monday: its week is 2026-03-02 – 2026-03-08
SINCE_SIGNED = "签发后有改动"
SINCE_CLOSED = "本期结束后有改动"
MAY_DIFFER = "现在的数字可能与签发的报表不同"


def _walk(db: Any, seed: int, start: str) -> bytes:
    """A 600 m simulated walk from ``start`` (UTC) as a CSV; steward 1 holds (from 2026-01-01,
    set long before) every street it walks whole, so it credits her."""
    net = walk_network(db)
    params = SimParams(length_m=600, start=start)
    pts, truth = simulate_patrol(net, np.random.default_rng(seed), params)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from, created_at) "
                "SELECT 1, 'alley_steward', s.street_id, DATE '2026-01-01', "
                "TIMESTAMPTZ '2026-01-01 09:00+08' FROM street_segments s "
                "LEFT JOIN unnest(CAST(:e AS int[]), CAST(:f AS float8[])) AS w(edge_id, f) "
                "ON w.edge_id = s.id GROUP BY s.street_id "
                "HAVING sum(coalesce(w.f, 0) * s.length_m) >= 0.95 * sum(s.length_m) "
                "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = 1 "
                "AND a.street_id = s.street_id)"
            ),
            {
                "e": truth["edge_id"].astype(int).tolist(),
                "f": truth["covered_fraction"].astype(float).tolist(),
            },
        )
    assert pd.Timestamp(start).tz_convert("Asia/Shanghai").date() == DAY
    return _csv(pts)


def _upload(db: Any, data: bytes, name: str) -> int:
    got = ingest_track(db, data, name, person_id=1)
    assert got["status"] == "matched", got
    return int(got["track_id"])


def _sign(client: TestClient, admin: dict, kind: str) -> int:
    got = client.post(f"/reports/{kind}/sign", json={"date": str(DAY)}, headers=admin)
    assert got.status_code == 201, got.text
    return int(got.json()["id"])


def _note(body: dict, head: str) -> str:
    found = [n for n in body["notes"] if head in n]
    assert len(found) == 1, body["notes"]
    return found[0]


def _live(client: TestClient, headers: dict, kind: str) -> dict:
    got = client.get(f"/reports/{kind}", params={"date": str(DAY)}, headers=headers)
    assert got.status_code == 200, got.text
    return got.json()


def test_an_upload_after_the_signing_within_the_grace_is_not_called_late(demo, auth_headers):  # noqa: F811
    """T69 #7: the day was signed at 01:48 the next morning, then a walk of 09:00 that day
    sent at 01:52 (17 h after its end: on time, as the track and the late_uploads column
    say). The note called it 迟传 / uploaded late. Now said as uploaded after the signing,
    within the 24-hour limit; a walk sent two days later is still 迟传, one of each, as the
    row's late_uploads (1) counts it."""
    on_time = _walk(demo, 26, "2026-03-02T01:00:00Z")  # 09:00 local
    late = _walk(demo, 31, "2026-03-02T03:00:00Z")  # 11:00 local
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        sid = _sign(client, admin, "daily")
        first, second = _upload(demo, on_time, "ontime.csv"), _upload(demo, late, "late.csv")
        with demo.begin() as conn:  # signed, then each sent: at the times of T69's morning
            conn.execute(
                text("UPDATE report_signoffs SET signed_at = :t WHERE id = :i"),
                {"t": "2026-03-03 01:48+08", "i": sid},
            )
            for tid, sent in ((first, "2026-03-03 01:52+08"), (second, "2026-03-04 09:00+08")):
                conn.execute(
                    text("UPDATE tracks SET uploaded_at = :u WHERE id = :i"), {"u": sent, "i": tid}
                )
        assert client.get(f"/tracks/{first}", headers=admin).json()["late"] is False
        assert client.get(f"/tracks/{second}", headers=admin).json()["late"] is True
        body = _live(client, admin, "daily")
    [row] = [r for r in body["people"] if r["person_id"] == 1]
    assert row["late_uploads"] == 1, row
    note = _note(body, SINCE_SIGNED)
    assert MAY_DIFFER in note, note
    assert (
        "1 条本期的轨迹于 2026-03-03 在签发之后上传（在 24 小时上传时限内，不算迟传），"
        "巡查日为 2026-03-02" in note
    ), note
    assert (
        "1 walk of this period was uploaded on 2026-03-03, after the signing, within the "
        "24-hour upload limit (not late), walked on 2026-03-02" in note
    ), note
    # the late one alone is 迟传 (the old note: 2 条 … 2026-03-03、2026-03-04 才上传（迟传）)
    assert "1 条本期的轨迹于 2026-03-04 才上传（迟传，本期结束之后），巡查日为 2026-03-02" in note
    assert "1 walk of this period was uploaded late on 2026-03-04" in note, note
    assert note.count("迟传") == 2 and "2026-03-03 才上传" not in note, note  # 迟传, 不算迟传
    assert body["signed"]["changed"] is True
    # the day's own note (since it ended) names the late walk only, as before
    closed = _note(body, SINCE_CLOSED)
    assert "1 条本期的轨迹于 2026-03-04 才上传" in closed and "2026-03-03" not in closed, closed


def test_a_renumber_after_the_signing_is_said_to_whom_it_concerns(demo, auth_headers):  # noqa: F811
    """T69 #3: after `people renumber` every past report listed the person by the new
    registry id while the signed copies had the old one, and no note said so. Now the signed
    and the closed period's notes name old → new with the name and system id, figures said
    unchanged; a steward's own view names only her own; a renumber undone is not said."""
    tid = _upload(demo, _walk(demo, 26, "2026-03-02T01:00:00Z"), "w.csv")
    _second_steward(demo)  # person 2, S2 李小巷, holding an alley of her own that week
    with demo.begin() as conn:
        # sent on time that evening: the renumber is the one change after the week ended
        conn.execute(
            text("UPDATE tracks SET uploaded_at = TIMESTAMPTZ '2026-03-02 18:00+08' WHERE id = :i"),
            {"i": tid},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from, created_at) "
                "SELECT 2, 'alley_steward', min(s.id), DATE '2026-01-01', "
                "TIMESTAMPTZ '2026-01-01 09:00+08' FROM streets s WHERE s.kind = 'alley' "
                "AND s.id NOT IN (SELECT street_id FROM assignments)"
            )
        )
    admin = auth_headers("admin")
    steward = auth_headers("steward", person_id=1)
    with TestClient(create_app(demo)) as client:
        sid = _sign(client, admin, "weekly")
        before = _live(client, admin, "weekly")
        assert before["signed"]["changed"] is False
        renumber_person(demo, 1, "HD-2026-001", actor="cli")
        renumber_person(demo, 2, "HD-2026-002", actor="cli")
        today = city_today().isoformat()
        body = _live(client, admin, "weekly")
        signed = client.get(f"/reports/signed/{sid}", headers=admin).json()
        own = _live(client, steward, "weekly")
        renumber_person(demo, 1, "S1", actor="cli")  # and back: nothing to say of her
        back = _live(client, admin, "weekly")
    codes = {r["person_id"]: r["person_code"] for r in body["people"]}
    assert codes == {1: "HD-2026-001", 2: "HD-2026-002"}, codes
    assert {r["person_id"]: r["person_code"] for r in signed["people"]} == {1: "S1", 2: "S2"}
    said = (
        f"2 人的人员编号于 {today} 变更（本表按新编号列出，所计巡查不变）："
        "S1 → HD-2026-001（王小巷，系统编号 id:1）、S2 → HD-2026-002（李小巷，系统编号 id:2）"
    )
    said_en = (
        f"2 registry ids changed on {today} (this report lists people by the new one; credit "
        "unchanged): S1 → HD-2026-001 (王小巷, id:1), S2 → HD-2026-002 (李小巷, id:2)"
    )
    note = _note(body, SINCE_SIGNED)
    assert said in note and said_en in note, note
    assert MAY_DIFFER not in note and "，数字未变：" in note, note  # nothing else changed
    assert body["signed"]["changed"] is True  # the live report reads otherwise: the ids
    assert [r["patrolled_alley_days"] for r in body["people"]] == [
        r["patrolled_alley_days"] for r in signed["people"]
    ]
    closed = _note(body, SINCE_CLOSED)
    assert said in closed and said_en in closed, closed
    # the period's own note: a renumber alone moves no figure, said so (it said they may
    # differ, sending the reader to re-check the week for nothing)
    assert closed.startswith("本期结束后有改动，数字未变："), closed
    assert "changed since this period ended, figures unchanged: " in closed, closed
    assert "数字可能" not in closed and "may differ" not in closed, closed
    mine = _note(own, SINCE_CLOSED)
    assert "1 人的人员编号" in mine and "S1 → HD-2026-001（王小巷，系统编号 id:1）" in mine, mine
    assert mine.startswith("本期结束后有改动，数字未变："), mine
    assert "HD-2026-002" not in mine and "李小巷" not in mine, mine
    assert not any(SINCE_SIGNED in n for n in own["notes"]), own["notes"]
    again = _note(back, SINCE_SIGNED)
    assert "1 人的人员编号" in again and "S2 → HD-2026-002" in again, again
    assert "HD-2026-001" not in again, again


def test_a_rematch_that_moved_no_credit_is_not_a_reason_the_figures_may_differ(
    demo,  # noqa: F811
    auth_headers,
):
    """T69 #6: `tracks rematch` of a signed month moved no metre (the job: changed 0), yet
    the signed month and week said 本期的轨迹…有 31 次改动（重新匹配 31）…现在的数字可能与签发
    的报表不同. Now said as matched again with figures unchanged, and `changed` stays false;
    a re-match that moves credit is still a change that may move the figures."""
    tid = _upload(demo, _walk(demo, 26, "2026-03-02T01:00:00Z"), "w.csv")
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        week, month = _sign(client, admin, "weekly"), _sign(client, admin, "monthly")
        signed = client.get(f"/reports/signed/{week}", headers=admin).json()
        assert requeue_tracks(demo, [tid]) == (1, 0)
        done = drain_queue(demo)
        assert (done.rematched, done.changed) == (1, 0), done.as_dict()
        today = city_today().isoformat()
        same = {kind: _live(client, admin, kind) for kind in ("weekly", "monthly")}
        # half the walk's fixes moved 2 km off (as a correction of its file would): re-matched,
        # it credits less
        with demo.begin() as conn:
            conn.execute(
                text(
                    "UPDATE track_points SET geom = ST_Translate(geom, 0.02, 0) "
                    "WHERE track_id = :t AND seq > (SELECT max(seq) / 2 FROM track_points "
                    "WHERE track_id = :t)"
                ),
                {"t": tid},
            )
        requeue_tracks(demo, [tid])
        moved = drain_queue(demo)
        assert (moved.rematched, moved.changed) == (1, 1), moved.as_dict()
        changed = _live(client, admin, "weekly")
    for kind, sid in (("weekly", week), ("monthly", month)):
        body = same[kind]
        assert body["signed"]["id"] == sid and body["signed"]["changed"] is False, body["signed"]
        note = _note(body, SINCE_SIGNED)
        assert MAY_DIFFER not in note and "次改动（重新匹配" not in note, note
        assert f"，数字未变：本期的轨迹于 {today} 重新匹配 1 条，所计巡查与之前相同" in note
        assert (
            f"figures unchanged: 1 walk of this period matched again on {today}, crediting "
            "what it did before" in note
        ), note
        assert "figures may differ" not in note, note
    assert same["weekly"]["people"] == signed["people"]  # indeed unchanged
    note = _note(changed, SINCE_SIGNED)
    assert MAY_DIFFER in note, note
    assert (
        f"本期的轨迹于 {today} 有 1 次改动（重新匹配 1；轨迹 id:{tid}），涉及巡查日 2026-03-02"
        in note
    ), note
    assert "数字未变" not in note and changed["signed"]["changed"] is True, note
