"""Power load shapes: accounts x hours matrices, built block by block with numpy.

Each account has a profile (shop, two-shift factory, bakery, cold store, ...) and a level;
hidden workshops and start-ups switch to a second profile/level on ``switch_day``. The
matrix is shape[hour] x weekday x holiday x weather x noise, with outages and pump bursts,
so that night share, flatness and jumps of innocent and guilty accounts overlap the way
real ones do (a bakery's night share is higher than a subtle workshop's).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from .config import HOLIDAYS, TUNE, SizePreset, Tunables

NIGHT = np.array([h >= 22 or h < 6 for h in range(24)])


def _shape(spans: list[tuple[int, int, float]], base: float) -> np.ndarray:
    s = np.full(24, base)
    for a, b, v in spans:
        s[a:b] = v
    return s


_HOUSE = np.array(
    [
        0.25,
        0.2,
        0.18,
        0.18,
        0.2,
        0.3,
        0.6,
        0.9,
        0.7,
        0.5,
        0.5,
        0.6,
        0.7,
        0.6,
        0.5,
        0.5,
        0.6,
        0.9,
        1.3,
        1.5,
        1.5,
        1.3,
        0.9,
        0.5,
    ]
)
# name: (24-h shape, Mon..Sun factors, holiday factor, degrees-above-25 sensitivity, noise)
PROFILES: dict[str, tuple[np.ndarray, tuple[float, ...], float, float, float]] = {
    "shop": (
        _shape([(8, 9, 0.5), (9, 21, 1.0), (21, 22, 0.5)], 0.08),
        (1, 1, 1, 1, 1, 1.1, 1.1),
        1.2,
        0.025,
        1.0,
    ),
    "catering": (
        _shape([(9, 10, 0.4), (10, 14, 1.0), (14, 16, 0.4), (16, 21, 1.0), (21, 23, 0.4)], 0.08),
        (1, 1, 1, 1, 1.05, 1.15, 1.15),
        1.3,
        0.02,
        1.0,
    ),
    "office": (
        _shape([(8, 18, 1.0), (7, 8, 0.4), (18, 19, 0.4)], 0.1),
        (1, 1, 1, 1, 1, 0.25, 0.15),
        0.15,
        0.02,
        1.0,
    ),
    "shift1": (
        _shape([(8, 12, 1.0), (12, 13, 0.55), (13, 17, 1.0), (7, 8, 0.3), (17, 18, 0.3)], 0.06),
        (1, 1, 1, 1, 1, 0.5, 0.08),
        0.1,
        0.0,
        1.0,
    ),
    "shift2": (
        _shape([(6, 22, 1.0), (5, 6, 0.4), (22, 23, 0.4)], 0.12),
        (1, 1, 1, 1, 1, 0.9, 0.4),
        0.3,
        0.0,
        1.0,
    ),
    "process24": (np.ones(24), (1,) * 7, 1.0, 0.004, 0.5),
    "bakery": (
        _shape([(2, 7, 1.0), (7, 11, 0.45), (11, 21, 0.2)], 0.1),
        (1, 1, 1, 1, 1, 1.15, 1.15),
        1.3,
        0.01,
        1.0,
    ),
    "tofu": (_shape([(3, 8, 1.0), (8, 11, 0.3), (2, 3, 0.4)], 0.05), (1,) * 7, 1.0, 0.0, 1.0),
    "cold_store": (_shape([(8, 18, 1.0)], 0.85), (1,) * 7, 1.0, 0.035, 0.8),
    "pump": (_shape([(5, 20, 1.0)], 0.0), (1,) * 7, 1.0, 0.0, 0.6),
    "farm": (_shape([(6, 19, 1.0)], 0.6), (1,) * 7, 1.0, 0.03, 0.8),
    "gas_station": (_shape([(6, 22, 1.0)], 0.35), (1, 1, 1, 1, 1, 1.1, 1.1), 1.2, 0.01, 0.8),
    "quarry": (
        _shape([(7, 12, 1.0), (13, 18, 1.0), (12, 13, 0.5)], 0.04),
        (1, 1, 1, 1, 1, 1, 0.3),
        0.1,
        0.0,
        1.0,
    ),
    "dormant": (np.ones(24), (1,) * 7, 1.0, 0.0, 1.6),
    "household": (_HOUSE / _HOUSE.sum(), (1, 1, 1, 1, 1, 1.08, 1.08), 1.1, 0.09, 1.5),
    "workshop": (np.ones(24), (1,) * 7, 1.0, 0.0, 0.7),  # night 1, day = day_ratio
    "construction": (_shape([(7, 18, 1.0)], 0.15), (1, 1, 1, 1, 1, 1, 0.5), 0.3, 0.0, 1.2),
    # Profiles of the styled worlds only (appended: the classic ones keep their indices).
    "shift3": (  # three shifts, lighter at the weekend
        _shape([(6, 7, 0.8), (14, 15, 0.85), (22, 23, 0.8)], 1.0),
        (1, 1, 1, 1, 1, 0.8, 0.5),
        0.3,
        0.0,
        0.8,
    ),
    "shift1_6d": (  # one shift, six days a week
        _shape([(8, 12, 1.0), (12, 13, 0.55), (13, 17, 1.0), (7, 8, 0.3), (17, 18, 0.3)], 0.06),
        (1, 1, 1, 1, 1, 1, 0.12),
        0.15,
        0.0,
        1.0,
    ),
    "poultry": (_shape([(5, 22, 1.0)], 0.7), (1,) * 7, 1.0, 0.06, 0.5),  # fans + lights
    "pump24": (np.ones(24), (1,) * 7, 1.0, 0.0, 0.5),  # pumping round the clock in a drought
    "paint_booth": (  # repairs by day, the booth bakes in the evening
        _shape([(8, 12, 0.7), (12, 13, 0.35), (13, 18, 0.7), (18, 21, 1.0)], 0.06),
        (1, 1, 1, 1, 1, 1, 0.6),
        0.5,
        0.01,
        1.3,
    ),
}
NAMES = tuple(PROFILES)
_IDX = {n: i for i, n in enumerate(NAMES)}
SHAPES = np.stack([PROFILES[n][0] for n in NAMES])
WEEK = np.array([PROFILES[n][1] for n in NAMES])
HOLI = np.array([PROFILES[n][2] for n in NAMES])
HEAT = np.array([PROFILES[n][3] for n in NAMES])
NOISE = np.array([PROFILES[n][4] for n in NAMES])
PUMPS = np.array([_IDX["pump"], _IDX["pump24"]])


class Calendar:
    """Per-day facts shared by every account: weekday, holiday, temperature, dry spells."""

    def __init__(self, rng: np.random.Generator, preset: SizePreset) -> None:
        self.days = preset.days
        self.start = preset.start
        dates = [self.start + timedelta(days=i) for i in range(self.days)]
        self.dow = np.array([d.weekday() for d in dates])
        self.holiday = np.array([d in HOLIDAYS for d in dates])
        doy = np.array([d.timetuple().tm_yday for d in dates])
        weather = np.zeros(self.days)
        for i in range(1, self.days):
            weather[i] = 0.75 * weather[i - 1] + rng.normal(0, 1.3)
        self.temp = 15.0 + 13.5 * np.sin(2 * np.pi * (doy - 110) / 365) + weather
        # Dry spells: a few runs of hot days in May-September when pumps irrigate.
        summer = np.array([5 <= d.month <= 9 for d in dates])
        self.spells: list[tuple[int, int]] = []
        n_spells = max(1, self.days // 18)
        for _ in range(n_spells * 4):
            if len(self.spells) >= n_spells:
                break
            s = int(rng.integers(0, max(1, self.days - 4)))
            ln = int(rng.integers(3, 8))
            if summer[s] and all(abs(s - a) > 8 for a, _ in self.spells):
                self.spells.append((s, min(self.days, s + ln)))
        if not self.spells:
            self.spells.append((self.days // 2, min(self.days, self.days // 2 + 5)))

    def spell_days(self) -> np.ndarray:
        """(spells, days) indicator matrix."""
        m = np.zeros((len(self.spells), self.days), dtype=bool)
        for i, (a, b) in enumerate(self.spells):
            m[i, a:b] = True
        return m


def _base(
    rng: np.random.Generator,
    cal: Calendar,
    prof: np.ndarray,
    level: np.ndarray,
    day_ratio: np.ndarray,
    force: np.ndarray,
    habits: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Noise-free-ish expected load for one (profile, level) per account. ``habits`` (a
    styled world's) shifts an account's working hours and adds a standing load."""
    H = cal.days * 24
    hod = np.arange(H) % 24
    day = np.arange(H) // 24
    shapes = SHAPES[prof]  # n x 24
    ws = prof == _IDX["workshop"]
    if ws.any():
        dr = np.nan_to_num(day_ratio[ws], nan=0.3)[:, None]
        ramp = np.where(NIGHT, 1.0, dr)
        ramp[:, [6, 21]] = (1.0 + dr) / 2  # workers ramp up and down around the shift
        shapes[ws] = ramp
    m = shapes[:, hod]
    if habits is not None and habits["shift_h"].any():
        sh = habits["shift_h"]
        rows = np.flatnonzero(sh != 0)
        m[rows] = np.take_along_axis(shapes[rows], (hod[None, :] - sh[rows, None]) % 24, axis=1)
    m *= WEEK[prof][:, cal.dow[day]]
    hol = cal.holiday[day]
    if hol.any():
        m[:, hol] *= HOLI[prof][:, None]
    heat = np.maximum(cal.temp - 25.0, 0.0)[day]
    gain = HEAT[prof] if habits is None else HEAT[prof] * habits["heat_k"]
    m *= 1.0 + gain[:, None] * heat[None, :]
    pump = np.isin(prof, PUMPS)
    if pump.any():
        part = rng.random((int(pump.sum()), len(cal.spells))) < 0.75
        part[force[pump], 0] = True  # look-alike pumps surely irrigate in the first spell
        on_day = (part.astype(float) @ cal.spell_days().astype(float)) > 0
        m[pump] = np.where(on_day[:, day], m[pump], 0.004)
    cold = prof == _IDX["cold_store"]
    if cold.any():  # compressor cycling, visible even in hourly sums
        k = int(cold.sum())
        period = rng.uniform(3, 7, size=(k, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(k, 1))
        m[cold] *= 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(H)[None, :] / period + phase)
    if habits is not None:
        m += habits["base"][:, None]
    return m * level[:, None]


