"""Two ways out for mail, chosen by LANDINGPAD_MAIL_TRANSPORT (warehouse's service pattern).

Every failure says which of three things happened (FailureKind), because the
announcement sender must never guess. Mail goes out through mail.outbox, which
owns the transports; make_transport is how it (or a batch) gets one.
"""

from __future__ import annotations

import os
import re
import select
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class FailureKind(StrEnum):
    """What a failed delivery means for the message (a StrEnum: it logs and compares
    as its value, so ``kind == "temporary"`` keeps working)."""

    TEMPORARY = "temporary"  # not sent; try later
    PERMANENT = "permanent"  # refused for good
    UNKNOWN = "unknown"      # the connection broke mid-message: the server may have it


class DeliveryError(Exception):
    def __init__(self, kind: FailureKind | str, reply: str) -> None:
        self.kind = FailureKind(kind)  # a wrong string fails here, not in a comparison
        self.reply = reply
        super().__init__(f"{self.kind}: {reply}")


class ConnectFailed(DeliveryError):
    """No connection to send over (refused, a 421 greeting, a failed login): nothing of
    any message went. Temporary."""

    def __init__(self, reply: str) -> None:
        super().__init__(FailureKind.TEMPORARY, reply)


# Called once the server has taken the envelope and before the first byte of the message
# (SMTP: after DATA's 354). If it raises, the message is not sent and the error propagates.
BeforeData = Callable[[], object]
# Called once the whole message is written, before its reply is read: work done there
# overlaps the server's handling of the message. Must not raise.
BeforeReply = Callable[[], object]


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def send_raw(self, sender: str, recipient: str, data: bytes, message_id: str,
                 before_data: BeforeData | None = None,
                 before_reply: BeforeReply | None = None) -> None: ...

    def close(self) -> None: ...


