import csv
import io

import pytest
import sqlalchemy as sa

from landingpad.storage.engine import make_engine
from landingpad.storage.signups import record_signup

COMMANDS = [[], ["db"], ["db", "upgrade"], ["db", "current"], ["domain"], ["domain", "list"],
            ["export"], ["serve"], ["demo"], ["settings"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_has_help(runner, args, backend):
    result = runner(*args, "--help")
    assert result.exit_code == 0
    assert "Usage: landingpad" in result.output and len(result.output.splitlines()) > 3


def _signup(url, site, email, interests=()):
    engine = make_engine(url)
    with sa.orm.Session(engine) as session:
        record_signup(session, site=site, email=email, interests=list(interests),
                      consent_version="v1", consent_text="I agree")
    engine.dispose()


def test_export_writes_csv_with_header_and_safe_cells(runner, database_url):
    _signup(database_url, "coffee.test", "=1+2@example.com", ["@SUM(A1)", "Beans"])
    _signup(database_url, "bikes.test", "bob@example.com")
    result = runner("export")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["site", "email", "interests"]
    assert [r[:3] for r in rows[1:]] == [
        ["bikes.test", "bob@example.com", ""],
        ["coffee.test", "'=1+2@example.com", "'@SUM(A1); Beans"],
    ]
    assert "2 sign-ups exported" in result.stderr


def test_export_one_site(runner, database_url):
    _signup(database_url, "coffee.test", "a@example.com")
    _signup(database_url, "bikes.test", "b@example.com")
    rows = list(csv.reader(io.StringIO(runner("export", "--site", "Coffee.Test").stdout)))
    assert [r[1] for r in rows[1:]] == ["a@example.com"]


def test_export_refuses_a_bad_domain(runner, backend):
    result = runner("export", "--site", "not a domain")
    assert result.exit_code == 2 and "--site" in result.output


def test_domain_list_prints_one_domain_per_line(runner, backend):
    result = runner("domain", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["bikes.test", "coffee.test"]
    assert "Coffee Club\twww.coffee.test" in result.output


def test_db_upgrade_creates_the_schema(runner, cli_env, tmp_path, backend):
    cli_env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'new.db'}"
    result = runner("db", "upgrade")
    assert result.exit_code == 0 and "revision 0009" in result.output
    assert runner("db", "current").output.strip() == "0009"


def test_broken_configuration_is_a_clear_error(runner, cli_env, data_dir, backend):
    (data_dir / "sites.toml").write_text('[sites."x.test"]\nLANDING_TITLE = 3\n')
    result = runner("domain", "list")
    assert result.exit_code == 1
    assert "sites.toml:2: [sites.\"x.test\"] LANDING_TITLE: must be a string" in result.output
    cli_env["LANDINGPAD_MAX_FORM_BYTES"] = "big"
    result = runner("export")
    assert result.exit_code == 1 and "LANDINGPAD_MAX_FORM_BYTES='big'" in result.output
