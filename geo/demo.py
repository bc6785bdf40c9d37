"""The demo city: the Haidian fixtures with grids, people, duties and a day of patrols.

Everything here is synthetic except the map (OSM): people are generated (names from common
surnames, no real phone numbers), and patrols are simulated walks on the real alley network
uploaded as CSV files through the same path a phone upload takes. Idempotent: a second run only
fills what is missing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from geo.settings import city_today, get_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SUBDISTRICT = "110108015"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def _name(rng: np.random.Generator) -> str:
    return str(rng.choice(list(_SURNAMES))) + "".join(
        rng.choice(list(_GIVEN), size=int(rng.integers(1, 3)))
    )


def track_csv(points: pd.DataFrame) -> bytes:
    """A phone-style CSV upload (lon, lat, ISO time) of simulated fixes."""
    return (
        pd.DataFrame(
            {
                "lon": points["lon"].round(7),
                "lat": points["lat"].round(7),
                "time": points["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        .to_csv(index=False)
        .encode()
    )


def load_city(engine: Engine) -> dict[str, dict[str, int]]:
    """Import the fixtures (areas, then the OSM cut)."""
    from geo.areas_import import import_areas
    from geo.importer import import_osm

    return {
        "areas": import_areas(engine, FIXTURES / "communities.geojson", level="community"),
        "osm": import_osm(engine, FIXTURES / "haidian_demo.osm"),
    }


def make_grids(engine: Engine, lo: int = 300, hi: int = 500) -> int:
    """Partition and commit every community that has no grids yet."""
    from geo.plans import commit_plan, create_plan

    with engine.connect() as conn:
        todo = conn.execute(
            text(
                "SELECT a.code FROM areas a WHERE a.level = 'community' AND NOT EXISTS "
                "(SELECT 1 FROM grids g WHERE g.community_id = a.id) ORDER BY a.code"
            )
        ).scalars()
        todo = list(todo)
    for code in todo:
        commit_plan(engine, create_plan(engine, code, lo, hi, created_by="demo"), actor="demo")
    return len(todo)


def make_people(engine: Engine, seed: int = 0) -> int:
    """Generate a people registry sized to the city's alleys, streets and grids."""
    from geo.people_import import import_people

    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM people")).scalar():
            return 0
        homes = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                "FROM buildings WHERE households > 0 ORDER BY id"
            )
        ).all()
        n_alleys = conn.execute(
            text("SELECT count(*) FROM streets WHERE kind = 'alley' AND retired_at IS NULL")
        ).scalar()
        n_streets = conn.execute(
            text("SELECT count(*) FROM streets WHERE kind = 'street' AND retired_at IS NULL")
        ).scalar()
        n_grids, hh = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(households), 0) FROM grids "
                "WHERE retired_at IS NULL AND level = 1"
            )
        ).one()
    rng = np.random.default_rng(seed)
    plan = (
        [("alley_steward", int(n_alleys * 0.6) + 1)]
        + [("street_chief", int(n_streets * 0.8) + 1)]
        + [("grid_leader", int(n_grids) + 2)]
        + [("grid_worker", int(np.ceil(hh / 100 * 1.1)) + 2)]
    )
    rows = []
    for role, n in plan:
        for _ in range(n):
            x, y = homes[int(rng.integers(len(homes)))]
            rows.append(
                {
                    "person_id": f"DEMO{len(rows) + 1:04d}",
                    "name": _name(rng),
                    "phone": "",
                    "role": role,
                    "lon": round(x, 7),
                    "lat": round(y, 7),
                }
            )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo_people.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        import_people(engine, path, actor="demo")
    return len(rows)


def make_duties(engine: Engine, day: dt.date) -> dict[str, int]:
    """Staff the subdistrict's grids, streets and alleys (only gaps when already staffed)."""
    from geo.staffing import commit, propose

    out = {}
    for kind in ("grids", "streets", "alleys"):
        out[kind] = commit(engine, propose(engine, kind, SUBDISTRICT, day=day), "demo", day)[
            "started"
        ]
    return out


