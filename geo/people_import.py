"""Import the people registry (导入人员名册): an upsert by registry id that changes only what
the file says.

WHY its own module: a roster is often a partial sheet (ids, roles and homes only, from another
office) or an office layout (a title row above the header, a 合计 row at the end), and a
re-import must neither wipe the names and phones the file does not carry, nor undo a leave
(``person_leaves``) behind the planner's back. The reading of columns and values stays in
:func:`geo.assign.people.read_people`; this module finds the table in the sheet first.

Rules:

* a column absent from the file leaves the stored value alone (a blank name cell too: a new
  person without a name is named by their id). A home (lon/lat or building) is needed only
  for people not registered yet: a sheet of ids and phones, or a row with blank home cells,
  keeps a registered person's stored home; a new person without one refuses the whole file,
  naming them, nothing written (as every other bad row does: no half-imported roster);
* a home given that lies in no community or village of the city is stored (without a
  community) and named in a warning with the nearest community and how far; one more than
  ``GRIDWARD_HOME_FAR_KM`` (:func:`far_km`, 50 by default) from every area of the city is
  refused, nothing written: a wrong number (another city, a lost digit), not a resident;
* a person who left (``active`` false) stays inactive and is named in a warning;
  ``reactivate`` brings the listed leavers back, and the answer says so;
* with ``covers`` (a planner's scope), every imported person's new home, and an existing
  person's stored one, must be in the planner's areas: otherwise ForbiddenError naming them,
  nothing written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.area_paths import AreaPath, area_path
from geo.assign.people import (
    COLUMNS,
    decode_table,
    header_key,
    read_people,
    swap_note,
    unreadable,
)
from geo.errors import ForbiddenError, InputError
from geo.settings import get_settings
from geo.tracks.parse_table import HEAD_ROWS

Covers = Callable[[AreaPath], bool]
"""Whether an area path is in the caller's scope (a planner's ``Principal.covers_area``)."""

_ID_KEYS = frozenset(header_key(a) for a in COLUMNS["person_id"])
_XY_KEYS = frozenset(header_key(a) for a in COLUMNS["lon"] + COLUMNS["lat"])
# a summary or note row at the end of an office sheet: the whole cell is the label, with at
# most a count ("合计", "合计：12 人", "Total 12"), or a note ("制表人：张三"). Stricter than the
# track reader's labels (geo.tracks.parse_table), whose max/min/count/备注 could be an id
_SUMMARY_RE = re.compile(
    r"[\s*#=(（\[【-]{0,8}(?:合\s?计|总\s?计|小\s?计|共\s?计|累\s?计|汇\s?总|总\s?数"
    r"|grand\s?total|sub\s?total|totals?)[\s:：]{0,8}(?:\d{1,9}\s{0,3}[人名个位条]?)?"
    r"[\s)）\]】.。]{0,8}|(?:制\s?表|审\s?核|填\s?报|备\s?注|说\s?明|注)人?\s{0,3}[:：].{0,200}",
    re.IGNORECASE | re.DOTALL,
)
FOOTER_ROWS = 20
# what a present column writes over on a re-import (name: a blank cell keeps the old one)
_UPDATES = {
    "name": "name = COALESCE(:name, people.name)",
    "phone": "phone = EXCLUDED.phone",
    "roles": "roles = EXCLUDED.roles",
    "capacity": "capacity = EXCLUDED.capacity",
    "part_time": "part_time = EXCLUDED.part_time",
}


# --------------------------------------------------------------------------------------------
# the table in the sheet
# --------------------------------------------------------------------------------------------


def _cells(raw: bytes, filename: str) -> list[list[str | None]] | None:
    """The sheet's rows as text cells (None: empty), or None for a type read_people judges."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(io.BytesIO(raw), header=None, dtype=str, engine="openpyxl")
            return [[None if pd.isna(v) else str(v) for v in r] for r in df.to_numpy().tolist()]
        if suffix in (".csv", ".txt", ""):
            rows = csv.reader(io.StringIO(decode_table(raw)), skipinitialspace=True)
            return [[c if c.strip() else None for c in r] for r in rows]
    except InputError:
        raise
    except Exception as exc:  # parser errors carry file content; name only the kind
        raise unreadable(filename, exc) from None
    return None


def _filled(row: list[str | None]) -> list[str]:
    return [c.strip() for c in row if c is not None and c.strip()]


