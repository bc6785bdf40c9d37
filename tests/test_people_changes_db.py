"""People changing over time (outside tester T43, "the city over time"), on a real PostGIS.

Old code: a roster with a new registry id for a registered person (same name and home)
imported a second person without a word, and no command changed a registry id (#5); a roster
leaving out an active person said nothing (#6); ``assign end`` was silent about the person's
later duty on the same alley, the leave always ended duties yesterday, answered
``{"duties_ended": 1}`` and had no command (#7); a revert's commit named only the grids short
of staff, not the one holding the merged grid's whole staff, nor that staff are re-derived
(#8). Each test below fails on that code.
"""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.duties import Target, assign_duty, end_duty
from geo.errors import ConflictError
from geo.people_import import import_people, renumber_person
from geo.plans import commit_plan, create_plan
from geo.settings import city_today, get_settings
from tests.dbcheck import fingerprint
from tests.test_assign_cli import run_against as _cli
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_duties_db import town  # noqa: F401 (a fixture)
from tests.test_people_import_db import A, B, _full_roster, place  # noqa: F401 (a fixture)
from tests.test_plan_commit_duties_db import _commit_merged, _grids, _staff_every_grid
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)


def _person(db, ext: str):  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return conn.execute(
            text("SELECT id, external_id, name, active FROM people WHERE external_id = :e"),
            {"e": ext},
        ).first()


def _grid_duty(db, person_id: int, community: str) -> None:  # type: ignore[no-untyped-def]
    """A worker's duty on a level-1 grid of ``community`` (made for it) since 2026-10-01."""
    with db.begin() as conn:
        grid = conn.execute(
            text(
                "INSERT INTO grids (code, level, community_id, version, households, "
                "building_count, flags, properties, geom) SELECT code || '001', 1, id, 1, 300, "
                "10, '[]', '{}', geom FROM areas WHERE code = :c RETURNING id"
            ),
            {"c": community},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, grid_id, valid_from) "
                "VALUES (:p, 'grid_worker', :g, '2026-10-01')"
            ),
            {"p": person_id, "g": grid},
        )


# ---------------------------------------------------------------------------------------------
# #5 a renumbered person
# ---------------------------------------------------------------------------------------------


