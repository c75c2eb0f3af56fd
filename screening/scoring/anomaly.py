"""The anomaly model: how unusual each site is among its peers, and why.

Rules name what the campaign knows to look for; the model catches what no rule names. Sites
are compared within peer groups (the tariff of their meters, or "no meter"), on a feature
vector built from the site feature table with logs for the heavy-tailed figures and missing
values imputed by the group median plus a missing indicator (a site without a meter is not
"average", it is "no meter").

Two models share one interface, so the benchmark can keep the better one:
- ``isolation_forest`` (scikit-learn): how easily a site is isolated by random splits;
- ``peer_deviation``: the sum of the largest robust z-scores (median/MAD) against the group.

Either way the explanation is the same and model-agnostic: the three features furthest from
the group's median, in robust z units, with the site's value and the group's median.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from screening.settings import fill_settings

# feature -> (transform, label for inspectors, unit). The unit says how a figure is written:
# "%" a share as a percentage, "倍" a ratio (one decimal below 10), any other unit after a
# whole number; the group's median is written the same way, so that the two compare.
FEATURES: dict[str, tuple[str, str, str]] = {
    "night_share": ("", "夜间用电占比", "%"),
    "flatness": ("", "昼夜负荷比", "%"),
    "load_factor": ("", "负荷率", "%"),
    "high_hours_per_day": ("", "每日高负荷时长", "小时"),
    "daily_kwh_recent": ("log", "近期日均用电", "千瓦时"),
    "level_ratio": ("log", "近期/基期用电比", "倍"),
    "jump_ratio": ("log", "用电跃升", "倍"),
    "truck_visits": ("log", "危货车停靠", "次"),
    "truck_night_stops": ("log", "危货车夜间停靠", "次"),
    "fuel_visits": ("log", "油罐车停靠", "次"),
    "unregistered_plates": ("log", "外地危货车", "辆"),
    "tips": ("", "举报线索", "条"),
    "businesses_within_radius": ("log", "周边{features.remote_radius_m:km}公里经营主体数", "个"),
    "settlement_distance_m": ("log", "距居民点距离", "米"),
    "meter_faults": ("log", "电表异常读数", "条"),
}


def _figure(value: pl.Expr, unit: pl.Expr) -> pl.Expr:
    """A figure as inspectors read it: 63%, 4.2倍, 12次 (never 12.0 of a count)."""
    pct = (value * 100).round(0).cast(pl.Int64).cast(pl.String) + pl.lit("%")
    ratio = pl.when(value < 10).then(value.round(1).cast(pl.String)).otherwise(
        value.round(0).cast(pl.Int64).cast(pl.String)
    ) + pl.lit("倍")
    whole = value.round(0).cast(pl.Int64).cast(pl.String) + unit
    return pl.when(unit == "%").then(pct).when(unit == "倍").then(ratio).otherwise(whole)


def peer_groups(features: pl.DataFrame) -> pl.Expr:
    """Sites with meters are compared by tariff; sites without a meter with each other."""
    tariff = pl.col("tariffs").fill_null("").str.split(";").list.first()
    return (
        pl.when(pl.col("meters").fill_null(0) == 0)
        .then(pl.lit("no_meter"))
        .otherwise(tariff)
        .fill_null("other")
    )


def _matrix(features: pl.DataFrame, min_group: int) -> tuple[pl.DataFrame, list[str]]:
    cols = []
    for name, (transform, _, _) in FEATURES.items():
        e = pl.col(name).cast(pl.Float64).fill_nan(None)
        if transform == "log":
            e = e.clip(lower_bound=0).log1p()
        cols.append(e.alias(name))
    # in site order: an isolation forest draws its samples by row number, so the same
    # sites in another order would grow other trees
    grouped = features.select("site_id", peer_groups(features).alias("peer"), *cols).sort("site_id")
    small = grouped.group_by("peer").len().filter(pl.col("len") < min_group)["peer"]
    grouped = grouped.with_columns(
        pl.when(pl.col("peer").is_in(small.implode()))
        .then(pl.lit("other"))
        .otherwise(pl.col("peer"))
        .alias("peer")
    )
    return grouped, list(FEATURES)


def _robust_z(m: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """(x - group median) / (1.4826 MAD), with a floor on the scale so that a feature that is
    constant in the group (all zeros) does not make every non-zero value infinitely odd."""
    out = []
    for n in names:
        med = pl.col(n).median().over("peer")
        mad = (pl.col(n) - med).abs().median().over("peer") * 1.4826
        sd = pl.col(n).std().over("peer")
        scale = pl.max_horizontal(mad, 0.25 * sd.fill_null(0), pl.lit(1e-3))
        out += [((pl.col(n) - med) / scale).alias(f"z_{n}"), med.alias(f"med_{n}")]
    return m.with_columns(out)


def _explain(
    z: pl.DataFrame,
    names: list[str],
    features: pl.DataFrame,
    labels: Mapping[str, str],
    stated: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The three features furthest from the group's median, as a sentence, leaving out the
    figures a rule's evidence already states for the site (``stated``: site_id, feature).

    Each feature's (z, value, median) travel together as one struct, so that one unpivot
    and a filter on |z| give the candidates: unpivoting the three tables apart and joining
    them back on (site, feature) took 12 s of a city's 28 s of scoring."""
    logs = [n for n, (t, _, _) in FEATURES.items() if t == "log"]
    both = z.select("site_id", *[f"z_{n}" for n in names], *[f"med_{n}" for n in names]).join(
        features.select("site_id", *[pl.col(n).alias(f"v_{n}") for n in names]),
        on="site_id",
        how="left",
    )
    long = both.select(
        "site_id",
        *[
            pl.struct(
                pl.col(f"z_{n}").alias("z"),
                pl.col(f"v_{n}").cast(pl.Float64).alias("value"),
                pl.col(f"med_{n}").cast(pl.Float64).alias("median"),
            ).alias(n)
            for n in names
        ],
    ).unpivot(index="site_id", variable_name="feature", value_name="s")
    candidates = long.filter(pl.col("s").struct.field("z").abs() >= 2)
    if stated is not None and stated.height:
        candidates = candidates.join(
            stated.select("site_id", pl.col("feature")), on=["site_id", "feature"], how="anti"
        )
    top = (
        candidates.unnest("s")
        .sort("site_id", pl.col("z").abs(), descending=[False, True])
        .group_by("site_id", maintain_order=True)
        .head(3)
        .with_columns(
            pl.when(pl.col("feature").is_in(logs))
            .then(pl.col("median").exp() - 1)
            .otherwise(pl.col("median"))
            .alias("median")
        )
    )
    unit = pl.col("feature").replace_strict({n: u for n, (_, _, u) in FEATURES.items()})
    text = pl.format(
        "{}{}（同类中位数{}）",
        pl.col("feature").replace_strict(labels),
        _figure(pl.col("value"), unit),
        _figure(pl.col("median"), unit),
    )
    return top.group_by("site_id").agg(
        text.str.join("；").alias("anomaly_features"),
        pl.col("feature").str.join(";").alias("anomaly_codes"),
    )


