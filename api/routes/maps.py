"""Map pages 地图 (/maps/...) and their static assets (/maps/static/...)."""

from __future__ import annotations

import datetime as dt
import mimetypes
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BeforeValidator, StringConstraints
from sqlalchemy import Engine, text

from api.auth import (
    PATROLS_REFUSAL,
    Principal,
    allow,
    covers,
    passes,
    person_for,
    public,
    require_area,
)
from api.deps import get_engine
from api.routes.tracks import UPLOADERS
from geo import map_data
from geo.errors import InputError, NotFoundError
from geo.settings import city_today, get_settings
from geo.track_days import EARLIEST_DAY, LATEST_DAY

router = APIRouter(prefix="/maps", tags=["maps"])
# Map pages: everyone signed in (each page takes the principal: its name is in the page's
# bar); the editor: planners (it saves plans of their areas).

STATIC_DIR = (Path(__file__).resolve().parents[2] / "maps" / "static").resolve()
MinHH = Annotated[int, Query(ge=0, le=1_000_000, description="lower household bound 户数下限")]
MaxHH = Annotated[int, Query(ge=0, le=1_000_000, description="upper household bound 户数上限")]
Community = Annotated[
    str | None, Query(max_length=12, pattern=r"^[0-9]{12}$", description="community code")
]
# A page form's empty field (the area picker's 全市 whole city, a cleared person) is the
# parameter left out, not a malformed value: 全市 answered a 422 "收到 ''" (T37 F21a)
_EMPTY_IS_NONE = BeforeValidator(lambda v: None if v == "" else v)


# the editor's household bounds when the plan it starts from has none (maps.editor too)
EDITOR_BOUNDS = (300, 500)


def _bounds_check(lo: int, hi: int) -> None:
    """The one rule of every plan's bounds (max 0 opened an editor flagging every grid),
    naming them as the page's URL does (min, max), not as a plan's JSON body does."""
    from geo.plans import check_bounds

    check_bounds(lo, hi, names=("min", "max"))


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("", response_class=HTMLResponse, summary="Map index 地图目录")
def index(user: Annotated[Principal, Depends(allow("viewer", "steward"))]) -> HTMLResponse:
    links = [
        ("grids", "网格图", "Grid map"),
        ("stewards", "小巷管家图", "Alley stewards"),
        ("patrols", "巡查图", "Patrols"),
        # the 日巡/周查/月评 reports and their files (T65 F1: no page led to them)
        ("reports", "巡查报表", "Patrol reports"),
    ]
    if passes(allow("planner"), user):  # the editor saves plans: planners and admins only
        links.append(("editor", "网格编辑器", "Grid editor"))
    from maps.shell import index_page

    return _page(index_page(links, user.username))


@router.get("/grids", response_class=HTMLResponse, summary="Grid map 网格图")
def grids_page(
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
    min: MinHH | None = None,  # noqa: A002 - the query names users type
    max: MaxHH | None = None,  # noqa: A002
    community: Community = None,
) -> HTMLResponse:
    """Each community's grids are judged by the bounds of the plan its current grids came
    from (as the editor judges them), else 300–500; ?min= / ?max= judge every grid by the
    value given. WHY (T46 #12): a hard-coded 300–500 showed 17 of 24 grids of plans
    committed with 200–400 as under."""
    from maps.grid_map import build_grid_map

    lo, hi = EDITOR_BOUNDS[0] if min is None else min, EDITOR_BOUNDS[1] if max is None else max
    _bounds_check(lo, hi)
    per = {
        code: (b[0] if min is None else min, b[1] if max is None else max)
        for code, b in _plan_bounds(engine).items()
    }
    for pair in set(per.values()):
        _bounds_check(*pair)
    grids = map_data.grids_with_staff(engine, level=1, community=community)
    bounds = map_data.extent(engine, community)
    areas = map_data.community_outlines(engine)
    return _page(
        build_grid_map(
            grids,
            bounds,
            lo,
            hi,
            get_settings().tile_url,
            community,
            communities=areas,
            user=user.username,
            grid_bounds=per,
        )
    )


