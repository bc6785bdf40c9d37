"""Undoing a duty entered by mistake (撤销职责): wrong person, wrong alley, wrong days.

Split from :mod:`geo.duties` (which sets and ends duties): the undo removes the row, even one
that has been in force (a backdated mistake is exactly what past reports must stop reading),
keeps the whole removed row in the audit log, and, when the duty was a ``replace`` stand-in,
gives back exactly what it took from the other holders, from its ``assignments.set`` audit
entry (rules in :func:`undo_duty` and :mod:`geo.duties`' docstring).

A duty a staffing commit started (:func:`geo.staffing.commit`) is undone from that commit's
``assignments.commit`` entry, read as if the commit were a replacement:

* a duty the commit inserted is removed; a duty it brought forward (planned by hand from a
  later day, moved to start on the commit day) is moved back to its planned start and stays,
  as planned (refused when it now ends before that day). Undoing it once more then removes
  it: its origin is its own ``assignments.set`` again;
* what the commit ended or removed on the same target and role is given back as a whole when
  the LAST of the duties the commit started there (inserted and still there, or brought
  forward and still starting on the commit day) is undone. Undoing an earlier one undoes it
  alone, and the reply's ``note`` names the duties the commit also started there and says
  that what it ended (ids) comes back when those are undone too. So grid workers 117 and 118
  replaced by 230 and 231 in one commit are back, exactly as before it, once both 230 and
  231 are undone, in either order; with one duty started there it is given back at once.
  WHY the last one: given back at the first undo, the ended holders would stand beside the
  started duties still there (5 workers instead of 4), and undoing those would then find
  the ended duties changed since;
* giving back is checked first (nothing changed since, nobody left since); a refusal (409)
  says what to do, and ``leave_others`` undoes the duty alone, leaving the others as they are;
* a commit recorded before commits said what they ended (its row has only counts) is undone
  alone, and the note says so, unless its counts say it ended nothing.

A grid duty a plan commit carried to a new grid (:mod:`geo.plan_duties`: the old duty ended
the day before on the retired grid, an equal one started on its successor) was not entered by
mistake: it continues the person's duty. Read as a replacement of that old duty, its undo
would give the old duty back, which cannot be done (its grid is retired), so it is refused
(409) with the ways to move or end it instead; ``leave_others`` removes it alone, and the note
says the old duty stays ended and what the person still holds (nothing: they hold no duty).
WHY: removed silently, the person held no grid from the commit day on, and nothing said so.

The OLD duty of such a carry (ended by the commit on the retired grid) is undone as any duty:
that takes nothing from the carried copy and gives nothing back, so it is exact, and undoing
it first, then the copy, undoes a wrong entry the commit carried. But the copy continues it,
so the answer's ``carried_copy`` and ``note`` name the copy the person still holds (followed
through later plan commits), its grid and version, and the ``assign end`` that ends it.
WHY not refused like the copy: nothing here cannot be done exactly; what was missing was
saying that the person still holds the successor grid.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.duties import (
    EARLIEST,
    ROLE_LABELS,
    ROLE_TARGET,
    SOLE_ROLES,
    Authorize,
    _area_path,
    _duties,
    _grid,
    _label,
    _retired_day,
    _row,
    _set_entry,
    _span,
    _street,
    _target_json,
    _who,
    _zh,
    _zh_label,
    _zh_mid_label,
    _zspan,
)
from geo.errors import ConflictError, InputError, NotFoundError, parse_row_id
from geo.settings import city_today, get_settings

MAX_REASON = 500
# the way out of every refusal: this duty alone, the others set by hand
_LEAVE = (
    "remove only this duty and leave the others as they are now (--leave-others; API "
    '"leave_others": true), then set their duties by hand (assign set / end)'
)
_LEAVE_ZH = (
    '只撤销这一项职责，其他人的职责保持现状（--leave-others；API "leave_others": true），'
    "再手工安排他们的职责（assign set / end）"
)
# when a duty it changed was changed again since
_PUT_BACK = (
    "first put that duty back as it was left (assign end with that last day, or undo what was "
    "set since, newest first)"
)
_PUT_BACK_ZH = (
    "先把那项职责改回当时的样子（用 assign end 改回那个最后一天，或从最新的一项起撤销之后的安排）"
)
# what a step of giving back did to a duty, in Chinese
_DID_ZH = {"ended": "结束", "moved": "推迟"}


def parse_duty_id(value: Any) -> int:
    """A duty id (``assignments.id``) given as a number or text; InputError naming it else."""
    try:
        return parse_row_id(value, "duty", "")
    except InputError:
        shown = str(value).strip()[:40]
        raise InputError(
            f"职责编号 '{shown}' 无效：须为正整数，即 assign set 输出的职责编号 "
            f"duty '{shown}' is not a duty id: give the whole number `assign set` printed "
            "(职责编号 duty id)"
        ) from None


def parse_reason(value: str | None) -> str | None:
    """An undo's reason on one line (whitespace collapsed), None when empty; at most
    ``MAX_REASON`` characters."""
    if value is None:
        return None
    reason = " ".join(str(value).split())
    if len(reason) > MAX_REASON:
        raise InputError(
            f"原因过长：共 {len(reason)} 个字符，最多 {MAX_REASON} 个，请缩短 "
            f"the reason is {len(reason)} characters long: at most {MAX_REASON}"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in reason):  # a NUL was a database error (500)
        raise InputError(
            "原因含控制字符（如 NUL），请删去 the reason holds a control character (such as NUL)"
        )
    return reason or None


def _find_target(conn: Connection, role: str, grid_id: int | None, street_id: int | None):
    if grid_id is not None:
        return _grid(conn, str(grid_id))
    return _street(conn, ROLE_TARGET.get(role, "street"), str(street_id))


def undo_duty(
    engine: Engine,
    duty: int | str,
    reason: str | None = None,
    leave_others: bool = False,
    actor: str | None = None,
    authorize: Authorize | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Remove duty ``duty`` (an ``assignments.id``) entered by mistake, and give back what it
    took when it was a replacement; a duty a staffing commit brought forward is moved back to
    its planned start instead (see the module docstring); ``leave_others`` gives nothing back.
    ``authorize(path)`` is called with the target's area path (grid or street) before anything
    about the duty is told (``None`` when there is no such duty). One transaction, one audit
    row ``assignments.undo`` holding the whole removed row (or the move back), the reason and
    what was put back. Returns them, JSON-ready."""
    duty_id = parse_duty_id(duty)
    reason = parse_reason(reason)
    today = today or city_today()
    with engine.begin() as conn:
        found = conn.execute(
            text("SELECT role, grid_id, street_id FROM assignments WHERE id = :i"), {"i": duty_id}
        ).first()
        if found is None:
            if authorize is not None:  # out of scope, which duties exist is not told
                authorize(None)
            raise NotFoundError(
                f"职责 {duty_id} 不存在（从未安排，或已撤销） duty {duty_id} does not exist "
                "(never set, or already undone)"
            )
        role = found.role
        t = _find_target(conn, role, found.grid_id, found.street_id)  # locked first, as edits do
        if authorize is not None:
            authorize(_area_path(conn, t))
        row = conn.execute(
            text(
                "SELECT a.id, a.person_id, a.role, a.valid_from, a.valid_to, a.created_by, "
                "a.created_at, p.external_id, p.name FROM assignments a JOIN people p ON "
                "p.id = a.person_id WHERE a.id = :i FOR UPDATE OF a"
            ),
            {"i": duty_id},
        ).first()
        if row is None:  # undone meanwhile
            raise NotFoundError(
                f"职责 {duty_id} 不存在（从未安排，或已撤销） duty {duty_id} does not exist "
                "(never set, or already undone)"
            )
        entry, detail, note = _carried(conn, t, role, row, leave_others, today) or _origin(
            conn, t, role, row
        )
        planned = _day((detail or {}).get("planned_from"))
        if planned is not None and row.valid_to is not None and row.valid_to < planned:
            by, zby = detail["by"], detail["by_zh"]
            raise ConflictError(
                f"职责 {row.id}（{_who(row)} {_zspan(row.valid_from, row.valid_to)}）原计划自 "
                f"{planned} 起，{zby}把它提前了；撤销会把它改回原计划的开始日，但它现在"
                f"于 {row.valid_to} 结束，早于 {planned}，无法撤销，未做更改。如要撤销，请先把最后"
                f"一天改到 {planned} 或之后（assign end），再撤销（再撤销一次则删除它），"
                "或保持现状 "
                f"duty {row.id} ({_who(row)} {_span(row.valid_from, row.valid_to)}) was planned "
                f"from {planned} and {by} brought it forward; undoing that moves it "
                f"back to its planned start, but it ends on {row.valid_to} now, before "
                f"{planned}: nothing changed. To undo it, first give it a last day on or after "
                f"{planned} (assign end), then undo it again (once more removes it), or leave "
                "it as it is"
            )
        took = []
        if detail is not None and detail.get("replace"):
            took = detail.get("changes") or []
        steps: list[dict[str, Any]] = []
        left = [{"action": c["action"], "id": int(c["id"])} for c in took] if leave_others else []
        if took and not leave_others:
            steps = _restoration(conn, t, role, row, detail, today)
        moved_back = None
        if planned is not None:  # the planner's plan stays: only the early start is undone
            conn.execute(
                text("UPDATE assignments SET valid_from = :s WHERE id = :i"),
                {"i": duty_id, "s": planned},
            )
            moved_back = {**_row(row, valid_from=planned), "was_valid_from": str(row.valid_from)}
        else:
            conn.execute(text("DELETE FROM assignments WHERE id = :i"), {"i": duty_id})
        copy = _carried_copy(conn, t, row, today) if moved_back is None else None
        if copy is not None:  # said first: what the person still holds elsewhere
            note = f"{copy[1]}; {note}" if note else copy[1]
        restored = [_restore(conn, t, role, s, actor) for s in steps]
        undone = {
            **_row(row),
            "role": role,
            "target": _target_json(t),
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None,
        }
        still = [
            _row(r)
            for r in _duties(conn, t, role, EARLIEST, None, person_id=int(row.person_id))
            if r.id != duty_id
        ]
        audit.record(
            conn,
            actor,
            "assignments.undo",
            t["kind"],
            t["id"],
            {
                "role": role,
                "reason": reason,
                "removed": undone if moved_back is None else None,
                "moved_back": moved_back,
                "undoes": int(entry.id) if entry is not None else None,
                "note": note,
                "left_as_is": left,
                "carried_copy": copy[0]["id"] if copy is not None else None,
                "before": ([] if moved_back is None else [_row(row)])
                + [b for s in restored for b in s["before"]],
                "after": ([] if moved_back is None else [moved_back])
                + [s["after"] for s in restored],
                "restored": [{"action": s["action"], "id": s["id"]} for s in restored],
            },
        )
    return {
        "undone": undone,
        "moved_back": moved_back,
        "reason": reason,
        "restored": restored,
        "left_as_is": left,
        "still_holds": still,
        "carried_copy": copy[0] if copy is not None else None,
        "note": note,
    }


