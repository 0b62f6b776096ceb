"""An ACME client (RFC 8555) on certbot's `acme` library: one account, HTTP-01 only.

The account key (ECDSA P-256, ES256) is made once in DATA_DIR/tls/account.key;
the account's URL per directory is kept in DATA_DIR/tls/account.json, so a
restart does not register again. ``issue`` polls the authorization and the order
itself, from 50 ms up to 1 s, instead of acme's fixed 1 s: a certificate from a
fast CA then takes about a tenth of a second instead of a second or two.

Every failure is an AcmeError whose ``kind`` tells the caller how to back off.
Messages carry the CA's own words, never key material.

Not thread-safe: one AcmeClient per thread (the CA's nonces are per connection).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import enum
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import josepy as jose
import requests
from acme import client as acme_client
from acme import crypto_util, errors, messages
from acme.challenges import HTTP01
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from landingpad.files import PASSAGE_DIR, PRIVATE_FILE, make_dir, write_atomic

log = logging.getLogger(__name__)

ISSUE_TIMEOUT = 90.0  # seconds for one whole order, from new-order to the certificate
NETWORK_TIMEOUT = 30  # seconds for one request to the CA
FIRST_POLL, LAST_POLL = 0.05, 1.0

# Problem types that mean "your domain did not answer the challenge" (back off),
# and those that mean "the CA will not do this" (retrying will not help). Any problem
# in a challenge is a failed validation (``unauthorized`` there is a wrong answer);
# ``unauthorized`` on a request is the account's (a wrong EAB key, a deactivated account).
_VALIDATION = {"connection", "dns", "incorrectResponse", "tls", "caa", "unknownHost",
               "dnssec"}
_REFUSED = {"unauthorized", "rejectedIdentifier", "malformed", "accountDoesNotExist", "badCSR",
            "unsupportedIdentifier", "externalAccountRequired", "invalidContact",
            "unsupportedContact", "invalidEmail", "badPublicKey", "badSignatureAlgorithm",
            "userActionRequired"}


class AcmeFailure(enum.Enum):
    CA_UNAVAILABLE = "ca_unavailable"  # network, timeout, 5xx: try again soon
    RATE_LIMITED = "rate_limited"  # the CA's limit: wait until retry_after
    VALIDATION_FAILED = "validation_failed"  # the CA could not fetch the challenge: back off
    REFUSED = "refused"  # the CA will not issue (name, account, request): needs a person
    OTHER = "other"


class AcmeError(Exception):
    def __init__(self, kind: AcmeFailure, message: str,
                 retry_after: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


@dataclass(frozen=True)
class Issued:
    chain_pem: bytes  # the leaf first, then the intermediates
    key_pem: bytes  # PKCS#8, unencrypted
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime


class _NewOrder(messages.NewOrder):
    # RFC 9773 §5: the order names the certificate it replaces, so an ARI renewal is
    # exempt from the CA's limits. acme 5.9's NewOrder has no such field.
    replaces: str | None = jose.field("replaces", omitempty=True)


class _Network(acme_client.ClientNetwork):
    """acme's ClientNetwork, keeping the HTTP status and Retry-After on a problem document
    (acme drops the response, and rateLimited needs its Retry-After)."""

    @classmethod
    def _check_response(cls, response: requests.Response,
                        content_type: str | None = None) -> requests.Response:
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as exc:
            exc.http_status = response.status_code
            exc.retry_after_header = response.headers.get("Retry-After")
            raise


def new_private_key() -> bytes:
    """A new ECDSA P-256 key, PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ari_cert_id(chain_pem: bytes) -> str:
    """RFC 9773's certificate identifier of the chain's leaf: base64url(AKI).base64url(serial)."""
    cert = x509.load_pem_x509_certificate(chain_pem)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = cert.serial_number
    raw = serial.to_bytes(math.ceil((serial.bit_length() + 1) / 8), "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki.key_identifier or b'')}.{b64(raw)}"


def _retry_after(header: str | None) -> dt.datetime | None:
    if not header:
        return None
    now = dt.datetime.now(dt.UTC)
    try:
        return now + dt.timedelta(seconds=max(0, int(header)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _aware(when: dt.datetime) -> dt.datetime:
    # acme returns naive local times for its own "now + x" and aware ones from the CA.
    return when.astimezone(dt.UTC)


def _problem_text(error: messages.Error) -> str:
    text = error.detail or error.title or error.description or error.typ
    if error.identifier is not None and error.identifier.value not in text:
        text = f"{error.identifier.value}: {text}"
    for sub in error.subproblems or ():
        text += f"; {_problem_text(sub)}"
    return text


def classify(exc: BaseException, validation: bool = False) -> AcmeError:
    """The AcmeError for anything the acme library or requests raised.

    ``validation``: the problem came from an authorization (a challenge's error), so
    any problem type counts as a failed validation.
    """
    if isinstance(exc, AcmeError):
        return exc
    if isinstance(exc, errors.ARIError) and exc.__cause__ is not None:
        return classify(exc.__cause__)
    if isinstance(exc, messages.Error):
        code = exc.code or str(exc.typ).rsplit(":", 1)[-1]
        text = _problem_text(exc)
        status = getattr(exc, "http_status", 0)
        if code == "rateLimited":
            return AcmeError(AcmeFailure.RATE_LIMITED, text,
                             _retry_after(getattr(exc, "retry_after_header", None)))
        if validation or code in _VALIDATION:
            return AcmeError(AcmeFailure.VALIDATION_FAILED, text)
        if code in _REFUSED:
            return AcmeError(AcmeFailure.REFUSED, text)
        if code in ("serverInternal", "badNonce") or status >= 500:
            return AcmeError(AcmeFailure.CA_UNAVAILABLE, text,
                             _retry_after(getattr(exc, "retry_after_header", None)))
        return AcmeError(AcmeFailure.OTHER, text)
    if isinstance(exc, requests.exceptions.SSLError):
        # Not an outage: the CA's certificate is not trusted (LANDINGPAD_ACME_CA_BUNDLE?).
        return AcmeError(AcmeFailure.OTHER, f"TLS to the CA failed: {exc}")
    if isinstance(exc, requests.exceptions.RequestException):
        url = getattr(exc.request, "url", None) or ""
        return AcmeError(AcmeFailure.CA_UNAVAILABLE,
                         f"the CA did not answer ({type(exc).__name__}) {url}".rstrip())
    if isinstance(exc, errors.MissingNonce | errors.BadNonce):
        return AcmeError(AcmeFailure.CA_UNAVAILABLE, "the CA's answer had no usable nonce")
    if isinstance(exc, errors.ConflictError):
        return AcmeError(AcmeFailure.REFUSED, "the CA answered 409 Conflict")
    if isinstance(exc, errors.ClientError) and exc.args:
        response = exc.args[0][0] if isinstance(exc.args[0], tuple) else exc.args[0]
        if isinstance(response, requests.Response):
            kind = AcmeFailure.CA_UNAVAILABLE if response.status_code >= 500 \
                else AcmeFailure.OTHER
            return AcmeError(kind, f"the CA answered HTTP {response.status_code} "
                                   f"{response.reason or ''}".strip())
    return AcmeError(AcmeFailure.OTHER, f"{type(exc).__name__}: {exc}")


def _load_or_create_key(path: Path) -> bytes:
    """The account key at ``path``, made once: concurrent first runs agree on one key."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    # Written whole to a private temp file, then hard-linked into place: link() fails if
    # another process got there first (we then use its key), and no reader ever sees a
    # half-written key, as it could with O_CREAT then write.
    fd, tmp = tempfile.mkstemp(prefix=".account.key.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(new_private_key())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_FILE)
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes()


class AcmeClient:
    def __init__(self, directory_url: str, folder: Path, email: str = "",
                 ca_bundle: str = "", eab_kid: str = "", eab_hmac_key: str = "",
                 timeout: float = ISSUE_TIMEOUT) -> None:
        if not directory_url:
            raise ValueError("no ACME directory: automatic certificates are off")
        self.directory_url = directory_url
        self.folder = make_dir(Path(folder), PASSAGE_DIR)
        self.email = email
        self.eab = (eab_kid, eab_hmac_key) if eab_kid and eab_hmac_key else None
        self.timeout = timeout
        key = serialization.load_pem_private_key(
            _load_or_create_key(self.folder / "account.key"), password=None)
        self.account_key = jose.JWKEC(key=key)
        self._net = _Network(self.account_key, alg=jose.ES256,
                             verify_ssl=ca_bundle or True, user_agent="landingpad",
                             timeout=NETWORK_TIMEOUT)
        self._client: acme_client.ClientV2 | None = None
        self._registered = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AcmeClient:
        """From the app's settings; the account key lives in DATA_DIR/tls/."""
        return cls(config["ACME_DIRECTORY"], Path(config["DATA_DIR"]) / "tls",
                   email=config.get("ACME_EMAIL", ""),
                   ca_bundle=str(config.get("ACME_CA_BUNDLE") or ""),
                   eab_kid=config.get("ACME_EAB_KID", ""),
                   eab_hmac_key=config.get("ACME_EAB_HMAC_KEY", ""))

    # -- the directory and the account ---------------------------------------------

    def _directory(self) -> acme_client.ClientV2:
        if self._client is None:
            try:
                directory = acme_client.ClientV2.get_directory(self.directory_url, self._net)
            except Exception as exc:
                raise classify(exc) from exc
            self._client = acme_client.ClientV2(directory, self._net)
        return self._client

    def _accounts(self) -> dict[str, dict[str, str]]:
        try:
            return json.loads((self.folder / "account.json").read_text())
        except FileNotFoundError:
            return {}

    def _save_account(self, uri: str) -> None:
        accounts = self._accounts()
        accounts[self.directory_url] = {"uri": uri}
        write_atomic(self.folder / "account.json",
                     json.dumps(accounts, indent=2).encode(), mode=PRIVATE_FILE)

    def account(self) -> str:
        """The account's URL at this CA: registered on first use, then looked up."""
        client = self._directory()
        if self._registered:
            return self._net.account.uri
        known = self._accounts().get(self.directory_url)
        try:
            regr = None
            if known:
                try:
                    # One signed POST (onlyReturnExisting): the account is still there.
                    regr = client.query_registration(messages.RegistrationResource(
                        uri=known["uri"], body=messages.Registration()))
                except messages.Error as exc:
                    if exc.code != "accountDoesNotExist":
                        raise
                    self._net.account = None  # the CA forgot it (a test CA restarted)
            if regr is None:
                regr = self._register(client)
        except AcmeError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        if not known or known.get("uri") != regr.uri:
            self._save_account(regr.uri)
        self._registered = True
        return regr.uri

    def _register(self, client: acme_client.ClientV2) -> messages.RegistrationResource:
        eab = None
        if self.eab:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self.account_key.public_key(), kid=self.eab[0],
                hmac_key=self.eab[1], directory=client.directory)
        registration = messages.NewRegistration.from_data(
            email=self.email or None, terms_of_service_agreed=True,
            external_account_binding=eab)
        try:
            return client.new_account(registration)
        except errors.ConflictError as exc:
            # This key already has an account there: use it.
            uri = str(exc.args[0]) if exc.args else ""
            regr = messages.RegistrationResource(uri=uri, body=messages.Registration())
            self._net.account = regr
            return regr

    # -- requests ------------------------------------------------------------------

    def _post_as_get(self, url: str) -> requests.Response:
        client = self._directory()
        return self._net.post(url, None, new_nonce_url=client.directory["newNonce"])

    def _post(self, url: str, obj: jose.JSONDeSerializable) -> requests.Response:
        client = self._directory()
        return self._net.post(url, obj, new_nonce_url=client.directory["newNonce"])

    @staticmethod
    def _sleep(step: float, deadline: float, what: str) -> float:
        """Sleep ``step`` (not past the deadline) and return the next, longer step."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise AcmeError(AcmeFailure.CA_UNAVAILABLE, f"the CA did not finish {what} in time")
        time.sleep(min(step, left))
        return min(step * 1.5, LAST_POLL)

    def _has_ari(self) -> bool:
        try:
            self._directory().directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def _new_order(self, host: str, replaces: str | None) -> tuple[str, messages.Order]:
        client = self._directory()
        identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=host)]
        if replaces and not self._has_ari():
            replaces = None  # a CA without ARI does not know the field
        if replaces and replaces.lstrip().startswith("-----BEGIN"):
            replaces = ari_cert_id(replaces.encode())
        try:
            response = self._post(client.directory["newOrder"],
                                  _NewOrder(identifiers=identifiers, replaces=replaces))
        except (errors.ConflictError, messages.Error) as exc:
            # Already replaced (by an earlier attempt that died?): a plain order then.
            if not replaces or not (isinstance(exc, errors.ConflictError)
                                    or str(exc.typ).endswith(":alreadyReplaced")):
                raise
            response = self._post(client.directory["newOrder"],
                                  _NewOrder(identifiers=identifiers))
        return response.headers["Location"], messages.Order.from_json(response.json())

    def _authorize(self, url: str, publish: Callable[[str, str], None],
                   published: list[str], deadline: float) -> None:
        authz = messages.Authorization.from_json(self._post_as_get(url).json())
        if authz.status == messages.STATUS_VALID:
            return  # the CA reused an earlier validation
        challb = next((c for c in authz.challenges if isinstance(c.chall, HTTP01)), None)
        if challb is None:
            raise AcmeError(AcmeFailure.REFUSED, "the CA offered no http-01 challenge")
        if authz.status == messages.STATUS_PENDING and challb.status == messages.STATUS_PENDING:
            response, key_authorization = challb.response_and_validation(self.account_key)
            token = challb.chall.encode("token")
            published.append(token)
            publish(token, key_authorization)
            self._directory().answer_challenge(challb, response)
        step = FIRST_POLL
        while authz.status in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
            step = self._sleep(step, deadline, "validating")
            authz = messages.Authorization.from_json(self._post_as_get(url).json())
        if authz.status != messages.STATUS_VALID:
            problem = next((c.error for c in authz.challenges if c.error is not None), None)
            if problem is not None:
                raise classify(problem, validation=True)
            raise AcmeError(AcmeFailure.VALIDATION_FAILED,
                            f"authorization for {authz.identifier.value} is "
                            f"{authz.status.name}")

    def _finalize(self, order_url: str, order: messages.Order, csr_pem: bytes,
                  deadline: float) -> str:
        csr = messages.CertificateRequest(csr=x509.load_pem_x509_csr(csr_pem))
        step = FIRST_POLL
        finalized = False
        while True:
            if order.status == messages.STATUS_INVALID:
                if order.error is not None:
                    raise classify(order.error)
                raise AcmeError(AcmeFailure.OTHER, "the CA marked the order invalid")
            if order.status == messages.STATUS_VALID and order.certificate:
                return self._post_as_get(order.certificate).text
            if order.status == messages.STATUS_READY and not finalized:
                order = messages.Order.from_json(self._post(order.finalize, csr).json())
                finalized = True
                continue
            step = self._sleep(step, deadline, "issuing")
            order = messages.Order.from_json(self._post_as_get(order_url).json())

    # -- the public API ------------------------------------------------------------

    def issue(self, host: str, publish: Callable[[str, str], None],
              withdraw: Callable[[str], None], key_pem: bytes | None = None,
              replaces: str | None = None) -> Issued:
        """A certificate for ``host`` by HTTP-01; raises AcmeError.

        ``publish(token, key_authorization)`` must make
        http://host/.well-known/acme-challenge/<token> answer key_authorization;
        ``withdraw(token)`` is called for every published token, whatever happens.
        ``key_pem``: keep this key (renewals); else a new ECDSA P-256 key.
        ``replaces``: the certificate being renewed (its ARI id, or its PEM), sent
        when the CA offers renewalInfo.
        """
        deadline = time.monotonic() + self.timeout
        key_pem = key_pem or new_private_key()
        csr_pem = crypto_util.make_csr(key_pem, [host])
        published: list[str] = []
        try:
            self.account()
            order_url, order = self._new_order(host, replaces)
            try:
                for url in order.authorizations:
                    self._authorize(url, publish, published, deadline)
            finally:
                # The CA has decided (or we gave up): the answers are no longer needed.
                for token in published:
                    try:
                        withdraw(token)
                    except Exception:
                        log.exception("withdrawing ACME challenge %s for %s failed",
                                      token, host)
            order = messages.Order.from_json(self._post_as_get(order_url).json())
            chain = self._finalize(order_url, order, csr_pem, deadline)
        except AcmeError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        leaf = x509.load_pem_x509_certificate(chain.encode())
        return Issued(chain.encode(), key_pem, leaf.not_valid_before_utc,
                      leaf.not_valid_after_utc)

    def renewal_time(self, chain_pem: bytes) -> tuple[dt.datetime | None, dt.datetime]:
        """ARI (RFC 9773): (a time in the CA's suggested window, when to ask again).

        The first is None when the directory has no renewalInfo: the caller renews by
        the certificate's lifetime. Both aware UTC. Raises AcmeError.
        """
        try:
            when, ask_again = self._directory().renewal_time(chain_pem)
        except AcmeError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return (None if when is None else _aware(when)), _aware(ask_again)
