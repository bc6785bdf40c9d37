"""``gridward assign``: staff alleys (file mode), and later grids/streets/alleys from the database.

File mode reads alleys and people from files and writes ``alley_id,person_id`` pairs; nothing is
stored. Heavy imports stay inside the commands so ``gridward --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli_dates import cli_day
from api.cli_people import PERSON_HELP, person_option, resolve_person
from geo.errors import InputError

assign_app = typer.Typer(
    help="人员分配（网格员、街巷长、小巷管家） Assign people to grids, streets and alleys.",
    no_args_is_help=True,
)

CRS_HELP = (
    "坐标系 CRS of the input coordinates: wgs84 (default), gcj02, bd09, cgcs2000 or EPSG:xxxx"
)

# --fill-idle (geo.assign.stewards.StewardParams.fill_idle, ChiefParams.fill_idle; T64 F7)
FILL_IDLE_HELP = {  # short Chinese runs: a help page wraps at spaces (tests/test_cli_help_whole)
    "alleys": "让空闲人员接手：管 2 条及以上的管家， 其小巷由步行不超过 他本人或 500 米的 "
    "空闲人员接手； 负荷超过中位数 1.5 倍者再转出 （目标为公平份额， 步行会变长） "
    "Let idle people take over alleys from holders of 2 or more, walking no farther than the "
    "holder or 500 m; stewards above 1.5 × the median hand alleys on (the target load is the "
    "fair share; walks grow longer)",
    "streets": "让空闲人员接手：管 2 条及以上街的 街巷长，其街由步行 不超过他本人或 1000 米的 "
    "空闲人员接手 （步行会变长） Let idle people take over streets from holders of 2 or more, "
    "walking no farther than the holder or 1000 m (walks grow longer)",
}


def _fill_params(kind: str, fill_idle: bool, max_streets: int | None = None):
    """The solver's parameters with --fill-idle (and, for streets, --max-streets-per-chief);
    None (the defaults) without them."""
    if not fill_idle and max_streets is None:
        return None
    from geo.assign.chiefs import ChiefParams
    from geo.assign.stewards import StewardParams

    if kind == "alleys":
        return StewardParams(fill_idle=True)
    cap = ChiefParams().max_streets_per_chief if max_streets is None else max_streets
    return ChiefParams(fill_idle=fill_idle, max_streets_per_chief=cap)


MAX_STREETS_HELP = (  # short Chinese runs: a help page wraps at spaces
    "每名街巷长 最多管的街数 （默认 3； 本人容量 较小者 按其容量） the most streets one chief "
    "holds (default 3; a person's 容量 capacity lowers it for them)"
)


def _full_note(summary: dict, uncovered: list, area: str) -> str | None:
    """Why streets a chief could walk to stay uncovered (geo.assign.chiefs._full_notes), with
    the figures and what to do: add chiefs, or raise the cap (--max-streets-per-chief, the
    least that could cover them all). None when no such street is left. WHY (outside tester
    T70, #10): 2 of 26 streets were listed uncovered without a word; the reason was 8 chiefs
    × 3 streets = 24."""
    import math

    full = [s for s in summary.get("full_uncovered") or [] if s in set(uncovered)]
    if not full:
        return None
    cap, room = int(summary["streets_cap"]), int(summary["room"])
    k, n, m = int(summary["chiefs_with_room"]), int(summary["streets"]), len(full)
    if room < n and summary.get("covered", 0) >= room:  # every chief is full
        more = cap + max(1, math.ceil((n - room) / max(k, 1)))
        if room == k * cap:
            zh = f"{k} 名街巷长 × 每人最多 {cap} 条 = {room} 条，少于 {n} 条街"
            en = f"{k} chiefs × {cap} streets each at most = {room} < {n} streets"
        else:
            zh = (
                f"{k} 名街巷长合计最多可管 {room} 条（每人最多 {cap} 条，本人容量或区域外已管"
                f"的街使部分人更少），少于 {n} 条街"
            )
            en = (
                f"{k} chiefs may hold {room} streets together ({cap} each at most, fewer for "
                f"some: their own capacity or streets held elsewhere) < {n} streets"
            )
        zh = f"未覆盖的街 {m} 条的原因：街巷长都已满额：{zh}"
        en = f"why {m} street{'s' if m != 1 else ''} stay uncovered: every chief is full: {en}"
    else:
        more = cap + 1
        zh = f"未覆盖的街中 {m} 条的原因：步行可到达它们的街巷长都已满额（每人最多 {cap} 条）"
        en = (
            f"why {m} of the uncovered streets stay so: every chief who can walk to them is "
            f"full ({cap} streets each at most)"
        )
    command = f"gridward assign streets --area {area} --max-streets-per-chief {more}"
    return (
        f"{zh}；请增加街巷长（在名册中给更多人街巷长角色：gridward import people），"
        f"或调高每人上限（{command}） {en}: add street chiefs (give more people the "
        f"街巷长 street_chief role in the registry: gridward import people) or raise the cap "
        f"({command})"
    )


# Summary rows per kind: key, Chinese label, English label, unit.
_RUNTIME = ("runtime_s", "运行时间", "runtime", "s")
_PEOPLE = ("people", "可用人员", "people available", "")
_WALK = ("mean_walk_m", "平均步行距离", "mean walk", "m along the network")
_OBJECTIVE = ("objective", "目标值", "objective", "walk-equivalent m")
# the dated rules every kind follows (geo.staffing: ending today, planned duties)
_DATED = (
    ("ending_today", "今日结束", "duties ending today", "their slots are filled from tomorrow"),
    ("starting_tomorrow", "明日开始", "duties starting tomorrow", ""),
    ("until_planned", "临时代岗", "stand-ins", "until a planned holder's first day"),
    ("short_later", "日后缺岗", "slots short on a later day", "listed below: fill them by hand"),
)
# people of the area holding duties of the kind outside it (geo.staffing._held_elsewhere)
_ELSEWHERE = (
    ("held_elsewhere", "区域外有职责", "held elsewhere", "people: less room here"),
    ("full_elsewhere", "区域外已满", "full elsewhere", "people: at a limit, none here"),
)
_SUMMARY_ROWS = {
    "alleys": (
        ("coverage", "覆盖率", "coverage", "share of alleys with a steward"),
        ("covered", "已覆盖小巷", "alleys covered", ""),
        ("alleys", "小巷数", "alleys", ""),
        ("stewards", "在岗管家", "stewards assigned", ""),
        _PEOPLE,
        ("load_spread", "负荷差异", "load spread", "max / median alley metres per steward"),
        ("load_max_m", "最大负荷", "max load", "m"),
        ("load_median_m", "负荷中位数", "median load", "m"),
        # database mode only (_DB_ONLY): what the spread is measured against (T38 L10)
        ("fair_share_m", "公平份额", "fair share", "m of alleys per person with room"),
        (
            "long_alleys",
            "长巷",
            "long alleys",
            "longer than {long_alley_m} m ({long_factor:g} × the fair share): each one "
            "steward's whole load",
        ),
        ("handed_to_idle", "转给空闲人员", "handed to idle people", "alleys, from stewards of 3+"),
        *_ELSEWHERE,
        _WALK,
        _OBJECTIVE,
        *_DATED,
        _RUNTIME,
    ),
    "streets": (
        ("coverage", "覆盖率", "coverage", "share of streets with a chief"),
        ("covered", "已覆盖街", "streets covered", ""),
        ("streets", "街数", "streets", ""),
        ("chiefs", "在岗街巷长", "street chiefs assigned", ""),
        _PEOPLE,
        ("streets_per_chief_max", "每人最多街数", "most streets per chief", ""),
        # the cap itself (T70 #10: the row above, the most anyone holds, was read as the cap)
        ("streets_cap", "每人街数上限", "cap per chief", "raise it: --max-streets-per-chief"),
        *_ELSEWHERE,
        _WALK,
        _OBJECTIVE,
        *_DATED,
        _RUNTIME,
    ),
    "grids": (
        ("grids", "网格数", "grids", "level 1"),
        (
            "fully_staffed",
            "配齐网格",
            "grids fully staffed",
            "a leader, workers for its households",
        ),
        ("staffed_rate", "配齐率", "share fully staffed", ""),
        ("leaders", "网格长", "grid leaders", ""),
        ("workers", "专职网格员", "full-time workers", ""),
        ("households_per_worker", "户/网格员", "households per worker", ""),
        ("mean_distance_m", "平均距离", "mean distance", "m, home to grid"),
        *_DATED,
        _RUNTIME,
    ),
}


# rows the file mode never printed: its stdout keeps its rows (a planner's script may count
# them); the database mode explains its load spread with them (T38 L10)
_DB_ONLY = {"fair_share_m", "long_alleys", "handed_to_idle", "held_elsewhere", "full_elsewhere"}

# with --fill-idle (the summary's fill_idle, geo.assign.balanced._take_over_idle and _level):
# the take-over's rows, in place of the hand-on's (alleys) or after the most streets per chief
# (streets); in file mode too, its output being new (T64 F7)
_FILL_ROWS = {
    "alleys": (
        # WHY two rows (outside tester T66, N2): the take-over's count (10 on the demo's
        # 110108015) was read as the people new to the alleys (18: the fair-share target and
        # the levelling bring people in too), they counted against the default's own solve
        (
            "handed_to_idle",
            "接手规则接手",
            "taken over by the take-over rule",
            "people idle after the solve who each took one alley over from a steward of 2+",
        ),
        (
            "new_stewards",
            "新增管家",
            "new stewards",
            "people who hold an alley with --fill-idle and would hold none without it "
            "(stewards: {stewards_without_fill_idle} without it, {stewards} with it)",
        ),
        (
            "no_longer_stewards",
            "不再任管家",
            "no longer stewards",
            "people who would hold an alley without --fill-idle and hold none with it",
        ),
        (
            # every alley that changed hands in a levelling chain (hand-ons and swaps), not
            # only those the busiest gave away
            "levelled",
            "均衡换手",
            "levelled",
            "alleys that changed hands to lighten stewards above {spread_bound} × the median "
            "load (hand-ons and swaps)",
        ),
    ),
    "streets": (
        (
            "handed_to_idle",
            "空闲人员接手",
            "taken over by idle people",
            "chiefs who held no street now hold one (from chiefs of 2+)",
        ),
    ),
}
_FILL_AFTER = {"alleys": "long_alleys", "streets": "streets_per_chief_max"}


def _summary_rows(kind: str, summary: dict) -> tuple:
    """The table's rows: as ever without --fill-idle; with it, the take-over's rows (and no
    levelled row when there is no levelling bound, no "no longer stewards" row when none)."""
    rows = _SUMMARY_ROWS[kind]
    if not summary.get("fill_idle") or kind not in _FILL_ROWS:
        return rows
    fill = tuple(
        r
        for r in _FILL_ROWS[kind]
        if (r[0] != "levelled" or summary.get("spread_bound"))
        and (r[0] != "no_longer_stewards" or summary.get(r[0]))  # shown where there are some
    )
    out: list = []
    for row in rows:
        if row[0] != "handed_to_idle":  # the hand-on's row: not run with --fill-idle
            out.append(row)
        if row[0] == _FILL_AFTER[kind]:
            out.extend(fill)
    return tuple(out)


# per kind: the table's title and the items left without anyone
_KIND_WORDS = {
    "alleys": ("小巷管家分配 alley steward assignment", "未覆盖小巷 uncovered alleys"),
    "streets": ("街巷长分配 street chief assignment", "未覆盖的街 uncovered streets"),
    "grids": ("网格定人 grid staffing", "缺员网格 short-staffed grids"),
}


# the notes of the summary rows in Chinese, before the English. The file mode's too (T38
# L11): its table is for reading (rich's box drawing, cells wrapped to the terminal); what a
# script reads is the --out CSV and the lines after the table, which stay as they were
_NOTES_ZH = {
    "share of alleys with a steward": "有小巷管家的小巷所占比例",
    "m of alleys per person with room": "米，小巷总长 / 尚有余量的人数",
    "longer than {long_alley_m} m ({long_factor:g} × the fair share): each one "
    "steward's whole load": "长于 {long_alley_m} 米（公平份额的 {long_factor:g} 倍），"
    "每条由一名管家独管",
    "alleys, from stewards of 3+": "条，由管 3 条及以上的管家转出",
    "people idle after the solve who each took one alley over from a steward of 2+": "人，"
    "求解后仍空闲，按接手规则从管 2 条及以上的管家处各接手一条",
    "people who hold an alley with --fill-idle and would hold none without it "
    "(stewards: {stewards_without_fill_idle} without it, {stewards} with it)": "人，加 "
    "--fill-idle 后管小巷、不加时不管（在岗管家：不加 {stewards_without_fill_idle} 人，"
    "加后 {stewards} 人）",
    "people who would hold an alley without --fill-idle and hold none with it": "人，不加 "
    "--fill-idle 时管小巷、加后不管",
    "alleys that changed hands to lighten stewards above {spread_bound} × the median "
    "load (hand-ons and swaps)": "条，为减轻负荷超过中位数 {spread_bound} 倍的管家而换手"
    "（转给附近负荷较轻的人或互换）",
    "chiefs who held no street now hold one (from chiefs of 2+)": "人，原无街，现各接手一条"
    "（来自管 2 条及以上的街巷长）",
    "people: less room here": "人，在区域外已有职责，此处余量相应减少",
    "people: at a limit, none here": "人，在区域外已达上限，此处不再分配",
    "max / median alley metres per steward": "每名管家所管小巷长度的最大值 / 中位数",
    "m along the network": "米，沿路网",
    "walk-equivalent m": "折合步行米数",
    "their slots are filled from tomorrow": "其岗位自明日起补上",
    "until a planned holder's first day": "至计划接任者到岗为止",
    "listed below: fill them by hand": "见下方列表，请手工补齐",
    "share of streets with a chief": "有街巷长的街所占比例",
    "raise it: --max-streets-per-chief": "条，调高用 --max-streets-per-chief",
    "level 1": "一级网格",
    "a leader, workers for its households": "有网格长，网格员人数够其户数",
    "m, home to grid": "米，住址到网格",
}


# per kind: the Chinese of the uncovered list with its count (database mode)
_UNCOVERED_ZH = {
    "alleys": "未覆盖小巷 {n} 条",
    "streets": "未覆盖的街 {n} 条",
    "grids": "缺员网格 {n} 个",
}


def _lists(
    summary: dict, uncovered: list, kind: str, file_mode: bool = False
) -> list[tuple[str, list]]:
    """The items a planner should look at, under their headings: uncovered, unreachable, and
    staffed across a gap in the map data. ``file_mode``: the headings ``assign stewards``
    has always printed (its stdout stays as it was). In database mode a heading's Chinese
    holds ``{n}``, the count (outside tester T37, #19: it was given after the English only)."""
    uncovered_words = _KIND_WORDS[kind][1]
    if file_mode:
        unreachable = "无法步行到达 nobody can walk there"
        gap = "跨越路网缺口分配 staffed across a gap in the map data: check there is a way"
        out = ("住处离路网超过 500 米，未分配 people left out: their homes lie more than 500 m "
               "from any walkable line (check them)")  # fmt: skip
    else:
        uncovered_words = _UNCOVERED_ZH[kind] + " " + uncovered_words.split(" ", 1)[1]
        unreachable = "无法步行到达 {n} 处 nobody can walk there"
        gap = ("跨越路网缺口分配 {n} 处（请核实那里有路可走） staffed across a gap in the map "
               "data: check there is a way")  # fmt: skip
        out = ("住址离任何可步行的线都超过 500 米、未分配的人员 {n} 人（请检查其住址） "
               "people left out: their homes lie more than 500 m from any walkable line "
               "(check them)")  # fmt: skip
    return [
        (uncovered_words, uncovered),
        (unreachable, summary.get("unreachable") or []),
        (gap, summary.get("across_gaps") or []),
        (out, summary.get("outside_area") or []),
    ]


def _street_labels(engine, ids: list) -> dict:  # -> {id: "id 名称"}
    """Streets and alleys by id with their names (an unnamed one by its OSM key), so a planner
    can find the ones listed."""
    from sqlalchemy import text

    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, name, key FROM streets WHERE id = ANY(:i)"),
            {"i": [int(i) for i in ids]},
        ).all()
    return {r.id: f"{r.id} {r.name or '（无名 unnamed）' + str(r.key)}" for r in rows}


def _person_labels(engine, ids: list) -> dict:  # -> {id: "姓名（人员编号）"}
    """People by people.id as the registry names them, 李静（DEMO0002）; one without a
    registry id by 系统编号 id:N. WHY (T50 #4): the people left out were labelled by
    :func:`_street_labels`, with the names of the streets that have the same ids."""
    from sqlalchemy import text

    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, name, external_id FROM people WHERE id = ANY(:i)"),
            {"i": [int(i) for i in ids]},
        ).all()
    return {r.id: f"{r.name}（{r.external_id or f'系统编号 id:{r.id}'}）" for r in rows}


