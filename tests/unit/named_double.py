"""A STAND-IN for named in unit tests: an authoritative UDP responder on 127.0.0.1.

The dns tasks ask the dns host directly over UDP (the served SOA serial, every record of the
zone). With a scripted host (`nornir_homehub.testing.ScriptedHost`) there is no named, so this
answers instead, from a zone text the test loads, the way BIND answers for a primary zone:
authoritative answers, NXDOMAIN for names not in the zone, an empty NOERROR for a name without
the type asked, REFUSED outside the zone. It serves nothing until a zone is loaded (named
before its first reconfig), and a test loads a zone when the script's ``rndc reload`` or
``rndc reconfig`` runs, so a reload takes effect as it does on a real host.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone


class LoopbackNamed:
    """Answers DNS questions for one zone on 127.0.0.1 (port in ``port``)."""

    def __init__(self, origin: str) -> None:
        self.origin = dns.name.from_text(origin)
        self.zone: dns.zone.Zone | None = None
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def load(self, text: str | bytes) -> None:
        """Serve ``text`` (a zone file) from now on, as ``rndc reload`` makes named do."""
        body = text.decode() if isinstance(text, bytes) else text
        self.zone = dns.zone.from_text(body, origin=self.origin, relativize=False)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
        zone = self.zone
        if zone is None or not question.name.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        node = zone.get_node(question.name)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        rdataset = node.get_rdataset(question.rdclass, question.rdtype)
        if rdataset is not None:
            rrset = dns.rrset.RRset(question.name, rdataset.rdclass, rdataset.rdtype)
            rrset.update(rdataset)
            response.answer.append(rrset)
        return response

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def start(self) -> None:
        """Start answering (in a daemon thread)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@contextmanager
def loopback_named(origin: str) -> Iterator[LoopbackNamed]:
    """A running `LoopbackNamed` for ``origin``, stopped at the end of the block."""
    named = LoopbackNamed(origin)
    named.start()
    try:
        yield named
    finally:
        named.stop()
