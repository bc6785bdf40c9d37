"""Flags on doubtful walks in the reports and on the patrol map (outside tester T52: eight
kinds of cheat credited in full with nothing marking them, #12; who uploaded hidden, #13; a
late upload a bare count, #18), and a district imported on the setup day (T51 #7).

The town of :mod:`tests.test_patrol_reports_more_db` (alleys A–E of one community, duties
from 2025-05-01, walks in the week of 2025-06-16: Q walks A on Wednesday and Thursday, R and
T half of B each on Wednesday, X (no duty) walks P's alley C). Flags are written into
``tracks.flags`` as the match stores them (a list of {code, message, other_track}).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.patrol_reports import build_report
from geo.report_export import export_report
from geo.report_period import report_period
from geo.track_partitions import ensure_day_partitions
from maps.page import js_data
from tests.test_patrol_reports_more_db import FAR, THU, WED, _at, town  # noqa: F401

REPLAY = "与轨迹 9（管家S S）路线与节奏相同，晚 7 天 replays track 9 (管家S S) 7 days later"
STILL = "8 小时内未离开 30 米范围 stayed within 30 m for 8 h"
CENTRE = "定位点全部落在街巷中线上 fixes all on the alley centreline"


def _track(db, person: int) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p"), {"p": person}
        ).scalar_one()


def _flag(db, track: int, *flags: tuple[str, str, int | None]) -> None:  # noqa: ANN001
    body = [{"code": c, "message": m, "other_track": o} for c, m, o in flags]
    with db.begin() as conn:
        conn.execute(
            text("UPDATE tracks SET flags = CAST(:f AS jsonb) WHERE id = :t"),
            {"f": json.dumps(body, ensure_ascii=False), "t": track},
        )


def _col(rep: Any, table: str, col: str, key: str = "person_id") -> dict:
    df = rep[table]
    return dict(zip(df[key], df[col], strict=True))


def _notes(rep: Any, part: str) -> list[str]:
    return [n for n in rep.meta["notes"] if part in n]


def _flagged_town(town: dict) -> dict[str, int]:  # noqa: F811
    """Q's track flagged as a replay (and a second flag), T's as a phone left still, X's
    (who holds no duty) as generated: the tracks by person key."""
    db, people = town["db"], town["people"]
    ids = {k: _track(db, people[k]) for k in ("Q", "R", "T", "X")}
    _flag(db, ids["Q"], ("replay", REPLAY, 9), ("stationary", STILL, None))
    _flag(db, ids["T"], ("stationary", STILL, None))
    _flag(db, ids["X"], ("on_centreline", CENTRE, None))
    return ids


def _note(q: int, t: int) -> str:
    return (
        f"可疑轨迹 2 条（均已计入；标记不改变记分，请评估人员核实）：轨迹 {q}（管家Q Q，06-18）："
        f"{REPLAY}（另有 1 项 1 more）；轨迹 {t}（管家T T，06-18）：{STILL}；核实后如属作弊，"
        "可用 gridward tracks delete ID 撤回其记分（API：DELETE /tracks/ID） 2 suspect tracks, "
        "all credited (a flag changes no credit: an evaluator judges it): track(s) "
        f"{q}, {t}, each with its reason as given above; once checked, withdraw a cheat's "
        "credit with gridward tracks delete ID (API: DELETE /tracks/ID)"
    )


def test_flagged_tracks_are_counted_in_the_rows_they_credited(town) -> None:  # noqa: ANN001, F811
    """T52 #12: the rows a flagged walk credited count it (people and alley rows, daily and
    over the week, each track once), one note names them with whose walk and the first flag,
    and the credit is what it was. X's flagged walk credits no row (X holds no duty): not
    counted, not named."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    before = build_report(db, "daily", WED, today=FAR)
    ids = _flagged_town(town)
    wed = build_report(db, "daily", WED, today=FAR)
    assert _col(wed, "people", "suspect_tracks") == {
        people["P"]: 0,  # holds A with Q: Q's walk credits Q's row, not P's
        people["Q"]: 1,
        people["R"]: 0,
        people["T"]: 1,
        people["S"]: 0,
        people["S2"]: 0,
    }
    assert _col(wed, "alleys", "suspect_tracks", "alley_id") == {
        alleys["A"]: 1,  # Q's
        alleys["B"]: 1,  # T's half (R's is not flagged)
        alleys["C"]: 0,  # walked by X, who does not hold it
        alleys["D"]: 0,
        alleys["E"]: 0,
    }
    (note,) = _notes(wed, "可疑轨迹")
    assert note == _note(ids["Q"], ids["T"]), note
    # the credit is unchanged: only the new column differs
    for name in ("people", "alleys"):
        pd.testing.assert_frame_equal(
            wed[name].drop(columns="suspect_tracks"), before[name].drop(columns="suspect_tracks")
        )
    # Q's one track walked Wednesday and Thursday: once in the week's row
    week = build_report(db, "weekly", WED, today=FAR)
    assert _col(week, "people", "suspect_tracks")[people["Q"]] == 1
    assert _col(week, "people", "suspect_tracks")[people["T"]] == 1
    thu = build_report(db, "daily", THU, today=FAR)
    assert _col(thu, "people", "suspect_tracks") == {
        people[k]: int(k == "Q") for k in ("P", "Q", "R", "T", "S", "S2")
    }
    # withdrawn (its visits deleted): counted nowhere, named nowhere
    from geo.track_withdraw import withdraw_track

    withdraw_track(db, ids["T"], "测试 test", "cli")
    wed = build_report(db, "daily", WED, today=FAR)
    assert _col(wed, "people", "suspect_tracks")[people["T"]] == 0
    (note,) = _notes(wed, "可疑轨迹")
    assert note.startswith(
        f"可疑轨迹 1 条（均已计入；标记不改变记分，请评估人员核实）：轨迹 {ids['Q']}"
    )
    assert f"轨迹 {ids['T']}（" not in note