def _print_summary(
    summary: dict,
    uncovered: list,
    kind: str = "alleys",
    labels: dict | None = None,
    file_mode: bool = False,
    people: dict | None = None,
) -> None:
    """The solver's table and its lists; ``labels`` names streets and alleys by id,
    ``people`` the people left out (the last list of :func:`_lists`)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_KIND_WORDS[kind][0])
    table.add_column("指标 figure")
    table.add_column("值 value", justify="right")
    table.add_column("说明 note", overflow="fold")  # never cut a word to "…"
    figures = dict(summary)
    if summary.get("long_alley_m") and summary.get("fair_share_m"):
        figures["long_factor"] = round(summary["long_alley_m"] / summary["fair_share_m"], 1)
    fill = {r[0] for r in _FILL_ROWS.get(kind, ())} if summary.get("fill_idle") else set()
    for key, zh, en, note in _summary_rows(kind, summary):
        value = summary.get(key)
        if value is None or (file_mode and key in _DB_ONLY and key not in fill):
            continue
        shown = f"{value:.1%}" if key in ("coverage", "staffed_rate") else str(value)
        if note in _NOTES_ZH:  # file mode too (T38 L11)
            note = f"{_NOTES_ZH[note]} {note}"
        if "{" in note:
            note = note.format(**figures)
        table.add_row(f"{zh} {en}", shown, note)
    Console().print(table)
    if kind == "alleys" and not file_mode:
        _explain_spread(summary)
    lists = _lists(summary, uncovered, kind, file_mode)
    for n, (words, ids) in enumerate(lists):
        if ids:
            more = f" … (+{len(ids) - 10} more)" if len(ids) > 10 else ""
            if more and not file_mode:
                more = f" … 等，另有 {len(ids) - 10} 个 (+{len(ids) - 10} more)"
            names = people if n == len(lists) - 1 else labels  # the last: people left out
            shown = ", ".join(str((names or {}).get(a, a)) for a in ids[:10])
            words = words.replace("{n}", str(len(ids)))
            typer.echo(f"{words} ({len(ids)}): {shown}{more}")


def _explain_spread(s: dict) -> None:
    """Why the load spread stands above its bound (geo.assign.stewards.spread_causes): the
    alleys' hand-on to idle people keeps it within 1.5 (the README's bound), yet the table
    showed 5.506 with nothing to say why (outside tester T38, L10). Stewards whose whole load
    is one long alley, and stewards above their capacity, are left out of that bound; what
    is left above it is a hand-on that found nobody (or, without --rebalance, duties kept).
    With --fill-idle (``fill_idle``) the bound is the levelling's: stewards of 2 alleys or
    more above it hand alleys on (T64 F7), and what is left above it is one alley alone or a
    levelling that found nobody within reach (the take-over walk first, then the longest
    walk)."""
    spread, bound = s.get("load_spread"), s.get("spread_bound")
    if spread is None or bound is None or not spread > bound:  # nan: nobody holds an alley
        return
    top, median = s["load_max_m"], s["load_median_m"]
    fill = bool(s.get("fill_idle"))
    # WHY in these words (T39 L6): "负荷差异 5.506（最大负荷 … / 中位数 …）高于上限 1.5（把小巷
    # 转给空闲人员时守的上限）" did not say what the figure is (a ratio, not a difference) nor
    # plainly why it stands above its bound
    kept_zh = (
        f"（管 2 条及以上小巷的管家负荷超过中位数的 {bound} 倍时，把小巷转给附近负荷较轻的人）"
        if fill
        else f"（把小巷转给空闲人员时，系统让负荷差异不超过 {bound}）"
    )
    kept_en = (
        "(stewards of 2 alleys or more above it hand alleys on to lighter neighbours)"
        if fill
        else "(kept when alleys are handed to idle people)"
    )
    zh = [
        f"负荷差异（最重负荷与中位负荷之比）为 {spread}：负荷最重的管家所管小巷共 {top} 米，"
        f"是各管家中位数 {median} 米的 {spread} 倍，高于上限 {bound}{kept_zh}"
    ]
    en = [
        f"load spread {spread} (max {top} m / median {median} m) is above the bound {bound} "
        + kept_en
    ]
    alone, over, rest = s.get("long_alone", 0), s.get("over_capacity", 0), s.get("load_spread_rest")
    why_zh, left = [], []
    if alone:
        why_zh.append(
            f"{alone} 名管家各独管一条长巷（长于 {s['long_alley_m']} 米，本区长巷 "
            f"{s['long_alleys']} 条）"
        )
        left.append(
            f"{alone} stewards each hold one long alley (longer than {s['long_alley_m']} m; "
            f"{s['long_alleys']} long alleys here)"
        )
    if over:
        why_zh.append(
            f"{over} 名管家超出其容量（{s['capacity_m']} 米，区域外有职责者更少），"
            "是为覆盖无人可管的小巷或保留原有职责"
        )
        left.append(
            f"{over} stewards are above their capacity ({s['capacity_m']} m, less for people "
            "holding duties elsewhere), to cover alleys nobody else could take or keeping "
            "duties held before"
        )
    if left:
        zh.append("原因：" + "；".join(why_zh) + "，这些管家的负荷不受此上限约束")
        en.append("; ".join(left) + ": loads the bound leaves out")
        if rest is not None:
            within = "，在上限以内" if rest <= bound else ""
            zh.append(f"不计这些管家时负荷差异为 {rest}{within}")
            en.append(f"without them the spread is {rest}")
    if rest is not None and rest > bound and fill:
        _still_above_filled(s, zh, en)
    elif rest is not None and rest > bound:
        kept = bool(s.get("kept"))
        zh.append(
            "仍高于上限：只有管 3 条及以上小巷的管家才会把小巷转给住在附近、尚有余量的空闲人员"
            + ("，保留的现有职责也不转出（可加 --rebalance 全部重新分配）" if kept else "")
        )
        en.append(
            "still above the bound: only stewards of 3 alleys or more hand alleys on, to idle "
            "people with room living near them"
            + (
                ", and duties kept are not handed on (--rebalance reassigns them all)"
                if kept
                else ""
            )
        )
    typer.echo("；".join(zh) + " " + "; ".join(en))


def _still_above_filled(s: dict, zh: list, en: list) -> None:
    """With --fill-idle: why the spread without long alleys held alone stays above the bound:
    the busiest holds one alley (the least a steward holds), or nobody within reach can take
    one of theirs and still carry less (T64 F7). The levelling looks within the take-over walk
    first, then as far as the longest walk (``level_reach_m``, geo.assign.level): the words
    said the take-over walk alone."""
    near, far = s.get("take_over_m"), s.get("level_reach_m")
    if s.get("rest_top_alleys") == 1:
        zh.append("仍高于上限：其中负荷最重的管家只管一条小巷，一条小巷已是管家最少的负荷")
        en.append(
            "still above the bound: the busiest of them holds a single alley, the least a "
            "steward can hold"
        )
    else:
        walk_zh = walk_en = ""
        if near is not None and far is not None:
            walk_zh = f"（先找步行不超过其本人或 {near:g} 米的人，再找步行 {far:g} 米以内的人）"
            walk_en = (
                f" (first among people walking no farther than they do or {near:g} m, then "
                f"within {far:g} m)"
            )
        elif near is not None:
            walk_zh = f"（步行不超过其本人或 {near:g} 米）"
            walk_en = f" (no farther than they walk, or {near:g} m)"
        zh.append(
            f"仍高于上限：负荷最重的管家附近{walk_zh}没有人能接手或换走其一条小巷而负荷仍低于他"
        )
        en.append(
            f"still above the bound: nobody within reach of the busiest stewards{walk_en} can "
            "take or swap one of their alleys and still carry less than they do"
        )
    if s.get("kept"):
        zh[-1] += "，保留的现有职责也不转出（可加 --rebalance 全部重新分配）"
        en[-1] += ", and duties kept are not handed on (--rebalance reassigns them all)"


def _idle_hint(kind: str, summary: dict, holders: list, file_mode: bool = False) -> str | None:
    """Without --fill-idle: people idle while holders of 2 items or more are there, and the
    option that lets the idle ones within the take-over walk take one over (T64 F7: 19 of 100
    stewards idle, 69 at the 5-alley cap). ``holders``: the person of each pair. Counted from
    the summary and pairs alone (no walk is measured again): the people idle are those
    available minus those holding one, those full elsewhere and those left out. Where duties
    are kept (no --rebalance), it names --rebalance --fill-idle: a kept duty is never taken
    over, and --fill-idle alone changed nothing there (outside tester T66, N1)."""
    from collections import Counter

    from geo.assign.chiefs import ChiefParams
    from geo.assign.fill_idle import how_to_take_over
    from geo.assign.stewards import StewardParams

    if summary.get("fill_idle") or kind not in ("alleys", "streets"):
        return None
    busy = summary.get("stewards" if kind == "alleys" else "chiefs") or 0
    idle = (summary.get("people") or 0) - busy - (summary.get("full_elsewhere") or 0)
    idle -= len(summary.get("outside_area") or [])
    many = sum(1 for n in Counter(holders).values() if n >= 2)
    if idle <= 0 or not many:
        return None
    opt, kept_zh, kept_en, then_zh, then_en = "--fill-idle", "", "", "", ""
    if summary.get("kept"):  # gap filling: the duties held stay, never taken over
        opt = "--rebalance --fill-idle"
        kept_zh, kept_en = "现有职责保留时从不被接手；", "duties kept are never taken over; "
        how_zh, how_en = how_to_take_over("file" if file_mode else "cli")
        then_zh = "；" + how_zh[how_zh.index("（") + 1 : -1]  # what --rebalance does
        then_en = "; " + how_en[how_en.index("(") + 1 : -1]
    if kind == "alleys":
        near = StewardParams().take_over_near_m
        return (
            f"{idle} 人未分到小巷，{many} 名管家各管 2 条及以上；{kept_zh}加 {opt} 可让空闲"
            f"人员接手其中步行可及的小巷（步行不超过原管家或 {near:g} 米；步行会变长{then_zh}） "
            f"{idle} people hold no alley while {many} stewards hold 2 or more: {kept_en}"
            f"{opt} lets idle people take alleys over within their walk (no farther than "
            f"the holder, or {near:g} m; walks grow longer{then_en})"
        )
    near = ChiefParams().take_over_near_m
    return (
        f"{idle} 人未分到街，{many} 名街巷长各管 2 条及以上；{kept_zh}加 {opt} 可让空闲"
        f"人员接手其中步行可及的街（步行不超过原街巷长或 {near:g} 米；步行会变长{then_zh}） "
        f"{idle} people hold no street while {many} street chiefs hold 2 or more: {kept_en}"
        f"{opt} lets idle people take streets over within their walk (no farther than "
        f"the holder, or {near:g} m; walks grow longer{then_en})"
    )


def _print_short_later(short: list[dict], labels: dict | None) -> None:
    """The slots a kept duty leaves short on a later day (geo.staffing ``short_from``), with
    that day: WHY printed: the proposal's duties start now, so only a planner can fill them."""
    if not short:
        return
    from geo.duties import ROLE_LABELS

    shown = ", ".join(
        f"{(labels or {}).get(s['item_id'], s['item_id'])} {s['role']} "
        f"from {s['from']} ({s['holders']}/{s['needed']})"
        for s in short[:10]
    )
    shown_zh = "；".join(
        f"{(labels or {}).get(s['item_id'], s['item_id'])} "
        f"{ROLE_LABELS.get(s['role'], s['role']).split()[0]} 自 {s['from']} 起"
        f"（{s['holders']}/{s['needed']}）"
        for s in short[:10]
    )
    more = f" … (+{len(short) - 10} more)" if len(short) > 10 else ""
    more_zh = f" 等，另有 {len(short) - 10} 个" if len(short) > 10 else ""
    typer.echo(
        f"日后缺岗（{len(short)}）：{shown_zh}{more_zh}（请手工补齐） "
        f"short on a later day ({len(short)}): {shown}{more}"
    )


