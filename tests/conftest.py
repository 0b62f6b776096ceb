"""Fixtures: the app on SQLite and on a real PostgreSQL, a client, a CLI runner.

PostgreSQL is a throwaway server started with initdb/pg_ctl on a unix socket
in a temp dir (as indico's fixtures do), once per run. Each test gets its own
database cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from landingpad import create_app
from landingpad.storage.engine import make_engine
from landingpad.storage.migrations import upgrade

BACKENDS = ("sqlite", "postgresql")
TEST_SECRET = "test-secret-" + "x" * 40

SITES_TOML = """\
[defaults]
LANDING_ACCENT = "#2a6df4"

[sites."coffee.test"]
LANDING_TITLE = "Coffee Club"
LANDING_EMAIL = "owner@coffee.example.com"
LANDING_INTERESTS = ["Beans", "Brewing gear"]
aliases = ["www.coffee.test"]

[sites."bikes.test"]
LANDING_TITLE = "Bike Collective"
LANDING_DOUBLE_OPTIN = true
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=("sqlite", "postgresql", "all"), default="all",
                     help="database backend(s) for tests that store data (default: all)")
    parser.addoption("--soak", action="store_true",
                     help="run the reliability suite's long variants (minutes, not seconds)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        marker = metafunc.definition.get_closest_marker("backends")  # e.g. PostgreSQL only
        allowed = marker.args if marker else BACKENDS
        metafunc.parametrize("backend", [b for b in allowed if choice in ("all", b)])


# -- PostgreSQL ---------------------------------------------------------------

def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgresql() -> Iterator[str]:
    """A real PostgreSQL server for this test run; yields a URL prefix (append a db name)."""
    tmp = Path(tempfile.mkdtemp(prefix="landingpad-pg-"))
    datadir, sockdir = tmp / "data", tmp
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(datadir), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-c listen_addresses='' -k {sockdir} -c fsync=off -c max_connections=200"
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(datadir), "-o", options, "-w",
                                 "-l", str(tmp / "log"), "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@/{{db}}?host={sockdir}"
    finally:
        pid = int((datadir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown, by the server's own pid
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(postgresql: str) -> str:
    """A database migrated once, cloned per test."""
    admin = sa.create_engine(postgresql.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE lp_template"))
    admin.dispose()
    engine = make_engine(postgresql.format(db="lp_template"))
    upgrade(engine)
    engine.dispose()
    return "lp_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "landingpad.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: str = request.getfixturevalue("postgresql")
    template: str = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield server.format(db=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


# -- the app --------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    (path / "sites.toml").write_text(SITES_TOML)
    return path


@pytest.fixture
def app_config(data_dir: Path, database_url: str) -> dict:
    return {
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "SITES_CHECK_SECONDS": 0.0,
    }


@pytest.fixture
def app(app_config: dict):
    app = create_app(app_config)
    yield app
    app.extensions["landingpad.db"].dispose()


@pytest.fixture
def app_sending_to(app_config: dict):
    """make(port, **config): an app sending its mail to the SMTP server on ``port``;
    each one's outbox and database closed after the test."""
    made = []

    def make(port: int, **config: object):
        app = create_app({**app_config, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                          "SMTP_PORT": port, "SMTP_TIMEOUT": 5.0, **config})
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["landingpad.outbox"].close()
        app.extensions["landingpad.db"].dispose()


@pytest.fixture
def add_announcement(app):
    """add(app=None, **fields) -> id: an announcement row (subject "Hi" to coffee.test)."""
    def add(target=None, **fields: object) -> int:
        from landingpad.storage import session_factory
        from landingpad.storage.models import Announcement
        from landingpad.storage.types import utcnow

        values = {"subject": "Hi", "body_markdown": "x", "sites": ["coffee.test"],
                  "created_at": utcnow(), **fields}
        with session_factory(target or app)() as session:
            item = Announcement(**values)
            session.add(item)
            session.commit()
            return item.id
    return add


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A session on the app's database, for assertions."""
    from landingpad.storage import session_factory

    with session_factory(app)() as session:
        yield session


@pytest.fixture
def cli_env(data_dir: Path, database_url: str) -> dict[str, str]:
    return {"LANDINGPAD_DATA_DIR": str(data_dir), "DATABASE_URL": database_url,
            "LANDINGPAD_SITES": "", "LANDINGPAD_SECRET_KEY": TEST_SECRET}


@pytest.fixture
def runner(cli_env: dict[str, str]):
    """Invoke `landingpad ...` in-process with the test's data dir and database."""
    from landingpad.cli import main

    cli = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return cli.invoke(main, list(args), env=cli_env, input=input, catch_exceptions=False,
                          prog_name="landingpad")

    return invoke


# -- S3 (SeaweedFS) -------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """One Redis for the session; ``redis_url`` empties it for each test."""
    from tests.redis_server import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """One SeaweedFS for the session; each test gets its own bucket."""
    from tests.s3_server import start_s3

    server = start_s3(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    # One bucket: SeaweedFS gives every bucket its own volumes, and tests would run out.
    s3_server.client().create_bucket(Bucket="lp-tests")
    return "lp-tests"


@pytest.fixture
def s3_env(s3_server, s3_bucket, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings for the S3 store, under a prefix of the test's own; boto3 reads the
    credentials from the environment."""
    env = {**s3_server.env(s3_bucket), "LANDINGPAD_S3_PREFIX": f"t-{uuid.uuid4().hex[:12]}/"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, env[name])
    return env


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run (a second sync_playwright in one process fails)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--host-resolver-rules=MAP * 127.0.0.1",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def pebble_factory(tmp_path_factory: pytest.TempPathFactory):
    """Start pebble (+ its DNS) as often as a test needs; all are stopped at teardown.

    ``pebble_factory(http_port, validity_seconds=None, **options)`` -> tests.tls_servers.Pebble.
    """
    from tests.tls_servers import start_pebble

    started = []

    def start(http_port: int, validity_seconds: int | None = None, **options):
        server = start_pebble(tmp_path_factory.mktemp("pebble"), http_port, validity_seconds,
                              **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- DNS ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def dns_server():
    """An authoritative DNS server on loopback (UDP and TCP), tests/dns_server.py."""
    from tests.dns_server import DnsServer

    with DnsServer() as server:
        yield server


@pytest.fixture
def dns_zone(dns_server):
    """The DNS server's zone, emptied for the test: ``dns_zone.set(zone_text, ...)``."""
    dns_server.zone.set()
    return dns_server.zone
