"""An honest adversary: the look-alikes a real county is full of, and workshops hidden the
way a real operator hides them. Planted only in styled worlds (see :mod:`.styles`).

Every look-alike shares a workshop's traits (a jump, night load, trucks at night, an idle or
sanctioned site coming back to life, a fuel tanker where no permit is) and carries its
innocent explanation in the data the way it would in reality, never as a marker: a new
registration dated just before the power came on, a fitting industry and a day-shaped load,
an agricultural tariff and a farm's name, a truck that is registered to a carrier and sleeps
at a village house, the same legal representative as the licensed plant next door. A person
reading the records can tell each one apart; a rule that keys on one trait cannot.

The harder workshops are kept within the campaign's categories (``kind`` in the truth file
names the variant): a fuel yard beside a licensed station, chemistry under a cover name with
weak power, workshops that leave a single weak trace, village houses on household meters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from .config import AS_OF
from .entities import case_name, dormant_account, idle_owner
from .names import brands, person_names
from .scenarios import Planter, _existing, _fuel_plates, _mark

# name endings, GB/T 4754 code, scope, load profile, peak kWh per hour range, tariff
ORDINARY: dict[str, tuple[tuple[str, ...], str, str, str, tuple[float, float], str]] = {
    "furniture": (
        ("家具有限公司", "家具厂", "木业有限公司"),
        "C2110",
        "家具制造、销售；木制品加工",
        "shift1",
        (20.0, 60.0),
        "commercial",
    ),
    "clothing": (
        ("服饰有限公司", "制衣厂", "服装加工厂"),
        "C1810",
        "服装、服饰加工、销售",
        "shift2",
        (10.0, 35.0),
        "commercial",
    ),
    "plastics": (
        ("塑料制品有限公司", "塑业有限公司"),
        "C2927",
        "塑料制品、日用塑料制品生产、销售",
        "shift2",
        (40.0, 90.0),
        "commercial",
    ),
    "warehouse": (
        ("仓储有限公司", "供应链管理有限公司"),
        "G5920",
        "普通货物仓储服务（不含危险化学品）；装卸搬运",
        "shift1",
        (5.0, 15.0),
        "commercial",
    ),
    "machinery": (
        ("机械制造有限公司", "机械有限公司"),
        "C3484",
        "机械零部件加工、销售",
        "shift1",
        (25.0, 70.0),
        "commercial",
    ),
    "logistics": (
        ("物流有限公司", "货运有限公司"),
        "G5431",
        "普通货物道路运输；货物配载、信息服务",
        "shop",
        (3.0, 10.0),
        "commercial",
    ),
    "poultry": (
        ("家禽养殖专业合作社", "养鸡场", "禽业有限公司"),
        "A0321",
        "家禽养殖、销售；禽蛋销售",
        "poultry",
        (10.0, 35.0),
        "agricultural",
    ),
    "pig": (
        ("生猪养殖场", "牧业有限公司"),
        "A0313",
        "生猪养殖、销售",
        "poultry",
        (8.0, 25.0),
        "agricultural",
    ),
}


def _kva(level: float) -> float:
    from .entities import snap_kva

    return float(snap_kva(np.array([level * 2.2]))[0])


def _name(pt: Planter, words: tuple[str, ...], individual: bool = False, place: int = 0) -> str:
    brand = brands(pt.rng, 1)[0]
    word = words[int(pt.rng.integers(len(words)))]
    if individual:
        tw = pt.w.place(place)["township"]
        return f"埇桥区{tw}{brand}{word.replace('有限公司', '')}"
    return "宿州市" + brand + word


def _business(
    pt: Planter,
    pid: int,
    trade: str,
    est: date,
    *,
    individual: bool = False,
    coords: bool = True,
    suffix: str = "",
) -> tuple[str, str, tuple]:
    words, code, scope, *_ = ORDINARY[trade]
    name = _name(pt, words, individual, pid)
    uscc = pt.registration(
        pid, name, code, scope, est, coords=coords, suffix=suffix, individual=individual
    )
    return name, uscc, ORDINARY[trade]


def _pick(pt: Planter, df: pl.DataFrame) -> dict | None:
    """A row of ``df`` far from the truth sites so far; in a crowded chemical park the
    distance relaxes (plots stand 45 m apart, so 80 m still keeps two sites apart)."""
    for min_m in (300.0, 150.0, 80.0):
        row = pt.pick_far(df, min_m) if df.height else None
        if row is not None:
            return row
    return None


def _days_before(pt: Planter, d: int, lo: int, hi: int) -> date:
    return pt.day_date(d) - timedelta(days=int(pt.rng.integers(lo, hi)))


# ---------------------------------------------------------------------------------------
# Look-alikes


def new_business_opening(pt: Planter, i: int) -> None:
    """A new ordinary business opens inside the window: its registration is weeks old and
    the load it brings is a working day's (a furniture shop, a garment workshop). A third
    are registered at another address (the town office that filed the papers, the owner's
    home) than the one they work at, as is common; their meter bears the company's name."""
    rng = pt.rng
    trade = ("furniture", "clothing", "plastics", "warehouse", "machinery")[i % 5]
    pid = pt.take(("park", "park", "town", "village")[int(rng.integers(4))])
    elsewhere = rng.random() < 0.35
    jd = pt.jump_day()
    est = _days_before(pt, jd, 15, 70)
    reg_at = pt.take("town") if elsewhere else pid
    name, uscc, (_w, _c, _s, prof, lv, tariff) = _business(pt, reg_at, trade, est)
    level = float(rng.uniform(*lv))
    if elsewhere or i % 5 < 3:  # a meter of its own, opened for the new business
        opened = _days_before(pt, jd, 5, 15)
        aid = pt.account(
            pid,
            name,
            tariff=tariff,
            kva=_kva(level),
            phase=3,
            profile="construction",
            level=float(rng.uniform(1.5, 4.0)),
            profile2=prof,
            level2=level,
            switch_day=jd,
            uscc=uscc if rng.random() < 0.7 else None,
            opened=opened,
        )
    else:  # the former tenant's meter, transferred to the new business
        aid = pt.account(
            pid,
            name if rng.random() < 0.6 else person_names(rng, 1)[0],
            tariff=tariff,
            kva=_kva(level),
            phase=3,
            profile="dormant",
            level=float(rng.uniform(0.05, 0.3)),
            profile2=prof,
            level2=level,
            switch_day=jd,
            uscc=None,
        )
    pt.w.ramps[aid] = int(rng.integers(3, 12))
    pt.truth(
        "lookalike",
        "new_business_opening",
        "",
        pid,
        signals=["jump", "day_shape"]
        + (["company_meter"] if elsewhere else ["new_registration", "ordinary_industry"]),
        description="新设立的普通企业在窗口期内开业，用电跃升，但成立日期在用电前数周，"
        "负荷为白班形态，行业为普通制造/仓储，属正常开业"
        + ("（注册地址在镇上，电表户名即该企业）。" if elsewhere else "。"),
        usccs=[uscc],
        accounts=[aid],
        jump=jd,
        kind="new_business_opening",
    )


