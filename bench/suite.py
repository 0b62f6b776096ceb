"""landingpad's benchmarks: the project's numbers beside the seed's, measured in one run.

Run through `bench/run` (see bench/README.md). Everything listens on loopback and is
stopped by its own pid. All HTTP figures go through the same nginx and the same uWSGI
settings (2 processes), with wrk at 32 connections.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import free_port, request  # noqa: E402

from bench.bounces import bounce_figures  # noqa: E402
from bench.lighthouse import lighthouse_figures  # noqa: E402
from bench.nginx_memory import build, measure  # noqa: E402
from bench.tls import tls_issue_figures, tls_nginx_figures  # noqa: E402
from landingpad.deploy.nginx import find_nginx  # noqa: E402
from landingpad.deploy.render import DeployOptions  # noqa: E402
from landingpad.deploy.stack import Stack  # noqa: E402

KEYS = ("static_rps", "cached_rps", "app_rps", "bare_wsgi_rps", "naive_rps", "signup_rps",
        "naive_signup_rps", "signup_p99_ms", "app_rss_10k_domains_mb", "app_rss_10k_peak_mb",
        "nginx_10k_domains_mb", "nginx_t_10k_s", "announce_mps", "announce_duplicates",
        "add_domain_live_s", "add_domain_failed", "tls_handshakes_rps",
        "tls_static_handshakes_rps", "tls_resumed_rps", "tls_static_resumed_rps",
        "nginx_10k_certs_mb", "tls_issue_s", "bounces_per_s", "lighthouse_performance")

# Which keys each part of the suite measures (`--only` runs just the parts it needs).
PARTS: dict[str, tuple[str, ...]] = {
    "http": ("static_rps", "cached_rps", "app_rps", "bare_wsgi_rps", "naive_rps",
             "signup_rps", "naive_signup_rps", "signup_p99_ms"),
    "add_domain": ("add_domain_live_s", "add_domain_failed"),
    "announce": ("announce_mps", "announce_duplicates"),
    "memory": ("app_rss_10k_domains_mb", "app_rss_10k_peak_mb", "nginx_10k_domains_mb",
               "nginx_t_10k_s"),
    "tls_nginx": ("tls_handshakes_rps", "tls_static_handshakes_rps", "tls_resumed_rps",
                  "tls_static_resumed_rps", "nginx_10k_certs_mb"),
    "tls_issue": ("tls_issue_s",),
    "bounces": ("bounces_per_s",),
    "lighthouse": ("lighthouse_performance",),
}
assert sorted(k for keys in PARTS.values() for k in keys) == sorted(KEYS)

SITES = """\
[sites."coffee.test"]
LANDING_TITLE = "Coffee Club"
LANDING_EMAIL = "owner@coffee.example.com"
LANDING_INTERESTS = ["Beans", "Brewing gear", "Workshops"]
[sites."bikes.test"]
LANDING_TITLE = "Bike Collective"
"""

SIGNUP_LUA = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local body = "email=u" .. id .. "x" .. counter
    .. "%%40example.com&interests=Beans&consent=y&token=%s"
  return wrk.format("POST", "/signup", {["Host"] = "coffee.test",
    ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def wrk(port: int, path: str, seconds: int, script: Path | None = None) -> dict[str, float]:
    # Each load starts on a quiet disk: what earlier loads left to write (request logs,
    # ~100 MB after the GET loads) is written now, not by the kernel during this one,
    # where it took CPU from whichever window it fell in and made fsyncs wait.
    os.sync()
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-H", "Host: coffee.test"]
    if script:
        args += ["-s", str(script)]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    if failed:
        raise RuntimeError(f"wrk saw {failed} failed requests on {path}:\n{out}")
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale[p99.group(2)]}


class Bench:
    def __init__(self, work: Path, seconds: int, domains: int) -> None:
        self.work, self.seconds, self.domains = work, seconds, domains
        self.data = work / "data"
        self.data.mkdir()
        (self.data / "sites.toml").write_text(SITES)
        self.port = free_port()
        self.env = {**os.environ, "LANDINGPAD_DATA_DIR": str(self.data),
                    "LANDINGPAD_MIN_FILL_SECONDS": "0", "BENCH_NAIVE_DB": str(work / "naive.db"),
                    # One client makes every request: the limiter runs (its cost is
                    # measured) but never says no.
                    "LANDINGPAD_SIGNUP_RATE": "1000000000/minute",
                    "BENCH_PAGE": str(work / "page.html"),
                    "BENCH_PAGE_HEADERS": str(work / "page-headers.json"),
                    # This checkout's landingpad first (a worktree's venv may hold another's
                    # editable install), then the repo for bench.* modules.
                    "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
        subprocess.run([str(Path(sys.executable).with_name("landingpad")), "db", "upgrade"],
                       env=self.env, check=True, capture_output=True)
        self.nginx = find_nginx()
        if not self.nginx:
            raise SystemExit("nginx not found: apt-get install nginx-light")

    def stack(self, cache_seconds: int, module: str | None = None, port: int | None = None,
              name: str = "deploy", threads: int | None = None) -> Stack:
        options = DeployOptions(deploy_dir=str(self.data / name), data_dir=str(self.data),
                                listen=f"127.0.0.1:{port or self.port}", processes=2,
                                cache_seconds=cache_seconds, signup_rate="1000000r/s",
                                signup_burst=100000,
                                sites_file=str(self.data / "sites.toml"))
        stack = Stack(options, self.nginx, env=self.env)
        stack.render(self.data / "sites.toml")
        if module:  # the same uWSGI settings, another app
            ini = stack.deploy_dir / "uwsgi.ini"
            ini.write_text(ini.read_text().replace("module = landingpad.wsgi:app",
                                                   f"module = {module}\npythonpath = {REPO}"))
        if threads is not None:  # the seed's own uWSGI settings for its baselines
            ini = stack.deploy_dir / "uwsgi.ini"
            ini.write_text(re.sub(r"(?m)^threads = \d+$", f"threads = {threads}",
                                  ini.read_text()))
        stack.start()
        return stack

    def run(self, stack: Stack, body: Callable[[], dict]) -> dict:
        try:
            return body()
        finally:
            stack.stop()

    def load(self, path: str, script: Path | None = None) -> dict[str, float]:
        wrk(self.port, path, 1, script)  # warm up every worker and the caches
        return wrk(self.port, path, self.seconds, script)

    def signup_script(self, token: str, name: str) -> Path:
        path = self.work / f"{name}.lua"
        path.write_text(SIGNUP_LUA % token)
        return path

    def http_figures(self) -> dict[str, float]:
        r: dict[str, float] = {}

        def landingpad_cached() -> dict:
            status, headers, page = request(self.port, "GET", "/", "coffee.test")
            assert status == 200
            (self.work / "page.html").write_bytes(page)
            # The bare callable answers with the same response: body and the app's headers.
            skip = {"date", "server", "connection", "x-cache-status", "transfer-encoding",
                    "content-length"}
            (self.work / "page-headers.json").write_text(json.dumps(
                [[k, v] for k, v in headers.items() if k not in skip]))
            # The same bytes as a static file, served by the same nginx.
            (self.data / "deploy" / "www" / "page.html").write_bytes(page)
            log("static file")
            r["static_rps"] = self.load("/page.html")["rps"]
            log("landing page, micro-cache on")
            r["cached_rps"] = self.load("/")["rps"]
            token = page.split(b'name="token" value="')[1].split(b'"')[0].decode()
            log("sign-ups (SQLite WAL, synchronous=FULL)")
            result = self.load("/signup", self.signup_script(token, "signup"))
            r["signup_rps"], r["signup_p99_ms"] = result["rps"], result["p99_ms"]
            return r

        self.run(self.stack(cache_seconds=1), landingpad_cached)
        r.update(self.app_path_figures())
        # One thread per process, as the seed ran: its handler opens a rollback-journal
        # database per request, and with landingpad's threads its writers sleep in
        # SQLite's busy handler past wrk's 2 s timeout (a worse baseline, not a fair one).
        naive = self.stack(0, "bench.naive_app:app", threads=1)
        log("seed-style sign-up handler")
        r["naive_signup_rps"] = self.run(naive, lambda: self.load(
            "/signup", self.signup_script("-", "naive")))["rps"]
        return r

    def app_path_figures(self) -> dict[str, float]:
        """GET / through the app (cache off), a bare WSGI callable and the naive view.

        The three stacks run side by side (an idle one costs nothing) and are loaded in
        turn, A B C C B A, for one-second windows, as many rounds as it takes to give each
        about the load time: a drift of the machine's speed during the run then weighs on
        all three alike, each ratio compares loads taken minutes apart no more, and a
        window's luck (which process the scheduler favoured) is averaged over many.
        """
        sides = {"app_rps": (None, "deploy-app"), "bare_wsgi_rps": ("bench.bare_wsgi:app",
                                                                    "deploy-bare"),
                 "naive_rps": ("bench.naive_app:app", "deploy-naive")}
        stacks: dict[str, tuple[Stack, int]] = {}
        try:
            for key, (module, name) in sides.items():
                port = free_port()
                # The seed's view with the seed's settings (one thread), as for its sign-ups.
                threads = 1 if key == "naive_rps" else None
                stacks[key] = (self.stack(0, module, port=port, name=name, threads=threads),
                               port)
                wrk(port, "/", 1)  # warm up every worker and the caches
            rounds = max(1, math.ceil(self.seconds / 2))
            rates: dict[str, list[float]] = {key: [] for key in sides}
            log(f"GET / (app, bare_wsgi, naive): {rounds} rounds of 1 s windows")
            for key in [*sides, *reversed(sides)] * rounds:
                rates[key].append(wrk(stacks[key][1], "/", 1)["rps"])
            return {key: statistics.fmean(values) for key, values in rates.items()}
        finally:
            for stack, _ in stacks.values():
                stack.stop()

    def add_domain_under_load(self) -> dict[str, float]:
        log("domain add under load")
        stack = self.stack(cache_seconds=1)
        failures, done = [], threading.Event()

        def loop() -> None:
            while not done.is_set():
                try:
                    if request(self.port, "GET", "/", "coffee.test")[0] != 200:
                        failures.append(1)
                except OSError:
                    failures.append(1)

        threads = [threading.Thread(target=loop) for _ in range(4)]
        try:
            for t in threads:
                t.start()
            time.sleep(0.5)
            started = time.monotonic()
            subprocess.run([str(Path(sys.executable).with_name("landingpad")), "domain", "add",
                            "fresh.test", "--title", "Fresh"], env=self.env, check=True,
                           capture_output=True)
            while request(self.port, "GET", "/", "fresh.test")[0] != 200:
                if time.monotonic() - started > 30:
                    break
                time.sleep(0.01)
            live = time.monotonic() - started
            time.sleep(0.5)
        finally:
            done.set()
            for t in threads:
                t.join()
            stack.stop()
        return {"add_domain_live_s": round(live, 3), "add_domain_failed": len(failures)}

    def announce_figures(self, messages: int, kills: int) -> dict[str, float]:
        """Messages/s to a local aiosmtpd sink, and duplicates after repeated kill -9s."""
        import random
        import signal

        import sqlalchemy as sa
        from tests.smtp_sink import Sink

        from landingpad.storage.engine import make_engine
        from landingpad.storage.models import Announcement
        from landingpad.storage.signups import record_signup
        from landingpad.storage.types import utcnow

        engine = make_engine(f"sqlite:///{self.data / 'landingpad.db'}")
        with sa.orm.Session(engine) as session:
            for i in range(messages):
                record_signup(session, site="bikes.test", email=f"a{i:05d}@example.com",
                              interests=[], consent_version="v", consent_text="t")
            ids = []
            for _ in range(2):
                item = Announcement(subject="Live", body_markdown="We are **live**.",
                                    sites=["bikes.test"], created_at=utcnow())
                session.add(item)
                session.commit()
                ids.append(item.id)
        engine.dispose()
        landingpad = str(Path(sys.executable).with_name("landingpad"))
        result: dict[str, float] = {}
        # A fast MTA's side of the exchange: PIPELINING offered (Postfix does), messages
        # kept as bytes (parsing each one cost the in-process sink as much CPU as the
        # sender spent on it: the figure measured the sink).
        with Sink(pipelining=True, parse=False) as sink:
            env = {**self.env, "LANDINGPAD_MAIL_TRANSPORT": "smtp",
                   "LANDINGPAD_SMTP_HOST": "127.0.0.1", "LANDINGPAD_SMTP_PORT": str(sink.port)}
            log(f"announcement: {messages:,} messages to a local SMTP server")
            subprocess.run([landingpad, "announce", "send", str(ids[0]), "--no-progress",
                            "--force"], env=env, check=True, capture_output=True)
            times = sink.handler.times
            result["announce_mps"] = round((len(times) - 1) / (times[-1] - times[0]), 1)
            log(f"announcement: {kills} kill -9s and restarts")
            sink.handler.raw.clear()
            rng = random.Random(7)
            for _ in range(kills):
                proc = subprocess.Popen([landingpad, "announce", "send", str(ids[1]),
                                         "--no-progress", "--force", "--rate", "400"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.6, 1.2))
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            subprocess.run([landingpad, "announce", "send", str(ids[1]), "--no-progress",
                            "--force"], env=env, check=True, capture_output=True)
            received = sink.handler.ids()
            result["announce_duplicates"] = len(received) - len(set(received))
        return result

    def memory_figures(self) -> dict[str, float]:
        log(f"app process RSS with {self.domains:,} domains")
        probe = ("from bench.suite import app_rss_kb; import sys; "
                 "print(*app_rss_kb(int(sys.argv[1]), sys.argv[2]))")
        rss, peak = [], []
        for count in (0, self.domains):
            out = subprocess.run([sys.executable, "-c", probe, str(count),
                                  str(self.work / f"mem{count}")], capture_output=True,
                                 text=True, check=True, env=self.env).stdout
            now, high = map(int, out.split())
            rss.append(now)
            peak.append(high)
        log(f"nginx with {self.domains:,} domains")
        nginx_base = measure(build(self.work, "nginx-base", 0, False))
        nginx_maps = measure(build(self.work, "nginx-maps", self.domains, False))
        return {"app_rss_10k_domains_mb": round((rss[1] - rss[0]) / 1024, 1),
                "app_rss_10k_peak_mb": round((peak[1] - peak[0]) / 1024, 1),
                "nginx_10k_domains_mb": round((nginx_maps["worker_pss"]
                                               - nginx_base["worker_pss"]) / 1024, 1),
                "nginx_t_10k_s": round(nginx_maps["nginx_t_ms"] / 1000, 3)}


def app_rss_kb(count: int, folder: str) -> tuple[int, int]:
    """RSS of one app process after serving GET / on ``count`` domains (plus one), and its
    peak RSS (VmHWM) meanwhile: loading the sites file included."""
    from tests.functional.test_scale import sites_text

    data = Path(folder)
    data.mkdir(parents=True, exist_ok=True)
    (data / "sites.toml").write_text(sites_text(count) + SITES)
    from landingpad import create_app

    app = create_app({"DATA_DIR": str(data), "SECRET_KEY": "k" * 40})
    hosts = [f"domain-{i:05d}.example" for i in range(count)] + ["coffee.test"]
    for host in hosts:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": host,
                   "SERVER_NAME": host, "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                   "wsgi.input": None, "QUERY_STRING": "", "SCRIPT_NAME": ""}
        b"".join(app(environ, lambda status, headers: None))
    status = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


GOALS: list[tuple[str, str, Callable[[dict], bool]]] = [
    ("cached_rps >= 0.8 x static_rps", "cached_rps",
     lambda r: r["cached_rps"] >= 0.8 * r["static_rps"]),
    ("app_rps >= 0.9 x bare_wsgi_rps", "app_rps",
     lambda r: r["app_rps"] >= 0.9 * r["bare_wsgi_rps"]),
    ("app_rps >= 3 x naive_rps", "app_rps", lambda r: r["app_rps"] >= 3 * r["naive_rps"]),
    ("signup_rps >= 1.5 x naive_signup_rps", "signup_rps",
     lambda r: r["signup_rps"] >= 1.5 * r["naive_signup_rps"]),
    ("signup_p99_ms <= 50", "signup_p99_ms", lambda r: r["signup_p99_ms"] <= 50),
    ("app_rss_10k_domains_mb <= 20", "app_rss_10k_domains_mb",
     lambda r: r["app_rss_10k_domains_mb"] <= 20),
    ("nginx_10k_domains_mb <= 5", "nginx_10k_domains_mb",
     lambda r: r["nginx_10k_domains_mb"] <= 5),
    ("nginx_t_10k_s <= 0.1", "nginx_t_10k_s", lambda r: r["nginx_t_10k_s"] <= 0.1),
    ("announce_mps >= 500", "announce_mps", lambda r: r["announce_mps"] >= 500),
    ("announce_duplicates == 0", "announce_duplicates", lambda r: r["announce_duplicates"] == 0),
    ("add_domain_live_s <= 1", "add_domain_live_s", lambda r: r["add_domain_live_s"] <= 1),
    ("add_domain_failed == 0", "add_domain_failed", lambda r: r["add_domain_failed"] == 0),
    ("tls_handshakes_rps >= 0.5 x tls_static_handshakes_rps", "tls_handshakes_rps",
     lambda r: r["tls_handshakes_rps"] >= 0.5 * r["tls_static_handshakes_rps"]),
    ("tls_resumed_rps >= 0.9 x tls_static_resumed_rps", "tls_resumed_rps",
     lambda r: r["tls_resumed_rps"] >= 0.9 * r["tls_static_resumed_rps"]),
    ("nginx_10k_certs_mb <= 10", "nginx_10k_certs_mb", lambda r: r["nginx_10k_certs_mb"] <= 10),
    ("tls_issue_s <= 1", "tls_issue_s", lambda r: r["tls_issue_s"] <= 1),
    ("lighthouse_performance >= 95", "lighthouse_performance",
     lambda r: r["lighthouse_performance"] >= 95),
]


def fmt(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


# Goals that compare two figures of one run are judged on that run's own ratio.
RATIOS = {
    "cached_rps >= 0.8 x static_rps": ("cached_rps", "static_rps"),
    "app_rps >= 0.9 x bare_wsgi_rps": ("app_rps", "bare_wsgi_rps"),
    "app_rps >= 3 x naive_rps": ("app_rps", "naive_rps"),
    "signup_rps >= 1.5 x naive_signup_rps": ("signup_rps", "naive_signup_rps"),
    "tls_handshakes_rps >= 0.5 x tls_static_handshakes_rps": ("tls_handshakes_rps",
                                                              "tls_static_handshakes_rps"),
    "tls_resumed_rps >= 0.9 x tls_static_resumed_rps": ("tls_resumed_rps",
                                                        "tls_static_resumed_rps"),
}


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(runs: list[dict]) -> dict:
    """The median of each figure over the runs (ratios are taken within each run)."""
    return {key: median([r[key] for r in runs]) for key in KEYS if key in runs[0]}


def shown(label: str, key: str, r: dict) -> float:
    pair = RATIOS.get(label)
    if pair is None:
        return r[key]
    return r[pair[0]] / r[pair[1]] if r[pair[1]] else 0.0


def verdict(runs: list[dict], check: Callable[[dict], bool]) -> str:
    """yes when every run meets the goal, NO when none does; else the spread straddles it."""
    met = sum(1 for r in runs if check(r))
    if met == len(runs):
        return "yes"
    return "NO" if met == 0 else f"straddles ({met} of {len(runs)} runs)"


def table(runs: list[dict], seconds: int, domains: int) -> str:
    lines = [f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
             f"wrk -t2 -c32 -d{seconds}s; uWSGI 2 processes; {domains:,} domains; "
             f"{len(runs)} run(s): median, and min-max as the spread.", "",
             "| figure | median | spread |", "|---|---|---|"]
    for key in (k for k in KEYS if k in runs[0]):
        values = [r[key] for r in runs]
        lines.append(f"| `{key}` | {fmt(median(values))} | "
                     f"{fmt(min(values))} - {fmt(max(values))} |")
    lines += ["", "| goal | median | spread | met |", "|---|---|---|---|"]
    for label, key, check in GOALS:
        if not all(k in runs[0] for k in RATIOS.get(label, (key,))):
            continue  # a key left out by --only
        values = [shown(label, key, r) for r in runs]
        unit = "x" if label in RATIOS else ""
        lines.append(f"| {label} | {fmt(median(values))}{unit} | "
                     f"{fmt(min(values))}{unit} - {fmt(max(values))}{unit} | "
                     f"{verdict(runs, check)} |")
    return "\n".join(lines) + "\n"


def measure_once(work: Path, seconds: int, domains: int, smoke: bool,
                 keys: tuple[str, ...] = KEYS) -> dict:
    with tempfile.TemporaryDirectory(prefix="landingpad-bench-", dir=work) as tmp:
        bench = Bench(Path(tmp), seconds, domains)
        parts: dict[str, Callable[[], dict]] = {
            "http": bench.http_figures,
            "add_domain": bench.add_domain_under_load,
            "announce": lambda: bench.announce_figures(500 if smoke else 3000,
                                                       3 if smoke else 20),
            "memory": bench.memory_figures,
            # Full and resumed handshakes: `seconds` each side, in 4 alternating windows.
            "tls_nginx": lambda: tls_nginx_figures(Path(tmp), domains, seconds, cache=work),
            "tls_issue": lambda: tls_issue_figures(Path(tmp), 3 if smoke else 10),
            "bounces": lambda: bounce_figures(Path(tmp), 300 if smoke else 2000),
            "lighthouse": lambda: lighthouse_figures(Path(tmp), smoke),
        }
        results: dict = {}
        for part, produced in PARTS.items():
            if any(key in keys for key in produced):
                results.update(parts[part]())
    return {key: results[key] for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s per load (default 10 s)")
    parser.add_argument("--smoke", action="store_true",
                        help="1 s per load and 1,000 domains, one run: checks the suite works")
    parser.add_argument("--repeat", type=int, default=None,
                        help="whole runs to take the median of (default 3; --smoke: 1)")
    parser.add_argument("--json", type=Path, help="write the medians and every run here")
    parser.add_argument("--readme", action="store_true", help="update bench/README.md's table")
    parser.add_argument("--only", metavar="KEY[,KEY...]",
                        help="measure only these keys (and the goals made of them alone); "
                             "runs just the parts of the suite they need")
    args = parser.parse_args()
    keys = KEYS
    if args.only:
        wanted = {k.strip() for k in args.only.split(",") if k.strip()}
        if unknown := wanted - set(KEYS):
            parser.error(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(KEYS)}")
        if args.readme:
            parser.error("--readme rewrites the whole table: not with --only")
        keys = tuple(k for k in KEYS if k in wanted)
    seconds = 1 if args.smoke else 5 if args.quick else 10
    domains = 1000 if args.smoke else 10_000
    repeat = args.repeat or (1 if args.smoke else 3)
    runs = []
    with tempfile.TemporaryDirectory(prefix="landingpad-bench-") as work:
        for number in range(1, repeat + 1):
            log(f"run {number} of {repeat}")
            runs.append(measure_once(Path(work), seconds, domains, args.smoke, keys))
    text = table(runs, seconds, domains)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"median": summarise(runs), "runs": runs},
                                        indent=2) + "\n")
    if args.readme:
        readme = REPO / "bench" / "README.md"
        content = readme.read_text()
        start, end = "<!-- results -->", "<!-- /results -->"
        before, _, rest = content.partition(start)
        _, _, after = rest.partition(end)
        readme.write_text(f"{before}{start}\n{text}{end}{after}")


if __name__ == "__main__":
    main()
