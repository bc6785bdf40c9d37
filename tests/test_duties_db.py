"""Dated duty changes by hand (geo.duties) on a real PostGIS: backdated corrections reach past
reports, co-stewards (共管), replacement, overlaps and wrong input refused with nothing
changed, the CLI's one-line answers and the API's rules.

Old code: there was no way to set or end a dated duty by hand (geo.duties, ``gridward assign
set|end``, ``POST /assignments`` and ``/assignments/end`` did not exist), so every test here
fails on it. Later: a duty entered by mistake could not be undone (no ``undo_duty``, ``gridward
assign undo``, ``DELETE /assignments/{id}``), and ending a duty later beside a co-holder who
held the alley all along was refused; the tests of those fail on the code before.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo import audit
from geo.areas_import import import_areas
from geo.duties import Target, assign_duty, end_duty
from geo.duty_undo import undo_duty
from geo.errors import ConflictError, InputError, NotFoundError
from geo.importer import import_osm
from geo.patrol_reports import build_report
from geo.settings import city_today, get_settings
from tests.conftest import FIXTURES
from tests.dbcheck import fingerprint
from tests.test_import import run_cli

SUBDISTRICT = "110108015"
PHONE = "13912345678"
_sha = itertools.count(1)


@pytest.fixture()
def town(db):
    """The demo city; S1 has held alley A since 60 days ago (S2, S3 stewards without duty,
    X1 a steward who left, C1 a chief, L1/L2 leaders, W1 a worker); one level-1 grid G."""
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, FIXTURES / "haidian_demo.osm")
    since = city_today() - dt.timedelta(days=60)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, phone, roles, active) VALUES "
                "('S1', '王一', :ph, ARRAY['alley_steward'], true), "
                "('S2', '李二', NULL, ARRAY['alley_steward'], true), "
                "('S3', '张三', NULL, ARRAY['alley_steward'], true), "
                "('X1', '赵走', NULL, ARRAY['alley_steward'], false), "
                "('C1', '钱街', NULL, ARRAY['street_chief'], true), "
                "('L1', '孙长', NULL, ARRAY['grid_leader'], true), "
                "('L2', '周长', NULL, ARRAY['grid_leader'], true), "
                "('W1', '吴员', NULL, ARRAY['grid_worker'], true)"
            ),
            {"ph": PHONE},
        )
        # an alley with a name, whose length lies mostly in one community of the subdistrict
        alley = conn.execute(
            text(
                "SELECT st.id, st.name, st.key, c.code FROM streets st JOIN areas c "
                "ON c.level = 'community' AND ST_Intersects(st.geom, c.geom) "
                "WHERE st.kind = 'alley' AND st.name IS NOT NULL AND c.code LIKE :s || '%' "
                "AND ST_Length(ST_Intersection(st.geom, c.geom)) > 0.9 * ST_Length(st.geom) "
                "AND (SELECT count(*) FROM streets o WHERE o.name = st.name) = 1 "
                "AND EXISTS (SELECT 1 FROM street_segments s WHERE s.street_id = st.id) "
                "ORDER BY st.id LIMIT 1"
            ),
            {"s": SUBDISTRICT},
        ).one()
        street = conn.execute(
            text("SELECT id FROM streets WHERE kind = 'street' ORDER BY id LIMIT 1")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "SELECT id, 'alley_steward', :a, :d FROM people WHERE external_id = 'S1'"
            ),
            {"a": alley.id, "d": since},
        )
        grid = conn.execute(
            text(
                "INSERT INTO grids (code, level, community_id, version, households, "
                "building_count, flags, properties, geom) SELECT code || '001', 1, id, 1, 300, "
                "10, '[]', '{}', geom FROM areas WHERE code = :c RETURNING code"
            ),
            {"c": alley.code},
        ).scalar_one()
        ids = dict(conn.execute(text("SELECT external_id, id FROM people")).all())
    return {
        "db": db,
        "alley": alley.id,
        "alley_name": alley.name,
        "alley_key": alley.key,
        "community": alley.code,
        "street": street,
        "grid": grid,
        "since": since,
        "ids": ids,
    }


def _walk(db, person_id: int, alley_id: int, day: dt.date, f0: float = 0.0, f1: float = 1.0):
    """``person_id`` walked [f0, f1] of every segment of the alley on ``day``."""
    at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=ZoneInfo(get_settings().timezone))
    with db.begin() as conn:
        track = conn.execute(
            text(
                "INSERT INTO tracks (sha256, raw, format, crs, size_bytes, n_points, person_id, "
                "status) VALUES (:h, 'x', 'csv', 'wgs84', 1, 0, :p, 'matched') RETURNING id"
            ),
            {"h": f"{next(_sha):064x}", "p": person_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) SELECT :t, s.id, :p, :d, "
                ":f, :at, :at, CAST(:iv AS jsonb) FROM street_segments s WHERE s.street_id = :a"
            ),
            {"t": track, "p": person_id, "d": day, "a": alley_id, "f": f1 - f0, "at": at,
             "iv": f"[[{f0}, {f1}]]"},
        )  # fmt: skip


def _duties(db, alley_id: int) -> list[tuple[str, dt.date, dt.date | None]]:
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT p.external_id, a.valid_from, a.valid_to FROM assignments a "
                    "JOIN people p ON p.id = a.person_id WHERE a.street_id = :a "
                    "ORDER BY a.valid_from, p.external_id"
                ),
                {"a": alley_id},
            ).all()
        ]


def _last_week() -> tuple[dt.date, dt.date]:
    """Monday of last week and its Wednesday: always a whole past week."""
    today = city_today()
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return monday, monday + dt.timedelta(days=2)


def _alley_day(report, alley_id: int, day: dt.date) -> dict:
    rows = report["alleys"]
    hit = rows[(rows["alley_id"] == alley_id) & (rows["day"] == day)]
    assert len(hit) == 1, hit
    return hit.iloc[0].to_dict()


def test_backdated_replacement_credits_a_past_week_to_its_real_holder(town):
    """S2 took over alley A on Monday of last week, but it was entered only now: before the
    correction their Wednesday walk counted for nobody and S1 missed 7 alley-days; after it,
    the Wednesday is patrolled by S2, S1 is out of that week, and the week before keeps S1."""
    db, alley, ids = town["db"], town["alley"], town["ids"]
    monday, wednesday = _last_week()
    _walk(db, ids["S2"], alley, wednesday)
    before = build_report(db, "weekly", wednesday)
    row = _alley_day(before, alley, wednesday)
    assert not row["patrolled"] and list(row["person_ids"]) == [ids["S1"]]
    s1 = before["people"][before["people"]["person_id"] == ids["S1"]].iloc[0]
    assert (s1["alley_days"], s1["patrolled_alley_days"]) == (7, 0)
    earlier_before = build_report(db, "weekly", monday - dt.timedelta(days=7))

    out = assign_duty(db, "S2", Target("alley", alley), None, monday, replace=True, actor="t")

    assert out["duty"]["valid_from"] == monday.isoformat() and out["duty"]["valid_to"] is None
    assert [
        (c["action"], c["after"]["person"], c["after"]["valid_to"]) for c in out["changes"]
    ] == [("ended", "S1", (monday - dt.timedelta(days=1)).isoformat())]
    assert _duties(db, alley) == [
        ("S1", town["since"], monday - dt.timedelta(days=1)),
        ("S2", monday, None),
    ]
    after = build_report(db, "weekly", wednesday)
    row = _alley_day(after, alley, wednesday)
    assert row["patrolled"] and list(row["person_ids"]) == [ids["S2"]]
    people = after["people"].set_index("person_id")
    assert ids["S1"] not in people.index
    assert (people.loc[ids["S2"], "alley_days"], people.loc[ids["S2"], "patrolled_alley_days"]) == (
        7,
        1,
    )
    earlier_after = build_report(db, "weekly", monday - dt.timedelta(days=7))
    assert earlier_after["people"].equals(earlier_before["people"])  # S1's earlier week stays
    with db.connect() as conn:
        audit = conn.execute(
            text("SELECT actor, detail::text FROM audit_log WHERE action = 'assignments.set'")
        ).one()
    assert audit[0] == "t" and '"S1"' in audit[1] and '"S2"' in audit[1]
    assert PHONE not in audit[1]


def test_a_co_steward_keeps_the_first_holder_and_their_walks_add_up(town):
    """S1 walks the first half, S3 the second half of each segment: patrolled only once S3
    is a co-steward (union of the stewards' walking), and S1 keeps their duty."""
    db, alley, ids = town["db"], town["alley"], town["ids"]
    monday, wednesday = _last_week()
    _walk(db, ids["S1"], alley, wednesday, 0.0, 0.5)
    _walk(db, ids["S3"], alley, wednesday, 0.5, 1.0)
    assert not _alley_day(build_report(db, "daily", wednesday), alley, wednesday)["patrolled"]

    out = assign_duty(db, "S3", Target("alley", town["alley_name"]), "小巷管家", monday)

    assert out["changes"] == [] and [c["person"] for c in out["co_holders"]] == ["S1"]
    assert _duties(db, alley) == [("S1", town["since"], None), ("S3", monday, None)]
    row = _alley_day(build_report(db, "daily", wednesday), alley, wednesday)
    assert row["patrolled"] and sorted(row["person_ids"]) == sorted([ids["S1"], ids["S3"]])
    # the day before the co-steward began: S1 alone, as before
    assert _alley_day(build_report(db, "daily", monday - dt.timedelta(days=1)), alley,
                      monday - dt.timedelta(days=1))["person_ids"] == [ids["S1"]]  # fmt: skip


def test_replace_ends_the_other_holder_the_day_before_and_a_stand_in_hands_back(town):
    db, alley = town["db"], town["alley"]
    today = city_today()
    start = today + dt.timedelta(days=10)  # a planned change
    assign_duty(db, "S2", Target("alley", town["alley_key"]), "alley_steward", start,
                replace=True)  # fmt: skip
    assert _duties(db, alley) == [
        ("S1", town["since"], start - dt.timedelta(days=1)),
        ("S2", start, None),
    ]
    # a two-week stand-in from the 20th day: S2 resumes afterwards
    cover = today + dt.timedelta(days=20)
    back = cover + dt.timedelta(days=14)
    out = assign_duty(db, "S3", Target("alley", alley), None, cover, back - dt.timedelta(days=1),
                      replace=True)  # fmt: skip
    assert [c["action"] for c in out["changes"]] == ["ended", "resumes"]
    assert _duties(db, alley) == [
        ("S1", town["since"], start - dt.timedelta(days=1)),
        ("S2", start, cover - dt.timedelta(days=1)),
        ("S3", cover, back - dt.timedelta(days=1)),
        ("S2", back, None),
    ]
    # S2's planned duty has never been in force: replacing from before it cancels it
    out = assign_duty(db, "S3", Target("alley", alley), None, start, start + dt.timedelta(days=1),
                      replace=True)  # fmt: skip
    assert [c["action"] for c in out["changes"]] == ["moved"]
    assert ("S2", start + dt.timedelta(days=2), cover - dt.timedelta(days=1)) in _duties(db, alley)
    # ending S2's first part later, into S3's stand-in, would silently make S2 a co-holder
    before = fingerprint(db)
    with pytest.raises(ConflictError, match="co-holder beside 张三"):
        end_duty(db, "S2", Target("alley", alley), None, cover + dt.timedelta(days=2))
    assert fingerprint(db) == before


def test_replace_refuses_to_erase_a_duty_that_has_been_in_force(town):
    """S1's duty began 60 days ago; replacing from before that would erase it: 409, with the
    day from which a replacement keeps it, and nothing changed."""
    db, alley = town["db"], town["alley"]
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "S2", Target("alley", alley), None, town["since"] - dt.timedelta(days=3),
                    replace=True)  # fmt: skip
    msg = err.value.message
    assert "erase" in msg and str(town["since"] + dt.timedelta(days=1)) in msg
    assert fingerprint(db) == before


