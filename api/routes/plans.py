"""Grid plans (issue 3): partition a community as a job, then commit or discard the draft.

POST /plans → 202 with a job; GET /jobs/{id} → status and progress; the finished job's result
names the plan; GET /plans/{id} (see plans_editor) → GeoJSON + summary; POST /plans/{id}/commit
replaces the community's grids atomically (409 when the data or the grids changed since);
DELETE /plans/{id} discards the draft.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator
from sqlalchemy import Connection, Engine, text

from api.auth import Principal, allow, require_area, require_job_reader
from api.background import job_accepted, run_job
from api.bodies import StrictBody
from api.deps import get_engine
from geo.errors import NotFoundError
from geo.jobs import create_job, get_job
from geo.plans import (
    MAX_GRID_HOUSEHOLDS,
    bounds_problem,
    commit_plan,
    create_plan,
    discard_plan,
    require_community,
)

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
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    households_per_worker: int | None = Field(default=None, ge=1, le=100_000)


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


@router.post("/plans", status_code=202, summary="Partition a community into grids 生成网格方案")
def create(
    body: PlanRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    require_area(user, body.community, engine)
    body_community(engine, body.community)
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
        )
        return {"plan_id": plan_id, "plan_url": f"/plans/{plan_id}"}

    run_job(engine, job_id, work)
    return job_accepted(job_id)


@router.get("/jobs/{job_id}", summary="Status and progress of a job 任务状态")
def job_status(
    job_id: Annotated[str, Path(min_length=36, max_length=36)],
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    with engine.connect() as conn:
        job = get_job(conn, job_id)
    # its creator, admins, planners of its area (a steward: 404 for others' jobs)
    require_job_reader(user, job, engine)
    return {
        "job_id": job["id"],
        "kind": job["kind"],
        "status": job["status"],
        "progress": job["progress"],
        "message": job["message"],
        "result": job["result"],
        "error": job["error"],
        "created_at": job["created_at"].isoformat(),
        "updated_at": job["updated_at"].isoformat(),
    }


class CommitRequest(StrictBody):
    """The optional body of a commit; a misspelt field is a 422, never silently dropped."""

    allow_disconnected: bool = Field(
        default=False,
        description="commit even though a grid is in several pieces (flag disconnected) "
        "允许提交不连通的网格",
    )


@router.post("/plans/{plan_id}/commit", summary="Commit a draft plan 提交方案")
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


@router.delete("/plans/{plan_id}", summary="Discard a draft plan 放弃方案")
def discard(
    plan_id: PlanId,
    user: Annotated[Principal, Depends(plan_planner)],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    discard_plan(engine, plan_id, actor=user.username)
    return {"plan_id": plan_id, "status": "discarded"}
