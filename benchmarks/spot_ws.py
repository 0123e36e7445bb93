"""Spot WS v2 throughput, beside a bare Starlette/uvicorn WebSocket baseline.

    python -m benchmarks.spot_ws [--seconds 3]

1. Book fan-out: 20 clients subscribed to BTC/USD `book` while the engine is
   kept busy (orders added and cancelled at the top of the book, each one a
   book update); figure = messages delivered per second to all 20 together.
   Baseline: the same 20 clients on a bare endpoint that just sends a
   pre-encoded frame in a loop.
2. add_order -> ack round trips per second on one auth connection (sequential).
   Baseline: echo round trips on a bare endpoint.

Clients run in a separate process so the server keeps its own interpreter.
The server's resident memory is printed before and after the fan-out phase
(a fan-out that cannot keep up must conflate or drop, never grow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import threading
import time
from decimal import Decimal
from typing import Any

N_SUBS = 20


def rss_mb() -> float:
    """This process's resident memory (the venue runs in it), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
FRAME = json.dumps({"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [{"price": 91414.5, "qty": 0.25}], "asks": [], "checksum": 1, "timestamp": "2026-01-01T00:00:00.000000Z"}]})  # fmt: skip


# ------------------------------------------------------------------ clients
async def _count(url: str, n: int, seconds: float, subscribe: dict[str, Any] | None) -> int:
    from websockets.asyncio.client import connect

    conns = [await connect(url, max_size=None, ping_interval=None, close_timeout=0.5) for _ in range(n)]
    for c in conns:
        if subscribe is not None:
            await c.send(json.dumps(subscribe))
    await asyncio.sleep(0.5)  # acks and snapshots
    drain_until = time.monotonic() + 1.0
    for c in conns:
        while time.monotonic() < drain_until:
            try:
                await asyncio.wait_for(c.recv(), 0.05)
            except TimeoutError:
                break
    counts = [0] * n
    stop = time.monotonic() + seconds

    async def reader(i: int, c: Any) -> None:
        while time.monotonic() < stop:
            try:
                await asyncio.wait_for(c.recv(), max(0.01, stop - time.monotonic()))
                counts[i] += 1
            except TimeoutError:
                return

    await asyncio.gather(*(reader(i, c) for i, c in enumerate(conns)))
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return sum(counts)


async def _round_trips(url: str, seconds: float, make: Any) -> int:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, ping_interval=None) as c:
        first = json.loads(await c.recv()) if "echo" not in url else None
        del first
        n = 0
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            msg, want = make(n)
            await c.send(msg)
            while True:
                reply = await c.recv()
                if want is None or want in reply:
                    break
            n += 1
        return n


def _client_proc(kind: str, url: str, seconds: float, extra: Any, out: Any) -> None:
    if kind == "fanout":
        out.put(asyncio.run(_count(url, N_SUBS, seconds, extra)))
    elif kind == "echo":
        out.put(asyncio.run(_round_trips(url, seconds, lambda i: (f'{{"method":"ping","req_id":{i}}}', None))))
    else:
        tok = extra

        def make(i: int) -> tuple[str, str]:
            params = {"order_type": "limit", "side": "buy", "order_qty": 0.001, "limit_price": 50000.0 + (i % 500) / 10,
                      "symbol": "BTC/USD", "token": tok}  # fmt: skip
            method = "add_order" if i % 50 else "cancel_all"
            if method == "cancel_all":
                params = {"token": tok}
            return json.dumps({"method": method, "params": params, "req_id": i}), f'"req_id":{i},'

        out.put(asyncio.run(_round_trips(url, seconds, make)))


def _in_process(kind: str, url: str, seconds: float, extra: Any = None) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_client_proc, args=(kind, url, seconds, extra, q))
    p.start()
    return p, q