def _percentile_in_group(scores: pl.Expr) -> pl.Expr:
    return scores.rank("average").over("peer") / pl.len().over("peer")


def params(settings: Mapping[str, Any]) -> dict[str, Any]:
    """score()'s settings: the model, the smallest peer group, the features' names."""
    scoring = settings["scoring"]
    return {
        "model": scoring["anomaly_model"],
        "min_group": scoring["anomaly_min_group"],
        "names_zh": labels(settings),
    }


def labels(settings: Mapping[str, Any]) -> dict[str, str]:
    """Each feature's name for inspectors, with the settings it depends on filled in."""
    return {n: fill_settings(lab, settings) for n, (_, lab, _) in FEATURES.items()}


def score(
    features: pl.DataFrame,
    model: str,
    min_group: int,
    names_zh: Mapping[str, str],
    seed: int = 0,
    stated: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """site_id, anomaly_score (higher = more unusual), anomaly_pct (within peer group),
    anomaly_features (why, for inspectors, in ``names_zh``; without the figures in
    ``stated``). Peer groups smaller than ``min_group`` are pooled."""
    m, names = _matrix(features, min_group)
    z = _robust_z(m, names)
    if model == "peer_deviation":
        zabs = [pl.col(f"z_{n}").abs().fill_null(0).clip(upper_bound=50) for n in names]
        # the three largest deviations: one wild figure is less telling than several
        raw = pl.concat_list(zabs).list.sort(descending=True).list.head(3).list.sum()
        scored = z.with_columns(raw.alias("anomaly_score"))
    elif model == "isolation_forest":
        parts = []
        for _, g in m.group_by("peer", maintain_order=True):
            x = g.select(names).to_numpy().astype(float)
            missing = np.isnan(x)
            med = np.nan_to_num(np.nanmedian(np.where(missing.all(axis=0), 0, x), axis=0))
            x = np.where(missing, med, x)
            x = np.hstack([x, missing[:, missing.any(axis=0)].astype(float)])
            forest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1)
            forest.fit(x)
            parts.append(
                g.select("site_id").with_columns(
                    pl.Series("anomaly_score", -forest.score_samples(x))
                )
            )
        scored = z.join(pl.concat(parts), on="site_id")
    else:
        raise ValueError(f"unknown anomaly model {model!r}: isolation_forest | peer_deviation")
    out = scored.with_columns(_percentile_in_group(pl.col("anomaly_score")).alias("anomaly_pct"))
    return out.select("site_id", "peer", "anomaly_score", "anomaly_pct").join(
        _explain(z, names, features, names_zh, stated), on="site_id", how="left"
    )
