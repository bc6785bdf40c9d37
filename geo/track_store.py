"""Patrol tracks in PostGIS: store an upload (raw bytes kept), match it, record patrol visits.

An upload is accepted only when it parses (:func:`geo.tracks.parse.parse_track`); then its raw
bytes, sha256 and points are written in one transaction. The same bytes uploaded again give the
same track (the sha256 is unique), so a phone that retries after a lost response never makes a
duplicate. Matching reads the stored points, cleans them, matches them to the walkable network
(street segments) and replaces that track's patrol visits, again in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import shapely
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.crs import normalize_crs
from geo.errors import ConflictError, InputError, NotFoundError, person_zh
from geo.settings import Settings, city_today, get_settings
from geo.sql_frames import read_frame, read_geoframe
from geo.track_partitions import days_between, ensure_day_partitions
from geo.walk_digest import (
    CENTER_RADIUS_DEG,
    NEAR_M,
    fixes_center,
    fixes_digest,
    near_copy,
    zone_shift,
)

# Tracks (alias ``t``) whose walk overlaps the time range [:start, :end); either bound may be
# NULL (open). Written as the expression of the GiST index ix_tracks_span so it is used.
SPAN_OVERLAPS = (
    "t.started_at IS NOT NULL AND tstzrange(t.started_at, t.ended_at, '[]') && "
    "tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz), '[)')"
)

# the newest match of track ``t`` (a LATERAL subquery): its summary for listings
LAST_MATCH = (
    "SELECT matched_at, matched_points, pieces, datum_hint FROM track_matches "
    "WHERE track_id = t.id ORDER BY id DESC LIMIT 1"
)


# the days a walk can fall on (uploads refuse fixes before 1990 or after 2100): a date outside
# is a typo, and year 9999 + 1 day overflowed into a 500
EARLIEST_DAY, LATEST_DAY = dt.date(1990, 1, 1), dt.date(2100, 12, 31)
_DAY_ZH = {"since": "起始日期", "until": "结束日期"}
_MODE_ZH = {"walk": "步行", "bike": "骑行"}


def local_days(
    since: dt.date | None, until: dt.date | None, tz: str | None = None
) -> dict[str, dt.datetime | None]:
    """``{"start", "end"}`` for SPAN_OVERLAPS: the local days ``since`` to ``until`` (both
    included) in the city's time zone as a UTC-comparable range; a missing day leaves that
    side open. Reports, rematch and listings all count a walk on its local day."""
    if since is not None and until is not None and since > until:
        raise InputError(
            f"起始日期 {since} 晚于结束日期 {until}，请对调 since {since} is after until {until}"
        )
    for name, day in (("since", since), ("until", until)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InputError(
                f"{_DAY_ZH[name]}（{name}）{day} 超出范围，巡查日期须在 {EARLIEST_DAY} 至 "
                f"{LATEST_DAY} 之间 "
                f"{name} {day} is out of range: walks are dated {EARLIEST_DAY} to {LATEST_DAY}"
            )
    zone = ZoneInfo(tz or get_settings().timezone)

    def midnight(day: dt.date | None) -> dt.datetime | None:
        return None if day is None else dt.datetime.combine(day, dt.time.min, tzinfo=zone)

    return {
        "start": midnight(since),
        "end": midnight(until + dt.timedelta(days=1) if until is not None else None),
    }


@dataclass(frozen=True)
class StoredTrack:
    """The outcome of one upload."""

    track_id: int
    sha256: str
    created: bool
    n_points: int
    format: str
    started_at: str | None
    ended_at: str | None
    # the same file again with another datum: the stored track's datum before ("from"), after
    # ("to"), and whether it was changed (see _correct_crs)
    crs_change: dict[str, Any] | None = None
    # a file stored before for nobody, now credited to this person (see _claim)
    person_set: int | None = None
    # the mode it is matched in (walk, bike), and the same file sent with another mode
    # named: {"from", "to"}, the track matched again in it (see _change_mode)
    mode: str = "walk"
    mode_change: dict[str, str] | None = None
    # the same fixes sent with every time moved by a time zone: {"from", "to", "shift_h"}, the
    # track's times put right and matched again (see _same_walk)
    time_change: dict[str, Any] | None = None
    # what the reader left out of a new file and why (summary rows, fixes without times, bad
    # rows: ParsedTrack.warnings), so the uploader hears of it as `tracks check` says it
    warnings: list[str] = field(default_factory=list)
    # stored before: "same_file" (these bytes), "same_walk" (its fixes, in other bytes); None
    # for a new track. WHY (T40 #10): ``created: false`` alone did not say which
    duplicate: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = self.__dict__.copy()
        for key in ("crs_change", "person_set", "mode_change", "time_change"):
            if out[key] is None:
                del out[key]
        if not out["warnings"]:
            del out["warnings"]
        return out


def _person_exists(engine: Engine, person_id: int) -> None:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM people WHERE id = :p"), {"p": person_id}).first()
    if found is None:
        raise InputError(
            f"系统编号为 id:{person_id} 的人员不存在 person {person_id} does not exist"
        )


def store_track(
    engine: Engine,
    data: bytes,
    filename: str | None,
    crs: str = "wgs84",
    person_id: int | None = None,
    uploaded_by: str | None = None,
    settings: Settings | None = None,
    mode: str | None = None,
    queue: bool = False,
    may_restore: Callable[[int], bool] | None = None,
) -> StoredTrack:
    """Parse and store one uploaded file; idempotent on its bytes.

    ``queue``: leave it in the match queue (status ``queued``) for :mod:`geo.match_queue`.
    ``may_restore``: see :func:`ingest_track`."""
    name = clean_filename(filename)
    return _store(
        engine, data, name, crs, person_id, uploaded_by, settings, mode, queue, may_restore
    )[0]


def ingest_track(
    engine: Engine,
    data: bytes,
    filename: str | None,
    crs: str = "wgs84",
    person_id: int | None = None,
    uploaded_by: str | None = None,
    mode: str | None = None,
    queue: bool = False,
    may_restore: Callable[[int], bool] | None = None,
) -> dict[str, Any]:
    """Store an upload and, when it is new, match it (the points parsed once serve both).

    A new track that cannot be matched stays stored with the reason (``status: failed``);
    nothing a steward sent is dropped. Bad files raise InputError as :func:`store_track` does.
    ``queue``: store only; the track waits in the match queue (:mod:`geo.match_queue`).
    A re-send of a file whose track was never matched matches (or queues) it now
    (:func:`_resume`). The file name is stored cleaned (:func:`clean_filename`).
    ``may_restore(track_id)``: whether the uploader may restore that withdrawn track (the
    API's rule, :func:`geo.track_withdraw.may_restore`); None: the operator, who may. Read
    only for a file holding a withdrawn walk of its own person (:func:`_same_walk`).
    """
    filename = clean_filename(filename)
    stored, points = _store(
        engine, data, filename, crs, person_id, uploaded_by, mode=mode, queue=queue,
        may_restore=may_restore,
    )  # fmt: skip
    item: dict[str, Any] = {"filename": filename or upload_name(stored.format)}
    item.update(stored.as_dict())
    if stored.duplicate == "same_file":  # said, not only ``created: false`` (T40 #11)
        item["note"] = (
            f"同一文件已存储为轨迹 {stored.track_id}，未再次存储 the same file is stored "
            f"already as track {stored.track_id}: not stored again"
        )
    for warning in _credit_warnings(stored, person_id):
        item.setdefault("warnings", []).append(warning)
    if person_id is not None:
        with engine.connect() as conn:
            left = leaver_warning(conn, person_id, stored.track_id, "上传")
        if left:
            item.setdefault("warnings", []).append(left)
    if points is not None and queue:
        item["status"] = "queued"
    elif points is not None:  # a new track, or one whose datum was corrected
        _match_into(
            item,
            engine,
            stored.track_id,
            lambda: match_stored_track(
                engine, stored.track_id, stored.mode, points, if_unmatched=stored.created
            ),
        )
    else:
        _resume(item, engine, stored.track_id, queue)
    return item


def _credit_warnings(stored: StoredTrack, person_id: int | None) -> list[str]:
    """Why a stored walk credits nobody, said at upload (WHY: an officer uploading a folder
    of stewards' files without a person, or a steward choosing bike, was told "matched" and
    believed the walks counted)."""
    out = []
    if stored.created and person_id is None:
        out.append(
            "未指定人员，这条轨迹不计入任何人的巡查，直到交给它的小巷管家（带上人员重新发送，或 "
            f"gridward tracks reassign --track {stored.track_id} --person ID） "
            "no person given: this walk credits nobody until it is "
            "given to its steward (send it again with the person, or gridward tracks reassign "
            f"--track {stored.track_id} --person ID)"
        )
    credited = get_settings().credited()
    if stored.mode not in credited:
        out.append(
            f"出行方式 {stored.mode}（{_MODE_ZH.get(stored.mode, stored.mode)}）的轨迹已匹配"
            f"并显示，但只有 {', '.join(credited)} 轨迹计入巡查（GRIDWARD_CREDITED_MODES）；"
            "如是步行，请以 walk 方式重新发送 mode "
            f"{stored.mode}: matched and shown, but only {', '.join(credited)} tracks count as "
            "patrols (GRIDWARD_CREDITED_MODES); send it again with mode walk if it was walked"
        )
    return out


# the duties a walk credits (geo.patrol_reports reads these two roles' duties per day)
_PATROL_ROLES = ["alley_steward", "street_chief"]


def leaver_warning(conn: Connection, person_id: int, track_id: int, done: str) -> str | None:
    """A warning when track ``track_id`` is ``done`` (上传 an upload, 改归 a reassignment) for a
    person who has left (``people.active`` false), else None. The track is kept either way (a
    walk from before they left may come in late); what it credits is said as the reports
    count it: a walk credits the person's patrol duties in force on its local day, whatever
    ``active`` says, and leaving ended every duty of theirs from the leave day
    (:func:`geo.duties.person_leaves`). So a walk from before they left still counts, and
    one without a duty on its day counts only once they are back and given a duty covering
    that day. WHY: a leaver's upload, account and reassignment were taken without a word
    (outside tester T37, F12)."""
    tz = get_settings().timezone
    row = conn.execute(
        text(
            "SELECT p.name, p.external_id, p.active, d.first, d.last, EXISTS (SELECT 1 FROM "
            "assignments a WHERE a.person_id = p.id AND a.role = ANY(:roles) "
            "AND a.valid_from <= d.last AND (a.valid_to IS NULL OR a.valid_to >= d.first)) "
            "AS held FROM people p CROSS JOIN (SELECT CAST(t.started_at AT TIME ZONE :tz AS "
            "date) AS first, CAST(t.ended_at AT TIME ZONE :tz AS date) AS last FROM tracks t "
            "WHERE t.id = :t) d WHERE p.id = :p"
        ),
        {"p": person_id, "t": track_id, "tz": tz, "roles": _PATROL_ROLES},
    ).first()
    if row is None or row.active:
        return None
    who_zh = person_zh(row.name, row.external_id, person_id)
    who = f"person {row.name} ({row.external_id}, id:{person_id})"
    kept_zh, kept = ("轨迹已改归此人", "the track is theirs now") if done == "改归" else (
        "轨迹照常保存", "the track is stored")  # fmt: skip
    if row.first is None:  # a track without times: its day is unknown
        days_zh = days = "?"
    elif row.first == row.last:
        days_zh = days = str(row.first)
    else:
        days_zh, days = f"{row.first} 至 {row.last}", f"{row.first} to {row.last}"
    if row.held:
        return (
            f"人员 {who_zh}已离岗；{kept_zh}，按行走当天（{days_zh}）此人仍有效的巡查职责"
            f"计入巡查 {who} has left (inactive); {kept} and credits the patrol duties "
            f"they still held on the day walked ({days})"
        )
    return (
        f"人员 {who_zh}已离岗，行走当天（{days_zh}）此人没有有效的巡查职责（小巷管家或街巷长）："
        f"{kept_zh}，但不计入任何巡查；如此人已回岗，请先重新启用（gridward import people "
        "名册文件 --reactivate，名册文件中须列有此人；API：POST /people/import?reactivate=true），"
        f"再安排包含这一天的职责 {who} has left (inactive) and held no patrol duty (alley "
        f"steward or street chief) on the day walked ({days}): {kept} but credits no patrol; "
        "if they are back, bring them back first (gridward import people FILE --reactivate, "
        "FILE a registry listing them; API: POST /people/import?reactivate=true), then give "
        "them a duty covering that day"
    )


def _match_into(
    item: dict[str, Any],
    engine: Engine,
    track_id: int,
    run: Callable[[], dict[str, Any] | None],
) -> bool:
    """Run a match (``run()``: its summary, or None when someone else is matching the track)
    and put its outcome in ``item``; a GridwardError marks the track failed with the reason
    (it stays stored; nothing is dropped). False when ``run`` gave None."""
    from geo.errors import GridwardError

    try:
        found = run()
    except GridwardError as exc:
        mark_failed(engine, track_id, exc.message)
        item["status"] = "failed"
        item["match_error"] = exc.message
        return True
    if found is None:
        return False
    item["match"] = found
    item["status"] = "matched"
    return True


# what a re-send of a file stored but not matched yet says: ``resumed`` when this request
# matched or queued it, ``note`` (with status "matching") when someone else is matching it
RESUMED = "stored before but not matched yet (a match was interrupted, or it waits in the queue)"
_RESUMED_ZH = "此前已存储但尚未匹配（匹配曾中断，或在队列中等待）"
RESUMED_MATCHED = f"{_RESUMED_ZH}，现已匹配 {RESUMED}: matched now"
RESUMED_FAILED = (
    f"{_RESUMED_ZH}，刚才已试匹配，见 match_error {RESUMED}: tried now, see match_error"
)
RESUMED_QUEUED = f"{_RESUMED_ZH}，已排队等待匹配 {RESUMED}: queued for matching"
BEING_MATCHED = "另一次上传或后台匹配正在匹配此轨迹 being matched now by another upload or worker"


def _resume(item: dict[str, Any], engine: Engine, track_id: int, queue: bool) -> None:
    """The same file sent again while its track was never matched: matched now (or queued,
    ``queue``), as its first upload would have been, and ``item`` says so (``resumed``); one
    someone else is matching now gets status ``matching`` and a ``note``.

    WHY: a server killed while matching an upload left the track ``stored`` with no visits,
    and one killed while draining a deferred upload left it ``queued`` with its job failed
    ("submit it again"); the re-send was answered "already stored" and nothing ever matched
    it. A track being matched right now (its row locked: :func:`match_stored_track`, the
    queue) is left to whoever holds it; a deferred re-send of a queued track still gets a job
    (its status ``queued``) that ends when the track is matched. A matched or failed track is
    answered as before (re-matching is ``tracks rematch``)."""
    status = _status(engine, track_id)
    if status not in ("stored", "queued"):
        _as_it_is(item, engine, track_id, status)
        return
    if queue:
        with engine.begin() as conn:
            free = conn.execute(
                text("SELECT status FROM tracks WHERE id = :t FOR UPDATE SKIP LOCKED"),
                {"t": track_id},
            ).first()
            if free is not None and free.status == "stored":
                conn.execute(
                    text("UPDATE tracks SET status = 'queued' WHERE id = :t"), {"t": track_id}
                )
        status = _status(engine, track_id)
        if status == "queued":  # locked or not: the upload's job waits for it
            item.update(status="queued", resumed=RESUMED_QUEUED)
        elif status == "stored":  # an upload is matching it now
            _matching(item, track_id)
        else:  # matched meanwhile
            _as_it_is(item, engine, track_id, status)
        return
    if _match_into(item, engine, track_id, lambda: resume_match(engine, track_id)):
        item["resumed"] = RESUMED_MATCHED if item["status"] == "matched" else RESUMED_FAILED
        return
    status = _status(engine, track_id)
    if status in ("stored", "queued"):
        _matching(item, track_id)
    else:
        _as_it_is(item, engine, track_id, status)


def _matching(item: dict[str, Any], track_id: int) -> None:
    """``item`` of a track someone else is matching now: status ``matching`` and a ``note``
    saying so, and, for these very bytes, that the file is stored already (T40 #11: the
    same file sent twice at once)."""
    note = BEING_MATCHED
    if item.get("duplicate") == "same_file":
        note = (
            f"同一文件已存储为轨迹 {track_id}，另一次上传或后台匹配正在匹配它 the same file is "
            f"stored already as track {track_id}, being matched now by another upload or worker"
        )
    item.update(status="matching", note=note)


def _as_it_is(item: dict[str, Any], engine: Engine, track_id: int, status: str | None) -> None:
    """``item`` (a re-send's answer) with the stored track's status (and why it failed).
    WHY (T40 #10): a re-send of a matched file had no ``status``, every other entry has."""
    item["status"] = status
    if status == "failed":
        item["match_error"] = _error_of(engine, track_id)


def _status(engine: Engine, track_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status FROM tracks WHERE id = :t"), {"t": track_id}
        ).scalar()


def _error_of(engine: Engine, track_id: int) -> str | None:
    """Why the track's match failed (``tracks.error``)."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT error FROM tracks WHERE id = :t"), {"t": track_id}
        ).scalar()


def upload_name(fmt: str) -> str:
    """The name a file sent without one is stored and answered under: ``upload.<format>`` as
    read (upload.gpx, upload.csv, upload.kmz, …). WHY (T40 #16): a raw body of a type that
    names no format (``text/plain``, ``application/octet-stream``) with no ``X-Filename`` was
    answered ``filename: null``; named by its content, not its type, as the reader reads it
    (a GPX sent as text/plain is a GPX), and the name reads back the same way."""
    return f"upload.{fmt}"


def clean_filename(name: str | None) -> str | None:
    """An upload's file name as it is stored and answered: each control character (NUL, line
    breaks, tabs, DEL, ...) and lone surrogate becomes "_", and at most 255 characters are
    kept. WHY keep the file rather than refuse it: the name is only a label, the walk is what
    counts. PostgreSQL cannot store a NUL (a 500, after the request's earlier files were
    stored), and a line break in a name split the one line per file the CLI prints."""
    if name is None:
        return None
    return "".join("_" if unicodedata.category(c) in ("Cc", "Cs") else c for c in name)[:255]


def _store(
    engine: Engine,
    data: bytes,
    filename: str | None,
    crs: str,
    person_id: int | None,
    uploaded_by: str | None,
    settings: Settings | None = None,
    mode: str | None = None,
    queue: bool = False,
    may_restore: Callable[[int], bool] | None = None,
) -> tuple[StoredTrack, pd.DataFrame | None]:
    """Store an upload; the parsed points come back for a new track or one whose datum was
    corrected (None if it existed unchanged)."""

    if mode is not None and mode not in ("walk", "bike"):
        raise InputError(
            f"出行方式 '{mode[:20]}' 有误，请用 walk（步行）或 bike（骑行） "
            f"unknown mode '{mode[:20]}': use walk or bike"
        )
    s = settings or get_settings()
    # checked before the duplicate test: a bad datum or person is refused whether or not the
    # file was stored before ("already stored" must not hide a typo)
    normalize_crs(crs)
    if person_id is not None:
        _person_exists(engine, person_id)
    sha = hashlib.sha256(data).hexdigest()

    def resent() -> tuple[StoredTrack, pd.DataFrame | None] | None:
        """The stored file's answer (its person and datum checked), None if it is new."""
        with engine.connect() as conn:
            existing = conn.execute(
                text(
                    "SELECT id, n_points, format, started_at, ended_at, crs, person_id, mode, "
                    "status, withdrawn_at, withdrawn_by, withdraw_reason "
                    "FROM tracks WHERE sha256 = :s"
                ),
                {"s": sha},
            ).first()
        if existing is None:
            return None
        if existing.status == "withdrawn":
            raise withdrawn_refusal(existing, person_id)
        stored = _stored(existing, sha, "same_file")
        if person_id not in (None, existing.person_id):
            stored = _claim(engine, stored, person_id, uploaded_by)
        if mode is not None and mode != existing.mode:
            stored = _change_mode(engine, stored, mode, person_id, uploaded_by, queue)
        if _same_crs(existing.crs, crs):
            changed = stored.mode_change is not None
            return stored, (_points_of(engine, stored.track_id) if changed else None)
        stored, pts = _correct_crs(
            engine, stored, existing.crs, data, filename, crs, person_id, uploaded_by, s, queue
        )
        if pts is None and stored.mode_change is not None:
            pts = _points_of(engine, stored.track_id)
        return stored, pts

    again = resent()
    if again is not None:
        return again
    parsed = check_upload(data, filename, crs, s)
    pts = parsed.points
    t0, t1 = pts["time"].min(), pts["time"].max()
    fixes = fixes_digest(pts)
    same = _same_walk(
        engine, fixes, parsed, data, sha, filename, crs, person_id, uploaded_by, mode, queue,
        may_restore,
    )  # fmt: skip
    if same is not None:
        return same
    days = days_between(t0.to_pydatetime(), t1.to_pydatetime())
    row = {
        "sha": sha,
        "raw": data,
        "fn": (filename or upload_name(parsed.format))[:255],
        "fmt": parsed.format,
        "crs": str(crs)[:16],
        "size": len(data),
        "person": person_id,
        "t0": t0.to_pydatetime(),
        "t1": t1.to_pydatetime(),
        "n": len(pts),
        "status": "queued" if queue else "stored",
        "mode": mode or "walk",
        "by": uploaded_by,
        "fixes": fixes,
        "center": _center_ewkt(pts, fixes),
    }
    walk_taken = False
    for attempt in range(2):
        # the fixes' day tables first, in their own short transaction (see geo.track_partitions)
        ensure_day_partitions(engine, days)
        try:
            with engine.begin() as conn:
                walk_taken = _walk_stored_meanwhile(conn, fixes)
                if walk_taken:
                    break
                track_id = _insert_track(conn, row, pts)
                if track_id is None:
                    break
                audit.record(
                    conn,
                    uploaded_by,
                    "track.upload",
                    "track",
                    track_id,
                    {"sha256": sha, "points": len(pts), "person_id": person_id},
                )
            break
        except psycopg.errors.CheckViolation:
            # "no partition for row": a retention run (drop_days_before) dropped an old day's
            # table between the two transactions; make it again, once
            if attempt:
                raise
    if walk_taken:  # another file of this walk was stored since _same_walk looked
        # these very bytes, sent twice at once: answered as a re-send of the file, not as
        # "the same walk, the file written differently" (T40 #11)
        again = resent()
        if again is not None:
            return again
        same = _same_walk(
            engine, fixes, parsed, data, sha, filename, crs, person_id, uploaded_by, mode,
            queue, may_restore,
        )  # fmt: skip
        if same is None:  # cannot happen: the walk's row is committed and never deleted
            raise ConflictError(
                f"{filename or 'upload'} 与另一次上传同时存储，发生冲突，请重新发送 "
                f"{filename or 'upload'}: stored concurrently; send it again"
            )
        return same
    if track_id is None:
        # a concurrent upload of the same bytes won the race: answer as to a re-send, so
        # this request's person and datum get the same checks (claim, 409, correction)
        again = resent()
        if again is None:  # cannot happen: the insert conflicted on the winner's committed row
            raise ConflictError(
                f"{filename or 'upload'} 与另一次上传同时存储，发生冲突，请重新发送 "
                f"{filename or 'upload'}: stored concurrently; send it again"
            )
        return again
    stored = StoredTrack(
        int(track_id),
        sha,
        True,
        len(pts),
        parsed.format,
        local_iso(t0),
        local_iso(t1),
        mode=mode or "walk",
        warnings=list(parsed.warnings),
    )
    return stored, pts


def _stored(row: Any, sha: str, duplicate: str = "same_walk") -> StoredTrack:
    """The answer for a track stored before (a row of tracks: id, n_points, format, times,
    mode); ``duplicate``: how the upload is that track (StoredTrack.duplicate)."""
    return StoredTrack(
        int(row.id),
        sha,
        False,
        int(row.n_points),
        row.format,
        local_iso(row.started_at),
        local_iso(row.ended_at),
        mode=row.mode,
        duplicate=duplicate,
    )


def _same_walk(
    engine: Engine,
    fixes: str | None,
    parsed: Any,
    data: bytes,
    sha: str,
    filename: str | None,
    crs: str,
    person_id: int | None,
    uploaded_by: str | None,
    mode: str | None,
    queue: bool,
    may_restore: Callable[[int], bool] | None = None,
) -> tuple[StoredTrack, pd.DataFrame | None] | None:
    """The answer for a new file whose fixes are a stored track's (geo.walk_digest), None when
    none is. WHY: no two walks give the same fixes to 0.1 m; a walk re-sent with its dates
    moved, or a colleague's sent as one's own, was credited again (an outside tester).

    - the same times: the same walk written again (CRLF line ends, another export, GCJ-02 of
      a WGS 84 file) is that track, answered as a re-send of its file is (person claimed,
      mode changed when named);
    - every time moved by a whole number of quarter hours, at most 14 h, by its own person
      (or for nobody), in a file whose times read more surely (:func:`times_trust`), by
      the one shift the stored reading can be wrong by (:func:`_zone_mistake`): the walk's
      time zone put right (a GPX without a zone was read as UTC); the track takes the
      new file and its times and is matched again (time_change). Read less surely (the
      zone-less file again, after its correction): that track, its times kept. As surely
      (both files state their zone): a copy;
    - other times, or someone else's walk: a copy, refused (409);
    - a withdrawn track's walk, at any times, a stretch of it or a file holding it: refused
      (409, :func:`_withdrawn_walk`)."""
    if fixes is None:
        return None
    with engine.connect() as conn:
        row, near, old = walk_holder(conn, fixes, parsed.points)
    if row is None:
        return None
    pts = parsed.points
    t0, t1 = pts["time"].min(), pts["time"].max()
    if row.status == "withdrawn":
        return _withdrawn_walk(engine, row, near, old, pts, person_id, may_restore)
    stored = _stored(row, row.sha256)
    # the same span with fewer fixes is a part (its middle cut out: T39 M1), not the walk
    whole = len(pts) >= int(row.n_points)
    if whole and (pd.Timestamp(row.started_at), pd.Timestamp(row.ended_at)) == (t0, t1):
        stored.warnings.extend(
            [
                f"同一轨迹已存储：与轨迹 {row.id} 是同一次巡查（"
                f"{'定位点相差不到 1 米' if near else '定位点相同'}、时间相同，只是文件写法不同），"
                f"未再次存储 the same walk as track {row.id} (same "
                f"{'fixes to a metre' if near else 'fixes'} and times, the file written "
                "differently): not stored again",
                *parsed.warnings,
            ]
        )
        if person_id not in (None, row.person_id):
            stored = _claim(engine, stored, person_id, uploaded_by, "near" if near else "fixes")
        if mode is None or mode == row.mode:
            return stored, None
        stored = _change_mode(engine, stored, mode, person_id, uploaded_by, queue)
        return stored, _points_of(engine, stored.track_id)
    if old is None:
        old = _points_of(engine, int(row.id))
    shift = zone_shift(old["time"], pts["time"])
    own = row.person_id is None or person_id in (None, row.person_id)
    if bool(pts["time"].isin(old["time"]).all()):  # its fixes at their own times: a part
        raise _copy_refusal(row, person_id, near, part=True)
    if bool(old["time"].isin(pts["time"]).all()):
        # the stored walk with fixes added around it at its own times: the walker's own
        # longer export of it (sent mid-walk, then whole) is a walk; anyone else's, a copy
        if row.person_id is None or person_id in (None, row.person_id):
            return None
        raise _copy_refusal(row, person_id, near, holds=True)
    if shift is None or not own:
        raise _copy_refusal(row, person_id, near)
    stated, kept = times_trust(parsed), _stored_times_trust(engine, int(row.id))
    if stated == kept:  # both files' times read as surely, and disagree: a re-dated walk
        raise _copy_refusal(row, person_id, near)
    if stated > kept and shift != _zone_mistake(kept, row.started_at):
        raise _copy_refusal(row, person_id, near)  # not the one mistake its reading can have made
    if person_id is not None and row.person_id is None:  # its times shifted: "walk"
        stored = _claim(engine, stored, person_id, uploaded_by, "walk")
    if stated < kept:
        # this file's times are the weaker reading (a retry of the zone-less file whose
        # times were put right, another app's zone-less export): the stored times stand
        stored.warnings.extend(
            [
                f"同一轨迹已存储，时间未改：与轨迹 {row.id} 是同一次巡查，保留已存的时间"
                f"（此文件的时间不带时区，读出来相差 {shift.total_seconds() / 3600:+g} 小时），"
                "未再次存储 "
                f"the same walk as track {row.id}: its stored times "
                f"stand (this file's carry no zone, read {shift.total_seconds() / 3600:+g} h "
                "away); not stored again",
                *parsed.warnings,
            ]
        )
        return stored, None
    new = {"sha": sha, "raw": data, "fn": (filename or upload_name(parsed.format))[:255]}
    new.update(fmt=parsed.format, crs=str(crs)[:16], size=len(data), t0=t0, t1=t1)
    stored = _shift_times(engine, stored, row, shift, new, pts, person_id, uploaded_by, queue)
    stored.warnings.extend(parsed.warnings)
    return stored, pts


def _withdrawn_walk(
    engine: Engine,
    row: Any,
    near: bool,
    old: pd.DataFrame | None,
    pts: pd.DataFrame,
    person_id: int | None,
    may_restore: Callable[[int], bool] | None,
) -> None:
    """A new file of withdrawn track ``row``'s walk (:func:`walk_holder`): refused as the
    withdrawn file re-sent is (:func:`withdrawn_refusal`, said of what the file is), at any
    times. WHY (T41 #1): a stretch of a withdrawn walk at its own times, or the walk with
    fixes added, was stored for another steward and credited her what a supervisor had
    withdrawn (and its track then blocked the withdrawn one's restore); only the walk's
    same fixes or nudged copies were refused.

    Returns None (the file is a walk of its own, stored) for one case only, kept from
    before: the file holds the withdrawn walk with fixes added, for the walk's own person
    (or for nobody, or the walk was nobody's: as for a live walk), sent by someone who may
    restore it (``may_restore``; the operator may). That is the walker's corrected longer
    export after she withdrew her cut-short upload (geo.track_withdraw: "its corrected file
    sent again"). Someone who may not restore it (a steward whose walk a supervisor
    withdrew) would get its credit back by adding a minute of fixes: refused."""
    whole = pts["time"]
    if not near:
        kind = "fixes"  # the same fixes to 0.1 m (the digest): the walk at any times
    else:
        if old is None:
            old = _points_of(engine, int(row.id))
        same_span = (pd.Timestamp(row.started_at), pd.Timestamp(row.ended_at)) == (
            whole.min(),
            whole.max(),
        )
        if len(pts) >= int(row.n_points) and same_span:
            kind = "near"
        elif bool(whole.isin(old["time"]).all()):
            kind = "part"
        elif bool(old["time"].isin(whole).all()):
            kind = "holds"
        else:
            kind = "near"
    own = row.person_id is None or person_id in (None, row.person_id)
    if kind == "holds" and own and (may_restore is None or may_restore(int(row.id))):
        return None
    raise withdrawn_refusal(row, person_id, kind)


_WALK_COLUMNS = (
    "t.id, t.sha256, t.n_points, t.format, t.started_at, t.ended_at, t.person_id, t.mode, "
    "p.external_id, t.status, t.withdrawn_at, t.withdrawn_by, t.withdraw_reason "
    "FROM tracks t LEFT JOIN people p ON p.id = t.person_id"
)


def walk_holder(
    conn: Connection, fixes: str, pts: pd.DataFrame, live_other_than: int | None = None
) -> tuple[Any, bool, pd.DataFrame | None]:
    """The stored track whose walk these fixes are, whether they are its fixes nudged (near,
    :func:`geo.walk_digest.near_copy`) rather than the same to 0.1 m, and its fixes when they
    were read to tell; (None, False, None) for none. Exact first (the digest's index); else
    the stored walks whose mean fix lies within CENTER_RADIUS_DEG and which last as long at
    least (a copy is the walk or part of it), nearest first, read in one query.

    ``live_other_than``: a withdrawn track being restored (:mod:`geo.track_withdraw`): only
    the other tracks not withdrawn, those that would credit its walk a second time. WHY one
    rule for both: a restore is its walk sent again, and must see what an upload sees.

    An upload sees withdrawn walks too (their fixes read from their kept files, the
    withdrawal having deleted them), each look taking a live walk first: a file of a
    withdrawn walk is refused as it re-sent is (T41 #1), and where a live walk holds the
    same fixes (a corrected file sent after the withdrawal) that one is the walk."""
    live = "" if live_other_than is None else "AND t.id <> :me AND t.status <> 'withdrawn' "
    row = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_sha256 = :f {live}"
            "ORDER BY t.status = 'withdrawn', t.id LIMIT 1"
        ),
        {"f": fixes, "me": live_other_than},
    ).first()
    if row is not None:
        return row, False, None
    center = fixes_center(pts)
    span = (pts["time"].max() - pts["time"].min()).to_pytimedelta()
    near = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE ST_DWithin(t.fixes_center, "
            f"ST_SetSRID(ST_MakePoint(:x, :y), 4326), :r) {live}"
            "AND t.ended_at - t.started_at >= :span - interval '2 seconds' "
            "ORDER BY t.status = 'withdrawn', "
            "t.fixes_center <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 5"
        ),
        {"x": center[0], "y": center[1], "r": CENTER_RADIUS_DEG, "span": span,
         "me": live_other_than},
    ).all()  # fmt: skip
    found = _nudged_holder(conn, pts, near)
    if found is None:
        found = _part_holder(conn, pts, live, live_other_than)
    if found is None:
        found = _whole_holder(conn, pts, live, live_other_than)
    return (found[0], True, found[1]) if found is not None else (None, False, None)


