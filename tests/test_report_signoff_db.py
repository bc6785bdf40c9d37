"""A weekly checker signs a closed week's report (outside tester T55, 街道 周查): what changed
it after it ended must be said (#2), and the file must say which data it was made from (#3).

The town of :mod:`tests.test_patrol_reports_more_db` (week of 2025-06-16, duties from
2025-05-01, set before the week here so no backdating note is said), reports asked with
``today`` far after the week.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import text

from geo.duties import end_duty, person_leaves
from geo.patrol_reports import build_report, report_summary
from geo.report_export import export_report
from geo.report_period import report_period
from geo.track_withdraw import withdraw_track
from tests.test_patrol_reports_more_db import FAR, WED, _at, _cli, town  # noqa: F401

SUN = WED + dt.timedelta(days=4)
NEXT_WED = WED + dt.timedelta(days=7)
CHANGED = "本期结束后有改动"


def _changed(db: Any) -> str | None:
    notes = [n for n in build_report(db, "weekly", WED, today=FAR).meta["notes"] if CHANGED in n]
    assert len(notes) <= 1, notes
    return notes[0] if notes else None


def _before_the_week(db: Any) -> None:
    with db.begin() as conn:  # the duties were set before the week: nothing to say of them
        conn.execute(text("UPDATE assignments SET created_at = TIMESTAMPTZ '2025-05-01 09:00+08'"))


def _walk_times(db: Any, who: int, start: dt.datetime, end: dt.datetime, sent: dt.datetime):
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE tracks SET started_at = :a, ended_at = :b, uploaded_at = :u "
                "WHERE person_id = :p"
            ),
            {"a": start, "b": end, "u": sent, "p": who},
        )


def test_a_closed_week_names_late_uploads_withdrawals_and_ended_duties(town) -> None:  # noqa: ANN001, F811
    """T55 #2: after the week closed, a late upload, a withdrawal, an ended duty and a leave
    changed its figures and ranks, while the note said only what it said before. Old code:
    no note at all for any of them (the duties set before the week). Now each is named with
    its day; a walk sent the next morning (within GRIDWARD_LATE_UPLOAD_H) is not."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    _before_the_week(db)
    assert _changed(db) is None
    # R's walk of Sunday 22:00 sent Monday 01:00: after the close, yet not late (3 h)
    _walk_times(db, people["R"], _at(SUN, 22), _at(SUN, 23), _at(SUN + dt.timedelta(days=1), 1))
    assert _changed(db) is None
    # Q's Wednesday walk sent a week later: late, after the close
    _walk_times(db, people["Q"], _at(WED, 7), _at(WED, 7, 40), _at(NEXT_WED, 10))
    note = _changed(db)
    assert note is not None
    assert f"1 条本期的轨迹于 {NEXT_WED} 才上传（迟传，本期结束之后）" in note, note
    assert f"1 walk of this period was uploaded late on {NEXT_WED}, after the period ended" in note
    # and the day of the week it was walked on (the note named only the day it was sent)
    assert f"（迟传，本期结束之后），巡查日为 {WED}" in note, note
    assert f"after the period ended, walked on {WED}" in note, note
    # T's walk withdrawn (today: after the close)
    with db.connect() as conn:
        t_track = conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p"), {"p": people["T"]}
        ).scalar_one()
    withdraw_track(db, t_track, reason="wrong file", actor="cli")
    _walk_times(db, people["T"], _at(WED, 9), _at(WED, 9, 30), _at(WED, 10))  # sent in time
    note = _changed(db)
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    # the walk named by its track id, to be opened (its history says who and why: T69 #4)
    assert f"本期的轨迹于 {today} 有 1 次改动（撤回 1；轨迹 id:{t_track}）" in note, note
    assert (
        f"1 change to walks of this period on {today} (1 withdrawn; track id:{t_track}), "
        f"walks of {WED}" in note
    ), note
    assert "职责" not in note.split(" changed since")[0], note
    # S's duty on D ended on Tuesday of the week; S2 leaves with Wednesday their last day
    end_duty(db, people["S"], alleys["D"], "alley_steward", dt.date(2025, 6, 17), actor="cli")
    person_leaves(db, people["S2"], actor="cli", last_day=WED)
    note = _changed(db)
    assert f"2 条职责于 {today} 被结束、撤销或因离岗而结束，本期内的在岗日子随之改变" in note
    assert "2 duties were ended, undone or closed by a leave on" in note, note
    # the days they no longer hold: S's from Wednesday (ended Tuesday), S2's from Thursday
    # (a leave keeps each duty to its last day, Wednesday)
    assert f"本期内的在岗日子随之改变：{WED} 至 {SUN}" in note, note
    assert f"changing who held them on days of this period: {WED} to {SUN}" in note, note


