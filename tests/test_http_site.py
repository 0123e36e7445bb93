"""The HTTP site (issue 14 section 8): one mounted sub-application per
protocol, the same middleware in the same order, declared routes, and 404/405
from the router in each protocol's own words."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
from starlette.routing import Mount, Route, WebSocketRoute

from simulator.pytest_plugin import KrakenVenue


def _get(venue: KrakenVenue, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, venue.spot_rest + path, timeout=10, **kw)


def test_each_protocol_is_a_mounted_sub_application_with_declared_routes(kraken_venue: KrakenVenue) -> None:
    routes = kraken_venue.asgi_app().router.routes
    mounts = {r.path for r in routes if isinstance(r, Mount)}
    assert {"/0", "/derivatives/api", "/api/history", "/api/charts", "/admin", "/dashboard"} <= mounts
    assert {r.path for r in routes if isinstance(r, WebSocketRoute)} == {"/v2", "/auth/v2", "/l3/v2", "/ws/v1"}
    # no catch-all: no route of a protocol sub-application takes the rest of the path as a parameter
    for r in routes:
        if isinstance(r, Mount) and r.path in ("/0", "/derivatives/api", "/api/history", "/api/charts"):
            assert r.routes, r.path
            for sub in r.routes:
                assert isinstance(sub, Route) and ":path}" not in sub.path, (r.path, sub)


def test_spot_router_answers_in_krakens_words(kraken_venue: KrakenVenue) -> None:
    assert (lambda r: (r.status_code, r.json()))(_get(kraken_venue, "GET", "/0/public/Time/extra")) == (
        404, {"error": ["EGeneral:Unknown method"]})
    assert (lambda r: (r.status_code, r.json()))(_get(kraken_venue, "GET", "/0/nowhere/Time")) == (
        404, {"error": ["EGeneral:Unknown method"]})
    r = _get(kraken_venue, "PUT", "/0/public/Time")  # a verb the method does not take
    assert (r.status_code, r.json()) == (200, {"error": ["EGeneral:Invalid arguments"]})
    assert _get(kraken_venue, "GET", "/0/public/Time").json()["error"] == []


def test_derivatives_routers_answer_in_their_words(kraken_venue: KrakenVenue) -> None:
    r = _get(kraken_venue, "GET", "/derivatives/api/v3/nosuchthing")
    assert r.status_code == 404 and r.json()["error"] == "notFound" and r.json()["result"] == "error"
    r = _get(kraken_venue, "DELETE", "/derivatives/api/v3/tickers")
    assert r.status_code == 405 and r.json()["error"] == "invalidArgument"
    assert _get(kraken_venue, "GET", "/derivatives/api/v4/tickers").status_code == 404
    assert _get(kraken_venue, "GET", "/derivatives/api/v4/historicalfundingrates?symbol=PF_XBTUSD").status_code == 200
    # Kraken's futures paths answer whatever the case, with or without a trailing slash; the symbol keeps its spelling
    r = _get(kraken_venue, "GET", "/derivatives/api/V3/Tickers/PF_XBTUSD/")
    assert r.status_code == 200 and r.json()["ticker"]["symbol"] == "PF_XBTUSD"
    r = _get(kraken_venue, "GET", "/api/history/v2/nosuchthing")
    assert (r.status_code, r.json()) == (404, {"error": "not found"})
    assert _get(kraken_venue, "GET", "/api/charts/v1/trade/PF_XBTUSD/1h/extra").status_code == 404
    assert _get(kraken_venue, "GET", "/api/charts/v1/").json() == ["mark", "spot", "trade"]


def test_faults_come_before_the_router_on_every_protocol(kraken_venue: KrakenVenue) -> None:
    kraken_venue.admin.faults(unavailable_share=1.0)
    try:
        for path in ("/0/public/Time", "/0/public/NoSuchMethod"):
            assert _get(kraken_venue, "GET", path).json() == {"error": ["EService:Unavailable"]}
        for path in ("/derivatives/api/v3/tickers", "/derivatives/api/v3/nosuchthing", "/api/history/v2/executions"):
            assert _get(kraken_venue, "GET", path).json()["error"] == "Unavailable", path
        r = _get(kraken_venue, "GET", "/api/charts/v1")
        assert (r.status_code, r.json()) == (503, {"error": "Unavailable"})
        assert _get(kraken_venue, "GET", "/admin/clock").status_code == 200  # the control surface has no faults
    finally:
        kraken_venue.admin.faults(unavailable_share=0.0)


def test_latency_comes_before_the_router(kraken_venue: KrakenVenue) -> None:
    kraken_venue.admin.faults(latency_ms={"rest": [300, 300], "futures_rest": [300, 300]})
    try:
        for path in ("/0/public/NoSuchMethod", "/derivatives/api/v3/nosuchthing"):
            t0 = time.monotonic()
            assert _get(kraken_venue, "GET", path).status_code == 404
            assert time.monotonic() - t0 >= 0.29, path
    finally:
        kraken_venue.admin.faults(latency_ms={"rest": None, "futures_rest": None})


def _declared(venue: KrakenVenue, head: bytes) -> bytes:
    host, port = venue.spot_rest.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)
        reply = b""
        while b"}" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def test_the_body_cap_is_the_stacks_in_each_dialect(kraken_venue: KrakenVenue) -> None:
    huge = b"Content-Length: 999999999999\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nnonce=1"
    spot = _declared(kraken_venue, b"POST /0/private/AddOrder HTTP/1.1\r\nHost: x\r\n" + huge)
    assert spot.startswith(b"HTTP/1.1 200") and b'{"error":["EGeneral:Invalid arguments"]}' in spot, spot
    fut = _declared(kraken_venue, b"POST /derivatives/api/v3/sendorder HTTP/1.1\r\nHost: x\r\n" + huge)
    assert fut.startswith(b"HTTP/1.1 200") and b'"error":"invalidArgument"' in fut, fut
    r = _get(kraken_venue, "POST", "/0/public/Time", content=b"x" * (65 * 1024),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json() == {"error": ["EGeneral:Invalid arguments"]}