def _read_people_file(path: Path, crs: str | None):
    from geo.assign.people import has_role, read_people, shown_columns
    from geo.crs import lonlat_to_wgs84

    people = read_people(path, path.name)
    if people.attrs.get("ignored_columns"):  # the first 10, then how many more (T45 #3)
        cols = ", ".join(
            shown_columns(people.attrs["ignored_columns"], people.attrs["ignored_columns_count"])
        )
        typer.echo(
            f"warning: 已略去 {path.name} 中的列：{cols}（未读入） "
            f"{path.name}: columns left out: {cols}",
            err=True,
        )
    if "lon" not in people.columns:
        raise InputError(
            f"文件 {path.name} 须用经度/纬度给出住址（楼栋编号须用数据库） "
            f"{path.name}: file mode needs lon,lat homes (a building id needs the database)"
        )
    if people["lon"].isna().any():
        ids = people.loc[people["lon"].isna(), "person_id"].tolist()[:5]
        shown = ", ".join(ids)
        raise InputError(
            f"文件 {path.name} 中有人员缺少经纬度（{shown}），文件模式须用经纬度给出住址 "
            f"{path.name}: people without lon/lat: {shown}"
        )
    if "roles" in people.columns and (people["roles"] != "").any():
        people = people[has_role(people, "alley_steward")].reset_index(drop=True)
        if len(people) == 0:
            raise InputError(
                f"文件 {path.name} 中没有小巷管家 "
                f"{path.name}: nobody has the alley_steward (小巷管家) role"
            )
    if crs:
        lon, lat = lonlat_to_wgs84(people["lon"].to_numpy(), people["lat"].to_numpy(), crs)
        people = people.assign(lon=lon, lat=lat)
    return people


