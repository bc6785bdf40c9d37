"""The street network a walk is matched on, day by day: the walkable network built once per
process and rebuilt when the segments change (:func:`walk_network`), the network of a past
day as that day's report judges it, and tracks matched each day on its own day's network and
shared out to local days (:func:`match_on_day_networks`, :func:`match_by_day`).

Apart from the store because the match queue matches batches on it and the datum check of a
re-sent file reads it, and it holds no track: it reads segments and matches fixes.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo.errors import InputError
from geo.sql_frames import read_geoframe
from geo.track_days import local_days

_net_lock = threading.Lock()


DbBind = Engine | Connection


@contextmanager
def _connected(bind: DbBind) -> Iterator[Connection]:
    """A connection of ``bind``: a new one from an engine, or the caller's own connection.
    WHY the caller's: a match that holds its track locked
    (:func:`geo.track_store.match_stored_track`) keeps one connection; reading the network on a
    second one from the same pool made every such match hold one connection while it waited
    for another, which can exhaust the pool."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _segments_version(engine: DbBind) -> str:
    """A key that changes whenever a segment is added, removed, changed, retired or restored.
    WHY xmin: it is the transaction that last wrote the row, so an UPDATE in place (a
    corrected alley's geometry, or ``retired_at`` set by a re-import) changes it; count, ids
    and lengths alone missed that, and a running server kept matching, and re-matching,
    against the old network until restarted. The live count and length say the same for
    retirement in so many words (the key does not rest on xmin alone there)."""
    with _connected(engine) as conn:
        row = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE retired_at IS NULL), "
                "coalesce(max(id), 0), "
                "coalesce(sum(length_m) FILTER (WHERE retired_at IS NULL), 0), "
                "coalesce(max(xmin::text::bigint), 0) FROM street_segments"
            )
        ).one()
    return "|".join(str(v) for v in row)


def walk_network(engine: DbBind, day: dt.date | None = None) -> Any:
    """The matcher's network (edge_id = street_segments.id), built once per database and
    segment version (a new import makes a new network).

    ``day`` None: the live segments (a segment retired by a re-import is not matched any
    more). A local ``day``: the network of that day as the reports judge it, the segments
    live at its local end (:func:`geo.patrol_days.segment_live_at`). WHY: a walk is
    credited on its own day, and that day's report counts only the segments of that day. A
    walk of last week uploaded (or re-matched) after a re-import re-split its alley was
    matched onto the new pieces, which did not exist last week, and lost its credit there
    (a tester's 387 m patrolled alley fell to 87 m). Most days' networks are the current
    one (no import since); an older one is built only for days before an import that
    changed the network, and kept by the instant of the last change before the day's end."""
    return walk_networks(engine, [day])[day]


def walk_networks(engine: DbBind, days: Any) -> dict[Any, Any]:
    """:func:`walk_network` of each of ``days`` (local days, or None for the live one),
    the segment version read once for all of them (a file of a month's walks asks for 30).
    ``engine``: an engine, or a connection to read on (see :func:`_connected`)."""
    version = f"{engine.engine.url}|{_segments_version(engine)}"
    return {day: _network_of_day(engine, version, day) for day in dict.fromkeys(days)}


def _network_of_day(engine: DbBind, version: str, day: dt.date | None) -> Any:
    """The network of ``day`` (see :func:`walk_network`) at segment version ``version``."""
    from geo.patrol_days import segment_live_at
    from geo.tracks.network import WalkNetwork, cached_network

    live, params = "s.retired_at IS NULL", None
    key = version
    if day is not None:
        end = local_days(day, day)["end"]
        changes = _change_instants(engine, key)
        later = bool(changes) and changes[-1] >= end
        if later:  # the network changed after that day: the day's own
            before = max((x for x in changes if x < end), default=None)
            live, params = segment_live_at("s", "CAST(:end AS timestamptz)"), {"end": end}
            key += f"|as of {before}"

    def build() -> WalkNetwork:
        with _connected(engine) as conn:
            segs = read_geoframe(
                text(
                    f"SELECT s.id AS edge_id, s.geom FROM street_segments s WHERE {live} "
                    "ORDER BY s.id"
                ),
                conn,
                geom_col="geom",
                crs="EPSG:4326",
                params=params,
            )
        if segs.empty:
            raise InputError(
                "尚未导入路段，请先导入街巷路网 "
                "no street segments stored: import a street network first"
            )
        return WalkNetwork.from_segments(segs, edge_id_col="edge_id")

    with _net_lock:  # two uploads at once build it once
        return cached_network(key, build)


