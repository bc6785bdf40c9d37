"""No page of the app names an outside host but the configured basemap's tiles (h49): /redoc
loaded Redocly's logo from https://cdn.redoc.ly, which the page's CSP blocked (a console error on
every visit, an outside address tried on intranets). Every HTML page (/docs, /redoc, the login
page, each map page) and ReDoc's bundle as served are scanned for http(s):// addresses."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import REDOC_JS, create_app
from geo.settings import get_settings
from tests.test_tracks_db import demo  # noqa: F401

TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8"
# an address in a page: a scheme and a host (an XML namespace is a name, not a load)
_ADDRESS = re.compile(r"https?://([A-Za-z0-9.{}\-]+(?::\d+)?)")
_NAMESPACES = {"www.w3.org"}


def _hosts(page: str) -> set[str]:
    return {h for h in _ADDRESS.findall(page) if h not in _NAMESPACES}


@pytest.fixture()
def tiles(monkeypatch):
    monkeypatch.setenv("GRIDWARD_TILE_URL", TILES)
    get_settings.cache_clear()
    yield urlsplit(TILES).netloc
    get_settings.cache_clear()


def test_no_page_names_an_outside_host_but_the_tiles(demo, auth_headers, tiles) -> None:  # noqa: F811
    with demo.connect() as conn:
        community = conn.execute(
            text("SELECT code FROM areas WHERE level = 'community' ORDER BY code LIMIT 1")
        ).scalar_one()
    admin = auth_headers("admin")
    pages = [
        "/docs",
        "/redoc",
        "/docs/oauth2-redirect",
        "/login",
        "/maps",
        "/maps/grids",
        "/maps/stewards",
        "/maps/patrols",
        "/maps/editor",
        f"/maps/editor?community={community}",
    ]
    seen: dict[str, set[str]] = {}
    with TestClient(create_app(demo)) as client:
        for path in pages:
            r = client.get(path, headers=admin)
            assert r.status_code == 200, (path, r.text[:300])
            assert r.headers["content-type"].startswith("text/html"), path
            seen[path] = _hosts(r.text) - {"testserver", tiles}
        # the map pages do draw the tiles (else this test would prove nothing about them)
        assert tiles in _hosts(client.get("/maps/grids", headers=admin).text)
        bundle = client.get(REDOC_JS)
        assert bundle.status_code == 200
        assert bundle.headers["content-type"].startswith("text/javascript")
        assert "redoc.standalone.js" in client.get("/redoc").text
        assert "cdn.redoc.ly" not in bundle.text and 'alt:"redocly logo"' in bundle.text
    assert all(not hosts for hosts in seen.values()), seen
