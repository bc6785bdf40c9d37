"""Grid staffing "1+N" (一长N员): a leader and ceil(households / ratio) full-time workers per grid.

Solved as one min-cost flow (OR-Tools): source → person (capacity = grids a person may serve,
default 1) → role slot of a grid (cost = metres from home to the grid) → sink (capacity = the
slots needed); a costly shortage arc per slot keeps the problem feasible and shows which grids
stay short. Leaders' shortage costs more than workers', so leaders are filled first. People are
"available to a community" when their ``community_id`` matches the grid's (when both have one)
and they live within ``max_distance_m`` of the grid.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from ortools.graph.python import min_cost_flow

from geo.assign.inputs import check_people
from geo.assign.people import has_role
from geo.crs import WGS84, metric_crs_for_bounds
from geo.errors import InputError


@dataclass
class GridParams:
    """Local staffing policy (documented defaults).

    - ``households_per_worker`` (100): one full-time worker per this many households.
    - ``leaders_per_grid`` (1).
    - ``max_distance_m`` (2000): straight-line home → grid distance for availability (grids are
      areas, people live in or next to them).
    - ``grids_per_person`` (1): how many grids one person may serve; a ``capacity`` column
      overrides it per person.
    - ``leader_shortage_cost_m`` / ``worker_shortage_cost_m`` (1e6 / 1e5): penalty per empty slot.
    """

    households_per_worker: int = 100
    leaders_per_grid: int = 1
    max_distance_m: float = 2000.0
    grids_per_person: int = 1
    leader_shortage_cost_m: float = 1_000_000.0
    worker_shortage_cost_m: float = 100_000.0


@dataclass
class GridStaffing:
    assignments: pd.DataFrame  # grid_id, person_id, role, distance_m
    short: pd.DataFrame  # grid_id, leaders_needed/assigned, workers_needed/assigned
    summary: dict = field(default_factory=dict)


def workers_needed(households: np.ndarray, households_per_worker: int) -> np.ndarray:
    """ceil(households / ratio) — a grid with any households needs at least one worker."""
    h = np.nan_to_num(np.asarray(households, dtype=float), nan=0.0)
    return np.ceil(np.maximum(h, 0) / households_per_worker).astype(np.int64)


def staff_shortfall(leaders: int, full_time: int, needed: int) -> dict[str, bool | int] | None:
    """What a grid lacks of its "1+N": ``{"leader": no leader, "workers": full-time workers
    missing}``, None when fully staffed. The one rule of GET /coverage's
    ``grids_fully_staffed`` and the grid map's 缺员 mark (T65 F13), so they never disagree."""
    short = {"leader": leaders < 1, "workers": max(0, int(needed) - int(full_time))}
    return short if short["leader"] or short["workers"] else None


