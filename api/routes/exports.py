"""Exports for a district office as files: the duty roster (公示) and the people registry.

GET /exports/roster and GET /exports/people, each as CSV (UTF-8 with a BOM) or XLSX. Planners
(for an area in their scope: ``area``; left out, their own area when they have one) and
admins only; the people file holds phones and homes (T49 #5, #6)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from api.auth import Principal, allow, require_area
from api.deps import get_engine

router = APIRouter(tags=["exports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}
Area = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{6,12}$",
        description="community, subdistrict or district code (a planner's own area when "
        "left out and they have one; with several, required)",
    ),
]
Format = Annotated[Literal["csv", "xlsx"], Query()]


def _area_of(user: Principal, area: str | None, engine: Engine) -> str | None:
    """The area an export is for: as given (an admin's None: the whole city); a planner's
    must be in their scope (403, the words of ``allow(area_param=...)``), and without one
    it is their area when they have one, else a 422 naming theirs. WHY (T50 #10): a
    planner without ``area`` was told 不在您的管辖区域内：（未给出）, as if outside."""
    if user.role != "planner":
        return area
    if area is None:
        if len(user.area_codes) == 1:
            return user.area_codes[0]
        if not user.area_codes:
            raise HTTPException(
                403,
                "您的规划员账号没有管辖区域，无法导出，请联系管理员 "
                "your planner account has no areas: ask an admin",
            )
        mine_zh, mine = "、".join(user.area_codes), ", ".join(user.area_codes)
        raise HTTPException(
            422,
            f"请指定区域参数 area，须为您的区域之一（{mine_zh}） "
            f"area is required: one of your areas {mine}",
        )
    try:
        require_area(user, area, engine)
    except HTTPException:
        raise HTTPException(
            403, f"不在您的管辖区域内：{area}（参数 area）。 outside your areas: area={area}"
        ) from None
    return area


def _send(write, what: str, area: str | None, format: str) -> FileResponse:  # noqa: ANN001
    """``write(path)`` into a temporary folder, sent as ``<what>[_<area>].<format>`` and the
    folder removed once sent."""
    name = what + (f"_{area}" if area else "")
    folder = FsPath(tempfile.mkdtemp(prefix="gridward-export-"))
    path = folder / f"{name}.{format}"
    try:
        write(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type="text/csv" if format == "csv" else XLSX,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get(
    "/exports/roster",
    # a file, never JSON: without it the schema listed an application/json answer as {}
    response_class=FileResponse,
    summary="Duty roster 职责名册 (网格/街/巷 and who holds them)",
    responses=_FILE,
)
def roster_file(
    user: Annotated[Principal, Depends(allow("planner"))],  # the area: _area_of
    engine: Engine = Depends(get_engine),
    area: Area = None,
    format: Format = "xlsx",
    with_phone: Annotated[bool, Query(description="add phone numbers (office copy)")] = False,
):
    from geo.roster_export import export_roster

    area = _area_of(user, area, engine)
    return _send(lambda p: export_roster(engine, p, area, with_phone), "roster", area, format)


@router.get(
    "/exports/people",
    # a file, never JSON: without it the schema listed an application/json answer as {}
    response_class=FileResponse,
    summary="People registry 人员名册 as `import people` reads it (phones, homes)",
    responses=_FILE,
)
def people_file(
    user: Annotated[Principal, Depends(allow("planner"))],  # the area: _area_of
    engine: Engine = Depends(get_engine),
    area: Area = None,
    format: Format = "xlsx",
    leavers: Annotated[
        bool, Query(description="also those who left (已离岗), with a 在岗状态 column")
    ] = False,
):
    from geo.people_export import export_people

    area = _area_of(user, area, engine)
    return _send(lambda p: export_people(engine, p, area, leavers), "people", area, format)
