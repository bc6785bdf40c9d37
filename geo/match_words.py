"""Why a match credited no street, in words a steward can act on (:func:`why_nothing_matched`),
and those words as the patrol map's upload form shows them (:func:`form_words`).

Apart from the store because the upload, the match queue, ``gridward tracks`` and the upload
form all say it, and it is wording only: no database, no matching.
"""

from __future__ import annotations

from typing import Any


def why_nothing_matched(report: Any, clean: Any, params: Any, matched: int = 0) -> str:
    """Why a stored track credits no street: "matched, 0 segments" alone leaves a steward
    guessing whether the phone, the file or the map is at fault. ``matched``: fixes the
    matcher placed on the network (then the datum is not the question)."""
    n = report.points_in
    if report.points_out == 0:
        if n and report.poor_accuracy >= n / 2:
            return (
                f"定位精度太差，定位点已丢弃：{n} 个定位点中有 {report.poor_accuracy} 个的精度差于 "
                f"{clean.max_accuracy_m:g} 米，已丢弃（GRIDWARD_MAX_ACCURACY_M） "
                f"{report.poor_accuracy} of {n} fixes report an accuracy worse than "
                f"{clean.max_accuracy_m:g} m and were dropped (GRIDWARD_MAX_ACCURACY_M)"
            )
        if n > 1 and report.duplicate_times >= n - 1:
            return (
                f"全部 {n} 个定位点时间相同，无法还原行走 all {n} fixes have the same time: "
                "no walk to follow"
            )
        if report.short_pieces_points:
            return (
                f"定位点太少，无法还原行走（文件中共 {n} 个） "
                f"too few fixes to follow a walk ({n} in the file)"
            )
        return (
            "清洗后没有剩余定位点（见 cleaning） no fixes were left after cleaning (see cleaning)"
        )
    if matched > 0:
        least = params.min_credit_sigmas * params.sigma_min_m
        return (
            f"走过的路段太短，无法计入：有 {matched} 个定位点落在街巷上，但在任何一个路段上走过的都"
            f"太短（不足约 {least:g} 米：短于 GPS 误差的一段无法核实） "
            f"{matched} fixes lie on the streets, but the walk covered too little of any "
            f"street segment to credit (under about {least:g} m: a stretch shorter than the "
            "GPS noise cannot be verified)"
        )
    return (
        f"定位点 {params.search_radius_m:g} 米内没有街巷：请检查这次巡查是否在本市街巷范围内"
        f"{_NO_STREET_CRS[0]}no street or alley within {params.search_radius_m:g} m of the "
        f"fixes: is the walk inside the city's streets{_NO_STREET_CRS[1]}"
    )


# the datum clause of why_nothing_matched's "no street within" reason, and as the patrol
# map's upload form says it (form_words)
_NO_STREET_CRS = ("、坐标系（crs）是否正确 ", ", and its datum (crs) right?")


_NO_STREET_FORM = (
    "、“坐标 coordinates”是否选对 ",
    ', and the "坐标 coordinates" choice right?',
)


_NO_STREET_HINTED = ("（坐标系见上方提示） ", " (the datum: see the note above)?")


def form_words(warning: str, hinted: bool) -> str:
    """A match's ``warning`` (:func:`why_nothing_matched`) as the patrol map's upload form
    shows it: its datum clause names the form's own 坐标 choice, not ``crs``, a parameter
    the steward on the page never sees; with a datum hint beside it (``hinted``: the hint
    names the choice to make) the clause is left out. WHY (T41 #5): the form showed the
    hint's right remedy, then "坐标系（crs）是否正确" under it. Other warnings: as they are."""
    zh, en = _NO_STREET_CRS
    if zh not in warning or not warning.endswith(en):
        return warning
    # hinted: "…是否在本市街巷范围内（坐标系见上方提示） … inside the city's streets (the
    # datum: see the note above)?"
    form_zh, form_en = _NO_STREET_HINTED if hinted else _NO_STREET_FORM
    return warning.replace(zh, form_zh, 1).removesuffix(en) + form_en
