"""Re-importing an OSM file retires the street segments gone from it (migration 0011).

The modified files are made in ``tmp_path`` from the demo fixture: one way taken out of the
XML (a way deleted in OSM), the <bounds> kept or dropped, or a small extract of another area.
Walks are real uploads (CSV fixes along a segment) matched by the service's matcher.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal
from pyproj import Geod
from sqlalchemy import Engine, text

from geo.areas_import import import_areas
from geo.day_networks import walk_network
from geo.demo import track_csv
from geo.export import read_layer
from geo.features import feature_collection
from geo.importer import import_osm
from geo.patrol_reports import build_report
from geo.settings import city_today, get_settings
from geo.staffing import coverage_rates, duties
from geo.track_store import ingest_track
from tests.conftest import FIXTURES

OSM = FIXTURES / "haidian_demo.osm"
STEWARD = 1
GEOD = Geod(ellps="WGS84")


def _without_way(way_id: int, dst: Path, keep_bounds: bool = True) -> Path:
    """The fixture with one way taken out (and its <bounds> line, unless ``keep_bounds``)."""
    xml = OSM.read_text(encoding="utf-8")
    xml, n = re.subn(rf'\n\s*<way id="{way_id}"[^>]*>.*?</way>', "", xml, flags=re.S)
    assert n == 1
    if not keep_bounds:
        xml, n = re.subn(r"\n\s*<bounds [^>]*/>", "", xml)
        assert n == 1
    dst.write_text(xml, encoding="utf-8")
    return dst


def _fixes_along(wkb: bytes) -> int:
    """How many steps :func:`_walk` takes along a segment (a fix every ~4 m)."""
    return max(int(GEOD.geometry_length(shapely.from_wkb(bytes(wkb))) / 4), 12)


_WALKS = itertools.count()


def _walk(
    engine: Engine,
    wkb: bytes,
    day: dt.date,
    name: str,
    second: int = 0,
    start: dt.datetime | None = None,
) -> dict:
    """A steward's walk along a segment on ``day`` (10:00 local and ``second`` seconds, or
    from ``start``; a fix every ~4 m / ~3 s)."""
    line = shapely.from_wkb(bytes(wkb))
    n = _fixes_along(wkb)
    pts = [line.interpolate(i / n, normalized=True) for i in range(n + 1)]
    zone = ZoneInfo(get_settings().timezone)
    start = start or dt.datetime.combine(day, dt.time(10, 0, second), tzinfo=zone)
    # today's walk is done already (a walk ending ahead of now is refused): 10 minutes ago,
    # or just after midnight when the day is younger than that
    now = dt.datetime.now(zone)
    if start > now - dt.timedelta(minutes=10):
        midnight = dt.datetime.combine(day, dt.time(0, 0, second), tzinfo=zone)
        start = max(midnight, now - dt.timedelta(minutes=10))
    # ~0.2 m of noise and a pace of its own (a fix every 1.5-4.5 s), other for each walk:
    # two walks are never the same fixes, nor the same fixes nudged at the same pace (the
    # same walk at other times is a copy, refused: geo.walk_digest)
    rng = np.random.default_rng(next(_WALKS))
    steps = np.concatenate([[0.0], np.cumsum(rng.uniform(1.5, 4.5, n))])
    times = pd.to_datetime([start + dt.timedelta(seconds=float(t)) for t in steps], utc=True)
    jitter = rng.normal(0.0, 2e-6, (2, n + 1))
    frame = pd.DataFrame(
        {
            "lon": [p.x for p in pts] + jitter[0],
            "lat": [p.y for p in pts] + jitter[1],
            "time": times,
        }
    )
    return ingest_track(engine, track_csv(frame), name, "wgs84", STEWARD, "test")


def _credited(engine: Engine, track_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT segment_id FROM patrol_visits WHERE track_id = :t"), {"t": track_id}
            ).scalars()
        )


def _alley_length(report: dict, alley_id: int) -> float | None:
    rows = report["alleys"]
    rows = rows[(rows["alley_id"] == alley_id) & (rows["role"] == "alley_steward")]
    return None if rows.empty else float(rows["length_m"].iloc[0])


def _city(db: Engine) -> Engine:
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, OSM)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) "
                "VALUES ('S1', '王小巷', ARRAY['alley_steward'])"
            )
        )
    return db


def _assign(db: Engine, street_id: int) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d)"
            ),
            {"p": STEWARD, "s": street_id, "d": city_today() - dt.timedelta(days=30)},
        )


_INSIDE = "ST_CoveredBy(s.geom, ST_MakeEnvelope(116.313, 39.9905, 116.325, 40.001, 4326))"


def _way_of_a_multi_way_alley(conn) -> tuple[int, int]:
    """(OSM way, alley id): a way of an alley made of several ways, wholly inside the file's
    bounds, with a segment of 80 m or more."""
    return tuple(
        conn.execute(
            text(
                "SELECT s.osm_way_id, s.street_id FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id WHERE st.kind = 'alley' "
                "AND (SELECT count(DISTINCT x.osm_way_id) FROM street_segments x "
                "     WHERE x.street_id = s.street_id) >= 2 "
                f"GROUP BY s.osm_way_id, s.street_id HAVING bool_and({_INSIDE}) "
                "AND max(s.length_m) >= 80 ORDER BY s.osm_way_id LIMIT 1"
            )
        ).one()
    )


def _longest_segment(conn, way: int) -> tuple[int, bytes]:
    """(id, WKB) of the longest stored segment of OSM way ``way``: the one a test walks."""
    return tuple(
        conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) FROM street_segments WHERE osm_way_id = :w "
                "ORDER BY length_m DESC LIMIT 1"
            ),
            {"w": way},
        ).one()
    )


def test_reimport_retires_a_vanished_way_and_restores_it(db, tmp_path):
    """Old code: the re-import left the way's segments live (no ``segments_retired``): a new
    walk was still credited to them, today's alley length kept them, and nothing could be
    told apart from a live segment."""
    _city(db)
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    with db.connect() as conn:
        # a way of a named alley made of several ways, wholly inside the file's bounds
        way, alley = _way_of_a_multi_way_alley(conn)
        way_segments = dict(
            conn.execute(
                text("SELECT id, length_m FROM street_segments WHERE osm_way_id = :w"),
                {"w": way},
            ).all()
        )
        seg, seg_wkb = _longest_segment(conn, way)
    _assign(db, alley)

    # yesterday the steward walked it: credited
    walked = _walk(db, seg_wkb, yesterday, "yesterday.csv")
    assert walked["status"] == "matched" and seg in _credited(db, walked["track_id"])
    before_yesterday = build_report(db, "daily", yesterday)
    before_today = build_report(db, "daily", today)
    full = _alley_length(before_today, alley)
    assert full == pytest.approx(_alley_length(before_yesterday, alley))
    walked_m = before_yesterday["alleys"].set_index("alley_id").loc[alley, "walked_m"]
    assert walked_m > 0.5 * way_segments[seg]
    assert seg in set(walk_network(db).edge_ids)
    inside_before = _live_inside(db)

    # the way is deleted in OSM: re-importing the file retires its segments, deletes nothing
    counts = import_osm(db, _without_way(way, tmp_path / "edited.osm"))
    assert counts["segments_retired"] >= len(way_segments)
    assert counts["streets_retired"] == 0  # the alley keeps its other ways
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT id, retired_at FROM street_segments WHERE osm_way_id = :w"), {"w": way}
        ).all()
        visits = conn.execute(
            text("SELECT count(*) FROM patrol_visits WHERE segment_id = :s"), {"s": seg}
        ).scalar_one()
        alley_retired = conn.execute(
            text("SELECT retired_at FROM streets WHERE id = :a"), {"a": alley}
        ).scalar_one()
    assert {r.id for r in rows} == set(way_segments)
    assert all(r.retired_at is not None for r in rows)
    assert visits >= 1 and alley_retired is None

    # yesterday's report is as it was; today's alley is shorter by the way's length
    after_yesterday = build_report(db, "daily", yesterday)
    for part in ("people", "alleys"):
        assert_frame_equal(after_yesterday[part], before_yesterday[part])
    shorter = _alley_length(build_report(db, "daily", today), alley)
    assert shorter == pytest.approx(full - sum(way_segments.values()), abs=0.5)

    # the current network has lost it: matching (the cached network too), layers, export
    assert not set(way_segments) & set(walk_network(db).edge_ids)
    again = _walk(db, seg_wkb, today, "today.csv")
    assert seg not in _credited(db, again["track_id"])
    assert not set(way_segments) & set(read_layer(db, "segments")["id"])
    layer = feature_collection(db, "streets", bbox=None, limit=10_000, offset=0)
    assert not set(way_segments) & {f["properties"]["id"] for f in layer["features"]}

    # the way comes back in OSM: the original file makes its segments live again
    counts = import_osm(db, OSM)
    assert counts["segments_restored"] == len(way_segments)
    with db.connect() as conn:
        live = conn.execute(
            text(
                "SELECT count(*) FROM street_segments WHERE osm_way_id = :w AND retired_at IS NULL"
            ),
            {"w": way},
        ).scalar_one()
    assert live == len(way_segments)
    # the segments the edited file made (ways split anew without it) are retired in turn
    assert _live_inside(db) == inside_before
    assert _alley_length(build_report(db, "daily", today), alley) == pytest.approx(full)
    assert seg in set(walk_network(db).edge_ids)


def _live_inside(db: Engine) -> set[int]:
    """Ids of the live segments wholly inside the fixture's bounds."""
    with db.connect() as conn:
        return set(
            conn.execute(
                text(f"SELECT s.id FROM street_segments s WHERE retired_at IS NULL AND {_INSIDE}")
            ).scalars()
        )


