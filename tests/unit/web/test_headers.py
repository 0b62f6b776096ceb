"""Every response of the app carries the strict header set, errors included."""

import pytest

STRICT = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def check(response):
    for name, value in STRICT.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'") and "frame-ancestors 'none'" in csp
    assert "base-uri 'none'" in csp and "form-action 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "camera=()" in response.headers["Permissions-Policy"]


@pytest.fixture
def crash_app(app):
    @app.get("/crash-for-test")
    def crash():
        raise RuntimeError("boom")

    return app


@pytest.mark.parametrize(("method", "path", "data", "status"), [
    ("GET", "/", None, 200),
    ("GET", "/privacy", None, 200),
    ("GET", "/nope", None, 404),
    ("POST", "/", None, 405),
    ("POST", "/signup", b"x=" + b"y" * 20000, 413),
    ("GET", "/crash-for-test", None, 500),
])
def test_header_set_on_every_status(crash_app, method, path, data, status):
    client = crash_app.test_client()
    for _ in range(2):  # the second GET / comes from the fast path
        response = client.open(path, method=method, data=data, headers={
            "Host": "coffee.test", "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == status
        check(response)


def test_unknown_and_garbage_hosts_too(client):
    for host in ("nobody.test", "bad_host!"):
        check(client.get("/", headers={"Host": host}))


@pytest.mark.parametrize("path", ["/nope", "/"])  # "/": the landing page's own fast path
def test_hsts_only_over_tls_and_only_when_the_site_opts_in(client, path):
    # Off by default: a parked domain may be sold to someone who serves no HTTPS.
    assert "Strict-Transport-Security" not in client.get(
        path, base_url="https://coffee.test").headers
    opted_in = {"LANDING_ENCODING": "url", "LANDING_HSTS": "true"}  # as nginx passes it
    plain = client.get(path, headers={"Host": "coffee.test"}, environ_base=opted_in)
    assert "Strict-Transport-Security" not in plain.headers
    secure = client.get(path, base_url="https://coffee.test", environ_base=opted_in)
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_crash_page_says_nothing_of_the_cause(crash_app):
    response = crash_app.test_client().get("/crash-for-test", headers={"Host": "coffee.test"})
    assert b"boom" not in response.data
    assert b"Something went wrong on our side." in response.data
