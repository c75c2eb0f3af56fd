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
from collections.abc import Mapping
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
# a chemistry word, once read: goods, not a connector
_GOODS = "◆"

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
    # "N,N-二甲基甲酰胺", "1，2-环氧丙烷": a comma between letters or digits is part of a name
    return rf"(?:[A-Za-z0-9][,，][A-Za-z0-9]|[^{seps}（）()]|{_BR}|[（）()])+"


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
    """One row per piece of ``col``, in order; ``index`` numbers the pieces globally (row
    order is kept throughout, so that a window over an id reads the pieces in order)."""
    return (
        frame.with_columns(pl.col(col).str.extract_all(pattern))
        .explode(col)
        .filter(pl.col(col).is_not_null())
        .with_row_index(index)
    )


def _clauses(u: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """One row per clause (``_cid``) of each sentence (``_sent``) of each scope (``_sid``):
    its text as written (``raw``, for quoting), whether it is a lead-in ("批发零售：") and
    ``clean``: exclusions dropped, false friends masked."""
    words = _alternation(cfg["chemistry_words"])
    masks = _alternation(cfg["not_chemistry"])
    followers = _alternation(cfg["not_chemistry_before"])
    make = _alternation(cfg["making_words"])
    text = pl.col("scope").str.replace_all(_HEADER, "；${0}")
    sent = _parts(
        u.select("_sid", text.alias("sentence")), "sentence", _pieces(_SENTENCE_SEP), "_sent"
    )
    cl = _parts(
        sent.select("_sid", "_sent", pl.col("sentence").alias("clause")),
        "clause",
        _pieces(_CLAUSE_SEP) + "[：:]?",
        "_cid",
    )
    strip = " \t\u3000#·*"
    return (
        cl.with_columns(
            pl.col("clause").str.contains("[：:]$").alias("is_lead"),
            pl.col("clause").str.strip_chars(strip + "：:").alias("raw"),
        )
        .with_columns(
            # masked first: a negated verb ("不带储存设施经营", "不再分装") is not an exclusion
            # of the goods, and what it leaves ("经营") is still read
            _exclusions(pl.col("raw").str.replace_all(masks, _MASK), cfg["exclusion_words"])
            # a chemistry word naming the kind of equipment, not the goods: 化工设备, 废油回收设备
            .str.replace_all(rf"(?:{words})\p{{Han}}{{0,4}}?(?:{followers})", _MASK)
            # nor does a making word there: 仓储物流设备, 加工机械
            .str.replace_all(rf"(?:{make})\p{{Han}}{{0,2}}?(?:{followers})", _MASK)
            .alias("clean")
        )
        .join(
            sent.select("_sent", pl.col("sentence").str.strip_chars(strip)),
            on="_sent",
            how="left",
            maintain_order="left",
        )
        .drop("clause")
    )


def _pieces_of(cl: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """One row per piece: the items (``_iid``) of a clause (、), each cut after its verbs
    ("销售化工产品" -> 销售 | 化工产品), with the chemistry it names, its own verbs (bits:
    1 making or keeping, 2 trade, 4 other) and whether it is verbs only (``pure``)."""
    words = _alternation(cfg["chemistry_words"])
    suffix = "|".join(map(re.escape, cfg["chemistry_endings"]))
    # a chemical's name ending after another character (硫酸, 甲醇), not after a connector
    chem_suffix = rf"[\p{{Han}}&&[^{re.escape(_CONNECTORS)}]](?:{suffix})"
    make = _alternation(cfg["making_words"])
    trade = _alternation(cfg["trade_words"])
    other = _alternation(cfg["other_words"])
    verbs = _alternation(cfg["making_words"] + cfg["trade_words"] + cfg["other_words"])
    marked_word = "⟦[^⟧]*⟧"
    it = _parts(
        cl.select("_sid", "_sent", "_cid", "is_lead", pl.col("clean").alias("item")),
        "item",
        _pieces(_ITEM_SEP),
        "_iid",
    )
    # chemistry words marked first, so that a verb inside one (提取物, 调和漆) stays in it
    it = it.with_columns(pl.col("item").str.replace_all(words, "⟦${0}⟧")).with_columns(
        # "…的生产销售": the verbs are meant for the whole list before them
        pl.col("item")
        .str.replace_all(marked_word, _GOODS)
        .str.contains(f"的(?:{verbs})")
        .alias("whole_list"),
        pl.col("item").str.replace_all(f"{marked_word}|(?:{verbs})+", "${0}、").alias("piece"),
    )
    pc = _parts(it.drop("item"), "piece", _pieces("、"), "_pid")
    rest = pl.col("piece").str.replace_all(marked_word, _GOODS)
    objects = rest.str.replace_all(verbs, _VERB)
    return pc.select(
        "_sid",
        "_sent",
        "_cid",
        "_iid",
        "is_lead",
        "whole_list",
        pl.concat_list(
            pl.col("piece")
            .str.extract_all(marked_word)
            .list.eval(pl.element().str.strip_chars("⟦⟧")),
            objects.str.extract_all(chem_suffix),
        ).alias("terms"),
        (
            rest.str.contains(make).cast(pl.Int8)
            + rest.str.contains(trade).cast(pl.Int8) * 2
            + rest.str.contains(other).cast(pl.Int8) * 4
        ).alias("own"),
        (
            objects.str.replace_all(_BR, "")
            .str.replace_all(f"[{re.escape(_CONNECTORS)}\\s]", "")
            .str.len_chars()
            == 0
        ).alias("pure"),
    )


def _backward(code: pl.Expr, cols: list[str], key: str) -> list[pl.Expr]:
    """``cols`` taken from the next row (within ``key``) where ``code`` is set."""
    return [
        pl.when(code.is_not_null()).then(pl.col(c)).fill_null(strategy="backward").over(key)
        for c in cols
    ]


def _verbs(pc: pl.DataFrame, cl: pl.DataFrame, reach: int) -> pl.DataFrame:
    """The verbs each piece is read with (``verbs``), and where to quote it from (``_from``:
    0 its clause, 1 the lead-in and its clause, 2 its sentence; ``_lead_cid``).

    In order: the piece's own (with the verbs-only pieces right after it: "加工、销售"); the
    verbs its item starts with ("销售化工产品"); the next verbs in the clause ("树脂、胶粘剂
    销售"); the verbs its clause starts with ("销售化工产品、建材"); a lead-in ("批发零售：");
    the next verbs in the sentence ("化肥，农药销售"). Making or keeping taken from a later
    item counts only within ``reach`` items, or when written for the whole list ("…的生产")."""
    objects = (~pl.col("pure")).cast(pl.Int32)
    pc = pc.with_columns(
        (pl.col("_iid") - pl.col("_iid").min().over("_sent")).alias("gi"),
        objects.cum_sum(reverse=True).over("_iid").alias("_after"),
        objects.cum_sum().over("_cid").alias("_before"),
        objects.sum().over("_iid").alias("_in_item"),
    )
    # verbs before their goods: in the item ("销售化工产品"), or whole items of verbs that
    # open the clause ("生产、销售17a-羟基黄体酮")
    leading = pl.col("pure") & (pl.col("_after") > 0)
    opening = pl.col("pure") & (pl.col("_before") == 0) & (pl.col("_in_item") == 0)
    trailing = pl.col("pure") & ~leading & ~opening

    def verbs_of(which: pl.Expr, key: str) -> pl.Expr:
        return pl.when(which).then(pl.col("own")).otherwise(0).bitwise_or().over(key)

    pc = pc.with_columns(
        (leading | opening).alias("_leading"),
        # a group: a piece with goods and the verbs-only pieces right after it
        (~trailing).cast(pl.Int32).cum_sum().alias("_anchor"),
        (verbs_of(leading, "_iid") | verbs_of(opening, "_cid")).alias("_li"),
    ).with_columns(
        pl.col("own").bitwise_or().over("_anchor").alias("_group"),
    )
    zero_null = lambda e: pl.when(e > 0).then(e)  # noqa: E731
    c1 = zero_null(
        pl.when(pl.col("_leading") | (pl.col("_group") > 0))
        .then(pl.col("_group"))
        .otherwise(pl.col("_li"))
    )
    pc = pc.with_columns(
        c1.alias("_c1"),
        pl.when(c1.is_not_null()).then(pl.col("gi")).alias("_src"),
        pl.when(c1.is_not_null()).then(pl.col("whole_list")).alias("_whole"),
    )

    def reached(code: str, src: str, whole: str) -> pl.Expr:
        far = ((pl.col(src) - pl.col("gi")) > reach) & ~pl.col(whole).fill_null(False)
        return zero_null(pl.when(far).then(pl.col(code) & 6).otherwise(pl.col(code)))

    b = _backward(pl.col("_c1"), ["_c1", "_src", "_whole"], "_cid")
    pc = pc.with_columns(
        b[0].alias("_bc"), b[1].alias("_bsrc"), b[2].alias("_bwhole")
    ).with_columns(
        pl.col("_c1").fill_null(reached("_bc", "_bsrc", "_bwhole")).alias("_c2"),
        # the verbs the clause's first item starts with
        zero_null(pl.col("_li").first().over("_cid")).alias("_cl"),
    )
    # the verb of a lead-in clause ("批发零售：") for the clauses after it, until the next
    # lead-in (a section header resets it)
    own = pc.group_by("_cid").agg(pl.col("own").bitwise_or())
    lead = (
        cl.select("_sid", "_cid", "is_lead")
        .join(own, on="_cid", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("is_lead"))
            .then(pl.col(c))
            .shift(1)
            .fill_null(strategy="forward")
            .over("_sid")
            .alias(a)
            for c, a in (("own", "_lead"), ("_cid", "_lead_cid"))
        )
        .select("_cid", zero_null(pl.col("_lead")).alias("_lead"), "_lead_cid")
    )
    pc = pc.join(lead, on="_cid", how="left", maintain_order="left")
    in_clause = pl.col("_c2").fill_null(pl.col("_cl"))
    c3 = in_clause.fill_null(pl.col("_lead"))
    pc = pc.with_columns(
        c3.alias("_c3"),
        pl.when(c3.is_not_null()).then(pl.col("gi")).alias("_src3"),
        pl.when(c3.is_not_null()).then(pl.col("whole_list")).alias("_whole3"),
        pl.when(in_clause.is_not_null())
        .then(0)
        .when(pl.col("_lead").is_not_null())
        .then(1)
        .otherwise(2)
        .alias("_from"),
    )
    e = _backward(pl.col("_c3"), ["_c3", "_src3", "_whole3"], "_sent")
    pc = pc.with_columns(e[0].alias("_ec"), e[1].alias("_esrc"), e[2].alias("_ewhole"))
    return pc.select(
        "_sid",
        "_sent",
        "_cid",
        "_lead_cid",
        "_from",
        "is_lead",
        "terms",
        pl.col("_c3").fill_null(reached("_ec", "_esrc", "_ewhole")).fill_null(0).alias("verbs"),
    )


def read_scopes(scopes: pl.Series, cfg: Mapping[str, Any]) -> pl.DataFrame:
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
    # only a scope with a chemistry word or a chemical's name ending somewhere (a superset:
    # masking and exclusions only take away) needs reading; most of a register has none
    endings = "|".join(map(re.escape, cfg["chemistry_endings"]))
    candidate = pl.col("scope").str.contains(f"{_alternation(cfg['chemistry_words'])}|{endings}")
    u = u.with_columns(candidate.alias("_candidate"))
    cl = _clauses(u.filter("_candidate"), cfg)
    if cl.height == 0:
        return u.select(
            "scope",
            pl.lit(False).alias("has_chemistry_scope"),
            pl.lit(False).alias("trades_chemistry"),
            pl.lit(None, dtype=pl.String).alias("chemistry_terms"),
            pl.lit(None, dtype=pl.String).alias("chemistry_clause"),
        )
    pc = _verbs(_pieces_of(cl, cfg), cl, int(cfg["making_reach"]))
    chem = pl.col("terms").list.len() > 0
    pc = pc.with_columns(
        (chem & ((pl.col("verbs") & 1) > 0) & ~pl.col("is_lead")).alias("_makes"),
        (chem & ((pl.col("verbs") & 2) > 0)).alias("_trades"),
    )
    # the words to quote, looked up for the pieces that make or keep chemistry only
    text = cl.select("_cid", "raw", "sentence")
    quoted = (
        pc.filter(pl.col("_makes"))
        .join(text, on="_cid", how="left", maintain_order="left")
        .join(
            text.select(pl.col("_cid").alias("_lead_cid"), pl.col("raw").alias("_lead_raw")),
            on="_lead_cid",
            how="left",
            maintain_order="left",
        )
        .select(
            "_sid",
            pl.when(pl.col("_from") == 0)
            .then(pl.col("raw"))
            .when(pl.col("_from") == 1)
            .then(pl.concat_str([pl.col("_lead_raw"), pl.lit("："), pl.col("raw")]))
            .otherwise(pl.col("sentence"))
            .alias("quote"),
        )
        .group_by("_sid")
        .agg(pl.col("quote").unique(maintain_order=True).str.join("；").alias("_clause"))
    )
    agg = pc.group_by("_sid").agg(
        pl.col("_makes").any().alias("has_chemistry_scope"),
        pl.col("_trades").any().alias("trades_chemistry"),
        pl.col("terms")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .str.join("、")
        .alias("_terms"),
    )
    return (
        u.join(agg, on="_sid", how="left")
        .join(quoted, on="_sid", how="left")
        .select(
            "scope",
            pl.col("has_chemistry_scope").fill_null(False),
            pl.col("trades_chemistry").fill_null(False),
            pl.when(pl.col("_terms") != "").then(pl.col("_terms")).alias("chemistry_terms"),
            pl.when(pl.col("_clause") != "").then(pl.col("_clause")).alias("chemistry_clause"),
        )
        .cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]
    )
