"""A re-imported OSM extract that renames a way, moves it to another street, splits an alley
into two ways or deletes a way crossing the bounds (outside tester T43, #1-#3), and the words
of ``import osm`` (#12, #13).

The files are made in ``tmp_path`` from the demo fixture with the tester's edits
(/tmp/t43/editosm.py): way 226628639 (an unnamed footway, its own alley) named 测试胡同; way
226668053 (an unnamed cycleway, one segment) split at node 2354349063 into itself and a new
way 990000001; way 226765165 (an unnamed pedestrian way reaching over the east edge of the
bounds) taken out.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from rich.cells import cell_len
from sqlalchemy import Engine, text

from geo.importer import import_osm
from geo.network import ALLEY_HIGHWAYS
from geo.patrol_reports import build_report
from geo.settings import city_today
from geo.staffing import duties
from geo.street_areas import street_areas_sql
from tests.test_segment_retire_db import (
    OSM,
    STEWARD,
    _alley_length,
    _city,
    _credited,
    _walk,
    _way_of_a_multi_way_alley,
)

RENAMED_WAY = 226628639  # T43 #1: DEMO0030's alley, named 测试胡同 in the new extract
SPLIT_WAY, SPLIT_NODE, NEW_WAY = 226668053, 2354349063, 990000001  # T43 #2
REMOVED_WAY = 226765165  # T43 #3: its east end lies beyond maxlon 116.3250


def _edited(
    dst: Path,
    *,
    names: dict[int, str] | None = None,
    drop: tuple[int, ...] = (),
    split: bool = False,
    cut: bool = False,
    maxlat: str | None = None,
) -> Path:
    """The fixture with T43's edits: ``names`` (way → its new name tag), ``drop`` (ways
    taken out), ``split`` (way 226668053 split at node 2354349063, its second half the new
    way 990000001), ``cut`` (226668053 ends at that node, its second half gone), ``maxlat``
    (the <bounds>' north edge)."""
    xml = OSM.read_text(encoding="utf-8")
    for way, name in (names or {}).items():
        block = re.search(rf' <way id="{way}"[^>]*>\n.*? </way>\n', xml, flags=re.S)
        assert block is not None
        body = re.sub(r'  <tag k="name" v="[^"]*" />\n', "", block.group(0))
        body = body.replace(" </way>", f'  <tag k="name" v="{name}" />\n </way>')
        xml = xml[: block.start()] + body + xml[block.end() :]
    for way in drop:
        xml, n = re.subn(rf'\n <way id="{way}"[^>]*>.*?</way>', "", xml, flags=re.S)
        assert n == 1
    if split or cut:
        block = re.search(rf' <way id="{SPLIT_WAY}"[^>]*>\n.*? </way>\n', xml, flags=re.S)
        assert block is not None
        head = block.group(0).split("\n")[0] + "\n"
        refs = re.findall(r'  <nd ref="\d+" />\n', block.group(0))
        tags = "".join(re.findall(r"  <tag [^\n]*\n", block.group(0)))
        at = next(i for i, r in enumerate(refs) if str(SPLIT_NODE) in r)
        first = head + "".join(refs[: at + 1]) + tags + " </way>\n"
        xml = xml[: block.start()] + first + xml[block.end() :]
        if split:  # after the last way: ways go in id order (osmium refuses others, T43 #12)
            assert max(int(w) for w in re.findall(r'<way id="(\d+)"', xml)) < NEW_WAY
            second = (
                head.replace(f'id="{SPLIT_WAY}"', f'id="{NEW_WAY}"')
                + "".join(refs[at:])
                + tags
                + " </way>\n"
            )
            last = xml.rindex(" </way>\n") + len(" </way>\n")
            xml = xml[:last] + second + xml[last:]
    if maxlat is not None:
        xml, n = re.subn(r'maxlat="[-\d.]+"', f'maxlat="{maxlat}"', xml, count=1)
        assert n == 1
    dst.write_text(xml, encoding="utf-8")
    return dst


def _street_of_way(db: Engine, way: int) -> tuple[int, str, str | None]:
    """(id, key, name) of the street of OSM way ``way`` (its live segments')."""
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT DISTINCT st.id, st.key, st.name FROM street_segments s "
                    "JOIN streets st ON st.id = s.street_id "
                    "WHERE s.osm_way_id = :w AND s.retired_at IS NULL"
                ),
                {"w": way},
            ).one()
        )


