"""Evidence templates: the sentences an inspector reads, compiled into polars expressions.

A template is a format string over the site feature table, ``{column:spec}``:

- ``.Nf`` rounds (``.0f`` writes a whole number), ``.N%`` a share as a percentage;
- ``md`` a date as inspectors write it (8月3日);
- ``top`` a percentile among peers as the share of peers ranked above it: 0.995 is "前1%"
  (a percentile of 1.0 is never "higher than 100% of its peers");
- ``n`` how many items a list column holds (``{night_plates:n}辆车：{night_plates}``: the
  count is the list's own, so it cannot disagree with the plates shown);
- ``zh`` a list of canonical codes in Chinese (storage → 储存, closed_plant → 关停企业);
- ``un`` hazardous-goods classes as the UN numbers them (3 → 第3类（易燃液体）);
- ``q`` each item of a list in quotation marks (a tip's own words);
- no spec: the value as text; a list (``a;b;a``) is written once per item, with 、.

Missing values show as '—'. A segment ``[condition ? text]`` is written only where the SQL
condition holds (``[jump_before >= 10 ? （约{jump_ratio:.0f}倍）]``: no ratio against a
level of almost nothing). Templates split at their top-level commas into clauses; the ranking
drops a clause another reason of the same site has already stated, so that one figure is
never read twice.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import polars as pl

from screening.schema import IDLE_KINDS, PERMIT_KINDS, TARIFFS

# canonical codes shown to inspectors: the first Chinese word agencies use for each
VOCAB_ZH: dict[str, str] = {
    code: next(w for w in words if not w.isascii())
    for table in (PERMIT_KINDS, IDLE_KINDS, TARIFFS)
    for code, words in table.items()
}
# UN classes of dangerous goods (GB 6944), as a hazmat transport record names them
UN_CLASSES = {
    "1": "爆炸品",
    "2": "气体",
    "3": "易燃液体",
    "4": "易燃固体",
    "5": "氧化性物质",
    "6": "毒性物质",
    "7": "放射性物质",
    "8": "腐蚀性物质",
    "9": "杂项危险物质",
}
_SPEC = re.compile(r"^\.(\d+)([f%])$")
_SEGMENT = re.compile(r"\[([^\[\]?]+)\?\s*([^\[\]]*)\]")
MISSING = "—"


class RuleError(ValueError):
    """A rule or its evidence template that cannot be used (raised naming the rule)."""


def _items(col: pl.Expr) -> pl.Expr:
    """A list column's distinct items in their order (``a;b;a`` → [a, b])."""
    return (
        col.cast(pl.String)
        .str.split(";")
        .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
        .list.unique(maintain_order=True)
    )


def field(name: str, spec: str, schema: pl.Schema) -> pl.Expr:
    """One template field as text (see the module doc for the specs)."""
    if name not in schema:
        raise RuleError(f"unknown column {name!r} in evidence template")
    col = pl.col(name)
    m = _SPEC.match(spec)
    if spec == "md":
        text = col.cast(pl.Date).dt.strftime("%-m月%-d日")
    elif spec == "top":
        above = ((1 - col.cast(pl.Float64)) * 100).round(6).ceil().clip(lower_bound=1)
        text = pl.lit("前") + above.cast(pl.Int64).cast(pl.String) + pl.lit("%")
    elif spec == "n":
        text = _items(col).list.len().cast(pl.String)
    elif spec == "zh":
        text = _items(col).list.eval(pl.element().replace(VOCAB_ZH)).list.join("、")
    elif spec == "un":
        labels = {k: f"第{k}类（{v}）" for k, v in UN_CLASSES.items()}
        classes = col.cast(pl.String).str.replace_all(",", ";")
        text = (
            _items(classes)
            .list.eval(
                pl.element().replace_strict(labels, default=pl.format("第{}类", pl.element()))
            )
            .list.join("、")
        )
    elif spec == "q":
        text = _items(col).list.eval(pl.format("“{}”", pl.element())).list.join("")
    elif m and m.group(2) == "%":
        digits = int(m.group(1))
        scaled = (col.cast(pl.Float64) * 100).round(digits)
        text = (scaled.cast(pl.Int64) if digits == 0 else scaled).cast(pl.String) + pl.lit("%")
    elif m:
        digits = int(m.group(1))
        rounded = col.cast(pl.Float64).round(digits)
        text = (rounded.cast(pl.Int64) if digits == 0 else rounded).cast(pl.String)
    elif spec == "":
        if schema[name] == pl.String:
            text = _items(col).list.join("、")
            text = pl.when(text != "").then(text)
        else:
            text = col.cast(pl.String)
    else:
        raise RuleError(
            f"unsupported format {spec!r} for {name!r} (use .Nf, .N%, md, top, n, zh, un, q)"
        )
    return text.fill_null(MISSING)


def _plain(template: str, schema: pl.Schema) -> pl.Expr:
    """A template without segments: literals and fields, concatenated."""
    parts: list[pl.Expr] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RuleError(f"malformed template {template!r}: {exc}") from exc
    for literal, name, spec, _ in parsed:
        if literal:
            parts.append(pl.lit(literal))
        if name is not None:
            parts.append(field(name, spec or "", schema))
    return pl.concat_str(parts) if parts else pl.lit("")


def template_expr(template: str, schema: pl.Schema) -> pl.Expr:
    """A template compiled into one vectorised string expression."""
    parts: list[pl.Expr] = []
    pos = 0
    for m in _SEGMENT.finditer(template):
        if m.start() > pos:
            parts.append(_plain(template[pos : m.start()], schema))
        try:
            cond = pl.sql_expr(m.group(1).strip())
        except Exception as exc:  # polars raises several kinds for bad SQL
            raise RuleError(f"bad condition {m.group(1)!r}: {exc}") from exc
        parts.append(
            pl.when(cond.fill_null(False)).then(_plain(m.group(2), schema)).otherwise(pl.lit(""))
        )
        pos = m.end()
    if pos < len(template):
        parts.append(_plain(template[pos:], schema))
    return pl.concat_str(parts) if parts else pl.lit("")


def fields(template: str) -> set[str]:
    """The feature columns a template names (in segments too)."""
    names: set[str] = set()
    for piece in [_SEGMENT.sub(lambda m: m.group(2), template)]:
        for _, name, _, _ in string.Formatter().parse(piece):
            if name:
                names.add(name)
    return names


@dataclass(frozen=True)
class Clause:
    """A piece of a template between top-level commas: the unit a lead states once."""

    text: str
    shared: bool  # it names a figure (a field), so another reason may state it too


def clauses(template: str) -> list[Clause]:
    """A template split at the commas outside brackets, parentheses and segments."""
    out: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(template):
        if ch in "（([{":
            depth += 1
        elif ch in "）)]}":
            depth -= 1
        elif ch == "，" and depth == 0:
            out.append(template[start:i])
            start = i + 1
    out.append(template[start:])
    return [Clause(t, bool(fields(t))) for t in out if t]


def clauses_expr(parts: list[tuple[str, pl.Expr]], schema: pl.Schema) -> pl.Expr:
    """Clauses joined by commas, each written only where its keep-condition holds."""
    texts = [pl.when(keep).then(template_expr(text, schema)) for text, keep in parts]
    return pl.concat_list(texts).list.drop_nulls().list.join("，")
