"""Issue 16, Spot WS v2: acks shaped as the live venue sends them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.kit.inbox import Inbox

from .helpers import run


def test_sdk_book_unsubscribe_ack_has_no_snapshot_field(kraken_venue):
    from kraken.spot import SpotWSClient

    inbox = Inbox()

    async def go() -> dict[str, Any]:
        client = SpotWSClient(
            callback=inbox.on_message, ws_url=kraken_venue.spot_ws[: -len("/v2")], rest_url=kraken_venue.spot_rest
        )
        await client.start()
        try:
            await client.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
            await inbox.wait_for(lambda m: m.get("method") == "subscribe" and m.get("success"))
            await client.unsubscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
            ack = await inbox.wait_for(lambda m: m.get("method") == "unsubscribe")
            end = time.monotonic() + 2
            while client.active_public_subscriptions and time.monotonic() < end:
                await asyncio.sleep(0.02)
            assert client.active_public_subscriptions == []  # the SDK stopped tracking it
            return ack
        finally:
            await client.close()

    ack = run(go())
    assert ack["success"] is True
    assert ack["result"] == {"channel": "book", "depth": 10, "symbol": "BTC/USD"}


def test_sdk_orderbook_client_reads_asset_pairs_by_the_symbol(kraken_venue):
    """SpotOrderBookClient looks up `get_asset_pairs(pair="BTC/USD")["BTC/USD"]`
    for the decimals its checksum needs: the REST reply must be keyed that way."""
    from kraken.spot import Market, SpotOrderBookClient

    from .churn import churn, churn_accounts

    accts = churn_accounts(kraken_venue, 2)
    state = {"updates": 0, "invalid": 0}

    class Book(SpotOrderBookClient):
        WS_URL = kraken_venue.spot_ws[: -len("/v2")]

        async def on_book_update(self, pair: str, message: dict) -> None:
            book = self.get(pair)
            if "error" in message or book is None or not book["valid"]:
                state["invalid"] += 1
            else:
                state["updates"] += 1

    async def go() -> None:
        book = Book(depth=10)
        book._SpotOrderBookClient__market = Market(url=kraken_venue.spot_rest)  # the real client, at the venue
        await book.start()
        try:
            await book.add_book(pairs=["BTC/USD"])
            end = time.monotonic() + 5
            while state["updates"] == 0 and time.monotonic() < end:
                await asyncio.sleep(0.05)
            churn(kraken_venue, accts, 200, seed=7)
            end = time.monotonic() + 5
            while state["updates"] < 20 and time.monotonic() < end:
                await asyncio.sleep(0.1)
        finally:
            await book.close()

    run(go())
    assert state["invalid"] == 0 and state["updates"] >= 20


def test_instrument_lists_xstocks_only_when_asked(kraken_venue):
    from .helpers import open_client

    async def snapshot(**extra: Any) -> dict[str, Any]:
        c = await open_client(kraken_venue.spot_ws)
        try:
            r = await c.call("subscribe", {"channel": "instrument", **extra}, req_id=1)
            assert r["success"] is True
            msg: dict[str, Any] = await c.expect(lambda m: m.get("channel") == "instrument")
            return msg
        finally:
            await c.ws.close()

    plain = run(snapshot())
    symbols = {p["symbol"] for p in plain["data"]["pairs"]}
    assert {"DOT/EUR", "XLM/USD", "BTC/USD"} <= symbols and "AAPLx/USD" not in symbols
    assert len(symbols) >= 50
    full = run(snapshot(include_tokenized_assets=True))
    aapl = next(p for p in full["data"]["pairs"] if p["symbol"] == "AAPLx/USD")
    assert aapl["qty_precision"] == 8 and aapl["price_precision"] == 2 and aapl["base"] == "AAPLx"
    assert "AAPLx" in {a["id"] for a in full["data"]["assets"]}
