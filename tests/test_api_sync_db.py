"""The district platform's nightly sync job through the API (outside tester T67): an API
token mints no token, so revoking it ends what it can do (#12); token and duty times in the
city's zone (#15); a retried POST /assignments answers the duty it set (#8); everyone's
duties of a day in one paged call, GET /assignments (#10); grid versions and their code
crosswalk for read-only accounts (#11). Real PostGIS: the demo city, then the demo OSM cut.

The tests on the demo city run first and share it (module fixture); the last one empties the
database for its own community (tests/test_plans_db's ``demo``)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.plans import commit_plan, create_plan
from geo.settings import city_today, get_settings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

SUBDISTRICT = "110108015"  # the demo city's
PASSWORD = "sync-password-1"
# what GET /people/{id}/duties gives of a duty: GET /assignments gives these and more
DUTY_KEYS = (
    "id",
    "role",
    "valid_from",
    "valid_to",
    "grid_code",
    "street_id",
    "street_name",
    "kind",
    "length_m",
    "street_retired",
)


@pytest.fixture(scope="module")
def city(engine):  # noqa: ANN001, ANN201
    """The demo city without its patrols, duties from a week ago."""
    from tests.conftest import demo_with_duties

    demo_with_duties(engine)
    return engine


@pytest.fixture(scope="module")
def client(city):  # noqa: ANN001, ANN201
    with TestClient(create_app(city)) as c:
        yield c


def _account(engine, role: str, areas: tuple[str, ...] = (), person: int | None = None) -> str:  # noqa: ANN001
    """A new account of ``role``; its username (password :data:`PASSWORD`)."""
    from geo.accounts import create_user

    name = f"{role}_{secrets.token_hex(3)}"
    with engine.begin() as conn:
        create_user(conn, name, PASSWORD, role, areas, person)
    return name


def _sign_in(client: TestClient, username: str) -> dict[str, str]:
    """Bearer headers of a password sign-in (POST /auth/token)."""
    r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # the map pages' cookie: each call here signs by its header
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _headers(client: TestClient, engine, role: str, person: int | None = None) -> dict:  # noqa: ANN001
    return _sign_in(client, _account(engine, role, person=person))


def _city_offset(at: str) -> str:
    """The city's UTC offset at instant ``at`` (ISO), as an ISO time writes it (+08:00)."""
    zone = ZoneInfo(get_settings().timezone)
    return dt.datetime.fromisoformat(at).astimezone(zone).isoformat()[-6:]


def _in_city_zone(value: str) -> bool:
    return not value.endswith("Z") and value[-6:] == _city_offset(value)


# --------------------------------------------------------------------------------------------
# #12 an API token mints no token; #15 token times in the city's zone
# --------------------------------------------------------------------------------------------


def test_an_api_token_mints_no_token_and_revoking_it_ends_it(client, city) -> None:
    admin = _account(city, "admin")
    signed_in = _sign_in(client, admin)
    r = client.post("/auth/api-tokens", json={"name": "sync-test", "days": 1}, headers=signed_in)
    assert r.status_code == 201, r.text
    a = r.json()
    token_a = {"Authorization": f"Bearer {a['token']}"}
    assert client.get("/auth/me", headers=token_a).status_code == 200
    # with token A, no token B (a child outlived its parent's revocation)
    r = client.post("/auth/api-tokens", json={"name": "child"}, headers=token_a)
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error.startswith("API 令牌不能再签发 API 令牌"), error
    assert "POST /auth/token" in error and "gridward users token" in error
    with city.connect() as conn:
        api_tokens = conn.execute(
            text(
                "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE u.username = :u AND t.kind = 'api'"
            ),
            {"u": admin},
        ).scalar_one()
    assert api_tokens == 1  # A alone
    # revoking A ends all it can do
    assert client.delete(f"/auth/api-tokens/{a['id']}", headers=token_a).status_code == 204
    assert client.get("/auth/me", headers=token_a).status_code == 401
    assert client.get("/auth/me", headers=signed_in).status_code == 200
    # the sign-in still issues tokens, and the CLI's path (issue_token) is untouched
    again = client.post("/auth/api-tokens", json={"name": "phone"}, headers=signed_in)
    assert again.status_code == 201, again.text


def test_token_times_are_the_citys(client, city) -> None:
    """#15: the city's zone, as tracks, jobs and reports give times (it was UTC, ...Z)."""
    signed_in = _headers(client, city, "viewer")
    r = client.post("/auth/api-tokens", json={"name": "zone", "days": 1}, headers=signed_in)
    assert r.status_code == 201, r.text
    assert _in_city_zone(r.json()["expires_at"]), r.json()["expires_at"]
    expires = dt.datetime.fromisoformat(r.json()["expires_at"])
    assert dt.timedelta(hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=1)
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/auth/me", headers=token).status_code == 200  # last_used_at set
    listed = client.get("/auth/api-tokens", headers=token).json()
    assert len(listed) == 2  # the sign-in and the API token
    for t in listed:
        for key in ("created_at", "expires_at", "last_used_at"):
            assert _in_city_zone(t[key]), (key, t[key])


