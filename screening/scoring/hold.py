"""Hysteresis: a lead does not leave the list on one quiet night.

A workshop's traces come and go (the trucks call once a week, a meter reads low on a rainy
day, a record re-links and the site takes another id): a list that reshuffles on every such
night sends the team after yesterday's leads' replacements and loses the ones it was about
to visit. A site listed in the ledger's last run, and still a lead there (not cleared,
closed or confirmed), keeps at least ``ledger.hold_factor`` of its score tonight, at most
``ledger.hold_max_bonus`` above its own, for up to ``ledger.hold_nights`` nights in a row
held; then it stands on its own figures again. Tonight's site is last night's lead by the
ledger's own rule for the same place under a new id (``ledger/identity.py``: the same run
site id, else the most records shared, else within ``ledger.match_m`` where records cannot
tell two sites apart). The hold is shown as a reason of its
own (HELD), saying since when and by how much, so nobody mistakes it for evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from screening.ledger import identity

HOLD_CODE = "HELD"
HOLD_ZH = "连续线索保留"
# what the ledger's last run says of each of its leads (``previous``)
PREVIOUS = pl.Schema(
    [
        ("site_id", pl.String),
        ("run_site_id", pl.String),
        ("lon", pl.Float64),
        ("lat", pl.Float64),
        ("last_rank", pl.Int64),
        ("last_score", pl.Float64),
        ("last_as_of", pl.Date),
        ("held_nights", pl.Int64),
        # the records the ledger knows the site by (``identity.place_records``, as one list)
        ("records", pl.List(pl.String)),
    ]
)


def previous(
    run_leads: pl.DataFrame,
    runs: pl.DataFrame,
    sites: pl.DataFrame,
    status: pl.DataFrame,
    records: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The ledger's last run's leads that are still leads, with their position, the records
    the ledger knows them by (``records``: its site_records) and the nights in a row they
    have been held up to it (0: listed on their own figures)."""
    if runs.height == 0:
        return pl.DataFrame(schema=PREVIOUS)
    if records is None:
        records = pl.DataFrame(schema=identity.RECORDS)
    known = records.group_by("site_id").agg(pl.col("record").sort().alias("records"))
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
        .join(known, on="site_id", how="left")
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
            pl.col("records").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
        .sort("site_id")
    )


def _matched(scored: pl.DataFrame, held: pl.DataFrame, radius_m: float) -> pl.DataFrame:
    """(tonight: site id tonight, last night's lead): the ledger's own rule for the same
    place (``identity.match``: the same run site id, the most records shared, else the
    nearest within ``radius_m`` where records cannot tell two sites apart)."""
    known = held.select(
        "site_id", "run_site_id", pl.col("lon").cast(pl.Float64), pl.col("lat").cast(pl.Float64)
    )
    records = (
        held.select("site_id", "records")
        .explode("records")
        .drop_nulls("records")
        .rename({"records": "record"})
    )
    pairs = identity.match(
        scored.select("site_id", "lon", "lat"),
        identity.place_records(scored),
        known,
        records,
        radius_m,
    )
    return held.join(
        pairs.select(pl.col("known").alias("site_id"), pl.col("site_id").alias("tonight")),
        on="site_id",
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
