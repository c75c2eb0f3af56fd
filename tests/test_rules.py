"""The rules engine and the combination of rules and model, on small feature frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from screening.scoring import ranking as scoring
from screening.scoring.rules import RuleError, apply, load_rules, missing_lines, template_expr
from screening.settings import load_config

CONFIG = load_config()
RULES = load_rules(CONFIG)
RISE_FIGURES = ("rise_days", "rise_before", "rise_after", "rise_ratio", "rise_sigma")


def _features(**sites: dict) -> pl.DataFrame:
    """Feature rows with every column the rules read, defaulting to a quiet shop."""
    base = {
        "lon": 117.0,
        "lat": 33.6,
        "entities": 1,
        "meters": 1,
        "tariffs": "commercial",
        "industry_codes": "F5211",
        "trade_codes": "F5211",
        "names": "某商店",
        "meter_names": "某商店",
        "hides_chemistry": False,
        "cover_name": False,
        "chemical_industry": False,
        "unpermitted_chemical_entity": False,
        "gas_station": False,
        "has_valid_permit": False,
        "permit_kinds": None,
        "permit_expired_on": None,
        "has_fuel_permit": False,
        "unpermitted_beside_permitted": False,
        "unpermitted_active_entities": 0,
        "permit_holder_arms": 0,
        "new_registration": False,
        "latest_established": dt.date(2015, 1, 1),
        "residential_power_supply": False,
        "capacity_kva": 50.0,
        "daily_kwh_recent": 40.0,
        "night_share": 0.05,
        "night_share_pct": 0.3,
        "flatness": 0.05,
        "load_factor": 0.4,
        "high_hours_per_day": 10.0,
        "jump_ratio": 1.0,
        "jump_after": 40.0,
        "jump_before": 40.0,
        "jump_date": None,
        # the share of peers whose meters jumped in the same weeks (signals/power.common_jumps)
        "jump_common_share": None,
        "wake_date": None,
        "dormant_days": None,
        # a level rising now (signals/rising.py): none at a quiet shop
        "rise_date": None,
        "rise_days": None,
        "rise_before": None,
        "rise_after": None,
        "rise_ratio": None,
        "rise_sigma": None,
        "truck_visits": 0,
        "truck_night_stops": 0,
        "truck_overnights": 0,
        "truck_parked": 0,
        "fuel_visits": 0,
        "unregistered_plates": 0,
        "night_stops_near": 0,
        "night_stops_near_m": 0.0,
        "trucks_for_site": None,
        "trucks_for_m": None,
        "truck_plates": 0,
        "plates": None,
        "night_plates": None,
        "cargo_classes": None,
        "carrier_depot": False,
        "carrier_home": False,
        "carrier_meter": False,
        "depot_of": None,
        "driver_home": False,
        "tips": 0,
        "tip_ids": None,
        "tip_texts": None,
        "ordinary_tips": 0,
        "idle_kinds": None,
        "idle_since": None,
        "idle_activity": False,
        "is_remote": False,
        "settlement_distance_m": 100.0,
        "case_activity": False,
        "case_closed_on": None,
        "case_measures": None,
        "chemistry_terms": None,
        "chemistry_clauses": None,
        "level_ratio": 1.0,
        "businesses_within_radius": 50,
        "meter_faults": 0,
        "township": "桃园镇",
        "address": "桃园镇某路1号",
        "oversight_unit": "区应急管理局",
        "usccs": None,
        "account_ids": None,
        "property_ids": None,
        "case_ids": None,
        "permit_ids": None,
        "legal_reps": None,
        "position": "given",
        "as_of": dt.date(2021, 8, 31),
        # ordinary explanations (screening/sites/innocence.py)
        "ordinary_new": False,
        "new_established": None,
        "meter_holder_new": False,
        "holder_established": None,
        "continuous_trade": False,
        "load_fits_trade": False,
        "relet": False,
        "reused": False,
        "field_name": False,
        "opening": False,
    }
    rows = [{"site_id": sid, **base, **over} for sid, over in sites.items()]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame = frame.with_columns(
        pl.col("dormant_days", "truck_plates", "jump_common_share", *RISE_FIGURES).cast(pl.Float64),
        pl.col(pl.Null)
        .exclude("dormant_days", "truck_plates", "jump_common_share", *RISE_FIGURES)
        .cast(pl.String),
    )
    return frame.with_columns(
        pl.col(
            "jump_date",
            "wake_date",
            "rise_date",
            "permit_expired_on",
            "idle_since",
            "case_closed_on",
            "latest_established",
            "new_established",
            "holder_established",
        ).cast(pl.Date)
    )


def test_templates_format_figures_for_inspectors():
    df = pl.DataFrame({"s": [0.624, None], "k": [310.4, 12.0], "d": [dt.date(2021, 8, 3), None]})
    out = df.select(template_expr("占比{s:.0%}，{d:md}起{k:.0f}千瓦时", df.schema))
    assert out.to_series().to_list() == ["占比62%，8月3日起310千瓦时", "占比—，—起12千瓦时"]
    with pytest.raises(RuleError, match="unknown column 'nope'"):
        template_expr("{nope}", df.schema)


def test_rule_with_unknown_column_names_the_rule():
    bad = {
        **CONFIG,
        "rules": [
            *CONFIG["rules"],
            {
                "code": "TYPO",
                "kind": "activity",
                "weight": 1.0,
                "when": "nigth_share > 0.5",
                "evidence": "x",
            },
        ],
    }
    with pytest.raises(RuleError, match="rule TYPO"):
        apply(_features(a={}), load_rules(bad))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "vibes"}, "kind must be one of"),
        ({"category": "arson"}, "category must be one of"),
        ({"offsets": ["GAS_STATION"]}, "offsets name no activity or context rule"),
        ({"offsets": ["NO_SUCH_RULE"]}, "offsets name no activity or context rule"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_rule_config_is_validated(change, message):
    rule = {"code": "X", "kind": "innocent", "weight": 0, "when": "true", "evidence": "x", **change}
    with pytest.raises(RuleError, match=message):
        load_rules({**CONFIG, "rules": [*CONFIG["rules"], rule]})


def _fired(features: pl.DataFrame, code: str) -> pl.DataFrame:
    """The reasons of one rule, where it fired."""
    _, reasons = apply(features, RULES)
    return reasons.filter(pl.col("code") == code)


def _ranked(features: pl.DataFrame) -> pl.DataFrame:
    scored, reasons = scoring.score_sites(features, RULES, CONFIG, use_model=False)
    cfg = {**CONFIG, "scoring": {**CONFIG["scoring"], "min_score": -1.0}}
    return scoring.leads(scored, reasons, cfg)


def test_two_strong_reasons_outrank_one_weak_one():
    f = _features(
        strong={
            "night_share": 0.65,
            "night_share_pct": 0.99,
            "jump_ratio": 20.0,
            "jump_after": 600.0,
            "jump_before": 30.0,
            "jump_date": dt.date(2021, 8, 3),
            "daily_kwh_recent": 600.0,
        },
        weak={"tips": 1, "tip_ids": "T1"},
        quiet={},
    )
    ranked = _ranked(f)
    assert ranked["site_id"].to_list()[:2] == ["strong", "weak"]
    top = ranked.row(0, named=True)
    assert top["reasons"].split(";")[:2] == ["POWER_JUMP", "NIGHT_LOAD"]
    assert "8月3日起日均用电由30千瓦时升至600千瓦时" in top["evidence"]


def test_a_permitted_round_the_clock_plant_does_not_top_the_list():
    plant = {
        "flatness": 0.95,
        "high_hours_per_day": 24.0,
        "daily_kwh_recent": 5000.0,
        "night_share": 0.33,
        "night_share_pct": 0.95,
        "truck_visits": 8,
        "truck_night_stops": 2,
        "truck_plates": 4,
        "chemical_industry": True,
        "industry_codes": "C2614",
    }
    f = _features(
        licensed={**plant, "has_valid_permit": True, "permit_kinds": "production"},
        expired={
            **plant,
            "permit_expired_on": dt.date(2021, 3, 1),
            "unpermitted_chemical_entity": True,
        },
        workshop={
            "night_share": 0.62,
            "night_share_pct": 0.98,
            "daily_kwh_recent": 300.0,
            "entities": 0,
            "truck_night_stops": 1,
            "truck_visits": 1,
            "truck_plates": 1,
        },
    )
    ranked = _ranked(f)
    order = ranked["site_id"].to_list()
    assert order.index("licensed") == 2
    licensed = ranked.filter(pl.col("site_id") == "licensed").row(0, named=True)
    assert "LICENSED_PRODUCTION" in licensed["reasons"]
    assert "持有效安全生产许可证" in licensed["evidence"]
    assert ranked.filter(pl.col("site_id") == "expired")["category"].item() == "over_permit"


def test_context_needs_activity():
    f = _features(
        idle_and_quiet={"idle_kinds": "idle_factory", "entities": 0},
        idle_and_busy={
            "idle_kinds": "idle_factory",
            "entities": 0,
            "idle_activity": True,
            "wake_date": dt.date(2021, 8, 10),
            "dormant_days": 30,
            "daily_kwh_recent": 400.0,
        },
    )
    scores, _ = apply(f, RULES)
    s = dict(scores.select("site_id", "rule_score").iter_rows())
    assert s["idle_and_quiet"] == 0
    w = RULES.by_code
    # the meter waking, the listing and the missing registration all count
    assert s["idle_and_busy"] == pytest.approx(
        w["DORMANT_WAKE"].weight + w["IDLE_PREMISES_ACTIVE"].weight + w["NO_REGISTRATION"].weight
    )
    cats = _ranked(f).filter(pl.col("site_id") == "idle_and_busy")["category"].item()
    assert cats == "idle_premises"


def test_ties_are_broken_by_site_id():
    f = _features(b={"tips": 1, "tip_ids": "T1"}, a={"tips": 1, "tip_ids": "T2"})
    assert _ranked(f)["site_id"].to_list() == ["a", "b"]


# a meter asleep for months that woke and jumped forty-fold
WOKE = {
    "jump_ratio": 40.0,
    "jump_after": 300.0,
    "jump_before": 5.0,
    "jump_date": dt.date(2021, 7, 12),
    "wake_date": dt.date(2021, 7, 10),
    "daily_kwh_recent": 300.0,
}


def test_a_relet_idle_property_is_explained_power_and_listing_alike():
    """An idle factory with a new furniture tenant and a day-shaped load: the meter's wake
    and jump and the listing itself are explained; a tip there still counts in full."""
    woke = {
        **WOKE,
        "idle_kinds": "idle_factory",
        "idle_since": dt.date(2018, 5, 1),
        "idle_activity": True,
    }
    f = _features(
        workshop=woke,
        relet={**woke, "relet": True, "new_established": dt.date(2021, 6, 20)},
        relet_tip={**woke, "relet": True, "tips": 1, "new_established": dt.date(2021, 6, 20)},
    )
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    assert by["relet"] < 0.25 * by["workshop"]
    shown = reasons.filter(pl.col("site_id") == "relet")
    assert "RELET" in shown["code"].to_list()
    assert "6月20日在此登记普通企业" in shown.filter(pl.col("code") == "RELET")["evidence"][0]
    tip = RULES.by_code["PUBLIC_TIP"].weight
    assert by["relet_tip"] >= by["relet"] + tip


def test_a_permit_holder_s_own_arm_is_no_plant_within_the_plant():
    shared = {
        **WOKE,  # activity, without which no context counts
        "entities": 2,
        "has_valid_permit": True,
        "unpermitted_beside_permitted": True,
        "unpermitted_active_entities": 1,
        "names": "安徽汇祥化工有限公司;安徽汇祥化工销售有限公司",
        "legal_reps": "周建国",
    }
    f = _features(tenant=shared, arm={**shared, "permit_holder_arms": 1})
    _, reasons = apply(f, RULES)
    shown = {
        s: dict(zip(g["code"], g["contribution"], strict=True))
        for (s,), g in reasons.group_by("site_id")
    }
    assert shown["tenant"].get("SHARED_ADDRESS", 0) > 0 and "HOLDER_ARM" not in shown["tenant"]
    assert "HOLDER_ARM" in shown["arm"]
    assert (
        shown["arm"]["SHARED_ADDRESS"] + shown["arm"]["HOLDER_ARM"]
        < 0.25 * (shown["tenant"]["SHARED_ADDRESS"])
    )


def test_a_lawful_reuse_of_a_sanctioned_site_explains_its_revival():
    """A case closed in March, a furniture maker registered there in June with a day load: the
    revival and the meter's wake are what the tenant explains; a tip there still counts."""
    revived = {
        **WOKE,
        "case_ids": "C1",
        "case_closed_on": dt.date(2021, 3, 1),
        "case_measures": "取缔",
        "case_activity": True,
    }
    reuse = {**revived, "reused": True, "new_established": dt.date(2021, 6, 20)}
    f = _features(revived=revived, reused=reuse, reused_tip={**reuse, "tips": 1})
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    assert by["reused"] < 0.25 * by["revived"]
    shown = reasons.filter((pl.col("site_id") == "reused") & (pl.col("code") == "REUSED"))
    assert "查处（3月1日）后6月20日在此登记普通企业" in shown["evidence"][0]
    assert by["reused_tip"] >= by["reused"] + RULES.by_code["PUBLIC_TIP"].weight