def test_changes_outside_the_week_or_its_area_are_not_named(town) -> None:  # noqa: ANN001, F811
    """A duty ended after the week with a last day after it, and a walk of another week sent
    late, change nothing of the week: not named."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    _before_the_week(db)
    end_duty(db, people["S"], alleys["D"], "alley_steward", NEXT_WED, actor="cli")
    later = NEXT_WED + dt.timedelta(days=1)
    _walk_times(
        db, people["Q"], _at(NEXT_WED, 7), _at(NEXT_WED, 8), _at(later + dt.timedelta(days=7), 9)
    )
    assert _changed(db) is None


def test_the_report_says_which_data_it_was_made_from(town, tmp_path, pg_url) -> None:  # noqa: ANN001, F811
    """T55 #3: nothing in the files said when they were made or from which data. Now the
    summary (API JSON), the XLSX 报表 sheet and the CLI give the newest change of the data
    (the same when made again unchanged), the XLSX also when it was made; the credited
    people of an alley row carry their registry ids (#9)."""
    db = town["db"]
    with db.begin() as conn:
        # the town's imports, as if made before; then a duty set and a later sign-in
        conn.execute(text("UPDATE audit_log SET at = TIMESTAMPTZ '2025-05-01 08:00+08'"))
        conn.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES "
                "(TIMESTAMPTZ '2025-06-20 09:15:00+08', 'cli:root', 'assignments.set', '{}'), "
                "(TIMESTAMPTZ '2025-06-21 10:00:00+08', 'ana', 'signin.success', '{}')"
            )
        )
    period = report_period("weekly", WED, FAR)
    rep = build_report(db, "weekly", WED, today=FAR)
    summary = report_summary(rep, period)
    assert summary["data_as_of"] == "2025-06-20T09:15:00+08:00", summary  # a sign-in is none
    again = report_summary(build_report(db, "weekly", WED, today=FAR), period)
    assert again["data_as_of"] == summary["data_as_of"]
    path = export_report(rep, tmp_path / "w.xlsx", period, 0.8)
    about = pd.read_excel(path, sheet_name="报表 report").set_index("项目 item")["值 value"]
    # 北京时间 in the Chinese, the IANA id in the English (T71 #21)
    assert about["数据更新于 data as of"] == "2025-06-20 09:15:00（北京时间 Asia/Shanghai）"
    assert about["生成时间 made at"].endswith("（北京时间 Asia/Shanghai）")
    alleys = pd.read_excel(path, sheet_name="街巷 alleys")
    credited = alleys["计入 credited"].dropna().tolist()
    assert "管家Q（Q）" in credited, credited
    out = _cli(["report", "weekly", "--date", str(WED)], pg_url)
    assert out.returncode == 0, out.stderr
    assert "数据更新于 data as of: 2025-06-20 09:15:00（北京时间 Asia/Shanghai）" in out.stdout, (
        out.stdout
    )


def _later(db: Any, alleys: list[int]) -> Any:
    from geo.closed_changes import later_changes

    closed = _at(SUN + dt.timedelta(days=1), 0)
    with db.connect() as conn:
        people = [r[0] for r in conn.execute(text("SELECT DISTINCT person_id FROM assignments"))]
        return later_changes(conn, WED - dt.timedelta(days=2), SUN, closed, people, alleys)


def test_a_walk_is_named_only_in_the_reports_of_the_streets_it_credited(town) -> None:  # noqa: ANN001, F811
    """T56 #1: a steward holding alleys in two areas had a withdrawal of her walk in one
    named in the other's note (matched by person). Now by the streets the walk credited
    (kept in the withdrawal's audit entry): T's walk of alley B is named for B, not for D."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    _before_the_week(db)
    _walk_times(db, people["T"], _at(WED, 9), _at(WED, 9, 30), _at(WED, 10))
    with db.connect() as conn:
        t_track = conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p"), {"p": people["T"]}
        ).scalar_one()
    withdraw_track(db, t_track, reason="wrong file", actor="cli")
    assert len(_later(db, [alleys["B"]]).walks.get("track.withdraw", [])) == 1
    assert _later(db, [alleys["D"]]).walks == {}


def test_a_walk_matched_again_after_the_week_is_named(town) -> None:  # noqa: ANN001, F811
    """T56 #2: `tracks rematch` after the week moved a chief's credit and the note said
    nothing. A walk of the period with a second match made after it ended is named
    (重新匹配); its first match (a late upload's) is not a change of its own."""
    db, people, alleys = town["db"], town["people"], town["alleys"]
    _before_the_week(db)
    _walk_times(db, people["Q"], _at(WED, 7), _at(WED, 7, 40), _at(WED, 8))
    with db.begin() as conn:
        track = conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p"), {"p": people["Q"]}
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO track_matches (track_id, matched_at, segments, walked_m) "
                "VALUES (:t, :a, 1, 100)"
            ),
            {"t": track, "a": _at(WED, 8, 5)},
        )
    assert _changed(db) is None
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO track_matches (track_id, matched_at, segments, walked_m) "
                "VALUES (:t, :a, 1, 120)"
            ),
            {"t": track, "a": _at(NEXT_WED, 9)},
        )
    note = _changed(db)
    assert f"本期的轨迹于 {NEXT_WED} 有 1 次改动（重新匹配 1；轨迹 id:{track}）" in note, note
    assert (
        f"1 change to walks of this period on {NEXT_WED} (1 matched again; track id:{track})"
        in note
    ), note
    assert _later(db, [alleys["D"]]).walks == {}
