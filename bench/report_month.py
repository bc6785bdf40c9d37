"""A city month of reports (月评) on PostGIS, measured: the reports, their files, signing.

    python bench/report_month.py [--stewards 1000] [--days 31] [--chiefs N] [--load N] [--quick]

Real network (both Haidian OSM extracts in ../shared/data), synthetic areas (8 × 8
communities in 4 subdistricts, bench/city_day.py's), a throwaway embedded PostGIS cluster.
The month is the last closed one of the city's today (signable). Stewards hold one alley
each (co-holders 共管 when there are more stewards than alleys), street chiefs one street
each (every street by default: the chiefs' corridor is the period code that grows with the
period, geo.street_corridor). Duties from the month's first day.

One real day, the month's first: ~85 % of people walk their own alley or street (simulated
walks, known truth), uploaded as CSV through the upload path (store_track, as POST /tracks)
and matched by one queue worker (geo.match_queue, as `gridward tracks worker`), as
bench/city_day.py. The other ``--days`` − 1 days are that day copied in SQL with shifted
dates (as outside tester T59's scripts/clone_day.sql): its matched tracks (raw bytes with
their dates rewritten, so a re-read gives the new day), their match row and their patrol
visits; no fixes (a copied day is a day whose fixes were dropped).

Timed: the daily report, a weekly, the monthly (build_report), the monthly written as XLSX
and as CSV (geo.report_export.export_report, on the report already built: a CLI call with
``--out`` costs the build plus this), signing the month (geo.report_signoffs.sign_report:
it builds the report again, its XLSX and its JSON), each with the peak RSS of this process
during it (resource.getrusage, the peak started over before each step; the database
server's memory is apart) and its rise over the RSS it began at.

Alternatives in the same run: (a) the month's dailies built one by one, the sum the monthly
must stay below (T59 F2: 32.5 s monthly against 21.7 s for its 31 dailies); (b) the street
chiefs' corridor query as it was before commit 03c62b4 (PREVIOUS_CORRIDOR_SQL: each piece's
times read from the whole period's stretches, quadratic in the period), run through
chief_corridor itself (same parameters), on a week and on the month, checked to give the
same rows; and the monthly report made with it, checked to give the same tables.

Under load (``--load N``, default 4; none with --quick, 0 turns it off): N evaluators
asking for the city's monthly XLSX at once (GET /reports/monthly?format=xlsx, no area, as
api.routes.reports.report does it: build_report, attach_signoff on the month signed above,
export_report into a folder of its own), on N threads let go together, as FastAPI's thread
pool runs sync endpoints, on the engine the API uses (geo.db.get_engine: a pool of 10 + 20
overflow; the most connections checked out at once is printed). Against the named
alternative, the same N calls one by one. Then the N calls at once again while a queue
worker (drain_queue, batches of 50) drains the two days before the month (their walks
simulated and queued as the real day's; out of the month, so the report asked for stays the
same), in a thread of this process, as the API's own drain and its uploads' matching run
(sharing the GIL); its walks/s over the batches done before the last call ended, against a
drain alone. Last, what the API does since: the N reports as background jobs
(``POST /reports/monthly/jobs``: api.background.run_job_in_process and the route's own job
function, two report processes at a time, the file stored in the database), each timed from
its start to its file, while the same drain runs, against the threads above.
Not measured: a ``gridward tracks worker`` in a process of its own (it would compete for the
cores and the database, not the GIL) and uploads arriving meanwhile. Adds about 3 min.

``--days``: the days of the month with walks (the month's length at most); the reports
cover the whole month. ``--quick``: 150 stewards, 30 chiefs, 7 days (about 25 s). The
default run takes about 6 min with ``--load 4``.

Figures (2 shared cores, one run, 2026-11-26; 1000 stewards on 677 alleys, 134 chiefs,
October 2026, 31 days: 94,581 visits, 29,388 tracks, the real day 964 walks, 63,562 fixes), s:

    monthly report (build_report)            4.28   1,134 people, 25,141 alley rows
    monthly as XLSX / CSV people / alleys    3.14 / 0.02 / 0.43   2.8 MB, 0.1 MB, 7.2 MB
    sign the month (sign_report)             8.70   peak RSS 556 MB (+137)
    daily / weekly report                    0.37 / 0.84
    the 31 dailies one by one               12.59   mean 0.41
    corridor, month: now / as before         1.26 / 13.14   the same 13,175 rows
    corridor, week: now / as before          0.17 / 0.30    the same 1,700 rows
    monthly with the corridor as before     13.53   the same tables; above the dailies' sum

    4 monthly XLSX one by one, in all       30.19   per call 6.55 / 7.69 / 8.24 (min/median/max)
    4 monthly XLSX at once, in all          23.51   per call 23.36 / 23.47 / 23.50; 4 connections
      the same while a drain runs           24.28   per call 22.12 / 23.99 / 24.27; 5 connections
    drain alone / during those calls        68.5 / 8.2 walks/s   (250 walks; 200)
    (at once, a call's median: build 14.02, signoff 0.15, XLSX 9.32; alone 4.25, 0.01, 3.42;
    peak RSS 850 MB (+375) for the four)

    the same four as report jobs (processes, 2 at a time) while a drain runs, another run:
      threads at once + drain, in all       26.70   per call 26.52 / 26.63 / 26.69
      report jobs + drain, in all           28.40   per job (start to file) 13.13 / 20.93 / 28.40
      drain alone / during threads / during jobs   45.1 / 3.8 / 29.4 walks/s
    (the first two evaluators have their file in half the time, the last about when the
    threads end; matching beside them keeps two thirds of its rate instead of a twelfth, and
    the API process grows 12 MB instead of 165-375 MB)

    --stewards 2400 (65,224 tracks, as T59's city month of 66k): one call alone 8.12
    (build 5.14, XLSX 2.98); 4 at once 26.93 per call (27.00 in all), 29.08 while a drain
    runs (65.9 → 4.5 walks/s); peak RSS 1,186 MB (+627) for the four.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from city_day import import_city  # noqa: E402

import geo.street_corridor as street_corridor  # noqa: E402
from geo.day_networks import walk_network  # noqa: E402
from geo.db import dispose_engines, get_engine  # noqa: E402
from geo.demo import track_csv  # noqa: E402
from geo.embedded import EmbeddedCluster  # noqa: E402
from geo.errors import GridwardError  # noqa: E402
from geo.jobs import create_job  # noqa: E402
from geo.match_queue import drain_queue, queued_count  # noqa: E402
from geo.patrol_days import segment_live_at  # noqa: E402
from geo.patrol_reports import Report, build_report, share_used  # noqa: E402
from geo.report_export import export_report  # noqa: E402
from geo.report_period import Period, report_period  # noqa: E402
from geo.report_signoffs import attach_signoff, sign_report  # noqa: E402
from geo.settings import city_today, get_settings  # noqa: E402
from geo.street_corridor import STRETCHES_FROM  # noqa: E402
from geo.track_store import store_track  # noqa: E402
from geo.tracks.simulate import SimParams, route_through, simulate_patrol  # noqa: E402

T = TypeVar("T")

# THE PREVIOUS VERSION of geo.street_corridor._CORRIDOR_SQL, before commit 03c62b4 ("the
# street chiefs' corridor times read each chief-day's own stretches"): each piece's times
# came from a lateral subquery over the whole ``stretch`` CTE (every chief's every day of
# the period), so the query grew with the square of the period's length. Kept here only to
# be timed against the current one and checked to give the same rows.
PREVIOUS_CORRIDOR_SQL = (
    """
