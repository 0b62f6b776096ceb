"""A real authoritative DNS server on loopback (UDP and TCP on one port), answering a zone
the test sets: records in zone-file syntax (parsed by dnslib), and names that answer
SERVFAIL or nothing at all."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord


class Zone:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[RR] = []
        self.servfail: set[str] = set()  # names answered SERVFAIL
        self.silent: set[str] = set()  # names never answered (a timeout)
        self.queries: list[tuple[str, str]] = []  # (name, type) asked, in order
        self.over_tcp = 0  # answers sent over TCP (after a truncated one over UDP)

    def set(self, text: str = "", servfail: tuple[str, ...] = (),
            silent: tuple[str, ...] = ()) -> None:
        """Replace the zone: ``text`` holds zone-file lines (absolute names)."""
        records = RR.fromZone(text) if text.strip() else []
        with self.lock:
            self.records = records
            self.servfail = {n.rstrip(".").lower() for n in servfail}
            self.silent = {n.rstrip(".").lower() for n in silent}
            self.queries = []
            self.over_tcp = 0

    def answer(self, data: bytes) -> bytes | None:
        request = DNSRecord.parse(data)
        reply = request.reply()  # authoritative, no recursion
        name = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        with self.lock:
            self.queries.append((name, QTYPE[qtype]))
            if name in self.silent:
                return None
            if name in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply.pack()
            same_name = [r for r in self.records if str(r.rname).rstrip(".").lower() == name]
        if not same_name:
            reply.header.rcode = RCODE.NXDOMAIN
        for record in same_name:
            if record.rtype == qtype:
                reply.add_answer(record)
        return reply.pack()


class _UDP(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        answer = self.server.zone.answer(data)
        if answer is not None:
            if len(answer) > 512:  # too long for UDP without EDNS: say so, the client uses TCP
                reply = DNSRecord.parse(answer)
                reply.rr = []
                reply.header.tc = 1
                answer = reply.pack()
            sock.sendto(answer, self.client_address)


class _TCP(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(10)
        try:
            size = struct.unpack("!H", _read(sock, 2))[0]
            answer = self.server.zone.answer(_read(sock, size))
        except (OSError, ValueError):
            return
        if answer is not None:
            with self.server.zone.lock:
                self.server.zone.over_tcp += 1
            sock.sendall(struct.pack("!H", len(answer)) + answer)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("closed")
        data += chunk
    return data


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DnsServer:
    """``with DnsServer() as dns: dns.zone.set(...)``; ``dns.address`` is ip:port."""

    def __init__(self) -> None:
        self.zone = Zone()
        self.udp: _UDPServer | None = None
        self.tcp: _TCPServer | None = None
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> DnsServer:
        for _ in range(20):  # the UDP port's number may be taken for TCP: try another
            udp = _UDPServer(("127.0.0.1", 0), _UDP)
            try:
                tcp = _TCPServer(("127.0.0.1", udp.server_address[1]), _TCP)
            except OSError:
                udp.server_close()
                continue
            self.udp, self.tcp = udp, tcp
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        for server in (self.udp, self.tcp):
            server.zone = self.zone
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    @property
    def port(self) -> int:
        return self.udp.server_address[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(10)