def test_the_note_names_five_and_counts_the_rest(town) -> None:  # noqa: ANN001, F811
    """Six flagged tracks on Wednesday: five named, the sixth counted."""
    db, people = town["db"], town["people"]
    with db.begin() as conn:
        seg = conn.execute(
            text("SELECT id FROM street_segments WHERE street_id = :s ORDER BY id LIMIT 1"),
            {"s": town["alleys"]["A"]},
        ).scalar_one()
        for i in range(6):
            tid = conn.execute(
                text(
                    "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, "
                    "person_id, status, flags) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, "
                    "'matched', CAST(:f AS jsonb)) RETURNING id"
                ),
                {
                    "h": f"f{i:063x}",
                    "p": people["Q"],
                    "f": json.dumps([{"code": "white_noise", "message": f"噪声{i} noise {i}"}]),
                },
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                    "covered_fraction, first_time, last_time, intervals) VALUES "
                    "(:t, :s, :p, :d, 0.1, :a, :a, '[[0, 0.1]]')"
                ),
                {"t": tid, "s": seg, "p": people["Q"], "d": WED, "a": _at(WED, 9 + i)},
            )
    (note,) = _notes(build_report(db, "daily", WED, today=FAR), "可疑轨迹")
    assert note.startswith("可疑轨迹 6 条") and note.count("轨迹 ") == 6, note
    listed = f"GET /tracks?flagged=true&since={WED}&until={WED}"  # where the sixth is (N8)
    assert f"噪声4 noise 4；等共 6 条，全部见 {listed}；核实后" in note and "噪声5" not in note
    assert f", and 1 more (all are listed by {listed}), each with its reason" in note


