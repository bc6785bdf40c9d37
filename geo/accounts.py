"""Accounts: users, password checks (argon2id) and bearer tokens.

Tokens are opaque random strings checked against the database, not self-contained signed
tokens (JWT). Why: a revoked token or a deactivated user must stop working on the next request,
and an opaque token gives that with one indexed lookup, with no revocation list and no key
rotation to get wrong. Only a SHA-256 of each token is stored (:func:`token_hash`), so a copy
of the database alone is not a set of working tokens; it does not depend on ``GRIDWARD_SECRET``
(tokens stored under the older HMAC scheme are still taken and re-hashed on use).
Both the short password-flow ``access`` tokens and the long-lived ``api`` tokens of the phone
apps are rows of ``api_tokens``; they differ only in lifetime and in being listed to the user.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo import audit
from geo.accounts_models import (  # noqa: F401 (STEWARD_ZH, role_zh: api.auth, api.cli_users)
    IMPLIED,
    ROLE_ZH,
    STEWARD_ZH,
    USER_ROLES,
    ApiToken,
    User,
    role_zh,
)
from geo.area_paths import scope_codes
from geo.auth_settings import AuthSettings, get_auth_settings
from geo.errors import ConflictError, InputError, NotFoundError
from geo.models import Person

_users = User.__table__
_tokens = ApiToken.__table__
_people = Person.__table__


TOKEN_PREFIX = "gw_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 hashes anything, but a megabyte "password" is an attack
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_AREA_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")  # 6, 9, 12 or 15 digits


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the rule checks need, nothing secret."""

    user_id: int
    username: str
    role: str
    area_codes: tuple[str, ...] = ()
    person_id: int | None = None
    token_id: int | None = None
    # the kind of the token it signed in with (access: a sign-in, api: a long-lived token);
    # None when not signed in by a token (the CLI). WHY: an API token may not mint others
    token_kind: str | None = None

    def covers_area(self, code: str | Sequence[str] | None) -> bool:
        """True when ``code`` lies inside this user's scope.

        Admins cover everything. For a planner, ``code`` is either an area or grid code,
        covered when it starts with one of their codes (nesting alone, for codes not looked
        up), or an area path from the database (:mod:`geo.area_paths`), covered when one of
        its :func:`~geo.area_paths.scope_codes` is one of theirs (parent links first).
        """
        if self.role == "admin":
            return True
        if isinstance(code, str):
            return any(code.startswith(s) for s in self.area_codes)
        return not scope_codes(tuple(code or ())).isdisjoint(self.area_codes)


def _hasher():  # -> argon2.PasswordHasher
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (after the length checks)."""
    _check_password(password)
    return _hasher().hash(password)


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(
            f"密码太短，至少 {MIN_PASSWORD} 个字符 "
            f"password too short: use at least {MIN_PASSWORD} characters"
        )
    if len(password) > MAX_PASSWORD:
        raise InputError(
            f"密码太长，最多 {MAX_PASSWORD} 个字符 "
            f"password too long: at most {MAX_PASSWORD} characters"
        )


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises on a wrong or malformed password."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so both cases take the same time.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher().hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


# How a stored token hash says its scheme: "sha256:" + 43 base64url chars (50 in all, within
# the 64-char column, so no migration); the older HMAC hashes are 64 hex chars, no colon.
TOKEN_HASH_SCHEME = "sha256:"


def token_hash(token: str) -> str:
    """How a token is stored: ``sha256:`` and the token's plain SHA-256 (base64url).

    WHY no key: a token is 32 random bytes (256 bits), so its unkeyed SHA-256 can be neither
    guessed nor reversed and is a sound lookup key. The old HMAC keyed with ``GRIDWARD_SECRET``
    added nothing but a dependency: changing the secret (as going to production does) broke
    every phone, and ``users token`` run without the server's secret printed a dead token."""
    digest = hashlib.sha256(token.encode()).digest()
    return TOKEN_HASH_SCHEME + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def legacy_token_hash(token: str, settings: AuthSettings | None = None) -> str:
    """The older scheme: HMAC-SHA256 keyed with ``GRIDWARD_SECRET`` (64 hex chars). Tokens
    stored so are still taken while the secret is unchanged, and re-hashed on first use."""
    key = (settings or get_auth_settings()).secret.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def normalize_area_codes(codes: Iterable[str]) -> list[str]:
    """Strip, validate (6/9/12/15 digits) and de-duplicate area codes."""
    out: list[str] = []
    for raw in codes:
        code = str(raw).strip()
        if not code:
            continue
        if not _AREA_CODE.match(code):
            raise InputError(
                f"区划代码 {code[:40]!r} 应为 6、9、12 或 15 位数字 "
                f"area code {code[:40]!r} must be 6, 9, 12 or 15 digits"
            )
        if code not in out:
            out.append(code)
    return out


