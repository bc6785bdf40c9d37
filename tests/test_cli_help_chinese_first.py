"""Every ``--help`` a user reads opens in Chinese (outside tester T38, L16: ``gridward`` group
and command summaries read English first, ``partition``'s Chinese first): each command's and
group's summary, each option's and argument's help, and the ``--help`` line itself."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from api.cli import HELP_OPTION_HELP, app


def _cjk(text: str) -> bool:
    return bool(text) and "\u4e00" <= text[0] <= "\u9fff"


def _walk(command, path: str, ctx=None):  # type: ignore[no-untyped-def]
    """(path, what, text) for each command and each of its parameters, the whole tree down."""
    ctx = typer.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=ctx)
    yield path, "summary", command.get_short_help_str(limit=10_000)
    params = [*command.params, command.get_help_option(ctx)]
    for param in params:
        if param is not None:
            yield path, "/".join(param.opts), (getattr(param, "help", None) or "").strip()
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, f"{path} {name}", ctx)


def test_every_help_text_starts_in_chinese() -> None:
    seen = list(_walk(typer.main.get_command(app), "gridward"))
    assert len(seen) > 150  # the whole tree: groups, subcommands and their options
    english_first = [f"{path} {what}: {text[:60]!r}" for path, what, text in seen if not _cjk(text)]
    assert not english_first, "\n".join(english_first)


def test_help_shows_the_chinese_first() -> None:
    """As a user reads it: the summary, an option shared through a constant, the help line."""
    res = CliRunner().invoke(app, ["assign", "grids", "--help"], env={"COLUMNS": "200"})
    flat = " ".join(res.stdout.split())
    assert res.exit_code == 0
    assert "网格定人 Staff the grids of an area from the database." in flat
    assert "区域编码 Area code (district/subdistrict/community)" in flat
    assert HELP_OPTION_HELP in flat
    res = CliRunner().invoke(app, ["tracks", "upload", "--help"], env={"COLUMNS": "200"})
    flat = " ".join(res.stdout.split())
    assert "巡查人 the steward who walked: their registry id (people.external_id" in flat
