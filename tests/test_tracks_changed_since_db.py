"""An incremental sync of the tracks (outside tester T67 #4): ``GET /tracks?changed_since=``
lists only the tracks changed since the last run (withdrawn ones too), in an order that
pages, with ``as_of``, the next run's ``changed_since``; every change a client sees moves a
track's ``changed_at``; migration 0027 gives the tracks of an existing database theirs.
Real PostGIS, simulated walks through the API."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from geo.day_networks import walk_network
from geo.db import migrate
from geo.match_queue import AbandonedSweep
from geo.people_import import renumber_person
from geo.track_store import set_failed
from geo.track_touch import shown_of, touch_changed
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_migrations_db import scratch  # noqa: F401 (a fixture)
from tests.test_tracks_db import _csv, _post, _second_steward, demo  # noqa: F401
from tests.test_tracks_races_db import _wait_job

EARLY = "2000-01-01T00:00:00+08:00"  # a first sync: everything


def _walk(db: Engine, seed: int, day: int) -> bytes:
    """A 400 m simulated walk on 2026-03-``day`` (each on its own day: no copy, no flags)."""
    params = SimParams(length_m=400, noise_m=5, start=f"2026-03-{day:02d}T01:00:00Z")
    pts = simulate_patrol(walk_network(db), np.random.default_rng(seed), params)[0]
    return _csv(pts)


def _upload(client: TestClient, headers: dict, data: bytes, name: str) -> int:
    r = _post(client, headers, [(name, data)], person_id=1)
    assert r.status_code == 201, r.text
    return int(r.json()["files"][0]["track_id"])


def _at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def _changed(client: TestClient, headers: dict, since: str, **params) -> dict:
    r = client.get("/tracks", params={"changed_since": since, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _settled(client: TestClient, headers: dict, since: str = EARLY) -> dict:
    """A sync (a full one by default) whose ``as_of`` lies after every change listed. WHY a
    retry: a transaction of the app's own (the minute's stale-upload look, a job's
    bookkeeping) open during the read holds ``as_of`` back, rightly; the test wants a clean
    cut."""
    for _ in range(50):
        out = _changed(client, headers, since, limit=1000)
        if all(_at(t["changed_at"]) < _at(out["as_of"]) for t in out["tracks"]):
            return out
    raise AssertionError(out)


def _changed_at(db: Engine, track_id: int) -> dt.datetime:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT changed_at FROM tracks WHERE id = :t"), {"t": track_id}
        ).scalar_one()


@pytest.fixture()
def synced(demo, auth_headers) -> Iterator[tuple[TestClient, dict, list[int]]]:  # noqa: F811
    """Four walks of steward 1 uploaded: (client, admin headers, track ids)."""
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        ids = [
            _upload(client, admin, _walk(demo, seed, day), f"w{seed}.csv")
            for seed, day in ((71, 2), (72, 3), (73, 4), (74, 5))
        ]
        yield client, admin, ids


def test_a_sync_gets_exactly_the_tracks_changed_since_its_last_run(synced, demo) -> None:  # noqa: F811
    """Withdraw one, match another again, upload a new one: the next sync lists exactly those
    three, the withdrawn one with its status, and not the tracks left alone; its pages with
    limit/offset see each change once, in changed_at order."""
    client, admin, (a, b, c, d) = synced
    first = _settled(client, admin)  # the first sync
    assert [t["id"] for t in first["tracks"]] == [a, b, c, d] and first["total"] == 4
    assert first["as_of"].endswith("+08:00")
    assert all(t["changed_at"].endswith("+08:00") for t in first["tracks"])
    # the plain list: changed_at on each row, no as_of (its bytes otherwise as before)
    plain = client.get("/tracks", headers=admin).json()
    assert "as_of" not in plain and all("changed_at" in t for t in plain["tracks"])

    assert (
        client.delete(f"/tracks/{a}", params={"reason": "测试"}, headers=admin).status_code == 200
    )
    r = client.post("/tracks/rematch", json={"track_ids": [b]}, headers=admin)
    assert r.status_code == 202, r.text
    assert _wait_job(client, r.json()["job_url"], admin)["status"] == "done"
    e = _upload(client, admin, _walk(demo, 75, 6), "w75.csv")

    out = _changed(client, admin, first["as_of"], limit=1000)
    rows = {t["id"]: t for t in out["tracks"]}
    assert set(rows) == {a, b, e} and out["total"] == 3, out
    assert rows[a]["status"] == "withdrawn" and rows[a]["status_label"] == "已撤回 withdrawn"
    assert rows[b]["status"] == rows[e]["status"] == "matched"
    keys = [(_at(t["changed_at"]), t["id"]) for t in out["tracks"]]
    assert keys == sorted(keys)
    assert all(_at(t["changed_at"]) >= _at(first["as_of"]) for t in out["tracks"])
    # a status filter still holds; without changed_since the withdrawn track stays out
    matched = _changed(client, admin, first["as_of"], status="matched")
    assert {t["id"] for t in matched["tracks"]} == {b, e}
    assert {t["id"] for t in client.get("/tracks", headers=admin).json()["tracks"]} == {b, c, d, e}

    # the sync loop: a page of one at a time, every change seen once, in order
    seen: list[int] = []
    offset = 0
    while True:
        page = _changed(client, admin, first["as_of"], limit=1, offset=offset)
        seen += [t["id"] for t in page["tracks"]]
        offset += len(page["tracks"])
        if not page["tracks"] or offset >= page["total"]:
            break
    assert seen == [t["id"] for t in out["tracks"]] and sorted(seen) == sorted({a, b, e})
    # the next sync never brings back the tracks left alone
    later = _changed(client, admin, out["as_of"], limit=1000)
    assert {t["id"] for t in later["tracks"]} <= {a, b, e}


def test_a_time_without_an_offset_is_the_citys_and_a_bad_one_is_a_422(synced) -> None:
    """changed_since=2026-11-20T08:00:00 is Beijing's 08:00 (+08:00), as every time the API
    answers; read as UTC it would be eight hours later. Not a time: 422 naming changed_since
    (a plain number too: pydantic took 20261127 for Unix seconds, 1970-08-23)."""
    client, admin, (a, b, c, d) = synced
    first = _settled(client, admin)  # the first sync
    assert client.delete(f"/tracks/{c}", headers=admin).status_code == 200
    since = first["as_of"]
    offset = _changed(client, admin, since)
    assert [t["id"] for t in offset["tracks"]] == [c]
    local = _changed(client, admin, since.removesuffix("+08:00"))
    assert local["tracks"] == offset["tracks"] and local["total"] == 1
    utc = _at(since).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert _changed(client, admin, utc)["tracks"] == offset["tracks"]
    # an hour later: nothing (the withdrawal was seconds after it)
    later = (_at(since) + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert _changed(client, admin, later)["total"] == 0

    # the ends of the calendar are times too (no 500 converting them)
    assert _changed(client, admin, "0001-01-01T00:00:00")["total"] == 4
    assert _changed(client, admin, "9999-12-31T23:59:59-12:00")["total"] == 0
    for bad in ("yesterday", "2026-02-30T08:00:00", "20261127", "2026-11-20T25:00"):
        r = client.get("/tracks", params={"changed_since": bad}, headers=admin)
        body = r.json()
        assert r.status_code == 422 and body["status"] == 422, (bad, r.text)
        assert body["code"] == "invalid_input", (bad, body)  # not an unknown parameter
        assert "changed_since" in body["error"] and body["error"].startswith("参数"), body


def test_as_of_waits_for_a_transaction_open_during_the_read(synced, demo) -> None:  # noqa: F811
    """A change is stamped with its transaction's start: one begun before a sync's read and
    committed after it is behind that read's now(); as_of (the earliest open transaction's
    start) still lets the next sync find it."""
    client, admin, (a, b, c, d) = synced
    first = _settled(client, admin)  # the first sync
    with demo.begin() as conn:  # a match failing in a long batch, say
        set_failed(conn, d, "测试 a test failure")
        during = _changed(client, admin, first["as_of"])
        assert during["total"] == 0  # not committed yet
    stamped = _changed_at(demo, d)
    assert _at(during["as_of"]) <= stamped
    after = _changed(client, admin, during["as_of"])
    assert [t["id"] for t in after["tracks"]] == [d] and after["tracks"][0]["status"] == "failed"


def test_each_change_a_client_sees_moves_changed_at(synced, demo) -> None:  # noqa: F811
    """A restore, a walk given to another person, a re-send in another mode, a failed match,
    the sweep of an abandoned upload and a re-match by day each move the track's changed_at
    (and so its place in a sync)."""
    client, admin, (a, b, c, d) = synced
    first = _settled(client, admin)  # the first sync
    _second_steward(demo)
    assert client.delete(f"/tracks/{a}", headers=admin).status_code == 200

    def moved(track_id: int, change) -> None:  # noqa: ANN001
        before = _changed_at(demo, track_id)
        change()
        assert _changed_at(demo, track_id) > before, track_id

    def ok(r) -> None:  # noqa: ANN001
        assert r.status_code == 200, r.text

    moved(a, lambda: ok(client.post(f"/tracks/{a}/restore", headers=admin)))
    moved(b, lambda: ok(client.patch(f"/tracks/{b}", json={"person_id": 2}, headers=admin)))
    resend = _walk(demo, 73, 4)  # track c's file, now as a bike ride
    moved(c, lambda: ok(_post(client, admin, [("w73.csv", resend)], mode="bike")))

    def fail() -> None:
        with demo.begin() as conn:
            set_failed(conn, d, "测试")

    moved(d, fail)

    def abandoned() -> None:  # left stored by a server killed mid-match, then swept up
        with demo.begin() as conn:
            conn.execute(text("UPDATE tracks SET status = 'stored' WHERE id = :t"), {"t": d})
        assert AbandonedSweep().queue(demo, age_s=0) == [d]

    moved(d, abandoned)

    def by_day() -> None:
        r = client.post("/tracks/rematch", json={"since": "2026-03-05"}, headers=admin)
        assert r.status_code == 202, r.text
        assert _wait_job(client, r.json()["job_url"], admin)["status"] == "done"

    moved(d, by_day)
    rows = {t["id"]: t for t in _changed(client, admin, first["as_of"])["tracks"]}
    assert set(rows) == {a, b, c, d}
    assert (
        rows[b]["person_id"] == 2 and rows[c]["mode"] == "bike" and rows[a]["status"] == "matched"
    )


def test_the_migration_gives_existing_tracks_their_last_change(scratch) -> None:  # noqa: F811
    """0027 on a database of 0026: each track's changed_at is the latest of its upload, its
    newest match and its withdrawal; new rows get now(); the sync's index is there."""
    _url, eng = scratch
    migrate(eng, "0026")
    insert = text(
        "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, status, "
        "uploaded_at, withdrawn_at) VALUES (:sha, 'x', 'csv', 'wgs84', 1, 0, :st, :up, :wd) "
        "RETURNING id"
    )
    at = "2026-03-{:02d}T{}+08:00".format
    with eng.begin() as conn:

        def track(n: int, status: str, up: str, wd: str | None = None) -> int:
            row = {"sha": f"{n:064d}", "st": status, "up": up, "wd": wd}
            return conn.execute(insert, row).scalar_one()

        stored = track(1, "stored", at(1, "10:00:00"))
        rematched = track(2, "matched", at(2, "10:00:00"))
        withdrawn = track(3, "withdrawn", at(3, "10:00:00"), at(4, "12:00:00"))
        for tid, when in (
            (rematched, at(2, "10:01:00")),
            (rematched, at(5, "09:00:00")),
            (withdrawn, at(3, "10:01:00")),
        ):
            conn.execute(
                text(
                    "INSERT INTO track_matches (track_id, matched_at, segments, walked_m) "
                    "VALUES (:t, :at, 1, 10.0)"
                ),
                {"t": tid, "at": when},
            )
    migrate(eng)
    with eng.begin() as conn:
        got = dict(conn.execute(text("SELECT id, changed_at FROM tracks")).all())
        assert got == {
            stored: _at(at(1, "10:00:00")),
            rematched: _at(at(5, "09:00:00")),
            withdrawn: _at(at(4, "12:00:00")),
        }
        fresh = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, status) "
                "VALUES (:sha, 'x', 'csv', 'wgs84', 1, 0, 'stored') RETURNING changed_at = now()"
            ),
            {"sha": "9" * 64},
        ).scalar_one()
        assert fresh is True
        index = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tracks_changed_at'")
        ).scalar_one()
        assert "(changed_at, id)" in index
        nullable = conn.execute(
            text(
                "SELECT is_nullable FROM information_schema.columns "
                "WHERE table_name = 'tracks' AND column_name = 'changed_at'"
            )
        ).scalar_one()
        assert nullable == "NO"


