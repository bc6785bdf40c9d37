"""Security headers on every answer and a script policy on every page (outside tester T42 #5),
and no cross-site sign-in that would set the cookie (T42 #6, login CSRF), on PostGIS.

Old code: answers carried only ``cache-control``, ``content-type`` and ``vary``: no CSP, no
``X-Frame-Options``, no ``nosniff``; and ``POST /auth/token`` from another site's page
(``Origin: https://evil.example``, ``Sec-Fetch-Site: cross-site``) answered 200 with the
session cookie, signing the browser in to the attacker's account.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app, tile_source
from tests.test_maps_browser import browser, serve  # noqa: F401 - the browser fixture

NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})'")
BASE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _settings(monkeypatch, **env: str) -> None:  # noqa: ANN001
    from geo.settings import get_settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


@pytest.fixture()
def client(db, monkeypatch) -> Iterator[TestClient]:  # noqa: ANN001
    from geo.settings import get_settings

    get_settings.cache_clear()
    try:
        with TestClient(create_app(db), raise_server_exceptions=False) as c:
            yield c
    finally:
        get_settings.cache_clear()


def _base_headers(r: Any) -> None:
    for k, v in BASE.items():
        assert r.headers.get(k) == v, (r.request.url, k, dict(r.headers))


def _nonce(r: Any) -> str:
    """The page's nonce; every <script tag of the page carries it."""
    policy = r.headers["content-security-policy"]
    m = NONCE.search(policy)
    assert m, policy
    nonce = m.group(1)
    tags = re.findall(r"<script[^>]*>", r.text, flags=re.IGNORECASE)
    assert tags, r.text[:300]
    assert all(f'nonce="{nonce}"' in t for t in tags), tags
    if "content-encoding" not in r.headers:
        assert int(r.headers["content-length"]) == len(r.content)
    return nonce


def test_every_answer_carries_the_security_headers(client, auth_headers) -> None:
    admin = auth_headers("admin")
    answers = [
        client.get("/health"),
        client.get("/areas", headers=admin),
        client.get("/areas"),  # 401
        client.get("/no/such/path"),  # 404
        client.get("/maps/static/gridward.js"),  # a file
        client.post("/tracks", headers={**admin, "Content-Length": str(10**12)}),  # 413 at door
        client.get("/openapi.json"),
    ]
    for r in answers:
        _base_headers(r)
        # no page: never framed, and nothing else said (a worker script must stay usable)
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'", r.request.url
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 200, 413, 200]


