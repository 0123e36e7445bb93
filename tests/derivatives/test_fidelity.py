"""Issue 16, derivatives: what the clients' own suites catch (instruments list the
indices, orders/status is a read, argument errors before key errors, private
WS acks without the credentials)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from kraken.base_api import FuturesClient
from kraken.exceptions import KrakenRequiredArgumentMissingError
from kraken.futures import FuturesWSClient, Market, Trade
from websockets.sync.client import connect

from simulator.pytest_plugin import KrakenVenue

from .test_ccxt import client as ccxt_client
from .test_ws import login, recv_until


def test_instruments_list_the_indices_tickers_report(kraken_venue: KrakenVenue) -> None:
    """ccxt's fetchTickers maps every ticker to a market: each index /tickers
    reports must be an instrument too (Kraken lists "markets and indices")."""
    v = kraken_venue
    listed = Market(url=v.futures_rest).get_instruments()["instruments"]
    indices = [i for i in listed if i["symbol"].startswith(("in_", "rr_"))]
    assert {"symbol": "in_xbtusd", "type": "spot index", "tradeable": False} in indices
    assert {"symbol": "rr_xbtusd", "type": "spot index", "tradeable": False} in indices
    assert len({i["symbol"] for i in indices}) == len(indices)
    ex = ccxt_client(v, v.admin.create_account({}, futures_balances={"USD": "1000"}))
    markets = ex.load_markets()
    tickers = ex.fetch_tickers()
    assert set(tickers) <= set(markets)
    assert markets["in_xbtusd"]["index"] is True and markets["in_xbtusd"]["active"] is False
    assert tickers["in_xbtusd"]["last"] == 91415.0
    assert tickers["BTC/USD:USD"]["last"] is None or tickers["BTC/USD:USD"]["symbol"] == "BTC/USD:USD"


def test_orders_status_answers_a_read_only_key(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    full = v.admin.create_account({}, futures_balances={"USD": "100000"})
    read = v.admin.create_account({}, futures_balances={"USD": "1000"}, permissions=["query_funds"])
    trade = Trade(key=full["futures_api_key"], secret=full["futures_api_secret"], url=v.futures_rest)
    oid = trade.create_order(orderType="lmt", size=0.01, symbol="PF_XBTUSD", side="buy", limitPrice=90000)[
        "sendStatus"
    ]["order_id"]
    reader = Trade(key=read["futures_api_key"], secret=read["futures_api_secret"], url=v.futures_rest)
    res = reader.get_orders_status(orderIds=[oid])
    assert res["result"] == "success" and res["orders"] == []  # another account's order: not shown
    mine = trade.get_orders_status(orderIds=[oid])["orders"]
    assert [o["order"]["orderId"] for o in mine] == [oid]


def test_sendorder_missing_arguments_before_an_unknown_key(kraken_venue: KrakenVenue) -> None:
    """python-kraken-sdk's own base-API test: a fake key and no body."""
    url = kraken_venue.futures_rest
    with pytest.raises(KrakenRequiredArgumentMissingError):
        FuturesClient(key="fake", secret="fake", url=url).request(
            method="POST", uri="/derivatives/api/v3/sendorder", auth=True
        )
    raw = FuturesClient(key="fake", secret="fake", url=url, use_custom_exceptions=False)
    res = raw.request(method="POST", uri="/derivatives/api/v3/sendorder", auth=True).json()
    assert res["result"] == "error" and res["error"] == "requiredArgumentMissing"
    # all arguments present: the unknown key is what is wrong
    res = raw.request(
        method="POST",
        uri="/derivatives/api/v3/sendorder",
        post_params={"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "1", "limitPrice": "1"},
        auth=True,
    ).json()
    assert res["error"] == "authenticationError"


def test_private_feed_acks_do_not_echo_credentials(kraken_venue: KrakenVenue) -> None:
    acct = kraken_venue.admin.create_account({}, futures_balances={"USD": "1000"})
    with connect(kraken_venue.futures_ws) as ws:
        recv_until(ws, lambda m: m.get("event") == "info")
        auth = login(ws, acct)
        ws.send(json.dumps({"event": "subscribe", "feed": "open_orders", **auth}))
        assert recv_until(ws, lambda m: "event" in m) == {"event": "subscribed", "feed": "open_orders"}
        ws.send(json.dumps({"event": "unsubscribe", "feed": "open_orders", **auth}))
        assert recv_until(ws, lambda m: "event" in m) == {"event": "unsubscribed", "feed": "open_orders"}


def test_private_feed_acks_through_the_sdk(tls_venue: KrakenVenue, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's live test expects exactly {"event":"subscribed","feed":"open_orders"}."""
    assert tls_venue.tls is not None
    monkeypatch.setenv("SSL_CERT_FILE", tls_venue.tls["ca_cert"])
    acct = tls_venue.admin.create_account({}, futures_balances={"USD": "1000"})
    got: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        got.append(msg)

    async def main() -> None:
        client = FuturesWSClient(
            key=acct["futures_api_key"],
            secret=acct["futures_api_secret"],
            url=tls_venue.tls["futures_ws"].removeprefix("wss://"),
            callback=on_message,
        )
        await client.start()
        try:
            await client.subscribe(feed="open_orders")
            end = time.monotonic() + 5
            while time.monotonic() < end and not any(m.get("event") == "subscribed" for m in got):
                await asyncio.sleep(0.02)
        finally:
            client._conn.keep_alive = False
            await client._conn.socket.close()
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert {"event": "subscribed", "feed": "open_orders"} in got
    assert not any("api_key" in m or "signed_challenge" in m for m in got)
