"""Database access: which server, one engine per process, migrations at start, transactions.

With ``DATABASE_URL`` set, that server is used; otherwise gridward's embedded cluster (see
:mod:`geo.embedded`) is started on demand, and made only by the commands that set things up
(``create``): any other finds none and says so. The schema is migrated to the newest Alembic
revision the first time an engine is made, so every entry point (CLI, API, tests) sees the same
schema.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Engine, create_engine, event, text

from geo.errors import ConflictError, DbFailure, InputError, SetupError, db_failure
from geo.library_words import connection_cause, database_zh
from geo.settings import Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_engines: dict[str, Engine] = {}
_DEFAULT = "<default>"  # the engine of the configured database, once resolved
# the advisory lock geo/migrations/env.py holds while migrating (the same number)
MIGRATION_LOCK = 727_141_001


# the application_name of a ``gridward tracks worker``'s connections (with its pid)
WORKER_NAME = "gridward worker"


def program_name() -> str:
    """This process's ``application_name``: the program and its pid (``gridward cli report
    daily [4242]``). WHY: the 数据库正在使用 lists showed ``?`` for the API and workers
    (outside tester N10); the pid tells this process's own connections from others'."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    words = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
    if prog != "gridward":
        name = f"gridward {prog}"
    elif words[:1] in (["serve"], ["demo"]):
        name = f"gridward {words[0]}"
    elif words == ["tracks", "worker"]:
        name = WORKER_NAME
    else:
        name = " ".join(["gridward cli", *words])
    tag = f" [{os.getpid()}]"
    return name[: 63 - len(tag)] + tag  # the server keeps 63 bytes


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_url(url: str) -> str:
    """``url`` if it names a PostgreSQL server (normalised); InputError otherwise. WHY: a
    ``mysql://`` or ``sqlite://`` URL ended in a 52-line traceback from SQLAlchemy's driver
    loading (an outside tester); the scheme alone is shown, never the password."""
    url = normalize_url(url)
    if not url.startswith("postgresql+psycopg://"):
        scheme = _scheme_shown(url)
        raise InputError(
            "设置有误：DATABASE_URL 须为装有 PostGIS 的 PostgreSQL 的网址，以 postgresql:// 或 "
            f"postgresql+psycopg:// 开头（现为 {scheme}://…） "
            f"setting DATABASE_URL: gridward needs PostgreSQL with PostGIS: give a "
            f"postgresql:// or postgresql+psycopg:// URL (got {scheme}://…)"
        )
    _check_url_parts(url)
    return url


def _scheme_shown(url: str) -> str:
    """What may be shown of a URL that is not a PostgreSQL one: its scheme, the leading
    letters before any ``:`` or ``@``. WHY (T68 #1): with ``://`` mistyped, the first 20
    characters were shown, and ``pg:Pa55word@host`` put the password in the journal."""
    head = url.split("://", 1)[0] if "://" in url else url
    return re.match(r"[A-Za-z0-9_+.\-]{0,20}", head).group(0)  # type: ignore[union-attr]


def _check_url_parts(url: str) -> None:
    """InputError for a port that is not a number or an ``@`` left in the password, naming
    the part and never its text. WHY (T68 #1, #2): a port ``55x69`` ended every command in
    a 40-line traceback, and a password with an ``@`` was read as a host name, shown."""
    from sqlalchemy.engine import make_url

    rest = url.split("://", 1)[1]
    authority = rest.split("/", 1)[0]
    if authority.count("@") > 1:
        raise InputError(
            "设置有误：DATABASE_URL 中的用户名或密码含有 @，须写成 %40（其他特殊字符 : / ? # "
            "同样须百分号编码） setting DATABASE_URL: the user name or password holds an @: "
            "write it as %40 (percent-encode : / ? # in them too)"
        )
    try:
        make_url(url).port  # noqa: B018  (parsed here: a bad port raises)
    except ValueError:
        raise InputError(
            "设置有误：DATABASE_URL 的端口须为数字（如 postgresql://用户@主机:5432/数据库） "
            "setting DATABASE_URL: its port must be a number (e.g. "
            "postgresql://user@host:5432/database)"
        ) from None


def embedded_cluster(settings: Settings | None = None):  # -> EmbeddedCluster
    """The embedded cluster for these settings (not started)."""
    from geo.embedded import EmbeddedCluster

    s = settings or get_settings()
    return EmbeddedCluster(s.data_dir, port=s.pg_port)


