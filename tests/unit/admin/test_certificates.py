"""The admin's Certificates page: states per domain in sections, the summary, "Retry now"."""

import re
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from markupsafe import escape
from sqlalchemy import select

from landingpad import create_app
from landingpad.admin.accounts import create_user
from landingpad.admin.certificates import overview
from landingpad.storage import session_factory
from landingpad.storage.models import Certificate
from landingpad.storage.types import utcnow
from landingpad.tls import store
from landingpad.tls.status import StatusRow
from tests.conftest import SITES_TOML
from tests.unit.admin.conftest import ADMIN, PASSWORD, NginxClient, csrf_token

H = {"Host": ADMIN}
HOSTS = ("failing.test", "soon.test", "fortnight.test", "pending.test", "valid.test",
         "renewing.test")
EVIL = '<script>alert("x")</script> & connection refused'


@pytest.fixture
def data_dir(data_dir):
    extra = "".join(f'\n[sites."{host}"]\nLANDING_TITLE = "{host}"\n' for host in HOSTS)
    (data_dir / "sites.toml").write_text(SITES_TOML + extra)
    return data_dir


@pytest.fixture
def certs(app):
    """A host per state; coffee.test, www.coffee.test and bikes.test have no row yet."""
    now = utcnow()

    def row(host, state, not_after=None, next_in=None, error=None, failures=0):
        return Certificate(host=host, state=state, not_after=not_after,
                           next_attempt_at=None if next_in is None else now + next_in,
                           failures=failures, last_error=error, updated_at=now)

    rows = [
        row("failing.test", "failing", None, timedelta(hours=2), EVIL, failures=3),
        row("soon.test", "renewing", now + timedelta(days=3), timedelta(minutes=5)),
        row("fortnight.test", "valid", now + timedelta(days=10), timedelta(days=1)),
        row("pending.test", "pending", None, timedelta(seconds=30)),
        row("valid.test", "valid", now + timedelta(days=60), timedelta(days=40)),
        row("renewing.test", "renewing", now + timedelta(days=50), timedelta(minutes=1)),
    ]
    with session_factory(app)() as session:
        session.add_all(rows)
        session.commit()
    for served in rows:  # what is valid or renewing is served here (tls status checks)
        if served.state in ("valid", "renewing"):
            store.write_pair(app.config["DATA_DIR"], served.host,
                             *self_signed(served.host, served.not_after))
    return now


def self_signed(host, not_after):
    """A certificate for ``host`` ending at ``not_after``, and its key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(utcnow() - timedelta(days=1)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def page(client, path="/certificates"):
    """The page's HTML, without the <wbr> that let long names and reasons wrap on a phone."""
    response = client.get(path, headers=H)
    assert response.status_code == 200
    return response.get_data(as_text=True).replace("<wbr>", "")


def section(html, key):
    """The HTML of one section of the page, by its id."""
    match = re.search(rf'<section aria-labelledby="{key}-heading" id="{key}">(.*?)</section>',
                      html, re.S)
    assert match, key
    return match.group(1)


def next_attempt(app, host):
    with session_factory(app)() as session:
        return session.scalar(select(Certificate.next_attempt_at).where(Certificate.host == host))


def test_sections_in_order_each_domain_in_its_own(logged_in, certs):
    html = page(logged_in)
    keys = ("failing", "expiring", "pending", "valid", "none")
    positions = [html.index(f'id="{key}-heading"') for key in keys]
    assert positions == sorted(positions)
    assert html.index('class="totals"') < positions[0]  # the summary first
    expected = {
        "failing": {"failing.test"},
        "expiring": {"soon.test", "fortnight.test"},  # valid or renewing, within 14 days
        # With certificates on, a site the worker has not queued yet is pending too.
        "pending": {"pending.test", "coffee.test", "www.coffee.test", "bikes.test"},
        "valid": {"valid.test", "renewing.test"},  # renewing early: still served
        "none": set(),
    }
    everyone = set().union(*expected.values())
    for key, hosts in expected.items():
        part = section(html, key)
        shown = set(re.findall(r'<th scope="row">([^<]+)</th>', part))
        assert shown == hosts, key
        assert f"({len(hosts)})" in part
        assert ("<caption" in part) == bool(hosts)
        assert not (everyone - hosts) & shown
    # The nearest end first in "expiring soon".
    expiring = section(html, "expiring")
    assert expiring.index("soon.test") < expiring.index("fortnight.test")
    # Counts per state over every domain.
    totals = dict((label.strip(), int(n)) for n, label in re.findall(
        r'<li><span class="n">(\d+)</span>([^<]+)</li>', html))
    assert totals == {"valid": 2, "renewing": 2, "pending": 4, "failing": 1,
                      "without a certificate": 0}
    # Accessible tables: a caption, column and row headers.
    assert html.count("<caption") == 4 and 'scope="col"' in html
    assert "just added" in section(html, "pending")  # coffee.test: no next attempt yet
    assert 'aria-current="page">Certificates</a>' in html


