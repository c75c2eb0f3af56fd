"""Power signals pinned on small hand-built meters whose story is known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from screening.settings import load_config
from screening.signals import power

AS_OF = dt.date(2021, 8, 31)
CFG = load_config()["power"]
HOURS = pl.datetime_range(dt.datetime(2021, 7, 1), dt.datetime(2021, 8, 31, 23), "1h", eager=True)
H = HOURS.dt.hour().to_numpy()
DAY = (HOURS - HOURS[0]).dt.total_days().to_numpy()


def _meter(account_id: str, kwh: np.ndarray, ts: pl.Series = HOURS, interval: int = 60):
    return pl.DataFrame(
        {"account_id": account_id, "ts": ts, "kwh": kwh.astype(float), "interval_min": interval}
    )


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    noise = rng.random(len(H)) * 0.5
    spike = np.full(len(H), 3.0)
    spike[24 * 50 + 5] = 900.0
    gappy = np.where((H >= 8) & (H < 18), 10.0, 1.0)
    keep = ~((DAY >= 20) & (DAY < 30))  # ten days not reported
    wake = np.where(DAY >= 45, 30.0, 0.0)
    days = pl.date_range(dt.date(2021, 7, 1), AS_OF, eager=True).cast(pl.Datetime("us"))
    frames = [
        _meter("bakery", np.where((H >= 2) & (H < 7), 20.0, 1.0) + noise),
        _meter("reactor", 50 + noise),
        _meter("jumper", np.where(DAY >= 40, 40.0, 2.0) + noise),  # from 2021-08-10
        _meter("shop", np.where((H >= 9) & (H < 21), 5.0, 0.2) + noise),
        _meter("waker", wake),
        _meter("spiky", spike),
        _meter("gappy", gappy).filter(pl.Series(keep)),
        _meter("household", np.full(len(days), 8.0), ts=days, interval=1440),
    ]
    accounts = pl.LazyFrame(
        {
            "account_id": [
                "bakery",
                "reactor",
                "jumper",
                "shop",
                "waker",
                "spiky",
                "gappy",
                "household",
            ],
            "tariff": ["commercial"] * 7 + ["residential"],
            "capacity_kva": [50.0] * 7 + [8.0],
        }
    )
    out = power.power_features(pl.concat(frames).lazy(), accounts, AS_OF, CFG)
    return {r["account_id"]: r for r in out.iter_rows(named=True)}


def test_night_bakery_has_high_night_share_but_no_flat_load(features):
    b = features["bakery"]
    assert b["night_share"] > 0.6
    assert b["flatness"] < 0.2 and b["high_hours_per_day"] == pytest.approx(5, abs=0.5)


def test_round_the_clock_load_is_flat(features):
    r = features["reactor"]
    assert r["flatness"] > 0.9 and r["load_factor"] > 0.9 and r["high_hours_per_day"] == 24
    assert r["night_share"] == pytest.approx(8 / 24, abs=0.01)


def test_jump_found_on_its_date(features):
    j = features["jumper"]
    assert j["jump_date"] == dt.date(2021, 8, 10)
    assert j["jump_ratio"] > 10 and j["level_ratio"] > 3


def test_single_spike_is_not_a_jump(features):
    s = features["spiky"]
    assert s["jump_ratio"] == pytest.approx(1.0, abs=0.05)
    assert s["load_factor"] <= 1.0


def test_dormant_meter_waking_up(features):
    w = features["waker"]
    assert w["wake_date"] == dt.date(2021, 8, 15)
    assert w["dormant_days"] == 45  # all of July 1 to August 14 (within history_days)
    assert features["shop"]["wake_date"] is None


def test_gaps_lower_coverage_and_are_not_zeros(features):
    g = features["gappy"]
    assert g["coverage"] == pytest.approx(46 / 56)
    assert g["longest_gap_days"] == 10
    assert g["zero_days"] == 0
    assert g["daily_kwh_baseline"] == pytest.approx(10 * 10 + 14, abs=0.01)


def test_daily_meters_get_levels_but_no_invented_profile(features):
    h = features["household"]
    assert h["daily_kwh_recent"] == 8.0 and h["interval_min"] == 1440
    assert h["night_share"] is None and h["flatness"] is None


def test_percentiles_are_within_peer_groups(features):
    assert features["household"]["peer_group"] == "residential"
    assert features["household"]["daily_kwh_recent_pct"] == 1.0  # alone in its group
    assert features["reactor"]["flatness_pct"] >= 5 / 7


def test_nothing_after_as_of_is_used():
    late = _meter("late", np.where(DAY >= 61, 1000.0, 1.0))  # only 2021-08-31 is high
    early = power.power_features(
        late.lazy(),
        pl.LazyFrame({"account_id": ["late"], "tariff": ["commercial"], "capacity_kva": [50.0]}),
        dt.date(2021, 8, 30),
        CFG,
    )
    assert early["daily_kwh_recent"].item() == pytest.approx(24.0)


def test_a_jump_many_peers_share_is_the_season():
    """Six of ten households jumped within a fortnight of one another (air conditioners in
    the first hot weeks): each of them shares its jump with five of its nine peers. The one
    that jumped in June alone shares it with none; a meter that never jumped has no share;
    a shop's peers are shops."""
    d = dt.date(2021, 7, 1)
    rows = [(f"h{i}", "residential/0-50", d + dt.timedelta(days=2 * i), 2.0) for i in range(6)]
    rows += [("early", "residential/0-50", dt.date(2021, 6, 1), 3.0)]
    rows += [("small", "residential/0-50", d, 1.2)]  # a little more use the same week
    rows += [("steady", "residential/0-50", None, None), ("h_late", "residential/0-50", None, None)]
    rows += [("shop", "commercial/0-50", d, 3.0), ("shop2", "commercial/0-50", None, 1.0)]
    f = pl.DataFrame(
        rows, schema=["account_id", "peer_group", "jump_date", "jump_ratio"], orient="row"
    ).with_columns(pl.len().over("peer_group").alias("peer_count"))
    out = dict(
        power.common_jumps(f.lazy(), CFG).select("account_id", "jump_common_share").collect().rows()
    )
    assert out["h0"] == pytest.approx(5 / 9) and out["h5"] == pytest.approx(5 / 9)
    assert out["early"] == 0
    assert out["small"] == pytest.approx(6 / 9)  # it jumped little itself: six others did
    assert out["steady"] is None
    assert out["shop"] == 0


