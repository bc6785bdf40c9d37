"""``gridward plans``: show, commit or discard a draft grid plan (database mode)."""

from __future__ import annotations

import typer

plans_app = typer.Typer(help="Grid plans 网格方案: show, commit, discard.", no_args_is_help=True)

# a plan's status and a grid's flag (its part before ":") in the planners' words
_FLAG_ZH = {
    "under_min": "户数不足",
    "over_max": "户数超出",
    "multipart": "多块",
    "disconnected": "不连通",
}


def _flags_zh(flags: list[str]) -> str:
    """A grid's flags in Chinese ("达标" for none), to stand before the flag names."""
    if not flags:
        return "达标"
    return "、".join(dict.fromkeys(_FLAG_ZH.get(f.split(":")[0], f) for f in flags))


@plans_app.command("show")
def show(plan_id: int = typer.Argument(..., help="plan id")) -> None:
    """Print a plan's grids and households. 查看方案"""
    from geo.db import get_engine
    from geo.plans import STATUS_ZH, get_plan

    plan = get_plan(get_engine(), plan_id)
    status, community = plan["status"], plan["community"]
    typer.echo(
        f"社区 {community} 的方案 {plan_id}（{STATUS_ZH.get(status, status)}） "
        f"plan {plan_id} ({status}) for community {community}"
    )
    for f in plan["features"]["features"]:
        p = f["properties"]
        flags = ", ".join(p.get("flags") or []) or "ok"
        flags_zh, hh = _flags_zh(p.get("flags") or []), p["households"]
        typer.echo(f"  {p['code']}  {hh:>6} 户（{flags_zh}）  {hh} households  {flags}")


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
    typer.echo(
        f"已提交方案 {plan_id}：第 {out['version']} 版，{out['grids']} 个网格 "
        f"committed plan {plan_id}: version {out['version']}, {out['grids']} grids"
    )
    _echo_commit(out)


def _fate(r: dict) -> str:
    """What a plan commit did to a duty it did not carry, in words that match it: an ended
    duty keeps its history, a removed one never took effect; "planned" only for a later
    start (tester Y, NEW-6: a duty started today was listed as "ended" and counted "planned")."""
    if "last_day" in r:
        return f"已结束，最后一天为 {r['last_day']} ended, last day {r['last_day']}"
    if r.get("planned"):
        return f"已删除（原计划 {r['valid_from']} 开始） removed (planned from {r['valid_from']})"
    return (
        f"已删除（{r['valid_from']} 开始，从未生效） "
        f"removed (started {r['valid_from']}, never in force)"
    )


def _echo_commit(out: dict) -> None:
    """What a commit did to the grid duties and what staffing is left to do, so a planner
    sees that a code now names another place and which grids to staff (tester W, F1)."""
    from geo.assign.people import ROLES

    d = out["duties"]
    typer.echo(
        f"网格职责：{d['carried']} 项随辖区转入现管其原网格住户的网格"
        "（原网格昨日结束，新网格今日开始），"
        f"{d['ended']} 项昨日结束，{d['removed']} 项从未生效、已删除 "
        f"grid duties: {d['carried']} carried to the grid now holding their old grid's "
        f"households (ended yesterday there, started today here), "
        f"{d['ended']} ended yesterday, {d['removed']} never in force removed"
    )
    moved = {o: n for o, n in out["successors"].items() if o != n}
    for old, new in moved.items():
        typer.echo(f"  {old} → {new}  原网格的大部分住户现属 {new} (most of its households)")
    for r in out["duties_ended"] + out["duties_removed"]:
        role = ROLES.get(r["role"], r["role"])
        typer.echo(f"  {r['grid']}  {role} {r['role']}  {r['person']} {r['name']}  {_fate(r)}")
    if out["grids_in_pieces"]:
        pieces = ", ".join(out["grids_in_pieces"])
        typer.echo(f"不连通的网格（{pieces}） grids in several pieces: {pieces}")
    gaps = out["staffing_gaps"]
    if gaps:
        command = f"'gridward assign grids --area {out['community']}'"
        typer.echo(
            f"{len(gaps)} 个网格人手不足：请运行 {command} 安排网格长和专职网格员 "
            f"grids short of staff ({len(gaps)}): run {command}"
        )
    for g in gaps:
        leader, leader_zh = ("", "") if g["leader"] else ("  no leader", "，无网格长")
        staffed = f"{g['workers']}/{g['workers_needed']}"
        typer.echo(
            f"  {g['grid']}  {g['households']} 户（专职网格员 {staffed}{leader_zh}）  "
            f"{g['households']} households  workers {staffed}{leader}"
        )


@plans_app.command("discard")
def discard(plan_id: int = typer.Argument(..., help="plan id")) -> None:
    """Discard a draft. 放弃方案"""
    from geo.db import get_engine
    from geo.plans import discard_plan

    discard_plan(get_engine(), plan_id, actor="cli")
    typer.echo(f"方案 {plan_id} 已放弃 discarded plan {plan_id}")


def register(app: typer.Typer) -> None:
    """Add the ``plans`` group."""
    app.add_typer(plans_app, name="plans")
