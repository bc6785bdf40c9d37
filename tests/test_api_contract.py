"""The HTTP API as a phone-app developer meets it (outside tester T40): the OpenAPI schema
documents the error body the app really sends, /docs and /redoc work offline, CORS for the
configured origins, 405s that name every method of the path, job ids in any case, HEAD
/health, and a write to a path with a trailing slash."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from geo.errors import reads_chinese_first
from geo.jobs import create_job
from geo.settings import Settings, get_settings

VENDOR = Path(__file__).resolve().parents[1] / "maps" / "static" / "vendor"
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture()
def client(db, auth_headers) -> Iterator[TestClient]:
    with TestClient(create_app(db), headers=auth_headers("admin")) as c:
        yield c


@pytest.fixture()
def cors_client(db, auth_headers, monkeypatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GRIDWARD_CORS_ORIGINS", "https://app.example.cn, capacitor://localhost")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(db), headers=auth_headers("admin")) as c:
            yield c
    finally:
        monkeypatch.delenv("GRIDWARD_CORS_ORIGINS")
        get_settings.cache_clear()


def _error_schema_of(answer: dict) -> str | None:
    return answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_openapi_documents_errors_as_the_app_sends_them(client) -> None:
    """(T40 #1) every 422 was FastAPI's {"detail": [...]} (HTTPValidationError)."""
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(spec)
    assert "ValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "status", "code"}
    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            answers = op["responses"]
            takes_input = op.get("parameters") or "requestBody" in op
            if takes_input:
                assert "422" in answers, f"{method} {path}: no 422"
            if "422" in answers:
                assert _error_schema_of(answers["422"]) == ERROR_REF, f"{method} {path}"
                checked += 1
            for code, answer in answers.items():
                if code[:1] in "45":
                    assert _error_schema_of(answer) == ERROR_REF, f"{method} {path} {code}"
            if "security" in op:
                assert "401" in answers, f"{method} {path}: signed in, no 401"
    assert checked > 30
    jobs = spec["paths"]["/jobs/{job_id}"]["get"]["responses"]
    assert {"401", "404", "422"} <= set(jobs)
    assert "403" in spec["paths"]["/plans"]["post"]["responses"]  # planners only
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]  # public

    # and the real 422 is that body
    r = client.get("/buildings", params={"limit": 0})
    assert r.status_code == 422
    assert set(r.json()) == {"error", "status", "code"} and r.json()["status"] == 422
    assert r.json()["error"].startswith("参数 limit")


