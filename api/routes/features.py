"""GeoJSON layers: /areas, /buildings, /streets (segments), /grids; and /health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from api.auth import allow, public
from api.deps import get_engine
from api.runtime import version
from geo.db import schema_problem
from geo.errors import SetupError
from geo.features import MAX_LIMIT, feature_collection, parse_bbox

router = APIRouter()

BBox = Annotated[
    str | None,
    Query(
        description="minlon,minlat,maxlon,maxlat (WGS 84)", examples=["116.31,39.99,116.33,40.01"]
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many features")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="skip this many features")]
GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """RFC 7946 media type, so the OpenAPI schema documents what the layers really return."""

    media_type = GEOJSON


# Map layers: everyone signed in (stewards view maps too).
MAP_READERS = [Depends(allow("viewer", "steward"))]


def _fc(
    engine: Engine, layer: str, bbox: str | None, limit: int, offset: int, **f: Any
) -> JSONResponse:
    fc = feature_collection(engine, layer, parse_bbox(bbox), limit, offset, f)
    return GeoJSONResponse(fc)


@router.get(
    "/health",
    tags=["system"],
    summary="Service and database health 健康检查",
    dependencies=[Depends(public())],
)
# uptime monitors send HEAD, which was a 405 (T40 #15); the same checks, no body
@router.head(
    "/health",
    tags=["system"],
    summary="Health as the status code alone 健康检查（仅状态码，供监控）",
    description="200 when the service and its database are up, 503 otherwise; no body.",
    dependencies=[Depends(public())],
)
def health(engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    problem = schema_problem(rev)
    if problem is not None:  # a newer gridward migrated the database under this one: 503
        raise SetupError(problem)
    return {
        "status": "ok",
        "version": version(),  # which build answers: an admin checks that an upgrade took
        "database": "ok",
        "postgis": postgis,
        "schema": rev,
    }


@router.get(
    "/areas",
    tags=["layers"],
    response_class=GeoJSONResponse,
    summary="Administrative areas 行政区划 (GeoJSON)",
    dependencies=MAP_READERS,
)
def areas(
    engine: Engine = Depends(get_engine),
    bbox: BBox = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    level: Literal["district", "subdistrict", "township", "community", "village"] | None = None,
    code: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9]+$")] = None,
) -> JSONResponse:
    return _fc(engine, "areas", bbox, limit, offset, level=level, code=code)


@router.get(
    "/buildings",
    tags=["layers"],
    response_class=GeoJSONResponse,
    summary="Buildings with households 楼栋 (GeoJSON)",
    dependencies=MAP_READERS,
)
def buildings(
    engine: Engine = Depends(get_engine),
    bbox: BBox = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    community: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9]{12}$")] = None,
) -> JSONResponse:
    return _fc(engine, "buildings", bbox, limit, offset, community=community)


@router.get(
    "/streets",
    tags=["layers"],
    response_class=GeoJSONResponse,
    summary="Street and alley segments 街巷 (GeoJSON)",
    dependencies=MAP_READERS,
)
def streets(
    engine: Engine = Depends(get_engine),
    bbox: BBox = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    kind: Literal["street", "alley"] | None = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    return _fc(engine, "streets", bbox, limit, offset, kind=kind, name=name)


@router.get(
    "/grids",
    tags=["layers"],
    response_class=GeoJSONResponse,
    summary="Current grids 网格 (GeoJSON)",
    dependencies=MAP_READERS,
)
def grids(
    engine: Engine = Depends(get_engine),
    bbox: BBox = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    level: Annotated[int | None, Query(ge=1, le=3)] = None,
    community: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9]{12}$")] = None,
) -> JSONResponse:
    fc = feature_collection(
        engine, "grids", parse_bbox(bbox), limit, offset, {"level": level, "community": community}
    )
    for f in fc["features"]:
        _flatten_grid(f["properties"])
    return GeoJSONResponse(fc)


# what a grid's stored plan figures give a map reader, beside its own columns
_GRID_FIGURES = ("area_m2", "street_share", "polsby_popper", "leader_count", "worker_count")


def _flatten_grid(props: dict[str, Any]) -> None:
    """A grid's stored ``properties`` (the plan's figures, its building ids, the editor's
    lock) came nested as ``properties.properties`` (tester): its figures join the grid's own
    properties, and the building id list and lock, the editor's working data (the editor
    reads them from its own page and the plan, never from /grids), are left out."""
    nested = props.pop("properties", None)
    if isinstance(nested, dict):
        for key in _GRID_FIGURES:
            if key in nested and key not in props:
                props[key] = nested[key]
