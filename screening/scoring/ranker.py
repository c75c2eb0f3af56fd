"""A ranker that learns from inspection outcomes, on top of the rules and the anomaly model.

Confirmed (1) and cleared (0) sites in the ledger are labels. A regularised logistic
regression is fitted on the labelled sites' rows of one design matrix: which rules fired
(one 0/1 column per rule code with a non-zero contribution), the rule score, the anomaly
score and percentile, whether an innocent explanation was proven, and a few graded site
figures named in ``[learning.ranker] site_features`` (the rules see them only through
thresholds). Why this model:

- with 5-200 labels a tree ensemble memorises; an L2-penalised linear model shrinks every
  coefficient towards zero, so with few labels it predicts about the labelled hit rate for
  every site and re-orders little, and it moves further as labels accumulate (the penalty
  is fixed, the likelihood grows with the labels);
- the intercept is not penalised and the classes are not re-weighted, so the fitted
  probability is the chance that a visit to such a site finds something, at the hit rate
  the teams actually had (``hit_chance``), not a balanced-class score;
- it is deterministic (lbfgs, a fixed design-column order, rows sorted by site id).

The model re-orders the rules' list, it does not replace it: what each site scores above
the listing threshold (``scoring.min_score``) is multiplied by ``factor = (odds(hit_chance)
/ odds(labelled hit rate)) ** weight``, bounded by ``min_factor``/``max_factor``. So the sites
the rules list are the sites listed (the cap then takes the best of them in the new order),
a site below the threshold keeps its score (factor 1), and every lead keeps its rules'
reasons and evidence, with a short note of the factor (据已核查结果调整×1.8). With fewer than
``min_labels`` labels, or fewer than ``min_per_class`` of either outcome, nothing is fitted
and the list is exactly the rules'.

Labels are keyed by the ledger's site ids; tonight's sites are found by the run site id the
ledger recorded for them, by the ledger id itself, or within ``ledger.match_m`` of the
ledger's position, the same way a merge ties a run's site to a ledger site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
from scipy.spatial import cKDTree
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from screening.coords import project_m

NOTE = "据已核查结果调整×{}"
# what the ledger feedback hands to scoring: one row per labelled ledger site
LABELS_SCHEMA = {
    "site_id": pl.String,
    "run_site_id": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "label": pl.Int8,
}
# scored columns the design always uses, beside the rule flags and the site figures
SCORE_COLUMNS = ("rule_score", "anomaly_score", "anomaly_pct", "explained")
_EPS = 1e-3


class RankerError(ValueError):
    pass


@dataclass(frozen=True)
class Fit:
    """What one fitted ranker did: per site its hit chance and score factor, plus what the
    run summary says about it."""

    adjust: pl.DataFrame  # site_id, hit_chance, learned_factor
    labelled: int
    confirmed: int
    matched: int  # labels found among tonight's sites
    coefficients: dict[str, float]


def empty_labels() -> pl.DataFrame:
    return pl.DataFrame(schema=LABELS_SCHEMA)


def ledger_labels(
    lab: pl.DataFrame, run_leads: pl.DataFrame, runs: pl.DataFrame, sites: pl.DataFrame
) -> pl.DataFrame:
    """Labels as the ranker needs them: ``lab`` from ``learning.labels`` (the latest outcome
    of each site), with the run site id of the latest run that listed the site and the
    ledger's position for it (``sites``: site_id, lon, lat), so that tonight's site can be
    found."""
    if lab.height == 0:
        return empty_labels()
    latest = (
        run_leads.join(runs.select("run_id", "seq"), on="run_id")
        .sort("site_id", "seq")
        .group_by("site_id", maintain_order=True)
        .last()
        .select("site_id", "run_site_id")
    )
    return (
        lab.select("site_id", pl.col("label").cast(pl.Int8))
        .join(latest, on="site_id", how="left")
        .join(sites.select("site_id", "lon", "lat"), on="site_id", how="left")
        .select(list(LABELS_SCHEMA))
        .cast(LABELS_SCHEMA)  # type: ignore[arg-type]
        .sort("site_id")
    )


def training_rows(labels: pl.DataFrame, features: pl.DataFrame, match_m: float) -> pl.DataFrame:
    """(site_id of tonight's site, label): each label on the site it belongs to; a site two
    labels land on counts as confirmed if either is."""
    missing = set(LABELS_SCHEMA) - set(labels.columns)
    if missing:
        raise RankerError(f"labels lack {sorted(missing)}")
    known = features.select("site_id")
    by_run = labels.join(known, left_on="run_site_id", right_on="site_id", how="inner").select(
        pl.col("run_site_id").alias("site"), "site_id", "label"
    )
    rest = labels.join(by_run.select("site_id"), on="site_id", how="anti")
    by_id = rest.join(known, on="site_id", how="inner").select(
        pl.col("site_id").alias("site"), "site_id", "label"
    )
    rest = rest.join(by_id.select("site_id"), on="site_id", how="anti").filter(
        pl.col("lon").is_not_null() & pl.col("lat").is_not_null()
    )
    parts = [by_run, by_id]
    placed = features.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    if rest.height and placed.height:
        sx, sy = project_m(placed["lon"].to_numpy(), placed["lat"].to_numpy())
        lx, ly = project_m(rest["lon"].to_numpy(), rest["lat"].to_numpy())
        dist, idx = cKDTree(np.column_stack([sx, sy])).query(np.column_stack([lx, ly]))
        ok = dist <= match_m
        parts.append(
            pl.DataFrame(
                {
                    "site": placed["site_id"].gather(idx[ok]),
                    "site_id": rest["site_id"].filter(pl.Series(ok)),
                    "label": rest["label"].filter(pl.Series(ok)),
                }
            )
        )
    return (
        pl.concat(parts)
        .group_by("site")
        .agg(pl.col("label").max())
        .rename({"site": "site_id"})
        .sort("site_id")
    )


def design(
    scored: pl.DataFrame, reasons: pl.DataFrame, features: pl.DataFrame, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """One row per site: site_id and the model's inputs, all Float64, columns in a fixed
    order. Rule columns: 1 where the rule contributed (an activity seen, a context that
    counted, an innocent explanation that discounted something). Site figures are
    sign(x)·log(1+|x|) (shares stay about linear, counts and kWh lose their tails), missing
    as 0 with a ``<name>_missing`` column (no meter is not an average meter)."""
    unknown = [c for c in cfg["site_features"] if c not in features.columns]
    if unknown:
        raise RankerError(f"[learning.ranker] site_features not in the site table: {unknown}")
    codes = sorted(reasons.filter(pl.col("contribution") != 0)["code"].unique().to_list())
    fired = (
        reasons.filter(pl.col("contribution") != 0)
        .select("site_id", "code", pl.lit(1.0).alias("v"))
        .unique(["site_id", "code"])
        .pivot(on="code", index="site_id", values="v")
    )
    figures = []
    for name in cfg["site_features"]:
        x = pl.col(name).cast(pl.Float64).fill_nan(None)
        figures += [
            (x.sign() * x.abs().log1p()).fill_null(0.0).alias(f"f_{name}"),
            x.is_null().cast(pl.Float64).alias(f"f_{name}_missing"),
        ]
    base = scored.select(
        "site_id", *[pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in SCORE_COLUMNS]
    )
    out = (
        base.join(features.select("site_id", *figures), on="site_id", how="left")
        .join(fired, on="site_id", how="left")
        .with_columns(pl.col(c).fill_null(0.0) for c in codes)
        .rename({c: f"r_{c}" for c in codes})
    )
    cols = [*SCORE_COLUMNS, *[f"r_{c}" for c in codes], *[e.meta.output_name() for e in figures]]
    return out.select("site_id", *cols).sort("site_id")


def fit(
    matrix: pl.DataFrame, train: pl.DataFrame, cfg: Mapping[str, Any], matched: int | None = None
) -> Fit | None:
    """The fitted ranker's hit chance and factor for every row of ``matrix``; None when the
    labels are too few to learn from (the rules' list stands)."""
    rows = matrix.join(train, on="site_id", how="inner").sort("site_id")
    n = rows.height
    pos = int(rows["label"].sum()) if n else 0
    if n < cfg["min_labels"] or min(pos, n - pos) < cfg["min_per_class"]:
        return None
    names = [c for c in matrix.columns if c != "site_id"]
    x_train = rows.select(names).to_numpy()
    y = rows["label"].to_numpy().astype(int)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(C=cfg["c"], max_iter=1000, random_state=0)
    model.fit(scaler.transform(x_train), y)
    p = model.predict_proba(scaler.transform(matrix.select(names).to_numpy()))[:, 1]
    rate = pos / n
    p = np.clip(p, _EPS, 1 - _EPS)
    log_ratio = np.log(p / (1 - p)) - np.log(rate / (1 - rate))
    factor = np.clip(np.exp(cfg["weight"] * log_ratio), cfg["min_factor"], cfg["max_factor"])
    adjust = pl.DataFrame(
        {
            "site_id": matrix["site_id"],
            "hit_chance": np.round(p, 4),
            "learned_factor": np.round(factor, 3),
        }
    )
    coef = dict(zip(names, (model.coef_[0] / scaler.scale_).round(4).tolist(), strict=True))
    return Fit(adjust, n, pos, n if matched is None else matched, coef)


def learn(
    scored: pl.DataFrame,
    reasons: pl.DataFrame,
    features: pl.DataFrame,
    labels: pl.DataFrame | None,
    config: Mapping[str, Any],
) -> tuple[pl.DataFrame, Fit | None]:
    """(scored with the learned factor applied to ``score``, the fit or None). Without a
    fit ``scored`` is returned as it came, so the lead list is the rules' to the byte."""
    cfg = config["learning"]["ranker"]
    if labels is None or labels.height < cfg["min_labels"]:
        return scored, None
    train = training_rows(labels, features, config["ledger"]["match_m"])
    result = fit(design(scored, reasons, features, cfg), train, cfg)
    if result is None:
        return scored, None
    floor = config["scoring"]["min_score"]
    listed = pl.col("score") >= floor
    out = (
        scored.join(result.adjust, on="site_id", how="left")
        .with_columns(
            pl.when(listed).then(pl.col("learned_factor")).otherwise(1.0).alias("learned_factor")
        )
        .with_columns(
            (floor + (pl.col("score") - floor) * pl.col("learned_factor")).round(3).alias("score")
        )
    )
    return out, replace(result, adjust=out.select(result.adjust.columns).sort("site_id"))


def annotate(listed: pl.DataFrame, result: Fit | None) -> pl.DataFrame:
    """A ranked list with the factor noted after the rules' evidence where it moved the
    score (rounded to two decimals, not 1.00). The reasons column is left alone: the
    ledger compares reasons between runs, and a factor is not a new reason."""
    if result is None:
        return listed
    shown = result.adjust.select(
        "site_id",
        pl.when(pl.col("learned_factor").round(2) != 1.0)
        .then(pl.format(NOTE, pl.col("learned_factor").round(2).cast(pl.String)))
        .alias("_note"),
    )
    return (
        listed.join(shown, on="site_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("_note").is_null())
            .then(pl.col("evidence"))
            .when(pl.col("evidence").fill_null("") == "")
            .then(pl.col("_note"))
            .otherwise(pl.concat_str([pl.col("evidence"), pl.col("_note")], separator="；"))
            .alias("evidence")
        )
        .drop("_note")
    )
