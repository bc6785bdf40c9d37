"""Outside tester T69 (孙科长, the district's evaluation section head) on walks over midnight
and the report files, in the demo city:

* #5: one outing over midnight is credited on both days (the rule stays), and the reports now
  say how many patrolled days came from such walks and whose: a note, and the people rows'
  last column ``midnight_alley_days`` (跨零点已巡街巷·天), alike in JSON, CSV, XLSX and on
  /maps/reports; a steward's own view shows only her own.
* #1: a CSV time column always reads ``YYYY-MM-DD HH:MM:SS``, also when every time of the
  column is midnight (pandas wrote bare dates then).
* #2: the old-walk warning of a walk over midnight names both days it is credited on.

Her walks, re-made: DEMO0038 walks her one alley (37, 128 m, one segment) there and back
from just before midnight (her 7-minute 23:57–00:03 walk); DEMO0006 walks hers (82, 162 m)
one morning and, two days later, over midnight. Both days are more than 30 days ago.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.accounts import create_user, issue_token
from geo.day_networks import walk_network
from geo.demo import _phone_error, track_csv
from geo.settings import city_today
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.conftest import _cheap_password_hash, demo_with_duties
from tests.test_import import GRIDWARD

TZ = ZoneInfo("Asia/Shanghai")
COL = "midnight_alley_days"
HEADER = "跨零点已巡街巷·天 midnight_alley_days"
SPEED = 1.2


def _token(engine: Any, role: str, name: str, person_id: int | None = None) -> dict[str, str]:
    with engine.begin() as conn, _cheap_password_hash():
        uid = create_user(conn, name, "t69-test-password", role, (), person_id)
        return {"Authorization": f"Bearer {issue_token(conn, uid)[1]}"}


def _days(today: dt.date) -> dt.date:
    """A Tuesday some seven weeks ago whose Friday is in its month (so the week and the
    month hold the same four days)."""
    base = today - dt.timedelta(days=49)
    tue = base - dt.timedelta(days=base.weekday()) + dt.timedelta(days=1)
    return tue if (tue + dt.timedelta(days=3)).month == tue.month else tue - dt.timedelta(days=7)


def _there_and_back(net: Any, segment: int, start: pd.Timestamp, seed: int) -> pd.DataFrame:
    """A walk along one segment to its end and back, from ``start``, with a phone's drifting
    error as the demo's walks have it (an honest walk: no flag but the midnight one)."""
    e = list(net.edge_ids).index(segment)
    length = float(net.length[e])
    sp = SimParams(
        speed_mps=SPEED, dt_s=2.0, noise_m=0.0, stops=0, uturns=0, start=start.isoformat()
    )
    rng = np.random.default_rng(seed)
    pts, _ = simulate_patrol(net, rng, sp, legs=[(e, 0.0, length), (e, length, 0.0)])
    return _phone_error(net, pts, rng, 4.0)


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city, DEMO0038's and DEMO0006's duties from before the walks, their three
    walks uploaded through the API (with the upload answers' warnings)."""
    demo_with_duties(engine)
    day = _days(city_today())
    with engine.begin() as conn:
        who = dict(
            conn.execute(
                text(
                    "SELECT external_id, id FROM people "
                    "WHERE external_id IN ('DEMO0038', 'DEMO0006')"
                )
            ).all()
        )
        conn.execute(
            text(
                "UPDATE assignments SET valid_from = :d WHERE person_id = ANY(CAST(:p AS int[])) "
                "AND role = 'alley_steward'"
            ),
            {"d": day - dt.timedelta(days=10), "p": list(who.values())},
        )
        held = {
            code: conn.execute(
                text(
                    "SELECT a.street_id, array_agg(s.id) FROM assignments a JOIN street_segments s "
                    "ON s.street_id = a.street_id WHERE a.person_id = :p "
                    "AND a.role = 'alley_steward' GROUP BY a.street_id"
                ),
                {"p": pid},
            ).all()
            for code, pid in who.items()
        }
    # one alley each, of one segment (T69's alleys 37 and 82)
    assert {c: [(int(a), len(s)) for a, s in h] for c, h in held.items()} == {
        "DEMO0038": [(37, 1)],
        "DEMO0006": [(82, 1)],
    }, held
    net = walk_network(engine)

    def midnight(d: dt.date, segment: int) -> pd.Timestamp:
        """The start of a walk there and back that turns at about midnight after ``d``."""
        length = float(net.length[list(net.edge_ids).index(segment)])
        turn = pd.Timestamp(d + dt.timedelta(days=1), tz=TZ).tz_convert("UTC")
        return turn - pd.Timedelta(seconds=length / SPEED + 2)

    seg_a, seg_b = held["DEMO0038"][0][1][0], held["DEMO0006"][0][1][0]
    walks = [
        ("a_over_midnight.csv", "DEMO0038", _there_and_back(net, seg_a, midnight(day, seg_a), 1)),
        (
            "b_morning.csv",
            "DEMO0006",
            _there_and_back(
                net, seg_b, pd.Timestamp(day, tz=TZ).tz_convert("UTC") + pd.Timedelta(hours=9), 2
            ),
        ),
        (
            "b_over_midnight.csv",
            "DEMO0006",
            _there_and_back(net, seg_b, midnight(day + dt.timedelta(days=2), seg_b), 3),
        ),
    ]
    admin = _token(engine, "admin", "t69-admin")
    viewer = _token(engine, "viewer", "t69-viewer")
    steward = _token(engine, "steward", "t69-guo38", who["DEMO0038"])
    tracks: dict[str, int] = {}
    warnings: dict[str, list[str]] = {}
    with TestClient(create_app(engine)) as client:
        for name, code, pts in walks:
            r = client.post(
                "/tracks",
                files=[("file", (name, io.BytesIO(track_csv(pts)), "text/csv"))],
                data={"person_id": str(who[code])},
                headers=admin,
            )
            assert r.status_code == 201, r.text
            item = r.json()["files"][0]
            tracks[name], warnings[name] = int(item["track_id"]), item["warnings"]
        yield {
            "client": client,
            "day": day,
            "who": who,
            "tracks": tracks,
            "warnings": warnings,
            "admin": admin,
            "viewer": viewer,
            "steward": steward,
        }


def _get(city: dict[str, Any], kind: str, day: dt.date, who: str = "admin", **q: str) -> Any:
    r = city["client"].get(
        f"/reports/{kind}", params={"date": day.isoformat(), **q}, headers=city[who]
    )
    assert r.status_code == 200, r.text
    return r


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["person_code"]: p for p in body["people"]}


