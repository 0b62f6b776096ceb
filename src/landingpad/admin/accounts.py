"""Owner accounts: argon2id hashes, one place for creating, checking and changing them."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from landingpad.mail.address import normalise_email
from landingpad.storage.models import User
from landingpad.storage.types import utcnow

# argon2-cffi's default profile (RFC 9106 low-memory: argon2id, t=3, m=64 MiB, p=4)
# is above OWASP's minimum (argon2id, m=19 MiB, t=2, p=1).
HASHER = PasswordHasher()
MIN_PASSWORD = 12


@cache
def _dummy_hash() -> str:
    """Verified when the account doesn't exist, so both cases cost the same time.

    Made on first use: an argon2 hash at import would slow every CLI command.
    """
    return HASHER.hash("landingpad-timing-equaliser")


class AccountError(ValueError):
    """A clear reason an account change was refused."""


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("the password is longer than 1024 characters")


def create_user(session: Session, email: str, password: str) -> User:

    check_password_strength(password)
    email = normalise_email(email)
    if session.scalar(select(User).where(User.email == email)):
        raise AccountError(f"{email} already has an account")
    user = User(email=email, password_hash=HASHER.hash(password), session_version=1,
                created_at=utcnow())
    session.add(user)
    session.commit()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = HASHER.hash(password)
    end_sessions(session, user)


def end_sessions(session: Session, user: User) -> None:
    """Log the account out everywhere: every session cookie issued so far is refused.

    The cookie holds the version it was issued under; a copy of it stays valid
    until this number moves on.
    """
    user.session_version += 1
    session.commit()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user if the password is right, else None (same time for an unknown address)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    try:
        HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)  # parameters changed since it was set
    user.last_login_at = utcnow()
    session.commit()
    return user