def test_an_opening_explains_the_jump_and_a_holder_elsewhere_the_missing_registration():
    jump = {
        "jump_ratio": 12.0,
        "jump_after": 200.0,
        "jump_before": 10.0,
        "jump_date": dt.date(2021, 7, 20),
        "daily_kwh_recent": 200.0,
    }
    f = _features(
        jump=jump,
        opening={
            **jump,
            "opening": True,
            "ordinary_new": True,
            "new_established": dt.date(2021, 6, 1),
            "industry_codes": "C2110",
            "trade_codes": "C2110",
        },
        elsewhere={  # a tip keeps activity above the gate, so the paperwork is judged
            **jump,
            "tips": 1,
            "entities": 0,
            "opening": True,
            "meter_holder_new": True,
            "holder_established": dt.date(2021, 6, 1),
            "meter_names": "某家具有限公司",
        },
    )
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    assert by["opening"] < 0.25 * by["jump"]
    codes = set(reasons.filter(pl.col("site_id") == "elsewhere")["code"])
    assert {"OPENING", "HOLDER_REGISTERED"} <= codes
    assert "NO_REGISTRATION" not in {
        r["code"]
        for r in reasons.filter(pl.col("site_id") == "elsewhere").iter_rows(named=True)
        if r["contribution"] >= RULES.by_code["NO_REGISTRATION"].weight
    }


