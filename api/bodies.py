"""The base of every JSON request body: an unknown field is a 422 naming it.

WHY: a misspelt optional field (``"seeds"`` for ``"seed"``, ``"reson"`` for ``"reason"``) was
dropped without a word and the request ran on defaults (outside tester W, F15); pydantic's
``extra="forbid"`` refuses it and api.errors words the refusal (未知字段 …).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")