def _plan_bounds(engine: Engine) -> dict[str, tuple[int, int]]:
    """Community code → the household bounds of the plan its current level-1 grids came
    from, for those that have them: the editor's lookup (geo.plans.current_plan_params_sql,
    geo.plans.bounds_of)."""
    from sqlalchemy import text

    from geo.plans import bounds_of, current_plan_params_sql

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT a.code, ({current_plan_params_sql('a.id')}) AS params FROM areas a "
                "WHERE a.level IN ('community', 'village')"
            )
        ).all()
    return {r.code: b for r in rows if (b := bounds_of(r.params)) is not None}


@router.get("/stewards", response_class=HTMLResponse, summary="Alley steward map 小巷管家图")
def stewards_page(
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
) -> HTMLResponse:
    from maps.steward_map import build_steward_map

    d = map_data.alleys_with_stewards(engine)
    return _page(
        build_steward_map(
            d.alleys,
            d.stewards,
            d.rates,
            map_data.extent(engine),
            get_settings().tile_url,
            neighbours=d.neighbours,
            user=user.username,
        )
    )


@router.get("/patrols", response_class=HTMLResponse, summary="Patrol map 巡查图")
def patrols_page(
    # a steward sees only their own patrols: checked below, once ?person= is resolved (a
    # registry id too; the rule's own_person compares the raw value with a people.id)
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
    date: Annotated[
        dt.date | None,
        Query(
            description="local day YYYY-MM-DD (default: today for a steward; for everyone "
            "else the latest day with patrols, today when there is none)",
        ),
    ] = None,
    person: Annotated[
        Annotated[str, StringConstraints(max_length=100)] | None,
        _EMPTY_IS_NONE,
        Query(
            description="the person: registry id 人员编号 (people.external_id, e.g. S12) or "
            "people.id; id:12 or ext:12 when a number is both",
        ),
    ] = None,
    threshold: Annotated[
        float | None, Query(gt=0, le=1, description="share walked to count (default setting)")
    ] = None,
    area: Annotated[
        Annotated[str, StringConstraints(pattern=r"^[0-9]{6,12}$")] | None,
        _EMPTY_IS_NONE,
        Query(
            description="district, subdistrict or community code: only its alleys and streets",
        ),
    ] = None,
) -> HTMLResponse:
    from geo.track_history import restored_walks
    from maps.patrol_map import build_patrol_map

    s = get_settings()
    threshold = threshold or s.patrolled_share
    today = city_today(s)
    # The day when none is asked for (T44 #7): a steward's page is her today (what she still
    # has to walk, and the day her uploads land on); it opened on the latest day anyone in
    # the city patrolled, yesterday's walks before her first upload. Anyone else opens on
    # the latest day with patrols (the page says so when it is not today): a viewer looking
    # in the morning sees yesterday's whole day, not an empty map.
    latest = date is None and user.role != "steward"
    day = date or (map_data.latest_patrol_day(engine, today) if latest else None) or today
    if not EARLIEST_DAY <= day <= LATEST_DAY:  # the days uploads and reports take (T57 #8)
        raise InputError(
            f"日期 {day} 超出范围，巡查日期须在 {EARLIEST_DAY} 至 {LATEST_DAY} 之间 "
            f"date {day} is outside {EARLIEST_DAY}..{LATEST_DAY}"
        )
    person_id = person_for(user, _page_person(user, engine, person), refusal=PATROLS_REFUSAL)
    # the 日巡 daily report's numbers: a day after today is refused as the report refuses it
    # the tracks' flags (可疑, T52 #12) are for evaluators: not on a steward's own page
    d = map_data.patrols_of_day(
        engine,
        day,
        person_id,
        threshold=threshold,
        tz=s.timezone,
        today=today,
        area=area,
        flags=user.role != "steward",
    )
    upload = passes(UPLOADERS, user)
    # walks withdrawn and restored, said for evaluators as the flags are (T69 #4)
    evaluated = [t["id"] for t in d.tracks] if user.role != "steward" else []
    return _page(
        build_patrol_map(
            d,
            map_data.extent(engine, area=area),
            s.tile_url,
            s.timezone,
            upload,
            today=today,
            user=user.username,
            areas=map_data.area_choices(engine),
            latest=latest,
            restored=restored_walks(engine, evaluated),
            registry_id=_registry_id(engine, person_id),
        )
    )


