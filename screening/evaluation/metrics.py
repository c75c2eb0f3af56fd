"""How good a lead list is against a county's ground truth.

A truth site is found at rank r when a lead at rank <= r shares one of its linked ids
(credit codes, meters, premises, cases) or lies within 150 m of it. Plates and tips are not
used to match: one truck visits many places and a tip may sit near several, so they would
let a lead "find" sites it is not at.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from screening.coords import haversine_m

MATCH_IDS = ("usccs", "account_ids", "property_ids", "case_ids")


def matches(truth: pl.DataFrame, leads: pl.DataFrame, radius_m: float = 150.0) -> pl.DataFrame:
    """(truth_id, rank) for every lead that finds a truth site."""
    pairs = []
    for col in MATCH_IDS:
        if col not in leads.columns or col not in truth.columns:
            continue
        t = truth.select("truth_id", pl.col(col).str.split(";").alias("_id")).explode("_id")
        t = t.filter(pl.col("_id").is_not_null() & (pl.col("_id") != ""))
        lead = leads.select("rank", pl.col(col).str.split(";").alias("_id")).explode("_id")
        pairs.append(
            t.join(lead.filter(pl.col("_id").is_not_null()), on="_id").select("truth_id", "rank")
        )
    placed = leads.filter(pl.col("lon").is_not_null())
    if placed.height and truth.height:
        d = haversine_m(
            truth["lon"].to_numpy()[:, None],
            truth["lat"].to_numpy()[:, None],
            placed["lon"].to_numpy()[None, :],
            placed["lat"].to_numpy()[None, :],
        )
        ti, li = np.nonzero(d <= radius_m)
        pairs.append(
            pl.DataFrame(
                {"truth_id": truth["truth_id"].gather(ti), "rank": placed["rank"].gather(li)}
            )
        )
    if not pairs:
        return pl.DataFrame(schema={"truth_id": pl.String, "rank": pl.Int64})
    return pl.concat(pairs).unique().sort("truth_id", "rank")


def evaluate(
    truth: pl.DataFrame, leads: pl.DataFrame, ks: tuple[int, ...] = (), top: int = 50
) -> dict[str, object]:
    """recall@k, precision@k, average precision, recall per category at 2n, look-alikes in
    the top ``top``. n is the number of planted workshops; k defaults to n and 2n."""
    workshops = truth.filter(pl.col("role") == "workshop")
    lookalikes = truth.filter(pl.col("role") == "lookalike")
    n = workshops.height
    ks = ks or (n, 2 * n)
    m = matches(truth, leads)
    first = m.group_by("truth_id").agg(pl.col("rank").min().alias("found_at"))
    w = workshops.join(first, on="truth_id", how="left")
    # a lead is relevant when it finds a workshop that no better-ranked lead found already
    found_ranks = np.sort(w["found_at"].drop_nulls().to_numpy())
    ap = (
        float(
            np.mean(
                [(i + 1) / r for i, r in enumerate(found_ranks)] + [0.0] * (n - len(found_ranks))
            )
        )
        if n
        else float("nan")
    )
    lead_hits = m.join(workshops.select("truth_id"), on="truth_id")["rank"].unique()
    out: dict[str, object] = {"workshops": n, "leads": leads.height, "average_precision": ap}
    for k in ks:
        out[f"recall@{k}"] = (
            float(w.select((pl.col("found_at").fill_null(10**9) <= k).mean()).item())
            if n
            else float("nan")
        )
        out[f"precision@{k}"] = float((lead_hits <= k).sum() / k) if k else float("nan")
    k2 = 2 * n
    per_cat = (
        w.group_by("category")
        .agg((pl.col("found_at").fill_null(10**9) <= k2).mean().alias("recall"))
        .sort("category")
    )
    out[f"recall_by_category@{k2}"] = dict(per_cat.iter_rows())
    la = lookalikes.join(first, on="truth_id", how="inner").filter(pl.col("found_at") <= top)
    out[f"lookalikes_top{top}"] = la.height
    out[f"lookalikes_top{top}_ids"] = (
        la.sort("found_at")
        .select(pl.format("{} {} @{}", "truth_id", "category", "found_at"))
        .to_series()
        .to_list()
    )
    # a styled county's truth names each site's variant (sample/adversary.py)
    kind = "kind" in truth.columns
    label = (
        pl.when(pl.col("kind") != pl.col("category"))
        .then(pl.format("{}/{}", "category", "kind"))
        .otherwise(pl.col("category"))
        if kind
        else pl.col("category")
    )
    out["missed"] = (
        w.filter(pl.col("found_at").is_null() | (pl.col("found_at") > k2))
        .select(
            pl.format(
                "{} {} {} @{}",
                "truth_id",
                label,
                "strength",
                pl.col("found_at").cast(pl.String).fill_null("-"),
            )
        )
        .to_series()
        .to_list()
    )
    if kind:
        out[f"recall_by_kind@{k2}"] = dict(
            w.group_by("kind")
            .agg((pl.col("found_at").fill_null(10**9) <= k2).mean().alias("recall"))
            .sort("kind")
            .iter_rows()
        )
        out[f"lookalike_kinds_top{top}"] = dict(
            la.group_by("kind").len().sort(["len", "kind"], descending=[True, False]).iter_rows()
        )
    return out
