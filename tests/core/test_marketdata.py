"""Incremental market statistics equal a brute-force recomputation over all
trades, whatever the order of appends and reads (time may also go back)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.core.clock import NS_PER_S
from simulator.core.marketdata import DAY_NS, CandleSeries, MarketData, Window, sparse


@dataclass
class T:
    ts: int
    price: int
    qty: int
    trade_id: int


def brute_window(trades: list[T], since: int, to_the_second: bool = False) -> Window:
    """The figures of the trades at or after `since` (or in a second at or after `since`'s)."""
    if to_the_second:
        w = [t for t in trades if t.ts // NS_PER_S >= since // NS_PER_S]
    else:
        w = [t for t in trades if t.ts >= since]
    if not w:
        return Window()
    return Window(sum(t.qty for t in w), sum(t.qty * t.price for t in w), len(w), w[0].price,
                  max(t.price for t in w), min(t.price for t in w))


HOUR = 3600 * NS_PER_S
steps = st.lists(
    st.tuples(
        st.sampled_from(["trade", "trade", "read", "jump"]),
        st.integers(0, 30 * HOUR),  # time step (jumps: up to 30 h)
        st.integers(1, 9),
        st.integers(1, 5),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(steps, st.integers(0, 3 * DAY_NS), st.integers(0, NS_PER_S - 1))
@example([("trade", 0, 1, 1), ("jump", 27 * HOUR + 1, 1, 1), ("jump", 0, 1, 1), ("jump", 27 * HOUR, 1, 1),
          ("jump", 0, 1, 1)], 0, 0)  # across midnight after the trade left the window
def test_ticker_figures_equal_a_recomputation(plan: list[tuple[str, int, int, int]], t0: int, jitter: int) -> None:
    """The rolling 24 hours to the second (whole seconds that had trades: a
    day of trades is not kept one by one), today exactly (it starts on a
    second).  Reads may come a little behind the newest (a WS update stamped
    with its command's time after a REST read at the clock's): the window's
    start never moves back."""
    md = MarketData()
    trades: list[T] = []
    now = newest = t0
    for kind, dt, price, qty in plan:
        if kind == "trade":
            now += dt // 30  # trades advance the clock a little
            trades.append(T(now, price, qty, len(trades) + 1))
            continue
        if kind == "jump":
            now += dt
        newest = max(newest, now)
        # this read comes up to a second behind the newest one, never before a trade or across midnight
        at = max(now - jitter * (price % 2), trades[-1].ts if trades else 0, newest - newest % DAY_NS)
        got = md.ticker("X", trades, at)
        assert got.day == brute_window(trades, newest - DAY_NS, to_the_second=True)
        assert got.today == brute_window(trades, at - at % DAY_NS)
        assert got.last is (trades[-1] if trades else None)


def test_a_day_of_trades_is_held_as_seconds_not_trades() -> None:
    """At 50 trades a second the ticker kept every trade of the last 24 hours
    (4.3 million): now at most one bucket per second, whatever the rate."""
    md = MarketData()
    trades: list[T] = []
    t0 = 5 * DAY_NS
    per_s = 50
    for i in range(40 * 60 * per_s):  # 40 minutes
        trades.append(T(t0 + i * (NS_PER_S // per_s), 100 + i % 7, 1, i + 1))
        if i % 1000 == 0:
            md.ticker("X", trades, trades[-1].ts)
    got = md.ticker("X", trades, trades[-1].ts)
    assert got.day == brute_window(trades, trades[-1].ts - DAY_NS)
    held = md.tickers["X"].rolling
    assert len(held.buckets) <= 40 * 60 + 1
    assert not hasattr(held, "trades")


def brute_candles(points: list[Any], span: int) -> list[tuple[int, Any, Any, Any, Any, int, int]]:
    out: dict[int, list[Any]] = {}
    for p in points:
        ts, price, qty = (p[0], p[1], 0) if isinstance(p, tuple) else (p.ts, p.price, p.qty)
        out.setdefault(ts - ts % span, []).append((price, qty))
    return [(b, v[0][0], max(x for x, _ in v), min(x for x, _ in v), v[-1][0], sum(q for _, q in v), len(v))
            for b, v in sorted(out.items())]


def brute_filled(points: list[T], span_s: int, first: int, last: int, prev: Any) -> list[tuple[Any, ...]]:
    rows = []
    cs = {c[0] // NS_PER_S: c for c in brute_candles(points, span_s * NS_PER_S)}
    before = [c for b, c in cs.items() if b < first]
    if before:
        prev = max(before)[4]
    b = first
    while b <= last:
        c = cs.get(b)
        if c is not None:
            rows.append((b, c[1], c[2], c[3], c[4], c[5], c[6]))
            prev = c[4]
        elif prev is not None:
            rows.append((b, prev, prev, prev, prev, 0, 0))
        b += span_s
    return rows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 9), st.integers(1, 5)), max_size=60),
       st.sampled_from([60, 300, 3600]), st.data())
def test_candles_equal_a_recomputation(plan: list[tuple[int, int, int]], span_s: int, data: Any) -> None:
    series: CandleSeries[int] = CandleSeries(span_s * NS_PER_S, keep=None)
    trades: list[T] = []
    now = 0
    for dt, price, qty in plan:
        now += dt * NS_PER_S
        trades.append(T(now, price, qty, len(trades) + 1))
        if data.draw(st.booleans()):
            touched = series.sync(trades)
            assert touched == [] or touched[-1] is series.candles[-1]
            got = [(c.begin, c.open, c.high, c.low, c.close, c.volume, c.count) for c in series.candles]
            assert got == brute_candles(trades, span_s * NS_PER_S)
    series.sync(trades)
    lo = data.draw(st.integers(0, 30)) * span_s
    hi = lo + data.draw(st.integers(0, 40)) * span_s
    prev = data.draw(st.none() | st.just(7))
    limit = data.draw(st.integers(1, 50))
    rows, more = series.filled(lo, hi, prev, limit)
    want = brute_filled(trades, span_s, lo, hi, prev)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[7]) for r in rows] == want[:limit]
    assert more == (len(want) > limit)
    got_sparse, more2 = sparse(series, lo, hi, limit)
    want_sparse = [c for c in brute_candles(trades, span_s * NS_PER_S) if lo * NS_PER_S <= c[0] <= hi * NS_PER_S]
    assert [(c.begin, c.open, c.high, c.low, c.close, c.volume, c.count) for c in got_sparse] == want_sparse[:limit]
    assert more2 == (len(want_sparse) > limit)


def test_samples_make_decimal_candles_and_a_bounded_series_keeps_the_newest() -> None:
    samples = [(i * 30 * NS_PER_S, Decimal(100 + i)) for i in range(10)]
    s: CandleSeries[Decimal] = CandleSeries(60 * NS_PER_S)
    s.sync(samples)
    assert [(c.begin // NS_PER_S, c.open, c.close, c.volume) for c in s.candles] == [
        (i * 60, Decimal(100 + 2 * i), Decimal(101 + 2 * i), 0) for i in range(5)
    ]
    samples.append((600 * NS_PER_S, Decimal(1)))
    assert [c.close for c in s.sync(samples)] == [Decimal(1)]
    trades = [T(i * 60 * NS_PER_S, 5, 1, i + 1) for i in range(100)]
    ring: CandleSeries[int] = CandleSeries(60 * NS_PER_S, keep=10)
    ring.sync(trades)
    assert 10 <= len(ring.candles) <= 20 and ring.candles[-1].begin == 99 * 60 * NS_PER_S
