"""Screening for hidden illegal chemical workshops (非法违法小化工).

The public face of the library, for notebooks, benchmarks and scripts: import these rather
than the modules behind them, which may move.

    import screening
    settings = screening.load_settings()            # or load_settings("my.toml")
    report = screening.run("data/sample", "runs/sample", settings)
    screening.ingest_bundle("data/sample", "work/sample", settings)
    screening.build_sites("work/sample", settings)
    leads, reasons = screening.score_run("work/sample", settings)
    tuned = settings.with_rule("PUBLIC_TIP", weight=0.5)
    scored, reasons, leads = screening.rescore(features, tuned)

The stage functions are named apart from the stage packages (``screening.ingest`` is the
package, ``screening.ingest_bundle`` the call), so that importing a package never hides one.

The stages, in the order data passes through them (see README, "Architecture"):
ingest/ → signals/ → sites/ → scoring/ → ledger/ → export/, wired by pipeline/ and stored
by store/.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# the facade's names and where they live; imported on first use, so that `import screening`
# (and the CLI's start-up) stays light
_FACADE = {
    "run": ("screening.pipeline.steps", "run_screening"),
    "ingest_bundle": ("screening.ingest.bundle", "ingest_bundle"),
    "build_sites": ("screening.pipeline.run", "build_sites"),
    "score_run": ("screening.pipeline.run", "score_run"),
    "rescore": ("screening.pipeline.run", "rescore"),
    "rescore_run": ("screening.pipeline.run", "rescore_run"),
    "export_run": ("screening.pipeline.run", "export_run"),
    "summary_markdown": ("screening.pipeline.report", "summary_markdown"),
    "load_settings": ("screening.settings", "load_settings"),
    "Settings": ("screening.settings", "Settings"),
    "Warehouse": ("screening.store.warehouse", "Warehouse"),
    "warehouse_dir": ("screening.store.warehouse", "warehouse_dir"),
}

__all__ = [*_FACADE, "__version__"]


def __getattr__(name: str) -> Any:
    """Facade names resolve on first use."""
    if name in _FACADE:
        import importlib

        module, attr = _FACADE[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'screening' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
