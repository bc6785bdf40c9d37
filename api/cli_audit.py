"""``gridward audit``: the audit log (who changed which grid, duty, plan, track or account) as
a plain table, for admins. WHY: it was written on every change and readable only by SQL."""

from __future__ import annotations

import json
from typing import Any

import typer

DETAIL_CHARS = 160  # a staffing commit's detail runs to kilobytes: one line stays one line


def audit(
    since: str = typer.Option(None, "--since", help="起始日期 from this local day on (YYYY-MM-DD)"),
    actor: str = typer.Option(
        None,
        "--actor",
        help="只看此账号 only this account; 'cli' finds every command-line entry "
        "(cli, and cli:USER since the OS user is named), 'cli:root' those of one OS user",
    ),
    action: str = typer.Option(
        None,
        "--action",
        help="只看此操作 only this action; 'track' also finds track.upload, "
        "track.withdraw …; sign-ins are signin.success / signin.failure, restores db.restore",
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="最新 N 条 newest N entries"),
) -> None:
    """审计日志 List the audit log, newest first: time, who, what, on which target."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from api.cli_dates import cli_day
    from geo.audit import search, target_labels
    from geo.db import get_engine
    from geo.settings import get_settings

    tz = ZoneInfo(get_settings().timezone)
    start = None
    if since is not None:
        start = dt.datetime.combine(cli_day(since, "--since"), dt.time(), tz)
    with get_engine().connect() as conn:
        rows = search(conn, start, actor, action, limit)
        if not rows:
            _unknown_filter(conn, actor, action)
        targets = target_labels(conn, rows)  # a grid's code, not its database id (T38 L13)
    typer.echo(f"编号 id\t时间 at ({tz.key})\t操作者 actor\t操作 action\t对象 target\t详情 detail")
    for r in rows:
        target = targets[r["id"]]
        detail = json.dumps(r["detail"], ensure_ascii=False, separators=(",", ":"), default=str)
        if len(detail) > DETAIL_CHARS:
            detail = detail[: DETAIL_CHARS - 1] + "…"
        typer.echo(
            f"{r['id']}\t{r['at'].astimezone(tz):%Y-%m-%d %H:%M:%S}\t{r['actor'] or '-'}\t"
            f"{r['action']}\t{target}\t{detail}"
        )


def _unknown_filter(conn: Any, actor: str | None, action: str | None) -> None:
    """Nothing matched: an ``--action`` that never occurs in the log, and is none of those
    :data:`geo.audit.ANNOUNCED` (sign-ins, restores), is refused (exit 2) with the known
    actions; an ``--actor`` that never occurs is said on stderr (an account that exists but
    changed nothing is a valid, empty answer: exit 0; any other name exit 2).
    WHY: ``--action user.set`` (the action is ``user.update``) or ``--actor CLI`` printed an
    empty table, read as "nothing happened" (outside tester Z2, N9)."""
    from sqlalchemy import text

    from geo.audit import ANNOUNCED, CLI, distinct, search
    from geo.errors import InputError

    wanted = (action or "").lower()
    announced = any(a == wanted or a.startswith(wanted + ".") for a in ANNOUNCED)
    if action is not None and not announced and not search(conn, action=action, limit=1):
        known = ", ".join(sorted({*distinct(conn, "action"), *ANNOUNCED}))
        raise InputError(
            f"未知操作：审计日志中没有操作 {action!r}；已知的操作：{known}（只写点号前的部分可查"
            "整类，如 --action track） "
            f"no such action {action!r} in the audit log; known: {known} "
            "(a part before the dot finds its family: --action track)"
        )
    if actor is None or search(conn, actor=actor, limit=1):
        return
    q = text("SELECT 1 FROM users WHERE username = :n")
    if conn.execute(q, {"n": actor}).first() is not None:
        typer.echo(
            f"无审计记录：账号 {actor!r} 在审计日志中没有记录 "
            f"account {actor!r} has no entries in the audit log",
            err=True,
        )
        return
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


def register(app: typer.Typer) -> None:
    """Add ``audit``."""
    app.command("audit")(audit)