def _in_metres(grids: gpd.GeoDataFrame, people: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Grid outlines and homes in the grids' local metric CRS, as distances are measured."""
    g4326 = grids if grids.crs is not None else grids.set_crs(WGS84)
    crs = metric_crs_for_bounds(g4326.to_crs(WGS84).total_bounds)
    homes = gpd.GeoSeries(gpd.points_from_xy(people["lon"], people["lat"]), crs=WGS84)
    return g4326.geometry.to_crs(crs).values, homes.to_crs(crs).values


def home_to_grid_m(
    grids: gpd.GeoDataFrame, people: pd.DataFrame, grid_ids: list, person_ids: list
) -> list[float | None]:
    """Metres from each person's home to each grid (pairs given by id), measured as
    :func:`staff_grids` measures them; None for a person not among ``people``."""
    gm, homes = _in_metres(grids, people)
    g_ix = {g: i for i, g in enumerate(grids["grid_id"])}
    p_ix = {p: i for i, p in enumerate(people["person_id"])}
    return [
        round(float(shapely.distance(homes[p_ix[p]], gm[g_ix[g]])), 1) if p in p_ix else None
        for g, p in zip(grid_ids, person_ids, strict=True)
    ]


def staff_grids(
    grids: gpd.GeoDataFrame,
    people: pd.DataFrame,
    params: GridParams | None = None,
    exclude: set[tuple[object, object]] | None = None,
) -> GridStaffing:
    """Staff level-1 grids from people with roles grid_leader / grid_worker.

    ``grids`` may carry ``leaders_held`` and ``workers_held``: slots already filled (filling
    gaps around the duties in force); only the rest is solved, and a grid is short when the
    rest cannot be filled. People's ``capacity`` is then what they have left. ``exclude``:
    (grid_id, person_id) pairs never proposed (a duty there a planner ended; dropping the
    pick afterwards would leave a slot short that the solver counted as filled)."""
    t0 = time.perf_counter()
    params = params or GridParams()
    if params.households_per_worker < 1:
        raise InputError(
            "每名网格员负责的户数至少为 1，请调大 households per worker must be at least 1"
        )
    if grids is None or len(grids) == 0:
        raise InputError("没有给出网格 no grids given")
    for col in ("grid_id", "households"):
        if col not in grids.columns:
            raise InputError(f"网格缺少 {col} 列，请添加 the grids have no '{col}' column")
    if grids["grid_id"].duplicated().any():
        dup = grids.loc[grids["grid_id"].duplicated(), "grid_id"].astype(str).tolist()[:5]
        shown = ", ".join(dup)
        raise InputError(f"网格编号 grid_id 重复（{shown}），请改正 duplicate grid_id: {shown}")
    people = check_people(people)
    grids = grids.reset_index(drop=True)
    gm, homes = _in_metres(grids, people)
    tree = shapely.STRtree(gm)
    hp, hg = tree.query(homes, predicate="dwithin", distance=params.max_distance_m)
    dist = shapely.distance(homes[hp], gm[hg])
    if "community_id" in grids.columns and "community_id" in people.columns:
        pc = people["community_id"].to_numpy(object)[hp]
        gc = grids["community_id"].to_numpy(object)[hg]
        ok = pd.isna(pc) | pd.isna(gc) | (pc.astype(str) == gc.astype(str))
        hp, hg, dist = hp[ok], hg[ok], dist[ok]
    if exclude:
        gid, pid = grids["grid_id"].to_numpy(object), people["person_id"].to_numpy(object)
        ok = np.array([(g, p) not in exclude for g, p in zip(gid[hg], pid[hp], strict=True)])
        hp, hg, dist = hp[ok], hg[ok], dist[ok]

    n_g, n_p = len(grids), len(people)
    need_lead = np.full(n_g, params.leaders_per_grid, dtype=np.int64)
    need_work = workers_needed(grids["households"].to_numpy(), params.households_per_worker)
    for need, col in ((need_lead, "leaders_held"), (need_work, "workers_held")):
        if col in grids.columns:
            held = pd.to_numeric(grids[col], errors="coerce").fillna(0).to_numpy()
            need[:] = np.maximum(need - held.astype(np.int64), 0)
    is_lead = has_role(people, "grid_leader").to_numpy()
    is_work = has_role(people, "grid_worker").to_numpy()
    cap = np.full(n_p, params.grids_per_person, dtype=np.int64)
    if "capacity" in people.columns:
        own = pd.to_numeric(people["capacity"], errors="coerce").to_numpy(float)
        cap = np.where(np.isfinite(own), np.maximum(own, 0), cap).astype(np.int64)

    smcf = min_cost_flow.SimpleMinCostFlow()
    src, sink = 0, 1
    person_node = 2 + np.arange(n_p)
    lead_node = 2 + n_p + np.arange(n_g)
    work_node = 2 + n_p + n_g + np.arange(n_g)
    total = int(need_lead.sum() + need_work.sum())
    smcf.add_arcs_with_capacity_and_unit_cost(
        np.full(n_p, src), person_node, cap, np.zeros(n_p, dtype=np.int64)
    )
    role_arcs = []
    for role_mask, slot in ((is_lead, lead_node), (is_work, work_node)):
        m = role_mask[hp]
        arcs = smcf.add_arcs_with_capacity_and_unit_cost(
            person_node[hp[m]],
            slot[hg[m]],
            np.ones(int(m.sum()), dtype=np.int64),
            np.round(dist[m]).astype(np.int64),
        )
        role_arcs.append((np.asarray(arcs), hp[m], hg[m], dist[m]))
    for need, slot, pen in (
        (need_lead, lead_node, params.leader_shortage_cost_m),
        (need_work, work_node, params.worker_shortage_cost_m),
    ):
        # Every slot drains to the sink; a shortage arc from the source fills what people can't,
        # so the flow is always feasible and total supply equals the slots needed.
        smcf.add_arcs_with_capacity_and_unit_cost(
            slot, np.full(n_g, sink), need, np.zeros(n_g, dtype=np.int64)
        )
        smcf.add_arcs_with_capacity_and_unit_cost(
            np.full(n_g, src), slot, need, np.full(n_g, int(pen), dtype=np.int64)
        )
    supplies = np.zeros(2 + n_p + 2 * n_g, dtype=np.int64)
    supplies[src], supplies[sink] = total, -total
    smcf.set_nodes_supplies(np.arange(len(supplies)), supplies)
    if total > 0 and smcf.solve() != smcf.OPTIMAL:
        raise InputError("求解器未能算出网格人员配置 grid staffing could not be solved")

    rows = []
    for (arcs, ap, ag, ad), role in zip(role_arcs, ("grid_leader", "grid_worker"), strict=True):
        if len(arcs) == 0 or total == 0:
            continue
        f = smcf.flows(arcs) > 0
        for p, g, d in zip(ap[f], ag[f], ad[f], strict=True):
            rows.append((grids["grid_id"].iat[g], people["person_id"].iat[p], role, round(d, 1)))
    out = pd.DataFrame(rows, columns=["grid_id", "person_id", "role", "distance_m"])
    got = out.groupby(["grid_id", "role"]).size().unstack(fill_value=0)
    got = got.reindex(grids["grid_id"], fill_value=0).reindex(
        columns=["grid_leader", "grid_worker"], fill_value=0
    )
    staff = pd.DataFrame(
        {
            "grid_id": grids["grid_id"].to_numpy(),
            "leaders_needed": need_lead,
            "leaders_assigned": got["grid_leader"].to_numpy(),
            "workers_needed": need_work,
            "workers_assigned": got["grid_worker"].to_numpy(),
        }
    )
    is_short = (staff["leaders_assigned"] < staff["leaders_needed"]) | (
        staff["workers_assigned"] < staff["workers_needed"]
    )
    households = float(np.nansum(grids["households"].to_numpy(float)))
    n_workers = int((out["role"] == "grid_worker").sum())
    summary = {
        "grids": n_g,
        "fully_staffed": int((~is_short).sum()),
        "staffed_rate": round(float((~is_short).mean()), 4),
        "leaders": int((out["role"] == "grid_leader").sum()),
        "workers": n_workers,
        "households_per_worker": round(households / n_workers, 1) if n_workers else math.nan,
        "mean_distance_m": round(float(out["distance_m"].mean()), 1) if len(out) else math.nan,
        "runtime_s": round(time.perf_counter() - t0, 3),
        "solver": "ortools min-cost flow",
    }
    return GridStaffing(
        assignments=out.sort_values(["grid_id", "role", "person_id"], ignore_index=True),
        short=staff[is_short].reset_index(drop=True),
        summary=summary,
    )
