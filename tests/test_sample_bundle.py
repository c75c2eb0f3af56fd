"""The committed sample county through the real ingest: every source lands, the bad rows
planted on purpose (and only those) are quarantined, and GCJ-02 positions come back to the
true WGS-84 places."""

from __future__ import annotations

import polars as pl
import pytest

from screening.coords import haversine_m
from screening.schema import SOURCES
from screening.store.warehouse import Warehouse

from .conftest import REPO

TRUTH = REPO / "data" / "sample_truth.csv"
EXPECTED = REPO / "data" / "sample_expected_quarantine.csv"


@pytest.fixture(scope="module")
def ingested(sample_ingested):
    return sample_ingested


def test_every_source_lands(ingested):
    report, work = ingested
    assert report.absent == []
    with Warehouse(work) as wh:
        for name in SOURCES:
            assert wh.read(f"SELECT count(*) AS n FROM {name}")["n"].item() > 0, name
        assert wh.table("townships").height >= 5
        assert wh.meta()["as_of"] == "2021-08-31"
    assert report.manifest.crs == "gcj02"


def test_the_planted_bad_rows_and_only_they_are_quarantined(ingested):
    report, _ = ingested
    expected = pl.read_csv(EXPECTED, infer_schema=False).with_columns(pl.col("row").cast(pl.Int64))
    is_warning = pl.col("reason_hint").str.starts_with("warning")
    want_rejected = set(expected.filter(~is_warning).select("source", "file", "row").rows())
    want_warned = set(expected.filter(is_warning).select("source", "file", "row").rows())
    got = report.problems
    got_rejected = set(
        got.filter(pl.col("severity") == "rejected").select("source", "file", "row").rows()
    )
    got_warned = set(
        got.filter(pl.col("severity") == "warning").select("source", "file", "row").rows()
    )
    assert want_rejected == got_rejected
    assert want_warned <= got_warned


def test_positions_come_back_to_the_true_places(ingested):
    """Records were written in GCJ-02 with metres of jitter; after conversion they sit within
    tens of metres of the truth's WGS-84 positions (GCJ-02 itself is ~500 m off here)."""
    _, work = ingested
    truth = pl.read_csv(TRUTH, infer_schema=False).with_columns(
        pl.col("lon").cast(pl.Float64), pl.col("lat").cast(pl.Float64)
    )
    with Warehouse(work) as wh:
        accounts = wh.table("power_accounts").drop_nulls(["lon"])
    links = (
        truth.select("truth_id", "lon", "lat", pl.col("account_ids").str.split(";"))
        .explode("account_ids")
        .join(
            accounts.select(
                pl.col("account_id").alias("account_ids"),
                pl.col("lon").alias("alon"),
                pl.col("lat").alias("alat"),
            ),
            on="account_ids",
        )
    )
    assert links.height >= 10
    d = haversine_m(
        links["lon"].to_numpy(),
        links["lat"].to_numpy(),
        links["alon"].to_numpy(),
        links["alat"].to_numpy(),
    )
    assert (d < 100).mean() > 0.95, sorted(d)[-5:]