@assign_app.command("stewards")
def stewards(
    alleys: Path = typer.Option(
        ..., "--alleys", help="巷线文件 Alleys: LineStrings with unique alley_id"
    ),
    people: Path = typer.Option(
        ..., "--people", help="人员文件 People CSV/XLSX: person_id,lon,lat"
    ),
    out: Path = typer.Option(..., "--out", help="输出文件 Output CSV: alley_id,person_id"),
    network: Path = typer.Option(
        None,
        "--network",
        help="步行路网 Walkable segments (GeoJSON etc.); default: the alleys alone",
    ),
    crs: str = typer.Option(None, "--crs", help=CRS_HELP),
    stewards_per_alley: int = typer.Option(
        1, "--stewards-per-alley", min=1, max=100, help="每巷管家数 Stewards per alley"
    ),
    max_alleys: int = typer.Option(
        5,
        "--max-alleys-per-person",
        min=1,
        max=1000,
        help="每人最多巷数 Most alleys one steward holds "
        "(a person's capacity column lowers it for them)",
    ),
    existing: Path = typer.Option(
        None, "--existing", help="现有分配 Current assignments CSV (alley_id,person_id) to keep"
    ),
    rebalance: bool = typer.Option(
        False, "--rebalance", help="重新分配 Ignore --existing and start over"
    ),
    max_walk: float = typer.Option(
        2000.0, "--max-walk", help="最远步行距离 Longest home→alley walk, metres"
    ),
    fill_idle: bool = typer.Option(False, "--fill-idle", help=FILL_IDLE_HELP["alleys"]),
) -> None:
    """分配小巷管家 Assign alley stewards near home with fair loads (file mode)."""
    import pandas as pd

    from api.out_files import check_out
    from api.progress import progress_bar
    from geo.assign.stewards import StewardParams, assign_stewards
    from geo.vector_io import atomic_file, read_vector

    inputs = {"alleys": alleys, "people": people, "network": network, "existing": existing}
    check_out(out, (".csv",), inputs)
    alley_gdf = read_vector(alleys, crs)
    net_gdf = read_vector(network, crs) if network is not None else None
    people_df = _read_people_file(people, crs)
    current = None
    if existing is not None:
        if not existing.is_file():
            raise InputError(f"文件 {existing} 不存在，请检查路径 {existing}: no such file")
        current = pd.read_csv(existing, dtype=str)
        for col in ("alley_id", "person_id"):
            if col not in current.columns:
                raise InputError(
                    f"文件 {existing.name} 缺少 {col} 列，现有职责表须有 alley_id 和 person_id "
                    "两列 "
                    f"{existing.name}: no '{col}' column"
                )
        # Ids from files are matched as text.
        alley_gdf = (
            alley_gdf.assign(alley_id=alley_gdf["alley_id"].astype(str))
            if ("alley_id" in alley_gdf.columns)
            else alley_gdf
        )
    params = StewardParams(
        stewards_per_alley=stewards_per_alley,
        max_walk_m=max_walk,
        max_alleys_per_person=max_alleys,
        fill_idle=fill_idle,
    )
    with progress_bar("分配小巷管家 assign stewards") as bar:
        result = assign_stewards(
            alley_gdf,
            people_df,
            params,
            network=net_gdf,
            existing=current,
            rebalance=rebalance,
            progress=bar,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(out) as tmp:
            result.assignments[["alley_id", "person_id"]].to_csv(tmp, index=False)
    except OSError as exc:
        why = exc.strerror or exc
        raise InputError(
            f"无法写入文件 {out}（{why}），请检查目录和权限 cannot write {out}: {why}"
        ) from None
    _print_summary(result.summary, result.uncovered, file_mode=True)
    hint = _idle_hint(
        "alleys", result.summary, result.assignments["person_id"].tolist(), file_mode=True
    )
    if not hint:
        from geo.assign.fill_idle import kept_note

        hint = kept_note("alleys", result.summary, style="file")
    if hint:  # stderr: the lines after the table stay as they were (T38 L11)
        typer.echo(f"warning: {hint}", err=True)
    held = result.assignments["person_id"].value_counts()
    full = int((held >= max_alleys).sum())
    if len(result.uncovered) and full:
        typer.echo(  # warning: as every other line on stderr (T38 L11; api.progress)
            f"warning: {full} 名小巷管家已达巷数上限（{max_alleys} 条，"
            "--max-alleys-per-person），调高此上限可覆盖更多小巷 "
            f"{full} stewards hold the most alleys one may "
            f"({max_alleys}, --max-alleys-per-person): a higher limit may cover more",
            err=True,
        )
    typer.echo(f"已写入 wrote {len(result.assignments)} assignments to {out}")


def _grid_staff(engine, proposal: dict) -> list[tuple[str, str, int, int]]:
    """(grid code, role, holders, needed) of each grid and role of a grids proposal, as
    geo.assign.grids counts them: one leader, and a full-time worker per
    ``households_per_worker`` (GRIDWARD_HOUSEHOLDS_PER_WORKER, 100) households. The grids
    are those the pairs staff and those listed short (a grid nobody holds is short)."""
    from collections import Counter

    from sqlalchemy import text

    from geo.assign.grids import GridParams, workers_needed
    from geo.settings import get_settings

    held = Counter((int(r["item_id"]), r["role"]) for r in proposal["pairs"])
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, code, households FROM grids WHERE (id = ANY(:i) OR code = ANY(:c)) "
                "AND level = 1 AND retired_at IS NULL ORDER BY code"
            ),
            {"i": sorted({g for g, _ in held}), "c": [str(c) for c in proposal["uncovered"]]},
        ).all()
    per = get_settings().households_per_worker
    out = []
    for r in rows:
        need = {
            "grid_leader": GridParams().leaders_per_grid,
            "grid_worker": int(workers_needed([r.households or 0], per)[0]),
        }
        out += [(r.code, role, held[(r.id, role)], n) for role, n in need.items()]
    return out


