"""``gridward audit``: the audit log for admins, newest first, filtered by day, actor, action."""

from __future__ import annotations

from sqlalchemy import text

from geo import audit
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)


def test_audit_lists_newest_first_with_filters(db, pg_url, monkeypatch, run_inproc):  # noqa: F811
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with db.begin() as conn:
        old = audit.record(conn, "alice", "grid.update", "grid", 42, {"households": 310})
        audit.record(conn, "cli", "track.upload", "track", 7, {"note": "x" * 400})
        audit.record(conn, "bob", "track.withdraw", "track", 7, {"reason": "测试 test walk"})
        audit.record(conn, "bob", "trackside.edit")  # not of the 'track' family
        conn.execute(
            text("UPDATE audit_log SET at = '2025-01-02 03:00+08' WHERE id = :i"), {"i": old}
        )
    try:
        res = run_inproc("audit")
        assert res.returncode == 0, res.stderr
        head, *rows = res.stdout.splitlines()
        assert head.startswith("编号 id\t时间 at (Asia/Shanghai)")
        assert [r.split("\t")[3] for r in rows] == [
            "trackside.edit", "track.withdraw", "track.upload", "grid.update",
        ]  # fmt: skip
        assert rows[1].split("\t")[4:] == ["track 7", '{"reason":"测试 test walk"}']
        assert rows[2].endswith("…") and len(rows[2].split("\t")[5]) == 160  # one line each
        assert "2025-01-02 03:00:00" in rows[3]
        res = run_inproc("audit", "--action", "track")
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == [
            "track.withdraw", "track.upload",
        ]  # fmt: skip
        res = run_inproc("audit", "--actor", "bob", "--limit", "1")
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == ["trackside.edit"]
        res = run_inproc("audit", "--since", "2025-06-01")
        assert "grid.update" not in res.stdout and "track.upload" in res.stdout
        res = run_inproc("audit", "--since", "June")
        assert res.returncode == 2 and "--since 'June' is not a date" in res.stderr
    finally:
        get_settings.cache_clear()


def test_audit_names_an_unknown_action_or_actor(db, pg_url, monkeypatch, run_inproc):  # noqa: F811
    """N9 (outside tester Z2): an unknown --action or --actor printed an empty table, rc 0."""
    import secrets

    from geo.accounts import create_user
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    quiet = f"quiet_{secrets.token_hex(3)}"
    with db.begin() as conn:
        audit.record(conn, "alice", "zzaudit.update", "grid", 42)
        create_user(conn, quiet, secrets.token_urlsafe(16), "viewer")
    try:
        # an action in any case: the table, not an empty one
        res = run_inproc("audit", "--action", "ZZAudit.Update")
        assert res.returncode == 0, res.stderr
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == ["zzaudit.update"]
        res = run_inproc("audit", "--action", "ZZAUDIT")  # a family, in any case
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == ["zzaudit.update"]
        # an action that never occurs: refused, naming the known ones
        res = run_inproc("audit", "--action", "zzaudit.set")
        assert res.returncode == 2 and res.stdout == "", res
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: 未知操作：审计日志中没有操作 "), (
            lines
        )
        assert "no such action 'zzaudit.set' in the audit log; known: " in lines[0], lines
        assert "'zzaudit.set'" in lines[0] and "zzaudit.update" in lines[0], lines
        # a known action that matches nothing under the other filters: empty, valid
        res = run_inproc("audit", "--action", "zzaudit.update", "--since", "2999-01-01")
        assert res.returncode == 0 and res.stderr == "", res
        assert len(res.stdout.splitlines()) == 1  # the header
        # an actor that never occurs: named, with the case that does
        res = run_inproc("audit", "--actor", "ALICE")
        assert res.returncode == 2, res
        assert res.stderr.startswith("error: 无此操作者：审计日志中没有 'ALICE'"), res.stderr
        assert "是否想找 'alice'" in res.stderr and "no such actor 'ALICE'" in res.stderr
        assert "did you mean 'alice'" in res.stderr, res.stderr
        # an account that changed nothing: an empty answer, said on stderr
        res = run_inproc("audit", "--actor", quiet)
        assert res.returncode == 0, res
        assert res.stderr.startswith(f"无审计记录：账号 '{quiet}' 在审计日志中没有记录"), res.stderr
        assert f"account '{quiet}' has no entries" in res.stderr, res.stderr
        # that account's name in the wrong case: the hint comes from the accounts (Z3)
        res = run_inproc("audit", "--actor", quiet.upper())
        assert res.returncode == 2, res
        assert f"did you mean '{quiet}'" in res.stderr, res.stderr
    finally:
        get_settings.cache_clear()


