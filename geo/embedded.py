"""The embedded PostgreSQL + PostGIS cluster that gridward starts by itself.

Why our own cluster: a planner or a CI machine gets a real spatial database with no set-up
beyond the Debian packages, and tests never fall back to SQLite or mocks. The cluster lives in a
data folder (``<data_dir>/pg``), listens on 127.0.0.1 only, on a free port remembered between
runs, and is reused when it is already running.

PostgreSQL refuses to run as root. When gridward runs as root (CI does), the server runs as the
unprivileged ``postgres`` user that the Debian package creates (or a ``gridward`` system user made
on demand), and the data folder is handed to that user. As a normal user, the server runs as that
user.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from geo.errors import SetupError

DEBIAN_PACKAGES = "postgresql-15 postgresql-15-postgis-3"
_DB_NAME = "gridward"
_DB_USER = "gridward"
_STATE_FILE = "cluster.json"


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
    password: str
    user: str = _DB_USER
    database: str = _DB_NAME

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"


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
            "PostgreSQL server binaries not found: install the Debian packages "
            f"'{DEBIAN_PACKAGES}' (apt-get install -y {DEBIAN_PACKAGES}) or set DATABASE_URL"
        )
    for version, bindir in usable:
        if _postgis_installed(version):
            return PgBinaries(bindir=bindir, version=version)
    version = usable[0][0]
    raise SetupError(
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
            "running as root and no unprivileged user to run PostgreSQL: create the 'postgres' "
            f"user (apt-get install postgresql-15 does) ({exc})"
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

    # -- helpers ---------------------------------------------------------------------------
    @property
    def bins(self) -> PgBinaries:
        if self._bins is None:
            self._bins = find_binaries()
        return self._bins

    def _run(
        self, args: list[str], check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout, "cwd": "/"}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
            kwargs["env"] = {**os.environ, "HOME": self._user.pw_dir or "/tmp"}
        proc = subprocess.run(args, **kwargs)
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit code {proc.returncode}"
            raise SetupError(f"{Path(args[0]).name} failed: {tail} (log: {self.logfile})")
        return proc

    def _give_to_server_user(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _check_path_reachable(self) -> None:
        """As root, the server user must be able to walk down to the data folder."""
        if self._user is None:
            return
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent.stat().st_uid != self._user.pw_uid:
                raise SetupError(
                    f"the PostgreSQL user '{self._user.pw_name}' cannot enter {parent}: "
                    "set GRIDWARD_DATA_DIR to a folder outside it (e.g. /var/lib/gridward)"
                )

    def read_state(self) -> ClusterState | None:
        try:
            return ClusterState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write_state(self, state: ClusterState) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.__dict__))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    # -- lifecycle -------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists() and self.read_state() is not None

    def init(self) -> ClusterState:
        """Create the cluster (initdb) with a random password; does nothing if it exists."""
        if self.initialized():
            state = self.read_state()
            assert state is not None
            return state
        bins = self.bins
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_path_reachable()
        if self.pgdata.exists():  # a half-made cluster from an interrupted init
            shutil.rmtree(self.pgdata)
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
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        state = ClusterState(port=self.requested_port or _free_port(), password=password)
        self._write_state(state)
        return state

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        proc = self._run([self.bins["pg_ctl"], "-D", str(self.pgdata), "status"], check=False)
        return proc.returncode == 0

    def start(self) -> ClusterState:
        """Start (initialising first if needed) and return the connection state; reuse if up."""
        state = self.init()
        if self.is_running():
            return state
        if self.requested_port:
            state.port = self.requested_port
        elif not _port_free(state.port):
            state.port = _free_port()
        self._write_state(state)
        opts = [
            f"-p {state.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=100",
        ]
        if self.fast:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
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
            timeout=120,
        )
        self._wait_ready(state)
        self._ensure_database(state)
        return state

    def stop(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        if not self.is_running():
            return False
        self._run([self.bins["pg_ctl"], "-D", str(self.pgdata), "-w", "-m", "fast", "stop"])
        return True

    def destroy(self) -> None:
        """Stop and delete the cluster (tests' throwaway clusters)."""
        with contextlib.suppress(SetupError):
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- database ------------------------------------------------------------------------
    def _wait_ready(self, state: ClusterState, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(_dsn(state, "postgres"), connect_timeout=3):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise SetupError(
                        f"embedded PostgreSQL did not accept connections: {exc}"
                    ) from None
                time.sleep(0.2)

    def _ensure_database(self, state: ClusterState) -> None:
        """Create the gridward database with PostGIS once."""
        import psycopg

        with psycopg.connect(_dsn(state, "postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (state.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{state.database}"')
        with psycopg.connect(_dsn(state, state.database), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def _dsn(state: ClusterState, dbname: str) -> str:
    return (
        f"host=127.0.0.1 port={state.port} user={state.user} "
        f"password={state.password} dbname={dbname}"
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
