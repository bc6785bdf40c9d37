"""Every GRIDWARD_* setting that would start fine and then break the service is refused at
start, in the one line the others have (outside tester T68 #3, #5, #12, #16).

WHY through the real CLI: what the tester met was the command's output, a traceback or a
later failure; each case runs ``gridward db status`` (``python -m api.cli``, so the checkout
under test answers) on an empty data folder: a setting that passed would end in exit 3
(no database there), never starting a cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# (variable, value, words the line must hold besides the variable and the value)
REFUSED = [
    # #3: invalid JSON was a SettingsError traceback
    ("GRIDWARD_DEFAULT_LEVELS", "{bad", ["不是有效的 JSON", "is not valid JSON"]),
    ("GRIDWARD_RESIDENTIAL_SHARE", "{bad", ["不是有效的 JSON", "is not valid JSON"]),
    ("GRIDWARD_DEFAULT_LEVELS", "", ["不是有效的 JSON"]),
    # #5: zero or negative limits broke the service after a fine start
    ("GRIDWARD_MAX_BODY_BYTES", "-1", ["数值过小，须不小于 65536"]),
    ("GRIDWARD_MAX_BODY_BYTES", "0", ["数值过小，须不小于 65536"]),
    ("GRIDWARD_MAX_UPLOAD_BYTES", "0", ["数值过小，须不小于 1024"]),
    ("GRIDWARD_MAX_UPLOAD_BYTES", "-1", ["数值过小，须不小于 1024"]),
    ("GRIDWARD_HOUSEHOLDS_PER_WORKER", "0", ["数值过小，须不小于 1"]),
    ("GRIDWARD_HOUSEHOLDS_PER_WORKER", "-1", ["数值过小，须不小于 1"]),
    ("GRIDWARD_HOUSEHOLDS_PER_UNIT", "0", ["数值过小，须不小于 1"]),
    ("GRIDWARD_TRACK_FUTURE_TOLERANCE_S", "-1", ["数值过小，须不小于 0"]),
    ("GRIDWARD_TRACK_BACKWARDS_TOLERANCE_S", "-1", ["数值过小，须不小于 0"]),
    ("GRIDWARD_TILE_URL", "notaurl", ["底图网址", "{z}", "invalid tile URL"]),
    ("GRIDWARD_TILE_URL", "https://tiles.example.cn/a.png", ["底图网址"]),
    # #12: passed start-up, failed only when used (a database check mid-import)
    ("GRIDWARD_DEFAULT_LEVELS", '{"residential":-3,"yes":-4}', ["层数须在 1 到 200 之间"]),
    ("GRIDWARD_DWELLING_SIZE_M2", "-1", ["数值过小，须不小于 5"]),
    ("GRIDWARD_FALLBACK_LEVELS", "-1", ["数值过小，须不小于 1"]),
    # the others bounded to how they are used
    ("GRIDWARD_DEFAULT_LEVELS", '{"yes":"x"}', ["中 'yes' 的值须为整数"]),
    ("GRIDWARD_RESIDENTIAL_SHARE", '{"yes":2}', ["住宅比例须在 0 到 1 之间"]),
    ("GRIDWARD_FALLBACK_LEVELS", "600", ["数值过大"]),
    ("GRIDWARD_DWELLING_SIZE_M2", "nan", ["须为有限数字"]),
    ("GRIDWARD_PG_PORT", "0", ["数值过小"]),
    ("GRIDWARD_PG_PORT", "70000", ["数值过大"]),
    ("GRIDWARD_HOUSEHOLDS_PER_WORKER", "1000000", ["数值过大"]),
    ("GRIDWARD_MAX_UPLOAD_BYTES", str(2**40), ["数值过大"]),
    ("GRIDWARD_TRACK_FUTURE_TOLERANCE_S", "1e12", ["数值过大"]),
    ("GRIDWARD_LATE_UPLOAD_H", "1e9", ["数值过大"]),
    ("GRIDWARD_STALE_UPLOAD_S", "inf", ["数值过大"]),
    ("GRIDWARD_MATCH_WAIT_S", "1e9", ["数值过大"]),
    ("GRIDWARD_UPLOAD_WAIT_S", "1e9", ["数值过大"]),
    ("GRIDWARD_BODY_MAX_S", "inf", ["数值过大"]),
    ("GRIDWARD_MAX_ACCURACY_M", "nan", ["须为有限数字"]),
    ("GRIDWARD_HOST", "", ["监听地址不能为空"]),
]


def _db_status(env: dict[str, str], folder: Path) -> subprocess.CompletedProcess[str]:
    """``gridward db status`` with ``env`` on top of a clean environment (no DATABASE_URL,
    no GRIDWARD_* of the caller's) and an empty data folder."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWARD_")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "status"],
        cwd=REPO,
        env={**base, "GRIDWARD_DATA_DIR": str(folder), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "words"), REFUSED, ids=[f"{n[9:]}={v}" for n, v, _ in REFUSED]
)
def test_a_bad_setting_is_refused_at_start_in_one_line(
    tmp_path: Path, name: str, value: str, words: list[str]
) -> None:
    res = _db_status({name: value}, tmp_path / "data")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: 设置有误：{name} "), lines[0]
    if "{" not in value:  # a JSON map is shown as read
        assert f"收到 {value!r}" in lines[0] or f"(got {value!r})" in lines[0], lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    assert not (tmp_path / "data").exists()  # refused before any cluster was made


