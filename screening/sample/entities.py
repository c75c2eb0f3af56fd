"""The county's ordinary population: businesses, permits, meters, households, hazmat
vehicles, idle premises, earlier cases and public tips.

Records are kept in internal frames (:class:`World`) that carry hidden columns the bundle
never shows (place, load profile, protection from the mess step); :mod:`.writer` drops them.
Bulk rows are drawn with numpy in one go; only per-entity string formatting is Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from ..ingest.uscc import check_char, make_codes
from .config import AS_OF, REGION6, SizePreset
from .geography import County, PlaceAllocator
from .industries import INDUSTRIES, PERMIT_SCOPE, PRODUCT_CARGO, Industry
from .names import brands, person_names
from .styles import DEFAULT, Knobs

Str, I64, F64, Date, Bool = pl.String, pl.Int64, pl.Float64, pl.Date, pl.Boolean

BUSINESS = {
    "biz": I64,
    "uscc": Str,
    "name": Str,
    "place_id": I64,
    "suffix": Str,
    "industry_code": Str,
    "scope": Str,
    "status": Str,
    "established": Date,
    "legal_rep": Str,
    "coords": Bool,
    "protected": Bool,
}
PERMIT = {
    "permit_id": Str,
    "uscc": Str,
    "kind": Str,
    "scope": Str,
    "valid_from": Date,
    "valid_to": Date,
    "place_id": I64,
    "protected": Bool,
}
ACCOUNT = {
    "account_id": Str,
    "name": Str,
    "place_id": I64,
    "suffix": Str,
    "tariff": Str,
    "capacity_kva": F64,
    "phase": I64,
    "uscc": Str,
    "opened": Date,
    "layout": Str,
    "profile": Str,
    "level": F64,
    "day_ratio": F64,
    "profile2": Str,
    "level2": F64,
    "day_ratio2": F64,
    "switch_day": I64,
    "first_day": I64,
    "coords": Bool,
    "protected": Bool,
}
IDLE = {
    "key": I64,
    "kind": Str,
    "place_id": I64,
    "owner": Str,
    "since": Date,
    "polygon": Bool,
    "protected": Bool,
}
CASE = {
    "key": I64,
    "name": Str,
    "place_id": I64,
    "closed_on": Date,
    "measures": Str,
    "coords": Bool,
    "protected": Bool,
}
TIP = {
    "key": I64,
    "received": Date,
    "text": Str,
    "place_id": I64,
    "address": Bool,
    "coords": Bool,
    "protected": Bool,
    "area": Str,
}  # area: a vague tip's coarse address
VEHICLE = {
    "plate": Str,
    "carrier": Str,
    "cargo": Str,
    "cargo_class": Str,
    "capacity_t": F64,
    "depot": I64,
    "home": I64,
    "registered": Bool,
}

KVA_SIZES = np.array(
    [
        4,
        6,
        8,
        10,
        16,
        20,
        30,
        50,
        80,
        100,
        125,
        160,
        200,
        250,
        315,
        400,
        500,
        630,
        800,
        1000,
        1250,
        1600,
        2000,
        2500,
        3150,
        4000,
        5000,
    ],
    dtype=float,
)


@dataclass
class Visit:
    """A truck stop the routine would not produce: a planted delivery or a look-alike's."""

    plate: str
    place_id: int
    day: int  # index into the track window
    hour: float  # local arrival hour (may exceed 24 for after-midnight visits)
    dwell_min: float


