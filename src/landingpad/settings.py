"""The install's settings: one declarative table, read in one place.

Every setting can be given as an environment variable ``LANDINGPAD_<NAME>``
(``DATABASE_URL`` and ``REDIS_URL`` keep their conventional names) or in the
``config`` mapping passed to ``create_app``. Values are parsed and checked
here, with the parsers of ``landingpad.values`` (the sites' table uses the
same ones), so a hostile or mistyped value stops the app at start with a
message that names the variable, instead of failing later on a request.

Per-site settings (``LANDING_*``) are not here: they live in ``sites/``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landingpad import values
from landingpad.files import make_data_dir, open_private


class SettingsError(ValueError):
    """A setting has a value that can't be used."""


_TEXT = values.text(strip=False)  # kept as typed: a password may end in a space
_CANNED_ACLS = ("private", "public-read", "authenticated-read", "bucket-owner-read",
                "bucket-owner-full-control")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = _TEXT
    env: str | None = None  # the environment variable, if not LANDINGPAD_<name>
    empty_is_value: bool = False  # "" is parsed (e.g. "off"), not read as "use the default"
    secret: bool = False  # never quoted in an error: it would reach a terminal or a log

    @property
    def env_name(self) -> str:
        return self.env or f"LANDINGPAD_{self.name}"


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"

