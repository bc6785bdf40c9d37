"""``gridward users``: accounts on the command line (add, list, set, password, reactivate,
revoke, token, tokens).

No ``users unlock``: the sign-in lockout (:mod:`api.ratelimit`) lives in the API process's
memory, out of this command's reach; it ends by itself after its window, or with a restart."""

from __future__ import annotations

import sys

import typer
from sqlalchemy import Connection, text

from api.cli_people import PERSON_HELP, Person, person_option, resolve_person

users_app = typer.Typer(help="账号与令牌 Accounts and tokens.", no_args_is_help=True)

# the roles by name, as geo.accounts names them (steward: every patrol person's account,
# alley stewards and street chiefs alike, T40 #8); spelt out here: help needs no database code
_ROLE_HELP = "admin 管理员、planner 规划员、steward 巡查人员（小巷管家/街巷长）、viewer 查看员："


def _engine(create: bool = False):  # -> Engine
    """The configured database; ``create`` only for ``users add`` (the first admin of a new
    machine sets it up), never for the commands that only read or change accounts."""
    from geo.db import get_engine

    return get_engine(create=create)


@users_app.command("add")
def add(
    username: str = typer.Argument(..., help="账号名 account name (letters, digits, _ . @ -)"),
    role: str = typer.Option(
        ..., "--role", help=f"角色 {_ROLE_HELP}the role: admin, planner, steward or viewer"
    ),
    area: list[str] = typer.Option(
        None,
        "--area",
        help="可编辑的区域编码 area code a planner may edit (repeat for several), e.g. 110108020",
    ),
    person: str = person_option(
        "关联人员（巡查人员本人） the steward or street chief the account belongs to: "
        f"{PERSON_HELP.partition('the person: ')[2]}"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="从标准输入读密码 read the password from stdin (scripts)"
    ),
) -> None:
    """添加账号 Create an account; without a password given, a random one is printed once."""
    import secrets

    from geo.accounts import (
        _check_password,
        check_person_free,
        check_username_free,
        create_user,
        role_zh,
    )

    generated = False
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        _check_password(password)  # before the engine: bad input makes no cluster (item 9)
    else:
        password = secrets.token_urlsafe(12)
        generated = True
    with _engine(create=True).begin() as conn:
        check_username_free(conn, username)  # first: not the person's link to that account
        who = resolve_person(conn, person) if person is not None else None
        person_id = who.id if who is not None else None
        if person_id is not None:  # as users set: one active account per person
            check_person_free(conn, person_id)
        uid = create_user(conn, username, password, role, area or (), person_id, actor="cli")
        unknown = _unknown_codes(conn, area or ())
    typer.echo(
        # the role's name after the brackets: the steward's has brackets of its own (T40 #8)
        f"已创建账号 {username}（id {uid}），角色为{role_zh(role)} "
        f"user {username} (id {uid}, {role}) created"
    )
    _warn_unknown(unknown, "created")
    _warn_left(who, username)
    if generated:  # the password stays the line's last word (scripts split on the label)
        typer.echo(f"一次性密码 one-time password: {password}")


def _unknown_codes(conn: Connection, codes: list[str] | tuple[str, ...]) -> list[str]:
    """The codes no imported area or grid has."""
    known = (
        conn.execute(
            text(
                "SELECT code FROM areas WHERE code = ANY(:c) UNION "
                "SELECT code FROM grids WHERE code = ANY(:c)"
            ),
            {"c": list(codes)},
        )
        .scalars()
        .all()
    )
    return sorted(set(codes) - set(known))


_DONE_ZH = {"created": "创建", "changed": "修改"}


def _warn_left(who: Person | None, username: str) -> None:
    """Allowed (the account may be made before the person comes back), but said: the person
    has left (``people.active`` false), and leaving ended their duties, so walks from after
    they left, uploaded with the account, credit no patrol (the reports credit a walk to the
    duties in force on its day, :func:`geo.track_store.leaver_warning`). WHY: linked
    without a word before (outside tester T37, F12)."""
    if who is None or who.active:
        return
    # the person in the house form of every leaver line (geo.track_store.leaver_warning):
    # 张三（人员编号 S12，系统编号 id:5）, person 张三 (S12, id:5); the English read
    # "(registry id S12, people.id 5)", a form no other person line has (re-tester T39, L16)
    typer.echo(
        f"warning: 人员 {who.label_zh()}已离岗：账号 {username} 已关联此人；离岗时其职责已结束，"
        "此账号上传的离岗后的行走不计入巡查，直到此人重新启用（gridward import people 名册文件 "
        "--reactivate，名册文件中须列有此人）并重新安排职责 "
        f"person {who.name} ({who.external_id}, id:{who.id}) has left (inactive): the account "
        f"{username} is linked to them; "
        "their duties ended when they left, so walks after that uploaded with it credit no "
        "patrol until they are brought back (gridward import people FILE --reactivate, FILE a "
        "registry listing them) and given duties again",
        err=True,
    )


