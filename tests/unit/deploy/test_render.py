"""Rendered deployment text, held against expected text (as datasette's test_package does)."""

from pathlib import Path

import pytest

from landingpad.deploy.render import DeployOptions, render_all, render_maps
from landingpad.sites import params
from landingpad.sites.sitesfile import parse_sites

SITES = """
[sites."coffee.example"]
LANDING_TITLE = "Coffee Club"
LANDING_INTERESTS = ["Beans", "Brewing gear"]
aliases = ["www.coffee.example"]
[sites."bikes.example"]
LANDING_TITLE = 'Say "hi"; } server { $host 100%'
"""

EXPECTED_MAPS = '''\
# landingpad: per-domain settings as maps, rendered from the sites file.
# Values are percent-encoded (nginx has no escape for "$"); the app decodes them.
map_hash_max_size 1024;
map_hash_bucket_size 128;

# Which site a host is. A host and its www. twin share one line (deploy.render.site_entries):
# the look-up is on the host without a leading "www.", and the line says which site each
# spelling serves, "SITE" for both or "BARE|WWW" ("" for one that is not served).
map $host $landingpad_host_key {
    "~^www\\.(.+)$" $1;
    default $host;
}
map $host $landingpad_www {
    "~^www\\." 1;
    default 0;
}
map $landingpad_host_key $landingpad_site {
    hostnames;
    default "";
    bikes.example "bikes.example|";
    coffee.example "coffee.example";
}
map "$landingpad_www:$landingpad_site" $landing_domain {
    "~^[01]:([^|]+)$" $1;
    "~^0:([^|]*)\\|" $1;
    "~^1:[^|]*\\|(.+)$" $1;
    default "";
}

map $landing_domain $landing_title {
    default "";
    bikes.example "Say %22hi%22%3B %7D server %7B %24host 100%25";
    coffee.example "Coffee Club";
}

map $landing_domain $landing_interests {
    default "";
    coffee.example "[%22Beans%22, %22Brewing gear%22]";
}
'''


@pytest.fixture
def config():
    return parse_sites(SITES, Path("sites.toml"))


@pytest.fixture
def files(config, tmp_path):
    options = DeployOptions(deploy_dir="/srv/lp/deploy", data_dir="/srv/lp", listen="80",
                            processes=3, sites_file="/srv/lp/sites.toml")
    return render_all(options, config)


def test_maps_text(config):
    assert render_maps(config) == EXPECTED_MAPS


def test_uwsgi_ini_text(files):
    assert files["uwsgi.ini"] == """\
; landingpad: uWSGI config, rendered by `landingpad deploy render`.
; Start with: uwsgi --ini /srv/lp/deploy/uwsgi.ini   (or the systemd unit in the README)
[uwsgi]
socket = /srv/lp/deploy/uwsgi.sock
chmod-socket = 660
module = landingpad.wsgi:app
master = true
processes = 3
threads = 8
enable-threads = true
need-app = true
die-on-term = true
strict = true
vacuum = true
single-interpreter = true
py-call-osafterfork = true
post-buffering = 8192
buffer-size = 16384
harakiri = 30
max-requests = 1000000
max-requests-delta = 10000
log-format = %(method) %(host)%(uri) => %(status) %(size)B %(msecs)ms worker=%(pid)
route-run = setmodifier1:0
route-if-not = empty:${UWSGI_APPID} break:403
route-if-not = empty:${UWSGI_CACHE_GET} break:403
route-if-not = empty:${UWSGI_CALLABLE} break:403
route-if-not = empty:${UWSGI_CHDIR} break:403
route-if-not = empty:${UWSGI_FILE} break:403
route-if-not = empty:${UWSGI_HOME} break:403
route-if-not = empty:${UWSGI_MODULE} break:403
route-if-not = empty:${UWSGI_POSTFILE} break:403
route-if-not = empty:${UWSGI_PYHOME} break:403
route-if-not = empty:${UWSGI_SCHEME} break:403
route-if-not = empty:${UWSGI_SCRIPT} break:403
route-if-not = empty:${UWSGI_SETENV} break:403
route-if-not = empty:${UWSGI_TOUCH_RELOAD} break:403
route-if = empty:${LANDINGPAD_CLIENT} addvar:LANDINGPAD_CLIENT=${REMOTE_ADDR}
route-run = setremoteaddr:-
route = ^(/confirm/|/unsubscribe/|/privacy/data/|/offer/confirm/|/logos/[^/]+/direct/) seturi:$1<token>
log-master = true
log-master-bufsize = 65536
log-drain = client_addr:
log-drain = during \\S+ \\S+ \\((?!-\\))[^()]*\\)$
log-drain = \\(ip (?!-\\))[^()]*\\) !!!
log-drain = HARAKIRI \\[core [0-9]+\\] (?!- )
env = LANDINGPAD_DATA_DIR=/srv/lp
env = LANDINGPAD_SITES=/srv/lp/sites.toml
"""  # noqa: E501 - the route line is as long as the pattern


