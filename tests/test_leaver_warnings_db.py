"""A person who left (people.active false) named for a track upload, a track reassignment or
an account link: taken as before (a walk from before they left may come in late; an account
may be made before they come back), but said, Chinese first, with what the walk credits as
the reports count it (outside tester T37, F12).

Old code: all three were taken without a word (no leaver line in the upload's ``warnings``,
no ``warning`` in the reassignment's answer, nothing on stderr of ``users add/set``), so
every test here fails on it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.day_networks import walk_network
from geo.duties import person_leaves
from geo.track_store import set_track_person
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_accounts_admin import cli as cli  # noqa: F401 (the fixture)
from tests.test_tracks_db import _csv, _patrolled, _post, _walk_with_duty
from tests.test_tracks_db import demo as demo  # noqa: F401 (the fixture)
from tests.test_users_person_link import _main

LEFT_ZH = "已离岗"
HELD = "credits the patrol duties they still held on the day walked"
NO_DUTY = "held no patrol duty (alley steward or street chief) on the day walked"


def _leavers(db) -> None:
    """S2 (id 2) left with no duty; S3 (id 3) active."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles, active) VALUES "
                "('S2', '李小巷', ARRAY['alley_steward'], false), "
                "('S3', '张小巷', ARRAY['alley_steward'], true)"
            )
        )


def _left_lines(item: dict) -> list[str]:
    return [w for w in item.get("warnings", []) if LEFT_ZH in w]


def test_an_upload_for_a_leaver_is_stored_and_says_what_it_credits(demo, auth_headers):
    """S1 walked on their duty the day before they left; the file comes in after: stored,
    credited (the reports count a walk by the duties of its day), and the answer says they
    left and that it counts. A walk for S2, who left holding no duty: stored, credits
    nothing, and the answer says so and how to bring them back."""
    _leavers(demo)
    admin = auth_headers("admin")
    pts, day = _walk_with_duty(demo, 31)
    walked = dt.date.fromisoformat(day)
    net = walk_network(demo)
    before, _ = simulate_patrol(net, np.random.default_rng(30), SimParams(length_m=400))
    with TestClient(create_app(demo)) as client:
        # while active: no word of leaving
        first = _post(client, admin, [("a.csv", _csv(before))], person="S1").json()
        assert "track_id" in first["files"][0] and _left_lines(first["files"][0]) == [], first
        person_leaves(demo, 1, actor="t", day=walked + dt.timedelta(days=1))
        r = _post(client, admin, [("w.csv", _csv(pts))], person="S1")
        item = r.json()["files"][0]
        assert r.status_code == 201 and item["status"] == "matched", r.text
        (line,) = _left_lines(item)
        assert line.startswith(
            f"人员 王小巷（人员编号 S1，系统编号 id:1）已离岗；轨迹照常保存，按行走当天（{day}）"
            "此人仍有效的巡查职责计入巡查 person 王小巷 (S1, id:1) has left (inactive); the "
            f"track is stored and {HELD} ({day})"
        ), line
        assert _patrolled(client, admin, day)[1] > 0  # the late file of a walk before leaving

        other, _ = simulate_patrol(net, np.random.default_rng(32), SimParams(length_m=400))
        r = _post(client, admin, [("s2.csv", _csv(other))], person="S2")
        item = r.json()["files"][0]
        assert r.status_code == 201 and item["created"], r.text
        (line,) = _left_lines(item)
        assert (
            line.startswith("人员 李小巷（人员编号 S2，系统编号 id:2）已离岗，行走当天（")
            and "此人没有有效的巡查职责（小巷管家或街巷长）：轨迹照常保存，但不计入任何巡查" in line
        )
        assert "gridward import people 名册文件 --reactivate" in line, line
        assert f"person 李小巷 (S2, id:2) has left (inactive) and {NO_DUTY}" in line, line
        assert "the track is stored but credits no patrol" in line, line
        assert _patrolled(client, admin, day).get(2, 0) == 0


