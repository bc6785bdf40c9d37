"""Models of the answers routes build themselves (a ``JSONResponse``), for /openapi.json.

WHY (outside tester T67): these answers were documented as an untyped ``{}``, so a client
generated from the schema had no types. Routes name these models in ``responses={code:
{"model": ...}}`` only: a route returns its own Response, which FastAPI sends as built, so
no model here can drop, rename, add or re-type a key of what is sent. A key left out of some
answers is optional (not ``required``; :func:`maybe`); a key always sent that may be null is
``X | None`` without a default. The layers' GeoJSON models are in :mod:`api.routes.features`,
the tracks' answers in :mod:`api.routes.tracks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def maybe(description: str | None = None) -> Any:
    """An optional key: left out of some answers, never null when sent. (Pydantic's default
    None is not written into the schema, where it would read as a null value.)"""
    return Field(default=None, description=description, json_schema_extra=_no_default)


# ------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------


class JobAccepted(BaseModel):
    """202: a job started (also the ``Location`` header); poll ``job_url`` for its result."""

    job_id: str = Field(description="任务编号（UUID） the job's id, a UUID")
    status: Literal["queued", "running"] = Field(
        description="任务状态：排队中 queued，进行中 running（仅重复请求时） the job's status: "
        "queued; running only for a repeated request whose job has started"
    )
    job_url: str = Field(description="查询进度的地址 where to poll: /jobs/{job_id}")
    repeated: bool = maybe(
        "重复请求：同一报表的任务尚未完成，答复即该任务（仅此时出现，为 true） a retry: the "
        "unfinished job of the same report (sent only then, true)"
    )


# ------------------------------------------------------------------------------------------
# draft plans (POST /plans/draft, /plans/import, /plans/revert)
# ------------------------------------------------------------------------------------------


class GridHouseholds(BaseModel):
    code: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")


class DraftSummary(BaseModel):
    """What a draft saved by the editor's path holds."""

    source: str = Field(
        description="来源：编辑器 editor、恢复旧版 revert、文件导入 file what made it"
    )
    grids: int = Field(description="网格数 grids")
    households: int = Field(description="户数合计 households in all")
    within_bounds: int = Field(description="户数在上下限内的网格数 grids within the bounds")
    flagged: int = Field(description="有标记的网格数 grids with a flag")
    per_grid: list[GridHouseholds] = Field(description="各网格户数 each grid's households")


class DraftGridOut(BaseModel):
    code: str = Field(description="网格编码 the grid's code (new grids named anew)")
    households: int = Field(description="户数 households")
    building_count: int = Field(description="楼栋数 buildings")
    flags: list[str] = Field(
        description="标记：不足 under_min、超出 over_max（一栋楼即超出："
        "over_max:single_building）、狭长 elongated、不连通 disconnected（保留的轮廓可带原网格"
        "的标记） flags; a kept outline in pieces may carry its stored grid's"
    )


class Outlines(BaseModel):
    """Which grids kept a stored outline and which were drawn from their buildings."""

    version: int | None = Field(description="保留轮廓所依据的网格版本 the grid version kept from")
    plan: int | None = Field(description="保留轮廓所依据的方案（outlines_plan） the plan kept from")
    kept: list[str] = Field(description="保留原轮廓的网格 grids that kept their outline")
    redrawn: list[str] = Field(description="按楼栋重绘的网格 grids drawn from their buildings")
    why: str | None = Field(description="为何未能保留轮廓（中文在前） why none could be kept")


class DraftAnswer(BaseModel):
    """A draft just stored (:func:`geo.plan_drafts.save_draft`)."""

    plan_id: int = Field(description="草案编号：提交 POST /plans/{id}/commit the draft's id")
    summary: DraftSummary
    grids: list[DraftGridOut] = Field(description="各网格，按提交顺序 each grid, as sent")
    outlines: Outlines


class NewDraft(DraftAnswer):
    """201: the editor's plan stored as a new draft."""

    existing: bool = Field(description="新存的草案为 false false: a new draft")


class FlaggedGrid(BaseModel):
    """A grid the partition engine flagged, with why."""

    code: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")
    flags: list[str] = Field(description="标记，如 不足 under_min、超出 over_max the flags")
    reasons: list[str] = Field(description="原因（英文） why, in English")
    reasons_zh: list[str] = Field(description="原因（中文） why, in Chinese")


class PartitionSummary(BaseModel):
    """What the partition engine said of the grids it drew (a plan of POST /plans)."""

    n_grids: int = Field(description="网格数 grids")
    n_buildings: int = Field(description="楼栋数 buildings")
    households_total: int = Field(description="户数合计 households in all")
    n_within_bounds: int = Field(description="户数在上下限内的网格数 grids within the bounds")
    share_within_bounds: float = Field(description="在上下限内的比例 their share")
    n_feasible: int = Field(description="可达标的网格数 grids that can meet the bounds")
    n_feasible_within_bounds: int = Field(description="其中在上下限内的 of them within")
    share_feasible_within_bounds: float = Field(description="其比例 their share")
    n_infeasible: int = Field(description="无法达标的网格数（如单栋楼超出） grids that cannot")
    n_multipart: int = Field(description="不连通的网格数 grids in pieces")
    n_elongated: int = Field(description="狭长的网格数 elongated grids")
    mean_polsby_popper: float = Field(description="平均紧凑度 mean Polsby–Popper")
    min_polsby_popper: float = Field(description="最小紧凑度 least Polsby–Popper")
    street_boundary_share: float | None = Field(
        description="沿街的边界比例，无内部边界为空 share of inner boundaries on streets"
    )
    leaders: int = Field(description="所需网格长数 grid leaders needed")
    workers: int = Field(description="所需专职网格员数 full-time workers needed")
    flagged: list[FlaggedGrid] = Field(description="有标记的网格 flagged grids")
    n_blocks: int = Field(description="街区数 street blocks")
    n_divided_blocks: int = Field(description="被拆分的街区数 blocks divided")
    n_atoms: int = Field(description="划分单元数 units partitioned")
    metric_crs: str = Field(description="计算所用的投影坐标系 the metric CRS used")
    runtime_s: float = Field(description="运行时间（秒） runtime in seconds")
    params: dict[str, Any] = Field(description="划分引擎的参数 the engine's parameters as run")


class ExistingDraft(BaseModel):
    """200: the same grids and bounds as an open draft on the same grid version: that draft,
    not stored again."""

    plan_id: int = Field(description="已有草案的编号 the open draft's id")
    summary: DraftSummary | PartitionSummary = Field(
        description="该草案保存时的摘要；划分引擎生成的草案为其自己的摘要（同 GET /plans/{id}） "
        "the draft's summary as stored; a partition engine's draft has the engine's own"
    )
    grids: list[DraftGridOut] = Field(description="各网格，按提交顺序 each grid, as sent")
    outlines: None = Field(description="为空：轮廓已在保存时说明 null: said when it was saved")
    existing: bool = Field(description="已有草案，未另存：true true: not stored again")
    message: str = Field(description="说明（中文在前），如 与草案 #N 相同，未另存 what was done")


class Overlap(BaseModel):
    a: str = Field(description="网格编码，或行号 row N a grid's code, else its row")
    b: str = Field(description="另一网格 the other")
    m2: float = Field(description="重叠面积（平方米） overlap in m²")


class _FileRead(BaseModel):
    """What a grids file said, in every answer of POST /plans/import."""

    bounds: list[int] = Field(description="户数下限、上限 [min, max] households per grid")
    base_version: int = Field(description="社区现行网格版本 the community's grid version")
    rows: list[int] = Field(description="各网格在文件中的行号 each grid's row in the file")
    new_grids: list[bool] = Field(description="各网格是否为新网格（编码重编） each grid is new")
    matched: list[str] = Field(
        description="无本社区编码、按共有户数最多的现行网格定编码的行 rows without a code of the "
        "community given the code of the current grid they share most households with"
    )
    warnings: list[str] = Field(description="警告（中文在前） warnings, Chinese first")
    overlaps: list[Overlap] = Field(description="重叠的多边形 overlapping polygons")
    dropped: list[str] = Field(description="无楼栋而略去的行 rows without a building, left out")
    moved_buildings: int = Field(description="所属网格改变的楼栋数 buildings that change grid")
    unchanged: bool = Field(description="与现行网格相同 the same as the current grids")
    note: str = Field(description="轮廓按楼栋重绘的说明 how outlines are redrawn")