def _last(body: dict[str, Any]) -> str:
    """The people table's last column (the JSON adds ``role_label`` after the table's)."""
    return [c for c in body["columns"]["people"] if c != "role_label"][-1]


def _midnight_notes(body: dict[str, Any]) -> list[str]:
    return [n for n in body["notes"] if n.startswith("跨零点巡查")]


def _clock(city: dict[str, Any], name: str) -> tuple[str, str]:
    """The walk's first and last fix as the note gives them (MM-DD HH:MM, local)."""
    r = city["client"].get(f"/tracks/{city['tracks'][name]}", headers=city["admin"])
    t = r.json()
    return tuple(  # type: ignore[return-value]
        pd.Timestamp(t[k]).tz_convert(TZ).strftime("%m-%d %H:%M")
        for k in ("started_at", "ended_at")
    )


def test_patrolled_days_from_walks_over_midnight_are_counted_and_named(city) -> None:  # noqa: ANN001
    """T69 #5: each walk over midnight still credits both days (DEMO0038 2 days of one
    7-minute walk); the people rows count those days in their last column, and a note says
    how many, from how many walks, whose, with each walk's times. A day walked by day counts
    none (DEMO0006's morning walk)."""
    day = city["day"]
    d = [day + dt.timedelta(days=i) for i in range(4)]
    a, b1 = _clock(city, "a_over_midnight.csv"), _clock(city, "b_over_midnight.csv")
    assert a[0].startswith(f"{d[0]:%m-%d} 23:5") and a[1].startswith(f"{d[1]:%m-%d} 00:0"), a
    ta, tb = city["tracks"]["a_over_midnight.csv"], city["tracks"]["b_over_midnight.csv"]

    expected = {  # day: (DEMO0038 patrolled, midnight; DEMO0006 patrolled, midnight)
        d[0]: (1, 1, 1, 0),
        d[1]: (1, 1, 0, 0),
        d[2]: (0, 0, 1, 1),
        d[3]: (0, 0, 1, 1),
    }
    for one, (pa, ma, pb, mb) in expected.items():
        body = _get(city, "daily", one).json()
        assert _last(body) == COL
        rows = _rows(body)
        got = {c: (rows[c]["patrolled_alleys"], rows[c][COL]) for c in ("DEMO0038", "DEMO0006")}
        assert got == {"DEMO0038": (pa, ma), "DEMO0006": (pb, mb)}, (one, got)
        # a walk over midnight is no suspect (T53 N7): these honest walks are flagged nowhere
        assert rows["DEMO0038"]["suspect_tracks"] == rows["DEMO0006"]["suspect_tracks"] == 0
        notes = _midnight_notes(body)
        if one in (d[0], d[1]):
            assert notes == [
                "跨零点巡查：本报表有 1 个已巡街巷·天来自 1 条跨零点的轨迹（按规定一次巡查计入所跨"
                "各天的日巡，各计其当天走过的部分；不属可疑轨迹）："
                f"{rows['DEMO0038']['person_name']}（DEMO0038）1 个街巷·天：轨迹 {ta}（{a[0]} 至 "
                f"{a[1]}）；每人的数目见人员行“{HEADER}” walks over midnight: 1 patrolled "
                "street/alley-day(s) of this report came from 1 walk over midnight (as the rules "
                "say, one outing counts on each day it walked, for the part walked that day; not "
                f"a suspect track): {rows['DEMO0038']['person_name']} (DEMO0038) 1 "
                f"street/alley-day(s): track {ta} ({a[0]} to {a[1]}); each person's count is in "
                f"the people rows' {COL}"
            ], notes
        else:
            assert len(notes) == 1 and f"轨迹 {tb}（{b1[0]} 至 {b1[1]}）" in notes[0], notes

    # the week and the month: both days of each walk; DEMO0006's morning walk counts none
    for kind in ("weekly", "monthly"):
        body = _get(city, kind, day).json()
        assert _last(body) == COL
        rows = _rows(body)
        got = {c: (rows[c]["patrolled_alley_days"], rows[c][COL]) for c in ("DEMO0038", "DEMO0006")}
        assert got == {"DEMO0038": (2, 2), "DEMO0006": (3, 2)}, (kind, got)
        assert all(r[COL] == 0 for c, r in rows.items() if c not in ("DEMO0038", "DEMO0006"))
        (note,) = _midnight_notes(body)
        assert note.startswith("跨零点巡查：本报表有 4 个已巡街巷·天来自 2 条跨零点的轨迹"), note
        # most days first, then by registry id: DEMO0006 before DEMO0038
        six, eight = note.index("（DEMO0006）2 个街巷·天"), note.index("（DEMO0038）2 个街巷·天")
        assert six < eight, note
        assert (
            f"轨迹 {tb}（{b1[0]} 至 {b1[1]}）" in note and f"轨迹 {ta}（{a[0]} 至 {a[1]}）" in note
        )
        assert (
            "4 patrolled street/alley-day(s) of this report came from 2 walks over midnight" in note
        )

    # a steward's own view: her row with its count, and the note of her own walk only
    own = _get(city, "weekly", day, "steward").json()
    assert [(p["person_code"], p[COL]) for p in own["people"]] == [("DEMO0038", 2)]
    (mine,) = _midnight_notes(own)
    assert mine.startswith("跨零点巡查：本报表有 2 个已巡街巷·天来自 1 条跨零点的轨迹"), mine
    assert "DEMO0006" not in mine and f"轨迹 {tb}" not in mine
    assert "suspect_tracks" not in own["columns"]["people"] and _last(own) == COL


