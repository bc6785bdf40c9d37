"""``gridward db``: start, stop and inspect the embedded PostGIS cluster; back it up and restore.

Backups are ``pg_dump -Fc`` archives of the gridward database (uploaded track files live in
it, so nothing else needs saving). A restore goes into a new database that replaces the old
one only once it is complete and migrated: a failed restore leaves the old data as it was.

``start`` and ``restore`` make the embedded cluster when the data folder has none (announced);
``status``, ``url`` and ``backup`` only read, and refuse a folder without one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import typer

from geo.errors import ConflictError, InputError, SetupError

db_app = typer.Typer(
    help="数据库 The database: embedded PostGIS cluster or DATABASE_URL.", no_args_is_help=True
)


def _external() -> str | None:
    from geo.settings import get_settings

    return get_settings().database_url


@db_app.command("start")
def start(
    adopt: bool = typer.Option(
        False,
        "--adopt",
        help="接管已有数据库 Take back a cluster whose cluster.json was lost, is unreadable, or "
        "whose login the cluster refuses: sets a new password for its gridward role (the data "
        "is kept; refused while programs are connected).",
    ),
) -> None:
    """启动数据库 Start the embedded cluster (or reuse it) and migrate the schema."""
    from geo.db import get_engine

    if _external():
        _start_external()
        return
    from geo.db import embedded_cluster

    cluster = embedded_cluster()
    state = cluster.start(adopt=adopt)
    get_engine(state.url)
    typer.echo(cluster.start_line(state.port))  # T68 #10: the English says a recovery too


def _start_external() -> None:
    """``db start`` with DATABASE_URL: migrate, and say what was done to the schema. WHY
    (T68 #9): it said "schema is up to date (nothing to start)" right after building the
    schema from nothing."""
    from geo.db import get_engine, migrate, migration_scripts

    before = migrate(get_engine(create=True, run_migrations=False))
    head = migration_scripts().get_current_head()
    if before is None:
        typer.echo(
            f"使用 DATABASE_URL，已建立数据库结构 无 → {head} "
            f"using DATABASE_URL; created the schema none → {head}"
        )
    elif before != head:
        typer.echo(
            f"使用 DATABASE_URL，已升级数据库结构 {before} → {head} "
            f"using DATABASE_URL; migrated the schema {before} → {head}"
        )
    else:
        typer.echo(
            f"使用 DATABASE_URL，数据库结构 {head} 已是最新（无需启动） "
            f"using DATABASE_URL; schema {head} is up to date (nothing to start)"
        )


@db_app.command("stop")
def stop(
    force: bool = typer.Option(
        False,
        "--force",
        help="强制停止 Stop even while other programs (the API, workers) are connected: they are "
        "cut off and named.",
    ),
) -> None:
    """停止数据库 Stop the embedded cluster.

    Refused while other programs are connected (named), unless --force. Until 'gridward db
    start' (or another command that sets things up: serve, demo, import, users add, db
    restore), commands that only read say it was stopped instead of starting it again."""
    if _external():
        typer.echo(
            "使用 DATABASE_URL，不使用内置数据库集群（无需停止） "
            "using DATABASE_URL; the embedded cluster is not used (nothing to stop)"
        )
        return
    from geo.db import embedded_cluster

    cluster = embedded_cluster()
    cluster.check_folder()
    if not (cluster.pgdata / "PG_VERSION").exists():  # WHY: it said "not running" (item 10)
        typer.echo(
            f"数据库不存在：{cluster.data_dir} 中没有 gridward 数据库，无需停止 "
            f"no gridward database in {cluster.data_dir}: nothing to stop"
        )
        return
    from geo.db import clients_shown

    was, cut = cluster.stop_by_admin(force=force)
    if cut:
        en, zh = clients_shown(cut)
        typer.echo(
            f"已断开 {len(cut)} 个连接：{zh}。 cut off {len(cut)} connection(s): {en}", err=True
        )
    typer.echo(
        ("已停止" if was else "未运行")
        + "：只读的命令不会再启动它，'gridward db start' 可重新启动 "
        + ("stopped" if was else "not running")
        + ": commands that only read will not start it; 'gridward db start' starts it again"
    )


# `db status` exit codes for monitoring (Zabbix, cron) that read only the code. WHY (T47
# #3, h49): a full data disk was a warning on stderr with exit 0, "running" to a monitor.
STATUS_DISK_FULL, STATUS_DISK_LOW = 4, 5


def _status_help() -> str:
    from geo.db import DISK_FULL_BYTES, DISK_LOW_BYTES

    full, low = f"{DISK_FULL_BYTES // 1_000_000} MB", f"{DISK_LOW_BYTES // 1_000_000_000} GB"
    return (
        "数据库状态 Say whether the database runs, where, and the schema version.\n\n"
        "退出码 exit codes:\n\n"
        "0 运行中且正常 running and healthy.\n\n"
        "1 已停止、未正常停止（崩溃）或无法连接 stopped, not stopped cleanly (a crash), or "
        "unreachable.\n\n"
        "3 设置有误：没有数据库集群、cluster.json 丢失或损坏、登录被拒（用户名或密码错误、"
        "pg_hba.conf 不允许）、DATABASE_URL 的数据库不存在、缺少 PostGIS、集群在别处运行、数据库"
        "结构版本本版本无法使用（原因写在输出中） set-up wrong: no cluster, cluster.json missing "
        "or damaged, login refused (user or password wrong, pg_hba.conf), DATABASE_URL's "
        "database missing, no PostGIS, the cluster runs elsewhere, or a schema this version "
        "cannot use (the output says which).\n\n"
        f"{STATUS_DISK_FULL} 运行中，但数据文件夹所在磁盘已满（可用空间不足 {full} 且不足磁盘的 "
        f"5%）：上传和导入无法保存 running, but the data folder's disk is full (under {full} "
        "and under 5% of the disk free): uploads and imports cannot be stored.\n\n"
        f"{STATUS_DISK_LOW} 运行中，但该磁盘将满（可用空间不足 {low} 且不足磁盘的 10%） "
        f"running, but that disk is nearly full (under {low} and under 10% free).\n\n"
        "磁盘只对内置数据库检查（使用 DATABASE_URL 时磁盘在数据库服务器上） The disk is "
        "checked for the embedded database only (with DATABASE_URL it is the server's)."
    )


@db_app.command("status", help=_status_help())
def status() -> None:
    """数据库状态 Say whether the database runs, where, and the schema version (exit codes:
    :func:`_status_help`). Every exit 3 names its reason: a set-up error on stderr, a login
    refused in the status line."""
    from sqlalchemy import create_engine, text

    from geo.db import database_url, embedded_cluster, migration_scripts, schema_problem
    from geo.embedded import LoginRefused, refusal

    if _external():
        from sqlalchemy.engine import make_url

        url = database_url(start=False)
        u = make_url(url)
        where = (
            f"DATABASE_URL: host {u.host or 'local'}, port {u.port or 5432}, database {u.database}"
        )
        where_zh = (
            f"DATABASE_URL：主机 {u.host or '本机'}，端口 {u.port or 5432}，数据库 {u.database}"
        )
    else:
        cluster = embedded_cluster()
        cluster.check_folder()
        if not (cluster.pgdata / "PG_VERSION").exists():
            raise cluster.no_cluster_error()
        state, why = cluster.state_and_problem()
        if state is None:
            # WHY first (T68 #8): on a stopped cluster a damaged cluster.json read as any
            # stop (exit 1, "start it"), and `db start` then refused it
            raise cluster.lost_state_error(why)
        if not cluster.is_running():
            if cluster.runs_elsewhere():
                raise cluster.elsewhere_error()
            _warn_disk(cluster.pgdata)  # a full disk may be why it stopped
            stopped = cluster.stopped_by_admin()
            if stopped is None and cluster.crashed():
                # T47 #12: after kill -9 (or a crash, a power cut) it read as any stop, and
                # `db start` then as "already running"
                typer.echo(
                    f"数据库未正常停止（可能崩溃或断电），数据文件夹 {cluster.pgdata}："
                    "'gridward db start' 会恢复并启动它 "
                    f"stopped, not cleanly (a crash or a power cut?) (data folder "
                    f"{cluster.pgdata}): start it with 'gridward db start' (it recovers the "
                    "database)"
                )
                raise typer.Exit(1)
            by = f" by 'gridward db stop' at {stopped['at']} ({stopped['by']})" if stopped else ""
            by_zh = (
                f"（{stopped['at']} 由 {stopped['by']} 用 'gridward db stop' 停止）"
                if stopped
                else ""
            )
            typer.echo(
                f"数据库已停止{by_zh}，数据文件夹 {cluster.pgdata}：请用 'gridward db start' 启动 "
                f"stopped{by} (data folder {cluster.pgdata}): start it with 'gridward db start'"
            )
            raise typer.Exit(1)
        url = state.url
        where = f"embedded, 127.0.0.1:{state.port}, data in {cluster.pgdata}"
        where_zh = f"内置数据库，127.0.0.1:{state.port}，数据在 {cluster.pgdata}"
    # the embedded cluster: the superuser's login of cluster.json too (a stale copy of the
    # file: every command that starts the cluster is refused, T42 #4)
    admin = None if _external() else _libpq(state.admin_url, database="postgres")
    engine = create_engine(url)
    try:
        if admin is not None:
            import psycopg

            psycopg.connect(admin, connect_timeout=10).close()
        with engine.connect() as conn:
            postgis = _postgis_problem(conn, engine.url.database or "gridward")
            if postgis is not None:
                raise SetupError(postgis)
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            role, superuser = conn.execute(
                text("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user")
            ).one()
            rev = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
                else None
            )
    except SetupError:
        raise
    except Exception as exc:  # connection refused etc.
        why = None if _external() else refusal(exc)
        if why is not None:  # a stale cluster.json (N6): the folder and the fix
            raise LoginRefused(cluster.data_dir, why) from None
        from geo.db import connection_remedy
        from geo.library_words import connection_zh

        said = str(exc).splitlines()[0].strip()
        hint, hint_zh = (
            ("is the server running? check the host and port", "服务器是否在运行？请检查主机和端口")
            if _external()
            else ("start it with 'gridward db start'", "请用 'gridward db start' 启动")
        )
        code = 1
        if _external():
            # the remedy follows the cause: a wrong password read "is the server running?"
            # (T39 M6); a server down, refusing or timing out keeps that question
            cause_hint, cause_hint_zh, cause = connection_remedy(said)
            if cause is not None:
                hint, hint_zh = cause_hint, cause_hint_zh
            # T68 #8: a login refused (password, pg_hba) or a database that is not there is
            # set-up (3), as documented; a host that does not resolve may be DNS away (1)
            code = 3 if cause in _SETUP_CAUSES else 1
        typer.echo(
            f"无法连接（{where_zh}）：{connection_zh(said)}；{hint_zh}。 "
            f"unreachable ({where}): {said}: {hint}"
        )
        raise typer.Exit(code) from None
    finally:
        engine.dispose()
    head = migration_scripts().get_current_head()
    problem = schema_problem(rev)
    pending = pending_zh = ""
    if rev is not None and rev != head and problem is None:
        pending = (
            f"; migration pending ({rev} → {head}): the next gridward command migrates it "
            "(stop the API and workers first)"
        )
        pending_zh = (
            f"；有待升级（{rev} → {head}）：下一个 gridward 命令会升级它（请先停止 API 和 worker）"
        )
    elif problem is not None:  # T68 #8: the status line itself says why it exits 3
        pending = f"; newer than this gridward ({head}): it cannot use it"
        pending_zh = f"；数据库版本较新：比本 gridward 的（{head}）新，本版本无法使用"
    rev_shown, rev_shown_zh = rev or "none", rev or "无"
    typer.echo(
        f"运行中（{where_zh}）；PostGIS {version}；数据库结构版本 {rev_shown_zh}{pending_zh}。 "
        f"running ({where}); PostGIS {version}; schema revision {rev_shown}{pending}"
    )
    if superuser:
        _warn_superuser(role, bool(_external()))
    level = None if _external() else _warn_disk(cluster.pgdata)
    _say_leftovers(url)
    if problem:  # WHY: it exited 0 on a schema this code cannot use (outside tester Z2)
        raise SetupError(problem)
    if level is not None:  # running, its disk full or nearly (STATUS_DISK_FULL, _LOW)
        raise typer.Exit(STATUS_DISK_FULL if level == "full" else STATUS_DISK_LOW)


# connection_remedy's causes that are set-up errors for `db status` (exit 3): a login refused
# (a wrong password or user, pg_hba.conf), a database that is not there
_SETUP_CAUSES = ("数据库登录失败", "数据库服务器不接受此连接", "数据库不存在")


def _postgis_problem(conn: object, name: str) -> str | None:
    """Why database ``name`` (on ``conn``) has no PostGIS, as `db start` says it, or None.
    WHY (T68 #4): `db status` read postgis_lib_version()'s "does not exist" as "is the server
    running?" (exit 1) on a server that ran fine."""
    from sqlalchemy import text

    from geo.db import postgis_missing

    found = conn.execute(  # type: ignore[attr-defined]
        text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
    ).first()
    if found is not None:
        return None
    available = conn.execute(  # type: ignore[attr-defined]
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    ).first()
    said = f'extension "postgis" is not installed in database {name}'
    said_zh = f"数据库 {name} 中没有安装 postgis 扩展"
    return postgis_missing(name, said, said_zh, available is not None)


def _warn_superuser(role: str, external: bool) -> None:
    """A warning when gridward logs in as a superuser (T42 #4): with DATABASE_URL it is the
    city's choice and is not refused; an embedded cluster made by an older gridward is
    upgraded by its next start."""
    if external:
        typer.echo(
            f"warning: DATABASE_URL 中的角色 {role} 是超级用户：SQL 注入之类的漏洞可借它在数据库"
            "服务器上执行命令、读取文件；建议让 gridward 使用拥有该数据库但不是超级用户的角色 "
            f"the role {role} in DATABASE_URL is a superuser: a hole such as an SQL injection "
            "could use it to run commands and read files on the database server; give gridward "
            "a role that owns its database but is not a superuser",
            err=True,
        )
        return
    typer.echo(
        f"warning: 内置数据库仍以超级用户 {role} 登录（旧版 gridward 建的集群）；运行 'gridward db "
        "start' 即可升级为不是超级用户的角色 gridward_app "
        f"the embedded database is still used as the superuser {role} (a cluster made by an "
        "older gridward): 'gridward db start' upgrades it to the role gridward_app, which is "
        "not a superuser",
        err=True,
    )


def _warn_disk(pgdata: Path) -> str | None:
    """A warning on stderr when the data folder's disk is full or nearly so (the status line
    is unchanged); returns how full (``full``, ``low`` or None). WHY: uploads failed on a full
    disk while `db status` said 运行中 with no word of it (T47 #3)."""
    level, line = disk_warning(pgdata)
    if line:
        typer.echo(line, err=True)
    return level


def disk_warning(pgdata: Path) -> tuple[str | None, str]:
    """How full the data folder's disk is (``full``, ``low`` or None) and the warning line
    for it ("" when there is room); `db status` prints it, `serve` logs it at start (T68
    #18: a serve on a full disk started without a word)."""
    from geo.db import disk_space

    space = disk_space(pgdata)
    if space is None or space.level is None:
        return None, ""
    free, total = _size(space.free), _size(space.total)
    if space.level == "full":
        zh, en = "磁盘已满", "disk full"
        why_zh, why = "上传和导入都无法保存", "uploads and imports cannot be stored"
    else:
        zh, en = "磁盘将满", "the disk is nearly full"
        why_zh, why = (
            "磁盘满时上传和导入都无法保存",
            "on a full disk uploads and imports cannot be stored",
        )
    return space.level, (
        f"warning: {zh}：数据文件夹 {pgdata} 所在磁盘只剩 {free}（共 {total}）；{why_zh}，请清理"
        f"该磁盘的空间 {en}: the disk of the data folder {pgdata} has {free} free of "
        f"{total}: {why}; free space on it"
    )


def _say_leftovers(url: str) -> None:
    """Name the copies failed restores left (:func:`_leftovers`): they take disk space."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database or "gridward"
    with contextlib.suppress(psycopg.Error), psycopg.connect(_libpq(url), connect_timeout=10) as c:
        for db, size in _leftovers(c, name):
            typer.echo(
                f"遗留数据库：数据库 '{db}'（{_size(size)}）是一次未完成的恢复留下的；下一次 "
                "'gridward db restore' 会删除它（或用 DROP DATABASE 删除） "
                f"database '{db}' ({_size(size)}) was left by a restore that did not "
                "finish: the next 'gridward db restore' removes it (or DROP DATABASE it)"
            )


@db_app.command("url")
def url(
    libpq: bool = typer.Option(
        False,
        "--libpq",
        help="输出 libpq 连接串 Print a plain postgresql:// URL for psql, pg_dump "
        "and other libpq tools.",
    ),
    admin: bool = typer.Option(
        False,
        "--admin",
        help="超级用户的连接串 The embedded cluster's superuser instead of gridward's own role "
        "(cluster administration only: it may do anything on the server). With DATABASE_URL, "
        "that URL.",
    ),
) -> None:
    """数据库连接串 Print the SQLAlchemy URL of the database: gridward's own role, which owns the
    database and is not a superuser (starts the embedded cluster if it is stopped; never
    makes one)."""
    from geo.db import admin_database_url, database_url

    found = admin_database_url() if admin else database_url()
    if admin and not _external():
        # the superuser's psql opens the server's own database, not the one the app owns
        # and may have set a search_path in (T48 #1)
        found = _with_database(found, "postgres")
    typer.echo(_libpq(found) if libpq else found)


def _libpq(sqlalchemy_url: str, database: str | None = None, password: bool = True) -> str:
    """``postgresql://…`` for libpq tools (they refuse SQLAlchemy's ``+psycopg``)."""
    from sqlalchemy.engine import make_url

    u = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    if not password:
        # WHY _replace: URL.set(password=None) leaves the password as it was (set() takes None
        # for "unchanged"), and pg_dump's argv showed it to every local user (T47 #4)
        u = u._replace(password=None)
    return u.render_as_string(hide_password=False)


def _tool(name: str) -> str:
    """A PostgreSQL client program: the embedded cluster's, else the newest installed
    (pg_dump must be as new as the server)."""
    import shutil

    from geo.embedded import find_binaries

    if not _external():
        return find_binaries()[name]
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=_major, reverse=True)
    path = str(found[0]) if found else shutil.which(name)
    if not path:
        raise SetupError(
            f"缺少软件包：未找到 {name}；请运行 apt-get install -y postgresql-client "
            f"{name} not found: apt-get install -y postgresql-client"
        )
    return path