def test_an_overlap_with_ones_own_duty_is_refused_naming_it(town):
    db, alley = town["db"], town["alley"]
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "S1", Target("alley", alley), None, city_today(), replace=True)
    assert f"{town['since']} – (open-ended)" in err.value.message
    assert "王一 (S1)" in err.value.message and PHONE not in err.value.message
    # T37 #16: since when, in plain Chinese, and the new duty's days named
    assert (
        err.value.message.startswith(f"王一 (S1) 自 {town['since']} 起已是小巷 ")
        and f"的小巷管家（alley_steward，长期），与新安排（{city_today()} 起，长期）重叠，未做更改 "
        in (err.value.message)
    ), err.value.message
    # starting earlier than the recorded start: overlap too, with how to add the days before
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "S1", Target("alley", alley), None, town["since"] - dt.timedelta(days=5))
    assert f"to {town['since'] - dt.timedelta(days=1)}" in err.value.message
    assert fingerprint(db) == before
    # the days before, exactly: accepted (a late entry's real start)
    assign_duty(db, "S1", Target("alley", alley), None, town["since"] - dt.timedelta(days=5),
                town["since"] - dt.timedelta(days=1))  # fmt: skip


@pytest.mark.parametrize(
    ("person", "target", "role", "start", "end", "error", "needle"),
    [
        ("NOBODY", ("alley", "A"), None, 0, None, NotFoundError, "person 'NOBODY' does not exist"),
        ("S2", ("alley", "no such alley"), None, 0, None, NotFoundError, "does not exist"),
        ("X1", ("alley", "A"), None, 0, None, ConflictError, "has left"),
        ("C1", ("alley", "A"), None, 0, None, InputError, "does not hold the role alley_steward"),
        ("S2", ("street", "A"), "alley_steward", 0, None, InputError, "held on an alley"),
        ("C1", ("street", "A"), None, 0, None, InputError, "is an alley, not a street"),
        ("S2", ("alley", "A"), None, 0, -1, InputError, "before valid_from"),
        ("S2", ("alley", "A"), None, dt.date(1989, 12, 31), None, InputError, "1990–2100"),
        ("S2", ("alley", "A"), None, dt.date(2101, 1, 1), None, InputError, "1990–2100"),
        ("S2", ("grid", "G"), None, 0, None, InputError, "give the role"),
        ("S2", ("alley", "A"), "janitor", 0, None, InputError, "unknown role 'janitor'"),
        ("L2", ("grid", "G"), "grid_leader", 0, None, ConflictError, "one leader"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    town, person, target, role, start, end, error, needle
):
    db = town["db"]
    today = city_today()
    assign_duty(db, "L1", Target("grid", town["grid"]), "网格长", today)
    ref = {"A": town["alley"], "G": town["grid"]}.get(target[1], target[1])
    start = today + dt.timedelta(days=start) if isinstance(start, int) else start
    end = start + dt.timedelta(days=end) if isinstance(end, int) else end
    before = fingerprint(db)
    with pytest.raises(error) as err:
        assign_duty(db, person, Target(target[0], ref), role, start, end)
    assert needle in err.value.message
    assert fingerprint(db) == before


def test_a_leaver_is_refused_with_the_way_back_and_that_way_works(town, tmp_path):
    """Outside tester T36, #5: the refusal for a person who has left said "import them again
    in the people registry", and a plain re-import keeps a leaver inactive: the advice did
    not work. Now it names --reactivate (API ?reactivate=true), in Chinese and English, and
    following it lets the duty be given."""
    from geo.people_import import import_people

    db, alley = town["db"], town["alley"]
    today = city_today()
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "X1", Target("alley", alley), None, today)
    msg = err.value.message
    assert msg.startswith("人员 赵走 (X1) 已离岗") and msg.count("--reactivate") == 2, msg
    assert "?reactivate=true" in msg and "has left (inactive)" in msg, msg
    assert fingerprint(db) == before
    roster = tmp_path / "back.csv"
    roster.write_text("person_id\nX1\n", encoding="utf-8")
    import_people(db, roster)  # as the advice warns: without --reactivate, still refused
    with pytest.raises(ConflictError, match="has left"):
        assign_duty(db, "X1", Target("alley", alley), None, today)
    import_people(db, roster, reactivate=True)
    out = assign_duty(db, "X1", Target("alley", alley), None, today)
    assert out["duty"]["person"] == "X1" and out["duty"]["valid_from"] == str(today)


def test_grid_duties_and_end_duty(town):
    db, grid, alley = town["db"], town["grid"], town["alley"]
    today = city_today()
    assign_duty(db, "L1", Target("grid", grid), "grid_leader", today - dt.timedelta(days=30))
    out = assign_duty(db, "L2", grid, "grid_leader", today, replace=True)  # plain code
    assert out["changes"][0]["after"]["valid_to"] == str(today - dt.timedelta(days=1))
    assign_duty(db, "W1", Target("grid", grid), "grid_worker", today)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO grids (code, level, parent_id, community_id, version, households, "
                "building_count, flags, properties, geom) SELECT code || '001', 2, id, "
                "community_id, 1, 30, 1, '[]', '{}', geom FROM grids WHERE code = :c"
            ),
            {"c": grid},
        )
    with pytest.raises(InputError, match="level-1"):
        assign_duty(db, "W1", Target("grid", grid + "001"), "grid_worker", today)

    # end: the duty in force on the day ends then; none in force → 404; before start → 422
    last = today - dt.timedelta(days=2)
    done = end_duty(db, "S1", Target("alley", alley), None, last, actor="t")
    assert done["changed"] and done["duty"]["valid_to"] == str(last)
    assert _duties(db, alley) == [("S1", town["since"], last)]
    again = end_duty(db, "S1", Target("alley", alley), None, last)
    assert not again["changed"]
    # a later last day corrects it the other way (it was a 404 though documented)
    later = end_duty(db, "S1", Target("alley", alley), None, last + dt.timedelta(days=2))
    assert later["changed"] and _duties(db, alley) == [
        ("S1", town["since"], last + dt.timedelta(days=2))
    ]
    end_duty(db, "S1", Target("alley", alley), None, last)
    before = fingerprint(db)
    with pytest.raises(NotFoundError, match="holds no alley_steward duty"):
        end_duty(db, "S3", Target("alley", alley), None, today)
    with pytest.raises(InputError, match="before it starts"):
        end_duty(db, "S1", Target("alley", alley), None, town["since"] - dt.timedelta(days=1))
    with pytest.raises(NotFoundError):
        end_duty(db, "S2", Target("alley", alley), None, last)
    assert fingerprint(db) == before