def _weekday_office(first: dt.date, last: dt.date, off: set[dt.date], start: dt.date | None):
    """Daily kWh of an office: 60 on working days, 15 at weekends and on days off; from
    ``start`` on (if given) a workshop in it takes 200 a day."""
    days = pl.date_range(first, last, eager=True)
    idle = days.dt.weekday().is_in([6, 7]) | days.is_in(sorted(off))
    kwh = np.where(idle.to_numpy(), 15.0, 60.0)
    if start is not None:
        kwh = np.where((days >= start).to_numpy(), 200.0, kwh)
    return days, pl.Series(kwh)


@pytest.mark.parametrize("start", [None, dt.date(2021, 7, 1)])
def test_days_off_opening_the_readings_make_no_jump(start):
    """Readings that begin on 4 May 2021, the last two days off of Labour Day: the first
    week holds four idle days (two days off, a weekend), so an office working weekdays
    'jumped' 3x to its ordinary level the week after. Days off are left out of the jump
    search: no jump; a workshop moving in on 1 July still jumps on its date."""
    first, as_of = dt.date(2021, 5, 4), dt.date(2021, 8, 31)
    off = set(power.days_off(first, as_of, CFG))
    assert {dt.date(2021, 5, 4), dt.date(2021, 5, 5), dt.date(2021, 6, 14)} <= off
    days, kwh = _weekday_office(first, as_of, off, start)
    readings = pl.DataFrame(
        {
            "account_id": "office",
            "ts": days.cast(pl.Datetime("us")),
            "kwh": kwh,
            "interval_min": 1440,
        }
    )
    got = power.meter_signals(readings.lazy(), as_of, CFG).row(0, named=True)
    if start is None:
        assert got["jump_ratio"] < 1.5
        # without the calendar the holiday opening reads as the jump the bench found
        bare = power.meter_signals(readings.lazy(), as_of, {**CFG, "days_off_country": ""})
        assert bare["jump_ratio"].item() > 3
    else:
        assert got["jump_date"] == start and got["jump_ratio"] > 3


def test_extra_days_off_are_read_from_the_settings():
    cfg = {**CFG, "days_off_country": "", "extra_days_off": ["2021-07-20", "2020-01-01"]}
    assert power.days_off(dt.date(2021, 7, 1), dt.date(2021, 7, 31), cfg) == [dt.date(2021, 7, 20)]
