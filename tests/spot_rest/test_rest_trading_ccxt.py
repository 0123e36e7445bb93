"""Order entry and account queries through ccxt's kraken class, URL-only."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from .helpers import ccxt_client


@pytest.fixture
def ex(kraken_venue: Any, funded: dict[str, Any]) -> ccxt.kraken:
    client = ccxt_client(kraken_venue, funded)
    client.load_markets()
    return client


def test_limit_order_lifecycle(ex: ccxt.kraken) -> None:
    o = ex.create_order("BTC/USD", "limit", "buy", 0.01, 90000)
    assert o["id"].startswith("O") and len(o["id"]) == 19
    assert (o["side"], o["amount"], o["price"], o["type"]) == ("buy", 0.01, 90000.0, "limit")
    [open_] = ex.fetch_open_orders("BTC/USD")
    assert open_["id"] == o["id"] and open_["status"] == "open" and open_["filled"] == 0.0
    assert open_["info"]["descr"]["order"] == "buy 0.01000000 XBTUSD @ limit 90000.0"
    assert open_["info"]["oflags"] == "fciq" and open_["fee"]["currency"] == "USD"
    bal = ex.fetch_balance()
    assert bal["USD"]["used"] == pytest.approx(900 * 1.004)  # price * volume + taker-fee reserve
    ex.edit_order(o["id"], "BTC/USD", "limit", "buy", 0.02, 90001)  # AmendOrder: same txid
    amended = ex.fetch_order(o["id"])
    assert (amended["amount"], amended["price"]) == (0.02, 90001.0)
    assert amended["info"]["misc"] == "amended"
    ex.cancel_order(o["id"], "BTC/USD")
    [closed] = ex.fetch_closed_orders("BTC/USD")
    assert closed["status"] == "canceled" and closed["info"]["reason"] == "User requested"
    assert ex.fetch_balance()["USD"]["used"] == 0.0


def test_market_order_trades_and_balance(ex: ccxt.kraken) -> None:
    o = ex.create_order("BTC/USD", "market", "buy", 0.15)
    done = ex.fetch_order(o["id"])
    assert done["status"] == "closed" and done["filled"] == 0.15
    assert done["info"]["cost"] == "13712.45000" and done["info"]["price"] == "91416.3"
    trades = ex.fetch_my_trades("BTC/USD")
    # the taker's two fills of one execution are consolidated, as Kraken does by default
    assert len(trades) == 1
    t = trades[0]
    assert t["order"] == o["id"] and t["amount"] == 0.15 and t["takerOrMaker"] == "taker"
    assert t["fee"] == {"currency": "USD", "cost": 54.8498}
    bal = ex.fetch_balance()
    assert bal["BTC"]["total"] == 2.15
    assert bal["USD"]["total"] == round(100000 - 13712.45 - 54.8498, 4)


def test_typed_exceptions(ex: ccxt.kraken) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USD", "limit", "buy", 10, 90000)
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order("OAAAAA-BBBBB-CCCCCC", "BTC/USD")
    with pytest.raises(ccxt.InvalidOrder):
        ex.create_order("BTC/USD", "limit", "buy", 0.00001, 90000)  # volume minimum not met
    with pytest.raises(ccxt.InvalidOrder):
        ex.fetch_order("OAAAAA-BBBBB-CCCCCC")  # EOrder:Invalid order
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        ex.create_order("BTC/USD", "limit", "buy", 0.01, 90000, {"pair": "NOPE"})


def test_client_order_id_and_cancel_by_it(ex: ccxt.kraken) -> None:
    o = ex.create_order("BTC/USD", "limit", "sell", 0.01, 95000, {"clientOrderId": "my-order-1"})
    [open_] = ex.fetch_open_orders("BTC/USD")
    assert open_["clientOrderId"] == "my-order-1" and open_["id"] == o["id"]
    ex.cancel_order(None, "BTC/USD", {"clientOrderId": "my-order-1"})
    assert ex.fetch_open_orders("BTC/USD") == []


def test_stop_and_trailing_orders(ex: ccxt.kraken) -> None:
    stop = ex.create_order("BTC/USD", "market", "sell", 0.01, None, {"stopLossPrice": 80000})
    info = ex.fetch_order(stop["id"])["info"]
    assert info["descr"]["ordertype"] == "stop-loss" and info["descr"]["price"] == "80000.0"
    assert info["descr"]["order"] == "sell 0.01000000 XBTUSD @ stop loss 80000.0"
    assert info["stopprice"] == "80000.0" and info["trigger"] == "last"
    # a percent trailing offset makes ccxt send a JSON body
    trail = ex.create_order("BTC/USD", "market", "sell", 0.01, None, {"trailingPercent": "5"})
    tinfo = ex.fetch_order(trail["id"])["info"]
    assert tinfo["descr"]["order"] == "sell 0.01000000 XBTUSD @ trailing stop +5.0000%"
    assert tinfo["descr"]["price"] == "+5.0000%"


def test_batches(ex: ccxt.kraken) -> None:
    orders = ex.create_orders(
        [
            {"symbol": "BTC/USD", "type": "limit", "side": "buy", "amount": 0.01, "price": 85000},
            {"symbol": "BTC/USD", "type": "limit", "side": "buy", "amount": 0.02, "price": 86000},
        ]
    )
    ids = [o["id"] for o in orders]
    assert len(ids) == 2 and all(ids)
    assert sorted(o["id"] for o in ex.fetch_open_orders("BTC/USD")) == sorted(ids)
    ex.cancel_orders(ids, "BTC/USD")  # CancelOrderBatch, JSON
    assert ex.fetch_open_orders("BTC/USD") == []
    ex.create_order("BTC/USD", "limit", "buy", 0.01, 85000)
    ex.create_order("ETH/USD", "limit", "buy", 0.1, 3000)
    (cancelled,) = ex.cancel_all_orders()  # ccxt wraps CancelAll's reply in one order-shaped dict
    assert cancelled["info"]["result"]["count"] == 2
    assert ex.fetch_open_orders() == []


def test_closed_orders_since_and_ledger(ex: ccxt.kraken) -> None:
    ex.create_order("BTC/USD", "market", "buy", 0.01)
    since = ex.milliseconds() - 60_000
    closed = ex.fetch_closed_orders("BTC/USD", since=since)
    assert len(closed) == 1
    assert ex.fetch_closed_orders("BTC/USD", since=ex.milliseconds() + 60_000) == []
    ledger = ex.fetch_ledger("BTC")
    assert [e["amount"] for e in ledger if e["type"] == "trade"] == [0.01]
