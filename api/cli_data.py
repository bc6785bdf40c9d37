"""``gridward import`` and ``gridward export``: real data in and out of PostGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

import_app = typer.Typer(help="导入数据 Import data into PostGIS.", no_args_is_help=True)

CRS_HELP = "坐标系 CRS of the coordinates: wgs84 (default), gcj02, bd09, cgcs2000, or EPSG:xxxx"


# what an import reads and what export writes, in the Chinese of a message
_FILE_ZH = {
    "OSM file": "OSM 文件",
    "areas file": "区划文件",
    "buildings file": "楼栋文件",
    "households file": "户数文件",
    "people file": "人员文件",
}
_KIND_ZH = {"areas": "区划", "buildings": "楼栋", "households": "户数"}
_LAYER_ZH = {
    "grids": "网格",
    "buildings": "楼栋",
    "segments": "路段",
    "streets": "街巷",
    "areas": "区划",
    "roster": "职责名册",
    "people": "人员名册",
}


# each layer's measure word and English noun in the export's line (T71 #26: 网格 950 条, 楼栋
# 153 条, "wrote 133 roster")
_LAYER_UNITS = {
    "grids": ("个", "grids"),
    "buildings": ("栋", "buildings"),
    "segments": ("段", "segments"),
    "streets": ("条", "streets and alleys"),
    "areas": ("个", "areas"),
    "roster": ("行", "roster rows"),
    "people": ("人", "people"),
}


def _readable(path: Path, what: str) -> None:
    """Refuse a missing file before the database is asked for. WHY: an import sets a city
    up and may make the cluster; with a mistyped file in a mistyped data folder it made an
    empty cluster, then failed (tester Z3, 9)."""
    from geo.errors import InputError

    what_zh = _FILE_ZH.get(what, what)
    if not path.exists():
        raise InputError(f"{what_zh} {path} 不存在 {what} not found: {path}")
    if not path.is_file():
        raise InputError(f"{path} 不是文件 not a file: {path}")


def _zh_counts(kind: str, c: dict[str, int]) -> str:
    """What an import did, in Chinese, to open its line (outside tester T38, L12: the line
    was key=value only, and parents=0 read as "no parent" when the parent was linked)."""
    if kind == "osm":
        said = (
            f"已导入 OSM：读入楼栋 {c.get('buildings_read', 0)}、路段 {c.get('segments_read', 0)}"
            f"（其中小巷 {c.get('alleys', 0)}、街 {c.get('streets', 0)}），"
            f"写入楼栋 {c.get('buildings_written', 0)}、街巷 {c.get('streets_written', 0)}、"
            f"路段 {c.get('segments_written', 0)}；路段新增 {c.get('segments_added', 0)}、"
            f"停用 {c.get('segments_retired', 0)}、恢复 {c.get('segments_restored', 0)}，"
            f"街巷停用 {c.get('streets_retired', 0)}、恢复 {c.get('streets_restored', 0)}"
        )
        if c.get("streets_renamed") or c.get("segments_moved"):  # T43 #1
            said += (
                f"，街巷改名 {c.get('streets_renamed', 0)}、"
                f"路段改归其他街巷 {c.get('segments_moved', 0)}"
            )
    elif kind == "areas":
        said = (
            f"已导入区划：读入 {c.get('areas_read', 0)}，写入 {c.get('areas_written', 0)}，"
            f"由下级生成上级 {c.get('parents', 0)}，已关联上级 {c.get('parents_linked', 0)}"
        )
    elif kind == "buildings":
        said = (
            f"已导入楼栋：读入 {c.get('buildings_read', 0)}，写入 {c.get('buildings_written', 0)}，"
            f"户数为给定 {c.get('households_given', 0)}、"
            f"为估算 {c.get('households_estimated', 0)}"
        )
    elif kind == "households":
        said = f"已导入户数：读入 {c.get('rows', 0)} 行，更新楼栋 {c.get('buildings_updated', 0)}"
        if c.get("buildings_confirmed"):  # T49 #2: an estimate confirmed is not an update
            said += f"，确认楼栋 {c['buildings_confirmed']}（户数与估算值相同，改为普查给定）"
        if c.get("buildings_unchanged"):
            said += f"，户数未变 {c['buildings_unchanged']}"
    else:
        said = f"已导入 {kind}"
    if "grids_updated" in c:
        said += f"，网格户数已更新 {c['grids_updated']}"
    return said


def _show(kind: str, counts: dict[str, int]) -> None:
    # the key=value part stays last and verbatim: scripts read it (as import people's line)
    typer.echo(f"{_zh_counts(kind, counts)} " + ", ".join(f"{k}={v}" for k, v in counts.items()))


RETIRE_HELP = (
    "停用哪些路段 which stored street segments missing from the file are retired: "
    "auto (default: inside the file's <bounds> cut to its ways, none without bounds, and "
    "ways it re-split; refused when it would retire over 20 % of them), none (never), all "
    "(inside its bounds and ways' box, bounds or not, no limit)"
)


# The page of import osm. WHY written here, not as the docstring: typer keeps a docstring's
# line breaks inside a paragraph, so the page broke the sentence where the source did ("the
# walks of" / "today", T43 #13); each paragraph is one line here, and the Chinese comes first
# in runs short enough for rich to wrap between them.
IMPORT_OSM_HELP = (
    "导入OSM Import streets, alleys and buildings from an OpenStreetMap extract.\n\n"
    "路段停用、新增或恢复后，今天的路网就变了： 今天已匹配的巡查会按新路网重新匹配"
    "（或用 --queue-only 只排队）， 今天的报表才按今天的路段计算。 "
    "导入后列出改名的街巷、 改归其他街巷的路段、 所在街巷已停用的职责 和无人负责的新街巷。 "
    "When segments were retired, added or restored, today's network changed: the walks of "
    "today already matched are re-matched on it (or queued, --queue-only), so that today's "
    "report counts them on the segments it judges today by. The import then names the "
    "streets renamed, the segments moved to another street, the duties left on retired "
    "streets and the new streets with no duty."
)


@import_app.command("osm", help=IMPORT_OSM_HELP)
def import_osm(
    file: Path = typer.Argument(..., help="地图文件 OSM XML (.osm) or PBF (.osm.pbf) file"),
    retire: str = typer.Option("auto", "--retire", help=RETIRE_HELP),
    queue_only: bool = typer.Option(
        False,
        "--queue-only",
        help="只排队重新匹配 when the network changed, only queue today's walks for "
        "re-matching (running workers match them) instead of re-matching them now",
    ),
) -> None:
    """导入OSM Import streets, alleys and buildings from an OpenStreetMap extract (the
    page: :data:`IMPORT_OSM_HELP`)."""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.errors import InputError
    from geo.importer import RETIRE_MODES
    from geo.importer import import_osm as run

    mode = retire.strip().lower()
    if mode not in RETIRE_MODES:
        raise InputError(
            f"停用方式 --retire '{retire[:20]}' 有误，请用 {', '.join(RETIRE_MODES)} 之一 "
            f"--retire '{retire[:20]}' is not one of {', '.join(RETIRE_MODES)}"
        )
    _readable(file, "OSM file")
    engine = get_engine(create=True)  # an import sets a city up: it may make the cluster
    notes: dict[str, Any] = {}
    with progress_bar("导入 OSM import osm") as bar:
        counts = run(engine, file, progress=bar, retire=mode, notes=notes)
    _show("osm", counts)
    _network_notes(notes)
    for w in notes.get("warnings", []):  # buildings in no community (T48 #2, #6)
        typer.echo(f"warning: {w}", err=True)
    if counts.get("retire_skipped"):
        typer.echo(
            "未按范围停用任何已存路段：该文件没有 <bounds>，"
            "或其范围内没有任何已存路段（是别的区域的数据）。"
            "若它确实完整描述了其范围，用 --retire all 可停用范围内它没有的路段。 "
            "note: nothing stored was retired by area: the file has "
            "no <bounds>, or it holds none of the stored street segments inside them (another "
            "area's extract). If it does describe its area in full, --retire all retires what "
            "it lacks there."
        )
    _rematch_today(engine, counts, queue_only)


# how many of one kind of change are listed by name; the rest are counted (另有 N 条)
_LISTED = 20


def _street_words(kind: str, name: str | None, key: str, street_id: int) -> tuple[str, str]:
    """A street as the assign commands name it: 小巷 槐树胡同（id:12） / alley 槐树胡同 (id 12);
    an unnamed one by its key (way:N)."""
    from geo.duties import TARGET_LABELS

    word = TARGET_LABELS.get(kind, kind).split()[0]
    return f"{word} {name or key}（id:{street_id}）", f"{kind} {name or key} (id {street_id})"


def _listed(head: str, items: list[str]) -> None:
    """``head``, then each of ``items`` indented, up to :data:`_LISTED` of them."""
    typer.echo(head)
    for item in items[:_LISTED]:
        typer.echo(f"  {item}")
    if len(items) > _LISTED:
        typer.echo(f"  另有 {len(items) - _LISTED} 条 and {len(items) - _LISTED} more")


def _network_notes(notes: dict[str, Any]) -> None:
    """What the import changed that a planner acts on, by name (T43 #1-#3): the streets
    renamed (their duties kept), the segments moved to another street, every duty left on a
    retired street (with the command that ends it), and the new streets nobody holds. The
    counts are in the key=value line; these are its words."""
    import datetime as dt

    from geo.duties import ROLE_LABELS

    renamed = notes.get("renamed") or []
    if renamed:
        items = []
        for r in renamed:
            old = r["old_name"] or r["old_key"]
            new = r["new_name"] or r["new_key"]
            items.append(f"{old} → {new}（id:{r['id']}） {old} → {new} (id {r['id']})")
        _listed(
            f"街巷改名 {len(renamed)} 条，职责和过去的报表随街巷保留： "
            f"streets renamed: {len(renamed)}, their duties and past reports kept:",
            items,
        )
    moved = notes.get("moved") or []
    if moved:
        items = []
        for m in moved:
            a_zh, a_en = _street_words(m["from_kind"], m["from_name"], m["from_key"], m["from_id"])
            b_zh, b_en = _street_words(m["to_kind"], m["to_name"], m["to_key"], m["to_id"])
            items.append(f"{a_zh} → {b_zh}：{m['segments']} 条 {a_en} → {b_en}: {m['segments']}")
        n = sum(m["segments"] for m in moved)
        _listed(
            f"路段改归其他街巷 {n} 条（新街巷从今天起计，过去的日子仍记在原街巷）： "
            f"street segments moved to another street: {n} (counted there from today; past "
            "days keep the old street):",
            items,
        )
    duties = notes.get("retired_duties") or []
    if duties:
        items = []
        for d in duties:
            s_zh, s_en = _street_words(d["kind"], d["name"], d["key"], d["street_id"])
            role_zh, role_en = ROLE_LABELS.get(d["role"], f"{d['role']} {d['role']}").split(" ", 1)
            who = d["person_code"] or f"id:{d['person_id']}"
            last = d["retired_on"] - dt.timedelta(days=1)
            # its last day: the day before the street went (a day counts the network at its
            # end); a duty starting later has no day to keep and is undone instead
            if last >= d["valid_from"]:
                fix_zh, fix_en = "结束它", "to end it"
                fix = (
                    f"gridward assign end --person {who} --{d['kind']} {d['street_id']} "
                    f"--last-day {last}"
                )
            else:
                fix_zh, fix_en = "撤销它", "to undo it"
                fix = f"gridward assign undo --duty {d['id']}"
            items.append(
                f"{d['person_name']}（{who}）{role_zh}：{s_zh}于 {d['retired_on']} 停用，"
                f"职责自 {d['valid_from']} 起（职责编号 {d['id']}）；{fix_zh}：{fix} "
                f"{d['person_name']} ({who}) {role_en}: {s_en} retired on {d['retired_on']}, "
                f"duty {d['id']} since {d['valid_from']}; {fix_en}: {fix}"
            )
        _listed(
            f"所在街巷已停用的职责 {len(duties)} 条：请用 gridward assign set --replace 改派到"
            "别的街巷，或结束它 "
            f"duties on retired streets: {len(duties)}; move each to another street "
            "(gridward assign set --replace) or end it:",
            items,
        )
    fresh = notes.get("unstaffed_new") or []
    if fresh:
        items = []
        for f in fresh:
            s_zh, s_en = _street_words(f["kind"], f["name"], f["key"], f["street_id"])
            items.append(f"{s_zh}，{f['length_m']:.0f} 米 {s_en}, {f['length_m']:.0f} m")
        _listed(
            f"无人负责的新街巷 {len(fresh)} 条：请用 gridward assign set 安排职责 "
            f"new streets with no duty: {len(fresh)}; give each one with gridward assign set:",
            items,
        )


def _rematch_today(engine: Any, counts: dict[str, Any], queue_only: bool) -> None:
    """Re-match today's walks when the import changed the network (see :func:`import_osm`).

    WHY: a report judges a day on the segments live at its end. A walk of this morning was
    matched on the network before the import; a segment the import retired (re-split, gone)
    no longer counts today, so the steward's patrol fell out of today's report until someone
    ran ``tracks rematch`` (acceptance tester). Past days keep their own network and are
    left alone."""
    from api.cli_patrol import worker
    from geo.match_queue import requeue_tracks
    from geo.settings import city_today

    changed = sum(
        int(counts.get(k) or 0)
        for k in ("segments_retired", "segments_added", "segments_restored", "segments_moved")
    )
    if not changed:
        return
    queued, already = requeue_tracks(engine, since=city_today(), actor="cli import osm")
    if not queued + already:
        return
    typer.echo(
        f"路网已变更，今日的 {queued + already} 次巡查已排队按新路网重新匹配 "
        "the network changed: "
        f"{queued + already} walks of today queued for re-matching on it"
    )
    if not queue_only:
        worker(batch=200, watch=0.0)


def _vector_import(kind: str, doc: str, with_level: bool = False):
    """An ``import`` subcommand for a vector file in a declared CRS (areas/buildings/households)."""

    def run(file: Path, crs: str | None, level: str | None, replace: str | None = None) -> None:
        from api.progress import progress_bar
        from geo import areas_import, households_import, importer
        from geo.db import get_engine

        module = {"households": households_import, "areas": areas_import}.get(kind, importer)
        fn = getattr(module, f"import_{kind}")
        kwargs: dict = {"crs": crs, "level": level} if with_level else {"crs": crs}
        if replace:  # codes: comma-separated (T50 #1)
            for sep in "，、 ":
                replace = replace.replace(sep, ",")
            kwargs["replace_codes"] = [c for c in replace.split(",") if c]
        _readable(file, f"{kind} file")
        engine = get_engine(create=True)  # as import osm
        with progress_bar(f"导入{_KIND_ZH.get(kind, kind)} import {kind}") as bar:
            counts = fn(engine, file, progress=bar, **kwargs)
        warnings = counts.pop("warnings", [])  # not key=value: on stderr, after the line
        _show(kind, counts)
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)

    if with_level:

        def command(
            file: Path = typer.Argument(
                ...,
                help="区划文件 GeoJSON, GeoPackage, Shapefile (.shp or .zip), KML/KMZ or CSV "
                "(WKT); columns code/代码, name/名称, level/级别, parent_code/上级代码",
            ),
            crs: str = typer.Option(
                None,
                "--crs",
                help=CRS_HELP + "; a shapefile without its .prj needs it (Beijing: EPSG:4548)",
            ),
            level: str = typer.Option(
                None,
                "--level",
                help="区划级别 district, subdistrict, township, community or village "
                "(or 区/县, 街道, 乡/镇, 社区, 村)",
            ),
            replace_codes: str = typer.Option(
                None,
                "--replace-codes",
                help="替换已存区划 （代码以逗号分隔）： 以下情况照样导入 名称和边界都变、 "
                "改换上级（划归另一街道）、 新边界使下级区划落在其外；否则拒绝 "
                "codes, comma-separated: let the file's area of a stored "
                "code through when its name and outline both change, it names another parent "
                "(moved to another subdistrict), or its new outline leaves stored child areas "
                "outside (e.g. a district redrawn); otherwise such an area is refused",
            ),
        ) -> None:
            run(file, crs, level, replace_codes)

    else:

        def command(  # type: ignore[misc]
            file: Path = typer.Argument(..., help=_FILE_HELP[kind]),
            crs: str = typer.Option(None, "--crs", help=CRS_HELP),
        ) -> None:
            run(file, crs, None)

    command.__doc__ = doc
    return command


# what each file is (T71 #2: households showed the buildings' geometry-file help, naming
# neither .xlsx nor the 户数 column a census sheet needs)
_FILE_HELP = {
    "buildings": "楼栋文件 GeoJSON、GeoPackage、Shapefile 或 CSV（经纬度或 WKT） "
    "GeoJSON, GeoPackage, Shapefile or CSV (lon/lat or WKT)",
    "households": "户数表：CSV（UTF-8 或 GBK）或 .xlsx，户数列，及 楼栋编号、经度+纬度 或 楼栋名称 "
    "之一；也可用楼栋文件 census sheet: CSV (UTF-8 or GBK) or .xlsx with a 户数/households "
    "column and one of 楼栋编号/building_id, 经度+纬度/lon+lat or 楼栋名称/name; or a buildings "
    "file",
}


import_app.command("areas")(
    _vector_import("areas", "导入行政区划 Import administrative areas (code, name, level).", True)
)
import_app.command("buildings")(
    _vector_import(
        "buildings", "导入楼栋 Import building footprints (households given or estimated)."
    )
)
import_app.command("households")(
    _vector_import("households", "导入户数 Set given household counts on existing buildings.")
)


# the counts of gridward import people, in Chinese
_PEOPLE_ZH = {
    "created": "新增",
    "updated": "更新",
    "unchanged": "未变",
    "columns_left_out": "未读入的列",
    "reactivated": "重新启用",
    "kept_inactive": "仍离岗",
}


@import_app.command("people")
def import_people(
    file: Path = typer.Argument(
        ..., help="人员名册 CSV or XLSX: person_id, name, phone, role, lon/lat"
    ),
    reactivate: bool = typer.Option(
        False,
        "--reactivate",
        help="重新启用离岗人员 bring back the people of the file who had left; "
        "without it they stay inactive and are named in a warning",
    ),
    crs: str = typer.Option(
        None,
        "--crs",
        help="住址经纬度的坐标系 datum of the homes' lon/lat: wgs84 (GPS, the default), gcj02 "
        "(高德/腾讯), bd09 (百度), cgcs2000 or a geographic EPSG code such as EPSG:4490",
    ),
    same_person: str = typer.Option(
        None,
        "--same-person",
        help="确认为同一人改名并迁居 （人员编号以逗号分隔）： 这些行改了已登记人员的姓名，"
        " 住址或职责又在别处， 照样导入； 否则拒绝整个文件 registry ids, comma-separated: "
        "rows that rename a registered person and place them elsewhere (a home in another "
        "subdistrict, or a file of areas where they neither live nor hold a duty) are imported "
        "as that person renamed and moved; otherwise such a row refuses the file",
    ),
) -> None:
    """导入人员（角色：网格长、专职网格员、街巷长、小巷管家） Import the people registry.

    Columns the file lacks (a roles-only sheet) leave the stored names and phones alone; a
    title row above the header and 合计 rows at the end are left out with a warning."""
    from geo.db import get_engine
    from geo.people_import import import_people as run
    from geo.people_import import same_person_ids

    _readable(file, "people file")
    out = run(
        get_engine(create=True),
        file,
        actor="cli",
        reactivate=reactivate,
        crs=crs,
        same_person=same_person_ids(same_person),
    )
    from geo.assign.people import shown_columns

    warnings = out.pop("warnings", [])
    # the ids of the new and updated people are the API's (T67 #9): the line counts them
    for key in ("created_ids", "updated_ids"):
        out.pop(key, None)
    # columns_left_out=N counts every column left out, not the (cut) names (T45 #3: 11 for 100)
    n_left_out = out.pop("columns_left_out_count", None)
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in out.items()}
    if n_left_out is not None:
        counts["columns_left_out"] = n_left_out
    said = [f"读入 {counts.get('people_read', 0)} 人"] + [
        # the columns left out by name (T38 L9: "未读入的列 1 列" did not say which)
        f"{_PEOPLE_ZH[k]}：{'、'.join(shown_columns(out[k], n_left_out))}"
        if k == "columns_left_out"
        else f"{_PEOPLE_ZH[k]} {n} 人"
        for k, n in counts.items()
        if k in _PEOPLE_ZH
    ]
    # the key=value part stays last and verbatim: scripts read it
    typer.echo(f"已导入人员：{'，'.join(said)} " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)


# The page of export, one line per paragraph (typer keeps a docstring's line breaks: T43 #13)
EXPORT_HELP = (
    "导出 Export a stored layer (GeoJSON, GeoPackage, Shapefile, KML), the duty roster or the "
    "people registry.\n\n"
    "roster：每个网格、街、巷一行， 列出今天的在岗人员 "
    "（姓名和人员编号，加 --with-phone 才有手机号）。 "
    "people：人员名册， 含手机号和住址 （个人信息）， 列名即 gridward import people 所读的， "
    "原样导回不改动任何人； 已离岗人员只在加 --with-leavers 时列出； --area 只列住址在该社区、"
    "街道或区的人员 （同 API 的 area=）。 "
    "roster: one row per grid, street and alley with today's holders (names and 人员编号, no "
    "phones unless --with-phone). people: the registry with phones and homes (personal data), "
    "in the headers `gridward import people` reads: the unchanged file imports with no change; "
    "people who left (已离岗) are in it only with --with-leavers; --area: those living in that "
    "community, subdistrict or district (the API's area=)."
)


def export(
    layer: str = typer.Argument(
        ...,
        help="图层 grids, buildings, segments, streets or areas; 职责名册 roster (.csv/.xlsx); "
        "人员名册 people (.csv/.xlsx)",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="输出文件 output file: .geojson (or .json, GeoJSON), .gpkg, .shp (Shapefile) or "
        ".kml for a layer; .csv or .xlsx for roster, people and buildings (a census sheet). "
        "Its folder must exist",
    ),
    crs: str | None = typer.Option(
        None,
        "--crs",
        help="坐标系 CRS of a layer's file: wgs84 (default), cgcs2000 (EPSG:4490), a projected "
        "EPSG code in metres such as EPSG:4548 (CGCS2000 3-degree zone), gcj02 (高德/腾讯) or "
        "bd09 (百度); KML is always wgs84",
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="编码：Shapefile 的 .dbf 用 utf-8（默认）或 gbk（旧版 ArcGIS） encoding of a "
        "Shapefile's .dbf: utf-8 (default) or gbk (older ArcGIS); its .cpg says which",
    ),
    area: str | None = typer.Option(
        None,
        "--area",
        help="仅用于 roster 和 people： 社区、街道或区编码 （people：住址在其中的人员） roster "
        "and people only: a community, subdistrict or district code (people: those whose "
        "home lies in it)",
    ),
    with_phone: bool = typer.Option(
        False,
        "--with-phone",
        help="仅用于 roster：附手机号 （办公室留存用，公示只列姓名） roster only: add phone "
        "numbers (the office's copy; the 公示 board shows names only)",
    ),
    with_leavers: bool = typer.Option(
        False,
        "--with-leavers",
        help="仅用于 people：连同已离岗人员（加一列 在岗状态） people only: those who left too, "
        "with a 在岗状态 column",
    ),
) -> None:
    """导出 Export a stored layer, the duty roster or the people registry (the page:
    :data:`EXPORT_HELP`)."""
    from geo.db import get_engine
    from geo.errors import InputError

    # T49 #4-#6: options of one kind of export refused for another, before any work
    table = layer in ("roster", "people")
    given = {"--crs": crs, "--encoding": encoding, "--area": area, "--with-phone": with_phone}
    wrong = [
        k
        for k, v in given.items()
        if v and (k in ("--crs", "--encoding") if table else k in ("--area", "--with-phone"))
    ]
    if with_leavers and layer != "people":
        wrong.append("--with-leavers")
    if wrong or (layer == "people" and with_phone):  # T70 #12: people takes --area
        opt = (wrong or ["--with-phone"])[0]
        raise InputError(f"选项 {opt} 不用于导出 {layer} option {opt} is not for exporting {layer}")
    if layer == "roster":
        from geo.roster_export import export_roster

        n = export_roster(get_engine(), out, area=area, with_phone=with_phone)
    elif layer == "people":
        from geo.people_export import export_people

        n = export_people(get_engine(), out, area=area, leavers=with_leavers)
    else:
        from geo.export import export_layer

        n = export_layer(get_engine(), layer, out, crs=crs, encoding=encoding)
    zh_unit, en_unit = _LAYER_UNITS.get(layer, ("条", layer))
    typer.echo(
        f"已写入 {out}：{_LAYER_ZH.get(layer, layer)} {n} {zh_unit} wrote {n} {en_unit} to {out}"
    )


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``export``."""
    app.add_typer(import_app, name="import")
    app.command("export", help=EXPORT_HELP)(export)
