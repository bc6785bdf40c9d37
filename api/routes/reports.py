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
from geo.patrol_reports import (
    build_report,
    export_report,
    report_json,
    report_period,
    share_used,
)
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
        dt.date | None,
        Query(
            description="a day of the period (default today); a running period stops at "
            "today (see from/to/days), a future one is a 422"
        ),
    ] = None,
    area: Annotated[str | None, Query(pattern=r"^[0-9]{6,12}$")] = None,
    share: Annotated[float | None, Query(gt=0, le=1, description="default: setting")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
):
    today = city_today()  # once: the period and the report must agree near midnight
    day = date or today
    period = report_period(kind, day, today)  # a future or pre-1990 period is a 422
    share = share_used(share)  # None → the setting; every format says which was used
    rep = build_report(engine, kind, day, area, share, today)
    if user.role == "steward":  # a steward sees their own line and their own alleys only
        rep["people"] = rep["people"][rep["people"]["person_id"] == user.person_id]
        mine = [user.person_id in (ids or []) for ids in rep["alleys"].get("person_ids", [])]
        rep["alleys"] = rep["alleys"][mine] if len(mine) else rep["alleys"].iloc[0:0]
    if format == "json":
        body = {
            "kind": kind,
            "date": day.isoformat(),
            **period.meta(),
            "share": share,
            **report_json(rep),
        }
        return JSONResponse(body)
    folder = FsPath(tempfile.mkdtemp(prefix="gridward-report-"))
    span = f"{period.start}_{period.through}" if kind != "daily" else f"{day}"
    path = export_report(rep, folder / f"{kind}_{span}.{format}", period, share)

    def cleanup() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    media = "text/csv" if format == "csv" else XLSX
    return FileResponse(
        path, media_type=media, filename=path.name, background=BackgroundTask(cleanup)
    )