def _header_row(rows: list[list[str | None]]) -> int:
    """Index of the header: the first of the first HEAD_ROWS non-blank rows naming the
    person_id column (a title row above it is left out); 0 when none does (read_people then
    names the missing column)."""
    seen = 0
    for i, row in enumerate(rows):
        if not _filled(row):
            continue
        if any(header_key(c) in _ID_KEYS for c in _filled(row)):
            return i
        seen += 1
        if seen == HEAD_ROWS:
            break
    return 0


def _is_summary(row: list[str | None], xy: list[int]) -> bool:
    """A 合计/总计/Total or note row: a cell that is the label alone, and no lon/lat pair (a
    row with coordinates is read, and judged, as a person)."""
    cells = _filled(row)
    pair = [row[j] for j in xy if j < len(row)]
    if len(pair) == 2 and all(_number(c) for c in pair):
        return False
    return any(_SUMMARY_RE.fullmatch(c) for c in cells)


def _number(cell: str | None) -> bool:
    try:
        return cell is not None and np.isfinite(float(cell))
    except ValueError:
        return False


def _footer(body: list[list[str | None]], xy: list[int]) -> int:
    """How many rows at the end of ``body`` are summaries or notes (blank rows among them)."""
    cut = len(body)
    for i in range(len(body) - 1, max(-1, len(body) - 1 - FOOTER_ROWS), -1):
        if not _filled(body[i]):
            continue
        if not _is_summary(body[i], xy):
            break
        cut = i
    return len(body) - cut


