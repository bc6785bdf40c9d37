"""``gridward audit``: the audit log (who changed which grid, duty, plan, track or account) as
a plain table, for admins. WHY: it was written on every change and readable only by SQL."""

from __future__ import annotations

import json

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
    from geo.audit import check_filters, search, target_labels
    from geo.db import get_engine
    from geo.settings import get_settings

    tz = ZoneInfo(get_settings().timezone)
    start = None
    if since is not None:
        start = dt.datetime.combine(cli_day(since, "--since"), dt.time(), tz)
    with get_engine().connect() as conn:
        rows = search(conn, start, actor, action, limit)
        if not rows and (said := check_filters(conn, actor, action)):
            typer.echo(said, err=True)
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


def register(app: typer.Typer) -> None:
    """Add ``audit``."""
    app.command("audit")(audit)
