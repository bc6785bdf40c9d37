"""Several communities partitioned in one run (file mode, an area file of several features):
each building to one community, each community partitioned on its own working outline
(:mod:`geo.partition.territory`, the database's territory rule), their grids put together.

WHY (T64 #3): one file-mode run per community did not tile (a building straddling two
communities was in both runs, or both communities' grids covered it), and an area file of
two communities was merged into one area under one code. Run together, the communities'
grids tile as database mode's do, and no building is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.partition.engine import partition
from geo.partition.params import PartitionParams, PartitionResult
from geo.partition.prepare import to_wgs84_frame
from geo.partition.territory import building_communities, working_outlines
from geo.partition.validate import Namer, placement, validate_inputs

Progress = Callable[[float, str], None]


@dataclass
class CommunitiesResult:
    """All communities' grids (``result``: its grids carry a ``community`` column, its
    summary the totals and each community's own summary under ``communities``), with what
    the planner should be told: the buildings straddling their community's line, taken whole
    (label → the community's code), and the communities holding no building (no grids)."""

    result: PartitionResult
    straddling: dict[Hashable, str]
    empty: list[str]


# summary figures that add up over communities
_SUMS = (
    "n_grids",
    "n_buildings",
    "households_total",
    "n_within_bounds",
    "n_feasible",
    "n_feasible_within_bounds",
    "n_infeasible",
    "n_multipart",
    "n_elongated",
    "leaders",
    "workers",
    "n_blocks",
    "n_divided_blocks",
    "n_atoms",
)


def _summary(
    runs: list[tuple[str, PartitionResult]], params: PartitionParams, runtime: float
) -> dict[str, Any]:
    """The totals of the communities' summaries, each community's own (without its flagged
    list and params: those are the totals') under ``communities``."""
    s = [r.summary for _, r in runs]
    out: dict[str, Any] = {k: int(sum(x[k] for x in s)) for k in _SUMS}
    n = out["n_grids"]
    out["share_within_bounds"] = out["n_within_bounds"] / n if n else 1.0
    nf = out["n_feasible"]
    out["share_feasible_within_bounds"] = out["n_feasible_within_bounds"] / nf if nf else 1.0
    out["mean_polsby_popper"] = (
        float(sum(x["mean_polsby_popper"] * x["n_grids"] for x in s) / n) if n else 0.0
    )
    out["min_polsby_popper"] = float(min(x["min_polsby_popper"] for x in s)) if n else 0.0
    on = sum(r.boundary_m[0] for _, r in runs)
    internal = sum(r.boundary_m[1] for _, r in runs)
    out["street_boundary_share"] = float(on / internal) if internal > 0 else None
    out["flagged"] = [f for x in s for f in x["flagged"]]
    out["metric_crs"] = ", ".join(dict.fromkeys(x["metric_crs"] for x in s))
    out["runtime_s"] = round(runtime, 3)
    out["params"] = {**asdict(params), "code_prefix": [code for code, _ in runs]}
    out["communities"] = [
        {"community": code, **{k: v for k, v in x.items() if k not in ("flagged", "params")}}
        for (code, _), x in zip(runs, s, strict=True)
    ]
    order = list(s[0]) if s else []
    return {k: out[k] for k in order if k in out} | {"communities": out["communities"]}


def partition_communities(
    communities: Sequence[tuple[str, shapely.Geometry]],
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    params: PartitionParams,
    progress: Progress | None = None,
    name: Namer | None = None,
) -> CommunitiesResult:
    """Partition each community of ``communities`` (12-digit code, EPSG:4326 outline; codes
    distinct) into level-1 grids numbered under its code.

    Every building belongs whole to one community (:func:`building_communities`; one
    overlapping none is refused, as one outside a single area is), and each community is
    partitioned by :func:`geo.partition.partition` on its working outline
    (:func:`working_outlines`) with its own buildings and the streets meeting its outline
    (as database mode reads a community's), so the communities' grids tile. ``params``: all
    but the code prefix, which is each community's code."""
    t0 = time.perf_counter()
    report = progress or (lambda f, m: None)
    codes = [str(c) for c, _ in communities]
    areas = [g for _, g in communities]
    if isinstance(buildings, gpd.GeoDataFrame) and len(buildings):
        buildings = to_wgs84_frame(buildings)
    if isinstance(streets, gpd.GeoDataFrame) and len(streets):
        streets = to_wgs84_frame(streets)
    # every input checked once, against all the communities together (a building outside
    # them all is refused here)
    validate_inputs(
        shapely.union_all(areas), buildings, streets, replace(params, code_prefix=codes[0]), name
    )
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    owner = building_communities(areas, codes, geoms)
    if (owner < 0).any():  # validate_inputs refused them: never silently left out
        raise ValueError("a building overlapping the area belongs to no community")
    outlines = working_outlines(areas, codes, geoms, owner)
    sgeoms = None
    if isinstance(streets, gpd.GeoDataFrame) and len(streets):
        sgeoms = np.asarray(streets.geometry.values, dtype=object)
    runs: list[tuple[str, PartitionResult]] = []
    straddling: dict[Hashable, str] = {}
    empty: list[str] = []
    n = len(codes)
    for k in np.argsort(np.asarray(codes, dtype=str), kind="stable").tolist():
        code = codes[k]
        mine = np.flatnonzero(owner == k)
        if not len(mine):
            empty.append(code)
            continue
        straddle, _out = placement(areas[k], geoms[mine])
        for i in mine[straddle].tolist():
            straddling[buildings.index[i]] = code
        sub = None
        if sgeoms is not None:
            near = shapely.intersects(sgeoms, areas[k])
            sub = streets.iloc[np.flatnonzero(near)] if near.any() else None
        done = len(runs) + len(empty)  # communities before this one

        def scaled(f: float, m: str, done: int = done, code: str = code) -> None:
            report((done + f) / n, f"{code} {m}")

        result = partition(
            outlines[k],
            buildings.iloc[mine],
            sub,
            replace(params, code_prefix=code),
            progress=scaled,
            name=name,
        )
        runs.append((code, result))
    grids = [r.grids.assign(community=code) for code, r in runs]
    frame = gpd.GeoDataFrame(pd.concat(grids, ignore_index=True), crs=grids[0].crs)
    cols = list(frame.columns)
    cols.insert(1, cols.pop(cols.index("community")))
    frame = frame[cols]
    building_grid = pd.concat([r.building_grid for _, r in runs]).reindex(buildings.index)
    summary = _summary(runs, params, time.perf_counter() - t0)
    on = sum(r.boundary_m[0] for _, r in runs)
    internal = sum(r.boundary_m[1] for _, r in runs)
    report(1.0, "完成 done")
    return CommunitiesResult(
        result=PartitionResult(
            grids=frame, building_grid=building_grid, summary=summary, boundary_m=(on, internal)
        ),
        straddling=straddling,
        empty=empty,
    )
