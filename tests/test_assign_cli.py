"""The exact file-mode command, end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from tests.test_assign_cases import haidian_alleys, haidian_segments, people_on_nodes

REPO = Path(__file__).resolve().parents[1]
GRIDWARD = Path(sys.executable).parent / "gridward"


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_inproc(capsys, monkeypatch):
    """The same entry point in-process (fast): argv in, exit code and output out."""
    from api.cli import main

    def _run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["gridward", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


def run_against(monkeypatch, pg_url: str, run_cmd, *args: str) -> Result:  # noqa: ANN001
    """``run_cmd(*args)`` (the :func:`run_inproc` fixture's runner) on the database at
    ``pg_url`` (``DATABASE_URL``), the settings read afresh before and after. WHY one place:
    four test files each wrote it."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        return run_cmd(*args)
    finally:
        get_settings.cache_clear()


def run(*args: str) -> subprocess.CompletedProcess:
    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.run(
        [*cmd, *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def files(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("assign_cli")
    alleys = haidian_alleys(shared_data).iloc[:120].reset_index(drop=True)
    alleys.to_file(tmp / "alleys.geojson", driver="GeoJSON")
    people = people_on_nodes(alleys, 90, seed=11)
    phones = [f"139{i:08d}" for i in range(len(people))]
    people.assign(phone=phones).to_csv(tmp / "people.csv", index=False)
    network = haidian_segments(shared_data)[["geometry"]]
    network.to_file(tmp / "network.geojson", driver="GeoJSON")
    return tmp, alleys, people, phones


def test_stewards_command_end_to_end(files):
    tmp, alleys, people, phones = files
    out = tmp / "ASSIGNMENTS.csv"
    res = run(
        "assign", "stewards", "--alleys", str(tmp / "alleys.geojson"),
        "--people", str(tmp / "people.csv"), "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(out, dtype=str)
    assert list(got.columns) == ["alley_id", "person_id"]
    assert set(got["alley_id"]) <= set(alleys["alley_id"])
    assert set(got["person_id"]) <= set(people["person_id"])
    assert not got.duplicated().any()
    text = res.stdout
    assert "覆盖率 coverage" in text and "负荷差异 load spread" in text
    assert "平均步行距离 mean walk" in text and "运行时间 runtime" in text
    assert "目标值 objective" in text
    # Phones are personal data: never in any output.
    everything = res.stdout + res.stderr + out.read_text()
    assert not any(p in everything for p in phones)


def test_with_network_and_two_stewards(files, run_inproc):
    tmp, alleys, _, phones = files
    out = tmp / "two.csv"
    res = run_inproc(
        "assign", "stewards", "--alleys", str(tmp / "alleys.geojson"),
        "--people", str(tmp / "people.csv"), "--out", str(out),
        "--network", str(tmp / "network.geojson"), "--stewards-per-alley", "2", "--crs", "wgs84",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(out, dtype=str)
    per_alley = got.groupby("alley_id").size()
    assert per_alley.max() == 2
    assert not got.duplicated().any()
    assert not any(p in res.stdout + res.stderr for p in phones)


def test_bad_input_exits_2_and_writes_nothing(files, run_inproc):
    tmp, _, people, phones = files
    dup = pd.concat([people.assign(phone=phones), people.iloc[:1].assign(phone=phones[0])])
    dup.to_csv(tmp / "dup.csv", index=False)
    out = tmp / "never.csv"
    res = run_inproc(
        "assign", "stewards", "--alleys", str(tmp / "alleys.geojson"),
        "--people", str(tmp / "dup.csv"), "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.startswith("error: 人员编号重复（p0000），请改正 duplicate person_id")
    assert "Traceback" not in res.stderr
    assert phones[0] not in res.stderr + res.stdout
    assert not out.exists()
    people.assign(colour="red").to_csv(tmp / "extra.csv", index=False)
    res = run_inproc(
        "assign", "stewards", "--alleys", str(tmp / "alleys.geojson"),
        "--people", str(tmp / "extra.csv"), "--out", str(out),
    )  # fmt: skip
    # another column is left out, and named (a registry's notes column refused it whole)
    assert res.returncode == 0
    zh, en = "已略去 extra.csv 中的列：colour（未读入）", "extra.csv: columns left out: colour"
    assert f"warning: {zh} {en}" in res.stderr, res.stderr
    assert out.exists()


def test_database_mode_end_to_end(db, pg_url, tmp_path):
    """``gridward assign alleys --area CODE`` against PostGIS: commits, then keeps."""
    import numpy as np
    from sqlalchemy import text

    from geo.demo import load_city, make_grids
    from tests.test_import import run_cli

    load_city(db)
    make_grids(db)
    with db.connect() as conn:
        homes = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM buildings"
            )
        ).all()
    rng = np.random.default_rng(1)
    rows = ["person_id,name,role,lon,lat"]
    for i in range(120):
        x, y = homes[int(rng.integers(len(homes)))]
        role = ("alley_steward", "street_chief", "grid_leader", "grid_worker")[i % 4]
        rows.append(f"P{i},p{i},{role},{x},{y}")
    people = tmp_path / "people.csv"
    people.write_text("\n".join(rows) + "\n")
    assert run_cli(["import", "people", str(people)], pg_url).returncode == 0
    titles = {"grids": "网格定人", "streets": "街巷长分配", "alleys": "小巷管家分配"}
    for kind in ("grids", "streets", "alleys"):
        res = run_cli(["assign", kind, "--area", "110108015"], pg_url)
        assert res.returncode == 0, res.stderr
        assert "committed:" in res.stdout
        # each kind titled as itself (streets printed "alley steward assignment")
        assert titles[kind] in res.stdout and (kind == "alleys") == ("小巷管家" in res.stdout)
        if kind == "alleys":  # the 莲桥 island's paths, named for the planner to check
            assert "staffed across a gap in the map data" in res.stdout
            # T37 #19: the count in the Chinese too, not after the English only
            gap = r"跨越路网缺口分配 (\d+) 处（请核实那里有路可走） staffed across .* \(\1\): "
            assert re.search(gap, res.stdout), res.stdout
            assert "6 莲桥" in res.stdout and "（无名 unnamed）way:84273935" in res.stdout
    again = run_cli(["assign", "alleys", "--area", "110108015"], pg_url)
    assert "ending 0, starting 0" in again.stdout  # nothing changed: nothing moves
    with db.connect() as conn:
        n = conn.execute(text("SELECT count(DISTINCT role) FROM assignments")).scalar()
    assert n == 4
    bad = run_cli(["assign", "alleys", "--area", "110108099"], pg_url)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_undo_command_is_listed_and_names_bad_input_before_connecting(run_inproc, monkeypatch):
    """``gridward assign undo``: listed with its Chinese summary; a duty id or reason that
    cannot be right is one error line, exit 2, without touching a database (none here)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    res = run_inproc("assign", "--help")
    assert res.returncode == 0 and "undo" in res.stdout and "撤销职责" in res.stdout
    res = run_inproc("assign", "undo", "--help")
    assert res.returncode == 0
    assert "--duty" in res.stdout and "--reason" in res.stdout and "--leave-others" in res.stdout
    for args, needle in [
        (("--duty", "abc"), "duty 'abc' is not a duty id"),
        (("--duty", "-3"), "duty '-3' is not a duty id"),
        (("--duty", "99999999999"), "is not a duty id"),
        (("--duty", "7", "--reason", "长" * 501), "the reason is 501 characters long: at most 500"),
    ]:
        res = run_inproc("assign", "undo", *args)
        err = res.stderr.strip().splitlines()
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], res.stderr
        assert "Traceback" not in res.stderr


def test_file_mode_out_never_replaces_an_input_or_writes_another_type(files, tmp_path):
    """Outside tester: ``--out`` naming the people file replaced the registry with the
    assignments, ``--out o.xlsx`` wrote CSV text, and a script's stderr began with the
    progress bar's last state; ``partition --out`` had the same faults (and ``--seed -1``
    a traceback). Now each is one ``error:`` line, exit 2, the inputs untouched."""
    tmp, _, _, _ = files
    people = tmp_path / "people.csv"
    people.write_bytes((tmp / "people.csv").read_bytes())
    before = people.read_bytes()
    base = ["assign", "stewards", "--alleys", str(tmp / "alleys.geojson"), "--people"]
    for args, says in (
        ([*base, str(people), "--out", str(people)], "is the people file"),
        ([*base, str(people), "--out", str(tmp_path / "o.xlsx")], "unsupported file type"),
        ([*base, str(people), "--out", str(tmp / "alleys.geojson")], "unsupported file type"),
    ):
        res = run(*args)
        assert res.returncode == 2 and res.stderr.startswith("error: "), res.stderr
        assert says in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert people.read_bytes() == before and not (tmp_path / "o.xlsx").exists()
    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(116.3, 40.0, 116.301, 40.001)], crs=4326).to_file(area)
    kept = area.read_bytes()
    part = ["partition", "--area", str(area), "--buildings", str(tmp / "alleys.geojson")]
    part += ["--min-households", "300", "--max-households", "500"]
    for extra, says in (
        (["--out", str(area)], "is the area file"),
        (["--out", str(tmp_path / "g.gpkg")], "unsupported file type"),
        (["--out", str(tmp_path / "g.geojson"), "--seed", "-1"], "--seed"),
    ):
        res = run(*part, *extra)
        assert res.returncode == 2 and res.stderr.startswith("error: "), res.stderr
        assert says in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert area.read_bytes() == kept and not (tmp_path / "g.gpkg").exists()


def test_file_mode_notes_read_chinese_first_and_its_hint_is_a_warning(
    files, run_inproc, monkeypatch, tmp_path
):
    """T38 L11: the file mode's table gave its notes in English only (``share of alleys with
    a steward``, ``m along the network``) where the database mode has them in Chinese first,
    and its stderr hint began ``说明 note:`` where every other stderr line is ``warning:`` or
    ``error:``. The table is for reading (box drawing, cells wrapped to the terminal): its
    notes are now Chinese first, its rows as they were (none of the database mode's own);
    the lines after it, and the CSV, unchanged."""
    from tests.test_assign_cli_hints_db import _table

    tmp, _, people, _ = files
    people.iloc[:10].to_csv(tmp_path / "few.csv", index=False)  # 10 people, 120 alleys
    out = tmp_path / "few_out.csv"
    monkeypatch.setenv("COLUMNS", "240")  # rich's width: no note wrapped mid-phrase
    res = run_inproc(
        "assign", "stewards", "--alleys", str(tmp / "alleys.geojson"),
        "--people", str(tmp_path / "few.csv"), "--out", str(out), "--max-alleys-per-person", "1",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = _table(res.stdout)
    assert list(rows) == [
        "覆盖率 coverage", "已覆盖小巷 alleys covered", "小巷数 alleys",
        "在岗管家 stewards assigned", "可用人员 people available", "负荷差异 load spread",
        "最大负荷 max load", "负荷中位数 median load", "平均步行距离 mean walk",
        "目标值 objective", "运行时间 runtime",
    ]  # fmt: skip
    assert rows["覆盖率 coverage"][1] == "有小巷管家的小巷所占比例 share of alleys with a steward"
    assert rows["平均步行距离 mean walk"][1] == "米，沿路网 m along the network"
    assert rows["负荷差异 load spread"][1] == (
        "每名管家所管小巷长度的最大值 / 中位数 max / median alley metres per steward"
    )
    assert rows["目标值 objective"][1] == "折合步行米数 walk-equivalent m"
    got = pd.read_csv(out, dtype=str)
    assert len(got) == 10 and list(got.columns) == ["alley_id", "person_id"]
    lines = res.stdout.splitlines()
    assert lines[-1] == f"已写入 wrote 10 assignments to {out}"
    assert any(x.startswith("未覆盖小巷 uncovered alleys (110): ") for x in lines), lines
    assert res.stderr.strip().splitlines() == [
        "warning: 10 名小巷管家已达巷数上限（1 条，--max-alleys-per-person），调高此上限可覆盖"
        "更多小巷 10 stewards hold the most alleys one may (1, --max-alleys-per-person): a "
        "higher limit may cover more"
    ]
