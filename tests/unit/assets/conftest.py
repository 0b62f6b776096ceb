import io

import pytest
from PIL import Image

from landingpad import create_app


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 40)).save(out, format=kind)
    return out.getvalue()


@pytest.fixture(params=["local", "s3"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def app_config(app_config, store_kind, request):
    """The app's config with either store: every asset test runs against both."""
    if store_kind == "s3":
        env = request.getfixturevalue("s3_env")
        return {**app_config, "ASSET_STORE": "s3", "S3_BUCKET": env["LANDINGPAD_S3_BUCKET"],
                "S3_PREFIX": env["LANDINGPAD_S3_PREFIX"],
                "S3_ENDPOINT_URL": env["LANDINGPAD_S3_ENDPOINT_URL"], "S3_ACL": ""}
    return app_config


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    yield app
    app.extensions["landingpad.db"].dispose()


@pytest.fixture
def stored_keys(app, store_kind, request):
    """Every object in the store, whichever it is."""
    def keys() -> set[str]:
        if store_kind == "local":
            root = app.extensions["landingpad.assets"].root
            return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} \
                if root.exists() else set()
        server, bucket = request.getfixturevalue("s3_server"), app.config["S3_BUCKET"]
        prefix = app.config["S3_PREFIX"]
        listing = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {o["Key"].removeprefix(prefix) for o in listing.get("Contents", [])}

    return keys


@pytest.fixture
def cli_env(cli_env, store_kind, request):
    if store_kind == "s3":
        return {**cli_env, **request.getfixturevalue("s3_env")}
    return cli_env