_SPARE_EN = {"grid_leader": "grid leader(s)", "grid_worker": "full-time worker(s)"}


def _whole_area(engine, code: str) -> str:
    """The area a --rebalance re-solves, by its level and name: 全社区（和平里社区，
    110108015001）. WHY (T39 L5): the hint said 全区 (the whole district) for a community."""
    from sqlalchemy import text

    from geo.models import LEVEL_ZH

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT level, name FROM areas WHERE code = :c"), {"c": code}
        ).first()
    if row is None:  # propose() found it: not reached
        return f"区域 {code} "
    named = f"{row.name}，{code}" if row.name else code
    return f"全{LEVEL_ZH.get(row.level, '区域')}（{named}）"


def _rebalance_hint(engine, area: str, proposal: dict, alt: dict, dry_run: bool) -> str | None:
    """What ``--rebalance`` would do for grids the gap-filling proposal leaves short (outside
    tester T38, M3: a grid kept 4 workers where 2 were needed, 3 grids short, and nothing
    said that --rebalance moves them). ``alt``: the rebalance's proposal, solved as the
    command would solve it; said only when it leaves fewer posts unfilled or fewer grids
    short, with the grids that have staff to spare (the rebalance re-solves the whole area:
    it moves others too, hence its duty counts and its dry run)."""
    from geo.duties import ROLE_LABELS

    staff, alt_staff = _grid_staff(engine, proposal), _grid_staff(engine, alt)
    gap_now = sum(max(n - h, 0) for _, _, h, n in staff)
    gap_then = sum(max(n - h, 0) for _, _, h, n in alt_staff)
    now, then = len(proposal["uncovered"]), len(alt["uncovered"])
    if gap_then >= gap_now and then >= now:
        return None
    spare = [(code, role, h - n) for code, role, h, n in staff if h > n]
    zh = en = ""
    if spare:
        zh = "，".join(
            f"网格 {code} 有富余{ROLE_LABELS[role].split()[0]} {k} 名" for code, role, k in spare
        )
        zh += "；"
        en = "spare staff: " + ", ".join(
            f"grid {code} has {k} {_SPARE_EN[role]} more than it needs" for code, role, k in spare
        )
        en += "; "
    grids_zh = f"由 {now} 个减为 {then} 个" if then < now else f"仍为 {then} 个"
    grids_en = f"instead of {now}" if then < now else "as now"
    ch = alt["changes"]
    how_zh = how_en = ""
    if dry_run:  # against the duties as they are (a commit first changes them)
        how_zh = f"将保留 {ch['keep']} 项、结束 {ch['end']} 项、新增 {ch['start']} 项职责；"
        how_en = f"keeping {ch['keep']}, ending {ch['end']}, starting {ch['start']} duties; "
    command = f"gridward assign grids --area {area} --rebalance --dry-run"
    # the English in the singular for one (T41 #11: "1 posts unfilled …, 1 grids short")
    posts, grids = ("post" if gap_then == 1 else "posts"), ("grid" if then == 1 else "grids")
    return (
        f"{zh}加 --rebalance 重新分配{_whole_area(engine, area)}的网格人员，"
        f"缺员可由 {gap_now} 人减为 {gap_then} 人，"
        f"缺员网格{grids_zh}（{how_zh}可先用 {command} 查看） "
        f"{en}--rebalance reassigns the area's grid staff: {gap_then} {posts} unfilled instead "
        f"of {gap_now}, {then} {grids} short {grids_en} ({how_en}check it with {command})"
    )


