"""Account tables: users with a role and an area scope, and their bearer/API tokens.

Kept apart from :mod:`geo.models` (the place data) so the trust layer can evolve on its own;
:mod:`geo.schema` imports this module so Alembic sees the tables.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base

USER_ROLES = ("admin", "planner", "steward", "viewer")
# A patrol person's account: the one role ``steward`` serves alley stewards and street chiefs
# alike (their own walks and duties), so its Chinese name says both; 小巷管家 alone told a
# street chief he was a steward (outside tester T40 #8). The label of the role wherever it is
# named (users lines, 403s), and the subject of a steward's refusals (api.auth.person_for).
STEWARD_ZH = "巡查人员（小巷管家/街巷长）"
# each role in the Chinese part of a message ("role {role!r}" stays in the English)
ROLE_ZH = {"admin": "管理员", "planner": "规划员", "steward": STEWARD_ZH, "viewer": "查看员"}


def role_zh(role: str) -> str:
    """``role`` in Chinese ("规划员", "巡查人员（小巷管家/街巷长）"); an unknown one as it is."""
    return ROLE_ZH.get(role, role)


# Which roles pass a rule naming a role (admin > planner > viewer; steward apart): the API's
# rules (api.auth.allow) and what a role change takes away (geo.accounts.update_user).
IMPLIED: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "planner": frozenset({"planner", "admin"}),
    "viewer": frozenset({"viewer", "planner", "admin"}),
    "steward": frozenset({"steward", "admin"}),
}
TOKEN_KINDS = ("access", "api")


class User(Base):
    """Someone who signs in. ``area_codes`` scopes a planner: a code is a prefix of the area
    and grid codes they may edit (a subdistrict's 9 digits cover its communities and grids).
    A steward is linked to the person (``people``) whose tracks and duties are theirs."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {USER_ROLES}", name="ck_users_role"),
        CheckConstraint("username ~ '^[A-Za-z0-9_.@-]{1,64}$'", name="ck_users_username"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    area_codes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class ApiToken(Base):
    """A bearer token: short-lived ``access`` (password flow) or long-lived ``api`` (phones).

    Only a SHA-256 of the secret is stored, never the secret itself: ``sha256:`` + base64url
    (:func:`geo.accounts.token_hash`), or 64 hex chars of the older HMAC scheme, re-hashed on
    the token's next use."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"kind IN {TOKEN_KINDS}", name="ck_api_tokens_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
