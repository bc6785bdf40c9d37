"""People and duties (issue 5): registry, proposals to review, commits, leavers, coverage.

POST /assignments/proposals → 202 job; GET /jobs/{id} → the proposal to review (pairs, what
starts, ends and stays, coverage, load spread); POST /assignments/proposals/{job_id}/commit →
dated changes (409 when the duties changed since). POST /assignments and POST
/assignments/end: one dated duty set or ended by hand (backdated corrections, planned changes,
co-stewards; rules in geo.duties); DELETE /assignments/{id}: a duty entered by mistake undone
(a replacement gives back what it took). Phone numbers never leave through here.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from sqlalchemy import Engine, text

from api.answers import (
    Coverage,
    DutyAlreadySet,
    DutyEnded,
    DutyHeld,
    DutySet,
    DutyUndone,
    JobAccepted,
    PersonDuties,
    PersonLeft,
    PersonListed,
    ProposalCommitted,
)
from api.auth import Principal, allow, area_scope, person_for, require_area
from api.background import job_accepted, run_job
from api.bodies import DbId, StrictBody
from api.deps import JobId, get_engine, given_once
from api.limits import read_upload, upload_openapi
from geo.duties import assign_duty, end_duty, person_leaves
from geo.duty_undo import MAX_REASON, undo_duty
from geo.errors import ConflictError, InputError
from geo.jobs import create_job, get_job
from geo.models import ROLES
from geo.people_import import IDS_LISTED, import_people, same_person_ids
from geo.staffing import commit, coverage_rates, duties, duties_in_force, propose
from geo.track_days import local_iso

router = APIRouter(tags=["people and duties"])

# a person's role (geo.models.ROLES), as GET /people?role= takes it
PersonRole = Literal[ROLES]  # type: ignore[valid-type]


def _empty_is_none(value: object) -> object:
    """An empty query value as no filter: a form's "all roles" choice sends role= (T45 #5:
    it was a 422 while the other filters' empty values mean "any")."""
    return None if value == "" else value


# a proposal's job status, as a planner reads it (geo.jobs.STATUSES)
_JOB_STATUS_ZH = {
    "queued": "还在排队，请稍后再提交",
    "running": "还在计算，请稍后再提交",
    "failed": "计算失败，请重新生成建议",
    "done": "已完成但没有结果，请重新生成建议",
}


class ProposalRequest(StrictBody):
    kind: Literal["grids", "streets", "alleys"] = Field(description="what to staff")
    area: str = Field(pattern=r"^[0-9]{6,12}$", description="district/subdistrict/community code")
    rebalance: bool = Field(default=False, description="re-solve everything, not only the gaps")
    fill_idle: bool = Field(
        default=False,
        description="让空闲人员接手（仅 streets 街、alleys 小巷）：管 2 条及以上者的街或小巷，"
        "由步行不超过其本人或 500 米（小巷管家）/ 1000 米（街巷长）的空闲人员接手；"
        "负荷超过中位数 1.5 倍的管家再转出，目标负荷为公平份额；用人更多，步行更长"
        "（见 summary 的 handed_to_idle、levelled；小巷管家另有 new_stewards：加此项后管小巷、"
        "不加时不管的人数，stewards_without_fill_idle：不加时的在岗管家数）；只在 rebalance "
        "为 true 时接手现有职责：不重新分配时保留的职责从不被接手（见结果的 notes）；"
        "默认 false，与不加此项相同 "
        "let idle people take over alleys/streets from "
        "holders of 2 or more (streets and alleys only), walking no farther than the holder or "
        "500 m (stewards) / 1000 m (street chiefs); stewards above 1.5 × the median load hand "
        "alleys on, the target load is the fair share. More people used, longer walks (the "
        "summary's handed_to_idle, levelled; for stewards also new_stewards: people holding "
        "an alley with the option and none without it, stewards_without_fill_idle: stewards "
        "without it). Takes existing duties over only with rebalance true: without it the "
        "duties kept are never taken over (the result's notes). Default false: as without "
        "the option",
    )

    @model_validator(mode="after")
    def _fill_idle_kind(self) -> ProposalRequest:
        if self.fill_idle and self.kind == "grids":
            raise ValueError(
                "空闲人员接手 fill_idle 只用于 streets（街）和 alleys（小巷），网格人员不按此接手 "
                "fill_idle applies to streets and alleys only, not to grids"
            )
        return self


