"""Read the people registry (人员名册) from CSV or XLSX, in English or Chinese headers.

Phone numbers are personal data: they are kept in the returned frame (storage needs them) but
never appear in an error message; :func:`mask_phone` is the only way they are ever shown.
"""

from __future__ import annotations

import io
import re
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


def mask_phone(phone: object) -> str:
    """Show a phone number without its middle digits: 13812341234 → 138****1234."""
    digits = re.sub(r"\D", "", str(phone or ""))
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def parse_roles(value: object) -> list[str]:
    """Split a role cell on ; 、 , ， / | and map Chinese or English names to canonical roles."""
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
            raise InputError(
                f"角色 '{part}' 无效，请用{use_zh}之一 unknown role '{part}': use {use}"
            )
        if canon not in out:
            out.append(canon)
    return out


def swapped(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """Rows whose lon/lat are no coordinates as given but are swapped: a Beijing home written
    lat 116.3, lon 39.9 (outside tester T36, #10: refused as bad coordinates, without a word
    on why)."""
    lon = pd.to_numeric(lon, errors="coerce")
    lat = pd.to_numeric(lat, errors="coerce")
    as_given = lon.between(-180, 180) & lat.between(-90, 90)
    return ~as_given & lat.between(-180, 180) & lon.between(-90, 90)


def swap_note(
    ids: list,
    why_zh: str = "对调后即为有效坐标",
    why: str = "swapped, they are valid coordinates",
) -> tuple[str, str]:
    """The clause naming people whose longitude and latitude look swapped, and why they look
    so (``why_zh``, ``why``): (Chinese, English)."""
    shown = ", ".join(str(i) for i in ids[:5]) + (f" … (+{len(ids) - 5})" if len(ids) > 5 else "")
    return (
        f"经纬度疑似写反（{shown}）：{why_zh}，请对调经度（lon）和纬度（lat）两列的值",
        f"longitude and latitude look swapped ({shown}): {why}; "
        "swap the values of the lon and lat columns",
    )


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


def _read_table(raw: bytes, filename: str) -> pd.DataFrame:
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(io.BytesIO(raw), dtype=str, engine="openpyxl")
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


def _parse_bool(values: pd.Series, ids: pd.Series) -> pd.Series:
    low = values.fillna("").astype(str).str.strip().str.lower()
    bad = ~low.isin(_TRUE | _FALSE)
    if bad.any():
        shown = ", ".join(ids[bad].astype(str)[:5])
        raise InputError(
            f"兼职（part_time）列须填 是/否（{shown}） "
            f"part_time must be yes/no (是/否) for people: {shown}"
        )
    return low.isin(_TRUE)


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
    ignored = f" (columns left out: {', '.join(unknown)})" if unknown else ""
    ignored_zh = f"（已略去的列：{'、'.join(unknown)}）" if unknown else ""
    df = df.drop(columns=[c for c in df.columns if str(c) in unknown]).rename(columns=rename)
    df.attrs["ignored_columns"] = unknown
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
            shown = ", ".join(df.loc[bad, "person_id"][:5])
            turned = bad & swapped(lon, lat)
            if turned.any():
                swap_zh, swap = swap_note(df.loc[turned, "person_id"].tolist())
                raise InputError(
                    f"{swap_zh}；人员住址坐标有误（{shown}） "
                    f"bad home coordinates for people: {shown}; {swap}"
                )
            raise InputError(
                f"人员住址坐标有误（{shown}）：经度须为 -180 到 180、纬度须为 -90 到 90 的数"
                f"（WGS 84） bad home coordinates for people: {shown}"
            )
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
        df["roles"] = df["roles"].apply(lambda v: ";".join(parse_roles(v)))
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