WITH chief AS (
    SELECT DISTINCT u.person_id, u.street_id
    FROM unnest(CAST(:p AS int[]), CAST(:s AS int[])) AS u(person_id, street_id)
), stretch AS (
    SELECT v.day, v.person_id, v.first_time, v.last_time,
           ST_LineSubstring(
               (SELECT ST_Transform(s.geom, :srid) FROM street_segments s
                WHERE s.id = v.segment_id), x.f0, x.f1) AS g
"""
    + STRETCHES_FROM
    + """
    AND v.person_id IN (SELECT person_id FROM chief)
), walked AS (
    -- flat ends: the corridor reaches across the street (its parallel ways), not along it
    -- (round ends credited up to 20 m past each end of the walk on the street itself)
    SELECT day, person_id, ST_Buffer(ST_LineMerge(ST_Union(g)), :r, 'endcap=flat join=round')
           AS zone
    FROM stretch GROUP BY day, person_id
)
SELECT w.day, w.person_id, s.id AS edge_id, t.first_time, t.last_time,
       ST_LineLocatePoint(m.g, ST_StartPoint(p.geom)) AS f0,
       ST_LineLocatePoint(m.g, ST_EndPoint(p.geom)) AS f1
FROM walked w
JOIN chief c ON c.person_id = w.person_id
-- the street as it was that day: its segments live at the day's local end (_NetworkByDay)
JOIN street_segments s ON s.street_id = c.street_id
 AND """
    + segment_live_at("s", "((w.day + 1)::timestamp AT TIME ZONE :tz)")
    + """