def _registry_id(engine: Engine, person_id: int | None) -> str | None:
    """The 人员编号 the patrol page names its person by (李静（DEMO0002）, as ``users list``
    and the CLI do; T71 #34: the page showed the system id, 「李静 (#2)」)."""
    if person_id is None:
        return None
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT external_id FROM people WHERE id = :i"), {"i": person_id}
        ).scalar_one_or_none()


@router.get("/reports", response_class=HTMLResponse, summary="Patrol reports page 巡查报表")
def reports_page(
    request: Request,
    # who reads GET /reports/{kind}, and as it answers them (a steward: her own lines)
    user: Annotated[Principal, Depends(allow("viewer", "steward"))],
    engine: Engine = Depends(get_engine),
    kind: Annotated[
        Literal["daily", "weekly", "monthly"],
        Query(description="日巡 daily, 周查 weekly or 月评 monthly"),
    ] = "daily",
    date: Annotated[
        dt.date | None,
        _EMPTY_IS_NONE,
        Query(description="a day of the period (default: the city's today)"),
    ] = None,
    area: Annotated[
        Annotated[str, StringConstraints(pattern=r"^[0-9]{6,12}$")] | None,
        _EMPTY_IS_NONE,
        Query(description="district, subdistrict or community code (none: 全市 whole city)"),
    ] = None,
) -> HTMLResponse:
    """The report ``GET /reports/{kind}?date=&area=`` gives this reader, as tables, with its
    downloads, the previous and next periods and the period's signed copies (T65 F1: a viewer
    had no page to a report). Its figures are that route's own JSON (made_report,
    report_body), rendered and never recomputed; its refusals (a future day, an unknown
    area, a misspelt parameter) are the site's error pages."""
    from api.routes.reports import made_report, plain_query
    from geo.patrol_reports import share_used
    from geo.report_period import report_period
    from geo.report_signoffs import list_signoffs, report_body
    from maps.reports_page import build_reports_page

    plain_query(request, frozenset({"kind", "date", "area"}), "巡查报表页", "the reports page")
    today = city_today()  # once: the period and the report must agree near midnight
    day = date or today
    period = report_period(kind, day, today)  # a future or pre-1990 period is a 422
    share = share_used(None)
    body = report_body(
        made_report(engine, user, day, area, share, period), kind, day, period, share
    )
    signoffs = None
    if user.role != "steward":  # GET /reports/signed's readers, a planner their areas' only
        rows = list_signoffs(engine, kind, area, period.start, period.end)
        signoffs = [
            r
            for r in rows
            if r["area"] == area
            and r["period_from"] == period.start.isoformat()
            and (user.role != "planner" or covers(user, r["area"], engine))
        ]
    return _page(
        build_reports_page(
            body,
            day,
            today,
            map_data.area_choices(engine),
            user=user.username,
            steward=user.role == "steward",
            signoffs=signoffs,
        )
    )


def _page_person(user: Principal, engine: Engine, value: str | None) -> int | None:
    """The people.id ?person= names: a registry id (人员编号, e.g. DEMO0032) or a people.id,
    as the CLI's --person takes them (T37 F9: a registry id was a 422 "须为整数"). Unknown:
    404 naming the value; a number that is one person's id and another's registry id: 422
    naming both. A steward naming anyone unknown, or two people, gets person_for's 403, as
    for anyone else not herself (a 404 or the two names would tell her who exists)."""
    from api.cli_people import resolve_person

    if value is None:
        return None
    try:
        return resolve_person(engine, value, "person").id
    except (NotFoundError, InputError):
        if user.role != "steward":
            raise
        return 0  # no people.id: person_for refuses it as not hers


