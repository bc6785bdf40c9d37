"""Names and registry ids of the people registry (outside tester T42 #7) and the role filter
of GET /people (T42 #9), on PostGIS.

Old code: ``import people`` stored a name '\\u202eabc\\u200b\\u200d张三' as given (it read
三张cba on every page: U+202E turns the text after it around) and a 5,000-character name
(it filled the steward table); ``GET /people?role=xyz`` answered 200 ``[]``.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.errors import InputError
from geo.people_import import import_people, renumber_person
from tests.dbcheck import fingerprint
from tests.test_import import run_cli
from tests.test_people_import_db import A, place  # noqa: F401 - the fixture

RLO, ZWSP, ZWJ, LRI, PDI, BOM = "\u202e", "\u200b", "\u200d", "\u2066", "\u2069", "\ufeff"


def _names(db) -> dict[str, str]:  # noqa: ANN001
    with db.connect() as conn:
        rows = conn.execute(text("SELECT external_id, name FROM people ORDER BY 1")).all()
    return {r[0]: r[1] for r in rows}


def _roster(tmp_path, xy, rows: list[tuple[str, str]], name: str = "p.csv"):  # noqa: ANN001
    x, y = xy[A]
    path = tmp_path / name
    body = "".join(f"{pid},{who},小巷管家,{x},{y}\n" for pid, who in rows)
    path.write_text("人员编号,姓名,角色,经度,纬度\n" + body, "utf-8")
    return path


def test_bidi_and_zero_width_characters_are_removed_with_a_warning_naming_the_rows(
    place,  # noqa: F811
    tmp_path,
) -> None:
    db, xy = place
    path = _roster(
        tmp_path,
        xy,
        [
            ("S001", f"{RLO}abc{ZWSP}{ZWJ}张三"),
            ("S002", "李四"),
            (f"S0{ZWSP}03", f"{LRI}王五{PDI}"),
            (f"{BOM}S004", "赵六"),
        ],
    )
    out = import_people(db, path)
    assert _names(db) == {"S001": "abc张三", "S002": "李四", "S003": "王五", "S004": "赵六"}
    (warning,) = [w for w in out["warnings"] if "不可见字符" in w]
    assert warning.startswith("3 行的姓名或人员编号中有不可见字符（文字方向控制符 U+202A–U+202E")
    assert "（第 2 行 S001，第 4 行 S003，第 5 行 S004）" in warning
    assert warning.endswith(
        "removed invisible characters (bidi controls U+202A–U+202E, U+2066–U+2069, "
        "zero-width characters U+200B–U+200D, U+2060, U+FEFF …) from the name or registry id "
        "of 3 rows, as they show a name reversed or make two ids look alike; imported without "
        "them: row 2 S001, row 4 S003, row 5 S004"
    )
    # the same person sent again with a zero-width space in the id is that person, not another
    import_people(db, _roster(tmp_path, xy, [(f"S{ZWSP}001", "张三")], "again.csv"))
    assert _names(db)["S001"] == "张三" and len(_names(db)) == 4


def test_soft_hyphens_fillers_and_blank_letters_are_removed_too(place, tmp_path) -> None:  # noqa: F811
    """T45 #4: '王五\u00ad' and '孙\u3164八\u2800' were stored as given (they look like 王五
    and 孙 八), and a row named as cleaned kept its U+00AD. Every format character (Cf) and
    the blank letters go, under the same warning; a renumbering refuses them."""
    db, xy = place
    path = _roster(
        tmp_path,
        xy,
        [
            ("S001", "王五\u00ad"),
            ("S002", "孙\u3164八\u2800"),
            ("S003", f"{BOM}赵六\u00ad"),
            ("S0\u00ad04", "钱\u115f\u1160七\uffa0\u2061\u180e"),
            ("S005", "李四"),
        ],
    )
    out = import_people(db, path)
    assert _names(db) == {
        "S001": "王五",
        "S002": "孙八",
        "S003": "赵六",
        "S004": "钱七",
        "S005": "李四",
    }
    (warning,) = [w for w in out["warnings"] if "不可见字符" in w]
    assert warning.startswith("4 行的姓名或人员编号中有不可见字符"), warning
    assert "（第 2 行 S001，第 3 行 S002，第 4 行 S003，第 5 行 S004）" in warning, warning

    with db.connect() as conn:
        pid = conn.execute(text("SELECT id FROM people WHERE external_id = 'S001'")).scalar_one()
    for bad in ("S\u3164009", "S\u00ad009", "S009\u2800"):
        with pytest.raises(InputError, match="可打印字符"):
            renumber_person(db, pid, bad)
    assert _names(db)["S001"] == "王五"


def test_an_id_of_invisible_characters_only_is_a_missing_id(place, tmp_path) -> None:  # noqa: F811
    db, xy = place
    before = fingerprint(db)
    path = _roster(tmp_path, xy, [("S001", "张三"), (f"{ZWSP}{RLO}", "李四"), ("S003", "王五")])
    with pytest.raises(InputError) as err:
        import_people(db, path)
    assert "人员编号" in err.value.message and "person_id" in err.value.message
    assert fingerprint(db) == before


def test_a_name_over_50_characters_or_an_id_over_64_is_refused_naming_the_row(
    place,  # noqa: F811
    tmp_path,
) -> None:
    db, xy = place
    before = fingerprint(db)
    long_name = "张" * 5000
    path = _roster(tmp_path, xy, [("S001", "张三"), ("S002", long_name)])
    with pytest.raises(InputError) as err:
        import_people(db, path)
    words = err.value.message
    assert words.startswith(
        "人员文件 p.csv 有 1 处问题，未做任何更改：第 3 行 "
        + "张" * 50
        + "…（S002）：姓名有 5,000 个字，超过上限 50 个字。"
        "姓名最多 50 个字，人员编号最多 64 个字符，请改短 "
    ), words[:400]
    assert words.endswith(
        "the people file p.csv has 1 problem, nothing changed: row 3 "
        + "张" * 50
        + "… (S002): the name has 5,000 characters, over the limit of 50. a name may have "
        "at most 50 characters and a person_id at most 64: shorten them"
    ), words[-400:]
    assert len(words) < 1000  # the name is not repeated whole
    assert fingerprint(db) == before

    # 50 characters (after the invisible ones go) are taken
    ok = _roster(tmp_path, xy, [("S001", "张" * 50 + RLO)], "ok.csv")
    import_people(db, ok)
    assert _names(db) == {"S001": "张" * 50}

    long_id = "X" * 65
    path = _roster(tmp_path, xy, [(long_id, "李四"), ("S003", long_name[:51])], "ids.csv")
    with pytest.raises(InputError) as err:
        import_people(db, path)
    words = err.value.message
    assert "人员文件 ids.csv 有 2 处问题" in words
    assert f"第 2 行 李四（{'X' * 64}…）：人员编号有 65 个字符，超过上限 64 个" in words
    assert "第 3 行" in words and "姓名有 51 个字，超过上限 50 个字" in words
    assert "person_id has 65 characters, over the limit of 64" in words
    assert _names(db) == {"S001": "张" * 50}

    # a renumbering keeps to the same limit
    with db.connect() as conn:
        pid = conn.execute(text("SELECT id FROM people WHERE external_id = 'S001'")).scalar_one()
    with pytest.raises(InputError) as err:
        renumber_person(db, pid, long_id)
    assert "须为 1–64 个可打印字符" in err.value.message


def test_a_workbook_and_the_api_clean_names_too(place, auth_headers) -> None:  # noqa: F811
    db, xy = place
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["人员编号", "姓名", "角色", "经度", "纬度"])
    ws.append(["S001", f"{RLO}abc张三", "小巷管家", xy[A][0], xy[A][1]])
    out = io.BytesIO()
    wb.save(out)
    with TestClient(create_app(db)) as client:
        r = client.post(
            "/people/import",
            files={"file": ("p.xlsx", out.getvalue(), "application/octet-stream")},
            headers=auth_headers("admin"),
        )
    assert r.status_code == 200, r.text
    assert _names(db) == {"S001": "abc张三"}
    assert any("第 2 行 S001" in w for w in r.json()["warnings"]), r.json()


def test_the_command_line_prints_the_warning(place, tmp_path, pg_url) -> None:  # noqa: F811
    db, xy = place
    path = _roster(tmp_path, xy, [("S001", f"{RLO}abc张三")])
    res = run_cli(["import", "people", str(path)], pg_url)
    assert res.returncode == 0, res.stderr
    assert "warning: 1 行的姓名或人员编号中有不可见字符" in res.stderr, res.stderr
    assert "name or registry id of 1 row," in res.stderr
    assert _names(db) == {"S001": "abc张三"}


def test_people_with_an_unknown_role_is_a_422_naming_the_roles(db, auth_headers) -> None:
    headers = auth_headers("admin")
    with TestClient(create_app(db)) as client:
        for bad in ("xyz", "%", "Alley_Steward"):
            r = client.get("/people", params={"role": bad}, headers=headers)
            assert r.status_code == 422, (bad, r.text)
            words = r.json()["error"]
            assert "参数 role" in words and repr(bad) in words, words
            for role in (
                "grid_leader",
                "grid_worker",
                "part_time_worker",
                "street_chief",
                "alley_steward",
            ):
                assert role in words, words
        r = client.get("/people", params={"role": "alley_steward"}, headers=headers)
        assert r.status_code == 200 and r.json() == [] and r.headers["x-total-count"] == "0"


def test_an_empty_role_is_no_filter(place, tmp_path, auth_headers) -> None:  # noqa: F811
    """T45 #5: GET /people?role= was a 422 while the other filters' empty values mean "any"
    (a form's "all roles" choice sends role=)."""
    db, xy = place
    import_people(db, _roster(tmp_path, xy, [("S001", "张三"), ("S002", "李四")]))
    with TestClient(create_app(db)) as client:
        r = client.get("/people?role=", headers=auth_headers("admin"))
        assert r.status_code == 200, r.text
        assert [p["external_id"] for p in r.json()] == ["S001", "S002"]
        assert r.headers["x-total-count"] == "2"
        r = client.get("/people?role=grid_leader", headers=auth_headers("admin"))
        assert r.status_code == 200 and r.json() == []