def test_a_new_id_with_a_registered_name_and_home_is_warned_and_renumber_joins_them(
    place,  # noqa: F811
    tmp_path,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#5: W003 王五 comes back as W003B with the same home: imported (two people may share a
    name and a home), with a warning naming both and the command; ``people renumber`` gives
    W003's record (duties kept) the new id and removes the empty W003B the import made."""
    db, xy = place
    import_people(db, _full_roster(tmp_path, xy))
    (bx, by) = xy[B]
    w3 = _person(db, "W003")
    _grid_duty(db, w3.id, B)  # a duty W003 held, to see it kept
    renum = tmp_path / "renum.csv"
    renum.write_text(f"人员编号,姓名,经度,纬度\nW003B,王五,{bx},{by}\n", "utf-8")
    out = import_people(db, renum)
    assert out["people_read"] == 1
    [said] = [w for w in out["warnings"] if "换了人员编号" in w]
    assert said.startswith(
        "1 名新登记的人员与名册外一名在岗人员同名，住址或电话也相同，像是同一人换了人员编号，"
        f"已作为新人员导入（新编号 W003B 王五 与 W003 王五（系统编号 id:{w3.id}）同名、住址相同）"
        "；如确为同一人，请把旧编号改为新编号：gridward people renumber W003 W003B"
    ), said
    assert f"new W003B 王五 ~ W003 王五 (id:{w3.id}): same name and home" in said, said
    assert _person(db, "W003B") is not None  # imported, as before

    res = _cli(monkeypatch, pg_url, run_inproc, "people", "renumber", "W003", "W003B")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(
        f"王五（系统编号 id:{w3.id}）的人员编号已由 W003 改为 W003B，其职责、轨迹和账号不变；"
        "原以 W003B 登记的空记录"
    ), res.stdout
    now = _person(db, "W003B")
    assert (now.id, now.active) == (w3.id, True) and _person(db, "W003") is None
    with db.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM assignments WHERE person_id = :p"), {"p": w3.id}
        ).scalar()
        entry = conn.execute(
            text(
                "SELECT detail FROM audit_log WHERE action = 'person.renumber' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).scalar()
    assert held == 1
    assert (entry["from"], entry["to"], entry["removed"]["name"]) == ("W003", "W003B", "王五")
    # the roster again: no second person, no warning of a renumbering
    out = import_people(db, renum)
    assert not any("换了人员编号" in w for w in out.get("warnings", [])), out


def test_renumber_to_an_id_that_holds_something_is_refused(place, tmp_path) -> None:  # noqa: F811
    """A record under the new id that holds a duty (or has another name) is another person's,
    or needs a planner's merge: refused, naming what it holds, nothing changed; a free id is
    taken in place."""
    db, xy = place
    import_people(db, _full_roster(tmp_path, xy))
    w1, w2 = _person(db, "W001"), _person(db, "W002")
    _grid_duty(db, w2.id, A)
    before = fingerprint(db)
    try:
        renumber_person(db, w1.id, "W002")
    except ConflictError as exc:
        assert exc.message.startswith(
            f"人员编号 W002 已属于 李四（系统编号 id:{w2.id}），它已有职责 1 条，不能直接把 张三"
        ), exc.message
        # in words, not table names (T45 #12: "it holds 1 assignments")
        assert f"belongs to 李四 (id:{w2.id}) and it holds 1 duty: 张三 (W001, id:" in exc.message
    else:
        raise AssertionError("not refused")
    assert fingerprint(db) == before
    out = renumber_person(db, w1.id, "W001-2026")
    assert out["removed"] is None and _person(db, "W001-2026").id == w1.id


def test_what_a_record_holds_is_said_in_english_words() -> None:
    """T45 #12: the English read "holds 1 assignments, 1 patrol_visits, 1 tracks"."""
    from geo.people_import import _held_en

    held = {"assignments": 1, "patrol_visits": 1, "tracks": 1}
    assert _held_en(held) == "1 duty, 1 patrol visit and 1 track"
    assert _held_en({"assignments": 2, "users": 1}) == "2 duties and 1 account"
    assert _held_en({"tracks": 3}) == "3 tracks"


def test_renumber_and_leave_help_open_with_a_chinese_description() -> None:
    """T45 #11: the pages' description was the docstring's English alone, broken where its
    source lines ended (an import warns of a new id with the / name and home ...)."""
    from typer.testing import CliRunner

    from api.cli import app

    for cmd, zh, en in (
        (
            "renumber",
            "名册中某人的人员编号变了时使用： 导入时会提示新编号与某在岗人员同名同住址；",
            "For a registry id changed in the office's roster (an import warns of a new id with "
            "the name and home of a registered person):",
        ),
        (
            "leave",
            "此人从今天起记为已离岗； 其在最后一天（--last-day，默认昨天，最晚今天）",
            "The person is inactive from today; their duties reaching past the last day",
        ),
    ):
        res = CliRunner().invoke(app, ["people", cmd, "--help"], env={"COLUMNS": "2000"})
        assert res.exit_code == 0, res.output
        lines = [ln.strip() for ln in res.stdout.splitlines()]
        (para,) = [ln for ln in lines if ln.startswith(zh)]  # one paragraph, Chinese first
        assert en in para, para


# ---------------------------------------------------------------------------------------------
# #6 a roster without an active person
# ---------------------------------------------------------------------------------------------


def test_a_roster_without_an_active_person_says_so(place, tmp_path) -> None:  # noqa: F811
    """#6: a roster of ten again without 王五 (W003): she stays active, duties unchanged, and
    the import names her with the way to enter a leave. A sheet of a few of the people (ids
    and homes from another office) says nothing of the rest."""
    db, xy = place
    (ax, ay) = xy[A]
    rows = [f"W{k:03d},人{k},{ax},{ay}" for k in range(1, 11)]
    rows[2] = f"W003,王五,{ax},{ay}"
    roster = tmp_path / "roster.csv"
    roster.write_text("人员编号,姓名,经度,纬度\n" + "\n".join(rows) + "\n", "utf-8")
    import_people(db, roster)
    short = tmp_path / "short.csv"
    short.write_text("人员编号,姓名,经度,纬度\n" + "\n".join(rows[:2] + rows[3:]) + "\n", "utf-8")
    out = import_people(db, short)
    [said] = [w for w in out["warnings"] if w.startswith("名册中没有")]
    assert said.startswith(
        "名册中没有 1 名在岗人员（仍在岗，职责不变）：王五 (W003)；如有人已离岗，请为其办理离岗"
        "（gridward people leave W003 --last-day YYYY-MM-DD；API POST /people/{id}/leave）"
    ), said
    assert "1 active registered person is not in this file (still active, duties " in said
    assert _person(db, "W003").active is True
    some = tmp_path / "some.csv"
    some.write_text("人员编号,姓名\n" + "\n".join(r.rsplit(",", 2)[0] for r in rows[:8]), "utf-8")
    assert not any(w.startswith("名册中没有") for w in import_people(db, some).get("warnings", []))


# ---------------------------------------------------------------------------------------------
# #7 later duties, a leave with a last day
# ---------------------------------------------------------------------------------------------


def test_ending_a_duty_names_the_later_one_still_held(
    town,  # noqa: F811
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#7: S2 held the alley [-20, -10] and again from -5 on; ending the first on -12 said
    nothing of the second. The answer lists it, and the CLI warns with the commands."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    day = lambda n: today + dt.timedelta(days=n)  # noqa: E731
    assign_duty(db, "S2", Target("alley", alley), None, day(-20), day(-10))
    later = assign_duty(db, "S2", Target("alley", alley), None, day(-5))["duty"]["id"]
    out = end_duty(db, "S2", Target("alley", alley), None, day(-12))
    assert [d["id"] for d in out["later_duties"]] == [later]
    [said] = out["warnings"]
    assert said.startswith(
        f"李二 (S2) 在小巷 {town['alley_name']}（id:{alley}）的小巷管家（alley_steward）职责此后"
        f"还有 1 项，仍然有效、未结束：{day(-5)} 起（长期）（职责编号 {later}）；如也要结束，"
        f"请另行结束（gridward assign end --person S2 --alley {alley} --last-day YYYY-MM-DD，"
        f"最后一天不早于其开始日 {day(-5)}"
    ), said
    res = _cli(
        monkeypatch, pg_url, run_inproc,
        "assign", "end", "--person", "S2", "--alley", str(alley), "--last-day", str(day(-11)),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("职责已结束 duty ended: 李二")
    assert res.stderr.startswith("warning: 李二 (S2) 在小巷 ") and f"duty {later})" in res.stderr


def test_a_leave_takes_a_last_day_answers_in_words_and_has_a_command(
    town,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#7: POST /people/{id}/leave takes a last day (a future one, or one before a duty that
    began after it and has been in force: 422, nothing changed) and answers in words with the
    counts; ``gridward people leave`` does the same."""
    db, alley = town["db"], town["alley"]
    today = city_today()
    sid = town["ids"]
    day = lambda n: today + dt.timedelta(days=n)  # noqa: E731
    assign_duty(db, "S2", Target("alley", alley), None, day(-20), day(-10))
    begun = assign_duty(db, "S2", Target("alley", alley), None, day(-5))["duty"]["id"]
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        before = fingerprint(db)
        r = client.post(f"/people/{sid['S2']}/leave", json={"last_day": str(day(1))}, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith(f"最后一天 {day(1)} 在将来（今天是 {today}）"), r.text
        r = client.post(f"/people/{sid['S2']}/leave?last_day={day(-12)}", headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith(
            f"李二 (S2) 的最后一天不能定在 {day(-12)}：其 1 项职责在这天之后才开始，且已生效"
            f"（小巷 {town['alley_name']}（id:{alley}） 小巷管家 {day(-5)} 起（长期）（职责编号 "
            f"{begun}））"
        ), r.text
        assert f"give a last day from {day(-5)} on" in r.json()["error"]
        assert fingerprint(db) == before
        r = client.post(
            f"/people/{sid['S2']}/leave", json={"last_day": str(day(-3))}, headers=admin
        )
        assert r.status_code == 200, r.text
    got = r.json()
    assert (got["duties_ended"], got["ended"], got["removed"]) == (1, 1, 0), got
    assert (got["person"], got["last_day"]) == ("S2", str(day(-3)))
    assert got["message"].startswith(
        f"李二（人员编号 S2，系统编号 id:{sid['S2']}）已离岗，最后一天为 {day(-3)}：1 项职责在这天"
        "结束，0 项"
    ), got
    with db.connect() as conn:
        assert conn.execute(
            text("SELECT valid_to FROM assignments WHERE id = :i"), {"i": begun}
        ).scalar() == day(-3)

    # the command: S3 has a planned duty, removed; the default last day is yesterday
    assign_duty(db, "S3", Target("alley", alley), None, day(4))
    res = _cli(monkeypatch, pg_url, run_inproc, "people", "leave", "S3")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(
        f"张三（人员编号 S3，系统编号 id:{sid['S3']}）已离岗，最后一天为 {day(-1)}：0 项职责在这天"
        "结束，1 项在这天之后才开始（尚未生效）的职责已删除"
    ), res.stdout
    assert _person(db, "S3").active is False
    res = _cli(monkeypatch, pg_url, run_inproc, "people", "leave", "S1", "--last-day", "2026-02-30")
    assert res.returncode == 2 and "--last-day" in res.stderr, res.stderr
    assert _person(db, "S1").active is True


# ---------------------------------------------------------------------------------------------
# #8 a revert's commit
# ---------------------------------------------------------------------------------------------


def test_a_reverts_commit_names_the_overstaffed_grid_and_says_staff_are_not_restored(
    demo,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#8: grids a and b merged (version 2), every duty of both carried to a; a revert to
    version 1 brings b back, and its commit carries the merged grid's staff to a again. The
    commit named b short of staff only; now a is named with more workers than its households
    need, and the revert and the commit say staff are re-derived, not restored."""
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        first = _plan_committed(demo)
        _staff_every_grid(demo, city_today() - dt.timedelta(days=10))
        old = _grids(client, planner, first)
        a, b = sorted(old)[:2]
        _commit_merged(client, planner, old, a, b)
    res = _cli(monkeypatch, pg_url, run_inproc, "plans", "revert", COMMUNITY, "--version", "1")
    assert res.returncode == 0, res.stderr
    assert (
        "  提交后网格职责按住户转入新网格（与任何提交一样），不恢复第 1 版当时的人员安排 "
        in res.stdout
    )
    with demo.connect() as conn:
        draft = conn.execute(text("SELECT max(id) FROM grid_plans")).scalar()
    res = _cli(monkeypatch, pg_url, run_inproc, "plans", "commit", str(draft))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(x.startswith("此方案恢复的是第 1 版的网格，不恢复当时的人员") for x in lines), lines
    [head] = [x for x in lines if "个网格人员富余" in x]
    assert head.startswith("1 个网格人员富余：可用 'gridward assign grids --area ")
    [line] = [x for x in lines if x.startswith(f"  {a}  ") and "只需" in x]
    with demo.connect() as conn:
        hh, workers = conn.execute(
            text(
                "SELECT g.households, (SELECT count(*) FROM assignments x WHERE x.grid_id = g.id "
                "AND x.role = 'grid_worker' AND x.valid_to IS NULL) FROM grids g "
                "WHERE g.code = :c AND g.retired_at IS NULL AND g.level = 1"
            ),
            {"c": a},
        ).one()
    need = -(-hh // get_settings().households_per_worker)
    assert workers > need
    assert line.startswith(
        f"  {a}  {hh} 户：专职网格员 {workers} 名，按户数只需 {need} 名，另有网格长 1 名  "
    ), line
    assert any(x.startswith(f"  {b}  ") and "no leader" in x for x in lines), lines


def _plan_committed(engine) -> int:
    """A 300–500 plan of the community, committed (version 1); its id."""
    plan_id = create_plan(engine, COMMUNITY, 300, 500, created_by="t")
    commit_plan(engine, plan_id, actor="t")
    return plan_id