def _nudged_holder(
    conn: Connection,
    pts: pd.DataFrame,
    rows: list,
    holds: bool = False,
    read: pd.DataFrame | None = None,
) -> tuple | None:
    """The first of ``rows`` (stored walks) whose fixes ``pts`` are, nudged (``holds``: whose
    fixes are a stretch of ``pts``); with its fixes. ``read``: fixes of some of them read
    already (read_track_points), not read again."""
    if not rows:
        return None
    ids = [int(c.id) for c in rows]
    have = set() if read is None else set(read["track_id"].astype(int)) & set(ids)
    parts = [read[read["track_id"].isin(have)]] if have and read is not None else []
    if set(ids) - have:
        parts.append(read_track_points(conn, [i for i in ids if i not in have]))
    stored = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for cand in rows:
        old = stored[stored["track_id"] == cand.id].drop(columns="track_id")
        if near_copy(old, pts) if holds else near_copy(pts, old):
            return cand, old.reset_index(drop=True)
    return None


# the first or last fix of a stretch of a stored walk lies this close to the walk's own fix
# at that time (degrees; about 2 m north-south, 1.5 m east-west at 40°N): an upper bound
# only, near_copy then holds the whole stretch to NEAR_M
_PART_END_DEG = 2e-5


def _part_holder(
    conn: Connection, pts: pd.DataFrame, live: str, live_other_than: int | None
) -> tuple | None:
    """The stored walk of which ``pts`` is a stretch at its own times, with its fixes; None.

    WHY a second look: a stretch's mean fix can lie hundreds of metres from its walk's (a
    walk re-sent with its last half cut was stored as a second track: outside re-tester
    T37), so the look near the mean (:func:`walk_holder`) misses it. A stretch at its own
    times starts and ends on two of its walk's fixes, at their times: the walks whose span
    holds the stretch's (the span index) with a fix there at that time (the fixes' key,
    one day's partition) are all it can be, mostly none or one."""
    t0, t1 = pts["time"].min(), pts["time"].max()
    spans = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_center IS NOT NULL {live}"
            "AND tstzrange(t.started_at, t.ended_at, '[]') @> tstzrange(:t0, :t1, '[]') "
            "ORDER BY t.status = 'withdrawn', t.id"
        ),
        {"t0": t0.to_pydatetime(), "t1": t1.to_pydatetime(), "me": live_other_than},
    ).all()
    if not spans:
        return None
    # the candidates' fixes at the stretch's first and last times, by the fixes' key: one
    # query joining track_points to the candidates (a semi-join) read whole day partitions,
    # 0.2 s an upload among 2,000 stored walks (a city-day bench)
    ends = read_frame(
        "SELECT track_id, t, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM track_points "
        "WHERE track_id = ANY(:ids) AND t = ANY(:ts)",
        conn,
        {"ids": [int(r.id) for r in spans], "ts": [t0.to_pydatetime(), t1.to_pydatetime()]},
    )
    # a withdrawn walk's fixes were deleted with it: read from its kept file (withdrawn
    # walks are few, and only those spanning the stretch). WHY: a stretch of a withdrawn
    # walk found none and was stored, its credit back (T41 #1)
    gone = [int(r.id) for r in spans if r.status == "withdrawn"]
    read = read_track_points(conn, gone) if gone else None
    if read is not None and len(read):
        when = pd.to_datetime(read["time"], utc=True)
        kept = read[(when == t0) | (when == t1)].rename(columns={"time": "t"})
        if len(kept):
            kept = kept[list(ends.columns)]
            ends = pd.concat([ends, kept], ignore_index=True) if len(ends) else kept
    if ends.empty:
        return None
    first, last = pts.loc[pts["time"].idxmin()], pts.loc[pts["time"].idxmax()]
    at = np.where(pd.to_datetime(ends["t"], utc=True) == t0, 0, 1)
    lon = np.where(at == 0, float(first["lon"]), float(last["lon"]))
    lat = np.where(at == 0, float(first["lat"]), float(last["lat"]))
    close = np.hypot(ends["lon"].to_numpy() - lon, ends["lat"].to_numpy() - lat) <= _PART_END_DEG
    hits = set(ends.loc[close, "track_id"].astype(int))
    rows = [r for r in spans if int(r.id) in hits][:5]
    return _nudged_holder(conn, pts, rows, read=read)


