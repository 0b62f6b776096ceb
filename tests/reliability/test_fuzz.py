"""Short atheris runs (coverage-guided fuzzing) of the parsers that take outside input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import record

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.mark.parametrize(("target", "runs"), [("sites_file", 20000), ("host", 20000),
                                              ("signup_form", 3000)])
def test_fuzzing_finds_no_crash(target, runs, soak, tmp_path):
    runs = runs * 20 if soak else runs
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_targets.py"), target, f"-runs={runs}",
         "-max_len=4096", "-seed=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {runs} runs" in result.stderr
    record(f"fuzz_{target}", {"runs": runs, "crashes": 0})
