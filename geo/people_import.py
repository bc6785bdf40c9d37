"""Import the people registry (导入人员名册): an upsert by registry id that changes only what
the file says.

WHY its own module: a roster is often a partial sheet (ids, roles and homes only, from another
office) or an office layout (a title row above the header, a 合计 row at the end), and a
re-import must neither wipe the names and phones the file does not carry, nor undo a leave
(``person_leaves``) behind the planner's back. The reading of columns and values stays in
:func:`geo.assign.people.read_people`; this module finds the table in the sheet first.

Rules:

* a column absent from the file leaves the stored value alone, and so does a blank cell of a
  registered person (name, phone, roles, capacity, part-time, home: :func:`_said_cells`,
  T67 #1); a new person without a name is named by their id, and named in a warning. A
  roles cell of 无 / none / - removes the roles, a capacity of 默认 / default clears it
  (back to the staffing default), a phone of 无 / - clears it; a role that a duty in force or
  planned needs is kept, and named in a warning (:func:`_duty_roles`). A home (lon/lat or
  building) is needed only for people not registered yet: a sheet of ids and phones, or a
  row with blank home cells, keeps a registered person's stored home; a new person without
  one refuses the whole file, naming them, nothing written (as every other bad row does: no
  half-imported roster);
* a home given that lies in no community or village of the city is stored (without a
  community) and named in a warning with the nearest community and how far; one more than
  ``GRIDWARD_HOME_FAR_KM`` (:func:`far_km`, 50 by default) from every area of the city is
  refused, nothing written: a wrong number (another city, a lost digit), not a resident
  (named with the file's other problems when there are some);
* the registry id is the 人员编号 / ``person_id`` / ``external_id`` column; ``id`` is
  gridward's system id (GET /people, exports): beside a registry-id column it is left out
  and named, alone it refuses the file (T49 #1); names moving between people are warned;
* a phone that reads as no Chinese mobile or landline number is stored as given and named
  (masked) in a warning;
* a person who left (``active`` false) stays inactive and is named in a warning;
  ``reactivate`` brings the listed leavers back, and the answer says so;
* with ``covers`` (a planner's scope), every imported person's new home, and an existing
  person's stored one, must be in the planner's areas: otherwise ForbiddenError naming them,
  nothing written;
* the answer counts the people ``created``, ``updated`` (anything stored about them changed)
  and ``unchanged``, with the registry ids of the first two (:data:`IDS_LISTED`), so a sync
  job tells a new person, a change and a file imported twice apart (T67 #9);
* a new name stamps the person's tracks (``changed_at``, :mod:`geo.track_touch`) in the
  import's transaction, so a sync by ``GET /tracks?changed_since=`` sees the name their rows
  now show; a file imported twice stamps nothing;
* a row giving a registered person another name *and* placing her elsewhere (a home in
  another subdistrict, or a file of areas holding neither her home nor all her duties) is
  another person under a colliding registry id: the file is refused naming her, nothing
  written, unless ``same_person`` names her id (T70 #3, :func:`_collisions`);
* a home given within :data:`HOME_SAME_DEG` of the stored one keeps the stored point: the
  .xlsx export's 16 digits import back ``unchanged`` (T70 #11);
* a roster leaving out active people of its own areas (where its people live) names them;
  another subdistrict's people are not its own (T70 #12, :func:`_not_in_file`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.area_paths import AreaPath, area_path
from geo.assign.people import (
    COLUMNS,
    MAX_NAME,
    MAX_PERSON_ID,
    ROLES,
    coordinate_problem,
    cut_columns,
    decode_table,
    has_invisible,
    header_key,
    mask_phone,
    not_yes_no,
    parse_roles,
    person_label,
    phone_ok,
    read_people,
    read_workbook,
    shown_columns,
    swap_note,
    swap_remedy,
    swapped,
    unreadable,
    without_invisible,
)
from geo.crs import DATUM_NAMES, WGS84, crs_said, datum_remedy
from geo.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    person_en,
    person_zh,
)
from geo.errors import count_en as _count
from geo.errors import verb_en as _verb
from geo.settings import city_today, get_settings
from geo.track_touch import shown_of, touch_changed
from geo.tracks.parse_table import HEAD_ROWS

Covers = Callable[[AreaPath], bool]
"""Whether an area path is in the caller's scope (a planner's ``Principal.covers_area``)."""

_ID_KEYS = frozenset(header_key(a) for a in COLUMNS["person_id"])
# gridward's system id (people.id) is ``id`` in GET /people and in every export, where the
# registry id is ``external_id`` (reports: ``person_code``). WHY (T49 #1): the GET /people
# answer saved as CSV and imported back was keyed by ``id`` (a person_id alias), and two
# people whose registry ids were numbers got each other's names, silently. A bare ``id``
# beside a registry-id column is left out; one alone is refused (:func:`_keys`)
_SYSTEM_KEY = header_key("id")
_API_ID_KEYS = frozenset(header_key(a) for a in ("external_id", "person_code"))
_REGISTRY_KEYS = (_ID_KEYS - {_SYSTEM_KEY}) | _API_ID_KEYS
_KNOWN_KEYS = frozenset(header_key(a) for aliases in COLUMNS.values() for a in aliases)
_CANON = {header_key(a): canon for canon, aliases in COLUMNS.items() for a in aliases}
_NAME_KEYS = frozenset(header_key(a) for a in COLUMNS["name"])
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
# what a present column writes over on a re-import; a blank cell keeps the old value (name:
# no name; the others: the row's keep_* flag, see _said_cells)
_UPDATES = {
    "name": "name = COALESCE(:name, people.name)",
    "phone": "phone = CASE WHEN :keep_phone THEN people.phone ELSE EXCLUDED.phone END",
    "roles": "roles = CASE WHEN :keep_roles THEN people.roles ELSE EXCLUDED.roles END",
    "capacity": "capacity = CASE WHEN :keep_cap THEN people.capacity ELSE EXCLUDED.capacity END",
    "part_time": "part_time = CASE WHEN :keep_pt THEN people.part_time ELSE EXCLUDED.part_time END",
}
# a cell that says "none" (T67 #1): in the roles column it removes every role, where a blank
# cell keeps them; the phone column reads these as no phone (geo.assign.people.phone_ok)
NONE_CELLS = frozenset({"无", "暂无", "没有", "-", "--", "—", "/", "none", "n/a", "na", "null"})
# a capacity cell that puts a person back on the staffing default (no capacity stored)
DEFAULT_CELLS = frozenset({"默认", "default"})
# the columns whose blank cell keeps a registered person's stored value, as a blank name and
# blank home cells do (T67 #1: a blank role cell removed the roles of a steward on duty)
_KEPT_WHEN_BLANK = ("phone", "roles", "capacity", "part_time")
IDS_LISTED = 100
"""The answer's ``created_ids`` and ``updated_ids`` list at most this many registry ids (the
counts say how many in all)."""


# --------------------------------------------------------------------------------------------
# the table in the sheet
# --------------------------------------------------------------------------------------------


def _cells(raw: bytes, filename: str) -> list[list[str | None]] | None:
    """The sheet's rows as text cells (None: empty), or None for a type read_people judges."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            df = read_workbook(raw, header=None)  # the limits of a track workbook (T42 #2)
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
        if any(header_key(c) in _ID_KEYS | _API_ID_KEYS for c in _filled(row)):
            return i
        seen += 1
        if seen == HEAD_ROWS:
            break
    return 0


def is_summary_row(row: list[str | None], xy: list[int]) -> bool:
    """A 合计/总计/Total or note row: a cell that is the label alone, and no lon/lat pair (a
    row with coordinates is read, and judged, as a person; or as a building, by the census
    reader :mod:`geo.census_table`)."""
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
        if not is_summary_row(body[i], xy):
            break
        cut = i
    return len(body) - cut


@dataclass
class _Sheet:
    """The registry's table as found in a file: what :func:`read_people` reads (``data``
    under the name ``name``), and its header and people rows (title rows above and summary
    rows below left out) with the file's row number of the first (``first_row``)."""

    data: bytes
    name: str
    header: list[str | None] | None
    body: list[list[str | None]]
    first_row: int
    warnings: list[str]
    # the file's columns that are not read, by their names in the file (T49 #1)
    left_out: list[str]
    # an ``id`` column left out beside the registry id: per people row, (file row, its id
    # cell, its registry-id cell), for :func:`_ids_misread` (T51 #2, #3)
    system_ids: list[tuple[int, str, str]] = field(default_factory=list)
    registry_column: str = ""


def _sheet(path: Path) -> _Sheet:
    """The table of ``path``, with warnings naming the rows left out: title rows above the
    header, summary and note rows at the end. A sheet without them is read as it is."""
    if not path.is_file():
        raise InputError(f"人员文件 {path} 不存在，请检查路径 people file not found: {path}")
    raw = path.read_bytes()
    rows = _cells(raw, path.name)
    if not rows:
        return _Sheet(raw, path.name, None, [], 0, [], [])
    top = _header_row(rows)
    system_ids, by = _system_ids(rows[top], rows[top + 1 :], top + 2)
    header, body, left_out, keyed = _keys(rows[top], rows[top + 1 :], path.name)
    xy = [j for j, c in enumerate(header) if c is not None and header_key(c) in _XY_KEYS]
    n_foot = _footer(body, xy)
    kept = body[: len(body) - n_foot]
    warnings = [keyed] if keyed else []
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
    cleaned = _clean_invisible(header, kept, top + 2)
    if cleaned:  # the cleaned cells are read below, as the CSV of the rows kept
        warnings.append(cleaned)
    system_ids = system_ids[: len(kept)]
    if not warnings and header == rows[top]:  # read as it is (else as the header read)
        return _Sheet(raw, path.name, header, kept, top + 2, [], left_out, system_ids, by)
    return _Sheet(
        _as_csv(header, kept),
        f"{path.stem}.csv",
        header,
        kept,
        top + 2,
        warnings,
        left_out,
        system_ids,
        by,
    )


def _system_ids(
    header: list[str | None], body: list[list[str | None]], first_row: int
) -> tuple[list[tuple[int, str, str]], str]:
    """The cells of an ``id`` column beside a registry-id column (which :func:`_keys` leaves
    out), each with its row's file number and registry-id cell; and that column's name.
    Empty when the file has no such pair."""
    keys = [header_key(c) if c is not None else "" for c in header]
    system = [j for j, k in enumerate(keys) if k == _SYSTEM_KEY]
    registry = [j for j, k in enumerate(keys) if k in _REGISTRY_KEYS]
    if not system or not registry:
        return [], ""
    s, r = system[0], registry[0]

    def cell(row: list[str | None], j: int) -> str:
        return (row[j] or "").strip() if j < len(row) else ""

    return [(first_row + i, cell(row, s), cell(row, r)) for i, row in enumerate(body)], str(
        header[r]
    )


def _left_out_words(names: list[str]) -> tuple[str, str]:
    """The columns not read as a message says them after "nothing changed": (Chinese,
    English), empty for none (as read_people says them)."""
    if not names:
        return "", ""
    shown = shown_columns(names)
    return f"（未读入的列：{'、'.join(shown)}）", f" (columns left out: {', '.join(shown)})"