def _origin(
    conn: Connection, t: dict[str, Any], role: str, duty: Any
) -> tuple[Any, dict[str, Any] | None, str | None]:
    """The newest audit entry that made ``duty`` start as it does: its ``assignments.set``, or
    the staffing commit that inserted it or brought it forward (found by its ``started_ids``,
    index ix_audit_log_commit_started; one it brought forward only while it still starts on
    the commit's day). Returns (entry, detail shaped as a set's, note); the note says why
    nothing (or nothing yet) is given back."""
    entry = _set_entry(conn, t, duty.id)
    # no LIMIT: with one, the planner walks the primary key backwards past every later row
    # instead of asking the GIN index (a duty is started by one commit, rarely two)
    made = conn.execute(
        text(
            "SELECT id, target_id, detail FROM audit_log WHERE action = 'assignments.commit' "
            "AND detail -> 'started_ids' @> CAST(:i AS jsonb) ORDER BY id DESC"
        ),
        {"i": json.dumps([int(duty.id)])},
    ).first()
    if made is not None and (entry is None or made.id > entry.id):
        got = _commit_detail(conn, t, role, duty, made)
        if got is not None:
            return made, *got
    if entry is not None:
        note = None
        if entry.detail["after"][0]["valid_from"] != duty.valid_from.isoformat():
            old = _old_commit_on(conn, t, duty.valid_from, entry.id)
            if old is not None and _ended_any(old):
                zby, zrest, en = _old_commit_note(old, t)
                set_from = entry.detail["after"][0]["valid_from"]
                note = (
                    f"其他职责未恢复：职责 {duty.id}（原定自 {set_from} 起）被{zby}提前到 "
                    f"{duty.valid_from}；{zrest} "
                    f"nothing else was restored: duty {duty.id}, set from "
                    f"{set_from}, was brought forward to "
                    f"{duty.valid_from} by {en}"
                )
        return entry, entry.detail, note
    old = _old_commit(conn, t, duty.created_at)
    if old is None:
        return None, None, None
    if not _ended_any(old):  # its counts say it ended nothing: nothing to give back
        return old, None, None
    zby, zrest, en = _old_commit_note(old, t)
    return (
        old,
        None,
        f"其他职责未恢复：职责 {duty.id} 由{zby}开始；{zrest} "
        f"nothing else was restored: duty {duty.id} was started by {en}",
    )


