"""Patrol reports over a real PostGIS, the acceptance tester's defects: co-stewards credited
for their own part only, a community filter that printed a subdistrict row, the per-segment
table, the CSV table choice, a running period counting today as missed, unstaffed alleys
missing from the area rows, and a steward seeing every community.

One town, visits written straight into ``patrol_visits`` on fixed past days, and ``today``
given to the report, so every expected number is worked out here by hand from the alleys'
segment lengths. Week of 2025-06-16 (Mon) – 2025-06-22 (Sun), all in community C (the demo
community 110108015002 of subdistrict 110108015):

* alley A held by P and Q. Wed: Q walks all of A, P nothing. Thu: Q walks all of A, P a
  token tenth of A's first segment. The alley is patrolled both days; Q is credited twice,
  P never (needs 0.8 / 2 = 0.4 of A).
* alley B held by R and T, split in halves on Wed (R the first half of every segment at
  08:00–08:20, T the second at 09:00–09:30 local): B 100 % walked, both credited.
* alley C held by P alone, walked on Wed by X, who holds nothing: not patrolled.
* alley D held by S: walked Mon, not Tue. Alley E held by S2: walked Tue.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.importer import import_osm
from geo.patrol_reports import _STREET_AREA_SQL, Report, build_report
from geo.report_export import export_report
from geo.report_period import report_period
from tests.conftest import FIXTURES
from tests.test_import import GRIDWARD

MON = dt.date(2025, 6, 16)
TUE, WED, THU = (MON + dt.timedelta(days=i) for i in (1, 2, 3))
FAR = dt.date(2026, 1, 1)  # a "today" long after the week: the week is whole
COMMUNITY, SUBDISTRICT = "110108015002", "110108015"
TZ = ZoneInfo("Asia/Shanghai")


def _at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=TZ)


@pytest.fixture()
def town(db) -> dict[str, Any]:  # noqa: ANN001
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.begin() as conn:
        # alleys of community C, the ones of several segments first
        rows = conn.execute(
            text(
                f"WITH w AS ({_STREET_AREA_SQL}) SELECT st.id, count(s.id) AS n "
                "FROM w JOIN streets st ON st.id = w.alley_id "
                "JOIN street_segments s ON s.street_id = st.id "
                "WHERE st.kind = 'alley' AND w.community_code = :c "
                "GROUP BY st.id ORDER BY count(s.id) >= 2 DESC, st.id LIMIT 5"
            ),
            {"c": COMMUNITY},
        ).all()
        assert len(rows) == 5 and rows[0].n >= 2 and rows[1].n >= 2
        alleys = dict(zip("ABCDE", (r.id for r in rows), strict=True))
        segs = {
            k: conn.execute(
                text("SELECT id, length_m FROM street_segments WHERE street_id = :s ORDER BY id"),
                {"s": sid},
            ).all()
            for k, sid in alleys.items()
        }
        people = {}
        for key in ("P", "Q", "R", "T", "S", "S2", "X"):
            people[key] = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES "
                    "(:e, :n, ARRAY['alley_steward']) RETURNING id"
                ),
                {"e": key, "n": f"管家{key}"},
            ).scalar_one()
        for who, alley in (("P", "A"), ("Q", "A"), ("R", "B"), ("T", "B"), ("P", "C")) + (
            ("S", "D"),
            ("S2", "E"),
        ):
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                    "VALUES (:p, 'alley_steward', :s, DATE '2025-05-01')"
                ),
                {"p": people[who], "s": alleys[alley]},
            )
        tracks = {
            key: conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                    "person_id, status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, 'matched') "
                    "RETURNING id"
                ),
                {"h": f"{i:064x}", "p": pid},
            ).scalar_one()
            for i, (key, pid) in enumerate(people.items())
        }

        def walk(who, alley, day, lo, hi, first, last, only_first=False):  # noqa: ANN001, ANN202
            for seg in segs[alley][:1] if only_first else segs[alley]:
                conn.execute(
                    text(
                        "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                        "covered_fraction, first_time, last_time, intervals) VALUES "
                        "(:t, :s, :p, :d, :f, :a, :b, CAST(:iv AS jsonb))"
                    ),
                    {
                        "t": tracks[who],
                        "s": seg.id,
                        "p": people[who],
                        "d": day,
                        "f": hi - lo,
                        "a": first,
                        "b": last,
                        "iv": json.dumps([[lo, hi]]),
                    },
                )

        walk("Q", "A", WED, 0.0, 1.0, _at(WED, 7), _at(WED, 7, 40))
        walk("R", "B", WED, 0.0, 0.5, _at(WED, 8), _at(WED, 8, 20))
        walk("T", "B", WED, 0.5, 1.0, _at(WED, 9), _at(WED, 9, 30))
        walk("X", "C", WED, 0.0, 1.0, _at(WED, 10), _at(WED, 10, 30))
        walk("Q", "A", THU, 0.0, 1.0, _at(THU, 7), _at(THU, 7, 40))
        walk("P", "A", THU, 0.0, 0.1, _at(THU, 7, 5), _at(THU, 7, 6), only_first=True)
        walk("S", "D", MON, 0.0, 1.0, _at(MON, 6), _at(MON, 6, 30))
        walk("S2", "E", TUE, 0.0, 1.0, _at(TUE, 6, 30), _at(TUE, 7))
    length = {k: sum(float(s.length_m) for s in v) for k, v in segs.items()}
    return {"db": db, "alleys": alleys, "segs": segs, "people": people, "length": length}


def _person(rep: dict, pid: int) -> dict:
    people = rep["people"]
    return people[people["person_id"] == pid].iloc[0].to_dict()


def test_a_co_steward_who_never_walked_is_not_credited(town) -> None:  # noqa: ANN001
    """The tester's alley 45 (persons 6 and 56): old code copied the alley's flag and its
    merged metres onto every holder's row: P had 2 patrolled alley-days and 2 × |A| metres
    for Q's walking. Now P is credited with nothing (their token tenth is below their part,
    0.8 / 2), and walked only that tenth; R and T, who split B in halves, are both credited."""
    db, people, length, segs = town["db"], town["people"], town["length"], town["segs"]
    week = build_report(db, "weekly", WED, today=FAR)
    p, q = _person(week, people["P"]), _person(week, people["Q"])
    r, t = _person(week, people["R"]), _person(week, people["T"])
    # P holds A and C: 2 alleys × 7 days; A patrolled Wed and Thu, but not by P's walking
    assert (p["alley_days"], p["patrolled_alley_days"]) == (14, 0)
    assert p["walked_m"] == pytest.approx(0.1 * float(segs["A"][0].length_m), abs=0.01)
    assert (q["alley_days"], q["patrolled_alley_days"]) == (7, 2)
    assert q["walked_m"] == pytest.approx(2 * length["A"], abs=0.01)
    assert q["compliance"] == pytest.approx(2 / 7) and p["compliance"] == 0
    for half in (r, t):  # each walked half of B on Wednesday: their part (0.4) and more
        assert (half["alley_days"], half["patrolled_alley_days"]) == (7, 1)
        assert half["walked_m"] == pytest.approx(length["B"] / 2, abs=0.01)
    # the alley rows keep the union rule and say who walked what and who was credited
    alleys = week["alleys"].set_index(["alley_id", "day"])
    a_wed = alleys.loc[(town["alleys"]["A"], WED)]
    assert a_wed["patrolled"] and a_wed["walked_m"] == pytest.approx(length["A"], abs=0.01)
    assert a_wed["person_ids"] == sorted([people["P"], people["Q"]])
    assert a_wed["credited_ids"] == [people["Q"]]
    assert a_wed["holder_walked_m"] == pytest.approx([0.0, length["A"]], abs=0.06)
    b_wed = alleys.loc[(town["alleys"]["B"], WED)]
    assert b_wed["patrolled"] and sorted(b_wed["credited_ids"]) == sorted(
        [people["R"], people["T"]]
    )
    # the daily line of P on Thursday: A patrolled (by Q), P's tenth is not their part
    thu = build_report(db, "daily", THU, today=FAR)
    p_thu = _person(thu, people["P"])
    assert (p_thu["alleys"], p_thu["patrolled_alleys"], p_thu["compliance"]) == (2, 0, 0.0)
    # credit of the week: Q twice, R and T once each, S (Mon) and S2 (Tue); P nothing
    assert week["people"]["patrolled_alley_days"].sum() == 2 + 1 + 1 + 1 + 1


def test_the_patrol_map_shows_a_persons_own_credit(town) -> None:  # noqa: ANN001
    """The map of one person draws what the report credits them with: P's alley A on
    Wednesday is patrolled (by Q) but not P's (drawn as P's own 0 %); old code drew it green
    and counted it in P's patrolled alleys."""
    from geo.map_data import patrols_of_day

    db, people, alley_a = town["db"], town["people"], town["alleys"]["A"]
    p = patrols_of_day(db, WED, people["P"], threshold=0.8, today=FAR)
    assert p.counts == {"alley_steward": {"alleys": 2, "patrolled": 0}}
    a = next(f["properties"] for f in p.alleys["features"] if f["properties"]["id"] == alley_a)
    assert (a["patrolled"], a["walked"], a["alley_patrolled"]) == (False, 0.0, True)
    q = patrols_of_day(db, WED, people["Q"], threshold=0.8, today=FAR)
    assert q.counts == {"alley_steward": {"alleys": 1, "patrolled": 1}}
    assert q.alleys["features"][0]["properties"]["walked"] == pytest.approx(1.0)


