"""What a subdistrict viewer met on the map pages (outside tester, Selenium): errors of the
pages' own forms and links as bare JSON, no sign-out, nothing compressed, every GPS fix in
the patrol page, 街道 for streets, nested /grids properties, steward colours and coverage
figures that did not add up. Over HTTP here (TestClient, the seeded demo city of
test_maps_data); what the browser shows is in test_maps_browser_viewer.py."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from tests.test_maps_data import PATROL_DAY
from tests.test_maps_pages import site, token_for  # noqa: F401 - the module's demo city

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _data(page: str) -> dict[str, Any]:
    """The DATA a map page hands its script (maps.page.add_script)."""
    raw = re.search(r"var DATA = (\{.*?\});\n", page, re.S)
    assert raw, "no DATA in the page"
    return json.loads(raw.group(1))


def test_page_errors_are_html_pages_for_a_browser_and_json_for_the_api(site) -> None:  # noqa: F811
    c, admin, viewer = site["client"], site["auth"], site["viewer"]
    ahead = dt.date.today() + dt.timedelta(days=3)
    for url, headers, status, words in (
        ("/maps/grids?min=600&max=500", admin, 422, "户数下限大于上限"),
        (f"/maps/patrols?date={ahead}", admin, 422, "future"),
        ("/maps/editor?community=" + site["communities"][0], viewer, 403, "角色为查看员，无此权限"),
        ("/maps/nowhere", admin, 404, "Not Found"),
    ):
        r = c.get(url, headers={**headers, **BROWSER})
        assert r.status_code == status, (url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), url
        page = r.text
        assert words in page and f"· {status}" in page, (url, page)
        # the top bar with the signed-in name and 退出 on every one (M2, N3: the 422 and 404
        # pages had no bar, the 403 one no name); the cookie a browser sends counts the same
        who = "maps-viewer" if headers is viewer else "maps-admin"
        bar = re.search(r'<nav class="gw-topbar">.*?</nav>', page, re.S)
        assert bar and f'<span class="gw-user">{who}</span>' in bar.group(0), (url, page[:600])
        assert 'class="gw-signout"' in bar.group(0), url
        assert 'href="/maps"' in page and '<meta name="viewport"' in page, url
        assert "gridward.css" in page, url
        # the API's words, Chinese first, inside the page
        msg = re.search(r'<p class="gw-error-msg"[^>]*>(.*?)</p>', page).group(1)
        assert re.match(r"[\u4e00-\u9fff]", msg), msg
        # the same request from a script (fetch's */*, curl): JSON as before
        j = c.get(url, headers=headers)
        assert j.status_code == status and j.json()["status"] == status, url
    r = c.get("/maps/grids?min=600&max=500", headers={**admin, **BROWSER})
    assert 'href="/maps/grids"' in r.text  # the page afresh, without the bad range
    # a refused viewer can sign out from the error page (to sign in as someone else)
    assert 'class="gw-signout"' in c.get("/maps/editor", headers={**viewer, **BROWSER}).text
    # API routes stay JSON even for a browser
    r = c.get("/grids?level=9", headers={**admin, **BROWSER})
    assert r.status_code == 422 and r.json()["status"] == 422
    # a 401 page (a GET of a page is sent to the sign-in page instead): the sign-in link
    # brings the person back
    from maps.shell import error_page

    page = error_page(401, "需要登录 not signed in", "/maps/grids", "min=1&max=9")
    assert 'href="/login?next=%2Fmaps%2Fgrids%3Fmin%3D1%26max%3D9"' in page
    # the sign-in cookie alone (a browser) names the user on a 404 too; no one signed in: no bar
    token = admin["Authorization"].split()[1]
    page = c.get("/maps/nowhere", headers={**BROWSER, "Cookie": f"gridward_token={token}"}).text
    assert '<span class="gw-user">maps-admin</span>' in page
    assert "gw-topbar" not in c.get("/maps/nowhere", headers=BROWSER).text
    # the GET of a page without a session still goes to the sign-in page
    r = c.get("/maps/grids", headers=BROWSER, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/maps/grids"


def test_patrol_date_input_stops_at_the_citys_today(site) -> None:  # noqa: F811
    from geo.settings import city_today

    page = site["client"].get(f"/maps/patrols?date={PATROL_DAY}", headers=site["auth"]).text
    field = re.search(r'<input name="date" type="date"[^>]*>', page).group(0)
    assert f'max="{city_today()}"' in field and f'value="{PATROL_DAY}"' in field


def test_grid_range_form_is_checked_in_the_page(site) -> None:  # noqa: F811
    page = site["client"].get("/maps/grids", headers=site["auth"]).text
    form = re.search(r'<form id="gw-range".*?</form>', page, re.S).group(0)
    assert 'id="gw-range-min"' in form and 'min="0"' in form and "required" in form
    assert 'id="gw-range-max"' in form and 'min="1"' in form and 'max="1000000"' in form
    script = site["client"].get("/maps/static/grid_map.js").text
    assert "户数下限大于上限" in script and "setCustomValidity" in script


def test_every_page_has_the_sign_out_bar_and_a_viewport(site) -> None:  # noqa: F811
    c, h = site["client"], site["auth"]
    code = site["communities"][0]
    for url in (
        "/maps",
        "/maps/grids",
        "/maps/stewards",
        f"/maps/patrols?date={PATROL_DAY}",
        f"/maps/editor?community={code}",
    ):
        page = c.get(url, headers=h).text
        form = re.search(r'<form class="gw-signout"[^>]*>.*?</form>', page, re.S)
        assert form, url
        assert 'method="post" action="/auth/logout"' in form.group(0) and "退出" in form.group(0)
        assert '<meta name="viewport"' in page, url
        assert 'href="/maps"' in page, url
    # the signed-in name is in the bar
    assert '<span class="gw-user">maps-viewer</span>' in c.get("/maps", headers=site["viewer"]).text
    # the script that posts it with X-Requested-With, then opens the sign-in page
    script = c.get("/maps/static/gridward.js").text
    assert '"/auth/logout"' in script and 'location.assign("/login")' in script


def test_the_sign_out_route_the_bar_posts_to_ends_the_sign_in(site) -> None:  # noqa: F811
    """What the bar's script does, by hand: the cookie's sign-in is revoked and the cookie
    cleared; the map index then sends the browser to the sign-in page."""
    from fastapi.testclient import TestClient

    from geo.accounts import create_user

    db = site["engine"]
    with db.begin() as conn:
        create_user(conn, "maps-leaver", "maps-leaver-password", "viewer", ())
    with TestClient(site["client"].app) as c:
        r = c.post(
            "/auth/token", data={"username": "maps-leaver", "password": "maps-leaver-password"}
        )
        assert r.status_code == 200 and c.cookies.get("gridward_token")
        assert c.get("/maps", headers=BROWSER).status_code == 200
        r = c.post("/auth/logout", headers={"X-Requested-With": "XMLHttpRequest"})
        assert r.status_code == 204 and not c.cookies.get("gridward_token")
        with db.connect() as conn:
            revoked = conn.execute(
                text(
                    "SELECT t.revoked_at IS NOT NULL FROM api_tokens t JOIN users u "
                    "ON u.id = t.user_id WHERE u.username = 'maps-leaver'"
                )
            ).scalar_one()
        assert revoked
        r = c.get("/maps", headers=BROWSER, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_sign_out_form_works_without_the_script(site) -> None:  # noqa: F811
    """Without JavaScript the bar's form was posted as it is and got the CSRF 403, so nobody
    could sign out. The browser's own same-origin form post now signs out and goes on to the
    sign-in page; the same post from another site's page is still refused."""
    from fastapi.testclient import TestClient

    from geo.accounts import create_user

    with site["engine"].begin() as conn:
        create_user(conn, "maps-noscript", "maps-noscript-password", "viewer", ())
    form = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}
    with TestClient(site["client"].app) as c:
        r = c.post(
            "/auth/token", data={"username": "maps-noscript", "password": "maps-noscript-password"}
        )
        assert r.status_code == 200 and c.cookies.get("gridward_token")
        for other_site in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}, {}):
            r = c.post("/auth/logout", headers={**form, **other_site}, follow_redirects=False)
            assert r.status_code == 403, (other_site, r.text)
            assert c.get("/maps", headers=BROWSER).status_code == 200  # still signed in
        for own in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://testserver"}):
            r = c.post("/auth/logout", headers={**form, **own}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/login", (own, r.text)
            assert not c.cookies.get("gridward_token")
            r = c.get("/maps", headers=BROWSER, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
            r = c.post(
                "/auth/token",
                data={"username": "maps-noscript", "password": "maps-noscript-password"},
            )
            assert r.status_code == 200


def test_big_answers_are_gzipped_and_exports_download_intact(site) -> None:  # noqa: F811
    c, h = site["client"], site["auth"]
    gz = {**h, "Accept-Encoding": "gzip"}
    plain = {**h, "Accept-Encoding": "identity"}
    for url in ("/streets?limit=5000", f"/maps/patrols?date={PATROL_DAY}", "/maps/grids"):
        with c.stream("GET", url, headers=gz) as r:
            raw = b"".join(r.iter_raw())
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", url
        full = c.get(url, headers=plain)
        assert "content-encoding" not in full.headers
        assert len(raw) < len(full.content) / 3, (url, len(raw), len(full.content))
        if url.startswith("/streets"):
            assert json.loads(gzip.decompress(raw)) == full.json()
    small = c.get("/health", headers=gz)
    assert small.status_code == 200 and "content-encoding" not in small.headers
    # a CSV export (a file response, streamed): gzip'd on the way, the same bytes after
    url = f"/reports/daily?date={PATROL_DAY}&format=csv&table=alleys"
    with c.stream("GET", url, headers=gz) as r:
        raw = b"".join(r.iter_raw())
        disposition = r.headers["content-disposition"]
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "attachment" in disposition and ".csv" in disposition
    same = c.get(url, headers=plain).content
    assert gzip.decompress(raw) == same and len(same) > 1000
    # an XLSX (a zip already) is sent as it is, and opens
    import io

    import openpyxl

    url = f"/reports/daily?date={PATROL_DAY}&format=xlsx"
    r = c.get(url, headers=gz)
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert int(r.headers["content-length"]) == len(r.content)
    assert openpyxl.load_workbook(io.BytesIO(r.content)).sheetnames
    # a track upload (a request body) is not touched: its answer is JSON as before
    r = c.post(
        "/tracks", files={"file": ("x.gpx", b"<gpx></gpx>", "application/gpx+xml")}, headers=gz
    )
    assert 400 <= r.status_code < 500 and r.json()["error"]


def test_thin_track_keeps_the_shape_and_true_times() -> None:
    from geo.map_data import thin_track

    rng = np.random.default_rng(3)
    # 400 fixes 1 m apart eastwards with 1 m scatter, then back west: a U-turn
    east = np.arange(200) * 1.0
    x = np.concatenate([east, east[::-1]])
    y = np.concatenate([np.zeros(200), np.full(200, 3.0)]) + rng.normal(0, 1.0, 400)
    lon = 116.3 + x / (111_320 * np.cos(np.radians(40.0)))
    lat = 40.0 + y / 110_574
    keep = thin_track(lon, lat, tolerance_m=5.0)
    assert keep[0] == 0 and keep[-1] == 399 and np.all(np.diff(keep) > 0)
    assert len(keep) < 40  # the scatter goes, the walk stays
    assert any(190 <= k <= 210 for k in keep)  # the turn is kept (out and back, not a line)
    assert len(thin_track(lon, lat, tolerance_m=0.0, max_points=50)) <= 50
    assert list(thin_track(lon[:2], lat[:2])) == [0, 1]


def test_patrol_page_embeds_thinned_tracks_with_their_fix_count(site) -> None:  # noqa: F811
    c, h, db = site["client"], site["auth"], site["engine"]
    page = c.get(f"/maps/patrols?date={PATROL_DAY}&person={site['walker']}", headers=h).text
    (track,) = _data(page)["tracks"]
    with db.connect() as conn:
        n, first, last = conn.execute(
            text(
                "SELECT count(*), extract(epoch FROM min(t)), extract(epoch FROM max(t)) "
                "FROM track_points WHERE track_id = :t"
            ),
            {"t": site["track"]},
        ).one()
    assert track["n_points"] == n and 2 <= len(track["points"]) < n
    # [lon, lat, seconds after the first fix]: the last kept fix is the walk's last
    start = dt.datetime.fromisoformat(track["start"].replace("Z", "+00:00")).timestamp()
    assert start == float(first) and track["points"][-1][2] == float(last) - float(first)


def test_streets_are_jie_not_jiedao(site) -> None:  # noqa: F811
    """街道 is the subdistrict (README glossary); a street is 街."""
    c, h = site["client"], site["auth"]
    for asset in ("grid_map.js", "steward_map.js", "patrol_map.js"):
        script = c.get(f"/maps/static/{asset}").text
        assert "街道" not in script, asset
    assert '"街 streets"' in c.get("/maps/static/grid_map.js").text
    assert '"街 streets"' in c.get("/maps/static/steward_map.js").text
    page = c.get(f"/maps/patrols?date={PATROL_DAY}", headers=h).text
    assert "街巷长·街道" not in page
    from maps.patrol_map import ROLE_COUNTS

    assert ROLE_COUNTS["street_chief"].startswith("街巷长·街 ")


def test_grids_geojson_has_no_nested_properties(site) -> None:  # noqa: F811
    c, db = site["client"], site["engine"]
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE grids SET properties = jsonb_build_object('building_ids', "
                "jsonb_build_array(1, 2, 3), 'locked', true, 'area_m2', 1234.5) "
                "WHERE code = (SELECT min(code) FROM grids WHERE level = 1)"
            )
        )
    fc = c.get("/grids?level=1&limit=5000", headers=site["viewer"]).json()
    assert fc["features"]
    for f in fc["features"]:
        p = f["properties"]
        assert "properties" not in p and "building_ids" not in p and "locked" not in p, p
    first = min(fc["features"], key=lambda f: f["properties"]["code"])["properties"]
    assert first["area_m2"] == 1234.5 and first["households"] >= 0


def test_steward_colours_differ_between_neighbours() -> None:
    from maps.steward_map import PALETTE, steward_colours

    # 35 stewards along a chain of alleys, each near the next three: neighbours differ
    ids = list(range(100, 135))
    pairs = [(a, b) for a in ids for b in ids if 0 < b - a <= 3]
    colours = steward_colours(ids, pairs)
    assert all(colours[a] != colours[b] for a, b in pairs)
    assert len(set(colours.values())) >= 10  # spread over the palette, not 4 colours
    # more mutual neighbours than colours: as few clashes as can be
    crowd = list(range(len(PALETTE) + 2))
    clique = [(a, b) for a in crowd for b in crowd if a < b]
    many = steward_colours(crowd, clique)
    assert len(set(many.values())) == len(PALETTE)


def test_steward_panel_counts_alleys_outside_every_community(site) -> None:  # noqa: F811
    """The panel's staffed share and GET /coverage's differ by the alleys outside every
    community: the panel names them, and counts alleys as /coverage does."""
    from geo.map_data import alleys_with_stewards
    from geo.street_areas import street_areas_sql

    c, h, db = site["client"], site["auth"], site["engine"]
    with db.connect() as conn:
        where = {
            r.alley_id: r.community_code
            for r in conn.execute(text(f"SELECT * FROM ({street_areas_sql()}) h")).all()
        }
        segs = (
            conn.execute(
                text(
                    "SELECT street_id FROM street_segments "
                    "WHERE kind = 'alley' AND retired_at IS NULL"
                )
            )
            .scalars()
            .all()
        )
    outside = sum(1 for s in segs if where.get(s) is None)
    inside = len(segs) - outside
    rates = alleys_with_stewards(db).rates
    assert (rates["outside"], rates["inside"]) == (outside, inside)
    page = c.get("/maps/stewards", headers=h).text
    cell = re.search(r'id="gw-outside">([^<]*)<', page).group(1)
    assert cell.startswith(f"{outside} 段"), cell
    assert "社区外 not in any community" in page
    staffed = re.search(r'id="gw-inside">([^<]*)<', page).group(1)
    assert staffed.startswith(f"{rates['inside_with_steward']} / {inside} 段"), staffed
    # every steward has a colour in the page data, none of them the no-steward red
    stewards = _data(page)["stewards"]
    assert stewards and all(s["color"] and s["color"] != "#d62728" for s in stewards)


def test_grid_map_embeds_community_outlines_with_short_names(site) -> None:  # noqa: F811
    from maps.grid_map import short_names

    assert short_names({"1": "清华园西北社区", "2": "清华园东北社区", "3": "清华园西南社区"}) == {
        "1": "西北",
        "2": "东北",
        "3": "西南",
    }
    assert short_names({"1": "五道口社区"}) == {"1": "五道口"}
    # two names alike once shortened: their whole names
    assert short_names({"1": "东升社区", "2": "东升村"}) == {"1": "东升社区", "2": "东升村"}
    page = site["client"].get("/maps/grids", headers=site["auth"]).text
    data = _data(page)
    codes = sorted(f["properties"]["code"] for f in data["communities"]["features"])
    assert codes == sorted(site["communities"]) and data["community"] is None
    assert all(f["properties"]["short"] for f in data["communities"]["features"])
    one = (
        site["client"]
        .get(f"/maps/grids?community={site['communities'][0]}", headers=site["auth"])
        .text
    )
    assert _data(one)["community"] == site["communities"][0]


@pytest.mark.parametrize("accept", ["*/*", "application/json", "text/html;q=0.5,application/json"])
def test_scripts_keep_json_errors_on_page_routes(site, accept: str) -> None:  # noqa: F811
    r = site["client"].get(
        "/maps/grids?min=600&max=500", headers={**site["auth"], "Accept": accept}
    )
    assert r.status_code == 422 and r.json()["status"] == 422
