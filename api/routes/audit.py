"""GET /audit: the audit log over HTTP, for admins (who changed which grid, duty, plan, track
or account, each restore and sign-in), newest first, a page at a time.

WHY (outside tester T69 #4): in a dispute over a withdrawn walk an evaluator working from the
API had no way to read the log; only ``gridward audit`` on the server did. The track's own
``history`` covers one track; this covers everything, filtered as ``gridward audit`` is, and
by target. Admins only: the log holds sign-in failures with addresses and account changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth import Principal, allow
from api.deps import get_engine

router = APIRouter(tags=["audit"])

MAX_LIMIT = 1000


class AuditEntryOut(BaseModel):
    """One entry of the log."""

    id: int = Field(description="编号 entry id (pass the last one as before_id for the next page)")
    at: str = Field(description="时间 when, the city's local time with its offset")
    actor: str | None = Field(
        description="操作者 an account's username, or cli:<OS user> for the command line"
    )
    action: str = Field(description="操作 e.g. grid.update, track.withdraw, signin.failure")
    target_type: str | None = Field(description="对象类型 grid, person, track, plan, user …")
    target_id: str | None = Field(description="对象编号 as stored (a database id, a code)")
    target: str = Field(
        description="对象 the target as people name it: a grid by its code, a person by "
        "name and registry id (人员编号), a street by its name"
    )
    detail: dict[str, Any] = Field(description="详情 what changed (never passwords or tokens)")


class AuditPage(BaseModel):
    """A page of the log, newest first."""

    timezone: str = Field(description="the city's time zone the times are in")
    entries: list[AuditEntryOut]
    next_before_id: int | None = Field(
        description="the next (older) page's before_id; null when this page is the last"
    )
    notes: list[str] = Field(description="说明 e.g. an account that has no entries yet")


def _day_start(day: dt.date | None, tz: ZoneInfo) -> dt.datetime | None:
    """Midnight of a local day, in the city's zone."""
    return None if day is None else dt.datetime.combine(day, dt.time(), tz)


@router.get(
    "/audit",
    summary="The audit log 审计日志",
    response_model=AuditPage,
)
def audit_log(
    user: Annotated[Principal, Depends(allow("admin"))],
    engine: Engine = Depends(get_engine),
    since: Annotated[dt.date | None, Query(description="from this local day on")] = None,
    until: Annotated[dt.date | None, Query(description="up to this local day, inclusive")] = None,
    actor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="one account; 'cli' every command-line entry, 'cli:root' one OS user's",
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="one action, any case; 'track' also finds track.upload, track.withdraw …",
        ),
    ] = None,
    target_type: Annotated[
        str | None,
        Query(min_length=1, max_length=40, description="grid, person, track, plan, user …"),
    ] = None,
    target_id: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="with target_type: the id as stored"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=2**63 - 1, description="entries older than this one: the next page"),
    ] = None,
) -> dict[str, Any]:
    """Entries newest first, filtered as ``gridward audit`` filters them (an action or actor
    the log never had is a 422 naming the known ones, or the case it is stored in), by
    target too; ``next_before_id`` pages back by entry id, not by offset, so entries written
    meanwhile shift nothing."""
    from geo.audit import check_filters, search, target_labels
    from geo.settings import get_settings

    if target_id is not None and target_type is None:
        raise HTTPException(
            422,
            "target_id 须与 target_type 一起给出（如 target_type=track&target_id=48） "
            "target_id goes with target_type (e.g. target_type=track&target_id=48)",
        )
    if since is not None and until is not None and until < since:
        raise HTTPException(
            422,
            f"日期范围有误：结束日 {until} 早于开始日 {since}（until 须不早于 since） "
            f"until {until} is before since {since}",
        )
    tz = ZoneInfo(get_settings().timezone)
    end = None if until is None else until + dt.timedelta(days=1)
    with engine.connect() as conn:
        rows = search(
            conn,
            _day_start(since, tz),
            actor,
            action,
            limit + 1,  # one more: is there an older page?
            before=_day_start(end, tz),
            target_type=target_type,
            target_id=target_id,
            before_id=before_id,
        )
        notes: list[str] = []
        if not rows and before_id is None:
            said = check_filters(conn, actor, action, example="action=track")
            notes += [said] if said else []
        more = len(rows) > limit
        rows = rows[:limit]
        labels = target_labels(conn, rows)
    entries = [
        {
            "id": int(r["id"]),
            "at": r["at"].astimezone(tz).isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "target_type": r["target_type"],
            "target_id": r["target_id"],
            "target": labels[r["id"]],
            "detail": r["detail"] or {},
        }
        for r in rows
    ]
    return {
        "timezone": tz.key,
        "entries": entries,
        "next_before_id": int(rows[-1]["id"]) if more else None,
        "notes": notes,
    }
