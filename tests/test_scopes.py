"""Business scopes read as a person reads them: real Henan scopes, a hand-labelled fixture,
the agency boilerplate that a substring search misreads, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.scoring.rules import apply, load_rules
from screening.settings import load_config
from screening.signals.registry import (
    FIELD_RULES,
    registration_signals,
    silent_for_empty_fields,
)
from screening.signals.scopes import read_scopes

from .conftest import REPO, make_bundle
from .test_rules import _features

CONFIG = load_config()
CFG = CONFIG["registry"]
AS_OF = dt.date(2021, 8, 31)
FIXTURE = Path(__file__).parent / "fixtures" / "scopes_labelled.csv"
HENAN = REPO / ".." / "shared" / "realdata" / "henan_registrations_2013.csv"

# what the substring reading flagged on real registers: 化工 inside another word, chemistry
# named only to be excluded, trade, negated verbs
FALSE_FRIENDS = [
    "园林绿化工程",
    "园林绿化工程施工",
    "建筑智能化工程",
    "电子与智能化工程",
    "城市亮化工程",
    "景观亮化工程的设计及施工",
    "文化艺术交流策划",
    "化工产品（除危险品）销售",
    "化工产品（不含危险化学品）销售",
    "化学试剂（除危险品）",
    "其他化工产品（不含危险化学品）、建材、五金交电销售",
    "化工设备、矿山设备销售；机械设备加工",
    "化工机械、汽车配件加工销售",
    "中成药、中药饮片、化学药制剂、抗生素零售",
    "化肥、农药（不含危险化学品）、不再分装的包装种子零售",
    "甲醇、粗苯无仓储批发",
    "液氨（不储存）批发",
    "甲醇、甲苯、丙酮（不带储存设施经营）",
    "仓储服务（危险及化学品除外）",
    "鲜酸奶、酸菜加工销售",
    "大理石、碳酸钙粉加工",
    "聚丙烯编织袋生产、销售",
    "农药、化肥等农业生产资料销售",
    "油墨罐加工销售",
]


def _read(scopes: list[str | None]) -> pl.DataFrame:
    out = read_scopes(pl.Series("scope", scopes, dtype=pl.String), CFG)
    return pl.DataFrame({"scope": scopes}, schema={"scope": pl.String}).join(
        out, on="scope", how="left", maintain_order="left"
    )


def _regs(scopes: list[str | None], **cols: list) -> pl.DataFrame:
    n = len(scopes)
    base = {
        "name": ["宿州市某新材料科技有限公司"] * n,
        "scope": scopes,
        "industry_code": ["M7320"] * n,
        "status": ["存续"] * n,
        "established": [dt.date(2020, 1, 1)] * n,
    }
    return pl.DataFrame({**base, **cols}, schema_overrides={"scope": pl.String})


def test_the_labelled_scopes_are_read_as_labelled():
    labelled = pl.read_csv(FIXTURE)
    assert labelled.height >= 120 and labelled["expected_flag"].sum() >= 55
    got = _read(labelled["scope"].to_list())
    agree = (got["has_chemistry_scope"] == labelled["expected_flag"]).mean()
    assert agree >= 0.95


@pytest.mark.parametrize("scope", FALSE_FRIENDS)
def test_boilerplate_alone_raises_no_flag(scope):
    out = registration_signals(_regs([scope]), AS_OF, CFG)
    assert out["has_chemistry_scope"].to_list() == [False]
    # a cover name outside the chemical industry codes: still not hiding chemistry
    assert out["hides_chemistry"].to_list() == [False]


def test_making_and_keeping_are_told_from_trade():
    got = _read(
        [
            "新材料技术研发；树脂、胶粘剂生产销售",
            "新材料技术研发；树脂、胶粘剂销售",
            "销售：化工产品、五金交电",
            "生产：涂料、树脂。销售：五金",
            "化肥，农药生产",
            "废机油回收、储存",
            "许可项目：危险化学品经营；危险化学品仓储。一般项目：化工产品销售",
            "销售化工产品、塑料制品生产",
            "建材、五金工具、电线电缆、油脂、油漆、涂料、办公用品、劳保用品、标识牌加工、制作、销售",
        ]
    )
    assert got["has_chemistry_scope"].to_list() == [
        True,
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert got["trades_chemistry"].to_list()[:3] == [True, True, True]
    assert got["chemistry_clause"].to_list()[:4] == [
        "树脂、胶粘剂生产销售",
        None,
        None,
        "生产：涂料、树脂",
    ]
    assert got["chemistry_clause"][6] == "危险化学品仓储"


def test_an_exclusion_takes_away_what_it_names_only():
    got = _read(
        [
            "水处理剂（不含危险化学品）生产销售",
            "除危险化学品外的化工原料生产",
            "不得从事危险化学品生产",
        ]
    )
    assert got["has_chemistry_scope"].to_list() == [True, True, False]
    # quoted as written, bracket and all
    assert got["chemistry_clause"][0] == "水处理剂（不含危险化学品）生产销售"


def test_bad_scopes_give_clear_results():
    long = "；".join(["园林绿化工程施工", "化工产品（不含危险化学品）销售", "五金交电零售"] * 400)
    scopes = [
        None,
        "",
        "   ",
        "#",
        "N/A",
        "；；；、、，",
        "化工产品（不含危险化学品",  # unbalanced
        "（（（涂料生产",
        "化工产品(不含危险化学品)销售;涂料生产,销售",  # half-width punctuation
        "化工产品（不含危险化学品）销售；涂料生产，销售",  # the same, full-width
        long,
        long + "；胶粘剂生产",
        "生产" * 3000,
    ]
    got = _read(scopes)
    flags = got["has_chemistry_scope"].to_list()
    assert flags[:6] == [None] * 6  # nothing said: unknown, not "no chemistry"
    assert flags[6:] == [False, True, True, True, False, True, False]
    assert got["chemistry_clause"][8] == got["chemistry_clause"][9] == "涂料生产"
    assert got["chemistry_clause"][11] == "胶粘剂生产"
    assert len(long) > 5000


def test_empty_and_scopeless_registers():
    empty = registration_signals(_regs([]), AS_OF, CFG)
    assert empty.height == 0 and "chemistry_clause" in empty.columns
    out = registration_signals(_regs(["涂料生产"]).drop("scope"), AS_OF, CFG)
    assert out["has_chemistry_scope"].to_list() == [None]
    assert out["hides_chemistry"].to_list() == [None]


def test_missing_code_and_status_stay_unknown():
    regs = _regs(
        ["涂料生产", "软件开发", "涂料生产", "涂料生产"],
        industry_code=[None, None, " ", "C2641"],
        status=[None, "", "存续（在营、开业、在册）", "吊销，未注销"],
    )
    out = registration_signals(regs, AS_OF, CFG)
    assert out["is_chemical_industry"].to_list() == [None, None, None, True]
    # cover name + making chemistry + unknown code: unknown; no chemistry: no
    assert out["hides_chemistry"].to_list() == [None, False, None, False]
    assert out["status_class"].to_list() == [None, None, "active", "ended"]


def test_rules_silent_for_wholly_empty_fields():
    regs = _regs(["涂料生产", None], industry_code=[None, ""], status=["存续", None])
    silent = silent_for_empty_fields(regs)
    assert set(silent) == {"registrations.industry_code"}
    assert "COVER_NAME_CHEMISTRY" in silent["registrations.industry_code"]
    gone = silent_for_empty_fields(regs.drop("status", "scope"))
    assert set(gone) == {f"registrations.{f}" for f in FIELD_RULES}
    codes = {r["code"] for r in CONFIG["rules"]}
    assert all(set(rules) <= codes for rules in FIELD_RULES.values())


def test_the_run_summary_names_rules_silent_for_an_empty_field(tmp_path):
    bundle = make_bundle(tmp_path / "b")  # its registrations have no scope column
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--input", str(bundle), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = (out / "run_summary.md").read_text(encoding="utf-8")
    assert "Rules silent because registrations.scope has no values: COVER_NAME_CHEMISTRY" in (
        summary
    )


def test_the_evidence_quotes_the_clause():
    ruleset = load_rules(CONFIG)
    feats = _features(
        s1={
            "hides_chemistry": True,
            "cover_name": True,
            "names": "宿州市某新材料科技有限公司",
            "industry_codes": "M7320",
            "chemistry_clauses": "塑料助剂生产销售",
            "truck_night_stops": 3,
            "night_share": 0.6,
            "night_share_pct": 0.99,
        }
    )
    _, reasons = apply(feats, ruleset)
    sentence = reasons.filter(pl.col("code") == "COVER_NAME_CHEMISTRY")["evidence"].to_list()
    assert sentence and "经营范围写明“塑料助剂生产销售”" in sentence[0]


@pytest.mark.skipif(not HENAN.exists(), reason="real registrations not in ../shared/realdata")
def test_real_henan_scopes():
    regs = pl.read_csv(HENAN, infer_schema=False).select(
        pl.col("企业名称").alias("name"), pl.col("经营范围").alias("scope")
    )
    out = registration_signals(regs, AS_OF, CFG)
    share = out["has_chemistry_scope"].fill_null(False).mean()
    # the substring reading said 9.4 %; a few firms in a thousand make or keep chemistry
    assert 0.001 <= share <= 0.02
    assert out["trades_chemistry"].fill_null(False).mean() > share
    # no industry codes in this export: hiding is never asserted, only left unknown
    assert out["hides_chemistry"].fill_null(False).sum() == 0
    assert out["is_chemical_industry"].null_count() == out.height
    assert out["status_class"].null_count() == out.height
    # the boilerplate a substring search misreads adds nothing to any real scope: taking it
    # out leaves every flag as it was
    scopes = out.filter(
        pl.col("scope").str.contains("绿化工程|智能化工程|亮化工程|（除危险品）|（不含危险化学品）")
    )["scope"]
    assert scopes.len() > 200
    cut = scopes.str.replace_all(
        r"园林绿化工程|建筑智能化工程|智能化工程|城市亮化工程|亮化工程|化工产品（除危险品）销售"
        r"|化工产品（不含危险化学品）销售|化学试剂（除危险品）",
        "",
    )
    before = _read(scopes.to_list())["has_chemistry_scope"].fill_null(False)
    after = _read(cut.to_list())["has_chemistry_scope"].fill_null(False)
    assert (before == after).all()
