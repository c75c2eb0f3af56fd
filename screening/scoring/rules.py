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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from screening.schema import CATEGORIES
from screening.scoring.templates import RuleError, clauses, clauses_expr, fields
from screening.scoring.templates import template_expr as template_expr
from screening.settings import fill_settings

KINDS = ("activity", "context", "innocent")
# one row per site and shown reason (``apply``; the anomaly model's and the hold's alike)
REASONS_SCHEMA = {
    "site_id": pl.String,
    "code": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "contribution": pl.Float64,
    "evidence": pl.String,
}
ANOMALY_ZH = "与同类场所相比异常"
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
    name_zh: str = ""  # the reason's name for inspectors (线索理由)
    # the independent line of evidence it belongs to (power, trucks, tips, paperwork, place,
    # history): rules of one line see the same facts, so they are not counted as corroboration
    line: str = ""
    # an activity rule that reads the same fact as another, earlier (POWER_RISING is a
    # POWER_JUMP seen in its first days): every innocent rule offsetting that one offsets
    # this one too, so that a new rule needs no edit to the explanations' lists
    explained_like: str = ""

    def condition(self) -> pl.Expr:
        return pl.sql_expr(self.when).fill_null(False)


@dataclass
class RuleSet:
    rules: list[Rule]
    activity_gate: float
    # a line's second and further rules count at this share of their weight
    same_line_factor: float = 1.0
    by_code: dict[str, Rule] = field(init=False)

    def __post_init__(self) -> None:
        self.by_code = {r.code: r for r in self.rules}

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    def names_zh(self) -> dict[str, str]:
        """Each reason code's name for inspectors (the code itself where a settings file gives
        none), the anomaly model's included."""
        from screening.scoring.hold import HOLD_CODE, HOLD_ZH

        names = {r.code: r.name_zh or r.code for r in self.rules}
        return {**names, "ANOMALY": ANOMALY_ZH, HOLD_CODE: HOLD_ZH}


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
            "name_zh",
            "line",
            "explained_like",
        }
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            rule = Rule(
                code=r["code"],
                kind=r["kind"],
                weight=float(r["weight"]),
                # a condition may name settings too ({features.household_jump_kwh}), so that
                # a threshold an analyst tunes lives once, in its section
                when=fill_settings(r["when"], config),
                evidence=fill_settings(r["evidence"], config),
                category=r.get("category", ""),
                offsets=tuple(r.get("offsets", ())),
                factor=float(r.get("factor", 0.0)),
                note=r.get("note", ""),
                name_zh=r.get("name_zh", ""),
                line=r.get("line", ""),
                explained_like=r.get("explained_like", ""),
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
    explainable = {r.code for r in rules if r.kind != "innocent"}
    rules = _explained_alike(rules, explainable)
    for r in rules:
        bad = set(r.offsets) - explainable
        if bad:
            raise RuleError(
                f"rule {r.code}: offsets name no activity or context rule: {sorted(bad)}"
            )
    return RuleSet(
        rules,
        float(config["scoring"]["activity_gate"]),
        float(config["scoring"].get("same_line_factor", 1.0)),
    )


def _explained_alike(rules: list[Rule], explainable: set[str]) -> list[Rule]:
    """Each innocent rule's offsets with the rules explained like one of them added
    (``explained_like``), at the same factor."""
    alike: dict[str, list[str]] = {}
    for r in rules:
        if not r.explained_like:
            continue
        if r.explained_like not in explainable or r.kind == "innocent":
            raise RuleError(
                f"rule {r.code}: explained_like names no activity or context rule: "
                f"{r.explained_like!r}"
            )
        alike.setdefault(r.explained_like, []).append(r.code)
    out = []
    for r in rules:
        extra = [c for o in r.offsets for c in alike.get(o, []) if c not in r.offsets]
        out.append(replace(r, offsets=(*r.offsets, *extra)) if extra else r)
    return out


def check(ruleset: RuleSet, schema: pl.Schema) -> None:
    """Fail early, naming the rule, when a condition or template names an unknown column."""
    empty = pl.DataFrame(schema=schema)
    for r in ruleset.rules:
        try:
            # named apart: a condition and a sentence that open on the same column clash
            empty.select(
                r.condition().alias("_when"), template_expr(r.evidence, schema).alias("_evidence")
            )
        except (pl.exceptions.PolarsError, RuleError) as exc:
            raise RuleError(f"rule {r.code}: {str(exc).splitlines()[0]}") from exc


def apply(features: pl.DataFrame, ruleset: RuleSet) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scores per site, reasons: one row per site and fired rule with its contribution and
    evidence sentence). Vectorised: one boolean column per rule over all sites."""
    check(ruleset, features.schema)
    fired = features.select("site_id", *[r.condition().alias(r.code) for r in ruleset.rules])
    # weight kept by each activity (and context) rule after the innocent explanations that
    # fired: a re-let idle property explains its meter waking and its being listed idle
    keep = {a.code: pl.lit(1.0) for a in ruleset.rules if a.kind != "innocent"}
    for inn in ruleset.of_kind("innocent"):
        for code in inn.offsets:
            keep[code] = keep[code] * pl.when(pl.col(inn.code)).then(inn.factor).otherwise(1.0)
    activity = [
        (pl.col(a.code).cast(pl.Float64) * a.weight * keep[a.code]).alias(f"w_{a.code}")
        for a in ruleset.of_kind("activity")
    ]
    scored = fired.with_columns(activity)
    scored = scored.with_columns(_damped(ruleset.of_kind("activity"), ruleset.same_line_factor))
    act_sum = pl.sum_horizontal([f"w_{a.code}" for a in ruleset.of_kind("activity")])
    scored = scored.with_columns(act_sum.alias("activity_score"))
    gate = pl.col("activity_score") >= ruleset.activity_gate
    scored = scored.with_columns(
        [
            ((pl.col(c.code) & gate).cast(pl.Float64) * c.weight * keep[c.code]).alias(
                f"w_{c.code}"
            )
            for c in ruleset.of_kind("context")
        ]
        # what each innocent explanation took away, shown as a negative contribution
        + [
            (
                -pl.sum_horizontal(
                    [
                        pl.col(inn.code).cast(pl.Float64)
                        * (
                            (pl.col(a) & gate)
                            if ruleset.by_code[a].kind == "context"
                            else pl.col(a)
                        ).cast(pl.Float64)
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
    scored = scored.with_columns(_damped(ruleset.of_kind("context"), ruleset.same_line_factor))
    lines = sorted({r.line or r.code for r in ruleset.rules if r.kind != "innocent"})
    scored = scored.with_columns(
        pl.sum_horizontal(
            [
                pl.any_horizontal(
                    [
                        pl.col(f"w_{r.code}") > 0
                        for r in ruleset.rules
                        if r.kind != "innocent" and (r.line or r.code) == line
                    ]
                ).cast(pl.Int32)
                for line in lines
            ]
            or [pl.lit(0)]
        ).alias("evidence_lines")
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
    # a horizontal sum of many weights may add them in a varying order (3.1500000000000004
    # one run, 3.1499999999999995 the next): six decimals keep the lead list byte-stable
    sums = ("activity_score", "context_score", "rule_score")
    return scored.select(
        "site_id", *[pl.col(c).round(6) for c in sums], "explained", "evidence_lines"
    ), reasons


def _damped(rules: list[Rule], factor: float) -> list[pl.Expr]:
    """Each rule's weight within its line: the line's strongest rule (the earlier one on a
    tie) counts in full, the others at ``factor``. A meter that jumped has also woken and
    also runs at night: three readings of one fact are not three witnesses."""
    out: list[pl.Expr] = []
    by_line: dict[str, list[Rule]] = {}
    for r in rules:
        if r.line:
            by_line.setdefault(r.line, []).append(r)
    for members in by_line.values():
        if len(members) < 2 or factor == 1.0:
            continue
        top = pl.max_horizontal([pl.col(f"w_{r.code}") for r in members])
        for i, r in enumerate(members):
            w = pl.col(f"w_{r.code}")
            first = (w == top) & ~pl.any_horizontal(
                [pl.col(f"w_{e.code}") == top for e in members[:i]] or [pl.lit(False)]
            )
            out.append(pl.when(first).then(w).otherwise(w * factor).alias(f"w_{r.code}"))
    return out


def _shown(r: Rule) -> pl.Expr:
    """Where a fired rule is shown as a reason: activity that counts, context that passed
    the gate, an innocent explanation that took something away."""
    w = pl.col(f"w_{r.code}")
    if r.kind == "context":
        return w > 0
    if r.kind == "innocent":
        return pl.col(r.code) & (w != 0)
    return w != 0


def _keeps(r: Rule, ruleset: RuleSet) -> list[tuple[str, pl.Expr]]:
    """Each clause of a rule's sentence with where it is written: a clause naming a figure
    that another shown reason of the site states too is written by the one read first (the
    larger contribution; the earlier rule on a tie), so that no figure is read twice."""
    order = {x.code: i for i, x in enumerate(ruleset.rules)}
    w = pl.col(f"w_{r.code}")
    out = []
    for clause in clauses(r.evidence):
        before = [
            _shown(s)
            & (
                (pl.col(f"w_{s.code}") > w)
                | ((pl.col(f"w_{s.code}") == w) & (order[s.code] < order[r.code]))
            )
            for s in ruleset.rules
            if s.code != r.code
            and clause.shared
            and clause.text in {c.text for c in clauses(s.evidence)}
        ]
        out.append((clause.text, ~pl.any_horizontal(before) if before else pl.lit(True)))
    return out


def _reasons(features: pl.DataFrame, scored: pl.DataFrame, ruleset: RuleSet) -> pl.DataFrame:
    parts = []
    for r in ruleset.rules:
        keeps = _keeps(r, ruleset)
        rows = scored.filter(_shown(r)).select(
            "site_id",
            pl.col(f"w_{r.code}").alias("contribution"),
            *[keep.alias(f"_keep{i}") for i, (_, keep) in enumerate(keeps)],
        )
        if rows.height == 0:
            continue
        sentence = clauses_expr(
            [(text, pl.col(f"_keep{i}")) for i, (text, _) in enumerate(keeps)], features.schema
        )
        parts.append(
            rows.join(features, on="site_id", how="left").select(
                "site_id",
                pl.lit(r.code).alias("code"),
                pl.lit(r.kind).alias("kind"),
                pl.lit(r.category).alias("category"),
                "contribution",
                sentence.alias("evidence"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=REASONS_SCHEMA)
    # ties in contribution keep the rules' order, as the clauses above assume
    return pl.concat(parts).sort(
        ["site_id", "contribution"], descending=[False, True], maintain_order=True
    )


def stated_features(reasons: pl.DataFrame, ruleset: RuleSet) -> pl.DataFrame:
    """(site_id, feature) for every figure a shown reason of the site states: the anomaly
    model's explanation leaves them out rather than say them again."""
    named = pl.DataFrame(
        [(r.code, f) for r in ruleset.rules for f in sorted(fields(r.evidence))],
        schema={"code": pl.String, "feature": pl.String},
        orient="row",
    )
    return (
        reasons.select("site_id", "code")
        .join(named, on="code")
        .select("site_id", "feature")
        .unique()
    )


