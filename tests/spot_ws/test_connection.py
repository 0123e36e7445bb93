"""Connection-level behaviour: status, ping, heartbeats, idle timeout, bad input, drops, reset."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request

from websockets.exceptions import ConnectionClosed

from .helpers import Client, new_account, open_client, place, run


def test_status_ping_and_pong(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        st = c.seen[0]
        data = st["data"][0]
        assert st["type"] == "update" and data["api_version"] == "v2" and data["system"] == "online"
        assert isinstance(data["connection_id"], int) and 0 <= data["connection_id"] < 2**64
        await c.send({"method": "ping", "req_id": 101})
        pong = await c.reply("pong")
        assert set(pong) == {"method", "req_id", "time_in", "time_out"} and pong["req_id"] == 101
        assert pong["time_in"].endswith("Z") and len(pong["time_in"]) == 27
        await c.send({"method": "ping"})
        assert "req_id" not in await c.reply("pong")
        bad = await c.call("ping", {})
        assert bad == {**bad, "success": False, "error": "Unsupported field: 'params' for the given msg type: ping"}
        await c.ws.close()

    run(go())


def test_heartbeat_once_subscribed(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await asyncio.sleep(1.3)
        quiet = await c.drain(0.1)
        assert quiet == []  # nothing subscribed: no heartbeat
        await c.call("subscribe", {"channel": "trade", "symbol": ["BTC/USD"]})
        hb = await c.recv(2.5, heartbeats=True)
        assert hb == {"channel": "heartbeat"}
        await c.ws.close()

    run(go())


def test_no_heartbeat_while_updates_flow(kraken_venue):
    """Kraken sends a heartbeat only in the absence of other updates: a
    subscriber getting a book update every 0.2 s sees none (it used to get
    one every 0.25 s once a second had passed, whatever else it was sent)."""
    acct = kraken_venue.admin.create_account({"USD": "10000000", "XBT": "100"})["account_id"]

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        await c.expect(lambda m: m.get("channel") == "book")
        got = []
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.6
        while loop.time() < end:
            await loop.run_in_executor(None, place, kraken_venue, acct, "buy", "91414.5", "0.01")
            with contextlib.suppress(TimeoutError):
                while True:
                    got.append(await c.recv(0.2, heartbeats=True))
        assert sum(1 for m in got if m.get("channel") == "book") >= 8
        assert {"channel": "heartbeat"} not in got
        assert await c.recv(2.5, heartbeats=True) == {"channel": "heartbeat"}  # quiet again: heartbeats resume
        await c.ws.close()

    run(go())


def test_bad_input_gets_errors_and_changes_nothing(kraken_venue):
    journal_before = len(kraken_venue.admin.journal())

    async def go():
        c = await open_client(kraken_venue.spot_ws_auth)
        await c.send("{not json")
        m = await c.recv()
        assert m["error"] == "Malformed request" and m["success"] is False
        await c.send(json.dumps([1, 2]))
        assert (await c.recv())["error"] == "Malformed request"
        await c.send({"params": {}})
        assert (await c.recv())["error"] == "Malformed request"
        assert (await c.call("frobnicate", {}))["error"] == "Unsupported event"
        await c.send({"method": "ping", "req_id": 3, "extra": 1})
        assert (await c.reply("ping"))["error"] == "Unsupported field: 'extra' for the given msg type: ping"
        await c.send({"method": "ping", "req_id": "x"})
        assert (await c.reply("ping"))["error"] == "Req_id field must be an integer"
        r = await c.call("add_order", {"order_type": "limit"}, req_id=9)
        assert r["error"] == "Token(s) not found" and r["req_id"] == 9
        r = await c.call("add_order", {"order_type": "limit", "token": "nope"}, req_id=10)
        assert r["error"] == "EAPI:Invalid token"
        await c.send("x" * 70_000)
        assert (await c.recv())["error"] == "Malformed request"
        await c.send(b"\xff\xfe")
        assert (await c.recv())["error"] == "Malformed request"
        await c.send({"method": "ping", "req_id": 5})
        assert (await c.reply("pong"))["req_id"] == 5  # still healthy
        await c.ws.close()

    run(go())
    assert len(kraken_venue.admin.journal()) == journal_before


def test_private_on_public_and_public_on_auth(kraken_venue):
    _, tok = new_account(kraken_venue)

    async def go():
        pub = await open_client(kraken_venue.spot_ws)
        r = await pub.call("subscribe", {"channel": "executions", "token": tok})
        assert r["error"] == "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com"
        assert set(r) == {"error", "method", "req_id", "success", "time_in", "time_out"}
        r = await pub.call("add_order", {"token": tok}, req_id=2)
        assert r["method"] == "add_order" and r["error"].startswith("Private data and trading are unavailable")
        auth = await open_client(kraken_venue.spot_ws_auth)
        r = await auth.call("subscribe", {"channel": "ticker", "symbol": ["BTC/USD"]})
        assert r["error"] == "Public market data subscriptions are unavailable on this endpoint. Try ws.kraken.com"
        r = await auth.call("subscribe", {"channel": "executions", "token": "bad"})
        assert r["error"] == "ESession:Invalid session" and r["channel"] == "executions" and r["status"] == "error"
        keys = list(r)
        assert keys == sorted(keys)  # Kraken orders keys alphabetically
        l3 = await open_client(kraken_venue.spot_ws_l3)
        r = await l3.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"]})
        assert r["error"].startswith("Public market data subscriptions are unavailable")
        for c in (pub, auth, l3):
            await c.ws.close()

    run(go())


def test_subscription_errors(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        assert (await c.call("subscribe", {"channel": "nope"}))["error"] == "Subscription name invalid"
        assert (await c.call("subscribe", {"channel": "status"}))["error"] == "Symbol(s) not found"
        r = await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 7})
        assert r["error"] == "Subscription depth not supported"
        r = await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "interval": 5})
        assert r["error"] == "Unsupported field: 'interval' for the given msg type: subscribe"
        r = await c.call("subscribe", {"channel": "ticker", "symbol": ["XBT/USD"]})
        assert r["error"] == "Currency pair not supported XBT/USD" and r["symbol"] == "XBT/USD"
        await c.send({"method": "unsubscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}, "req_id": 4})
        r = await c.reply("subscribe", 4)
        assert r["error"] == "Subscription Not Found" and r["method"] == "subscribe" and r["symbol"] == "BTC/USD"
        r = await c.call("subscribe", {"channel": "ohlc", "symbol": ["BTC/USD"], "interval": 2})
        assert r["error"] == "Subscription ohlc interval not supported"
        r = await c.call("subscribe", {"channel": "ticker", "symbol": ["BTC/USD"], "snapshot": "yes"})
        assert r["error"] == "Snapshot field must be a boolean"
        r = await c.call("subscribe", {"channel": "heartbeat"})
        assert r["success"] is True and r["result"] == {"channel": "heartbeat"}
        await c.ws.close()

    run(go())


def test_idle_timeout_closes(kraken_venue):
    kraken_venue.runtime.services.spot_ws.config.idle_timeout_s = 0.6

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await c.send({"method": "ping"})
        await c.reply("pong")
        try:
            await c.recv(4)
        except ConnectionClosed:
            return
        raise AssertionError("connection stayed open")

    run(go())


def test_connections_registry_drop_and_reset(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await c.send({"method": "ping", "req_id": 1})
        await c.reply("pong")
        conns = kraken_venue.admin.connections()
        ws_ids = [x["id"] for x in conns if x["protocol"] == "ws"]
        assert len(ws_ids) == 1
        kraken_venue.admin.faults(drop_connection=ws_ids[0])
        try:
            await c.recv(3)
            raise AssertionError("still open")
        except ConnectionClosed:
            pass
        c2 = await open_client(kraken_venue.spot_ws)
        await c2.call("subscribe", {"channel": "trade", "symbol": ["BTC/USD"]})
        await asyncio.to_thread(kraken_venue.admin.reset)
        try:
            await c2.recv(3)
            raise AssertionError("still open after reset")
        except ConnectionClosed:
            pass
        c3 = await open_client(kraken_venue.spot_ws)  # the venue serves again after reset
        assert (await c3.call("subscribe", {"channel": "trade", "symbol": ["BTC/USD"]}))["success"] is True
        await c3.ws.close()

    run(go())
    assert [x for x in kraken_venue.admin.connections() if x["protocol"] == "ws"] == []


def test_flood_is_refused_and_connection_survives(kraken_venue):
    cfg = kraken_venue.runtime.services.spot_ws.config
    cfg.msg_rate, cfg.msg_burst = 5.0, 20.0

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        for i in range(60):
            await c.send({"method": "ping", "req_id": i})
        msgs = [await c.recv() for _ in range(60)]
        errors = [m for m in msgs if m.get("error") == "Exceeded msg rate"]
        pongs = [m for m in msgs if m.get("method") == "pong"]
        assert len(pongs) >= 20 and len(errors) >= 30
        await asyncio.sleep(0.5)
        await c.send({"method": "ping", "req_id": 999})
        assert (await c.reply("pong"))["req_id"] == 999
        await c.ws.close()

    run(go())


def test_status_pushed_on_change(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        body = json.dumps({"status": "cancel_only"}).encode()
        req = urllib.request.Request(kraken_venue.admin_url + "/faults", data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        await asyncio.to_thread(urllib.request.urlopen, req)
        m = await c.expect(lambda m: m.get("channel") == "status")
        assert m["data"][0]["system"] == "cancel_only"
        await c.ws.close()

    run(go())


__all__ = ["Client"]
