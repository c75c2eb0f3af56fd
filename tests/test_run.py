"""`screening run` and `screening evaluate` end to end, as the contract describes them."""

from __future__ import annotations

import re
import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from screening import explore
from screening.cli import app
from screening.evaluation.metrics import evaluate
from screening.evaluation.truth import read_truth
from screening.schema import CATEGORIES as SCHEMA_CATEGORIES

from .conftest import REPO, SAMPLE, make_bundle

CONTRACT_COLUMNS = [
    "rank",
    "site_id",
    "score",
    "lon",
    "lat",
    "township",
    "address",
    "category",
    "reasons",
    "evidence",
    "usccs",
    "account_ids",
    "property_ids",
    "plates",
]
CATEGORIES = set(SCHEMA_CATEGORIES)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sample"
    result = CliRunner().invoke(app, ["run", "--input", str(SAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_lead_files_follow_the_contract(run_dir):
    raw = (run_dir / "leads.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so that Excel opens it as UTF-8
    csv = pl.read_csv(run_dir / "leads.csv", infer_schema_length=10000)
    parquet = pl.read_parquet(run_dir / "leads.parquet")
    assert csv.columns[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert parquet.columns == csv.columns and parquet.height == csv.height > 20
    assert parquet["rank"].to_list() == list(range(1, parquet.height + 1))
    assert parquet["site_id"].is_unique().all()
    assert parquet["score"].is_sorted(descending=True)
    assert set(parquet["category"].unique()) <= CATEGORIES
    assert parquet["reasons"].null_count() == 0 and parquet["evidence"].null_count() == 0
    top = parquet.row(0, named=True)
    assert top["lon"] and 116 < top["lon"] < 118 and top["township"]
    assert (run_dir / "run_summary.md").read_text(encoding="utf-8").startswith("# Screening run")


def test_same_inputs_give_the_same_leads(run_dir, tmp_path):
    again = tmp_path / "again"
    assert (
        CliRunner().invoke(app, ["run", "--input", str(SAMPLE), "--out", str(again)]).exit_code == 0
    )
    a = pl.read_parquet(run_dir / "leads.parquet")
    b = pl.read_parquet(again / "leads.parquet")
    assert a.equals(b)


def test_sample_leads_find_the_planted_workshops(run_dir):
    truth = read_truth(REPO / "data" / "sample_truth.csv")
    result = evaluate(truth, pl.read_parquet(run_dir / "leads.parquet"))
    assert result["average_precision"] >= 0.75
    assert result["recall@40"] >= 0.8
    assert result["lookalikes_top50"] <= 3
    out = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--truth",
            str(REPO / "data" / "sample_truth.csv"),
            "--leads",
            str(run_dir / "leads.csv"),
        ],
    )
    assert out.exit_code == 0 and "average_precision:" in out.output


def test_sites_no_rule_names_are_watched_not_sent(run_dir):
    """The sample holds every line of evidence, so a lead has a rule naming it; a site only
    the anomaly model lifts above min_score is a watch item, and says so."""
    leads = pl.read_parquet(run_dir / "leads.parquet")
    assert (leads["rule_score"] > 0).all()
    watched = explore.watch_items(run_dir)
    assert watched.height and not set(watched["site_id"]) & set(leads["site_id"])
    alone = watched.filter(pl.col("why_watched") == "no rule names it")
    assert alone.height and (alone["rule_score"].fill_null(0) <= 0).all()
    assert alone["reasons"].str.contains("ANOMALY").all()


def test_absent_optional_sources_are_named_with_their_silent_rules(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--input", str(bundle), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "tips absent, rules silent: PUBLIC_TIP" in result.output
    summary = (out / "run_summary.md").read_text(encoding="utf-8")
    assert "Rules silent because sanctioned_sites is absent: CASE_REVIVED" in summary
    assert (out / "leads.csv").exists()


def test_a_county_without_trucks_tips_cases_or_idle_list_still_ranks(tmp_path):
    """The sample county with only its registrations, permits and meters: the list is
    ranked by those lines, still finds most workshops, and says what it could not see."""
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLE, bundle)
    for name in (
        "vehicle_tracks",
        "vehicles.csv",
        "tips.csv",
        "sanctioned_sites.csv",
        "idle_properties.xlsx",
    ):
        path = bundle / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--input", str(bundle), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = (out / "run_summary.md").read_text(encoding="utf-8")
    assert (
        "Lines of evidence missing: trucks (hazmat-truck stops); place (the idle-premises "
        "list); history (earlier cases); tips (public reports)."
    ) in summary
    # the anomaly model stands in for the rules those lines would feed (model_stands_in)
    assert "leads rest on the anomaly model alone" in summary
    leads = pl.read_csv(out / "leads.csv")
    assert leads.height >= 50
    assert not leads["reasons"].str.contains("HAZMAT|FUEL_DELIVERIES|PUBLIC_TIP").any()
    found = evaluate(read_truth(REPO / "data" / "sample_truth.csv"), leads)
    assert found["recall@40"] >= 0.6


def test_missing_required_source_fails_in_one_line(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    (bundle / "power_accounts.csv").unlink()
    result = CliRunner().invoke(app, ["run", "--input", str(bundle), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "power_accounts" in result.output


def test_rescore_after_a_rule_change_leaves_the_run_alone(run_dir, tmp_path):
    from screening.settings import DEFAULT_CONFIG  # the shipped settings file

    before = (run_dir / "leads.parquet").read_bytes()
    same = CliRunner().invoke(app, ["rescore", "--run", str(run_dir), "--out", str(tmp_path / "a")])
    assert same.exit_code == 0, same.output
    cols = ["site_id", "rank", "score", "reasons"]
    run_leads = pl.read_parquet(run_dir / "leads.parquet").select(cols)
    assert pl.read_parquet(tmp_path / "a" / "leads.parquet").select(cols).equals(run_leads)
    assert "0 new, 0 no longer listed" in same.output
    # tips no longer count
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    tips = r'weight = [0-9.]+\nwhen = "tips >= 1"'
    changed = re.sub(tips, 'weight = 0.0\nwhen = "tips >= 1"', text)
    assert changed != text
    (tmp_path / "no_tips.toml").write_text(changed, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "rescore",
            "--run",
            str(run_dir),
            "--config",
            str(tmp_path / "no_tips.toml"),
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 0, result.output
    new = pl.read_parquet(tmp_path / "b" / "leads.parquet")
    tipped = run_leads.filter(pl.col("reasons").str.contains("PUBLIC_TIP"))
    assert tipped.height > 0 and not new["reasons"].str.contains("PUBLIC_TIP").any()
    assert (run_dir / "leads.parquet").read_bytes() == before  # the run is untouched