@dataclass
class World:
    """Everything generated so far. Frames are internal; ids are final unless noted."""

    preset: SizePreset
    county: County
    alloc: PlaceAllocator
    businesses: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BUSINESS))
    permits: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PERMIT))
    accounts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ACCOUNT))
    idle: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=IDLE))
    cases: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CASE))
    tips: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TIP))
    vehicles: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VEHICLE))
    visits: list[Visit] = field(default_factory=list)
    truth: list[dict[str, object]] = field(default_factory=list)
    used_accounts: set[str] = field(default_factory=set)
    next_key: int = 0
    calendar: Any = None  # load.Calendar, shared by the load model and the scenarios
    knobs: Knobs = DEFAULT  # this world's habits (styles.py); DEFAULT is the classic county
    ramps: dict[str, int] = field(default_factory=dict)  # account -> days its switch ramps
    home_share: dict[str, float] = field(default_factory=dict)  # plate -> nights at home
    account_extra: pl.DataFrame | None = None  # per-account load habits of a styled world
    style_rng: Any = None  # a styled world's own stream (blanks, geocodes, habits)

    # -- small helpers used by the scenarios --------------------------------------------
    def key(self) -> int:
        self.next_key += 1
        return self.next_key

    def account_ids(self, rng: np.random.Generator, n: int) -> list[str]:
        """Ten-digit State Grid style numbers, unique and in random order."""
        out: list[str] = []
        while len(out) < n:
            for v in rng.integers(3_400_000_000, 3_499_999_999, size=n - len(out)).tolist():
                s = str(v)
                if s not in self.used_accounts:
                    self.used_accounts.add(s)
                    out.append(s)
        return out

    def add(self, table: str, rows: list[dict[str, object]]) -> None:
        """Append scenario rows to a table; missing columns take their defaults."""
        if not rows:
            return
        cur: pl.DataFrame = getattr(self, table)
        schema = dict(cur.schema)
        defaults = {
            "protected": True,
            "coords": True,
            "suffix": "",
            "polygon": False,
            "address": True,
            "registered": True,
        }
        full = [{c: r.get(c, defaults.get(c)) for c in schema} for r in rows]
        setattr(self, table, pl.concat([cur, pl.DataFrame(full, schema=schema, orient="row")]))

    def place(self, place_id: int) -> dict[str, object]:
        return self.county.places.row(place_id, named=True)


def _dates(
    rng: np.random.Generator, n: int, start: date, end: date, recent_scale: float | None = None
) -> list[date]:
    span = (end - start).days
    if recent_scale:
        back = rng.exponential(recent_scale, size=n)
        back = np.where(back > span, rng.uniform(0, span, size=n), back)
    else:
        back = rng.uniform(0, span, size=n)
    return [end - timedelta(days=int(b)) for b in back]


