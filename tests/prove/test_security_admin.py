"""The admin API's input limits: bodies over the cap are refused with 413 on
every /admin path (declared, streamed or chunked) before anything is parsed,
and an account is never created with a permission name nobody knows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator.core.accounts import ALL_PERMISSIONS
from simulator.pytest_plugin import KrakenVenue
from simulator.server.admin import MAX_ADMIN_BODY

from .kit import assert_alive, changes_since, declared_length_probe, snapshot


def _accounts(venue: KrakenVenue) -> int:
    return len(venue.admin.request("GET", "/accounts"))


def _post(venue: KrakenVenue, path: str, content: Any) -> httpx.Response:
    return httpx.post(venue.admin_url + path, content=content, headers={"Content-Type": "application/json"},
                      timeout=30)


def _account_body(pad: int) -> bytes:
    return json.dumps({"balances": {"XBT": "1"}, "tier": "x" * pad}).encode()


@pytest.mark.parametrize("path", ["/accounts", "/faults", "/books/XBTUSD", "/futures/notifications", "/fix"])
def test_admin_body_over_the_cap_is_refused_with_413(venue: KrakenVenue, path: str) -> None:
    before, n = snapshot(venue), _accounts(venue)
    r = _post(venue, path, _account_body(MAX_ADMIN_BODY))
    assert r.status_code == 413, r.text[:200]
    assert r.json() == {"detail": f"request body too large (limit {MAX_ADMIN_BODY} bytes)"}
    assert changes_since(venue, before) == [] and _accounts(venue) == n
    assert_alive(venue)


def test_admin_chunked_body_over_the_cap_is_refused(venue: KrakenVenue) -> None:
    """No Content-Length to go by: the gate counts the bytes as they arrive."""
    before, n = snapshot(venue), _accounts(venue)
    body = _account_body(2 * MAX_ADMIN_BODY)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    r = _post(venue, "/accounts", chunks())
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413, r.text[:200]
    assert changes_since(venue, before) == [] and _accounts(venue) == n


def test_admin_declared_length_over_the_cap_is_refused_without_reading_the_body(venue: KrakenVenue) -> None:
    reply = declared_length_probe(
        venue.spot_rest,
        b"POST /admin/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999999\r\n\r\n{\"balances\": ",
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"request body too large" in reply, reply


def test_admin_body_under_the_cap_still_reaches_validation(venue: KrakenVenue) -> None:
    """Just under the cap: read, then refused by validation (400), not by size."""
    body = _account_body(MAX_ADMIN_BODY - 100)
    assert len(body) <= MAX_ADMIN_BODY
    r = _post(venue, "/accounts", body)
    assert r.status_code == 400, r.text[:200]
    r = _post(venue, "/accounts", json.dumps({"balances": {"XBT": "1"}}).encode())
    assert r.status_code == 200 and r.json()["account_id"], r.text


def test_unknown_permission_is_refused_and_no_account_is_made(venue: KrakenVenue) -> None:
    before, n = snapshot(venue), _accounts(venue)
    for bad in (["query_funds", "trade"], ["Query_Funds"], [""], ["websocket", "withdraw", "witdraw"]):
        r = _post(venue, "/accounts", json.dumps({"balances": {"XBT": "1"}, "permissions": bad}).encode())
        assert r.status_code == 400, (bad, r.text)
        odd = next(p for p in bad if p not in ALL_PERMISSIONS)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and repr(odd) in detail, (bad, detail)
    assert changes_since(venue, before) == [] and _accounts(venue) == n
    # known names, and none at all, are accepted
    for ok in (sorted(ALL_PERMISSIONS), ["query_funds"], []):
        r = _post(venue, "/accounts", json.dumps({"balances": {"XBT": "1"}, "permissions": ok}).encode())
        assert r.status_code == 200, (ok, r.text)
