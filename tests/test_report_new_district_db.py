"""A second district added to a live city (outside tester T50): the reports of the days
before it came do not change (#5), and the area table tells the districts apart (#11).

The town of :mod:`tests.test_patrol_reports_more_db` (duties from 2025-05-01, the week of
2025-06-16), its network dated as imported long before (2025-04-01), then a new district
110105 with one subdistrict and community east of it, its two alleys and one street
inserted today, as a later ``import osm`` of another extract makes them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import text

from geo.patrol_reports import build_report
from geo.report_areas import AREA_COLS
from geo.report_export import export_report
from geo.settings import city_today
from tests.test_patrol_reports_more_db import FAR, WED, town  # noqa: F401

NEW_DISTRICT, NEW_SUB, NEW_COMM = "110105", "110105030", "110105030001"
# east of the demo network (116.309–116.328): an extract that neither overlaps nor touches
BOX = "ST_Multi(ST_MakeEnvelope(116.335, 39.995, 116.345, 40.005, 4326))"


def _add_district(db) -> dict[str, int]:  # noqa: ANN001
    """The new district, subdistrict (named as a demo-like one: 学院路街道) and community,
    and two alleys and a street inside, created now."""
    with db.begin() as conn:
        ids: dict[str, int] = {}
        parent = None
        for code, level, name in (
            (NEW_DISTRICT, "district", "朝阳区"),
            (NEW_SUB, "subdistrict", "学院路街道"),
            (NEW_COMM, "community", "新社区"),
        ):
            parent = conn.execute(
                text(
                    f"INSERT INTO areas (code, level, name, parent_id, geom) "
                    f"VALUES (:c, :l, :n, :p, {BOX}) RETURNING id"
                ),
                {"c": code, "l": level, "n": name, "p": parent},
            ).scalar_one()
        for i, (kind, lat) in enumerate((("alley", 39.998), ("alley", 40.000), ("street", 40.002))):
            ends = f"ST_MakePoint(116.337, {lat}), ST_MakePoint(116.343, {lat})"
            line = f"ST_SetSRID(ST_MakeLine({ends}), 4326)"
            sid = conn.execute(
                text(
                    f"INSERT INTO streets (key, name, kind, length_m, geom) VALUES "
                    f"(:k, :n, :kind, 512, ST_Multi({line})) RETURNING id"
                ),
                {"k": f"new:{i}", "n": f"新{i}", "kind": kind},
            ).scalar_one()
            conn.execute(
                text(
                    f"INSERT INTO street_segments (uid, street_id, name, kind, length_m, geom) "
                    f"VALUES (:u, :s, :n, :kind, 512, {line})"
                ),
                {"u": f"new:{i}:0", "s": sid, "n": f"新{i}", "kind": kind},
            )
            ids[f"{kind}{i}"] = sid
    return ids


def _installed_long_ago(db) -> None:  # noqa: ANN001
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE streets SET created_at = TIMESTAMPTZ '2025-04-01 08:00+08'; "
                "UPDATE street_segments SET created_at = TIMESTAMPTZ '2025-04-01 08:00+08'"
            )
        )


def _tables(rep: Any) -> dict[str, pd.DataFrame]:
    return {k: v.reset_index(drop=True) for k, v in rep.items()}


def test_a_district_added_today_leaves_past_reports_unchanged(town, tmp_path) -> None:  # noqa: ANN001, F811
    """T50 #5: the district added today read unstaffed on every past day (学院路街道 … 无人负责
    143 in the report of the day before). Old code: the week's and the day's area rows
    gained the new subdistrict and community with 7 (1) unstaffed days per new alley. Now
    the past reports' tables and files are as they were, one note says why, and today's
    report counts the new streets unstaffed."""
    db = town["db"]
    _installed_long_ago(db)
    before = {k: build_report(db, k, WED, today=FAR) for k in ("daily", "weekly", "monthly")}
    files = {}
    for k, rep in before.items():
        files[k] = export_report(rep, tmp_path / f"before_{k}.csv", table="areas").read_bytes()
    new = _add_district(db)
    for k, old in before.items():
        rep = build_report(db, k, WED, today=FAR)
        for name, table in _tables(old).items():
            pd.testing.assert_frame_equal(_tables(rep)[name], table, obj=f"{k} {name}")
        assert NEW_SUB not in set(rep["areas"]["subdistrict_code"].dropna())
        again = export_report(rep, tmp_path / f"after_{k}.csv", table="areas").read_bytes()
        assert again == files[k], k
        # what changed is said once, and with the right numbers
        added = [n for n in rep.meta["notes"] if n not in old.meta["notes"]]
        days = {"daily": 1, "weekly": 7, "monthly": 30}[k]
        assert added == [
            f"3 条街巷由后来的路网导入于 {city_today()} 才加入 gridward：加入之前的日子不计其"
            f"无人负责（本期共 {3 * days} 个街巷·天）；如这些日子已有人负责，请用 gridward "
            "assign set --from 补设职责 3 street(s)/alley(s) came into gridward with a later "
            f"network import only on {city_today()}: the days before count no unstaffed days "
            f"for them ({3 * days} street/alley-day(s) of this period); if someone held them "
            "then, backdate the duty with gridward assign set --from"
        ], added
    # today (the day it was imported counts): the new streets are unstaffed
    today = build_report(db, "daily", city_today())
    areas = today["areas"]
    sub = areas[(areas["level"] == "subdistrict") & (areas["subdistrict_code"] == NEW_SUB)]
    assert dict(zip(sub["role"], sub["unstaffed"], strict=True)) == {
        "alley_steward": 2,
        "street_chief": 1,
    }
    assert not [n for n in today.meta["notes"] if "才加入 gridward" in n]
    # a duty backdated onto a new alley counts on that past day as before (staffed)
    with db.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES "
                "('N1', '新管家', ARRAY['alley_steward']) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d)"
            ),
            {"p": pid, "s": new["alley0"], "d": WED},
        )
    rep = build_report(db, "daily", WED, today=FAR)
    comm = rep["areas"][rep["areas"]["community_code"] == NEW_COMM]
    assert comm[["alley_days", "unstaffed"]].values.tolist() == [[1, 0]]


def test_the_area_table_names_each_rows_district(town, tmp_path) -> None:  # noqa: ANN001, F811
    """T50 #11: two subdistricts named alike in two districts were told apart by code only.
    Old code: no district in the area table. Now every row carries its district (appended
    columns, the others in their places), and a city of two districts has a 区 row each."""
    db = town["db"]
    _installed_long_ago(db)
    one = build_report(db, "daily", WED, today=FAR)["areas"]
    assert AREA_COLS[-2:] == ["district_code", "district_name"]
    assert list(one.columns) == AREA_COLS
    assert not one["level"].eq("district").any()  # one district: no district rows
    named = one[one["subdistrict_code"].notna()]
    assert set(named["district_code"]) == {"110108"} and set(named["district_name"]) == {"海淀区"}
    _add_district(db)
    today = build_report(db, "daily", city_today())
    areas = today["areas"]
    dist = areas[areas["level"] == "district"]
    steward = dist[dist["role"] == "alley_steward"]
    # first in the role, by code
    assert areas.index[areas["level"] == "district"].min() == 0
    assert steward["district_code"].tolist()[:2] == [NEW_DISTRICT, "110108"]
    assert steward["district_name"].tolist()[:2] == ["朝阳区", "海淀区"]
    # each district row sums its subdistricts
    subs = areas[(areas["level"] == "subdistrict") & (areas["role"] == "alley_steward")]
    for code in ("110108", NEW_DISTRICT):
        row = steward[steward["district_code"] == code].iloc[0]
        mine = subs[subs["district_code"] == code]
        assert row["unstaffed"] == mine["unstaffed"].sum()
        assert row["alley_days"] == mine["alley_days"].sum()
    new_sub = subs[subs["subdistrict_code"] == NEW_SUB].iloc[0]
    assert (new_sub["district_code"], new_sub["district_name"]) == (NEW_DISTRICT, "朝阳区")
    # the files: the district columns last, with Chinese-first headers; 区 rows labelled
    path = export_report(today, tmp_path / "areas.csv", table="areas")
    csv = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert list(csv.columns[-2:]) == ["区编码 district_code", "区 district_name"]
    assert "区 district" in set(csv["层级 level"])
    xlsx = pd.read_excel(export_report(today, tmp_path / "r.xlsx"), sheet_name=None, dtype=str)
    sheet = xlsx["区域 areas"]
    assert list(sheet.columns[-2:]) == ["区编码 district_code", "区 district_name"]
    assert NEW_DISTRICT in set(sheet["区编码 district_code"].str.strip())


def test_a_steward_sees_only_her_own_district_row(town) -> None:  # noqa: ANN001, F811
    """T50 #11 follow-up: a steward's view keeps the area rows where her alleys lie; a
    district row (blank community) was kept only when she held an alley outside every
    community, and never her own district's. Now: her subdistricts' district only."""
    from api.routes.reports import _own_view

    db = town["db"]
    _installed_long_ago(db)
    _add_district(db)
    rep = build_report(db, "daily", city_today())
    people = rep["people"]
    person = int(people[people["role"] == "alley_steward"]["person_id"].iloc[0])
    _own_view(rep, person)
    areas = rep["areas"]
    kept = areas[areas["level"] == "district"]
    subs = areas[areas["level"] == "subdistrict"]
    assert len(subs) and set(kept["district_code"]) == set(subs["district_code"]) == {"110108"}
