"""atheris targets, run as a script by test_fuzz.py: ``python fuzz_targets.py NAME -runs=N``.

Each target feeds arbitrary bytes to one parser and lets only the parser's own,
documented error through. Anything else is a crash, and atheris exits non-zero.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from landingpad.sites.host import InvalidHost, normalize_host
    from landingpad.sites.sitesfile import SitesFileError, parse_sites


def sites_file(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        config = parse_sites(text, Path("fuzz.toml"))
    except SitesFileError:
        return
    for host in config.hosts:  # whatever the loader accepts is a canonical host
        assert normalize_host(host) == host


def _form_app():
    import tempfile

    from landingpad import create_app

    folder = Path(tempfile.mkdtemp(prefix="lp-fuzz-"))
    (folder / "sites.toml").write_text('[sites."coffee.test"]\nLANDING_INTERESTS = ["Beans"]\n')
    return create_app({"DATA_DIR": str(folder), "SECRET_KEY": "f" * 64, "TESTING": True,
                       "MIN_FILL_SECONDS": 0.0})


_app = None


def signup_form(data: bytes) -> None:
    """A raw body through the real request parsing, guards and form: never a 500."""
    global _app
    if _app is None:
        _app = _form_app()
    fdp = atheris.FuzzedDataProvider(data)
    content_type = fdp.PickValueInList(["application/x-www-form-urlencoded",
                                        "multipart/form-data; boundary=x", "text/plain", ""])
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    with _app.test_client() as client:
        response = client.post("/signup", data=body, content_type=content_type,
                               headers={"Host": "coffee.test"})
    assert response.status_code in (303, 400, 413, 415, 429), response.status_code


def host(data: bytes) -> None:
    with contextlib.suppress(InvalidHost):
        normalize_host(data.decode("utf-8", errors="replace"))


TARGETS = {"sites_file": sites_file, "signup_form": signup_form, "host": host}

if __name__ == "__main__":
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
