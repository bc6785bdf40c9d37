"""What changed a closed period's walks and duties after it ended: walks uploaded late,
walks withdrawn, restored or changed, duties ended, undone or closed by a person leaving;
and when the data a report is made from last changed (:func:`data_as_of`).

Apart from :mod:`geo.report_notes` because it is one question with its own reads (the tracks
and the audit log) and its own rule of which change reaches a period. WHY: a weekly checker
signed a report, then a late walk, a withdrawal, an ended duty and a leave changed its
figures and ranks while the "changed since this period ended" note named only backdated
duties and re-imports (T55 #2).

Said apart (T69): an upload after a signing within the late-upload grace is not called late
(迟传 is the reports' term for one over ``GRIDWARD_LATE_UPLOAD_H``); a re-match that credits
what the walk credited before moves no figure; a person renumbered keeps every figure but is
listed under the new registry id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from geo.audit import renumbers
from geo.errors import count_en, verb_en
from geo.late_uploads import late_upload
from geo.settings import get_settings

# what a walk's audit entry changed, Chinese and English (the order they are said in)
TRACK_ACTIONS = {
    "track.withdraw": ("撤回", "withdrawn"),
    "track.restore": ("恢复", "restored"),
    "track.person": ("改人员", "given to another person"),
    "track.times": ("改时间", "re-timed"),
    "track.mode": ("改方式", "mode changed"),
    "track.crs": ("改坐标系", "datum changed"),
}
DUTY_ACTIONS = ("assignments.end", "assignments.undo", "person.leave")
# a walk matched again after the period ended (not an audit action: track_matches says it)
REMATCH = "rematch"
_WALK_WORDS = {**TRACK_ACTIONS, REMATCH: ("重新匹配", "matched again")}
_FAR = dt.date.max
# metres within which a walk's credit after a re-match is the same as before (its match rows'
# totals: a deterministic re-match of the same fixes on the same day's network sums the same
# visits, up to the order of a float sum)
SAME_M = 0.01
# renumbered people named in a note, the rest counted
_NAMED_PEOPLE = 5
# changed walks named by track id in a note, the rest counted
_NAMED_WALKS = 8


@dataclass
class LaterChanges:
    """Changes after a period ended that reach into it, each with when it was made."""

    uploads: list[dt.datetime] = field(default_factory=list)  # late ones (迟传)
    # uploads after a signing within GRIDWARD_LATE_UPLOAD_H of the walk: not late
    sent: list[dt.datetime] = field(default_factory=list)
    walks: dict[str, list[dt.datetime]] = field(default_factory=dict)  # action → times
    walk_ids: set[int] = field(default_factory=set)  # the tracks of ``walks``
    # walks matched again that credit what they credited before: no figure moved
    same: list[dt.datetime] = field(default_factory=list)
    duties: list[dt.datetime] = field(default_factory=list)
    # people of the report whose registry id changed (geo.audit.renumbers rows)
    renumbered: list[dict[str, Any]] = field(default_factory=list)
    # the period's days each kind of change reaches (a walk's days, a duty's days changed)
    reached: dict[str, set[dt.date]] = field(default_factory=dict)
    period: tuple[dt.date, dt.date] | None = None

    def _reach(self, kind: str) -> tuple[str, str]:
        """``：2026-10-03、2026-10-05`` style words for the period days ``kind`` reaches
        (WHY: a note said only the day a change was made; a weekly checker re-read all
        seven days to find the ones it moved)."""
        got = self.reached.get(kind)
        if not got or self.period is None:
            return "", ""
        return period_days(got, *self.period)

    def moved(self, days: Any) -> tuple[list[str], list[str]]:
        """Chinese and English clauses of the changes that may move the period's figures."""
        zh: list[str] = []
        en: list[str] = []
        if self.uploads:
            n = len(self.uploads)
            when, when_en = days(self.uploads)
            on, on_en = self._reach("uploads")
            zh.append(
                f"{n} 条本期的轨迹于 {when} 才上传（迟传，本期结束之后）"
                + (f"，巡查日为 {on}" if on else "")
            )
            en.append(
                f"{count_en(n, 'walk', 'walks')} of this period {verb_en(n, 'was', 'were')} "
                f"uploaded late on {when_en}, after the period ended"
                + (f", walked on {on_en}" if on else "")
            )
        if self.sent:
            n = len(self.sent)
            when, when_en = days(self.sent)
            on, on_en = self._reach("sent")
            h = get_settings().late_upload_h
            # not 迟传: the reports' term for a walk sent over the grace, a mark against the
            # steward; this one counts as on time in every report (T69 #7)
            zh.append(
                f"{n} 条本期的轨迹于 {when} 在签发之后上传（在 {h:g} 小时上传时限内，不算迟传）"
                + (f"，巡查日为 {on}" if on else "")
            )
            en.append(
                f"{count_en(n, 'walk', 'walks')} of this period {verb_en(n, 'was', 'were')} "
                f"uploaded on {when_en}, after the signing, within the {h:g}-hour upload limit "
                "(not late)" + (f", walked on {on_en}" if on else "")
            )
        if self.walks:
            n = sum(len(v) for v in self.walks.values())
            when, when_en = days([t for v in self.walks.values() for t in v])
            kinds = [a for a in _WALK_WORDS if a in self.walks]
            what_zh = "、".join(f"{_WALK_WORDS[a][0]} {len(self.walks[a])}" for a in kinds)
            what_en = ", ".join(f"{len(self.walks[a])} {_WALK_WORDS[a][1]}" for a in kinds)
            on, on_en = self._reach("walks")
            ids_zh, ids_en = self._walks_named()
            zh.append(
                f"本期的轨迹于 {when} 有 {n} 次改动（{what_zh}{ids_zh}）"
                + (f"，涉及巡查日 {on}" if on else "")
            )
            en.append(
                f"{count_en(n, 'change', 'changes')} to walks of this period on {when_en} "
                f"({what_en}{ids_en})" + (f", walks of {on_en}" if on else "")
            )
        if self.duties:
            n = len(self.duties)
            when, when_en = days(self.duties)
            on, on_en = self._reach("duties")
            zh.append(
                f"{n} 条职责于 {when} 被结束、撤销或因离岗而结束，本期内的在岗日子随之改变"
                + (f"：{on}" if on else "")
            )
            en.append(
                f"{count_en(n, 'duty', 'duties')} {verb_en(n, 'was', 'were')} ended, undone "
                f"or closed by a leave on {when_en}, changing who held them on days of this period"
                + (f": {on_en}" if on else "")
            )
        return zh, en

    def _walks_named(self) -> tuple[str, str]:
        """``；轨迹 id:48、id:51`` / ``; tracks id:48, id:51``: the walks changed, by track id,
        the first few named and the rest counted. WHY: the note said 撤回 1、恢复 1 and which
        day, not which walk; an evaluator could not open it (``GET /tracks/{id}``: its
        history says who and why) without searching the day's tracks (T69 #4)."""
        ids = sorted(i for i in self.walk_ids if i is not None)
        if not ids:
            return "", ""
        shown = ids[:_NAMED_WALKS]
        zh = "、".join(f"id:{i}" for i in shown)
        en = ", ".join(f"id:{i}" for i in shown)
        if len(ids) > len(shown):
            zh += f" 等 {len(ids)} 条"
            en += f" and {len(ids) - len(shown)} more"
        return f"；轨迹 {zh}", f"; {'track' if len(ids) == 1 else 'tracks'} {en}"

    def renumber_clauses(self, days: Any) -> tuple[list[str], list[str]]:
        """The people of the report given a new registry id (人员编号), old → new with their
        name and system id, so a reader matching this report with one made before (a signed
        copy) by registry id finds them (T69 #3). No figure moves: said so."""
        if not self.renumbered:
            return [], []
        n = len(self.renumbered)
        when, when_en = days([r["at"] for r in self.renumbered])
        shown = self.renumbered[:_NAMED_PEOPLE]
        zh = "、".join(f"{r['was']} → {r['now']}（{_who(r, True)}）" for r in shown)
        en = ", ".join(f"{r['was']} → {r['now']} ({_who(r, False)})" for r in shown)
        if n > len(shown):
            zh += f" 等 {n} 人"
            en += f" and {n - len(shown)} more"
        return (
            [f"{n} 人的人员编号于 {when} 变更（本表按新编号列出，所计巡查不变）：{zh}"],
            [
                f"{count_en(n, 'registry id', 'registry ids')} changed on {when_en} (this "
                f"report lists people by the new one; credit unchanged): {en}"
            ],
        )

    def same_clauses(self, days: Any) -> tuple[list[str], list[str]]:
        """The walks matched again that credit what they credited before: said as such, not
        as a reason the figures may differ (T69 #6: a re-match of a month that moved no metre
        told an evaluator to re-check 31 days)."""
        if not self.same:
            return [], []
        n = len(self.same)
        when, when_en = days(self.same)
        return (
            [f"本期的轨迹于 {when} 重新匹配 {n} 条，所计巡查与之前相同"],
            [
                f"{count_en(n, 'walk', 'walks')} of this period matched again on {when_en}, "
                f"crediting what {verb_en(n, 'it', 'they')} did before"
            ],
        )


