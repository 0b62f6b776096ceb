from tests.unit.announce.conftest import add_signup, announcement, sink, smtp_app  # noqa: F401
