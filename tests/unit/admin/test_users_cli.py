from tests.unit.admin.conftest import PASSWORD


def test_create_list_set_password_delete(runner, backend):
    result = runner("user", "create", "New@Example.com", "--password-stdin",
                    input=PASSWORD + "\n")
    assert result.exit_code == 0 and "created new@example.com" in result.output
    assert "the admin area is off" in result.stderr
    assert runner("user", "list").output.startswith("new@example.com\t")
    assert runner("user", "create", "new@example.com", "--password-stdin",
                  input=PASSWORD + "\n").exit_code == 1
    result = runner("user", "set-password", "new@example.com", "--password-stdin",
                    input="another long password\n")
    assert result.exit_code == 0
    assert runner("user", "delete", "new@example.com", "--yes").exit_code == 0
    assert runner("user", "list").output == ""


def test_weak_passwords_and_bad_addresses_are_refused(runner, backend):
    result = runner("user", "create", "a@example.com", "--password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    result = runner("user", "create", "not-an-address", "--password-stdin",
                    input=PASSWORD + "\n")
    assert result.exit_code == 1 and "@" in result.output


def test_prompted_password_is_asked_twice(runner, backend):
    typed = f"{PASSWORD}\nsomething else!!\n{PASSWORD}\n{PASSWORD}\n"  # a mismatch, then right
    result = runner("user", "create", "p@example.com", input=typed)
    assert result.exit_code == 0
    assert "do not match" in result.output and result.output.count("Repeat for confirmation") == 2


def test_password_hashes_are_argon2id(app_config, backend):
    from sqlalchemy import select

    from landingpad import create_app
    from landingpad.admin.accounts import create_user
    from landingpad.storage import session_factory
    from landingpad.storage.models import User

    app = create_app(app_config)
    with session_factory(app)() as session:
        create_user(session, "h@example.com", PASSWORD)
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    m, t = (int(x) for x in __import__("re").search(r"m=(\d+),t=(\d+)", stored).groups())
    assert m >= 19456 and t >= 2  # at or above OWASP's argon2id minimum


def test_old_hash_parameters_are_upgraded_at_login(app_config, backend):
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from landingpad import create_app
    from landingpad.admin.accounts import HASHER, authenticate
    from landingpad.storage import session_factory
    from landingpad.storage.models import User
    from landingpad.storage.types import utcnow

    app = create_app(app_config)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with session_factory(app)() as session:
        session.add(User(email="old@example.com", password_hash=weak, session_version=1,
                         created_at=utcnow()))
        session.commit()
        assert authenticate(session, "old@example.com", "wrong password!!") is None
        assert session.scalar(select(User.password_hash)) == weak  # untouched on failure
        assert authenticate(session, "old@example.com", PASSWORD) is not None
        upgraded = session.scalar(select(User.password_hash))
    assert upgraded != weak and not HASHER.check_needs_rehash(upgraded)