def test_an_area_filter_says_whose_rows_count_only_its_duties(town, auth_headers) -> None:  # noqa: ANN001
    """Outside tester: under a community filter a steward's row counts only their alleys in
    it, and nothing said so (their monthly rate read 0.143 there, 0.107 in the whole
    report). A note now names how many people hold duties outside the area too."""
    db = town["db"]
    with db.begin() as conn:
        other = conn.execute(
            text(
                f"WITH w AS ({_STREET_AREA_SQL}) SELECT w.alley_id FROM w JOIN streets st "
                "ON st.id = w.alley_id WHERE st.kind = 'alley' AND w.community_code <> :c "
                "ORDER BY w.alley_id LIMIT 1"
            ),
            {"c": COMMUNITY},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, DATE '2025-05-01')"
            ),
            {"p": town["people"]["P"], "s": other},
        )
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        params = {"date": str(WED), "area": COMMUNITY}
        rep = client.get("/reports/weekly", params=params, headers=admin).json()
        whole = client.get("/reports/weekly", params={"date": str(WED)}, headers=admin).json()
    said = [n for n in rep["notes"] if "people rows count only duties" in n]
    assert len(said) == 1 and "1 of these people" in said[0], rep["notes"]
    assert not any("people rows count only" in n for n in whole["notes"]), whole["notes"]
    # T66 N4: a steward's own view says it of her own row only, and only if it is hers
    others = sorted({r["person_id"] for r in rep["people"]} - {town["people"]["P"]})
    assert others, rep["people"]
    with TestClient(create_app(db)) as client:
        seen = {
            who: client.get(
                "/reports/weekly",
                params=params,
                headers=auth_headers("steward", person_id=who),
            ).json()["notes"]
            for who in (town["people"]["P"], others[0])
        }
    mine = [n for n in seen[town["people"]["P"]] if "仅计本区域" in n]
    assert mine == [n for n in mine if "your row counts only your duties" in n] and len(mine) == 1
    assert "您的行仅计本区域" in mine[0] and COMMUNITY in mine[0], mine
    assert not any("仅计本区域" in n for n in seen[others[0]]), seen[others[0]]


