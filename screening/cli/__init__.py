"""The `screening` command: `main` holds the app and the screening commands, `ledger` the
ledger's sub-commands, `nightly` the Prefect flow's (once or served). Each command is one
call into the library; these modules only parse arguments and print."""

from screening.cli import ledger as _ledger  # noqa: F401  (registers `screening ledger …`)
from screening.cli import nightly as _nightly  # noqa: F401  (registers nightly and serve)
from screening.cli.main import app, main

__all__ = ["app", "main"]
