"""Outside tester T70's own subdistrict, shared by the T70 test files: 学院路东街道 110108012
with the three communities he drew by hand over the CAU/学清路 extract
(``osm_beijing_haidian/cau_xueqinglu_2026.osm``), as his communities_wgs84.geojson had them.

WHY one module: the areas, people and plans tests each wrote the same outlines and the same
GeoJSON writer (the repeated-code check listed them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from geo.crs import wgs84_to_gcj02

EXTRACT = Path("osm_beijing_haidian") / "cau_xueqinglu_2026.osm"  # under the shared data
SUB = "110108012"
# code → (name, outline ring in WGS 84, not closed)
OUTLINES: dict[str, tuple[str, list[tuple[float, float]]]] = {
    "110108012001": (
        "农大东校区社区",
        [(116.3465, 40.0001), (116.3586, 40.0001), (116.3524, 40.0068), (116.3465, 40.0068)],
    ),
    "110108012002": (
        "石板房社区",
        [(116.3465, 40.0068), (116.3524, 40.0068), (116.3586, 40.0001), (116.3645, 40.0001),
         (116.358, 40.01), (116.3465, 40.01)],
    ),
    "110108012003": (
        "清华东路南社区",
        [(116.3465, 39.9965), (116.36, 39.9965), (116.36, 40.0001), (116.3465, 40.0001)],
    ),
}  # fmt: skip
PARENTS = {
    "subdistrict_code": SUB,
    "subdistrict_name": "学院路东街道",
    "district_code": "110108",
    "district_name": "海淀区",
}


def communities_file(path: Path, datum: str = "wgs84") -> Path:
    """His communities file at ``path``, its vertices in ``datum`` (wgs84, or gcj02: drawn
    on a 高德 map), with no crs member (as QGIS and 高德 export it)."""
    features = []
    for code, (name, ring) in OUTLINES.items():
        xy = np.asarray([*ring, ring[0]], dtype=float)
        if datum == "gcj02":
            xy = np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name, "level": "社区", **PARENTS},
                "geometry": {"type": "Polygon", "coordinates": [xy.tolist()]},
            }
        )
    fc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(fc, ensure_ascii=False), "utf-8")
    return path
