"""Business scopes read clause by clause, on the real Henan registrations: flagged shares
(the substring reading it replaces against the clause reading) and throughput.

    PYTHONPATH=$PWD python bench/scopes_bench.py [--rows 1000000] [--unique 200000]

Prints: the share of firms whose scope "has chemistry" and, with a cover name
(科技/生物/新材料 …), the share the hidden-chemistry cue would flag, both ways; then the
seconds to read a register of ``--rows`` rows drawn from the real scopes (repeats, as a real
register has) and of ``--unique`` scopes that are all different (each real scope with a
numbered clause added: the worst case, nothing shared).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from screening.settings import load_config
from screening.signals.scopes import read_scopes

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
HENAN = REAL / "henan_registrations_2013.csv"


def substring_chemistry(scope: pl.Expr, words: list[str]) -> pl.Expr:
    """The reading before: any chemistry word anywhere in the scope, as a substring."""
    return scope.fill_null("").str.contains("|".join(words))


# the word list the substring reading used (config.toml before the clause reading)
OLD_WORDS = [
    "化工", "化学", "溶剂", "树脂", "涂料", "油漆", "胶粘", "粘合剂", "助剂", "催化", "中间体",
    "提取", "添加剂", "处理剂", "清洗剂", "稀释剂", "固化剂", "聚合", "电镀", "农药", "染料",
    "颜料", "萃取", "提炼", "提纯", "合成", "酸", "碱", "醇", "酯", "苯", "醚", "酮", "氯", "硫",
    "磷", "氨", "危险化学品", "化学品", "油品", "燃料油", "润滑油", "沥青", "塑化剂", "消毒剂",
]  # fmt: skip


def timed(label: str, scopes: pl.Series, cfg: dict) -> pl.DataFrame:
    t0 = time.perf_counter()
    out = read_scopes(scopes, cfg)
    s = time.perf_counter() - t0
    n_unique = scopes.n_unique()
    print(
        f"{label}: {scopes.len():,} rows, {n_unique:,} distinct scopes: {s:.2f} s "
        f"({scopes.len() / s:,.0f} rows/s, {n_unique / s:,.0f} distinct scopes/s)"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--unique", type=int, default=200_000)
    args = ap.parse_args()
    cfg = load_config()["registry"]
    regs = pl.read_csv(HENAN, infer_schema=False).select(
        pl.col("企业名称").alias("name"), pl.col("经营范围").alias("scope")
    )
    read = timed("henan", regs["scope"], cfg)
    d = regs.join(read, on="scope", how="left", maintain_order="left").with_columns(
        substring_chemistry(pl.col("scope"), OLD_WORDS).alias("old"),
        pl.col("name").str.contains("|".join(cfg["cover_words"])).alias("cover"),
    )
    n = d.height
    rows = {
        "chemistry in scope (old: any substring)": d["old"].sum(),
        "chemistry made or kept (new)": d["has_chemistry_scope"].fill_null(False).sum(),
        "chemistry traded (new)": d["trades_chemistry"].fill_null(False).sum(),
        "cover name + chemistry (old hides_chemistry without industry code)": (
            d["old"] & d["cover"]
        ).sum(),
        "cover name + made or kept (new, before the industry code)": (
            d["has_chemistry_scope"].fill_null(False) & d["cover"]
        ).sum(),
    }
    for k, v in rows.items():
        print(f"  {k}: {v} of {n} ({v / n:.2%})")

    big = regs["scope"].sample(args.rows, with_replacement=True, seed=1)
    timed("register drawn from the real scopes", big, cfg)
    base = regs["scope"].sample(args.unique, with_replacement=True, seed=2)
    unique = pl.Series(
        "scope", [f"{s}；第{i}号项目" for i, s in enumerate(base.fill_null("").to_list())]
    )
    timed("all different", unique, cfg)
    t0 = time.perf_counter()
    pl.DataFrame({"s": unique}).select(substring_chemistry(pl.col("s"), OLD_WORDS))
    print(f"  (the substring reading over the same: {time.perf_counter() - t0:.2f} s)")


if __name__ == "__main__":
    main()
