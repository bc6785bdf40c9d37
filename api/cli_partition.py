"""``gridward partition``: divide an area into level-1 grids (划网定格).

File mode: ``--area --buildings [--streets] --out`` (no database needed). Database mode
(``--community CODE``) runs :func:`_partition_database`: a draft plan stored in PostGIS.
Heavy imports stay inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

from geo.errors import InputError


def _partition_database(
    community: str, min_households: int, max_households: int, seed: int = 0, **_: object
) -> None:
    """Database mode: partition a stored community into a draft plan (commit it later)."""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.plans import CLI_BOUND_NAMES, get_plan, make_plan

    engine = get_engine()
    with progress_bar("划分网格 partition") as bar:
        made = make_plan(
            engine,
            community,
            min_households,
            max_households,
            seed=seed,
            created_by="cli",
            progress=bar,
            names=CLI_BOUND_NAMES,  # its own options, not the API's fields (T39 L8)
            repeats=True,  # T70 #13: the same run twice made drafts 6 and 7
        )
    plan_id = made.plan_id
    plan = get_plan(engine, plan_id)
    _print_summary(plan["summary"], None, chinese=True)
    _warn_outside_bounds(plan["summary"], min_households, max_households)
    _warn_elongated(
        [f["properties"] for f in plan["features"]["features"]], plan["summary"]["params"]
    )
    # WHY (T38 L4): "/plans/5" is an API path, which a shell user cannot open
    editor = f"/maps/editor?community={community}&plan={plan_id}"
    if made.existing:
        typer.echo(
            f"与社区 {community} 未提交的草案 {plan_id} 相同（同一现行版本、数据、户数上下限"
            "和随机种子，每个网格的楼栋和轮廓相同），未另存：请用 "
            f"'gridward plans show {plan_id}' 或在网格编辑器 {editor} 查看，然后运行 "
            f"'gridward plans commit {plan_id}' 提交 the same as open draft plan {plan_id} of "
            f"community {community} (the same current version, data, bounds and seed, each "
            "grid the same buildings and outline): not saved again; review it with "
            f"'gridward plans show {plan_id}' or in the grid editor at {editor}, then "
            f"'gridward plans commit {plan_id}'"
        )
        return
    typer.echo(
        f"已为社区 {community} 生成草案 {plan_id}：请用 'gridward plans show {plan_id}' "
        f"或在网格编辑器 {editor} 查看，然后运行 "
        f"'gridward plans commit {plan_id}' 提交（或 'gridward plans discard {plan_id}' 放弃） "
        f"draft plan {plan_id} for community {community}: review it with "
        f"'gridward plans show {plan_id}' or in the grid editor at {editor}, then "
        f"'gridward plans commit {plan_id}' (or 'gridward plans discard {plan_id}')"
    )


def _refuse_file_options(given: dict[str, object]) -> None:
    """InputError (exit 2) naming the file-mode options given with ``--community``. WHY:
    database mode stores a draft and never read or wrote them, so ``--out x.geojson`` exited 0
    with no file written (tester W, F12)."""
    used = [name for name, value in given.items() if value is not None]
    if used:
        names = ", ".join(used)
        raise InputError(
            f"数据库模式（--community）只在数据库中生成草案，不用 {names}：请去掉这些选项，"
            "再用 'gridward plans show PLAN' 或 GET /plans/PLAN 查看草案 "
            f"--community (database mode) makes a draft plan in the "
            f"database and takes no {names}: leave them out, then see the draft with "
            "'gridward plans show PLAN' or GET /plans/PLAN"
        )


# A flag's kind and reason in Chinese, as the editor words them (maps/static/editor.js
# FLAG_LABEL, FLAG_WHY): for plans stored before the engine gave its reasons in Chinese;
# gridward plans says a flag's reason with them too.
FLAG_ZH = {
    "under_min": "不足",
    "over_max": "超出",
    "disconnected": "不连通",
    "multipart": "多块",
    "single_building": "单栋楼超上限，无法拆分",
    "enclosed_block": "独立地块户数不足",
    "area_below_min": "区域总户数不足下限",
    "no_whole_number_of_grids": "户数无法整分",
    "unresolved": "未找到合适划分",
    "elongated": "狭长",
}


def _reasons_cell(item: dict, chinese: bool) -> str:
    """A flagged grid's "原因 Reasons" cell. File mode (``chinese`` False): the flags, then
    the English reasons, as planners' scripts read them. Database mode: each reason in
    Chinese, then in English, then the flags. WHY (T38 L1): database mode's reasons were
    English only (over_max:single_building: one building holds 629 households, …)."""
    flags = ", ".join(item["flags"])
    why = item.get("reasons") or []  # the flag in words (plans made before: none)
    if not chinese:
        return flags + (f": {'; '.join(why)}" if why else "")
    why_zh = item.get("reasons_zh") or []
    if not why_zh or len(why_zh) != len(why):  # stored before reasons_zh: the editor's words
        label = "、".join(dict.fromkeys(FLAG_ZH.get(f.split(":")[-1], f) for f in item["flags"]))
        return f"{label} {'; '.join(why)}（{flags}）".replace(" （", "（")
    return "；".join(f"{zh} {en}" for zh, en in zip(why_zh, why, strict=True)) + f"（{flags}）"


def _print_summary(summary: dict, out: Path | None, chinese: bool = False) -> None:
    """The summary tables (stdout). ``chinese``: database mode's reasons Chinese first;
    file mode's stdout is an interface and stays as it is."""
    from rich.console import Console
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    t = Table(title="网格划分结果 Partition summary")
    t.add_column("指标 Measure")
    t.add_column("数值 Value", justify="right")
    rows = [
        ("网格数 Grids", str(summary["n_grids"])),
        ("楼栋数 Buildings", str(summary["n_buildings"])),
        ("户数合计 Households", str(summary["households_total"])),
        (
            "界内网格 Within bounds",
            f"{summary['n_within_bounds']} ({pct(summary['share_within_bounds'])})",
        ),
        (
            "可行网格界内 Feasible within bounds",
            f"{summary['n_feasible_within_bounds']}/{summary['n_feasible']}"
            f" ({pct(summary['share_feasible_within_bounds'])})",
        ),
        ("不可行 (已标记) Infeasible, flagged", str(summary["n_infeasible"])),
        ("多块网格 Multipart", str(summary["n_multipart"])),
        # a plan stored before the flag (T64 F6) has no count
        ("狭长网格 Elongated", str(summary.get("n_elongated", "-"))),
        ("平均紧凑度 Mean Polsby–Popper", f"{summary['mean_polsby_popper']:.3f}"),
        ("沿街边界占比 Boundary on streets", pct(summary["street_boundary_share"])),
        ("网格长 / 专职网格员 Leaders / workers", f"{summary['leaders']} / {summary['workers']}"),
        ("用时 Runtime", f"{summary['runtime_s']:.2f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console = Console()
    console.print(t)
    if summary.get("communities"):  # an area file of several communities
        c = Table(title="各社区 Communities")
        c.add_column("社区 Community")
        for head in ("网格数 Grids", "楼栋数 Buildings", "户数合计 Households"):
            c.add_column(head, justify="right")
        c.add_column("界内网格 Within bounds", justify="right")
        for item in summary["communities"]:
            c.add_row(
                item["community"],
                str(item["n_grids"]),
                str(item["n_buildings"]),
                str(item["households_total"]),
                f"{item['n_within_bounds']} ({pct(item['share_within_bounds'])})",
            )
        console.print(c)
    if summary["flagged"]:
        f = Table(title="标记网格 Flagged grids")
        f.add_column("编码 Code")
        f.add_column("户数 Households", justify="right")
        f.add_column("原因 Reasons")
        for item in summary["flagged"][:30]:
            f.add_row(item["code"], str(item["households"]), _reasons_cell(item, chinese))
        if len(summary["flagged"]) > 30:
            f.add_row("…", "", f"+{len(summary['flagged']) - 30}")
        console.print(f)
    if out is not None:
        console.print(f"已写入 written: {out}")


def register(app: typer.Typer) -> None:
    """Add the ``partition`` command."""

    @app.command("partition")
    def partition_cmd(
        min_households: int = typer.Option(
            ...,
            "--min-households",
            # WHY the spaces: rich wraps only at spaces and cut the one long Chinese run
            # short with "…" in an 80-column terminal (T38 L16)
            help="最少户数（0 不设下限； 低于上限一半时 划最少网格） "
            "minimum households per grid (0: no lower bound; under half the max: the fewest "
            "grids the max allows)",
        ),
        max_households: int = typer.Option(
            ..., "--max-households", help="最多户数 maximum households per grid"
        ),
        area: Path | None = typer.Option(
            None,
            "--area",
            help="区域文件 area polygon file (GeoJSON…); 多个社区 several features of "
            "different 12-digit 'code': each a community, its grids numbered under its code",
        ),
        buildings: Path | None = typer.Option(
            None,
            "--buildings",
            help="楼栋文件 building polygons with an integer 'households' property",
        ),
        streets: Path | None = typer.Option(
            None, "--streets", help="街巷文件 street lines (optional)"
        ),
        out: Path | None = typer.Option(None, "--out", help="输出文件 output GeoJSON of the grids"),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="随机种子 random seed (same seed, same plan)"
        ),
        code_prefix: str | None = typer.Option(
            None,
            "--code-prefix",
            help="网格编码前缀 12 digits: 6 district + 3 subdistrict + 3 community "
            "(default: the area feature's 'code', else 110108000000; not with several "
            "communities)",
        ),
        households_per_worker: int = typer.Option(
            100,
            "--households-per-worker",
            help="每名网格员户数 staffing ratio: 1 worker per N households",
        ),
        crs: str | None = typer.Option(
            None, "--crs", help="坐标系 CRS of input files without one (e.g. gcj02, EPSG:4548)"
        ),
        community: str | None = typer.Option(
            None,
            "--community",
            help="数据库模式社区编码 database mode: community code (draft plan)",
        ),
    ) -> None:
        """划分网格 Partition an area into level-1 grids of min..max households each."""
        if community is not None:
            _refuse_file_options(
                {"--area": area, "--buildings": buildings, "--streets": streets,
                 "--out": out, "--crs": crs}
            )  # fmt: skip
            _partition_database(
                community,
                min_households=min_households,
                max_households=max_households,
                seed=seed,
            )
            return
        missing = [
            name
            for name, v in (("--area", area), ("--buildings", buildings), ("--out", out))
            if v is None
        ]
        if missing:
            raise InputError(
                f"文件模式缺少 {', '.join(missing)}（或用 --community 按库中社区划分） "
                f"file mode needs {', '.join(missing)} (or --community CODE for database mode)"
            )
        import shapely
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from api.out_files import check_out
        from geo.partition import PartitionParams, partition
        from geo.plans import CLI_BOUND_NAMES, check_bounds

        # WHY (T64 #10): file mode took --max-households 99999999999, which database mode and
        # the API refuse; one rule for the bounds everywhere
        check_bounds(min_households, max_households, CLI_BOUND_NAMES)
        check_out(
            out,
            (".geojson", ".json", ""),
            {"area": area, "buildings": buildings, "streets": streets},
        )
        from geo.partition.communities import partition_communities
        from geo.partition.io import (
            communities_straddle_warning,
            feature_names,
            footprint_check,
            read_areas,
            read_layer,
            straddle_warning,
            streets_warning,
            write_grids,
        )

        err = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,  # a script's stderr: the error: line alone
        ) as bar:
            task = bar.add_task("读取 reading", total=1.0)
            areas = read_areas(area, crs, code_prefix)
            bdf = read_layer(buildings, "buildings", crs)
            overlaps = footprint_check(bdf, buildings)
            sdf = read_layer(streets, "streets", crs) if streets is not None else None
            notes = [*areas.warnings, *bdf.attrs.get("warnings", []), overlaps]
            if sdf is not None:
                notes += sdf.attrs.get("warnings", [])
                # WHY (T64 #2): streets of no use were dropped without a word
                whole = shapely.union_all([g for _, g in areas.communities])
                notes.append(streets_warning(whole, sdf, streets))
            for note in notes:
                if note:
                    typer.echo(f"warning: {note}", err=True)

            def progress(frac: float, msg: str) -> None:
                bar.update(task, completed=frac, description=msg)

            params = PartitionParams(
                min_households=min_households,
                max_households=max_households,
                seed=seed,
                households_per_worker=households_per_worker,
                code_prefix=areas.communities[0][0],
            )
            if len(areas.communities) == 1:
                area_geom = areas.communities[0][1]
                result = partition(
                    area_geom, bdf, sdf, params, progress=progress, name=feature_names(bdf)
                )
                straddling = straddle_warning(area_geom, bdf)
            else:
                several = partition_communities(
                    areas.communities, bdf, sdf, params, progress=progress,
                    name=feature_names(bdf),
                )  # fmt: skip
                result = several.result
                straddling = communities_straddle_warning(several.straddling, bdf)
                if several.empty:
                    empty = ", ".join(several.empty)
                    typer.echo(
                        f"warning: 区域文件中的社区 {empty} 没有楼栋，未划分网格 "
                        f"community {empty} of the area file holds no building: no grids "
                        "made for it",
                        err=True,
                    )
            if straddling:
                typer.echo(f"warning: {straddling}", err=True)
            bar.update(task, description="写出 writing")
            write_grids(result.grids, result.summary, out)
        _print_summary(result.summary, out)
        _warn_outside_bounds(result.summary, min_households, max_households)
        _warn_elongated(result.grids.to_dict("records"), result.summary["params"])


