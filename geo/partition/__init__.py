"""Level-1 grid partition (划网定格): bounded, contiguous, gapless, street-following, fast.

``partition(area, buildings, streets, params)`` is the entry point; see ``engine`` for the
pipeline and ``bisect`` for why it reaches the household bounds and compactness quickly.
"""

from geo.partition.engine import (
    FLAG_AREA_BELOW,
    FLAG_ELONGATED,
    FLAG_ENCLOSED,
    FLAG_MULTI,
    FLAG_NO_K_OVER,
    FLAG_NO_K_UNDER,
    FLAG_OVER,
    FLAG_SINGLE,
    FLAG_UNDER,
    partition,
)
from geo.partition.params import PartitionParams, PartitionResult
from geo.partition.validate import validate_inputs

__all__ = [
    "FLAG_AREA_BELOW",
    "FLAG_ELONGATED",
    "FLAG_ENCLOSED",
    "FLAG_MULTI",
    "FLAG_NO_K_OVER",
    "FLAG_NO_K_UNDER",
    "FLAG_OVER",
    "FLAG_SINGLE",
    "FLAG_UNDER",
    "PartitionParams",
    "PartitionResult",
    "partition",
    "validate_inputs",
]