_AREA_OPTION = typer.Option(
    ..., "--area", help="区域编码 Area code (district/subdistrict/community)"
)
_REBALANCE_OPTION = typer.Option(False, "--rebalance", help="全部重新分配 Reassign everything")
_DRY_RUN_OPTION = typer.Option(
    False, "--dry-run", help="只看方案不提交 Show the proposal without committing it"
)


def _database_mode(kind: str):
    def run(
        area: str,
        rebalance: bool,
        dry_run: bool,
        fill_idle: bool,
        max_streets: int | None = None,
    ) -> None:
        from api.progress import progress_bar
        from geo.db import get_engine
        from geo.staffing import commit, propose

        engine = get_engine()
        alt = None
        params = _fill_params(kind, fill_idle, max_streets)
        with progress_bar(f"分配 assign {kind}") as bar:
            bar(0.1, "求解中 solving")
            proposal = propose(engine, kind, area, rebalance=rebalance, params=params)
            if kind == "grids" and not rebalance and proposal["uncovered"]:
                # grids short: would --rebalance leave fewer short? (T38 M3) nothing written
                bar(0.6, "比较 --rebalance comparing --rebalance")
                alt = propose(engine, kind, area, rebalance=True)
            bar(1.0, "完成 done")
        lists = _lists(proposal["summary"], proposal["uncovered"], kind)
        short = proposal.get("short_from") or []
        listed = [i for _, ids in lists[:-1] for i in ids[:10]]  # the last: people
        listed += [s["item_id"] for s in short[:10]]
        labels = _street_labels(engine, listed) if kind != "grids" else None
        people = _person_labels(engine, lists[-1][1][:10])
        summary = proposal["summary"]
        if kind == "streets":  # the cap the solver kept, shown beside the most anyone holds
            from geo.assign.chiefs import ChiefParams

            cap = (params or ChiefParams()).max_streets_per_chief
            summary = {"streets_cap": cap, **summary}
        _print_summary(summary, proposal["uncovered"], kind, labels, people=people)
        full = _full_note(summary, proposal["uncovered"], area) if kind == "streets" else None
        if full:
            typer.echo(full)
        _print_short_later(short, labels)
        hint = alt and _rebalance_hint(engine, area, proposal, alt, dry_run)
        if hint:
            typer.echo(hint)
        idle = _idle_hint(kind, proposal["summary"], [r["person_id"] for r in proposal["pairs"]])
        if idle:
            typer.echo(idle)
        from geo.assign.fill_idle import kept_note

        note = kept_note(kind, proposal["summary"])  # --fill-idle while duties are kept
        if note:
            typer.echo(note)
        ch = proposal["changes"]
        typer.echo(
            f"职责：保留 {ch['keep']} 项，结束 {ch['end']} 项，新增 {ch['start']} 项 "
            f"kept {ch['keep']}, ending {ch['end']}, starting {ch['start']} duties"
        )
        if dry_run:
            typer.echo("试运行，未提交 dry run: nothing committed")
            return
        done = commit(engine, proposal, actor="cli")
        later = done.get("starting_tomorrow", 0)  # a duty ends today (geo.staffing._starts)
        typer.echo(
            f"已提交：今日开始 {done['started'] - later} 项"
            + (f"，明日开始 {later} 项" if later else "")
            + f"，昨日结束 {done['ended']} 项，保留 {done['kept']} 项 "
            + f"committed: {done['started'] - later} started today"
            + (f", {later} start tomorrow" if later else "")
            + f", {done['ended']} ended yesterday, {done['kept']} kept"
        )

    doc = {
        "grids": "网格定人 Staff the grids of an area from the database.",
        "streets": "分配街巷长 Assign street chiefs in an area from the database.",
        "alleys": "分配小巷管家 Assign alley stewards in an area from the database.",
    }[kind]
    if kind == "alleys":

        def command(
            area: str = _AREA_OPTION,
            rebalance: bool = _REBALANCE_OPTION,
            dry_run: bool = _DRY_RUN_OPTION,
            fill_idle: bool = typer.Option(False, "--fill-idle", help=FILL_IDLE_HELP[kind]),
        ) -> None:
            run(area, rebalance, dry_run, fill_idle)

        command.__doc__ = doc
        return command
    if kind == "streets":

        def streets(
            area: str = _AREA_OPTION,
            rebalance: bool = _REBALANCE_OPTION,
            dry_run: bool = _DRY_RUN_OPTION,
            fill_idle: bool = typer.Option(False, "--fill-idle", help=FILL_IDLE_HELP[kind]),
            max_streets: int = typer.Option(None, "--max-streets-per-chief", help=MAX_STREETS_HELP),
        ) -> None:
            run(area, rebalance, dry_run, fill_idle, max_streets)

        streets.__doc__ = doc
        return streets

    def grids(  # nobody takes a grid over: no --fill-idle
        area: str = _AREA_OPTION,
        rebalance: bool = _REBALANCE_OPTION,
        dry_run: bool = _DRY_RUN_OPTION,
    ) -> None:
        run(area, rebalance, dry_run, False)

    grids.__doc__ = doc
    return grids