# Defaults that depend on another setting are None here and derived in load().
SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "./landingpad-data",
            "Folder for the database, assets, mail folder, generated configs and secret key."),
    Setting("SITES", None, "The sites file (TOML). Default: $LANDINGPAD_DATA_DIR/sites.toml."),
    Setting("DEPLOY_DIR", None,
            "Where `deploy render` writes nginx/uWSGI configs. "
            "Default: $LANDINGPAD_DATA_DIR/deploy."),
    Setting("NGINX", "", "The nginx binary. Default: nginx on PATH, else /usr/sbin/nginx."),
    Setting("NGINX_CONF", None,
            "The main nginx config to test and reload after a domain change. "
            "Default: $LANDINGPAD_DEPLOY_DIR/nginx.conf "
            "(use /etc/nginx/nginx.conf with a system nginx)."),
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL. Default: SQLite in the data dir. "
            "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
            env="DATABASE_URL", secret=True),
    Setting("DATABASE_POOL_SIZE", 5,
            "PostgreSQL: connections each app process keeps open.", values.whole(1)),
    Setting("DATABASE_MAX_OVERFLOW", 5,
            "PostgreSQL: extra connections a process may open at a peak.", values.whole(0)),
    Setting("REDIS_URL", "",
            "Redis for rate limits shared by every node (empty: a file in the data dir, "
            "shared by this machine's processes).", values.redis_url, env="REDIS_URL",
            secret=True),
    Setting("SIGNUP_RATE", "10/minute", "Sign-ups one client may post to one site.", values.rates),
    Setting("PRIVACY_RATE", "5/hour",
            "\"See or erase my data\" requests one client may post to one site.", values.rates),
    Setting("TRUSTED_PROXIES", values.networks("127.0.0.1, ::1"),
            "Addresses whose X-Real-IP header names the client (comma-separated).",
            values.networks),
    Setting("ADMIN_HOST", "", "The host name that serves the admin area (off when empty)."),
    Setting("SECRET_KEY", None,
            "Signs form tokens, links and sessions. Default: generated once into the data "
            "dir (SQLite only: with a shared database every node needs the same key).",
            secret=True),
    Setting("MAIL_TRANSPORT", "folder",
            "How mail leaves: smtp, or folder (one .eml per message in $LANDINGPAD_DATA_DIR/mail).",
            values.choice("smtp", "folder")),
    Setting("SMTP_HOST", "localhost", "SMTP server."),
    Setting("SMTP_PORT", 25, "SMTP port.", values.whole(1)),
    Setting("SMTP_USERNAME", "", "SMTP user (empty: no AUTH)."),
    Setting("SMTP_PASSWORD", "", "SMTP password.", secret=True),
    Setting("SMTP_STARTTLS", False, "Use STARTTLS.", values.flag),
    Setting("SMTP_SSL", False, "Connect with TLS from the start (port 465).", values.flag),
    Setting("SMTP_TIMEOUT", 30.0, "Seconds before an SMTP operation gives up.", values.number(0)),
    Setting("ANNOUNCE_CONNECTIONS", 4,
            "SMTP connections an announcement is sent over side by side (`announce send "
            "--connections` for one run).", values.whole(1, 8)),
    Setting("PUBLIC_SCHEME", "https", "Scheme of links in emails (unsubscribe, confirm).",
            values.choice("https", "http")),
    Setting("CONFIRM_MAX_AGE", 7 * 86400, "Seconds a double opt-in confirmation link stays valid.",
            values.whole(1)),
    Setting("CONFIRMS_PER_DAY", 3,
            "Confirmation emails one address can get per day, whatever is posted.",
            values.whole(1)),
    Setting("ACCESS_LINK_MAX_AGE", 86400,
            "Seconds a \"see or erase my data\" link stays valid.", values.whole(1)),
    Setting("PURGE_UNCONFIRMED_DAYS", 7,
            "`purge` deletes double opt-in sign-ups never confirmed after this many days.",
            values.whole(1)),
    Setting("PURGE_UNSUBSCRIBED_DAYS", 30,
            "`purge` deletes unsubscribed sign-ups after this many days (their hash stays "
            "suppressed).", values.whole(1)),
    Setting("PURGE_ANNOUNCEMENTS_DAYS", 180,
            "`purge` deletes announcements and their recipient lists after this many days.",
            values.whole(1)),
    Setting("PURGE_EVENTS_DAYS", 30,
            "`purge` deletes sign-up events (they hold addresses) and their webhook "
            "deliveries after this many days.", values.whole(1)),
    Setting("MIN_FILL_SECONDS", 2.0,
            "A sign-up posted sooner than this after the page was served is treated as a bot.",
            values.number(0)),
    Setting("FORM_MAX_AGE", 86400, "Seconds a served sign-up form stays valid.", values.whole(1)),
    Setting("MAX_FORM_BYTES", 8192, "Largest public form body accepted (bytes); larger is 413.",
            values.whole(1)),
    Setting("PAGE_CACHE_SIZE", 1024,
            "Rendered landing pages kept in memory per process (0: render every request).",
            values.whole(0)),
    Setting("SITES_CHECK_SECONDS", 1.0,
            "How often (at most) the sites file is checked for changes.", values.number(0)),
    Setting("ASSET_STORE", "local",
            "Where uploaded logos live: local ($LANDINGPAD_DATA_DIR/assets) or s3.",
            values.choice("local", "s3")),
    Setting("S3_BUCKET", "", "The bucket (with ASSET_STORE=s3).", values.bucket),
    Setting("S3_PREFIX", "", "Key prefix inside the bucket, e.g. landingpad/.", values.key_prefix),
    Setting("S3_ENDPOINT_URL", "",
            "An S3-compatible server's URL (empty: AWS). Credentials: boto3's usual chain.",
            values.http_url),
    Setting("S3_ACL", "", "Canned ACL for new objects (empty: none; new AWS buckets refuse "
            "ACLs).", values.choice(*_CANNED_ACLS)),
    Setting("ASSET_MAX_BYTES", 2 * 1024 * 1024, "Largest logo upload (bytes).", values.whole(1)),
    Setting("ASSET_MAX_PIXELS", 16_777_216, "Most pixels (width x height) in a logo.",
            values.whole(1)),
    Setting("ACME_DIRECTORY", LETS_ENCRYPT,
            "The ACME directory certificates are ordered from (empty: no automatic "
            "certificates). Let's Encrypt's staging: "
            "https://acme-staging-v02.api.letsencrypt.org/directory.",
            values.https_url_or_empty, empty_is_value=True),
    Setting("ACME_EMAIL", "", "The address the CA may write to about the ACME account "
            "(also where certificate alerts go when a site has no LANDING_EMAIL).",
            values.private_email),
    Setting("ACME_CA_BUNDLE", "",
            "A PEM file trusted for the ACME server's own HTTPS (private and test CAs; "
            "empty: the system's trust store).", values.pem_file),
    Setting("ACME_EAB_KID", "", "External Account Binding key id, for CAs that need one."),
    Setting("ACME_EAB_HMAC_KEY", "", "External Account Binding HMAC key (base64url).",
            values.base64url, secret=True),
    Setting("ACME_HTTP_PORT", 80,
            "Where the CA, and landingpad's pre-flight probe, reach a domain over HTTP.",
            values.port),
    Setting("ACME_ORDER_RATE", "300 per 3 hours",
            "New certificate orders the CA allows per account.", values.one_rate),
    Setting("ACME_DOMAIN_RATE", "50 per 7 days",
            "Certificates the CA allows per registered domain.", values.one_rate),
    Setting("ACME_DUPLICATE_RATE", "5 per 7 days",
            "Certificates the CA allows for the very same host name.", values.one_rate),
    Setting("ACME_FAILURE_RATE", "5 per hour",
            "Failed validations the CA allows per host name.", values.one_rate),
    Setting("BOUNCE_DOMAIN", "",
            "Domain of the bounce mailbox: every mail leaves with a per-recipient envelope "
            "sender bounces+TOKEN@this domain (VERP), so `bounces fetch` can match each "
            "bounce. Empty: bounces go to the From address, unread. `dns check` checks its "
            "SPF and its alignment with each From.", values.domain),
    Setting("BOUNCE_IMAP_URL", "",
            "The bounce mailbox that `bounces fetch` reads, over TLS: "
            "imaps://user:password@host:993/INBOX (empty: not read).", values.imaps_url,
            secret=True),
    Setting("BOUNCE_CA_BUNDLE", "",
            "A PEM file trusted for the bounce mailbox's certificate (a private CA; "
            "empty: the system's trust store).", values.pem_file),
    Setting("DNS_SERVER", "",
            "IP:port of the resolver for landingpad's own DNS look-ups (empty: the system's).",
            values.resolver),
    Setting("WEBHOOK_URLS", (),
            "Endpoints every site's events are posted to (https://, comma-separated; "
            "a site adds its own with `webhooks = [...]` in the sites file).",
            values.webhook_urls),
    Setting("WEBHOOK_SECRET", "",
            "The webhooks' signing secret (Standard Webhooks: whsec_ and base64). Default: "
            "derived from SECRET_KEY; `landingpad webhooks secret` shows it.",
            values.webhook_secret, secret=True),
    Setting("WEBHOOK_ALLOW_PRIVATE", False,
            "Let webhook host names resolve to loopback, private or link-local addresses "
            "(tests, receivers on a private network). Off: such a delivery is refused.",
            values.flag),
    Setting("WEBHOOK_CA_BUNDLE", "",
            "A PEM file trusted for webhook receivers' HTTPS (empty: the system's trust store).",
            values.pem_file),
    Setting("WEBHOOK_TIMEOUT", 10.0,
            "Seconds a webhook delivery may take (connect, send, answer).", values.number(0.1)),
    Setting("WEBHOOK_RETRY_SECONDS", 30.0,
            "Wait before a failed delivery's first retry; doubled each time.",
            values.number(0)),
    Setting("WEBHOOK_RETRY_MAX_SECONDS", 3600.0,
            "The longest wait between two retries of a delivery.", values.number(0)),
    Setting("WEBHOOK_GIVE_UP_HOURS", 24.0,
            "A delivery that still fails this many hours after its event is given up "
            "(recorded as failed).", values.number(0)),
)

