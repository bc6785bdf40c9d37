"""Signed (签发) period reports: a closed day's, week's or month's report kept as it was signed.

The district's monthly evaluation (月评) and the subdistrict's weekly check (周查) are signed
and published (公示). A report is recomputed whenever it is asked for, so a late withdrawal or
a re-match afterwards changed the live figures and ranks, and nothing in gridward gave back
the figures that were signed. :func:`sign_report` keeps the report as ``GET /reports/{kind}``
gives it to an evaluator (the JSON) and its XLSX (the bytes and their sha256) in
``report_signoffs``; signing the same kind, period and area again adds version N+1 (a
correction), never overwriting. :func:`attach_signoff` gives a live report of a signed period
its newest signoff and, when the data changed since, a note naming what changed since the
signing (:func:`geo.closed_changes.later_changes` with the signing time as the cut).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from geo.assign.people import has_invisible
from geo.audit import actor_name, record
from geo.closed_changes import data_as_of, later_changes
from geo.errors import ConflictError, InputError, NotFoundError, count_en, verb_en
from geo.patrol_reports import (
    TABLES,
    Report,
    build_report,
    for_readers,
    report_summary,
    share_text,
    share_used,
)
from geo.report_export import export_report, local_text, report_json, zh_then
from geo.report_notes import days_named, held_days, reimport_clauses
from geo.report_period import KINDS, Period, report_period, zone_zh
from geo.settings import city_today, get_settings
from geo.track_days import local_iso

MAX_NOTE = 500  # characters of a signing's note
SIGN_ACTION = "report.sign"  # the audit entry of a signing (data_as_of skips report.*)
_LOCK = 0x5EF0  # with the period's own key: one signing of a kind, period and area at a time
_TRIES = 3  # data changed while the report was made: made again, then refused


def report_body(rep: Report, kind: str, day: dt.date, period: Period, share: float) -> dict:
    """The JSON of ``GET /reports/{kind}`` (after a steward's or viewer's cut, if any): the
    period, the share, the zone, the summary, the newest signoff (``signed``) and the tables."""
    return {
        "kind": kind,
        "date": day.isoformat(),
        **period.meta(),
        "share": share,
        # the zone the times and days are in (T40 #9): the times carry their offset,
        # the days (day, from, to) do not
        "time_zone": get_settings().timezone,
        **report_summary(rep, period),
        "signed": rep.meta.get("signed"),
        **report_json(rep),
    }


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(
            f"报表类型 '{kind}' 有误，请用 daily（日巡）、weekly（周查）或 monthly（月评） "
            f"unknown report '{kind}': use daily, weekly or monthly"
        )
    return kind


def check_note(note: str | None) -> str | None:
    """The signing's note as given (blank: none); over :data:`MAX_NOTE` characters, with a
    control character other than a newline or a tab (a NUL cannot be stored; C1 controls and
    DEL too), a Unicode line or paragraph separator or an invisible character (bidi controls,
    zero-width characters: refused as in names, :func:`geo.assign.people.has_invisible`)
    refused. WHY the invisible ones: U+202E turned the note around in ``report signed`` and
    U+200B hid in it (T58 F15); the separators: U+2028 and U+2029 end a line for some
    readers (editors, Python's splitlines) and not for others (CSV, terminals), and broke the
    CSV and terminal output of ``report signed``. A Windows line end (CR LF) is stored as a
    newline."""
    if note is None or not note.strip():
        return None
    # Windows line ends (a note typed in Notepad, a browser form's textarea) are ordinary
    # newlines, not a carriage return to refuse
    note = note.replace("\r\n", "\n")
    if len(note) > MAX_NOTE:
        raise InputError(
            f"签发说明过长：{len(note)} 个字符，最多 {MAX_NOTE} 个，请缩短 "
            f"the note is {len(note)} characters long: at most {MAX_NOTE}"
        )
    bad = next((c for c in note if unicodedata.category(c) == "Cc" and c not in "\n\t"), None)
    if bad is not None:
        code = f"U+{ord(bad):04X}"
        raise InputError(
            f"签发说明含控制字符 {bad!r}（{code}），请删去 the note holds the control character "
            f"{bad!r} ({code}): remove it"
        )
    sep = next((c for c in note if unicodedata.category(c) in _SEPARATORS), None)
    if sep is not None:
        code = f"U+{ord(sep):04X}"
        raise InputError(
            f"签发说明含{_SEPARATORS[unicodedata.category(sep)]} {code}，它不是普通换行，会打乱 "
            f"report signed 的表格和终端显示，请改用普通换行或删去 the note holds {code}, a "
            "Unicode line or paragraph separator: no ordinary newline, it breaks the table and "
            "terminal output of report signed; use an ordinary newline or remove it"
        )
    hidden = next((c for c in note if has_invisible(c)), None)
    if hidden is not None:
        code = f"U+{ord(hidden):04X}"
        raise InputError(
            f"签发说明含不可见字符 {code}（文字方向控制符、零宽字符等会使说明显示颠倒或藏字），"
            f"请删去 the note holds the invisible character {code} (a bidi control, a "
            "zero-width or other format character): remove it"
        )
    return note


# the Unicode line and paragraph separators by category (Zl: U+2028, Zp: U+2029, the only
# ones), as a note holding one names them
_SEPARATORS = {"Zl": "行分隔符", "Zp": "段落分隔符"}


def closed_period(kind: str, day: dt.date, today: dt.date | None = None) -> Period:
    """The period of ``kind`` holding ``day``, refused unless it has ended (a running day,
    week or month is still changing: it is signed once it is over)."""
    today = today or city_today()
    period = report_period(check_kind(kind), day, today)  # a future one: refused there
    if period.end >= today:
        tz = get_settings().timezone
        after = period.end + dt.timedelta(days=1)
        what_zh = KINDS[kind].split()[0]
        span, span_zh = period.span(en=True), period.span()
        raise InputError(
            f"报表期尚未结束，不能签发：{what_zh}（{kind}）本期（{span_zh}）到 "
            f"{period.end} 才结束（{zone_zh(tz)}），今天是 {today}；请在 {after} 或之后签发 "
            f"the {kind} period {span} is still running: it ends with {period.end} "
            f"({tz}), today is {today}; sign it on {after} or later"
        )
    return period


def _xlsx_bytes(rep: Report, period: Period, share: float) -> bytes:
    """The XLSX ``GET /reports/{kind}?format=xlsx`` gives for ``rep``, as bytes."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="gridward-sign-"))
    try:
        return export_report(rep, folder / "signed.xlsx", period, share).read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sign_report(
    engine: Engine,
    kind: str,
    day: dt.date,
    area: str | None,
    note: str | None,
    actor: str,
    today: dt.date | None = None,
    share: float | None = None,
) -> dict[str, Any]:
    """Sign the closed period of ``kind`` holding ``day`` (``area`` None: the whole city): its
    report as an evaluator's ``GET /reports/{kind}`` gives it, stored with its XLSX as version
    N+1 of the kind, period and area, in one transaction with its ``report.sign`` audit entry.
    The stored JSON and XLSX say they are this signoff (``signed``, the 报表 sheet); the JSON
    also carries the XLSX's sha256. Returns the signoff's row (:func:`signoff_row`)."""
    today = today or city_today()
    period = closed_period(kind, day, today)
    note = check_note(note)
    share = share_used(share)
    who = actor_name(actor) or "?"
    key = f"{kind}|{period.start}|{area or ''}"
    same = (kind, period.start, area, who, note, share)
    with engine.connect() as conn:  # a retry answered at once, the report not made again
        repeated = _repeat_of(conn, *same, data_as_of(conn))
        if repeated is not None:
            return repeated
    for _ in range(_TRIES):
        rep = build_report(engine, kind, day, area, share, today)
        # its notes as GET /reports/{kind} gives them to an evaluator: no shell command in
        # a copy an office files (T71 #35)
        for_readers(rep, evaluator=True)
        with engine.begin() as conn:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:a, hashtext(:k))"), {"a": _LOCK, "k": key}
            )
            if data_as_of(conn) != rep.meta.get("data_as_of"):
                continue  # the data changed while the report was made: made again
            repeated = _repeat_of(conn, *same, rep.meta.get("data_as_of"))
            if repeated is not None:  # the same request, sent again while this one ran
                return repeated
            version, sid, signed_at = conn.execute(
                text(
                    "SELECT coalesce(max(version), 0) + 1, "
                    "nextval(pg_get_serial_sequence('report_signoffs', 'id')), now() "
                    "FROM report_signoffs WHERE kind = :k AND period_start = :s "
                    "AND area_code IS NOT DISTINCT FROM :a"
                ),
                {"k": kind, "s": period.start, "a": area},
            ).one()
            signed = {
                "id": int(sid),
                "version": int(version),
                "signed_at": local_iso(signed_at),
                "signed_by": who,
            }
            # the 报表 sheet says it is this signoff's copy (签发件), with the note (T58 F16, F17)
            rep.meta["signed"] = {**signed, "copy": True, "note": note}
            xlsx = _xlsx_bytes(rep, period, share)
            sha = hashlib.sha256(xlsx).hexdigest()
            rep.meta["signed"] = {**signed, "sha256": sha}
            body = report_body(rep, kind, day, period, share)
            people = sorted({int(p) for p in rep["people"]["person_id"].dropna()})
            streets = sorted({int(s) for s in rep["alleys"]["alley_id"].dropna()})
            conn.execute(
                text(
                    "INSERT INTO report_signoffs (id, kind, period_start, period_end, area_code, "
                    "share, version, signed_at, signed_by, note, data_as_of, report, xlsx, "
                    "sha256, person_ids, street_ids) VALUES (:id, :k, :s, :e, :a, :share, :v, "
                    ":at, :by, :note, :as_of, CAST(:report AS jsonb), :xlsx, :sha, "
                    "CAST(:people AS int[]), CAST(:streets AS int[]))"
                ),
                {
                    "id": sid,
                    "k": kind,
                    "s": period.start,
                    "e": period.end,
                    "a": area,
                    "share": share,
                    "v": version,
                    "at": signed_at,
                    "by": who,
                    "note": note,
                    "as_of": rep.meta.get("data_as_of"),
                    "report": json.dumps(body, ensure_ascii=False, allow_nan=False),
                    "xlsx": xlsx,
                    "sha": sha,
                    "people": people,
                    "streets": streets,
                },
            )
            record(
                conn,
                actor,
                SIGN_ACTION,
                "report_signoff",
                sid,
                {
                    "kind": kind,
                    "period": period.span(),
                    "period_from": period.start.isoformat(),
                    "period_to": period.end.isoformat(),
                    "area": area,
                    "version": int(version),
                    "sha256": sha,
                },
            )
            return signoff_row(conn, int(sid))
    raise ConflictError(
        f"签发时数据一直在变（试了 {_TRIES} 次），未签发；请稍后再签发 "
        f"the data kept changing while the report was made ({_TRIES} tries): nothing signed; "
        "sign it again in a moment"
    )


