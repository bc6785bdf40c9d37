"""The match queue: deferred uploads wait as ``tracks.status = 'queued'`` rows; workers drain them.

WHY PostgreSQL is the queue: a worker claims a batch with ``SELECT … FOR UPDATE SKIP LOCKED``
inside the transaction that writes the batch's patrol visits. Two workers never take the same
track, a worker that dies releases its claim with its connection (the tracks are still queued,
nothing half-written), and a deployment runs no broker beside the database it already has.
Batches are matched together (:func:`geo.tracks.match.match_tracks`: lockstep Viterbi), which
is what makes a city-day of thousands of patrols cheap.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.db import WORKER_NAME
from geo.errors import ConflictError, GridwardError, InputError, NotFoundError
from geo.settings import get_settings

if TYPE_CHECKING:
    from geo.patrol_visits import Rematch

Progress = Callable[[int, int], None]


@dataclass
class DrainReport:
    """What one drain did: tracks matched and failed, points, visits written; of the tracks
    matched before (a re-match), how many now credit their segments differently (by 1 m or
    more, or on other local days: ``days_moved``) and the metres gained and lost in all,
    summed per segment."""

    matched: int = 0
    failed: int = 0
    points: int = 0
    visits: int = 0
    rematched: int = 0
    changed: int = 0
    days_moved: int = 0  # tracks that credit 1 m or more to other local days than before
    moved_m: float = 0.0
    gained_m: float = 0.0
    lost_m: float = 0.0
    errors: dict[int, str] = field(default_factory=dict)
    # matched tracks that credit no segment, with the reason (as an upload is told)
    uncredited: dict[int, str] = field(default_factory=dict)
    # tracks waited for that another worker still held when the wait ran out (drain_queue)
    waiting: list[int] = field(default_factory=list)
    # per matched track: (points, visits), and its re-match outcome (for :meth:`only`)
    per_track: dict[int, tuple[int, int]] = field(default_factory=dict)
    walked: dict[int, Rematch] = field(default_factory=dict)
    # set by :meth:`only`: other tracks this drain matched or failed
    others: int | None = None

    def add_walked(self, walked: dict[int, Rematch]) -> None:
        self.walked.update(walked)
        for r in walked.values():
            if not r.rematch:
                continue
            self.rematched += 1
            self.changed += r.gained_m + r.lost_m >= 1.0 or r.moved_m >= 1.0
            self.days_moved += r.moved_m >= 1.0
            self.moved_m += r.moved_m
            self.gained_m += r.gained_m
            self.lost_m += r.lost_m

    def only(self, track_ids: list[int]) -> DrainReport:
        """This drain's outcome for ``track_ids`` alone, with ``others`` set to the count of
        other tracks it matched or failed. WHY: an upload's job drains the tracks queued
        before the uploader's too (other people's), and its totals counted them as theirs."""
        mine = set(track_ids)
        sub = DrainReport(
            matched=sum(1 for t in self.per_track if t in mine),
            failed=sum(1 for t in self.errors if t in mine),
            points=sum(p for t, (p, _) in self.per_track.items() if t in mine),
            visits=sum(v for t, (_, v) in self.per_track.items() if t in mine),
            errors={t: e for t, e in self.errors.items() if t in mine},
            uncredited={t: e for t, e in self.uncredited.items() if t in mine},
            waiting=self.waiting,
        )
        sub.add_walked({t: r for t, r in self.walked.items() if t in mine})
        sub.others = self.matched + self.failed - sub.matched - sub.failed
        return sub

    def as_dict(self) -> dict[str, Any]:
        out = {
            "matched": self.matched,
            "failed": self.failed,
            "points": self.points,
            "visits": self.visits,
            "rematched": self.rematched,
            "changed": self.changed,
            "days_moved": self.days_moved,
            "moved_m": round(self.moved_m, 1),
            "gained_m": round(self.gained_m, 1),
            "lost_m": round(self.lost_m, 1),
            "errors": {str(k): v for k, v in self.errors.items()},
            "uncredited": {str(k): v for k, v in self.uncredited.items()},
        }
        if self.others is not None:
            out["others_matched"] = self.others
        return out


# a watching worker's waits while the database is away (restart, failover): short at first,
# as a restart takes seconds, then no more than once a minute
OUTAGE_STEPS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)


# What a database that is away for now says (down, restarting, failing over, cut off): worth
# a wait. SQLSTATE 57P01-57P03 (administrator, crash shutdown; cannot connect now), class 08
# (the connection) and 53300 (too many connections) come with the words below or without any
_PASSING_STATES = ("57P01", "57P02", "57P03", "53300")
_PASSING = re.compile(
    r"connection refused|the database system is (shutting down|starting up|in recovery mode|"
    r"not yet accepting connections)|terminating connection due to administrator command|"
    r"server closed the connection|connection (to server )?(was )?lost|consuming input failed|"
    r"could not (send|receive) data|connection reset|ssl syscall|eof detected|timeout expired|"
    r"too many clients|no route to host|network is unreachable|"
    r"on socket .* failed: no such file or directory",
    re.IGNORECASE,
)


def outage(exc: BaseException) -> str | None:
    """Why ``exc`` means the database is away for now (down, restarting, refusing
    connections, a connection cut off: worth a retry), as one line; None for any other error.
    WHY: a watching worker exited for good on a restart, and deferred uploads waited until
    someone noticed. A batch cut off by one was rolled back whole (see :func:`drain_queue`),
    so it is claimed again.

    Not an outage, as waiting cannot mend it (outside tester Z2, N7: the worker retried each
    for ever after one log line): a refused password, an unknown database or host, a denied
    permission, any SetupError (a failed or newer-schema migration, a port in use, a bad
    setting, a lost cluster.json)."""
    from geo.embedded import ClusterStopped
    from geo.errors import db_failure

    if isinstance(exc, ClusterStopped):  # an admin's `db stop`: `db start` ends it (T36)
        return "数据库已停止 stopped with 'gridward db stop'"
    if isinstance(exc, GridwardError):
        return None
    failed = db_failure(exc)
    if failed is None or failed.kind != "unavailable":
        return None
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", "") or "")
    cut_off = bool(getattr(exc, "connection_invalidated", False))  # SQLAlchemy: a disconnect
    if cut_off or state in _PASSING_STATES or state.startswith("08") or _PASSING.search(str(orig)):
        return f"{failed.name}: {failed.line}"
    return None


# how often a running API (api.background.MatchSweeper) and a watching worker look for
# tracks an upload stored but never matched, and every how many of those looks the whole
# table is read (the others read only the tracks stored since the last look)
SWEEP_EVERY_S = 60.0
FULL_SWEEP_EVERY = 60


class AbandonedSweep:
    """Queue tracks an upload stored but never matched and that no one is matching now.

    Such a track (status ``stored``, no match) was left by a process killed mid-match: an
    inline upload matches its track within moments of storing it, holding the row
    ``FOR UPDATE`` while it matches. So a ``stored`` track that is unlocked and was stored
    over ``GRIDWARD_STALE_UPLOAD_S`` ago belongs to no live process; it is set ``queued``
    (claimed with ``FOR UPDATE SKIP LOCKED``, so a track being matched is skipped and each
    track is still matched once, whoever drains it). A fresh one, between its upload's insert
    and its match, is left alone.

    WHY a sweep that repeats (T47 #1): the API looked for them only when it started, and only
    at tracks stored over the stale age ago; a server killed mid-upload and restarted at once
    (systemd) left its track stored for good, and ``tracks worker`` ignored stored tracks.

    One object per process, called again and again (``queue``): the first call and every
    ``full_every``-th read the whole table; the others read only tracks above a floor (the
    lowest id that was still fresh or stored at the last look; the primary key's index), so
    a city's year of tracks is not scanned each minute. A track set back to ``stored`` under
    the floor (a re-send naming another datum, mode or clock) is found by the next full look.
    """

    def __init__(self, full_every: int = FULL_SWEEP_EVERY) -> None:
        self.floor: int | None = None
        self.full_every = max(int(full_every), 1)
        self.looks = 0

    def queue(self, engine: Engine, age_s: float | None = None) -> list[int]:
        """Queue the abandoned tracks; returns their ids (oldest first)."""
        age = get_settings().stale_upload_s if age_s is None else age_s
        full = self.floor is None or self.looks % self.full_every == 0
        floor = 0 if full else self.floor
        self.looks += 1
        stale = "uploaded_at < now() - make_interval(secs => :age)"
        with engine.begin() as conn:
            queued = conn.execute(
                text(
                    "UPDATE tracks SET status = 'queued', changed_at = now() WHERE id IN "
                    f"(SELECT id FROM tracks WHERE id > :floor AND status = 'stored' AND {stale} "
                    "FOR UPDATE SKIP LOCKED) RETURNING id"
                ),
                {"age": age, "floor": floor},
            ).scalars()
            ids = sorted(int(i) for i in queued)
            # the next look starts below the lowest track that may still turn abandoned: one
            # stored now (being matched, or fresh) or uploaded within the stale age (an insert
            # not yet committed is younger still)
            low = conn.execute(
                text(
                    "SELECT min(id) FROM tracks WHERE id > :floor "
                    f"AND (status = 'stored' OR NOT ({stale}))"
                ),
                {"age": age, "floor": floor},
            ).scalar()
            if low is None:
                low = (conn.execute(text("SELECT max(id) FROM tracks")).scalar() or 0) + 1
            self.floor = int(low) - 1
        return ids


def queued_count(engine: Engine) -> int:
    with engine.connect() as conn:
        q = text("SELECT count(*) FROM tracks WHERE status = 'queued'")
        return int(conn.execute(q).one()[0])


def left_queued(engine: Engine, age_s: float) -> int:
    """How many tracks queued over ``age_s`` ago no one holds now (a worker's or a drain's
    batch being matched holds its rows): left by a process that died, or waiting behind a
    backlog nobody is draining."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT id FROM tracks WHERE status = 'queued' AND "
                    "uploaded_at < now() - make_interval(secs => :age) "
                    "FOR UPDATE SKIP LOCKED) t"
                ),
                {"age": age_s},
            ).scalar_one()
        )