# a registry id or key (text), or a database id (a whole JSON number: true is not id 1)
Ref = Annotated[str, StringConstraints(min_length=1, max_length=300)] | DbId
_PERSON_DOC = (
    "the person: their external id from the people registry (a JSON string), or people.id "
    "(a JSON number)"
)
_TARGET_DOC = (
    "what the duty is held on, as the role says: an alley (alley_steward) or a street "
    "(street_chief) by streets.id, key or name; a level-1 grid (grid_leader, grid_worker, "
    "part_time_worker) by code or id"
)


class DutyRequest(StrictBody):
    """A dated duty given by hand 手工安排职责."""

    person: Ref = Field(description=_PERSON_DOC, examples=["DEMO0001"])
    target: Ref = Field(description=_TARGET_DOC, examples=[1234, "110108015002001"])
    role: str = Field(
        min_length=1,
        max_length=32,
        description="the duty: alley_steward, street_chief, grid_leader, grid_worker, "
        "part_time_worker, or in Chinese 小巷管家/街巷长/网格长/专职网格员/兼职网格员",
    )
    valid_from: dt.date = Field(
        description="first day (1990–2100); a past day corrects past reports, a future one plans"
    )
    valid_to: dt.date | None = Field(
        default=None, description="last day, inclusive; null: open-ended"
    )
    replace: bool = Field(
        default=False,
        description="false: add beside the other holders (co-holder 共管; a grid keeps one "
        "leader). true: take over from them for [valid_from, valid_to]: a duty begun before "
        "ends the day before (and resumes after a bounded replacement); erasing a duty that "
        "has been in force is refused (409)",
    )


class DutyEndRequest(StrictBody):
    """The last day of a duty 结束职责."""

    person: Ref = Field(description=_PERSON_DOC, examples=["DEMO0001"])
    target: Ref = Field(description=_TARGET_DOC, examples=[1234, "110108015002001"])
    role: str = Field(min_length=1, max_length=32, description="the duty, as above")
    last_day: dt.date = Field(
        description="its last day, inclusive: the duty in force that day ends then (404 if none)"
    )


class DutyUndoRequest(StrictBody):
    """Why a duty is undone 撤销职责 (optional)."""

    reason: str | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="why it is undone (wrong person, wrong alley ...); kept in the audit log",
    )
    leave_others: bool | None = Field(
        default=None,
        description="when the duty replaced others (a replace stand-in, or a staffing commit "
        "that ended their duties): true removes only this duty and leaves theirs as they are "
        "now; default false: give back what it took (their duties continuous again; after a "
        "commit, once the last duty it started on that target is undone), or 409 when they "
        "changed since",
    )


@router.post(
    "/assignments",
    status_code=201,
    summary="Set a dated duty by hand 手工安排职责 (backdated, planned, co-holder or replace)",
    responses={
        200: {
            "model": DutyAlreadySet,
            "description": "the person already holds this duty with exactly these days "
            "(a retry): that duty, created false, nothing changed",
        },
        201: {"model": DutySet, "description": "the duty set, created true"},
        409: {"description": "it overlaps a duty of theirs with other days, or a clash"},
    },
)
def set_duty(
    body: DutyRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    """201 with the duty set (``created`` true). The same duty asked again, the same
    person, target, role, valid_from and valid_to (or none), is 200 with the duty as it is
    (``created`` false, ``message``), nothing written; one overlapping it with other days
    stays a 409. WHY (T67 #8): a sync job's retry of a duty it had set was a 409."""
    out = assign_duty(
        engine,
        body.person,
        body.target,
        body.role,
        body.valid_from,
        body.valid_to,
        replace=body.replace,
        actor=user.username,
        authorize=area_scope(user),
        repeat=True,
    )
    if out.get("created") is False:
        return JSONResponse(out, status_code=200)
    return JSONResponse({**out, "created": True}, status_code=201)


@router.post(
    "/assignments/end",
    summary="End a duty on a day 结束职责",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": DutyEnded}},
)
def end_assignment(
    body: DutyEndRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    return end_duty(
        engine,
        body.person,
        body.target,
        body.role,
        body.last_day,
        actor=user.username,
        authorize=area_scope(user),
    )


@router.delete(
    "/assignments/{duty_id}",
    summary="Undo a duty entered by mistake 撤销职责 (a replacement gives back what it took)",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": DutyUndone}},
)
def undo_assignment(
    duty_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="the duty's id (职责编号)")],
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
    body: Annotated[DutyUndoRequest | None, Body()] = None,
    reason: Annotated[
        str | None, Query(max_length=MAX_REASON, description="why, if not in the body")
    ] = None,
    leave_others: Annotated[bool | None, Query(description="as in the body")] = None,
) -> dict[str, Any]:
    reason = given_once("the reason", "as ?reason=", body and body.reason, reason)
    leave_others = given_once(
        "leave_others", "in the query", body and body.leave_others, leave_others
    )

    authorize = area_scope(
        user,
        f"职责 {duty_id} 不在您的管辖区域内（或不存在），未做更改 "
        f"duty {duty_id} is not in your areas (or does not exist)",
    )

    out = undo_duty(
        engine,
        duty_id,
        reason,
        bool(leave_others),
        actor=user.username,
        authorize=authorize,
    )
    # in the city's zone, as the tracks', jobs' and reports' times (T67 #15: it was UTC)
    out["undone"]["created_at"] = local_iso(out["undone"]["created_at"])
    return out


