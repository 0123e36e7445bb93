"""Issue 16, Spot WS v2: acks shaped as the live venue sends them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .helpers import run


def test_sdk_book_unsubscribe_ack_has_no_snapshot_field(kraken_venue):
    from kraken.spot import SpotWSClient

    got: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        got.append(msg)

    async def until(pred: Any) -> dict[str, Any]:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            for m in got:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        raise AssertionError(got[-5:])

    async def go() -> dict[str, Any]:
        client = SpotWSClient(
            callback=on_message, ws_url=kraken_venue.spot_ws[: -len("/v2")], rest_url=kraken_venue.spot_rest
        )
        await client.start()
        try:
            await client.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
            await until(lambda m: m.get("method") == "subscribe" and m.get("success"))
            await client.unsubscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
            ack = await until(lambda m: m.get("method") == "unsubscribe")
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
