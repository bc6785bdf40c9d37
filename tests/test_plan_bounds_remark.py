"""One rule of household bounds (geo.plans.bounds_problem), as every interface says it."""

from __future__ import annotations

from geo.plans import bounds_problem


def test_the_zero_remark_is_only_for_a_max_of_zero() -> None:
    """T38 L2: `--max-households 2000000` read "现为 2000000（为 0 时每个网格都会超过上限）",
    a remark about 0 given as if it were the reason. It stands only when the max is 0."""
    big = bounds_problem(300, 2_000_000)
    assert big == (
        "户数上限 max_households 须在 1–1,000,000 之间，现为 2000000 "
        "max_households must be 1–1,000,000, got 2000000"
    )
    assert "为 0 时" not in bounds_problem(0, -5) and "with 0" not in bounds_problem(0, -5)
    zero = bounds_problem(0, 0)
    assert zero == (
        "户数上限 max_households 须在 1–1,000,000 之间，现为 0（为 0 时每个网格都会超过上限） "
        "max_households must be 1–1,000,000, got 0 (with 0 every grid would be over the limit)"
    )