class FileDraft(_FileRead, DraftAnswer):
    """201: a grids file stored as a draft."""


class FileExisting(_FileRead, ExistingDraft):
    """200: the file's grids (codes, buildings) and bounds are an open draft's, made on the
    same grid version and data: that draft, not stored again (``existing`` true)."""


class GridCount(BaseModel):
    code: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")
    building_count: int = Field(description="楼栋数 buildings")


class FileUnchanged(_FileRead):
    """200: the file's grids are the current ones: no draft stored, no ``plan_id``."""

    message: str = Field(description="说明（中文在前） what was done, Chinese first")
    grids: list[GridCount] = Field(description="文件中的网格 the file's grids")


class RevertedFrom(BaseModel):
    version: int = Field(description="恢复的网格版本 the version reverted to")
    plan_id: int | None = Field(description="该版本的方案 its plan")


class BuildingPlaced(BaseModel):
    building: int = Field(description="楼栋编号 buildings.id")
    grid: str = Field(description="归入的网格 the grid it went to")
    how: Literal["inside", "nearest"] = Field(
        description="位于其内 inside，或最近 nearest（提交前请查看） inside it, or the nearest"
    )


class RevertedDraft(DraftAnswer):
    """201: a new draft with the grids of an earlier version (POST /plans/revert)."""

    community: str = Field(description="社区编码 community code")
    base_version: int = Field(description="现行网格版本 the current grid version")
    reverted_from: RevertedFrom
    bounds: list[int] = Field(description="户数下限、上限 [min, max] households per grid")
    buildings_added: list[BuildingPlaced] = Field(
        description="该版本之后新增的楼栋 buildings added since that version"
    )
    buildings_gone: list[int] = Field(description="已不存在的楼栋 buildings gone since")
    grids_dropped: list[str] = Field(description="无楼栋而略去的网格 grids left with none")


# ------------------------------------------------------------------------------------------
# patrol reports (GET /reports/{kind}, a report job's JSON file, signed copies)
# ------------------------------------------------------------------------------------------

_ROLE = "角色：小巷管家 alley_steward 或街巷长 street_chief"
_ROLE_LABEL = "角色中文名与代码，如 小巷管家 alley steward the role, Chinese first"
_SUSPECT = (
    "计入此行的可疑轨迹数（评价人员可见；巡查人员本人视图无此键） flagged tracks that credited "
    "the row (for evaluators; not in a steward's own view)"
)
_TIME = "城市时区的时间，带时差 a time in the city's zone with its offset"


class ReportArea(BaseModel):
    """The area a filtered report covers."""

    code: str = Field(description="区域编码 area code")
    name: str | None = Field(description="区域名称 area name")
    level: str = Field(
        description="层级：区 district、街道 subdistrict、乡镇 township、社区 community、村 village"
    )


class SignedNow(BaseModel):
    """The period's newest signoff (签发), in a live report."""

    id: int = Field(description="签发编号：GET /reports/signed/{id} the signoff's id")
    version: int = Field(description="签发版本（更正为 N+1） version, a correction is N+1")
    signed_at: str = Field(description="签发时间 " + _TIME)
    signed_by: str = Field(description="签发人 who signed")
    sha256: str = Field(description="签发的 XLSX 的 SHA-256 the signed XLSX's SHA-256")
    share: float = Field(description="签发时的达标比例 the share it was signed with")
    changed: bool = Field(description="签发后数据有改动（见 notes） data changed since (notes)")


class Signoff(BaseModel):
    """A signoff (签发): POST /reports/{kind}/sign's answer, a signed copy's ``signed``."""

    id: int = Field(description="签发编号 the signoff's id")
    kind: Literal["daily", "weekly", "monthly"]
    period_from: str = Field(description="报表期首日 the period's first day (YYYY-MM-DD)")
    period_to: str = Field(description="报表期末日 the period's last day")
    area: str | None = Field(description="区域编码，全市为空 area code; null: the whole city")
    share: float = Field(description="达标比例 the share of an alley's length that counts")
    version: int = Field(description="签发版本（更正为 N+1） version, a correction is N+1")
    signed_at: str = Field(description="签发时间 " + _TIME)
    signed_by: str = Field(description="签发人 who signed")
    note: str | None = Field(description="签发说明 the note")
    data_as_of: str | None = Field(description="所依据数据的最后改动时间 the data's last change")
    sha256: str = Field(description="签发的 XLSX 的 SHA-256 the signed XLSX's SHA-256")


class RepeatedSignoff(Signoff):
    """200: the same signing sent again: the version already stored, nothing new."""

    repeated: bool = Field(description="已签发过，未另存：true true: signed before, not again")


class _PersonRow(BaseModel):
    person_id: int = Field(description="人员系统编号 people.id")
    person_code: str = Field(description="人员编号 the registry id")
    person_name: str = Field(description="姓名 name")
    pending: int = Field(description="今日待巡的街巷·天，不计入比率 today's duty-days not done yet")
    compliance: float | None = Field(
        description="达标率 0–1，无可计时为空 patrolled share of the duty-days counted; null: none"
    )
    walked_m: float = Field(description="本人步行长度（米） metres walked")
    role: str = Field(description=_ROLE)
    rank: int | None = Field(description="角色内排名 rank within the role")
    late_uploads: int = Field(description="迟传轨迹数 tracks uploaded late")
    late_days_max: int | None = Field(description="最长迟传天数 the longest delay in whole days")
    suspect_tracks: int = maybe(_SUSPECT)
    midnight_alley_days: int = Field(
        description="其中由跨零点巡查计入的已巡街巷·天 patrolled duty-days earned by walks over "
        "midnight (each such walk counts on every day it walked)"
    )
    role_label: str = Field(description=_ROLE_LABEL)


class PersonDayRow(_PersonRow):
    """A steward's or chief's day (日巡)."""

    day: str = Field(description="日期 the day (YYYY-MM-DD)")
    alleys: int = Field(description="负责的街巷数 alleys or streets held")
    patrolled_alleys: int = Field(description="已巡的街巷数 of them patrolled by this person")
    assigned_m: float = Field(description="负责的街巷长度（米） metres held")


class PersonPeriodRow(_PersonRow):
    """A steward's or chief's week (周查) or month (月评)."""

    period: str = Field(description="周一或月初 the week's Monday or the month's first day")
    days: int = Field(description="在岗天数 days with a duty")
    alley_days: int = Field(description="街巷·天 duty-days")
    patrolled_alley_days: int = Field(description="已巡街巷·天 patrolled duty-days")
    first_day: str = Field(description="本期首个在岗日 first day in post in the period")
    last_day: str = Field(description="本期最后在岗日 last day in post in the period")