def worker_connected(engine: Engine) -> bool:
    """Whether a ``gridward tracks worker`` is connected to the database now (its
    connections are named ``gridward worker [pid]``: :func:`geo.db.program_name`). A worker
    drains the whole queue, oldest first, until it is empty (or, watching, for as long as
    it runs), so tracks waiting behind its backlog are not left: they are its next batches."""
    with engine.connect() as conn:
        q = text(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE :worker)"
        )
        return bool(conn.execute(q, {"worker": f"{WORKER_NAME} [%]"}).scalar())


def requeue_tracks(
    engine: Engine,
    track_ids: list[int] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    actor: str | None = None,
) -> tuple[int, int]:
    """Queue stored tracks again, for workers to re-match them (see :func:`drain_queue`).

    Use it after the street network changed (new or corrected alleys) or the matcher did.
    Patrol visits come from matching against the network of the day they were matched, and
    the uploads' bytes are kept so they can be recomputed. Give the tracks by id, or by the
    city's local days their walks fall on (``since`` to ``until``, both included; ``until``
    defaults to the city's today: "since" means from that day on, as everywhere else, T59 #5;
    a ``since`` after today is refused).

    Each batch replaces its tracks' visits in one transaction, so a report never sees a track
    half re-matched; until its batch is done, a track keeps its old visits.
    Returns (tracks queued now, tracks that were queued already).
    """
    if until is not None and since is None:
        raise InputError(
            "给了结束日期（until），还需给出起始日期（since） until needs since (the first day)"
        )
    if (track_ids is None) == (since is None):
        raise InputError(
            "请给出轨迹编号或起始日期，二者选一 "
            "give track ids or a first day (since), not both and not neither"
        )
    if since is not None:
        from geo.settings import city_today
        from geo.track_days import refuse_ahead

        refuse_ahead(since, "since")
        until = until or city_today()
    elif not track_ids:
        raise InputError("未给出轨迹编号，请至少给出一个 no track ids given")
    with engine.begin() as conn:
        if track_ids is not None:
            ids = sorted(set(track_ids))
            found = dict(
                conn.execute(
                    text("SELECT id, status FROM tracks WHERE id = ANY(:ids)"), {"ids": ids}
                ).all()
            )
            missing = [i for i in ids if i not in found]
            if missing:
                listed, listed_zh = _some(missing), _some_zh(missing)
                raise NotFoundError(f"轨迹 {listed_zh} 不存在 no such track: {listed}")
            withdrawn = [i for i in ids if found[i] == "withdrawn"]
            if withdrawn:  # matched again, it would be credited again
                listed, listed_zh = _some(withdrawn), _some_zh(withdrawn)
                raise ConflictError(
                    f"轨迹 {listed_zh} 已撤回，不再重新匹配（如撤回有误，请先 gridward "
                    "tracks restore ID 恢复） "
                    f"withdrawn, not matched again: track {listed} "
                    "(gridward tracks restore ID first, if it was withdrawn by mistake)"
                )
            where, params = "t.id = ANY(:ids)", {"ids": ids}
        else:
            from geo.track_days import SPAN_OVERLAPS, local_days

            # a withdrawn track's days are matched again without it
            where = f"{SPAN_OVERLAPS} AND t.status <> 'withdrawn'"
            params = local_days(since, until)  # refuses since > until
        already = conn.execute(
            text(f"SELECT count(*) FROM tracks t WHERE {where} AND t.status = 'queued'"), params
        ).scalar_one()
        queued = conn.execute(
            text(
                f"UPDATE tracks t SET status = 'queued', error = NULL, changed_at = now() "
                f"WHERE {where} AND t.status <> 'queued'"
            ),
            params,
        ).rowcount
        audit.record(
            conn,
            actor,
            "track.requeue",
            "track",
            None,
            {
                "track_ids": track_ids[:100] if track_ids else None,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "queued": queued,
            },
        )
    return int(queued or 0), int(already)


