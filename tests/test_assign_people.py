"""People registry: CSV/XLSX, English and Chinese headers, roles, errors that never quote phones."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.assign.people import has_role, mask_phone, parse_roles, read_people
from geo.errors import InputError

PHONE = "13812345678"

CN = (
    "编号,姓名,手机,角色,经度,纬度,容量,兼职\n"
    f"A1,张三,{PHONE},网格长、小巷管家,116.32,40.00,2,否\n"
    "A2,李四,13900001111,兼职网格员,116.321,40.001,,是\n"
    "A3,王五,13900002222,街巷长;小巷管家,116.322,40.002,3,\n"
)


def test_chinese_headers_and_roles():
    df = read_people(CN.encode("utf-8"), "people.csv")
    assert list(df["person_id"]) == ["A1", "A2", "A3"]
    assert df.loc[0, "roles"] == "grid_leader;alley_steward"
    assert df.loc[1, "roles"] == "part_time_worker"
    assert df.loc[2, "roles"] == "street_chief;alley_steward"
    assert list(df["part_time"]) == [False, True, False]
    assert df["capacity"].tolist()[:1] == [2.0] and pd.isna(df.loc[1, "capacity"])
    assert df["lon"].tolist() == [116.32, 116.321, 116.322]
    assert list(has_role(df, "alley_steward")) == [True, False, True]


def test_gbk_csv_and_xlsx_round_trip(tmp_path):
    df_gbk = read_people(CN.encode("gb18030"), "people.csv")
    assert df_gbk.loc[0, "name"] == "张三"
    table = pd.read_csv(io.StringIO(CN), dtype=str)
    path = tmp_path / "people.xlsx"
    table.to_excel(path, index=False)
    df = read_people(path, "people.xlsx")
    assert list(df["person_id"]) == ["A1", "A2", "A3"]
    assert df.loc[2, "roles"] == "street_chief;alley_steward"


def test_other_columns_are_left_out_and_named():
    """Outside tester: a registry with a notes (备注) or sex (性别) column was refused whole."""
    df = read_people("编号,经度,纬度,备注,性别\nA1,116.3,40.0,组长,女\n".encode(), "p.csv")
    assert list(df.columns) == ["person_id", "lon", "lat"]
    assert df.attrs["ignored_columns"] == ["备注", "性别"]


def test_english_headers_building_home():
    text = "id,name,phone,roles,building_id\nB1,Li,13811112222,grid_worker,bld-9\n"
    df = read_people(text.encode(), "p.csv")
    assert df.loc[0, "building_id"] == "bld-9"
    assert df.loc[0, "roles"] == "grid_worker"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("person_id,long,lat\n1,116,40\n", "only one of lon.*left out: long"),
        ("name,lon,lat\nx,116,40\n", "person_id"),
        ("person_id,name\n1,x\n", "needs a home"),
        ("person_id,lon\n1,116\n", "only one of lon"),
        ("person_id,lon,lat\n", "no rows"),
        ("person_id,lon,lat\n7,116,40\n7,116.1,40\n", "duplicate person_id.*7"),
        (
            "person_id,lon,lat\n1,116,95\n",
            "bad home coordinates for people: person 1: lat 95 is outside",
        ),
        ("person_id,lon,lat\n1,abc,40\n", "people: person 1: lon 'abc' is not a number"),
        ("person_id,lon,lat,role\n1,116,40,mayor\n", "unknown role 'mayor' for person 1"),
        ("person_id,lon,lat,capacity\n1,116,40,-2\n", "capacity"),
        ("person_id,lon,lat,part_time\n1,116,40,maybe\n", "part_time"),
    ],
)
def test_bad_files(text, pattern):
    with pytest.raises(InputError, match=pattern):
        read_people(text.encode(), "p.csv")


def test_a_bad_row_is_named_by_its_person_value_and_column():
    """Outside tester T37, #8 and #18: one home swapped of two was told to swap both columns,
    after the ids and without the name; a bad role and a latitude 'abc' named no one, no
    value, no column. Now the headline first, then the person (name and id), the value and
    its column, in Chinese and English; the whole columns only when every row is swapped."""
    head = "person_id,name,lon,lat,role\n"
    one = head + "T001,张测试,39.9972,116.3189,\nT002,李四,116.3,39.9,\n"
    with pytest.raises(InputError) as err:
        read_people(one.encode(), "p.csv")
    msg = err.value.message
    assert msg.startswith(
        "人员住址坐标有误：张测试（T001）经纬度疑似写反（经度 39.9972，纬度 116.3189）；"
        "请对调此人的经度与纬度 bad home coordinates for people: 张测试 (T001): longitude and "
        "latitude look swapped (lon 39.9972, lat 116.3189); swap this person's lon and lat"
    ), msg
    both = head + "T001,张测试,39.9972,116.3189,\nT002,李四,39.9,116.3,\n"
    with pytest.raises(InputError) as err:
        read_people(both.encode(), "p.csv")
    assert "请对调经度（lon）和纬度（lat）两列的值" in err.value.message, err.value.message
    with pytest.raises(InputError) as err:
        read_people((head + "T005,王五,116.3,abc,\n").encode(), "p.csv")
    msg = err.value.message
    assert msg.startswith("人员住址坐标有误：王五（T005）的纬度（lat）'abc' 不是数字"), msg
    assert "王五 (T005): lat 'abc' is not a number" in msg, msg
    with pytest.raises(InputError) as err:
        read_people((head + "T005,王五,116.3,39.9,清洁工\n").encode(), "p.csv")
    msg = err.value.message
    assert msg.startswith("王五（T005）的角色（role 列）'清洁工' 无效"), msg
    assert "unknown role '清洁工' for 王五 (T005): use grid_leader" in msg, msg


def test_errors_never_quote_phones():
    bad = (
        f"person_id,phone,lon,lat\nX1,{PHONE},116,40\nX1,{PHONE},116,40\n",
        f"person_id,phone,lon,lat,foo\nX1,{PHONE},116,40,1\nX1,{PHONE},116,40,1\n",
        f"person_id,phone,lon,lat\nX1,{PHONE},999,40\n",
    )
    for text in bad:
        with pytest.raises(InputError) as err:
            read_people(text.encode(), "p.csv")
        assert PHONE not in str(err.value) and "5678" not in str(err.value)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="unsupported"):
        read_people(b"x", "p.pdf")
    with pytest.raises(InputError, match="not found"):
        read_people(tmp_path / "nope.csv", "nope.csv")
    with pytest.raises(InputError, match="cannot read"):
        read_people(b"PK\x03\x04garbage", "p.xlsx")


def test_mask_phone():
    assert mask_phone(PHONE) == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "861******5678"
    assert mask_phone("") == ""


@given(st.text(alphabet="0123456789", min_size=7, max_size=15))
def test_mask_phone_hides_the_middle(digits):
    masked = mask_phone(digits)
    assert len(masked) == len(digits)
    assert masked[:3] == digits[:3] and masked[-4:] == digits[-4:]
    assert set(masked[3:-4]) <= {"*"}


def test_parse_roles_separators():
    assert parse_roles("网格长；专职网格员, 小巷管家 / street_chief") == [
        "grid_leader",
        "grid_worker",
        "alley_steward",
        "street_chief",
    ]
    assert parse_roles(None) == [] and parse_roles("") == []


def test_a_registry_update_may_leave_homes_out():
    """NEW-5: the registry import updates registered people from a sheet without homes, and
    judges each row's missing home itself; the file modes (assign) still need every home."""
    df = read_people("人员编号,姓名\nW001,张三\n".encode(), "p.csv", home_required=False)
    assert list(df.columns) == ["person_id", "name"]
    df = read_people(b"person_id,lon,lat\n1,116,40\n2,,\n", "p.csv", home_required=False)
    assert pd.isna(df.loc[1, "lon"])
    with pytest.raises(InputError, match="without a home: 2"):
        read_people(b"person_id,lon,lat\n1,116,40\n2,,\n", "p.csv")


