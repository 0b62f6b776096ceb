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
    # The HTTPS figures (issue 18): handshakes both ways, resumed ones, the certificates'
    # memory (a difference: may be 0.0 but is a number) and issuing from pebble.
    for key in ("tls_handshakes_rps", "tls_static_handshakes_rps", "tls_resumed_rps",
                "tls_static_resumed_rps", "tls_issue_s"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert isinstance(figures["nginx_10k_certs_mb"], float)
    for goal in ("tls_handshakes_rps >= 0.5 x tls_static_handshakes_rps",
                 "tls_resumed_rps >= 0.9 x tls_static_resumed_rps",
                 "nginx_10k_certs_mb <= 10", "tls_issue_s <= 1"):
        assert f"| {goal} |" in result.stdout, goal


def test_bench_only_runs_the_parts_it_needs(tmp_path):
    """`--only` measures just the keys named (here: issuing from pebble, a few seconds)
    and judges only the goals made of them."""
    out = tmp_path / "bench.json"
    result = subprocess.run([str(REPO / "bench" / "run"), "--smoke", "--only", "tls_issue_s",
                             "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["median"]) == ["tls_issue_s"]
    assert report["runs"][0]["tls_issue_s"] > 0
    assert "| tls_issue_s <= 1 |" in result.stdout
    assert "static_rps" not in result.stdout
    bad = subprocess.run([str(REPO / "bench" / "run"), "--only", "no_such_key"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown key" in bad.stderr
