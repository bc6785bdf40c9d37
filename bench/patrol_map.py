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
one community.

Then a week-long track (``--week-fixes``, 575,000 fixes at one a second, as outside tester
T44's: 28 Feb to 6 Mar, by a steward of the community, stored and left unmatched: drawing
needs no visits), and the pages of its last day that draw it: everyone's (when it is among
the 50 latest), the community's and its steward's.

Each page is timed five ways in the same run: ``now``; ``before`` (the code before the
chart's one pass and the fixes thinned in SQL: the chart's days judged one at a time, 2
roles × 14 days, and every drawn track's fixes read whole, its whole span, then cut to the
day, as geo.map_data read them); ``chart as before`` (only the chart's days one at a time:
the first change alone); ``the old way`` (before T44 #11: the day's whole report, then the
13 days before in a second load, each on today's code); and ``now`` with the server's JIT
off. The bench checks that ``now`` and ``before`` give the same alleys and chart.

``--data DIR``: keep the cluster there and reuse it on the next run (build once, time often).

Figures (2 shared cores under a load of 5-7 from other jobs, best of 3; 2,271 tracks,
0.95 M fixes and 777 staffed streets/alleys, then the week-long track: 1.53 M fixes), s:

=====================================  =====  ======  ===============  ===========
page of 6 Mar                          now    before  chart as before  the old way
=====================================  =====  ======  ===============  ===========
everyone (its 50 drawn: not the week)  2.16   3.46    3.97             2.48
subdistrict 110108001 (draws it)       2.11   9.49    3.62             2.14
subdistrict 110108002                  1.14   2.36    2.38             1.32
subdistrict 110108003                  1.47   3.50    3.00             2.03
subdistrict 110108004                  0.80   1.48    1.74             1.19
community 110108001016 (draws it)      0.91   7.13    1.33             1.04
person 10 (the week-long track's)      0.26   5.04    0.82             1.55
=====================================  =====  ======  ===============  ===========

On a quieter moment (load ~1) the community's page took 0.33 s now against 3.66 s before,
and profiled without the week-long track its chart's judging (judge_days) 0.07 s
against 0.58 s. The week-long track's 56,401 fixes of that day: 5,000 now read (taken
evenly in time), drawn with 453 points; before all were read (the whole week's 575,000),
drawn with 277. Now and before give equal alleys and charts (checked in the run); the
reports' tables are equal to the last bit (tests/test_patrol_map_speed_db.py).
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

from city_day import COMMUNITY, import_city  # noqa: E402

import geo.map_data as map_data  # noqa: E402
import geo.patrol_days as patrol_days  # noqa: E402
import geo.patrol_reports as patrol_reports  # noqa: E402
from geo.day_networks import walk_network  # noqa: E402
from geo.db import dispose_engines, get_engine  # noqa: E402
from geo.demo import track_csv  # noqa: E402
from geo.embedded import EmbeddedCluster  # noqa: E402
from geo.map_data import patrols_of_day  # noqa: E402
from geo.match_queue import drain_queue  # noqa: E402
from geo.settings import get_settings  # noqa: E402
from geo.track_points import read_track_points  # noqa: E402
from geo.track_store import store_track  # noqa: E402
from geo.tracks.simulate import SimParams, route_through, simulate_patrol  # noqa: E402


def _build(engine: Engine, folder: Path, args: argparse.Namespace, last: dt.date) -> None:
    """The city, its people and duties, and the days' uploads, matched."""
    import_city(engine, folder)
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


WEEK_FILE = "week.csv"


def _week_track(engine: Engine, fixes: int, last: dt.date, seed: int) -> int:
    """A steward of the community's week-long recording (``fixes`` at one a second, ending
    on ``last``'s afternoon), stored once (found again on a reused cluster); its id. A walk
    at 1.2 m/s turning at random within 800 m of the community's middle, 6 m of noise."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM tracks WHERE filename = :f"), {"f": WEEK_FILE}
        ).scalar()
        if found is not None:
            return int(found)
        mid = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM areas "
                "WHERE code = :c) AS x"
            ),
            {"c": COMMUNITY},
        ).one()
    rows = patrol_reports.daily_frames(engine, [last], COMMUNITY, today=last)[last]["alleys"]
    pid = int(rows[rows["role"] == "alley_steward"]["person_ids"].iloc[0][0])
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0, 0.15, fixes))
    x = np.cumsum(1.2 * np.cos(heading))
    y = np.cumsum(1.2 * np.sin(heading))
    # folded back into the 800 m square around the middle (a triangle wave per axis)
    x = np.abs((x + 800) % 3200 - 1600) - 800
    y = np.abs((y + 800) % 3200 - 1600) - 800
    lat0 = float(mid[1])
    pts = pd.DataFrame(
        {
            "lon": float(mid[0])
            + (x + rng.normal(0, 6, fixes)) / (111_320 * np.cos(np.radians(lat0))),
            "lat": lat0 + (y + rng.normal(0, 6, fixes)) / 110_574,
            "time": pd.Timestamp(f"{last}T15:40:00+08:00").tz_convert("UTC")
            - pd.to_timedelta(np.arange(fixes - 1, -1, -1), unit="s"),
        }
    )
    data = track_csv(pts)
    big = get_settings().model_copy(update={"max_upload_bytes": 2 * len(data)})
    t = time.perf_counter()
    tid = store_track(engine, data, WEEK_FILE, "wgs84", pid, "bench", big, queue=True).track_id
    print(
        f"week-long track {tid}: {fixes:,} fixes ({len(data) / 1e6:.0f} MB of CSV), "
        f"{pts['time'].iloc[0]:%Y-%m-%d %H:%M} to {pts['time'].iloc[-1]:%Y-%m-%d %H:%M} UTC, "
        f"person {pid}; stored in {time.perf_counter() - t:.0f} s (not matched)"
    )
    return int(tid)


def _whole_fixes(conn: Any, rows: list[Any], span: dict[str, Any]) -> tuple[Any, dict[int, int]]:
    """The drawn tracks' fixes as geo.map_data read them before they were thinned in SQL:
    every fix of each track's whole span (read_track_points), then cut to the day."""
    pts = read_track_points(conn, [r.id for r in rows])
    pts = pts[(pts["time"] >= span["start"]) & (pts["time"] < span["end"])]
    return pts, {int(k): int(v) for k, v in pts["track_id"].value_counts().items()}


def _before(
    engine: Engine, day: dt.date, area: str | None, person: int | None, fixes: bool = True
) -> Any:
    """The page's data as the code before this change made it: the chart's days one at a
    time (2 roles × 14 days through geo.coverage) and, with ``fixes``, the drawn tracks'
    fixes read whole."""
    runs, drawn = patrol_days._day_runs, map_data._drawn_fixes
    patrol_days._day_runs = lambda network_of_day, days: [[d] for d in days]
    if fixes:
        map_data._drawn_fixes = _whole_fixes
    try:
        return patrols_of_day(engine, day, person, today=day, area=area)
    finally:
        patrol_days._day_runs, map_data._drawn_fixes = runs, drawn


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


def _old_way(engine: Engine, day: dt.date, area: str | None, person: int | None) -> Any:
    """What the page's data cost before T44 #11: the day's whole daily report
    (build_report: its segments table, ranks and notes too), then the 13 days before in a
    second load (daily_frames), then the first 50 tracks by id (their fixes read as
    now)."""
    from geo.map_data import _day_tracks
    from geo.patrol_reports import build_report, daily_frames

    rep = build_report(engine, "daily", day, area, today=day)
    earlier = [day - dt.timedelta(days=i) for i in range(13, 0, -1)]
    daily_frames(engine, earlier, area, today=day)
    walkers = None
    if area is not None:
        walkers = sorted({int(p) for ids in rep["alleys"]["person_ids"] for p in ids or []})
    with engine.connect() as conn:
        return _day_tracks(conn, day, "Asia/Shanghai", person, walkers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stewards", type=int, default=400)
    ap.add_argument("--chiefs", type=int, default=100)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--week-fixes", type=int, default=575_000, help="0: no week-long track")
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
        week = _week_track(engine, args.week_fixes, last, args.seed) if args.week_fixes else None
        with engine.connect() as conn:
            subs = list(
                conn.execute(
                    text("SELECT code FROM areas WHERE level = 'subdistrict' ORDER BY code")
                ).scalars()
            )
            walker = conn.execute(
                text("SELECT person_id FROM tracks WHERE id = :t"), {"t": week}
            ).scalar()
        pages: list[tuple[str, str | None, int | None]] = [("everyone", None, None)]
        pages += [(f"subdistrict {c}", c, None) for c in subs]
        pages += [(f"community {COMMUNITY}", COMMUNITY, None)]
        if walker is not None:
            pages += [(f"person {walker} (the week-long track's)", None, int(walker))]
        # the same pages with the server's JIT off for the session (PostgreSQL compiles a
        # query whose estimated cost passes jit_above_cost: the chiefs' corridor query is
        # estimated in the billions and compiled on every page, whatever the area)
        nojit = create_engine(state.url, connect_args={"options": "-c jit=off"})
        table = []
        for who, area, person in pages:
            d = patrols_of_day(engine, last, person, today=last, area=area)
            old = _before(engine, last, area, person)
            # the same page either way, but for the week-long track's drawn fixes
            assert d.alleys == old.alleys and d.compliance == old.compliance, who
            t = _timed(
                {
                    "now": lambda a=area, p=person: patrols_of_day(
                        engine, last, p, today=last, area=a
                    ),
                    "before": lambda a=area, p=person: _before(engine, last, a, p),
                    "chart as before": lambda a=area, p=person: _before(engine, last, a, p, False),
                    "the old way": lambda a=area, p=person: _old_way(engine, last, a, p),
                    "now with jit=off": lambda a=area, p=person: patrols_of_day(
                        nojit, last, p, today=last, area=a
                    ),
                },
                args.runs,
            )
            thin = [x for x in d.tracks if x.get("thinned")]
            drawn = "".join(
                f", track {x['id']} of {x['n_points']:,} fixes drawn from "
                f"{sum(len(y['points']) for y in old.tracks if y['id'] == x['id'])} before, "
                f"{len(x['points'])} now"
                for x in thin
            )
            print(
                f"patrol map data, {who} ({len(d.alleys['features'])} alleys/streets, "
                f"{d.tracks_total} tracks, {len(d.tracks)} drawn{drawn}): "
                + "; ".join(f"{k} best {b:.2f} s (median {m:.2f})" for k, (b, m) in t.items())
            )
            table.append(
                f"{who[:37]:<37}  {t['now'][0]:5.2f}s  {t['before'][0]:5.2f}s  "
                f"{t['chart as before'][0]:14.2f}s  {t['the old way'][0]:10.2f}s"
            )
        print("\n".join(table))
        nojit.dispose()
    finally:
        dispose_engines()
        if args.data is None:
            cluster.destroy()
        else:
            cluster.stop()


if __name__ == "__main__":
    main()