# The distinct instants the network changed (segments added, retired, restored), in order.
_CHANGES_SQL = """
SELECT DISTINCT x FROM (
    SELECT added_at AS x FROM street_segments WHERE added_at IS NOT NULL
    UNION ALL SELECT retired_at FROM street_segments WHERE retired_at IS NOT NULL
    UNION ALL SELECT retired_at FROM segment_retirements
    UNION ALL SELECT restored_at FROM segment_retirements
) AS changes ORDER BY x
"""


_changes_cache: dict[str, list[dt.datetime]] = {}


def _change_instants(engine: DbBind, version: str) -> list[dt.datetime]:
    """The instants the network changed (:data:`_CHANGES_SQL`), read once per segment
    version (``version``: the network key, which changes with every add, retirement and
    restore, as each writes ``street_segments``). WHY cached: every upload asks for its
    day's network; the query scans the segments (16-25 ms at 100,000 segments, measured),
    the cache answers in microseconds until the next import."""
    with _net_lock:
        found = _changes_cache.get(version)
    if found is None:
        with _connected(engine) as conn:
            found = list(conn.execute(text(_CHANGES_SQL)).scalars())
        with _net_lock:
            if len(_changes_cache) > 16:  # old versions of the network: never asked again
                _changes_cache.clear()
            _changes_cache[version] = found
    return found


def local_days_of(pieces: list[pd.DataFrame], timezone: str) -> list[dt.date]:
    """The local days from a track's first fix to its last (its cleaned pieces), none
    without fixes: the days it is credited on, each matched on its own network
    (:func:`match_on_day_networks`)."""
    times = [pd.to_datetime(pc["time"], utc=True) for pc in pieces if len(pc)]
    if not times:
        return []
    first, last = min(t.min() for t in times), max(t.max() for t in times)
    return local_midnights(first, last, timezone)[0]


@dataclass
class NetworkMatches:
    """One track matched on the networks of its days: its :class:`DayMatches` and the
    network of its first day (what its datum hint is judged on), None without fixes."""

    matches: DayMatches
    net: Any


def match_on_day_networks(
    engine: DbBind, tracks: list[list[pd.DataFrame]], params: Any, timezone: str
) -> list[NetworkMatches]:
    """Match many tracks' cleaned pieces, each day of each track on the network of that day
    (:func:`walk_network`), batched: one :func:`match_by_day` call per network.

    WHY per day and not per track: a walk over midnight, the night a re-import changed the
    network (an alley re-split, a way gone), was matched whole on its first day's network,
    so its second day's stretch went onto segments that day does not count (retired that
    day) and was lost there. Now a track whose days have different networks is matched
    whole on each (the path of each match is the whole walk's, as at noon) and each day
    keeps its part from the match on its own network. Nearly always every day has today's
    network: one call, as before."""
    days = [local_days_of(pieces, timezone) for pieces in tracks]
    nets = walk_networks(engine, sorted({d for ds in days for d in ds}))
    on: dict[int, list[int]] = {}  # network (by identity) -> the tracks with a day on it
    for i, ds in enumerate(days):
        for k in dict.fromkeys(id(nets[d]) for d in ds):
            on.setdefault(k, []).append(i)
    by_net = {id(n): n for n in nets.values()}
    kept: list[dict[dt.date, tuple[Any, tuple[int, int]]]] = [{} for _ in tracks]
    for k, members in on.items():
        found = match_by_day(by_net[k], [tracks[i] for i in members], params, timezone)
        for i, res in zip(members, found, strict=True):
            for (day, r), fixes in zip(res.days, res.fixes, strict=True):
                if id(nets[day]) == k:
                    kept[i][day] = (r, fixes)
    out = []
    for i, pieces in enumerate(tracks):
        m = DayMatches([], sum(1 for pc in pieces if len(pc)))
        for day in sorted(kept[i]):
            r, fixes = kept[i][day]
            m.days.append((day, r))
            m.fixes.append(fixes)
        out.append(NetworkMatches(m, nets[days[i][0]] if days[i] else None))
    return out


