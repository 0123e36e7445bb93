"""Issue 17's scenario: a margin-enabled account opens a leveraged long, the
mark comes down (`POST /admin/books`), the account is margin-called and then
liquidated; each step is observed on REST (python-kraken-sdk: TradeBalance,
OpenPositions, ClosedOrders, TradesHistory, Ledgers), on WS v2 `executions`
(ccxt.pro `watch_orders`, and the raw frames' margin fields), in the journal
(`GET /admin/journal`) and on the dashboard."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from decimal import Decimal as D
from typing import Any

from kraken.spot import Trade, User

from tests.spot_rest.helpers import sdk
from tests.spot_ws.helpers import mint, open_client, run


def quote(venue: Any, bid: str, ask: str, qty: str = "20") -> None:
    venue.admin.seed_book("XBTUSD", bids=[[bid, qty]], asks=[[ask, qty]], clear=True)


def notices(venue: Any, since: int = 0) -> list[dict[str, Any]]:
    return [e for j in venue.admin.journal(since) for e in j.get("events", []) if e.get("kind") == "notice"]


def dashboard(venue: Any) -> dict[str, Any]:
    with urllib.request.urlopen(venue.spot_rest + "/dashboard/state?symbol=BTC/USD", timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def _ccxt(venue: Any, acct: dict[str, Any]) -> Any:
    import ccxt.pro

    ex = ccxt.pro.kraken({"apiKey": acct["api_key"], "secret": acct["api_secret"]})
    ex.urls["api"]["public"] = venue.spot_rest
    ex.urls["api"]["private"] = venue.spot_rest
    ex.urls["api"]["ws"]["publicV2"] = venue.spot_ws
    ex.urls["api"]["ws"]["privateV2"] = venue.spot_ws_auth
    return ex


def test_leveraged_long_margin_call_then_liquidation(kraken_venue: Any) -> None:
    venue = kraken_venue
    quote(venue, "50000", "50010")
    acct = venue.admin.create_account({"USD": "3000"}, margin=True)
    aid = acct["account_id"]
    trade, user = sdk(Trade, venue, acct), sdk(User, venue, acct)
    tok = mint(venue, aid)

    async def go() -> None:
        ex = _ccxt(venue, acct)
        raw = await open_client(venue.spot_ws_auth)
        try:
            ack = await raw.call("subscribe", {"channel": "executions", "token": tok})
            assert ack["success"] is True
            await ex.watch_balance()  # the private socket is up
            orders_task = asyncio.ensure_future(ex.watch_orders("BTC/USD"))
            hub = venue.runtime.services.spot_ws
            deadline = time.monotonic() + 10
            while len(hub.execs.get(aid, ())) < 2 and time.monotonic() < deadline:  # the raw client and ccxt
                await asyncio.sleep(0.05)

            # 1. a 5:1 long of 0.2 BTC at 50010 (about 2000 USD of margin)
            res = await asyncio.to_thread(lambda: trade.create_order(
                ordertype="market", side="buy", pair="XBTUSD", volume="0.2", leverage="5"))  # fmt: skip
            [opening_id] = res["txid"]
            opened = await asyncio.wait_for(orders_task, 5)
            assert any(o["id"] == opening_id for o in opened)
            tb = await asyncio.to_thread(user.get_trade_balance)
            assert D(tb["m"]) == D("0.2") * 50010 / 5 and D(tb["ml"]) > 100
            [pos_id] = (await asyncio.to_thread(lambda: user.get_open_positions(docalcs=True, consolidation=""))).keys()

            # 2. the mark falls under margin_call (80 %), above margin_stop (40 %): flagged, not liquidated
            mark = len(venue.admin.journal(events=False))
            await asyncio.to_thread(quote, venue, "42500", "42510")
            tb = await asyncio.to_thread(user.get_trade_balance)
            assert D(40) < D(tb["ml"]) <= D(80)
            [call] = [n for n in notices(venue) if n["name"] == "margin_call"]
            assert call["account"] == aid and D(call["margin_level"]) == D(tb["ml"]).quantize(D("0.01"))
            assert list((await asyncio.to_thread(lambda: user.get_open_positions(consolidation=""))).keys()) == [pos_id]
            board = (await asyncio.to_thread(dashboard, venue))["margin"]
            [row] = [a for a in board["accounts"] if a["account"] == aid]
            assert row["called"] is True and D(row["margin_level"]) == D(tb["ml"]).quantize(D("0.01"))
            assert [p["id"] for p in row["positions"]] == [pos_id] and row["positions"][0]["leverage"] == "5:1"
            # a margin-called account opens nothing new
            err = await raw.call("add_order", {"order_type": "market", "side": "buy", "order_qty": 0.01,
                                               "symbol": "BTC/USD", "margin": True, "token": tok}, req_id=9)  # fmt: skip
            assert err["success"] is False and err["error"] == "EOrder:Margin level too low"

            # 3. the mark falls through margin_stop (40 %): the venue sells the position into the book
            orders_task = asyncio.ensure_future(ex.watch_orders("BTC/USD"))
            await asyncio.to_thread(quote, venue, "38000", "38010")
            names = [n["name"] for n in notices(venue, mark)]
            assert names.index("margin_call") < names.index("liquidation") < names.index("liquidated")
            [liq_note] = [n for n in notices(venue, mark) if n["name"] == "liquidated"]
            assert liq_note["open_positions"] == 0 and D(liq_note["deficit"]) == 0

            # REST: no position, a closed liquidation order, its trade closing the position, margin ledgers
            assert await asyncio.to_thread(lambda: user.get_open_positions(consolidation="")) == {}
            closed = (await asyncio.to_thread(user.get_closed_orders))["closed"]
            [(liq_id, liq)] = [(k, o) for k, o in closed.items() if "liquidated" in o["misc"]]
            assert liq["descr"]["type"] == "sell" and liq["vol_exec"] == "0.20000000" and liq["status"] == "closed"
            trades = (await asyncio.to_thread(user.get_trades_history))["trades"]
            [closing] = [t for t in trades.values() if t["ordertxid"] == liq_id]
            assert D(closing["price"]) == 38000 and closing["postxid"] == pos_id and closing["misc"] == "closing"
            ledgers = (await asyncio.to_thread(user.get_ledgers_info))["ledger"]
            margin_entries = [e for e in ledgers.values() if e["type"] == "margin"]
            assert len(margin_entries) == 2
            pnl = D("0.2") * (38000 - 50010)
            assert sum(D(e["amount"]) for e in margin_entries) == pnl
            tb = await asyncio.to_thread(user.get_trade_balance)
            assert D(tb["m"]) == 0 and D(tb["n"]) == 0
            fees = sum(D(e["fee"]) for e in margin_entries)
            assert D(tb["eb"]) == D(3000) + pnl - fees

            # WS: ccxt.pro sees the liquidation order filled; the raw frames carry Kraken's margin fields
            deadline = time.monotonic() + 5
            while not any(o["id"] == liq_id and o["status"] == "closed" for o in ex.orders) and time.monotonic() < deadline:
                await asyncio.wait_for(orders_task, 5)
                orders_task = asyncio.ensure_future(ex.watch_orders("BTC/USD"))
            [liq_order] = [o for o in ex.orders if o["id"] == liq_id][-1:]
            # (Kraken's status-only frames carry no symbol, so ccxt keeps the last one's fields)
            assert liq_order["status"] == "closed" and liq_order["filled"] == 0.2
            frames = [d for m in await raw.drain() + raw.backlog if m.get("channel") == "executions"
                      for d in m.get("data", []) if d.get("order_id") == liq_id]  # fmt: skip
            pending = next(d for d in frames if d["exec_type"] == "pending_new")
            assert pending["liquidated"] is True and pending["margin"] is True and pending["reduce_only"] is True
            assert pending["side"] == "sell" and pending["order_type"] == "market"
            [fill] = [d for d in frames if d["exec_type"] == "trade"]
            assert fill["position_status"] == "closed" and fill["liquidated"] is True and fill["margin_borrow"] is True
            orders_task.cancel()

            # the dashboard: no position left, the liquidation counted, the journal line marked
            state = await asyncio.to_thread(dashboard, venue)
            assert all(a["account"] != aid for a in state["margin"]["accounts"])
            assert state["margin"]["liquidations"] >= 1
            assert any("liquidation" in j["margin"] for j in state["journal"])
        finally:
            await ex.close()
            await raw.ws.close()

    run(go())