def _major(p: Path) -> int:
    return int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0


def _pg(args: list[str], url: str, what_zh: str, what: str) -> subprocess.CompletedProcess:
    """Run a libpq tool on ``url``; the password goes in the environment, not on the command
    line (others can read a process's arguments). A failure is a SetupError "``what_zh``：
    cause ``what`` cause" (the tool's own words)."""
    from sqlalchemy.engine import make_url

    env = {**os.environ, "PGPASSWORD": make_url(url).password or "", "PGCONNECT_TIMEOUT": "10"}
    env["TZ"] = "UTC"  # pg_dump's "Archive created at": read back by _city_time
    # the password only in the environment, which only this user (and root) may read, never
    # in ``args`` (T47 #4: every local user saw it in ps)
    proc = subprocess.run(
        args, capture_output=True, text=True, env=env, preexec_fn=_dies_with_parent()
    )
    if proc.returncode != 0:
        why = _tool_error(proc.stderr, Path(args[0]).name, proc.returncode)
        raise SetupError(_tool_failure(what_zh, what, why, Path(args[0]).name))
    return proc


def _dies_with_parent():  # -> Callable[[], None] | None
    """A ``preexec_fn`` that makes the child get SIGTERM when gridward dies (Linux's
    PR_SET_PDEATHSIG), None where there is none. WHY: after kill -9 of ``gridward db backup``
    its pg_dump ran on, orphaned, holding its locks and writing a file nobody would rename
    (T47 #4)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:  # in the child, between fork and exec
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # gridward died before the line above
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


# what a pg tool's words mean, said first in the Chinese (T47 #10: only pg's English named
# the cause): a full disk, a backup cut short
_NO_SPACE = "No space left on device"
_CUT_SHORT = ("could not read from input file: end of file", "unexpected end of file")


def _tool_failure(what_zh: str, what: str, why: str, tool: str) -> str:
    """The message of ``tool`` failing with ``why`` (its own words, kept after the Chinese and
    in the English as they were): "``what_zh``（why） ``what`` why", with a full disk or a
    truncated backup named first in the Chinese when that is the cause."""
    head = what_zh.partition("：")[0]  # "备份失败", "恢复失败", "备份文件有误"
    said = f"（{tool}：{why}）"
    if _NO_SPACE in why:
        disk, done = (
            ("备份文件所在的磁盘", "未写入备份")
            if tool == "pg_dump"
            else ("数据库所在的磁盘", "未作任何更改")
        )
        zh = f"{head}：磁盘已满（{disk}）；{done}，请清理该磁盘的空间后重试{said}"
    elif any(w in why for w in _CUT_SHORT):
        zh = "备份文件不完整（可能被截断或复制中断）；未作任何更改，请改用完整的备份" + said
        if head != "备份文件有误":
            zh = f"{head}：{zh}"
    else:
        zh = f"{what_zh}（{why}）"
    return f"{zh} {what} {why}"


def _tool_error(stderr: str, tool: str, code: int) -> str:
    """The line that says what went wrong. WHY: pg_restore ends with "Command was: GRANT …",
    and the cause (role "report_ro" does not exist) is on the "error:" line before it."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{tool}: error:") or "ERROR:" in ln]
    line = errors[0] if errors else (lines[-1] if lines else f"exit code {code}")
    for prefix in (f"{tool}: ", "error: "):  # "pg_restore: error: …"
        line = line.removeprefix(prefix)
    if "ERROR:" in line:  # "could not execute query: ERROR:  role … does not exist"
        line = line.split("ERROR:", 1)[1]
    return " ".join(line.split())


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _revision(conninfo: str) -> str | None:
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


