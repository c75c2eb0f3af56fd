"""How each agency spells the same address, and where it puts the pin.

A place has one canonical core ("符离镇张庄村三组25号"). Market regulation writes it with the
full province prefix, the grid company without, one clerk types 工业园 for 工业园区 or 3组 for
三组, and each agency geocodes the place a few metres apart. The pipeline must match them
anyway, so the generator makes every one of these differences, vectorised over a column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .config import CITY, COUNTY, PROVINCE, TUNE
from .geography import to_lonlat, to_xy
from .names import FULLWIDTH, cn_number

PREFIXES = (PROVINCE + CITY + COUNTY, CITY + COUNTY, COUNTY, "")

_CN = [cn_number(i) for i in range(99, 0, -1)]  # longest first: 十二 before 二
_GROUP_FROM = [c + "组" for c in _CN] + ["纬" + c + "路" for c in _CN]
_GROUP_TO = [f"{i}组" for i in range(99, 0, -1)] + [f"纬{i}路" for i in range(99, 0, -1)]


@dataclass(frozen=True)
class Style:
    """One agency's habits: prefix probabilities (full, city, county, none) and how often it
    abbreviates or uses Arabic numerals."""

    prefix: tuple[float, float, float, float]
    short_park: float = 0.2
    hash_sign: float = 0.1
    arabic: float = 0.3
    fullwidth: float = 0.0


STYLES: dict[str, Style] = {
    "registrations": Style((0.75, 0.2, 0.05, 0.0), short_park=0.1, hash_sign=0.02, arabic=0.15),
    "permits": Style((0.6, 0.3, 0.1, 0.0), short_park=0.15, hash_sign=0.02, arabic=0.2),
    "power_accounts": Style((0.05, 0.25, 0.4, 0.3), short_park=0.4, hash_sign=0.25, arabic=0.6),
    "idle_properties": Style((0.0, 0.1, 0.3, 0.6), short_park=0.3, hash_sign=0.1, arabic=0.5),
    "sanctioned_sites": Style((0.2, 0.3, 0.3, 0.2), short_park=0.3, hash_sign=0.1, arabic=0.4),
    "tips": Style((0.05, 0.15, 0.3, 0.5), short_park=0.5, hash_sign=0.2, arabic=0.7),
}


def render(core: pl.Series, rng: np.random.Generator, style: Style, messy: bool) -> pl.Series:
    """Spell each canonical core the way this agency would."""
    n = core.len()
    prefix = np.array(PREFIXES)[rng.choice(4, size=n, p=np.array(style.prefix))]
    short = rng.random(n) < style.short_park
    hash_ = rng.random(n) < style.hash_sign
    arabic = rng.random(n) < style.arabic
    full = (rng.random(n) < (style.fullwidth or TUNE.messy_fullwidth)) & messy
    df = pl.DataFrame({"core": core, "p": prefix, "s": short, "h": hash_, "a": arabic, "f": full})
    c = pl.col("core")
    c = pl.when(pl.col("s")).then(c.str.replace("工业园区", "工业园", literal=True)).otherwise(c)
    c = pl.when(pl.col("a")).then(c.str.replace_many(_GROUP_FROM, _GROUP_TO)).otherwise(c)
    c = (
        pl.when(pl.col("h") & c.str.ends_with("号"))
        .then(c.str.strip_suffix("号") + pl.lit("#"))
        .otherwise(c)
    )
    c = pl.concat_str([pl.col("p"), c])
    fw_from = list("0123456789")
    fw_to = [ch.translate(FULLWIDTH) for ch in fw_from]
    c = pl.when(pl.col("f")).then(c.str.replace_many(fw_from, fw_to)).otherwise(c)
    return df.select(c.alias("address")).to_series()


def canonical(core: pl.Series) -> pl.Series:
    return (PROVINCE + CITY + COUNTY) + core


def jitter(
    rng: np.random.Generator,
    lon: np.ndarray,
    lat: np.ndarray,
    missing_share: float = 0.0,
    metres: tuple[float, float] = TUNE.record_jitter_m,
) -> tuple[np.ndarray, np.ndarray]:
    """Where an agency put the pin: a few metres to tens of metres off, sometimes nowhere."""
    x, y = to_xy(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    n = x.size
    d = rng.uniform(metres[0], metres[1], size=n)
    a = rng.uniform(0, 2 * np.pi, size=n)
    jl, jt = to_lonlat(x + d * np.cos(a), y + d * np.sin(a))
    miss = rng.random(n) < missing_share
    return np.where(miss, np.nan, jl), np.where(miss, np.nan, jt)