def _segments_of_way(db: Engine, way: int) -> list:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, uid, street_id, retired_at, added_at, length_m, "
                "ST_AsBinary(geom) AS wkb "
                "FROM street_segments WHERE osm_way_id = :w ORDER BY id"
            ),
            {"w": way},
        ).all()


def _person(db: Engine, code: str, name: str) -> int:
    with db.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) "
                "VALUES (:c, :n, ARRAY['alley_steward']) RETURNING id"
            ),
            {"c": code, "n": name},
        ).scalar_one()


def _duty(db: Engine, street_id: int, since: dt.date, person: int = STEWARD) -> int:
    with db.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d) RETURNING id"
            ),
            {"p": person, "s": street_id, "d": since},
        ).scalar_one()


def _last_month() -> tuple[dt.date, dt.date]:
    """(first day, a day in the middle) of the month before this one: a closed period."""
    first = (city_today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return first, first + dt.timedelta(days=14)


def _figures(db: Engine, kind: str, day: dt.date) -> dict[str, pd.DataFrame]:
    report = build_report(db, kind, day)
    return {part: report[part] for part in ("people", "alleys", "areas")}


# --------------------------------------------------------------------------------------------
# T43 #1: a way renamed
# --------------------------------------------------------------------------------------------


def test_a_renamed_way_renames_its_street_and_keeps_duty_and_past_reports(db, tmp_path):
    """T43 #1. Old code: the segment (same uid) was moved onto a new street 测试胡同, the
    steward's street was retired with her duty left open on it, and last month's closed
    report changed with no note: her patrols fell on a street nobody held (ad 62 → 31,
    walked 4078 → 1476, the community's unstaffed alley-days up). Now the street itself is
    renamed: same id, same segments, the duty valid, last month's figures the same (only
    the name reads new)."""
    _city(db)
    street, key, name = _street_of_way(db, RENAMED_WAY)
    assert key == f"way:{RENAMED_WAY}" and name is None
    first, mid = _last_month()
    _duty(db, street, first)
    seg = _segments_of_way(db, RENAMED_WAY)[0]
    walk = _walk(db, seg.wkb, mid, "last_month.csv")
    assert walk["status"] == "matched" and seg.id in _credited(db, walk["track_id"])
    before = _figures(db, "monthly", mid)
    assert before["people"]["walked_m"].sum() > 0

    notes: dict = {}
    counts = import_osm(
        db, _edited(tmp_path / "renamed.osm", names={RENAMED_WAY: "测试胡同"}), notes=notes
    )
    assert counts["streets_renamed"] == 1 and counts["segments_moved"] == 0
    assert counts["streets_retired"] == 0 and counts["duties_on_retired_streets"] == 0
    assert notes["renamed"] == [
        {
            "id": street,
            "old_key": key,
            "old_name": None,
            "new_key": "name:alley:测试胡同",
            "new_name": "测试胡同",
        }
    ]
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT key, name, kind, retired_at FROM streets WHERE id = :s"), {"s": street}
        ).one()
        n_named = conn.execute(
            text("SELECT count(*) FROM streets WHERE name = '测试胡同'")
        ).scalar_one()
    assert tuple(row) == ("name:alley:测试胡同", "测试胡同", "alley", None) and n_named == 1
    after_segments = _segments_of_way(db, RENAMED_WAY)
    assert [(s.id, s.uid, s.street_id, s.retired_at) for s in after_segments] == [
        (seg.id, seg.uid, street, None)
    ]
    mine = [d for d in duties(db, STEWARD) if d["street_id"] == street]
    assert mine and mine[0]["street_retired"] is False and mine[0]["street_name"] == "测试胡同"

    after = _figures(db, "monthly", mid)
    assert_frame_equal(after["people"], before["people"])
    assert_frame_equal(after["areas"], before["areas"])
    renamed = after["alleys"]["alley_id"] == street
    assert set(after["alleys"].loc[renamed, "alley_name"]) == {"测试胡同"}
    assert_frame_equal(
        after["alleys"].drop(columns="alley_name"), before["alleys"].drop(columns="alley_name")
    )
    # the same file again: nothing to rename
    assert import_osm(db, tmp_path / "renamed.osm")["streets_renamed"] == 0