@pytest.mark.parametrize(
    "name",
    ["GRIDWARD_DATA_DIR", "GRIDWARD_PG_PORT", "GRIDWARD_TILE_URL", "GRIDWARD_MAX_BODY_BYTES"],
)
def test_empty_is_unset_where_the_default_is_unset(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """``GRIDWARD_DATA_DIR=`` (a templated systemd unit) is the default folder, not "." refused
    as relative naming the checkout (T68 #16); so for the other settings whose default is
    unset. A setting with a stated default (GRIDWARD_PORT=8000) still refuses empty."""
    from geo.auth_settings import AuthSettings
    from geo.settings import Settings, default_data_dir

    monkeypatch.setenv(name, "")
    s = Settings()
    assert s.data_dir == default_data_dir()
    assert s.pg_port is None and s.tile_url is None
    assert AuthSettings().max_body_bytes is None


def test_empty_data_dir_through_the_cli(tmp_path: Path) -> None:
    """``gridward db status`` with ``GRIDWARD_DATA_DIR=`` looks in the default folder (read
    only: no cluster is made or started), instead of refusing "." as relative."""
    from geo.settings import default_data_dir

    res = _db_status({"GRIDWARD_DATA_DIR": ""}, tmp_path)
    assert "设置有误" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    if res.returncode == 3 and "数据库不存在" in res.stderr:  # no cluster in the default folder
        assert str(default_data_dir()) in res.stderr, res.stderr


def test_an_empty_port_is_still_refused(tmp_path: Path) -> None:
    res = _db_status({"GRIDWARD_PORT": ""}, tmp_path / "data")
    assert res.returncode == 2 and res.stderr.startswith("error: 设置有误：GRIDWARD_PORT ")


@pytest.mark.parametrize(
    "url",
    [
        "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8",
        "http://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk=KEY",
        "https://tiles.example.cn:8443/{z}/{x}/{y}.png",
        "//tiles.example.cn/{z}/{x}/{y}.png",
        "/tiles/{z}/{x}/{-y}.png",
    ],
)
def test_real_tile_templates_are_taken(url: str) -> None:
    from geo.settings import Settings

    assert Settings(tile_url=f" {url} ").tile_url == url


def test_the_defaults_are_within_their_bounds() -> None:
    """The documented defaults pass the bounds (a bound tighter than its default would
    refuse every deployment that sets nothing)."""
    from geo.settings import Settings

    s = Settings(data_dir=Path("/tmp/gridward-bounds"))
    assert s.default_levels["residential"] == 6 and s.households_per_worker == 100


def test_any_settings_class_it_cannot_read_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI says a SettingsError of any settings class (not only Settings, which turns it
    into a ValidationError itself) in the same line naming the variable, exit 2."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    import api.cli as cli

    class Other(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="GRIDWARD_")
        zones: dict[str, int] = {}

    monkeypatch.setenv("GRIDWARD_ZONES", "{bad")
    monkeypatch.setattr(cli, "app", lambda **_: Other())
    with pytest.raises(SystemExit) as ended:
        cli.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: 设置有误：GRIDWARD_ZONES 不是有效的 JSON "), lines[0]
    assert "is not valid JSON" in lines[0] and "(got '{bad')" in lines[0], lines[0]
