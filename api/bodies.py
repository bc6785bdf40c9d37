"""The base of every JSON request body: an unknown field is a 422 naming it; and the
database id a body may give (a duty's person or target: text or a JSON number).

WHY: a misspelt optional field (``"seeds"`` for ``"seed"``, ``"reson"`` for ``"reason"``) was
dropped without a word and the request ran on defaults (outside tester W, F15); pydantic's
``extra="forbid"`` refuses it and api.errors words the refusal (未知字段 …).
"""

from __future__ import annotations

from typing import Annotated

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
