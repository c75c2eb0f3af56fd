"""One readable settings file (screening/config.toml), loaded once per command into a frozen
``Settings`` object that is passed down to every stage.

An analyst copies the file, edits it and passes it with --config. A key the defaults do not
have is an error, and so is a value of another type than the default's (a threshold written
as "0.5" in quotes, a window as 14.5 days), so that a typo cannot be silently ignored or
change what a rule means. Settings are frozen so that no stage can change what another
stage sees; an analyst who wants another value makes a new object (``replace``,
``with_rule``), as the rule-tuning notebook does.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import holidays

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")

# What every command the product starts sets in its environment unless the user has: Prefect
# (the nightly flow, its temporary API server) never calls out, keeps its state in the
# project rather than in the user's home, and waits long enough for its temporary server on
# a busy machine (Prefect's 20 s are not enough on 2 loaded cores).
PREFECT_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def prefect_environment(home: Path | None = None) -> dict[str, str]:
    """Set the defaults above and PREFECT_HOME (``home``, default ``./.prefect``) where the
    environment does not already name them; a user who exports one keeps theirs. Called at
    the CLI's start and before the nightly flow imports Prefect. Returns what it set."""
    import os

    wanted = {**PREFECT_ENVIRONMENT, "PREFECT_HOME": str(home or Path.cwd() / ".prefect")}
    done = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(done)
    return done


SECTIONS = (
    "ingest",
    "night",
    "power",
    "vehicles",
    "sites",
    "registry",
    "features",
    "scoring",
    "ledger",
    "learning",
    "scale",
    "map",
)


# sections whose stages need the campaign's night (22:00-06:00 by default)
NIGHT_USERS = ("power", "vehicles")


class ConfigError(ValueError):
    pass


def _night_keys(night: Mapping[str, Any]) -> dict[str, Any]:
    return {"night_start_hour": night["start_hour"], "night_end_hour": night["end_hour"]}


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return Section(value)
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thawed(v) for v in value]
    return value


class Section(Mapping[str, Any]):
    """A read-only table of settings: ``section["key"]`` or ``section.key``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", {k: _frozen(v) for k, v in values.items()})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("settings are frozen: use Settings.replace")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Section({self._values!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled to Dask workers
        return (Section, (_thawed(self),))


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def _check_days_off(power: Mapping[str, Any]) -> None:
    """The calendar is read on every night's signals: a misspelt date or country must stop
    the command at once, in one line, not fail on a partition an hour later."""
    country = power.get("days_off_country", "")
    if country and country not in holidays.list_supported_countries():
        raise ConfigError(f"setting power.days_off_country: no holiday calendar for {country!r}")
    for day in power.get("extra_days_off", []):
        try:
            dt.date.fromisoformat(str(day))
        except ValueError:
            raise ConfigError(
                f"setting power.extra_days_off: {day!r} is not a date (YYYY-MM-DD)"
            ) from None


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"unknown setting {where}{key} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {where}{key} must be a table")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        elif key == "rules" and not where:
            out[key] = value  # the rule list is replaced whole; load_rules checks each rule
        else:
            if not _same_kind(base[key], value):
                raise ConfigError(
                    f"setting {where}{key} = {value!r} must be a {type(base[key]).__name__} "
                    f"like the default {base[key]!r}"
                )
            out[key] = value
    return out


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """Every tunable setting of a run, by section (``settings.power`` or
    ``settings["power"]``). ``source`` is the user's file (None: the defaults)."""

    ingest: Section
    night: Section
    power: Section
    vehicles: Section
    sites: Section
    registry: Section
    features: Section
    scoring: Section
    ledger: Section
    learning: Section
    scale: Section
    map: Section
    rules: tuple[Section, ...]
    source: Path | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: Path | None = None) -> Settings:
        missing = [s for s in (*SECTIONS, "rules") if s not in raw]
        if missing:
            raise ConfigError(f"settings lack {', '.join(missing)}")
        sections = {s: dict(raw[s]) for s in SECTIONS}
        _check_days_off(sections["power"])
        for name in NIGHT_USERS:  # night is defined once, in [night]; the stages read it here
            sections[name].update(_night_keys(raw["night"]))
        return cls(
            **{s: Section(v) for s, v in sections.items()},
            rules=tuple(Section(r) for r in raw["rules"]),
            source=source,
        )

    def __getitem__(self, name: str) -> Any:
        """``settings["power"]``: stages take the whole or their section as a mapping."""
        if name not in (*SECTIONS, "rules"):
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter((*SECTIONS, "rules"))

    def __len__(self) -> int:
        return len(SECTIONS) + 1

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists, as the file reads: what run keys are hashed from."""
        out = {s: _thawed(getattr(self, s)) for s in SECTIONS}
        for name in NIGHT_USERS:
            for key in _night_keys(out["night"]):
                out[name].pop(key, None)
        out["rules"] = _thawed(self.rules)
        return out

    def replace(self, **changes: Mapping[str, Any]) -> Settings:
        """A copy with some values changed, checked like a settings file:
        ``settings.replace(scoring={"min_score": 0.0})``."""
        return Settings.from_dict(_merge(self.as_dict(), dict(changes), ""), self.source)

    def with_rule(self, code: str, **changes: Any) -> Settings:
        """A copy with one rule changed (its weight, condition or evidence)."""
        rules = self.as_dict()["rules"]
        hit = [r for r in rules if r["code"] == code]
        if not hit:
            raise ConfigError(f"no rule {code}")
        hit[0].update(changes)
        return self.replace(rules=rules)


def _defaults() -> dict[str, Any]:
    with DEFAULT_CONFIG.open("rb") as fh:
        return tomllib.load(fh)


def load_settings(path: Path | str | None = None) -> Settings:
    """The default settings, overlaid with those in ``path`` when given."""
    config = _defaults()
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                config = _merge(config, tomllib.load(fh), "")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return Settings.from_dict(config, Path(path) if path is not None else None)


def settings_of(value: Settings | Mapping[str, Any] | Path | str | None) -> Settings:
    """Library entry points take loaded settings, a path (notebooks, benches) or the plain
    dicts of ``load_config`` as a script edited them; anything but Settings is turned into
    Settings here, once, and the object passed on."""
    if isinstance(value, Settings):
        return value
    if isinstance(value, Mapping):
        return Settings.from_dict(value)
    return load_settings(value)


def load_config(path: Path | str | None = None) -> dict[str, Any]:
    """The settings as plain nested dicts, as the stages see them (night hours included in
    the sections that use them), for scripts that edit a copy and pass it back."""
    settings = load_settings(path)
    out = {s: _thawed(getattr(settings, s)) for s in SECTIONS}
    out["rules"] = _thawed(settings.rules)
    return out


_SETTING_FIELD = re.compile(r"\{([a-z_]+)\.([a-z_]+)(?::(km|h|))?\}")


def fill_settings(template: str, settings: Settings | Mapping[str, Any]) -> str:
    """Settings named in a sentence (``{power.recent_days}``, ``{features.remote_radius_m:km}``,
    ``{night.start_hour}``) replaced by their values, so that a changed window or radius
    changes what inspectors read. ``:km`` writes metres as kilometres. Other fields (a
    site's own figures, ``{night_share:.0%}``) are left for the rule's template."""

    def value(m: re.Match[str]) -> str:
        section, key, unit = m.group(1), m.group(2), m.group(3) or ""
        try:
            v = settings[section][key]
        except KeyError:
            raise ConfigError(f"unknown setting {section}.{key} in {template!r}") from None
        if unit == "km":
            v = v / 1000
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v)

    return _SETTING_FIELD.sub(value, template)
