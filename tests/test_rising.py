"""A level rising now (signals/rising.py) on small hand-built hourly meters, and the rule that
reads it: a step is flagged after three days with its first day as "since", while a steady
meter, a noisy steady one and a single freak day are not; once the jump search sees the
step, POWER_RISING stands aside for POWER_JUMP."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from screening.scoring.rules import apply, load_rules
from screening.settings import load_config
from screening.signals import power

CONFIG = load_config()
CFG = CONFIG["power"]
START = dt.datetime(2021, 7, 1)
STEP = dt.date(2021, 8, 20)  # the day the step meter's new level begins


def _readings(as_of: dt.date) -> pl.LazyFrame:
    """Hourly meters up to ``as_of``: a step from 2 to 40 kWh an hour on STEP, a steady
    one, a noisy steady one (±35% a day, the weather and the orders) and one with a single
    freak day."""
    hours = pl.datetime_range(
        START, dt.datetime.combine(as_of, dt.time(23)), "1h", eager=True
    ).alias("ts")
    day = (hours - hours[0]).dt.total_days().to_numpy()
    rng = np.random.default_rng(5)
    step_day = (STEP - START.date()).days
    daily_noise = rng.normal(1.0, 0.35, size=int(day.max()) + 1).clip(0.2)
    freak = np.full(len(hours), 3.0)
    freak[(day == day.max() - 1)] = 60.0
    meters = {
        "step": np.where(day >= step_day, 40.0, 2.0) + rng.random(len(hours)) * 0.3,
        "steady": 20.0 + rng.random(len(hours)) * 0.3,
        "noisy": 20.0 * daily_noise[day] + rng.random(len(hours)),
        "freak": freak,
    }
    return pl.concat(
        pl.DataFrame({"account_id": k, "ts": hours, "kwh": v, "interval_min": 60})
        for k, v in meters.items()
    ).lazy()


def _signals(as_of: dt.date) -> pl.DataFrame:
    return power.meter_signals(_readings(as_of), as_of, CFG).sort("account_id")


@pytest.mark.parametrize("days", [1, 2])
def test_a_step_is_not_flagged_on_its_first_days(days: int) -> None:
    got = _signals(STEP + dt.timedelta(days=days - 1))
    assert got.filter(pl.col("rise_date").is_not_null()).height == 0


@pytest.mark.parametrize("days", [3, 4, 6])
def test_a_step_is_flagged_from_its_third_day_since_its_first(days: int) -> None:
    got = _signals(STEP + dt.timedelta(days=days - 1))
    flagged = got.filter(pl.col("rise_date").is_not_null())
    assert flagged["account_id"].to_list() == ["step"]
    row = flagged.row(0, named=True)
    assert row["rise_date"] == STEP
    assert row["rise_days"] == days
    assert row["rise_after"] == pytest.approx(24 * 40.15, rel=0.01)
    assert row["rise_ratio"] >= 10
    assert row["rise_cusum"] >= CFG["rising"]["h"]
    # before the jump search can place it (power.min_segment_days of the new level)
    if days < CFG["min_segment_days"]:
        assert row["jump_date"] != STEP


@pytest.mark.parametrize("as_of", [dt.date(2021, 8, 22), dt.date(2021, 8, 31)])
def test_steady_noisy_and_freak_meters_are_not_flagged(as_of: dt.date) -> None:
    got = _signals(as_of).filter(pl.col("account_id") != "step")
    assert got["rise_date"].null_count() == got.height == 3


def _site(meter: pl.DataFrame) -> pl.DataFrame:
    """The one meter as a site row carrying what the power rules read."""
    cols = ["rise_date", "rise_days", "rise_before", "rise_after", "rise_ratio", "rise_sigma"]
    cols += ["jump_ratio", "jump_after", "jump_before", "jump_date", "daily_kwh_recent"]
    return meter.select(pl.lit("S1").alias("site_id"), *cols)


def _fired(site: pl.DataFrame) -> dict[str, str]:
    ruleset = load_rules(CONFIG)
    ruleset.rules = [r for r in ruleset.rules if r.code in ("POWER_RISING", "POWER_JUMP")]
    ruleset.__post_init__()
    _, reasons = apply(site, ruleset)
    return dict(zip(reasons["code"], reasons["evidence"], strict=True))


def test_the_rule_says_since_when_and_how_sure_then_gives_way_to_the_jump() -> None:
    early = _fired(_site(_signals(STEP + dt.timedelta(days=2)).filter(account_id="step")))
    assert list(early) == ["POWER_RISING"]
    assert early["POWER_RISING"].startswith("8月20日起3天日均用电964千瓦时")
    assert "基线" in early["POWER_RISING"] and "累积和检验" in early["POWER_RISING"]
    later = _fired(_site(_signals(STEP + dt.timedelta(days=9)).filter(account_id="step")))
    assert list(later) == ["POWER_JUMP"]


def test_what_explains_a_jump_explains_a_rise() -> None:
    ruleset = load_rules(CONFIG)
    for inn in ruleset.of_kind("innocent"):
        assert ("POWER_JUMP" in inn.offsets) == ("POWER_RISING" in inn.offsets), inn.code
