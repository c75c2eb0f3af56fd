"""The ledger: the system of record for leads, inspections and outcomes.

One embedded DuckDB file. Every run is recorded with the hashes of its inputs; each run's
leads are merged as new, repeated, escalated, suppressed (a cleared site with nothing new)
or recurrence (renewed activity at a closed, watched site). Every status change is a history
row with time, actor and note; nothing is overwritten or deleted, and the current status is
the last history row. Merging the same run twice changes nothing, and a merge is one
transaction: a crash leaves the ledger as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from screening.ledger import identity
from screening.ledger.changes import CHANGES, CHANGES_SCHEMA

STATUSES = (
    "lead",
    "assigned",
    "inspected",
    "confirmed",
    "cleared",
    "measures_taken",
    "closed",
    "watched",
)
STATUS_ZH = {
    "lead": "线索",
    "assigned": "已分派",
    "inspected": "已核查",
    "confirmed": "已确认",
    "cleared": "已排除",
    "measures_taken": "已处置",
    "closed": "已关闭",
    "watched": "关闭后监控",
}
# who may move a site where; "system" moves (re-listing, recurrence) are made by merges
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "lead": ("assigned", "cleared"),
    "assigned": ("inspected", "lead", "assigned"),
    "inspected": ("confirmed", "cleared"),
    "confirmed": ("measures_taken", "closed"),
    "measures_taken": ("closed", "measures_taken"),
    "closed": ("watched",),
    "cleared": ("lead",),
    "watched": ("lead",),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, seq INTEGER, merged_at TIMESTAMP, as_of DATE, region VARCHAR,
    inputs JSON, config_hash VARCHAR, leads INTEGER, new INTEGER, repeated INTEGER,
    escalated INTEGER, suppressed INTEGER, recurrence INTEGER
);
CREATE TABLE IF NOT EXISTS sites (
    site_id VARCHAR PRIMARY KEY, first_run VARCHAR, lon DOUBLE, lat DOUBLE,
    township VARCHAR, oversight_unit VARCHAR, address VARCHAR, names VARCHAR,
    legal_reps VARCHAR
);
CREATE TABLE IF NOT EXISTS run_leads (
    run_id VARCHAR, site_id VARCHAR, run_site_id VARCHAR, rank INTEGER, score DOUBLE,
    category VARCHAR, reasons VARCHAR, evidence VARCHAR, merge VARCHAR, note VARCHAR,
    PRIMARY KEY (run_id, site_id)
);
CREATE TABLE IF NOT EXISTS run_outputs (run_id VARCHAR PRIMARY KEY, leads BLOB);
CREATE TABLE IF NOT EXISTS lead_changes (
    run_id VARCHAR, site_id VARCHAR, change VARCHAR, rank_before BIGINT, rank_now BIGINT,
    score_before DOUBLE, score_now DOUBLE, reasons_added VARCHAR, reasons_dropped VARCHAR,
    held BOOLEAN, why VARCHAR, PRIMARY KEY (run_id, site_id)
);
CREATE TABLE IF NOT EXISTS site_records (
    site_id VARCHAR, record VARCHAR, first_run VARCHAR, PRIMARY KEY (site_id, record)
);
CREATE TABLE IF NOT EXISTS history (
    site_id VARCHAR, seq BIGINT, changed_at TIMESTAMP, from_status VARCHAR, to_status VARCHAR,
    actor VARCHAR, note VARCHAR, run_id VARCHAR, fields JSON, PRIMARY KEY (site_id, seq)
);
"""


# each site's lead in the latest run that listed it (runs in merge order)
LATEST_LEADS = """(SELECT l.* FROM run_leads l JOIN runs r USING (run_id)
    QUALIFY row_number() OVER (PARTITION BY l.site_id ORDER BY r.seq DESC) = 1)"""


class LedgerError(ValueError):
    pass


@dataclass
class MergeReport:
    run_id: str
    already_merged: bool
    counts: dict[str, int]
    leads: pl.DataFrame  # this run's leads as the ledger sees them (merge kind, status)


def run_key(inputs: pl.DataFrame, config: Mapping[str, Any], as_of: dt.date | None) -> str:
    """A run is its inputs (file hashes), its settings and its screening date: the same
    three give the same key, so merging them again changes nothing."""
    files = sorted(f"{r['file']}:{r['sha256']}" for r in inputs.iter_rows(named=True))
    blob = json.dumps(
        {"files": files, "config": config, "as_of": str(as_of)}, sort_keys=True, default=str
    )
    return "R" + hashlib.sha1(blob.encode()).hexdigest()[:12].upper()


