"""Lighthouse scores of the public pages, through the real stack (nginx -> uWSGI).

    .venv/bin/python -m bench.lighthouse [--json FILE]

Starts the demo's sites (landingpad.demo.DEMO_SITES) on a free loopback port and
runs Lighthouse (npm, `npm install` from the repository root) with one Chromium on
the landing, thanks and privacy pages, mobile and desktop presets, and prints the
four scores of each. Performance is a speed figure: reported here, not asserted by
the tests (tests/functional/test_lighthouse.py asserts the other three).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import free_port  # noqa: E402

from landingpad.demo import DEMO_SITES  # noqa: E402
from landingpad.deploy.nginx import find_nginx  # noqa: E402
from landingpad.deploy.render import DeployOptions  # noqa: E402
from landingpad.deploy.stack import Stack  # noqa: E402

RUNNER = REPO / "bench" / "lighthouse.mjs"
LIGHTHOUSE = REPO / "node_modules" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PRESETS = ("mobile", "desktop")
PAGES = ("/", "/thanks", "/privacy")
# Headless as Lighthouse expects, as root in a sandbox-less VM, and without Chromium's
# own calls home (this machine's network refuses them, many at once).
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--host-resolver-rules=MAP * 127.0.0.1")


def run_lighthouse(urls: Sequence[str], presets: Sequence[str] = PRESETS,
                   categories: Sequence[str] = CATEGORIES,
                   chrome: str | None = None, timeout: float = 900) -> list[dict]:
    """One entry per (preset, url): ``scores`` (0-100 by category) and ``failing`` audits."""
    if not LIGHTHOUSE.exists():
        raise FileNotFoundError(f"{LIGHTHOUSE} missing: run `npm install` (./run tests does)")
    spec = {"urls": list(urls), "presets": list(presets), "categories": list(categories),
            "chrome": chrome or os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            "flags": list(CHROME_FLAGS)}
    done = subprocess.run(["node", str(RUNNER)], input=json.dumps(spec), capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"lighthouse failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout)


@contextmanager
def demo_stack(work: Path, sites: str = DEMO_SITES) -> Iterator[int]:
    """The demo's sites behind nginx -> uWSGI, as `landingpad demo` runs them; yields the port."""
    data = work / "data"
    data.mkdir(mode=0o710)
    (data / "sites.toml").write_text(sites)
    env = {**os.environ, "LANDINGPAD_DATA_DIR": str(data),
           "LANDINGPAD_SITES": str(data / "sites.toml")}
    subprocess.run([str(Path(sys.executable).with_name("landingpad")), "db", "upgrade"],
                   env=env, check=True, capture_output=True)
    nginx = find_nginx()
    if not nginx:
        raise SystemExit("nginx not found: apt-get install nginx-light")
    port = free_port()
    options = DeployOptions(deploy_dir=str(data / "deploy"), data_dir=str(data),
                            listen=f"127.0.0.1:{port}", processes=2,
                            sites_file=str(data / "sites.toml"))
    stack = Stack(options, nginx, env=env)
    stack.render(data / "sites.toml")
    stack.start()
    try:
        yield port
    finally:
        stack.stop()


def lighthouse_figures(work: Path, smoke: bool = False) -> dict[str, float]:
    """bench/run's figure: the lowest performance score over the pages and presets
    (--smoke: the landing page, mobile, only)."""
    pages, presets = (PAGES[:1], PRESETS[:1]) if smoke else (PAGES, PRESETS)
    folder = work / "lighthouse"
    folder.mkdir()
    with demo_stack(folder) as port:
        results = run_lighthouse([f"http://coffee.localhost:{port}{path}" for path in pages],
                                 presets, categories=("performance",))
    for r in results:
        print(f"  lighthouse {r['preset']} {r['url']}: performance {r['scores']['performance']}",
              file=sys.stderr)
    return {"lighthouse_performance": float(min(r["scores"]["performance"] for r in results))}


def table(results: list[dict]) -> str:
    lines = ["| page | preset | " + " | ".join(CATEGORIES) + " |",
             "|---|---|" + "---|" * len(CATEGORIES)]
    for r in results:
        path = "/" + r["url"].split("/", 3)[3] if r["url"].count("/") >= 3 else r["url"]
        lines.append(f"| `{path}` | {r['preset']} | "
                     + " | ".join(str(r["scores"].get(c, "-")) for c in CATEGORIES) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the full results here")
    parser.add_argument("--site", default="coffee.localhost", help="one of the demo's sites")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="landingpad-lighthouse-") as work, \
            demo_stack(Path(work)) as port:
        results = run_lighthouse([f"http://{args.site}:{port}{path}" for path in PAGES])
    print(table(results))
    for r in results:
        for audit in r["failing"]:
            print(f"{r['preset']} {r['url']}: {audit['category']} {audit['id']} "
                  f"{audit['score']} {audit['value']}")
        for note in r["notes"]:
            print(f"{r['preset']} {r['url']}: note {note}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