def _keys(
    header: list[str | None], body: list[list[str | None]], filename: str
) -> tuple[list[str | None], list[list[str | None]], list[str], str | None]:
    """The header and rows with the registry id read from the right column; the columns not
    read (file order, the file's names); a warning when an ``id`` column is left out.

    * ``id`` beside a registry-id column (``external_id``, ``person_code``, 人员编号,
      ``person_id``, 编号, 工号) is gridward's system id: left out, and named;
    * ``id`` alone is refused: GET /people and the exports call the system id ``id``, and
      read as registry ids those numbers are other people's (T49 #1);
    * ``external_id`` / ``person_code`` (GET /people's and the reports' names) are the
      registry id when the file has no other registry-id column."""
    keys = [header_key(c) if c is not None else "" for c in header]
    named = [c if c is not None else f"Unnamed: {j}" for j, c in enumerate(header)]
    system = [j for j, k in enumerate(keys) if k == _SYSTEM_KEY]
    registry = [j for j, k in enumerate(keys) if k in _REGISTRY_KEYS]
    header = list(header)
    if registry and not any(keys[j] in _ID_KEYS for j in registry):
        header[registry[0]] = "person_id"  # external_id / person_code: read as the registry id
    known = {j for j, c in enumerate(header) if c is not None and header_key(c) in _KNOWN_KEYS}
    left_out = [named[j] for j in range(len(header)) if j not in known or j in system]
    if not system:
        return header, body, left_out, None
    if not registry:
        rest_zh, rest = _left_out_words([n for j, n in enumerate(named) if j not in known])
        raise InputError(
            f"人员文件 {filename} 以 id 列为编号：id 是 gridward 的系统编号（people.id，"
            "GET /people 答复和导出文件中的 id），不作人员编号读入，未做任何更改；如该列是人员"
            f"编号，请把列名改为 人员编号 或 external_id 后重新导入{rest_zh} "
            f"the people file {filename} keys its rows by a column named id: id is gridward's "
            "system id (people.id, the id of GET /people and of the exports), not read as the "
            "registry id; nothing changed; if the column holds registry ids, rename it 人员编号 "
            f"or external_id and import again{rest}"
        )
    drop = set(system)
    header = [c for j, c in enumerate(header) if j not in drop]
    body = [[c for j, c in enumerate(r) if j not in drop] for r in body]
    by = named[registry[0]]
    return (
        header,
        body,
        left_out,
        f"列 id 是 gridward 的系统编号（people.id，GET /people 答复中的 id），不是人员编号，"
        f"未读入；人员编号按 {by} 列读入 column id is gridward's system id (people.id, the id "
        f"of GET /people), not a registry id: left out; registry ids are read from {by}",
    )


def _clean_invisible(
    header: list[str | None], body: list[list[str | None]], first_row: int
) -> str | None:
    """Remove the invisible characters (:func:`geo.assign.people.without_invisible`: bidi
    controls, zero-width and other format characters, blank letters) from the id and name
    cells of ``body``, in place; the warning naming the rows so cleaned (``first_row``: the
    file's row number of ``body[0]``), or None.

    WHY (T42 #7): a name '\u202eabc张三' was stored as given and read 三张cba on every
    page and report (U+202E turns the text after it around), and an id with a zero-width
    space is another id that looks the same. A cell of nothing else becomes empty (a blank
    name keeps the stored one; a blank id is refused, naming the row)."""
    cols = [
        j for j, c in enumerate(header) if c is not None and header_key(c) in _ID_KEYS | _NAME_KEYS
    ]
    ids = [j for j in cols if header_key(header[j] or "") in _ID_KEYS]
    rows: list[tuple[str, str]] = []
    for i, r in enumerate(body):
        changed = False
        for j in cols:
            cell = r[j] if j < len(r) else None
            if cell is not None and has_invisible(cell):
                clean = without_invisible(cell)
                r[j] = clean if clean.strip() else None
                changed = True
        if changed:
            pid = next((r[j] for j in ids if j < len(r) and r[j]), None)
            shown = f" {pid.strip()[:MAX_PERSON_ID]}" if pid and pid.strip() else ""
            rows.append((f"第 {first_row + i} 行{shown}", f"row {first_row + i}{shown}"))
    if not rows:
        return None
    shown_zh, shown = _shown_rows(rows)
    n = len(rows)
    return (
        f"{n} 行的姓名或人员编号中有不可见字符（文字方向控制符 U+202A–U+202E、U+2066–U+2069，"
        "零宽字符 U+200B–U+200D、U+2060、U+FEFF 等），会使名字显示颠倒或看似相同，已删去后"
        f"导入（{shown_zh}） removed invisible characters (bidi controls U+202A–U+202E, "
        "U+2066–U+2069, zero-width characters U+200B–U+200D, U+2060, U+FEFF …) from the "
        f"name or registry id of {_count(n, 'row', 'rows')}, as they show a name reversed or "
        f"make two ids look alike; imported without them: {shown}"
    )


def _as_csv(header: list[str | None], body: list[list[str | None]]) -> bytes:
    """The table as CSV, every row as wide as the header (a blank row stays a row)."""
    out = io.StringIO()
    writer = csv.writer(out)
    width = len(header)
    writer.writerow([c if c is not None else f"Unnamed: {j}" for j, c in enumerate(header)])
    for r in body:
        writer.writerow([("" if c is None else c) for c in (r + [None] * width)[:width]])
    return out.getvalue().encode("utf-8")


