"""``gridward plans``: show, commit or discard a draft grid plan (database mode)."""

from __future__ import annotations

import typer

plans_app = typer.Typer(help="Grid plans 网格方案: show, commit, discard.", no_args_is_help=True)


@plans_app.command("show")
def show(plan_id: int = typer.Argument(..., help="plan id")) -> None:
    """Print a plan's grids and households. 查看方案"""
    from geo.db import get_engine
    from geo.plans import get_plan

    plan = get_plan(get_engine(), plan_id)
    typer.echo(f"plan {plan_id} ({plan['status']}) for community {plan['community']}")
    for f in plan["features"]["features"]:
        p = f["properties"]
        flags = ", ".join(p.get("flags") or []) or "ok"
        typer.echo(f"  {p['code']}  {p['households']:>6} households  {flags}")


@plans_app.command("commit")
def commit(
    plan_id: int = typer.Argument(..., help="plan id"),
    allow_disconnected: bool = typer.Option(
        False,
        "--allow-disconnected",
        help="commit even though a grid is in several pieces 允许提交不连通的网格",
    ),
) -> None:
    """Make a draft the community's grids (new version; history kept). 提交方案"""
    from geo.db import get_engine
    from geo.plans import commit_plan

    out = commit_plan(get_engine(), plan_id, actor="cli", allow_disconnected=allow_disconnected)
    typer.echo(f"committed plan {plan_id}: version {out['version']}, {out['grids']} grids")
    _echo_commit(out)


def _fate(r: dict) -> str:
    """What a plan commit did to a duty it did not carry, in words that match it: an ended
    duty keeps its history, a removed one never took effect; "planned" only for a later
    start (tester Y, NEW-6: a duty started today was listed as "ended" and counted "planned")."""
    if "last_day" in r:
        return f"结束 ended, last day {r['last_day']}"
    if r.get("planned"):
        return f"已删除 removed (计划中 planned from {r['valid_from']})"
    return f"已删除 removed (今日开始，未生效 started {r['valid_from']}, never in force)"


def _echo_commit(out: dict) -> None:
    """What a commit did to the grid duties and what staffing is left to do, so a planner
    sees that a code now names another place and which grids to staff (tester W, F1)."""
    d = out["duties"]
    typer.echo(
        f"grid duties 网格职责: {d['carried']} carried to the grid now holding their old grid's "
        f"households 随辖区转入新网格 (ended yesterday there, started today here), "
        f"{d['ended']} ended yesterday 昨日结束, {d['removed']} never in force removed 未生效已删除"
    )
    moved = {o: n for o, n in out["successors"].items() if o != n}
    for old, new in moved.items():
        typer.echo(f"  {old} → {new}  (原网格的大部分住户现属 {new} most of its households)")
    for r in out["duties_ended"] + out["duties_removed"]:
        typer.echo(f"  {r['grid']}  {r['role']}  {r['person']} {r['name']}  {_fate(r)}")
    if out["grids_in_pieces"]:
        typer.echo(f"不连通网格 grids in several pieces: {', '.join(out['grids_in_pieces'])}")
    gaps = out["staffing_gaps"]
    if gaps:
        typer.echo(
            f"人手不足网格 grids short of staff ({len(gaps)}): 请安排网格长/专职网格员 run "
            f"'gridward assign grids --area {out['community']}'"
        )
    for g in gaps:
        leader = "" if g["leader"] else "  无网格长 no leader"
        typer.echo(
            f"  {g['grid']}  {g['households']} households  workers "
            f"{g['workers']}/{g['workers_needed']}{leader}"
        )


@plans_app.command("discard")
def discard(plan_id: int = typer.Argument(..., help="plan id")) -> None:
    """Discard a draft. 放弃方案"""
    from geo.db import get_engine
    from geo.plans import discard_plan

    discard_plan(get_engine(), plan_id, actor="cli")
    typer.echo(f"discarded plan {plan_id}")


def register(app: typer.Typer) -> None:
    """Add the ``plans`` group."""
    app.add_typer(plans_app, name="plans")
