"""bounces_per_s: DSNs read per second by `landingpad bounces import` from one mbox.

Each DSN is Postfix's own format (as its bounce daemon wrote it in the tests, a
550 5.1.1 for one recipient), addressed to that recipient's VERP address
(mail/verp.py): every report is parsed, its token checked, its recipient row
looked up, its bounce recorded and the address suppressed, one commit per report
(SQLite, synchronous=FULL). The command's whole run is timed, start-up included.

Run alone: .venv/bin/python -m bench.bounces [COUNT]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOMAIN = "bounce.example.test"
SECRET = "bench-secret-" + "z" * 40

# Postfix 3.7's DSN, as delivered to the VERP address (tests/unit/bounces/ make real ones).
DSN = """\
Return-Path: <>
X-Original-To: {verp}
Delivered-To: {verp}
Received: by mta.example.test (Postfix)
	id {qid}; Tue,  1 Dec 2026 06:28:52 +0000 (UTC)
Date: Tue,  1 Dec 2026 06:28:52 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@mta.example.test>
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="{qid}.1796106532/mta.example.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20261201062852.{qid}@mta.example.test>

This is a MIME-encapsulated message.

--{qid}.1796106532/mta.example.test
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mta.example.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{rcpt}>: host 127.0.0.1[127.0.0.1] said: 550 5.1.1
    <{rcpt}>: Recipient address rejected: No such user (in reply to
    RCPT TO command)

--{qid}.1796106532/mta.example.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mta.example.test
X-Postfix-Queue-ID: {qid}
X-Postfix-Sender: rfc822; {verp}
Arrival-Date: Tue,  1 Dec 2026 06:28:52 +0000 (UTC)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.1
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address
    rejected: No such user

--{qid}.1796106532/mta.example.test
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <{verp}>
From: Coffee Club <noreply@coffee.test>
To: {rcpt}
Subject: We launched
Message-ID: <announce-1-{rid}@coffee.test>
Date: Tue,  1 Dec 2026 06:28:52 +0000 (UTC)

We are live.

--{qid}.1796106532/mta.example.test--
"""


def bounce_figures(work: Path, count: int = 2000) -> dict[str, float]:
    import sqlalchemy as sa
    import sqlalchemy.orm

    from landingpad.mail.verp import verp_sender
    from landingpad.storage.engine import make_engine
    from landingpad.storage.migrations import upgrade
    from landingpad.storage.models import Announcement, Recipient
    from landingpad.storage.types import utcnow

    data = work / "bounces-data"
    data.mkdir()
    (data / "sites.toml").write_text('[sites."coffee.test"]\nLANDING_TITLE = "Coffee"\n')
    engine = make_engine(f"sqlite:///{data / 'landingpad.db'}")
    upgrade(engine)
    with sa.orm.Session(engine) as session:
        item = Announcement(subject="Live", body_markdown="x", sites=["coffee.test"],
                            created_at=utcnow(), recipients_at=utcnow())
        session.add(item)
        session.flush()
        session.execute(sa.insert(Recipient), [
            {"announcement_id": item.id, "email": f"gone{n:05d}@remote.test",
             "site": "coffee.test", "state": "sent", "attempts": 1} for n in range(count)])
        session.commit()
        rows = session.execute(sa.select(Recipient.id, Recipient.email)).all()
    engine.dispose()
    config = {"BOUNCE_DOMAIN": DOMAIN, "SECRET_KEY": SECRET}
    mbox = work / "bounces.mbox"
    with mbox.open("w") as fh:
        for rid, rcpt in rows:
            verp = verp_sender(config, "", recipient_id=rid)
            fh.write("From MAILER-DAEMON Tue Dec  1 06:28:52 2026\n")
            fh.write(DSN.format(verp=verp, rcpt=rcpt, rid=rid, qid=f"{rid:011X}"))
            fh.write("\n")
    src = str(Path(__file__).resolve().parent.parent / "src")  # this checkout's landingpad
    env = {**os.environ, "PYTHONPATH": src, "LANDINGPAD_DATA_DIR": str(data),
           "LANDINGPAD_SECRET_KEY": SECRET,
           "LANDINGPAD_BOUNCE_DOMAIN": DOMAIN, "LANDINGPAD_SITES": str(data / "sites.toml")}
    env.pop("DATABASE_URL", None)
    landingpad = str(Path(sys.executable).with_name("landingpad"))
    started = time.monotonic()
    done = subprocess.run([landingpad, "bounces", "import", str(mbox)], env=env, check=True,
                          capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if f"{count} reports read: {count} hard" not in done.stdout:
        raise RuntimeError(f"bounces import said: {done.stdout} {done.stderr}")
    return {"bounces_per_s": round(count / elapsed, 1)}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="landingpad-bench-") as tmp:
        print(bounce_figures(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
