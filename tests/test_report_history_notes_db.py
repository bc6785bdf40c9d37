"""What a report says about its history (outside tester T43, "the city over time"): walks by
people who held no duty that day (#5), days before the city's first duty (#9), people in post
part of a week or month (#11), and a closed period whose inputs changed after it ended (#4).

The town of :mod:`tests.test_patrol_reports_more_db` (week of 2025-06-16, duties from
2025-05-01, X holding nothing walks alley C on Wednesday), reports asked with ``today`` far
after the week unless said otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.importer import import_osm
from geo.patrol_reports import build_report
from geo.report_export import export_report
from geo.report_period import report_period
from geo.settings import city_today
from tests.conftest import FIXTURES
from tests.test_patrol_reports_more_db import FAR, MON, THU, TUE, WED, _at, _cli, town  # noqa: F401
from tests.test_segment_retire_db import _without_way


def _notes(rep: Any, needle: str) -> list[str]:
    notes = rep.meta["notes"] if hasattr(rep, "meta") else rep["notes"]
    return [n for n in notes if needle in n]


def _visit(conn, track: int, seg: int, person: int, day: dt.date, hh: int) -> None:  # noqa: ANN001
    conn.execute(
        text(
            "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, covered_fraction, "
            "first_time, last_time, intervals) VALUES (:t, :s, :p, :d, 1.0, :a, :b, "
            "CAST('[[0, 1]]' AS jsonb))"
        ),
        {"t": track, "s": seg, "p": person, "d": day, "a": _at(day, hh), "b": _at(day, hh, 30)},
    )


def _track(conn, person: int, n: int) -> int:  # noqa: ANN001
    return conn.execute(
        text(
            "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, person_id, "
            "status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, 'matched') RETURNING id"
        ),
        {"h": f"{n:064x}", "p": person},
    ).scalar_one()


def _unheld(rep: Any) -> list[str]:
    return _notes(rep, "当天无街巷职责")


def test_walks_by_a_person_without_a_duty_that_day_are_counted_and_named(town) -> None:  # noqa: ANN001, F811
    """T43 #5: the walks of someone who held no duty that day (a steward renumbered in the
    registry, his duty moved to the new id) credited nobody, and the report said nothing.
    Old code: no note. Now one note counts them and names the few; a walker who holds a
    duty that day (elsewhere, or on another alley) is not in it."""
    db, people = town["db"], town["people"]
    c_m = town["length"]["C"]
    with db.begin() as conn:  # S (who holds D) walks alley A on Monday: S held a duty
        _visit(conn, _track(conn, people["S"], 9001), town["segs"]["A"][0].id, people["S"], MON, 9)
    rep = build_report(db, "weekly", WED, today=FAR)
    (note,) = _unheld(rep)
    assert note.startswith(
        f"另有 1 人的 1 条轨迹（{c_m:.0f} 米）当天无街巷职责，未计入任何街巷："
        f"管家X（X）1 条 {c_m:.0f} 米；如应计入，请补设其当天的职责（gridward assign set --from）"
        "或把轨迹转给当天的责任人（gridward tracks reassign） "
    ), note
    assert note.endswith(
        f"1 track ({c_m:.0f} m) by 1 person who held no street or alley duty that day "
        f"credit no street or alley: 管家X (X) 1 track, {c_m:.0f} m; to count them, "
        "backdate their duty (gridward assign set --from) or give the tracks to the day's "
        "holder (gridward tracks reassign)"
    ), note
    assert not _unheld(build_report(db, "daily", THU, today=FAR))  # X walked on Wednesday
    # X holds a duty on Wednesday (another alley than the one walked): no note
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from, valid_to) "
                "VALUES (:p, 'alley_steward', :s, :d, :d)"
            ),
            {"p": people["X"], "s": town["alleys"]["E"], "d": WED},
        )
    assert not _unheld(build_report(db, "weekly", WED, today=FAR))


def test_the_note_on_walks_without_a_duty_by_role(town, auth_headers) -> None:  # noqa: ANN001, F811
    """Through the API: an admin and a viewer are told to ask an admin (no shell in a
    browser, T71 #35), the CLI's report keeps the commands, and a steward's own view names
    nobody else (the note is dropped for P, kept for X)."""
    db, people = town["db"], town["people"]
    params = {"date": str(WED)}
    with TestClient(create_app(db)) as client:
        admin = client.get("/reports/weekly", params=params, headers=auth_headers()).json()
        viewer = client.get("/reports/weekly", params=params, headers=auth_headers("viewer")).json()
        p = client.get(
            "/reports/weekly",
            params=params,
            headers=auth_headers("steward", person_id=people["P"]),
        ).json()
        x = client.get(
            "/reports/weekly",
            params=params,
            headers=auth_headers("steward", person_id=people["X"]),
        ).json()
    (note,) = _unheld(build_report(db, "weekly", WED, today=FAR))
    assert "gridward tracks reassign" in note
    for body in (admin, viewer):
        (read,) = _unheld(body)
        assert "请联系管理员补设职责或把轨迹转给当天的责任人" in read and "gridward" not in read
        assert read.endswith(
            "ask an admin to backdate their duty or give the tracks to the day's holder"
        )
    assert not _unheld(p), p["notes"]
    (mine,) = _unheld(x)
    assert "管家X（X）1 条" in mine and "gridward" not in mine


def _steward_unstaffed(rep: Any) -> int:
    areas = rep["areas"]
    rows = areas[(areas["role"] == "alley_steward") & (areas["level"] == "community")]
    return int(rows["unstaffed"].sum())


def test_days_before_the_first_duty_count_no_unstaffed_alleys(town) -> None:  # noqa: ANN001, F811
    """T43 #9: a report of a day before anything was staffed said 无人负责 for every alley.
    Old code: 7 × every alley for a week of April 2025 (the first duty begins 2025-05-01),
    and no note. Now the days before the first duty count none, and a note says why; the
    days since count as before (a week across the start counts its 4 days since)."""
    db = town["db"]
    per_day = _steward_unstaffed(build_report(db, "daily", dt.date(2025, 5, 2), today=FAR))
    assert per_day > 0
    april = build_report(db, "weekly", dt.date(2025, 4, 9), today=FAR)
    assert _steward_unstaffed(april) == 0 and april["areas"].empty
    (note,) = _notes(april, "之前没有任何街巷职责")
    assert note == (
        "2025-05-01 之前没有任何街巷职责或巡查数据：本期 2025-04-07 至 2025-04-13（7 天）"
        "不计无人负责的街巷·天；如这些日子应有职责，请用 gridward assign set --from 补设 "
        "no street or alley duties or patrols before 2025-05-01: 2025-04-07 to 2025-04-13 "
        "(7 day(s)) of this period count no unstaffed street/alley-days; if these days had "
        "duties, backdate them with gridward assign set --from"
    )
    across = build_report(db, "weekly", dt.date(2025, 5, 1), today=FAR)  # Mon 04-28 – Sun 05-04
    assert _steward_unstaffed(across) == 4 * per_day
    (note,) = _notes(across, "之前没有任何街巷职责")
    assert "本期 2025-04-28 至 2025-04-30（3 天）" in note, note
    long_ago = build_report(db, "daily", dt.date(2020, 1, 1), today=FAR)
    assert long_ago["areas"].empty and long_ago["people"].empty
    assert _notes(long_ago, "本期 2020-01-01（1 天）不计无人负责")
    # a report of the days since says nothing of it
    assert not _notes(build_report(db, "weekly", WED, today=FAR), "之前没有任何街巷职责")
    # a walk before the first duty: no "or patrols", and the walk is counted as creditless
    with db.begin() as conn:
        x = town["people"]["X"]
        _visit(conn, _track(conn, x, 9002), town["segs"]["C"][0].id, x, dt.date(2025, 4, 8), 9)
    april = build_report(db, "weekly", dt.date(2025, 4, 9), today=FAR)
    (note,) = _notes(april, "之前没有任何街巷职责")
    assert note.startswith("2025-05-01 之前没有任何街巷职责：本期 2025-04-07"), note
    assert "no street or alley duties before 2025-05-01: " in note
    assert _unheld(april)


def test_no_duty_at_all_counts_todays_unstaffed_alleys_only(db) -> None:  # noqa: ANN001
    """A city with its network and no duty yet: today still shows every alley unstaffed
    (what the staffing office needs), the days before count none and the note says so."""
    from geo.areas_import import import_areas

    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    today = city_today()
    day = build_report(db, "daily", today)
    assert _steward_unstaffed(day) > 0 and not _notes(day, "尚未设置任何街巷职责")
    yesterday = build_report(db, "daily", today - dt.timedelta(days=1))
    assert _steward_unstaffed(yesterday) == 0
    (note,) = _notes(yesterday, "尚未设置任何街巷职责")
    assert note.startswith(f"尚未设置任何街巷职责，{today} 之前也没有巡查数据：本期"), note
    assert (
        f"no street or alley duty has been set yet, and there are no patrols before {today}" in note
    )


def _part_time(db, people: dict, alleys: dict) -> None:  # noqa: ANN001
    """N holds alley E from Thursday on, M alley D until Tuesday."""
    with db.begin() as conn:
        for key, alley, since, until in (("N", "E", THU, None), ("M", "D", MON, TUE)):
            people[key] = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES "
                    "(:e, :n, ARRAY['alley_steward']) RETURNING id"
                ),
                {"e": key, "n": f"管家{key}"},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from, valid_to) "
                    "VALUES (:p, 'alley_steward', :s, :a, :b)"
                ),
                {"p": people[key], "s": alleys[alley], "a": since, "b": until},
            )


def test_people_in_post_part_of_the_period_are_named(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T43 #11: someone in post 10 days of a month ranked beside those in post all month and
    only ``days`` showed it. Old code: no note, no first/last day. Now a note names them with
    their days in post, and the people rows end with first_day and last_day (appended: the
    columns before keep their places). The ranking rule stays."""
    db, people = town["db"], town["people"]
    _part_time(db, people, town["alleys"])
    rep = build_report(db, "weekly", WED, today=FAR)
    (note,) = _notes(rep, "只部分日子在岗")
    assert note == (
        "2 人本期只部分日子在岗，排名只按达标率，与全期在岗者同列："
        "管家M（M）本期在岗 2/7 天（至 06-17）、管家N（N）本期在岗 4/7 天（06-19 起） "
        "2 people held duties on part of this period only and are ranked by their rate alone, "
        "beside those in post throughout: 管家M (M) 2 of 7 days (until 06-17), "
        "管家N (N) 4 of 7 days (from 06-19)"
    )
    cols = list(rep["people"].columns)
    # T52's late_days_max and suspect_tracks, T69's midnight_alley_days appended after them
    assert cols[-5:-3] == ["first_day", "last_day"] and cols[:-5] == [
        "period", "person_id", "person_code", "person_name", "days", "alley_days",
        "patrolled_alley_days", "pending", "compliance", "walked_m", "rank", "role",
        "late_uploads",
    ]  # fmt: skip
    spans = rep["people"].set_index("person_id")[["days", "first_day", "last_day"]]
    assert spans.loc[people["N"]].tolist() == [4, THU, MON + dt.timedelta(days=6)]
    assert spans.loc[people["Q"]].tolist() == [7, MON, MON + dt.timedelta(days=6)]
    assert not _notes(build_report(db, "daily", THU, today=FAR), "只部分日子在岗")
    with TestClient(create_app(db)) as client:
        params = {"date": str(WED)}
        js = client.get("/reports/weekly", params=params, headers=auth_headers()).json()
        csv = client.get(
            "/reports/weekly", params={**params, "format": "csv"}, headers=auth_headers()
        )
        mine = client.get(
            "/reports/weekly",
            params=params,
            headers=auth_headers("steward", person_id=people["N"]),
        ).json()
    n = next(p for p in js["people"] if p["person_id"] == people["N"])
    assert (n["first_day"], n["last_day"]) == ("2025-06-19", "2025-06-22")
    assert js["columns"]["people"][-6:-4] == ["first_day", "last_day"]
    header = csv.content.decode("utf-8-sig").splitlines()[0]
    assert ",迟传轨迹 late_uploads,在岗首日 first_day,在岗末日 last_day," in header, header
    (own,) = _notes(mine, "只部分日子在岗")
    assert own.startswith("1 人本期只部分日子在岗") and "管家M" not in own, own


def test_a_closed_period_says_what_changed_after_it_ended(town, tmp_path) -> None:  # noqa: ANN001, F811
    """T43 #4: a closed month is recomputed from today's data, and a re-import or a backdated
    duty changed it with nothing saying so. Old code: no note. Now a closed period names
    the duties set after it ended that reach back into it, and the network re-imports with
    segments retired, added or restored since; a running period says nothing of it."""
    db = town["db"]
    with db.connect() as conn:
        set_on = conn.execute(
            text("SELECT DISTINCT (created_at AT TIME ZONE 'Asia/Shanghai')::date FROM assignments")
        ).scalar_one()
    rep = build_report(db, "weekly", WED, today=FAR)
    (note,) = _notes(rep, "本期结束后有改动")
    assert note == (
        f"本期结束后有改动，数字可能与当时导出的报表不同：7 条职责于 {set_on} 补设（本期结束"
        f"之后），其开始日在本期或更早，在岗日为 本期每一天 changed since this period ended, so "
        f"figures may differ from a report exported then: 7 duties were set on {set_on}, after "
        "the period ended, yet start in it or earlier (backdated), held on every day of this "
        "period"  # the day set first (T45 #8)
    )
    # the days they hold in the week are named (they said only the day they were set on)
    fri, sun = WED + dt.timedelta(days=2), WED + dt.timedelta(days=4)
    with db.begin() as conn:
        conn.execute(text("UPDATE assignments SET valid_from = :f"), {"f": fri})
    (note,) = _notes(build_report(db, "weekly", WED, today=FAR), "本期结束后有改动")
    assert f"在岗日为 {fri} 至 {sun}" in note and f"held on {fri} to {sun}" in note, note
    with db.begin() as conn:
        conn.execute(text("UPDATE assignments SET valid_from = DATE '2025-05-01'"))
    # running (today inside the week): nothing has ended yet
    assert not _notes(build_report(db, "weekly", WED, today=THU), "本期结束后有改动")
    with db.begin() as conn:  # the duties were set before the week: nothing to say
        conn.execute(text("UPDATE assignments SET created_at = TIMESTAMPTZ '2025-05-01 09:00+08'"))
    assert not _notes(build_report(db, "weekly", WED, today=FAR), "本期结束后有改动")
    # a re-import that retires a way's segments
    with db.connect() as conn:
        way = conn.execute(
            text(
                "SELECT osm_way_id FROM street_segments WHERE street_id = :s "
                "AND osm_way_id IS NOT NULL LIMIT 1"
            ),
            {"s": town["alleys"]["D"]},
        ).scalar_one()
    counts = import_osm(db, _without_way(way, tmp_path / "v2.osm"))
    assert counts["segments_retired"] >= 1
    rep = build_report(db, "weekly", WED, today=FAR)
    (note,) = _notes(rep, "本期结束后有改动")
    today = city_today()
    r, a = counts["segments_retired"], counts["segments_added"]
    assert f"：{today} 重新导入路网（停用 {r} 段、新增 {a} 段、恢复 0 段" in note, note
    assert f"re-imported on {today} ({r} segments retired, {a} added, 0 restored" in note
    # an import that moved a renamed way's segments to a new street (its counts as
    # geo.importer writes them; only what changed is named beyond the three always said)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO imports (kind, filename, sha256, counts) VALUES ('osm', 'v3.osm', "
                "repeat('b', 64), CAST(:c AS jsonb))"
            ),
            {"c": '{"segments_moved": 2, "streets_renamed": 1, "segments_retired": 0}'},
        )
    (note,) = _notes(build_report(db, "weekly", WED, today=FAR), "本期结束后有改动")
    assert "恢复 0 段、2 段改归其他街巷、1 条街巷改名；" in note, note
    assert "0 restored, 2 moved to another street, 1 streets renamed;" in note, note
    # the duties, set before the week now, are not named (nor, in the first note above, the
    # town's first network and areas imports: they changed nothing that was there)
    assert "职责" not in note.split(" changed since")[0].split("：", 1)[1], note