# what a role's reach is instead of areas, for the refusal of --area given to it
_ROLE_SCOPE = {
    "admin": "acts everywhere",
    "viewer": "reads every area",
    "steward": "is scoped by --person (their own walks and duties)",
}
_ROLE_SCOPE_ZH = {
    "admin": "可在所有区域操作",
    "viewer": "可查看所有区域",
    "steward": "按 --person 限定范围（本人的巡查和职责）",
}
# the roles as a refusal names them, and in its Chinese part: "admin 管理员、planner 规划员、…"
# (the token, then its name: the steward's name has brackets of its own, T40 #8)
_ROLES = ", ".join(USER_ROLES)
_ROLES_ZH = "、".join(f"{r} {ROLE_ZH[r]}" for r in USER_ROLES)


def _a(word: str) -> str:
    """``word`` with its article: "an admin", "a viewer" (the message said "a admin")."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _check_role_areas(role: str, codes: list[str]) -> None:
    """The role is known, a planner has areas and no one else has any (``users add``/``set``)."""
    if role not in USER_ROLES:
        raise InputError(
            f"角色 {role!r} 无效，请用以下之一：{_ROLES_ZH} role {role!r} is not one of {_ROLES}"
        )
    if role == "planner" and not codes:
        raise InputError(
            "规划员至少需要一个区划代码（如 --area 110108020） "
            "a planner needs at least one area code (--area 110108020)"
        )
    if role != "planner" and codes:
        # only a planner's rights are scoped by area; an area given to anyone else was
        # stored and silently meant nothing (tester W, F15)
        scope = _ROLE_SCOPE.get(role, "has no areas")
        scope_zh = _ROLE_SCOPE_ZH.get(role, "没有管辖区域")
        who, who_zh = _a(role), role_zh(role)
        listed, listed_zh = ", ".join(codes), "、".join(codes)
        raise InputError(
            f"只有规划员有管辖区域：--area 只用于规划员，{who_zh}{scope_zh}，"
            f"所以 {listed_zh} 没有意义（去掉 --area，或改用 --role planner） "
            f"--area scopes a planner only: {who} {scope}, so "
            f"{listed} would mean nothing (leave --area out, or use --role planner)"
        )


def create_user(
    conn: Connection,
    username: str,
    password: str,
    role: str,
    area_codes: Iterable[str] = (),
    person_id: int | None = None,
    actor: str | None = None,
) -> int:
    """Create a user in the caller's transaction and audit it; returns the user id."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InputError(
            "账号名须为 1-64 个字母、数字或 _ . @ - "
            "username must be 1-64 characters of letters, digits, _ . @ -"
        )
    if username.lower() == "cli":
        # the audit's name for the shell (geo.audit stores it as cli:<OS user>): an account
        # so named would have its web actions read as someone's typed commands
        raise InputError(
            "账号名 'cli' 已留作审计日志中命令行操作的名称，请另选一个名称 "
            "username 'cli' is reserved: the audit log names shell commands so"
        )
    codes = normalize_area_codes(area_codes)
    _check_role_areas(role, codes)
    if person_id is not None:
        found = conn.execute(select(_people.c.id).where(_people.c.id == person_id)).first()
        if found is None:
            raise InputError(
                f"人员（系统编号 id:{person_id}）不存在 person {person_id} does not exist"
            )
    pw_hash = hash_password(password)
    check_username_free(conn, username)
    try:
        with conn.begin_nested():
            uid = conn.execute(
                insert(_users)
                .values(
                    username=username,
                    password_hash=pw_hash,
                    role=role,
                    area_codes=codes,
                    person_id=person_id,
                )
                .returning(_users.c.id)
            ).scalar_one()
    except IntegrityError:
        raise _name_taken(username) from None
    audit.record(
        conn,
        actor,
        "user.create",
        "user",
        uid,
        {"username": username, "role": role, "area_codes": codes, "person_id": person_id},
    )
    return int(uid)