def idle_relet(pt: Planter, i: int) -> None:
    """Listed idle premises let to an ordinary tenant: a new registration at the property's
    address shortly before its meter wakes, a fitting trade and a day-shaped (or a farm's)
    load."""
    rng = pt.rng
    kind, trade = (
        ("idle_factory", "warehouse"),
        ("closed_plant", "plastics"),
        ("abandoned_farm", "poultry"),
        ("idle_factory", "furniture"),
        ("abandoned_factory", "clothing"),
        ("abandoned_farm", "pig"),
        ("idle_factory", "logistics"),
    )[i % 7]
    zone = {"idle_factory": "park", "closed_plant": "park", "abandoned_farm": "remote"}.get(
        kind, "village"
    )
    pid = pt.take(zone)
    p = pt.w.place(pid)
    owner = idle_owner(rng, kind, p["village"], p["township"])
    key = pt.idle(pid, kind, owner, polygon=bool(rng.random() < 0.5))
    jd = pt.jump_day()
    est = _days_before(pt, jd, 10, 45)
    individual = kind == "abandoned_factory"
    name, uscc, (_w, _c, _s, prof, lv, tariff) = _business(
        pt, pid, trade, est, individual=individual
    )
    acc = dormant_account(rng, pt.w, pid, owner, kind)
    level = float(rng.uniform(*lv))
    acc.update(
        name=name if rng.random() < 0.5 else owner,  # transferred to the tenant, or not yet
        tariff=tariff if tariff == "agricultural" else acc["tariff"],
        profile2=prof,
        level2=level,
        switch_day=jd,
        capacity_kva=max(float(acc["capacity_kva"]), _kva(level)),  # type: ignore[arg-type]
        phase=3,
        layout="hourly",
    )
    pt.w.add("accounts", [acc])
    pt.w.ramps[str(acc["account_id"])] = int(rng.integers(3, 10))
    farm = trade in ("poultry", "pig")
    sig = ["idle_premises", "dormant_wake", "jump", "new_registration"] + (
        ["agricultural_tariff", "livestock", "flat_load"] if farm else ["day_shape"]
    )
    pt.truth(
        "lookalike",
        "idle_relet",
        "",
        pid,
        signals=sig,
        description="闲置场所出租给普通企业：在该地址新登记的企业成立后不久电表恢复用电，"
        + (
            "登记为养殖、农业电价、通风负荷，属正常养殖。"
            if farm
            else "行业相符、白班负荷，属正常经营。"
        ),
        usccs=[uscc],
        accounts=[str(acc["account_id"])],
        props=[key],
        jump=jd,
        kind="idle_relet",
    )


def driver_home_partial(pt: Planter, i: int) -> None:
    """A driver takes the carrier's truck home on some nights and parks it on the village
    road by the house; the house has an ordinary household meter, often without
    coordinates."""
    rng = pt.rng
    w = pt.w
    v = w.vehicles.filter(
        pl.col("registered") & pl.col("home").is_null() & ~pl.col("plate").is_in(list(w.home_share))
    )
    if v.height == 0:
        return
    r = v.row(int(rng.integers(v.height)), named=True)
    house = w.alloc.near(r["depot"], "village", 6000.0)
    if not pt.far(house, 300.0):
        house = pt.take("village")
    spot = w.alloc.take_near(rng, house, "village", 20.0, 90.0) or house
    aid = pt.account(
        house,
        person_names(rng, 1)[0],
        tariff="residential",
        kva=float(rng.choice([4.0, 6.0, 8.0])),
        phase=1,
        profile="household",
        level=float(rng.uniform(4, 10)),
        layout="daily",
        coords=bool(rng.random() < 0.5),
    )
    w.vehicles = w.vehicles.with_columns(
        home=pl.when(pl.col("plate") == r["plate"]).then(spot).otherwise(pl.col("home"))
    )
    w.home_share[r["plate"]] = float(rng.uniform(0.45, 0.85))
    pt.truth(
        "lookalike",
        "driver_home_partial",
        "",
        house,
        signals=["night_truck_stops", "driver_home", "registered_carriers", "household_meter"],
        description="驾驶员部分夜晚把运输企业的危货车辆开回家，停在自家门前村道上，"
        "车辆登记在运输企业名下，白天无装卸停靠，住户为普通居民用电。",
        accounts=[aid],
        plates=[r["plate"]],
        kind="driver_home_partial",
    )