def read_roster(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The registry in ``path`` as :func:`read_people` reads it, and warnings naming the rows
    left out (see :func:`_sheet`)."""
    sheet = _sheet(path)
    df = read_people(sheet.data, sheet.name, home_required=False)
    df.attrs["ignored_columns"] = cut_columns(sheet.left_out)
    df.attrs["ignored_columns_count"] = len(sheet.left_out)
    return df, sheet.warnings


@dataclass
class _Said:
    """What the cells of :data:`_KEPT_WHEN_BLANK` say: per registry id, the columns whose
    cell is blank (the stored value stays); ``columns``: those of the columns the file has."""

    blank: dict[str, set[str]] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)


def _clears(column: str, cell: str) -> bool:
    """Whether a roles cell says none (:data:`NONE_CELLS`) or a capacity cell says back to
    the default (:data:`DEFAULT_CELLS`). A phone cell's words need no help: read_people
    keeps only a phone's digits, so 无 is already no phone."""
    word = cell.strip().lower()
    if column == "roles":
        return word in NONE_CELLS
    return column == "capacity" and word in DEFAULT_CELLS


def _said_cells(sheet: _Sheet) -> _Said:
    """Which of the phone, roles, capacity and part-time cells are blank, per registry id.
    The roles and capacity cells that clear the value (:func:`_clears`) are emptied in
    ``sheet`` (read again as CSV): :func:`read_people` reads 无 as an unknown role and 默认
    as no number, and an emptied cell, not blank in the file, sets no roles / no capacity.

    WHY (T67 #1): read_people reads a blank roles cell as no roles, a blank phone as "", a
    blank part-time flag as 否, a blank capacity as none, and the import wrote them over
    the stored values: a row meant to change a steward's phone took her role away while she
    held her alley. A blank cell now says nothing, as a blank name always did; a word clears."""
    if sheet.header is None:
        return _Said()
    where: dict[str, int] = {}
    for j, c in enumerate(sheet.header):
        canon = _CANON.get(header_key(c)) if c is not None else None
        if canon is not None:
            where.setdefault(canon, j)
    said = _Said(columns={c for c in _KEPT_WHEN_BLANK if c in where})
    if "person_id" not in where or not said.columns:
        return said
    emptied = False
    for r in sheet.body:
        cells = {c: (r[j] or "").strip() if j < len(r) else "" for c, j in where.items()}
        if not cells["person_id"]:
            continue
        blank = {c for c in said.columns if not cells[c]}
        for c in said.columns - blank:
            if _clears(c, cells[c]):
                r[where[c]] = None
                emptied = True
        said.blank[cells["person_id"]] = blank
    if emptied:
        sheet.data = _as_csv(sheet.header, sheet.body)
        sheet.name = f"{Path(sheet.name).stem}.csv"
    return said


# --------------------------------------------------------------------------------------------
# every problem of the file at once
# --------------------------------------------------------------------------------------------
# WHY (outside tester T38, L9): read_people stops at the first problem, so a file with a
# swapped home and an unknown role took a run per problem. Before anything is written, the
# rows are read here as read_people reads them (the same columns and cell values) and each
# row's every problem listed; with two or more, the file is refused naming them all. One
# problem alone is refused as before, by the check that meets it (its message unchanged).

MAX_LISTED = 20
_ROLE_SPLIT = re.compile(r"[;；、,，/|]")  # as parse_roles splits a role cell
# the order a row's problems are listed in, and the remedies after the list
_KINDS = (
    "id", "dup", "long", "swap", "xy", "role", "capacity", "part_time", "building", "far",
    "far_swap", "homeless",
)  # fmt: skip


@dataclass
class _Problem:
    row: int  # the file's row number
    who: tuple[str, str] | None  # the person (Chinese, English), None without a person_id
    kind: str  # one of _KINDS
    zh: str
    en: str


def _frame(sheet: _Sheet) -> pd.DataFrame | None:
    """The people rows in canonical columns, as text cells with read_people's empty cells,
    indexed by the file's row number; None when the table itself is wrong (no person_id
    column, a column twice, lon without lat, no rows): read_people names that."""
    if sheet.header is None or not sheet.body:
        return None
    df = pd.read_csv(
        io.BytesIO(_as_csv(sheet.header, sheet.body)),
        dtype=str,
        skipinitialspace=True,
        skip_blank_lines=False,
    )
    df.index = range(sheet.first_row, sheet.first_row + len(df))
    df = df.dropna(how="all")
    rename: dict[str, str] = {}
    for col in df.columns:
        canon = _CANON.get(header_key(col))
        if canon is not None and canon in rename.values():
            return None
        if canon is not None:
            rename[col] = canon
    df = df[list(rename)].rename(columns=rename)
    if df.empty or "person_id" not in df or ("lon" in df) != ("lat" in df):
        return None
    return df


def _who(df: pd.DataFrame, row: int) -> tuple[str, str] | None:
    pid = df.at[row, "person_id"]
    if pd.isna(pid) or not str(pid).strip():
        return None
    name = df.at[row, "name"] if "name" in df else None
    if isinstance(name, str):  # a name over the limit is named by its start (T42 #7)
        name = _cut(name.strip(), MAX_NAME)
    return person_label(_cut(str(pid).strip(), MAX_PERSON_ID), name)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _file_problems(df: pd.DataFrame | None) -> list[_Problem]:
    """Every row's problems that read_people refuses a file for (see above)."""
    if df is None:
        return []
    found: list[_Problem] = []

    def add(row: int, kind: str, zh: str, en: str) -> None:
        found.append(_Problem(row, _who(df, row), kind, zh, en))

    seen: dict[str, int] = {}
    for row, pid in df["person_id"].items():
        pid = None if pd.isna(pid) else str(pid).strip()
        if not pid:
            add(row, "id", "缺少人员编号（person_id）", "no person_id")
        elif pid in seen:
            add(
                row,
                "dup",
                f"人员编号 {_cut(pid, MAX_PERSON_ID)} 与第 {seen[pid]} 行重复",
                f"person_id {_cut(pid, MAX_PERSON_ID)} repeats row {seen[pid]}",
            )
        else:
            seen[pid] = row
        if pid and len(pid) > MAX_PERSON_ID:  # (T42 #7) no limit was set
            add(
                row,
                "long",
                f"人员编号有 {len(pid):,} 个字符，超过上限 {MAX_PERSON_ID} 个",
                f"person_id has {len(pid):,} characters, over the limit of {MAX_PERSON_ID}",
            )
    if "name" in df:  # (T42 #7) a 5,000-character name filled the steward table
        for row, name in df["name"].dropna().items():
            n = len(str(name).strip())
            if n > MAX_NAME:
                add(
                    row,
                    "long",
                    f"姓名有 {n:,} 个字，超过上限 {MAX_NAME} 个字",
                    f"the name has {n:,} characters, over the limit of {MAX_NAME}",
                )
    if "lon" in df:
        lon = pd.to_numeric(df["lon"], errors="coerce")
        lat = pd.to_numeric(df["lat"], errors="coerce")
        given = df["lon"].notna() | df["lat"].notna()
        bad = given & ~(lon.between(-180, 180) & lat.between(-90, 90))
        turned = bad & swapped(df["lon"], df["lat"])
        for row in bad[bad].index:
            zh, en = coordinate_problem(df.at[row, "lon"], df.at[row, "lat"], turned[row])
            add(row, "swap" if turned[row] else "xy", zh.removeprefix("的"), en)
    if "roles" in df:
        for row, cell in df["roles"].dropna().items():
            for part in (p.strip() for p in _ROLE_SPLIT.split(str(cell))):
                try:
                    parse_roles(part)
                except InputError:
                    add(row, "role", f"角色（role 列）'{part}' 无效", f"unknown role '{part}'")
    if "capacity" in df:
        cap = pd.to_numeric(df["capacity"], errors="coerce")
        for row in df.index[df["capacity"].notna() & ~(cap >= 0)]:
            v = df.at[row, "capacity"]
            add(
                row,
                "capacity",
                f"容量（capacity）'{v}' 须为不小于 0 的数",
                f"capacity '{v}' must be a number ≥ 0",
            )
    if "part_time" in df:
        for row in df.index[not_yes_no(df["part_time"])]:
            v = df.at[row, "part_time"]
            add(
                row,
                "part_time",
                f"兼职（part_time）'{v}' 须填 是/否",
                f"part_time '{v}' must be yes/no (是/否)",
            )
    return found


def _stored_problems(conn: Connection, df: pd.DataFrame | None) -> list[_Problem]:
    """The problems the database tells: a home building that does not exist, a person not
    registered without a home in the file (:func:`_resolve_buildings`,
    :func:`_refuse_unregistered_homeless`)."""
    if df is None:
        return []
    found: list[_Problem] = []
    home = pd.Series(False, index=df.index)
    if "lon" in df:
        home |= df["lon"].notna() | df["lat"].notna()
    if "building_id" in df:
        keys = df["building_id"].dropna().astype(str)
        missing = set(
            conn.execute(
                text(
                    "SELECT k FROM unnest(CAST(:keys AS text[])) k WHERE NOT EXISTS (SELECT 1 "
                    "FROM buildings WHERE source_key = k OR id::text = k "
                    "OR source_key = 'osm:w' || k)"
                ),
                {"keys": sorted(set(keys))},
            ).scalars()
        )
        for row, key in keys[keys.isin(missing)].items():
            found.append(
                _Problem(
                    row,
                    _who(df, row),
                    "building",
                    f"住址楼栋 {key} 不存在",
                    f"building {key} does not exist",
                )
            )
        home |= df["building_id"].notna()
    found += _far_problems(conn, df)
    ids = df["person_id"].astype("string").str.strip()
    homeless = ~home & ids.notna() & (ids != "")
    if homeless.any():
        known = set(
            conn.execute(
                text("SELECT external_id FROM people WHERE external_id = ANY(:ids)"),
                {"ids": sorted(set(ids[homeless]))},
            ).scalars()
        )
        for row in ids.index[homeless & ~ids.isin(known)]:
            found.append(
                _Problem(
                    row,
                    _who(df, row),
                    "homeless",
                    "未登记且文件中没有其住址",
                    "not registered and has no home in the file",
                )
            )
    return found


def _far_problems(conn: Connection, df: pd.DataFrame) -> list[_Problem]:
    """The rows whose home (their lon/lat when valid, else their building's point, as
    :func:`_rows` and :func:`_resolve_buildings` take it) lies over :func:`far_km` from every
    area of the city: what :func:`_homes_outside` refuses after the upsert, found here from
    the file. WHY (re-tester T39, M5): it was named only on the run after the listed
    problems were fixed. A far home whose lon/lat, swapped, lies near the city's areas is
    ``far_swap`` (as _homes_outside's note). Nothing when the city has no communities yet
    (as :func:`_no_community`: nothing to judge homes by)."""
    nothing = pd.Series(np.nan, index=df.index)
    lon = pd.to_numeric(df["lon"], errors="coerce") if "lon" in df else nothing
    lat = pd.to_numeric(df["lat"], errors="coerce") if "lat" in df else nothing
    xy = lon.between(-180, 180) & lat.between(-90, 90)
    keys = df["building_id"] if "building_id" in df else pd.Series(None, index=df.index)
    keys = keys.where(~xy & keys.notna(), None)
    wanted = xy | keys.notna()
    if not wanted.any():
        return []
    limit = far_km()
    far = conn.execute(
        text(
            "WITH h AS (SELECT u.r, u.x IS NOT NULL AS xy, CASE WHEN u.x IS NOT NULL THEN "
            "ST_SetSRID(ST_MakePoint(u.x, u.y), 4326) ELSE (SELECT ST_PointOnSurface(b.geom) "
            "FROM buildings b WHERE b.source_key = u.k OR b.id::text = u.k "
            "OR b.source_key = 'osm:w' || u.k ORDER BY b.id LIMIT 1) END AS pt "
            "FROM unnest(CAST(:rows AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]), "
            "CAST(:keys AS text[])) AS u(r, x, y, k)), "
            # a home in a community is 0 km from it: only the others are measured
            "o AS (SELECT * FROM h WHERE h.pt IS NOT NULL AND NOT EXISTS (SELECT 1 FROM areas c "
            "WHERE c.level IN ('community', 'village') AND ST_Intersects(c.geom, h.pt))) "
            "SELECT o.r, f.km, o.xy AND abs(ST_X(o.pt)) <= 90 AND (SELECT min(ST_Distance("
            "a.geom::geography, s.pt::geography)) / 1000 FROM (SELECT geom FROM areas ORDER BY "
            "geom <-> s.pt LIMIT 5) a) <= :limit AS turned FROM o "
            "CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(ST_Y(o.pt), ST_X(o.pt)), 4326) "
            "AS pt) s CROSS JOIN LATERAL (SELECT min(ST_Distance(a.geom::geography, "
            "o.pt::geography)) / 1000 AS km FROM (SELECT geom FROM areas ORDER BY geom <-> o.pt "
            "LIMIT 5) a) f WHERE f.km > :limit AND EXISTS (SELECT 1 FROM areas WHERE level IN "
            "('community', 'village')) ORDER BY o.r"
        ),
        {
            "rows": [int(r) for r in df.index[wanted]],
            "xs": [float(v) if ok else None for v, ok in zip(lon[wanted], xy[wanted], strict=True)],
            "ys": [float(v) if ok else None for v, ok in zip(lat[wanted], xy[wanted], strict=True)],
            "keys": [None if pd.isna(k) else str(k).strip() for k in keys[wanted]],
            "limit": limit,
        },
    ).all()
    found = []
    for row, km, turned in far:
        if pd.isna(keys[row]):
            where_zh = f"住址（经度 {df.at[row, 'lon']}，纬度 {df.at[row, 'lat']}）"
            where = f"home (lon {df.at[row, 'lon']}, lat {df.at[row, 'lat']})"
        else:
            where_zh, where = f"住址楼栋 {keys[row]} ", f"home building {keys[row]}"
        zh = f"{where_zh}离本市所有区域 {km:.0f} 公里，超过 {limit:g} 公里"
        en = f"{where} is {km:.0f} km from every area of the city, more than {limit:g} km"
        if turned:
            zh += "（经纬度疑似写反：对调后即在本市的区域附近）"
            en += " (longitude and latitude look swapped: swapped, they lie near the city's areas)"
        found.append(_Problem(row, _who(df, row), "far_swap" if turned else "far", zh, en))
    return found


def _remedies(found: list[_Problem], df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """What to do about the problems listed, once per kind: (Chinese, English)."""
    kinds = {p.kind for p in found}
    zh: list[str] = []
    en: list[str] = []

    def say(z: str, e: str) -> None:
        zh.append(z)
        en.append(e)

    if "id" in kinds:
        say("请补上人员编号", "fill in the missing person_id")
    if "dup" in kinds:
        say(
            "每人的人员编号须唯一，请改正重复的编号",
            "each person_id must be unique: correct the repeats",
        )
    if "long" in kinds:
        say(
            f"姓名最多 {MAX_NAME} 个字，人员编号最多 {MAX_PERSON_ID} 个字符，请改短",
            f"a name may have at most {MAX_NAME} characters and a person_id at most "
            f"{MAX_PERSON_ID}: shorten them",
        )
    if kinds & {"swap", "far_swap"}:
        n_turned = sum(p.kind in ("swap", "far_swap") for p in found)
        given = int((df["lon"].notna() | df["lat"].notna()).sum())
        say(*swap_remedy(n_turned, n_turned == given > 1))
    if "xy" in kinds:
        say(
            "经度须为 -180 到 180、纬度须为 -90 到 90 的数（WGS 84），请改正",
            "lon must be a number from -180 to 180, lat from -90 to 90 (WGS 84)",
        )
    if "role" in kinds:
        say(
            "角色请用" + "、".join(f"{v}（{k}）" for k, v in ROLES.items()) + "之一",
            "roles: use " + ", ".join(f"{k} ({v})" for k, v in ROLES.items()),
        )
    if "building" in kinds:
        say("请检查楼栋编号，或先导入楼栋", "check the building ids, or import the buildings first")
    if "far" in kinds:  # as _homes_outside says it
        limit = far_km()
        say(
            f"离本市所有区域超过 {limit:g} 公里的住址应是坐标有误（其他城市的坐标、少了一位数字）："
            "请改正其经度/纬度（WGS 84），或删去这些行（如确实住得这么远，请调大设置 "
            "GRIDWARD_HOME_FAR_KM）",
            f"a home more than {limit:g} km from every area of the city is a wrong number "
            "(another city's, a lost digit): correct their lon/lat (经度/纬度, WGS 84) or leave "
            "their rows out (homes truly that far: raise the setting GRIDWARD_HOME_FAR_KM)",
        )
    if "homeless" in kinds:
        say(
            "未登记的人须给出住址（经度/纬度 lon+lat 或楼栋 building_id），或删去其行",
            "a person not registered needs a home (lon+lat or building_id), or leave their row out",
        )
    return zh, en


def _refuse_all(
    found: list[_Problem], df: pd.DataFrame, filename: str, left_out: list[str]
) -> InputError:
    """The refusal listing the file's problems, row by row (at most MAX_LISTED), then what
    to do about them; the columns not read (``left_out``) after "nothing changed": the
    README promised it, and a file keyed by the wrong column is seen by them (T49 #1)."""
    found = sorted(found, key=lambda p: (p.row, _KINDS.index(p.kind)))
    n = len(found)
    rows: dict[int, list[_Problem]] = {}  # a row's problems together, rows in file order
    for p in found[:MAX_LISTED]:
        rows.setdefault(p.row, []).append(p)
    zh_items = "；".join(
        f"第 {row} 行{f' {ps[0].who[0]}' if ps[0].who else ''}：{'，'.join(p.zh for p in ps)}"
        for row, ps in rows.items()
    )
    items = "; ".join(
        f"row {row}{f' {ps[0].who[1]}' if ps[0].who else ''}: {', '.join(p.en for p in ps)}"
        for row, ps in rows.items()
    )
    rest = n - MAX_LISTED
    zh_more, more = (f"；另有 {rest} 处", f"; and {rest} more") if rest > 0 else ("", "")
    zh_dos, dos = _remedies(found, df)
    zh_do, do = "；".join(zh_dos), "; ".join(dos)
    cols_zh, cols = _left_out_words(left_out)
    return InputError(
        f"人员文件 {filename} 有 {n} 处问题，未做任何更改{cols_zh}：{zh_items}{zh_more}。{zh_do} "
        f"the people file {filename} has {n} problem{'s' if n != 1 else ''}, nothing "
        f"changed{cols}: {items}{more}. {do}"
    )


# --------------------------------------------------------------------------------------------
# storing
# --------------------------------------------------------------------------------------------


def home_crs(crs: str | None) -> str:
    """The datum of a roster's lon/lat (``--crs``, API ``crs``; default WGS 84), checked
    before the file is read: an unknown name, or a projected CRS (metres in columns named
    经度/纬度), is refused. WHY (T46 #14): homes geocoded in 高德 (GCJ-02) were stored about
    500 m off, silently; the other imports and track uploads take a datum."""
    from geo.crs import normalize_crs

    source = normalize_crs(crs)
    if source in (WGS84, "gcj02", "bd09"):
        return source
    from pyproj import CRS

    if not CRS.from_user_input(source).is_geographic:
        raise InputError(
            f"坐标系 {source} 是平面坐标（米），而人员住址是经纬度：--crs（API：crs）请用 wgs84、"
            "gcj02、bd09、cgcs2000 或经纬度的 EPSG 代码（如 EPSG:4490） "
            f"{source} is a projected CRS (metres), and homes are longitude/latitude: --crs "
            "(API: crs) must be wgs84, gcj02, bd09, cgcs2000 or a geographic EPSG code such as "
            "EPSG:4490"
        )
    return source


def _part_time(roles: list[str]) -> bool:
    """The part-time flag roles imply, as :func:`read_people` derives it without a 兼职
    column: a part-time grid worker who is not also a full-time one."""
    return "part_time_worker" in roles and "grid_worker" not in roles


def _rows(df: pd.DataFrame, crs: str | None = None) -> list[dict[str, Any]]:
    """The upsert's parameters, one dict per person; homes converted from ``crs`` (a name
    :func:`home_crs` gave) to WGS 84."""
    from geo.crs import lonlat_to_wgs84

    if "lon" in df and crs is not None:
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
        x, y = lonlat_to_wgs84(lon, lat, crs)
        df = df.assign(lon=np.where(np.isfinite(lon), x, np.nan))
        df = df.assign(lat=np.where(np.isfinite(lat), y, np.nan))
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


def _keep_blanks(rows: list[dict[str, Any]], said: _Said) -> None:
    """Mark in each row (:func:`_rows`) what its blank cells keep (``keep_phone``,
    ``keep_roles``, ``keep_cap``, ``keep_pt``: the upsert leaves the stored value); a blank
    part-time flag beside a roles cell is what the roles imply (``pt_from_roles``), as when
    the file has no 兼职 column (T67 #1, :func:`_said_cells`)."""
    for row in rows:
        blank = said.blank.get(row["ext"], set())
        roles_given = "roles" in said.columns and "roles" not in blank
        pt_given = "part_time" in said.columns and "part_time" not in blank
        from_roles = roles_given and not pt_given
        if from_roles:
            row["pt"] = _part_time(row["roles"])
        row["keep_phone"] = "phone" in blank
        row["keep_roles"] = "roles" in blank
        row["keep_cap"] = "capacity" in blank
        row["keep_pt"] = not (pt_given or from_roles)
        row["pt_from_roles"] = from_roles


# --------------------------------------------------------------------------------------------
# the homes' datum (T48 #4)
# --------------------------------------------------------------------------------------------

# refused, nothing stored, when another datum puts at least this many homes in a building
# (or community), more than half of them, and the datum given at most a third as many.
# WHY a third: homes shifted ~500 m by a wrong datum still land in some building by chance
# (the tester's 102 WGS-84 homes read as GCJ-02 on the CAU/学清路 buildings: 13 of 102)
DATUM_REFUSE_MIN = 3


def _homes_in(conn: Connection, x: np.ndarray, y: np.ndarray, basis: str) -> int:
    """How many of the points (WGS 84) lie in a stored building (``basis`` "buildings") or
    a community or village ("areas")."""
    inside = (
        "SELECT 1 FROM buildings b WHERE ST_Intersects(b.geom, u.pt)"
        if basis == "buildings"
        else "SELECT 1 FROM areas a WHERE a.level IN ('community', 'village') "
        "AND ST_Intersects(a.geom, u.pt)"
    )
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS pt "
                "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) AS t(x, y)) u "
                f"WHERE EXISTS ({inside})"
            ),
            {"x": [float(v) for v in x], "y": [float(v) for v in y]},
        ).scalar()
    )