@db_app.command("backup")
def backup(
    file: Path = typer.Argument(..., help="备份文件 Archive to write (pg_dump custom format)."),
) -> None:
    """备份 Back up the gridward database to FILE (pg_dump -Fc; written whole or not at all;
    only its owner may read it)."""
    from sqlalchemy.engine import make_url

    from geo.db import database_url, embedded_cluster

    if str(file) == "-":
        raise InputError(
            "备份文件有误：'-' 不是文件名，备份不会写到标准输出；请给出要写入的文件名（如 "
            "gridward db backup gridward.dump） "
            "'-' is not a file name: a backup is not written to stdout; name the "
            "file to write (e.g. gridward db backup gridward.dump)"
        )
    if file.is_dir():
        raise InputError(
            f"备份文件有误：{file} 是文件夹，请给出要写入的文件名 "
            f"{file} is a folder: name the file to write"
        )
    cluster = None if _external() else embedded_cluster()
    _check_backup_target(file, cluster.data_dir if cluster is not None else None)
    # a cluster this command had to start is stopped again after (it was left running)
    started = cluster is not None and not cluster.is_running()
    try:
        url = database_url()
        if _revision(_libpq(url)) is None:
            db = make_url(url).database
            kept = f", {file} is kept as it was" if file.exists() else ""
            kept_zh = f"，{file} 保持原样" if file.exists() else ""
            raise SetupError(
                f"备份被拒：数据库 '{db}' 没有 gridward 的数据库结构（它是空的，或被删除后重建"
                f"过）：未写入任何内容{kept_zh}；它的备份将无法恢复 "
                f"database '{db}' has no "
                "gridward schema (it is empty, or was dropped and made again): nothing was "
                f"written{kept}; "
                "a backup of it could not be restored"
            )
        partial = file.with_name(file.name + ".partial")
        try:
            # made 0600 before pg_dump writes: the archive holds password hashes, phones and
            # homes (it was 0644 under the usual umask)
            try:
                os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
                partial.chmod(0o600)
            except OSError as exc:  # WHY: it named the .partial file (re-tester T35, F10)
                why = exc.strerror or exc
                raise InputError(
                    f"备份文件无法写入：无法写入 {file}（{why}） cannot write {file}: {why}"
                ) from None
            try:
                _pg(
                    [_tool("pg_dump"), "-Fc", "-f", str(partial)]
                    + ["-d", _libpq(url, password=False)],
                    url,
                    "备份失败：pg_dump 出错",
                    "pg_dump failed:",
                )
            except SetupError as exc:
                raise SetupError(exc.message.replace(str(partial), str(file))) from None
            partial.replace(file)
        finally:
            partial.unlink(missing_ok=True)
        rev = _revision(_libpq(url))
    finally:
        if started and cluster is not None:
            cluster.stop()
    size = _size(file.stat().st_size)
    typer.echo(
        f"备份完成：{file}（数据库结构 {rev}，{size}），只有其所有者可读（权限 600） "
        f"backed up (schema {rev}) to {file}: {size}, "
        "readable by its owner only (mode 600)"
    )