def _some(ids: list[int]) -> str:
    """Up to ten ids, and how many more."""
    more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    return ", ".join(str(i) for i in ids[:10]) + more


def _some_zh(ids: list[int]) -> str:
    """:func:`_some` in Chinese: up to ten ids, and how many more."""
    more = f" 等，另有 {len(ids) - 10} 条" if len(ids) > 10 else ""
    return "、".join(str(i) for i in ids[:10]) + more


# how often an upload's drain looks again while another worker holds its tracks (growing to
# the longest step), for at most GRIDWARD_MATCH_WAIT_S: a worker's batch of 200 long walks
# takes minutes, and the job must not end "done" before its own tracks are matched
WAIT_STEPS_S = (0.2, 0.5, 1.0, 2.0)


def drain_queue(
    engine: Engine,
    batch: int = 200,
    max_tracks: int | None = None,
    progress: Progress | None = None,
    waiting_for: list[int] | None = None,
    wait_s: float | None = None,
) -> DrainReport:
    """Match queued tracks, ``batch`` at a time, until the queue is empty (or ``max_tracks``).

    Each batch is one transaction: claim (skip rows other workers hold), read points, clean,
    match together, write visits, mark matched. A track whose match fails is marked failed with
    the reason and the rest of its batch still lands.

    ``waiting_for``: an upload's own tracks. The drain then stops once none of them is still
    queued (older tracks are claimed first, so the queue ahead of them is drained too, but the
    uploader does not wait for tracks sent after theirs), and ``progress`` counts those
    tracks only: whoever matched them, this drain or another worker.

    When nothing is left to claim but some of ``waiting_for`` are still queued, another
    worker holds them (its batch is being matched): the drain waits for it, looking again
    now and then (``progress`` is called each time, which keeps a job's heartbeat), for at
    most ``wait_s`` (default: the setting ``match_wait_s``), and claims them itself if that
    worker dies. WHY: it stopped at once, and an upload's job ended "done" with its tracks
    still queued. Tracks still queued after the wait are in ``rep.waiting``.
    """
    import time

    rep = DrainReport()
    if waiting_for:  # one file sent twice in an upload names its track twice
        waiting_for = sorted(set(waiting_for))
    total = len(waiting_for) if waiting_for else queued_count(engine)
    limit = get_settings().match_wait_s if wait_s is None else wait_s
    waited, step = 0.0, 0
    while max_tracks is None or rep.matched + rep.failed < max_tracks:
        left = _still_queued(engine, waiting_for) if waiting_for else None
        if left == 0:
            break
        size = batch if max_tracks is None else min(batch, max_tracks - rep.matched - rep.failed)
        done = _drain_batch(engine, size, rep)
        if done == 0 and waiting_for:
            left = _still_queued(engine, waiting_for)
            if left == 0:
                break
            if waited >= limit:
                rep.waiting = _queued_ids(engine, waiting_for)
                break
            pause = WAIT_STEPS_S[min(step, len(WAIT_STEPS_S) - 1)]
            time.sleep(pause)
            waited, step = waited + pause, step + 1
            if progress is not None:
                progress(total - left, total)
            continue
        if done == 0:
            break
        if progress is not None:
            if waiting_for:
                progress(total - _still_queued(engine, waiting_for), total)
            else:
                progress(rep.matched + rep.failed, max(total, rep.matched + rep.failed))
    return rep


