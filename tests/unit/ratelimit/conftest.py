from tests.unit.signup.conftest import stored, token  # noqa: F401 - shared fixtures
