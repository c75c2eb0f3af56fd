"""World styles of the sample generator: the default is the classic county byte for byte,
each named style is reproducible, draws its habits per world, plants every campaign
category, the real world's look-alikes and the harder workshops, and leaves each
look-alike's innocent explanation where a person reading the records would find it."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from screening.coords import gcj02_to_wgs84, haversine_m
from screening.evaluation.truth import read_truth, signal_report
from screening.ingest import ingest_bundle
from screening.pipeline import build_sites
from screening.sample import SIZES, generate
from screening.sample.config import LOOKALIKE_CATEGORIES, WORKSHOP_CATEGORIES
from screening.sample.styles import (
    HARD_WORKSHOPS,
    SPECS,
    STYLE_LOOKALIKES,
    STYLE_NAMES,
    draw_knobs,
)
from screening.store.warehouse import Warehouse

from .conftest import REPO
from .test_sample import TRUTH_COLUMNS

STYLES = tuple(SPECS)
INNOCENT = {
    "valid_permit",
    "fuel_permit",
    "driver_home",
    "carrier_depot",
    "bakery_hours",
    "irrigation",
    "new_factory",
    "new_registration",
    "day_shape",
    "ordinary_industry",
    "registered_after_case",
    "agricultural_tariff",
    "household_meter",
    "livestock",
    "food_name",
    "cold_name",
    "printing",
    "car_repair",
    "wood_name",
    "pump_name",
    "same_legal_rep",
    "overnight_parking",
    "registered_carriers",
    "company_meter",
}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("styles")
    return {s: (root / s, generate(root / s, seed=11, size="tiny", style=s)) for s in STYLES}


def _truth(summary: dict) -> pl.DataFrame:
    return pl.read_csv(str(summary["truth"]), infer_schema=False)


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_default_style_is_the_committed_sample(tmp_path: Path) -> None:
    """`--style default` (and no style) still writes data/sample byte for byte."""
    sample = REPO / "data" / "sample"
    if not sample.exists():
        pytest.skip("no committed sample")
    out = tmp_path / "sample"
    s = generate(out, seed=20210831, size="small", style="default")
    assert _files(out) == _files(sample)
    assert Path(str(s["truth"])).read_bytes() == (REPO / "data" / "sample_truth.csv").read_bytes()
    expected = REPO / "data" / "sample_expected_quarantine.csv"
    assert Path(str(s["expected_quarantine"])).read_bytes() == expected.read_bytes()


@pytest.mark.parametrize("style", STYLES)
def test_same_seed_and_style_give_the_same_bytes(worlds, tmp_path: Path, style: str) -> None:
    out, summary = worlds[style]
    again = generate(tmp_path / "again", seed=11, size="tiny", style=style)
    assert _files(out) == _files(tmp_path / "again")
    assert Path(str(summary["truth"])).read_bytes() == Path(str(again["truth"])).read_bytes()


def test_styles_differ_from_each_other_and_from_default(worlds, tmp_path: Path) -> None:
    generate(tmp_path / "default", seed=11, size="tiny")
    regs = {s: (worlds[s][0] / "registrations.csv").read_bytes() for s in STYLES}
    regs["default"] = (tmp_path / "default" / "registrations.csv").read_bytes()
    assert len(set(regs.values())) == len(regs)


def test_knobs_are_drawn_per_world_within_the_style() -> None:
    medium = SIZES["medium"]
    for style in STYLES:
        a, b = draw_knobs(style, 1, medium), draw_knobs(style, 2, medium)
        assert a == draw_knobs(style, 1, medium)  # reproducible
        assert a != b and a.tune != b.tune  # a world, not a fixed setting
        spec = SPECS[style]
        for name, (lo, hi) in spec.knobs.items():  # type: ignore[misc]
            v = getattr(a, name)
            if isinstance(lo, tuple):
                assert lo[0] <= v[0] <= lo[1] and hi[0] <= v[1] <= hi[1], name  # type: ignore[index]
            else:
                assert lo <= v <= hi, name
        for kind, n in a.lookalikes:
            lo, hi = spec.lookalikes[kind]
            assert lo <= n <= hi, kind
        for name, (lo, hi) in spec.ac.items():
            assert lo <= getattr(a, name) <= hi, name
    assert draw_knobs("default", 1, medium).styled is False


def test_air_conditioned_households_answer_the_heat() -> None:
    """A styled world's households with air conditioning (a drawn share) answer each degree
    of heat ac_heat times where a fan answers 0.09; nothing else changes its heat response,
    and the default world has none."""
    from screening.sample.load import HEAT, NAMES
    from screening.sample.styles import _heat_k

    k = draw_knobs("dense-south", 3, SIZES["medium"])
    profiles = np.array(["household"] * 20_000 + ["workshop"] * 100 + ["cold_store"] * 100)
    gain = _heat_k(k, profiles)
    house = gain[:20_000]
    ac = house > 1
    assert abs(ac.mean() - k.ac_share) < 0.02
    assert np.allclose(house[ac] * HEAT[NAMES.index("household")], k.ac_heat, atol=1e-3)
    assert (gain[20_000:] == 1).all()
    assert (_heat_k(draw_knobs("default", 3, SIZES["medium"]), profiles) == 1).all()


def test_unknown_style_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="style"):
        generate(tmp_path / "x", size="tiny", style="tropical")
    assert not (tmp_path / "x").exists()
    assert "default" in STYLE_NAMES and len(STYLE_NAMES) >= 4


@pytest.mark.parametrize("style", STYLES)
def test_every_category_and_kind_is_planted(worlds, style: str) -> None:
    t = _truth(worlds[style][1])
    assert t.columns == [*TRUTH_COLUMNS, "kind"]
    assert t["truth_id"].n_unique() == t.height
    ws = t.filter(pl.col("role") == "workshop")
    assert set(ws["category"]) == set(WORKSHOP_CATEGORIES)
    assert set(HARD_WORKSHOPS) <= set(ws["kind"])
    for kind, cat in HARD_WORKSHOPS.items():
        if kind != "single_weak_signal":  # its variants rotate over categories
            assert set(ws.filter(pl.col("kind") == kind)["category"]) == {cat}
    looks = t.filter(pl.col("role") == "lookalike")
    assert set(looks["kind"]) == set(STYLE_LOOKALIKES) | set(LOOKALIKE_CATEGORIES)
    assert (looks["kind"] == looks["category"]).all()
    assert (t["description"].str.len_chars() > 10).all()


def _registrations(out: Path) -> pl.DataFrame:
    text = (out / "registrations.csv").read_bytes().decode("gb18030")
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def _accounts(out: Path) -> pl.DataFrame:
    return pl.read_csv(gzip.decompress((out / "power_accounts.csv.gz").read_bytes()))


def _tracks(out: Path) -> pl.DataFrame:
    df = pl.concat([pl.read_parquet(p) for p in sorted((out / "vehicle_tracks").glob("*"))])
    df = df.rename({"车牌号": "plate", "定位时间": "ts", "经度": "lon", "纬度": "lat"})
    lon, lat = gcj02_to_wgs84(df["lon"].to_numpy(), df["lat"].to_numpy())
    return df.with_columns(lon=pl.Series(lon), lat=pl.Series(lat))


@pytest.mark.parametrize("style", STYLES)
def test_the_world_has_the_habits_it_drew(worlds, style: str) -> None:
    out, summary = worlds[style]
    k = draw_knobs(style, 11, SIZES["tiny"])
    tracks = _tracks(out).unique(["plate", "ts"]).sort("plate", "ts")
    step = tracks.select(pl.col("ts").diff().over("plate").dt.total_seconds()).drop_nulls()
    assert abs(float(step.to_series().median()) - k.gps_step_s) <= 0.25 * k.gps_step_s
    reg = _registrations(out)
    no_coords = reg["经度"].is_null().mean()
    assert abs(no_coords - k.tune.reg_no_coords) < 0.12, (no_coords, k.tune.reg_no_coords)
    blank = k.blank_share("registrations", "industry_code")
    assert abs(reg["行业代码"].is_null().mean() - blank) < 0.1
    acc = _accounts(out)
    assert acc.height == summary["rows"]["power_accounts"]  # type: ignore[index]
    readings = pl.concat(
        [pl.read_parquet(p) for p in sorted((out / "power_readings").glob("*.parquet"))]
    )
    assert (readings["kwh"] >= 0).mean() > 0.9999


@pytest.mark.parametrize("style", STYLES)
def test_planted_records_exist_and_trucks_really_stop(worlds, style: str) -> None:
    out, summary = worlds[style]
    t = _truth(summary)
    reg = set(_registrations(out)["统一社会信用代码"].drop_nulls())
    acc = set(_accounts(out)["用户户号"].cast(pl.String).drop_nulls())
    tracks = _tracks(out)
    for r in t.iter_rows(named=True):
        for u in filter(None, (r["usccs"] or "").split(";")):
            assert u in reg, (r["truth_id"], r["kind"], u)
        for a in filter(None, (r["account_ids"] or "").split(";")):
            assert a in acc, (r["truth_id"], r["kind"], a)
        for p in filter(None, (r["plates"] or "").split(";")):
            x = tracks.filter(pl.col("plate") == p)
            d = haversine_m(
                x["lon"].to_numpy(), x["lat"].to_numpy(), float(r["lon"]), float(r["lat"])
            )
            assert (d < 150).sum() >= 2, (r["truth_id"], r["kind"], p)


@pytest.mark.parametrize("style", STYLES)
def test_lookalikes_carry_their_innocent_explanation(worlds, tmp_path: Path, style: str) -> None:
    """Through the real ingest and site linking: what a person reading a look-alike's
    site would see (a fitting registration, a farm's tariff, a carrier's truck ...)."""
    out, summary = worlds[style]
    ingest_bundle(out, tmp_path / "work", None)
    build_sites(tmp_path / "work")
    with Warehouse(tmp_path / "work") as wh:
        features = wh.table("site_features")
    truth = read_truth(Path(str(summary["truth"])))
    rows = signal_report(truth, features).filter(
        (pl.col("role") == "lookalike") & pl.col("signal").is_in(list(INNOCENT))
    )
    styled = truth.filter(pl.col("kind").is_in(list(STYLE_LOOKALIKES)))
    assert set(styled["truth_id"]) <= set(rows["truth_id"])  # each names its explanation
    per = rows.group_by("truth_id").agg(pl.col("ok").any())
    assert per["ok"].mean() >= 0.85, rows.filter(~pl.col("ok"))