def test_cli_set_and_end_print_one_line_and_bad_input_one_error(town, pg_url):
    alley, monday = town["alley"], _last_week()[0]
    res = run_cli(["assign", "set", "--person", "S2", "--alley", str(alley), "--from",
                   str(monday), "--replace"], pg_url)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1, res.stdout
    assert lines[0].startswith("职责已安排 duty set: 李二 (S2) 小巷管家 alley steward")
    # T39 L4: the alley's database id as the house writes it, not 名称 #12
    named = f" · 小巷 alley {town['alley_name']}（id:{alley}） · "
    assert named in lines[0] and "#" not in lines[0], lines[0]
    assert f"卸任 ended: 王一 (S1) 最后一天 last day {monday - dt.timedelta(days=1)}" in lines[0]
    assert PHONE not in res.stdout
    res = run_cli(["assign", "end", "--person", "S2", "--alley", str(alley), "--on",
                   str(city_today())], pg_url)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("职责已结束 duty ended: 李二 (S2)") and res.stdout.count("\n") == 1
    assert named in res.stdout and "#" not in res.stdout, res.stdout

    before = fingerprint(town["db"])
    for args, needle in [
        (["--person", "S2", "--alley", str(alley), "--from", "2026-02-30"], "not a date"),
        (["--person", "S9", "--alley", str(alley), "--from", str(monday)], "does not exist"),
        (["--person", "S3", "--street", str(alley), "--from", str(monday)], "not a street"),
        (["--person", "S3", "--alley", str(alley), "--grid", "1", "--from", "2020-01-01"],
         "name one target"),
        (["--person", "S3", "--from", "2020-01-01"], "name one target"),
    ]:  # fmt: skip
        res = run_cli(["assign", "set", *args], pg_url)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], res.stderr
    assert fingerprint(town["db"]) == before


def test_api_sets_and_ends_duties_for_planners_only(town, auth_headers):
    db, alley = town["db"], town["alley"]
    monday = _last_week()[0]
    body = {"person": "S3", "target": alley, "role": "alley_steward", "valid_from": str(monday)}
    planner = auth_headers("planner", (SUBDISTRICT,))
    viewer = auth_headers("viewer")
    refused = [viewer, auth_headers("steward", person_id=town["ids"]["S3"]),
               auth_headers("planner", ("120101",))]  # fmt: skip
    with TestClient(create_app(db)) as client:
        before = fingerprint(db)
        for who in refused:
            r = client.post("/assignments", json=body, headers=who)
            assert r.status_code == 403 and "error" in r.json(), r.text
        assert client.post("/assignments", json=body).status_code == 401
        # out of scope, a planner learns nothing about the person (was 404/409 before 403)
        for who in ("NOBODY", "X1"):
            r = client.post("/assignments", json={**body, "person": who}, headers=refused[-1])
            assert r.status_code == 403, r.text
        assert fingerprint(db) == before

        r = client.post("/assignments", json=body, headers=planner)
        assert r.status_code == 201, r.text
        duty = r.json()["duty"]
        assert (duty["person"], duty["valid_from"], duty["target"]["id"]) == (
            "S3",
            str(monday),
            alley,
        )
        assert [c["person"] for c in r.json()["co_holders"]] == ["S1"]
        assert PHONE not in r.text

        before = fingerprint(db)
        # the same duty again (a retry) is that duty, nothing written (T67 #8); with other
        # days it overlaps: 409
        r = client.post("/assignments", json=body, headers=planner)
        assert r.status_code == 200 and r.json()["created"] is False, r.text
        assert r.json()["duty"] == duty
        later = str(monday + dt.timedelta(days=3))
        r = client.post("/assignments", json={**body, "valid_to": later}, headers=planner)
        assert r.status_code == 409 and str(monday) in r.json()["error"]
        r = client.post("/assignments", json={**body, "person": "NOBODY"}, headers=planner)
        assert r.status_code == 404 and "NOBODY" in r.json()["error"]
        r = client.post("/assignments", json={**body, "role": "street_chief"}, headers=planner)
        assert r.status_code == 422 and "not a street" in r.json()["error"]
        r = client.post("/assignments", json={**body, "valid_to": "2000-01-01"}, headers=planner)
        assert r.status_code == 422 and "before valid_from" in r.json()["error"]
        r = client.post("/assignments", json={**body, "valid_from": "1900-01-01"}, headers=planner)
        assert r.status_code == 422
        assert fingerprint(db) == before

        end = {"person": "S3", "target": alley, "role": "小巷管家", "last_day": str(monday)}
        r = client.post("/assignments/end", json=end, headers=viewer)
        assert r.status_code == 403
        r = client.post("/assignments/end", json=end, headers=planner)
        assert r.status_code == 200 and r.json()["duty"]["valid_to"] == str(monday), r.text
        r = client.post(
            "/assignments/end", json={**end, "last_day": str(monday - dt.timedelta(days=9))},
            headers=planner,
        )  # fmt: skip
        assert r.status_code == 422 and "before it starts" in r.json()["error"]
    assert ("S3", monday, monday) in _duties(db, alley)


