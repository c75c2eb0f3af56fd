"""Inspection outcomes as labels: how often past leads were right, by rank band and by
rule, and rule weights re-estimated from that.

A label is a site a team confirmed (1) or cleared (0); its reasons are those of the last
run screened by the outcome's recorded date (not the time the run happened to be merged).
Each rule's hit rate is smoothed towards the overall rate with a Beta prior, so that two
lucky confirmations do not double a weight, and the weight's multiplier (rule rate /
overall rate) is bounded. Rules still fire and still show their evidence; only how much
they count changes, and the run summary says by how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

BANDS = [(1, 10), (11, 50), (51, 200), (201, 10**9)]


def labels(history: pl.DataFrame, run_leads: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """site_id, label, rank, reasons: the latest outcome of each labelled site and the
    lead that preceded it."""
    outcome = (
        history.filter(pl.col("to_status").is_in(["confirmed", "cleared"]))
        .sort("site_id", "seq")
        .group_by("site_id", maintain_order=True)
        .last()
        .select(
            "site_id",
            (pl.col("to_status") == "confirmed").cast(pl.Int8).alias("label"),
            pl.col("changed_at").alias("decided_at"),
        )
    )
    cols = ["run_id", "seq", "merged_at"] + (["as_of"] if "as_of" in runs.columns else [])
    leads = run_leads.join(runs.select(cols), on="run_id")
    # an outcome is dated when it happened (a sheet's 核查日期, `--at`), which may well be
    # before the wall-clock time its run was merged: a run speaks for the days from its
    # screening date on. The lead behind an outcome is that of the latest run screened by
    # the outcome's date, else (an outcome dated before any screening of the site) the first
    # run that listed it.
    screened = (
        pl.coalesce(pl.col("as_of").cast(pl.Datetime("us")), pl.col("merged_at"))
        if "as_of" in cols
        else pl.col("merged_at")
    )
    ok = screened <= pl.col("decided_at")
    before = (
        outcome.join(leads, on="site_id")
        .with_columns(ok.alias("_ok"))
        .with_columns(pl.when("_ok").then(pl.col("seq")).otherwise(-pl.col("seq")).alias("_k"))
        .sort("site_id", "_ok", "_k")
        .group_by("site_id", maintain_order=True)
        .last()
    )
    return before.select("site_id", "label", "rank", "reasons")


def hit_rates(lab: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(by rank band, by rule): labelled sites, confirmed, hit rate."""
    band = pl.lit(None, dtype=pl.String)
    for lo, hi in BANDS:
        name = f"{lo}-{hi}" if hi < 10**9 else f"{lo}+"
        band = pl.when(pl.col("rank").is_between(lo, hi)).then(pl.lit(name)).otherwise(band)
    agg = [
        pl.len().alias("labelled"),
        pl.col("label").sum().alias("confirmed"),
        pl.col("label").mean().alias("hit_rate"),
    ]
    by_band = lab.with_columns(band.alias("rank_band")).group_by("rank_band").agg(agg)
    by_band = by_band.sort(pl.col("rank_band").str.extract(r"^(\d+)").cast(pl.Int64))
    by_rule = (
        lab.with_columns(pl.col("reasons").str.split(";").alias("rule"))
        .explode("rule")
        .filter(pl.col("rule") != "")
        .group_by("rule")
        .agg(agg)
        .sort("rule")
    )
    return by_band, by_rule


def multipliers(lab: pl.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Rule code -> weight multiplier, for rules with at least min_labels labels."""
    if lab.height == 0:
        return {}
    overall = float(lab.select(pl.col("label").cast(pl.Float64).mean()).item() or 0.0)
    if overall <= 0:
        return {}
    _, by_rule = hit_rates(lab)
    k = cfg["prior_strength"]
    smoothed = by_rule.filter(pl.col("labelled") >= cfg["min_labels"]).with_columns(
        ((pl.col("confirmed") + k * overall) / (pl.col("labelled") + k)).alias("posterior")
    )
    return {
        r: float(min(max(p / overall, cfg["min_multiplier"]), cfg["max_multiplier"]))
        for r, p in smoothed.select("rule", "posterior").iter_rows()
    }
