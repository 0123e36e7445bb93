"""Playing recorded market data into the venue (see docs/replay.md).

Recorded trades become real orders that cross on the book: the replay maker
rests the passive side (post-only) and the replay taker sends an IOC at the
same price, so the trade prints through the engine and every feed.  Two
accounts, because Kraken's self-trade prevention is always on.  L2 snapshots
become the replay maker's resting book (diffed, so unchanged levels keep
their queue position).

Time is venue time: a record `offset` after the first plays at
`start + offset / speed`; `speed=None` ("max") plays as fast as the server
can, at whatever the venue clock says.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulator.core.commands import OrderRequest
from simulator.core.errors import EngineError
from simulator.core.instruments import SpotPair
from simulator.core.orders import BUY, IOC, SELL, Origin
from simulator.core.recording import BookRecord, Record, TradeRecord
from simulator.core.venue import Venue

from .market import dec_price, dec_qty, price_units, qty_lots

PUMP_LIMIT = 5000  # records per catch-up call (a huge jump finishes over several calls)


@dataclass(eq=False)
class PlaybackRun:
    """One file being played into one instrument."""

    venue: Venue
    pair: SpotPair
    records: list[Record]
    speed: Decimal | None  # None: as fast as the server can ("max")
    maker: str  # the replay maker account (rests the passive side)
    taker: str  # the replay taker account (crosses with an IOC)
    start_ns: int
    file: str = ""
    clear_account: str | None = None
    pos: int = 0
    trades_played: int = 0
    books_played: int = 0
    prints: int = 0  # engine trades the replay caused
    skipped: int = 0  # records that could not become orders (below the minimum)
    rejects: Counter[str] = field(default_factory=Counter)
    stopped: bool = False

    def __post_init__(self) -> None:
        if self.speed is not None and self.speed <= 0:
            raise ValueError("speed must be positive or 'max'")

    @property
    def done(self) -> bool:
        return self.stopped or self.pos >= len(self.records)

    @property
    def lock(self) -> AbstractContextManager[Any]:
        return self.venue.spot_seq.exclusive()

    def due_ns(self, rec: Record) -> int:
        if self.speed is None:
            return self.start_ns
        return self.start_ns + int(Decimal(rec.offset_ns) / self.speed)

    def pump(self, now_ns: int | None, limit: int = PUMP_LIMIT) -> int:
        """Play records due by `now_ns` (every remaining one in max mode, up to `limit`)."""
        n = 0
        while n < limit:
            with self.lock:  # claim one record atomically (any thread may pump)
                if self.done:
                    break
                rec = self.records[self.pos]
                if self.speed is not None:
                    if now_ns is None:
                        break
                    ts: int | None = self.due_ns(rec)
                    if ts is None or ts > now_ns:
                        break
                else:
                    ts = None  # as fast as possible: stamped with the venue clock's now
                self.pos += 1
                self._play(rec, ts)
            n += 1
        return n

    # -------------------------------------------------------------- playing
    def _submit(self, kind: str, account: str, role: str, params: dict[str, Any], ts: int | None) -> Any:
        try:
            return self.venue.spot_seq.submit(kind, Origin("bot", f"replay:{role}", account), params, ts=ts)
        except EngineError as exc:
            self.rejects[exc.text] += 1
            return None

    def _play(self, rec: Record, ts: int | None) -> None:
        if self.clear_account is not None:
            self._submit("cancel_all", self.clear_account, "clear-seed", {"account_id": self.clear_account, "pair": self.pair.id}, ts)
            self.clear_account = None
        before = len(self.venue.spot.trades[self.pair.id])
        if isinstance(rec, TradeRecord):
            self._trade(rec, ts)
        elif isinstance(rec, BookRecord):
            self._book(rec, ts)
        self.prints += len(self.venue.spot.trades[self.pair.id]) - before

    def _trade(self, rec: TradeRecord, ts: int | None) -> None:
        pair = self.pair
        price = price_units(pair, rec.price)
        lots = qty_lots(pair, rec.qty)
        if lots < max(pair.ordermin_lots, 1):
            self.skipped += 1
            return
        self.trades_played += 1
        p, q = dec_price(pair, price), dec_qty(pair, lots)
        passive = SELL if rec.side == BUY else BUY
        # the trade says the market is here now: the replay's own snapshot levels
        # on the far side of it are stale and would block the passive order
        for o in list(self.venue.spot.open_orders.get(self.maker, {}).values()):
            if o.pair is pair and o.in_book and o.side == rec.side and o.price is not None and (
                o.price <= price if rec.side == SELL else o.price >= price
            ):
                self._submit("cancel_order", self.maker, "maker", {"account_id": self.maker, "order_id": o.id}, ts)
        res = self._submit(
            "add_order", self.maker, "maker",
            {"account_id": self.maker, "req": OrderRequest(pair.id, passive, "limit", q, p, post_only=True)}, ts,
        )
        self._submit(
            "add_order", self.taker, "taker",
            {"account_id": self.taker, "req": OrderRequest(pair.id, rec.side, "limit", q, p, tif=IOC)}, ts,
        )
        order = getattr(res, "order", None)
        if order is not None and order.is_open:
            # better-priced liquidity took the taker first: leave nothing behind
            self._submit("cancel_order", self.maker, "maker", {"account_id": self.maker, "order_id": order.id}, ts)

    def _book(self, rec: BookRecord, ts: int | None) -> None:
        pair = self.pair
        self.books_played += 1
        want: dict[tuple[str, int], int] = {}
        for side, levels in ((BUY, rec.bids), (SELL, rec.asks)):
            for level_price, level_qty in levels:
                lots = qty_lots(pair, level_qty)
                if lots >= max(pair.ordermin_lots, 1):
                    want[(side, price_units(pair, level_price))] = lots
        have = [o for o in self.venue.spot.open_orders.get(self.maker, {}).values() if o.pair is pair and o.in_book]
        kept: set[tuple[str, int]] = set()
        for o in have:
            key = (o.side, o.price or 0)
            if want.get(key) == o.remaining and key not in kept:
                kept.add(key)
            else:
                self._submit("cancel_order", self.maker, "maker", {"account_id": self.maker, "order_id": o.id}, ts)
        for (side, price), lots in want.items():
            if (side, price) in kept:
                continue
            req = OrderRequest(pair.id, side, "limit", dec_qty(pair, lots), dec_price(pair, price), post_only=True)
            self._submit("add_order", self.maker, "maker", {"account_id": self.maker, "req": req}, ts)

    def stop(self) -> None:
        """Stop playing and take the replay's resting orders away."""
        with self.lock:
            self.stopped = True
            for acct, role in ((self.maker, "maker"), (self.taker, "taker")):
                self._submit("cancel_all", acct, role, {"account_id": acct, "pair": self.pair.id}, None)

    def status(self) -> dict[str, Any]:
        return {
            "symbol": self.pair.symbol,
            "pair": self.pair.id,
            "file": self.file,
            "speed": "max" if self.speed is None else str(self.speed),
            "records": len(self.records),
            "played": self.pos,
            "trades_played": self.trades_played,
            "books_played": self.books_played,
            "prints": self.prints,
            "skipped": self.skipped,
            "rejects": dict(self.rejects),
            "done": self.done,
            "stopped": self.stopped,
            "start_ns": self.start_ns,
            "accounts": {"maker": self.maker, "taker": self.taker},
        }


__all__ = ["PUMP_LIMIT", "PlaybackRun"]
