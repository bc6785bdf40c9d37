"""The duty roster (职责名册) for a district office and its 公示 board, and the tables written
for people (CSV with a BOM, XLSX with codes as text) that the people export shares.

One row per current level-1 grid (网格), street (街) and alley (巷) with who holds it today:
the grid leader, the grid workers, the street chief, the alley stewards, each as
``姓名（人员编号）`` joined with 、. Only duties in force today (``valid_from`` ≤ today ≤
``valid_to``) of people still serving (not 已离岗) on grids and streets not retired. Phone
numbers only with ``with_phone`` (the office's copy): the 公示 board shows names.

WHY (T49 #5): the office had no such list: ``GET /grids`` gives only counts, and
``/people/{id}/duties`` needed one call per person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from geo.errors import InputError, NotFoundError
from geo.export import grid_label_sql
from geo.settings import city_today
from geo.street_areas import street_areas_sql

KIND_ZH = {"grid": "网格", "street": "街", "alley": "巷"}
KIND_ORDER = {"grid": 0, "street": 1, "alley": 2}

# key → Chinese label; a header is "label key", as the report exports write them
LABELS = {
    "kind": "类型",
    "code": "编码",
    "name": "名称",
    "community_code": "社区编码",
    "community_name": "社区",
    "subdistrict_code": "街道编码",
    "subdistrict_name": "街道",
    "households": "户数",
    "grid_leader": "网格长",
    "grid_workers": "专职网格员",
    "part_time_workers": "兼职网格员",
    "street_chief": "街巷长",
    "alley_stewards": "小巷管家",
}
CODE_COLUMNS = ("code", "community_code", "subdistrict_code")
ROLE_COLUMN = {
    "grid_leader": "grid_leader",
    "grid_worker": "grid_workers",
    "part_time_worker": "part_time_workers",
    "street_chief": "street_chief",
    "alley_steward": "alley_stewards",
}

_CURRENT = (
    "a.valid_from <= CAST(:today AS date) AND (a.valid_to IS NULL OR "
    "a.valid_to >= CAST(:today AS date)) AND p.active"
)

# a grid's 名称 is its label, as the grids export's (T51 #11: level-1 grids have no name,
# and the 公示 board's column was blank)
_GRIDS_SQL = f"""
SELECT 'grid' AS kind, g.id AS target, g.code, {grid_label_sql("c")} AS name,
       c.code AS community_code,
       c.name AS community_name, s.code AS subdistrict_code, s.name AS subdistrict_name,
       g.households, s.parent_id AS district_id
FROM grids g JOIN areas c ON c.id = g.community_id LEFT JOIN areas s ON s.id = c.parent_id
WHERE g.level = 1 AND g.retired_at IS NULL
"""
_STREETS_SQL = f"""
SELECT st.kind, st.id AS target, st.key AS code, st.name, h.community_code, h.community_name,
       h.subdistrict_code, h.subdistrict_name, NULL::int AS households, h.district_code
FROM ({street_areas_sql("WHERE st.retired_at IS NULL")}) h JOIN streets st ON st.id = h.alley_id
"""
_DUTIES_SQL = f"""
SELECT a.role, COALESCE(a.grid_id, a.street_id) AS target,
       CASE WHEN a.grid_id IS NULL THEN 'street' ELSE 'grid' END AS on_what,
       p.name, p.external_id, p.phone
