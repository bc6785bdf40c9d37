"""Blank cells and what a people import changed (outside tester T67, #1 and #9), on PostGIS.

Old code: a blank cell of the roles column removed every role (``DEMO0005,,13911112222,,,``,
meant to change the phone only, left the steward without her role while she still held her
alley: a state ``POST /assignments`` refuses to create); a blank phone, capacity or part-time
cell wrote over the stored value; no cell could remove roles on purpose (``无`` was refused
as an unknown role); and the answer was only ``{"people_read": N}``, the same for a new
person, a change and a file imported twice. Each test below fails on that code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.duties import Target, end_duty
from geo.people_export import export_people
from geo.people_import import import_people
from geo.settings import city_today
from tests.test_assign_cli import run_against as _cli
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_duties_db import PHONE, SUBDISTRICT
from tests.test_duties_db import town as town  # noqa: F401 (the fixture)


def _person(db, ext: str) -> Any:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT name, phone, roles, capacity, part_time FROM people WHERE external_id = :e"
            ),
            {"e": ext},
        ).one()


def _send(client: TestClient, body: str, headers: dict[str, str]) -> Any:
    files = {"file": ("名册.csv", body.encode("utf-8"), "text/csv")}
    return client.post("/people/import", files=files, headers=headers)


def _home(db) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """A point inside a stored building of the demo city (a new person's home)."""
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p FROM "
                    "buildings b JOIN areas a ON a.id = b.community_id WHERE a.code LIKE :s "
                    "ORDER BY b.id LIMIT 1) q"
                ),
                {"s": SUBDISTRICT + "%"},
            ).one()
        )


def test_t67_blank_role_cells_keep_the_roles_and_the_duty(town, auth_headers) -> None:  # noqa: F811
    """#1, the tester's two files through the API: the phone changes, the roles (and S2's
    part-time flag) stay, so S1's alley duty still has its role and S2 can be given one
    (``POST /assignments`` refused her, 422 "does not hold the role")."""
    db, alley = town["db"], town["alley"]
    with db.begin() as conn:
        conn.execute(text("UPDATE people SET part_time = true WHERE external_id = 'S2'"))
    admin = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        one = _send(client, "人员编号,姓名,手机号,角色,经度,纬度\nS1,,13911112222,,,\n", admin)
        assert one.status_code == 200, one.text
        two = _send(client, "人员编号,手机号,角色,兼职\nS2,13900000007,,\n", admin)
        assert two.status_code == 200, two.text
        assert tuple(_person(db, "S1")) == ("王一", "13911112222", ["alley_steward"], None, False)
        assert tuple(_person(db, "S2")) == ("李二", "13900000007", ["alley_steward"], None, True)
        body = {"person": "S2", "target": alley, "role": "alley_steward",
                "valid_from": str(city_today())}  # fmt: skip
        r = client.post("/assignments", json=body, headers=admin)
        assert r.status_code == 201, r.text
        assert [c["person"] for c in r.json()["co_holders"]] == ["S1"], r.text
    out = one.json()
    assert (out["created"], out["updated"], out["unchanged"]) == (0, 1, 0), out
    assert out["updated_ids"] == ["S1"] and out["created_ids"] == [], out
    assert "warnings" not in out and two.json()["updated_ids"] == ["S2"], out


def test_blank_phone_and_capacity_keep_them_and_words_clear_them(town, tmp_path) -> None:  # noqa: F811
    """#1: a blank phone keeps the stored one (无 clears it, as the README says); a blank
    capacity keeps the stored one (默认 / default puts the person back on the default); a
    file that changes nothing reports every row unchanged."""
    db = town["db"]
    with db.begin() as conn:
        conn.execute(text("UPDATE people SET capacity = 3 WHERE external_id IN ('S1', 'S2')"))
    p = tmp_path / "p.csv"
    p.write_text("人员编号,姓名,手机号,容量\nS1,王一,,\nS2,,,\n", "utf-8")
    out = import_people(db, p)
    assert tuple(_person(db, "S1"))[:4] == ("王一", PHONE, ["alley_steward"], 3.0)
    assert tuple(_person(db, "S2"))[:4] == ("李二", None, ["alley_steward"], 3.0)
    assert (out["created"], out["updated"], out["unchanged"]) == (0, 0, 2), out
    p.write_text("人员编号,手机号,容量\nS1,无,默认\nS2,,default\n", "utf-8")
    out = import_people(db, p)
    assert tuple(_person(db, "S1"))[1:4] == ("", ["alley_steward"], None)
    assert tuple(_person(db, "S2"))[1:4] == (None, ["alley_steward"], None)
    assert out["updated_ids"] == ["S1", "S2"] and out["unchanged"] == 0, out


