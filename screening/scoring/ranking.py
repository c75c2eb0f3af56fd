"""The lead list: rules and the anomaly model combined into one ranked, explained list.

score = rule score (activity, gated context, minus what innocent explanations account for)
      + anomaly_weight × how far the site sits in the top of its peer group
        (0 below the ``anomaly_from`` percentile, the full weight at the very top).

The rule part carries the explanation; the anomaly part can lift a site no rule names, and
then says which figures are unusual. A site appears once, with all its reasons; its category
is the campaign check its category-bearing rules weigh most for, and ties in score are broken
by site_id so that the same inputs always give the same order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from screening.schema import LEAD_COLUMNS as CONTRACT_LEAD_COLUMNS
from screening.scoring import anomaly, calibration
from screening.scoring.rules import ANOMALY_ZH, CATEGORY_ZH, RuleSet, apply, stated_features

LEAD_COLUMNS = [
    *CONTRACT_LEAD_COLUMNS,
    # beyond the contract: what an inspector and an analyst also need
    "category_zh",
    "oversight_unit",
    "names",
    "legal_reps",
    "case_ids",
    "tip_ids",
    "permit_ids",
    "rule_score",
    "chance",
    "evidence_lines",
    "anomaly_score",
    "anomaly_pct",
    "anomaly_features",
    "position",
    "as_of",
]


def anomaly_part(pct: pl.Expr, scoring: Mapping[str, Any]) -> pl.Expr:
    start = scoring["anomaly_from"]
    return scoring["anomaly_weight"] * ((pct - start) / (1 - start)).clip(0, 1)


def _category(reasons: pl.DataFrame, features: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """The campaign category per site: the most specific (first in ``order``) that its
    context rules support, else its activity rules; with no category-bearing rule, no
    registration means no_licence and otherwise the entity works without the licence its
    activity needs (unlicensed_production). Specificity, not weight, decides: weights are
    for finding workshops (and are re-fitted), while an idle factory without papers is
    利用闲置厂房 first and 无证无照 second whatever the weights say."""
    rank = {c: i for i, c in enumerate(order)}
    best = (
        reasons.filter((pl.col("category") != "") & (pl.col("contribution") > 0))
        # what kind of place it is (context) decides before what is seen there (activity)
        .group_by("site_id", "category")
        .agg((pl.col("kind") == "context").any().alias("_context"), pl.col("contribution").sum())
        .with_columns(pl.col("category").replace_strict(rank, default=len(rank)).alias("_specific"))
        .sort(
            ["site_id", "_context", "_specific", "contribution", "category"],
            descending=[False, True, False, True, False],
        )
        .group_by("site_id", maintain_order=True)
        .first()
        .select("site_id", "category")
    )
    fallback = (
        pl.when(pl.col("entities").fill_null(0) == 0)
        .then(pl.lit("no_licence"))
        .otherwise(pl.lit("unlicensed_production"))
    )
    return (
        features.select("site_id", "entities")
        .join(best, on="site_id", how="left")
        .select("site_id", pl.coalesce(pl.col("category"), fallback).alias("category"))
    )


def score_sites(
    features: pl.DataFrame,
    ruleset: RuleSet,
    config: Mapping[str, Any],
    use_rules: bool = True,
    use_model: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every site scored, reasons long). ``use_rules``/``use_model`` switch the two parts off
    for the benchmark's rules-only and model-only rankings."""
    scoring = config["scoring"]
    rule_scores, reasons = apply(features, ruleset)
    # figures the rules already state are not the model's to say again
    stated = stated_features(reasons, ruleset) if use_rules else None
    model = (
        anomaly.score(features, **anomaly.params(config), stated=stated)
        if use_model
        else pl.DataFrame(
            schema={
                "site_id": pl.String,
                "peer": pl.String,
                "anomaly_score": pl.Float64,
                "anomaly_pct": pl.Float64,
                "anomaly_features": pl.String,
                "anomaly_codes": pl.String,
            }
        )
    )
    scored = (
        features.join(rule_scores, on="site_id", how="left")
        .join(model.drop("peer"), on="site_id", how="left")
        .with_columns(
            (pl.col("rule_score").fill_null(0) if use_rules else pl.lit(0.0)).alias("_r"),
            (
                anomaly_part(pl.col("anomaly_pct").fill_null(0), scoring)
                * (
                    pl.when(pl.col("explained").fill_null(False))
                    .then(scoring["anomaly_explained_factor"])
                    .otherwise(1.0)
                    if use_rules
                    else pl.lit(1.0)
                )
                if use_model
                else pl.lit(0.0)
            ).alias("_a"),
        )
        .with_columns(
            (
                pl.col("_r")
                + pl.col("_a")
                + (
                    scoring["corroboration_weight"]
                    * (pl.col("evidence_lines").fill_null(0) - 1).clip(lower_bound=0)
                    if use_rules
                    else pl.lit(0.0)
                )
            )
            .round(3)
            .alias("score")
        )
        .with_columns(calibration.chance(scoring["calibration"]).alias("chance"))
    )
    anomaly_reasons = scored.filter(pl.col("_a") > 0).select(
        "site_id",
        pl.lit("ANOMALY").alias("code"),
        pl.lit("model").alias("kind"),
        pl.lit("").alias("category"),
        pl.col("_a").alias("contribution"),
        # the share of peers more unusual, at least 1%: the most unusual site of its group
        # is "in the top 1%", never "more unusual than 100% of its peers"
        pl.format(
            "{}（异常度居同类前{}%）：{}",
            pl.lit(ANOMALY_ZH),
            ((1 - pl.col("anomaly_pct")) * 100).round(6).ceil().clip(lower_bound=1).cast(pl.Int64),
            pl.col("anomaly_features").fill_null("多项指标的组合在同类中少见"),
        ).alias("evidence"),
    )
    if not use_rules:
        reasons = reasons.head(0)
    # stable: reasons of equal weight keep the rules' order in the config, whatever order
    # the sites came in (an unstable sort on many threads shuffles equals run to run)
    reasons = pl.concat([reasons, anomaly_reasons]).sort(
        ["site_id", "contribution"], descending=[False, True], maintain_order=True
    )
    return scored.drop("_r", "_a"), reasons


