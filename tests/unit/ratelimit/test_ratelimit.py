"""The app's own rate limits: per client per site, shared by processes and nodes."""

import logging
import multiprocessing
import re
import sqlite3

import pytest

from landingpad import create_app
from landingpad.ratelimit import STORAGE_FILE
from landingpad.ratelimit.sqlite_storage import SQLiteStorage
from landingpad.settings import SettingsError, load
from tests.redis_server import start_redis


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SIGNUP_RATE": "3/minute", "PRIVACY_RATE": "2/hour"}


@pytest.fixture
def send(token):
    """POST a sign-up from ``address`` (REMOTE_ADDR as nginx passes it) through ``client``."""
    counter = iter(range(10_000))

    def post(client, host="coffee.test", address="127.0.0.1", real_ip=None, environ=None):
        headers = {"Host": host, **({"X-Real-IP": real_ip} if real_ip else {})}
        data = {"email": f"v{next(counter)}@example.com", "consent": "y",
                "token": token(host)}
        return client.post("/signup", data=data, headers=headers,
                           environ_base=environ or {"REMOTE_ADDR": address}).status_code

    return post


def test_sign_ups_over_the_rate_get_a_styled_429_with_retry_after(client, send, stored):
    assert [send(client) for _ in range(3)] == [303, 303, 303]
    over = client.post("/signup", data={"email": "late@example.com", "consent": "y"},
                       headers={"Host": "coffee.test"})
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["Cache-Control"] == "no-store"
    page = over.get_data(as_text=True)
    assert "<html" in page and "Too many sign-ups from your network" in page
    assert "landing.css" in page  # the site's styled error page, not a bare message
    assert '<a href="/">Back to Coffee Club</a>' in page  # a way back, not a dead end
    assert stored() == 3


def test_every_rate_of_a_list_applies(app_config, send):
    """"10/minute;2/hour": the second rate stops the third sign-up, though the first
    would allow ten (only the first rate of a list used to count)."""
    app = create_app({**app_config, "SIGNUP_RATE": "10/minute;2/hour"})
    client = app.test_client()
    assert [send(client) for _ in range(3)] == [303, 303, 429]
    over = client.post("/signup", data={"email": "x@example.com", "consent": "y"},
                       headers={"Host": "coffee.test"})
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 60  # the hour's


def test_each_site_and_each_client_count_alone(client, send):
    for _ in range(3):
        send(client)
    assert send(client) == 429
    assert send(client, host="www.coffee.test") == 429  # an alias shares its site's count
    assert send(client, host="bikes.test") == 303
    assert send(client, address="198.51.100.7") == 303


def test_x_real_ip_names_the_client_only_from_a_trusted_proxy(client, send):
    # From nginx on loopback (trusted), each X-Real-IP is its own client...
    assert {send(client, real_ip=f"203.0.113.{i}") for i in range(6)} == {303}
    # ...from anyone else the header is ignored: it can't be used to dodge the limit.
    codes = [send(client, address="198.51.100.9", real_ip=f"203.0.113.{i}") for i in range(5)]
    assert codes == [303, 303, 303, 429, 429]


def test_an_ipv6_client_is_its_whole_64(client, send):
    # One host can take a fresh address in its /64 for every request: all one client.
    same = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:DB8:1:2:0:0:0:3"]
    assert [send(client, address=a) for a in same] == [303, 303, 303]
    assert send(client, address="2001:db8:1:2:abcd:1234:5678:9abc") == 429
    assert send(client, address="2001:db8:1:3::1") == 303  # the next /64: someone else
    assert send(client, address="2001:db8:1:2::1", host="bikes.test") == 303  # per site


def test_an_ipv4_mapped_address_counts_as_its_ipv4_client(client, send):
    for _ in range(3):
        send(client, address="198.51.100.7")
    assert send(client, address="::ffff:198.51.100.7") == 429
    assert send(client, address="::ffff:198.51.100.8") == 303


def test_x_real_ip_from_a_trusted_proxy_counts_per_64_too(client, send):
    codes = [send(client, real_ip=f"2001:db8:9:9::{i}") for i in range(1, 5)]
    assert codes == [303, 303, 303, 429]


