"""The embedded PostgreSQL + PostGIS cluster that gridward starts by itself.

Why our own cluster: a planner or a CI machine gets a real spatial database with no set-up
beyond the Debian packages, and tests never fall back to SQLite or mocks. The cluster lives in a
data folder (``<data_dir>/pg``), listens on 127.0.0.1 only, on a free port remembered between
runs, and is reused when it is already running.

PostgreSQL refuses to run as root. When gridward runs as root (CI does), the server runs as the
unprivileged ``postgres`` user that the Debian package creates (or a ``gridward`` system user made
on demand), and the data folder is handed to that user. As a normal user, the server runs as that
user.

A real cluster (``pg/PG_VERSION``) is never deleted: one whose ``cluster.json`` is missing or
unreadable, or whose stored login it refuses, is refused (or taken back with ``adopt``); only an
interrupted initdb is redone. A new cluster is made only where the caller asks (``create``: the
commands that set things up), never by a command that only reads. Starts and stops of one data
folder take turns (a file lock).

Two logins (T42 #4): initdb's bootstrap role ``gridward`` is a superuser and is kept for what
only a superuser may do to the cluster (create the database and PostGIS, hand objects over,
rename and drop databases in a restore, ``adopt``); the API, the CLI and the migrations log in
as ``gridward_app``, which owns the database and every object of the app and is nothing more
(NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION). WHY: as a superuser, any SQL injection
was a shell (``COPY … TO PROGRAM``), ``ALTER SYSTEM`` and every file of the server. A cluster
made by an older gridward (one login in cluster.json) is upgraded on its next start
(:meth:`EmbeddedCluster._ensure_app_role`).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from geo.db import Client, refuse_if_in_use, say
from geo.errors import ConflictError, SetupError
from geo.library_words import connection_zh
from geo.settings import city_now

DEBIAN_PACKAGES = "postgresql-15 postgresql-15-postgis-3"
_DB_NAME = "gridward"
_DB_USER = "gridward"
# the app's login: owns the database and its objects, not a superuser (T42 #4)
_APP_USER = "gridward_app"
_APP_ROLE_RIGHTS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
_STATE_FILE = "cluster.json"
# written beside pg/ while initdb runs: only a folder marked so (or without PG_VERSION) is a
# half-made cluster that may be deleted
_INIT_MARKER = "initdb-in-progress"
# written beside pg/ by ``gridward db stop``: a command that only reads does not start the
# cluster again while it is there (see EmbeddedCluster.stop_by_admin)
_STOP_MARKER = "stopped-by-admin.json"


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL server programs and the PostGIS extension are."""

    bindir: Path
    version: int

    def __getitem__(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass
class ClusterState:
    """What we remember about a cluster between runs (kept beside the data folder)."""

    port: int
    password: str  # the cluster's superuser (``user``): administration only
    user: str = _DB_USER
    database: str = _DB_NAME
    # the app's login (None in a cluster.json of an older gridward, until its next start)
    app_user: str | None = None
    app_password: str | None = None

    @property
    def url(self) -> str:
        """The app's URL (the role that owns the database, not a superuser); the
        superuser's only in a cluster.json not upgraded yet."""
        if self.app_user and self.app_password:
            return self._url(self.app_user, self.app_password)
        return self.admin_url

    @property
    def admin_url(self) -> str:
        """The cluster's superuser: creating databases and extensions, ``adopt``, restore's
        swap. Never for the app."""
        return self._url(self.user, self.password)

    def _url(self, user: str, password: str) -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{self.database}"


# the server's words when it refuses a login (not when it is away): waiting cannot mend them
_REFUSED = re.compile(
    r"password authentication failed|role \".*\" does not exist|no pg_hba\.conf entry"
)
# a client backend's process title: "postgres: [cluster: ]USER DATABASE HOST(PORT) STATE"
_BACKEND_TITLE = re.compile(r"^postgres: (?:\S+: )?(\S+) (\S+) (\S+)\(\d+\)")


# where the running processes are listed (a name, so a test can hide them as hidepid does)
PROC = Path("/proc")


def _unused_name(path: Path) -> Path:
    """``path``, or ``path.2``, ``path.3`` … the first that does not exist yet."""
    n = 1
    found = path
    while found.exists():
        n += 1
        found = path.with_name(f"{path.name}.{n}")
    return found


def login_refused_message(data_dir: Path, why: str) -> str:
    """The one line for an embedded cluster that refuses the login in its cluster.json. WHY:
    a stale but valid cluster.json (an old copy, a cluster restored or replaced by hand, its
    port now another server's) ended in psycopg's bare "password authentication failed"
    (outside tester Z2, N6). The server's words in Chinese in the Chinese (T37 F13)."""
    why_zh = connection_zh(why)
    return (
        f"数据库拒绝登录：内置数据库拒绝了 {data_dir / _STATE_FILE} 中保存的登录（{why_zh}），"
        f"该文件与 {data_dir / 'pg'} 中的数据库集群不符。"
        "请检查 GRIDWARD_DATA_DIR 是否指向正确的文件夹；"
        "若正确，请运行 'gridward db start --adopt' 接管该集群（为它的 gridward 角色设置新密码），"
        "然后重启仍使用旧网址的程序 "
        f"the embedded database refused the login stored in "
        f"{data_dir / _STATE_FILE} ({why}): that file does not match the cluster in "
        f"{data_dir / 'pg'}. Check that GRIDWARD_DATA_DIR names the right folder; if it does, "
        "run 'gridward db start --adopt' to take the cluster back with a new password for its "
        "gridward role (then restart programs holding the old URL)"
    )


class LoginRefused(SetupError):
    """The embedded cluster (or a server on its port) refused the stored login."""

    def __init__(self, data_dir: Path, why: str) -> None:
        super().__init__(login_refused_message(data_dir, why))
        self.why = why


class ClusterStopped(SetupError):
    """A command that only reads, on a cluster stopped with ``gridward db stop``: nothing was
    started. A watching worker waits for ``db start`` (geo.match_queue.outage)."""


def refusal(exc: BaseException) -> str | None:
    """The server's words when ``exc`` is a refused login (a wrong password, an unknown role,
    no pg_hba entry), else None."""
    text = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    if not _REFUSED.search(text):
        return None
    return " ".join(text.rsplit("FATAL:", 1)[-1].split())


def find_binaries() -> PgBinaries:
    """Locate PostgreSQL ≥ 13 server binaries that have PostGIS 3 next to them.

    Raises SetupError with the Debian packages to install when either is missing.
    """
    candidates: list[tuple[int, Path]] = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            candidates.append((int(d.parent.name), d))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            ver = subprocess.run([pg_config, "--version"], capture_output=True, text=True)
            candidates.append((int(ver.stdout.split()[1].split(".")[0]), Path(out.stdout.strip())))
    usable = [
        (v, d)
        for v, d in sorted(candidates, reverse=True)
        if v >= 13 and all((d / p).exists() for p in ("initdb", "pg_ctl", "postgres"))
    ]
    if not usable:
        raise SetupError(
            f"缺少软件包：未找到 PostgreSQL 服务器程序；请安装 Debian 软件包 '{DEBIAN_PACKAGES}'"
            f"（apt-get install -y {DEBIAN_PACKAGES}），或设置 DATABASE_URL "
            "PostgreSQL server binaries not found: install the Debian packages "
            f"'{DEBIAN_PACKAGES}' (apt-get install -y {DEBIAN_PACKAGES}) or set DATABASE_URL"
        )
    for version, bindir in usable:
        if _postgis_installed(version):
            return PgBinaries(bindir=bindir, version=version)
    version = usable[0][0]
    raise SetupError(
        f"缺少软件包：PostgreSQL {version} 没有安装 PostGIS；请安装 Debian 软件包 "
        f"'postgresql-{version}-postgis-3'（apt-get install -y postgresql-{version}-postgis-3），"
        "或设置 DATABASE_URL "
        f"PostGIS is not installed for PostgreSQL {version}: install the Debian package "
        f"'postgresql-{version}-postgis-3' (apt-get install -y postgresql-{version}-postgis-3) "
        "or set DATABASE_URL"
    )


def _postgis_installed(version: int) -> bool:
    share = Path(f"/usr/share/postgresql/{version}/extension")
    return any(share.glob("postgis.control"))


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "gridward"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "gridward"],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(
            "权限不足：以 root 运行，且没有可以运行 PostgreSQL 的普通用户；请创建 'postgres' 用户"
            f"（apt-get install postgresql-15 会创建它）（{exc}） "
            "running as root and no unprivileged user to run PostgreSQL: create the "
            f"'postgres' user (apt-get install postgresql-15 does) ({exc})"
        ) from None
    return pwd.getpwnam("gridward")