def test_a_whole_alley_gone_is_retired_and_no_duty_today(db, tmp_path):
    """A file without <bounds> retires by area only when asked (``retire="all"``: the extent
    of its data is used): an unnamed alley (one way, its own street) taken out retires the
    street too. Old code: the alley stayed live, a duty today (never walkable again), in
    staffing and in the street layer."""
    _city(db)
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    with db.connect() as conn:
        way, alley = conn.execute(
            text(
                "SELECT s.osm_way_id, s.street_id FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id WHERE st.kind = 'alley' "
                "AND st.key LIKE 'way:%' "
                f"GROUP BY s.osm_way_id, s.street_id HAVING bool_and({_INSIDE}) "
                "ORDER BY sum(s.length_m) DESC LIMIT 1"
            )
        ).one()
    _assign(db, alley)
    before = build_report(db, "daily", yesterday)
    assert _alley_length(before, alley) > 0
    assert _alley_length(build_report(db, "daily", today), alley) > 0
    rates = coverage_rates(db, "110108015")
    assert any(d["street_id"] == alley for d in duties(db, STEWARD))

    nobounds = _without_way(way, tmp_path / "nobounds.osm", keep_bounds=False)
    # by default a file without bounds does not say what it covers: the alley stays
    counts = import_osm(db, nobounds)
    assert counts["retire_skipped"] == 1 and counts["streets_retired"] == 0
    with db.connect() as conn:
        live = conn.execute(
            text(
                "SELECT count(*) FROM street_segments WHERE osm_way_id = :w AND retired_at IS NULL"
            ),
            {"w": way},
        ).scalar_one()
    assert live >= 1
    counts = import_osm(db, nobounds, retire="all")
    assert counts["segments_retired"] >= 1 and counts["streets_retired"] >= 1
    with db.connect() as conn:
        retired = conn.execute(
            text("SELECT retired_at FROM streets WHERE id = :a"), {"a": alley}
        ).scalar_one()
    assert retired is not None
    # yesterday it was a duty and stays one; today there is nothing left to walk
    assert_frame_equal(build_report(db, "daily", yesterday)["alleys"], before["alleys"])
    assert _alley_length(build_report(db, "daily", today), alley) is None
    assert alley not in set(read_layer(db, "streets")["id"])
    assert coverage_rates(db, "110108015")["alleys"] == rates["alleys"] - 1
    mine = [d for d in duties(db, STEWARD) if d["street_id"] == alley]
    assert mine and mine[0]["street_retired"] is True


