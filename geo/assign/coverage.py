"""Coverage rates (覆盖率) of staffing, rolled up by community / subdistrict / district.

Pure pandas over the items and the assignment pairs, so the same figures come out of a file run,
a test and the service. Group columns are used when present on the items; with none, one
"all" row is returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.assign.grids import workers_needed

LEVELS: tuple[str, ...] = ("district_id", "subdistrict_id", "community_id")


def _groups(items: pd.DataFrame, by: list[str] | None) -> list[str]:
    if by is not None:
        return [c for c in by if c in items.columns]
    return [c for c in LEVELS if c in items.columns]


def _rollup(frame: pd.DataFrame, by: list[str], agg: dict) -> pd.DataFrame:
    if by:
        return frame.groupby(by, dropna=False).agg(**agg).reset_index()
    out = frame.assign(_all="all").groupby("_all").agg(**agg).reset_index(drop=True)
    return out


def alley_coverage(
    alleys: pd.DataFrame,
    assignments: pd.DataFrame,
    by: list[str] | None = None,
    id_col: str = "alley_id",
) -> pd.DataFrame:
    """Share of alleys (or streets with ``id_col='street_id'``) with at least one person."""
    by = _groups(alleys, by)
    held = alleys[id_col].isin(set(assignments[id_col])) if len(assignments) else False
    frame = alleys[[id_col, *by]].assign(_held=held)
    out = _rollup(frame, by, {"items": (id_col, "size"), "covered": ("_held", "sum")})
    out["coverage_rate"] = (out["covered"] / out["items"]).round(4)
    return out


def street_coverage(
    streets: pd.DataFrame, assignments: pd.DataFrame, by: list[str] | None = None
) -> pd.DataFrame:
    """Share of streets with a chief."""
    return alley_coverage(streets, assignments, by, id_col="street_id")


def grid_coverage(
    grids: pd.DataFrame,
    assignments: pd.DataFrame,
    households_per_worker: int = 100,
    by: list[str] | None = None,
) -> pd.DataFrame:
    """Share of grids fully staffed (leader + ceil(households / ratio) workers) and
    households per worker."""
    by = _groups(grids, by)
    roles = assignments.groupby(["grid_id", "role"]).size().unstack(fill_value=0)
    roles = roles.reindex(columns=["grid_leader", "grid_worker"], fill_value=0)
    leaders = grids["grid_id"].map(roles["grid_leader"]).fillna(0).to_numpy()
    workers = grids["grid_id"].map(roles["grid_worker"]).fillna(0).to_numpy()
    need = workers_needed(grids["households"].to_numpy(), households_per_worker)
    frame = grids[["grid_id", *by]].assign(
        _full=(leaders >= 1) & (workers >= need),
        _households=np.nan_to_num(grids["households"].to_numpy(float)),
        _workers=workers,
    )
    out = _rollup(
        frame,
        by,
        {
            "grids": ("grid_id", "size"),
            "fully_staffed": ("_full", "sum"),
            "households": ("_households", "sum"),
            "workers": ("_workers", "sum"),
        },
    )
    out["staffed_rate"] = (out["fully_staffed"] / out["grids"]).round(4)
    out["households_per_worker"] = (out["households"] / out["workers"].replace(0, np.nan)).round(1)
    return out


def coverage_by_level(
    items: pd.DataFrame, assignments: pd.DataFrame, kind: str, **kw
) -> dict[str, pd.DataFrame]:
    """The same rate at every administrative level present: {'community_id': …, …}.

    ``kind`` is 'alleys', 'streets' or 'grids'.
    """
    fn = {"alleys": alley_coverage, "streets": street_coverage, "grids": grid_coverage}[kind]
    levels = [c for c in LEVELS if c in items.columns]
    out = {lvl: fn(items, assignments, by=[lvl], **kw) for lvl in levels}
    out["all"] = fn(items, assignments, by=[], **kw)
    return out