class AlleyRow(BaseModel):
    """An alley or street on a day, with who held it and who was credited."""

    day: str = Field(description="日期 the day")
    alley_id: int = Field(description="街巷编号 streets.id")
    length_m: float = Field(description="长度（米） length")
    walked_m: float = Field(description="持有人步行长度（合并） metres walked by its holders")
    walked_share: float = Field(description="步行比例 share walked")
    patrolled: bool = Field(description="已巡（达到比例） patrolled: the share was reached")
    first_time: str | None = Field(description="首次巡查时间 first visit, " + _TIME)
    last_time: str | None = Field(description="末次巡查时间 last visit")
    pending: bool = Field(description="今日待巡 today's, not done yet (in no rate)")
    person_ids: list[int] = Field(description="持有人 people.id the holders")
    people: str = Field(description="持有人姓名 the holders' names")
    person_codes: str = Field(description="持有人编号 the holders' registry ids")
    holder_walked_m: list[float] = Field(description="各持有人步行长度 each holder's metres")
    credited_ids: list[int] = Field(description="计为已巡的持有人 holders credited")
    credited: str | None = Field(description="计为已巡者姓名 names of those credited")
    role: str = Field(description=_ROLE)
    community_code: str | None = Field(description="社区编码，不属任何社区为空 community code")
    community_name: str = Field(description="社区 community (or 不属任何社区)")
    subdistrict_code: str | None = Field(description="街道编码 subdistrict code")
    subdistrict_name: str = Field(description="街道 subdistrict (or 不属任何街道)")
    alley_name: str = Field(description="街巷名称 the alley's or street's name")
    covered_m: float = Field(description="计入街巷长并行道路后的覆盖长度 metres covered")
    covered_share: float = Field(description="覆盖比例（判定已巡所用） share covered")
    suspect_tracks: int = maybe(_SUSPECT)
    role_label: str = Field(description=_ROLE_LABEL)


class AreaRow(BaseModel):
    """A community's, subdistrict's (or district's) totals for one role."""

    role: str = Field(description=_ROLE)
    level: str = Field(description="层级：区 district、街道 subdistrict 或社区 community")
    subdistrict_code: str | None = Field(description="街道编码 subdistrict code")
    subdistrict_name: str | None = Field(description="街道 subdistrict")
    community_code: str | None = Field(description="社区编码（街道行为空） community code")
    community_name: str | None = Field(description="社区 community")
    alley_days: int = Field(description="有人负责的街巷·天 staffed duty-days")
    patrolled: int = Field(description="已巡街巷·天 patrolled duty-days")
    pending: int = Field(description="今日待巡 today's not done yet")
    compliance: float | None = Field(description="达标率 0–1 patrolled share; null: none")
    unstaffed: int = Field(description="无人负责的街巷·天 unstaffed street/alley-days")
    walked_m: float = Field(description="步行长度（米） metres walked")
    length_m: float = Field(description="街巷长度·天（米） metres held")
    rank: int | None = Field(description="同层级排名 rank within the level")
    district_code: str | None = Field(description="区编码 district code")
    district_name: str | None = Field(description="区 district")
    role_label: str = Field(description=_ROLE_LABEL)


class SegmentRow(BaseModel):
    """A segment of a duty alley or street on the day (日巡 only)."""

    day: str = Field(description="日期 the day")
    role: str = Field(description=_ROLE)
    segment_id: int = Field(description="路段编号 street_segments.id")
    alley_id: int = Field(description="街巷编号 streets.id")
    alley_name: str = Field(description="街巷名称 the alley's name")
    kind: str = Field(description="类型：街 street 或巷 alley")
    length_m: float = Field(description="长度（米） length")
    walked_fraction: float = Field(description="步行比例 share walked")
    walked_m: float = Field(description="步行长度（米） metres walked")
    first_time: str | None = Field(description="首次巡查时间 first visit, " + _TIME)
    last_time: str | None = Field(description="末次巡查时间 last visit")
    person_ids: list[int] = Field(description="持有人 people.id the holders")
    people: str = Field(description="持有人姓名 the holders' names")
    covered_fraction: float = Field(description="覆盖比例 share covered")
    covered_m: float = Field(description="覆盖长度（米） metres covered")
    role_label: str = Field(description=_ROLE_LABEL)


_TABLE_KEYS = "各表的键，按顺序（空表也有） each table's keys, in order (an empty one's too)"


class PeriodColumns(BaseModel):
    """Each table's keys, in order (an empty table's ``[]`` cannot say them)."""

    people: list[str]
    alleys: list[str]
    areas: list[str]


class DailyColumns(PeriodColumns):
    segments: list[str]


class _ReportHead(BaseModel):
    """What a report says about itself (:func:`geo.report_signoffs.report_body`)."""

    kind: str = Field(description="日巡 daily、周查 weekly 或月评 monthly")
    date: str = Field(description="所请求的日期 the day asked for")
    label: str = Field(description="报表名，如 周查 weekly check the report's name")
    from_: str = Field(alias="from", description="所含首日 first day covered (YYYY-MM-DD)")
    to: str = Field(description="所含末日（进行中的报表期止于今天） last day covered")
    days: int = Field(description="所含天数 days covered")
    period_from: str = Field(description="报表期首日 the whole period's first day")
    period_to: str = Field(description="报表期末日 the whole period's last day")
    partial: bool = Field(description="只含报表期的一部分 covers part of the period only")
    running: bool = Field(description="报表期进行中（含今天） the period holds today")
    share: float = Field(description="达标比例 the share of an alley's length that counts")
    time_zone: str = Field(description="时间所在的时区 the zone times and days are in")
    pending: int = Field(description="今日待巡的街巷·天 today's duty-days not done yet")
    notes: list[str] = Field(description="说明（中文在前） notes, Chinese first")
    area: ReportArea | None = Field(description="筛选的区域，全市为空 the area; null: the city")
    data_as_of: str | None = Field(description="数据最后改动时间 the data's last change")


class DailyReport(_ReportHead):
    """日巡 daily patrol."""

    kind: Literal["daily"] = Field(description="日巡 daily")
    signed: SignedNow | None = Field(
        description="本期最新签发，未签发或巡查人员本人视图为空 the newest signoff; null when "
        "none, and in a steward's own view"
    )
    columns: DailyColumns = Field(description=_TABLE_KEYS)
    people: list[PersonDayRow]
    alleys: list[AlleyRow]
    areas: list[AreaRow]
    segments: list[SegmentRow]


class PeriodReport(_ReportHead):
    """周查 weekly check, 月评 monthly evaluation."""

    kind: Literal["weekly", "monthly"] = Field(description="周查 weekly 或月评 monthly")
    signed: SignedNow | None = Field(
        description="本期最新签发，未签发或巡查人员本人视图为空 the newest signoff; null when "
        "none, and in a steward's own view"
    )
    columns: PeriodColumns = Field(description=_TABLE_KEYS)
    people: list[PersonPeriodRow]
    alleys: list[AlleyRow]
    areas: list[AreaRow]


class SignedDailyReport(DailyReport):
    """A daily report as it was signed."""

    signed: Signoff  # type: ignore[assignment]


class SignedPeriodReport(PeriodReport):
    """A weekly or monthly report as it was signed."""

    signed: Signoff  # type: ignore[assignment]


# one answer per kind: a client reads ``kind`` to know its tables
PatrolReport = Annotated[DailyReport | PeriodReport, Field(discriminator="kind")]
SignedReport = Annotated[SignedDailyReport | SignedPeriodReport, Field(discriminator="kind")]


# ------------------------------------------------------------------------------------------
# duties (POST /assignments)
# ------------------------------------------------------------------------------------------


class DutyHolding(BaseModel):
    """A duty's holder and days."""

    id: int = Field(description="职责编号 the duty's id")
    person_id: int = Field(description="人员系统编号 people.id")
    person: str = Field(description="人员编号 the registry id")
    name: str = Field(description="姓名 name")
    valid_from: str = Field(description="首日 first day (YYYY-MM-DD)")
    valid_to: str | None = Field(description="末日（含），长期为空 last day; null: open-ended")


class DutyTargetRef(BaseModel):
    """What the duty is held on: a grid (``code``) or a street or alley (``key``, ``name``)."""

    kind: Literal["grid", "street", "alley"] = Field(description="网格 grid、街 street 或巷 alley")
    id: int = Field(description="网格编号 grids.id 或街巷编号 streets.id")
    code: str = maybe("网格编码（仅网格） a grid's code (grids only)")
    key: str = maybe("街巷键（仅街巷） a street's or alley's key (streets and alleys only)")
    name: str | None = maybe("街巷名称，无名为空（仅街巷） its name (streets and alleys only)")