def _repeat_of(
    conn: Connection,
    kind: str,
    start: dt.date,
    area: str | None,
    who: str,
    note: str | None,
    share: float,
    as_of: Any,
) -> dict[str, Any] | None:
    """The latest version of this kind, period and area when it is this very signing (the
    same signer, note and share, of the same data), marked ``repeated``; else None.

    WHY (T59 #4): a city month takes tens of seconds to sign; a browser or proxy that gave up
    waiting, retried, stored version 2, identical but for its time, and a reader then took it
    for a correction. A signing sent again changes nothing; a correction (another note,
    another signer, or changed data) is still version N+1."""
    row = conn.execute(
        text(
            f"SELECT {_ROW} FROM report_signoffs WHERE kind = :k AND period_start = :s "
            "AND area_code IS NOT DISTINCT FROM :a ORDER BY version DESC LIMIT 1"
        ),
        {"k": kind, "s": start, "a": area},
    ).first()
    if row is None or (row.signed_by, row.note, float(row.share)) != (who, note, share):
        return None
    if row.data_as_of != as_of:
        return None
    return {**_row(row), "repeated": True}


# the columns of a signoff's row (not its report or XLSX)
_ROW = (
    "id, kind, period_start, period_end, area_code, share, version, signed_at, signed_by, "
    "note, data_as_of, sha256"
)


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": int(r.id),
        "kind": r.kind,
        "period_from": r.period_start.isoformat(),
        "period_to": r.period_end.isoformat(),
        "area": r.area_code,
        "share": float(r.share),
        "version": int(r.version),
        "signed_at": local_iso(r.signed_at),
        "signed_by": r.signed_by,
        "note": r.note,
        "data_as_of": local_iso(r.data_as_of),
        "sha256": r.sha256,
    }


