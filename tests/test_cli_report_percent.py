"""The report table's rates as the web page and the XLSX give them (outside tester T71 #1: the
CLI printed whole percents rounded half to even, 62.5 % as 62% and 79.5 % as 80%, beside a
signed XLSX saying 62.5 % and 79.5 %)."""

from __future__ import annotations

import pytest

from api.cli_patrol import _cell


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (0.625, "62.5%"),  # was 62% (half to even)
        (0.795, "79.5%"),  # was 80%: read as the 达标线
        (0.7995, "80.0%"),  # halves up (四舍五入), not to even
        (0.4444444, "44.4%"),
        (0.66275, "66.3%"),
        (1.0, "100.0%"),
        (0.0, "0.0%"),
    ],
)
def test_a_rate_is_one_decimal_rounded_half_up(share: float, shown: str) -> None:
    assert _cell(share) == shown


def test_counts_and_missing_rates_are_as_before() -> None:
    assert _cell(7) == "7" and _cell("DEMO0006") == "DEMO0006"
    assert _cell(None) == "—" and _cell(float("nan")) == "—"
