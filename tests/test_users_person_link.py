"""`users set NAME --person PERSON` / `--no-person`: link an account to a registered person
(人员编号) or unlink it.

Old code: only `users add --person` linked a person, so a steward's account created before
their person record was registered could never be tied to it (every upload and own report
answered "your steward account is not linked to a person"), and a wrong link could not be
undone. Every test here fails on that code (`--person` was an unknown option of `users set`).
"""

from __future__ import annotations

from sqlalchemy import insert, select

from geo import accounts, audit
from geo.accounts_models import User
from geo.models import Person
from tests.dbcheck import fingerprint
from tests.test_accounts_admin import cli as cli  # noqa: F401 (the fixture)

USERS, PEOPLE = User.__table__, Person.__table__


def _main(monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """Run the real entry point: its exit code (0 when it returns) and its stderr lines."""
    from api.cli import main

    monkeypatch.setattr("sys.argv", ["gridward", *args])
    try:
        main()
        code = 0
    except SystemExit as ended:
        code = int(ended.code or 0)
    return code, capsys.readouterr().err.strip().splitlines()


def _person(db, code: str, name: str) -> int:
    with db.begin() as conn:
        return conn.execute(
            insert(PEOPLE)
            .values(external_id=code, name=name, roles=["alley_steward"])
            .returning(PEOPLE.c.id)
        ).scalar_one()


def _linked(db, username: str) -> int | None:
    with db.connect() as conn:
        return conn.execute(
            select(USERS.c.person_id).where(USERS.c.username == username)
        ).scalar_one()


def _updates(db, uid: int) -> list[dict]:
    with db.connect() as conn:
        return [
            e["detail"] for e in audit.entries(conn, "user", uid) if e["action"] == "user.update"
        ]


def test_users_set_links_relinks_and_unlinks_a_person_audited(db, cli, monkeypatch, capsys):
    """A steward account made before the registry: linked later by registry id, then moved to
    another person by people.id (its sign-ins end: it no longer acts for the first), then
    unlinked (a warning says the account now acts for nobody). Each change is a user.update
    audit entry with the person before and after; asking for the link it has changes nothing."""
    zhang, li = _person(db, "S12", "张三"), _person(db, "S13", "李四")
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-st", "steward password", "steward")
        _, sign_in, _ = accounts.issue_token(conn, uid, "access")
        _, phone, _ = accounts.issue_token(conn, uid, "api", "phone")

    r = cli("users", "set", "t-st", "--person", "S12")
    assert r.exit_code == 0, r.output
    assert "person - -> 张三 (S12); 0 sign-in(s) ended" in r.output, r.output
    assert r.output.startswith("已修改账号 t-st：关联人员 - → 张三"), r.output  # no role line
    # a token reads the link afresh: the phone acts for 张三 from its next request
    assert accounts.verify_token(db, phone).person_id == zhang
    assert accounts.verify_token(db, sign_in).person_id == zhang

    r = cli("users", "set", "t-st", "--person", "S12")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == (
        "未改动：账号 t-st 没有变化：已是巡查人员（小巷管家/街巷长），关联人员 张三 (S12) "
        "user t-st unchanged: already steward, linked to 张三 (S12)"
    )

    r = cli("users", "set", "t-st", "--person", f"id:{li}")
    assert r.exit_code == 0, r.output
    assert "person 张三 (S12) -> 李四 (S13); 1 sign-in(s) ended" in r.output, r.output
    assert accounts.verify_token(db, sign_in) is None  # its pages showed 张三's walks
    assert accounts.verify_token(db, phone).person_id == li

    code, err = _main(monkeypatch, capsys, "users", "set", "t-st", "--no-person")
    assert code == 0 and _linked(db, "t-st") is None
    assert len(err) == 1 and err[0].startswith("warning: 账号 t-st 未关联人员："), err
    assert "users set t-st --person PERSON" in err[0], err

    details = _updates(db, uid)
    assert [d["person_id"] for d in details] == [[None, zhang], [zhang, li], [li, None]]
    assert details[0]["person"] == [None, "张三 (S12)"], details
    assert details[1]["role"] == ["steward", "steward"] and details[1]["sign_ins_ended"] == 1


def test_users_set_person_refusals_change_nothing(db, cli, monkeypatch, capsys) -> None:
    """An unknown person; a person another ACTIVE account is linked to (named, with how to
    free them); --person with --no-person. One line each, nothing written. A deactivated
    account's link does not hold the person. `users add --person` keeps the same rule."""
    zhang = _person(db, "S12", "张三")
    with db.begin() as conn:
        accounts.create_user(conn, "t-st", "steward password", "steward")
        accounts.create_user(conn, "t-old", "old password", "steward", (), zhang)
    before = fingerprint(db)

    code, err = _main(monkeypatch, capsys, "users", "set", "t-st", "--person", "S99")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: 人员 'S99' 不存在"), err
    assert "person 'S99' does not exist" in err[0], err

    code, err = _main(monkeypatch, capsys, "users", "set", "t-st", "--person", "S12")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(
        "error: 人员 张三 (S12) 已关联账号 't-old'，该账号在用，角色为巡查人员（小巷管家/街巷长）："
    ), err
    assert "active account 't-old' (steward): unlink it first (gridward users set t-old " in err[0]

    code, err = _main(monkeypatch, capsys, "users", "set", "t-st", "--person", "S12",
                      "--no-person")  # fmt: skip
    assert code == 2 and err == [
        "error: 不能同时给出 --person 与 --no-person give --person PERSON or --no-person, not both"
    ]

    code, err = _main(monkeypatch, capsys, "users", "add", "t-new", "--role", "steward",
                      "--person", "S12")  # fmt: skip
    assert code == 2 and len(err) == 1 and "已关联账号 't-old'" in err[0], err

    code, err = _main(monkeypatch, capsys, "users", "set", "t-st")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: 无可修改：请给出 --role、--area、--person 或 --no-person "), (
        err
    )
    assert "nothing to change: give --role, --area, --person or --no-person" in err[0], err
    assert fingerprint(db) == before

    # t-old deactivated (the steward's old phone account): the person is free again
    r = cli("users", "revoke", "t-old")
    assert r.exit_code == 0, r.output
    r = cli("users", "set", "t-st", "--person", "S12")
    assert r.exit_code == 0 and _linked(db, "t-st") == zhang, r.output

    # ... and t-old cannot come back while t-st holds 张三: two active accounts of one person
    before = fingerprint(db)
    code, err = _main(monkeypatch, capsys, "users", "reactivate", "t-old")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(
        "error: 人员 张三 (S12) 已关联账号 't-st'，该账号在用，角色为巡查人员（小巷管家/街巷长）："
    ), err
    assert fingerprint(db) == before