def test_an_extract_of_another_area_retires_nothing(db, tmp_path):
    """A second extract east of the demo cut, one of its ways reaching back over the cut (an
    extract keeps the ways touching it whole): its data cover many demo segments, its
    <bounds> none, so nothing of the demo is retired; nor by a far extract whose header box is
    the whole world. Old code: no such count at all (it never retired anything)."""
    _city(db)
    with db.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM street_segments WHERE retired_at IS NULL")
        ).scalar_one()
    nodes = [
        (1, 39.9950, 116.3140),  # inside the demo cut: the way reaches back over it
        (2, 39.9955, 116.3300),
        (3, 39.9960, 116.3400),
        (4, 39.9990, 116.3350),
    ]
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        ' <bounds minlat="39.9905" minlon="116.3260" maxlat="40.0010" maxlon="116.3450"/>\n'
        + "".join(f' <node id="{9_000_000 + i}" lat="{y}" lon="{x}"/>\n' for i, y, x in nodes)
        + ' <way id="9000001"><nd ref="9000001"/><nd ref="9000002"/><nd ref="9000003"/>'
        '<tag k="highway" v="residential"/><tag k="name" v="东边路"/></way>\n'
        ' <way id="9000002"><nd ref="9000002"/><nd ref="9000004"/>'
        '<tag k="highway" v="footway"/></way>\n'
        "</osm>\n"
    )
    other = tmp_path / "east.osm"
    other.write_text(xml, encoding="utf-8")
    counts = import_osm(db, other)
    assert counts["segments_read"] == 3 and counts["segments_written"] == 3
    assert counts["segments_retired"] == 0 and counts["streets_retired"] == 0
    with db.connect() as conn:
        now_live = conn.execute(
            text("SELECT count(*) FROM street_segments WHERE retired_at IS NULL")
        ).scalar_one()
    assert now_live == live + 3
    # and importing the demo again retires nothing of the east extract (nor of its own)
    counts = import_osm(db, OSM)
    assert counts["segments_retired"] == 0 and counts["segments_written"] == 0
    # a header box of the whole world (some tools write one) is cut to the file's data
    far = tmp_path / "far.osm"
    far.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        ' <bounds minlat="-90" minlon="-180" maxlat="90" maxlon="180"/>\n'
        ' <node id="9100001" lat="39.9000" lon="116.4000"/>\n'
        ' <node id="9100002" lat="39.9010" lon="116.4010"/>\n'
        ' <way id="9100001"><nd ref="9100001"/><nd ref="9100002"/>'
        '<tag k="highway" v="footway"/></way>\n</osm>\n',
        encoding="utf-8",
    )
    counts = import_osm(db, far)
    assert counts["segments_written"] == 1 and counts["segments_retired"] == 0


# --------------------------------------------------------------------------------------------
# what a file may retire (review R1, R2, the guard, edge ways) and restored segments (R3)
# --------------------------------------------------------------------------------------------


def _live_count(db: Engine) -> int:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM street_segments WHERE retired_at IS NULL")
        ).scalar_one()


def _osm(path: Path, body: str, bounds: str = "") -> Path:
    path.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        + bounds
        + body
        + "</osm>\n",
        encoding="utf-8",
    )
    return path


