"""Settings: every local policy (thresholds, ratios, defaults) is a named, documented parameter.

Values come from environment variables prefixed ``GRIDWARD_`` (``DATABASE_URL`` without the
prefix), so a deployment changes policy without code. See README "Settings".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
    """All gridward settings with their documented defaults."""

    model_config = SettingsConfigDict(env_prefix="GRIDWARD_", extra="ignore")

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
        default=None, description="Port for the embedded cluster; a free one when unset."
    )

    # --- households estimation (issue: foundation) --------------------------------------
    dwelling_size_m2: float = Field(
        default=90.0, description="Mean floor area of one dwelling, m², for estimates."
    )
    default_levels: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_LEVELS),
        description="Storeys assumed by building type when building:levels is untagged.",
    )
    fallback_levels: int = Field(default=3, description="Storeys for a type not listed above.")
    residential_share: dict[str, float] = Field(
        default_factory=lambda: dict(RESIDENTIAL_SHARE),
        description=(
            "Share of gross floor area that is dwellings, by building type. Types not listed "
            "(school, commercial, university, ...) are non-residential: zero households."
        ),
    )

    # --- nested grids ----------------------------------------------------------------------
    households_per_unit: int = Field(
        default=12,
        description="Level-3 grids: households of one stairwell (单元) when a building's unit "
        "count is unknown (12 ≈ a 6-storey walk-up with 2 flats per landing).",
    )

    # --- staffing ------------------------------------------------------------------------
    households_per_worker: int = Field(
        default=100, description="Full-time grid workers: one per this many households."
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
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, description="Largest accepted upload file, bytes."
    )
    track_future_tolerance_s: float = Field(
        default=900.0,
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
        description=(
            "A track whose times, in file order, go back by more than this more than 3 times "
            "is refused as shuffled; fewer such jumps (blocks out of order) and small backward "
            "steps from GPS re-acquisition are sorted."
        ),
    )

    body_grace_s: float = Field(
        default=30.0,
        gt=0,
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
        default=900.0, gt=0, description="A request body must be whole within this many seconds."
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
        allow_inf_nan=False,
        description="How long an upload whose files have arrived waits for one of the "
        "uploads_at_once places before it is answered 429.",
    )

    # --- match queue -----------------------------------------------------------------------
    match_wait_s: float = Field(
        default=1800.0,
        ge=0,
        description="How long a deferred upload's job waits while another worker holds its "
        "tracks (a worker's batch of long walks takes minutes) before it ends failed, naming "
        "them.",
    )
    stale_upload_s: float = Field(
        default=600.0,
        gt=0,
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
        description="Basemap tile URL template for the maps; none means vector layers only.",
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()


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