class DutyHeld(BaseModel):
    """A duty and its holder: the keys every duty row of the API starts with (a duty set,
    the duties in force)."""

    id: int = Field(description="职责编号（DELETE /assignments/{id} 撤销） the duty's id")
    person_id: int = Field(description="人员系统编号 people.id")
    person: str = Field(description="人员编号 the registry id")
    name: str = Field(description="姓名 name")
    role: str = Field(
        description="职责：网格长 grid_leader、专职网格员 grid_worker、兼职网格员 "
        "part_time_worker、街巷长 street_chief 或小巷管家 alley_steward"
    )
    valid_from: str = Field(description="首日 first day (YYYY-MM-DD)")
    valid_to: str | None = Field(description="末日（含），长期为空 last day; null: open-ended")


class NewDuty(DutyHeld):
    target: DutyTargetRef


class DutyChange(BaseModel):
    """What a replacement did to another holder's duty."""

    action: Literal["ended", "resumes", "moved", "deleted"] = Field(
        description="提前结束 ended、替换后恢复（新职责） resumes、推后 moved、删除 deleted "
        "ended the day before, resumes after, moved after, or deleted"
    )
    id: int = Field(description="该职责编号 that duty's id")
    before: DutyHolding | None = Field(description="之前，新职责为空 before; null: a new one")
    after: DutyHolding | None = Field(description="之后，删除为空 after; null: deleted")


class _DutyAnswer(BaseModel):
    duty: NewDuty
    replace: bool = Field(description="是否为替换 whether it replaced the other holders")
    changes: list[DutyChange] = Field(description="其他持有人职责的变化 others' duties changed")
    co_holders: list[DutyHolding] = Field(description="同期共管者 co-holders in its days")


class DutySet(_DutyAnswer):
    """201: the duty set."""

    warnings: list[str] = maybe("警告（中文在前，仅有警告时） warnings, Chinese first (when any)")
    created: bool = Field(description="新安排的职责为 true true: a new duty")


class DutyAlreadySet(_DutyAnswer):
    """200: the person already holds this duty with exactly these days (a retry)."""

    created: bool = Field(description="未重复安排：false false: nothing changed")
    message: str = Field(description="说明（中文在前） what was done, Chinese first")


# ------------------------------------------------------------------------------------------
# a job's status and result (GET /jobs/{id}), one model per kind of job
# ------------------------------------------------------------------------------------------


class PartitionResult(BaseModel):
    """A partition job's result (POST /plans): the draft it made."""

    plan_id: int = Field(description="生成的草案编号 the draft made")
    plan_url: str = Field(description="草案地址 where to read it: /plans/{plan_id}")


class ReportFileResult(BaseModel):
    """A report job's result (POST /reports/{kind}/jobs): the file it kept, and its report."""

    file_url: str = Field(description="下载地址 where to fetch it: /reports/files/{job_id}")
    name: str = Field(description="文件名 the file's name")
    media_type: str = Field(description="文件类型 its media type (JSON, CSV, XLSX)")
    bytes: int = Field(description="文件大小（字节） its size in bytes")
    sha256: str = Field(description="文件的 SHA-256（If-None-Match） the file's SHA-256")
    expires_at: str = Field(description="保留至 kept until, " + _TIME)
    kind: Literal["daily", "weekly", "monthly"] = Field(description="日巡、周查或月评 the report")
    label: str = Field(description="报表名，如 周查 weekly check the report's name")
    from_: str = Field(alias="from", description="所含首日 first day covered (YYYY-MM-DD)")
    to: str = Field(description="所含末日 last day covered")
    days: int = Field(description="所含天数 days covered")
    period_from: str = Field(description="报表期首日 the whole period's first day")
    period_to: str = Field(description="报表期末日 the whole period's last day")
    partial: bool = Field(description="只含报表期的一部分 covers part of the period only")
    running: bool = Field(description="报表期进行中（含今天） the period holds today")
    area: str | None = Field(description="区域编码，全市为空 area code; null: the whole city")
    share: float = Field(description="达标比例 the share of an alley's length that counts")


class TrackOutcome(BaseModel):
    """One of the uploader's tracks once the match job ended."""

    track_id: int = Field(description="轨迹编号 tracks.id")
    status: str = Field(description="状态：matched、queued、failed 等 the track's status")
    status_label: str = Field(description="状态中文名与代码，如 已匹配 matched")
    segments: int = Field(description="计入的路段数 segments credited")
    error: str | None = Field(description="匹配失败的原因（中文在前） why matching failed")


class MatchResult(BaseModel):
    """A match job's result (a deferred upload, POST /tracks/rematch, the queue drained by
    the service itself): what the drain matched."""

    matched: int = Field(description="匹配成功的轨迹数 tracks matched")
    failed: int = Field(description="匹配失败的轨迹数 tracks that failed")
    points: int = Field(description="读入的轨迹点数 points read")
    visits: int = Field(description="计入的路段巡查数 segment visits credited")
    rematched: int = Field(description="重新匹配的轨迹数 tracks matched again")
    changed: int = Field(description="重新匹配后结果改变的轨迹数 re-matched tracks that changed")
    days_moved: int = Field(description="重新匹配后改变的街巷·天 duty-days that changed")
    moved_m: float = Field(description="改变的长度（米） metres moved")
    gained_m: float = Field(description="增加的巡查长度（米） metres gained")
    lost_m: float = Field(description="减少的巡查长度（米） metres lost")
    errors: dict[str, str] = Field(
        description="失败的轨迹：轨迹编号 → 原因（中文在前） track id → why it failed"
    )
    uncredited: dict[str, str] = Field(
        description="已匹配但未计入任何路段的轨迹：轨迹编号 → 原因 track id → why nothing "
        "was credited"
    )
    others_matched: int = maybe(
        "同时匹配的他人轨迹数（仅上传的任务） other tracks the drain matched too (an "
        "upload's job only)"
    )
    tracks: list[TrackOutcome] = maybe(
        "上传的各条轨迹的结果（仅上传的任务） each uploaded track's outcome (an upload's job only)"
    )


class ProposalPair(BaseModel):
    """A duty the proposal gives: an item (grid, street or alley) and a person."""

    item_id: int = Field(description="网格编号 grids.id 或街巷编号 streets.id")
    person_id: int = Field(description="人员系统编号 people.id")
    role: str = Field(
        description="职责：网格长 grid_leader、专职网格员 grid_worker、街巷长 street_chief、"
        "小巷管家 alley_steward 等 the duty"
    )
    walk_m: float | None = maybe("住址到街巷的步行距离（米，仅街巷） walk from home (lines)")
    distance_m: float | None = maybe("住址到网格的距离（米，仅网格） distance from home (grids)")
    valid_from: str | None = Field(description="首日，提交之日为空 first day; null: the commit's")
    valid_to: str | None = Field(description="末日（代班），长期为空 a stand-in's last day")


class ShortLater(BaseModel):
    """A slot that falls short on a later day."""

    item_id: int | str = Field(description="街巷编号，或网格编码 streets.id, or a grid's code")
    role: str = Field(description="职责 the duty")
    from_: str = Field(alias="from", description="自该日起不足 short from that day")
    holders: int = Field(description="届时的持有人数 holders then")
    needed: int = Field(description="所需人数 holders needed")


class PlannedDutyRow(BaseModel):
    """A duty planned by hand to start later, which the commit leaves or brings forward."""

    item_id: int = Field(description="网格编号 grids.id 或街巷编号 streets.id")
    person_id: int = Field(description="人员系统编号 people.id")
    role: str = Field(description="职责 the duty")
    valid_from: str = Field(description="首日 first day")
    valid_to: str | None = Field(description="末日，长期为空 last day; null: open-ended")


class DutyChanges(BaseModel):
    keep: int = Field(description="保留的职责数 duties kept")
    end: int = Field(description="结束的职责数 duties ended")
    start: int = Field(description="新增的职责数 duties started")


