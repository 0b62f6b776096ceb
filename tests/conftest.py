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


# What a reused PostgreSQL database must still match to count as "as migrated": its
# tables, columns, indexes, constraints, functions, triggers, types, schemas, settings and
# migration revision (a test that migrates down or alters anything gets a new database).
_PG_SHAPE = """
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT 'c:' || c.oid::regclass || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
         || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS x
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'r:' || oid::regclass || ':' || relkind::text || ':' || relrowsecurity || ':'
         || coalesce(relacl::text, '') FROM pg_class WHERE relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'i:' || schemaname || '.' || indexdef FROM pg_indexes
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL SELECT 'k:' || conrelid::regclass || ':' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'w:' || oid::regclass || ':' || md5(pg_get_viewdef(oid)) FROM pg_class
    WHERE relkind IN ('v', 'm') AND relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'n:' || nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
  UNION ALL SELECT 'f:' || proname || ':' || md5(pg_get_functiondef(oid)) FROM pg_proc
    WHERE pronamespace = 'public'::regnamespace AND prokind IN ('f', 'p')
  UNION ALL SELECT 't:' || pg_get_triggerdef(oid) || ':' || tgenabled::text FROM pg_trigger
    WHERE NOT tgisinternal
  UNION ALL SELECT 'p:' || polrelid::regclass || ':' || polname FROM pg_policy
  UNION ALL SELECT 'e:' || extname FROM pg_extension
  UNION ALL SELECT 'y:' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
  UNION ALL SELECT 'q:' || seqrelid::regclass || ':' || seqstart || ':' || seqincrement
    FROM pg_sequence
  UNION ALL SELECT 's:' || array_to_string(setconfig, ',') FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL SELECT 'v:' || version_num FROM alembic_version
) shape
"""


class PgDatabases:
    """Per-test PostgreSQL databases cloned from the migrated template.

    CREATE DATABASE costs about 0.4 s here whatever the strategy (800-odd tests run on
    PostgreSQL): a database a test leaves with the template's shape is emptied
    (TRUNCATE, sequences restarted), renamed, and handed to the next test instead; any
    other is dropped. The next test sees what a fresh clone holds: the schema, no rows.
    """

    def __init__(self, server: str, template: str) -> None:
        self.server = server
        self.admin = sa.create_engine(server.format(db="postgres"), isolation_level="AUTOCOMMIT")
        self.shape = self._shape(template)
        self.template = template
        self.free: list[str] = []

    def _shape(self, name: str) -> str:
        engine = sa.create_engine(self.server.format(db=name), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(_PG_SHAPE)).scalar_one()
        finally:
            engine.dispose()

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {self.template}"))
        return name

    def give_back(self, name: str) -> None:
        with self.admin.connect() as conn:  # whatever the test left connected, gone
            conn.execute(sa.text("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                 "WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": name})
        engine = sa.create_engine(self.server.format(db=name), poolclass=sa.pool.NullPool,
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if conn.execute(sa.text("SELECT count(*) FROM pg_prepared_xacts "
                                        "WHERE database = current_database()")).scalar() \
                        or conn.execute(sa.text(_PG_SHAPE)).scalar_one() != self.shape:
                    raise LookupError(name)
                # Only what the test wrote: TRUNCATE costs ~5 ms a table, most tests fill few.
                tables = conn.execute(sa.text(
                    "SELECT quote_ident(tablename) FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'")).scalars()
                filled = [table for table in tables if conn.execute(
                    sa.text(f"SELECT EXISTS (SELECT FROM {table})")).scalar()]
                if filled:
                    conn.execute(sa.text(f"TRUNCATE {', '.join(filled)} CASCADE"))
                for sequence in conn.execute(sa.text(
                        "SELECT quote_ident(sequencename) FROM pg_sequences "
                        "WHERE schemaname = 'public' AND last_value IS NOT NULL")).scalars():
                    conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))
            engine.dispose()
            # A new name: a straggler of the last test (a pool, a process) can't reach it.
            fresh = f"t_{uuid.uuid4().hex[:12]}"
            with self.admin.connect() as conn:
                conn.execute(sa.text(f"ALTER DATABASE {name} RENAME TO {fresh}"))
        except (sa.exc.SQLAlchemyError, LookupError):
            engine.dispose()
            with self.admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            return
        self.free.append(fresh)


@pytest.fixture(scope="session")
def pg_databases(postgresql: str, pg_template: str) -> Iterator[PgDatabases]:
    databases = PgDatabases(postgresql, pg_template)
    yield databases
    databases.admin.dispose()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "landingpad.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    name = databases.take()
    try:
        yield databases.server.format(db=name)
    finally:
        databases.give_back(name)


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
