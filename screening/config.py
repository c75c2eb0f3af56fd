"""One readable settings file (screening/config.toml) and nothing tunable hard-coded.

An analyst copies the file, edits it and passes it with --config; unknown keys are an error
rather than silently ignored, so a typo in a threshold name cannot go unnoticed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")


class ConfigError(ValueError):
    pass


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"unknown setting {where}{key} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {where}{key} must be a table")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The default settings, overlaid with those in ``path`` when given."""
    with DEFAULT_CONFIG.open("rb") as fh:
        config = tomllib.load(fh)
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                config = _merge(config, tomllib.load(fh), "")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return config