def _whole_holder(
    conn: Connection, pts: pd.DataFrame, live: str, live_other_than: int | None
) -> tuple | None:
    """The stored walk that is a stretch of ``pts`` at its own times (a stored walk with fixes
    added around it), with its fixes; None. WHY: an outside re-tester (T39, H1) sent a
    colleague's stored walk with a minute of fixes appended for himself and was credited its
    alleys: the new file holds the walk, not the other way round. Candidates: walks whose span
    lies within the file's and whose mean fix lies within the file's extent, live ones first.
    Withdrawn walks too (T41 #1: another steward's file holding one was stored and credited
    her what was withdrawn; :func:`_withdrawn_walk` says who may still send one)."""
    lon, lat = pts["lon"].to_numpy(dtype=float), pts["lat"].to_numpy(dtype=float)
    rows = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_center IS NOT NULL {live}"
            "AND tstzrange(t.started_at, t.ended_at, '[]') <@ tstzrange(:t0, :t1, '[]') "
            "AND t.fixes_center && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
            "ORDER BY t.status = 'withdrawn', t.n_points DESC, t.id LIMIT 5"
        ),
        {"t0": pts["time"].min().to_pydatetime(), "t1": pts["time"].max().to_pydatetime(),
         "x0": float(lon.min()), "y0": float(lat.min()), "x1": float(lon.max()),
         "y1": float(lat.max()), "me": live_other_than},
    ).all()  # fmt: skip
    return _nudged_holder(conn, pts, rows, holds=True)


