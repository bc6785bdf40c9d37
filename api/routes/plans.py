"""Grid plans (issue 3): partition a community as a job, then commit or discard the draft.

POST /plans → 202 with a job; GET /jobs/{id} → status and progress; the finished job's result
names the plan; GET /plans/{id} (see plans_editor) → GeoJSON + summary; POST /plans/{id}/commit
replaces the community's grids atomically (409 when the data or the grids changed since);
DELETE /plans/{id} discards the draft. GET /plans lists plans, POST /plans/revert makes a
draft of an earlier grid version. GET /plans/history, a community's grid versions and the
crosswalk of its codes between them (read-only: viewers too), is defined here and registered
on plans_editor's router (:func:`add_history_route`), before its /plans/{plan_id}.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine, text

from api.answers import (
    JobAccepted,
    JobStatus,
    PlanCommitted,
    PlanDiscarded,
    PlanListed,
    RevertedDraft,
)
from api.auth import Principal, allow, require_area, require_job_reader
from api.background import job_accepted, run_job
from api.bodies import StrictBody
from api.deps import JobId, get_engine
from geo.errors import NotFoundError
from geo.jobs import create_job, finish_job, get_job
from geo.plan_history import crosswalk as code_crosswalk
from geo.plan_history import grid_versions, list_plans, revert_plan
from geo.plans import (
    MAX_GRID_HOUSEHOLDS,
    bounds_problem,
    commit_plan,
    create_plan,
    discard_plan,
    require_buildings,
    require_community,
)
from geo.track_days import local_iso

router = APIRouter(tags=["plans"])

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class HouseholdBounds(StrictBody):
    """A plans request body: its household bounds, checked by the one rule every plan
    obeys (:func:`geo.plans.bounds_problem`), and no field it does not know. WHY forbid:
    a misspelt optional field ("seeds") was silently dropped and the plan made without it
    (tester W, F15)."""

    min_households: int = Field(
        ge=0, le=MAX_GRID_HOUSEHOLDS, strict=True, description="fewest households per grid"
    )
    max_households: int = Field(
        ge=1, le=MAX_GRID_HOUSEHOLDS, strict=True, description="most households per grid"
    )

    @model_validator(mode="after")
    def _bounds(self) -> HouseholdBounds:
        problem = bounds_problem(self.min_households, self.max_households)
        if problem is not None:
            raise ValueError(problem)
        return self


class PlanRequest(HouseholdBounds):
    community: str = Field(pattern=r"^[0-9]{12}$", description="12-digit community code 社区编码")
    # strict as the bounds (T39 M4): JSON true was taken as 1
    seed: int = Field(default=0, ge=0, le=2**31 - 1, strict=True)
    households_per_worker: int | None = Field(default=None, ge=1, le=100_000, strict=True)


def body_community(engine: Engine, code: str) -> None:
    """422 naming ``code`` when the community a request body names does not exist (the
    same on every plans endpoint; see :func:`geo.plans.require_community`)."""
    with engine.connect() as conn:
        require_community(conn, code)


def plan_area(conn: Connection, plan_id: str) -> str:
    """The plan's community code, for the planner's area check: a plan that does not exist is
    a 404 (as it is for an admin), not "outside your areas"."""
    code = conn.execute(
        text("SELECT a.code FROM grid_plans p JOIN areas a ON a.id = p.area_id WHERE p.id = :i"),
        {"i": int(plan_id)},
    ).scalar()
    if code is None:
        raise NotFoundError(f"方案 {plan_id} 不存在 plan {plan_id} does not exist")
    return code


def plan_planner(
    plan_id: PlanId,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> Principal:
    """A planner of the plan's community, or an admin: the rule of every /plans/{plan_id}
    route. A plan that does not exist is a 404 (as for an admin), not "outside your areas";
    a refusal names the plan and its community (``allow(area_param=...)`` said
    "plan_id=110108015004", a community code under the plan's name: tester, 10)."""
    if user.role != "planner":
        return user
    with engine.connect() as conn:
        code = plan_area(conn, str(plan_id))
    try:
        require_area(user, code, engine)
    except HTTPException as exc:
        if exc.status_code != 403:
            raise
        raise HTTPException(
            403,
            f"方案 {plan_id} 属于社区 {code}，不在您的管辖区域内 plan {plan_id} is a plan of "
            f"community {code}, outside your areas",
        ) from None
    return user


@router.post(
    "/plans",
    status_code=202,
    summary="Partition a community into grids 生成网格方案",
    responses={202: {"model": JobAccepted}},
)
def create(
    body: PlanRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    require_area(user, body.community, engine)
    body_community(engine, body.community)
    with engine.connect() as conn:  # before the job: it failed after a 202 (T38 L14)
        require_buildings(conn, body.community)
    with engine.begin() as conn:
        job_id = create_job(conn, "partition", body.model_dump(), created_by=user.username)

    def work(progress: Any) -> dict[str, Any]:
        plan_id = create_plan(
            engine,
            body.community,
            body.min_households,
            body.max_households,
            seed=body.seed,
            households_per_worker=body.households_per_worker,
            created_by=user.username,
            progress=progress,
            # the plan and the job's "done" in one transaction (T61 #1)
            on_stored=lambda conn, stored: finish_job(conn, job_id, _made(stored)),
        )
        return _made(plan_id)

    run_job(engine, job_id, work)
    return job_accepted(job_id)


def _made(plan_id: int) -> dict[str, Any]:
    """A partition job's result."""
    return {"plan_id": plan_id, "plan_url": f"/plans/{plan_id}"}


@router.get(
    "/jobs/{job_id}",
    summary="Status and progress of a job 任务状态",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": JobStatus}},
)
def job_status(
    job_id: JobId,
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    with engine.connect() as conn:
        job = get_job(conn, job_id)
        # its creator, admins, planners of its area (a steward: 404 for others' jobs)
        require_job_reader(user, job, engine)
        message = job["message"]
        if job["kind"] == "report" and job["status"] == "queued":  # its place in the queue
            from api.routes.report_jobs import queue_place

            message = queue_place(conn, job)
    return {
        "job_id": job["id"],
        "kind": job["kind"],
        "status": job["status"],
        "progress": job["progress"],
        "message": message,
        "result": job["result"],
        "error": job["error"],
        # in the city's zone, as a report job's expires_at and the tracks' times (T60 #13)
        "created_at": local_iso(job["created_at"]),
        "updated_at": local_iso(job["updated_at"]),
    }


class CommitRequest(StrictBody):
    """The optional body of a commit; a misspelt field is a 422, never silently dropped."""

    allow_disconnected: bool = Field(
        default=False,
        description="commit even though a grid is in several pieces (flag disconnected) "
        "允许提交不连通的网格",
    )


@router.post(
    "/plans/{plan_id}/commit",
    summary="Commit a draft plan 提交方案",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": PlanCommitted}},
)
def commit(
    plan_id: PlanId,
    user: Annotated[Principal, Depends(plan_planner)],
    body: CommitRequest | None = None,
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    """Answer: the new version, the duties carried to each old grid's successor (by place),
    ended or removed, each old code's successor code, and the grids left without a leader or
    short of workers (``staffing_gaps``: run staffing for them)."""
    allow_pieces = body.allow_disconnected if body is not None else False
    return commit_plan(engine, plan_id, actor=user.username, allow_disconnected=allow_pieces)


@router.delete(
    "/plans/{plan_id}",
    summary="Discard a draft plan 放弃方案",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": PlanDiscarded}},
)
def discard(
    plan_id: PlanId,
    user: Annotated[Principal, Depends(plan_planner)],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    discard_plan(engine, plan_id, actor=user.username)
    return {"plan_id": plan_id, "status": "discarded"}


@router.get(
    "/plans",
    summary="Grid plans, newest first 方案列表 (planners of their areas)",
    # documentation only: the list below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": list[PlanListed]}},
)
def list_all(
    user: Annotated[Principal, Depends(allow("planner"))],
    community: Annotated[
        str | None, Query(max_length=12, pattern=r"^[0-9]{12}$", description="社区编码")
    ] = None,
    status: Annotated[
        str | None, Query(max_length=20, description="draft, committed or discarded")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="newest N")] = 100,
    engine: Engine = Depends(get_engine),
) -> list[dict[str, Any]]:
    """As ``gridward plans list --json``: id, community, status, source, who made and
    committed it and when, the version a commit made (``current``), a draft's ``stale``,
    grid count, households per grid (min, max) and bounds. A planner sees the plans of
    their areas (a community outside them is a 403). WHY: drafts could be listed only in
    the editor, committed plans nowhere (T38 M5)."""
    if community is not None:
        require_area(user, community, engine)
    return list_plans(engine, community, status, limit, allowed=_in_scope(user, engine))


def _in_scope(user: Principal, engine: Engine) -> Any:
    """Whether a community is in ``user``'s areas (None for an admin: every one)."""
    if user.role == "admin":
        return None

    def allowed(code: str) -> bool:
        try:
            require_area(user, code, engine)
        except HTTPException:
            return False
        return True

    return allowed


class RevertRequest(StrictBody):
    """A revert: the community, the version to go back to, bounds when not that version's."""

    community: str = Field(pattern=r"^[0-9]{12}$", description="12-digit community code 社区编码")
    version: int = Field(ge=1, le=2**31 - 1, strict=True, description="the version 版本")
    min_households: int | None = Field(default=None, ge=0, le=MAX_GRID_HOUSEHOLDS, strict=True)
    max_households: int | None = Field(default=None, ge=1, le=MAX_GRID_HOUSEHOLDS, strict=True)


@router.post(
    "/plans/revert",
    status_code=201,
    summary="A draft from an earlier grid version 恢复旧版",
    responses={201: {"model": RevertedDraft}},
)
def revert(
    body: RevertRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    """As ``gridward plans revert``: a NEW DRAFT with the grids of committed ``version``
    (buildings as they were assigned then; ``buildings_added`` since, each in the grid it
    lies in or the nearest, ``buildings_gone``, ``grids_dropped``); nothing changes until it
    is committed (POST /plans/{id}/commit) or discarded."""
    require_area(user, body.community, engine)
    body_community(engine, body.community)
    out = revert_plan(
        engine,
        body.community,
        body.version,
        created_by=user.username,
        min_households=body.min_households,
        max_households=body.max_households,
    )
    return JSONResponse(out, status_code=201)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")  # a key geo adds later is not dropped


class GridVersion(_Answer):
    version: int
    plan_id: int | None
    committed_at: str | None = Field(description="the city's time with its offset")
    committed_by: str | None
    grids: int
    households: int
    households_min: int | None
    households_max: int | None
    current: bool
    replaced_at: str | None
    source: str | None = Field(description="partition, editor, revert or file")


class CrosswalkRow(_Answer):
    """One pair of level-1 grids of two consecutive versions sharing buildings 新旧编码对照."""

    old_version: int
    old_code: str
    new_version: int
    new_code: str | None = Field(description="null: none of the old grid's buildings is left")
    shared_buildings: int
    shared_households: int = Field(description="today's households of the shared buildings")
    successor: bool = Field(description="the new grid holding most of the old one's households")
    committed_at: str | None = Field(description="when the new version was committed")


class GridHistory(_Answer):
    community: str
    name: str | None
    current_version: int | None
    versions: list[GridVersion]
    crosswalk: list[CrosswalkRow] | None = Field(
        default=None, description="with crosswalk=true only: old code → new code"
    )


def read_history(
    community: Annotated[
        str, Query(max_length=12, pattern=r"^[0-9]{12}$", description="社区编码 community")
    ],
    crosswalk: Annotated[
        bool,
        Query(
            description="also the crosswalk 新旧编码对照: old code and version → new code and "
            "version for each two consecutive versions, as 'gridward plans history C "
            "--crosswalk --json' gives it",
        ),
    ] = False,
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    """As ``gridward plans history COMMUNITY --json``: each committed version, newest first
    (version, plan, committed when and by whom, grids, households, current or replaced
    when); with ``crosswalk=true`` also ``crosswalk``, the CLI's ``--crosswalk`` rows.
    Read-only, so viewers read it as planners of any area do (drafts stay in GET /plans,
    planners'). WHY (T67 #11): a read-only sync account was refused the grid versions, and
    systems keyed on grid codes had the crosswalk only from the CLI."""
    out = grid_versions(engine, community)
    if crosswalk:  # the CLI's own rows (geo.plan_history.crosswalk)
        out["crosswalk"] = code_crosswalk(engine, community)
    return out


def add_history_route(router: APIRouter) -> None:
    """GET /history on ``router``: plans_editor's (prefix /plans), where it is declared
    before /{plan_id}, which would take "history" for a plan id (T38 M5)."""
    router.add_api_route(
        "/history",
        read_history,
        methods=["GET"],
        summary="A community's grid versions and code crosswalk 网格历史版本 (viewers, "
        "planners, admins)",
        response_model=GridHistory,
        response_model_exclude_unset=True,  # no crosswalk key unless asked for
        # an unknown parameter (a misspelt crosswalk) is a 422: api.query_check, app-wide
        dependencies=[Depends(allow("viewer"))],
    )
