"""Files, keys and names an attacker could bend (issue 16, items 12-15), through the real
code paths: the CLI, the app, `landingpad serve` and a real nginx."""

from __future__ import annotations

import http.client
import io
import json
import os
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.functional.conftest import start_stack
from tests.servers import landingpad_serve, request

HEX = "c0ffee" + "0" * 26  # an asset-shaped name (32 hex digits)


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request):
    """A permissive umask for the whole test (children inherit it): modes must not depend on it."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


# -- item 12: private files are private -----------------------------------------------------

def expected_mode(rel: Path, is_dir: bool) -> int:
    """The rule (docs/security.md, landingpad.files): what nginx's group must read is 0640/0750,
    the data and deploy dirs are 0710 (passable, not listable), everything else is private."""
    if rel == Path("."):
        return 0o710
    top = rel.parts[0]
    if top == "assets":
        return 0o750 if is_dir else 0o640
    if top == "deploy":
        if rel == Path("deploy"):
            return 0o710
        if rel.parts[:2] == ("deploy", "tls-tickets"):  # read by nginx's master (root) only
            return 0o700 if is_dir else 0o600
        return 0o750 if is_dir else 0o640
    return 0o700 if is_dir else 0o600


def test_every_file_landingpad_creates_is_private_or_for_nginx_group_only(tmp_path, umask,
                                                                         monkeypatch):
    from landingpad import create_app
    from landingpad.mail.transports import make_transport
    from landingpad.storage.engine import make_engine, write_lock
    from landingpad.storage.migrations import upgrade

    data = tmp_path / "data"  # not there yet: landingpad makes it
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites."coffee.test"]\nLANDING_TITLE = "Coffee Club"\n'
                     'LANDING_EMAIL = "owner@coffee.example.com"\n')
    env = {"LANDINGPAD_DATA_DIR": str(data), "LANDINGPAD_SITES": str(sites),
           "LANDINGPAD_MAIL_TRANSPORT": "folder"}
    for name in ("LANDINGPAD_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "LANDINGPAD_DEPLOY_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    app = create_app({"TESTING": True})  # the secret key and the data dir
    engine = make_engine(app.config["DATABASE_URL"])  # the database
    upgrade(engine)
    client = app.test_client()
    client.post("/signup", data={"email": "a@example.com"}, headers={"Host": "coffee.test"})
    assert (data / "ratelimits.sqlite").exists()  # the limiter's store, made by that POST
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "owner@coffee.example.com", "a@example.com", "Hi"
    mail["Message-ID"] = "<files-test@coffee.test>"
    mail.set_content("hello")
    make_transport(app.config).send(mail)  # the mail folder and an .eml

    from landingpad.cli import main

    cli = CliRunner()
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    for args in (["dkim", "generate", "coffee.test"],
                 ["deploy", "render", "--listen", "127.0.0.1:1"],
                 ["asset", "upload", "coffee.test", str(logo), "--as", "logo"],
                 ["domain", "add", "shop.test", "--title", "Shop"]):
        result = cli.invoke(main, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)

    with write_lock(engine), engine.begin() as conn:  # -wal and -shm exist while it is open
        conn.exec_driver_sql("DELETE FROM signups WHERE id < 0")
        found = {}
        for path in [data, *data.rglob("*")]:
            if path.is_symlink():
                continue  # deploy/www/static and assets point at folders checked on their own
            rel = path.relative_to(data)
            found[rel] = (os.stat(path).st_mode & 0o777, path.is_dir())
    engine.dispose()

    # nginx -t itself makes its pid file, logs and temp folders, with its own modes
    # (logs 0644: not configurable); the 0710 data and deploy dirs keep "other" out.
    made_by_nginx = {rel for rel in found if rel == Path("deploy/nginx.pid") or (
        len(rel.parts) > 2 and rel.parts[:2] in (("deploy", "logs"), ("deploy", "tmp")))}
    wrong = {str(rel): oct(mode) for rel, (mode, is_dir) in found.items()
             if rel not in made_by_nginx and mode != expected_mode(rel, is_dir)}
    assert wrong == {}
    names = {rel.name for rel in found}
    for private in ("secret_key", "landingpad.db", "landingpad.db-wal", "landingpad.db-shm",
                    "landingpad.db.writelock", "ratelimits.sqlite", "ratelimits.sqlite-wal",
                    "ratelimits.sqlite-shm", "files-test@coffee.test.eml",
                    "coffee.test.landingpad.pem", ".domains.lock"):
        assert private in names, f"{private} was not made: the test no longer covers it"
    assert found[Path("mail")][0] == found[Path("dkim")][0] == 0o700
    assert any(rel.suffix == ".png" for rel in found)  # the uploaded logo, 0640
    assert found[Path("deploy/landingpad-maps.conf")][0] == 0o640
    assert not [rel for rel, (mode, _) in found.items()
                if mode & 0o007 and rel not in made_by_nginx]  # nothing for "other"


def test_the_background_sender_log_and_its_mail_are_private(app, logged_in, data_dir, umask):
    from landingpad.storage import session_factory
    from landingpad.storage.signups import record_signup
    from tests.unit.admin.conftest import ADMIN, csrf_token

    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="f@example.com", interests=[],
                      consent_version="v", consent_text="t")
    token = csrf_token(logged_in, "/announcements/")
    detail = logged_in.post("/announcements/", headers={"Host": ADMIN}, data={
        "csrf_token": token, "sites": ["coffee.test"], "subject": "Open",
        "body": "Come in."}).headers["Location"]
    token = csrf_token(logged_in, detail)
    # force: no DNS server here for the DKIM/DMARC check (tests/unit/dnscheck tests it).
    sent = logged_in.post(detail + "/send", data={"csrf_token": token, "confirm": "yes",
                                                  "force": "y"}, headers={"Host": ADMIN})
    assert sent.status_code == 302
    deadline = time.monotonic() + 30
    while not list((data_dir / "mail").glob("*.eml")):
        assert time.monotonic() < deadline, "background sender did not finish"
        time.sleep(0.2)
    logs = data_dir / "logs"
    assert [oct(os.stat(p).st_mode & 0o777) for p in (logs, *logs.iterdir())] == [
        "0o700", "0o600"]
    mail = data_dir / "mail"
    assert {oct(os.stat(p).st_mode & 0o777) for p in (mail, *mail.iterdir())} == {
        "0o700", "0o600"}


# -- item 13: asset keys can't climb, through `landingpad serve` ----------------------------

@pytest.fixture
def served(cli_env, data_dir):
    # A file beside the store with an asset-shaped name, and the store's folder: before
    # the fix, /assets/..%2f<name> served it.
    (data_dir / f"{HEX}.png").write_bytes(b"SECRET FROM THE DATA DIR")
    (data_dir / "secret_key").write_text("x" * 64 + "\n")
    (data_dir / "assets" / "coffee.test").mkdir(parents=True)
    with landingpad_serve(cli_env) as (port, _):
        yield port


def raw_get(port: int, path: str, host: str = "coffee.test") -> tuple[int, bytes]:
    """GET with the path exactly as given: no client-side normalisation or re-encoding."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