def _carried(
    conn: Connection,
    t: dict[str, Any],
    role: str,
    duty: Any,
    leave_others: bool,
    today: dt.date,
) -> tuple[Any, dict[str, Any] | None, str] | None:
    """When a plan commit carried grid duty ``duty`` (inserted it on a successor grid; one it
    only moved, never in force, is its own): (the commit's audit entry, a replacement detail
    listing the old duty it ended, the note). ConflictError, nothing changed, while that old
    duty exists and not ``leave_others``: it cannot be given back (module docstring)."""
    if t["kind"] != "grid":
        return None
    hit = _plan_carries(conn, t["id"], "new_duty", int(duty.id))
    if not hit:
        return None
    entry, c = hit[0]
    old_id = int(c["duty"])
    day = entry.at.astimezone(ZoneInfo(get_settings().timezone)).date()
    by = f"the commit of plan {entry.target_id} on {day} (audit entry {entry.id})"
    zby = f"方案 {entry.target_id} 于 {day} 的提交（审计记录 {entry.id}）"
    old = conn.execute(
        text(
            "SELECT a.valid_to, g.code, g.version, g.retired_at FROM assignments a JOIN grids g ON "
            "g.id = a.grid_id WHERE a.id = :i"
        ),
        {"i": old_id},
    ).first()
    shown = f"duty {duty.id} ({_who(duty)} {_span(duty.valid_from, duty.valid_to)})"
    zshown = f"职责 {duty.id}（{_who(duty)} {_zspan(duty.valid_from, duty.valid_to)}）"
    carried = f"{shown} was carried to {_label(t)} by {by}"
    zcarried = f"{zshown}由{zby}顺延到{_zh_label(t)}"
    if old is None:
        zstill, still = _still_holds(conn, duty, today)
        note = (
            f"{zcarried}，接续网格 {c['grid']} 上的职责 {old_id}，而该职责之后已撤销，"
            f"无可恢复；{zstill} "
            f"{carried} from duty {old_id} on grid {c['grid']}, which was undone since: "
            "nothing to give back"
        )
        return entry, None, f"{note}; {still}"
    gone = _retired_day({"retired_at": old.retired_at}) or day  # the commit retired it
    grid = f"grid {old.code} of version {old.version}"  # a plan may keep a code: say which
    ended = f"duty {old_id} on {grid}, which that commit ended on {old.valid_to}"
    zended = (
        f"网格 {old.code}（第 {old.version} 版）上的职责 {old_id}"
        f"（该提交于 {old.valid_to} 结束了它）"
    )
    retired = f"that grid is retired since {gone}"
    zretired = f"该网格自 {gone} 起已撤销"
    if not leave_others:
        who = f"--person {duty.external_id} --role {role}"
        last = max(today, duty.valid_from)
        raise ConflictError(
            f"职责 {duty.id} 是方案 {entry.target_id} 提交时从旧网格 {old.code}（第 {old.version} "
            f"版）顺延而来：{zcarried}，接续其{zended}，且{zretired}，撤销它无法恢复原职责，"
            f"未做更改。这是其本来的职责，不是误录：如要让其不再担任{_zh_mid_label(t)}并保留记录，请结束它"
            f"（assign end {who} --grid {t['code']} --last-day {last}）；如要调换网格，请结束它"
            f"并安排其应担任的网格（assign set {who} --grid 网格编码 --from "
            f"{last + dt.timedelta(days=1)}）；如仍要删除职责 {duty.id}（其天数将从以往报表中去掉，"
            f'职责 {old_id} 仍为已结束），请加 --leave-others 撤销（API "leave_others": true） '
            f"{carried}: it continues their {ended}, and "
            f"{retired}, so undoing it cannot give that duty back: nothing changed. It is "
            f"their duty, not a mistaken entry: to take them off {_label(t)} and keep the "
            f"record, end it (assign end {who} --grid {t['code']} --last-day {last}); to move "
            f"them, end it and set the grid they should hold (assign set {who} --grid CODE "
            f"--from {last + dt.timedelta(days=1)}); to remove duty {duty.id} anyway (its "
            f"days leave past reports, duty {old_id} stays ended), undo it with --leave-others "
            '(API "leave_others": true)'
        )
    detail = {"replace": True, "changes": [{"action": "ended", "id": old_id}]}
    zstill, still = _still_holds(conn, duty, today)
    note = (
        f"{zcarried}，接续其{zended}；{zretired}：职责 {old_id} 仍为已结束，无可恢复；{zstill} "
        f"{carried}, continuing their {ended}; {retired}: duty {old_id} stays ended, "
        f"nothing given back; {still}"
    )
    return entry, detail, note