def lead_cap(sites: int, scoring: Mapping[str, Any]) -> int:
    """How many leads a list may hold: ``max_lead_share`` of the county's sites, but never
    fewer than ``min_leads``. A team works down a list of tens, not thousands; the sites
    beyond it stay in the warehouse as watch items with their figures."""
    return max(int(scoring["min_leads"]), math.ceil(scoring["max_lead_share"] * sites))


def needs_rule(scoring: Mapping[str, Any], missing_lines: Sequence[str] = ()) -> bool:
    """Whether a lead must have a rule naming it: ``lead_needs_rule``, except where the bundle
    lacks a line of evidence and ``model_stands_in`` lets the model speak for the rules that
    cannot fire there."""
    if not scoring.get("lead_needs_rule", False):
        return False
    return not (missing_lines and scoring.get("model_stands_in", True))


def leads(
    scored: pl.DataFrame,
    reasons: pl.DataFrame,
    config: Mapping[str, Any],
    missing_lines: Sequence[str] = (),
) -> pl.DataFrame:
    """The contract's lead list, best first: the best sites at or above min_score (with a
    rule naming them, see ``needs_rule``; ``missing_lines``: the optional sources the bundle
    lacks), at most ``lead_cap`` of them."""
    listed = ranked(scored, reasons, config)
    if needs_rule(config["scoring"], missing_lines):
        listed = listed.filter(pl.col("rule_score").fill_null(0) > 0)
    if config["scoring"].get("lead_needs_place", False):
        listed = listed.join(placeless(scored), on="site_id", how="anti", maintain_order="left")
    listed = listed.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"))
    return listed.head(lead_cap(scored.height, config["scoring"]))


# the records a team can go and find: a position, or a business, meter, permit, premises,
# case or truck stop (each carries an address, an account or a place of its own)
FINDABLE = ("usccs", "account_ids", "permit_ids", "property_ids", "case_ids", "place_ids")


def placeless(scored: pl.DataFrame) -> pl.DataFrame:
    """The sites nobody can be sent to (``scoring.lead_needs_place``): no position, no record
    but tips, and no house number in the address, i.e. a tip that names only a township or a
    village ("听说曹村镇有人偷偷搞化工，具体位置不清楚", "蒿沟镇北桥村附近"). Such a tip is the
    township's to follow up, a watch item; as a lead it took a place in the list that a site
    with an address should have (on the generated medium counties 75-93 of the 444-538
    leads). A tip that gives a house ("蒋岗村2组23号") is found by its address, placed or not."""
    have = [c for c in FINDABLE if c in scored.columns]
    none = pl.all_horizontal([pl.col(c).is_null() for c in have]) if have else pl.lit(True)
    house = (
        pl.col("addr_key").fill_null("").str.contains(r"\d号")
        if "addr_key" in scored.columns
        else pl.lit(False)
    )
    return scored.filter(pl.col("lon").is_null() & none & ~house).select("site_id")


def ranked(scored: pl.DataFrame, reasons: pl.DataFrame, config: Mapping[str, Any]) -> pl.DataFrame:
    """Every site at or above min_score, best first, in the lead list's columns (uncapped:
    the lead list is its head, the watch items its tail; benchmarks rank every site)."""
    shown = reasons.filter(pl.col("contribution") != 0)
    text = shown.group_by("site_id", maintain_order=True).agg(
        pl.col("code").str.join(";").alias("reasons"),
        pl.col("evidence").str.join("；").alias("evidence"),
    )
    listed = scored.filter(pl.col("score") >= config["scoring"]["min_score"])
    out = (
        listed.join(text, on="site_id", how="left")
        .join(
            _category(reasons, listed, config["scoring"]["category_order"]),
            on="site_id",
            how="left",
        )
        .with_columns(pl.col("category").replace_strict(CATEGORY_ZH).alias("category_zh"))
        .sort(["score", "site_id"], descending=[True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    return out.select(LEAD_COLUMNS)
