"""A fault a real client must survive: python-kraken-sdk's WS client
reconnects and resubscribes after the venue drops its connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulator.pytest_plugin import KrakenVenue

from .helpers import run


def test_sdk_ws_client_reconnects_after_a_dropped_connection(kraken_venue: KrakenVenue) -> None:
    from kraken.spot import SpotWSClient

    got: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        got.append(msg)

    def statuses() -> int:
        return sum(1 for m in got if m.get("channel") == "status")

    async def wait_for(pred: Any, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if pred():
                return True
            await asyncio.sleep(0.05)
        return False

    async def go() -> None:
        base = kraken_venue.spot_ws[: -len("/v2")]
        client = SpotWSClient(callback=on_message, ws_url=base, rest_url=kraken_venue.spot_rest)
        await client.start()
        try:
            await client.subscribe(params={"channel": "ticker", "symbol": ["BTC/USD"]})
            assert await wait_for(lambda: any(m.get("channel") == "ticker" for m in got), 5)
            before = [c["id"] for c in kraken_venue.admin.connections() if c["protocol"] == "ws"]
            assert before
            dropped = kraken_venue.admin.faults(drop_protocol="ws")["dropped"]
            assert set(before) <= set(dropped)
            mark = len(got)
            # a new connection: a second status message, then the ticker snapshot again
            assert await wait_for(lambda: statuses() >= 2, 20), "the SDK did not reconnect"
            assert await wait_for(
                lambda: any(m.get("channel") == "ticker" and m.get("type") == "snapshot" for m in got[mark:]), 20
            ), "the SDK did not resubscribe"
            after = [c["id"] for c in kraken_venue.admin.connections() if c["protocol"] == "ws"]
            assert after and not set(after) & set(before)
        finally:
            await client.close()

    run(go())
