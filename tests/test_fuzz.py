"""Schemathesis over the app's own OpenAPI schema, signed in as admin: no 5xx for any generated
request, and every response matches the schema (status codes, content types, bodies).

Bounded: ``MAX_EXAMPLES`` per operation, derandomized, well under a minute. (Schemathesis'
pytest plugin does not run under pytest 9, so each operation's Hypothesis strategy is driven
here with ``@given``.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 10
# Operations that end the caller's own session (each case gets a fresh token anyway).
EXCLUDED = {("POST", "/auth/logout")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operations() -> list[tuple[str, str]]:
    from api.app import create_app

    paths = create_app(None).openapi()["paths"]
    return sorted(
        (m.upper(), p)
        for p, item in paths.items()
        for m in item
        if m in ("get", "post", "put", "patch", "delete") and (m.upper(), p) not in EXCLUDED
    )


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def fuzz(engine):
    from sqlalchemy import delete

    from api.app import create_app
    from geo.accounts import create_user, issue_token
    from geo.accounts_models import User

    users = User.__table__
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.username == "fuzz-admin"))
        uid = create_user(conn, "fuzz-admin", "fuzz-password", "admin")

    def fresh_headers() -> dict[str, str]:
        with engine.begin() as conn:
            return {"Authorization": f"Bearer {issue_token(conn, uid, 'access')[1]}"}

    app = create_app(engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema, fresh_headers
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.username == "fuzz-admin"))


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_openapi_conformance(fuzz, method: str, path: str) -> None:
    schema, fresh_headers = fuzz
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case) -> None:
        # A fresh token per case: a generated DELETE /auth/api-tokens/{id} may revoke any token.
        case.call_and_validate(headers=fresh_headers(), checks=CHECKS)

    run()