# --------------------------------------------------------------------------------------------
# T43 #1: part of a street moved to another one
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("into", ["new", "existing"])
def test_a_way_moved_to_another_street_keeps_last_months_report(db, tmp_path, into):
    """One way of a named alley of several ways renamed (to a new name, or to the name of
    another alley that exists). Old code: its segments changed street in place, so last
    month's walks on them left the old alley (and its steward) for the other street. Now the
    stored rows are retired (their uid freed) and the file's segments are new rows on the
    other street, added today: last month's report is the same, today's alley is shorter
    and its duty stays."""
    _city(db)
    with db.connect() as conn:
        way, alley = _way_of_a_multi_way_alley(conn)
        # the other alley: the longest inside a community. WHY: a report places a street in
        # the community holding most of its *current* length (geo.street_areas); one that
        # lies half outside every community (学堂路, 49.96 %) is placed in one once the way
        # joins it, and its past unstaffed days move with it: not this change's to keep
        other = conn.execute(
            text(
                "SELECT st.id, st.name FROM streets st JOIN ("
                + street_areas_sql()
                + ") w ON w.alley_id = st.id WHERE st.key LIKE 'name:alley:%' "
                "AND st.id <> :a AND w.community_code IS NOT NULL "
                "ORDER BY st.length_m DESC LIMIT 1"
            ),
            {"a": alley},
        ).one()
        highway = conn.execute(
            text("SELECT DISTINCT highway FROM street_segments WHERE osm_way_id = :w"),
            {"w": way},
        ).scalar_one()
    assert highway in ALLEY_HIGHWAYS  # so under the other alley's name it is of its key
    new_name = "新改名胡同" if into == "new" else other.name
    first, mid = _last_month()
    _duty(db, alley, first)
    old = _segments_of_way(db, way)
    longest = max(old, key=lambda s: s.length_m)
    walk = _walk(db, longest.wkb, mid, "last_month.csv")
    assert longest.id in _credited(db, walk["track_id"])
    yesterday = city_today() - dt.timedelta(days=1)
    before = _figures(db, "monthly", mid)
    before_yesterday = _figures(db, "daily", yesterday)
    length_today = _alley_length(build_report(db, "daily", city_today()), alley)

    notes: dict = {}
    edited = _edited(tmp_path / "moved.osm", names={way: new_name})
    counts = import_osm(db, edited, notes=notes)
    assert counts["segments_moved"] == len(old) and counts["streets_renamed"] == 0
    assert counts["segments_added"] == 0 and counts["streets_retired"] == 0
    target = other.id if into == "existing" else _street_of_way(db, way)[0]
    assert [(m["from_id"], m["to_id"], m["segments"]) for m in notes["moved"]] == [
        (alley, target, len(old))
    ]
    now = _segments_of_way(db, way)
    moved = {s.id: s for s in now if s.id in {o.id for o in old}}
    fresh = [s for s in now if s.id not in moved]
    # the old rows: retired on the old alley, their uid freed; the new ones on the other street
    assert all(s.retired_at is not None and s.street_id == alley for s in moved.values())
    assert {s.uid for s in moved.values()} == {f"{o.uid}@moved:{o.id}" for o in old}
    assert {s.uid for s in fresh} == {o.uid for o in old}
    assert all(s.street_id == target and s.added_at is not None for s in fresh)
    assert all(s.retired_at is None for s in fresh)
    # a new street nobody holds is named for the planner; an existing one is not new
    unstaffed = {s["street_id"] for s in notes["unstaffed_new"]}
    assert (target in unstaffed) is (into == "new")

    # the closed month and yesterday are as they were
    after = _figures(db, "monthly", mid)
    for part in ("people", "alleys", "areas"):
        assert_frame_equal(after[part], before[part])
    after_yesterday = _figures(db, "daily", yesterday)
    for part in ("people", "alleys", "areas"):
        assert_frame_equal(after_yesterday[part], before_yesterday[part])
    # today the alley has lost the way, the duty is still on a live alley
    shorter = _alley_length(build_report(db, "daily", city_today()), alley)
    moved_m = sum(s.length_m for s in old)
    assert shorter == pytest.approx(length_today - moved_m, abs=0.5)
    mine = [d for d in duties(db, STEWARD) if d["street_id"] == alley]
    assert mine and mine[0]["street_retired"] is False

    # the same file again changes nothing; a walk today is credited to the new rows
    again = import_osm(db, edited)
    assert again["segments_moved"] == 0 and again["segments_written"] == 0
    today = _walk(db, longest.wkb, city_today(), "today.csv")
    got = _credited(db, today["track_id"])
    assert got and not got & set(moved)


