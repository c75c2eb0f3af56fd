"""World styles: how one generated county differs from another, drawn per world.

A county this project made itself flatters the product: the same load shapes, the same GPS
habits, the same blanks and the same look-alikes the rules were written for. A *style* is a
set of distributions (not values): for every world the generator draws, from the style and
the seed, the concrete habits of that world (:class:`Knobs`), so that two worlds of one
style differ as two real counties of one province do.

``default`` is the generator as it always was (byte for byte): every knob at the value the
code had before styles existed, no extra look-alikes, no extra draws. The named styles are
opt-in (``screening sample --style NAME``):

``plain-north``
    A North China plain farming county: many agricultural meters, poultry and pig farms,
    irrigation pumps in dry spells, village furniture shops, fuel tankers and drivers who
    take the truck home. GPS every ~30 s; a third of the registrations lack coordinates,
    some are geocoded to the village centre; moderate blanks in industry codes.
``dense-south``
    A dense southern manufacturing town: many small factories with two or three shifts and
    six-day weeks, high standing loads, new businesses opening and idle sheds re-let every
    month, logistics yards full of tankers, printing and paint shops. GPS every 15-22 s with
    urban-canyon jitter, short stops, much night driving (daytime bans in town); few
    records without coordinates but geocodes drift tens to hundreds of metres.
``sparse-mountain``
    A thinly settled hill county: fewer, scattered villages, a weak grid (outages), farms,
    pumps and village workshops. GPS every 60-120 s with long signal gaps and 15-35 m of
    jitter, long stops; agencies leave much blank (half the registrations without
    coordinates, a fifth without industry codes, capacities and statuses missing) and
    geocode many records to the village centre or hundreds of metres off.

Every style also plants the real world's honest look-alikes (see :mod:`.adversary`: new
businesses opening, idle premises re-let, partial driver homes, lawful reuse of sanctioned
sites, ...) and harder workshops (fuel yards beside licensed stations, chemistry under a
cover name with weak power, single-weak-signal and village-house workshops), in counts drawn
per world.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from .config import TUNE, SizePreset, Tunables

# Look-alike kinds only the styles plant (see adversary.py for what each one is).
STYLE_LOOKALIKES: tuple[str, ...] = (
    "new_business_opening",
    "idle_relet",
    "driver_home_partial",
    "sanctioned_reuse",
    "food_before_dawn",
    "livestock_farm",
    "licensed_sales_subsidiary",
    "renewed_permit",
    "cold_store_other",
    "printing_shop",
    "car_repair_paint",
    "licensed_night_shift",
    "factory_commissioning",
    "irrigation_station",
    "village_wood_workshop",
    "logistics_tanker_yard",
    "gas_station_night",
)
# Harder workshops only the styles plant: kind -> campaign category.
HARD_WORKSHOPS: dict[str, str] = {
    "fuel_yard_near_station": "fuel_storage",
    "cover_name_weak_power": "unlicensed_production",
    "single_weak_signal": "no_licence",  # the variant decides; see adversary.single_weak
    "village_house_workshop": "no_licence",
}
# Counts are given for a medium county and scaled by size (at least one of each kind).
SIZE_SCALE = {"tiny": 0.1, "small": 0.35, "medium": 1.0, "large": 3.0, "city": 5.0}

Range = tuple[float, float]


@dataclass(frozen=True)
class Knobs:
    """The concrete habits of one world. The defaults are the generator before styles."""

    style: str = "default"
    tune: Tunables = TUNE
    preset: SizePreset | None = None  # the size preset with this world's counts
    # power: per-account spread of levels, standing loads, shifted working hours, noise
    level_sigma: float = 0.55
    base_load: Range = (0.0, 0.0)  # standing load as a share of the level, per account
    shift_hours: float = 0.0  # share of accounts whose day starts 1-2 h earlier or later
    noise_spread: float = 0.0  # lognormal sigma of a per-account noise multiplier
    remap: tuple[tuple[str, str, float], ...] = ()  # (profile, becomes, share of accounts)
    # trucks
    gps_step_s: float = 30.0
    gps_step_jitter: float = 0.0  # share of the step a fix's time wanders by
    gps_drop: float = 0.0  # fixes lost at random
    load_dwell_min: Range = (30.0, 90.0)
    deliver_dwell_min: Range = (20.0, 60.0)
    night_trip_share: float = 0.0  # routine trips that leave in the evening
    # blanks
    permit_no_coords: float = 0.15
    idle_no_coords: float = 0.10
    case_coords: float = 0.8
    blank: tuple[tuple[str, str, float], ...] = ()  # (source, column, share left blank)
    # geocodes
    drift_share: float = 0.0  # records geocoded tens to hundreds of metres off
    drift_m: Range = (40.0, 300.0)
    centroid_share: float = 0.0  # village records geocoded to the village centre
    # households with air conditioning: their load follows the heat (per degree above 25 C)
    # far more than a fan's; the first hot weeks lift a share of a village together
    ac_share: float = 0.0
    ac_heat: float = 0.0
    ac_seed: int = 0  # the stream the per-household draws take (apart from the world's)
    # look-alikes and harder workshops of the styles (kind -> count)
    lookalikes: tuple[tuple[str, int], ...] = ()
    hard: tuple[tuple[str, int], ...] = ()

    @property
    def styled(self) -> bool:
        return self.style != "default"

    def blank_share(self, source: str, column: str) -> float:
        return sum(s for src, col, s in self.blank if src == source and col == column)


DEFAULT = Knobs()


@dataclass(frozen=True)
class StyleSpec:
    """Distributions a style draws a world from: each range is (low, high), uniform."""

    name: str
    tune: dict[str, Range | tuple[Range, Range]]
    preset: dict[str, Range]  # multipliers of the size preset's counts
    old_lookalikes: Range  # multiplier of each of the default look-alike counts
    lookalikes: dict[str, Range]
    hard: dict[str, Range]
    knobs: dict[str, Range | tuple[Range, Range] | float] = field(default_factory=dict)
    remap: tuple[tuple[str, str, Range], ...] = ()
    blank: tuple[tuple[str, str, Range], ...] = ()
    # drawn with a stream of their own, so that adding them changed no other draw
    ac: dict[str, Range] = field(default_factory=dict)


_HARD = {k: (5.0, 7.0) for k in HARD_WORKSHOPS}

SPECS: dict[str, StyleSpec] = {
    "plain-north": StyleSpec(
        "plain-north",
        tune={
            "hour_noise": (0.08, 0.16),
            "day_noise": (0.05, 0.10),
            "outage_prob": (0.2, 0.4),
            "reg_no_coords": (0.30, 0.45),
            "acct_no_coords": (0.08, 0.20),
            "acct_uscc": (0.5, 0.7),
            "record_jitter_m": ((3.0, 8.0), (25.0, 50.0)),
            "gps_jitter_m": (5.0, 10.0),
            "gps_gaps_per_day": (1.0, 3.0),
            "park_silent_long": (0.5, 0.8),
            "household_kwh": ((2.0, 3.0), (10.0, 15.0)),
            "household_three_phase": (0.03, 0.08),
            "drive_kmh": ((35.0, 40.0), (60.0, 70.0)),
        },
        preset={"businesses": (0.95, 1.1), "households": (1.0, 1.2)},
        old_lookalikes=(0.8, 1.5),
        lookalikes={
            "new_business_opening": (25, 40),
            "idle_relet": (8, 14),
            "driver_home_partial": (5, 9),
            "sanctioned_reuse": (3, 6),
            "food_before_dawn": (4, 8),
            "livestock_farm": (8, 14),
            "licensed_sales_subsidiary": (2, 4),
            "renewed_permit": (2, 5),
            "cold_store_other": (3, 6),
            "printing_shop": (2, 4),
            "car_repair_paint": (3, 6),
            "licensed_night_shift": (2, 4),
            "factory_commissioning": (3, 6),
            "irrigation_station": (8, 14),
            "village_wood_workshop": (4, 8),
            "logistics_tanker_yard": (3, 6),
            "gas_station_night": (4, 8),
        },
        hard=_HARD,
        ac={"ac_share": (0.2, 0.4), "ac_heat": (0.15, 0.3)},
        knobs={
            "level_sigma": (0.5, 0.8),
            "base_load": ((0.0, 0.03), (0.05, 0.12)),
            "shift_hours": (0.1, 0.3),
            "noise_spread": (0.2, 0.4),
            "gps_step_s": (25.0, 35.0),
            "gps_step_jitter": (0.05, 0.2),
            "gps_drop": (0.0, 0.02),
            "load_dwell_min": ((25.0, 35.0), (90.0, 150.0)),
            "deliver_dwell_min": ((15.0, 20.0), (40.0, 80.0)),
            "night_trip_share": (0.05, 0.15),
            "permit_no_coords": (0.15, 0.3),
            "idle_no_coords": (0.1, 0.25),
            "case_coords": (0.6, 0.8),
            "drift_share": (0.1, 0.25),
            "drift_m": ((30.0, 40.0), (150.0, 300.0)),
            "centroid_share": (0.05, 0.15),
        },
        remap=(
            ("shift1", "shift1_6d", (0.1, 0.3)),
            ("shift1", "shift2", (0.05, 0.15)),
            ("shift2", "shift3", (0.03, 0.1)),
        ),
        blank=(
            ("registrations", "industry_code", (0.05, 0.15)),
            ("registrations", "status", (0.02, 0.08)),
            ("registrations", "scope", (0.0, 0.05)),
            ("registrations", "township", (0.0, 0.1)),
            ("power_accounts", "capacity_kva", (0.03, 0.1)),
            ("power_accounts", "phase", (0.02, 0.08)),
        ),
    ),
    "dense-south": StyleSpec(
        "dense-south",
        tune={
            "hour_noise": (0.12, 0.22),
            "day_noise": (0.06, 0.12),
            "outage_prob": (0.1, 0.25),
            "reg_no_coords": (0.10, 0.20),
            "acct_no_coords": (0.05, 0.10),
            "acct_uscc": (0.7, 0.85),
            "record_jitter_m": ((5.0, 10.0), (30.0, 60.0)),
            "gps_jitter_m": (10.0, 20.0),
            "gps_outlier_rate": (0.002, 0.006),
            "gps_gaps_per_day": (1.0, 2.0),
            "park_silent_long": (0.4, 0.7),
            "park_silent_short": (0.1, 0.3),
            "household_kwh": ((3.0, 4.0), (12.0, 18.0)),
            "drive_kmh": ((20.0, 30.0), (45.0, 55.0)),
            "jam_prob": (0.4, 0.7),
        },
        preset={"businesses": (1.1, 1.25), "households": (0.8, 1.0)},
        old_lookalikes=(0.8, 1.6),
        lookalikes={
            "new_business_opening": (40, 60),
            "idle_relet": (12, 18),
            "driver_home_partial": (5, 8),
            "sanctioned_reuse": (4, 6),
            "food_before_dawn": (5, 9),
            "livestock_farm": (2, 4),
            "licensed_sales_subsidiary": (3, 6),
            "renewed_permit": (3, 6),
            "cold_store_other": (3, 6),
            "printing_shop": (4, 8),
            "car_repair_paint": (5, 9),
            "licensed_night_shift": (3, 6),
            "factory_commissioning": (5, 9),
            "irrigation_station": (2, 4),
            "village_wood_workshop": (3, 6),
            "logistics_tanker_yard": (5, 9),
            "gas_station_night": (5, 9),
        },
        hard=_HARD,
        ac={"ac_share": (0.4, 0.7), "ac_heat": (0.2, 0.35)},
        knobs={
            "level_sigma": (0.6, 0.9),
            "base_load": ((0.03, 0.06), (0.12, 0.22)),
            "shift_hours": (0.2, 0.4),
            "noise_spread": (0.3, 0.5),
            "gps_step_s": (15.0, 22.0),
            "gps_step_jitter": (0.1, 0.3),
            "gps_drop": (0.01, 0.04),
            "load_dwell_min": ((15.0, 25.0), (50.0, 70.0)),
            "deliver_dwell_min": ((10.0, 15.0), (30.0, 45.0)),
            "night_trip_share": (0.15, 0.35),
            "permit_no_coords": (0.05, 0.15),
            "idle_no_coords": (0.05, 0.15),
            "case_coords": (0.75, 0.9),
            "drift_share": (0.2, 0.4),
            "drift_m": ((30.0, 40.0), (120.0, 220.0)),
            "centroid_share": (0.02, 0.06),
        },
        remap=(
            ("shift1", "shift1_6d", (0.3, 0.5)),
            ("shift1", "shift2", (0.15, 0.3)),
            ("shift2", "shift3", (0.1, 0.25)),
        ),
        blank=(
            ("registrations", "industry_code", (0.02, 0.08)),
            ("registrations", "status", (0.0, 0.04)),
            ("power_accounts", "capacity_kva", (0.0, 0.05)),
        ),
    ),
    "sparse-mountain": StyleSpec(
        "sparse-mountain",
        tune={
            "hour_noise": (0.10, 0.20),
            "day_noise": (0.08, 0.15),
            "outage_prob": (0.4, 0.7),
            "reg_no_coords": (0.50, 0.70),
            "acct_no_coords": (0.25, 0.45),
            "acct_uscc": (0.4, 0.6),
            "record_jitter_m": ((5.0, 15.0), (40.0, 80.0)),
            "gps_jitter_m": (15.0, 35.0),
            "gps_outlier_rate": (0.002, 0.01),
            "gps_outlier_m": ((80.0, 120.0), (250.0, 400.0)),
            "gps_gaps_per_day": (3.0, 6.0),
            "gps_gap_min": ((5.0, 10.0), (60.0, 120.0)),
            "park_silent_long": (0.7, 0.9),
            "park_silent_short": (0.3, 0.5),
            "household_kwh": ((1.5, 2.0), (7.0, 10.0)),
            "drive_kmh": ((20.0, 30.0), (40.0, 50.0)),
        },
        preset={
            "businesses": (0.7, 0.9),
            "households": (0.8, 1.0),
            "villages_per_township": (0.5, 0.7),
        },
        old_lookalikes=(0.5, 1.2),
        lookalikes={
            "new_business_opening": (10, 20),
            "idle_relet": (6, 10),
            "driver_home_partial": (6, 10),
            "sanctioned_reuse": (3, 6),
            "food_before_dawn": (4, 8),
            "livestock_farm": (8, 14),
            "licensed_sales_subsidiary": (1, 3),
            "renewed_permit": (1, 3),
            "cold_store_other": (2, 4),
            "printing_shop": (1, 3),
            "car_repair_paint": (2, 4),
            "licensed_night_shift": (1, 3),
            "factory_commissioning": (2, 4),
            "irrigation_station": (6, 10),
            "village_wood_workshop": (6, 10),
            "logistics_tanker_yard": (2, 4),
            "gas_station_night": (3, 6),
        },
        hard=_HARD,
        ac={"ac_share": (0.05, 0.2), "ac_heat": (0.1, 0.25)},
        knobs={
            "level_sigma": (0.5, 0.7),
            "base_load": ((0.0, 0.02), (0.03, 0.08)),
            "shift_hours": (0.05, 0.2),
            "noise_spread": (0.3, 0.6),
            "gps_step_s": (60.0, 120.0),
            "gps_step_jitter": (0.2, 0.5),
            "gps_drop": (0.02, 0.08),
            "load_dwell_min": ((40.0, 50.0), (120.0, 180.0)),
            "deliver_dwell_min": ((30.0, 40.0), (80.0, 120.0)),
            "night_trip_share": (0.02, 0.08),
            "permit_no_coords": (0.3, 0.5),
            "idle_no_coords": (0.2, 0.4),
            "case_coords": (0.5, 0.7),
            "drift_share": (0.2, 0.4),
            "drift_m": ((50.0, 80.0), (300.0, 600.0)),
            "centroid_share": (0.15, 0.35),
        },
        remap=(
            ("shift1", "shift1_6d", (0.05, 0.2)),
            ("shift2", "shift3", (0.0, 0.05)),
        ),
        blank=(
            ("registrations", "industry_code", (0.15, 0.3)),
            ("registrations", "status", (0.05, 0.15)),
            ("registrations", "scope", (0.05, 0.15)),
            ("registrations", "township", (0.1, 0.3)),
            ("power_accounts", "capacity_kva", (0.1, 0.25)),
            ("power_accounts", "phase", (0.05, 0.15)),
            ("power_accounts", "opened", (0.02, 0.1)),
        ),
    ),
}
STYLE_NAMES: tuple[str, ...] = ("default", *SPECS)


def _draw(rng: np.random.Generator, spec: Range | tuple[Range, Range] | float) -> object:
    """A value from a range; a pair of ranges gives a drawn (low, high) range."""
    if isinstance(spec, float | int):
        return float(spec)
    a, b = spec  # type: ignore[misc]
    if isinstance(a, tuple):
        return (round(float(rng.uniform(*a)), 4), round(float(rng.uniform(*b)), 4))  # type: ignore[misc]
    return round(float(rng.uniform(a, b)), 4)  # type: ignore[arg-type]


def _count(rng: np.random.Generator, r: Range, scale: float) -> int:
    """A medium county's count drawn from the range, scaled to the size (at least one)."""
    return max(1, round(int(rng.integers(int(r[0]), int(r[1]) + 1)) * scale))


