"""The ranker learnt from inspection outcomes: no labels leave the rules' list to the byte,
outcomes move sites like the confirmed ones up, the same inputs give the same scores, and
labels keyed by the ledger find tonight's sites."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from screening.ledger.ledger import Ledger
from screening.ledger.merge import ledger_feedback
from screening.pipeline import build_sites
from screening.pipeline.run import rescore, score_run, write_leads
from screening.scoring import learning, ranker
from screening.settings import load_settings
from screening.store import catalog
from screening.store.warehouse import Warehouse

SETTINGS = load_settings()
CFG = SETTINGS.learning.ranker
T0 = dt.datetime(2021, 9, 6, 8)


@pytest.fixture(scope="module")
def county(sample_ingested):
    """The committed sample county's sites, and its rules-only scores and lead list."""
    _, work = sample_ingested
    build_sites(work)
    with Warehouse(work) as wh:
        features = wh.table("site_features")
    scored, reasons, leads = rescore(features, SETTINGS)
    return work, features, scored, reasons, leads


def _labels(sites: pl.DataFrame, label: pl.Expr) -> pl.DataFrame:
    """Labels as the ledger feedback gives them, keyed by the sites' own ids."""
    return sites.select(
        "site_id",
        pl.col("site_id").alias("run_site_id"),
        "lon",
        "lat",
        label.cast(pl.Int8).alias("label"),
    )


VISITED = 20  # the leads the synthetic outcomes visit; the rest of the list is what moves