def test_late_days_max_says_how_late(town) -> None:  # noqa: ANN001, F811
    """T52 #18: a walk sent three weeks late counted 1 late upload, as one sent 25 hours
    late. Now ``late_days_max`` says the longest delay in whole days; blank without one."""
    db, people = town["db"], town["people"]
    with db.begin() as conn:
        for key, end, hours in (("Q", _at(THU, 7, 40), 21 * 24 + 2), ("R", _at(WED, 8, 20), 25)):
            conn.execute(
                text(
                    "UPDATE tracks SET started_at = :e - interval '1 hour', ended_at = :e, "
                    "uploaded_at = :e + make_interval(hours => :h) WHERE person_id = :p"
                ),
                {"e": end, "h": hours, "p": people[key]},
            )
    wed = build_report(db, "daily", WED, today=FAR)
    late = {k: v for k, v in _col(wed, "people", "late_days_max").items() if not pd.isna(v)}
    assert late == {people["Q"]: 21, people["R"]: 1}
    assert pd.isna(_col(wed, "people", "late_days_max")[people["T"]])
    week = build_report(db, "weekly", WED, today=FAR)
    assert _col(week, "people", "late_days_max")[people["Q"]] == 21
    assert _col(week, "people", "late_uploads")[people["Q"]] == 1


def test_files_and_views(town, auth_headers, tmp_path: Path) -> None:  # noqa: ANN001, F811
    """The CSV and XLSX headers (Chinese first, appended), the JSON for an admin and a
    viewer (the remedy as a viewer can ask for it), and a steward's own view: no
    suspect_tracks column and no note, though her walk is flagged."""
    db, people = town["db"], town["people"]
    ids = _flagged_town(town)
    rep = build_report(db, "daily", WED, today=FAR)
    csv = export_report(rep, tmp_path / "p.csv").read_bytes().decode("utf-8-sig")
    assert csv.splitlines()[0].endswith(
        ",迟传轨迹 late_uploads,迟传最长天数 late_days_max,可疑轨迹 suspect_tracks"
        ",跨零点已巡街巷·天 midnight_alley_days"  # T69 #5: appended after them
    )
    period = report_period("daily", WED, FAR)
    sheets = pd.read_excel(export_report(rep, tmp_path / "r.xlsx", period), sheet_name=None)
    assert list(sheets["人员 people"].columns[-4:]) == [
        "迟传轨迹 late_uploads",
        "迟传最长天数 late_days_max",
        "可疑轨迹 suspect_tracks",
        "跨零点已巡街巷·天 midnight_alley_days",
    ]
    assert sheets["街巷 alleys"].columns[-1] == "可疑轨迹 suspect_tracks"
    about = sheets["报表 report"]
    assert _note(ids["Q"], ids["T"]) in set(about["值 value"])
    week = build_report(db, "weekly", WED, today=FAR)
    header = export_report(week, tmp_path / "w.csv").read_bytes().decode("utf-8-sig")
    assert header.splitlines()[0].endswith(
        ",在岗首日 first_day,在岗末日 last_day,迟传最长天数 late_days_max,可疑轨迹 suspect_tracks"
        ",跨零点已巡街巷·天 midnight_alley_days"
    )
    q = people["Q"]
    with TestClient(create_app(db)) as client:
        params = {"date": str(WED)}
        admin = client.get("/reports/daily", params=params, headers=auth_headers("admin")).json()
        viewer = client.get("/reports/daily", params=params, headers=auth_headers("viewer")).json()
        mine = auth_headers("steward", person_id=q)
        own = client.get("/reports/daily", params=params, headers=mine).json()
        own_csv = client.get("/reports/daily", params={**params, "format": "csv"}, headers=mine)
        own_alleys = client.get(
            "/reports/daily", params={**params, "format": "csv", "table": "alleys"}, headers=mine
        )
    assert {p["person_id"]: p["suspect_tracks"] for p in admin["people"]}[q] == 1
    assert admin["columns"]["people"][-4:] == [
        "late_days_max", "suspect_tracks", "midnight_alley_days", "role_label",
    ]  # fmt: skip
    assert _note(ids["Q"], ids["T"]) in admin["notes"]
    (seen,) = [n for n in viewer["notes"] if "可疑轨迹" in n]
    assert "gridward tracks delete" not in seen and "请联系管理员撤回其记分" in seen
    assert seen.endswith("once checked, ask an admin to withdraw a cheat's credit")
    # the steward: her own row, without the column or the note
    assert [p["person_id"] for p in own["people"]] == [q]
    for table in ("people", "alleys", "areas"):
        assert "suspect_tracks" not in own["columns"][table]
        assert all("suspect_tracks" not in row for row in own[table])
    assert "late_days_max" in own["columns"]["people"]  # her own late uploads: hers to see
    assert not [n for n in own["notes"] if "可疑" in n or "suspect" in n]
    for got in (own_csv, own_alleys):
        assert got.status_code == 200
        assert "可疑轨迹" not in got.content.decode("utf-8-sig")


