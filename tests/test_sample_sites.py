"""Signals and sites on the committed sample county, against its ground truth: the planted
workshops carry the signals their kind should show and the look-alikes carry their innocent
explanation (issue 3's acceptance)."""

from __future__ import annotations

import polars as pl
import pytest

from screening.coords import haversine_m
from screening.evaluation.truth import read_truth, signal_report
from screening.pipeline import build_sites
from screening.store.warehouse import Warehouse

from .conftest import REPO

INNOCENT = (
    "valid_permit",
    "fuel_permit",
    "carrier_depot",
    "driver_home",
    "bakery_hours",
    "irrigation",
    "new_factory",
)


@pytest.fixture(scope="module")
def built(sample_ingested):
    _, work = sample_ingested
    report = build_sites(work)
    with Warehouse(work) as wh:
        return report, wh.table("site_features"), wh.table("site_links"), wh.table("stays")


@pytest.fixture(scope="module")
def report_rows(built):
    truth = read_truth(REPO / "data" / "sample_truth.csv")
    return signal_report(truth, built[1])


def test_planted_workshops_show_their_signals(report_rows):
    w = report_rows.filter(pl.col("role") == "workshop")
    assert w["truth_id"].n_unique() == 20
    assert w["ok"].mean() >= 0.95, w.filter(~pl.col("ok"))
    strong = w.filter(pl.col("strength") == "strong")
    assert strong["ok"].mean() >= 0.98, strong.filter(~pl.col("ok"))
    for signal in (
        "no_registration",
        "idle_premises",
        "remote",
        "permit_expired",
        "tip",
        "dormant_wake",
        "chemistry_name",
        "three_phase",
    ):
        assert w.filter(pl.col("signal") == signal)["ok"].all(), signal


def test_lookalikes_carry_their_innocent_explanation(report_rows):
    innocent = report_rows.filter(pl.col("signal").is_in(INNOCENT))
    assert innocent.height >= 15
    assert innocent["ok"].all(), innocent.filter(~pl.col("ok"))


def test_sites_are_compact_and_counted(built):
    report, features, links, stays = built
    assert report.counts["sites"] == features.height
    assert links.select("source", "record_id").is_unique().all()
    given = links.filter(pl.col("position") == "given")
    assert given["distance_m"].max() < 200  # no site chains across a street or a town
    assert stays.height > 100 and report.counts["places"] > 50


def test_every_site_has_township_and_unit(built):
    features = built[1]
    placed = features.filter(pl.col("lon").is_not_null())
    assert placed["township"].null_count() == 0
    assert placed["oversight_unit"].null_count() / placed.height < 0.01


def test_truth_positions_are_near_their_sites(built):
    truth = read_truth(REPO / "data" / "sample_truth.csv")
    features = built[1]
    ids = (
        truth.select("truth_id", "lon", "lat", pl.col("account_ids").str.split(";"))
        .explode("account_ids")
        .join(
            features.select(
                "site_id",
                pl.col("lon").alias("slon"),
                pl.col("lat").alias("slat"),
                pl.col("account_ids").str.split(";"),
            ).explode("account_ids"),
            on="account_ids",
        )
    )
    d = haversine_m(
        ids["lon"].to_numpy(), ids["lat"].to_numpy(), ids["slon"].to_numpy(), ids["slat"].to_numpy()
    )
    assert (d < 120).mean() > 0.95


def test_a_site_s_night_share_by_energy_is_unknown_where_no_meter_has_a_profile(built):
    """night_share_energy weighs each meter's night share by its energy; a site whose meters
    report only daily totals has none (null, never 0/0), so that a newcomer's load there is
    not judged to misfit its trade."""
    features = built[1]
    assert not features["night_share_energy"].is_nan().any()
    unknown = features.filter(pl.col("night_share").is_null() & (pl.col("meters") > 0))
    assert unknown.height and unknown["night_share_energy"].null_count() == unknown.height
    known = features.filter(pl.col("night_share").is_not_null())
    assert (known["night_share_energy"] <= known["night_share"] + 1e-9).all()
