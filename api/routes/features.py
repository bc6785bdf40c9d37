"""GeoJSON layers: /areas, /buildings, /streets (segments), /grids; and /health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text

from api.answers import Health, maybe
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
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": Health}},
)
# uptime monitors send HEAD, which was a 405 (T40 #15); the same checks, no body
@router.head(
    "/health",
    tags=["system"],
    summary="Health as the status code alone 健康检查（仅状态码，供监控）",
    description="200 when the service and its database are up, 503 otherwise; no body.",
    dependencies=[Depends(public())],
    # the GET's answer, whose headers a HEAD carries: typed as it, not an open object
    response_model=None,
    responses={200: {"model": Health, "description": "无正文 no body (GET's headers)"}},
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


class MultiPolygon(BaseModel):
    """A GeoJSON MultiPolygon (RFC 7946: exterior rings counter-clockwise, holes clockwise)."""

    type: Literal["MultiPolygon"]
    coordinates: list[list[list[list[float]]]] = Field(description="经纬度 [lon, lat]（WGS 84）")


class LineString(BaseModel):
    type: Literal["LineString"]
    coordinates: list[list[float]] = Field(description="经纬度 [lon, lat]（WGS 84）")


class _Collection(BaseModel):
    """What every layer's FeatureCollection has beside its features (geo.features)."""

    type: Literal["FeatureCollection"]
    bbox: list[float] = maybe(
        "本页要素的范围 [minlon, minlat, maxlon, maxlat]，无要素时无此键 the page's extent; "
        "left out when it has no feature"
    )
    numberReturned: int = Field(description="本页要素数 features on this page")  # noqa: N815
    numberMatched: int = Field(  # noqa: N815 (the OGC API's names)
        description="符合筛选的要素总数（不计 limit/offset） features matching, whatever the page"
    )


class AreaProperties(BaseModel):
    """An administrative area's properties in GET /areas."""

    id: int
    code: str = Field(description="区划代码，6/9/12 位 the area's code, 6, 9 or 12 digits")
    level: Literal["district", "subdistrict", "township", "community", "village"] = Field(
        description="层级：区、街道、乡镇、社区、村 the level"
    )
    name: str
    name_en: str | None
    parent_code: str | None = Field(description="上级区划代码 the parent area's code")
    area_m2: float | None = Field(description="面积（平方米） area in m²")


class AreaFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: MultiPolygon
    properties: AreaProperties


class AreaCollection(_Collection):
    """GET /areas' answer."""

    features: list[AreaFeature]


class BuildingProperties(BaseModel):
    """A building's properties in GET /buildings."""

    id: int
    source_key: str = Field(description="来源中的键，如 way:123 the key in its source")
    name: str | None
    building_type: str | None = Field(description="建筑类型（OSM building） the building type")
    levels: float | None = Field(description="层数 levels")
    households: int = Field(description="户数 households")
    household_source: Literal["given", "estimated"] = Field(
        description="户数来源：给定 given、估算 estimated where the count came from"
    )
    units: int | None = Field(description="单元数 units (stairwells)")
    area_m2: float | None = Field(description="占地面积（平方米） footprint in m²")
    community_code: str | None = Field(description="所在社区编码 its community's code")
    grid_code: str | None = Field(
        description="所在的现行一级网格编码 the current level-1 grid holding it"
    )


class BuildingFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: MultiPolygon
    properties: BuildingProperties


class BuildingCollection(_Collection):
    """GET /buildings' answer."""

    features: list[BuildingFeature]


class StreetProperties(BaseModel):
    """A street or alley segment's properties in GET /streets."""

    id: int
    uid: str = Field(description="路段的稳定编号 the segment's stable id")
    name: str | None
    highway: str | None = Field(description="道路类型（OSM highway） the OSM highway type")
    kind: Literal["street", "alley"] = Field(description="类型：街 street 或巷 alley")
    length_m: float = Field(description="长度（米） length in metres")
    street_id: int = Field(description="所属街巷编号 streets.id of its street or alley")
    street_key: str = Field(description="所属街巷的键 its street's key")


class StreetFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: LineString
    properties: StreetProperties


class StreetCollection(_Collection):
    """GET /streets' answer."""

    features: list[StreetFeature]