def _datum_check(
    conn: Connection,
    df: pd.DataFrame,
    source: str,
    given: bool,
    filename: str,
    option: str = "--crs",
) -> str | None:
    """The homes the file gives by lon/lat judged against the stored buildings (none in any:
    the communities) read in ``source`` (``given``: named by --crs) and in the other datums,
    as the census import does (:mod:`geo.households_import`). InputError, nothing written,
    when another datum fits clearly better (:data:`DATUM_REFUSE_MIN`); a warning when it fits
    better; else None. The remedy names the exact option, never the one given.

    WHY (T48 #4): WGS-84 homes sent with --crs gcj02 were all moved ~500 m, 56 of 102 out of
    every community, and the warning said to add the --crs gcj02 already given."""
    from geo.crs import lonlat_to_wgs84

    if "lon" not in df or "lat" not in df:
        return None
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    n = len(lon)
    if not n:
        return None
    readings = [source] + [d for d in DATUM_NAMES if d != source]
    found = None
    for basis in ("buildings", "areas"):
        fits = {d: _homes_in(conn, *lonlat_to_wgs84(lon, lat, d), basis) for d in readings}
        if any(fits.values()):
            found = basis, fits
            break
    if found is None:
        return None
    basis, fits = found
    here = fits[source]
    best = max(readings[1:], key=lambda d: fits[d])
    there = fits[best]
    if not (there > here and 2 * there >= n and 2 * there >= 3 * here):
        return None
    strong = there >= DATUM_REFUSE_MIN and 3 * here <= there
    what_zh, what = ("楼栋", "building") if basis == "buildings" else ("社区（村）", "community")
    zh, en = DATUM_NAMES[best]
    as_zh, as_en, do_zh, do, how_zh, how = datum_remedy(option, source, best, given)
    fit_zh = f"（{how_zh} {there}/{n} 个住址落在{what_zh}内）"
    fit = f" ({how}, {there} of {n} homes lie in a {what})"
    if strong:
        raise InputError(
            f"文件 {filename} 的住址{as_zh}只有 {here}/{n} 个落在{what_zh}内：坐标像是 {zh}，"
            f"{do_zh}{fit_zh}；未做任何更改 "
            f"{filename}: {as_en}, only {here} of {n} homes lie in a {what}; the coordinates "
            f"look like {en}: {do}{fit}; nothing changed"
        )
    return (
        f"文件 {filename} 的住址{as_zh}有 {here}/{n} 个落在{what_zh}内，坐标可能是 {zh}"
        f"{fit_zh}：已照此导入，请核对；若是，{do_zh}，再重新导入 "
        f"{filename}: {as_en}, {here} of {n} homes lie in a {what}; the coordinates may be "
        f"{en}{fit}: imported as they were read; check them, and if so, {do} and import again"
    )


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
    """The people of the file already registered: active, name, roles, home community."""
    rows = conn.execute(
        text(
            "SELECT p.external_id, p.name, p.active, p.roles, a.code FROM people p "
            "LEFT JOIN areas a "
            "ON a.id = p.area_id WHERE p.external_id = ANY(CAST(:ids AS text[])) FOR UPDATE OF p"
        ),
        {"ids": ids},
    ).all()
    return {r.external_id: r for r in rows}


# everything the import may change about a person, to tell an update from an unchanged row
# (the home as its exact EWKB: a re-import of the same lon/lat writes the same point)
_SNAPSHOT_SQL = (
    "SELECT external_id, name, phone, roles, home::text AS home, home_building_id, capacity, "
    "part_time, active, area_id FROM people WHERE external_id = ANY(CAST(:ids AS text[]))"
)