def test_swapped_longitude_and_latitude_are_named_as_such():
    """Outside tester T36, #10: a Beijing home written lat 116.3, lon 39.9 was refused as "bad
    home coordinates", not saying why. Swapped, such numbers are valid: the refusal says they
    look swapped (Chinese first), naming the people; a number that is wrong either way is
    refused as before, without that guess."""
    import geopandas as gpd
    import shapely

    from geo.assign.inputs import check_people
    from geo.assign.reach import compute_reach

    text = "person_id,lon,lat\nS1,39.91,116.30\nS2,39.92,116.31\nS3,116.3,39.9\n"
    with pytest.raises(InputError) as err:
        read_people(text.encode(), "p.csv")
    msg = err.value.message
    assert msg.startswith("人员住址坐标有误：人员 S1 经纬度疑似写反（经度 39.91，纬度 116.30）"), (
        msg
    )
    assert "person S1: longitude and latitude look swapped (lon 39.91, lat 116.30)" in msg, msg
    assert msg.startswith("bad home coordinates for people: person S1:", msg.index(" bad") + 1)
    assert "S2" in msg and "S3" not in msg and "请对调这些人的经度与纬度" in msg, msg
    with pytest.raises(InputError) as err:  # 95 is no latitude, and 116 no swapped one
        read_people(b"person_id,lon,lat\n1,116,95\n", "p.csv")
    assert "swapped" not in err.value.message and "写反" not in err.value.message
    people = pd.DataFrame({"person_id": ["S1", "S3"], "lon": [39.91, 116.3], "lat": [116.3, 39.9]})
    with pytest.raises(InputError) as err:  # a table handed to the solvers directly
        check_people(people)
    msg = err.value.message
    assert msg.startswith("人员住址坐标缺失或有误：人员 S1 经纬度疑似写反"), msg
    assert "person S1: longitude and latitude look swapped (lon 39.91, lat 116.3)" in msg, msg
    assert "请对调此人的经度与纬度" in msg and "swap this person's lon and lat" in msg, msg
    # both numbers valid either way (Urumqi, 87.6 E 43.8 N, written the other way round):
    # everyone far from every line, and swapped they lie on the alleys
    alley = gpd.GeoDataFrame(
        {"alley_id": ["a1"]},
        geometry=[shapely.LineString([(87.600, 43.800), (87.602, 43.800)])],
        crs="EPSG:4326",
    )
    people = pd.DataFrame({"person_id": ["U1", "U2"], "lon": [43.8, 43.8], "lat": [87.601, 87.6]})
    with pytest.raises(InputError) as err:
        compute_reach(alley, people, None, 2000.0, 500.0, "alleys")
    msg = err.value.message
    assert msg.startswith("经纬度疑似写反（U1, U2）"), msg
    assert "all 2 people live outside the area" in msg and "look swapped (U1, U2)" in msg, msg
