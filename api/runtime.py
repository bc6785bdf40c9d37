"""What long-running commands (``serve``, ``demo``, ``tracks worker``) share: the package
version, timestamped log lines on stderr, and the log level (``--log-level`` or
``GRIDWARD_LOG_LEVEL``).

WHY here: ``gridward.*`` loggers had no handler, so their INFO lines (tracks left queued at
API start, a job that failed) went nowhere, and a worker's log had no times to read an
outage by.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.errors import InputError

LOG_LEVEL_HELP = "log level: DEBUG, INFO, WARNING, ERROR (default: GRIDWARD_LOG_LEVEL, INFO)"
# local time with its UTC offset: a log read on another machine, or across a DST change,
# still says when
DATE_FORMAT = "%Y-%m-%d %H:%M:%S%z"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@lru_cache(maxsize=1)
def version() -> str:
    """The installed gridward's version (its package metadata, so one number in pyproject)
    and, run from a git checkout, its commit as a local version (``0.1.0+g863a6a6``); read
    once: ``GET /health`` gives it on every request, and it is the version of the code this
    process started with, even after a newer one is installed beside it. WHY the commit (T68
    #7): every commit said 0.1.0, and an operator could not tell which build ran or confirm
    that an upgrade went in."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        found = dist_version("gridward")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "0+unknown"
    sha = commit()
    if sha is None:
        return found
    return f"{found}{'.' if '+' in found else '+'}g{sha}"


# the checkout this code runs from (api/ is one level down), if it is one
_CHECKOUT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def commit(checkout: Path = _CHECKOUT) -> str | None:
    """The short commit (7 hex digits) of the git checkout ``checkout``, read from its
    ``.git`` files (no git program needed, no subprocess); None when it is not a checkout
    (an install in site-packages) or cannot be read."""
    git = checkout / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            text_ = git.read_text(encoding="utf-8").strip()
            if not text_.startswith("gitdir:"):
                return None
            git = (checkout / text_.removeprefix("gitdir:").strip()).resolve()
        if not git.is_dir():
            return None
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        common = git
        if (git / "commondir").is_file():  # a worktree's refs live in the main .git
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        sha = _ref(head, git, common)
    except (OSError, UnicodeDecodeError):
        return None
    if sha is None or not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", sha):
        return None
    return sha[:7]


def _ref(head: str, git: Path, common: Path) -> str | None:
    """The commit ``head`` (HEAD's text: a commit, or ``ref: refs/heads/…``) names: the
    loose ref file, else the line of packed-refs."""
    if not head.startswith("ref:"):
        return head
    name = head.removeprefix("ref:").strip()
    for folder in (git, common):
        loose = folder / name
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, ref = line.partition(" ")
            if ref.strip() == name:
                return sha
    return None


def stamp() -> str:
    """Now, as log lines show it (:data:`DATE_FORMAT`, in the city's zone)."""
    from geo.settings import city_now

    return city_now().strftime(DATE_FORMAT)


def _city_zone() -> dt.tzinfo:
    """GRIDWARD_TIMEZONE. WHY log lines use it, not the OS zone: worker and serve lines
    showed +0000 on a server while the README, reports and restores show the city's +0800
    (outside tester, item 11)."""
    from zoneinfo import ZoneInfo

    from geo.settings import get_settings

    return ZoneInfo(get_settings().timezone)


def _city_time(record: logging.LogRecord, datefmt: str | None) -> str:
    when = dt.datetime.fromtimestamp(record.created, _city_zone())
    return when.strftime(datefmt or DATE_FORMAT)


class CityFormatter(logging.Formatter):
    """Log lines stamped in the city's zone (:func:`_city_zone`)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _city_time(record, datefmt)


def check_level(level: str) -> str:
    """``level`` upper-cased when it is a logging level; InputError otherwise."""
    from geo.settings import LOG_LEVELS  # not at import: the CLI starts without settings

    name = level.strip().upper()
    if name not in LOG_LEVELS:
        levels, levels_zh = ", ".join(LOG_LEVELS[:4]), "、".join(LOG_LEVELS[:4])
        raise InputError(
            f"日志级别有误：'{level}'，请用 {levels_zh} 之一 "
            f"unknown log level '{level}': use one of {levels}"
        )
    return name


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each line: a test runner swaps it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str | None = None) -> str:
    """Send ``gridward.*`` log lines to stderr with a timestamp at ``level`` (default: the
    ``log_level`` setting); idempotent. Returns the level used."""
    from geo.settings import get_settings

    name = check_level(level) if level else get_settings().log_level
    log = logging.getLogger("gridward")
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(CityFormatter(LOG_FORMAT, DATE_FORMAT))
        log.addHandler(handler)
    log.setLevel(name)
    log.propagate = False  # a root handler someone set up would print each line twice
    return name


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging config with the same timestamp before each line."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for formatter in config["formatters"].values():
        formatter["fmt"] = "%(asctime)s " + formatter["fmt"]
        formatter["datefmt"] = DATE_FORMAT
        base = formatter.get("()", "logging.Formatter")
        formatter["()"] = {
            "uvicorn.logging.DefaultFormatter": "api.runtime.CityDefaultFormatter",
            "uvicorn.logging.AccessFormatter": "api.runtime.CityAccessFormatter",
        }.get(base, base)
    return config


def _uvicorn_formatters() -> tuple[type, type]:
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    class CityDefault(DefaultFormatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
            return _city_time(record, datefmt)

    class CityAccess(AccessFormatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
            return _city_time(record, datefmt)

    return CityDefault, CityAccess


def __getattr__(name: str) -> type:
    """uvicorn's formatters in the city's zone, made on first use (uvicorn is imported only
    by ``serve``)."""
    if name == "CityDefaultFormatter":
        return _uvicorn_formatters()[0]
    if name == "CityAccessFormatter":
        return _uvicorn_formatters()[1]
    raise AttributeError(name)
