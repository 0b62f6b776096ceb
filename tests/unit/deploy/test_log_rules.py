"""The rendered configs keep client addresses and link tokens out of every log line."""

import re
from pathlib import Path

import pytest

from landingpad.deploy.render import DeployOptions, render_all
from landingpad.deploy.uwsgi import LOG_DRAINS, http_args, ini_lines
from landingpad.logs import SECRET_PATH
from landingpad.sites.sitesfile import parse_sites


@pytest.fixture
def files():
    options = DeployOptions(deploy_dir="/srv/lp/deploy", data_dir="/srv/lp", listen="80")
    return render_all(options, parse_sites('[sites."coffee.example"]\n', Path("s")))


def drained(line: str) -> bool:
    return any(re.search(regexp, line) for regexp in LOG_DRAINS)


@pytest.mark.parametrize("line", [
    # uWSGI's HTTP router (`landingpad serve`) names the client in its own lines.
    "[uwsgi-http key: coffee.test client_addr: 203.0.113.9 client_port: 51234] hr_read(): "
    "Connection reset by peer [plugins/http/http.c line 918]",
    "[uwsgi-http key:  client_addr: 2001:db8::1 client_port: 1] hr_write(): Broken pipe "
    "[plugins/http/http.c line 600]",
    # The safety net: a request line that still holds an address (logged before the routes).
    "Mon Nov 30 20:22:56 2026 - uwsgi_postbuffer_do_in_disk()/fwrite(): No space left on "
    "device [core/reader.c line 606] during POST /signup (203.0.113.9)",
    "Mon Nov 30 20:22:56 2026 - SIGPIPE: writing to a closed pipe/socket/fd (probably the "
    "client disconnected) on request /signup (ip 2001:db8::1) !!!",
    "Mon Nov 30 20:22:59 2026 - HARAKIRI [core 0] 203.0.113.9 - GET /slow since 1796070177",
])
def test_lines_naming_a_client_are_dropped(line):
    assert drained(line)


@pytest.mark.parametrize("line", [
    "Mon Nov 30 20:22:56 2026 - uwsgi_response_write_body_do(): Broken pipe "
    "[core/writer.c line 429] during GET /assets/coffee.test/a.png (-)",
    "Mon Nov 30 20:22:56 2026 - SIGPIPE: writing to a closed pipe/socket/fd (probably the "
    "client disconnected) on request /signup (ip -) !!!",
    "Mon Nov 30 20:22:59 2026 - HARAKIRI [core 0] - - POST /privacy/data/<token> since 1",
    "Mon Nov 30 20:22:59 2026 - *** HARAKIRI ON WORKER 1 (pid: 12188, try: 1, graceful: yes) ***",
    "GET coffee.test/confirm/<token> => 200 1248B 9ms worker=16111",
    "spawned uWSGI worker 1 (pid: 11844, cores: 1)",
    "uwsgi socket 0 bound to TCP address 127.0.0.1:3031 fd 3",
    "WARNING landingpad.ratelimit: rate-limit store unreachable: signup not counted",
])
def test_other_lines_are_kept(line):
    assert not drained(line)


def test_uwsgi_hides_the_client_and_link_tokens_from_its_own_lines():
    for lines in (ini_lines(2), [" ".join(http_args("127.0.0.1:8080", 2))]):
        text = "\n".join(lines)
        # The address moves to a variable only the rate limits read; REMOTE_ADDR gets "-".
        assert "empty:${LANDINGPAD_CLIENT} addvar:LANDINGPAD_CLIENT=${REMOTE_ADDR}" in text
        assert "setremoteaddr:-" in text
        assert f"{SECRET_PATH} seturi:$1<token>" in text
        assert "log-drain" in text and "log-master" in text
        assert "%(addr)" not in text


def test_nginx_logs_and_passes_link_paths_without_the_token(files):
    conf, params = files["landingpad.conf"], files["landingpad-params.conf"]
    redacted = f'    "~{SECRET_PATH}" "$1<token>";\n'
    assert ("map $uri $landingpad_log_path {\n" + redacted + "    default $uri;\n}") in conf
    assert ("map $uri $landingpad_request_uri {\n" + redacted
            + "    default $request_uri;\n}") in conf
    assert '"$request_method $landingpad_log_path $server_protocol"' in conf
    assert "$uri $server_protocol" not in conf and "$request_uri" not in params
    assert "uwsgi_param REQUEST_URI $landingpad_request_uri;" in params
    assert "uwsgi_param PATH_INFO $document_uri;" in params  # the app still routes on it