def _queued_ids(engine: Engine, track_ids: list[int]) -> list[int]:
    with engine.connect() as conn:
        q = text("SELECT id FROM tracks WHERE status = 'queued' AND id = ANY(:ids) ORDER BY id")
        return [int(i) for i in conn.execute(q, {"ids": track_ids}).scalars()]


def _still_queued(engine: Engine, track_ids: list[int]) -> int:
    with engine.connect() as conn:
        q = text("SELECT count(*) FROM tracks WHERE status = 'queued' AND id = ANY(:ids)")
        return int(conn.execute(q, {"ids": track_ids}).one()[0])


def _drain_batch(engine: Engine, size: int, rep: DrainReport) -> int:
    from geo.day_networks import match_on_day_networks, walk_network
    from geo.match_words import why_nothing_matched
    from geo.patrol_visits import MatchSummary, summarize, visit_rows, write_visits
    from geo.track_judging import judge_matched
    from geo.track_points import read_track_points
    from geo.track_store import set_failed
    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.match import MatchParams

    tz = get_settings().timezone
    with engine.begin() as conn:
        claimed = conn.execute(
            text(
                "SELECT id, person_id, mode, crs FROM tracks WHERE status = 'queued' ORDER BY id "
                "LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": size},
        ).all()
        if not claimed:
            return 0
        pts = read_track_points(conn, [r.id for r in claimed])
        by_track = dict(tuple(pts.groupby("track_id", sort=False)))
        rows: list[dict[str, Any]] = []
        summaries: dict[int, MatchSummary] = {}
        failed: dict[int, str] = {}
        accuracy = get_settings().max_accuracy_m
        cleans = {
            m: CleanParams(mode=m, max_accuracy_m=accuracy) for m in {r.mode for r in claimed}
        }
        reports = {
            r.id: clean_with_report(by_track[r.id], cleans[r.mode])
            for r in claimed
            if r.id in by_track
        }
        # the network is read on this connection: the batch holds it, and a second one from
        # the pool while holding it could wait on a pool exhausted by holders like it
        walk_network(conn)  # none stored: raises, and the batch stays queued (rolled back)
        modes: dict[str, list[Any]] = {}
        for r in claimed:
            modes.setdefault(r.mode, []).append(r)
        for mode, group in sorted(modes.items()):
            params, clean = MatchParams.for_mode(mode), cleans[mode]
            cleaned = [reports[r.id][0] if r.id in reports else [] for r in group]
            try:  # each day of each walk on the network of that day (today's, nearly always)
                results = match_on_day_networks(conn, cleaned, params, tz)
            except GridwardError:
                # one bad track must not sink its batch: match one by one, recording failures
                results = [
                    _match_one(conn, c, params, tz, r.id, failed)
                    for c, r in zip(cleaned, group, strict=True)
                ]
            for r, found in zip(group, results, strict=True):
                if found is None:
                    continue
                res = found.matches
                new_rows = visit_rows(r.id, r.person_id, res)
                if not new_rows and r.id in reports:  # say why, as an upload does
                    rep.uncredited[r.id] = why_nothing_matched(
                        reports[r.id][1], clean, params, res.matched_points
                    )
                rows.extend(new_rows)
                net = found.net or walk_network(conn)
                summaries[r.id] = summarize(net, res, by_track.get(r.id, pts.iloc[:0]), r.crs)
                rep.points += res.total_points
                rep.per_track[r.id] = (res.total_points, len(new_rows))
        if summaries:
            rep.add_walked(write_visits(conn, rows, summaries))
            judge_matched(conn, list(summaries))  # their flags, with their visits
        for tid, reason in failed.items():
            set_failed(conn, tid, reason)
        rep.errors.update(failed)
        rep.matched += len(summaries)
        rep.failed += len(failed)
        rep.visits += len(rows)
    return len(claimed)


def _match_one(
    conn: Connection, cleaned: list, params: Any, tz: str, track_id: int, failed: dict
) -> Any:
    from geo.day_networks import match_on_day_networks

    try:
        return match_on_day_networks(conn, [cleaned], params, tz)[0]
    except GridwardError as exc:
        failed[track_id] = exc.message
        return None
