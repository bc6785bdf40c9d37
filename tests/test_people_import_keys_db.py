"""Which column of a roster is the registry id (人员编号) (outside tester T49 #1, HIGH).

A clerk saved the ``GET /people`` answer as CSV (``id,external_id,name,roles,active,part_time,
community_code``) and imported it back. The import read ``id`` (people.id, the system id) as
the registry id: two people whose registry ids were numbers got each other's names, with
``读入 2 人`` and exit 0. The whole answer was refused (``未登记且文件中没有其住址`` per row)
without naming the columns it left out, although the README says the line names them.
Now ``id`` beside a registry-id column is the system id, left out and named; ``id`` alone is
refused; every refusal names the columns left out; names moving between people are warned.
Real PostGIS; each test fails on the old code."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.errors import InputError
from geo.people_import import import_people, renumber_person
from tests.dbcheck import fingerprint
from tests.test_import import run_cli
from tests.test_people_import_db import _full_roster, _people, place  # noqa: F401 (fixture)

API_COLUMNS = ["id", "external_id", "name", "roles", "active", "part_time", "community_code"]


def _numbered(db, tmp_path, xy) -> dict[str, int]:  # noqa: ANN001
    """The three people of the full roster, W001 and W002 renumbered to each other's system
    id (as T49 did with `people renumber`): registry id → system id."""
    import_people(db, _full_roster(tmp_path, xy))
    with db.connect() as conn:
        ids = dict(conn.execute(text("SELECT external_id, id FROM people")).all())
    renumber_person(db, ids["W001"], str(ids["W002"]))
    renumber_person(db, ids["W002"], str(ids["W001"]))
    return {str(ids["W002"]): ids["W001"], str(ids["W001"]): ids["W002"], "W003": ids["W003"]}


def _api_csv(db, path, headers, keep=API_COLUMNS):  # noqa: ANN001
    """GET /people saved as CSV the way a clerk does (Excel's UTF-8 with a BOM)."""
    with TestClient(create_app(db)) as client:
        r = client.get("/people", headers=headers)
    assert r.status_code == 200, r.text
    assert list(r.json()[0]) == API_COLUMNS  # the API's field names are unchanged
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(keep)
    for p in r.json():
        p["roles"] = ";".join(p["roles"])
        w.writerow([p[k] for k in keep])
    path.write_text(out.getvalue(), encoding="utf-8-sig")
    return path


def test_the_api_answer_as_csv_keys_by_external_id_and_names_id_left_out(
    place,  # noqa: F811
    tmp_path,
    auth_headers,
    pg_url,
) -> None:
    db, xy = place
    _numbered(db, tmp_path, xy)
    before = _people(db)
    path = _api_csv(db, tmp_path / "people_from_api.csv", auth_headers("viewer"))
    out = import_people(db, path)
    # old: the names of W001 and W002 swapped silently (id read as the registry id)
    assert _people(db) == before
    assert out["people_read"] == 3
    assert out["columns_left_out"] == ["id", "active", "community_code"], out
    assert out["columns_left_out_count"] == 3
    (note,) = [w for w in out["warnings"] if "系统编号" in w]
    assert note.startswith("列 id 是 gridward 的系统编号（people.id，GET /people 答复中的 id）"), (
        note
    )
    assert "column id is gridward's system id" in note and "external_id" in note, note

    # the CLI line names them too, and the importing is unchanged otherwise
    res = run_cli(["import", "people", str(path)], pg_url)
    assert res.returncode == 0, res.stderr
    assert "未读入的列：id、active、community_code" in res.stdout, res.stdout
    assert _people(db) == before

    # the same columns through POST /people/import
    with TestClient(create_app(db)) as client:
        r = client.post(
            "/people/import",
            files={"file": ("p.csv", path.read_bytes(), "text/csv")},
            headers=auth_headers("admin"),
        )
    assert r.status_code == 200, r.text
    assert r.json()["columns_left_out"] == ["id", "active", "community_code"]
    assert _people(db) == before


def test_a_bare_id_column_is_refused_naming_the_remedy(place, tmp_path, auth_headers) -> None:  # noqa: F811
    db, xy = place
    _numbered(db, tmp_path, xy)
    path = _api_csv(db, tmp_path / "two.csv", auth_headers("viewer"), ["id", "name", "active"])
    state = fingerprint(db)
    with pytest.raises(InputError) as err:
        import_people(db, path)
    msg = str(err.value)
    assert msg.startswith(
        "人员文件 two.csv 以 id 列为编号：id 是 gridward 的系统编号（people.id，GET /people "
        "答复和导出文件中的 id），不作人员编号读入，未做任何更改；如该列是人员编号，请把列名改为 "
        "人员编号 或 external_id 后重新导入（未读入的列：active） "
    ), msg
    assert "rename it 人员编号 or external_id and import again (columns left out: active)" in msg
    assert fingerprint(db) == state
    # named 人员编号, the same values are registry ids: W001 (now the other's id) renamed
    path.write_text("人员编号,姓名\nW003,王五改\n", encoding="utf-8")
    assert import_people(db, path)["people_read"] == 1
    assert _people(db)["W003"][0] == "王五改"


def test_refusals_name_the_columns_left_out(place, tmp_path) -> None:  # noqa: F811
    db, xy = place
    import_people(db, _full_roster(tmp_path, xy))
    state = fingerprint(db)
    path = tmp_path / "other_city.csv"
    # many problems: the list's line (old: the 191-row refusal named no column)
    path.write_text(
        "id,external_id,name,active,community_code\n7,X1,甲,True,1\n8,X2,乙,True,1\n", "utf-8"
    )
    with pytest.raises(InputError) as err:
        import_people(db, path)
    msg = str(err.value)
    assert msg.startswith(
        "人员文件 other_city.csv 有 2 处问题，未做任何更改（未读入的列：id、active、"
        "community_code）：第 2 行 甲（X1）：未登记且文件中没有其住址；"
    ), msg
    assert "nothing changed (columns left out: id, active, community_code): row 2 " in msg, msg
    # one problem: the check's own line
    path.write_text("external_id,name,备注\nX1,甲,新人\nW001,张三,\n", "utf-8")
    with pytest.raises(InputError) as err:
        import_people(db, path)
    msg = str(err.value)
    assert msg.startswith("1 人未登记且文件中没有其住址（other_city.csv：X1），未做任何更改"
                          "（未读入的列：备注）；"), msg  # fmt: skip
    assert "nothing changed (columns left out: 备注); give" in msg, msg
    assert fingerprint(db) == state


def test_names_moving_between_people_are_warned(place, tmp_path) -> None:  # noqa: F811
    db, xy = place
    roster = _full_roster(tmp_path, xy)
    first = import_people(db, roster)
    # a real roster re-imported: unchanged (T67 #9: and said so), and nothing new said
    assert import_people(db, roster) == first | {"created": 0, "unchanged": 3, "created_ids": []}
    assert first == {"people_read": 3, "created": 3, "updated": 0, "unchanged": 0,
                     "created_ids": ["W001", "W002", "W003"], "updated_ids": [],
                     "columns_left_out": ["备注"], "columns_left_out_count": 1}  # fmt: skip
    path = tmp_path / "names.csv"
    path.write_text("人员编号,姓名\nW001,张三丰\n", "utf-8")  # a rename: not warned
    assert import_people(db, path) == {"people_read": 1, "created": 0, "updated": 1,
                                       "unchanged": 0, "created_ids": [],
                                       "updated_ids": ["W001"]}  # fmt: skip
    path.write_text("人员编号,姓名\nW001,李四\nW002,张三丰\nW003,王五\n", "utf-8")
    out = import_people(db, path)
    got = _people(db)
    assert (got["W001"][0], got["W002"][0]) == ("李四", "张三丰")  # imported as the file says
    (warning,) = out["warnings"]
    assert warning.startswith(
        "2 人的姓名换成了文件中另一人原有的姓名，像是人员编号列用错了（如把系统编号 id 当作人员"
        "编号，或编号与姓名错行）：W001 张三丰→李四，W002 李四→张三丰；已按文件导入。"
    ), warning
    assert "2 people of the file now bear the name another person of the file had" in warning


def test_an_id_column_of_registry_ids_beside_a_serial_number_is_refused(
    place,  # noqa: F811
    tmp_path,
    pg_url,
) -> None:
    """(T51 #2) ``id`` held the registry ids and 人员编号 a serial number: 5 duplicates of
    registered people were created, under a warning calling id the system id. Now refused,
    naming the column and its values; nothing written."""
    db, xy = place
    import_people(db, _full_roster(tmp_path, xy))
    (ax, ay) = xy[next(iter(xy))]
    path = tmp_path / "caseB.csv"
    path.write_text(
        "id,人员编号,姓名,角色,经度,纬度\n"
        f"W001,1,张三,小巷管家,{ax},{ay}\nW002,2,李四,小巷管家,{ax},{ay}\n"
        f"W003,3,王五,小巷管家,{ax},{ay}\nW004,4,赵六,小巷管家,{ax},{ay}\n",
        "utf-8-sig",
    )
    before = fingerprint(db)
    with pytest.raises(InputError) as exc:
        import_people(db, path)
    msg = exc.value.message
    assert msg.startswith(
        "人员文件 caseB.csv 的 id 列像是人员编号：3 行的 id（W001、W002、W003）是已登记人员的"
        "人员编号，其中 3 行姓名与已登记人员相同，而不是该行人员的系统编号；人员编号 列却是另一套"
        "编号（1、2、3）"
    ), msg
    assert "请删去 人员编号 列并把 id 改名为 人员编号 后重新导入 the people file" in msg, msg
    assert "in 3 rows id (W001, W002, W003) is a stored person's registry id" in msg, msg
    assert fingerprint(db) == before

    # the CLI: refused, exit 2, nothing written
    r = run_cli(["import", "people", str(path)], pg_url)
    assert r.returncode == 2 and "id 列像是人员编号" in r.stderr, r.stderr
    assert fingerprint(db) == before


def test_a_blank_registry_column_with_registry_ids_in_id_says_so(place, tmp_path) -> None:  # noqa: F811
    """(T51 #3) 人员编号 blank and id holding the registered ids: "no person_id" per row did
    not say that id held them."""
    db, xy = place
    import_people(db, _full_roster(tmp_path, xy))
    path = tmp_path / "caseA.csv"
    path.write_text(
        "id,人员编号,姓名,手机号\nW001,,张三,13800000000\nW002,,李四,13800000001\n", "utf-8-sig"
    )
    before = fingerprint(db)
    with pytest.raises(InputError) as exc:
        import_people(db, path)
    msg = exc.value.message
    assert msg.startswith(
        "人员文件 caseA.csv 有 2 行缺少人员编号（人员编号 列为空，如第 2 行），而这些行 id 列中的 "
        "W001、W002 是已登记的人员编号。未做任何更改：如 id 列是人员编号，请删去空的 人员编号 "
        "列并把 id 改名为 人员编号 后重新导入 "
    ), msg
    assert "2 rows have no registry id (人员编号 is blank, e.g. row 2)" in msg, msg
    assert fingerprint(db) == before


def test_the_api_answer_with_numeric_registry_ids_still_imports(
    place,  # noqa: F811
    tmp_path,
    auth_headers,
) -> None:
    """The GET /people answer (id = the row's own people.id) is not taken for a misread
    column, also when registry ids are numbers equal to other people's system ids."""
    db, xy = place
    _numbered(db, tmp_path, xy)
    before = _people(db)
    path = _api_csv(db, tmp_path / "api.csv", auth_headers("viewer"))
    out = import_people(db, path)
    assert _people(db) == before and out["people_read"] == 3
