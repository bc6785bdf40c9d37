"""The fixes of stored tracks: written by COPY (:func:`copy_points`) and read back in upload
order (:func:`read_track_points`), from an upload's kept bytes when retention dropped its days.

Apart from the store because copy detection, withdrawal and restore, the match queue, the map
and a migration read or write fixes too, and this is all they need of the store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from geo.settings import get_settings
from geo.sql_frames import read_frame


def copy_points(conn: Any, track_id: int, pts: pd.DataFrame) -> None:
    """COPY a track's fixes into track_points (their day tables must exist): an upload's,
    a corrected one's, a restored one's (:mod:`geo.track_withdraw`)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    acc = pts["accuracy"].to_numpy(float) if "accuracy" in pts else np.full(len(pts), np.nan)
    # hex EWKB made in one vectorised call: PostGIS parses it much faster than WKT text
    wkb = shapely.to_wkb(
        shapely.set_srid(shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy()), 4326),
        hex=True,
        include_srid=True,
    )
    # The COPY text is built in one pass and written once: numpy formats the times (strftime
    # through pandas cost ~3 µs a fix) and psycopg's write_row per fix cost as much again.
    when = pd.DatetimeIndex(pts["time"])
    if when.tz is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    utc = when.to_numpy("datetime64[us]")
    times = np.datetime_as_string(utc, unit="us")
    accs = [r"\N" if a != a else repr(a) for a in acc.tolist()]
    body = "".join(
        f"{track_id}\t{i}\t{t}+00\t{a}\t{g}\n"
        for i, (t, a, g) in enumerate(zip(times.tolist(), accs, wkb.tolist(), strict=True))
    )
    with (
        raw.cursor() as cur,
        cur.copy("COPY track_points (track_id, seq, t, accuracy, geom) FROM STDIN") as cp,
    ):
        cp.write(body.encode())


def track_spans(conn: Any, track_ids: list[int]) -> list[Any]:
    """The tracks' rows (id, n_points, started_at, ended_at): where their fixes are."""
    return conn.execute(
        text("SELECT id, n_points, started_at, ended_at FROM tracks WHERE id = ANY(:ids)"),
        {"ids": list(track_ids)},
    ).all()


# a track without a recorded start or end: its fixes may lie on any day
_EVER = (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC))


def days_of(spans: list[Any]) -> tuple[str, dict[str, Any]]:
    """An SQL condition on ``track_points.t`` (starting " AND ") that holds the fixes of the
    tracks ``spans`` (:func:`track_spans`; no rows when there are none), and its parameters:
    the tracks' time spans, those a day or less apart merged into one.

    WHY spans as parameters, not a subquery of tracks: a subquery's value is known only when
    the query runs, so the planner planned every day's partition (then skipped them); with a
    year of fixes kept (370 day tables) a read cost ~20 ms of planning. WHY each span apart:
    the walks a new upload may copy lie on days months apart, and one range from the first
    to the last planned every day between."""
    ranges: list[list[dt.datetime]] = []
    for lo, hi in sorted((r.started_at or _EVER[0], r.ended_at or _EVER[1]) for r in spans):
        if ranges and lo - ranges[-1][1] <= dt.timedelta(days=1):
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    if not ranges:
        return " AND false", {}
    where = " OR ".join(f"(t >= :t_lo{i} AND t <= :t_hi{i})" for i in range(len(ranges)))
    params = {}
    for i, (lo, hi) in enumerate(ranges):
        params[f"t_lo{i}"], params[f"t_hi{i}"] = lo, hi
    return f" AND ({where})", params


def read_track_points(conn: Any, track_ids: list[int]) -> pd.DataFrame:
    """Stored fixes of ``track_ids`` (track_id, time UTC, accuracy, lon, lat) in upload order."""
    spans = track_spans(conn, track_ids)
    # only the tracks' days' partitions are read (a track without a recorded span reads every day)
    where, params = days_of(spans)
    pts = read_frame(
        text(
            "SELECT track_id, t AS time, accuracy, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            f"FROM track_points WHERE track_id = ANY(:ids){where} ORDER BY track_id, seq"
        ),
        conn,
        params={"ids": list(track_ids), **params},
    )
    pts["time"] = pd.to_datetime(pts["time"], utc=True)
    pts["accuracy"] = pts["accuracy"].astype(float)
    return _with_archived(conn, pts, spans)


def _with_archived(conn: Any, pts: pd.DataFrame, spans: list[Any]) -> pd.DataFrame:
    """``pts`` completed from the uploads' raw bytes for tracks whose day tables were dropped
    (:func:`geo.track_partitions.drop_days_before`), so re-matching an old track never sees
    it empty. The bytes are parsed by today's parser: the same fixes unless a parsing rule
    changed since the upload (e.g. zone-less GPX times, read as UTC since 2026-11, were read
    in the city's time before), in which case the re-read is the corrected one. ``spans``:
    the tracks' rows (:func:`track_spans`)."""
    from geo.tracks.parse import parse_track

    have = pts["track_id"].value_counts()
    missing = [r.id for r in spans if int(have.get(r.id, 0)) < (r.n_points or 0)]
    if not missing:  # the usual case: no upload's bytes are fetched
        return pts
    short = conn.execute(
        text(
            "SELECT id, raw, filename, crs, uploaded_at FROM tracks WHERE id = ANY(:ids) "
            "ORDER BY id"
        ),
        {"ids": missing},
    ).all()
    s = get_settings()
    kept = pts[~pts["track_id"].isin([r.id for r in short])]
    parts = [kept] if len(kept) else []  # an empty read has object columns: leave it out
    for r in short:
        raw = bytes(r.raw)
        # the upload limit, as when the file was taken: it bounds what a KMZ unpacks to, and
        # a KMZ always unpacks to more than its own size (a limit of len(raw) + 1 refused every
        # kept KMZ). Never below the stored size: a limit lowered since does not lock a kept
        # upload out.
        limit = max(s.max_upload_bytes, len(raw))
        # read as at its upload: a GPS week rollover is judged by the days before the upload
        at = pd.Timestamp(r.uploaded_at)
        p = parse_track(raw, r.filename, r.crs or "wgs84", limit, s.timezone, now=at).points
        parts.append(p[["time", "accuracy", "lon", "lat"]].assign(track_id=r.id))
    out = pd.concat(parts, ignore_index=True)[list(pts.columns)]
    out["track_id"] = out["track_id"].astype(np.int64)
    return out.sort_values("track_id", kind="stable").reset_index(drop=True)
