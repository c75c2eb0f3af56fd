import polars as pl
import pytest

from screening.sites.addresses import address_key, name_key, township_of


def _keys(values):
    return (
        pl.DataFrame({"a": values}, schema={"a": pl.String})
        .select(address_key(pl.col("a")).alias("a"))["a"]
        .to_list()
    )


def test_one_gate_written_three_ways_has_one_key():
    keys = _keys(
        [
            "安徽省宿州市埇桥区桃园镇工业园区纬二路18号",
            "桃园镇工业园纬二路18#",
            "埇桥区桃园镇工业园区纬二路十八号",
            "桃园镇工业园区纬二路１８号",
        ]
    )
    assert len(set(keys)) == 1 and keys[0] == "桃园镇工业园纬2路18号"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("符离镇张庄村三组25号", "宿州市埇桥区符离镇张庄村3组25号"),
        ("宿州市埇桥区汴河路118号", "埇桥区汴河路118号"),
        ("曹村镇李庄村委会二十一组", "曹村镇李庄村21组"),
    ],
)
def test_equivalent_writings(a, b):
    ka, kb = _keys([a, b])
    assert ka == kb


def test_different_places_stay_different():
    ka, kb, kc = _keys(["符离镇张庄村3组25号", "符离镇张庄村3组26号", "符离镇王庄村3组25号"])
    assert len({ka, kb, kc}) == 3


def test_empty_and_township():
    assert _keys([None, "  "]) == [None, None]
    df = pl.DataFrame({"k": _keys(["安徽省宿州市埇桥区桃园镇工业园区纬二路18号", "汴河路118号"])})
    assert df.select(township_of(pl.col("k")).alias("k"))["k"].to_list() == ["桃园镇", None]


def test_name_key_drops_place_and_legal_form():
    df = pl.DataFrame({"n": ["宿州市甲新材料科技有限公司", "甲新材料科技", "安徽省宿州市乙化工厂"]})
    assert df.select(name_key(pl.col("n")).alias("n"))["n"].to_list() == [
        "甲新材料科技",
        "甲新材料科技",
        "乙化工",
    ]
