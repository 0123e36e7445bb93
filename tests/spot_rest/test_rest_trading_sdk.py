"""Every AddOrder parameter and the other order endpoints through
python-kraken-sdk (and krakenex for literal bracket keys)."""

from __future__ import annotations

from typing import Any

import pytest
from kraken.spot import Trade, User

from .helpers import Raw, kx, sdk, sdk_error


@pytest.fixture
def trade(kraken_venue: Any, funded: dict[str, Any]) -> Trade:
    return sdk(Trade, kraken_venue, funded)


@pytest.fixture
def user(kraken_venue: Any, funded: dict[str, Any]) -> User:
    return sdk(User, kraken_venue, funded)


def test_validate_answers_descr_without_txid(kraken_venue: Any, trade: Trade, user: User) -> None:
    before = user.get_balances()
    res = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="1.25", price="27500", validate=True)
    assert res == {"descr": {"order": "buy 1.25000000 XBTUSD @ limit 27500.0"}}
    assert user.get_open_orders()["open"] == {} and user.get_balances() == before
    # validation still applies every rule
    assert "Insufficient funds" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="100", price="27500", validate=True
        )
    )


def test_conditional_close_as_literal_keys_and_nested_object(
    kraken_venue: Any, funded: dict[str, Any], trade: Trade
) -> None:
    res = trade.create_order(
        ordertype="limit",
        side="buy",
        pair="XBTUSD",
        volume="0.01",
        price="91416",
        close_ordertype="stop-loss-limit",
        close_price="80000",
        close_price2="79000",
    )
    assert res["descr"] == {
        "order": "buy 0.01000000 XBTUSD @ limit 91416.0",
        "close": "close position @ stop loss 80000.0 -> limit 79000.0",
    }
    # the primary filled at once, so the close order is live
    user = sdk(User, kraken_venue, funded)
    [close] = user.get_open_orders()["open"].values()
    assert close["descr"]["order"] == "sell 0.01000000 XBTUSD @ stop loss 80000.0 -> limit 79000.0"
    # JSON body with a nested close object (ccxt's shape)
    raw = Raw(kraken_venue, kraken_venue.admin.create_account({"USD": "10000"}))  # its own nonce sequence
    out = raw.ok(
        "AddOrder",
        {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "80000", "volume": "0.01",
         "close": {"ordertype": "take-profit", "price": "95000"}},
        as_json=True,
    )  # fmt: skip
    assert out["descr"]["close"] == "close position @ take profit 95000.0"
    # krakenex with literal bracket keys in a form body
    api = kx(kraken_venue, kraken_venue.admin.create_account({"USD": "10000"}))
    res2 = api.query_private(
        "AddOrder",
        {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "80000", "volume": "0.01",
         "close[ordertype]": "limit", "close[price]": "99000"},
    )  # fmt: skip
    assert res2["result"]["descr"]["close"] == "close position @ limit 99000.0"


def test_oflags_timeinforce_and_iceberg(trade: Trade, user: User) -> None:
    post = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", oflags=["post", "fcib"]
    )
    info = user.get_orders_info(txid=post["txid"][0])[post["txid"][0]]
    assert info["oflags"] == "fcib,post" and info["status"] == "open"
    assert "EOrder:Post only order" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="91500", oflags="post"
        )
    )
    trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", oflags="nompp")
    ioc = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.2", price="91416", timeinforce="IOC"
    )
    o = user.get_orders_info(txid=ioc["txid"][0])[ioc["txid"][0]]
    assert o["status"] == "closed" and o["vol_exec"] == "0.10000000" and o["vol"] == "0.20000000"
    ice = trade.create_order(
        ordertype="iceberg", side="sell", pair="XBTUSD", volume="0.3", price="99000", displayvol="0.02"
    )
    assert ice["descr"]["order"] == "sell 0.30000000 XBTUSD @ iceberg 99000.0"
    assert "Invalid arguments:displayvol" in sdk_error(
        lambda: trade.create_order(
            ordertype="iceberg", side="sell", pair="XBTUSD", volume="0.3", price="99000", displayvol="0.01"
        )
    )
    assert "Invalid arguments:oflags" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", oflags="bogus"
        )
    )


