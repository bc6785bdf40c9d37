"""``gridward users``: accounts on the command line (add, list, revoke, token)."""

from __future__ import annotations

import sys

import typer
from sqlalchemy import text

from api.cli_people import PERSON_HELP, person_option, resolve_person

users_app = typer.Typer(help="Accounts and tokens. 用户与令牌", no_args_is_help=True)


def _engine():  # -> Engine
    from geo.db import get_engine

    return get_engine()


@users_app.command("add")
def add(
    username: str = typer.Argument(..., help="login name (letters, digits, _ . @ -)"),
    role: str = typer.Option(..., "--role", help="admin, planner, steward or viewer"),
    area: list[str] = typer.Option(
        None, "--area", help="area code a planner may edit (repeat for several), e.g. 110108020"
    ),
    person: str = person_option(
        f"the steward the account belongs to: {PERSON_HELP.removeprefix('the person: ')}"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from stdin (scripts)"
    ),
) -> None:
    """Create an account; without a password given, a random one is printed once. 添加用户"""
    import secrets

    from geo.accounts import create_user

    generated = False
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = secrets.token_urlsafe(12)
        generated = True
    with _engine().begin() as conn:
        person_id = resolve_person(conn, person).id if person is not None else None
        uid = create_user(conn, username, password, role, area or (), person_id, actor="cli")
        known = (
            conn.execute(
                text(
                    "SELECT code FROM areas WHERE code = ANY(:c) UNION "
                    "SELECT code FROM grids WHERE code = ANY(:c)"
                ),
                {"c": list(area or ())},
            )
            .scalars()
            .all()
        )
    typer.echo(f"user {username} (id {uid}, {role}) created")
    unknown = sorted(set(area or ()) - set(known))
    if unknown:  # allowed (areas may be imported later), but a typo would grant nothing
        typer.echo(
            f"warning: no imported area or grid has the code {', '.join(unknown)} "
            "(check for a typo; the account is created as asked)",
            err=True,
        )
    if generated:
        typer.echo(f"one-time password: {password}")


@users_app.command("list")
def list_() -> None:
    """List accounts (never passwords). 用户列表"""
    from geo.accounts import list_users

    with _engine().connect() as conn:
        rows = list_users(conn)
    typer.echo("用户 username\t角色 role\t区域 areas\t人员 person\t状态 active\t令牌 tokens")
    for r in rows:
        typer.echo(
            f"{r['username']}\t{r['role']}\t{','.join(r['area_codes']) or '-'}\t"
            f"{r['person_id'] or '-'}\t{'yes' if r['active'] else 'no'}\t{r['live_tokens']}"
        )


@users_app.command("revoke")
def revoke(
    username: str = typer.Argument(None, help="deactivate this account and all its tokens"),
    token: int = typer.Option(None, "--token", help="revoke only this token id"),
) -> None:
    """Deactivate an account (and its tokens), or revoke one token. 吊销"""
    from geo.accounts import deactivate_user, revoke_token
    from geo.errors import InputError

    if (username is None) == (token is None):
        raise InputError("give either a username or --token ID")
    with _engine().begin() as conn:
        if token is not None:
            revoke_token(conn, token, actor_name="cli")
            typer.echo(f"token {token} revoked")
        else:
            n = deactivate_user(conn, username, actor="cli")
            typer.echo(f"user {username} deactivated, {n} token(s) revoked")


@users_app.command("password")
def password(
    username: str = typer.Argument(..., help="the account whose password is set"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the new password from stdin (scripts)"
    ),
) -> None:
    """Set a new password (a random one is printed once) and end the account's sign-ins;
    its API tokens stay. 重设密码"""
    import secrets

    from geo.accounts import set_password

    new = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    with _engine().begin() as conn:
        n = set_password(conn, username, new, actor="cli")
    typer.echo(f"password of {username} set; {n} sign-in(s) ended")
    if not password_stdin:
        typer.echo(f"one-time password: {new}")


@users_app.command("token")
def token(
    username: str = typer.Argument(..., help="account the token signs in as"),
    name: str = typer.Option("cli", "--name", help="what the token is for, e.g. the phone"),
    days: int = typer.Option(None, "--days", min=1, max=3650, help="lifetime in days"),
) -> None:
    """Issue a long-lived API token (printed once) for a phone app or a script. 签发令牌"""
    import datetime as dt

    from sqlalchemy import select

    from geo.accounts import issue_token
    from geo.accounts_models import User
    from geo.errors import NotFoundError

    users = User.__table__
    with _engine().begin() as conn:
        row = conn.execute(
            select(users.c.id, users.c.active).where(users.c.username == username)
        ).first()
        if row is None or not row.active:
            raise NotFoundError(f"active user {username!r} not found")
        life = dt.timedelta(days=days) if days else None
        tid, secret, expires = issue_token(conn, row.id, "api", name, life, actor="cli")
    typer.echo(f"token {tid} for {username}, expires {expires:%Y-%m-%d}")
    typer.echo(secret)


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group."""
    app.add_typer(users_app, name="users")