def test_the_files_and_the_page_say_what_the_json_says(city) -> None:  # noqa: ANN001
    """T69 #5: the CSV's and the XLSX's people tables end with the count (label and key),
    the same numbers as the JSON; the XLSX 报表 sheet and /maps/reports carry the note, and
    the page shows the column."""
    day = city["day"]
    body = _get(city, "weekly", day).json()
    (note,) = _midnight_notes(body)
    counts = {p["person_code"]: p[COL] for p in body["people"]}

    text_ = _get(city, "weekly", day, format="csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text_)))
    assert rows[0][-1] == HEADER
    code = rows[0].index("人员编号 person_code")
    assert {r[code].strip(): int(r[-1]) for r in rows[1:]} == counts

    book = openpyxl.load_workbook(io.BytesIO(_get(city, "weekly", day, format="xlsx").content))
    sheet = list(book["人员 people"].values)
    assert sheet[0][-1] == HEADER
    code = sheet[0].index("人员编号 person_code")
    assert {r[code]: r[-1] for r in sheet[1:]} == counts
    assert note in [r[1] for r in book["报表 report"].values]

    page = city["client"].get(
        "/maps/reports", params={"kind": "weekly", "date": day.isoformat()}, headers=city["viewer"]
    )
    assert page.status_code == 200, page.text
    assert f'<th scope="col">{HEADER}</th>' in page.text
    for code, pid in city["who"].items():  # their rows' cells, as the JSON says
        row = re.search(rf'<tr data-person="{pid}">.*?</tr>', page.text)
        assert row is not None, code
        cell = re.search(r'data-key="midnight_alley_days"[^>]*>([^<]*)</td>', row.group(0))
        assert cell is not None and cell.group(1) == str(counts[code]) == "2", row.group(0)
    assert note.split(" walks over midnight")[0] in page.text.replace("&quot;", '"')


TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def test_csv_times_are_always_written_with_their_clock(city) -> None:  # noqa: ANN001
    """T69 #1: on the day after DEMO0038's walk every first_time of the alleys and the
    segments tables is midnight: the CSV read a bare date there (2026-11-01) and a time on
    other days. Every time cell of every table is YYYY-MM-DD HH:MM:SS now (or empty)."""
    day = city["day"]
    after = day + dt.timedelta(days=1)
    for kind, one, tables in (
        ("daily", after, ("people", "alleys", "areas", "segments")),
        ("daily", day, ("people", "alleys", "areas", "segments")),
        ("weekly", day, ("people", "alleys", "areas")),
    ):
        for table in tables:
            got = _get(city, kind, one, format="csv", table=table).content.decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(got)))
            times = [k for k in (rows[0] if rows else {}) if k.endswith("_time")]
            cells = [r[k] for r in rows for k in times if r[k]]
            assert all(TIME.match(c) for c in cells), (kind, one, table, cells)
            if kind == "daily" and one == after and table in ("alleys", "segments"):
                first = [r["首次时间 first_time"] for r in rows if r["首次时间 first_time"]]
                assert first == [f"{after} 00:00:00"], (table, first)