def _snapshot(conn: Connection, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """What is stored about the people of ``ids``, by registry id. WHY (T67 #9): the answer
    said ``people_read`` alone, so a new person, a change and a file imported twice read
    the same; comparing what is stored before and after tells them apart."""
    rows = conn.execute(text(_SNAPSHOT_SQL), {"ids": ids}).all()
    return {r.external_id: tuple(r) for r in rows}


# the target option of ``gridward assign end`` for a duty of each role
_END_TARGET = {"alley_steward": "--alley", "street_chief": "--street"}
_KIND_ZH = {"alley_steward": "小巷", "street_chief": "街道"}
_KIND_EN = {"alley_steward": "alley", "street_chief": "street"}


def _duty_roles(conn: Connection, rows: list[dict[str, Any]], before: dict[str, Any]) -> str | None:
    """Keep, in ``rows``, the roles the file would take from registered people while a duty
    of theirs in force or planned needs them; the warning naming them, with the duty and the
    command that ends it, or None.

    WHY (T67 #1): a row's roles were written whatever the person held, so a steward on duty
    lost her role, a state ``POST /assignments`` refuses to create ("does not hold the
    role"). Kept for that person, the rest of the row imported, said in a warning (as a
    leaver listed again stays inactive): the file cannot say when the duty ends."""
    lost = {
        r["ext"]: set(before[r["ext"]].roles or []) - set(r["roles"])
        for r in rows
        if r["ext"] in before and not r["keep_roles"]
    }
    lost = {ext: roles for ext, roles in lost.items() if roles}
    if not lost:
        return None
    duties = conn.execute(
        text(
            "SELECT p.external_id AS ext, p.name, a.id, a.role, a.valid_from, g.code AS grid, "
            "s.id AS street_id, s.name AS street FROM assignments a "
            "JOIN people p ON p.id = a.person_id LEFT JOIN grids g ON g.id = a.grid_id "
            "LEFT JOIN streets s ON s.id = a.street_id "
            "WHERE p.external_id = ANY(CAST(:ids AS text[])) "
            "AND (a.valid_to IS NULL OR a.valid_to >= :today) "
            "ORDER BY p.external_id, a.valid_from, a.id"
        ),
        {"ids": list(lost), "today": city_today()},
    ).all()
    needed = [d for d in duties if d.role in lost[d.ext]]
    if not needed:
        return None
    by_ext = {r["ext"]: r for r in rows}
    items: list[tuple[str, str]] = []
    for ext in dict.fromkeys(d.ext for d in needed):
        row = by_ext[ext]
        held = [d for d in needed if d.ext == ext]
        for role in dict.fromkeys(d.role for d in held):
            row["roles"].append(role)
        if row["pt_from_roles"]:
            row["pt"] = _part_time(row["roles"])
        zh = "；".join(f"{ROLES[d.role]}（{d.role}），{_duty_zh(d)}" for d in held)
        en = "; ".join(f"{d.role}, {_duty_en(d)}" for d in held)
        items.append((f"{ext} {held[0].name}：{zh}", f"{ext} {held[0].name}: {en}"))
    first = needed[0]
    end = f"gridward assign end --person {first.ext} {_end_target(first)} --last-day YYYY-MM-DD"
    shown_zh, shown = _shown_rows(items)
    n = len(items)
    return (
        f"{n} 人的角色未按文件去掉：其在岗或已安排的职责需要该角色，已保留（{shown_zh}），"
        f"其行的其余内容已导入；如确要去掉，请先结束这些职责（如 {end}；尚未开始的用 "
        "gridward assign undo --duty 职责编号 撤销），再重新导入 "
        f"{_count(n, 'person keeps a role', 'people keep roles')} the file removes: a duty in "
        f"force or planned needs {_verb(n, 'it', 'them')}, so {_verb(n, 'it is', 'they are')} "
        f"kept: {shown}; the rest of their rows is imported; to remove "
        f"{_verb(n, 'it', 'them')}, end those duties first (e.g. {end}; undo one not begun yet "
        "with gridward assign undo --duty ID), then import again"
    )


def _duty_zh(d: Any) -> str:
    """A duty in a warning, in Chinese: 职责 12：小巷 345 某胡同，自 2026-06-01 起."""
    where = f"网格 {d.grid}" if d.grid else f"{_KIND_ZH[d.role]} {d.street_id} {d.street or ''}"
    return f"职责 {d.id}：{where.strip()}，自 {d.valid_from} 起"


def _duty_en(d: Any) -> str:
    """A duty in a warning, in English: duty 12 on alley 345 某胡同 from 2026-06-01."""
    where = f"grid {d.grid}" if d.grid else f"{_KIND_EN[d.role]} {d.street_id} {d.street or ''}"
    return f"duty {d.id} on {where.strip()} from {d.valid_from}"


def _end_target(d: Any) -> str:
    """The target options of ``gridward assign end`` for duty ``d``."""
    if d.grid:
        return f"--grid {d.grid} --role {d.role}"
    return f"{_END_TARGET[d.role]} {d.street_id}"


def _refuse_unregistered_homeless(
    rows: list[dict[str, Any]], before: dict[str, Any], filename: str, left_out: list[str]
) -> None:
    """A row without a home keeps a registered person's stored one; a new person has none to
    keep: InputError naming them (the whole file, as any other bad row) and the columns not
    read (T49 #1: an id column read wrongly shows there)."""
    new = [r["ext"] for r in rows if r["home"] is None and r["ext"] not in before]
    if new:
        shown = f"{', '.join(new[:10])}{' …' if len(new) > 10 else ''}"
        cols_zh, cols = _left_out_words(left_out)
        raise InputError(
            f"{len(new)} 人未登记且文件中没有其住址（{filename}：{shown}），未做任何更改"
            f"{cols_zh}；请给出其住址（经度/纬度 lon+lat 或楼栋 building_id），"
            "或删去这些行（没有住址列的文件只更新已登记的人员） "
            f"{filename}: {_count(len(new), 'person', 'people')} of "
            f"the file {_verb(len(new), 'is', 'are')} not registered and "
            f"{_verb(len(new), 'has', 'have')} no home in it: "
            f"{shown}: nothing changed{cols}; give "
            "their home (lon+lat 经度/纬度 or building_id 楼栋), or leave their rows out (a "
            "file without home columns updates registered people only)"
        )


HOME_SAME_DEG = 1e-9
"""A home given within this many degrees (about 0.1 mm) of the stored one is the stored one:
the stored point is kept, so the person is ``unchanged``. WHY (T70 #11): ``export people``
as .xlsx writes 16 significant digits (the home of a 楼栋编号 row is the building's point to
the last bit, 17), so a registry imported back moved 40 homes by 1e-14° and counted 40
updates, each import of the two files in turn again."""


def _upsert(conn: Connection, rows: list[dict[str, Any]], present: set[str], wake: bool) -> None:
    """Insert new people; update existing ones in the columns the file has (``present``),
    and their home where their row gives one (:data:`HOME_SAME_DEG`: the same home keeps
    its stored point). A leaver stays inactive unless ``wake``."""
    sets = [sql for col, sql in _UPDATES.items() if col in present]
    sets += [
        # a home within HOME_SAME_DEG of the stored one keeps the stored point (T70 #11)
        "home = CASE WHEN EXCLUDED.home IS NULL OR ST_DWithin(people.home, EXCLUDED.home, "
        f"{HOME_SAME_DEG!r}) THEN people.home ELSE EXCLUDED.home END",
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
    # a home in a stored building takes the building's community (gridward's building rule:
    # where most of its footprint lies), else the community holding the point. WHY (T50 #8):
    # a home point in a building astride a community line, or in one whose corner pokes out
    # of every community, was stored with no area (or another community than its building's
    # households and grid), so the planner's people export left the person out
    conn.execute(
        text(
            "UPDATE people p SET area_id = COALESCE((SELECT b.community_id FROM buildings b "
            "WHERE b.community_id IS NOT NULL AND (b.id = p.home_building_id "
            "OR ST_Intersects(b.geom, p.home)) "
            "ORDER BY (b.id = p.home_building_id) IS TRUE DESC, ST_Area(b.geom) LIMIT 1), "
            "(SELECT a.id FROM areas a WHERE a.level IN "
            "('community', 'village') AND ST_Intersects(a.geom, p.home) ORDER BY a.code "
            "LIMIT 1)) WHERE p.home IS NOT NULL"
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


def _homes_outside(
    conn: Connection,
    ids: list[str],
    source: str = WGS84,
    given: bool = False,
    option: str = "--crs",
) -> str | None:
    """The warning naming the people of ``ids`` (homes the file gave, read in ``source``;
    ``given``: named by --crs) living in no community; InputError, nothing written, when one
    lives over :func:`far_km` from every area."""
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
            + f"{_count(len(far), 'person', 'people')} of the file "
            f"{_verb(len(far), 'lives', 'live')} more than {limit:g} km from every area of "
            f"the city: {shown}{more}: nothing changed; such a "
            "home is a wrong number (another city's, a lost digit): correct their lon/lat "
            "(经度/纬度, WGS 84) or leave their rows out (homes truly that far: raise the "
            "setting GRIDWARD_HOME_FAR_KM)" + (f"; {swap}" if turned else "")
        )
    if not lost:
        return None
    more = " …" if len(lost) > 10 else ""

    def near(r: Any) -> tuple[str, str]:
        # a home a few metres outside its community's line read "0.0 公里" (T47 #11)
        if r.km < 0.05:
            return (
                f"紧邻 {r.code}（不足 0.1 公里，可能在边界上）",
                f"just outside {r.code} (under 0.1 km: on its line?)",
            )
        return f"距 {r.code} {r.km:.1f} 公里", f"{r.km:.1f} km from {r.code}"

    shown = ", ".join(f"{r.name} ({r.external_id}) {near(r)[1]}" for r in lost[:10])
    shown_zh = "，".join(f"{r.name} ({r.external_id}) {near(r)[0]}" for r in lost[:10])
    # WHY (T48 #4): the remedy said "此时请加 --crs gcj02" to a user who had given it
    if source != WGS84:
        said, name = crs_said(option, source), crs_said(option)
        check_zh = f"已按 {said} 换算；若住址是 GPS（WGS-84）坐标，请去掉 {name}"
        check = f"converted from {said}: if they are GPS (WGS-84) coordinates, leave out {name}"
    else:
        check_zh = "须为 WGS 84 经纬度：手机地图应用给出的 GCJ-02 坐标约偏 500 米，" + (
            f"此时请改用 {crs_said(option, 'gcj02')}"
            if given
            else f"此时请加 {crs_said(option, 'gcj02')}"
        )
        check = "WGS 84 lon/lat: numbers from a phone map app, GCJ-02, are some 500 m off"
    return (
        f"{len(lost)} 人的住址不在任何社区（村）内，已导入但无所属社区（{shown_zh}{more}）；"
        f"请检查其住址（{check_zh}），"
        f"或导入缺少的社区 {_count(len(lost), 'person', 'people')} of the "
        f"file {_verb(len(lost), 'lives', 'live')} in no community or village of the city and "
        f"{_verb(len(lost), 'is', 'are')} stored without one: "
        f"{shown}{more}; check their homes ({check}), or import the missing communities"
    )


def _shown_rows(items: list[tuple[str, str]]) -> tuple[str, str]:
    """Warned rows ("第 5 行 W009", "row 5 W009"), the first 10, then how many more:
    (Chinese, English)."""
    zh = "，".join(z for z, _ in items[:10])
    en = ", ".join(e for _, e in items[:10])
    rest = len(items) - 10
    if rest > 0:
        zh, en = f"{zh}，另有 {rest} 人", f"{en} and {rest} more"
    return zh, en


def _names_moved(rows: list[dict[str, Any]], before: dict[str, Any]) -> str | None:
    """The warning naming the people of the file whose new name is the stored name of
    another person of the file whose name changes too: names moving between records, as
    when the file's id column is not the registry id (gridward's system id ``id``) or ids and
    names are out of line. WHY (T49 #1): two people got each other's names and the import
    said only ``读入 2 人``. Warned, not refused: a file may truly correct two names entered
    the wrong way round; a rename to a new name, or to a name nobody else of the file had,
    is not warned (one of a roster's ordinary changes)."""
    changed = {
        r["ext"]: (str(before[r["ext"]].name).strip(), r["name"])
        for r in rows
        if r["name"] and r["ext"] in before and str(before[r["ext"]].name).strip() != r["name"]
    }
    had = {old: ext for ext, (old, _new) in changed.items()}
    moved = [(e, o, n) for e, (o, n) in changed.items() if had.get(n, e) != e]
    if not moved:
        return None
    shown_zh, shown = _shown_rows([(f"{e} {o}→{n}", f"{e} {o} → {n}") for e, o, n in moved])
    n = len(moved)
    return (
        f"{n} 人的姓名换成了文件中另一人原有的姓名，像是人员编号列用错了（如把系统编号 id 当作"
        f"人员编号，或编号与姓名错行）：{shown_zh}；已按文件导入。如是编号列有误，请改正文件后"
        "重新导入以改回姓名；如确是更正，请忽略 "
        f"{_count(n, 'person', 'people')} of the file now {_verb(n, 'bears', 'bear')} the name "
        "another person of the file had, which looks like a wrong registry id column (the "
        "system id id read as the registry id, or ids and names out of line): "
        f"{shown}; imported as the file says. If the id column was wrong, correct the file "
        "and import it again to put the names back; if these are corrections, ignore this"
    )


def _nameless_new(df: pd.DataFrame, before: dict[str, Any]) -> str | None:
    """The warning naming the people registered by this file without a name (a blank 姓名
    cell, or no 姓名 column): stored under their registry id as their name, so every list
    and report would name them by a code. WHY (re-tester T39, M5): said nowhere. A
    registered person's blank cell keeps their stored name: not warned."""
    names = df["name"] if "name" in df else pd.Series(None, index=df.index, dtype=object)
    ids = df["person_id"].astype("string").str.strip()
    blank = names.isna() | (names.astype("string").str.strip() == "")
    new = blank & ids.notna() & (ids != "") & ~ids.isin(list(before))
    if not new.any():
        return None
    shown_zh, shown = _shown_rows(
        [(f"第 {row} 行 {ids[row]}", f"row {row} {ids[row]}") for row in df.index[new]]
    )
    n = int(new.sum())
    # the English in the singular for one (T41 #11: "1 new people have no name")
    names = "name" if n == 1 else "names"
    do_zh, do = (
        ("请在姓名（name）列填上其姓名", f"fill in their {names} (姓名, the name column)")
        if "name" in df
        else ("请加上姓名（name）列并填上其姓名", f"add a name column (姓名) with their {names}")
    )
    who = "1 new person has" if n == 1 else f"{n} new people have"
    return (
        f"{n} 名新登记的人员没有姓名，已暂以其人员编号作为姓名（{shown_zh}）；{do_zh}后重新导入 "
        f"{who} no name and {'is' if n == 1 else 'are'} stored under their registry id as "
        f"their name: {shown}; {do} and import again"
    )


def _bad_phones(df: pd.DataFrame) -> str | None:
    """The warning naming the rows whose phone is no Chinese mobile or landline number
    (:func:`geo.assign.people.phone_ok`), each masked (a phone is never shown whole,
    :func:`geo.assign.people.mask_phone`) with its count of digits. Stored as given: a
    warning, not a refusal (T39 M5)."""
    if "phone" not in df:
        return None
    bad = [row for row, cell in df["phone"].items() if not phone_ok(cell)]
    if not bad:
        return None
    items = []
    for row in bad:
        who_zh, who = _who(df, row) or ("", "")
        digits = sum(c.isdigit() for c in str(df.at[row, "phone"]))
        shown = mask_phone(df.at[row, "phone"]) or "-"
        items.append(
            (
                f"第 {row} 行 {who_zh} {shown}（{digits} 位数字）",
                f"row {row} {who} {shown} ({digits} digits)",
            )
        )
    shown_zh, shown_en = _shown_rows(items)
    return (
        f"{len(bad)} 人的电话不像有效的中国电话号码，已照原样导入（{shown_zh}）；"
        "手机号须为 1 开头的 11 位数字，座机须带区号（如 010-12345678），可含空格、短横线及 "
        "+86：请核对后重新导入 "
        + (
            "1 person's phone number does not read as a Chinese phone number and is stored "
            if len(bad) == 1
            else f"{len(bad)} people's phone numbers do not read as Chinese phone numbers and "
            "are stored "
        )
        + f"as given: {shown_en}; a mobile is 11 digits starting with 1, a landline has its area "
        "code (010-12345678), spaces, dashes and +86 are fine: check them and import again"
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


# --------------------------------------------------------------------------------------------
# a registry id that names another person (T70 #3)
# --------------------------------------------------------------------------------------------
# WHY: a second subdistrict's roster reused 学院路东's id XYL-AS08 for its own 冯晓丽. The
# import renamed 白金花 and moved her home 2 km into the other subdistrict while she kept her
# five alleys, and her closed days' reports and tracks then named 冯晓丽: ``updated 1``, no
# word. A registry id is the person; a row that renames her *and* places her elsewhere
# (another subdistrict, or a file of areas where neither her home nor her duties lie) is
# another person under a colliding id, not a correction: refused, nothing written, unless
# the caller confirms it is the same person (``same_person``).

SAME_PERSON_OPTION = "--same-person"
"""The command line's option confirming a rename with a move (the API's field: same_person)."""


@dataclass(frozen=True)
class _Place:
    """Where a person's home lies: its community (code, name) and the area a roster is kept
    for (``area``: the community's subdistrict or township; the community itself when it has
    no parent; None outside every community), and the point."""

    community: str | None
    community_name: str | None
    area: str | None
    area_name: str | None
    lon: float | None
    lat: float | None


_PLACES_SQL = (
    "SELECT p.external_id, c.code AS community, c.name AS community_name, "
    "COALESCE(s.code, c.code) AS area, COALESCE(s.name, c.name) AS area_name, "
    "ST_X(p.home) AS lon, ST_Y(p.home) AS lat FROM people p "
    "LEFT JOIN areas c ON c.id = p.area_id LEFT JOIN areas s ON s.id = c.parent_id "
    "WHERE p.external_id = ANY(CAST(:ids AS text[]))"
)


def _places(conn: Connection, ids: list[str]) -> dict[str, _Place]:
    """The stored homes of the people of ``ids`` (:class:`_Place`), by registry id."""
    rows = conn.execute(text(_PLACES_SQL), {"ids": ids}).all() if ids else []
    return {r.external_id: _Place(*r[1:]) for r in rows}


def _duties_sql() -> str:
    """The duties in force or planned (:today) of the people ``:ids``, each with the area
    its grid, street or alley belongs to (as :class:`_Place` says ``area``; streets by
    :func:`geo.street_areas.street_areas_sql`)."""
    from geo.street_areas import street_areas_sql

    return (
        "SELECT p.external_id AS ext, a.id, a.role, a.valid_from, g.code AS grid, "
        "a.street_id, t.name AS street, "
        "COALESCE(gs.code, gc.code, h.subdistrict_code, h.community_code) AS area, "
        "COALESCE(gs.name, gc.name, h.subdistrict_name, h.community_name) AS area_name "
        "FROM assignments a JOIN people p ON p.id = a.person_id "
        "LEFT JOIN grids g ON g.id = a.grid_id LEFT JOIN areas gc ON gc.id = g.community_id "
        "LEFT JOIN areas gs ON gs.id = gc.parent_id LEFT JOIN streets t ON t.id = a.street_id "
        f"LEFT JOIN LATERAL ({street_areas_sql('WHERE st.id = a.street_id')}) h "
        "ON a.street_id IS NOT NULL "
        "WHERE p.external_id = ANY(CAST(:ids AS text[])) "
        "AND (a.valid_to IS NULL OR a.valid_to >= :today) "
        "ORDER BY p.external_id, a.valid_from, a.id"
    )


@dataclass
class _Collision:
    """A row renaming a registered person and placing her elsewhere: the file's row, her
    registry id and system id, old and new name, old and new home, her duties in force or
    planned and her tracks."""

    row: int | None
    ext: str
    pid: int
    old_name: str
    new_name: str
    old: _Place
    new: _Place
    duties: list[Any]
    tracks: int


def _renamed(rows: list[dict[str, Any]], before: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows giving a registered person another name. A stored name that is the registry
    id itself (a person registered without a name) being filled in is no rename."""
    out = []
    for r in rows:
        old = before.get(r["ext"])
        if old is None or not r["name"]:
            continue
        stored = str(old.name).strip()
        if stored != r["name"] and stored != r["ext"]:
            out.append(r)
    return out


def _collisions(
    conn: Connection,
    rows: list[dict[str, Any]],
    before: dict[str, Any],
    was: dict[str, _Place],
    now: dict[str, _Place],
) -> list[_Collision]:
    """The renamed people (:func:`_renamed`) whom the file places elsewhere: their home (new,
    ``now``) lies in another area than the stored one (``was``), or the file's areas (those
    of the other rows' homes, and of the renamed rows' new homes) hold neither their stored
    home nor every duty of theirs. A file whose rows are all renames without homes has no
    areas of its own and judges by the homes alone. Row numbers are filled by the caller."""
    renamed = _renamed(rows, before)
    if not renamed:
        return []
    renamed_ids = {r["ext"] for r in renamed}
    areas = {
        now[r["ext"]].area
        for r in rows
        if r["ext"] in now and (r["ext"] not in renamed_ids or r["home"] is not None)
    } - {None}
    ids = [r["ext"] for r in renamed]
    duties: dict[str, list[Any]] = {}
    for d in conn.execute(text(_duties_sql()), {"ids": ids, "today": city_today()}).all():
        duties.setdefault(d.ext, []).append(d)
    found = []
    for r in renamed:
        ext = r["ext"]
        old, new = was.get(ext), now.get(ext)
        if old is None or new is None:
            continue
        held = duties.get(ext, [])
        moved = r["home"] is not None and None not in (old.area, new.area) and old.area != new.area
        ties = [old.area] + [d.area for d in held]
        elsewhere = bool(areas) and any(a is not None and a not in areas for a in ties)
        if moved or elsewhere:
            pid, tracks = conn.execute(
                text(
                    "SELECT p.id, (SELECT count(*) FROM tracks t WHERE t.person_id = p.id "
                    "AND t.withdrawn_at IS NULL) FROM people p WHERE p.external_id = :e"
                ),
                {"e": ext},
            ).one()
            found.append(
                _Collision(
                    None, ext, int(pid), str(before[ext].name).strip(), r["name"], old, new,
                    held, int(tracks),
                )
            )  # fmt: skip
    return found


def _place_said(p: _Place) -> tuple[str, str]:
    """A home in words: 住 110108012001 农大东校区社区（学院路东街道 110108012）."""
    if p.community is None:
        where = f"{p.lon:.6f}, {p.lat:.6f}" if p.lon is not None else "?"
        return f"住址 {where} 不在任何社区内", f"home {where} in no community"
    above_zh = f"（{p.area_name} {p.area}）" if p.area != p.community else ""
    above = f" ({p.area_name} {p.area})" if p.area != p.community else ""
    return (
        f"住 {p.community} {p.community_name}{above_zh}",
        f"home in {p.community} {p.community_name}{above}",
    )


_STREET_KIND = {"alley_steward": ("小巷", "alley"), "street_chief": ("街", "street")}


def _duties_said(duties: list[Any]) -> tuple[str, str]:
    """A person's duties in force or planned, grouped by the area they lie in and by kind:
    学院路东街道 110108012：小巷 122、129、144."""
    if not duties:
        return "没有在岗或已安排的职责", "no duty in force or planned"
    groups: dict[tuple[str | None, str | None], dict[tuple[str, str], list[str]]] = {}
    for d in duties:
        kind = ("网格", "grid") if d.grid else _STREET_KIND[d.role]
        item = str(d.grid) if d.grid else f"{d.street_id}{f' {d.street}' if d.street else ''}"
        groups.setdefault((d.area, d.area_name), {}).setdefault(kind, []).append(item)
    zh, en = [], []
    for (code, name), kinds in groups.items():
        where_zh = f"{name} {code}" if code else "不在任何区划内"
        where = f"{name} {code}" if code else "outside every area"
        zh.append(
            f"{where_zh}：" + "，".join(f"{k} {'、'.join(v)}" for (k, _e), v in kinds.items())
        )
        en.append(f"{where}: " + "; ".join(f"{e} {', '.join(v)}" for (_k, e), v in kinds.items()))
    n = len(duties)
    return (
        f"在岗或已安排的职责 {n} 项（{'；'.join(zh)}）",
        f"{_count(n, 'duty', 'duties')} in force or planned ({'; '.join(en)})",
    )


def _km(a: _Place, b: _Place) -> float | None:
    """How far apart two homes are (km, on the WGS 84 ellipsoid)."""
    if None in (a.lon, a.lat, b.lon, b.lat):
        return None
    from pyproj import Geod

    _az, _back, m = Geod(ellps="WGS84").inv(a.lon, a.lat, b.lon, b.lat)
    return m / 1000


def _collision_said(c: _Collision) -> tuple[str, str]:
    """One colliding row in words (Chinese, English): the row, the registry id, the stored
    name, home, duties and tracks, then the file's name and home."""
    old_zh, old_en = _place_said(c.old)
    new_zh, new_en = _place_said(c.new)
    duty_zh, duty_en = _duties_said(c.duties)
    km = _km(c.old, c.new)
    far_zh = f"，两处相距 {km:.1f} 公里" if km is not None and km >= 0.05 else ""
    far = f", {km:.1f} km apart" if km is not None and km >= 0.05 else ""
    track_zh = f"；轨迹 {c.tracks} 条" if c.tracks else ""
    track = f"; {_count(c.tracks, 'track', 'tracks')}" if c.tracks else ""
    row_zh = f"第 {c.row} 行 " if c.row is not None else ""
    row_en = f"row {c.row} " if c.row is not None else ""
    return (
        f"{row_zh}{c.ext}：已登记为 {c.old_name}（系统编号 id:{c.pid}，{old_zh}；{duty_zh}"
        f"{track_zh}），文件中为 {c.new_name}（{new_zh}{far_zh}）",
        f"{row_en}{c.ext}: registered as {c.old_name} (id:{c.pid}, {old_en}; {duty_en}"
        f"{track}), the file says {c.new_name} ({new_en}{far})",
    )


def same_person_ids(value: str | None) -> frozenset[str]:
    """The registry ids of ``--same-person`` (API ``same_person``): separated by commas (, ，
    、) or spaces, as ``--replace-codes`` takes codes."""
    if not value:
        return frozenset()
    return frozenset(x for x in re.split(r"[,，、\s]+", value) if x)


def _collisions_said(found: list[_Collision]) -> tuple[str, str]:
    """The colliding rows in words, the first 5 in full, then how many more."""
    said = [_collision_said(c) for c in found[:5]]
    rest = len(found) - len(said)
    zh = "；".join(z for z, _ in said) + (f"；另有 {rest} 行" if rest > 0 else "")
    en = "; ".join(e for _, e in said) + (f"; and {rest} more" if rest > 0 else "")
    return zh, en


def _refuse_collisions(found: list[_Collision], filename: str, option: str) -> InputError:
    """The refusal naming every colliding row (:func:`_collisions_said`) and both ways on:
    another registry id for another person, or ``option`` naming the ids of real renames
    with a move."""
    zh, en = _collisions_said(found)
    ids = ",".join(c.ext for c in found)
    confirm = f"{option} {ids}" if option.startswith("-") else f"{option}={ids}"
    n = len(found)
    tracks = any(c.tracks for c in found)
    past_zh = "，其过去的巡查在报表和轨迹中也会记在新姓名下" if tracks else ""
    past = (
        ", and past reports and tracks would show their walks under the new name" if tracks else ""
    )
    return InputError(
        f"人员文件 {filename} 中有 {n} 行的人员编号已属于另一处的人员（改了姓名，住址或职责又在"
        f"别处），像是两地的人员编号撞号：{zh}。按文件导入会把已登记的人改名、迁走{past_zh}。"
        "未做任何更改：如是另一个人，请在文件中给其一个自己的人员编号后重新导入；如确是同一人"
        f"改名并迁居，请加 {confirm} 重新导入（其职责不变，需要时用 gridward assign end 结束）"
        f" the people file {filename}: {_count(n, 'row gives', 'rows give')} a stored "
        "person's registry id to another name placed elsewhere (another home area, or a "
        f"file of areas where the person neither lives nor holds a duty), as if two areas' "
        f"registry ids collided: {en}. Imported, the stored person would be renamed and moved"
        f"{past}. Nothing changed: another person needs a registry id of their own in the "
        f"file; if it is the same person, renamed and moved, import again with {confirm} "
        "(their duties stay; end them with gridward assign end if need be)"
    )


def _file_rows(frame: pd.DataFrame | None) -> dict[str, int]:
    """The file's row number of each registry id (its first row)."""
    if frame is None:
        return {}
    out: dict[str, int] = {}
    for row, pid in frame["person_id"].items():
        if isinstance(pid, str) and pid.strip():
            out.setdefault(pid.strip(), int(row))
    return out


def _confirmed_said(found: list[_Collision], option: str) -> str:
    """The warning naming the renames with a move ``option`` let through, and the duties
    they keep where they were."""
    zh, en = _collisions_said(found)
    n = len(found)
    return (
        f"已按 {option} 作为同一人改名并迁居导入 {n} 人：{zh}；其职责未变，如已不再担任，请用 "
        f"gridward assign end 结束 imported {_count(n, 'person', 'people')} as renamed and "
        f"moved ({option}): {en}; their duties are unchanged: end those they no longer hold "
        "with gridward assign end"
    )


def import_people(
    engine: Engine,
    path: str | Path,
    actor: str | None = None,
    *,
    reactivate: bool = False,
    covers: Covers | None = None,
    crs: str | None = None,
    crs_option: str = "--crs",
    same_person: Collection[str] = (),
) -> dict[str, Any]:
    """Upsert people from CSV/XLSX by their id (see the module's rules); homes by lon/lat (in
    ``crs``: wgs84 by default, gcj02, bd09, a geographic EPSG code) or a building id;
    ``crs_option`` is how the caller's users give ``crs`` (the API: ``crs``), as remedies
    name it (and the confirming option: ``--same-person`` or ``same_person``).
    ``same_person``: registry ids whose row may rename the person and place her elsewhere
    (:func:`_collisions`); any other such row refuses the file, nothing written. The
    file's other columns (notes ...) are left out and named in
    ``columns_left_out`` (at most 10 names) and ``columns_left_out_count``; ``warnings``
    names rows left out and leavers kept inactive. ``created``, ``updated``, ``unchanged``
    count the people of the file by what the import did to them (``created_ids``,
    ``updated_ids``: their registry ids in file order, at most :data:`IDS_LISTED`)."""
    path = Path(path)
    source = home_crs(crs)
    sheet = _sheet(path)
    said = _said_cells(sheet)  # before the rows are read: 无 in roles is no unknown role
    frame = _frame(sheet)
    if sheet.system_ids:
        with engine.connect() as conn:
            _ids_misread(conn, sheet, frame)  # T51 #2, #3
    found = _file_problems(frame)
    try:
        df, first = read_people(sheet.data, sheet.name, home_required=False), None
    except InputError as exc:
        if not found:  # the table itself, or what the list does not know: as before
            raise
        df, first = None, exc
    warnings = list(sheet.warnings)
    with engine.begin() as conn:
        found += _stored_problems(conn, frame)
        # every problem at once (T38 L9); nothing written. Far homes alone are one check's,
        # refused together by _homes_outside as before; beside others they are listed (T39 M5)
        # a name or id over its limit is no check's of read_people: refused here, alone too
        if (len(found) > 1 and not all(p.kind in ("far", "far_swap") for p in found)) or any(
            p.kind == "long" for p in found
        ):
            assert frame is not None
            raise _refuse_all(found, frame, path.name, sheet.left_out)
        if first is not None:  # one problem: refused as before
            raise first
        assert df is not None
        rows = _rows(df, source)
        _keep_blanks(rows, said)
        present = set(df.columns)
        ids = [r["ext"] for r in rows]
        _resolve_buildings(conn, rows, path.name)
        datum = _datum_check(conn, df, source, bool(crs), path.name, crs_option)  # T48 #4
        before = _stored(conn, ids)
        _refuse_unregistered_homeless(rows, before, path.name, sheet.left_out)
        was_at = _places(conn, list(before))  # T70 #3: where the registered people live
        moved = _names_moved(rows, before)  # T49 #1 (c)
        kept_roles = _duty_roles(conn, rows, before) if "roles" in present else None  # T67 #1
        was = _snapshot(conn, ids)
        shown = shown_of(conn, registry_ids=ids)  # their tracks' rows: a sync must see a rename
        _upsert(conn, rows, present, reactivate)
        touched = touch_changed(conn, shown)
        now = _snapshot(conn, ids)
        created = [e for e in ids if e not in was]
        updated = [e for e in ids if e in was and was[e] != now.get(e)]
        homes = [r["ext"] for r in rows if r["home"] is not None]
        lost = _homes_outside(conn, homes, source, bool(crs), crs_option)
        if covers is not None:
            bad = _outside(conn, ids, before, covers)
            if bad:
                shown = f"{', '.join(bad[:10])}{' …' if len(bad) > 10 else ''}"
                raise ForbiddenError(
                    f"{len(bad)} 人的住址不在您的管辖区域内（新住址或已存的住址；{shown}），"
                    "未做任何更改：请由管理员导入，或删去这些行 "
                    f"{_count(len(bad), 'person', 'people')} of "
                    f"the file {_verb(len(bad), 'lives', 'live')} outside your areas (new "
                    "home, or the one stored): "
                    f"{shown}: nothing changed; "
                    "an admin imports them, or leave their rows out"
                )
        option = SAME_PERSON_OPTION if crs_option.startswith("-") else "same_person"
        clash = _collisions(conn, rows, before, was_at, _places(conn, ids))  # T70 #3
        rows_of = _file_rows(frame)
        for c in clash:
            c.row = rows_of.get(c.ext)
        refused = [c for c in clash if c.ext not in same_person]
        if refused:
            raise _refuse_collisions(refused, path.name, option)
        confirmed = _confirmed_said(clash, option) if clash else None
        left = [f"{r.name} ({ext})" for ext, r in before.items() if not r.active]
        warnings += [w for w in (datum, lost, moved, kept_roles, confirmed) if w]
        # T43 #5, #6: a renumbered person, and a roster without some active people
        renumbered = _renumbered(conn, [e for e in ids if e not in before], ids)
        missing = _not_in_file(conn, ids, covers)
        if frame is not None:  # T39 M5: said, not refused
            warnings += [w for w in (_nameless_new(frame, before), _bad_phones(frame)) if w]
        audit.record(
            conn,
            actor,
            "people.import",
            "people",
            path.name,
            {
                "rows": len(rows),
                "reactivated" if reactivate else "kept_inactive": len(left),
                "created": len(created),
                "updated": len(updated),
            }
            | ({"crs": source} if source != WGS84 else {})
            | ({"tracks_touched": touched} if touched else {}),
        )
    # T67 #9: what the file changed, for a sync job; the ids of the new and changed people
    out: dict[str, Any] = {
        "people_read": len(rows),
        "created": len(created),
        "updated": len(updated),
        "unchanged": len(rows) - len(created) - len(updated),
        "created_ids": created[:IDS_LISTED],
        "updated_ids": updated[:IDS_LISTED],
    }
    if sheet.left_out:  # the names cut, and how many (T45 #3); a system id too (T49 #1)
        out["columns_left_out"] = cut_columns(sheet.left_out)
        out["columns_left_out_count"] = len(sheet.left_out)
    if left and reactivate:
        out["reactivated"] = left
    elif left:
        out["kept_inactive"] = left
        shown = f"{', '.join(left[:10])}{' …' if len(left) > 10 else ''}"
        warnings.append(
            f"{len(left)} 人已离岗，仍保持离岗（{shown}）；如已回岗，请加 --reactivate 重新导入"
            f"（API：?reactivate=true） {_count(len(left), 'person', 'people')} of the file "
            f"had left and {_verb(len(left), 'stays', 'stay')} inactive: {shown}; to bring them "
            "back, import again with --reactivate (API: ?reactivate=true)"
        )
    warnings += [w for w in (renumbered, missing) if w]
    if warnings:
        out["warnings"] = warnings
    return out


def _ids_misread(conn: Connection, sheet: _Sheet, frame: pd.DataFrame | None) -> None:
    """Refuse a file whose left-out ``id`` column holds registry ids (InputError, before
    anything is written): cells that are not the row's own system id (not a whole number,
    no such person, or a person of another registry id) and equal a stored person's
    registry id. WHY (T51 #2): ``id,人员编号`` holding ``DEMO0001,1`` was read by 人员编号,
    the warning said id was the system id, and 5 duplicates of registered people were
    created into the staffing pool; (#3) with 人员编号 blank, "no person_id" per row did not
    say that id held exactly the registered ids. A GET /people answer (id = people.id of
    the row's person) passes, also after ``people renumber`` made registry ids numbers."""
    cells = [(row, v, reg) for row, v, reg in sheet.system_ids if v and v != reg]
    if not cells:
        return
    ids = sorted({v for _, v, _ in cells} | {reg for _, _, reg in cells if reg})
    nums = sorted({int(v) for _, v, _ in cells if v.isdigit() and int(v) < 2**31})
    stored = dict(
        conn.execute(
            text("SELECT external_id, name FROM people WHERE external_id = ANY(:ids)"),
            {"ids": ids},
        ).all()
    )
    own = dict(
        conn.execute(
            text("SELECT id, external_id FROM people WHERE id = ANY(:ids)"), {"ids": nums}
        ).all()
    )
    misread = [
        (row, v, reg)
        for row, v, reg in cells
        if v in stored and not (v.isdigit() and reg and own.get(int(v)) == reg)
    ]
    if not misread:
        return
    name, by = sheet.name, sheet.registry_column
    keyed = [c for c in misread if c[2]]
    blank = [c for c in misread if not c[2]]

    def shown(values: list[str]) -> str:
        cut = [_cut(x, MAX_PERSON_ID) for x in values[:3]]
        return "、".join(cut) + (" …" if len(values) > 3 else ""), ", ".join(cut) + (
            " …" if len(values) > 3 else ""
        )

    if keyed:
        n = len(keyed)
        ex_zh, ex = shown([v for _, v, _ in keyed])
        reg_zh, reg = shown([r for _, _, r in keyed])
        same = 0
        if frame is not None and "name" in frame:
            same = sum(
                1
                for row, v, _ in keyed
                if row in frame.index
                and isinstance(frame.at[row, "name"], str)
                and frame.at[row, "name"].strip() == stored[v]
            )
        same_zh = f"，其中 {same} 行姓名与已登记人员相同" if same else ""
        same_en = f" ({same} with the stored person's name)" if same else ""
        raise InputError(
            f"人员文件 {name} 的 id 列像是人员编号：{n} 行的 id（{ex_zh}）是已登记人员的人员"
            f"编号{same_zh}，而不是该行人员的系统编号；{by} 列却是另一套编号（{reg_zh}），按它"
            f"导入会把这些人当作另外的人员新建或改动。未做任何更改：请核对哪一列是人员编号；"
            f"如是 id 列，请删去 {by} 列并把 id 改名为 人员编号 后重新导入 "
            f"the people file {name}: column id looks like registry ids: in "
            f"{_count(n, 'row', 'rows')} id ({ex}) is a stored person's registry id{same_en}, "
            f"not the system id of the row's person, while {by} holds other ids ({reg}); read "
            "by it, these would be made or changed as other people. Nothing changed: check "
            f"which column is the registry id; if it is id, remove the {by} column, rename id "
            "to 人员编号 and import again"
        )
    n = len(blank)
    ex_zh, ex = shown([v for _, v, _ in blank])
    raise InputError(
        f"人员文件 {name} 有 {n} 行缺少人员编号（{by} 列为空，如第 {blank[0][0]} 行），而这些"
        f"行 id 列中的 {ex_zh} 是已登记的人员编号。未做任何更改：如 id 列是人员编号，请删去空的 "
        f"{by} 列并把 id 改名为 人员编号 后重新导入 "
        f"the people file {name}: {_count(n, 'row has', 'rows have')} no registry id ({by} "
        f"is blank, e.g. row {blank[0][0]}), while their id column holds stored registry "
        f"ids ({ex}). Nothing changed: if id is the registry id, remove the empty {by} column, "
        "rename id to 人员编号 and import again"
    )


# --------------------------------------------------------------------------------------------
# who the roster seems to renumber, and who it leaves out (T43 #5, #6)
# --------------------------------------------------------------------------------------------

SAME_HOME_M = 30
"""Homes this close (metres) are one home: typed coordinates of one address, or one
building's point, differ by a few metres."""

# an active person not in the file with the same name as a person the file registered, and
# the same home (within SAME_HOME_M, or the same home building) or the same phone (its last 11
# digits: +86 and dashes aside; 7 digits at least)
_RENUMBERED_SQL = f"""
SELECT n.external_id AS new_id, n.name, o.id AS old_pid, o.external_id AS old_id,
       (n.home IS NOT NULL AND o.home IS NOT NULL
        AND ST_DWithin(n.home::geography, o.home::geography, {SAME_HOME_M}))
       OR n.home_building_id = o.home_building_id AS same_home,
       length(regexp_replace(n.phone, '\\D', '', 'g')) >= 7
       AND right(regexp_replace(n.phone, '\\D', '', 'g'), 11)
         = right(regexp_replace(o.phone, '\\D', '', 'g'), 11) AS same_phone
FROM people n JOIN people o ON o.id <> n.id AND o.active
  AND btrim(o.name) = btrim(n.name) AND NOT (o.external_id = ANY(CAST(:ids AS text[])))
WHERE n.external_id = ANY(CAST(:new AS text[])) AND n.name <> n.external_id
ORDER BY n.external_id, o.external_id
"""


def _renumbered(conn: Connection, new: list[str], ids: list[str]) -> str | None:
    """The warning naming the people this file registered (``new``) who have the name and
    the home (or phone) of an active person the file does not list: a registry id changed
    in the office's sheet, which made a second person. WHY (T43 #5): a renumbered steward
    became two people (two report rows, walks under the old id credited nobody) and the
    import said only ``读入 1 人``. Still imported: two people may share a name and a home."""
    if not new:
        return None
    rows = [
        r
        for r in conn.execute(text(_RENUMBERED_SQL), {"new": new, "ids": ids}).all()
        if r.same_home or r.same_phone
    ]
    if not rows:
        return None
    items = []
    for r in rows:
        how_zh = "、".join(z for z, ok in (("住址", r.same_home), ("电话", r.same_phone)) if ok)
        how = " and ".join(e for e, ok in (("home", r.same_home), ("phone", r.same_phone)) if ok)
        items.append(
            (
                f"新编号 {r.new_id} {r.name} 与 {r.old_id} {r.name}（系统编号 id:{r.old_pid}）"
                f"同名、{how_zh}相同",
                f"new {r.new_id} {r.name} ~ {r.old_id} {r.name} (id:{r.old_pid}): same name "
                f"and {how}",
            )
        )
    shown_zh, shown = _shown_rows(items)
    n = len({r.new_id for r in rows})
    r0 = rows[0]
    renumber = f"gridward people renumber {r0.old_id} {r0.new_id}"
    return (
        f"{n} 名新登记的人员与名册外一名在岗人员同名，住址或电话也相同，像是同一人换了人员编号，"
        f"已作为新人员导入（{shown_zh}）；如确为同一人，请把旧编号改为新编号：{renumber}"
        "（其职责、轨迹和账号都保留；刚导入的新编号记录没有任何职责或轨迹时随之删除；之后再导入"
        "一次名册以更新其资料），或把职责交给新编号（gridward assign set --person 新编号 … "
        "--replace，gridward tracks reassign）；如是两个不同的人，请忽略 "
        f"{_count(n, 'new person', 'new people')} of the file "
        f"{_verb(n, 'has', 'have')} the name, and the home or phone, of an active person the "
        f"file leaves out and {_verb(n, 'looks', 'look')} renumbered; imported as new: "
        f"{shown}; if it is one person, change the old registry id to the new one: {renumber} "
        "(their duties, tracks and account stay; the record just imported under the new id is "
        "removed when it holds no duty or track; import the roster again to update their "
        "details), or hand the duties over (gridward assign set --person NEW … --replace, "
        "gridward tracks reassign); two different people: ignore this"
    )


ROSTER_SHARE = 0.9
"""A file listing this share of the active people (in the caller's areas) is a whole roster:
the active people it leaves out are named (:func:`_not_in_file`)."""


def _not_in_file(conn: Connection, ids: list[str], covers: Covers | None) -> str | None:
    """The warning naming the active people of the file's areas (in the caller's areas, with
    ``covers``) the file leaves out: they stay active, their duties unchanged. WHY (T43 #6):
    a roster re-imported without a steward who had left kept her active with her duties,
    and nothing said one registered person was missing. Said only when the file lists at
    least ``ROSTER_SHARE`` of those people: a roster re-imported; a sheet of some people (ids
    and homes from another office, a few new ones) leaves out the rest by design.

    The file's areas are those its people live in (:class:`_Place` ``area``: subdistrict or
    township; homes in no community are one area of their own). WHY (T70 #12): with two
    subdistricts in one installation, 学院路东's roster named 五道口's 12 people as missing
    and offered ``people leave`` for them. Their duties do not widen the areas: a steward
    lent to a neighbour's alley would bring the neighbour's whole roster into the check."""
    rows = conn.execute(
        text(
            "SELECT p.external_id, p.name, p.active, c.code, COALESCE(s.code, c.code) AS area, "
            "COALESCE(s.name, c.name) AS area_name, "
            "p.external_id = ANY(CAST(:ids AS text[])) AS listed FROM people p "
            "LEFT JOIN areas c ON c.id = p.area_id LEFT JOIN areas s ON s.id = c.parent_id "
            "ORDER BY p.external_id"
        ),
        {"ids": ids},
    ).all()
    areas = {r.area: r.area_name for r in rows if r.listed}
    rows = [r for r in rows if r.active and r.area in areas]
    if covers is not None:
        paths: dict[str | None, bool] = {}
        for code in {r.code for r in rows}:
            paths[code] = bool(code) and covers(area_path(conn, code))
        rows = [r for r in rows if paths[r.code]]
    missing = [r for r in rows if not r.listed]
    if not missing or len(rows) - len(missing) < ROSTER_SHARE * len(rows):
        return None
    n = len(missing)
    shown_zh, shown = _shown_rows(
        [(f"{r.name} ({r.external_id})", f"{r.name} ({r.external_id})") for r in missing]
    )
    first = missing[0].external_id
    scope = sorted(areas, key=lambda a: (a is None, a or ""))
    where_zh = "、".join(f"{areas[a]} {a}" if a else "不在任何社区的住址" for a in scope[:5])
    where = ", ".join(f"{areas[a]} {a}" if a else "homes in no community" for a in scope[:5])
    if len(scope) > 5:
        where_zh, where = f"{where_zh} 等 {len(scope)} 个", f"{where} and {len(scope) - 5} more"
    return (
        f"名册中没有 {n} 名在岗人员（仍在岗，职责不变）：{shown_zh}；如有人已离岗，请为其办理离岗"
        f"（gridward people leave {first} --last-day YYYY-MM-DD；API POST "
        "/people/{id}/leave），其职责在最后一天结束（只核对名册人员住址所在的区域："
        f"{where_zh}） "
        f"{_count(n, 'active registered person is', 'active registered people are')} not in "
        f"this file (still active, duties unchanged): {shown}; for one who has left, enter "
        f"the leave (gridward people leave {first} --last-day YYYY-MM-DD; API POST "
        "/people/{id}/leave): their duties end on their last day (checked only within the "
        f"areas the file's people live in: {where})"
    )


# --------------------------------------------------------------------------------------------
# a registry id changed in place
# --------------------------------------------------------------------------------------------

# every column holding a people.id (duties, tracks, visits, accounts, and any table added
# later): an unused record has none. A partition's inherited constraint is left out (its
# parent's count holds its rows)
_REFERENCES_SQL = """
SELECT c.conrelid::regclass::text AS tbl, quote_ident(a.attname) AS col
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
WHERE c.contype = 'f' AND c.confrelid = 'people'::regclass AND c.conparentid = 0 ORDER BY 1, 2
"""


def _held_by(conn: Connection, person_id: int) -> dict[str, int]:
    """How many rows of each table refer to ``person_id`` (tables with none left out)."""
    out = {}
    for tbl, col in conn.execute(text(_REFERENCES_SQL)).all():
        n = conn.execute(
            text(f"SELECT count(*) FROM {tbl} WHERE {col} = :p"), {"p": person_id}
        ).scalar_one()
        if n:
            out[tbl] = int(n)
    return out


_HELD_ZH = {
    "assignments": "职责",
    "tracks": "轨迹",
    "patrol_visits": "巡查记录",
    "users": "账号",
}
# and in English (T45 #12: "holds 1 assignments, 1 patrol_visits, 1 tracks" gave table names)
_HELD_EN = {
    "assignments": ("duty", "duties"),
    "tracks": ("track", "tracks"),
    "patrol_visits": ("patrol visit", "patrol visits"),
    "users": ("account", "accounts"),
}


def _held_en(held: dict[str, int]) -> str:
    """What a record holds in words: ``1 duty, 1 patrol visit and 1 track``."""
    said = [_count(n, *_HELD_EN.get(t, (f"{t} row", f"{t} rows"))) for t, n in held.items()]
    return ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else "".join(said)


def renumber_person(
    engine: Engine, person_id: int, new_id: str, actor: str | None = None
) -> dict[str, Any]:
    """Change the registry id (``people.external_id``) of person ``person_id`` to ``new_id``
    in place: their duties, tracks, visits and account refer to ``people.id`` and stay theirs,
    and reports name them by the new id from now on (past days too: one person).

    When ``new_id`` is already another person's, that record is removed only if it is the
    copy a roster import just made (T43 #5: the renumbered person imported as a second
    person): the same name, and nothing refers to it (no duty, track, visit or account);
    otherwise refused, naming what it holds (a merge of two people's duties is a planner's
    decision: ``assign set --replace``, ``tracks reassign``). Its registry fields are not
    merged: the next roster import updates the person under the new id. One audit entry
    (``person.renumber``: the ids, and the removed record without its phone)."""
    new = str(new_id).strip()
    # a blank letter (U+3164, U+2800) counts as printable but shows nothing (T45 #4)
    if not new or len(new) > MAX_PERSON_ID or not new.isprintable() or has_invisible(new):
        raise InputError(
            f"新人员编号 {new[:60]!r} 无效：须为 1–{MAX_PERSON_ID} 个可打印字符 "
            f"the new registry id {new[:60]!r} is not valid: 1–{MAX_PERSON_ID} printable characters"
        )
    with engine.begin() as conn:
        p = conn.execute(
            text("SELECT id, external_id, name FROM people WHERE id = :i FOR UPDATE"),
            {"i": person_id},
        ).first()
        if p is None:
            raise NotFoundError(
                f"人员（系统编号 id:{person_id}）不存在 person {person_id} does not exist"
            )
        who_zh, who = person_zh(p.name, p.external_id, p.id), person_en(p.name, p.external_id, p.id)
        if p.external_id == new:
            raise InputError(
                f"{who_zh} 的人员编号已是 {new}，未做更改 {who} already has the registry id "
                f"{new}: nothing changed"
            )
        q = conn.execute(
            text(
                "SELECT id, external_id, name, roles, active FROM people "
                "WHERE external_id = :e FOR UPDATE"
            ),
            {"e": new},
        ).first()
        removed = None
        if q is not None:
            held = _held_by(conn, q.id)
            if held or q.name.strip() != p.name.strip():
                what_zh = "、".join(f"{_HELD_ZH.get(t, t)} {n} 条" for t, n in held.items())
                what = _held_en(held)
                why_zh = f"它已有{what_zh}" if held else f"姓名不同（{q.name}）"
                why = f"it holds {what}" if held else f"another name ({q.name})"
                raise ConflictError(
                    f"人员编号 {new} 已属于 {q.name}（系统编号 id:{q.id}），{why_zh}，"
                    f"不能直接把 {who_zh} 改为此编号，"
                    "未做更改：如两者是同一人，请先把职责和轨迹交给其中一方（gridward assign set "
                    "--replace、gridward tracks reassign），或另选一个新编号 "
                    f"the registry id {new} belongs to {q.name} (id:{q.id}) and {why}: {who} "
                    "cannot take it, nothing changed; if they are one person, hand the duties "
                    "and tracks to one of them first (gridward assign set --replace, gridward "
                    "tracks reassign), or choose another new id"
                )
            conn.execute(text("DELETE FROM people WHERE id = :i"), {"i": q.id})
            removed = {
                "id": int(q.id),
                "external_id": q.external_id,
                "name": q.name,
                "roles": list(q.roles or []),
                "active": bool(q.active),
            }
        shown = shown_of(conn, ids=[p.id])  # their tracks restamped if their rows change
        conn.execute(
            text("UPDATE people SET external_id = :e WHERE id = :i"), {"e": new, "i": p.id}
        )
        touch_changed(conn, shown)
        audit.record(
            conn,
            actor,
            "person.renumber",
            "person",
            p.id,
            {"from": p.external_id, "to": new, "removed": removed},
        )
    said_zh = said = ""
    if removed:
        said_zh = (
            f"；原以 {new} 登记的空记录（系统编号 id:{removed['id']}，没有任何职责或轨迹）已删除，"
            "其名册资料未并入：请再导入一次名册以更新此人的电话、住址等"
        )
        said = (
            f"; the empty record registered as {new} (id:{removed['id']}, no duty or track) "
            "was removed, its details not merged: import the roster again to update this "
            "person's phone, home and the rest"
        )
    return {
        "person_id": int(p.id),
        "name": p.name,
        "was": p.external_id,
        "external_id": new,
        "removed": removed,
        "message": (
            f"{p.name}（系统编号 id:{p.id}）的人员编号已由 {p.external_id} 改为 {new}，"
            f"其职责、轨迹和账号不变{said_zh} "
            f"{p.name} (id:{p.id}): registry id {p.external_id} is now {new}; their duties, "
            f"tracks and account are unchanged{said}"
        ),
    }