def _plan_carries(conn: Connection, grid_id: int, key: str, duty_id: int) -> list[Any]:
    """The carries of plan commits in grid ``grid_id``'s community whose ``key`` (``duty``:
    the old duty, ``new_duty``: the copy) is ``duty_id``, newest first, as (audit entry,
    carried item); a duty a commit only moved (never in force, its own copy) is left out."""
    found = conn.execute(
        text(
            "SELECT l.id, l.target_id, l.at, l.detail -> 'duties' -> 'carried' AS carried "
            "FROM audit_log l WHERE l.target_type = 'grid_plan' AND l.target_id IN (SELECT "
            "p.id::text FROM grid_plans p JOIN grids g ON g.community_id = p.area_id WHERE "
            "g.id = :g) AND l.action = 'plan.commit' AND l.detail -> 'duties' -> 'carried' "
            "@> CAST(:c AS jsonb) ORDER BY l.id DESC"
        ),
        {"g": grid_id, "c": json.dumps([{key: duty_id}])},
    ).all()
    return [
        (e, c)
        for e in found
        for c in e.carried
        if int(c[key]) == duty_id and int(c["duty"]) != int(c["new_duty"])
    ]


def _carried_copy(
    conn: Connection, t: dict[str, Any], duty: Any, today: dt.date
) -> tuple[dict[str, Any], str] | None:
    """When a plan commit carried grid duty ``duty`` to a successor grid, the copy the person
    holds now (followed through later commits that carried it again), JSON-ready, and the
    note saying that undoing ``duty`` leaves it, with the command that ends it. None when
    nothing was carried, or the copy was undone since.

    WHY a note, not a refusal: undoing the old duty takes nothing from the copy and gives
    nothing back, so it is exact (the 409 on undoing the copy is about giving the old duty
    back, which cannot be done); and undoing the old duty first, then the copy, is how a
    whole mistaken run is undone. But the copy continues the old duty: removed silently,
    the person went on holding the successor grid and the answer did not say so."""
    if t["kind"] != "grid":
        return None
    first: Any = None
    at, seen = int(duty.id), {int(duty.id)}
    while True:
        hit = _plan_carries(conn, t["id"], "duty", at)
        if not hit or int(hit[0][1]["new_duty"]) in seen:
            break
        entry, c = hit[0]
        first = first or entry
        at = int(c["new_duty"])
        seen.add(at)
    if first is None:
        return None
    copy = conn.execute(
        text(
            "SELECT a.id, a.person_id, a.role, a.valid_from, a.valid_to, g.id AS grid_id, "
            "g.code, g.version, g.retired_at, p.external_id, p.name FROM assignments a "
            "JOIN grids g ON g.id = a.grid_id JOIN people p ON p.id = a.person_id "
            "WHERE a.id = :i"
        ),
        {"i": at},
    ).first()
    if copy is None:  # undone since: nothing continues the duty
        return None
    day = first.at.astimezone(ZoneInfo(get_settings().timezone)).date()
    by = f"the commit of plan {first.target_id} on {day} (audit entry {first.id})"
    grid = f"grid {copy.code} of version {copy.version}"
    span = _span(copy.valid_from, copy.valid_to)
    zspan = _zspan(copy.valid_from, copy.valid_to)
    undo = f"assign undo --duty {copy.id}; API DELETE /assignments/{copy.id}"
    end = None
    if copy.valid_to is None or copy.valid_to >= today:
        # a code names its current version; a copy on a retired grid is named by its id
        ref = copy.code if copy.retired_at is None else copy.grid_id
        last = max(today, copy.valid_from)
        end = (
            f"assign end --person {copy.external_id} --role {copy.role} --grid {ref} "
            f"--last-day {last}"
        )
        zh = (
            f"{_who(copy)} 仍担任该职责（{zspan}），撤销职责 {duty.id} 不影响它；如也要让其不再"
            f"担任网格 {copy.code}，请结束它（{end}）；如它从一开始也是误录，也请撤销（{undo}）"
        )
        en = (
            f"{_who(copy)} still holds it ({span}): undoing duty {duty.id} leaves it as it "
            f"is. To take them off grid {copy.code} too, end it ({end}); if it was a mistake "
            f"from the start as well, undo it too ({undo})"
        )
    else:
        zh = (
            f"该职责已于 {copy.valid_to} 结束（{zspan}），撤销职责 {duty.id} 不影响它；"
            f"如它从一开始也是误录，也请撤销（{undo}）"
        )
        en = (
            f"it ended on {copy.valid_to} ({span}), and undoing duty {duty.id} leaves it as "
            f"it is; if it was a mistake from the start as well, undo it too ({undo})"
        )
    note = (
        f"职责 {duty.id} 已由方案 {first.target_id} 于 {day} 的提交（审计记录 {first.id}）"
        f"顺延到网格 {copy.code}（第 {copy.version} 版）为职责 {copy.id}，{zh} "
        f"duty {duty.id} was carried to "
        f"{grid} as duty {copy.id} by {by}; {en}"
    )
    held = {
        **_row(copy),
        "role": copy.role,
        "grid": {"id": int(copy.grid_id), "code": copy.code, "version": int(copy.version)},
        "carried_by": {"plan": int(first.target_id), "audit_entry": int(first.id)},
        "end_command": end,
    }
    return held, note


