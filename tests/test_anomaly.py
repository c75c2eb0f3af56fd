"""The anomaly model's explanation: the figures furthest from the peer group's median, the
strongest first, with the group's median beside each, in inspectors' words."""

from __future__ import annotations

import numpy as np
import polars as pl

from screening.scoring.anomaly import FEATURES, params, score
from screening.settings import load_settings


def _features() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    cols = {name: rng.normal(0.5, 0.02, n) for name in FEATURES}
    frame = pl.DataFrame(
        {
            "site_id": [f"S{i:03d}" for i in range(n)],
            "meters": [1] * n,
            "tariffs": ["industrial"] * n,
            **cols,
        }
    )
    # S000: night share far off, flatness further off, load factor a little off
    return frame.with_columns(
        pl.when(pl.col("site_id") == "S000").then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
        for c, v in (("night_share", 0.95), ("flatness", 2.5), ("load_factor", 0.62))
    )


def test_explanation_names_the_strongest_deviations_first():
    out = score(_features(), **params(load_settings())).sort("anomaly_score", descending=True)
    top = out.row(0, named=True)
    assert top["site_id"] == "S000"
    assert top["anomaly_codes"] == "flatness;night_share;load_factor"
    first = top["anomaly_features"].split("；")[0]
    assert first.startswith("昼夜负荷比250%（同类中位数50%）")
    # ordinary sites have nothing to explain
    assert out.filter(pl.col("site_id") == "S030")["anomaly_features"].item() is None
