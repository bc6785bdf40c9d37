"""A track's history (轨迹记录), read from the audit log: withdrawn, restored, given to another
person, its file replaced with its times put right, its mode or datum changed, and (for
evaluators) files of its walk refused.

WHY: a restore clears the track's ``withdrawn`` block (:mod:`geo.track_withdraw`), so after it
nothing on the track said it had ever been withdrawn, by whom, when or why; the audit log that
kept it had no HTTP route, and an evaluator settling "who took my walk away" from the API or
the pages could not (outside tester T69 #4). Read from the entries the writers already make
(:mod:`geo.track_withdraw`, :mod:`geo.track_store`): no table of its own. The upload itself is
left out: the track's ``uploaded_at`` / ``uploaded_by`` say it (and the demo city's walks are
dated back, so their upload entries' times would disagree with the track's).

Who sees what: admins, planners and viewers (who read every track) see every entry, named. A
steward reads only her own tracks (``GET /tracks/{id}``); on them she sees who withdrew,
restored or changed her walk and why when that was herself or an official (an admin's, a
planner's or a viewer's account, the command line): the ``withdrawn`` block already showed her
the same while it was withdrawn, and she is the one disputing it. Another steward's account
(the walk was theirs before it was given to her), their reasons and the other people it was
given from or to are not named (他人 another person), as a steward whose walk it is not hears
nothing of it (README: 此轨迹已上传并已撤回); refused files of her walk are not listed to her
(their words may name another person's upload).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.accounts import Principal
from geo.errors import person_en, person_zh
from geo.track_days import local_iso

HistoryAction = Literal[
    "track.withdraw",
    "track.restore",
    "track.person",
    "track.times",
    "track.mode",
    "track.crs",
    "track.refused",
]
# each action as people say it: Chinese, English
ACTIONS: dict[str, tuple[str, str]] = {
    "track.withdraw": ("撤回", "withdrawn"),
    "track.restore": ("恢复", "restored"),
    "track.person": ("改归属", "given to another person"),
    "track.times": ("换文件更正时间", "file replaced, times put right"),
    "track.mode": ("改出行方式", "mode changed"),
    "track.crs": ("改坐标系", "datum changed"),
    "track.refused": ("拒收同一巡查的文件", "a file of this walk refused"),
}
# not on a steward's own page: someone's attempt to send her walk (its words name the upload)
EVALUATORS_ONLY = frozenset({"track.refused"})
MODE_ZH = {"walk": "步行", "bike": "骑行"}
OTHER = ("他人", "another person")
NOBODY = ("无人", "nobody")


def action_label(action: str) -> str:
    """The action for a person reading it: 撤回 withdrawn (Chinese, then English)."""
    zh, en = ACTIONS.get(action, (action, action))
    return f"{zh} {en}"


def track_history(
    conn: Connection, track_id: int, reader: Principal | None = None
) -> list[dict[str, Any]]:
    """The track's history, newest first (as its ``matches``): each entry's ``audit_id``,
    ``at`` (city time), ``action`` and ``action_label``, ``by`` (the account), ``reason``
    and ``note`` (what changed, Chinese first). ``reader``: a steward gets her own view
    (module docstring); None or another role, every entry named."""
    rows = audit.target_entries(conn, "track", [track_id], ACTIONS)
    steward = reader is not None and reader.role == "steward"
    if steward:
        rows = [r for r in rows if r["action"] not in EVALUATORS_ONLY]
    hide = _other_stewards(conn, rows, reader) if steward else set()
    people = _people(conn, rows)
    own = reader.person_id if steward and reader is not None else None  # her person
    out = []
    for r in reversed(rows):
        hidden = r["actor"] in hide
        detail = r["detail"] or {}
        out.append(
            {
                "audit_id": int(r["id"]),
                "at": local_iso(r["at"]),
                "action": r["action"],
                "action_label": action_label(r["action"]),
                "by": None if hidden else r["actor"],
                "reason": None if hidden else detail.get("reason"),
                "note": _note(r["action"], detail, people, own, steward),
            }
        )
    return out


def restored_walks(engine: Engine, track_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """For each of these tracks that was withdrawn and restored, its withdrawals and
    restores, oldest first (``at``, ``action``, ``by``, ``reason``). WHY: the patrol map
    draws a restored walk as any other; an evaluator should see it was once taken away."""
    ids = list(track_ids)
    if not ids:  # a steward's page, or a day without walks: no query
        return {}
    with engine.connect() as conn:
        rows = audit.target_entries(conn, "track", ids, ("track.withdraw", "track.restore"))
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(int(r["target_id"]), []).append(
            {
                "at": local_iso(r["at"]),
                "action": r["action"],
                "by": r["actor"],
                "reason": (r["detail"] or {}).get("reason"),
            }
        )
    return {t: ev for t, ev in out.items() if any(e["action"] == "track.restore" for e in ev)}


def restored_words(events: list[dict[str, Any]]) -> tuple[str, str]:
    """:func:`restored_walks`' entries of one track said (Chinese, English): "曾撤回，已恢复：
    2026-11-27 01:30 由 planner1 撤回（原因：…）；2026-11-27 01:35 由 admin 恢复"."""
    zh, en = [], []
    for e in events:
        at = (e["at"] or "")[:16].replace("T", " ")
        by = e["by"] or "未知账号"
        what_zh, what_en = ACTIONS[e["action"]]
        why_zh = f"（原因：{e['reason']}）" if e["reason"] else ""
        why_en = f" ({e['reason']})" if e["reason"] else ""
        zh.append(f"{at} 由 {by} {what_zh}{why_zh}")
        en.append(f"{what_en} {at} by {e['by'] or 'unknown'}{why_en}")
    return "曾撤回，已恢复：" + "；".join(zh), "once withdrawn, restored: " + "; ".join(en)