CROSS JOIN LATERAL (SELECT ST_Transform(s.geom, :srid) AS g) AS m
CROSS JOIN LATERAL ST_Dump(ST_Intersection(m.g, w.zone)) AS p
-- the times of the walking that credited this piece, not of the chief's whole day
CROSS JOIN LATERAL (
    SELECT min(x.first_time) AS first_time, max(x.last_time) AS last_time FROM stretch x
    WHERE x.day = w.day AND x.person_id = w.person_id AND ST_DWithin(x.g, p.geom, :r)
) AS t
WHERE m.g && w.zone AND ST_GeometryType(p.geom) = 'ST_LineString'
"""
)

# One day's matched tracks copied onto another day (outside tester T59's clone_day.sql, in
# one transaction): the tracks of :src (by local day), their raw bytes with the dates
# rewritten (a new sha256; the UTC day before too: a 07:00 walk in Beijing starts on it),
# their newest match row and their patrol visits with day and times shifted.
_COPY_DAY_SQL = (
    """
CREATE TEMP TABLE copied ON COMMIT DROP AS
SELECT t.id AS old_id, nextval(pg_get_serial_sequence('tracks', 'id'))::int AS new_id
FROM tracks t
WHERE t.status = 'matched' AND (t.started_at AT TIME ZONE :tz)::date = CAST(:src AS date);
""",
    """
INSERT INTO tracks (id, sha256, raw, filename, format, crs, size_bytes, person_id, started_at,
  ended_at, n_points, status, error, uploaded_by, uploaded_at, mode, fixes_sha256,
  fixes_center, flags, warnings, fixes_extent)
SELECT c.new_id, encode(sha256(r.raw), 'hex'), r.raw, replace(t.filename, :src, :dst),
  t.format, t.crs, length(r.raw), t.person_id, t.started_at + :shift * interval '1 day',
  t.ended_at + :shift * interval '1 day', t.n_points, t.status, t.error, t.uploaded_by,
  t.uploaded_at + :shift * interval '1 day', t.mode, NULL, t.fixes_center, t.flags,
  t.warnings, t.fixes_extent
FROM copied c JOIN tracks t ON t.id = c.old_id
CROSS JOIN LATERAL (SELECT convert_to(replace(replace(replace(replace(
  convert_from(t.raw, 'UTF8'), :src_prev, '@@P@@'), :src, '@@C@@'), '@@P@@', :dst_prev),
  '@@C@@', :dst), 'UTF8') AS raw) r;
""",
    """
INSERT INTO track_matches (track_id, matched_at, matched_points, pieces, datum_hint, segments,
  walked_m, bridged_gaps, bridged_m)
SELECT c.new_id, m.matched_at, m.matched_points, m.pieces, m.datum_hint, m.segments,
  m.walked_m, m.bridged_gaps, m.bridged_m
FROM copied c JOIN LATERAL (SELECT * FROM track_matches x WHERE x.track_id = c.old_id
  ORDER BY x.id DESC LIMIT 1) m ON true;
""",
    """
INSERT INTO patrol_visits (track_id, segment_id, person_id, day, covered_fraction, first_time,
  last_time, intervals)
SELECT c.new_id, v.segment_id, v.person_id, v.day + :shift, v.covered_fraction,
  v.first_time + :shift * interval '1 day', v.last_time + :shift * interval '1 day',
  v.intervals
FROM copied c JOIN patrol_visits v ON v.track_id = c.old_id;
""",
)


def _peak_mb() -> float:
    """This process's peak resident memory since the last :func:`_reset_peak` (KiB here)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """This process's resident memory now (0 where /proc is missing): what a step's peak
    rose from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_peak() -> bool:
    """Start the peak over (Linux ≥ 4.0: clear_refs 5), so each step's peak is its own, not
    the network import's or the walk simulation's; False where the kernel will not."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall-clock seconds."""
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _closed_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the month before ``today``'s: closed, so signable."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def _staff(engine: Engine, stewards: int, chiefs: int | None, since: dt.date) -> dict[str, int]:
    """Stewards holding an alley each (round-robin: co-holders when there are more stewards
    than alleys) and chiefs holding a street each, duties from ``since``, entered the day
    before (not backdated: a duty entered after the month would be a later change)."""
    with engine.begin() as conn:
        n_alleys, n_streets = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE kind = 'alley'), "
                "count(*) FILTER (WHERE kind = 'street') FROM streets"
            )
        ).one()
        chiefs = n_streets if chiefs is None else min(chiefs, n_streets)
        for prefix, name, role, kind, n in (
            ("S", "小巷管家", "alley_steward", "alley", stewards),
            ("C", "街巷长", "street_chief", "street", chiefs),
        ):
            if n <= 0:
                continue
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) SELECT :x || g, :n || g, "
                    "ARRAY[CAST(:r AS text)] FROM generate_series(1, :k) g"
                ),
                {"x": prefix, "n": name, "r": role, "k": n},
            )
            conn.execute(
                text(
                    "INSERT INTO assignments (person_id, role, street_id, valid_from, "
                    "created_at) SELECT p.id, :r, s.id, :d, CAST(:d AS date) - 1 "
                    "FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM people "
                    "WHERE :r = ANY(roles)) p JOIN (SELECT id, row_number() OVER "
                    "(ORDER BY id) AS r FROM streets WHERE kind = :kind) s "
                    "ON (p.r - 1) % :m = s.r - 1"
                ),
                {"r": role, "kind": kind, "d": since, "m": n_alleys if kind == "alley" else n},
            )
    return {"stewards": stewards, "chiefs": chiefs, "alleys": n_alleys, "streets": n_streets}