# rules that need an optional source: named in the run summary when it is absent
TRUCK_RULES = [
    "HAZMAT_NIGHT_STOPS",
    "HAZMAT_VISITS",
    "OUTSIDE_TRUCKS",
    "FUEL_DELIVERIES",
    "NIGHT_TRUCKS_NEARBY",
]
RULES_NEEDING = {
    "tips": ["PUBLIC_TIP"],
    "sanctioned_sites": ["CASE_REVIVED"],
    "idle_properties": ["IDLE_PREMISES_ACTIVE", "REMOTE_PREMISES"],
    "vehicle_tracks": TRUCK_RULES,
    "vehicles": ["OUTSIDE_TRUCKS"],
}
# the line of evidence an optional source is the only witness for: named in the run summary
# as missing when the source is absent or lost, so that a reader knows what the list could
# not see (a county without GPS tracks is ranked by its meters, papers and lists alone)
SOURCE_LINES = {
    "vehicle_tracks": "trucks (hazmat-truck stops)",
    "tips": "tips (public reports)",
    "sanctioned_sites": "history (earlier cases)",
    "idle_properties": "place (the idle-premises list)",
}


def missing_lines(meta: Mapping[str, Any]) -> list[str]:
    """The optional sources (of ``SOURCE_LINES``) a warehouse's bundle lacked: absent, or
    present with nothing usable (``absent_sources`` / ``lost_sources`` in its meta)."""
    gone = [*meta.get("absent_sources", []), *meta.get("lost_sources", {})]
    return [src for src in SOURCE_LINES if src in gone]