def _who(r: dict[str, Any], zh: bool) -> str:
    """A renumbered person as the note names them: 徐秀，系统编号 id:18 (English: 徐秀, id:18;
    no name when the record is gone)."""
    pid = f"系统编号 id:{r['person_id']}" if zh else f"id:{r['person_id']}"
    name = r.get("name")
    return f"{name}{'，' if zh else ', '}{pid}" if name else pid


def period_days(days: Iterable[dt.date], start: dt.date, end: dt.date) -> tuple[str, str]:
    """Days of ``start``..``end``, Chinese and English: runs of consecutive days as ranges,
    at most four runs named (``2026-10-03、2026-10-05 至 2026-10-07 等``), or the whole
    period said so."""
    inside = sorted({d for d in days if start <= d <= end})
    if not inside:
        return "", ""
    if len(inside) == (end - start).days + 1 and len(inside) > 1:
        return "本期每一天", "every day of this period"
    runs: list[list[dt.date]] = []
    for d in inside:
        if runs and (d - runs[-1][-1]).days == 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    named = [(r[0].isoformat(), r[-1].isoformat() if len(r) > 1 else None) for r in runs[:4]]
    more = len(runs) > 4
    zh = "、".join(f"{a} 至 {b}" if b else a for a, b in named) + (" 等" if more else "")
    en = ", ".join(f"{a} to {b}" if b else a for a, b in named) + (" and more" if more else "")
    return zh, en


