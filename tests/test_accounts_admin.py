"""Tester Z, M5 and M6: tokens that outlive a change of GRIDWARD_SECRET, and the account
chores of an admin (list and revoke tokens, reactivate, change role or areas)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner, Result

from geo import accounts, audit
from geo.accounts_models import ApiToken, User
from geo.auth_settings import get_auth_settings

USERS, TOKENS = User.__table__, ApiToken.__table__


@pytest.fixture()
def secret(monkeypatch) -> Iterator[Callable[[str], None]]:
    """Set GRIDWARD_SECRET as a server or a shell would have it."""

    def use(value: str) -> None:
        monkeypatch.setenv("GRIDWARD_SECRET", value)
        get_auth_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_auth_settings.cache_clear()


@pytest.fixture()
def cli(db, pg_url, monkeypatch) -> Iterator[Callable[..., Result]]:
    from api.cli import app
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield lambda *args, **kw: CliRunner().invoke(app, list(args), **kw)
    get_settings.cache_clear()


def _main(monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """Run the real entry point: its exit code and its stderr lines."""
    from api.cli import main

    monkeypatch.setattr("sys.argv", ["gridward", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    return int(ended.value.code), capsys.readouterr().err.strip().splitlines()


def test_a_token_outlives_a_change_of_the_secret(db, secret, cli) -> None:
    """M5: the demo runs with the dev secret; going to production changes it. Every phone's
    token died then, and 'users token' in a shell without the server's secret printed a token
    the server refused."""
    secret("the-dev-or-shell-secret-" + "a" * 20)
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-phone", "phone password", "steward")
        _tid, phone, _ = accounts.issue_token(conn, uid, "api", "phone")
    r = cli("users", "token", "t-phone", "--name", "tablet")
    assert r.exit_code == 0, r.output
    minted = r.output.strip().splitlines()[-1]
    secret("the-production-secret-" + "b" * 30)  # the server's own
    for token in (phone, minted):
        assert accounts.verify_token(db, token).username == "t-phone"
    with db.connect() as conn:
        stored = conn.execute(select(TOKENS.c.token_hash)).scalars().all()
    assert len(stored) == 2 and all(h.startswith("sha256:") and len(h) <= 64 for h in stored)
    assert phone not in stored and minted not in stored


def _legacy_token(conn, uid: int, token: str) -> int:  # noqa: ANN001
    """An API token stored as versions before the switch did: HMAC keyed with the secret."""
    return conn.execute(
        insert(TOKENS)
        .values(token_hash=accounts.legacy_token_hash(token), user_id=uid, kind="api")
        .returning(TOKENS.c.id)
    ).scalar_one()


def test_a_token_stored_under_the_old_hmac_is_taken_and_rehashed(db, secret) -> None:
    """Tokens issued before: HMAC keyed with the secret. Still taken with that secret, and
    stored under the new scheme on that use, so a later change of the secret spares them."""
    secret("the-old-secret-" + "c" * 30)
    token = accounts.TOKEN_PREFIX + "legacy-token-0123456789abcdefghijklmnopq"
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-old", "old password", "viewer")
        tid = _legacy_token(conn, uid, token)
    assert accounts.verify_token(db, token).username == "t-old"
    with db.connect() as conn:
        stored = conn.execute(select(TOKENS.c.token_hash).where(TOKENS.c.id == tid)).scalar()
    assert stored == accounts.token_hash(token)
    secret("the-new-secret-" + "d" * 30)
    assert accounts.verify_token(db, token).token_id == tid


def test_password_can_revoke_the_tokens_and_says_how_many_remain(db, cli) -> None:
    """M6a: a reset password kept the phones' tokens (up to 10 years), without a word."""
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-pl", "first password", "planner", ["110108020"])
        _, phone, _ = accounts.issue_token(conn, uid, "api", "phone")
        _, tablet, _ = accounts.issue_token(conn, uid, "api", "tablet")
    r = cli("users", "password", "t-pl")
    assert r.exit_code == 0, r.output
    assert "2 API token(s) still valid" in r.output and "users tokens t-pl" in r.output
    assert accounts.verify_token(db, phone) is not None
    r = cli("users", "password", "t-pl", "--revoke-tokens")
    assert r.exit_code == 0, r.output
    assert "2 API token(s) revoked" in r.output and "still valid" not in r.output
    assert accounts.verify_token(db, phone) is None and accounts.verify_token(db, tablet) is None
    with db.connect() as conn:
        last = audit.entries(conn, "user", uid)[-1]
    assert last["action"] == "user.password" and last["detail"]["tokens_revoked"] == 2