def test_a_hand_made_file_without_bounds_retires_nothing_unless_asked(db, tmp_path):
    """Review R1: one new footway drawn diagonally across the demo area, in a file without
    <bounds> (a JOSM or Overpass export). Old code: the extent of its ways was taken for the
    area it describes, and it retired 255 of 266 live segments and 106 streets. Now it only
    adds its footway; ``retire="all"`` (``--retire all``) still retires by that extent."""
    _city(db)
    with db.connect() as conn:
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM street_segments) AS q"
            )
        ).one()
    live = _live_count(db)
    footway = _osm(
        tmp_path / "new_footway.osm",
        f' <node id="9200001" lat="{y0 + 0.001}" lon="{x0 + 0.001}"/>\n'
        f' <node id="9200002" lat="{y1 - 0.001}" lon="{x1 - 0.001}"/>\n'
        ' <way id="9200001"><nd ref="9200001"/><nd ref="9200002"/>'
        '<tag k="highway" v="footway"/><tag k="name" v="新步道"/></way>\n',
    )
    counts = import_osm(db, footway)
    assert counts["segments_written"] == 1
    assert counts["segments_retired"] == 0 and counts["streets_retired"] == 0
    assert counts["retire_skipped"] == 1
    assert _live_count(db) == live + 1
    # asked for explicitly: the file is taken to describe the box of its ways in full
    counts = import_osm(db, footway, retire="all")
    assert counts["segments_retired"] > live // 2


def test_a_neighbour_extract_whose_box_overlaps_retires_nothing(db, tmp_path):
    """Review R2: a neighbour's extract cut by a polygon: its <bounds> (the polygon's
    bounding box) overlap the demo area, its one way crosses it. Old code: retired 224 demo
    segments. Its ways' hull cut to its bounds still covers part of the demo area, but the
    file holds none of the stored segments there: it is no version of this network."""
    _city(db)
    live = _live_count(db)
    neighbour = _osm(
        tmp_path / "neighbour.osm",
        ' <node id="9300001" lat="39.9906" lon="116.3131"/>\n'
        ' <node id="9300002" lat="39.9907" lon="116.3300"/>\n'
        ' <node id="9300003" lat="40.0009" lon="116.3449"/>\n'
        ' <way id="9300001"><nd ref="9300001"/><nd ref="9300002"/><nd ref="9300003"/>'
        '<tag k="highway" v="residential"/></way>\n',
        ' <bounds minlat="39.9905" minlon="116.3130" maxlat="40.0010" maxlon="116.3450"/>\n',
    )
    counts = import_osm(db, neighbour)
    assert counts["segments_written"] == 1 and counts["segments_retired"] == 0
    assert counts["streets_retired"] == 0 and counts["retire_skipped"] == 1
    assert _live_count(db) == live + 1


_ALLEY_HIGHWAYS = "footway|service|path|living_street|pedestrian|steps|track|cycleway"


def test_a_mass_retirement_is_refused_whole(db, tmp_path):
    """A file cut by tags (main roads only) keeps the demo's <bounds>: every alley inside
    would go. Old code: retired them all. Now the import is refused, nothing written (not
    even its buildings), the message names the counts and both ways on; ``none`` imports it
    retiring nothing, ``all`` retires past the guard."""
    from geo.errors import InputError
    from tests.dbcheck import fingerprint

    _city(db)
    xml = OSM.read_text(encoding="utf-8")
    xml, n = re.subn(
        rf'\n\s*<way id="\d+"[^>]*>(?:(?!</way>).)*k="highway" v="(?:{_ALLEY_HIGHWAYS})".*?</way>',
        "",
        xml,
        flags=re.S,
    )
    assert n > 50
    cut = tmp_path / "main_roads.osm"
    cut.write_text(xml, encoding="utf-8")
    live = _live_count(db)
    before = fingerprint(db)
    with pytest.raises(InputError) as err:
        import_osm(db, cut)
    assert fingerprint(db) == before
    from geo.importer import RETIRE_GUARD_MIN, RETIRE_GUARD_SHARE, RetirementRefused

    assert isinstance(err.value, RetirementRefused)
    message = str(err.value)
    got = re.search(r"would retire (\d+) of the (\d+) live", message)
    assert got is not None, message
    retiring, judged = int(got[1]), int(got[2])
    assert (retiring, judged) == (err.value.retiring, err.value.judged)
    assert retiring > RETIRE_GUARD_MIN and retiring > RETIRE_GUARD_SHARE * judged
    assert judged <= live
    assert "main_roads.osm" in message and "nothing was imported" in message
    assert "--retire none" in message and "--retire all" in message

    counts = import_osm(db, cut, retire="none")
    assert counts["segments_retired"] == 0 and _live_count(db) >= live
    counts = import_osm(db, cut, retire="all")
    assert counts["segments_retired"] >= retiring