def _copy_refusal(
    row: Any,
    person_id: int | None,
    near: bool = False,
    part: bool = False,
    holds: bool = False,
) -> OwnedByAnother:
    """409 for a file of a stored walk's fixes at other times (``row``: the stored track;
    ``near``: its fixes nudged by under a metre), or (``part``) of a stretch of it at its own
    times: a shortened copy, said so (outside tester T37, F3: a walk re-sent with its last
    line cut was called a copy "at other times, with its fixes nudged"). ``person_id``: whose
    walk the file was sent as. Its ``anonymous`` words (for a steward, unless the stored walk
    is hers) name no track, person or time (T39 M2: any steward sending a colleague's walk,
    or a part of it, read its track id, the colleague's registry id and when it was walked)."""
    whose = f"person {row.external_id or row.person_id}" if row.person_id else "nobody"
    whose_zh = f"人员 {row.external_id or row.person_id}" if row.person_id else "未指定人员"
    when = local_iso(row.started_at)
    kind = "part" if part else "holds" if holds else "near" if near else "copy"
    mine = row.person_id is not None and row.person_id == person_id
    if part:
        full = (
            f"此文件是轨迹 {row.id}（{whose_zh}，{when}）的一段：定位点与时间都与它相同，只是"
            "少了一些定位点；整条巡查已存储，未再存储 the fixes and times are part of track "
            f"{row.id}'s ({whose}, {when}): a shortened copy of a walk stored already; "
            "not stored"
        )
    elif holds:  # ``row`` is a stretch of the file: another's walk with fixes added (T39 H1)
        full = (
            f"此文件包含轨迹 {row.id}（{whose_zh}，{when}）的全部定位点与时间，只是前后多了"
            "一些定位点：是他人已存巡查的复制，未存储 the file holds all the fixes and times "
            f"of track {row.id} ({whose}, {when}) with fixes added: a copy of another "
            "person's walk; not stored"
        )
    elif near:
        full = (
            f"定位点与轨迹 {row.id}（{whose_zh}，{when}）相差不到 {NEAR_M:g} 米，仅时间不同：是把"
            "定位点略作挪动后复制的轨迹，不是一次巡查，未存储 the fixes "
            f"lie within {NEAR_M:g} m of track {row.id}'s ({whose}, {when}), "
            "at other times: a copy of a walk with its fixes nudged, not a walk; not stored"
        )
    else:
        full = (
            f"定位点与轨迹 {row.id}（{whose_zh}，{when}）完全相同，仅时间不同：是复制的轨迹，不是"
            f"一次巡查，未存储 the fixes are those of track {row.id} ({whose}, {when}) at other "
            "times: a copy of a walk, not a walk; not stored"
        )
    return OwnedByAnother(full, full if mine else _ANONYMOUS_COPY[kind])


# what a steward hears of a stored walk not hers that her file is a part or a copy of
# (_copy_refusal): that another person uploaded it (README: "another person uploaded this
# file already"), and the way out if it is her own walk stored for someone else or nobody
_ASK_PLANNER = (
    "；如是您本人的巡查，请联系规划员改归属给您（由规划员发送同一文件可看到是哪条轨迹） ",
    ": if it is yours, ask a planner to reassign it to you (the same file sent by them "
    "names the track)",
)
_ANONYMOUS_COPY = {
    "part": "此文件是他人已上传的一次巡查的一段：定位点与时间都与它相同，只是少了一些定位点，"
    f"未存储{_ASK_PLANNER[0]}another person uploaded this walk already: the file is a part of "
    f"it (its fixes and times, fewer of them); not stored{_ASK_PLANNER[1]}",
    "holds": "此文件包含他人已上传的一次巡查的全部定位点与时间，只是前后多了一些定位点：是他人"
    f"巡查的复制，未存储{_ASK_PLANNER[0]}another person uploaded this walk already: the file "
    f"holds all its fixes and times with fixes added, a copy of it; not stored{_ASK_PLANNER[1]}",
    "near": f"此文件的定位点与他人已上传的一次巡查相差不到 {NEAR_M:g} 米，仅时间不同：是把定位点"
    f"略作挪动后复制的轨迹，不是一次巡查，未存储{_ASK_PLANNER[0]}another person uploaded this "
    f"walk already: the file's fixes lie within {NEAR_M:g} m of its, at other times, a copy "
    f"with its fixes nudged, not a walk; not stored{_ASK_PLANNER[1]}",
    "copy": "此文件的定位点与他人已上传的一次巡查完全相同，仅时间不同：是复制的轨迹，不是一次巡查，"
    f"未存储{_ASK_PLANNER[0]}another person uploaded this walk already: the file holds its "
    f"fixes at other times, a copy of it, not a walk; not stored{_ASK_PLANNER[1]}",
}


def times_trust(parsed: Any) -> int:
    """How far a file's times can be trusted to say when: 2 when they state their zone
    (offset, Z, a zone word, epoch), 1 written without one and read as the city's time (a
    table: phones write local time), 0 a zone-less GPX read as UTC (as GPX requires, though
    apps writing no zone mostly write local clock times). WHY: a time change (a walk's
    zone put right) may only go from a weaker reading to a stronger one. Any shift was
    taken before, so the zone-less file sent again after its correction (a retry, a folder
    re-sync) moved the walk back to the wrong day, and a steward re-sending her own walk
    with +6 h clock times, both files stating +08:00, moved it to a day she missed (an
    outside tester's F1 and F9)."""
    if not parsed.zoneless:
        return 2
    return 0 if parsed.format == "gpx" else 1


def _zone_mistake(kept: int, started_at: Any) -> pd.Timedelta:
    """The shift that puts right the one mistake a zone-less reading can make in this city:
    a zone-less GPX (``kept`` 0) read as UTC whose clock was local moves back by the city's
    UTC offset; a zone-less table (1) read as local time whose clock was UTC moves on by it.
    WHY only that: any other shift is a walk moved to other hours, not a zone put right (an
    outside re-tester moved a table's walk 7 h on by sending it as a GPX stating +08:00)."""
    offset = pd.Timestamp(started_at).tz_convert(get_settings().timezone).utcoffset()
    return -pd.Timedelta(offset) if kept == 0 else pd.Timedelta(offset)


def _stored_times_trust(engine: Engine, track_id: int) -> int:
    """:func:`times_trust` of the file a stored track's times came from (its kept bytes,
    re-read: only on the rare path of a same-walk file at shifted times). A file today's
    reader refuses counts as stating its times (nothing then corrects them)."""
    from geo.tracks.parse import parse_track

    s = get_settings()
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT raw, filename, crs FROM tracks WHERE id = :t"), {"t": track_id}
        ).one()
    try:
        parsed = parse_track(
            bytes(row.raw), row.filename, crs=row.crs, max_bytes=len(row.raw) + 1,
            default_tz=s.timezone,
        )  # fmt: skip
    except InputError:
        return 2
    return times_trust(parsed)


def _shift_times(
    engine: Engine,
    stored: StoredTrack,
    row: Any,
    shift: pd.Timedelta,
    new: dict[str, Any],
    pts: pd.DataFrame,
    person_id: int | None,
    by: str | None,
    queue: bool,
) -> StoredTrack:
    """The walk's times put right: the track keeps its id and fixes, takes the new file (bytes,
    hash, name, format) and its times, and waits to be matched again (its visits move to the
    right day when it is). Recorded in the audit log with the shift and both files' hashes."""
    hours = shift.total_seconds() / 3600
    change = {"from": local_iso(row.started_at), "to": local_iso(new["t0"]), "shift_h": hours}
    days = days_between(new["t0"].to_pydatetime(), new["t1"].to_pydatetime())
    ensure_day_partitions(engine, days)  # the walk's new days may have no table yet
    with engine.begin() as conn:
        current = _lock_live(conn, int(row.id), person_id).started_at
        if pd.Timestamp(current) == new["t0"]:  # a concurrent re-send put it right already
            return replace(stored, sha256=new["sha"], time_change=change)
        _replace_fixes(conn, int(row.id), pts)
        conn.execute(
            text(
                "UPDATE tracks SET sha256 = :sha, raw = :raw, filename = :fn, format = :fmt, "
                "crs = :crs, size_bytes = :size, started_at = :t0, ended_at = :t1, "
                "status = :st WHERE id = :t"
            ),
            {
                **new,
                "t0": new["t0"].to_pydatetime(),
                "t1": new["t1"].to_pydatetime(),
                "st": "queued" if queue else "stored",
                "t": row.id,
            },
        )
        audit.record(
            conn, by, "track.times", "track", int(row.id),
            {**change, "sha256_from": row.sha256, "sha256_to": new["sha"]},
        )  # fmt: skip
    note = (
        f"时间已更正：轨迹 {row.id} 就是这次巡查，只是时间相差 {hours:+g} 小时（时区），"
        f"已改正时间并按其日期重新匹配 "
        f"track {row.id} is this walk with its times {hours:+g} h away: its times "
        f"put right (a time zone), matched again on its day"
    )
    return replace(
        stored,
        sha256=new["sha"],
        format=new["fmt"],
        started_at=local_iso(new["t0"]),
        ended_at=local_iso(new["t1"]),
        time_change=change,
        warnings=[note],
    )


def check_upload(
    data: bytes, filename: str | None, crs: str = "wgs84", settings: Settings | None = None
) -> Any:
    """What a new upload must pass before it is stored: datum name, size, parsing (times
    without a zone in the city's), at least two timed fixes, times neither in the future nor
    out of order. Returns the :class:`~geo.tracks.parse.ParsedTrack`, its ``warnings``
    with what the uploader is told besides (sparse fixes, an old date); ``gridward tracks
    check`` calls it too, so it says OK exactly when an upload would take the file."""
    from geo.tracks.parse import parse_track

    s = settings or get_settings()
    normalize_crs(crs)
    parsed = parse_track(
        data, filename, crs=crs, max_bytes=s.max_upload_bytes, default_tz=s.timezone
    )
    if len(parsed.points) == 0:
        raise InputError(
            "文件里没有带时间的定位点，巡查轨迹需要每个定位点都有时间 no points with times"
        )
    if len(parsed.points) == 1:  # a shared location, or a logger stopped at once
        raise InputError(
            "只有 1 个带时间的定位点，巡查轨迹至少需要 2 个才能显示行走 "
            "only 1 point with a time: a patrol track needs at least 2 to show a walk"
        )
    # zone-less GPX times are read as UTC: local clock times written so are hours ahead
    _check_times(parsed.points, s, zoneless_utc=parsed.zoneless and parsed.format == "gpx")
    for warning in (sparse_warning(parsed.points["time"]), old_walk_warning(parsed.points, s)):
        if warning:
            parsed.warnings.append(warning)
    return parsed


