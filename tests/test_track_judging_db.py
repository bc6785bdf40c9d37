"""Judging a batch of walks at once (geo.track_judging.judge_matched, as the match queue does)
gives the same flags as judging them one by one (judge_track with nothing kept between walks).

Real PostGIS; walks simulated on the demo's network (tests/test_track_flags_db.py): a replay
of a walk outside the batch, two people's walks at the same times, an honest walk. WHY: the
batch reads each walk's fixes, projection and path cells once for all the walks that meet it
(bench/city_day.py: 131 ms a track judging, a third of it reading the same walks again)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import text

import geo.track_judging as judging
from geo.track_store import store_track
from tests.test_track_flags_db import _honest, _local_start, _nudged, city  # noqa: F401
from tests.test_tracks_db import _csv, demo  # noqa: F401


def _store(db, name: str, pts: pd.DataFrame, person: int) -> int:
    return store_track(db, _csv(pts), name, "wgs84", person, "test", queue=True).track_id


def _judged(db, ids: list[int], every: list[int], batch: bool) -> dict[int, Any]:
    """The flags of ``every`` track after judging ``ids`` in order, rolled back after."""
    with db.connect() as conn:
        tx = conn.begin()
        try:
            if batch:
                judging.judge_matched(conn, ids)
            else:
                for tid in ids:
                    judging.judge_track(conn, tid)
            rows = conn.execute(
                text("SELECT id, flags FROM tracks WHERE id = ANY(:i) ORDER BY id"), {"i": every}
            ).all()
        finally:
            tx.rollback()
    return {int(r.id): r.flags for r in rows}


def _codes(flags: list[dict]) -> set[tuple[str, int | None]]:
    return {(f["code"], f["other_track"]) for f in flags}


def test_a_batch_is_judged_as_its_walks_one_by_one(city, monkeypatch):  # noqa: F811
    db, net = city
    first = _honest(net, 2, _local_start(10))
    a = _store(db, "first.csv", first, 1)  # stored earlier: not in the batch
    b = _store(db, "replay.csv", _nudged(net, first, 3, pd.Timedelta(days=7, seconds=37)), 1)
    walk = _honest(net, 4, _local_start(2))
    c = _store(db, "mine.csv", walk, 1)
    d = _store(db, "copied.csv", _nudged(net, walk, 5, pd.Timedelta(seconds=0)), 2)
    e = _store(db, "other.csv", _honest(net, 7, _local_start(2, "09:05")), 2)
    batch, every = [d, b, c, e], [a, b, c, d, e]

    one_by_one = _judged(db, batch, every, batch=False)
    assert ("replay", a) in _codes(one_by_one[b]), one_by_one[b]
    assert ("alongside", c) in _codes(one_by_one[d]), one_by_one[d]
    assert ("alongside", d) in _codes(one_by_one[c]), one_by_one[c]
    assert _judged(db, batch, every, batch=True) == one_by_one
    # a batch whose kept fixes overflow forgets those of other walks and reads them again
    monkeypatch.setattr(judging, "_KEEP_FIXES", 0)
    assert _judged(db, batch, every, batch=True) == one_by_one