@pytest.mark.parametrize("days", [True, 1.0, "1"])
def test_token_days_are_a_whole_number(client, city, days) -> None:
    headers = _headers(client, city, "viewer")
    r = client.post("/auth/api-tokens", json={"name": "x", "days": days}, headers=headers)
    assert r.status_code == 422, (days, r.text)
    assert "days" in r.json()["error"]


# --------------------------------------------------------------------------------------------
# #10 GET /assignments: everyone's duties of a day
# --------------------------------------------------------------------------------------------


def _all(client: TestClient, headers: dict, **query: str) -> dict:
    r = client.get("/assignments", params={"limit": "10000", **query}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["duties"])
    return body


def _people(city) -> list[int]:  # noqa: ANN001
    with city.connect() as conn:
        return list(conn.execute(text("SELECT id FROM people ORDER BY id")).scalars())


def test_everyones_duties_equal_each_persons(client, city) -> None:
    viewer = _headers(client, city, "viewer")
    today = city_today()
    for day in (today, today - dt.timedelta(days=3)):
        rows = _all(client, viewer, date=day.isoformat())["duties"]
        assert len(rows) > 100  # the demo city: grids, streets and alleys staffed
        by_person: dict[int, list[dict]] = defaultdict(list)
        for row in rows:
            by_person[row["person_id"]].append({k: row[k] for k in DUTY_KEYS})
        people = _people(city)
        assert set(by_person) <= set(people)
        for pid in people:  # every person of the city, duties or none
            r = client.get(
                f"/people/{pid}/duties", params={"date": day.isoformat()}, headers=viewer
            )
            assert r.status_code == 200, r.text
            assert by_person.get(pid, []) == r.json()["duties"], pid
    # before the duties began (a week ago), none
    early = (today - dt.timedelta(days=30)).isoformat()
    assert _all(client, viewer, date=early) == {
        "date": early,
        "area": None,
        "total": 0,
        "limit": 10000,
        "offset": 0,
        "duties": [],
    }


def test_each_row_names_its_holder_and_target(client, city) -> None:
    viewer = _headers(client, city, "viewer")
    rows = _all(client, viewer)["duties"]
    with city.connect() as conn:
        people = {
            r.id: (r.external_id, r.name)
            for r in conn.execute(text("SELECT id, external_id, name FROM people"))
        }
        grids = dict(conn.execute(text("SELECT id, code FROM grids")).all())
        streets = {
            r.id: (r.kind, r.key, r.name)
            for r in conn.execute(text("SELECT id, kind, key, name FROM streets"))
        }
    kinds = set()
    for row in rows:
        assert (row["person"], row["name"]) == people[row["person_id"]]
        t = row["target"]
        kinds.add(t["kind"])
        if t["kind"] == "grid":
            assert set(t) == {"kind", "id", "code", "name"}
            assert grids[t["id"]] == t["code"] == row["grid_code"]
            assert t["name"]  # its label when it has no name (第N网格)
        else:
            assert set(t) == {"kind", "id", "key", "name"}
            assert streets[t["id"]] == (t["kind"], t["key"], t["name"])
            assert t["id"] == row["street_id"] and t["kind"] == row["kind"]
    assert kinds == {"grid", "street", "alley"}
    # documented in /openapi.json by its model
    spec = client.get("/openapi.json").json()
    answer = spec["paths"]["/assignments"]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["$ref"].endswith("/DutyList")
    assert "target" in spec["components"]["schemas"]["DutyRow"]["properties"]