def make_patrols(engine: Engine, day: dt.date, seed: int = 0) -> int:
    """Simulate one morning's patrol of each steward and upload it: most walk all their
    alleys, some about half, some not at all, so the day's reports show all three.

    WHY along their own alleys: random walks almost never touch a walker's assigned alleys,
    and the demo's reports then read 0 % for everyone."""
    from geo.day_networks import walk_network
    from geo.track_store import ingest_track
    from geo.tracks.simulate import SimParams, route_through, simulate_patrol

    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM tracks")).scalar():
            return 0
        rows = conn.execute(
            text(
                "SELECT a.person_id, array_agg(g.id ORDER BY g.id) FROM assignments a "
                "JOIN street_segments g ON g.street_id = a.street_id "
                "WHERE a.role = 'alley_steward' AND a.valid_to IS NULL "
                "AND g.retired_at IS NULL "
                "GROUP BY a.person_id ORDER BY a.person_id"
            )
        ).all()
    net = walk_network(engine)
    position = {int(e): i for i, e in enumerate(net.edge_ids)}
    rng = np.random.default_rng(seed)
    n = 0
    for person, segments in rows:
        mine = sorted({position[s] for s in segments if s in position})
        share = rng.choice([1.0, 0.5, 0.0], p=[0.7, 0.15, 0.15])
        if not mine or share == 0.0:
            continue
        if share < 1.0:  # a walker who walks about half their alley segments
            mine = mine[: max(1, len(mine) // 2)]
        start = pd.Timestamp(day).tz_localize("Asia/Shanghai") + pd.Timedelta(
            hours=7, minutes=int(rng.integers(0, 90))
        )
        legs = route_through(net, mine, rng)
        if not legs:
            continue
        sigma = float(rng.uniform(4, 12))
        # the route without noise (the same draws from ``rng`` as with it, so the same walks
        # and people as before), then a phone's drifting error from a walker's own generator
        pts, _ = simulate_patrol(
            net, rng, SimParams(noise_m=0.0, start=start.tz_convert("UTC").isoformat()), legs=legs
        )
        pts = _phone_error(net, pts, np.random.default_rng([seed, int(person)]), sigma)
        data = track_csv(pts)
        item = ingest_track(engine, data, f"patrol_{person}_{day}.csv", "wgs84", person, "demo")
        n += int(item["created"])
    return n


def _phone_error(
    net: Any, pts: pd.DataFrame, rng: np.random.Generator, sigma: float
) -> pd.DataFrame:
    """``pts`` (a fix every 3 s, as simulated) with a phone's GPS error: ``sigma`` metres per
    axis drifting fix to fix (:func:`geo.tracks.simulate.drifting_noise`), plus 1 m of
    jitter, as the honest walks of tests.test_track_flags_db are made.

    WHY not the simulator's own noise: it scatters each fix afresh, which is what a
    generated walk looks like, and the match flagged 28 of the demo's 30 walks
    ``white_noise`` (T53 N6): a new user's first look read "everyone cheats"."""
    from geo.tracks.simulate import drifting_noise

    xy = net.to_metric(pts["lon"].to_numpy(), pts["lat"].to_numpy())
    xy = xy + drifting_noise(rng, len(xy), sigma, 3.0) + rng.normal(0, 1.0, xy.shape)
    lon, lat = net.to_wgs84(xy)
    return pts.assign(lon=lon, lat=lat)


def populate(engine: Engine, seed: int = 0) -> dict[str, object]:
    """The whole demo: city, grids, people, duties (from a week ago), yesterday's patrols."""
    today = city_today()
    out: dict[str, object] = dict(load_city(engine))
    out["grids"] = {"communities_partitioned": make_grids(engine)}
    out["people"] = {"generated": make_people(engine, seed)}
    out["duties"] = make_duties(engine, today - dt.timedelta(days=7))
    out["patrols"] = {"tracks": make_patrols(engine, today - dt.timedelta(days=1), seed)}
    as_told(engine)
    return out


def as_told(engine: Engine) -> None:
    """Date the demo's records as its story tells them: the duties set on their first day
    (08:00), each walk sent half an hour after it ended. WHY (outside tester T62 #5): made
    all at once by the demo, every walk of yesterday read as a late upload (迟传, 1 day) and
    the closed weeks' notes called the demo's own duties backdated (补设)."""
    tz = get_settings().timezone
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE assignments SET created_at = (valid_from + TIME '08:00') AT TIME ZONE :tz "
                "WHERE created_by = 'demo' AND created_at > (valid_from + TIME '08:00') "
                "AT TIME ZONE :tz"
            ),
            {"tz": tz},
        )
        conn.execute(
            text(
                "UPDATE tracks SET uploaded_at = ended_at + INTERVAL '30 minutes' "
                "WHERE uploaded_by = 'demo' AND uploaded_at > ended_at + INTERVAL '30 minutes'"
            )
        )
