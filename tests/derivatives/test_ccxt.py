"""ccxt `krakenfutures` pointed at the simulator through its sandbox URLs."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from simulator.pytest_plugin import KrakenVenue


def client(v: KrakenVenue, acct: dict[str, Any]) -> Any:
    ex = ccxt.krakenfutures(
        {
            "apiKey": acct["futures_api_key"],
            "secret": acct["futures_api_secret"],
            "timeout": 10000,
            "enableRateLimit": False,
        }
    )
    base = v.futures_rest
    ex.urls["test"] = {
        "public": base + "/derivatives/api/",
        "private": base + "/derivatives/api/",
        "charts": base + "/api/charts/",
        "history": base + "/api/history/",
        "www": base,
    }
    ex.set_sandbox_mode(True)
    return ex


@pytest.fixture
def ex(kraken_venue: KrakenVenue) -> Any:
    acct = kraken_venue.admin.create_account({}, futures_balances={"USD": "100000", "XBT": "1"})
    return client(kraken_venue, acct)


def test_markets_ticker_and_book(ex: Any) -> None:
    markets = ex.load_markets()
    pf = markets["BTC/USD:USD"]
    assert pf["id"] == "PF_XBTUSD" and pf["linear"] and pf["swap"] and pf["precision"]["amount"] == 0.0001
    pi = markets["BTC/USD:BTC"]
    assert pi["id"] == "PI_XBTUSD" and pi["inverse"] and pi["contractSize"] == 1.0
    fi = markets["BTC/USD:BTC-271231"]
    assert fi["future"] and fi["expiry"] == 1830268800000
    t = ex.fetch_ticker("BTC/USD:USD")
    assert t["markPrice"] == 91415.0 and t["bid"] == 91405.0 and t["ask"] == 91425.0
    book = ex.fetch_order_book("BTC/USD:USD")
    assert book["bids"][0] == [91405.0, 0.1] and book["asks"][0] == [91425.0, 0.1] and len(book["bids"]) == 10
    rates = ex.fetch_funding_rates(["BTC/USD:USD"])
    assert rates["BTC/USD:USD"]["fundingRate"] == 0.0


def test_order_lifecycle(ex: Any) -> None:
    ex.load_markets()
    o = ex.create_order("BTC/USD:USD", "limit", "buy", 0.01, 91000, {"clientOrderId": "mine-1"})
    assert o["status"] == "open" and o["amount"] == 0.01 and o["clientOrderId"] == "mine-1"
    e = ex.edit_order(o["id"], "BTC/USD:USD", "limit", "buy", 0.02, 91005)
    assert e["status"] == "open" and e["amount"] == 0.02
    opened = ex.fetch_open_orders()
    assert [x["id"] for x in opened] == [o["id"]] and opened[0]["remaining"] == 0.02
    assert ex.fetch_order(o["id"])["status"] == "open"
    assert ex.cancel_order(o["id"])["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(o["id"])
    m = ex.create_order("BTC/USD:USD", "market", "buy", 0.05)
    assert m["status"] == "closed" and m["filled"] == 0.05 and m["average"] == 91425.0
    pos = ex.fetch_positions()
    assert (
        len(pos) == 1 and pos[0]["side"] == "long" and pos[0]["contracts"] == 0.05 and pos[0]["entryPrice"] == 91425.0
    )
    bal = ex.fetch_balance()
    fee = 0.05 * 91425 * 0.0005
    assert bal["USD"]["total"] == pytest.approx(100000 - fee)
    trades = ex.fetch_my_trades("BTC/USD:USD")
    assert len(trades) == 1 and trades[0]["takerOrMaker"] == "taker" and trades[0]["amount"] == 0.05
    public = ex.fetch_trades("BTC/USD:USD")
    assert public[-1]["price"] == 91425.0 and public[-1]["side"] == "buy"
    candles = ex.fetch_ohlcv("BTC/USD:USD", "1h", limit=5)
    assert candles and candles[-1][4] == 91425.0
    ledger = ex.fetch_ledger()
    assert {x["type"] for x in ledger} >= {"transfer", "trade"}
    # close with a reduce-only sell
    r = ex.create_order("BTC/USD:USD", "market", "sell", 0.05, None, {"reduceOnly": True})
    assert r["status"] == "closed"
    assert ex.fetch_positions() == []


def test_batch_stops_leverage_and_errors(ex: Any) -> None:
    ex.load_markets()
    orders = ex.create_orders(
        [
            {"symbol": "BTC/USD:USD", "type": "limit", "side": "buy", "amount": 0.01, "price": 90000},
            {"symbol": "ETH/USD:USD", "type": "limit", "side": "sell", "amount": 0.5, "price": 3500},
        ]
    )
    assert [o["status"] for o in orders] == ["open", "open"]
    stop = ex.create_order(
        "BTC/USD:USD", "market", "sell", 0.01, None, {"triggerPrice": 85000, "triggerSignal": "mark"}
    )
    assert stop["status"] == "open" and stop["triggerPrice"] == 85000.0
    assert len(ex.fetch_open_orders()) == 3
    cancelled = ex.cancel_orders([orders[0]["id"], orders[1]["id"]])
    assert [c["status"] for c in cancelled] == ["canceled", "canceled"]
    ex.cancel_all_orders()
    assert ex.fetch_open_orders() == []
    ex.set_leverage(10, "BTC/USD:USD")
    assert ex.fetch_leverage("BTC/USD:USD")["longLeverage"] == 10
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USD:USD", "limit", "buy", 100, 90000)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        ex.create_order("BTC/USD:USD", "limit", "buy", 0.01, 95000, {"postOnly": True})
    with pytest.raises(ccxt.InvalidOrder):
        ex.create_order("BTC/USD:USD", "limit", "buy", 0.01, 90000, {"limitPrice": "90000.5"})  # off the tick