def _common_code(leads: pl.DataFrame) -> str:
    """The synthetic outcome's pattern: an activity seen at about half of the visited leads,
    in both halves of them and no nearer the top than the visited on average (else
    "confirmed" only says "near the top", which the rule score already tells, and the ranker
    rightly learns the score), that some, not all, of the unvisited listed leads show too, so
    that there is something to move and something to move past."""
    coded = leads.with_row_index("i").with_columns(pl.col("reasons").str.split(";").alias("code"))
    visited = pl.col("i") < VISITED
    counts = (
        coded.explode("code")
        .filter(pl.col("code") != "ANOMALY")
        .group_by("code")
        .agg(
            visited.sum().cast(pl.Int64).alias("visited"),
            (~visited).sum().cast(pl.Int64).alias("rest"),
            (pl.col("i") < VISITED // 2).sum().alias("upper"),
            (visited & (pl.col("i") >= VISITED // 2)).sum().alias("lower"),
            pl.col("i").filter(visited).mean().alias("mean_place"),
        )
        .filter(
            (pl.col("visited") > 2)
            & (pl.col("upper") > 0)
            & (pl.col("lower") > 0)
            & (pl.col("mean_place") >= (VISITED - 1) / 2)
            & (pl.col("rest") > 0)
            & (pl.col("rest") < leads.height - VISITED)
        )
    )
    assert counts.height, "the sample's list has no pattern shared by visited and unvisited leads"
    return counts.sort((pl.col("visited") - VISITED // 2).abs(), "code")["code"][0]


def test_without_enough_labels_the_list_is_the_rules_to_the_byte(county, tmp_path):
    _, features, _, _, leads = county
    write_leads(leads, tmp_path / "rules")
    code = _common_code(leads)
    top = leads.head(VISITED)
    few = _labels(top.head(CFG.min_labels - 1), pl.col("reasons").str.contains(code))
    one_sided = _labels(top, pl.lit(1))  # every visit confirmed: nothing to tell apart
    for i, labels in enumerate([None, ranker.empty_labels(), few, one_sided]):
        scored, _, again = rescore(features, SETTINGS, labels=labels)
        assert "learned_factor" not in scored.columns
        write_leads(again, tmp_path / str(i))
        for name in (catalog.leads_csv, catalog.leads_parquet):
            assert name(tmp_path / str(i)).read_bytes() == name(tmp_path / "rules").read_bytes()


def test_outcomes_move_sites_like_the_confirmed_ones_up(county):
    _, features, scored, reasons, leads = county
    code = _common_code(leads)
    top = leads.head(VISITED)
    labels = _labels(top, pl.col("reasons").str.split(";").list.contains(code))
    assert 2 < labels["label"].sum() < VISITED - 2
    learnt, _, relisted = rescore(features, SETTINGS, labels=labels)
    assert "hit_chance" in learnt.columns and learnt["hit_chance"].is_between(0, 1).all()
    # among the listed sites nobody visited, those showing the confirmed pattern gain on the
    # rest; what is listed stays what the rules list
    showing = reasons.filter((pl.col("code") == code) & (pl.col("contribution") != 0))["site_id"]
    before = scored.sort(["score", "site_id"], descending=[True, False]).with_row_index("was")
    after = learnt.sort(["score", "site_id"], descending=[True, False]).with_row_index("now")
    moved = (
        before.join(after.select("site_id", "now", "learned_factor"), on="site_id")
        .filter(
            ~pl.col("site_id").is_in(top["site_id"].implode())
            & (pl.col("score") >= SETTINGS.scoring.min_score)
        )
        .with_columns(pl.col("site_id").is_in(showing.implode()).alias("like"))
    )
    like, unlike = moved.filter(pl.col("like")), moved.filter(~pl.col("like"))
    assert like.height and unlike.height
    assert like["learned_factor"].median() > 1 > unlike["learned_factor"].median()
    gain = moved.with_columns((pl.col("was").cast(pl.Int64) - pl.col("now")).alias("gain"))
    by = gain.group_by("like").agg(pl.col("gain").mean())
    assert dict(by.iter_rows())[True] > dict(by.iter_rows())[False]
    listed = pl.col("score") >= SETTINGS.scoring.min_score
    assert set(learnt.filter(listed)["site_id"]) == set(scored.filter(listed)["site_id"])
    assert learnt.filter(~listed)["learned_factor"].eq(1.0).all()
    # each lead keeps its rules' reasons and evidence; the factor is a short note after them
    rules_text = dict(leads.select("site_id", "evidence").iter_rows())
    for site, reasons, evidence in relisted.select("site_id", "reasons", "evidence").iter_rows():
        assert "据已核查" not in reasons
        if site in rules_text:
            assert evidence.startswith(rules_text[site])
    noted = relisted.filter(pl.col("evidence").str.contains("据已核查结果调整×"))
    assert noted.height > 0
    assert noted["evidence"].str.extract(r"据已核查结果调整×([\d.]+)$").is_not_null().all()


def test_the_ranker_is_deterministic(county):
    _, features, scored, reasons, leads = county
    code = _common_code(leads)
    labels = _labels(leads.head(VISITED), pl.col("reasons").str.split(";").list.contains(code))
    a, fit_a = ranker.learn(scored, reasons, features, labels, SETTINGS)
    shuffled = [f.sample(fraction=1.0, shuffle=True, seed=3) for f in (scored, reasons, features)]
    b, fit_b = ranker.learn(*shuffled, labels.reverse(), SETTINGS)
    assert fit_a is not None and fit_b is not None
    assert fit_a.adjust.equals(fit_b.adjust) and fit_a.coefficients == fit_b.coefficients
    key = ["site_id", "score", "hit_chance", "learned_factor"]
    assert a.select(key).sort("site_id").equals(b.select(key).sort("site_id"))


def test_bad_settings_and_labels_are_one_clear_error(county):
    _, features, scored, reasons, leads = county
    bad = SETTINGS.replace(learning={"ranker": {"site_features": ["night_shar"]}})
    labels = _labels(leads.head(40), pl.col("rank") % 2 == 0)
    with pytest.raises(ranker.RankerError, match="night_shar"):
        ranker.learn(scored, reasons, features, labels, bad)
    with pytest.raises(ranker.RankerError, match="run_site_id"):
        ranker.learn(scored, reasons, features, labels.drop("run_site_id"), SETTINGS)


def _lead(site: str, lon: float) -> dict[str, object]:
    return {
        "site_id": site,
        "rank": 1,
        "score": 5.0,
        "reasons": "NIGHT_LOAD",
        "evidence": "x",
        "category": "no_licence",
        "lon": lon,
        "lat": 33.6,
        "township": "t",
        "oversight_unit": "u",
        "address": "a",
        "names": None,
        "legal_reps": None,
    }


def test_ledger_labels_find_tonights_sites(tmp_path):
    """A label lands on tonight's site by the run site id the ledger recorded, by the
    ledger's own id, or within ledger.match_m of the ledger's position; further off, on no
    site."""
    leads = pl.DataFrame([_lead(s, 117.0 + i * 0.01) for i, s in enumerate("ABCD")])
    with Ledger(tmp_path / "l.duckdb") as lg:
        lg.merge_run("R1", leads, {}, SETTINGS.ledger, at=T0)
        for i, site in enumerate("ABCD"):
            at = T0 + dt.timedelta(days=1)
            lg.transition(site, "assigned", "t", at=at)
            lg.transition(site, "inspected", "t", at=at)
            lg.transition(site, "confirmed" if i % 2 else "cleared", "t", at=at)
        lab = learning.labels(lg.history(), lg.run_leads(), lg.runs())
        labels = ranker.ledger_labels(lab, lg.run_leads(), lg.runs(), lg.status())
    assert labels.columns == list(ranker.LABELS_SCHEMA) and labels.height == 4
    # tonight: A under its old id, B re-anchored 20 m off, C 500 m off, D renamed by the run
    labels = labels.with_columns(
        pl.when(pl.col("site_id") == "D").then(pl.lit("D2")).otherwise("run_site_id")
    )
    tonight = pl.DataFrame(
        {
            "site_id": ["A", "B-new", "C-new", "D2"],
            "lon": [117.0, 117.01 + 20 / 93_000, 117.02 + 500 / 93_000, 117.03],
            "lat": [33.6] * 4,
        }
    )
    rows = ranker.training_rows(labels, tonight, SETTINGS.ledger.match_m)
    assert dict(rows.iter_rows()) == {"A": 0, "B-new": 1, "D2": 1}


def test_the_scoring_step_learns_from_the_ledger(county, tmp_path):
    """ledger_feedback hands the ledger's outcomes to scoring: the warehouse's scores carry
    the hit chance, the list is re-ordered, and the rules' reasons stay."""
    work, _, _, _, leads = county
    code = _common_code(leads)
    ledger = tmp_path / "ledger.duckdb"
    with Ledger(ledger) as lg:
        lg.merge_run("R1", leads, {}, SETTINGS.ledger, at=T0)
        for i, (site, reasons) in enumerate(leads.head(30).select("site_id", "reasons").rows()):
            at = T0 + dt.timedelta(days=1, hours=i)
            lg.transition(site, "assigned", "t", at=at)
            lg.transition(site, "inspected", "t", at=at)
            hit = code in reasons.split(";")
            lg.transition(site, "confirmed" if hit else "cleared", "t", at=at)
    fb = ledger_feedback(work, ledger, SETTINGS)
    assert fb.labels.height == 30
    relisted, _ = score_run(work, SETTINGS, fb.weights, fb.labels)
    with Warehouse(work) as wh:
        scores = wh.table("site_scores")
    assert {"hit_chance", "learned_factor"} <= set(scores.columns)
    assert relisted["site_id"].to_list() != leads["site_id"].to_list()
    assert relisted["evidence"].str.contains("据已核查结果调整×").any()
    # and without a ledger the warehouse's list is the rules' again
    none = ledger_feedback(work, None, SETTINGS)
    again, _ = score_run(work, SETTINGS, none.weights, none.labels)
    assert again.equals(leads)