def test_a_track_reassigned_to_a_leaver_answers_a_warning(demo, auth_headers):
    """set_track_person (tracks reassign, PATCH /tracks/{id}) to someone who left: done, with a
    ``warning``; to an active person: no ``warning`` key."""
    _leavers(demo)
    admin = auth_headers("admin")
    pts, _day = _walk_with_duty(demo, 33)
    with TestClient(create_app(demo)) as client:
        tid = _post(client, admin, [("w.csv", _csv(pts))], person="S3").json()["files"][0][
            "track_id"
        ]
        r = client.patch(f"/tracks/{tid}", json={"person": "S2"}, headers=admin)
        assert r.status_code == 200 and r.json()["changed"], r.text
        warning = r.json()["warning"]
        assert warning.startswith("人员 李小巷（人员编号 S2，系统编号 id:2）已离岗，行走当天（"), (
            warning
        )
        assert "轨迹已改归此人，但不计入任何巡查" in warning, warning
        assert "the track is theirs now but credits no patrol" in warning, warning
        r = client.patch(f"/tracks/{tid}", json={"person": "S3"}, headers=admin)
        assert r.status_code == 200 and "warning" not in r.json(), r.text
    done = set_track_person(demo, tid, 2, "t")
    assert done["changed"] and "已离岗" in done["warning"], done


def test_users_add_and_set_with_a_leaver_warn_on_stderr(db, cli, monkeypatch, capsys):
    """The account is made (it may be made before they come back) and linked; stderr says
    they left and that walks after that credit nothing until they are back with duties."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles, active) VALUES "
                "('X1', '赵走', ARRAY['alley_steward'], false), "
                "('S1', '王在', ARRAY['alley_steward'], true)"
            )
        )
        gone = conn.execute(text("SELECT id FROM people WHERE external_id = 'X1'")).scalar_one()
    code, err = _main(
        monkeypatch, capsys, "users", "add", "t-x", "--role", "steward", "--person", "X1"
    )
    assert code == 0, err
    (line,) = [e for e in err if "已离岗" in e]
    assert line.startswith(
        f"warning: 人员 赵走（人员编号 X1，系统编号 id:{gone}）已离岗：账号 t-x 已关联此人；"
        "离岗时其职责已结束，此账号上传的离岗后的行走不计入巡查"
    ), line
    # T39 L16: the English names them in the house form too (it read "registry id X1,
    # people.id 5")
    assert f"person 赵走 (X1, id:{gone}) has left (inactive)" in line, line
    assert "registry id" not in line and "people.id" not in line, line
    with db.connect() as conn:
        linked = conn.execute(text("SELECT person_id FROM users WHERE username = 't-x'")).scalar()
    assert linked == gone
    # an active person: no such line
    code, err = _main(
        monkeypatch, capsys, "users", "add", "t-s", "--role", "steward", "--person", "S1"
    )
    assert code == 0 and not any("已离岗" in e for e in err), err
    # users set: to the leaver (after unlinking the first account), and again unchanged
    assert _main(monkeypatch, capsys, "users", "set", "t-x", "--no-person")[0] == 0
    for _ in range(2):
        code, err = _main(monkeypatch, capsys, "users", "set", "t-s", "--person", "X1")
        assert code == 0 and any(e.startswith("warning: 人员 赵走") for e in err), err


def test_cli_upload_for_a_leaver_prints_the_warning(demo, pg_url, tmp_path):
    """gridward tracks upload --person: the leaver line is on the file's line, the walk
    stored (exit 0)."""
    from tests.test_import import run_cli

    _leavers(demo)
    walk, _ = simulate_patrol(
        walk_network(demo), np.random.default_rng(34), SimParams(length_m=400)
    )
    path = tmp_path / "s2.csv"
    path.write_bytes(_csv(walk))
    res = run_cli(["tracks", "upload", str(path), "--person", "S2"], pg_url)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "warning: 人员 李小巷（人员编号 S2，系统编号 id:2）已离岗，行走当天（" in res.stdout, (
        res.stdout
    )
    with demo.connect() as conn:
        assert conn.execute(text("SELECT person_id FROM tracks")).scalars().all() == [2]
