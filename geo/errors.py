"""User-facing errors.

Every bad input must end as one readable line (CLI) or a 4xx JSON body (API). Code raises
these with a message that names the problem; the CLI and the API translate them, so no
layer has to guess whether a message is safe and meaningful to show.
"""

from __future__ import annotations


class GridwardError(Exception):
    """Base class: an error whose message is written for the user."""

    status_code: int = 400
    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(GridwardError):
    """The input (file, parameter, geometry) is wrong; nothing was stored."""

    status_code = 422


class NotFoundError(GridwardError):
    """A referenced object does not exist."""

    status_code = 404


class ConflictError(GridwardError):
    """The request conflicts with the current state (stale plan, duplicate id, version)."""

    status_code = 409


class SetupError(GridwardError):
    """The machine lacks something gridward needs (binaries, permissions)."""

    status_code = 503
    exit_code = 3