def _check_backup_target(file: Path, data_dir: Path | None) -> None:
    """Refuse a backup path that would overwrite what is not a backup. WHY: ``db backup``
    overwrote cluster.json, files inside PGDATA and a README in the checkout (outside tester,
    item 4). An earlier backup (a pg_dump archive, it starts with PGDMP) is replaced: nightly
    rotation."""
    target = file.absolute()
    if data_dir is not None:
        home = data_dir.resolve()
        if target.resolve() == home or home in target.resolve().parents:
            raise InputError(
                f"备份文件有误：{file} 在数据文件夹 {data_dir} 之内；请把备份写到它之外（放在集群"
                "旁边的备份会随集群一起丢失，还可能覆盖它的文件） "
                f"{file} is inside the data folder {data_dir}: write backups "
                "outside it (a backup beside the cluster is lost with it, and may overwrite "
                "its files)"
            )
    if not target.parent.is_dir():
        raise InputError(
            f"备份文件有误：文件夹 {file.parent} 不存在；请先创建它（mkdir -p {file.parent}），"
            "或写到已有文件夹中的文件 "
            f"the folder {file.parent} does not exist: make it first "
            f"(mkdir -p {file.parent}), or name a file in a folder that exists"
        )
    if target.exists() and _head(target, file) != b"PGDMP":
        raise InputError(
            f"备份文件有误：{file} 已存在，且不是 gridward 备份（pg_dump -Fc 归档）；未写入任何"
            "内容。请换一个新文件名，或先删除该文件 "
            f"{file} exists and is not a gridward backup (pg_dump -Fc archive): "
            "nothing was written; name a new file, or remove that one first"
        )