def test_rules_of_one_line_count_once_in_full_the_rest_damped():
    cfg = {**CONFIG, "scoring": {**CONFIG["scoring"], "same_line_factor": 0.5}}
    rules = load_rules(cfg)
    f = _features(woke={**WOKE, "tips": 1})
    scores, reasons = apply(f, rules)
    got = dict(zip(reasons["code"], reasons["contribution"], strict=True))
    jump, wake = RULES.by_code["POWER_JUMP"].weight, RULES.by_code["DORMANT_WAKE"].weight
    assert sorted([got["POWER_JUMP"], got["DORMANT_WAKE"]]) == sorted([jump, 0.5 * wake])
    assert got["PUBLIC_TIP"] == RULES.by_code["PUBLIC_TIP"].weight  # another line: in full
    assert scores["evidence_lines"][0] == 2  # power and tips


def test_a_tripled_house_meter_near_stray_night_stops_is_one_story():
    """A house whose use doubled (too little to be a jump by itself), 180 m from where hazmat
    trucks stopped at night with no record to receive them: the trucks count for it, at half a
    stop at the door; the same house without them, or trucks at its own door, do not."""
    house = {
        "tariffs": "residential",
        "entities": 0,
        "jump_ratio": 3.5,
        "jump_before": 5.0,
        "jump_after": 17.5,
        "jump_date": dt.date(2021, 8, 2),
    }
    f = _features(
        quiet=house,
        lane={**house, "night_stops_near": 2, "night_stops_near_m": 180.0},
        door={**house, "night_stops_near": 2, "night_stops_near_m": 180.0, "truck_night_stops": 1},
        steady={**house, "jump_ratio": 1.4, "night_stops_near": 2, "night_stops_near_m": 180.0},
    )
    _, reasons = apply(f, RULES)
    fired = reasons.filter(pl.col("code") == "NIGHT_TRUCKS_NEARBY")
    assert fired["site_id"].to_list() == ["lane"]
    assert "180米外无登记场所有危险货物运输车辆夜间停靠2次" in fired["evidence"][0]