@router.get(
    "/areas",
    tags=["layers"],
    response_class=GeoJSONResponse,
    responses={200: {"model": AreaCollection}},
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
    responses={200: {"model": BuildingCollection}},
    summary="Buildings with households 楼栋 (GeoJSON)",
    description="楼栋；`grid_code` 为所在的现行一级网格 buildings; `grid_code`: the current "
    "level-1 grid holding each one.",
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
    responses={200: {"model": StreetCollection}},
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


class GridProperties(BaseModel):
    """A grid's properties in GET /grids: documented so an integrator reads today's staff,
    not the plan's figures (T67 #2: the old ``worker_count`` was the plan's need)."""

    id: int
    code: str = Field(
        description="网格编码，15/18/20 位（一/二/三级） 15/18/20 digits (level 1/2/3)"
    )
    level: int = Field(description="网格层级 1、2、3 level 1, 2 or 3")
    name: str | None
    label: str = Field(
        description="名称：网格名，否则为“社区 第N网格” the name, else ‹社区› 第N网格"
    )
    households: int = Field(description="户数（今日） today's households of its buildings")
    building_count: int
    version: int = Field(description="社区网格版本 the community's grid version")
    flags: Any = Field(description="方案标记（不足、超出、狭长…） the plan's flags")
    community_code: str = Field(description="所属社区编码，12 位 community code, 12 digits")
    parent_code: str | None = Field(
        description="上级网格编码（一级网格为空） the parent grid's code, null on level 1"
    )
    code_path: str = Field(
        description="编码路径，如 110108015002001-003-02 the code with its levels apart, "
        "e.g. 110108015002001-003-02"
    )
    area_m2: float | None = Field(description="面积（平方米，划分时） m², as the plan measured it")
    street_share: float | None = Field(description="沿街边界占比（划分时） the plan's street share")
    polsby_popper: float | None = Field(
        description="紧凑度 Polsby–Popper（划分时） the plan's Polsby–Popper compactness"
    )
    leaders: int | None = Field(
        description="今日在岗网格长人数（按城市当地日期；二、三级网格为空） grid leaders in force "
        "today (the city's day); null on level 2/3"
    )
    workers: int | None = Field(
        description="今日在岗专职网格员人数（二、三级网格为空） full-time grid workers in force "
        "today; null on level 2/3"
    )
    part_time_workers: int | None = Field(
        description="今日在岗兼职网格员人数，不计入应配专职人数（二、三级网格为空） "
        "part-time workers in force today, not counted against workers_needed; null on "
        "level 2/3"
    )
    workers_needed: int | None = Field(
        description="应配专职网格员：今日户数 ÷ GRIDWARD_HOUSEHOLDS_PER_WORKER 向上取整"
        "（二、三级网格为空） ceil(today's households / GRIDWARD_HOUSEHOLDS_PER_WORKER); "
        "null on level 2/3"
    )
    short_staffed: bool | None = Field(
        description="缺员：无网格长或专职网格员少于应配人数，即 GET /coverage 未计入 "
        "grids_fully_staffed 的网格（二、三级网格为空） no leader, or fewer workers than "
        "workers_needed: the grids GET /coverage leaves out of grids_fully_staffed; null on "
        "level 2/3"
    )


class GridFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any]
    properties: GridProperties


class GridCollection(BaseModel):
    """GET /grids' answer (RFC 7946: exterior rings counter-clockwise, holes clockwise)."""

    type: Literal["FeatureCollection"]
    features: list[GridFeature]
    bbox: list[float] | None = None
    numberReturned: int  # noqa: N815 (the OGC API's name)
    numberMatched: int  # noqa: N815


@router.get(
    "/grids",
    tags=["layers"],
    response_class=GeoJSONResponse,
    summary="Current grids 网格 (GeoJSON)",
    description=(
        "当前网格及今日在岗人员：`leaders`、`workers`（专职）、`part_time_workers` 为城市当地今日"
        "在岗的职责，`workers_needed` 为户数 ÷ GRIDWARD_HOUSEHOLDS_PER_WORKER 向上取整，"
        "`short_staffed` 即 GET /coverage 计为缺员的网格（一级网格；二、三级网格不设职责，为空）；"
        "`parent_code`、`code_path` 标明二、三级网格的位置。 "
        "Current grids with today's staff: `leaders`, `workers` "
        "(full-time) and `part_time_workers` are the duties in force on the city's day, "
        "`workers_needed` is ceil(households / GRIDWARD_HOUSEHOLDS_PER_WORKER) and "
        "`short_staffed` is what GET /coverage counts short (level-1 grids; null on level 2/3, "
        "which hold no duties). `parent_code` and `code_path` place a level-2/3 grid."
    ),
    responses={200: {"model": GridCollection}},
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
    return _fc(engine, "grids", bbox, limit, offset, level=level, community=community)
