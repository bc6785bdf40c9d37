"""Load: N stewards' phones uploading patrol tracks at once, on loopback.

    python bench/load.py                       # 50 uploaders for 60 s (the issue's target)
    python bench/load.py --uploaders 10 --seconds 15
    python bench/load.py --target buildings    # read load (GET /buildings) instead

What it does: starts a throwaway embedded PostGIS cluster (or uses --database-url), imports the
Haidian demo city (fixtures/), makes one steward account + API token per uploader, simulates
realistic patrol walks on the demo street network (geo.tracks.simulate: stops, U-turns, GPS
noise, 3 s fixes), then serves the real app with uvicorn in a child process and has the
uploaders POST /tracks (multipart GPX) in a loop until the time is up. A refused upload (503)
is retried with the same bytes, as the phone app does.

Compared in the same run (the named alternative): one uploader alone for --baseline-seconds,
so the concurrent figures read against the single-client latency and throughput.

Reports throughput, p50/p99 latency, errors by status, and lost uploads (acknowledged but not
in the database) and duplicates. Bounded: every request has a timeout and the run stops by
itself after its seconds plus a grace period.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "fixtures"


@dataclass
class Stats:
    """What one phase measured."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    retries: int = 0
    retry_kinds: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def line(self, name: str) -> str:
        lat = sorted(self.latencies)
        n = len(self.acknowledged)
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
        errs = ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items())) or "0"
        return (
            f"{name:<28} {n:>6} ok  {n / max(self.elapsed, 1e-9):7.2f}/s  "
            f"p50 {p50 * 1000:7.0f} ms  p99 {p99 * 1000:7.0f} ms  errors {errs}  "
            f"retries {self.retries}"
            + (
                f" ({', '.join(f'{k}×{v}' for k, v in self.retry_kinds.items())})"
                if self.retries
                else ""
            )
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int) -> None:  # child process
    import logging

    import uvicorn

    from api.app import create_app
    from geo.db import get_engine

    logging.getLogger("gridward.api").setLevel(logging.ERROR)
    uvicorn.run(create_app(get_engine(url)), host="127.0.0.1", port=port, log_level="error")


def _prepare(url: str, n_users: int, n_tracks: int, seed: int) -> tuple[list[str], list]:
    """Demo city, steward accounts with tokens, and a pool of simulated walks."""
    import geopandas as gpd
    import numpy as np
    from sqlalchemy import text

    from geo.accounts import create_user, issue_token
    from geo.areas_import import import_areas
    from geo.db import get_engine
    from geo.importer import import_osm
    from geo.tracks.network import WalkNetwork
    from geo.tracks.simulate import SimParams, simulate_patrol

    engine = get_engine(url)
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM street_segments")).scalar()
    if not have:
        import_areas(engine, FIXTURES / "communities.geojson", level="community")
        import_osm(engine, FIXTURES / "haidian_demo.osm")
    tokens: list[str] = []
    stamp = int(time.time())
    with engine.begin() as conn:
        for i in range(n_users):
            pid = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES "
                    "(:e, :n, ARRAY['alley_steward']) RETURNING id"
                ),
                {"e": f"load-{stamp}-{i}", "n": f"小巷管家 {i}"},
            ).scalar_one()
            uid = create_user(conn, f"load-{stamp}-{i}", "load-password", "steward", (), pid)
            tokens.append(issue_token(conn, uid, "api", "load phone")[1])
    segs = gpd.read_postgis(
        "SELECT uid AS edge_id, geom FROM street_segments", engine, geom_col="geom"
    )
    net = WalkNetwork.from_segments(segs, edge_id_col="edge_id")
    rng = np.random.default_rng(seed)
    pool = [
        simulate_patrol(net, rng, SimParams(length_m=900.0, noise_m=8.0))[0]
        for _ in range(n_tracks)
    ]
    return tokens, pool


