"""Patrol reports made in the background: POST /reports/{kind}/jobs → 202 with a job;
GET /jobs/{id} → its stage; GET /reports/files/{id} → the file, kept for a day.

WHY: the whole city's monthly report takes 10–20 s to build and write, and with several
evaluators at once a synchronous GET /reports ran past a 60 s proxy (outside tester T59:
63–75 s a call with four at once, a 504; the report was made and thrown away). A job answers
at once, says how far it got, makes at most two reports at a time, each in a process of its
own (api.background.run_job_in_process: in threads they held the GIL and starved the API's
uploads and matching), and keeps the file in the database for any replica to serve.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy import Engine, text

from api.answers import JobAccepted, PatrolReport
from api.auth import Principal, allow, require_job_reader
from api.background import REPORT_PROCESSES, job_accepted, run_job_here, run_job_in_process
from api.bodies import StrictBody
from api.deps import JobId, get_engine, given_once
from api.routes.reports import (
    AREA_PATTERN,
    MEDIA,
    check_format,
    made_report,
    plain_query,
    report_name,
)
from geo.errors import NotFoundError
from geo.jobs import create_job, get_job, jobs_ahead, open_jobs
from geo.patrol_reports import known_area, share_used
from geo.report_export import export_report
from geo.report_files import read_report_file, store_report_file
from geo.report_period import report_period
from geo.report_signoffs import report_body
from geo.settings import city_now, city_today

router = APIRouter(tags=["reports"])

#: unfinished report jobs one account may have at once: a client looping on POST must not
#: fill the pool that everyone's month end shares
MAX_OPEN_JOBS = 3


class ReportJobRequest(StrictBody):
    """The parameters in a JSON body instead of the query (as a signing takes them)."""

    date: dt.date | None = Field(default=None, description="a day of the period")
    area: str | None = Field(default=None, pattern=AREA_PATTERN, description="area code")
    share: float | None = Field(default=None, gt=0, le=1, description="default: setting")
    format: Literal["json", "csv", "xlsx"] | None = Field(default=None, description="xlsx")
    table: Literal["people", "alleys", "areas", "segments"] | None = None


_JOB_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": JobAccepted},
    404: {"description": "区域不存在 no such area"},
    429: {"description": "已有 3 个报表任务未完成 three report jobs of yours are unfinished"},
}


@router.post(
    "/reports/{kind}/jobs",
    status_code=202,
    summary="Make a report in the background 后台生成报表 (for big areas and periods)",
    responses=_JOB_ANSWERS,
)
def start_report_job(
    request: Request,
    kind: Annotated[Literal["daily", "weekly", "monthly"], Path()],
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
    body: Annotated[ReportJobRequest | None, Body()] = None,
    date: Annotated[
        dt.date | None, Query(description="a day of the period (default today)")
    ] = None,
    area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
    share: Annotated[float | None, Query(gt=0, le=1, description="default: setting")] = None,
    format: Annotated[
        Literal["json", "csv", "xlsx"] | None, Query(description="the file made (default xlsx)")
    ] = None,
    table: Annotated[
        Literal["people", "alleys", "areas", "segments"] | None,
        Query(description="the table a CSV holds (default people)"),
    ] = None,
) -> JSONResponse:
    """The report GET /reports/{kind} gives (the same parameters, in the query or a JSON
    body; the same file; default XLSX), made by a job: 202 with ``job_id`` and ``job_url``.
    ``GET /jobs/{id}`` tells its stage (or its place in the queue); when done, its
    ``result.file_url`` is the download (kept GRIDWARD_REPORT_FILE_KEEP_H, 24 h by default).
    The same report asked again while its job is unfinished (any day of the same week or
    month) answers with that job (``repeated: true``); at most three unfinished report jobs
    an account (429)."""
    plain_query(request)
    b = body or ReportJobRequest()
    date = given_once("date", "in the query", b.date, date)
    area = given_once("area", "in the query", b.area, area)
    share = given_once("share", "in the query", b.share, share)
    format = given_once("format", "in the query", b.format, format) or "xlsx"
    table = given_once("table", "in the query", b.table, table)
    check_format(kind, format, table)  # wrong choices: a 422 before any job
    today = city_today()
    day = date or today
    # a future or pre-1990 period is a 422 now, an unknown area a 404: not a failed job
    period = report_period(kind, day, today)
    if area is not None:
        with engine.connect() as conn:
            known_area(conn, area)
    share = share_used(share)
    params: dict[str, Any] = {
        "kind": kind,
        "date": day.isoformat(),
        "today": today.isoformat(),
        "period_start": period.start.isoformat(),
        "area": area,
        "share": share,
        "format": format,
        "table": table,
    }
    with engine.begin() as conn:
        # one account's posts one at a time: a retry racing its first send finds its job
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('report_jobs:' || :u))"),
            {"u": user.username},
        )
        unfinished = open_jobs(conn, "report", user.username)
        for job_id, status, given in unfinished:
            if _same_report(given, params):
                return job_accepted(job_id, status=status, repeated=True)
        if len(unfinished) >= MAX_OPEN_JOBS:
            raise HTTPException(
                429,
                f"您已有 {len(unfinished)} 个报表任务未完成，请等其中一个完成后再提交"
                f"（进度见 GET /jobs/{{id}}） {len(unfinished)} report jobs of yours are "
                "unfinished: wait for one to end (GET /jobs/{id})",
                headers={"Retry-After": "15"},
            )
        job_id = create_job(conn, "report", params, created_by=user.username, message=QUEUED)
    url = engine.url.render_as_string(hide_password=False)
    run_job_in_process(engine, job_id, make_report_file, url, job_id, user, params)
    return job_accepted(job_id)


QUEUED = "排队等候生成 queued"


def _same_report(given: dict[str, Any], asked: dict[str, Any]) -> bool:
    """The same file would be made: the same kind, period, area, share, format and table
    (any day of a week or month; a JSON names the day asked, so it must be the same day)."""
    keys = ["kind", "period_start", "area", "share", "format", "table"]
    if asked["format"] == "json" or asked["kind"] == "daily":
        keys.append("date")
    return all(given.get(k) == asked[k] for k in keys)


def queue_place(conn: Any, job: dict[str, Any]) -> str:
    """A queued report job's message: how many report jobs are ahead of it (T60 #6: a queued
    job said nothing at all)."""
    ahead = jobs_ahead(conn, job)
    return (
        f"排队等候生成：前面还有 {ahead} 个报表任务（每次同时生成 {REPORT_PROCESSES} 个） "
        f"queued behind {ahead} report jobs ({REPORT_PROCESSES} are made at a time)"
    )


def make_report_file(url: str, job_id: str, user: Principal, params: dict[str, Any]) -> None:
    """The job, in a report process (api.background.run_job_in_process): its own engine on
    the API's database, the job row kept up to date as in a thread."""
    from geo.db import get_engine

    engine = get_engine(url, run_migrations=False)
    try:
        run_job_here(engine, job_id, _work(engine, user, job_id, params))
    finally:
        engine.dispose()