def test_none_removes_roles_but_not_one_a_duty_needs(town, tmp_path) -> None:  # noqa: F811
    """#1: 无 / none / - in the roles column removes the roles; a role a duty in force needs
    (S1's alley) is kept for that person, named in a warning with the duty and the command
    that ends it; once the duty has ended, the same row removes it. A role cell naming other
    roles keeps the needed one the same way (it had left S1 holding her alley as a chief)."""
    db, alley = town["db"], town["alley"]
    p = tmp_path / "roles.csv"
    p.write_text("人员编号,角色\nS1,无\nS2,none\nS3,-\n", "utf-8")
    out = import_people(db, p)
    assert out["updated_ids"] == ["S2", "S3"] and out["unchanged"] == 1, out
    assert _person(db, "S2").roles == [] and _person(db, "S3").roles == []
    assert _person(db, "S1").roles == ["alley_steward"]
    with db.connect() as conn:
        duty = conn.execute(
            text("SELECT a.id FROM assignments a JOIN people p ON p.id = a.person_id "
                 "WHERE p.external_id = 'S1'")
        ).scalar_one()  # fmt: skip
    [said] = out["warnings"]
    assert said.startswith(
        "1 人的角色未按文件去掉：其在岗或已安排的职责需要该角色，已保留（S1 王一："
        f"小巷管家（alley_steward），职责 {duty}：小巷 {alley} {town['alley_name']}，自 "
        f"{town['since']} 起）"
    ), said
    assert f"gridward assign end --person S1 --alley {alley} --last-day YYYY-MM-DD" in said
    assert "1 person keeps a role the file removes" in said, said

    p.write_text("人员编号,角色\nS1,街巷长\n", "utf-8")
    out = import_people(db, p)
    assert _person(db, "S1").roles == ["street_chief", "alley_steward"], out
    assert out["updated_ids"] == ["S1"] and len(out["warnings"]) == 1, out

    yesterday = city_today() - dt.timedelta(days=1)
    end_duty(db, "S1", Target("alley", alley), "alley_steward", yesterday)
    p.write_text("人员编号,角色\nS1,无\n", "utf-8")
    out = import_people(db, p)
    assert _person(db, "S1").roles == [] and "warnings" not in out, out


def test_the_answer_tells_created_updated_and_unchanged(town, auth_headers) -> None:  # noqa: F811
    """#9 through the API: a new person is created, the same file again changes nothing,
    a changed phone is an update; the OpenAPI document describes the answer."""
    db = town["db"]
    x, y = _home(db)
    admin = auth_headers("admin")
    new = f"人员编号,姓名,手机号,角色,经度,纬度\nN1,新人,13800000001,小巷管家,{x},{y}\n"
    with TestClient(create_app(db)) as client:
        out = _send(client, new, admin).json()
        assert (out["created"], out["updated"], out["unchanged"]) == (1, 0, 0), out
        assert out["created_ids"] == ["N1"] and out["people_read"] == 1, out
        out = _send(client, new, admin).json()
        assert (out["created"], out["updated"], out["unchanged"]) == (0, 0, 1), out
        assert out["created_ids"] == [] and out["updated_ids"] == [], out
        out = _send(client, new.replace("13800000001", "13800000002"), admin).json()
        assert (out["created"], out["updated"], out["unchanged"]) == (0, 1, 0), out
        assert out["updated_ids"] == ["N1"], out
        schema = client.get("/openapi.json").json()
    answer = schema["paths"]["/people/import"]["post"]["responses"]["200"]["content"]
    ref = answer["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][ref]["properties"]
    assert {"people_read", "created", "updated", "unchanged", "created_ids", "updated_ids",
            "warnings", "kept_inactive", "reactivated"} <= set(fields)  # fmt: skip


def test_an_exported_registry_imports_back_unchanged(town, tmp_path) -> None:  # noqa: F811
    """#9: gridward's own export of the registry, imported back, is every row unchanged
    (a sync job's check that nothing drifted), homes in buildings included."""
    db = town["db"]
    x, y = _home(db)
    p = tmp_path / "new.csv"
    p.write_text(f"人员编号,姓名,角色,经度,纬度,容量\nN1,新人,街巷长,{x},{y},2\n", "utf-8")
    assert import_people(db, p)["created_ids"] == ["N1"]
    out_file = tmp_path / "名册.xlsx"
    n = export_people(db, out_file)
    out = import_people(db, out_file)
    assert (out["people_read"], out["created"], out["updated"], out["unchanged"]) == (n, 0, 0, n)


def test_the_cli_line_counts_and_blank_roles_keep(
    town,  # noqa: F811
    tmp_path,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#1 and #9 on the command line: the tester's row keeps the role, and the line says
    what changed (new keys after people_read; people_read and the others kept)."""
    db = town["db"]
    p = tmp_path / "p.csv"
    p.write_text("人员编号,姓名,手机号,角色,经度,纬度\nS1,,13911112222,,,\n", "utf-8")
    res = _cli(monkeypatch, pg_url, run_inproc, "import", "people", str(p))
    assert res.returncode == 0, res.stderr
    assert _person(db, "S1").roles == ["alley_steward"]
    assert res.stdout.strip() == (
        "已导入人员：读入 1 人，新增 0 人，更新 1 人，未变 0 人 "
        "people_read=1, created=0, updated=1, unchanged=0"
    ), res.stdout
    res = _cli(monkeypatch, pg_url, run_inproc, "import", "people", str(p))
    assert res.stdout.strip().endswith("people_read=1, created=0, updated=0, unchanged=1"), (
        res.stdout
    )