def test_an_old_walk_over_midnight_is_warned_with_both_its_days(city) -> None:  # noqa: ANN001
    """T69 #2: a walk of 23:5x to 00:0x over 30 days ago was told it counts on its last day
    only; the reports credit both, and the warning names both. A walk of one day keeps the
    one-day warning."""
    day = city["day"]
    for name, first in (
        ("a_over_midnight.csv", day),
        ("b_over_midnight.csv", day + dt.timedelta(days=2)),
    ):
        last = first + dt.timedelta(days=1)
        ago = (city_today() - last).days
        (old,) = [w for w in city["warnings"][name] if w.startswith("轨迹日期较早")]
        assert old == (
            f"轨迹日期较早：这次巡查跨零点，日期是 {first} 和 {last}（最后一天为 {ago} 天前），"
            "分别计入这两天，每天计当天走过的部分；如日期不对，请检查手机日期 "
            f"this walk spans midnight and is dated {first} and {last} (the last day {ago} days "
            "ago), counted on each of those days for the part walked that day: check the "
            "phone's date if that is wrong"
        ), old
    (old,) = [w for w in city["warnings"]["b_morning.csv"] if w.startswith("轨迹日期较早")]
    assert old.startswith(f"轨迹日期较早：这次巡查的日期是 {day}（"), old
    assert "计入那一天" in old


def test_the_cli_report_table_shows_the_midnight_days(city, pg_url) -> None:  # noqa: ANN001
    """T69 #5 in the terminal: `gridward report weekly` ends its people table with the
    column, DEMO0038's row reading 2 (her 7-minute walk over midnight), and prints the note."""
    env = {**os.environ, "DATABASE_URL": pg_url, "COLUMNS": "400"}
    res = subprocess.run(
        [*GRIDWARD, "report", "weekly", "--date", str(city["day"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    head = next(line for line in res.stdout.splitlines() if "可疑轨迹" in line)
    assert head.index("跨零点已巡街巷·天") > head.index("可疑轨迹"), head
    row = next(line for line in res.stdout.splitlines() if "DEMO0038" in line)
    assert row.rstrip(" │|").split()[-1] == "2", row
    assert "跨零点巡查：" in res.stdout
