"""Helpers for tests that start real servers: free ports, waiting, stopping by pid."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def _port_range() -> range:
    """This test process's own ports: below Linux's ephemeral range (32768-60999), so no
    client's source port takes one between our check and the server's bind, and split
    between pytest-xdist's workers, so two workers never hand out the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = (32000 - 20000) // max(count, 1)
    return range(20000 + index * size, 20000 + (index + 1) * size)


_PORTS = _port_range()
_next_port = [_PORTS.start + int.from_bytes(os.urandom(2), "big") % len(_PORTS)]


def free_port(consecutive: int = 1) -> int:
    """A loopback port free right now (with ``consecutive - 1`` free ones after it),
    not handed out before in this process until the range wraps."""
    for _ in range(len(_PORTS)):
        port = _next_port[0]
        _next_port[0] = port + consecutive if port + 2 * consecutive <= _PORTS.stop \
            else _PORTS.start
        sockets = []
        try:
            for each in range(port, port + consecutive):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", each))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return port
    raise RuntimeError(f"no free port in {_PORTS}")


def wait_for_http(port: int, host: str = "localhost", timeout: float = 20.0,
                  proc: subprocess.Popen | None = None) -> None:
    """Poll until the server answers any HTTP status, or fail with its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{out}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/", headers={"Host": host})
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process by its own pid, SIGKILL if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


@contextmanager
def landingpad_serve(env: Mapping[str, str], processes: int = 1,
                     host: str = "coffee.test") -> Iterator[tuple[int, subprocess.Popen]]:
    """`landingpad serve` on a free port with ``env`` over os.environ: (port, process)."""
    port = free_port()
    landingpad = Path(sys.executable).with_name("landingpad")
    proc = subprocess.Popen([str(landingpad), "serve", "--port", str(port), "--processes",
                             str(processes)], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_http(port, host=host, proc=proc)
        yield port, proc
    finally:
        stop(proc)


def request(port: int, method: str, path: str, host: str, body: bytes | str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def self_signed_cert(folder: os.PathLike[str] | str, name: str) -> tuple[str, str]:
    """A one-day certificate for ``name`` (with its subjectAltName) and its key."""
    cert, key = os.path.join(folder, f"{name}.crt"), os.path.join(folder, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
