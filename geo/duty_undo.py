"""Undoing a duty entered by mistake (撤销职责): wrong person, wrong alley, wrong days.

Split from :mod:`geo.duties` (which sets and ends duties): the undo removes the row, even one
that has been in force (a backdated mistake is exactly what past reports must stop reading),
keeps the whole removed row in the audit log, and, when the duty was a ``replace`` stand-in,
gives back exactly what it took from the other holders, from its ``assignments.set`` audit
entry (rules in :func:`undo_duty` and :mod:`geo.duties`' docstring). A duty a staffing commit
started (:func:`geo.staffing.commit`) is undone the same way: what that commit ended, removed
or brought forward on the same target and role is given back, from its ``assignments.commit``
entry, read as if the commit were a replacement.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.duties import (
    EARLIEST,
    ROLE_LABELS,
    ROLE_TARGET,
    SOLE_ROLES,
    Authorize,
    _area_code,
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
)
from geo.errors import ConflictError, InputError, NotFoundError
from geo.settings import city_today

MAX_REASON = 500
_UNDO_HOW = (
    "first put those duties back as it left them (assign end with that last day, or undo what "
    "was set since, newest first), or remove only this duty and leave the others as they are "
    'now (--leave-others; API "leave_others": true) and set them by hand (assign set / end)'
)


def parse_duty_id(value: Any) -> int:
    """A duty id (``assignments.id``) given as a number or text; InputError naming it else."""
    shown = str(value).strip()
    ok = shown.isascii() and shown.isdigit() and len(shown) <= 10
    if isinstance(value, bool) or not ok or not 0 < int(shown) < 2**31:
        raise InputError(
            f"duty '{shown[:40]}' is not a duty id: give the whole number `assign set` printed "
            "(职责编号 duty id)"
        )
    return int(shown)


def parse_reason(value: str | None) -> str | None:
    """An undo's reason on one line (whitespace collapsed), None when empty; at most
    ``MAX_REASON`` characters."""
    if value is None:
        return None
    reason = " ".join(str(value).split())
    if len(reason) > MAX_REASON:
        raise InputError(f"the reason is {len(reason)} characters long: at most {MAX_REASON}")
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
    took when it was a replacement (see the module docstring); ``leave_others`` removes only
    this duty. ``authorize(code)`` is called with the target's grid or community code before
    anything about the duty is told (``None`` when there is no such duty). One transaction,
    one audit row ``assignments.undo`` holding the whole removed row, the reason and what was
    put back. Returns them, JSON-ready."""
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
            raise NotFoundError(f"duty {duty_id} does not exist (never set, or already undone)")
        role = found.role
        t = _find_target(conn, role, found.grid_id, found.street_id)  # locked first, as edits do
        if authorize is not None:
            authorize(_area_code(conn, t))
        row = conn.execute(
            text(
                "SELECT a.id, a.person_id, a.role, a.valid_from, a.valid_to, a.created_by, "
                "a.created_at, p.external_id, p.name FROM assignments a JOIN people p ON "
                "p.id = a.person_id WHERE a.id = :i FOR UPDATE OF a"
            ),
            {"i": duty_id},
        ).first()
        if row is None:  # undone meanwhile
            raise NotFoundError(f"duty {duty_id} does not exist (never set, or already undone)")
        entry, detail, note = _origin(conn, t, role, row)
        took = []
        if detail is not None and detail.get("replace"):
            took = detail.get("changes") or []
        steps: list[dict[str, Any]] = []
        left = [{"action": c["action"], "id": int(c["id"])} for c in took] if leave_others else []
        if took and not leave_others:
            steps = _restoration(conn, t, role, row, detail, today)
        conn.execute(text("DELETE FROM assignments WHERE id = :i"), {"i": duty_id})
        restored = [_restore(conn, t, role, s, actor) for s in steps]
        removed = {
            **_row(row),
            "role": role,
            "target": _target_json(t),
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None,
        }
        still = [
            _row(r) for r in _duties(conn, t, role, EARLIEST, None, person_id=int(row.person_id))
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
                "removed": removed,
                "undoes": int(entry.id) if entry is not None else None,
                "note": note,
                "left_as_is": left,
                "before": [b for s in restored for b in s["before"]],
                "after": [s["after"] for s in restored],
                "restored": [{"action": s["action"], "id": s["id"]} for s in restored],
            },
        )
    return {
        "undone": removed,
        "reason": reason,
        "restored": restored,
        "left_as_is": left,
        "still_holds": still,
        "note": note,
    }


