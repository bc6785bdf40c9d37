"""Patrol tracks in PostGIS: store an upload (raw bytes kept), match it, record patrol visits.

An upload is accepted only when it parses (:func:`geo.tracks.parse.parse_track`); then its raw
bytes, sha256 and points are written in one transaction. The same bytes uploaded again give the
same track (the sha256 is unique), so a phone that retries after a lost response never makes a
duplicate. Matching reads the stored points, cleans them, matches them to the walkable network
(street segments) and replaces that track's patrol visits, again in one transaction.

This module keeps that flow; the jobs around it live beside it: an upload's checks and how far
its times are trusted (:mod:`geo.track_times`), which stored walk a file is a copy of and the
refusals (:mod:`geo.track_copies`), the network of a day and matching by day
(:mod:`geo.day_networks`), a match's visits written (:mod:`geo.patrol_visits`), why nothing
matched (:mod:`geo.match_words`), stored fixes (:mod:`geo.track_points`), and walks by local
day (:mod:`geo.track_days`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import psycopg
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.crs import normalize_crs
from geo.day_networks import match_on_day_networks, walk_network
from geo.errors import ConflictError, InputError, NotFoundError, person_en, person_zh
from geo.match_words import why_nothing_matched
from geo.patrol_visits import summarize, visit_rows, write_visits
from geo.settings import Settings, get_settings
from geo.track_copies import (
    ASK_PLANNER,
    OwnedByAnother,
    copy_refusal,
    walk_holder,
    withdrawn_refusal,
)
from geo.track_days import local_iso
from geo.track_judging import EXTENT_SQL, extent_ewkt, judge_matched
from geo.track_partitions import days_between, ensure_day_partitions
from geo.track_points import copy_points, read_track_points
from geo.track_times import check_upload, stored_times_trust, times_trust, zone_mistake
from geo.walk_digest import NEAR_M, fixes_center, fixes_digest, zone_shift

# the newest match of track ``t`` (a LATERAL subquery): its summary for listings
LAST_MATCH = (
    "SELECT matched_at, matched_points, pieces, datum_hint FROM track_matches "
    "WHERE track_id = t.id ORDER BY id DESC LIMIT 1"
)


_MODE_ZH = {"walk": "步行", "bike": "骑行"}


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
    missed = _missed_duties(engine, stored, person_id, item)
    if missed:
        item.setdefault("warnings", []).append(missed)
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

# a matched walk's streets per local day (its visits), and the person's patrol duties on
# those days: how many, and whether the walk set foot on any of them
_MISSED_SQL = (
    "WITH v AS (SELECT DISTINCT s.street_id, pv.day FROM patrol_visits pv "
    "JOIN street_segments s ON s.id = pv.segment_id WHERE pv.track_id = :t), "
    "duty AS (SELECT DISTINCT a.street_id, d.day FROM assignments a "
    "JOIN (SELECT DISTINCT day FROM v) d ON a.valid_from <= d.day "
    "AND (a.valid_to IS NULL OR a.valid_to >= d.day) "
    "WHERE a.person_id = :p AND a.role = ANY(:roles)) "
    "SELECT (SELECT array_agg(DISTINCT street_id) FROM duty) AS held, "
    "(SELECT array_agg(DISTINCT street_id) FROM v) AS walked, "
    "(SELECT array_agg(DISTINCT day ORDER BY day) FROM v) AS days, "
    "EXISTS (SELECT 1 FROM v JOIN duty USING (street_id, day)) AS touched, "
    "p.name, p.external_id FROM people p WHERE p.id = :p"
)


def _missed_duties(
    engine: Engine, stored: StoredTrack, person_id: int | None, item: dict[str, Any]
) -> str | None:
    """A warning when a walk just matched for a person credits none of their patrol duties:
    they hold alleys or streets on the days walked and it set foot on none of them, naming
    the subdistricts their duties and the walk lie in, and how to put it right (reassign or
    withdraw). None otherwise: no person, or a mode not credited (:func:`_credit_warnings`
    says those credit nobody), nothing matched (the match's own warning says why), no duty
    on those days (the reports' notes name them), or a duty walked. The track is stored and
    matched either way. WHY (outside tester T70, #14): a walk in another subdistrict uploaded
    for the wrong steward was answered "matched 291 fixes, 14 segments" and nothing else."""
    match = item.get("match") or {}
    if (
        person_id is None
        or item.get("status") != "matched"
        or not match.get("segments")
        or stored.mode not in get_settings().credited()
    ):
        return None
    with engine.connect() as conn:
        row = conn.execute(
            text(_MISSED_SQL), {"t": stored.track_id, "p": person_id, "roles": _PATROL_ROLES}
        ).first()
        if row is None or not row.held or row.touched:
            return None
        held_zh, held = _places(conn, row.held)
        walk_zh, walk = _places(conn, row.walked)
    who_zh = person_zh(row.name, row.external_id, person_id)
    who = person_en(row.name, row.external_id, person_id)
    days = [d.isoformat() for d in row.days]
    days_zh, days_en = "和".join(days), " and ".join(days)
    n, t = len(row.held), stored.track_id
    return (
        f"这次巡查没有走到 {who_zh}在 {days_zh} 负责的任何街巷（共 {n} 条，在 {held_zh}）；"
        f"这次走在 {walk_zh}：是否选错了人？轨迹已保存并匹配，但不计入此人的巡查；如是他人的"
        f"行走，请改归（gridward tracks reassign --track {t} --person 人员编号）或撤回"
        f"（gridward tracks delete {t}） this walk touches none of the {n} "
        f"{'street or alley' if n == 1 else 'streets and alleys'} {who} holds on {days_en} "
        f"(in {held}); it lies in {walk}: wrong person? The track is stored and matched but "
        "credits none of their patrols; if it is someone else's walk, reassign it (gridward "
        f"tracks reassign --track {t} --person ID) or withdraw it (gridward tracks delete {t})"
    )


def _places(conn: Connection, street_ids: list[int]) -> tuple[str, str]:
    """The subdistricts (townships) streets lie in, by the rule staffing and the reports
    follow (:mod:`geo.street_areas`), most streets first: 学院路东街道（110108012） and
    学院路东街道 (110108012); those outside every subdistrict said so."""
    from geo.street_areas import street_areas_sql

    rows = conn.execute(
        text(
            "SELECT x.subdistrict_code AS code, x.subdistrict_name AS name, count(*) AS n "
            f"FROM ({street_areas_sql('WHERE st.id = ANY(CAST(:i AS int[]))')}) x "
            "GROUP BY 1, 2 ORDER BY count(*) DESC, x.subdistrict_code NULLS LAST"
        ),
        {"i": [int(i) for i in street_ids]},
    ).all()
    zh, en = [], []
    for r in rows:
        if r.code is None:
            zh.append("街道（乡镇）范围外")
            en.append("outside every subdistrict")
        else:
            zh.append(f"{r.name}（{r.code}）" if r.name else r.code)
            en.append(f"{r.name} ({r.code})" if r.name else r.code)
    return "、".join(zh), ", ".join(en)


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
    queue) is left to whoever holds it and said to be ``matching``, deferred or not (T61 #9:
    a deferred re-send of a track a ``tracks worker`` held was answered ``queued``); a
    deferred re-send of a queued track no one holds gets a job (its status ``queued``) that
    ends when the track is matched. A matched or failed track is
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
                    text("UPDATE tracks SET status = 'queued', changed_at = now() WHERE id = :t"),
                    {"t": track_id},
                )
        status = _status(engine, track_id)
        if status == "queued" and free is not None:  # waits in the queue: a job waits for it
            item.update(status="queued", resumed=RESUMED_QUEUED)
        elif status in ("stored", "queued"):  # held: an upload or a worker is matching it now
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
    corrected (None if it existed unchanged). A file refused as a copy of a stored walk (or
    as that walk's file, withdrawn or another person's: :class:`OwnedByAnother`) is recorded
    in the audit log (:func:`_record_refusal`) and the refusal raised."""
    seen: dict[str, Any] = {}
    try:
        return _store_file(
            engine, data, filename, crs, person_id, uploaded_by, settings, mode, queue,
            may_restore, seen,
        )  # fmt: skip
    except OwnedByAnother as exc:
        _record_refusal(engine, exc, uploaded_by, filename, person_id, seen)
        raise


def _record_refusal(
    engine: Engine,
    exc: OwnedByAnother,
    by: str | None,
    filename: str | None,
    person_id: int | None,
    seen: dict[str, Any],
) -> None:
    """Audit ``track.refused`` for a refused copy (409: a copy, the same walk, a withdrawn
    walk, another person's upload), in a transaction of its own: the refusal stores nothing
    else. ``detail``: the file's name and sha256, the person it was sent for, the stored
    track it copies (``copies``, also the entry's target) and the hours its first fix lies
    from that track's (``shift_h``, when they differ). WHY (T52 #11): refused copies left
    no trace, so an evaluator never learned that someone had tried."""
    detail: dict[str, Any] = {
        "filename": filename,
        "sha256": seen.get("sha"),
        "person_id": person_id,
        "copies": exc.copies,
        "message": exc.message,
    }
    with engine.begin() as conn:
        if exc.copies is not None and seen.get("start") is not None:
            start = conn.execute(
                text("SELECT started_at FROM tracks WHERE id = :t"), {"t": exc.copies}
            ).scalar()
            if start is not None:
                shift = (seen["start"] - pd.Timestamp(start)).total_seconds()
                if shift:
                    detail["shift_h"] = round(shift / 3600, 4)
        audit.record(conn, by, "track.refused", "track", exc.copies, detail)


def _store_file(
    engine: Engine,
    data: bytes,
    filename: str | None,
    crs: str,
    person_id: int | None,
    uploaded_by: str | None,
    settings: Settings | None,
    mode: str | None,
    queue: bool,
    may_restore: Callable[[int], bool] | None,
    seen: dict[str, Any],
) -> tuple[StoredTrack, pd.DataFrame | None]:
    """:func:`_store`; ``seen`` gets the file's sha256 (``sha``) and first fix (``start``)
    once known, for a refusal's audit entry."""

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
    seen["sha"] = sha

    def resent() -> tuple[StoredTrack, pd.DataFrame | None] | None:
        """The stored file's answer (its person and datum checked), None if it is new."""
        with engine.connect() as conn:
            existing = conn.execute(
                text(
                    "SELECT id, n_points, format, started_at, ended_at, crs, person_id, mode, "
                    "status, withdrawn_at, withdrawn_by, withdraw_reason, uploaded_at "
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
            engine,
            stored,
            existing.crs,
            data,
            filename,
            crs,
            person_id,
            uploaded_by,
            s,
            queue,
            existing.uploaded_at,
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
    seen["start"] = t0
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
        "extent": extent_ewkt(pts),
        # what the upload answer says of the file, kept for whoever reads the track later
        # (T52 #15: a GPX read as UTC was warned once, then a 02:00 patrol had no word)
        "warnings": json.dumps(parsed.warnings, ensure_ascii=False),
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
      the one shift the stored reading can be wrong by (:func:`zone_mistake`): the walk's
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
    if row.sha256 == sha:
        # these very bytes, stored by a concurrent upload since this one looked for them
        # (two accounts sending one file at once): not "the same walk"; the insert finds the
        # walk (or the bytes) taken and answers as a re-send, same_file (T67 #20)
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
        raise copy_refusal(row, person_id, near, part=True)
    if bool(old["time"].isin(pts["time"]).all()):
        # the stored walk with fixes added around it at its own times: the walker's own
        # longer export of it (sent mid-walk, then whole) is a walk; anyone else's, a copy
        if row.person_id is None or person_id in (None, row.person_id):
            return None
        raise copy_refusal(row, person_id, near, holds=True)
    if shift is None or not own:
        raise copy_refusal(row, person_id, near)
    stated, kept = times_trust(parsed), stored_times_trust(engine, int(row.id))
    if stated == kept:  # both files' times read as surely, and disagree: a re-dated walk
        raise copy_refusal(row, person_id, near)
    if stated > kept and shift != zone_mistake(kept, row.started_at):
        raise copy_refusal(row, person_id, near)  # not the one mistake its reading can have made
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
    new["warnings"] = json.dumps(parsed.warnings, ensure_ascii=False)  # the new file's
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
                "status = :st, warnings = CAST(:warnings AS jsonb), changed_at = now() "
                "WHERE id = :t"
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
            f"此文件已由他人上传（同一文件只算一条轨迹）{ASK_PLANNER[0]}another person "
            f"uploaded this file already (the same bytes are one track){ASK_PLANNER[1]}",
            track_id,
            "file_of_another",
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
        f"未存储{ASK_PLANNER[0]}another person uploaded this walk already: the file is the "
        f"same walk ({same}, written differently); not stored{ASK_PLANNER[1]}",
        track_id,
        "walk_of_another",
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
            text("UPDATE tracks SET mode = :m, status = :st, changed_at = now() WHERE id = :t"),
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
        "UPDATE tracks SET person_id = :p, changed_at = now() WHERE id = :t",
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
    uploaded_at: dt.datetime,
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

    pts = parse_track(  # read as at its first upload, as the fixes stored (a GPS rollover)
        data, filename, crs, s.max_upload_bytes, s.timezone, now=pd.Timestamp(uploaded_at)
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
            text(
                "UPDATE tracks SET crs = :c, n_points = :n, status = :st, changed_at = now() "
                "WHERE id = :t"
            ),
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
            "fixes_center, fixes_extent, warnings) VALUES "
            "(:sha, :raw, :fn, :fmt, :crs, :size, :person, :t0, :t1, :n, :status, :mode, :by, "
            f":fixes, ST_GeomFromEWKT(:center), {EXTENT_SQL}, CAST(:warnings AS jsonb)) "
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
    exist), with the digest and mean that know the walk again (:func:`walk_holder`) and the
    box that finds the walks it may copy (:mod:`geo.track_judging`)."""
    conn.execute(text("DELETE FROM track_points WHERE track_id = :t"), {"t": track_id})
    copy_points(conn, track_id, pts)
    fixes = fixes_digest(pts)
    conn.execute(
        text(
            "UPDATE tracks SET fixes_sha256 = :f, fixes_center = ST_GeomFromEWKT(:c), "
            f"fixes_extent = {EXTENT_SQL} WHERE id = :t"
        ),
        {"f": fixes, "c": _center_ewkt(pts, fixes), "extent": extent_ewkt(pts), "t": track_id},
    )


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
    ``conn`` alone (network reads included: see :func:`geo.day_networks._connected`)."""
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
    judge_matched(conn, [track_id])  # its flags, with its visits (geo.track_judging)
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


def mark_failed(engine: Engine, track_id: int, reason: str) -> None:
    """Record why a stored track could not be matched (it stays stored; nothing is lost)."""
    with engine.begin() as conn:
        set_failed(conn, track_id, reason)


def set_failed(conn: Any, track_id: int, reason: str) -> None:
    """:func:`mark_failed` inside the caller's transaction (the match queue's batch)."""
    conn.execute(
        text(
            "UPDATE tracks SET status = 'failed', error = :e, changed_at = now() WHERE id = :t "
            "AND status <> 'withdrawn'"
        ),
        {"t": track_id, "e": reason[:500]},
    )