def _real_day(engine: Engine, day: dt.date, seed: int, walking: float = 0.85) -> None:
    """The day's walks: each person on duty walks their own street or alley (share
    ``walking`` of them, 07:00-11:00 local, a fix per 5 s, 8 m noise), stored as uploads,
    matched by one queue worker, then marked sent an hour after each walk (not late)."""
    _queue_walks(engine, day, seed, walking)
    rep, match_s = _timed(lambda: drain_queue(engine, batch=200))
    print(
        f"matched in {match_s:.1f} s: {rep.matched} matched, {rep.failed} failed, "
        f"{rep.visits:,} visits"
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE tracks SET uploaded_at = ended_at + interval '1 hour'"))


def _queue_walks(engine: Engine, day: dt.date, seed: int, walking: float = 0.85) -> int:
    """The day's walks (as :func:`_real_day`) simulated and stored as uploads left in the
    match queue (store_track, as POST /tracks with ``defer``); how many were stored."""
    with engine.connect() as conn:
        held = conn.execute(
            text(
                "SELECT p.id, p.external_id, array_agg(g.id) FROM assignments a "
                "JOIN people p ON p.id = a.person_id JOIN street_segments g "
                "ON g.street_id = a.street_id WHERE a.street_id IS NOT NULL "
                "GROUP BY p.id, p.external_id ORDER BY p.id"
            )
        ).all()
    net = walk_network(engine)
    pos = {int(e): i for i, e in enumerate(net.edge_ids.tolist())}
    rng = np.random.default_rng(seed)
    local = pd.Timestamp(f"{day}T07:00:00", tz=get_settings().timezone)
    files: list[tuple[int, str, bytes]] = []
    fixes = 0
    t = time.perf_counter()
    for pid, code, segments in held:
        if rng.random() > walking:
            continue
        legs = route_through(net, sorted({pos[s] for s in segments if s in pos}), rng)
        if not legs:
            continue
        start = local + pd.Timedelta(minutes=int(rng.integers(0, 240)))
        sp = SimParams(dt_s=5, noise_m=8, start=start.tz_convert("UTC").isoformat())
        pts, _ = simulate_patrol(net, rng, sp, legs=legs)
        files.append((int(pid), code, track_csv(pts)))
        fixes += len(pts)
    print(
        f"simulated {len(files):,} walks of {len(held):,} people on duty on {day}, "
        f"{fixes:,} fixes in {time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    refused: list[str] = []
    for pid, code, data in files:
        try:
            store_track(engine, data, f"{code}-{day}.csv", "wgs84", pid, "bench", queue=True)
        except GridwardError as exc:
            refused.append(str(exc))
    print(
        f"stored in {time.perf_counter() - t:.1f} s; {len(refused)} refused"
        + (f", the first: {refused[0][:160]}" if refused else "")
    )
    return len(files) - len(refused)


def _copy_day(engine: Engine, src: dt.date, dst: dt.date) -> None:
    """``src``'s matched walks, their match and visits, copied onto ``dst`` (_COPY_DAY_SQL)."""
    params = {
        "tz": get_settings().timezone,
        "src": src.isoformat(),
        "dst": dst.isoformat(),
        "src_prev": (src - dt.timedelta(days=1)).isoformat(),
        "dst_prev": (dst - dt.timedelta(days=1)).isoformat(),
        "shift": (dst - src).days,
    }
    with engine.begin() as conn:
        for sql in _COPY_DAY_SQL:
            conn.execute(text(sql), params)


def _chief_duties(engine: Engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The street chiefs' duties of the period, in the columns chief_corridor reads."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT street_id AS alley_id, person_id, role FROM assignments "
                "WHERE role = 'street_chief' AND valid_from <= :b "
                "AND (valid_to IS NULL OR valid_to >= :a)"
            ),
            {"a": start, "b": end},
        ).all()
    return pd.DataFrame(rows, columns=["alley_id", "person_id", "role"])


@contextmanager
def _corridor_sql(sql: str) -> Iterator[None]:
    """chief_corridor (and so build_report) runs ``sql`` as its query meanwhile: the very
    parameters it passes, not a copy of them, so the two versions are timed on one call."""
    kept = street_corridor._CORRIDOR_SQL
    street_corridor._CORRIDOR_SQL = sql
    try:
        yield
    finally:
        street_corridor._CORRIDOR_SQL = kept


def _corridor(engine: Engine, duties: pd.DataFrame, period: Period, sql: str) -> pd.DataFrame:
    """chief_corridor over ``period`` with ``sql`` as its query."""
    with _corridor_sql(sql), engine.connect() as conn:
        return street_corridor.chief_corridor(conn, duties, period.start, period.end)


def _monthly_before(engine: Engine, day: dt.date, today: dt.date) -> Report:
    """The monthly report as it was made before commit 03c62b4 (the previous corridor)."""
    with _corridor_sql(PREVIOUS_CORRIDOR_SQL):
        return build_report(engine, "monthly", day, today=today)


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same rows in any order (the queries do not order them)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    cols = list(a.columns)
    a = a.sort_values(cols, ignore_index=True)
    b = b.sort_values(cols, ignore_index=True)
    return a.equals(b)


def _same_report(a: Report, b: Report) -> bool:
    """Every table of the two reports equal (the same rows in the same order)."""
    return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def _month_figures(engine: Engine, start: dt.date, end: dt.date) -> str:
    """What the month holds: visits, tracks, people with visits, days with visits."""
    with engine.connect() as conn:
        r = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT track_id), count(DISTINCT person_id), "
                "count(DISTINCT day) FROM patrol_visits WHERE day BETWEEN :a AND :b"
            ),
            {"a": start, "b": end},
        ).one()
        duty = conn.execute(
            text("SELECT count(DISTINCT person_id) FROM assignments WHERE street_id IS NOT NULL")
        ).scalar_one()
    return (
        f"{r[0]:,} patrol visits, {r[1]:,} tracks, {r[2]:,} people with visits of {duty:,} "
        f"with duties, {r[3]} days with visits"
    )