# --------------------------------------------------------------------------------------------
# T43 #2: an alley split into two ways
# --------------------------------------------------------------------------------------------


def test_an_alley_split_into_two_ways_retires_its_old_segment(db, tmp_path):
    """T43 #2. Old code: the old whole-length segment stayed live (the re-split rule looked
    only at its own way's new drawing, half as long), the new first half was added beside
    it: the alley measured 382 m for 259 m of ground, and a full walk reached 0.668. Now the
    file's two ways draw all of it: it is retired; the second half's new street, held by
    nobody, is named for the planner."""
    _city(db)
    alley, key, _ = _street_of_way(db, SPLIT_WAY)
    [old] = _segments_of_way(db, SPLIT_WAY)
    _duty(db, alley, city_today() - dt.timedelta(days=30))
    yesterday = city_today() - dt.timedelta(days=1)
    walk = _walk(db, old.wkb, yesterday, "yesterday.csv")
    assert old.id in _credited(db, walk["track_id"])
    before = _figures(db, "daily", yesterday)

    notes: dict = {}
    counts = import_osm(db, _edited(tmp_path / "split.osm", split=True), notes=notes)
    assert counts["segments_retired"] == 1 and counts["segments_added"] == 2
    segs = _segments_of_way(db, SPLIT_WAY)
    assert [s.retired_at is not None for s in segs] == [True, False]
    half = segs[1]
    second, second_key, _ = _street_of_way(db, NEW_WAY)
    assert second_key == f"way:{NEW_WAY}" and second != alley
    assert [s["street_id"] for s in notes["unstaffed_new"]] == [second]
    assert counts["new_streets_without_duty"] == 1
    # today the alley is its first half only; yesterday is as it was
    with db.connect() as conn:
        half_m = conn.execute(
            text("SELECT length_m FROM street_segments WHERE id = :i"), {"i": half.id}
        ).scalar_one()
    assert _alley_length(build_report(db, "daily", city_today()), alley) == pytest.approx(half_m)
    after = _figures(db, "daily", yesterday)
    for part in ("people", "alleys", "areas"):
        assert_frame_equal(after[part], before[part])


def test_a_way_cut_at_the_bounds_keeps_its_old_segment_one_shortened_inside_does_not(db, tmp_path):
    """The same way ending at node 2354349063, its second half drawn by nothing in the file.
    With the bounds' north edge just past that node (40.0001), the rest lies beyond the cut:
    an extract truncated it there, the stored segment is not gone and stays live (as
    before). With the fixture's bounds the rest lies inside the area the file describes,
    where an extract drops no node: the way was shortened, its old segment is retired."""
    _city(db)
    [old] = _segments_of_way(db, SPLIT_WAY)
    # (the way's old end node joined another way: that way's two segments merge into one)
    counts = import_osm(db, _edited(tmp_path / "truncated.osm", cut=True, maxlat="40.0001000"))
    assert counts["segments_added"] >= 1
    assert _segments_of_way(db, SPLIT_WAY)[0].retired_at is None
    counts = import_osm(db, _edited(tmp_path / "shortened.osm", cut=True))
    assert counts["segments_retired"] >= 1
    assert _segments_of_way(db, SPLIT_WAY)[0].retired_at is not None
    assert old.id == _segments_of_way(db, SPLIT_WAY)[0].id


# --------------------------------------------------------------------------------------------
# T43 #3: a way deleted that reaches over the bounds
# --------------------------------------------------------------------------------------------


