"""Accounts, tokens, production guard, users CLI, audit, jobs recovery and ETag helpers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import delete, select, text, update

from geo import accounts, audit
from geo.accounts_models import ApiToken, User
from geo.errors import ConflictError, InputError, SetupError

USERS, TOKENS = User.__table__, ApiToken.__table__


@pytest.fixture()
def clean(engine):
    with engine.begin() as conn:
        conn.execute(delete(USERS).where(USERS.c.username.like("t-%")))
    yield engine
    with engine.begin() as conn:
        conn.execute(delete(USERS).where(USERS.c.username.like("t-%")))


def _client(engine):
    from fastapi.testclient import TestClient

    from api.app import create_app

    return TestClient(create_app(engine), raise_server_exceptions=False)


def test_password_is_hashed_with_argon2id_and_checked(clean) -> None:
    with clean.begin() as conn:
        uid = accounts.create_user(conn, "t-alice", "correct horse", "viewer", actor="test")
        stored = conn.execute(select(USERS.c.password_hash).where(USERS.c.id == uid)).scalar()
        assert stored.startswith("$argon2id$") and "correct horse" not in stored
        assert accounts.authenticate(conn, "t-alice", "correct horse").role == "viewer"
        assert accounts.authenticate(conn, "t-alice", "wrong horse!") is None
        assert accounts.authenticate(conn, "t-nobody", "correct horse") is None
        with pytest.raises(ConflictError):
            accounts.create_user(conn, "t-alice", "another one", "viewer")
        for bad in [("t-x", "short", "viewer", ()), ("t x", "long enough", "viewer", ())]:
            with pytest.raises(InputError):
                accounts.create_user(conn, *bad)
        with pytest.raises(InputError, match="role"):
            accounts.create_user(conn, "t-y", "long enough", "root")
        with pytest.raises(InputError, match="area code"):
            accounts.create_user(conn, "t-y", "long enough", "planner", ["11010x"])
        with pytest.raises(InputError, match="planner needs"):
            accounts.create_user(conn, "t-y", "long enough", "planner")
        assert [e["action"] for e in audit.entries(conn, "user", uid)] == ["user.create"]


def test_tokens_sign_in_expire_and_revoke(clean) -> None:
    with clean.begin() as conn:
        uid = accounts.create_user(conn, "t-bob", "bob password", "planner", ["110108020"])
        tid, secret, _ = accounts.issue_token(conn, uid, "api", "phone")
        _t2, short, _ = accounts.issue_token(conn, uid, "access", lifetime=dt.timedelta(hours=1))
        stored = conn.execute(select(TOKENS.c.token_hash).where(TOKENS.c.id == tid)).scalar()
    assert secret not in stored and stored == accounts.token_hash(secret)
    p = accounts.verify_token(clean, secret)
    assert p.username == "t-bob" and p.covers_area("110108020001001")
    assert not p.covers_area("110108021001001") and not p.covers_area(None)
    with clean.begin() as conn:  # expire one, revoke the other
        conn.execute(
            update(TOKENS)
            .where(TOKENS.c.token_hash == accounts.token_hash(short))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        accounts.revoke_token(conn, tid, actor_name="test")
    assert accounts.verify_token(clean, short) is None
    assert accounts.verify_token(clean, secret) is None
    assert accounts.verify_token(clean, "gw_" + "x" * 43) is None


def test_http_flow_password_token_api_token_revoke(clean) -> None:
    with clean.begin() as conn:
        accounts.create_user(conn, "t-carol", "carol password", "steward")
    c = _client(clean)
    assert (
        c.post("/auth/token", data={"username": "t-carol", "password": "nope"}).status_code == 401
    )
    r = c.post("/auth/token", data={"username": "t-carol", "password": "carol password"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert c.get("/auth/me", headers=h).json()["role"] == "steward"
    r = c.post("/auth/api-tokens", json={"name": "phone 手机"}, headers=h)
    assert r.status_code == 201
    api_h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert c.get("/auth/me", headers=api_h).status_code == 200
    assert c.delete(f"/auth/api-tokens/{r.json()['id']}", headers=h).status_code == 204
    assert c.get("/auth/me", headers=api_h).status_code == 401
    # deactivating the account kills its other tokens too
    with clean.begin() as conn:
        assert accounts.deactivate_user(conn, "t-carol", actor="test") >= 1
    assert c.get("/auth/me", headers=h).status_code == 401
    assert (
        c.post(
            "/auth/token", data={"username": "t-carol", "password": "carol password"}
        ).status_code
        == 401
    )


def test_cookie_sign_in_needs_csrf_header_for_writes(clean) -> None:
    with clean.begin() as conn:
        accounts.create_user(conn, "t-dan", "dan password", "viewer")
    c = _client(clean)
    c.post("/auth/token", data={"username": "t-dan", "password": "dan password"})
    assert c.get("/auth/me").status_code == 200  # the cookie alone signs a read in
    assert c.post("/auth/api-tokens", json={"name": "x"}).status_code == 403
    ok = c.post("/auth/api-tokens", json={"name": "x"}, headers={"X-Requested-With": "fetch"})
    assert ok.status_code == 201


def test_production_refuses_default_secret(engine, monkeypatch) -> None:
    from api.app import create_app
    from geo.auth_settings import DEV_SECRET, get_auth_settings

    monkeypatch.setenv("GRIDWARD_ENV", "production")
    for bad in ["", DEV_SECRET, "short"]:
        monkeypatch.setenv("GRIDWARD_SECRET", bad)
        get_auth_settings.cache_clear()
        with pytest.raises(SetupError, match="GRIDWARD_SECRET"):
            create_app(engine)
    monkeypatch.setenv("GRIDWARD_SECRET", "s" * 48)
    get_auth_settings.cache_clear()
    try:
        assert create_app(engine) is not None
        with pytest.raises(SetupError):
            accounts.ensure_demo_admin(engine)
    finally:
        monkeypatch.undo()
        get_auth_settings.cache_clear()


def test_demo_admin_once(engine) -> None:
    with engine.begin() as conn:
        admins = conn.execute(
            select(USERS.c.id).where(USERS.c.role == "admin", USERS.c.active.is_(True))
        ).all()
        conn.execute(update(USERS).where(USERS.c.role == "admin").values(active=False))
    try:
        password = accounts.ensure_demo_admin(engine, username="t-admin")
        assert password and accounts.ensure_demo_admin(engine, username="t-admin") is None
        r = _client(engine).post("/auth/token", data={"username": "t-admin", "password": password})
        assert r.status_code == 200
    finally:
        with engine.begin() as conn:
            conn.execute(delete(USERS).where(USERS.c.username == "t-admin"))
            ids = [a.id for a in admins]
            if ids:
                conn.execute(update(USERS).where(USERS.c.id.in_(ids)).values(active=True))


def test_users_cli(clean, pg_url, monkeypatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        r = run(app, ["users", "add", "t-eve", "--role", "planner", "--area", "110108020"])
        assert r.exit_code == 0, r.output
        password = r.output.split("one-time password: ")[1].strip()
        with clean.connect() as conn:
            assert accounts.authenticate(conn, "t-eve", password).area_codes == ("110108020",)
        r = run(app, ["users", "token", "t-eve", "--name", "phone"])
        token = r.output.strip().splitlines()[-1]
        assert accounts.verify_token(clean, token).username == "t-eve"
        assert "t-eve\t规划员 planner\t110108020" in run(app, ["users", "list"]).output
        assert run(app, ["users", "revoke", "t-eve"]).exit_code == 0
        assert accounts.verify_token(clean, token) is None
        r = run(app, ["users", "add", "t-bad", "--role", "planner"])
        assert r.exit_code != 0
        # a code no area or grid has: created as asked, with a warning (a typo grants nothing)
        r = run(app, ["users", "add", "t-typo", "--role", "planner", "--area", "119999"])
        assert r.exit_code == 0 and "no imported area or grid has the code 119999" in r.output
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("role", ["viewer", "steward", "admin"])
def test_an_area_for_anyone_but_a_planner_is_refused(
    clean, pg_url, monkeypatch, capsys, role
) -> None:
    """Tester W, F15: ``users add vv --role viewer --area 110108015`` was taken without a
    word, though only a planner's rights are scoped by area. One ``error:`` line, exit 2,
    no account."""
    from api.cli import main
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setattr("sys.argv", ["gridward", "users", "add", "t-vv", "--role", role,
                                     "--area", "110108015"])  # fmt: skip
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as ended:
            main()
    finally:
        get_settings.cache_clear()
    assert ended.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 只有规划员有管辖区域："), lines
    article = "an" if role[0] in "aeiou" else "a"
    assert f"{article} {role} " in lines[0] and "110108015" in lines[0]
    with clean.connect() as conn:
        assert conn.execute(select(USERS.c.id).where(USERS.c.username == "t-vv")).first() is None
        with pytest.raises(InputError, match="scopes a planner only") as refused:
            accounts.create_user(conn, "t-vv", "long enough", role, ["110108015"])
    assert str(refused.value).startswith("只有规划员有管辖区域：--area 只用于规划员")


def test_demo_rerun_names_the_admin_and_users_password_sets_a_new_one(
    clean, pg_url, monkeypatch
) -> None:
    """An outside tester re-ran `make demo` and had no way back into a demo whose one-time
    admin password was gone: the re-run now names the admin account and the command that
    sets a new password, which ends the account's sign-ins and keeps its phones' tokens."""
    from typer.testing import CliRunner

    import api.cli_serve
    from api.cli import app
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setattr(api.cli_serve, "load_demo", lambda: {})
    get_settings.cache_clear()
    run = CliRunner().invoke
    try:
        with clean.begin() as conn:
            uid = accounts.create_user(conn, "t-root", "first-password-1", "admin")
            _, sign_in, _ = accounts.issue_token(conn, uid, "access")
            _, phone, _ = accounts.issue_token(conn, uid, "api", "phone")
        r = run(app, ["demo", "--no-serve"])
        assert r.exit_code == 0, r.output
        assert "t-root" in r.output and "gridward users password" in r.output
        assert "one-time" not in r.output and "shown once" not in r.output
        r = run(app, ["users", "password", "t-root"])
        assert r.exit_code == 0 and "1 sign-in(s) ended" in r.output, r.output
        new = r.output.split("one-time password: ")[1].strip()
        with clean.connect() as conn:
            assert accounts.authenticate(conn, "t-root", "first-password-1") is None
            assert accounts.authenticate(conn, "t-root", new).username == "t-root"
            assert audit.entries(conn, "user", uid)[-1]["action"] == "user.password"
        assert accounts.verify_token(clean, sign_in) is None
        assert accounts.verify_token(clean, phone).username == "t-root"
        r = run(app, ["users", "password", "t-root", "--password-stdin"], input="short\n")
        assert r.exit_code != 0 and "too short" in str(r.exception or r.output)
        r = run(app, ["users", "password", "t-nobody"])
        assert r.exit_code != 0 and "not found" in str(r.exception or r.output)
        with clean.connect() as conn:  # the refused short password changed nothing
            assert accounts.authenticate(conn, "t-root", new) is not None
    finally:
        get_settings.cache_clear()


def test_stale_jobs_are_failed_and_stay_failed(engine) -> None:
    from geo import jobs

    with engine.begin() as conn:
        running = jobs.create_job(conn, "partition", {"area": "110108020"}, "t")
        fresh = jobs.create_job(conn, "match", {}, "t")
    jobs.update_job(engine, running, status="running", progress=0.4)
    jobs.update_job(engine, fresh, status="running")
    with engine.begin() as conn:  # the first one has not reported for an hour
        conn.execute(
            text("UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = :i"),
            {"i": running},
        )
    assert jobs.recover_stale_jobs(engine, dt.timedelta(minutes=10)) == 1
    with engine.connect() as conn:
        j = jobs.get_job(conn, running)
        assert j["status"] == "failed" and "restarted" in j["error"]
        assert jobs.get_job(conn, fresh)["status"] == "running"
    jobs.update_job(engine, running, status="done", progress=1.0)  # a late zombie update
    with engine.connect() as conn:
        assert jobs.get_job(conn, running)["status"] == "failed"
    # the app's start-up does the same for every unfinished job (stale_after 0)
    with _client(engine):
        pass
    with engine.connect() as conn:
        assert jobs.get_job(conn, fresh)["status"] == "failed"


def test_etag_if_match() -> None:
    from starlette.requests import Request

    from api.concurrency import (
        PreconditionFailed,
        PreconditionRequired,
        check_updated,
        etag,
        parse_etag,
        require_if_match,
    )

    def req(value: str | None) -> Request:
        headers = [] if value is None else [(b"if-match", value.encode())]
        return Request({"type": "http", "headers": headers, "method": "PUT"})

    assert parse_etag(etag(7)) == 7 and parse_etag('W/"v7"') == 7 and parse_etag("x") is None
    assert require_if_match(req('"v3"'), 3) == 3
    assert require_if_match(req('"v2", "v3"'), 3) == 3
    assert require_if_match(req("*"), 3) == 3
    assert require_if_match(req(None), 3, required=False) == 3
    with pytest.raises(PreconditionRequired) as e:
        require_if_match(req(None), 3)
    assert e.value.status_code == 428
    for stale in ['"v2"', "garbage"]:
        with pytest.raises(PreconditionFailed) as e:
            require_if_match(req(stale), 3)
        assert e.value.status_code == 412
    with pytest.raises(PreconditionFailed):
        check_updated(0)


def test_version_guarded_update_has_one_winner(engine) -> None:
    """Many writers with the same If-Match: exactly one conditional UPDATE wins, no lost update."""
    from geo import jobs

    with engine.begin() as conn:
        job = jobs.create_job(conn, "race", {"version": 1}, "t")
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        with engine.begin() as conn:
            n = conn.execute(
                text(
                    "UPDATE jobs SET params = jsonb_build_object('version', 2, 'by', :i) "
                    "WHERE id = :id AND (params->>'version')::int = 1"
                ),
                {"i": i, "id": job},
            ).rowcount
            if n:
                wins.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    with engine.connect() as conn:
        assert jobs.get_job(conn, job)["params"] == {"version": 2, "by": wins[0]}
