"""WebSocket v1 at /ws/v1 with a plain websockets client: banner, public
feeds (book seq continuity, trade, ticker throttle, heartbeat), challenge
auth, private feeds and their reason words, reset and dropped clients."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kraken.futures import Trade
from websockets.sync.client import ClientConnection, connect

from simulator.gateways.futures_ws.hub import FuturesConn, Hub, HubConfig
from simulator.pytest_plugin import KrakenVenue
from simulator.server.services import Services
from tests.kit.clients import futures_sign_challenge

Msg = dict[str, Any]


def recv_until(
    ws: ClientConnection, pred: Callable[[Msg], bool], timeout: float = 5.0, seen: list[Msg] | None = None
) -> Msg:
    """Next message matching `pred`.  With `seen`, messages read earlier but not
    yet matched are searched first (feeds interleave), and a match is taken out."""
    if seen is not None:
        for i, m in enumerate(seen):
            if pred(m):
                return seen.pop(i)
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; unmatched: {(seen or [])[-5:]}")
        msg = json.loads(ws.recv(timeout=left))
        if pred(msg):
            return msg
        if seen is not None:
            seen.append(msg)


def feed(name: str) -> Callable[[Msg], bool]:
    return lambda m: m.get("feed") == name and "event" not in m


def signed(secret: str, challenge: str) -> str:
    return futures_sign_challenge(challenge, secret)


def login(ws: ClientConnection, acct: dict[str, Any]) -> dict[str, str]:
    ws.send(json.dumps({"event": "challenge", "api_key": acct["futures_api_key"]}))
    ch = recv_until(ws, lambda m: m.get("event") == "challenge")["message"]
    return {
        "api_key": acct["futures_api_key"],
        "original_challenge": ch,
        "signed_challenge": signed(acct["futures_api_secret"], ch),
    }


def test_public_feeds(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    hub = v.runtime.services.futures_ws
    assert isinstance(hub, Hub)
    hub.config.heartbeat_s = 0.2
    acct = v.admin.create_account({}, futures_balances={"USD": "100000"})
    trade = Trade(key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=v.futures_rest)
    with connect(v.futures_ws) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"event": "info", "version": 1}
        ws.send(json.dumps({"event": "subscribe", "feed": "book", "product_ids": ["PF_XBTUSD"]}))
        assert recv_until(ws, lambda m: "event" in m) == {
            "event": "subscribed",
            "feed": "book",
            "product_ids": ["PF_XBTUSD"],
        }
        snap = recv_until(ws, feed("book_snapshot"))
        assert snap["tickSize"] is None and snap["bids"][0] == {"price": 91405.0, "qty": 0.1}
        assert [b["price"] for b in snap["bids"]] == sorted((b["price"] for b in snap["bids"]), reverse=True)
        ws.send(json.dumps({"event": "subscribe", "feed": "trade", "product_ids": ["PF_XBTUSD"]}))
        assert recv_until(ws, feed("trade_snapshot"))["trades"] == []
        ws.send(json.dumps({"event": "subscribe", "feed": "ticker", "product_ids": ["PF_XBTUSD"]}))
        tick = recv_until(ws, feed("ticker"))
        assert tick["product_id"] == "PF_XBTUSD" and tick["markPrice"] == 91415.0 and tick["tag"] == "perpetual"
        assert "funding_rate" not in tick  # zero funding fields are omitted
        ws.send(json.dumps({"event": "subscribe", "feed": "heartbeat"}))
        assert recv_until(ws, feed("heartbeat"))["time"] > 0
        trade.create_order(orderType="lmt", size=0.05, symbol="PF_XBTUSD", side="buy", limitPrice=91425)
        seen: list[Msg] = []
        t = recv_until(ws, feed("trade"), seen=seen)
        assert (
            t["side"] == "buy" and t["type"] == "fill" and t["qty"] == 0.05 and t["price"] == 91425.0 and t["seq"] == 1
        )
        d = recv_until(ws, feed("book"), seen=seen)
        assert d == {
            "feed": "book",
            "product_id": "PF_XBTUSD",
            "side": "sell",
            "seq": snap["seq"] + 1,
            "price": 91425.0,
            "qty": 0.05,
            "timestamp": d["timestamp"],
        }
        tick2 = recv_until(ws, feed("ticker"), seen=seen)
        assert tick2["last"] == 91425.0 and tick2["volume"] == 0.05
        assert tick2["time"] - tick["time"] >= 900  # throttled to 1/s
        ws.send(json.dumps({"event": "subscribe", "feed": "book", "product_ids": ["PF_NOPE"]}))
        assert recv_until(ws, lambda m: m.get("event") == "alert") == {
            "event": "alert",
            "message": "Couldn't subscribe to invalid product `PF_NOPE`",
        }
        ws.send(json.dumps({"event": "subscribe", "feed": "nope"}))
        assert recv_until(ws, lambda m: m.get("event") == "alert")["message"] == "Couldn't subscribe to invalid feed"
        ws.send("not json")
        assert recv_until(ws, lambda m: m.get("event") == "error") == {"event": "error", "message": "Json Error"}
        ws.send(json.dumps({"event": "unsubscribe", "feed": "book", "product_ids": ["PF_XBTUSD"]}))
        assert recv_until(ws, lambda m: m.get("event") == "unsubscribed")["feed"] == "book"


def test_private_feeds_and_reasons(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    acct = v.admin.create_account({}, futures_balances={"USD": "100000"})
    other = v.admin.create_account({}, futures_balances={"USD": "100000"})
    t1 = Trade(key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=v.futures_rest)
    t2 = Trade(key=other["futures_api_key"], secret=other["futures_api_secret"], url=v.futures_rest)
    with connect(v.futures_ws) as ws:
        assert json.loads(ws.recv(timeout=5))["event"] == "info"
        # a signature for a challenge this connection never issued is refused
        bogus = {
            "api_key": acct["futures_api_key"],
            "original_challenge": "x",
            "signed_challenge": signed(acct["futures_api_secret"], "x"),
        }
        ws.send(json.dumps({"event": "subscribe", "feed": "fills", **bogus}))
        assert recv_until(ws, lambda m: "event" in m) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        auth = login(ws, acct)
        wrong = dict(auth, signed_challenge=signed(other["futures_api_secret"], auth["original_challenge"]))
        ws.send(json.dumps({"event": "subscribe", "feed": "balances", **wrong}))
        assert recv_until(ws, lambda m: "event" in m)["event"] == "alert"
        seen: list[Msg] = []
        for name in (
            "open_orders",
            "open_orders_verbose",
            "fills",
            "balances",
            "open_positions",
            "account_log",
            "notifications_auth",
        ):
            ws.send(json.dumps({"event": "subscribe", "feed": name, **auth}))
            ack = recv_until(ws, lambda m: m.get("event") == "subscribed", seen=seen)
            assert ack["feed"] == name
        recv_until(ws, feed("notifications_auth"), seen=seen)
        snaps = {m["feed"]: m for m in seen if "event" not in m}
        seen.clear()
        assert snaps["open_orders_snapshot"]["orders"] == [] and snaps["fills_snapshot"]["fills"] == []
        assert snaps["balances_snapshot"]["flex_futures"]["currencies"]["USD"]["quantity"] == 100000.0
        assert (
            snaps["open_positions"]["positions"] == []
            and snaps["account_log_snapshot"]["logs"][0]["info"] == "cross-exchange transfer"
        )
        placed = t1.create_order(
            orderType="lmt", size=0.1, symbol="PF_XBTUSD", side="buy", limitPrice=91410, cliOrdId="ws-1"
        )
        oid = placed["sendStatus"]["order_id"]
        new = recv_until(ws, feed("open_orders"), seen=seen)
        assert new["reason"] == "new_placed_order_by_user" and new["is_cancel"] is False
        assert new["order"]["order_id"] == oid and new["order"]["direction"] == 0 and new["order"]["type"] == "limit"
        assert new["order"]["cli_ord_id"] == "ws-1" and new["order"]["qty"] == 0.1 and new["order"]["stop_price"] == 0.0
        t2.create_order(orderType="lmt", size=0.04, symbol="PF_XBTUSD", side="sell", limitPrice=91410)
        part = recv_until(ws, feed("open_orders"), seen=seen)
        assert (
            part["reason"] == "partial_fill"
            and part["order"]["qty"] == pytest.approx(0.06)
            and part["order"]["filled"] == 0.04
        )
        fill = recv_until(ws, feed("fills"), seen=seen)
        assert fill["username"] == acct["account_id"] and fill["fills"][0]["fill_type"] == "maker"
        assert (
            fill["fills"][0]["remaining_order_qty"] == pytest.approx(0.06) and fill["fills"][0]["fee_currency"] == "USD"
        )
        pos = recv_until(ws, feed("open_positions"), seen=seen)
        assert pos["positions"][0]["instrument"] == "PF_XBTUSD" and pos["positions"][0]["balance"] == 0.04
        assert recv_until(ws, feed("account_log"), seen=seen)["new_entry"]["info"] == "futures trade"
        assert recv_until(ws, feed("balances"), seen=seen)["flex_futures"]["initial_margin"] > 0
        t1.edit_order(orderId=oid, limitPrice=91411)
        assert recv_until(ws, feed("open_orders"), seen=seen)["reason"] == "edited_by_user"
        t1.cancel_order(order_id=oid)
        gone = recv_until(ws, feed("open_orders"), seen=seen)
        assert gone == {
            "feed": "open_orders",
            "order_id": oid,
            "cli_ord_id": "ws-1",
            "is_cancel": True,
            "reason": "cancelled_by_user",
        }
        # post-only that would cross: only the verbose feed reports it
        t2.create_order(orderType="lmt", size=0.01, symbol="PF_XBTUSD", side="sell", limitPrice=92000)
        t1.create_order(orderType="post", size=0.01, symbol="PF_XBTUSD", side="buy", limitPrice=92000)
        verbose = recv_until(ws, feed("open_orders_verbose"), seen=seen)
        while verbose["reason"] != "post_order_failed_because_it_would_be_filled":
            verbose = recv_until(ws, feed("open_orders_verbose"), seen=seen)
        assert not any(m.get("feed") == "open_orders" and str(m.get("reason")).startswith("post_order") for m in seen)
        # a taker fill of a resting order reports full_fill with the whole order
        o2 = t1.create_order(orderType="lmt", size=0.02, symbol="PF_XBTUSD", side="buy", limitPrice=91415)[
            "sendStatus"
        ]["order_id"]
        t2.create_order(orderType="ioc", size=0.02, symbol="PF_XBTUSD", side="sell", limitPrice=91415)
        full = recv_until(ws, lambda m: m.get("feed") == "open_orders" and m.get("reason") == "full_fill", seen=seen)
        assert full["is_cancel"] is True and full["order"]["order_id"] == o2 and full["order"]["qty"] == 0.0
        v.admin.request(
            "POST", "/futures/notifications", {"note": "maintenance soon", "type": "maintenance", "priority": "high"}
        )
        note = recv_until(ws, lambda m: m.get("feed") == "notifications_auth" and m["notifications"], seen=seen)
        assert note["notifications"][0]["note"] == "maintenance soon"


def test_reset_and_admin_drop_close_connections(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    with connect(v.futures_ws) as ws:
        ws.recv(timeout=5)
        conns = [c for c in v.admin.connections() if c["protocol"] == "futures_ws"]
        assert len(conns) == 1
        v.admin.faults(drop_protocol="futures_ws")
        with pytest.raises(Exception):  # noqa: B017 - closed by the venue
            for _ in range(10):
                ws.recv(timeout=5)
    with connect(v.futures_ws) as ws:
        ws.recv(timeout=5)
        v.admin.reset()
        with pytest.raises(Exception):  # noqa: B017
            for _ in range(10):
                ws.recv(timeout=5)


def test_slow_consumer_queue_is_bounded() -> None:
    class _Rt:
        class settings:  # noqa: N801 - stand-in
            seed = 0

        connections: dict[str, Any] = {}
        services = Services(ws_tokens=None, market=None, dashboard=None)  # type: ignore[arg-type]

        def new_connection_id(self, protocol: str) -> str:
            return protocol + "-1"

    hub = Hub(_Rt(), HubConfig(max_queue=3))  # type: ignore[arg-type]
    conn = FuturesConn(hub, None)  # type: ignore[arg-type]
    for _ in range(3):
        conn.send({"feed": "heartbeat", "time": 1})
    assert not conn.closed and len(conn.queue) == 3
    conn.send({"feed": "heartbeat", "time": 2})
    assert conn.closed and not conn.queue


def test_private_feed_does_not_wait_for_the_fan_out_pump(kraken_venue: KrakenVenue, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection's own queue (replies, private feeds) leaves at the next loop
    turn; only public topics wait for the pump.  With the pump writing nothing,
    the order's open_orders update must still arrive (it did not, when private
    messages were only handed to the pump)."""
    v = kraken_venue
    hub = v.runtime.services.futures_ws
    assert isinstance(hub, Hub)
    acct = v.admin.create_account({}, futures_balances={"USD": "100000"})
    trade = Trade(key=acct["futures_api_key"], secret=acct["futures_api_secret"], url=v.futures_rest)
    with connect(v.futures_ws) as ws:
        assert json.loads(ws.recv(timeout=5))["event"] == "info"
        auth = login(ws, acct)
        ws.send(json.dumps({"event": "subscribe", "feed": "open_orders", **auth}))
        recv_until(ws, feed("open_orders_snapshot"))
        monkeypatch.setattr(hub, "pump_slice", lambda budget, until=float("inf"): 0)
        trade.create_order(orderType="lmt", size=0.01, symbol="PF_XBTUSD", side="buy", limitPrice=80000,
                           cliOrdId="no-pump")  # fmt: skip
        msg = recv_until(ws, lambda m: m.get("feed") == "open_orders" and "order" in m)
        assert msg["order"]["cli_ord_id"] == "no-pump"
