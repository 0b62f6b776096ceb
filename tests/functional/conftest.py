"""Shared fixtures for end-to-end tests: a running nginx -> uWSGI stack and a real Chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from landingpad.deploy.nginx import find_nginx
from landingpad.deploy.render import DeployOptions
from landingpad.deploy.stack import Stack
from tests.servers import free_port


def start_stack(data_dir: Path, env: dict[str, str], port: int | None = None,
                **options: Any) -> Stack:
    """nginx + uWSGI for the test's data dir on loopback (``stack.port``: a free one unless
    given, e.g. the port a test CA validates on)."""
    port = port or free_port()
    deploy = DeployOptions(deploy_dir=str(data_dir / "deploy"), data_dir=str(data_dir),
                           listen=f"127.0.0.1:{port}", processes=2,
                           sites_file=str(data_dir / "sites.toml"), **options)
    running = Stack(deploy, find_nginx(), env={**os.environ, **env})
    running.render(data_dir / "sites.toml")
    running.start()
    running.port = port
    return running


@pytest.fixture
def stack(cli_env, data_dir):
    running = start_stack(data_dir, {**cli_env, "LANDINGPAD_MIN_FILL_SECONDS": "0"},
                          signup_rate="30r/m", signup_burst=3)
    yield running
    running.stop()