def _warn_outside_bounds(summary: dict, lo: int, hi: int) -> None:
    """``warning:`` lines on stderr for the grids the summary does not count as within
    bounds (exit stays 0: the file is written whole, each such grid flagged with why): one
    for those whose households are outside ``lo``–``hi``, one for those in several parts
    (``multipart``: not counted as within bounds whatever their households). WHY: an outside
    tester's script read exit 0 as "every grid within bounds" for an area too small for its
    minimum; and T70 #13: a grid of 343 households in 2 parts was said to be outside
    300–500 households."""
    n = summary["n_grids"]
    flagged = summary.get("flagged") or []
    out = [g for g in flagged if not lo <= int(g["households"]) <= hi]
    if out:
        typer.echo(
            f"warning: {n} 个网格中有 {len(out)} 个户数不在 {lo}–{hi} 之间"
            f"（其中 {summary['n_infeasible']} 个无法改善：见各网格的标记） "
            f"{len(out)} of {n} grid(s) "
            f"outside {lo}–{hi} households ({summary['n_infeasible']} cannot be helped: "
            "see each grid's flags)",
            err=True,
        )
    parts = [g for g in flagged if "multipart" in g["flags"]]
    if parts:
        shown_zh = "、".join(f"{g['code']}（{g['households']} 户）" for g in parts[:10])
        shown = ", ".join(f"{g['code']} ({g['households']} households)" for g in parts[:10])
        more_zh = f"（另有 {len(parts) - 10} 个）" if len(parts) > 10 else ""
        more = f" (+{len(parts) - 10} more)" if len(parts) > 10 else ""
        typer.echo(
            f"warning: {n} 个网格中有 {len(parts)} 个分成多块（多块 multipart，不计为界内）："
            f"{shown_zh}{more_zh}；请在地图上核对，或在网格编辑器中调整 "
            f"{len(parts)} of {n} grid(s) in several parts (multipart, not counted as within "
            f"bounds): {shown}{more}; check them on the map, or adjust them in the grid editor",
            err=True,
        )


