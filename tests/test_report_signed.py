"""Signed (签发) period reports: a closed week's report kept as it was signed.

The district's monthly evaluation and the subdistrict's weekly check are signed and published
(公示); a withdrawal afterwards changed the live figures and ranks, and nothing gave back the
figures that were signed. The town of :mod:`tests.test_patrol_reports_more_db` (week of
2025-06-16, closed long before the real today the API and CLI run at).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.duties import end_duty
from geo.settings import city_today
from geo.track_withdraw import withdraw_track
from tests.test_patrol_reports_more_db import COMMUNITY, WED, _at, _cli, town  # noqa: F401

SINCE_SIGNED = "签发后有改动"


def _prepare(db: Any, people: dict[str, int]) -> int:
    """Duties set before the week, T's walk of B timed in it (sent in time): T's track id."""
    with db.begin() as conn:
        conn.execute(text("UPDATE assignments SET created_at = TIMESTAMPTZ '2025-05-01 09:00+08'"))
        conn.execute(
            text(
                "UPDATE tracks SET started_at = :a, ended_at = :b, uploaded_at = :b "
                "WHERE person_id = :p"
            ),
            {"a": _at(WED, 9), "b": _at(WED, 9, 30), "p": people["T"]},
        )
        return conn.execute(
            text("SELECT id FROM tracks WHERE person_id = :p"), {"p": people["T"]}
        ).scalar_one()


def _row(body: dict, pid: int) -> dict:
    return next(r for r in body["people"] if r["person_id"] == pid)


def _count(db: Any) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM report_signoffs")).scalar_one()


def test_a_signed_week_keeps_its_figures_after_a_withdrawal(town, auth_headers, pg_url, tmp_path):  # noqa: ANN001, F811
    db, people = town["db"], town["people"]
    t_track = _prepare(db, people)
    admin = auth_headers("admin")
    week = {"date": str(WED)}
    with TestClient(create_app(db)) as client:
        before = client.get("/reports/weekly", params=week, headers=admin).json()
        assert before["signed"] is None  # never signed: reads as before
        got = client.post("/reports/weekly/sign", params=week, headers=admin, json={})
        assert got.status_code == 201, got.text
        first = got.json()
        assert first["version"] == 1 and first["kind"] == "weekly" and first["area"] is None
        assert first["period_from"] == "2025-06-16" and first["period_to"] == "2025-06-22"
        # signing changes no figure: the live report's data time stays
        live = client.get("/reports/weekly", params=week, headers=admin).json()
        assert live["data_as_of"] == before["data_as_of"] == first["data_as_of"]
        assert live["signed"]["id"] == first["id"] and live["signed"]["changed"] is False
        assert live["signed"]["sha256"] == first["sha256"]
        assert not any(SINCE_SIGNED in n for n in live["notes"])
        xlsx_at_signing = client.get(
            f"/reports/signed/{first['id']}", params={"format": "xlsx"}, headers=admin
        )
        assert xlsx_at_signing.status_code == 200
        assert xlsx_at_signing.headers["content-type"].startswith("application/vnd.openxml")
        assert hashlib.sha256(xlsx_at_signing.content).hexdigest() == first["sha256"]
        about = pd.read_excel(io.BytesIO(xlsx_at_signing.content), sheet_name="报表 report")
        said = about.set_index("项目 item")["值 value"]
        assert said["签发 signed"].startswith("签发件：第 1 版"), said["签发 signed"]
        # the live XLSX says it was signed too
        live_xlsx = client.get(
            "/reports/weekly", params={**week, "format": "xlsx"}, headers=admin
        ).content
        live_about = pd.read_excel(io.BytesIO(live_xlsx), sheet_name="报表 report")
        assert live_about["值 value"].astype(str).str.startswith("本期已签发（第 1 版").any()

        # T's walk withdrawn after the signing: the live figures change, the signed stay
        withdraw_track(db, t_track, reason="wrong file", actor="cli")
        after = client.get("/reports/weekly", params=week, headers=admin).json()
        assert after["signed"]["changed"] is True
        t_then, t_now = _row(before, people["T"]), _row(after, people["T"])
        assert t_now["patrolled_alley_days"] < t_then["patrolled_alley_days"], (t_then, t_now)
        note = next(n for n in after["notes"] if SINCE_SIGNED in n)
        assert "第 1 版" in note and "撤回 1" in note, note
        assert "changed since it was signed (version 1" in note and "1 withdrawn" in note, note
        copy = client.get(f"/reports/signed/{first['id']}", headers=admin)
        assert copy.status_code == 200
        doc = copy.json()
        assert _row(doc, people["T"]) == t_then  # the figures as signed
        assert doc["people"] == before["people"] and doc["areas"] == before["areas"]
        assert doc["signed"]["version"] == 1 and doc["signed"]["sha256"] == first["sha256"]
        assert doc["data_as_of"] == before["data_as_of"]
        assert list(doc["people"][0]) == doc["columns"]["people"]
        assert list(doc) == list(before) and list(doc["columns"]) == list(before["columns"])
        again = client.get(
            f"/reports/signed/{first['id']}", params={"format": "xlsx"}, headers=admin
        ).content
        assert again == xlsx_at_signing.content  # byte for byte, after the change

        # the CLI writes the same bytes
        out = tmp_path / "signed.xlsx"
        res = _cli(["report", "signed", "--id", str(first["id"]), "--out", str(out)], pg_url)
        assert res.returncode == 0, res.stderr
        assert out.read_bytes() == xlsx_at_signing.content
        res = _cli(
            ["report", "signed", "--id", str(first["id"]), "--out", str(tmp_path / "s.json")],
            pg_url,
        )
        assert res.returncode == 0, res.stderr
        assert json.loads((tmp_path / "s.json").read_text())["people"] == before["people"]
        assert (tmp_path / "s.json").read_bytes() == copy.content

        # signed again (a correction): version 2, both listed
        second = client.post(
            "/reports/weekly/sign", json={"date": str(WED), "note": "撤回后更正"}, headers=admin
        ).json()
        assert second["version"] == 2 and second["note"] == "撤回后更正"
        listed = client.get("/reports/signed", headers=admin).json()["signoffs"]
        assert [(r["id"], r["version"]) for r in listed] == [(first["id"], 1), (second["id"], 2)]
        newest = client.get("/reports/weekly", params=week, headers=admin).json()
        assert newest["signed"]["version"] == 2 and newest["signed"]["changed"] is False
        assert not any(SINCE_SIGNED in n for n in newest["notes"])
        assert (
            _row(client.get(f"/reports/signed/{second['id']}", headers=admin).json(), people["T"])
            == t_now
        )
    res = _cli(["report", "signed", "--json"], pg_url)
    assert res.returncode == 0, res.stderr
    assert [r["version"] for r in json.loads(res.stdout)] == [1, 2]
    res = _cli(["report", "weekly", "--date", str(WED)], pg_url)
    assert res.returncode == 0, res.stderr
    assert "已签发：第 2 版" in res.stdout, res.stdout
    with db.connect() as conn:
        entries = conn.execute(
            text("SELECT target_id, detail FROM audit_log WHERE action = 'report.sign' ORDER BY id")
        ).all()
    assert [e.target_id for e in entries] == [str(first["id"]), str(second["id"])]
    assert entries[0].detail["sha256"] == first["sha256"] and entries[1].detail["version"] == 2


def test_an_ended_duty_is_named_since_signing_and_the_cli_signs(town, pg_url) -> None:  # noqa: ANN001, F811
    db, people, alleys = town["db"], town["people"], town["alleys"]
    _prepare(db, people)
    res = _cli(["report", "sign", "weekly", "--date", str(WED), "--area", COMMUNITY], pg_url)
    assert res.returncode == 0, res.stderr
    assert "第 1 版" in res.stdout and "version 1" in res.stdout, res.stdout
    with db.connect() as conn:
        by = conn.execute(text("SELECT signed_by FROM report_signoffs")).scalar_one()
    assert by.startswith("cli:"), by
    end_duty(db, people["S"], alleys["D"], "alley_steward", dt.date(2025, 6, 17), actor="cli")
    res = _cli(["report", "weekly", "--date", str(WED), "--area", COMMUNITY], pg_url)
    assert res.returncode == 0, res.stderr
    assert SINCE_SIGNED in res.stdout and "1 条职责于" in res.stdout, res.stdout
    # a duty set after the signing, from Thursday: the days it holds in the week are named
    thu, sun = WED + dt.timedelta(days=1), WED + dt.timedelta(days=4)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :f)"
            ),
            {"p": people["X"], "s": alleys["A"], "f": thu},
        )
    res = _cli(["report", "weekly", "--date", str(WED), "--area", COMMUNITY], pg_url)
    assert f"补设，其在岗日子落在本期内：{thu} 至 {sun}" in res.stdout, res.stdout
    assert f"with days in this period: {thu} to {sun}" in res.stdout, res.stdout
    # the whole city's report was never signed: no note of it
    res = _cli(["report", "weekly", "--date", str(WED)], pg_url)
    assert SINCE_SIGNED not in res.stdout and "已签发：" not in res.stdout, res.stdout
    res = _cli(["report", "signed"], pg_url)
    assert res.returncode == 0 and COMMUNITY in res.stdout and "weekly" in res.stdout, res.stdout
    res = _cli(["report", "signed", "--out", "x.xlsx"], pg_url)
    assert res.returncode == 2 and "--out 须与 --id 一起用" in res.stderr, res.stderr


def test_what_cannot_be_signed_stores_nothing(town, auth_headers, pg_url) -> None:  # noqa: ANN001, F811
    db = town["db"]
    admin = auth_headers("admin")
    today = city_today()
    with TestClient(create_app(db)) as client:
        running = client.post("/reports/weekly/sign", params={"date": str(today)}, headers=admin)
        assert running.status_code == 422
        assert running.json()["error"].startswith("报表期尚未结束"), running.json()
        assert "is still running" in running.json()["error"]
        future = today + dt.timedelta(days=40)
        got = client.post("/reports/monthly/sign", params={"date": str(future)}, headers=admin)
        assert got.status_code == 422, got.text
        got = client.post(
            "/reports/weekly/sign", params={"date": str(WED), "area": "999999999"}, headers=admin
        )
        assert got.status_code == 404 and "999999999" in got.json()["error"], got.text
        got = client.post(
            "/reports/weekly/sign", json={"date": str(WED), "note": "x" * 501}, headers=admin
        )
        assert got.status_code == 422, got.text
        got = client.post(
            "/reports/weekly/sign", params={"date": str(WED), "data": "1"}, headers=admin
        )
        assert got.status_code == 422 and "'data'" in got.json()["error"], got.text
        got = client.post("/reports/yearly/sign", params={"date": str(WED)}, headers=admin)
        assert got.status_code == 422, got.text
        got = client.post("/reports/weekly/sign", headers=admin)
        assert got.status_code == 422 and "date" in got.json()["error"], got.text
        got = client.post(
            "/reports/weekly/sign",
            params={"date": str(WED)},
            json={"date": str(WED)},
            headers=admin,
        )
        assert got.status_code == 422, got.text
    res = _cli(["report", "sign", "daily", "--date", str(today)], pg_url)
    assert res.returncode == 2 and "报表期尚未结束" in res.stderr, res.stderr
    res = _cli(["report", "sign", "weekly", "--date", str(WED), "--note", "y" * 501], pg_url)
    assert res.returncode == 2 and "签发说明过长" in res.stderr, res.stderr
    res = _cli(["report", "sign", "fortnightly", "--date", str(WED)], pg_url)
    assert res.returncode == 2 and "报表类型" in res.stderr, res.stderr
    assert _count(db) == 0


def test_who_may_sign_and_read(town, auth_headers) -> None:  # noqa: ANN001, F811
    db, people = town["db"], town["people"]
    planner_in = auth_headers("planner", areas=("110108",))
    planner_out = auth_headers("planner", areas=("120101",))
    viewer = auth_headers("viewer")
    steward = auth_headers("steward", person_id=people["R"])
    admin = auth_headers("admin")
    week = {"date": str(WED), "area": COMMUNITY}
    with TestClient(create_app(db)) as client:
        got = client.post("/reports/weekly/sign", params=week, headers=planner_out)
        assert got.status_code == 403 and got.json()["error"].startswith("不在您的管辖区域内")
        got = client.post("/reports/weekly/sign", params={"date": str(WED)}, headers=planner_in)
        assert got.status_code == 403 and got.json()["error"].startswith("全市报表"), got.text
        for who in (viewer, steward):
            got = client.post("/reports/weekly/sign", params=week, headers=who)
            assert got.status_code == 403 and got.json()["error"].startswith("您的角色为")
        assert _count(db) == 0
        got = client.post("/reports/weekly/sign", params=week, headers=planner_in)
        assert got.status_code == 201, got.text
        sid = got.json()["id"]
        city = client.post("/reports/weekly/sign", params={"date": str(WED)}, headers=admin)
        assert city.status_code == 201, city.text
        for who in (admin, viewer):
            listed = client.get("/reports/signed", headers=who).json()["signoffs"]
            assert len(listed) == 2
        listed = client.get("/reports/signed", headers=planner_in).json()["signoffs"]
        assert [r["id"] for r in listed] == [sid]  # the city's is not in their areas
        assert client.get("/reports/signed", headers=planner_out).json()["signoffs"] == []
        assert client.get(f"/reports/signed/{sid}", headers=planner_in).status_code == 200
        assert client.get(f"/reports/signed/{sid}", headers=viewer).status_code == 200
        got = client.get(f"/reports/signed/{sid}", headers=planner_out)
        assert got.status_code == 403, got.text
        got = client.get(f"/reports/signed/{city.json()['id']}", headers=planner_in)
        assert got.status_code == 403, got.text
        for path in ("/reports/signed", f"/reports/signed/{sid}"):
            assert client.get(path, headers=steward).status_code == 403
        # stewards do not read signoffs: not in their live report either (T58 F4)
        live = client.get("/reports/weekly", params=week, headers=steward).json()
        assert live["signed"] is None
        live = client.get("/reports/weekly", params=week, headers=viewer).json()
        assert live["signed"]["id"] == sid
        listed = client.get("/reports/signed", params={"area": COMMUNITY}, headers=admin).json()
        assert [r["id"] for r in listed["signoffs"]] == [sid]
        got = client.get("/reports/signed", params={"since": "2025-07-01"}, headers=admin)
        assert got.json()["signoffs"] == []
        got = client.get("/reports/signed", params={"kind": "monthly"}, headers=admin)
        assert got.json()["signoffs"] == []
        assert client.get("/reports/signed/99999", headers=admin).status_code == 404
        got = client.get("/reports/signed", params={"knd": "weekly"}, headers=admin)
        assert got.status_code == 422


def test_a_steward_reads_no_signoff_nor_others_changes(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T58 F4: a steward's live report carried the signoff (its signer, sha256) and the
    since-signing note on another person's withdrawn walk."""
    db, people = town["db"], town["people"]
    t_track = _prepare(db, people)
    week = {"date": str(WED), "area": COMMUNITY}
    admin, viewer = auth_headers("admin"), auth_headers("viewer")
    steward = auth_headers("steward", person_id=people["S"])
    with TestClient(create_app(db)) as client:
        got = client.post("/reports/weekly/sign", params=week, headers=admin)
        assert got.status_code == 201, got.text
        withdraw_track(db, t_track, reason="wrong file", actor="cli")
        seen = client.get("/reports/weekly", params=week, headers=viewer).json()
        assert seen["signed"]["changed"] is True
        assert any(SINCE_SIGNED in n for n in seen["notes"]), seen["notes"]
        own = client.get("/reports/weekly", params=week, headers=steward).json()
        assert own["signed"] is None, own["signed"]
        assert not any(SINCE_SIGNED in n or "签发" in n for n in own["notes"]), own["notes"]
        xlsx = client.get(
            "/reports/weekly", params={**week, "format": "xlsx"}, headers=steward
        ).content
        about = pd.read_excel(io.BytesIO(xlsx), sheet_name="报表 report")
        assert not about["值 value"].astype(str).str.contains("签发").any()


