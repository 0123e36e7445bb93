"""Hostile and broken input: the exact Kraken error, HTTP 200 (404 for an
unknown method), never a 500, never a state change."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest

from simulator.core.errors import EngineError, Reject
from tests.kit.clients import rest_sign as sign

from .helpers import Raw, ccxt_client, journal_len

ORDER = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "90000", "volume": "0.01"}


def _snapshot(kraken_venue: Any, creds: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return journal_len(kraken_venue), kraken_venue.admin.account(creds["account_id"])


def _raw_body(
    raw: Raw, method: str, body: bytes, content_type: str = "application/x-www-form-urlencoded"
) -> tuple[int, Any]:
    path = f"/0/private/{method}"
    # sign with whatever nonce text the body carries (none here): the failure must be about the body
    headers = {"API-Key": raw.key, "API-Sign": sign(path, "", body, raw.secret), "Content-Type": content_type}
    r = raw.http.post(raw.base + path, content=body, headers=headers)
    return r.status_code, r.json()


def test_unknown_method_is_404(raw: Raw) -> None:
    r = raw.http.get(raw.base + "/0/public/Tickers")
    assert (r.status_code, r.json()) == (404, {"error": ["EGeneral:Unknown method"]})
    status, data = raw.post("AddOrders", ORDER)
    assert (status, data) == (404, {"error": ["EGeneral:Unknown method"]})
    assert raw.http.post(raw.base + "/0/private/addorder").status_code == 404  # case-sensitive


def test_get_on_private_method(raw: Raw) -> None:
    r = raw.http.get(raw.base + "/0/private/Balance")
    assert (r.status_code, r.json()) == (200, {"error": ["EGeneral:Invalid arguments"]})


def test_malformed_bodies(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    before = _snapshot(kraken_venue, funded)
    cases = [
        (b"nonce=1&pair", "application/x-www-form-urlencoded"),
        (b"nonce=1&close[ordertype=limit", "application/x-www-form-urlencoded"),
        (b"nonce=1&\xff\xfe=1", "application/x-www-form-urlencoded"),
        (b"nonce=1&orders[0]=a&orders[5]=b", "application/x-www-form-urlencoded"),
        (b"nonce=1&a[b][c][d][e]=1", "application/x-www-form-urlencoded"),
        (b"{bad json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"nonce": 1, "close[price]": "1", "close": 5}', "application/json"),
    ]
    for body, ctype in cases:
        status, data = _raw_body(raw, "AddOrder", body, ctype)
        assert status == 200 and data["error"][0].startswith("EGeneral:Invalid arguments"), (body[:40], data)
    assert (
        raw.error("AddOrder", body=b"nonce=%d&pair=XBTUSD&pair=ETHUSD" % raw.nonce())
        == "EGeneral:Invalid arguments:pair"
    )
    assert _snapshot(kraken_venue, funded) == before


def test_unknown_params_and_wrong_types(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    before = _snapshot(kraken_venue, funded)
    expect = {
        "EGeneral:Invalid arguments:foo": [{**ORDER, "foo": "bar"}],
        "EGeneral:Invalid arguments:volume": [
            {**ORDER, "volume": "abc"},
            {**ORDER, "volume": "NaN"},
            {**ORDER, "volume": "1e999999"},
        ],
        "EGeneral:Invalid arguments:price": [{**ORDER, "price": "ninety"}, {**ORDER, "price": "+-5"}],
        "EGeneral:Invalid arguments:validate": [{**ORDER, "validate": "maybe"}],
        "EGeneral:Invalid arguments:userref": [{**ORDER, "userref": "1.5"}, {**ORDER, "userref": str(2**31)}],
        "EGeneral:Invalid arguments:ordertype": [{**ORDER, "ordertype": "limitt"}],
        "EGeneral:Invalid arguments:type": [{**ORDER, "type": "hold"}],
        "EGeneral:Invalid arguments:timeinforce": [{**ORDER, "timeinforce": "GTX"}],
        "EGeneral:Invalid arguments:starttm": [{**ORDER, "starttm": "soon"}],
        "EGeneral:Invalid arguments:deadline": [{**ORDER, "deadline": "tomorrow"}],
        "EGeneral:Invalid arguments:close": [{**ORDER, "close[when]": "now"}],
        "EGeneral:Invalid arguments:trigger": [{**ORDER, "trigger": "mark"}],
        "EGeneral:Invalid arguments:stptype": [{**ORDER, "stptype": "cancel_newest"}],
    }
    for text, bodies in expect.items():
        for body in bodies:
            assert raw.error("AddOrder", body) == text, body
    # JSON bodies with values of the wrong JSON type
    for body, field in (
        ({**ORDER, "volume": [1]}, "volume"),
        ({**ORDER, "volume": True}, "volume"),
        ({**ORDER, "price": {"a": 1}}, "price"),
    ):
        assert raw.error("AddOrder", body, as_json=True) == f"EGeneral:Invalid arguments:{field}"
    assert raw.error("CancelAllOrdersAfter", {"timeout": "soon"}) == "EGeneral:Invalid arguments:timeout"
    assert raw.error("CancelAllOrdersAfter", {"timeout": "86400"}) == "EGeneral:Invalid arguments:timeout"
    assert raw.error("ClosedOrders", {"ofs": "-1"}) == "EGeneral:Invalid arguments:ofs"
    assert raw.error("ClosedOrders", {"closetime": "never"}) == "EGeneral:Invalid arguments:closetime"
    assert raw.error("QueryOrders", {}) == "EGeneral:Invalid arguments:txid"
    assert (
        raw.error("QueryOrders", {"txid": ",".join(["OAAAAA-BBBBB-CCCCCC"] * 51)}) == "EGeneral:Invalid arguments:txid"
    )
    assert raw.error("Balance", {"asset": "XBT"}) == "EGeneral:Invalid arguments:asset"
    assert (
        raw.error("AddOrderBatch", {"pair": "XBTUSD", "orders": [ORDER]}, as_json=True)
        == "EGeneral:Invalid arguments:orders"
    )
    assert raw.error("CancelOrder", {}) == "EGeneral:Invalid arguments:txid"
    assert raw.error("CancelOrderBatch", {"orders": [{"id": 1}]}, as_json=True) == "EGeneral:Invalid arguments:orders"
    assert raw.public("Depth", pair="XBTUSD", count="many") == {"error": ["EGeneral:Invalid arguments"]}
    assert raw.public("Ticker", pair="XBTUSD", bogus="1") == {"error": ["EGeneral:Invalid arguments"]}
    assert _snapshot(kraken_venue, funded) == before


def test_oversized_bodies(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    before = _snapshot(kraken_venue, funded)
    big = b"nonce=1&pad=" + b"x" * (70 * 1024)
    status, data = _raw_body(raw, "Balance", big)
    assert (status, data) == (200, {"error": ["EGeneral:Invalid arguments"]})

    def chunks() -> Any:  # no Content-Length: the cap applies while streaming
        for _ in range(100):
            yield b"x" * 1024

    headers = {"API-Key": raw.key, "API-Sign": "AAAA", "Content-Type": "application/x-www-form-urlencoded"}
    r = raw.http.post(raw.base + "/0/private/Balance", content=chunks(), headers=headers)
    assert (r.status_code, r.json()) == (200, {"error": ["EGeneral:Invalid arguments"]})
    r = raw.http.post(raw.base + "/0/public/Ticker", content=b"pair=" + b"X" * (70 * 1024))
    assert (r.status_code, r.json()) == (200, {"error": ["EGeneral:Invalid arguments"]})
    assert _snapshot(kraken_venue, funded) == before


def test_injected_faults_and_latency(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    before = _snapshot(kraken_venue, funded)
    kraken_venue.admin.faults(unavailable_share=1.0)
    assert raw.error("AddOrder", ORDER) == "EService:Unavailable"
    assert raw.public("Time") == {"error": ["EService:Unavailable"]}
    kraken_venue.admin.faults(unavailable_share=0.0, busy_share=1.0)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ccxt_client(kraken_venue, funded).fetch_balance()
    assert _snapshot(kraken_venue, funded) == before
    kraken_venue.admin.faults(busy_share=0.0, latency_ms={"rest": [80, 80]})
    t = time.perf_counter()
    raw.ok("Balance")
    assert time.perf_counter() - t >= 0.08
    kraken_venue.admin.faults(latency_ms={"rest": None})


def test_status_gates(kraken_venue: Any, raw: Raw) -> None:
    oid = raw.ok("AddOrder", ORDER)["txid"][0]
    kraken_venue.admin.faults(status="cancel_only")
    assert raw.error("AddOrder", ORDER) == "EService:Market in cancel_only mode"
    kraken_venue.admin.faults(status="post_only")
    assert raw.error("AddOrder", ORDER) == "EService:Market in post_only mode"
    assert "txid" in raw.ok("AddOrder", {**ORDER, "oflags": "post"})
    kraken_venue.admin.faults(status="maintenance")
    assert raw.error("AddOrder", ORDER) == "EService:Unavailable"
    kraken_venue.admin.faults(status="cancel_only")
    assert raw.ok("CancelOrder", {"txid": oid}) == {"count": 1}
    assert raw.error("AddOrder", {**ORDER, "pair": "ACAEUR", "price": "0.0004", "volume": "20000"}) == (
        "EService:Market in cancel_only mode"
    )


def test_rate_limit_hook(kraken_venue: Any, funded: dict[str, Any], raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    def limiter(account_id: str, endpoint: str) -> None:
        seen.append((account_id, endpoint))
        if endpoint == "Ledgers":
            raise EngineError(Reject.RATE_LIMIT)

    monkeypatch.setattr(kraken_venue.runtime.venue.limits, "charge_spot_call", limiter)
    raw.ok("Balance")
    assert raw.error("Ledgers") == "EOrder:Rate limit exceeded"
    raw.public("Time")  # public calls are not counted by this hook
    assert seen == [(funded["account_id"], "Balance"), (funded["account_id"], "Ledgers")]


def test_engine_errors_leave_no_state(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    view = kraken_venue.admin.account(funded["account_id"])
    assert raw.error("AddOrder", {**ORDER, "volume": "100"}) == "EOrder:Insufficient funds"
    assert raw.error("AddOrder", {**ORDER, "price": "90000.05"}) == (
        "EOrder:Invalid price:XBTUSD price can only be specified up to 1 decimals."
    )
    assert raw.error("AddOrder", {**ORDER, "volume": "0.00001"}) == "EGeneral:Invalid arguments:volume minimum not met"
    assert raw.error("AddOrder", {**ORDER, "pair": "NOPE"}) == "EQuery:Unknown asset pair"
    assert raw.error("CancelOrder", {"txid": "OAAAAA-BBBBB-CCCCCC"}) == "EOrder:Unknown order"
    assert kraken_venue.admin.account(funded["account_id"]) == view
