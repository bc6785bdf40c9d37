"""``gridward tracks delete`` / ``tracks restore``: withdraw a track uploaded by mistake, or
bring back one withdrawn by mistake (rules and effects in :mod:`geo.track_withdraw`).

Kept apart from :mod:`api.cli_tracks` (file mode, no database) and :mod:`api.cli_patrol`
(uploads and reports); the commands join the same ``tracks`` group.
"""

from __future__ import annotations

from typing import Any

import typer

from api.cli_tracks import tracks_app

ID_HELP = "轨迹编号 the track's id, as tracks upload printed it (GET /tracks lists them)"
REASON_HELP = "原因 why (kept in the audit log; at most 500 characters)"


@tracks_app.command("delete")
def delete(
    track: str = typer.Argument(..., metavar="ID", help=ID_HELP, show_default=False),
    reason: str = typer.Option(None, "--reason", help=REASON_HELP),
) -> None:
    """撤回轨迹 Withdraw a track uploaded by mistake: its credit leaves every report.

    A wrong file, someone else's walk, a test walk. Its patrol visits and fixes are deleted
    in one transaction; the uploaded file and the withdrawal stay on record (audit log), and
    the same file sent again is refused. `tracks restore ID` undoes it."""
    from geo.db import get_engine
    from geo.duty_undo import parse_reason
    from geo.track_withdraw import parse_track_id, withdraw_track

    track_id, why = parse_track_id(track), parse_reason(reason)  # bad input before connecting
    out = withdraw_track(get_engine(), track_id, why, actor="cli")
    typer.echo(_withdrawn_line(out))


@tracks_app.command("restore")
def restore(
    track: str = typer.Argument(..., metavar="ID", help=ID_HELP, show_default=False),
    reason: str = typer.Option(None, "--reason", help=REASON_HELP),
) -> None:
    """恢复撤回的轨迹 Restore a track withdrawn by mistake: stored and matched again."""
    from geo.db import get_engine
    from geo.duty_undo import parse_reason
    from geo.track_withdraw import STATUS_ZH, parse_track_id, restore_track

    track_id, why = parse_track_id(track), parse_reason(reason)
    out = restore_track(get_engine(), track_id, why, actor="cli")
    zh = f"轨迹 {track_id} 已恢复（{STATUS_ZH.get(out['status'], out['status'])}）"
    line = f"track {track_id} restored: {out['status']}"
    if out["status"] == "matched":
        m = out["match"]
        zh += f"，{m['segments']} 次路段巡查、{m['walked_m']:,.0f} 米重新计入"
        line += f", {m['segments']} segment visits, {m['walked_m']:,.0f} m credited again"
    elif out["status"] == "failed":
        zh += "，原因见后"
        line += f" ({out['match_error']})"
    typer.echo(f"{zh} {line}")


def _withdrawn_line(out: dict[str, Any]) -> str:
    """One line: which track and file, whose walk on which days, the credit taken away."""
    whose = f"person {out['person'] or out['person_id']}" if out["person_id"] else "nobody"
    whose_zh = f"人员 {out['person'] or out['person_id']}" if out["person_id"] else "未指定人员"
    days = ", ".join(out["days"]) or "no days"
    days_zh = "、".join(out["days"]) or "无日期"
    name = out["filename"] or "no file name"
    name_zh = out["filename"] or "无文件名"
    zh = (
        f"轨迹 {out['track_id']} 已撤回（{name_zh}，{whose_zh}，{days_zh}）：{out['visits']} 次"
        f"路段巡查、{out['walked_m']:,.0f} 米不再计入"
    )
    line = (
        f"track {out['track_id']} withdrawn ({name}, "
        f"{whose}, {days}): {out['visits']} segment visits, {out['walked_m']:,.0f} m no longer "
        "credited"
    )
    if out["dequeued"]:
        zh += "；已移出匹配队列"
        line += "; taken out of the match queue"
    return f"{zh} {line}"


def register(app: typer.Typer) -> None:
    """Nothing of its own: the commands above join ``tracks`` (added by api.cli_tracks)."""
    del app