def _warn_unknown(unknown: list[str], done: str) -> None:
    """Allowed (areas may be imported later), but a typo would grant nothing: say so."""
    if unknown:
        codes, codes_zh = ", ".join(unknown), "、".join(unknown)
        typer.echo(
            f"warning: 区划代码 {codes_zh} 尚未导入，请检查是否写错（账号已按要求"
            f"{_DONE_ZH.get(done, done)}） "
            f"no imported area or grid has the code {codes} "
            f"(check for a typo; the account is {done} as asked)",
            err=True,
        )


def _new_password(from_stdin: bool) -> str:
    import secrets

    return sys.stdin.readline().rstrip("\n") if from_stdin else secrets.token_urlsafe(12)


@users_app.command("set")
def set_(
    username: str = typer.Argument(..., help="要修改的账号 the account to change"),
    role: str = typer.Option(
        None, "--role", help=f"新角色 {_ROLE_HELP}the new role: admin, planner, steward, viewer"
    ),
    area: list[str] = typer.Option(
        None, "--area", help="新区域 a planner's areas, replacing the old ones (repeat for several)"
    ),
    person: str = person_option(
        "关联人员 link the account to this person (a steward's own walks and duties): "
        f"{PERSON_HELP.partition('the person: ')[2]}; refused while another active account "
        "is linked to them"
    ),
    no_person: bool = typer.Option(
        False, "--no-person", help="取消关联人员 unlink the account from its person"
    ),
) -> None:
    """修改角色、区域或关联人员 Change an account's role, areas or person.

    Checked as in users add; the account's sign-ins end when its rights shrink (a steward's
    person changed or unlinked too)."""
    from geo.accounts import KEEP_PERSON, STEWARD_ZH, role_zh, update_user
    from geo.errors import InputError

    if person is not None and no_person:
        raise InputError(
            "不能同时给出 --person 与 --no-person give --person PERSON or --no-person, not both"
        )
    with _engine().begin() as conn:
        person_id = KEEP_PERSON if not no_person else None
        who = resolve_person(conn, person) if person is not None else None
        if who is not None:
            person_id = who.id
        change = update_user(conn, username, role, area or None, actor="cli", person_id=person_id)
        unknown = _unknown_codes(conn, change.area_codes[1])
    if not change.changed:
        told = person is not None or no_person
        also = f", linked to {change.person[1] or 'no person'}" if told else ""
        also_zh = f"，关联人员 {change.person[1] or '无'}" if told else ""
        now, now_zh = change.role[1], role_zh(change.role[1])
        typer.echo(
            f"未改动：账号 {username} 没有变化：已是{now_zh}{also_zh} "
            f"user {username} unchanged: already {now}{also}"
        )
        _warn_left(who, username)
        return
    (old_role, new_role), (old_codes, codes) = change.role, change.area_codes
    # only what changed: "role planner -> planner" beside a new area read as a change of role
    # (re-tester T35, F10)
    done, done_zh = [], []
    if old_role != new_role:
        done.append(f"role {old_role} -> {new_role}")
        done_zh.append(f"角色 {role_zh(old_role)} → {role_zh(new_role)}")
    if old_codes != codes:
        areas = f"{','.join(old_codes) or '-'} -> {','.join(codes) or '-'}"
        done.append(f"areas {areas}")
        done_zh.append(f"区域 {areas.replace(' -> ', ' → ')}")
    if change.person_id[0] != change.person_id[1]:
        people = f"{change.person[0] or '-'} -> {change.person[1] or '-'}"
        done.append(f"person {people}")
        done_zh.append(f"关联人员 {people.replace(' -> ', ' → ')}")
    ended = change.sign_ins_ended
    changes, changes_zh = ", ".join(done), "；".join(done_zh)
    typer.echo(
        f"已修改账号 {username}：{changes_zh}；结束了 {ended} 个登录 "
        f"user {username}: {changes}; {ended} sign-in(s) ended"
    )
    _warn_unknown(unknown, "changed")
    _warn_left(who, username)
    if new_role == "steward" and change.person_id[1] is None:
        typer.echo(
            # (T41 #9) "这个…账号在用 '…' 关联之前" read as "the account is in use"
            f"warning: 账号 {username} 未关联人员：用 'gridward users set {username} --person "
            f"人员编号' 关联之前，此{STEWARD_ZH}账号不能上传轨迹，也看不到本人的任何内容 "
            f"the steward account {username} is "
            "linked to no person: it can upload and read nothing of its own until "
            f"'gridward users set {username} --person PERSON'",
            err=True,
        )