def old_walk_warning(pts: pd.DataFrame, s: Settings) -> str | None:
    """A warning when the walk's last fix is more than ``old_walk_warn_days`` local days ago
    (its date and the days in the city's time, as the reports count it), else None. WHY a
    warning, not a refusal: stewards send old walks from a phone that was offline; but a
    phone with a wrong date credits a day long past, and was stored without a word."""
    if not s.old_walk_warn_days:
        return None
    day = pd.Timestamp(pts["time"].max()).tz_convert(s.timezone).date()
    ago = (city_today(s) - day).days
    if ago <= s.old_walk_warn_days:
        return None
    return (
        f"轨迹日期较早：这次巡查的日期是 {day}（{ago} 天前，计入那一天），"
        "如日期不对，请检查手机日期 "
        f"this walk is dated {day} ({ago} days ago, counted on that day): check "
        "the phone's date if that is wrong"
    )


# a walk whose fixes are a median of more than this apart is told so (the README asks for
# 10 s; between fixes the matcher infers the way, it does not see it: an outside tester got
# full credit for one fix at each end of an alley, 12-121 s apart)
SPARSE_FIX_S = 20.0


def sparse_warning(times: pd.Series) -> str | None:
    """A warning when the fixes are sparse (median interval over SPARSE_FIX_S), else None.
    Intervals longer than the cleaner's gap threshold are pauses, not sampling."""
    from geo.tracks.clean import CleanParams

    t = np.sort(pd.to_datetime(times, utc=True).to_numpy("datetime64[ns]").astype(np.int64))
    step = np.diff(t) / 1e9
    step = step[(step > 0) & (step <= CleanParams.gap_s)]
    median = float(np.median(step)) if len(step) >= 2 else 0.0
    if median <= SPARSE_FIX_S:
        return None
    return (
        f"定位点稀疏：定位点之间的间隔中位数为 {median:.0f} 秒，其间的路线是推断的而非记录的，"
        "在两个定位点之间走过的巷不会留下痕迹；请把 App 设为每 10 秒或更短记录一个定位点 "
        f"fixes a median {median:.0f} s apart: the way between "
        "them is inferred, not seen, and an alley walked between two fixes leaves no trace; "
        "set the app to a fix every 10 s or less"
    )


class OwnedByAnother(ConflictError):
    """The same bytes, or (:func:`_copy_refusal`) a part or a copy of the walk, are stored as
    another person's track. ``anonymous``: the message for someone who may not know whose (a
    steward; api.routes.tracks says it to her): WHY, the full one names the owner's track
    and person, and one steward must not learn another's ids by sending their file."""

    def __init__(self, message: str, anonymous: str) -> None:
        super().__init__(message)
        self.anonymous = anonymous


class TrackWithdrawn(OwnedByAnother):
    """The same bytes are a withdrawn track's (:mod:`geo.track_withdraw`). WHY refused and
    not stored again or restored: a phone's retry or a folder sent again must not bring back
    what a supervisor withdrew. ``anonymous`` (for a steward sending someone else's file)
    names no one."""


# what a file of a withdrawn walk is (withdrawn_refusal's ``kind``), Chinese and English
_WITHDRAWN_FILE = {
    "file": ("同一文件", "the same file"),
    "fixes": ("同一次巡查的文件（定位点相同）", "a file of the same walk (its fixes)"),
    "near": (
        f"同一次巡查的文件（定位点相差不到 {NEAR_M:g} 米）",
        f"a file of the same walk (its fixes within {NEAR_M:g} m)",
    ),
    "part": (
        "这次巡查的一段（定位点与时间都与它相同）",
        "a part of this walk (its fixes at their times)",
    ),
    "holds": (
        "包含这次巡查全部定位点与时间的文件（另加了一些定位点）",
        "a file holding all its fixes and times (with fixes added)",
    ),
}


def withdrawn_refusal(row: Any, person_id: int | None, kind: str | None = "file") -> TrackWithdrawn:
    """The 409 for a re-send of withdrawn track ``row`` (id, person_id and its withdrawal)
    by or for ``person_id``: what happened, and the ways out. ``kind``: what the file is
    (a key of _WITHDRAWN_FILE: its bytes, its fixes, nudged, a stretch, a file holding it;
    None: not told apart). WHY no way round by upload: a withdrawn walk sent again at other
    dates was credited on a day it was not walked (an outside tester), a stretch of it to
    another steward (T41 #1); it comes back only by a restore, which says who may, and is
    put right there. Whose walk it is only its own person hears (``anonymous``)."""
    from geo.track_withdraw import withdrawn_words, withdrawn_words_zh

    what_zh, what = _WITHDRAWN_FILE.get(kind or "", ("这次巡查", "this walk"))
    full = (
        f"轨迹 {row.id} {withdrawn_words_zh(row)}，{what_zh}不再存储。"
        f"如撤回有误，或这是别人的巡查，请先恢复（gridward tracks restore {row.id}，"
        f"或 POST /tracks/{row.id}/restore），再在恢复后改正：规划员把它改归属给实际巡查的人"
        "（gridward tracks reassign），或重新发送改正后的文件以更正时间或坐标系 "
        f"track {row.id} {withdrawn_words(row)}; {what} is "
        "not stored again. If it was withdrawn by mistake, or is someone else's walk, restore "
        f"it (gridward tracks restore {row.id}, POST /tracks/{row.id}/restore) and put it "
        "right there: a planner reassigns it to its walker (gridward tracks reassign), its "
        "corrected file sent again puts its times or datum right"
    )
    theirs = person_id is not None and person_id == row.person_id
    anonymous = (
        full
        if theirs
        else (
            "此轨迹已上传并已撤回；如是您本人的巡查，请联系规划员恢复并改归属给您（由规划员发送同一"
            "文件可看到是哪条轨迹） "
            "this walk was uploaded and withdrawn: if it is yours, ask a "
            "planner to restore it and reassign it to you (the same file sent by them names it)"
        )
    )
    return TrackWithdrawn(full, anonymous)


def _lock_live(conn: Connection, track_id: int, person_id: int | None) -> Any:
    """The track's row locked for one of an upload's writers (:func:`_claim`,
    :func:`_change_mode`, :func:`_correct_crs`, :func:`_shift_times`): its person, mode,
    datum and start. A withdrawn track is refused as a re-send of it is
    (:func:`withdrawn_refusal`). WHY here, under the lock: the upload read the status
    before; a withdrawal that landed while the writer waited for the row was written over
    (its walk claimed, or stored and matched again, its credit back)."""
    row = conn.execute(
        text(
            "SELECT id, person_id, mode, crs, started_at, status, withdrawn_at, withdrawn_by, "
            "withdraw_reason FROM tracks WHERE id = :t FOR UPDATE"
        ),
        {"t": track_id},
    ).one()
    if row.status == "withdrawn":
        raise withdrawn_refusal(row, person_id, kind=None)
    return row


def _person_zh(conn: Connection, person_id: int) -> str:
    """A person as a clerk names them: 王超（人员编号 DEMO0032，系统编号 id:32）. WHY: bare
    ids ("人员 32 的轨迹") told an admin nothing (outside tester T37, F11)."""
    row = conn.execute(
        text("SELECT name, external_id FROM people WHERE id = :i"), {"i": person_id}
    ).first()
    if row is None:
        return f"人员（系统编号 id:{person_id}）"
    return person_zh(row.name, row.external_id, person_id)


def _claim(
    engine: Engine, stored: StoredTrack, person_id: int, by: str | None, how: str = "file"
) -> StoredTrack:
    """A stored file sent again for a person: if it was stored for nobody (an admin's upload
    without a person), the walk becomes theirs, and so do its visits, so their reports credit
    it (WHY not ignore it as a duplicate: their patrol would never count). If it is someone
    else's: a conflict (also when a concurrent upload claimed it first). ``how`` the upload
    is that track: "file" its bytes; "fixes" / "near" another file of its walk at its times,
    its fixes the same or nudged under NEAR_M (:func:`_same_walk`), said so, not "the same
    bytes" (T41 #2); "walk" its walk with its times shifted (a time zone put right).

    The track's row is locked first, as the visit writer locks it (:func:`write_visits`): a
    match in progress holds it, so the claim waits for its visits and then gives them the
    person; a match that starts after the claim reads the person under the lock."""
    with engine.begin() as conn:
        owner = _lock_live(conn, stored.track_id, person_id).person_id
        if owner is not None:
            if owner != person_id:
                owner_zh, person_zh = _person_zh(conn, owner), _person_zh(conn, person_id)
                raise _taken(stored.track_id, owner, owner_zh, person_id, person_zh, how)
            return stored
        _give_track(conn, stored.track_id, person_id)
        audit.record(conn, by, "track.person", "track", stored.track_id, {"person_id": person_id})
    return replace(stored, person_set=person_id)


def _taken(
    track_id: int, owner: int, owner_zh: str, person_id: int, person_zh: str, how: str
) -> OwnedByAnother:
    """:func:`_claim`'s 409: the file (``how``: "file" its bytes, "fixes" / "near" its walk in
    other bytes) is track ``track_id``, stored for ``owner``, not ``person_id``. The
    steward's words (``anonymous``) name neither, and carry the remedy in both languages
    (T41 #2: the English had none)."""
    remedy = (
        f"如确属{person_zh}，请管理员或规划员改归属（gridward tracks reassign --track "
        f"{track_id} --person {person_id}，或 PATCH /tracks/{track_id}）"
    )
    reassign = (
        f"if it is theirs, an admin or planner gives it to them: gridward tracks reassign "
        f"--track {track_id} --person {person_id}, or PATCH /tracks/{track_id}"
    )
    if how == "file":
        return OwnedByAnother(
            f"此文件已存为{owner_zh}的轨迹 {track_id}（同一文件只算一条轨迹），{remedy} "
            f"already stored as track {track_id} for person {owner}, not person {person_id} "
            f"(the same bytes are one track; {reassign})",
            f"此文件已由他人上传（同一文件只算一条轨迹）{_ASK_PLANNER[0]}another person "
            f"uploaded this file already (the same bytes are one track){_ASK_PLANNER[1]}",
        )
    same_zh, same = {
        "near": (f"定位点相差不到 {NEAR_M:g} 米、时间相同", f"fixes within {NEAR_M:g} m and times"),
        "fixes": ("定位点相同、时间相同", "the same fixes and times"),
    }.get(how, (f"定位点相同或相差不到 {NEAR_M:g} 米", f"the same fixes, or within {NEAR_M:g} m"))
    return OwnedByAnother(
        f"此文件与{owner_zh}的轨迹 {track_id} 是同一次巡查（{same_zh}，只是文件写法不同；"
        f"同一次巡查只算一条轨迹），未存储；{remedy} the same walk as track {track_id} "
        f"of person {owner}, not person {person_id} ({same}, the file written "
        f"differently; one walk is one track): not stored; {reassign}",
        f"此文件与他人已上传的一次巡查是同一次巡查（{same_zh}，只是文件写法不同），"
        f"未存储{_ASK_PLANNER[0]}another person uploaded this walk already: the file is the "
        f"same walk ({same}, written differently); not stored{_ASK_PLANNER[1]}",
    )


def _change_mode(
    engine: Engine,
    stored: StoredTrack,
    mode: str,
    person_id: int | None,
    by: str | None,
    queue: bool,
) -> StoredTrack:
    """The same file sent again naming another mode: the uploader says the first was wrong
    (a walk sent as a bike ride credits nothing; a ride sent as a walk is cut where it was
    fast). The track is matched again in the new mode (the caller matches it, or queues it).

    WHY only when named: a re-send of a folder with no mode must not turn a bike ride back
    into a walk; the API and the CLI pass None when the uploader did not name one."""
    with engine.begin() as conn:
        old = _lock_live(conn, stored.track_id, person_id).mode
        if old == mode:  # a concurrent re-send changed it already
            return replace(stored, mode=mode)
        conn.execute(
            text("UPDATE tracks SET mode = :m, status = :st WHERE id = :t"),
            {"m": mode, "st": "queued" if queue else "stored", "t": stored.track_id},
        )
        change = {"from": old, "to": mode}
        audit.record(conn, by, "track.mode", "track", stored.track_id, change)
    return replace(stored, mode=mode, mode_change=change)


