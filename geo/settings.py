"""Settings: every local policy (thresholds, ratios, defaults) is a named, documented parameter.

Values come from environment variables prefixed ``GRIDWARD_`` (``DATABASE_URL`` without the
prefix), so a deployment changes policy without code. See README "Settings".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

# Storeys assumed by building type when OSM has no building:levels (Beijing stock: 6-storey walk-
# ups, 12+ storey towers, 5-storey dormitories); "yes" is an untyped building.
DEFAULT_LEVELS: dict[str, int] = {
    "residential": 6,
    "apartments": 12,
    "dormitory": 5,
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 2,
    "bungalow": 1,
    "yes": 4,
}
# Share of gross floor area that is dwellings; an untyped building is taken as half homes.
RESIDENTIAL_SHARE: dict[str, float] = {
    "residential": 0.85,
    "apartments": 0.85,
    "dormitory": 0.85,
    "house": 0.9,
    "detached": 0.9,
    "semidetached_house": 0.9,
    "terrace": 0.9,
    "bungalow": 0.9,
    "yes": 0.5,
}


def default_data_dir(package_dir: Path | None = None) -> Path:
    """Where the embedded cluster lives when ``GRIDWARD_DATA_DIR`` is unset: an absolute folder.

    WHY not ``./.gridward``: cron, systemd or an admin's ``cd`` run commands elsewhere, and a
    relative default silently made and used a new, empty cluster there. A checkout installed
    with ``pip install -e`` (``make``) keeps its data in the checkout's ``.gridward``; any other
    install in ``$XDG_DATA_HOME/gridward`` (``~/.local/share/gridward``).
    """
    checkout = (package_dir or Path(__file__).resolve().parent).parent
    with contextlib.suppress(OSError):
        if 'name = "gridward"' in (checkout / "pyproject.toml").read_text(encoding="utf-8"):
            return checkout / ".gridward"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "gridward"


# the levels ``log_level`` and ``--log-level`` take (:mod:`api.runtime`)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# an origin as browsers send it: scheme://host[:port], no path (capacitor://localhost too)
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#,]+")
# a basemap tile URL as Leaflet takes it and api.app.tile_source reads it: http(s)://host/…,
# //host/… (the page's scheme) or /… (this site), no spaces
_TILE_URL = re.compile(r"(?:(?:https?:)?//[^/\s?#]+)?[/?]\S*", re.IGNORECASE)
# storeys a building type may be given (DEFAULT_LEVELS, FALLBACK_LEVELS): the tallest
# buildings have ~160; more is a typo (60 for 6), and it multiplies every estimate
MAX_LEVELS = 200
# a year, in seconds: the most a time tolerance or wait may be (pandas' Timedelta and
# PostgreSQL's make_interval overflow on huge values; a longer tolerance means "never")
YEAR_S = 366 * 24 * 3600
# the field a SettingsError names: 'error parsing value for field "x" from source "…"'
_SETTING_ERROR = re.compile(r'for field "(\w+)" from source "(\w+)"')


def empty_is_unset(v: Any) -> Any:
    """None for an empty (or blank) value, else ``v``. WHY: a templated unit or env file
    leaves ``GRIDWARD_X=`` where the admin set nothing; for a setting whose default is
    *unset* (a free port, no basemap, no cap of its own) empty can mean nothing else. A
    setting with a stated default (GRIDWARD_PORT=8000) still refuses empty: there it is a
    value that failed to fill in, and a silent default would hide it (tester T68 #16)."""
    return None if isinstance(v, str) and not v.strip() else v


def unparsed_setting(
    exc: SettingsError,
    title: str = "Settings",
    prefix: str = "GRIDWARD_",
    example: Callable[[str], str] = lambda field: "",
) -> ValidationError | SettingsError:
    """A setting pydantic-settings could not read (invalid JSON in GRIDWARD_DEFAULT_LEVELS)
    as the ValidationError a bad value gives, so the CLI, ``serve`` and the API say it in the
    same one line naming the variable. WHY: SettingsError is no ValidationError, and ended
    in a traceback naming the field (tester T68 #3). ``exc`` unchanged when it names none."""
    found = _SETTING_ERROR.search(str(exc))
    if found is None:
        return exc
    field = found.group(1)
    name = f"{prefix}{field.upper()}"
    given = next((v for k, v in os.environ.items() if k.upper() == name), "")
    why = str(exc.__cause__ or exc)[:120]
    shown = example(field)
    like = f"，请照 {shown} 这样写" if shown else ""
    like_en = f": write it like {shown}" if shown else ""
    words = (
        f"不是有效的 JSON{like} is not valid JSON ({why}){like_en}"
        if isinstance(exc.__cause__, ValueError)
        else f"无法读取 could not be read ({why})"
    )
    line = {"type": "value_error", "loc": (field,), "input": given}
    errors = [{**line, "ctx": {"error": ValueError(words)}}]
    return ValidationError.from_exception_data(title, errors)


def _each_within(v: dict[str, Any], lo: float, hi: float, zh: str, en: str) -> dict[str, Any]:
    """``v`` (a value per building type) when each value lies in ``lo..hi``; else a
    ValueError naming the wrong types, in the words ``zh`` / ``en`` of the value."""
    bad = {k: x for k, x in v.items() if not lo <= x <= hi}
    if bad:
        shown = json.dumps(bad, ensure_ascii=False)[:80]
        raise ValueError(
            f"各类型的{zh}须在 {lo} 到 {hi} 之间（有误的：{shown}） "
            f"{en} of each type must be {lo} to {hi} (wrong: {shown})"
        )
    return v


class Settings(BaseSettings):
    """All gridward settings with their documented defaults."""

    model_config = SettingsConfigDict(env_prefix="GRIDWARD_", extra="ignore")

    def __init__(self, **values: Any) -> None:
        """Read the settings; a value that is not even parsed (invalid JSON) is refused as
        a ValidationError naming its variable (:func:`unparsed_setting`)."""
        try:
            super().__init__(**values)
        except SettingsError as exc:
            raise unparsed_setting(exc, example=_example) from None

    # --- storage -----------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "GRIDWARD_DATABASE_URL"),
        description="Use this PostgreSQL/PostGIS server instead of the embedded cluster.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder of the embedded PostgreSQL cluster and other local state (default: "
        "the checkout's .gridward, else $XDG_DATA_HOME/gridward; never the current directory).",
    )

    @field_validator("data_dir", mode="before")
    @classmethod
    def _empty_folder_is_default(cls, v: Any) -> Any:
        """``GRIDWARD_DATA_DIR=`` (empty, as a templated systemd unit leaves it) is the default
        folder, as if unset. WHY: it was read as ".", refused as relative and the checkout
        named as what was meant (tester T68 #16); the default is the same folder whatever the
        current directory, and one an admin cannot easily spell out."""
        return default_data_dir() if empty_is_unset(v) is None else v

    @field_validator("data_dir")
    @classmethod
    def _absolute_folder(cls, v: Path) -> Path:
        """A relative folder is refused, naming the absolute one meant here. WHY not resolved:
        it names a different folder in each directory a command runs from (cron, systemd, an
        admin's cd), so each made its own new, empty cluster (outside tester Z2, N8)."""
        if not v.is_absolute():
            meant = v.expanduser() if str(v).startswith("~") else Path.cwd() / v
            raise ValueError(
                "须为绝对路径（相对路径在不同目录下运行命令时指向不同的文件夹）：是否想写 "
                f"GRIDWARD_DATA_DIR={meant.absolute()}？ "
                "must be an absolute path (a relative one names another folder wherever a "
                f"command runs): did you mean GRIDWARD_DATA_DIR={meant.absolute()}?"
            )
        return v

    pg_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port for the embedded cluster; a free one when unset (or empty).",
    )

    @field_validator("pg_port", mode="before")
    @classmethod
    def _free_port_when_empty(cls, v: Any) -> Any:
        """``GRIDWARD_PG_PORT=`` (empty) is unset: a free port (:func:`empty_is_unset`)."""
        return empty_is_unset(v)

    # --- households estimation (issue: foundation) --------------------------------------
    # WHY bounds: -1 was refused only by the first import, without the variable's name
    # (tester T68 #12), and 0.01 m² makes a block millions of households; 5 to 1000 m² holds
    # any real mean (a dormitory room, a villa)
    dwelling_size_m2: float = Field(
        default=90.0,
        ge=5,
        le=1000,
        allow_inf_nan=False,
        description="Mean floor area of one dwelling, m², for estimates (5 to 1000).",
    )
    default_levels: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_LEVELS),
        description="Storeys assumed by building type when building:levels is untagged "
        f"(each 1 to {MAX_LEVELS}).",
    )
    fallback_levels: int = Field(
        default=3,
        ge=1,
        le=MAX_LEVELS,
        description=f"Storeys for a type not listed above (1 to {MAX_LEVELS}).",
    )
    residential_share: dict[str, float] = Field(
        default_factory=lambda: dict(RESIDENTIAL_SHARE),
        description=(
            "Share of gross floor area that is dwellings, by building type. Types not listed "
            "(school, commercial, university, ...) are non-residential: zero households."
        ),
    )

    @field_validator("default_levels")
    @classmethod
    def _storeys(cls, v: dict[str, int]) -> dict[str, int]:
        """Each type's storeys within 1..MAX_LEVELS, the types named. WHY: -3 storeys made
        negative households, refused by the database mid-import (tester T68 #12)."""
        return _each_within(v, 1, MAX_LEVELS, "层数", "storeys")

    @field_validator("residential_share")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        """Each type's dwelling share within 0..1, refused when settings are read (it was
        refused at the first estimate only, without the variable's name)."""
        return _each_within(v, 0, 1, "住宅比例", "the share")

    # --- nested grids ----------------------------------------------------------------------
    households_per_unit: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Level-3 grids: households of one stairwell (单元) when a building's unit "
        "count is unknown (12 ≈ a 6-storey walk-up with 2 flats per landing).",
    )

    # --- staffing ------------------------------------------------------------------------
    # WHY ge=1: 0 divided by zero, /grids answered workers_needed -9223372036854775808
    # (tester T68 #5); 100,000 is the API's own bound on the same ratio (POST /plans/draft)
    households_per_worker: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Full-time grid workers: one per this many households.",
    )
    home_far_km: float = Field(
        default=50.0,
        gt=0,
        allow_inf_nan=False,
        description="A people import refuses a home more than this many km from every area of "
        "the city as a wrong number (another city's, a lost digit); nearer but in no "
        "community, it is stored and named in a warning.",
    )

    # --- patrols ------------------------------------------------------------------------
    patrolled_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="An alley (or segment on the map) counts as patrolled when at least this "
        "share of its length was walked by its steward that day.",
    )

    credited_modes: str = Field(
        default="walk",
        pattern=r"^\s*(walk|bike)\s*(,\s*(walk|bike)\s*)?$",
        description="Upload modes whose tracks count in patrol reports, comma-separated: "
        "walk (default: a patrol is walked; a track uploaded as bike is matched and shown but "
        "credits nothing), or walk,bike where the city accepts patrols by bike.",
    )

    max_accuracy_m: float = Field(
        default=50.0,
        gt=0,
        allow_inf_nan=False,
        description="Fixes whose reported accuracy radius is worse than this many metres are "
        "dropped before matching (phones between hutong walls often report 30-100 m: raise it "
        "there rather than lose whole walks).",
    )

    report_file_keep_h: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="A report file a background job made (POST /reports/{kind}/jobs) is kept "
        "this many hours for its download, then purged (make it again after that).",
    )

    late_upload_h: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,  # PostgreSQL's make_interval overflows on huge values
        description="A track uploaded more than this many hours after its last fix is a late "
        "upload (迟传): the daily report counts them per person and day (a marker for the "
        "supervisor; the track's credit is unchanged).",
    )

    def credited(self) -> list[str]:
        """The modes whose tracks count as patrols (``credited_modes``)."""
        return sorted({m.strip() for m in self.credited_modes.split(",")})

    # --- time ----------------------------------------------------------------------------
    timezone: str = Field(default="Asia/Shanghai", description="City local time for reports.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        """An unknown zone is refused when settings are read, not at the first report."""
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(
                f"时区无效：{v[:60]!r} 不是 IANA 时区名，请用 Asia/Shanghai 这样的名称 "
                f"unknown time zone {v[:60]!r}: use an IANA name like Asia/Shanghai"
            ) from None
        return v

    # --- uploads -------------------------------------------------------------------------
    # WHY bounds: 0 or -1 refused every upload (tester T68 #5); under 1 KiB no real track
    # fits, and files are held in memory while stored (5 per request), so at most 1 GiB
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        le=1024**3,
        description="Largest accepted upload file, bytes (1 KiB to 1 GiB).",
    )
    track_future_tolerance_s: float = Field(
        default=900.0,
        ge=0,
        le=YEAR_S,
        description="A track whose last fix is later than now plus this is refused (a wrong "
        "clock, local times marked as UTC, or a walk dated ahead to claim a day not walked).",
    )
    old_walk_warn_days: int = Field(
        default=30,
        ge=0,
        description="An upload whose walk ended more than this many local days ago is stored "
        "with a warning naming its date (a phone with a wrong date credits the wrong day; "
        "stewards also send old walks from a phone that was offline). 0: never warned.",
    )
    track_backwards_tolerance_s: float = Field(
        default=60.0,
        ge=0,
        le=YEAR_S,
        allow_inf_nan=False,
        description=(
            "A track whose times, in file order, go back by more than this more than 3 times "
            "is refused as shuffled; fewer such jumps (blocks out of order) and small backward "
            "steps from GPS re-acquisition are sorted."
        ),
    )

    body_grace_s: float = Field(
        default=30.0,
        gt=0,
        le=24 * 3600,
        description="A request body must have averaged body_min_rate bytes/s after this many "
        "seconds (408 otherwise, nothing stored). WHY: clients trickling a few bytes a second "
        "held requests open for good (slowloris).",
    )
    body_min_rate: int = Field(
        default=1024,
        ge=1,
        description="Least average rate of a request body after body_grace_s, bytes/s (a "
        "phone on 2G sends ~10 KB/s).",
    )
    body_max_s: float = Field(
        default=900.0,
        gt=0,
        le=24 * 3600,
        description="A request body must be whole within this many seconds.",
    )

    # how many uploads are parsed at once (T42 #3): one steward's four 19 MB files sent in
    # parallel took the server to 1.5 GB and /health to 4.5 s
    uploads_per_user: int = Field(
        default=1,
        ge=1,
        description="POST /tracks requests one account may have in progress at once (their "
        "files arriving, read and matched); another is answered 429 with Retry-After before "
        "its body is read, nothing stored.",
    )
    uploads_at_once: int = Field(
        default_factory=lambda: max(2, min(4, os.cpu_count() or 2)),
        ge=1,
        description="Track uploads the API process reads and matches at once, all accounts "
        "together (default: the CPU count, 2 to 4). A request whose files have arrived waits "
        "up to upload_wait_s for a place, then gets 429 with Retry-After, nothing stored.",
    )
    upload_wait_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="How long an upload whose files have arrived waits for one of the "
        "uploads_at_once places before it is answered 429.",
    )

    # --- match queue -----------------------------------------------------------------------
    match_wait_s: float = Field(
        default=1800.0,
        ge=0,
        le=24 * 3600,  # a longer wait holds the upload's job for good
        description="How long a deferred upload's job waits while another worker holds its "
        "tracks (a worker's batch of long walks takes minutes) before it ends failed, naming "
        "them.",
    )
    stale_upload_s: float = Field(
        default=600.0,
        gt=0,
        le=YEAR_S,  # PostgreSQL's make_interval overflows on huge values
        description="Tracks an upload stored this many seconds ago or more but never matched "
        "(the server stopped mid-match), and that no one is matching, are queued and matched: "
        "by the API when it starts and every minute while it runs, and by each tracks worker "
        "drain.",
    )

    # --- service -------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API binds to.")
    tile_url: str | None = Field(
        default=None,
        description="Basemap tile URL template for the maps, with {z}, {x} and {y}; none "
        "(or empty) means vector layers only.",
    )
    cors_origins: str = Field(
        default="",
        description="Web origins (scheme://host[:port], comma-separated; * for any) whose "
        "pages may call the API from a browser (CORS: a web or hybrid phone app served "
        "elsewhere); empty: none, browsers allow this site's own pages only. Requests carry "
        "Bearer tokens: the sign-in cookie never goes cross-origin.",
    )
    log_level: str = Field(
        default="INFO",
        description="Level of the timestamped log lines serve, demo and tracks worker write "
        "to stderr: DEBUG, INFO, WARNING or ERROR (their --log-level overrides it).",
    )

    @field_validator("host")
    @classmethod
    def _some_host(cls, v: str) -> str:
        """An empty address is refused. WHY: the server took "" as every interface, so a
        templated unit that left GRIDWARD_HOST= empty put the API on the network."""
        if not v.strip():
            raise ValueError(
                "监听地址不能为空（默认 127.0.0.1，对外服务可写 0.0.0.0） "
                "must not be empty (default 127.0.0.1; 0.0.0.0 to serve other machines)"
            )
        return v.strip()

    @field_validator("tile_url", mode="before")
    @classmethod
    def _tile_template(cls, v: Any) -> Any:
        """A tile URL template Leaflet can fill (http(s)://…, //… or this site's /…, with
        {z}, {x} and {y} or {-y}); empty is none. WHY: "notaurl" started fine, and the maps
        then asked this site for every tile at one path, never showing a basemap (T68 #5)."""
        v = empty_is_unset(v)
        if not isinstance(v, str):
            return v
        url = v.strip()
        has_y = "{y}" in url or "{-y}" in url
        if _TILE_URL.fullmatch(url) is None or "{z}" not in url or "{x}" not in url or not has_y:
            raise ValueError(
                f"底图网址 {url[:80]!r} 无效：须为瓦片网址模板，以 http:// 或 https:// 开头，"
                "含 {z}、{x}、{y}，如 https://tile.example.cn/{z}/{x}/{y}.png "
                f"invalid tile URL {url[:80]!r}: write a tile URL template starting with "
                "http:// or https://, holding {z}, {x} and {y}, e.g. "
                "https://tile.example.cn/{z}/{x}/{y}.png"
            )
        return url

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: str) -> str:
        """Each origin as a browser sends it in ``Origin``; refused when settings are read.
        WHY: an origin with a path or a trailing slash (``https://app.example.cn/``) never
        equals a browser's ``Origin``, so every cross-origin call failed with no word why
        (the setting itself: T40 #4, a phone app's web view calling the API)."""
        for item in (o.strip() for o in v.split(",")):
            if item and item != "*" and _ORIGIN.fullmatch(item) is None:
                raise ValueError(
                    f"跨域来源 {item[:80]!r} 无效：须写成 协议://主机[:端口]，如 "
                    "https://app.example.cn 或 capacitor://localhost（不带路径和末尾的 /），"
                    "多个用逗号分隔，* 表示任何来源 "
                    f"invalid CORS origin {item[:80]!r}: write scheme://host[:port], e.g. "
                    "https://app.example.cn or capacitor://localhost (no path, no trailing /); "
                    "separate several with commas, * for any"
                )
        return v

    def cors_origin_list(self) -> list[str]:
        """The origins of ``cors_origins`` (empty: no CORS), in lower case as browsers send
        them (``https://App.example.cn`` would never match)."""
        return [o.strip().lower() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        """A misspelt level is refused when settings are read, naming the choices."""
        name = v.strip().upper()
        if name not in LOG_LEVELS:
            raise ValueError(
                f"日志级别有误：{v[:20]!r}，请用 DEBUG、INFO、WARNING 或 ERROR "
                f"unknown log level {v[:20]!r}: use DEBUG, INFO, WARNING or ERROR"
            )
        return name


def _example(field: str) -> str:
    """Two items of a JSON setting's default as JSON (``{"residential": 6, …}``), to show
    how it is written; "" for any other field."""
    info = Settings.model_fields.get(field)
    factory = info.default_factory if info is not None else None
    value = factory() if factory is not None else None
    if not isinstance(value, dict):
        return ""
    return json.dumps(dict(list(value.items())[:2]), ensure_ascii=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment). The accounts' settings
    (:mod:`geo.auth_settings`) are checked here too. WHY: most commands never read them, so
    GRIDWARD_MAX_BODY_BYTES=-1 started fine and no one could then sign in (tester T68 #5);
    every command now refuses any bad GRIDWARD_* value at start."""
    from geo.auth_settings import AuthSettings

    settings = Settings()
    AuthSettings()
    return settings


def city_now(settings: Settings | None = None) -> dt.datetime:
    """Now in the city's time zone (``timezone``), as log lines and admins' messages show
    it (the offset with it)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo((settings or get_settings()).timezone))


def city_today(settings: Settings | None = None) -> dt.date:
    """Today in the city's time zone (``timezone``). WHY not ``date.today()``: that is the
    server's clock, and a server on UTC would start Beijing's day at 08:00, so the default
    report, duty list or patrol map before then would be yesterday's."""
    return city_now(settings).date()
