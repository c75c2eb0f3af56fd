"""Business scopes (经营范围) read the way a person reads them.

A scope is agency boilerplate: sentences (；。, and the 许可项目 / 一般项目 sections of
post-2021 scopes), clauses (，：), items (、) that share the verb written after the last of
them ("树脂、胶粘剂生产销售"), a verb written before a colon for what follows ("批发零售：化工
产品、五金"), and brackets that exclude ("化工产品（除危险化学品）销售", "（不带储存设施经营）").
A substring search finds 化工 in 园林绿化工程 and "chemistry" in a clause that excludes it;
so the scope is cut into clauses and items, the exclusions are dropped, words that only look
like chemistry (绿化工程, 化工设备, 酸奶, 生产资料) are masked, and chemistry is looked up as
whole lexicon words, then the item's verbs tell making and keeping (生产, 加工, 储存, 回收 …)
from trade (销售, 批发, 经营 …).

Why a lexicon and not jieba: a segmenter is a Python call per string (it would be the one
per-row loop in the pipeline, minutes on a city's register) and its dictionary still has to
be taught the agency's words (化工产品, 处理剂, 不带储存设施) before it splits them the way
an inspector reads them; what it would add, boundaries, is what the masked words give here.
Every step below is a polars string expression over all the unique scopes at once.

The lexicon lives in config.toml [registry]; an analyst adds a chemical or a false friend
there. Matching: words longest first; a chemical's name ending (酸 醇 酯 醚 酮 …) counts only
after another character that is not a verb (硫酸, 甲醇, 丙酮; not 酸奶, masked).
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

# a bracket, one level deep; stray brackets are kept as text, never split on
_BR = r"[（(][^（）()]*[）)]"
_SENTENCE_SEP = "；;。\n\r"
_CLAUSE_SEP = "，,：:" + _SENTENCE_SEP
_ITEM_SEP = "、/ \t\u3000"
# section headers of post-2021 scopes and of older ones: each starts a new sentence
_HEADER = r"(?:许可|一般|主营|兼营|前置许可|后置许可)(?:经营)?项目[：:]|(?:经营|业务)范围[：:]"
# 除 that forms a word rather than an exclusion: 除草剂, 除锈, 除尘, 除臭, 除甲醛 …
_CHU_WORD = "草锈尘臭湿垢虫害螨味冰霜甲"
# connectors left over when an item's verbs are taken out ("生产及销售", "批发兼零售")
_CONNECTORS = "及和与并等的兼其‖※"
_MASK = "※"
_VERB = "‖"

OUTPUT_SCHEMA = {
    "scope": pl.String,
    "has_chemistry_scope": pl.Boolean,
    "trades_chemistry": pl.Boolean,
    "chemistry_terms": pl.String,
    "chemistry_clause": pl.String,
}


def _pieces(sep: str) -> str:
    """Runs of text between separators, brackets kept whole (their 、 and ， do not split)."""
    seps = re.escape(sep)
    return rf"(?:[^{seps}（）()]|{_BR}|[（）()])+"


def _alternation(words: list[str]) -> str:
    """Longest first, so that 危险化学品 wins over 化学 at the same place."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _exclusions(text: pl.Expr, words: list[str]) -> pl.Expr:
    """What a clause excludes, removed: a bracket that excludes ("（不含危险化学品）",
    "（危险化学品除外）"), "…除外", "除…外（的）" and "不含 / 不得 / 不带 … to the clause end"."""
    trig = _alternation(words)
    bracket = rf"[（(][^（）()]*(?:{trig}|除外|除[^{_CHU_WORD}])[^（）()]*[）)]"
    stop = "，,；;。（）()"
    return (
        text.str.replace_all(bracket, "")
        .str.replace_all(rf"[^、{stop}]*除外", "")
        .str.replace_all(rf"除[^{_CHU_WORD}{stop}][^{stop}]{{0,40}}?(?:以外|之外|外)的?", "")
        .str.replace_all(rf"(?:{trig})[^{stop}]*", "")
    )


def _parts(frame: pl.DataFrame, col: str, pattern: str, index: str) -> pl.DataFrame:
    """One row per piece of ``col`` (in order, numbered ``index``)."""
    return (
        frame.with_columns(pl.col(col).str.extract_all(pattern))
        .with_columns(pl.int_ranges(pl.col(col).list.len()).alias(index))
        .explode([col, index])
        .filter(pl.col(col).is_not_null())
    )


