"""Exports for a district office as files: the duty roster (公示) and the people registry.

GET /exports/roster and GET /exports/people, each as CSV (UTF-8 with a BOM) or XLSX. Planners
(for an area in their scope: ``area`` is required of them) and admins only; the people file
holds phones and homes (T49 #5, #6)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from api.auth import Principal, allow
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
        description="community, subdistrict or district code (required of a planner)",
    ),
]
Format = Annotated[Literal["csv", "xlsx"], Query()]


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
    summary="Duty roster 职责名册 (网格/街/巷 and who holds them)",
    responses=_FILE,
)
def roster_file(
    user: Annotated[Principal, Depends(allow("planner", area_param="area"))],
    engine: Engine = Depends(get_engine),
    area: Area = None,
    format: Format = "xlsx",
    with_phone: Annotated[bool, Query(description="add phone numbers (office copy)")] = False,
):
    from geo.roster_export import export_roster

    return _send(lambda p: export_roster(engine, p, area, with_phone), "roster", area, format)


@router.get(
    "/exports/people",
    summary="People registry 人员名册 as `import people` reads it (phones, homes)",
    responses=_FILE,
)
def people_file(
    user: Annotated[Principal, Depends(allow("planner", area_param="area"))],
    engine: Engine = Depends(get_engine),
    area: Area = None,
    format: Format = "xlsx",
):
    from geo.people_export import export_people

    return _send(lambda p: export_people(engine, p, area), "people", area, format)