@users_app.command("tokens")
def tokens(
    username: str = typer.Argument(..., help="账号 whose tokens"),
    all_: bool = typer.Option(
        False, "--all", help="含已结束的登录 also the ended sign-ins (one per sign-in)"
    ),
) -> None:
    """令牌列表 List an account's tokens: the ids 'users revoke --token ID' takes."""
    from zoneinfo import ZoneInfo

    from geo.accounts import list_tokens, user_row
    from geo.settings import get_settings

    tz = get_settings().timezone
    with _engine().connect() as conn:
        rows = list_tokens(conn, user_row(conn, username).id, ended_sign_ins=all_)

    def when(t) -> str:  # noqa: ANN001 - a datetime or None
        return "-" if t is None else t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")

    typer.echo(
        f"编号 id\t类型 kind\t名称 name\t创建 created\t最近使用 last used\t"
        f"到期 expires\t吊销 revoked  ({tz} 时间)"
    )
    for r in rows:
        kind = f"{r['kind']}*" if r["legacy"] else r["kind"]
        typer.echo(
            f"{r['id']}\t{kind}\t{r['name'] or '-'}\t{when(r['created_at'])}\t"
            f"{when(r['last_used_at'])}\t{when(r['expires_at'])}\t{when(r['revoked_at'])}"
        )
    legacy = [str(r["id"]) for r in rows if r["legacy"] and r["revoked_at"] is None]
    if legacy:
        _legacy_note(", ".join(legacy), f"编号 {', '.join(legacy)}")


def _legacy_note(which: str, which_zh: str, ids: str = "", ids_zh: str = "") -> None:
    """The caveat on tokens still stored under the old HMAC scheme, on stderr. WHY: such a
    token cannot be checked against the secret without the token itself, so it is flagged
    rather than called valid or dead (tester Z3), wherever tokens are listed or counted."""
    typer.echo(
        f"* 旧式令牌（{which_zh}）：按旧方式保存，只有签发后 GRIDWARD_SECRET 一直未改时才有效"
        "（首次使用时会改按新方式保存）；若密钥已改，它们已失效：请用 "
        f"'gridward users revoke --token ID'{ids_zh} 吊销，并签发新令牌 "
        f"legacy token(s) {which}: stored under the old scheme, they "
        "work only if GRIDWARD_SECRET is unchanged since they were made (they are re-stored "
        "on first use). If the secret has changed they no longer work: revoke them with "
        f"'gridward users revoke --token ID'{ids} and issue new ones",
        err=True,
    )


def _count(live: int, legacy: int) -> str:
    """A count of live tokens, with how many of them are legacy ("2 (1 旧式)")."""
    return f"{live} ({legacy} 旧式)" if legacy else str(live)


def _count_zh(live: int, legacy: int) -> str:
    """The same count in a Chinese sentence ("2 个（其中 1 个旧式）")."""
    return f"{live} 个（其中 {legacy} 个旧式）" if legacy else f"{live} 个"


def _person_shown(r: dict) -> str:
    """The linked person as a planner knows them: "张三 (S12)" (name, registry id)."""
    if r["person_id"] is None:
        return "-"
    if r["person_code"] is None:  # not found: cannot happen with the foreign key
        return f"id:{r['person_id']}"
    return f"{r['person_name']} ({r['person_code']})"


