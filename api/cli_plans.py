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
def commit(plan_id: int = typer.Argument(..., help="plan id")) -> None:
    """Make a draft the community's grids (new version; history kept). 提交方案"""
    from geo.db import get_engine
    from geo.plans import commit_plan

    out = commit_plan(get_engine(), plan_id, actor="cli")
    typer.echo(f"committed plan {plan_id}: version {out['version']}, {out['grids']} grids")
    d = out["duties"]
    typer.echo(
        f"grid duties 网格职责: {d['moved']} kept on their grids, {d['ended']} ended today and "
        f"{d['removed']} planned ones removed (their grids are no longer in the plan)"
    )
    for r in out["duties_ended"] + out["duties_removed"]:
        typer.echo(f"  {r['grid']}  {r['role']}  {r['person']} {r['name']}")


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