def test_filters_and_pages(client, city) -> None:
    from geo.street_areas import street_area_path

    viewer = _headers(client, city, "viewer")
    every = _all(client, viewer)["duties"]
    ids = [r["id"] for r in every]
    # role
    stewards = _all(client, viewer, role="alley_steward")["duties"]
    assert stewards == [r for r in every if r["role"] == "alley_steward"] != []
    assert _all(client, viewer, role="")["duties"] == every  # a form's "every role"
    # person
    pid = stewards[0]["person_id"]
    theirs = [r for r in every if r["person_id"] == pid]
    assert _all(client, viewer, person_id=str(pid))["duties"] == theirs
    # or by registry id (人员编号), as every other route takes people; id:N too
    code = stewards[0]["person"]
    assert _all(client, viewer, person=code)["duties"] == theirs
    assert _all(client, viewer, person=f"id:{pid}", person_id=str(pid))["duties"] == theirs
    r = client.get("/assignments", params={"person": "NOBODY-1"}, headers=viewer)
    assert r.status_code == 404 and "NOBODY-1" in r.json()["error"], r.text
    other = next(r["person_id"] for r in every if r["person_id"] != pid)
    r = client.get("/assignments", params={"person": code, "person_id": other}, headers=viewer)
    assert r.status_code == 422 and r.json()["error"].startswith("人员指定不一致：person ")
    # area: a grid by its community, a street or alley by the community holding most of it
    with city.connect() as conn:
        communities = list(
            conn.execute(
                text("SELECT code FROM areas WHERE level = 'community' ORDER BY code")
            ).scalars()
        )
        paths = {
            r["street_id"]: street_area_path(conn, r["street_id"]) for r in every if r["street_id"]
        }
    assert _all(client, viewer, area=SUBDISTRICT)["duties"] == [
        r
        for r in every
        if (r["grid_code"] or "").startswith(SUBDISTRICT)
        or SUBDISTRICT in paths.get(r["street_id"], ())
    ]
    seen = 0
    for code in communities:
        got = _all(client, viewer, area=code)
        assert got["area"] == code
        want = [
            r
            for r in every
            if (r["grid_code"] or "")[:12] == code or code in paths.get(r["street_id"], ())
        ]
        assert got["duties"] == want, code
        seen += len(want)
    assert 0 < seen <= len(every)
    # pages: limit/offset over the same order, total whatever the page
    pages, offset = [], 0
    while True:
        r = client.get("/assignments", params={"limit": 7, "offset": offset}, headers=viewer)
        assert r.status_code == 200 and r.json()["total"] == len(every)
        page = r.json()["duties"]
        if not page:
            break
        pages += [p["id"] for p in page]
        offset += 7
    assert pages == ids
    # refusals: an unknown area, a misspelt parameter, a bad role
    r = client.get("/assignments", params={"area": "110108999"}, headers=viewer)
    assert r.status_code == 404 and "110108999" in r.json()["error"]
    r = client.get("/assignments", params={"aera": SUBDISTRICT}, headers=viewer)
    assert r.status_code == 422 and r.json()["error"].startswith("未知参数 'aera'")
    assert client.get("/assignments", params={"role": "boss"}, headers=viewer).status_code == 422


def test_a_steward_reads_only_her_own(client, city) -> None:
    viewer = _headers(client, city, "viewer")
    every = _all(client, viewer)["duties"]
    mine = every[0]["person_id"]
    other = next(r["person_id"] for r in every if r["person_id"] != mine)
    steward = _headers(client, city, "steward", person=mine)
    own = _all(client, steward)["duties"]
    assert own == [r for r in every if r["person_id"] == mine] != []
    assert _all(client, steward, person_id=str(mine))["duties"] == own
    assert _all(client, steward, role="alley_steward", area=SUBDISTRICT)["duties"] == [
        r for r in own if r["role"] == "alley_steward"
    ]
    r = client.get("/assignments", params={"person_id": other}, headers=steward)
    assert r.status_code == 403, r.text
    # by registry id: her own reads as without it; another's, or one nobody has, the same 403
    # (her answer does not tell which registry ids exist)
    codes = {r["person_id"]: r["person"] for r in every}
    assert _all(client, steward, person=codes[mine])["duties"] == own
    theirs = client.get("/assignments", params={"person": codes[other]}, headers=steward)
    nobody = client.get("/assignments", params={"person": "NOBODY-1"}, headers=steward)
    assert theirs.status_code == nobody.status_code == 403, (theirs.text, nobody.text)
    assert theirs.json()["error"] == nobody.json()["error"]
    assert codes[other] not in theirs.json()["error"]
    anonymous = client.get("/assignments")
    assert anonymous.status_code == 401


# --------------------------------------------------------------------------------------------
# #8 a retried POST /assignments; #15 the undo's time in the city's zone
# --------------------------------------------------------------------------------------------


def _free_pair(city) -> tuple[str, int]:  # noqa: ANN001
    """A steward's registry id and an alley she holds no duty on."""
    with city.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT p.external_id, s.id FROM people p, streets s "
                    "WHERE 'alley_steward' = ANY(p.roles) AND p.active AND s.kind = 'alley' "
                    "AND s.retired_at IS NULL AND NOT EXISTS (SELECT 1 FROM assignments a "
                    "WHERE a.person_id = p.id AND a.street_id = s.id) ORDER BY p.id, s.id "
                    "LIMIT 1"
                )
            ).one()
        )


def _audit_sets(city) -> int:  # noqa: ANN001
    with city.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'assignments.set'")
        ).scalar_one()


