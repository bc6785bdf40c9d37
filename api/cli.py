"""The ``gridward`` command line: one Typer app, each command group in its own module.

Every command module exposes ``register(app)``; this module only wires them together and turns
:class:`geo.errors.GridwardError` into one readable line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from typing import NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError

from api.usage_words import ZH_BY_TYPE, click_zh, zh_detail
from geo.errors import ERRNO_ZH, GridwardError, chinese_first, db_failure, reads_chinese_first

HELP_OPTION_HELP = "显示本帮助并退出 Show this message and exit."


def _chinese_help_option() -> None:
    """Every command's ``--help`` line reads Chinese first, as the rest of its help does (T38
    L16). WHY here: typer writes the line itself ("Show this message and exit.", not through
    gettext) when it builds each command's help option, so the one cheap place for all
    commands is that builder, ``get_help_option`` of typer's command and group classes. Any
    other text (a later typer's) is left as it is."""
    from typer.core import TyperCommand, TyperGroup

    for cls in (TyperCommand, TyperGroup):
        original = getattr(cls, "get_help_option", None)
        if original is None or getattr(original, "_gridward", False):
            continue

        def get_help_option(self, ctx, _original=original):  # type: ignore[no-untyped-def]
            option = _original(self, ctx)
            if option is not None and option.help == "Show this message and exit.":
                option.help = HELP_OPTION_HELP
            return option

        get_help_option._gridward = True  # type: ignore[attr-defined]
        cls.get_help_option = get_help_option  # type: ignore[method-assign]


_chinese_help_option()


def _rich_help_fixed() -> None:
    """Two fixes to how rich lays out a ``--help`` page, so every help text shows whole,
    wrapped, at any usual terminal width (T39 L1). Run when a help page is first drawn, not at
    import: the CLI does not load rich until then.

    1. A wrapped line whose last word ends at the column's edge keeps the space after it, and
       rich's ``Text.rstrip_end`` (rich 15) drops that space only when the line has more
       *characters* than the column has cells. Chinese characters are two cells each, so a line
       holding some had fewer characters than cells: the space stayed, and the line was then cut
       to the column with an ellipsis, eating its last word's last letter ("EPSG:449…" in
       ``gridward match --help``, "upload (stor…" in ``gridward --help``), at 80, 100 and 120
       columns alike. English-only lines have one cell per character, hence no cut before help
       texts opened in Chinese (T38 L16). Fixed by counting cells; left alone if a later rich
       counts them already.
    2. In an options table a column too narrow for everything is shrunk, the option names'
       column too: ``--households-per-wor…`` (partition, assign stewards at 80 columns). The
       name columns now keep their width, and the type and help columns wrap instead; a help
       word wider than its column (narrower terminals) is folded onto the next line, not cut."""
    import rich.text
    import typer.rich_utils
    from rich.cells import cell_len
    from rich.table import Table

    probe = rich.text.Text("中 ")
    probe.rstrip_end(2)
    if probe.plain == "中 ":

        def rstrip_end(self: rich.text.Text, size: int) -> None:
            excess = cell_len(self.plain) - size
            trailing = len(self.plain) - len(self.plain.rstrip())
            if excess > 0 and trailing:
                self.right_crop(min(trailing, excess))  # a space is one cell

        rich.text.Text.rstrip_end = rstrip_end  # type: ignore[method-assign]

    if getattr(typer.rich_utils, "Table", None) is Table:

        class _OptionsTable(Table):
            def add_row(self, *renderables, **kwargs):  # type: ignore[no-untyped-def]
                super().add_row(*renderables, **kwargs)
                # typer's options table is its only one with highlight on; its last two
                # columns are the type and the help, the ones before it the names and '*'
                if self.highlight:
                    for column in self.columns[:-2]:
                        column.no_wrap = True
                # a word wider than the help column (a Chinese run, a CSV header) goes on
                # over the next line rather than being cut with an ellipsis; typer hands the
                # option help as Columns of Texts, which would not take the column's overflow
                last = renderables[-1] if renderables else None
                for item in getattr(last, "renderables", [last]):
                    if isinstance(item, rich.text.Text) and item.overflow is None:
                        item.overflow = "fold"

        typer.rich_utils.Table = _OptionsTable  # type: ignore[misc]


def _whole_help_lines() -> None:
    """Apply :func:`_rich_help_fixed` once, where typer draws a help page (``format_help`` of
    its command and group classes)."""
    from typer.core import TyperCommand, TyperGroup

    for cls in (TyperCommand, TyperGroup):
        original = cls.format_help
        if getattr(original, "_gridward", False):
            continue

        def format_help(self, ctx, formatter, _original=original):  # type: ignore[no-untyped-def]
            if not _FIXED:
                _FIXED.append(True)
                _rich_help_fixed()
            return _original(self, ctx, formatter)

        format_help._gridward = True  # type: ignore[attr-defined]
        cls.format_help = format_help  # type: ignore[method-assign]


_FIXED: list[bool] = []
_whole_help_lines()

app = typer.Typer(
    name="gridward",
    help="网格化管理 gridward: urban grid management on PostGIS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that register commands; each owns one command group.
COMMAND_MODULES = (
    "api.cli_db",
    "api.cli_data",
    "api.cli_serve",
    "api.cli_partition",
    "api.cli_plans",
    "api.cli_tracks",
    "api.cli_patrol",
    "api.cli_track_withdraw",
    "api.cli_assign",
    "api.cli_people",
    "api.cli_users",
    "api.cli_audit",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _print_version(value: bool) -> None:
    if value:
        from api.runtime import version

        typer.echo(f"gridward {version()}")
        raise typer.Exit()


@app.callback()
def _top(
    show_version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="版本 print gridward's version and exit",
    ),
) -> None:
    """网格化管理 gridward: urban grid management on PostGIS."""


class _QuietOnCtrlC(logging.Filter):
    """Drops the driver's "error ignored …" records logged while a Ctrl-C unwinds. WHY: a
    Ctrl-C inside executemany (``import people`` of a large roster: psycopg sends the rows in
    pipeline mode) made psycopg close the pipeline under the interrupt and log ``error ignored
    terminating <psycopg.Pipeline [INERROR, pipeline=ON] …>: canceling statement due to user
    request`` (or ``pipeline aborted``, ``cannot exit pipeline mode while busy``) to stderr,
    where every other Ctrl-C exits 130 saying nothing (T47 #7). The transaction is rolled
    back as on any Ctrl-C; the records are the driver's clean-up failing, not news. Any other
    record, and these same words with no Ctrl-C behind them, go through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("error ignored"):
            return True
        exc: BaseException | None = sys.exc_info()[1]
        for _ in range(10):  # the error met while closing, its context the Ctrl-C
            if exc is None:
                return True
            if isinstance(exc, KeyboardInterrupt):
                return False
            exc = exc.__context__
        return True


def _quiet_driver_on_ctrl_c() -> None:
    """:class:`_QuietOnCtrlC` on psycopg's logger, once."""
    driver = logging.getLogger("psycopg")
    if not any(isinstance(f, _QuietOnCtrlC) for f in driver.filters):
        driver.addFilter(_QuietOnCtrlC())


# The line on stderr after Ctrl-C (exit 130). WHY (T47 #7, h49): it printed nothing, and the
# user could not tell whether anything was stored. Truthful for every command: each write is
# a transaction, rolled back when cut off; what a command reported done was committed. An
# import is one transaction and prints its counts only once committed.
INTERRUPTED = (
    "已中断（Ctrl-C）：数据库中未完成的写入已撤销，上文已报告完成的部分已保存；正在写出的文件"
    "可能不完整，如需要请重新运行该命令 interrupted (Ctrl-C): the database write under way was "
    "rolled back, what the output above reports as done is stored; a file being written may "
    "be incomplete: run the command again if needed"
)
INTERRUPTED_IMPORT = (
    "已中断（Ctrl-C）：导入已撤销，未导入任何数据（上文若已显示导入的数量，则导入在中断前已完成）"
    "；如需要请重新运行该命令 interrupted (Ctrl-C): the import was rolled back, nothing was "
    "imported (unless the output above shows its counts: then it had finished); run the "
    "command again if needed"
)


def _interrupted(argv: list[str]) -> NoReturn:
    """Exit 130 after Ctrl-C, saying so in one line (:data:`INTERRUPTED`)."""
    words = [a for a in argv[1:] if not a.startswith("-")]
    typer.echo(INTERRUPTED_IMPORT if words[:1] == ["import"] else INTERRUPTED, err=True)
    sys.exit(130)


def main() -> None:
    """Console-script entry point."""
    _quiet_driver_on_ctrl_c()
    # pyogrio's note on a text column that looks like JSON ("12户", ""): read as text, as
    # meant; printed, it put two lines before a script's error: line (outside tester)
    warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
    try:
        # without standalone mode click returns (not raises) the code of typer.Exit(n)
        code = app(standalone_mode=False)
        if code == 130:  # typer's answer to a Ctrl-C (KeyboardInterrupt) in a command
            _interrupted(sys.argv)
        if isinstance(code, int) and code:
            sys.exit(code)
    except GridwardError as exc:
        typer.echo(f"error: {chinese_first(exc.message, exc.status_code)}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted(sys.argv)
    except SystemExit:
        raise
    except ValidationError as exc:  # a GRIDWARD_* setting that does not parse, or bad input
        typer.echo(f"error: {chinese_first(_setting_problem(exc), 422)}", err=True)
        sys.exit(2)
    except SettingsError as exc:  # one pydantic-settings could not read (invalid JSON) in a
        # settings class that does not turn it into a ValidationError itself, as Settings does
        from geo.settings import unparsed_setting

        named = unparsed_setting(exc)
        if not isinstance(named, ValidationError):
            raise
        typer.echo(f"error: {chinese_first(_setting_problem(named), 422)}", err=True)
        sys.exit(2)
    except BrokenPipeError:  # `gridward report daily | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:  # e.g. --out into a folder that does not exist
        where = f": {exc.filename}" if exc.filename else ""
        why = ERRNO_ZH.get(exc.errno or 0, "")
        zh = "无法读写文件" + (f" {exc.filename}" if exc.filename else "")
        zh += f"：{why}" if why else ""
        typer.echo(f"error: {zh} {exc.strerror or exc}{where}", err=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors and the like
        _click_exit(exc)
        failed = db_failure(exc)
        if failed is not None:  # the database failed (down, a deadlock): one line, not a
            # traceback; nothing half-written (each write is its own transaction)
            from geo.db import failure_line

            typer.echo(f"error: {failure_line(failed)}", err=True)
            sys.exit(1)
        raise


def _setting_problem(exc: ValidationError) -> str:
    """One line naming the environment variable (or the field) and what is wrong with it,
    in Chinese (the kind, the limit, the value given) and then pydantic's English."""
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    given = str(err.get("input"))[:60]
    got = f" (got {given!r})"
    kind = str(err.get("type", ""))
    zh = next((z for prefix, z in ZH_BY_TYPE if kind.startswith(prefix)), "取值无效")
    if exc.title in ("Settings", "AuthSettings") and field:
        # the variable, and for a JSON setting the key whose value is wrong: it read
        # GRIDWARD_DEFAULT_LEVELS.YES, no variable's name (tester T68)
        loc = [str(x) for x in err.get("loc", ())]
        name = f"GRIDWARD_{loc[0].upper()}"
        where = f"{name} 中 {loc[1]!r} 的值" if len(loc) > 1 else f"{name} "
        key = f" key {loc[1]!r}" if len(loc) > 1 else ""
        if reads_chinese_first(msg):  # our own validator's words: Chinese first already
            return f"设置有误：{where}{msg}{got}"
        return f"设置有误：{where}{zh}{zh_detail(kind, err)} setting {name}{key}: {msg}{got}"
    return f"{exc.title} {field}: {msg}{got}" if field else f"{exc.title}: {msg}{got}"


def _is(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is click's exception class ``name``, by name. WHY not isinstance: typer
    ≥ 0.25 raises its own vendored copy (``typer._click.exceptions``), not ``click``'s, so an
    isinstance check against either one lets the other through as a traceback."""
    return any(c.__name__ == name for c in type(exc).__mro__)


def _click_exit(exc: Exception) -> None:
    """Exit for click's own outcomes: one ``error: …`` line and exit 2 for a usage error (a
    missing or unknown option, a bad value), as for any other bad input; return otherwise."""
    if _is(exc, "Exit"):
        sys.exit(getattr(exc, "exit_code", 0))
    if _is(exc, "Abort"):
        typer.echo("已取消 aborted", err=True)
        sys.exit(1)
    if _is(exc, "NoArgsIsHelpError"):  # the help was shown: no empty "error:" line below it
        sys.exit(2)
    if _is(exc, "ClickException"):
        message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        zh, english = click_zh(message)
        if not zh:
            typer.echo(f"error: 用法有误 {message}{hint}", err=True)
        elif not english:  # gridward's own refusal of a value: Chinese and English already
            typer.echo(f"error: 用法有误：{zh}{hint}", err=True)
        else:
            zh_hint = f"（查看 {ctx.command_path} --help）" if ctx is not None else ""
            typer.echo(f"error: 用法有误：{zh}{zh_hint} {english}{hint}", err=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)


if __name__ == "__main__":
    main()
