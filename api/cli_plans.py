"""``gridward plans``: list plans, show, commit or discard a draft, a community's grid
versions and a revert to one of them (database mode)."""

from __future__ import annotations

import typer

plans_app = typer.Typer(
    help="网格方案：列出、查看、提交、放弃、历史版本、恢复旧版 "
    "Grid plans: list, show, commit, discard, history, revert.",
    no_args_is_help=True,
)

# a plan's status and a grid's flag (its part before ":") in the planners' words
_FLAG_ZH = {
    "under_min": "户数不足",
    "over_max": "户数超出",
    "multipart": "多块",
    "disconnected": "不连通",
    "elongated": "狭长",
}


def _flags_zh(flags: list[str], pp: float | None = None) -> str:
    """A grid's flags in Chinese ("达标" for none), to stand before the flag names; a flag's
    reason too ("户数超出：单栋楼超上限，无法拆分" for over_max:single_building). WHY the
    reason (T39 L7): only the flag name after the Chinese said why no edit helps that grid.
    ``pp``: the grid's Polsby–Popper compactness, said with ``elongated`` (狭长：紧凑度 0.087)."""
    from api.cli_partition import FLAG_ZH as REASON_ZH

    if not flags:
        return "达标"
    words = []
    for f in flags:
        kind, _, reason = f.partition(":")
        zh = _FLAG_ZH.get(kind, f)
        if kind == "elongated" and pp is not None:  # its compactness, as the flag is given
            zh = f"{zh}：紧凑度 {pp:.3f}"
        words.append(f"{zh}：{REASON_ZH[reason]}" if reason in REASON_ZH else zh)
    # a reason holds a comma: flags then part with a semicolon
    return ("；" if any("：" in w for w in words) else "、").join(dict.fromkeys(words))


@plans_app.command("show")
def show(plan_id: int = typer.Argument(..., help="方案编号 plan id")) -> None:
    """查看方案 Print a plan's grids and households."""
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
        pp = p.get("polsby_popper")
        flags = ", ".join(
            f"elongated (Polsby–Popper {pp:.3f})" if f == "elongated" and pp is not None else f
            for f in p.get("flags") or []
        )
        flags_zh, hh = _flags_zh(p.get("flags") or [], pp), p["households"]
        flags = flags or "ok"
        typer.echo(f"  {p['code']}  {hh:>6} 户（{flags_zh}）  {hh} households  {flags}")
    if plan["outdated"]:  # the counts above are the saved ones (T63 #1)
        typer.echo(
            f"注意：方案 {plan_id} 保存后社区 {community} 的楼栋、户数或街巷有变动，"
            "以上为保存时的户数；须在网格编辑器中打开并重新保存"
            f"（/maps/editor?plan={plan_id}）后才能提交 "
            f"note: community {community}'s buildings, households or streets changed since plan "
            f"{plan_id} was saved; the counts above are as saved. Open it in the grid editor "
            f"(/maps/editor?plan={plan_id}) and save it again before committing"
        )


