"""A real IMAP server (Dovecot) and a real MTA (Postfix) on loopback, for the bounce tests.

Recipe: /work/shared/MAIL-TESTING.md (Dovecot 2.3, Postfix 3.7). Both run in the
foreground from throwaway config folders, nothing in /etc, and are stopped by
their own pid. Postfix needs root (CI runs as root).

Postfix here is both the MTA landingpad hands its mail to and the "remote"
server that refuses it (a second smtpd answering 550 5.1.1 or 452 4.2.2 for
chosen addresses), so the DSN it writes is a real one; it delivers the DSN to
the VERP address's mailbox, which is Dovecot's Maildir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

NOBODY = 65534
MAILBOX_USER = "bounces"  # Postfix's local part for DSNs (bounces+TOKEN@)
MAILBOX_PASSWORD = "s3cret pass"  # with a space: the URL must quote it
HANG_GUARD = 60.0
USERS = 200


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): "
                               f"{log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def _stop(proc: subprocess.Popen, group: bool = False) -> None:
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()


def make_cert(folder: Path) -> tuple[Path, Path]:
    """An EC self-signed certificate for localhost and 127.0.0.1 (fast, unlike RSA)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@dataclass
class Mailbox:
    server: Dovecot
    user: str

    @property
    def maildir(self) -> Path:
        return self.server.root / "mail" / self.user / "Maildir"

    def url(self, password: str = MAILBOX_PASSWORD, folder: str = "INBOX",
            port: int | None = None) -> str:
        from urllib.parse import quote

        return (f"imaps://{self.user}:{quote(password, safe='')}@127.0.0.1:"
                f"{port or self.server.port}/{folder}")

    def deliver(self, raw: bytes) -> None:
        """Put a message into the Maildir as an MDA does (tmp, then new)."""
        for folder in (self.maildir.parent, self.maildir, *(self.maildir / s for s in
                                                            ("tmp", "new", "cur"))):
            folder.mkdir(exist_ok=True)
            os.chown(folder, NOBODY, NOBODY)
        name = f"{time.time_ns()}.{os.getpid()}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, NOBODY, NOBODY)
        os.replace(tmp, self.maildir / "new" / name)


@dataclass
class Dovecot:
    root: Path
    port: int
    cert: Path
    proc: subprocess.Popen
    users: int = 0

    def add_user(self) -> Mailbox:
        """A new, empty mailbox of its own (one per test: no test sees another's mail).
        The users exist from the start: Dovecot may not see a passwd-file changed twice
        within a second."""
        self.users += 1
        if self.users > USERS:
            raise RuntimeError(f"only {USERS} mailboxes: raise USERS")
        return Mailbox(self, f"t{self.users}")

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot() -> Dovecot:
    root = Path(tempfile.mkdtemp(prefix="landingpad-dovecot-"))
    root.chmod(0o755)  # mail processes run as nobody
    cert, key = make_cert(root)
    (root / "users.passwd").write_text("".join(f"t{n}:{{PLAIN}}{MAILBOX_PASSWORD}\n"
                                               for n in range(1, USERS + 1)))
    (root / "mail").mkdir()
    os.chown(root / "mail", NOBODY, NOBODY)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users.passwd
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
""")
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_port(port, proc, root / "dovecot.log")
    return Dovecot(root, port, cert, proc)


_MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

QUEUE_DIRS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
              "incoming", "private", "saved", "trace")


@dataclass
class Postfix:
    root: Path
    port: int
    proc: subprocess.Popen

    def delivered(self) -> list[Path]:
        """The messages Postfix has delivered to bounces@ (the DSNs), oldest first."""
        new = self.root / "delivered" / MAILBOX_USER / "Maildir" / "new"
        return sorted(new.glob("*"), key=lambda p: p.stat().st_mtime_ns) if new.exists() else []

    def wait_dsns(self, to: str, count: int = 1, about: bytes = b"") -> list[bytes]:
        """The first ``count`` DSNs delivered to ``to`` (its To header), oldest first;
        with ``about``, only those holding it (the bounced mail's Message-ID)."""
        import email

        deadline = time.monotonic() + HANG_GUARD
        while True:
            found = [raw for raw in (p.read_bytes() for p in self.delivered())
                     if email.message_from_bytes(raw)["To"] == to and about in raw]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(found)} of {count} DSNs to {to} came: "
                                   f"{self.log()[-2000:]}")
            time.sleep(0.02)

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        _stop(self.proc, group=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postfix(local_domain: str, refusals: dict[str, str]) -> Postfix:
    """A Postfix that relays ``remote.test`` to its own refusing smtpd and delivers
    ``local_domain`` (``bounces@``, extensions with +) into its ``delivered()`` Maildir.

    ``refusals``: address -> the reply the "remote" server gives at RCPT.
    """
    import grp
    import pwd

    root = Path(tempfile.mkdtemp(prefix="landingpad-postfix-"))
    root.chmod(0o755)
    etc, spool, data = root / "etc", root / "spool", root / "data"
    postfix_uid = pwd.getpwnam("postfix").pw_uid
    postfix_gid = grp.getgrnam("postfix").gr_gid
    postdrop_gid = grp.getgrnam("postdrop").gr_gid
    etc.mkdir()
    spool.mkdir()
    mail_root = root / "delivered"
    mail_root.mkdir()
    os.chown(mail_root, NOBODY, NOBODY)
    data.mkdir()
    os.chown(data, postfix_uid, postfix_gid)
    for name in QUEUE_DIRS:
        (spool / name).mkdir(mode=0o700)
        os.chown(spool / name, postfix_uid, -1)
    (spool / "pid").mkdir(mode=0o755)
    (spool / "maildrop").mkdir(mode=0o730)
    os.chown(spool / "maildrop", postfix_uid, postdrop_gid)
    (spool / "public").mkdir(mode=0o710)
    os.chown(spool / "public", postfix_uid, postdrop_gid)
    port, sink = free_port(), free_port()
    (root / "vmailbox").write_text(f"{MAILBOX_USER}@{local_domain} {MAILBOX_USER}/Maildir/\n")
    (root / "transport").write_text(f"remote.test smtp:[127.0.0.1]:{sink}\n")
    (root / "access").write_text("".join(f"{a} {r}\n" for a, r in refusals.items()))
    main = etc / "main.cf"
    main.write_text(f"""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.example.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
local_recipient_maps =
smtpd_reject_unlisted_recipient = no
recipient_delimiter = +
virtual_mailbox_domains = {local_domain}
virtual_mailbox_base = {mail_root}
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
transport_maps = texthash:{root}/transport
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
smtp_tls_security_level = none
smtpd_tls_security_level = none
""")
    (etc / "master.cf").write_text(
        f"127.0.0.1:{port} inet n - n - - smtpd\n"
        f"127.0.0.1:{sink} inet n - n - - smtpd\n"
        f"  -o smtpd_recipient_restrictions=check_recipient_access,texthash:{root}/access,"
        "reject\n"
        + _MASTER_SERVICES)
    past = time.time() - 60  # the master waits while main.cf is brand new
    os.utime(main, (past, past))
    proc = subprocess.Popen(["/usr/lib/postfix/sbin/master", "-c", str(etc), "-d"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _wait_port(port, proc, root / "postfix.log")
    return Postfix(root, port, proc)
