"""The report's area table: per role, one row per district (when the rows span two or
more), subdistrict (街道) and community (社区), with its alley-days, unstaffed days and
rank, in one fixed order, the rows of streets outside every area named as such.

Apart from :mod:`geo.patrol_reports` because it is a pure roll-up of the alley rows the
report judged: it reads no database and decides no credit."""

from __future__ import annotations

import pandas as pd

from geo import coverage

# the area columns of the report tables (the district is the area filter's only)
ROW_AREA_COLS = ["community_code", "community_name", "subdistrict_code", "subdistrict_name"]


AREA_LEVELS = {
    "district": "区 district",
    "subdistrict": "街道 subdistrict",
    "community": "社区 community",
}
AREA_COLS = [
    "role",
    "level",
    "subdistrict_code",
    "subdistrict_name",
    "community_code",
    "community_name",
    "alley_days",
    "patrolled",
    "pending",
    "compliance",
    "unstaffed",
    "walked_m",
    "length_m",
    "rank",
    # appended (T50 #11): the columns before keep their places (scripts read them)
    "district_code",
    "district_name",
]
_DISTRICT_COLS = ["district_code", "district_name"]


def by_area(
    alleys: pd.DataFrame,
    unstaffed: pd.DataFrame | None = None,
    districts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per role: one row per subdistrict (街道) and per community (社区) with its alley-days
    (staffed), patrolled and pending alley-days, compliance (patrolled / (alley-days −
    pending)), ``unstaffed`` alley-days (no holder that day: not in the rate), ranked among
    its level (1 = best, ties share; null without a rate). An area whose alleys nobody holds
    has a row too: its gap is the point of a 周查.

    Every row names its district (``district_code``, ``district_name``: its subdistrict's,
    from ``districts``, each street's district by alley_id; blank for the rows of streets
    outside every subdistrict), and when the rows span two districts or more, each district
    has a row too (level ``district``, first in its role). WHY: two subdistricts named
    学院路街道 in two districts were told apart by code only (T50 #11); a one-district table
    keeps its rows as they were."""
    num = ["staffed", "patrolled", "pending", "unstaffed", "walked_m", "length_m"]
    keys = ["role", *ROW_AREA_COLS]
    parts = []
    if len(alleys):
        staffed = alleys[[*keys, "alley_id", "patrolled", "pending", "walked_m", "length_m"]]
        parts.append(staffed.assign(staffed=1, unstaffed=0))
    if unstaffed is not None and len(unstaffed):
        parts.append(
            unstaffed[[*keys, "alley_id"]].assign(
                staffed=0, patrolled=False, pending=False, unstaffed=1, walked_m=0.0, length_m=0.0
            )
        )
    if not parts:
        return pd.DataFrame(columns=AREA_COLS)
    rows = pd.concat(parts, ignore_index=True)
    for c in ("patrolled", "pending"):
        rows[c] = rows[c].astype(bool).astype(int)
    rows[["walked_m", "length_m"]] = rows[["walked_m", "length_m"]].astype(float)
    rows = _with_districts(rows, districts)
    sub_keys = ["role", "subdistrict_code", "subdistrict_name"]
    subs = rows.groupby(sub_keys, dropna=False)[num].sum().reset_index()
    subs = subs.assign(level="subdistrict", community_code=None, community_name=None)
    comm_keys = [*sub_keys, "community_code", "community_name"]
    comms = rows.groupby(comm_keys, dropna=False)[num].sum().reset_index()
    frames = [subs, comms.assign(level="community")]
    if rows["district_code"].dropna().nunique() >= 2:
        dist = rows.groupby(["role", *_DISTRICT_COLS], dropna=False)[num].sum().reset_index()
        frames.insert(0, dist.assign(level="district"))
    out = pd.concat(frames, ignore_index=True)
    # a subdistrict's (or community's) district is its subdistrict's
    named = rows.dropna(subset=["subdistrict_code"]).drop_duplicates("subdistrict_code")
    named = named.set_index("subdistrict_code")
    sub_rows = out["level"].ne("district")
    for c in _DISTRICT_COLS:
        out[c] = out[c].astype(object) if c in out.columns else None
        out.loc[sub_rows, c] = out.loc[sub_rows, "subdistrict_code"].map(named[c])
    out = out.rename(columns={"staffed": "alley_days"})
    for c in ("alley_days", "patrolled", "pending", "unstaffed"):
        out[c] = out[c].astype(int)
    out["compliance"] = coverage.rate(out["patrolled"], out["alley_days"] - out["pending"])
    out = _name_outside(out)
    # a row outside every area is no area: it is not ranked among them
    ranked = out["rank_code"].notna()
    out["rank"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out.loc[ranked, "rank"] = coverage.rank_rates(
        out.loc[ranked, "compliance"], [out.loc[ranked, "role"], out.loc[ranked, "level"]]
    )
    return _area_order(out)[AREA_COLS].reset_index(drop=True)


def _with_districts(rows: pd.DataFrame, districts: pd.DataFrame | None) -> pd.DataFrame:
    """``rows`` (one per street-day, with alley_id) with each street's district: for a street
    in a subdistrict, the subdistrict's (the lowest district code among its streets: one
    for a subdistrict with a parent), so a district's row holds exactly its subdistricts'."""
    if districts is None or not len(districts):
        return rows.assign(district_code=None, district_name=None)
    d = districts[["alley_id", *_DISTRICT_COLS]].drop_duplicates("alley_id")
    rows = rows.merge(d, on="alley_id", how="left")
    for c in _DISTRICT_COLS:
        rows[c] = rows[c].astype(object)
    of_sub = (
        rows.dropna(subset=["subdistrict_code", "district_code"])
        .sort_values("district_code", kind="stable")
        .drop_duplicates("subdistrict_code")
        .set_index("subdistrict_code")
    )
    has_sub = rows["subdistrict_code"].notna()
    for c in _DISTRICT_COLS:
        rows.loc[has_sub, c] = rows.loc[has_sub, "subdistrict_code"].map(of_sub[c])
    return rows


def _area_order(out: pd.DataFrame) -> pd.DataFrame:
    """Area rows in one order, run after run: per role, each subdistrict by code followed by
    its communities by code, the row of its streets outside every community last; the rows
    of streets outside every subdistrict after all named subdistricts. WHY: blank codes
    sorted first, and rows of equal (blank) keys in no fixed order, so the outside rows led
    the table, in any order (acceptance tester)."""
    dist = out["level"].eq("district")  # the district rows first, by code (T50 #11)
    keys = pd.DataFrame(
        {
            "role": out["role"],
            "not_district": ~dist,
            "no_district": dist & out["district_code"].isna(),
            "district": out["district_code"].astype(object).where(dist, "").fillna(""),
            "no_subdistrict": out["subdistrict_code"].isna(),
            "subdistrict": out["subdistrict_code"].astype(object).fillna(""),
            "community_row": out["level"].eq("community"),
            "no_community": out["community_code"].isna(),
            "community": out["community_code"].astype(object).fillna(""),
        },
        index=out.index,
    )
    return out.loc[keys.sort_values(list(keys.columns), kind="stable").index]


OUTSIDE_COMMUNITY = "（不属任何社区）outside every community"
OUTSIDE_SUBDISTRICT = "（不属任何街道）outside every subdistrict"
OUTSIDE_DISTRICT = "（不属任何区）outside every district"


def _name_outside(out: pd.DataFrame) -> pd.DataFrame:
    """Area rows of alleys that lie in no imported community (or of communities without a
    subdistrict) named as such: their code is blank (there is no area), and a blank name
    beside it read as a broken row (acceptance tester). ``rank_code``: the code a row is
    ranked by (none for these rows)."""
    out = out.copy()
    # all-blank name columns (no area imported at all) are float NaN: made text to be named
    out[["subdistrict_name", "community_name"]] = out[
        ["subdistrict_name", "community_name"]
    ].astype(object)
    sub = out["level"].eq("subdistrict")
    dist = out["level"].eq("district")  # no subdistrict or community of its own
    no_sub = out["subdistrict_code"].isna() & ~dist
    no_comm = out["community_code"].isna() & ~sub & ~dist
    out.loc[no_sub, "subdistrict_name"] = OUTSIDE_SUBDISTRICT
    out.loc[no_comm, "community_name"] = OUTSIDE_COMMUNITY
    out.loc[dist & out["district_code"].isna(), "district_name"] = OUTSIDE_DISTRICT
    out["rank_code"] = out["subdistrict_code"].where(sub, out["community_code"])
    out.loc[dist, "rank_code"] = out.loc[dist, "district_code"]
    return out