def test_a_repeated_duty_answers_the_one_set_and_an_undo_says_it_is_gone(client, city) -> None:
    admin = _headers(client, city, "admin")
    person, alley = _free_pair(city)
    sets_before = _audit_sets(city)
    start = (city_today() + dt.timedelta(days=2)).isoformat()
    body = {"person": person, "target": alley, "role": "alley_steward", "valid_from": start}
    first = client.post("/assignments", json=body, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    duty = first.json()["duty"]
    again = client.post("/assignments", json=body, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["duty"] == duty  # the same id, person, target and days
    assert again.json()["message"] == (
        f"与已有职责 {duty['id']} 相同，未重复安排 identical to duty {duty['id']}: not set again"
    )
    # an explicit null end is the same duty; another end overlaps: still a 409
    same = client.post("/assignments", json={**body, "valid_to": None}, headers=admin)
    assert same.status_code == 200 and same.json()["duty"]["id"] == duty["id"]
    end = (city_today() + dt.timedelta(days=9)).isoformat()
    other = client.post("/assignments", json={**body, "valid_to": end}, headers=admin)
    assert other.status_code == 409 and "overlaps" in other.json()["error"], other.text
    with city.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM assignments WHERE street_id = :s AND valid_from = :d"),
            {"s": alley, "d": dt.date.fromisoformat(start)},
        ).scalar_one()
    # one duty, one audit entry: the repeats wrote nothing
    assert held == 1 and _audit_sets(city) == sets_before + 1
    assert client.delete(f"/assignments/{duty['id']}", headers=admin).status_code == 200
    twice = client.delete(f"/assignments/{duty['id']}", headers=admin)
    assert twice.status_code == 404
    assert "does not exist (never set, or already undone)" in twice.json()["error"]


def test_an_undone_duty_is_told_in_the_citys_time(client, city) -> None:
    """#15: the undo's ``created_at`` was UTC (+00:00) beside the tracks' +08:00."""
    admin = _headers(client, city, "admin")
    person, alley = _free_pair(city)
    start = (city_today() + dt.timedelta(days=3)).isoformat()
    body = {"person": person, "target": alley, "role": "alley_steward", "valid_from": start}
    set_ = client.post("/assignments", json=body, headers=admin)
    assert set_.status_code == 201, set_.text
    undone = client.delete(f"/assignments/{set_.json()['duty']['id']}", headers=admin)
    assert undone.status_code == 200, undone.text
    created = undone.json()["undone"]["created_at"]
    assert _in_city_zone(created), created
    assert abs(dt.datetime.fromisoformat(created) - dt.datetime.now(dt.UTC)) < dt.timedelta(
        minutes=5
    )


# --------------------------------------------------------------------------------------------
# #11 grid versions and their crosswalk: viewers read them, the API gives the CLI's crosswalk
# (empties the database: last)
# --------------------------------------------------------------------------------------------


def test_grid_history_and_crosswalk_for_viewers(
    demo,  # noqa: F811
    auth_headers,
    pg_url,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    commit_plan(demo, create_plan(demo, COMMUNITY, 300, 500))
    commit_plan(demo, create_plan(demo, COMMUNITY, 150, 300))
    viewer, admin = auth_headers("viewer"), auth_headers("admin")
    elsewhere = auth_headers("planner", ("110108016",))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        res = run_inproc("plans", "history", COMMUNITY, "--crosswalk", "--json")
        history = run_inproc("plans", "history", COMMUNITY, "--json")
    finally:
        get_settings.cache_clear()
    assert res.returncode == 0 and history.returncode == 0, (res, history)
    cli_rows = json.loads(res.stdout)
    assert {(r["old_version"], r["new_version"]) for r in cli_rows} == {(1, 2)}
    with TestClient(create_app(demo)) as client:
        q = {"community": COMMUNITY}
        for who in (viewer, admin, elsewhere):  # a planner reads what a viewer reads
            r = client.get("/plans/history", params=q, headers=who)
            assert r.status_code == 200, r.text
            assert r.json() == json.loads(history.stdout)
            assert "crosswalk" not in r.json()
            r = client.get("/plans/history", params={**q, "crosswalk": "true"}, headers=who)
            assert r.status_code == 200, r.text
            assert r.json()["crosswalk"] == cli_rows  # the CLI's rows, as its --json
            assert [v["version"] for v in r.json()["versions"]] == [2, 1]
        # a misspelt or unknown parameter is a 422, not ignored
        r = client.get("/plans/history", params={**q, "crosswalks": "true"}, headers=admin)
        assert r.status_code == 422 and r.json()["error"].startswith("未知参数 'crosswalks'")
        # read-only: drafts stay the planners' (GET /plans), a steward reads no versions
        assert client.get("/plans", headers=viewer).status_code == 403
        steward = auth_headers("steward")
        assert client.get("/plans/history", params=q, headers=steward).status_code == 403
        r = client.get("/plans/history", params={"community": "110108015999"}, headers=viewer)
        assert r.status_code == 404