def database_url(settings: Settings | None = None, start: bool = True, create: bool = False) -> str:
    """The URL to use: DATABASE_URL, or the embedded cluster's (started when ``start``; made
    when there is none only with ``create``).

    WHY ``create`` is asked for: a mistyped or relative GRIDWARD_DATA_DIR made a new, empty
    cluster, and a report from cron printed an empty table (outside tester Z2, N8). Only the
    commands that set things up (db start, db restore, demo, serve, import, a first users add)
    pass it; the others say there is no database."""
    s = settings or get_settings()
    if s.database_url:
        return check_url(s.database_url)
    cluster = embedded_cluster(s)
    if start:
        state = cluster.start(create=create)
        if cluster.recovered:  # WHY (T68 #10): serve's log said nothing of a crash recovered
            say(cluster.start_line(state.port))
        return state.url
    state, why = cluster.state_and_problem()
    if state is None:
        if cluster.pgdata.joinpath("PG_VERSION").exists():  # a real cluster, its file lost
            raise cluster.lost_state_error(why)
        raise cluster.no_cluster_error()
    return state.url


def admin_database_url(settings: Settings | None = None, create: bool = False) -> str:
    """The URL of the embedded cluster's superuser (the cluster is started; made only with
    ``create``), for what only it may do: creating and renaming databases and installing
    PostGIS in a restore, ``gridward db url --admin``. The app never uses it (T42 #4:
    :data:`database_url` is the app's role, not a superuser). With DATABASE_URL, that URL:
    gridward has no other login there."""
    s = settings or get_settings()
    if s.database_url:
        return check_url(s.database_url)
    return embedded_cluster(s).start(create=create).admin_url


def alembic_config() -> Config:
    """Alembic's configuration for gridward's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def say(line: str) -> None:
    """One line to stderr: what gridward does to the database beyond the command asked
    (migrating it). WHY stderr: the CLI's output may be piped, and the API's goes to its log."""
    print(line, file=sys.stderr, flush=True)


@lru_cache(maxsize=1)
def migration_scripts() -> ScriptDirectory:
    """This code's migrations, read once per process. WHY once: ``GET /health`` checks the
    database's revision against them on every request (:func:`schema_problem`), and reading
    them each time took some milliseconds; they cannot change while the process runs."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def schema_problem(current: str | None) -> str | None:
    """Why this code cannot use a database at schema revision ``current``, or None. WHY: a
    database migrated by a newer gridward (the code rolled back after an upgrade) ended in
    alembic's 106-line "Can't locate revision" traceback (an outside tester)."""
    from alembic.util import CommandError

    script = migration_scripts()
    if current is None:
        return None
    try:
        script.get_revision(current)
    except CommandError:
        head = script.get_current_head()
        return (
            f"数据库版本较新：数据库结构（{current}）比本 gridward 的（{head}）新；请安装较新的 "
            "gridward，或恢复升级前做的备份 "
            f"the database schema ({current}) is newer than this gridward "
            f"({head}): install the newer gridward or restore a backup "
            "made before the upgrade"
        )
    return None


