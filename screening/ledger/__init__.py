"""The ledger, the system of record across runs: runs and their leads, each site's lifecycle
and history (ledger.py), a run merged into it and what it teaches the next run (merge.py),
a team's returned sheet (outcomes.py), and one run at a time (locking.py)."""