class EmbeddedCluster:
    """A PostgreSQL + PostGIS cluster in ``data_dir/pg`` that gridward manages itself."""

    def __init__(self, data_dir: Path, port: int | None = None, fast: bool = False) -> None:
        """``fast`` turns off fsync for throwaway test clusters (never for real data)."""
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pg"
        self.logfile = self.data_dir / "postgres.log"
        self.state_file = self.data_dir / _STATE_FILE
        self.requested_port = port
        self.fast = fast
        self._bins: PgBinaries | None = None
        self._user = _server_user()
        # what the last start() did: started the server, after an unclean stop (T47 #12)
        self.started = False
        self.recovered = False

    # -- helpers ---------------------------------------------------------------------------
    @property
    def bins(self) -> PgBinaries:
        if self._bins is None:
            self._bins = find_binaries()
        return self._bins

    def _run(
        self,
        args: list[str],
        check: bool = True,
        timeout: float = 120,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess:
        kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout, "cwd": "/"}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
            kwargs["env"] = {**os.environ, "HOME": self._user.pw_dir or "/tmp"}
        proc = subprocess.run(args, input=stdin, **kwargs)
        if check and proc.returncode != 0:
            elsewhere = self._running_elsewhere(proc.stderr + proc.stdout)
            if elsewhere is not None:  # adopt's single-user run
                raise elsewhere
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit code {proc.returncode}"
            tool = Path(args[0]).name
            raise SetupError(
                f"数据库命令失败：{tool} 出错：{tail}（日志：{self.logfile}） "
                f"{tool} failed: {tail} (log: {self.logfile})"
            )
        return proc

    def _running_elsewhere(self, output: str) -> SetupError | None:
        """The refusal when PostgreSQL's ``output`` says the cluster runs in a process this
        one cannot see (another container or PID namespace: ``pg_ctl status`` said "not
        running"), else None. WHY: start and adopt ended in "PostgreSQL did not start" and a
        shared-memory line (re-tester T35, F4)."""
        if "pre-existing shared memory block" not in output and (
            'file "postmaster.pid" already exists' not in output
        ):
            return None
        return self.elsewhere_error()

    def runs_elsewhere(self) -> bool:
        """Whether a cluster pg_ctl says is not running (the caller asked it) seems to run
        where this process cannot see it: its postmaster.pid is there and its port taken.
        WHY: in another container, `db status` said "stopped" and `db stop` "not running"
        of a cluster that ran, and the admin might copy its folder (re-tester T36)."""
        state = self.read_state()
        return (
            state is not None
            and (self.pgdata / "postmaster.pid").exists()
            and not _port_free(state.port)
        )

    def elsewhere_error(self) -> SetupError:
        """The refusal when the cluster runs in a process this one cannot see."""
        pid = "?"
        with contextlib.suppress(OSError, IndexError):
            pid = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        return SetupError(
            f"数据库已在别处运行：{self.pgdata} 中的数据库集群已在运行，但所在进程本进程看不到"
            f"（postmaster.pid 记的进程号为 {pid}：另一个容器或 PID 命名空间）；未作任何更改。请在"
            "它运行的地方停止它（在那里运行 'gridward db stop'），或就在那里使用它 "
            f"the cluster in {self.pgdata} is already running, in a process "
            f"this one cannot see (postmaster.pid names pid {pid}: another container or PID "
            "namespace): nothing was changed; stop it where it runs ('gridward db stop' "
            "there), or use it from there"
        )

    def _give_to_server_user(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _prepare_log(self) -> None:
        """postgres.log made and given to the server user, as for a new cluster. WHY: a data
        folder copied back as root kept a root-owned log, and pg_ctl failed on it with a
        chown hint for pg/ that did not help (outside tester, item 5)."""
        if self._user is None:
            if self.logfile.exists() and not os.access(self.logfile, os.W_OK):
                user = self._server_user_name()
                raise SetupError(
                    f"权限不足：数据库日志 {self.logfile} 不能由 {user} 写入，请把它交给 {user}"
                    f"（chown {user}: {self.logfile}） "
                    f"the server log {self.logfile} is not writable by "
                    f"{user}: chown {user}: "
                    f"{self.logfile}"
                )
            return
        self.logfile.touch()
        self._give_to_server_user(self.logfile)

    def _server_user_name(self) -> str:
        return self._user.pw_name if self._user else pwd.getpwuid(os.geteuid()).pw_name

    def _chown_hint(self) -> str:
        name = self._server_user_name()
        return f"chown -R {name}: {self.pgdata}"

    def _check_owner(self) -> None:
        """The server refuses a data folder it does not own (one copied back as root, say):
        say whose it is and the chown that fixes it, not pg_ctl's 'Permission denied'."""
        want = self._user.pw_uid if self._user else os.geteuid()
        try:
            owner = self.pgdata.stat().st_uid
        except FileNotFoundError:
            return
        if owner != want:
            try:
                who = pwd.getpwuid(owner).pw_name
            except KeyError:
                who = f"uid {owner}"
            user, hint = self._server_user_name(), self._chown_hint()
            raise SetupError(
                f"权限不足：数据文件夹 {self.pgdata} 属于 {who}，而此处 PostgreSQL 以 {user} 身份"
                f"运行，请改正它的所有者（{hint}） "
                f"the data folder {self.pgdata} belongs to {who}, but PostgreSQL runs "
                f"as {user} here: {hint}"
            )

    def _check_path_reachable(self) -> None:
        """As root, the server user must be able to walk down to the data folder."""
        if self._user is None:
            return
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent.stat().st_uid != self._user.pw_uid:
                raise SetupError(
                    f"权限不足：PostgreSQL 用户 '{self._user.pw_name}' 无法进入 {parent}；请把 "
                    "GRIDWARD_DATA_DIR 设为它之外的文件夹（如 /var/lib/gridward） "
                    f"the PostgreSQL user '{self._user.pw_name}' cannot enter {parent}: "
                    "set GRIDWARD_DATA_DIR to a folder outside it (e.g. /var/lib/gridward)"
                )

    def check_folder(self) -> None:
        """GRIDWARD_DATA_DIR (or a folder above it) must not be a file. WHY: a file given as
        the data folder ended in a bare "File exists" (outside tester Z2)."""
        for path in (self.data_dir, *self.data_dir.parents):
            if path.exists():
                if not path.is_dir():
                    raise SetupError(
                        f"数据文件夹有误：数据文件夹 {self.data_dir} 中的 {path} 是文件，不是"
                        "文件夹；请把 GRIDWARD_DATA_DIR 设为一个文件夹（不存在时会新建） "
                        f"the data folder {self.data_dir}: {path} is a file, not a "
                        "folder: set GRIDWARD_DATA_DIR to a folder (made if missing)"
                    )
                break
        # WHY: GRIDWARD_DATA_DIR set to the pg folder itself made a new, empty cluster nested
        # inside the real PGDATA (outside tester, item 6)
        with contextlib.suppress(OSError):
            if (self.data_dir / "PG_VERSION").exists():
                raise SetupError(
                    f"数据文件夹有误：{self.data_dir} 是数据库集群的 pg 文件夹（含 PG_VERSION），"
                    "不是 gridward 的数据文件夹；请把 GRIDWARD_DATA_DIR 设为它的上一级 "
                    f"{self.data_dir.parent} "
                    f"{self.data_dir} is the cluster's pg folder (it holds "
                    "PG_VERSION), not gridward's data folder: set GRIDWARD_DATA_DIR to its "
                    f"parent {self.data_dir.parent}"
                )

    def state_and_problem(self) -> tuple[ClusterState | None, str]:
        """The remembered state, or None and why not ("missing", or what did not parse)."""
        self.check_folder()
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, "missing"
        except (OSError, ValueError) as exc:
            return None, f"unreadable: {exc}"
        known = {f.name for f in fields(ClusterState)}
        if not isinstance(data, dict):
            return None, "unreadable: not a JSON object"
        port, password = data.get("port"), data.get("password")
        if not (isinstance(port, int) and 0 < port < 65536 and isinstance(password, str)):
            return None, "unreadable: no valid port and password"
        # keys from a newer gridward are ignored, never a reason to think the cluster is gone
        kept = {k: v for k, v in data.items() if k in known}
        if not all(isinstance(kept.get(k), str) for k in ("app_user", "app_password")):
            # no app login (an older gridward's file) or an odd one: made again at start
            kept.pop("app_user", None)
            kept.pop("app_password", None)
        return ClusterState(**kept), ""

    def read_state(self) -> ClusterState | None:
        """The remembered state, or None (missing or unreadable: see state_and_problem)."""
        return self.state_and_problem()[0]

    def _write_state(self, state: ClusterState) -> None:
        data = {k: v for k, v in state.__dict__.items() if v is not None}
        _write_json(self.state_file, data, mode=0o600)

    def _has_cluster(self) -> bool:
        """A real cluster is in pg/: PG_VERSION and no mark of an initdb still running."""
        return (self.pgdata / "PG_VERSION").exists() and not (self.data_dir / _INIT_MARKER).exists()

    def lost_state_error(self, why: str) -> SetupError:
        """The refusal for a real cluster whose cluster.json is missing or unreadable."""
        # T47 #9: a file that is there but does not parse is 已损坏, not 丢失 (missing)
        tag = "数据库配置文件已损坏"
        if why == "missing":
            tag = "数据库配置文件丢失"
        elif "[Errno" in why:  # there, whole perhaps, but not readable to this user
            tag = "数据库配置文件无法读取"
        return SetupError(
            f"{tag}：{self.state_file} {_why_zh(why)}；{self.pgdata} 中的数据库已"
            "保留，未删除任何内容。请从备份恢复 cluster.json，或运行 "
            "'gridward db start --adopt' 接管该集群（为它的 gridward 角色设置新密码；仍使用旧网址"
            "的程序须重启） "
            f"{self.state_file} is {why}; the database in {self.pgdata} is "
            "kept, nothing was deleted: restore cluster.json from a backup, or run "
            "'gridward db start --adopt' to take the cluster back (a new password for its "
            "gridward role; programs holding the old URL must be restarted)"
        )

    def no_database_error(self, name: str) -> SetupError:
        """The refusal of a command that only reads, on a running cluster whose database was
        dropped. WHY: reads made it again, empty, and a nightly ``db backup`` then wrote an
        empty backup over good ones (outside tester, item 1)."""
        return SetupError(
            f"数据库不存在：{self.pgdata} 的数据库集群中没有数据库 '{name}'；未新建任何内容。请用 "
            "'gridward db restore FILE' 恢复它，或运行 'gridward db start' 新建一个空的 "
            f"the database '{name}' is missing from the cluster in {self.pgdata}: "
            "nothing was made; bring it back with 'gridward db restore FILE', or run "
            "'gridward db start' to make it empty"
        )

    def no_cluster_error(self) -> SetupError:
        """The refusal of a command that does not create a cluster, on a folder without one.
        WHY: a mistyped GRIDWARD_DATA_DIR made a new, empty cluster, and a report from cron
        printed an empty table (outside tester Z2, N8)."""
        return SetupError(
            f"数据库不存在：{self.data_dir} 中没有 gridward 数据库；请先运行 'gridward db start'"
            "（或 'gridward demo'），或把 GRIDWARD_DATA_DIR 设为存放它的文件夹，或设置 "
            "DATABASE_URL "
            f"no gridward database in {self.data_dir}: run 'gridward db start' (or "
            "'gridward demo') first, or set GRIDWARD_DATA_DIR to the folder that holds it, or "
            "DATABASE_URL"
        )

    # -- lifecycle -------------------------------------------------------------------------
    def initialized(self) -> bool:
        return self._has_cluster() and self.read_state() is not None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One start/stop at a time per data folder. WHY: two `db start` at once on an empty
        folder both ran initdb into the same pg/, and one failed."""
        self.check_folder()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def init(self, adopt: bool = False) -> ClusterState:
        """Create the cluster (initdb) with a random password; does nothing if it exists.

        A real cluster (PG_VERSION) is never deleted: without a readable cluster.json it is
        refused, or with ``adopt`` taken back under a new password; ``adopt`` with a valid
        cluster.json takes it back only when its login is refused (tried)."""
        try:
            real = self._has_cluster()
        except PermissionError:  # pg/ of another user, unreadable to us
            self._check_owner()
            raise
        if real:
            self._check_owner()
            state, why = self.state_and_problem()
            if state is not None:
                if not adopt:
                    return state
                refused = self._stored_login_refused(state)
                if refused is None:
                    raise ConflictError(
                        f"无需接管：gridward 能用 {self.state_file} 登录；--adopt 只用于 "
                        "cluster.json 丢失、无法读取或被数据库集群拒绝的情况（它会停止集群并设置"
                        "新密码，正在运行的 API 会被断开） "
                        f"nothing to adopt: gridward logs in with {self.state_file}; "
                        "--adopt is only for a cluster.json that is lost, unreadable or "
                        "refused by the cluster (it stops the cluster and sets a new password, "
                        "cutting off the running API)"
                    )
                say(
                    f"登录被拒：数据库集群拒绝了 {self.state_file} 中的登录（{refused}） "
                    f"the cluster refused the login in {self.state_file} ({refused})"
                )
                return self._adopt(".refused")
            if not adopt:
                raise self.lost_state_error(why)
            return self._adopt(".unreadable")
        if adopt:
            raise self._nothing_to_adopt()
        bins = self.bins
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_path_reachable()
        marker = self.data_dir / _INIT_MARKER
        if self.pgdata.exists():  # a half-made cluster from an interrupted init
            shutil.rmtree(self.pgdata)
        say(
            f"新建数据库：正在 {self.pgdata} 中新建数据库集群 "
            f"creating a new database cluster in {self.pgdata}"
        )
        marker.touch()
        self.pgdata.mkdir(mode=0o700)
        self._give_to_server_user(self.pgdata)
        self.logfile.touch()
        self._give_to_server_user(self.logfile)
        password = secrets.token_urlsafe(24)
        with tempfile.NamedTemporaryFile("w", delete=False, dir=self.data_dir) as fh:
            fh.write(password + "\n")
            pwfile = Path(fh.name)
        self._give_to_server_user(pwfile)
        try:
            self._run(
                [
                    bins["initdb"],
                    "-D",
                    str(self.pgdata),
                    "-U",
                    _DB_USER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-instructions",
                    # a throwaway test cluster: its files not flushed to disk (~1.5 s each)
                    *(["--no-sync"] if self.fast else []),
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        state = ClusterState(port=self.requested_port or _free_port(), password=password)
        self._write_state(state)
        marker.unlink()
        return state

    def _nothing_to_adopt(self) -> ConflictError:
        return ConflictError(
            f"无需接管：{self.pgdata} 中没有数据库集群；请不带 --adopt 运行 'gridward db start' "
            "新建一个，或把 GRIDWARD_DATA_DIR 设为存放该集群的文件夹 "
            f"nothing to adopt: there is no database cluster in {self.pgdata}: "
            "run 'gridward db start' without --adopt to create one, or set "
            "GRIDWARD_DATA_DIR to the folder that holds the cluster"
        )

    def _stored_login_refused(self, state: ClusterState) -> str | None:
        """Why the cluster refuses the login in cluster.json (tried: a stopped cluster is
        started for it, and stopped again when the login works), or None when it works. WHY:
        only then may ``adopt`` stop a cluster with a valid cluster.json (N4: adopting a
        healthy one cut off the running API; N6: a stale one could not be adopted)."""
        import psycopg

        if not self.is_running():
            try:
                self._start_server(state)
            except LoginRefused as exc:
                # stopped again, as it was found: nobody can be connected to a cluster that
                # was stopped, so adopt needs no look at who is (re-tester T35: it asked /proc
                # about the server it had just started, and refused under hidepid for good)
                if self.is_running():
                    self._stop_server()
                return exc.why
            self._stop_server()  # as it was found
            return None
        try:
            self._connect(state, "postgres").close()
        except LoginRefused as exc:
            return exc.why
        except psycopg.OperationalError as exc:
            if "Connection refused" not in str(exc):
                raise
            # this cluster runs, but not on the stored port: the file is an old copy
            return f"nothing answers on port {state.port}"
        return None

    def _client_backends(self) -> list[Client]:
        """Who is connected to the running cluster, read from its processes' titles. WHY not
        pg_stat_activity: ``adopt`` has no login that works (that is why it adopts)."""
        try:
            postmaster = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        except OSError:
            return []
        if not (PROC / postmaster).exists():
            # the server runs (pg_ctl said so) but its process is hidden (/proc mounted with
            # hidepid, another user's server): nobody would be found, and adopt went ahead
            # and cut off whoever was connected (tester Z3)
            raise SetupError(
                f"无法检查连接：看不到 {self.pgdata} 中数据库集群的进程（服务器进程 {postmaster} "
                f"不在 {PROC} 中：/proc 以 hidepid 挂载，或是其他用户的服务器），因此无法检查谁在"
                "连接；未作任何更改。请先停止 API 和所有 tracks worker，再运行 'gridward db "
                "stop'，然后运行 'gridward db start --adopt' "
                f"cannot see the processes of the cluster in {self.pgdata} "
                f"(server pid {postmaster} is not in {PROC}: /proc mounted with hidepid, or "
                "another user's server), so who is connected cannot be checked: nothing was "
                "changed; stop the API and every tracks worker, then 'gridward db stop', "
                "then 'gridward db start --adopt'"
            )
        found = []
        for proc in PROC.glob("[0-9]*"):
            try:
                stat = (proc / "stat").read_text()
                title = (
                    (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                )
            except OSError:  # ended meanwhile
                continue
            if stat.rsplit(")", 1)[-1].split()[1] != postmaster:  # field 4: the parent's pid
                continue
            m = _BACKEND_TITLE.match(title.strip())
            if m:  # the backend's pid: the process found (T68 #15)
                found.append(
                    Client(
                        f"{m[1]} on database {m[2]} from {m[3]}, backend pid {proc.name}",
                        f"用户 {m[1]}，来自 {m[3]}，数据库 {m[2]}，后端进程号 {proc.name}",
                    )
                )
        return found

    def _adopt(self, keep_as: str) -> ClusterState:
        """Take back a real cluster whose cluster.json was lost, or is refused: a new password
        for the gridward role, set in single-user mode (no password needed; the data is
        untouched). The old cluster.json is kept beside, named ``cluster.json<keep_as>``.
        Refused while other programs are connected (they would be cut off)."""
        if self.is_running():
            refuse_if_in_use(
                self._client_backends,
                f"the cluster in {self.pgdata}",
                "adopt",
                f"{self.pgdata} 中的数据库集群",
                "再接管（gridward db start --adopt）",
            )
            self._stop_server()
            say(
                "已停止数据库：为接管而停止了正在运行的集群 stopped the running cluster to adopt it"
            )
        password = secrets.token_urlsafe(24)
        out = self._run(
            [self.bins["postgres"], "--single", "-D", str(self.pgdata), "postgres"],
            stdin=f"ALTER ROLE \"{_DB_USER}\" WITH LOGIN PASSWORD '{password}'\n",
        )
        if "ERROR" in out.stdout + out.stderr:
            last = (out.stdout + out.stderr).strip().splitlines()[-1]
            raise SetupError(
                f"无法接管数据库：无法在 {self.pgdata} 中为角色 '{_DB_USER}' 设置密码（{last}） "
                f"could not set the password of role '{_DB_USER}' in "
                f"{self.pgdata}: {last}"
            )
        if self.state_file.exists():
            kept = _unused_name(self.state_file.with_name(_STATE_FILE + keep_as))
            self.state_file.replace(kept)
            say(f"旧登录文件已保留为 {kept.name} the old cluster.json is kept as {kept.name}")
        state = ClusterState(port=self.requested_port or _free_port(), password=password)
        self._write_state(state)
        return state  # 已接管 is said by start(), once the cluster runs with it

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        proc = self._run([self.bins["pg_ctl"], "-D", str(self.pgdata), "status"], check=False)
        return proc.returncode == 0

    def start(self, adopt: bool = False, create: bool = True, quiet: bool = False) -> ClusterState:
        """Start (initialising first if needed) and return the connection state; reuse if up.
        ``adopt``: see :meth:`init`. Without ``create``, a folder with no cluster is refused
        (:meth:`no_cluster_error`) and left as it was. ``quiet``: a missing database is made
        without the 新建空数据库 line (a restore, about to fill it)."""
        self.check_folder()
        if not create or adopt:
            # before the lock, which makes the folder (a mistyped folder given to --adopt was
            # left made, with a lock file: re-tester T35); pg/ of another user: init says whose
            with contextlib.suppress(PermissionError):
                if not self._has_cluster():
                    raise self._nothing_to_adopt() if adopt else self.no_cluster_error()
        if self.requested_port and not _port_free(self.requested_port):
            # before anything is made (the lock makes the folder): WHY (T68 #17) initdb ran
            # first, the start then failed on the port, and a cluster with no database was
            # left behind. A cluster of this folder on that port has PG_VERSION by then.
            with contextlib.suppress(PermissionError):
                if not self._has_cluster():
                    raise self.port_taken_error(self.requested_port)
        with self._locked():
            new = not self._has_cluster()
            if new and not create and not adopt:
                raise self.no_cluster_error()
            state = self.init(adopt=adopt)
            self.started = self.recovered = False
            if not self.is_running():
                stopped = self.stopped_by_admin()
                if stopped is not None and not create and not adopt:
                    raise self.stopped_error(stopped)
                crashed = stopped is None and self.crashed()
                self._start_server(state)
                self.started, self.recovered = True, crashed
            self.stop_marker.unlink(missing_ok=True)
            self._ensure_database(state, quiet=new or quiet, create=create or adopt)
            if adopt:  # WHY after: it said so, then the start failed (outside tester, item 5)
                say(
                    f"已接管数据库：{self.pgdata} 中的数据库集群 "
                    f"adopted the cluster in {self.pgdata}"
                )
            return state

    def _start_server(self, state: ClusterState) -> None:
        if self.requested_port:
            state.port = self.requested_port
        elif not _port_free(state.port):
            old, state.port = state.port, _free_port()
            say(
                f"端口已变更：端口 {old} 已被占用，内置数据库改为监听 {state.port}；请重启仍使用"
                "旧网址的程序，或设置 GRIDWARD_PG_PORT 固定一个端口 "
                f"port {old} is in use: the embedded database now listens on "
                f"{state.port}; restart programs that use the old URL, or set "
                "GRIDWARD_PG_PORT to keep one port"
            )
        self._write_state(state)
        self._prepare_log()
        opts = [
            f"-p {state.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=100",
        ]
        if self.fast:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        log_start = self.logfile.stat().st_size if self.logfile.exists() else 0
        proc = self._run(
            [
                self.bins["pg_ctl"],
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "90",
                "-o",
                " ".join(opts),
                "start",
            ],
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            raise self._start_failure(state, proc, log_start)
        self._wait_ready(state)

    def _start_failure(
        self, state: ClusterState, proc: subprocess.CompletedProcess, log_start: int
    ) -> SetupError:
        """Why the server did not start, from pg_ctl and this start's lines of postgres.log.
        WHY: pg_ctl only says 'Examine the log output'."""
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        with contextlib.suppress(OSError), open(self.logfile, "rb") as fh:
            fh.seek(log_start)
            lines += fh.read().decode("utf-8", "replace").splitlines()
        text = "\n".join(lines)
        if "Address already in use" in text or "could not bind" in text:
            return self.port_taken_error(state.port)
        elsewhere = self._running_elsewhere(text)
        if elsewhere is not None:
            return elsewhere
        if "Permission denied" in text or "wrong ownership" in text:
            cause = next(ln for ln in lines if "Permission denied" in ln or "ownership" in ln)
            shown, hint = cause.strip(), self._chown_hint()
            return SetupError(
                f"权限不足（{shown}）：请改正数据文件夹的所有者（{hint}） {shown}: {hint}"
            )
        cause = next(
            (ln for ln in reversed(lines) if any(w in ln for w in ("FATAL", "PANIC", "ERROR"))),
            lines[-1] if lines else f"exit code {proc.returncode}",
        )
        shown = cause.strip()
        return SetupError(
            f"数据库无法启动：PostgreSQL 未能启动：{shown}（日志：{self.logfile}） "
            f"PostgreSQL did not start: {shown} (log: {self.logfile})"
        )

    @staticmethod
    def port_taken_error(port: int) -> SetupError:
        """The refusal when another program listens on the cluster's port."""
        return SetupError(
            f"端口已被占用：端口 {port} 已被占用；请把 GRIDWARD_PG_PORT 设为空闲端口，"
            "或停止占用它的程序 "
            f"port {port} is already in use: set GRIDWARD_PG_PORT to a "
            "free port or stop what uses it"
        )

    def start_line(self, port: int) -> str:
        """What the last :meth:`start` did, one line: started (after an unclean stop:
        recovered) or found running, where, and the data folder. WHY one line for every
        command (T68 #10): only `db start` said a crash was recovered, in its Chinese only;
        serve, which systemd restarts, said nothing."""
        where = f"127.0.0.1:{port}"
        # T47 #12: "数据库已在 … 运行" read as "was already running" right after this command
        # started (and recovered) it
        if self.recovered:
            zh = f"数据库已启动（上次未正常停止，已自动恢复），运行于 {where}"
            en = f"started after an unclean stop (recovered), running on {where}"
        elif self.started:
            zh, en = f"数据库已启动，运行于 {where}", f"started, running on {where}"
        else:
            zh, en = f"数据库已在 {where} 运行", f"already running on {where}"
        return f"{zh}，数据在 {self.pgdata} 中 {en}, data in {self.pgdata}"

    def crashed(self) -> bool:
        """Whether the cluster, found not running, was not shut down cleanly: its
        postmaster.pid was left behind (kill -9, a crash, a power cut; a clean stop removes
        it), so its next start recovers it. WHY: ``db status`` read as after any stop, and
        ``db start`` as "already running" (T47 #12)."""
        return (self.pgdata / "postmaster.pid").exists()

    def stop(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        if not (self.pgdata / "PG_VERSION").exists():  # nothing to stop: no folder made
            return False
        with self._locked():
            if not self.is_running():
                return False
            self._stop_server()
            return True

    @property
    def stop_marker(self) -> Path:
        return self.data_dir / _STOP_MARKER

    def stopped_by_admin(self) -> dict[str, str] | None:
        """When and by whom ``gridward db stop`` stopped the cluster (``at``, ``by``), or None
        when it was not stopped so (never started, a reboot, a crash)."""
        try:
            data = json.loads(self.stop_marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        return {"at": str(data.get("at", "?")), "by": str(data.get("by", "?"))}

    def stopped_error(self, stopped: dict[str, str]) -> SetupError:
        """The refusal of a command that only reads, on a cluster an admin stopped."""
        return ClusterStopped(
            f"数据库已停止：{self.pgdata} 中的数据库已于 {stopped['at']} 由 {stopped['by']} 用 "
            "'gridward db stop' 停止；未启动任何内容。请运行 'gridward db start' 重新启动 "
            f"the database in {self.pgdata} was stopped with 'gridward db stop' "
            f"(at {stopped['at']}, by {stopped['by']}): nothing was started; run 'gridward db "
            "start' to start it again"
        )

    def connected_programs(self) -> list[Client]:
        """Other programs connected to the running cluster, by name (``gridward serve [4242]
        from 127.0.0.1``: pg_stat_activity, with the stored login), or by their server
        processes (:meth:`_client_backends`) when that login is refused."""
        import psycopg

        state = self.read_state()
        own = f"% [{os.getpid()}]"
        try:
            if state is None:
                raise LoginRefused(self.data_dir, "missing")
            with self._connect(state, "postgres", autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT coalesce(nullif(application_name, ''), '?'), "
                    "coalesce(host(client_addr), 'local'), datname, pid FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "AND application_name NOT LIKE %s",
                    (own,),
                ).fetchall()
        except (LoginRefused, psycopg.Error):
            return self._client_backends()
        return [Client.of(app, addr, db, pid) for app, addr, db, pid in rows]

    def stop_by_admin(self, force: bool = False) -> tuple[bool, list[Client]]:
        """``gridward db stop``: stop the server and mark it stopped, so that a command that
        only reads (a report from cron) does not start it again; only the commands that set
        things up do (``create``), ``db start`` first. Refused (数据库正在使用, naming them)
        while other programs are connected, unless ``force``. Returns whether it was running
        and the programs cut off. WHY: ``db stop`` under a running API cut it off without a
        word, and the next report started the cluster again, behind an admin who had stopped
        it to copy its folder (re-tester T35, F11)."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False, []
        with self._locked():
            running = self.is_running()
            if not running and self.runs_elsewhere():
                raise self.elsewhere_error()
            cut: list[Client] = []
            if running:
                if force:
                    cut = self.connected_programs()
                else:
                    refuse_if_in_use(
                        self.connected_programs,
                        f"the cluster in {self.pgdata}",
                        "'gridward db stop' (or 'gridward db stop --force' to cut them off)",
                        f"{self.pgdata} 中的数据库集群",
                        "再运行 'gridward db stop'（或用 'gridward db stop --force' 强行断开它们）",
                    )
                self._stop_server()
            at = city_now().strftime("%Y-%m-%d %H:%M:%S%z")
            _write_json(self.stop_marker, {"at": at, "by": getpass.getuser()})
            return running, cut

    def _stop_server(self) -> None:
        self._run([self.bins["pg_ctl"], "-D", str(self.pgdata), "-w", "-m", "fast", "stop"])

    def destroy(self) -> None:
        """Stop and delete the cluster (tests' throwaway clusters)."""
        with contextlib.suppress(SetupError):
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- database ------------------------------------------------------------------------
    def _connect(
        self, state: ClusterState, dbname: str, app: bool = False, **kwargs: object
    ):  # -> Connection
        """A connection with the stored login (the superuser's, or with ``app`` the app's); a
        refused login is :class:`LoginRefused` (the one line naming the data folder and the
        fix), not psycopg's bare error."""
        import psycopg

        kwargs.setdefault("connect_timeout", 10)
        try:
            return psycopg.connect(_dsn(state, dbname, app), **kwargs)
        except psycopg.OperationalError as exc:
            why = refusal(exc)
            if why is not None:
                raise LoginRefused(self.data_dir, why) from None
            raise

    def _wait_ready(self, state: ClusterState, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._connect(state, "postgres", connect_timeout=3):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    # psycopg's words in Chinese in the Chinese (T37 F13)
                    exc_zh = connection_zh((str(exc).strip().splitlines() or [""])[0])
                    raise SetupError(
                        f"数据库无法连接：内置 PostgreSQL 不接受连接（{exc_zh}） "
                        f"embedded PostgreSQL did not accept connections: {exc}"
                    ) from None
                time.sleep(0.2)

    def _ensure_database(
        self, state: ClusterState, quiet: bool = False, create: bool = True
    ) -> None:
        """Create the gridward database (the app's role owns it) with PostGIS once, and again
        if it was dropped (on a cluster already running too: `db start` said "running" over a
        missing database). Without ``create`` a missing database is refused
        (:meth:`no_database_error`). Then the app's role: :meth:`_ensure_app_role`."""
        with self._connect(state, "postgres", autocommit=True) as conn:
            new_password = self._app_role(conn, state)
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (state.database,)
            ).fetchone()
            if not exists and not create:
                raise self.no_database_error(state.database)
            if not exists:
                if not quiet:
                    say(
                        f"新建空数据库：数据库 '{state.database}' 不存在，已新建一个空的（要找回"
                        "数据：gridward db restore FILE） "
                        f"the database '{state.database}' was missing: created it "
                        "empty (to bring data back: gridward db restore FILE)"
                    )
                conn.execute(f'CREATE DATABASE "{state.database}" OWNER "{_APP_USER}"')
        if not exists:  # an existing one got PostGIS when made (and migrations ensure it)
            with self._connect(state, state.database, autocommit=True) as conn:
                # by the superuser: PostGIS is not a trusted extension
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
        self._ensure_app_role(state, new_password)

    def _app_role(self, conn: object, state: ClusterState) -> str | None:
        """The app's role made, or its rights put back, on the superuser's connection
        ``conn`` to the cluster; its new password when cluster.json does not hold one that
        is valid yet, else None."""
        from psycopg import sql

        row = conn.execute(  # type: ignore[attr-defined]
            "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls "
            "OR NOT rolcanlogin FROM pg_roles WHERE rolname = %s",
            (_APP_USER,),
        ).fetchone()
        if row is not None and not row[0] and state.app_user == _APP_USER and state.app_password:
            return None
        # a role left by an upgrade cut off before cluster.json was written gets a new
        # password: the one it was made with was never kept
        password = secrets.token_urlsafe(24)
        conn.execute(  # type: ignore[attr-defined]
            sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
                sql.SQL("CREATE" if row is None else "ALTER"),
                sql.Identifier(_APP_USER),
                sql.SQL(_APP_ROLE_RIGHTS),
                sql.Literal(password),
            )
        )
        return password

    def _ensure_app_role(self, state: ClusterState, new_password: str | None) -> None:
        """The app's login works and its role owns the database and every object of the app;
        cluster.json then holds that login (written only once all that is done).

        WHY on every start, each step idempotent: a cluster made by an older gridward has one
        login, a superuser's, that owns everything (T42 #4); its next start hands everything
        over, and an upgrade cut off half way (kill -9) is finished by the start after. A day
        table made meanwhile by a program still running the older code (as the superuser) is
        handed over too. Objects of an extension (PostGIS's spatial_ref_sys, its functions)
        stay the superuser's, as does the extension."""
        if new_password is not None:
            state.app_user, state.app_password = _APP_USER, new_password
        try:
            with self._connect(state, state.database, app=True) as conn:
                todo = bool(_to_hand_over(conn, state.user))
        except LoginRefused:
            if new_password is not None:
                raise
            # its password changed by hand (the cluster's superuser may set it again)
            from psycopg import sql

            state.app_password = new_password = secrets.token_urlsafe(24)
            with self._connect(state, "postgres", autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                        sql.Identifier(_APP_USER), sql.Literal(new_password)
                    )
                )
            todo = True
        if todo:
            self._hand_over(state)
        if new_password is not None:
            self._write_state(state)

    def _hand_over(self, state: ClusterState) -> None:
        """Give the app's role the database and every object of the app the superuser owns,
        in transactions of at most :data:`HAND_OVER_BATCH` (a city's years of day tables
        would not fit one transaction's locks); each is done whole or not at all, and what is
        left is found again (:func:`_to_hand_over`) by the next start. A statement waits at
        most :data:`HAND_OVER_LOCK_TIMEOUT_S` for its object's lock (:meth:`_locked_out`)."""
        import psycopg
        from psycopg import sql

        done: set[str] = set()
        with self._connect(state, state.database) as conn:
            while True:
                todo = _to_hand_over(conn, state.user)[:HAND_OVER_BATCH]
                if not todo:
                    break
                again = [s for s in todo if s in done]
                if again:  # a statement that did not move its object: never loop for ever
                    raise SetupError(
                        f"数据库升级失败：无法把对象交给角色 {_APP_USER}（{again[0]} 未生效） "
                        f"could not hand an object over to role {_APP_USER} ({again[0]} "
                        "had no effect)"
                    )
                # WHY (h49): ALTER … OWNER waits for every lock on its table; a long query or
                # a session left idle in a transaction held start-up silently for ever
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{round(HAND_OVER_LOCK_TIMEOUT_S * 1000)}ms")
                    )
                )
                for statement in todo:
                    try:
                        conn.execute(statement)
                    except psycopg.errors.LockNotAvailable:
                        conn.rollback()  # this batch undone; the batches before it stay done
                        raise self._locked_out(conn, statement, len(done)) from None
                conn.commit()
                done.update(todo)
        if not done:
            return
        n = sum(1 for s in done if not s.startswith("ALTER DATABASE"))
        db, whole = state.database, len(done) > n
        what_zh = f"数据库 '{db}' 及其中 {n} 个对象" if whole else f"数据库 '{db}' 中的 {n} 个对象"
        what = f"database '{db}' and {n} of its objects" if whole else f"{n} objects in '{db}'"
        say(
            f"数据库升级：{what_zh}的所有者已改为角色 {_APP_USER}（不是超级用户）；gridward "
            "今后以它登录，请重启仍在运行的 API 和 worker "
            f"database upgrade: {what} now belong to role {_APP_USER} (not a superuser); "
            "gridward logs in as it from now on: restart a running API and workers"
        )

    def _locked_out(self, conn: object, statement: str, done: int) -> ConflictError:
        """The refusal when ``statement`` (``ALTER <kind> <name> OWNER TO …``) gave up
        waiting for its object's lock: the object, who holds it (read on the superuser's
        connection ``conn``), what is kept (``done`` objects handed over) and the remedy."""
        m = re.match(
            r"ALTER (TABLE|VIEW|MATERIALIZED VIEW|SEQUENCE|FOREIGN TABLE|TYPE|"
            r"FUNCTION|PROCEDURE|AGGREGATE|SCHEMA|DATABASE) (.+) OWNER TO ",
            statement,
        )
        kind, name = (m[1].lower(), m[2]) if m else ("object", statement)
        relation = kind in ("table", "view", "materialized view", "sequence", "foreign table")
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT DISTINCT a.pid, coalesce(a.application_name, ''), "
            "coalesce(host(a.client_addr), ''), coalesce(a.state, ''), "
            "floor(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)))::int "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation' "
            "AND l.relation = to_regclass(%s) ORDER BY 1 LIMIT 5",
            (name if relation else None,),
        ).fetchall()
        conn.rollback()  # type: ignore[attr-defined]
        who = [
            (
                f"pid {pid} ({app or 'unnamed'}, from {addr or 'local socket'}, {st or '?'}"
                f" for {held_s} s)",
                f"进程 {pid}（{app or '未命名程序'}，来自 {addr or '本机套接字'}，"
                f"{_SESSION_STATE_ZH.get(st, st or '?')}，已 {held_s} 秒）",
            )
            for pid, app, addr, st, held_s in rows
        ]
        held = "; ".join(w[0] for w in who) or "it is no longer named in pg_locks"
        held_zh = "；".join(w[1] for w in who) or "现已查不到占用者"
        wait = f"{HAND_OVER_LOCK_TIMEOUT_S:g}"
        return ConflictError(
            f"数据库升级未完成：{_KIND_ZH.get(kind, '对象')} {name} 被其他连接锁住（{held_zh}），"
            f"等待 {wait} 秒后放弃；"
            f"已交给角色 {_APP_USER} 的 {done} 个对象保持不变，其余（含 {name}）由下次启动继续。"
            "请结束占用它的程序或会话（仍在运行的 API、worker、报表工具、psql 会话），或以 root 或"
            "运行数据库的用户执行 kill 加上面的进程号结束该连接（不要用 kill -9），然后重新运行 "
            "'gridward db start' "
            f"database upgrade not finished: the {kind} {name} is locked by another "
            f"connection ({held}); gave up after waiting {wait} s; the {done} objects already "
            f"handed to role {_APP_USER} stay so, the rest (with {name}) is done by the next "
            "start. End the program or session holding it (an API, worker, report tool or psql "
            "session still running), or end that connection with kill and the pid above, as "
            "root or the user the database runs as (not kill -9), then run 'gridward db start' "
            "again"
        )