def sanctioned_reuse(pt: Planter, i: int) -> None:
    """A site closed in an earlier campaign, let lawfully later: a registration that
    post-dates the closure, a fitting trade, a meter in the new tenant's name."""
    rng = pt.rng
    pid = pt.take("village" if i % 2 == 0 else "park")
    closed = date(2019, 3, 1) + timedelta(days=int(rng.integers(0, 500)))
    key = pt.case(pid, case_name(rng), closed, coords=bool(rng.random() < 0.8))
    trade = ("warehouse", "furniture", "clothing", "machinery")[i % 4]
    latest = min(AS_OF - timedelta(days=60), closed + timedelta(days=600))
    est = closed + timedelta(days=int(rng.integers(120, max(121, (latest - closed).days))))
    name, uscc, (_w, _c, _s, prof, lv, tariff) = _business(pt, pid, trade, est)
    level = float(rng.uniform(*lv))
    opened = est + timedelta(days=int(rng.integers(10, 50)))
    jd = None
    if opened > pt.day_date(0):  # opened inside the window: the meter's first readings
        jd = max(0, (opened - pt.p.start).days)
    aid = pt.account(
        pid,
        name,
        tariff=tariff,
        kva=_kva(level),
        phase=3,
        profile=prof,
        level=level,
        uscc=uscc if rng.random() < 0.8 else None,
        opened=opened,
    )
    pt.truth(
        "lookalike",
        "sanctioned_reuse",
        "",
        pid,
        signals=["recurrence", "registered_after_case", "day_shape", "ordinary_industry"],
        description="曾被查处取缔的场所此后依法出租：新企业成立于查处之后，"
        "行业相符，电表户名为新企业，白班负荷，属合法再利用。",
        usccs=[uscc],
        accounts=[aid],
        cases=[key],
        jump=jd,
        kind="sanctioned_reuse",
    )


def food_before_dawn(pt: Planter, i: int) -> None:
    """Tofu, steamed buns, breakfast and cake shops work before dawn; many are individual
    businesses registered under retail or catering codes, some without a code at all."""
    rng = pt.rng
    words, code, prof = (
        (("豆腐坊", "豆制品加工坊"), "C1392", "tofu"),
        (("馒头店", "馒头坊"), "C1431", "tofu"),
        (("早点铺", "早餐店"), "H6291", "bakery"),
        (("蛋糕店", "面包坊"), "F5222", "bakery"),
    )[i % 4]
    pid = pt.take("village" if i % 2 == 0 else "town")
    name = _name(pt, words, individual=True, place=pid)
    est = AS_OF - timedelta(days=int(rng.integers(200, 3000)))
    uscc = pt.registration(
        pid,
        name,
        code if rng.random() < 0.75 else None,
        "豆制品、面食加工销售；早餐服务",
        est,
        coords=bool(rng.random() < 0.6),
        individual=True,
    )
    rep = pt.w.businesses.filter(pl.col("uscc") == uscc)["legal_rep"][0]
    aid = pt.account(
        pid,
        rep if rng.random() < 0.5 else name,
        tariff="commercial",
        kva=float(rng.choice([16.0, 20.0, 30.0, 50.0])),
        phase=3 if rng.random() < 0.6 else 1,
        profile=prof,
        level=float(rng.uniform(3, 10)),
        uscc=None,
    )
    pt.truth(
        "lookalike",
        "food_before_dawn",
        "",
        pid,
        signals=["night_share", "food_name"],
        description="个体豆腐坊/馒头店/早点铺凌晨开工，夜间用电比例高，名称即说明行业，属正常经营。",
        usccs=[uscc],
        accounts=[aid],
        kind="food_before_dawn",
    )


def livestock_farm(pt: Planter, i: int) -> None:
    """Poultry and pig houses ventilate round the clock, harder in the heat; far from
    villages by law; brooding houses take LPG."""
    rng = pt.rng
    trade = ("poultry", "pig")[i % 2]
    pid = pt.take("remote" if rng.random() < 0.6 else "village")
    est = AS_OF - timedelta(days=int(rng.integers(400, 3000)))
    name, uscc, (_w, _c, _s, prof, lv, tariff) = _business(pt, pid, trade, est)
    level = float(rng.uniform(*lv))
    aid = pt.account(
        pid,
        name,
        tariff=tariff,
        kva=_kva(level),
        phase=3,
        profile=prof,
        level=level,
        uscc=uscc if rng.random() < 0.6 else None,
    )
    plates: list[str] = []
    if trade == "poultry" and rng.random() < 0.4:
        plates = pt.visits(pid, 1, False, ("2",), outside_share=0.2, dwell=(25, 45))
    pt.truth(
        "lookalike",
        "livestock_farm",
        "",
        pid,
        signals=["flat_load", "agricultural_tariff", "livestock"]
        + (["truck_stops"] if plates else []),
        description="畜禽养殖场风机昼夜运行、随气温升高，农业生产电价，"
        "登记为养殖业；育雏期有液化气车辆白天送气。",
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        kind="livestock_farm",
    )


def licensed_sales_subsidiary(pt: Planter, i: int) -> None:
    """A licensed producer's sales company at the plant's address: same legal
    representative, the plant's brand, a trading scope, an office meter or none."""
    rng = pt.rng
    w = pt.w
    valid = w.permits.filter(
        (pl.col("kind") == "production") & (pl.col("valid_to") > AS_OF) & ~pl.col("protected")
    )
    host = _pick(pt, valid)
    if host is None:
        return
    pt.protect("permits", "permit_id", [host["permit_id"]])
    biz = w.businesses.filter(pl.col("uscc") == host["uscc"]).row(0, named=True)
    pt.protect("businesses", "uscc", [biz["uscc"]])
    name = biz["name"].replace("有限公司", "销售有限公司")
    suffix = "办公楼" if rng.random() < 0.5 else ""
    est = AS_OF - timedelta(days=int(rng.integers(150, 1500)))
    uscc = pt.registration(
        host["place_id"],
        name,
        "F5169",
        "化工产品（不含危险化学品）销售；本公司关联企业生产产品的销售",
        est,
        suffix=suffix,
        legal_rep=biz["legal_rep"],
    )
    if rng.random() < 0.5:
        pt.permit(
            uscc,
            host["place_id"],
            "operation",
            "甲醇、盐酸、硫酸（不带储存设施经营）",
            AS_OF - timedelta(days=int(rng.integers(60, 900))),
            AS_OF + timedelta(days=int(rng.integers(60, 900))),
        )
    accounts = []
    if rng.random() < 0.5:
        accounts.append(
            pt.account(
                host["place_id"],
                name,
                tariff="commercial",
                kva=float(rng.choice([16.0, 30.0, 50.0])),
                phase=3,
                profile="office",
                level=float(rng.uniform(2, 6)),
                uscc=uscc,
                suffix=suffix,
            )
        )
    pt.truth(
        "lookalike",
        "licensed_sales_subsidiary",
        "",
        host["place_id"],
        signals=["shared_address", "same_legal_rep", "valid_permit"],
        description="持证化工企业在厂内设立的销售公司：法定代表人与品牌相同，"
        "经营范围为销售，办公用电或无电表，属正常关联企业。",
        usccs=[uscc, biz["uscc"]],
        accounts=accounts,
        suffix=suffix,
        kind="licensed_sales_subsidiary",
    )


