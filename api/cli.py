"""The ``gridward`` command line: one Typer app, each command group in its own module.

Every command module exposes ``register(app)``; this module only wires them together and turns
:class:`geo.errors.GridwardError` into one readable line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer

from geo.errors import GridwardError

app = typer.Typer(
    name="gridward",
    help="gridward: urban grid management (网格化管理) on PostGIS.",
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
    "api.cli_assign",
    "api.cli_users",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        # without standalone mode click returns (not raises) the code of typer.Exit(n)
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except GridwardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
