"""Futures WebSocket v1: connections, subscriptions, and the engine feed.

Engine events arrive from the bus inside the sequencer (any thread); each is
turned into Kraken messages at once, while the engine state they describe is
current.  Public book and trade messages are rendered once into their
product's `Topic` log (ws_common), read by each subscriber at its own cursor
(never conflated: a book delta carries a sequence number; a subscriber too far
behind is disconnected); private ones are queued on the account's
connections' bounded queues.  The hub's pump writes both in bounded slices.  Tickers are throttled to one per product per
second, as Kraken does; heartbeats follow a configurable interval.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from simulator.core.accounts import futures_access
from simulator.core.derivatives import FuturesEngine
from simulator.core.derivatives.events import (
    FAccountEvent,
    FBookEvent,
    FFillEvent,
    FMarketEvent,
    FNoticeEvent,
    FOrderEvent,
    FPositionEvent,
    FTradeEvent,
)
from simulator.core.derivatives.model import ContractSpec, FAccount
from simulator.core.ids import IdGenerator
from simulator.core.sequencer import JournalEntry, Sequencer
from simulator.gateways.futures_rest import render
from simulator.gateways.futures_rest.auth import sign_challenge
from simulator.gateways.futures_rest.render import JSON
from simulator.gateways.ws_common import LoopBound, QueuedConnection, Topic
from simulator.server.runtime import Runtime

from . import feeds

log = logging.getLogger("kraken_sim.futures_ws")

PUBLIC = frozenset({"ticker", "ticker_lite", "book", "trade", "heartbeat"})
PRIVATE = frozenset(
    {"open_orders", "open_orders_verbose", "fills", "balances", "open_positions", "account_log", "notifications_auth"}
)
ALIASES = {"open_position": "open_positions"}
AUTH_FAILED = "Failed to subscribe to authenticated feed"


@dataclass
class HubConfig:
    heartbeat_s: float = 5.0  # Kraken does not document it
    ticker_interval_s: float = 1.0  # one ticker per product per second [DOC]
    positions_interval_s: float = 1.0  # mark-driven open_positions/balances refreshes
    max_queue: int = 20000  # messages queued per connection before it is dropped
    max_message: int = 65536  # bytes of one client message
    # Kraken: 100 requests a second per connection; beyond it a request is refused
    rate_per_s: int = 100
    max_challenges: int = 8  # outstanding challenges one connection holds (the newest)
    max_api_key: int = 256  # bytes of an api_key a challenge is issued for (Kraken's keys are 88)


RATE_EXCEEDED = "Exceeded request rate"


class FuturesConn(QueuedConnection):
    """One client socket at /ws/v1 (in rt.connections as protocol futures_ws)."""

    protocol = "futures_ws"

    def __init__(self, hub: Hub, ws: WebSocket) -> None:
        self.hub = hub
        self.ws = ws
        self.id = hub.rt.new_connection_id("futures_ws")
        self.account_id: str | None = None
        self._init_output()
        self.closed = False
        self.challenges: dict[str, str] = {}  # challenge -> api key it was issued for
        self.public: dict[str, set[str]] = {}  # feed -> products ("" for heartbeat)
        self.private: dict[str, set[str] | None] = {}  # feed -> product filter (fills) or None
        self.pending: set[tuple[str, str]] = set()  # throttled (feed, product) still to send
        self.next_at: dict[tuple[str, str], float] = {}
        self.refresh_due = False  # mark moved: open_positions/balances to resend
        self.refresh_at = 0.0
        self.bal_seq = 0
        self.pos_seq = 0
        self.last_hb = time.monotonic()
        self.budget = float(hub.config.rate_per_s)  # token bucket: requests this second
        self.budget_at = time.monotonic()
        self.alerted_at = float("-inf")

    def admit(self) -> bool:
        """One request against the per-connection rate; refused ones are answered at
        most once a second, so a flood cannot fill the outgoing queue either."""
        rate = self.hub.config.rate_per_s
        now = time.monotonic()
        self.budget = min(float(rate), self.budget + (now - self.budget_at) * rate)
        self.budget_at = now
        if self.budget >= 1:
            self.budget -= 1
            return True
        if now - self.alerted_at >= 1.0:
            self.alerted_at = now
            self.send({"event": "alert", "message": RATE_EXCEEDED})
        return False

    # ------------------------------------------------------------ output
    def send(self, msg: dict[str, Any]) -> None:
        """Queue a reply or private message (any thread); overflowing the queue drops the client."""
        if self.enqueue(JSON.text(msg)) and not self.reader_flushes():  # the reader flushes after its own request
            self.hub.wake(self)

    # ------------------------------------------------------------ lifecycle
    async def serve(self) -> None:
        hub = self.hub
        await self.ws.accept()
        hub.bind_loop()
        with hub.lock:
            hub.conns.add(self)
        hub.rt.connections[self.id] = self
        self.send({"event": "info", "version": 1})
        try:
            while not self.closed:
                msg = await self.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    text = (msg.get("bytes") or b"").decode("utf-8", errors="replace")
                self.in_handle = True
                try:
                    with hub.inflight:
                        hub.handle(self, text)
                except Exception:  # noqa: BLE001 - one bad request must not end the session
                    log.exception("futures ws request failed")
                    self.send({"event": "alert", "message": "Bad websocket message"})
                finally:
                    self.in_handle = False
                self.flush()
        except Exception:  # noqa: BLE001 - disconnects surface here in several shapes
            pass
        finally:
            await self._cleanup()

    async def drop(self, code: int = 1001, reason: str = "") -> None:
        """Close from the venue side (admin fault, reset, shutdown)."""
        await self._close(code, reason)


class Hub(LoopBound):
    """All futures WS connections and the engine → feed fan-out."""

    def __init__(self, rt: Runtime, config: HubConfig | None = None) -> None:
        super().__init__(rt, config or HubConfig())
        self.lock = threading.RLock()
        self.conns: set[FuturesConn] = set()
        self.book_seq: dict[str, int] = {}
        self.topics: dict[tuple[str, str], Topic] = {}  # (book | trade, product) -> its stream
        self.ids = IdGenerator(rt.settings.seed ^ 0xC4A1)

    # --------------------------------------------------------------- plumbing
    @property
    def eng(self) -> FuturesEngine:
        return self.rt.venue.derivatives

    @property
    def seq(self) -> Sequencer:
        return self.rt.venue.derivatives_seq


    def forget(self, conn: FuturesConn) -> None:
        with self.lock:
            self.conns.discard(conn)
            for t in list(conn.cursors):
                self._leave(t, conn)

    def _join(self, feed: str, symbol: str, conn: FuturesConn) -> None:
        t = self.topics.get((feed, symbol))
        if t is None:
            t = self.topics[(feed, symbol)] = Topic()
        t.join(conn)

    def _leave(self, t: Topic, conn: FuturesConn) -> None:
        t.leave(conn)
        if not t.subs:
            for k, v in list(self.topics.items()):
                if v is t:
                    del self.topics[k]

    def on_reset(self) -> None:
        """The venue restarted: every connection is closed, sequences restart."""
        with self.lock:
            conns = list(self.conns)
            self.conns.clear()
            self.book_seq.clear()
            self.topics.clear()
        for c in conns:
            c.closed = True
            self.call_in_loop(self._drop_soon, c)

    def _drop_soon(self, c: FuturesConn) -> None:
        if self.loop is not None:
            self.loop.create_task(c.drop(1012, "venue reset"))

    # --------------------------------------------------------------- requests
    def handle(self, conn: FuturesConn, text: str) -> None:
        if not conn.admit():
            return
        if len(text) > self.config.max_message:
            conn.send({"event": "error", "message": "Json Error"})
            return
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send({"event": "error", "message": "Json Error"})
            return
        if not isinstance(msg, dict):
            conn.send({"event": "error", "message": "Json Error"})
            return
        event = msg.get("event")
        if event == "challenge":
            key = msg.get("api_key")
            if not isinstance(key, str) or not key or len(key) > self.config.max_api_key:
                conn.send({"event": "error", "message": "Json Error"})
                return
            challenge = self.ids.uuid()
            conn.challenges[challenge] = key
            while len(conn.challenges) > self.config.max_challenges:  # oldest first (dict order)
                del conn.challenges[next(iter(conn.challenges))]
            conn.send({"event": "challenge", "message": challenge})
            return
        if event not in ("subscribe", "unsubscribe"):
            conn.send({"event": "alert", "message": "Bad websocket message"})
            return
        feed = msg.get("feed")
        feed = ALIASES.get(feed, feed) if isinstance(feed, str) else None  # a list or object names no feed
        with self.seq.view(), self.lock:  # view time: the venue clock (commands only move it otherwise)
            if feed in PUBLIC:
                self._public(conn, event, feed, msg)
            elif feed in PRIVATE:
                self._private(conn, event, feed, msg)
            else:
                verb = "subscribe" if event == "subscribe" else "unsubscribe"
                conn.send({"event": "alert", "message": f"Couldn't {verb} to invalid feed"})

    def _products(self, conn: FuturesConn, event: str, raw: Any) -> list[ContractSpec] | None:
        verb = "subscribe" if event == "subscribe" else "unsubscribe"
        if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
            conn.send({"event": "alert", "message": "Bad websocket message"})
            return None
        out = []
        for p in raw:
            c = self.rt.venue.instruments.future(p)
            spec = self.eng.specs.get(c.symbol) if c is not None else None
            if spec is None or not spec.tradeable:
                conn.send({"event": "alert", "message": f"Couldn't {verb} to invalid product `{p}`"})
                return None
            out.append(spec)
        return out

    def _public(self, conn: FuturesConn, event: str, feed: str, msg: dict[str, Any]) -> None:
        if feed == "heartbeat":
            if event == "subscribe":
                conn.public["heartbeat"] = {""}
                conn.last_hb = time.monotonic()
            else:
                conn.public.pop("heartbeat", None)
            conn.send({"event": "subscribed" if event == "subscribe" else "unsubscribed", "feed": "heartbeat"})
            return
        specs = self._products(conn, event, msg.get("product_ids"))
        if specs is None:
            return
        syms = [s.symbol for s in specs]
        subs = conn.public.setdefault(feed, set())
        if event == "unsubscribe":
            subs.difference_update(syms)
            for s in syms:
                conn.pending.discard((feed, s))
                t = self.topics.get((feed, s))
                if t is not None:
                    self._leave(t, conn)
            conn.send({"event": "unsubscribed", "feed": feed, "product_ids": syms})
            return
        subs.update(syms)
        conn.send({"event": "subscribed", "feed": feed, "product_ids": syms})
        eng = self.eng
        now = eng.now_ns
        mono = time.monotonic()
        for spec in specs:
            if feed in ("ticker", "ticker_lite"):
                conn.send(feeds.ticker(eng, spec, now, lite=feed == "ticker_lite"))
                conn.next_at[(feed, spec.symbol)] = mono + self.config.ticker_interval_s
            elif feed == "book":
                seq = self.book_seq.setdefault(spec.symbol, 1)
                conn.send(feeds.book_snapshot(eng, spec, seq, now))
                self._join("book", spec.symbol, conn)  # the deltas after the snapshot
            elif feed == "trade":
                conn.send(feeds.trade_snapshot(eng, spec))
                self._join("trade", spec.symbol, conn)

    def _authorise(self, conn: FuturesConn, msg: dict[str, Any]) -> str | None:
        key_text = msg.get("api_key")
        challenge = msg.get("original_challenge")
        signed = msg.get("signed_challenge")
        if not all(isinstance(x, str) and x for x in (key_text, challenge, signed)):
            return None
        assert isinstance(key_text, str) and isinstance(challenge, str) and isinstance(signed, str)
        if conn.challenges.get(challenge) != key_text:
            return None
        key = self.rt.venue.accounts.key(key_text)
        if key is None or key.kind != "futures" or futures_access(key.permissions) == "none":
            return None
        if not hmac.compare_digest(sign_challenge(challenge, key.secret).encode(), signed.encode()):
            return None
        if conn.account_id is not None and conn.account_id != key.account_id:
            return None
        return key.account_id

    def _private(self, conn: FuturesConn, event: str, feed: str, msg: dict[str, Any]) -> None:
        account = self._authorise(conn, msg)
        if account is None:
            verb = "subscribe to" if event == "subscribe" else "unsubscribe from"
            conn.send(
                {
                    "event": "alert",
                    "message": AUTH_FAILED if event == "subscribe" else f"Failed to {verb} authenticated feed",
                }
            )
            return
        # the live venue acks private feeds without echoing the credentials back
        ack: dict[str, Any] = {"event": "subscribed" if event == "subscribe" else "unsubscribed", "feed": feed}
        if event == "unsubscribe":
            conn.private.pop(feed, None)
            conn.send(ack)
            return
        products: set[str] | None = None
        if feed == "fills" and msg.get("product_ids") is not None:
            specs = self._products(conn, event, msg.get("product_ids"))
            if specs is None:
                return
            products = {s.symbol for s in specs}
            ack["product_ids"] = sorted(products)
        conn.account_id = account
        conn.private[feed] = products
        conn.send(ack)
        eng = self.eng
        fa = eng.fa(account)
        now = eng.now_ns
        if feed in ("open_orders", "open_orders_verbose"):
            orders = sorted(fa.open.values(), key=lambda o: (o.created_ns, o.id))
            conn.send(
                {"feed": f"{feed}_snapshot", "account": account, "orders": [render.ws_order(o.snap()) for o in orders]}
            )
        elif feed == "fills":
            fills = [f for f in fa.fills if products is None or f.spec.symbol in products][-100:]
            conn.send(
                {"feed": "fills_snapshot", "account": account, "fills": [render.ws_fill(eng, f, False) for f in fills]}
            )
        elif feed == "balances":
            conn.bal_seq += 1
            conn.send(feeds.balances(eng, fa, conn.bal_seq - 1, now, snapshot=True))
        elif feed == "open_positions":
            conn.pos_seq += 1
            conn.send(feeds.positions(eng, fa, conn.pos_seq - 1, now))
        elif feed == "account_log":
            logs = list(fa.logs)[-100:]
            conn.send({"feed": "account_log_snapshot", "logs": [feeds.log_entry(eng, lg) for lg in reversed(logs)]})
        elif feed == "notifications_auth":
            conn.send({"feed": "notifications_auth", "notifications": list(eng.notifications)})

    # --------------------------------------------------------------- engine feed
    def on_entry(self, entry: JournalEntry) -> None:
        """Called inside the sequencer for every command (keep it short)."""
        if entry.engine != "futures" or not entry.events or not self.conns:
            return
        eng = self.eng
        with self.lock:
            conns = list(self.conns)
            if not conns:
                return
            touched: set[str] = set()  # accounts whose balances/positions changed
            moved: set[str] = set()  # contracts whose ticker changed
            market = False
            for ev in entry.events:
                if isinstance(ev, FBookEvent):
                    spec = eng.specs[ev.symbol]
                    seq = self.book_seq.get(ev.symbol, 1) + 1
                    self.book_seq[ev.symbol] = seq
                    t = self.topics.get(("book", ev.symbol))
                    if t is not None:
                        t.publish(JSON.text(feeds.book_delta(spec, ev.side, ev.price, ev.qty, seq, ev.ts)), self)
                    moved.add(ev.symbol)
                elif isinstance(ev, FTradeEvent):
                    t = self.topics.get(("trade", ev.trade.symbol))
                    if t is not None:
                        t.publish(JSON.text(feeds.trade(eng.specs[ev.trade.symbol], ev.trade)), self)
                    moved.add(ev.trade.symbol)
                elif isinstance(ev, FOrderEvent):
                    if ev.quiet:  # an order-entry step (FIX reports it), no feed's message
                        continue
                    o = ev.order
                    for c in conns:
                        if c.account_id != o.account_id:
                            continue
                        for feed in ("open_orders", "open_orders_verbose"):
                            if feed in c.private and (feed == "open_orders_verbose" or not ev.verbose_only):
                                c.send(feeds.order_update(feed, o, ev.reason, ev.is_cancel))
                elif isinstance(ev, FFillEvent):
                    f = ev.fill
                    msg: dict[str, Any] = {"feed": "fills", "username": f.account_id, "fills": [render.ws_fill(eng, f, True)]}
                    for c in conns:
                        flt = c.private.get("fills", set()) if "fills" in c.private else None
                        if (
                            c.account_id == f.account_id
                            and "fills" in c.private
                            and (flt is None or f.spec.symbol in flt)
                        ):
                            c.send(msg)
                elif isinstance(ev, FAccountEvent):
                    touched.add(ev.account_id)
                    if ev.log is not None:
                        msg = {"feed": "account_log", "new_entry": feeds.log_entry(eng, ev.log)}
                        for c in conns:
                            if c.account_id == ev.account_id and "account_log" in c.private:
                                c.send(msg)
                elif isinstance(ev, FPositionEvent):
                    touched.add(ev.account_id)
                elif isinstance(ev, FMarketEvent):
                    moved.add(ev.symbol)
                    market = True
                elif isinstance(ev, FNoticeEvent) and ev.name == "notification":
                    msg = {"feed": "notifications_auth", "notifications": [ev.data]}
                    for c in conns:
                        if "notifications_auth" in c.private:
                            c.send(msg)
            now = eng.now_ns
            for acct in touched:
                fa = eng.state.get(acct)
                if fa is not None:
                    self._send_account(conns, fa, now)
            for sym in moved:
                for feed in ("ticker", "ticker_lite"):
                    for c in conns:
                        if sym in c.public.get(feed, ()):
                            c.pending.add((feed, sym))
            if market:
                for c in conns:
                    if c.account_id is not None and ("balances" in c.private or "open_positions" in c.private):
                        c.refresh_due = True

    def _send_account(self, conns: list[FuturesConn], fa: FAccount, now: int) -> None:
        eng = self.eng
        for c in conns:
            if c.account_id != fa.id:
                continue
            if "balances" in c.private:
                c.send(feeds.balances(eng, fa, c.bal_seq, now, snapshot=False))
                c.bal_seq += 1
            if "open_positions" in c.private:
                c.send(feeds.positions(eng, fa, c.pos_seq, now))
                c.pos_seq += 1

    # --------------------------------------------------------------- periodic
    async def _background(self) -> None:
        """Throttled tickers, mark-driven position refreshes, heartbeats."""
        while True:
            await asyncio.sleep(0.05)
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - a feed bug must not stop the others
                log.exception("futures ws periodic failed")

    def _tick(self) -> None:
        if not self.conns or "futures" not in self.rt.venue.sequencers:
            return  # nobody listening, or the venue is being rebuilt
        mono = time.monotonic()
        cfg = self.config
        with self.seq.view() as eng, self.lock:
            now = eng.now_ns
            built: dict[tuple[str, str], dict[str, Any]] = {}  # one ticker per product per pass
            for c in list(self.conns):
                if c.closed:
                    continue
                if c.pending:
                    for feed, sym in list(c.pending):
                        if c.next_at.get((feed, sym), 0.0) <= mono:
                            c.pending.discard((feed, sym))
                            spec = eng.specs.get(sym)
                            if spec is not None:
                                msg = built.get((feed, sym))
                                if msg is None:
                                    msg = feeds.ticker(eng, spec, now, lite=feed == "ticker_lite")
                                    built[(feed, sym)] = msg
                                c.send(msg)
                            c.next_at[(feed, sym)] = mono + cfg.ticker_interval_s
                if c.refresh_due and c.refresh_at <= mono and c.account_id is not None:
                    c.refresh_due = False
                    c.refresh_at = mono + cfg.positions_interval_s
                    fa = eng.state.get(c.account_id)
                    if fa is not None:
                        self._send_account([c], fa, now)
                if "heartbeat" in c.public and mono - c.last_hb >= cfg.heartbeat_s:
                    c.last_hb = mono
                    c.send({"feed": "heartbeat", "time": now // 1_000_000})