def test_night_trucks_on_the_lane_are_the_tripled_house_s_story_not_a_second_lead():
    """Outside hazmat trucks stopping at night on a lane by a quiet house, 80 m from a house
    whose meter tripled: the trucks count for the tripled house (NIGHT_TRUCKS_NEARBY), and
    the lane keeps them only at TRUCKS_FOR_NEIGHBOUR's factor, below the activity gate, so
    that its missing registration (a household has none) no longer counts either."""
    stop = {
        "tariffs": "residential",
        "entities": 0,
        "meters": 1,
        "truck_night_stops": 2,
        "truck_visits": 2,
        "unregistered_plates": 1,
        "night_plates": "豫A12345",
    }
    f = _features(
        lane={**stop, "trucks_for_site": "Shouse", "trucks_for_m": 80.0},
        alone=stop,
        house={
            "tariffs": "residential",
            "entities": 0,
            "jump_ratio": 3.0,
            "jump_before": 5.0,
            "jump_after": 15.0,
            "jump_date": dt.date(2021, 8, 2),
            "jump_common_share": 0.01,
            "night_stops_near": 2,
            "night_stops_near_m": 80.0,
        },
    )
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    fired = {
        s: dict(zip(g["code"], g["contribution"], strict=True))
        for (s,), g in reasons.group_by("site_id")
    }
    assert fired["house"]["NIGHT_TRUCKS_NEARBY"] > 0
    assert (
        "80米外用电倍增的场所Shouse"
        in reasons.filter(
            (pl.col("site_id") == "lane") & (pl.col("code") == "TRUCKS_FOR_NEIGHBOUR")
        )["evidence"][0]
    )
    assert fired["alone"]["NO_REGISTRATION"] > 0
    assert fired["lane"].get("NO_REGISTRATION", 0) == 0
    assert by["lane"] < RULES.activity_gate < by["house"] < by["alone"]
    assert fired["house"]["NO_REGISTRATION"] > 0