class PeopleImportAnswer(BaseModel):
    """What a people registry import did 人员名册导入结果. WHY a model (T67 #9): the answer
    was ``{"people_read": N}`` alone, so a sync job could not tell a new person, a change and
    a file imported twice apart, and the OpenAPI document did not say what came back."""

    people_read: int = Field(description="people rows read 读入人数")
    created: int = Field(description="people registered by this file 新增人数")
    updated: int = Field(
        description="registered people of whom anything stored changed (name, phone, roles, "
        "home, capacity, part-time, active) 更新人数"
    )
    unchanged: int = Field(description="people of the file whom it left as they were 未变人数")
    created_ids: list[str] = Field(
        description=f"the new people's registry ids 人员编号, in file order, at most {IDS_LISTED}"
    )
    updated_ids: list[str] = Field(
        description=f"the updated people's registry ids 人员编号, in file order, at most "
        f"{IDS_LISTED}"
    )
    columns_left_out: list[str] | None = Field(
        default=None, description="the file's columns not read 未读入的列 (10 named, cut)"
    )
    columns_left_out_count: int | None = Field(
        default=None, description="how many columns were not read in all"
    )
    kept_inactive: list[str] | None = Field(
        default=None, description="people of the file who had left and stay inactive 仍离岗"
    )
    reactivated: list[str] | None = Field(
        default=None, description="people of the file brought back (reactivate=true) 重新启用"
    )
    warnings: list[str] | None = Field(default=None, description="warnings 警告, Chinese first")


@router.post(
    "/people/import",
    summary="Import the people registry (CSV/XLSX) 导入人员名册",
    response_model=PeopleImportAnswer,
    response_model_exclude_unset=True,  # no columns_left_out, warnings … key when none
    # WHY crs (T46 #14): homes geocoded in 高德 (GCJ-02) were stored about 500 m off
    openapi_extra=upload_openapi(
        {
            "crs": {
                "type": "string",
                "default": "wgs84",
                "examples": ["wgs84", "gcj02", "bd09", "cgcs2000", "EPSG:4490"],
                "description": "住址经纬度的坐标系 datum of the homes' lon/lat: wgs84 (GPS, the "
                "default), gcj02 (高德/腾讯 Amap/Tencent), bd09 (百度 Baidu), cgcs2000 or a "
                "geographic EPSG code such as EPSG:4490; converted to WGS 84 on the way in",
            },
            # T70 #3: a row renaming a registered person and placing her elsewhere is refused
            "same_person": {
                "type": "string",
                "examples": ["XYL-AS08"],
                "description": "确认为同一人改名并迁居 registry ids (人员编号), comma-separated, "
                "whose rows may rename the registered person and place them elsewhere (a home "
                "in another subdistrict, or a file of areas where they neither live nor hold a "
                "duty); without it such a row refuses the file (422), nothing written",
            },
        },
        raw_types=("text/csv",),
    ),
)
async def people_import(
    request: Request,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
    reactivate: Annotated[
        bool,
        Query(
            description="bring back the people of the file who had left (离岗); default: "
            "they stay inactive and are named in a warning"
        ),
    ] = False,
) -> dict[str, Any]:
    """Admins import anyone; a planner only people whose home (new, and stored) lies in
    their areas: their staffing needs the people, and another area's people are not theirs
    to move or rename (403 naming them, nothing written)."""
    from starlette.concurrency import run_in_threadpool

    up = await read_upload(request)
    name = FsPath(up.filename or "people.csv").name
    if FsPath(name).suffix.lower() not in (".csv", ".xlsx", ".txt"):
        raise InputError(
            f"文件 {name} 不是 .csv 或 .xlsx：人员名册须为 .csv 或 .xlsx 文件 "
            f"{name}: the people registry is a .csv or .xlsx file"
        )
    covers = None if user.role == "admin" else user.covers_area
    with tempfile.TemporaryDirectory(prefix="gridward-people-") as folder:
        path = FsPath(folder) / name
        path.write_bytes(up.data)
        return await run_in_threadpool(
            import_people,
            engine,
            path,
            user.username,
            reactivate=reactivate,
            covers=covers,
            crs=up.fields.get("crs") or None,
            crs_option="crs",
            same_person=same_person_ids(up.fields.get("same_person")),
        )


