"""Patrol reports: GET /reports/{daily|weekly|monthly} as JSON, CSV or XLSX."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from api.auth import Principal, allow
from api.deps import get_engine
from geo.errors import InputError
from geo.patrol_reports import (
    EVALUATOR_COLS,
    READER_ROLES,
    Report,
    build_report,
    for_readers,
    own_notes,
    report_summary,
    share_used,
)
from geo.report_export import check_table, export_report, report_json
from geo.report_period import report_period
from geo.settings import city_today, get_settings

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
    request: Request,
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
    table: Annotated[
        Literal["people", "alleys", "areas", "segments"] | None,
        Query(
            description="the table a CSV holds (default people; segments: daily only); "
            "JSON and XLSX hold every table"
        ),
    ] = None,
):
    _plain_query(request)
    if table is not None and format != "csv":
        raise InputError(
            f"选表 table={table} 只用于 CSV，{format} 含全部表 "
            f"table={table} picks the table of a CSV: {format} holds every table"
        )
    if format == "csv":
        check_table(table, kind)  # segments of a week: a 422 before any work
    today = city_today()  # once: the period and the report must agree near midnight
    day = date or today
    period = report_period(kind, day, today)  # a future or pre-1990 period is a 422
    share = share_used(share)  # None → the setting; every format says which was used
    rep = build_report(engine, kind, day, area, share, today)
    if user.role == "steward":
        _own_view(rep, user.person_id)
    if user.role in READER_ROLES:  # no shell command on a steward's phone (T40 #12)
        for_readers(rep)
    if format == "json":
        body = {
            "kind": kind,
            "date": day.isoformat(),
            **period.meta(),
            "share": share,
            # the zone the times and days are in (T40 #9): the times carry their offset,
            # the days (day, from, to) do not
            "time_zone": get_settings().timezone,
            **report_summary(rep, period),
            **report_json(rep),
        }
        return JSONResponse(body)
    folder = FsPath(tempfile.mkdtemp(prefix="gridward-report-"))
    span = f"{period.start}_{period.through}" if kind != "daily" else f"{day}"
    name = (
        f"{kind}_{span}"
        + (f"_{area}" if area else "")  # four communities' files were named alike
        + (f"_{table}" if table not in (None, "people") else "")
    )
    path = export_report(rep, folder / f"{name}.{format}", period, share, table)

    def cleanup() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    media = "text/csv" if format == "csv" else XLSX
    return FileResponse(
        path, media_type=media, filename=path.name, background=BackgroundTask(cleanup)
    )


_QUERY = frozenset({"date", "area", "share", "format", "table"})


def _plain_query(request: Request) -> None:
    """A misspelt parameter (``?data=2026-11-05``) gave this week's running report as if it
    were the one asked for, and a repeated one took its last value: both are a 422 now, as
    they are for uploads."""
    keys = request.query_params.keys()
    unknown = sorted(set(keys) - _QUERY)
    if unknown:
        known = ", ".join(sorted(_QUERY))
        raise InputError(
            f"未知参数 {unknown[0]!r}，报表只接受 {known} "
            f"unknown parameter {unknown[0]!r}: a report takes {known}"
        )
    twice = sorted(k for k in set(keys) if len(request.query_params.getlist(k)) > 1)
    if twice:
        raise InputError(
            f"参数 {twice[0]!r} 给了多次，请只给一次 "
            f"parameter {twice[0]!r} given more than once: give it once"
        )


def _own_view(rep: Report, person_id: int | None) -> None:
    """A steward sees their own line, their own alleys (and daily segments), and the area
    rows (community and subdistrict) where those alleys lie, for their own roles: not
    every community's totals. Not the flags (``suspect_tracks`` and its note): they are for
    evaluators (admins, planners, viewers), so her tables leave the column out."""
    rep["people"] = rep["people"][rep["people"]["person_id"] == person_id]
    for name in ("people", "alleys", "areas"):
        if name in rep:
            rep[name] = rep[name].drop(columns=list(EVALUATOR_COLS), errors="ignore")
    if "pending" in rep["people"].columns:  # theirs, not their alleys' (a co-holder may
        # have walked an alley whose own part this steward still owes)
        rep.meta["pending"] = int(rep["people"]["pending"].fillna(0).sum())
    own_notes(rep, person_id)  # notes naming people: only their own (T43 #5, #11)
    for name in ("alleys", "segments"):
        if name not in rep:
            continue
        mine = [person_id in (ids or []) for ids in rep[name].get("person_ids", [])]
        rep[name] = rep[name][mine] if len(mine) else rep[name].iloc[0:0]
    alleys, areas = rep["alleys"], rep["areas"]
    comms = set(zip(alleys["role"], alleys["community_code"].fillna(""), strict=True))
    subs = set(zip(alleys["role"], alleys["subdistrict_code"].fillna(""), strict=True))
    keep = [
        (r, s) in subs if lvl == "subdistrict" else (r, c) in comms
        for r, lvl, c, s in zip(
            areas["role"],
            areas["level"],
            areas["community_code"].fillna(""),
            areas["subdistrict_code"].fillna(""),
            strict=True,
        )
    ]
    if "district_code" in areas.columns:  # a district row: the district of their subdistricts
        # (T50 #11; its community_code is blank, which matched alleys outside every community)
        codes = areas["district_code"].fillna("")
        dists = {
            (r, d)
            for r, lvl, d, k in zip(areas["role"], areas["level"], codes, keep, strict=True)
            if k and lvl == "subdistrict"
        }
        keep = [
            (r, d) in dists if lvl == "district" else k
            for r, lvl, d, k in zip(areas["role"], areas["level"], codes, keep, strict=True)
        ]
    rep["areas"] = areas[keep].reset_index(drop=True) if keep else areas.iloc[0:0]
