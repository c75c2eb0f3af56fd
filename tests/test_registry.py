import datetime as dt

import polars as pl

from screening.settings import load_config
from screening.signals.registry import permit_state, permits_by_holder, registration_signals

CFG = load_config()["registry"]
AS_OF = dt.date(2021, 8, 31)


def test_cover_names_with_chemistry_outside_chemical_codes():
    regs = pl.DataFrame(
        {
            "name": ["甲新材料科技有限公司", "乙化工有限公司", "丙科技有限公司", "丁加油站"],
            "scope": [
                "新材料技术研发；树脂、胶粘剂销售",
                "硫酸、盐酸生产",
                "软件开发",
                "汽油、柴油零售",
            ],
            "industry_code": ["M7320", "C2614", "I6510", "F5265"],
            "status": ["存续", "在业", "注销", "存续"],
            "established": [dt.date(2021, 6, 1), dt.date(2010, 1, 1), None, dt.date(2015, 1, 1)],
        }
    )
    out = registration_signals(regs, AS_OF, CFG)
    # the first firm only sells resins and adhesives: a cover name over trade is not hidden
    # production (was True while any chemistry word anywhere in the scope counted)
    assert out["hides_chemistry"].to_list() == [False, False, False, False]
    assert out["trades_chemistry"].to_list() == [True, False, False, False]
    assert out["has_chemistry_scope"].to_list() == [False, True, False, False]
    assert out["is_chemical_industry"].to_list() == [False, True, False, False]
    assert out["is_gas_station"].to_list() == [False, False, False, True]
    assert out["status_class"].to_list() == ["active", "active", "ended", "active"]
    assert out["is_new"].to_list() == [True, False, False, False]
    # whole words (was the substring "胶粘")
    assert out["chemistry_terms"][0] == "树脂、胶粘剂"


def test_a_blank_industry_code_is_read_from_the_name_then_the_scope():
    """A third of a mountain county's registry leaves the code blank: 隆兴服装加工厂 is a
    clothing works (C18), 博旺养鸡场 a poultry farm (A03); a written code is kept as written;
    the scope is not read so (a shop's scope lists the food it sells), nor does a cover name
    name a trade: both stay unknown, never "ordinary"."""
    regs = pl.DataFrame(
        {
            "name": [
                "埇桥区大店镇隆兴服装加工厂",
                "宿州市博旺养鸡场",
                "宿州市恒发实业有限公司",
                "宿州市万汇制衣厂",
                "宿州市某新材料科技有限公司",
            ],
            "scope": [
                "服装、服饰加工、销售",
                "家禽养殖、销售",
                "家具制造、销售",
                "服装加工",
                "新材料技术研发",
            ],
            "industry_code": [None, "", None, "C1810", None],
            "status": ["存续"] * 5,
            "established": [dt.date(2021, 7, 10)] * 5,
        }
    )
    out = registration_signals(regs, AS_OF, CFG)
    assert out["trade_code"].to_list() == ["C18", "A03", None, "C1810", None]
    assert out["industry_code"].to_list()[:2] == [None, ""]  # what the registry wrote stays


def test_permit_state_at_as_of():
    permits = pl.DataFrame(
        {
            "uscc": ["U1", "U1", "U2", "U3"],
            "kind": ["operation", "production", "fuel", "use"],
            "valid_from": [
                dt.date(2019, 1, 1),
                dt.date(2018, 1, 1),
                dt.date(2020, 1, 1),
                dt.date(2022, 1, 1),
            ],
            "valid_to": [dt.date(2022, 1, 1), dt.date(2021, 3, 1), None, dt.date(2025, 1, 1)],
        }
    )
    state = permit_state(permits, AS_OF)
    assert state["state"].to_list() == ["valid", "expired", "valid", "not_yet"]
    holders = {r["uscc"]: r for r in permits_by_holder(state).iter_rows(named=True)}
    assert holders["U1"]["valid_kinds"] == "operation"
    assert holders["U1"]["permit_expired_on"] == dt.date(2021, 3, 1)
    assert not holders["U1"]["has_production_permit"]
    assert holders["U2"]["has_fuel_permit"] and not holders["U3"]["has_valid_permit"]
