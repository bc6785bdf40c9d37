"""Request dependencies: the engine the app was built with."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine


def get_engine(request: Request) -> Engine:
    """The app's SQLAlchemy engine (made at start-up, migrated)."""
    return request.app.state.engine
