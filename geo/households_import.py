"""Given household counts (户数) for buildings already stored: a census table or file whose
rows name a building by id, by a point inside it, or by its name. Every row must match
exactly one building, else nothing is changed.

A census comes as the office keeps it (outside tester T46): a CSV or an XLSX with a title
row and 合计/制表人 rows (:mod:`geo.census_table`), rows named by the spreadsheet's own row
number in every message; or a vector file (GeoJSON, GeoPackage, Shapefile), its features
named by their number. Two rows for one building must agree (an exact repeat is applied
once, with a warning); unmatched rows are all named at once, with a hint when the points
look like GCJ-02 or BD-09 read as WGS-84.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geo.census_table import OTHER_SHEETS, TABLE_SUFFIXES, CensusTable, read_census
from geo.crs import WGS84, lonlat_to_wgs84, normalize_crs
from geo.errors import InputError, count_en
from geo.importer import (
    Progress,
    copy_rows,
    ewkb_hex,
    file_sha256,
    grid_households,
    no_progress,
    record_import,
    short_staffed_notes,
)
from geo.partition.validate import MAX_BUILDING_HOUSEHOLDS
from geo.plans import refresh_grid_households
from geo.vector_io import (
    HOUSEHOLD_NAMES,
    LAT_NAMES,
    LON_NAMES,
    VECTOR_SUFFIXES,
    fields_found,
    pick_column,
)

# A column naming the building itself. WHY two groups: a census's generic "编号"/"id"
# column is as often its row serial (1, 2, 3 …, matching building ids 1, 2, 3 by chance)
# as a building id, so it keys the rows only when the file gives no lon/lat
STRONG_ID_COLUMNS = ("building_id", "source_key", "楼栋编号", "楼栋id")
WEAK_ID_COLUMNS = ("id", "编号")
# the building's name as stored (buildings.name, OSM's name): a key when nothing else is given
NAME_COLUMNS = ("building_name", "楼栋名称", "楼名", "楼号", "name", "名称")
# cells that help a person find a row (named beside the row's number in a refusal)
ADDRESS_COLUMNS = ("address", "地址", "楼栋地址", "门牌", "门牌地址", "详细地址")
SHOWN_ROWS = 20  # rows a refusal lists, then how many more
# where a count came from, as gridward's buildings export writes it (hh_source in its
# shapefile). WHY (T49 #2): the unchanged export fed back turned all 153 estimates into
# census-given counts; a row the file itself calls estimated is no census figure
SOURCE_COLUMNS = ("household_source", "hh_source", "户数来源")
ESTIMATED_SOURCES = ("estimated", "估算", "估算值")


@dataclass
class _Numbering:
    """How the file's rows are named: a table's by the spreadsheet's own row numbers (the
    header's row counted), a vector file's features by their number from 1."""

    zh: str  # "行" or "个要素"
    en: str  # "row" or "feature"

    def one(self, n: int) -> tuple[str, str]:
        return f"第 {n} {self.zh}", f"{self.en} {n}"

    def many(self, nums: list[int]) -> tuple[str, str]:
        """第 60、61 行 / rows 60, 61 (at most SHOWN_ROWS numbers, then how many)."""
        shown = nums[:SHOWN_ROWS]
        zh = "、".join(map(str, shown))
        en = ", ".join(map(str, shown))
        if len(nums) > len(shown):
            zh += f" 等 {len(nums)}"
            en += f" and {len(nums) - len(shown)} more"
        if len(nums) == 2:  # 第 1 行与第 3 行 / rows 1 and 3
            a, b = nums
            return f"第 {a} {self.zh}与第 {b} {self.zh}", f"{self.en}s {a} and {b}"
        return f"第 {zh} {self.zh}", f"{self.en}{'s' if len(nums) > 1 else ''} {en}"


@dataclass
class _Rows:
    """A file's rows as staged: number, key (id or name, or None), households, point
    (EWKB hex, or None), and how a message names each (Chinese, English)."""

    numbering: _Numbering
    mode: str  # "id", "name" or "point"
    numbers: list[int] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    households: list[int] = field(default_factory=list)
    geoms: list[str | None] = field(default_factory=list)
    labels: list[tuple[str, str]] = field(default_factory=list)
    # the coordinates as the file gives them and their CRS: a wrong datum is told from them
    raw_xy: np.ndarray | None = None
    source: str | None = None
    # the file's household_source column (SOURCE_COLUMNS) and, per row, whether it says the
    # count is an estimate (such rows are left out: _without_estimated)
    source_col: str | None = None
    estimated: list[bool] = field(default_factory=list)
    # per row, whether that column is present but its cell blank: the source not stated
    # (T51 #5; empty list: no such column)
    unstated: list[bool] = field(default_factory=list)


def source_words(col: str | None) -> tuple[str, str]:
    """The words for an estimate and a given count in the source column ``col``: 估算/给定
    under a Chinese header (户数来源: gridward's census sheet writes them, T70 #16), else
    estimated/given (its GeoJSON export's household_source), so a message names the value
    the file holds and the one to write."""
    chinese = bool(col) and any(ord(ch) > 127 for ch in str(col))
    return ("估算", "给定") if chinese else ("estimated", "given")


def _estimated(values: pd.Series) -> list[bool]:
    return [
        v is not None and not pd.isna(v) and str(v).strip().lower() in ESTIMATED_SOURCES
        for v in values
    ]


def _unstated(values: pd.Series) -> list[bool]:
    return [v is None or pd.isna(v) or not str(v).strip() for v in values]


def _without_estimated(rows: _Rows) -> tuple[_Rows, int]:
    """``rows`` without those the file marks as estimated, and how many were left out."""
    if not any(rows.estimated):
        return rows, 0
    keep = [not e for e in rows.estimated]
    return _subset(rows, keep), len(keep) - sum(keep)


def _subset(rows: _Rows, keep: list[bool]) -> _Rows:
    """The rows of ``rows`` where ``keep`` is true."""

    def kept(values: list) -> list:
        return [v for v, k in zip(values, keep, strict=True) if k]

    return _Rows(
        rows.numbering,
        rows.mode,
        kept(rows.numbers),
        kept(rows.keys),
        kept(rows.households),
        kept(rows.geoms),
        kept(rows.labels),
        None if rows.raw_xy is None else rows.raw_xy[np.asarray(keep)],
        rows.source,
        rows.source_col,
        kept(rows.estimated),
        kept(rows.unstated) if rows.unstated else [],
    )


def _refuse_type(path: Path) -> InputError:
    suffix = path.suffix.lower()
    if suffix in OTHER_SHEETS:
        return InputError(
            f"文件 {path.name} 的类型 '{suffix}' 不支持：户数表请另存为 .xlsx 或 CSV "
            f"{path.name}: unsupported file type '{suffix}': save the census as .xlsx or CSV"
        )
    return InputError(
        f"文件 {path.name} 的类型 '{suffix}' 不支持，请用 CSV、XLSX、GeoJSON、GeoPackage 或 "
        f"Shapefile {path.name}: unsupported file type '{suffix}': use CSV, XLSX, GeoJSON, "
        "GeoPackage or Shapefile"
    )


def _households(values: pd.Series, name: str, numbering: _Numbering) -> list[int]:
    """The households cells as whole numbers ≥ 0; a refusal names every row without one or
    with a bad one, by its number. "1,234" (Excel's thousands) reads 1234."""
    cells = values.map(lambda v: None if v is None or pd.isna(v) else str(v).strip())
    cells = cells.map(lambda v: v or None)
    plain = cells.str.replace(
        r"^(\d{1,3})((?:,\d{3})+)$", lambda m: m[0].replace(",", ""), regex=True
    )
    num = pd.to_numeric(plain, errors="coerce")
    nums = list(values.index)
    missing = cells.isna().to_numpy()
    if missing.any():
        where_zh, where = numbering.many([nums[i] for i in np.flatnonzero(missing)])
        raise InputError(
            f"文件 {name} {where_zh}没有户数，请填上（户数为 0 也请写 0）；未作任何改动 "
            f"{name}: {where} {'has' if missing.sum() == 1 else 'have'} no households value "
            "(nothing changed)"
        )
    bad = (num.isna() | (num < 0) | (num % 1 != 0)).to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)
        items_zh = "；".join(
            f"{numbering.one(nums[i])[0]} '{cells.iloc[i]}'" for i in idx[:SHOWN_ROWS]
        )
        items = "; ".join(
            f"{numbering.one(nums[i])[1]} '{cells.iloc[i]}'" for i in idx[:SHOWN_ROWS]
        )
        raise InputError(
            f"文件 {name} 的户数须为 ≥ 0 的整数，这些{numbering.zh.removeprefix('个')}不是"
            f"（{items_zh}，共 {len(idx)} 处）；未作任何改动 "
            f"{name}: households must be a whole number ≥ 0; {items} ({len(idx)} in all; "
            "nothing changed)"
        )
    huge = (num > MAX_BUILDING_HOUSEHOLDS).to_numpy()
    if huge.any():  # as file-mode partition refuses it (geo.partition.validate)
        i = int(np.flatnonzero(huge)[0])
        where_zh, where = numbering.one(nums[i])
        raise InputError(
            f"文件 {name} {where_zh}的户数为 {cells.iloc[i]}，一栋楼不可能有这么多"
            f"（超过 {MAX_BUILDING_HOUSEHOLDS:,} 户） "
            f"{name}: {where} has households {cells.iloc[i]}, not "
            f"plausible for one building (more than {MAX_BUILDING_HOUSEHOLDS:,})"
        )
    return [int(v) for v in num]


def _cut(names: list[str]) -> str:
    from geo.assign.people import shown_columns

    return ", ".join(shown_columns(names)) if names else ""


def _table_rows(path: Path, census: CensusTable, crs: str | None) -> _Rows:
    """The rows of a census table, keyed by building id, lon/lat or building name."""
    name, df, found = path.name, census.frame, census.columns
    numbering = _Numbering("行", "row")
    cols = list(df.columns)
    hh_col = pick_column(cols, HOUSEHOLD_NAMES)
    if hh_col is None:
        shown_zh, shown = _cut(found) or "无", _cut(found) or "none"
        raise InputError(
            f"文件 {name} 没有户数列（households 或 户数；现有的列：{shown_zh}） "
            f"{name}: no households column (households or 户数); found {shown}"
        )
    if df.empty:
        raise InputError(f"文件 {name} 没有数据行 {name}: the file has no rows")
    households = _households(df[hh_col], name, numbering)
    lon_col, lat_col = pick_column(cols, LON_NAMES), pick_column(cols, LAT_NAMES)
    id_col = pick_column(cols, STRONG_ID_COLUMNS)
    xy = lon_col is not None and lat_col is not None
    if id_col is None and not xy:
        id_col = pick_column(cols, WEAK_ID_COLUMNS)
    name_col = pick_column(cols, NAME_COLUMNS)
    addr_col = pick_column(cols, ADDRESS_COLUMNS)
    mode = "id" if id_col is not None else "point" if xy else "name" if name_col else None
    if mode is None:
        shown = _cut(found)
        raise InputError(
            f"文件 {name} 没有指明楼栋的列：须有楼栋编号（building_id）列、经度/纬度两列或楼栋名称"
            f"（楼栋名称、name）列（现有的列：{shown}） "
            f"{name}: no column naming the building: give building_id, lon/lat (经度/纬度) or "
            f"a building name (楼栋名称, name); found {shown}"
        )
    rows = _Rows(numbering, mode, numbers=[int(n) for n in df.index], households=households)
    rows.source_col = pick_column(cols, SOURCE_COLUMNS)
    rows.estimated = _estimated(df[rows.source_col]) if rows.source_col else [False] * len(df)
    rows.unstated = _unstated(df[rows.source_col]) if rows.source_col else []
    nums = rows.numbers

    def cell(col: str | None, i: int) -> str | None:
        return None if col is None else df[col].iloc[i]

    def described(i: int, key_zh: str, key_en: str) -> tuple[str, str]:
        seen = [c for c in (cell(addr_col, i), cell(name_col, i) if mode != "name" else None) if c]
        desc = "，".join(seen)
        return (
            f"第 {nums[i]} 行 {desc}（{key_zh}）" if desc else f"第 {nums[i]} 行（{key_zh}）",
            f"row {nums[i]} {', '.join(seen)} ({key_en})" if desc else f"row {nums[i]} ({key_en})",
        )

    if mode in ("id", "name"):
        col = id_col if mode == "id" else name_col
        what_zh, what = (
            ("楼栋编号", "building id") if mode == "id" else ("楼栋名称", "building name")
        )
        keys = [cell(col, i) for i in range(len(df))]
        empty = [nums[i] for i, k in enumerate(keys) if not k]
        if empty:
            where_zh, where = numbering.many(empty)
            raise InputError(
                f"文件 {name} {where_zh}没有{what_zh}（{col} 列为空），请填上；未作任何改动 "
                f"{name}: {where} {'has' if len(empty) == 1 else 'have'} no {what} "
                f"(column {col} is empty; nothing changed)"
            )
        rows.keys = keys
        rows.geoms = [None] * len(df)
        rows.labels = [
            described(i, f"{what_zh} '{k}'", f"{what} '{k}'") for i, k in enumerate(keys)
        ]
        return rows
    lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        idx = np.flatnonzero(bad)
        given_xy = [(nums[i], cell(lon_col, i) or "", cell(lat_col, i) or "") for i in idx]
        items_zh = "；".join(
            f"第 {n} 行 {lon_col} '{x}'、{lat_col} '{y}'" for n, x, y in given_xy[:SHOWN_ROWS]
        )
        items = "; ".join(
            f"row {n} {lon_col} '{x}', {lat_col} '{y}'" for n, x, y in given_xy[:SHOWN_ROWS]
        )
        raise InputError(
            f"文件 {name} 的 {lon_col}/{lat_col} 须为数字，这些行不是"
            f"（{items_zh}，共 {len(idx)} 行）；未作任何改动 "
            f"{name}: {lon_col}/{lat_col} must be numbers; {items} ({len(idx)} row(s); "
            "nothing changed)"
        )
    from geo.vector_io import swapped_axes

    source = normalize_crs(crs) if crs else WGS84
    raw = shapely.points(lon, lat)
    swapped = swapped_axes(name, raw, source, (str(lon_col), str(lat_col)))
    if swapped is not None:
        raise swapped
    wlon, wlat = lonlat_to_wgs84(lon, lat, source)
    out = ~((np.abs(wlon) <= 180) & (np.abs(wlat) <= 90))
    if out.any():
        where_zh, where = numbering.many([nums[i] for i in np.flatnonzero(out)])
        raise InputError(
            f"文件 {name} {where_zh}的坐标从 {source} 换算后超出经纬度范围：--crs 是否写对了？"
            f"未作任何改动 "
            f"{name}: {where}: coordinates outside longitude/latitude range after converting "
            f"from {source}: is --crs right? (nothing changed)"
        )
    rows.keys = [None] * len(df)
    rows.geoms = ewkb_hex(shapely.points(wlon, wlat))
    rows.labels = [
        described(
            i,
            f"经度 {cell(lon_col, i)}，纬度 {cell(lat_col, i)}",
            f"lon {cell(lon_col, i)}, lat {cell(lat_col, i)}",
        )
        for i in range(len(df))
    ]
    if source in (WGS84, "gcj02", "bd09"):
        rows.raw_xy, rows.source = np.column_stack([lon, lat]), source
    return rows


def _vector_rows(path: Path, crs: str | None) -> _Rows:
    """The features of a vector file, keyed by an id property or by a point inside each."""
    from geo.vector_io import read_vector

    table = read_vector(path, crs)
    name = path.name
    numbering = _Numbering("个要素", "feature")
    hh_col = pick_column(table.columns, HOUSEHOLD_NAMES)
    if hh_col is None:
        field_zh, fld, found = fields_found(path, table)  # properties, not columns (T41 #6)
        found_zh, found = found or "无", found or "none"
        raise InputError(
            f"文件 {name} 没有户数{field_zh}（households 或 户数；"
            f"现有的{field_zh}：{found_zh}） "
            f"{name}: no households {fld} (households or 户数); found {found}"
        )
    table.index = range(1, len(table) + 1)
    households = _households(table[hh_col], name, numbering)
    id_col = pick_column(table.columns, STRONG_ID_COLUMNS + WEAK_ID_COLUMNS)
    nums = list(table.index)
    source_col = pick_column(table.columns, SOURCE_COLUMNS)
    estimated = _estimated(table[source_col]) if source_col else [False] * len(nums)
    unstated = _unstated(table[source_col]) if source_col else []
    if id_col is not None:
        keys = [None if pd.isna(k) else str(k).strip() or None for k in table[id_col]]
        rows = _Rows(numbering, "id", nums, keys, households, [None] * len(nums))
        rows.labels = [(f"第 {n} 个要素（楼栋编号 '{k}'）", f"feature {n} (building id '{k}')")
                       for n, k in zip(nums, keys, strict=True)]  # fmt: skip
        rows.source_col, rows.estimated, rows.unstated = source_col, estimated, unstated
        return rows
    geoms = np.asarray(table.geometry.to_numpy(), dtype=object)
    pts = shapely.point_on_surface(geoms)
    xy = shapely.get_coordinates(pts)
    rows = _Rows(numbering, "point", nums, [None] * len(nums), households, ewkb_hex(pts))
    rows.labels = [
        (f"第 {n} 个要素（经度 {x:.6f}，纬度 {y:.6f}）", f"feature {n} (lon {x:.6f}, lat {y:.6f})")
        for n, (x, y) in zip(nums, xy, strict=True)
    ]
    if crs is None:  # as the file gives them (WGS 84): a datum may be told
        rows.raw_xy, rows.source = xy, WGS84
    rows.source_col, rows.estimated, rows.unstated = source_col, estimated, unstated
    return rows


_DATUMS = {  # (Chinese, English) names of each datum, and what a message calls it
    "gcj02": ("GCJ-02（高德/腾讯）", "GCJ-02 (Amap/Tencent)"),
    "bd09": ("BD-09（百度）", "BD-09 (Baidu)"),
    WGS84: ("WGS-84（GPS）", "WGS-84 (GPS)"),
}


def _matched(conn: Connection, geoms: list[str]) -> int:
    """How many of ``geoms`` (EWKB hex points) lie in a stored building."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM unnest(CAST(:g AS text[])) AS g WHERE EXISTS ("
                "SELECT 1 FROM buildings b WHERE ST_Intersects(b.geom, CAST(g AS geometry)))"
            ),
            {"g": geoms},
        ).scalar()
    )


def _datum_hint(conn: Connection, rows: _Rows, matched: int) -> tuple[str, str]:
    """A hint when the points, read in another datum, would match most rows (T46 #9: 49 of
    59 GCJ-02 census points missed their building, ~500 m off, and nothing said why): the
    datum whose reading matches the most rows, if that is more than as given and at least
    half the rows. ("", "") otherwise."""
    if rows.raw_xy is None or rows.source is None:
        return "", ""
    n = len(rows.numbers)
    best, best_n = None, matched
    for datum in _DATUMS:
        if datum == rows.source:
            continue
        lon, lat = lonlat_to_wgs84(rows.raw_xy[:, 0], rows.raw_xy[:, 1], datum)
        k = _matched(conn, ewkb_hex(shapely.points(lon, lat)))
        if k > best_n and 2 * k >= n:
            best, best_n = datum, k
    if best is None:
        return "", ""
    zh, en = _DATUMS[best]
    if best == WGS84:
        do_zh, do = f"请去掉 --crs {rows.source}", f"leave out --crs {rows.source}"
    else:
        do_zh, do = f"请加 --crs {best}", f"add --crs {best}"
    return (
        f"。坐标像是 {zh}，{do_zh}（按此换算后 {best_n}/{n} 行能对上楼栋）",
        f". The coordinates look like {en}: {do} (read so, {best_n} of {n} rows match a building)",
    )


def _listed(labels: list[tuple[str, str]], unit_zh: str) -> tuple[str, str]:
    zh = "；".join(z for z, _e in labels[:SHOWN_ROWS])
    en = "; ".join(e for _z, e in labels[:SHOWN_ROWS])
    if len(labels) > SHOWN_ROWS:
        more = len(labels) - SHOWN_ROWS
        zh += f"；另有 {more} {unit_zh}"
        en += f"; {more} more"
    return zh, en


def _building(bid: int, bname: str | None) -> tuple[str, str]:
    return (
        (f"楼栋 {bid}（{bname}）", f"building {bid} ({bname})")
        if bname
        else (f"楼栋 {bid}", f"building {bid}")
    )


_ON = {  # how a staged row names its building, by the file's mode
    "id": (
        "b.source_key = s.key OR b.id::text = s.key "
        "OR b.source_key = 'osm:w' || s.key OR b.source_key = 'file:' || s.key"
    ),
    "name": "b.name = s.key",
    "point": "ST_Intersects(b.geom, s.geom)",
}
EDITS_SHOWN = 5  # edited estimates a warning names, then how many


def _stage(conn: Connection, table: str, rows: _Rows) -> None:
    """``rows`` copied into a new temp table ``table`` (rownum, key, households, geom),
    dropped at commit: the import's rows, and the rows marked estimated it checks for edits."""
    conn.execute(
        text(
            f"CREATE TEMP TABLE {table} (rownum int, key text, households int, geom geometry) "
            "ON COMMIT DROP"
        )
    )
    staged = zip(rows.numbers, rows.keys, rows.households, rows.geoms, strict=True)
    copy_rows(conn, table, ["rownum", "key", "households", "geom"], staged)


def _edited_estimates(conn: Connection, marked: _Rows) -> str | None:
    """A warning naming the rows marked estimated whose count differs from their building's
    stored estimate (first EDITS_SHOWN, old→new, then how many), None for none. Such rows
    are still not imported: the file says the count is an estimate. WHY (T51 #4): a clerk
    added households to 3 buildings of the buildings export, left household_source as it was
    (estimated), and the import said only that all 153 estimated rows were left out: her 3
    edits were lost without being named. Rows naming no building or several are passed
    by (they are not imported either way)."""
    _stage(conn, "stage_hh_est", marked)
    edits = conn.execute(
        text(
            "SELECT s.rownum, min(b.id) AS id, min(b.name) AS name, "
            "min(b.households) AS old, min(s.households) AS new FROM stage_hh_est s "
            f"JOIN buildings b ON ({_ON[marked.mode]}) GROUP BY s.rownum "
            "HAVING count(b.id) = 1 AND bool_and(b.household_source = 'estimated') "
            "AND min(b.households) IS DISTINCT FROM min(s.households) ORDER BY s.rownum"
        )
    ).all()
    if not edits:
        return None
    col, n = marked.source_col, len(edits)
    est, giv = source_words(col)
    shown = [(_building(e.id, e.name), e.old, e.new) for e in edits[:EDITS_SHOWN]]
    more_zh = f" 等 {n} {marked.numbering.zh}" if n > EDITS_SHOWN else ""
    more = f" and {n - EDITS_SHOWN} more" if n > EDITS_SHOWN else ""
    listed_zh = "、".join(f"{b[0]} {old}→{new}" for b, old, new in shown)
    listed = ", ".join(f"{b[1]} {old}→{new}" for b, old, new in shown)
    rows_en = f"{n} {marked.numbering.en}{'' if n == 1 else 's'}"
    return (
        f"{n} {marked.numbering.zh}标为 {col}={est} 的户数与现存估算值不同（{listed_zh}"
        f"{more_zh}），因标为估算值未导入；如是新的户数，请把这些行的 {col} 改为 {giv} 后重新导入 "
        f"{rows_en} marked {col}={est} {'gives' if n == 1 else 'give'} households other "
        "than the stored estimate "
        f"({listed}{more}): not imported, being marked estimated; if they are new counts, "
        f"set {col} to {giv} on "
        f"{'that row' if n == 1 else 'those rows'} and import again"
    )


def import_households(
    engine: Engine,
    path: str | Path,
    crs: str | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Set given household counts on existing buildings.

    Rows name their building by id (``building_id``: a gridward id, a source key such as
    ``osm:w123``, or an OSM way id), by a point (lon/lat columns or point geometry) inside
    the footprint, or by its stored name (``楼栋名称``/``name``) when that names exactly one
    building. Every row must match exactly one building, and rows for one building must give
    the same count, else nothing is changed. Rows whose ``household_source`` column says
    ``estimated`` (gridward's buildings export) are left out, with a warning. Returns the
    counts (``rows`` read, ``buildings_updated``: distinct buildings whose count changed,
    ``grids_updated``, ``buildings_confirmed``: an estimate confirmed by an equal census
    count, now given, ``buildings_unchanged``: already given with that count,
    ``rows_estimated``: rows left out) and ``warnings`` (rows left out, repeated rows, and
    the grids the new counts left short of full-time workers, by code, with whether anyone
    is free to staff them: :func:`geo.importer.short_staffed_notes`).
    """
    path = Path(path)
    progress(0.0, "读取户数 reading households")
    suffix = path.suffix.lower()
    warnings: list[str] = []
    if suffix in TABLE_SUFFIXES:
        census = read_census(path, HOUSEHOLD_NAMES)
        warnings += census.warnings
        rows = _table_rows(path, census, crs)
    elif suffix in VECTOR_SUFFIXES:
        rows = _vector_rows(path, crs)
    else:
        raise _refuse_type(path)
    name, numbering = path.name, rows.numbering
    read = len(rows.numbers)
    marked = _subset(rows, rows.estimated) if any(rows.estimated) else None
    rows, n_estimated = _without_estimated(rows)
    if n_estimated:
        col = rows.source_col
        est, giv = source_words(col)
        warnings.append(
            f"{n_estimated} {numbering.zh}的户数是估算值（{col}={est}），未作为普查户数导入；"
            f"若确是普查户数，请把 {col} 列改为 {giv} 或删去该列 "
            f"{n_estimated} {numbering.en}{'' if n_estimated == 1 else 's'} "
            f"{'gives' if n_estimated == 1 else 'give'} estimated households "
            f"({col}={est}): not imported as census counts; if they are census counts, "
            f"set {col} to {giv} or delete the column"
        )
    sha = file_sha256(path)
    with engine.begin() as conn:
        _stage(conn, "stage_hh", rows)
        on = _ON[rows.mode]
        matches = conn.execute(
            text(
                "SELECT s.rownum, count(b.id) AS n, min(b.id) AS building_id, "
                "min(b.name) AS name FROM stage_hh s "
                f"LEFT JOIN buildings b ON ({on}) GROUP BY s.rownum ORDER BY s.rownum"
            )
        ).all()
        label = dict(zip(rows.numbers, rows.labels, strict=True))
        unmatched = [m.rownum for m in matches if m.n == 0]
        if unmatched:
            hint_zh, hint = ("", "")
            if rows.mode == "point":
                hint_zh, hint = _datum_hint(conn, rows, len(matches) - len(unmatched))
            where_zh, where = numbering.many(unmatched)
            items_zh, items = _listed([label[n] for n in unmatched], numbering.zh)
            one = len(unmatched) == 1
            if rows.mode == "point":
                what_zh = "的位置上没有楼栋"
                # (T48 #7) was "rows 62 and 63 name buildings at their locations, which do
                # not exist"
                what = f"no building at the location{'' if one else 's'} of {where}"
            else:
                what_zh = "所指的楼栋不存在"
                what = (
                    f"{where} names a building which does not exist"
                    if one
                    else f"{where} name buildings which do not exist"
                )
            unit = f"{numbering.en}{'' if one else 's'}"  # not "2 row(s)" (T48 #7)
            # (T46 #8) every unmatched row at once, with what it gives, not the first only
            raise InputError(
                f"文件 {name} {where_zh}{what_zh}（共 {len(unmatched)} {numbering.zh}"
                f"对不上；未作任何改动）{hint_zh}：{items_zh} "
                f"{name}: {what} ({len(unmatched)} {unit} unmatched; nothing changed)"
                f"{hint}: {items}"
            )
        ambiguous = [m for m in matches if m.n > 1]
        if ambiguous:
            items_zh, items = _listed(
                [
                    (f"{label[m.rownum][0]}对应 {m.n} 栋", f"{label[m.rownum][1]} matches {m.n}")
                    for m in ambiguous
                ],
                numbering.zh,
            )
            # (T48 #7) the rows counted, then each named once with what it gives: "第 2 行对应
            # 不止一栋楼…：第 2 行（楼栋名称 '教学楼'）对应 3 栋" / "row 2 matches more than one
            # building (row 2 (…) matches 3)" named row 2 twice
            n = len(ambiguous)
            rows_en = f"{n} {numbering.en} matches" if n == 1 else f"{n} {numbering.en}s match"
            raise InputError(
                f"文件 {name} 有 {n} {numbering.zh}对应不止一栋楼，请改用楼栋编号：{items_zh}"
                f"（未作任何改动） "
                f"{name}: {rows_en} more than one building: {items}; "
                "give building ids instead (nothing changed)"
            )
        given = dict(zip(rows.numbers, rows.households, strict=True))
        by_building: dict[int, list[int]] = {}
        names: dict[int, str | None] = {}
        for m in matches:
            by_building.setdefault(m.building_id, []).append(m.rownum)
            names[m.building_id] = m.name
        conflicts_zh: list[str] = []
        conflicts: list[str] = []
        for bid, nums in by_building.items():
            if len(nums) < 2:
                continue
            where_zh, where = numbering.many(nums)
            b_zh, b_en = _building(bid, names[bid])
            values = [given[n] for n in nums]
            shown = " / ".join(map(str, values))
            if len(set(values)) > 1:
                conflicts_zh.append(f"{where_zh}指向同一{b_zh}，户数不同（{shown}）")
                conflicts.append(
                    f"{where} name the same {b_en} with different households ({shown})"
                )
            else:
                # (T46 #5) an exact repeat (a row pasted twice): applied once, counted once
                warnings.append(
                    f"{where_zh}指向同一{b_zh}，户数相同（{values[0]}），只计一次 "
                    f"{where} name the same {b_en} with the same households ({values[0]}): "
                    "counted once"
                )
        if conflicts:
            # (T46 #5) the last row silently won (131 then 999: 999 stored)
            n_c = len(conflicts)
            listed_zh, listed = _listed(list(zip(conflicts_zh, conflicts, strict=True)), "栋")
            raise InputError(
                f"文件 {name} 有 {n_c} 栋楼在多行中出现且户数不同，请只保留正确的一行："
                f"{listed_zh}（未作任何改动） "
                f"{name}: {n_c} building(s) appear in several rows with different "
                f"households; keep the right row: {listed} (nothing changed)"
            )
        new = {b: given[nums[0]] for b, nums in by_building.items()}
        # the buildings whose every row leaves household_source blank (T51 #5)
        unstated_rows = {n for n, u in zip(rows.numbers, rows.unstated, strict=False) if u}
        unstated = {b for b, nums in by_building.items() if set(nums) <= unstated_rows}
        stored = dict(
            (r.id, (r.households, r.household_source))
            for r in conn.execute(
                text(
                    "SELECT id, households, household_source FROM buildings "
                    "WHERE id = ANY(CAST(:ids AS int[]))"
                ),
                {"ids": list(new)},
            )
        )
        # (T49 #2) a count equal to the stored one changes nothing when it is already given
        # (not "updated"); equal to an estimate, it confirms it: the building becomes given
        updated = [b for b in new if stored[b][0] != new[b]]
        # (T51 #5) a blank household_source does not say "census": a count equal to the
        # estimate leaves it an estimate (a blanked column turned all 150 into given), as
        # an unchanged export writes nothing. An explicit source other than estimated, or
        # a file without the column (a census table), confirms it
        same = [b for b in new if stored[b] == (new[b], "estimated")]
        kept_estimates = [b for b in same if b in unstated]
        confirmed = [b for b in same if b not in unstated]
        ids = updated + confirmed
        grids_before = grid_households(conn)
        conn.execute(
            text(
                "UPDATE buildings b SET households = s.households, household_source = 'given', "
                "updated_at = now() FROM (SELECT unnest(CAST(:ids AS int[])) AS id, "
                "unnest(CAST(:hh AS int[])) AS households) s WHERE b.id = s.id"
            ),
            {"ids": ids, "hh": [new[b] for b in ids]},
        )
        counts: dict = {"rows": read, "buildings_updated": len(updated)}
        counts["grids_updated"] = refresh_grid_households(conn)  # counts follow buildings
        # (T70 #17) the grids this left short of full-time workers, as plans commit names them
        warnings += short_staffed_notes(conn, grids_before)
        # after the older keys: scripts read the key=value line
        counts["buildings_confirmed"] = len(confirmed)
        counts["buildings_unchanged"] = len(new) - len(ids)
        counts["rows_estimated"] = n_estimated
        if marked is not None:
            edited = _edited_estimates(conn, marked)
            if edited:
                warnings.append(edited)
        if kept_estimates:
            col, k = rows.source_col, len(kept_estimates)
            giv = source_words(col)[1]
            warnings.append(
                f"{k} 栋楼的 {col} 为空且户数与现存估算值相同，仍为估算值（未改为普查给定）；"
                f"如是普查户数，请在这些行的 {col} 填 {giv} 后重新导入 "
                f"{count_en(k, 'building', 'buildings')} with a blank {col} "
                f"{'gives' if k == 1 else 'give'} the stored estimate: kept as "
                f"{'an estimate' if k == 1 else 'estimates'} (not made census-given); if "
                f"they are census counts, write {giv} in {col} and import again"
            )
        record_import(conn, "households", path, sha, counts)
    progress(1.0, "完成 done")
    return {**counts, "warnings": warnings}
