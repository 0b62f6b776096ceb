"""HTTPS figures: TLS handshakes through the rendered nginx, its memory with 10,000
certificates, and seconds per certificate from a local ACME CA (pebble).

Used by bench/suite.py (`bench/run --only tls_handshakes_rps,...`); see bench/README.md.
Everything listens on loopback and is stopped by its own pid.

- Handshakes: the HTTPS block `deploy render` generates (the certificate from
  DATA_DIR/tls/live/<host>.pem through the $ssl_server_name map) beside a copy of that
  very block, in the same nginx, whose only difference is one fixed ssl_certificate.
  Python clients (several processes) open a connection, finish a TLS 1.3 handshake and
  close, naming 100 different hosts in turn; the two sides are measured in alternating
  short windows so that they share the machine's noise.
- Memory: one nginx worker's PSS with every host's certificate file in tls/live, after a
  full handshake with a sample of them, against the same render with tls/live empty.
- Issuing: `AcmeClient.issue` against pebble, HTTP-01 answered by a small local server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.functional.test_scale import sites_text
from tests.servers import free_port

from bench.nginx_memory import memory_kb
from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import DeployOptions, prepare_dirs, render_all
from landingpad.files import SHARED_DIR, make_dir, write_atomic
from landingpad.sites.sitesfile import parse_sites

SAMPLE = 100  # different host names the handshake clients go round


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def host_name(i: int) -> str:
    return f"domain-{i:05d}.example"  # the names of tests.functional.test_scale.sites_text


# -- certificates -------------------------------------------------------------------

class ThrowawayCA:
    """A P-256 CA that signs P-256 leaves, as a public CA's chain would look (leaf, CA)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "landingpad bench CA")])
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(self.now - dt.timedelta(hours=1))
                     .not_valid_after(self.now + dt.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def pair_pem(self, host: str) -> bytes:
        """One file as the tls package writes it: the chain, then the leaf's key."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self.name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(self.now - dt.timedelta(hours=1))
                .not_valid_after(self.now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]),
                               critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return (leaf.public_bytes(serialization.Encoding.PEM) + self.cert_pem
                + key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


_FORKED_CA: list[ThrowawayCA] = []  # handed to forked processes (keys don't pickle)


def _write_pairs(job: tuple[Path, range]) -> None:
    live, numbers = job
    ca = _FORKED_CA[0]
    for i in numbers:
        path = live / f"{host_name(i)}.pem"
        path.write_bytes(ca.pair_pem(host_name(i)))
        path.chmod(0o640)  # as the tls package writes them (files.SHARED_FILE)


def write_live(data: Path, ca: ThrowawayCA, count: int) -> None:
    """DATA_DIR/tls/live/<host>.pem for the first ``count`` hosts of the sites file, each
    with its own key (made on every CPU: 10,000 take a few seconds)."""
    live = make_dir(make_dir(data / "tls", SHARED_DIR) / "live", SHARED_DIR)
    cpus = os.cpu_count() or 1
    _FORKED_CA[:] = [ca]
    with multiprocessing.get_context("fork").Pool(cpus) as pool:
        pool.map(_write_pairs, [(live, range(i, count, cpus)) for i in range(cpus)])


# -- nginx --------------------------------------------------------------------------

# The generated HTTPS server block: copied with one fixed certificate for the baseline.
_HTTPS_BLOCK = re.compile(r"\nserver \{\n[^}]*?ssl_certificate \$landingpad_tls_cert;.*?\n\}\n",
                          re.S)


def render_https(data: Path, count: int, static_pem: Path | None,
                 workers: int | None = None) -> tuple[Path, int, int | None]:
    """Render nginx as `deploy render --https-listen` does for a ``count``-domain sites
    file and whatever is in data/tls/live; with ``static_pem``, add a copy of the HTTPS
    block on another port serving that one file to every name.

    Returns (nginx.conf, the HTTPS port, the static block's port)."""
    deploy = data / "deploy"
    https_port, static_port = free_port(), free_port() if static_pem else None
    options = DeployOptions(deploy_dir=str(deploy), data_dir=str(data),
                            listen=f"127.0.0.1:{free_port()}",
                            https_listen=f"127.0.0.1:{https_port}")
    config = parse_sites(sites_text(count), data / "sites.toml")
    files = render_all(options, config)
    if static_pem:
        block = _HTTPS_BLOCK.search(files["landingpad.conf"])
        if block is None:
            raise RuntimeError("no HTTPS server block with $landingpad_tls_cert in the render")
        static = (block.group(0)
                  .replace(f"listen 127.0.0.1:{https_port} ", f"listen 127.0.0.1:{static_port} ")
                  .replace("ssl_certificate $landingpad_tls_cert;",
                           f"ssl_certificate {static_pem};")
                  .replace("ssl_certificate_key $landingpad_tls_key;",
                           f"ssl_certificate_key {static_pem};"))
        if str(static_pem) not in static or f":{static_port} " not in static:
            raise RuntimeError(f"could not make the static copy of:\n{block.group(0)}")
        files["landingpad.conf"] += "\n# bench: the same block, one static certificate\n" \
            + static.lstrip("\n")
    if workers is not None:
        files["nginx.conf"] = files["nginx.conf"].replace(
            "worker_processes auto;", f"worker_processes {workers};")
    for name, text in files.items():
        write_atomic(deploy / name, text.encode())
    prepare_dirs(options)
    return deploy / "nginx.conf", https_port, static_port


class RunningNginx:
    def __init__(self, conf: Path, port: int) -> None:
        self.nginx = Nginx(find_nginx(), conf)
        self.nginx.test()
        self.proc = subprocess.Popen(self.nginx.start_command())
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not start: see {conf.parent}/logs/") \
                        from exc
                time.sleep(0.05)

    def workers(self) -> list[int]:
        pid = self.proc.pid
        return [int(p) for p in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def workers_cpu(self) -> float:
        """CPU seconds (user + system) the workers have used so far."""
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown, by its own pid
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- handshake clients (separate processes) -----------------------------------------

def client_context() -> ssl.SSLContext:
    # TLS 1.3 only. No chain check: the client's CPU goes to the handshake itself (it
    # still checks the server's CertificateVerify signature, as TLS 1.3 requires).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    return context


def fetch_session(context: ssl.SSLContext, port: int, host: str) -> ssl.SSLSession:
    """A TLS 1.3 session ticket for ``host``: it arrives after the handshake, so read a
    (404) answer first."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET /static/bench-none HTTP/1.1\r\nHost: {host}\r\n"
                    "Connection: close\r\n\r\n".encode())
        while tls.recv(65536):
            pass
        return tls.session


# A client process's sessions, (port, host) -> session, kept across windows: a resumed
# window then costs nginx nothing but resumed handshakes (stateless tickets are reusable).
_SESSIONS: dict[tuple[int, str], ssl.SSLSession] = {}
_CONTEXT: list[ssl.SSLContext] = []


def handshake_loop(job: tuple[int, list[str], bool, float, float]) -> dict[str, float]:
    """From ``start_at`` (time.monotonic, shared by every process) for ``seconds``:
    connect, TLS 1.3 handshake, close, naming each host in turn."""
    port, hosts, resumed, start_at, seconds = job
    if not _CONTEXT:  # one context per process: sessions belong to the context
        _CONTEXT.append(client_context())
    context = _CONTEXT[0]
    sessions = {}
    if resumed:
        for host in hosts:
            if (port, host) not in _SESSIONS:
                _SESSIONS[port, host] = fetch_session(context, port, host)
            sessions[host] = _SESSIONS[port, host]
    address = ("127.0.0.1", port)
    while (pause := start_at - time.monotonic()) > 0:
        time.sleep(pause)
    started, cpu = time.monotonic(), time.process_time()
    end = max(start_at, started) + seconds
    done = reused = i = 0
    while time.monotonic() < end:
        host = hosts[i % len(hosts)]
        i += 1
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.connect(address)
        tls = context.wrap_socket(raw, server_hostname=host, session=sessions.get(host))
        reused += tls.session_reused
        tls.close()
        done += 1
    return {"done": done, "reused": reused, "seconds": time.monotonic() - started,
            "cpu": time.process_time() - cpu}


def handshake_rates(nginx: RunningNginx, sides: dict[str, int], hosts: list[str],
                    resumed: bool, seconds: float, clients: int,
                    rounds: int) -> dict[str, dict[str, float]]:
    """Handshakes/s per side (name -> port), in ``rounds`` alternating windows each.

    Also the CPU each side cost: nginx's workers' and the clients', per handshake, and
    the share of the machine's CPUs they took (a saturated machine shows ~100 %).
    """
    per_client = [hosts[i::clients] for i in range(clients)]
    totals = {side: {"done": 0, "reused": 0, "rate": 0.0, "nginx_cpu": 0.0,
                     "client_cpu": 0.0, "wall": 0.0} for side in sides}
    context = multiprocessing.get_context("fork")
    with context.Pool(clients) as pool:
        # Untimed: every process connects (and, to resume, gets a ticket for every name).
        # Each task waits for a common moment, so no process takes two of them.
        for port in sides.values():
            start_at = time.monotonic() + 0.5
            pool.map(handshake_loop, [(port, hosts, resumed, start_at, 0)
                                      for _ in range(clients)], chunksize=1)
        for number in range(rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for side in order:
                start_at = time.monotonic() + 0.2
                before = nginx.workers_cpu()
                results = pool.map(handshake_loop, [
                    (sides[side], chunk, resumed, start_at, seconds / rounds)
                    for chunk in per_client], chunksize=1)
                t = totals[side]
                t["nginx_cpu"] += nginx.workers_cpu() - before
                for r in results:
                    t["done"] += r["done"]
                    t["reused"] += r["reused"]
                    t["client_cpu"] += r["cpu"]
                    t["rate"] += r["done"] / r["seconds"] / rounds
                t["wall"] += max(r["seconds"] for r in results)
    for side, t in totals.items():
        if resumed and t["reused"] < t["done"]:
            raise RuntimeError(f"{side}: only {t['reused']} of {t['done']} handshakes resumed")
        if not resumed and t["reused"]:
            raise RuntimeError(f"{side}: {t['reused']} 'full' handshakes were resumed")
    cpus = os.cpu_count() or 1
    return {side: {"rps": round(t["rate"], 1),
                   "nginx_us": round(t["nginx_cpu"] / t["done"] * 1e6),
                   "client_us": round(t["client_cpu"] / t["done"] * 1e6),
                   "nginx_share": t["nginx_cpu"] / t["wall"] / cpus,
                   "client_share": t["client_cpu"] / t["wall"] / cpus}
            for side, t in totals.items()}


# -- the figures ----------------------------------------------------------------------

def tls_nginx_figures(work: Path, domains: int, seconds: float, clients: int = 2,
                      rounds: int = 4, cache: Path | None = None) -> dict[str, float]:
    """tls_*handshakes_rps, tls_*resumed_rps and nginx_10k_certs_mb (``domains`` hosts,
    each its own certificate file)."""
    # Made once per bench/run and kept for its repeats (in ``cache``, the run's own temp
    # dir): 10,000 keys and certificates take 15-50 s on a shared 2-core machine.
    data = (cache or work) / f"tls-certs-{domains}"
    static_pem = data / "static.pem"
    if not static_pem.exists():
        ca = ThrowawayCA()
        data.mkdir()
        log(f"HTTPS: {domains:,} P-256 certificates in tls/live")
        started = time.monotonic()
        write_live(data, ca, domains)
        log(f"  made in {time.monotonic() - started:.1f} s")
        static_pem.write_bytes(ca.pair_pem("static.example"))
        static_pem.chmod(0o640)
    step = max(domains // SAMPLE, 1)
    hosts = [host_name(i) for i in range(0, domains, step)][:SAMPLE]

    conf, https_port, static_port = render_https(data, domains, static_pem)
    nginx = RunningNginx(conf, https_port)
    result: dict[str, float] = {}
    try:
        sides = {"variable": https_port, "static": static_port}
        for resumed, key, static_key in ((False, "tls_handshakes_rps",
                                          "tls_static_handshakes_rps"),
                                         (True, "tls_resumed_rps", "tls_static_resumed_rps")):
            what = "resumed" if resumed else "full"
            log(f"HTTPS: {what} TLS 1.3 handshakes, {len(hosts)} names, {clients} client "
                f"processes, per-domain certificates vs one static certificate")
            rates = handshake_rates(nginx, sides, hosts, resumed, seconds, clients, rounds)
            for side, r in rates.items():
                log(f"  {side}: {r['rps']:,.0f}/s; CPU per handshake: nginx {r['nginx_us']} "
                    f"us, client {r['client_us']} us; of the machine's CPU: nginx "
                    f"{r['nginx_share']:.0%}, clients {r['client_share']:.0%}")
            result[key], result[static_key] = rates["variable"]["rps"], rates["static"]["rps"]
    finally:
        nginx.stop()

    log(f"HTTPS: nginx worker memory with {domains:,} certificates (one worker)")
    # More names than the handshake clients use: each one's file read at least once.
    sample = [host_name(i) for i in range(0, domains, max(domains // 1000, 1))]
    with_certs = worker_memory(data, domains, sample)
    empty = work / "tls-none"
    empty.mkdir()
    without = worker_memory(empty, domains, sample)
    log(f"  worker PSS {with_certs[0] / 1024:.1f} MB with the certificates, "
        f"{without[0] / 1024:.1f} MB with tls/live empty (RSS {with_certs[1] / 1024:.1f} "
        f"and {without[1] / 1024:.1f} MB)")
    result["nginx_10k_certs_mb"] = round((with_certs[0] - without[0]) / 1024, 1)
    return result


def worker_memory(data: Path, domains: int, hosts: list[str]) -> tuple[int, int]:
    """(PSS, RSS) in kB of the one worker, after a full handshake (and a 404) per host.

    With no certificate for a name, its handshake fails (alert 80): still tried, so both
    sides handled the same connections."""
    conf, port, _ = render_https(data, domains, None, workers=1)
    nginx = RunningNginx(conf, port)
    try:
        context = client_context()
        for host in hosts:
            with contextlib.suppress(ssl.SSLError):
                fetch_session(context, port, host)
        time.sleep(0.5)
        return memory_kb(nginx.workers()[0])
    finally:
        nginx.stop()


def tls_issue_figures(work: Path, count: int) -> dict[str, float]:
    """tls_issue_s: the median seconds of ``count`` issues (the account made beforehand:
    once per install, not per certificate)."""
    from tests.tls_servers import ChallengeServer, start_pebble

    from landingpad.tls.acme import AcmeClient

    challenges = ChallengeServer()
    pebble = start_pebble(work / "pebble", challenges.port)
    try:
        client = AcmeClient.from_config({
            "ACME_DIRECTORY": pebble.directory, "DATA_DIR": str(work / "acme"),
            "ACME_CA_BUNDLE": str(pebble.ca_bundle), "ACME_EMAIL": "owner@example.com",
            "ACME_EAB_KID": "", "ACME_EAB_HMAC_KEY": ""})
        client.account()
        times = []
        log(f"HTTPS: {count} certificates from pebble (HTTP-01 really fetched)")
        for i in range(count):
            started = time.monotonic()
            client.issue(f"issue-{i}.bench.example", challenges.publish, challenges.withdraw)
            times.append(time.monotonic() - started)
        log(f"  seconds per certificate: median {statistics.median(times):.3f}, "
            f"{min(times):.3f} - {max(times):.3f}")
    finally:
        pebble.stop()
        challenges.stop()
    return {"tls_issue_s": round(statistics.median(times), 3)}