class Ledger:
    """The ledger file. ``read_only`` opens it for looking only: a file that does not exist
    is then an empty ledger in memory, never a new file (``export`` or ``ledger status`` run
    in the wrong folder must not leave ledgers behind); ``exists`` tells the two apart."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.exists = self.path.is_file()
        if read_only and not self.exists:
            self.con = duckdb.connect(":memory:")
            self.con.execute(SCHEMA)
            return
        if read_only:
            try:
                self.con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path))
        self.con.execute(SCHEMA)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def _df(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
        return pl.from_arrow(rel.to_arrow_table())  # type: ignore[return-value]

    # ------------------------------------------------------------------ reading

    def status(self) -> pl.DataFrame:
        """Every site with its current status (the last history row) and when it got it."""
        return self._df("""
            SELECT s.*, h.to_status AS status, h.changed_at AS status_since, h.actor, h.note
            FROM sites s JOIN (
                SELECT * FROM history QUALIFY row_number() OVER
                    (PARTITION BY site_id ORDER BY seq DESC) = 1
            ) h USING (site_id) ORDER BY site_id""")

    def history(self, site_id: str | None = None) -> pl.DataFrame:
        """Status changes in the order they happened (their recorded date: a sheet's 核查日期
        or ``--at``), then in the order they were recorded."""
        if site_id is None:
            return self._df("SELECT * FROM history ORDER BY site_id, changed_at, seq")
        return self._df(
            "SELECT * FROM history WHERE site_id = ? ORDER BY changed_at, seq", [site_id]
        )

    def latest_leads(self) -> pl.DataFrame:
        """Each site's lead in the latest run that listed it: its rank, score, category,
        reasons and evidence as the teams last saw them."""
        return self._df(f"""
            SELECT site_id, rank, score, category, reasons, evidence, run_id
            FROM {LATEST_LEADS} ORDER BY site_id""")

    def sites(self) -> pl.DataFrame:
        return self._df("SELECT * FROM sites ORDER BY site_id")

    def runs(self) -> pl.DataFrame:
        return self._df("SELECT * FROM runs ORDER BY seq")

    def stored_leads(self, run_id: str) -> pl.DataFrame | None:
        """The lead list a run produced, exactly as written (Parquet bytes): the same run
        again gives the same list, whatever the ledger learnt since."""
        rows = self.con.execute(
            "SELECT leads FROM run_outputs WHERE run_id = ?", [run_id]
        ).fetchall()
        return pl.read_parquet(io.BytesIO(rows[0][0])) if rows else None

    def store_leads(self, run_id: str, leads: pl.DataFrame) -> None:
        buf = io.BytesIO()
        leads.write_parquet(buf)
        self.con.execute(
            "INSERT OR REPLACE INTO run_outputs VALUES (?, ?)", [run_id, buf.getvalue()]
        )

    def store_changes(self, changes: pl.DataFrame) -> None:
        """A run's rises and falls (``changes.lead_changes``), kept beside its leads."""
        if changes.height:
            self.con.register("_c", changes.to_arrow())
            self.con.execute("INSERT OR REPLACE INTO lead_changes SELECT * FROM _c")
            self.con.unregister("_c")

    def changes(self, run_id: str | None = None) -> pl.DataFrame:
        """The rises and falls the ledger recorded: one run's, or every run's in merge order."""
        where = " WHERE c.run_id = ?" if run_id else ""
        rows = self._df(
            "SELECT c.* FROM lead_changes c JOIN runs r USING (run_id)"
            + where
            + " ORDER BY r.seq, list_position(?, c.change), coalesce(c.rank_now, c.rank_before),"
            " c.site_id",
            [*([run_id] if run_id else []), list(CHANGES)],
        )
        return rows.cast(CHANGES_SCHEMA) if rows.height else pl.DataFrame(schema=CHANGES_SCHEMA)

    def site_records(self) -> pl.DataFrame:
        """(site_id, record): the records each site was listed with (``identity``)."""
        return self._df("SELECT site_id, record FROM site_records ORDER BY site_id, record")

    def run_leads(self) -> pl.DataFrame:
        return self._df("SELECT * FROM run_leads")

    def watched(self) -> pl.DataFrame:
        """Closed cases under watch: fed back into screening so that renewed activity there
        is a recurrence (死灰复燃) lead."""
        return (
            self.status()
            .filter(pl.col("status").is_in(["closed", "watched"]))
            .select(
                "site_id",
                "lon",
                "lat",
                "address",
                "names",
                pl.col("status_since").dt.date().alias("closed_on"),
            )
        )

    # ------------------------------------------------------------------ writing

    def _append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        seqs = dict(
            self.con.execute("SELECT site_id, max(seq) FROM history GROUP BY site_id").fetchall()
        )
        for r in rows:
            seq = seqs.get(r["site_id"], 0) + 1
            seqs[r["site_id"]] = seq
            r["seq"] = seq
        frame = pl.DataFrame(rows).select(
            "site_id",
            pl.col("seq").cast(pl.Int64),
            pl.col("changed_at").cast(pl.Datetime("us")),
            pl.col("from_status").cast(pl.String),
            "to_status",
            "actor",
            "note",
            pl.col("run_id").cast(pl.String),
            pl.col("fields").cast(pl.String),
        )
        self.con.register("_h", frame.to_arrow())
        self.con.execute("INSERT INTO history SELECT * FROM _h")
        self.con.unregister("_h")

    def transition(
        self,
        site_id: str,
        to_status: str,
        actor: str,
        note: str = "",
        at: dt.datetime | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """Move one site to a new status, checked against the lifecycle; returns the status
        it came from. Closing a site puts it under watch in the same step."""
        current = self.status().filter(pl.col("site_id") == site_id)
        if current.height == 0:
            raise LedgerError(f"unknown site {site_id}")
        frm = current["status"].item()
        if to_status not in STATUSES:
            raise LedgerError(f"unknown status {to_status!r} (one of {', '.join(STATUSES)})")
        if to_status not in TRANSITIONS[frm]:
            allowed = ", ".join(TRANSITIONS[frm])
            raise LedgerError(
                f"{site_id}: cannot go from {frm} to {to_status} (allowed: {allowed})"
            )
        at = at or dt.datetime.now().replace(microsecond=0)
        rows = [
            {
                "site_id": site_id,
                "changed_at": at,
                "from_status": frm,
                "to_status": to_status,
                "actor": actor,
                "note": note,
                "run_id": None,
                "fields": json.dumps(fields or {}, ensure_ascii=False, default=str),
            }
        ]
        if to_status == "closed":
            rows.append(
                {
                    "site_id": site_id,
                    "changed_at": at,
                    "from_status": "closed",
                    "to_status": "watched",
                    "actor": "system",
                    "note": "关闭后纳入监控，恢复活动即列为死灰复燃线索",
                    "run_id": None,
                    "fields": "{}",
                }
            )
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._append(rows)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return frm

    def merge_run(
        self,
        run_id: str,
        leads: pl.DataFrame,
        meta: dict[str, Any],
        cfg: Mapping[str, Any],
        at: dt.datetime | None = None,
    ) -> MergeReport:
        """Merge one run's leads. Idempotent on run_id; one transaction."""
        if self.con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][
            0
        ]:
            merged = self._df("SELECT * FROM run_leads WHERE run_id = ? ORDER BY rank", [run_id])
            kinds = merged.group_by("merge").len()
            return MergeReport(run_id, True, dict(kinds.iter_rows()), merged)
        at = at or dt.datetime.now().replace(microsecond=0)
        leads = self._match_sites(leads, cfg)
        plan = self._plan(leads, cfg)
        self.con.execute("BEGIN TRANSACTION")
        try:
            new_sites = plan.filter(pl.col("merge") == "new").select(
                "site_id",
                pl.lit(run_id).alias("first_run"),
                "lon",
                "lat",
                "township",
                "oversight_unit",
                "address",
                "names",
                "legal_reps",
            )
            if new_sites.height:
                self.con.register("_s", new_sites.to_arrow())
                self.con.execute("INSERT INTO sites SELECT * FROM _s")
                self.con.unregister("_s")
            self._append(
                [
                    {
                        "site_id": r["site_id"],
                        "changed_at": at,
                        "from_status": r["from_status"],
                        "to_status": "lead",
                        "actor": "system",
                        "note": r["note"],
                        "run_id": run_id,
                        "fields": json.dumps(
                            {"score": r["score"], "reasons": r["reasons"]}, ensure_ascii=False
                        ),
                    }
                    for r in plan.filter(pl.col("to_lead")).iter_rows(named=True)
                ]
            )
            stored = plan.select(
                pl.lit(run_id).alias("run_id"),
                "site_id",
                "run_site_id",
                pl.col("rank").cast(pl.Int32),
                "score",
                "category",
                "reasons",
                "evidence",
                "merge",
                "note",
            )
            # the records each site was listed with: its id survives a change of anchor
            kept = identity.place_records(plan).with_columns(pl.lit(run_id).alias("first_run"))
            self.con.register("_r", kept.to_arrow())
            self.con.execute("INSERT OR IGNORE INTO site_records SELECT * FROM _r")
            self.con.unregister("_r")
            self.con.register("_l", stored.to_arrow())
            self.con.execute("INSERT INTO run_leads SELECT * FROM _l")
            self.con.unregister("_l")
            counts = {
                k: int((plan["merge"] == k).sum())
                for k in ("new", "repeated", "escalated", "suppressed", "recurrence")
            }
            self.con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    self.con.execute("SELECT count(*) + 1 FROM runs").fetchall()[0][0],
                    at,
                    meta.get("as_of"),
                    meta.get("region"),
                    json.dumps(meta.get("inputs", []), ensure_ascii=False, default=str),
                    meta.get("config_hash"),
                    plan.height,
                    counts["new"],
                    counts["repeated"],
                    counts["escalated"],
                    counts["suppressed"],
                    counts["recurrence"],
                ],
            )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return MergeReport(run_id, False, counts, stored)

    # ------------------------------------------------------------------ merge logic

    def _match_sites(self, leads: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
        """Ledger ids for the run's sites (``identity.match``): the same id or the run id a
        ledger site was last listed under, else the ledger site sharing the most records
        (its anchor record changed, the place did not), else one within match_m where
        records cannot tell them apart. The run's own id stays in ``run_site_id``."""
        leads = leads.with_columns(pl.col("site_id").alias("run_site_id"))
        known = self._df(f"""
            SELECT s.site_id, l.run_site_id, s.lon, s.lat
            FROM sites s LEFT JOIN {LATEST_LEADS} l USING (site_id) ORDER BY s.site_id""")
        records = self.site_records()
        mapping = identity.match(
            leads.select("site_id", "lon", "lat"),
            identity.place_records(leads),
            known,
            records,
            cfg["match_m"],
        )
        return leads.with_columns(
            pl.col("site_id").replace(dict(mapping.select("site_id", "known").iter_rows()))
        )

    def _plan(self, leads: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
        """What each lead means for the ledger, without writing anything."""
        current = self.status().select("site_id", pl.col("status").alias("from_status"))
        last = self._df(f"""
            SELECT site_id, score AS last_score, reasons AS last_reasons FROM {LATEST_LEADS}""")
        cleared = self._df(f"""
            SELECT h.site_id, l.score AS cleared_score, l.reasons AS cleared_reasons
            FROM (SELECT * FROM history WHERE to_status = 'cleared'
                  QUALIFY row_number() OVER (PARTITION BY site_id ORDER BY seq DESC) = 1) h
            LEFT JOIN {LATEST_LEADS} l USING (site_id)""")
        p = (
            leads.join(current, on="site_id", how="left")
            .join(last, on="site_id", how="left")
            .join(cleared, on="site_id", how="left")
        )
        factor = cfg["escalate_factor"]

        def new_reasons(col: str) -> pl.Expr:
            # a lead held over a quiet night (scoring/hold.py) has no new reason for it
            now = pl.col("reasons").fill_null("").str.split(";").list.set_difference(["HELD"])
            before = pl.col(col).fill_null("").str.split(";")
            return now.list.set_difference(before).list.join(";")

        p = p.with_columns(
            new_reasons("last_reasons").alias("_new_vs_last"),
            new_reasons("cleared_reasons").alias("_new_vs_cleared"),
        )
        status = pl.col("from_status")
        higher = pl.col("score") >= factor * pl.col("last_score").fill_null(float("inf"))
        relist = (pl.col("_new_vs_cleared") != "") | (
            pl.col("score") >= factor * pl.col("cleared_score").fill_null(float("inf"))
        )
        merge = (
            pl.when(status.is_null())
            .then(pl.lit("new"))
            .when(status.is_in(["closed", "watched"]))
            .then(pl.lit("recurrence"))
            .when(status == "cleared")
            .then(pl.when(relist).then(pl.lit("escalated")).otherwise(pl.lit("suppressed")))
            .when((pl.col("_new_vs_last") != "") | higher)
            .then(pl.lit("escalated"))
            .otherwise(pl.lit("repeated"))
        )
        note = (
            pl.when(pl.col("merge") == "new")
            .then(pl.lit("新线索"))
            .when(pl.col("merge") == "recurrence")
            .then(pl.lit("已关闭场所恢复活动，疑似死灰复燃"))
            .when(pl.col("merge") == "suppressed")
            .then(pl.lit("已排除，本次无新理由，不再列出"))
            .when((pl.col("merge") == "escalated") & (status == "cleared"))
            .then(
                pl.format(
                    "已排除后再次列出：新理由{}，评分{}（排除时{}）",
                    pl.col("_new_vs_cleared"),
                    pl.col("score"),
                    pl.col("cleared_score"),
                )
            )
            .when(pl.col("merge") == "escalated")
            .then(
                pl.format(
                    "升级：新理由{}，评分{}（上次{}）",
                    pl.col("_new_vs_last"),
                    pl.col("score"),
                    pl.col("last_score"),
                )
            )
            .otherwise(pl.lit("重复列出"))
        )
        return p.with_columns(merge.alias("merge")).with_columns(
            note.alias("note"),
            # which leads move the site (back) to "lead": new sites, re-listed cleared ones,
            # and renewed activity at watched ones
            (
                pl.col("merge").is_in(["new", "recurrence"])
                | ((pl.col("merge") == "escalated") & (status == "cleared"))
            ).alias("to_lead"),
        )
