"""Trust settings: the token secret, token lifetimes, production mode, job recovery.

Separate from :mod:`geo.settings` so the accounts layer owns its own knobs. Values come from
``GRIDWARD_*`` environment variables like every other setting.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import SetupError
from geo.settings import empty_is_unset

# The development secret: fine on a laptop, refused in production (see check_production).
DEV_SECRET = "gridward-development-secret-not-for-production"


class AuthSettings(BaseSettings):
    """Auth and fault-handling settings with documented defaults."""

    model_config = SettingsConfigDict(env_prefix="GRIDWARD_", extra="ignore")

    env: str = Field(
        default="development",
        description="'production' refuses to start with a default or empty secret.",
    )
    secret: str = Field(
        default=DEV_SECRET,
        description=(
            "Key of the older HMAC token hashes only (tokens are now stored as a plain SHA-256, "
            "geo.accounts.token_hash): an old token not used before a change stops working."
        ),
    )
    access_token_minutes: int = Field(
        default=60, ge=1, description="Lifetime of a password-flow access token, minutes."
    )
    api_token_days: int = Field(
        default=365, ge=1, description="Default lifetime of a long-lived API token, days."
    )
    token_touch_seconds: int = Field(
        default=60,
        ge=0,
        description="last_used_at is written at most this often per token (saves writes).",
    )
    job_stale_seconds: int = Field(
        default=0,
        ge=0,
        description=(
            "At start-up, 'running' jobs not updated for this long are marked failed. 0 suits "
            "one API process; with replicas, set it above the jobs' heartbeat interval."
        ),
    )
    # WHY ge: -1 started fine, then every request, sign-in too, was a 413 "the limit is
    # -0.000977 KB" (tester T68 #5); 64 KiB is what the code allows a form beside its files
    max_body_bytes: int | None = Field(
        default=None,
        ge=64 * 1024,
        description="Largest request body, at least 64 KiB; default (unset or empty): "
        "max_upload_bytes plus 64 KiB for forms.",
    )

    @field_validator("max_body_bytes", mode="before")
    @classmethod
    def _default_when_empty(cls, v: Any) -> Any:
        """Empty is unset, the default cap (:func:`geo.settings.empty_is_unset`)."""
        return empty_is_unset(v)

    @property
    def production(self) -> bool:
        return self.env.strip().lower() in ("production", "prod")


def check_production(s: AuthSettings) -> None:
    """Raise SetupError when production mode would run with a guessable secret."""
    if not s.production:
        return
    secret = s.secret.strip()
    if not secret or secret == DEV_SECRET:
        raise SetupError(
            "生产环境（GRIDWARD_ENV=production）须把 GRIDWARD_SECRET 设为足够长的随机值（如 "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'） "
            "GRIDWARD_ENV=production needs GRIDWARD_SECRET set to a long random value "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if len(secret) < 32:
        raise SetupError(
            "生产环境的密钥 GRIDWARD_SECRET 太短，至少 32 个字符 "
            "GRIDWARD_SECRET is too short for production: use at least 32 chars"
        )


@lru_cache(maxsize=1)
def get_auth_settings() -> AuthSettings:
    """The process-wide auth settings (read once from the environment)."""
    return AuthSettings()