def test_a_boolean_or_a_fraction_is_no_database_id(town, auth_headers):
    """T39 M4: a duty's person and target are text or a database id; JSON ``true`` was taken
    as id 1 (pydantic's lax int beside text): ``{"person": true}`` ended the duty of person
    1 (S1). Now true, false and a number with a point are refused as a value of neither
    type, in the app's words, and nothing changes; a whole number still names an id."""
    db, alley, s1 = town["db"], town["alley"], town["ids"]["S1"]
    assert s1 == 1  # the ids restart with each test: true would have named S1
    monday = _last_week()[0]
    set_body = {"person": "S2", "target": alley, "role": "alley_steward", "valid_from": str(monday)}
    end_body = {"person": "S1", "target": alley, "role": "alley_steward", "last_day": str(monday)}
    planner = auth_headers("planner", (SUBDISTRICT,))
    with TestClient(create_app(db)) as client:
        before = fingerprint(db)
        for path, body in (("/assignments", set_body), ("/assignments/end", end_body)):
            for field, value in itertools.product(("person", "target"), (True, False, 1.0)):
                r = client.post(path, json={**body, field: value}, headers=planner)
                got = "，收到 1.0" if value == 1.0 and not isinstance(value, bool) else ""
                assert r.status_code == 422, (path, field, value, r.text)
                assert r.json()["error"] == (
                    f"字段 {field} 须为文字或整数{got} {field}: Input should be a valid string "
                    "or a valid integer"
                ), (path, field, value, r.text)
        assert fingerprint(db) == before
        r = client.post("/assignments/end", json={**end_body, "person": s1}, headers=planner)
        assert r.status_code == 200 and r.json()["duty"]["person"] == "S1", r.text


def test_filling_gaps_keeps_a_co_steward_and_a_hand_given_duty(town):
    """`gridward assign alleys` without --rebalance fills unstaffed alleys only: it ended a
    co-steward's duty (the solver keeps one holder per alley) and duties of people it does
    not consider (no home near the area)."""
    from geo.staffing import commit, propose

    db, alley = town["db"], town["alley"]
    monday, _ = _last_week()
    assign_duty(db, "S3", Target("alley", town["alley_name"]), "alley_steward", monday)
    with db.begin() as conn:  # stewards with homes in the area, so the solver has people
        conn.execute(
            text(
                "UPDATE people SET home = (SELECT ST_PointOnSurface(geom) FROM areas "
                "WHERE code = :c) WHERE external_id IN ('S1', 'S2')"
            ),
            {"c": town["community"]},
        )
    before = _duties(db, alley)
    proposal = propose(db, "alleys", SUBDISTRICT)
    assert proposal["changes"]["end"] == 0, proposal["changes"]
    out = commit(db, proposal)
    assert out["ended"] == 0 and out["started"] > 0, out  # the gaps were filled
    assert _duties(db, alley) == before


def _homes(db, community: str, *people: str) -> None:
    """Give ``people`` homes in ``community``, so the solvers consider them."""
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE people SET home = (SELECT ST_PointOnSurface(geom) FROM areas "
                "WHERE code = :c) WHERE external_id = ANY(:p)"
            ),
            {"c": community, "p": list(people)},
        )


def test_filling_gaps_completes_a_grid_that_lost_its_leader(town):
    """A grid with a worker but no leader gets a leader when gaps are filled (it was left
    uncovered once a staffed item counted as held whatever role it lacked)."""
    from geo.staffing import propose

    db, ids = town["db"], town["ids"]
    _homes(db, town["community"], "L1", "L2", "W1")
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                "SELECT :w, 'grid_worker', id, :d FROM grids WHERE code = :g"
            ),
            {"w": ids["W1"], "g": town["grid"], "d": city_today() - dt.timedelta(days=10)},
        )
    pairs = {(r["role"], r["person_id"]) for r in propose(db, "grids", SUBDISTRICT)["pairs"]}
    assert ("grid_worker", ids["W1"]) in pairs  # kept
    assert {r for r, _ in pairs} >= {"grid_leader"}, pairs
    assert sum(r == "grid_leader" for r, _ in pairs) == 1


def test_a_commit_brings_a_planned_duty_forward_instead_of_doubling_it(town):
    """A person planned by hand on an alley from next week, whom a gap fill now gives that
    alley, holds it once, from today (they held it twice, overlapping)."""
    from geo.staffing import commit, propose

    db = town["db"]
    _homes(db, town["community"], "S1", "S2")
    first = propose(db, "alleys", SUBDISTRICT)
    item, person = next(
        (r["item_id"], r["person_id"]) for r in first["pairs"] if r["item_id"] != town["alley"]
    )
    ext = {v: k for k, v in town["ids"].items()}[person]
    planned = city_today() + dt.timedelta(days=7)
    assign_duty(db, ext, Target("alley", str(item)), "alley_steward", planned)
    proposal = propose(db, "alleys", SUBDISTRICT)
    assert {"item_id": item, "person_id": person, "role": "alley_steward"}.items() <= next(
        p for p in proposal["planned"] if p["item_id"] == item
    ).items()
    commit(db, proposal)
    mine = [r for r in _duties(db, item) if r[0] == ext]
    assert mine == [(ext, city_today(), None)], mine


def test_leaving_ends_stand_ins_and_planned_duties_and_stays_in_scope(town, auth_headers):
    """A leaver's bounded stand-in ends yesterday and a duty planned for later is removed
    (both stayed: only open-ended duties were ended); a planner may not let go of someone
    outside their areas (200 before, the person made inactive)."""
    from geo.duties import person_leaves

    db, alley = town["db"], town["alley"]
    today = city_today()
    assign_duty(db, "S2", Target("alley", alley), None, today - dt.timedelta(days=3),
                today + dt.timedelta(days=3))  # fmt: skip
    assign_duty(db, "S3", Target("alley", alley), None, today + dt.timedelta(days=5))
    sid = town["ids"]
    with TestClient(create_app(db)) as client:
        outside = auth_headers("planner", ("120101",))
        before = fingerprint(db)
        r = client.post(f"/people/{sid['S2']}/leave", headers=outside)
        assert r.status_code == 403, r.text
        assert fingerprint(db) == before
    assert person_leaves(db, sid["S2"])["duties_ended"] == 1
    assert person_leaves(db, sid["S3"])["duties_ended"] == 1
    assert _duties(db, alley) == [
        ("S1", town["since"], None),
        ("S2", today - dt.timedelta(days=3), today - dt.timedelta(days=1)),
    ]