def days_from(first: dt.date, last: dt.date) -> set[dt.date]:
    """The days ``first``..``last`` (none when ``last`` is before ``first``)."""
    return {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}


def _local_days(started: Any, ended: Any, tz: ZoneInfo) -> set[dt.date]:
    """The city's days a walk from ``started`` to ``ended`` lies on."""
    if started is None or ended is None:
        return set()
    return days_from(started.astimezone(tz).date(), ended.astimezone(tz).date())


def later_changes(
    conn: Connection,
    start: dt.date,
    end: dt.date,
    closed: dt.datetime,
    people: Iterable[int],
    alleys: Iterable[int],
    since: dt.datetime | None = None,
    person: int | None = None,
) -> LaterChanges:
    """The changes made from ``closed`` (the local midnight after ``end``) on that reach the
    days ``start``..``end`` of the report's scope: walks that credited its streets
    (``alleys``; a walk with no visits: of ``people``, who held a duty in it), duties on its
    streets or of ``people``. ``since``: the changes made from then on instead (a signed
    report's signing time, :mod:`geo.report_signoffs`), every upload of the period's walks
    among them: the figures were signed without it, within the late-upload grace or not
    (those within it kept apart, ``sent``: not late). ``person``: only that person's walks
    (theirs before or after a change), duties and renumber, for a steward's own report: her
    rate is her own walking, and the counts of everyone's walks told her of other stewards'
    late uploads and withdrawals. Also the people of ``people`` renumbered from the cut on,
    and apart (``same``) the walks matched again that credit what they did before."""
    opened = closed - dt.timedelta(days=(end - start).days + 1)
    who = sorted({int(p) for p in people if person is None or int(p) == person})

    def mine(persons: list[Any]) -> bool:
        """The walk is ``person``'s (any walk when there is none)."""
        return person is None or int(person) in persons

    where = {int(a) for a in alleys}
    span = {"closed": closed, "opened": opened, "since": since or closed}
    late = conn.execute(
        text(
            # late (迟传) too: a walk sent the next morning, within the grace the reports
            # allow, is how phones upload, not a change to a signed report
            "SELECT id, person_id, uploaded_at, started_at, ended_at FROM tracks "
            "WHERE uploaded_at >= :since "
            "AND uploaded_at > ended_at + make_interval(secs => :late_s) "
            "AND status <> 'withdrawn' AND started_at < :closed AND ended_at >= :opened "
            "ORDER BY id"
        ),
        {**span, "late_s": 0.0 if since else get_settings().late_upload_h * 3600.0},
    ).all()
    rows = conn.execute(
        text(
            "SELECT a.action, a.at, a.target_type, a.target_id, a.detail, t.id AS track_id, "
            "t.person_id, t.started_at, t.ended_at FROM audit_log a LEFT JOIN tracks t "
            # on the track's key (t.id::text = a.target_id read every track)
            "ON t.id = CASE WHEN a.target_type = 'track' AND a.target_id ~ '^[0-9]{1,9}$' "
            "THEN a.target_id::int END "
            "WHERE a.at >= :since AND a.action = ANY(CAST(:actions AS text[])) ORDER BY a.id"
        ),
        {"since": since or closed, "actions": [*TRACK_ACTIONS, *DUTY_ACTIONS]},
    ).all()
    # walks of the period matched again after it ended (tracks rematch, a re-import), other
    # than their first match: the credit may have moved (T56 #2). After a signing, a first
    # match too (a walk stored before it, matched after: the signed figures lacked it)
    again = [
        r for r in conn.execute(text(_MATCHED_AGAIN), span).all() if _before(r, since) is not None
    ]
    ids = {r.id for r in late} | {r.track_id for r in again}
    ids |= {r.track_id for r in rows if r.track_id is not None}
    here = _credited_here(conn, sorted(ids), where)
    tz = ZoneInfo(get_settings().timezone)
    out = LaterChanges(period=(start, end))

    def reach(kind: str, days: set[dt.date]) -> None:
        out.reached.setdefault(kind, set()).update(d for d in days if start <= d <= end)

    for r in late:
        if mine([r.person_id]) and _in_scope(r.id, [r.person_id], None, here, who, where):
            # late (迟传) as the reports count it, or sent after a signing within the grace
            kind = "uploads" if late_upload(r.uploaded_at, r.ended_at) else "sent"
            getattr(out, kind).append(r.uploaded_at)
            reach(kind, _local_days(r.started_at, r.ended_at, tz))
    named = {r.id for r in late}
    for r in rows:
        detail = r.detail or {}
        if r.action in TRACK_ACTIONS:
            persons = [r.person_id, detail.get("person_id"), detail.get("from"), detail.get("to")]
            streets = detail.get("streets") if r.action == "track.withdraw" else None
            if (
                mine(persons)
                and _walk_in_period(r, detail, start, end, closed, opened)
                and _in_scope(r.track_id, persons, streets, here, who, where)
            ):
                out.walks.setdefault(r.action, []).append(r.at)
                out.walk_ids.add(r.track_id)
                named.add(r.track_id)
                before = {dt.date.fromisoformat(d) for d in _iso_days(detail)}
                reach("walks", _local_days(r.started_at, r.ended_at, tz) | before)
        else:  # one entry per duty row (a leave ends every duty of the person)
            spans = _duty_spans(r, detail, who, where, person)
            changed = [_changed_days(a, b, start, end) for a, b in spans]
            out.duties += [r.at] * sum(1 for c in changed if c)
            reach("duties", set().union(*changed))
    for r in again:  # a change named above re-matches its walk: said once
        if (
            r.track_id not in named
            and mine([r.person_id])
            and _in_scope(r.track_id, [r.person_id], None, here, who, where)
        ):
            if _same_credit(r, _before(r, since)):
                out.same.append(r.at)
                continue
            out.walks.setdefault(REMATCH, []).append(r.at)
            out.walk_ids.add(r.track_id)
            reach("walks", _local_days(r.started_at, r.ended_at, tz))
    out.renumbered = renumbers(conn, since or closed, who)
    return out


