"""Logos end to end: nginx serves the folder or proxies the bucket (SeaweedFS), and the
owner's browser uploads straight to the bucket."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from landingpad.admin.accounts import create_user
from landingpad.deploy.render import nginx_upstream
from landingpad.settings import load
from landingpad.storage.engine import make_engine
from tests.functional.conftest import start_stack
from tests.functional.test_admin_browser import ARTIFACTS, PASSWORD, log_in
from tests.servers import request

pytestmark = pytest.mark.functional


def png(size=(160, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(params=["local", "s3"])
def env(request, cli_env):
    extra = request.getfixturevalue("s3_env") if request.param == "s3" else {}
    return {**os.environ, **cli_env, **extra, "LANDINGPAD_ADMIN_HOST": "admin.test"}


@pytest.fixture
def asset_stack(env, data_dir, database_url):
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        create_user(session, "owner@example.com", PASSWORD)
    engine.dispose()
    stack = start_stack(data_dir, env, admin_host="admin.test",
                        assets_upstream=nginx_upstream(load(environ=env)))
    yield stack
    stack.stop()


def landingpad(env, *args):
    exe = Path(sys.executable).with_name("landingpad")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_logo_is_served_by_nginx_from_the_sites_own_origin(asset_stack, env, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    result = landingpad(env, "asset", "upload", "coffee.test", str(logo), "--as", "logo")
    assert result.returncode == 0, result.stderr
    url = re.search(r"uploaded as (/assets/\S+)", result.stdout).group(1)

    # The app re-reads the sites file within a second; nginx micro-caches / for one.
    deadline = time.monotonic() + 5
    while f'src="{url}"'.encode() not in request(asset_stack.port, "GET", "/", "coffee.test")[2]:
        assert time.monotonic() < deadline, "the landing page never showed the new logo"
        time.sleep(0.2)
    for _ in range(2):  # the second one comes from nginx's cache with S3
        status, headers, body = request(asset_stack.port, "GET", url, "coffee.test")
        assert status == 200 and body == png()
        assert headers["content-type"] == "image/png"
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "sandbox" in headers["content-security-policy"]
        assert not any(h.startswith("x-amz") for h in headers)
    missing = url.replace(url.rsplit("/", 1)[1][:8], "00000000")
    assert request(asset_stack.port, "GET", missing, "coffee.test")[0] == 404
    incoming = "/assets/incoming/coffee.test/" + "0" * 32
    assert request(asset_stack.port, "GET", incoming, "coffee.test")[0] == 404
    assert request(asset_stack.port, "POST", url, "coffee.test", b"x")[0] >= 400


@pytest.mark.parametrize("env", ["s3"], indirect=True)  # the local store has no bucket
def test_owner_uploads_a_logo_straight_to_the_bucket(browser, asset_stack):
    base = f"http://admin.test:{asset_stack.port}"
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base)
    page.get_by_role("link", name="Logos").click()
    page.get_by_role("link", name="coffee.test").click()
    section = page.get_by_role("region", name="coffee.test")
    section.get_by_label("Or upload straight to the bucket").set_input_files(
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png()}])
    section.get_by_role("button", name="Upload to the bucket").click()
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-logo-direct.png"), full_page=True)
    assert page.get_by_role("heading", name="Logo uploaded").is_visible(), page.content()
    page.get_by_role("link", name="Back to logos").click()
    assert page.url.startswith(base + "/logos")  # still logged in: the session survived
    # The app re-reads the sites file within a second; the image then loads (through
    # the bucket), which on a busy machine may take a moment after the page is shown.
    deadline = time.monotonic() + 20

    def width() -> int:
        image = section.get_by_role("img")
        if image.count() == 0:
            return -1
        return image.evaluate("img => img.complete ? img.naturalWidth : 0")

    while width() != 160 and time.monotonic() < deadline:
        time.sleep(0.3)
        if width() == -1:
            page.reload()
    assert width() == 160
    context.close()
    _visitor_sees_the_logo(browser, asset_stack)


def test_owner_uploads_through_the_server(browser, asset_stack):
    base = f"http://admin.test:{asset_stack.port}"
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base)
    page.goto(base + "/logos/")
    page.get_by_label("Domain").fill("coffee.test")
    page.get_by_role("button", name="Open").click()
    section = page.get_by_role("region", name="coffee.test")
    section.get_by_label("Upload through this server").set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    section.get_by_role("button", name="Upload", exact=True).click()
    assert page.get_by_text("Not uploaded: This is not a PNG").is_visible()
    section.get_by_label("Upload through this server").set_input_files(
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png()}])
    section.get_by_role("button", name="Upload", exact=True).click()
    assert page.get_by_text("it is now the logo of coffee.test").is_visible()
    context.close()
    _visitor_sees_the_logo(browser, asset_stack)


def _visitor_sees_the_logo(browser, asset_stack):
    origin = f"http://coffee.test:{asset_stack.port}"
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    deadline = time.monotonic() + 5
    while True:
        page.goto(origin + "/")
        page.wait_for_load_state("networkidle")
        if page.locator("img.logo").count() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    logo = page.locator("img.logo")
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 160
    assert all(url.startswith(origin + "/") for url in requested), requested
    context.close()