def _other_stewards(
    conn: Connection, rows: list[dict[str, Any]], reader: Principal | None
) -> set[str]:
    """The actors of ``rows`` that are other stewards' accounts than ``reader``'s."""
    actors = {r["actor"] for r in rows if r["actor"]} - {reader.username if reader else None}
    if not actors:
        return set()
    q = text("SELECT username FROM users WHERE role = 'steward' AND username = ANY(:u)")
    return set(conn.execute(q, {"u": sorted(a for a in actors if a)}).scalars())


def _people(conn: Connection, rows: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """The people the ``track.person`` entries name, as (Chinese, English) words."""
    ids = set()
    for r in rows:
        if r["action"] == "track.person":
            d = r["detail"] or {}
            ids |= {d.get(k) for k in ("from", "to", "person_id")}
    ids = {int(i) for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    q = text("SELECT id, name, external_id FROM people WHERE id = ANY(:p)")
    found = conn.execute(q, {"p": sorted(ids)}).all()
    return {
        int(p.id): (person_zh(p.name, p.external_id, p.id), person_en(p.name, p.external_id, p.id))
        for p in found
    }


def _who(
    pid: Any, people: dict[int, tuple[str, str]], own: int | None, steward: bool
) -> tuple[str, str]:
    """A person of a ``track.person`` entry as (Chinese, English); on a steward's page
    herself as 本人 you, anyone else as 他人 another person."""
    if pid is None:
        return NOBODY
    if steward:
        return ("本人", "you") if pid == own else OTHER
    return people.get(int(pid), (f"人员（系统编号 id:{pid}）", f"person id:{pid}"))


def _note(
    action: str,
    d: dict[str, Any],
    people: dict[int, tuple[str, str]],
    own: int | None,
    steward: bool,
) -> str | None:
    """What the entry changed, Chinese first, then English; None when the entry says no
    more than its action (a restore: the withdrawal before it says what came back)."""
    if action == "track.withdraw" and "walked_m" in d:
        days = d.get("days") or []
        on_zh = f"（巡查日 {'、'.join(days)}）" if days else ""
        on_en = f" (walked on {', '.join(days)})" if days else ""
        return (
            f"撤回时扣除巡查 {d.get('visits', 0)} 段、{float(d['walked_m']):.1f} 米{on_zh} "
            f"took away {d.get('visits', 0)} segment visits, {float(d['walked_m']):.1f} m{on_en}"
        )
    if action == "track.person":
        was = d.get("from") if "to" in d else None
        to = d.get("to", d.get("person_id"))
        (a_zh, a_en), (b_zh, b_en) = (_who(p, people, own, steward) for p in (was, to))
        return f"由 {a_zh} 改归 {b_zh} from {a_en} to {b_en}"
    if action == "track.times" and "shift_h" in d:
        h = float(d["shift_h"])
        return (
            f"换用新文件，时间更正 {h:+g} 小时：{d.get('from')} → {d.get('to')} "
            f"file replaced, times put right by {h:+g} h: {d.get('from')} → {d.get('to')}"
        )
    if action == "track.mode" and "to" in d:
        a, b = str(d.get("from")), str(d["to"])
        return f"出行方式 {MODE_ZH.get(a, a)} → {MODE_ZH.get(b, b)} mode {a} → {b}"
    if action == "track.crs" and "to" in d:
        return f"坐标系 {d.get('from')} → {d['to']} datum {d.get('from')} → {d['to']}"
    if action == "track.refused":
        name = f"文件 {d['filename']}：" if d.get("filename") else ""
        return f"{name}{d.get('message') or ''}".strip() or None
    return None
