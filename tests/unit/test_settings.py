import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from landingpad import create_app
from landingpad.settings import SettingsError, load, secret_key


def test_defaults_follow_the_data_dir(tmp_path):
    values = load(environ={"LANDINGPAD_DATA_DIR": str(tmp_path)})
    assert values["SITES"] == tmp_path / "sites.toml"
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'landingpad.db'}"
    assert values["MIN_FILL_SECONDS"] == 2.0 and values["FORM_MAX_AGE"] == 86400


def test_environment_variables_are_parsed():
    values = load(environ={"LANDINGPAD_MIN_FILL_SECONDS": "0.5", "DATABASE_URL": "sqlite://",
                           "LANDINGPAD_MAX_FORM_BYTES": "4096"})
    assert values["MIN_FILL_SECONDS"] == 0.5 and values["MAX_FORM_BYTES"] == 4096
    assert values["DATABASE_URL"] == "sqlite://"


@pytest.mark.parametrize(("name", "raw"), [
    ("LANDINGPAD_MAX_FORM_BYTES", "lots"), ("LANDINGPAD_MAX_FORM_BYTES", "-5"),
    ("LANDINGPAD_MIN_FILL_SECONDS", "nan"), ("LANDINGPAD_MIN_FILL_SECONDS", "inf"),
    ("LANDINGPAD_ADMIN_HOST", "admin\r\nX: y"), ("LANDINGPAD_FORM_MAX_AGE", "1e9x"),
    ("LANDINGPAD_ASSET_STORE", "ftp"), ("LANDINGPAD_S3_BUCKET", "Bad_Bucket"),
    ("LANDINGPAD_S3_BUCKET", "a..b"), ("LANDINGPAD_S3_PREFIX", "../up"),
    ("LANDINGPAD_S3_PREFIX", "/abs"), ("LANDINGPAD_S3_ENDPOINT_URL", "ftp://s3.example"),
    ("LANDINGPAD_S3_ENDPOINT_URL", "http://s3.example/;}"),
    ("LANDINGPAD_S3_ENDPOINT_URL", "http://user:pw@s3.example"),
    ("LANDINGPAD_S3_ACL", "everyone"), ("LANDINGPAD_ASSET_MAX_PIXELS", "0"),
])
def test_hostile_values_stop_the_app_naming_the_variable(name, raw):
    with pytest.raises(SettingsError, match=name):
        load(environ={name: raw})


@pytest.mark.parametrize(("name", "raw"), [
    ("LANDINGPAD_SMTP_PASSWORD", "hunter2\twith a tab"),
    ("LANDINGPAD_SECRET_KEY", "k" * 40 + "\x1b"),
    ("DATABASE_URL", "postgresql://lp:s3cr3t\x7f@db/lp"),
    ("REDIS_URL", "ftp://:s3cr3t@redis"),
    ("LANDINGPAD_ACME_EAB_HMAC_KEY", "not base64 s3cr3t!"),
])
def test_a_refused_secret_is_named_but_never_quoted(name, raw):
    with pytest.raises(SettingsError, match=name) as caught:
        load(environ={name: raw, "LANDINGPAD_ACME_EAB_KID": "kid"})
    assert "s3cr3t" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert "k" * 40 not in str(caught.value)


def test_numbers_are_read_as_python_writes_them_and_outer_white_space_is_not_theirs():
    values = load(environ={"LANDINGPAD_MAX_FORM_BYTES": "16_384\n",
                           "LANDINGPAD_SMTP_PORT": " 587 ", "LANDINGPAD_SMTP_TIMEOUT": "30\n"})
    assert values["MAX_FORM_BYTES"] == 16384 and values["SMTP_PORT"] == 587
    assert values["SMTP_TIMEOUT"] == 30.0
    for raw in ("16__384", "_16", "16_", "1 6"):
        with pytest.raises(SettingsError, match="LANDINGPAD_MAX_FORM_BYTES"):
            load(environ={"LANDINGPAD_MAX_FORM_BYTES": raw})


def test_the_acme_address_may_be_at_a_private_domain_but_must_be_an_address():
    assert load(environ={"LANDINGPAD_ACME_EMAIL": "pki@corp.local"})["ACME_EMAIL"] \
        == "pki@corp.local"
    with pytest.raises(SettingsError, match="LANDINGPAD_ACME_EMAIL"):
        load(environ={"LANDINGPAD_ACME_EMAIL": "not an address"})


def test_secret_key_is_created_once_private(tmp_path):
    key = secret_key(tmp_path)
    assert len(key) == 64 and secret_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def test_processes_starting_together_agree_on_one_key(tmp_path):
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(secret_key, [tmp_path] * 16))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_create_app_refuses_a_broken_sites_file(tmp_path):
    from landingpad.sites.sitesfile import SitesFileError

    (tmp_path / "sites.toml").write_text('[sites."a.example"]\nLANDING_ACCENT = "red"\n')
    with pytest.raises(SitesFileError, match=r"sites.toml:2: .*LANDING_ACCENT"):
        create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 40})


def test_every_setting_is_documented_in_the_readme():
    from landingpad.settings import SETTINGS
    from landingpad.sites.site import SITE_FIELDS

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [s.env_name for s in SETTINGS if s.env_name not in readme]
    missing += [f.key for f in SITE_FIELDS if f.key not in readme]
    assert missing == []


def test_s3_settings_are_normalised_and_need_a_bucket():
    values = load(environ={"LANDINGPAD_ASSET_STORE": "s3", "LANDINGPAD_S3_BUCKET": "lp-assets",
                           "LANDINGPAD_S3_PREFIX": "logos", "LANDINGPAD_S3_ENDPOINT_URL":
                           "http://127.0.0.1:8333/"})
    assert values["S3_PREFIX"] == "logos/" and values["S3_ENDPOINT_URL"] == "http://127.0.0.1:8333"
    with pytest.raises(SettingsError, match="LANDINGPAD_S3_BUCKET"):
        load(environ={"LANDINGPAD_ASSET_STORE": "s3"})
