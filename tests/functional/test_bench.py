"""The benchmark suite keeps working: CI runs its smoke mode (seconds, not a measurement)."""

import json
import subprocess
from pathlib import Path

import pytest
from bench.suite import KEYS

pytestmark = pytest.mark.functional
REPO = Path(__file__).resolve().parents[2]


def test_bench_smoke_run_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([str(REPO / "bench" / "run"), "--smoke", "--json", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["runs"]) == 1
    figures = report["median"]
    assert list(figures) == list(KEYS)
    for key in KEYS:
        if key not in ("add_domain_failed", "announce_duplicates"):
            assert figures[key] > 0, key
    assert figures["add_domain_failed"] == 0 and figures["announce_duplicates"] == 0
    assert "| goal | median | spread | met |" in result.stdout