def snap_kva(kva: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(KVA_SIZES, kva)
    return KVA_SIZES[np.minimum(idx, KVA_SIZES.size - 1)]


def individual_codes(rng: np.random.Generator, n: int) -> list[str]:
    """个体工商户 codes start 92; make_codes gives 91, so swap the type and re-check."""
    out = []
    for c in make_codes(rng, n, REGION6):
        first17 = "92" + c[2:17]
        out.append(first17 + check_char(first17))
    return out


def company_name(
    rng: np.random.Generator, ind: Industry, brand: str, township: str, individual: bool
) -> str:
    word = ind.words[int(rng.integers(len(ind.words)))]
    if individual:
        head = ("埇桥区" + township) if rng.random() < 0.6 else "埇桥区"
        return head + brand + word.replace("有限公司", "")
    head = ("宿州市", "埇桥区", "安徽", "宿州")[int(rng.choice(4, p=[0.5, 0.25, 0.15, 0.1]))]
    if not word.endswith(("有限公司", "合作社")):
        word += "有限公司" if rng.random() < 0.6 else ""
    return head + brand + word


# ---------------------------------------------------------------------------------------


def make_businesses(rng: np.random.Generator, world: World) -> None:
    preset = world.preset
    n = preset.businesses
    weights = np.array([i.weight for i in INDUSTRIES])
    tmpl = rng.choice(len(INDUSTRIES), size=n, p=weights / weights.sum())
    # A county needs a few of each licensed kind whatever the draw: plants, traders,
    # stations, hazmat carriers and an oil depot's worth of tankers.
    floor = {
        "C2614": 3,
        "C2611": 2,
        "C2612": 2,
        "C2641": 2,
        "C2661": 2,
        "F5169": 3,
        "F5265": 6,
        "G5435": 3,
        "C3360": 3,
        "C1411": 3,
        "C1392": 3,
        "G5930": 3,
        "A0112": 4,
        "B1019": 2,
        "G5941": 1,
    }
    codes = [i.code for i in INDUSTRIES]
    pos = 0
    for code, k in floor.items():
        k = max(k, int(k * n / 2000))
        tmpl[pos : pos + k] = codes.index(code)
        pos += k
    tmpl = rng.permutation(tmpl)
    inds = [INDUSTRIES[t] for t in tmpl.tolist()]

    status = rng.choice(
        ["存续", "在业", "停业", "吊销", "注销"], size=n, p=[0.70, 0.16, 0.03, 0.05, 0.06]
    )
    licensed = np.array([i.permit is not None for i in inds])
    status[licensed] = "存续"
    place_ids = np.zeros(n, dtype=np.int64)
    for zone in ("park", "chempark", "town", "village", "remote"):
        m = np.array([i.zone == zone for i in inds])
        if m.any():
            place_ids[m] = world.alloc.take(rng, zone, int(m.sum()))
    places = world.county.places
    townships = places["township"].to_numpy()[place_ids]
    indiv = rng.random(n) < np.array([i.individual for i in inds])
    codes91 = make_codes(rng, n, REGION6)
    codes92 = individual_codes(rng, n)
    uscc = [c92 if iv else c91 for c91, c92, iv in zip(codes91, codes92, indiv, strict=True)]
    brand = brands(rng, n)
    names = [
        company_name(rng, ind, b, tw, bool(iv))
        for ind, b, tw, iv in zip(inds, brand, townships, indiv, strict=True)
    ]
    est = _dates(rng, n, date(1998, 1, 1), date(2021, 5, 31), recent_scale=2200)
    reps = person_names(rng, n)
    world.businesses = pl.DataFrame(
        {
            "biz": np.arange(n, dtype=np.int64),
            "uscc": uscc,
            "name": names,
            "place_id": place_ids,
            "suffix": [""] * n,
            "industry_code": [i.code for i in inds],
            "scope": [i.scope for i in inds],
            "status": status,
            "established": est,
            "legal_rep": reps,
            "coords": rng.random(n) >= world.knobs.tune.reg_no_coords,
            "protected": np.zeros(n, dtype=bool),
        },
        schema=BUSINESS,
    )
    world.next_key = n + 1
    _make_permits(rng, world, inds)
    _make_business_accounts(rng, world, inds, indiv)


def _permit_id(rng: np.random.Generator, kind: str, year: int) -> str:
    k = int(rng.integers(1, 9999))
    if kind == "production":
        return f"(皖)WH安许证字[{year}]{k:04d}"
    if kind == "fuel":
        return f"油零售证书第34130{int(rng.integers(10000, 99999))}号"
    word = {"operation": "经", "use": "使", "storage": "储"}[kind]
    return f"皖宿危化{word}字〔{year}〕{k:06d}"


def _make_permits(rng: np.random.Generator, world: World, inds: list[Industry]) -> None:
    b = world.businesses
    rows = []
    status = b["status"].to_list()
    for i, ind in enumerate(inds):
        if ind.permit is None or (ind.permit == "use" and rng.random() < 0.4):
            continue
        if ind.permit == "operation" and rng.random() < 0.3:
            continue  # traders of non-hazardous chemicals need no permit
        vf = AS_OF - timedelta(days=int(rng.integers(60, 1000)))
        years = 5 if ind.permit == "fuel" else 3
        vt = vf + timedelta(days=365 * years - 1)
        if vt < AS_OF + timedelta(days=20):  # a renewal: the register keeps the current one
            vf, vt = vt + timedelta(days=1), vt + timedelta(days=365 * years)
        if ind.permit != "fuel" and rng.random() < 0.08:
            # The business closed and let its permit lapse: an expired permit alone is
            # no lead, there is no meter and no activity behind it.
            vt = AS_OF - timedelta(days=int(rng.integers(90, 700)))
            vf = vt - timedelta(days=365 * years - 1)
            status[i] = ("注销", "停业", "吊销")[int(rng.integers(3))]
        scope = PERMIT_SCOPE[ind.permit].get(ind.code, PERMIT_SCOPE[ind.permit].get("*", ""))
        rows.append(
            {
                "permit_id": _permit_id(rng, ind.permit, vf.year),
                "uscc": b["uscc"][i],
                "kind": ind.permit,
                "scope": scope,
                "valid_from": vf,
                "valid_to": vt,
                "place_id": int(b["place_id"][i]),
                "protected": False,
            }
        )
    world.businesses = b.with_columns(status=pl.Series(status, dtype=pl.String))
    world.add("permits", rows)
    world.permits = world.permits.with_columns(pl.col("protected").fill_null(False))


def _account_rows(
    rng: np.random.Generator, world: World, idx: np.ndarray, inds: list[Industry], indiv: np.ndarray
) -> pl.DataFrame:
    b = world.businesses
    n = idx.size
    sel = [inds[i] for i in idx.tolist()]
    tune = world.knobs.tune
    level = np.array([s.level for s in sel]) * rng.lognormal(0, world.knobs.level_sigma, size=n)
    kva = snap_kva(level * rng.uniform(1.6, 3.0, size=n))
    p3 = (rng.random(n) < np.array([s.three_phase for s in sel])) | (kva >= 50)
    kva = np.where(~p3 & (kva > 16), 16.0, kva)
    tariff = np.array([s.tariff for s in sel], dtype=object)
    tariff = np.where((tariff == "industrial") & (kva < 315), "commercial", tariff)
    zone_park = np.array([s.zone in ("park", "chempark") for s in sel])
    tariff = np.where((tariff == "commercial") & (kva >= 315) & zone_park, "industrial", tariff)
    names = b["name"].to_numpy()[idx]
    reps = b["legal_rep"].to_numpy()[idx]
    use_rep = indiv[idx] & (rng.random(n) < 0.5)
    acc_name = np.where(use_rep, reps, names)
    has_uscc = rng.random(n) < np.where(indiv[idx], 0.45, tune.acct_uscc + 0.05)
    est = b["established"].to_numpy()[idx].astype("datetime64[D]")
    opened = est + rng.integers(10, 200, size=n).astype("timedelta64[D]")
    opened = np.maximum(opened, np.datetime64("2000-03-01"))
    start = np.datetime64(world.preset.start)
    first_day = np.maximum((opened - start).astype(int), 0)
    return pl.DataFrame(
        {
            "account_id": world.account_ids(rng, n),
            "name": acc_name.tolist(),
            "place_id": b["place_id"].to_numpy()[idx],
            "suffix": [""] * n,
            "tariff": tariff.astype(str).tolist(),
            "capacity_kva": kva,
            "phase": np.where(p3, 3, 1).astype(np.int64),
            "uscc": np.where(has_uscc, b["uscc"].to_numpy()[idx], None).tolist(),
            "opened": opened.astype("datetime64[D]"),
            "layout": ["hourly"] * n,
            "profile": [s.profile for s in sel],
            "level": np.round(level, 3),
            "day_ratio": np.full(n, np.nan),
            "profile2": [None] * n,
            "level2": np.full(n, np.nan),
            "day_ratio2": np.full(n, np.nan),
            "switch_day": np.full(n, world.preset.days, dtype=np.int64),
            "first_day": first_day.astype(np.int64),
            "coords": rng.random(n) >= tune.acct_no_coords,
            "protected": np.zeros(n, dtype=bool),
        },
        schema=ACCOUNT,
    )


def _make_business_accounts(
    rng: np.random.Generator, world: World, inds: list[Industry], indiv: np.ndarray
) -> None:
    b = world.businesses
    active = np.isin(b["status"].to_numpy(), ["存续", "在业"])
    always = np.array(
        [
            i.zone in ("park", "chempark", "remote")
            or i.permit is not None
            or i.profile in ("cold_store", "pump", "farm", "bakery", "tofu")
            for i in inds
        ]
    )
    # Offices, shops and contractors often share a building meter or register at home.
    share = world.preset.meter_share
    has = active & (always | (rng.random(b.height) < share * 0.75))
    idx = np.flatnonzero(has)
    world.accounts = pl.concat([world.accounts, _account_rows(rng, world, idx, inds, indiv)])


def make_households(rng: np.random.Generator, world: World) -> None:
    n = world.preset.households
    tune = world.knobs.tune
    pids = world.alloc.take(rng, "village", n)
    p3 = rng.random(n) < tune.household_three_phase
    kva = np.where(p3, rng.choice([10.0, 16.0, 20.0], size=n), rng.choice([4.0, 6.0, 8.0], size=n))
    lo, hi = tune.household_kwh
    opened = _dates(rng, n, date(1995, 1, 1), date(2021, 6, 1), recent_scale=5000)
    start = world.preset.start
    df = pl.DataFrame(
        {
            "account_id": world.account_ids(rng, n),
            "name": person_names(rng, n),
            "place_id": np.array(pids, dtype=np.int64),
            "suffix": [""] * n,
            "tariff": ["residential"] * n,
            "capacity_kva": kva,
            "phase": np.where(p3, 3, 1).astype(np.int64),
            "uscc": [None] * n,
            "opened": opened,
            "layout": ["daily"] * n,
            "profile": ["household"] * n,
            "level": np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)), 3),
            "day_ratio": np.full(n, np.nan),
            "profile2": [None] * n,
            "level2": np.full(n, np.nan),
            "day_ratio2": np.full(n, np.nan),
            "switch_day": np.full(n, world.preset.days, dtype=np.int64),
            "first_day": np.array([max((o - start).days, 0) for o in opened], dtype=np.int64),
            "coords": rng.random(n) >= tune.acct_no_coords,
            "protected": np.zeros(n, dtype=bool),
        },
        schema=ACCOUNT,
    )
    world.accounts = pl.concat([world.accounts, df])


