"""Trading methods and the executions/balances channels on the auth host."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from .helpers import Client, new_account, open_client, place, run

LIMIT = {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 50000.0, "symbol": "BTC/USD"}


async def _exec_client(venue, tok: str, **opts) -> Client:
    c = await open_client(venue.spot_ws_auth)
    ack = await c.call("subscribe", {"channel": "executions", "token": tok, **opts})
    assert ack["success"] is True
    await c.expect(lambda m: m.get("channel") == "executions" and m["type"] == "snapshot")
    return c


def _execs(msgs):
    return [m["data"][0] for m in msgs if m.get("channel") == "executions" and m["type"] == "update"]


def test_add_order_lifecycle_and_shapes(kraken_venue):
    acct, tok = new_account(kraken_venue)

    async def go():
        c = await _exec_client(kraken_venue, tok)
        r = await c.call("add_order", {**LIMIT, "order_userref": 100054, "token": tok}, req_id=123456789)
        assert r["success"] is True and set(r["result"]) == {"order_id", "order_userref"}
        assert r["result"]["order_userref"] == 100054 and r["req_id"] == 123456789
        oid = r["result"]["order_id"]
        assert len(oid) == 19 and oid[6] == "-" and oid[12] == "-"
        await c.drain(0.3)
        pend, new = _execs(c.seen)[:2]
        assert pend["exec_type"] == "pending_new" and pend["order_status"] == "pending_new"
        assert pend["time_in_force"] == "GTC" and pend["limit_price"] == Decimal("50000.0")
        assert str(pend["order_qty"]) == "0.01000000" and str(pend["cum_cost"]) == "0.00000"
        assert pend["fee_ccy_pref"] == "fciq" and pend["order_userref"] == 100054
        assert set(new) == {"timestamp", "order_status", "exec_type", "order_userref", "order_id"}
        seqs = [m["sequence"] for m in c.seen if m.get("channel") == "executions"]
        assert seqs == list(range(1, len(seqs) + 1))
        # amend: in place, keeps the id
        r = await c.call(
            "amend_order", {"order_id": oid, "limit_price": 50100.0, "order_qty": 0.02, "token": tok}, req_id=2
        )
        assert set(r["result"]) == {"amend_id", "order_id"}
        am = await c.expect(lambda m: m.get("channel") == "executions" and m["data"][0]["exec_type"] == "amended")
        d = am["data"][0]
        assert d["amended"] is True and d["reason"] == "User requested" and d["limit_price"] == Decimal("50100.0")
        # edit: cancel-replace with a new id
        r = await c.call(
            "edit_order", {"order_id": oid, "symbol": "BTC/USD", "order_qty": 0.03, "token": tok}, req_id=3
        )
        assert r["result"]["original_order_id"] == oid and r["result"]["order_id"] != oid
        new_id = r["result"]["order_id"]
        # cancel by id: one reply per order; unknown id fails on its own
        await c.send(
            {
                "method": "cancel_order",
                "params": {"order_id": [new_id, "OXXXXX-XXXXX-XXXXXX"], "token": tok},
                "req_id": 4,
            }
        )
        replies = [await c.reply("cancel_order", 4), await c.reply("cancel_order", 4)]
        assert replies[0]["result"] == {"order_id": new_id}
        assert replies[1]["error"] == "EOrder:Unknown order"
        cx = await c.expect(
            lambda m: (
                m.get("channel") == "executions"
                and m["data"][0].get("order_id") == new_id
                and m["data"][0]["exec_type"] == "canceled"
            )
        )
        d = cx["data"][0]
        assert d["reason"] == d["cancel_reason"] == "User requested" and d["order_status"] == "canceled"
        await c.ws.close()

    run(go())


def test_fill_reports_trade_then_filled_and_balances(kraken_venue):
    acct, tok = new_account(kraken_venue)

    async def go():
        c = await _exec_client(kraken_venue, tok)
        await c.call("subscribe", {"channel": "balances", "token": tok}, req_id=9)
        snap = await c.expect(lambda m: m.get("channel") == "balances")
        usd = next(x for x in snap["data"] if x["asset"] == "USD")
        assert str(usd["balance"]) == "1000000.0000" and usd["wallets"] == [
            {"type": "spot", "id": "main", "balance": usd["balance"]}
        ]
        r = await c.call("add_order", {**LIMIT, "limit_price": 91416.0, "order_qty": 0.1, "token": tok}, req_id=5)
        assert r["success"]
        await c.drain(0.3)
        ex = _execs(c.seen)
        kinds = [e["exec_type"] for e in ex]
        assert kinds[-2:] == ["trade", "filled"]
        tr = ex[-2]
        assert tr["order_status"] == "filled" and tr["liquidity_ind"] == "t" and isinstance(tr["trade_id"], int)
        assert str(tr["last_qty"]) == "0.10000000" and str(tr["cost"]) == "9141.60000"
        assert tr["fees"][0]["asset"] == "USD" and str(tr["fees"][0]["qty"]) == "36.5664"
        upd = [m for m in c.seen if m.get("channel") == "balances" and m["type"] == "update"]
        legs = upd[-1]["data"]
        assert {x["asset"] for x in legs} == {"USD", "BTC"} and len({x["ref_id"] for x in legs}) == 1
        usd_leg = next(x for x in legs if x["asset"] == "USD")
        assert str(usd_leg["amount"]) == "-9141.6000" and str(usd_leg["fee"]) == "36.5664"
        assert usd_leg["category"] == "trade" and usd_leg["wallet_type"] == "spot"
        # an admin deposit (engine command from another thread) streams too
        await asyncio.to_thread(
            kraken_venue.admin.request, "POST", f"/accounts/{acct}/balances", {"asset": "USD", "amount": "5"}
        )
        dep = await c.expect(lambda m: m.get("channel") == "balances" and m["type"] == "update")
        assert dep["data"][0]["amount"] == Decimal("5.0000")
        await c.ws.close()

    run(go())


def test_add_order_parameters_and_errors(kraken_venue):
    acct, tok = new_account(kraken_venue)

    async def go():
        c = await _exec_client(kraken_venue, tok, snap_orders=True)
        call = c.call
        r = await call("add_order", {**LIMIT, "validate": True, "token": tok})
        assert r["result"] == {"order_id": ""}
        r = await call("add_order", {**LIMIT, "limit_price": "50000", "token": tok})
        assert r["error"] == "Limit_price field must be a number_float"
        r = await call("add_order", {**LIMIT, "userref": 1, "token": tok})
        assert r["error"] == "Unsupported field: 'userref' for the given msg type: add order"
        r = await call("add_order", {**LIMIT, "no_mpp": True, "token": tok})
        assert r["error"] == "EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market"
        r = await call("add_order", {**LIMIT, "order_qty": 1000, "token": tok})
        assert r["error"] == "EOrder:Insufficient funds"
        r = await call("add_order", {**LIMIT, "limit_price": 50000.05, "token": tok})
        assert r["success"] is False
        r = await call("add_order", {**LIMIT, "cl_ord_id": "x", "order_userref": 1, "token": tok})
        assert r["success"] is False
        r = await call("add_order", {**LIMIT, "limit_price": 99999.0, "post_only": True, "token": tok})
        assert r["error"] == "EOrder:Post only order"
        # stop-loss with triggers; reported with its trigger
        r = await call("add_order", {"order_type": "stop-loss", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD",
                                     "triggers": {"reference": "last", "price": 80000.0}, "token": tok})  # fmt: skip
        assert r["success"], r
        pend = await c.expect(
            lambda m: m.get("channel") == "executions" and m["data"][0].get("order_type") == "stop-loss"
        )
        trig = pend["data"][0]["triggers"]
        assert trig["price"] == Decimal("80000.0") and trig["status"] == "untriggered" and trig["reference"] == "last"
        r = await call("add_order", {"order_type": "trailing-stop", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD",
                                     "triggers": {"price": 2.0, "price_type": "pct"}, "token": tok})  # fmt: skip
        assert r["success"], r
        # GTD with expire_time, then the clock passes it
        kraken_venue.admin.freeze()
        now = kraken_venue.admin.clock["now"]
        from simulator.core.clock import parse_rfc3339, rfc3339_s

        exp = rfc3339_s(parse_rfc3339(now) + 10_000_000_000)
        r = await call(
            "add_order", {**LIMIT, "time_in_force": "gtd", "expire_time": exp, "cl_ord_id": "gtd-1", "token": tok}
        )
        assert r["result"]["cl_ord_id"] == "gtd-1"
        await asyncio.to_thread(kraken_venue.admin.advance, 11_000)
        ex = await c.expect(lambda m: m.get("channel") == "executions" and m["data"][0]["exec_type"] == "expired")
        assert ex["data"][0]["cl_ord_id"] == "gtd-1" and ex["data"][0]["order_status"] == "expired"
        # IOC that cannot fill
        r = await call("add_order", {**LIMIT, "time_in_force": "ioc", "token": tok})
        assert r["success"]
        # an iceberg refills after its visible part trades
        maker, mtok = new_account(kraken_venue)
        r = await call("add_order", {"order_type": "iceberg", "side": "buy", "order_qty": 0.3, "display_qty": 0.1,
                                     "limit_price": 91415.0, "symbol": "BTC/USD", "token": tok})  # fmt: skip
        assert r["success"], r
        place(kraken_venue, maker, "sell", "91415.0", "0.15")
        ref = await c.expect(
            lambda m: m.get("channel") == "executions" and m["data"][0]["exec_type"] == "iceberg_refill"
        )
        assert ref["data"][0]["display_qty"] == Decimal("0.10000000")
        await c.ws.close()

    run(go())


def test_cancel_variants_batches_and_dead_mans_switch(kraken_venue):
    acct, tok = new_account(kraken_venue)

    async def go():
        c = await _exec_client(kraken_venue, tok)
        call = c.call
        r = await call("batch_add", {"symbol": "BTC/USD", "token": tok, "orders": [
            {"order_type": "limit", "side": "buy", "limit_price": 40000.0, "order_qty": 0.01, "order_userref": 1},
            {"order_type": "limit", "side": "buy", "limit_price": 40001.0, "order_qty": 0.01, "cl_ord_id": "b-2"},
            {"order_type": "limit", "side": "buy", "limit_price": 40002.0, "order_qty": 0.01, "order_userref": 1}]})  # fmt: skip
        assert [set(x) for x in r["result"]] == [
            {"order_id", "order_userref"},
            {"cl_ord_id", "order_id"},
            {"order_id", "order_userref"},
        ]
        ids = [x["order_id"] for x in r["result"]]
        bad = await call("batch_add", {"symbol": "BTC/USD", "token": tok, "orders": [
            {"order_type": "limit", "side": "buy", "limit_price": 40000.0, "order_qty": 0.01},
            {"order_type": "limit", "side": "buy", "limit_price": 40000.01, "order_qty": 0.01}]})  # fmt: skip
        assert bad["success"] is False
        assert len(kraken_venue.runtime.venue.spot.open_orders[acct]) == 3  # whole batch refused
        r = await call("cancel_order", {"cl_ord_id": ["b-2"], "token": tok}, req_id=2)
        assert r["result"] == {"cl_ord_id": "b-2"}
        await c.send({"method": "cancel_order", "params": {"order_userref": [1], "token": tok}, "req_id": 3})
        got = {(await c.reply("cancel_order", 3))["result"]["order_id"] for _ in range(2)}
        assert got == {ids[0], ids[2]}
        for p in (40000.0, 40001.0, 40002.0):
            await call("add_order", {**LIMIT, "limit_price": p, "token": tok}, req_id=4)
        open_ids = list(kraken_venue.runtime.venue.spot.open_orders[acct])
        r = await call("batch_cancel", {"orders": open_ids[:2], "token": tok}, req_id=5)
        assert r["orders_cancelled"] == 2 and "result" not in r and r["success"] is True
        r = await call("cancel_all", {"token": tok}, req_id=6)
        assert r["result"] == {"count": 1}
        r = await call("cancel_all", {"token": tok}, req_id=7)
        assert r["result"] == {"count": 0}
        r = await call("cancel_all_orders_after", {"timeout": 100, "token": tok}, req_id=8)
        res = r["result"]
        assert (
            set(res) == {"currentTime", "triggerTime"}
            and len(res["currentTime"]) == 20
            and res["triggerTime"].endswith("Z")
        )
        r = await call("cancel_all_orders_after", {"timeout": 0, "token": tok}, req_id=9)
        assert r["result"]["triggerTime"] == "0"
        r = await call("cancel_all_orders_after", {"timeout": "x", "token": tok}, req_id=10)
        assert r["error"] == "Timeout field must be an integer"
        await c.ws.close()

    run(go())


def test_executions_snapshot_options_and_ratecounter(kraken_venue):
    acct, tok = new_account(kraken_venue)
    place(kraken_venue, acct, "buy", "91416.0", "0.1")
    oid = place(kraken_venue, acct, "buy", "50000.0", "0.1")

    async def go():
        c = await open_client(kraken_venue.spot_ws_auth)
        ack = await c.call(
            "subscribe",
            {"channel": "executions", "token": tok, "snap_trades": True, "ratecounter": True, "order_status": False},
        )
        assert ack["result"]["channel"] == "executions" and isinstance(ack["result"]["maxratecount"], int)
        snap = await c.expect(lambda m: m.get("channel") == "executions")
        kinds = [(d["exec_type"], d["order_id"]) for d in snap["data"]]
        assert kinds[0][0] == "trade" and ("new", oid) in kinds and snap["sequence"] == 1
        full = next(d for d in snap["data"] if d["order_id"] == oid)
        assert full["order_status"] == "new" and full["amended"] is False
        r = await c.call("add_order", {**LIMIT, "token": tok}, req_id=2)
        assert r["success"]
        await c.drain(0.3)
        ex = _execs(c.seen)
        assert [e["exec_type"] for e in ex] == ["new"]  # order_status:false drops pending_new
        assert "ratecount" in ex[0]
        dup = await c.call("subscribe", {"channel": "executions", "token": tok}, req_id=3)
        assert dup["error"] == "Already subscribed"
        r = await c.call("unsubscribe", {"channel": "executions", "token": tok}, req_id=4)
        assert r["result"] == {"channel": "executions"}
        await c.ws.close()

    run(go())


def test_two_fills_in_one_command_report_running_totals(kraken_venue):
    """Each trade report shows the order as of that fill (cum_qty, cum_cost, avg_price),
    not its final totals: two asks lifted by one buy."""
    maker, _ = new_account(kraken_venue)
    _, tok = new_account(kraken_venue)

    def spread() -> tuple[int, int, int, int]:
        eng = kraken_venue.runtime.venue.spot
        p = eng.instruments.pairs["XXBTZUSD"]
        book = eng.books["XXBTZUSD"]
        return book.best_bid(), book.best_ask(), p.tick_units, p.pair_decimals

    bid, ask, tick, dp = kraken_venue.call(spread)
    assert ask - 3 * tick > bid, "no room inside the spread"
    px1, px2 = Decimal(ask - 3 * tick).scaleb(-dp), Decimal(ask - tick).scaleb(-dp)
    place(kraken_venue, maker, "sell", str(px1), "0.01")
    place(kraken_venue, maker, "sell", str(px2), "0.01")

    async def go():
        c = await _exec_client(kraken_venue, tok)
        r = await c.call(
            "add_order",
            {**LIMIT, "limit_price": float(px2), "order_qty": 0.02, "time_in_force": "ioc", "token": tok},
            req_id=7,
        )
        assert r["success"] is True
        await c.drain(0.3)
        ex = [e for e in _execs(c.seen) if e.get("order_id") == r["result"]["order_id"]]
        assert [e["exec_type"] for e in ex] == ["pending_new", "new", "trade", "trade", "filled"]
        first, second, done = ex[2:]
        mid = (px1 + px2) / 2
        assert (first["last_price"], first["cum_qty"], first["avg_price"]) == (px1, Decimal("0.01"), px1)
        assert first["order_status"] == "partially_filled" and first["cum_cost"] == px1 / 100
        assert (second["last_price"], second["cum_qty"], second["avg_price"]) == (px2, Decimal("0.02"), mid)
        assert second["order_status"] == "filled" and second["cum_cost"] == (px1 + px2) / 100
        assert (done["cum_qty"], done["avg_price"], done["cum_cost"]) == (Decimal("0.02"), mid, (px1 + px2) / 100)
        await c.ws.close()

    run(go())


def test_deprecated_trigger_and_price_fields_are_accepted(kraken_venue):
    """Kraken still documents the old top-level fields: `stop_price`/`trigger` on add_order
    (triggers.price / triggers.reference) and `price`/`stop_price`/`trigger` on edit_order."""
    _, tok = new_account(kraken_venue)

    async def go():
        c = await _exec_client(kraken_venue, tok)
        stop = {"order_type": "stop-loss", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD", "token": tok}
        r = await c.call("add_order", {**stop, "stop_price": 80000.0, "trigger": "index"}, req_id=1)
        assert r["success"], r
        pend = await c.expect(lambda m: m.get("channel") == "executions" and m["data"][0].get("order_id") == r["result"]["order_id"])
        trig = pend["data"][0]["triggers"]
        assert (trig["price"], trig["reference"]) == (Decimal("80000.0"), "index")
        r = await c.call("add_order", {**stop, "stop_price": 80000.0, "trigger": "mark"}, req_id=2)
        assert r["error"] == "EGeneral:Invalid arguments:trigger"
        # `triggers.reference` wins over the old field
        r = await c.call(
            "add_order", {**stop, "trigger": "index", "triggers": {"reference": "last", "price": 80000.0}}, req_id=3
        )
        assert r["success"], r
        r = await c.call("add_order", {**LIMIT, "token": tok}, req_id=4)
        oid = r["result"]["order_id"]
        edit = {"order_id": oid, "symbol": "BTC/USD", "price": 50100.0, "trigger": "last", "token": tok}
        r = await c.call("edit_order", edit, req_id=5)
        assert r["success"] and r["result"]["original_order_id"] == oid, r
        new = await c.expect(
            lambda m: m.get("channel") == "executions"
            and m["data"][0].get("order_id") == r["result"]["order_id"]
            and m["data"][0]["exec_type"] == "pending_new"
        )
        assert new["data"][0]["limit_price"] == Decimal("50100.0")
        r = await c.call("edit_order", {**edit, "order_id": r["result"]["order_id"], "trigger": "mark"}, req_id=6)
        assert r["error"] == "EGeneral:Invalid arguments:trigger"
        await c.ws.close()

    run(go())
