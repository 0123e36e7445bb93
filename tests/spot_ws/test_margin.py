"""Spot margin over WS v2: `add_order`/`batch_add`/`edit_order` with `margin`
and `reduce_only`, the margin fields of `executions` (`margin`,
`margin_borrow`, `position_status`, `liquidated`), `balances` ledger updates of
type `margin`, and the instrument channel's margin terms; through
python-kraken-sdk's SpotWSClient and the raw wire."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from tests.kit.inbox import Inbox
from tests.spot_rest.helpers import Raw

from .helpers import Client, mint, open_client, run

BTC = "BTC/USD"


def quote(venue: Any, bid: str = "50000", ask: str = "50010", qty: str = "20") -> None:
    venue.admin.seed_book("XBTUSD", bids=[[bid, qty]], asks=[[ask, qty]], clear=True)


def margin_account(venue: Any, usd: str = "20000", **kw: Any) -> dict[str, Any]:
    acct: dict[str, Any] = venue.admin.create_account({"USD": usd}, margin=True, **kw)
    return acct


async def _subscribed(venue: Any, tok: str) -> Client:
    c = await open_client(venue.spot_ws_auth)
    for channel in ("executions", "balances"):
        ack = await c.call("subscribe", {"channel": channel, "token": tok})
        assert ack["success"] is True
        await c.expect(lambda m, ch=channel: m.get("channel") == ch and m["type"] == "snapshot")
    return c


def _updates(msgs: list[dict[str, Any]], channel: str) -> list[dict[str, Any]]:
    return [d for m in msgs if m.get("channel") == channel and m.get("type") == "update" for d in m["data"]]


def test_margin_add_order_executions_and_balances_raw(kraken_venue: Any) -> None:
    quote(kraken_venue)
    acct = margin_account(kraken_venue)
    tok = mint(kraken_venue, acct["account_id"])
    raw = Raw(kraken_venue, acct)

    async def go() -> None:
        c = await _subscribed(kraken_venue, tok)
        r = await c.call("add_order", {"order_type": "market", "side": "buy", "order_qty": 0.2, "symbol": BTC,
                                       "margin": True, "token": tok})  # fmt: skip
        assert r["success"] is True, r
        oid = r["result"]["order_id"]
        msgs = await c.drain()
        execs = [e for e in _updates(msgs, "executions") if e["order_id"] == oid]
        pending = next(e for e in execs if e["exec_type"] == "pending_new")
        assert pending["margin"] is True and "reduce_only" not in pending
        [trade] = [e for e in execs if e["exec_type"] == "trade"]
        assert trade["margin"] is True and trade["margin_borrow"] is True
        assert trade["position_status"] == "opened"
        assert trade["fees"][0]["asset"] == "USD"
        # balances: one `margin` ledger entry carries the fees (no exchange of balances)
        [led] = _updates(msgs, "balances")
        assert led["type"] == "margin" and led["category"] == "margin-trade" and led["asset"] == "USD"
        fee = D("0.2") * 50010 * D("0.0042")  # taker 0.40 % + opening 0.02 %
        assert D(str(led["amount"])) == 0 and D(str(led["fee"])) == fee
        assert D(str(led["balance"])) == D(20000) - fee
        # margin: true trades at the pair's highest leverage up to 5 (XBT/USD offers 10)
        [pos] = raw.ok("OpenPositions").values()
        assert D(pos["margin"]) == D(pos["cost"]) / 5 == D("0.2") * 50010 / 5
        # reduce_only with a larger quantity closes exactly the position
        r = await c.call("add_order", {"order_type": "market", "side": "sell", "order_qty": 0.5, "symbol": BTC,
                                       "margin": True, "reduce_only": True, "token": tok}, req_id=2)  # fmt: skip
        assert r["success"] is True, r
        close_id = r["result"]["order_id"]
        msgs = await c.drain()
        execs = [e for e in _updates(msgs, "executions") if e["order_id"] == close_id]
        pending = next(e for e in execs if e["exec_type"] == "pending_new")
        assert pending["reduce_only"] is True and pending["margin"] is True
        [trade] = [e for e in execs if e["exec_type"] == "trade"]
        assert trade["position_status"] == "closed" and trade["last_qty"] == D("0.2")
        [led] = _updates(msgs, "balances")
        pnl = D("0.2") * (50000 - 50010)
        assert led["type"] == "margin" and D(str(led["amount"])) == pnl
        assert raw.ok("OpenPositions") == {}
        # a spot order's executions carry no margin fields
        r = await c.call("add_order", {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 40000,
                                       "symbol": BTC, "token": tok}, req_id=3)  # fmt: skip
        msgs = await c.drain()
        [spot] = [e for e in _updates(msgs, "executions") if e["exec_type"] == "pending_new"]
        assert "margin" not in spot and "margin_borrow" not in spot
        await c.ws.close()

    run(go())


def test_margin_errors_batch_and_edit_raw(kraken_venue: Any) -> None:
    quote(kraken_venue)
    plain = kraken_venue.admin.create_account({"USD": "20000"})
    acct = margin_account(kraken_venue, "5000")
    tok_plain, tok = mint(kraken_venue, plain["account_id"]), mint(kraken_venue, acct["account_id"])
    raw = Raw(kraken_venue, acct)

    async def go() -> None:
        c = await open_client(kraken_venue.spot_ws_auth)
        order = {"order_type": "market", "side": "buy", "order_qty": 0.1, "symbol": BTC, "margin": True}
        r = await c.call("add_order", {**order, "token": tok_plain})
        assert r["success"] is False and r["error"] == "EOrder:Cannot open position"
        r = await c.call("add_order", {**order, "side": "sell", "reduce_only": True, "token": tok}, req_id=2)
        assert r["error"] == "EOrder:Reduce only:No position exists"
        r = await c.call("add_order", {**order, "order_qty": 1, "token": tok}, req_id=3)
        assert r["error"] == "EOrder:Insufficient margin"
        n = len(kraken_venue.admin.journal(events=False))
        r = await c.call("add_order", {**order, "leverage": 2, "token": tok}, req_id=4)  # no ratio field on WS
        assert r["success"] is False and "leverage" in r["error"]
        assert len(kraken_venue.admin.journal(events=False)) == n  # bad input never reaches the journal
        # batch_add: leveraged limit orders hold margin, not funds
        r = await c.call("batch_add", {"symbol": BTC, "token": tok, "orders": [
            {"order_type": "limit", "side": "buy", "order_qty": 0.1, "limit_price": 49000, "margin": True},
            {"order_type": "limit", "side": "buy", "order_qty": 0.1, "limit_price": 48000, "margin": True},
        ]}, req_id=5)  # fmt: skip
        assert r["success"] is True, r
        first, second = (x["order_id"] for x in r["result"])
        spot = kraken_venue.runtime.venue.spot
        held = kraken_venue.call(lambda: dict(spot.margin.reserved.get(acct["account_id"], {})))
        assert held["ZUSD"] > 0 and raw.ok("BalanceEx")["ZUSD"]["hold_trade"] == "0.0000"
        # edit_order keeps the margin terms; amend_order re-holds margin
        r = await c.call("edit_order", {"order_id": second, "symbol": BTC, "order_qty": 0.2, "token": tok}, req_id=6)
        assert r["success"] is True, r
        new = raw.ok("QueryOrders", {"txid": r["result"]["order_id"]})[r["result"]["order_id"]]
        assert new["descr"]["leverage"] == "5:1" and new["vol"] == "0.20000000"
        r = await c.call("edit_order", {"order_id": r["result"]["order_id"], "symbol": BTC, "reduce_only": True,
                                        "token": tok}, req_id=9)  # fmt: skip
        assert r["success"] is False and r["error"] == "EOrder:Reduce only:No position exists"
        r = await c.call("amend_order", {"order_id": first, "order_qty": 1, "token": tok}, req_id=7)
        assert r["success"] is False and r["error"] == "EOrder:Insufficient margin"
        # order_qty 0 with margin: the whole position (none here)
        r = await c.call("add_order", {**order, "order_qty": 0, "side": "sell", "token": tok}, req_id=8)
        assert r["success"] is False and "volume" in r["error"]
        await c.ws.close()

    run(go())


def test_instrument_channel_carries_margin_terms(kraken_venue: Any) -> None:
    async def go() -> None:
        c = await open_client(kraken_venue.spot_ws)
        await c.call("subscribe", {"channel": "instrument"})
        snap = await c.expect(lambda m: m.get("channel") == "instrument" and m.get("type") == "snapshot")
        pairs = {p["symbol"]: p for p in snap["data"]["pairs"]}
        assert pairs[BTC]["marginable"] is True and pairs[BTC]["margin_initial"] == D("0.2")
        assets = {a["id"]: a for a in snap["data"]["assets"]}
        assert assets["BTC"]["borrowable"] is True
        assert any(p["marginable"] is False and "margin_initial" not in p for p in pairs.values())
        await c.ws.close()

    run(go())


def test_sdk_places_margin_order_and_watches_executions(kraken_venue: Any) -> None:
    """python-kraken-sdk's SpotWSClient: a margin order over WS v2, its
    executions and the `margin` ledger update on `balances`."""
    from kraken.spot import SpotWSClient

    quote(kraken_venue)
    acct = margin_account(kraken_venue)
    inbox = Inbox()

    def exec_of(kind: str, **match: Any) -> Any:
        return lambda m: m.get("channel") == "executions" and any(
            d.get("exec_type") == kind and all(d.get(k) == v for k, v in match.items()) for d in m.get("data", [])
        )

    async def go() -> None:
        client = SpotWSClient(key=acct["api_key"], secret=acct["api_secret"], callback=inbox.on_message, no_public=True,
                              rest_url=kraken_venue.spot_rest, auth_ws_url=kraken_venue.spot_ws_auth[: -len("/v2")])  # fmt: skip
        await client.start()
        try:
            await client.subscribe(params={"channel": "executions"})
            await client.subscribe(params={"channel": "balances"})
            await inbox.wait_for(lambda m: m.get("channel") == "balances" and m.get("type") == "snapshot")
            await client.send_message({"method": "add_order", "params": {
                "order_type": "market", "side": "sell", "order_qty": 0.3, "symbol": BTC, "margin": True,
            }, "req_id": 11})  # fmt: skip
            ack = await inbox.wait_for(lambda m: m.get("method") == "add_order")
            assert ack["success"] is True, ack
            oid = ack["result"]["order_id"]
            m = await inbox.wait_for(exec_of("trade", order_id=oid))
            [trade] = [d for d in m["data"] if d["exec_type"] == "trade"]
            assert trade["side"] == "sell" and trade["margin_borrow"] is True and trade["position_status"] == "opened"
            bal = await inbox.wait_for(lambda m: m.get("channel") == "balances" and m.get("type") == "update")
            assert bal["data"][0]["type"] == "margin"
            # close the short with volume 0 (the whole position), reduce-only
            await client.send_message({"method": "add_order", "params": {
                "order_type": "market", "side": "buy", "order_qty": 0, "symbol": BTC, "margin": True,
                "reduce_only": True,
            }, "req_id": 12})  # fmt: skip
            ack = await inbox.wait_for(lambda m: m.get("method") == "add_order" and m.get("req_id") == 12)
            assert ack["success"] is True, ack
            m = await inbox.wait_for(exec_of("trade", order_id=ack["result"]["order_id"]))
            [trade] = [d for d in m["data"] if d["exec_type"] == "trade"]
            assert trade["position_status"] == "closed" and trade["last_qty"] == 0.3
        finally:
            await client.close()

    run(go())


def test_settle_position_over_ws_shows_settled_ledgers(kraken_venue: Any) -> None:
    """A long settled with funds: it pays the cost and receives the base;
    `balances` carries the two `settled` entries (category margin-settle)."""
    quote(kraken_venue)
    acct = margin_account(kraken_venue, "30000")
    tok = mint(kraken_venue, acct["account_id"])
    raw = Raw(kraken_venue, acct)

    async def go() -> None:
        c = await _subscribed(kraken_venue, tok)
        r = await c.call("add_order", {"order_type": "market", "side": "buy", "order_qty": 0.1, "symbol": BTC,
                                       "margin": True, "token": tok})  # fmt: skip
        assert r["success"] is True, r
        [pos] = raw.ok("OpenPositions").values()
        await c.drain()
        r = await c.call("add_order", {"order_type": "settle-position", "side": "sell", "order_qty": 0, "symbol": BTC,
                                       "margin": True, "token": tok}, req_id=2)  # fmt: skip
        assert r["success"] is True, r
        msgs = await c.drain()
        settled = {d["asset"]: d for d in _updates(msgs, "balances") if d["type"] == "settled"}
        assert set(settled) == {"USD", "BTC"} and {d["category"] for d in settled.values()} == {"margin-settle"}
        assert D(str(settled["USD"]["amount"])) == -D(pos["cost"]) and D(str(settled["BTC"]["amount"])) == D("0.1")
        assert raw.ok("OpenPositions") == {}
        assert D(raw.ok("Balance")["XXBT"]) == D("0.1")
        await c.ws.close()

    run(go())
