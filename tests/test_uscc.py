import numpy as np
import polars as pl

from screening.ingest import uscc


def test_published_code_is_valid_and_typo_is_not():
    assert uscc.is_valid("91350100M000100Y43")
    assert not uscc.is_valid("91350100M000100Y44")
    assert not uscc.is_valid("91350100M000100Y4")


def test_generated_codes_are_valid():
    codes = uscc.make_codes(np.random.default_rng(7), 200)
    assert all(uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == 200


def test_vectorised_problems_agree_with_scalar_check():
    codes = [
        *uscc.make_codes(np.random.default_rng(1), 50),
        "91350100M000100Y44",
        "ABC",
        "91350100I000100Y43",
        None,
    ]
    out = pl.DataFrame({"u": codes}).with_columns(p=uscc.problem_expr("u"))
    flagged = out.filter(pl.col("p").is_not_null())["u"].to_list()
    assert flagged == ["91350100M000100Y44", "ABC", "91350100I000100Y43"]
    assert out.filter(pl.col("u") == "91350100M000100Y44")["p"][0].endswith("should be 3")
