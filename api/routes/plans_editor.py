"""Draft plans from the grid editor: POST /plans/draft, POST /plans/rebalance, GET /plans/{id};
POST /plans/import (a grids file edited in QGIS, as ``gridward plans import``);
and GET /plans/history (a community's grid versions: here, before /plans/{id} would take it).

Drafts saved here are ordinary grid plans (same table, same version and data checks), so the
editor's draft is committed or discarded through /plans/{id}/commit and DELETE /plans/{id}.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import Engine

from api.answers import (
    ExistingDraft,
    FileDraft,
    FileExisting,
    FileUnchanged,
    NewDraft,
    Plan,
    Rebalanced,
)
from api.auth import Principal, allow, require_area
from api.bodies import DbId, StrictBody
from api.deps import get_engine
from api.limits import read_upload, upload_openapi
from api.routes.plans import (
    HouseholdBounds,
    PlanId,
    add_history_route,
    body_community,
    plan_planner,
)
from geo.errors import InputError
from geo.plan_drafts import DraftGrid, rebalance, save_draft
from geo.plans import get_plan

router = APIRouter(prefix="/plans", tags=["plans"])


class DraftGridIn(StrictBody):
    code: str | None = Field(default=None, max_length=15, pattern=r"^[0-9]{15}$")
    # strict (T39 M4): JSON true is not building 1, nor 1.0
    building_ids: list[DbId] = Field(max_length=100_000)
    locked: bool = False


class DraftIn(HouseholdBounds):
    """The editor's plan: the same bounds rule and unknown-field refusal as POST /plans."""

    community: str = Field(pattern=r"^[0-9]{12}$", description="12-digit community code")
    grids: list[DraftGridIn] = Field(min_length=1, max_length=999)
    base_version: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        strict=True,
        description="the grid version the editor was opened on (the editor always sends "
        "it): a draft saved, or a rebalance asked, from a page opened before another commit "
        "is refused (409) instead of undoing it; a version the community has not reached is "
        "a 422. Left out, the check is skipped: a draft built from scratch by a script has "
        "no page it was opened on",
    )


class DraftSaveIn(DraftIn):
    """The editor's save: the plan, and the stored plan whose outlines it keeps (the
    rebalance, which stores nothing, takes no such field)."""

    outlines_plan: DbId | None = Field(
        default=None,
        description="the stored plan (a draft, engine or editor made) the editor was opened "
        "on: each grid holding the same buildings as one of its grids keeps that grid's "
        "outline, the others are drawn from their buildings in the rest (answer: outlines."
        "plan). Left out, the outlines kept are those of the current grid version. A plan "
        "that does not exist or is another community's is a 422 naming it, nothing stored",
    )


