"""The base of every JSON request body: an unknown field is a 422 naming it; and the
database id a body may give (a duty's person or target: text or a JSON number).

WHY: a misspelt optional field (``"seeds"`` for ``"seed"``, ``"reson"`` for ``"reason"``) was
dropped without a word and the request ran on defaults (outside tester W, F15); pydantic's
``extra="forbid"`` refuses it and api.errors words the refusal (未知字段 …).
"""

from __future__ import annotations

from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

#: A database id (people.id, streets.id, grids.id) in a JSON body: a whole JSON number only.
#: WHY strict (T39 M4): beside text in a union (``str | DbId``), pydantic's lax int took JSON
#: ``true`` as id 1, and ``1.0`` as 1: a duty was set on whoever had id 1. Strict, anything
#: but an integer is refused as the field's other 422s are (字段 person 须为文字或整数 …);
#: ``1.0`` too, as the plans bodies' numbers are (whole numbers, true is not 1).
DbId = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


def is_json_type(content_type: str | None) -> bool:
    """Whether a Content-Type is one FastAPI reads a body as JSON by: application/json or
    application/*+json (no Content-Type at all it reads as JSON too)."""
    main = (content_type or "").split(";")[0].strip().lower()
    return (
        not main
        or main == "application/json"
        or (main.startswith("application/") and main.endswith("+json"))
    )


def not_json_words(exc: RequestValidationError, content_type: str | None) -> str | None:
    """The 415's words when a JSON route's body was refused because it was not sent as JSON,
    None for any other validation error (JSON that is not an object stays a 422).

    WHY (T67 #19): ``POST /auth/api-tokens -d 'name=x'`` (curl's form type) was told
    ``422 请求体须为 JSON 对象``, as if the JSON were wrong, while POST /auth/token with JSON
    and POST /tracks without a body get a 415 naming the type to send. FastAPI hands a body of
    another type to validation as raw bytes: that, with a body error, is the sign."""
    if is_json_type(content_type) or not isinstance(getattr(exc, "body", None), bytes | bytearray):
        return None
    if not any(tuple(err.get("loc", ()))[:1] == ("body",) for err in exc.errors()):
        return None
    sent = (content_type or "").split(";")[0].strip().lower()[:60]
    return (
        "请求体须为 JSON：请用 Content-Type: application/json 发送 JSON 对象"
        f"（收到的内容类型为 {sent!r}） "
        "the request body must be JSON: send a JSON object with Content-Type: "
        f"application/json (got content type {sent!r})"
    )
