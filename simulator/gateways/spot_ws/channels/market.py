"""Public market-data messages: ticker (24h rolling stats), trade, ohlc,
instrument.  The statistics and candles come from `simulator.core.marketdata`."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from simulator.core.clock import NS_PER_S
from simulator.core.events import TradeEvent
from simulator.core.margin import flag_leverage, terms_of
from simulator.core.marketdata import Candle, Ticker
from simulator.core.numbers import fmt_units
from simulator.gateways.jsonw import Raw, dumps
from simulator.gateways.ws_common import ConflatedTopic

from ..render import ts_ns, ts_us

if TYPE_CHECKING:
    from simulator.core.book import OrderBook
    from simulator.core.instruments import InstrumentRegistry, SpotPair

OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
OHLC_SNAPSHOT_CANDLES = 720
MARKET_LIKE = frozenset({"market", "stop-loss", "take-profit", "trailing-stop", "settle-position"})


def ticker_data(pair: SpotPair, book: OrderBook, tk: Ticker, now: int) -> dict[str, Any]:
    """The ticker of the rolling 24 hours (statistics from the core)."""
    pdp, qdp = pair.pair_decimals, pair.lot_decimals
    bid = book.bids.best()
    ask = book.asks.best()
    last = tk.last.price if tk.last is not None else 0
    w = tk.day
    low = w.low if w.low is not None else last
    high = w.high if w.high is not None else last
    open_ = w.open if w.open is not None else last
    vwap = w.vwap_units()
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
        "volume": Raw(fmt_units(w.volume, qdp)),
        "vwap": Raw(fmt_units(vwap if vwap is not None else last, pdp)),
        "low": Raw(fmt_units(low, pdp)),
        "high": Raw(fmt_units(high, pdp)),
        "change": Raw(fmt_units(change, pdp)),
        "change_pct": Raw(f"{pct:.2f}"),
        "trades": w.count,
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


class Batch(NamedTuple):
    """One logged message of a batching stream: its text, the head the data
    array is appended to, and its data items (keyed: a later item of the same
    key replaces it when batched)."""

    text: str
    head: str
    items: tuple[tuple[Any, str], ...]


class BatchFeed(ConflatedTopic):
    """trade / ohlc: a subscriber behind gets one message with every trade
    (every candle's latest state) it has not seen, in order."""

    __slots__ = ()

    @staticmethod
    def text(entry: Batch) -> str:  # type: ignore[override]
        return entry.text

    def merge(self, entries: list[Batch]) -> str | None:
        items: dict[Any, str] = {}
        n = 0
        for e in entries:
            for key, frag in e.items:
                if key is None:
                    key = n
                    n += 1
                else:
                    items.pop(key, None)
                items[key] = frag
        return entries[-1].head + ",".join(items.values()) + "]}"


def _batch(head: str, items: list[tuple[Any, str]]) -> Batch:
    return Batch(head + ",".join(f for _, f in items) + "]}", head, tuple(items))


TRADE_HEAD = '{"channel":"trade","type":"update","data":['


def trade_update(pair: SpotPair, trades: list[TradeEvent]) -> Batch:
    """A trade update, each trade rendered once (the same text as `trade_message`)."""
    return _batch(TRADE_HEAD, [(None, dumps(trade_entry(pair, t))) for t in trades])


def interval_ns(minutes: int) -> int:
    return minutes * 60 * NS_PER_S


def candle_entry(pair: SpotPair, c: Candle[int], minutes: int) -> dict[str, Any]:
    pdp = pair.pair_decimals
    vwap = c.vwap_units()
    return {
        "symbol": pair.symbol,
        "open": Raw(fmt_units(c.open, pdp)),
        "high": Raw(fmt_units(c.high, pdp)),
        "low": Raw(fmt_units(c.low, pdp)),
        "close": Raw(fmt_units(c.close, pdp)),
        "trades": c.count,
        "volume": Raw(fmt_units(c.volume, pair.lot_decimals)),
        "vwap": Raw(fmt_units(vwap if vwap is not None else c.close, pdp)),
        "interval_begin": ts_ns(c.begin),
        "interval": minutes,
        "timestamp": ts_us(c.begin + interval_ns(minutes)),
    }


def ohlc_message(kind: str, pair: SpotPair, cs: list[Candle[int]], minutes: int, now: int) -> str:
    return dumps(
        {
            "channel": "ohlc",
            "type": kind,
            "timestamp": ts_ns(now),
            "data": [candle_entry(pair, c, minutes) for c in cs],
        }
    )


def ohlc_update(pair: SpotPair, c: Candle[int], minutes: int, now: int) -> Batch:
    """One candle's update (the same text as `ohlc_message`); batched by candle."""
    head = '{"channel":"ohlc","type":"update","timestamp":"' + ts_ns(now) + '","data":['
    return _batch(head, [(c.begin, dumps(candle_entry(pair, c, minutes)))])


def _num(d: Decimal | str) -> Raw:
    """Reference-data numbers as the venue prints them (shortest form, 1e-08 style)."""
    return Raw(repr(float(Decimal(str(d)))))


def _margin_terms(p: SpotPair) -> dict[str, Any]:
    """A margin pair's terms as `instrument` words them: `margin_initial`
    (1 / the leverage WS `margin` trades at) and the position limits in base."""
    t = terms_of(p)
    if not t.enabled:
        return {"marginable": False}
    d: dict[str, Any] = {"marginable": True, "margin_initial": _num(Decimal(1) / flag_leverage(p, "buy"))}
    for key, units in (("position_limit_long", t.long_limit), ("position_limit_short", t.short_limit)):
        if units is not None:
            d[key] = _num(Decimal(units).scaleb(-p.lot_decimals))
    return d


def instrument_message(instruments: InstrumentRegistry, index_pairs: set[str], tokenized: bool = False) -> str:
    """The reference-data snapshot; xStocks only when the subscriber asked
    for them (`include_tokenized_assets`)."""
    borrowable = {a.id for p in instruments.pairs.values() if terms_of(p).enabled for a in (p.base, p.quote)}
    assets = [
        {
            "id": a.display,
            "status": a.status,
            "precision": a.decimals,
            "precision_display": a.display_decimals,
            "borrowable": a.id in borrowable,
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
            **_margin_terms(p),
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