def draw_knobs(style: str, seed: int, preset: SizePreset) -> Knobs:
    """This world's habits: drawn from the style with a stream of their own, so that the
    same seed and style always give the same world."""
    if style not in STYLE_NAMES:
        raise ValueError(f"unknown style {style!r}: expected one of {', '.join(STYLE_NAMES)}")
    if style == "default":
        return DEFAULT
    spec = SPECS[style]
    ss = np.random.SeedSequence([int(seed), 7919, STYLE_NAMES.index(style)])
    rng = np.random.default_rng(ss)
    scale = SIZE_SCALE.get(preset.name, 1.0)
    tune = dataclasses.replace(TUNE, **{k: _draw(rng, v) for k, v in spec.tune.items()})
    mult = {k: _draw(rng, v) for k, v in spec.preset.items()}
    counts = {
        k: max(1, round(getattr(preset, k) * m))  # type: ignore[operator]
        for k, m in mult.items()
    }
    old = tuple(
        max(1, round(n * float(_draw(rng, spec.old_lookalikes)))) for n in preset.lookalikes
    )  # type: ignore[arg-type]
    p = dataclasses.replace(preset, lookalikes=old, **counts)
    knobs = {k: _draw(rng, v) for k, v in spec.knobs.items()}
    remap = tuple((a, b, float(_draw(rng, r))) for a, b, r in spec.remap)
    blank = tuple((s, c, float(_draw(rng, r))) for s, c, r in spec.blank)
    looks = tuple((k, _count(rng, spec.lookalikes[k], scale)) for k in STYLE_LOOKALIKES)
    hard = tuple((k, _count(rng, spec.hard[k], scale)) for k in HARD_WORKSHOPS)
    ac_ss = np.random.SeedSequence([int(seed), 7919, STYLE_NAMES.index(style), 1])
    ac_rng = np.random.default_rng(ac_ss)
    ac = {k: _draw(ac_rng, v) for k, v in spec.ac.items()}
    return Knobs(
        style=style,
        ac_seed=int(ac_ss.generate_state(1)[0]),
        **ac,  # type: ignore[arg-type]
        tune=tune,
        preset=p,
        remap=remap,
        blank=blank,
        lookalikes=looks,
        hard=hard,
        **knobs,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------
# A styled world's habits, applied to the world the classic stages made


def restyle_accounts(rng: np.random.Generator, world: Any) -> None:
    """Profiles remapped (a share of one-shift factories work six days or two shifts, ...)
    and every meter's own habits: a standing load, working hours shifted, its noise. Planted
    meters get the same habits as the rest: a habit only the innocent had would give the
    guilty away."""
    k: Knobs = world.knobs
    acc = world.accounts
    n = acc.height
    prof = acc["profile"].to_numpy().astype(object)
    new = prof.copy()
    for a, b, share in k.remap:
        hit = (prof == a) & (new == a) & (rng.random(n) < share)
        new[hit] = b
    world.accounts = acc.with_columns(profile=pl.Series(new.tolist(), dtype=pl.String))
    base = rng.uniform(k.base_load[0], k.base_load[1], size=n)
    base[np.isin(new, ["pump", "pump24", "dormant", "household"])] = 0.0
    shift = np.where(rng.random(n) < k.shift_hours, rng.choice([-2, -1, 1, 2], size=n), 0)
    ids = acc["account_id"]
    ramp = ids.replace_strict(world.ramps, default=0, return_dtype=pl.Int64)
    world.account_extra = pl.DataFrame(
        {
            "account_id": ids,
            "base": np.round(base, 4),
            "shift_h": shift.astype(np.int64),
            "noise_k": np.round(rng.lognormal(0.0, k.noise_spread, size=n), 4),
            "ramp": ramp,
            "heat_k": _heat_k(k, new),
        }
    )


def _heat_k(k: Knobs, profiles: np.ndarray) -> np.ndarray:
    """Each meter's heat response as a multiple of its profile's: households with air
    conditioning answer ``ac_heat`` per degree where a household's fan answers 0.09."""
    from .load import HEAT, NAMES

    out = np.ones(profiles.size)
    house = profiles == "household"
    if k.ac_share <= 0 or not house.any():
        return out
    rng = np.random.default_rng(k.ac_seed)
    ac = house & (rng.random(profiles.size) < k.ac_share)
    out[ac] = k.ac_heat / HEAT[NAMES.index("household")]
    return np.round(out, 4)


def geocode(
    rng: np.random.Generator,
    k: Knobs,
    county: Any,
    place_ids: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Where this world's agencies put the pin, before the usual metres of jitter: some
    records tens to hundreds of metres off, some village records at the village centre."""
    from .geography import to_lonlat, to_xy

    n = lon.size
    x, y = to_xy(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    drift = rng.random(n) < k.drift_share
    d = rng.uniform(k.drift_m[0], k.drift_m[1], size=n)
    a = rng.uniform(0, 2 * np.pi, size=n)
    x = np.where(drift, x + d * np.cos(a), x)
    y = np.where(drift, y + d * np.sin(a), y)
    centre = rng.random(n) < k.centroid_share
    if centre.any():
        places = county.places
        pid = np.where(place_ids >= 0, place_ids, 0)
        v = pl.DataFrame(
            {
                "township": places["township"].gather(pid),
                "village": places["village"].gather(pid),
            }
        ).join(
            county.villages.select("township", "village", "x", "y"),
            on=["township", "village"],
            how="left",
            maintain_order="left",
        )
        vx, vy = v["x"].to_numpy(), v["y"].to_numpy()
        ok = centre & (place_ids >= 0) & ~np.isnan(vx.astype(float))
        x = np.where(ok, vx, x)
        y = np.where(ok, vy, y)
    return to_lonlat(x, y)


def blanks(rng: np.random.Generator, k: Knobs, source: str, df: pl.DataFrame) -> pl.DataFrame:
    """Fields this world's agencies leave blank (optional ones only: a blank required field
    would only be quarantined)."""
    for src, col, share in k.blank:
        if src != source or col not in df.columns or share <= 0:
            continue
        hit = pl.Series(rng.random(df.height) < share)
        df = df.with_columns(
            pl.when(hit).then(pl.lit(None, dtype=df[col].dtype)).otherwise(pl.col(col)).alias(col)
        )
    return df
