"""Households per building: taken from OSM tags when given, else estimated from the footprint.

No public source gives households per building in China, so the estimate is
``area × levels × residential share / dwelling size``: gross floor area, times the share of
it that is dwellings for that building type, divided by the mean dwelling size. Every input of
that formula is a parameter (defaults in :mod:`geo.settings`), because it is local policy and
local building stock, not a law of nature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import metric_crs_for_bounds
from geo.errors import InputError
from geo.settings import DEFAULT_LEVELS, RESIDENTIAL_SHARE


@dataclass
class HouseholdParams:
    """Estimation parameters; defaults mirror :class:`geo.settings.Settings`.

    dwelling_size_m2: mean floor area of one dwelling (m²).
    default_levels: storeys assumed by building type when ``building:levels`` is untagged.
    fallback_levels: storeys for a type not in ``default_levels``.
    residential_share: share of floor area that is dwellings, by type; a type not listed is
        non-residential (school, commercial, ...) and gets zero households.
    """

    dwelling_size_m2: float = 90.0
    default_levels: dict[str, float] = field(
        default_factory=lambda: {k: float(v) for k, v in DEFAULT_LEVELS.items()}
    )
    fallback_levels: float = 3.0
    residential_share: dict[str, float] = field(default_factory=lambda: dict(RESIDENTIAL_SHARE))

    def __post_init__(self) -> None:
        if not self.dwelling_size_m2 > 0:
            raise InputError(
                f"户均面积须为正数（现为 {self.dwelling_size_m2}） "
                f"dwelling size must be positive, got {self.dwelling_size_m2}"
            )
        if not self.fallback_levels > 0:
            raise InputError(
                f"默认层数须为正数（现为 {self.fallback_levels}） "
                f"fallback levels must be positive, got {self.fallback_levels}"
            )
        bad = {k: v for k, v in self.residential_share.items() if not 0 <= v <= 1}
        if bad:
            raise InputError(
                f"住宅比例须在 0–1 之间（有误的：{bad}） "
                f"residential share must be within 0..1: {bad}"
            )

    @classmethod
    def from_settings(cls, s: Any) -> HouseholdParams:
        """Build from a :class:`geo.settings.Settings` (or anything with the same fields)."""
        return cls(
            dwelling_size_m2=float(s.dwelling_size_m2),
            default_levels={k: float(v) for k, v in s.default_levels.items()},
            fallback_levels=float(s.fallback_levels),
            residential_share={k: float(v) for k, v in s.residential_share.items()},
        )


def estimate_households(
    buildings: gpd.GeoDataFrame, params: HouseholdParams | None = None
) -> gpd.GeoDataFrame:
    """A copy of ``buildings`` with ``area_m2``, ``levels_used``, ``households`` (int) and
    ``household_source`` ("given" when ``households_tag`` is present, else "estimated").

    Needs columns ``building_type`` and ``geometry``; ``levels`` and ``households_tag`` are
    used when present. Areas are measured in the UTM zone of the data, never in degrees.
    """
    p = params or HouseholdParams()
    if "building_type" not in buildings.columns:
        raise InputError("楼栋表缺少 building_type 列 buildings table lacks column 'building_type'")
    out = buildings.copy()
    n = len(out)
    if n == 0:
        out["area_m2"] = pd.Series(dtype="float64")
        out["levels_used"] = pd.Series(dtype="float64")
        out["households"] = pd.Series(dtype="int64")
        out["household_source"] = pd.Series(dtype=object)
        return out
    if out.crs is None:
        raise InputError(
            "楼栋数据未声明坐标系，请声明（如 EPSG:4326） "
            "buildings have no CRS; declare it (e.g. EPSG:4326)"
        )
    wgs = out.geometry.to_crs("EPSG:4326") if out.crs.to_epsg() != 4326 else out.geometry
    area = wgs.to_crs(metric_crs_for_bounds(wgs.total_bounds)).area.to_numpy(dtype=np.float64)

    btype = out["building_type"].astype(object).where(out["building_type"].notna(), "yes")
    btype = [str(t) for t in btype]
    tagged = (
        out["levels"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "levels" in out.columns
        else np.full(n, np.nan)
    )
    default = np.array([p.default_levels.get(t, p.fallback_levels) for t in btype], dtype=float)
    levels = np.where(np.isfinite(tagged) & (tagged > 0), tagged, default)
    share = np.array([p.residential_share.get(t, 0.0) for t in btype], dtype=float)
    estimated = np.rint(area * levels * share / p.dwelling_size_m2).astype(np.int64)

    if "households_tag" in out.columns:
        given = pd.array(out["households_tag"], dtype="Int64")
        has = ~np.asarray(given.isna())
        given_vals = np.asarray(given.fillna(0), dtype=np.int64)
    else:
        has = np.zeros(n, bool)
        given_vals = np.zeros(n, np.int64)
    out["area_m2"] = area
    out["levels_used"] = levels
    out["households"] = np.where(has, given_vals, estimated).astype(np.int64)
    out["household_source"] = pd.Series(
        np.where(has, "given", "estimated").astype(object), index=out.index, dtype=object
    )
    return out