class _ProposalSummary(BaseModel):
    """What :func:`geo.staffing.propose` adds to every solver's figures."""

    starting_tomorrow: int = Field(
        description="明天才开始的职责数（人员或职位今天仍被占用） duties starting tomorrow"
    )
    ending_today: int = Field(description="今天结束的现有职责数 duties in force ending today")
    until_planned: int = Field(
        description="代班到已安排职责开始前的职责数 stand-ins until a planned duty"
    )
    short_later: int = Field(description="日后不足的职位数（见 short_from） slots short later")
    runtime_s: float = Field(description="求解时间（秒） the solver's time in seconds")
    solver: str = Field(description="求解器 the solver used")


class GridsSummary(_ProposalSummary):
    """网格长、专职网格员的求解统计 (:func:`geo.assign.grids.staff_grids`); without a
    rebalance, the grids' staff after the commit, not only the new picks."""

    grids: int = Field(description="网格数 grids")
    fully_staffed: int = Field(description="人员配齐的网格数 grids fully staffed")
    staffed_rate: float = Field(description="配齐率 0–1 their share")
    leaders: int = Field(description="网格长数 grid leaders")
    workers: int = Field(description="专职网格员数 full-time workers")
    households_per_worker: float | None = Field(
        description="每名专职网格员的户数，无网格员为空 households per worker"
    )
    mean_distance_m: float | None = Field(
        description="住址到网格的平均距离（米），无人为空 mean distance from home"
    )
    new: int = maybe("新选的职责数（只补缺时） duties newly picked (gaps filled, no rebalance)")


_ACROSS = "仅隔着路网缺口才能到达的已配人员街巷编号（请核实有路） staffed only across a gap"
_UNREACHABLE = "步行可达范围内无人的街巷编号 streets.id nobody can walk to"
_OUTSIDE = "住址离任何可步行道路太远而未计入的人员 people.id living too far from any way"


class _LineSummary(_ProposalSummary):
    """What the street chiefs' and alley stewards' solvers both say."""

    people: int = Field(description="可用人数 people available")
    covered: int = Field(description="有人负责的街巷数 streets or alleys with a holder")
    coverage: float = Field(description="覆盖率 0–1 their share")
    mean_walk_m: float | None = Field(description="平均步行距离（米），无人为空 mean walk")
    objective: float = Field(description="目标函数值 the solver's objective")
    kept: int = Field(description="保留的现有职责数 duties kept")
    across_gaps: list[int] = Field(description=_ACROSS)
    unreachable: list[int] = Field(description=_UNREACHABLE)
    outside_area: list[int] = Field(description=_OUTSIDE)
    fill_idle: bool = maybe("空闲人员接手（仅加此项时，为 true） fill_idle was asked (only then)")
    held_elsewhere: int = maybe("在别处已有职责的人数（仅有此类人时） people with duties elsewhere")
    full_elsewhere: int = maybe("在别处已满负荷的人数（同上） of them with no room left")
    solved_again: int = maybe(
        "今天结束职责的人被选回、重新求解的街巷数（仅此时） items solved again without the "
        "people whose duty there ends today"
    )


class StreetsSummary(_LineSummary):
    """街巷长的求解统计 (:func:`geo.assign.chiefs.assign_chiefs`)."""

    streets: int = Field(description="街数 streets")
    chiefs: int = Field(description="街巷长数 street chiefs")
    streets_per_chief_max: int = Field(description="每名街巷长最多的街数 most streets per chief")
    streets_per_chief_median: float = Field(description="每名街巷长的街数中位数 the median")
    full_uncovered: list[int] = maybe(
        "有人可步行到达、但这些人都已满额而未覆盖的街编号（仅有此类街时） streets.id left "
        "uncovered because every chief within reach is full (only when any)"
    )
    streets_cap: int = maybe("每名街巷长最多可管的街数（同上） the cap per chief (ditto)")
    room: int = maybe("街巷长在此合计可管的街数（同上） streets all the chiefs may hold here")
    chiefs_with_room: int = maybe("在此尚可管街的街巷长数（同上） chiefs who may hold any here")
    handed_to_idle: int = maybe(
        "交给空闲人员的街数（仅 fill_idle） streets handed to idle people (fill_idle only)"
    )


class AlleysSummary(_LineSummary):
    """小巷管家的求解统计 (:func:`geo.assign.stewards.assign_stewards`)."""

    alleys: int = Field(description="小巷数 alleys")
    stewards: int = Field(description="小巷管家数 alley stewards")
    fully_staffed: float = Field(description="管家人数配齐的小巷比例 0–1 alleys fully staffed")
    load_max_m: float = Field(description="最重负荷（米） the heaviest load in metres")
    load_median_m: float = Field(description="负荷中位数（米） the median load")
    load_spread: float | None = Field(description="最重 / 中位数，无负荷为空 max / median")
    fair_share_m: float = Field(description="公平份额（米） the fair share")
    target_m: float = Field(description="目标负荷（米） the target load")
    long_alleys: int = Field(description="超过一人负荷的长巷数 alleys longer than a load")
    capacity_m: float = Field(description="每人负荷上限（米） the load cap per person")
    new: int = Field(description="新安排的职责数 duties new")
    flow: str = Field(description="最小费用流的状态 the min-cost flow's status")
    improve_passes: int = Field(description="局部搜索轮数 local-search passes")
    handed_to_idle: int = Field(description="交给空闲人员的小巷数 alleys handed to idle people")
    spread_bound: float | None = Field(
        description="负荷差的界（idle_spread），不交接为空 the spread bound; null: no hand-on"
    )
    long_alley_m: float = Field(description="长巷的长度界（米） an alley longer is long")
    long_alone: int = Field(description="只管一条长巷的管家数 stewards whose load is one alley")
    over_capacity: int = Field(description="超出负荷上限的其他管家数 others above their cap")
    load_spread_rest: float | None = Field(
        description="除上述两类外的负荷差，无则为空 the spread of the rest"
    )
    levelled: int = maybe(
        "均衡换手的小巷数（转出或互换，仅 fill_idle） alleys that changed hands levelling"
    )
    stewards_without_fill_idle: int = maybe("不加 fill_idle 时的管家数（仅 fill_idle）")
    new_stewards: int = maybe("加 fill_idle 才管小巷的人数（仅 fill_idle） people new to alleys")
    no_longer_stewards: int = maybe("加 fill_idle 后不再管小巷的人数（仅 fill_idle）")
    rest_top_alleys: int | None = maybe(
        "其余管家中负荷最重者的小巷数（仅 fill_idle） alleys of the busiest of the rest"
    )
    take_over_m: float = maybe("接手的步行范围（米，仅 fill_idle） the take-over walk")
    level_reach_m: float = maybe(
        "均衡负荷其次查找的步行范围（米，仅 fill_idle） the walk levelling looks within next"
    )


class _Proposal(BaseModel):
    """A staffing proposal job's result (POST /assignments/proposals): nothing written until
    POST /assignments/proposals/{job_id}/commit. ``kind`` says what its summary holds."""

    area: str = Field(description="区域编码 area code")
    day: str = Field(description="所依据的日期 the day it was solved for")
    rebalance: bool = Field(description="是否重新平衡 whether all duties were solved anew")
    base_fingerprint: str = Field(description="所依据的职责的指纹（提交时核对） the duties' hash")
    pairs: list[ProposalPair] = Field(description="提交后的职责 the duties after the commit")
    short_from: list[ShortLater] = Field(description="日后不足的职位 slots short later")
    changes: DutyChanges
    holders_per_item: int = Field(description="每条街巷最多的持有人数 holders per street")
    planned: list[PlannedDutyRow] = Field(description="手工安排、日后开始的职责 planned duties")
    notes: list[str] = maybe("说明（中文在前，仅 fill_idle 时） notes (fill_idle only)")
    committed: bool = maybe("已提交（提交后才有，为 true） committed (only once it is: true)")