def _name_taken(username: str) -> ConflictError:
    return ConflictError(
        f"账号 {username!r} 已存在；要修改它，请用 gridward users set {username} "
        f"--role/--area/--person（改密码：gridward users password {username}） "
        f"user {username!r} already exists: change it with 'gridward users set {username} "
        f"--role/--area/--person' (its password: 'gridward users password {username}')"
    )


def check_username_free(conn: Connection, username: str) -> None:
    """Refuse (409) a new account's name that is taken, or differs from one only in case.
    WHY before anything else of ``users add``: a taken name given with --person was refused
    for the person's link to that very account, not for the name (outside tester T36, #12)."""
    if conn.execute(select(_users.c.id).where(_users.c.username == username)).first():
        raise _name_taken(username)
    # names that differ in case only (Admin beside admin) read as one account in the audit
    # log and in a sign-in form: refused (re-tester T35)
    alike = conn.execute(
        select(_users.c.username).where(func.lower(_users.c.username) == username.lower())
    ).scalar()
    if alike is not None:
        raise ConflictError(
            f"账号名仅大小写不同：{username!r} 与已有账号 {alike!r} 只差大小写，请另选一个名称 "
            f"user {username!r} differs from the account {alike!r} only in case: choose "
            "another name"
        )


def authenticate(conn: Connection, username: str, password: str) -> Principal | None:
    """The active user with this username and password, or None (same cost either way)."""
    row = None
    if isinstance(username, str) and _USERNAME.match(username):
        row = conn.execute(select(_users).where(_users.c.username == username)).first()
    if row is None or len(password or "") > MAX_PASSWORD:
        verify_password(_dummy_hash(), "x" * 12)
        return None
    if not verify_password(row.password_hash, password) or not row.active:
        return None
    return _principal(row)


def _principal(
    row,  # noqa: ANN001 - a Row of users
    token_id: int | None = None,
    token_kind: str | None = None,
) -> Principal:
    return Principal(
        user_id=row.id,
        username=row.username,
        role=row.role,
        area_codes=tuple(row.area_codes or ()),
        person_id=row.person_id,
        token_id=token_id,
        token_kind=token_kind,
    )


