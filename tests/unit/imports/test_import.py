"""`landingpad import`: sign-ups from another tool with their consent's proof, all or nothing."""

from __future__ import annotations

import csv
import email
import io
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from landingpad.sites.site import consent_version_of
from landingpad.storage import session_factory
from landingpad.storage.models import ConsentText, Signup
from landingpad.storage.signups import record_signup
from landingpad.storage.suppression import suppress
from tests.conftest import TEST_SECRET

AGREED = "I agree to get email about Coffee Club from the Mailchimp form."
HEADER = "email,consented_at,consent_text,source,interests\n"


@pytest.fixture
def import_file(tmp_path):
    """write(text or bytes) -> the path of a CSV file holding it."""
    def write(content: str | bytes, name: str = "list.csv"):
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return path
    return write


@pytest.fixture
def run_import(runner, import_file):
    """run(csv text, *options) -> the result of `landingpad import FILE --site coffee.test`."""
    def run(content: str | bytes, *options: str, site: str = "coffee.test"):
        return runner("import", str(import_file(content)), "--site", site, *options)
    return run


@pytest.fixture
def stored(app):
    """(signups, consent texts) as in the database now."""
    def read():
        with session_factory(app)() as session:
            return (session.scalars(sa.select(Signup).order_by(Signup.id)).all(),
                    session.scalars(sa.select(ConsentText)).all())
    return read


def test_rows_are_stored_with_their_consent_and_source_and_no_mail_is_sent(
        run_import, stored, data_dir, runner):
    result = run_import(HEADER
                        + f"Ann@Example.COM,2026-10-01T09:30:00+02:00,{AGREED},mc 2026-10,"
                          "beans; Brewing gear\n"
                        + f"bob@example.com,2026-09-01,{AGREED},mc 2026-10,\n")
    assert result.exit_code == 0, result.output
    assert "coffee.test: 2 rows read; 2 imported" in result.stdout
    assert "checking" not in result.stderr  # no progress bar off a TTY
    signups, texts = stored()
    assert [(s.email, s.interests, s.source, s.consented_at, s.confirmed_at) for s in signups] == [
        ("ann@example.com", ["Beans", "Brewing gear"], "mc 2026-10",
         datetime(2026, 10, 1, 7, 30, tzinfo=UTC), None),
        ("bob@example.com", [], "mc 2026-10", datetime(2026, 9, 1, tzinfo=UTC), None)]
    assert {s.consent_version for s in signups} == {consent_version_of(AGREED)}
    # One text, stored as the form's are, first used by the earliest consent.
    assert [(t.version, t.text, t.first_used_at) for t in texts] == [
        (consent_version_of(AGREED), AGREED, datetime(2026, 9, 1, tzinfo=UTC))]
    assert not (data_dir / "mail").exists() or not any((data_dir / "mail").iterdir())
    # The admin's export shows where each consent was given.
    rows = list(csv.DictReader(io.StringIO(runner("export").stdout)))
    assert [(r["email"], r["source"]) for r in rows] == [("ann@example.com", "mc 2026-10"),
                                                         ("bob@example.com", "mc 2026-10")]


BAD_ROWS = [
    # (row, the column at fault, words of the reason)
    (f"not-an-address,2026-10-01,{AGREED},mc,", "email", "not a valid address"),
    (f",2026-10-01,{AGREED},mc,", "email", "missing"),
    (f"c@example.com,01/10/2026,{AGREED},mc,", "consented_at", "not an ISO 8601 date"),
    (f"d@example.com,2099-01-01,{AGREED},mc,", "consented_at", "in the future"),
    (f"e@example.com,,{AGREED},mc,", "consented_at", "missing"),
    ("f@example.com,2026-10-01,,mc,", "consent_text", "missing"),
    (f"g@example.com,2026-10-01,{AGREED},,", "source", "missing"),
    (f"h@example.com,2026-10-01,{AGREED},{'x' * 201},", "source", "at most 200"),
    (f"i@example.com,2026-10-01,{AGREED},mc,Tea", "interests", "'Tea' is not an interest"),
    (f"j@example.com,2026-10-01,{AGREED},mc", None, "4 fields"),
    (f"k@example.com,2026-10-01,{AGREED},mc,,extra", None, "6 fields"),
]


def test_every_bad_row_is_reported_and_nothing_is_written(run_import, stored):
    good = f"ok@example.com,2026-10-01,{AGREED},mc,\n"
    result = run_import(HEADER + good + "".join(row + "\n" for row, _, _ in BAD_ROWS))
    assert result.exit_code == 1
    for line, (_row, column, words) in enumerate(BAD_ROWS, start=3):
        where = f"line {line}" + (f", column {column}" if column else "")
        assert re.search(rf"^  {where}: .*{re.escape(words)}", result.stdout, re.M), where
    assert f"nothing imported: {len(BAD_ROWS)} problem(s) in {len(BAD_ROWS)} refused row(s)" \
        in result.stdout
    assert AGREED not in result.output  # no row's other cells are echoed
    assert stored() == ([], [])


