"""Hostile and broken input (tests/hostile/cases.csv): every case is refused with a 4xx JSON
error (API) or ``error: ...`` and exit 2 (CLI) that names the problem, never a 5xx or a
traceback, and the database is byte-for-byte unchanged afterwards (row counts and checksums
of every table).

Regenerate the corpus with ``python tests/hostile/make_corpus.py``.
"""

from __future__ import annotations

import csv
import shlex
import sys
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from api.auth import allow
from api.limits import read_upload
from geo.accounts import Principal
from tests.dbcheck import fingerprint
from tests.test_upload_limits_db import _drive

HOSTILE = Path(__file__).parent / "hostile"
FILES = HOSTILE / "files"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = list(csv.DictReader((HOSTILE / "cases.csv").open(encoding="utf-8")))

# Known defects in code owned by others: the case must fail today; strict, so the fix shows.
KNOWN: dict[str, str] = {}  # case id -> known defect (owner, fix); empty: all fixed


snapshot = fingerprint  # every table's row count and checksum


def _diff(before: dict, after: dict) -> list[str]:
    return [
        f"{t}: {before.get(t)} → {after.get(t)}"
        for t in sorted(set(before) | set(after))
        if before.get(t) != after.get(t)
    ]


probe = APIRouter()


@probe.post("/tracks", tags=["probe"])
async def probe_upload(
    request: Request, user: Annotated[Principal, Depends(allow("steward", own_person=True))]
) -> dict:
    """Stands in for the real upload route until it lands: same reader, same parser."""
    from starlette.concurrency import run_in_threadpool

    from geo.tracks.parse import parse_track

    up = await read_upload(request)
    parsed = await run_in_threadpool(
        parse_track, up.data, up.filename, up.fields.get("crs", "wgs84")
    )
    return {"points": len(parsed.points)}


@pytest.fixture(scope="module")
def env(engine):
    from fastapi.testclient import TestClient
    from sqlalchemy import delete

    from api.app import create_app
    from api.auth import iter_routes
    from geo.accounts import create_user, issue_token
    from geo.accounts_models import User
    from geo.areas_import import import_areas
    from geo.importer import import_osm
    from tests.conftest import empty_database

    with engine.connect() as conn:
        n_streets = conn.execute(text("SELECT count(*) FROM street_segments")).scalar()
        n_buildings = conn.execute(text("SELECT count(*) FROM buildings")).scalar()
    # the demo city, so that an injected filter would have rows to leak (a file run before
    # this one on the worker may have left streets of its own and no buildings)
    if not n_streets or not n_buildings:
        # from empty tables: another file's streets elsewhere (test_street_areas_db's) made
        # the areas import refuse the demo's communities as lying far from them (T46 #4)
        empty_database(engine)
        import_areas(engine, FIXTURES / "communities.geojson", level="community")
        import_osm(engine, FIXTURES / "haidian_demo.osm")
    users = User.__table__
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.username == "hostile-admin"))
        uid = create_user(conn, "hostile-admin", "hostile-password", "admin")
        token = issue_token(conn, uid, "api", "hostile")[1]
    app = create_app(engine)
    has_upload = any(r.path == "/tracks" and "POST" in r.methods for r in iter_routes(app))
    if not has_upload:
        app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {token}"}
        client.get("/auth/me", headers=auth)  # first use writes last_used_at: before the baseline
        yield {
            "client": client,
            "auth": auth,
            "engine": engine,
            "base": snapshot(engine),
            "real_upload": has_upload,
            "app": app,
        }
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.username == "hostile-admin"))


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert {c["channel"] for c in CASES} == {"upload", "api", "cli"}
    for c in CASES:
        assert c["file"] == "-" or (FILES / c["file"]).is_file(), c


def _send(client, auth: dict, target: str):
    verb, rest = target.split(" ", 1)
    if verb == "GET" or verb == "DELETE":
        return client.request(verb, rest, headers=auth)
    path, _, payload = rest.partition(" ")
    if verb == "FORM":
        fields = dict(p.split("=", 1) for p in payload.split("&"))
        return client.post(path, data=fields)
    if verb == "JSON":
        return client.post(path, content=payload, headers={"Content-Type": "application/json"})
    if verb == "RAWJSON":
        return client.post(
            path, content=payload, headers={**auth, "Content-Type": "application/json"}
        )
    if verb == "TEXT":
        return client.post(path, content=payload, headers={**auth, "Content-Type": "text/plain"})
    raise AssertionError(f"unknown verb {verb}")


def _upload(client, auth: dict, case: dict):
    if case["id"] == "up-no-file-field":
        return client.post("/tracks", headers=auth, files={"other": ("x.txt", b"hello")})
    data = (FILES / case["file"]).read_bytes()
    if case["expect"] == "415":
        return client.post("/tracks", headers={**auth, "Content-Type": "image/png"}, content=data)
    return client.post(
        "/tracks", headers=auth, files={"file": (case["file"], data, "application/octet-stream")}
    )


def _check_http(resp, case: dict) -> None:
    assert resp.status_code < 500, f"{case['id']}: server error {resp.status_code} {resp.text}"
    body = resp.json()
    if case["expect"] == "ok":
        assert resp.status_code == 200, f"{case['id']}: {resp.status_code} {body}"
        assert body["numberReturned"] == 0, f"{case['id']}: the filter matched rows"
        return
    want = case["expect"]
    if want == "4xx":
        assert 400 <= resp.status_code < 500, f"{case['id']}: {resp.status_code} {body}"
    else:
        assert resp.status_code == int(want), f"{case['id']}: {resp.status_code} {body}"
    assert isinstance(body.get("error"), str) and body["error"], f"{case['id']}: {body}"
    assert case["mention"].lower() in body["error"].lower(), (
        f"{case['id']}: error {body['error']!r} does not mention {case['mention']!r}"
    )