def renewed_permit(pt: Planter, i: int) -> None:
    """A permit renewed this year: the register keeps the expired certificate beside the
    new one, sometimes with a few weeks' gap between them."""
    rng = pt.rng
    w = pt.w
    valid = w.permits.filter(
        pl.col("kind").is_in(["production", "operation"])
        & (pl.col("valid_to") > AS_OF)
        & ~pl.col("protected")
    )
    host = _pick(pt, valid)
    if host is None:
        return
    new_from = AS_OF - timedelta(days=int(rng.integers(15, 150)))
    years = 3
    gap = int(rng.integers(1, 35)) if i % 2 else 1
    old_to = new_from - timedelta(days=gap)
    w.permits = w.permits.with_columns(
        valid_from=pl.when(pl.col("permit_id") == host["permit_id"])
        .then(pl.lit(new_from))
        .otherwise(pl.col("valid_from")),
        valid_to=pl.when(pl.col("permit_id") == host["permit_id"])
        .then(pl.lit(new_from + timedelta(days=365 * years - 1)))
        .otherwise(pl.col("valid_to")),
    )
    pt.protect("permits", "permit_id", [host["permit_id"]])
    pt.protect("businesses", "uscc", [host["uscc"]])
    pt.permit(
        host["uscc"],
        host["place_id"],
        host["kind"],
        host["scope"],
        old_to - timedelta(days=365 * years - 1),
        old_to,
    )
    acc = w.accounts.filter(pl.col("place_id") == host["place_id"])["account_id"].to_list()
    pt.protect("accounts", "account_id", acc)
    pt.truth(
        "lookalike",
        "renewed_permit",
        "",
        host["place_id"],
        signals=["permit_expired", "valid_permit"],
        description="许可证今年到期后换发新证：登记库中旧证显示已过期，同一企业同类新证有效。",
        usccs=[host["uscc"]],
        accounts=acc,
        kind="renewed_permit",
    )


def cold_store_other(pt: Planter, i: int) -> None:
    """Cold rooms of fruit and vegetable wholesalers and meat processors: compressors run
    day and night, but the register files them under wholesale or food, not storage."""
    rng = pt.rng
    words, code, scope = (
        (("果蔬批发有限公司", "果蔬冷藏经营部"), "F5123", "果品、蔬菜批发；冷藏保鲜服务"),
        (("肉类加工有限公司", "冷冻食品有限公司"), "C1351", "畜禽肉类加工、冷冻食品储存销售"),
        (("冷链物流有限公司",), "G5431", "冷藏车道路运输；冷链仓储"),
    )[i % 3]
    pid = pt.take("village" if rng.random() < 0.5 else "town")
    name = _name(pt, words)
    est = AS_OF - timedelta(days=int(rng.integers(300, 3000)))
    uscc = pt.registration(pid, name, code, scope, est)
    level = float(rng.uniform(15, 60))
    aid = pt.account(
        pid,
        name,
        tariff="commercial",
        kva=_kva(level),
        phase=3,
        profile="cold_store",
        level=level,
        uscc=uscc if rng.random() < 0.7 else None,
    )
    pt.truth(
        "lookalike",
        "cold_store_other",
        "",
        pid,
        signals=["flat_load", "night_share", "cold_name"],
        description="果蔬批发/肉类加工企业自有冷库压缩机昼夜运行，名称和经营范围注明冷藏。",
        usccs=[uscc],
        accounts=[aid],
        kind="cold_store_other",
    )


def printing_shop(pt: Planter, i: int) -> None:
    """A packaging printer takes on night shifts for a rush of orders and has ink and
    solvent delivered by a class-3 truck in the day."""
    rng = pt.rng
    pid = pt.take("park" if rng.random() < 0.6 else "town")
    name = _name(pt, ("包装印刷有限公司", "彩印有限公司", "印务有限公司"))
    est = AS_OF - timedelta(days=int(rng.integers(300, 3000)))
    uscc = pt.registration(pid, name, "C2319", "包装装潢印刷品印刷；纸制品加工销售", est)
    level = float(rng.uniform(20, 60))
    jd = pt.jump_day()
    aid = pt.account(
        pid,
        name,
        tariff="commercial",
        kva=_kva(level * 1.5),
        phase=3,
        profile="shift2",
        level=level,
        profile2="shift3",
        level2=level * float(rng.uniform(1.2, 1.6)),
        switch_day=jd,
        uscc=uscc if rng.random() < 0.7 else None,
    )
    plates = pt.visits(pid, int(rng.integers(1, 3)), False, ("3",), 0.3, dwell=(20, 40))
    pt.truth(
        "lookalike",
        "printing_shop",
        "",
        pid,
        signals=["night_share", "truck_stops", "printing"],
        description="包装印刷厂赶订单加开夜班，白天有危货车辆送油墨、溶剂，行业为印刷。",
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        jump=jd,
        kind="printing_shop",
    )


