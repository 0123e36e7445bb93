"""Market data derived from the venue's own state: ticker statistics, OHLC
candles and public trades from `spot.trades`, spreads from book changes,
and asset valuation (TradeBalance, Earn) from the same prices.

Reads only; always through `rt.venue` (a reset replaces the engine)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulator.core.events import TradeEvent
from simulator.core.instruments import SpotPair

NS = 1_000_000_000
DAY_NS = 86_400 * NS
OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
OHLC_ROWS = 720  # committed candles; the forming one comes on top
SPREAD_ROWS = 200


def _ts(t: TradeEvent) -> int:
    return t.ts


@dataclass
class Window:
    """Statistics of the trades in one time window."""

    volume: int = 0  # lots
    notional: int = 0  # price units * lots
    count: int = 0
    low: int | None = None
    high: int | None = None

    def add(self, t: TradeEvent) -> None:
        self.volume += t.qty
        self.notional += t.price * t.qty
        self.count += 1
        if self.low is None or t.price < self.low:
            self.low = t.price
        if self.high is None or t.price > self.high:
            self.high = t.price

    def vwap(self, pair: SpotPair) -> Decimal:
        if not self.volume:
            return Decimal(0)
        return (Decimal(self.notional) / self.volume).scaleb(-pair.pair_decimals)


def windows(trades: list[TradeEvent], now_ns: int) -> tuple[Window, Window, int | None]:
    """(today since 00:00 UTC, last 24 h, today's open price)."""
    day0 = now_ns - now_ns % DAY_NS
    i_day = bisect_left(trades, day0, key=_ts)
    i_24 = bisect_left(trades, now_ns - DAY_NS, key=_ts)
    today, last24 = Window(), Window()
    for t in trades[min(i_day, i_24) :]:
        if t.ts >= day0:
            today.add(t)
        if t.ts >= now_ns - DAY_NS:
            last24.add(t)
    if i_day < len(trades):
        opening: int | None = trades[i_day].price
    elif trades:
        opening = trades[-1].price
    else:
        opening = None
    return today, last24, opening


def ohlc(
    trades: list[TradeEvent], interval_min: int, now_ns: int, since_s: int | None
) -> tuple[list[tuple[int, int, int, int, int, int, int, int]], int]:
    """Candles [(time, o, h, l, c, notional, volume, count)] and Kraken's `last`.

    Up to 720 committed candles plus the forming one, gaps filled with the
    previous close (as Kraken does); `since` is exclusive."""
    iv = interval_min * 60
    cur = (now_ns // NS) // iv * iv
    first = cur - OHLC_ROWS * iv
    last = cur - iv
    if not trades:
        return [], last
    i = bisect_left(trades, first * NS, key=_ts)
    prev_close = trades[i - 1].price if i > 0 else None
    start = first if prev_close is not None else (trades[i].ts // NS) // iv * iv if i < len(trades) else cur
    rows: list[tuple[int, int, int, int, int, int, int, int]] = []
    n = len(trades)
    bucket = start
    while bucket <= cur:
        end_ns = (bucket + iv) * NS
        o = h = lo = c = prev_close if prev_close is not None else 0
        notional = vol = count = 0
        while i < n and trades[i].ts < end_ns:
            t = trades[i]
            if count == 0:
                o = h = lo = t.price
            h = max(h, t.price)
            lo = min(lo, t.price)
            c = t.price
            notional += t.price * t.qty
            vol += t.qty
            count += 1
            i += 1
        if count or prev_close is not None:
            rows.append((bucket, o, h, lo, c, notional, vol, count))
        if count:
            prev_close = c
        bucket += iv
    if since_s is not None:
        rows = [r for r in rows if r[0] > since_s or r[0] == cur]
    return rows, last


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
    return int(value * NS)


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
                self.rows.setdefault(pid, deque(maxlen=SPREAD_ROWS)).append((entry.ts // NS, top[0], top[1]))

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


__all__ = ["OHLC_INTERVALS", "SpreadRecorder", "Valuer", "Window", "ohlc", "parse_since_ns", "public_trades", "windows"]