def test_a_name_that_differs_only_in_case_is_refused(db, cli) -> None:
    """Re-tester T35: 'users add Admin' beside 'admin' made a second account that the audit
    log and a sign-in form could not tell apart from the first."""
    with db.begin() as conn:
        accounts.create_user(conn, "t-case", "a long password", "viewer")
    r = cli(
        "users",
        "add",
        "T-Case",
        "--role",
        "admin",
        "--password-stdin",
        input="another long password\n",
    )
    assert r.exit_code != 0, r.output
    said = str(r.exception)  # main() turns it into the one error line
    assert "账号名仅大小写不同" in said and "'t-case'" in said, said
    with db.connect() as conn:
        names = conn.execute(select(USERS.c.username)).scalars().all()
    assert names == ["t-case"]


def test_the_shells_audit_name_is_not_an_account_name(db, cli) -> None:
    """The audit log stores shell commands as cli:<OS user> and `gridward audit --actor cli`
    finds them: an account named cli (any case) would mix its web actions in (T38, M4)."""
    for name in ("cli", "CLI"):
        r = cli("users", "add", name, "--role", "viewer", "--password-stdin",
                input="a long enough password\n")  # fmt: skip
        assert r.exit_code != 0, r.output
        said = str(r.exception)
        assert said.startswith("账号名 'cli' 已留作审计日志中命令行操作的名称"), said
    with db.connect() as conn:
        assert conn.execute(select(USERS.c.username)).scalars().all() == []


def test_users_tokens_flags_a_token_still_under_the_old_hmac(db, cli, secret) -> None:
    """Z3: after GRIDWARD_SECRET changed, 'users tokens' listed an old HMAC token as if valid
    although it no longer worked. Nothing stored can tell which secret made it, so it is
    flagged (kind api*, a note naming it and the revoke); once used it is re-stored, unflagged."""
    secret("the-old-secret-" + "e" * 30)
    token = accounts.TOKEN_PREFIX + "legacy-token-abcdefghijklmnopqrstuvwxyz0123"
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-leg", "old password", "viewer")
        tid = _legacy_token(conn, uid, token)
        new_id, _, _ = accounts.issue_token(conn, uid, "api", "new phone")
    secret("the-new-secret-" + "f" * 30)
    r = cli("users", "tokens", "t-leg")
    assert r.exit_code == 0, r.output
    rows = {line.split("\t")[0]: line.split("\t") for line in r.stdout.splitlines()[1:]}
    assert rows[str(tid)][1] == "api*" and rows[str(new_id)][1] == "api"
    assert "旧式令牌" in r.stderr and f"token(s) {tid}:" in r.stderr
    assert "users revoke --token" in r.stderr
    secret("the-old-secret-" + "e" * 30)
    assert accounts.verify_token(db, token).token_id == tid  # re-stored under sha256
    r = cli("users", "tokens", "t-leg")
    assert "*" not in r.stdout and "旧式令牌" not in r.stderr


def test_password_and_list_flag_a_token_still_under_the_old_hmac(db, cli, secret) -> None:
    """Re-tester T35, F7: 'users tokens' flagged an old HMAC token, but 'users password' and
    'users list' counted it as plainly valid. Now both say how many of the count are legacy
    (2 (1 旧式)) and give the same note naming them, with the revoke."""
    secret("the-old-secret-" + "g" * 30)
    token = accounts.TOKEN_PREFIX + "legacy-token-zyxwvutsrqponmlkjihgfedcba9876"
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-lg2", "old password", "viewer")
        tid = _legacy_token(conn, uid, token)
        accounts.issue_token(conn, uid, "api", "new phone")
    secret("the-new-secret-" + "h" * 30)
    r = cli("users", "list")
    assert r.exit_code == 0, r.output
    row = next(line for line in r.stdout.splitlines() if line.startswith("t-lg2\t"))
    assert row.split("\t")[-1] == "2 (1 旧式)", row
    assert "旧式令牌" in r.stderr and "of t-lg2 (1)" in r.stderr, r.stderr
    assert "users revoke --token" in r.stderr and "users tokens NAME" in r.stderr
    r = cli("users", "password", "t-lg2")
    assert r.exit_code == 0, r.output
    assert "仍有效的 API 令牌：2 个（其中 1 个旧式）" in r.stdout, r.stdout
    assert "2 (1 旧式) API token(s) still valid" in r.stdout, r.stdout
    assert "旧式令牌" in r.stderr and f"token(s) {tid}:" in r.stderr, r.stderr
    assert "users revoke --token" in r.stderr
    secret("the-old-secret-" + "g" * 30)
    assert accounts.verify_token(db, token).token_id == tid  # re-stored: no longer flagged
    r = cli("users", "list")
    row = next(line for line in r.stdout.splitlines() if line.startswith("t-lg2\t"))
    assert row.split("\t")[-1] == "2" and "旧式令牌" not in r.stderr, (row, r.stderr)
    r = cli("users", "password", "t-lg2")
    assert "令牌：2 个；" in r.stdout and "旧式令牌" not in r.stderr
    assert " 2 API token(s) still valid" in r.stdout