# per walk of the period matched since the cut: its newest match (``at``: when), its last
# match before the cut (b_*) and its first one after it (f_*), each match's totals (visit
# rows and metres credited)
_MATCHED_AGAIN = (
    "SELECT t.id AS track_id, t.person_id, t.started_at, t.ended_at, n.id AS n_id, "
    "n.matched_at AS at, n.segments, n.walked_m, b.segments AS b_segments, "
    "b.walked_m AS b_walked_m, f.id AS f_id, f.segments AS f_segments, f.walked_m AS f_walked_m "
    "FROM (SELECT DISTINCT track_id FROM track_matches WHERE matched_at >= :since) h "
    "JOIN tracks t ON t.id = h.track_id "
    "CROSS JOIN LATERAL (SELECT id, matched_at, segments, walked_m FROM track_matches "
    "WHERE track_id = t.id ORDER BY id DESC LIMIT 1) n "
    "LEFT JOIN LATERAL (SELECT segments, walked_m FROM track_matches "
    "WHERE track_id = t.id AND matched_at < :since ORDER BY id DESC LIMIT 1) b ON true "
    "LEFT JOIN LATERAL (SELECT id, segments, walked_m FROM track_matches "
    "WHERE track_id = t.id AND matched_at >= :since ORDER BY id LIMIT 1) f ON true "
    "WHERE t.status <> 'withdrawn' AND t.started_at < :closed AND t.ended_at >= :opened"
)


