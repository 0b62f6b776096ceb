"""nginx memory for 10,000 domains: landingpad's maps vs the seed's one server block each.

Usage: .venv/bin/python bench/nginx_memory.py [--domains 10000]
Starts nginx three times on a loopback port (no domains, maps, server blocks) and reads
the PSS and RSS of its master and worker from /proc/PID/smaps_rollup.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.functional.test_scale import sites_text
from tests.servers import free_port

from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import DeployOptions, prepare_dirs, render_all
from landingpad.files import write_atomic
from landingpad.sites.sitesfile import parse_sites

SEED_BLOCK = """server {{
    listen {listen};
    server_name {domain} www.{domain};
    location / {{ try_files $uri @app; }}
    location @app {{
        uwsgi_pass landingpad_app;
        include /etc/nginx/uwsgi_params;
        uwsgi_param LANDING_TITLE "Domain {i}";
        uwsgi_param LANDING_EMAIL "owner{i}@example.com";
    }}
}}
"""


def memory_kb(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0])
    return fields["Pss"], fields["Rss"]


def measure(deploy: Path) -> dict[str, int]:
    conf = deploy / "nginx.conf"
    text = conf.read_text().replace("worker_processes auto;", "worker_processes 1;")
    conf.write_text(text)
    nginx = Nginx(find_nginx(), conf)
    nginx.test()
    started = time.monotonic()
    subprocess.run([nginx.binary, "-c", str(conf), "-t", "-q"], check=True)
    t_seconds = time.monotonic() - started
    proc = subprocess.Popen(nginx.start_command())
    try:
        time.sleep(1.0)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        master = memory_kb(proc.pid)
        worker = memory_kb(int(children[0]))
    finally:
        proc.terminate()
        proc.wait(10)
    return {"master_pss": master[0], "worker_pss": worker[0], "worker_rss": worker[1],
            "nginx_t_ms": round(t_seconds * 1000)}


def build(tmp: Path, name: str, count: int, seed_style: bool) -> Path:
    deploy = tmp / name
    options = DeployOptions(deploy_dir=str(deploy), data_dir=str(tmp),
                            listen=f"127.0.0.1:{free_port()}")
    config = parse_sites(sites_text(0 if seed_style else count), tmp / "sites.toml")
    files = render_all(options, config)
    if seed_style:
        files["landingpad.conf"] += "".join(
            SEED_BLOCK.format(listen=options.listen, domain=f"domain-{i:05d}.example", i=i)
            for i in range(count))
        files["landingpad.conf"] += "server_names_hash_max_size 65536;\n" \
                                    "server_names_hash_bucket_size 128;\n"
    for file_name, text in files.items():
        write_atomic(deploy / file_name, text.encode())
    prepare_dirs(options)
    return deploy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = measure(build(tmp, "base", 0, False))
        maps = measure(build(tmp, "maps", args.domains, False))
        seed = measure(build(tmp, "seed", args.domains, True))
    print(f"| nginx, {args.domains:,} domains | worker PSS MB | added vs no domains MB "
          f"| nginx -t ms |\n|---|---|---|---|")
    for label, m in (("no domains", base), ("landingpad maps", maps),
                     ("seed: one server block each", seed)):
        added = (m["worker_pss"] - base["worker_pss"]) / 1024
        print(f"| {label} | {m['worker_pss'] / 1024:.1f} | {added:+.1f} | {m['nginx_t_ms']} |")


if __name__ == "__main__":
    main()