# The load section. The queue worker's batch while the evaluators' calls run: smaller than
# `gridward tracks worker`'s 200, so that the drain's rate is read over several batches
# inside the calls' time, and it stops soon after them.
DRAIN_BATCH = 50
# one call of GET /reports/monthly?format=xlsx, its stages
_STAGES = ("build", "signoff", "xlsx")


def _evaluator_xlsx(engine: Engine, day: dt.date, today: dt.date) -> dict[str, float]:
    """What GET /reports/monthly?format=xlsx does for an evaluator (an admin: no viewer's
    note swap, a no-op here) asking for the whole city (api.routes.reports.report): the
    report built, its signoff attached (the month is signed by then: what changed since is
    looked up), written as XLSX into a folder of its own, removed after (the API removes it
    once sent; sending 2.8 MB is not timed). The seconds of each stage and in all."""
    t0 = time.perf_counter()
    period = report_period("monthly", day, today)
    share = share_used(None)
    rep = build_report(engine, "monthly", day, None, share, today)
    t1 = time.perf_counter()
    attach_signoff(engine, rep, period, share)
    t2 = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="gridward-report-"))
    try:
        export_report(rep, folder / f"monthly_{period.start}_{period.through}.xlsx", period, share)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    t3 = time.perf_counter()
    return {"build": t1 - t0, "signoff": t2 - t1, "xlsx": t3 - t2, "call": t3 - t0}


def _one_by_one(n: int, call: Callable[[], dict[str, float]]) -> tuple[list[dict], float]:
    """``call`` ``n`` times, one after the other: each call's stages, and the whole time."""
    t = time.perf_counter()
    out = [call() for _ in range(n)]
    return out, time.perf_counter() - t


def _at_once(n: int, call: Callable[[], dict[str, float]]) -> tuple[list[dict], float]:
    """``call`` on ``n`` threads let go together (a barrier), as n requests FastAPI's thread
    pool runs at once: each call's stages, and the time until the last one ended."""
    go = threading.Barrier(n)

    def one() -> dict[str, float]:
        go.wait()
        return call()

    with ThreadPoolExecutor(n, thread_name_prefix="evaluator") as pool:
        t = time.perf_counter()
        futures = [pool.submit(one) for _ in range(n)]
        out = [f.result() for f in futures]
    return out, time.perf_counter() - t


