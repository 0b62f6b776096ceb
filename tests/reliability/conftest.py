"""The fault and abuse suite: short in CI; ``pytest --soak`` runs the long variants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.functional.conftest import start_stack
from tests.unit.admin.conftest import app, logged_in, login  # noqa: F401 - with an admin host
from tests.unit.signup.conftest import token  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / "test-artifacts" / "reliability.json"


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--soak"))


def record(name: str, figures: dict) -> None:
    """Keep the figures of the last run for docs/reliability.md."""
    FIGURES.parent.mkdir(exist_ok=True)
    found = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    found[name] = figures
    FIGURES.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def open_stack(cli_env, data_dir):
    """The stack with the app's own sign-up limit out of the way (load from one client)."""
    running = start_stack(data_dir, {**cli_env, "LANDINGPAD_MIN_FILL_SECONDS": "0",
                                     "LANDINGPAD_SIGNUP_RATE": "1000000/minute"},
                          signup_rate="600000r/m", signup_burst=100000, cache_seconds=0)
    yield running
    running.stop()
