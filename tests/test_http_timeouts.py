"""Idle and half-sent HTTP connections are closed (issue 15 item 13).

Without a request deadline a client that connects and sends nothing, or half
a request, held its socket forever; enough of them exhaust the descriptors
and /health stops answering.  Here they are closed within the deadline while
/health keeps answering throughout."""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from simulator.pytest_plugin import KrakenVenue
from simulator.server.runtime import Settings
from simulator.server.server import ThreadedVenue

DEADLINE = 1.0
IDLE = 1.0


@pytest.fixture
def venue() -> Iterator[KrakenVenue]:
    tv = ThreadedVenue(Settings(port=0, fix_port=0, http_request_timeout=DEADLINE, http_idle_timeout=IDLE))
    tv.start()
    try:
        yield KrakenVenue(tv)
    finally:
        tv.stop()


def _port(v: KrakenVenue) -> int:
    return int(v.spot_rest.rsplit(":", 1)[1])


def _health(port: int) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/health")
        return c.getresponse().status
    finally:
        c.close()


def _closed_within(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """The sockets the server has NOT closed after `seconds` (EOF or reset counts as closed)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    open_ = set(socks)
    end = time.monotonic() + seconds
    while open_ and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                data = s.recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                open_.discard(s)
                sel.unregister(s)
    sel.close()
    return list(open_)


def test_half_sent_and_idle_connections_are_closed_and_health_answers(venue: KrakenVenue) -> None:
    port = _port(venue)
    partial = [
        b"",  # connects, sends nothing
        b"GET /heal",  # half a request line
        b"GET /health HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b"POST /0/public/Time HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",  # body never finished
    ]
    socks = []
    t0 = time.monotonic()
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(partial[i % len(partial)])
        socks.append(s)
    try:
        assert _health(port) == 200  # held connections do not stop the probe
        left = _closed_within(socks, DEADLINE + 3.0)
        assert not left, f"{len(left)} of {len(socks)} half-sent connections still open"
        assert time.monotonic() - t0 >= DEADLINE * 0.9  # closed by the deadline, not at once
        assert _health(port) == 200
    finally:
        for s in socks:
            s.close()


def test_trickled_headers_do_not_extend_the_deadline(venue: KrakenVenue) -> None:
    s = socket.create_connection(("127.0.0.1", _port(venue)))
    try:
        start = time.monotonic()
        closed = False
        for ch in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":
            try:
                s.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            if time.monotonic() - start > DEADLINE + 3.0:
                break
            time.sleep(0.05)
        assert closed or not _closed_within([s], 0.5), "a slow header trickle held the connection"
        assert time.monotonic() - start < DEADLINE + 3.0
    finally:
        s.close()


def test_idle_keep_alive_connection_is_closed(venue: KrakenVenue) -> None:
    port = _port(venue)
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(2)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        left = _closed_within([s], IDLE + 2.0)
        assert not left, "an idle keep-alive connection stayed open"
    finally:
        s.close()


def test_keep_alive_requests_within_the_deadline_are_served(venue: KrakenVenue) -> None:
    c = http.client.HTTPConnection("127.0.0.1", _port(venue), timeout=3)
    try:
        first = None
        for _ in range(3):
            c.request("GET", "/health")
            r = c.getresponse()
            assert r.status == 200
            r.read()
            first = first or c.sock
            assert c.sock is first  # under both timeouts: the same connection serves the next one
            time.sleep(DEADLINE * 0.6)
    finally:
        c.close()


def _count(v: KrakenVenue) -> int:
    inflight = v.runtime.services.inflight
    return int(v.call(lambda: inflight.count))


def _until(v: KrakenVenue, want: int, seconds: float = 3.0) -> int:
    end = time.monotonic() + seconds
    n = _count(v)
    while n != want and time.monotonic() < end:
        time.sleep(0.01)
        n = _count(v)
    return n


def test_requests_in_flight_are_counted_until_answered_or_gone(venue: KrakenVenue) -> None:
    """What the WS fan-out gives way to (issue 15 item 12): an HTTP request counts
    from its first byte until its response is sent or its connection is gone, and
    never stays counted (a stuck count would slow every subscriber for good)."""
    port = _port(venue)
    assert _until(venue, 0) == 0
    venue.admin.faults(latency_ms={"rest": [500, 500]})
    try:  # a request held by injected latency counts while it waits
        held = threading.Thread(target=_health_time, args=(port,))
        held.start()
        assert _until(venue, 1) == 1
        held.join()
    finally:
        venue.admin.faults(latency_ms={"rest": None})
    assert _until(venue, 0) == 0
    # two pipelined requests in one write, both answered
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while got.count(b"HTTP/1.1 200") < 2:
            chunk = s.recv(65536)
            assert chunk
            got += chunk
    assert _until(venue, 0) == 0
    # half a request, then the client goes away; half a request the deadline closes
    gone = socket.create_connection(("127.0.0.1", port), timeout=5)
    gone.sendall(b"POST /0/public/Time HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    stuck = socket.create_connection(("127.0.0.1", port), timeout=5)
    stuck.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    assert _until(venue, 2) == 2
    gone.close()
    assert _until(venue, 1) == 1
    assert _until(venue, 0, DEADLINE + 2) == 0  # the deadline closed the other
    stuck.close()
    # a WebSocket upgrade is a request until it is upgraded; the open socket is not
    ws = socket.create_connection(("127.0.0.1", port), timeout=5)
    ws.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert ws.recv(4096).startswith(b"HTTP/1.1 101")
    assert _until(venue, 0) == 0
    ws.close()


def _health_time(port: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/0/public/Time")
        assert c.getresponse().status == 200
    finally:
        c.close()