class GridsProposal(_Proposal):
    """网格长与专职网格员 grid leaders and workers."""

    kind: Literal["grids"] = Field(description="网格 grids")
    uncovered: list[str] = Field(description="人员不足的网格编码 grids' codes left short")
    summary: GridsSummary


class StreetsProposal(_Proposal):
    """街巷长 street chiefs."""

    kind: Literal["streets"] = Field(description="街 streets")
    uncovered: list[int] = Field(description="无人负责的街编号 streets.id left without")
    summary: StreetsSummary


class AlleysProposal(_Proposal):
    """小巷管家 alley stewards."""

    kind: Literal["alleys"] = Field(description="小巷 alleys")
    uncovered: list[int] = Field(description="无人负责的小巷编号 streets.id left without")
    summary: AlleysSummary


# one result per kind of proposal: a client reads ``kind`` to know its ``summary``
ProposalResult = Annotated[
    GridsProposal | StreetsProposal | AlleysProposal, Field(discriminator="kind")
]


_JOB_STATUS = "任务状态：排队中 queued、进行中 running、已完成 done、已失败 failed"


class _Job(BaseModel):
    """A job's row (:func:`geo.jobs.get_job`); ``result`` is null until it is done."""

    job_id: str = Field(description="任务编号（UUID） the job's id")
    status: Literal["queued", "running", "done", "failed"] = Field(description=_JOB_STATUS)
    progress: float = Field(description="进度 0–1 progress")
    message: str | None = Field(
        description="当前阶段或排队位置（中文在前） its stage, or its place in the queue"
    )
    error: str | None = Field(description="失败原因（中文在前），未失败为空 why it failed")
    created_at: str = Field(description="创建时间 created, " + _TIME)
    updated_at: str = Field(description="最后更新时间 last changed, " + _TIME)


class PartitionJob(_Job):
    """划分网格 a partition (POST /plans)."""

    kind: Literal["partition"]
    result: PartitionResult | None = Field(description="完成后的结果 the result once done")


class ReportJob(_Job):
    """后台报表 a report file (POST /reports/{kind}/jobs)."""

    kind: Literal["report"]
    result: ReportFileResult | None = Field(description="完成后的结果 the result once done")


class MatchJob(_Job):
    """轨迹匹配 track matching (a deferred upload, a rematch, the queue drained)."""

    kind: Literal["match_queue"]
    result: MatchResult | None = Field(description="完成后的结果 the result once done")


class ProposalJob(_Job):
    """人员分配方案 a staffing proposal (POST /assignments/proposals)."""

    kind: Literal["assignment"]
    result: ProposalResult | None = Field(description="完成后的结果 the result once done")


# one answer per kind of job: a client reads ``kind`` to know its ``result``
JobStatus = Annotated[
    PartitionJob | ReportJob | MatchJob | ProposalJob, Field(discriminator="kind")
]


# ------------------------------------------------------------------------------------------
# a person's duties, a duty ended or undone (GET /people/{id}/duties, POST /assignments/end,
# DELETE /assignments/{id}); coverage (GET /coverage)
# ------------------------------------------------------------------------------------------


class PersonDuty(BaseModel):
    """A duty of the person: on a grid (``grid_code``) or a street or alley (``street_*``)."""

    id: int = Field(description="职责编号（DELETE /assignments/{id} 撤销） the duty's id")
    role: str = Field(
        description="职责：网格长 grid_leader、专职网格员 grid_worker、兼职网格员 "
        "part_time_worker、街巷长 street_chief 或小巷管家 alley_steward"
    )
    valid_from: str = Field(description="首日 first day (YYYY-MM-DD)")
    valid_to: str | None = Field(description="末日（含），长期为空 last day; null: open-ended")
    grid_code: str | None = Field(description="网格编码，街巷职责为空 the grid's code")
    street_id: int | None = Field(description="街巷编号，网格职责为空 streets.id")
    street_name: str | None = Field(description="街巷名称，无名或网格职责为空 its name")
    kind: Literal["street", "alley"] | None = Field(description="街 street 或巷 alley")
    length_m: float | None = Field(description="街巷长度（米） its length in metres")
    street_retired: bool | None = Field(
        description="街巷已不在路网中（重新导入后），网格职责为空 gone from the network"
    )


class PersonDuties(BaseModel):
    """GET /people/{id}/duties: in force on the day, or every one (``all=true``)."""

    person_id: int = Field(description="人员系统编号 people.id")
    duties: list[PersonDuty] = Field(description="职责，按职责、首日排序 by role, first day")


class DutyEnded(BaseModel):
    """POST /assignments/end: the duty with its new last day."""

    duty: NewDuty
    was_valid_to: str | None = Field(description="原末日，长期为空 its last day before")
    changed: bool = Field(description="末日是否改变（已是该日则为 false） whether it changed")
    later_duties: list[DutyHolding] = Field(
        description="该人员此后在同一对象上的职责 their later duties on the same target"
    )
    warnings: list[str] = maybe("警告（中文在前，有后续职责时） warnings (later duties)")


class UndoneDuty(NewDuty):
    """The duty undone, as it was."""

    created_by: str | None = Field(description="录入人 who entered it")
    created_at: str | None = Field(description="录入时间 entered at, " + _TIME)


class MovedBack(DutyHolding):
    """A duty a commit brought forward, moved back to its planned first day (not deleted)."""

    was_valid_from: str = Field(description="提前后的首日 its first day before")


class DutyRestored(BaseModel):
    """Another holder's duty given back what a replacement took."""

    action: str = Field(
        description="接续 continues、重新开始 starts again 或恢复 reinstated（原编号） how it "
        "was given back"
    )
    id: int = Field(description="该职责编号 that duty's id")
    before: list[DutyHolding] = Field(description="之前（恢复的为空） before; [] if reinstated")
    after: DutyHolding = Field(description="之后 after")
    merged: int = maybe("并入而删除的职责编号 the duty merged into it, deleted")


class DutyLeft(BaseModel):
    """A change of the replacement left as it is (``leave_others``)."""

    action: str = Field(description="替换时的变化：ended、resumes、moved、deleted what it did")
    id: int = Field(description="该职责编号 that duty's id")


class GridVersionRef(BaseModel):
    id: int = Field(description="网格编号 grids.id")
    code: str = Field(description="网格编码 the grid's code")
    version: int = Field(description="网格版本 its version")


class CarriedBy(BaseModel):
    plan: int = Field(description="方案编号 the plan whose commit carried it")
    audit_entry: int = Field(description="审计记录编号 the audit entry")


class CarriedCopy(DutyHolding):
    """The copy of a grid duty a plan's commit carried to the successor grid: still held."""

    role: str = Field(description="职责 the duty")
    grid: GridVersionRef
    carried_by: CarriedBy
    end_command: str | None = Field(description="结束它的命令，已结束为空 how to end it")


class DutyUndone(BaseModel):
    """DELETE /assignments/{id}: what was undone and what was given back."""

    undone: UndoneDuty
    moved_back: MovedBack | None = Field(
        description="提交提前的职责改回原计划首日（未删除），否则为空 moved back, not deleted"
    )
    reason: str | None = Field(description="撤销原因 why")
    restored: list[DutyRestored] = Field(description="恢复的他人职责 others' duties given back")
    left_as_is: list[DutyLeft] = Field(description="保持现状的变化 changes left as they are")
    still_holds: list[DutyHolding] = Field(
        description="该人员在同一对象上的其他职责 the person's other duties on the target"
    )
    carried_copy: CarriedCopy | None = Field(
        description="提交顺延到新网格、仍在的副本 a copy carried to the successor grid"
    )
    note: str | None = Field(description="说明（中文在前） a note, Chinese first")


