"""The words for a patrol person's account, role ``steward`` (outside tester T40, #8 and #13).

The one role ``steward`` is the account of anyone who patrols for themselves: alley stewards
(小巷管家) and street chiefs (街巷长) alike. The CLI's users lines and the API's 403s called
every such account 小巷管家, so a street chief read he was a steward. They say
巡查人员（小巷管家/街巷长） now; the English is as it was. A Chinese list of three reads
A、B或C, not A或B或C. Real PostGIS, the real CLI and API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.app import create_app
from geo.models import Person
from tests.test_accounts_admin import cli as cli  # noqa: F401 (the fixture)

PEOPLE = Person.__table__
LABEL = "巡查人员（小巷管家/街巷长）"


def _people(db) -> tuple[int, int]:
    """A steward and a street chief of the registry: their people.ids."""
    with db.begin() as conn:
        return tuple(
            conn.execute(
                insert(PEOPLE)
                .values(external_id=code, name=name, roles=[role])
                .returning(PEOPLE.c.id)
            ).scalar_one()
            for code, name, role in (
                ("S1", "王小巷", "alley_steward"),
                ("C1", "赵街长", "street_chief"),
            )
        )


def test_the_api_names_a_patrol_account_for_both_and_lists_roles_with_a_comma(
    db, auth_headers
) -> None:
    """(T40 #8) a street chief's 403 for another person said 小巷管家只能为本人办理; (T40 #13)
    a steward on a viewer's page read 需要管理员或规划员或查看员权限."""
    steward, chief = _people(db)
    chief_headers = auth_headers("steward", person_id=chief)
    with TestClient(create_app(db)) as client:
        r = client.get(f"/people/{steward}/duties", headers=chief_headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == (
            f"{LABEL}只能为本人办理：「职责」（GET /people/{steward}/duties）的 "
            f"person_id={steward} 不是您本人，您只能为本人（person_id={chief}）办理 "
            "stewards may act only for themselves"
        )
        r = client.get("/coverage", params={"area": "110108"}, headers=chief_headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == (
            f"您的角色为{LABEL}，无此权限，需要管理员、规划员或查看员权限 "
            "role 'steward' may not do this: it needs admin or planner or viewer"
        )
        r = client.get("/maps/editor", headers=auth_headers("viewer"))
        assert r.status_code == 403, r.text
        assert r.json()["error"] == (
            "您的角色为查看员，无此权限，需要管理员或规划员权限 "
            "role 'viewer' may not do this: it needs admin or planner"
        )


def test_the_users_lines_name_a_patrol_account_for_both(db, cli) -> None:  # noqa: F811
    """(T40 #8) users add/set/list said 小巷管家 of a street chief's account."""
    _people(db)
    r = cli("users", "add", "t-chief", "--role", "steward", "--person", "C1")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    uid = re.search(r"\(id (\d+), ", first).group(1)
    assert first == (
        f"已创建账号 t-chief（id {uid}），角色为{LABEL} user t-chief (id {uid}, steward) created"
    )

    r = cli("users", "list")
    assert r.exit_code == 0, r.output
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in r.stdout.splitlines()[1:]}
    assert rows["t-chief"][1] == f"{LABEL} steward", rows["t-chief"]

    r = cli("users", "set", "t-chief", "--person", "C1")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == (
        f"未改动：账号 t-chief 没有变化：已是{LABEL}，关联人员 赵街长 (C1) "
        "user t-chief unchanged: already steward, linked to 赵街长 (C1)"
    )

    r = cli("users", "add", "t-sam", "--role", "steward", "--person", "C1")
    said = str(r.exception)  # the entry point prints it as one error: line
    assert f"已关联账号 't-chief'，该账号在用，角色为{LABEL}：请先解除关联" in said, said

    r = cli("users", "set", "t-chief", "--no-person")
    assert r.exit_code == 0, r.output
    assert (
        "用 'gridward users set t-chief --person 人员编号' 关联之前，"
        f"此{LABEL}账号不能上传轨迹，也看不到本人的任何内容"
    ) in r.stderr, r.stderr
    assert "账号在用" not in r.stderr  # (T41 #9) it read as "the account is in use"
    assert "the steward account t-chief is linked to no person" in r.stderr

    r = cli("users", "set", "t-chief", "--role", "viewer")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"已修改账号 t-chief：角色 {LABEL} → 查看员；"), r.stdout

    r = cli("users", "add", "t-root", "--role", "root")
    said = str(r.exception)
    assert (
        "角色 'root' 无效，请用以下之一：admin 管理员、planner 规划员、"
        f"steward {LABEL}、viewer 查看员 role 'root' is not one of admin, planner, steward, "
        "viewer"
    ) == said, said
