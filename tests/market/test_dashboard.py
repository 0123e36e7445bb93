"""The dashboard's server side without a browser: page, assets, snapshot, feed."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from simulator.pytest_plugin import KrakenVenue


def get(kv: KrakenVenue, path: str) -> tuple[str, str]:
    with urllib.request.urlopen(kv.spot_rest + path, timeout=10) as r:
        return r.headers.get("content-type", ""), r.read().decode()


def test_page_and_assets_are_served_from_package_data(kraken_venue: KrakenVenue) -> None:
    ctype, html = get(kraken_venue, "/")
    assert ctype.startswith("text/html") and "/dashboard/static/app.js" in html and 'id="depth"' in html
    assert get(kraken_venue, "/dashboard")[1] == html
    ctype, js = get(kraken_venue, "/dashboard/static/app.js")
    assert ctype.startswith("text/javascript") and "/dashboard/ws" in js
    assert get(kraken_venue, "/dashboard/static/style.css")[0].startswith("text/css")
    with pytest.raises(urllib.error.HTTPError) as exc:
        get(kraken_venue, "/dashboard/static/secret.py")
    assert exc.value.code == 404


def test_snapshot_shows_book_orders_limits_and_journal(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    a.freeze()
    a.request("POST", "/market", {"symbol": "BTC/USD", "makers": 1, "takers": 1, "taker": {"rate": 1}})
    a.advance(3000)
    s = json.loads(get(kraken_venue, "/dashboard/state?symbol=XBTUSD")[1])
    assert s["symbol"] == "BTC/USD" and s["clock"]["mode"] == "frozen"
    assert s["book"]["bids"] and s["book"]["asks"] and s["trades"]
    assert float(s["book"]["bids"][0][0]) < float(s["book"]["asks"][0][0])
    labels = {g["label"] for g in s["orders"]}
    assert "maker-1 BTC/USD" in labels
    assert any(p["symbol"] == "BTC/USD" and p["bots"] for p in s["pairs"])
    assert s["market"]["bots"]["steps"] == 6
    j = s["journal"]
    assert j[0]["seq"] > j[-1]["seq"] and any(e["protocol"] == "bot" and e["trades"] for e in j)
    assert any(r["label"] == "demo" for r in s["ratelimits"])
    other = json.loads(get(kraken_venue, "/dashboard/state?symbol=ETH/USD")[1])
    assert other["symbol"] == "ETH/USD" and other["market"]["bots"] is None


def test_feed_is_throttled_and_follows_the_chosen_symbol(kraken_venue: KrakenVenue) -> None:
    websockets = pytest.importorskip("websockets.asyncio.client")
    a = kraken_venue.admin
    a.freeze()
    url = kraken_venue.spot_ws.rsplit("/", 1)[0] + "/dashboard/ws?symbol=ETH/USD"

    async def go() -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = []
        async with websockets.connect(url, ping_interval=None, max_size=None) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            msgs.append(first)
            await ws.send(json.dumps({"symbol": "BTC/USD"}))
            await asyncio.to_thread(a.request, "POST", "/market", {"symbol": "BTC/USD", "interval_ms": 100})
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.5:
                await asyncio.to_thread(a.advance, 500)  # a busy market: many journal entries a second
                try:
                    msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 0.05)))
                except TimeoutError:
                    pass
        return msgs

    msgs = asyncio.run(asyncio.wait_for(go(), 30))
    assert msgs[0]["type"] == "state" and msgs[0]["symbol"] == "ETH/USD"
    assert msgs[-1]["symbol"] == "BTC/USD" and msgs[-1]["trades"] is not None
    # throttled: at most ~4 a second, however busy the engine is
    assert 2 <= len(msgs) <= 10
    assert msgs[-1]["viewers"] == 1
