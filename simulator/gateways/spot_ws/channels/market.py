"""Public market-data messages: ticker (24h rolling stats), trade, ohlc, instrument."""

from __future__ import annotations

from collections import deque
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from simulator.core.events import TradeEvent
from simulator.core.numbers import fmt_units
from simulator.gateways.jsonw import Raw, dumps

from ..fmt import ts_ns, ts_us

if TYPE_CHECKING:
    from simulator.core.book import OrderBook
    from simulator.core.instruments import InstrumentRegistry, SpotPair

DAY_NS = 86_400 * 1_000_000_000
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
OHLC_SNAPSHOT_CANDLES = 720
MARKET_LIKE = frozenset({"market", "stop-loss", "take-profit", "trailing-stop", "settle-position"})


class PairStats:
    """Trades of the last 24 hours with running sums, for the ticker."""

    __slots__ = ("pair", "trades", "volume", "notional", "last")

    def __init__(self, pair: SpotPair, history: list[TradeEvent], now: int) -> None:
        self.pair = pair
        self.trades: deque[TradeEvent] = deque()
        self.volume = 0
        self.notional = 0
        self.last: int | None = history[-1].price if history else None
        for t in history:
            if t.ts > now - DAY_NS:
                self.add(t)

    def add(self, t: TradeEvent) -> None:
        self.trades.append(t)
        self.volume += t.qty
        self.notional += t.qty * t.price
        self.last = t.price

    def evict(self, now: int) -> None:
        cut = now - DAY_NS
        tr = self.trades
        while tr and tr[0].ts <= cut:
            t = tr.popleft()
            self.volume -= t.qty
            self.notional -= t.qty * t.price

    def ticker(self, book: OrderBook, now: int) -> dict[str, Any]:
        self.evict(now)
        pair = self.pair
        pdp, qdp = pair.pair_decimals, pair.lot_decimals
        bid = book.bids.best()
        ask = book.asks.best()
        last = self.last or 0
        if self.trades:
            prices = [t.price for t in self.trades]
            low, high, open_ = min(prices), max(prices), self.trades[0].price
            vwap = (self.notional * 2 + self.volume) // (2 * self.volume) if self.volume else last
        else:
            low = high = open_ = vwap = last
        change = last - open_
        pct = (
            (Decimal(change) * 100 / Decimal(open_)).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if open_ else Decimal(0)
        )
        return {
            "symbol": pair.symbol,
            "bid": Raw(fmt_units(bid.price if bid else 0, pdp)),
            "bid_qty": Raw(fmt_units(bid.visible if bid else 0, qdp)),
            "ask": Raw(fmt_units(ask.price if ask else 0, pdp)),
            "ask_qty": Raw(fmt_units(ask.visible if ask else 0, qdp)),
            "last": Raw(fmt_units(last, pdp)),
            "volume": Raw(fmt_units(self.volume, qdp)),
            "vwap": Raw(fmt_units(vwap, pdp)),
            "low": Raw(fmt_units(low, pdp)),
            "high": Raw(fmt_units(high, pdp)),
            "change": Raw(fmt_units(change, pdp)),
            "change_pct": Raw(f"{pct:.2f}"),
            "trades": len(self.trades),
            "timestamp": ts_us(now),
        }


def ticker_message(kind: str, data: dict[str, Any]) -> str:
    return dumps({"channel": "ticker", "type": kind, "data": [data]})


def bbo(book: OrderBook) -> tuple[int, int, int, int]:
    b, a = book.bids.best(), book.asks.best()
    return (b.price if b else 0, b.visible if b else 0, a.price if a else 0, a.visible if a else 0)


def trade_entry(pair: SpotPair, t: TradeEvent) -> dict[str, Any]:
    return {
        "symbol": pair.symbol,
        "side": t.taker_side,
        "price": Raw(fmt_units(t.price, pair.pair_decimals)),
        "qty": Raw(fmt_units(t.qty, pair.lot_decimals)),
        "ord_type": "market" if t.ordertype in MARKET_LIKE else "limit",
        "trade_id": t.trade_id,
        "timestamp": ts_us(t.ts),
    }