def _current_revision(conn: Connection) -> str | None:
    """The database's schema revision (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _ensure_postgis(engine: Engine) -> None:
    """PostGIS in the database; a refusal says who must install it. WHY: a role that is not
    a superuser got "permission denied to create extension" with no way forward."""
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except Exception as exc:
        failed = db_failure(exc)
        line = failed.line if failed is not None else ""
        name = engine.url.database or "the database"
        if "permission denied to create extension" in line:
            raise SetupError(postgis_missing(name, line)) from exc
        if "is not available" in line:
            raise SetupError(postgis_missing(name, line, available=False)) from exc
        raise


def postgis_missing(name: str, line: str, line_zh: str = "", available: bool = True) -> str:
    """The one line for database ``name`` without PostGIS (``line``: why, the server's words;
    ``line_zh`` their Chinese, else ``line`` stands in the Chinese too): who must install it,
    or, when the server has no PostGIS to install (``available`` False), the package. WHY one
    place: `db status` said "is the server running?" where `db start` named the fix (T68 #4)."""
    said_zh = line_zh or line
    if not available:
        return (
            f"缺少 PostGIS 扩展（{said_zh}）：请在数据库服务器上安装 PostGIS（Debian："
            f"postgresql-15-postgis-3） {line}: install PostGIS on the database server "
            "(Debian: postgresql-15-postgis-3)"
        )
    return (
        f"缺少 PostGIS 扩展（{said_zh}）：须先由超级用户在数据库 {name} 中执行 CREATE "
        f'EXTENSION postgis（psql -U postgres -d {name} -c "CREATE EXTENSION postgis"） '
        f"{line}: a superuser must run CREATE EXTENSION postgis in "
        f'database {name} first (psql -U postgres -d {name} -c "CREATE EXTENSION postgis")'
    )


def migrate(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the schema to ``revision`` (default the newest; idempotent, safe under
    concurrency). An older revision serves migration tests that load data into it first.
    Returns the revision found before (None: an empty database), so that a caller can say
    what was done (T68 #9: `db start` said "up to date" after building the schema).

    A database newer than this code, or a migration that fails, is one SetupError naming the
    revision and the database's own reason; an upgrade says so on stderr first."""
    from alembic import command
    from alembic.script.revision import RevisionError

    cfg = alembic_config()
    script = migration_scripts()
    _ensure_postgis(engine)
    with engine.connect() as conn:
        # the migrations' lock first: a program migrating meanwhile has finished when the
        # revision is read (env.py takes it again, in this same transaction)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        current = _current_revision(conn)
        problem = schema_problem(current)
        if problem is not None:
            raise SetupError(problem)
        target = script.get_current_head() if revision == "head" else revision
        try:
            pending = [r.revision for r in script.iterate_revisions(target, current or "base")]
        except RevisionError:  # asked for a revision older than the database's: alembic says
            pending = []
        if current is not None and pending:
            _refuse_migration_in_use(conn, current, target)
            say(
                f"升级数据库：数据库结构 {current} → {target} "
                f"migrating the database schema {current} → {target}"
            )
        applied: list[str] = []
        cfg.attributes["connection"] = conn
        cfg.attributes["applied"] = applied
        try:
            command.upgrade(cfg, revision)
            conn.commit()
        except Exception as exc:
            failing = next((r for r in reversed(pending) if r not in applied), target)
            why = _reason(exc)
            raise SetupError(
                f"数据库升级失败：迁移 {failing} 失败（{why}） migration {failing} failed: {why}"
            ) from exc
    return current


def _own_client_ports() -> set[int]:
    """The local TCP ports of this process's sockets (its connections as the server sees
    them: ``client_port``), read from /proc; empty where there is none."""
    inodes: set[str] = set()
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports: set[int] = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _refuse_migration_in_use(conn: Connection, current: str, target: str) -> None:
    """Refuse to migrate while other programs are connected to the database (SetupError
    数据库正在使用, naming them). WHY: a command of a newly installed gridward migrated the
    schema under the older API still running, which then wrote rows the migration meant to
    fix (outside tester, item 3). Not counted: this process's own connections (its pid in the
    application name, or its client ports) and programs waiting for the migrations' lock
    (a worker started with the API: it finds the schema migrated once it has the lock)."""
    own = f"% [{os.getpid()}]"

    def clients() -> list[str]:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(
            text(
                "SELECT coalesce(nullif(a.application_name, ''), '?'), "
                "coalesce(host(a.client_addr), 'local'), a.pid FROM pg_stat_activity a "
                "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
                "AND (a.backend_type = 'client backend' OR a.backend_type IS NULL) "
                "AND a.application_name NOT LIKE :own "
                "AND NOT (a.client_port = ANY(CAST(:ports AS int[])) AND a.client_addr IS NOT "
                "DISTINCT FROM (SELECT client_addr FROM pg_stat_activity "
                "WHERE pid = pg_backend_pid())) "
                "AND a.pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                "AND NOT granted AND classid = 0 AND objid::bigint = :lock)"
            ),
            {"own": own, "ports": sorted(_own_client_ports()), "lock": MIGRATION_LOCK},
        ).fetchall()
        return [Client.of(app, addr, pid=pid) for app, addr, pid in rows]

    name = conn.engine.url.database
    try:
        refuse_if_in_use(
            clients,
            f"database '{name}'",
            f"run the command again (it migrates the schema {current} → {target})",
            f"数据库 '{name}' ",
            f"再次运行该命令（它会把数据库结构 {current} 升级到 {target}）",
        )
    except ConflictError as exc:
        told = exc.message.replace("nothing was changed", "not migrated")
        raise SetupError(told.replace(_UNCHANGED_ZH, "未升级数据库结构")) from None


def _reason(exc: Exception) -> str:
    """The first line of what went wrong (the database's words for a database error)."""
    failed = db_failure(exc)
    if failed is not None:
        return failed.line
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def get_engine(url: str | None = None, run_migrations: bool = True, create: bool = False) -> Engine:
    """One engine per URL per process, migrated on first use.

    With no URL, the configured database is resolved (and the embedded cluster started, and
    made if missing only with ``create``: see :func:`database_url`) once per process; later
    calls reuse that engine without asking pg_ctl again.
    """
    if url is None and _DEFAULT in _engines:
        return _engines[_DEFAULT]
    key = check_url(url) if url else database_url(create=create)
    engine = _engines.get(key)
    if engine is None:
        engine = create_engine(
            key,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"connect_timeout": 10, "application_name": program_name()},
        )
        event.listen(engine, "connect", _jit_off)
        if run_migrations:
            migrate(engine)
        _engines[key] = engine
    if url is None:
        _engines[_DEFAULT] = engine
    return engine


def _jit_off(dbapi_connection: Any, _record: Any) -> None:
    """Each new connection runs without PostgreSQL's JIT compiler.

    WHY: the planner's cost estimates of the report and patrol-map queries (the chiefs'
    20 m street corridor above all) run into the billions, so with JIT on (the default)
    every request spent 0.8-1.0 s compiling a query that then ran in 0.1 s, whatever the
    area asked for (outside tester T44 #11). Measured on a district-size day
    (bench/patrol_map.py): the patrol map for everyone 2.27 -> 1.72 s, for a subdistrict
    1.43 -> 0.91 s; the daily report 0.89 -> 0.34 s, the monthly 2.32 -> 1.03 s. A ``SET``
    on connect rather than libpq's ``options``: poolers such as PgBouncer refuse that
    startup parameter. Committed at once: the pool's reset rolls back an open transaction,
    and the setting with it."""
    with dbapi_connection.cursor() as cur:
        cur.execute("SET jit = off")
    dbapi_connection.commit()


def dispose_engines() -> None:
    """Close every pooled connection (tests, shutdown)."""
    for engine in set(_engines.values()):
        engine.dispose()
    _engines.clear()


# What a reader can do about a failed connection to DATABASE_URL, by its cause
# (geo.library_words.connection_cause): the tag that opens the line, the remedy in English
# and in Chinese
_CONNECT_TAGS = {
    "login": (
        "数据库登录失败",
        "check the user and password in DATABASE_URL",
        "请检查 DATABASE_URL 中的用户名和密码",
    ),
    "host": (
        "数据库主机未知",
        "check the host name in DATABASE_URL",
        "请检查 DATABASE_URL 中的主机名",
    ),
    "database": (
        "数据库不存在",
        "check the database name in DATABASE_URL, or create it",
        "请检查 DATABASE_URL 中的数据库名，或先创建该数据库",
    ),
    "pg_hba": (
        "数据库服务器不接受此连接",
        "the server's pg_hba.conf does not let this host, user or database in: ask its "
        "administrator, or check the user, database and sslmode in DATABASE_URL",
        "服务器的 pg_hba.conf 不允许此主机、用户或数据库连接：请联系数据库管理员，或检查 "
        "DATABASE_URL 中的用户名、数据库名和 sslmode",
    ),
}
# a cause none of the above: the server down, unreachable, refusing or timing out
_NOT_RUNNING = (
    "is the server running? check the host and port in DATABASE_URL",
    "服务器是否在运行？请检查 DATABASE_URL 中的主机和端口",
)


def connection_remedy(line: str) -> tuple[str, str, str | None]:
    """What to do about a connection to DATABASE_URL that failed with ``line`` (libpq's
    words): the remedy in English, in Chinese, and the tag of its cause (数据库登录失败, …;
    None when the server may not be running). WHY: one place for the CLI's error line and
    `gridward db status`, which said "is the server running?" to a wrong password (T39 M6)."""
    tagged = _CONNECT_TAGS.get(connection_cause(line) or "")
    if tagged is None:
        return _NOT_RUNNING[0], _NOT_RUNNING[1], None
    tag, hint, hint_zh = tagged
    return hint, hint_zh, tag


def failure_line(failed: DbFailure, settings: Settings | None = None) -> str:
    """A database error as the CLI's one line, Chinese first. WHY: a wrong password, a host
    that is down or unknown and a missing database read in English only (an outside tester);
    with DATABASE_URL set, the hint says where to look; the embedded cluster refusing the
    login in cluster.json names the data folder and the fix (outside tester Z2, N6)."""
    text_ = f"database error ({failed.name}): {failed.line}"
    # the driver's words in Chinese, the host and port kept (T37 F13: "Connection refused"
    # stood inside the Chinese)
    said_zh = database_zh(failed.line, failed.kind)
    zh = f"数据库错误（{failed.name}）" + (f"：{said_zh}" if said_zh else "")
    full = disk_full(failed.name + " " + failed.line, settings)
    if full:
        # the server's log line stays in the English only (T37 F13)
        full_zh = "" if full == _NO_SPACE else f"：日志 {_log_of(full)} 记录了磁盘已满"
        return (
            f"磁盘已满{full_zh}（{zh}）；请清理数据库所在磁盘的空间 "
            f"disk full: {full} ({text_}): free space on the database's disk"
        )
    if failed.kind == "conflict":
        return (
            f"数据库繁忙（{zh}）：未写入任何内容，请重新发送 "
            f"{text_}: nothing was written, send it again"
        )
    if failed.kind != "unavailable":
        return f"{zh} {text_}"
    s = settings or get_settings()
    external = bool(s.database_url)
    if not external:
        from geo.embedded import login_refused_message, refusal

        why = refusal(Exception(failed.line))
        if why is not None:
            return login_refused_message(s.data_dir, why)
    hint, hint_zh, tag = connection_remedy(failed.line)
    tag = tag or "无法连接数据库"
    if not external:
        return f"{tag}（{zh}） {text_}"
    return f"{tag}（{zh}）：{hint_zh} {text_} ({hint})"


_CUT_OFF = "server closed the connection unexpectedly"
_NO_SPACE = "No space left on device"
_SAYS = " says: "


def _log_of(full: str) -> str:
    """The log file a :func:`disk_full` answer names ("…/postgres.log says: …")."""
    return full.split(_SAYS, 1)[0]


def disk_full(words: str, settings: Settings | None = None) -> str | None:
    """Where the disk is full, when ``words`` (an error) say so, or the embedded cluster's
    last log lines do after a cut connection (the server PANICs and restarts on a full disk;
    its client only sees the connection closed); else None. WHY: a restore on a full disk
    read "无法连接数据库 … server closed the connection unexpectedly" (outside tester, item 2)."""
    if "DiskFull" in words or _NO_SPACE in words:
        return _NO_SPACE
    if _CUT_OFF not in words:
        return None
    s = settings or get_settings()
    if s.database_url:
        return None
    log = Path(s.data_dir) / "postgres.log"
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 8192))
            tail = fh.read().decode("utf-8", "replace").splitlines()[-30:]
    except OSError:
        return None
    hit = next((ln for ln in reversed(tail) if _NO_SPACE in ln), None)
    return f"{log}{_SAYS}{hit.strip()}" if hit else None