def _points_of(engine: Engine, track_id: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return read_track_points(conn, [track_id])


def set_track_person(
    engine: Engine,
    track_id: int,
    person_id: int,
    by: str | None,
    authorize: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Give a stored track, and the credit of its visits, to another person: a walk uploaded
    for the wrong steward (the same bytes are one track, so sending it again for the right
    one is a 409). ``authorize(path)`` (a planner's scope) is called with the area path of
    the home of the person it leaves, if any, and of the one it goes to. Recorded in the
    audit log with both ids."""
    from geo.area_paths import area_path

    with engine.begin() as conn:
        track = conn.execute(
            text("SELECT id, person_id, status FROM tracks WHERE id = :t FOR UPDATE"),
            {"t": track_id},
        ).first()
        if track is None:
            if authorize is not None:  # out of scope, which tracks exist is not told
                authorize(None)
            raise NotFoundError(f"轨迹 {track_id} 不存在 track {track_id} does not exist")
        homes = dict(
            conn.execute(
                text(
                    "SELECT p.id, a.code FROM people p LEFT JOIN areas a ON a.id = p.area_id "
                    "WHERE p.id = ANY(:p)"
                ),
                {"p": [person_id, track.person_id]},
            ).all()
        )
        if person_id not in homes:
            raise NotFoundError(
                f"系统编号为 id:{person_id} 的人员不存在 person {person_id} does not exist"
            )
        if authorize is not None:
            for pid in dict.fromkeys([track.person_id, person_id]):
                if pid is not None:
                    code = homes.get(pid)
                    authorize(area_path(conn, code) if code else None)
        if track.status == "withdrawn":  # it credits nobody; its trail names its person
            raise ConflictError(
                f"轨迹 {track_id} 已撤回，请先恢复（gridward tracks restore {track_id}） "
                f"track {track_id} is withdrawn: restore it first "
                f"(gridward tracks restore {track_id})"
            )
        before = track.person_id
        if before != person_id:
            _give_track(conn, track_id, person_id)
            audit.record(
                conn, by, "track.person", "track", track_id, {"from": before, "to": person_id}
            )
        left = leaver_warning(conn, person_id, track_id, "改归")
    out: dict[str, Any] = {"track_id": track_id, "person_id": person_id, "before": before,
                           "changed": before != person_id}  # fmt: skip
    if left:  # the CLI prints it, the API answers it (T37 F12)
        out["warning"] = left
    return out


def _give_track(conn: Connection, track_id: int, person_id: int) -> None:
    """The track and the credit of its visits become ``person_id``'s (its row locked)."""
    for sql in (
        "UPDATE tracks SET person_id = :p WHERE id = :t",
        "UPDATE patrol_visits SET person_id = :p WHERE track_id = :t",
    ):
        conn.execute(text(sql), {"p": person_id, "t": track_id})


def _same_crs(stored: str | None, given: str) -> bool:
    try:
        return normalize_crs(stored) == normalize_crs(given)
    except InputError:  # a datum stored before names were checked: leave the track as it is
        return True


def _correct_crs(
    engine: Engine,
    stored: StoredTrack,
    old_crs: str,
    data: bytes,
    filename: str | None,
    crs: str,
    person_id: int | None,
    uploaded_by: str | None,
    s: Settings,
    queue: bool,
) -> tuple[StoredTrack, pd.DataFrame | None]:
    """The same file uploaded again with another datum: the uploader says the first choice
    was wrong (a datum hint may have told them). The fixes are read again in the new datum,
    replace the old ones, and the track is matched again: still one track, the same bytes.

    WHY the check: re-sending a folder with the default datum must not undo a correction. The
    change is made only when the fixes read in the new datum lie closer to the streets than in
    the old one (or no streets are stored yet); otherwise, a tie included, the track keeps its
    datum and the answer says why."""
    from geo.tracks.datum import street_distance
    from geo.tracks.parse import parse_track

    pts = parse_track(
        data, filename, crs=crs, max_bytes=s.max_upload_bytes, default_tz=s.timezone
    ).points
    change: dict[str, Any] = {"from": old_crs, "to": str(crs)[:16]}
    try:
        net = walk_network(engine)
    except InputError:  # no streets stored yet: nothing to compare with, the uploader decides
        net = None
    if net is not None:
        with engine.connect() as conn:
            old = read_track_points(conn, [stored.track_id])
        old_m = street_distance(net, old["lon"].to_numpy(), old["lat"].to_numpy())
        new_m = street_distance(net, pts["lon"].to_numpy(), pts["lat"].to_numpy())
        change.update(old_m=round(old_m, 1), new_m=round(new_m, 1))
    if net is not None and new_m >= old_m:
        # equal too: a walk with no street near it in either datum (both capped at CAP_M) gives
        # no evidence, and re-sending it with the default datum must not undo a correction
        change["changed"] = False
        change["message"] = (
            f"已按 {old_crs} 保存，未改：按 {crs} 读，定位点离街巷平均 {new_m:.0f} 米，"
            f"按 {old_crs} 读为 {old_m:.0f} 米，并不更近 kept as {old_crs}: read "
            f"as {crs} the fixes lie {new_m:.0f} m from the streets on average, {old_m:.0f} m as "
            f"{old_crs}"
        )
        return replace(stored, crs_change=change), None
    days = days_between(pts["time"].min().to_pydatetime(), pts["time"].max().to_pydatetime())
    ensure_day_partitions(engine, days)  # retention may have dropped the walk's days
    with engine.begin() as conn:
        current = _lock_live(conn, stored.track_id, person_id).crs
        if _same_crs(current, crs):  # a concurrent upload corrected it already
            return stored, None
        _replace_fixes(conn, stored.track_id, pts)
        conn.execute(
            # its visits are stale until matched again (ingest_track, or the queue)
            text("UPDATE tracks SET crs = :c, n_points = :n, status = :st WHERE id = :t"),
            {
                "c": change["to"],
                "n": len(pts),
                "st": "queued" if queue else "stored",
                "t": stored.track_id,
            },
        )
        audit.record(conn, uploaded_by, "track.crs", "track", stored.track_id, change)
    change["changed"] = True
    # said when it changed too, not only when it did not (T40 #10)
    change["message"] = (
        f"坐标系已由 {old_crs} 改为 {change['to']}：定位点已按 {change['to']} 重新读取，轨迹将"
        f"重新匹配 datum changed from {old_crs} to {change['to']}: the fixes were read again "
        "and the track is matched again"
    )
    return replace(stored, n_points=len(pts), crs_change=change), pts


# the namespace of the per-walk advisory locks (the two-key form: its own key space)
_WALK_LOCK = 0x67_77_6B  # "gwk"


def _center_ewkt(pts: pd.DataFrame, fixes: str | None) -> str | None:
    """The fixes' mean as EWKT for ``tracks.fixes_center`` (None without a digest)."""
    if fixes is None:
        return None
    lon, lat = fixes_center(pts)
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def _walk_stored_meanwhile(conn: Any, fixes: str | None) -> bool:
    """Whether a track of these fixes is stored, asked holding this walk's lock until the
    caller's transaction ends. WHY: the same walk in two formats sent at the same moment (a
    phone syncing two exports) both passed :func:`_same_walk` before either was stored, and
    became two tracks: its late upload counted twice, and withdrawing one left the walk
    credited through the other (an outside tester's F8). The sha256 conflict guards the
    same bytes only."""
    if fixes is None:
        return False
    conn.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:f))"), {"ns": _WALK_LOCK, "f": fixes}
    )
    found = conn.execute(
        text("SELECT 1 FROM tracks WHERE fixes_sha256 = :f LIMIT 1"), {"f": fixes}
    ).first()
    return found is not None


def _insert_track(conn: Any, row: dict[str, Any], pts: pd.DataFrame) -> int | None:
    """The tracks row and its fixes (COPY); None when the same bytes were stored meanwhile."""
    track_id = conn.execute(
        text(
            "INSERT INTO tracks (sha256, raw, filename, format, crs, size_bytes, person_id, "
            "started_at, ended_at, n_points, status, mode, uploaded_by, fixes_sha256, "
            "fixes_center) VALUES "
            "(:sha, :raw, :fn, :fmt, :crs, :size, :person, :t0, :t1, :n, :status, :mode, :by, "
            ":fixes, ST_GeomFromEWKT(:center)) "
            "ON CONFLICT (sha256) DO NOTHING RETURNING id"
        ),
        row,
    ).scalar()
    if track_id is None:
        return None
    copy_points(conn, int(track_id), pts)
    return int(track_id)


def _replace_fixes(conn: Any, track_id: int, pts: pd.DataFrame) -> None:
    """A stored track's fixes replaced (a datum or time zone put right; their day tables must
    exist), with the digest and mean that know the walk again (:func:`walk_holder`)."""
    conn.execute(text("DELETE FROM track_points WHERE track_id = :t"), {"t": track_id})
    copy_points(conn, track_id, pts)
    fixes = fixes_digest(pts)
    conn.execute(
        text(
            "UPDATE tracks SET fixes_sha256 = :f, fixes_center = ST_GeomFromEWKT(:c) WHERE id = :t"
        ),
        {"f": fixes, "c": _center_ewkt(pts, fixes), "t": track_id},
    )