def test_docs_pages_load_nothing_from_other_hosts(client) -> None:
    """(T40 #3) /docs and /redoc loaded their scripts from cdn.jsdelivr.net: blank offline."""
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", r.text), page
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert len(urls) >= 2, r.text  # the script and the icon, and Swagger's CSS
        for url in urls:
            # gridward's own: the vendored files, and ReDoc's bundle served without its logo
            assert url.startswith(("/maps/static/vendor/", "/redoc/")), url
            got = client.get(url)
            assert got.status_code == 200 and len(got.content) > 500, url
    assert "swagger-ui-bundle.js" in client.get("/docs").text
    assert "redoc.standalone.js" in client.get("/redoc").text
    assert client.get("/docs/oauth2-redirect").status_code == 200
    js = client.get("/maps/static/vendor/swagger-ui-dist/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and b"SwaggerUIBundle" in js.content
    for package in ("swagger-ui-dist", "redoc"):  # vendored with their licences
        assert (VENDOR / package / "LICENSE").is_file()
        assert "integrity sha512-" in (VENDOR / package / "SOURCE.txt").read_text("utf-8")


def test_no_cors_by_default_and_405_names_every_method_of_the_path(client) -> None:
    """(T40 #4) the 405's Allow named the first route's methods only (POST for /tracks,
    though GET /tracks exists), and its words named no method."""
    r = client.options(
        "/tracks",
        headers={"Origin": "https://app.example.cn", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
    assert r.headers["allow"] == "GET, HEAD, POST"  # HEAD wherever GET is (T41 #10)
    r = client.put("/tracks")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"
    assert r.json() == {
        "error": "不支持此请求方法 PUT（路径 /tracks 可用：GET、HEAD、POST） "
        "Method Not Allowed: PUT /tracks; this path takes GET, HEAD, POST",
        "status": 405,
        "code": "method_not_allowed",
    }
    r = client.delete("/health")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


def test_cors_for_the_configured_origins(cors_client) -> None:
    """(T40 #4) with GRIDWARD_CORS_ORIGINS, a preflight from a listed origin succeeds; one
    from another origin is refused as the app's JSON error; no credentials either way."""
    r = cors_client.options(
        "/tracks",
        headers={
            "Origin": "capacitor://localhost",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "capacitor://localhost"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers

    r = cors_client.options(
        "/tracks",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    assert r.json()["error"] == (
        "跨域预检被拒：来源 'https://evil.example'（请求方法 POST）不在 GRIDWARD_CORS_ORIGINS "
        "所列之中 CORS preflight refused: origin 'https://evil.example' (method POST) is not "
        "allowed by GRIDWARD_CORS_ORIGINS"
    )

    r = cors_client.get("/tracks", headers={"Origin": "https://app.example.cn"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example.cn"
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    # an error carries the header too, so the app can read it
    r = cors_client.get("/buildings?limit=0", headers={"Origin": "https://app.example.cn"})
    assert r.status_code == 422
    assert r.headers["access-control-allow-origin"] == "https://app.example.cn"


@pytest.mark.parametrize("value", ["https://app.example.cn/", "app.example.cn", "https://a/b"])
def test_a_cors_origin_that_no_browser_sends_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(cors_origins=f"https://ok.example, {value}")
    assert f"跨域来源 {value!r} 无效：须写成 协议://主机[:端口]" in str(err.value)
    assert f"invalid CORS origin {value!r}: write scheme://host[:port]" in str(err.value)
    ok = Settings(cors_origins=" https://ok.example ,capacitor://localhost,http://10.0.0.2:8100")
    assert ok.cors_origin_list() == [
        "https://ok.example",
        "capacitor://localhost",
        "http://10.0.0.2:8100",
    ]
    assert Settings(cors_origins="").cors_origin_list() == []


def test_a_job_id_in_upper_case_is_the_job(client, db) -> None:
    """(T40 #6) iOS writes UUIDs in upper case: GET /jobs/{ID} was a 404."""
    with db.begin() as conn:
        job_id = create_job(conn, "partition", {"community": "110108020001"})
    r = client.get(f"/jobs/{job_id.upper()}")
    assert r.status_code == 200, r.text
    assert r.json()["job_id"] == job_id and r.json()["status"] == "queued"
    missing = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
    r = client.get(f"/jobs/{missing}")
    assert r.status_code == 404
    assert r.json()["error"] == f"任务 {missing} 不存在 job {missing} not found"
    # (T60 #13) its 32 hex digits without dashes were "too short"; braces and urn:uuid: too
    for written in (job_id.replace("-", ""), f"{{{job_id.upper()}}}", f"urn:uuid:{job_id}"):
        r = client.get(f"/jobs/{written}")
        assert r.status_code == 200 and r.json()["job_id"] == job_id, (written, r.text)
    r = client.get("/jobs/" + "g" * 32)  # long enough, but no UUID: named, not a 404
    assert r.status_code == 422 and r.json()["error"].startswith("任务编号 'gggg"), r.text
    assert "is not a UUID" in r.json()["error"]


def test_head_health_for_monitors(client) -> None:
    """(T40 #15) HEAD /health was a 405."""
    r = client.head("/health")
    assert r.status_code == 200 and r.content == b""
    assert client.get("/health").json()["database"] == "ok"


def test_a_write_to_a_path_with_a_trailing_slash_is_a_404_naming_the_path(client) -> None:
    """(T40 #15) POST /tracks/ was a 307 with no body: many clients drop the body of a
    redirected POST, or send it twice. A GET keeps its redirect."""
    r = client.post("/tracks/", follow_redirects=False, files={"file": ("a.gpx", b"<gpx/>")})
    assert r.status_code == 404
    assert r.json()["error"] == (
        "路径 /tracks/ 不存在：请去掉末尾的 /，改用 POST /tracks（不做重定向：重定向会让很多"
        "客户端丢掉或重发请求体） not found: /tracks/; send POST /tracks, without the trailing "
        "slash (no redirect: many clients drop or re-send the body of a redirected request)"
    )
    r = client.post("/health/", follow_redirects=False)
    assert r.status_code == 404
    assert r.json()["error"] == (
        "路径 /health/ 不存在：去掉末尾的 / 的路径 /health 可用 GET、HEAD，不可用 POST "
        "not found: /health/; the path without the trailing slash, /health, takes GET, HEAD, "
        "not POST"
    )
    r = client.get("/tracks/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/tracks")
    r = client.post("/no-such-thing/", follow_redirects=False)
    assert r.status_code == 404 and "/tracks" not in r.json()["error"]


def test_openapi_names_the_refusals_clients_meet(client) -> None:
    """(T67 #5) an integrator met 404, 408, 409, 413 and 415 from POST /tracks, 404 and 409
    from POST /assignments, 409 from a withdrawal, 403 from a track or a job and 404 from
    /coverage, none of them in the schema: each is named now, with the Error body; every body
    may be too large or of another type, and every answer may be a 503 while the database
    is away."""
    from api.app import _OWN_ERRORS

    spec = client.get("/openapi.json").json()
    for (method, path), own in _OWN_ERRORS.items():
        answers = spec["paths"][path][method]["responses"]  # a renamed path fails here
        for code in own:
            assert _error_schema_of(answers[code]) == ERROR_REF, (method, path, code)
            assert reads_chinese_first(own[code]), (method, path, code)
    post_tracks = spec["paths"]["/tracks"]["post"]["responses"]
    assert {"404", "408", "409", "413", "415", "429"} <= set(post_tracks)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                assert {"413", "415"} <= set(op["responses"]), (method, path)
            if path != "/login":
                assert "503" in op["responses"], (method, path)
