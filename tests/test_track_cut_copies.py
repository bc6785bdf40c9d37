"""A walk re-sent with a stretch cut off, at its own times, is a part of the stored walk.

Outside re-tester T37 (F3 and its note): a walk re-sent with its last lines cut was stored
as a second track in two tries of three. The stored walks were looked for near the new
file's mean fix, which a long cut moves by hundreds of metres. Real PostGIS, real upload
path (the API), a simulated walk on the demo's network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.day_networks import walk_network
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.dbcheck import fingerprint
from tests.test_tracks_db import _csv, _post, _second_steward, demo  # noqa: F401 (a fixture)


@pytest.fixture()
def walked(demo):  # noqa: F811 - the fixture imported above
    """The demo with person 2 too, and a 1.5 km walk (1 fix per 3 s) of person 1 stored."""
    _second_steward(demo)
    sp = SimParams(length_m=1500, noise_m=5, start="2026-03-03T01:00:00Z")
    pts, _ = simulate_patrol(walk_network(demo), np.random.default_rng(7), sp)
    return demo, pts


def _cuts(pts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The walk's stretches a re-send may hold: its head, its tail, its middle."""
    n = len(pts)
    return {
        "head": pts.iloc[: int(n * 0.4)],
        "tail": pts.iloc[int(n * 0.55) :],
        "middle": pts.iloc[int(n * 0.3) : int(n * 0.65)],
    }


def test_a_long_cut_of_a_stored_walk_is_refused_as_a_part(walked, auth_headers):
    db, pts = walked
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        r = _post(client, admin, [("walk.csv", _csv(pts))], person_id=1)
        tid = r.json()["files"][0]["track_id"]
        before = fingerprint(db)
        for name, part in _cuts(pts).items():
            # the mean fix of each stretch lies far from the walk's (why it was missed)
            moved = np.hypot(
                (part["lon"].mean() - pts["lon"].mean()) * 111_320 * np.cos(np.radians(40)),
                (part["lat"].mean() - pts["lat"].mean()) * 111_320,
            )
            assert moved > 20, (name, moved)
            for person in (1, 2):  # the walker's own, or sent as a colleague's
                r = _post(client, admin, [(f"{name}.csv", _csv(part))], person_id=person)
                assert r.status_code == 409, (name, person, r.text)
                said = r.json()["error"]
                assert f"此文件是轨迹 {tid}（" in said and "的一段" in said, said
                assert f"part of track {tid}'s" in said, said
        assert fingerprint(db) == before


def test_another_walk_at_the_same_time_is_stored(walked, auth_headers):
    """Two stewards walking together: their fixes metres apart at the same times. Also the
    stretch at other times (the next day): those are not the part rule's (a copy at other
    times is judged whole, as before)."""
    db, pts = walked
    rng = np.random.default_rng(8)
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        _post(client, admin, [("walk.csv", _csv(pts))], person_id=1)
        half = pts.iloc[: len(pts) // 2]
        beside = half.assign(
            lon=half["lon"] + rng.normal(0, 4 / 85_000, len(half)),
            lat=half["lat"] + rng.normal(0, 4 / 111_320, len(half)),
        )
        r = _post(client, admin, [("beside.csv", _csv(beside))], person_id=2)
        assert r.status_code == 201, r.text
    with db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM tracks")).scalar_one()
    assert n == 2


def test_a_walk_with_fixes_added_is_a_copy_for_anyone_but_its_walker(walked, auth_headers):
    """Re-tester T39 (H1): a colleague's stored walk with a minute of fixes appended was
    stored for another steward and credited him its alleys; (M1) the walk with its middle
    cut out, head and tail kept, was called the same walk. The walker's own longer export
    (sent mid-walk, then whole) is a walk."""
    db, pts = walked
    rng = np.random.default_rng(9)
    admin = auth_headers("admin")
    step = pts["time"].diff().median()
    more = pd.DataFrame(
        {
            "lon": pts["lon"].iloc[-1] + np.cumsum(rng.normal(0, 1e-5, 20)),
            "lat": pts["lat"].iloc[-1] + np.cumsum(rng.normal(0, 1e-5, 20)),
            "time": pts["time"].iloc[-1] + step * np.arange(1, 21),
        }
    )
    longer = pd.concat([pts[["lon", "lat", "time"]], more], ignore_index=True)
    n = len(pts)
    holed = pd.concat([pts.iloc[: n // 3], pts.iloc[2 * n // 3 :]])
    with TestClient(create_app(db)) as client:
        tid = _post(client, admin, [("walk.csv", _csv(pts))], person_id=1).json()["files"][0][
            "track_id"
        ]
        before = fingerprint(db)
        r = _post(client, admin, [("longer.csv", _csv(longer))], person_id=2)
        assert r.status_code == 409, r.text
        said = r.json()["error"]
        assert f"此文件包含轨迹 {tid}（" in said and "他人已存巡查的复制" in said, said
        assert f"fixes and times of track {tid}" in said, said
        r = _post(client, admin, [("holed.csv", _csv(holed))], person_id=1)
        assert r.status_code == 409 and "的一段" in r.json()["error"], r.text
        assert fingerprint(db) == before
        r = _post(client, admin, [("longer.csv", _csv(longer))], person_id=1)
        assert r.status_code == 201 and r.json()["files"][0]["track_id"] != tid, r.text