def _origin(
    conn: Connection, t: dict[str, Any], role: str, duty: Any
) -> tuple[Any, dict[str, Any] | None, str | None]:
    """The newest audit entry that made ``duty`` start as it does: its ``assignments.set``, or
    the staffing commit that inserted it or brought it forward (found by its ``started_ids``,
    index ix_audit_log_commit_started). Returns (entry, detail shaped as a set's, note); the
    note says why nothing is given back for a commit made before commits recorded what they
    ended (its row has only counts)."""
    entry = _set_entry(conn, t, duty.id)
    # no LIMIT: with one, the planner walks the primary key backwards past every later row
    # instead of asking the GIN index (a duty is started by one commit, rarely two)
    made = conn.execute(
        text(
            "SELECT id, detail FROM audit_log WHERE action = 'assignments.commit' "
            "AND detail -> 'started_ids' @> CAST(:i AS jsonb) ORDER BY id DESC"
        ),
        {"i": json.dumps([int(duty.id)])},
    ).first()
    if made is not None and (entry is None or made.id > entry.id):
        return made, _commit_detail(conn, t, role, duty, made.detail), None
    if entry is not None:
        return entry, entry.detail, None
    old = _old_commit(conn, t, duty.created_at)
    if old is None:
        return None, None, None
    return (
        old,
        None,
        (
            f"nothing else was restored: duty {duty.id} was started by the staffing commit of area "
            f"{old.target_id} on {old.at.date()} (audit entry {old.id}), whose record does not say "
            f"what it ended (commits recorded that only later); set whoever held {_label(t)} "
            "before it back by hand if they should hold it (assign set / end)"
        ),
    )


def _old_commit(conn: Connection, t: dict[str, Any], created_at: dt.datetime | None) -> Any:
    """The commit, recorded with counts only, that inserted a duty created at ``created_at``
    (its row and the duty were written in one transaction: the same now()). Looked for among
    the commits of the areas holding the target (codes nest), on ix_audit_log_target."""
    code = _area_code(conn, t)
    if not code or created_at is None:
        return None
    return conn.execute(
        text(
            "SELECT id, target_id, at FROM audit_log WHERE target_type = 'area' "
            "AND target_id = ANY(:codes) AND action = 'assignments.commit' AND at = :at "
            "AND detail -> 'started_ids' IS NULL ORDER BY id DESC LIMIT 1"
        ),
        {"codes": sorted({code[:n] for n in (6, 9, 12)}), "at": created_at},
    ).first()


