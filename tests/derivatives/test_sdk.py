"""python-kraken-sdk's Futures clients (REST over HTTP, WS over TLS)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kraken.base_api import FuturesClient
from kraken.exceptions import KrakenAuthenticationError, KrakenInsufficientAvailableFundsError
from kraken.futures import FuturesWSClient, Market, Trade, User

from simulator.pytest_plugin import KrakenVenue
from tests.kit.inbox import Inbox


@pytest.fixture
def acct(kraken_venue: KrakenVenue) -> dict[str, Any]:
    created: dict[str, Any] = kraken_venue.admin.create_account({}, futures_balances={"USD": "100000", "XBT": "2"})
    return created


def test_market_data(kraken_venue: KrakenVenue) -> None:
    market = Market(url=kraken_venue.futures_rest)
    inst = market.get_instruments()
    assert inst["result"] == "success"
    pf = next(i for i in inst["instruments"] if i["symbol"] == "PF_XBTUSD")
    assert pf["type"] == "flexible_futures" and pf["tickSize"] == 1.0 and pf["contractValueTradePrecision"] == 4
    assert pf["marginLevels"][0] == {"numNonContractUnits": 0.0, "initialMargin": 0.01, "maintenanceMargin": 0.005}
    pi = next(i for i in inst["instruments"] if i["symbol"] == "PI_XBTUSD")
    assert pi["underlying"] == "rr_xbtusd" and pi["marginLevels"][0]["contracts"] == 0
    tickers = market.get_tickers()["tickers"]
    assert {t["symbol"] for t in tickers} >= {"PF_XBTUSD", "PI_XBTUSD", "FI_XBTUSD_271231", "in_xbtusd", "rr_xbtusd"}
    book = market.get_orderbook(symbol="PI_XBTUSD")["orderBook"]
    assert book["bids"][0][0] < book["asks"][0][0]
    assert market.get_instruments_status(instrument="PF_XBTUSD")["tradeable"] == "PF_XBTUSD"
    assert market.get_trade_history(symbol="PF_XBTUSD")["history"] == []
    candles = market.get_ohlc(tick_type="mark", symbol="PF_XBTUSD", resolution="1h")
    assert candles["candles"][-1]["close"] == "91415"
    assert market.get_historical_funding_rates(symbol="PF_XBTUSD")["rates"] == []


def test_trade_user_flow(kraken_venue: KrakenVenue, acct: dict[str, Any]) -> None:
    url = kraken_venue.futures_rest
    key, secret = acct["futures_api_key"], acct["futures_api_secret"]
    trade = Trade(key=key, secret=secret, url=url)
    user = User(key=key, secret=secret, url=url)
    placed = trade.create_order(
        orderType="lmt", size=1000, symbol="PI_XBTUSD", side="buy", limitPrice=91000, cliOrdId="sdk-1"
    )
    status = placed["sendStatus"]
    assert status["status"] == "placed" and status["orderEvents"][0]["order"]["quantity"] == 1000.0
    oid = status["order_id"]
    edited = trade.edit_order(orderId=oid, size=2000, limitPrice=91010)
    assert edited["editStatus"]["status"] == "edited"
    assert edited["editStatus"]["orderEvents"][0]["new"]["limitPrice"] == 91010.0
    stp = trade.create_order(
        orderType="take_profit", size=1, symbol="PF_XBTUSD", side="sell", stopPrice=99000, triggerSignal="mark"
    )
    assert stp["sendStatus"]["orderEvents"][0]["orderTrigger"]["triggerSide"] == "trigger_above"
    opened = user.get_open_orders()["openOrders"]
    assert {o["orderType"] for o in opened} == {"lmt", "take_profit"}
    st = trade.get_orders_status(orderIds=[oid])["orders"]
    assert st[0]["status"] == "ENTERED_BOOK" and st[0]["order"]["cliOrdId"] == "sdk-1"
    batch = trade.create_batch_order(
        batchorder_list=[
            {
                "order": "send",
                "order_tag": "a",
                "orderType": "lmt",
                "symbol": "PF_XBTUSD",
                "side": "sell",
                "size": 0.01,
                "limitPrice": 91405,
            },
            {"order": "cancel", "order_id": oid},
        ]
    )["batchStatus"]
    assert batch[0]["status"] == "placed" and batch[0]["order_tag"] == "a"
    assert batch[0]["orderEvents"][0]["type"] == "EXECUTION"
    assert batch[1]["status"] == "cancelled"
    fills = trade.get_fills()["fills"]
    assert fills[0]["symbol"] == "PF_XBTUSD" and fills[0]["side"] == "sell" and fills[0]["fillType"] == "taker"
    pos = user.get_open_positions()["openPositions"]
    assert pos == [
        {
            "side": "short",
            "symbol": "PF_XBTUSD",
            "price": 91405.0,
            "fillTime": fills[0]["fillTime"],
            "size": 0.01,
            "unrealizedFunding": 0.0,
            "pnlCurrency": "USD",
        }
    ]
    wallets = user.get_wallets()["accounts"]
    assert wallets["flex"]["type"] == "multiCollateralMarginAccount"
    assert wallets["fi_xbtusd"]["balances"] == {"xbt": "2"} and wallets["fi_xbtusd"]["type"] == "marginAccount"
    assert wallets["flex"]["currencies"]["USD"]["quantity"] == pytest.approx(100000 - 0.01 * 91405 * 0.0005)
    dms = trade.dead_mans_switch(timeout=60)
    assert dms["status"]["triggerTime"] != "0"
    assert trade.cancel_all_orders()["cancelStatus"]["status"] == "cancelled"
    log = user.get_account_log()
    assert log["logs"][0]["info"] == "futures trade"
    assert user.get_execution_events()["elements"][0]["event"]["Execution"]["execution"]["quantity"] == "0.01"
    kinds = {next(iter(e["event"])) for e in user.get_order_events()["elements"]}
    assert kinds >= {"OrderPlaced", "OrderUpdated", "OrderCancelled"}
    with pytest.raises(KrakenInsufficientAvailableFundsError):
        trade.create_order(orderType="lmt", size=100, symbol="PF_XBTUSD", side="buy", limitPrice=90000)
    with pytest.raises(KrakenAuthenticationError):
        User(key=key, secret=acct["api_secret"], url=url).get_wallets()
    # the base client, signing a GET with query parameters and a Nonce
    raw: Any = FuturesClient(key=key, secret=secret, url=url).request(
        "GET", "/derivatives/api/v3/leveragepreferences", query_params={"symbol": "PF_XBTUSD"}
    )
    assert raw["result"] == "success" and raw["leveragePreferences"] == []


def test_ws_client_over_tls(tls_venue: KrakenVenue, monkeypatch: pytest.MonkeyPatch) -> None:
    """FuturesWSClient only speaks wss://: trust the generated certificate
    (SSL_CERT_FILE for the socket, REQUESTS_CA_BUNDLE for the REST side)."""
    assert tls_venue.tls is not None
    monkeypatch.setenv("SSL_CERT_FILE", tls_venue.tls["ca_cert"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_venue.tls["ca_cert"])
    acct = tls_venue.admin.create_account({}, futures_balances={"USD": "100000"})
    wss = tls_venue.tls["futures_ws"].removeprefix("wss://")
    https = tls_venue.tls["futures_rest"]
    inbox = Inbox()

    async def main() -> None:
        client = FuturesWSClient(
            key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=wss, callback=inbox.on_message
        )
        await client.start()
        try:
            await client.subscribe(feed="book", products=["PF_XBTUSD"])
            await client.subscribe(feed="open_orders")
            await client.subscribe(feed="fills")
            snap = await inbox.wait_for(lambda m: m.get("feed") == "book_snapshot")
            await inbox.wait_for(lambda m: m.get("feed") == "open_orders_snapshot")
            await inbox.wait_for(lambda m: m.get("feed") == "fills_snapshot")
            trade = Trade(key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=https)
            await asyncio.to_thread(
                trade.create_order, orderType="lmt", size=0.01, symbol="PF_XBTUSD", side="buy", limitPrice=91425
            )
            fill = await inbox.wait_for(lambda m: m.get("feed") == "fills" and "event" not in m)
            assert fill["fills"][0]["fill_type"] == "taker" and fill["fills"][0]["qty"] == 0.01
            delta = await inbox.wait_for(lambda m: m.get("feed") == "book" and "event" not in m)
            assert delta["seq"] == snap["seq"] + 1 and delta["side"] == "sell" and delta["price"] == 91425.0
            assert delta["qty"] == pytest.approx(0.09)
        finally:
            # the client's own close() waits out a 10 s receive timeout: end the socket first
            client._conn.keep_alive = False
            await client._conn.socket.close()
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_key_access_levels_through_the_sdk(kraken_venue: KrakenVenue) -> None:
    """Kraken's General key levels as python-kraken-sdk meets them: a read-only
    key reads its wallets but cannot trade; a no-access key reads nothing."""
    url = kraken_venue.futures_rest
    read = kraken_venue.admin.create_account({}, futures_balances={"USD": "1000"}, permissions=["query_funds"])
    none = kraken_venue.admin.create_account({}, futures_balances={"USD": "1000"}, permissions=["websocket"])
    wallets = User(key=read["futures_api_key"], secret=read["futures_api_secret"], url=url).get_wallets()
    assert wallets["result"] == "success" and "flex" in wallets["accounts"]
    with pytest.raises(KrakenAuthenticationError):
        Trade(key=read["futures_api_key"], secret=read["futures_api_secret"], url=url).create_order(
            orderType="lmt", size=0.001, symbol="PF_XBTUSD", side="buy", limitPrice=50000)
    with pytest.raises(KrakenAuthenticationError):
        User(key=none["futures_api_key"], secret=none["futures_api_secret"], url=url).get_wallets()
    assert kraken_venue.admin.account(read["account_id"])["futures"]["open_orders"] == []  # the refusal placed nothing
