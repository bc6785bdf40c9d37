"""What the take-over option (``fill_idle``) says where duties are kept: the CLI's line and
the API's ``notes`` (Chinese first).

WHY (outside tester T66, N1): without ``--rebalance`` the duties held are kept and only gaps
are filled, and a kept duty is never taken over (geo.assign.balanced._take_over_idle); the
hint named ``--fill-idle`` alone, and ``--fill-idle`` alone then changed nothing (0 taken
over, 0 duties changed) with nothing to say why. Not made to act there: taking kept duties
over would end people's duties that the planner asked to keep.
"""

from __future__ import annotations

from typing import Any

# per kind: the item (Chinese, English plural) and the take-over walk's words
_ITEM = {"alleys": ("小巷", "alleys", "alley"), "streets": ("街", "streets", "street")}


def how_to_take_over(style: str = "cli") -> tuple[str, str]:
    """How to get the take-over, in the style's own words: the CLI's options (database mode:
    --dry-run), file mode's, or the API's fields."""
    if style == "api":
        return (
            "请同时设 rebalance 和 fill_idle 为 true（rebalance 重新分配本区域全部职责，"
            "提交前请先核对方案）",
            'set both "rebalance" and "fill_idle" to true ("rebalance" reassigns all the '
            "area's duties: review the proposal before committing it)",
        )
    if style == "file":
        return (
            "请加 --rebalance --fill-idle（--rebalance 不保留 --existing 中的职责，全部重新分配）",
            "add --rebalance --fill-idle (--rebalance keeps none of the duties in --existing: "
            "it reassigns them all)",
        )
    return (
        "请加 --rebalance --fill-idle（--rebalance 重新分配本区域全部职责，请先加 --dry-run 查看）",
        "add --rebalance --fill-idle (--rebalance reassigns all the area's duties: check "
        "with --dry-run first)",
    )


def kept_note(kind: str, summary: dict[str, Any], style: str = "cli") -> str | None:
    """With ``fill_idle`` while duties are kept (``summary['kept']`` > 0, no rebalance): one
    line saying that kept duties were not taken over, and how to have them taken over.
    ``style``: "cli" (database mode), "file" (file mode) or "api". None otherwise."""
    if not summary.get("fill_idle") or kind not in _ITEM or not summary.get("kept"):
        return None
    zh_item, en_items, en_item = _ITEM[kind]
    kept = int(summary["kept"])
    took = int(summary.get("handed_to_idle") or 0)
    opt = "fill_idle" if style == "api" else "--fill-idle"
    no_rb = "未设 rebalance" if style == "api" else "未加 --rebalance"
    no_rb_en = 'without "rebalance"' if style == "api" else "without --rebalance"
    how_zh, how_en = how_to_take_over(style)
    if took:
        done_zh = f"{opt} 只让 {took} 人接手了本次补缺新分配的{zh_item}"
        done_en = f"{opt} had {took} idle people take over only {en_items} newly staffed here"
    else:
        done_zh = f"{opt} 未让空闲人员接手任何{zh_item}"
        done_en = f"{opt} had no {en_item} taken over"
    return (
        f"{done_zh}：{no_rb} 时保留现有 {kept} 项职责、只补空缺，保留的职责从不被接手；"
        f"要让空闲人员接手，{how_zh} "
        f"{done_en}: {no_rb_en} the {kept} duties held are kept and only gaps are filled, "
        f"and a kept duty is never taken over; for idle people to take {en_items} over, {how_en}"
    )
