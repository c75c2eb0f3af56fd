"""Hysteresis: a lead does not leave the list on one quiet night.

A workshop's traces come and go (the trucks call once a week, a meter reads low on a rainy
day, a record re-links and the site takes another id): a list that reshuffles on every such
night sends the team after yesterday's leads' replacements and loses the ones it was about
to visit. A site listed in the ledger's last run, and still a lead there (not cleared,
closed or confirmed), keeps at least ``ledger.hold_factor`` of its score tonight, at most
``ledger.hold_max_bonus`` above its own, for up to ``ledger.hold_nights`` nights in a row
held; then it stands on its own figures again. Tonight's site is last night's lead when it
carries the same run site id, else when it lies within ``ledger.match_m`` of it (the
ledger's own rule for the same place under a new id). The hold is shown as a reason of its
own (HELD), saying since when and by how much, so nobody mistakes it for evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from screening.coords import project_m

HOLD_CODE = "HELD"
HOLD_ZH = "连续线索保留"
# what the ledger's last run says of each of its leads (``previous``)
PREVIOUS = {
    "site_id": pl.String,
    "run_site_id": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "last_rank": pl.Int64,
    "last_score": pl.Float64,
    "last_as_of": pl.Date,
    "held_nights": pl.Int64,
}


def previous(
    run_leads: pl.DataFrame, runs: pl.DataFrame, sites: pl.DataFrame, status: pl.DataFrame
) -> pl.DataFrame:
    """The ledger's last run's leads that are still leads, with their position and the
    nights in a row they have been held up to it (0: listed on their own figures)."""
    if runs.height == 0:
        return pl.DataFrame(schema=PREVIOUS)
    order = runs.select("run_id", "seq", "as_of")
    last = int(order["seq"].max())  # type: ignore[arg-type]
    listed = run_leads.join(order, on="run_id").filter(pl.col("merge") != "suppressed")
    held = pl.col("reasons").fill_null("").str.split(";").list.contains(HOLD_CODE)
    own = listed.filter(~held).group_by("site_id").agg(pl.col("seq").max().alias("_own"))
    still = status.filter(pl.col("status") == "lead").select("site_id")
    return (
        listed.filter(pl.col("seq") == last)
        .join(still, on="site_id")
        .join(own, on="site_id", how="left")
        .join(sites.select("site_id", "lon", "lat"), on="site_id", how="left")
        .select(
            "site_id",
            "run_site_id",
            "lon",
            "lat",
            pl.col("rank").cast(pl.Int64).alias("last_rank"),
            pl.col("score").alias("last_score"),
            pl.col("as_of").cast(pl.Date).alias("last_as_of"),
            (last - pl.col("_own").fill_null(0))
            .clip(upper_bound=last)
            .cast(pl.Int64)
            .alias("held_nights"),
        )
        .sort("site_id")
    )


def _matched(scored: pl.DataFrame, held: pl.DataFrame, radius_m: float) -> pl.DataFrame:
    """(site_id tonight, last night's lead): the same run site id, else the nearest of
    tonight's sites within ``radius_m``; each of tonight's sites takes the best-scored."""
    same = held.join(
        scored.select(pl.col("site_id").alias("run_site_id")), on="run_site_id"
    ).with_columns(pl.col("run_site_id").alias("tonight"))
    rest = held.filter(
        ~pl.col("site_id").is_in(same["site_id"].implode()) & pl.col("lon").is_not_null()
    )
    placed = scored.filter(pl.col("lon").is_not_null())
    near = rest.head(0).with_columns(pl.lit(None, dtype=pl.String).alias("tonight"))
    if rest.height and placed.height:
        x, y = project_m(
            np.r_[placed["lon"].to_numpy(), rest["lon"].to_numpy()],
            np.r_[placed["lat"].to_numpy(), rest["lat"].to_numpy()],
        )
        n = placed.height
        d, i = cKDTree(np.c_[x[:n], y[:n]]).query(
            np.c_[x[n:], y[n:]], distance_upper_bound=radius_m
        )
        ok = np.isfinite(d)
        near = rest.filter(pl.Series(ok)).with_columns(tonight=placed["site_id"].gather(i[ok]))
    return (
        pl.concat([same, near], how="vertical_relaxed")
        .sort(["tonight", "last_score", "site_id"], descending=[False, True, False])
        .unique("tonight", keep="first", maintain_order=True)
    )


def apply(
    scored: pl.DataFrame,
    reasons: pl.DataFrame,
    held: pl.DataFrame | None,
    cfg: Mapping[str, Any],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Scores with last night's leads held (``cfg`` is the ledger section) and a HELD reason
    for each site whose score the hold raised."""
    nights = int(cfg["hold_nights"])
    if held is None or held.height == 0 or nights <= 0:
        return scored, reasons
    pairs = _matched(scored, held.filter(pl.col("held_nights") < nights), cfg["match_m"])
    if pairs.height == 0:
        return scored, reasons
    lifted = (
        scored.select("site_id", "score")
        .join(pairs, left_on="site_id", right_on="tonight", suffix="_ledger")
        .with_columns(
            pl.min_horizontal(
                cfg["hold_factor"] * pl.col("last_score"),
                pl.col("score") + cfg["hold_max_bonus"],
            )
            .round(3)
            .alias("_held")
        )
        .filter(pl.col("_held") > pl.col("score"))
    )
    if lifted.height == 0:
        return scored, reasons
    why = lifted.select(
        "site_id",
        pl.lit(HOLD_CODE).alias("code"),
        pl.lit("hold").alias("kind"),
        pl.lit("").alias("category"),
        (pl.col("_held") - pl.col("score")).alias("contribution"),
        pl.format(
            "{}月{}日列入线索清单（第{}名，评分{}），今晚评分{}，按连续性保留（已保留{}晚，最多{}晚）",
            pl.col("last_as_of").dt.month(),
            pl.col("last_as_of").dt.day(),
            pl.col("last_rank"),
            pl.col("last_score").round(2),
            pl.col("score").round(2),
            pl.col("held_nights") + 1,
            pl.lit(nights),
        ).alias("evidence"),
    )
    out = scored.join(lifted.select("site_id", "_held"), on="site_id", how="left").with_columns(
        pl.coalesce("_held", "score").alias("score")
    )
    return out.drop("_held"), pl.concat([reasons, why], how="vertical_relaxed").sort(
        ["site_id", "contribution"], descending=[False, True], maintain_order=True
    )