def test_the_notes_are_in_the_xlsx_and_the_cli(town, tmp_path, pg_url) -> None:  # noqa: ANN001, F811
    """The new notes go where the others go: the XLSX 报表 sheet (说明 note rows) and the
    CLI's 说明 note lines."""
    rep = build_report(town["db"], "weekly", WED, today=FAR)
    path = export_report(rep, tmp_path / "w.xlsx", report_period("weekly", WED, FAR), 0.8)
    about = pd.read_excel(path, sheet_name="报表 report")
    said = about.loc[about["项目 item"] == "说明 note", "值 value"].tolist()
    assert any(s.startswith("另有 1 人的 1 条轨迹") for s in said), said
    assert any(s.startswith("本期结束后有改动") for s in said), said
    out = _cli(["report", "weekly", "--date", str(WED)], pg_url)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("说明 note: ")]
    assert any(ln.startswith("说明 note: 另有 1 人的 1 条轨迹") for ln in lines), out.stdout
    assert any(ln.startswith("说明 note: 本期结束后有改动") for ln in lines), out.stdout


def _sent(db: Any, who: int, day: dt.date, hh: int, sent: dt.datetime) -> int:
    """``who``'s walk timed on ``day`` at ``hh`` and sent at ``sent``: its track id."""
    with db.begin() as conn:
        return conn.execute(
            text(
                "UPDATE tracks SET started_at = :a, ended_at = :b, uploaded_at = :u "
                "WHERE person_id = :p RETURNING id"
            ),
            {"a": _at(day, hh), "b": _at(day, hh, 30), "u": sent, "p": who},
        ).scalar_one()