CLIMBS = [
    f"/assets/..%2f{HEX}.png", f"/assets/..%2F{HEX}.png", f"/assets/%2e%2e/{HEX}.png",
    f"/assets/%2e%2e%2f{HEX}.png", f"/assets/.%2e/{HEX}.png", f"/assets/..\\{HEX}.png",
    f"/assets/..%5c{HEX}.png", f"/assets/%252e%252e%252f{HEX}.png",
    f"/assets/coffee.test/..%2f..%2f{HEX}.png", f"/assets/..%2f{HEX}.png%00",
    "/assets/..%2fsecret_key", "/assets/%2e%2e/secret_key", "/assets/..\\secret_key",
    "/assets/../secret_key", "/assets/coffee.test/../../secret_key",
]


@pytest.mark.functional
def test_asset_paths_that_climb_serve_nothing_through_landingpad_serve(served):
    for path in CLIMBS:
        status, body = raw_get(served, path)
        assert status in (400, 404), (path, status)
        assert b"SECRET" not in body and b"x" * 64 not in body, path


# -- item 14: nginx map keys ------------------------------------------------------------------

PARAMETER_NAMES = ("default", "include", "hostnames", "volatile")


@pytest.fixture
def parameter_named_stack(cli_env, data_dir):
    with (data_dir / "sites.toml").open("a") as fh:
        for name in PARAMETER_NAMES:
            title = f'LANDING_TITLE = "Site called {name}"\n' if name != "volatile" else ""
            fh.write(f'\n[sites."{name}"]\n{title}LANDING_TAGLINE = "tagline of {name}"\n')
    (data_dir / f"{HEX}.png").write_bytes(b"SECRET FROM THE DATA DIR")
    running = start_stack(data_dir, cli_env, cache_seconds=0)  # nginx -t runs on start
    assert os.stat(running.uwsgi_log).st_mode & 0o777 == 0o600  # uWSGI's own log: private
    yield running
    running.stop()