@router.post(
    "/draft",
    status_code=201,
    summary="Save an edited plan as a draft 存为草案",
    responses={
        201: {"model": NewDraft},
        200: {
            "model": ExistingDraft,
            "description": "the same grids (codes, buildings) and bounds as an open draft made "
            "on the same grid version: that draft, not stored again (existing: true, message) "
            "与草案 #N 相同，未另存",
        },
        409: {
            "description": "the grids are the current grids (nothing to commit: not saved), "
            "or the page was opened before another commit 与现行网格相同，无需提交"
        },
    },
)
def post_draft(
    body: DraftSaveIn,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    """201 with the new draft (``existing`` false). A save repeating an open draft answers
    that draft (200, ``existing`` true, ``message``); one of the current grids is a 409 in
    the commit's words. WHY (T63 #3): saving an unchanged page stored copies.
    ``outlines_plan``: the draft the page was opened on, whose outlines unchanged grids
    keep (an engine draft re-saved unchanged was redrawn from its buildings)."""
    require_area(user, body.community, engine)
    body_community(engine, body.community)
    out = save_draft(
        engine,
        body.community,
        body.min_households,
        body.max_households,
        [DraftGrid(g.code, list(g.building_ids), g.locked) for g in body.grids],
        created_by=user.username,
        base_version=body.base_version,
        repeats=True,
        outlines_plan=body.outlines_plan,
    )
    return JSONResponse(out, status_code=200 if out["existing"] else 201)


@router.post(
    "/rebalance",
    summary="Re-partition all but the locked grids 平衡其余网格 (not stored)",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": Rebalanced}},
)
def post_rebalance(
    body: DraftIn,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    require_area(user, body.community, engine)
    body_community(engine, body.community)
    return rebalance(
        engine,
        body.community,
        body.min_households,
        body.max_households,
        [DraftGrid(g.code, list(g.building_ids), g.locked) for g in body.grids],
        base_version=body.base_version,
    )


@router.post(
    "/import",
    status_code=201,
    summary="A grids file edited in QGIS as a draft 网格文件导入为草案",
    responses={
        201: {"model": FileDraft},
        200: {
            "model": FileUnchanged | FileExisting,
            "description": "the file's grids are the current ones: no draft saved "
            "(unchanged: true, message, no plan_id) 与现行网格相同，未保存草案; or those of an "
            "open draft: that draft, not stored again (existing: true, message) 与草案 #N "
            "相同，未另存",
        },
    },
    openapi_extra=upload_openapi(
        {
            "community": {"type": "string", "pattern": "^[0-9]{12}$"},
            "min_households": {"type": "integer", "description": "default: the current grids'"},
            "max_households": {"type": "integer", "description": "default: the current grids'"},
            "crs": {"type": "string", "description": "the CRS of a file without one"},
        }
    ),
)
async def post_import(
    request: Request,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    """As ``gridward plans import FILE --community C`` (T49 #7): the polygons of a grids file
    (gridward's export edited in QGIS, GeoJSON/GPKG/KML or a zipped shapefile), each building
    of the community in the polygon covering most of its footprint, saved as a draft by the
    editor's path (its checks apply; nothing stored when refused). Planners of the community
    and admins, as POST /plans/draft. Grid outlines are redrawn from the buildings along the
    streets: a boundary moved without moving any building changes nothing. A file whose
    grids are the current ones stores no draft: 200 with ``unchanged`` true, ``message``
    and no ``plan_id``."""
    from starlette.concurrency import run_in_threadpool

    from geo.grid_file_import import import_grid_file

    up = await read_upload(request)
    community = up.fields.get("community", "")
    if not (len(community) == 12 and community.isdigit()):
        raise InputError(
            f"社区编码 {community[:20]!r} 须为 12 位数字 "
            f"community {community[:20]!r} must be a 12-digit code"
        )
    require_area(user, community, engine)
    body_community(engine, community)
    bounds = [_whole(up.fields, k) for k in ("min_households", "max_households")]
    name = FsPath(up.filename or "").name
    if name in ("", ".", ".."):  # a name that is no file name: the file's type is unknown
        name = "grids.geojson"
    with tempfile.TemporaryDirectory(prefix="gridward-grids-") as folder:
        path = FsPath(folder) / name
        path.write_bytes(up.data)
        out = await run_in_threadpool(
            import_grid_file,
            engine,
            path,
            community,
            *bounds,
            crs=up.fields.get("crs") or None,
            created_by=user.username,
        )
    # the current grids, or an open draft's (T70 #13): none stored, so 200, not 201 Created
    stored = "plan_id" in out and not out.get("existing")
    return JSONResponse(out, status_code=201 if stored else 200)


def _whole(fields: dict[str, str], key: str) -> int | None:
    """A form field as a whole number (None when left out); 422 naming it otherwise."""
    value = fields.get(key, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"{key} 须为整数，现为 {value[:20]!r} {key} must be a whole number, got {value[:20]!r}"
        ) from None


# GET /plans/history: a community's grid versions and their code crosswalk (viewers too),
# defined in api.routes.plans; registered here, before /{plan_id} would take "history"
add_history_route(router)


@router.get(
    "/{plan_id}",
    summary="A plan with its summary and grids 方案 (planners of its area, admins)",
    # a plan is a planner's working paper (drafts, discarded ones): viewers and stewards see
    # the committed grids on the maps and /grids instead
    dependencies=[Depends(plan_planner)],
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": Plan}},
)
def read_plan(plan_id: PlanId, engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    return get_plan(engine, plan_id)