def _commit_detail(
    conn: Connection, t: dict[str, Any], role: str, duty: Any, d: dict[str, Any]
) -> dict[str, Any]:
    """What commit detail ``d`` did to ``duty``'s target and role, shaped as a replacement's
    ``assignments.set`` detail (before, after with the duty first, changes), so that
    :func:`_restoration` checks and gives it back unchanged."""
    col = "grid_id" if d.get("kind") == "grids" else "street_id"

    def here(c: dict[str, Any]) -> bool:
        return col == t["column"] and int(c["target"]) == t["id"] and c["role"] == role

    ended = [c for c in d.get("ended_duties") or [] if here(c)]
    forward = [c for c in d.get("brought_forward") or [] if here(c)]
    me = next((c for c in forward if int(c["id"]) == duty.id), None)
    moved = [c for c in forward if c is not me]
    people = {
        int(p.id): p
        for p in conn.execute(
            text("SELECT id, external_id, name FROM people WHERE id = ANY(:p)"),
            {"p": sorted({int(c["person_id"]) for c in ended + moved})},
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
        "replace": True,
        "before": [rec(c) for c in ended + moved],
        "after": [
            {
                "valid_from": me["valid_from_after"] if me else d["day"],
                "valid_to": me["valid_to"] if me else None,
            },
            *[rec(c, valid_to=c["valid_to_after"]) for c in ended if not c.get("removed")],
            *[rec(c, valid_from=c["valid_from_after"]) for c in moved],
        ],
        "changes": [
            *[{"action": "deleted" if c.get("removed") else "ended", "id": c["id"]} for c in ended],
            *[{"action": "moved", "id": c["id"]} for c in moved],
        ],
    }


def _restoration(
    conn: Connection,
    t: dict[str, Any],
    role: str,
    duty: Any,
    detail: dict[str, Any],
    today: dt.date,
) -> list[dict[str, Any]]:
    """What undoing replacement ``duty`` puts back, from its ``assignments.set`` audit entry:
    checked against the duties as they are now, all before anything is written. Refused (409,
    nothing changed) when that cannot be done exactly."""
    shown = f"duty {duty.id} ({_who(duty)} {_span(duty.valid_from, duty.valid_to)})"

    def refuse(problem: str) -> ConflictError:
        return ConflictError(
            f"{shown} replaced other holders on {_label(t)}, and undoing it would give back "
            f"what it took, but {problem}: nothing changed. To undo it, {_UNDO_HOW}"
        )

    was = detail["after"][0]
    if (was["valid_from"], was["valid_to"]) != (
        duty.valid_from.isoformat(),
        duty.valid_to.isoformat() if duty.valid_to else None,
    ):
        raise refuse(
            f"it was changed since it was set (set for "
            f"{_span(dt.date.fromisoformat(was['valid_from']), _day(was['valid_to']))})"
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
            raise refuse(f"{name}'s duty {i}, which it {what}, no longer exists")
        if (r.person_id, r.role, r.target, r.valid_from, _iso(r.valid_to)) != (
            int(want["person_id"]),
            role,
            t["id"],
            dt.date.fromisoformat(want["valid_from"]),
            want["valid_to"],
        ):
            raise refuse(
                f"{name}'s duty {i}, which it {what}, was changed since (it was left as "
                f"{_span(dt.date.fromisoformat(want['valid_from']), _day(want['valid_to']))}, "
                f"now {_span(r.valid_from, r.valid_to)})"
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
                    state = "no longer exists" if resumed is None else "was changed since"
                    raise refuse(
                        f"{_who(cut)}'s duty {j}, with which they resumed after it, {state}"
                    )
                end = resumed.valid_to  # as it is now (ended since, e.g. they left: kept)
            else:
                end = _day(before[i]["valid_to"])
                if not active.get(int(cut.person_id)) and (end is None or end >= today):
                    raise refuse(f"{_who(cut)} has left since")
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
                raise refuse(f"{_who(r)}'s duty {i}, which it moved, ends before {start} now")
            steps.append({"action": "starts again", "row": r, "start": start, "end": r.valid_to})
        elif action == "deleted":
            b = before[i]
            if i in now:
                raise refuse(f"duty {i}, which it cancelled, exists again")
            if not active.get(int(b["person_id"])):
                raise refuse(
                    f"{b['name']} ({b['person']}), whose planned duty it cancelled, has left since"
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
            raise refuse(f"its record lists '{action}' for duty {i}, which cannot be undone")
    involved = {duty.id, *ids}
    gone = _retired_day(t)
    for s in steps:
        person = int(s["row"]["person_id"] if isinstance(s["row"], dict) else s["row"].person_id)
        name = s["row"]["name"] if isinstance(s["row"], dict) else s["row"].name
        span = _span(s["start"], s["end"])
        if gone is not None and (s["end"] is None or s["end"] >= gone):
            raise refuse(f"{_label(t)} is gone since {gone}, and {name}'s {span} reaches past it")
        own = [
            r for r in _duties(conn, t, role, s["start"], s["end"], person) if r.id not in involved
        ]
        if own:
            raise refuse(
                f"{name} holds it again in that period ("
                + "; ".join(f"duty {r.id} {_span(r.valid_from, r.valid_to)}" for r in own)
                + f"), which overlaps their {span}"
            )
        if role in SOLE_ROLES:
            other = [
                r
                for r in _duties(conn, t, role, s["start"], s["end"], person, others=True)
                if r.id not in involved
            ]
            if other:
                raise refuse(
                    f"{_label(t)} has another {ROLE_LABELS[role]} in {name}'s {span} ("
                    + "; ".join(f"{_who(r)} {_span(r.valid_from, r.valid_to)}" for r in other)
                    + "): a grid has one leader"
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