def test_a_community_filter_prints_no_subdistrict_row(town, auth_headers, pg_url) -> None:  # noqa: ANN001
    """Old code: a 街道 row holding community C's numbers alone, labelled as the subdistrict.
    Now the rows for C only, and a note saying where the subdistrict totals are; filtered
    by the subdistrict, its row is the sum of its communities'."""
    admin = auth_headers("admin")
    with TestClient(create_app(town["db"])) as client:
        rep = client.get(
            "/reports/weekly", params={"date": str(WED), "area": COMMUNITY}, headers=admin
        ).json()
        whole = client.get(
            "/reports/weekly", params={"date": str(WED), "area": SUBDISTRICT}, headers=admin
        ).json()
    assert rep["areas"] and {a["level"] for a in rep["areas"]} == {"community"}
    assert {a["community_code"] for a in rep["areas"]} == {COMMUNITY}
    assert any("run without the community filter" in n for n in rep["notes"]), rep["notes"]
    steward = next(a for a in rep["areas"] if a["role"] == "alley_steward")
    # A Wed and Thu, B Wed, D Mon, E Tue
    assert (steward["alley_days"], steward["patrolled"]) == (5 * 7, 5)
    subs = [a for a in whole["areas"] if a["level"] == "subdistrict"]
    assert subs and all(s["subdistrict_code"] == SUBDISTRICT for s in subs)
    # (its other notes, of X's creditless walk and the backdated duties, are another matter)
    assert not any("run without the community filter" in n for n in whole["notes"]), whole["notes"]
    comms = [a for a in whole["areas"] if a["level"] == "community"]
    for role in ("alley_steward", "street_chief"):
        (sub,) = [s for s in subs if s["role"] == role]
        mine = [c for c in comms if c["role"] == role]
        for col in ("alley_days", "patrolled", "unstaffed"):
            assert sub[col] == sum(c[col] for c in mine), (role, col)
    res = _cli(["report", "weekly", "--date", str(WED), "--area", COMMUNITY], pg_url)
    assert res.returncode == 0, res.stderr
    assert "run without the community filter" in res.stdout
    assert "街道 subdistrict" not in res.stdout.split("区域 areas")[1].split("note:")[0]


def test_the_daily_report_has_a_segment_table(town, auth_headers) -> None:  # noqa: ANN001
    """Per segment per day: the walked fraction and metres by the alley's holders (union),
    their first and last time in city time, and the holders; old code had no such table."""
    admin = auth_headers("admin")
    alleys, segs, people = town["alleys"], town["segs"], town["people"]
    with TestClient(create_app(town["db"])) as client:
        rep = client.get("/reports/daily", params={"date": str(WED)}, headers=admin).json()
        week = client.get("/reports/weekly", params={"date": str(WED)}, headers=admin).json()
    assert "segments" not in week  # per segment per day: daily reports only
    rows = {r["segment_id"]: r for r in rep["segments"]}
    want = {s.id for k in "ABCDE" for s in segs[k]}
    assert set(rows) == want and len(rep["segments"]) == len(want)
    for seg in segs["B"]:  # R's first halves 08:00-08:20 and T's second halves 09:00-09:30
        row = rows[seg.id]
        assert row["alley_id"] == alleys["B"] and row["kind"] == "alley"
        assert row["walked_fraction"] == pytest.approx(1.0)
        assert row["walked_m"] == pytest.approx(float(seg.length_m), abs=0.01)
        assert row["length_m"] == pytest.approx(float(seg.length_m))
        assert row["first_time"] == f"{WED}T08:00:00+08:00"
        assert row["last_time"] == f"{WED}T09:30:00+08:00"
        assert row["person_ids"] == sorted([people["R"], people["T"]])
        assert row["people"] == "、".join(
            f"管家{k}" for k in sorted(("R", "T"), key=lambda k: people[k])
        )
        assert row["day"] == str(WED) and row["role"] == "alley_steward"
    for seg in segs["C"]:  # walked by X, who holds nothing: nothing for P
        row = rows[seg.id]
        assert row["walked_fraction"] == 0 and row["first_time"] is None
        assert row["last_time"] is None and row["walked_m"] == 0
    for seg in segs["A"]:
        assert rows[seg.id]["first_time"] == f"{WED}T07:00:00+08:00"
    assert all(rows[s.id]["walked_fraction"] == 0 for s in segs["D"] + segs["E"])
    # the same numbers in the XLSX sheet 路段 segments, in city wall-clock time
    with TestClient(create_app(town["db"])) as client:
        r = client.get("/reports/daily", params={"date": str(WED), "format": "xlsx"}, headers=admin)
    sheet = pd.read_excel(io.BytesIO(r.content), sheet_name="路段 segments")
    b0 = sheet[sheet["路段编号 segment_id"] == segs["B"][0].id].iloc[0]
    assert b0["走过比例 walked_fraction"] == pytest.approx(1.0)
    assert pd.Timestamp(b0["首次时间 first_time"]) == pd.Timestamp(f"{WED} 08:00")
    assert pd.Timestamp(b0["末次时间 last_time"]) == pd.Timestamp(f"{WED} 09:30")
    assert b0["类型 kind"] == "小巷 alley" and len(sheet) == len(want)


