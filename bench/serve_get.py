"""GET / through `landingpad serve` (uWSGI HTTP, 2 processes): page cache on vs off.

Usage: .venv/bin/python bench/serve_get.py [--seconds 10]
Needs wrk (apt-get install wrk). Loopback only; each server is stopped by its pid.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import free_port, stop, wait_for_http

SITES = '[sites."coffee.test"]\nLANDING_TITLE = "Coffee Club"\nLANDING_INTERESTS = ["Beans"]\n'


def wrk(port: int, seconds: int, host: str = "coffee.test") -> float:
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-H", f"Host: {host}",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def measure(cache_size: int, seconds: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sites.toml").write_text(SITES)
        env = {**os.environ, "LANDINGPAD_DATA_DIR": tmp,
               "LANDINGPAD_PAGE_CACHE_SIZE": str(cache_size)}
        port = free_port()
        landingpad = Path(sys.executable).with_name("landingpad")
        proc = subprocess.Popen([str(landingpad), "serve", "--port", str(port),
                                 "--processes", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for_http(port, host="coffee.test")
            wrk(port, 2)  # warm up: every worker has rendered and cached the page
            return wrk(port, seconds)
        finally:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    cached = measure(4096, args.seconds)
    uncached = measure(0, args.seconds)
    print("| GET / through landingpad serve | req/s |\n|---|---|")
    print(f"| page cache on (fast path) | {cached:,.0f} |")
    print(f"| page cache off (render per request) | {uncached:,.0f} |")
    print(f"| ratio | {cached / uncached:.2f}x |")


if __name__ == "__main__":
    main()