def read_roster(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The registry in ``path`` as :func:`read_people` reads it, and warnings naming the rows
    left out: title rows above the header, summary and note rows at the end. A sheet without
    them is read as it is."""
    if not path.is_file():
        raise InputError(f"人员文件 {path} 不存在，请检查路径 people file not found: {path}")
    raw = path.read_bytes()
    rows = _cells(raw, path.name)
    if not rows:
        return read_people(raw, path.name, home_required=False), []
    top = _header_row(rows)
    header = rows[top]
    xy = [j for j, c in enumerate(header) if c is not None and header_key(c) in _XY_KEYS]
    body = rows[top + 1 :]
    n_foot = _footer(body, xy)
    warnings = []
    if top:
        shown = "; ".join(" ".join(_filled(r)) for r in rows[:top] if _filled(r))[:80]
        warnings.append(
            f"表头在第 {top + 1} 行，其上方的行未读入（{shown!r}） "
            f"the header is row {top + 1}: the "
            f"row(s) above it were left out: {shown!r}"
        )
    if n_foot:
        foot = body[len(body) - n_foot :]
        shown = "; ".join(" ".join(_filled(r)) for r in foot if _filled(r))[:80]
        warnings.append(
            f"表尾 {n_foot} 行合计或说明未读入（{shown!r}） "
            f"{n_foot} summary or note row(s) at the end were "
            f"left out: {shown!r}"
        )
    if not warnings:
        return read_people(raw, path.name, home_required=False), []
    out = io.StringIO()
    writer = csv.writer(out)
    width = len(header)
    named = [c if c is not None else f"Unnamed: {j}" for j, c in enumerate(header)]
    writer.writerow(named)
    for r in body[: len(body) - n_foot]:
        writer.writerow([("" if c is None else c) for c in (r + [None] * width)[:width]])
    data = out.getvalue().encode("utf-8")
    return read_people(data, f"{path.stem}.csv", home_required=False), warnings


# --------------------------------------------------------------------------------------------
# storing
# --------------------------------------------------------------------------------------------


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The upsert's parameters, one dict per person."""
    rows = []
    for r in df.itertuples(index=False):
        rec = r._asdict()
        lon, lat = rec.get("lon"), rec.get("lat")
        home = (
            f"SRID=4326;POINT({float(lon)!r} {float(lat)!r})"
            if lon is not None and lat is not None and np.isfinite(lon) and np.isfinite(lat)
            else None
        )
        name, cap, pt = rec.get("name"), rec.get("capacity"), rec.get("part_time")
        rows.append(
            {
                "ext": str(rec["person_id"]),
                "name": None
                if name is None or pd.isna(name) or not str(name).strip()
                else str(name).strip(),  # fmt: skip
                "phone": None if pd.isna(rec.get("phone")) else str(rec.get("phone")),
                "roles": [x for x in str(rec.get("roles") or "").split(";") if x],
                "home": home,
                "building": None if pd.isna(rec.get("building_id")) else str(rec["building_id"]),
                "cap": None if cap is None or pd.isna(cap) else float(cap),
                "pt": bool(pt) if pt is not None and not pd.isna(pt) else False,
            }
        )
    return rows


def _resolve_buildings(conn: Connection, rows: list[dict[str, Any]], filename: str) -> None:
    """A building home becomes its row id, and the home point when no lon/lat was given."""
    for row in rows:
        if row["building"] is None:
            continue
        b = conn.execute(
            text(
                "SELECT id, ST_AsEWKT(ST_PointOnSurface(geom)) FROM buildings "
                "WHERE source_key = :k OR id::text = :k OR source_key = 'osm:w' || :k"
            ),
            {"k": row["building"]},
        ).first()
        if b is None:
            raise InputError(
                f"{filename}：人员 {row['ext']} 的住址楼栋 {row['building']} 不存在，未做任何更改；"
                "请检查楼栋编号，或先导入楼栋 "
                f"{filename}: person {row['ext']} lives in building {row['building']}, "
                "which does not exist (nothing changed)"
            )
        row["building"] = b[0]
        row["home"] = row["home"] or b[1]


def _stored(conn: Connection, ids: list[str]) -> dict[str, Any]:
    """The people of the file already registered: active, name, home community."""
    rows = conn.execute(
        text(
            "SELECT p.external_id, p.name, p.active, a.code FROM people p LEFT JOIN areas a "
            "ON a.id = p.area_id WHERE p.external_id = ANY(CAST(:ids AS text[])) FOR UPDATE OF p"
        ),
        {"ids": ids},
    ).all()
    return {r.external_id: r for r in rows}


def _refuse_unregistered_homeless(
    rows: list[dict[str, Any]], before: dict[str, Any], filename: str
) -> None:
    """A row without a home keeps a registered person's stored one; a new person has none to
    keep: InputError naming them (the whole file, as any other bad row)."""
    new = [r["ext"] for r in rows if r["home"] is None and r["ext"] not in before]
    if new:
        shown = f"{', '.join(new[:10])}{' …' if len(new) > 10 else ''}"
        raise InputError(
            f"{len(new)} 人未登记且文件中没有其住址（{filename}：{shown}），未做任何更改；请给出"
            "其住址（经度/纬度 lon+lat 或楼栋 building_id），或删去这些行（没有住址列的文件只更新"
            "已登记的人员） "
            f"{filename}: {len(new)} people of "
            f"the file are not registered and have no home in it: "
            f"{shown}: nothing changed; give "
            "their home (lon+lat 经度/纬度 or building_id 楼栋), or leave their rows out (a "
            "file without home columns updates registered people only)"
        )


def _upsert(conn: Connection, rows: list[dict[str, Any]], present: set[str], wake: bool) -> None:
    """Insert new people; update existing ones in the columns the file has (``present``),
    and their home where their row gives one. A leaver stays inactive unless ``wake``."""
    sets = [sql for col, sql in _UPDATES.items() if col in present]
    sets += [
        "home = COALESCE(EXCLUDED.home, people.home)",
        "home_building_id = CASE WHEN EXCLUDED.home IS NULL THEN people.home_building_id "
        "ELSE EXCLUDED.home_building_id END",
        f"active = {'true' if wake else 'people.active'}",
    ]
    conn.execute(
        text(
            "INSERT INTO people (external_id, name, phone, roles, home, home_building_id, "
            "capacity, part_time, active) VALUES (:ext, COALESCE(:name, :ext), :phone, :roles, "
            "ST_GeomFromEWKT(:home), :building, :cap, :pt, true) "
            f"ON CONFLICT (external_id) DO UPDATE SET {', '.join(sets)}"
        ),
        rows,
    )
    conn.execute(
        text(
            "UPDATE people p SET area_id = (SELECT a.id FROM areas a WHERE a.level IN "
            "('community', 'village') AND ST_Intersects(a.geom, p.home) ORDER BY a.code "
            "LIMIT 1) WHERE p.home IS NOT NULL"
        )
    )


def _no_community(conn: Connection, ids: list[str]) -> list[Any]:
    """People of ``ids`` whose home lies in no community or village, with the nearest one
    (code, km) and the distance to the nearest area of any level (km). Empty when the city
    has no communities yet (nothing to place homes in, nothing to judge)."""
    if not ids:
        return []
    return conn.execute(
        text(
            "SELECT p.external_id, p.name, ST_X(p.home) AS lon, ST_Y(p.home) AS lat, c.code, "
            "c.km, f.km AS any_km FROM people p "
            "CROSS JOIN LATERAL (SELECT a.code, ST_Distance(a.geom::geography, "
            "p.home::geography) / 1000 AS km FROM areas a WHERE a.level IN "
            "('community', 'village') ORDER BY a.geom <-> p.home LIMIT 1) c "
            "CROSS JOIN LATERAL (SELECT min(ST_Distance(a.geom::geography, p.home::geography)) "
            "/ 1000 AS km FROM (SELECT geom FROM areas ORDER BY geom <-> p.home LIMIT 5) a) f "
            "WHERE p.external_id = ANY(CAST(:ids AS text[])) AND p.area_id IS NULL "
            "AND p.home IS NOT NULL ORDER BY p.external_id"
        ),
        {"ids": ids},
    ).all()


def far_km() -> float:
    """How far from every area a home is refused (``GRIDWARD_HOME_FAR_KM``, default 50).

    WHY 50 km: grid staff and stewards are residents or walk their grid daily, so a home this
    far from every imported area is a wrong number (Shanghai's 121.47, 31.23 for a Beijing
    city, a lost digit); a commuter from another district of the city stays well inside it.
    A setting, not a constant: a wide rural district (villages far from the imported areas)
    may need more. GCJ-02 or BD-09 numbers (some 0.5–1 km off) cannot be told from a home
    across a boundary: warned only."""
    return get_settings().home_far_km


def _homes_outside(conn: Connection, ids: list[str]) -> str | None:
    """The warning naming the people of ``ids`` (homes the file gave) living in no community;
    InputError, nothing written, when one lives over :func:`far_km` from every area."""
    lost = _no_community(conn, ids)
    limit = far_km()
    far = [r for r in lost if r.any_km > limit]
    if far:
        more = " …" if len(far) > 10 else ""
        shown = ", ".join(
            f"{r.name} ({r.external_id}) {r.lon:.5f}, {r.lat:.5f}: {r.any_km:.0f} km"
            for r in far[:10]
        )
        shown_zh = "，".join(
            f"{r.name} ({r.external_id}) {r.lon:.5f}, {r.lat:.5f}：{r.any_km:.0f} 公里"
            for r in far[:10]
        )
        turned = _swapped_near(conn, [r.external_id for r in far], limit)
        swap_zh, swap = (
            swap_note(
                turned,
                "对调后即在本市的区域附近",
                "swapped, they lie near the city's areas",
                whole=len(turned) == len(ids) > 1,
            )
            if turned
            else ("", "")
        )
        raise InputError(
            f"{len(far)} 人的住址离本市所有区域超过 {limit:g} 公里（{shown_zh}{more}），应是坐标"
            "有误（其他城市的坐标、少了一位数字），未做任何更改：请改正其经度/纬度（WGS 84），"
            "或删去这些行（如确实住得这么远，请调大设置 GRIDWARD_HOME_FAR_KM）"
            + (f"；{swap_zh} " if turned else " ")
            + f"{len(far)} people of the file live more than {limit:g} km from every area of "
            f"the city: {shown}{more}: nothing changed; such a "
            "home is a wrong number (another city's, a lost digit): correct their lon/lat "
            "(经度/纬度, WGS 84) or leave their rows out (homes truly that far: raise the "
            "setting GRIDWARD_HOME_FAR_KM)" + (f"; {swap}" if turned else "")
        )
    if not lost:
        return None
    more = " …" if len(lost) > 10 else ""
    shown = ", ".join(f"{r.name} ({r.external_id}) {r.km:.1f} km from {r.code}" for r in lost[:10])
    shown_zh = "，".join(
        f"{r.name} ({r.external_id}) 距 {r.code} {r.km:.1f} 公里" for r in lost[:10]
    )
    return (
        f"{len(lost)} 人的住址不在任何社区（村）内，已导入但无所属社区（{shown_zh}{more}）；"
        "请检查其住址（须为 WGS 84 经纬度：手机地图应用给出的 GCJ-02 坐标约偏 500 米），"
        f"或导入缺少的社区 {len(lost)} people of the "
        f"file live in no community or village of the city and are stored without one: "
        f"{shown}{more}; check their homes (WGS 84 lon/lat: numbers "
        "from a phone map app, GCJ-02, are some 500 m off), or import the missing communities"
    )


def _swapped_near(conn: Connection, ids: list[str], limit: float) -> list[str]:
    """The people of ``ids`` whose home, longitude and latitude swapped, lies within ``limit``
    km of an area of the city: numbers written in the wrong columns (outside tester T36, #10),
    not a home in another city."""
    if not ids:
        return []
    return list(
        conn.execute(
            text(
                "SELECT p.external_id FROM people p CROSS JOIN LATERAL (SELECT "
                "ST_SetSRID(ST_MakePoint(ST_Y(p.home), ST_X(p.home)), 4326) AS pt) s "
                "CROSS JOIN LATERAL (SELECT min(ST_Distance(a.geom::geography, "
                "s.pt::geography)) / 1000 AS km FROM (SELECT geom FROM areas "
                "ORDER BY geom <-> s.pt LIMIT 5) a) f "
                "WHERE p.external_id = ANY(CAST(:ids AS text[])) AND abs(ST_X(p.home)) <= 90 "
                "AND f.km <= :limit ORDER BY p.external_id"
            ),
            {"ids": ids, "limit": limit},
        ).scalars()
    )


def _outside(conn: Connection, ids: list[str], before: dict[str, Any], covers: Covers) -> list[str]:
    """The people of the file whose new home, or stored one, is outside ``covers``."""
    now = dict(
        conn.execute(
            text(
                "SELECT p.external_id, a.code FROM people p LEFT JOIN areas a "
                "ON a.id = p.area_id WHERE p.external_id = ANY(CAST(:ids AS text[]))"
            ),
            {"ids": ids},
        ).all()
    )
    bad = []
    for ext in ids:
        stored = before[ext].code if ext in before else None  # a home in no area yet: new
        homes = [now.get(ext)] + ([stored] if stored else [])
        wrong = [
            c or "无社区 no community" for c in homes if not (c and covers(area_path(conn, c)))
        ]
        if wrong:
            bad.append(f"{ext} ({', '.join(dict.fromkeys(wrong))})")
    return bad


def import_people(
    engine: Engine,
    path: str | Path,
    actor: str | None = None,
    *,
    reactivate: bool = False,
    covers: Covers | None = None,
) -> dict[str, Any]:
    """Upsert people from CSV/XLSX by their id (see the module's rules); homes by lon/lat or a
    building id. The file's other columns (notes ...) are left out and named in
    ``columns_left_out``; ``warnings`` names rows left out and leavers kept inactive."""
    path = Path(path)
    df, warnings = read_roster(path)
    rows = _rows(df)
    present = set(df.columns)
    ids = [r["ext"] for r in rows]
    with engine.begin() as conn:
        _resolve_buildings(conn, rows, path.name)
        before = _stored(conn, ids)
        _refuse_unregistered_homeless(rows, before, path.name)
        _upsert(conn, rows, present, reactivate)
        lost = _homes_outside(conn, [r["ext"] for r in rows if r["home"] is not None])
        if covers is not None:
            bad = _outside(conn, ids, before, covers)
            if bad:
                shown = f"{', '.join(bad[:10])}{' …' if len(bad) > 10 else ''}"
                raise ForbiddenError(
                    f"{len(bad)} 人的住址不在您的管辖区域内（新住址或已存的住址；{shown}），"
                    "未做任何更改：请由管理员导入，或删去这些行 "
                    f"{len(bad)} people of "
                    f"the file live outside your areas (new home, or the one stored): "
                    f"{shown}: nothing changed; "
                    "an admin imports them, or leave their rows out"
                )
        left = [f"{r.name} ({ext})" for ext, r in before.items() if not r.active]
        if lost:
            warnings.append(lost)
        audit.record(
            conn,
            actor,
            "people.import",
            "people",
            path.name,
            {"rows": len(rows), "reactivated" if reactivate else "kept_inactive": len(left)},
        )
    out: dict[str, Any] = {"people_read": len(rows)}
    if df.attrs.get("ignored_columns"):
        out["columns_left_out"] = list(df.attrs["ignored_columns"])
    if left and reactivate:
        out["reactivated"] = left
    elif left:
        out["kept_inactive"] = left
        shown = f"{', '.join(left[:10])}{' …' if len(left) > 10 else ''}"
        warnings.append(
            f"{len(left)} 人已离岗，仍保持离岗（{shown}）；如已回岗，请加 --reactivate 重新导入"
            f"（API：?reactivate=true） {len(left)} people of the file had left and stay "
            f"inactive: {shown}; to bring them "
            "back, import again with --reactivate (API: ?reactivate=true)"
        )
    if warnings:
        out["warnings"] = warnings
    return out