def copy_points(conn: Any, track_id: int, pts: pd.DataFrame) -> None:
    """COPY a track's fixes into track_points (their day tables must exist): an upload's,
    a corrected one's, a restored one's (:mod:`geo.track_withdraw`)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    acc = pts["accuracy"].to_numpy(float) if "accuracy" in pts else np.full(len(pts), np.nan)
    # hex EWKB made in one vectorised call: PostGIS parses it much faster than WKT text
    wkb = shapely.to_wkb(
        shapely.set_srid(shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy()), 4326),
        hex=True,
        include_srid=True,
    )
    # The COPY text is built in one pass and written once: numpy formats the times (strftime
    # through pandas cost ~3 µs a fix) and psycopg's write_row per fix cost as much again.
    when = pd.DatetimeIndex(pts["time"])
    if when.tz is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    utc = when.to_numpy("datetime64[us]")
    times = np.datetime_as_string(utc, unit="us")
    accs = [r"\N" if a != a else repr(a) for a in acc.tolist()]
    body = "".join(
        f"{track_id}\t{i}\t{t}+00\t{a}\t{g}\n"
        for i, (t, a, g) in enumerate(zip(times.tolist(), accs, wkb.tolist(), strict=True))
    )
    with (
        raw.cursor() as cur,
        cur.copy("COPY track_points (track_id, seq, t, accuracy, geom) FROM STDIN") as cp,
    ):
        cp.write(body.encode())


# jumps back in time (beyond GRIDWARD_TRACK_BACKWARDS_TOLERANCE_S) a file may have: its
# blocks are sorted by time; more is a shuffled file (see _check_times)
MAX_BACK_JUMPS = 3


def _future_refusal(
    latest: pd.Timestamp, now: pd.Timestamp, tz: str, zoneless_utc: bool = False
) -> str:
    """Why a track ending after now is refused, with the likely cause when its times are ahead
    by the city's UTC offset: local clock times read as UTC. For a GPX whose times carry no
    zone (``zoneless_utc``), that cause is named whenever read as local time the walk has
    ended: a steward uploads hours after walking, so "about the offset" ahead told most of
    them their clock was wrong (outside tester T37, F1)."""
    ahead_h = (latest - now).total_seconds() / 3600
    offset = now.tz_convert(tz).utcoffset()
    offset_h = offset.total_seconds() / 3600 if offset is not None else 0.0
    local = latest.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
    why = "the device clock is wrong, or the walk is dated ahead"
    why_zh = "可能是设备时钟不准，或巡查的日期写到了将来；请检查设备时间后重新导出"
    meant = latest.tz_convert("UTC").tz_localize(None).tz_localize(tz, nonexistent="shift_forward")
    if zoneless_utc and offset_h > 0 and ahead_h <= offset_h + 0.25:
        shown = meant.strftime("%Y-%m-%d %H:%M")
        why = (
            f"the GPX times carry no zone, so they were read as UTC (GPX's rule); read as local "
            f"time the walk ended at {shown}, which has passed: the file holds local clock "
            "times: write them with their zone, e.g. +08:00, or export with the zone"
        )
        why_zh = (
            f"文件中的 GPX 时间没有写时区，按 GPX 标准被当作 UTC 读取；若按本地时间读，这次巡查"
            f"结束于 {shown}，已经过去：文件里写的应是本地时间。请把时间连同时区一起写出"
            "（如 +08:00），或在 App 中选择带时区导出"
        )
    elif offset_h > 0 and abs(ahead_h - offset_h) <= 1:
        why = (
            f"ahead by about the city's UTC offset ({offset_h:+g} h): local clock times read as "
            "UTC (a GPX time without a zone is UTC): write them with their zone, e.g. +08:00"
        )
        why_zh = (
            f"超前的时长约等于本市与 UTC 的时差（{offset_h:+g} 小时）：很可能文件里的时间是本地时间"
            "却没有写时区，因而被当作 UTC 读取（GPX 中不带时区的时间一律按 UTC 读）；请把时间连同"
            "时区一起写出（如 +08:00），或在 App 中选择带时区导出"
        )
    return (
        f"轨迹时间晚于当前时间：这次巡查结束于本地时间 {local}，比现在晚 {ahead_h:.1f} 小时；"
        f"{why_zh} the walk ends in the future ({local} local, {ahead_h:.1f} h from now): {why}"
    )


def _check_times(pts: pd.DataFrame, s: Settings, zoneless_utc: bool = False) -> None:
    """Refuse tracks from a clock in the future or with times out of order (hostile or broken).
    The messages do not name the file: the callers do, as for the reader's refusals."""
    latest = pts["time"].max()
    now = pd.Timestamp.now(tz="UTC")
    if latest > now + pd.Timedelta(seconds=s.track_future_tolerance_s):
        raise InputError(_future_refusal(latest, now, s.timezone, zoneless_utc))
    if "source_index" in pts.columns and len(pts) > 1:
        in_file = pts.sort_values("source_index")["time"].astype("int64").to_numpy()
        back = -np.diff(in_file) / 1e9
        jumps = np.flatnonzero(back > s.track_backwards_tolerance_s)
        if (back >= 0).all():  # newest first, as some apps export: in order, backwards
            jumps = jumps[:0]
        # A few jumps back are whole recordings in another order (a GPX's <trk>s, fixes an
        # app cached offline and sent later): the parser sorted them by time. Many are a
        # shuffled file or a clock jumping about, whose time order is not the walk.
        if len(jumps) > MAX_BACK_JUMPS:
            worst = int(jumps[np.argmax(back[jumps])])
            raise InputError(
                f"定位点时间顺序混乱，文件像是被打乱：有 {len(jumps)} 处下一个定位点的时间更早"
                f"（最严重的是第 {worst + 2} 个定位点，早了 {back[worst]:.0f} 秒）；"
                "少数几段顺序颠倒会自动排好，整个文件打乱则不行 "
                f"timestamps out of order: {len(jumps)} times the next point is "
                f"earlier (point {worst + 2} by {back[worst]:.0f} s); a few blocks out of "
                "order are sorted, a shuffled file is not"
            )


def local_iso(t: Any) -> str | None:
    """An instant as the city's local time, as every other answer about tracks gives it."""
    if t is None or t is pd.NaT:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(get_settings().timezone)
    return ts.isoformat()


# --------------------------------------------------------------------------------------------
# the walkable network, built once per process and rebuilt when the segments change
# --------------------------------------------------------------------------------------------


_net_lock = threading.Lock()


DbBind = Engine | Connection


@contextmanager
def _connected(bind: DbBind) -> Iterator[Connection]:
    """A connection of ``bind``: a new one from an engine, or the caller's own connection.
    WHY the caller's: a match that holds its track locked (:func:`match_stored_track`) keeps
    one connection; reading the network on a second one from the same pool made every such
    match hold one connection while it waited for another, which can exhaust the pool."""
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
    live at its local end (:func:`geo.patrol_reports.segment_live_at`). WHY: a walk is
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
    from geo.patrol_reports import segment_live_at
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


def match_stored_track(
    engine: Engine,
    track_id: int,
    mode: str | None = None,
    points: pd.DataFrame | None = None,
    if_unmatched: bool = False,
) -> dict[str, Any]:
    """Clean and match a stored track; replace its patrol visits. Returns a summary.

    ``points`` (lon, lat, time, accuracy) are the track's stored points when the caller has
    them already (just parsed); otherwise they are read back from track_points.
    ``if_unmatched``: a new upload's first match. If the track was matched (or failed) by the
    time its row is locked, its last match is answered and nothing is matched again. WHY: a
    re-send of the same file between the upload's insert and this lock matches the track
    itself (:func:`resume_match`); matching it once more added a second, identical match.

    The track's row is locked (``FOR UPDATE``) from the start of the match to its commit, as
    the match queue locks the tracks it claims: a row so locked is a track being matched.
    WHY: a re-send of the same file, a claim by a steward (:func:`_claim`) and the queue see
    that someone is matching it and neither match it again nor change its person half way
    (a claim while the first upload was matching left every visit with no person); and a
    process killed mid-match releases the lock with its connection, so a re-send can tell an
    abandoned track from one being matched (:func:`resume_match`).
    """
    with engine.begin() as conn:
        track = conn.execute(
            text(
                "SELECT id, person_id, mode, crs, status, error, n_points FROM tracks "
                "WHERE id = :t FOR UPDATE"
            ),
            {"t": track_id},
        ).first()
        if track is None:
            raise NotFoundError(f"轨迹 {track_id} 不存在 track {track_id} does not exist")
        if track.status == "withdrawn":  # withdrawn while its upload waited for the lock
            raise ConflictError(
                f"轨迹 {track_id} 已撤回，不再匹配 track {track_id} was withdrawn: not matched"
            )
        if if_unmatched and track.status not in ("stored", "queued"):
            return _matched_meanwhile(conn, track)
        return _match_locked(conn, track, mode, points)


MATCHED_MEANWHILE = "同一文件的重新发送已先完成匹配 matched meanwhile by a re-send of the same file"


def _matched_meanwhile(conn: Connection, track: Any) -> dict[str, Any]:
    """The answer to a first upload whose track a re-send matched first: that match's summary
    (from ``track_matches``), or its failure raised as the re-send's was."""
    from geo.errors import GridwardError

    if track.status == "failed":
        raise GridwardError(track.error or "匹配失败 the match failed")
    last = conn.execute(
        text(
            "SELECT matched_points, pieces, segments, walked_m FROM track_matches "
            "WHERE track_id = :t "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"t": track.id},
    ).first()
    out: dict[str, Any] = {"track_id": int(track.id), "note": MATCHED_MEANWHILE}
    if last is not None:
        out.update(
            points=track.n_points,
            matched_points=last.matched_points,
            pieces=last.pieces,
            segments=last.segments,
            walked_m=round(last.walked_m, 1),
        )
    return out


def resume_match(engine: Engine, track_id: int) -> dict[str, Any] | None:
    """Match a stored track that was never matched since it was stored (status ``stored`` or
    ``queued``), unless someone is matching it now (its row is locked): then None, as when
    it is matched already. WHY: an upload whose process was killed mid-match leaves its track
    ``stored`` with no visits, and the same file sent again was answered "already stored"
    and never matched (see :func:`ingest_track`)."""
    with engine.begin() as conn:
        track = conn.execute(
            text(
                "SELECT id, person_id, mode, crs FROM tracks WHERE id = :t "
                "AND status IN ('stored', 'queued') FOR UPDATE SKIP LOCKED"
            ),
            {"t": track_id},
        ).first()
        if track is None:
            return None
        return _match_locked(conn, track, None, None)


