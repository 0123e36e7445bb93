"""Our replies against recorded real payloads: same fields, same JSON types,
same number formatting (decimals per field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import Raw

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "data" / "recorded" / "nautilus_trader"
if not RECORDED.is_dir():
    RECORDED = Path("/work/shared/data/recorded/nautilus_trader")
pytestmark = pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded payloads not available")


def rec(name: str) -> Any:
    return json.loads((RECORDED / f"{name}.json").read_text())


def dp(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def same_types(ours: Any, theirs: Any, path: str = "", nullable: frozenset[str] = frozenset()) -> None:
    """Every field they have, we have, with the same JSON type (recursively)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        for k, v in theirs.items():
            assert k in ours, f"{path}.{k} missing"
            if k in nullable and ours[k] is None:
                continue
            same_types(ours[k], v, f"{path}.{k}", nullable)
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        if theirs and ours:
            if all(not isinstance(x, (list, dict)) for x in theirs) and len(theirs) == len(ours):
                for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                    same_types(a, b, f"{path}[{i}]", nullable)
            else:
                same_types(ours[0], theirs[0], f"{path}[0]", nullable)
    else:
        assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} != {type(theirs).__name__}"


@pytest.fixture
def traded(kraken_venue: Any, raw: Raw) -> Raw:
    raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.15"})
    raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "90000", "volume": "0.5"})
    return raw


def test_time_status_and_pairs(raw: Raw) -> None:
    same_types(raw.public("Time"), rec("http_server_time"))
    same_types(raw.public("SystemStatus"), rec("http_system_status"))
    ours = raw.public("AssetPairs", pair="XBTUSD")["result"]["XXBTZUSD"]
    theirs = rec("http_asset_pairs")["result"]["XBTUSDT"]
    same_types(ours, theirs)
    assert (
        list(ours)[: len(theirs) - 3]
        == [k for k in theirs if k not in ("long_position_limit", "short_position_limit")][: len(theirs) - 3]
    )


def test_market_data_formats(traded: Raw) -> None:
    t = traded.public("Ticker", pair="XBTUSD")["result"]["XXBTZUSD"]
    theirs = rec("http_ticker")["result"]["XBTUSDT"]
    same_types(t, theirs)
    for k in "abclhp":
        assert [dp(x) for x in t[k] if isinstance(x, str)] == [dp(x) for x in theirs[k] if isinstance(x, str)], k
    assert dp(t["o"]) == dp(theirs["o"]) and t["v"][0].count(".") == 1 and dp(t["v"][0]) == dp(theirs["v"][0])

    book = traded.public("Depth", pair="XBTUSD")["result"]["XXBTZUSD"]
    tb = rec("http_order_book")["result"]["XBTUSDT"]
    same_types(book, tb)
    assert dp(book["asks"][0][0]) == dp(tb["asks"][0][0]) and dp(book["bids"][0][1]) >= 3

    trades = traded.public("Trades", pair="XBTUSD")["result"]
    tt = rec("http_trades")["result"]
    same_types(trades, {"XXBTZUSD": tt["XBTUSDT"], "last": tt["last"]})
    assert [dp(x) for x in trades["XXBTZUSD"][0][:2]] == [dp(x) for x in tt["XBTUSDT"][0][:2]]
    assert trades["last"].isdigit() and len(trades["last"]) == len(tt["last"])

    ohlc = traded.public("OHLC", pair="XBTUSD")["result"]
    to = rec("http_ohlc")["result"]
    same_types(ohlc, {"XXBTZUSD": to["XBTUSDT"], "last": to["last"]})
    assert [dp(x) for x in ohlc["XXBTZUSD"][-1][1:7]] == [dp(x) for x in to["XBTUSDT"][-1][1:7]]


def test_orders_and_trades(traded: Raw) -> None:
    nullable = frozenset({"userref"})  # 0 in older samples, null since 2024
    ours = next(iter(traded.ok("OpenOrders")["open"].values()))
    theirs = next(iter(rec("http_open_orders")["result"]["open"].values()))
    same_types(ours, theirs, nullable=nullable)
    assert set(ours["descr"]) == set(theirs["descr"])
    for k in ("vol", "vol_exec", "cost", "fee", "stopprice", "limitprice"):
        assert dp(ours[k]) == dp(theirs[k]), k
    closed = traded.ok("ClosedOrders")
    theirs_closed = rec("http_closed_orders")["result"]
    same_types(closed, {"closed": {}, "count": theirs_closed["count"]})
    one = next(iter(closed["closed"].values()))
    ref = next(iter(theirs_closed["closed"].values()))
    same_types(one, ref, nullable=nullable | {"reason"})
    assert dp(one["price"]) == dp(ref["price"]) and dp(one["cost"]) == dp(ref["cost"])
    hist = traded.ok("TradesHistory", {"ledgers": "true"})
    theirs_hist = rec("http_trades_history")["result"]
    same_types(hist["count"], theirs_hist["count"])
    same_types(next(iter(hist["trades"].values())), next(iter(theirs_hist["trades"].values())))
    added = traded.ok(
        "AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "limit", "price": "99000", "volume": "0.01"}
    )
    assert isinstance(added["txid"], list) and set(added["descr"]) == {"order"}
    same_types(traded.ok("CancelOrder", {"txid": added["txid"][0]}), rec("http_cancel_order_spot")["result"])


def test_balances(raw: Raw) -> None:
    same_types(raw.ok("Balance"), {"ZUSD": "0", "XXBT": "0"})
    ex = raw.ok("BalanceEx")
    same_types(ex, {k: v for k, v in rec("http_spot_balance_ex")["result"].items() if k in ("ZUSD", "XXBT")})
    same_types(raw.ok("TradeBalance"), rec("http_spot_trade_balance")["result"])
    assert set(raw.ok("TradeBalance")) == set(rec("http_spot_trade_balance")["result"])
    assert raw.ok("OpenPositions") == {}