def test_openapi_documents_the_sync_and_the_rematch_answers(synced) -> None:
    """/openapi.json names changed_since, changed_at and as_of; POST /tracks/rematch's 200
    and 202 were an untyped {}: now RematchAnswer, every key a real answer holds in it."""
    from api.routes.tracks import RematchAnswer

    client, admin, (a, b, c, d) = synced
    spec = client.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/tracks"]["get"]["parameters"]}
    assert "changed_since" in params
    schemas = spec["components"]["schemas"]
    assert "changed_at" in schemas["TrackRow"]["required"]
    assert "pg_stat_activity" in schemas["TrackList"]["properties"]["as_of"]["description"]
    post = spec["paths"]["/tracks/rematch"]["post"]["responses"]
    for code in ("200", "202"):
        schema = post[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/RematchAnswer"}, (code, schema)
    documented = set(RematchAnswer.model_fields)
    nothing = client.post(
        "/tracks/rematch", json={"since": "2026-01-01", "until": "2026-01-02"}, headers=admin
    )
    assert nothing.status_code == 200 and nothing.json() == {"queued": 0, "already_queued": 0}
    queued = client.post("/tracks/rematch", json={"track_ids": [a, b]}, headers=admin)
    assert queued.status_code == 202, queued.text
    assert set(queued.json()) == documented, queued.json()
    assert queued.json()["queued"] == 2 and queued.json()["job_url"].endswith(
        queued.json()["job_id"]
    )
    assert _wait_job(client, queued.json()["job_url"], admin)["status"] == "done"


def test_keyset_pages_skip_no_track_when_one_changes_between_pages(synced) -> None:
    """A track changed while a sync reads its pages moves to the end: with offset, the next
    unchanged track slipped onto the page already read and was lost until it changed; with
    the last row's changed_at and id (after_id) each page starts after that row, so every
    track is seen and the changed one again at the end."""
    client, admin, (a, b, c, d) = synced
    _settled(client, admin)
    first = _changed(client, admin, EARLY, limit=1)
    assert [t["id"] for t in first["tracks"]] == [a]
    r = client.delete(f"/tracks/{a}", params={"reason": "测试"}, headers=admin)
    assert r.status_code == 200, r.text
    # what offset does: b is lost
    assert [t["id"] for t in _changed(client, admin, EARLY, limit=1, offset=1)["tracks"]] == [c]
    seen = [a]
    last = first["tracks"][-1]
    while True:
        page = _changed(client, admin, last["changed_at"], after_id=last["id"], limit=1)
        if not page["tracks"]:
            break
        seen += [t["id"] for t in page["tracks"]]
        last = page["tracks"][-1]
    assert seen == [a, b, c, d, a], seen
    assert last["status"] == "withdrawn"


def test_after_id_without_changed_since_is_a_422(synced) -> None:
    client, admin, _ids = synced
    r = client.get("/tracks", params={"after_id": 3}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    assert "after_id" in r.json()["error"] and "changed_since" in r.json()["error"]


def _import_people(client: TestClient, headers: dict, body: str) -> dict:
    """The roster import of POST /people/import (a CSV of ``body``)."""
    f = io.BytesIO(body.encode("utf-8"))
    r = client.post("/people/import", files={"file": ("p.csv", f, "text/csv")}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_person_renamed_by_the_roster_import_comes_back_in_the_next_sync(synced, demo) -> None:  # noqa: F811
    """A roster renaming 王小巷 (S1) to 王大巷 stamps her four tracks, not the other
    steward's: the next sync lists them with the new name (it kept the old one for good, the
    row's person read from people and changed_at never moved). The same roster again, a
    renumber and a leave change nothing a track's row shows: the sync after them is empty."""
    client, admin, (a, b, c, d) = synced
    _second_steward(demo)
    r = _post(client, admin, [("w75.csv", _walk(demo, 75, 6))], person_id=2)
    assert r.status_code == 201, r.text
    e = int(r.json()["files"][0]["track_id"])
    first = _settled(client, admin)
    assert {t["person"] for t in first["tracks"]} == {"王小巷", "李小巷"}

    roster = "人员编号,姓名\nS1,王大巷\nS2,李小巷\n"
    done = _import_people(client, admin, roster)
    assert (done["updated"], done["unchanged"], done["updated_ids"]) == (1, 1, ["S1"]), done
    out = _settled(client, admin, first["as_of"])
    assert sorted(t["id"] for t in out["tracks"]) == [a, b, c, d] and out["total"] == 4, out
    assert {t["person"] for t in out["tracks"]} == {"王大巷"}
    assert e not in {t["id"] for t in out["tracks"]}
    with demo.connect() as conn:
        detail = conn.execute(
            text(
                "SELECT detail FROM audit_log WHERE action = 'people.import' ORDER BY id DESC "
                "LIMIT 1"
            )
        ).scalar_one()
    assert detail["tracks_touched"] == 4, detail

    again = _import_people(client, admin, roster)
    assert (again["updated"], again["unchanged"]) == (0, 2), again
    assert _changed(client, admin, out["as_of"])["total"] == 0
    assert renumber_person(demo, 1, "S1-2026", actor="cli")["person_id"] == 1
    r = client.post("/people/1/leave", headers=admin)
    assert r.status_code == 200, r.text
    assert _changed(client, admin, out["as_of"])["total"] == 0


# every column of people, and a change of it (a test of its own per column would be 11
# demo cities)
_PEOPLE_CHANGES = {
    "external_id": "'S1-X'",
    "name": "'王大巷'",
    "phone": "'13900009999'",
    "roles": "ARRAY['street_chief']",
    "home": "ST_SetSRID(ST_MakePoint(116.31, 39.99), 4326)",
    "home_building_id": "(SELECT min(id) FROM buildings)",
    "capacity": "7",
    "part_time": "NOT part_time",
    "active": "NOT active",
    "area_id": "(SELECT min(id) FROM areas)",
    "created_at": "'2001-01-01T00:00:00+08:00'",
}


def test_a_change_of_people_stamps_the_tracks_exactly_when_their_rows_move(synced, demo) -> None:  # noqa: F811
    """Each column of people changed in turn, bracketed as the code that changes people
    brackets it (geo.track_touch: shown_of before, touch_changed after, one transaction);
    GET /tracks and GET /tracks/{id} read before and after: the person's four tracks are
    stamped exactly when the change moves what they show (the name), and for nothing else.
    WHY: the list's SELECT and PERSON_SHOWN must agree, or a sync misses a change (a
    registry id added to the row would be stamped by nobody) or downloads the city again;
    a new column of people must be placed here too."""
    client, admin, (a, _b, _c, _d) = synced
    with demo.connect() as conn:
        columns = set(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'people' AND column_name <> 'id'"
                )
            ).scalars()
        )
    assert columns == set(_PEOPLE_CHANGES), columns ^ set(_PEOPLE_CHANGES)

    def seen() -> tuple[list[dict], dict]:
        rows = client.get("/tracks", params={"person_id": 1}, headers=admin).json()["tracks"]
        one = client.get(f"/tracks/{a}", headers=admin).json()
        return [{k: v for k, v in t.items() if k != "changed_at"} for t in rows], one

    moved, stamped = set(), set()
    for column, value in _PEOPLE_CHANGES.items():
        was, stamp = seen(), _changed_at(demo, a)
        with demo.begin() as conn:
            shown = shown_of(conn, ids=[1])
            n = conn.execute(text(f"UPDATE people SET {column} = {value} WHERE id = 1")).rowcount
            assert n == 1, column
            assert touch_changed(conn, shown) in (0, 4), column
        if seen() != was:
            moved.add(column)
        if _changed_at(demo, a) > stamp:
            stamped.add(column)
    assert moved == stamped and "name" in moved, (moved, stamped)
