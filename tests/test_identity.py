"""Which of tonight's sites is a site the ledger knows (ledger/identity.py), on small frames:
a site keeps its id when its anchor record changes (shared records, even beyond match_m),
a neighbour with records of its own never takes a lead's id however close, distance decides
only where records cannot, no id goes to two sites; and the ledger keeps it over merges."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from screening.ledger import identity
from screening.ledger.ledger import Ledger
from screening.settings import load_config

M = 50.0
DEG = 1 / 111_000  # about a metre of latitude


def _sites(rows: list[tuple[str, float, str]], run_ids: bool = False) -> pl.DataFrame:
    """(site_id, metres north of a point, account_ids)."""
    f = pl.DataFrame(rows, schema=["site_id", "north", "account_ids"], orient="row").select(
        "site_id",
        pl.lit(117.0).alias("lon"),
        (33.6 + pl.col("north") * DEG).alias("lat"),
        pl.when(pl.col("account_ids") != "").then(pl.col("account_ids")).alias("account_ids"),
    )
    return f.with_columns(pl.col("site_id").alias("run_site_id")) if run_ids else f


def _match(tonight: pl.DataFrame, known: pl.DataFrame) -> dict[str, str]:
    got = identity.match(
        tonight.select("site_id", "lon", "lat"),
        identity.place_records(tonight),
        known.select("site_id", "run_site_id", "lon", "lat"),
        identity.place_records(known),
        M,
    )
    assert got["known"].is_unique().all() and got["site_id"].is_unique().all()
    return dict(got.iter_rows())


def test_records_keep_the_id_when_the_anchor_changes_and_the_site_moves() -> None:
    known = _sites([("A", 0, "m1;m2"), ("B", 1000, "m9")], run_ids=True)
    # A's anchor changed (new id X) and a meter joining moved it 300 m: its meters say A
    tonight = _sites([("X", 300, "m2;m3"), ("B", 1000, "m9")])
    assert _match(tonight, known) == {"X": "A", "B": "B"}


def test_a_neighbour_with_records_of_its_own_never_takes_the_id() -> None:
    known = _sites([("A", 0, "m1")], run_ids=True)
    # A is gone tonight; a different meter 20 m away is not A
    assert _match(_sites([("N", 20, "m5")]), known) == {}
    # a site without records (truck places only) 20 m away is
    assert _match(_sites([("P", 20, "")]), known) == {"P": "A"}
    # but not 80 m away
    assert _match(_sites([("P", 80, "")]), known) == {}


def test_one_id_per_site_most_records_first_ties_by_distance() -> None:
    known = _sites([("A", 0, "m1;m2;m3")], run_ids=True)
    # the site split: the part with two of A's meters keeps the id, the other is new
    tonight = _sites([("X", 0, "m1"), ("Y", 10, "m2;m3")])
    assert _match(tonight, known) == {"Y": "A"}
    # as many shared: the nearer
    tonight = _sites([("X", 200, "m1"), ("Y", 30, "m2")])
    assert _match(tonight, known) == {"Y": "A"}


def test_the_run_id_a_site_was_listed_under_and_its_own_id_come_first() -> None:
    known = _sites([("A", 0, "m1"), ("B", 5, "m2")], run_ids=True).with_columns(
        pl.when(pl.col("site_id") == "A")
        .then(pl.lit("R7"))
        .otherwise("run_site_id")
        .alias("run_site_id")
    )
    # B is listed under its own id even though it now holds A's meter; R7 is A again
    tonight = _sites([("B", 5, "m1;m2"), ("R7", 0, "")])
    assert _match(tonight, known) == {"B": "B", "R7": "A"}


def _leads(rows: list[tuple[str, float, str]]) -> pl.DataFrame:
    f = _sites(rows)
    return f.with_columns(
        pl.int_range(1, pl.len() + 1).alias("rank"),
        pl.lit(5.0).alias("score"),
        pl.lit("unlicensed_production").alias("category"),
        pl.lit("POWER_JUMP").alias("reasons"),
        pl.lit("").alias("evidence"),
        *[
            pl.lit(None, dtype=pl.String).alias(c)
            for c in ("township", "oversight_unit", "address", "names", "legal_reps")
        ],
    )


def test_the_ledger_keeps_a_sites_id_over_merges(tmp_path: Path) -> None:
    cfg = load_config()["ledger"]
    with Ledger(tmp_path / "ledger.duckdb") as lg:
        lg.merge_run("R1", _leads([("A", 0, "m1;m2"), ("C", 30, "m7")]), {}, cfg)
        # night 2: A re-anchored as X and placed 200 m off; C is gone and a neighbour N
        # with its own meter stands 10 m from it
        got = lg.merge_run("R2", _leads([("X", 200, "m2"), ("N", 40, "m8")]), {}, cfg)
        ids = dict(zip(got.leads["run_site_id"], got.leads["site_id"], strict=True))
        assert ids == {"X": "A", "N": "N"}
        assert dict(zip(got.leads["site_id"], got.leads["merge"], strict=True)) == {
            "A": "repeated",
            "N": "new",
        }
        # night 3: X again is A by the run id it was listed under
        got = lg.merge_run("R3", _leads([("X", 200, "")]), {}, cfg)
        assert got.leads["site_id"].to_list() == ["A"]
        assert set(lg.site_records().filter(site_id="A")["record"]) == {
            "account_ids:m1",
            "account_ids:m2",
        }


def test_records_are_read_from_every_column_even_when_one_is_empty() -> None:
    frame = pl.DataFrame(
        {
            "site_id": ["A", "B"],
            "usccs": [None, "913413025FLG2AJT7C"],
            "account_ids": ["m1;m2", None],
            "property_ids": [None, None],
            "plates": ["苏HU7199", "皖LJ9426"],  # trucks call at many places: not records
        },
        schema_overrides={"property_ids": pl.String},
    )
    assert identity.place_records(frame).rows() == [
        ("A", "account_ids:m1"),
        ("A", "account_ids:m2"),
        ("B", "usccs:913413025FLG2AJT7C"),
    ]