@plans_app.command("commit")
def commit(
    plan_id: int = typer.Argument(..., help="方案编号 plan id"),
    allow_disconnected: bool = typer.Option(
        False,
        "--allow-disconnected",
        help="允许提交不连通的网格 commit even though a grid is in several pieces",
    ),
) -> None:
    """提交方案 Make a draft the community's grids (new version; history kept)."""
    from geo.db import get_engine
    from geo.plans import commit_plan

    out = commit_plan(get_engine(), plan_id, actor="cli", allow_disconnected=allow_disconnected)
    typer.echo(
        f"已提交方案 {plan_id}：第 {out['version']} 版，{out['grids']} 个网格 "
        f"committed plan {plan_id}: version {out['version']}, {out['grids']} "
        f"grid{'' if out['grids'] == 1 else 's'}"  # not "1 grids" (T48 #7)
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
    if d.get("continued"):  # T49 #3: a grid of the same code and buildings keeps its staff
        typer.echo(
            f"网格职责：{d['continued']} 项所在网格的编码和楼栋未变，照常继续（未结束） "
            f"grid duties: {d['continued']} continue unchanged (their grid kept its code "
            "and buildings)"
        )
    for g in out.get("outlines_redrawn", []):
        typer.echo(
            f"  {g['grid']}  楼栋未变，轮廓重新绘制，变动 {g['m2']:,.1f} 平方米 "
            f"same buildings, outline redrawn: {g['m2']:,.1f} m² changed"
        )
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
            f"{len(gaps)} 个缺员网格：请运行 {command} 安排网格长和专职网格员 "
            f"short-staffed grids ({len(gaps)}): run {command}"
        )
    for g in gaps:
        leader, leader_zh = ("", "") if g["leader"] else ("  no leader", "，无网格长")
        staffed = f"{g['workers']}/{g['workers_needed']}"
        typer.echo(
            f"  {g['grid']}  {g['households']} 户（专职网格员 {staffed}{leader_zh}）  "
            f"{g['households']} households  workers {staffed}{leader}"
        )
    _echo_surplus(out, bool(gaps))


def _echo_surplus(out: dict, short: bool) -> None:
    """The grids left with more staff than their households need, beside the short ones, and,
    for a revert, that staff are re-derived, not restored. WHY (T43 #8): after a merge and a
    revert one grid held 1 leader and 11 workers for 500 households while its neighbour had
    none; the commit named only the short grid, and nothing said the old staffing does not
    come back."""
    surplus, reverted = out["staffing_surplus"], out["reverted_from"]
    area = out["community"]
    if reverted is not None:
        typer.echo(
            f"此方案恢复的是第 {reverted} 版的网格，不恢复当时的人员：网格职责与任何提交一样按住户"
            "转入现管其原网格住户的网格（见上），第 "
            f"{reverted} 版当时的网格长和网格员安排不会还原，请按下列网格调整 "
            f"this plan brings back the grids of version {reverted}, not their staff: grid "
            "duties were carried, as on any commit, to the grid now holding their old grid's "
            f"households (above); the staffing of version {reverted} is not restored: adjust "
            "the grids listed"
        )
    if not surplus:
        return
    command = f"'gridward assign grids --area {area} --rebalance --dry-run'"
    move_zh = "调往缺员网格" if short else "调往需要的网格"
    move = "to the short-staffed grids" if short else "where they are needed"
    typer.echo(
        f"{len(surplus)} 个网格人员富余：可用 {command} 查看重新分配全社区网格人员、把富余人员"
        f"{move_zh}的方案（确认后去掉 --dry-run 提交） "
        f"grids with more staff than their households need ({len(surplus)}): {command} shows "
        f"how reassigning the community's grid staff moves them {move} (then run it without "
        "--dry-run)"
    )
    for g in surplus:
        hh, w, need, n_lead = g["households"], g["workers"], g["workers_needed"], g["leaders"]
        lead_zh = f"，网格长 {n_lead} 名，只需 1 名" if n_lead > 1 else f"，另有网格长 {n_lead} 名"
        lead = f", {n_lead} leaders where 1 is" if n_lead > 1 else f", and {n_lead} leader"
        if n_lead == 0:
            lead_zh, lead = "，无网格长", ", no leader"
        typer.echo(
            f"  {g['grid']}  {hh} 户：专职网格员 {w} 名，按户数只需 {need} 名{lead_zh}  "
            f"{hh} households: {w} full-time workers where {need} are needed{lead}"
        )


@plans_app.command("discard")
def discard(plan_id: int = typer.Argument(..., help="方案编号 plan id")) -> None:
    """放弃方案 Discard a draft."""
    from geo.db import get_engine
    from geo.plans import discard_plan

    discard_plan(get_engine(), plan_id, actor="cli")
    typer.echo(f"方案 {plan_id} 已放弃 discarded plan {plan_id}")


