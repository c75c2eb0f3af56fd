"""The store: the warehouse (one DuckDB file plus Parquet parts; the only database I/O) and
the catalog of every file name in a run folder and a work directory."""