def _fixes(db, track: int, alley: int, start: dt.datetime) -> None:  # noqa: ANN001
    """Fixes along ``alley``'s segments from ``start``, 10 s apart (as the map tests' demo
    patrol), and the track's span."""
    with db.begin() as conn:
        ensure_day_partitions(conn, [start.astimezone(dt.UTC).date()])
        conn.execute(
            text(
                "INSERT INTO track_points (track_id, seq, t, geom) "
                "SELECT :t, row_number() OVER (ORDER BY s.id, d.path) - 1, "
                " CAST(:t0 AS timestamptz) + (row_number() OVER (ORDER BY s.id, d.path)) "
                " * interval '10 seconds', d.geom "
                "FROM street_segments s, ST_DumpPoints(s.geom) d WHERE s.street_id = :a"
            ),
            {"t": track, "t0": start, "a": alley},
        )
        conn.execute(
            text(
                "UPDATE tracks SET (n_points, started_at, ended_at) = (SELECT count(*), "
                "min(t), max(t) FROM track_points WHERE track_id = :t) WHERE id = :t"
            ),
            {"t": track},
        )


def _flag_lines(page: str) -> dict[int, str]:
    """The visible flag lines under the track list, by track (text, unescaped)."""
    import html

    return {
        int(m.group(1)): html.unescape(m.group(2))
        for m in re.finditer(r'<p class="gw-note gw-flags" data-track="(\d+)">(.*?)</p>', page)
    }