def _when(iso: str | None) -> str:
    """``2026-11-25T10:03:00+08:00`` → ``2026-11-25 10:03`` (the city's time), ``-`` for none."""
    return iso[:16].replace("T", " ") if iso else "-"


def _echo_json(data: object) -> None:
    import json

    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@plans_app.command("list")
def list_(
    community: str = typer.Option(None, "--community", help="社区编码 only this community"),
    status: str = typer.Option(
        None, "--status", help="只列此状态 only this status: draft, committed, discarded"
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="最新 N 个 newest N"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 print JSON"),
) -> None:
    """列出网格方案（最新在前） List grid plans, newest first: who made them, when, grids."""
    from geo.db import get_engine
    from geo.plan_history import SOURCE_ZH, list_plans
    from geo.plans import STATUS_ZH
    from geo.settings import get_settings

    plans = list_plans(get_engine(), community, status, limit)
    if as_json:
        _echo_json(plans)
        return
    tz = get_settings().timezone
    typer.echo(
        f"方案 plan\t社区 community\t状态 status\t来源 source\t创建者 by\t创建于 created ({tz})\t"
        "提交者 committed by\t提交于 committed\t版本 version\t网格 grids\t每格户数 households"
    )
    for p in plans:
        st = p["status"]
        shown = f"{STATUS_ZH.get(st, st)} {st}"
        if p["stale"]:
            shown = f"{STATUS_ZH[st]}（已过时） {st} (stale)"
        elif p["outdated"]:  # T63 #1: its commit is refused until saved again
            shown = f"{STATUS_ZH[st]}（数据已变动，须重新保存） {st} (data changed: save it again)"
        version = "-"
        if p["version"] is not None:
            version = f"{p['version']}（现行 current）" if p["current"] else str(p["version"])
        src = p["source"]
        hh = "-"
        if p["grids"]:
            hh = f"{p['households_min']}–{p['households_max']}"
        typer.echo(
            f"{p['plan_id']}\t{p['community']} {p['community_name'] or ''}".rstrip()
            + f"\t{shown}\t{SOURCE_ZH.get(src, src)} {src}\t{p['created_by'] or '-'}\t"
            f"{_when(p['created_at'])}\t{p['committed_by'] or '-'}\t{_when(p['committed_at'])}\t"
            f"{version}\t{p['grids']}\t{hh}"
        )
    if not plans:
        typer.echo("没有符合条件的方案 no plans match", err=True)


@plans_app.command("history")
def history(
    community: str = typer.Argument(..., help="社区编码 community code"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 print JSON"),
    crosswalk: bool = typer.Option(
        False,
        "--crosswalk",
        help="新旧网格编码对照（相邻两版之间，按共有楼栋） old code → new code between "
        "consecutive versions, by shared buildings",
    ),
    out_file: str | None = typer.Option(
        None,
        "--out",
        help="对照表写入 .csv 或 .xlsx 文件（中文表头，编码为文本） write the crosswalk to this "
        ".csv or .xlsx file (Chinese-first headers, codes as text)",
    ),
) -> None:
    """社区的网格历史版本（最新在前） A community's committed grid versions, newest first.

    网格编码按位置编号，重新划分后同一编码可能指另一处：
    用 --crosswalk 查看各版之间的新旧编码对照。
    Codes are positional: after a re-partition a code may name another place;
    --crosswalk lists old code → new code between versions.
    """
    from geo.db import get_engine
    from geo.plan_history import grid_versions
    from geo.settings import get_settings

    if crosswalk or out_file:
        _echo_crosswalk(community, as_json, out_file)
        return
    out = grid_versions(get_engine(), community)
    if as_json:
        _echo_json(out)
        return
    tz = get_settings().timezone
    typer.echo(
        f"版本 version\t方案 plan\t提交于 committed ({tz})\t提交者 by\t网格 grids\t"
        "户数 households\t状态 state"
    )
    for v in out["versions"]:
        state = "现行 current" if v["current"] else f"已替换 replaced {_when(v['replaced_at'])}"
        typer.echo(
            f"{v['version']}\t{v['plan_id'] if v['plan_id'] is not None else '-'}\t"
            f"{_when(v['committed_at'])}\t{v['committed_by'] or '-'}\t{v['grids']}\t"
            f"{v['households']}\t{state}"
        )
    if not out["versions"]:
        typer.echo(
            f"社区 {community} 尚无已提交的网格版本 community {community} has no committed "
            "grid version yet",
            err=True,
        )


def _echo_crosswalk(community: str, as_json: bool, out_file: str | None) -> None:
    """The crosswalk of ``plans history --crosswalk``: CSV to stdout, or JSON (T49 #8); with
    ``out_file`` a .csv (UTF-8 with BOM) or .xlsx as the roster's (:func:`export_crosswalk`)."""
    import csv
    import io
    from pathlib import Path

    from geo.db import get_engine
    from geo.plan_history import CROSSWALK_COLUMNS, crosswalk, export_crosswalk

    rows = crosswalk(get_engine(), community)
    if as_json and not out_file:
        _echo_json(rows)
        return
    if out_file:  # a file for Excel: Chinese-first headers, codes as text (T51 #10)
        path = export_crosswalk(rows, Path(out_file))
    else:  # stdout stays the plain CSV scripts read
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CROSSWALK_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "new_code": r["new_code"] or "", "successor": int(r["successor"])})
        typer.echo(buf.getvalue(), nl=False)
        return
    pairs = len({(r["old_version"], r["new_version"]) for r in rows})
    typer.echo(
        f"已写入社区 {community} 的新旧网格编码对照：{len(rows)} 行（{pairs} 次提交）→ {path} "
        f"wrote the grid code crosswalk of community {community}: {len(rows)} row(s) "
        f"({pairs} commit(s)) → {path}"
    )


