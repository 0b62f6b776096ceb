"""What a report in the bounce mailbox says: its VERP address, and each failure in it.

- A DSN (RFC 3464, ``multipart/report; report-type=delivery-status``): each
  per-recipient block's Action and Status. 5.x.x is hard, 4.x.x soft, whatever the
  Action (a 4xx that expired in the queue is still a full mailbox or a greylist,
  not a dead address); ``Action: delayed`` is a warning, nothing more.
- A message that isn't a DSN (an old MTA's prose): ``flufl.bounce``'s detectors,
  whose permanent failures are hard and temporary ones soft.
- An ARF report (RFC 5965, a ``message/feedback-report`` part): a complaint.

The VERP address is looked for where MTAs put it: the report's own Delivered-To,
X-Original-To, Envelope-To (Exim) and To; for a complaint also the feedback
report's Original-Mail-From and the enclosed original's Return-Path.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
from dataclasses import dataclass, field

from landingpad.storage.models import BounceKind
from landingpad.values import CONTROL

DELAYED = "delayed"
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True)
class Failure:
    """One address the report says failed (or was complained about)."""

    address: str
    kind: str  # a BounceKind, or DELAYED
    status: str | None = None


@dataclass
class Parsed:
    subject: str = ""
    complaint: bool = False
    addresses: list[str] = field(default_factory=list)  # where a VERP address may be
    failures: list[Failure] = field(default_factory=list)


def _addr(value: str) -> str:
    """``rfc822; a@b`` (a DSN field) or a header's address -> the bare address."""
    value = value.split(";", 1)[1] if ";" in value else value
    found = email.utils.getaddresses([value])
    return (found[0][1] if found else value).strip().strip("<>")


def _fields(part: email.message.Message) -> list[email.message.Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser already split it into blocks
        return [p for p in payload if isinstance(p, email.message.Message)]
    text = part.get_payload(decode=True) or b""
    blocks = text.replace(b"\r\n", b"\n").split(b"\n\n")
    return [email.message_from_bytes(b) for b in blocks if b.strip()]


def _status(value: str | None) -> str | None:
    value = (value or "").strip().split(" ", 1)[0]
    parts = value.split(".")
    if len(parts) == 3 and parts[0] in ("2", "4", "5") and all(p.isdigit() for p in parts[1:]):
        return value
    return None


def _dsn_failures(part: email.message.Message) -> list[Failure]:
    failures = []
    for block in _fields(part):
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if not recipient:
            continue  # the per-message block
        action = (block.get("Action") or "").strip().lower()
        status = _status(block.get("Status"))
        if action == "delayed":
            kind = DELAYED
        elif action in ("delivered", "relayed", "expanded"):
            continue
        elif status and status[0] == "4":
            kind = BounceKind.SOFT.value
        elif (status and status[0] == "5") or action == "failed":
            kind = BounceKind.HARD.value
        else:
            continue
        failures.append(Failure(_addr(str(recipient)), kind, status))
    return failures


def _headers_of(part: email.message.Message) -> email.message.Message | None:
    """The enclosed original of a report (message/rfc822 or text/rfc822-headers)."""
    kind = part.get_content_type()
    if kind == "message/rfc822":
        payload = part.get_payload()
        return payload[0] if isinstance(payload, list) and payload else None
    if kind == "text/rfc822-headers":
        return email.message_from_bytes(part.get_payload(decode=True) or b"")
    return None


# flufl.bounce's detectors read prose with regular expressions, some slow on crafted text
# (~5 us a byte); an old MTA's prose bounce is a few KB, so larger mail isn't given to them.
DETECT_MAX_BYTES = 256 * 1024


def parse_report(raw: bytes) -> Parsed:
    """Read one report; never raises for a malformed message (it then finds less)."""
    message = email.message_from_bytes(raw)  # compat32: what flufl.bounce reads
    # Shown in the admin and a terminal, stored in a text column (PostgreSQL refuses NUL).
    subject = CONTROL.sub(" ", str(message.get("Subject", ""))).strip()[:200]
    parsed = Parsed(subject=subject)
    for name in _ENVELOPE_HEADERS:
        for value in message.get_all(name, []):
            parsed.addresses += [a for _, a in email.utils.getaddresses([str(value)]) if a]

    complaint_rcpts: list[str] = []
    dsn: list[Failure] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            parsed.complaint = True
            for block in _fields(part):
                for value in block.get_all("Original-Mail-From", []):
                    parsed.addresses.append(_addr(str(value)))
                complaint_rcpts += [_addr(str(v)) for v in block.get_all("Original-Rcpt-To", [])]
        elif kind == "message/delivery-status":
            dsn += _dsn_failures(part)
        else:
            original = _headers_of(part)
            if original is not None:
                parsed.addresses += [_addr(str(v)) for v in original.get_all("Return-Path", [])]
                if not complaint_rcpts:
                    complaint_rcpts += [a for _, a in email.utils.getaddresses(
                        [str(v) for v in original.get_all("To", [])]) if a]

    if parsed.complaint:
        parsed.failures = [Failure(a, BounceKind.COMPLAINT.value) for a in complaint_rcpts] \
            or [Failure("", BounceKind.COMPLAINT.value)]  # redacted: the token says who
    elif dsn:
        parsed.failures = dsn
    elif len(raw) <= DETECT_MAX_BYTES:
        parsed.failures = _detected(message)
    return parsed


def _detected(message: email.message.Message) -> list[Failure]:
    """flufl.bounce's detectors, for bounces that aren't DSNs."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on odd input finds nothing
        return []
    found = [Failure(a.decode(errors="replace"), BounceKind.HARD.value) for a in permanent]
    found += [Failure(a.decode(errors="replace"), BounceKind.SOFT.value)
              for a in temporary if a not in permanent]
    return found