def test_users_tokens_lists_the_ids_users_revoke_takes(db, cli) -> None:
    """M6b: 'users list' showed a count only, so 'users revoke --token N' could not be aimed."""
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-st", "steward password", "steward")
        phone_id, phone, _ = accounts.issue_token(conn, uid, "api", "phone 手机")
        sign_in_id, _, _ = accounts.issue_token(conn, uid, "access")
        old_id, _, _ = accounts.issue_token(conn, uid, "access")
        accounts.revoke_token(conn, old_id, actor_name="test")
    accounts.verify_token(db, phone)  # records its last use
    r = cli("users", "tokens", "t-st")
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert "最近使用 last used" in lines[0] and "吊销 revoked" in lines[0]
    rows = {int(line.split("\t")[0]): line.split("\t") for line in lines[1:]}
    assert set(rows) == {phone_id, sign_in_id}  # an ended sign-in only with --all
    assert rows[phone_id][1:3] == ["api", "phone 手机"] and rows[phone_id][4] != "-"
    assert rows[phone_id][6] == "-"
    r = cli("users", "tokens", "t-st", "--all")
    assert str(old_id) in [line.split("\t")[0] for line in r.output.splitlines()]
    assert cli("users", "revoke", "--token", str(phone_id)).exit_code == 0
    r = cli("users", "tokens", "t-st")
    assert [line for line in r.output.splitlines() if line.startswith(f"{phone_id}\t")][0].split(
        "\t"
    )[6] != "-"


def test_reactivate_undoes_a_revoke(db, cli, monkeypatch, capsys) -> None:
    """M6c: 'users revoke NAME' could not be undone, and the name could not be used again."""
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-back", "first password", "steward")
        _, phone, _ = accounts.issue_token(conn, uid, "api", "phone")
    assert cli("users", "revoke", "t-back").exit_code == 0
    r = cli("users", "revoke", "t-back")  # T37 #17: it said 已停用账号 t-back again
    assert r.exit_code == 0 and r.output.startswith("账号 t-back 已是停用状态"), r.output
    assert "user t-back is already inactive: nothing changed" in r.output, r.output
    r = cli("users", "password", "t-back")
    assert r.exit_code != 0 and "users reactivate t-back" in str(r.exception)
    r = cli("users", "reactivate", "t-back")
    assert r.exit_code == 0, r.output
    new = r.output.split("one-time password: ")[1].strip()
    with db.connect() as conn:
        assert accounts.authenticate(conn, "t-back", new).role == "steward"
        assert audit.entries(conn, "user", uid)[-1]["action"] == "user.reactivate"
    assert accounts.verify_token(db, phone) is None  # its old tokens stay revoked
    code, err = _main(monkeypatch, capsys, "users", "reactivate", "t-back")
    assert code != 0 and len(err) == 1 and err[0].startswith("error: ") and "active" in err[0]