def car_repair_paint(pt: Planter, i: int) -> None:
    """A car repair shop's paint booth bakes in the evening; neighbours report the smell."""
    rng = pt.rng
    pid = pt.take("town")
    individual = rng.random() < 0.5
    name = _name(pt, ("汽车修理厂", "汽车维修中心", "汽修厂"), individual, pid)
    est = AS_OF - timedelta(days=int(rng.integers(300, 3000)))
    uscc = pt.registration(
        pid, name, "O8111", "机动车维修；汽车钣金、喷漆", est, individual=individual
    )
    level = float(rng.uniform(8, 25))
    aid = pt.account(
        pid,
        name,
        tariff="commercial",
        kva=_kva(level),
        phase=3,
        profile="paint_booth",
        level=level,
        uscc=uscc if rng.random() < 0.5 else None,
    )
    tips = []
    if rng.random() < 0.5:
        tips.append(pt.tip(pid, "{a}汽修厂晚上喷漆烤漆，油漆味很重，影响休息"))
    pt.truth(
        "lookalike",
        "car_repair_paint",
        "",
        pid,
        signals=["three_phase", "car_repair"] + (["tip"] if tips else []),
        description="汽修厂喷漆房傍晚烤漆，三相用电，群众反映油漆味，登记为机动车维修。",
        usccs=[uscc],
        accounts=[aid],
        tips=tips,
        kind="car_repair_paint",
    )


def licensed_night_shift(pt: Planter, i: int) -> None:
    """A licensed producer adds a night shift inside the window; its production permit
    covers it and its own tankers load at night."""
    rng = pt.rng
    w = pt.w
    ok = w.permits.filter(
        (pl.col("kind") == "production") & (pl.col("valid_to") > AS_OF) & ~pl.col("protected")
    )["uscc"]
    rows = _existing(pt, ["C2614", "C2619", "C2611", "C2612", "C2641", "C2661"], 50)
    rows = rows.filter(pl.col("uscc").is_in(ok.implode()))
    row = _pick(pt, rows)
    if row is None:
        return
    _mark(pt, rows.filter(pl.col("uscc") == row["uscc"]))
    pt.protect("permits", "uscc", [row["uscc"]])
    jd = pt.jump_day()
    a = w.accounts.filter(pl.col("account_id") == row["account_id"]).row(0, named=True)
    w.accounts = w.accounts.with_columns(
        profile2=pl.when(pl.col("account_id") == row["account_id"])
        .then(pl.lit("shift3"))
        .otherwise(pl.col("profile2")),
        level2=pl.when(pl.col("account_id") == row["account_id"])
        .then(pl.lit(float(a["level"]) * float(rng.uniform(1.4, 2.2))))
        .otherwise(pl.col("level2")),
        switch_day=pl.when(pl.col("account_id") == row["account_id"])
        .then(pl.lit(jd))
        .otherwise(pl.col("switch_day")),
    )
    plates = pt.visits(row["place_id"], 2, 0.7, ("8", "3"), outside_share=0.3, dwell=(40, 90))
    pt.truth(
        "lookalike",
        "licensed_night_shift",
        "",
        row["place_id"],
        signals=["night_share", "night_truck_stops", "valid_permit"],
        description="持有效安全生产许可证的化工企业窗口期内增开夜班，用电上升、夜间装车，属许可范围。",
        usccs=[row["uscc"]],
        accounts=[row["account_id"]],
        plates=plates,
        jump=jd,
        kind="licensed_night_shift",
    )


def factory_commissioning(pt: Planter, i: int) -> None:
    """A new factory, registered months ago, finishes building and commissions its lines:
    the load ramps over weeks and trial runs go through the night."""
    rng = pt.rng
    trade = ("plastics", "machinery", "clothing", "furniture")[i % 4]
    pid = pt.take("park")
    est = pt.day_date(0) - timedelta(days=int(rng.integers(60, 240)))
    name, uscc, (_w, _c, _s, _p, lv, _t) = _business(pt, pid, trade, est)
    level = float(rng.uniform(lv[1], lv[1] * 2.5))
    jd = pt.jump_day()
    aid = pt.account(
        pid,
        name,
        tariff="industrial",
        kva=max(630.0, _kva(level)),
        phase=3,
        profile="construction",
        level=float(rng.uniform(5, 15)),
        profile2=("shift3", "shift2")[i % 2],
        level2=level,
        switch_day=jd,
        uscc=uscc,
        opened=est + timedelta(days=int(rng.integers(20, 50))),
    )
    pt.w.ramps[aid] = int(rng.integers(14, 36))
    pt.truth(
        "lookalike",
        "factory_commissioning",
        "",
        pid,
        signals=["jump", "new_registration", "ordinary_industry"],
        description="新建工厂建成后调试投产，用电在数周内逐步爬升，试生产昼夜运行，"
        "企业成立于一年内、新装大容量变压器，行业为普通制造。",
        usccs=[uscc],
        accounts=[aid],
        jump=jd,
        kind="factory_commissioning",
    )


def irrigation_station(pt: Planter, i: int) -> None:
    """A village pump station on the agricultural tariff: no registration, a name that
    says what it is, and pumps that run day and night through a dry spell."""
    rng = pt.rng
    pid = pt.take("village" if rng.random() < 0.7 else "remote")
    p = pt.w.place(pid)
    village = str(p["village"] or p["township"])
    name = (f"{village}排灌站", f"{village}机井", f"{village}村民委员会（排灌）")[i % 3]
    aid = pt.account(
        pid,
        name.replace("村村", "村"),
        tariff="agricultural",
        kva=float(rng.choice([30.0, 50.0, 80.0, 100.0])),
        phase=3,
        profile="pump24" if rng.random() < 0.6 else "pump",
        level=float(rng.uniform(8, 30)),
        coords=bool(rng.random() < 0.7),
    )
    pt.truth(
        "lookalike",
        "irrigation_station",
        "",
        pid,
        signals=["agricultural_tariff", "pump_name"],
        description="村集体排灌站农业电价，干旱时段水泵昼夜运行、其余时间近零，户名即排灌站。",
        accounts=[aid],
        jump=pt.w.calendar.spells[0][0],
        kind="irrigation_station",
    )