# the hand-over: objects per transaction, and how long a statement waits for its object's
# lock before the start gives up naming it (h49: a long query held start-up silently)
HAND_OVER_BATCH = 200
HAND_OVER_LOCK_TIMEOUT_S = 10.0
# pg_stat_activity.state in Chinese (a holder "idle in transaction" is the usual culprit)
_SESSION_STATE_ZH = {
    "active": "正在执行查询",
    "idle": "空闲",
    "idle in transaction": "事务未结束且空闲",
    "idle in transaction (aborted)": "事务出错后未结束",
    "fastpath function call": "正在执行函数调用",
    "disabled": "状态未记录",
}
_KIND_ZH = {
    "table": "表",
    "view": "视图",
    "materialized view": "物化视图",
    "sequence": "序列",
    "foreign table": "外部表",
    "type": "类型",
    "function": "函数",
    "procedure": "过程",
    "aggregate": "聚合函数",
    "schema": "模式",
    "database": "数据库",
}


# What the superuser ``%(admin)s`` owns in the database that must be the app's, as the
# statements that hand it over: the database, schemas, tables (partitions: each day table),
# views, sequences not tied to a column (those follow their table), types, functions. Not an
# extension's members (PostGIS's spatial_ref_sys, geometry_columns, functions), not the
# system's schemas.
_HAND_OVER_SQL = """
WITH sys AS (
  SELECT oid FROM pg_namespace WHERE nspname LIKE 'pg\\_%%' OR nspname = 'information_schema'
), ext AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), adm AS (SELECT oid FROM pg_roles WHERE rolname = %(admin)s::text)
SELECT format('ALTER DATABASE %%I OWNER TO %%I', datname, %(app)s::text), 0 FROM pg_database
 WHERE datname = current_database() AND datdba = (SELECT oid FROM adm)
UNION ALL
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(app)s::text), 1 FROM pg_namespace n
 WHERE n.nspowner = (SELECT oid FROM adm) AND n.oid NOT IN (SELECT oid FROM sys)
   AND (n.oid) NOT IN (SELECT objid FROM ext WHERE classid = 'pg_namespace'::regclass)
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I', CASE c.relkind WHEN 'S' THEN 'SEQUENCE'
         WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
         WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, c.oid::regclass, %(app)s::text),
       CASE c.relkind WHEN 'S' THEN 3 ELSE 2 END
  FROM pg_class c
 WHERE c.relowner = (SELECT oid FROM adm) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
   AND c.relnamespace NOT IN (SELECT oid FROM sys)
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_class'::regclass)
   AND c.reltype NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)
   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I', CASE p.prokind WHEN 'p' THEN 'PROCEDURE'
         WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, p.oid::regprocedure, %(app)s::text), 4
  FROM pg_proc p
 WHERE p.proowner = (SELECT oid FROM adm) AND p.pronamespace NOT IN (SELECT oid FROM sys)
   AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_proc'::regclass)
UNION ALL
SELECT format('ALTER TYPE %%s OWNER TO %%I', t.oid::regtype, %(app)s::text), 5 FROM pg_type t
 WHERE t.typowner = (SELECT oid FROM adm) AND t.typtype IN ('e', 'd', 'r')
   AND t.typnamespace NOT IN (SELECT oid FROM sys)
   AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)
ORDER BY 2, 1
"""