def read_scopes(scopes: pl.Series, cfg: dict[str, Any]) -> pl.DataFrame:
    """Per distinct scope: does it make or keep chemistry (``has_chemistry_scope``), trade
    in it (``trades_chemistry``), the chemistry it names (``chemistry_terms``) and the
    clauses, in its own words, that say it makes or keeps chemistry (``chemistry_clause``).

    Scopes without a Chinese character (null, blank, "#", "N/A") say nothing: they are left
    out, and a caller joining on the scope gets null (unknown) for them."""
    u = (
        pl.DataFrame({"scope": scopes.cast(pl.String)})
        .unique()
        .filter(pl.col("scope").str.contains(r"\p{Han}"))
        .with_row_index("_sid")
    )
    if u.height == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    words = _alternation(cfg["chemistry_words"])
    suffix = "|".join(map(re.escape, cfg["chemistry_endings"]))
    chem_suffix = rf"[\p{{Han}}&&[^{re.escape(_CONNECTORS)}]](?:{suffix})"
    masks = _alternation(cfg["not_chemistry"])
    make = _alternation(cfg["making_words"])
    trade = _alternation(cfg["trade_words"])
    other = _alternation(cfg["other_words"])
    verbs = _alternation(cfg["making_words"] + cfg["trade_words"] + cfg["other_words"])

    text = pl.col("scope").str.replace_all(_HEADER, "；${0}")
    sent = _parts(
        u.select("_sid", text.alias("sentence")), "sentence", _pieces(_SENTENCE_SEP), "si"
    )
    clause_re = _pieces(_CLAUSE_SEP) + "[：:]?"
    cl = _parts(sent, "sentence", clause_re, "ci").rename({"sentence": "clause"})
    cl = cl.join(sent.select("_sid", "si", "sentence"), on=["_sid", "si"], how="left")
    strip = " \t\u3000#·*"
    cl = cl.with_columns(
        pl.col("clause").str.contains("[：:]$").alias("is_lead"),
        pl.col("clause").str.strip_chars(strip + "：:").alias("raw"),
        pl.col("sentence").str.strip_chars(strip).alias("sentence"),
    ).with_columns(
        _exclusions(pl.col("raw"), cfg["exclusion_words"])
        .str.replace_all(masks, _MASK)
        .alias("clean")
    )
    it = _parts(cl, "clean", _pieces(_ITEM_SEP), "ii").rename({"clean": "item"})
    # chemistry words first, so that a verb inside one (处理剂, 提取物, 调和漆) stays in it
    rest = pl.col("item").str.replace_all(words, _MASK)
    objects = rest.str.replace_all(verbs, _VERB)
    it = it.with_columns(
        pl.concat_list(
            pl.col("item").str.extract_all(words), objects.str.extract_all(chem_suffix)
        ).alias("terms"),
        (
            rest.str.contains(make).cast(pl.Int8)
            + rest.str.contains(trade).cast(pl.Int8) * 2
            + rest.str.contains(other).cast(pl.Int8) * 4
        ).alias("own"),
        # an item that is only verbs ("加工", "销售") belongs to the item before it
        (
            objects.str.replace_all(_BR, "")
            .str.replace_all(f"[{re.escape(_CONNECTORS)}\\s]", "")
            .str.len_chars()
            == 0
        ).alias("pure"),
    )
    clause_key = ["_sid", "si", "ci"]
    it = (
        it.sort([*clause_key, "ii"])
        .with_columns((~pl.col("pure")).cum_sum().over(clause_key).alias("_anchor"))
        .with_columns(
            pl.col("own").bitwise_or().over([*clause_key, "_anchor"]).alias("_group"),
        )
        .with_columns(
            # an item without a verb takes the next one's: "树脂、胶粘剂销售"
            pl.when(pl.col("_group") > 0)
            .then(pl.col("_group"))
            .fill_null(strategy="backward")
            .over(clause_key)
            .alias("_in_clause"),
        )
    )
    # the verb of a lead-in clause ("批发零售：") for the clauses after it, until the next
    # lead-in (a section header resets it)
    lead = (
        it.group_by(clause_key, maintain_order=True)
        .agg(pl.col("is_lead").first(), pl.col("raw").first(), pl.col("own").bitwise_or())
        .sort(clause_key)
        .with_columns(
            pl.when(pl.col("is_lead"))
            .then(pl.col("own"))
            .shift(1)
            .fill_null(strategy="forward")
            .over("_sid")
            .alias("_lead"),
            pl.when(pl.col("is_lead"))
            .then(pl.col("raw"))
            .shift(1)
            .fill_null(strategy="forward")
            .over("_sid")
            .alias("_lead_text"),
        )
        .select(*clause_key, "_lead", "_lead_text")
    )
    it = it.join(lead, on=clause_key, how="left").sort([*clause_key, "ii"])
    from_lead = pl.col("_in_clause").is_null() & (pl.col("_lead").fill_null(0) > 0)
    it = it.with_columns(
        pl.when(from_lead).then(pl.col("_lead")).otherwise(pl.col("_in_clause")).alias("_v1")
    ).with_columns(
        # last: a list cut by commas ("化肥，农药销售") takes the sentence's next verb
        pl.col("_v1").fill_null(strategy="backward").over(["_sid", "si"]).alias("verbs"),
        pl.when(pl.col("_in_clause").is_not_null())
        .then(pl.col("raw"))
        .when(from_lead)
        .then(pl.concat_str([pl.col("_lead_text"), pl.lit("："), pl.col("raw")]))
        .otherwise(pl.col("sentence"))
        .alias("quote"),
    )
    verbs_ = pl.col("verbs").fill_null(0)
    chem = pl.col("terms").list.len() > 0
    makes = chem & ((verbs_ & 1) > 0) & ~pl.col("is_lead")
    out = it.with_columns(makes.alias("_makes"), (chem & ((verbs_ & 2) > 0)).alias("_trades"))
    agg = out.group_by("_sid").agg(
        pl.col("_makes").any().alias("has_chemistry_scope"),
        pl.col("_trades").any().alias("trades_chemistry"),
        pl.col("terms")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .str.join("、")
        .alias("_terms"),
        pl.col("quote")
        .filter(pl.col("_makes"))
        .unique(maintain_order=True)
        .str.join("；")
        .alias("_clause"),
    )
    return (
        u.join(agg, on="_sid", how="left")
        .select(
            "scope",
            pl.col("has_chemistry_scope").fill_null(False),
            pl.col("trades_chemistry").fill_null(False),
            pl.when(pl.col("_terms") != "").then(pl.col("_terms")).alias("chemistry_terms"),
            pl.when(pl.col("_clause") != "").then(pl.col("_clause")).alias("chemistry_clause"),
        )
        .cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]
    )
