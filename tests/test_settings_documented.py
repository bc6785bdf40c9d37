"""Every setting a deployment can change is in the README's Settings table.

WHY: settings are how a city changes policy without code (README "Settings"); one missing
from the table is a knob nobody knows of. Five had gone missing before this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.auth_settings import AuthSettings
from geo.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SETTINGS = README.split("## 设置 Settings", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "name",
    [f for f in Settings.model_fields if f != "database_url"] + list(AuthSettings.model_fields),
)
def test_each_setting_has_a_row_in_the_readme(name: str) -> None:
    assert f"GRIDWARD_{name.upper()}" in SETTINGS, f"GRIDWARD_{name.upper()} not in README"


def test_database_url_is_documented() -> None:
    assert "`DATABASE_URL`" in SETTINGS