def _still_holds(conn: Connection, duty: Any, today: dt.date) -> tuple[str, str]:
    """What ``duty``'s person holds from today without it, said so a removal is not silent:
    (in Chinese, in English)."""
    rows = conn.execute(
        text(
            "SELECT a.id, a.role, g.code, coalesce(s.name, s.key) AS name, a.valid_from, "
            "a.valid_to FROM assignments a "
            "LEFT JOIN grids g ON g.id = a.grid_id LEFT JOIN streets s ON s.id = a.street_id "
            "WHERE a.person_id = :p AND a.id <> :i AND (a.valid_to IS NULL OR a.valid_to >= :d) "
            "ORDER BY a.valid_from, a.id"
        ),
        {"p": int(duty.person_id), "i": int(duty.id), "d": today},
    ).all()
    if not rows:
        return (
            f"{_who(duty)} 自 {today} 起不再担任任何职责",
            f"{_who(duty)} holds no duty from {today} on",
        )
    held = "; ".join(
        f"duty {r.id} {r.role} on {f'grid {r.code}' if r.code else r.name} "
        f"{_span(r.valid_from, r.valid_to)}"
        for r in rows
    )
    zheld = "；".join(
        f"职责 {r.id}：{f'网格 {r.code}' if r.code else r.name} 的"
        f"{_zh(r.role) if r.role in ROLE_LABELS else r.role} {_zspan(r.valid_from, r.valid_to)}"
        for r in rows
    )
    return f"{_who(duty)} 仍担任：{zheld}", f"{_who(duty)} still holds: {held}"


def _old_commit_note(old: Any, t: dict[str, Any]) -> tuple[str, str, str]:
    """A commit recorded with counts only, as a note names it: (who in Chinese, the rest of
    the note in Chinese, the whole in English)."""
    day = old.at.astimezone(ZoneInfo(get_settings().timezone)).date()  # the city's day
    return (
        f"区域 {old.target_id} 于 {day} 的人员配置提交（审计记录 {old.id}）",
        "该提交的记录没有写明它结束了哪些职责（较晚的提交才有此记录）；如之前担任"
        f"{_zh_mid_label(t)}的人应继续担任，请手工安排回去（assign set / end）",
        f"the staffing commit of area {old.target_id} on {day} (audit entry {old.id}), whose "
        "record does not say what it ended (commits recorded that only later); set whoever "
        f"held {_label(t)} before it back by hand if they should hold it (assign set / end)",
    )


def _ended_any(old: Any) -> bool:
    """Whether an old commit's counts leave room for something it ended (``ended`` > 0, or
    not recorded)."""
    ended = (old.detail or {}).get("ended")
    return not isinstance(ended, int) or ended > 0


def _old_codes(conn: Connection, t: dict[str, Any]) -> list[str] | None:
    path = _area_path(conn, t)  # the areas holding the target, by parent link and by prefix
    return sorted({*path[1:], *(path[0][:n] for n in (6, 9, 12))}) if path else None


def _old_commit(conn: Connection, t: dict[str, Any], created_at: dt.datetime | None) -> Any:
    """The commit, recorded with counts only, that inserted a duty created at ``created_at``
    (its row and the duty were written in one transaction: the same now()). Looked for among
    the commits of the areas holding the target (codes nest), on ix_audit_log_target."""
    codes = _old_codes(conn, t)
    if not codes or created_at is None:
        return None
    return conn.execute(
        text(
            "SELECT id, target_id, at, detail FROM audit_log WHERE target_type = 'area' "
            "AND target_id = ANY(:codes) AND action = 'assignments.commit' AND at = :at "
            "AND detail -> 'started_ids' IS NULL ORDER BY id DESC LIMIT 1"
        ),
        {"codes": codes, "at": created_at},
    ).first()


def _old_commit_on(conn: Connection, t: dict[str, Any], day: dt.date, after: int) -> Any:
    """The commit, recorded with counts only, of an area holding the target, made on the
    city's ``day`` after audit entry ``after``: one that may have brought a planned duty
    forward to that day (it started its duties on the day it was made)."""
    codes = _old_codes(conn, t)
    if not codes:
        return None
    tz = ZoneInfo(get_settings().timezone)
    return conn.execute(
        text(
            "SELECT id, target_id, at, detail FROM audit_log WHERE target_type = 'area' "
            "AND target_id = ANY(:codes) AND action = 'assignments.commit' AND id > :after "
            "AND at >= :s AND at < :e AND detail -> 'started_ids' IS NULL "
            "ORDER BY id DESC LIMIT 1"
        ),
        {
            "codes": codes,
            "after": after,
            "s": dt.datetime.combine(day, dt.time(), tz),
            "e": dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz),
        },
    ).first()