def test_a_stewards_closed_period_note_counts_her_own_walks_and_duties(town, auth_headers) -> None:  # noqa: ANN001, E501, F811
    """A steward's own report kept only the notes about her, but its "changed since this
    period ended" note counted everyone's walks and duties: R read "2 walks uploaded late"
    and "1 withdrawn" when only one late walk was hers and the withdrawn walk was her
    co-steward T's. Old code: R's note is the admin's. Now R's note counts her own late walk
    only, T's his withdrawal, S his ended duty; the admin's counts them all."""
    from geo.duties import end_duty
    from geo.track_withdraw import withdraw_track

    db, people = town["db"], town["people"]
    with db.begin() as conn:  # the duties were set before the week: no backdating to say
        conn.execute(text("UPDATE assignments SET created_at = TIMESTAMPTZ '2025-05-01 09:00+08'"))
    late_q, late_r = WED + dt.timedelta(days=7), WED + dt.timedelta(days=8)
    _sent(db, people["Q"], WED, 7, _at(late_q, 10))  # Q's walk of A, sent a week later
    _sent(db, people["R"], WED, 8, _at(late_r, 10))  # R's half of B, sent later still
    t_track = _sent(db, people["T"], WED, 9, _at(WED, 10))  # T's half of B, sent in time
    withdraw_track(db, t_track, reason="wrong file", actor="cli")
    end_duty(db, people["S"], town["alleys"]["D"], "alley_steward", TUE, actor="cli")
    changed = "本期结束后有改动"
    with TestClient(create_app(db)) as client:

        def note(headers: dict[str, str]) -> str:
            got = client.get("/reports/weekly", params={"date": str(WED)}, headers=headers)
            assert got.status_code == 200, got.text
            (said,) = _notes(got.json(), changed)
            return said

        every = note(auth_headers())
        mine = {k: note(auth_headers("steward", person_id=people[k])) for k in ("R", "T", "S")}
    head = every.split(" changed since")[0]
    assert f"2 条本期的轨迹于 {late_q}、{late_r} 才上传" in head, every
    assert "撤回 1" in head and "1 条职责于" in head, every
    assert "2 walks of this period were uploaded late" in every, every
    r = mine["R"]
    assert f"1 条本期的轨迹于 {late_r} 才上传" in r and str(late_q) not in r, r
    assert f"1 walk of this period was uploaded late on {late_r}" in r, r
    assert "撤回" not in r and "withdrawn" not in r and "职责" not in r, r
    t = mine["T"]
    assert "撤回 1" in t and "1 withdrawn" in t and "才上传" not in t and "职责" not in t, t
    s = mine["S"]
    assert "1 条职责于" in s and "1 duty was ended" in s, s
    assert "才上传" not in s and "撤回" not in s, s
    # a steward with none of it: no note (the re-imports, none here, would stay)
    with TestClient(create_app(db)) as client:
        got = client.get(
            "/reports/weekly",
            params={"date": str(WED)},
            headers=auth_headers("steward", person_id=people["S2"]),
        ).json()
    assert not _notes(got, changed), got["notes"]
