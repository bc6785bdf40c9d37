"""Patrol sections: long ways cut into alley-sized pieces, as districts manage them."""

from __future__ import annotations

import numpy as np


def patrol_sections(
    coords: np.ndarray, target_m: float = 300.0, min_m: float = 100.0
) -> list[np.ndarray]:
    """Cut a metric polyline at its vertices into patrol sections of about ``target_m``.

    Districts manage a long way as several alleys (a steward walks a section daily); a remainder
    shorter than ``min_m`` joins the section before it.
    """
    step = np.hypot(*np.diff(coords, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(step)])
    cuts = [0]
    for k in range(1, len(coords)):
        if cum[k] - cum[cuts[-1]] >= target_m:
            cuts.append(k)
    if cuts[-1] != len(coords) - 1:
        if cum[-1] - cum[cuts[-1]] < min_m and len(cuts) > 1:
            cuts[-1] = len(coords) - 1
        else:
            cuts.append(len(coords) - 1)
    return [coords[a : b + 1] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
