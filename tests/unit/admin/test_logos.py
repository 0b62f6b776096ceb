"""The admin Logos pages through the test client (local store)."""

import io

from PIL import Image

from tests.unit.admin.conftest import ADMIN, csrf_token


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def get(client, path):
    return client.get(path, headers={"Host": ADMIN})


def test_logos_need_a_login(client):
    assert get(client, "/logos/coffee.test").status_code == 302


def test_index_finds_a_site_by_name_and_says_when_there_is_none(logged_in):
    assert get(logged_in, "/logos/?site=Coffee.test").headers["Location"].endswith(
        "/logos/coffee.test")
    missing = get(logged_in, "/logos/?site=nobody.test")
    assert missing.status_code == 404 and b"No site named nobody.test" in missing.data
    assert get(logged_in, "/logos/nobody.test").status_code == 404


def upload(client, data, name):
    token = csrf_token(client, "/logos/coffee.test")
    return client.post("/logos/coffee.test", headers={"Host": ADMIN}, follow_redirects=True,
                       data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_a_bad_upload_is_refused_and_stores_nothing(logged_in, data_dir):
    page = upload(logged_in, b"<svg/>", "logo.svg").get_data(as_text=True)
    assert "Not uploaded: The file must end in .png" in page
    assert not (data_dir / "assets").exists() or not any((data_dir / "assets").rglob("*.*"))
    assert "LANDING_LOGO" not in (data_dir / "sites.toml").read_text()


def test_a_good_upload_becomes_the_logo(logged_in, data_dir):
    page = upload(logged_in, png(), "logo.png").get_data(as_text=True)
    assert "logo.png uploaded as /assets/coffee.test/" in page
    assert "it is now the logo of coffee.test" in page
    assert "LANDING_LOGO = \"/assets/coffee.test/" in (data_dir / "sites.toml").read_text()


def test_a_forged_direct_upload_return_is_refused(client):
    response = get(client, "/logos/coffee.test/direct/not-a-signed-state")
    assert response.status_code == 400 and b"not valid or has expired" in response.data
    assert "Set-Cookie" not in response.headers


def test_an_odd_file_name_is_cleaned_not_refused(logged_in, data_dir):
    page = upload(logged_in, png(), "My Logo!.png").get_data(as_text=True)
    assert "My_Logo.png uploaded as /assets/coffee.test/" in page
    assert "it is now the logo of coffee.test" in page
    stored = [p.name for p in (data_dir / "assets" / "coffee.test").iterdir()]
    assert len(stored) == 1 and stored[0].endswith(".png") and "Logo" not in stored[0]
