"""A progress bar on stderr for long CLI work, as a ``(fraction, message)`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def progress_bar(title: str) -> Iterator[Callable[[float, str], None]]:
    """Yield a callback that moves one bar, on a terminal only: on a file or a pipe (a
    script) stderr holds nothing but the ``error:`` / ``warning:`` lines (an outside tester
    read the bar's last state, "0% 0:00:00", as the first line of an error). A terminal is
    stderr itself being one: rich also takes FORCE_COLOR or TTY_COMPATIBLE (set by CI
    systems and some shells) for one, and wrote the bar's escape codes into a pipe (T60 #12)."""
    import sys

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not (console.is_terminal and sys.stderr.isatty()),
    ) as bar:
        task = bar.add_task(title, total=1.0, step="")

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=max(0.0, min(1.0, fraction)), step=message)

        yield update
        bar.update(task, completed=1.0)
