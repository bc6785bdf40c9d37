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
        ("person_id,lon,lat\n1,116,95\n", "bad home coordinates.*1"),
        ("person_id,lon,lat\n1,abc,40\n", "bad home coordinates"),
        ("person_id,lon,lat,role\n1,116,40,mayor\n", "unknown role 'mayor'"),
        ("person_id,lon,lat,capacity\n1,116,40,-2\n", "capacity"),
        ("person_id,lon,lat,part_time\n1,116,40,maybe\n", "part_time"),
    ],
)
def test_bad_files(text, pattern):
    with pytest.raises(InputError, match=pattern):
        read_people(text.encode(), "p.csv")


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
    assert msg.startswith("经纬度疑似写反（S1, S2）"), msg
    assert "longitude and latitude look swapped (S1, S2)" in msg, msg
    assert "bad home coordinates for people: S1, S2" in msg and "S3" not in msg, msg
    with pytest.raises(InputError) as err:  # 95 is no latitude, and 116 no swapped one
        read_people(b"person_id,lon,lat\n1,116,95\n", "p.csv")
    assert "swapped" not in err.value.message and "写反" not in err.value.message
    people = pd.DataFrame({"person_id": ["S1", "S3"], "lon": [39.91, 116.3], "lat": [116.3, 39.9]})
    with pytest.raises(InputError) as err:  # a table handed to the solvers directly
        check_people(people)
    assert err.value.message.startswith("经纬度疑似写反（S1）"), err.value.message
    assert "look swapped (S1)" in err.value.message, err.value.message
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
