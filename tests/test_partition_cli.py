"""The exact file-mode command of issue 3, run through the Typer app."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
from typer.testing import CliRunner

from api.cli import app
from geo.partition import PartitionParams
from tests.test_partition import layout


def _write(tmp_path, nx=3, ny=2):
    area, b, s = layout(nx, ny, [[45, 60, 30, 75, 55, 40]])
    paths = {k: tmp_path / f"{k}.geojson" for k in ("area", "buildings", "streets")}
    gpd.GeoDataFrame(geometry=[area], crs=4326).to_file(paths["area"])
    b.to_file(paths["buildings"])
    s.to_file(paths["streets"])
    return area, b, paths


def test_cli_file_mode(tmp_path):
    from geo.partition import PartitionResult
    from tests.test_partition import check_partition

    area, b, p = _write(tmp_path)
    out = tmp_path / "grids.geojson"
    args = [
        "partition",
        "--area",
        str(p["area"]),
        "--buildings",
        str(p["buildings"]),
        "--streets",
        str(p["streets"]),
        "--min-households",
        "300",
        "--max-households",
        "500",
        "--out",
        str(out),
        "--seed",
        "3",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "网格数 Grids" in res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    props = doc["features"][0]["properties"]
    for key in ("code", "households", "building_count", "flags", "polsby_popper"):
        assert key in props
    grids = gpd.read_file(out)
    assert grids["households"].sum() == b["households"].sum()
    assert doc["summary"]["n_grids"] == len(grids)
    # Rebuild building → grid from geometry and run the independent checker on the file.
    grids["flags"] = [f["properties"]["flags"] for f in doc["features"]]
    reps = b.geometry.representative_point()
    idx = np.array([int(np.flatnonzero(grids.contains(pt))[0]) for pt in reps])
    import pandas as pd

    result = PartitionResult(
        grids=grids,
        building_grid=pd.Series(grids["code"].to_numpy()[idx], index=b.index),
        summary=doc["summary"],
    )
    check_partition(area, b, PartitionParams(300, 500), result)


def test_cli_errors(tmp_path):
    _, _, p = _write(tmp_path, 1, 1)
    runner = CliRunner()
    res = runner.invoke(app, ["partition", "--min-households", "3", "--max-households", "5"])
    assert res.exit_code != 0
    res = runner.invoke(
        app,
        [
            "partition",
            "--area",
            str(p["area"]),
            "--buildings",
            str(tmp_path / "nope.geojson"),
            "--min-households",
            "3",
            "--max-households",
            "5",
            "--out",
            str(tmp_path / "o.json"),
        ],
    )
    assert res.exit_code != 0 and "not found" in str(res.exception)
    res = runner.invoke(
        app,
        [
            "partition",
            "--area",
            str(p["area"]),
            "--buildings",
            str(p["buildings"]),
            "--min-households",
            "9",
            "--max-households",
            "5",
            "--out",
            str(tmp_path / "o.json"),
        ],
    )
    assert "greater than" in str(res.exception)


def test_cli_reads_a_户数_column_numbers_features_from_1_and_writes_clean_coordinates(tmp_path):
    """A buildings file from a Chinese spreadsheet says 户数; a bad feature is named as a GIS
    numbers it (from 1); the grids file carries no float noise (116.31300000000002)."""
    area, b, p = _write(tmp_path)
    zh = b.rename(columns={"households": "户数"}).astype({"户数": object})
    zh.loc[zh.index[2], "户数"] = None  # the third feature
    zh.to_file(p["buildings"])
    out = tmp_path / "grids.geojson"
    args = ["partition", "--area", str(p["area"]), "--buildings", str(p["buildings"])]
    args += ["--min-households", "300", "--max-households", "500", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    # named as the file numbers it, "feature 3", not "building 3" (an id: T38 M1)
    assert "第 3 个要素缺少户数 feature 3: households is missing" in str(res.exception), res.output
    assert not out.exists()
    zh.loc[zh.index[2], "户数"] = b["households"].iloc[2]
    zh.to_file(p["buildings"])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert sum(f["properties"]["households"] for f in doc["features"]) == b["households"].sum()
    coords = np.concatenate(
        [
            np.asarray(ring).ravel()
            for f in doc["features"]
            for poly in (
                f["geometry"]["coordinates"]
                if f["geometry"]["type"] == "MultiPolygon"
                else [f["geometry"]["coordinates"]]
            )
            for ring in poly
        ]
    )
    assert len(coords) > 20 and np.array_equal(coords, np.round(coords, 8))
    assert gpd.read_file(out).is_valid.all()


def test_grids_outside_the_bounds_are_a_warning_line(tmp_path):
    """Carried open item (impossible bounds exit 0): an area of 1830 households with a
    minimum of 3000 is one flagged grid; the file is written and the exit stays 0, but
    stderr says so in one ``warning:`` line a script can read. Within bounds: no line."""
    _, _, p = _write(tmp_path)
    out = tmp_path / "grids.geojson"
    base = ["partition", "--area", str(p["area"]), "--buildings", str(p["buildings"])]
    base += ["--out", str(out)]
    runner = CliRunner()
    res = runner.invoke(app, [*base, "--min-households", "3000", "--max-households", "5000"])
    assert res.exit_code == 0 and out.exists(), res.output
    warnings = [x for x in res.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "1 of 1 grid(s) outside 3000–5000" in warnings[0], res.stderr
    res = runner.invoke(app, [*base, "--min-households", "300", "--max-households", "500"])
    assert res.exit_code == 0 and "warning:" not in res.stderr, res.stderr


def test_database_mode_refuses_file_options(tmp_path, db, pg_url):
    """`partition --community C --out x.geojson` exited 0 and wrote nothing (tester W, F12):
    database mode makes a draft in the database, so file options are refused (exit 2, one
    error: line naming them) and no draft is stored."""
    from sqlalchemy import text

    from tests.test_import import run_cli

    out = tmp_path / "x.geojson"
    base = ["partition", "--community", "110108015003", "--min-households", "250",
            "--max-households", "450"]  # fmt: skip
    for extra, named in (
        (["--out", str(out)], "--out"),
        (["--area", str(tmp_path / "a.geojson"), "--streets", str(tmp_path / "s.geojson")],
         "--area, --streets"),
    ):  # fmt: skip
        res = run_cli([*base, *extra], pg_url)
        assert res.returncode == 2, res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: 数据库模式"), res.stderr
        assert named in lines[0]
    assert not out.exists()
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one() == 0