@plans_app.command("revert")
def revert(
    community: str = typer.Argument(..., help="社区编码 community code"),
    version: int = typer.Option(..., "--version", min=1, help="恢复到第 N 版 the version"),
    min_households: int = typer.Option(
        None, "--min-households", help="户数下限（默认取该版方案的） default: that version's"
    ),
    max_households: int = typer.Option(
        None, "--max-households", help="户数上限（默认取该版方案的） default: that version's"
    ),
) -> None:
    """按旧版网格生成新草案 A new draft from an earlier grid version (review, then commit)."""
    from geo.db import get_engine
    from geo.plan_history import revert_plan
    from geo.plans import CLI_BOUND_NAMES

    out = revert_plan(
        get_engine(),
        community,
        version,
        "cli",
        min_households,
        max_households,
        names=CLI_BOUND_NAMES,  # its own options, not the API's fields (T39 L8)
    )
    pid, n = out["plan_id"], len(out["grids"])
    lo, hi = out["bounds"]
    typer.echo(
        f"已按社区 {community} 第 {version} 版网格生成草案 {pid}（{n} 个网格，户数 {lo}–{hi}）："
        f"请用 gridward plans show {pid} 或在 /maps/editor?community={community}&plan={pid} "
        f"查看，确认后用 gridward plans commit {pid} 提交 "
        f"made draft plan {pid} from grid version {version} of community {community} "
        f"({n} grids, households {lo}–{hi}): review it with gridward plans show {pid} or in "
        f"the grid editor at /maps/editor?community={community}&plan={pid}, then commit it "
        f"(gridward plans commit {pid})"
    )
    # T43 #8: the version's grids come back, not its staff
    typer.echo(
        f"  提交后网格职责按住户转入新网格（与任何提交一样），不恢复第 {version} 版当时的人员安排 "
        f"on commit, grid duties follow their households as on any commit: the staffing of "
        f"version {version} is not restored"
    )
    shape = out["outlines"]
    if shape["why"]:  # T49 #3: say when the version's outlines could not come back
        typer.echo(f"  {shape['why']}")
    if shape["kept"]:  # T70 #4: some may come back when others could not
        typer.echo(
            f"  {len(shape['kept'])} 个网格恢复第 {version} 版保存的轮廓，"
            f"{len(shape['redrawn'])} 个按楼栋重新绘制 {len(shape['kept'])} grid(s) get "
            f"version {version}'s stored outline back, {len(shape['redrawn'])} redrawn from "
            "their buildings"
        )
    for b in out["buildings_added"]:
        if b["how"] == "inside":
            typer.echo(
                f"  新增楼栋 {b['building']} → {b['grid']}（位于该网格内） "
                f"building {b['building']} added since → {b['grid']} (lies in it)"
            )
        else:
            typer.echo(
                f"  新增楼栋 {b['building']} → {b['grid']}（不在该版任何网格内，归入最近的网格，"
                f"请核对） building {b['building']} added since → {b['grid']} (in no grid of "
                "that version: put in the nearest, check it)"
            )
    if out["buildings_gone"]:
        gone = ", ".join(map(str, out["buildings_gone"][:20]))
        more = " …" if len(out["buildings_gone"]) > 20 else ""
        typer.echo(
            f"  已不存在的楼栋 {len(out['buildings_gone'])} 栋（{gone}{more}），不在草案中 "
            f"{len(out['buildings_gone'])} building(s) gone since, left out: {gone}{more}"
        )
    if out["grids_dropped"]:
        dropped = ", ".join(out["grids_dropped"])
        typer.echo(
            f"  网格 {dropped} 已无楼栋，未列入草案 grid(s) with no building left, "
            f"dropped: {dropped}"
        )
    flagged = [g for g in out["grids"] if g["flags"]]
    for g in flagged:
        flags = ", ".join(g["flags"])
        typer.echo(
            f"  {g['code']}  {g['households']} 户（{_flags_zh(g['flags'])}）  "
            f"{g['households']} households  {flags}"
        )