@router.get(
    "/editor",
    response_class=HTMLResponse,
    summary="Grid editor 网格编辑器 (without ?community or ?plan: the communities to pick from)",
)
def editor_page(
    user: Annotated[Principal, Depends(allow("planner"))],
    community: Community = None,
    engine: Engine = Depends(get_engine),
    plan: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="start from a plan")] = None,
    min: MinHH | None = None,  # noqa: A002
    max: MaxHH | None = None,  # noqa: A002
) -> HTMLResponse:
    """Bounds not given are those of the plan the editor starts from (the draft's own, or
    the plan the community's current grids came from), else 300–500 (tester W, F7).
    ?plan=N alone opens the plan's own community; a community= naming another is a 422."""
    from maps.editor import build_editor, build_picker

    if min is not None and max is not None:
        _bounds_check(min, max)
    if plan is not None:
        # a plan is of one community: ?plan=N alone opens it there (T39 L13: it was a 422
        # asking for community=); the planner's areas are checked on the plan's community
        # before a disagreeing community= is named back
        if community is not None:
            require_area(user, community, engine)
        own = map_data.plan_community(engine, plan)
        require_area(user, own, engine)
        if community is not None and community != own:
            raise InputError(
                f"方案 {plan} 属于社区 {own}，不属于所给的社区 {community}：请去掉 community=，"
                f"或改为 community={own} "
                f"plan {plan} is not a plan of community {community}: it is community {own}'s "
                f"(leave out community= or give community={own})"
            )
        community = own
    if community is None:
        rows = [r for r in map_data.communities_with_drafts(engine) if _may_edit(user, r, engine)]
        return _page(build_picker(rows, min, max, user=user.username))
    require_area(user, community, engine)  # before anything of the community is read
    data = map_data.editor_data(engine, community, plan)
    lo, hi = data.bounds or EDITOR_BOUNDS
    lo, hi = lo if min is None else min, hi if max is None else max
    _bounds_check(lo, hi)
    # a replaced version, a stale draft or one made on other data (T63 #1): the plan's own
    # counts beside today's
    shown = data.stale or data.outdated
    stored = _plan_households(engine, plan) if plan is not None and shown else None
    return _page(
        build_editor(data, lo, hi, get_settings().tile_url, user=user.username, stored=stored)
    )


@router.get(
    "/editor/history",
    response_class=HTMLResponse,
    summary="A community's grid versions 网格历史版本: open one, or revert to it as a new draft",
)
def editor_history_page(
    # planners of the community's areas (the editor's rule, as GET /plans/history), admins
    user: Annotated[Principal, Depends(allow("planner", area_param="community"))],
    community: Annotated[
        str, Query(max_length=12, pattern=r"^[0-9]{12}$", description="community code 社区编码")
    ],
    engine: Engine = Depends(get_engine),
) -> HTMLResponse:
    """The community's committed versions, newest first (``gridward plans history``): each
    opens read-only in the editor, and one not current is brought back as a new draft by
    its 恢复此版 button (POST /plans/revert, then the editor on the draft). Planners of the
    community's areas and admins, as the editor (T63 #1: history and revert were on the
    command line and the API only); an unknown community is then a 404."""
    from geo.plan_history import grid_versions
    from maps.plan_history_page import build_history

    data = grid_versions(engine, community)  # 404 for no such area, 422 for no community
    return _page(build_history(data, get_settings().timezone, user=user.username))


def _plan_households(engine: Engine, plan: int) -> dict[str, dict]:
    """Each grid's households and flags as the plan holds them (what `gridward plans show N`
    prints: the counts when it was saved, which a commit keeps): the editor's page on a
    replaced version or a stale draft shows them beside today's (T43 #10)."""
    from geo.plans import get_plan

    return {
        str(f["properties"].get("code")): {
            "households": int(f["properties"].get("households", 0)),
            "flags": list(f["properties"].get("flags") or []),
        }
        for f in (get_plan(engine, plan)["features"] or {}).get("features", [])
    }


def _may_edit(user: Principal, row: dict, engine: Engine) -> bool:
    try:
        require_area(user, row["code"], engine)
    except HTTPException:
        return False
    return True


@router.get("/static/{path:path}", include_in_schema=False, dependencies=[Depends(public())])
def static(path: str) -> FileResponse:
    try:
        target = (STATIC_DIR / path).resolve()
        found = len(path) <= 200 and target.is_relative_to(STATIC_DIR) and target.is_file()
    except (OSError, ValueError):  # names too long for the file system, odd bytes
        found = False
    if not found:
        raise NotFoundError(f"静态文件 '{path[:100]}' 不存在 no static file '{path[:100]}'")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