def _many_flagged() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seven flagged tracks of one steward's rows (suspect_note's input): 1–5 generated-
    looking on 11-23, 6 a replay on 11-24, 7 walked alongside another on 11-25 (its
    white_noise flag stored first, as the match stores its own flags before the copies)."""
    days = {1: 23, 2: 23, 3: 23, 4: 23, 5: 23, 6: 24, 7: 25}
    hits = pd.DataFrame(
        [(0, dt.date(2026, 11, d), 5, "alley_steward", 1, t) for t, d in days.items()],
        columns=["row", "day", "alley_id", "role", "person_id", "track_id"],
    )
    noise = {"code": "white_noise", "message": "偏差逐点独立 noise", "other_track": None}
    flags = {t: [noise] for t in range(1, 6)}
    flags[6] = [{"code": "replay", "message": REPLAY, "other_track": 9}]
    flags[7] = [
        noise,
        {"code": "alongside", "message": "与轨迹 8 同行 alongside 8", "other_track": 8},
    ]
    tracks = pd.DataFrame(
        [(t, flags[t], "管家甲", "D1") for t in range(1, 8)],
        columns=["track_id", "flags", "walker_name", "walker_code"],
    )
    return hits, tracks


def test_the_note_names_copies_first_and_says_where_the_rest_are() -> None:
    """T53 N6: the note named the first five tracks by day, all the demo's generated-looking
    walks, and not the copies; now copies (replay, alongside) come first, each with its copy
    flag's message. T53 N8: "and 2 more" said nowhere where they are; now the API for an
    admin or planner, the patrol map for a viewer, over the days the tracks were walked."""
    from geo.suspect_tracks import suspect_note

    hits, tracks = _many_flagged()
    readers: dict[str, str] = {}
    (note,) = suspect_note(hits, tracks, readers)
    named = (
        f"可疑轨迹 7 条（均已计入；标记不改变记分，请评估人员核实）：轨迹 6（管家甲 D1，11-24）："
        f"{REPLAY}；轨迹 7（管家甲 D1，11-25）：与轨迹 8 同行 alongside 8（另有 1 项 1 more）；"
        "轨迹 1（管家甲 D1，11-23）：偏差逐点独立 noise；轨迹 2（管家甲 D1，11-23）：偏差逐点独立 "
        "noise；轨迹 3（管家甲 D1，11-23）：偏差逐点独立 noise；等共 7 条，全部见 "
    )
    listed = "GET /tracks?flagged=true&since=2026-11-23&until=2026-11-25"
    en = (
        "7 suspect tracks, all credited (a flag changes no credit: an evaluator judges it): "
        "track(s) 6, 7, 1, 2, 3, and 2 more ("
    )
    assert note == (
        f"{named}{listed}；核实后如属作弊，可用 gridward tracks delete ID 撤回其记分（API：DELETE "
        f"/tracks/ID） {en}all are listed by {listed}), each with its reason as given above; "
        "once checked, withdraw a cheat's credit with gridward tracks delete ID (API: DELETE "
        "/tracks/ID)"
    ), note
    assert readers[note] == (
        f"{named}巡查图 /maps/patrols（2026-11-23 至 2026-11-25 逐日查看，标 ⚠ 的轨迹）；"
        f"核实后如属作弊，请联系管理员撤回其记分 {en}all are marked ⚠ on the patrol map "
        "/maps/patrols, day by day from 2026-11-23 to 2026-11-25), each with its reason as "
        "given above; once checked, ask an admin to withdraw a cheat's credit"
    ), readers[note]
    # one day: the map's page of that day
    (note,) = suspect_note(hits.assign(day=dt.date(2026, 11, 23)), tracks, readers)
    assert (
        "；等共 7 条，全部见 GET /tracks?flagged=true&since=2026-11-23&until=2026-11-23；" in note
    )
    assert (
        "；等共 7 条，全部见 巡查图 /maps/patrols?date=2026-11-23（标 ⚠ 的轨迹）；" in readers[note]
    )
    assert (
        "and 2 more (all are marked ⚠ on the patrol map /maps/patrols?date=2026-11-23)"
        in (readers[note])
    )
    # five or fewer: all named, nothing to point to
    (note,) = suspect_note(hits[hits["track_id"] <= 5], tracks, readers)
    assert "全部见" not in note and "more" not in note and "/maps/patrols" not in readers[note]


def _options(page: str) -> dict[int, str]:
    import html

    box = re.search(r'<select id="gw-track">(.*?)</select>', page, re.S)
    assert box, page[:500]
    return {
        int(m.group(1)): html.unescape(m.group(2))
        for m in re.finditer(r'<option value="(\d+)">(.*?)</option>', box.group(1))
    }


def test_the_patrol_map_marks_flagged_tracks_and_who_uploaded(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T52 #12, #13: the track list marks a flagged walk with ⚠ and shows its flags' messages
    as text (escaped: a message with markup or template syntax is shown as it is), all their
    Chinese first, then all their English (T53 N10: "zh en；zh en"), and names the uploader
    when another account sent the walk (with the account's person when it has one; the demo
    city's walks as 演示数据 demo); an evaluator (admin, viewer) sees the flags, the
    steward's own page does not (the page's data holds none)."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    q, r, t = people["Q"], people["R"], people["T"]
    tq, tr, tt, tx = _track(db, q), _track(db, r), _track(db, t), _track(db, people["X"])
    _fixes(db, tq, alleys["A"], _at(WED, 7))
    _fixes(db, tr, alleys["B"], _at(WED, 8))
    _fixes(db, tt, alleys["B"], _at(WED, 9))
    _fixes(db, tx, alleys["C"], _at(WED, 10))
    evil = "{{ 'gw' ~ 'flag' }}<b>重放</b> replay"
    _flag(db, tq, ("replay", REPLAY, 9), ("white_noise", evil, None))
    mine = auth_headers("steward", person_id=q)
    auth_headers("admin", person_id=people["P"])  # an office account of P's
    with db.begin() as conn:
        own_name = conn.execute(
            text("SELECT username FROM users WHERE person_id = :p"), {"p": q}
        ).scalar_one()
        p_login = conn.execute(
            text("SELECT username FROM users WHERE person_id = :p"), {"p": people["P"]}
        ).scalar_one()
        # R's walk sent by an office account (linked to nobody), T's by P's account, X's by
        # the demo; Q's by her own account
        for by, track in (("office7", tr), (p_login, tt), ("demo", tx), (own_name, tq)):
            conn.execute(
                text("UPDATE tracks SET uploaded_by = :u WHERE id = :t"), {"u": by, "t": track}
            )
    with TestClient(create_app(db)) as client:
        url = f"/maps/patrols?date={WED}"
        admin = client.get(url, headers=auth_headers("admin"))
        viewer = client.get(url, headers=auth_headers("viewer"))
        own = client.get(url, headers=mine)
    for got in (admin, viewer, own):
        assert got.status_code == 200, got.text[:300]
    for page in (admin.text, viewer.text):
        options = _options(page)
        assert options[tq] == f"⚠ 轨迹 track {tq} · 管家Q"
        assert options[tr] == f"轨迹 track {tr} · 管家R · 上传人 uploaded by office7"
        assert options[tt] == f"轨迹 track {tt} · 管家T · 上传人 uploaded by 管家P（{p_login}）"
        assert options[tx] == f"轨迹 track {tx} · 管家X · 上传人 uploaded by 演示数据 demo"
        zh, en = REPLAY.split(" replays ")
        evil_zh = "{{ 'gw' ~ 'flag' }}<b>重放</b>"
        assert _flag_lines(page) == {
            tq: f"⚠ 轨迹 {tq}（管家Q）：{zh}；{evil_zh}（仍计入巡查，请核实；确属作弊可撤回） "
            f"track {tq}: doubtful, still credited; check it, and withdraw a cheat: "
            f"replays {en}; replay"
        }
        # the line's tooltip: the same two halves (patrol_map.js)
        said = js_data({"flags_said": [f"{zh}；{evil_zh}", f"replays {en}; replay"]})
        assert said[1:-1] in page
        assert "<b>重放</b>" not in page and "gwflag" not in page
    # the steward's own page: her track, no ⚠, no message, nothing in the page's data
    page = own.text
    assert _options(page) == {tq: f"轨迹 track {tq} · 管家Q"}
    assert _flag_lines(page) == {}
    assert "⚠" not in page and "路线与节奏相同" not in page and '"flags"' not in page


def _osm(path: Path) -> Path:
    """A small extract east of the demo network (two alleys, one street): another district
    imported as a second network."""
    ways = {
        "新一巷": ((116.337, 39.998), (116.343, 39.998), "footway"),
        "新二巷": ((116.337, 40.000), (116.343, 40.000), "footway"),
        "新大街": ((116.337, 40.002), (116.343, 40.002), "secondary"),
    }
    nodes, lines, nid = [], [], 9400000
    for wid, (name, (a, b, hw)) in enumerate(ways.items(), start=9400000):
        refs = []
        for lon, lat in (a, b):
            nid += 1
            nodes.append(f' <node id="{nid}" lat="{lat}" lon="{lon}"/>')
            refs.append(f'<nd ref="{nid}"/>')
        lines.append(
            f' <way id="{wid}">{"".join(refs)}<tag k="highway" v="{hw}"/>'
            f'<tag k="name" v="{name}"/></way>'
        )
    body = "\n".join([*nodes, *lines])
    path.write_text(
        f"<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n{body}\n</osm>\n", "utf-8"
    )
    return path


def test_a_district_imported_on_the_setup_day_counts_no_days_before(db, tmp_path) -> None:  # noqa: ANN001
    """T51 #7: the demo network and a second district's extract both imported today (the
    setup day), duties from a week ago; the report of yesterday gained the new streets as
    unstaffed (the rule keyed on "a later local day than the first network's"). Now a street
    a later import run brought counts no unstaffed day before it came, whatever the day:
    yesterday's tables are as before the second import, and one note says why (the
    closed-period note does not call it a re-import whose days count as stored)."""
    from geo.areas_import import import_areas
    from geo.importer import import_osm
    from geo.settings import city_today
    from tests.conftest import FIXTURES

    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    today = city_today()
    yesterday, since = today - dt.timedelta(days=1), today - dt.timedelta(days=7)
    with db.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) VALUES "
                "('D1', '管家甲', ARRAY['alley_steward']) RETURNING id"
            )
        ).scalar_one()
        alley = conn.execute(
            text("SELECT id FROM streets WHERE kind = 'alley' ORDER BY id LIMIT 1")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d)"
            ),
            {"p": pid, "s": alley, "d": since},
        )
    before = build_report(db, "daily", yesterday, today=today)
    import_osm(db, _osm(tmp_path / "district2.osm"))
    after = build_report(db, "daily", yesterday, today=today)
    for name in ("people", "alleys", "areas"):
        pd.testing.assert_frame_equal(
            after[name].reset_index(drop=True), before[name].reset_index(drop=True), obj=name
        )
    added = [n for n in after.meta["notes"] if n not in before.meta["notes"]]
    # that note only: not "the network was re-imported … each day still counts the segments
    # it had" (a new area's extract changed nothing of the day)
    assert added == [
        f"3 条街巷由后来的路网导入于 {today} 才加入 gridward：加入之前的日子不计其"
        "无人负责（本期共 3 个街巷·天）；如这些日子已有人负责，请用 gridward "
        "assign set --from 补设职责 3 street(s)/alley(s) came into gridward with a later "
        f"network import only on {today}: the days before count no unstaffed days "
        "for them (3 street/alley-day(s) of this period); if someone held them "
        "then, backdate the duty with gridward assign set --from"
    ], added
    # today (the day it came) counts them
    now = build_report(db, "daily", today, today=today)
    outside = now["areas"][now["areas"]["community_code"].isna()]
    assert outside["unstaffed"].sum() >= 3
    assert not [n for n in now.meta["notes"] if "才加入 gridward" in n]
    # the first network's streets count from the first duty as before (not "later")
    with db.connect() as conn:
        first = conn.execute(
            text("SELECT min(created_at) FROM imports WHERE kind = 'osm'")
        ).scalar_one()
        n_first = conn.execute(
            text("SELECT count(*) FROM streets WHERE created_at = :t"), {"t": first}
        ).scalar_one()
    assert n_first > 3


def test_a_walk_over_midnight_alone_is_not_a_suspect(town) -> None:  # noqa: ANN001, F811
    """T53 N7: an honest night patrol flagged only ``spans_midnight`` (跨零点) was counted in
    可疑轨迹 on both days. It is not a suspect: not counted, not named (its flag stays on the
    track and the map)."""
    db, people = town["db"], town["people"]
    q = _track(db, people["Q"])
    _flag(db, q, ("spans_midnight", "轨迹跨零点 spans midnight", None))
    wed = build_report(db, "daily", WED, today=FAR)
    assert _col(wed, "people", "suspect_tracks")[people["Q"]] == 0
    assert not _notes(wed, "可疑轨迹")
    _flag(db, q, ("spans_midnight", "轨迹跨零点 spans midnight", None), ("replay", REPLAY, 9))
    wed = build_report(db, "daily", WED, today=FAR)
    assert _col(wed, "people", "suspect_tracks")[people["Q"]] == 1
