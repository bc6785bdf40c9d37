"""Role × route matrix: every route has a rule, and the rule does what the table says.

The table below is written by hand, independently of the ``allow()`` calls in the routes, so a
route whose rule is wrong (or missing) fails here. ADDING A ROUTE? Two steps:
  1. declare its rule on the route: ``dependencies=[Depends(allow("viewer", "steward"))]``,
     ``Depends(allow("planner", area_param="community"))``, ``Depends(public())`` ... (api/auth.py);
  2. add a row to RULES below: (METHOD, path template) -> Case(set of principals allowed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import pytest
from fastapi import Depends
from sqlalchemy import delete, insert, select, text
from starlette.routing import Mount, Route

from api.auth import allow, iter_routes, person_for
from geo.accounts import Principal

PRINCIPALS = ("anonymous", "viewer", "steward", "planner_in", "planner_out", "admin")
PLANNER_IN_AREA = "110108"  # Haidian district: the demo city's codes start with it
PLANNER_OUT_AREA = "120101"  # somewhere else
SIGNED_IN = frozenset(PRINCIPALS) - {"anonymous"}
PUBLIC = frozenset(PRINCIPALS)
MAP_READERS = SIGNED_IN  # viewers, planners, stewards and admins read the map layers
PLANNERS_IN_AREA = frozenset({"planner_in", "admin"})
PLANNERS = frozenset({"planner_in", "planner_out", "admin"})
STEWARD_SELF = frozenset({"steward", "admin"})
UPLOADERS = frozenset({"steward", "planner_in", "planner_out", "admin"})  # tracks
OFFICE = SIGNED_IN - {"steward"}  # registry and coverage figures: not for stewards
ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Case:
    """Who passes the rule, and (optionally) the concrete path/query to call."""

    allowed: frozenset[str]
    path: str | None = None  # default: path params filled with SAMPLES; {own_person} is the
    # steward's person id, {plan_in_area} a fresh draft plan inside planner_in's area,
    # {leaver_in_area} a fresh person living there, {duty_in_area} a fresh duty on a grid there
    query: dict[str, str] = field(default_factory=dict)
    fresh_token: bool = False  # the call spends its token (logout): use a throwaway one


RULES: dict[tuple[str, str], Case] = {
    ("GET", "/health"): Case(PUBLIC),
    ("POST", "/auth/token"): Case(PUBLIC),
    ("GET", "/login"): Case(PUBLIC),
    ("GET", "/"): Case(PUBLIC),
    ("POST", "/auth/api-tokens"): Case(SIGNED_IN),
    ("GET", "/auth/api-tokens"): Case(SIGNED_IN),
    ("DELETE", "/auth/api-tokens/{token_id}"): Case(SIGNED_IN),
    ("GET", "/auth/me"): Case(SIGNED_IN),
    ("POST", "/auth/logout"): Case(SIGNED_IN, fresh_token=True),
    ("GET", "/areas"): Case(MAP_READERS),
    ("GET", "/buildings"): Case(MAP_READERS),
    ("GET", "/streets"): Case(MAP_READERS),
    ("GET", "/grids"): Case(MAP_READERS),
    # maps, tiles, plans, tracks, reports, staffing (routes by others, rules checked here)
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"): Case(MAP_READERS, path="/tiles/grids/14/0/0.pbf"),
    ("GET", "/maps"): Case(MAP_READERS),
    ("GET", "/maps/grids"): Case(MAP_READERS),
    ("GET", "/maps/stewards"): Case(MAP_READERS),
    ("GET", "/maps/patrols"): Case(MAP_READERS),
    ("GET", "/maps/reports"): Case(MAP_READERS),  # as GET /reports/{kind}
    ("GET", "/maps/editor"): Case(PLANNERS),
    ("GET", "/maps/editor/history"): Case(PLANNERS_IN_AREA, query={"community": "110108020001"}),
    ("GET", "/maps/static/{path:path}"): Case(PUBLIC, path="/maps/static/gridward.css"),
    ("POST", "/plans/draft"): Case(PLANNERS),
    ("GET", "/plans/{plan_id}"): Case(PLANNERS_IN_AREA, path="/plans/{plan_in_area}"),
    ("POST", "/plans"): Case(PLANNERS),  # the area is in the body: require_area in the route
    ("POST", "/plans/rebalance"): Case(PLANNERS),  # likewise
    ("POST", "/plans/revert"): Case(PLANNERS),  # likewise
    ("POST", "/plans/import"): Case(PLANNERS),  # likewise (a form field, T49 #7)
    ("GET", "/plans"): Case(PLANNERS),  # a planner sees the plans of their areas only
    # read-only grid versions and their crosswalk: viewers and every planner too (T67 #11)
    ("GET", "/plans/history"): Case(OFFICE, query={"community": "110108020001"}),
    ("POST", "/plans/{plan_id}/commit"): Case(
        PLANNERS_IN_AREA, path="/plans/{plan_in_area}/commit"
    ),
    ("DELETE", "/plans/{plan_id}"): Case(PLANNERS_IN_AREA, path="/plans/{plan_in_area}"),
    ("GET", "/jobs/{job_id}"): Case(MAP_READERS),
    ("POST", "/tracks"): Case(UPLOADERS),
    ("GET", "/tracks/{track_id}"): Case(MAP_READERS),
    ("POST", "/tracks/rematch"): Case(ADMIN),
    ("GET", "/audit"): Case(ADMIN),  # sign-in failures with addresses, account changes
    # the people are in the body: their homes' areas checked inside (test_tracks_db)
    ("PATCH", "/tracks/{track_id}"): Case(PLANNERS),
    # whose track it is (own walk, a planner's areas or uploads) is checked inside
    # (test_track_withdraw_db); the sample id is no track: 404 for whoever passes the rule
    ("DELETE", "/tracks/{track_id}"): Case(UPLOADERS),
    ("POST", "/tracks/{track_id}/restore"): Case(UPLOADERS),
    ("GET", "/tracks"): Case(MAP_READERS),
    ("GET", "/reports/{kind}"): Case(MAP_READERS, path="/reports/daily"),
    # a job made in the background; a made-up job id: past the role check, a 404
    ("POST", "/reports/{kind}/jobs"): Case(MAP_READERS, path="/reports/daily/jobs"),
    ("GET", "/reports/files/{job_id}"): Case(MAP_READERS),
    # signing: planners of the area (the date is then missing: a 422), admins; the city-wide
    # one (no area) admins only (test_report_signed)
    ("POST", "/reports/{kind}/sign"): Case(
        PLANNERS_IN_AREA, path="/reports/weekly/sign", query={"area": "110108020001"}
    ),
    ("GET", "/reports/signed"): Case(OFFICE),  # a planner lists their areas' only
    # a planner reads their areas' only (test_report_signed); the sample id is none: 404
    ("GET", "/reports/signed/{signoff_id}"): Case(OFFICE),
    # the roster and the people registry (phones, homes): planners of the area, admins (T49)
    ("GET", "/exports/roster"): Case(PLANNERS_IN_AREA, query={"area": "110108020001"}),
    ("GET", "/exports/people"): Case(PLANNERS_IN_AREA, query={"area": "110108020001"}),
    # the people's homes are checked inside (test_people_import_db)
    ("POST", "/people/import"): Case(PLANNERS),
    ("GET", "/people"): Case(OFFICE),
    ("GET", "/coverage"): Case(OFFICE),
    ("POST", "/assignments/proposals"): Case(PLANNERS),
    ("POST", "/assignments/proposals/{job_id}/commit"): Case(PLANNERS),
    # a person living inside planner_in's area (a planner lets go only of their own people)
    ("POST", "/people/{person_id}/leave"): Case(
        PLANNERS_IN_AREA, path="/people/{leaver_in_area}/leave"
    ),
    ("POST", "/assignments"): Case(PLANNERS),  # the target is in the body: its area checked inside
    ("POST", "/assignments/end"): Case(PLANNERS),  # likewise
    # undoing a duty: its target's area is checked inside (a planner of elsewhere gets 403)
    ("DELETE", "/assignments/{duty_id}"): Case(
        PLANNERS_IN_AREA, path="/assignments/{duty_in_area}"
    ),
    ("GET", "/people/{person_id}/duties"): Case(MAP_READERS, path="/people/{own_person}/duties"),
    # everyone's duties of a day; a steward her own only (T67 #10)
    ("GET", "/assignments"): Case(MAP_READERS),
}

# Values for path parameters by name (a code inside planner_in's area), else by type.
SAMPLES = {
    "code": "110108020001001",
    "grid_code": "110108020001001",
    "community": "110108020001",
    "area": "110108020",
    "area_code": "110108020",
    "subdistrict": "110108020",
    "job_id": "00000000-0000-0000-0000-000000000000",
}
DOC_PATHS = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/redoc/redoc.standalone.js",
}


@pytest.fixture(scope="module")
def matrix(engine):  # -> (client, headers by principal)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.accounts import create_user, issue_token
    from geo.accounts_models import User
    from geo.models import Person

    users, people = User.__table__, Person.__table__
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.username.like("matrix-%")))
        conn.execute(delete(people).where(people.c.external_id == "matrix-steward"))
        pid = conn.execute(
            insert(people)
            .values(external_id="matrix-steward", name="巷管家 test", roles=["alley_steward"])
            .returning(people.c.id)
        ).scalar_one()
        spec = {
            "viewer": ("viewer", (), None),
            "steward": ("steward", (), pid),
            "planner_in": ("planner", (PLANNER_IN_AREA,), None),
            "planner_out": ("planner", (PLANNER_OUT_AREA,), None),
            "admin": ("admin", (), None),
        }
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        uids: dict[str, int] = {}
        for who, (role, areas, person) in spec.items():
            uid = create_user(conn, f"matrix-{who}", "matrix-password", role, areas, person)
            _tid, token, _exp = issue_token(conn, uid, "api", "matrix")
            headers[who] = {"Authorization": f"Bearer {token}"}
            uids[who] = uid

    def new_plan() -> int:
        with engine.begin() as conn:
            area = conn.execute(
                text(
                    "INSERT INTO areas (code, level, name, geom) VALUES ('110108099901', "
                    "'community', 'matrix 社区', ST_Multi(ST_MakeEnvelope(116.30, 39.98, 116.301, "
                    "39.981, 4326))) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name "
                    "RETURNING id"
                )
            ).scalar_one()
            return conn.execute(
                text(
                    "INSERT INTO grid_plans (area_id, status, params, summary, features, "
                    "base_version) VALUES (:a, 'draft', '{}', '{}', '{}', 0) RETURNING id"
                ),
                {"a": area},
            ).scalar_one()

    def new_leaver() -> int:
        new_plan()  # makes sure the matrix community exists
        with engine.begin() as conn:
            return conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles, area_id) SELECT "
                    "'matrix-leaver-' || gen_random_uuid(), '离岗 test', ARRAY['alley_steward'], "
                    "id FROM areas WHERE code = '110108099901' RETURNING id"
                )
            ).scalar_one()

    def new_duty() -> int:
        new_plan()  # makes sure the matrix community exists
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO grids (code, level, community_id, version, households, "
                    "building_count, flags, properties, geom) SELECT '110108099901001', 1, id, 1, "
                    "0, 0, '[]', '{}', geom FROM areas WHERE code = '110108099901' AND NOT EXISTS "
                    "(SELECT 1 FROM grids WHERE code = '110108099901001')"
                )
            )
            return conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, grid_id, valid_from) SELECT :p, "
                    "'grid_worker', id, CURRENT_DATE FROM grids WHERE code = '110108099901001' "
                    "RETURNING id"
                ),
                {"p": pid},
            ).scalar_one()

    placeholders = {
        "own_person": lambda: str(pid),
        "plan_in_area": lambda: str(new_plan()),
        "leaver_in_area": lambda: str(new_leaver()),
        "duty_in_area": lambda: str(new_duty()),
    }

    def fresh(who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        with engine.begin() as conn:
            return {"Authorization": f"Bearer {issue_token(conn, uids[who], 'access')[1]}"}

    app = create_app(engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client, headers, pid, fresh, placeholders
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM people WHERE external_id LIKE 'matrix-leaver-%'"))
        conn.execute(
            text(
                "DELETE FROM assignments WHERE grid_id IN "
                "(SELECT id FROM grids WHERE code = '110108099901001')"
            )
        )
        conn.execute(text("DELETE FROM grids WHERE code = '110108099901001'"))
        conn.execute(text("DELETE FROM areas WHERE code = '110108099901'"))
        conn.execute(delete(users).where(users.c.username.like("matrix-%")))
        conn.execute(delete(people).where(people.c.id == pid))


def _api_routes(app) -> list:
    return [r for r in iter_routes(app) if r.is_api]


def test_every_route_declares_a_rule(matrix) -> None:
    app = matrix[0]
    missing = [
        f"{sorted(r.methods)} {r.path} ({r.route.endpoint.__module__}.{r.route.endpoint.__name__})"
        for r in _api_routes(app)
        if not r.rules
    ]
    assert not missing, (
        "routes without an access rule — add Depends(allow(...)) or Depends(public()) from "
        "api/auth.py to each, then a row in RULES of tests/test_auth_matrix.py:\n  "
        + "\n  ".join(missing)
    )
    others = [
        r.path
        for r in iter_routes(app)
        if not r.is_api
        and not (isinstance(r.route, Route) and r.path in DOC_PATHS)
        and not (isinstance(r.route, Mount) and type(r.route.app).__name__ == "StaticFiles")
    ]
    assert not others, f"plain routes bypass the rule mechanism; make them APIRoutes: {others}"


def test_every_route_is_in_the_rule_table(matrix) -> None:
    app = matrix[0]
    missing = []
    for r in _api_routes(app):
        for m in sorted(r.methods - {"HEAD", "OPTIONS"}):
            if (m, r.path) not in RULES:
                rule = "; ".join(x.describe() for x in r.rules) or "NO RULE"
                missing.append(f'("{m}", "{r.path}"): Case(...),   # route declares {rule}')
    assert not missing, (
        "routes missing from RULES in tests/test_auth_matrix.py — add who may call them "
        "(PUBLIC, SIGNED_IN, MAP_READERS, PLANNERS_IN_AREA, STEWARD_SELF, ADMIN ...):\n  "
        + "\n  ".join(missing)
    )
    stale = [
        k for k in RULES if not any(k[1] == r.path and k[0] in r.methods for r in _api_routes(app))
    ]
    assert not stale, f"RULES rows for routes that no longer exist: {stale}"


def _fill(path: str, route) -> str:
    for p in route.route.dependant.path_params:
        ann = p.field_info.annotation if hasattr(p, "field_info") else None
        value = SAMPLES.get(p.name) or ("999999" if ann is int else "110108020001001")
        path = path.replace("{" + p.name + "}", value).replace("{" + p.name + ":path}", value)
    return path


def _schema_operations(app) -> list[tuple[str, str]]:
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method in item:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                ops.append((method.upper(), path))
    return ops


def test_role_route_matrix(matrix) -> None:
    app, client, headers, _pid, fresh, placeholders = matrix
    routes = {(m, r.path): r for r in _api_routes(app) for m in r.methods}
    failures = []
    checked = 0
    for method, path in _schema_operations(app):
        case = RULES.get((method, path))
        if case is None:
            continue  # reported by test_every_route_is_in_the_rule_table
        route = routes[(method, path)]
        for who in PRINCIPALS:
            url = case.path or _fill(path, route)
            for key, make in placeholders.items():
                if "{" + key + "}" in url:
                    url = url.replace("{" + key + "}", make())
            hdrs = fresh(who) if case.fresh_token else headers[who]
            kwargs: dict = {"headers": hdrs, "params": case.query}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            resp = client.request(method, url, **kwargs)
            checked += 1
            code = resp.status_code
            if code >= 500:
                failures.append(f"{who:12} {method} {url}: {code} (server error)")
            elif who in case.allowed and code in (401, 403):
                failures.append(f"{who:12} {method} {url}: denied {code}, table allows")
            elif who not in case.allowed:
                want = 401 if who == "anonymous" else 403
                if code != want:
                    failures.append(f"{who:12} {method} {url}: got {code}, table wants {want}")
                elif "error" not in resp.json():
                    failures.append(f"{who:12} {method} {url}: denial without JSON error")
    assert checked >= len(PRINCIPALS) * 10
    assert not failures, "role × route matrix disagrees with RULES:\n  " + "\n  ".join(failures)


def test_denials_say_why(matrix) -> None:
    _app, client, headers, _pid, _fresh, _ph = matrix
    r = client.get("/grids")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "not signed in" in r.json()["error"]
    r = client.get("/grids", headers={"Authorization": "Bearer gw_not-a-real-token"})
    assert r.status_code == 401 and "invalid" in r.json()["error"]
    r = client.get("/auth/me", headers=headers["planner_in"])
    assert r.json()["area_codes"] == [PLANNER_IN_AREA]


def test_area_and_person_rules_on_a_probe_app(matrix, engine) -> None:
    """allow(area_param=...) and own_person on a tiny app, since the real routes using them are
    still being written; the same dependency objects, the same tokens."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.errors import install_error_handlers

    _app, _client, headers, pid, _fresh, _ph = matrix
    probe = FastAPI()
    probe.state.engine = engine
    install_error_handlers(probe)

    @probe.put("/grids/{code}")
    def edit(
        code: str, user: Annotated[Principal, Depends(allow("planner", area_param="code"))]
    ) -> dict:
        return {"ok": code}

    @probe.post("/tracks")
    def upload(
        user: Annotated[Principal, Depends(allow("steward", own_person=True))],
        person_id: int | None = None,
    ) -> dict:
        return {"person": person_for(user, person_id)}

    c = TestClient(probe, raise_server_exceptions=False)
    inside, outside = "110108020001001", "120101001001001"
    expect = {
        "anonymous": (401, 401),
        "viewer": (403, 403),
        "steward": (403, 403),
        "planner_in": (200, 403),
        "planner_out": (403, 200),
        "admin": (200, 200),
    }
    for who, (a, b) in expect.items():
        assert c.put(f"/grids/{inside}", headers=headers[who]).status_code == a, who
        assert c.put(f"/grids/{outside}", headers=headers[who]).status_code == b, who
    assert c.post("/tracks", headers=headers["steward"]).json() == {"person": pid}
    assert c.post(f"/tracks?person_id={pid}", headers=headers["steward"]).status_code == 200
    assert c.post(f"/tracks?person_id={pid + 1}", headers=headers["steward"]).status_code == 403
    assert c.post("/tracks", headers=headers["viewer"]).status_code == 403
    assert c.post(f"/tracks?person_id={pid}", headers=headers["admin"]).json() == {"person": pid}
    # unknown users cannot appear: the planner scope is a prefix, not a substring
    with engine.connect() as conn:
        from geo.accounts_models import User

        u = User.__table__
        assert conn.execute(select(u.c.area_codes).where(u.c.username == "matrix-planner_in"))