@router.get(
    "/people",
    summary="People (names and roles; no phone numbers) 人员",
    # documentation only: the list below is sent as built (no response model filters it)
    response_model=None,
    responses={
        200: {
            "model": list[PersonListed],
            "headers": {
                "X-Total-Count": {
                    "description": "how many people match (role), whatever limit and offset",
                    "schema": {"type": "integer"},
                }
            },
        }
    },
)
def people(
    _user: Annotated[Principal, Depends(allow("viewer"))],
    response: Response,
    engine: Engine = Depends(get_engine),
    # a Literal (T42 #9): a mistyped role (role=xyz, role=%) was 200 [] with
    # X-Total-Count 0, read as "nobody", while the other filters' wrong values are a 422
    role: Annotated[
        PersonRole | None,
        BeforeValidator(_empty_is_none),
        Query(description="one of " + ", ".join(ROLES) + "; empty: every role"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="skip this many")] = 0,
) -> list[dict[str, Any]]:
    """The people in ``people.id`` order, ``limit`` of them from ``offset`` on (a page past
    the end is an empty list); the ``X-Total-Count`` header says how many match in all."""
    # WHY a header, not ``total`` in the body as GET /tracks has: this answer has been a bare
    # JSON list from the start, and an object would break the clients reading it (T40 #15)
    where = "WHERE (CAST(:r AS text) IS NULL OR CAST(:r AS text) = ANY(p.roles)) "
    params = {"r": role, "n": limit, "o": offset}
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM people p " + where), params).scalar()
        rows = conn.execute(
            text(
                "SELECT p.id, p.external_id, p.name, p.roles, p.active, p.part_time, "
                "a.code AS community_code FROM people p LEFT JOIN areas a ON a.id = p.area_id "
                + where
                + "ORDER BY p.id LIMIT :n OFFSET :o"
            ),
            params,
        ).all()
    response.headers["X-Total-Count"] = str(int(total or 0))
    return [dict(r._mapping) for r in rows]