def test_filling_grid_gaps_proposes_a_free_worker_not_a_busy_one(db, tmp_path) -> None:
    """Two grids of 100 households, each led. W1 works the west grid but lives in the east
    one; W2, free, lives in the west one; the east grid has no worker. Solved whole, the
    solver put W1 east and W2 west: W2 was not added west (its worker slot is held) and W1
    not east (already a worker), so the east grid stayed short with W2 idle (outside tester,
    5 grids short). Solved for the gaps only, W2 goes east; nobody gets a second grid."""
    import json

    from geo.staffing import propose

    comm = "110199001001"
    ring = [[116.40, 39.90], [116.41, 39.90], [116.41, 39.91], [116.40, 39.91], [116.40, 39.90]]
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "code": comm, "name": "测试社区", "level": "community"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}  # fmt: skip
    (tmp_path / "c.geojson").write_text(json.dumps(fc), "utf-8")
    import_areas(db, tmp_path / "c.geojson")
    grids = {"west": (116.400, 116.405), "east": (116.405, 116.410)}
    homes = {"L1": 116.401, "L2": 116.409, "W1": 116.408, "W2": 116.402}
    with db.begin() as conn:
        for i, (x0, x1) in enumerate(grids.values(), start=1):
            conn.execute(
                text(
                    "INSERT INTO grids (code, level, version, community_id, households, "
                    "building_count, flags, properties, geom) SELECT :g, 1, 1, id, 100, 1, "
                    "'[]', '{}', ST_Multi(ST_MakeEnvelope(:x0, 39.90, :x1, 39.91, 4326)) "
                    "FROM areas WHERE code = :c"
                ),
                {"g": f"{comm}00{i}", "x0": x0, "x1": x1, "c": comm},
            )
        for ext, x in homes.items():
            role = "grid_leader" if ext.startswith("L") else "grid_worker"
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles, home) VALUES (:e, :e, "
                    "ARRAY[:r], ST_SetSRID(ST_MakePoint(:x, 39.905), 4326))"
                ),
                {"e": ext, "r": role, "x": x},
            )
    since = city_today() - dt.timedelta(days=10)
    west, east = f"{comm}001", f"{comm}002"
    for person, grid, role in (("L1", west, "grid_leader"), ("L2", east, "grid_leader"),
                               ("W1", west, "grid_worker")):  # fmt: skip
        assign_duty(db, person, Target("grid", grid), role, since)
    proposal = propose(db, "grids", comm)
    with db.connect() as conn:
        ids = dict(conn.execute(text("SELECT id, external_id FROM people")).all())
        codes = dict(conn.execute(text("SELECT id, code FROM grids")).all())
    got = sorted((codes[p["item_id"]], ids[p["person_id"]], p["role"]) for p in proposal["pairs"])
    assert got == [
        (west, "L1", "grid_leader"),
        (west, "W1", "grid_worker"),
        (east, "L2", "grid_leader"),
        (east, "W2", "grid_worker"),
    ]
    assert proposal["uncovered"] == [] and proposal["changes"] == {"keep": 3, "end": 0, "start": 1}
    # kept duties show their distance too (home to grid: W1 lives 0.003° east of the west
    # grid, W2 as far west of the east one)
    dist = {(codes[p["item_id"]], ids[p["person_id"]]): p["distance_m"] for p in proposal["pairs"]}
    assert dist[(west, "L1")] == dist[(east, "L2")] == 0
    assert 250 < dist[(west, "W1")] < 260 and 250 < dist[(east, "W2")] < 260


def test_a_home_planner_may_not_end_duties_in_another_community(town, auth_headers) -> None:
    """F4 (outside tester W): W1 lives in another community and works grid G (and a planned
    stint on it); their home's planner ended G's duty through POST /people/{id}/leave (200),
    leaving G short of a worker. Now 403 naming the grid, nothing changed; G's planner
    (every duty they hold is in their areas) may."""
    db, grid, home = town["db"], town["grid"], "110108015004"
    assert not town["community"].startswith(home)
    today = city_today()
    with db.begin() as conn:
        conn.execute(
            text("UPDATE people SET area_id = (SELECT id FROM areas WHERE code = :c) "
                 "WHERE external_id = 'W1'"),
            {"c": home},
        )  # fmt: skip
    assign_duty(db, "W1", Target("grid", grid), "grid_worker", today - dt.timedelta(days=5),
                today + dt.timedelta(days=5))  # fmt: skip
    assign_duty(db, "W1", Target("grid", grid), "grid_worker", today + dt.timedelta(days=9))
    w1 = town["ids"]["W1"]
    home_planner = auth_headers("planner", (home,))
    with TestClient(create_app(db)) as client:
        before = fingerprint(db)
        r = client.post(f"/people/{w1}/leave", headers=home_planner)
        error = r.json()["error"]
        assert r.status_code == 403, r.text
        assert error.startswith("吴员 (W1) 在您的管辖区域外还有职责") and grid in error, error
        assert error.count(grid) == 1, error  # the two duties on G: G named once
        assert fingerprint(db) == before
        r = client.post(
            f"/people/{w1}/leave", headers=auth_headers("planner", (town["community"],))
        )
        assert r.status_code == 200 and r.json()["duties_ended"] == 2, r.text


def test_one_person_is_not_a_grids_leader_and_its_worker_at_once(town, pg_url) -> None:
    """F13 (outside tester W): W1 was accepted as grid G's 网格长 while its 专职网格员 (the
    1+N and 1-per-100 counts then counted them twice). Refused now, either way round, for an
    overlapping period (409 / exit 2), nothing changed; a leader's duty after the worker's
    ends is fine."""
    db, grid = town["db"], town["grid"]
    today = city_today()
    with db.begin() as conn:
        conn.execute(
            text("UPDATE people SET roles = ARRAY['grid_leader', 'grid_worker'] "
                 "WHERE external_id = 'W1'")
        )  # fmt: skip
    assign_duty(db, "W1", Target("grid", grid), "grid_worker", today, today + dt.timedelta(9))
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "W1", Target("grid", grid), "grid_leader", today + dt.timedelta(5),
                    replace=True)  # fmt: skip
    assert err.value.message.startswith(f"吴员 (W1) 已是网格 {grid} 的专职网格员"), err.value
    res = run_cli(["assign", "set", "--person", "W1", "--grid", grid, "--role", "网格长",
                   "--from", str(today)], pg_url)  # fmt: skip
    assert res.returncode == 2 and res.stderr.startswith("error: 吴员 (W1) 已是网格"), res.stderr
    assert fingerprint(db) == before
    later = today + dt.timedelta(10)
    assert assign_duty(db, "W1", Target("grid", grid), "grid_leader", later, replace=True)
    with pytest.raises(ConflictError):  # and the other way round
        assign_duty(db, "W1", Target("grid", grid), "grid_worker", later + dt.timedelta(3))


def test_a_full_time_worker_on_a_second_grid_is_warned(town, pg_url) -> None:
    """F13: a 专职网格员 on grids of two communities at once was accepted silently. Still
    accepted (a bounded stand-in across a line covers a vacancy; the solver gives more grids
    to a person whose registry capacity says so), with a warning naming the other grid and
    community; none when their capacity allows it."""
    db, grid = town["db"], town["grid"]
    other = "110108015004"
    with db.begin() as conn:
        second = conn.execute(
            text(
                "INSERT INTO grids (code, level, community_id, version, households, "
                "building_count, flags, properties, geom) SELECT code || '001', 1, id, 1, 300, "
                "10, '[]', '{}', geom FROM areas WHERE code = :c RETURNING code"
            ),
            {"c": other},
        ).scalar_one()
    today = city_today()
    assign_duty(db, "W1", Target("grid", grid), "grid_worker", today)
    res = run_cli(["assign", "set", "--person", "W1", "--grid", second, "--role", "grid_worker",
                   "--from", str(today), "--to", str(today + dt.timedelta(6))], pg_url)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: 吴员 (W1) 在此期间还是"), lines
    assert grid in lines[0] and town["community"] in lines[0], lines
    with db.begin() as conn:
        conn.execute(text("UPDATE people SET capacity = 3 WHERE external_id = 'W1'"))
    out = assign_duty(db, "W1", Target("grid", second), "grid_worker", today + dt.timedelta(8))
    assert "warnings" not in out, out


def test_leaving_an_unknown_person_out_of_scope_is_a_403(town, auth_headers) -> None:
    """404 for an id nobody has, 403 for one somebody has, told a planner of another area who
    exists; now both are 403."""
    with TestClient(create_app(town["db"])) as client:
        outside = auth_headers("planner", ("120101",))
        assert client.post("/people/999999/leave", headers=outside).status_code == 403
        admin = auth_headers("admin")
        assert client.post("/people/999999/leave", headers=admin).status_code == 404