def _commit_detail(
    conn: Connection, t: dict[str, Any], role: str, duty: Any, made: Any
) -> tuple[dict[str, Any], str | None] | None:
    """What commit ``made`` did to ``duty``'s target and role, shaped as a replacement's
    ``assignments.set`` detail (before, after with the duty first, changes), so that
    :func:`_restoration` checks and gives it back unchanged, with ``planned_from`` when it
    brought the duty forward, and a note. Nothing to give back (and the note says why) while
    other duties it started there are still there: the last one gives it back. None when the
    commit no longer made the duty start as it does (brought forward, and moved since)."""
    d = made.detail
    col = "grid_id" if d.get("kind") == "grids" else "street_id"

    def here(c: dict[str, Any]) -> bool:
        return col == t["column"] and int(c["target"]) == t["id"] and c["role"] == role

    ended = [c for c in d.get("ended_duties") or [] if here(c)]
    forward = {int(c["id"]): c for c in d.get("brought_forward") or [] if here(c)}
    me = forward.get(int(duty.id))
    if me is not None and duty.valid_from.isoformat() != me["valid_from_after"]:
        return None  # moved back (or otherwise) since: the commit no longer starts it
    by = f"the staffing commit of area {made.target_id} on {d.get('day')} (audit entry {made.id})"
    zby = f"区域 {made.target_id} 于 {d.get('day')} 的人员配置提交（审计记录 {made.id}）"
    inserted = [int(i) for i in d.get("inserted") or []]
    later = {int(x["id"]): x["valid_from"] for x in d.get("inserted_later") or []}
    started = sorted({*inserted, *forward})
    also = [
        r
        for r in conn.execute(
            text(
                "SELECT a.id, a.valid_from, p.external_id, p.name FROM assignments a JOIN "
                "people p ON p.id = a.person_id WHERE a.id = ANY(:ids) AND a.id <> :me "
                f"AND a.{t['column']} = :t AND a.role = :r ORDER BY a.id"
            ),
            {"ids": started, "me": int(duty.id), "t": t["id"], "r": role},
        ).all()
        if r.id not in forward or r.valid_from.isoformat() == forward[r.id]["valid_from_after"]
    ]
    base = {
        "by": by,
        "by_zh": zby,
        "planned_from": me["valid_from"] if me else None,
        "started": started,  # what the commit put there: not in the way of giving back
    }
    if also:
        listed = ", ".join(f"{r.id} ({_who(r)})" for r in also)
        one = len(also) == 1
        then = (
            f"what it ended there ({'duty' if len(ended) == 1 else 'duties'} "
            f"{', '.join(str(c['id']) for c in ended)}) comes back "
            f"when {'that one is' if one else 'those are'} undone too"
            if ended
            else "it ended nothing there"
        )
        zthen = (
            f"它在此结束的职责（{', '.join(str(c['id']) for c in ended)}）将在"
            f"{'这项' if one else '这些'}职责也撤销后恢复"
            if ended
            else "它在此没有结束任何职责"
        )
        return base, (
            f"其他职责暂未恢复：{zby}还在{_zh_label(t)} 上开始了{_zh(role)}职责 {listed}；{zthen} "
            f"nothing else was restored yet: {by} also started {'duty' if one else 'duties'} "
            f"{listed} on {_label(t)} as {ROLE_LABELS[role]}; {then}"
        )
    people = {
        int(p.id): p
        for p in conn.execute(
            text("SELECT id, external_id, name FROM people WHERE id = ANY(:p)"),
            {"p": sorted({int(c["person_id"]) for c in ended})},
        ).all()
    }

    def rec(c: dict[str, Any], **changed: Any) -> dict[str, Any]:
        p = people.get(int(c["person_id"]))
        return {
            "id": int(c["id"]),
            "person_id": int(c["person_id"]),
            "person": p.external_id if p else None,
            "name": p.name if p else None,
            "valid_from": c["valid_from"],
            "valid_to": c["valid_to"],
            **changed,
        }

    return {
        **base,
        "replace": True,
        "before": [rec(c) for c in ended],
        "after": [
            {
                # inserted on the commit's day, or the next (a person whose duty elsewhere
                # ended that day: geo.staffing's ``inserted_later``)
                "valid_from": me["valid_from_after"] if me else later.get(int(duty.id), d["day"]),
                "valid_to": me["valid_to"] if me else None,
            },
            *[rec(c, valid_to=c["valid_to_after"]) for c in ended if not c.get("removed")],
        ],
        "changes": [
            {"action": "deleted" if c.get("removed") else "ended", "id": c["id"]} for c in ended
        ],
    }, None


