"""The FastAPI application: routers over geo, JSON errors, OpenAPI docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from api.auth import document_error_responses
from api.errors import install_error_handlers
from api.limits import BodyLimitMiddleware
from api.routes import auth as auth_routes
from api.routes import features, login, plans, plans_editor, reports, staffing, tiles, tracks
from api.routes import maps as maps_routes
from api.runtime import version
from geo.auth_settings import check_production, get_auth_settings

# Answers of at least this many bytes are gzip'd for clients that accept it (the patrol map
# page and the layers shrink to a fifth: nothing was compressed, tester); not XLSX, which is
# a zip file already. File downloads stream through it intact (tests/test_maps_viewer.py).
GZIP_MIN_BYTES = 1000
GZIP_SKIP = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app; with no engine, the configured database is started and migrated."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            from geo.db import get_engine

            app.state.engine = get_engine()
        from geo.jobs import recover_stale_jobs

        recover_stale_jobs(app.state.engine)  # jobs left "running" by a dead process → failed
        from api.background import resume_match_queue

        resume_match_queue(app.state.engine)  # tracks left queued by a dead process: drain
        yield

    check_production(get_auth_settings())  # no default secret in production (SetupError)
    app = FastAPI(
        title="gridward",
        summary="Urban grid management 网格化管理: grids, people, patrols on PostGIS",
        version=version(),
        lifespan=lifespan,
    )
    app.state.engine = engine
    from api.ratelimit import FailureLimiter

    app.state.signin_limiter = FailureLimiter()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)  # cap every body while it streams in (413)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=6,  # 9 costs several times the time for a few per cent
        exclude_content_types=GZIP_SKIP,
    )
    document_error_responses(app)  # OpenAPI: any operation may answer {error, status}
    app.include_router(auth_routes.router)
    app.include_router(features.router)
    app.include_router(tiles.router)
    app.include_router(maps_routes.router)
    app.include_router(plans_editor.router)
    app.include_router(plans.router)
    app.include_router(tracks.router)
    app.include_router(reports.router)
    app.include_router(staffing.router)
    app.include_router(login.router)
    return app