def _work(engine: Engine, user: Principal, job_id: str, params: dict[str, Any]):
    """The job: build the report as ``user`` may read it, write its file, keep it."""
    kind, area, share = params["kind"], params["area"], params["share"]
    fmt, table = params["format"], params["table"]
    day, today = dt.date.fromisoformat(params["date"]), dt.date.fromisoformat(params["today"])

    def work(progress) -> dict[str, Any]:
        period = report_period(kind, day, today)
        progress(0.02, "正在读取巡查数据 reading the patrols")
        rep = made_report(
            engine,
            user,
            day,
            area,
            share,
            period,
            progress=lambda f, m: progress(0.02 + 0.78 * f, m),
        )
        progress(0.82, f"正在写 {fmt.upper()} 文件 writing the {fmt.upper()} file")
        name = report_name(kind, day, period, area, fmt, table)
        if fmt == "json":
            body = JSONResponse(report_body(rep, kind, day, period, share)).body
        else:
            with tempfile.TemporaryDirectory(prefix="gridward-report-") as folder:
                path = export_report(rep, FsPath(folder) / name, period, share, table)
                body = path.read_bytes()
        progress(0.95, "正在保存文件 keeping the file")

        def made(kept: dict[str, Any]) -> dict[str, Any]:
            return {
                "file_url": f"/reports/files/{job_id}",
                **kept,
                # in the city's zone, as the reports' times (T60 #13)
                "expires_at": kept["expires_at"].astimezone(city_now().tzinfo).isoformat(),
                "kind": kind,
                **period.meta(),
                "area": area,
                "share": share,
            }

        # the file and the job's "done" in one transaction (T61 #3)
        return made(store_report_file(engine, job_id, name, MEDIA[fmt], bytes(body), made))

    return work


@router.get(
    "/reports/files/{job_id}",
    summary="The file a report job made 下载后台生成的报表",
    responses={
        200: {
            "description": "报表文件：format=json 时为 JSON（同 GET /reports/{kind}），否则为 CSV "
            "或 XLSX the file: with format=json GET /reports/{kind}'s JSON, else a CSV or XLSX",
            "model": PatrolReport,
            "content": {"application/octet-stream": {}},
        },
        304: {"description": "未改变 unchanged (If-None-Match: its sha256)"},
        403: {"description": "无权查看此任务 not a reader of this job"},
        409: {"description": "尚未生成完或任务失败 not made yet, or the job failed"},
        410: {"description": "已过期 past its keeping time: make it again"},
    },
)
def report_file(
    request: Request,
    job_id: JobId,
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
) -> Response:
    """The file of a finished report job, for whoever may read the job (its creator, admins,
    planners of its area). 409 while it is queued or made (its stage) or when it failed (its
    error), 410 once past its keeping time; 304 for an ``If-None-Match`` of its ETag."""
    with engine.connect() as conn:
        job = get_job(conn, job_id)
        require_job_reader(user, job, engine)
        if job["kind"] != "report":
            raise NotFoundError(
                f"任务 {job['id']} 不是报表任务，没有报表文件 "
                f"job {job['id']} is not a report job: it has no report file"
            )
        if job["status"] in ("queued", "running"):
            if job["status"] == "queued":
                stage = queue_place(conn, job)
            else:  # its stage, "中文 English" (T60 #6: it said "running")
                stage = job["message"] or "正在生成 being made"
            done = f"{job['progress']:.0%}"
            raise HTTPException(
                409,
                f"报表尚未生成完（{done}）：{stage}；请稍后再取，进度见 /jobs/{job['id']} "
                f"the report is not made yet ({done}): see /jobs/{job['id']}",
                headers={"Retry-After": "5"},
            )
        if job["status"] == "failed":
            raise HTTPException(
                409, f"此报表任务失败，没有文件：{job['error']} (this report job failed, no file)"
            )
        kept = read_report_file(conn, job["id"])
    if kept is None:
        until = (job["result"] or {}).get("expires_at", "")
        raise HTTPException(
            410,
            f"报表文件已过期（保留至 {until}），请重新提交 POST /reports/"
            f"{job['params'].get('kind')}/jobs "
            f"the report file was kept until {until} and is gone: make it again",
        )
    etag = f'"{kept["sha256"]}"'
    # personal data (names): the reader's own cache only, asked again each time (T60 #10)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{kept["name"]}"'
    return Response(kept["body"], media_type=kept["media_type"], headers=headers)