def issue_token(
    conn: Connection,
    user_id: int,
    kind: str = "access",
    name: str | None = None,
    lifetime: dt.timedelta | None = None,
    actor: str | None = None,
) -> tuple[int, str, dt.datetime]:
    """Make a token; returns (token id, the secret token shown once, expiry)."""
    s = get_auth_settings()
    if kind not in ("access", "api"):
        raise InputError("令牌类型须为 access 或 api token kind must be 'access' or 'api'")
    if lifetime is None:
        lifetime = (
            dt.timedelta(minutes=s.access_token_minutes)
            if kind == "access"
            else dt.timedelta(days=s.api_token_days)
        )
    if lifetime <= dt.timedelta(0):
        raise InputError("令牌有效期须大于零 token lifetime must be positive")
    if name is not None and len(name) > 200:
        raise InputError(
            "令牌名称太长，最多 200 个字符 token name too long: at most 200 characters"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + lifetime
    tid = conn.execute(
        insert(_tokens)
        .values(
            token_hash=token_hash(secret),
            user_id=user_id,
            kind=kind,
            name=name,
            expires_at=expires,
        )
        .returning(_tokens.c.id)
    ).scalar_one()
    if kind == "api":  # access tokens are routine sign-ins; long-lived ones are audited
        audit.record(conn, actor, "token.create", "api_token", tid, {"user_id": user_id})
    return int(tid), secret, expires


def _live_token(now: dt.datetime | None = None) -> ColumnElement[bool]:
    """A token neither revoked nor expired at ``now`` (None: the database's now)."""
    at = func.now() if now is None else now
    return _tokens.c.revoked_at.is_(None) & (
        _tokens.c.expires_at.is_(None) | (_tokens.c.expires_at > at)
    )


def verify_token(engine: Engine, token: str) -> Principal | None:
    """The principal for a valid bearer token, or None (unknown, expired, revoked, inactive).

    Touches ``last_used_at`` at most every ``token_touch_seconds``. A token stored under the
    older HMAC scheme is found by it too, and its hash rewritten to :func:`token_hash`, so it
    outlives a later change of ``GRIDWARD_SECRET``."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    s = get_auth_settings()
    h = token_hash(token)
    old = legacy_token_hash(token, s)
    now = dt.datetime.now(dt.UTC)
    q = (
        select(
            _users,
            _tokens.c.id.label("tid"),
            _tokens.c.kind.label("tkind"),
            _tokens.c.last_used_at,
            _tokens.c.token_hash,
        )
        .join(_tokens, _tokens.c.user_id == _users.c.id)
        .where(
            _tokens.c.token_hash.in_((h, old)),
            _live_token(now),
            _users.c.active.is_(True),
        )
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
        if row is None:
            return None
        if row.token_hash != h:  # the old scheme: store it under the new one from now on
            conn.execute(
                update(_tokens)
                .where(_tokens.c.id == row.tid, _tokens.c.token_hash == old)
                .values(token_hash=h)
            )
            conn.commit()
        last = row.last_used_at
        if last is None or (now - last).total_seconds() >= s.token_touch_seconds:
            conn.execute(
                update(_tokens).where(_tokens.c.id == row.tid).values(last_used_at=func.now())
            )
            conn.commit()
    return _principal(row, token_id=row.tid, token_kind=row.tkind)


def revoke_token(
    conn: Connection, token_id: int, actor: Principal | None = None, actor_name: str | None = None
) -> None:
    """Revoke one token. A non-admin ``actor`` may revoke only their own tokens."""
    row = conn.execute(select(_tokens).where(_tokens.c.id == token_id)).first()
    if row is None or (
        actor is not None and actor.role != "admin" and row.user_id != actor.user_id
    ):
        raise NotFoundError(f"令牌 {token_id} 不存在 token {token_id} not found")
    if row.revoked_at is None:
        conn.execute(update(_tokens).where(_tokens.c.id == token_id).values(revoked_at=func.now()))
        who = actor.username if actor else actor_name
        audit.record(conn, who, "token.revoke", "api_token", token_id, {"user_id": row.user_id})


def deactivate_user(conn: Connection, username: str, actor: str | None = None) -> int:
    """Deactivate a user and revoke all their tokens; returns how many tokens were revoked."""
    row = user_row(conn, username)
    _keep_an_admin(conn, row, "deactivate them", "停用")
    conn.execute(update(_users).where(_users.c.id == row.id).values(active=False))
    n = _end_tokens(conn, row.id, ("access", "api"))
    audit.record(conn, actor, "user.deactivate", "user", row.id, {"tokens_revoked": n})
    return int(n)


@dataclass(frozen=True)
class PasswordSet:
    """What ``set_password`` ended and what it left: the admin is told the tokens still live."""

    sign_ins_ended: int
    tokens_revoked: int
    tokens_live: int
    # the live ones still stored under the old HMAC scheme: valid only while GRIDWARD_SECRET
    # is the one they were made under, which nothing stored can tell (see list_tokens)
    legacy_tokens: tuple[int, ...] = ()


def _keep_an_admin(conn: Connection, row, what: str, what_zh: str) -> None:  # noqa: ANN001
    """Refuse to take the last active admin's rights away. WHY: the API's admin work
    (rematches, every area's tracks and people) would then have nobody until someone with a
    shell on the server made an admin again.
    The active admins are locked so two such changes at once cannot both pass."""
    if row.role != "admin" or not row.active:
        return
    others = conn.execute(
        select(_users.c.id)
        .where(_users.c.role == "admin", _users.c.active, _users.c.id != row.id)
        .with_for_update()
    ).first()
    if others is None:
        raise ConflictError(
            f"不能移除最后一位管理员：{row.username!r} 是唯一在用的管理员，不能{what_zh}；"
            "请先添加另一位管理员（gridward users add NAME --role admin） "
            f"{row.username!r} is the last active admin: cannot {what}; "
            "add another admin first (gridward users add NAME --role admin)"
        )


def user_row(conn: Connection, username: str):  # noqa: ANN201 - a Row of users
    """The user's row; NotFoundError naming them when there is none."""
    row = conn.execute(select(_users).where(_users.c.username == username)).first()
    if row is None:
        raise NotFoundError(f"账号 {username!r} 不存在 user {username!r} not found")
    return row


def _end_tokens(conn: Connection, user_id: int, kinds: tuple[str, ...]) -> int:
    """Revoke the user's unrevoked tokens of these kinds; how many."""
    return int(
        conn.execute(
            update(_tokens)
            .where(
                _tokens.c.user_id == user_id,
                _tokens.c.kind.in_(kinds),
                _tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
        ).rowcount
    )


def _live_api_tokens(conn: Connection, user_id: int) -> list[tuple[int, bool]]:
    """(id, legacy) of the user's live API tokens, by id; legacy as in :func:`list_tokens`."""
    q = (
        select(_tokens.c.id, ~_tokens.c.token_hash.startswith(TOKEN_HASH_SCHEME))
        .where(_tokens.c.user_id == user_id, _tokens.c.kind == "api", _live_token())
        .order_by(_tokens.c.id)
    )
    return [(int(tid), bool(old)) for tid, old in conn.execute(q)]


def set_password(
    conn: Connection,
    username: str,
    password: str,
    actor: str | None = None,
    revoke_tokens: bool = False,
) -> PasswordSet:
    """Give an active user a new password and end their sign-ins (access tokens); with
    ``revoke_tokens`` their API tokens too. WHY keep API tokens by default: a forgotten password
    is the usual reason, and the phones' long-lived tokens would all have to be issued again;
    a leaked password (or a lost phone) is the case for ``revoke_tokens``."""
    row = user_row(conn, username)
    if not row.active:
        raise InputError(
            f"账号 {username!r} 已停用：'gridward users reactivate {username}' 可为它设置新密码"
            "并恢复登录 "
            f"user {username!r} is deactivated: 'gridward users reactivate {username}' "
            "gives it a new password and lets it sign in again"
        )
    conn.execute(
        update(_users).where(_users.c.id == row.id).values(password_hash=hash_password(password))
    )
    ended = _end_tokens(conn, row.id, ("access",))
    revoked = _end_tokens(conn, row.id, ("api",)) if revoke_tokens else 0
    tokens = _live_api_tokens(conn, row.id)
    live = len(tokens)
    audit.record(
        conn,
        actor,
        "user.password",
        "user",
        row.id,
        {"sign_ins_ended": ended, "tokens_revoked": revoked, "tokens_live": live},
    )
    return PasswordSet(ended, revoked, live, tuple(tid for tid, old in tokens if old))


def reactivate_user(
    conn: Connection, username: str, password: str, actor: str | None = None
) -> None:
    """Let a deactivated user sign in again, with a new password. Their old tokens stay
    revoked (whoever held them when the account was stopped must not get back in). Refused
    while another active account is linked to its person (:func:`check_person_free`): the
    person may have a new account since, and two active ones make "who walked" ambiguous."""
    row = user_row(conn, username)
    if row.active:
        raise InputError(
            f"账号 {username!r} 仍在使用：改密码请用 'gridward users password {username}' "
            f"user {username!r} is active: 'gridward users password {username}' sets a new password"
        )
    if row.person_id is not None:
        check_person_free(conn, row.person_id, row.id)
    conn.execute(
        update(_users)
        .where(_users.c.id == row.id)
        .values(password_hash=hash_password(password), active=True)
    )
    audit.record(conn, actor, "user.reactivate", "user", row.id, {"role": row.role})


# The rules each role passes (IMPLIED read the other way round): rights shrink when a role
# passes fewer of them.
_PASSES: dict[str, frozenset[str]] = {
    role: frozenset(rule for rule, roles in IMPLIED.items() if role in roles) for role in USER_ROLES
}


def _rights_shrink(old_role: str, old: Sequence[str], new_role: str, new: Sequence[str]) -> bool:
    """True when the new role passes fewer rules, or a planner loses part of their areas."""
    if not _PASSES[old_role] <= _PASSES[new_role]:
        return True
    if old_role == new_role == "planner":
        return any(not any(code.startswith(n) for n in new) for code in old)
    return False


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP_PERSON = _Keep.KEEP
"""``update_user(person_id=...)`` left out: the account's person link stays as it is."""


def _person_label(conn: Connection, person_id: int | None) -> str | None:
    """A person as "name (registry id)", for answers and refusals; None for no person."""
    if person_id is None:
        return None
    row = conn.execute(
        select(_people.c.name, _people.c.external_id).where(_people.c.id == person_id)
    ).first()
    return f"{row.name} ({row.external_id})" if row is not None else f"people.id {person_id}"


def check_person_free(conn: Connection, person_id: int, user_id: int | None = None) -> None:
    """Refuse (409, naming it) linking person ``person_id`` while another ACTIVE account
    (not ``user_id``) is linked to them; InputError when there is no such person. The person
    row is locked, so two links at once cannot both pass.

    WHY: a steward's account acts for its person (their walks, duties, own reports): two
    active accounts of one person make the uploads' "who" ambiguous, and a mistyped code
    would silently give an account another steward's walks. A deactivated account's link
    does not count: a steward's new account replaces it."""
    found = conn.execute(
        select(_people.c.id).where(_people.c.id == person_id).with_for_update(key_share=True)
    ).first()
    if found is None:
        raise InputError(f"人员（系统编号 id:{person_id}）不存在 person {person_id} does not exist")
    q = select(_users.c.username, _users.c.role).where(
        _users.c.person_id == person_id, _users.c.active.is_(True)
    )
    if user_id is not None:
        q = q.where(_users.c.id != user_id)
    other = conn.execute(q.order_by(_users.c.username)).first()
    if other is not None:
        who = _person_label(conn, person_id)
        raise ConflictError(
            f"人员 {who} 已关联账号 {other.username!r}，该账号在用，角色为{role_zh(other.role)}："
            f"请先解除关联（gridward users set {other.username} --no-person），或停用该账号（users "
            f"revoke {other.username}） person {who} is already linked to the "
            f"active account {other.username!r} ({other.role}): unlink it first (gridward "
            f"users set {other.username} --no-person) or deactivate it (users revoke "
            f"{other.username})"
        )


@dataclass(frozen=True)
class UserChange:
    """What ``update_user`` did: role, areas and person link ("name (registry id)" labels
    beside the ids) before and after, and sign-ins ended."""

    role: tuple[str, str]
    area_codes: tuple[list[str], list[str]]
    sign_ins_ended: int
    person_id: tuple[int | None, int | None] = (None, None)
    person: tuple[str | None, str | None] = (None, None)

    @property
    def changed(self) -> bool:
        return (
            self.role[0] != self.role[1]
            or self.area_codes[0] != self.area_codes[1]
            or self.person_id[0] != self.person_id[1]
        )


def update_user(
    conn: Connection,
    username: str,
    role: str | None = None,
    area_codes: Iterable[str] | None = None,
    actor: str | None = None,
    person_id: int | None | _Keep = KEEP_PERSON,
) -> UserChange:
    """Change a user's role, areas and/or person link with the checks of :func:`create_user`.

    ``area_codes`` None keeps a planner's areas (and drops them for any other new role); given,
    they replace the old ones. ``person_id`` links the account to that person (refused while
    another active account is linked to them: :func:`check_person_free`), None unlinks it,
    left out keeps it. When the rights shrink (for a steward: a person link changed or
    removed) the user's sign-ins end, so their pages come back with the new rights; every
    token already reads role, areas and person afresh on each request, so API tokens stay."""
    if role is None and area_codes is None and person_id is KEEP_PERSON:
        raise InputError(
            "无可修改：请给出 --role、--area、--person 或 --no-person "
            "nothing to change: give --role, --area, --person or --no-person"
        )
    row = user_row(conn, username)
    new_role = role or row.role
    old_codes = list(row.area_codes or ())
    if area_codes is None:
        codes = old_codes if new_role == "planner" else []
    else:
        codes = normalize_area_codes(area_codes)
    _check_role_areas(new_role, codes)
    if new_role != "admin":
        _keep_an_admin(conn, row, f"make them a {new_role}", f"改为{role_zh(new_role)}")
    old_person = row.person_id
    new_person = old_person if isinstance(person_id, _Keep) else person_id
    if new_person is not None and new_person != old_person:
        check_person_free(conn, new_person, row.id)
    change = UserChange(
        (row.role, new_role),
        (old_codes, codes),
        0,
        (old_person, new_person),
        (_person_label(conn, old_person), _person_label(conn, new_person)),
    )
    if not change.changed:
        return change
    conn.execute(
        update(_users)
        .where(_users.c.id == row.id)
        .values(role=new_role, area_codes=codes, person_id=new_person)
    )
    ended = 0
    lost_person = row.role == "steward" and old_person is not None and new_person != old_person
    if _rights_shrink(row.role, old_codes, new_role, codes) or lost_person:
        ended = _end_tokens(conn, row.id, ("access",))
    change = replace(change, sign_ins_ended=ended)
    audit.record(
        conn,
        actor,
        "user.update",
        "user",
        row.id,
        {
            "role": list(change.role),
            "area_codes": [old_codes, codes],
            "person_id": list(change.person_id),
            "person": list(change.person),
            "sign_ins_ended": ended,
        },
    )
    return change


def list_users(conn: Connection) -> list[dict]:
    """Every user without the password hash, with their count of live tokens and how many of
    those are still stored under the old HMAC scheme (``legacy_tokens``, see list_tokens), and
    their linked person's name and registry id (``person_name``, ``person_code``: what a
    planner knows the person by; ``users list`` showed the people.id, outside tester T36)."""
    live = (
        select(func.count())
        .where(
            _tokens.c.user_id == _users.c.id,
            _live_token(),
        )
        .scalar_subquery()
    )
    legacy = (
        select(func.count())
        .where(
            _tokens.c.user_id == _users.c.id,
            _live_token(),
            ~_tokens.c.token_hash.startswith(TOKEN_HASH_SCHEME),
        )
        .scalar_subquery()
    )
    q = select(
        _users.c.id,
        _users.c.username,
        _users.c.role,
        _users.c.area_codes,
        _users.c.person_id,
        _people.c.name.label("person_name"),
        _people.c.external_id.label("person_code"),
        _users.c.active,
        _users.c.created_at,
        live.label("live_tokens"),
        legacy.label("legacy_tokens"),
    ).select_from(_users.outerjoin(_people, _people.c.id == _users.c.person_id))
    q = q.order_by(_users.c.username)
    return [dict(r._mapping) for r in conn.execute(q)]


def list_tokens(conn: Connection, user_id: int, ended_sign_ins: bool = True) -> list[dict]:
    """A user's tokens (never the hash). ``ended_sign_ins=False`` leaves out the expired or
    revoked access tokens: every sign-in leaves one, and they would bury the API tokens.

    ``legacy`` marks a token still stored under the old HMAC scheme (never used since the
    switch): it works only while ``GRIDWARD_SECRET`` is the secret it was made under, which
    nothing stored can tell, so a list must not call it plainly valid (tester Z3)."""
    q = (
        select(
            _tokens.c.id,
            (~_tokens.c.token_hash.startswith(TOKEN_HASH_SCHEME)).label("legacy"),
            _tokens.c.kind,
            _tokens.c.name,
            _tokens.c.created_at,
            _tokens.c.last_used_at,
            _tokens.c.expires_at,
            _tokens.c.revoked_at,
        )
        .where(_tokens.c.user_id == user_id)
        .order_by(_tokens.c.id)
    )
    if not ended_sign_ins:
        q = q.where((_tokens.c.kind == "api") | _live_token())
    return [dict(r._mapping) for r in conn.execute(q)]


def ensure_demo_admin(engine: Engine, username: str = "admin") -> str | None:
    """Create admin ``username`` with a random password when no active admin exists.

    Returns the one-time password for the demo to print. Returns None when an admin exists.
    Refused in production mode (create accounts there with ``gridward users add``)."""
    from geo.errors import SetupError

    if get_auth_settings().production:
        raise SetupError(
            "生产环境不建演示管理员，请用 'gridward users add' 创建账号 "
            "no demo admin in production: use 'gridward users add' instead"
        )
    with engine.begin() as conn:
        has_admin = conn.execute(
            select(_users.c.id).where(_users.c.role == "admin", _users.c.active.is_(True))
        ).first()
        if has_admin:
            return None
        password = secrets.token_urlsafe(12)
        existing = conn.execute(select(_users.c.id).where(_users.c.username == username)).first()
        if existing:  # an inactive account of that name: re-arm it as the demo admin
            conn.execute(
                update(_users)
                .where(_users.c.id == existing.id)
                .values(password_hash=hash_password(password), role="admin", active=True)
            )
            audit.record(conn, "demo", "user.reset", "user", existing.id, {"role": "admin"})
        else:
            create_user(conn, username, password, "admin", actor="demo")
    return password