def test_restoring_a_segment_keeps_the_days_it_was_retired(db, tmp_path):
    """Review R3: a way retired (re-import without it, backdated 10 days) and then back in
    the original file. Old code: restoring set ``retired_at`` NULL, so the days it was
    retired (when it could not be matched) counted it again: the alley of day −5 grew from
    742 m to 1122 m. Now the retirement period is kept: day −5 is unchanged (report, patrol
    map, the SQL live test of the chief corridor), and from the restore on it counts."""
    from geo.map_data import patrols_of_day

    _city(db)
    today = city_today()
    day = today - dt.timedelta(days=5)
    with db.connect() as conn:
        way, alley = _way_of_a_multi_way_alley(conn)
        way_ids = set(
            conn.execute(
                text("SELECT id FROM street_segments WHERE osm_way_id = :w"), {"w": way}
            ).scalars()
        )
    _assign(db, alley)
    full = _alley_length(build_report(db, "daily", today), alley)
    import_osm(db, _without_way(way, tmp_path / "edited.osm"))
    with db.begin() as conn:  # that re-import was 10 days ago
        conn.execute(
            text(
                "UPDATE street_segments SET retired_at = retired_at - interval '10 days' "
                "WHERE retired_at IS NOT NULL"
            )
        )
        conn.execute(
            text(
                "UPDATE streets SET retired_at = retired_at - interval '10 days' "
                "WHERE retired_at IS NOT NULL"
            )
        )
    before = build_report(db, "daily", day)
    shorter = _alley_length(before, alley)
    assert shorter < full - 50

    counts = import_osm(db, OSM)  # the way is back today
    assert counts["segments_restored"] >= len(way_ids)
    after = build_report(db, "daily", day)
    assert _alley_length(after, alley) == pytest.approx(shorter)
    for part in ("people", "alleys"):
        assert_frame_equal(after[part], before[part])
    with db.connect() as conn:  # the period it was retired, kept
        periods = conn.execute(
            text("SELECT segment_id, retired_at, restored_at FROM segment_retirements")
        ).all()
    assert way_ids <= {p.segment_id for p in periods}
    assert all(p.restored_at - p.retired_at > dt.timedelta(days=9) for p in periods)
    # the patrol map draws the alley of that day as the report measured it
    feature = next(
        f
        for f in patrols_of_day(db, day).alleys["features"]
        if f["properties"]["id"] == alley and f["properties"]["role"] == "alley_steward"
    )
    drawn = GEOD.geometry_length(shapely.geometry.shape(feature["geometry"]))
    assert drawn == pytest.approx(shorter, rel=0.01)
    # the SQL test the chief corridor and the map use: not live at day −5's end, live now
    from geo.patrol_days import segment_live_at

    day_end = dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(get_settings().timezone)
    )
    with db.connect() as conn:

        def live_at(t: dt.datetime) -> set[int]:
            return set(
                conn.execute(
                    text(
                        "SELECT s.id FROM street_segments s WHERE s.osm_way_id = :w AND "
                        + segment_live_at("s", "CAST(:t AS timestamptz)")
                    ),
                    {"w": way, "t": t},
                ).scalars()
            )

        assert live_at(day_end) == set()
        assert live_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == way_ids
    # from the restore on the alley is whole again
    assert _alley_length(build_report(db, "daily", today), alley) == pytest.approx(full)


def test_a_way_crossing_the_bounds_re_split_retires_its_old_segment(db, tmp_path):
    """A way crossing the file's bounds edge, split anew where a new footway joins it
    inside the bounds. Old code: its old segment was never retired (not wholly inside the
    bounds) and the two new ones were added beside it: that stretch of the alley counted
    twice. The file holds the way in full, so its old segment is retired wherever it lies."""
    import xml.etree.ElementTree as ET

    _city(db)
    x0, y0, x1, y1 = 116.313, 39.9905, 116.325, 40.001  # the fixture's <bounds>
    tree = ET.parse(OSM)
    nodes = {
        int(n.get("id")): (float(n.get("lon")), float(n.get("lat")))
        for n in tree.getroot().iter("node")
    }
    way_nodes = {
        int(w.get("id")): [int(nd.get("ref")) for nd in w.iter("nd")]
        for w in tree.getroot().iter("way")
    }
    with db.connect() as conn:
        crossing = conn.execute(
            text(
                "SELECT s.id, s.osm_way_id, s.from_node, s.to_node, s.street_id "
                "FROM street_segments s WHERE s.kind = 'alley' AND ST_NPoints(s.geom) >= 3 "
                f"AND NOT {_INSIDE} ORDER BY s.length_m DESC"
            )
        ).all()

    def inner_node(seg: Any) -> int | None:  # a vertex of the segment inside the bounds
        refs = way_nodes[seg.osm_way_id]
        a, b = refs.index(seg.from_node), refs.index(seg.to_node)
        for ref in refs[min(a, b) + 1 : max(a, b)]:
            lon, lat = nodes[ref]
            if x0 + 0.001 < lon < x1 - 0.001 and y0 + 0.001 < lat < y1 - 0.001:
                return ref
        return None

    seg, joint = next((s, n) for s in crossing if (n := inner_node(s)) is not None)
    lon, lat = nodes[joint]
    end_lon = lon + (0.0004 if lon < (x0 + x1) / 2 else -0.0004)
    xml = OSM.read_text(encoding="utf-8")
    xml, n = re.subn(
        r"(\n\s*<bounds [^>]*/>)",
        rf'\1\n <node id="9400001" lat="{lat}" lon="{end_lon}"/>',
        xml,
    )
    assert n == 1
    new_way = (
        f'\n <way id="9400001"><nd ref="{joint}"/><nd ref="9400001"/>'
        '<tag k="highway" v="footway"/></way>'
    )
    first_way = xml.index("\n <way ")
    xml = xml[:first_way] + new_way + xml[first_way:]
    edited = tmp_path / "joined.osm"
    edited.write_text(xml, encoding="utf-8")

    def street_length() -> float:
        with db.connect() as conn:
            return conn.execute(
                text(
                    "SELECT sum(length_m) FROM street_segments "
                    "WHERE street_id = :s AND retired_at IS NULL"
                ),
                {"s": seg.street_id},
            ).scalar_one()

    length = street_length()
    counts = import_osm(db, edited)
    assert counts["segments_written"] == 3  # the footway and the two halves
    assert counts["segments_retired"] == 1
    with db.connect() as conn:
        retired = conn.execute(
            text("SELECT retired_at FROM street_segments WHERE id = :i"), {"i": seg.id}
        ).scalar_one()
        halves = conn.execute(
            text(
                "SELECT count(*) FROM street_segments WHERE osm_way_id = :w "
                "AND retired_at IS NULL AND (from_node = :j OR to_node = :j)"
            ),
            {"w": seg.osm_way_id, "j": joint},
        ).scalar_one()
    assert retired is not None and halves == 2
    assert street_length() == pytest.approx(length, abs=0.5)