def signoff_row(conn: Connection, sid: int) -> dict[str, Any]:
    row = conn.execute(
        text(f"SELECT {_ROW} FROM report_signoffs WHERE id = :i"), {"i": sid}
    ).first()
    if row is None:
        raise NotFoundError(f"签发的报表 {sid} 不存在 signed report {sid} not found")
    return _row(row)


def list_signoffs(
    engine: Engine,
    kind: str | None = None,
    area: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[dict[str, Any]]:
    """The signoffs, by period then area then version: of ``kind``, of ``area`` (a code; the
    whole city's have none), of periods that reach ``since``..``until``."""
    if kind is not None:
        check_kind(kind)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {_ROW} FROM report_signoffs WHERE "
                "(CAST(:k AS text) IS NULL OR kind = :k) "
                "AND (CAST(:a AS text) IS NULL OR area_code = :a) "
                "AND (CAST(:since AS date) IS NULL OR period_end >= :since) "
                "AND (CAST(:until AS date) IS NULL OR period_start <= :until) "
                "ORDER BY period_start, kind, area_code NULLS FIRST, version, id"
            ),
            {"k": kind, "a": area, "since": since, "until": until},
        ).all()
    return [_row(r) for r in rows]


def read_signoff(engine: Engine, sid: int, part: str) -> tuple[dict[str, Any], Any]:
    """A signoff's row and its stored ``part``: ``json`` (the report as signed, with the row
    as its ``signed`` block, :func:`signed_document`) or ``xlsx`` (the bytes)."""
    column = {"json": "report", "xlsx": "xlsx"}[part]
    with engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT {_ROW}, {column} AS part FROM report_signoffs WHERE id = :i"),
            {"i": sid},
        ).first()
    if row is None:
        raise NotFoundError(f"签发的报表 {sid} 不存在 signed report {sid} not found")
    meta = _row(row)
    if part == "xlsx":
        return meta, bytes(row.part)
    return meta, signed_document(row.part, meta)