def _cli(args: list[str], pg_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": pg_url, "COLUMNS": "200"}
    return subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, env=env, timeout=300)


def test_csv_holds_the_table_asked_for(town, auth_headers, pg_url, tmp_path) -> None:  # noqa: ANN001
    """Old code: a CSV was always the people table, whatever was asked; now table= (API) and
    --table (CLI) pick people (default), alleys, areas or segments (daily only)."""
    admin = auth_headers("admin")
    n_segments = sum(len(v) for v in town["segs"].values())
    with TestClient(create_app(town["db"])) as client:

        def csv(kind: str, **params: str):  # noqa: ANN202
            return client.get(
                f"/reports/{kind}",
                params={"date": str(WED), "format": "csv", **params},
                headers=admin,
            )

        people = pd.read_csv(io.BytesIO(csv("daily").content), encoding="utf-8-sig")
        assert "姓名 person_name" in people.columns and len(people) == 6  # P Q R T S S2
        r = csv("daily", table="segments")
        assert r.status_code == 200 and "segments" in r.headers["content-disposition"]
        segs = pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")
        assert len(segs) == n_segments and "路段编号 segment_id" in segs.columns
        alleys = pd.read_csv(
            io.BytesIO(csv("weekly", table="alleys").content), encoding="utf-8-sig"
        )
        assert len(alleys) == 5 * 7 and "街巷编号 alley_id" in alleys.columns
        areas = pd.read_csv(io.BytesIO(csv("weekly", table="areas").content), encoding="utf-8-sig")
        assert "无人负责·天 unstaffed" in areas.columns
        bad = csv("daily", table="grids")
        assert bad.status_code == 422 and "'segments'" in bad.json()["error"], bad.text
        weekly_segments = csv("weekly", table="segments")
        assert weekly_segments.status_code == 422
        assert "daily reports only" in weekly_segments.json()["error"]
        as_json = client.get(
            "/reports/daily", params={"date": str(WED), "table": "alleys"}, headers=admin
        )
        assert as_json.status_code == 422 and "CSV" in as_json.json()["error"]
    out = tmp_path / "segs.csv"
    res = _cli(
        ["report", "daily", "--date", str(WED), "--out", str(out), "--table", "segments"], pg_url
    )
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == n_segments
    res = _cli(
        ["report", "weekly", "--date", str(WED), "--out", str(out), "--table", "segments"],
        pg_url,
    )
    assert res.returncode == 2 and "daily reports only" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    # the exporter used directly: the default stays the people table
    rep = build_report(town["db"], "daily", WED, today=FAR)
    period = report_period("daily", WED, FAR)
    default = pd.read_csv(export_report(rep, tmp_path / "p.csv", period), encoding="utf-8-sig")
    assert list(default["姓名 person_name"]) == list(rep["people"]["person_name"])


