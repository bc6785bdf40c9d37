"""A grids file edited in a GIS (QGIS…) brought back as a DRAFT plan (T49 #7).

WHY: a clerk who moved a boundary, merged two grids or split one in QGIS had no way back in
but POST /plans/draft JSON with building ids per grid, which he had to make himself with a
spatial join. Here the file's polygons are read as they are (gridward's own ``export grids``,
GeoJSON/GPKG/Shapefile/KML, or any polygons), each building of the community goes to the
polygon covering most of its footprint (the rule of :mod:`geo.building_links`), and the
result is saved through :func:`geo.plan_drafts.save_draft`, the path of the editor's drafts,
so every check of an edited plan applies and nothing is stored when one refuses.

A grid is its buildings: :func:`save_draft` redraws each grid's outline from its buildings
along the streets (:mod:`geo.partition.given`), so a boundary moved without moving any
building changes nothing. Both interfaces say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from geo.errors import ConflictError, InputError

#: said by ``gridward plans import`` (its --help and output) and the API's answer
REDRAWN_NOTE = (
    "网格轮廓不取自文件的多边形：楼栋未变的网格保留现行轮廓，其余网格轮廓按各网格的楼栋沿街巷"
    "重新绘制：只移动边界而没有移动任何楼栋，不会改变网格 "
    "grid outlines are not taken from the file's polygons: a grid holding the same buildings "
    "keeps its current outline, the other grid outlines are redrawn from each grid's "
    "buildings along the streets: a boundary moved without moving any building changes "
    "nothing"
)

# Overlaps smaller than this (m²) are digitising noise (a GeoJSON round trip, a snapped
# vertex): not reported.
_OVERLAP_M2 = 1.0
# Shown by name in one message at most this many (buildings, rows, pairs).
_SHOWN = 10
# gridward's shapefile export names it comm_code; GDAL cuts community_code to 10 characters
_COMMUNITY_COLUMNS = ("community_code", "comm_code", "community_")


@dataclass
class _Rows:
    """The file's rows kept as grids: their row numbers (1-based), codes (None: new grid)
    and polygons (WGS 84), and what was said about the rows left out or changed."""

    row: list[int] = field(default_factory=list)
    code: list[str | None] = field(default_factory=list)
    geom: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _label(row: int, code: str | None) -> tuple[str, str]:
    """A kept row in the report (Chinese, English): its code, else its row number."""
    return (code, code) if code else (f"第 {row} 行", f"row {row}")


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> Any:
    by_lower = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    return next((by_lower[n] for n in names if n in by_lower), None)


def _text(value: Any) -> str:
    """A cell as text: a code read as a number (a shapefile's numeric field, a CSV) is its
    digits, not ``1.10108015002001e+14``; blank for a missing cell."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).strip()


def _polygonal(geom: Any) -> Any:
    """The polygons of a geometry, made valid (a QGIS edit may leave a self-crossing ring);
    None when it has no area (a point, a line)."""
    geom = shapely.make_valid(geom)
    parts = [
        p
        for p in shapely.get_parts(geom)
        if shapely.get_type_id(p) in (3, 6) and not shapely.is_empty(p)
    ]
    # a collection from make_valid: its parts may be collections again
    if not parts and shapely.get_type_id(geom) == 7:
        parts = [
            q
            for p in shapely.get_parts(geom)
            for q in shapely.get_parts(p)
            if shapely.get_type_id(q) in (3, 6)
        ]
    if not parts:
        return None
    out = shapely.union_all(parts)
    return out if out.area > 0 else None


def _rows(frame: Any, community: str, file_name: str, version_now: int) -> _Rows:
    """The rows of ``frame`` that are level-1 grids of ``community``, with warnings for the
    rows left out; InputError when none is."""
    level_col = _column(frame, ("level",))
    comm_col = _column(frame, _COMMUNITY_COLUMNS)
    code_col = _column(frame, ("code",))
    version_col = _column(frame, ("version",))
    out = _Rows()
    other_comm: dict[str, int] = {}
    other_level = 0
    sub_codes: list[int] = []
    not_area: list[int] = []
    odd_codes: list[tuple[int, str]] = []
    versions: set[int] = set()
    blank = [""] * len(frame)

    def cells(col: Any) -> list[str]:
        return blank if col is None else [_text(v) for v in frame[col].tolist()]

    codes, comms, levels, vers = (cells(c) for c in (code_col, comm_col, level_col, version_col))
    for pos in range(len(frame)):
        row, code, comm = pos + 1, codes[pos], comms[pos]
        if not comm and code.isdigit() and len(code) in (15, 18, 20):
            comm = code[:12]  # no community_code column: the code's first 12 digits
        if comm and comm != community:
            other_comm[comm] = other_comm.get(comm, 0) + 1
            continue
        if levels[pos] not in ("1", ""):
            other_level += 1
            continue
        if code.isdigit() and len(code) in (18, 20):
            sub_codes.append(row)  # a level-2/3 grid in a file without its level column
            continue
        geom = _polygonal(frame.geometry.iloc[pos])
        if geom is None:
            not_area.append(row)
            continue
        if vers[pos].isdigit():
            versions.add(int(vers[pos]))
        ok = len(code) == 15 and code.isdigit() and code.startswith(community)
        ok = ok and code[12:] != "000"
        if code and not ok:
            odd_codes.append((row, code))
        out.row.append(row)
        out.code.append(code if ok else None)
        out.geom.append(geom)
    if not out.row:
        raise _nothing_kept(community, file_name, other_comm, other_level + len(sub_codes))
    _stale(community, file_name, versions, version_now)
    if other_comm:
        n = sum(other_comm.values())
        codes = "、".join(sorted(other_comm)[:_SHOWN])
        codes_en = ", ".join(sorted(other_comm)[:_SHOWN])
        out.warnings.append(
            f"文件中另有 {n} 行属于其他社区（{codes}），已跳过 "
            f"{n} row(s) of other communities ({codes_en}) skipped"
        )
    if other_level or sub_codes:
        n = other_level + len(sub_codes)
        out.warnings.append(
            f"文件中 {n} 行是二级或三级网格（level 不为 1），已跳过：只导入一级网格 "
            f"{n} row(s) of level-2 or level-3 grids skipped: only level-1 grids are imported"
        )
    if not_area:
        rows = ", ".join(map(str, not_area[:_SHOWN]))
        out.warnings.append(
            f"文件第 {rows} 行不是面（点或线），已跳过 row(s) {rows} are not polygons "
            "(points or lines): skipped"
        )
    for row, code in odd_codes[:_SHOWN]:
        out.warnings.append(
            f"第 {row} 行的编码 {code[:20]!r} 不是社区 {community} 的网格编码"
            f"（15 位数字），按新网格导入 row {row}: code {code[:20]!r} is not a grid code "
            f"of {community} (15 digits): imported as a new grid"
        )
    return out


def _nothing_kept(
    community: str, file_name: str, other_comm: dict[str, int], other_level: int
) -> InputError:
    if other_comm:
        codes = "、".join(sorted(other_comm)[:_SHOWN])
        codes_en = ", ".join(sorted(other_comm)[:_SHOWN])
        first = sorted(other_comm)[0]
        return InputError(
            f"文件 {file_name} 中没有社区 {community} 的网格：其中的网格属于社区 {codes}，"
            f"未保存草案；请导入本社区的网格文件，或用 --community {first} 导入到该社区 "
            f"{file_name} holds no grids of community {community}: its grids are of "
            f"community {codes_en}; no draft saved: import a grids file of {community}, or "
            f"give --community {first} to import it there"
        )
    if other_level:
        return InputError(
            f"文件 {file_name} 中没有一级网格（{other_level} 行的 level 都不为 1），未保存草案 "
            f"{file_name} has no level-1 grids ({other_level} row(s), none of level 1): "
            "no draft saved"
        )
    return InputError(
        f"文件 {file_name} 中没有面（多边形），未保存草案 "
        f"{file_name} has no polygons: no draft saved"
    )


def _stale(community: str, file_name: str, versions: set[int], now: int) -> None:
    """ConflictError when the file is gridward's export of an older grid version: importing
    it would undo the commits made since, as a stale editor page would (409 there too)."""
    if not versions or max(versions) >= now:
        return
    old = max(versions)
    raise ConflictError(
        f"文件 {file_name} 导出自社区 {community} 的第 {old} 版网格，现行为第 {now} 版："
        f"导入会撤销之后的修改，未保存草案；请重新导出（gridward export grids）后在新文件上重做"
        f"修改（或删除文件的 version 列，按文件原样导入） "
        f"{file_name} was exported from grid version {old} of community {community}, "
        f"which is at version {now} now: importing it would undo the changes since, no "
        "draft saved; export the grids again (gridward export grids) and redo the edit on "
        "the new file (or delete the file's version column to import it as it is)"
    )


def _assign(buildings: Any, polys: np.ndarray) -> np.ndarray:
    """Each building's polygon (index into ``polys``): the one covering most of its
    footprint (ties: the earlier row); -1 for a building the polygons together cover less
    than half of (a gap). WHY half, not "any overlap": a polygon deleted in QGIS left its
    one building touching its neighbour's polygon by 3e-8 of its footprint (the outlines'
    rounding), and it went there without a word. Vectorised: an STRtree query, then every
    pair's intersection area in one call (degrees²: only compared within one building)."""
    geoms = np.asarray(buildings.geometry.to_numpy(), dtype=object)
    best = np.full(len(geoms), -1, dtype=np.int64)
    bi, pi = shapely.STRtree(polys).query(geoms, predicate="intersects")
    if not len(bi):
        return best
    area = shapely.area(shapely.intersection(geoms[bi], polys[pi]))
    covered = np.bincount(bi, weights=area, minlength=len(geoms))
    footprint = shapely.area(geoms)
    mostly = covered >= 0.5 * footprint
    keep = (area > 0) & mostly[bi]
    bi, pi, area = bi[keep], pi[keep], area[keep]
    # per building: the largest area first, then the lower row
    order = np.lexsort((pi, -area, bi))
    bi, pi = bi[order], pi[order]
    first = np.ones(len(bi), dtype=bool)
    first[1:] = bi[1:] != bi[:-1]
    best[bi[first]] = pi[first]
    return best


def _overlaps(polys: np.ndarray, metric: str) -> list[tuple[int, int, float]]:
    """Pairs of polygons (indexes) overlapping by at least :data:`_OVERLAP_M2`, with m²."""
    import geopandas as gpd

    left, right = shapely.STRtree(polys).query(polys, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    inter = shapely.intersection(polys[left], polys[right])
    m2 = gpd.GeoSeries(inter, crs="EPSG:4326").to_crs(metric).area.to_numpy()
    return [
        (int(a), int(b), float(m))
        for a, b, m in zip(left, right, m2, strict=True)
        if m >= _OVERLAP_M2
    ]


def _gap_error(community: str, file_name: str, gone: Any) -> InputError:
    """InputError naming the buildings the polygons leave out: id, name, households."""
    hh = int(gone["households"].sum())
    shown = gone.iloc[:_SHOWN]
    zh, en = [], []
    for bid, rec in shown.iterrows():
        name = _text(rec["name"])
        zh.append(f"楼栋 {bid} {name or '（无名）'} {int(rec['households'])} 户")
        en.append(f"building {bid} {name or '(no name)'} {int(rec['households'])} households")
    more = len(gone) - len(shown)
    listed_zh = "；".join(zh) + (f"，另有 {more} 栋" if more else "")
    listed = "; ".join(en) + (f", and {more} more" if more else "")
    return InputError(
        f"社区 {community} 有 {len(gone)} 栋楼（{hh} 户）不在文件 {file_name} 的多边形内"
        f"（缝隙：占地一半以上不在任何多边形中），未保存草案：{listed_zh}。"
        f"请在 QGIS 中让多边形盖住这些楼栋后重新导入 {len(gone)} building(s) of community "
        f"{community} ({hh} households) lie "
        f"outside the polygons of {file_name} (a gap: over half of the footprint in no "
        f"polygon), no draft saved: {listed}. "
        "Make the polygons cover them and import again"
    )


def _datum_refusal(
    path: Path,
    frame: Any,
    buildings: Any,
    gaps: int,
    community: str,
    file_name: str,
    version_now: int,
    option: str,
) -> InputError | None:
    """InputError naming the CRS option to add (or to change, or to leave out) when the file
    read in another phone datum (WGS-84, GCJ-02, BD-09) clearly covers the community's
    buildings and read as given it does not: at least 95 % of them in a polygon, and at most
    a third as many left out as read as given. None otherwise, or when the file was read from
    another CRS (a projected or CGCS2000 file's datum is its own). ``option``: ``--crs`` or
    the API's ``crs``.

    WHY (T51 #6): gridward's own grids export written with ``--crs gcj02`` and imported
    without it was refused as a gap "49 buildings outside the polygons: cover them in QGIS",
    while the polygons were right and the datum was not (the people and households imports
    already told a datum from the data)."""
    from geo.crs import DATUM_NAMES, datum_remedy
    from geo.vector_io import read_vector

    source, given = frame.attrs.get("source_crs"), bool(frame.attrs.get("crs_given"))
    if source not in DATUM_NAMES:
        return None
    n = len(buildings)
    best, best_gaps = None, gaps
    for datum in DATUM_NAMES:
        if datum == source:
            continue
        rows = _rows(read_vector(path, datum), community, file_name, version_now)
        left = int((_assign(buildings, np.asarray(rows.geom, dtype=object)) < 0).sum())
        if left < best_gaps:
            best, best_gaps = datum, left
    if best is None or 20 * (n - best_gaps) < 19 * n or 3 * best_gaps > gaps:
        return None
    zh, en = DATUM_NAMES[best]
    as_zh, as_en, do_zh, do, how_zh, how = datum_remedy(option, source, best, given)
    there = n - best_gaps
    return InputError(
        f"文件 {file_name} 的多边形{as_zh}，社区 {community} 有 {gaps}/{n} 栋楼不在其内：坐标像是 "
        f"{zh}，{do_zh}（{how_zh} {there}/{n} 栋楼落在多边形内），未保存草案 "
        f"the polygons of {file_name} {as_en} leave {gaps} of {n} buildings of community "
        f"{community} out; the coordinates look like {en}: {do} ({how}, {there} of {n} "
        "buildings lie in a polygon): no draft saved"
    )


def _match_codes(
    codes: list[str | None],
    members: list[list[int]],
    kept: list[int],
    current: dict[int, str],
    buildings: Any,
) -> set[int]:
    """Give each row without a code of the community (a file with no ``code`` column, a
    polygon drawn anew) the code of the current grid it shares the most households with, one
    to one, among the current grids no row names (:func:`geo.plan_drafts._match`, as a
    rebalance keeps codes); ``codes`` is updated in place, the rows matched are returned.
    WHY (T49): such a file got all-new codes, so its commit ended every grid duty of the
    community, and an unchanged file could not be told from a new plan."""
    from geo.plan_drafts import _match

    free = sorted(set(current.values()) - {c for c in codes if c})
    rows = [i for i in kept if codes[i] is None]
    if not free or not rows:
        return set()
    index = {c: j for j, c in enumerate(free)}
    where = {b: index[c] for b, c in current.items() if c in index}
    households = {int(b): int(h) for b, h in buildings["households"].items()}
    source = _match({str(i): members[i] for i in rows}, list(range(len(free))), where, households)
    for i, j in source.items():
        codes[int(i)] = free[j]
    return {int(i) for i in source}


def unchanged_words(community: str, file_name: str, version: int) -> str:
    """What an import of a file identical to the current grids says (Chinese first)."""
    return (
        f"文件 {file_name} 与社区 {community} 的现行第 {version} 版网格相同（每个网格的楼栋都"
        f"未变），未保存草案，无需提交 {file_name} is identical to the current grids of "
        f"community {community} (version {version}: no building changes grid): no draft "
        "saved, nothing to commit"
    )


def _unchanged(community: str, file_name: str, now: int) -> dict[str, Any]:
    """The answer's own keys for a file whose grids are the current ones: no draft stored,
    so no ``plan_id``. WHY (T51 #8): a draft was stored for every unchanged file (plans 5,
    10, 11, 16, 18 in one afternoon) whose commit was then refused as identical, and the
    output still ended "review it, then gridward plans commit 5"."""
    return {
        "unchanged": True,
        "message": unchanged_words(community, file_name, now),
        "base_version": now,
        "moved_buildings": 0,
        "note": REDRAWN_NOTE,
    }


def import_grid_file(
    engine: Engine,
    path: str | Path,
    community: str,
    min_households: int | None = None,
    max_households: int | None = None,
    crs: str | None = None,
    created_by: str | None = None,
    names: tuple[str, str] | None = None,
    file_name: str | None = None,
) -> dict[str, Any]:
    """Make a draft plan of ``community`` from the polygons of the grids file ``path``.

    Rows: only level 1 when the file has a ``level`` column; rows of another community
    (``community_code``, or the code's first 12 digits) are skipped with a warning, and a
    file with none of this community is refused. Each row keeps its ``code`` when it is a
    grid code of the community, else is a new grid (named as the editor names new ones).
    Each building goes to the polygon covering most of its footprint; a building the
    polygons together cover less than half of (a gap) refuses the file, naming it; a
    polygon holding no building is dropped (warned);
    two rows with one code (a split in QGIS keeps the attributes on both pieces): the piece
    holding the most households keeps the code, the others are new grids (warned).
    Overlapping polygons (≥ 1 m²) are reported in m² (each building in both went to the one
    covering most of it). Bounds: the current grids' plan's unless given. The file's
    ``version`` column (gridward's export) older than the community's grid version refuses
    it (409): importing would undo the commits since.

    Returns :func:`~geo.plan_drafts.save_draft`'s answer with ``bounds``, ``base_version``,
    ``rows`` (each grid's row in the file), ``new_grids`` (each grid's file code was not
    kept: named anew), ``warnings`` (Chinese first), ``overlaps``,
    ``dropped``, ``matched`` (rows without a code of the community given the code of the
    current grid they share most households with), ``moved_buildings`` (buildings whose grid
    code differs from the current
    grids'), ``unchanged`` (the same building sets under the same codes) and ``note``
    (:data:`REDRAWN_NOTE`). A file whose grids are the current ones stores no draft: the
    answer has ``unchanged`` true, ``message`` (:func:`unchanged_words`), no ``plan_id``,
    and ``grids`` with each grid's code, households and building count only (T51 #8). A
    file whose grids (codes and buildings) and bounds are those of an open draft made on the
    same grid version and data stores none either: that draft is answered, with ``existing``
    true, a ``message`` and ``outlines`` None (:func:`geo.plan_drafts.save_draft`'s
    ``repeats``: T70 #13, the same file imported twice made drafts 8 and 9). The file's
    problems are told before the household bounds are asked for (T70 #8).

    A file that leaves buildings out, read in the datum given, while read in another phone
    datum it covers them, is refused naming the CRS option (:func:`_datum_refusal`)."""
    from sqlalchemy import text

    from geo.crs import metric_crs_for_bounds
    from geo.plan_drafts import DraftGrid, save_draft
    from geo.plan_history import _VERSION_MEMBERS_SQL
    from geo.plans import (
        BOUND_NAMES,
        _no_buildings,
        current_version,
        given_or_stored_bounds,
        load_inputs,
        plan_bounds,
    )
    from geo.vector_io import read_vector

    names = names or BOUND_NAMES
    path = Path(path)
    file_name = file_name or path.name
    with engine.connect() as conn:
        area, outline, buildings, _ = load_inputs(conn, community)
        now = current_version(conn, area.id)
        stored = plan_bounds(conn, area.id)
        current: dict[int, str] = {}
        if now:
            for r in conn.execute(text(_VERSION_MEMBERS_SQL), {"a": area.id, "v": now}):
                if r.bid is not None:
                    current[int(r.bid)] = r.code
    if buildings.empty:
        raise _no_buildings(community)

    frame = read_vector(path, crs)
    rows = _rows(frame, community, file_name, now)
    polys = np.asarray(rows.geom, dtype=object)
    best = _assign(buildings, polys)
    option = "--crs" if names[0].startswith("-") else "crs"  # as the caller's users say it
    if (best < 0).any():  # a wrong datum first: not "cover them in QGIS" (T51 #6)
        refusal = _datum_refusal(
            path, frame, buildings, int((best < 0).sum()), community, file_name, now, option
        )
        if refusal is not None:
            raise refusal
    if (best < 0).all():
        raise InputError(
            f"文件 {file_name} 的多边形都不覆盖社区 {community} 的楼栋（坐标系不对，或是别处的"
            f"网格？可用 {option} 指定文件的坐标系），未保存草案 no polygon of {file_name} "
            f"covers a building of community {community} (a wrong CRS, or grids of another "
            f"place? give the file's CRS with {option}): no draft saved"
        )
    if (best < 0).any():
        raise _gap_error(community, file_name, buildings.loc[best < 0])
    # the bounds last: what is wrong with the file first (T70 #8: a wrong --community was
    # asked for household bounds, and only once they were given told that the file holds
    # no grid of that community)
    lo, hi = given_or_stored_bounds(
        min_households,
        max_households,
        stored,
        names,
        (f"社区 {community} 的现行网格", f"community {community}"),
    )
    metric = metric_crs_for_bounds(shapely.bounds(outline))
    overlaps = _overlaps(polys, metric)

    hh = np.bincount(best, weights=buildings["households"].to_numpy(float), minlength=len(polys))
    ids = buildings.index.to_numpy()
    members = [sorted(int(b) for b in ids[best == i]) for i in range(len(polys))]
    warnings = list(rows.warnings)
    # one code on several pieces: the piece with the most households keeps it
    codes: list[str | None] = list(rows.code)
    for code in {c for c in codes if c and codes.count(c) > 1}:
        pieces = [i for i, c in enumerate(codes) if c == code]
        keep = max(pieces, key=lambda i: (hh[i], -i))
        others = [rows.row[i] for i in pieces if i != keep]
        for i in pieces:
            if i != keep:
                codes[i] = None
        shown = ", ".join(map(str, others))
        warnings.append(
            f"网格编码 {code} 出现在 {len(pieces)} 行：户数最多的第 {rows.row[keep]} 行保留该编码，"
            f"第 {shown} 行按新网格导入 code {code} is on {len(pieces)} rows: row "
            f"{rows.row[keep]} (the most households) keeps it, row(s) {shown} become new grids"
        )
    dropped = [i for i in range(len(polys)) if not members[i]]
    for i in dropped:
        zh, en = _label(rows.row[i], codes[i])
        warnings.append(
            f"{zh} 的多边形内没有楼栋，已略去（网格须有楼栋） "
            f"{en}: no building in its polygon, left out (a grid needs buildings)"
        )
    for a, b, m2 in overlaps[:_SHOWN]:
        (za, ea), (zb, eb) = _label(rows.row[a], codes[a]), _label(rows.row[b], codes[b])
        warnings.append(
            f"{za} 与 {zb} 的多边形重叠 {m2:,.0f} 平方米：重叠处的楼栋归入覆盖其大部分占地的网格 "
            f"{ea} and {eb} overlap by {m2:,.0f} m²: a building in both goes to the one "
            "covering most of its footprint"
        )
    if len(overlaps) > _SHOWN:
        more = len(overlaps) - _SHOWN
        warnings.append(f"另有 {more} 对多边形重叠 {more} more overlapping pair(s)")

    kept = [i for i in range(len(polys)) if members[i]]
    matched = _match_codes(codes, members, kept, current, buildings)
    old_sets: dict[str, set[int]] = {}
    for b, c in current.items():
        old_sets.setdefault(c, set()).add(b)
    said = {
        "warnings": warnings,
        "overlaps": [
            {
                "a": _label(rows.row[a], codes[a])[1],
                "b": _label(rows.row[b], codes[b])[1],
                "m2": round(m2, 1),
            }
            for a, b, m2 in overlaps
        ],
        "dropped": [_label(rows.row[i], codes[i])[1] for i in dropped],
    }
    if now and all(codes[i] for i in kept):
        file_sets = {str(codes[i]): set(members[i]) for i in kept}
        if len(file_sets) == len(kept) and file_sets == old_sets:
            grids = [
                {"code": codes[i], "households": int(hh[i]), "building_count": len(members[i])}
                for i in kept
            ]
            return {
                **_unchanged(community, file_name, now),
                "bounds": [lo, hi],
                "rows": [rows.row[i] for i in kept],
                "grids": grids,
                "new_grids": [False for _ in kept],
                "matched": [_label(rows.row[i], None)[1] for i in kept if i in matched],
                **said,
            }
    out = save_draft(
        engine,
        community,
        lo,
        hi,
        [DraftGrid(codes[i], members[i]) for i in kept],
        created_by=created_by,
        source="file",
        origin={"file": file_name[:200]},
        repeats=True,  # T70 #13: the same file imported twice made drafts 8 and 9
        same_outlines=True,
    )
    if not out["existing"]:  # a new draft: the answer as before
        del out["existing"]
    new_code = {b: g["code"] for g, i in zip(out["grids"], kept, strict=True) for b in members[i]}
    moved = sum(1 for b, c in new_code.items() if current.get(b) != c)
    new_sets = {g["code"]: set(members[i]) for g, i in zip(out["grids"], kept, strict=True)}
    return {
        **out,
        "bounds": [lo, hi],
        "base_version": now,
        "rows": [rows.row[i] for i in kept],
        "new_grids": [codes[i] is None and i not in matched for i in kept],
        "matched": [_label(rows.row[i], None)[1] for i in kept if i in matched],
        **said,
        "moved_buildings": moved,
        "unchanged": bool(now) and new_sets == old_sets,
        "note": REDRAWN_NOTE,
    }
