"""Request dependencies: the engine the app was built with; a value given in the JSON body
or the query, once."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from sqlalchemy import Engine

from geo.errors import InputError

T = TypeVar("T")


def get_engine(request: Request) -> Engine:
    """The app's SQLAlchemy engine (made at start-up, migrated)."""
    return request.app.state.engine


def given_once(what: str, where: str, in_body: T | None, in_query: T | None) -> T | None:
    """The value given in the JSON body or in the query (``where`` names the query form);
    InputError when both give one: which one was meant cannot be told."""
    if in_body is not None and in_query is not None:
        raise InputError(
            "参数只能给一次，请求体和网址二选一 "
            f"give {what} once: in the JSON body or {where}, not both"
        )
    return in_body if in_body is not None else in_query
