"""Planted hidden workshops (one builder per campaign category) and honest look-alikes.

Each builder adds ordinary-looking records to the world (a registration, a meter with a
load switch, a listed idle property, a truck visit, a tip) and returns nothing but a truth
row, kept outside the bundle. Strong cases show several signals clearly; subtle ones show
one or two weakly, the way a careful operator would leave them. Look-alikes are innocent
records chosen (or made) because they share a workshop's traits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from ..ingest.uscc import make_codes
from .address import canonical
from .config import AS_OF, LOOKALIKE_CATEGORIES, REGION6, WORKSHOP_CATEGORIES
from .entities import Visit, World, case_name, dormant_account
from .names import brands, person_names

HIDING_WORDS = (
    "新材料科技有限公司",
    "生物科技有限公司",
    "科技有限公司",
    "新能源科技有限公司",
    "环保科技有限公司",
)
HIDING_SCOPE = (
    "新材料技术研发；化工产品（不含危险化学品）销售；塑料助剂生产销售",
    "生物技术研发；饲料添加剂、植物提取物生产销售",
    "环保技术开发；水处理剂（不含危险化学品）生产销售",
    "电子材料技术研发、技术服务；金属材料销售",
    "新能源技术研发；润滑油、工业油品调配销售",
)


class Planter:
    def __init__(self, rng: np.random.Generator, world: World) -> None:
        self.rng = rng
        self.w = world
        self.p = world.preset
        self.D = world.preset.days
        self.T = world.preset.track_days
        self.counter = 0
        v = world.vehicles
        fuel = pl.col("cargo").is_in(["柴油", "汽油"])
        self.fuel_plates = v.filter(pl.col("registered") & fuel)["plate"].to_list()
        # Chemical deliveries come from chemical tankers; fuel tankers only serve fuel.
        self.plates_by_class = {
            c: v.filter(pl.col("registered") & (pl.col("cargo_class") == c) & ~fuel)[
                "plate"
            ].to_list()
            for c in ("2", "3", "5", "8")
        }
        self.sites: list[tuple[float, float]] = []
        self.outside = v.filter(~pl.col("registered"))["plate"].to_list()

    # -- primitives -------------------------------------------------------------------
    def pick(self, seq: list, k: int = 1) -> list:
        idx = self.rng.choice(len(seq), size=min(k, len(seq)), replace=False)
        return [seq[i] for i in idx.tolist()]

    def take(self, zone: str, min_m: float = 300.0) -> int:
        """A free place at least ``min_m`` from every truth site so far: two planted or
        look-alike sites must not merge into one place in the pipeline's eyes. Crowded
        zones (a small chemical park) relax the distance rather than fail."""
        for k in range(400):
            pid = self.w.alloc.take(self.rng, zone, 1)[0]
            if self.far(pid, min_m * 0.75 ** (k // 60)):
                return pid
        return pid

    def pick_far(self, df: pl.DataFrame, min_m: float = 300.0) -> dict | None:
        """A random row of ``df`` whose place_id is far from the truth sites so far."""
        order = self.rng.permutation(df.height).tolist()
        for i in order:
            row = df.row(i, named=True)
            if self.far(row["place_id"], min_m):
                return row
        return None

    def far(self, pid: int, min_m: float = 400.0) -> bool:
        p = self.w.place(pid)
        return all((p["x"] - x) ** 2 + (p["y"] - y) ** 2 >= min_m**2 for x, y in self.sites)

    def jump_day(self) -> int:
        lo = max(21, self.D // 3)
        hi = max(lo + 1, self.D - max(self.T, 7) - 3)
        return int(self.rng.integers(lo, hi))

    def day_date(self, d: int) -> date:
        return self.p.start + timedelta(days=d)

    def visits(
        self,
        place_id: int,
        n: int,
        night: bool | float,
        classes: tuple[str, ...],
        outside_share: float = 0.3,
        dwell: tuple[float, float] = (30, 100),
    ) -> list[str]:
        """Truck stops at a place in the track window; returns the plates used."""
        plates = []
        for i in range(n):
            use_out = self.outside and self.rng.random() < outside_share
            homes = set(self.w.vehicles.filter(pl.col("home").is_not_null())["plate"].to_list())
            pool = (
                self.outside
                if use_out
                else [p for c in classes for p in self.plates_by_class.get(c, []) if p not in homes]
            )
            if not pool:
                pool = self.outside
            plate = self.pick(pool)[0]
            is_night = self.rng.random() < night if isinstance(night, float) else night
            hour = float(self.rng.uniform(22, 28.5) if is_night else self.rng.uniform(9, 16))
            hour = hour - 24 if hour >= 24 else hour  # early morning of the same day
            day = int(self.rng.integers(0, self.T)) if n > self.T else i % self.T
            if day == self.T - 1 and hour >= 22:
                hour = min(hour, 22.4)  # the window closes at midnight
            self.w.visits.append(Visit(plate, place_id, day, hour, float(self.rng.uniform(*dwell))))
            plates.append(plate)
        return sorted(set(plates))

    def registration(
        self,
        place_id: int,
        name: str,
        code: str,
        scope: str,
        established: date,
        coords: bool = True,
        suffix: str = "",
        status: str = "存续",
        individual: bool = False,
        legal_rep: str | None = None,
    ) -> str:
        """A registration; ``individual`` gives a 个体工商户 code (92...), ``legal_rep`` the
        same person as another entity's (a subsidiary)."""
        if individual:
            from .entities import individual_codes

            uscc = individual_codes(self.rng, 1)[0]
        else:
            uscc = make_codes(self.rng, 1, REGION6)[0]
        rep = person_names(self.rng, 1)[0]
        self.w.add(
            "businesses",
            [
                {
                    "biz": self.w.key(),
                    "uscc": uscc,
                    "name": name,
                    "place_id": place_id,
                    "suffix": suffix,
                    "industry_code": code,
                    "scope": scope,
                    "status": status,
                    "established": established,
                    "legal_rep": legal_rep or rep,
                    "coords": coords,
                }
            ],
        )
        return uscc

    def account(
        self,
        place_id: int,
        name: str,
        *,
        tariff: str,
        kva: float,
        phase: int,
        profile: str,
        level: float,
        profile2: str | None = None,
        level2: float | None = None,
        day_ratio: float | None = None,
        day_ratio2: float | None = None,
        switch_day: int | None = None,
        uscc: str | None = None,
        layout: str = "hourly",
        coords: bool = True,
        opened: date | None = None,
        suffix: str = "",
    ) -> str:
        aid = self.w.account_ids(self.rng, 1)[0]
        opened = opened or (self.p.start - timedelta(days=int(self.rng.integers(200, 3000))))
        self.w.add(
            "accounts",
            [
                {
                    "account_id": aid,
                    "name": name,
                    "place_id": place_id,
                    "suffix": suffix,
                    "tariff": tariff,
                    "capacity_kva": kva,
                    "phase": phase,
                    "uscc": uscc,
                    "opened": opened,
                    "layout": layout,
                    "profile": profile,
                    "level": level,
                    "day_ratio": day_ratio,
                    "profile2": profile2,
                    "level2": level2,
                    "day_ratio2": day_ratio2,
                    "switch_day": self.D if switch_day is None else switch_day,
                    "first_day": max(0, (opened - self.p.start).days),
                    "coords": coords,
                }
            ],
        )
        return aid

    def permit(
        self, uscc: str, place_id: int, kind: str, scope: str, valid_from: date, valid_to: date
    ) -> None:
        from .entities import _permit_id

        self.w.add(
            "permits",
            [
                {
                    "permit_id": _permit_id(self.rng, kind, valid_from.year),
                    "uscc": uscc,
                    "kind": kind,
                    "scope": scope,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "place_id": place_id,
                }
            ],
        )

    def idle(self, place_id: int, kind: str, owner: str, polygon: bool = True) -> int:
        key = self.w.key()
        since = date(2016, 1, 1) + timedelta(days=int(self.rng.integers(0, 1600)))
        self.w.add(
            "idle",
            [
                {
                    "key": key,
                    "kind": kind,
                    "place_id": place_id,
                    "owner": owner,
                    "since": since,
                    "polygon": polygon,
                }
            ],
        )
        return key

    def tip(self, place_id: int, text: str, coords: bool = True) -> int:
        key = self.w.key()
        received = AS_OF - timedelta(days=int(self.rng.integers(3, 40)))
        self.w.add(
            "tips",
            [
                {
                    "key": key,
                    "received": received,
                    "text": text,
                    "place_id": place_id,
                    "address": True,
                    "coords": coords,
                }
            ],
        )
        return key

    def case(self, place_id: int, name: str, closed_on: date, coords: bool = True) -> int:
        key = self.w.key()
        from .entities import MEASURES

        self.w.add(
            "cases",
            [
                {
                    "key": key,
                    "name": name,
                    "place_id": place_id,
                    "closed_on": closed_on,
                    "measures": MEASURES[int(self.rng.integers(len(MEASURES)))],
                    "coords": coords,
                }
            ],
        )
        return key

    def truth(
        self,
        role: str,
        category: str,
        strength: str,
        place_id: int,
        *,
        signals: list[str],
        description: str,
        usccs: list[str] = (),  # type: ignore[assignment]
        accounts: list[str] = (),
        props: list[int] = (),
        plates: list[str] = (),  # type: ignore[assignment]
        cases: list[int] = (),
        tips: list[int] = (),
        jump: int | None = None,  # type: ignore[assignment]
        suffix: str = "",
        kind: str = "",
    ) -> None:
        self.counter += 1
        pl_ = self.w.place(place_id)
        self.sites.append((pl_["x"], pl_["y"]))
        self.w.truth.append(
            {
                "truth_id": f"T{self.counter:03d}",
                "role": role,
                "category": category,
                "strength": strength,
                "lon": pl_["lon"],
                "lat": pl_["lat"],
                "township": pl_["township"],
                "address": canonical(pl.Series([pl_["core"] + suffix]))[0],
                "usccs": list(usccs),
                "account_ids": list(accounts),
                "prop_keys": list(props),
                "plates": sorted(plates),
                "case_keys": list(cases),
                "tip_keys": list(tips),
                "signals": signals,
                "jump_date": self.day_date(jump).isoformat() if jump is not None else "",
                "description": description,
                "place_id": place_id,
                "kind": kind or category,
            }
        )

    def brand_name(self, words: tuple[str, ...] = HIDING_WORDS) -> str:
        return "宿州市" + brands(self.rng, 1)[0] + words[int(self.rng.integers(len(words)))]

    def protect(self, table: str, col: str, values: list) -> None:
        df: pl.DataFrame = getattr(self.w, table)
        setattr(
            self.w,
            table,
            df.with_columns(protected=pl.col("protected") | pl.col(col).is_in(values)),
        )


