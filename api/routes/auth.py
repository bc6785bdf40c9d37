"""Sign-in and tokens: OAuth2 password flow, long-lived API tokens for phones, who am I."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth import COOKIE, public, signed_in
from api.bodies import StrictBody
from api.ratelimit import MAX_NAME, FailureLimiter
from api.routes.login import sign_in_form
from geo import accounts, audit
from geo.accounts import Principal
from geo.auth_settings import get_auth_settings
from geo.settings import get_settings
from geo.track_days import local_iso

router = APIRouter(prefix="/auth", tags=["auth"])
_log = logging.getLogger("gridward.auth")

# Every signed-in account, whatever the role (the rule marker sits in the Depends).
SignedIn = Annotated[Principal, Depends(signed_in())]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class ApiTokenIn(StrictBody):
    name: str = Field(
        min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="e.g. the phone's name"
    )
    # strict (T67 #12): JSON true was taken as 1 day, 1.0 as 1
    days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        strict=True,
        description="有效天数（整数，默认见 GRIDWARD_API_TOKEN_DAYS） lifetime in whole days "
        "(default: GRIDWARD_API_TOKEN_DAYS)",
    )


class ApiTokenOut(BaseModel):
    id: int
    name: str | None
    token: str = Field(description="shown once: store it in the phone app")
    expires_at: dt.datetime = Field(description="in the city's time zone (GRIDWARD_TIMEZONE)")


class TokenInfo(BaseModel):
    id: int
    kind: str
    name: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    legacy: bool = Field(
        False,
        description="旧式令牌：按旧的 HMAC 方式保存，只有签发后 GRIDWARD_SECRET 一直未改时才有效，"
        "首次使用时改按新方式保存。Stored under the old HMAC scheme; works only while "
        "GRIDWARD_SECRET is unchanged since it was made, and is re-stored on first use",
    )


class Me(BaseModel):
    id: int
    username: str
    # the token as stored; steward is every patrol person's account (T40 #8)
    role: str = Field(
        description="角色：admin 管理员、planner 规划员、steward 巡查人员（小巷管家/街巷长）、"
        "viewer 查看员 the role: admin, planner, steward (alley stewards and street chiefs "
        "alike: their own walks and duties) or viewer"
    )
    area_codes: list[str]
    person_id: int | None


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Sign in (OAuth2 password flow) 登录",
    # sign_in_form: a body that is no form (JSON) is told so (T40 #16)
    dependencies=[Depends(public()), Depends(sign_in_form)],
    responses={
        401: {"description": "wrong username or password"},
        403: {
            "description": "a cross-site sign-in: a page of another site (not in "
            "GRIDWARD_CORS_ORIGINS) may not sign a browser in"
        },
        415: {"description": "the body is no form (JSON): send username and password as one"},
        429: {"description": "this username is locked from this address, or the address is"},
    },
)
def token(
    request: Request, response: Response, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    cookie = _sets_cookie(request)  # 403 for another site's page (T42 #6)
    engine = request.app.state.engine
    limiter = request.app.state.signin_limiter  # api.ratelimit: per (username, address)
    address = request.client.host if request.client else "-"
    with engine.connect() as conn:
        limiter.check(conn, form.username, address)
    with engine.begin() as conn:
        principal = accounts.authenticate(conn, form.username, form.password)
        if principal is not None:  # its signin.success entry clears the pair's count
            _tid, secret, expires = accounts.issue_token(conn, principal.user_id, "access")
            who, detail = principal.username, {"username": principal.username, "address": address}
            audit.record(conn, who, audit.SIGNIN_OK, "user", principal.user_id, detail)
    if principal is None:
        _record_failed_signin(engine, form.username, address, limiter)
        raise HTTPException(
            401,
            "账号名或密码错误 wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    seconds = max(int((expires - dt.datetime.now(dt.UTC)).total_seconds()), 0)
    # For the browser map pages (tiles and layers fetched without an Authorization header).
    if cookie:
        response.set_cookie(
            COOKIE,
            secret,
            max_age=seconds,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return TokenOut(access_token=secret, expires_in=seconds)


def _sets_cookie(request: Request) -> bool:
    """Whether this sign-in sets the session cookie: yes for this site's own page (the
    sign-in page) and for clients that are no browser page (curl, scripts, phone apps: they
    send neither ``Sec-Fetch-Site`` nor ``Origin``); no for a web app of an origin in
    GRIDWARD_CORS_ORIGINS (it gets the token to send as a Bearer; the cookie never goes
    cross-origin, see api.app); 403 for another site's page.

    WHY (T42 #6, login CSRF): a hostile page posting to /auth/token with its own account's
    password set the cookie in a steward's browser, signed in as the attacker: her next
    upload through the patrol map was credited to the attacker. A browser says where a
    request comes from: ``Sec-Fetch-Site`` (trusted when sent, as :mod:`api.auth` trusts it
    for the plain sign-out form), else ``Origin`` compared with this host. ``same-site`` (a
    sibling subdomain) is another site's page here too: the SameSite cookie would go along.
    Refused before the password is checked: such tries count toward no lockout either."""
    site = (request.headers.get("sec-fetch-site") or "").lower()
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    if site:
        foreign = site in ("cross-site", "same-site")
    else:
        foreign = origin is not None and origin.lower() != own
    if not foreign:
        return True
    allowed = get_settings().cors_origin_list()
    if origin and ("*" in allowed or origin.lower() in allowed):
        return False  # a web app allowed to call the API: its token, no cookie
    # with no Origin the words name none (T45 #7: it read 另一个网站（来源 （未知））的网页)
    shown = "另一个网站的网页（来源未知）"  # the page, and its origin
    if origin:
        shown = f"另一个网站（来源 {origin[:100]!r}）的网页"
    shown_en = repr(origin[:100]) if origin else "(unknown)"
    _log.info("cross-site sign-in refused: origin %s, Sec-Fetch-Site %s", shown_en, site or "-")
    raise HTTPException(
        403,
        f"跨站登录被拒：{shown}不能让浏览器登录本站（登录会设置本站的 "
        "Cookie），账号和密码未经核对；请在本站的登录页 /login 登录；在别处提供的网页应用须将"
        "其来源列入 GRIDWARD_CORS_ORIGINS，并以 Authorization: Bearer 发送取得的令牌 "
        f"cross-site sign-in refused: a page of another site (origin {shown_en}) may not sign "
        "a browser in to this site (the sign-in sets this site's cookie); the password was not "
        "checked. Sign in at /login on this site; a web app served elsewhere needs its origin in "
        "GRIDWARD_CORS_ORIGINS and sends the token it gets as Authorization: Bearer",
    )


def _record_failed_signin(
    engine: Engine, username: str, address: str, limiter: FailureLimiter
) -> None:
    """A refused sign-in in the audit log (``signin.failure``), in its own transaction: the
    sign-in's rolls back. No actor, as nobody signed in: the name as typed (an account, or a
    guess; cut to 100 characters) is in the detail. WHY: an admin looking into a break-in had
    no record of sign-ins, made or refused (outside tester Z2). The failure that starts a
    lock also writes ``signin.locked`` and one WARNING log line: the tries refused while
    locked (429) are not written one by one, and the admin saw nothing of a lock (Z3)."""
    name = username[:MAX_NAME]
    detail = {"username": name, "address": address}
    with engine.begin() as conn:
        locked = limiter.fail(conn, username, address)  # writes the signin.failure entry
        if locked is not None:
            minutes = round(limiter.window_s / 60)
            audit.record(conn, None, audit.SIGNIN_LOCKED, detail={**detail, "scope": locked})
            what = f"user {name!r} from {address}" if locked == "account" else address
            what_zh = f"账号 {name!r}，来自 {address}" if locked == "account" else f"地址 {address}"
            lift = (
                f"users unlock {name}"
                if locked == "account"
                else f"users unlock --address {address}"
            )
            _log.warning(
                "登录已锁定（%s）：登录失败次数过多，最长锁定 %d 分钟；'gridward %s' 可解除 "
                "sign-ins locked for %s after too many failures (up to %d min; "
                "'gridward %s' lifts it)",
                what_zh,
                minutes,
                lift,
                what,
                minutes,
                lift,
            )


def _signed_in_by_password(user: Principal) -> None:
    """403 when the caller signed in with an API token: only a sign-in (a password, POST
    /auth/token, or its cookie) or the server's CLI mints API tokens. WHY (T67 #12): a token
    minted by a token outlived it, so revoking a leaked token left its children working
    (each good for up to 10 years). The simplest rule an admin expects: revoking a token
    ends all it can do; a parent link to revoke children with would still let a leaked
    token keep itself alive through them until someone noticed."""
    if user.token_kind != "api":
        return
    raise HTTPException(
        403,
        "API 令牌不能再签发 API 令牌：请用账号和密码登录（POST /auth/token）后以登录所得的令牌"
        "签发，或在服务器上用命令行 gridward users token 账号名 签发；这样吊销一个泄露的令牌"
        "即可终止它能做的一切 "
        "an API token may not issue API tokens: sign in with the password (POST /auth/token) "
        "and issue it with that sign-in's token, or use the CLI on the server, 'gridward "
        "users token NAME'; so revoking a leaked token ends all it can do",
    )


@router.post(
    "/api-tokens",
    response_model=ApiTokenOut,
    status_code=201,
    summary="Create a long-lived API token for a phone app 创建令牌 (from a sign-in, "
    "not from an API token)",
    responses={
        403: {
            "description": "the request was signed with an API token: API tokens are issued "
            "from a sign-in (POST /auth/token) or by the CLI 'gridward users token'"
        }
    },
)
def create_api_token(request: Request, body: ApiTokenIn, user: SignedIn) -> ApiTokenOut:
    _signed_in_by_password(user)
    days = body.days or get_auth_settings().api_token_days
    with request.app.state.engine.begin() as conn:
        tid, secret, expires = accounts.issue_token(
            conn,
            user.user_id,
            "api",
            name=body.name,
            lifetime=dt.timedelta(days=days),
            actor=user.username,
        )
    # in the city's zone, as the tracks', jobs' and reports' times (T67 #15: it was UTC, …Z)
    return ApiTokenOut(id=tid, name=body.name, token=secret, expires_at=local_iso(expires))


_TOKEN_TIMES = ("created_at", "last_used_at", "expires_at", "revoked_at")


@router.get("/api-tokens", response_model=list[TokenInfo], summary="My tokens 我的令牌")
def list_api_tokens(request: Request, user: SignedIn) -> list[TokenInfo]:
    """Times in the city's zone, as the tracks', jobs' and reports' (T67 #15)."""
    with request.app.state.engine.connect() as conn:
        tokens = accounts.list_tokens(conn, user.user_id)
    return [TokenInfo(**{**t, **{k: local_iso(t[k]) for k in _TOKEN_TIMES}}) for t in tokens]


@router.delete(
    "/api-tokens/{token_id}",
    status_code=204,
    summary="Revoke a token (own; admins any) 吊销令牌",
    responses={404: {"description": "no such token of yours"}},
)
def revoke_api_token(
    request: Request,
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: SignedIn,
) -> Response:
    with request.app.state.engine.begin() as conn:
        accounts.revoke_token(conn, token_id, actor=user)
    return Response(status_code=204)


@router.get("/me", response_model=Me, summary="Who am I 当前用户")
def me(user: SignedIn) -> Me:
    return Me(
        id=user.user_id,
        username=user.username,
        role=user.role,
        area_codes=list(user.area_codes),
        person_id=user.person_id,
    )


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out: revoke this token 退出",
    responses={303: {"description": "a browser's plain sign-out form: on to the sign-in page"}},
)
def logout(request: Request, user: SignedIn) -> Response:
    if user.token_id is not None:
        with request.app.state.engine.begin() as conn:
            accounts.revoke_token(conn, user.token_id, actor=user)
    # the bar's plain form (no script): on to the sign-in page, as the script goes there
    plain = not request.headers.get("x-requested-with") and "text/html" in request.headers.get(
        "accept", ""
    )
    response = RedirectResponse("/login", status_code=303) if plain else Response(status_code=204)
    response.delete_cookie(COOKIE)
    return response