def test_report_out_makes_its_folder_and_refuses_a_place_it_cannot_write(
    town, pg_url, tmp_path
) -> None:  # noqa: ANN001
    """Outside tester T36 (#13): `report --out /nonexistent/dir/file.csv` ended in pandas'
    English error. Now --out behaves as the file-mode commands' (`gridward match --out`): a
    missing folder is made and the file written whole (no .partial left); a path under a
    file is refused before any work, Chinese first, exit code 2, nothing written."""
    xlsx = tmp_path / "new" / "deeper" / "daily.xlsx"
    res = _cli(["report", "daily", "--date", str(WED), "--out", str(xlsx)], pg_url)
    assert res.returncode == 0, res.stderr
    assert set(pd.read_excel(xlsx, sheet_name=None)) >= {"人员 people", "报表 report"}
    line = res.stdout.splitlines()[0]
    assert line.startswith(f"已写入报表 {xlsx}（日巡 {WED}，达标比例 0.8）"), line
    assert f"wrote {xlsx}: 日巡 daily patrol {WED}" in line, line
    table = tmp_path / "made" / "people.csv"
    res = _cli(["report", "weekly", "--date", str(WED), "--out", str(table)], pg_url)
    assert res.returncode == 0 and len(pd.read_csv(table, encoding="utf-8-sig")), res.stderr
    assert [p.name for p in tmp_path.rglob("*")].count("people.csv") == 1  # no .partial left
    assert not list(tmp_path.rglob("*partial*"))

    blocker = tmp_path / "a-file.txt"
    blocker.write_text("keep me")
    for bad in (blocker / "r.csv", blocker / "sub" / "r.xlsx"):
        res = _cli(["report", "daily", "--date", str(WED), "--out", str(bad)], pg_url)
        assert res.returncode == 2, (bad, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: 无法"), lines
        zh = lines[0][: lines[0].index(f"--out {bad}: cannot write in {blocker}")]
        assert "写入" in zh and str(blocker) in zh and not res.stdout, (lines, res.stdout)
    assert blocker.read_text() == "keep me"
    # the writer's own guard (the API writes through it too): one readable InputError
    rep = build_report(town["db"], "daily", WED, today=FAR)
    from geo.errors import InputError

    with pytest.raises(InputError) as refused:
        export_report(rep, blocker / "sub" / "r.csv", report_period("daily", WED, FAR))
    assert refused.value.message.startswith(f"无法写入报表文件 {blocker / 'sub' / 'r.csv'}（")
    assert f"cannot write {blocker / 'sub' / 'r.csv'}: " in refused.value.message
    assert blocker.read_text() == "keep me"


def test_a_running_week_does_not_count_today_as_missed(town) -> None:  # noqa: ANN001
    """At Tuesday 03:00 (today = Tue), S walked D on Monday and not yet today. Old code: 1 of
    2 alley-days, 50 %. Now today's unpatrolled duty-day is pending: 1 of 1, and the
    report says how many are pending; S2, who walked today, counts today as done."""
    db, people = town["db"], town["people"]
    week = build_report(db, "weekly", TUE, today=TUE)
    s, s2 = _person(week, people["S"]), _person(week, people["S2"])
    assert (s["alley_days"], s["patrolled_alley_days"], s["pending"]) == (2, 1, 1)
    assert s["compliance"] == pytest.approx(1.0)
    assert (s2["alley_days"], s2["patrolled_alley_days"], s2["pending"]) == (2, 1, 0)
    assert s2["compliance"] == pytest.approx(0.5)  # Monday missed, today done
    p = _person(week, people["P"])  # A and C: Monday missed twice, today pending twice
    assert (p["alley_days"], p["patrolled_alley_days"], p["pending"]) == (4, 0, 2)
    assert p["compliance"] == 0
    period = report_period("weekly", TUE, TUE)
    assert period.running and "今天未完成的不计 today not counted unless done" in period.title()
    # the same week seen from a later day: Tuesday is over, it counts as missed
    later = _person(build_report(db, "weekly", TUE, today=FAR), people["S"])
    assert (later["alley_days"], later["patrolled_alley_days"], later["pending"]) == (7, 1, 0)
    # the daily report of today: every alley with its status, today's not done yet pending
    day = build_report(db, "daily", TUE, today=TUE)
    s_day = _person(day, people["S"])
    assert (s_day["alleys"], s_day["patrolled_alleys"], s_day["pending"]) == (1, 0, 1)
    assert pd.isna(s_day["compliance"]) and pd.isna(s_day["rank"])  # nothing counts yet
    assert _person(day, people["S2"])["compliance"] == pytest.approx(1.0)
    d_row = day["alleys"][day["alleys"]["alley_id"] == town["alleys"]["D"]].iloc[0]
    assert d_row["pending"] and not d_row["patrolled"]
    assert int(day["alleys"]["pending"].sum()) == 4  # A, B, C, D; E is done
    running = report_period("daily", TUE, TUE)
    assert running.running and running.meta()["running"]
    assert not report_period("daily", TUE, FAR).running


def test_running_day_over_http_xlsx_and_map(town, auth_headers) -> None:  # noqa: ANN001
    """The running day's pending alley-days in JSON, in the XLSX 报表 sheet, and on the
    patrol map (out of the day's rate)."""
    from geo.map_data import patrols_of_day
    from geo.patrol_reports import report_summary
    from geo.report_export import _about

    db, people = town["db"], town["people"]
    rep = build_report(db, "daily", TUE, today=TUE)
    period = report_period("daily", TUE, TUE)
    summary = report_summary(rep, period)
    assert summary["running"] and summary["pending"] == 4
    about = dict(_about(period, 0.8, summary).to_numpy().tolist())
    assert about["进行中 running"] == "是 yes" and about["待巡 pending"].startswith("今天有 4 项")
    m = patrols_of_day(db, TUE, people["S"], threshold=0.8, today=TUE)
    assert m.pending == 1 and m.compliance[-1]["pending"] == 1
    assert m.counts == {"alley_steward": {"alleys": 1, "patrolled": 0}}
    everyone = patrols_of_day(db, TUE, None, threshold=0.8, today=TUE)
    assert everyone.pending == 4
    # the API of a past day: not running, nothing pending
    with TestClient(create_app(db)) as client:
        past = client.get(
            "/reports/weekly", params={"date": str(WED)}, headers=auth_headers("admin")
        ).json()
    assert past["running"] is False and past["pending"] == 0
    assert all(p["pending"] == 0 for p in past["people"])


def test_area_rows_count_unstaffed_alley_days(town) -> None:  # noqa: ANN001
    """Old code: alleys nobody held were in no area row at all. Now ``unstaffed`` counts
    them per area, out of the rate; a duty that begins on Thursday moves 4 of the week's
    days (Thu–Sun) of that alley from unstaffed to alley_days."""
    db = town["db"]

    def c_row(rep: dict, role: str = "alley_steward") -> dict:
        areas = rep["areas"]
        hit = areas[
            (areas["role"] == role)
            & (areas["level"] == "community")
            & (areas["community_code"] == COMMUNITY)
        ]
        return hit.iloc[0].to_dict()

    before = c_row(build_report(db, "weekly", WED, today=FAR))
    with db.connect() as conn:
        in_city = conn.execute(
            text(
                "SELECT count(*) FROM streets st WHERE st.kind = 'alley' AND EXISTS "
                "(SELECT 1 FROM street_segments s WHERE s.street_id = st.id)"
            )
        ).scalar_one()
    week = build_report(db, "weekly", WED, today=FAR)
    steward_comms = week["areas"][
        (week["areas"]["role"] == "alley_steward") & (week["areas"]["level"] == "community")
    ]
    # every live alley of the city lies in one community: staffed or unstaffed, every day
    assert (steward_comms["alley_days"] + steward_comms["unstaffed"]).sum() == 7 * in_city
    assert before["alley_days"] == 5 * 7 and before["unstaffed"] > 0
    assert before["compliance"] == pytest.approx(5 / 35)  # the rate keeps its meaning
    with db.begin() as conn:
        free = conn.execute(
            text(
                f"WITH w AS ({_STREET_AREA_SQL}) SELECT w.alley_id FROM w JOIN streets st "
                "ON st.id = w.alley_id WHERE st.kind = 'alley' AND w.community_code = :c "
                "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.street_id = st.id) "
                "AND EXISTS (SELECT 1 FROM street_segments s WHERE s.street_id = st.id) "
                "ORDER BY w.alley_id LIMIT 1"
            ),
            {"c": COMMUNITY},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d)"
            ),
            {"p": town["people"]["X"], "s": free, "d": THU},
        )
    after = c_row(build_report(db, "weekly", WED, today=FAR))
    assert after["alley_days"] == before["alley_days"] + 4
    assert after["unstaffed"] == before["unstaffed"] - 4
    # no street chief anywhere: every street-day is unstaffed, and there is no rate
    chiefs = week["areas"][week["areas"]["role"] == "street_chief"]
    assert len(chiefs) and (chiefs["alley_days"] == 0).all() and (chiefs["unstaffed"] > 0).all()
    assert chiefs["compliance"].isna().all() and chiefs["rank"].isna().all()