def test_a_miscased_cli_or_a_bare_os_user_is_told_the_stored_spelling(
    db,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
):
    """Re-tester T39, L12: with only cli:<OS user> entries in the log (the spelling since
    T38 M4), --actor CLI was refused with no hint (the hint looked for 'cli' written in
    another case, and the log has none). It names 'cli', which finds them all, and what it
    finds; a bare OS user is told its cli: spelling. Exact names stay the rule (a hint, not
    a match in any case), as for accounts."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with db.begin() as conn:
        audit.record(conn, "cli:zzshell", "grid.update", "grid", 42)
    try:
        res = run_inproc("audit", "--actor", "CLI")
        assert res.returncode == 2 and res.stdout == "", res
        [line] = res.stderr.splitlines()
        assert line.startswith(
            "error: 无此操作者：审计日志中没有 'CLI'（名称区分大小写：是否想找 'cli'？它可查出所有"
            "命令行操作，审计日志中记为 cli:<操作系统用户名>）。 "
        ), line
        assert line.endswith(
            "no such actor 'CLI' in the audit log (names match case: did you mean 'cli'? it "
            "finds every command-line entry, stored as cli:<OS user>)"
        ), line
        res = run_inproc("audit", "--actor", "cli")  # as it says
        assert res.returncode == 0 and "cli:zzshell\tgrid.update" in res.stdout, res
        res = run_inproc("audit", "--actor", "zzshell")
        assert res.returncode == 2, res
        assert "是否想找 'cli:zzshell'" in res.stderr, res.stderr
        assert "stored as cli:<OS user>: did you mean 'cli:zzshell'?" in res.stderr, res.stderr
        res = run_inproc("audit", "--actor", "CLI:ZZSHELL")  # its case: the hint as before
        assert res.returncode == 2 and "did you mean 'cli:zzshell'" in res.stderr, res
    finally:
        get_settings.cache_clear()


def test_sign_ins_made_and_refused_are_audited(db, pg_url, monkeypatch, run_inproc):  # noqa: F811
    """Sign-ins were not in the audit log (outside tester Z2): an admin looking into a
    break-in could not see them. Now each one, made or refused, is an entry with the name
    and the address, and --action knows sign-ins and restores before the log holds one."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.accounts import create_user
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with db.begin() as conn:
        uid = create_user(conn, "signer", "signer-password-1", "viewer")
    try:
        res = run_inproc("audit", "--action", "signin")  # none yet: a valid, empty answer
        assert res.returncode == 0 and len(res.stdout.splitlines()) == 1, res
        res = run_inproc("audit", "--action", "db.restore")
        assert res.returncode == 0 and len(res.stdout.splitlines()) == 1, res

        client = TestClient(create_app(db), raise_server_exceptions=False)
        bad = client.post("/auth/token", data={"username": "signer", "password": "guess-1234"})
        good = client.post(
            "/auth/token", data={"username": "signer", "password": "signer-password-1"}
        )
        assert (bad.status_code, good.status_code) == (401, 200), (bad.text, good.text)
        with db.connect() as conn:
            got = [
                (e["actor"], e["action"], e["target_type"], e["target_id"], e["detail"])
                for e in audit.entries(conn)
                if e["action"].startswith("signin.")
            ]
        where = "testclient"  # the TestClient's address
        assert got == [
            (None, "signin.failure", None, None, {"username": "signer", "address": where}),
            (
                "signer",
                "signin.success",
                "user",
                str(uid),
                {"username": "signer", "address": where},
            ),
        ]
        res = run_inproc("audit", "--action", "signin")
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == [
            "signin.success", "signin.failure",
        ]  # fmt: skip
        res = run_inproc("audit", "--action", "signin.nope")
        assert res.returncode == 2 and "signin.failure" in res.stderr, res
    finally:
        get_settings.cache_clear()


def test_a_sign_in_lock_is_audited_and_logged_once(db, caplog) -> None:
    """Tester Z3: 30 tries on one name showed as 10 signin.failure rows and nothing else: the
    lock, and the tries it refused (429), were invisible. The failure that starts a lock now
    writes signin.locked (name, address, scope) and one WARNING line; the refused tries after
    it add nothing."""
    import logging

    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.accounts import create_user

    with db.begin() as conn:
        create_user(conn, "locked-one", "locked-password-1", "viewer")
    client = TestClient(create_app(db), raise_server_exceptions=False)
    with caplog.at_level(logging.WARNING, logger="gridward.auth"):
        codes = [
            client.post(
                "/auth/token", data={"username": "locked-one", "password": f"guess-{i:04d}"}
            ).status_code
            for i in range(14)
        ]
    assert codes == [401] * 10 + [429] * 4, codes
    with db.connect() as conn:
        rows = [e for e in audit.entries(conn) if e["action"].startswith("signin.")]
    assert [e["action"] for e in rows].count("signin.failure") == 10
    locks = [e["detail"] for e in rows if e["action"] == "signin.locked"]
    assert locks == [{"username": "locked-one", "address": "testclient", "scope": "account"}]
    lines = [r.getMessage() for r in caplog.records if r.name == "gridward.auth"]
    assert lines == [
        "登录已锁定（账号 'locked-one'，来自 testclient）：登录失败次数过多，最长锁定 5 分钟；"
        "'gridward users unlock locked-one' 可解除 "
        "sign-ins locked for user 'locked-one' from testclient after too many "
        "failures (up to 5 min; 'gridward users unlock locked-one' lifts it)"
    ], lines
