"""The score read as a chance: how likely a visit to the site finds a workshop.

A score of 9.4 means nothing to a team leader deciding where to send two cars; "about one
visit in three finds something" does. Before any outcome is recorded the chance comes from a
logistic curve over the score and the number of independent lines of evidence
(``evidence_lines``), its three coefficients in ``[scoring.calibration]``. They were fitted
(``fit``) on generated counties of two world styles and are checked on a third that was not
used (``bench/scoring_bench.py`` prints the reliability table: for each band of predicted
chance, how many sites, the mean prediction and the share that were workshops). Once the
ledger holds enough outcomes the ranker's own ``hit_chance``, fitted on this county's visits,
takes its place.

A chance is not a rank: the list stays ordered by score (ties by site id), and the curve is
monotone in the score, so the two orders agree for sites with the same number of lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl


def chance(cfg: Mapping[str, Any]) -> pl.Expr:
    """The prior chance that a visit finds something, from score and evidence lines."""
    z = (
        cfg["intercept"]
        + cfg["per_score"] * pl.col("score")
        + cfg["per_line"] * (pl.col("evidence_lines").fill_null(0) - 1).clip(lower_bound=0)
    )
    return (1.0 / (1.0 + (-z).exp())).round(4)


def fit(score: np.ndarray, lines: np.ndarray, hit: np.ndarray) -> dict[str, float]:
    """Coefficients for ``[scoring.calibration]``: an unweighted, lightly penalised logistic
    regression, so that the intercept carries the counties' real base rate (about one site in
    700 hides a workshop) rather than a balanced-class guess."""
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([score, np.clip(lines - 1, 0, None)])
    model = LogisticRegression(C=100.0, max_iter=1000).fit(x, hit)
    return {
        "intercept": round(float(model.intercept_[0]), 4),
        "per_score": round(float(model.coef_[0][0]), 4),
        "per_line": round(float(model.coef_[0][1]), 4),
    }


BANDS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)


def reliability(frame: pl.DataFrame, bands: tuple[float, ...] = BANDS) -> pl.DataFrame:
    """(band, sites, predicted, observed) from a frame of ``chance`` and ``hit`` (0/1): a
    calibrated chance has predicted close to observed in every band that holds enough sites."""
    labels = [f"{lo:.0%}-{hi:.0%}" for lo, hi in pairwise(bands)]
    index = pl.sum_horizontal([(pl.col("chance") >= b).cast(pl.Int32) for b in bands[1:-1]])
    return (
        frame.with_columns(index.alias("_i"))
        .group_by("_i")
        .agg(
            pl.len().alias("sites"),
            pl.col("chance").mean().round(3).alias("predicted"),
            pl.col("hit").mean().round(3).alias("observed"),
        )
        .sort("_i")
        .select(
            pl.col("_i").replace_strict(list(range(len(labels))), labels).alias("band"),
            "sites",
            "predicted",
            "observed",
        )
    )