def signed_document(stored: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The stored JSON with ``signed`` the whole signoff row; each table row's keys in its
    columns' order (jsonb keeps keys in an order of its own)."""
    doc = dict(stored)
    tables = sorted(
        (k for k in doc.get("columns") or {} if isinstance(doc.get(k), list)),
        key=lambda k: (TABLES.index(k) if k in TABLES else len(TABLES), k),
    )
    columns = {k: doc["columns"][k] for k in tables}
    for name in tables:
        order = columns[name]
        doc[name] = [{k: row[k] for k in order if k in row} | row for row in doc[name]]
    # the live report's order: its head, the signoff, then the tables
    rest = [k for k in doc if k not in ("columns", "signed", *tables)]
    head = sorted(rest, key=lambda k: (_HEAD.index(k) if k in _HEAD else len(_HEAD), k))
    return {
        **{k: doc[k] for k in head},
        "signed": meta,
        "columns": columns,
        **{k: doc[k] for k in tables},
    }


# the head of report_body's JSON, in its order (jsonb keeps keys in an order of its own)
_HEAD = (
    "kind",
    "date",
    "label",
    "from",
    "to",
    "days",
    "period_from",
    "period_to",
    "partial",
    "running",
    "share",
    "time_zone",
    "pending",
    "notes",
    "area",
    "data_as_of",
)


def document_bytes(doc: dict[str, Any]) -> bytes:
    """A signed report's JSON as the API sends it (and ``report signed --out F.json`` writes)."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def attach_signoff(engine: Engine, rep: Report, period: Period, share: float) -> None:
    """Give a live report its period's newest signoff (``rep.meta["signed"]``: id, version,
    signed_at, signed_by, sha256, share, ``changed``; None when never signed) and, when the
    data changed after the signing, a note naming what changed since (in place). Before a
    viewer's cut: the note's counts are the whole report's, as the changed-since-the-period-
    ended note's. Not for a steward: she neither signs nor reads signed copies, and the note
    counts everyone's walks (:mod:`api.routes.reports` leaves it out, T58 F4)."""
    rep.meta["signed"] = None
    if period.today is None or period.end >= period.today:
        return  # a running period is never signed
    area = rep.meta.get("area")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, version, signed_at, signed_by, sha256, share, person_ids, "
                "street_ids FROM report_signoffs WHERE kind = :k AND period_start = :s "
                "AND area_code IS NOT DISTINCT FROM :a ORDER BY version DESC LIMIT 1"
            ),
            {"k": period.kind, "s": period.start, "a": area},
        ).first()
        if row is None:
            return
        since = _since_signing(conn, rep, period, row)
    signed = {
        "id": int(row.id),
        "version": int(row.version),
        "signed_at": local_iso(row.signed_at),
        "signed_by": row.signed_by,
        "sha256": row.sha256,
        "share": float(row.share),
        # the live report may read otherwise than the signed copy: figures or registry ids
        "changed": bool(since.moved[0] or since.renumbered[0]),
    }
    rep.meta["signed"] = signed
    notes = rep.meta.setdefault("notes", [])
    note = since.note(signed["version"], row.signed_at, signed["id"])
    if note:
        notes.append(note)
    if abs(float(row.share) - share) > 1e-12:
        notes.append(
            f"本报表的达标线 {share_text(share)} 与签发时的 {share_text(float(row.share))} "
            f"不同，数字不可直接比较 this report's threshold (share) {share_text(share)} "
            f"differs from the {share_text(float(row.share))} it was signed with: the figures "
            "do not compare"
        )


