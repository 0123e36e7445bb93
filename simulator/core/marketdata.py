"""Market statistics of one engine, computed once for every protocol:
rolling 24-hour and since-midnight ticker figures, and OHLC candles per
interval.

Derived from the engine's append-only, time-ordered public trades (or price
samples), folded in on read: each point is added once, so a read costs what
it returns plus what arrived since the last read, never the length of
history, and the matching path pays nothing.  Everything is exact integers
(price units, quantity units, notional = price * qty); the gateways render.

Points are anything with `ts`, `price`, `qty` and a `trade_id` continuous
from 1 (Spot `TradeEvent`, Derivatives `TradeRec`), or `(ts, price)`
samples (mark and index prices, no quantity).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from simulator.core.clock import NS_PER_S

DAY_NS = 86_400 * NS_PER_S

N = TypeVar("N", int, Decimal)


class Trade(Protocol):
    ts: int
    price: int
    qty: int
    trade_id: int


def _ts(t: Any) -> int:
    return t[0] if type(t) is tuple else t.ts  # type: ignore[no-any-return]


def new_points(points: Sequence[Any], consumed: int) -> tuple[Iterator[Any], int]:
    """Points appended since `consumed` (a trade id, or a count of samples)
    and the new mark.  A bounded trade deque may have dropped some: then
    what is left is new."""
    n = len(points)
    if not n:
        return iter(()), consumed
    last = points[-1]
    if type(last) is tuple:
        mark = n
        fresh = n - consumed if consumed <= n else n
    else:
        mark = last.trade_id
        fresh = mark - consumed
    if fresh <= 0:
        return iter(()), consumed
    start = max(0, n - fresh)
    return (points[i] for i in range(start, n)), mark


def _parts(p: Any) -> tuple[int, Any, int]:
    if type(p) is tuple:
        return p[0], p[1], 0
    return p.ts, p.price, p.qty


# ---------------------------------------------------------------- windows
@dataclass(frozen=True)
class Window:
    """Figures of the trades in one time window (prices None when empty)."""

    volume: int = 0
    notional: int = 0  # sum of price * qty
    count: int = 0
    open: int | None = None
    high: int | None = None
    low: int | None = None

    def vwap_units(self) -> int | None:
        """Volume-weighted price rounded half up to a price unit."""
        return (self.notional * 2 + self.volume) // (2 * self.volume) if self.volume else None


class _Bucket:
    """The trades of one second (`sec`: ts // NS_PER_S)."""

    __slots__ = ("sec", "volume", "notional", "count", "open", "high", "low")

    def __init__(self, sec: int, price: int, qty: int) -> None:
        self.sec = sec
        self.volume = qty
        self.notional = price * qty
        self.count = 1
        self.open = self.high = self.low = price


class _Rolling:
    """The trades of the last `span`, to the second: one bucket per second
    that had trades (at most span/1 s of them, however many trades -- the
    trades themselves were a day of every trade, ~4 million at 50 a second),
    running sums, and the low and high from monotonic deques of buckets
    (amortised O(1) per trade).  A bucket stays while any of its second is
    in the window; the window's start never moves back (a read at an
    earlier time than the last sees the window as of the last)."""

    __slots__ = ("span", "buckets", "volume", "notional", "count", "lows", "highs", "cut")

    def __init__(self, span: int) -> None:
        self.span = span
        self.buckets: deque[_Bucket] = deque()
        self.volume = 0
        self.notional = 0
        self.count = 0
        self.lows: deque[_Bucket] = deque()
        self.highs: deque[_Bucket] = deque()
        self.cut = -(2**63)  # seconds before this one left the window

    def add(self, t: Any) -> None:
        sec, price, qty = t.ts // NS_PER_S, t.price, t.qty
        self.volume += qty
        self.notional += price * qty
        self.count += 1
        bs, lows, highs = self.buckets, self.lows, self.highs
        b = bs[-1] if bs else None
        if b is not None and b.sec >= sec:  # trades are time ordered: the newest second
            b.volume += qty
            b.notional += price * qty
            b.count += 1
            if price < b.low:
                b.low = price
                if lows and lows[-1] is b:
                    lows.pop()
                self._push_low(b)
            if price > b.high:
                b.high = price
                if highs and highs[-1] is b:
                    highs.pop()
                self._push_high(b)
            return
        b = _Bucket(sec, price, qty)
        bs.append(b)
        self._push_low(b)
        self._push_high(b)

    def _push_low(self, b: _Bucket) -> None:
        lows = self.lows
        while lows and lows[-1].low >= b.low:
            lows.pop()
        lows.append(b)

    def _push_high(self, b: _Bucket) -> None:
        highs = self.highs
        while highs and highs[-1].high <= b.high:
            highs.pop()
        highs.append(b)

    def evict(self, now: int) -> None:
        cut = (now - self.span) // NS_PER_S
        if cut <= self.cut:
            return
        bs = self.buckets
        while bs and bs[0].sec < cut:
            b = bs.popleft()
            self.volume -= b.volume
            self.notional -= b.notional
            self.count -= b.count
            if self.lows[0] is b:
                self.lows.popleft()
            if self.highs[0] is b:
                self.highs.popleft()
        self.cut = cut

    def window(self) -> Window:
        if not self.buckets:
            return Window()
        return Window(self.volume, self.notional, self.count, self.buckets[0].open,
                      self.highs[0].high, self.lows[0].low)  # fmt: skip


class _Since:
    """Trades since a fixed start (today: since 00:00 UTC)."""

    __slots__ = ("start", "volume", "notional", "count", "open", "high", "low")

    def __init__(self, start: int) -> None:
        self.start = start
        self.volume = self.notional = self.count = 0
        self.open: int | None = None
        self.high: int | None = None
        self.low: int | None = None

    def add(self, t: Any) -> None:
        if t.ts < self.start:
            return
        p = t.price
        self.volume += t.qty
        self.notional += p * t.qty
        self.count += 1
        if self.open is None:
            self.open = p
        if self.high is None or p > self.high:
            self.high = p
        if self.low is None or p < self.low:
            self.low = p

    def add_bucket(self, b: _Bucket) -> None:
        """A whole second's trades (the start is on a second)."""
        if b.sec * NS_PER_S < self.start:
            return
        self.volume += b.volume
        self.notional += b.notional
        self.count += b.count
        if self.open is None:
            self.open = b.open
        if self.high is None or b.high > self.high:
            self.high = b.high
        if self.low is None or b.low < self.low:
            self.low = b.low

    def window(self) -> Window:
        return Window(self.volume, self.notional, self.count, self.open, self.high, self.low)


@dataclass(frozen=True)
class Ticker:
    """The statistics every ticker shows: the last trade, the rolling
    24 hours, and today (since 00:00 UTC; Spot REST's first figures)."""

    last: Any  # the last trade, or None
    day: Window  # ts >= now - 24 h
    today: Window  # ts >= today's 00:00 UTC

    @property
    def today_open(self) -> int | None:
        """Today's opening price: the first trade today, else the last trade."""
        if self.today.open is not None:
            return self.today.open
        return self.last.price if self.last is not None else None


class TickerStats:
    """One instrument's ticker figures, kept current from its trade list."""

    def __init__(self) -> None:
        self.consumed = 0
        self.last: Any = None
        self.rolling = _Rolling(DAY_NS)
        self.today = _Since(0)

    def read(self, trades: Sequence[Any], now: int) -> Ticker:
        if not self.consumed and trades:  # first read: only the last day matters
            _, self.consumed = new_points(trades, 0)
            self.last = trades[-1]
            self._rebuild(trades, now, now - now % DAY_NS)
            return Ticker(self.last, self.rolling.window(), self.today.window())
        fresh, self.consumed = new_points(trades, self.consumed)
        rolling, today = self.rolling, self.today
        for t in fresh:
            rolling.add(t)
            today.add(t)
            self.last = t
        if trades and self.last is not trades[-1]:
            self.last = trades[-1]
        rolling.evict(now)
        day0 = now - now % DAY_NS
        if day0 != today.start:  # another day: today's trades are in the 24 h window's seconds
            self.today = today = _Since(day0)
            for b in rolling.buckets:
                today.add_bucket(b)
        return Ticker(self.last, self.rolling.window(), self.today.window())

    def _rebuild(self, trades: Sequence[Any], now: int, day0: int) -> None:
        self.rolling = _Rolling(DAY_NS)
        self.today = _Since(day0)
        cut = (now - DAY_NS) // NS_PER_S
        for i in range(bisect_left(trades, min(cut * NS_PER_S, day0), key=_ts), len(trades)):
            t = trades[i]
            if t.ts // NS_PER_S >= cut:
                self.rolling.add(t)
            self.today.add(t)
        self.rolling.cut = cut


# ---------------------------------------------------------------- candles
class Candle(Generic[N]):
    """One interval's trades (or samples): begin in ns."""

    __slots__ = ("begin", "open", "high", "low", "close", "volume", "notional", "count")

    def __init__(self, begin: int, price: N, qty: int) -> None:
        self.begin = begin
        self.open: N = price
        self.high: N = price
        self.low: N = price
        self.close: N = price
        self.volume = qty
        self.notional: N = price * qty
        self.count = 1

    def add(self, price: N, qty: int) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.notional += price * qty
        self.count += 1

    def vwap_units(self) -> N | None:
        v = self.volume
        return (self.notional * 2 + v) // (2 * v) if v else None  # type: ignore[return-value]


class CandleSeries(Generic[N]):
    """The non-empty candles of one interval, oldest first, built from the
    points as they arrive.  `keep` bounds memory (the newest `keep` candles
    stay; None keeps them all)."""

    def __init__(self, span_ns: int, keep: int | None = None) -> None:
        self.span = span_ns
        self.keep = keep
        self.candles: list[Candle[N]] = []
        self.consumed = 0

    def sync(self, points: Sequence[Any]) -> list[Candle[N]]:
        """Fold in new points; the candles they touched (oldest first)."""
        fresh, self.consumed = new_points(points, self.consumed)
        cs = self.candles
        touched: list[Candle[N]] = []
        span = self.span
        for p in fresh:
            ts, price, qty = _parts(p)
            begin = ts - ts % span
            if cs and cs[-1].begin == begin:
                c = cs[-1]
                c.add(price, qty)
            elif cs and cs[-1].begin > begin:  # an out-of-order point (time went back)
                c = self._insert(begin, price, qty)
            else:
                c = Candle(begin, price, qty)
                cs.append(c)
            if not touched or touched[-1] is not c:
                touched.append(c)
        if self.keep is not None and len(cs) > 2 * self.keep:
            del cs[: len(cs) - self.keep]
        return touched

    def _insert(self, begin: int, price: N, qty: int) -> Candle[N]:
        cs = self.candles
        i = bisect_left(cs, begin, key=lambda c: c.begin)
        if i < len(cs) and cs[i].begin == begin:
            cs[i].add(price, qty)
            return cs[i]
        c = Candle(begin, price, qty)
        cs.insert(i, c)
        return c

    def index_at(self, ns: int) -> int:
        """Index of the first candle beginning at or after `ns`."""
        return bisect_left(self.candles, ns, key=lambda c: c.begin)

    def last(self, n: int) -> list[Candle[N]]:
        return self.candles[-n:] if n > 0 else []

    def filled(
        self, first_s: int, last_s: int, prev: N | None = None, limit: int | None = None
    ) -> tuple[list[tuple[int, N, N, N, N, int, N, int]], bool]:
        """Rows (begin seconds, o, h, l, c, volume, notional, count) for every
        interval from `first_s` to `last_s` (inclusive, interval aligned):
        an interval without points repeats the previous close (volume 0) once
        a close is known (`prev`, else the candle before the range), and is
        skipped before that.  The work is bounded by the rows returned: a
        binary search finds the start, a stretch with nothing known to show
        is skipped in one step.  Also returns whether rows remain past `limit`."""
        span_s = self.span // NS_PER_S
        cs = self.candles
        i = self.index_at(first_s * NS_PER_S)
        if i > 0:
            prev = cs[i - 1].close
        b = first_s
        out: list[tuple[int, N, N, N, N, int, N, int]] = []
        while b <= last_s:
            if prev is None:
                if i >= len(cs):
                    break
                b = max(b, cs[i].begin // NS_PER_S)  # nothing to show before the next candle
                if b > last_s:
                    break
            if i < len(cs) and cs[i].begin // NS_PER_S == b:
                c = cs[i]
                out.append((b, c.open, c.high, c.low, c.close, c.volume, c.notional, c.count))
                prev = c.close
                i += 1
            elif prev is not None:
                out.append((b, prev, prev, prev, prev, 0, prev * 0, 0))
            b += span_s
            if limit is not None and len(out) >= limit:
                return out, b <= last_s and (prev is not None or i < len(cs))
        return out, False


def sparse(series: CandleSeries[N], first_s: int, last_s: int, limit: int) -> tuple[list[Candle[N]], bool]:
    """Only the candles that exist in [first_s, last_s] (a trade chart), at
    most `limit`; and whether more remain in the range."""
    cs = series.candles
    i = series.index_at(first_s * NS_PER_S)
    j = bisect_right(cs, last_s * NS_PER_S, key=lambda c: c.begin)
    return cs[i : min(j, i + limit)], i + limit < j


class MarketData:
    """Ticker statistics and candle series of one engine, per instrument,
    made on first read."""

    def __init__(self, candle_keep: int | None = None) -> None:
        self.candle_keep = candle_keep
        self.tickers: dict[str, TickerStats] = {}
        self.series: dict[tuple[str, int], CandleSeries[Any]] = {}

    def ticker(self, key: str, trades: Sequence[Any], now: int) -> Ticker:
        st = self.tickers.get(key)
        if st is None:
            st = self.tickers[key] = TickerStats()
        return st.read(trades, now)

    def candles(self, key: str, span_s: int, points: Sequence[Any]) -> CandleSeries[Any]:
        """The series of `points` at `span_s`, caught up."""
        s = self.series.get((key, span_s))
        if s is None:
            s = self.series[(key, span_s)] = CandleSeries(span_s * NS_PER_S, self.candle_keep)
        s.sync(points)
        return s


__all__ = ["DAY_NS", "NS_PER_S", "Candle", "CandleSeries", "MarketData", "Ticker", "TickerStats", "Window", "sparse"]