def village_wood_workshop(pt: Planter, i: int) -> None:
    """Furniture and wood workshops in village houses: a three-phase supply, saws by day;
    either registered as an individual business or known from a neighbour's complaint."""
    rng = pt.rng
    pid = pt.take("village")
    person = person_names(rng, 1)[0]
    usccs: list[str] = []
    tips: list[int] = []
    if i % 5 < 3:
        name = _name(pt, ("木业加工厂", "家具厂", "木制品加工部"), True, pid)
        usccs.append(
            pt.registration(
                pid,
                name,
                "C2110" if rng.random() < 0.7 else None,
                "木制品、家具加工销售",
                AS_OF - timedelta(days=int(rng.integers(200, 3000))),
                coords=bool(rng.random() < 0.5),
                individual=True,
            )
        )
    else:
        tips.append(pt.tip(pid, "{a}有人在家里开木工作坊做家具，电锯声很吵，还有油漆味"))
    aid = pt.account(
        pid,
        person,
        tariff="commercial" if usccs else "residential",
        kva=float(rng.choice([16.0, 20.0, 30.0, 50.0])),
        phase=3,
        profile="shift1",
        level=float(rng.uniform(5, 15)),
        layout="hourly" if usccs else "daily",
        coords=bool(rng.random() < 0.6),
    )
    pt.truth(
        "lookalike",
        "village_wood_workshop",
        "",
        pid,
        signals=["three_phase"] + (["wood_name"] if usccs else ["tip"]),
        description="村民在自家院内开木工/家具作坊，三相动力电、白天开工，"
        "登记为个体木业或群众举报中写明是木工作坊。",
        usccs=usccs,
        accounts=[aid],
        tips=tips,
        kind="village_wood_workshop",
    )


def logistics_tanker_yard(pt: Planter, i: int) -> None:
    """A registered logistics park where tankers of several carriers, fuel tankers among
    them, park overnight between jobs; no loading happens there."""
    rng = pt.rng
    w = pt.w
    pid = pt.take("town" if rng.random() < 0.5 else "park")
    name = _name(pt, ("物流园有限公司", "停车场管理有限公司", "货运场站"))
    est = AS_OF - timedelta(days=int(rng.integers(300, 3000)))
    uscc = pt.registration(pid, name, "G5442", "停车场服务；货运站经营；普通货物仓储", est)
    aid = pt.account(
        pid,
        name,
        tariff="commercial",
        kva=50.0,
        phase=3,
        profile="shop",
        level=float(rng.uniform(2, 6)),
        uscc=uscc,
    )
    v = w.vehicles.filter(
        pl.col("registered") & pl.col("home").is_null() & ~pl.col("plate").is_in(list(w.home_share))
    )
    fuel = v.filter(pl.col("cargo").is_in(["柴油", "汽油"]))
    other = v.filter(~pl.col("cargo").is_in(["柴油", "汽油"]))
    k = int(rng.integers(3, 6))
    pick = [
        fuel.row(j, named=True) for j in rng.choice(fuel.height, min(2, fuel.height), replace=False)
    ]
    pick += [
        other.row(j, named=True)
        for j in rng.choice(other.height, min(k - len(pick), other.height), replace=False)
    ]
    plates = [r["plate"] for r in pick]
    w.vehicles = w.vehicles.with_columns(
        home=pl.when(pl.col("plate").is_in(plates)).then(pid).otherwise(pl.col("home"))
    )
    for p in plates:
        w.home_share[p] = float(rng.uniform(0.5, 0.9))
    pt.truth(
        "lookalike",
        "logistics_tanker_yard",
        "",
        pid,
        signals=["night_truck_stops", "fuel_tanker", "overnight_parking", "registered_carriers"],
        description="登记为物流园/停车场的场站，多家运输企业的罐车（含油罐车）夜间停放过夜，"
        "无装卸作业，车辆均登记在运输企业名下。",
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        kind="logistics_tanker_yard",
    )


def gas_station_night(pt: Planter, i: int) -> None:
    """A licensed gas station receiving fuel at night, as depots schedule tankers."""
    w = pt.w
    rows = _existing(pt, ["F5265"], 40)
    ok = w.permits.filter((pl.col("kind") == "fuel") & (pl.col("valid_to") > AS_OF))["uscc"]
    rows = rows.filter(pl.col("uscc").is_in(ok.implode()))
    row = _pick(pt, rows)
    if row is None:
        return
    _mark(pt, rows.filter(pl.col("uscc") == row["uscc"]))
    plates = pt.visits(row["place_id"], 2, True, ("3",), outside_share=0.0, dwell=(40, 70))
    plates = _fuel_plates(pt, row["place_id"], plates)
    pt.truth(
        "lookalike",
        "gas_station_night",
        "",
        row["place_id"],
        signals=["fuel_tanker", "night_truck_stops", "fuel_permit"],
        description="持成品油零售许可的加油站夜间接收油罐车卸油，属油库正常排班。",
        usccs=[row["uscc"]],
        accounts=[row["account_id"]],
        plates=plates,
        kind="gas_station_night",
    )


LOOKALIKES: dict[str, Callable[[Planter, int], None]] = {
    "new_business_opening": new_business_opening,
    "idle_relet": idle_relet,
    "driver_home_partial": driver_home_partial,
    "sanctioned_reuse": sanctioned_reuse,
    "food_before_dawn": food_before_dawn,
    "livestock_farm": livestock_farm,
    "licensed_sales_subsidiary": licensed_sales_subsidiary,
    "renewed_permit": renewed_permit,
    "cold_store_other": cold_store_other,
    "printing_shop": printing_shop,
    "car_repair_paint": car_repair_paint,
    "licensed_night_shift": licensed_night_shift,
    "factory_commissioning": factory_commissioning,
    "irrigation_station": irrigation_station,
    "village_wood_workshop": village_wood_workshop,
    "logistics_tanker_yard": logistics_tanker_yard,
    "gas_station_night": gas_station_night,
}


