"""The whole schema: imports every model module so Base.metadata lists every table.

Alembic's environment and the schema tests use this, so a model module added later (accounts,
...) only needs one import line here.
"""

from __future__ import annotations

import geo.accounts_models  # noqa: F401  (users, api_tokens)
from geo.models import Base

metadata = Base.metadata

__all__ = ["Base", "metadata"]
