"""`gridward match`'s output paths, refused before any work and naming the option typed: a
batch's outputs inside --out-dir were refused as "--out D/x.geojson …" (an option the user
never gave); an --out holding a line break, a byte that is not UTF-8 or a name too long for
the write, or lying where the file system takes no new file (root passes os.access there),
was accepted and failed only at the write, after the match.

WHY a missing --network in some cases: the network is read after the output is checked, so
an error about the network would mean the output was let through to the work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.test_assign_cli import run_inproc  # noqa: F401 (fixture)
from tests.test_match_cli_edges import files, gw  # noqa: F401 (fixtures)
from tests.test_tracks_cli import _one_error


def _two_tracks(tmp: Path, track: Path) -> list[str]:
    """``--track`` twice: the walk and a copy of it (a batch)."""
    other = tmp / "tracks" / "second.csv"
    other.parent.mkdir(exist_ok=True)
    shutil.copy(track, other)
    return ["--track", str(track), "--track", str(other)]


def test_a_batch_output_refused_names_out_dir_and_the_file(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    args = _two_tracks(tmp, track)
    out = tmp / "out"
    (out / "track.matched.geojson").mkdir(parents=True)
    r = gw("match", "--network", net, *args, "--out-dir", out)
    _one_error(
        r,
        f"--out-dir 的输出文件 {out / 'track.matched.geojson'} 是文件夹",
        f"--out-dir output {out / 'track.matched.geojson'} is a folder",
        "move it away or choose another --out-dir",
    )
    assert "--out " not in r.stderr and "matched.geojson/" not in r.stderr
    (out / "track.matched.geojson").rmdir()

    os.link(net, out / "track.matched.geojson")  # an output that is the network
    r = gw("match", "--network", net, *args, "--out-dir", out)
    _one_error(
        r,
        f"--out-dir 的输出文件 {out / 'track.matched.geojson'} 就是路网文件，请换一个输出文件夹",
        f"--out-dir output {out / 'track.matched.geojson'} is the network file; choose "
        "another --out-dir",
    )
    assert "--out " not in r.stderr
    (out / "track.matched.geojson").unlink()

    os.link(track, out / "summary.csv")  # summary.csv that is a track
    r = gw("match", "--network", net, *args, "--out-dir", out)
    _one_error(r, f"--out-dir output {out / 'summary.csv'} is the track file")
    assert "--out " not in r.stderr and r.stdout == ""
    assert (out / "summary.csv").read_bytes() == track.read_bytes()


@pytest.mark.parametrize(
    ("given", "said_zh", "said"),
    [
        ("a\nb.geojson", "含换行等控制字符 '\\n'", "holds a control character (a line break"),
        ("a\tb.gpkg", "含换行等控制字符 '\\t'", "'\\t'"),
        ("a\x7fb.csv", "含换行等控制字符 '\\x7f'", "holds a control character"),
        (os.fsdecode(b"caf\xe9.geojson"), "含非 UTF-8 字节 0xE9", "a byte that is not UTF-8, 0xE9"),
        ("sub\ndir/x.geojson", "含换行等控制字符 '\\n'", "--out 'sub\\ndir/x.geojson' holds"),
    ],
)
def test_an_out_gdal_cannot_name_is_refused_before_the_network_is_read(
    gw,  # noqa: F811
    files,  # noqa: F811
    monkeypatch,
    given,
    said_zh,
    said,
):
    tmp, net, track, _ = files
    monkeypatch.chdir(tmp)
    for network in (net, tmp / "missing.geojson"):
        r = gw("match", "--network", network, "--track", track, "--out", given)
        _one_error(r, f"输出路径 --out {given!r} {said_zh}", said, "choose another path")
        assert r.stderr.index("请换一个路径") < r.stderr.index("choose another path")
        assert r.stdout == ""
    assert sorted(p.name for p in tmp.iterdir()) == ["network.geojson", "track.csv"]


def test_an_out_dir_gdal_cannot_name_is_refused(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    args = _two_tracks(tmp, track)
    given = str(tmp / os.fsdecode(b"d\xff"))
    r = gw("match", "--network", net, *args, "--out-dir", given)
    _one_error(r, f"--out-dir {given!r} holds a byte that is not UTF-8, 0xFF", "含非 UTF-8 字节")
    assert r.stdout == "" and not Path(given).exists()


def test_a_track_name_that_is_not_utf8_is_refused_before_matching(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    odd = tmp / "tracks" / os.fsdecode(b"caf\xe9.csv")
    odd.parent.mkdir()
    shutil.copy(track, odd)
    r = gw("match", "--network", net, "--track", track, "--track", odd, "--out-dir", tmp / "o")
    _one_error(r, "track file name 'caf\\udce9.csv' in", "not UTF-8, 0xE9", "rename it")
    assert r.stdout == "" and not (tmp / "o").exists()


@pytest.mark.parametrize(("limit", "suffix"), [(246, ".geojson"), (238, ".gpkg")])
def test_an_out_name_too_long_for_the_write_is_refused_first(gw, files, limit, suffix):  # noqa: F811
    """The write makes ".<stem>.partial<suffix>" and, for a GeoPackage, SQLite's "-journal"
    beside it: a name short enough itself still failed there, after the match."""
    tmp, net, track, _ = files
    stem = limit + 1 - len(suffix)  # bytes: one more than the write can take
    out = tmp / f"{'长' * (stem // 3)}{'x' * (stem % 3)}{suffix}"
    size = len(os.fsencode(out.name))
    assert size == limit + 1 <= 255  # a name the file system itself takes
    for network in (net, tmp / "missing.geojson"):
        r = gw("match", "--network", network, "--track", track, "--out", out)
        _one_error(
            r,
            f"输出文件名太长：--out {out} 的文件名有 {size} 字节（UTF-8），最多 {limit} 字节",
            f"--out {out}: its name is {size} bytes long (UTF-8), at most {limit}",
        )
        assert r.stdout == ""
    assert not [p for p in tmp.iterdir() if p.name.endswith(suffix) and p != net]


def test_a_batch_output_name_too_long_is_refused_before_matching(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    args = _two_tracks(tmp, track)
    long = tmp / "tracks" / f"{'w' * 235}.csv"
    shutil.copy(track, long)
    out = tmp / "o"
    r = gw("match", "--network", net, *args, "--track", long, "--out-dir", out)
    written = out / f"{long.stem}.matched.geojson"
    _one_error(r, f"--out-dir output {written}: its name is 251 bytes long", "--out-dir 的输出文件")
    assert r.stdout == "" and not out.exists()


def test_an_out_where_no_file_can_be_made_is_refused_before_the_network_is_read(gw, files):  # noqa: F811
    """Root passes os.access in /sys/kernel, where the file system refuses a new file."""
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys/kernel here")
    tmp, net, track, _ = files
    out = "/sys/kernel/matched.geojson"
    for network in (net, tmp / "missing.geojson"):
        r = gw("match", "--network", network, "--track", track, "--out", out)
        _one_error(r, f"无法写入输出文件 --out {out}：不能在 /sys/kernel 中新建文件",
                   f"--out {out}: cannot write in /sys/kernel (")  # fmt: skip
        assert r.stdout == ""


def test_an_empty_out_or_out_dir_is_refused(gw, files, monkeypatch):  # noqa: F811
    """A script's unset variable: --out "" was called the folder ".", and --out-dir "" wrote
    into the current folder."""
    tmp, net, track, _ = files
    monkeypatch.chdir(tmp)
    r = gw("match", "--network", net, "--track", track, "--out", "")
    _one_error(r, "输出路径 --out 为空", "--out is empty (an unset variable in a script?)")
    r = gw("match", "--network", net, *_two_tracks(tmp, track), "--out-dir", "")
    _one_error(r, "输出路径 --out-dir 为空", "--out-dir is empty")
    assert r.stdout == "" and not list(tmp.glob("*matched*"))