def test_a_meter_in_a_hazmat_carrier_s_name_is_its_yard():
    yard = {
        "entities": 0,
        "meter_names": "宿州市新诚危险货物运输有限公司",
        "truck_night_stops": 2,
        "truck_visits": 4,
        "fuel_visits": 3,
    }
    f = _features(unknown=yard, carrier={**yard, "carrier_meter": True})
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    assert by["carrier"] < 0.25 * by["unknown"]
    shown = reasons.filter((pl.col("site_id") == "carrier") & (pl.col("code") == "CARRIER_DEPOT"))
    yard_of = "电表户名为危货运输企业（宿州市新诚危险货物运输有限公司）"
    assert shown["evidence"][0].startswith(yard_of)


def test_a_village_pumping_well_is_irrigation_not_an_unregistered_business():
    well = {
        **WOKE,
        "entities": 0,
        "tariffs": "agricultural",
        "industry_codes": None,
        "names": None,
        "meter_names": "许圩村机井",
        "field_name": True,
    }
    farm = {**well, "meter_names": "宿州万兴家庭农场", "rise_date": dt.date(2021, 8, 19)}
    f = _features(
        well=well,
        farm=farm,
        house={**well, "tariffs": "residential", "meter_names": "许某", "field_name": False},
    )
    scores, reasons = apply(f, RULES)
    by = dict(zip(scores["site_id"], scores["rule_score"], strict=True))
    codes = {s: set(g["code"]) for (s,), g in reasons.group_by("site_id")}
    assert "IRRIGATION" in codes["well"] and "IRRIGATION" not in codes["house"]
    assert "IRRIGATION" in codes["farm"]
    assert by["well"] < 0.25 * by["house"]
    shown = reasons.filter((pl.col("site_id") == "well") & (pl.col("code") == "IRRIGATION"))
    assert "电力户名许圩村机井" in shown["evidence"][0]


