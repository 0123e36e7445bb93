"""The spot WS hub: every live connection, every subscription index, and the
engine feed.

`on_entry` runs inside the sequencer (under its lock) for each journal entry:
it turns the entry's events into messages, renders each public message once
per channel and symbol into that stream's `Topic` log (O(1) in the number of
subscribers), and queues private ones (executions, balances: per account,
never conflated) on their connections.  The hub's pump (ws_common) puts them
on the wire in bounded slices.  Nothing here awaits, so a slow client never
holds up the engine or another client's order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.core.events import BalanceEvent, BookEvent, NoticeEvent, OrderEvent, TradeEvent
from simulator.gateways.jsonw import dumps
from simulator.gateways.ws_common import Latest, LoopBound

from .channels.book import BookGroup
from .channels.level3 import L3Group
from .channels.market import BatchFeed, bbo, interval_ns, ohlc_update, ticker_data, ticker_message, trade_update
from .executions import (
    STATUS_ONLY,
    BalanceSub,
    ExecSub,
    ledger_updates,
    ratecount_token,
    reports_for,
)

if TYPE_CHECKING:
    from simulator.core.sequencer import JournalEntry
    from simulator.server.runtime import Runtime

    from .connection import WsConnection

log = logging.getLogger("kraken_sim.spot_ws")
HEARTBEAT = '{"channel":"heartbeat"}'
API_VERSION = "2.0.10"


@dataclass
class HubConfig:
    """Knobs tests and scenarios may turn (defaults follow Kraken)."""

    idle_timeout_s: float = 60.0  # close after this long with nothing received
    heartbeat_s: float = 1.0
    max_queue: int = 20_000  # messages waiting for a client; beyond it the client is dropped
    max_frame: int = 65_536  # larger text frames are refused with an error reply
    msg_rate: float = 10_000.0  # per-connection request budget (token bucket)
    msg_burst: float = 20_000.0
    batch_cancel_shape: str = "observed"  # "observed": top-level orders_cancelled; "documented": result.count
    malformed_text: str = "Malformed request"


class Hub(LoopBound):
    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, HubConfig())
        self.conns: set[WsConnection] = set()
        self.conn_ids = random.Random(rt.settings.seed ^ 0x5EED)
        self.clear()

    def clear(self) -> None:
        """Forget every subscription (a reset replaced the engines)."""
        self.books: dict[tuple[str, int], BookGroup] = {}
        self.l3: dict[tuple[str, int], L3Group] = {}
        self.tickers: dict[str, dict[str, Latest]] = {}
        self.bbo: dict[str, tuple[int, int, int, int]] = {}
        self.trades: dict[str, BatchFeed] = {}
        self.ohlc: dict[tuple[str, int], BatchFeed] = {}
        self.instrument: set[WsConnection] = set()
        self.execs: dict[str, set[ExecSub]] = {}
        self.balances: dict[str, set[BalanceSub]] = {}

    # ------------------------------------------------------------- plumbing
    @property
    def lock(self) -> Any:
        """The spot sequencer held: subscription changes and the feed never interleave."""
        return self.rt.venue.spot_seq.exclusive()

    def status_message(self, conn_id: int) -> str:
        status = self.rt.venue.spot.status
        return dumps(
            {
                "channel": "status",
                "type": "update",
                "data": [{"api_version": "v2", "connection_id": conn_id, "system": status, "version": API_VERSION}],
            }
        )

    async def _background(self) -> None:
        """Heartbeats for quiet subscribed connections; the idle timeout."""
        while True:
            await asyncio.sleep(min(self.config.heartbeat_s, 0.25))
            now = time.monotonic()
            cfg = self.config
            for c in list(self.conns):
                if c.closed:
                    continue
                if now - c.last_recv > cfg.idle_timeout_s:
                    self.loop.create_task(c.drop(1001, "idle timeout"))  # type: ignore[union-attr]
                    continue
                if c.subs and now - c.last_send >= cfg.heartbeat_s and not c.queue and not c.busy:
                    c.last_send = now
                    c.send(HEARTBEAT)

    def on_reset(self) -> None:
        """Kraken-side restart: every connection is closed; state is rebuilt."""
        with self.lock:
            conns = list(self.conns)
            self.clear()
            for c in conns:
                c.subs.clear()
                c.cursors.clear()
        for c in conns:
            self.call_in_loop(self._drop_soon, c)

    def _drop_soon(self, c: WsConnection) -> None:
        if self.loop is not None:
            self.loop.create_task(c.drop(1001, "venue reset"))

    def forget(self, conn: WsConnection) -> None:
        """A connection went away: remove it from every index."""
        with self.lock:
            self.conns.discard(conn)
            for key, g in list(self.books.items()):
                g.leave(conn)
                if not g.subs:
                    del self.books[key]
            for key3, g3 in list(self.l3.items()):
                g3.leave(conn)
                if not g3.subs:
                    del self.l3[key3]
            for pid, by in list(self.tickers.items()):
                for s in by.values():
                    s.leave(conn)
                if not any(by.values()):
                    del self.tickers[pid]
            for pid2, s2 in list(self.trades.items()):
                s2.leave(conn)
                if not s2:
                    del self.trades[pid2]
            for k, s3 in list(self.ohlc.items()):
                s3.leave(conn)
                if not s3:
                    del self.ohlc[k]
            self.instrument.discard(conn)
            for acct, subs in list(self.execs.items()):
                for es in [x for x in subs if x.conn is conn]:
                    subs.discard(es)
                if not subs:
                    del self.execs[acct]
            for acct2, bsubs in list(self.balances.items()):
                for bs in [x for x in bsubs if x.conn is conn]:
                    bsubs.discard(bs)
                if not bsubs:
                    del self.balances[acct2]

    @staticmethod
    def fan_out(subs: Any, text: str) -> None:
        for c in subs:
            c.send(text)

    # ----------------------------------------------------------------- feed
    def on_entry(self, entry: JournalEntry) -> None:
        if entry.engine != "spot" or not self.conns:
            return
        events = entry.events
        if not events:
            return
        eng = self.rt.venue.spot
        ts = entry.ts
        book_sides: dict[str, set[str]] = {}
        trades: dict[str, list[TradeEvent]] = {}
        accounts: set[str] = set()
        balance_accounts: set[str] = set()
        for ev in events:
            t = type(ev)
            if t is BookEvent:
                book_sides.setdefault(ev.pair_id, set()).add(ev.side)
            elif t is TradeEvent:
                trades.setdefault(ev.pair_id, []).append(ev)
            elif t is OrderEvent:
                accounts.add(ev.order.account_id)
            elif t is BalanceEvent:
                balance_accounts.add(ev.account_id)
            elif t is NoticeEvent and ev.name == "system_status":
                for c in list(self.conns):
                    c.send(self.status_message(c.connection_id))
        if self.books:
            for (pid, _d), g in self.books.items():
                sides = book_sides.get(pid)
                if sides:
                    up = g.update(eng.books[pid], ts, "buy" in sides, "sell" in sides)
                    if up is not None:
                        g.publish(up, self)
        if self.l3:
            for (pid, _d3), g3 in self.l3.items():
                if pid in book_sides:
                    msg = g3.update(eng.books[pid], ts)
                    if msg is not None:
                        g3.publish(msg, self)
        if self.tickers:
            for pid, by in self.tickers.items():
                book = eng.books[pid]
                if pid in trades and by["trades"]:
                    by["trades"].publish(ticker_message("update", self.ticker(pid, ts)), self)
                if pid in book_sides and by["bbo"]:
                    now = bbo(book)
                    if now != self.bbo.get(pid):
                        self.bbo[pid] = now
                        by["bbo"].publish(ticker_message("update", self.ticker(pid, ts)), self)
        if self.trades:
            for pid, tl in trades.items():
                feed = self.trades.get(pid)
                if feed:
                    feed.publish(trade_update(eng.instruments.pairs[pid], tl), self)
        if self.ohlc and trades:
            for (pid, minutes), subs in self.ohlc.items():
                ptl = trades.get(pid)
                if not ptl:
                    continue
                span = interval_ns(minutes)
                series = eng.market.candles(pid, minutes * 60, eng.trades[pid])
                pair = eng.instruments.pairs[pid]
                for begin in dict.fromkeys(tr.ts - tr.ts % span for tr in ptl):  # the candles these trades touched
                    candle = series.candles[series.index_at(begin)]
                    subs.publish(ohlc_update(pair, candle, minutes, ts), self)
        if self.execs and accounts:
            wanted = accounts & self.execs.keys()
            if wanted:
                reps = reports_for(eng, events, wanted)
                limits = self.rt.venue.limits
                for acct, rows in reps.items():
                    for sub in self.execs[acct]:
                        for pid, rep in rows:
                            if not sub.order_status and rep["exec_type"] not in STATUS_ONLY:
                                continue
                            data = rep
                            if sub.ratecounter:
                                data = dict(rep)
                                data["ratecount"] = ratecount_token(limits.spot_trade_counter(acct, pid))
                            sub.conn.send(
                                dumps(
                                    {
                                        "channel": "executions",
                                        "type": "update",
                                        "data": [data],
                                        "sequence": sub.next_seq(),
                                    }
                                )
                            )
        if self.balances and balance_accounts:
            wanted2 = balance_accounts & self.balances.keys()
            if wanted2:
                for acct, rows2 in ledger_updates(eng, events, wanted2).items():
                    for bsub in self.balances[acct]:
                        bsub.conn.send(
                            dumps({"channel": "balances", "type": "update", "data": rows2, "sequence": bsub.next_seq()})
                        )

    def ticker(self, pid: str, now: int) -> dict[str, Any]:
        """The ticker of one pair now (statistics kept by the core)."""
        eng = self.rt.venue.spot
        tk = eng.market.ticker(pid, eng.trades[pid], now)
        return ticker_data(eng.instruments.pairs[pid], eng.books[pid], tk, now)


__all__ = ["Hub", "HubConfig", "HEARTBEAT", "OrderEvent"]