@router.post(
    "/assignments/proposals",
    status_code=202,
    summary="Propose duties for an area 生成分配方案",
    responses={202: {"model": JobAccepted}},
)
def create_proposal(
    body: ProposalRequest,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> JSONResponse:
    require_area(user, body.area, engine)
    # the job's params as before unless the option is on (T64 F7)
    shown = body.model_dump(exclude=None if body.fill_idle else {"fill_idle"})
    with engine.begin() as conn:
        job_id = create_job(conn, "assignment", shown, created_by=user.username)
    params = None
    if body.fill_idle:
        from geo.assign.chiefs import ChiefParams
        from geo.assign.stewards import StewardParams

        fill = StewardParams if body.kind == "alleys" else ChiefParams
        params = fill(fill_idle=True)

    def work(progress: Any) -> dict[str, Any]:
        progress(0.1, "求解中 solving")
        proposal = propose(engine, body.kind, body.area, body.rebalance, params=params)
        if body.fill_idle:  # duties kept are never taken over: say so (T66 N1)
            from geo.assign.fill_idle import kept_note

            note = kept_note(body.kind, proposal["summary"], style="api")
            if note:
                proposal["notes"] = [note]
        return proposal

    run_job(engine, job_id, work)
    return job_accepted(job_id)


@router.post(
    "/assignments/proposals/{job_id}/commit",
    summary="Commit a reviewed proposal 确认分配",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": ProposalCommitted}},
)
def commit_proposal(
    job_id: JobId,
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
) -> dict[str, Any]:
    with engine.connect() as conn:
        job = get_job(conn, job_id)
    if job["kind"] != "assignment":
        raise InputError(
            f"任务 {job_id} 不是人员配置建议 job {job_id} is not an assignment proposal"
        )
    if job["status"] != "done" or not job["result"]:
        status = job["status"]
        status_zh = _JOB_STATUS_ZH.get(status, f"状态为 {status}")
        raise ConflictError(
            f"建议 {job_id} {status_zh}，尚无可提交的内容 proposal {job_id} is {status}: "
            "nothing to commit yet"
        )
    proposal = job["result"]
    require_area(user, proposal["area"], engine)
    if proposal.get("committed"):
        raise ConflictError(f"建议 {job_id} 已提交过 proposal {job_id} was already committed")
    out = commit(engine, proposal, actor=user.username)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET result = result || '{\"committed\": true}'::jsonb WHERE id = :i"),
            {"i": job_id},
        )
    return out


class LeaveRequest(StrictBody):
    """A person's last day 离岗 (optional)."""

    last_day: dt.date | None = Field(
        default=None,
        description="their last day, inclusive (default yesterday; today at the latest): "
        "duties reaching past it end that day, later planned ones are removed; a day before "
        "a duty of theirs that began after it and has been in force is refused (422)",
    )


@router.post(
    "/people/{person_id}/leave",
    summary="A person leaves; their duties end 人员离岗 (planners: every duty in their areas)",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": PersonLeft}},
)
def leave(
    person_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: Annotated[Principal, Depends(allow("planner"))],
    engine: Engine = Depends(get_engine),
    body: Annotated[LeaveRequest | None, Body()] = None,
    last_day: Annotated[
        dt.date | None, Query(description="as in the body: their last day (default yesterday)")
    ] = None,
) -> dict[str, Any]:
    """Answers ``duties_ended`` (ended or removed, as before), ``ended``, ``removed``, the
    person, ``last_day`` and ``message`` (Chinese first). WHY a last day and words (T43
    #7): the leave always ended duties yesterday and answered ``{"duties_ended": 1}``."""
    day = given_once("last_day", "in the query", body and body.last_day, last_day)
    authorize = area_scope(
        user,
        f"人员（系统编号 id:{person_id}）不在您的管辖区域内（其所有在职或已计划的职责，无职责时其"
        "住址，须都在您的区域内），或不存在，未做更改 "
        f"person {person_id} is not in your areas (every duty they hold, in force or "
        "planned, or their home when they hold none), or does not exist",
    )
    return person_leaves(engine, person_id, actor=user.username, authorize=authorize, last_day=day)


class DutyTarget(BaseModel):
    """What a duty is held on 职责对象, as POST /assignments answers it."""

    kind: str = Field(description="grid 网格, street 街 or alley 小巷")
    id: int = Field(description="grids.id or streets.id")
    code: str | None = Field(default=None, description="a grid's code 网格编码")
    key: str | None = Field(default=None, description="a street's or alley's key")
    name: str | None = Field(
        description="the street's or alley's name; a grid's label (its name, else "
        "'<社区> 第N网格', as the roster's 名称)"
    )


class DutyRow(DutyHeld):
    """A duty in force 在岗职责: the row GET /people/{id}/duties gives, with its holder and
    its target."""

    grid_code: str | None
    street_id: int | None
    street_name: str | None
    kind: str | None = Field(description="street or alley (null for a grid)")
    length_m: float | None
    street_retired: bool | None = Field(
        description="the street left the network at a re-import (null for a grid)"
    )
    target: DutyTarget


class DutyList(BaseModel):
    """Duties in force on a day 某日在岗职责, paged."""

    date: str = Field(description="the day (YYYY-MM-DD, the city's)")
    area: str | None
    total: int = Field(description="duties matching the filters (limit/offset page them)")
    limit: int
    offset: int
    duties: list[DutyRow]


