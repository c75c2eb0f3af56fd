"""What the product sets in the environment of every command it starts: Prefect (the nightly
flow and its temporary server) sends nothing off the machine, keeps its state in the
project, and waits long enough for its temporary server on a busy machine; a user who sets
one of these keeps theirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, os, sys
import {module}
from prefect.settings import get_current_settings
s = get_current_settings()
print(json.dumps({{
    "DO_NOT_TRACK": os.environ.get("DO_NOT_TRACK"),
    "analytics": s.server.analytics_enabled,
    "startup_timeout": s.server.ephemeral.startup_timeout_seconds,
    "home": str(s.home),
}}))
"""


def _probe(module: str, cwd: Path, **env: str) -> dict[str, object]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k not in ("DO_NOT_TRACK", "PYTHONPATH")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_nightly_flow_never_calls_out_by_default(tmp_path):
    got = _probe("flows.nightly", tmp_path)
    assert got == {
        "DO_NOT_TRACK": "1",
        "analytics": False,
        "startup_timeout": 120,
        "home": str(tmp_path / ".prefect"),
    }


def test_the_cli_sets_the_same_and_a_user_keeps_theirs(tmp_path):
    got = _probe(
        "screening.cli",
        tmp_path,
        PREFECT_SERVER_ANALYTICS_ENABLED="true",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
        PREFECT_HOME=str(tmp_path / "mine"),
    )
    assert got == {
        "DO_NOT_TRACK": "1",
        "analytics": True,
        "startup_timeout": 300,
        "home": str(tmp_path / "mine"),
    }