# ------------------------------------------------------------------ servers
def _bare_server() -> tuple[str, Any]:
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def flood(ws: WebSocket) -> None:
        await ws.accept()
        try:
            n = 0
            while True:
                await ws.send({"type": "websocket.send", "text": FRAME})
                n += 1
                if n % 64 == 0:
                    await asyncio.sleep(0)  # let other connections be served
        except Exception:  # noqa: BLE001 - client left
            return

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                m = await ws.receive()
                if m["type"] == "websocket.disconnect":
                    return
                await ws.send({"type": "websocket.send", "text": m.get("text") or ""})
        except Exception:  # noqa: BLE001
            return

    app = Starlette(routes=[WebSocketRoute("/flood", flood), WebSocketRoute("/echo", echo)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # the venue's WS settings (no permessage-deflate): compression is not what is compared
    cfg = uvicorn.Config(app, log_level="error", lifespan="off", ws_ping_interval=None, ws_per_message_deflate=False)
    server = uvicorn.Server(cfg)
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    return f"ws://127.0.0.1:{port}", server


def _busy_engine(venue: Any, stop: threading.Event, accts: list[str]) -> int:
    """Keep the engine busy: add and cancel at the best bid (each a top-of-book change)."""
    from simulator.core.commands import OrderRequest
    from simulator.core.orders import Origin

    rt = venue.runtime
    origin = Origin("admin", "bench")
    done = 0
    i = 0

    def batch() -> int:
        nonlocal i
        seq = rt.venue.spot_seq
        for _ in range(100):
            i += 1
            acct = accts[i % len(accts)]
            req = OrderRequest("BTC/USD", "buy", "limit", Decimal("0.01") + Decimal(i % 7) / 1000, Decimal("91414.5"))
            res = seq.submit("add_order", origin, {"account_id": acct, "req": req})
            seq.submit("cancel_order", origin, {"account_id": acct, "order_id": res.order.id})
        return 200

    while not stop.is_set():
        done += venue.call(batch)
        time.sleep(0.001)
    return done


def _backlog(rt: Any) -> str:
    """What the spot WS hub holds for its clients: queued messages, logged feed messages."""
    hub = rt.services.spot_ws
    if hub is None:
        return "-"
    queued = sum(len(c.queue) for c in list(hub.conns))
    logged = sum(len(getattr(g, "log", ())) for g in hub.books.values())
    return f"{queued} queued, {logged} in the book topics' logs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    secs = args.seconds

    from simulator.pytest_plugin import start_venue

    base, bare = _bare_server()
    p, q = _in_process("fanout", base + "/flood", secs)
    bare_fan = q.get()
    p.join()
    p, q = _in_process("echo", base + "/echo", secs)
    bare_rt = q.get()
    p.join()
    bare.should_exit = True

    tv, venue = start_venue()
    try:
        accts = []
        for _ in range(2):
            a = venue.admin.create_account({"USD": "1000000000", "XBT": "1000"})["account_id"]
            venue.admin.request("POST", f"/accounts/{a}/tier", {"rate_limits": False})
            accts.append(a)
        sub = {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}}
        p, q = _in_process("fanout", venue.spot_ws, secs, sub)
        stop = threading.Event()
        cmds: list[int] = []
        driver = threading.Thread(target=lambda: cmds.append(_busy_engine(venue, stop, accts)))
        time.sleep(1.2)  # clients connected and subscribed
        rss0 = rss_mb()
        t0 = time.monotonic()
        driver.start()
        sim_fan = q.get()
        stop.set()
        driver.join()
        elapsed = time.monotonic() - t0
        backlog = venue.call(lambda: _backlog(venue.runtime))
        p.join()
        rss1 = rss_mb()
        tok = venue.call(lambda: venue.runtime.services.ws_tokens.mint(accts[0]).token)
        p, q = _in_process("orders", venue.spot_ws_auth, secs, tok)
        sim_rt = q.get()
        p.join()
    finally:
        tv.stop()

    print(f"book fan-out to {N_SUBS} subscribers, engine busy ({cmds[0] / elapsed:,.0f} commands/s):")
    print(f"  kraken-sim : {sim_fan / secs:>10,.0f} messages/s delivered")
    print(f"  bare ws    : {bare_fan / secs:>10,.0f} messages/s (pre-encoded frame in a loop)")
    print(f"  server RSS : {rss0:,.0f} MB before, {rss1:,.0f} MB after; outbound backlog at the end: {backlog}")
    print("round trips on one connection:")
    print(f"  kraken-sim add_order->ack : {sim_rt / secs:>8,.0f} /s")
    print(f"  bare echo                 : {bare_rt / secs:>8,.0f} /s  ({100 * sim_rt / max(bare_rt, 1):.0f}% of bare)")


if __name__ == "__main__":
    main()
