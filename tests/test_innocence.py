"""The ordinary explanations read from the records (screening/sites/innocence.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from screening.settings import load_config
from screening.sites import innocence

CFG = load_config()["features"]


def _regs() -> pl.DataFrame:
    rows = [
        # record, name, industry, chemical, cover, established
        ("R1", "宿州市联益家具有限公司", "C2110", False, False, dt.date(2021, 6, 20)),
        ("R2", "宿州市丰和新材料科技有限公司", "C2110", False, True, dt.date(2021, 6, 20)),
        ("R3", "宿州市佳隆精细化工有限公司", "C2661", True, False, dt.date(2021, 6, 20)),
        ("R4", "埇桥区灰古镇万汇养殖场", "A0321", False, False, dt.date(2021, 5, 1)),
        ("R5", "宿州市润盈金属结构有限公司", "C3311", False, False, dt.date(2021, 6, 1)),
        ("R6", "宿州市老字号家具有限公司", "C2110", False, False, dt.date(2009, 3, 1)),
    ]
    return pl.DataFrame(
        rows,
        schema=[
            "record_id",
            "name",
            "industry_code",
            "is_chemical_industry",
            "cover_name",
            "established",
        ],
        orient="row",
    ).with_columns(
        pl.lit("active").alias("status_class"),
        pl.lit(False).alias("hides_chemistry"),
        pl.lit(False).alias("is_gas_station"),
        (pl.col("established") >= dt.date(2020, 9, 1)).alias("is_new"),
    )


def _links() -> pl.DataFrame:
    pairs = [
        ("S_furniture", "registrations", "R1"),
        ("S_cover", "registrations", "R2"),
        ("S_chem", "registrations", "R3"),
        ("S_farm", "registrations", "R4"),
        ("S_old", "registrations", "R6"),
        # a meter in the name of a new firm whose papers were filed in town
        ("S_meter_only", "power_accounts", "A9"),
    ]
    return pl.DataFrame(pairs, schema=["site_id", "source", "record_id"], orient="row")


def _site(site: str, **over: object) -> dict[str, object]:
    return {
        "site_id": site,
        "idle_kinds": "idle_factory",
        "idle_since": dt.date(2018, 5, 1),
        "night_share": 0.08,
        "jump_date": dt.date(2021, 7, 12),
        "case_closed_on": None,
        **over,
    }


def _explained(sites: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    accounts = pl.DataFrame({"account_id": ["A9"], "name": ["宿州市润盈金属结构有限公司"]})
    facts = innocence.trade_facts(_links(), _regs(), accounts, CFG)
    frame = pl.DataFrame(sites).join(facts, on="site_id", how="left")
    out = innocence.explanations(frame, CFG)
    return {r["site_id"]: r for r in out.iter_rows(named=True)}


def test_a_new_ordinary_tenant_with_a_day_load_has_relet_the_idle_factory():
    got = _explained(
        [
            _site("S_furniture"),
            _site("S_cover"),  # a 新材料 name: chemistry is not ruled out
            _site("S_chem"),  # a chemical division
            _site("S_old"),  # registered long before: no newcomer
            _site("S_furniture_night", night_share=0.55),
        ]
    )
    assert got["S_furniture"]["relet"] and got["S_furniture"]["load_fits_trade"]
    assert not got["S_cover"]["relet"] and not got["S_chem"]["relet"]
    assert not got["S_old"]["relet"] and not got["S_old"]["ordinary_new"]
    # the same site id without a tenant linked: nothing to explain it
    assert not got["S_furniture_night"]["relet"]


def test_a_new_ordinary_tenant_after_the_case_closed_is_a_lawful_reuse():
    case = {"idle_kinds": None, "idle_since": None}
    got = _explained(
        [
            _site("S_furniture", **case, case_closed_on=dt.date(2021, 3, 1)),
            # the tenant was there before the case closed: the case was about its own work
            _site("S_old", **case, case_closed_on=dt.date(2019, 3, 1)),
            _site("S_chem", **case, case_closed_on=dt.date(2021, 3, 1)),
            _site("S_cover", **case, case_closed_on=dt.date(2021, 3, 1), night_share=0.6),
        ]
    )
    assert got["S_furniture"]["reused"] and not got["S_furniture"]["relet"]
    assert not got["S_old"]["reused"] and not got["S_chem"]["reused"]
    assert not got["S_cover"]["reused"]


def test_a_night_load_does_not_fit_a_day_trade_but_fits_livestock():
    got = _explained(
        [
            _site("S_furniture", night_share=0.55),
            _site("S_farm", idle_kinds="abandoned_farm", night_share=0.45),
        ]
    )
    assert not got["S_furniture"]["relet"]
    assert got["S_farm"]["relet"] and got["S_farm"]["continuous_trade"]


def test_an_opening_is_a_jump_soon_after_a_newcomer_registered():
    got = _explained(
        [
            _site("S_furniture", idle_kinds=None, idle_since=None),
            _site("S_old", idle_kinds=None, idle_since=None, jump_date=dt.date(2021, 7, 12)),
            _site("S_meter_only", idle_kinds=None, idle_since=None),
        ]
    )
    assert got["S_furniture"]["opening"] and not got["S_furniture"]["relet"]
    assert not got["S_old"]["opening"]
    # the meter bears a newcomer's name, registered elsewhere
    assert got["S_meter_only"]["meter_holder_new"]
    assert got["S_meter_only"]["holder_established"] == dt.date(2021, 6, 1)
    assert got["S_meter_only"]["opening"]


def test_a_jump_long_after_registration_is_no_opening():
    got = _explained(
        [_site("S_furniture", idle_kinds=None, idle_since=None, jump_date=dt.date(2022, 9, 1))]
    )
    assert not got["S_furniture"]["opening"]


def test_the_chance_rises_with_the_score_and_bands_compare_prediction_with_outcome():
    from screening.scoring import calibration

    cfg = load_config()["scoring"]["calibration"]
    frame = pl.DataFrame({"score": [0.0, 5.0, 10.0, 20.0], "evidence_lines": [0, 1, 2, 3]})
    chance = frame.select(calibration.chance(cfg))["literal"].to_list()
    assert chance == sorted(chance) and 0 < chance[0] < 0.01 and chance[-1] > 0.5
    table = calibration.reliability(
        pl.DataFrame({"chance": [0.01, 0.01, 0.6, 0.65], "hit": [0, 0, 1, 0]})
    )
    assert table.rows() == [("0%-2%", 2, 0.01, 0.0), ("50%-70%", 2, 0.625, 0.5)]


def _plant_with(other_rep: str, other_scope: str) -> dict[str, object]:
    """A permitted paint plant and a second firm registered at the same site."""
    from screening.signals import registry
    from screening.sites.features import entity_features

    as_of = dt.date(2021, 8, 31)
    regs = pl.DataFrame(
        {
            "uscc": ["91341302BTC68KT586", "91341302UYRU45THY7"],
            "name": ["安徽汇祥化工有限公司", "安徽汇祥化工销售有限公司"],
            "industry_code": ["C2641", "F5162"],
            "status": ["存续", "存续"],
            "scope": ["涂料、稀释剂生产、销售", other_scope],
            "established": [dt.date(2012, 3, 1), dt.date(2016, 5, 1)],
            "legal_rep": ["周建国", other_rep],
        }
    )
    regs = registry.registration_signals(regs, as_of, load_config()["registry"]).with_columns(
        pl.col("uscc").alias("record_id"), pl.lit(False).alias("is_carrier")
    )
    permits = registry.permit_state(
        pl.DataFrame(
            {
                "permit_id": ["(皖)WH安许证字[2020]4125"],
                "uscc": ["91341302BTC68KT586"],
                "kind": ["production"],
                "valid_from": [dt.date(2020, 1, 1)],
                "valid_to": [dt.date(2023, 1, 1)],
            }
        ),
        as_of,
    )
    links = pl.DataFrame(
        {
            "site_id": ["S1", "S1"],
            "source": ["registrations", "registrations"],
            "record_id": ["91341302BTC68KT586", "91341302UYRU45THY7"],
        }
    )
    out = entity_features(links, regs, permits, registry.permits_by_holder(permits))
    return out.row(0, named=True)


def test_a_licensed_plant_s_own_sales_company_is_its_arm_not_a_tenant():
    arm = _plant_with("周建国", "化工产品（不含危险化学品）销售")
    assert arm["unpermitted_beside_permitted"] and arm["permit_holder_arms"] == 1
    # another person's firm inside the plant is the 厂中厂 pattern, whatever it sells
    tenant = _plant_with("李明", "化工产品（不含危险化学品）销售")
    assert tenant["unpermitted_beside_permitted"] and tenant["permit_holder_arms"] == 0
    # the same person's second firm that makes chemistry itself needs its own permit
    maker = _plant_with("周建国", "胶粘剂生产、销售")
    assert maker["permit_holder_arms"] == 0


def test_stray_night_stops_count_for_the_sites_around_them_not_for_businesses_stops():
    from screening.sites.features import _stray_night_stops, _xy

    east = 1 / (111_320 * 0.8329)  # degrees of longitude per metre at 33.6 N
    sites = pl.DataFrame(
        {
            "site_id": ["lane", "house", "far", "shop"],
            "lon": [117.0, 117.0 + 180 * east, 117.0 + 900 * east, 117.0 + 100 * east],
            "lat": [33.6] * 4,
        }
    )
    base = pl.DataFrame(
        {
            "site_id": ["lane", "house", "far", "shop"],
            "entities": [0, 0, 0, 1],
            "tariffs": [None, "residential", "residential", "commercial"],
            "driver_home": [False] * 4,
            "carrier_depot": [False] * 4,
            "property_ids": [None] * 4,
            "case_ids": [None] * 4,
            # the shop's own night stops are explained by the shop: they count for nobody
            "truck_night_stops": [2, 0, 0, 3],
            # the house's meter tripled, the shop's did not change
            "jump_ratio": [None, 3.0, 2.5, 1.0],
        },
        schema_overrides={"property_ids": pl.String, "case_ids": pl.String},
    )
    xy = _xy(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    near = _stray_night_stops(sites.select("site_id"), xy, base, CFG)
    got = {r["site_id"]: r for r in near.iter_rows(named=True)}
    assert got["house"]["night_stops_near"] == 2
    assert abs(got["house"]["night_stops_near_m"] - 180) < 2
    assert "far" not in got or got["far"]["night_stops_near"] is None
    assert got["lane"]["night_stops_near"] is None
    assert got["shop"]["night_stops_near"] == 2
    # read from the lane: its trucks count for the tripled house 180 m off, not for the
    # shop (its meter did not double) nor the house 900 m off (beyond trucks_near_m)
    assert got["lane"]["trucks_for_site"] == "house"
    assert abs(got["lane"]["trucks_for_m"] - 180) < 2
    assert got["house"]["trucks_for_site"] is None and got["shop"]["trucks_for_site"] is None
    # trucks at the door of a house whose own meter doubled are that house's own story
    own = _stray_night_stops(
        sites.select("site_id"), xy, base.with_columns(jump_ratio=pl.lit(2.2)), CFG
    )
    assert own.filter(pl.col("site_id") == "lane")["trucks_for_site"].drop_nulls().len() == 0