def test_a_steward_sees_the_areas_of_their_own_alleys(town, auth_headers) -> None:  # noqa: ANN001
    """Old code: a steward's report held every community's totals (and both roles). Now
    the community and subdistrict of their own alleys, for their role; their own segments."""
    person = town["people"]["R"]
    with town["db"].begin() as conn:  # X holds an alley of another community
        conn.execute(
            text(
                f"INSERT INTO assignments (person_id, role, street_id, valid_from) "
                f"SELECT :p, 'alley_steward', w.alley_id, DATE '2025-05-01' "
                f"FROM ({_STREET_AREA_SQL}) AS w JOIN streets st ON st.id = w.alley_id "
                "WHERE st.kind = 'alley' AND w.community_code = '110108015004' "
                "ORDER BY w.alley_id LIMIT 1"
            ),
            {"p": town["people"]["X"]},
        )
    with TestClient(create_app(town["db"])) as client:
        admin = client.get(
            "/reports/daily", params={"date": str(WED)}, headers=auth_headers("admin")
        ).json()
        mine = client.get(
            "/reports/daily",
            params={"date": str(WED)},
            headers=auth_headers("steward", person_id=person),
        ).json()
    assert "110108015004" in {a["community_code"] for a in admin["areas"]}
    assert {(a["role"], a["level"], a["community_code"]) for a in mine["areas"]} == {
        ("alley_steward", "community", COMMUNITY),
        ("alley_steward", "subdistrict", None),
    }
    assert [p["person_id"] for p in mine["people"]] == [person]
    assert {s["alley_id"] for s in mine["segments"]} == {town["alleys"]["B"]}


def test_a_stewards_pending_count_is_their_own(town) -> None:  # noqa: ANN001
    """On a running Thursday, P owes their part of A (walked by Q) and all of C: 2 pending
    duty-days in their own view; the summary counted their alleys' rows (A done) and said 1,
    against their own line."""
    from api.routes.reports import _own_view
    from geo.patrol_reports import report_summary
    from geo.report_period import report_period

    db, people = town["db"], town["people"]
    rep = build_report(db, "daily", THU, today=THU)
    _own_view(rep, people["P"])
    assert int(rep["people"]["pending"].sum()) == 2
    assert report_summary(rep, report_period("daily", THU, THU))["pending"] == 2


def test_each_holders_metres_are_named_by_id() -> None:
    """The XLSX column pairing holders with their metres split the joined names on "、":
    a name holding that mark shifted every later pair."""
    from geo.report_export import _holders_walked

    names = {1: "王、小巷", 2: "李小巷"}
    assert (
        _holders_walked([1, 2], "王、小巷、李小巷", [0.0, 600.0], names) == "王、小巷 0、李小巷 600"
    )
    # a steward's own view knows only their own name: the row's names fill in
    assert _holders_walked([1, 2], "王小巷、李小巷", [0.0, 600.0], {2: "李小巷"}) == (
        "王小巷 0、李小巷 600"
    )
    assert _holders_walked([1], "x", None, names) is None


def _outside_count(report: Report) -> int:
    """How many streets the report's note counts as lying in no community (0: no note)."""
    for note in report.meta["notes"]:
        head, sep, _ = note.partition(" 条街巷不属任何已导入的社区")
        if sep:  # the count in the English too (T37 #19: it was lost there)
            assert f" {int(head)} street(s)/alley(s) lie in no imported community" in note, note
            return int(head)
    return 0


def _outside_row(report: Report) -> pd.Series:
    """The stewards' community row of the streets outside every community."""
    areas = report["areas"]
    rows = areas[
        (areas["role"] == "alley_steward")
        & (areas["level"] == "community")
        & areas["community_code"].isna()
    ]
    return rows.iloc[0]


