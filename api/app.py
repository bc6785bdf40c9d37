"""The FastAPI application: routers over geo, JSON errors, OpenAPI docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from api.errors import install_error_handlers
from api.routes import features


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app; with no engine, the configured database is started and migrated."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            from geo.db import get_engine

            app.state.engine = get_engine()
        yield

    app = FastAPI(
        title="gridward",
        summary="Urban grid management 网格化管理: grids, people, patrols on PostGIS",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.engine = engine
    install_error_handlers(app)
    app.include_router(features.router)
    return app
