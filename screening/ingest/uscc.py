"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

Eighteen characters from a 31-symbol alphabet (digits and capitals without I, O, Z, S, V);
the last is a check character: 31 - (sum of value x weight over the first 17, mod 31), with 31
meaning 0. Registration exports carry typos, so a bad check character is a warning, never a
reason to drop a company: the code still links permits and meters to it.
"""

from __future__ import annotations

import numpy as np
import polars as pl

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"


def check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    code = code.strip().upper()
    if len(code) != 18 or any(c not in _VALUE for c in code):
        return False
    return check_char(code[:17]) == code[17]


def problem_expr(col: str) -> pl.Expr:
    """Vectorised check: null where the code is fine (or absent), else the problem in words.

    Built from per-position expressions so that millions of codes are checked without a
    Python loop; the mapping from symbol to value is a replace_strict over single chars.
    """
    code = pl.col(col)
    mapping = {c: v for c, v in _VALUE.items()}
    total = pl.lit(0, dtype=pl.Int64)
    for i, w in enumerate(WEIGHTS):
        total = (
            total
            + code.str.slice(i, 1).replace_strict(mapping, default=None, return_dtype=pl.Int64) * w
        )
    expected = ((31 - total % 31) % 31).replace_strict(
        dict(enumerate(ALPHABET)), default=None, return_dtype=pl.String
    )
    return (
        pl.when(code.is_null())
        .then(None)
        .when(~code.str.contains(PATTERN))
        .then(pl.lit("not an 18-character credit code"))
        .when(expected != code.str.slice(17, 1))
        .then(pl.lit("check character should be ") + expected)
        .otherwise(None)
    )


def make_codes(rng: np.random.Generator, n: int, region6: str = "341302") -> list[str]:
    """Valid codes for synthetic data: registration authority 9 (market regulation),
    type 1 (enterprise), the given administrative division, a random 9-symbol body."""
    body = rng.integers(0, len(ALPHABET), size=(n, 9))
    out = []
    for row in body:
        first17 = "91" + region6 + "".join(ALPHABET[i] for i in row)
        out.append(first17 + check_char(first17))
    return out