def test_users_set_changes_role_and_areas_and_ends_sign_ins_when_rights_shrink(
    db, cli, monkeypatch, capsys
) -> None:
    """M6d: a planner moving to another subdistrict needed a new username."""
    with db.begin() as conn:
        uid = accounts.create_user(conn, "t-mv", "mover password", "planner", ["110108020"])
        _, sign_in, _ = accounts.issue_token(conn, uid, "access")
        _, phone, _ = accounts.issue_token(conn, uid, "api", "phone")
    # more areas: nothing lost, the sign-in stays
    r = cli("users", "set", "t-mv", "--area", "110108020", "--area", "110108015")
    assert r.exit_code == 0 and "0 sign-in(s) ended" in r.output, r.output
    # only what changed is printed: no "role planner -> planner" (re-tester T35, F10)
    assert r.output.startswith(
        "已修改账号 t-mv：区域 110108020 → 110108020,110108015；结束了 0 个登录 "
        "user t-mv: areas 110108020 -> 110108020,110108015; 0 sign-in(s) ended"
    ), r.output
    assert accounts.verify_token(db, sign_in).area_codes == ("110108020", "110108015")
    # another subdistrict only: 110108020 lost, the sign-in ends, the phone's token stays
    r = cli("users", "set", "t-mv", "--area", "110108015")
    assert r.exit_code == 0 and "1 sign-in(s) ended" in r.output, r.output
    assert accounts.verify_token(db, sign_in) is None
    assert accounts.verify_token(db, phone).area_codes == ("110108015",)
    # an area for a viewer: refused by the check of 'users add', nothing changed
    code, err = _main(monkeypatch, capsys, "users", "set", "t-mv", "--role", "viewer",
                      "--area", "110108015")  # fmt: skip
    assert code == 2 and len(err) == 1 and err[0].startswith("error: 只有规划员有管辖区域：")
    assert "查看员可查看所有区域" in err[0], err
    assert ": a viewer reads every area" in err[0], err
    # and for an admin: "an admin", not "a admin" (outside tester Z2, minor)
    code, err = _main(monkeypatch, capsys, "users", "set", "t-mv", "--role", "admin",
                      "--area", "110108015")  # fmt: skip
    assert code == 2 and ": an admin acts everywhere" in err[0], err
    # a viewer: the areas go with the role
    r = cli("users", "set", "t-mv", "--role", "viewer")
    assert r.exit_code == 0 and "role planner -> viewer, areas 110108015 -> -;" in r.output
    p = accounts.verify_token(db, phone)
    assert p.role == "viewer" and p.area_codes == ()
    # a planner again needs an area
    code, err = _main(monkeypatch, capsys, "users", "set", "t-mv", "--role", "planner")
    assert code == 2 and len(err) == 1 and "planner needs" in err[0]
    r = cli("users", "set", "t-mv", "--role", "viewer")
    assert r.exit_code == 0 and "unchanged" in r.output
    with db.connect() as conn:
        updates = [e for e in audit.entries(conn, "user", uid) if e["action"] == "user.update"]
    assert len(updates) == 3
    assert updates[-1]["detail"]["role"] == ["planner", "viewer"]
    assert updates[1]["detail"]["sign_ins_ended"] == 1


def test_rights_shrink() -> None:
    shrink = accounts._rights_shrink
    assert not shrink("viewer", [], "planner", ["110108"])
    assert not shrink("planner", ["110108020"], "planner", ["110108"])
    assert not shrink("planner", ["110108020"], "admin", [])
    assert shrink("planner", ["110108"], "planner", ["110108020"])
    assert shrink("admin", [], "planner", ["110108"])
    assert shrink("steward", [], "viewer", [])
    assert shrink("viewer", [], "steward", [])


def test_the_last_active_admin_keeps_their_rights(db, cli, monkeypatch, capsys) -> None:
    """Demoting or deactivating the only active admin left nobody to add users, reset
    passwords or reactivate anyone. Refused (exit 2, one line) while they are the last; once
    another admin exists, allowed."""
    with db.begin() as conn:
        accounts.create_user(conn, "t-root", "root password", "admin")
    for args in (("users", "set", "t-root", "--role", "viewer"), ("users", "revoke", "t-root")):
        code, err = _main(monkeypatch, capsys, *args)
        assert code != 0 and len(err) == 1, err
        assert err[0].startswith("error: 不能移除最后一位管理员：'t-root' 是唯一在用的管理员"), err
        assert "'t-root' is the last active admin" in err[0], err
    with db.connect() as conn:
        row = conn.execute(select(USERS).where(USERS.c.username == "t-root")).one()
    assert row.role == "admin" and row.active
    with db.begin() as conn:
        accounts.create_user(conn, "t-root2", "root2 password", "admin")
    r = cli("users", "set", "t-root", "--role", "viewer")
    assert r.exit_code == 0, r.output
    code, err = _main(monkeypatch, capsys, "users", "revoke", "t-root2")
    assert code != 0 and "t-root2" in err[0]  # now the last one
