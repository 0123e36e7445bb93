"""Fan-out under load (issue 15, item 12): public streams are rendered once
into bounded topic logs, a subscriber behind gets them conflated (the book
still validates against its checksum), one that never reads is disconnected
instead of growing memory, and the pump never holds a request's next loop
hop for more than one bounded slice.  Deterministic constructions only
(counted sends and loop hops, never wall-clock timings: those are in
benchmarks/contention.py)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from simulator.gateways import spot_ws, ws_common
from simulator.gateways.ws_common import TOPIC_LOG, YIELD_CAP, Latest, LoopBound, QueuedConnection, Topic
from simulator.server.inflight import Inflight

from .book_replica import Replica
from .churn import churn, churn_accounts
from .helpers import mint as new_token
from .helpers import open_client, run


# ------------------------------------------------------------ fakes (no socket)
class _Config:
    max_queue = 50


class _Hub(LoopBound):
    def __init__(self) -> None:
        super().__init__(SimpleNamespace(services=SimpleNamespace(inflight=Inflight())), _Config())  # type: ignore[arg-type]
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.conns: set[Any] = set()
        self.bind_loop()

    async def _background(self) -> None:
        await asyncio.Event().wait()

    def on_entry(self, entry: Any) -> None:
        pass

    def on_reset(self) -> None:
        pass

    def forget(self, conn: Any) -> None:
        self.conns.discard(conn)


class _Ws:
    """A socket: `stuck` ones take one frame and then never drain."""

    def __init__(self, log: list[str], stuck: bool = False) -> None:
        self.log = log
        self.stuck = stuck
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None

    async def send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg["text"])
        self.log.append(msg["text"])
        if self.stuck:
            await asyncio.get_running_loop().create_future()  # the client never reads

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


class _Conn(QueuedConnection):
    protocol = "test"

    def __init__(self, hub: _Hub, ws: _Ws, name: str) -> None:
        self.hub = hub
        self.ws = ws
        self.id = name
        self.closed = False
        self._init_output()


class _Parked:
    """A subscriber whose socket never drains (it holds the log at its cursor)."""

    busy, closed, scheduled = True, False, False

    def __init__(self) -> None:
        self.cursors: dict[Topic, int] = {}


class _Numbered(Topic):
    __slots__ = ()


def _subscribed(n: int, ws: type[_Ws] | None = None) -> tuple[_Hub, list[str], Latest]:
    """A hub (on the running loop) and `n` connections subscribed to one topic;
    `wire` is every text sent, in order."""
    hub = _Hub()
    wire: list[str] = []
    topic = Latest()
    for i in range(n):
        topic.join(_Conn(hub, (ws or _Ws)(wire), f"c{i}"))
    return hub, wire, topic


async def _request_hops(wire: list[str]) -> list[int]:
    """A request's six loop hops (scheduled now): how many sends the wire had
    when each ran."""
    loop = asyncio.get_running_loop()
    hops: list[int] = []
    done = asyncio.Event()

    def hop(n: int) -> None:
        hops.append(len(wire))
        if n < 5:
            loop.call_soon(hop, n + 1)
        else:
            done.set()

    loop.call_soon(hop, 0)
    await done.wait()
    return hops


def test_a_subscriber_that_never_reads_is_dropped_and_memory_stays_bounded() -> None:
    async def go() -> None:
        hub = _Hub()
        wire: list[str] = []
        slow, fast = _Conn(hub, _Ws(wire, stuck=True), "slow"), _Conn(hub, _Ws(wire), "fast")
        book, trades = Latest(), _Numbered()
        for c in (slow, fast):
            book.join(c)
            trades.join(c)
        for i in range(3 * TOPIC_LOG):
            book.publish(f"b{i}", hub)
            trades.publish(f"t{i}", hub)
            if i < 10:
                slow.enqueue(f"private{i}")
            while any(cur < t.head for t, cur in fast.cursors.items()):  # a client that reads keeps up
                await asyncio.sleep(0)
            assert len(book.log) <= TOPIC_LOG and len(trades.log) <= TOPIC_LOG
            assert len(slow.queue) <= hub.config.max_queue
        for _ in range(100):
            await asyncio.sleep(0)
        # the stuck socket took one frame and then parked its connection; its cursor fell off the log
        assert slow.busy and len(slow.ws.sent) == 1
        assert slow.closed and slow.ws.closed_with == (1008, "slow consumer")
        # the other subscriber got every trade, in order, and the latest ticker
        assert [t for t in fast.ws.sent if t[0] == "t"] == [f"t{i}" for i in range(3 * TOPIC_LOG)]
        assert f"b{3 * TOPIC_LOG - 1}" in fast.ws.sent
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


def test_private_queue_overflow_disconnects_never_drops_silently(caplog: Any) -> None:
    async def go() -> None:
        hub = _Hub()
        c = _Conn(hub, _Ws([], stuck=True), "p")
        for i in range(hub.config.max_queue):
            assert c.enqueue(f"m{i}")
        assert not c.enqueue("one too many")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert c.closed and c.ws.closed_with == (1008, "slow consumer") and not c.queue
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())
    assert any("slow" in r.getMessage() for r in caplog.records)


def test_fan_out_to_1000_subscribers_yields_to_a_request_between_slices(monkeypatch: Any) -> None:
    """A request needing several loop hops (read, parse, submit, reply) while
    1000 subscribers have an update pending: before each hop the pump sends
    at most one slice, and the request path is never queued behind the fan-out
    (a slice is bounded by a count here: the time bound only shortens it)."""
    monkeypatch.setattr(ws_common, "SLICE_SENDS", 8)
    slice_sends = 8

    async def go() -> None:
        hub, wire, topic = _subscribed(1000)
        topic.publish("update", hub)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        with hub.inflight:  # what the HTTP protocol and the WS/FIX readers count
            hops = await _request_hops(wire)
        start = hops[0]
        assert all(b - a <= slice_sends for a, b in zip([start, *hops], hops, strict=False))
        assert hops[-1] - start <= slice_sends  # the pump deferred to the request's hops
        while len(wire) < 1000:  # and once the loop is free, everyone gets it
            await asyncio.sleep(0)
        assert sorted(wire) == ["update"] * 1000
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


def test_a_request_that_arrives_during_a_slice_is_read_before_the_next_one(monkeypatch: Any) -> None:
    """Bytes that reach a socket while a slice is sending are read (and the
    request counted in flight) before the pump's next slice: the turn that
    polls the sockets runs the pump's wake-up first, so the pump waits one
    more turn before it looks."""
    monkeypatch.setattr(ws_common, "SLICE_SENDS", 8)
    monkeypatch.setattr(ws_common, "LOADED_SLICE_S", 10.0)  # slices end by their count here, never by time
    monkeypatch.setattr(ws_common, "SLICE_MAX_S", 10.0)
    monkeypatch.setattr(ws_common, "SLICE_MIN_S", 10.0)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        client, server = socket.socketpair()
        server.setblocking(False)
        seen: list[int] = []

        class _Arriving(_Ws):
            async def send(self, msg: dict[str, Any]) -> None:
                await super().send(msg)
                if len(self.log) == 3:  # mid-slice: a client's request reaches the venue
                    client.send(b"x")

        def readable() -> None:  # the protocol's data_received: the request starts
            server.recv(16)
            seen.append(len(wire))
            hub.inflight.count += 1
            loop.call_later(0.01, lambda: setattr(hub.inflight, "count", hub.inflight.count - 1))

        hub, wire, topic = _subscribed(200, _Arriving)
        loop.add_reader(server.fileno(), readable)
        topic.publish("update", hub)
        while len(wire) < 200:
            await asyncio.sleep(0)
        loop.remove_reader(server.fileno())
        client.close()
        server.close()
        assert seen == [8]  # read right after the slice it arrived in, not after another one
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


def test_a_request_that_stays_in_flight_cannot_stall_the_fan_out(monkeypatch: Any) -> None:
    """The pump gives way to requests in flight for at most YIELD_CAP loop turns
    per slice: a request that waits for a long time (injected latency, a client
    that never finishes its body) slows the fan-out, never stops it."""
    monkeypatch.setattr(ws_common, "SLICE_SENDS", 8)

    async def go() -> None:
        hub, wire, topic = _subscribed(100)
        hub.inflight.count += 1  # a request that never ends
        topic.publish("update", hub)
        turns = 0
        while len(wire) < 100:
            await asyncio.sleep(0)
            turns += 1
        assert sorted(wire) == ["update"] * 100
        assert turns <= (100 // 8 + 2) * (YIELD_CAP + 2)  # each slice waited its cap, then ran
        assert turns > YIELD_CAP  # ...and did wait: the request went first
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


def test_a_wake_burst_over_1000_connections_yields_to_a_request(monkeypatch: Any) -> None:
    """A message queued for every connection at once (a heartbeat or ticker
    pass) is flushed in one bounded turn; the rest goes to the pump's slices,
    so a request's hops are never queued behind 1000 socket writes."""
    monkeypatch.setattr(ws_common, "SLICE_SENDS", 8)
    monkeypatch.setattr(ws_common, "FLUSH_CONNS", 8)

    async def go() -> None:
        hub = _Hub()
        wire: list[str] = []
        conns = [_Conn(hub, _Ws(wire), f"c{i}") for i in range(1000)]
        for c in conns:
            c.enqueue("hb")
            hub.wake(c)
        hops = await _request_hops(wire)
        assert all(b - a <= 8 for a, b in zip([0, *hops], hops, strict=False))
        while len(wire) < 1000:  # and once the loop is free, everyone gets it
            await asyncio.sleep(0)
        assert wire == ["hb"] * 1000 and not any(c.queue for c in conns)
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