def _restoration(
    conn: Connection,
    t: dict[str, Any],
    role: str,
    duty: Any,
    detail: dict[str, Any],
    today: dt.date,
) -> list[dict[str, Any]]:
    """What undoing replacement ``duty`` puts back, from its ``assignments.set`` audit entry
    (or its commit's, ``by`` naming it): checked against the duties as they are now, all
    before anything is written. Refused (409, nothing changed) when that cannot be done
    exactly, saying what to do instead."""
    shown = f"duty {duty.id} ({_who(duty)} {_span(duty.valid_from, duty.valid_to)})"
    zshown = f"职责 {duty.id}（{_who(duty)} {_zspan(duty.valid_from, duty.valid_to)}）"
    by = detail.get("by")

    def refuse(
        zproblem: str, problem: str, zfirst: str | None = None, first: str | None = None
    ) -> ConflictError:
        """The refusal: why (``zproblem``, ``problem``) and what to do first, if anything,
        before the way out of every refusal (_LEAVE), each in Chinese and in English."""
        did = (
            f"was started by {by}, and undoing it would give back what that commit ended on "
            f"{_label(t)}"
            if by
            else f"replaced other holders on {_label(t)}, and undoing it would give back what "
            "it took"
        )
        zdid = (
            f"由{detail.get('by_zh')}开始，撤销它会恢复该提交在{_zh_mid_label(t)}结束的职责"
            if by
            else f"替换了{_zh_mid_label(t)}的其他担任者，撤销它会恢复它所取代的职责"
        )
        how = f"{first}, or {_LEAVE}" if first else _LEAVE
        zhow = f"{zfirst}，或{_LEAVE_ZH}" if zfirst else _LEAVE_ZH
        return ConflictError(
            f"职责 {duty.id} 无法按原样撤销，未做更改：{zshown}{zdid}，但{zproblem}。"
            f"如要撤销，请{zhow}。 {shown} {did}, but {problem}: nothing "
            f"changed. To undo it, {how}"
        )

    was = detail["after"][0]
    if (was["valid_from"], was["valid_to"]) != (
        duty.valid_from.isoformat(),
        duty.valid_to.isoformat() if duty.valid_to else None,
    ):
        span = _span(dt.date.fromisoformat(was["valid_from"]), _day(was["valid_to"]))
        zspan = _zspan(dt.date.fromisoformat(was["valid_from"]), _day(was["valid_to"]))
        raise refuse(
            f"它在该提交开始后被改过（当时为 {zspan}）"
            if by
            else f"它在安排后被改过（当时安排为 {zspan}）",
            f"it was changed since that commit started it (as {span})"
            if by
            else f"it was changed since it was set (set for {span})",
        )
    before = {int(b["id"]): b for b in detail.get("before") or []}
    after = {int(a["id"]): a for a in detail["after"][1:]}
    changes = detail.get("changes") or []
    ids = [int(c["id"]) for c in changes]
    now = {
        int(r.id): r
        for r in conn.execute(
            text(
                f"SELECT a.id, a.person_id, a.role, a.{t['column']} AS target, a.valid_from, "
                "a.valid_to, p.external_id, p.name FROM assignments a JOIN people p ON "
                "p.id = a.person_id WHERE a.id = ANY(:ids) ORDER BY a.id FOR UPDATE OF a"
            ),
            {"ids": ids},
        ).all()
    }
    active = dict(
        conn.execute(
            text("SELECT id, active FROM people WHERE id = ANY(:p)"),
            {"p": sorted({int(b["person_id"]) for b in before.values()})},
        ).all()
    )

    def unchanged(i: int, want: dict[str, Any], what: str) -> Any:
        r = now.get(i)
        name = f"{want['name']} ({want['person']})"
        if r is None:
            raise refuse(
                f"它所{_DID_ZH.get(what, what)}的 {name} 的职责 {i} 已不存在",
                f"{name}'s duty {i}, which it {what}, no longer exists",
            )
        if (r.person_id, r.role, r.target, r.valid_from, _iso(r.valid_to)) != (
            int(want["person_id"]),
            role,
            t["id"],
            dt.date.fromisoformat(want["valid_from"]),
            want["valid_to"],
        ):
            left = dt.date.fromisoformat(want["valid_from"]), _day(want["valid_to"])
            raise refuse(
                f"它所{_DID_ZH.get(what, what)}的 {name} 的职责 {i} 之后又被改过（当时为 "
                f"{_zspan(*left)}，现为 {_zspan(r.valid_from, r.valid_to)}）",
                f"{name}'s duty {i}, which it {what}, was changed since (it was left as "
                f"{_span(*left)}, now {_span(r.valid_from, r.valid_to)})",
                _PUT_BACK_ZH,
                _PUT_BACK,
            )
        return r

    steps: list[dict[str, Any]] = []
    k = 0
    while k < len(changes):
        action, i = changes[k]["action"], int(changes[k]["id"])
        k += 1
        if action == "ended":
            cut = unchanged(i, after[i], "ended")
            nxt = changes[k] if k < len(changes) else None
            resumed = None
            if nxt is not None and nxt["action"] == "resumes":
                k += 1
                j = int(nxt["id"])
                resumed = now.get(j)
                want = after[j]
                if resumed is None or (resumed.person_id, resumed.valid_from) != (
                    cut.person_id,
                    dt.date.fromisoformat(want["valid_from"]),
                ):
                    gone = resumed is None
                    raise refuse(
                        f"{_who(cut)} 在它之后复任的职责 {j} "
                        + ("已不存在" if gone else "之后又被改过"),
                        f"{_who(cut)}'s duty {j}, with which they resumed after it, "
                        + ("no longer exists" if gone else "was changed since"),
                        None if gone else _PUT_BACK_ZH,
                        None if gone else _PUT_BACK,
                    )
                end = resumed.valid_to  # as it is now (ended since, e.g. they left: kept)
            else:
                end = _day(before[i]["valid_to"])
                if not active.get(int(cut.person_id)) and (end is None or end >= today):
                    raise refuse(f"{_who(cut)} 之后已离岗", f"{_who(cut)} has left since")
            steps.append(
                {
                    "action": "continues",
                    "row": cut,
                    "start": cut.valid_from,
                    "end": end,
                    "merged": resumed,
                }
            )
        elif action == "moved":
            r = now.get(i)
            want = {**after[i], "valid_to": _iso(r.valid_to) if r is not None else None}
            r = unchanged(i, want, "moved")
            start = dt.date.fromisoformat(before[i]["valid_from"])
            if r.valid_to is not None and r.valid_to < start:
                raise refuse(
                    f"它所推迟的 {_who(r)} 的职责 {i} 现在于 {start} 之前就结束",
                    f"{_who(r)}'s duty {i}, which it moved, ends before {start} now",
                    f"先把它的最后一天改到 {start} 或之后（assign end）",
                    f"first give it a last day on or after {start} (assign end)",
                )
            steps.append({"action": "starts again", "row": r, "start": start, "end": r.valid_to})
        elif action == "deleted":
            b = before[i]
            if i in now:
                raise refuse(
                    f"它所取消的职责 {i} 又存在了",
                    f"duty {i}, which it cancelled, exists again",
                    f"先撤销职责 {i}",
                    f"first undo duty {i}",
                )
            if not active.get(int(b["person_id"])):
                raise refuse(
                    f"其计划职责被它取消的 {b['name']} ({b['person']}) 之后已离岗",
                    f"{b['name']} ({b['person']}), whose planned duty it cancelled, has left since",
                )
            steps.append(
                {
                    "action": "reinstated",
                    "row": b,
                    "start": dt.date.fromisoformat(b["valid_from"]),
                    "end": _day(b["valid_to"]),
                }
            )
        else:  # a resumption without its end, or an action this code does not know
            raise refuse(
                f"其记录中职责 {i} 的操作为 '{action}'，无法撤销",
                f"its record lists '{action}' for duty {i}, which cannot be undone",
            )
    involved = {duty.id, *ids, *(int(i) for i in detail.get("started") or [])}
    gone = _retired_day(t)
    for s in steps:
        person = int(s["row"]["person_id"] if isinstance(s["row"], dict) else s["row"].person_id)
        name = s["row"]["name"] if isinstance(s["row"], dict) else s["row"].name
        span, zspan = _span(s["start"], s["end"]), _zspan(s["start"], s["end"])
        if gone is not None and (s["end"] is None or s["end"] >= gone):
            raise refuse(
                f"{_zh_label(t)} 自 {gone} 起已不存在，而 {name} 的 {zspan} 延续到那之后",
                f"{_label(t)} is gone since {gone}, and {name}'s {span} reaches past it",
            )
        own = [
            r for r in _duties(conn, t, role, s["start"], s["end"], person) if r.id not in involved
        ]
        if own:
            raise refuse(
                f"{name} 在那段时间又担任了它（"
                + "；".join(f"职责 {r.id} {_zspan(r.valid_from, r.valid_to)}" for r in own)
                + f"），与其 {zspan} 重叠",
                f"{name} holds it again in that period ("
                + "; ".join(f"duty {r.id} {_span(r.valid_from, r.valid_to)}" for r in own)
                + f"), which overlaps their {span}",
                "先结束或撤销其那项职责",
                "first end or undo that duty of theirs",
            )
        if role in SOLE_ROLES:
            other = [
                r
                for r in _duties(conn, t, role, s["start"], s["end"], person, others=True)
                if r.id not in involved
            ]
            if other:
                raise refuse(
                    f"{_zh_label(t)} 在 {name} 的 {zspan} 内另有{_zh(role)}（"
                    + "；".join(f"{_who(r)} {_zspan(r.valid_from, r.valid_to)}" for r in other)
                    + "），而一个网格只有一名网格长",
                    f"{_label(t)} has another {ROLE_LABELS[role]} in {name}'s {span} ("
                    + "; ".join(f"{_who(r)} {_span(r.valid_from, r.valid_to)}" for r in other)
                    + "): a grid has one leader",
                    "先结束或撤销那位网格长的职责",
                    "first end or undo that leader's duty",
                )
    return steps


