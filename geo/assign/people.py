"""Read the people registry (人员名册) from CSV or XLSX, in English or Chinese headers.

Phone numbers are personal data: they are kept in the returned frame (storage needs them) but
never appear in an error message; :func:`mask_phone` is the only way they are ever shown.
"""

from __future__ import annotations

import functools
import io
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from geo.errors import InputError

ROLES: dict[str, str] = {
    "grid_leader": "网格长",
    "grid_worker": "专职网格员",
    "part_time_worker": "兼职网格员",
    "street_chief": "街巷长",
    "alley_steward": "小巷管家",
}

_ROLE_ALIASES: dict[str, str] = {
    **{k: k for k in ROLES},
    **{v: k for k, v in ROLES.items()},
    "leader": "grid_leader",
    "worker": "grid_worker",
    "网格员": "grid_worker",
    "full_time_worker": "grid_worker",
    "part_time": "part_time_worker",
    "chief": "street_chief",
    "街长": "street_chief",
    "巷长": "street_chief",
    "steward": "alley_steward",
    "巷管家": "alley_steward",
}

# Canonical column → accepted header spellings (compared lower-case, spaces/underscores ignored).
COLUMNS: dict[str, tuple[str, ...]] = {
    "person_id": ("person_id", "id", "编号", "人员编号", "工号"),
    "name": ("name", "姓名", "名字"),
    "phone": ("phone", "mobile", "tel", "电话", "手机", "手机号", "联系电话"),
    "roles": ("role", "roles", "角色", "职务"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "building_id": ("building_id", "building", "楼栋", "楼栋编号"),
    "capacity": ("capacity", "容量"),
    "part_time": ("part_time", "parttime", "兼职"),
    "community_id": ("community_id", "community", "社区", "社区编号"),
}

_TRUE = {"1", "true", "yes", "y", "t", "是", "兼职", "√"}
_FALSE = {"0", "false", "no", "n", "f", "否", "专职", ""}


def header_key(header: str) -> str:
    return re.sub(r"[\s_\-]", "", str(header).strip().lower())


_LOOKUP = {header_key(alias): canon for canon, aliases in COLUMNS.items() for alias in aliases}

# Characters nobody can see that change how text shows (T42 #7): bidi controls (U+202A–U+202E
# embeddings and overrides, U+2066–U+2069 isolates, and the marks U+200E, U+200F, U+061C) and
# zero-width characters (U+200B–U+200D, U+2060 word joiner, U+FEFF). An outside tester's name
# '\u202eabc\u200b\u200d张三' read 三张cba on every page and report, and two ids differing
# only by one look the same. Removed from names and registry ids on the way in.
# T45 #4: every other format character (Unicode category Cf: U+00AD soft hyphen, U+180E,
# U+2061–U+2064 …) and the blanks that are letters or symbols (U+115F, U+1160, U+3164, U+FFA0
# Hangul fillers, U+2800 Braille blank, U+034F grapheme joiner) too: '王五\u00ad' and
# '孙\u3164八\u2800' were stored as given and look like 王五 and 孙 八.
_BLANK_LETTERS = "\u034f\u115f\u1160\u2800\u3164\uffa0"


@functools.cache
def _invisible() -> re.Pattern[str]:
    """The invisible characters as a pattern, built on first use (a scan of Unicode, ~50 ms,
    that not every command should pay)."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    return re.compile(f"[{re.escape(''.join(chars) + _BLANK_LETTERS)}]")


def has_invisible(value: str) -> bool:
    """Whether ``value`` holds an invisible character (see :func:`without_invisible`)."""
    return _invisible().search(value) is not None


# the longest name and registry id a roster may give (people.name, people.external_id are
# text): a 5,000-character name filled the steward table (T42 #7). 50 holds any Chinese name
# with an ethnic-minority or transliterated part; ids are staff numbers or 18-digit ID numbers
MAX_NAME = 50
MAX_PERSON_ID = 64


def without_invisible(value: str) -> str:
    """``value`` without invisible characters: bidi controls, zero-width and every other
    format character (Unicode category Cf), and the blank letters U+115F, U+1160, U+3164,
    U+FFA0, U+2800, U+034F."""
    return _invisible().sub("", value)


def _visible(cell: object) -> object:
    """A cell without invisible characters (:func:`without_invisible`); one of nothing else
    is empty (NaN)."""
    if not isinstance(cell, str):
        return cell
    out = without_invisible(cell)
    return out if out else np.nan


def mask_phone(phone: object) -> str:
    """Show a phone number without its middle digits: 13812341234 → 138****1234."""
    digits = re.sub(r"\D", "", str(phone or ""))
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


# a Chinese phone number as a registry writes it (T39 M5): a mobile, 11 digits starting
# with 1; or a landline with its area code: 0 + 10 or 2X or a 3-digit code, then 7 or 8
# digits (010-12345678, 0571 8888 8888, (021)12345678). +86 / 0086 / 86 before either
# (the landline's 0 then dropped: +86 10 12345678); an extension after 转, 分机, ext or x.
# WHY warn, not refuse: a registry is imported for its homes and roles; a phone cell with a
# typo (a lost digit, Excel's 1.38123E+10) must not hold up the staffing, but stored it
# reaches nobody, so it is named
_MOBILE = r"1\d{10}"
_AREA_LOCAL = r"(?:10|2\d|[3-9]\d{2})\d{7,8}"
_PHONE = re.compile(rf"(?:(?:\+|00)?86)?{_MOBILE}|0{_AREA_LOCAL}|(?:\+|00)?86{_AREA_LOCAL}")
_PHONE_SEPARATORS = re.compile(r"[\s\-‐–—－()（）]")
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|x)\s*\d{1,6}\s*$", re.IGNORECASE)
_NO_PHONE = {"无", "暂无", "没有", "-", "--", "—", "/", "none", "n/a", "na", "null"}


def phone_ok(value: object) -> bool:
    """Whether a phone cell reads as a Chinese mobile or landline number (see ``_PHONE``);
    an empty cell, or one that says there is none (无, 暂无, -), is fine too."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    text = text.strip()
    if not text or text.lower() in _NO_PHONE:
        return True
    text = _EXTENSION.sub("", text)
    if _PHONE.fullmatch(_PHONE_SEPARATORS.sub("", text)):
        return True
    # a landline's extension after a dash: 010-12345678-801
    head, sep, tail = text.rpartition("-")
    return bool(
        sep and tail.strip().isdigit() and len(tail.strip()) <= 6 and "-" in head
        and _PHONE.fullmatch(_PHONE_SEPARATORS.sub("", head))
    )  # fmt: skip


def parse_roles(value: object, who: tuple[str, str] | None = None) -> list[str]:
    """Split a role cell on ; 、 , ， / | and map Chinese or English names to canonical roles.
    ``who`` names the row's person in a refusal: (Chinese, English), see :func:`person_label`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    out: list[str] = []
    for part in re.split(r"[;；、,，/|]", str(value)):
        part = part.strip()
        if not part:
            continue
        canon = _ROLE_ALIASES.get(part.lower()) or _ROLE_ALIASES.get(part.lower().replace(" ", "_"))
        if canon is None:
            use = ", ".join(f"{k} ({v})" for k, v in ROLES.items())
            use_zh = "、".join(f"{v}（{k}）" for k, v in ROLES.items())
            whose_zh, whose = (_then(who[0], "的"), f" for {who[1]}") if who else ("", "")
            raise InputError(
                f"{whose_zh}角色（role 列）'{part}' 无效，请用{use_zh}之一 "
                f"unknown role '{part}'{whose}: use {use}"
            )
        if canon not in out:
            out.append(canon)
    return out


def person_label(person_id: object, name: object = None) -> tuple[str, str]:
    """A person as a message names them: (Chinese, English), "张三（T005）", "张三 (T005)";
    "人员 T005", "person T005" without a name."""
    if name is None or (isinstance(name, float) and np.isnan(name)) or not str(name).strip():
        return f"人员 {person_id}", f"person {person_id}"
    return f"{str(name).strip()}（{person_id}）", f"{str(name).strip()} ({person_id})"


def _then(label: str, text: str) -> str:
    """A Chinese label and what follows: "张三（T005）的", "人员 T005 的" (a space after an id)."""
    return f"{label}{text}" if label.endswith("）") else f"{label} {text}"


def swapped(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """Rows whose lon/lat are no coordinates as given but are swapped: a Beijing home written
    lat 116.3, lon 39.9 (outside tester T36, #10: refused as bad coordinates, without a word
    on why)."""
    lon = pd.to_numeric(lon, errors="coerce")
    lat = pd.to_numeric(lat, errors="coerce")
    as_given = lon.between(-180, 180) & lat.between(-90, 90)
    return ~as_given & lat.between(-180, 180) & lon.between(-90, 90)


def swap_remedy(n: int, whole: bool = False) -> tuple[str, str]:
    """What to do with ``n`` people's swapped lon/lat: (Chinese, English). The whole columns
    only when ``whole`` (every row of the file looks swapped); else only these people's
    (outside tester T37, #8: one swapped row of two was told to swap both columns)."""
    if whole:
        return (
            "请对调经度（lon）和纬度（lat）两列的值",
            "swap the values of the lon and lat columns",
        )
    if n == 1:
        return "请对调此人的经度与纬度", "swap this person's lon and lat"
    return "请对调这些人的经度与纬度", "swap these people's lon and lat"


def swap_note(
    ids: list,
    why_zh: str = "对调后即为有效坐标",
    why: str = "swapped, they are valid coordinates",
    whole: bool = False,
) -> tuple[str, str]:
    """The clause naming people whose longitude and latitude look swapped, and why they look
    so (``why_zh``, ``why``): (Chinese, English); ``whole``: see :func:`swap_remedy`."""
    shown = ", ".join(str(i) for i in ids[:5]) + (f" … (+{len(ids) - 5})" if len(ids) > 5 else "")
    do_zh, do = swap_remedy(len(ids), whole)
    return (
        f"经纬度疑似写反（{shown}）：{why_zh}，{do_zh}",
        f"longitude and latitude look swapped ({shown}): {why}; {do}",
    )


def _cell(value: object) -> str | None:
    """A coordinate cell as the file gave it; None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text if text and text.lower() != "nan" else None


def coordinate_problem(raw_lon: object, raw_lat: object, turned: bool) -> tuple[str, str]:
    """What is wrong with one person's lon/lat, naming the value and its column."""
    lon, lat = _cell(raw_lon), _cell(raw_lat)
    if turned:
        return (
            f"经纬度疑似写反（经度 {lon}，纬度 {lat}）",
            f"longitude and latitude look swapped (lon {lon}, lat {lat})",
        )
    zh: list[str] = []
    en: list[str] = []
    for col, col_zh, text, lo, hi in (
        ("lon", "经度", lon, -180, 180),
        ("lat", "纬度", lat, -90, 90),
    ):
        num = pd.to_numeric(pd.Series([text]), errors="coerce").iloc[0]
        if text is None:
            zh.append(f"{col_zh}（{col}）为空")
            en.append(f"{col} is empty")
        elif not np.isfinite(num):
            zh.append(f"{col_zh}（{col}）'{text}' 不是数字")
            en.append(f"{col} '{text}' is not a number")
        elif not lo <= num <= hi:
            zh.append(f"{col_zh}（{col}）{text} 超出 {lo} 到 {hi}")
            en.append(f"{col} {text} is outside {lo} to {hi}")
    return "的" + "，".join(zh), ", ".join(en)


def bad_homes(
    people: pd.DataFrame, bad: pd.Series, turned: pd.Series, given: pd.Series
) -> tuple[str, str]:
    """The people of ``bad`` (a row mask) with their wrong lon/lat, each value and column
    named, and what to do: (Chinese, English), to follow a refusal's headline. ``turned``:
    the rows that look swapped; ``given``: the rows with a home given (all of them swapped:
    swap the whole columns). Outside tester T37, #8 and #18: the refusal named ids only."""
    names = people["name"] if "name" in people.columns else pd.Series(None, index=people.index)
    rows = np.flatnonzero(bad.to_numpy())  # positions: a table handed in may have any index
    zh: list[str] = []
    en: list[str] = []
    for i in rows[:5]:
        who_zh, who = person_label(people["person_id"].iloc[i], names.iloc[i])
        what_zh, what = coordinate_problem(
            people["lon"].iloc[i], people["lat"].iloc[i], bool(turned.iloc[i])
        )
        zh.append(_then(who_zh, what_zh))
        en.append(f"{who}: {what}")
    if len(rows) > 5:
        zh.append(f"另有 {len(rows) - 5} 人")
        en.append(f"{len(rows) - 5} more")
    n_turned, n_other = int(turned[bad].sum()), int((bad & ~turned).sum())
    do_zh: list[str] = []
    do: list[str] = []
    if n_turned:
        whole = n_turned == int(given.sum()) > 1
        d_zh, d = swap_remedy(n_turned, whole)
        do_zh.append(d_zh)
        do.append(d)
    if n_other:
        do_zh.append("经度须为 -180 到 180、纬度须为 -90 到 90 的数（WGS 84），请改正")
        do.append("lon must be a number from -180 to 180, lat from -90 to 90 (WGS 84)")
    return "；".join(zh) + "；" + "；".join(do_zh), "; ".join(en) + "; " + "; ".join(do)


def has_role(people: pd.DataFrame, role: str) -> pd.Series:
    """Which people hold ``role`` (roles are stored as a ';'-joined string)."""
    if "roles" not in people.columns:
        return pd.Series(True, index=people.index)
    return people["roles"].fillna("").str.split(";").apply(lambda rs: role in rs)


def decode_table(raw: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(
        "人员文件编码须为 UTF-8 或 GB18030，请另存为 UTF-8 编码的 CSV "
        "the people file is neither UTF-8 nor GB18030 text"
    )


def read_workbook(raw: bytes, header: int | None = 0) -> pd.DataFrame:
    """The first sheet of an XLSX people file, as text cells, after the limits a track
    workbook meets (:func:`geo.tracks.parse_table.check_workbook_size`: members, unpacked
    size, XML elements, a cell's length).

    WHY: a 2 MB roster whose one cell unpacked to 2 GiB, sent to ``POST /people/import``,
    grew the server to 23 GB until the kernel killed it, for everyone (outside tester T42,
    HIGH); ``/tracks`` refused the same file."""
    from geo.settings import get_settings
    from geo.tracks.parse_table import check_workbook_size

    check_workbook_size(raw, get_settings().max_upload_bytes)
    return pd.read_excel(io.BytesIO(raw), header=header, dtype=str, engine="openpyxl")


def _read_table(raw: bytes, filename: str) -> pd.DataFrame:
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return read_workbook(raw)
        if suffix in (".csv", ".txt", ""):
            return pd.read_csv(io.StringIO(decode_table(raw)), dtype=str, skipinitialspace=True)
    except InputError:
        raise
    except Exception as exc:  # parser errors carry file content; name only the kind
        raise unreadable(filename, exc) from None
    raise InputError(
        f"人员文件类型 '{suffix}' 不支持，请用 .csv 或 .xlsx "
        f"unsupported people file type '{suffix}': use .csv or .xlsx"
    )


def unreadable(filename: str, exc: Exception) -> InputError:
    """The refusal of a people file the parser could not read: its name and the kind of
    error only (a parser's message carries file content, perhaps a phone number)."""
    name, kind = Path(filename).name, type(exc).__name__
    return InputError(
        f"无法读取文件 {name}（{kind}），请确认它是完好的 .csv 或 .xlsx 文件 "
        f"cannot read {name}: {kind}"
    )


def not_yes_no(values: pd.Series) -> pd.Series:
    """Which cells of a yes/no column (part_time) are neither (是/否, yes/no, 1/0 …)."""
    return ~values.fillna("").astype(str).str.strip().str.lower().isin(_TRUE | _FALSE)


def _parse_bool(values: pd.Series, ids: pd.Series) -> pd.Series:
    low = values.fillna("").astype(str).str.strip().str.lower()
    bad = not_yes_no(values)
    if bad.any():
        shown = ", ".join(ids[bad].astype(str)[:5])
        raise InputError(
            f"兼职（part_time）列须填 是/否（{shown}） "
            f"part_time must be yes/no (是/否) for people: {shown}"
        )
    return low.isin(_TRUE)


SHOWN_COLUMNS = 10  # column names a message lists at most
SHOWN_COLUMN_CHARS = 40  # and the characters of each


def cut_columns(names: list[str]) -> list[str]:
    """Column names as a message or an answer lists them: each cut to
    :data:`SHOWN_COLUMN_CHARS` characters, at most :data:`SHOWN_COLUMNS` of them. WHY: a
    header cell of 200 MB came back whole in a 422 (outside tester T42 #2)."""
    return [
        n if len(n) <= SHOWN_COLUMN_CHARS else n[:SHOWN_COLUMN_CHARS] + "…"
        for n in names[:SHOWN_COLUMNS]
    ]


def shown_columns(names: list[str], total: int | None = None) -> list[str]:
    """:func:`cut_columns`, then how many more for a message's words (``total``: how many
    columns ``names`` stands for when it is cut already, as ``attrs["ignored_columns"]``)."""
    total = len(names) if total is None else total
    cut = cut_columns(names)
    if total > len(cut):
        more = total - len(cut)
        cut = [*cut, f"另 {more} 列 {more} more"]
    return cut


def read_people(
    data: bytes | Path, filename: str | None = None, *, home_required: bool = True
) -> pd.DataFrame:
    """Read a people registry into canonical columns (see :data:`COLUMNS`).

    ``person_id`` is required, and a home: ``lon``+``lat`` (WGS 84) or ``building_id``, unless
    not ``home_required`` (a registry import updating people registered already: it judges
    each row's missing home itself, see :mod:`geo.people_import`). Roles
    become a ';'-joined string of canonical names. Raises InputError naming unknown or missing
    columns, duplicate ids, bad coordinates, unknown roles or an empty file; never quoting a phone.
    """
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise InputError(f"人员文件 {path} 不存在，请检查路径 people file not found: {path}")
        filename = filename or path.name
        raw = path.read_bytes()
    else:
        raw = bytes(data)
    filename = filename or "people.csv"
    df = _read_table(raw, filename)
    df = df.dropna(how="all")
    rename: dict[str, str] = {}
    unknown: list[str] = []
    for col in df.columns:
        canon = _LOOKUP.get(header_key(col))
        if canon is None:
            unknown.append(str(col))
        elif canon in rename.values():
            raise InputError(
                f"人员文件中列 '{col}' 与另一列重复（都是 {canon} 列），请删去其一 "
                f"column '{col}' repeats {canon} in the people file"
            )
        else:
            rename[col] = canon
    # other columns (备注 notes, 性别 sex ... real registries carry them) are left out and
    # named in ``attrs["ignored_columns"]`` for the caller to warn about; a misspelt column
    # the file needs is named in the error that follows (an outside tester's registries were
    # refused whole for a notes column)
    shown = shown_columns(unknown)
    ignored = f" (columns left out: {', '.join(shown)})" if unknown else ""
    ignored_zh = f"（已略去的列：{'、'.join(shown)}）" if unknown else ""
    df = df.drop(columns=[c for c in df.columns if str(c) in unknown]).rename(columns=rename)
    # the names (cut) and their real number apart: a count of the list said 11 for 100 columns
    # and the "另 90 列" entry read as a column's name (T45 #3)
    df.attrs["ignored_columns"] = cut_columns(unknown)
    df.attrs["ignored_columns_count"] = len(unknown)
    if "person_id" not in df.columns:
        raise InputError(
            f"人员文件缺少编号列 person_id（编号、人员编号）{ignored_zh}，请添加该列 "
            f"the people file lacks the person_id (编号) column{ignored}"
        )
    has_xy = "lon" in df.columns and "lat" in df.columns
    if ("lon" in df.columns) != ("lat" in df.columns):
        raise InputError(
            f"人员文件只有经度（lon）和纬度（lat）中的一列{ignored_zh}，须两列都有，请补上另一列 "
            f"the people file has only one of lon (经度) / lat (纬度){ignored}"
        )
    if home_required and not has_xy and "building_id" not in df.columns:
        raise InputError(
            f"人员文件缺少住址{ignored_zh}：须有经度/纬度（lon、lat）两列或楼栋（building_id）列，"
            "请添加 "
            f"the people file needs a home: lon+lat (经度/纬度) or building_id (楼栋){ignored}"
        )
    if len(df) == 0:
        raise InputError("人员文件没有数据行（表头下没有人员） the people file has no rows")
    df = df.reset_index(drop=True)
    for col in ("person_id", "name"):  # (T42 #7) an import names the rows it cleans
        if col in df.columns:
            df[col] = df[col].map(_visible)
    ids = df["person_id"].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        n = int((ids.isna() | (ids == "")).sum())
        raise InputError(f"有 {n} 人缺少人员编号（person_id），请补上 {n} people have no person_id")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        shown = ", ".join(dup[:5])
        raise InputError(
            f"人员编号重复（{shown}），请改正 duplicate person_id in the people file: {shown}"
        )
    df["person_id"] = ids.astype(str)
    if has_xy:
        lon = pd.to_numeric(df["lon"], errors="coerce")
        lat = pd.to_numeric(df["lat"], errors="coerce")
        given = df["lon"].notna() | df["lat"].notna()
        bad = given & ~(lon.between(-180, 180) & lat.between(-90, 90))
        if bad.any():
            what_zh, what = bad_homes(df, bad, bad & swapped(lon, lat), given)
            raise InputError(f"人员住址坐标有误：{what_zh} bad home coordinates for people: {what}")
        df["lon"], df["lat"] = lon.astype(float), lat.astype(float)
    no_home = ~(df["lon"].notna() if has_xy else pd.Series(False, index=df.index))
    if "building_id" in df.columns:
        no_home &= df["building_id"].isna()
    if home_required and no_home.any():
        shown = ", ".join(df.loc[no_home, "person_id"][:5])
        raise InputError(
            f"人员缺少住址（{shown}）：请填经度/纬度或楼栋 people without a home: {shown}"
        )
    if "roles" in df.columns:
        names = df["name"] if "name" in df.columns else pd.Series(None, index=df.index)
        df["roles"] = [
            ";".join(parse_roles(v, person_label(i, n)))
            for v, i, n in zip(df["roles"], df["person_id"], names, strict=True)
        ]
    if "capacity" in df.columns:
        cap = pd.to_numeric(df["capacity"], errors="coerce")
        bad = df["capacity"].notna() & ~(cap >= 0)
        if bad.any():
            shown = ", ".join(df.loc[bad, "person_id"][:5])
            raise InputError(
                f"容量（capacity）须为不小于 0 的数（{shown}） "
                f"capacity must be a number ≥ 0 for people: {shown}"
            )
        df["capacity"] = cap
    if "part_time" in df.columns:
        df["part_time"] = _parse_bool(df["part_time"], df["person_id"])
    elif "roles" in df.columns:
        df["part_time"] = has_role(df, "part_time_worker") & ~has_role(df, "grid_worker")
    if "phone" in df.columns:
        df["phone"] = df["phone"].fillna("").astype(str).str.replace(r"[^\d+]", "", regex=True)
    return df