for _kind in ("grids", "streets", "alleys"):
    assign_app.command(_kind)(_database_mode(_kind))


# --------------------------------------------------------------------------------------------
# hand edits of the duty table (geo.duties): dated, backdated or planned
# --------------------------------------------------------------------------------------------

_ROLE_HELP = (
    "角色 alley_steward 小巷管家, street_chief 街巷长, grid_leader 网格长, "
    "grid_worker 专职网格员 or "
    "part_time_worker 兼职网格员 (default for --alley / --street: their one role)"
)


def _target(alley: str | None, street: str | None, grid: str | None):
    from geo.duties import Target

    given = [(k, v) for k, v in (("alley", alley), ("street", street), ("grid", grid)) if v]
    if len(given) != 1:
        raise InputError(
            "请指定一个目标：--alley、--street 或 --grid "
            "name one target: --alley, --street or --grid"
        )
    return Target(*given[0])


def _duty_line(duty: dict) -> str:
    from geo.duties import ROLE_LABELS, TARGET_LABELS

    t = duty["target"]
    # a street's or alley's id as the house says it (T39 L4: it read 槐树胡同 #12)
    what = t["code"] if t["kind"] == "grid" else f"{t['name'] or t['key']}（id:{t['id']}）"
    until = duty["valid_to"] or "长期 open-ended"
    return (
        f"{duty['name']} ({duty['person']}) {ROLE_LABELS[duty['role']]} · "
        f"{TARGET_LABELS[t['kind']]} {what} · {duty['valid_from']} → {until} · "
        f"职责编号 duty id {duty['id']}"
    )