def test_alleys_outside_every_community_have_named_unranked_rows(town, tmp_path) -> None:  # noqa: ANN001
    """Acceptance tester: streets that lie in no imported community gave area rows with a
    blank code and a blank name, ranked among the communities. Now they are named "outside
    every community / subdistrict", not ranked, and a note says how many and what to do;
    the ranks of the real communities do not move."""
    from geo.report_areas import OUTSIDE_COMMUNITY, OUTSIDE_SUBDISTRICT

    db = town["db"]
    before = build_report(db, "weekly", WED, today=FAR)
    # the demo's own ways that run mostly beyond its communities (geo.street_areas)
    n_before = _outside_count(before)
    unstaffed_before = _outside_row(before)["unstaffed"] if n_before else 0
    far = tmp_path / "far.osm"
    far.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        ' <node id="9100001" lat="39.9000" lon="116.4000"/>\n'
        ' <node id="9100002" lat="39.9010" lon="116.4010"/>\n'
        ' <node id="9100003" lat="39.9020" lon="116.4000"/>\n'
        ' <way id="9100001"><nd ref="9100001"/><nd ref="9100002"/>'
        '<tag k="highway" v="footway"/><tag k="name" v="远方巷"/></way>\n'
        ' <way id="9100002"><nd ref="9100002"/><nd ref="9100003"/>'
        '<tag k="highway" v="footway"/><tag k="name" v="无人巷"/></way>\n'
        "</osm>\n",
        encoding="utf-8",
    )
    import_osm(db, far)
    with db.begin() as conn:
        held = conn.execute(text("SELECT id FROM streets WHERE name = '远方巷'")).scalar_one()
        # as if imported before the week: a later import run counts no unstaffed day before
        # it came (T51 #7), and this test is about the rows' names
        conn.execute(
            text(
                "UPDATE streets SET created_at = TIMESTAMPTZ '2025-04-01 08:00+08' "
                "WHERE name IN ('远方巷', '无人巷')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, DATE '2025-05-01')"
            ),
            {"p": town["people"]["X"], "s": held},
        )
    week = build_report(db, "weekly", WED, today=FAR)
    areas = week["areas"][week["areas"]["role"] == "alley_steward"]
    out_comm = areas[(areas["level"] == "community") & areas["community_code"].isna()]
    out_sub = areas[(areas["level"] == "subdistrict") & areas["subdistrict_code"].isna()]
    assert len(out_comm) == 1 and len(out_sub) == 1
    comm, sub = out_comm.iloc[0], out_sub.iloc[0]
    assert comm["community_name"] == OUTSIDE_COMMUNITY
    assert comm["subdistrict_name"] == OUTSIDE_SUBDISTRICT
    assert sub["subdistrict_name"] == OUTSIDE_SUBDISTRICT
    # the held alley's 7 days staffed, the other's 7 unstaffed, and no rank
    assert (comm["alley_days"], comm["unstaffed"], comm["patrolled"]) == (
        7,
        unstaffed_before + 7,
        0,
    )
    assert comm["compliance"] == 0 and pd.isna(comm["rank"]) and pd.isna(sub["rank"])
    inside = areas[areas["community_code"].notna() | (areas["level"] == "subdistrict")]
    inside = inside[inside["subdistrict_code"].notna()]
    old = before["areas"][before["areas"]["role"] == "alley_steward"]
    old = old[old["community_code"].notna() | (old["level"] == "subdistrict")]
    old = old[old["subdistrict_code"].notna()]
    assert inside["rank"].tolist() == old["rank"].tolist()
    assert _outside_count(week) == n_before + 2
    row = week["alleys"][week["alleys"]["alley_id"] == held].iloc[0]
    assert pd.isna(row["community_code"]) and row["community_name"] == OUTSIDE_COMMUNITY
    assert row["subdistrict_name"] == OUTSIDE_SUBDISTRICT
    _outside_rows_come_last(week["areas"])
    again = build_report(db, "weekly", WED, today=FAR)["areas"]
    pd.testing.assert_frame_equal(again, week["areas"])  # one order, run after run


def _outside_rows_come_last(areas: pd.DataFrame) -> None:
    """L9, an outside tester: the rows outside every subdistrict came first, in no fixed
    order. Per role: each subdistrict by code then its communities by code (outside every
    community last), the rows outside every subdistrict after the named ones."""
    assert list(areas["role"]) == sorted(areas["role"])
    for _, rows in areas.groupby("role"):
        outside = rows["subdistrict_code"].isna().tolist()
        assert outside == sorted(outside) and outside[-1], rows  # named first, outside last
        for _, sub in rows.groupby(rows["subdistrict_code"].fillna(""), sort=False):
            assert sub["level"].tolist()[0] == "subdistrict" and len(sub) > 1
            comms = sub.iloc[1:]
            assert (comms["level"] == "community").all()
            no_comm = comms["community_code"].isna().tolist()
            assert no_comm == sorted(no_comm)
            named = comms["community_code"].dropna().tolist()
            assert named == sorted(named)


def test_a_city_without_any_community_still_reports(db) -> None:  # noqa: ANN001
    """The city-day bench (streets imported, no areas at all): every name column of the area
    rows was blank, so float, and naming them "outside every community" raised TypeError:
    the daily report failed. Now it reports, every row named as outside."""
    from geo.report_areas import OUTSIDE_COMMUNITY, OUTSIDE_SUBDISTRICT

    import_osm(db, FIXTURES / "haidian_demo.osm")
    with db.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) "
                "VALUES ('S', '管家', ARRAY['alley_steward']) RETURNING id"
            )
        ).scalar_one()
        alley = conn.execute(
            text("SELECT id FROM streets WHERE kind = 'alley' ORDER BY id LIMIT 1")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, DATE '2025-05-01')"
            ),
            {"p": pid, "s": alley},
        )
    rep = build_report(db, "daily", WED, today=FAR)
    areas = rep["areas"][rep["areas"]["role"] == "alley_steward"]
    assert set(areas["level"]) == {"subdistrict", "community"}
    assert (areas["subdistrict_name"] == OUTSIDE_SUBDISTRICT).all()
    assert areas.loc[areas["level"] == "community", "community_name"].eq(OUTSIDE_COMMUNITY).all()
    assert int(areas.loc[areas["level"] == "community", "alley_days"].iloc[0]) == 1


def _late(rep: dict) -> dict[int, int]:
    return dict(zip(rep["people"]["person_id"], rep["people"]["late_uploads"], strict=True))