# ---------------------------------------------------------------------------------------

IDLE_KINDS = (
    "idle_factory",
    "abandoned_factory",
    "closed_plant",
    "abandoned_farm",
    "idle_house",
    "quarry",
)
_IDLE_W = np.array([0.25, 0.15, 0.12, 0.15, 0.23, 0.10])
_IDLE_ZONE = {
    "idle_factory": "park",
    "abandoned_factory": "village",
    "closed_plant": "park",
    "abandoned_farm": "remote",
    "idle_house": "village",
    "quarry": "remote",
}


def idle_owner(rng: np.random.Generator, kind: str, village: str | None, township: str) -> str:
    if kind == "idle_house":
        return person_names(rng, 1)[0]
    if kind in ("abandoned_farm", "quarry") or (kind == "abandoned_factory" and village):
        return f"{village or township}村民委员会".replace("村村", "村")
    return (
        "宿州市"
        + brands(rng, 1)[0]
        + ("实业有限公司", "工贸有限公司", "制品有限公司")[int(rng.integers(3))]
    )


def make_idle(rng: np.random.Generator, world: World, n: int) -> None:
    kinds = rng.choice(IDLE_KINDS, size=n, p=_IDLE_W / _IDLE_W.sum())
    rows = []
    acc_rows = []
    for kind in kinds.tolist():
        pid = world.alloc.take(rng, _IDLE_ZONE[kind], 1)[0]
        p = world.place(pid)
        owner = idle_owner(rng, kind, p["village"], p["township"])
        since = _dates(rng, 1, date(2014, 1, 1), date(2021, 3, 31))[0]
        rows.append(
            {
                "key": world.key(),
                "kind": kind,
                "place_id": pid,
                "owner": owner,
                "since": since,
                "polygon": kind != "idle_house" and rng.random() < 0.5,
                "protected": False,
            }
        )
        if rng.random() < 0.5:  # a meter left connected: security lights, a pump, nothing
            acc_rows.append(dormant_account(rng, world, pid, owner, kind))
    world.add("idle", rows)
    world.add("accounts", [dict(r, protected=False) for r in acc_rows])


