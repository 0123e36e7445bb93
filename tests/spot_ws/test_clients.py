"""Real clients at the wire: python-kraken-sdk (public, private, its order-book
checksum) and ccxt.pro kraken."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.kit.inbox import Inbox

from .churn import churn, churn_accounts
from .helpers import run


def _base(url: str) -> str:
    return url[: -len("/v2")]


def test_sdk_public_ticker_book_trade(kraken_venue):
    from kraken.spot import SpotWSClient

    acct = churn_accounts(kraken_venue, 1)[0]
    got: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        got.append(msg)

    async def go():
        client = SpotWSClient(callback=on_message, ws_url=_base(kraken_venue.spot_ws), rest_url=kraken_venue.spot_rest)
        await client.start()
        try:
            await client.subscribe(params={"channel": "ticker", "symbol": ["BTC/USD"]})
            await client.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 25})
            await client.subscribe(params={"channel": "trade", "symbol": ["BTC/USD"]})
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(client.active_public_subscriptions) < 3:
                await asyncio.sleep(0.05)
            subs = client.active_public_subscriptions
            assert {"channel": "book", "depth": 25, "snapshot": True, "symbol": ["BTC/USD"]} in subs
            churn(kraken_venue, [acct], 200, seed=3)
            await asyncio.sleep(0.5)
        finally:
            await client.close()

    run(go())
    channels = {m.get("channel") for m in got}
    assert {"status", "ticker", "book", "trade"} <= channels
    assert any(m.get("method") == "pong" for m in got)
    trades = [t for m in got if m.get("channel") == "trade" for t in m["data"]]
    ids = [t["trade_id"] for t in trades]
    assert ids and ids == list(range(ids[0], ids[0] + len(ids)))


def test_sdk_orderbook_checksum_agrees_over_thousands_of_changes(kraken_venue):
    from kraken.spot import SpotOrderBookClient

    accts = churn_accounts(kraken_venue)
    state = {"updates": 0, "invalid": 0}

    class Book(SpotOrderBookClient):
        WS_URL = _base(kraken_venue.spot_ws)

        async def on_book_update(self, pair: str, message: dict) -> None:
            if "error" in message:
                state["invalid"] += 1
                return
            state["updates"] += 1
            book = self.get(pair)
            if book is None or not book["valid"]:
                state["invalid"] += 1

    class Market:  # the pair's decimals, as REST AssetPairs would give them
        def get_asset_pairs(self, pair: str) -> dict[str, Any]:
            p = kraken_venue.runtime.venue.instruments.pair(pair)
            return {pair: {"pair_decimals": p.pair_decimals, "lot_decimals": p.lot_decimals}}

    async def go():
        book = Book(depth=10)
        book._SpotOrderBookClient__market = Market()  # type: ignore[attr-defined]
        await book.start()
        try:
            await book.add_book(pairs=["BTC/USD"])
            deadline = time.monotonic() + 5
            while state["updates"] == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            for rnd in range(12):
                churn(kraken_venue, accts, 500, seed=100 + rnd)
                await asyncio.sleep(0.15)
            before = -1
            deadline = time.monotonic() + 10
            while before != state["updates"] and time.monotonic() < deadline:
                before = state["updates"]
                await asyncio.sleep(0.3)
        finally:
            await book.close()

    run(go())
    assert state["invalid"] == 0
    assert state["updates"] > 1000


def _has_rest(venue) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(venue.spot_rest + "/0/public/Time", timeout=5)
        return True
    except (urllib.error.URLError, OSError):
        return False


def test_sdk_private_trading_and_executions(kraken_venue):
    from kraken.spot import SpotWSClient

    if not _has_rest(kraken_venue):
        pytest.skip("REST gateway not present")
    acct = kraken_venue.admin.create_account({"USD": "1000000", "XBT": "10"})
    inbox = Inbox()

    async def go():
        client = SpotWSClient(
            key=acct["api_key"],
            secret=acct["api_secret"],
            callback=inbox.on_message,
            no_public=True,
            rest_url=kraken_venue.spot_rest,
            auth_ws_url=_base(kraken_venue.spot_ws_auth),
        )
        await client.start()
        try:
            await client.subscribe(params={"channel": "executions", "snap_trades": True})
            await client.subscribe(params={"channel": "balances"})
            await inbox.wait_for(lambda m: m.get("channel") == "balances" and m.get("type") == "snapshot")
            await client.send_message(
                {
                    "method": "add_order",
                    "params": {
                        "order_type": "limit",
                        "side": "buy",
                        "order_qty": 0.01,
                        "limit_price": 50000.0,
                        "symbol": "BTC/USD",
                        "order_userref": 7,
                    },
                    "req_id": 77,
                }
            )
            ack = await inbox.wait_for(lambda m: m.get("method") == "add_order")
            assert ack["success"] is True and ack["result"]["order_userref"] == 7
            oid = ack["result"]["order_id"]
            await inbox.wait_for(
                lambda m: m.get("channel") == "executions" and m["data"] and m["data"][0].get("exec_type") == "new"
            )
            await client.send_message({"method": "cancel_order", "params": {"order_id": [oid]}})
            await inbox.wait_for(lambda m: m.get("method") == "cancel_order" and m.get("success"))
            ev = await inbox.wait_for(
                lambda m: m.get("channel") == "executions" and m["data"] and m["data"][0].get("exec_type") == "canceled"
            )
            assert ev["data"][0]["reason"] == "User requested"
            assert {
                "channel": "executions",
                "snap_trades": True,
                "snap_orders": True,
            } in client.active_private_subscriptions
        finally:
            await client.close()

    run(go())


def _ccxt(venue, acct=None):
    import ccxt.pro

    ex = ccxt.pro.kraken({"apiKey": acct["api_key"], "secret": acct["api_secret"]} if acct else {})
    ex.urls["api"]["public"] = venue.spot_rest
    ex.urls["api"]["private"] = venue.spot_rest
    ex.urls["api"]["ws"]["publicV2"] = venue.spot_ws
    ex.urls["api"]["ws"]["privateV2"] = venue.spot_ws_auth
    return ex


def test_ccxt_pro_public(kraken_venue):
    if not _has_rest(kraken_venue):
        pytest.skip("REST gateway not present")
    acct = churn_accounts(kraken_venue, 1)[0]

    async def go():
        ex = _ccxt(kraken_venue)
        try:
            ob = await ex.watch_order_book("BTC/USD")
            assert len(ob["bids"]) == 10 and ob["bids"][0][0] < ob["asks"][0][0]
            ticker_task = asyncio.ensure_future(ex.watch_ticker("BTC/USD"))
            trades_task = asyncio.ensure_future(ex.watch_trades("BTC/USD"))
            t = await asyncio.wait_for(ticker_task, 5)
            assert t["symbol"] == "BTC/USD" and t["bid"] > 0
            hub = kraken_venue.runtime.services.spot_ws
            deadline = time.monotonic() + 10
            while "XXBTZUSD" not in hub.trades and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            churn(kraken_venue, [acct], 200, seed=9)
            trades = await asyncio.wait_for(trades_task, 5)
            assert trades and trades[0]["symbol"] == "BTC/USD" and trades[0]["price"] > 0
            book = kraken_venue.runtime.venue.spot.books["XXBTZUSD"]
            await asyncio.sleep(0.5)
            ob = ex.orderbooks["BTC/USD"]
            assert ob["bids"][0][0] == float(Decimal(book.best_bid()).scaleb(-1))
        finally:
            await ex.close()

    run(go())


def test_ccxt_pro_private(kraken_venue):
    if not _has_rest(kraken_venue):
        pytest.skip("REST gateway not present")
    acct = kraken_venue.admin.create_account({"USD": "1000000", "XBT": "10"})

    async def go():
        ex = _ccxt(kraken_venue, acct)
        try:
            bal = await ex.watch_balance()
            assert bal["USD"]["total"] == 1000000
            orders_task = asyncio.ensure_future(ex.watch_orders())
            hub = kraken_venue.runtime.services.spot_ws
            deadline = time.monotonic() + 10
            while acct["account_id"] not in hub.execs and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            order = await ex.create_order_ws("BTC/USD", "limit", "buy", 0.01, 50000)
            assert order["id"]
            orders = await asyncio.wait_for(orders_task, 5)
            assert any(o["id"] == order["id"] for o in orders)
            res = await ex.cancel_order_ws(order["id"])
            assert res["success"] is True
            await asyncio.sleep(0.3)
            mine = [o for o in ex.orders if o["id"] == order["id"]]
            assert mine[-1]["status"] == "canceled"
        finally:
            await ex.close()

    run(go())