def _to_hand_over(conn: object, admin: str) -> list[str]:
    """The statements that give the app's role what the superuser ``admin`` still owns of
    the app (:data:`_HAND_OVER_SQL`); empty when there is nothing. Read by either login."""
    rows = conn.execute(  # type: ignore[attr-defined]
        _HAND_OVER_SQL, {"admin": admin, "app": _APP_USER}
    ).fetchall()
    return [r[0] for r in rows]


def _why_zh(why: str) -> str:
    """Why cluster.json cannot be used (state_and_problem's "missing", "unreadable: …"), in
    Chinese: where JSON's parser stopped as 第 L 行第 C 个字符处格式错误 (T47 #9: the parser's
    English stood inside the Chinese)."""
    if why == "missing":
        return "不存在"
    said = why.removeprefix("unreadable: ")
    at = re.search(r"line (\d+) column (\d+)", said)
    if at:
        return f"无法读取（第 {at[1]} 行第 {at[2]} 个字符处格式错误）"
    known = {
        "not a JSON object": "内容不是 JSON 对象",
        "no valid port and password": "没有有效的端口和密码",
    }
    if said in known:
        return f"无法读取（{known[said]}）"
    if "codec can't decode" in said:
        return "无法读取（不是 UTF-8 文本）"
    if "Permission denied" in said:
        return "无法读取（没有权限）"
    return f"无法读取（{said}）"


def _write_json(path: Path, data: dict, mode: int | None = None) -> None:
    """``data`` into ``path`` whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    if mode is not None:
        tmp.chmod(mode)
    tmp.replace(path)


# The superuser's sessions resolve names in pg_catalog only (startup options override the
# database's own settings). WHY (T48 #1): the app role owns the database, so it can set the
# database's search_path to a schema of its own holding a ``format()`` or an ``=`` operator;
# the hand-over then ran the app's function as the superuser, and the app made itself one.
SUPERUSER_OPTIONS = "-c search_path=pg_catalog,pg_temp"


def _dsn(state: ClusterState, dbname: str, app: bool = False) -> str:
    user, password = (state.app_user, state.app_password) if app else (state.user, state.password)
    dsn = f"host=127.0.0.1 port={state.port} user={user} password={password} dbname={dbname}"
    return dsn if app else f"{dsn} options='{SUPERUSER_OPTIONS}'"


def _port_free(port: int) -> bool:
    """Whether the server could listen on ``port``. SO_REUSEADDR as PostgreSQL sets it: a
    port left in TIME_WAIT by a cluster just stopped is free (it was moved to another one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
