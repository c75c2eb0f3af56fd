"""Explainable rules over the site feature table.

A rule is data in the config file (``[[rules]]``): a code, a kind, the campaign category it
speaks for, a weight, a condition written as an SQL expression over feature columns, and an
evidence template in Chinese with the figures behind it. Three kinds:

- ``activity``: the traces of a working process (night load, round-the-clock load, a jump,
  a meter waking up, hazmat trucks, fuel deliveries, a tip). They make a site a lead.
- ``context``: what kind of place it is (no registration, idle premises, an expired permit,
  an earlier case …). They decide the campaign category and add weight, but only where some
  activity is seen: a closed plant that stays closed is not a lead.
- ``innocent``: an explanation the data proves (a valid production permit, a carrier's depot,
  a bakery's hours). Each names the activity rules it explains (``offsets``) and the factor
  their weight keeps; its evidence sentence is shown, so the inspector sees why it was
  discounted.

Conditions compile with ``polars.sql_expr`` and templates into polars string expressions, so
rules run vectorised over every site; a condition naming an unknown column is an error that
names the rule.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from screening.schema import CATEGORIES
from screening.settings import fill_settings

KINDS = ("activity", "context", "innocent")
CATEGORY_ZH = {
    "over_permit": "超许可范围",
    "unlicensed_production": "非化工企业未经许可",
    "no_licence": "无证无照",
    "affiliated": "挂靠/租赁/厂中厂",
    "idle_premises": "利用闲置厂房/民房",
    "remote": "偏僻地区/养殖场/宕口",
    "fuel_storage": "非法储存经营汽柴油",
    "recurrence": "死灰复燃",
}


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    code: str
    kind: str
    weight: float
    when: str
    evidence: str
    category: str = ""
    offsets: tuple[str, ...] = ()
    factor: float = 0.0
    note: str = ""

    def condition(self) -> pl.Expr:
        return pl.sql_expr(self.when).fill_null(False)


@dataclass
class RuleSet:
    rules: list[Rule]
    activity_gate: float
    by_code: dict[str, Rule] = field(init=False)

    def __post_init__(self) -> None:
        self.by_code = {r.code: r for r in self.rules}

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]


def load_rules(config: Mapping[str, Any]) -> RuleSet:
    """Rules from the config, checked: known kinds and categories, unique codes, offsets that
    name activity rules."""
    raw = config.get("rules", [])
    rules: list[Rule] = []
    for i, r in enumerate(raw, start=1):
        where = f"rule {i} ({r.get('code', '?')})"
        unknown = set(r) - {
            "code",
            "kind",
            "weight",
            "when",
            "evidence",
            "category",
            "offsets",
            "factor",
            "note",
        }
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            rule = Rule(
                code=r["code"],
                kind=r["kind"],
                weight=float(r["weight"]),
                when=r["when"],
                evidence=fill_settings(r["evidence"], config),
                category=r.get("category", ""),
                offsets=tuple(r.get("offsets", ())),
                factor=float(r.get("factor", 0.0)),
                note=r.get("note", ""),
            )
        except KeyError as exc:
            raise RuleError(f"{where}: missing {exc}") from exc
        if rule.kind not in KINDS:
            raise RuleError(f"{where}: kind must be one of {KINDS}")
        if rule.category and rule.category not in CATEGORIES:
            raise RuleError(f"{where}: category must be one of {CATEGORIES}")
        rules.append(rule)
    codes = [r.code for r in rules]
    if len(set(codes)) != len(codes):
        raise RuleError("rule codes must be unique")
    activity = {r.code for r in rules if r.kind == "activity"}
    for r in rules:
        bad = set(r.offsets) - activity
        if bad:
            raise RuleError(f"rule {r.code}: offsets name no activity rule: {sorted(bad)}")
    return RuleSet(rules, float(config["scoring"]["activity_gate"]))


_SPEC = re.compile(r"^\.(\d+)([f%])$")


def _field(name: str, spec: str, schema: pl.Schema) -> pl.Expr:
    """One template field as text: '.0f' rounds, '.0%' shows a share as a percentage, 'md'
    writes a date the way inspectors do (8月3日); nothing shown as '—' when the value is
    missing."""
    if name not in schema:
        raise RuleError(f"unknown column {name!r} in evidence template")
    col = pl.col(name)
    m = _SPEC.match(spec)
    if spec == "md":
        text = col.cast(pl.Date).dt.strftime("%-m月%-d日")
    elif m and m.group(2) == "%":
        digits = int(m.group(1))
        scaled = (col.cast(pl.Float64) * 100).round(digits)
        text = (scaled.cast(pl.Int64) if digits == 0 else scaled).cast(pl.String) + pl.lit("%")
    elif m:
        digits = int(m.group(1))
        rounded = col.cast(pl.Float64).round(digits)
        text = (rounded.cast(pl.Int64) if digits == 0 else rounded).cast(pl.String)
    elif spec == "":
        text = col.cast(pl.String)
    else:
        raise RuleError(f"unsupported format {spec!r} for {name!r} (use .Nf, .N%, md)")
    return text.fill_null("—")


def template_expr(template: str, schema: pl.Schema) -> pl.Expr:
    """A format-string template compiled into one vectorised string expression."""
    parts: list[pl.Expr] = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if name is not None:
            parts.append(_field(name, spec or "", schema))
    return pl.concat_str(parts) if parts else pl.lit("")


def check(ruleset: RuleSet, schema: pl.Schema) -> None:
    """Fail early, naming the rule, when a condition or template names an unknown column."""
    empty = pl.DataFrame(schema=schema)
    for r in ruleset.rules:
        try:
            empty.select(r.condition(), template_expr(r.evidence, schema))
        except (pl.exceptions.PolarsError, RuleError) as exc:
            raise RuleError(f"rule {r.code}: {str(exc).splitlines()[0]}") from exc


def apply(features: pl.DataFrame, ruleset: RuleSet) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scores per site, reasons: one row per site and fired rule with its contribution and
    evidence sentence). Vectorised: one boolean column per rule over all sites."""
    check(ruleset, features.schema)
    fired = features.select("site_id", *[r.condition().alias(r.code) for r in ruleset.rules])
    # weight kept by each activity rule after the innocent explanations that fired
    keep = {a.code: pl.lit(1.0) for a in ruleset.of_kind("activity")}
    for inn in ruleset.of_kind("innocent"):
        for code in inn.offsets:
            keep[code] = keep[code] * pl.when(pl.col(inn.code)).then(inn.factor).otherwise(1.0)
    activity = [
        (pl.col(a.code).cast(pl.Float64) * a.weight * keep[a.code]).alias(f"w_{a.code}")
        for a in ruleset.of_kind("activity")
    ]
    scored = fired.with_columns(activity)
    act_sum = pl.sum_horizontal([f"w_{a.code}" for a in ruleset.of_kind("activity")])
    scored = scored.with_columns(act_sum.alias("activity_score"))
    gate = pl.col("activity_score") >= ruleset.activity_gate
    scored = scored.with_columns(
        [
            (pl.col(c.code) & gate).cast(pl.Float64).mul(c.weight).alias(f"w_{c.code}")
            for c in ruleset.of_kind("context")
        ]
        # what each innocent explanation took away, shown as a negative contribution
        + [
            (
                -pl.sum_horizontal(
                    [
                        pl.col(inn.code).cast(pl.Float64)
                        * pl.col(a).cast(pl.Float64)
                        * ruleset.by_code[a].weight
                        * (1 - inn.factor)
                        for a in inn.offsets
                    ]
                    or [pl.lit(0.0)]
                )
            ).alias(f"w_{inn.code}")
            for inn in ruleset.of_kind("innocent")
        ]
    )
    context_sum = pl.sum_horizontal(
        [f"w_{c.code}" for c in ruleset.of_kind("context")] or [pl.lit(0.0)]
    )
    scored = scored.with_columns(context_sum.alias("context_score")).with_columns(
        (pl.col("activity_score") + pl.col("context_score")).alias("rule_score")
    )

    innocent = [pl.col(r.code) for r in ruleset.of_kind("innocent")]
    scored = scored.with_columns(
        (pl.any_horizontal(innocent) if innocent else pl.lit(False)).alias("explained")
    )
    reasons = _reasons(features, scored, ruleset)
    return scored.select(
        "site_id", "activity_score", "context_score", "rule_score", "explained"
    ), reasons