def _jobs_in_processes(
    engine: Engine, n: int, day: dt.date, today: dt.date
) -> tuple[list[dict], float]:
    """``n`` monthly XLSX report jobs as ``POST /reports/monthly/jobs`` starts them for ``n``
    evaluators (admins, the whole city): through api.background.run_job_in_process and the
    route's own job function (build, signoff, XLSX, the file stored in the database), two
    processes at a time, the rest queued. Each job's time from its start to its file (its
    wait in the queue included, as the evaluator waits), and the time until the last ended.
    Every job must end done with a file, or the run stops."""
    from api.background import run_job_in_process
    from api.routes.report_jobs import make_report_file
    from geo.accounts import Principal

    period = report_period("monthly", day, today)
    params: dict[str, Any] = {
        "kind": "monthly",
        "date": day.isoformat(),
        "today": today.isoformat(),
        "period_start": period.start.isoformat(),
        "area": None,
        "share": share_used(None),
        "format": "xlsx",
        "table": None,
    }
    users = [Principal(user_id=0, username=f"bench-evaluator-{i}", role="admin") for i in range(n)]
    with engine.begin() as conn:
        ids = [create_job(conn, "report", params, created_by=u.username) for u in users]
    url = engine.url.render_as_string(hide_password=False)
    ended: dict[str, float] = {}
    t = time.perf_counter()
    futures = []
    for job_id, user in zip(ids, users, strict=True):
        f = run_job_in_process(engine, job_id, make_report_file, url, job_id, user, params)
        f.add_done_callback(lambda _f, j=job_id: ended.setdefault(j, time.perf_counter()))
        futures.append(f)
    for f in futures:
        f.result()
    total = time.perf_counter() - t
    with engine.connect() as conn:
        done = conn.execute(
            text(
                "SELECT count(*) FROM jobs j JOIN report_files f ON f.job_id = j.id "
                "WHERE j.id = ANY(:ids) AND j.status = 'done'"
            ),
            {"ids": ids},
        ).scalar_one()
    if done != n:
        raise SystemExit(f"report jobs in processes: {done} of {n} ended done with a file")
    return [{"call": ended[j] - t} for j in ids], total


def _drain(
    engine: Engine, batch: int, enough: Callable[[int], bool]
) -> tuple[float, list[tuple[float, int]]]:
    """A queue worker's drain (drain_queue), ``batch`` tracks at a time, until ``enough(n)``
    after a batch or the queue is empty: when it began, and when each batch ended with the
    tracks it matched or failed (perf_counter seconds)."""
    began, ends, n = time.perf_counter(), [], 0
    while not enough(n):
        rep = drain_queue(engine, batch=batch, max_tracks=batch)
        done = rep.matched + rep.failed
        if done == 0:
            break
        n += done
        ends.append((time.perf_counter(), done))
    return began, ends


class _PoolWatch:
    """The most connections the engine's pool had checked out at once meanwhile (looked at
    every 20 ms): whether the pool (geo.db.get_engine: 10 + 20 overflow) held calls back."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.most = engine, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.most = max(self.most, self.engine.pool.checkedout())  # type: ignore[attr-defined]

    def __enter__(self) -> _PoolWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _spread(calls: list[dict], key: str = "call") -> str:
    """min / median / max of one stage over the calls."""
    xs = [c[key] for c in calls]
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def _stages(calls: list[dict]) -> str:
    """Each stage's median over the calls."""
    return ", ".join(f"{k} {statistics.median(c[k] for c in calls):.2f}" for k in _STAGES)


