"""Patrol reports: GET /reports/{daily|weekly|monthly} as JSON, CSV or XLSX."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from api.auth import Principal, allow
from api.deps import get_engine
from geo.patrol_reports import build_report, export_report, report_json
from geo.settings import city_today

router = APIRouter(tags=["reports"])


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/reports/{kind}",
    summary="Patrol report 巡查报表 (日巡/周查/月评)",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def report(
    kind: Annotated[Literal["daily", "weekly", "monthly"], Path()],
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
    date: Annotated[
        dt.date | None, Query(description="a day of the period (default today)")
    ] = None,
    area: Annotated[str | None, Query(pattern=r"^[0-9]{6,12}$")] = None,
    share: Annotated[float | None, Query(gt=0, le=1, description="default: setting")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
):
    day = date or city_today()
    rep = build_report(engine, kind, day, area, share)  # None → settings.patrolled_share
    if user.role == "steward":  # a steward sees their own line only
        for name in ("people",):
            rep[name] = rep[name][rep[name]["person_id"] == user.person_id]
        rep["alleys"] = rep["alleys"].iloc[0:0]
    if format == "json":
        return JSONResponse({"kind": kind, "date": day.isoformat(), **report_json(rep)})
    folder = FsPath(tempfile.mkdtemp(prefix="gridward-report-"))
    path = export_report(rep, folder / f"{kind}_{day.isoformat()}.{format}")

    def cleanup() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    media = "text/csv" if format == "csv" else XLSX
    return FileResponse(
        path, media_type=media, filename=path.name, background=BackgroundTask(cleanup)
    )