def test_a_household_s_own_jump_counts_and_the_season_s_does_not():
    """A house meter that tripled to 24 kWh a day while hardly any other household's jumped
    is the house's own doing (HOUSEHOLD_JUMP), below the gate alone; with night trucks on the
    lane it opens the context rules (no registration). The same jump made by a fifth of the
    county's households in the same weeks is the hot weather; a registered shop's is not a
    household's; a doubling to 9 kWh is a family's."""
    house = {
        "tariffs": "residential",
        "entities": 0,
        "jump_ratio": 3.0,
        "jump_before": 8.0,
        "jump_after": 24.0,
        "jump_date": dt.date(2021, 7, 16),
        "jump_common_share": 0.001,
        "daily_kwh_recent": 24.0,
    }
    lane = {"night_stops_near": 2, "night_stops_near_m": 120.0}
    f = _features(
        own=house,
        own_lane={**house, **lane},
        season={**house, "jump_common_share": 0.2},
        season_lane={**house, **lane, "jump_common_share": 0.2},
        shop={**house, "entities": 1},
        small={**house, "jump_after": 9.0, "jump_ratio": 2.2},
    )
    fired = _fired(f, "HOUSEHOLD_JUMP")
    assert sorted(fired["site_id"].to_list()) == ["own", "own_lane"]
    assert "前后14天内全县同类居民户中同时用电跃升的仅占0.1%" in fired["evidence"][0]
    assert "升至24千瓦时（约3倍）" in fired["evidence"][0]
    scores, counted = scoring.score_sites(f, RULES, CONFIG, use_model=False)
    counted = counted.filter(pl.col("contribution") > 0)
    codes = {s: set(counted.filter(pl.col("site_id") == s)["code"]) for s in f["site_id"]}
    assert codes["own"] == {"HOUSEHOLD_JUMP"}  # one household trace does not open the gate
    assert codes["own_lane"] == {"HOUSEHOLD_JUMP", "NIGHT_TRUCKS_NEARBY", "NO_REGISTRATION"}
    assert codes["season_lane"] == {"NIGHT_TRUCKS_NEARBY"}
    score = dict(scores.select("site_id", "score").iter_rows())
    assert score["own_lane"] > score["season_lane"]


def test_a_poultry_farm_by_its_name_runs_round_the_clock():
    """Fans and heat lamps: a farm whose registration names poultry (the code left blank,
    read from the name) explains its round-the-clock load; the sentence says the trade was
    read from the name. A farm's name hiding chemistry is not so explained."""
    farm = {
        "tariffs": "agricultural",
        "industry_codes": None,
        "trade_codes": "A03",
        "names": "宿州市博旺养鸡场",
        "flatness": 0.7,
        "high_hours_per_day": 22.0,
        "daily_kwh_recent": 300.0,
    }
    f = _features(farm=farm, hidden={**farm, "hides_chemistry": True})
    fired = _fired(f, "LIVESTOCK")
    assert fired["site_id"].to_list() == ["farm"]
    assert "登记为畜禽养殖（A03，据名称宿州市博旺养鸡场）" in fired["evidence"][0]
    scores, _ = scoring.score_sites(f, RULES, CONFIG, use_model=False)
    s = dict(scores.select("site_id", "score").iter_rows())
    assert s["farm"] < s["hidden"]


def test_a_tip_about_a_carpenter_is_no_tip_about_chemistry():
    """A neighbour's tip that says what the unlicensed business is (a carpenter making
    furniture at home, noisy saws) explains the tip and the missing licence; a tip about a
    chemical smell at night at the same kind of house does not."""
    house = {
        "tariffs": "residential",
        "entities": 0,
        "residential_power_supply": True,
        "daily_kwh_recent": 40.0,
        "tips": 1,
        "tip_ids": "T1",
        "tip_texts": "南营村十组14号有人在家里开木工作坊做家具,电锯声很吵,还有油漆味",
        "ordinary_tips": 1,
    }
    smell = {
        **house,
        "tip_texts": "胡楼村二组17号有人租了民房,晚上机器响到天亮",
        "ordinary_tips": 0,
    }
    f = _features(carpenter=house, smell=smell)
    fired = _fired(f, "ORDINARY_TIP")
    assert fired["site_id"].to_list() == ["carpenter"]
    assert "举报所述为普通行业（“南营村十组14号有人在家里开木工作坊做家具" in fired["evidence"][0]
    scores, _ = apply(f, RULES)
    s = dict(scores.select("site_id", "rule_score").iter_rows())
    assert s["carpenter"] < 0.5 * s["smell"]