def _load_section(
    engine: Engine,
    n: int,
    day: dt.date,
    today: dt.date,
    queued: int,
    batch: int,
    rows: list[tuple[str, float, str, str]],
) -> None:
    """N evaluators asking for the month's XLSX: one by one, at once, and at once while a
    queue worker drains ``queued`` walks (``batch`` at a time) in another thread, its
    walks/s against a drain alone. Each a line of ``rows`` (total seconds, peak RSS, notes:
    per call min / median / max and the stages' medians)."""
    call = partial(_evaluator_xlsx, engine, day, today)
    pool = engine.pool
    print(
        f"load: {n} evaluators; pool {pool.size()} + {pool._max_overflow} overflow "  # type: ignore[attr-defined]
        f"connections; {os.cpu_count()} cores"
    )

    def add(name: str, runs: tuple[list[dict], float], before: float, note: str = "") -> None:
        calls, total = runs
        rows.append(
            (
                name,
                total,
                _peak_text(before),
                f"per call min/median/max {_spread(calls)}; median {_stages(calls)}" + note,
            )
        )
        print(f"  {name}: {total:.2f} s in all; {rows[-1][3]}")

    _reset_peak()
    before = _rss_mb()
    add(f"load: {n} monthly XLSX calls one by one", _one_by_one(n, call), before)
    _reset_peak()
    before = _rss_mb()
    with _PoolWatch(engine) as watch:
        runs = _at_once(n, call)
    add(f"load: {n} monthly XLSX calls at once", runs, before, f"; {watch.most} connections")
    if queued <= 0:
        return
    # the drain alone: a quarter of the queue (the rest is left for the load)
    began, ends = _drain(engine, batch, lambda k: k >= max(batch, queued // 4))
    alone = sum(k for _, k in ends)
    alone_s = ends[-1][0] - began if ends else 0.0
    rows.append(
        (
            "load: queue drain alone",
            alone_s,
            "",
            f"{alone} walks, {alone / max(alone_s, 1e-9):.1f} walks/s (batches of {batch})",
        )
    )
    print(f"  {rows[-1][0]}: {alone_s:.2f} s; {rows[-1][3]}")
    for name, run in (
        (f"load: {n} monthly XLSX calls at once + a drain", lambda: _at_once(n, call)),
        (
            f"load: {n} monthly XLSX report jobs (processes, 2 at a time) + a drain",
            lambda: _jobs_in_processes(engine, n, day, today),
        ),
    ):
        _reset_peak()
        before = _rss_mb()
        with _PoolWatch(engine) as watch:
            runs, drained, calls_end = _with_drain(engine, batch, run)
        note = f"; {watch.most} connections"
        if "jobs" in name:  # the stages are the processes': the time is start to file
            calls, total = runs
            rows.append(
                (
                    name,
                    total,
                    _peak_text(before) + " (API's)",
                    f"per job, its start to its file (queue wait included) min/median/max "
                    f"{_spread(calls)}" + note,
                )
            )
            print(f"  {name}: {total:.2f} s in all; {rows[-1][3]}")
        else:
            add(name, runs, before, note)
        # the rate while the calls ran: the batches that ended before the last call did
        began, ends = drained
        inside = [(t, k) for t, k in ends if t <= calls_end]
        m = sum(k for _, k in inside)
        m_s = (inside[-1][0] - began) if inside else calls_end - began
        after = sum(k for _, k in ends) - m
        dry = bool(ends) and ends[-1][0] < calls_end and not queued_count(engine)
        rows.append(
            (
                "load: queue drain during those " + ("jobs" if "jobs" in name else "calls"),
                m_s,
                "",
                f"{m} walks in the batches done before the last ended, "
                f"{m / max(m_s, 1e-9):.1f} walks/s; {after} more in the batch running then"
                + ("; the queue ran dry before they ended" if dry else ""),
            )
        )
        print(f"  {rows[-1][0]}: {m_s:.2f} s; {rows[-1][3]}")


def _with_drain(
    engine: Engine, batch: int, run: Callable[[], T]
) -> tuple[T, tuple[float, list[tuple[float, int]]], float]:
    """``run()`` while a queue worker drains in a thread of this process (as the API's match
    jobs do): its result, the drain's start and batches, and when ``run`` ended."""
    stop = threading.Event()
    drained: list[tuple[float, list[tuple[float, int]]]] = []
    worker = threading.Thread(
        target=lambda: drained.append(_drain(engine, batch, lambda _k: stop.is_set())),
        name="queue-worker",
    )
    worker.start()
    try:
        out = run()
        end = time.perf_counter()
    finally:
        stop.set()  # the worker ends after the batch it is matching
        worker.join()
    return out, drained[0], end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stewards", type=int, default=None, help="default 1000 (--quick: 150)")
    ap.add_argument("--days", type=int, default=None, help="days with walks, default 31 (7)")
    ap.add_argument("--chiefs", type=int, default=None, help="default one per street (30)")
    ap.add_argument("--quick", action="store_true", help="a small run: 150 stewards, 7 days")
    ap.add_argument(
        "--load",
        type=int,
        default=None,
        help="evaluators asking for the monthly XLSX at once, default 4 (--quick: 0, none)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    quick = args.quick
    stewards = args.stewards or (150 if quick else 1000)
    chiefs = args.chiefs if args.chiefs is not None else (30 if quick else None)
    load = max(0, args.load if args.load is not None else (0 if quick else 4))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        "figures are wall-clock on a shared machine"
    )
    today = city_today()
    start, end = _closed_month(today)
    days = max(
        1, min(args.days or (7 if quick else 31), calendar.monthrange(start.year, start.month)[1])
    )

    folder = Path(tempfile.mkdtemp(prefix="gridward-bench-"))
    folder.chmod(0o755)
    cluster = EmbeddedCluster(folder / "data", fast=True)
    state = cluster.start()
    try:
        engine = get_engine(state.url)
        import_city(engine, folder)
        staff = _staff(engine, stewards, chiefs, start)
        print(
            f"month {start:%Y-%m} (today {today}): {staff['stewards']} stewards on "
            f"{staff['alleys']} alleys, {staff['chiefs']} street chiefs of {staff['streets']} "
            f"streets; real day {start}, {days - 1} days copied from it"
        )
        _real_day(engine, start, args.seed)
        _, copy_s = _timed(
            lambda: [_copy_day(engine, start, start + dt.timedelta(days=d)) for d in range(1, days)]
        )
        print(f"copied {days - 1} days in SQL in {copy_s:.1f} s")
        print(_month_figures(engine, start, end))
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))

        rows: list[tuple[str, float, str, str]] = []  # name, seconds, peak RSS, notes
        print(f"peak RSS of the set-up (network, walks, matching): {_peak_mb():.0f} MB")
        per_step = _reset_peak()

        def step(name: str, fn: Callable[[], T], note: Callable[[T], str] = lambda _: "") -> T:
            """Time ``fn``, print its line and keep it for the table (with its own peak)."""
            _reset_peak()
            before = _rss_mb()
            out, s = _timed(fn)
            rows.append((name, s, _peak_text(before), note(out)))
            print(f"  {name}: {s:.2f} s, peak RSS {rows[-1][2]}; {rows[-1][3]}")
            return out

        share = share_used(None)
        period = report_period("monthly", start, today)
        week = report_period("weekly", start + dt.timedelta(days=min(days - 1, 3)), today)
        step(
            f"daily report {start}",
            lambda: build_report(engine, "daily", start, today=today),
            lambda r: f"{len(r['people']):,} people",
        )
        step(
            f"weekly report {week.start}..{week.end}",
            lambda: build_report(engine, "weekly", week.start, today=today),
            lambda r: f"{len(r['alleys']):,} alley rows",
        )
        month = step(
            "monthly report (build_report)",
            lambda: build_report(engine, "monthly", start, today=today),
            lambda r: f"{len(r['people']):,} people, {len(r['alleys']):,} alley rows",
        )
        monthly_s = rows[-1][1]
        step(
            "monthly as XLSX (export_report)",
            lambda: export_report(month, folder / "month.xlsx", period, share),
            _file_size,
        )
        for table in ("people", "alleys"):
            step(
                f"monthly as CSV, table {table}",
                lambda t=table: export_report(month, folder / f"{t}.csv", period, share, t),
                _file_size,
            )
        step(
            "sign the month (sign_report)",
            lambda: sign_report(engine, "monthly", start, None, None, "bench", today=today),
            lambda r: f"signoff {r['id']} version {r['version']}",
        )

        # (a) the month's dailies one by one: the sum the monthly must stay below
        _reset_peak()
        before = _rss_mb()
        dailies = [
            _timed(lambda d=d: build_report(engine, "daily", d, today=today))[1]
            for d in period.days
        ]
        below = "yes" if monthly_s < sum(dailies) else "no"
        rows.append(
            (
                f"alternative: the {len(dailies)} dailies one by one",
                sum(dailies),
                _peak_text(before),
                f"mean {np.mean(dailies):.2f} s, max {max(dailies):.2f} s; "
                f"monthly below their sum: {below}",
            )
        )
        print(f"  {rows[-1][0]}: {sum(dailies):.2f} s; {rows[-1][3]}")

        # (b) the chiefs' corridor now and as it was before commit 03c62b4
        for label, span in (("week", week), ("month", period)):
            duties = _chief_duties(engine, span.start, span.end)
            now = step(
                f"corridor query, {label} (now)",
                lambda d=duties, p=span: _corridor(engine, d, p, street_corridor._CORRIDOR_SQL),
                lambda r: f"{len(r):,} rows",
            )
            step(
                f"alternative: corridor as before, {label}",
                lambda d=duties, p=span: _corridor(engine, d, p, PREVIOUS_CORRIDOR_SQL),
                lambda r, n=now: (
                    f"{len(r):,} rows; same rows: " + ("yes" if _same_rows(n, r) else "no")
                ),
            )
        step(
            "alternative: monthly with the corridor as before",
            lambda: _monthly_before(engine, start, today),
            lambda r: f"same tables: {'yes' if _same_report(r, month) else 'no'}",
        )
        below = "yes" if rows[-1][1] < sum(dailies) else "no"
        rows[-1] = (*rows[-1][:3], f"{rows[-1][3]}; below the dailies' sum: {below}")
        print(f"    below the dailies' sum: {below}")

        if load:
            # the two days before the month: their walks left queued for the drains under
            # load (threads, then processes), out of the month (the report the evaluators
            # ask for does not change meanwhile)
            queued = sum(
                _queue_walks(engine, start - dt.timedelta(days=d), args.seed + d) for d in (1, 2)
            )
            _load_section(engine, load, start, today, queued, DRAIN_BATCH, rows)

        width = max(len(r[0]) for r in rows)
        print(f"\n{'operation':<{width}}  {'seconds':>8}  {'peak RSS (rise)':>16}  notes")
        for name, s, peak, note in rows:
            print(f"{name:<{width}}  {s:8.2f}  {peak:>16}  {note}")
        print(
            "(peak RSS: of this process, "
            + ("during each step alone" if per_step else "so far: the kernel kept the peak")
            + "; the database server's memory is apart)"
        )
    finally:
        dispose_engines()
        cluster.destroy()


def _peak_text(before: float) -> str:
    """The peak since the last reset and its rise over ``before`` (the RSS a step began at)."""
    peak = _peak_mb()
    return f"{peak:.0f} MB (+{max(peak - before, 0):.0f})"


def _file_size(path: Path) -> str:
    """A written file's size, for the table."""
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


if __name__ == "__main__":
    main()
