"""The patrol map's data (/maps/patrols, geo.map_data.patrols_of_day) on a district-size day.

    python bench/patrol_map.py [--stewards 400] [--chiefs 100] [--days 5] [--data DIR]

Real network (both Haidian OSM extracts in ../shared/data), synthetic areas (8 × 8
communities in 4 subdistricts, as bench/city_day.py), stewards holding 1–3 alleys each and
street chiefs holding a street each, duties from 20 days before. Each day every steward
uploads a morning walk of their own alleys (75 % whole, 12 % half, 13 % none), and on the
last two days a 3 km afternoon walk; the chiefs walk their streets on the last two days (as
outside tester T44's day: ~2,700 tracks). Uploaded as CSV through the upload path
(store_track) and matched by one queue worker, as POST /tracks and `gridward tracks worker`.

Then the page's data for the last day (its chart: 14 days) for everyone, each subdistrict and
one community, each against the old way in the same run (the day's whole report, then the
13 days before in a second load: every query twice), and with the server's JIT off.

``--data DIR``: keep the cluster there and reuse it on the next run (build once, time often).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from city_day import COMMUNITY, DATA, _import_grid_areas  # noqa: E402

from geo.db import dispose_engines, get_engine  # noqa: E402
from geo.demo import track_csv  # noqa: E402
from geo.embedded import EmbeddedCluster  # noqa: E402
from geo.importer import import_osm  # noqa: E402
from geo.map_data import patrols_of_day  # noqa: E402
from geo.match_queue import drain_queue  # noqa: E402
from geo.track_store import store_track, walk_network  # noqa: E402
from geo.tracks.simulate import SimParams, route_through, simulate_patrol  # noqa: E402


def _build(engine: Engine, folder: Path, args: argparse.Namespace, last: dt.date) -> None:
    """The city, its people and duties, and the days' uploads, matched."""
    for name in ("tsinghua_wudaokou_2017.osm", "cau_xueqinglu_2026.osm"):
        import_osm(engine, DATA / name)
    _import_grid_areas(engine, folder)
    since = last - dt.timedelta(days=20)
    rng = np.random.default_rng(args.seed)
    with engine.begin() as conn:
        alleys = list(
            conn.execute(
                text(
                    "SELECT st.id FROM streets st WHERE st.kind = 'alley' AND EXISTS "
                    "(SELECT 1 FROM street_segments s WHERE s.street_id = st.id "
                    "AND s.retired_at IS NULL) ORDER BY st.id"
                )
            ).scalars()
        )
        streets = list(
            conn.execute(
                text(
                    "SELECT st.id FROM streets st WHERE st.kind = 'street' AND EXISTS "
                    "(SELECT 1 FROM street_segments s WHERE s.street_id = st.id "
                    "AND s.retired_at IS NULL) ORDER BY st.id"
                )
            ).scalars()
        )
        held: list[tuple[int, str, list[int]]] = []  # person, role, streets
        # each steward 1–3 alleys in a row (neighbouring ids: mostly nearby)
        i = 0
        for _ in range(args.stewards):
            if i >= len(alleys):
                break
            n = int(rng.integers(1, 4))
            held.append((0, "alley_steward", alleys[i : i + n]))
            i += n
        for st in streets[: args.chiefs]:
            held.append((0, "street_chief", [st]))
        for k, (_, role, ids) in enumerate(held):
            pid = conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES (:e, :n, ARRAY[:r]) "
                    "RETURNING id"
                ),
                {"e": f"B{k + 1:04d}", "n": f"巡查员{k + 1}", "r": role},
            ).scalar_one()
            held[k] = (pid, role, ids)
            for st in ids:
                conn.execute(
                    text(
                        "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                        "VALUES (:p, :r, :s, :d)"
                    ),
                    {"p": pid, "r": role, "s": st, "d": since},
                )
        seg = conn.execute(
            text(
                "SELECT s.id, s.street_id FROM street_segments s WHERE s.retired_at IS NULL "
                "AND s.street_id = ANY(:ids)"
            ),
            {"ids": [s for _, _, ids in held for s in ids]},
        ).all()
    net = walk_network(engine)
    pos = {int(e): i for i, e in enumerate(net.edge_ids.tolist())}
    edges_of: dict[int, list[int]] = {}
    for r in seg:
        if int(r.id) in pos:
            edges_of.setdefault(int(r.street_id), []).append(pos[int(r.id)])
    days = [last - dt.timedelta(days=d) for d in range(args.days - 1, -1, -1)]
    t = time.perf_counter()
    files: list[tuple[int, bytes]] = []
    for pid, role, ids in held:
        targets = [e for s in ids for e in edges_of.get(s, [])]
        if not targets:
            continue
        legs = route_through(net, targets, rng)
        if not legs:
            continue
        for day in days:
            walks = []
            if role == "alley_steward":
                u = rng.random()
                if u < 0.75:
                    walks.append(legs)
                elif u < 0.87:
                    walks.append(legs[: max(1, len(legs) // 2)])
                if day >= days[-2]:
                    walks.append(None)  # the afternoon: 3 km anywhere
            elif day >= days[-2]:
                walks.append(legs)
            for j, w in enumerate(walks):
                hour = 0 if j == 0 else 6  # 08:00 or 14:00 local
                start = pd.Timestamp(f"{day}T0{hour}:00:00Z") + pd.Timedelta(
                    minutes=int(rng.integers(0, 90))
                )
                sp = SimParams(length_m=3000, dt_s=3, noise_m=6, start=start.isoformat())
                pts, _ = simulate_patrol(net, rng, sp, legs=w)
                files.append((pid, track_csv(pts)))
    print(f"simulated {len(files):,} tracks in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    for k, (pid, data) in enumerate(files):
        store_track(engine, data, f"w{k}.csv", "wgs84", pid, "bench", queue=True)
    print(f"stored in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    rep = drain_queue(engine, batch=200)
    print(
        f"matched in {time.perf_counter() - t:.0f} s: {rep.matched} matched, {rep.failed} "
        f"failed, {rep.visits:,} visits"
    )


def _timed(ways: dict[str, Callable[[], Any]], runs: int) -> dict[str, tuple[float, float]]:
    """(best, median) seconds of each way over ``runs`` rounds, the ways taking turns within
    a round (a busy moment of a shared machine falls on all of them), after one warm-up
    call each."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for fn in ways.values():
        fn()
    for _ in range(runs):
        for name, fn in ways.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}


def _old_way(engine: Engine, day: dt.date, area: str | None) -> Any:
    """What the page's data cost before (T44 #11): the day's whole daily report
    (build_report: its segments table, ranks and notes too), then the 13 days before in a
    second load (daily_frames), then the first 50 tracks by id."""
    from geo.map_data import _day_tracks
    from geo.patrol_reports import build_report, daily_frames

    rep = build_report(engine, "daily", day, area, today=day)
    earlier = [day - dt.timedelta(days=i) for i in range(13, 0, -1)]
    daily_frames(engine, earlier, area, today=day)
    walkers = None
    if area is not None:
        walkers = sorted({int(p) for ids in rep["alleys"]["person_ids"] for p in ids or []})
    with engine.connect() as conn:
        return _day_tracks(conn, day, "Asia/Shanghai", None, walkers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stewards", type=int, default=400)
    ap.add_argument("--chiefs", type=int, default=100)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, help="keep (and reuse) the cluster in this folder")
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        "figures are wall-clock on a shared machine"
    )
    folder = args.data or Path(tempfile.mkdtemp(prefix="gridward-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    cluster = EmbeddedCluster(folder / "data", fast=True)
    fresh = not cluster.initialized()
    state = cluster.start()
    last = dt.date(2026, 3, 6)
    try:
        engine = get_engine(state.url)
        if fresh:
            _build(engine, folder, args, last)
        with engine.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM track_points), "
                    "(SELECT count(DISTINCT street_id) FROM assignments), "
                    "(SELECT count(*) FROM patrol_visits)"
                )
            ).one()
        print(f"{n[0]:,} tracks, {n[1]:,} fixes, {n[2]} staffed streets/alleys, {n[3]:,} visits")
        with engine.connect() as conn:
            subs = list(
                conn.execute(
                    text("SELECT code FROM areas WHERE level = 'subdistrict' ORDER BY code")
                ).scalars()
            )
        pages = [("everyone", None)]
        pages += [(f"subdistrict {c}", c) for c in subs] + [(f"community {COMMUNITY}", COMMUNITY)]
        # the same pages with the server's JIT off for the session (PostgreSQL compiles a
        # query whose estimated cost passes jit_above_cost: the chiefs' corridor query is
        # estimated in the billions and compiled on every page, whatever the area)
        nojit = create_engine(state.url, connect_args={"options": "-c jit=off"})
        for who, area in pages:
            d = patrols_of_day(engine, last, today=last, area=area)
            t = _timed(
                {
                    "now": lambda area=area: patrols_of_day(engine, last, today=last, area=area),
                    "the old way": lambda area=area: _old_way(engine, last, area),
                    "now with jit=off": lambda area=area: patrols_of_day(
                        nojit, last, today=last, area=area
                    ),
                },
                args.runs,
            )
            print(
                f"patrol map data, {who} ({len(d.alleys['features'])} alleys/streets, "
                f"{d.tracks_total} tracks, {len(d.tracks)} drawn): "
                + "; ".join(f"{k} best {b:.2f} s (median {m:.2f})" for k, (b, m) in t.items())
            )
        nojit.dispose()
    finally:
        dispose_engines()
        if args.data is None:
            cluster.destroy()
        else:
            cluster.stop()


if __name__ == "__main__":
    main()
