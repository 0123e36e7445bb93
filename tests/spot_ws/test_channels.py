"""level3, ticker, trade, ohlc and instrument channels."""

from __future__ import annotations

from decimal import Decimal

from .book_replica import L3Replica
from .churn import churn, churn_accounts
from .helpers import new_account, open_client, place, run


def test_level3_orders_and_checksum_over_churn(kraken_venue):
    accts = churn_accounts(kraken_venue)
    _, tok = new_account(kraken_venue)

    async def go():
        pub = await open_client(kraken_venue.spot_ws)
        r = await pub.call("subscribe", {"channel": "level3", "symbol": ["BTC/USD"], "token": tok})
        assert r["error"].startswith("Level3 data is unavailable")
        c = await open_client(kraken_venue.spot_ws_l3)
        r = await c.call("subscribe", {"channel": "level3", "symbol": ["BTC/USD"], "token": "bad"})
        assert r["error"] == "ESession:Invalid session"
        r = await c.call("subscribe", {"channel": "level3", "symbol": ["BTC/USD"], "token": tok})
        assert r["result"] == {"channel": "level3", "depth": 10, "snapshot": True, "symbol": "BTC/USD"}
        rep = L3Replica(10)
        snap = await c.expect(lambda m: m.get("channel") == "level3")
        o = snap["data"][0]["bids"][0]
        assert set(o) == {"order_id", "limit_price", "order_qty", "timestamp"} and len(o["timestamp"]) == 30
        rep.apply(snap)
        for rnd in range(4):
            churn(kraken_venue, accts, 300, seed=50 + rnd)
            for m in await c.drain(0.3):
                if m.get("channel") == "level3":
                    rep.apply(m)
        assert rep.checked > 50
        await c.ws.close()
        await pub.ws.close()

    run(go())


def test_ticker_trades_and_bbo_triggers(kraken_venue):
    acct, _ = new_account(kraken_venue)

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        r = await c.call("subscribe", {"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "bbo"})
        assert r["result"] == {"channel": "ticker", "event_trigger": "bbo", "snapshot": True, "symbol": "BTC/USD"}
        snap = await c.expect(lambda m: m.get("channel") == "ticker")
        keys = [
            "symbol",
            "bid",
            "bid_qty",
            "ask",
            "ask_qty",
            "last",
            "volume",
            "vwap",
            "low",
            "high",
            "change",
            "change_pct",
            "trades",
            "timestamp",
        ]
        assert list(snap["data"][0]) == keys
        t = await open_client(kraken_venue.spot_ws)
        await t.call("subscribe", {"channel": "ticker", "symbol": ["BTC/USD"]})
        await t.expect(lambda m: m.get("channel") == "ticker")
        place(kraken_venue, acct, "buy", "91414.5", "0.2")  # new best bid: bbo update only
        upd = await c.expect(lambda m: m.get("channel") == "ticker")
        assert upd["type"] == "update" and upd["data"][0]["bid"] == Decimal("91414.5")
        assert await t.drain(0.3) == []
        place(kraken_venue, acct, "buy", "91416.0", "0.05")  # a trade
        tu = await t.expect(lambda m: m.get("channel") == "ticker")
        d = tu["data"][0]
        assert d["last"] == Decimal("91416.0") and str(d["volume"]) == "0.05000000" and d["trades"] == 1
        await c.ws.close()
        await t.ws.close()

    run(go())


def test_trade_snapshot_ohlc_instrument(kraken_venue):
    acct, _ = new_account(kraken_venue)
    place(kraken_venue, acct, "buy", "91417.0", "0.15")  # trades at 91416.0 and 91417.0

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        r = await c.call("subscribe", {"channel": "trade", "symbol": ["BTC/USD"]})
        assert r["result"] == {"channel": "trade", "snapshot": False, "symbol": "BTC/USD"}
        await c.call("unsubscribe", {"channel": "trade", "symbol": ["BTC/USD"]}, req_id=2)
        await c.call("subscribe", {"channel": "trade", "symbol": ["BTC/USD"], "snapshot": True}, req_id=3)
        snap = await c.expect(lambda m: m.get("channel") == "trade")
        assert [x["trade_id"] for x in snap["data"]] == [1, 2]
        assert set(snap["data"][0]) == {"symbol", "side", "price", "qty", "ord_type", "trade_id", "timestamp"}
        assert snap["data"][0]["side"] == "buy" and snap["data"][0]["ord_type"] == "limit"
        r = await c.call("subscribe", {"channel": "ohlc", "symbol": ["BTC/USD"], "interval": 5}, req_id=4)
        assert r["result"]["interval"] == 5 and r["result"]["warnings"] == [
            "timestamp is deprecated, use interval_begin"
        ]
        o = await c.expect(lambda m: m.get("channel") == "ohlc")
        assert len(o["timestamp"]) == 30 and o["type"] == "snapshot"
        cd = o["data"][-1]
        assert cd["open"] == Decimal("91416.0") and cd["close"] == Decimal("91417.0") and cd["trades"] == 2
        assert str(cd["volume"]) == "0.15000000" and cd["interval"] == 5 and len(cd["interval_begin"]) == 30
        place(kraken_venue, acct, "buy", "91418.0", "0.1")
        up = await c.expect(lambda m: m.get("channel") == "ohlc")
        assert up["type"] == "update" and up["data"][0]["trades"] == 4  # 0.05 left at 91417.0, then 91418.0
        tu = await c.expect(lambda m: m.get("channel") == "trade")
        assert tu["data"][0]["trade_id"] == 3
        r = await c.call("subscribe", {"channel": "instrument"}, req_id=5)
        assert r["result"]["warnings"] == ["tick_size is deprecated, use price_increment"]
        ins = await c.expect(lambda m: m.get("channel") == "instrument")
        btc = next(p for p in ins["data"]["pairs"] if p["symbol"] == "BTC/USD")
        assert btc["price_precision"] == 1 and btc["qty_precision"] == 8 and btc["qty_increment"] == Decimal("1e-08")
        assert {"id", "status", "precision", "precision_display", "borrowable", "collateral_value"} <= set(
            ins["data"]["assets"][0]
        )
        await c.ws.close()

    run(go())