def test_consent_by_version_must_name_a_text_stored_here(run_import, app, stored):
    with session_factory(app)() as session:  # a form sign-up stored text "v1"
        record_signup(session, site="coffee.test", email="web@example.com", interests=[],
                      consent_version="v1", consent_text="I agree")
    site = app.extensions["landingpad.sites"].site_for_host("coffee.test")
    header = "email,consented_at,consent_version,consent_text\n"
    rows = ("a@example.com,2026-10-01,v1,\n"
            f"b@example.com,2026-10-01,{site.consent_version},\n"  # the site's own text
            "c@example.com,2026-10-01,v1,I agree\n")
    refused = run_import(header + rows + "d@example.com,2026-10-01,v9,\n"
                         "e@example.com,2026-10-01,v1,Another text\n", "--source", "paper")
    assert refused.exit_code == 1
    assert "line 5, column consent_version: no consent text is stored" in refused.stdout
    assert "line 6, column consent_version: names another text" in refused.stdout
    assert len(stored()[0]) == 1
    result = run_import(header + rows, "--source", "paper forms 2025")
    assert result.exit_code == 0, result.output
    signups, texts = stored()
    assert [(s.email, s.consent_version, s.source) for s in signups[1:]] == [
        ("a@example.com", "v1", "paper forms 2025"),
        ("b@example.com", site.consent_version, "paper forms 2025"),
        ("c@example.com", "v1", "paper forms 2025")]
    assert {t.version: t.text for t in texts} == {"v1": "I agree",
                                                  site.consent_version: site.consent_text}


def test_duplicates_and_existing_sign_ups_are_skipped_and_never_overwritten(
        run_import, app, stored):
    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="old@example.com", interests=["Beans"],
                      consent_version="v1", consent_text="I agree")
        record_signup(session, site="bikes.test", email="new@example.com", interests=[],
                      consent_version="v1", consent_text="I agree")
    result = run_import(HEADER + f"OLD@example.com,2026-10-01,{AGREED},mc,\n"
                        f"new@example.com,2026-10-01,{AGREED},mc,\n"
                        f"New@Example.com,2026-10-02,{AGREED},other,\n")
    assert result.exit_code == 0, result.output
    assert "line 2, column email: already signed up" in result.stdout
    assert "line 4, column email: same address as line 3" in result.stdout
    assert "3 rows read; 1 imported; 1 duplicates in the file, 1 already signed up" \
        in result.stdout
    signups, _ = stored()
    by_key = {(s.site, s.email): s for s in signups}
    old = by_key["coffee.test", "old@example.com"]
    assert (old.consent_version, old.interests, old.source) == ("v1", ["Beans"], None)
    assert by_key["coffee.test", "new@example.com"].source == "mc"  # the first line's


def test_suppressed_addresses_are_not_imported(run_import, app, stored):
    with session_factory(app)() as session:
        suppress(session, TEST_SECRET, "gone@example.com", "unsubscribed")
        session.commit()
    result = run_import(HEADER + f"Gone@Example.com,2026-10-01,{AGREED},mc,\n"
                        f"here@example.com,2026-10-01,{AGREED},mc,\n")
    assert result.exit_code == 0, result.output
    assert "line 2, column email: on the suppression list" in result.stdout
    assert "1 imported" in result.stdout and "1 suppressed" in result.stdout
    assert [s.email for s in stored()[0]] == ["here@example.com"]


def test_a_dry_run_reports_and_writes_nothing(run_import, stored):
    text = HEADER + f"a@example.com,2026-10-01,{AGREED},mc,\n"
    result = run_import(text, "--dry-run")
    assert result.exit_code == 0
    assert "dry run, nothing written: 1 would be imported" in result.stdout
    assert stored() == ([], [])
    refused = run_import(text + "bad,2026-10-01,x,mc,\n", "--dry-run")
    assert refused.exit_code == 1 and "line 3, column email" in refused.stdout


def test_a_bom_semicolons_crlf_and_quoted_cells_are_read(run_import, stored):
    content = ("\ufeffEmail;Consented_At;Consent_Text;Source\r\n"
               f'a@example.com;2026-10-01T08:00:00Z;"{AGREED}; really";"mc; list 1"\r\n'
               "\r\n;;;\r\n ; ;;\r\n")  # a spreadsheet's empty rows
    result = run_import(content.encode("utf-8"))
    assert result.exit_code == 0, result.output
    assert "1 rows read; 1 imported" in result.stdout
    [signup], [text] = stored()
    assert (signup.email, signup.source, text.text) == ("a@example.com", "mc; list 1",
                                                        f"{AGREED}; really")


def test_a_double_opt_in_site_takes_confirmed_addresses_only(run_import, stored):
    header = "email,consented_at,consent_text,source,confirmed_at\n"
    unconfirmed = f"a@example.com,2026-10-01,{AGREED},mc,\n"
    early = f"b@example.com,2026-10-01,{AGREED},mc,2026-09-30\n"
    refused = run_import(header + unconfirmed + early, site="bikes.test")
    assert refused.exit_code == 1
    assert "line 2, column confirmed_at: missing: bikes.test uses double opt-in" in refused.stdout
    assert "line 3, column confirmed_at: earlier than consented_at" in refused.stdout
    result = run_import(header + f"a@example.com,2026-10-01,{AGREED},mc,2026-10-02T10:00\n",
                        site="bikes.test")
    assert result.exit_code == 0, result.output
    [signup], _ = stored()
    assert signup.confirmed_at == datetime(2026, 10, 2, 10, tzinfo=UTC)