def dormant_account(
    rng: np.random.Generator, world: World, place_id: int, owner: str, kind: str
) -> dict[str, object]:
    """A meter on premises nobody uses: near-zero standing load."""
    house = kind == "idle_house"
    return {
        "account_id": world.account_ids(rng, 1)[0],
        "name": owner,
        "place_id": place_id,
        "tariff": "residential"
        if house
        else ("agricultural" if kind == "abandoned_farm" else "commercial"),
        "capacity_kva": 6.0 if house else float(rng.choice([50.0, 80.0, 100.0, 200.0, 315.0])),
        "phase": 1 if house else 3,
        "uscc": None,
        "opened": _dates(rng, 1, date(2003, 1, 1), date(2016, 1, 1))[0],
        "layout": "daily" if house else "hourly",
        "profile": "household" if house else "dormant",
        "level": float(rng.uniform(0.2, 0.8)) if house else float(rng.uniform(0.02, 0.4)),
        "switch_day": world.preset.days,
        "first_day": 0,
        "coords": bool(rng.random() >= world.knobs.tune.acct_no_coords),
    }


MEASURES = (
    "取缔关闭，拆除生产设备，没收原料及产品",
    "责令停产停业，查封扣押生产设备，罚款5万元",
    "断电断水，拆除反应釜等设施，移交公安机关处理",
    "依法取缔，清理危险化学品，罚款10万元",
    "责令关闭，拆除设备，对出租厂房业主立案处罚",
)


