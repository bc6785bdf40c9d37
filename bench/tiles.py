"""Vector-tile latency: /tiles/{layer}/{z}/{x}/{y}.pbf over HTTP vs the same ST_AsMVT query
run directly in PostGIS (the floor), on a generated city of ~100k buildings.

    .venv/bin/python bench/tiles.py [--buildings 100000] [--samples 60]

The city is built inside a throwaway embedded cluster (removed afterwards): a lattice of
buildings in blocks, a street grid split at intersections with alleys inside blocks, and
level-1 grids of 10×10 buildings. For each layer and zoom, random tiles over the city are
requested through uvicorn on loopback (httpx, keep-alive, bearer token) and, interleaved,
the same SQL (geo.tiles.tile_sql) is executed on a pooled connection. p50/p99 in ms and the
mean tile size are printed; HTTP minus direct is the cost of the service layer.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAT0, LON0 = 39.90, 116.20  # south-west corner of the generated city (Beijing)
SPACING_M = 40.0  # building pitch
PER_BLOCK = 5  # buildings per block side; streets between blocks
GRID_SIDE = 10  # buildings per level-1 grid side


def build_city(engine, n_buildings: int) -> dict[str, float]:  # noqa: ANN001
    """Generate the city with set-based SQL (seconds, not minutes, for 100k rows)."""
    from sqlalchemy import text

    side = math.ceil(math.sqrt(n_buildings))
    rows = math.ceil(n_buildings / side)
    dlat = SPACING_M / 110_574
    dlon = SPACING_M / (111_320 * math.cos(math.radians(LAT0)))
    p = {
        "side": side,
        "rows": rows,
        "n": n_buildings,
        "dlat": dlat,
        "dlon": dlon,
        "lat0": LAT0,
        "lon0": LON0,
        "pb": PER_BLOCK,
        "gs": GRID_SIDE,
    }
    with engine.begin() as conn:
        # Communities: one per band of 4 grid columns (grid codes have 3 sequence digits).
        n_gcols = math.ceil(side / GRID_SIDE)
        n_grows = math.ceil(rows / GRID_SIDE)
        conn.execute(
            text(
                "INSERT INTO areas (code, level, name, geom) "
                "SELECT '110108900' || lpad((c + 1)::text, 3, '0'), 'community', "
                " '生成社区 ' || (c + 1), ST_Multi(ST_MakeEnvelope("
                " :lon0 + c * 4 * :gs * :dlon - :dlon / 2, :lat0 - :dlat / 2, "
                " :lon0 + least((c + 1) * 4 * :gs, :side) * :dlon - :dlon / 2, "
                " :lat0 + :rows * :dlat - :dlat / 2, 4326)) "
                "FROM generate_series(0, :nc - 1) c"
            ),
            {**p, "nc": math.ceil(n_gcols / 4)},
        )
        conn.execute(
            text(
                "INSERT INTO buildings (source_key, households, household_source, geom) "
                "SELECT 'gen/' || k, 10 + (k * 7919) % 70, 'estimated', "
                " ST_Multi(ST_MakeEnvelope(x - :dlon * 0.3, y - :dlat * 0.2, "
                "  x + :dlon * 0.3, y + :dlat * 0.2, 4326)) "
                "FROM (SELECT k, :lon0 + (k % :side) * :dlon AS x, "
                " :lat0 + (k / :side) * :dlat AS y FROM generate_series(0, :n - 1) k) s"
            ),
            p,
        )
        # Streets between blocks (every PER_BLOCK buildings), split at every crossing.
        conn.execute(
            text(
                "INSERT INTO streets (key, name, kind, length_m) "
                "SELECT d || '/' || i, CASE d WHEN 'h' THEN '东西街 ' ELSE '南北街 ' END || i, "
                " 'street', 0 FROM (SELECT 'h' AS d, i FROM generate_series(0, :rows / :pb) i "
                " UNION ALL SELECT 'v', i FROM generate_series(0, :side / :pb) i) s"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO street_segments (uid, street_id, kind, name, length_m, geom) "
                "SELECT st.key || '/' || j, st.id, 'street', st.name, :pb * 40.0, "
                " CASE WHEN st.key LIKE 'h/%' THEN ST_MakeLine("
                "  ST_MakePoint(:lon0 + (j * :pb - 0.5) * :dlon, :lat0 + (i * :pb - 0.5) * :dlat),"
                "  ST_MakePoint(:lon0 + ((j + 1) * :pb - 0.5) * :dlon, "
                "   :lat0 + (i * :pb - 0.5) * :dlat)) "
                " ELSE ST_MakeLine("
                "  ST_MakePoint(:lon0 + (i * :pb - 0.5) * :dlon, :lat0 + (j * :pb - 0.5) * :dlat),"
                "  ST_MakePoint(:lon0 + (i * :pb - 0.5) * :dlon, "
                "   :lat0 + ((j + 1) * :pb - 0.5) * :dlat)) END "
                "FROM streets st, LATERAL (SELECT split_part(st.key, '/', 2)::int AS i) a, "
                " LATERAL generate_series(0, CASE WHEN st.key LIKE 'h/%' THEN :side / :pb "
                "  ELSE :rows / :pb END - 1) j"
            ),
            p,
        )
        # One alley through the middle of every block.
        conn.execute(
            text(
                "INSERT INTO streets (key, name, kind, length_m) "
                "SELECT 'a/' || bi || '/' || bj, '小巷 ' || bi || '-' || bj, 'alley', 0 "
                "FROM generate_series(0, :side / :pb - 1) bi, "
                "generate_series(0, :rows / :pb - 1) bj"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO street_segments (uid, street_id, kind, name, length_m, geom) "
                "SELECT st.key || '/0', st.id, 'alley', st.name, :pb * 40.0, ST_MakeLine("
                " ST_MakePoint(:lon0 + (bi * :pb - 0.5) * :dlon, :lat0 + (bj * :pb + 2.5) * :dlat),"
                " ST_MakePoint(:lon0 + ((bi + 1) * :pb - 0.5) * :dlon, "
                "  :lat0 + (bj * :pb + 2.5) * :dlat)) "
                "FROM streets st, LATERAL (SELECT split_part(st.key, '/', 2)::int AS bi, "
                " split_part(st.key, '/', 3)::int AS bj) a WHERE st.kind = 'alley'"
            ),
            p,
        )
        # Level-1 grids: 10×10 buildings each, households summed from the buildings.
        conn.execute(
            text(
                "INSERT INTO grids (code, level, community_id, households, building_count, geom, "
                " version, flags, properties) "
                "SELECT ar.code || lpad(((gi % 4) * :ngr + gj + 1)::text, 3, '0'), 1, ar.id, "
                " 0, 0, ST_Multi(ST_MakeEnvelope("
                "  :lon0 + (gi * :gs - 0.5) * :dlon, :lat0 + (gj * :gs - 0.5) * :dlat, "
                "  :lon0 + (least((gi + 1) * :gs, :side) - 0.5) * :dlon, "
                "  :lat0 + (least((gj + 1) * :gs, :rows) - 0.5) * :dlat, 4326)), 1, '[]', '{}' "
                "FROM generate_series(0, :ngc - 1) gi, generate_series(0, :ngr - 1) gj "
                "JOIN areas ar ON true "
                "WHERE ar.code = '110108900' || lpad((gi / 4 + 1)::text, 3, '0')"
            ),
            {**p, "ngc": n_gcols, "ngr": n_grows},
        )
        conn.execute(
            text(
                "UPDATE grids g SET households = s.h, building_count = s.n FROM ("
                " SELECT g2.id, sum(b.households) AS h, count(*) AS n FROM grids g2 "
                " JOIN buildings b ON b.geom && g2.geom AND "
                " ST_Intersects(ST_Centroid(b.geom), g2.geom) GROUP BY g2.id) s WHERE s.id = g.id"
            )
        )
        conn.execute(text("ANALYZE"))
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("buildings", "street_segments", "grids", "areas")
        }
    bbox = (LON0, LAT0, LON0 + side * dlon, LAT0 + rows * dlat)
    return {"counts": counts, "bbox": bbox}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=60, help="tiles per layer and zoom")
    ap.add_argument("--zooms", default="14,16,18")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import httpx
    import uvicorn
    from sqlalchemy import text

    from api.app import create_app
    from geo.accounts import create_user, issue_token
    from geo.db import dispose_engines, get_engine
    from geo.embedded import EmbeddedCluster
    from geo.tiles import TILE_LAYERS, tile_sql

    print(
        "machine:",
        platform.processor() or platform.machine(),
        f"{os.cpu_count()} cores,",
        "shared with other engineers' work: figures are indicative, compare within the run",
    )
    folder = Path(tempfile.mkdtemp(prefix="gridward-bench-tiles-"))
    if os.geteuid() == 0:
        folder.chmod(0o755)  # the server runs as 'postgres' when we are root
    cluster = EmbeddedCluster(folder / "data", fast=True)
    server = None
    try:
        t0 = time.perf_counter()
        state = cluster.start()
        engine = get_engine(state.url)
        print(f"cluster up and migrated in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        city = build_city(engine, args.buildings)
        print(f"generated city in {time.perf_counter() - t0:.1f} s:", city["counts"])
        with engine.begin() as conn:
            uid = create_user(conn, "bench-admin", "bench-password-123", "admin")
            token = issue_token(conn, uid)[1]

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(engine),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
            )
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)

        rng = random.Random(args.seed)
        minx, miny, maxx, maxy = city["bbox"]
        zooms = [int(z) for z in args.zooms.split(",")]
        print(
            f"\n{'layer':<10}{'z':>3}{'tiles':>7}{'direct p50':>12}{'p99':>8}"
            f"{'HTTP p50':>10}{'p99':>8}{'overhead p50':>14}{'mean KB':>9}{'features':>10}"
        )
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client,
            engine.connect() as conn,
        ):
            for layer in TILE_LAYERS:
                sql = text(tile_sql(layer))
                for z in zooms:
                    tiles = []
                    for _ in range(args.samples):
                        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                        tiles.append((z, *tile_of(lon, lat, z)))
                    for z_, x, y in tiles[:5]:  # warm caches and connections
                        client.get(f"/tiles/{layer}/{z_}/{x}/{y}.pbf")
                        conn.execute(sql, {"z": z_, "x": x, "y": y}).scalar()
                    direct, http, sizes, feats = [], [], [], []
                    for z_, x, y in tiles:
                        t = time.perf_counter()
                        data = conn.execute(sql, {"z": z_, "x": x, "y": y}).scalar() or b""
                        direct.append((time.perf_counter() - t) * 1000)
                        t = time.perf_counter()
                        r = client.get(f"/tiles/{layer}/{z_}/{x}/{y}.pbf")
                        http.append((time.perf_counter() - t) * 1000)
                        if r.status_code != 200 or r.content != bytes(data):
                            print(f"error: tile {layer}/{z_}/{x}/{y}: HTTP {r.status_code}")
                            return 1
                        sizes.append(len(r.content))
                    try:
                        import mapbox_vector_tile

                        feats = [
                            len(
                                mapbox_vector_tile.decode(
                                    bytes(
                                        conn.execute(sql, {"z": a, "x": b, "y": c}).scalar() or b""
                                    )
                                )
                                .get(layer, {})
                                .get("features", [])
                            )
                            for a, b, c in tiles[:10]
                        ]
                    except ImportError:
                        feats = []
                    print(
                        f"{layer:<10}{z:>3}{len(tiles):>7}{pct(direct, 0.5):>12.1f}"
                        f"{pct(direct, 0.99):>8.1f}{pct(http, 0.5):>10.1f}{pct(http, 0.99):>8.1f}"
                        f"{pct(http, 0.5) - pct(direct, 0.5):>14.1f}"
                        f"{statistics.mean(sizes) / 1024:>9.1f}"
                        f"{(statistics.mean(feats) if feats else float('nan')):>10.0f}"
                    )
            # Fixed cost of one HTTP tile request (auth, routing, uvicorn, httpx) vs /health
            # and an empty tile far from the city.
            fixed = {}
            for name, url in (
                ("GET /health (no auth, no tile)", "/health"),
                ("empty tile (auth + 1 query)", "/tiles/grids/18/0/0.pbf"),
            ):
                times = []
                for _ in range(args.samples):
                    t = time.perf_counter()
                    client.get(url)
                    times.append((time.perf_counter() - t) * 1000)
                fixed[name] = times
            t_sql = []
            for _ in range(args.samples):
                t = time.perf_counter()
                conn.execute(text(tile_sql("grids")), {"z": 18, "x": 0, "y": 0}).scalar()
                t_sql.append((time.perf_counter() - t) * 1000)
            fixed["empty tile, direct SQL"] = t_sql
            print()
            for name, times in fixed.items():
                print(f"{name:<34} p50 {pct(times, 0.5):6.1f} ms   p99 {pct(times, 0.99):6.1f} ms")
        print("\nms per tile; 'direct' = the same ST_AsMVT SQL on a pooled connection (floor);")
        print("'features' = mean features per tile over the first 10 sampled tiles.")
    finally:
        if server is not None:
            server.should_exit = True
            time.sleep(0.3)
        dispose_engines()
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