# --------------------------------------------------------------------------------------------
# extending beside a co-holder; undoing a duty entered by mistake
# --------------------------------------------------------------------------------------------


def test_extending_a_duty_beside_a_long_time_co_holder_is_allowed(town):
    """S3 has shared alley A with S1 since last Monday; S1's end was entered too early. Ending
    S1 later (or setting them again from the next day) was refused as making them 'a co-holder
    beside 张三', who was their co-holder all along. Still refused: beside someone who took the
    alley on after S1's last day, and a second grid leader."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    monday = _last_week()[0]
    a = Target("alley", alley)
    assign_duty(db, "S3", a, None, monday, today - dt.timedelta(days=1))  # two adjacent rows:
    assign_duty(db, "S3", a, None, today)  # one continuous duty
    end_duty(db, "S1", a, None, today - dt.timedelta(days=3))

    out = end_duty(db, "S1", a, None, today + dt.timedelta(days=5), actor="t")
    assert out["changed"] and out["was_valid_to"] == str(today - dt.timedelta(days=3))
    assert _duties(db, alley) == [
        ("S1", town["since"], today + dt.timedelta(days=5)),
        ("S3", monday, today - dt.timedelta(days=1)),
        ("S3", today, None),
    ]
    # setting it again over its own days is still an overlap, now saying how to extend it
    with pytest.raises(ConflictError, match=f"assign end --last-day {today + dt.timedelta(9)}"):
        assign_duty(db, "S1", a, None, town["since"], today + dt.timedelta(days=9))
    with pytest.raises(
        ConflictError, match=f"add the days after it \\(from {today + dt.timedelta(6)}"
    ):
        assign_duty(db, "S1", a, None, today)
    # the other way to continue it, open-ended, from the day after: beside S3 too
    assign_duty(db, "S1", a, None, today + dt.timedelta(days=6))
    assert ("S1", today + dt.timedelta(days=6), None) in _duties(db, alley)

    # S2 takes the alley on (no replace) after S1's last day there: extending S1 into it
    # is still a decision for assign set
    street = Target("alley", alley)
    end_duty(db, "S3", street, None, today + dt.timedelta(days=1))
    assign_duty(db, "S2", street, None, today + dt.timedelta(days=30))
    end_duty(db, "S1", street, None, today + dt.timedelta(days=20))
    before = fingerprint(db)
    with pytest.raises(ConflictError, match=r"co-holder beside 李二 \(S2\).*took it on after"):
        end_duty(db, "S1", street, None, today + dt.timedelta(days=40))
    assert fingerprint(db) == before

    # S3, S1's co-holder up to yesterday, took the alley alone from today with --replace
    # (S1 resumes after): ending S1's first part later would quietly undo that, so not
    with db.begin() as conn:
        conn.execute(text("DELETE FROM assignments"))
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :a, :d)"
            ),
            {"p": town["ids"]["S1"], "a": alley, "d": town["since"]},
        )
    assign_duty(db, "S3", a, None, today - dt.timedelta(days=10), today - dt.timedelta(days=1))
    assign_duty(db, "S3", a, None, today, today + dt.timedelta(days=10), replace=True)
    before = fingerprint(db)
    with pytest.raises(ConflictError, match=r"co-holder beside 张三 \(S3\)"):
        end_duty(db, "S1", a, None, today + dt.timedelta(days=5))
    assert fingerprint(db) == before

    # a grid has one leader: extending L1 into L2's days is refused, beside W1 is not
    g = Target("grid", town["grid"])
    assign_duty(db, "L1", g, "grid_leader", today - dt.timedelta(days=30))
    assign_duty(db, "W1", g, "grid_worker", today - dt.timedelta(days=30))
    assign_duty(db, "L2", g, "grid_leader", today, replace=True)
    before = fingerprint(db)
    with pytest.raises(ConflictError, match="second 网格长 grid leader beside 周长 .*--replace"):
        end_duty(db, "L1", g, "grid_leader", today + dt.timedelta(days=3))
    assert fingerprint(db) == before


def _rows(db) -> list[tuple]:
    """Every duty exactly: id, person, role, target, period."""
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, person_id, role, street_id, grid_id, valid_from, valid_to "
                    "FROM assignments ORDER BY id"
                )
            ).all()
        ]


def _undo_entries(db) -> list[dict]:
    with db.connect() as conn:
        return [e for e in audit.entries(conn) if e["action"] == "assignments.undo"]


def test_undoing_a_backdated_mistake_puts_past_reports_back(town):
    """S2 was entered as replacing S1 from last Monday, but it was S3's alley, not S2's: the
    undo removes S2's duty, S1 holds the alley without a break again (the same row), last
    week's report is as before the mistake, and the audit log keeps the removed row."""
    db, alley, ids = town["db"], town["alley"], town["ids"]
    monday, wednesday = _last_week()
    _walk(db, ids["S1"], alley, wednesday)
    good = build_report(db, "weekly", wednesday)
    rows = _rows(db)
    mistake = assign_duty(db, "S2", Target("alley", alley), None, monday, replace=True, actor="p")
    wrong = build_report(db, "weekly", wednesday)
    assert list(_alley_day(wrong, alley, wednesday)["person_ids"]) == [ids["S2"]]

    out = undo_duty(db, mistake["duty"]["id"], "  录错人 wrong\n person ", actor="planner1")

    assert _rows(db) == rows
    assert [
        (r["action"], r["after"]["person"], r["after"]["valid_to"]) for r in out["restored"]
    ] == [("continues", "S1", None)]
    assert out["undone"]["person"] == "S2" and out["still_holds"] == []
    after = build_report(db, "weekly", wednesday)
    assert after["people"].equals(good["people"])
    row = _alley_day(after, alley, wednesday)
    assert row["patrolled"] and list(row["person_ids"]) == [ids["S1"]]
    (entry,) = _undo_entries(db)
    d = entry["detail"]
    assert (entry["actor"], entry["target_type"], entry["target_id"]) == (
        "planner1", "alley", str(alley))  # fmt: skip
    assert d["reason"] == "录错人 wrong person"
    assert d["removed"] == {
        "id": mistake["duty"]["id"],
        "person_id": ids["S2"],
        "person": "S2",
        "name": "李二",
        "valid_from": str(monday),
        "valid_to": None,
        "role": "alley_steward",
        "target": {"kind": "alley", "id": alley, "key": town["alley_key"],
                   "name": town["alley_name"]},
        "created_by": "p",
        "created_at": d["removed"]["created_at"],
    }  # fmt: skip
    assert d["removed"]["created_at"] and d["undoes"] is not None
    assert d["before"][0]["valid_to"] == str(monday - dt.timedelta(days=1))
    assert d["after"] == [out["restored"][0]["after"]] and d["after"][0]["valid_to"] is None
    assert PHONE not in str(d)
    with db.connect() as conn:  # the mistake itself stays in the history
        n = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'assignments.set'")
        ).scalar()
    assert n == 1
    # gone: a second undo is a 404
    with pytest.raises(NotFoundError, match="does not exist"):
        undo_duty(db, mistake["duty"]["id"])


