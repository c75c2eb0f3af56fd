"""The bad-input corpus (tests/faults/corpus.py) through the product: every kind of fault
costs exactly what it breaks, is reported with file, row and field, keeps the counts
reconciled, and stops the run in one line only when the bundle cannot be screened.

The clean sample is screened once per session into a kept work directory; each fault group
is a copy of that directory and an incremental ingest of the faulty bundle (files whose
bytes did not change keep their stored parts), so a fault costs a small ingest, not a run.
The leads follow from the tables: a fault whose registers equal the clean ones minus the
rows it broke gives the clean leads minus what those rows held. One group is screened end
to end and compared with an oracle bundle that holds the same rows, cleanly."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.ingest import IngestReport, ingest_bundle
from screening.ledger.locking import work_lock
from screening.pipeline import RunReport, run_screening
from screening.schema import SOURCES
from screening.settings import load_settings
from screening.store import catalog
from screening.store.warehouse import Warehouse, part_of

from .faults.corpus import (
    DAILY,
    DAY30,
    FAULTS,
    QUARTER_CUT,
    REG,
    SAMPLE,
    TIPS,
    WIDE,
    Fault,
    bundle_for,
    groups,
    gz_rows_before_cut,
)

REGISTERS = [n for n, s in SOURCES.items() if not s.bulk]


@dataclass
class Clean:
    work: Path
    report: RunReport
    tables: dict[str, pl.DataFrame]
    kept: dict[str, int]  # bulk file -> readings stored
    rejected: set[tuple[str, str, int]]


def _registers(work: Path) -> dict[str, pl.DataFrame]:
    with Warehouse(work, read_only=True) as wh:
        return {n: wh.register(n) for n in REGISTERS}


def _bulk_kept(work: Path, files: pl.DataFrame) -> dict[str, int]:
    """Readings (fixes) stored per input file: its part is named by its content hash."""
    out = {}
    for r in files.filter(pl.col("source").is_in(["power_readings", "vehicle_tracks"])).iter_rows(
        named=True
    ):
        parts = [
            p
            for p in catalog.bulk_dir(work, r["source"]).glob("*.parquet")
            if part_of(p) == r["sha256"][:16]
        ]
        out[r["file"]] = pl.scan_parquet(parts).select(pl.len()).collect().item() if parts else 0
    return out


def _rejected(report: IngestReport) -> set[tuple[str, str, int]]:
    q = report.quarantined.filter(pl.col("row").is_not_null())
    return set(q.select("source", "file", "row").rows())


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> Clean:
    root = tmp_path_factory.mktemp("clean")
    report = run_screening(SAMPLE, root / "run", work_dir=root / "work")
    work = root / "work"
    return Clean(
        work,
        report,
        _registers(work),
        _bulk_kept(work, report.ingest.files),
        _rejected(report.ingest),
    )


def _copy_work(clean: Clean, to: Path) -> Path:
    shutil.copytree(clean.work, to)
    return to


def _without_rows(frame: pl.DataFrame, rows: tuple[int, ...]) -> pl.DataFrame:
    return frame.filter(~pl.col("source_row").is_in(list(rows)))


def _content(frame: pl.DataFrame) -> pl.DataFrame:
    """A register as the stages see it (where each row came from aside)."""
    return frame.drop("source_file").sort("source_row")


def check_reconciled(report: IngestReport, work: Path) -> None:
    """For every source and file: rows read = kept + quarantined + collapsed, and kept is
    what the warehouse holds for that file."""
    files = report.files.filter(pl.col("error").is_null())
    for r in files.iter_rows(named=True):
        assert r["rows_read"] == r["rows_kept"] + r["quarantined"] + r["duplicates_collapsed"], r
    # per source, over all its files (those unchanged since the last night as then read)
    per_source = report.files.group_by("source").agg(
        pl.col("rows_read", "rows_kept", "quarantined", "duplicates_collapsed").sum()
    )
    for s in per_source.iter_rows(named=True):
        assert s["rows_read"] == s["rows_kept"] + s["quarantined"] + s["duplicates_collapsed"], s
    kept = dict(zip(report.summary["source"], report.summary["rows_kept"], strict=True))
    assert {s["source"]: s["rows_kept"] for s in per_source.iter_rows(named=True)} == kept
    tables = _registers(work)
    for r in files.filter(pl.col("source").is_in(REGISTERS)).iter_rows(named=True):
        held = tables[r["source"]].filter(
            pl.col("source_file").str.split("#").list.first() == r["file"]
        )
        assert held.height == r["rows_kept"], r
    stored = _bulk_kept(work, files)
    for r in files.filter(~pl.col("source").is_in(REGISTERS)).iter_rows(named=True):
        assert stored[r["file"]] == r["rows_kept"], r


def _problem(
    report: IngestReport, where: tuple[str, int | None, str | None], severity: str
) -> None:
    file, row, field = where
    p = report.problems.filter((pl.col("file") == file) & (pl.col("severity") == severity)).filter(
        pl.col("row").is_null() if row is None else pl.col("row") == row
    )
    if field is not None:
        p = p.filter(pl.col("field") == field)
    assert p.height >= 1, (where, severity, report.problems.filter(pl.col("file") == file))


def check_fault(f: Fault, report: IngestReport, work: Path, clean: Clean) -> None:
    for where in f.rejected:
        _problem(report, where, "rejected")
    for where in f.warned:
        _problem(report, where, "warning")
    unread = set(report.unread["file"].to_list())
    assert set(f.unread) <= unread, (f.kind, unread)
    for src in f.lost:
        assert src in report.lost, (f.kind, report.lost)
    for src in f.absent:
        assert src in report.absent, (f.kind, report.absent)
    for note in f.notes:
        assert any(note in n for n in report.notes), (f.kind, report.notes)
    tables = _registers(work)
    for src, rows in f.gone.items():
        want = _content(_without_rows(clean.tables[src], rows))
        assert _content(tables[src]).equals(want), f.kind
    for src in f.same:
        assert _content(tables[src]).equals(_content(clean.tables[src])), f.kind
    stored = _bulk_kept(work, report.files.filter(pl.col("error").is_null()))
    for file, kept in f.kept.items():
        got = stored.get(file, 0)
        if kept == "cut":  # 96 readings a row before the cut, less the clean refusals
            rows = gz_rows_before_cut(file, QUARTER_CUT)  # (single cells in the sample)
            refused = len([1 for _, fl, r in clean.rejected if fl == file and r <= rows])
            assert got == 96 * rows - refused, (f.kind, got, rows)
        elif isinstance(kept, int) and kept < 0:  # that many fewer than the clean file
            assert got == clean.kept[file] + kept, (f.kind, got, clean.kept[file])
        else:
            assert got == kept, (f.kind, got)


# ------------------------------------------------------------------------ faults that pass

PASSING = [f for f in FAULTS if not f.exit]


@pytest.mark.parametrize("group", groups(PASSING), ids=lambda g: "+".join(f.kind for f in g))
def test_each_fault_costs_what_it_breaks(group: list[Fault], clean: Clean, tmp_path: Path):
    bundle = bundle_for(group, tmp_path / "bundle")
    work = _copy_work(clean, tmp_path / "work")
    force = any(f.force_as_of for f in group)
    report = ingest_bundle(bundle, work, load_settings(), incremental=True, force_as_of=force)
    assert report.blocking == [], report.blocking  # exit 0: the run would go on
    check_reconciled(report, work)
    for f in group:
        check_fault(f, report, work, clean)
    # nothing else broke: a row refused now that the clean sample did not refuse is one a
    # fault of the group names (or in a file a fault makes wholly unusable)
    named = {(fl, r) for f in group for fl, r, _ in f.rejected}
    whole = {fl for f in group if f.lost for fl in f.files}
    new = {(fl, r) for _, fl, r in _rejected(report) - clean.rejected if fl not in whole}
    assert new <= named, new - named


def test_the_issue_s_as_of_takeover_is_refused(clean: Clean, tmp_path: Path):
    """Without as_of in the manifest, a reading dated 2099 does not become the screening
    date: it is refused, and the date is the last day the readings cover."""
    fault = next(f for f in FAULTS if f.kind == "reading_dated_2099_without_as_of")
    bundle = bundle_for([fault], tmp_path / "b")
    report = ingest_bundle(bundle, _copy_work(clean, tmp_path / "w"), incremental=True)
    assert report.as_of == report.data_end == clean.report.ingest.as_of


# ------------------------------------------------------------------------ faults that stop


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.exit], ids=lambda f: f.kind)
def test_an_unscreenable_bundle_stops_in_one_line(fault: Fault, clean: Clean, tmp_path: Path):
    bundle = bundle_for([fault], tmp_path / "bundle")
    work = _copy_work(clean, tmp_path / "work")
    out = tmp_path / "run"
    args = ["run", "--input", str(bundle), "--out", str(out), "--work", str(work)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output
    assert fault.message in result.output, result.output
    assert not (out / "leads.csv").exists()


# ------------------------------------------------------------------------ end to end

ORACLE_FAULTS = (
    "csv_extra_field",
    "csv_cp1252_byte",
    "csv_bad_byte_utf8",
    "wide_row_extra_field",
    "truncated_parquet",
    "gps_day_replaced_by_garbage",
    "cr_only_line_ends",
    "crlf_line_ends",
)


def _oracle(out: Path) -> Path:
    """The sample with exactly the rows and files those faults break removed, cleanly."""
    shutil.copytree(SAMPLE, out)
    for name, row in ((REG, 10), (TIPS, 24), ("sanctioned_sites.csv", 3), (WIDE, 50)):
        path = out / name
        lines = path.read_bytes().split(b"\n")
        del lines[row]
        path.write_bytes(b"\n".join(lines))
    (out / DAILY).unlink()
    (out / DAY30).unlink()
    return out


def test_leads_are_the_clean_ones_minus_what_the_faults_removed(clean: Clean, tmp_path: Path):
    faults = [f for f in FAULTS if f.kind in ORACLE_FAULTS]
    faulty = run_screening(
        bundle_for(faults, tmp_path / "faulty"),
        tmp_path / "run_faulty",
        work_dir=_copy_work(clean, tmp_path / "work_faulty"),
    )
    oracle = run_screening(
        _oracle(tmp_path / "oracle"),
        tmp_path / "run_oracle",
        work_dir=_copy_work(clean, tmp_path / "work_oracle"),
    )
    a = (tmp_path / "run_faulty" / "leads.csv").read_bytes()
    b = (tmp_path / "run_oracle" / "leads.csv").read_bytes()
    assert a == b
    # a whole list: every line of evidence is present, so each lead has a rule naming it
    assert faulty.leads.height == oracle.leads.height >= 30
    assert (faulty.leads["rule_score"] > 0).all()
    # and the loss is seen: the unread files in the summary, with their readings' cost
    summary = (tmp_path / "run_faulty" / "run_summary.md").read_text(encoding="utf-8")
    assert f"**{DAILY}** (power_readings) not read" in summary
    assert f"**{DAY30}** (vehicle_tracks) not read" in summary


def test_lost_sources_are_shown_with_their_silent_rules(clean: Clean, tmp_path: Path):
    faults = [f for f in FAULTS if f.kind in ("optional_empty_file", "optional_header_only")]
    bundle = bundle_for(faults, tmp_path / "b")
    out = tmp_path / "run"
    args = ["run", "--input", str(bundle), "--out", str(out)]
    args += ["--work", str(_copy_work(clean, tmp_path / "w"))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: tips.csv not read: empty file" in result.output
    assert "warning: tips lost" in result.output and "rules silent: PUBLIC_TIP" in result.output
    assert "sanctioned_sites lost" in result.output
    summary = (out / "run_summary.md").read_text(encoding="utf-8")
    assert "Rules silent because tips was lost" in summary
    assert "Rules silent because sanctioned_sites was lost" in summary
    assert "**tips.csv** (tips) not read: empty file" in summary


def test_nothing_dated_after_as_of_is_screened(clean: Clean, tmp_path: Path):
    """Screened on 2021-07-06, registrations established, accounts opened and tips received
    later do not exist yet: they stay in the warehouse and count nowhere."""
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLE, bundle)
    manifest = bundle / "manifest.toml"
    manifest.write_text(
        manifest.read_text("utf-8").replace("2021-08-31", "2021-07-06"), encoding="utf-8"
    )
    work = _copy_work(clean, tmp_path / "w")
    report = run_screening(bundle, tmp_path / "run", work_dir=work)
    later = report.sites.after_as_of
    assert later.get("registrations", 0) > 0 and later.get("power_accounts", 0) > 0, later
    assert later.get("tips", 0) > 0, later
    with Warehouse(work, read_only=True) as wh:
        stored = wh.table("registrations")
        features = wh.table("site_features")
    assert (
        stored.filter(pl.col("established") > pl.date(2021, 7, 6)).height == later["registrations"]
    )
    assert features.filter(pl.col("latest_established") > pl.date(2021, 7, 6)).height == 0
    summary = (tmp_path / "run" / "run_summary.md").read_text(encoding="utf-8")
    assert "dated after 2021-07-06, left out of this screening" in summary


# ------------------------------------------------------------------------ same bytes


def test_same_inputs_same_bytes_run_after_run_and_across_partitions(clean: Clean, tmp_path):
    """Two fresh runs, and one over three partitions, write byte-identical lead files."""
    first = tmp_path / "a"
    run_screening(SAMPLE, first)
    three = load_settings().replace(scale={"partitions": 3})
    run_screening(SAMPLE, tmp_path / "b", three)
    kept = clean.report.run_dir
    for name in ("leads.csv", "leads.parquet"):
        ref = (first / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() == ref, name
        assert (kept / name).read_bytes() == ref, name  # the incremental night: the same


# ------------------------------------------------------------------------ output faults


def _run(tmp_path: Path, clean: Clean, out: Path, ledger: Path | None = None):
    args = ["run", "--input", str(SAMPLE), "--out", str(out)]
    args += ["--work", str(_copy_work(clean, tmp_path / f"w{time.monotonic_ns()}"))]
    if ledger is not None:
        args += ["--ledger", str(ledger)]
    return CliRunner().invoke(app, args)


def _one_line(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    for w in words:
        assert w in result.output, result.output


def test_read_only_output_folder_stops_before_the_ledger(clean, tmp_path, monkeypatch):
    out = tmp_path / "locked_out"
    out.mkdir()
    ledger = tmp_path / "ledger.duckdb"
    real = os.fsync

    def refuse(fd: int) -> None:  # root writes anywhere: the folder refuses like a RO mount
        if str(out) in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EROFS, "Read-only file system", str(out))
        real(fd)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "fsync", refuse)
    else:
        out.chmod(0o555)
    result = _run(tmp_path, clean, out, ledger)
    _one_line(result, "cannot write to", str(out))
    assert not ledger.exists()  # nothing recorded for a run that could not write its leads


def test_full_disk_is_one_line(clean, tmp_path):
    """A 1 MB tmpfs as the output folder: the run stops in one line before any work."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = _run(tmp_path, clean, mnt / "run")
        _one_line(result, "no space left on the disk")
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_filling_during_the_ingest_is_one_line(clean, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.parquet"))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    work = tmp_path / "w"
    args = ["run", "--input", str(SAMPLE), "--out", str(tmp_path / "run"), "--work", str(work)]
    _one_line(CliRunner().invoke(app, args), "no space left on the disk")


def test_over_long_file_name_is_one_line(clean, tmp_path):
    result = _run(tmp_path, clean, tmp_path / ("x" * 300))
    _one_line(result, "file name too long")


def test_warehouse_held_by_another_program_is_one_line(clean, tmp_path):
    work = _copy_work(clean, tmp_path / "held")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(120)",
            str(catalog.warehouse_db(work)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        args = ["run", "--input", str(SAMPLE), "--out", str(tmp_path / "r"), "--work", str(work)]
        result = CliRunner().invoke(app, args)
        _one_line(result, "is open in another program", f"PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def test_a_second_run_on_a_shared_work_directory_refuses(clean, tmp_path):
    """No ledger to lock: the work directory's own lock keeps a second run out."""
    work = _copy_work(clean, tmp_path / "shared")
    with work_lock(work):
        args = ["run", "--input", str(SAMPLE), "--out", str(tmp_path / "r"), "--work", str(work)]
        result = CliRunner().invoke(app, args)
    _one_line(result, "another screening run is using", str(work))


def _screen_shuffled(work: Path, seed: int | None) -> pl.DataFrame:
    """The stages after the ingest with every input they take in an order of ``seed``'s
    choosing (None: as stored): readings, tracks, registers, and each stage's result
    before the next stage takes it."""
    import datetime as dt

    from screening.pipeline.run import rescore
    from screening.signals import places as place_mod
    from screening.signals import power as power_mod
    from screening.signals import registry as reg_mod
    from screening.signals import vehicles as veh_mod
    from screening.sites import collect, features, linking

    def s(frame: pl.DataFrame) -> pl.DataFrame:
        return frame if seed is None else frame.sample(fraction=1.0, shuffle=True, seed=seed)

    cfg = load_settings()
    with Warehouse(work, read_only=True) as wh:
        as_of = dt.date.fromisoformat(wh.meta()["as_of"])
        tables = {n: s(wh.register(n)) for n in REGISTERS}
        townships = wh.table("townships")
        faults = s(wh.rejected_per_key("power_readings", "account_id", "meter_faults"))
        readings = s(wh.scan_bulk("power_readings").collect()).lazy()
        end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        tracks = s(wh.scan_bulk("vehicle_tracks").filter(pl.col("ts") < end).collect()).lazy()
    meters = s(power_mod.meter_signals(readings, as_of, cfg.power))
    power = power_mod.with_peers(meters, tables["power_accounts"].lazy(), cfg.power)
    power = s(power.join(faults, on="account_id", how="left").fill_null(0))
    stays = s(
        place_mod.cluster(s(veh_mod.stay_points(tracks, cfg.vehicles).collect()), cfg.vehicles)
    )
    places = s(place_mod.place_features(stays, tables["vehicles"], cfg.vehicles))
    regs = reg_mod.registration_signals(tables["registrations"], as_of, cfg.registry)
    regs = s(regs.with_columns(collect.registration_ids(regs).alias("record_id")))
    permits = s(reg_mod.permit_state(tables["permits"], as_of))
    holders = s(reg_mod.permits_by_holder(permits))
    links, sites = linking.link(collect.records(tables, places, cfg.sites), cfg.sites)
    sites = s(linking.assign_townships(s(sites), townships))
    table = features.site_features(
        sites, s(links), tables, regs, permits, holders, power, places, as_of, cfg.features
    )
    return rescore(s(table), cfg)[2]


def test_no_stage_depends_on_the_order_rows_arrive_in(clean: Clean):
    """The root of "same inputs, other scores": joins, group-bys and scans return rows in
    whatever order their threads finish, and a stage that took the first of equals, summed
    floats in that order, or grew an isolation forest on rows in that order gave other
    figures run to run. Shuffled at every stage boundary, the lead list is the same."""
    assert _screen_shuffled(clean.work, 7).equals(_screen_shuffled(clean.work, None))