def hourly_block(
    rng: np.random.Generator,
    cal: Calendar,
    acc: pl.DataFrame,
    extra: pl.DataFrame | None = None,
    tune: Tunables = TUNE,
) -> np.ndarray:
    """kWh per hour for a block of accounts (rows) over the window (columns); NaN where
    the account did not exist yet. ``extra`` (a styled world's, one row per account in the
    same order) carries each account's standing load, hour shift, noise multiplier and the
    days over which its switch ramps (a factory commissioning its lines)."""
    n = acc.height
    H = cal.days * 24
    day = np.arange(H) // 24
    prof = np.array([_IDX[p] for p in acc["profile"].to_list()])
    force = acc["protected"].to_numpy()
    habits = None
    if extra is not None:
        habits = {
            "base": extra["base"].fill_null(0.0).to_numpy(),
            "shift_h": extra["shift_h"].fill_null(0).to_numpy(),
            "heat_k": extra["heat_k"].fill_null(1.0).to_numpy()
            if "heat_k" in extra.columns
            else np.ones(n),
        }
    m = _base(rng, cal, prof, acc["level"].to_numpy(), acc["day_ratio"].to_numpy(), force, habits)
    sw = acc["switch_day"].to_numpy()
    has2 = sw < cal.days
    if has2.any():
        prof2 = np.array([_IDX[p] for p in acc.filter(pl.Series(has2))["profile2"].to_list()])
        h2 = None if habits is None else {k: v[has2] for k, v in habits.items()}
        m2 = _base(
            rng,
            cal,
            prof2,
            acc["level2"].to_numpy()[has2],
            acc["day_ratio2"].to_numpy()[has2],
            force[has2],
            h2,
        )
        ramp = None if extra is None else extra["ramp"].fill_null(0).to_numpy()[has2]
        if ramp is not None and ramp.any():
            wgt = np.clip(
                (day[None, :] - sw[has2][:, None] + 1) / np.maximum(ramp, 1)[:, None], 0, 1
            )
            m[has2] = m[has2] * (1 - wgt) + m2 * wgt
        else:
            late = day[None, :] >= sw[has2][:, None]
            m[has2] = np.where(late, m2, m[has2])
        prof[has2] = np.where(sw[has2] < cal.days // 2, prof2, prof[has2])
    sig = tune.hour_noise * NOISE[prof]
    if extra is not None:
        sig = sig * extra["noise_k"].fill_null(1.0).to_numpy()
    m *= np.exp(rng.normal(0, 1, size=(n, H)) * sig[:, None])
    m *= np.exp(rng.normal(0, tune.day_noise, size=(n, cal.days)))[:, day]
    # One outage for some accounts: a few hours at zero.
    out = rng.random(n) < tune.outage_prob
    s = rng.integers(0, H, size=n)
    e = s + rng.integers(1, 7, size=n)
    t = np.arange(H)[None, :]
    m[(t >= s[:, None]) & (t < e[:, None]) & out[:, None]] = 0.0
    first = acc["first_day"].to_numpy()
    m[day[None, :] < first[:, None]] = np.nan
    return m


def meter_round(x: np.ndarray) -> np.ndarray:
    """Round as meters report: three significant figures, at most two decimals (a CT meter
    with a multiplier reads whole kWh on a big plant, a shop's meter reads 0.01 kWh)."""
    a = np.abs(np.nan_to_num(x))
    mag = np.floor(np.log10(np.where(a > 0, a, 1.0)))
    dec = np.clip(2 - mag, 0, 2)
    scale = 10.0**dec
    return np.round(x * scale) / scale


def quarter_hours(rng: np.random.Generator, hourly: np.ndarray) -> np.ndarray:
    """Split hourly kWh into four 15-minute values that keep the hourly sum."""
    w = np.exp(rng.normal(0, 0.08, size=(*hourly.shape, 4)))
    w /= w.sum(axis=-1, keepdims=True)
    return (hourly[..., None] * w).reshape(hourly.shape[0], -1)


def daily(hourly: np.ndarray) -> np.ndarray:
    n, H = hourly.shape
    return hourly.reshape(n, H // 24, 24).sum(axis=2)


def night_share(hourly: np.ndarray) -> np.ndarray:
    """Share of energy in 22:00-06:00 per row (used by tests and scenario checks)."""
    n, H = hourly.shape
    cube = np.nan_to_num(hourly.reshape(n, H // 24, 24))
    tot = cube.sum(axis=(1, 2))
    return cube[:, :, NIGHT].sum(axis=(1, 2)) / np.where(tot > 0, tot, 1)
