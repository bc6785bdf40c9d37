"""The plans endpoints check their bodies alike (tester W, F15; re-test Y): one household
bounds rule (max ≥ 1, min ≤ max, at most 1,000,000, whole numbers), an unknown community
named in the body is a 422 everywhere, an unknown field is a 422 naming it, and pydantic's
refusals read Chinese first. Real PostGIS, demo OSM cut."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_plans_db import COMMUNITY, demo  # noqa: F401 (a fixture)

ENDPOINTS = ("/plans", "/plans/draft", "/plans/rebalance")


def _body(engine, endpoint: str, **over: object) -> dict:
    """A valid body for ``endpoint`` (a draft: every building of the community in one grid)."""
    body: dict = {"community": COMMUNITY, "min_households": 300, "max_households": 500}
    if endpoint != "/plans":
        with engine.connect() as conn:
            ids = (
                conn.execute(
                    text(
                        "SELECT b.id FROM buildings b JOIN areas a ON a.id = b.community_id "
                        "WHERE a.code = :c ORDER BY b.id"
                    ),
                    {"c": COMMUNITY},
                )
                .scalars()
                .all()
            )
        body["grids"] = [{"code": None, "building_ids": list(ids)}]
    return {**body, **over}


def _stored(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM jobs")).scalar_one(),
        )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"max_households": 0}, "max_households"),  # /plans/draft took it: every grid over_max
        ({"min_households": 0, "max_households": 0}, "max_households"),
        ({"min_households": 600}, "greater than max_households"),
        ({"max_households": 10**7}, "max_households"),
        ({"min_households": -1}, "min_households"),
        ({"max_households": True}, "max_households"),  # true is not 1 household
        ({"max_households": 12.5}, "max_households"),
        ({"community": "110108099099"}, "community 110108099099 does not exist"),
        ({"seeds": 3}, "未知字段 seeds: unknown field"),  # a misspelt "seed" was dropped
    ],
)
def test_every_plans_endpoint_refuses_the_same_bodies_with_a_422(
    demo,  # noqa: F811
    auth_headers,
    endpoint: str,
    over: dict,
    words: str,
) -> None:
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        before = _stored(demo)
        r = client.post(endpoint, json=_body(demo, endpoint, **over), headers=admin)
        assert r.status_code == 422, r.text
        assert set(r.json()) == {"error", "status", "code"} and r.json()["status"] == 422
        assert words in r.json()["error"], r.text
        assert "Traceback" not in r.text
        assert _stored(demo) == before


def test_a_misspelt_field_inside_a_draft_grid_is_named(demo, auth_headers) -> None:  # noqa: F811
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        body = _body(demo, "/plans/draft")
        grid = body["grids"][0]
        body["grids"] = [{"code": None, "building_id": grid["building_ids"], "locked": False}]
        r = client.post("/plans/draft", json=body, headers=admin)
    assert r.status_code == 422
    said = r.json()["error"]
    assert "未知字段 grids.0.building_id: unknown field" in said, said
    assert "缺少字段 grids.0.building_ids: field required" in said, said


def test_what_the_editor_sends_is_still_taken(demo, auth_headers) -> None:  # noqa: F811
    """The editor page's payload (maps/static/editor.js payload()) and the commit's body."""
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        body = _body(demo, "/plans/draft", base_version=0)
        body["grids"][0]["locked"] = False
        assert client.post("/plans/rebalance", json=body, headers=admin).status_code == 200
        r = client.post("/plans/draft", json=body, headers=admin)
        assert r.status_code == 201, r.text
        plan = r.json()["plan_id"]
        r = client.post(f"/plans/{plan}/commit", json={"allow_disconnected": True}, headers=admin)
        assert r.status_code == 200, r.text
        # min 0 is "no lower bound", as before
        r = client.post("/plans", json=_body(demo, "/plans", min_households=0), headers=admin)
        assert r.status_code == 202, r.text


def test_a_path_naming_nothing_stays_a_404(demo, auth_headers) -> None:  # noqa: F811
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        for method, url in (("GET", "/plans/999999"), ("POST", "/plans/999999/commit")):
            assert client.request(method, url, headers=admin).status_code == 404


def test_bounds_of_0_to_1_make_no_grid_without_buildings(demo, auth_headers) -> None:  # noqa: F811
    """F15 item 4: ``{"min_households": 0, "max_households": 1}`` made community 001's park
    block a grid of 0 buildings and 0 households, unflagged (the engine now joins ground
    nobody lives on to a neighbour: tests/test_partition_empty_grids.py); through the API."""
    admin = auth_headers("admin")
    body = {"community": "110108015001", "min_households": 0, "max_households": 1}
    with TestClient(create_app(demo)) as client:
        r = client.post("/plans", json=body, headers=admin)
        assert r.status_code == 202, r.text
        for _ in range(1200):
            job = client.get(r.json()["job_url"], headers=admin).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        plan = client.get(job["result"]["plan_url"], headers=admin).json()
    feats = plan["features"]["features"]
    assert feats
    for f in feats:
        p = f["properties"]
        assert p["building_ids"] and p["building_count"] >= 1, p["code"]


def test_validation_words_read_chinese_first() -> None:
    """pydantic's English came after the bare tag ("输入有误 max_households: Field required")."""
    from fastapi.exceptions import RequestValidationError

    from api.errors import _validation_message
    from geo.errors import chinese_first

    def said(*errors: dict) -> str:
        return chinese_first(_validation_message(RequestValidationError(list(errors))), 422)

    missing = {"type": "missing", "loc": ("body", "max_households"), "msg": "Field required"}
    assert said(missing) == "缺少字段 max_households: field required"
    assert said(
        {"type": "extra_forbidden", "loc": ("body", "seeds"), "msg": "Extra inputs are not"}
    ).startswith("未知字段 seeds: unknown field")
    for kind, zh in (
        ("int_parsing", "须为整数"),
        ("float_parsing", "须为数字"),
        ("greater_than_equal", "数值过小"),
        ("less_than", "数值过大"),
        ("string_too_long", "文字过长"),
        ("literal_error", "取值无效"),
        ("bool_parsing", "须为 true 或 false"),
    ):
        # the Chinese names the parameter itself: it stood between the two parts (T37)
        got = said({"type": kind, "loc": ("query", "limit"), "msg": "Input should be x"})
        assert got == f"参数 limit {zh} limit: Input should be x", got
    got = said({"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error"})
    assert got == (
        "请求体不是合法的 JSON（错在第 1 个字符处，从 0 数起） "
        "request body: JSON decode error at character 1"
    ), got
    got = said({"type": "date_from_datetime_parsing", "loc": ("query", "date"), "input": "x"})
    assert got.startswith(
        "参数 date 的日期 'x' 无效，请写成 YYYY-MM-DD（如 2026-11-20） "
        "date: 'x' is not a date: give it as"
    ), got
    got = said({"type": "datetime_parsing", "loc": ("body", "at"), "msg": "bad", "input": "y"})
    assert got.startswith("字段 at 的时间 'y' 无效，请写成 YYYY-MM-DDTHH:MM:SS+08:00 at: bad"), got
    # a rule over several fields written Chinese first is shown as it is
    rule = "户数下限大于上限 min_households (6) is greater than max_households (5)"
    got = said({"type": "value_error", "loc": ("body",), "msg": f"Value error, {rule}"})
    assert got == rule
    # the limit and the value given are said in Chinese too, and a code's pattern in words
    # (tester T36, F9: "格式不符 area: String should match pattern '^[0-9]{6,12}$'")
    got = said(
        {
            "type": "greater_than_equal",
            "loc": ("body", "max_households"),
            "msg": "Input should be greater than or equal to 1",
            "ctx": {"ge": 1},
            "input": 0,
        }
    )
    assert got.startswith(
        "字段 max_households 数值过小，须不小于 1，收到 0 max_households: Input should"
    ), got
    got = said(
        {
            "type": "string_pattern_mismatch",
            "loc": ("query", "area"),
            "msg": "String should match pattern '^[0-9]{6,12}$'",
            "ctx": {"pattern": "^[0-9]{6,12}$"},
            "input": "11010x",
        }
    )
    assert got == (
        "参数 area 格式不符，须为 6 到 12 位数字（收到 '11010x'） "
        "area: must be 6 to 12 digits, got '11010x'"
    ), got
    # a type without a wording: the generic words, after the field
    got = said({"type": "url_type", "loc": ("body", "u"), "msg": "bad"})
    assert got == "字段 u 输入有误 u: bad", got
    # a missing query parameter is a 参数, not a 字段
    missing = {"type": "missing", "loc": ("query", "area"), "msg": "Field required"}
    assert said(missing) == "缺少参数 area: field required"