def test_the_client_is_the_variable_the_server_in_front_sets(client, send):
    # Behind our nginx and uWSGI routes REMOTE_ADDR is "-" (uWSGI prints it in its
    # own error lines) and the client is LANDINGPAD_CLIENT, which no request header
    # can set (headers arrive as HTTP_*).
    def via(address):
        return send(client, environ={"REMOTE_ADDR": "-", "LANDINGPAD_CLIENT": address})

    assert [via("203.0.113.5") for _ in range(4)] == [303, 303, 303, 429]
    assert via("203.0.113.6") == 303
    # A header of that name is just a header: it names nobody.
    codes = [send(client, address="198.51.100.20", real_ip=None) for _ in range(3)]
    headers = {"Host": "coffee.test", "Landingpad-Client": "192.0.2.99"}
    over = client.post("/signup", data={"email": "x@example.com", "consent": "y"},
                       headers=headers, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert codes == [303, 303, 303] and over.status_code == 429


def test_x_real_ip_is_ignored_when_the_server_in_front_names_the_client(client, send):
    # `landingpad serve` listens on loopback and its uWSGI route sets LANDINGPAD_CLIENT
    # to the peer (127.0.0.1, a "trusted proxy"): a visitor's own X-Real-IP header
    # must not pick a fresh client for each request.
    def spoofed(i):
        return send(client, environ={"REMOTE_ADDR": "-", "LANDINGPAD_CLIENT": "127.0.0.1"},
                    real_ip=f"203.0.113.{i}")

    assert [spoofed(i) for i in range(5)] == [303, 303, 303, 429, 429]


def test_privacy_requests_are_limited_per_client(client):
    def ask():
        return client.post("/privacy/request", data={"email": "nobody@example.com"},
                           headers={"Host": "coffee.test"}).status_code

    assert [ask(), ask(), ask()] == [200, 200, 429]


def test_no_address_is_kept_in_the_store(client, send, data_dir):
    for _ in range(4):
        send(client, address="198.51.100.77")
    db = sqlite3.connect(data_dir / STORAGE_FILE)
    keys = " ".join(k for (k,) in db.execute("SELECT key FROM counters"))
    assert keys and "198.51.100.77" not in keys and "example.com" not in keys


def _hammer(path, n):
    storage = SQLiteStorage(f"landingpad+sqlite://{path}")
    for _ in range(n):
        storage.incr("k", 60)


def test_the_file_store_is_shared_by_processes(tmp_path):
    path = tmp_path / "limits.sqlite"
    procs = [multiprocessing.get_context("fork").Process(target=_hammer, args=(path, 200))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert SQLiteStorage(f"landingpad+sqlite://{path}").get("k") == 600


def test_the_file_store_starts_a_new_window_when_one_passes(tmp_path):
    storage = SQLiteStorage(f"landingpad+sqlite://{tmp_path / 'l.sqlite'}")
    assert storage.incr("k", 60) == 1 and storage.incr("k", 60) == 2
    storage._db().execute("UPDATE counters SET expires = 0")
    assert storage.get("k") == 0 and storage.incr("k", 60) == 1
    storage.clear("k")
    assert storage.get("k") == 0


@pytest.fixture
def two_nodes(app_config, data_dir, tmp_path, redis_url):
    """Two apps as on two machines: own data dirs; one database, sites file and Redis."""
    nodes = [create_app({**app_config, "DATA_DIR": str(tmp_path / name),
                         "SITES": data_dir / "sites.toml", "REDIS_URL": redis_url})
             for name in ("node-a", "node-b")]
    yield nodes
    for node in nodes:
        node.extensions["landingpad.db"].dispose()


def test_redis_shares_the_limit_between_nodes(two_nodes, send, redis_server):
    a, b = (node.test_client() for node in two_nodes)
    assert [send(a), send(b), send(a), send(b), send(a)] == [303, 303, 303, 429, 429]
    keys = b" ".join(redis_server.client().keys("*"))
    assert keys and b"127.0.0.1" not in keys


def test_with_redis_down_sign_ups_go_on_and_say_so(app_config, send, tmp_path, caplog):
    server = start_redis(tmp_path)
    app = create_app({**app_config, "REDIS_URL": server.url})
    client = app.test_client()
    assert send(client) == 303
    server.stop()
    caplog.set_level(logging.WARNING)
    assert [send(client) for _ in range(2)] == [303, 303]  # never a 500
    assert "falling back to in-memory storage" in caplog.text
    with app.test_request_context(headers={"Host": "coffee.test"}):
        from landingpad import ratelimit as caps

        # The limiter now counts in this process's memory: still a cap, per process.
        assert caps.take_mail("confirm", "a@example.com", 1) is True
        assert caps.take_mail("confirm", "a@example.com", 1) is False
    app.extensions["landingpad.db"].dispose()


@pytest.mark.parametrize(("name", "value"), [
    ("LANDINGPAD_SIGNUP_RATE", "lots"),
    ("LANDINGPAD_SIGNUP_RATE", "6/minute\nX-Evil: 1"),
    ("LANDINGPAD_PRIVACY_RATE", "-1/hour"),
    ("LANDINGPAD_TRUSTED_PROXIES", "nginx.internal"),
    ("LANDINGPAD_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("REDIS_URL", "redis://h:6379/0 extra"),
])
def test_hostile_limit_settings_stop_the_app_naming_the_variable(name, value, tmp_path):
    with pytest.raises(SettingsError, match=name):
        load(environ={name: value, "LANDINGPAD_DATA_DIR": str(tmp_path)})


def test_a_count_the_store_cannot_take_lets_the_mail_through(app, caplog, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    storage = app.extensions["landingpad.limiter"].limiter.storage
    storage.path, storage._conn = tmp_path / "a-file" / "l.sqlite", None
    with app.test_request_context(headers={"Host": "coffee.test"}):
        from landingpad import ratelimit as caps

        assert caps.take_mail("confirm", "a@example.com", 1) is True
    assert "rate-limit store unreachable: confirm not counted" in caplog.text


def test_a_shared_database_needs_a_configured_secret_key(tmp_path):
    environ = {"LANDINGPAD_DATA_DIR": str(tmp_path),
               "DATABASE_URL": "postgresql://lp@db.internal/lp"}
    with pytest.raises(SettingsError, match="LANDINGPAD_SECRET_KEY"):
        load(environ=environ)
    assert load(environ={**environ, "LANDINGPAD_SECRET_KEY": "k" * 64})["SECRET_KEY"]
    assert not (tmp_path / "secret_key").exists()  # never generated per node


def test_counter_keys_are_the_previous_releases_so_a_rolling_upgrade_shares_the_count(
        client, send, data_dir):
    # Flask-Limiter's layout: LIMITER/<prefix>/<site>:<HMAC of the client>/<endpoint>/<rate>.
    send(client)
    send(client, host="www.coffee.test")  # an alias counts on its site's key
    db = sqlite3.connect(data_dir / STORAGE_FILE)
    [(key, count)] = db.execute("SELECT key, count FROM counters").fetchall()
    assert re.fullmatch(r"LIMITER/landingpad/coffee\.test:[0-9a-f]{32}/signup\.signup/3/1/minute",
                        key)
    assert count == 2