@pytest.mark.parametrize(("name", "snippet"), [
    ("landingpad-app.conf", "location / {\n    try_files $uri @app;\n}"),
    ("landingpad-app.conf", "root /srv/lp/deploy/www;"),
    ("landingpad-app.conf", "uwsgi_cache_methods GET HEAD;\n    uwsgi_cache_valid 200 1s;"),
    ("landingpad-app.conf", "add_header X-Cache-Status $upstream_cache_status always;"),
    ("landingpad-app.conf", "limit_req_status 429;\n    limit_req_log_level info;"),
    ("landingpad-app.conf", "error_page 429 /too-many-requests;"),
    ("landingpad-app.conf", "location ^~ /.well-known/acme-challenge/ {"),
    ("landingpad-params.conf", "uwsgi_param LANDING_ENCODING url;"),
    # A setting a domain leaves unset is not sent at all (the app reads none as unset).
    ("landingpad-params.conf", "uwsgi_param LANDING_DOMAIN $landing_domain if_not_empty;\n"
                               "uwsgi_param LANDING_TITLE $landing_title if_not_empty;\n"),
    ("landingpad-params.conf", "uwsgi_pass landingpad_app;"),
    ("landingpad.conf", "upstream landingpad_app {\n    server unix:/srv/lp/deploy/uwsgi.sock;\n}"),
    ("landingpad.conf", "log_format landingpad_noip '$time_iso8601 $host"),
    ("landingpad.conf", "listen 80 default_server;"),
    ("nginx.conf", "include /srv/lp/deploy/landingpad.conf;"),
])
def test_rendered_snippets(files, name, snippet):
    assert snippet in files[name]


def test_no_ip_address_is_ever_logged(files):
    # To the app's limiter, in memory, in variables uWSGI never prints.
    passed = ("uwsgi_param LANDINGPAD_CLIENT $remote_addr;\n",
              "uwsgi_param HTTP_X_REAL_IP $remote_addr;\n")
    text = "".join(files.values())
    for line in passed:
        assert line in files["landingpad-params.conf"]
        text = text.replace(line, "")
    assert "$remote_addr" not in text and "%(addr)" not in text
    # uWSGI prints REMOTE_ADDR in its error lines: it gets a placeholder.
    assert 'uwsgi_param REMOTE_ADDR "-";\n' in files["landingpad-params.conf"]
    assert "uwsgi_params;" not in text  # not the stock file, which sends $remote_addr
    # Counted in memory only, per IPv4 address or IPv6 /64.
    assert "limit_req_zone $landingpad_client zone=landingpad_signup" in text
    assert "map $binary_remote_addr $landingpad_client {" in text


def test_params_only_for_keys_some_site_sets(files):
    assert "LANDING_ACCENT" not in files["landingpad-params.conf"]


def test_several_upstreams():
    options = DeployOptions(deploy_dir="/d", data_dir="/", upstreams=["10.0.0.1:3031",
                                                                      "unix:/run/b.sock"])
    text = render_all(options, parse_sites("", Path("s")))["landingpad.conf"]
    assert ("    server 10.0.0.1:3031 max_fails=1 fail_timeout=10s;\n"
            "    server unix:/run/b.sock max_fails=1 fail_timeout=10s;\n") in text


def test_only_unsent_requests_go_to_another_node(files):
    params = files["landingpad-params.conf"]
    assert "uwsgi_next_upstream error timeout;\n" in params
    assert "non_idempotent" not in "".join(files.values())  # a sent POST is never resent


def test_an_app_node_can_listen_on_tcp():
    options = DeployOptions(deploy_dir="/d", data_dir="/", socket="10.0.0.5:3031",
                            socket_on_private_network=True)
    assert options.upstreams == ["10.0.0.5:3031"]
    ini = render_all(options, parse_sites("", Path("s")))["uwsgi.ini"]
    assert "socket = 10.0.0.5:3031\n" in ini and "chmod-socket" not in ini


@pytest.mark.parametrize("bad", [
    {"upstreams": ["10.0.0.1:3031; include /etc/passwd"]},
    {"upstreams": ["unix:relative.sock"]},
    {"upstreams": ["10.0.0.1"]},
    {"upstreams": ["host:3031 backup"]},
    {"socket": "0.0.0.0:3031\nplugin = evil"},
    {"socket": "relative.sock"},
    {"signup_rate": "20r/m; allow all"},
    {"signup_rate": "0r/s"},
])
def test_hostile_deploy_options_are_refused(bad):
    with pytest.raises(ValueError, match="is not"):
        DeployOptions(deploy_dir="/d", data_dir="/", **bad)


