"""Turning a clean bundle messy the way agency exports are: Chinese category words, mixed
date spellings, codes without section letters, and a handful of bad rows whose exact
file/row/field is recorded so that tests can check the ingest's quarantine against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .. import schema

# Canonical value -> the spellings agencies use for it (the first is the commonest).
TARIFF_WORDS = {
    "industrial": ("大工业用电", "大工业"),
    "commercial": ("一般工商业", "一般工商业用电", "商业用电"),
    "residential": ("居民生活用电", "居民生活", "城乡居民生活用电"),
    "agricultural": ("农业生产用电", "农业排灌", "农业生产"),
}
PERMIT_WORDS = {
    "production": ("安全生产许可证", "危险化学品安全生产许可证"),
    "operation": ("危险化学品经营许可证", "危化品经营许可"),
    "use": ("危险化学品安全使用许可证", "使用许可"),
    "storage": ("危险化学品储存许可", "储存"),
    "fuel": ("成品油零售经营批准证书", "成品油经营许可"),
}
STATUS_WORDS = {
    "存续": ("存续（在营、开业、在册）", "存续", "在册"),
    "在业": ("在业", "开业", "在营"),
    "停业": ("停业", "歇业"),
    "吊销": ("吊销",),
    "注销": ("注销",),
}
PHASE_WORDS = {3: ("三相", "3", "380V"), 1: ("单相", "1", "220V")}
IDLE_WORDS = {
    "idle_factory": ("闲置厂房", "闲置仓库"),
    "abandoned_factory": ("废弃厂房",),
    "closed_plant": ("关停企业",),
    "abandoned_farm": ("废弃养殖场",),
    "idle_house": ("闲置民房",),
    "quarry": ("矿山宕口", "宕口"),
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%-m/%-d", "%Y年%-m月%-d日")


def _check_vocab() -> None:
    """Each spelling must map back to its value under the schema's matching rules, or the
    sample would teach the ingest a wrong answer."""
    for vocab, words in (
        (schema.TARIFFS, TARIFF_WORDS),
        (schema.PERMIT_KINDS, PERMIT_WORDS),
        (schema.REGISTRATION_STATUSES, STATUS_WORDS),
    ):
        for canon, spellings in words.items():
            for s in spellings:
                hit = next(k for k, pats in vocab.items() if any(p in s.lower() for p in pats))
                assert hit == canon or (
                    vocab is schema.REGISTRATION_STATUSES and {hit, canon} <= {"存续", "在业"}
                ), (s, hit, canon)


def spell(
    col: pl.Series, words: dict, rng: np.random.Generator, keep_canonical: float = 0.0
) -> pl.Series:
    """Replace each canonical value by one of its spellings, chosen per row."""
    vals = col.to_list()
    r = rng.random(len(vals))
    k = rng.integers(0, 1000, size=len(vals))
    out = []
    for v, rr, kk in zip(vals, r.tolist(), k.tolist(), strict=True):
        opts = words.get(v)
        if v is None or not opts or rr < keep_canonical:
            out.append(None if v is None else str(v))
        else:
            out.append(opts[kk % len(opts)])
    return pl.Series(col.name, out, dtype=pl.String)


def mixed_dates(
    col: pl.Series, rng: np.random.Generator, p: tuple[float, float, float] = (0.5, 0.3, 0.2)
) -> pl.Series:
    """Dates written three ways within one column, as merged exports are."""
    which = rng.choice(3, size=col.len(), p=np.array(p))
    df = pl.DataFrame({"d": col, "w": which})
    e = pl.col("d")
    expr = (
        pl.when(pl.col("w") == 0)
        .then(e.dt.strftime(DATE_FORMATS[0]))
        .when(pl.col("w") == 1)
        .then(e.dt.strftime(DATE_FORMATS[1]))
        .otherwise(e.dt.strftime(DATE_FORMATS[2]))
    )
    return df.select(expr.alias(col.name)).to_series()


def strip_sections(col: pl.Series, rng: np.random.Generator, share: float) -> pl.Series:
    drop = pl.Series(rng.random(col.len()) < share)
    return (
        pl.DataFrame({"c": col, "d": drop})
        .select(
            pl.when(pl.col("d"))
            .then(pl.col("c").str.slice(1))
            .otherwise(pl.col("c"))
            .alias(col.name)
        )
        .to_series()
    )


@dataclass
class BadRows:
    """Collects injected bad rows: (source, file, 1-based row, field, reason_hint)."""

    rows: list[tuple[str, str, int, str, str]] = field(default_factory=list)

    def apply(
        self,
        df: pl.DataFrame,
        source: str,
        file: str,
        rng: np.random.Generator,
        *,
        edits: list[tuple[dict[str, object], str, str]] = (),  # type: ignore[assignment]
        inserts: list[tuple[dict[str, object], str, str]] = (),  # type: ignore[assignment]
        key_dupes: list[tuple[dict[str, object], str, str]] = (),  # type: ignore[assignment]
        exact_dupes: int = 0,
        both: bool = False,
    ) -> pl.DataFrame:
        """Edit random unprotected rows, insert altered copies of them (``key_dupes`` right
        after their original, so the later one is the duplicate), add exact duplicates,
        and record where each bad row ends up. ``both`` also records the original of each
        key duplicate (readings that disagree are all excluded: neither can be trusted).

        ``df`` may carry a boolean ``protected`` column (planted records are never
        touched); it is dropped from the result.
        """
        if "protected" not in df.columns:
            df = df.with_columns(protected=pl.lit(False))
        n = df.height
        free = np.flatnonzero(~df["protected"].to_numpy())
        need = len(edits) + len(inserts) + len(key_dupes) + exact_dupes
        picks = rng.choice(free, size=min(need, free.size), replace=False).tolist()
        tag = [None] * n
        hints: list[tuple[str, str]] = []
        cols = {c: df[c].to_list() for c in df.columns}
        for changes, fld, hint in edits:
            r = picks.pop()
            row = {c: cols[c][r] for c in cols}
            for c, v in changes.items():
                cols[c][r] = v(row) if callable(v) else v
            tag[r] = len(hints)
            hints.append((fld, hint))
        extra: list[tuple[float, dict[str, object], int | None]] = []
        for items, right_after in ((inserts, False), (key_dupes, True)):
            for changes, fld, hint in items:
                r = picks.pop()
                row = {c: cols[c][r] for c in cols}
                row.update({c: v(row) if callable(v) else v for c, v in changes.items()})
                pos = r + 0.5 if right_after else float(rng.integers(0, n)) - 0.5
                extra.append((pos, row, len(hints)))
                hints.append((fld, hint))
                if right_after and both:
                    tag[r] = len(hints)
                    hints.append((fld, hint))
        for _ in range(exact_dupes):
            r = picks.pop()
            extra.append((r + 0.5, {c: cols[c][r] for c in cols}, None))
        base = pl.DataFrame(cols, schema=df.schema).with_columns(
            _tag=pl.Series(tag, dtype=pl.Int64), _ord=pl.Series(np.arange(n, dtype=float))
        )
        if extra:
            add = pl.DataFrame([e[1] for e in extra], schema=df.schema, orient="row").with_columns(
                _tag=pl.Series([e[2] for e in extra], dtype=pl.Int64),
                _ord=pl.Series([e[0] for e in extra], dtype=pl.Float64),
            )
            base = pl.concat([base, add])
        base = base.sort("_ord", maintain_order=True)
        idx = base.with_row_index("_i").filter(pl.col("_tag").is_not_null())
        for i, t in zip(idx["_i"].to_list(), idx["_tag"].to_list(), strict=True):
            fld, hint = hints[t]
            self.rows.append((source, file, int(i) + 1, fld, hint))
        return base.drop("_tag", "_ord", "protected")

    def apply_head(
        self,
        df: pl.DataFrame,
        source: str,
        file: str,
        rng: np.random.Generator,
        head: int = 20_000,
        **kw: object,
    ) -> pl.DataFrame:
        """Same as :meth:`apply` on the first ``head`` rows only: big frames stay columnar."""
        if df.height <= head:
            return self.apply(df, source, file, rng, **kw)  # type: ignore[arg-type]
        top = self.apply(df.head(head), source, file, rng, **kw)  # type: ignore[arg-type]
        return pl.concat([top, df.slice(head).drop("protected", strict=False)])

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            self.rows, schema=["source", "file", "row", "field", "reason_hint"], orient="row"
        ).sort(["file", "row"])


_check_vocab()