def make_cases(rng: np.random.Generator, world: World, n: int) -> None:
    rows, acc_rows = [], []
    for _ in range(n):
        zone = rng.choice(["village", "remote", "park"], p=[0.5, 0.2, 0.3])
        pid = world.alloc.take(rng, str(zone), 1)[0]
        name = case_name(rng)
        rows.append(
            {
                "key": world.key(),
                "name": name,
                "place_id": pid,
                "closed_on": _dates(rng, 1, date(2019, 1, 1), date(2021, 6, 30))[0],
                "measures": MEASURES[int(rng.integers(len(MEASURES)))],
                "coords": bool(rng.random() < world.knobs.case_coords),
                "protected": False,
            }
        )
        if rng.random() < 0.5:
            acc = dormant_account(rng, world, pid, name.split("非法")[0], "idle_factory")
            acc["level"] = float(rng.uniform(0.0, 0.05))
            acc_rows.append(acc)
    world.add("cases", rows)
    world.add("accounts", [dict(r, protected=False) for r in acc_rows])


def case_name(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.4:
        return person_names(rng, 1)[0] + "非法生产点"
    if r < 0.7:
        return (
            "宿州市"
            + brands(rng, 1)[0]
            + ("化工科技有限公司", "新材料有限公司")[int(rng.integers(2))]
        )
    return (
        person_names(rng, 1)[0]
        + ("小作坊", "黑窝点（废机油提炼）", "非法储存汽柴油点")[int(rng.integers(3))]
    )


# ---------------------------------------------------------------------------------------

PROVINCES_OUT = ("豫A", "豫N", "苏C", "苏H", "鲁Q", "鲁H", "冀E", "皖C", "皖F", "浙B")
CARRIER_CARGO = (
    ("柴油", "3"),
    ("汽油", "3"),
    ("3", "3"),
    ("硫酸", "8"),
    ("液碱", "8"),
    ("8", "8"),
    ("盐酸", "8"),
    ("液化石油气", "2"),
    ("甲醇", "3"),
    ("2", "2"),
)
_CARGO_W = np.array([0.18, 0.14, 0.08, 0.12, 0.1, 0.08, 0.08, 0.08, 0.08, 0.06])


def plate_chars(rng: np.random.Generator, n: int) -> list[str]:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    out = []
    for _ in range(n):
        out.append(
            letters[int(rng.integers(len(letters)))]
            + "".join(str(int(d)) for d in rng.integers(0, 10, size=4))
        )
    return out


def make_vehicles(rng: np.random.Generator, world: World) -> None:
    """Hazmat fleets: transport firms (tankers of fuel, acid, gas) and the chemical plants'
    own trucks, each parked at its carrier's premises; plus plates from elsewhere."""
    b = world.businesses.filter(pl.col("status").is_in(["存续", "在业"]))
    carriers = b.filter(pl.col("industry_code") == "G5435")
    plants = b.filter(pl.col("industry_code").is_in(list(PRODUCT_CARGO)))
    n = world.preset.vehicles
    n_plant = min(plants.height * 2, n // 3)
    n_carrier = n - n_plant
    rows = []
    used: set[str] = set()
    chars = iter(plate_chars(rng, 4 * n + 400))

    def plate(prefix: str) -> str:
        while True:
            p = f"{prefix}·{next(chars)}"
            if p not in used:
                used.add(p)
                return p

    for i in range(n_carrier):
        c = carriers.row(i % carriers.height, named=True)
        cargo, cls = CARRIER_CARGO[int(rng.choice(len(CARRIER_CARGO), p=_CARGO_W / _CARGO_W.sum()))]
        rows.append(
            {
                "plate": plate("皖L"),
                "carrier": c["name"],
                "cargo": cargo,
                "cargo_class": cls,
                "capacity_t": float(rng.choice([10, 15, 18, 25, 30, 32])),
                "depot": c["place_id"],
                "home": None,
                "registered": True,
            }
        )
    for i in range(n_plant):
        c = plants.row(i % plants.height, named=True)
        cargo, cls = PRODUCT_CARGO[c["industry_code"]]
        rows.append(
            {
                "plate": plate("皖L"),
                "carrier": c["name"],
                "cargo": cargo,
                "cargo_class": cls,
                "capacity_t": float(rng.choice([10, 15, 20, 25, 30])),
                "depot": c["place_id"],
                "home": None,
                "registered": True,
            }
        )
    for _ in range(world.preset.outside_plates):
        cargo, cls = CARRIER_CARGO[int(rng.choice(len(CARRIER_CARGO), p=_CARGO_W / _CARGO_W.sum()))]
        prefix = PROVINCES_OUT[int(rng.integers(len(PROVINCES_OUT)))]
        rows.append(
            {
                "plate": plate(prefix),
                "carrier": None,
                "cargo": cargo,
                "cargo_class": cls,
                "capacity_t": None,
                "depot": None,
                "home": None,
                "registered": False,
            }
        )
    world.vehicles = pl.DataFrame(rows, schema=VEHICLE, orient="row")


# ---------------------------------------------------------------------------------------

INNOCENT_TIPS = (
    "{a}凌晨两三点就有机器响，还有烟味，怀疑是小作坊",
    "{a}附近晚上一直有灯，机器声音很大，影响休息",
    "{a}有股刺鼻气味，不知道在生产什么",
    "{a}院子里停了好几辆罐车，晚上不走",
    "{a}冷库的压缩机整夜响，噪音扰民",
)
VAGUE_TIPS = (
    "听说{t}有人偷偷搞化工，具体位置不清楚",
    "{t}一带晚上有刺鼻气味，希望查一查",
    "有人在{t}附近倾倒不明液体，时间大概在夜里",
    "{t}某村有外地人租房子，经常半夜有车进出",
)


def make_background_tips(rng: np.random.Generator, world: World, n: int) -> None:
    """Reports about innocent places (bakeries, cold stores, depots) and vague ones."""
    accs = world.accounts.filter(
        pl.col("profile").is_in(["bakery", "tofu", "cold_store", "process24", "farm"])
    )
    rows = []
    start = AS_OF - timedelta(days=240)
    for _ in range(n):
        received = _dates(rng, 1, start, AS_OF - timedelta(days=2))[0]
        if rng.random() < 0.65 and accs.height:
            pid = int(accs["place_id"][int(rng.integers(accs.height))])
            text = INNOCENT_TIPS[int(rng.integers(len(INNOCENT_TIPS)))]
            rows.append(
                {
                    "key": world.key(),
                    "received": received,
                    "text": text,
                    "place_id": pid,
                    "address": True,
                    "coords": bool(rng.random() < 0.5),
                    "protected": False,
                }
            )
        else:
            tw = world.county.townships[int(rng.integers(len(world.county.townships)))].name
            text = VAGUE_TIPS[int(rng.integers(len(VAGUE_TIPS)))].replace("{t}", tw)
            vil = world.county.villages.filter(pl.col("township") == tw)["village"]
            area = (
                "埇桥区" + tw
                if rng.random() < 0.5 or vil.len() == 0
                else tw + vil[int(rng.integers(vil.len()))] + "附近"
            )
            rows.append(
                {
                    "key": world.key(),
                    "received": received,
                    "text": text,
                    "place_id": None,
                    "address": False,
                    "coords": False,
                    "protected": False,
                    "area": area,
                }
            )
    world.add("tips", rows)