# ---------------------------------------------------------------------------------------
# Harder workshops


def fuel_yard_near_station(pt: Planter, i: int) -> None:
    """An unlicensed fuel point in a yard a stone's throw from a licensed station, so that
    its tankers pass for the station's deliveries; some tankers stop in the station's lane,
    and many such yards keep no records of their own."""
    rng = pt.rng
    w = pt.w
    ok = w.permits.filter((pl.col("kind") == "fuel") & (pl.col("valid_to") > AS_OF))["uscc"]
    st = w.businesses.filter(
        (pl.col("industry_code") == "F5265") & pl.col("uscc").is_in(ok.implode())
    )
    yard = yard_of = None
    order = rng.permutation(st.height).tolist()
    for j in order:
        spid = int(st["place_id"][j])
        if not pt.far(spid, 300.0):
            continue
        yard = w.alloc.take_near(rng, spid, "town", 50.0, 140.0)
        if yard is not None:
            yard_of = spid
            break
    if yard is None:
        yard = pt.take("town")
    usccs: list[str] = []
    accounts: list[str] = []
    # Four in ten keep no records of their own at all (lights off a neighbour's line, a
    # pump on a generator): only the tankers' stops show.
    records = rng.random() < 0.6
    if records and rng.random() < 0.6:
        words, code, scope = (
            (("物流有限公司",), "G5431", "普通货物道路运输"),
            (("建材经营部",), "F5165", "建材、五金销售"),
            (("工程机械租赁有限公司",), "L7115", "工程机械设备租赁"),
        )[i % 3]
        usccs.append(
            pt.registration(
                yard,
                _name(pt, words),
                code,
                scope,
                AS_OF - timedelta(days=int(rng.integers(200, 2000))),
                coords=bool(rng.random() < 0.6),
            )
        )
    if records:
        accounts.append(
            pt.account(
                yard,
                person_names(rng, 1)[0],
                tariff="commercial",
                kva=float(rng.choice([16.0, 30.0, 50.0])),
                phase=3,
                profile="shop",
                level=float(rng.uniform(1.5, 5.0)),
                coords=bool(rng.random() < 0.5),
            )
        )
    n = int(rng.integers(2, 5))
    plates = pt.visits(yard, n, 0.6, ("3",), outside_share=0.0, dwell=(25, 50))
    plates = _fuel_plates(pt, yard, plates)
    if yard_of is not None and rng.random() < 0.6:
        # some tankers stop in the lane by the station and the fuel goes over by hose
        lane = w.alloc.take_near(rng, yard_of, "town", 10.0, 40.0)
        if lane is not None:
            more = pt.visits(lane, int(rng.integers(1, 3)), 0.6, ("3",), 0.0, dwell=(25, 50))
            plates = sorted(set(plates) | set(_fuel_plates(pt, lane, more)))
    tips = []
    if rng.random() < 0.25:
        tips.append(pt.tip(yard, "{a}加油站旁边的院子里常有油罐车卸油，私自对外卖柴油"))
    pt.truth(
        "workshop",
        "fuel_storage",
        "subtle",
        yard,
        signals=["fuel_tanker", "truck_stops", "no_permit"] + (["tip"] if tips else []),
        description="紧邻持证加油站的场院无成品油许可，多次夜间接收油罐车卸油，混同加油站正常配送。",
        usccs=usccs,
        accounts=accounts,
        plates=plates,
        tips=tips,
        kind="fuel_yard_near_station",
    )


HIDE_SCOPE = (
    "生物技术研发；植物提取物、饲料添加剂销售",
    "新材料技术研发；树脂、胶粘剂（不含危险化学品）销售",
    "环保技术服务；水处理剂（不含危险化学品）研发、销售",
    "电子材料研发；清洗剂、助剂销售",
)


def cover_name_weak_power(pt: Planter, i: int) -> None:
    """Chemistry under a 科技/生物/新材料 name that keeps its power small: a modest rise,
    mostly daytime, the meter in the legal representative's own name."""
    rng = pt.rng
    pid = pt.take(("park", "park", "town", "village")[i % 4])
    words = ("新材料科技有限公司", "生物科技有限公司", "新材料有限公司", "生物工程有限公司")
    name = _name(pt, words)
    est = AS_OF - timedelta(days=int(rng.integers(150, 900)))
    code = ("M7320", "M7520", "C2927", "F5179")[i % 4]
    uscc = pt.registration(pid, name, code, HIDE_SCOPE[i % 4], est, coords=bool(rng.random() < 0.5))
    rep = pt.w.businesses.filter(pl.col("uscc") == uscc)["legal_rep"][0]
    base = float(rng.uniform(6, 14))
    jd = pt.jump_day()
    aid = pt.account(
        pid,
        rep if rng.random() < 0.6 else name,
        tariff="commercial",
        kva=float(rng.choice([80.0, 100.0, 160.0])),
        phase=3,
        profile="shift1",
        level=base,
        profile2="workshop",
        level2=base * float(rng.uniform(1.2, 1.7)),
        day_ratio2=float(rng.uniform(0.75, 0.95)),
        switch_day=jd,
        uscc=None,
        coords=bool(rng.random() < 0.5),
    )
    plates: list[str] = []
    if rng.random() < 0.5:
        plates = pt.visits(pid, 1, False, ("8", "3"), outside_share=0.7, dwell=(20, 40))
    pt.truth(
        "workshop",
        "unlicensed_production",
        "subtle",
        pid,
        signals=["chemistry_name", "three_phase"] + (["truck_stops"] if plates else []),
        description="以科技/生物/新材料名义登记、经营范围含化工品，电表挂在法定代表人个人名下，"
        "用电小幅上升且以白天为主，偶有外地危化品车辆白天停靠。",
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        jump=jd,
        kind="cover_name_weak_power",
    )


