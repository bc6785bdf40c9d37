"""A person with a browser: map pages send them to sign in, and back after it."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.accounts import create_user


def test_browser_sign_in_round_trip(db):
    with db.begin() as conn:
        create_user(conn, "li", "correct horse battery", "viewer")
    with TestClient(create_app(db), follow_redirects=False) as client:
        r = client.get("/maps/grids?min=300", headers={"accept": "text/html"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/maps/grids%3Fmin%3D300"
        page = client.get(r.headers["location"])
        assert page.status_code == 200 and "登录 Sign in" in page.text
        assert '"/maps/grids?min=300"' in page.text
        # an API client still gets JSON, not a redirect
        assert client.get("/maps/grids").status_code == 401
        bad = client.post("/auth/token", data={"username": "li", "password": "wrong"})
        assert bad.status_code == 401 and "wrong" in bad.json()["error"]
        ok = client.post(
            "/auth/token", data={"username": "li", "password": "correct horse battery"}
        )
        assert ok.status_code == 200 and "gridward_token" in ok.cookies
        assert client.get("/maps/grids").status_code == 200  # the cookie signs the page in
        assert client.get("/").headers["location"] == "/maps"
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 1


def test_next_cannot_leave_the_site(db):
    with TestClient(create_app(db)) as client:
        for evil in ("https://evil.example/", "//evil.example/x", "/\\\\evil", "javascript:x"):
            page = client.get("/login", params={"next": evil}).text
            assert 'const next = "/maps";' in page
        page = client.get("/login", params={"next": "/maps/grids</script><script>x()"}).text
        assert "</script><script>x()" not in page


def test_password_guessing_is_slowed_down(db):
    with db.begin() as conn:
        create_user(conn, "wang", "the right password", "viewer")
    with TestClient(create_app(db)) as client:
        for _ in range(10):
            r = client.post("/auth/token", data={"username": "wang", "password": "guess"})
            assert r.status_code == 401
        r = client.post("/auth/token", data={"username": "wang", "password": "the right password"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "too many" in r.json()["error"]


def test_a_lockout_is_per_username_and_address(db):
    """Tester Z, L4: ten wrong passwords for one account locked every sign-in from that address
    (a steward's right password refused), and ten for 'admin' from anywhere locked the admin
    out everywhere. Now the guesser's address is locked out of that account only."""
    from api.ratelimit import FailureLimiter

    with db.begin() as conn:
        create_user(conn, "wang", "the right password", "viewer")
        create_user(conn, "zhao", "zhao's password", "steward")
    app = create_app(db)
    guesser = TestClient(app, client=("203.0.113.9", 40000))
    elsewhere = TestClient(app, client=("198.51.100.7", 40000))
    with guesser, elsewhere:
        for _ in range(10):
            r = guesser.post("/auth/token", data={"username": "wang", "password": "guess"})
            assert r.status_code == 401
        r = guesser.post("/auth/token", data={"username": "wang", "password": "the right password"})
        assert r.status_code == 429 and "too many" in r.json()["error"]
        assert r.json()["error"].startswith("登录失败次数过多")
        # the real user elsewhere, and a colleague at the guesser's address, still sign in
        ok = elsewhere.post(
            "/auth/token", data={"username": "wang", "password": "the right password"}
        )
        assert ok.status_code == 200
        ok = guesser.post("/auth/token", data={"username": "zhao", "password": "zhao's password"})
        assert ok.status_code == 200
    # spraying many usernames from one address: a higher ceiling locks the address
    limiter = FailureLimiter()
    assert (limiter.max_failures, limiter.max_per_address, limiter.window_s) == (10, 100, 300)
    with db.begin() as conn:
        started = [limiter.fail(conn, f"user{i}", "192.0.2.5") for i in range(100)]
    assert started == [None] * 99 + ["address"]  # said once, by the failure that locks
    with db.connect() as conn, pytest.raises(HTTPException) as locked:
        limiter.check(conn, "someone-else", "192.0.2.5")
    assert locked.value.status_code == 429 and "from your address" in locked.value.detail
    with db.connect() as conn:
        limiter.check(conn, "someone-else", "198.51.100.7")  # another address is not


def test_a_lockout_holds_across_processes_and_restarts_and_an_admin_lifts_it(db, pg_url):
    """Tester Z3: the counts lived in each API process's memory: a restart lifted every lock,
    a second process knew none, and an admin could neither see nor lift one. They are now
    counted from the audit log's sign-in entries, and 'gridward users unlock' lifts a lock."""
    from api.ratelimit import FailureLimiter
    from tests.test_import import run_cli

    with db.begin() as conn:
        create_user(conn, "chen", "chen's password", "viewer")
    guess = {"username": "chen", "password": "guess"}
    right = {"username": "chen", "password": "chen's password"}
    first, second = create_app(db), create_app(db)  # two API processes on one database
    with TestClient(first, client=("203.0.113.20", 1)) as a:
        for _ in range(10):
            assert a.post("/auth/token", data=guess).status_code == 401
        assert a.post("/auth/token", data=right).status_code == 429
    with TestClient(second, client=("203.0.113.20", 1)) as b:  # the other one
        r = b.post("/auth/token", data=right)
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 301
    with TestClient(create_app(db), client=("203.0.113.20", 1)) as c:  # after a restart
        assert c.post("/auth/token", data=right).status_code == 429
    # an admin lifts it; the refused tries stay in the log, marked by the unlock
    bad = run_cli(["users", "unlock"], pg_url)
    assert bad.returncode == 2 and "give a username, --address" in bad.stderr, bad.stderr
    res = run_cli(["users", "unlock", "chen"], pg_url)
    assert res.returncode == 0, res.stderr
    assert "已解除锁定：账号 chen 的登录已解锁" in res.stdout, res.stdout
    assert "(10 failed sign-in(s)" in res.stdout, res.stdout
    # T37 #17: a name with no account and nothing counted is not found (it said unlocked),
    # and nothing is recorded
    res = run_cli(["users", "unlock", "nobody"], pg_url)
    assert res.returncode == 2 and "账号 'nobody' 不存在 user 'nobody' not found" in res.stderr
    assert "已解除锁定" not in res.stdout, res.stdout
    with TestClient(create_app(db), client=("203.0.113.20", 1)) as c:
        assert c.post("/auth/token", data=right).status_code == 200
        for _ in range(9):  # counting starts afresh after a success
            assert c.post("/auth/token", data=guess).status_code == 401
        assert c.post("/auth/token", data=right).status_code == 200
    # an address locked for spraying names: lifted by --address, not by a name's unlock
    limiter = FailureLimiter()
    with db.begin() as conn:
        for i in range(100):
            limiter.fail(conn, f"spray{i}", "203.0.113.21")
    with TestClient(create_app(db), client=("203.0.113.21", 1)) as c:
        assert c.post("/auth/token", data=right).status_code == 429
        res = run_cli(["users", "unlock", "chen"], pg_url)
        # the 10 failures the first unlock cleared and the 9 a success cleared no longer count
        assert res.returncode == 0 and "(0 failed sign-in(s)" in res.stdout, res.stdout
        assert c.post("/auth/token", data=right).status_code == 429
        res = run_cli(["users", "unlock", "--address", "203.0.113.21"], pg_url)
        assert res.returncode == 0 and "address 203.0.113.21" in res.stdout, res
        assert "(100 failed" in res.stdout, res.stdout
        assert c.post("/auth/token", data=right).status_code == 200
    with db.connect() as conn:
        unlocks = conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'signin.unlock' ORDER BY id")
        ).all()
    from geo.audit import shell_actor

    cli = shell_actor()  # cli:<OS user> (T38 M4)
    assert [(a, d["username"], d["address"]) for a, d in unlocks] == [
        (cli, "chen", "*"),
        (cli, "chen", "*"),
        (cli, "*", "203.0.113.21"),
    ]