BY_NAME = {s.name: s for s in SETTINGS}


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting: ``overrides`` > environment > default.

    Raises SettingsError naming the variable for a value that can't be parsed.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    resolved: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            resolved[setting.name] = overrides.pop(setting.name)
            continue
        raw = environ.get(setting.env_name)
        if raw is None or (raw == "" and not setting.empty_is_value):
            resolved[setting.name] = setting.default
            continue
        try:
            resolved[setting.name] = setting.parse(raw)
        except ValueError as exc:
            if setting.secret:
                reason = str(exc).replace(raw, "...") if raw else str(exc)
                raise SettingsError(f"{setting.env_name} (value not shown): {reason}") from None
            raise SettingsError(f"{setting.env_name}={raw!r}: {exc}") from None

    data_dir = Path(resolved["DATA_DIR"]).resolve()
    resolved["DATA_DIR"] = data_dir
    resolved["SITES"] = Path(resolved["SITES"] or data_dir / "sites.toml")
    resolved["DEPLOY_DIR"] = Path(resolved["DEPLOY_DIR"] or data_dir / "deploy").resolve()
    resolved["NGINX_CONF"] = Path(resolved["NGINX_CONF"] or resolved["DEPLOY_DIR"] / "nginx.conf")
    if bool(resolved["ACME_EAB_KID"]) != bool(resolved["ACME_EAB_HMAC_KEY"]):
        raise SettingsError("External Account Binding needs both LANDINGPAD_ACME_EAB_KID "
                            "and LANDINGPAD_ACME_EAB_HMAC_KEY")
    if resolved["ASSET_STORE"] == "s3" and not resolved["S3_BUCKET"]:
        raise SettingsError("LANDINGPAD_ASSET_STORE=s3 needs LANDINGPAD_S3_BUCKET")
    if not resolved["DATABASE_URL"]:
        resolved["DATABASE_URL"] = f"sqlite:///{data_dir / 'landingpad.db'}"
    elif not resolved["SECRET_KEY"] and not resolved["DATABASE_URL"].startswith("sqlite"):
        # A key generated per node would break sessions and links between nodes.
        raise SettingsError("with a shared DATABASE_URL, set LANDINGPAD_SECRET_KEY "
                            "(the same on every node), e.g. from: openssl rand -hex 32")
    resolved.update(overrides)  # anything else (e.g. TESTING) passes through to Flask
    return resolved


def secret_key(data_dir: Path) -> str:
    """Read the install's secret key, creating it once (0600) if missing.

    Written to a temporary file and hard-linked into place, so several
    processes starting at once agree on one complete key.
    """
    path = data_dir / "secret_key"
    if not path.exists():
        make_data_dir(data_dir)
        tmp = data_dir / f".secret_key.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)  # a leftover of a crash: made afresh, 0600
        with os.fdopen(open_private(tmp), "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise SettingsError(f"{path}: secret key is too short; delete it to regenerate")
    return key


def as_environ(config: Mapping[str, Any]) -> dict[str, str]:
    """The effective settings as environment variables, for a child process (same install)."""
    env = {}
    for setting in SETTINGS:
        value = config.get(setting.name)
        if value is None:
            continue
        env[setting.env_name] = _as_text(value)
    return env


def _as_text(value: Any) -> str:
    """A parsed value back as its variable's text (what the parser reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value)


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) rows for docs and ``--help``."""
    return [(s.env_name, "" if s.default is None else _as_text(s.default), s.help)
            for s in SETTINGS]