# "full": under 64 MB free (a few WAL segments of 16 MB: writes are about to fail) and under
# a twentieth of the disk; "nearly full": under 1 GB and under a tenth of it (a 300 MB disk is
# full under 15 MB, nearly so under 30 MB) (T47 #3)
DISK_FULL_BYTES = 64_000_000
DISK_LOW_BYTES = 1_000_000_000


class DiskSpace(NamedTuple):
    """The free and total bytes of the disk holding a folder, and how full it is: ``full``
    (writes fail), ``low`` (nearly full) or None."""

    free: int
    total: int
    level: str | None


def disk_space(path: Path) -> DiskSpace | None:
    """The space on the disk holding ``path`` (None when it cannot be read). WHY: a full
    data folder's disk made every upload fail while ``db status`` said 运行中 with no word of
    it (T47 #3)."""
    import shutil

    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    level = None
    if usage.free < min(DISK_FULL_BYTES, usage.total // 20):
        level = "full"
    elif usage.free < min(DISK_LOW_BYTES, usage.total // 10):
        level = "low"
    return DiskSpace(usage.free, usage.total, level)


def data_disk_full(settings: Settings | None = None) -> bool:
    """Whether the embedded cluster's disk is full now (False with DATABASE_URL: its disk is
    not this machine's to look at)."""
    s = settings or get_settings()
    if s.database_url:
        return False
    space = disk_space(Path(s.data_dir))
    return space is not None and space.level is not None


# how long :func:`down_hint`'s look at the embedded cluster is reused: the API logs a warning
# per failed request, and each look runs pg_ctl
_DOWN_HINT_TTL_S = 10.0
_down_hint: tuple[float, str] | None = None


def down_hint(settings: Settings | None = None) -> str:
    """What to run when the database is unavailable: "" with DATABASE_URL, or while the
    embedded cluster runs (a restart, a passing fault); else the line naming ``gridward db
    start``. Looked at most every :data:`_DOWN_HINT_TTL_S` s. WHY (T68 #6): after the embedded
    cluster died under a running API, its log repeated "数据库不可用 database unavailable"
    and never said how to bring it back."""
    global _down_hint
    now = time.monotonic()
    if _down_hint is not None and now - _down_hint[0] < _DOWN_HINT_TTL_S:
        return _down_hint[1]
    s = settings or get_settings()
    hint = ""
    if not s.database_url:
        cluster = embedded_cluster(s)
        try:
            down = (cluster.pgdata / "PG_VERSION").exists() and not cluster.is_running()
        except Exception:  # noqa: BLE001 (a hint only: pg_ctl missing, the folder unreadable)
            down = False
        if down:
            hint = (
                f"内置数据库未运行（数据文件夹 {cluster.pgdata}）：请运行 'gridward db start' "
                f"启动它 the embedded database is not running (data folder {cluster.pgdata}): "
                "start it with 'gridward db start'"
            )
    _down_hint = (now, hint)
    return hint


def down_note() -> str:
    """``；`` and :func:`down_hint`, or "": the end of a "database unavailable" log line.
    A hint only: a failure to look (pg_ctl missing) never costs the line."""
    try:
        hint = down_hint()
    except Exception:  # noqa: BLE001
        return ""
    return f"；{hint}" if hint else ""


class Client(NamedTuple):
    """A program connected to the database, as a refusal names it: ``en`` ("gridward serve
    [4242] from 127.0.0.1 on database gridward, backend pid 5151") and ``zh`` ("gridward
    serve [4242]，来自 127.0.0.1，数据库 gridward，后端进程号 5151")."""

    en: str
    zh: str

    @classmethod
    def of(cls, app: str, addr: str, db: str | None = None, pid: int | None = None) -> Client:
        """A program by its application name, address and (when told) database and server
        process (``pg_stat_activity.pid``). WHY the pid (T68 #15): a program that sets no
        application name (an older gridward, a script) read ``?，来自 local``, which nobody
        could look up; the pid is in pg_stat_activity and ``ps``, and ends it
        (``SELECT pg_terminate_backend(pid)``)."""
        en, zh = f"{app} from {addr}", f"{app}，来自 {addr}"
        if db is not None:
            en, zh = f"{en} on database {db}", f"{zh}，数据库 {db}"
        if pid is not None:
            en, zh = f"{en}, backend pid {pid}", f"{zh}，后端进程号 {pid}"
        return cls(en, zh)


def clients_shown(found: list[Client]) -> tuple[str, str]:
    """The programs of ``found`` once each, at most 5, in English and in Chinese ("；"
    between them: each has its "，")."""
    seen = sorted(set(found))
    more = len(seen) > 5
    en = ", ".join(c.en for c in seen[:5]) + (", …" if more else "")
    zh = "；".join(c.zh for c in seen[:5]) + ("；等" if more else "")
    return en, zh


_UNCHANGED_ZH = "未作任何更改"


def refuse_if_in_use(
    clients: Callable[[], list[Client]], where: str, then: str, where_zh: str, then_zh: str
) -> None:
    """Refuse (ConflictError 数据库正在使用, naming them) while ``clients()`` lists other
    programs connected to ``where``; ``then`` is what the admin runs after stopping them
    (``where_zh``, ``then_zh``: the same in Chinese, "数据库 'gridward' ", "再运行 …").
    WHY: uploads the API answered 202 to during a restore went into the database that was
    then dropped, and ``db start --adopt`` stopped a cluster under a running API (outside
    tester Z2). A program that just disconnected may linger a moment: asked again for 2 s."""
    found: list[Client] = []
    for attempt in range(10):
        found = clients()
        if not found:
            return
        if attempt < 9:
            time.sleep(0.2)
    en, zh = clients_shown(found)
    raise ConflictError(
        f"数据库正在使用：{where_zh}还有 {len(found)} 个其他连接：{zh}。{_UNCHANGED_ZH}；"
        f"请先停止 API（gridward serve）和所有 gridward tracks worker，然后{then_zh}。 "
        f"{len(found)} other connection(s) to {where} "
        f"({en}): nothing was changed; stop "
        f"the API (gridward serve) and every gridward tracks worker first, then {then}"
    )