def test_unusable_files_and_sites_are_clear_errors_that_change_nothing(
        runner, run_import, import_file, stored, tmp_path):
    good = f"a@example.com,2026-10-01,{AGREED},mc,\n"
    cases = [
        (b"", "the file is empty"),
        (HEADER.encode(), "no rows after the header"),
        ((HEADER + good).encode("latin-1") + "b\xe9@example.com,2026-10-01,x,y,\n".encode(
            "latin-1"), "line 3 is not UTF-8"),
        (b"PK\x03\x04\x00\x00email\n", "NUL character"),
        (b"a@example.com,2026-10-01\n", "must be a header row"),
        (("name," + HEADER + "Ann," + good).encode(), "unknown column(s) 'name'"),
        ((b"email,email,consented_at,consent_text,source\n"), "named twice"),
        (b"email,consent_text,source\n", "must have a consented_at column"),
        (b"email,consented_at,source\n", "consent_text or a consent_version column"),
        (b"email,consented_at,consent_text\n", "a source column"),
        ((HEADER + 'a@example.com,"2026-10-01,x,mc,\n').encode(), "not valid CSV"),
    ]
    for content, words in cases:
        result = run_import(content)
        assert result.exit_code == 2, (words, result.output)
        assert words in result.stderr and "nothing was imported" in result.stderr, words
    missing = runner("import", str(tmp_path / "nope.csv"), "--site", "coffee.test")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    unknown = run_import(HEADER + good, site="tea.test")
    assert unknown.exit_code == 2 and "tea.test is not a site" in unknown.stderr
    assert run_import(HEADER + good, site="not a domain").exit_code == 2
    assert stored() == ([], [])
    # An alias names its site: the rows are filed under the site's domain.
    assert run_import(HEADER + good, site="www.coffee.test").exit_code == 0
    assert [s.site for s in stored()[0]] == ["coffee.test"]


def _data_link(data_dir) -> str:
    [path] = (data_dir / "mail").glob("*.eml")
    body = email.message_from_bytes(path.read_bytes()).get_payload()[0].get_payload(
        decode=True).decode()
    return re.search(r"https://coffee\.test(/privacy/data/\S+)", body).group(1)


def test_the_visitor_sees_the_imported_consent_and_its_source(run_import, client, data_dir):
    assert run_import(HEADER + f"me@example.com,2026-10-01T12:00:00Z,{AGREED},"
                      "mailchimp export 2026-10,\n").exit_code == 0
    host = {"Host": "coffee.test"}
    client.post("/privacy/request", data={"email": "me@example.com"}, headers=host,
                buffered=True)
    link = _data_link(data_dir)
    page = client.get(link, headers=host).get_data(as_text=True)
    assert AGREED in page and "mailchimp export 2026-10 (your address was imported" in page
    held = json.loads(client.get(link + "?format=json", headers=host).data)
    assert held["consent"] == {"version": consent_version_of(AGREED), "text": AGREED,
                               "given_at": "2026-10-01T12:00:00+00:00",
                               "source": "mailchimp export 2026-10",
                               "lang": None}  # an imported text's language is unknown


def test_signing_up_again_on_the_form_records_the_forms_consent(run_import, app, stored):
    assert run_import(HEADER + f"a@example.com,2026-10-01,{AGREED},mc,\n").exit_code == 0
    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="a@example.com", interests=[],
                      consent_version="v2", consent_text="I agree on the form")
    [signup], _ = stored()
    assert (signup.consent_version, signup.source) == ("v2", None)


def test_a_visitor_signing_up_during_the_import_keeps_their_row(app, stored):
    from landingpad.imports.importer import Importer, Skipped
    from landingpad.imports.rows import RowChecker

    site = app.extensions["landingpad.sites"].site_for_host("coffee.test")
    checker = RowChecker(site, "mc")
    with session_factory(app)() as session:
        importer = Importer(session, site, TEST_SECRET)
        for line, address in ((2, "web@example.com"), (3, "list@example.com")):
            row, _problems, _ = checker.check(line, {"email": address, "consent_text": AGREED,
                                                     "consented_at": "2026-10-01"})
            importer.add(row)
        assert importer.finish().imported == 2
        # Between the check and the write, the visitor signs up on the form.
        record_signup(session, site="coffee.test", email="web@example.com", interests=[],
                      consent_version="v1", consent_text="I agree")
        report = importer.write()
    assert report.imported == 1
    assert [str(p) for p in report.skipped[Skipped.EXISTING]] == [
        "line 2, column email: already signed up (the row here is kept as it is)"]
    assert [(s.email, s.consent_version, s.source) for s in stored()[0]] == [
        ("web@example.com", "v1", None), ("list@example.com", consent_version_of(AGREED), "mc")]