def test_a_day_off_the_calendar_is_told_why(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T58 F13: the API said only "YYYY-MM-DD" of 2025-02-29; the CLI says why."""
    admin = auth_headers("admin")
    why = ("2025 年 2 月只有 28 天", "February 2025 has 28 days")
    with TestClient(create_app(town["db"])) as client:
        for got in (
            client.get("/reports/daily", params={"date": "2025-02-29"}, headers=admin),
            client.post("/reports/daily/sign", params={"date": "2025-02-29"}, headers=admin),
            client.post("/reports/daily/sign", json={"date": "2025-02-29"}, headers=admin),
            client.get("/reports/signed", params={"since": "2025-02-29"}, headers=admin),
        ):
            said = got.json()["error"]
            assert got.status_code == 422 and all(w in said for w in why), said
            assert said.startswith(("参数 date", "字段 date", "参数 since")), said
        got = client.get("/reports/monthly", params={"date": "2025-13-01"}, headers=admin)
        assert got.status_code == 422 and "没有 13 月" in got.json()["error"], got.text
        got = client.get("/reports/daily", params={"date": "20250228"}, headers=admin)
        assert got.status_code == 422 and "YYYY-MM-DD" in got.json()["error"], got.text
    assert _count(town["db"]) == 0


def test_a_note_with_invisible_characters_is_refused(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T58 F15: U+202E, U+200B, DEL and U+0085 were stored and printed as they were."""
    admin = auth_headers("admin")
    with TestClient(create_app(town["db"])) as client:
        for note, said in (
            ("周查\u202e签发", "U+202E"),
            ("周查\u200b签发", "U+200B"),
            ("周查\x7f签发", "\\x7f"),
            ("周查\x85签发", "\\x85"),
        ):
            got = client.post(
                "/reports/weekly/sign", json={"date": str(WED), "note": note}, headers=admin
            )
            assert got.status_code == 422 and said in got.json()["error"], got.text
            assert got.json()["error"].startswith("签发说明含"), got.text
    assert _count(town["db"]) == 0


def test_a_note_with_a_line_or_paragraph_separator_is_refused(town, auth_headers, pg_url) -> None:  # noqa: ANN001, E501, F811
    """U+2028 and U+2029 were stored and broke the rows and lines of ``report signed``: they
    are refused as the invisible ones are, named, Chinese first, by the API and the CLI (one
    ``error:`` line, exit 2, nothing signed). An ordinary newline and a tab stay allowed."""
    admin = auth_headers("admin")
    with TestClient(create_app(town["db"])) as client:
        for note, code, zh in (
            ("周查\u2028签发", "U+2028", "行分隔符"),
            ("周查\u2029签发", "U+2029", "段落分隔符"),
        ):
            got = client.post(
                "/reports/weekly/sign", json={"date": str(WED), "note": note}, headers=admin
            )
            said = got.json()["error"]
            assert got.status_code == 422 and said.startswith(f"签发说明含{zh} {code}"), said
            assert f"the note holds {code}, a Unicode line or paragraph separator" in said, said
        assert _count(town["db"]) == 0
        res = _cli(
            ["report", "sign", "weekly", "--date", str(WED), "--note", "周查\u2028签发"], pg_url
        )
        assert res.returncode == 2 and "签发说明含行分隔符 U+2028" in res.stderr, res.stderr
        assert [ln for ln in res.stderr.splitlines() if ln.strip()][0].startswith("error: ")
        assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1, res.stderr
        assert _count(town["db"]) == 0
        got = client.post(
            "/reports/weekly/sign",
            json={"date": str(WED), "note": "第一行\n第二行\t完"},
            headers=admin,
        )
        assert got.status_code == 201 and got.json()["note"] == "第一行\n第二行\t完", got.text
        # a Windows line end (a browser form, Notepad) is a newline, not a refused CR
        got = client.post(
            "/reports/weekly/sign",
            json={"date": str(WED), "note": "第一行\r\n第二行"},
            headers=admin,
        )
        assert got.status_code == 201 and got.json()["note"] == "第一行\n第二行", got.text


def test_the_signed_copy_and_a_live_file_tell_themselves_apart(town, auth_headers) -> None:  # noqa: ANN001, F811
    """T58 F16, F17: the live XLSX of a signed period said 已签发 as the signed copy did, and
    the signer's note was in neither."""
    db = town["db"]
    _prepare(db, town["people"])
    admin = auth_headers("admin")
    week = {"date": str(WED)}
    with TestClient(create_app(db)) as client:
        got = client.post(
            "/reports/weekly/sign", json={**week, "note": "更正：撤回后重签"}, headers=admin
        )
        assert got.status_code == 201, got.text
        sid = got.json()["id"]
        copy = client.get(f"/reports/signed/{sid}", params={"format": "xlsx"}, headers=admin)
        said = pd.read_excel(io.BytesIO(copy.content), sheet_name="报表 report")
        said = said.set_index("项目 item")["值 value"]
        assert said["签发 signed"].startswith("签发件：第 1 版"), said["签发 signed"]
        assert "the signed copy: version 1" in said["签发 signed"]
        assert said["签发说明 signing note"] == "更正：撤回后重签"
        live = client.get("/reports/weekly", params={**week, "format": "xlsx"}, headers=admin)
        said = pd.read_excel(io.BytesIO(live.content), sheet_name="报表 report")
        said = said.set_index("项目 item")["值 value"]
        line = said["签发 signed"]
        assert "实时数据，非签发件" in line and "not the signed copy" in line, line
        # the time the file was made, 北京时间 in the Chinese, the zone id in the English
        made = str(said["生成时间 made at"]).removesuffix("（北京时间 Asia/Shanghai）")
        assert f"{made}（北京时间）生成" in line and f"made at {made} Asia/Shanghai" in line, line
        assert "签发说明 signing note" not in said.index


def test_the_same_signing_sent_again_stores_nothing_new(town, auth_headers, pg_url) -> None:  # noqa: ANN001, F811
    """T59 #4: a city month takes tens of seconds to sign; a client that gave up waiting and
    sent it again stored version N+1, identical but for its time. The same signer, note and
    data again get the version already stored (200, ``repeated``); another note, another
    signer or changed data is a correction, version N+1, as before."""
    db = town["db"]
    admin = auth_headers("admin")
    week = {"date": str(WED), "note": "月底签发（重试）"}
    with TestClient(create_app(db)) as client:
        first = client.post("/reports/weekly/sign", json=week, headers=admin)
        assert first.status_code == 201 and "repeated" not in first.json(), first.text
        stored = _count(db)
        again = client.post("/reports/weekly/sign", json=week, headers=admin)
        assert again.status_code == 200, again.text
        assert again.json() == {**first.json(), "repeated": True}
        assert _count(db) == stored
        # the CLI signs as cli:<OS user>: another signer, so a new version; then it repeats
        args = ["report", "sign", "weekly", "--date", str(WED), "--note", week["note"]]
        res = _cli(args, pg_url)
        assert res.returncode == 0 and "已签发" in res.stdout, res.stderr
        assert _count(db) == stored + 1
        res = _cli(args, pg_url)
        assert res.returncode == 0 and res.stdout.startswith("此前已签发"), res.stdout
        assert "nothing new stored" in res.stdout and _count(db) == stored + 1
        # another note is a correction
        other = client.post("/reports/weekly/sign", json={**week, "note": "更正"}, headers=admin)
        assert other.status_code == 201 and other.json()["version"] > first.json()["version"]
        assert _count(db) == stored + 2