def test_undoing_a_stand_in_gives_back_exactly_what_it_took(town):
    """A bounded replacement that cut S1 (who resumed after it), cancelled one planned duty of
    S2's and moved another: undone, every duty is as it was before it, ids included."""
    db, alley = town["db"], town["alley"]
    d = city_today() + dt.timedelta(days=3)
    a = Target("alley", alley)
    assign_duty(db, "S2", a, None, d + dt.timedelta(days=5), d + dt.timedelta(days=6))
    assign_duty(db, "S2", a, None, d + dt.timedelta(days=8), d + dt.timedelta(days=20))
    rows = _rows(db)
    out = assign_duty(db, "S3", a, None, d + dt.timedelta(days=2), d + dt.timedelta(days=10),
                      replace=True)  # fmt: skip
    assert [c["action"] for c in out["changes"]] == ["ended", "resumes", "deleted", "moved"]

    done = undo_duty(db, out["duty"]["id"], actor="t")

    assert _rows(db) == rows
    assert [r["action"] for r in done["restored"]] == ["continues", "reinstated", "starts again"]
    assert done["restored"][0]["merged"] == out["changes"][1]["id"]
    assert _duties(db, alley) == [
        ("S1", town["since"], None),
        ("S2", d + dt.timedelta(days=5), d + dt.timedelta(days=6)),
        ("S2", d + dt.timedelta(days=8), d + dt.timedelta(days=20)),
    ]
    (entry,) = _undo_entries(db)
    assert [r["action"] for r in entry["detail"]["restored"]] == [
        "continues", "reinstated", "starts again"]  # fmt: skip
    # a grid's one leader: L2 stood in for L1 over today; undone, L1 leads without a break
    g = Target("grid", town["grid"])
    today = city_today()
    assign_duty(db, "L1", g, "grid_leader", today - dt.timedelta(days=30))
    rows = _rows(db)
    out = assign_duty(db, "L2", g, "网格长", today - dt.timedelta(days=5),
                      today + dt.timedelta(days=5), replace=True)  # fmt: skip
    assert [c["action"] for c in out["changes"]] == ["ended", "resumes"]
    undo_duty(db, out["duty"]["id"])
    assert _rows(db) == rows


def test_undoing_a_past_stand_in_keeps_what_happened_to_the_resumed_duty(town):
    """A past two-week stand-in for S1, who left yesterday (their resumed duty ended then):
    undone, S1 holds the alley in one stretch up to their last day."""
    from geo.duties import person_leaves

    db, alley = town["db"], town["alley"]
    today = city_today()
    a = Target("alley", alley)
    start, end = today - dt.timedelta(days=30), today - dt.timedelta(days=17)
    out = assign_duty(db, "S3", a, None, start, end, replace=True)
    person_leaves(db, town["ids"]["S1"])
    assert _duties(db, alley) == [
        ("S1", town["since"], start - dt.timedelta(days=1)),
        ("S3", start, end),
        ("S1", end + dt.timedelta(days=1), today - dt.timedelta(days=1)),
    ]
    undo_duty(db, out["duty"]["id"])
    assert _duties(db, alley) == [("S1", town["since"], today - dt.timedelta(days=1))]


def test_undoing_a_replacement_whose_holders_changed_since_is_refused(town):
    """Undoing must give back exactly what the replacement took: when that is no longer
    possible it is refused naming what changed, with nothing changed, and --leave-others
    removes only the duty."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    monday = _last_week()[0]
    a = Target("alley", alley)
    # 1. S1's part before the stand-in was corrected since
    out = assign_duty(db, "S3", a, None, monday, today + dt.timedelta(days=3), replace=True)
    end_duty(db, "S1", a, None, monday - dt.timedelta(days=4))
    before = fingerprint(db)
    with pytest.raises(ConflictError) as err:
        undo_duty(db, out["duty"]["id"])
    msg = err.value.message
    assert f"duty {out['duty']['id']} (张三 (S3)" in msg
    assert "王一 (S1)'s duty" in msg and "was changed since" in msg
    assert f"now {town['since']} – {monday - dt.timedelta(days=4)}" in msg
    assert "nothing changed" in msg and "--leave-others" in msg
    assert fingerprint(db) == before
    # 2. the stand-in itself was shortened since
    end_duty(db, "S1", a, None, monday - dt.timedelta(days=1))
    end_duty(db, "S3", a, None, today)
    before = fingerprint(db)
    with pytest.raises(ConflictError, match="it was changed since it was set"):
        undo_duty(db, out["duty"]["id"])
    assert fingerprint(db) == before
    # leave the others as they are: only S3's duty goes, recorded so
    done = undo_duty(db, out["duty"]["id"], "wrong steward", leave_others=True, actor="t")
    assert done["restored"] == [] and [c["action"] for c in done["left_as_is"]] == [
        "ended", "resumes"]  # fmt: skip
    assert _duties(db, alley) == [
        ("S1", town["since"], monday - dt.timedelta(days=1)),
        ("S1", today + dt.timedelta(days=4), None),
    ]
    assert _undo_entries(db)[0]["detail"]["left_as_is"] == done["left_as_is"]


def test_undoing_a_replacement_of_someone_who_left_since_is_refused(town):
    """S2 replaced S1 from last Monday by mistake, and S1 has left since: giving S1 the alley
    back open-ended would be wrong, so it is refused; --leave-others removes S2's duty only."""
    from geo.duties import person_leaves

    db, alley = town["db"], town["alley"]
    monday = _last_week()[0]
    out = assign_duty(db, "S2", Target("alley", alley), None, monday, replace=True)
    person_leaves(db, town["ids"]["S1"])
    before = fingerprint(db)
    with pytest.raises(ConflictError, match=r"王一 \(S1\) has left since: nothing changed"):
        undo_duty(db, out["duty"]["id"])
    assert fingerprint(db) == before
    undo_duty(db, out["duty"]["id"], leave_others=True)
    assert _duties(db, alley) == [("S1", town["since"], monday - dt.timedelta(days=1))]


