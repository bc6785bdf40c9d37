"""The people registry (人员名册) as ``gridward import people`` reads it: its own headers
(人员编号, 姓名, 手机号, 角色, 经度, 纬度, 楼栋编号, 兼职, 容量), so the office edits the file and
imports it back; the unchanged file imports with nothing changed.

WHY (T49 #6): there was no way to get the registry out: ``GET /people`` lacks phones, homes
and capacity, and names the registry id ``external_id``. This file holds phones and homes
(personal data): planners and admins only.

People still serving only, unless asked for the leavers too (``leavers``: an office's
record of everyone; a column 在岗状态 says 在岗 / 已离岗, which the import does not read: a
leaver's row re-imported is kept inactive, named in a warning, and ``--reactivate`` brings
them back).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo.assign.people import ROLES
from geo.errors import NotFoundError
from geo.roster_export import check_table_file, write_table

# column → the header import people reads for it (geo.assign.people.COLUMNS)
HEADERS = {
    "person_id": "人员编号",
    "name": "姓名",
    "phone": "手机号",
    "roles": "角色",
    "lon": "经度",
    "lat": "纬度",
    "building_id": "楼栋编号",
    "part_time": "兼职",
    "capacity": "容量",
}
# building ids are plain numbers (no leading zeros): marked, the import would not find them
CODE_COLUMNS = ("person_id", "phone")

_SQL = """
SELECT p.external_id AS person_id, p.name, p.phone, p.roles, ST_X(p.home) AS lon,
       ST_Y(p.home) AS lat, p.home_building_id AS building_id, p.part_time, p.capacity,
       p.active AS status
FROM people p LEFT JOIN areas c ON c.id = p.area_id
LEFT JOIN areas s ON s.id = c.parent_id LEFT JOIN areas d ON d.id = s.parent_id
WHERE (p.active OR :leavers) AND (CAST(:a AS text) IS NULL OR :a IN (c.code, s.code, d.code))
ORDER BY p.external_id
"""


#: the column a registry with leavers adds (not read by the import: a leaver stays inactive)
STATUS = {"status": "在岗状态"}


def _known_area(conn: Connection, code: str) -> None:
    """NotFoundError unless ``code`` is a stored area. WHY (T70 #12): ``export people --area``
    came to the command line; a mistyped code wrote an empty registry without a word (the
    roster export says the area does not exist)."""
    if conn.execute(text("SELECT 1 FROM areas WHERE code = :c"), {"c": code}).first() is None:
        raise NotFoundError(
            f"区划 {code} 不存在，请给社区、街道或区的编码 "
            f"area '{code}' does not exist: give a community, subdistrict or district code"
        )


def people_table(engine: Engine, area: str | None = None, leavers: bool = False) -> pd.DataFrame:
    """The registry's serving people, one row each, columns :data:`HEADERS`' keys: roles in
    Chinese joined with 、 (网格长、专职网格员), part-time as 是/否, home as WGS 84 lon/lat (full
    precision) and its building id. ``area``: only those whose home lies in that community,
    subdistrict or district (a planner's scope). ``leavers``: those who left too, and a last
    column ``status`` (在岗 / 已离岗). An unknown ``area`` is a NotFoundError, as the
    roster's: an empty file would read as an area where nobody serves."""
    with engine.connect() as conn:
        if area is not None:
            _known_area(conn, area)
        rows = conn.execute(text(_SQL), {"a": area, "leavers": leavers}).mappings().all()
    df = pd.DataFrame(rows, columns=[*HEADERS, "status"])
    if leavers:
        df["status"] = df["status"].map(lambda v: "在岗" if v else "已离岗")
    else:
        df = df.drop(columns="status")
    df["roles"] = df["roles"].map(lambda rs: "、".join(ROLES.get(r, r) for r in (rs or [])))
    df["part_time"] = df["part_time"].map(lambda v: "是" if v else "否")
    df["building_id"] = df["building_id"].map(lambda v: None if pd.isna(v) else str(int(v)))
    df["phone"] = df["phone"].map(lambda v: v if v else None)
    return df


def export_people(
    engine: Engine, path: str | Path, area: str | None = None, leavers: bool = False
) -> int:
    """Write the registry to .csv (UTF-8 with a BOM) or .xlsx; returns the number of people."""
    path = Path(path)
    check_table_file(path, "人员名册", "people registry")
    df = people_table(engine, area, leavers)
    headers = {**HEADERS, **STATUS} if leavers else HEADERS
    write_table(df, path, headers, CODE_COLUMNS, "人员名册")
    return len(df)
