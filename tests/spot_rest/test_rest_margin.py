"""Spot margin through the REST API with real clients: ccxt `kraken`
(createOrder with leverage, fetchPositions, fetchBalance, closing) and
python-kraken-sdk (create_order(leverage=), get_open_positions(docalcs),
get_trade_balance), plus the position fields of TradesHistory/QueryTrades,
Ledgers types, admin accounts and the error strings."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from kraken.spot import Trade, User

from .helpers import Raw, ccxt_client, journal_len, sdk, sdk_error

BID, ASK = "50000", "50010"


def quote(venue: Any, bid: str = BID, ask: str = ASK, qty: str = "20") -> None:
    """A controlled XBT/USD book: one deep level each side."""
    venue.admin.seed_book("XBTUSD", bids=[[bid, qty]], asks=[[ask, qty]], clear=True)


@pytest.fixture
def margin_creds(kraken_venue: Any) -> dict[str, Any]:
    quote(kraken_venue)
    creds: dict[str, Any] = kraken_venue.admin.create_account({"USD": "20000"}, margin=True)
    return creds


def test_margin_is_off_by_default_and_enabled_by_admin(kraken_venue: Any) -> None:
    quote(kraken_venue)
    creds = kraken_venue.admin.create_account({"USD": "20000"})
    assert kraken_venue.admin.account(creds["account_id"])["margin"] is False
    trade = sdk(Trade, kraken_venue, creds)
    err = sdk_error(lambda: trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.1", leverage=2))
    assert "EOrder:Cannot open position" in err
    view = kraken_venue.admin.request("POST", f"/accounts/{creds['account_id']}/tier", {"margin": True})
    assert view["margin"] is True
    res = trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.1", leverage=2)
    assert res["descr"]["order"] == "buy 0.10000000 XBTUSD @ market with 2:1 leverage"


def test_ccxt_open_fetch_positions_balance_and_close(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    ex = ccxt_client(kraken_venue, margin_creds)
    ex.load_markets()
    assert ex.market("BTC/USD")["margin"] is True
    assert ex.market("BTC/USD")["limits"]["leverage"]["max"] == 10
    order = ex.create_order("BTC/USD", "market", "buy", 0.2, None, {"leverage": 2})
    placed = ex.fetch_order(order["id"])
    assert placed["status"] == "closed" and placed["filled"] == 0.2
    assert placed["info"]["descr"]["leverage"] == "2:1" and placed["info"]["margin"] is True
    view = kraken_venue.admin.account(margin_creds["account_id"])["spot_margin"]
    assert [(p["pair"], p["type"], p["vol"]) for p in view["positions"]] == [("XXBTZUSD", "buy", "0.20000000")]
    assert D(view["margin"]) == D("5001") and D(view["margin_level"]) > 100
    [pos] = ex.fetch_positions()
    assert pos["symbol"] == "BTC/USD" and pos["side"] == "long" and pos["contracts"] == 0.2
    assert pos["leverage"] == 2.0
    assert pos["initialMargin"] == pytest.approx(0.2 * 50010 / 2)
    assert pos["unrealizedPnl"] == pytest.approx(0.2 * (50000 - 50010))  # marked at the best bid
    bal = ex.fetch_balance()
    fee = D("0.2") * 50010 * D("0.0042")  # taker 0.40 % + opening 0.02 %
    assert D(str(bal["USD"]["total"])) == D(20000) - fee
    assert bal.get("BTC", {}).get("total") in (None, 0)  # a position, not a holding
    # close: an opposite leveraged order of the same size
    ex.create_order("BTC/USD", "market", "sell", 0.2, None, {"leverage": 2})
    assert ex.fetch_positions() == []
    trades = ex.fetch_my_trades("BTC/USD")
    assert [t["side"] for t in trades] == ["buy", "sell"]
    closing = trades[1]["info"]
    assert closing["misc"] == "closing" and closing["postxid"] == trades[0]["id"]
    ledger = ex.fetch_ledger("USD")
    assert {e["info"]["type"] for e in ledger} >= {"margin"}


def test_sdk_positions_docalcs_and_trade_balance(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    trade = sdk(Trade, kraken_venue, margin_creds)
    user = sdk(User, kraken_venue, margin_creds)
    res = trade.create_order(ordertype="market", side="sell", pair="XBTUSD", volume="0.3", leverage="3")
    [txid] = res["txid"]
    positions = user.get_open_positions(docalcs=True, consolidation="")
    [(pid, pos)] = positions.items()
    assert pos["ordertxid"] == txid and pos["posstatus"] == "open" and pos["pair"] == "XXBTZUSD"
    assert pos["type"] == "sell" and pos["vol"] == "0.30000000" and pos["vol_closed"] == "0.00000000"
    assert pos["cost"] == "15000.00000" and pos["margin"] == "5000.00000"
    assert pos["value"] == "15003.00000" and pos["net"] == "-3.00000"  # a short marked at the best ask
    assert pos["terms"] == "0.0200% per 4 hours"
    assert int(pos["rollovertm"]) == int(pos["time"]) + 4 * 3600
    [cons] = user.get_open_positions(docalcs=True)  # the SDK's default: consolidation=market
    assert cons["pair"] == "XXBTZUSD" and cons["positions"] == "1" and cons["leverage"] == "3.00000"
    assert cons["net"] == "-3.00000"
    tb = user.get_trade_balance()
    assert D(tb["m"]) == 5000 and D(tb["n"]) == -3 and D(tb["c"]) == 15000 and D(tb["v"]) == 15003
    assert D(tb["e"]) == D(tb["tb"]) + D(tb["n"]) and D(tb["mf"]) == D(tb["e"]) - D(tb["m"])
    assert D(tb["ml"]) == (D(tb["e"]) / D(tb["m"]) * 100).quantize(D("0.01"))
    # the opening trade carries its position's fields
    hist = user.get_trades_history(type_="any position")
    assert list(hist["trades"]) == [pid] and hist["count"] == 1
    t = hist["trades"][pid]
    assert t["posstatus"] == "open" and t["leverage"] == "3" and t["margin"] == "5000.00000"
    # partly close, then the fields move
    trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.1", leverage="3")
    q = user.get_trades_info(txid=pid)[pid]
    assert q["posstatus"] == "open" and q["cvol"] == "0.10000000" and q["cprice"] == "50010.0"
    assert D(q["net"]) == D("-1") - D("0.1") * 50010 * D("0.004")  # the price loss, less the closing fee
    closing = user.get_trades_history(type_="closing position")["trades"]
    assert len(closing) == 1 and next(iter(closing.values()))["postxid"] == pid
    assert user.get_trades_history(type_="closed position")["trades"] == {}
    # `no position`: spot trades only
    trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.01")
    spot = user.get_trades_history(type_="no position")
    assert spot["count"] == 1 and [t["leverage"] for t in spot["trades"].values()] == ["0"]
    assert user.get_trades_history()["count"] == 3


def test_reduce_only_and_errors(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    raw = Raw(kraken_venue, margin_creds)
    base = {"pair": "XBTUSD", "ordertype": "market", "volume": "0.1"}
    n = journal_len(kraken_venue)
    assert raw.error("AddOrder", {**base, "type": "buy", "leverage": "abc"}) == "EGeneral:Invalid arguments:leverage"
    assert journal_len(kraken_venue) == n  # bad input never reaches the journal
    assert raw.error("AddOrder", {**base, "type": "buy", "leverage": "20"}) == "EGeneral:Invalid arguments:leverage"
    assert journal_len(kraken_venue) == n  # a leverage the pair does not offer: refused by the guard
    assert raw.error("AddOrder", {**base, "type": "sell", "leverage": "2", "reduce_only": True}) == (
        "EOrder:Reduce only:No position exists"
    )
    assert raw.error("AddOrder", {**base, "type": "buy", "volume": "2", "leverage": "2"}) == (
        "EOrder:Insufficient margin"
    )
    raw.ok("AddOrder", {**base, "type": "buy", "leverage": "2"})
    res = raw.ok("AddOrder", {**base, "type": "sell", "volume": "0", "leverage": "2", "reduce_only": True})
    assert res["descr"]["order"] == "sell 0.10000000 XBTUSD @ market with 2:1 leverage"
    assert raw.ok("OpenPositions") == {}


def test_settle_position_and_ledger_types(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    raw = Raw(kraken_venue, margin_creds)
    raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.1", "leverage": "2"})
    res = raw.ok("AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "settle-position", "volume": "0",
                              "leverage": "2"})  # fmt: skip
    assert res["descr"]["order"] == "sell 0.10000000 XBTUSD @ settle position with 2:1 leverage"
    assert raw.ok("OpenPositions") == {}
    assert raw.ok("Balance")["XXBT"] == "0.1000000000"
    types = {e["type"] for e in raw.ok("Ledgers")["ledger"].values()}
    assert {"margin", "settled", "deposit"} <= types
    settled = raw.ok("Ledgers", {"type": "settled"})["ledger"]
    assert len(settled) == 2


def test_rollover_charged_every_four_hours_of_venue_time(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    raw = Raw(kraken_venue, margin_creds)
    kraken_venue.admin.freeze()
    raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.1", "leverage": "2"})
    kraken_venue.admin.advance(8 * 3600 * 1000 + 1000)
    raw.ok("Balance")  # any command lets due timers fire
    rollovers = raw.ok("Ledgers", {"type": "rollover"})["ledger"]
    assert len(rollovers) == 2
    assert {e["fee"] for e in rollovers.values()} == {"1.0002"}  # 0.02 % of 5001.0 USD


def test_liquidation_is_visible_on_rest(kraken_venue: Any) -> None:
    quote(kraken_venue)
    pro = kraken_venue.admin.create_account({"USD": "20000"}, margin=True, tier="pro")  # a 157 500 USD extension
    raw = Raw(kraken_venue, pro)
    raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "3.5", "leverage": "10"})
    quote(kraken_venue, "46000", "46010")  # the mark falls through margin_stop
    assert raw.ok("OpenPositions") == {}
    closed = raw.ok("ClosedOrders")["closed"]
    liq = [o for o in closed.values() if "liquidated" in o["misc"]]
    assert len(liq) == 1 and liq[0]["descr"]["type"] == "sell" and liq[0]["vol_exec"] == "3.50000000"
    tb = raw.ok("TradeBalance")
    assert D(tb["m"]) == 0 and D(tb["n"]) == 0
    view = kraken_venue.admin.account(pro["account_id"])["spot_margin"]
    assert view["positions"] == [] and view["margin_level"] is None and view["margin_call"] is False
    events = [e for j in kraken_venue.admin.journal() for e in j.get("events", []) if e.get("kind") == "notice"]
    assert {"liquidation", "liquidated"} <= {e["name"] for e in events}


def test_batch_amend_and_edit_keep_the_margin_terms(kraken_venue: Any, margin_creds: dict[str, Any]) -> None:
    raw = Raw(kraken_venue, margin_creds)
    res = raw.ok("AddOrderBatch", {"pair": "XBTUSD", "orders": [
        {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "49000", "leverage": "2"},
        {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "48000", "leverage": "3"},
    ]}, as_json=True)  # fmt: skip
    first, second = (o["txid"] for o in res["orders"])
    assert res["orders"][1]["descr"]["order"] == "buy 0.10000000 XBTUSD @ limit 48000.0 with 3:1 leverage"
    tb0 = raw.ok("TradeBalance")
    assert D(tb0["m"]) == 0  # orders hold nothing of the positions' margin yet
    assert raw.ok("BalanceEx")["ZUSD"]["hold_trade"] == "0.0000"  # Kraken: hold_trade is spot orders only
    raw.ok("AmendOrder", {"txid": first, "order_qty": "0.3"})
    o = raw.ok("QueryOrders", {"txid": first})[first]
    assert o["descr"]["leverage"] == "2:1" and o["vol"] == "0.30000000" and o["margin"] is True
    edited = raw.ok("EditOrder", {"txid": second, "pair": "XBTUSD", "volume": "0.2"})
    new = raw.ok("QueryOrders", {"txid": edited["txid"]})[edited["txid"]]
    assert new["descr"]["leverage"] == "3:1" and new["descr"]["order"].endswith("with 3:1 leverage")
    # too much margin for an amend: refused, the order unchanged
    assert raw.error("AmendOrder", {"txid": first, "order_qty": "5"}) == "EOrder:Insufficient margin"
    assert raw.ok("QueryOrders", {"txid": first})[first]["vol"] == "0.30000000"
    # the market comes down to the resting buy: it fills as maker and becomes a position
    quote(kraken_venue, "48500", "48990")
    [pos] = raw.ok("OpenPositions", {"docalcs": True}).values()
    assert pos["ordertxid"] == first and pos["type"] == "buy" and pos["vol"] == "0.30000000"
    assert pos["cost"] == "14700.00000" and pos["margin"] == "7350.00000"
    assert D(raw.ok("TradeBalance")["m"]) == D("7350")


def test_a_scenario_account_with_margin_trades_on_margin() -> None:
    from simulator.pytest_plugin import start_venue
    from simulator.scenario import AccountSeed, Scenario

    tv, venue = start_venue(scenario=Scenario(accounts=[AccountSeed("bot", {"USD": "50000"}, margin=True)]))
    try:
        creds = venue.runtime.services.named_accounts["bot"].to_json()
        assert venue.admin.account(creds["account_id"])["margin"] is True
        raw = Raw(venue, creds)
        raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01",
                            "leverage": "2"})  # fmt: skip
        assert len(raw.ok("OpenPositions")) == 1
    finally:
        tv.stop()
