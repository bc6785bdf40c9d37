"""Days on the command line read as the API reads them (outside tester T57 #6, #7): YYYY-MM-DD
only, a day off the calendar told so, an empty --date not taken for today, a rematch of a day
not begun refused."""

from __future__ import annotations

import datetime as dt

import pytest

from api.cli_dates import cli_day
from geo.errors import InputError
from geo.settings import city_today
from tests.test_assign_cli import run_inproc  # noqa: F401  (fixture)


def test_a_day_is_yyyy_mm_dd_only():
    assert cli_day("2025-12-31", "--date") == dt.date(2025, 12, 31)
    assert cli_day(" 2028-02-29 ", "--date") == dt.date(2028, 2, 29)
    assert cli_day(None, "--date") is None
    # what date.fromisoformat also reads, and the API refuses
    for typed in ("20251231", "2025-W01", "2020-W53-7", "", "2025/12/31", "2025-12-31T00:00"):
        with pytest.raises(InputError, match="is not a date \\(YYYY-MM-DD\\)"):
            cli_day(typed, "--date")


def test_a_day_off_the_calendar_says_why():
    with pytest.raises(InputError) as err:
        cli_day("2025-02-29", "--from")
    assert "2025 年 2 月只有 28 天" in str(err.value)
    assert "--from '2025-02-29' is not a date: February 2025 has 28 days" in str(err.value)
    with pytest.raises(InputError, match="没有 13 月.*there is no month 13"):
        cli_day("2026-13-01", "--since")


@pytest.mark.parametrize(
    "args",
    [
        ["report", "daily", "--date", "2025-W01"],
        ["report", "weekly", "--date", "20251231"],
        ["report", "daily", "--date", ""],
        ["audit", "--since", "2025-W01"],
        ["tracks", "drop-fixes", "--before", "20251231"],
    ],
)
def test_commands_refuse_what_the_api_refuses(run_inproc, args):  # noqa: F811
    res = run_inproc(*args)
    assert res.returncode == 2, res.stderr
    assert "is not a date (YYYY-MM-DD)" in res.stderr and "Traceback" not in res.stderr


def test_rematch_of_a_day_not_begun_is_refused(run_inproc):  # noqa: F811
    ahead = city_today() + dt.timedelta(days=1)
    res = run_inproc("tracks", "rematch", "--since", ahead.isoformat(), "--queue-only")
    assert res.returncode == 2, res.stderr
    assert f"--since {ahead} is after today ({city_today()}" in res.stderr
