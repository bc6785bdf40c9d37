"""Request dependencies: the engine the app was built with; a value given in the JSON body
or the query, once."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Path, Request
from sqlalchemy import Engine

from geo.errors import InputError

T = TypeVar("T")

# a job's id in a path: a UUID however written (upper case, no dashes, braces, urn:uuid:),
# read by geo.jobs.job_key; the length bounds only keep junk short
JobId = Annotated[
    str, Path(min_length=32, max_length=45, description="the job's id (任务编号), a UUID")
]

# given_once's ``what`` and ``where`` in the Chinese part of its refusal
_WHAT_ZH = {"the reason": "reason（理由）"}
_WHERE_ZH = {"as ?reason=": "网址（?reason=）", "in the query": "网址参数"}


def get_engine(request: Request) -> Engine:
    """The app's SQLAlchemy engine (made at start-up, migrated)."""
    return request.app.state.engine


def given_once(what: str, where: str, in_body: T | None, in_query: T | None) -> T | None:
    """The value given in the JSON body or in the query (``where`` names the query form);
    InputError when both give one: which one was meant cannot be told."""
    if in_body is not None and in_query is not None:
        what_zh, where_zh = _WHAT_ZH.get(what, what), _WHERE_ZH.get(where, where)
        raise InputError(
            f"参数只能给一次：{what_zh} 请写在 JSON 请求体或{where_zh}中，不能两处都给 "
            f"give {what} once: in the JSON body or {where}, not both"
        )
    return in_body if in_body is not None else in_query