def _tables_with_rows(conninfo: str) -> list[str]:
    """gridward's tables that hold rows (alembic's and PostGIS's own are not data)."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND c.relname NOT IN ('alembic_version', 'spatial_ref_sys') ORDER BY 1"
            )
        ]
        return [
            t for t in names if conn.execute(f'SELECT EXISTS (SELECT FROM "{t}")').fetchone()[0]
        ]


@db_app.command("restore")
def restore(
    file: Path = typer.Argument(..., help="备份文件 An archive written by 'gridward db backup'."),
    force: bool = typer.Option(
        False,
        "--force",
        help="覆盖有数据的数据库 Replace a database that holds data (it is dropped).",
    ),
) -> None:
    """恢复 Restore a backup into the gridward database, then migrate it if it is older. Stop
    the API and workers first. Into a data folder without a cluster (a new machine), one is
    made."""
    import psycopg
    from sqlalchemy.engine import make_url

    from geo.db import admin_database_url, database_url

    if not file.is_file():
        raise InputError(f"备份文件有误：{file} 不是文件 {file} is not a file")
    _check_archive(file)
    if not _external():
        from geo.db import embedded_cluster, say

        # WHY quiet (T68 #17): a missing database is the restore's to fill; "新建空数据库 …
        # (要找回数据：gridward db restore FILE)" mid-restore read as if it had failed
        cluster = embedded_cluster()
        state = cluster.start(create=True, quiet=True)
        if cluster.recovered:  # as database_url says it (T68 #10)
            say(cluster.start_line(state.port))
    url = database_url(create=True)
    name = make_url(url).database or "gridward"
    listing = _pg(
        [_tool("pg_restore"), "-l", str(file)],
        url,
        "备份文件有误：pg_restore 读取失败",
        "pg_restore:",
    ).stdout.splitlines()
    _check_revision(_backup_revision(file, url), file)
    made = next(
        (
            ln.split("Archive created at", 1)[1].strip()
            for ln in listing
            if "Archive created at" in ln
        ),
        _UNKNOWN_TIME,
    )
    made = _city_time(made)
    made_zh = "未知时间" if made == _UNKNOWN_TIME else made
    # the embedded cluster: its superuser makes, renames and drops databases, and installs
    # PostGIS; the app's role, which owns the database, restores into it (T42 #4: a backup is
    # never restored by a superuser). DATABASE_URL: its one role does it all, as before.
    admin_url = admin_database_url(create=True)
    owner = make_url(url).username if admin_url != url else None
    admin = _libpq(admin_url, database="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        superuser = conn.execute(  # the role pg_restore runs as
            "SELECT rolsuper FROM pg_roles WHERE rolname = coalesce(%s, current_user)",
            (owner,),
        ).fetchone()[0]
    if exists:
        _refuse_if_in_use(admin, name)
    _drop_leftovers(admin, name)
    _check_free_space(admin, name, file, url)
    full = _tables_with_rows(_libpq(url)) if exists else []
    if full and not force:
        tables = ", ".join(full[:5]) + (", …" if len(full) > 5 else "")
        raise ConflictError(
            f"数据库已有数据：数据库 '{name}' 中有数据（{tables}）；未作任何更改。请先备份"
            "（gridward db backup FILE），再加 --force 替换它 "
            f"database '{name}' holds data ({tables}"
            "): nothing was changed; back it up first "
            "(gridward db backup FILE), then add --force to replace it"
        )
    scratch = f"{name}_restore_{secrets.token_hex(4)}"
    _create_scratch(admin, scratch, superuser, owner)
    try:
        args = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
        with tempfile.NamedTemporaryFile("w", suffix=".list") as toc:
            if not superuser:
                _check_postgis(_libpq(url, scratch))
                # PostGIS came from template1: its comment and spatial_ref_sys rows are the
                # superuser's, and this role may not write them
                toc.write(
                    "".join(
                        ln + "\n"
                        for ln in listing
                        if "COMMENT - EXTENSION" not in ln
                        and "TABLE DATA public spatial_ref_sys" not in ln
                    )
                )
                toc.flush()
                args += ["-L", toc.name]
            typer.echo(
                f"备份时间：{file} 制作于 {made_zh}；正在恢复 "
                f"{file} was made at {made}; restoring it"
            )
            _pg(
                [*args, "-d", _libpq(url, scratch, False), str(file)],
                url,
                "恢复失败：pg_restore 出错（未作任何更改）",
                "pg_restore failed (nothing was changed):",
            )
        scratch_url = make_url(url).set(database=scratch).render_as_string(hide_password=False)
        old, new = _migrate_restored(_libpq(url, scratch), scratch_url)
        replaced = _replaced(_libpq(url), _libpq(url, scratch)) if exists else None
        carried, dropped = 0, 0
        if replaced is not None and replaced.own:
            carried = _carry_audit(_libpq(url), _libpq(url, scratch), file)
            _carry_sequences(_libpq(url), _libpq(url, scratch))
        elif replaced is not None:
            # another installation's (T68 #14): its entries go with it, and the ids go on
            # from the backup's own, as in a new database: nothing restored names its ids
            dropped = replaced.entries
        _record_restore(scratch_url, file, made, old, new, carried, dropped)
        _swap(admin, scratch, name, exists is not None)
    except BaseException as exc:
        left, left_zh = _drop_scratch(admin, scratch)
        full = _full_disk(exc)
        if full is not None:
            raise SetupError(
                f"磁盘已满：{full}；恢复失败，未作任何更改（数据库 '{name}' 保持原样{left_zh}）；"
                "请清理数据库所在磁盘的空间，然后再恢复 "
                f"disk full: {full}: the restore failed and nothing was changed "
                f"(database '{name}' is as it was{left}); free space on the database's disk, "
                "then restore again"
            ) from None
        if left:
            note, note_zh = left.removeprefix("; "), left_zh.removeprefix("；")
            typer.echo(f"注意：{note_zh}。 {note}", err=True)
        raise
    migrated = f" (migrated from {old})" if old != new else ""
    migrated_zh = f"，由 {old} 升级" if old != new else ""
    typer.echo(
        f"恢复完成：已把 {file} 恢复到数据库 '{name}'（数据库结构 {new}{migrated_zh}） "
        f"restored {file} into database '{name}': schema {new}{migrated}"
    )
    if carried:
        typer.echo(
            f"审计记录：备份之后的 {carried} 条审计记录已转入恢复后的数据库（新编号；"
            "detail.carried_over 注明来源） "
            f"{carried} audit entries made after the backup were carried over into the "
            "restored database (new ids; detail.carried_over says so)"
        )
    if dropped and replaced is not None:
        typer.echo(_not_carried(dropped, replaced.own is None))
    if any(" ACL " in ln for ln in listing if not ln.startswith(";")):
        typer.echo(
            "未恢复授权：授予其他角色的权限（如只读报表角色）不会恢复，请重新授权 "
            "grants to other roles (a read-only report role, say) are not restored: "
            "grant them again"
        )
    typer.echo(
        f"注意：账号、密码和令牌已回到 {made_zh} 时的状态；此后吊销过的请再吊销一次"
        "（gridward users revoke NAME，gridward users password NAME --revoke-tokens） "
        f"accounts, passwords and tokens are back as they were at {made}: revoke again "
        "what was revoked since (gridward users revoke NAME, gridward users password NAME "
        "--revoke-tokens)"
    )


_UNKNOWN_TIME = "an unknown time"  # a backup whose listing gives no "Archive created at"


def _city_time(made: str) -> str:
    """pg_dump's "Archive created at" time in the city's zone with its offset. WHY: it was
    UTC beside log lines in another zone (outside tester, item 11). Backups are written with
    TZ=UTC so the time here can be read back; another zone's name is left as it is."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from geo.settings import get_settings

    try:
        when = dt.datetime.strptime(made[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return made
    if made[19:].strip() not in ("UTC", "GMT", "UCT"):
        return made
    city = when.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(get_settings().timezone))
    return city.strftime("%Y-%m-%d %H:%M:%S%z")


def _head(path: Path, shown: Path) -> bytes:
    """The first 5 bytes of ``path`` (a pg_dump -Fc archive's are PGDMP); one line naming
    ``shown`` (the name the user gave) when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(5)
    except OSError as exc:
        raise InputError(
            f"备份文件有误：无法读取 {shown}（{exc}） {shown} cannot be read: {exc}"
        ) from None


def _check_archive(file: Path) -> None:
    """Only gridward's own backups (pg_dump -Fc archives start with PGDMP). WHY: a plain
    SQL dump read "input file appears to be a text format dump. Please use psql." (outside
    tester, item 14)."""
    if _head(file, file) != b"PGDMP":
        raise InputError(
            f"备份文件有误：{file} 不是 gridward 备份；gridward 只恢复 'gridward db backup' 写出的"
            "文件（pg_dump -Fc 归档）；未作任何更改 "
            f"{file} is not a gridward backup: gridward restores only the files "
            "'gridward db backup' writes (pg_dump -Fc archives); nothing was changed"
        )


def _leftovers(conn: object, name: str) -> list[tuple[str, int]]:
    """Databases left by restores that did not finish (``NAME_restore_…``, and an old one
    renamed aside, ``NAME_replaced_…``), with their size in bytes."""
    pattern = name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT datname, pg_database_size(oid) FROM pg_database "
        "WHERE datname LIKE %s OR datname LIKE %s ORDER BY 1",
        (pattern + "\\_restore\\_%", pattern + "\\_replaced\\_%"),
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def _drop_leftovers(admin: str, name: str) -> None:
    """Drop what earlier restores that failed or were cut off left behind. WHY: a restore
    on a full disk, or stopped by ``db stop``, left a ``gridward_restore_*`` copy for good,
    and nothing mentioned it (outside tester, item 2). One in use (a restore running now)
    is left alone."""
    import psycopg

    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        for db, size in _leftovers(conn, name):
            try:
                conn.execute(f'DROP DATABASE "{db}"')
            except psycopg.errors.ObjectInUse:
                continue
            typer.echo(
                f"已清理：已删除一次未完成的恢复留下的数据库 '{db}'（{_size(size)}） "
                f"removed database '{db}' ({_size(size)}) left by a restore that did "
                "not finish"
            )


def _check_free_space(admin: str, name: str, file: Path, url: str) -> None:
    """Refuse a restore the data folder's disk cannot hold (embedded cluster only: its disk
    is this machine's): about the database's size (or 4 × the backup's) and 10 % + 100 MB."""
    import shutil

    import psycopg

    if _external():
        return
    from geo.db import embedded_cluster

    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT pg_database_size(oid) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    need = int((row[0] if row else 4 * file.stat().st_size) * 1.1) + 100_000_000
    pgdata = embedded_cluster().pgdata
    free = shutil.disk_usage(pgdata).free
    if free < need:
        raise SetupError(
            f"磁盘已满：恢复需要 {pgdata} 所在磁盘约 {_size(need)} 可用空间，现只有 {_size(free)}；"
            "未作任何更改，请先清理空间 "
            f"disk full: the restore needs about {_size(need)} free in "
            f"{pgdata}, {_size(free)} is: nothing was changed; free space "
            "first"
        )


def _drop_scratch(admin: str, scratch: str) -> tuple[str, str]:
    """Drop the half-made copy of a failed restore; waits while the server recovers (after
    a PANIC on a full disk it restarts). Returns ``("", "")``, or what is left and why (in
    English and in Chinese)."""
    import psycopg

    last = ""
    for _ in range(15):
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            return "", ""
        except psycopg.Error as exc:
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            time.sleep(1)
    return (
        f"; the unfinished copy '{scratch}' could not be dropped ({last}): the next "
        "'gridward db restore' removes it",
        f"；未完成的副本 '{scratch}' 无法删除（{last}）：下一次 'gridward db restore' 会删除它",
    )


def _full_disk(exc: BaseException) -> str | None:
    """Where the disk is full, if that is why ``exc`` happened (:func:`geo.db.disk_full`)."""
    from geo.db import disk_full

    words = getattr(exc, "message", None) or f"{type(exc).__name__} {exc}"
    orig = getattr(exc, "orig", None)
    if orig is not None:
        words += f" {type(orig).__name__} {orig}"
    return disk_full(str(words))


class _Replaced(NamedTuple):
    """The database a restore replaces, as its audit log tells it."""

    own: bool | None  # it descends from the backup (None: the backup has no entry to tell by)
    entries: int  # the audit entries it holds


def _replaced(current: str, restored: str) -> _Replaced:
    """Whether the database being replaced descends from the backup: the backup's newest
    audit entry (its time, to the microsecond, actor, action and target) is in it, and how
    many entries it holds. WHY: a backup of one installation restored over another's
    database carried that one's audit entries into the restored log, naming tracks and users
    it does not hold (outside tester T68 #14). Not by id: an entry an earlier restore carried
    over has a new one, and its time, actor, action and target are kept."""
    import psycopg

    with psycopg.connect(restored, connect_timeout=10) as dst:
        newest = dst.execute(
            "SELECT at, actor, action, target_type, target_id FROM audit_log "
            "ORDER BY at DESC, id DESC LIMIT 1"
        ).fetchone()
    with psycopg.connect(current, connect_timeout=10) as src:
        if src.execute("SELECT to_regclass('audit_log')").fetchone()[0] is None:
            return _Replaced(None if newest is None else False, 0)
        entries = int(src.execute("SELECT count(*) FROM audit_log").fetchone()[0])
        if newest is None:
            return _Replaced(None, entries)
        found = src.execute(
            "SELECT EXISTS (SELECT FROM audit_log WHERE at = %s "
            "AND actor IS NOT DISTINCT FROM %s AND action = %s "
            "AND target_type IS NOT DISTINCT FROM %s AND target_id IS NOT DISTINCT FROM %s)",
            newest,
        ).fetchone()[0]
    return _Replaced(bool(found), entries)


def _not_carried(dropped: int, unknown: bool) -> str:
    """The line saying a restore did not carry the replaced database's ``dropped`` audit
    entries over, and why (``unknown``: the backup has no entry to tell its lineage by).
    WHY said: carrying them was the rule, and they are gone unless it was backed up first."""
    why_zh, why = (
        (
            "备份中没有审计记录，无法确认被替换的数据库由这份备份而来",
            "the backup holds no audit entries, so the replaced database cannot be shown to "
            "come from it",
        )
        if unknown
        else (
            "被替换的数据库属于另一套安装（备份中最新的审计记录不在其中）",
            "the replaced database was another installation's (the backup's newest audit "
            "entry is not in it)",
        )
    )
    return (
        f"审计记录未转入：{why_zh}；其 {dropped} 条审计记录未转入恢复后的数据库，已随它删除"
        f"（除非替换前已备份它） {why}: its {dropped} audit entries were not carried over "
        "into the restored database and are gone with it (unless it was backed up first)"
    )


def _carry_audit(current: str, restored: str, file: Path) -> int:
    """Copy the audit entries the database being replaced holds from after the backup's
    newest one into the restored copy (new ids; ``detail.carried_over`` and the entry's old
    id say where they came from); how many. WHY: a restore erased the audit trail since the
    backup, earlier restores' entries with it, and ids were used again (outside tester,
    item 7). Nothing else is writing: restore refuses while other programs are connected."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(current, connect_timeout=10) as src:
        if src.execute("SELECT to_regclass('audit_log')").fetchone()[0] is None:
            return 0
        with psycopg.connect(restored, connect_timeout=10) as dst:
            newest = dst.execute("SELECT max(at) FROM audit_log").fetchone()[0]
        rows = src.execute(
            "SELECT id, at, actor, action, target_type, target_id, detail FROM audit_log "
            "WHERE %(t)s::timestamptz IS NULL OR at > %(t)s ORDER BY id",
            {"t": newest},
        ).fetchall()
        last = src.execute("SELECT max(id) FROM audit_log").fetchone()[0] or 0
    note = f"from before the restore of {file.absolute()}"
    with psycopg.connect(restored, connect_timeout=10) as dst, dst.cursor() as cur:
        # ids go on from the replaced database's: an id never names two entries
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
            "greatest(%s, (SELECT max(id) FROM audit_log), 1))",
            (last,),
        )
        cur.executemany(
            "INSERT INTO audit_log (at, actor, action, target_type, target_id, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    at,
                    actor,
                    action,
                    ttype,
                    tid,
                    Jsonb({**(d or {}), "carried_over": note, "old_id": rid}),
                )
                for rid, at, actor, action, ttype, tid, d in rows
            ],
        )
    return len(rows)


def _carry_sequences(current: str, restored: str) -> None:
    """Move each id sequence of the restored copy on to where the replaced database's had
    got, so that no id made after the backup (and lost by the restore) is made again. WHY:
    a user made after the backup and a new user made after the restore had the same id, and
    the audit entries carried over for the first named the second (re-tester T35, F9)."""
    import psycopg

    sql = (
        "SELECT schemaname, sequencename, last_value FROM pg_sequences "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    with psycopg.connect(current, connect_timeout=10) as src:
        used = {(s, n): v for s, n, v in src.execute(sql).fetchall() if v is not None}
    with psycopg.connect(restored, connect_timeout=10) as dst:
        for schema, name, last in dst.execute(sql).fetchall():
            before = used.get((schema, name))
            if before is not None and (last is None or before > last):
                dst.execute(
                    "SELECT setval(format('%%I.%%I', %s::text, %s::text), %s)",
                    (schema, name, before),
                )


def _record_restore(
    url: str, file: Path, made: str, old: str, new: str, carried: int = 0, dropped: int = 0
) -> None:
    """The restore in the audit log (``db.restore``), written into the restored copy before
    it replaces the old database: it is there exactly when the restore took place. WHY: an
    admin reading the log after a restore saw the backup's history with no sign of it.
    ``dropped``: the entries of a database of another installation, not carried over."""
    import getpass

    from sqlalchemy import create_engine

    from geo.audit import DB_RESTORE, record

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = str(os.getuid())
    engine = create_engine(url)
    try:
        detail = {"os_user": who, "file": str(file.absolute()), "backup_made": made}
        detail.update(schema=new, **({"migrated_from": old} if old != new else {}))
        detail["carried_over"] = carried  # audit entries kept from after the backup
        if dropped:  # the replaced database was another installation's (T68 #14)
            detail["not_carried_over"] = dropped
        with engine.begin() as conn:
            record(conn, "cli", DB_RESTORE, detail=detail)
    finally:
        engine.dispose()


def _refuse_if_in_use(admin: str, name: str) -> None:
    """Refuse while other programs use the database (:func:`geo.db.refuse_if_in_use`)."""
    import psycopg

    from geo.db import Client, refuse_if_in_use

    def clients() -> list[Client]:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT coalesce(nullif(application_name, ''), '?'), "
                "coalesce(host(client_addr), 'local'), pid FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND (backend_type = 'client backend' OR backend_type IS NULL)",
                (name,),
            ).fetchall()
        return [Client.of(app, addr, pid=pid) for app, addr, pid in rows]

    refuse_if_in_use(
        clients,
        f"database '{name}'",
        "restore",
        f"数据库 '{name}' ",
        "再恢复（gridward db restore）",
    )


def _create_scratch(admin: str, scratch: str, superuser: bool, owner: str | None = None) -> None:
    """The database the backup is restored into. A superuser makes it from template0 and the
    backup installs PostGIS; another role needs PostGIS already in template1. With ``owner``
    (the embedded cluster's app role), the superuser ``admin`` makes it for that role from
    template0 and installs PostGIS in it; the owner restores the backup."""
    import psycopg

    if owner is not None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}" OWNER "{owner}" TEMPLATE template0')
        from sqlalchemy.engine import make_url

        inside = make_url(admin).set(database=scratch).render_as_string(hide_password=False)
        from geo.embedded import SUPERUSER_OPTIONS

        with psycopg.connect(
            inside, autocommit=True, connect_timeout=10, options=SUPERUSER_OPTIONS
        ) as conn:  # in a database the app owns: names from pg_catalog only (T48 #1)
            conn.execute("CREATE EXTENSION postgis SCHEMA public")
        return
    template = "template0" if superuser else "template1"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}" TEMPLATE {template}')
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SetupError(
            f"权限不足：恢复需要能创建数据库的角色：{exc}；请由超级用户执行 ALTER ROLE … "
            "CREATEDB；未作任何更改 "
            f"restore needs a role that may create databases: {exc}: ALTER ROLE … "
            "CREATEDB (a superuser runs it); nothing was changed"
        ) from None


def _check_postgis(conninfo: str) -> None:
    """WHY: a role that is not a superuser cannot CREATE EXTENSION postgis, and pg_restore
    failed on it with only "Command was: CREATE EXTENSION …" (outside tester Z2)."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
    if not found:
        raise SetupError(
            "权限不足：恢复需要 PostGIS，而 DATABASE_URL 中的角色不是超级用户；请以超级用户身份"
            "恢复，或请超级用户在该服务器的 template1 中安装一次 PostGIS（psql -d template1 -c "
            "'CREATE EXTENSION postgis'）；未作任何更改 "
            "restore needs PostGIS, and the role in DATABASE_URL is not a superuser: "
            "restore as a superuser, or have one install PostGIS in template1 of that server "
            "once (psql -d template1 -c 'CREATE EXTENSION postgis'); nothing was changed"
        )


def _backup_revision(file: Path, url: str) -> str:
    """The schema revision stored in a backup, read without restoring it."""
    out = _pg(
        [_tool("pg_restore"), "--data-only", "--table", "alembic_version", "-f", "-", str(file)],
        url,
        "备份文件有误：pg_restore 读取失败",
        "pg_restore:",
    ).stdout.splitlines()
    rows = [out[i + 1] for i, ln in enumerate(out[:-1]) if ln.startswith("COPY ")]
    if not rows or rows[0] == "\\.":
        raise InputError(
            f"备份文件有误：{file} 不是 gridward 备份（没有数据库结构版本） "
            f"{file} is not a gridward backup (no schema revision)"
        )
    return rows[0].strip()


def _check_revision(rev: str, file: Path) -> None:
    """Refuse a backup of a schema this gridward does not know (made by a newer one)."""
    from geo.db import migration_scripts

    script = migration_scripts()
    try:
        known = script.get_revision(rev) is not None
    except Exception:  # alembic: an unknown revision
        known = False
    if not known:
        head = script.get_current_head()
        raise ConflictError(
            f"备份版本过新：{file} 的数据库结构版本为 {rev}，本 gridward 不认识（最新为 {head}）；"
            "请用制作它的 gridward 恢复；未作任何更改 "
            f"{file} holds schema {rev}, unknown to this gridward (newest "
            f"{head}): restore it with the gridward that made it; "
            "nothing was changed"
        )


def _migrate_restored(conninfo: str, sqlalchemy_url: str) -> tuple[str, str]:
    """Bring the restored copy to this gridward's schema (before it replaces the old one)."""
    from sqlalchemy import create_engine

    from geo.db import migrate, migration_scripts

    rev = str(_revision(conninfo))
    head = migration_scripts().get_current_head() or rev
    if rev != head:
        engine = create_engine(sqlalchemy_url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
    return rev, head


def _swap(admin: str, scratch: str, name: str, replace: bool) -> None:
    """Put the restored database in place of ``name``; the old one is dropped (connections
    to it are ended: running servers reconnect to the restored one)."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        if not replace:
            conn.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"')
            return
        gone = f"{name}_replaced_{secrets.token_hex(4)}"
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            for attempt in range(50):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                try:
                    conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{gone}"')
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
            conn.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"')
        except BaseException:  # put the old database back as it was
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (gone,)).fetchone():
                conn.execute(f'ALTER DATABASE "{gone}" RENAME TO "{name}"')
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            raise
        conn.execute(f'DROP DATABASE "{gone}" WITH (FORCE)')


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group."""
    app.add_typer(db_app, name="db")


def _with_database(url: str, database: str) -> str:
    """``url`` naming ``database`` instead."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)