def _with_new_way(way: int, dst: Path) -> tuple[Path, float]:
    """The fixture with a new way of the same tags as ``way`` (so the same street key: the
    same named alley), drawn ~110 m north from ``way``'s first node; and its length (m)."""
    xml = OSM.read_text(encoding="utf-8")
    body = re.search(rf'<way id="{way}"[^>]*>(.*?)</way>', xml, flags=re.S).group(1)
    first = re.search(r'<nd ref="(\d+)"', body).group(1)
    tags = "".join(re.findall(r"<tag [^>]*/>", body))
    node = re.search(rf'<node id="{first}"[^>]*>|<node id="{first}"[^>]*/>', xml).group(0)
    lat = float(re.search(r'lat="([-\d.]+)"', node).group(1))
    lon = float(re.search(r'lon="([-\d.]+)"', node).group(1))
    # ids above the file's, each in its block: osmium wants nodes, then ways, in id order
    node_xml = f' <node id="9900000001" lat="{lat + 0.001:.7f}" lon="{lon:.7f}"/>\n'
    way_xml = f' <way id="990000001"><nd ref="{first}"/><nd ref="9900000001"/>{tags}</way>\n'
    at = xml.index(" <way ")
    xml = xml[:at] + node_xml + xml[at:]
    dst.write_text(xml.replace("</osm>", way_xml + "</osm>"), encoding="utf-8")
    return dst, GEOD.inv(lon, lat, lon, lat + 0.001)[2]


def test_a_segment_added_by_a_re_import_counts_from_that_day_on(db, tmp_path):
    """A newer extract maps a new stretch of an assigned alley. Old code: the new segment
    counted on every past day, so the alley of yesterday (already reported) grew by its
    length and yesterday's share walked dropped. Now it is ``added_at`` the import: the
    days before keep their network (report, patrol map, the SQL live test), today has it.
    A first import (and an extract sharing nothing with the stored network) adds nothing
    that way: walks made before the network was loaded are reported on it."""
    from geo.map_data import patrols_of_day
    from geo.patrol_days import segment_live_at

    _city(db)
    with db.connect() as conn:  # the first import: there from the start
        assert (
            conn.execute(
                text("SELECT count(*) FROM street_segments WHERE added_at IS NOT NULL")
            ).scalar_one()
            == 0
        )
        way, alley = _way_of_a_multi_way_alley(conn)
        seg_wkb = _longest_segment(conn, way)[1]
    _assign(db, alley)
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    assert _walk(db, seg_wkb, yesterday, "yesterday.csv")["status"] == "matched"
    before = build_report(db, "daily", yesterday)
    length = _alley_length(before, alley)
    walked = float(before["alleys"].set_index("alley_id").loc[alley, "walked_share"])
    assert walked > 0

    newer, added_m = _with_new_way(way, tmp_path / "newer.osm")
    counts = import_osm(db, newer)
    assert counts["segments_added"] == 1 and counts["segments_retired"] == 0
    with db.connect() as conn:
        new_id, added_at, street = conn.execute(
            text("SELECT id, added_at, street_id FROM street_segments WHERE osm_way_id = 990000001")
        ).one()
    assert street == alley and added_at is not None

    after = build_report(db, "daily", yesterday)
    for part in ("people", "alleys"):
        assert_frame_equal(after[part], before[part])
    feature = next(
        f
        for f in patrols_of_day(db, yesterday).alleys["features"]
        if f["properties"]["id"] == alley and f["properties"]["role"] == "alley_steward"
    )
    drawn = GEOD.geometry_length(shapely.geometry.shape(feature["geometry"]))
    assert drawn == pytest.approx(length, rel=0.01)
    assert _alley_length(build_report(db, "daily", today), alley) == pytest.approx(
        length + added_m, abs=1.0
    )
    end_of_yesterday = dt.datetime.combine(
        today, dt.time(0), tzinfo=ZoneInfo(get_settings().timezone)
    )
    with db.connect() as conn:

        def live_at(t: dt.datetime) -> bool:
            return (
                conn.execute(
                    text(
                        "SELECT count(*) FROM street_segments s WHERE s.id = :i AND "
                        + segment_live_at("s", "CAST(:t AS timestamptz)")
                    ),
                    {"i": new_id, "t": t},
                ).scalar_one()
                == 1
            )

        assert not live_at(end_of_yesterday)
        assert live_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    # the same file again adds nothing; an extract sharing nothing adds from the start
    assert import_osm(db, newer)["segments_added"] == 0
    far = _osm(
        tmp_path / "far.osm",
        ' <node id="9100001" lat="39.9000" lon="116.4000"/>\n'
        ' <node id="9100002" lat="39.9010" lon="116.4010"/>\n'
        ' <way id="9100001"><nd ref="9100001"/><nd ref="9100002"/>'
        '<tag k="highway" v="footway"/></way>\n',
    )
    assert import_osm(db, far)["segments_added"] == 1
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT added_at FROM street_segments WHERE osm_way_id = 9100001")
            ).scalar_one()
            is None
        )


