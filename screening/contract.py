"""The data contract as a document: the tables of ``docs/CONTRACT.md`` are rendered from
``schema.py`` (sources, columns, Chinese header aliases, vocabularies, the lead list) and the
manifest's defaults, so that the document and the code cannot drift; the prose around them
is written by hand.

    python -m screening.contract            # rewrite the generated parts of docs/CONTRACT.md
    python -m screening.contract --check    # exit 1 if they are out of date (the tests do this)

A generated part sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from screening import schema
from screening.coords import CRS_NAMES
from screening.ingest.manifest import MANIFEST_KEYS, Manifest
from screening.ingest.readers import FORMATS

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "CONTRACT.md"

KIND_TEXT = {
    "str": "text",
    "code": "identifier (spaces, full-width characters and case normalised)",
    "float": "number",
    "int": "whole number",
    "date": "date",
    "datetime": "local date and time",
}
VOCABULARIES = {
    ("registrations", "status"): schema.REGISTRATION_STATUSES,
    ("permits", "kind"): schema.PERMIT_KINDS,
    ("power_accounts", "tariff"): schema.TARIFFS,
    ("power_accounts", "phase"): schema.PHASES,
    ("idle_properties", "kind"): schema.IDLE_KINDS,
    ("vehicles", "cargo"): schema.CARGO_CLASSES,
}
_BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end: \2 -->)", re.S)


def _source_table(source: schema.Source) -> str:
    lines = [
        "| column | Chinese headers accepted | type | required |",
        "|---|---|---|---|",
    ]
    for c in source.columns:
        aliases = "、".join(c.aliases) if c.aliases else "—"
        lines.append(
            f"| `{c.name}` | {aliases} | {KIND_TEXT[c.kind]} | {'yes' if c.required else ''} |"
        )
    facts = [
        "required source" if source.required else "optional source",
        "bulk series (stored as Parquet, read in batches)" if source.bulk else "",
        f"a row repeating `{', '.join(source.key)}` with other content is quarantined"
        if source.key
        else "",
        f"date column of the wide layouts: {source.extra['date_aliases']}"
        if "date_aliases" in source.extra
        else "",
    ]
    if source.name in schema.SERIES_KEYS:
        facts.append(f"one value per `{', '.join(schema.SERIES_KEYS[source.name])}`")
    vocab = [
        f"`{col}`: " + "; ".join(f"**{k}** ← {'、'.join(v)}" for k, v in words.items())
        for (src, col), words in VOCABULARIES.items()
        if src == source.name
    ]
    return "\n".join(
        [
            *lines,
            "",
            "*" + "; ".join(f for f in facts if f) + ".*",
            *(["", "Values read as (matching ignores case and width):", ""] if vocab else []),
            *(f"- {v}" for v in vocab),
        ]
    )


def blocks() -> dict[str, str]:
    """Every generated part of the document, by name."""
    out = {f"source_{name}": _source_table(src) for name, src in schema.SOURCES.items()}
    defaults = {
        k: v for k, v in dataclasses.asdict(Manifest()).items() if v is not None and v != {}
    }
    out["manifest"] = "\n".join(
        [
            "| key | meaning | default |",
            "|---|---|---|",
            *(f"| `{k}` | {text} | {defaults.get(k, '—')} |" for k, text in MANIFEST_KEYS.items()),
            "",
            f"`crs` is one of {', '.join(f'`{c}`' for c in CRS_NAMES)}. "
            f"Files: {', '.join(f'`{f}`' for f in FORMATS)}; townships in "
            f"`{schema.TOWNSHIPS_FILE}`.",
        ]
    )
    out["categories"] = "\n".join(f"- `{c}`" for c in schema.CATEGORIES)
    out["lead_columns"] = ", ".join(f"`{c}`" for c in schema.LEAD_COLUMNS)
    return out


def render(text: str) -> str:
    """The document with its generated parts brought up to date."""
    parts = blocks()

    def fill(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in parts:
            raise KeyError(f"docs/CONTRACT.md names an unknown generated part {name!r}")
        return m.group(1) + parts[name] + "\n" + m.group(4)

    return _BLOCK.sub(fill, text)


def missing(text: str) -> list[str]:
    """Generated parts the document does not have a place for."""
    have = {m.group(2) for m in _BLOCK.finditer(text)}
    return sorted(set(blocks()) - have)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = DOCUMENT.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text or missing(text):
            print(f"{DOCUMENT} is out of date: run python -m screening.contract", file=sys.stderr)
            sys.exit(1)
        return
    DOCUMENT.write_text(new, encoding="utf-8")
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    main()
