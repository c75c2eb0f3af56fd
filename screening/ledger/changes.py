"""What rose and fell since the last run, and why: tonight's lead list against the one the
teams had from the ledger's last run, by the ledger's site ids (a site under a new run id at
the same place is the same lead to the ledger, ``Ledger._match_sites``).

A lead *entered* the top of the list (its first ``ledger.changes_top`` places) or *left*
it, or *rose* or *fell* within it by at least ``ledger.changes_places`` places. Each change
says why: the reasons (rule codes) that appeared and disappeared, the score before and
after, and whether the hold (scoring/hold.py) kept it up over a quiet night; a lead no
longer listed says whether a team cleared it (left out with nothing new) or it fell below
the listing threshold. The table is the ledger's ``lead_changes`` and the run folder's
``changes.csv``; the run summary counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from screening.scoring.hold import HOLD_CODE

# one row per change (the ledger's lead_changes, the run folder's changes.csv)
CHANGES_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "site_id": pl.String,
        "change": pl.String,
        "rank_before": pl.Int64,
        "rank_now": pl.Int64,
        "score_before": pl.Float64,
        "score_now": pl.Float64,
        "reasons_added": pl.String,
        "reasons_dropped": pl.String,
        "held": pl.Boolean,
        "why": pl.String,
    }
)
CHANGES = ("entered", "rose", "fell", "left")
# what a lead list must carry to be compared
LIST_COLUMNS = ("site_id", "rank", "score", "reasons")


def _codes(col: str) -> pl.Expr:
    """A reasons cell as a list of codes, without the hold (a hold is not evidence)."""
    return pl.col(col).fill_null("").str.split(";").list.set_difference(["", HOLD_CODE]).list.sort()


def lead_changes(
    now: pl.DataFrame,
    before: pl.DataFrame,
    cfg: Mapping[str, Any],
    run_id: str,
    cleared: pl.Series | None = None,
) -> pl.DataFrame:
    """The changes from ``before`` (last run's list as the teams saw it) to ``now``
    (tonight's), both with ``LIST_COLUMNS`` under the ledger's site ids; ``cleared`` names
    tonight's sites a team cleared that were left out with nothing new. ``cfg`` is the
    ledger section (``changes_top``, ``changes_places``). Ordered entered, rose, fell, left,
    then by rank."""
    if before.height == 0:  # the first run: everything is new, nothing to explain
        return pl.DataFrame(schema=CHANGES_SCHEMA)
    top, places = int(cfg["changes_top"]), int(cfg["changes_places"])
    pair = (
        now.select(LIST_COLUMNS)
        .join(before.select(LIST_COLUMNS), on="site_id", how="full", coalesce=True, suffix="_b")
        .rename({"rank": "rank_now", "score": "score_now", "rank_b": "rank_before"})
        .rename({"score_b": "score_before"})
        .with_columns(
            pl.col("rank_now", "rank_before").cast(pl.Int64),
            _codes("reasons").alias("_now"),
            _codes("reasons_b").alias("_before"),
            pl.col("reasons").fill_null("").str.split(";").list.contains(HOLD_CODE).alias("held"),
        )
    )
    in_now = pl.col("rank_now") <= top
    in_before = pl.col("rank_before") <= top
    gain = pl.col("rank_before") - pl.col("rank_now")
    change = (
        pl.when(in_now & ~in_before.fill_null(False))
        .then(pl.lit("entered"))
        .when(in_before & ~in_now.fill_null(False))
        .then(pl.lit("left"))
        .when(in_now & in_before & (gain >= places))
        .then(pl.lit("rose"))
        .when(in_now & in_before & (gain <= -places))
        .then(pl.lit("fell"))
    )
    added = pl.col("_now").list.set_difference("_before").list.join(";")
    dropped = pl.col("_before").list.set_difference("_now").list.join(";")
    is_cleared = (
        pl.col("site_id").is_in(cleared.implode()) if cleared is not None else pl.lit(False)
    )
    where = (
        pl.when(pl.col("rank_before").is_null())
        .then(pl.lit("new on the list"))
        .when(pl.col("rank_now").is_null() & is_cleared)
        .then(pl.lit("cleared by a team, nothing new: left out"))
        .when(pl.col("rank_now").is_null())
        .then(pl.lit("no longer listed (below the listing threshold)"))
        .otherwise(pl.format("rank {} → {}", "rank_before", "rank_now"))
    )
    why = pl.concat_str(
        [
            where,
            pl.when((pl.col("reasons_added") != "") & pl.col("rank_before").is_null())
            .then(pl.format("reasons {}", "reasons_added"))
            .when(pl.col("reasons_added") != "")
            .then(pl.format("new reasons {}", "reasons_added")),
            pl.when(pl.col("reasons_dropped") != "").then(
                pl.format("reasons gone {}", "reasons_dropped")
            ),
            pl.when(pl.col("score_before").is_not_null() & pl.col("score_now").is_not_null()).then(
                pl.format(
                    "score {} → {}", pl.col("score_before").round(2), pl.col("score_now").round(2)
                )
            ),
            pl.when(pl.col("held")).then(pl.lit("held by hysteresis (HELD)")),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    order = {c: i for i, c in enumerate(CHANGES)}
    return (
        pair.with_columns(change.alias("change"))
        .filter(pl.col("change").is_not_null())
        .with_columns(
            pl.when(pl.col("rank_now").is_not_null()).then(added).alias("reasons_added"),
            pl.when(pl.col("rank_now").is_not_null()).then(dropped).alias("reasons_dropped"),
            pl.col("held") & pl.col("rank_now").is_not_null(),
            pl.lit(run_id).alias("run_id"),
        )
        .with_columns(why.alias("why"))
        .sort(
            pl.col("change").replace_strict(order, return_dtype=pl.Int64),
            pl.coalesce("rank_now", "rank_before"),
            "site_id",
        )
        .select(CHANGES_SCHEMA.keys())
        .cast(CHANGES_SCHEMA)
    )


def counted(changes: pl.DataFrame) -> dict[str, int]:
    """How many leads entered, rose, fell and left (every kind, 0 when none)."""
    got = dict(changes.group_by("change").len().iter_rows())
    return {c: int(got.get(c, 0)) for c in CHANGES}