def _re_split_file(db: Engine, dst: Path) -> tuple[int, int, bytes, Path]:
    """(alley, segment, its WKB, file): the fixture with a new footway joining the longest
    segment of a multi-way alley at a node in its middle, so that a re-import re-splits it
    (the segment retired, its two halves and the footway added)."""
    with db.connect() as conn:
        way, alley = _way_of_a_multi_way_alley(conn)
        seg, seg_wkb = _longest_segment(conn, way)
        # a node of that segment's way in its middle (not an end): the new footway's junction
        middle = conn.execute(
            text(
                "SELECT ST_X(p.geom), ST_Y(p.geom) FROM street_segments s, "
                "ST_DumpPoints(s.geom) p WHERE s.id = :s AND p.path[1] = 2"
            ),
            {"s": seg},
        ).one()
    xml = OSM.read_text(encoding="utf-8")
    node = next(
        m
        for m in re.finditer(r'<node id="(\d+)"[^>]*lat="([-\d.]+)" lon="([-\d.]+)"', xml)
        if abs(float(m.group(3)) - middle[0]) < 1e-7 and abs(float(m.group(2)) - middle[1]) < 1e-7
    )
    if node is None:  # pragma: no cover - the fixture's alleys have shape nodes
        pytest.skip("no middle node")
    ref, lat, lon = node.group(1), float(node.group(2)), float(node.group(3))
    at = xml.index(" <way ")
    xml = (
        xml[:at] + f' <node id="9900000002" lat="{lat + 0.0008:.7f}" lon="{lon:.7f}"/>\n' + xml[at:]
    )
    xml = xml.replace(
        "</osm>",
        f' <way id="990000002"><nd ref="{ref}"/><nd ref="9900000002"/>'
        '<tag k="highway" v="footway"/></way>\n</osm>',
    )
    dst.write_text(xml, encoding="utf-8")
    return alley, seg, seg_wkb, dst


def test_a_past_walk_matched_after_a_re_split_keeps_its_credit(db, tmp_path):
    """Acceptance tester: a new footway joining an alley's way in its middle re-splits it
    (its segment retired, two new ones added today). Old code: a walk of yesterday uploaded,
    or re-matched (``tracks rematch``), after that import was matched on today's network,
    onto the two new pieces, which do not count yesterday: the patrolled alley fell to a
    fraction of its length. Now a walk is matched on the network of its own day: yesterday's
    report is the same whether the walk came before or after the import."""
    from geo.match_queue import drain_queue, requeue_tracks

    _city(db)
    alley, seg, seg_wkb, split = _re_split_file(db, tmp_path / "split.osm")
    _assign(db, alley)
    yesterday = city_today() - dt.timedelta(days=1)
    early = _walk(db, seg_wkb, yesterday, "before.csv")
    assert seg in _credited(db, early["track_id"])
    before = build_report(db, "daily", yesterday)
    walked = float(before["alleys"].set_index("alley_id").loc[alley, "walked_m"])
    assert walked > 0

    counts = import_osm(db, split)
    assert counts["segments_retired"] >= 1 and counts["segments_added"] >= 3
    with db.connect() as conn:
        assert conn.execute(
            text("SELECT retired_at IS NOT NULL FROM street_segments WHERE id = :s"), {"s": seg}
        ).scalar_one()
    # re-matched after the import: the same credit, on the segment of that day
    requeue_tracks(db, [early["track_id"]])
    drain_queue(db)
    assert seg in _credited(db, early["track_id"])
    after = build_report(db, "daily", yesterday)
    for part in ("people", "alleys"):
        assert_frame_equal(after[part], before[part])
    # the same walk uploaded late (other bytes: another file name and a shift of a second)
    with db.begin() as conn:
        conn.execute(
            text("DELETE FROM patrol_visits WHERE track_id = :t"), {"t": early["track_id"]}
        )
    late = _walk(db, seg_wkb, yesterday, "late.csv", second=1)
    assert late["status"] == "matched" and seg in _credited(db, late["track_id"])
    again = build_report(db, "daily", yesterday)
    assert float(again["alleys"].set_index("alley_id").loc[alley, "walked_m"]) == pytest.approx(
        walked, abs=0.5
    )
    # a walk of today is matched on today's network: the new pieces, not the retired one
    today = _walk(db, seg_wkb, city_today(), "today.csv")
    got = _credited(db, today["track_id"])
    assert seg not in got and got