def test_with_lead_needs_rule_a_site_only_the_model_lifts_is_a_watch_item():
    """scoring.lead_needs_rule (the default): the lead list keeps the sites some rule names,
    renumbered; a site only the anomaly model lifts above min_score stays out of it (the run
    keeps it as a watch item) unless the bundle lacks a line of evidence and the model stands
    in for it (model_stands_in). Off, the list is the head of every listed site."""
    f = _features(named={"tips": 1, "tip_ids": "T1"}, odd={}, quiet={})
    scored, reasons = scoring.score_sites(f, RULES, CONFIG, use_model=False)
    # the model's part, set by hand: the odd site is lifted above min_score by it alone
    scored = scored.with_columns(
        pl.when(pl.col("site_id") == "odd").then(2.2).otherwise(pl.col("score")).alias("score")
    )

    def cfg(**scoring_: object) -> dict:
        return {**CONFIG, "scoring": {**CONFIG["scoring"], **scoring_}}

    off = scoring.leads(scored, reasons, cfg(lead_needs_rule=False))
    assert off["site_id"].to_list() == ["odd"]  # the tip alone is below min_score
    on_cfg = cfg(lead_needs_rule=True, min_score=0.5)
    on = scoring.leads(scored, reasons, on_cfg)
    assert on["site_id"].to_list() == ["named"] and on["rank"].to_list() == [1]
    every = scoring.ranked(scored, reasons, on_cfg)
    assert every["site_id"].to_list() == ["odd", "named"]
    # a county that sent no tracks: the model speaks for the truck rules that cannot fire
    standing = scoring.leads(scored, reasons, on_cfg, ["vehicle_tracks"])
    assert standing["site_id"].to_list() == ["odd", "named"]
    held_back = cfg(lead_needs_rule=True, min_score=0.5, model_stands_in=False)
    assert scoring.leads(scored, reasons, held_back, ["vehicle_tracks"])["site_id"].to_list() == [
        "named"
    ]


def test_a_bio_firm_registered_as_chemical_industry_uses_no_cover_name():
    """COVER_NAME is the campaign's 以“科技/生物/新材料”名义: a name that hides chemistry. A
    生物科技 firm registered openly as an organic-fertiliser maker (C2625) hides nothing: only
    UNPERMITTED_CHEMICAL names it; the same name under an ordinary code is a cover."""
    firm = {
        "names": "安徽鼎辉生物科技有限公司",
        "cover_name": True,
        "truck_night_stops": 2,
        "night_plates": "皖LM6447",
        "has_valid_permit": False,
    }
    f = _features(
        fertiliser={
            **firm,
            "industry_codes": "C2625",
            "trade_codes": "C2625",
            "chemical_industry": True,
            "unpermitted_chemical_entity": True,
        },
        cover={**firm, "industry_codes": "M7320", "trade_codes": "M7320"},
    )
    assert _fired(f, "COVER_NAME")["site_id"].to_list() == ["cover"]
    assert _fired(f, "UNPERMITTED_CHEMICAL")["site_id"].to_list() == ["fertiliser"]


def test_a_tip_that_names_no_place_is_a_watch_item_not_a_lead():
    """scoring.lead_needs_place (the default): a site made of a tip alone, with no position
    (it names only a township: "听说曹村镇有人偷偷搞化工，具体位置不清楚"), is kept out of the
    lead list, however high the model puts it; the same tip pinned to a spot, a tip naming a
    house ("蒋岗村2组23号") or a meter without coordinates (the grid's account and address find
    it) stays a lead."""
    tip = {"tips": 1, "tip_ids": "T1", "lon": None, "lat": None, "addr_key": "蒿沟镇北桥村"}
    f = _features(
        vague=tip,
        pinned={**tip, "tip_ids": "T2", "lon": 117.0, "lat": 33.6},
        meter={**tip, "tip_ids": "T3", "account_ids": "A1", "meters": 1},
        house={**tip, "tip_ids": "T4", "addr_key": "大店镇蒋岗村2组23号"},
    )
    scored, reasons = scoring.score_sites(f, RULES, CONFIG, use_model=False)
    scored = scored.with_columns(pl.lit(2.5).alias("score"))

    def cfg(**scoring_: object) -> dict:
        return {**CONFIG, "scoring": {**CONFIG["scoring"], **scoring_}}

    on = scoring.leads(scored, reasons, cfg(lead_needs_place=True))
    assert on["site_id"].to_list() == ["house", "meter", "pinned"]
    assert on["rank"].to_list() == [1, 2, 3]
    off = scoring.leads(scored, reasons, cfg(lead_needs_place=False))
    assert off["site_id"].to_list() == ["house", "meter", "pinned", "vague"]


def test_missing_lines_are_the_optional_witnesses_a_bundle_lacked():
    meta = {"absent_sources": ["tips", "vehicles"], "lost_sources": {"vehicle_tracks": "empty"}}
    assert missing_lines(meta) == ["vehicle_tracks", "tips"]
    assert missing_lines({"absent_sources": [], "lost_sources": {}}) == []
    assert missing_lines({}) == []  # a warehouse written before the meta said so