def test_a_round_that_starts_behind_conflates_to_its_last_subscriber() -> None:
    """When a round starts with many subscribers waiting, every one of them
    gets the backlog conflated, the last few too (they used to get it one
    message at a time once fewer than LOAD_CONNS were left waiting)."""

    async def go() -> None:
        hub = _Hub()
        wire: list[str] = []
        conns = [_Conn(hub, _Ws(wire), f"c{i}") for i in range(2 * ws_common.LOAD_CONNS)]
        ticker = Latest()
        for c in conns:
            ticker.join(c)
        for i in range(10):
            ticker.publish(f"t{i}", hub)
        while any(cur < ticker.head for c in conns for cur in c.cursors.values()):
            await asyncio.sleep(0)
        assert [c.ws.sent for c in conns] == [["t9"]] * len(conns)
        hub._pump.cancel()  # type: ignore[union-attr]

    asyncio.run(go())


# ------------------------------------------------------- book conflation (real engine)
def test_conflated_book_updates_validate_against_the_client_book(kraken_venue: Any) -> None:
    """Every way of cutting the logged updates into sent-one-by-one then
    conflated-into-one leaves a client replica whose checksum validates and
    whose levels are the engine's."""
    accts = churn_accounts(kraken_venue)
    rt = kraken_venue.runtime

    async def go() -> None:
        c = await open_client(kraken_venue.spot_ws)
        await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        snap = await c.expect(lambda m: m.get("channel") == "book")
        g = kraken_venue.call(lambda: next(g for k, g in spot_ws.hub(rt).books.items() if k[1] == 10))
        # a parked subscriber holds the log from here (the log keeps what is owed)
        parked = _Parked()
        start = kraken_venue.call(lambda: (g.join(parked), g.head)[1])
        churn(kraken_venue, accts, 600, seed=7)
        entries = kraken_venue.call(lambda: [g.log[i - g.base] for i in range(start, g.head)])
        kraken_venue.call(lambda: g.leave(parked))
        assert len(entries) > 100
        want_bids = kraken_venue.call(lambda: rt.venue.spot.books["XXBTZUSD"].l2("buy", 10))
        want_asks = kraken_venue.call(lambda: rt.venue.spot.books["XXBTZUSD"].l2("sell", 10))
        rng = random.Random(1)
        cuts = sorted({0, len(entries) - 2, *(rng.randrange(len(entries)) for _ in range(40))})
        for cut in cuts:
            rep = Replica(10)
            rep.apply(snap)
            for e in entries[:cut]:
                if e.text:
                    rep.apply(json.loads(e.text, parse_float=Decimal))
            for a, b in ((cut, len(entries)), (cut, (cut + len(entries)) // 2)):
                r2 = Replica(10)
                r2.bids, r2.asks = dict(rep.bids), dict(rep.asks)
                text = g.merge(entries[a:b]) if b > a else None
                if text is not None:
                    r2.apply(json.loads(text, parse_float=Decimal))  # asserts the checksum
                if b == len(entries):
                    assert r2.levels("bids") == [(Decimal(p).scaleb(-1), Decimal(q).scaleb(-8)) for p, q in want_bids]
                    assert r2.levels("asks") == [(Decimal(p).scaleb(-1), Decimal(q).scaleb(-8)) for p, q in want_asks]
        await c.ws.close()

    run(go())


def test_a_parked_book_subscriber_is_resynced_once_then_dropped(kraken_venue: Any) -> None:
    """A book subscriber whose socket stays full while the log moves past its
    cursor gets one fresh snapshot (it rebuilds its book, as after subscribing);
    falling off again before its socket drained, it is disconnected: its
    memory is one snapshot, never the whole backlog."""
    accts = churn_accounts(kraken_venue)
    rt = kraken_venue.runtime

    async def go() -> None:
        c = await open_client(kraken_venue.spot_ws)
        await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        await c.expect(lambda m: m.get("channel") == "book")
        hub = spot_ws.hub(rt)
        g = kraken_venue.call(lambda: next(g for k, g in hub.books.items() if k[1] == 10))
        parked = _Conn(hub, _Ws([], stuck=True), "parked")

        def park() -> None:
            g.join(parked)
            parked.busy = True  # its socket is full

        kraken_venue.call(park)
        n = 0
        while not kraken_venue.call(lambda: parked.queue or parked.closed) and n < 40:
            churn(kraken_venue, accts, 400, seed=n)  # the log moves on past its cursor
            await asyncio.sleep(0.05)  # the pump's next round finds it off the log
            n += 1
        snap = kraken_venue.call(lambda: list(parked.queue))
        assert len(snap) == 1 and '"type":"snapshot"' in snap[0] and not parked.closed
        assert kraken_venue.call(lambda: g.head - parked.cursors[g] < TOPIC_LOG)
        while not parked.closed and n < 80:
            churn(kraken_venue, accts, 400, seed=n)
            await asyncio.sleep(0.05)
            n += 1
        assert parked.closed and not parked.queue  # dropped, nothing held for it
        await c.ws.close()

    run(go())


def test_a_ws_request_counts_in_flight_while_its_handler_runs(kraken_venue: Any) -> None:
    """The WS reader counts a message in `Inflight` (what the pump gives way to)
    while its handler runs, here held by injected latency, and never after."""
    inflight = kraken_venue.runtime.services.inflight
    acct = kraken_venue.admin.create_account({"USD": "100000"})["account_id"]
    token = new_token(kraken_venue, acct)

    def count() -> int:
        return int(kraken_venue.call(lambda: inflight.count))

    async def go() -> list[int]:
        c = await open_client(kraken_venue.spot_ws_auth)
        seen = [count()]
        await c.send({"method": "add_order", "req_id": 7, "params": {
            "order_type": "limit", "side": "buy", "order_qty": 0.001, "limit_price": 1000, "symbol": "BTC/USD",
            "token": token}})
        await asyncio.sleep(0.2)  # inside the 0.5 s the handler waits
        seen.append(await asyncio.to_thread(count))
        reply = await c.reply("add_order", 7)
        assert reply["success"], reply
        seen.append(count())
        await c.ws.close()
        return seen

    kraken_venue.admin.faults(latency_ms={"ws": [500, 500]})
    try:
        assert run(go()) == [0, 1, 0]
    finally:
        kraken_venue.admin.faults(latency_ms={"ws": None})