def test_a_500_from_the_last_handler_carries_them_too(db) -> None:  # noqa: ANN001
    app = create_app(db)

    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom-t42", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom-t42")
    assert r.status_code == 500 and r.json()["error"].startswith("内部错误")
    _base_headers(r)
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_pages_run_only_their_own_scripts_with_a_fresh_nonce(client, auth_headers) -> None:
    admin = auth_headers("admin")
    plain = {"Accept-Encoding": "identity"}  # Content-Length as the page's own bytes
    first, again = client.get("/login", headers=plain), client.get("/login", headers=plain)
    for r in (first, again):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        _base_headers(r)
    assert _nonce(first) != _nonce(again)
    policy = first.headers["content-security-policy"]
    for part in (
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:;",  # no basemap configured: nothing else
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ):
        assert part in policy, policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    for url in ("/maps", "/docs", "/redoc", "/docs/oauth2-redirect"):
        r = client.get(url, headers=admin)
        assert r.status_code == 200, url
        _base_headers(r)
        _nonce(r)
    # an error page too (a browser opening a page it may not see)
    r = client.get("/maps/no-such-map", headers={**admin, "Accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    _base_headers(r)
    _nonce(r)


def test_a_gzipped_page_carries_its_nonce(client, auth_headers) -> None:
    r = client.get("/docs", headers={**auth_headers("admin"), "Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    nonce = NONCE.search(r.headers["content-security-policy"]).group(1)
    assert f'<script nonce="{nonce}">' in r.text


def test_a_head_carries_the_headers_of_the_get(client) -> None:
    # uncompressed: a gzip'd page's length changes with its nonce
    plain = {"Accept-Encoding": "identity"}
    get, head = client.get("/login", headers=plain), client.head("/login", headers=plain)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    _base_headers(head)
    assert NONCE.search(head.headers["content-security-policy"])


def test_the_basemap_tiles_may_load(db, monkeypatch, auth_headers) -> None:  # noqa: ANN001
    url = "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8"
    _settings(monkeypatch, GRIDWARD_TILE_URL=url)
    try:
        with TestClient(create_app(db)) as c:
            r = c.get("/maps", headers=auth_headers("admin"))
        assert (
            "img-src 'self' data: blob: https://*.is.autonavi.com;"
            in (r.headers["content-security-policy"])
        )
    finally:
        monkeypatch.delenv("GRIDWARD_TILE_URL")
        _settings(monkeypatch)


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("http://t{s}.tianditu.gov.cn/vec_w/wmts?tk=K", "http://*.tianditu.gov.cn"),
        ("https://tiles.example.cn:8443/{z}/{x}/{y}.png", "https://tiles.example.cn:8443"),
        ("//tiles.example.cn/{z}/{x}/{y}.png", "tiles.example.cn"),
        ("/tiles/{z}/{x}/{y}.png", None),  # this site's: 'self'
        ("https://{s}.example/{z}/{x}/{y}.png", "https:"),
        ("https://bad;host.example/{z}.png", "https:"),
        (None, None),
    ],
)
def test_tile_sources(url: str | None, source: str | None) -> None:
    assert tile_source(url) == source


# --- T42 #6: login CSRF ----------------------------------------------------------------------


@pytest.fixture()
def account(db) -> tuple[str, str]:  # noqa: ANN001
    from geo.accounts import create_user

    name, password = f"stew_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with db.begin() as conn:
        create_user(conn, name, password, "viewer")
    return name, password


def _tokens(db) -> int:  # noqa: ANN001
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM api_tokens")).scalar_one())


def _sign_in(c: TestClient, account: tuple[str, str], **headers: str) -> Any:
    name, password = account
    return c.post("/auth/token", data={"username": name, "password": password}, headers=headers)


def test_a_cross_site_sign_in_is_refused_and_sets_no_cookie(client, db, account) -> None:  # noqa: ANN001
    before = _tokens(db)
    for headers in (
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
    ):
        r = _sign_in(client, account, **headers)
        assert r.status_code == 403, (headers, r.text)
        assert "set-cookie" not in r.headers, headers
        assert "gridward_token" not in client.cookies
        words = r.json()["error"]
        if "Origin" in headers:
            assert words.startswith("跨站登录被拒：另一个网站（来源 "), words
        else:  # no nested brackets around 未知 (T45 #7)
            assert words.startswith(
                "跨站登录被拒：另一个网站的网页（来源未知）不能让浏览器登录本站（登录会设置"
            ), words
            assert "a page of another site (origin (unknown)) may not" in words, words
        assert "cross-site sign-in refused: a page of another site (origin " in words
    assert r.json()["error"] == (
        "跨站登录被拒：另一个网站（来源 'https://other.testserver'）的网页不能让浏览器登录本站"
        "（登录会设置本站的 Cookie），账号和密码未经核对；请在本站的登录页 /login 登录；"
        "在别处提供的网页应用须将其来源列入 GRIDWARD_CORS_ORIGINS，并以 Authorization: Bearer "
        "发送取得的令牌 cross-site sign-in refused: a page of another site (origin "
        "'https://other.testserver') may not sign a browser in to this site (the sign-in sets "
        "this site's cookie); the password was not checked. Sign in at /login on this site; a "
        "web app served elsewhere needs its origin in GRIDWARD_CORS_ORIGINS and sends the "
        "token it gets as Authorization: Bearer"
    )
    assert _tokens(db) == before  # no token issued
    # a wrong password from another site is refused the same, and counts toward no lockout
    name, _ = account
    for _ in range(12):
        r = client.post(
            "/auth/token",
            data={"username": name, "password": "wrong"},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert r.status_code == 403
    assert _sign_in(client, account).status_code == 200


def test_own_page_and_scripts_still_sign_in(client, account) -> None:  # noqa: ANN001
    for headers in (
        {},  # curl, a script, a phone app
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},  # the sign-in page
        {"Origin": "http://testserver"},  # a browser without Sec-Fetch-Site
        {"Sec-Fetch-Site": "none"},
    ):
        client.cookies.clear()
        r = _sign_in(client, account, **headers)
        assert r.status_code == 200, (headers, r.text)
        assert r.json()["access_token"]
        assert "gridward_token=" in r.headers["set-cookie"], headers


def test_a_cors_allowed_app_gets_its_token_without_a_cookie(db, monkeypatch, account) -> None:  # noqa: ANN001
    _settings(monkeypatch, GRIDWARD_CORS_ORIGINS="https://app.example.cn")
    try:
        with TestClient(create_app(db)) as c:
            r = _sign_in(
                c, account, Origin="https://app.example.cn", **{"Sec-Fetch-Site": "cross-site"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["access_token"] and "set-cookie" not in r.headers
            assert r.headers["access-control-allow-origin"] == "https://app.example.cn"
            token = r.json()["access_token"]
            me = c.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            # another origin is still refused
            r = _sign_in(c, account, Origin="https://evil.example")
            assert r.status_code == 403
    finally:
        monkeypatch.delenv("GRIDWARD_CORS_ORIGINS")
        _settings(monkeypatch)


# --- in a real browser: no page breaks, and injected script does not run --------------------


@pytest.mark.browser
def test_pages_draw_under_the_policy_and_injected_script_does_not_run(
    db,  # noqa: ANN001
    browser,  # noqa: F811
) -> None:
    import time

    server, thread, port = serve(create_app(db))
    base = f"http://127.0.0.1:{port}"
    try:
        browser.get_log("browser")
        browser.get(f"{base}/login")
        assert browser.execute_script("return document.getElementById('f') !== null")
        # the sign-in page's own inline script ran: its submit handler is bound (a sign-in
        # with a wrong password writes its words into #msg)
        browser.find_element("id", "u").send_keys("nobody")
        browser.find_element("id", "p").send_keys("wrong")
        browser.find_element("css selector", "button").click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = browser.execute_script("return document.getElementById('msg').textContent")
            if msg:
                break
            time.sleep(0.2)
        assert msg.startswith("登录失败 Sign-in failed"), msg
        logs = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not [m for m in logs if "Content Security Policy" in m], logs
        # what an injection would do: an inline handler and an inline script without the nonce
        browser.execute_script(
            "document.body.insertAdjacentHTML('beforeend', "
            '\'<img src="data:,x" onerror="window.pwned = 1">\');'
            "const s = document.createElement('script'); s.textContent = 'window.pwned2 = 1';"
            "document.body.appendChild(s);"
        )
        time.sleep(0.5)
        assert browser.execute_script("return [window.pwned, window.pwned2]") == [None, None]
        logs = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert any("Content Security Policy" in m for m in logs), logs

        for path, ready in (
            ("/docs", "document.querySelectorAll('.opblock').length > 30"),
            (
                "/redoc",
                "document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 30",
            ),
        ):
            browser.get_log("browser")
            browser.get(base + path)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not browser.execute_script(f"return {ready}"):
                time.sleep(0.25)
            assert browser.execute_script(f"return {ready}"), path
            logs = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            # ReDoc's Redocly logo (an image from the internet, hidden when it fails) is the one
            # thing the policy refuses
            refused = [m for m in logs if "Content Security Policy" in m and "redoc.ly" not in m]
            assert not refused, (path, logs)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
