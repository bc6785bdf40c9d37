"""``gridward audit``: the audit log (who changed which grid, duty, plan, track or account) as
a plain table, for admins. WHY: it was written on every change and readable only by SQL."""

from __future__ import annotations

import json

import typer

DETAIL_CHARS = 160  # a staffing commit's detail runs to kilobytes: one line stays one line


def audit(
    since: str = typer.Option(None, "--since", help="from this local day on (YYYY-MM-DD)"),
    actor: str = typer.Option(None, "--actor", help="only this account (or 'cli')"),
    action: str = typer.Option(
        None, "--action", help="only this action; 'track' also finds track.upload, track.withdraw …"
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="newest N entries"),
) -> None:
    """List the audit log, newest first (审计日志): time, who, what, on which target."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from geo.audit import search
    from geo.db import get_engine
    from geo.errors import InputError
    from geo.settings import get_settings

    tz = ZoneInfo(get_settings().timezone)
    start = None
    if since is not None:
        try:
            start = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(), tz)
        except ValueError:
            raise InputError(f"--since '{since}' is not a date (YYYY-MM-DD)") from None
    with get_engine().connect() as conn:
        rows = search(conn, start, actor, action, limit)
    typer.echo(f"编号 id\t时间 at ({tz.key})\t操作者 actor\t操作 action\t对象 target\t详情 detail")
    for r in rows:
        target = f"{r['target_type']} {r['target_id'] or ''}".strip() if r["target_type"] else "-"
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