def test_starttm_expiretm_and_deadline(kraken_venue: Any, trade: Trade, user: User) -> None:
    kraken_venue.admin.freeze()
    later = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", starttm="+60"
    )
    oid = later["txid"][0]
    assert user.get_orders_info(txid=oid)[oid]["status"] == "pending"
    gtd = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", expiretm="+30")
    gid = gtd["txid"][0]
    now_s = kraken_venue.admin.clock["now_ns"] // 10**9
    assert user.get_orders_info(txid=gid)[gid]["expiretm"] == now_s + 30
    kraken_venue.admin.advance(61_000)
    assert user.get_orders_info(txid=oid)[oid]["status"] == "open"
    closed = user.get_orders_info(txid=gid)[gid]
    assert closed["status"] == "expired"
    absolute = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", expiretm=str(now_s + 3600)
    )
    assert user.get_orders_info(txid=absolute["txid"][0])[absolute["txid"][0]]["expiretm"] == now_s + 3600
    assert "Invalid arguments:expiretm" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", expiretm="+2"
        )
    )
    from simulator.core.clock import rfc3339_s

    past = rfc3339_s(kraken_venue.admin.clock["now_ns"] - 10**9)
    assert "EService:Deadline elapsed" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", deadline=past
        )
    )
    soon = rfc3339_s(kraken_venue.admin.clock["now_ns"] + 10 * 10**9)
    assert "txid" in trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", deadline=soon
    )


def test_identifiers_trigger_and_stp(kraken_venue: Any, trade: Trade, user: User) -> None:
    a = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000", userref=77)
    trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90001", userref=77)
    trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90002", cl_ord_id="abc-123")
    assert "Invalid arguments:cl_ord_id" in sdk_error(
        lambda: trade.create_order(
            ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="9", cl_ord_id="x" * 19
        )
    )
    assert set(user.get_open_orders(userref=77)["open"]) >= {a["txid"][0]}
    assert len(user.get_open_orders(userref=77)["open"]) == 2
    [by_cl] = user.get_open_orders(cl_ord_id="abc-123")["open"].values()
    assert by_cl["cl_ord_id"] == "abc-123" and by_cl["userref"] is None
    assert trade.cancel_order(txid=77) == {"count": 2}  # an int userref cancels them all
    assert trade.cancel_order(cl_ord_id="abc-123") == {"count": 1}
    # trigger=index on a stop
    stop = trade.create_order(
        ordertype="stop-loss", side="sell", pair="XBTUSD", volume="0.01", price="80000", trigger="index"
    )
    info = user.get_orders_info(txid=stop["txid"][0])[stop["txid"][0]]
    assert info["trigger"] == "index" and info["stopprice"] == "80000.0"
    # self-trade prevention: cancel-oldest removes our resting order and trades through
    mine = trade.create_order(ordertype="limit", side="sell", pair="XBTUSD", volume="0.01", price="91415")
    trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="91415", stptype="cancel-oldest"
    )
    old = user.get_orders_info(txid=mine["txid"][0])[mine["txid"][0]]
    assert old["status"] == "canceled" and old["reason"] == "Self trade prevention"


def test_batch_amend_edit_cancel(kraken_venue: Any, trade: Trade, user: User) -> None:
    res = trade.create_order_batch(
        pair="BTC/USD",
        orders=[
            {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "85000", "userref": 5,
             "close": {"ordertype": "limit", "price": "95000"}},
            {"ordertype": "limit", "type": "buy", "volume": "50", "price": "85000"},  # funds: this one only
            {"ordertype": "limit", "type": "sell", "volume": "0.02", "price": "99000", "cl_ord_id": "batch-2"},
        ],
    )  # fmt: skip
    rows = res["orders"]
    assert rows[0]["descr"]["order"] == "buy 0.01000000 XBTUSD @ limit 85000.0" and "txid" in rows[0]
    assert rows[0]["close"] == "close position @ limit 95000.0"
    assert rows[1] == {"error": "EOrder:Insufficient funds"}
    assert "txid" in rows[2]
    assert "volume minimum not met" in sdk_error(
        lambda: trade.create_order_batch(
            pair="XBTUSD",
            orders=[
                {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "85000"},
                {"ordertype": "limit", "type": "buy", "volume": "0.00001", "price": "85000"},
            ],
        )
    )
    assert len(user.get_open_orders()["open"]) == 2
    valid = trade.create_order_batch(
        pair="XBTUSD", validate=True,
        orders=[{"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "85000"}] * 2,
    )  # fmt: skip
    assert all("txid" not in r for r in valid["orders"])
    # AmendOrder keeps the txid
    sell_id = rows[2]["txid"]
    amend = trade.amend_order(cl_ord_id="batch-2", order_qty="0.03", limit_price="98000")
    assert amend["amend_id"].startswith("T")
    info = user.get_orders_info(txid=sell_id)[sell_id]
    assert (info["vol"], info["descr"]["price"]) == ("0.03000000", "98000.0")
    assert "EOrder:Unknown order" in sdk_error(lambda: trade.amend_order(txid="OAAAAA-BBBBB-CCCCCC", order_qty="1"))
    # EditOrder replaces it with a new txid
    buy_id = rows[0]["txid"]
    # conditional close: not editable
    assert "EOrder:Invalid order" in sdk_error(lambda: trade.edit_order(txid=buy_id, pair="XBTUSD", price="84000"))
    plain = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="80000", userref=9)
    edited = trade.edit_order(txid=plain["txid"][0], pair="XBTUSD", volume="0.02", price="81000", userref=10)
    assert (
        edited["status"] == "ok" and edited["originaltxid"] == plain["txid"][0] and edited["txid"] != plain["txid"][0]
    )
    assert (edited["volume"], edited["price"], edited["price2"], edited["orders_cancelled"]) == (
        "0.02000000",
        "81000.0",
        "0",
        1,
    )
    assert edited["descr"] == {"order": "buy 0.02000000 XBTUSD @ limit 81000.0"}
    assert (edited["olduserref"], edited["newuserref"]) == (9, 10)
    assert user.get_orders_info(txid=plain["txid"][0])[plain["txid"][0]]["status"] == "canceled"
    # batch cancel (JSON) by txid and userref, then CancelAll
    assert trade.cancel_order_batch(orders=[edited["txid"], 5])["count"] == 2
    assert trade.cancel_all_orders() == {"count": 1}
    assert user.get_open_orders()["open"] == {}


def test_cancel_all_orders_after(kraken_venue: Any, trade: Trade, user: User) -> None:
    kraken_venue.admin.freeze()
    trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="90000")
    res = trade.cancel_all_orders_after_x(timeout=60)
    assert res["currentTime"].endswith("Z") and res["triggerTime"] != "0"
    kraken_venue.admin.advance(59_000)
    assert len(user.get_open_orders()["open"]) == 1
    kraken_venue.admin.advance(2_000)
    assert user.get_open_orders()["open"] == {}
    assert trade.cancel_all_orders_after_x(timeout=0)["triggerTime"] == "0"


