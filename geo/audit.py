"""The audit log: who changed which grid, assignment, plan or account, and when.

Call :func:`record` with the same connection as the change itself, so the entry is written in
the change's transaction: either both are stored or neither is.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, text

from geo.models import AuditEntry

_audit = AuditEntry.__table__

# Actions written by the database and sign-in code (the others name their own in place)
DB_RESTORE = "db.restore"  # gridward db restore: who (the OS user), the file, its time
SIGNIN_OK = "signin.success"  # POST /auth/token: the username and the address
SIGNIN_FAILED = "signin.failure"  # the same, refused: the name as typed, the address
SIGNIN_LOCKED = "signin.locked"  # a name locked from an address, or an address: once a lock
SIGNIN_UNLOCK = "signin.unlock"  # gridward users unlock: a name ("*" every address) or an address
# actions ``gridward audit --action`` knows before the log holds one (a quiet log is valid)
ANNOUNCED = (DB_RESTORE, SIGNIN_FAILED, SIGNIN_LOCKED, SIGNIN_OK, SIGNIN_UNLOCK)


#: the actor every command typed in the shell passes (``actor="cli"``); stored as
#: ``cli:<OS user>`` (:func:`actor_name`)
CLI = "cli"


def shell_actor() -> str:
    """``cli:<OS user>``: who ran a gridward command, as ``db.restore`` has always named
    them (the user's name, or the uid where it has none, e.g. in a container)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = str(os.getuid())
    return f"{CLI}:{who}"


def actor_name(actor: str | None) -> str | None:
    """The actor as stored: the command line's ``cli`` names the OS user (``cli:root``),
    an account's username is kept as it is. WHY one place: every CLI command passes
    ``"cli"``, so the log could not tell which shell user changed what (T38 M4); an
    account cannot be named ``cli:…`` (a username has no colon)."""
    return shell_actor() if actor == CLI else actor


def record(
    conn: Connection,
    actor: str | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry (e.g. ``record(conn, "alice", "grid.update", "grid", 42, {...})``).

    ``detail`` must be JSON-serialisable; never put passwords, tokens or phone numbers in it.
    Returns the entry id. An ``actor`` of ``"cli"`` is stored as ``cli:<OS user>``
    (:func:`actor_name`).
    """
    values = {
        "actor": actor_name(actor),
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "detail": detail or {},
    }
    return int(conn.execute(insert(_audit).values(**values).returning(_audit.c.id)).scalar_one())


def entries(
    conn: Connection, target_type: str | None = None, target_id: object | None = None
) -> list[dict[str, Any]]:
    """Entries oldest first, optionally for one target (reports and tests)."""
    q = select(_audit).order_by(_audit.c.id)
    if target_type is not None:
        q = q.where(_audit.c.target_type == target_type)
    if target_id is not None:
        q = q.where(_audit.c.target_id == str(target_id))
    return [dict(r._mapping) for r in conn.execute(q)]


def target_entries(
    conn: Connection, target_type: str, target_ids: Iterable[object], actions: Iterable[str]
) -> list[dict[str, Any]]:
    """The entries of these targets with one of ``actions``, oldest first (by id). WHY: a
    track's page and the patrol map read the history of one track or of a day's tracks
    (:mod:`geo.track_history`) in one query on ``ix_audit_log_target``, not the whole log."""
    ids = sorted({str(i) for i in target_ids})
    if not ids:
        return []
    q = (
        select(_audit)
        .where(_audit.c.target_type == target_type)
        .where(_audit.c.target_id.in_(ids))
        .where(_audit.c.action.in_(sorted(set(actions))))
        .order_by(_audit.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def search(
    conn: Connection,
    since: dt.datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 50,
    *,
    before: dt.datetime | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Entries newest first, at most ``limit``: from ``since`` on and before ``before``, by
    ``actor``, of ``action`` (``track`` also finds ``track.upload``, ``track.withdraw`` …; in
    any case: ``User.Update`` finds ``user.update``), on one target (``target_type``, and
    ``target_id`` as stored), older than entry ``before_id`` (the next page). WHY: an admin
    had no way to read the log short of SQL (``gridward audit``, ``GET /audit``). ``actor``
    ``cli`` finds every command-line entry, the older ``cli`` and the ``cli:<OS user>``
    written since (T38 M4); ``cli:root`` finds that user's."""
    q = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
    if since is not None:
        q = q.where(_audit.c.at >= since)
    if before is not None:
        q = q.where(_audit.c.at < before)
    if target_type is not None:
        q = q.where(_audit.c.target_type == target_type)
    if target_id is not None:
        q = q.where(_audit.c.target_id == target_id)
    if before_id is not None:
        q = q.where(_audit.c.id < before_id)
    if actor == CLI:
        q = q.where(or_(_audit.c.actor == CLI, _audit.c.actor.like(CLI + ":%")))
    elif actor is not None:
        q = q.where(_audit.c.actor == actor)
    if action is not None:
        wanted = action.lower()
        family = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
        name = func.lower(_audit.c.action)
        q = q.where(or_(name == wanted, name.like(family, escape="\\")))
    return [dict(r._mapping) for r in conn.execute(q)]


def distinct(conn: Connection, column: str) -> list[str]:
    """Every value of ``column`` (``action`` or ``actor``) in the log, sorted. WHY: an unknown
    ``--action`` (``user.set`` for ``user.update``) printed an empty table, as if nothing had
    happened (outside tester Z2, N9); ``gridward audit`` now names the known ones."""
    col = _audit.c[column]
    q = select(col).where(col.is_not(None)).distinct().order_by(col)
    return list(conn.execute(q).scalars())


def check_filters(
    conn: Connection, actor: str | None, action: str | None, example: str = "--action track"
) -> str | None:
    """For a search that found nothing: an ``action`` that never occurs in the log, and is
    none of those :data:`ANNOUNCED` (sign-ins, restores), is refused (:class:`InputError`)
    with the known actions; an ``actor`` that never occurs is refused too, with the name in
    the log's case when only the case differs, unless it is an account that changed nothing
    (a valid, empty answer: the words to say so are returned). WHY: ``--action user.set``
    (the action is ``user.update``) or ``--actor CLI`` printed an empty table, read as
    "nothing happened" (outside tester Z2, N9); ``gridward audit`` and ``GET /audit`` alike
    (``example``: a family asked as the caller asks it, ``--action track`` or ``action=track``)."""
    from geo.errors import InputError

    wanted = (action or "").lower()
    announced = any(a == wanted or a.startswith(wanted + ".") for a in ANNOUNCED)
    if action is not None and not announced and not search(conn, action=action, limit=1):
        known = ", ".join(sorted({*distinct(conn, "action"), *ANNOUNCED}))
        raise InputError(
            f"未知操作：审计日志中没有操作 {action!r}；已知的操作：{known}（只写点号前的部分可查"
            f"整类，如 {example}） "
            f"no such action {action!r} in the audit log; known: {known} "
            f"(a part before the dot finds its family: {example})"
        )
    if actor is None or search(conn, actor=actor, limit=1):
        return None
    q = text("SELECT 1 FROM users WHERE username = :n")
    if conn.execute(q, {"n": actor}).first() is not None:
        return (
            f"无审计记录：账号 {actor!r} 在审计日志中没有记录 "
            f"account {actor!r} has no entries in the audit log"
        )
    # accounts too: an account with no entries yet was no hint for its miscased name (Z3)
    accounts = conn.execute(
        text("SELECT username FROM users WHERE lower(username) = lower(:n) ORDER BY username"),
        {"n": actor},
    ).scalars()
    actors = distinct(conn, "actor")
    same = [a for a in actors if a.lower() == actor.lower()]
    same += [a for a in accounts if a not in same]
    # T39 L12: CLI (or Cli) matched nothing and was told nothing when the log held only the
    # new cli:<OS user> spelling; the hint names 'cli', which finds them all. WHY a hint and
    # not a match in any case: every other name here matches as written (an account's,
    # an OS user's), and the hint has always been the answer to a name in the wrong case
    cli = actor.lower() == CLI and any(a == CLI or a.startswith(CLI + ":") for a in actors)
    # and a bare OS user (root) for the shell entries it wrote (cli:root)
    shell = [a for a in actors if a.lower() == f"{CLI}:{actor.lower()}"]
    hint = f" (names match case: did you mean {same[0]!r}?)" if same else ""
    hint_zh = f"（名称区分大小写：是否想找 {same[0]!r}？）" if same else ""
    if cli:
        hint = (
            f" (names match case: did you mean {CLI!r}? it finds every command-line entry, "
            f"stored as {CLI}:<OS user>)"
        )
        hint_zh = (
            f"（名称区分大小写：是否想找 {CLI!r}？它可查出所有命令行操作，"
            f"审计日志中记为 {CLI}:<操作系统用户名>）"
        )
    elif shell and not same:
        hint = f" (the shell's entries are stored as {CLI}:<OS user>: did you mean {shell[0]!r}?)"
        hint_zh = f"（命令行操作在审计日志中记为 {CLI}:<操作系统用户名>：是否想找 {shell[0]!r}？）"
    raise InputError(
        f"无此操作者：审计日志中没有 {actor!r}{hint_zh}。 "
        f"no such actor {actor!r} in the audit log{hint}"
    )


PERSON_RENUMBER = "person.renumber"  # geo.people_import.renumber_person: {from, to, removed}


def renumbers(
    conn: Connection, since: dt.datetime, person_ids: Iterable[int]
) -> list[dict[str, Any]]:
    """The registry ids (人员编号) of ``person_ids`` changed from ``since`` on, one row per
    person: ``person_id``, ``name`` (today's; None if the record is gone), ``was`` (before
    the first change), ``now`` (after the last) and ``at`` (the last change); a person
    renumbered and back again is left out. Read from the audit log, which keeps every
    renumber, so no table of old ids is needed. WHY: a report of a period signed before a
    renumber lists the person by the new id while the signed copy has the old one, and
    nothing said so (outside tester T69 #3)."""
    ids = sorted({str(int(p)) for p in person_ids})
    if not ids:
        return []
    rows = conn.execute(
        text(
            "SELECT a.target_id, a.at, a.detail ->> 'from' AS was, a.detail ->> 'to' AS now, "
            "p.name FROM audit_log a LEFT JOIN people p ON p.id::text = a.target_id "
            "WHERE a.action = :action AND a.at >= :since AND a.target_type = 'person' "
            "AND a.target_id = ANY(CAST(:ids AS text[])) ORDER BY a.id"
        ),
        {"action": PERSON_RENUMBER, "since": since, "ids": ids},
    ).all()
    chains: dict[int, dict[str, Any]] = {}
    for r in rows:
        pid = int(r.target_id)
        got = chains.setdefault(pid, {"person_id": pid, "name": r.name, "was": r.was})
        got.update(now=r.now, at=r.at)
    return [c for c in chains.values() if c["was"] != c["now"]]


# target types whose id is a database id with a name people use: (table, SQL of the name)
_NAMED = {
    "grid": "SELECT id, code AS label FROM grids WHERE id = ANY(:ids)",
    "street": "SELECT id, coalesce(name, key) AS label FROM streets WHERE id = ANY(:ids)",
    "alley": "SELECT id, coalesce(name, key) AS label FROM streets WHERE id = ANY(:ids)",
    "user": "SELECT id, username AS label FROM users WHERE id = ANY(:ids)",
    "person": "SELECT id, name, external_id FROM people WHERE id = ANY(:ids)",
}


def target_labels(conn: Connection, rows: Iterable[dict[str, Any]]) -> dict[int, str]:
    """Each entry's target as people name it, by entry id: ``grid 110108015001001（系统编号
    id:1387）``, ``person 王超（人员编号 DEMO0032，系统编号 id:32）``, ``user planner1（系统
    编号 id:3）``, an area's code with its name; other targets (plans, tracks: their ids are
    their names) and a target that no longer exists as before (``grid 1387``). WHY: the
    target read ``grid 1387``, a database id no planner knows (T38 L13). One query per kind."""
    from geo.errors import person_zh

    rows = list(rows)
    wanted: dict[str, set[int]] = {}
    areas: set[str] = set()
    for r in rows:
        kind, tid = r["target_type"], r["target_id"]
        if kind in _NAMED and tid and str(tid).isdigit() and len(str(tid)) <= 9:
            wanted.setdefault(kind, set()).add(int(tid))
        elif kind == "area" and tid:
            areas.add(str(tid))
    names: dict[tuple[str, str], str] = {}
    for kind, ids in wanted.items():
        for n in conn.execute(text(_NAMED[kind]), {"ids": sorted(ids)}).mappings():
            shown = (
                person_zh(n["name"], n["external_id"], n["id"])
                if kind == "person"
                else f"{n['label']}（系统编号 id:{n['id']}）"
            )
            names[(kind, str(n["id"]))] = shown
    if areas:
        q = text("SELECT code, name FROM areas WHERE code = ANY(:c)")
        for code, name in conn.execute(q, {"c": sorted(areas)}).all():
            names[("area", code)] = f"{code} {name}" if name else code
    out = {}
    for r in rows:
        kind, tid = r["target_type"], r["target_id"]
        if not kind:
            out[r["id"]] = "-"
            continue
        shown = names.get((kind, str(tid)), tid or "")
        out[r["id"]] = f"{kind} {shown}".strip()
    return out