def _closed_by_server(smtp: smtplib.SMTP) -> bool:
    """Whether an idle connection has something to read: the server hung up (its idle
    timeout, a restart) or said 421 before doing so. Costs no round trip, so it runs
    before every reuse; sending on such a connection would make a mail "unknown" that
    the server never saw."""
    if smtp.sock is None:
        return True
    # poll, not select: select refuses a descriptor numbered 1024 or more.
    poller = select.poll()
    try:
        poller.register(smtp.sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # closed under us
        return True


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


class SMTPTransport:
    """One reused connection; one the server closed is replaced before use, and one idle
    a while is checked with NOOP (a silently dead path says nothing until asked)."""

    IDLE_CHECK = 5.0

    def __init__(self, host: str, port: int, username: str = "", password: str = "",
                 starttls: bool = False, use_ssl: bool = False, timeout: float = 30.0,
                 signer: Callable[[EmailMessage], bytes] | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.signer = signer or (lambda message: message.as_bytes())
        self.username, self.password = username, password
        self.starttls, self.use_ssl = starttls, use_ssl
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return smtp

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and _closed_by_server(self._smtp):
            self._smtp.close()  # no QUIT: nobody is listening for it
            self._smtp = None
        if self._smtp is not None and time.monotonic() - self._last_used > self.IDLE_CHECK:
            try:
                if self._smtp.noop()[0] != 250:
                    raise smtplib.SMTPServerDisconnected("NOOP refused")
            except (OSError, smtplib.SMTPException):
                self.close()
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def send(self, message: EmailMessage) -> None:
        self.send_raw(message["From"].addresses[0].addr_spec,
                      message["To"].addresses[0].addr_spec, self.signer(message),
                      str(message["Message-ID"]))

    def send_raw(self, sender: str, recipient: str, data: bytes, message_id: str,
                 before_data: BeforeData | None = None,
                 before_reply: BeforeReply | None = None) -> None:
        """Send finished (signed) bytes; the same outcome kinds as send().

        An address with a non-ASCII local part (and a message whose headers are raw
        UTF-8 because of one) travels only with SMTPUTF8 (RFC 6531);
        a server that doesn't offer it refuses that one message for good, nothing
        was sent, and the connection stays usable for the next one.

        ``before_data`` runs between the envelope and the message (the announcement
        sender waits there for its `sending` commit, which went to disk meanwhile).
        If it raises, the connection is dropped before the message's end, so the
        server delivers nothing, and its exception propagates. ``before_reply`` runs
        while the server takes the message (the sender builds the next one there).
        """
        smtp = self._connection()
        options: list[str] = []
        head = data.split(b"\r\n\r\n", 1)[0]
        if not (sender + recipient).isascii() or not head.isascii():
            try:
                smtp.ehlo_or_helo_if_needed()
                offered = smtp.has_extn("smtputf8")
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise DeliveryError(FailureKind.TEMPORARY, f"EHLO failed: {exc!r}") from None
            if not offered:
                raise DeliveryError(FailureKind.PERMANENT,
                                    "the mail server does not offer SMTPUTF8, needed for an "
                                    "address with non-ASCII characters before the @")
            options = ["SMTPUTF8"]
        try:
            self._send_in_two_steps(smtp, sender, recipient, data, options, before_data,
                                    before_reply)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise self._refused(code, text) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise self._refused(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            # The connection broke mid-transaction: the server may have the message.
            self.close()
            raise DeliveryError(FailureKind.UNKNOWN,
                                f"connection lost while sending: {exc!r}") from None
        finally:
            self._last_used = time.monotonic()

    def _send_in_two_steps(self, smtp: smtplib.SMTP, sender: str, recipient: str,
                           data: bytes, options: list[str], before_data: BeforeData | None,
                           before_reply: BeforeReply | None) -> None:
        """smtplib's sendmail() for one recipient, with ``before_data`` after DATA's 354
        and ``before_reply`` after the message's final dot; the envelope pipelined where
        the server offers it."""
        try:
            smtp.ehlo_or_helo_if_needed()
            if smtp.does_esmtp and smtp.has_extn("size"):
                options = [*options, f"size={len(data)}"]
            if smtp.has_extn("pipelining"):
                self._envelope_pipelined(smtp, sender, recipient, options)
            else:
                code, reply = smtp.mail(sender, options)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, reply, sender)
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
                smtp.putcmd("data")
                code, reply = smtp.getreply()
                if code != 354:
                    raise smtplib.SMTPDataError(code, reply)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
            raise  # refusals: the server's reply says which kind (send_raw)
        except OSError as exc:  # smtplib's other exceptions are OSErrors too
            # Lost before DATA's 354 (a 421 and a hang-up, a restart): not a byte of the
            # message was sent, so it is safe to send again later.
            self.close()
            raise DeliveryError(FailureKind.TEMPORARY,
                                f"connection lost before the message: {exc!r}") from None
        try:
            if before_data is not None:
                before_data()
        except BaseException:
            # Mid-DATA there is no RSET: without the final dot the server keeps nothing.
            self._smtp = None
            smtp.close()
            raise
        body = smtplib._quote_periods(data)  # as SMTP.data() sends it
        if body[-2:] != b"\r\n":
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        if before_reply is not None:
            before_reply()
        code, reply = smtp.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    @staticmethod
    def _envelope_pipelined(smtp: smtplib.SMTP, sender: str, recipient: str,
                            options: list[str]) -> None:
        """MAIL, RCPT and DATA in one write, their replies read after (RFC 2920): one
        round trip instead of three. The commands are the ones smtp.mail()/rcpt() send."""
        if any(option.lower() == "smtputf8" for option in options):
            smtp.command_encoding = "utf-8"  # as smtp.mail() does for SMTPUTF8
        extra = "".join(f" {option}" for option in options)
        commands = (f"mail FROM:{smtplib.quoteaddr(sender)}{extra}",
                    f"rcpt TO:{smtplib.quoteaddr(recipient)}", "data")
        if any("\r" in line or "\n" in line for line in commands):
            raise smtplib.SMTPException("a line break inside an SMTP command")  # as putcmd
        # One write: three small ones would wait on each other's ACK (Nagle).
        smtp.send("".join(f"{line}\r\n" for line in commands))
        replies: list[tuple[int, bytes]] = []
        try:
            for _ in range(3):
                replies.append(smtp.getreply())
        except smtplib.SMTPServerDisconnected:
            # A refusal said before hanging up (421) is the answer; else the loss is.
            if not any(code >= 400 for code, _ in replies):
                raise
            replies += [(421, b"connection closed")] * (3 - len(replies))
        mail, rcpt, data = replies
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            # A server that opens DATA for a refused envelope (RFC 2920 says 503): hang
            # up rather than end it, or a lax one could deliver an empty message.
            smtp.close()
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(*mail, sender)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        if data[0] != 354:
            raise smtplib.SMTPDataError(*data)

    def _refused(self, code: int, text: bytes | str) -> DeliveryError:
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException, AttributeError):
            self.close()
        kind = FailureKind.TEMPORARY if 400 <= code < 500 else FailureKind.PERMANENT
        return DeliveryError(kind, _reply(code, text))

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


class FolderTransport:
    """One .eml per message, named by its Message-ID: writing one twice keeps one file."""

    def __init__(self, folder: Path,
                 signer: Callable[[EmailMessage], bytes] | None = None) -> None:
        self.folder = folder
        self.signer = signer or (lambda message: message.as_bytes())

    def send(self, message: EmailMessage) -> None:
        self.send_raw("", "", self.signer(message), str(message["Message-ID"]))

    def send_raw(self, sender: str, recipient: str, data: bytes, message_id: str,
                 before_data: BeforeData | None = None,
                 before_reply: BeforeReply | None = None) -> None:
        from landingpad.files import PRIVATE_DIR, make_dir, open_private

        if before_data is not None:
            before_data()

        make_dir(self.folder, PRIVATE_DIR)  # mail holds addresses: owner only
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", message_id.strip("<>")) + ".eml"
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        with os.fdopen(open_private(tmp), "wb") as fh:  # 0600 whatever the umask
            fh.write(data)
        os.replace(tmp, self.folder / name)
        if before_reply is not None:
            before_reply()

    def close(self) -> None:
        pass


# The settings a transport is made from (mail.outbox makes a new one when they change).
TRANSPORT_SETTINGS = ("MAIL_TRANSPORT", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME",
                      "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_SSL", "SMTP_TIMEOUT", "DATA_DIR")


def make_transport(config: Mapping[str, Any],
                   signer: Callable[[EmailMessage], bytes] | None = None) -> Transport:
    """The transport the settings name; ``signer`` (the outbox's) turns a message into bytes."""
    if signer is None:
        from landingpad.mail.dkim import Signer

        signer = Signer(Path(config["DATA_DIR"]) / "dkim")
    if config["MAIL_TRANSPORT"] == "smtp":
        return SMTPTransport(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_USERNAME"],
                             config["SMTP_PASSWORD"], config["SMTP_STARTTLS"], config["SMTP_SSL"],
                             config["SMTP_TIMEOUT"], signer=signer)
    return FolderTransport(Path(config["DATA_DIR"]) / "mail", signer=signer)
