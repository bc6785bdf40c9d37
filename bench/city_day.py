"""A simulated city-day end to end on PostGIS: N stewards × 1 hour at one fix per 3 s.

    python bench/city_day.py [--stewards 4000] [--minutes 60] [--dt 3]

Real network (both Haidian OSM extracts in ../shared/data), a throwaway embedded PostGIS
cluster, simulated patrol walks (known truth) uploaded as CSV bytes through the same functions
POST /tracks uses (parse → store raw + points with COPY → clean → HMM match → patrol visits),
then one queue worker matches them in batches (geo.match_queue, as `gridward tracks worker`),
then the daily report. Prints the time of every stage and points per second.

Alternatives in the same run: matching one track per call (the synchronous upload path) on a
sample, against the batched queue; storing points row by row with executemany INSERTs (what an
ORM does by default) on a sample of the tracks, against our COPY path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.areas_import import import_areas  # noqa: E402
from geo.day_networks import walk_network  # noqa: E402
from geo.db import dispose_engines, get_engine  # noqa: E402
from geo.demo import track_csv  # noqa: E402
from geo.embedded import EmbeddedCluster  # noqa: E402
from geo.importer import import_osm  # noqa: E402
from geo.map_data import extent, patrols_of_day  # noqa: E402
from geo.match_queue import drain_queue  # noqa: E402
from geo.patrol_reports import build_report  # noqa: E402
from geo.track_store import match_stored_track, store_track  # noqa: E402
from geo.tracks.simulate import SimParams, simulate_patrol  # noqa: E402
from maps.patrol_map import build_patrol_map  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm_beijing_haidian"


# the synthetic areas' codes the patrol page is timed on (see _import_grid_areas)
SUBDISTRICT, COMMUNITY = "110108001", "110108001016"  # its corner is the centre


def import_city(engine: Engine, folder: Path) -> None:
    """The city every city-scale benchmark runs on: both Haidian OSM extracts and the
    synthetic areas over them (:func:`_import_grid_areas`)."""
    for name in ("tsinghua_wudaokou_2017.osm", "cau_xueqinglu_2026.osm"):
        import_osm(engine, DATA / name)
    _import_grid_areas(engine, folder)


def _import_grid_areas(engine: Engine, folder: Path) -> None:
    """Areas over the network: the extent cut into 8 × 8 communities, 4 subdistricts of
    4 × 4 (codes 110108SSSCCC). Synthetic: the OSM extracts hold no official boundaries, and
    the patrol page's area filter is timed on areas of a known share of the city."""
    import geopandas as gpd
    from shapely.geometry import box

    x0, y0, x1, y1 = extent(engine)
    w, h = (x1 - x0) / 8, (y1 - y0) / 8
    rows = []
    for i in range(8):
        for j in range(8):
            sub = 1 + (i // 4) * 2 + j // 4
            rows.append(
                {
                    "code": f"110108{sub:03d}{1 + (i % 4) * 4 + j % 4:03d}",
                    "name": f"社区 {i}-{j}",
                    "subdistrict_code": f"110108{sub:03d}",
                    "subdistrict_name": f"街道 {sub}",
                    "district_code": "110108",
                    "district_name": "海淀区",
                    "geometry": box(x0 + j * w, y0 + i * h, x0 + (j + 1) * w, y0 + (i + 1) * h),
                }
            )
    path = folder / "areas.geojson"
    gpd.GeoDataFrame(rows, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    import_areas(engine, path, level="community")


def _timed_judging() -> dict[str, float]:
    """Wrap geo.track_judging.judge_matched (as the queue and the upload path call it) to sum
    the seconds spent judging walks and how many were judged: the flags' share of matching."""
    import geo.track_judging as judging
    import geo.track_store as track_store

    spent = {"s": 0.0, "n": 0}
    inner = judging.judge_matched

    def timed(conn, track_ids):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        try:
            return inner(conn, track_ids)
        finally:
            spent["s"] += time.perf_counter() - t0
            spent["n"] += len(track_ids)

    judging.judge_matched = timed
    track_store.judge_matched = timed
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stewards", type=int, default=4000)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--dt", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=200, help="tracks per queue batch")
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        "figures are wall-clock on a shared machine"
    )

    folder = Path(tempfile.mkdtemp(prefix="gridward-bench-"))
    folder.chmod(0o755)
    cluster = EmbeddedCluster(folder / "data", fast=True)
    state = cluster.start()
    try:
        engine = get_engine(state.url)
        import_city(engine, folder)
        day = dt.date(2026, 3, 2)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) SELECT 'S' || g, '巡查员' || g, "
                    "ARRAY['alley_steward'] FROM generate_series(1, :n) g"
                ),
                {"n": args.stewards},
            )
            # every alley gets stewards round-robin (the assignment solver is benched apart)
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                    "SELECT p.id, 'alley_steward', s.id, :d FROM (SELECT id, row_number() OVER "
                    "(ORDER BY id) AS r FROM streets WHERE kind = 'alley') s JOIN (SELECT id, "
                    "row_number() OVER (ORDER BY id) AS r FROM people) p "
                    "ON (s.r - 1) % :n = (p.r - 1)"
                ),
                {"d": day, "n": args.stewards},
            )
        net = walk_network(engine)
        rng = np.random.default_rng(args.seed)
        length = 1.3 * args.minutes * 60
        t = time.perf_counter()
        files = []
        for i in range(args.stewards):
            start = pd.Timestamp(f"{day}T00:00:00Z") + pd.Timedelta(
                minutes=int(rng.integers(0, 240))
            )
            pts, _ = simulate_patrol(
                net,
                rng,
                SimParams(length_m=length, dt_s=args.dt, noise_m=8, start=start.isoformat()),
            )
            files.append((i + 1, track_csv(pts), len(pts)))
        sim_s = time.perf_counter() - t
        n_points = sum(n for _, _, n in files)
        print(f"simulated {args.stewards} tracks, {n_points:,} points in {sim_s:.1f} s")

        t = time.perf_counter()
        ids = []
        for person, data, _ in files:
            ids.append(
                store_track(
                    engine, data, f"s{person}.csv", "wgs84", person, "bench", queue=True
                ).track_id
            )
        ingest_s = time.perf_counter() - t
        print(
            f"ingest (parse + raw bytes + COPY points): {ingest_s:.1f} s, "
            f"{n_points / ingest_s:,.0f} points/s"
        )

        judging = _timed_judging()
        t = time.perf_counter()
        rep = drain_queue(engine, batch=args.batch)
        match_s = time.perf_counter() - t
        print(
            f"match queue, one worker, batches of {args.batch} (claim + read points + clean + "
            f"match + patrol visits + flags): {match_s:.1f} s, {n_points / match_s:,.0f} "
            f"points/s; {rep.matched} matched, {rep.failed} failed, {rep.visits:,} segment visits"
        )
        print(
            f"  of which judging the walks (flags, geo.track_judging): {judging['s']:.1f} s, "
            f"{1000 * judging['s'] / max(judging['n'], 1):.0f} ms per track; without it the "
            f"queue would take {match_s - judging['s']:.1f} s"
        )

        t = time.perf_counter()
        rep = build_report(engine, "daily", day)
        report_s = time.perf_counter() - t
        people = rep["people"]
        print(
            f"daily report: {report_s:.1f} s; {len(people)} stewards, mean compliance "
            f"{people['compliance'].mean():.2f}"
        )
        total = ingest_s + match_s + report_s
        print(f"city-day end to end (without simulation): {total:.1f} s for {n_points:,} points")

        # the patrol map page (/maps/patrols) at city scale, for everyone and for one steward:
        # the day's report, the 14 days' compliance chart, the tracks and the HTML; read
        # against the daily report above (the page's own cost is what it adds to that)
        bounds = extent(engine)
        pages = (
            ("everyone", None, None),
            ("one subdistrict (¼ of the city)", None, SUBDISTRICT),
            ("one community (1/64)", None, COMMUNITY),
            ("one steward", 1, None),
        )
        for who, person, area in pages:
            t = time.perf_counter()
            page_data = patrols_of_day(engine, day, person_id=person, today=day, area=area)
            data_s = time.perf_counter() - t
            t = time.perf_counter()
            html = build_patrol_map(page_data, bounds)
            html_s = time.perf_counter() - t
            print(
                f"patrol map page, {who}: data {data_s:.2f} s (the daily report alone "
                f"{report_s:.2f} s), HTML {html_s:.2f} s, {len(html) / 1e6:.1f} MB; "
                f"{len(page_data.alleys['features'])} alleys, {len(page_data.tracks)} tracks"
            )

        # alternative for matching: one track per transaction (the synchronous upload path,
        # match_stored_track) on a sample of the same tracks, re-matched
        sample_ids = ids[: min(200, len(ids))]
        with engine.connect() as conn:
            sample_n = conn.execute(
                text("SELECT sum(n_points) FROM tracks WHERE id = ANY(:i)"), {"i": sample_ids}
            ).scalar()
        t = time.perf_counter()
        for tid in sample_ids:
            match_stored_track(engine, tid)
        one_s = time.perf_counter() - t
        print(
            f"alternative, one track per call (match_stored_track) on {len(sample_ids)} tracks: "
            f"{sample_n / one_s:,.0f} points/s (queue batches: {n_points / match_s:,.0f})"
        )

        # the alternative: the same upload path (parse, checks, raw bytes, partitions, audit,
        # queue), only the fixes stored row by row with an executemany INSERT (an ORM's
        # default) instead of our COPY, on a sample of the tracks (changed bytes: new tracks)
        import geo.track_store as track_store

        def insert_rows(conn, track_id: int, pts: pd.DataFrame) -> None:
            conn.execute(
                text(
                    "INSERT INTO track_points (track_id, seq, t, accuracy, geom) VALUES (:k, "
                    ":s, :t, :a, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                [
                    {"k": track_id, "s": i, "t": t, "a": None if a != a else a, "x": x, "y": y}
                    for i, (x, y, t, a) in enumerate(
                        zip(
                            pts["lon"].tolist(),
                            pts["lat"].tolist(),
                            pts["time"].dt.to_pydatetime().tolist(),
                            pts["accuracy"].tolist(),
                            strict=True,
                        )
                    )
                ],
            )

        sample = files[: min(50, len(files))]
        sample_pts = sum(n for _, _, n in sample)
        copy_points = track_store.copy_points
        timings = {}
        for name, fn, extra in (("COPY", copy_points, b"\n"), ("INSERT", insert_rows, b"\n\n")):
            track_store.copy_points = fn
            t = time.perf_counter()
            for person, data, _ in sample:
                store_track(engine, data + extra, f"alt{person}.csv", "wgs84", person, "bench")
            timings[name] = time.perf_counter() - t
        track_store.copy_points = copy_points
        print(
            f"store path on {len(sample)} tracks ({sample_pts:,} points): fixes by COPY "
            f"{sample_pts / timings['COPY']:,.0f} points/s, by executemany INSERT "
            f"{sample_pts / timings['INSERT']:,.0f} points/s"
        )
    finally:
        dispose_engines()
        cluster.destroy()


if __name__ == "__main__":
    main()