def _refused(model: type, body: dict) -> str:
    """The 422 text for ``body`` as pydantic itself reports ``model``'s errors (real error
    dicts, union-member locs and all), with the body the request carried."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    from api.errors import _validation_message

    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        return _validation_message(RequestValidationError(errors, body=body))
    raise AssertionError(f"{body} was taken")


def test_a_union_field_is_named_once_without_pydantic_type_names() -> None:
    """A duty's person and target are a registry id (text) or a database id (a number):
    pydantic reports one error per member, under "target.constrained-str" and
    "target.constrained-int"; a clerk read both, with those names (T37)."""
    from api.routes.staffing import DutyRequest

    duty = {"person": "X1", "target": 1, "role": "alley_steward", "valid_from": "2026-11-01"}
    got = _refused(DutyRequest, {**duty, "target": 0})
    assert got == (
        "字段 target 数值过小，须不小于 1，收到 0 "
        "target: Input should be greater than or equal to 1"
    ), got
    # of neither type: one error saying which it may be
    got = _refused(DutyRequest, {**duty, "person": None})
    assert got == (
        "字段 person 须为文字或整数 person: Input should be a valid string or a valid integer"
    ), got
    got = _refused(DutyRequest, {**duty, "person": "", "target": 2.5})
    assert got == (
        "字段 person 文字过短，至少 1 个字符，收到 '' person: String should have at least 1 "
        "character; 字段 target 须为文字或整数，收到 2.5 target: Input should be a valid "
        "string or a valid integer"  # a database id is a whole JSON number (T39 M4)
    ), got
    for noise in ("constrained", ".str", ".int", "["):
        assert noise not in got, got


def test_member_names_go_but_a_field_of_that_name_stays() -> None:
    """Every kind of union member pydantic names in a loc goes (a validator's
    "function-after[…]", a "literal[…]", a model's class name), and only the errors of the
    member the value came nearest to are shown (not Other's missing ``days`` for a body
    shaped like a Span); a nested field that happens to be called ``date`` or ``int`` is
    the user's and stays, present or missing."""
    import datetime as dt
    from typing import Annotated, Literal

    from pydantic import AfterValidator, BaseModel

    class Span(BaseModel):
        date: dt.date
        int: int

    class Other(BaseModel):
        days: int

    class Body(BaseModel):
        kind: Literal["a", "b"] | Annotated[int, AfterValidator(lambda v: v)]
        span: Span | Other

    got = _refused(Body, {"kind": "c", "span": {"date": "x"}})
    assert "kind" in got and "span.date" in got and "span.int" in got, got
    for noise in ("function-after", "literal", "Span", "Other", "span.days"):
        assert noise not in got, got
    assert "字段 span.date 的日期 'x' 无效" in got and "缺少字段 span.int: field" in got, got


def test_true_is_neither_a_seed_nor_a_staffing_ratio(demo, auth_headers) -> None:  # noqa: F811
    """T39 M4: ``"seed": true`` ran as seed 1 and ``"households_per_worker": true`` as one
    worker per household (pydantic's lax int); as the bounds, they are whole JSON numbers
    only now, refused in the app's words with nothing queued."""
    admin = auth_headers("admin")
    with TestClient(create_app(demo)) as client:
        before = _stored(demo)
        for field, value in (("seed", True), ("households_per_worker", True), ("seed", 1.0)):
            r = client.post("/plans", json=_body(demo, "/plans", **{field: value}), headers=admin)
            assert r.status_code == 422, (field, value, r.text)
            assert r.json()["error"].startswith(f"字段 {field} 须为整数"), r.text
            assert f"{field}: Input should be a valid integer" in r.json()["error"], r.text
        assert _stored(demo) == before
