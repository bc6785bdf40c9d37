"""Patrol reports: GET /reports/{daily|weekly|monthly} as JSON, CSV or XLSX; a closed
period's report signed (签发, POST /reports/{kind}/sign) and read back as it was signed
(GET /reports/signed, GET /reports/signed/{id})."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import Field
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from api.answers import PatrolReport, RepeatedSignoff, SignedList, SignedReport, Signoff
from api.auth import Principal, allow, covers, require_area
from api.bodies import StrictBody
from api.deps import get_engine, given_once
from geo.errors import InputError
from geo.patrol_reports import (
    EVALUATOR_COLS,
    READER_ROLES,
    Report,
    build_report,
    for_readers,
    own_notes,
    share_used,
)
from geo.report_export import check_table, export_report
from geo.report_period import Period, report_period
from geo.report_signoffs import (
    MAX_NOTE,
    attach_signoff,
    document_bytes,
    list_signoffs,
    read_signoff,
    report_body,
    sign_report,
)
from geo.settings import city_today

router = APIRouter(tags=["reports"])


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


AREA_PATTERN = r"^[0-9]{6,12}$"


class SignRequest(StrictBody):
    """What a signing names, if not in the query: the period (a day of it) and the area."""

    date: dt.date | None = Field(default=None, description="a day of the closed period")
    area: str | None = Field(default=None, pattern=AREA_PATTERN, description="area code")
    note: str | None = Field(default=None, max_length=MAX_NOTE, description="签发说明 note")


@router.post(
    "/reports/{kind}/sign",
    status_code=201,
    summary="Sign a closed period's report 签发报表 (kept as signed)",
    responses={
        201: {"model": Signoff},
        200: {
            "model": RepeatedSignoff,
            "description": "已签发过 the same signing again (same data, signer and note): the "
            "version already stored, with repeated: true; nothing new stored",
        },
    },
)
def sign(
    request: Request,
    kind: Annotated[Literal["daily", "weekly", "monthly"], Path()],
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
    body: Annotated[SignRequest | None, Body()] = None,
    date: Annotated[
        dt.date | None, Query(description="a day of the closed period (or in the body)")
    ] = None,
    area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
    note: Annotated[str | None, Query(max_length=MAX_NOTE)] = None,
) -> JSONResponse:
    """The closed day's, week's or month's report as an evaluator's GET /reports gives it,
    stored with its XLSX as version N+1 of the kind, period and area (a correction never
    overwrites). The same signing sent again (the same data, signer and note: a retry after a
    timeout) answers 200 with the version already stored and ``repeated: true``. Admins
    anywhere; planners for an area of theirs; the whole city (no area): admins only."""
    plain_query(request, _SIGN_QUERY, "签发", "signing")
    day = given_once("date", "in the query", body and body.date, date)
    area = given_once("area", "in the query", body and body.area, area)
    note = given_once("note", "in the query", body and body.note, note)
    if user.role != "admin":
        if area is None:
            raise HTTPException(
                403,
                "全市报表（未给 area）只有管理员能签发；请给出您管辖区域的 area "
                "a city-wide report (no area) is signed by an admin only: give an area of yours",
            )
        require_area(user, area, engine)
    if day is None:
        raise InputError(
            "请给出 date：要签发的报表期中的一天（YYYY-MM-DD），如 date=2026-05-12 "
            "give date: a day of the period to sign (YYYY-MM-DD), e.g. date=2026-05-12"
        )
    row = sign_report(engine, kind, day, area, note, user.username)
    # the same signing sent again (a retry after a timeout): the version it made, 200 not 201
    return JSONResponse(row, status_code=200 if row.get("repeated") else 201)


@router.get(
    "/reports/signed",
    summary="Signed reports 已签发的报表",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": SignedList}},
)
def signed_list(
    request: Request,
    user: Annotated[Principal, Depends(allow("viewer"))],
    engine: Engine = Depends(get_engine),
    kind: Annotated[Literal["daily", "weekly", "monthly"] | None, Query()] = None,
    area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
    since: Annotated[
        dt.date | None, Query(description="periods that end on or after this day")
    ] = None,
    until: Annotated[
        dt.date | None, Query(description="periods that begin on or before this day")
    ] = None,
) -> dict:
    """Each signoff (not its files): id, kind, period, area, version, signed_at, signed_by,
    note, data_as_of, sha256. A planner sees those of their areas."""
    plain_query(request, _SIGNED_QUERY, "已签发列表", "the signed list")
    rows = list_signoffs(engine, kind, area, since, until)
    if user.role == "planner":
        rows = [r for r in rows if covers(user, r["area"], engine)]
    return {"signoffs": rows}


@router.get(
    "/reports/signed/{signoff_id}",
    summary="A signed report as it was signed 签发件",
    responses={
        200: {
            "model": SignedReport,
            "content": {
                "application/json": {},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def signed_copy(
    request: Request,
    signoff_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: Annotated[Principal, Depends(allow("viewer"))],
    engine: Engine = Depends(get_engine),
    format: Annotated[Literal["json", "xlsx"], Query()] = "json",
) -> Response:
    """The stored copy: the XLSX's bytes as signed, or the JSON as signed with a ``signed``
    block (the signoff: version, time, who, note, sha256 of the XLSX)."""
    plain_query(request, frozenset({"format"}), "签发的报表", "a signed report")
    meta, part = read_signoff(engine, signoff_id, format)
    if user.role == "planner" and not covers(user, meta["area"], engine):
        where = meta["area"] or "全市"
        where_en = meta["area"] or "the whole city"
        raise HTTPException(
            403,
            f"不在您的管辖区域内：签发的报表 {signoff_id} 属于 {where} "
            f"outside your areas: signed report {signoff_id} is of {where_en}",
        )
    if format == "json":
        return Response(document_bytes(part), media_type="application/json")
    span = meta["period_from"] + (f"_{meta['period_to']}" if meta["kind"] != "daily" else "")
    name = f"{meta['kind']}_{span}" + (f"_{meta['area']}" if meta["area"] else "")
    name += f"_signed_v{meta['version']}.xlsx"
    return Response(
        part,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/{kind}",
    summary="Patrol report 巡查报表 (日巡/周查/月评)",
    responses={
        200: {
            "model": PatrolReport,
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
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
    area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
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
    plain_query(request)
    check_format(kind, format, table)
    today = city_today()  # once: the period and the report must agree near midnight
    day = date or today
    period = report_period(kind, day, today)  # a future or pre-1990 period is a 422
    share = share_used(share)  # None → the setting; every format says which was used
    rep = made_report(engine, user, day, area, share, period)
    if format == "json":
        return JSONResponse(report_body(rep, kind, day, period, share))
    folder = FsPath(tempfile.mkdtemp(prefix="gridward-report-"))
    path = export_report(
        rep, folder / report_name(kind, day, period, area, format, table), period, share, table
    )

    def cleanup() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    return FileResponse(
        path, media_type=MEDIA[format], filename=path.name, background=BackgroundTask(cleanup)
    )


MEDIA = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}


def check_format(kind: str, format: str, table: str | None) -> None:
    """A table names the table of a CSV only; a wrong table is a 422 before any work."""
    if table is not None and format != "csv":
        raise InputError(
            f"选表 table={table} 只用于 CSV，{format} 含全部表 "
            f"table={table} picks the table of a CSV: {format} holds every table"
        )
    if format == "csv":
        check_table(table, kind)  # segments of a week: a 422 before any work


def made_report(
    engine: Engine,
    user: Principal,
    day: dt.date,
    area: str | None,
    share: float,
    period: Period,
    progress: Callable[[float, str], None] | None = None,
) -> Report:
    """The report of ``period`` (its kind and today: the caller's checked period) as
    ``user`` may read it: a steward's own view without signoff or flags; a signoff and its
    since-signing note for evaluators; notes without shell commands (ask an admin) for
    every reader of the API and the web page."""
    rep = build_report(engine, period.kind, day, area, share, period.today, progress=progress)
    if user.role == "steward":
        # stewards neither sign nor read signed copies: no signoff (its signer, sha256) and
        # no since-signing note, which counts everyone's walks (T58 F4)
        rep.meta["signed"] = None
        _own_view(rep, user.person_id)
    else:
        attach_signoff(engine, rep, period, share)  # signed (签发): which, what changed since
    # no shell command on a steward's phone (T40 #12), nor in a planner's or an admin's
    # browser (T71 #35): the CLI's report (api.cli_patrol) keeps the commands
    for_readers(rep, evaluator=user.role not in READER_ROLES)
    return rep


def report_name(
    kind: str, day: dt.date, period: Period, area: str | None, format: str, table: str | None
) -> str:
    """The file's name: kind, period, area (four communities' files were named alike) and a
    CSV's table other than people."""
    span = f"{period.start}_{period.through}" if kind != "daily" else f"{day}"
    name = (
        f"{kind}_{span}"
        + (f"_{area}" if area else "")
        + (f"_{table}" if table not in (None, "people") else "")
    )
    return f"{name}.{format}"


_QUERY = frozenset({"date", "area", "share", "format", "table"})
_SIGN_QUERY = frozenset({"date", "area", "note"})
_SIGNED_QUERY = frozenset({"kind", "area", "since", "until"})


def plain_query(
    request: Request,
    allowed: frozenset[str] = _QUERY,
    what_zh: str = "报表",
    what: str = "a report",
) -> None:
    """A misspelt parameter (``?data=2026-11-05``) gave this week's running report as if it
    were the one asked for, and a repeated one took its last value: both are a 422 now, as
    they are for uploads. ``allowed``: the parameters of ``what`` (a signing, the list)."""
    keys = request.query_params.keys()
    unknown = sorted(set(keys) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise InputError(
            f"未知参数 {unknown[0]!r}，{what_zh}只接受 {known} "
            f"unknown parameter {unknown[0]!r}: {what} takes {known}"
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