@dataclass
class DayMatches:
    """One track's match: a :class:`~geo.tracks.match.MatchResult` per local day it has fixes
    or walked stretches on (:func:`match_by_day`); the counts are the track's.

    ``fixes``: per day, (fixes, fixes matched) of the track's fixes that day."""

    days: list[tuple[dt.date, Any]]
    pieces: int
    fixes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def matched_points(self) -> int:
        return sum(m for _, m in self.fixes)

    @property
    def total_points(self) -> int:
        return sum(n for n, _ in self.fixes)


def local_midnights(
    first: pd.Timestamp, last: pd.Timestamp, timezone: str
) -> tuple[list[dt.date], np.ndarray]:
    """The local days from ``first``'s to ``last``'s (tz-aware instants), and the instants
    (ns since the epoch, UTC) at which each day after the first begins."""
    zone = ZoneInfo(timezone)
    d0, d1 = first.tz_convert(zone).date(), last.tz_convert(zone).date()
    days = [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]
    # the first instant of each day (zoneinfo puts a midnight skipped by a clock change at it
    # too, as pandas' tz_convert dates the instants)
    starts = [
        pd.Timestamp(dt.datetime.combine(d, dt.time.min, tzinfo=zone)).value for d in days[1:]
    ]
    return days, np.asarray(starts, dtype=np.int64)


def match_by_day(
    net: Any, tracks: list[list[pd.DataFrame]], params: Any, timezone: str
) -> list[DayMatches]:
    """Match many tracks' cleaned pieces in one batched call
    (:func:`~geo.tracks.match.match_tracks_split`), each track's coverage shared out to the
    local days of the city's time zone.

    WHY per day: coverage is per segment per day (日巡). A phone file may hold several days,
    and a walk may run past midnight; matched as one and credited as one, every segment went
    wholly to the day of its first fix, so a second day's walk of the same alley was lost and a
    walk over midnight was credited by how the map happened to split its alleys.

    WHY the track is matched whole and only its covered stretches are cut at midnight: cut
    into days before matching, the path between the last fix before midnight and the first
    after went to neither day (a tester's walk over midnight lost 21.7 m of a 1216 m alley,
    enough to take an 81 % walk below the 80 % patrolled share). Each day's part then ended
    at a fix interpolated at midnight, but still as any piece ends: the matcher saw no fix
    beyond it, so its last metres went now and then to a stub at a junction or a parallel
    way, and the stretch on either side of midnight was not credited when midnight fell
    within the minimum credit (2 σ, ~16 m) of a segment's end: the two days added up to up
    to 15 m less than the same walk at noon. Matched whole, the walk's path is the noon
    walk's; the step over midnight is cut along that path where the walker was at midnight
    (linear in time between its two fixes), the first day's visits ending 1 µs before
    midnight, and the segment walked over midnight is credited on both days when the walk
    as a whole passes the minimum credit there (:func:`~geo.tracks.match.match_tracks_split`).
    No gap is bridged: the cleaner already cut the track into pieces wherever two fixes lie
    more than its gap threshold (``CleanParams.gap_s``) apart, and no step runs between two
    pieces."""
    from geo.tracks.match import match_tracks_split
    from geo.tracks.twins import alongside

    days_of: list[list[dt.date]] = []
    cuts: list[np.ndarray] = []
    for pieces in tracks:
        times = [pd.to_datetime(pc["time"], utc=True) for pc in pieces if len(pc)]
        if not times:
            days_of.append([])
            cuts.append(np.empty(0, dtype=np.int64))
            continue
        first = min(t.min() for t in times)
        last = max(t.max() for t in times)
        days, starts = local_midnights(first, last, timezone)
        days_of.append(days)
        cuts.append(starts)
    results = match_tracks_split(net, tracks, params, cuts) if tracks else []
    out = []
    for pieces, days, spans in zip(tracks, days_of, results, strict=True):
        found = DayMatches([], sum(1 for pc in pieces if len(pc)))
        # one result per day; a track without fixes has one, empty, and no day
        for day, res in zip(days, spans, strict=False):
            if res.total_points or len(res.edges):  # a day the track was on
                res.alongside = alongside(net, res.intervals)
                found.days.append((day, res))
                found.fixes.append((res.total_points, res.matched_points))
        out.append(found)
    return out
