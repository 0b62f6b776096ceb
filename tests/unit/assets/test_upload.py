"""Uploads the seed's way (CLI, server side) and serving, against both stores."""

import re

import pytest
import requests

from landingpad.assets import get_store
from landingpad.assets.store import read
from tests.unit.assets.conftest import image_bytes


@pytest.fixture
def upload(runner, tmp_path):
    def run(data: bytes, name: str = "logo.png", *args: str, domain: str = "coffee.test"):
        path = tmp_path / name
        path.write_bytes(data)
        return runner("asset", "upload", domain, str(path), *args)

    return run


def test_cli_upload_sets_the_logo_and_the_page_shows_it_from_its_own_origin(
        upload, client, data_dir, stored_keys):
    result = upload(image_bytes("PNG"), "My Logo.png", "--as", "logo")
    assert result.exit_code == 0, result.output
    url = re.search(r"My_Logo.png uploaded as (/assets/coffee\.test/[0-9a-f]{32}\.png)",
                    result.output).group(1)
    assert f'LANDING_LOGO = "{url}"' in (data_dir / "sites.toml").read_text()
    assert stored_keys() == {url.removeprefix("/assets/")}

    page = client.get("/", headers={"Host": "coffee.test"}).get_data(as_text=True)
    assert f'<img class="logo" src="{url}"' in page
    served = client.get(url, headers={"Host": "coffee.test"})
    assert served.status_code == 200 and served.data == image_bytes("PNG")
    assert served.headers["Content-Type"] == "image/png"
    assert "immutable" in served.headers["Cache-Control"]
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in served.headers


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"hello, I am text", "logo.png", "not a PNG, JPEG, GIF or WebP"),
    (image_bytes("JPEG"), "logo.png", "really a JPG image"),
    (b"", "logo.png", "empty"),
    (image_bytes("PNG", (5000, 4000)), "big.png", "5000 x 4000 pixels"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "logo.svg", "SVG is not accepted"),
    (image_bytes("PNG"), "logo", "must end in .png"),
])
def test_bad_uploads_are_refused_and_leave_nothing_behind(upload, data_dir, stored_keys,
                                                          data, name, message):
    before = (data_dir / "sites.toml").read_bytes()
    result = upload(data, name, "--as", "logo")
    assert result.exit_code == 1 and message in result.output, result.output
    assert stored_keys() == set()
    assert (data_dir / "sites.toml").read_bytes() == before


def test_too_big_a_file_is_refused_before_it_is_read(upload, stored_keys, app_config):
    result = upload(b"\x89PNG" + b"\0" * (2 * 1024 * 1024), "big.png")
    assert result.exit_code == 1 and "the limit is 2,097,152" in result.output
    assert stored_keys() == set()


def test_unknown_domain_is_refused(upload, stored_keys):
    result = upload(image_bytes("PNG"), "logo.png", domain="nobody.test")
    assert result.exit_code == 2 and "nobody.test is not a site" in result.output
    assert stored_keys() == set()


@pytest.mark.parametrize("path", [
    "/assets/coffee.test/" + "0" * 32 + ".png",      # well-formed, missing
    "/assets/../secret_key", "/assets/coffee.test/../../secret_key",
    "/assets/incoming/coffee.test/" + "0" * 32,      # unchecked uploads are never served
    "/assets/%2e%2e/secret_key",
])
def test_only_stored_asset_keys_are_served(client, path):
    response = client.get(path, headers={"Host": "coffee.test"})
    assert response.status_code == 404
    assert b"secret" not in response.data


def test_the_store_roundtrip(app, stored_keys):
    store = get_store(app)
    key = "coffee.test/" + "a" * 32 + ".gif"
    store.put(key, image_bytes("GIF"), "image/gif")
    stored = store.open(key)
    assert stored.content_type == "image/gif" and b"".join(stored.chunks()) == image_bytes("GIF")
    assert read(store, key, 6) == image_bytes("GIF")[:6]
    store.delete(key)
    assert store.open(key) is None and stored_keys() == set()
    with pytest.raises(ValueError):
        store.put("../escape.png", b"x", "image/png")


# -- browser-direct uploads to S3: the bucket enforces the presigned policy ----------

@pytest.fixture
def presigned(app):
    from landingpad.assets.store import incoming_key

    def make(max_bytes: int = 100_000):
        key = incoming_key("coffee.test")
        return key, get_store(app).presigned_post(key, max_bytes, "http://admin.test/back")

    return make


def _post(post, data: bytes, content_type: str = "image/png"):
    fields = {**post["fields"], "Content-Type": content_type}
    return requests.post(post["url"], data=fields, files={"file": ("x.png", data)},
                         allow_redirects=False, timeout=10)


@pytest.mark.parametrize("store_kind", ["s3"])  # the local store has no presigned POST
def test_presigned_post_accepts_an_image_within_the_limits(presigned, stored_keys):
    key, post = presigned()
    response = _post(post, image_bytes("PNG"))
    assert response.status_code == 303, (response.status_code, response.text)
    assert response.headers["Location"].startswith("http://admin.test/back?")
    assert stored_keys() == {key}


@pytest.mark.parametrize("store_kind", ["s3"])
@pytest.mark.parametrize(("size", "content_type"), [
    (150_000, "image/png"),   # over content-length-range
    (1_000, "text/html"),     # not image/*
])
def test_presigned_post_refuses_what_the_policy_does_not_allow(presigned, stored_keys, size,
                                                               content_type):
    _, post = presigned()
    response = _post(post, b"\x89PNG" + b"\0" * size, content_type)
    assert response.status_code in (400, 403), response.text
    assert stored_keys() == set()