def test_users_add_of_a_taken_name_says_the_name_is_taken(db, cli, monkeypatch, capsys) -> None:
    """Outside tester T36, #12: `users add NAME --person P` for a NAME that exists (linked to P)
    was refused for the person's link, not for the name. Now it says, Chinese first, that the
    account exists and how to change it; nothing is written. A name that differs in case only
    is refused too, naming the account it resembles."""
    zhang = _person(db, "S12", "张三")
    with db.begin() as conn:
        accounts.create_user(conn, "t-taken", "steward password", "steward", (), zhang)
    before = fingerprint(db)
    for extra in (("--person", "S12"), ()):
        code, err = _main(monkeypatch, capsys, "users", "add", "t-taken", "--role", "steward",
                          *extra)  # fmt: skip
        assert code == 2 and len(err) == 1, err
        assert err[0].startswith(
            "error: 账号 't-taken' 已存在；要修改它，请用 gridward users set t-taken "
        ), err
        assert "user 't-taken' already exists: change it with 'gridward users set t-taken" in err[0]
        assert "已关联" not in err[0] and "linked" not in err[0], err
    code, err = _main(monkeypatch, capsys, "users", "add", "T-Taken", "--role", "viewer")
    assert code == 2 and err[0].startswith(
        "error: 账号名仅大小写不同：'T-Taken' 与已有账号 't-taken'"
    )
    assert fingerprint(db) == before


def test_users_list_shows_the_linked_persons_name_and_registry_id(db, cli) -> None:
    """Outside tester T36, #15: `users list` showed the people.id of a linked person, which a
    planner cannot look up; it shows the person's name and registry id (人员编号) now, "-" for
    an account linked to nobody."""
    zhang = _person(db, "S12", "张三")
    with db.begin() as conn:
        accounts.create_user(conn, "t-linked", "steward password", "steward", (), zhang)
        accounts.create_user(conn, "t-alone", "viewer password", "viewer")
    r = cli("users", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split("\t")[3] == "人员（人员编号） person (registry id)", lines[0]
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in lines[1:]}
    assert rows["t-linked"][3] == "张三 (S12)", rows["t-linked"]
    assert rows["t-alone"][3] == "-", rows["t-alone"]