class Restaff(BaseModel):
    """What a leave leaves short in one area, and the staffing command that fills it."""

    kind: Literal["alleys", "streets", "grids"] = Field(description="小巷、街或网格 what")
    area: str | None = Field(description="区划代码，不在任何区划内为空 the area's code")
    area_name: str | None = Field(description="区划名称 the area's name")
    count: int = Field(description="无人负责的街巷数或缺员网格数 how many fall short")
    from_: str = Field(alias="from", description="自哪天起 from that day (YYYY-MM-DD)")
    command: str | None = Field(
        description="重新安排的命令，不在区划内为空 gridward assign KIND --area CODE"
    )


class PersonLeft(BaseModel):
    """POST /people/{id}/leave: the person inactive from today, their duties ended."""

    duties_ended: int = Field(description="结束或删除的职责数 duties ended or removed")
    ended: int = Field(description="在最后一天结束的职责数 duties ending on the last day")
    removed: int = Field(
        description="删除的在最后一天之后开始的职责数（含 removed_today） duties starting "
        "after the last day removed (removed_today included)"
    )
    removed_today: int = Field(
        description="其中今天开始、已生效的职责数 of them, duties that began today"
    )
    person_id: int = Field(description="人员系统编号 people.id")
    person: str = Field(description="人员编号 the registry id")
    name: str = Field(description="姓名 name")
    last_day: str = Field(description="最后一天 the last day (YYYY-MM-DD)")
    restaff: list[Restaff] = Field(
        description="因离岗而无人负责的街巷、缺员网格，按区划 what falls short, by area"
    )
    message: str = Field(description="说明（中文在前） what was done, Chinese first")


class Coverage(BaseModel):
    """GET /coverage: an area's coverage rates on a day."""

    area: str = Field(description="区域编码 area code")
    day: str = Field(description="日期 the day (YYYY-MM-DD)")
    alleys: int = Field(description="小巷数 alleys")
    alleys_covered: int = Field(description="有小巷管家的小巷数 alleys with a steward")
    alley_coverage: float | None = Field(description="小巷覆盖率，无小巷为空 the share")
    streets: int = Field(description="街数 streets")
    streets_covered: int = Field(description="有街巷长的街数 streets with a chief")
    street_coverage: float | None = Field(description="街覆盖率，无街为空 the share")
    grids: int = Field(description="现行网格数 current grids")
    grids_fully_staffed: int = Field(description="人员配齐的网格数 grids fully staffed")
    grid_staffing_rate: float | None = Field(description="网格配齐率，无网格为空 the share")
    households: int = Field(description="网格户数合计 households in the grids")
    households_per_worker: float | None = Field(
        description="每名专职网格员的户数，无网格员为空 households per full-time worker"
    )


# ------------------------------------------------------------------------------------------
# a plan (GET /plans/{id})
# ------------------------------------------------------------------------------------------


class PlanParams(BaseModel):
    """What the plan was made with: a partition's request, or an edited draft's bounds and
    origin (a file, an earlier version)."""

    min_households: int = Field(description="户数下限 households per grid, at least")
    max_households: int = Field(description="户数上限 households per grid, at most")
    source: str = maybe(
        "来源：划分引擎 partition、文件导入 file、恢复旧版 revert（编辑器的草案无此键） what "
        "made it (left out of an editor's draft)"
    )
    community: str = maybe("社区编码（划分） community code (a partition)")
    seed: int = maybe("随机种子（划分） the seed (a partition)")
    households_per_worker: int | None = maybe(
        "每名网格员的户数（划分），未给为空 households per worker (a partition)"
    )
    locked: list[str] = maybe("锁定的网格（编辑器） grids locked in the editor")
    file: str = maybe("导入的文件名（文件导入） the file's name (a file)")
    reverted_from: RevertedFrom = maybe("恢复的网格版本（恢复旧版） the version reverted to")


class Polygon(BaseModel):
    type: Literal["Polygon"]
    coordinates: list[list[list[float]]] = Field(description="经纬度 [lon, lat]（WGS 84）")


class PlanMultiPolygon(BaseModel):
    type: Literal["MultiPolygon"]
    coordinates: list[list[list[list[float]]]] = Field(description="经纬度 [lon, lat]（WGS 84）")


class PlanGridProperties(BaseModel):
    """A grid of the plan; the engine's grids have their measures, an edited draft's its
    ``locked``."""

    code: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")
    building_count: int = Field(description="楼栋数 buildings")
    flags: list[str] = Field(description="标记 flags (under_min, over_max, elongated …)")
    building_ids: list[int] = Field(description="楼栋编号 buildings.id of its buildings")
    locked: bool = maybe("编辑器中锁定（编辑的草案） locked in the editor (an edited draft)")
    area_m2: float = maybe("面积（平方米，划分） area in m² (a partition)")
    polsby_popper: float = maybe("紧凑度（划分） Polsby–Popper (a partition)")
    street_share: float = maybe("沿街边界比例（划分） boundary on streets (a partition)")
    leader_count: int = maybe("所需网格长数（划分） leaders needed (a partition)")
    worker_count: int = maybe("所需网格员数（划分） workers needed (a partition)")


class PlanGrid(BaseModel):
    type: Literal["Feature"]
    geometry: Polygon | PlanMultiPolygon
    properties: PlanGridProperties