@router.get(
    "/assignments",
    summary="Duties in force on a day, everyone's (by area, role, person; paged) 在岗职责",
    response_model=DutyList,
    response_model_exclude_unset=True,  # a grid's target has no key, a street's no code
)
def list_duties(
    user: Annotated[Principal, Depends(allow("viewer", "steward", own_person=True))],
    engine: Engine = Depends(get_engine),
    date: Annotated[
        dt.date | None, Query(description="the day the duties are in force (default today)")
    ] = None,
    area: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{6,12}$",
            description="community, subdistrict or district code: the duties on its grids, "
            "streets and alleys",
        ),
    ] = None,
    role: Annotated[
        PersonRole | None,
        BeforeValidator(_empty_is_none),
        Query(description="one of " + ", ".join(ROLES) + "; empty: every role"),
    ] = None,
    person_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="one person's (people.id)")
    ] = None,
    person: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=80,
            description="one person's, by registry id 人员编号 (people.external_id, e.g. S12), "
            "or id:N / ext:X; instead of person_id",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="skip this many")] = 0,
) -> dict[str, Any]:
    """Everyone's duties in force on ``date``, each as GET /people/{id}/duties gives it with
    the holder (``person_id``, registry id ``person``, ``name``) and ``target`` (kind, id,
    code or key, name), ordered by person; ``total`` counts all that match. Admins,
    planners and viewers read everyone's (as /people/{id}/duties); a steward only her own
    (another ``person_id`` or ``person`` is a 403). WHY (T67 #10): a sync job read them with
    one call per person, and the roster export is a file, for planners only. ``person``: a
    client knows people by registry id, as every other route takes them (T67)."""
    if person is not None:
        person_id = _person_filter(engine, user, person, person_id)
    pid = person_for(user, person_id)  # a steward's own (the rule refused another's)
    return duties_in_force(engine, date, area, role, pid, limit, offset)


def _person_filter(engine: Engine, user: Principal, person: str, person_id: int | None) -> int:
    """The people.id the ``person`` filter names: 422 when ``person_id`` names someone else
    too, 404 when nobody has it. A steward naming anyone but herself is a 403 whether that
    person exists or not: her answer must not tell which registry ids exist."""
    from api.cli_people import resolve_person
    from geo.errors import NotFoundError

    try:
        got = resolve_person(engine, person, "person").id
    except NotFoundError:
        if user.role != "steward":
            raise
        got = None
    if user.role == "steward" and got != user.person_id:
        person_for(user, -1, "查看职责")  # her 403, naming no one
    if person_id is not None and person_id != got:
        raise HTTPException(
            422,
            f"人员指定不一致：person {person[:40]!r} 与 person_id {person_id} 指向不同的人员，"
            "请只给一个 "
            f"person {person[:40]!r} and person_id {person_id} name different people: give one",
        )
    return int(got)


@router.get(
    "/people/{person_id}/duties",
    summary="A person's duties 职责",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": PersonDuties}},
)
def person_duties(
    person_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: Annotated[Principal, Depends(allow("viewer", "steward", own_person=True))],
    engine: Engine = Depends(get_engine),
    date: Annotated[
        dt.date | None, Query(description="the day the duties are in force (default today)")
    ] = None,
    all: Annotated[
        bool, Query(description="every duty ever set, past and planned (ids to undo)")
    ] = False,
) -> dict[str, Any]:
    pid = person_for(user, person_id) if user.role == "steward" else person_id
    if pid is None:
        raise HTTPException(422, "缺少人员 person_id is required")
    return {"person_id": pid, "duties": duties(engine, pid, date, every=all)}


@router.get(
    "/coverage",
    summary="Coverage rates 覆盖率 of an area",
    # documentation only: the dict below is sent as built (no response model filters it)
    response_model=None,
    responses={200: {"model": Coverage}},
)
def coverage(
    _user: Annotated[Principal, Depends(allow("viewer"))],
    area: Annotated[str, Query(pattern=r"^[0-9]{6,12}$")],
    engine: Engine = Depends(get_engine),
    date: Annotated[dt.date | None, Query()] = None,
) -> dict[str, Any]:
    return coverage_rates(engine, area, date)