def single_weak_signal(pt: Planter, i: int) -> None:
    """Workshops that leave one weak trace only, in turn: a household meter that doubles,
    one night stop at a remote spot, one stop at a sanctioned site, an idle house whose
    meter wakes to a few kWh, a cover-name registration with no meter of its own."""
    rng = pt.rng
    variant = i % 5
    accounts: list[str] = []
    usccs: list[str] = []
    props: list[int] = []
    cases: list[int] = []
    plates: list[str] = []
    jd = None
    if variant == 0:
        cat = "no_licence"
        pid = pt.take("village")
        jd = pt.jump_day()
        lv = float(rng.uniform(5, 8))
        accounts.append(
            pt.account(
                pid,
                person_names(rng, 1)[0],
                tariff="residential",
                kva=8.0,
                phase=1,
                profile="household",
                level=lv,
                profile2="household",
                level2=lv * float(rng.uniform(2.3, 3.0)),
                switch_day=jd,
                layout="daily",
                coords=bool(rng.random() < 0.5),
            )
        )
        sig = ["jump"]
        desc = "普通居民户日用电量翻倍（夜间加工，日电量看不出昼夜），无其他痕迹。"
    elif variant == 1:
        cat = "remote"
        pid = pt.take("remote")
        plates = pt.visits(pid, 1, True, ("8", "3"), outside_share=1.0, dwell=(30, 60))
        sig = ["night_truck_stops"]
        desc = "偏僻无登记无电表的地点，一次外地危化品车辆夜间停靠（自备发电机）。"
    elif variant == 2:
        cat = "recurrence"
        pid = pt.take("village")
        closed = date(2019, 6, 1) + timedelta(days=int(rng.integers(0, 600)))
        cases.append(pt.case(pid, case_name(rng), closed, coords=bool(rng.random() < 0.7)))
        plates = pt.visits(pid, 1, True, ("8",), outside_share=1.0, dwell=(30, 60))
        sig = ["recurrence", "night_truck_stops"]
        desc = "已查处点位无电表，仅一次外地车辆夜间停靠。"
    elif variant == 3:
        cat = "idle_premises"
        pid = pt.take("village")
        owner = person_names(rng, 1)[0]
        props.append(pt.idle(pid, "idle_house", owner, polygon=False))
        acc = dormant_account(rng, pt.w, pid, owner, "idle_house")
        jd = pt.jump_day()
        acc.update(
            profile2="workshop",
            level2=float(rng.uniform(0.1, 0.16)),
            day_ratio2=0.7,
            switch_day=jd,
        )
        pt.w.add("accounts", [acc])
        accounts.append(str(acc["account_id"]))
        sig = ["idle_premises", "dormant_wake"]
        desc = "闲置民房电表由不足1度升至每日两三度，无车辆无举报。"
    else:
        cat = "unlicensed_production"
        pid = pt.take("park" if rng.random() < 0.5 else "village")
        usccs.append(
            pt.registration(
                pid,
                _name(pt, ("生物科技有限公司", "新材料科技有限公司")),
                "M7320",
                HIDE_SCOPE[int(rng.integers(len(HIDE_SCOPE)))],
                AS_OF - timedelta(days=int(rng.integers(100, 700))),
            )
        )
        sig = ["chemistry_name"]
        desc = "以科技名义登记、经营范围含化工品的公司，用房东电表，无自有电表、无车辆痕迹。"
    pt.truth(
        "workshop",
        cat,
        "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=usccs,
        accounts=accounts,
        props=props,
        cases=cases,
        plates=plates,
        jump=jd,
        kind="single_weak_signal",
    )


def village_house_workshop(pt: Planter, i: int) -> None:
    """A workshop in a village house on household meters, often split across a
    neighbour's meter too; the trucks wait on the village road, not at the door."""
    rng = pt.rng
    w = pt.w
    pid = pt.take("village")
    jd = pt.jump_day()
    accounts = []
    houses = [pid]
    if rng.random() < 0.4:
        nb = w.alloc.take_near(rng, pid, "village", 10.0, 60.0)
        if nb is not None:
            houses.append(nb)
    for h in houses:
        lv = float(rng.uniform(5, 8))
        dr = float(rng.uniform(0.3, 0.6))
        daily2 = lv * float(rng.uniform(2.5, 4.0))
        accounts.append(
            pt.account(
                h,
                person_names(rng, 1)[0],
                tariff="residential",
                kva=float(rng.choice([8.0, 10.0, 16.0])),
                phase=int(rng.choice([1, 3])),
                profile="household",
                level=lv,
                profile2="workshop",
                level2=daily2 / (8 + 16 * dr),
                day_ratio2=dr,
                switch_day=jd,
                layout="daily",
                coords=bool(rng.random() < 0.3),
            )
        )
    road = w.alloc.take_near(rng, pid, "village", 40.0, 120.0) or pid
    plates = pt.visits(road, int(rng.integers(1, 3)), True, ("8", "3"), 0.8, dwell=(30, 70))
    pt.truth(
        "workshop",
        "no_licence",
        "subtle",
        pid,
        signals=["no_registration", "jump", "night_truck_stops"],
        description="村内民房用居民生活电表（有时分摊到邻居电表）办加工点，日电量升至原来三四倍，"
        "夜间外地车辆停在村道上而非门口，电表多无坐标。",
        accounts=accounts,
        plates=plates,
        jump=jd,
        kind="village_house_workshop",
    )


HARD: dict[str, Callable[[Planter, int], None]] = {
    "fuel_yard_near_station": fuel_yard_near_station,
    "cover_name_weak_power": cover_name_weak_power,
    "single_weak_signal": single_weak_signal,
    "village_house_workshop": village_house_workshop,
}


def plant_lookalikes(pt: Planter) -> None:
    for kind, n in pt.w.knobs.lookalikes:
        for i in range(n):
            LOOKALIKES[kind](pt, i)


def plant_hard(pt: Planter) -> None:
    for kind, n in pt.w.knobs.hard:
        for i in range(n):
            HARD[kind](pt, i)
