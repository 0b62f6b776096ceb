"""A webhook receiver on loopback over HTTPS (a throwaway CA's localhost certificate),
answering as scripted: 500s, a redirect, a hang, then 204s. It records every request."""

from __future__ import annotations

import collections
import contextlib
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port
from tests.tls_servers import LoopbackServer, QuietHandler, make_api_certificate, serve_in_thread


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answer: str  # "ok", "500", "302" or "hang"


class Receiver:
    def __init__(self, folder: Path, hang_seconds: float = 2.0) -> None:
        self.ca, cert, key = make_api_certificate(folder)
        self.plan: collections.deque[str] = collections.deque()  # answers to give first
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.hanging = threading.Event()  # set when a hang begins
        self.gate = threading.Event()  # cleared: requests wait (up to a minute) to be answered
        self.gate.set()
        self.busy = 0  # connections accepted whose handler hasn't finished
        receiver = self

        class Handler(QuietHandler):
            timeout = 10  # a client that stalls can't hold a handler thread for long

            def setup(self) -> None:
                self.request.do_handshake()  # here, not in the accepting thread
                super().setup()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) != length:  # the client died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                with receiver.lock:
                    answer = receiver.plan.popleft() if receiver.plan else "ok"
                    receiver.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                        answer))
                receiver.gate.wait(60)
                if answer == "hang":  # read, never answered: the client must time out
                    receiver.hanging.set()
                    time.sleep(hang_seconds)
                    self.close_connection = True
                    return
                if answer == "302":
                    self.send_response(302)
                    self.send_header("Location", "https://127.0.0.1:1/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 500 if answer == "500" else 204
                payload = b"x" * 100_000 if status == 500 else b""  # a big body is not read
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may stop reading: fine
                    self.wfile.write(payload)

        class Server(LoopbackServer):
            # Counted from accept to the handler thread's end, so a test can wait until
            # no request of a killed client can still be read (and take a planned answer).
            def verify_request(self, request, client_address) -> bool:
                with receiver.lock:
                    receiver.busy += 1
                return True

            def shutdown_request(self, request) -> None:
                try:
                    super().shutdown_request(request)
                finally:
                    with receiver.lock:
                        receiver.busy -= 1

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        serve_in_thread(self.server)

    def url(self, path: str = "/hook") -> str:
        return f"https://localhost:{self.port}{path}"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.answer == "ok"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