# ---------------------------------------------------------------------------------------
# Workshops


def over_permit(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    variant = i % 4
    pid = pt.take("chempark" if variant in (0, 2) else "park")
    code = ("C2661", "C2614", "C2619", "C3360")[variant]
    name = (
        "宿州市"
        + brands(rng, 1)[0]
        + ("化工有限公司", "化学有限公司", "精细化工有限公司", "金属表面处理有限公司")[variant]
    )
    est = date(2012, 1, 1) + timedelta(days=int(rng.integers(0, 2500)))
    uscc = pt.registration(
        pid,
        name,
        code,
        "化工产品（不含危险化学品）销售；化学试剂销售"
        if variant == 0
        else "化工产品生产销售（凭许可证经营）",
        est,
    )
    jd = pt.jump_day()
    if variant == 0:  # operation/use permit only, but a production plant's round-the-clock load
        kind = "operation" if i % 8 == 0 else "use"
        scope = (
            "甲醇、甲苯、丙酮（不带储存设施经营）" if kind == "operation" else "盐酸、硫酸（使用）"
        )
        pt.permit(uscc, pid, kind, scope, AS_OF - timedelta(days=400), AS_OF + timedelta(days=700))
        aid = pt.account(
            pid,
            name,
            tariff="industrial",
            kva=630.0,
            phase=3,
            profile="shift1",
            level=12.0,
            profile2="process24",
            level2=float(rng.uniform(180, 320)),
            switch_day=jd,
            uscc=uscc,
        )
        plates = pt.visits(pid, 4, 0.5, ("8", "3"))
        sig = [
            "permit_kind_mismatch",
            "flat_load",
            "jump",
            "night_share",
            "truck_stops",
            "night_truck_stops",
        ]
        desc = "持经营/使用许可的企业夜间满负荷连续生产，用电突增，危化品车辆夜间进出。"
    elif variant == 1:  # production permit lapsed a few weeks ago; load simply goes on
        pt.permit(
            uscc,
            pid,
            "production",
            "甲醇、甲醛溶液",
            AS_OF - timedelta(days=1140),
            AS_OF - timedelta(days=int(rng.integers(30, 60))),
        )
        aid = pt.account(
            pid,
            name,
            tariff="industrial",
            kva=800.0,
            phase=3,
            profile="process24",
            level=float(rng.uniform(150, 250)),
            uscc=None,
        )
        plates, jd = [], None
        sig = ["permit_expired", "flat_load"]
        desc = "安全生产许可证已过期，企业仍连续生产，用电无变化。"
    elif variant == 2:  # lapsed months ago, production jumps back at night
        pt.permit(
            uscc,
            pid,
            "production",
            "硅酸钠、盐酸",
            AS_OF - timedelta(days=1300),
            AS_OF - timedelta(days=int(rng.integers(150, 260))),
        )
        aid = pt.account(
            pid,
            name,
            tariff="industrial",
            kva=1000.0,
            phase=3,
            profile="shift1",
            level=25.0,
            profile2="workshop",
            level2=float(rng.uniform(150, 260)),
            day_ratio2=0.45,
            switch_day=jd,
            uscc=uscc,
        )
        plates = pt.visits(pid, 5, True, ("8",), outside_share=0.4)
        sig = [
            "permit_expired",
            "jump",
            "night_share",
            "flat_load",
            "truck_stops",
            "night_truck_stops",
        ]
        desc = "安全生产许可证过期数月后恢复生产，用电骤增且以夜间为主，夜间有危化品车辆装卸。"
    else:  # a use permit, load doubles with a little more night work
        pt.permit(
            uscc,
            pid,
            "use",
            "盐酸、硫酸（使用）",
            AS_OF - timedelta(days=500),
            AS_OF + timedelta(days=600),
        )
        base = float(rng.uniform(40, 70))
        aid = pt.account(
            pid,
            name,
            tariff="commercial",
            kva=250.0,
            phase=3,
            profile="shift2",
            level=base,
            profile2="workshop",
            level2=base * 1.1,
            day_ratio2=0.9,
            switch_day=jd,
            uscc=uscc,
        )
        plates = pt.visits(pid, 1, False, ("8",))
        sig = ["permit_kind_mismatch", "jump"]
        desc = "仅持使用许可的企业用电翻倍并延长至夜间，疑似超范围生产。"
    pt.truth(
        "workshop",
        "over_permit",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        jump=jd,
    )


def unlicensed_production(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    pid = pt.take("park" if rng.random() < 0.7 else "village")
    k = int(rng.integers(len(HIDING_WORDS)))
    jd = pt.jump_day()
    est = AS_OF - timedelta(days=int(rng.integers(200, 900)))
    tips: list[int] = []
    if strong:
        name = "宿州市" + brands(rng, 1)[0] + HIDING_WORDS[k % 2]
        uscc = pt.registration(
            pid, name, ("C2927", "M7320", "C2625")[i % 3], HIDING_SCOPE[k % 3], est
        )
        aid = pt.account(
            pid,
            name,
            tariff="commercial",
            kva=400.0,
            phase=3,
            profile="shift1",
            level=8.0,
            profile2="workshop",
            level2=float(rng.uniform(80, 140)),
            day_ratio2=0.22,
            switch_day=jd,
            uscc=uscc if rng.random() < 0.7 else None,
        )
        plates = pt.visits(pid, int(rng.integers(4, 7)), 0.8, ("8", "3", "5"), outside_share=0.4)
        if i == 0:
            tips.append(pt.tip(pid, "{a}这家科技公司晚上一直生产，气味刺鼻，半夜有罐车来卸货"))
        sig = [
            "chemistry_name",
            "three_phase",
            "jump",
            "night_share",
            "no_permit",
            "truck_stops",
            "night_truck_stops",
        ] + (["tip"] if tips else [])
        desc = (
            "以“新材料科技”名义登记的企业无危化品许可，夜间用电为主且突增，夜间有危化品车辆进出。"
        )
    else:
        name = "宿州市" + brands(rng, 1)[0] + "科技有限公司"
        uscc = pt.registration(pid, name, "M7320", HIDING_SCOPE[3], est, coords=False)
        base = float(rng.uniform(15, 25))
        aid = pt.account(
            pid,
            name,
            tariff="commercial",
            kva=160.0,
            phase=3,
            profile="shift1",
            level=base,
            profile2="workshop",
            level2=base * 0.9,
            day_ratio2=0.85,
            switch_day=jd,
            uscc=None,
            coords=False,
        )
        plates = pt.visits(pid, 1, 0.5, ("8", "3"), outside_share=0.5)
        sig = ["chemistry_name", "three_phase", "jump", "truck_stops"]
        desc = "科技类企业用电小幅上升并延伸到夜间，偶有危化品车辆停靠，登记和电表均无坐标。"
    pt.truth(
        "workshop",
        "unlicensed_production",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=[uscc],
        accounts=[aid],
        plates=plates,
        tips=tips,
        jump=jd,
    )


def no_licence(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    pid = pt.take("village")
    person = person_names(rng, 1)[0]
    jd = pt.jump_day()
    tips: list[int] = []
    if strong:
        aid = pt.account(
            pid,
            person,
            tariff="commercial",
            kva=float(rng.choice([80, 100, 160])),
            phase=3,
            profile="household",
            level=6.0,
            profile2="workshop",
            level2=float(rng.uniform(18, 35)),
            day_ratio2=0.2,
            switch_day=jd,
        )
        plates = pt.visits(pid, int(rng.integers(3, 6)), True, ("8", "3", "5"), outside_share=0.5)
        if i % 3 == 0:
            tips.append(pt.tip(pid, "{a}有人租了民房，晚上机器响到天亮，有很大的化学品味道"))
        sig = [
            "no_registration",
            "three_phase",
            "jump",
            "night_share",
            "truck_stops",
            "night_truck_stops",
        ] + (["tip"] if tips else [])
        desc = (
            "村内民房以个人名义开立三相动力电，用电突增且集中在夜间，"
            "夜间有危化品车辆停靠，无任何登记。"
        )
    else:
        aid = pt.account(
            pid,
            person,
            tariff="residential",
            kva=20.0,
            phase=3,
            profile="household",
            level=5.0,
            profile2="workshop",
            level2=float(rng.uniform(0.6, 0.9)),
            day_ratio2=0.8,
            switch_day=jd,
            layout="daily",
            coords=False,
        )
        plates = pt.visits(pid, 1, True, ("8",), outside_share=1.0)
        sig = ["no_registration", "three_phase", "jump", "night_truck_stops"]
        desc = "居民户三相表日用电量升至原来三四倍，一辆外地车夜间停靠，无登记、电表无坐标。"
    pt.truth(
        "workshop",
        "no_licence",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        accounts=[aid],
        plates=plates,
        tips=tips,
        jump=jd,
    )


def affiliated(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    w = pt.w
    permitted = w.permits.filter(
        pl.col("kind").is_in(["production", "operation", "use"]) & ~pl.col("protected")
    )
    host = pt.pick_far(permitted) or permitted.row(int(rng.integers(permitted.height)), named=True)
    pid = host["place_id"]
    pt.protect("permits", "permit_id", [host["permit_id"]])
    est = AS_OF - timedelta(days=int(rng.integers(120, 700)))
    jd = None
    if strong:
        suffix = "院内" if i % 2 == 0 else ""
        name = "宿州市" + brands(rng, 1)[0] + ("化工科技有限公司", "化工贸易有限公司")[i % 2]
        uscc = pt.registration(
            pid, name, "F5169", "化工产品（不含危险化学品）销售；化工技术研发", est, suffix=suffix
        )
        aid = pt.account(
            pid,
            name,
            tariff="commercial",
            kva=250.0,
            phase=3,
            profile="workshop",
            level=float(rng.uniform(45, 80)),
            day_ratio=0.85,
            uscc=uscc,
            suffix=suffix,
        )
        plates = pt.visits(pid, 2, True, ("8", "3"), outside_share=0.5)
        sig = [
            "shared_address",
            "no_permit",
            "flat_load",
            "night_share",
            "three_phase",
            "night_truck_stops",
        ]
        desc = "与持证化工企业同一地址登记的另一家公司无许可，自有电表昼夜连续用电（厂中厂）。"
    else:
        suffix = "3号车间"
        name = "宿州市" + brands(rng, 1)[0] + "新材料有限公司"
        uscc = pt.registration(
            pid, name, "C2927", "塑料制品、新材料生产销售", est, coords=False, suffix=suffix
        )
        base = float(rng.uniform(20, 35))
        jd = pt.jump_day()
        aid = pt.account(
            pid,
            name,
            tariff="commercial",
            kva=200.0,
            phase=3,
            profile="shift2",
            level=base,
            profile2="workshop",
            level2=base * 1.3,
            day_ratio2=0.6,
            switch_day=jd,
            uscc=None,
            suffix=suffix,
        )
        plates = []
        sig = ["shared_address", "no_permit", "jump"]
        desc = "持证企业厂区内一家租赁车间的公司无许可，用电增加并延至夜间，地址写法不同。"
    pt.truth(
        "workshop",
        "affiliated",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=[uscc, host["uscc"]],
        accounts=[aid],
        plates=plates,
        jump=jd,
        suffix=suffix,
    )


def idle_premises(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    jd = pt.jump_day()
    tips: list[int] = []
    usccs: list[str] = []
    if strong:
        kind = ("idle_factory", "closed_plant", "abandoned_factory")[i // 2 % 3]
        pid = pt.take("park" if kind != "abandoned_factory" else "village")
        p = pt.w.place(pid)
        from .entities import idle_owner

        owner = idle_owner(rng, kind, p["village"], p["township"])
        key = pt.idle(pid, kind, owner)
        acc = dormant_account(rng, pt.w, pid, owner, kind)
        acc.update(
            profile2="workshop",
            level2=float(rng.uniform(50, 110)),
            day_ratio2=0.3,
            switch_day=jd,
            capacity_kva=315.0,
            phase=3,
            coords=True,
        )
        pt.w.add("accounts", [acc])
        if i % 4 == 0:  # someone registered a company there just before the power came back
            name = pt.brand_name(("新材料有限公司", "环保科技有限公司"))
            usccs.append(
                pt.registration(pid, name, "M7320", HIDING_SCOPE[2], pt.day_date(max(0, jd - 20)))
            )
        plates = pt.visits(pid, int(rng.integers(3, 6)), 0.75, ("8", "3", "5"), outside_share=0.3)
        if i == 2:
            tips.append(pt.tip(pid, "{a}原来关门的厂子最近晚上又开工了，有罐车进出"))
        sig = (
            [
                "idle_premises",
                "dormant_wake",
                "jump",
                "night_share",
                "three_phase",
                "truck_stops",
                "night_truck_stops",
            ]
            + (["chemistry_name"] if usccs else [])
            + (["tip"] if tips else [])
        )
        desc = "登记为闲置/关停的厂房电表由近零突然恢复到生产负荷，夜间为主，有危化品车辆进出。"
    else:
        pid = pt.take("village")
        owner = person_names(rng, 1)[0]
        key = pt.idle(pid, "idle_house", owner, polygon=False)
        acc = dormant_account(rng, pt.w, pid, owner, "idle_house")
        acc.update(
            profile2="workshop", level2=float(rng.uniform(0.12, 0.2)), day_ratio2=0.7, switch_day=jd
        )
        pt.w.add("accounts", [acc])
        plates = pt.visits(pid, 1, False, ("8", "3"), outside_share=0.5, dwell=(25, 45))
        sig = ["idle_premises", "dormant_wake", "truck_stops"]
        desc = "闲置民房日用电量由不足1度升至数度，白天有一辆危化品车辆短暂停靠。"
    pt.truth(
        "workshop",
        "idle_premises",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=usccs,
        accounts=[str(acc["account_id"])],
        props=[key],
        plates=plates,
        tips=tips,
        jump=jd,
    )


def remote(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    pid = pt.take("remote")
    p = pt.w.place(pid)
    jd = pt.jump_day()
    if strong:
        owner = f"{p['village']}村民委员会".replace("村村", "村")
        key = pt.idle(pid, "abandoned_farm", owner)
        acc = dormant_account(rng, pt.w, pid, owner, "abandoned_farm")
        acc.update(
            profile2="workshop",
            level2=float(rng.uniform(35, 60)),
            day_ratio2=0.55,
            switch_day=jd,
            capacity_kva=200.0,
        )
        pt.w.add("accounts", [acc])
        plates = pt.visits(pid, int(rng.integers(3, 5)), True, ("8", "3", "5"), outside_share=0.6)
        sig = [
            "remote",
            "idle_premises",
            "dormant_wake",
            "flat_load",
            "night_share",
            "night_truck_stops",
            "truck_stops",
        ]
        desc = "远离村庄的废弃养殖场农业电表恢复昼夜连续用电，夜间有外地危化品车辆停靠。"
        props = [key]
    else:
        props = []
        if i % 2:
            props.append(pt.idle(pid, "quarry", f"{p['township']}人民政府"))
        aid = pt.account(
            pid,
            person_names(rng, 1)[0],
            tariff="commercial",
            kva=100.0,
            phase=3,
            profile="quarry",
            level=8.0,
            profile2="workshop",
            level2=9.0,
            day_ratio2=0.9,
            switch_day=jd,
            coords=bool(i % 2),
        )
        acc = {"account_id": aid}
        plates = pt.visits(pid, 1, True, ("8",), outside_share=0.5)
        sig = ["remote", "jump", "night_truck_stops"]
        desc = "偏僻宕口旁的电表用电略有上升并延伸至夜间，一次夜间危化品车辆停靠。"
    pt.truth(
        "workshop",
        "remote",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        accounts=[str(acc["account_id"])],
        props=props,
        plates=plates,
        jump=jd,
    )


def fuel_storage(pt: Planter, i: int, strong: bool) -> None:
    w = pt.w
    codes = ["E4812", "G5431", "E4710"] if strong else ["B1019", "G5431", "C3021"]
    cand = w.businesses.filter(
        pl.col("industry_code").is_in(codes)
        & ~pl.col("protected")
        & pl.col("status").is_in(["存续", "在业"])
    )
    row = pt.pick_far(cand) if cand.height else None
    if row is None:
        pid = pt.take("town")
        name = pt.brand_name(("物流有限公司",))
        uscc = pt.registration(pid, name, "G5431", "普通货物道路运输", date(2015, 5, 1))
    else:
        pid, uscc = row["place_id"], row["uscc"]
        pt.protect("businesses", "uscc", [uscc])
    tips: list[int] = []
    acc = w.accounts.filter(pl.col("place_id") == pid)["account_id"].to_list()
    pt.protect("accounts", "account_id", acc)
    if strong:
        plates = pt.visits(pid, 3, 0.34, ("3",), outside_share=0.0, dwell=(30, 50))
        plates = _fuel_plates(pt, pid, plates)
        if i % 4 == 0:
            tips.append(pt.tip(pid, "{a}院内私设加油机，常有油罐车来卸油，对外卖柴油"))
        sig = ["fuel_tanker", "truck_stops", "no_permit"] + (["tip"] if tips else [])
        desc = "无成品油许可的工程/物流场院多次接收油罐车卸油，疑似撬装加油点。"
    else:
        plates = pt.visits(pid, 1, False, ("3",), outside_share=0.0, dwell=(20, 30))
        plates = _fuel_plates(pt, pid, plates)
        sig = ["fuel_tanker", "truck_stops"]
        desc = "无成品油许可的场院白天有一次油罐车短暂停靠。"
    pt.truth(
        "workshop",
        "fuel_storage",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        usccs=[uscc],
        accounts=acc,
        plates=plates,
        tips=tips,
    )


def _fuel_plates(pt: Planter, pid: int, plates: list[str]) -> list[str]:
    """Fuel visits must come from tankers registered for fuel: swap any other class-3."""
    out = []
    for v in pt.w.visits:
        if v.place_id == pid and v.plate not in pt.fuel_plates and pt.fuel_plates:
            v.plate = pt.pick(pt.fuel_plates)[0]
        if v.place_id == pid:
            out.append(v.plate)
    return sorted(set(out))


def recurrence(pt: Planter, i: int, strong: bool) -> None:
    rng = pt.rng
    pid = pt.take("village" if i % 2 == 0 else "park")
    name = case_name(rng)
    closed = date(2019, 6, 1) + timedelta(days=int(rng.integers(0, 640)))
    tips: list[int] = []
    accounts: list[str] = []
    if strong:
        key = pt.case(pid, name, closed)
        jd = pt.jump_day()
        acc = dormant_account(rng, pt.w, pid, name.split("非法")[0], "idle_factory")
        acc.update(
            level=0.02,
            profile2="workshop",
            level2=float(rng.uniform(30, 60)),
            day_ratio2=0.25,
            switch_day=jd,
            opened=closed - timedelta(days=900),
        )
        pt.w.add("accounts", [acc])
        accounts.append(str(acc["account_id"]))
        plates = pt.visits(
            pid, int(rng.integers(3, 5)), True, ("8", "3", "6", "5"), outside_share=0.5
        )
        tips.append(pt.tip(pid, "{a}原来被查封的小化工又开始生产了，晚上灯火通明，气味很大"))
        sig = [
            "recurrence",
            "dormant_wake",
            "jump",
            "night_share",
            "night_truck_stops",
            "truck_stops",
            "tip",
        ]
        desc = "已查处取缔的“小化工”原址电表恢复夜间生产负荷，夜间有危化品车辆进出，群众举报。"
    else:
        key = pt.case(pid, name, closed, coords=False)
        jd = None
        plates = pt.visits(pid, 2, True, ("8",), outside_share=1.0)
        sig = ["recurrence", "night_truck_stops"]
        desc = "已查处点位无电表，但近期夜间两次有外地车辆停靠，案件记录无坐标。"
    pt.truth(
        "workshop",
        "recurrence",
        "strong" if strong else "subtle",
        pid,
        signals=sig,
        description=desc,
        accounts=accounts,
        plates=plates,
        cases=[key],
        tips=tips,
        jump=jd,
    )


WORKSHOPS: dict[str, Callable[[Planter, int, bool], None]] = {
    "over_permit": over_permit,
    "unlicensed_production": unlicensed_production,
    "no_licence": no_licence,
    "affiliated": affiliated,
    "idle_premises": idle_premises,
    "remote": remote,
    "fuel_storage": fuel_storage,
    "recurrence": recurrence,
}


# ---------------------------------------------------------------------------------------
# Look-alikes: innocent records with a workshop's traits.


def _existing(pt: Planter, codes: list[str], k: int, profile: str | None = None) -> pl.DataFrame:
    """Active businesses of these codes that have their own meter, not yet used."""
    w = pt.w
    b = w.businesses.filter(
        pl.col("industry_code").is_in(codes)
        & ~pl.col("protected")
        & pl.col("status").is_in(["存续", "在业"])
    )
    a = w.accounts.filter(~pl.col("protected") & (pl.col("first_day") == 0))
    if profile:
        a = a.filter(pl.col("profile") == profile)
    j = b.join(a.select("place_id", "account_id"), on="place_id", how="inner")
    j = j.unique("place_id", keep="first", maintain_order=True)
    if j.height == 0:
        return j
    idx = pt.rng.choice(j.height, size=min(k, j.height), replace=False)
    return j[np.sort(idx)]


def _mark(pt: Planter, rows: pl.DataFrame) -> None:
    pt.protect("businesses", "uscc", rows["uscc"].to_list())
    pt.protect("accounts", "account_id", rows["account_id"].to_list())


def lookalikes(pt: Planter, category: str, k: int) -> None:
    rng = pt.rng
    w = pt.w
    if category in (
        "bakery_night",
        "tofu_night",
        "cold_store_24h",
        "licensed_plant_24h",
        "irrigation_summer",
        "gas_station_tanker",
    ):
        codes, profile, sig, desc = {
            "bakery_night": (
                ["C1411"],
                "bakery",
                ["night_share", "bakery_hours"],
                "面包烘焙厂凌晨生产，夜间用电比例高，属正常经营。",
            ),
            "tofu_night": (
                ["C1392"],
                "tofu",
                ["night_share", "bakery_hours"],
                "豆制品作坊凌晨三点开工，夜间用电，属正常经营。",
            ),
            "cold_store_24h": (
                ["G5930"],
                "cold_store",
                ["flat_load", "night_share", "three_phase"],
                "冷库压缩机昼夜运行，负荷平稳，属正常经营。",
            ),
            "licensed_plant_24h": (
                ["C2614", "C2619", "C2611", "C2612", "C2661"],
                "process24",
                ["flat_load", "night_share", "truck_stops", "valid_permit"],
                "持有效安全生产许可证的化工企业连续生产，危化品车辆装卸。",
            ),
            "irrigation_summer": (
                ["A0112", "A0513"],
                "pump",
                ["jump", "irrigation"],
                "农业排灌电表在干旱时段整日运行，属正常灌溉。",
            ),
            "gas_station_tanker": (
                ["F5265"],
                None,
                ["fuel_tanker", "truck_stops", "fuel_permit"],
                "持成品油经营许可的加油站接收油罐车卸油。",
            ),
        }[category]
        rows = _existing(pt, codes, 10 * k + 10, profile)
        if category in ("licensed_plant_24h", "gas_station_tanker"):
            ok = w.permits.filter(pl.col("valid_to") > AS_OF)["uscc"]
            rows = rows.filter(pl.col("uscc").is_in(ok.implode()))
        chosen = []
        for i in range(rows.height):
            if len(chosen) < k and pt.far(rows["place_id"][i], 150.0):
                chosen.append(i)
                pt.sites.append(
                    (pt.w.place(rows["place_id"][i])["x"], pt.w.place(rows["place_id"][i])["y"])
                )
        rows = rows[chosen]
        _mark(pt, rows)
        for r in rows.iter_rows(named=True):
            plates: list[str] = []
            if category == "gas_station_tanker":
                plates = pt.visits(r["place_id"], 1, 0.3, ("3",), outside_share=0.0, dwell=(20, 40))
                plates = _fuel_plates(pt, r["place_id"], plates)
            elif category == "licensed_plant_24h":
                plates = pt.visits(
                    r["place_id"], 2, 0.5, ("8", "3"), outside_share=0.5, dwell=(30, 90)
                )
            jump = w.calendar.spells[0][0] if category == "irrigation_summer" else None
            pt.truth(
                "lookalike",
                category,
                "",
                r["place_id"],
                signals=sig,
                description=desc,
                usccs=[r["uscc"]],
                accounts=[r["account_id"]],
                plates=plates,
                jump=jump,
            )
        return
    if category == "depot_overnight":
        v = w.vehicles.filter(pl.col("registered") & pl.col("home").is_null())
        depots = v.group_by("depot", maintain_order=True).agg(pl.col("plate"), pl.col("carrier"))
        depots = depots.filter(pl.col("plate").list.len() >= 2)
        idx = rng.choice(depots.height, size=min(k, depots.height), replace=False)
        for r in depots[np.sort(idx)].iter_rows(named=True):
            biz = w.businesses.filter(pl.col("place_id") == r["depot"])
            pt.protect("businesses", "place_id", [r["depot"]])
            pt.truth(
                "lookalike",
                category,
                "",
                r["depot"],
                signals=["night_truck_stops", "carrier_depot"],
                description="危货运输企业车辆夜间停放在本企业停车场。",
                usccs=biz["uscc"].to_list(),
                plates=r["plate"],
            )
        return
    if category == "driver_home_overnight":
        v = w.vehicles.filter(pl.col("registered") & pl.col("home").is_null())
        for r in v[np.sort(rng.choice(v.height, size=min(k, v.height), replace=False))].iter_rows(
            named=True
        ):
            home = w.alloc.near(r["depot"], "village")
            owner = person_names(rng, 1)[0]
            aid = pt.account(
                home,
                owner,
                tariff="residential",
                kva=6.0,
                phase=1,
                profile="household",
                level=float(rng.uniform(4, 9)),
                layout="daily",
            )
            w.vehicles = w.vehicles.with_columns(
                home=pl.when(pl.col("plate") == r["plate"]).then(home).otherwise(pl.col("home"))
            )
            pt.truth(
                "lookalike",
                category,
                "",
                home,
                signals=["night_truck_stops", "driver_home"],
                description="驾驶员将危货车辆夜间停在自家门口，无装卸作业。",
                accounts=[aid],
                plates=[r["plate"]],
            )
        return
    if category == "new_permitted_factory":
        for _ in range(k):
            pid = pt.take("chempark")
            code = ("C2641", "C2661")[int(rng.integers(2))]
            word = ("涂料有限公司", "化学试剂有限公司")[code == "C2661"]
            name = "宿州市" + brands(rng, 1)[0] + word
            jd = pt.jump_day()
            est = pt.day_date(0) - timedelta(days=int(rng.integers(90, 200)))
            uscc = pt.registration(
                pid, name, code, "水性涂料、化学试剂生产销售（凭许可证经营）", est
            )
            pt.permit(
                uscc,
                pid,
                "production",
                "涂料、稀释剂；化学试剂",
                pt.day_date(jd) - timedelta(days=12),
                pt.day_date(jd) + timedelta(days=3 * 365 - 12),
            )
            aid = pt.account(
                pid,
                name,
                tariff="industrial",
                kva=800.0,
                phase=3,
                profile="construction",
                level=10.0,
                profile2="process24",
                level2=float(rng.uniform(150, 250)),
                switch_day=jd,
                uscc=uscc,
                opened=est + timedelta(days=20),
            )
            pt.truth(
                "lookalike",
                category,
                "",
                pid,
                signals=["jump", "flat_load", "new_factory", "valid_permit"],
                description="新建化工企业取得安全生产许可证后投产，用电量正常跃升。",
                usccs=[uscc],
                accounts=[aid],
                jump=jd,
            )
        return
    raise ValueError(category)


def plant(rng: np.random.Generator, world: World) -> None:
    """Look-alikes first: they pick from the background, which workshops then leave alone.
    A styled world adds the real world's look-alikes and harder workshops (adversary.py)."""
    pt = Planter(rng, world)
    for cat, k in zip(LOOKALIKE_CATEGORIES, world.preset.lookalikes, strict=True):
        lookalikes(pt, cat, k)
    if world.knobs.styled:
        from .adversary import plant_lookalikes

        plant_lookalikes(pt)
    for cat, k in zip(WORKSHOP_CATEGORIES, world.preset.workshops, strict=True):
        for i in range(k):
            WORKSHOPS[cat](pt, i, strong=(i % 2 == 0))
    if world.knobs.styled:
        from .adversary import plant_hard

        plant_hard(pt)