def trade_message(kind: str, pair: SpotPair, trades: list[TradeEvent]) -> str:
    return dumps({"channel": "trade", "type": kind, "data": [trade_entry(pair, t) for t in trades]})


class Candle:
    __slots__ = ("begin", "open", "high", "low", "close", "volume", "notional", "trades")

    def __init__(self, begin: int, t: TradeEvent) -> None:
        self.begin = begin
        self.open = self.high = self.low = self.close = t.price
        self.volume = t.qty
        self.notional = t.qty * t.price
        self.trades = 1

    def add(self, t: TradeEvent) -> None:
        if t.price > self.high:
            self.high = t.price
        if t.price < self.low:
            self.low = t.price
        self.close = t.price
        self.volume += t.qty
        self.notional += t.qty * t.price
        self.trades += 1


def interval_ns(minutes: int) -> int:
    return minutes * 60 * 1_000_000_000


def candles(trades: list[TradeEvent], minutes: int, limit: int = OHLC_SNAPSHOT_CANDLES) -> list[Candle]:
    """Candles of the intervals that had trades, oldest first, the last `limit`."""
    span = interval_ns(minutes)
    out: list[Candle] = []
    for t in trades:
        begin = t.ts - t.ts % span
        if out and out[-1].begin == begin:
            out[-1].add(t)
        else:
            out.append(Candle(begin, t))
    return out[-limit:]


def candle_entry(pair: SpotPair, c: Candle, minutes: int) -> dict[str, Any]:
    pdp = pair.pair_decimals
    vwap = (c.notional * 2 + c.volume) // (2 * c.volume) if c.volume else c.close
    return {
        "symbol": pair.symbol,
        "open": Raw(fmt_units(c.open, pdp)),
        "high": Raw(fmt_units(c.high, pdp)),
        "low": Raw(fmt_units(c.low, pdp)),
        "close": Raw(fmt_units(c.close, pdp)),
        "trades": c.trades,
        "volume": Raw(fmt_units(c.volume, pair.lot_decimals)),
        "vwap": Raw(fmt_units(vwap, pdp)),
        "interval_begin": ts_ns(c.begin),
        "interval": minutes,
        "timestamp": ts_us(c.begin + interval_ns(minutes)),
    }


def ohlc_message(kind: str, pair: SpotPair, cs: list[Candle], minutes: int, now: int) -> str:
    return dumps(
        {
            "channel": "ohlc",
            "type": kind,
            "timestamp": ts_ns(now),
            "data": [candle_entry(pair, c, minutes) for c in cs],
        }
    )


def _num(d: Decimal | str) -> Raw:
    """Reference-data numbers as the venue prints them (shortest form, 1e-08 style)."""
    return Raw(repr(float(Decimal(str(d)))))


def instrument_message(instruments: InstrumentRegistry, index_pairs: set[str], tokenized: bool = False) -> str:
    """The reference-data snapshot; xStocks only when the subscriber asked
    for them (`include_tokenized_assets`)."""
    assets = [
        {
            "id": a.display,
            "status": a.status,
            "precision": a.decimals,
            "precision_display": a.display_decimals,
            "borrowable": False,
            "collateral_value": _num(a.collateral_value),
        }
        for a in instruments.assets.values()
        if tokenized or a.aclass != "tokenized_asset"
    ]
    pairs = [
        {
            "symbol": p.symbol,
            "base": p.base.display,
            "quote": p.quote.display,
            "status": p.status,
            "qty_precision": p.lot_decimals,
            "qty_increment": _num(Decimal(1).scaleb(-p.lot_decimals)),
            "price_precision": p.pair_decimals,
            "cost_precision": p.cost_decimals,
            "marginable": False,
            "has_index": p.id in index_pairs,
            "cost_min": _num(p.costmin),
            "tick_size": _num(p.tick_size),
            "price_increment": _num(p.tick_size),
            "qty_min": _num(p.ordermin),
        }
        for p in instruments.pairs.values()
        if tokenized or p.aclass_base != "tokenized_asset"
    ]
    return dumps({"channel": "instrument", "type": "snapshot", "data": {"assets": assets, "pairs": pairs}})
