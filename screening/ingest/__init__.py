"""Ingest: an agency bundle (csv, csv.gz, parquet, xlsx; UTF-8 or GB18030; canonical or
Chinese headers) into typed tables in the warehouse, with every refused row in the problems
table. ``ingest_bundle`` is the entry point; the modules beside it are its steps:
readers (files, formats, encodings) → headers → parse (values as agencies write them) →
staging (checks per source) → series / increment (bulk readings and tracks in batches)."""

from screening.ingest.bundle import IngestReport, clear_workdir, ingest_bundle
from screening.ingest.problems import IngestError

__all__ = ["IngestError", "IngestReport", "clear_workdir", "ingest_bundle"]
