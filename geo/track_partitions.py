"""Day partitions of ``track_points``: created on demand, before the fixes of a day arrive.

A city's fixes grow by millions of rows a day and are read by track or by day. One table per
UTC day keeps each day's key index small (COPY stays fast), and lets an operator archive or
drop a finished day whole (:func:`drop_days_before`) instead of deleting rows. There is no
DEFAULT partition on purpose: a default that held a day's rows would block creating that
day's table later.

UTC days, not local ones: the range of a partition must not depend on a setting that can
change (``GRIDWARD_TIMEZONE``); a Beijing day spans two UTC partitions, which pruning handles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, text

from geo.errors import InputError

# A track longer than this is refused before any partition is made for it: a phone that
# reports fixes over more days is a broken clock, not a patrol.
MAX_DAYS_PER_TRACK = 31

# Serialises partition creation between concurrent uploads (two sessions creating the same
# day's table would otherwise race on the catalog).
_LOCK_KEY = 0x67_72_69_64_74_70  # "gridtp"


def partition_name(day: dt.date) -> str:
    """Table name of a day's partition, e.g. ``track_points_p20261120``."""
    return f"track_points_p{day:%Y%m%d}"


def days_between(t0: dt.datetime, t1: dt.datetime) -> list[dt.date]:
    """UTC days from ``t0`` to ``t1`` (aware datetimes), inclusive."""
    d0 = t0.astimezone(dt.UTC).date()
    d1 = t1.astimezone(dt.UTC).date()
    n = (d1 - d0).days + 1
    if n > MAX_DAYS_PER_TRACK:
        raise InputError(
            f"轨迹跨 {n} 天（{d0} 至 {d1}），最多只接收跨 {MAX_DAYS_PER_TRACK} 天的轨迹 "
            f"track spans {n} days ({d0} to {d1}); at most {MAX_DAYS_PER_TRACK} are accepted"
        )
    return [d0 + dt.timedelta(days=i) for i in range(max(n, 0))]


def ensure_day_partitions(engine: Engine | Any, days: Iterable[dt.date]) -> int:
    """Create the missing day partitions; returns how many were created.

    Runs in its own short transaction (or the caller's connection, if given one): creating a
    partition locks the parent table exclusively for a moment, which must not be held for a
    whole upload.
    """
    wanted = sorted(set(days))
    if not wanted:
        return 0
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            return _ensure(conn, wanted)
    return _ensure(engine, wanted)


def _ensure(conn: Any, days: list[dt.date]) -> int:
    def missing() -> list[dt.date]:
        # pg_class read with the statement's snapshot, not to_regclass(): that uses the
        # session's catalog cache, which an advisory lock does not refresh, so it could miss
        # a table another session has just committed
        rows = conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname = ANY(CAST(:names AS text[])) "
                "AND relnamespace = to_regnamespace(current_schema())"
            ),
            {"names": [partition_name(d) for d in days]},
        ).scalars()
        there = set(rows)
        return [d for d in days if partition_name(d) not in there]

    todo = missing()
    if not todo:  # the common case: no lock taken at all
        return 0
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    todo = missing()  # another session may have made them while we waited
    for d in todo:
        lo = dt.datetime.combine(d, dt.time(), dt.UTC)
        hi = lo + dt.timedelta(days=1)
        # made on its own, then attached. WHY not CREATE TABLE ... PARTITION OF: that locks
        # track_points ACCESS EXCLUSIVE, so it waited for every open reader (a worker's batch
        # reads fixes and holds its transaction while it matches), and every upload and read
        # queued behind it: a tester's uploads went from 0.3 s to 8.4 s at the first fix of a
        # new day. ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE, which readers and writers
        # do not conflict with (PostgreSQL ≥ 12).
        name = partition_name(d)
        conn.execute(
            text(
                f'CREATE TABLE "{name}" (LIKE track_points INCLUDING DEFAULTS '
                "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
            )
        )
        conn.execute(
            text(
                f'ALTER TABLE track_points ATTACH PARTITION "{name}" '
                f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
            )
        )
    return len(todo)


def day_partitions(conn: Any) -> list[tuple[dt.date, str]]:
    """The day tables of ``track_points`` that exist, oldest first."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'track_points'::regclass"
        )
    ).scalars()
    out = []
    for name in names:
        try:
            out.append((dt.datetime.strptime(name[-8:], "%Y%m%d").date(), name))
        except ValueError:  # a partition someone attached by hand under another name
            continue
    return sorted(out)


def drop_days_before(
    engine: Engine, before: dt.date, dry_run: bool = False
) -> list[tuple[dt.date, int]]:
    """Drop the raw-fix tables of every UTC day before ``before``; returns (day, fixes).

    Retention for a city's fixes. Nothing is lost for good: every upload's bytes stay in
    ``tracks.raw``, and reading a track whose fixes are gone re-parses them
    (:func:`geo.track_points.read_track_points`). Patrol visits and reports are untouched.
    Today (UTC) or a later day is refused: its table may still be receiving uploads.
    """
    today = dt.datetime.now(dt.UTC).date()
    if before > today:
        raise InputError(
            f"--before {before} 晚于今天（UTC {today}），只能清理已结束的日子 "
            f"--before {before} is after today ({today} UTC): only finished days"
        )
    with engine.begin() as conn:
        old = [(d, name) for d, name in day_partitions(conn) if d < before]
        out = [
            (d, int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() or 0))
            for d, name in old
        ]
        if not dry_run and old:
            # the creators' lock, taken only to drop (not while counting millions of rows): a
            # day an upload is making meanwhile is simply left for the next run
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            for _, name in old:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    return out