class PlanGrids(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[PlanGrid] = Field(description="各网格 the plan's grids")


class Plan(BaseModel):
    """GET /plans/{id}: a plan, its summary and grids."""

    plan_id: int = Field(description="方案编号 the plan's id")
    community: str = Field(description="社区编码 community code")
    status: Literal["draft", "committed", "discarded"] = Field(
        description="草案 draft、已提交 committed 或已放弃 discarded"
    )
    params: PlanParams
    summary: PartitionSummary | DraftSummary = Field(
        description="划分引擎的摘要，或编辑、导入、恢复的草案的摘要 the engine's summary, or "
        "an edited, imported or reverted draft's"
    )
    base_version: int = Field(description="所依据的网格版本 the grid version it was made on")
    outdated: bool = Field(
        description="草案生成后楼栋、户数或街巷有变，须重新保存才能提交 made before a change"
    )
    created_by: str | None = Field(description="创建人 who made it")
    created_at: str = Field(description="创建时间 made, " + _TIME)
    committed_at: str | None = Field(description="提交时间，未提交为空 committed, " + _TIME)
    features: PlanGrids


# ------------------------------------------------------------------------------------------
# plans: the list, a rebalance, a commit, a discard (GET /plans, POST /plans/rebalance,
# POST /plans/{id}/commit, DELETE /plans/{id})
# ------------------------------------------------------------------------------------------


class PlanListed(BaseModel):
    """A plan in GET /plans (:func:`geo.plan_history.list_plans`)."""

    plan_id: int = Field(description="方案编号 the plan's id")
    community: str = Field(description="社区编码 community code")
    community_name: str = Field(description="社区名称 community name")
    status: Literal["draft", "committed", "discarded"] = Field(
        description="草案 draft、已提交 committed 或已放弃 discarded"
    )
    source: str = Field(
        description="来源：划分引擎 partition、编辑器 editor、恢复旧版 revert、文件导入 file"
    )
    created_by: str | None = Field(description="创建人 who made it")
    created_at: str | None = Field(description="创建时间 made, " + _TIME)
    committed_by: str | None = Field(description="提交人，未提交为空 who committed it")
    committed_at: str | None = Field(description="提交时间，未提交为空 committed, " + _TIME)
    base_version: int = Field(description="所依据的网格版本 the grid version it was made on")
    version: int | None = Field(description="提交产生的版本，未提交为空 the version it made")
    current: bool = Field(description="仍是社区的现行网格 still the community's grids")
    stale: bool = Field(description="草案所依据的网格已不是现行的 a draft on grids replaced")
    outdated: bool = Field(
        description="草案生成后楼栋、户数或街巷有变，须重新保存才能提交 made before a change"
    )
    grids: int = Field(description="网格数 grids")
    households_min: int | None = Field(description="网格户数最小值 fewest households a grid")
    households_max: int | None = Field(description="网格户数最大值 most households a grid")
    households: int = Field(description="户数合计 households in all")
    bounds: list[int] | None = Field(
        description="户数下限、上限 [min, max]，无有效界限为空 the household bounds"
    )


class RebalancedGrid(BaseModel):
    """A grid of a rebalance: a locked one as it was, or one the engine drew."""

    code: str | None = Field(
        description="所延续的网格的编码；不延续任何网格的新网格为空（保存时编号） the code of "
        "the grid it continues; null: a new grid, named when saved"
    )
    building_ids: list[int] = Field(description="楼栋编号 buildings.id")
    locked: bool = Field(description="锁定（原样保留） locked: kept as it was")
    households: int = Field(description="户数 households")
    source: int | None = Field(
        description="所延续的网格在请求 grids 中的序号（从 0 起），新网格为空 the index in the "
        "request's grids of the grid it continues"
    )


class RebalanceSummary(BaseModel):
    grids: int = Field(description="网格数 grids")
    locked: int = Field(description="锁定的网格数 grids locked")
    within_bounds: int = Field(description="户数在上下限内的网格数 grids within the bounds")
    moved_buildings: int = Field(description="所属网格改变的楼栋数 buildings that change grid")


class Rebalanced(BaseModel):
    """POST /plans/rebalance: the grids, nothing stored (save them as a draft to keep)."""

    grids: list[RebalancedGrid] = Field(description="锁定的网格在前 the locked grids first")
    summary: RebalanceSummary


class CommitDuty(BaseModel):
    """A grid duty through a plan's commit, as it was on its old grid."""

    duty: int = Field(description="职责编号 the duty's id")
    person_id: int = Field(description="人员系统编号 people.id")
    person: str = Field(description="人员编号 the registry id")
    name: str = Field(description="姓名 name")
    role: str = Field(description="职责：网格长 grid_leader、专职网格员 grid_worker 等 the duty")
    grid: str = Field(description="原网格编码 the old grid's code")
    valid_from: str = Field(description="首日 first day (YYYY-MM-DD)")
    valid_to: str | None = Field(description="末日，长期为空 last day; null: open-ended")


class CommitDutyCarried(CommitDuty):
    """A duty carried to its old grid's successor (valid_from: the new duty's first day)."""

    to_grid: str = Field(description="接续网格的编码 the successor's code")
    new_duty: int = Field(description="新职责编号（从未生效的职责原样移动时同原编号） new id")
    old_valid_from: str = Field(description="原职责首日 the old duty's first day")
    old_last_day: str | None = Field(
        description="原职责末日（昨天）；原样移动为空 the old duty's last day; null: moved"
    )


class CommitDutyEnded(CommitDuty):
    """A duty not carried (no successor, or a clash there): ended yesterday."""

    last_day: str = Field(description="末日（昨天） its last day, yesterday")


class CommitDutyRemoved(CommitDuty):
    """A duty never in force, not carried: removed."""

    planned: bool = Field(description="日后才开始（非今天） it was to start after today")


class CommitDutyCounts(BaseModel):
    continued: int = Field(description="同一网格（编码、楼栋相同）原样保留的 kept as they are")
    carried: int = Field(description="顺延到接续网格的 carried to a successor")
    ended: int = Field(description="结束的 ended")
    removed: int = Field(description="删除的 removed")


class StaffingGap(BaseModel):
    """A grid of the new version with no leader or too few full-time workers today."""

    grid: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")
    leader: bool = Field(description="有网格长 it has a leader")
    workers: int = Field(description="专职网格员数 full-time workers")
    workers_needed: int = Field(description="所需专职网格员数 workers needed")


class StaffingSurplus(BaseModel):
    """A grid of the new version with more staff than it needs today."""

    grid: str = Field(description="网格编码 the grid's code")
    households: int = Field(description="户数 households")
    leaders: int = Field(description="网格长数 leaders")
    workers: int = Field(description="专职网格员数 full-time workers")
    workers_needed: int = Field(description="所需专职网格员数 workers needed")


class OutlineMoved(BaseModel):
    grid: str = Field(description="网格编码 the grid's code")
    m2: float = Field(description="变动的面积（平方米） ground that changed hands, m²")


class PlanCommitted(BaseModel):
    """POST /plans/{id}/commit: the new grid version and what became of the grid duties."""

    plan_id: int = Field(description="方案编号 the plan's id")
    community: str = Field(description="社区编码 community code")
    version: int = Field(description="新的网格版本 the new grid version")
    grids: int = Field(description="一级网格数 level-1 grids")
    level2: int = Field(description="二级网格数 level-2 grids")
    level3: int = Field(description="三级网格数 level-3 grids")
    retired: int = Field(description="停用的旧网格数（各级） old grids retired, every level")
    duties: CommitDutyCounts
    duties_continued: list[CommitDuty] = Field(description="原样保留的职责 duties kept")
    duties_carried: list[CommitDutyCarried] = Field(description="顺延的职责 duties carried")
    duties_ended: list[CommitDutyEnded] = Field(description="结束的职责 duties ended")
    duties_removed: list[CommitDutyRemoved] = Field(description="删除的职责 duties removed")
    successors: dict[str, str] = Field(
        description="旧网格编码 → 接续网格编码 each old code → its successor's code"
    )
    staffing_gaps: list[StaffingGap] = Field(
        description="缺员网格：缺网格长或专职网格员（请配置人员） short-staffed grids"
    )
    staffing_surplus: list[StaffingSurplus] = Field(
        description="人员多于所需的网格 grids with more staff than needed"
    )
    reverted_from: int | None = Field(
        description="恢复的旧版本（恢复旧版的方案），否则为空 the version a revert brought back"
    )
    grids_in_pieces: list[str] = Field(description="不连通或多块的网格 grids in pieces")
    outlines_redrawn: list[OutlineMoved] = Field(
        description="编码、楼栋未变而轮廓有变的网格 same grid, outline moved"
    )


class PlanDiscarded(BaseModel):
    """DELETE /plans/{id}: the draft discarded."""

    plan_id: int = Field(description="方案编号 the plan's id")
    status: Literal["discarded"] = Field(description="已放弃 discarded")


# ------------------------------------------------------------------------------------------
# people (GET /people), signed reports (GET /reports/signed), a proposal committed
# (POST /assignments/proposals/{job_id}/commit), health (GET /health)
# ------------------------------------------------------------------------------------------


class PersonListed(BaseModel):
    """A person in GET /people: names and roles, no phone number or home."""

    id: int = Field(description="人员系统编号 people.id")
    external_id: str = Field(description="人员编号 the registry id")
    name: str = Field(description="姓名 name")
    roles: list[str] = Field(
        description="角色：网格长 grid_leader、专职网格员 grid_worker、街巷长 street_chief、"
        "小巷管家 alley_steward 等 the roles"
    )
    active: bool = Field(description="在岗（离岗为 false） active; false once they left")
    part_time: bool = Field(description="兼职 part-time")
    community_code: str | None = Field(description="住址所在社区编码，无为空 home community")


class SignedList(BaseModel):
    """GET /reports/signed: each signoff (not its files), by period, area, version."""

    signoffs: list[Signoff] = Field(description="签发记录 the signoffs")


class ProposalCommitted(BaseModel):
    """POST /assignments/proposals/{job_id}/commit: the duties changed."""

    started: int = Field(description="开始（新增或提前）的职责数 duties started")
    ended: int = Field(description="结束的职责数 duties ended")
    kept: int = Field(description="保留的职责数 duties kept")
    starting_tomorrow: int = Field(description="其中明天开始的 of those started, tomorrow")


class Health(BaseModel):
    """GET /health: the service and its database are up."""

    status: Literal["ok"] = Field(description="正常 ok")
    version: str = Field(description="gridward 的版本，如 0.1.0+g1a2b3c4 the build answering")
    database: Literal["ok"] = Field(description="数据库正常 ok")
    postgis: str = Field(description="PostGIS 版本 its version")
    schema_: str | None = Field(
        alias="schema", description="数据库迁移版本，未迁移为空 the migration revision"
    )
