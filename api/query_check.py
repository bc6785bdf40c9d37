"""Unknown query parameters on the API's reading routes are a 422, not ignored.

WHY (outside tester T67 #13): ``GET /people?area=110108015002`` returned all 191 people,
``GET /grids?foo=bar`` and ``GET /plans?offset=2`` answered as if the parameter were not there,
while the reports and uploads refuse what they do not take. A sync job with a misspelt filter
pulled everything and could not tell. Each route's parameters are the ones FastAPI knows it
takes (its own and its dependencies'), read once per route.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from geo.errors import InputError

# pages a browser opens (their links may carry a marker of their own) and the docs: not the
# API's reading routes
_PAGES = ("/maps", "/login", "/docs", "/redoc")


def _declared(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` takes: their aliases, as a client spells them, its own
    and those of every dependency (a rule reading ``area``). Walked here: FastAPI's helper for
    it is internal and renamed between versions. Kept on the route (read once)."""
    kept = getattr(route, "_gridward_query", None)
    if kept is not None:
        return kept
    names: set[str] = set()
    todo: list[Dependant] = [route.dependant]
    while todo:
        dep = todo.pop()
        names.update(p.alias for p in dep.query_params)
        todo.extend(dep.dependencies)
    route._gridward_query = frozenset(names)  # type: ignore[attr-defined]
    return route._gridward_query  # type: ignore[attr-defined]


def refuse_unknown_query(request: Request) -> None:
    """An app-wide dependency: on GET (and HEAD) of an API route, a query parameter the route
    does not take is an InputError (422) naming it and those it takes. Writes are left to
    their own checks (uploads read their fields from the URL and the form together)."""
    if request.method not in ("GET", "HEAD") or request.url.path in ("/", "/health"):
        # /health: a probe, whose monitors may add a marker of their own
        return
    if request.url.path.startswith(_PAGES):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _declared(route)
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if not unknown:
        return
    path = route.path
    known = ", ".join(sorted(allowed)) or "无"
    known_en = ", ".join(sorted(allowed)) or "no parameters"
    raise InputError(
        f"未知参数 {unknown[0][:40]!r}：GET {path} 只接受 {known} "
        f"unknown parameter {unknown[0][:40]!r}: GET {path} takes {known_en}",
        code="unknown_parameter",
    )