def _restore(
    conn: Connection, t: dict[str, Any], role: str, s: dict[str, Any], actor: str | None
) -> dict[str, Any]:
    """Write one step of :func:`_restoration`; returns it as JSON (before rows and after)."""
    r = s["row"]
    if s["action"] == "reinstated":  # under its old id: the audit trail stays readable
        conn.execute(
            text(
                f"INSERT INTO assignments (id, person_id, role, {t['column']}, valid_from, "
                "valid_to, created_by) VALUES (:i, :p, :r, :t, :s, :e, :by)"
            ),
            {
                "i": int(r["id"]),
                "p": int(r["person_id"]),
                "r": role,
                "t": t["id"],
                "s": s["start"],
                "e": s["end"],
                "by": actor,
            },
        )
        return {"action": "reinstated", "id": int(r["id"]), "before": [], "after": dict(r)}
    before = [_row(r)]
    if s.get("merged") is not None:
        before.append(_row(s["merged"]))
        conn.execute(text("DELETE FROM assignments WHERE id = :i"), {"i": s["merged"].id})
    conn.execute(
        text("UPDATE assignments SET valid_from = :s, valid_to = :e WHERE id = :i"),
        {"i": r.id, "s": s["start"], "e": s["end"]},
    )
    out = {
        "action": s["action"],
        "id": int(r.id),
        "before": before,
        "after": _row(r, valid_from=s["start"], valid_to=s["end"]),
    }
    if s.get("merged") is not None:
        out["merged"] = int(s["merged"].id)
    return out


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