@pytest.mark.functional
def test_domains_spelled_like_map_parameters_keep_their_meaning_in_real_nginx(
        parameter_named_stack):
    port = parameter_named_stack.port
    for name in PARAMETER_NAMES:
        status, _, body = request(port, "GET", "/", name)
        assert status == 200, (name, status)
        assert f"tagline of {name}".encode() in body  # its own site, its own values
    # A site that sets no title gets the built-in one, not what "default" set.
    assert b"Site called default" not in request(port, "GET", "/", "volatile")[2]
    status, _, body = request(port, "GET", "/", "coffee.test")
    assert status == 200 and b"Coffee Club" in body and b"Site called" not in body
    # `default` still means the map's default: a host nobody configured is nobody's.
    status, _, body = request(port, "GET", "/", "nobody.test")
    assert status == 404 and b"Site called" not in body
    # nginx serves /assets/ itself: it never climbs out of the web root either.
    for path in CLIMBS[:5]:
        status, body = raw_get(port, path)
        assert status in (400, 404) and b"SECRET" not in body, (path, status)


@pytest.mark.parametrize("name", ["a;b.test", "a{b.test", "a b.test", 'a"b.test', "a'b.test",
                                  "$host.test", "a}b.test", "a\\b.test", "~a.test", "*.a.test",
                                  ".a.test", "a.test;include", "a.test\ninclude x"])
def test_a_host_that_could_end_an_nginx_directive_is_refused_by_the_sites_loader(name):
    from landingpad.sites.sitesfile import SitesFileError, parse_sites

    quoted = json.dumps(name)  # a TOML basic string, escapes and all
    with pytest.raises(SitesFileError, match=r"(?s)^sites\.toml.*not a valid domain name"):
        parse_sites(f'[sites.{quoted}]\nLANDING_TITLE = "x"\n', Path("sites.toml"))
    with pytest.raises(SitesFileError, match=r"^sites\.toml:2: .*aliases"):
        parse_sites(f'[sites."ok.test"]\naliases = [{quoted}]\n', Path("sites.toml"))


def test_domain_add_refuses_a_host_that_could_end_an_nginx_directive(runner, data_dir, backend):
    before = (data_dir / "sites.toml").read_bytes()
    for name in ("a;b.test", "a{b.test", "a b.test", '"a.test', "$host"):
        result = runner("domain", "add", name, "--title", "x")
        assert result.exit_code != 0, (name, result.output)
    assert (data_dir / "sites.toml").read_bytes() == before


# -- item 15: upload names are cleaned, not refused --------------------------------------------

def test_cli_asset_upload_takes_a_name_with_spaces_and_punctuation(runner, data_dir, tmp_path,
                                                                   backend):
    path = tmp_path / "My Logo!.png"
    path.write_bytes(png())
    result = runner("asset", "upload", "coffee.test", str(path), "--as", "logo")
    assert result.exit_code == 0, result.output
    assert "My_Logo.png uploaded as /assets/coffee.test/" in result.output
    stored = list((data_dir / "assets" / "coffee.test").iterdir())
    assert len(stored) == 1 and len(stored[0].stem) == 32  # a uuid4 name, whatever was given


def test_what_nginx_reads_keeps_its_folders_group_whoever_makes_it(runner, data_dir, tmp_path,
                                                                  backend):
    import grp

    # The README has the operator give the data dir to nginx's group once; a logo uploaded
    # later from a shell (another primary group) must still be readable by that group.
    group = grp.getgrnam("nogroup").gr_gid
    assert os.getgid() != group
    result = runner("deploy", "render", "--listen", "127.0.0.1:1", "--no-check")
    assert result.exit_code == 0, result.output
    for path in (data_dir, data_dir / "assets", data_dir / "deploy"):
        os.chown(path, -1, group)
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    assert runner("asset", "upload", "coffee.test", str(logo)).exit_code == 0
    folder = data_dir / "assets" / "coffee.test"
    [stored] = folder.iterdir()
    assert os.stat(folder).st_gid == os.stat(stored).st_gid == group
    assert os.stat(stored).st_mode & 0o777 == 0o640