HTTP_CASES = [c for c in CASES if c["channel"] in ("api", "upload")]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["id"] for c in HTTP_CASES])
def test_http_case(env, case: dict) -> None:
    if case["id"] in KNOWN:
        pytest.xfail(KNOWN[case["id"]])
    client, auth = env["client"], env["auth"]
    if case["channel"] == "upload":
        resp = _upload(client, auth, case)
    else:
        resp = _send(client, auth, case["target"])
    _check_http(resp, case)
    if case["expect"] == "ok":  # the injected filter had rows it could have leaked
        assert client.get("/streets?limit=1", headers=auth).json()["numberMatched"] > 0
    assert _diff(env["base"], snapshot(env["engine"])) == [], case["id"]


CLI_CASES = [c for c in CASES if c["channel"] == "cli"]


def _cli_available(args: list[str]) -> bool:
    import typer.main

    from api.cli import app

    group = typer.main.get_command(app)
    cmd = group
    for word in args[:2]:
        sub = getattr(cmd, "commands", {}).get(word)
        if sub is None:
            return cmd is not group
        cmd = sub
    return True


@pytest.mark.parametrize("case", CLI_CASES, ids=[c["id"] for c in CLI_CASES])
def test_cli_case(env, case: dict, pg_url, tmp_path, monkeypatch, capsys) -> None:
    from api.cli import main
    from geo.settings import get_settings

    out = tmp_path / "out.geojson"
    line = case["target"].format(f=FILES / case["file"], d=FILES, o=out)
    args = shlex.split(line)
    if not _cli_available(args):
        pytest.skip(f"'gridward {' '.join(args[:2])}' does not exist yet")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setattr(sys, "argv", ["gridward", *args])
    get_settings.cache_clear()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        get_settings.cache_clear()
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err, f"{case['id']}: traceback\n{err}"
    if case["id"] in KNOWN:
        pytest.xfail(KNOWN[case["id"]])
    if case["expect"] == "fail":  # batch checkers: one line per file on stdout, non-zero exit
        assert code != 0, f"{case['id']}: exit 0, stdout: {captured.out[-500:]}"
        assert case["mention"].lower() in (captured.out + err).lower(), captured.out
    else:
        assert code == 2, f"{case['id']}: exit {code}, stderr: {err[-500:]}"
        assert "error: " in err, f"{case['id']}: {err}"
        assert case["mention"].lower() in err.lower(), f"{case['id']}: {err}"
    assert not out.exists(), f"{case['id']}: an output file was written despite the error"
    assert _diff(env["base"], snapshot(env["engine"])) == [], case["id"]


def test_html_and_sql_names_are_stored_as_text(env, pg_url, monkeypatch) -> None:
    """A name full of markup and SQL is data: stored verbatim, served verbatim as JSON."""
    from sqlalchemy import delete

    from geo.areas_import import import_areas
    from geo.models import Area

    html = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
    try:
        import_areas(env["engine"], FILES / "html_area.geojson")
        r = env["client"].get("/areas?code=110108015908", headers=env["auth"])
        assert r.status_code == 200
        (feature,) = r.json()["features"]
        assert feature["properties"]["name"] == html
        sql = "x'); DROP TABLE buildings; --"
        r = env["client"].get("/streets", params={"name": sql}, headers=env["auth"])
        assert r.status_code == 200 and r.json()["numberReturned"] == 0
        assert (
            env["client"].get("/buildings?limit=1", headers=env["auth"]).json()["numberMatched"] > 0
        )
    finally:
        with env["engine"].begin() as conn:
            conn.execute(delete(Area.__table__).where(Area.__table__.c.code == "110108015908"))


def test_oversize_upload_is_refused_while_streaming(env) -> None:
    """Drive the ASGI app directly with a 1 MiB-chunked body and no Content-Length: the 413
    must come after about limit/chunk chunks, not after the whole (120 MiB) body; for
    POST /tracks the request's limit (a file past its own is dropped and read on, for the
    files after it: T67 #3)."""
    from api.limits import TOTAL_FILES, default_limit, request_limit

    app, auth = env["app"], env["auth"]
    before = snapshot(env["engine"])
    chunk = b"<" * (1 << 20)
    head = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.gpx"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    chunks = [head + chunk] + [chunk] * 119
    headers = [
        (b"authorization", auth["Authorization"].encode()),
        (b"content-type", b"multipart/form-data; boundary=xyz"),
        (b"host", b"testserver"),
    ]
    caps = {"/tracks": request_limit(default_limit(), TOTAL_FILES), "/auth/api-tokens": 0}
    for path, cap in caps.items():
        status, _body, pulled = _drive(app, path, headers, chunks)
        assert status == 413, (path, status)
        cap = cap or default_limit()
        assert pulled <= cap // len(chunk) + 3, f"{path}: read {pulled} MiB first"
    # a declared Content-Length over the limit is refused before the body is read
    r = env["client"].post("/tracks", headers={**auth, "Content-Length": str(10**12)}, content=b"x")
    assert r.status_code in (400, 413) and "error" in r.json()
    assert _diff(before, snapshot(env["engine"])) == []