def test_a_walk_over_the_midnight_of_a_re_split_is_matched_on_each_days_network(db, tmp_path):
    """A walk from 23:5x to 00:0x over an alley segment that a re-import re-split the next
    day. Old code: the walk was matched whole on its first day's network, so its second
    day's stretch went onto the old segment, which that day does not count (retired then):
    the second day's report credited nothing of it. Now each day keeps its part from a match
    on its own network: the old segment before midnight, the new halves after."""
    _city(db)
    alley, seg, seg_wkb, split = _re_split_file(db, tmp_path / "split.osm")
    _assign(db, alley)
    assert import_osm(db, split)["segments_retired"] >= 1
    # the import as if made yesterday at this time: the network of the walk's first day
    # (the day before) is the old one, yesterday's the new one, whatever the time now
    with db.begin() as conn:
        for table, col in (
            ("street_segments", "added_at"),
            ("street_segments", "retired_at"),
            ("segment_retirements", "retired_at"),
        ):
            conn.execute(
                text(f"UPDATE {table} SET {col} = {col} - interval '1 day' WHERE {col} IS NOT NULL")
            )
    tz = ZoneInfo(get_settings().timezone)
    second_day = city_today() - dt.timedelta(days=1)
    first_day = second_day - dt.timedelta(days=1)
    midnight = dt.datetime.combine(second_day, dt.time(0), tzinfo=tz)
    start = midnight - dt.timedelta(seconds=3 * (_fixes_along(seg_wkb) // 2) + 1)
    walk = _walk(db, seg_wkb, first_day, "over-midnight.csv", start=start)
    assert walk["status"] == "matched"
    with db.connect() as conn:
        visits = conn.execute(
            text(
                "SELECT v.day, v.segment_id, s.retired_at IS NOT NULL AS retired FROM "
                "patrol_visits v JOIN street_segments s ON s.id = v.segment_id "
                "WHERE v.track_id = :t"
            ),
            {"t": walk["track_id"]},
        ).all()
    first = {v.segment_id for v in visits if v.day == first_day}
    second = {v.segment_id: v.retired for v in visits if v.day == second_day}
    assert seg in first
    assert second and seg not in second and not any(second.values())
    walked = build_report(db, "daily", second_day)["alleys"].set_index("alley_id")
    seg_m = GEOD.geometry_length(shapely.from_wkb(bytes(seg_wkb)))
    assert float(walked.loc[alley, "walked_m"]) == pytest.approx(seg_m / 2, abs=12)
    before = build_report(db, "daily", first_day)["alleys"].set_index("alley_id")
    assert float(before.loc[alley, "walked_m"]) == pytest.approx(seg_m / 2, abs=12)


@pytest.mark.parametrize("queue_only", [False, True])
def test_an_import_that_changes_the_network_rematches_todays_walks(
    db, pg_url, tmp_path, queue_only
):
    """Acceptance tester: a re-import that re-split an alley left this morning's walk on the
    retired segment, so the patrol fell out of today's report until someone ran `tracks
    rematch`. Now `import osm` re-matches today's walks when the network changed (or queues
    them, --queue-only: visits kept until a worker matches them)."""
    from tests.test_import import run_cli

    _city(db)
    alley, seg, seg_wkb, split = _re_split_file(db, tmp_path / "split.osm")
    _assign(db, alley)
    walk = _walk(db, seg_wkb, city_today(), "today.csv")
    assert _credited(db, walk["track_id"]) == {seg}
    yesterday = _walk(db, seg_wkb, city_today() - dt.timedelta(days=1), "yesterday.csv")
    args = ["import", "osm", str(split)] + (["--queue-only"] if queue_only else [])
    proc = run_cli(args, pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "1 walks of today queued for re-matching" in proc.stdout
    with db.connect() as conn:
        status = dict(conn.execute(text("SELECT id, status FROM tracks")).all())
    assert status[yesterday["track_id"]] == "matched"  # its day kept its network
    assert _credited(db, yesterday["track_id"]) == {seg}
    if queue_only:
        assert status[walk["track_id"]] == "queued"
        assert _credited(db, walk["track_id"]) == {seg}  # kept until a worker matches it
        return
    assert status[walk["track_id"]] == "matched"
    got = _credited(db, walk["track_id"])
    assert seg not in got and len(got) >= 2
    today = build_report(db, "daily", city_today())["alleys"].set_index("alley_id")
    seg_m = GEOD.geometry_length(shapely.from_wkb(bytes(seg_wkb)))
    assert float(today.loc[alley, "walked_m"]) == pytest.approx(seg_m, abs=12)
