"""Every ``--help`` page shows each help text whole, wrapped, at 80, 100 and 120 columns
(outside re-tester T39, L1: once the help texts opened in Chinese, lines were cut with an
ellipsis, ``EPSG:449…`` in ``gridward match --help``, ``upload (stor…`` in ``gridward
--help``, and an option name, ``--households-per-wor…``). The cause and the fix are in
``api.cli._rich_help_fixed``."""

from __future__ import annotations

import re

import pytest
import typer.main
from rich.cells import cell_len
from typer.testing import CliRunner

from api.cli import app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _pages(command, path: list[str]):  # type: ignore[no-untyped-def]
    """(argv, texts): each command's and group's ``--help`` arguments and the help texts its
    page shows: its own, its options' and arguments' (and their names), its subcommands'."""
    texts = [(command.help or "").partition("\f")[0]]
    texts += [(p.help or "") for p in command.params]
    texts += [" ".join(p.opts) for p in command.params]
    subs = getattr(command, "commands", {})
    texts += [(s.short_help or s.help or "").split("\n\n")[0] for s in subs.values()]
    yield path, texts
    for name, sub in subs.items():
        yield from _pages(sub, [*path, name])


PAGES = list(_pages(typer.main.get_command(app), []))


@pytest.mark.parametrize("columns", ["80", "100", "120"])
def test_every_help_text_is_shown_whole(columns: str) -> None:
    assert len(PAGES) > 50  # the whole tree
    problems = []
    for argv, texts in PAGES:
        res = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": columns})
        assert res.exit_code == 0, (argv, res.output)
        shown = _ANSI.sub("", res.stdout)
        # no line wider than the terminal (a help that overflows instead of wrapping)
        wide = [line for line in shown.splitlines() if cell_len(line) > int(columns)]
        # an ellipsis the help texts do not hold is a cut
        cuts = shown.count("…") - sum(text.count("…") for text in texts)
        words = set(shown.split()) | set(re.split(r"[\s,]+", shown))  # typer: --on,--last-day
        missing = sorted({w for text in texts for w in text.split() if w not in words})
        if wide or cuts > 0 or missing:
            where = " ".join(["gridward", *argv])
            problems.append(f"{where}: {cuts} cut, missing {missing[:5]}, too wide {wide[:1]}")
    assert not problems, "\n".join(problems)


def test_the_reported_lines_read_whole_at_80_columns() -> None:
    """The re-tester's example and the overview's line, as a user reads them."""
    res = CliRunner().invoke(app, ["match", "--help"], env={"COLUMNS": "80"})
    assert "EPSG:4490" in res.stdout.split() and "…" not in res.stdout
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert "(store" in res.stdout.split() and "…" not in res.stdout
    res = CliRunner().invoke(app, ["partition", "--help"], env={"COLUMNS": "80"})
    assert "--households-per-worker" in res.stdout.split()