Clauses = tuple[list[str], list[str]]  # Chinese and English


@dataclass(frozen=True)
class SinceSigning:
    """What changed from a signing on, in three kinds of Chinese and English clauses: what
    may move the figures (``moved``), people renumbered (``renumbered``: the figures stay,
    the registry ids differ from the signed copy's) and walks matched again crediting what
    they did (``same``: nothing differs, said so the newer ``data_as_of`` is explained)."""

    moved: Clauses
    renumbered: Clauses
    same: Clauses

    def note(self, version: int, signed_at: Any, sid: int) -> str | None:
        """The note, or None when nothing changed. It says the figures may differ only when
        some change may move them. WHY: a re-match that moved no metre, said as a reason
        they may differ, sent an evaluator to re-check 31 days for nothing (T69 #6)."""
        zh = self.moved[0] + self.renumbered[0] + self.same[0]
        en = self.moved[1] + self.renumbered[1] + self.same[1]
        if not zh:
            return None
        when, when_en = (local_text(signed_at, seconds=False, lang=k) for k in ("zh", "en"))
        head = f"签发后有改动（第 {version} 版，{zh_then(when)}签发，编号 id:{sid}）"
        head_en = f"changed since it was signed (version {version}, signed {when_en}, id {sid})"
        if self.moved[0]:
            return (
                f"{head}，现在的数字可能与签发的报表不同：{'；'.join(zh)} "
                f"{head_en}, so figures may differ from the signed report: {'; '.join(en)}"
            )
        return f"{head}，数字未变：{'；'.join(zh)} {head_en}, figures unchanged: {'; '.join(en)}"


def _since_signing(conn: Connection, rep: Report, period: Period, row: Any) -> SinceSigning:
    """What changed from the signing on that reaches the period and the report's scope: the
    people and streets of the signed report and of the live one (a duty undone since is in
    the first only, one set since in the second only)."""
    tz = ZoneInfo(get_settings().timezone)
    closed = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    people = set(row.person_ids or []) | {int(p) for p in rep["people"]["person_id"].dropna()}
    streets = set(row.street_ids or []) | {int(s) for s in rep["alleys"]["alley_id"].dropna()}
    since = row.signed_at
    later = later_changes(conn, period.start, period.end, closed, people, streets, since=since)

    days = days_named(tz)
    zh, en = reimport_clauses(conn, since, days)
    backdated = conn.execute(
        text(
            "SELECT created_at, valid_from, valid_to FROM assignments WHERE created_at >= :t "
            "AND role IN ('alley_steward', 'street_chief') AND valid_from <= :e "
            "AND (valid_to IS NULL OR valid_to >= :s) "
            "AND (street_id = ANY(CAST(:streets AS int[])) OR person_id = ANY(CAST(:who AS int[])))"
        ),
        {
            "t": since,
            "s": period.start,
            "e": period.end,
            "streets": sorted(streets),
            "who": sorted(people),
        },
    ).all()
    if backdated:
        n = len(backdated)
        when, when_en = days(r.created_at for r in backdated)
        on, on_en = held_days(backdated, period.start, period.end)
        zh.append(f"{n} 条职责于 {when} 补设，其在岗日子落在本期内：{on}")
        en.append(
            f"{count_en(n, 'duty', 'duties')} {verb_en(n, 'was', 'were')} set on {when_en} "
            f"with days in this period: {on_en}"
        )
    more_zh, more_en = later.moved(days)
    return SinceSigning(
        (zh + more_zh, en + more_en), later.renumber_clauses(days), later.same_clauses(days)
    )
