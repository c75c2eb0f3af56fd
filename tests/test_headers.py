from screening.ingest.headers import hour_of, map_headers, norm_header, point_of
from screening.schema import POWER_ACCOUNTS, POWER_READINGS, REGISTRATIONS


def test_normalisation_ignores_case_width_spaces_and_units():
    assert norm_header(" Account_ID ") == norm_header("ＡＣＣＯＵＮＴ ＩＤ") == "accountid"
    assert norm_header("合同容量（kVA）") == norm_header("合同容量")


def test_chinese_aliases_and_manifest_renames():
    hm = map_headers(
        ["统一社会信用代码", "企业名称", "住所", "经度", "纬度", "备注"], REGISTRATIONS
    )
    assert hm.mapping == {
        "统一社会信用代码": "uscc",
        "企业名称": "name",
        "住所": "address",
        "经度": "lon",
        "纬度": "lat",
    }
    assert hm.unknown == ["备注"]
    hm = map_headers(["用户户号", "户名"], POWER_ACCOUNTS, {"用户户号": "account_id"})
    assert hm.mapping == {"用户户号": "account_id", "户名": "name"}


def test_repeated_headers_keep_the_first():
    hm = map_headers(["名称", "企业名称", "地址"], REGISTRATIONS)
    assert hm.mapping == {"名称": "name", "地址": "address"}
    assert hm.repeated == ["企业名称"]


def test_wide_reading_columns():
    assert [hour_of(h) for h in ("h00", "H7", "13时", "23:00", "h24", "p01")] == [
        0,
        7,
        13,
        23,
        None,
        None,
    ]
    assert [point_of(h) for h in ("p01", "P96", "p97", "h01")] == [1, 96, None, None]
    hm = map_headers(["户号", "日期", "h00", "1时"], POWER_READINGS)
    assert hm.mapping == {"户号": "account_id", "日期": "date", "h00": "h00", "1时": "h01"}