_ACTIONS = {
    "ended": ("卸任 ended", lambda c: f"最后一天 last day {c['after']['valid_to']}"),
    "resumes": ("复任 resumes", lambda c: f"起始 from {c['after']['valid_from']}"),
    "moved": ("推迟 starts later", lambda c: f"改为起始 from {c['after']['valid_from']}"),
    "deleted": (
        "取消计划职责 cancelled (planned)",
        lambda c: f"原起始 was from {c['before']['valid_from']}",
    ),
}


@assign_app.command("set")
def set_duty(
    person: str = person_option(PERSON_HELP, required=True),
    alley: str = typer.Option(None, "--alley", help="目标巷 an alley: its id, key or name"),
    street: str = typer.Option(None, "--street", help="目标街 a street: its id, key or name"),
    grid: str = typer.Option(None, "--grid", help="目标网格 a level-1 grid: its code or id"),
    role: str = typer.Option(None, "--role", help=_ROLE_HELP),
    valid_from: str = typer.Option(
        ...,
        "--from",
        help="开始日期 first day (YYYY-MM-DD); earlier than today corrects past reports",
    ),
    valid_to: str = typer.Option(
        None, "--to", help="结束日期 last day, inclusive (default: open-ended)"
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="接替他人 take over from the other holders for this period "
        "(default: add a co-holder 共管)",
    ),
) -> None:
    """手工安排职责 Give a person a dated duty by hand (backdated or planned)."""
    from geo.db import get_engine
    from geo.duties import assign_duty

    target = _target(alley, street, grid)
    start, end = cli_day(valid_from, "--from"), cli_day(valid_to, "--to")
    if start is None:  # typer requires it; an empty string still reaches here
        raise InputError("缺少开始日期 --from is required (YYYY-MM-DD)")
    who = resolve_person(get_engine(), person).id
    out = assign_duty(get_engine(), who, target, role, start, end, replace, actor="cli")
    parts = [f"职责已安排 duty set: {_duty_line(out['duty'])}"]
    for c in out["changes"]:
        label, detail = _ACTIONS[c["action"]]
        who = c["before"] or c["after"]
        parts.append(f"{label}: {who['name']} ({who['person']}) {detail(c)}")
    if out["co_holders"]:
        # once each: a co-holder with two duty rows there was named twice (T55 #7)
        names = "、".join(dict.fromkeys(f"{c['name']} ({c['person']})" for c in out["co_holders"]))
        parts.append(f"仍共管 co-holders kept: {names}")
    typer.echo("; ".join(parts))
    for w in out.get("warnings", []):
        typer.echo(f"warning: {w}", err=True)


@assign_app.command("end")
def end_duty_command(
    person: str = person_option(PERSON_HELP, required=True),
    alley: str = typer.Option(None, "--alley", help="目标巷 an alley: its id, key or name"),
    street: str = typer.Option(None, "--street", help="目标街 a street: its id, key or name"),
    grid: str = typer.Option(None, "--grid", help="目标网格 a level-1 grid: its code or id"),
    role: str = typer.Option(None, "--role", help=_ROLE_HELP),
    last_day: str = typer.Option(
        ..., "--last-day", "--on", help="职责最后一天 the duty's last day, inclusive (YYYY-MM-DD)"
    ),
) -> None:
    """手工结束职责 End a person's duty on a day (earlier or later than recorded)."""
    from geo.db import get_engine
    from geo.duties import end_duty

    target = _target(alley, street, grid)
    last = cli_day(last_day, "--last-day")
    who = resolve_person(get_engine(), person).id
    out = end_duty(get_engine(), who, target, role, last, actor="cli")
    was = out["was_valid_to"] or "长期 open-ended"
    if out["changed"]:
        typer.echo(f"职责已结束 duty ended: {_duty_line(out['duty'])}（原为 was: {was}）")
    else:
        typer.echo(
            f"未改变（职责本来就在这天结束） unchanged: {_duty_line(out['duty'])} already ends then"
        )
    for w in out.get("warnings", []):  # their later duties there, still held (T43 #7)
        typer.echo(f"warning: {w}", err=True)


_RESTORED = {
    "continues": "恢复 continuous again",
    "starts again": "恢复原计划 starts as planned again",
    "reinstated": "恢复 reinstated",
}


@assign_app.command("undo")
def undo_duty_command(
    duty: str = typer.Option(
        ..., "--duty", help="职责编号 the duty's id, as assign set printed it"
    ),
    reason: str = typer.Option(
        None,
        "--reason",
        help="撤销原因 why it is undone (kept in the audit log; at most 500 characters)",
    ),
    leave_others: bool = typer.Option(
        False,
        "--leave-others",
        help="只撤销此项 when it replaced others (--replace, or a staffing commit that ended their "
        "duties) or a plan commit carried it from a retired grid: remove only this duty and "
        "leave theirs as they are now (default: give back what it took, or refuse when that "
        "cannot be exact)",
    ),
) -> None:
    """撤销职责 Undo a duty entered by mistake; a replacement gives back what it took."""
    from geo.db import get_engine
    from geo.duty_undo import parse_duty_id, parse_reason, undo_duty
    from geo.settings import city_today

    duty_id, why = parse_duty_id(duty), parse_reason(reason)  # bad input named before connecting
    out = undo_duty(get_engine(), duty_id, why, leave_others, actor="cli")
    back = out.get("moved_back")
    if back:  # brought forward by a staffing commit: it stays, from its planned start
        line = _duty_line({**out["undone"], "valid_from": back["valid_from"]})
        parts = [
            f"职责改回原计划 moved back to its planned start: {line} "
            f"(原 was from {back['was_valid_from']})"
        ]
    else:
        parts = [f"职责已撤销 duty undone: {_duty_line(out['undone'])}"]
    today = city_today().isoformat()
    for r in out["restored"]:
        a = r["after"]
        until = a["valid_to"] or "长期 open-ended"
        label = _RESTORED[r["action"]]
        if r["action"] == "reinstated" and a["valid_from"] > today:
            label += "（已计划 planned）"
        parts.append(f"{label}: {a['name']} ({a['person']}) {a['valid_from']} → {until}")
    if out["left_as_is"]:
        ids = ", ".join(str(c["id"]) for c in out["left_as_is"])
        parts.append(
            f"其他职责未恢复，保持现状（职责 {ids}） others left as they are (duties {ids})"
        )
    if out["still_holds"]:
        spans = "、".join(
            f"{d['valid_from']} → {d['valid_to'] or '长期 open-ended'}" for d in out["still_holds"]
        )
        parts.append(f"仍在此任职 still holds it: {spans}")
    if out.get("note"):
        parts.append(f"说明 note: {out['note']}")
    typer.echo("; ".join(parts))


def register(app: typer.Typer) -> None:
    """Add the ``assign`` command group to the gridward app."""
    app.add_typer(assign_app, name="assign")