def test_account_queries(kraken_venue: Any, funded: dict[str, Any], trade: Trade, user: User) -> None:
    kraken_venue.admin.freeze()
    t0 = kraken_venue.admin.clock["now_ns"] / 10**9
    first = trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.1")["txid"][0]
    kraken_venue.admin.advance(5_000)
    second = trade.create_order(ordertype="market", side="sell", pair="XBTUSD", volume="0.05")["txid"][0]
    closed = user.get_closed_orders(trades=True)
    assert closed["count"] == 2 and list(closed["closed"]) == [second, first]
    assert closed["closed"][first]["trades"] and closed["closed"][first]["closetm"] == pytest.approx(t0, abs=1e-3)
    assert list(user.get_closed_orders(start=t0 + 1)["closed"]) == [second]
    assert list(user.get_closed_orders(end=t0 + 1)["closed"]) == [first]
    assert list(user.get_closed_orders(ofs=1)["closed"]) == [first]
    assert list(user.get_closed_orders(start=first, closetime="open")["closed"]) == [second]
    hist = user.get_trades_history(ledgers=True)
    assert hist["count"] == 2
    tid, t = next(iter(hist["trades"].items()))
    assert t["ordertxid"] == second and t["type"] == "sell" and t["pair"] == "XXBTZUSD" and len(t["ledgers"]) == 2
    assert user.get_trades_info(txid=tid)[tid]["vol"] == "0.05000000"
    ledger = user.get_ledgers_info(asset="XBT")
    assert ledger["count"] == 3  # deposit + two trades
    entries = list(ledger["ledger"].values())
    assert [e["type"] for e in entries] == ["trade", "trade", "deposit"]
    assert entries[0]["amount"] == "-0.0500000000" and entries[0]["asset"] == "XXBT"
    lid = next(iter(ledger["ledger"]))
    assert user.get_ledgers(id_=lid)[lid] == ledger["ledger"][lid]
    assert user.get_ledgers_info(type_="deposit", asset="all")["count"] == 4
    vol = user.get_trade_volume(pair="XBTUSD")
    assert vol["currency"] == "ZUSD" and vol["fees"]["XBTUSD"]["fee"] == "0.4000"
    assert vol["fees_maker"]["XBTUSD"]["nextfee"] == "0.2000" and vol["fees"]["XBTUSD"]["nextvolume"] == "10000.0000"
    assert user.get_open_positions() == []  # the SDK asks for consolidation=market: a list
    tb = user.get_trade_balance()
    assert set(tb) == {"eb", "tb", "m", "uv", "n", "c", "v", "e", "mf", "ml"} and tb["e"] == tb["tb"]
    bx = user.get_balances()
    assert bx["XXBT"] == {"balance": "2.0500000000", "hold_trade": "0.0000000000"}
    assert "EOrder:Invalid order" in sdk_error(lambda: user.get_orders_info(txid="OAAAAA-BBBBB-CCCCCC"))
    other = kraken_venue.admin.create_account({"USD": "1"})
    # not theirs
    assert "EOrder:Invalid order" in sdk_error(lambda: sdk(User, kraken_venue, other).get_orders_info(txid=first))


def test_ws_token(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    res = raw.ok("GetWebSocketsToken")
    assert res["expires"] == 900 and len(res["token"]) >= 30
    store = kraken_venue.runtime.services.ws_tokens
    assert store.account_for(res["token"]) == funded["account_id"]
