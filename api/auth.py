"""Who may call what: every route declares one rule, checked before the route runs.

A rule is a FastAPI dependency made by :func:`allow` or :func:`public`; the dependency carries a
marker (:data:`RULE_ATTR`) so ``tests/test_auth_matrix.py`` can find the rule of every route
and fail for a route without one. Declare it on the route (or on its router)::

    @router.get("/grids", dependencies=[Depends(allow("viewer", "steward"))])
    def grids(...): ...

    @router.put("/grids/{code}")
    def edit(code: str, user: Annotated[Principal, Depends(allow("planner", area_param="code"))]):
        ...

    @router.post("/tracks")
    def upload(user: Annotated[Principal, Depends(allow("steward", own_person=True))]): ...

    @router.get("/health", dependencies=[Depends(public())])

Roles: admin > planner > viewer (a higher role passes a lower one's rule); steward stands apart
(own tracks, own duties and reports: the account of anyone who patrols, alley stewards and
street chiefs alike, 巡查人员); admin passes every rule. No token → 401 with
``WWW-Authenticate: Bearer``; a token whose role or scope does not fit → 403.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError

from geo.accounts import STEWARD_ZH, Principal, role_zh, verify_token
from geo.accounts_models import IMPLIED, USER_ROLES
from geo.area_paths import AreaPath, area_path

RULE_ATTR = "__gridward_rule__"

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    auto_error=False,
    description="Bearer token from POST /auth/token (password flow) or an API token.",
)

AreaLookup = Callable[[Connection, str], str | None]


@dataclass(frozen=True)
class Rule:
    """What a route demands. ``roles`` are the roles that pass (after implication)."""

    public: bool = False
    declared: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()
    area_param: str | None = None
    own_person: str | None = None

    def describe(self) -> str:
        if self.public:
            return "public()"
        extra = []
        if self.area_param:
            extra.append(f"area_param={self.area_param!r}")
        if self.own_person:
            extra.append(f"own_person={self.own_person!r}")
        return "allow(" + ", ".join([*map(repr, self.declared), *extra]) + ")"


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _param(request: Request, name: str) -> str | None:
    value = request.path_params.get(name)
    if value is None:
        value = request.query_params.get(name)
    return None if value is None else str(value)


COOKIE = "gridward_token"
_SAFE = ("GET", "HEAD", "OPTIONS")


def _plain_sign_out(request: Request) -> bool:
    """The 退出 form posted by the browser itself, without the page's script (scripts off, or
    not yet loaded): POST /auth/logout that the browser says comes from this site's own page
    (``Sec-Fetch-Site: same-origin``, or an ``Origin`` equal to this host). Other sites' pages
    cannot send either, so the X-Requested-With guard is not needed here. WHY: the form got
    the CSRF 403, so without JavaScript nobody could sign out (tester M's leftover)."""
    if request.url.path != "/auth/logout":
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and origin == f"{request.url.scheme}://{request.url.netloc}"


def current_principal(request: Request, token: str | None) -> Principal:
    """The signed-in principal for this request, or 401.

    The token comes from ``Authorization: Bearer`` or, for the browser map pages, from the
    ``gridward_token`` cookie set by POST /auth/token (HttpOnly, SameSite=Strict). A write
    signed by the cookie alone must also carry ``X-Requested-With`` (a header other sites
    cannot add without CORS, which gridward does not enable): a CSRF guard."""
    if not token:
        token = request.cookies.get(COOKIE)
        if (
            token
            and request.method not in _SAFE
            and not request.headers.get("x-requested-with")
            and not _plain_sign_out(request)
        ):
            raise HTTPException(
                403,
                "凭 Cookie 登录的写请求须带 X-Requested-With 头 "
                "cookie-signed writes need an X-Requested-With header",
            )
    if not token:
        raise _unauthorized(
            "未登录，请先登录 "
            "not signed in: send 'Authorization: Bearer <token>' (get one at POST /auth/token)"
        )
    principal = verify_token(request.app.state.engine, token)
    if principal is None:
        raise _unauthorized(
            "令牌无效、已过期或已吊销，请重新登录 "
            "token is invalid, expired or revoked: sign in again"
        )
    request.state.principal = principal
    return principal


def allow(
    *roles: str,
    area_param: str | None = None,
    area_lookup: AreaLookup | None = None,
    own_person: bool | str = False,
) -> Callable[..., Principal]:
    """A rule admitting ``roles`` (and the roles above them); returns the caller's Principal.

    ``area_param``: path or query parameter holding an area or grid code; a planner passes only
    when the code is inside their area scope (``area_lookup(conn, value)`` first maps the value,
    e.g. a grid id, to a code). A missing value denies a planner; for codes in a JSON body use
    :func:`require_area` in the route instead.
    ``own_person``: a steward passes only for their own person: the parameter (``person_id``
    when True) must be absent or equal to the steward's person id; use :func:`person_for`.
    """
    unknown = [r for r in roles if r not in USER_ROLES]
    if not roles or unknown:
        raise ValueError(f"allow() needs roles from {USER_ROLES}, got {roles}")
    person_param = "person_id" if own_person is True else (own_person or None)
    admitted = frozenset().union(*(IMPLIED[r] for r in roles))
    rule = Rule(
        declared=tuple(roles), roles=admitted, area_param=area_param, own_person=person_param
    )

    def dependency(request: Request, token: str | None = Depends(oauth2_scheme)) -> Principal:
        principal = current_principal(request, token)
        if principal.role not in rule.roles:
            needs = " or ".join(sorted(rule.roles))
            needs_zh = _zh_or([role_zh(r) for r in sorted(rule.roles)])
            raise HTTPException(
                403,
                f"您的角色为{role_zh(principal.role)}，无此权限，需要{needs_zh}权限 "
                f"role {principal.role!r} may not do this: it needs {needs}",
            )
        if rule.area_param and principal.role == "planner":
            value = _param(request, rule.area_param)
            if value is not None and area_lookup is not None:
                try:
                    with request.app.state.engine.connect() as conn:
                        value = area_lookup(conn, value)
                except (ValueError, TypeError, DataError):  # the lookup runs before validation
                    raise HTTPException(
                        422,
                        f"区域无效：{rule.area_param} 的值 {str(value)[:40]!r} 不是有效的区域 "
                        f"{rule.area_param} {str(value)[:40]!r} is not valid",
                    ) from None
            if not covers(principal, value, request.app.state.engine):
                given, given_zh = value or "(missing)", value or "（未给出）"
                raise HTTPException(
                    403,
                    # the area first, as every other refusal names it (T42 #10)
                    f"不在您的管辖区域内：{given_zh}（参数 {rule.area_param}）。 "
                    f"outside your areas: {rule.area_param}={given}",
                )
        if rule.own_person and principal.role == "steward":
            given = _param(request, rule.own_person)  # her 403 names what she asked (T39 L9)
            person_for(principal, given, action_of(request), rule.own_person)
        return principal

    setattr(dependency, RULE_ATTR, rule)
    dependency.__name__ = f"allow_{'_'.join(roles)}"
    return dependency


def _zh_or(words: list[str]) -> str:
    """Alternatives as a Chinese list says them: 管理员、规划员或查看员 (T40 #13: it read
    管理员或规划员或查看员); two as 管理员或规划员."""
    return "、".join(words[:-1]) + "或" + words[-1] if len(words) > 1 else "".join(words)


def passes(rule: Callable[..., Principal], principal: Principal) -> bool:
    """Whether ``principal``'s role passes ``rule`` (an :func:`allow` dependency): a page shows
    a control only to those the route behind it admits."""
    return principal.role in getattr(rule, RULE_ATTR).roles


def signed_in() -> Callable[..., Principal]:
    """Any active account (all four roles)."""
    return allow("viewer", "steward")


def public() -> Callable[[], None]:
    """A rule for routes anyone may call (health, sign-in, docs)."""

    def dependency() -> None:
        return None

    setattr(dependency, RULE_ATTR, Rule(public=True))
    dependency.__name__ = "public"
    return dependency


def covers(principal: Principal, code: str | None, engine: Engine | None) -> bool:
    """Whether ``code`` is in a planner's scope, looked up by parent link when there is a
    database (a community linked to another subdistrict than its code begins with is that
    one's, :mod:`geo.area_paths`); by code prefix alone without one."""
    if engine is None or not code:
        return principal.covers_area(code)
    with engine.connect() as conn:
        return principal.covers_area(area_path(conn, code))


def require_area(
    principal: Principal, code: str | AreaPath | None, engine: Engine | None = None
) -> None:
    """403 unless ``code`` (an area or grid code, or an area path) is inside the principal's
    scope; with ``engine``, a code is looked up by parent link (:func:`covers`).

    For planners; admins pass; other roles never edit areas. An empty path is a street that
    lies in no imported area: only an admin may edit it."""
    if principal.role == "admin":
        return
    is_path = isinstance(code, tuple)
    if principal.role == "planner" and (
        principal.covers_area(code) if is_path else covers(principal, code, engine)
    ):
        return
    if is_path and not code:
        raise HTTPException(
            403,
            "不在您的管辖区域内：这条街巷不在任何已导入的区域内，只有管理员能修改它的职责 "
            "outside your areas: this street or alley lies in no imported "
            "area, so only "
            "an admin may change its duties",
        )
    shown = code[0] if is_path else code
    area, area_zh = shown or "(no area given)", shown or "（未给出区域）"
    raise HTTPException(403, f"不在您的管辖区域内：{area_zh}。 outside your areas: {area}")


def area_scope(user: Principal, refusal: str | None = None) -> Callable[[Any], None]:
    """A planner edits only inside their areas (the grid's or the street's area path,
    :mod:`geo.area_paths`); checked in the edit's transaction, before anything is written.
    ``refusal``: one 403 message for every refusal, and for a path of None (no such target),
    so whether it exists, or where, is not told."""

    def authorize(path: AreaPath | None) -> None:
        if refusal is None:
            return require_area(user, path)
        try:
            require_area(user, path)
        except HTTPException:
            raise HTTPException(403, refusal) from None

    return authorize


def require_job_reader(principal: Principal, job: dict[str, Any], engine: Engine) -> None:
    """A job's status and result are for its creator, admins, and planners of the area it
    works on (a staffing proposal lists people and their home-to-grid distances, as a plan
    is a planner's working paper): 403 for anyone else, 404 for a steward (their upload jobs
    are theirs; whether others exist is not told)."""
    from geo.errors import NotFoundError
    from geo.jobs import job_area

    if principal.role == "admin" or job.get("created_by") == principal.username:
        return
    area = job_area(job)
    if principal.role == "planner" and area and covers(principal, area, engine):
        return
    if principal.role == "steward":
        raise NotFoundError(f"任务 {job['id']} 不存在 job {job['id']} not found")
    planners = f" and planners of {area}" if area else ""
    planners_zh = f"和 {area} 的规划员" if area else ""
    raise HTTPException(
        403,
        f"无权查看此任务：任务 {job['id']} 只有发起人、管理员{planners_zh}可以查看 "
        f"job {job['id']} is readable by whoever started it, admins{planners}: not by you",
    )


# The patrol map's refusal of a steward's page about someone else (T44 #9): "只能为本人办理"
# (handle a procedure) read oddly for looking at a map; the API routes keep their words.
PATROLS_REFUSAL = (
    "巡查人员只能查看和上传本人的巡查：此页所指的人员不是您本人。请打开不带人员的巡查图"
    "（/maps/patrols）查看本人的巡查 "
    "stewards see and upload only their own patrols: this page is about someone else; open "
    "the patrol map without a person (/maps/patrols) to see your own"
)


def person_for(
    principal: Principal,
    requested: Any = None,
    action: str | None = None,
    field: str | None = None,
    refusal: str | None = None,
) -> int | None:
    """The person a request acts for: a steward only ever for their own person.

    Admins and planners get ``requested`` back as an int (or None). A steward naming another
    person gets a 403 saying what she asked (``action``, e.g. :func:`action_of` the request;
    ``field``: the parameter that named the person, shown with its value) and for whom she
    may (T39 L9: "只能为本人办理" alone named neither). Without ``field`` the value is not
    shown: a page may pass a people.id it resolved from a registry id she gave, and must not
    tell her whose id that is. ``refusal``: a page's own words for that 403 instead."""
    req = None
    if requested not in (None, ""):
        try:
            req = int(requested)
        except (TypeError, ValueError):
            raise HTTPException(
                422,
                f"人员系统编号 person_id {str(requested)[:40]!r} 不是数字 "
                f"person_id {str(requested)[:40]!r} is not a number",
            ) from None
    if principal.role != "steward":
        return req
    if principal.person_id is None:
        raise HTTPException(
            403,
            "您的账号未关联人员，请联系管理员 "
            "your steward account is not linked to a person: ask an admin",
        )
    if req is not None and req != principal.person_id:
        if refusal is not None:
            raise HTTPException(403, refusal)
        what = action or "此请求"
        asked = f"的 {field}={req} " if field else "所指的人员"
        raise HTTPException(
            403,
            # the role is every patrol person's, street chiefs' too (T40 #8)
            f"{STEWARD_ZH}只能为本人办理：{what}{asked}不是您本人，您只能为本人"
            f"（person_id={principal.person_id}）办理 stewards may act only for themselves",
        )
    return principal.person_id


def action_of(request: Request) -> str:
    """What a request does, as a refusal names it: the route's Chinese name (the end of its
    summary) and its method and path, 「轨迹列表」（GET /tracks）; the method and path alone
    for a route without a Chinese name."""
    route = request.scope.get("route")
    summary = str(getattr(route, "summary", None) or "")
    zh = re.search(r"[\u4e00-\u9fff][\u4e00-\u9fff·]*$", summary)
    where = f"{request.method} {request.url.path}"
    return f"「{zh.group(0)}」（{where}）" if zh else where


def _walk(dependant: Any) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _walk(dep)


def rules_of(route: Any) -> list[Rule]:
    """The rules declared on a route (its own dependencies and its router's)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return []
    return [getattr(c, RULE_ATTR) for c in _walk(dependant) if hasattr(c, RULE_ATTR)]


@dataclass(frozen=True)
class RouteInfo:
    """One route as served: full path, methods, whether it is an API route, its rules."""

    path: str
    methods: frozenset[str]
    is_api: bool
    route: Any
    rules: tuple[Rule, ...]


def iter_routes(app: Any) -> Iterator[RouteInfo]:
    """Every route of the app with its effective path and dependencies.

    FastAPI ≥ 0.16x keeps included routers as nested entries (``_IncludedRouter``) in
    ``app.routes``; :func:`fastapi.routing.iter_route_contexts` flattens them with the
    router's prefix and dependencies applied. Older FastAPI flattens at include time."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        contexts: Any = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    for rc in contexts:
        original = getattr(rc, "original_route", rc)
        effective = getattr(rc, "_effective_route", rc)
        yield RouteInfo(
            path=str(getattr(rc, "path", "") or getattr(original, "path", "")),
            methods=frozenset(getattr(rc, "methods", None) or ()),
            is_api=isinstance(original, APIRoute),
            route=original if not isinstance(original, APIRoute) else effective,
            rules=tuple(rules_of(effective)),
        )


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "status", "code"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, for people"},
        "status": {"type": "integer", "description": "the HTTP status code again"},
        "code": {
            "type": "string",
            "description": "what is wrong, for programs: a stable word such as not_found, "
            "conflict, invalid_input, too_large, or one naming the refusal "
            "(track_copy, track_withdrawn …)",
        },
    },
}


def document_error_responses(app: Any) -> None:
    """Declare in the OpenAPI schema that any operation may answer with the JSON error body.

    Every route can be refused (401/403 by its rule, 413 by the body limit, 422 by
    validation, 503 while the database is away); this adds that truth once, as each
    operation's ``default`` response, instead of repeating it on every decorator."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = (
            original()
        )  # FastAPI caches it and rebuilds when routes change; patch is idempotent
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"$ref": "#/components/schemas/Error"}
        for item in schema.get("paths", {}).values():
            for op in item.values():
                if isinstance(op, dict) and "responses" in op:
                    op["responses"].setdefault(
                        "default",
                        {
                            "description": "error 错误: JSON {error, status, code}",
                            "content": {"application/json": {"schema": ref}},
                        },
                    )
        return schema

    app.openapi = openapi
