"""Field names and value types against payloads recorded from the real venue
(/work/shared/data/recorded/nautilus_trader): the simulator's messages carry
the same keys, with numbers where Kraken sends numbers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kraken.futures import Market, Trade, User
from websockets.sync.client import connect

from simulator.pytest_plugin import KrakenVenue

from .test_ws import feed, login, recv_until

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "data" / "recorded" / "nautilus_trader"
if not RECORDED.is_dir():
    RECORDED = Path("/work/shared/data/recorded/nautilus_trader")
pytestmark = pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded payloads not available")


def rec(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def same_shape(mine: dict[str, Any], recorded: dict[str, Any], optional: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    assert set(recorded) - optional <= set(mine), f"missing {set(recorded) - set(mine)}"
    assert set(mine) - set(recorded) <= optional, f"extra {set(mine) - set(recorded)}"
    for k, v in recorded.items():
        if k in mine and v is not None and mine[k] is not None:
            num = (int, float)
            assert isinstance(mine[k], num) == isinstance(v, num), k
            assert isinstance(mine[k], str) == isinstance(v, str), k


def test_rest_shapes(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    acct = v.admin.create_account({}, futures_balances={"USD": "100000", "XBT": "1"})
    key, secret, url = acct["futures_api_key"], acct["futures_api_secret"], v.futures_rest
    trade, user = Trade(key=key, secret=secret, url=url), User(key=key, secret=secret, url=url)
    v.admin.set_index("PI_XBTUSD:mark", "91500")  # a premium: funding fields appear
    trade.create_order(orderType="lmt", size=1000, symbol="PI_XBTUSD", side="buy", limitPrice=91420)  # taker at the ask
    oid = trade.create_order(orderType="lmt", size=100, symbol="PI_XBTUSD", side="buy", limitPrice=91000)["sendStatus"][
        "order_id"
    ]
    tickers = {t["symbol"]: t for t in Market(url=url).get_tickers()["tickers"]}
    same_shape(tickers["PI_XBTUSD"], rec("http_futures_tickers.json")["tickers"][0])
    inst = next(i for i in Market(url=url).get_instruments()["instruments"] if i["symbol"] == "PI_XBTUSD")
    same_shape(inst, rec("http_futures_instruments.json")["instruments"][0], {"category", "tags", "tradfi"})
    opened = user.get_open_orders()["openOrders"]
    same_shape(opened[0], rec("http_futures_open_orders.json")["openOrders"][0])
    pos = user.get_open_positions()["openPositions"]
    same_shape(pos[0], rec("http_futures_open_positions.json")["openPositions"][0])
    fills = trade.get_fills()["fills"]
    same_shape(fills[0], rec("http_futures_fills.json")["fills"][0], {"fee_paid", "fee_currency"})
    st = trade.get_orders_status(orderIds=[oid])["orders"][0]
    recorded = rec("http_futures_orders_status.json")["orders"][1]
    same_shape(st, recorded)
    same_shape(st["order"], recorded["order"])
    book = Market(url=url).get_orderbook(symbol="PI_XBTUSD")
    assert set(book) == set(rec("http_futures_orderbook.json"))
    assert all(isinstance(x, float) for lvl in book["orderBook"]["bids"] for x in lvl)
    wallets = user.get_wallets()["accounts"]
    assert isinstance(wallets["fi_xbtusd"]["balances"]["xbt"], str)  # balances maps are decimal strings
    assert isinstance(wallets["flex"]["availableMargin"], float)


def test_ws_shapes(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    acct = v.admin.create_account({}, futures_balances={"USD": "100000", "XBT": "1"})
    trade = Trade(key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=v.futures_rest)
    v.admin.set_index("PI_XBTUSD:mark", "91500")
    trade.create_order(orderType="lmt", size=1000, symbol="PI_XBTUSD", side="buy", limitPrice=91420)
    with connect(v.futures_ws) as ws:
        ws.recv(timeout=5)
        seen: list[dict[str, Any]] = []
        for name in ("ticker", "book", "trade"):
            ws.send(json.dumps({"event": "subscribe", "feed": name, "product_ids": ["PI_XBTUSD"]}))
        same_shape(recv_until(ws, feed("ticker"), seen=seen), rec("ws_futures_ticker.json"))
        same_shape(recv_until(ws, feed("book_snapshot"), seen=seen), rec("ws_futures_book_snapshot.json"))
        snap = recv_until(ws, feed("trade_snapshot"), seen=seen)
        same_shape(snap, rec("ws_futures_trade_snapshot.json"))
        same_shape(snap["trades"][0], rec("ws_futures_trade_snapshot.json")["trades"][0])
        auth = login(ws, acct)
        for name in ("open_orders", "fills"):
            ws.send(json.dumps({"event": "subscribe", "feed": name, **auth}))
        fsnap = recv_until(ws, feed("fills_snapshot"), seen=seen)
        same_shape(fsnap, rec("ws_futures_fills_snapshot.json"))
        same_shape(fsnap["fills"][0], rec("ws_futures_fills_snapshot.json")["fills"][0])
        recv_until(ws, feed("open_orders_snapshot"), seen=seen)
        trade.create_order(orderType="lmt", size=500, symbol="PI_XBTUSD", side="sell", limitPrice=91410, cliOrdId="c1")
        same_shape(recv_until(ws, feed("trade"), seen=seen), rec("ws_futures_trade.json"))
        same_shape(recv_until(ws, feed("book"), seen=seen), rec("ws_futures_book_delta.json"))
        fill = recv_until(ws, feed("fills"), seen=seen)
        same_shape(fill, rec("ws_futures_fills_delta.json"))
        same_shape(fill["fills"][0], rec("ws_futures_fills_delta.json")["fills"][0])
        o = trade.create_order(orderType="lmt", size=100, symbol="PI_XBTUSD", side="sell", limitPrice=95000)[
            "sendStatus"
        ]
        delta = recv_until(ws, feed("open_orders"), seen=seen)
        same_shape(delta, rec("ws_futures_open_orders_delta.json"))
        same_shape(delta["order"], rec("ws_futures_open_orders_delta.json")["order"])
        trade.cancel_order(order_id=o["order_id"])
        same_shape(recv_until(ws, feed("open_orders"), seen=seen), rec("ws_futures_open_orders_cancel.json"))


def test_numbers_are_exact(kraken_venue: KrakenVenue) -> None:
    """Prices and sizes render from exact decimals: no float artefacts."""
    v = kraken_venue
    v.admin.seed_book("PF_SOLUSD", bids=[["140.07", "12.34"]], asks=[["140.13", "0.07"]], clear=True)
    import urllib.request

    with urllib.request.urlopen(v.futures_rest + "/derivatives/api/v3/orderbook?symbol=PF_SOLUSD", timeout=5) as r:
        text = r.read().decode()
    assert '"bids":[[140.07,12.34]]' in text and '"asks":[[140.13,0.07]]' in text
    body = json.loads(text, parse_float=Decimal)
    assert body["orderBook"]["bids"][0] == [Decimal("140.07"), Decimal("12.34")]