def test_owner_certificates_go_through_the_one_https_block():
    config = parse_sites('[sites."a.example"]\naliases = ["www.a.example"]\n'
                         'tls_certificate = "/etc/ssl/a.pem"\n'
                         'tls_certificate_key = "/etc/ssl/a.key"\n', Path("s"))
    files = render_all(DeployOptions(deploy_dir="/d", data_dir="/", https_listen="443"), config)
    text, tls = files["landingpad.conf"], files["landingpad-tls.conf"]
    assert text.count("server {") == 2 and "server_name a.example" not in text
    assert "return 301 https://$host$request_uri;" in text
    assert "listen 443 ssl http2 default_server;" in text
    assert "ssl_certificate $landingpad_tls_cert;" in text
    for host in ("a.example", "www.a.example"):
        assert f'    {host} "/etc/ssl/a.pem";' in tls and f'    {host} "/etc/ssl/a.key";' in tls
        assert f"    {host} 1;" in tls


@pytest.mark.parametrize("path", ['/etc/ssl/a.pem; include /etc/passwd', "relative.pem",
                                  "/etc/ssl/$host.pem", '/etc/ssl/"a.pem'])
def test_certificate_paths_cannot_inject_config(path):
    from landingpad.sites.sitesfile import SitesFileError

    with pytest.raises(SitesFileError, match="tls_certificate"):
        parse_sites(f'[sites."a.example"]\ntls_certificate = \'{path}\'\n'
                    f'tls_certificate_key = "/k.pem"\n', Path("s"))


def test_long_deploy_dirs_get_a_short_socket_path():
    options = DeployOptions(deploy_dir="/x" * 60, data_dir="/")
    assert len(options.socket) < 100 and options.socket.endswith("/uwsgi.sock")


def test_encoded_values_round_trip_through_the_app(app_config):
    from landingpad import create_app

    title = 'Say "hi"; } server { $host 100% ünï'
    client = create_app(app_config).test_client()
    body = client.get("/", headers={"Host": "coffee.test"}, environ_base={
        "LANDING_ENCODING": "url", "LANDING_TITLE": params.encode(title)}).get_data(as_text=True)
    assert "<h1>Say &#34;hi&#34;; } server { $host 100% ünï</h1>" in body


def test_undecodable_param_falls_back(app_config):
    from landingpad import create_app

    client = create_app(app_config).test_client()
    body = client.get("/", headers={"Host": "coffee.test"}, environ_base={
        "LANDING_ENCODING": "url", "LANDING_TITLE": "%FF%FE"}).get_data(as_text=True)
    assert "<h1>Coffee Club</h1>" in body


def test_cache_seconds_zero_renders_no_micro_cache(config):
    options = DeployOptions(deploy_dir="/d", data_dir="/", cache_seconds=0)
    text = render_all(options, config)["landingpad-app.conf"]
    assert "uwsgi_cache " not in text and "location = / {" not in text
    assert "location / {\n    try_files $uri @app;\n}" in text


def test_admin_host_gets_its_own_uncached_server_block(config):
    options = DeployOptions(deploy_dir="/d", data_dir="/", admin_host="admin.example",
                            admin_listen="127.0.0.1:8443")
    text = render_all(options, config)["landingpad.conf"]
    block = text.split("server_name admin.example;")[1].split("\n}\n")[0]
    assert "listen 127.0.0.1:8443;" in text
    assert "uwsgi_cache" not in block and "limit_req zone=landingpad_login" in block
    no_admin = render_all(DeployOptions(deploy_dir="/d", data_dir="/"), config)["landingpad.conf"]
    assert "admin" not in no_admin.replace("# The owner's admin area", "")


def test_the_welcome_text_is_not_sent_through_nginx(tmp_path):
    from landingpad.deploy.render import DeployOptions, render_all
    from landingpad.sites.sitesfile import parse_sites

    config = parse_sites('[sites."a.test"]\nLANDING_TITLE = "A"\nLANDING_WELCOME = """\n'
                         + "Hello there. " * 1000 + '\n"""\nLANDING_WELCOME_SUBJECT = "Hi"\n',
                         tmp_path / "sites.toml")
    files = render_all(DeployOptions(deploy_dir=str(tmp_path / "d"), data_dir=str(tmp_path)),
                       config)
    assert all("landing_welcome" not in text.lower() and "Hello there" not in text
               for text in files.values())
    assert any("landing_title" in text for text in files.values())
