"""Market data derived from the venue's own state: ticker statistics and OHLC
candles (computed in `simulator.core.marketdata`), public trades from
`spot.trades`, spreads from book changes, and asset valuation (TradeBalance,
Earn) from the same prices.

Reads only; always through `rt.venue` (a reset replaces the engine)."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from decimal import Decimal
from typing import Any

from simulator.core.clock import NS_PER_S
from simulator.core.events import TradeEvent
from simulator.core.instruments import SpotPair
from simulator.core.marketdata import Window

OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
OHLC_ROWS = 720  # committed candles; the forming one comes on top
SPREAD_ROWS = 200


def _ts(t: TradeEvent) -> int:
    return t.ts


def vwap(w: Window, pair: SpotPair) -> Decimal:
    """The exact volume-weighted price of a window (0 when it had no trades)."""
    if not w.volume:
        return Decimal(0)
    return (Decimal(w.notional) / w.volume).scaleb(-pair.pair_decimals)


def ohlc(
    engine: Any, pair: SpotPair, interval_min: int, now_ns: int, since_s: int | None
) -> tuple[list[tuple[int, int, int, int, int, int, int, int]], int]:
    """Candles [(time, o, h, l, c, volume, notional, count)] and Kraken's `last`.

    Up to 720 committed candles plus the forming one, gaps filled with the
    previous close (as Kraken does); `since` is exclusive."""
    iv = interval_min * 60
    cur = (now_ns // NS_PER_S) // iv * iv
    series = engine.market.candles(pair.id, iv, engine.trades[pair.id])
    rows, _ = series.filled(cur - OHLC_ROWS * iv, cur)
    if since_s is not None:
        rows = [r for r in rows if r[0] > since_s or r[0] == cur]
    return rows, cur - iv


def public_trades(trades: list[TradeEvent], since_ns: int | None, count: int) -> list[TradeEvent]:
    """The page after `since` (exclusive), never splitting one timestamp's
    trades across pages (the next `since` would skip the rest)."""
    if since_ns is None:
        return trades[-count:] if count else []
    i = bisect_right(trades, since_ns, key=_ts)
    page = trades[i : i + count]
    if len(page) == count and i + count < len(trades) and trades[i + count].ts == page[-1].ts:
        cut = len(page)
        while cut > 0 and page[cut - 1].ts == page[-1].ts:
            cut -= 1
        if cut > 0:
            page = page[:cut]
        else:  # one timestamp fills the page: take all of it
            j = i + count
            while j < len(trades) and trades[j].ts == page[-1].ts:
                j += 1
            page = trades[i:j]
    return page


def parse_since_ns(value: Decimal) -> int:
    """Trades `since`: nanoseconds (what `last` returns) or seconds (ccxt)."""
    if value > Decimal(10) ** 12:
        return int(value)
    return int(value * NS_PER_S)


class SpreadRecorder:
    """Top-of-book changes per pair, fed by the event bus (Spread endpoint)."""

    def __init__(self, engine: Any) -> None:
        self.rows: dict[str, deque[tuple[int, int | None, int | None]]] = {}
        self._top: dict[str, tuple[int | None, int | None]] = {}
        self._engine = engine

    def on_entry(self, entry: Any) -> None:
        books = self._engine.books
        dirty: set[str] = set()
        for ev in entry.events:
            if getattr(ev, "kind", None) == "book" and ev.pair_id in books:
                dirty.add(ev.pair_id)
        for pid in dirty:
            book = books[pid]
            top = (book.best_bid(), book.best_ask())
            if top != self._top.get(pid):
                self._top[pid] = top
                if top[0] is None or top[1] is None:
                    continue  # a one-sided book has no spread to report
                self.rows.setdefault(pid, deque(maxlen=SPREAD_ROWS)).append((entry.ts // NS_PER_S, top[0], top[1]))

    def to_state(self) -> dict[str, Any]:
        """Saved with the venue: the Spread history is not in the journal's commands."""
        return {"rows": {p: [list(r) for r in rows] for p, rows in self.rows.items()},
                "top": {p: list(t) for p, t in self._top.items()}}  # fmt: skip

    def from_state(self, state: dict[str, Any]) -> None:
        self.rows = {p: deque((tuple(r) for r in rows), maxlen=SPREAD_ROWS) for p, rows in state["rows"].items()}  # type: ignore[misc]
        self._top = {p: (t[0], t[1]) for p, t in state["top"].items()}


class Valuer:
    """Values assets in another asset through the venue's prices (last trade,
    else mid, else reference), directly or via one intermediate asset."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.by_assets: dict[tuple[str, str], SpotPair] = {}
        for p in engine.instruments.pairs.values():
            self.by_assets[(p.base.id, p.quote.id)] = p

    def mark(self, pair: SpotPair) -> Decimal | None:
        eng = self.engine
        units = eng.last_price.get(pair.id)
        if units is None:
            book = eng.books[pair.id]
            b, a = book.best_bid(), book.best_ask()
            units = (a + b) // 2 if a is not None and b is not None else eng.index_price.get(pair.id)
        if not units:
            return None
        return Decimal(units).scaleb(-pair.pair_decimals)

    def rate(self, src: str, dst: str) -> Decimal | None:
        if src == dst:
            return Decimal(1)
        p = self.by_assets.get((src, dst))
        if p is not None and (m := self.mark(p)) is not None:
            return m
        p = self.by_assets.get((dst, src))
        if p is not None and (m := self.mark(p)) is not None and m:
            return 1 / m
        return None

    def convert(self, amount: Decimal, src: str, dst: str) -> Decimal:
        """Value of `amount` of `src` in `dst` (0 when no price path exists)."""
        r = self.rate(src, dst)
        if r is not None:
            return amount * r
        for mid in ("ZUSD", "XXBT", "ZEUR", "USDT"):
            r1, r2 = self.rate(src, mid), self.rate(mid, dst)
            if r1 is not None and r2 is not None:
                return amount * r1 * r2
        return Decimal(0)


__all__ = ["OHLC_INTERVALS", "SpreadRecorder", "Valuer", "ohlc", "parse_since_ns", "public_trades", "vwap"]