def _before(r: Any, since: dt.datetime | None) -> tuple[int, float] | None:
    """What a walk matched since the cut credited at the cut (visit rows, metres): its last
    match before it. With none: after a signing, nothing (the signed figures lacked the
    walk); after a period's end, its first match since (a late upload's is said as an
    upload, one within the grace is how phones upload). None: matched once, after the
    period's end, so not matched again."""
    if r.b_segments is not None:
        return int(r.b_segments), float(r.b_walked_m)
    if since is not None:
        return 0, 0.0
    if r.f_id != r.n_id:
        return int(r.f_segments), float(r.f_walked_m)
    return None


def _same_credit(r: Any, before: tuple[int, float] | None) -> bool:
    """The walk's newest match credits what it credited before: as many visit rows and the
    same metres (within :data:`SAME_M`). WHY from the match rows' totals: a re-match keeps no
    per-segment record, and a deterministic re-match of the same fixes on the same day's
    network writes the same visits; a credit moved to other streets of exactly the same
    metres, or to other days within a segment (a changed GRIDWARD_TIMEZONE), would read as
    the same."""
    if before is None:
        return False
    return int(r.segments) == before[0] and abs(float(r.walked_m) - before[1]) < SAME_M


def _credited_here(conn: Connection, ids: list[int], where: set[int]) -> dict[int, bool]:
    """Per track with patrol visits, whether any credited a street of ``where``."""
    if not ids:
        return {}
    return {
        int(r.track_id): bool(r.here)
        for r in conn.execute(
            text(
                "SELECT v.track_id, bool_or(s.street_id = ANY(CAST(:w AS int[]))) AS here "
                "FROM patrol_visits v JOIN street_segments s ON s.id = v.segment_id "
                "WHERE v.track_id = ANY(CAST(:ids AS int[])) GROUP BY v.track_id"
            ),
            {"ids": ids, "w": sorted(where)},
        )
    }


def _in_scope(
    track_id: int | None,
    persons: list[Any],
    streets: list[int] | None,
    here: dict[int, bool],
    who: list[int],
    where: set[int],
) -> bool:
    """A walk is the report's when it credited one of its streets (the streets a withdrawn
    walk had credited, kept in its audit entry, or its visits now); a walk with neither (not
    matched yet, or withdrawn before its streets were kept) when its person held a duty in it.
    WHY by streets: a steward holding alleys in two communities had her walks in the other
    one named in this one's note (T56 #1)."""
    if streets:
        return bool({int(x) for x in streets} & where)
    if track_id is not None and track_id in here:
        return here[track_id]
    return bool({p for p in persons if isinstance(p, int)} & set(who))