def test_a_deleted_way_reaching_over_the_bounds_is_retired_whole(db, tmp_path):
    """T43 #3. Old code: of way 226765165 (taken out of the file), only the segment wholly
    inside the <bounds> was retired; the one reaching past maxlon 116.3250 stayed live, so
    the alley measured 98 m today and read as patrolled. An extract keeps every way with a
    node inside its box: a way the file lacks with a vertex inside it was deleted."""
    _city(db)
    alley, _, _ = _street_of_way(db, REMOVED_WAY)
    with db.connect() as conn:
        crossing = conn.execute(
            text(
                "SELECT count(*) FROM street_segments WHERE osm_way_id = :w AND NOT "
                "ST_CoveredBy(geom, ST_MakeEnvelope(116.313, 39.9905, 116.325, 40.001, 4326))"
            ),
            {"w": REMOVED_WAY},
        ).scalar_one()
    assert crossing >= 1
    _duty(db, alley, city_today() - dt.timedelta(days=30))
    n = len(_segments_of_way(db, REMOVED_WAY))
    notes: dict = {}
    counts = import_osm(db, _edited(tmp_path / "removed.osm", drop=(REMOVED_WAY,)), notes=notes)
    # (and the neighbours' segments it split, now whole: retired, and added as one)
    assert counts["segments_retired"] >= n and counts["streets_retired"] == 1
    assert all(s.retired_at is not None for s in _segments_of_way(db, REMOVED_WAY))
    assert _alley_length(build_report(db, "daily", city_today()), alley) is None
    # the duty left on the retired alley is named, with when it went
    assert counts["duties_on_retired_streets"] == 1
    [d] = notes["retired_duties"]
    assert (d["street_id"], d["person_code"], d["retired_on"]) == (alley, "S1", city_today())


# --------------------------------------------------------------------------------------------
# what import osm says
# --------------------------------------------------------------------------------------------


