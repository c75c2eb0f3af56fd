"""Settings: one file, every key read, checked on load, frozen, and what inspectors read follows
the settings it names."""

import pickle
import re
import tomllib
from pathlib import Path

import pytest

from screening.scoring.anomaly import labels
from screening.scoring.rules import load_rules
from screening.settings import DEFAULT_CONFIG, ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def _code() -> str:
    """The product's code: the library (the sample generator aside) and the flows."""
    files = [*(REPO / "screening").rglob("*.py"), *(REPO / "flows").rglob("*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in files if "sample" not in p.parts)


def test_every_key_in_the_settings_file_is_read_by_the_code():
    with DEFAULT_CONFIG.open("rb") as fh:
        raw = tomllib.load(fh)
    # a rule's condition or sentence that names a setting ({features.household_jump_kwh})
    # reads it too (settings.fill_settings)
    named = "\n".join(r.get("when", "") + r.get("evidence", "") for r in raw.get("rules", []))
    code = _code() + named
    unread = []
    for section, values in raw.items():
        if section == "rules":
            continue  # each rule's keys are checked by load_rules
        for key in values:
            if not re.search(rf"""["'.]{key}\b""", code):
                unread.append(f"{section}.{key}")
    assert unread == []


def test_a_typo_or_a_wrong_type_is_one_clear_error(tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[power]\nrecent_dayz = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting power\.recent_dayz"):
        load_settings(typo)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[power]\nrecent_days = "7"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"power\.recent_days"):
        load_settings(wrong)
    moved = tmp_path / "moved.toml"  # night is defined once, in [night]
    moved.write_text("[power]\nnight_start_hour = 23\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting power\.night_start_hour"):
        load_settings(moved)
    for text, field in (
        ('[power]\nextra_days_off = ["2021-07-32"]\n', "extra_days_off"),
        ('[power]\ndays_off_country = "XX"\n', "days_off_country"),
    ):
        bad = tmp_path / "days_off.toml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"power\.{field}"):
            load_settings(bad)
    good = tmp_path / "good.toml"
    good.write_text("[sites]\nfar_m = 200\n[night]\nstart_hour = 23\n", encoding="utf-8")
    s = load_settings(good)
    assert s.sites.far_m == 200 and s.power["night_start_hour"] == 23
    assert s.vehicles.night_start_hour == 23 and s.source == good


def test_settings_are_frozen_and_travel_to_workers():
    s = load_settings()
    with pytest.raises((AttributeError, TypeError)):
        s.power.recent_days = 7  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.power["recent_days"] = 7  # type: ignore[index]
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.as_dict() == s.as_dict()
    changed = s.replace(power={"recent_days": 7})
    assert changed.power.recent_days == 7 and s.power.recent_days == 14


def _evidence(settings, code):
    return load_rules(settings).by_code[code].evidence


def test_evidence_sentences_follow_the_settings_they_name():
    s = load_settings()
    assert "近14天" in _evidence(s, "NIGHT_LOAD")
    assert "夜间（22时至次日6时）" in _evidence(s, "NIGHT_LOAD")
    assert "方圆1公里" in _evidence(s, "REMOTE_PLACE")
    changed = s.replace(
        power={"recent_days": 7},
        night={"start_hour": 23, "end_hour": 5},
        features={"remote_radius_m": 2000.0},
    )
    assert "近7天" in _evidence(changed, "NIGHT_LOAD")
    assert "夜间（23时至次日5时）" in _evidence(changed, "NIGHT_LOAD")
    assert "方圆2公里" in _evidence(changed, "REMOTE_PLACE")
    assert labels(changed)["businesses_within_radius"] == "周边2公里经营主体数"
    unfilled = [r.code for r in load_rules(s).rules if re.search(r"\{[a-z_]+\.[a-z_]+", r.evidence)]
    assert unfilled == []


def test_a_rule_can_be_changed_without_editing_a_file():
    s = load_settings()
    tuned = s.with_rule("PUBLIC_TIP", weight=0.5)
    assert load_rules(tuned).by_code["PUBLIC_TIP"].weight == 0.5
    assert load_rules(s).by_code["PUBLIC_TIP"].weight != 0.5
    with pytest.raises(ConfigError, match="no rule"):
        s.with_rule("NO_SUCH_RULE", weight=1.0)