def test_failing_reason_is_text_never_html_and_shows_the_next_attempt(logged_in, certs):
    failing = section(page(logged_in), "failing")
    assert "<script>" not in failing
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; connection refused" in failing
    assert "(in 1 hour)" in failing or "(in 2 hours)" in failing
    assert "No certificate served yet." in failing
    assert "Retry now" in failing and 'name="host" value="failing.test"' in failing


def test_summary_counts_what_expires_within_7_days(logged_in, certs):
    html = page(logged_in)
    assert "1 certificate expires within 7 days." in html  # soon.test; fortnight.test: 10
    assert "Automatic certificates are off" not in html
    assert 'id="pending-by"' in html  # a pending host: when the last one should have it




def test_says_when_automatic_certificates_are_off(app_config):
    """And then the sites without a certificate are in "none", none of them pending."""
    app = create_app({**app_config, "ADMIN_HOST": ADMIN, "ACME_DIRECTORY": ""})
    app.test_client_class = NginxClient
    try:
        with session_factory(app)() as session:
            create_user(session, "owner@example.com", PASSWORD)
        client = app.test_client()
        client.post("/login", headers=H, data={
            "email": "owner@example.com", "password": PASSWORD,
            "csrf_token": csrf_token(client)})
        html = page(client)
        assert "Automatic certificates are off" in html
        assert 'id="pending-by"' not in html and "0 certificates expire within 7" in html
        none = set(re.findall(r'<th scope="row">([^<]+)</th>', section(html, "none")))
        assert none == {"coffee.test", "www.coffee.test", "bikes.test", *HOSTS}
        assert section(html, "failing").count("None.") == 1
    finally:
        app.extensions["landingpad.db"].dispose()


def test_filter_by_domain_text(logged_in, certs):
    html = page(logged_in, "/certificates?q=SOON")
    assert set(re.findall(r'<th scope="row">([^<]+)</th>', html)) == {"soon.test"}
    assert 'value="soon"' in html and "1 domain contains" in html
    assert "1 certificate expires within 7 days." in html  # the summary counts every domain


def test_login_required(client, app, certs):
    response = client.get("/certificates", headers=H)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/certificates")
    before = next_attempt(app, "failing.test")
    response = client.post("/certificates/retry", headers=H, data={
        "host": "failing.test", "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert next_attempt(app, "failing.test") == before


def test_retry_makes_the_host_due_now(logged_in, app, certs):
    token = csrf_token(logged_in, "/certificates")
    response = logged_in.post("/certificates/retry", headers=H, data={
        "host": " Failing.Test. ", "csrf_token": token, "q": "fail"})
    assert response.status_code == 302 and response.headers["Location"] == "/certificates?q=fail"
    due = next_attempt(app, "failing.test")
    assert abs((due - utcnow()).total_seconds()) < 30
    assert "failing.test is due now" in page(logged_in)
    with session_factory(app)() as session:
        row = session.get(Certificate, "failing.test")
        assert row.state == "failing" and row.failures == 3  # only the time moved


def test_retry_refuses_an_unknown_host_and_changes_nothing(logged_in, app, certs):
    def snapshot():
        with session_factory(app)() as session:
            return {(r.host, r.next_attempt_at, r.updated_at)
                    for r in session.scalars(select(Certificate))}

    before = snapshot()
    token = csrf_token(logged_in, "/certificates")
    for host in ("nosuch.test", "coffee.test", ""):  # coffee.test: a site with no row
        response = logged_in.post("/certificates/retry", headers=H,
                                  data={"host": host, "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/certificates"
    html = page(logged_in)
    assert "No certificate is queued for nosuch.test" in html
    assert "No certificate is queued for coffee.test" in html
    assert "Name the domain to retry." in html
    assert snapshot() == before


def test_retry_refuses_a_missing_csrf_token(logged_in, app, certs):
    before = next_attempt(app, "failing.test")
    response = logged_in.post("/certificates/retry", headers=H, data={"host": "failing.test"})
    assert response.status_code == 400
    assert next_attempt(app, "failing.test") == before


def test_overview_caps_each_section_and_counts_the_expired(monkeypatch):
    import landingpad.admin.certificates as certificates

    monkeypatch.setattr(certificates, "PER_SECTION", 2)
    now = utcnow()
    rows = [StatusRow(f"d{i}.test", "valid", now + timedelta(days=30), None, None, "acme")
            for i in range(5)]
    rows.append(StatusRow("old.test", "valid", now - timedelta(days=1), None, None, "owner"))
    view = overview(rows, now)
    valid = view.sections[3]
    assert valid.key == "valid" and valid.total == 5 and len(valid.rows) == 2
    assert view.expired == 1 and view.expiring_within_warn == 0
    assert [r.domain for r in view.sections[1].rows] == ["old.test"]  # ended: expiring soon


def test_long_runs_may_wrap_but_stay_text():
    from landingpad.admin.certificates import breakable

    text = "<b>x</b> urn:ietf:params:acme:error:connection " + "A" * 50
    html = str(breakable(text))
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "urn:<wbr>ietf:<wbr>params:" in html
    assert html.replace("<wbr>", "") == str(escape(text))
    assert breakable("broken-dns-example.com") == "broken-dns-example.<wbr>com"