@users_app.command("list")
def list_() -> None:
    """账号列表 List accounts (never passwords)."""
    from geo.accounts import list_users, role_zh

    with _engine().connect() as conn:
        rows = list_users(conn)
    typer.echo(
        "账号名 username\t角色 role\t区域 areas\t人员（人员编号） person (registry id)\t"
        "状态 active\t令牌 tokens"
    )
    for r in rows:
        # the role's name, then the --role token: a steward account is a street chief's too
        # (T40 #8)
        role = f"{role_zh(r['role'])} {r['role']}"
        typer.echo(
            f"{r['username']}\t{role}\t{','.join(r['area_codes']) or '-'}\t"
            f"{_person_shown(r)}\t{'yes' if r['active'] else 'no'}\t"
            f"{_count(r['live_tokens'], r['legacy_tokens'])}"
        )
    with_legacy = [r for r in rows if r["legacy_tokens"]]
    if with_legacy:
        _legacy_note(
            ", ".join(f"of {r['username']} ({r['legacy_tokens']})" for r in with_legacy),
            "、".join(f"{r['username']} 的 {r['legacy_tokens']} 个" for r in with_legacy),
            " (the ids: 'gridward users tokens NAME')",
            "（编号见 'gridward users tokens NAME'）",
        )


@users_app.command("revoke")
def revoke(
    username: str = typer.Argument(
        None, help="停用的账号 deactivate this account and all its tokens"
    ),
    token: int = typer.Option(
        None, "--token", help="只吊销此令牌 revoke only this token id (ids: users tokens NAME)"
    ),
) -> None:
    """吊销 Deactivate an account and its tokens, or revoke one token.

    users reactivate NAME undoes a deactivation."""
    from geo.accounts import deactivate_user, revoke_token, user_row
    from geo.errors import InputError

    if (username is None) == (token is None):
        raise InputError("请给账号名或 --token ID 之一 give either a username or --token ID")
    with _engine().begin() as conn:
        if token is not None:
            revoke_token(conn, token, actor_name="cli")
            typer.echo(f"令牌 {token} 已吊销 token {token} revoked")
        elif not user_row(conn, username).active:  # T37 #17: said 已停用账号 again
            typer.echo(
                f"账号 {username} 已是停用状态，未做更改（恢复：gridward users reactivate "
                f"{username}） user {username} is already inactive: nothing changed "
                f"(to undo: gridward users reactivate {username})"
            )
        else:
            n = deactivate_user(conn, username, actor="cli")
            typer.echo(
                f"已停用账号 {username}，吊销了 {n} 个令牌 "
                f"user {username} deactivated, {n} token(s) revoked"
            )


@users_app.command("password")
def password(
    username: str = typer.Argument(..., help="账号 the account whose password is set"),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="从标准输入读新密码 read the new password from stdin (scripts)",
    ),
    revoke_tokens: bool = typer.Option(
        False,
        "--revoke-tokens",
        help="同时吊销令牌 revoke its API tokens too (a leaked password, lost phone)",
    ),
) -> None:
    """重设密码 Set a new password and end the account's sign-ins.

    A random password is printed once; its API tokens stay unless --revoke-tokens."""
    from geo.accounts import set_password

    new = _new_password(password_stdin)
    with _engine().begin() as conn:
        done = set_password(conn, username, new, actor="cli", revoke_tokens=revoke_tokens)
    zh = f"已重设 {username} 的密码，结束了 {done.sign_ins_ended} 个登录"
    line = f"password of {username} set; {done.sign_ins_ended} sign-in(s) ended"
    if revoke_tokens:
        zh += f"，吊销了 {done.tokens_revoked} 个 API 令牌"
        line += f", {done.tokens_revoked} API token(s) revoked"
    typer.echo(f"{zh} {line}")
    if done.tokens_live:
        live, old = done.tokens_live, len(done.legacy_tokens)
        count, count_zh = _count(live, old), _count_zh(live, old)
        typer.echo(
            f"仍有效的 API 令牌：{count_zh}；可用 'gridward users tokens {username}' "
            "列出，用 'users revoke --token ID' 吊销其中一个，或用 --revoke-tokens 全部吊销 "
            f"{count} API token(s) still valid: list them with "
            f"'gridward users tokens {username}', revoke one with 'users revoke --token ID' "
            "or all with --revoke-tokens"
        )
        if done.legacy_tokens:
            ids = ", ".join(map(str, done.legacy_tokens))
            _legacy_note(ids, f"编号 {ids}")
    if not password_stdin:  # the password stays the line's last word
        typer.echo(f"一次性密码 one-time password: {new}")