def _gpx(points, shift_s: int) -> bytes:
    """A GPX file of one simulated walk, its clock shifted so every upload is unique."""
    import pandas as pd

    t = pd.to_datetime(points["time"], utc=True) + pd.Timedelta(seconds=shift_s)
    pts = "".join(
        f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><time>{ts:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
        for lon, lat, ts in zip(points["lon"], points["lat"], t, strict=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="gridward-load" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>patrol</name><trkseg>{pts}</trkseg></trk></gpx>"
    ).encode()


async def _phase(
    base: str, tokens: list[str], pool: list, seconds: float, target: str, phase_id: int
) -> Stats:
    import httpx

    stats = Stats()
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens) + 4)

    async def phone(i: int, client: httpx.AsyncClient) -> None:
        seq = 0
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        while time.monotonic() < end:
            seq += 1
            if target == "buildings":
                t0 = time.perf_counter()
                try:
                    r = await client.get("/buildings?limit=200", headers=headers)
                    code = r.status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                if code == 200:
                    stats.latencies.append(time.perf_counter() - t0)
                    stats.acknowledged.append(f"{i}-{seq}")
                else:
                    stats.errors[str(code)] = stats.errors.get(str(code), 0) + 1
                continue
            shift = (phase_id * 10_000_000) + i * 100_000 + seq * 60
            data = _gpx(pool[(i + seq) % len(pool)], shift)
            for attempt in range(5):
                t0 = time.perf_counter()
                try:
                    r = await client.post(
                        "/tracks",
                        headers=headers,
                        files={"file": (f"patrol-{i}-{seq}.gpx", data, "application/gpx+xml")},
                    )
                    code = r.status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                if code in (200, 201):
                    stats.latencies.append(time.perf_counter() - t0)
                    stats.acknowledged.append(hashlib.sha256(data).hexdigest())
                    break
                # 503 and dropped connections are retried with the same bytes (the upload is
                # idempotent by content hash); they count as retries, not errors, unless the
                # last attempt fails too.
                retryable = code == 503 or isinstance(code, str)
                if not retryable or attempt == 4:
                    stats.errors[str(code)] = stats.errors.get(str(code), 0) + 1
                    break
                stats.retries += 1
                stats.retry_kinds[str(code)] = stats.retry_kinds.get(str(code), 0) + 1
                await asyncio.sleep(1.0)

    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        tasks = [asyncio.create_task(phone(i, client)) for i in range(len(tokens))]
        _done, pending = await asyncio.wait(tasks, timeout=seconds + 90)
        for t in pending:  # bounded: anything still waiting after the grace period is cut
            t.cancel()
            stats.errors["cut"] = stats.errors.get("cut", 0) + 1
    stats.elapsed = time.monotonic() - t0
    return stats


def _check_lost(url: str, shas: list[str]) -> tuple[int, int]:
    from sqlalchemy import text

    from geo.db import get_engine

    if not shas:
        return 0, 0
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            text("SELECT sha256, count(*) FROM tracks WHERE sha256 = ANY(:s) GROUP BY sha256"),
            {"s": list(set(shas))},
        ).all()
    found = dict(rows)
    lost = len(set(shas) - set(found))
    dup = sum(1 for n in found.values() if n > 1) + (len(shas) - len(set(shas)))
    return lost, dup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploaders", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline-seconds", type=float, default=10.0)
    ap.add_argument("--target", choices=("tracks", "buildings"), default="tracks")
    ap.add_argument("--tracks", type=int, default=20, help="distinct simulated walks")
    ap.add_argument("--database-url", default=None, help="default: a throwaway embedded cluster")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not 1 <= args.uploaders <= 500 or not 1 <= args.seconds <= 600:
        ap.error("--uploaders 1..500 and --seconds 1..600")

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f} (shared with other engineers: figures are indicative)"
    )
    cluster = None
    url = args.database_url
    if url is None:
        from geo.embedded import EmbeddedCluster

        folder = Path(tempfile.mkdtemp(prefix="gridward-load-"))
        folder.chmod(0o755)
        cluster = EmbeddedCluster(folder / "data", fast=False)
        url = cluster.start().url
    server = None
    try:
        t = time.perf_counter()
        tokens, pool = _prepare(url, args.uploaders, args.tracks, args.seed)
        sizes = [len(_gpx(p, 0)) for p in pool]
        print(
            f"prepared in {time.perf_counter() - t:.1f} s: {len(tokens)} stewards, "
            f"{len(pool)} walks of {statistics.mean(len(p) for p in pool):.0f} fixes "
            f"({statistics.mean(sizes) / 1024:.0f} KiB GPX)"
        )
        port = _free_port()
        server = mp.get_context("spawn").Process(target=_serve, args=(url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        _wait_up(base)
        base_stats = asyncio.run(
            _phase(base, tokens[:1], pool, args.baseline_seconds, args.target, 1)
        )
        load = asyncio.run(_phase(base, tokens, pool, args.seconds, args.target, 2))
        what = {
            "tracks": "POST /tracks (multipart GPX: parse, store, map-match)",
            "buildings": "GET /buildings?limit=200",
        }[args.target]
        print(f"target: {what}")
        print(base_stats.line("baseline: 1 uploader"))
        print(load.line(f"load: {args.uploaders} uploaders"))
        if args.target == "tracks":
            lost, dup = _check_lost(url, base_stats.acknowledged + load.acknowledged)
            print(f"lost uploads: {lost}   duplicated: {dup}")
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        if cluster is not None:
            from geo.db import dispose_engines

            dispose_engines()
            cluster.destroy()


def _wait_up(base: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not come up")


if __name__ == "__main__":
    main()