def _walk_in_period(
    r: Any,
    detail: dict[str, Any],
    start: dt.date,
    end: dt.date,
    closed: dt.datetime,
    opened: dt.datetime,
) -> bool:
    """The walk lies in the period: now, or before it was re-timed or withdrawn."""
    if r.started_at is not None and r.started_at < closed and r.ended_at >= opened:
        return True
    return any(start.isoformat() <= d <= end.isoformat() for d in _iso_days(detail))


def _iso_days(detail: dict[str, Any]) -> list[str]:
    """The days a walk's audit entry says it lay on before the change (ISO dates)."""
    days = [*detail.get("days", []), str(detail.get("from") or "")[:10]]
    return [d for d in days if isinstance(d, str) and len(d) == 10 and d[4] == "-"]


def _duty_spans(
    r: Any,
    detail: dict[str, Any],
    who: list[int],
    where: set[int],
    person: int | None = None,
) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """The duties (before, after) a duty's end, undo or a leave changed that the report
    reaches: its streets' or its people's; ``person``: only that person's duties."""
    if r.action == "person.leave":
        if r.target_id is None or int(r.target_id) not in who:
            return []
    elif r.target_type not in ("alley", "street") or int(r.target_id or -1) not in where:
        return []
    before = {d.get("id"): d for d in detail.get("before", []) if isinstance(d, dict)}
    after = {d.get("id"): d for d in detail.get("after", []) if isinstance(d, dict)}
    last = str(detail.get("last_day") or "")[:10]
    if r.action == "person.leave" and not after and len(last) == 10:
        # a leave keeps each duty to its last day (one that began after it is removed)
        after = {
            k: dict(d, valid_to=min(d.get("valid_to") or last, last))
            for k, d in before.items()
            if str(d.get("valid_from") or "")[:10] <= last
        }
    spans = [(before.get(k), after.get(k)) for k in before.keys() | after.keys()]
    removed = detail.get("removed")
    if isinstance(removed, dict):
        spans.append((removed, None))
    if person is not None:
        spans = [(a, b) for a, b in spans if person in {(d or {}).get("person_id") for d in (a, b)}]
    return spans


def _span(d: dict[str, Any] | None) -> tuple[dt.date, dt.date] | None:
    if d is None or not d.get("valid_from"):
        return None
    vt = d.get("valid_to")
    return dt.date.fromisoformat(d["valid_from"][:10]), (
        dt.date.fromisoformat(vt[:10]) if vt else _FAR
    )


def _changed_days(
    a: dict[str, Any] | None, b: dict[str, Any] | None, start: dt.date, end: dt.date
) -> set[dt.date]:
    """The days of ``start``..``end`` held in one of the duty's two spans, not the other."""

    def held(d: dict[str, Any] | None) -> set[dt.date]:
        got = _span(d)
        if got is None:
            return set()
        return days_from(max(got[0], start), min(got[1], end))

    return held(a) ^ held(b)


# audit actions that change no figure of a report: signing in, tokens, accounts, a refused
# upload (nothing stored), a restore (the data comes back as it was backed up), a report
# signed (report.sign: a signed report's data_as_of stays what it was)
_NOT_DATA = ("signin.%", "token.%", "user.%", "track.refused", "db.%", "report.%")


def data_as_of(conn: Connection) -> dt.datetime | None:
    """When the data a report is made from last changed: the newest audited change (an
    upload, a duty, an import, a withdrawal, a plan) or finished match, whichever is later.
    WHY: a checker signing a weekly file could not tell from it which data it was made from,
    and a re-run weeks later reads the same only if nothing changed since (T55 #3); the time
    is the data's, not the run's, so an unchanged report stays byte-identical. Read from each
    table's newest rows by id (its primary key), not a scan."""
    return conn.execute(
        text(
            "SELECT GREATEST("
            "(SELECT at FROM audit_log WHERE NOT action LIKE ANY(CAST(:skip AS text[])) "
            "ORDER BY id DESC LIMIT 1), "
            "(SELECT matched_at FROM track_matches ORDER BY id DESC LIMIT 1))"
        ),
        {"skip": list(_NOT_DATA)},
    ).scalar()
