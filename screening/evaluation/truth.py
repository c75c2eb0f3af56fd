"""Ground truth of a generated county, matched to the pipeline's sites.

A truth site is found where a site shares one of its linked ids or lies within ``radius_m``
of its true position; the signal names the generator writes map onto predicates over the
site feature table, so that "the planted site carries the signals its kind should show" is a
query, not a judgement.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from screening.coords import haversine_m
from screening.schema import PLACE_ID_COLUMNS

# plates and tips are not used: a truck visits many sites, a tip may describe several
ID_COLUMNS = PLACE_ID_COLUMNS


def _named(pattern: str) -> pl.Expr:
    """A registration or a meter at the site is named for its trade."""
    return pl.col("names").fill_null("").str.contains(pattern) | pl.col("meter_names").fill_null(
        ""
    ).str.contains(pattern)


# truth signal name -> predicate over the site feature table
SIGNALS: dict[str, pl.Expr] = {
    "night_share": (pl.col("night_share").fill_null(0) >= 0.3)
    | (pl.col("night_share_pct").fill_null(0) >= 0.9),
    "flat_load": (pl.col("flatness").fill_null(0) >= 0.5)
    | (pl.col("load_factor").fill_null(0) >= 0.6),
    "jump": pl.col("jump_ratio").fill_null(0) >= 2,
    "dormant_wake": pl.col("wake_date").is_not_null(),
    "three_phase": pl.col("three_phase").fill_null(False)
    | pl.col("residential_power_supply").fill_null(False),
    "chemistry_name": pl.col("hides_chemistry").fill_null(False)
    | pl.col("cover_name").fill_null(False),
    "no_registration": pl.col("entities").fill_null(0) == 0,
    "no_permit": ~pl.col("has_valid_permit").fill_null(False)
    | pl.col("unpermitted_beside_permitted").fill_null(False),
    "permit_expired": pl.col("permit_expired_on").is_not_null(),
    "permit_kind_mismatch": pl.col("has_valid_permit").fill_null(False)
    & ~pl.col("permit_kinds").fill_null("").str.contains("production"),
    "shared_address": (pl.col("entities").fill_null(0) >= 2)
    | pl.col("unpermitted_beside_permitted").fill_null(False),
    "idle_premises": pl.col("idle_kinds").is_not_null(),
    "remote": pl.col("is_remote").fill_null(False),
    "truck_stops": pl.col("truck_visits").fill_null(0) > 0,
    "night_truck_stops": pl.col("truck_night_visits").fill_null(0) > 0,
    "fuel_tanker": pl.col("fuel_visits").fill_null(0) > 0,
    "recurrence": pl.col("case_activity").fill_null(False),
    "tip": pl.col("tips").fill_null(0) > 0,
    "valid_permit": pl.col("has_valid_permit").fill_null(False),
    "fuel_permit": pl.col("has_fuel_permit").fill_null(False),
    "carrier_depot": pl.col("carrier_depot").fill_null(False),
    "driver_home": pl.col("driver_home").fill_null(False),
    "bakery_hours": pl.col("industry_codes").fill_null("").str.contains("C13|C14"),
    "irrigation": pl.col("tariffs").fill_null("").str.contains("agricultural"),
    "new_factory": pl.col("new_registration").fill_null(False)
    & pl.col("has_valid_permit").fill_null(False),
    # innocent explanations of the styled worlds' look-alikes (sample/adversary.py): what a
    # person reading the site's records would see
    "new_registration": pl.col("new_registration").fill_null(False),
    "day_shape": pl.col("night_share").fill_null(1.0) < 0.3,
    "ordinary_industry": pl.col("industry_codes").is_not_null()
    & ~pl.col("chemical_industry").fill_null(False)
    & ~pl.col("hides_chemistry").fill_null(False),
    "registered_after_case": pl.col("latest_established") > pl.col("case_closed_on"),
    "agricultural_tariff": pl.col("tariffs").fill_null("").str.contains("agricultural"),
    "household_meter": pl.col("tariffs").fill_null("").str.contains("residential"),
    "livestock": pl.col("industry_codes").fill_null("").str.contains("A03")
    | _named("养殖|养鸡|禽|牧业|生猪"),
    "food_name": _named("豆腐|豆制品|馒头|早点|早餐|面包|蛋糕|烘焙|食品"),
    "cold_name": _named("冷藏|冷链|冷库|保鲜|冷冻|果蔬|肉类"),
    "printing": pl.col("industry_codes").fill_null("").str.contains("C23")
    | _named("印刷|彩印|印务"),
    "car_repair": pl.col("industry_codes").fill_null("").str.contains("O81")
    | _named("汽修|汽车修理|汽车维修"),
    "wood_name": _named("木业|木制品|家具|木工"),
    "pump_name": _named("排灌|机井|泵站|灌溉"),
    "company_meter": pl.col("meter_names").fill_null("").str.contains("公司|厂|合作社|经营部"),
    "same_legal_rep": (pl.col("entities").fill_null(0) >= 2)
    & ~pl.col("legal_reps").fill_null(";").str.contains(";"),
    "overnight_parking": pl.col("truck_overnights").fill_null(0) > 0,
    "registered_carriers": (pl.col("truck_visits").fill_null(0) > 0)
    & (pl.col("unregistered_plates").fill_null(0) == 0),
}


def read_truth(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False).with_columns(
        pl.col("lon").cast(pl.Float64),
        pl.col("lat").cast(pl.Float64),
        pl.col("jump_date").str.to_date(strict=False),
    )


def match_sites(truth: pl.DataFrame, sites: pl.DataFrame, radius_m: float = 150.0) -> pl.DataFrame:
    """(truth_id, site_id) pairs: shared linked ids, or the nearest site within radius."""
    pairs = []
    for col in ID_COLUMNS:
        if col not in sites.columns:
            continue
        t = (
            truth.select("truth_id", pl.col(col).str.split(";").alias("_id"))
            .explode("_id")
            .filter(pl.col("_id").is_not_null() & (pl.col("_id") != ""))
        )
        s = (
            sites.select("site_id", pl.col(col).str.split(";").alias("_id"))
            .explode("_id")
            .filter(pl.col("_id").is_not_null())
        )
        pairs.append(t.join(s, on="_id").select("truth_id", "site_id"))
    placed = sites.filter(pl.col("lon").is_not_null())
    d = haversine_m(
        truth["lon"].to_numpy()[:, None],
        truth["lat"].to_numpy()[:, None],
        placed["lon"].to_numpy()[None, :],
        placed["lat"].to_numpy()[None, :],
    )
    near = np.argmin(d, axis=1)
    ok = d[np.arange(len(truth)), near] <= radius_m
    pairs.append(
        pl.DataFrame(
            {
                "truth_id": truth["truth_id"].filter(pl.Series(ok)),
                "site_id": placed["site_id"].gather(near[ok]),
            }
        )
    )
    return pl.concat(pairs).unique().sort("truth_id", "site_id")


def signal_report(truth: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """Per truth site and expected signal: does any matched site carry it?"""
    pairs = match_sites(truth, features)
    flags = features.select("site_id", *[e.alias(k) for k, e in SIGNALS.items()])
    expected = truth.select(
        "truth_id", "role", "category", "strength", pl.col("signals").str.split(";").alias("signal")
    ).explode("signal")
    carried = pairs.join(flags, on="site_id").unpivot(
        index=["truth_id", "site_id"], variable_name="signal", value_name="ok"
    )
    got = carried.group_by("truth_id", "signal").agg(pl.col("ok").any())
    return (
        expected.join(got, on=["truth_id", "signal"], how="left")
        .with_columns(pl.col("ok").fill_null(False))
        .sort("truth_id", "signal")
    )


def _unused(_: dt.date) -> None:  # keeps datetime import for type readers
    return None