def _reasons(features: pl.DataFrame, scored: pl.DataFrame, ruleset: RuleSet) -> pl.DataFrame:
    parts = []
    for r in ruleset.rules:
        w = pl.col(f"w_{r.code}")
        shown = (w != 0) if r.kind != "innocent" else (pl.col(r.code) & (w != 0))
        if r.kind == "context":
            shown = w > 0
        rows = scored.filter(shown).select("site_id", w.alias("contribution"))
        if rows.height == 0:
            continue
        parts.append(
            rows.join(features, on="site_id", how="left").select(
                "site_id",
                pl.lit(r.code).alias("code"),
                pl.lit(r.kind).alias("kind"),
                pl.lit(r.category).alias("category"),
                "contribution",
                template_expr(r.evidence, features.schema).alias("evidence"),
            )
        )
    schema = {
        "site_id": pl.String,
        "code": pl.String,
        "kind": pl.String,
        "category": pl.String,
        "contribution": pl.Float64,
        "evidence": pl.String,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    # stable: equal contributions keep the rules' order in the config, whatever the sites' order
    return pl.concat(parts).sort(
        ["site_id", "contribution"], descending=[False, True], maintain_order=True
    )


# rules that need an optional source: named in the run summary when it is absent
RULES_NEEDING = {
    "tips": ["PUBLIC_TIP"],
    "sanctioned_sites": ["CASE_REVIVED"],
    "idle_properties": ["IDLE_PREMISES_ACTIVE", "REMOTE_PREMISES"],
}