@plans_app.command("import")
def import_file(
    file: str = typer.Argument(..., help="网格文件 grids file (GeoJSON, GPKG, Shapefile, KML)"),
    community: str = typer.Option(..., "--community", help="社区编码 community code"),
    crs: str | None = typer.Option(
        None, "--crs", help="坐标系 CRS of a file without one (e.g. gcj02, EPSG:4548)"
    ),
    min_households: int = typer.Option(
        None, "--min-households", help="户数下限（默认取现行网格的） default: the current grids'"
    ),
    max_households: int = typer.Option(
        None, "--max-households", help="户数上限（默认取现行网格的） default: the current grids'"
    ),
) -> None:
    """网格文件导入为草案 A draft plan from a grids file edited in QGIS (or any polygons).

    每栋楼归入覆盖其大部分占地的多边形；
    有楼栋大半不在任何多边形内（缝隙）则拒绝导入，不保存任何内容。
    楼栋未变的网格保留现行轮廓，其余网格轮廓按各网格的楼栋沿街巷重新绘制：
    只移动边界而没有移动任何楼栋，不会改变网格。
    与未提交的草案相同则不另存，给出该草案。

    Each building goes to the polygon covering most of its footprint; a
    building mostly outside every polygon (a gap) refuses the file, and
    nothing is stored. A grid holding the same buildings keeps its current
    outline; the others are redrawn from each grid's buildings along the
    streets: a boundary moved without moving any building changes nothing.
    Only level-1 rows of the community are read; the file's code column
    names the grids (other rows are new grids). A file repeating an open
    draft stores none: that draft is given.
    """
    from pathlib import Path

    from geo.db import get_engine
    from geo.grid_file_import import import_grid_file
    from geo.plans import CLI_BOUND_NAMES

    out = import_grid_file(
        get_engine(),
        file,
        community,
        min_households,
        max_households,
        crs=crs,
        created_by="cli",
        names=CLI_BOUND_NAMES,  # its own options, not the API's fields (T39 L8)
    )
    for w in out["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    if "plan_id" not in out:  # the current grids: no draft stored, exit 0 (T51 #8)
        typer.echo(out["message"])
        return
    pid, n, name = out["plan_id"], len(out["grids"]), Path(file).name
    lo, hi = out["bounds"]
    now, moved = out["base_version"], out["moved_buildings"]
    if out.get("existing"):  # T70 #13: the same file again: the open draft, not another
        typer.echo(
            f"文件 {name} 的网格与社区 {community} 未提交的草案 {pid} 相同（{n} 个网格，户数 "
            f"{lo}–{hi}，同一现行版本和数据），未另存 the grids of {name} are those of open "
            f"draft plan {pid} of community {community} ({n} grids, households {lo}–{hi}, "
            "the same current version and data): not saved again"
        )
    else:
        typer.echo(
            f"已按文件 {name} 为社区 {community} 生成草案 {pid}（{n} 个网格，户数 {lo}–{hi}） "
            f"made draft plan {pid} for community {community} from {name} ({n} grids, "
            f"households {lo}–{hi})"
        )
    if out["unchanged"]:
        typer.echo(
            f"  草案与现行第 {now} 版网格相同（每个网格的楼栋都未变），无需提交，可用 "
            f"gridward plans discard {pid} 放弃 the draft is the same as the current grids "
            f"(version {now}: no building changes grid): nothing to commit; discard it with "
            f"gridward plans discard {pid}"
        )
    elif now:
        typer.echo(
            f"  与现行第 {now} 版网格相比，{moved} 栋楼改变了所属网格 "
            f"{moved} building(s) change grid from the current grids (version {now})"
        )
    typer.echo(f"  {out['note']}")
    _echo_outlines(out.get("outlines"), now)
    for row, new, g in zip(out["rows"], out["new_grids"], out["grids"], strict=True):
        hh, nb, flags, code = g["households"], g["building_count"], g["flags"], g["code"]
        head_zh, head = (
            (f"第 {row} 行 → {code}（新网格）", f"row {row} → {code}") if new else (code, code)
        )
        typer.echo(
            f"  {head_zh}  {hh} 户 {nb} 栋（{_flags_zh(flags)}）  "
            f"{head}  {hh} households {nb} buildings  {', '.join(flags) or 'ok'}"
        )
    editor = f"/maps/editor?community={community}&plan={pid}"
    typer.echo(
        f"请用 gridward plans show {pid} 或在网格编辑器 {editor} 查看，确认后用 "
        f"gridward plans commit {pid} 提交（或 gridward plans discard {pid} 放弃） "
        f"review it with gridward plans show {pid} or in the grid editor at {editor}, then "
        f"gridward plans commit {pid} (or gridward plans discard {pid})"
    )


def _echo_outlines(shape: dict | None, version: int) -> None:
    """Which grids of an imported draft kept their current outline and which were redrawn
    from their buildings, and why an unchanged grid's could not be kept. WHY (T70 #4): the
    import printed only the note that outlines are redrawn, and not that every one of them
    had been, nor why (README: "… and the answer says why"). None: a draft answered again,
    its outlines told when it was saved."""
    if not shape or not version:
        return
    kept, redrawn = shape["kept"], shape["redrawn"]
    listed = ", ".join(redrawn[:10]) + (" …" if len(redrawn) > 10 else "")
    typer.echo(
        f"  轮廓：{len(kept)} 个网格保留现行第 {version} 版的轮廓，{len(redrawn)} 个按楼栋重新绘制"
        + (f"（{listed}）" if redrawn else "")
        + f" outlines: {len(kept)} grid(s) keep their outline of version {version}, "
        f"{len(redrawn)} redrawn from their buildings" + (f" ({listed})" if redrawn else "")
    )
    if shape["why"]:
        typer.echo(f"  {shape['why']}")


def register(app: typer.Typer) -> None:
    """Add the ``plans`` group."""
    app.add_typer(plans_app, name="plans")