def test_an_idle_house_whose_dead_meter_came_back_is_a_lead_and_a_light_left_on_is_not():
    """A house on the idle-premises list whose meter slept 41 days and woke to 3.6 kWh a day
    (the sample's T033: a workshop of a few kW) fires IDLE_METER_ALIVE and opens the list's
    own context rule; the same house drawing 0.9 kWh (a light, a fridge) does not, nor an
    abandoned farm (REMOTE_PREMISES reads those), nor a wake DORMANT_WAKE already names; a
    house re-let to an ordinary business counts for little (whatever explains a wake
    explains it)."""
    house = {
        "tariffs": "residential",
        "entities": 0,
        "idle_kinds": "idle_house",
        "idle_since": dt.date(2017, 5, 22),
        "idle_activity": True,
        "wake_date": dt.date(2021, 8, 13),
        "dormant_days": 41,
        "jump_before": 0.52,
        "jump_after": 3.59,
        "jump_ratio": 3.0,
        "jump_date": dt.date(2021, 8, 13),
        "daily_kwh_recent": 3.63,
    }
    f = _features(
        alive=house,
        crept={**house, "wake_date": None, "dormant_days": None, "jump_date": dt.date(2021, 7, 30)},
        light={**house, "daily_kwh_recent": 0.9, "jump_after": 0.9},
        farm={**house, "idle_kinds": "abandoned_farm"},
        woken={**house, "daily_kwh_recent": 400.0, "jump_after": 400.0},
        listed_shop={**house, "wake_date": None, "jump_before": 30.0, "jump_after": 70.0},
        relet={**house, "relet": True, "new_established": dt.date(2021, 8, 1)},
    )
    fired = _fired(f, "IDLE_METER_ALIVE")
    assert sorted(fired["site_id"].to_list()) == ["alive", "crept", "relet"]
    text = dict(fired.select("site_id", "evidence").iter_rows())
    assert text["alive"] == "列入闲置场所清单，电表停用41天后于8月13日恢复用电，近14天日均3.6千瓦时"
    assert "自7月30日起由每日0.5千瓦时升至3.6千瓦时" in text["crept"]
    _, counted = scoring.score_sites(f, RULES, CONFIG, use_model=False)
    counted = counted.filter(pl.col("contribution") > 0)
    codes = {s: set(counted.filter(pl.col("site_id") == s)["code"]) for s in f["site_id"]}
    assert {"IDLE_METER_ALIVE", "IDLE_PREMISES_ACTIVE"} <= codes["alive"]
    assert "DORMANT_WAKE" in codes["woken"] and "IDLE_METER_ALIVE" not in codes["woken"]
    alive = counted.filter(pl.col("code") == "IDLE_METER_ALIVE")
    weight = dict(alive.select("site_id", "contribution").iter_rows())
    assert weight["relet"] < 0.25 * weight["alive"]  # RELET's factor, as for a wake


def test_a_paint_booth_s_thinners_are_use_but_a_fuel_tanker_s_load_is_not():
    """A car repairer (O811) whose paint and thinners come on class-3 trucks is using
    solvents (SOLVENT_USER discounts the visits); a petrol tanker emptying there twice is
    the commonest illegal filling point, and no solvent use explains it."""
    shop = {
        "industry_codes": "O8111",
        "trade_codes": "O8111",
        "names": "埇桥区顺信汽车修理厂",
        "truck_visits": 3,
        "truck_plates": 2,
        "cargo_classes": "3",
    }
    f = _features(paint=shop, fuel={**shop, "fuel_visits": 2})
    _, reasons = apply(f, RULES)
    shown = {
        (r["site_id"], r["code"]): r["contribution"]
        for r in reasons.filter(pl.col("contribution") != 0).iter_rows(named=True)
    }
    weight = {r.code: r.weight for r in RULES.rules}
    assert ("paint", "SOLVENT_USER") in shown and ("fuel", "SOLVENT_USER") in shown
    assert shown["fuel", "FUEL_DELIVERIES"] == pytest.approx(weight["FUEL_DELIVERIES"])
    assert shown["paint", "HAZMAT_VISITS"] < weight["HAZMAT_VISITS"]
