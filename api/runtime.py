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
import sys
from functools import lru_cache
from typing import Any

from geo.errors import InputError

LOG_LEVEL_HELP = "log level: DEBUG, INFO, WARNING, ERROR (default: GRIDWARD_LOG_LEVEL, INFO)"
# local time with its UTC offset: a log read on another machine, or across a DST change,
# still says when
DATE_FORMAT = "%Y-%m-%d %H:%M:%S%z"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@lru_cache(maxsize=1)
def version() -> str:
    """The installed gridward's version (its package metadata, so one number in pyproject),
    read once: ``GET /health`` gives it on every request, and it is the version of the code
    this process started with, even after a newer one is installed beside it."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("gridward")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


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