def test_late_uploads_are_marked_and_credit_the_same(town, auth_headers, monkeypatch) -> None:  # noqa: ANN001
    """A supervisor: a walk uploaded long after it was walked should show in the daily
    report. Q's track (walked Wed and Thu) was uploaded 25 h after its last fix: Q's rows of
    Wed and Thu count 1 late upload (迟传), the week's row 1 (one track); R's track, 23 h
    late, is not; the credit is unchanged; GRIDWARD_LATE_UPLOAD_H moves the line."""
    db, ids = town["db"], town["people"]
    before = build_report(db, "daily", WED, today=FAR)["people"]
    with db.begin() as conn:
        for key, end, after in (("Q", _at(THU, 7, 40), 25), ("R", _at(WED, 8, 20), 23)):
            conn.execute(
                text(
                    "UPDATE tracks SET started_at = :e - interval '1 hour', ended_at = :e, "
                    "uploaded_at = :e + make_interval(hours => :h) WHERE person_id = :p"
                ),
                {"e": end, "h": after, "p": ids[key]},
            )
    wed = build_report(db, "daily", WED, today=FAR)
    want = {pid: int(key == "Q") for key, pid in ids.items() if key != "X"}
    assert _late(wed) == want
    assert _late(build_report(db, "daily", THU, today=FAR))[ids["Q"]] == 1
    assert _late(build_report(db, "weekly", WED, today=FAR)) == want  # one track, once
    pd.testing.assert_frame_equal(
        wed["people"].drop(columns=["late_uploads", "late_days_max"]),
        before.drop(columns=["late_uploads", "late_days_max"]),
    )
    with TestClient(create_app(db)) as client:
        admin = auth_headers("admin")
        got = client.get("/reports/daily", params={"date": str(WED)}, headers=admin).json()
        csv = client.get(
            "/reports/daily", params={"date": str(WED), "format": "csv"}, headers=admin
        )
    assert {p["person_id"]: p["late_uploads"] for p in got["people"]} == want
    people = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert (
        dict(zip(people["系统编号 person_id"], people["迟传轨迹 late_uploads"], strict=True))
        == want
    )
    monkeypatch.setenv("GRIDWARD_LATE_UPLOAD_H", "26")
    from geo.settings import get_settings

    get_settings.cache_clear()
    try:
        assert set(_late(build_report(db, "daily", WED, today=FAR)).values()) == {0}
    finally:
        monkeypatch.delenv("GRIDWARD_LATE_UPLOAD_H")
        get_settings.cache_clear()


def test_a_week_counts_the_late_walks_of_its_duty_days_only(town) -> None:  # noqa: ANN001
    """Outside tester T62 #4: S's duty on alley D ends on Tuesday; S walks D late on Tuesday
    (a duty day) and again late on Wednesday (no duty: the walk credits nobody). The daily
    rows count the Tuesday walk only (S has no Wednesday row); the week counted both. Now
    the week is the sum of its days: 1."""
    db, ids, segs = town["db"], town["people"], town["segs"]
    with db.begin() as conn:
        conn.execute(
            text("UPDATE assignments SET valid_to = :d WHERE person_id = :p"),
            {"d": TUE, "p": ids["S"]},
        )
        for n, day in enumerate((TUE, WED)):
            end = _at(day, 9)
            track = conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                    "person_id, status, started_at, ended_at, uploaded_at) VALUES (:h, 'x', "
                    "'csv', 'wgs84', 1, 0, :p, 'matched', :e - interval '1 hour', :e, "
                    ":e + interval '30 hours') RETURNING id"
                ),
                {"h": f"{n:x}".rjust(64, "f"), "p": ids["S"], "e": end},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                    "covered_fraction, first_time, last_time, intervals) VALUES "
                    "(:t, :s, :p, :d, 1.0, :a, :b, CAST('[[0, 1]]' AS jsonb))"
                ),
                {"t": track, "s": segs["D"][0].id, "p": ids["S"], "d": day, "a": end, "b": end},
            )
    days = [
        _late(build_report(db, "daily", MON + dt.timedelta(days=i), today=FAR)) for i in range(7)
    ]
    assert [d.get(ids["S"], 0) for d in days] == [0, 1, 0, 0, 0, 0, 0]
    assert ids["S"] not in days[2]  # no duty on Wednesday: no row
    week = build_report(db, "weekly", WED, today=FAR)
    assert _late(week)[ids["S"]] == 1
    assert _person(week, ids["S"])["late_days_max"] == 1


def test_an_area_report_counts_only_late_walks_on_its_streets(town) -> None:  # noqa: ANN001
    """Stop-30 open item: the late-upload column ignored the area filter. Q's walk of
    another community's alley, sent 30 h late, is Q's late upload in the city's report, not
    in the report of Q's own community (whose rows count only its streets)."""
    db, q = town["db"], town["people"]["Q"]
    with db.begin() as conn:
        other = conn.execute(
            text(
                f"WITH w AS ({_STREET_AREA_SQL}) SELECT s.id "
                "FROM w JOIN street_segments s ON s.street_id = w.alley_id "
                "WHERE w.community_code <> :c ORDER BY s.id LIMIT 1"
            ),
            {"c": COMMUNITY},
        ).scalar_one()
        track = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, person_id, "
                "status, started_at, ended_at, uploaded_at) VALUES (:h, 'x', 'csv', 'wgs84', 1, "
                "0, :p, 'matched', :a, :b, :b + interval '30 hours') RETURNING id"
            ),
            {"h": "f" * 64, "p": q, "a": _at(WED, 11), "b": _at(WED, 11, 30)},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) VALUES "
                "(:t, :s, :p, :d, 1.0, :a, :b, CAST('[[0.0, 1.0]]' AS jsonb))"
            ),
            {"t": track, "s": other, "p": q, "d": WED, "a": _at(WED, 11), "b": _at(WED, 11, 30)},
        )
    assert _late(build_report(db, "daily", WED, today=FAR))[q] == 1
    assert _late(build_report(db, "daily", WED, area=COMMUNITY, today=FAR))[q] == 0