def match_held(
    conn: Connection, track_id: int, points: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Match track ``track_id``, whose row the caller's transaction holds locked (a restore:
    :mod:`geo.track_withdraw`), on ``points`` or its stored fixes (or its kept file)."""
    track = conn.execute(
        text("SELECT id, person_id, mode, crs FROM tracks WHERE id = :t"), {"t": track_id}
    ).one()
    return _match_locked(conn, track, None, points)


def _match_locked(
    conn: Connection, track: Any, mode: str | None, points: pd.DataFrame | None
) -> dict[str, Any]:
    """:func:`match_stored_track` of ``track`` (a row locked in ``conn``'s transaction), on
    ``conn`` alone (network reads included: see :func:`_connected`)."""
    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.match import MatchParams

    s = get_settings()
    track_id = int(track.id)
    mode = mode or track.mode
    if points is None:
        pts = read_track_points(conn, [track_id]).drop(columns="track_id")
    else:
        pts = points[["lon", "lat", "time", "accuracy"]].reset_index(drop=True)
    clean = CleanParams(mode=mode, max_accuracy_m=s.max_accuracy_m)
    pieces, report = clean_with_report(pts, clean)
    params = MatchParams.for_mode(mode)
    found = match_on_day_networks(conn, [pieces], params, s.timezone)[0]
    result, net = found.matches, found.net or walk_network(conn)
    rows = visit_rows(track_id, track.person_id, result)
    summary = summarize(net, result, pts, track.crs)
    walked = write_visits(conn, rows, {track_id: summary})[track_id].now
    out = {
        "track_id": track_id,
        "points": result.total_points,
        "matched_points": result.matched_points,
        "pieces": result.pieces,
        "segments": len(rows),
        "walked_m": round(walked, 1),
        "cleaning": report.as_dict(),
    }
    if summary.datum_hint:
        out["datum_hint"] = summary.datum_hint
    if not rows:
        out["warning"] = why_nothing_matched(report, clean, params, result.matched_points)
    return out


def why_nothing_matched(report: Any, clean: Any, params: Any, matched: int = 0) -> str:
    """Why a stored track credits no street: "matched, 0 segments" alone leaves a steward
    guessing whether the phone, the file or the map is at fault. ``matched``: fixes the
    matcher placed on the network (then the datum is not the question)."""
    n = report.points_in
    if report.points_out == 0:
        if n and report.poor_accuracy >= n / 2:
            return (
                f"定位精度太差，定位点已丢弃：{n} 个定位点中有 {report.poor_accuracy} 个的精度差于 "
                f"{clean.max_accuracy_m:g} 米，已丢弃（GRIDWARD_MAX_ACCURACY_M） "
                f"{report.poor_accuracy} of {n} fixes report an accuracy worse than "
                f"{clean.max_accuracy_m:g} m and were dropped (GRIDWARD_MAX_ACCURACY_M)"
            )
        if n > 1 and report.duplicate_times >= n - 1:
            return (
                f"全部 {n} 个定位点时间相同，无法还原行走 all {n} fixes have the same time: "
                "no walk to follow"
            )
        if report.short_pieces_points:
            return (
                f"定位点太少，无法还原行走（文件中共 {n} 个） "
                f"too few fixes to follow a walk ({n} in the file)"
            )
        return (
            "清洗后没有剩余定位点（见 cleaning） no fixes were left after cleaning (see cleaning)"
        )
    if matched > 0:
        least = params.min_credit_sigmas * params.sigma_min_m
        return (
            f"走过的路段太短，无法计入：有 {matched} 个定位点落在街巷上，但在任何一个路段上走过的都"
            f"太短（不足约 {least:g} 米：短于 GPS 误差的一段无法核实） "
            f"{matched} fixes lie on the streets, but the walk covered too little of any "
            f"street segment to credit (under about {least:g} m: a stretch shorter than the "
            "GPS noise cannot be verified)"
        )
    return (
        f"定位点 {params.search_radius_m:g} 米内没有街巷：请检查这次巡查是否在本市街巷范围内"
        f"{_NO_STREET_CRS[0]}no street or alley within {params.search_radius_m:g} m of the "
        f"fixes: is the walk inside the city's streets{_NO_STREET_CRS[1]}"
    )


# the datum clause of why_nothing_matched's "no street within" reason, and as the patrol
# map's upload form says it (form_words)
_NO_STREET_CRS = ("、坐标系（crs）是否正确 ", ", and its datum (crs) right?")
_NO_STREET_FORM = (
    "、“坐标 coordinates”是否选对 ",
    ', and the "坐标 coordinates" choice right?',
)
_NO_STREET_HINTED = ("（坐标系见上方提示） ", " (the datum: see the note above)?")


def form_words(warning: str, hinted: bool) -> str:
    """A match's ``warning`` (:func:`why_nothing_matched`) as the patrol map's upload form
    shows it: its datum clause names the form's own 坐标 choice, not ``crs``, a parameter
    the steward on the page never sees; with a datum hint beside it (``hinted``: the hint
    names the choice to make) the clause is left out. WHY (T41 #5): the form showed the
    hint's right remedy, then "坐标系（crs）是否正确" under it. Other warnings: as they are."""
    zh, en = _NO_STREET_CRS
    if zh not in warning or not warning.endswith(en):
        return warning
    # hinted: "…是否在本市街巷范围内（坐标系见上方提示） … inside the city's streets (the
    # datum: see the note above)?"
    form_zh, form_en = _NO_STREET_HINTED if hinted else _NO_STREET_FORM
    return warning.replace(zh, form_zh, 1).removesuffix(en) + form_en


@dataclass(frozen=True)
class MatchSummary:
    """What one match of a track found, kept in ``track_matches``: fixes placed on the
    network, pieces, and a datum hint when the fixes look like another datum's
    (:mod:`geo.tracks.datum`)."""

    matched_points: int
    pieces: int
    datum_hint: dict[str, Any] | None = None


def summarize(net: Any, result: Any, points: pd.DataFrame, crs: str | None) -> MatchSummary:
    """A :class:`MatchSummary` of ``result`` (a :class:`DayMatches`), the match of ``points``
    (WGS-84, converted from the declared ``crs``)."""
    from geo.tracks.datum import datum_hint

    hint = datum_hint(
        net, points["lon"].to_numpy(float), points["lat"].to_numpy(float), crs or "wgs84"
    )
    return MatchSummary(result.matched_points, result.pieces, hint.as_dict() if hint else None)


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
                found.days.append((day, res))
                found.fixes.append((res.total_points, res.matched_points))
        out.append(found)
    return out


def visit_rows(track_id: int, person_id: int | None, matches: DayMatches) -> list[dict[str, Any]]:
    """patrol_visits rows (one per matched segment and local day) of a track's match."""
    rows: list[dict[str, Any]] = []
    for day, result in matches.days:
        intervals = result.intervals if result.intervals is not None else pd.DataFrame()
        by_edge: dict[int, list[list[float]]] = {}
        for r in intervals.itertuples(index=False):
            by_edge.setdefault(int(r.edge_id), []).append(
                [round(float(r.start_fraction), 6), round(float(r.end_fraction), 6)]
            )
        rows.extend(
            {
                "t": track_id,
                "seg": int(e.edge_id),
                "p": person_id,
                "day": day,
                "f": float(min(max(e.covered_fraction, 0.0), 1.0)),
                "t0": pd.Timestamp(e.first_time).to_pydatetime(),
                "t1": pd.Timestamp(e.last_time).to_pydatetime(),
                "iv": json.dumps(sorted(by_edge.get(int(e.edge_id), []))),
            }
            for e in result.edges.itertuples(index=False)
        )
    return rows


@dataclass(frozen=True)
class Rematch:
    """What one match changed. ``rematch``: the track had been matched before; ``now``: metres
    walked now; ``gained_m`` / ``lost_m``: metres credited more / less than by the previous
    match, summed per segment. Per segment, because a re-match that moves the credit from one
    alley to a parallel one of the same length leaves the total as it was, while one steward's
    alley lost its patrol and another's gained one."""

    rematch: bool
    now: float
    gained_m: float = 0.0
    lost_m: float = 0.0
    # metres credited to other local days than before (a changed GRIDWARD_TIMEZONE, a time
    # correction), within each segment: the metres alone hid such a move (tester Z3)
    moved_m: float = 0.0


# metres credited and visit rows per (track, segment, local day)
_SEGMENT_METRES = (
    "SELECT v.track_id, v.segment_id, v.day, sum(v.covered_fraction * s.length_m), count(*) "
    "FROM patrol_visits v JOIN street_segments s ON s.id = v.segment_id "
    "WHERE v.track_id = ANY(:t) GROUP BY v.track_id, v.segment_id, v.day"
)


def _credit_change(
    ids: list[int],
    old: dict[tuple[int, int, dt.date], float],
    new: dict[tuple[int, int, dt.date], float],
) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Per track: metres gained and lost, summed per segment, and metres moved to other
    days within a segment: half of what the per-day differences add up to beyond the
    segment's own (a segment's 0.6 of its length moved from one day to the next is 0.6 of it
    moved, nothing gained or lost)."""
    gained = dict.fromkeys(ids, 0.0)
    lost = dict.fromkeys(ids, 0.0)
    moved = dict.fromkeys(ids, 0.0)
    per_day: dict[tuple[int, int], float] = {}
    per_seg: dict[tuple[int, int], float] = {}
    for key in old.keys() | new.keys():
        d = new.get(key, 0.0) - old.get(key, 0.0)
        per_day[key[:2]] = per_day.get(key[:2], 0.0) + abs(d)
        per_seg[key[:2]] = per_seg.get(key[:2], 0.0) + d
    for (t, seg), d in per_seg.items():
        gained[t] += max(d, 0.0)
        lost[t] += max(-d, 0.0)
        moved[t] += (per_day[(t, seg)] - abs(d)) / 2
    return gained, lost, moved


def write_visits(
    conn: Any, rows: list[dict[str, Any]], summaries: dict[int, MatchSummary]
) -> dict[int, Rematch]:
    """Replace the patrol visits of the tracks in ``summaries`` with ``rows``, mark them
    matched and add their match to ``track_matches`` (in the caller's transaction: a crash
    leaves the old visits and status, never half of the new).

    Returns track id → :class:`Rematch`, so a re-match can say what it changed.

    The tracks' rows are locked here and each visit takes its person from that locked read,
    whatever ``rows`` say. WHY: a steward's claim of a file stored for nobody (:func:`_claim`)
    sets the person of the track and of its visits under the same lock, so whichever commits
    first, the visits end with the track's person; a person read before the match and written
    after it undid a claim made in between (the visits stayed with nobody)."""
    ids = list(summaries)
    owner = dict(
        conn.execute(
            text("SELECT id, person_id FROM tracks WHERE id = ANY(:t) ORDER BY id FOR UPDATE"),
            {"t": ids},
        ).all()
    )
    rows = [{**r, "p": owner.get(r["t"])} for r in rows]
    matched_before = set(
        conn.execute(
            text("SELECT DISTINCT track_id FROM track_matches WHERE track_id = ANY(:t)"),
            {"t": ids},
        ).scalars()
    )
    old = {
        (t, seg, day): float(m)
        for t, seg, day, m, _ in conn.execute(text(_SEGMENT_METRES), {"t": ids})
    }
    conn.execute(text("DELETE FROM patrol_visits WHERE track_id = ANY(:t)"), {"t": ids})
    if rows:
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) VALUES (:t, :seg, :p, "
                ":day, :f, :t0, :t1, CAST(:iv AS jsonb)) ON CONFLICT (track_id, segment_id, "
                "day) DO UPDATE SET covered_fraction = greatest(patrol_visits.covered_fraction,"
                " EXCLUDED.covered_fraction), intervals = patrol_visits.intervals || "
                "EXCLUDED.intervals"
            ),
            rows,
        )
    conn.execute(
        text("UPDATE tracks SET status = 'matched', error = NULL WHERE id = ANY(:t)"), {"t": ids}
    )
    # the new visits, read once: each track's totals for its match row, and per segment the
    # difference from the old visits
    walked = dict.fromkeys(ids, 0.0)
    visits = dict.fromkeys(ids, 0)
    new: dict[tuple[int, int, dt.date], float] = {}
    for t, seg, day, m, n in conn.execute(text(_SEGMENT_METRES), {"t": ids}):
        walked[t] += float(m)
        visits[t] += int(n)
        new[(t, seg, day)] = float(m)
    gained, lost, moved = _credit_change(ids, old, new)
    conn.execute(
        text(
            "INSERT INTO track_matches (track_id, matched_points, pieces, datum_hint, "
            "segments, walked_m) SELECT u.t, u.m, u.p, CAST(u.h AS jsonb), u.n, u.w "
            "FROM unnest(CAST(:t AS int[]), CAST(:m AS int[]), CAST(:p AS int[]), "
            "CAST(:h AS text[]), CAST(:n AS int[]), CAST(:w AS float8[])) AS u(t, m, p, h, n, w)"
        ),
        {
            "t": ids,
            "m": [x.matched_points for x in summaries.values()],
            "p": [x.pieces for x in summaries.values()],
            "h": [
                json.dumps(x.datum_hint, ensure_ascii=False) if x.datum_hint else None
                for x in summaries.values()
            ],
            "n": [visits[t] for t in ids],
            "w": [walked[t] for t in ids],
        },
    )
    return {
        t: Rematch(True, walked[t], gained[t], lost[t], moved[t])
        if t in matched_before
        # a first match: nothing was credited before, so nothing was gained or lost
        else Rematch(False, walked[t])
        for t in ids
    }


def read_track_points(conn: Any, track_ids: list[int]) -> pd.DataFrame:
    """Stored fixes of ``track_ids`` (track_id, time UTC, accuracy, lon, lat) in upload order."""
    pts = read_frame(
        text(
            "SELECT track_id, t AS time, accuracy, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM track_points WHERE track_id = ANY(:ids) "
            # the tracks' time span lets the planner skip every other day's partition
            # (a track without a recorded span reads every day)
            "AND t >= (SELECT CASE WHEN bool_or(started_at IS NULL) THEN '-infinity' "
            "  ELSE min(started_at) END FROM tracks WHERE id = ANY(:ids)) "
            "AND t <= (SELECT CASE WHEN bool_or(ended_at IS NULL) THEN 'infinity' "
            "  ELSE max(ended_at) END FROM tracks WHERE id = ANY(:ids)) "
            "ORDER BY track_id, seq"
        ),
        conn,
        params={"ids": list(track_ids)},
    )
    pts["time"] = pd.to_datetime(pts["time"], utc=True)
    pts["accuracy"] = pts["accuracy"].astype(float)
    return _with_archived(conn, pts, track_ids)


def _with_archived(conn: Any, pts: pd.DataFrame, track_ids: list[int]) -> pd.DataFrame:
    """``pts`` completed from the uploads' raw bytes for tracks whose day tables were dropped
    (:func:`geo.track_partitions.drop_days_before`), so re-matching an old track never sees
    it empty. The bytes are parsed by today's parser: the same fixes unless a parsing rule
    changed since the upload (e.g. zone-less GPX times, read as UTC since 2026-11, were read
    in the city's time before), in which case the re-read is the corrected one."""
    from geo.tracks.parse import parse_track

    have = pts["track_id"].value_counts()
    counts = conn.execute(
        text("SELECT id, n_points FROM tracks WHERE id = ANY(:ids)"), {"ids": list(track_ids)}
    ).all()
    missing = [r.id for r in counts if int(have.get(r.id, 0)) < (r.n_points or 0)]
    if not missing:  # the usual case: no upload's bytes are fetched
        return pts
    short = conn.execute(
        text("SELECT id, raw, filename, crs FROM tracks WHERE id = ANY(:ids) ORDER BY id"),
        {"ids": missing},
    ).all()
    s = get_settings()
    kept = pts[~pts["track_id"].isin([r.id for r in short])]
    parts = [kept] if len(kept) else []  # an empty read has object columns: leave it out
    for r in short:
        raw = bytes(r.raw)
        # the upload limit, as when the file was taken: it bounds what a KMZ unpacks to, and
        # a KMZ always unpacks to more than its own size (a limit of len(raw) + 1 refused every
        # kept KMZ). Never below the stored size: a limit lowered since does not lock a kept
        # upload out.
        limit = max(s.max_upload_bytes, len(raw))
        p = parse_track(raw, r.filename, r.crs or "wgs84", limit, s.timezone).points
        parts.append(p[["time", "accuracy", "lon", "lat"]].assign(track_id=r.id))
    out = pd.concat(parts, ignore_index=True)[list(pts.columns)]
    out["track_id"] = out["track_id"].astype(np.int64)
    return out.sort_values("track_id", kind="stable").reset_index(drop=True)


def mark_failed(engine: Engine, track_id: int, reason: str) -> None:
    """Record why a stored track could not be matched (it stays stored; nothing is lost)."""
    with engine.begin() as conn:
        set_failed(conn, track_id, reason)


def set_failed(conn: Any, track_id: int, reason: str) -> None:
    """:func:`mark_failed` inside the caller's transaction (the match queue's batch)."""
    conn.execute(
        text(
            "UPDATE tracks SET status = 'failed', error = :e WHERE id = :t "
            "AND status <> 'withdrawn'"
        ),
        {"t": track_id, "e": reason[:500]},
    )