def test_import_osm_names_renames_duties_on_retired_streets_and_new_streets(db, pg_url, tmp_path):
    """T43 #1-#3: the import printed totals only (停用 7 … 街巷停用 1): nothing named the
    steward's duty left on a retired alley, nor the new alley nobody held. Now each is named,
    Chinese first, with the command that ends a duty."""
    from tests.test_import import run_cli

    _city(db)
    renamed, _, _ = _street_of_way(db, RENAMED_WAY)
    removed, removed_key, _ = _street_of_way(db, REMOVED_WAY)
    other = _person(db, "S2", "李小巷")
    since = city_today() - dt.timedelta(days=30)
    _duty(db, renamed, since)
    duty = _duty(db, removed, since, person=other)
    edited = _edited(
        tmp_path / "haidian_v2.osm",
        names={RENAMED_WAY: "测试胡同"},
        drop=(REMOVED_WAY,),
        split=True,
    )
    proc = run_cli(["import", "osm", str(edited)], pg_url)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("已导入 OSM：") and "街巷改名 1" in out.splitlines()[0]
    assert "streets_renamed=1" in out and "duties_on_retired_streets=1" in out
    second, _, _ = _street_of_way(db, NEW_WAY)
    last_day = city_today() - dt.timedelta(days=1)
    lines = out.splitlines()
    expect = [
        "街巷改名 1 条，职责和过去的报表随街巷保留： streets renamed: 1, their duties and "
        "past reports kept:",
        f"  way:{RENAMED_WAY} → 测试胡同（id:{renamed}） way:{RENAMED_WAY} → 测试胡同 "
        f"(id {renamed})",
        "所在街巷已停用的职责 1 条：请用 gridward assign set --replace 改派到别的街巷，或结束它 "
        "duties on retired streets: 1; move each to another street (gridward assign set "
        "--replace) or end it:",
        f"  李小巷（S2）小巷管家：小巷 {removed_key}（id:{removed}）于 {city_today()} 停用，"
        f"职责自 {since} 起（职责编号 {duty}）；结束它：gridward assign end --person S2 "
        f"--alley {removed} --last-day {last_day} 李小巷 (S2) alley steward: alley "
        f"{removed_key} (id {removed}) retired on {city_today()}, duty {duty} since {since}; "
        f"to end it: gridward assign end --person S2 --alley {removed} --last-day {last_day}",
        "无人负责的新街巷 1 条：请用 gridward assign set 安排职责 new streets with no duty: 1; "
        "give each one with gridward assign set:",
    ]
    for line in expect:
        assert line in lines, (line, out)
    assert any(ln.startswith(f"  小巷 way:{NEW_WAY}（id:{second}），") for ln in lines), out
    # the command it names works as written
    proc = run_cli(
        ["assign", "end", "--person", "S2", "--alley", str(removed), "--last-day", str(last_day)],
        pg_url,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(["import", "osm", str(edited)], pg_url)
    assert "duties_on_retired_streets=0" in proc.stdout and "所在街巷已停用" not in proc.stdout


def test_ways_out_of_order_say_so_in_chinese_with_the_sort_command(tmp_path):
    """T43 #12. Old code: 无法读取 OSM 文件 haidian_v2.osm（Way IDs out of order: 226668655）,
    the cause in English only and no remedy."""
    from geo.errors import InputError
    from geo.osm import read_osm

    xml = OSM.read_text(encoding="utf-8")
    blocks = re.findall(r' <way id="\d+"[^>]*>.*? </way>\n', xml, flags=re.S)
    first, second = blocks[0], blocks[1]
    swapped = xml.replace(first + second, second + first)
    assert swapped != xml
    path = tmp_path / "haidian_v2.osm"
    path.write_text(swapped, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_osm(path)
    message = str(err.value)
    way = re.search(r'<way id="(\d+)"', first).group(1)
    zh = (
        f"文件中的路（way）未按编号排序，way {way} 排在编号更大的路之后；请先排序再导入："
        "osmium sort haidian_v2.osm -o haidian_v2-sorted.osm，然后导入 haidian_v2-sorted.osm"
    )
    en = f"cannot read OSM file haidian_v2.osm: Way IDs out of order: {way}; the ways are not"
    assert message.startswith("无法读取 OSM 文件 haidian_v2.osm")
    assert zh in message and en in message and message.index(zh) < message.index(en)
    # where osmium comes from (T45 #13: `which osmium` found nothing)
    assert f"{zh}（osmium 命令来自 osmium-tool：apt install osmium-tool） " in message, message
    assert message.endswith(
        "then import haidian_v2-sorted.osm (the osmium command comes with osmium-tool: "
        "apt install osmium-tool)"
    ), message
    # a file cut short: where, and what to do, in Chinese too (it was osmium's English only)
    path.write_text(xml[: len(xml) // 2], encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_osm(path)
    got = re.search(r"（(XML parsing error at line (\d+), column (\d+)[^）]*)）", str(err.value))
    assert got is not None, err.value
    assert str(err.value).startswith(
        f"无法读取 OSM 文件 haidian_v2.osm（{got[1]}）：XML 格式有误，在第 {got[2]} 行第 "
        f"{got[3]} 列；文件可能不完整（下载或复制中断）或已损坏，请重新下载或导出 cannot read"
    )


def test_import_osm_help_reads_chinese_first_in_whole_sentences():
    """T43 #13. Old code: the page's description was English only, broken where the source
    line broke ("the walks of" / "today already matched")."""
    from typer.testing import CliRunner

    from api.cli import app

    for columns in (80, 100, 120):
        res = CliRunner().invoke(app, ["import", "osm", "--help"], env={"COLUMNS": str(columns)})
        assert res.exit_code == 0
        lines = [ln.strip() for ln in res.stdout.splitlines()]
        start = lines.index(next(ln for ln in lines if ln.startswith("路段停用")))
        end = start + lines[start:].index("")
        body = lines[start:end]
        assert "the walks of today already matched" in " ".join(body)
        # wrapped by the width only: each line ends where its next word no longer fits
        for line, after in zip(body, body[1:], strict=False):
            assert cell_len(line) + 1 + cell_len(after.split()[0]) > columns - 4, body


def test_a_street_renamed_into_an_alley_is_not_renamed_in_place(db, tmp_path):
    """A street (街) whose new name makes it an alley (…胡同): a street chief's duty does
    not fit an alley, so the street is not renamed in place: its segments move to the new
    alley, the street is retired and the chief's duty on it is named for the planner."""
    _city(db)
    with db.connect() as conn:
        way, street = conn.execute(
            text(
                "SELECT min(s.osm_way_id), st.id FROM streets st "
                "JOIN street_segments s ON s.street_id = st.id "
                "WHERE st.kind = 'street' AND st.key LIKE 'way:%' GROUP BY st.id "
                "ORDER BY st.id LIMIT 1"
            )
        ).one()
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'street_chief', :s, :d)"
            ),
            {"p": STEWARD, "s": street, "d": city_today() - dt.timedelta(days=30)},
        )
        conn.commit()
    n = len(_segments_of_way(db, way))
    notes: dict = {}
    counts = import_osm(db, _edited(tmp_path / "alley.osm", names={way: "改名胡同"}), notes=notes)
    assert counts["streets_renamed"] == 0 and counts["segments_moved"] == n
    alley, key, _ = _street_of_way(db, way)
    assert alley != street and key == "name:alley:改名胡同"
    assert [(d["street_id"], d["role"]) for d in notes["retired_duties"]] == [
        (street, "street_chief")
    ]
    assert [s["street_id"] for s in notes["unstaffed_new"]] == [alley]
