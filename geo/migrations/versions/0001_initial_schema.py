"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:23:28.502126
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_geospatial_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(level = 'district' AND length(code) = 6) OR (level IN ('subdistrict', 'township') AND length(code) = 9) OR (level IN ('community', 'village') AND length(code) = 12)",
            name="ck_areas_code_length",
        ),
        sa.CheckConstraint("code ~ '^[0-9]+$'", name="ck_areas_code_digits"),
        sa.CheckConstraint(
            "level IN ('district', 'subdistrict', 'township', 'community', 'village')",
            name="ck_areas_level",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_geospatial_index(
        "ix_areas_geom", "areas", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_areas_parent_id"), "areas", ["parent_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_imports_sha256"), "imports", ["sha256"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_status"
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_jobs_progress"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_table(
        "streets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTILINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('street', 'alley')", name="ck_streets_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_geospatial_index(
        "ix_streets_geom",
        "streets",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("osm_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("building_type", sa.Text(), nullable=True),
        sa.Column("levels", sa.Float(), nullable=True),
        sa.Column("levels_used", sa.Float(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("household_source", sa.String(length=16), nullable=False),
        sa.Column("units", sa.Integer(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "household_source IN ('given', 'estimated')", name="ck_buildings_household_source"
        ),
        sa.CheckConstraint("households >= 0", name="ck_buildings_households"),
        sa.CheckConstraint("units IS NULL OR units >= 0", name="ck_buildings_units"),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index(op.f("ix_buildings_community_id"), "buildings", ["community_id"], unique=False)
    op.create_geospatial_index(
        "ix_buildings_geom",
        "buildings",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "grid_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("data_fingerprint", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'committed', 'discarded')", name="ck_grid_plans_status"
        ),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_grid_plans_area_id"), "grid_plans", ["area_id"], unique=False)
    op.create_geospatial_table(
        "street_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("street_id", sa.Integer(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("highway", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("from_node", sa.BigInteger(), nullable=True),
        sa.Column("to_node", sa.BigInteger(), nullable=True),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('street', 'alley')", name="ck_street_segments_kind"),
        sa.CheckConstraint("length_m >= 0", name="ck_street_segments_length"),
        sa.ForeignKeyConstraint(["street_id"], ["streets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    op.create_geospatial_index(
        "ix_street_segments_geom",
        "street_segments",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_street_segments_street_id"), "street_segments", ["street_id"], unique=False
    )
    op.create_geospatial_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("building_count", sa.Integer(), nullable=False),
        sa.Column("flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("code ~ '^[0-9]{15}$'", name="ck_grids_code"),
        sa.CheckConstraint("households >= 0", name="ck_grids_households"),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name="ck_grids_level"),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["grids.id"],
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "version", name="uq_grids_code_version"),
    )
    op.create_index(op.f("ix_grids_community_id"), "grids", ["community_id"], unique=False)
    op.create_geospatial_index(
        "ix_grids_geom", "grids", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_grids_parent_id"), "grids", ["parent_id"], unique=False)
    op.create_index(
        "uq_grids_current_code",
        "grids",
        ["code"],
        unique=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    )
    op.create_geospatial_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "home",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("home_building_id", sa.Integer(), nullable=True),
        sa.Column("capacity", sa.Float(), nullable=True),
        sa.Column("part_time", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["home_building_id"], ["buildings.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    op.create_geospatial_index(
        "ix_people_home",
        "people",
        ["home"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(role IN ('grid_leader', 'grid_worker', 'part_time_worker')  AND grid_id IS NOT NULL AND street_id IS NULL) OR (role IN ('street_chief', 'alley_steward') AND street_id IS NOT NULL  AND grid_id IS NULL)",
            name="ck_assignments_target",
        ),
        sa.CheckConstraint(
            "role IN ('grid_leader', 'grid_worker', 'part_time_worker', 'street_chief', 'alley_steward')",
            name="ck_assignments_role",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name="ck_assignments_dates"
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["street_id"],
            ["streets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_assignments_grid_id"), "assignments", ["grid_id"], unique=False)
    op.create_index(op.f("ix_assignments_person_id"), "assignments", ["person_id"], unique=False)
    op.create_index(op.f("ix_assignments_street_id"), "assignments", ["street_id"], unique=False)
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("crs", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.Text(), nullable=True),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('stored', 'matched', 'failed')", name="ck_tracks_status"),
        sa.CheckConstraint("length(sha256) = 64", name="ck_tracks_sha256"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_index(op.f("ix_tracks_person_id"), "tracks", ["person_id"], unique=False)
    op.create_table(
        "patrol_visits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("covered_fraction", sa.Float(), nullable=False),
        sa.Column("first_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "covered_fraction >= 0 AND covered_fraction <= 1", name="ck_patrol_visits_fraction"
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["segment_id"], ["street_segments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_id", "segment_id", "day", name="uq_patrol_visits"),
    )
    op.create_index(
        "ix_patrol_visits_day_segment", "patrol_visits", ["day", "segment_id"], unique=False
    )
    op.create_geospatial_table(
        "track_points",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("piece", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_id", "seq", name="uq_track_points_seq"),
    )
    op.create_geospatial_index(
        "ix_track_points_geom",
        "track_points",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )


def downgrade() -> None:

    op.drop_geospatial_index(
        "ix_track_points_geom",
        table_name="track_points",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("track_points")
    op.drop_index("ix_patrol_visits_day_segment", table_name="patrol_visits")
    op.drop_table("patrol_visits")
    op.drop_index(op.f("ix_tracks_person_id"), table_name="tracks")
    op.drop_table("tracks")
    op.drop_index(op.f("ix_assignments_street_id"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_person_id"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_grid_id"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_geospatial_index(
        "ix_people_home", table_name="people", postgresql_using="gist", column_name="home"
    )
    op.drop_geospatial_table("people")
    op.drop_index(
        "uq_grids_current_code", table_name="grids", postgresql_where=sa.text("retired_at IS NULL")
    )
    op.drop_index(op.f("ix_grids_parent_id"), table_name="grids")
    op.drop_geospatial_index(
        "ix_grids_geom", table_name="grids", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_grids_community_id"), table_name="grids")
    op.drop_geospatial_table("grids")
    op.drop_index(op.f("ix_street_segments_street_id"), table_name="street_segments")
    op.drop_geospatial_index(
        "ix_street_segments_geom",
        table_name="street_segments",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("street_segments")
    op.drop_index(op.f("ix_grid_plans_area_id"), table_name="grid_plans")
    op.drop_table("grid_plans")
    op.drop_geospatial_index(
        "ix_buildings_geom", table_name="buildings", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_buildings_community_id"), table_name="buildings")
    op.drop_geospatial_table("buildings")
    op.drop_geospatial_index(
        "ix_streets_geom", table_name="streets", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("streets")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_imports_sha256"), table_name="imports")
    op.drop_table("imports")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_areas_parent_id"), table_name="areas")
    op.drop_geospatial_index(
        "ix_areas_geom", table_name="areas", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("areas")