def test_api_undoes_a_duty_for_planners_in_scope(town, auth_headers):
    """DELETE /assignments/{id}: planners inside the alley's area and admins; out of scope
    (or for an id nobody has) a planner learns nothing (403); bad input 422, a refused
    restoration 409, all JSON; the reason from the body or the query reaches the audit log."""
    db, alley = town["db"], town["alley"]
    monday = _last_week()[0]
    planner = auth_headers("planner", (SUBDISTRICT,))
    outside = auth_headers("planner", ("120101",))
    admin = auth_headers("admin")
    refused = [auth_headers("viewer"), auth_headers("steward", person_id=town["ids"]["S2"]),
               outside]  # fmt: skip
    body = {"person": "S2", "target": alley, "role": "小巷管家", "valid_from": str(monday),
            "replace": True}  # fmt: skip
    with TestClient(create_app(db)) as client:
        duty = client.post("/assignments", json=body, headers=planner).json()["duty"]["id"]
        # the person's duties list it with the id the undo takes
        listed = client.get(f"/people/{town['ids']['S2']}/duties", headers=admin).json()
        assert duty in [d["id"] for d in listed["duties"]], listed
        # a duty no longer in force today is found with all=true; nobody: 404
        everything = client.get(
            f"/people/{town['ids']['S1']}/duties", params={"all": "true"}, headers=admin
        ).json()["duties"]
        today_only = client.get(f"/people/{town['ids']['S1']}/duties", headers=admin).json()
        ended = {d["id"] for d in everything} - {d["id"] for d in today_only["duties"]}
        assert ended and all(d["valid_to"] is not None for d in everything if d["id"] in ended)
        r = client.get("/people/999999/duties", headers=admin)
        assert r.status_code == 404 and "person 999999 does not exist" in r.json()["error"]
        before = fingerprint(db)
        for who in refused:
            r = client.delete(f"/assignments/{duty}", headers=who)
            assert r.status_code == 403 and "error" in r.json(), r.text
        assert client.delete(f"/assignments/{duty}").status_code == 401
        for who in (outside, planner):  # no such duty: a planner is not told so
            r = client.delete("/assignments/999999", headers=who)
            assert r.status_code == 403 and "999999" in r.json()["error"], r.text
        r = client.delete("/assignments/999999", headers=admin)
        assert r.status_code == 404 and "duty 999999 does not exist" in r.json()["error"]
        for url, kw, needle in [
            (f"/assignments/{duty}", {"params": {"reason": "a"}, "json": {"reason": "b"}}, "once"),
            (f"/assignments/{duty}", {"params": {"reason": "x" * 501}}, "reason"),
            (f"/assignments/{duty}", {"json": {"reason": "x" * 501}}, "reason"),
            (f"/assignments/{duty}", {"json": {"leave_others": "maybe"}}, "leave_others"),
            ("/assignments/abc", {}, "duty_id"),
            ("/assignments/0", {}, "duty_id"),
        ]:
            r = client.request("DELETE", url, headers=planner, **kw)
            assert r.status_code == 422 and needle in r.json()["error"], (url, kw, r.text)
        assert fingerprint(db) == before

        r = client.request(
            "DELETE", f"/assignments/{duty}", headers=planner, json={"reason": "录错人"}
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["undone"]["id"] == duty and out["reason"] == "录错人"
        assert [(x["action"], x["after"]["person"]) for x in out["restored"]] == [
            ("continues", "S1")
        ]
        assert PHONE not in r.text
        assert client.delete(f"/assignments/{duty}", headers=admin).status_code == 404
        assert _duties(db, alley) == [("S1", town["since"], None)]

        # S1's part before the replacement changed since: 409; leave_others in the query
        duty = client.post("/assignments", json=body, headers=planner).json()["duty"]["id"]
        end_duty(db, "S1", Target("alley", alley), None, monday - dt.timedelta(days=3))
        r = client.delete(f"/assignments/{duty}", headers=admin)
        assert r.status_code == 409 and "was changed since" in r.json()["error"], r.text
        r = client.delete(
            f"/assignments/{duty}", headers=planner,
            params={"reason": "wrong alley", "leave_others": "true"},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["restored"] == [], r.text
    assert _duties(db, alley) == [("S1", town["since"], monday - dt.timedelta(days=3))]
    entries = _undo_entries(db)
    assert [e["detail"]["reason"] for e in entries] == ["录错人", "wrong alley"]
    assert entries[0]["actor"].startswith("planner_")


def test_cli_undo_prints_one_line_and_bad_input_one_error(town, pg_url):
    db, alley, monday = town["db"], town["alley"], _last_week()[0]
    set_args = ["assign", "set", "--person", "S2", "--alley", str(alley), "--from", str(monday),
                "--replace"]  # fmt: skip
    res = run_cli(set_args, pg_url)
    assert res.returncode == 0, res.stderr
    duty = res.stdout.strip().rsplit("职责编号 duty id ", 1)[1].split(";")[0]
    assert duty.isdigit(), res.stdout

    before = fingerprint(db)
    for args, needle in [
        (["--duty", "abc"], "duty 'abc' is not a duty id"),
        (["--duty", "0"], "duty '0' is not a duty id"),
        (["--duty", "999999"], "duty 999999 does not exist"),
        (["--duty", duty, "--reason", "x" * 501], "at most 500"),
    ]:
        res = run_cli(["assign", "undo", *args], pg_url)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], res.stderr
    assert fingerprint(db) == before

    res = run_cli(["assign", "undo", "--duty", duty, "--reason", "录错人"], pg_url)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1, res.stdout
    assert lines[0].startswith("职责已撤销 duty undone: 李二 (S2) 小巷管家 alley steward")
    assert f" · 小巷 alley {town['alley_name']}（id:{alley}） · " in lines[0], lines[0]
    assert "#" not in lines[0], lines[0]
    assert f"恢复 continuous again: 王一 (S1) {town['since']} → 长期 open-ended" in lines[0]
    assert PHONE not in res.stdout
    assert _duties(db, alley) == [("S1", town["since"], None)]

    # a replacement whose holder changed since: one error line saying what to do
    res = run_cli(set_args, pg_url)
    duty = res.stdout.strip().rsplit("职责编号 duty id ", 1)[1].split(";")[0]
    end_duty(db, "S1", Target("alley", alley), None, monday - dt.timedelta(days=3))
    before = fingerprint(db)
    res = run_cli(["assign", "undo", "--duty", duty], pg_url)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert "was changed since" in err[0] and "--leave-others" in err[0]
    assert fingerprint(db) == before
    res = run_cli(["assign", "undo", "--duty", duty, "--leave-others"], pg_url)
    assert res.returncode == 0, res.stderr
    assert "其他职责未恢复，保持现状（职责 " in res.stdout
    assert "others left as they are (duties " in res.stdout
    assert res.stdout.count("\n") == 1


def test_a_streets_database_id_reads_id_n_in_the_chinese(town):
    """A street or alley in a duty message read 小巷 槐树胡同（#12）: the house writes a database
    id as id:N. Now （id:12） (and （id:12，属 社区代码） in a leave's list) in the Chinese, the
    English (#12) unchanged: the duty overlap, a leave's duties outside a planner's areas
    (geo.duties._held) and a staffing commit's clash (geo.staffing._refuse_line_clash)."""
    from geo.duties import _held
    from geo.staffing import _refuse_line_clash

    db, alley, name, s1 = town["db"], town["alley"], town["alley_name"], town["ids"]["S1"]
    with pytest.raises(ConflictError) as err:
        assign_duty(db, "S1", Target("alley", alley), None, city_today(), replace=True)
    msg = err.value.message
    assert f"起已是小巷 {name}（id:{alley}）的小巷管家（alley_steward" in msg, msg
    assert "（#" not in msg and f"alley {name} (#{alley})" in msg, msg
    with db.connect() as conn:
        held = _held(conn, s1, city_today() - dt.timedelta(days=1))
        with pytest.raises(ConflictError) as err:
            _refuse_line_clash(conn, alley, "alley_steward", s1, city_today(), None, 5)
    assert [label for _path, label in held] == [
        f"小巷 {name}（id:{alley}，属 {town['community']}）"
    ]
    assert err.value.message.startswith(f"小巷 {name}（id:{alley}）：此人已是小巷管家"), err.value
    assert f"alley {name} (#{alley}): they already hold it" in err.value.message


def test_ending_a_duty_before_it_starts_says_how_to_cancel_it(town, pg_url):
    """Outside tester T38, L7: ending a duty planned from tomorrow on today said only
    "…不能在开始前的 … 结束", with no way out, and ran a grid's code into the next word
    (网格 110108015001004的). Now it names the undo (CLI and API, the message is shared by
    both) and spaces the code; a duty begun already is told its earliest last day."""
    db, grid, alley = town["db"], town["grid"], town["alley"]
    today = city_today()
    duty = assign_duty(db, "W1", Target("grid", grid), "grid_worker", today + dt.timedelta(1))
    n = duty["duty"]["id"]
    before = fingerprint(db)
    res = run_cli(["assign", "end", "--person", "W1", "--grid", grid, "--role", "grid_worker",
                   "--last-day", str(today)], pg_url)  # fmt: skip
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert f"吴员 (W1) 在网格 {grid} 的专职网格员" in err[0], err
    assert f"不能在开始前的 {today} 结束；要取消尚未开始的职责 {n}，请撤销它" in err[0], err
    assert f"（gridward assign undo --duty {n}；API DELETE /assignments/{n}）" in err[0], err
    assert f"before it starts; to cancel duty {n}, which has not begun, undo it " in err[0]
    assert err[0].endswith(f"(gridward assign undo --duty {n}; API DELETE /assignments/{n})")
    assert fingerprint(db) == before
    undo_duty(db, n, None, False)  # as it says
    assert not [d for d in _rows(db) if d[0] == n]
    # a duty in force since 60 days ago: not "not begun"; its earliest last day, or undo
    since = town["since"]
    with pytest.raises(InputError) as exc:
        end_duty(db, "S1", Target("alley", alley), None, since - dt.timedelta(days=1))
    msg = exc.value.message
    assert f"最后一天最早为 {since}；如职责 " in msg and "尚未开始" not in msg, msg
    assert f"the earliest last day is {since}; if duty " in msg, msg
