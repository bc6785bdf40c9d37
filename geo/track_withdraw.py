"""Withdrawing a track uploaded by mistake (撤回轨迹), and restoring one withdrawn by mistake.

A wrong file, someone else's walk or a test walk kept its credit in every daily, weekly and
monthly report. Withdrawing it is a soft delete, in one transaction:

* its patrol visits (the only thing the reports count) and its fixes (``track_points``, the
  day tables of :mod:`geo.track_partitions`) are deleted; its match history
  (``track_matches``) stays, as the record of what it had been credited;
* its row and uploaded bytes stay (nothing a steward sent is lost; the audit names the file),
  with ``status = 'withdrawn'`` and when, by whom and why. Every reader driven by status (the
  match queue, the stale-upload drain, the reports' "waiting" note) passes it by, so a queued
  track is withdrawn straight out of the queue; one being matched right now (its row locked)
  is a 409: withdraw it once its match is written;
* the audit log gets ``track.withdraw``: the track, its file's sha256, whose walk and its
  local days, the credit taken away, who withdrew it and why.

WHY soft: the same bytes sent again (a phone's retry, a folder uploaded again) must not bring
back what a supervisor withdrew, and only a kept row can say so (:mod:`geo.track_store`
refuses them, naming the withdrawal). Any other file of a withdrawn walk's fixes is refused
too, at any times (``fixes_sha256``: an outside tester re-dated a withdrawn walk and was
credited), and so is a stretch of it, or the walk with fixes added (T41 #1: sent by another
steward, each was stored and credited her): a withdrawn walk comes back only by
:func:`restore_track`, and is put right there (reassigned to its walker, or its corrected
file sent again). One file is still taken: the walk with fixes added, for its own person,
from someone who may restore it (the walker's corrected longer export after she withdrew
her cut-short upload; :func:`geo.track_store._withdrawn_walk`).

Who may: see :func:`may_withdraw` and :func:`may_restore` (the API applies them; the CLI is
the operator's, as for every other command).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from geo import audit
from geo.accounts import Principal
from geo.area_paths import AreaPath, area_path
from geo.duty_undo import parse_reason
from geo.errors import ConflictError, GridwardError, NotFoundError, parse_row_id
from geo.settings import get_settings
from geo.track_days import local_iso
from geo.walk_digest import NEAR_M

# how long a withdrawal waits for a track's row: a claim or mode change holds it for
# milliseconds, a match for up to minutes (then the withdrawal is a 409, not a hung request)
LOCK_WAIT = "2s"
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class TrackOwner:
    """What the rule of who may withdraw or restore a track reads: whose walk it is (and
    where that person lives), who uploaded it, who withdrew it."""

    track_id: int
    person_id: int | None
    uploaded_by: str | None
    home: AreaPath  # the area path of the person's home; () for none or no person
    withdrawn_by: str | None = None
    status: str | None = None  # the track's status (None: not told)
    name: str | None = None  # the person's name and registry id, for a 403 naming them
    external_id: str | None = None


Authorize = Callable[[TrackOwner], None]


def may_withdraw(user: Principal, owner: TrackOwner) -> bool:
    """Whether ``user`` may withdraw the track. Admins: any. A steward: their own walks (the
    person their account is linked to), as they upload and read only those. A planner: walks
    of people living in their areas (as ``PATCH /tracks/{id}`` reassigns and the upload
    checks), and a file they uploaded themselves for nobody (their own mistake). Viewers: none.

    WHY the person rule wins over "they uploaded it" (T51 #1): a planner uploaded a walk for
    nobody, an admin then gave it to a steward of another district, and the planner's
    withdrawal took that steward's credit out of the other district's reports (and her
    restore put it back), while the upload and ``PATCH`` for that person were 403s. Once a
    track has a person, only where that person lives counts."""
    if user.role == "admin":
        return True
    if user.role == "steward":
        return user.person_id is not None and owner.person_id == user.person_id
    if user.role == "planner":
        if owner.person_id is not None:
            return user.covers_area(owner.home)
        return owner.uploaded_by is not None and owner.uploaded_by == user.username
    return False


def may_restore(user: Principal, owner: TrackOwner) -> bool:
    """Whether ``user`` may restore a withdrawn track: admins and planners as for
    :func:`may_withdraw`; a steward only what they withdrew themselves. WHY: a supervisor's
    withdrawal (someone else's walk sent as theirs) must stand against the steward.

    A track that is not withdrawn (restored already, never withdrawn): whoever may withdraw
    it, so that its own steward hears it is not withdrawn (409) as an admin does. WHY (T40
    #5): a restore clears ``withdrawn_by``, so her retry of a restore that had succeeded was
    a 403 saying she may restore only her own tracks, about her own track."""
    if user.role == "steward":
        if owner.status is not None and owner.status != "withdrawn":
            return may_withdraw(user, owner)
        return may_withdraw(user, owner) and owner.withdrawn_by == user.username
    return may_withdraw(user, owner)


def parse_track_id(value: Any) -> int:
    """A track id given as a number or text; InputError naming it otherwise."""
    return parse_row_id(
        value,
        "track",
        "give the whole number the upload printed (轨迹编号 track id, GET /tracks lists them)",
    )


def withdraw_track(
    engine: Engine,
    track: int | str,
    reason: str | None = None,
    actor: str | None = None,
    authorize: Authorize | None = None,
) -> dict[str, Any]:
    """Withdraw track ``track`` (see the module docstring); ``authorize(owner)`` raises when
    the caller may not (called before anything else about the track is told). NotFoundError
    for no such track, ConflictError when it is withdrawn already or being matched now.
    Returns what was taken away, JSON-ready."""
    track_id = parse_track_id(track)
    reason = parse_reason(reason)
    with engine.begin() as conn:
        row = _locked(conn, track_id, authorize)
        if row.status == "withdrawn":
            words, words_zh = withdrawn_words(row), withdrawn_words_zh(row)
            raise ConflictError(f"轨迹 {track_id} {words_zh}，无需再撤回 track {track_id} {words}")
        credit = _credit(conn, track_id)
        fixes = _drop_fixes(conn, row)
        conn.execute(text("DELETE FROM patrol_visits WHERE track_id = :t"), {"t": track_id})
        when = conn.execute(
            text(
                "UPDATE tracks SET status = 'withdrawn', withdrawn_at = now(), "
                "withdrawn_by = :by, withdraw_reason = :why, changed_at = now() "
                "WHERE id = :t RETURNING withdrawn_at"
            ),
            {"t": track_id, "by": actor, "why": reason},
        ).scalar_one()
        detail = {
            "sha256": row.sha256,
            "filename": row.filename,
            "person_id": row.person_id,
            "person": row.external_id,
            "uploaded_by": row.uploaded_by,
            "days": _local_days(row.started_at, row.ended_at),
            "status_before": row.status,
            "visits": credit["visits"],
            "walked_m": credit["walked_m"],
            "streets": credit["streets"],
            # the walk's fixes, and how many rows of them were deleted (none for a restored
            # track or one past retention: those are read from the kept file)
            "fixes": row.n_points,
            "fixes_deleted": fixes,
            "reason": reason,
        }
        entry = audit.record(conn, actor, "track.withdraw", "track", track_id, detail)
    return {
        "track_id": track_id,
        "status": "withdrawn",
        "status_label": status_label("withdrawn"),
        "withdrawn_at": local_iso(when),
        "withdrawn_by": actor,
        **detail,
        # a deferred upload still waiting: out of the queue with its withdrawal
        "dequeued": row.status == "queued",
        "audit_id": entry,
    }


def restore_track(
    engine: Engine,
    track: int | str,
    reason: str | None = None,
    actor: str | None = None,
    authorize: Authorize | None = None,
) -> dict[str, Any]:
    """Undo a withdrawal made by mistake: the track is stored again and matched (its fixes
    re-read from the kept upload and written back: :func:`_fixes_back`), so its credit
    comes back. Refused (409) when it is not
    withdrawn, or when another track now holds the same walk (a corrected upload sent
    after the withdrawal: both would be credited; :func:`_refuse_a_second_copy`). Audit
    ``track.restore``."""
    from geo.track_points import read_track_points
    from geo.track_store import match_held, set_failed

    track_id = parse_track_id(track)
    reason = parse_reason(reason)
    with engine.begin() as conn:
        row = _locked(conn, track_id, authorize)
        if row.status != "withdrawn":
            raise ConflictError(
                f"轨迹 {track_id} 未撤回（状态 {row.status}："
                f"{STATUS_ZH.get(row.status, row.status)}），无需恢复 "
                f"track {track_id} is not withdrawn (status {row.status})"
            )
        # its fixes, re-read from the kept upload (the withdrawal deleted them)
        points = read_track_points(conn, [track_id]).drop(columns="track_id")
        _refuse_a_second_copy(conn, row, points)
        conn.execute(
            text(
                "UPDATE tracks SET status = 'stored', error = NULL, withdrawn_at = NULL, "
                "withdrawn_by = NULL, withdraw_reason = NULL, changed_at = now() WHERE id = :t"
            ),
            {"t": track_id},
        )
        was = {
            "withdrawn_at": local_iso(row.withdrawn_at),
            "withdrawn_by": row.withdrawn_by,
            "withdraw_reason": row.withdraw_reason,
        }
        detail = {"sha256": row.sha256, "person_id": row.person_id, **was, "reason": reason}
        entry = audit.record(conn, actor, "track.restore", "track", track_id, detail)
        out: dict[str, Any] = {"track_id": track_id, "restored": was, "audit_id": entry}
        # Matched here, with the row still held. WHY: matched after the commit, a second
        # restore sent at once (a double click) held the row while it found it restored
        # already, the first one's match skipped the locked row as "being matched", and the
        # track stayed unmatched with its credit gone (an outside tester, 6 of 6 races)
        _fixes_back(conn, row, points)
        try:
            with conn.begin_nested():
                found = match_held(conn, track_id, points)
        except GridwardError as exc:  # restored, with the reason, as an upload that fails
            set_failed(conn, track_id, exc.message)
            failed = {"status": "failed", "status_label": status_label("failed")}
            return {**out, **failed, "match_error": exc.message}
    return {**out, "status": "matched", "status_label": status_label("matched"), "match": found}


def _fixes_back(conn: Connection, row: Any, pts: pd.DataFrame) -> None:
    """A restored track's fixes ``pts`` (re-read from its kept upload) written back to
    ``track_points`` when its days' tables are there (the withdrawal deleted them; without
    them its page and every re-match re-parsed the file, and a second withdrawal had no
    fixes to delete). Days that retention dropped meanwhile stay dropped: their fixes are
    read from the file, as any old track's (:func:`geo.track_points.read_track_points`)."""
    from geo.track_partitions import day_partitions, days_between
    from geo.track_points import copy_points

    if not len(pts) or row.started_at is None or row.ended_at is None:
        return
    there = {d for d, _ in day_partitions(conn)}
    if set(days_between(row.started_at, row.ended_at)) <= there:
        copy_points(conn, int(row.id), pts)


_TRACK_ROW = (
    "SELECT t.id, t.sha256, t.filename, t.person_id, t.uploaded_by, t.started_at, "
    "t.n_points, t.ended_at, t.status, t.fixes_sha256, t.withdrawn_at, t.withdrawn_by, "
    "t.withdraw_reason, p.external_id, p.name, a.code AS home "
    "FROM tracks t LEFT JOIN people p ON p.id = t.person_id "
    "LEFT JOIN areas a ON a.id = p.area_id WHERE t.id = :t"
)


def _locked(conn: Connection, track_id: int, authorize: Authorize | None = None) -> Any:
    """The track's row locked for this transaction (NotFoundError without one), once
    ``authorize`` (when given) lets the caller act on it. A row held longer than LOCK_WAIT
    is a track being matched: ConflictError saying so.

    ``authorize`` is asked first on the row read without waiting for its lock, then again on
    the locked row (its person or status may have changed meanwhile). WHY (T40 leftover): the
    lock came first, so someone who may not touch the track (another steward, a planner of
    other areas) heard "track N is being matched right now" instead of their 403."""
    if authorize is not None:
        seen = conn.execute(text(_TRACK_ROW), {"t": track_id}).first()
        if seen is None:
            raise NotFoundError(f"轨迹 {track_id} 不存在 track {track_id} does not exist")
        authorize(_owner(conn, seen))
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    try:
        row = conn.execute(text(_TRACK_ROW + " FOR UPDATE OF t"), {"t": track_id}).first()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise ConflictError(
            f"轨迹 {track_id} 正在匹配（某次上传或 tracks worker 占用着它），请匹配完成后再试"
            f"（GET /tracks/{track_id} 可查看其状态） "
            f"track {track_id} is being matched right now "
            "(an upload or a tracks worker holds it): try again once it is matched "
            f"(GET /tracks/{track_id} shows its status)"
        ) from None
    conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    if row is None:
        raise NotFoundError(f"轨迹 {track_id} 不存在 track {track_id} does not exist")
    if authorize is not None:
        authorize(_owner(conn, row))
    return row


def track_owner(engine: Engine, track_id: int) -> TrackOwner:
    """Whose track ``track_id`` is, as :func:`may_withdraw` and :func:`may_restore` read it
    (NotFoundError for none). WHY: an upload of a file holding a withdrawn walk asks
    whether its uploader may restore it (geo.track_store._withdrawn_walk, T41 #1)."""
    with engine.connect() as conn:
        row = conn.execute(text(_TRACK_ROW), {"t": track_id}).first()
        if row is None:
            raise NotFoundError(f"轨迹 {track_id} 不存在 track {track_id} does not exist")
        return _owner(conn, row)


def _owner(conn: Connection, row: Any) -> TrackOwner:
    home = area_path(conn, row.home) if row.home else ()
    return TrackOwner(
        int(row.id),
        row.person_id,
        row.uploaded_by,
        home,
        row.withdrawn_by,
        row.status,
        row.name,
        row.external_id,
    )


def withdrawn_words(row: Any) -> str:
    """The words "was withdrawn on DAY by WHO: WHY" of a tracks row (``withdrawn_at``,
    ``withdrawn_by``, ``withdraw_reason``), its day in the city's time."""
    day = local_iso(row.withdrawn_at)[:10]
    why = f": {row.withdraw_reason}" if row.withdraw_reason else ""
    return f"was withdrawn on {day} by {row.withdrawn_by or 'unknown'}{why}"


def withdrawn_words_zh(row: Any) -> str:
    """:func:`withdrawn_words` in Chinese: "已撤回（DAY 由 WHO 撤回；原因：WHY）"."""
    day = local_iso(row.withdrawn_at)[:10]
    why = f"；原因：{row.withdraw_reason}" if row.withdraw_reason else ""
    return f"已撤回（{day} 由 {row.withdrawn_by or '未知账号'} 撤回{why}）"


# a track's status in Chinese, for the messages that name it
STATUS_ZH = {
    "stored": "已存储",
    "queued": "排队等待匹配",
    "matched": "已匹配",
    "failed": "匹配失败",
    "withdrawn": "已撤回",
    "matching": "正在匹配",  # an upload's answer: another upload or worker holds it
}


def status_label(status: str | None) -> str | None:
    """A track's status for a person reading an answer: the Chinese, then the code as the
    ``status`` field gives it ("已匹配 matched"). WHY (T40 #14): the answers gave the English
    codes only; ``status`` stays as it is for scripts."""
    if status is None:
        return None
    zh = STATUS_ZH.get(status)
    return f"{zh} {status}" if zh else status


def _credit(conn: Connection, track_id: int) -> dict[str, Any]:
    """The track's patrol visits and the metres they credit (as ``track_matches`` counts
    them), before they go."""
    row = conn.execute(
        text(
            "SELECT count(*) AS n, coalesce(sum(v.covered_fraction * s.length_m), 0) AS m, "
            # the streets it credited: a closed period's note names the withdrawal only in
            # the reports of their areas (geo.closed_changes; T56 #1)
            "coalesce(array_agg(DISTINCT s.street_id ORDER BY s.street_id), '{}') AS streets "
            "FROM patrol_visits v JOIN street_segments s ON s.id = v.segment_id "
            "WHERE v.track_id = :t"
        ),
        {"t": track_id},
    ).one()
    return {
        "visits": int(row.n),
        "walked_m": round(float(row.m), 1),
        "streets": [int(x) for x in row.streets if x is not None],
    }


def _drop_fixes(conn: Connection, row: Any) -> int:
    """Delete the track's fixes, searching only the day tables of its span."""
    return conn.execute(
        text(
            "DELETE FROM track_points WHERE track_id = :t "
            "AND t >= coalesce(CAST(:a AS timestamptz), '-infinity') "
            "AND t <= coalesce(CAST(:b AS timestamptz), 'infinity')"
        ),
        {"t": row.id, "a": row.started_at, "b": row.ended_at},
    ).rowcount


def _local_days(start: dt.datetime | None, end: dt.datetime | None) -> list[str]:
    """The city's local days the walk falls on (the days whose reports it credited)."""
    if start is None or end is None:
        return []
    zone = ZoneInfo(get_settings().timezone)
    d0, d1 = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


def _refuse_a_second_copy(conn: Connection, row: Any, pts: pd.DataFrame) -> None:
    """ConflictError when a live track holds the same walk, by the upload's rule
    (:func:`geo.track_copies.walk_holder`): the same fixes, or these fixes nudged (each by
    under a metre, or these a part of its). WHY not the digest alone: a corrected file
    sent after the withdrawal (the whole walk, of which the withdrawn file was a part) was
    stored, and the restore credited the walk twice."""
    from geo.track_copies import OwnedByAnother, walk_holder

    if row.fixes_sha256 is None or not len(pts):  # too few positions to know a walk by
        return
    other, near, _ = walk_holder(conn, row.fixes_sha256, pts, live_other_than=int(row.id))
    if other is not None:
        how = f"{row.id}'s fixes lie within {NEAR_M:g} m of its" if near else "the same fixes"
        how_zh = f"轨迹 {row.id} 的定位点与它相差不到 {NEAR_M:g} 米" if near else "定位点相同"
        full = (
            f"轨迹 {other.id} 与轨迹 {row.id} 是同一次巡查（{how_zh}），恢复 {row.id} 会重复计入；"
            f"请先撤回 {other.id}，或让 {row.id} 保持撤回 "
            f"track {other.id} holds the same walk ({how}): "
            f"restoring {row.id} would credit it twice; withdraw {other.id} first, or leave "
            f"{row.id} withdrawn"
        )
        # WHY (T40 leftover, as T39 M2 for uploads): a steward restoring her own walk read
        # the id of another person's track; said to her (api.routes.tracks) without it
        same_person = other.person_id is not None and other.person_id == row.person_id
        anonymous = (
            f"他人已上传的一条轨迹记录着同一次巡查，恢复轨迹 {row.id} 会重复计入，未恢复；"
            "如那是您本人的巡查，请联系规划员处理 another person uploaded this walk "
            f"already: restoring track {row.id} would credit it twice; not restored (if "
            "it is yours, ask a planner)"
        )
        raise OwnedByAnother(full, full if same_person else anonymous)
