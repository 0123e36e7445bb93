"""Batch add is one core command: REST `AddOrderBatch` and WS v2 `batch_add` both
journal one `add_order_batch` entry, refuse the whole batch on a parameter error
(nothing placed), and put a per-order refusal (funds) in that order's slot."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator.pytest_plugin import KrakenVenue, start_venue
from tests.prove.kit import Ws, fund, mint_token, next_nonce, rest_sign, snapshot

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def venue() -> Iterator[KrakenVenue]:
    tv, v = start_venue(seed=5)
    try:
        yield v
    finally:
        tv.stop()


def rest_batch(venue: KrakenVenue, creds: dict[str, Any], orders: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    """AddOrderBatch as python-kraken-sdk sends it: a raw JSON body."""
    path = "/0/private/AddOrderBatch"
    n = str(next_nonce())
    body = f'{{"nonce":"{n}","pair":"XBTUSD","orders":[{",".join(orders)}]}}'.encode()
    headers = {"API-Key": creds["api_key"], "API-Sign": rest_sign(path, n, body, creds["api_secret"]),
               "Content-Type": "application/json"}
    r = httpx.post(venue.spot_rest + path, content=body, headers=headers, timeout=10)
    data = r.json()
    if data["error"]:
        return None, data["error"][0]
    return data["result"]["orders"], ""


def ws_batch(venue: KrakenVenue, creds: dict[str, Any], orders: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    ws = Ws(venue.spot_ws_auth)
    try:
        rid = next(_ids)
        token = mint_token(venue, creds)
        text = (f'{{"method":"batch_add","req_id":{rid},"params":{{"symbol":"BTC/USD","token":"{token}",'
                f'"orders":[{",".join(orders)}]}}}}')
        (reply,) = ws.request(text)
        assert reply["method"] == "batch_add" and reply["req_id"] == rid, reply
        if not reply["success"]:
            return None, reply["error"]
        return reply["result"], ""
    finally:
        ws.close()


def rest_order(qty: str, price: str, side: str = "buy", ref: int = 0) -> str:
    return f'{{"ordertype":"limit","type":"{side}","volume":"{qty}","price":"{price}","userref":{ref}}}'


def ws_order(qty: str, price: str, side: str = "buy", ref: int = 0) -> str:
    return f'{{"order_type":"limit","side":"{side}","order_qty":{qty},"limit_price":{price},"order_userref":{ref}}}'


PROTOCOLS = {"rest": (rest_batch, rest_order), "ws": (ws_batch, ws_order)}


def _entries(venue: KrakenVenue, since: int) -> list[dict[str, Any]]:
    return [e for e in venue.admin.journal(since=since, events=False) if e["protocol"] != "timer"]


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_batch_is_one_command_with_per_order_refusals(venue: KrakenVenue, proto: str) -> None:
    send, order = PROTOCOLS[proto]
    creds = fund(venue, {"USD": "100000", "XBT": "1"})
    _, last = snapshot(venue)
    rows, err = send(venue, creds, [order("0.01", "1000", ref=1), order("5", "900000", "sell", ref=2),
                                    order("0.02", "1000", ref=3)])
    assert err == "" and rows is not None and len(rows) == 3, (rows, err)
    entries = _entries(venue, last)
    assert [e["command"] for e in entries] == ["add_order_batch"]  # one journal entry for the whole batch
    assert "error" not in entries[0]
    ok = [r for r in rows if "error" not in r]
    assert len(ok) == 2 and rows[1]["error"] == "EOrder:Insufficient funds"  # in its own slot, in request order
    ids = [r["txid"] if proto == "rest" else r["order_id"] for r in ok]
    assert sorted(ids) == sorted(venue.admin.account(creds["account_id"])["open_orders"])


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_batch_parameter_error_refuses_all(venue: KrakenVenue, proto: str) -> None:
    send, order = PROTOCOLS[proto]
    creds = fund(venue, {"USD": "100000", "XBT": "1"})
    digest, last = snapshot(venue)
    rows, err = send(venue, creds, [order("0.01", "1000", ref=1), order("0.01", "1000.05", ref=2)])
    assert rows is None and err.startswith("EOrder:Invalid price:") and err.endswith("up to 1 decimals."), err
    assert not venue.admin.account(creds["account_id"])["open_orders"]
    assert snapshot(venue)[0] == digest
    assert all(e.get("error") for e in _entries(venue, last))  # at most the refusal itself is recorded


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_batch_bad_number_is_refused_before_journal(venue: KrakenVenue, proto: str) -> None:
    send, order = PROTOCOLS[proto]
    creds = fund(venue, {"USD": "100000", "XBT": "1"})
    before = snapshot(venue)
    rows, err = send(venue, creds, [order("0.01", "1000"), order("1e999999", "1000")])
    assert rows is None and err == ("EGeneral:Invalid arguments:volume" if proto == "rest"
                                    else "EGeneral:Invalid arguments:order_qty")
    assert snapshot(venue) == before
