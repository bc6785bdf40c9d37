"""ORM models: the gridward data model in the users' words (see DESIGN.md glossary).

Geometry is stored in EPSG:4326 with a GiST index on every geometry column. Metric figures
(lengths, areas) are computed on the way in, in a metric CRS, and stored as plain columns.
The schema is created and evolved only by the Alembic migrations in ``geo/migrations``; a test
compares these models with the migrated database so the two cannot drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326

AREA_LEVELS = ("district", "subdistrict", "township", "community", "village")
#: an area level in Chinese (messages, the patrol page's area picker)
LEVEL_ZH = {
    "district": "区",
    "subdistrict": "街道",
    "township": "乡镇",
    "community": "社区",
    "village": "村",
}
AREA_CODE_LENGTH = {"district": 6, "subdistrict": 9, "township": 9, "community": 12, "village": 12}
ROLES = ("grid_leader", "grid_worker", "part_time_worker", "street_chief", "alley_steward")


def _geom(kind: str) -> Geometry:
    # spatial_index=False: the GiST indexes are declared explicitly in __table_args__ so that the
    # migrations and the models name them identically.
    return Geometry(geometry_type=kind, srid=SRID, spatial_index=False)


def _gist(table: str, column: str = "geom") -> Index:
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist")


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    """Declarative base of all gridward tables."""


class Area(Base):
    """An administrative area: district (区) → subdistrict (街道) / township (乡镇) → community
    (社区) / village (村). Codes follow GB/T 2260 (6 digits) + 3 + 3."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint(f"level IN {AREA_LEVELS}", name="ck_areas_level"),
        CheckConstraint("code ~ '^[0-9]+$'", name="ck_areas_code_digits"),
        CheckConstraint(
            "(level = 'district' AND length(code) = 6) OR "
            "(level IN ('subdistrict', 'township') AND length(code) = 9) OR "
            "(level IN ('community', 'village') AND length(code) = 12)",
            name="ck_areas_code_length",
        ),
        _gist("areas"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True, nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    name_en: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[Any] = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    area_m2: Mapped[float | None] = mapped_column(Float)
    # made by an import as the union of its children (no outline of its own was given): every
    # area import recomputes it from the children linked then, so a later child falls inside
    outline_from_children: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class Building(Base):
    """A building (楼栋) with its household (户) count, given or estimated."""

    __tablename__ = "buildings"
    __table_args__ = (
        CheckConstraint("households >= 0", name="ck_buildings_households"),
        CheckConstraint(
            "household_source IN ('given', 'estimated')", name="ck_buildings_household_source"
        ),
        CheckConstraint("units IS NULL OR units >= 0", name="ck_buildings_units"),
        _gist("buildings"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_key: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    building_type: Mapped[str | None] = mapped_column(Text)
    levels: Mapped[float | None] = mapped_column(Float)
    levels_used: Mapped[float | None] = mapped_column(Float)
    households: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    household_source: Mapped[str] = mapped_column(String(16), nullable=False)
    units: Mapped[int | None] = mapped_column(Integer)
    area_m2: Mapped[float | None] = mapped_column(Float)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("areas.id", ondelete="SET NULL"), index=True
    )
    geom: Mapped[Any] = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class Street(Base):
    """A street (街) or alley (巷): a named way (all its segments) or one unnamed way."""

    __tablename__ = "streets"
    __table_args__ = (
        CheckConstraint("kind IN ('street', 'alley')", name="ck_streets_kind"),
        _gist("streets"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    length_m: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    geom: Mapped[Any] = mapped_column(_geom("MULTILINESTRING"), nullable=True)
    created_at: Mapped[dt.datetime] = _now()
    # set by an import when none of its segments is live any more (migration 0011)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StreetSegment(Base):
    """A piece of a street between two intersections: where coverage is counted.

    Never deleted once walked (patrol visits RESTRICT): a segment gone from a re-imported OSM
    file is retired instead (``retired_at``, migration 0011) and leaves the current network;
    reports of a day before that still count it. Its past retirement periods (retired, then
    back in a later file) are :class:`SegmentRetirement` rows; one added by a re-import
    (``added_at``) does not count on the days before it came."""

    __tablename__ = "street_segments"
    __table_args__ = (
        CheckConstraint("kind IN ('street', 'alley')", name="ck_street_segments_kind"),
        CheckConstraint("length_m >= 0", name="ck_street_segments_length"),
        _gist("street_segments"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    street_id: Mapped[int] = mapped_column(
        ForeignKey("streets.id", ondelete="CASCADE"), index=True, nullable=False
    )
    osm_way_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    highway: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    from_node: Mapped[int | None] = mapped_column(BigInteger)
    to_node: Mapped[int | None] = mapped_column(BigInteger)
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[Any] = mapped_column(_geom("LINESTRING"), nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # brought in by a re-import of a network already there (migration 0013); NULL: from the start
    added_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SegmentRetirement(Base):
    """A closed retirement period of a segment: retired at ``retired_at``, live again (back in
    a re-imported file) at ``restored_at`` (migration 0012).

    The open period is ``StreetSegment.retired_at`` (the current state, one place only). A
    report judges a past day on the segments live at its end, so it needs these periods: a
    segment restored today was not matchable while retired, and must not count on those
    days."""

    __tablename__ = "segment_retirements"
    __table_args__ = (
        CheckConstraint("restored_at > retired_at", name="ck_segment_retirements_period"),
        Index("ix_segment_retirements_segment", "segment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("street_segments.id", ondelete="CASCADE"), nullable=False
    )
    retired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    restored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class GridPlan(Base):
    """A partition plan for one area: a draft until committed (preview → commit → history)."""

    __tablename__ = "grid_plans"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'committed', 'discarded')", name="ck_grid_plans_status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    params: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    features: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    base_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    data_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Grid(Base):
    """A grid (网格) of level 1/2/3; versions keep history.

    Codes nest (migration 0004): level 1 is the 15-digit DB11 code, level 2 adds 3 digits
    (18), level 3 adds 2 digits (20), so a code names its whole path and the length its level.
    """

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="ck_grids_level"),
        CheckConstraint(
            "(level = 1 AND code ~ '^[0-9]{15}$') OR (level = 2 AND code ~ '^[0-9]{18}$') "
            "OR (level = 3 AND code ~ '^[0-9]{20}$')",
            name="ck_grids_code",
        ),
        CheckConstraint("households >= 0", name="ck_grids_households"),
        UniqueConstraint("code", "version", name="uq_grids_code_version"),
        Index(
            "uq_grids_current_code",
            "code",
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
        ),
        _gist("grids"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    level: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), index=True, nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id", ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    building_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    flags: Mapped[list] = mapped_column(JSONB, nullable=False, default=list)
    properties: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    geom: Mapped[Any] = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Person(Base):
    """A person who serves: grid leader/worker, street chief, alley steward. Phone is personal
    data: stored, never shown to viewers, never logged."""

    __tablename__ = "people"
    __table_args__ = (_gist("people", "home"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    phone: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, default=list, server_default=text("'{}'::text[]")
    )
    home: Mapped[Any] = mapped_column(_geom("POINT"), nullable=True)
    home_building_id: Mapped[int | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="SET NULL")
    )
    capacity: Mapped[float | None] = mapped_column(Float)
    part_time: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class Assignment(Base):
    """Who holds which duty, and when: valid-from/valid-to keep past reports correct."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES}", name="ck_assignments_role"),
        CheckConstraint(
            "(role IN ('grid_leader', 'grid_worker', 'part_time_worker') "
            " AND grid_id IS NOT NULL AND street_id IS NULL) OR "
            "(role IN ('street_chief', 'alley_steward') AND street_id IS NOT NULL "
            " AND grid_id IS NULL)",
            name="ck_assignments_target",
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_assignments_dates"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True, nullable=False
    )
    role: Mapped[str] = mapped_column(String(24), nullable=False)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


class Track(Base):
    """An uploaded GPS track: the raw bytes are kept (sha256) so results can be recomputed."""

    __tablename__ = "tracks"
    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="ck_tracks_sha256"),
        CheckConstraint(
            "status IN ('stored', 'queued', 'matched', 'failed', 'withdrawn')",
            name="ck_tracks_status",
        ),
        # a withdrawn track has its time, and only a withdrawn one (migration 0018): a write
        # that set its status alone (a re-match) would bring its credit back
        CheckConstraint(
            "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="ck_tracks_withdrawn"
        ),
        CheckConstraint("mode IN ('walk', 'bike')", name="ck_tracks_mode"),
        Index("ix_tracks_queued", "id", postgresql_where=text("status = 'queued'")),
        # tracks walked in a time range: geo.track_days.SPAN_OVERLAPS (migration 0007)
        Index(
            "ix_tracks_span",
            text("tstzrange(started_at, ended_at, '[]')"),
            postgresql_using="gist",
        ),
        _gist("tracks", "fixes_center"),  # stored walks near a new one's fixes (0019)
        # the walks a file holds, by time and place at once (its mean fix as an n-D box, so
        # that the 2-D look near a mean fix keeps to ix_tracks_fixes_center); withdrawn walks
        # near a new one's fixes (geo.track_copies, migration 0025)
        Index(
            "ix_tracks_span_center",
            text("tstzrange(started_at, ended_at, '[]')"),
            "fixes_center",
            postgresql_using="gist",
            postgresql_ops={"fixes_center": "gist_geometry_ops_nd"},
            postgresql_where=text("fixes_center IS NOT NULL"),
        ),
        Index(
            "ix_tracks_withdrawn_center",
            "fixes_center",
            postgresql_using="gist",
            postgresql_where=text("status = 'withdrawn'"),
        ),
        _gist("tracks", "fixes_extent"),  # stored walks a new one may copy in part (0022)
        # walks uploaded after a period closed: geo.closed_changes (migration 0023)
        Index("ix_tracks_uploaded_at", "uploaded_at"),
        # a sync's tracks changed since a time, in its paging order (GET /tracks
        # ?changed_since=, migration 0027)
        Index("ix_tracks_changed_at", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    filename: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    crs: Mapped[str] = mapped_column(String(16), nullable=False, default="wgs84")
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    n_points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="stored")
    mode: Mapped[str] = mapped_column(String(8), nullable=False, server_default=text("'walk'"))
    error: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str | None] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime] = _now()
    # the digest of its fixes (geo.walk_digest.fixes_digest): the same walk sent again, or a
    # copy of it (geo.track_store._same_walk; migration 0017); None under 3 distinct positions
    fixes_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # the mean of its fixes (geo.walk_digest.fixes_center): where a nudged copy of it is
    # looked for (geo.track_store._same_walk; migration 0019); None without a digest
    fixes_center = mapped_column(_geom("POINT"), nullable=True)
    # withdrawn (撤回) by mistake: when, by whom (a username, or "cli") and why; its visits and
    # fixes are deleted, its row and bytes kept (geo.track_withdraw; migration 0018)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(Text)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    # why the walk is doubtful (geo.track_flags: a replay, a copy walked alongside, a file
    # generated from the alley lines, a phone left still ...), judged at each match; a list
    # of {code, message, other_track} (migration 0022, outside tester T52)
    flags: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    # what the upload answer said of the file (a GPX without a time zone ...), kept (0022)
    warnings: Mapped[list] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    # the box of its fixes: stored walks a new one may copy in part (0022)
    fixes_extent = mapped_column(_geom("GEOMETRY"), nullable=True)
    # when a client last saw it change (uploaded, queued, matched, failed, withdrawn,
    # restored, given to another person, flags re-judged …): a sync job's GET /tracks
    # ?changed_since=. Set to now() by every UPDATE of what a client sees, in the code, not
    # by a trigger (restores and hand-overs run as a superuser) (migration 0027; T67 #4)
    changed_at: Mapped[dt.datetime] = _now()


class TrackMatch(Base):
    """One match of a track (the newest is the one its patrol visits come from).

    Kept for every match, not only the last: re-matching after a network correction changes
    past compliance, and a supervisor must be able to see when and by how many metres."""

    __tablename__ = "track_matches"
    __table_args__ = (
        Index("ix_track_matches_track", "track_id", "id"),
        # walks matched again after a period closed: geo.closed_changes (migration 0023)
        Index("ix_track_matches_matched_at", "matched_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False
    )
    matched_at: Mapped[dt.datetime] = _now()
    # NULL for tracks matched before gridward kept these (migration 0009's backfill)
    matched_points: Mapped[int | None] = mapped_column(Integer)
    pieces: Mapped[int | None] = mapped_column(Integer)
    # the fixes look like another datum's (geo.tracks.datum): which, and how far off
    datum_hint: Mapped[dict | None] = mapped_column(JSONB)
    segments: Mapped[int] = mapped_column(Integer, nullable=False)
    walked_m: Mapped[float] = mapped_column(Float, nullable=False)
    # GPS dropouts credited along the network when certain (geo.tracks.match._bridge; T52
    # #9): how many and their metres; NULL for matches made before migration 0022
    bridged_gaps: Mapped[int | None] = mapped_column(Integer)
    bridged_m: Mapped[float | None] = mapped_column(Float)


class TrackPoint(Base):
    """One GPS fix of a track, after parsing (cleaning marks pieces).

    Partitioned by UTC day of the fix (``geo.track_partitions`` creates a day's table on
    first upload), so a day of a whole city's fixes is one table: old days are dropped or
    archived whole, and each day's index stays small. The key is (track, seq, t) because a
    partitioned table's key must contain the partition column. No spatial index: fixes are
    only ever read by track (spatial questions go to the matched ``patrol_visits``), and a
    GiST made COPY 2.3× slower (bench/city_day.py).
    """

    __tablename__ = "track_points"
    __table_args__ = ({"postgresql_partition_by": "RANGE (t)"},)

    # no foreign key to tracks (migration 0015): making a day table would lock tracks too,
    # and uploads in flight deadlocked with it; fixes are written with their track, tracks
    # are never deleted, and a withdrawn track's fixes go in its withdrawal's transaction
    track_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    t: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    piece: Mapped[int | None] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(_geom("POINT"), nullable=False)


class PatrolVisit(Base):
    """The share of one segment walked by one track on one local day (日巡)."""

    __tablename__ = "patrol_visits"
    __table_args__ = (
        CheckConstraint(
            "covered_fraction >= 0 AND covered_fraction <= 1", name="ck_patrol_visits_fraction"
        ),
        UniqueConstraint("track_id", "segment_id", "day", name="uq_patrol_visits"),
        Index("ix_patrol_visits_day_segment", "day", "segment_id"),
        Index("ix_patrol_visits_person_day", "person_id", "day"),
        Index("ix_patrol_visits_track", "track_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False
    )
    # RESTRICT: a walked segment is history (migration 0010); deleting it would silently
    # change past compliance
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("street_segments.id", ondelete="RESTRICT"), nullable=False
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    covered_fraction: Mapped[float] = mapped_column(Float, nullable=False)
    first_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # walked stretches as [[start_fraction, end_fraction], ...] along the segment
    intervals: Mapped[list] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb"), default=list
    )


class Job(Base):
    """A long-running job (partition, batch matching): status and progress for the API."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="ck_jobs_progress"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    result: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class ImportRecord(Base):
    """One accepted import: the file's hash and what it changed (idempotency and audit)."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    filename: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    counts: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = _now()


class AuditEntry(Base):
    """Who changed what and when (grids, assignments, accounts, imports)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # a target's entries, newest first: the undo of a duty reads its ``assignments.set``
        # entry (geo.duty_undo; migration 0014)
        Index("ix_audit_log_target", "target_type", "target_id", "id"),
        # the staffing commit that started a duty id (geo.duty_undo; migration 0014)
        Index(
            "ix_audit_log_commit_started",
            literal_column("(detail -> 'started_ids')").label("started_ids"),
            postgresql_using="gin",
            postgresql_ops={"started_ids": "jsonb_path_ops"},
            postgresql_where=text("action = 'assignments.commit'"),
        ),
        # changes of some actions after a period closed: geo.closed_changes (migration 0023)
        Index("ix_audit_log_action_at", "action", "at"),
        # the sign-ins of an address, for the lockout count (api.ratelimit; migration 0021)
        Index(
            "ix_audit_log_signin",
            literal_column("(detail ->> 'address')").label("address"),
            "id",
            postgresql_where=text(
                "action IN ('signin.failure', 'signin.success', 'signin.unlock')"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _now()
    actor: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    target_type: Mapped[str | None] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)


class ReportFile(Base):
    """A report file a background job made (POST /reports/{kind}/jobs): its bytes until
    GRIDWARD_REPORT_FILE_KEEP_H after they were made, then purged (geo.report_files,
    migration 0026). Kept in the database, not on a disk of one API process, so that any
    replica serves the download."""

    __tablename__ = "report_files"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    media_type: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    # set when made: every replica keeps it as long as the job's result promised
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ReportSignoff(Base):
    """A period's report as it was signed (签发): the JSON and XLSX of that moment, kept as
    signed; signing the same kind, period and area again adds version N+1 (geo.report_signoffs,
    migration 0024)."""

    __tablename__ = "report_signoffs"
    __table_args__ = (
        CheckConstraint("kind IN ('daily', 'weekly', 'monthly')", name="ck_report_signoffs_kind"),
        CheckConstraint("version >= 1", name="ck_report_signoffs_version"),
        # a city-wide signoff (area_code NULL) is kept unique by the signing's lock
        UniqueConstraint(
            "kind", "period_start", "area_code", "version", name="uq_report_signoffs_version"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    area_code: Mapped[str | None] = mapped_column(Text)  # NULL: the whole city
    share: Mapped[float] = mapped_column(Float, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    signed_at: Mapped[dt.datetime] = _now()
    signed_by: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    data_as_of: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    report: Mapped[dict] = mapped_column(JSONB, nullable=False)
    xlsx: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # the signed report's people and streets: the scope of its "changed since signing" note
    person_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, default=list, server_default=text("'{}'::integer[]")
    )
    street_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, default=list, server_default=text("'{}'::integer[]")
    )