# -- file names are cleaned, never a reason to refuse (issue 16, item 15) -------------

@pytest.mark.parametrize(("name", "shown"), [
    ("My Logo!.png", "My_Logo.png"),
    ("logo (final) v2.PNG", "logo_final_v2.png"),
    (".png", "upload.png"),
    ("логотип.png", "upload.png"),
    ("...png", "upload.png"),
])
def test_cli_upload_cleans_an_odd_file_name_and_stores_it(upload, stored_keys, name, shown):
    result = upload(image_bytes("PNG"), name)
    assert result.exit_code == 0, result.output
    stored = re.search(
        rf"{re.escape(shown)} uploaded as /assets/(coffee\.test/[0-9a-f]{{32}}\.png)",
        result.output)
    assert stored, result.output
    assert stored_keys() == {stored.group(1)}


@pytest.mark.parametrize(("given", "shown"), [
    ("My Logo!.png", "My_Logo.png"),
    ("../../etc/passwd.png", "passwd.png"),
    ("C:\\fakepath\\My Logo.jpeg", "My_Logo.jpeg"),
    ("a\x00b.gif", "ab.gif"),
    ("name with spaces .webp", "name_with_spaces.webp"),
])
def test_file_names_from_any_client_are_cleaned_to_one_plain_name(given, shown):
    from landingpad.assets.upload import clean_filename

    assert clean_filename(given) == shown


# -- asset keys can't climb (issue 16, item 13) -----------------------------------------

HEX = "a" * 32
CLIMBING_KEYS = [
    f"../{HEX}.png", f"./{HEX}.png", f"coffee.test/../{HEX}.png", f"../../{HEX}.png",
    f"..\\{HEX}.png", f"coffee.test\\{HEX}.png", f"/{HEX}.png", f"/etc/{HEX}.png",
    f"coffee.test/{HEX}.png\x00", f"%2e%2e/{HEX}.png", f"..%2f{HEX}.png",
    f"coffee..test/{HEX}.png", f".coffee.test/{HEX}.png", f"coffee.test./{HEX}.png",
    f"-coffee.test/{HEX}.png", f"coffee.test//{HEX}.png", f"incoming/../{HEX}.png",
]


@pytest.mark.parametrize("key", CLIMBING_KEYS)
def test_the_one_key_validator_refuses_keys_that_could_leave_the_store(key):
    from landingpad.assets.store import BadKey, check_key, is_key

    with pytest.raises(BadKey):
        check_key(key)
    with pytest.raises(BadKey):
        check_key(key, incoming=True)
    assert not is_key(key)


@pytest.mark.parametrize("key", [*CLIMBING_KEYS, f"incoming/../{HEX}", f"incoming/..{HEX}"])
def test_no_store_operation_accepts_a_climbing_key(app, stored_keys, store_kind, key):
    from landingpad.assets.store import BadKey

    store = get_store(app)
    with pytest.raises(BadKey):
        store.put(key, image_bytes(), "image/png")
    with pytest.raises(BadKey):
        store.delete(key)
    if store_kind == "s3":  # the local store has no presigned POST
        with pytest.raises(BadKey):
            store.presigned_post(key, 1000, "http://admin.test/back")
    assert store.open(key) is None
    assert stored_keys() == set()


@pytest.mark.parametrize("store_kind", ["local"])
@pytest.mark.parametrize("host", ["coffee.test", "admin.test"])
@pytest.mark.parametrize("path", [
    f"/assets/..%2f{HEX}.png", f"/assets/%2e%2e/{HEX}.png", f"/assets/%2E%2E%2F{HEX}.png",
    f"/assets/..%5c{HEX}.png", f"/assets/.%2e/{HEX}.png",
    f"/assets/coffee.test/..%2f..%2f{HEX}.png",
    f"/assets/%252e%252e%252f{HEX}.png",
])
def test_a_file_next_to_the_store_is_never_served(app_config, data_dir, path, host):
    from landingpad import create_app

    # A file in the data dir with an asset-like name: before the fix, /assets/..%2f<name>
    # served it from the public app and the admin host alike.
    (data_dir / f"{HEX}.png").write_bytes(b"SECRET BYTES")
    (data_dir / "assets" / "coffee.test").mkdir(parents=True)
    app = create_app({**app_config, "ADMIN_HOST": "admin.test"})
    try:
        response = app.test_client().get(path, headers={"Host": host})
    finally:
        app.extensions["landingpad.db"].dispose()
    assert response.status_code == 404
    assert b"SECRET" not in response.data


@pytest.mark.parametrize("store_kind", ["s3"])
def test_a_direct_upload_with_an_odd_file_name_is_taken(app, presigned, stored_keys):
    from landingpad.assets.upload import verify_direct_upload

    key, post = presigned()
    fields = {**post["fields"], "Content-Type": "image/png"}
    response = requests.post(post["url"], data=fields,
                             files={"file": ("My Logo!.png", image_bytes("PNG"))},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text
    uploaded = verify_direct_upload(get_store(app), app.config, "coffee.test", key)
    assert stored_keys() == {uploaded.key} and uploaded.key.endswith(".png")
