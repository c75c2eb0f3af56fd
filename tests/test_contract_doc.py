"""The contract the agencies read (docs/CONTRACT.md) says what the code does: its tables are
generated from schema.py and must be up to date, and nothing points readers outside the
repository."""

from pathlib import Path

from screening import contract, schema

REPO = Path(__file__).resolve().parents[1]


def test_the_contract_document_matches_the_schema():
    text = contract.DOCUMENT.read_text(encoding="utf-8")
    assert contract.missing(text) == []
    assert contract.render(text) == text, "run: python -m screening.contract"


def test_every_source_column_and_alias_is_in_the_document():
    text = contract.DOCUMENT.read_text(encoding="utf-8")
    for name, source in schema.SOURCES.items():
        assert f"### {name} " in text
        for col in source.columns:
            assert f"`{col.name}`" in text
            assert all(alias in text for alias in col.aliases)


def test_nothing_sends_readers_outside_the_repository():
    files = [
        REPO / "README.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / "screening").rglob("*.py"),
        *(REPO / "flows").rglob("*.py"),
        *(REPO / "notebooks").glob("*.ipynb"),
    ]
    assert [str(p) for p in files if "../shared" in p.read_text(encoding="utf-8")] == []