def _warn_elongated(grids: list[dict], params: dict) -> None:
    """One ``warning:`` line naming the grids flagged ``elongated`` (狭长), each with its
    Polsby–Popper compactness (exit stays 0: the grid is kept, flagged). WHY (outside tester
    T64, F6): nothing flagged a strip of 383 households along the 街道 outline, PP 0.087."""
    from geo.partition.engine import FLAG_ELONGATED

    thin = [g for g in grids if FLAG_ELONGATED in (g.get("flags") or [])]
    if not thin:
        return
    shown = [f"{g['code']}（{float(g['polsby_popper']):.3f}）" for g in thin[:10]]
    shown_en = [f"{g['code']} ({float(g['polsby_popper']):.3f})" for g in thin[:10]]
    more = len(thin) - len(shown)
    bound = f"{float(params.get('elongated_pp', 0)):g}"
    typer.echo(
        f"warning: {len(thin)} 个网格狭长（紧凑度 Polsby–Popper 低于 {bound}，正方形为 0.785）："
        + "、".join(shown)
        + (f"（另有 {more} 个）" if more else "")
        + "；请在地图上核对其范围是否便于巡查 "
        f"{len(thin)} grid(s) elongated (Polsby–Popper compactness under {bound}; a square "
        "is 0.785): "
        + ", ".join(shown_en)
        + (f" (+{more} more)" if more else "")
        + "; check on the map that each is a workable patrol area",
        err=True,
    )