@users_app.command("unlock")
def unlock(
    username: str = typer.Argument(None, help="账号 lift this name's sign-in lock"),
    address: str = typer.Option(
        None, "--address", help="只解此地址 only from this address; alone: the address's own lock"
    ),
) -> None:
    """解除登录锁定 Lift a sign-in lockout before its 5 minutes are up.

    NAME: the name from every address (with --address: from that one). --address alone: an
    address locked for trying many names. The refused tries stay in the audit log."""
    from sqlalchemy import select

    from api.ratelimit import WINDOW_S
    from api.ratelimit import unlock as lift
    from geo.accounts import user_row
    from geo.accounts_models import User
    from geo.errors import InputError

    users = User.__table__

    if username is None and address is None:
        raise InputError(
            "请给账号名或 --address 地址，或两者都给 give a username, --address ADDRESS, or both"
        )
    if username is not None and not username.strip():
        raise InputError("账号名为空 the username is empty")
    with _engine().begin() as conn:
        failures = lift(conn, "cli", username, address)
        known = (
            username is None
            or conn.execute(select(users.c.id).where(users.c.username == username)).first()
        )
        if not known and not failures:  # a mistyped name: not found, nothing recorded
            user_row(conn, username)  # raises NotFoundError (T37 #17: it said unlocked)
    whom = f"user {username}" if username else f"address {address}"
    whom_zh = f"账号 {username}" if username else f"地址 {address}"
    if not known:  # tries of a name with no account were counted and are lifted
        whom, whom_zh = f"name {username} (no such account)", f"账号名 {username}（无此账号）"
    where = f" from {address}" if username and address else ""
    where_zh = f"（来自 {address}）" if username and address else ""
    of = "的" if where_zh or not known else " 的"
    minutes = f"{WINDOW_S / 60:g}"
    typer.echo(
        f"已解除锁定：{whom_zh}{where_zh}{of}登录已解锁（最近 {minutes} 分钟内的 {failures} 次"
        f"失败登录不再计数） sign-ins of {whom}{where} unlocked ({failures} failed sign-in(s) "
        f"of the last {minutes} min no longer count)"
    )


@users_app.command("reactivate")
def reactivate(
    username: str = typer.Argument(
        ..., help="已停用的账号 a deactivated account (users revoke NAME)"
    ),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="从标准输入读新密码 read the new password from stdin (scripts)",
    ),
) -> None:
    """恢复账号 Let a deactivated account sign in again, with a new password.

    A random password is printed once; its old tokens stay revoked."""
    from geo.accounts import reactivate_user

    new = _new_password(password_stdin)
    with _engine().begin() as conn:
        reactivate_user(conn, username, new, actor="cli")
    typer.echo(
        f"已恢复账号 {username}，可以重新登录；它的旧令牌仍是吊销的 "
        f"user {username} reactivated; its old tokens stay revoked"
    )
    if not password_stdin:  # the password stays the line's last word
        typer.echo(f"一次性密码 one-time password: {new}")


@users_app.command("token")
def token(
    username: str = typer.Argument(..., help="账号 account the token signs in as"),
    name: str = typer.Option(
        "cli", "--name", help="令牌用途 what the token is for, e.g. the phone"
    ),
    days: int = typer.Option(None, "--days", min=1, max=3650, help="有效天数 lifetime in days"),
) -> None:
    """签发令牌 Issue a long-lived API token (printed once) for a phone app or a script."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from geo.accounts import issue_token
    from geo.accounts_models import User
    from geo.errors import NotFoundError
    from geo.settings import get_settings

    users = User.__table__
    with _engine().begin() as conn:
        row = conn.execute(
            select(users.c.id, users.c.active).where(users.c.username == username)
        ).first()
        if row is None or not row.active:
            raise NotFoundError(
                f"没有名为 {username!r} 的在用账号 active user {username!r} not found"
            )
        life = dt.timedelta(days=days) if days else None
        tid, secret, expires = issue_token(conn, row.id, "api", name, life, actor="cli")
    # the city's time with its zone, as `users tokens` lists it (T57 #10: the UTC date, a
    # day before the listing's in Shanghai's small hours)
    tz = get_settings().timezone
    local = expires.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    typer.echo(
        f"已签发令牌 {tid}（账号 {username}，{tz} 时间 {local} 到期） "
        f"token {tid} for {username}, expires {local} ({tz})"
    )
    typer.echo(secret)  # alone on the last line: scripts read it


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group."""
    app.add_typer(users_app, name="users")
