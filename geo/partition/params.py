"""Parameters and result of a partition: local policy as typed, documented fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.partition.metrics import ELONGATED_PP


@dataclass(frozen=True)
class PartitionParams:
    """What a planner chooses; every default is documented, none is a hidden constant.

    min_households / max_households: the bounds of a level-1 grid (e.g. 300 / 500).
    seed: rotates the set of cut directions tried by the bisection (same seed → same plan).
    households_per_worker: staffing ratio, 1 leader + ceil(households / ratio) workers.
    code_prefix: 12 digits, 6 district (GB/T 2260) + 3 subdistrict + 3 community.
    target_households: preferred grid size when several grid counts fit (default mid-bounds;
        with a low minimum, see ``fewest``).
    block_split_households: a street block with more households than this is cut into
        per-building cells so the bisection may divide it (default max - min, at least
        min / 2: atoms that small let a sweep hit the [min, max] window; with a low minimum,
        max / 2).
    internal_cut_penalty: cost of cutting between two buildings of one block relative to a
        cut along a street (per metre); > 1 makes boundaries follow streets.
    n_directions: evenly spaced cut directions tried at every bisection step, on top of
        the dominant street orientations and their normals (more → compacter, slower).
    balance_weight: how strongly a cut is pulled towards the ideal household split.
    repair_passes: rounds of local boundary moves that fix out-of-bound grids.
    refine_passes: rounds of boundary moves that shorten the total cut (compactness,
        street-following) without breaking any bound.
    centroid_pull: weight of "closer to the grid's centre of mass" in those moves (metres
        of cut traded per grid-size of centre distance²); 0 = cut length only.
    cell_sample_spacing_m: spacing of the samples along street edges that decide which
        building cells touch a neighbouring block.
    min_block_area_m2: faces smaller than this without buildings are merged into a neighbour
        (street-network slivers such as traffic islands).
    code_overflow: "error" (more than 999 grids is an InputError, the DB11 code has 3
        sequence digits) or "extend" (wider sequence, for benchmarks on whole cities).
    elongated_pp: a grid whose Polsby–Popper compactness (4πA/P²: 0.785 for a square, about
        0.12 for a 23:1 strip) is under this is flagged ``elongated`` (狭长) for the planner to
        look at (its bounds unaffected); 0 flags none. Default 0.12 from the engine's grids on
        real Haidian data (``geo.partition.metrics.ELONGATED_PP``).
    """

    min_households: int
    max_households: int
    seed: int = 0
    households_per_worker: int = 100
    code_prefix: str = "110108000000"
    target_households: float | None = None
    block_split_households: int | None = None
    internal_cut_penalty: float = 3.0
    n_directions: int = 6
    balance_weight: float = 0.5
    repair_passes: int = 6
    refine_passes: int = 3
    centroid_pull: float = 0.0
    cell_sample_spacing_m: float = 10.0
    min_block_area_m2: float = 200.0
    code_overflow: str = "error"
    elongated_pp: float = ELONGATED_PP

    @property
    def fewest(self) -> bool:
        """A low minimum (under half the maximum: 0 = no lower bound) and no target given:
        the engine aims at the fewest grids the maximum allows, ceil(total / max), evenly
        sized, and a cut may not add a grid to that count.

        WHY (T38 M2): a minimum that low cannot bind (any total of at least max / 2 splits
        into ceil(total / max) grids of at least max / 2 each), yet the mid-bounds target
        it gave (max / 2 for min 0) and the cuts it let through (any size of side is
        divisible when min is 0) made 791 households under max 500 five grids, 86 / 456 /
        62 / 62 / 125, where min 300 gave two."""
        return self.target_households is None and 2 * self.min_households < self.max_households

    @property
    def target(self) -> float:
        if self.target_households is not None:
            return float(self.target_households)
        if self.fewest:  # round(total / max) is never above ceil(total / max): the fewest
            return float(self.max_households)
        return (self.min_households + self.max_households) / 2.0

    @property
    def split_threshold(self) -> int:
        if self.block_split_households is not None:
            return int(self.block_split_households)
        if self.fewest:  # atoms as fine as for min = max / 2: fewest grids leave less slack
            return max(self.max_households // 2, 1)
        return max(self.max_households - self.min_households, self.min_households // 2)


@dataclass
class PartitionResult:
    """A partition plan: grid polygons (EPSG:4326), building → grid codes, and a summary."""

    grids: gpd.GeoDataFrame
    building_grid: pd.Series
    summary: dict[str, Any] = field(default_factory=dict)
    # the street share's terms (metres of grid boundary on streets, of internal boundary),
    # not in the summary: to add up the runs of several communities (geo.partition.communities)
    boundary_m: tuple[float, float] = (0.0, 0.0)
