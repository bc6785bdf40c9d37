"""The shape every track reader returns before times and coordinates are checked.

Kept apart from :mod:`geo.tracks.parse` so that readers living in their own modules (tables,
NMEA) do not import the module that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Raw:
    """Points of one file as written: coordinates and times not yet read as numbers/times."""

    lon: list[Any]
    lat: list[Any]
    time: list[Any]
    accuracy: list[Any]
    name: str | None = None
    warnings: list[str] = field(default_factory=list)
    # the zone of times written without one, when the file says it (a "time(UTC)" header)
    zone: str | None = None
    # Excel serial numbers count from 1904-01-01 (a workbook in the 1904 date system)
    mac_1904: bool = False
    # the coordinates' CRS when the file names it (a GeoJSON ``crs`` member), normalised
    crs: str | None = None
    # where point i stands in the file, for messages (in Chinese, in English): a table's
    # row as the file numbers it ("文件第 4 行", "row 4 of the file"); None: not known
    place: Callable[[int], tuple[str, str] | None] | None = None


def short(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters, for the user."""
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0]
    return text[:200]