FROM assignments a JOIN people p ON p.id = a.person_id
WHERE {_CURRENT}
ORDER BY a.role, p.external_id, a.id
"""


def _area(conn: Any, code: str) -> Any:
    row = conn.execute(
        text("SELECT id, code, level FROM areas WHERE code = :c"), {"c": code}
    ).first()
    if row is None:
        raise NotFoundError(
            f"区划 {code} 不存在，请给社区、街道或区的编码 "
            f"area '{code}' does not exist: give a community, subdistrict or district code"
        )
    return row


def _who(name: str, ext: str, phone: str | None, with_phone: bool) -> str:
    if with_phone and phone:
        return f"{name}（{ext}，{phone}）"
    return f"{name}（{ext}）"


def roster(engine: Engine, area: str | None = None, with_phone: bool = False) -> pd.DataFrame:
    """The roster as a table (columns: :data:`LABELS`' keys), sorted by community (streets
    outside every community last), then grid, street, alley, then code. ``area``: a
    community, subdistrict or district code."""
    today = city_today()
    with engine.connect() as conn:
        grids = pd.DataFrame(conn.execute(text(_GRIDS_SQL)).mappings().all())
        streets = pd.DataFrame(conn.execute(text(_STREETS_SQL)).mappings().all())
        duties = conn.execute(text(_DUTIES_SQL), {"today": today}).all()
        district_code = None
        if area is not None:
            found = _area(conn, area)
            if found.level == "district":
                district_code = found.code
        districts = dict(conn.execute(text("SELECT id, code FROM areas")).all())
    if len(grids):
        grids["district_code"] = grids.pop("district_id").map(districts)
    frames = [f for f in (grids, streets) if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(LABELS))
    rows = pd.concat(frames, ignore_index=True)
    if area is not None:
        keep = (
            rows["community_code"].eq(area)
            | rows["subdistrict_code"].eq(area)
            | rows["district_code"].eq(district_code or area)
        )
        rows = rows[keep]
    held: dict[tuple[str, int, str], list[str]] = {}
    for d in duties:
        col = ROLE_COLUMN.get(d.role)
        if col is None:
            continue
        held.setdefault((d.on_what, int(d.target), col), []).append(
            _who(d.name, d.external_id, d.phone, with_phone)
        )
    for col in ROLE_COLUMN.values():
        rows[col] = [
            "、".join(held.get(("grid" if k == "grid" else "street", int(t), col), [])) or None
            for k, t in zip(rows["kind"], rows["target"], strict=True)
        ]
    rows = rows.assign(
        _c=rows["community_code"].isna(),
        _k=rows["kind"].map(KIND_ORDER),
    ).sort_values(["_c", "community_code", "_k", "code"], na_position="last")
    rows["kind"] = rows["kind"].map(lambda k: f"{KIND_ZH[k]} {k}")
    rows["households"] = rows["households"].astype("Int64")
    return rows[list(LABELS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# tables for people: CSV (UTF-8 with a BOM) and XLSX
# --------------------------------------------------------------------------------------------


def check_table_file(path: Path, what_zh: str, what: str) -> str:
    """The suffix (.csv or .xlsx) of a table export, else an InputError; and its folder must
    exist (T49 #11: nothing is made for a mistyped path)."""
    from geo.export import check_out_folder

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(
            f"{what_zh}文件 {path.name} 的类型 '{path.suffix}' 不支持，只能写 .csv 或 .xlsx 文件 "
            f"{path.name}: the {what} is written as .csv or .xlsx, not '{path.suffix}'"
        )
    check_out_folder(path)
    return suffix


def write_table(
    df: pd.DataFrame,
    path: Path,
    headers: dict[str, str],
    code_columns: tuple[str, ...],
    sheet: str,
) -> Path:
    """Write ``df`` to ``path`` (.csv: UTF-8 with a BOM, Excel's reading; .xlsx: one sheet,
    codes as text cells) under ``headers`` (key → header). In a CSV, a code starting with a
    digit gets a leading tab and a cell starting like a formula a leading ' (the rules of the
    report exports, :func:`geo.report_export.csv_cell`); XLSX text is never a formula."""
    from geo.report_export import XLSX_OPTIONS, _codes_as_text, _lay_out, for_csv
    from geo.vector_io import atomic_file

    out = _codes_as_text(df, code_columns)
    suffix = path.suffix.lower()
    with atomic_file(path) as tmp:
        if suffix == ".csv":
            labelled = for_csv(out, code_columns).rename(columns=headers)
            labelled.to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            options = {"options": XLSX_OPTIONS}
            with pd.ExcelWriter(tmp, engine="xlsxwriter", engine_kwargs=options) as xl:
                labelled = out.rename(columns=headers)
                labelled.to_excel(xl, sheet_name=sheet, index=False)
                as_text = {"text": xl.book.add_format({"num_format": "@"})}  # typed in: text
                code_headers = {headers.get(c, c) for c in code_columns}
                _lay_out(xl.sheets[sheet], labelled, as_text, 60, code_headers)
    return path


def export_roster(
    engine: Engine,
    path: str | Path,
    area: str | None = None,
    with_phone: bool = False,
) -> int:
    """Write the roster to .csv or .xlsx; returns the number of rows."""
    path = Path(path)
    check_table_file(path, "职责名册", "roster")
    df = roster(engine, area, with_phone)
    write_table(df, path, headers(LABELS), CODE_COLUMNS, "职责名册")
    return len(df)


def headers(labels: dict[str, str]) -> dict[str, str]:
    """key → "label key" (the report exports' headers: a script reads the last word)."""
    return {k: f"{v} {k}" for k, v in labels.items()}
