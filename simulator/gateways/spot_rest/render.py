"""Kraken's Spot REST shapes: number strings, order/trade/ledger objects.

Numbers leave as strings with the decimals Kraken uses (prices to
`pair_decimals` on orders, at least 5 on public market data; volumes to
`lot_decimals`; cost and fee to `cost_decimals`; balances to the asset's
`decimals`); times as float seconds (orders, trades, ledgers) or integer
seconds (OHLC, Spread, Depth).  Integer units in, text out: no floats touch
an amount.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from simulator.core.clock import NS_PER_S
from simulator.core.commands import OrderRequest, PriceIn
from simulator.core.engine import AddResult
from simulator.core.events import Fill
from simulator.core.instruments import Asset, SpotPair
from simulator.core.margin import Position, PositionCalcs, terms_of
from simulator.core.numbers import BALANCE_DP, fmt_units, rescale
from simulator.core.orders import (
    BUY,
    ICEBERG,
    LIMIT,
    LIMIT_AFTER_TRIGGER,
    MARKET,
    STOP_LOSS,
    STOP_LOSS_LIMIT,
    TAKE_PROFIT,
    TAKE_PROFIT_LIMIT,
    TRAILING_STOP,
    TRAILING_STOP_LIMIT,
    TRAILING_TYPES,
    TRIGGERED_TYPES,
    Order,
    RelPrice,
)

ZERO5 = "0.00000"
MARKET_TYPES = frozenset({"market", "stop-loss", "take-profit", "trailing-stop"})
# Kraken's spot trades carry this position txid placeholder
POSTXID = "TKH2SE-M7IF5-CFI7LT"


def ts(ns: int) -> float:
    """Float seconds with microsecond resolution (opentm, time...)."""
    return (ns // 1000) / 1_000_000


def price(pair: SpotPair, units: int) -> str:
    return fmt_units(units, pair.pair_decimals)


def pub_dp(pair: SpotPair) -> int:
    """Market-data prices are padded to at least 5 decimals (`"28000.00000"`)."""
    return max(pair.pair_decimals, 5)


def pub_price(pair: SpotPair, units: int) -> str:
    dp = pub_dp(pair)
    return fmt_units(units * 10 ** (dp - pair.pair_decimals), dp)


def pub_decimal(pair: SpotPair, d: Decimal) -> str:
    dp = pub_dp(pair)
    return f"{d.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_EVEN):f}"


def volume(pair: SpotPair, lots: int) -> str:
    return fmt_units(lots, pair.lot_decimals)


def book_volume(pair: SpotPair, lots: int) -> str:
    """Depth/Ticker book sizes: at least 3 decimals, more only when needed."""
    text = fmt_units(lots, pair.lot_decimals).rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(3, '0')}"


def cost(pair: SpotPair, cost_units: int) -> str:
    return fmt_units(cost_units, pair.cost_decimals)


def balance(units: int, decimals: int) -> str:
    """Balance units (1e-10) shown with the asset's decimals (truncated, as Kraken shows holdings)."""
    if decimals >= BALANCE_DP:
        return fmt_units(units * 10 ** (decimals - BALANCE_DP), decimals)
    return fmt_units(rescale(units, BALANCE_DP, decimals, ROUND_DOWN), decimals)


def asset_amount(asset: Asset, units: int) -> str:
    return balance(units, asset.decimals)


def fee_text(o_pair: SpotPair, fee_units: int) -> str:
    """Fee (balance units) to the pair's cost precision (`"0.05954"`)."""
    return fmt_units(rescale(fee_units, BALANCE_DP, o_pair.cost_decimals), o_pair.cost_decimals)


def rfc1123(ns: int) -> str:
    """Kraken's Time.rfc1123: `Tue, 11 Nov 25 00:17:04 +0000` (day space-padded)."""
    dt = datetime.fromtimestamp(ns // NS_PER_S, tz=UTC)
    return f"{dt:%a}, {dt.day:2d} {dt:%b %y %H:%M:%S} +0000"


# ----------------------------------------------------------------- orders
def oflags(o: Order) -> str:
    """Kraken echoes the fee-currency flag it applies plus the client's flags."""
    flags = ["fcib" if o.fee_in_base else "fciq"]
    if o.post_only:
        flags.append("post")
    if o.viqc:
        flags.append("viqc")
    if "nompp" in (o.oflags or "").split(","):
        flags.append("nompp")
    return ",".join(flags)


def misc(o: Order) -> str:
    parts = []
    if o.triggered:
        parts.append(
            "stopped"
            if o.ordertype in (STOP_LOSS, STOP_LOSS_LIMIT, TRAILING_STOP) or "trailing" in o.ordertype
            else "touched"
        )
    if o.amended:
        parts.append("amended")
    if o.liquidation:
        parts.append("liquidated")
    return ",".join(parts)


def leverage_text(o: Order) -> str:
    """descr.leverage: `"2:1"`, or `"none"` for a spot order."""
    return f"{o.leverage}:1" if o.leverage else "none"


# ------------------------------------------------------------ descr sentences
def _price_text(pair: SpotPair, units: int | None) -> str:
    if units is None:
        return "0"
    return f"{Decimal(units).scaleb(-pair.pair_decimals):.{pair.pair_decimals}f}"


def _fmt_in(pair: SpotPair, v: PriceIn) -> str:
    if v is None:
        return "0"
    if isinstance(v, RelPrice):
        return str(v)
    return f"{v:.{pair.pair_decimals}f}"


def _trail_text(pair: SpotPair, v: PriceIn) -> str:
    if isinstance(v, RelPrice):
        if v.percent:
            return f"{v.sign}{v.amount:.4f}%"
        return f"{v.sign}{v.amount:.{pair.pair_decimals}f}"
    return _fmt_in(pair, v)


def _trail_words(o: Order, req: OrderRequest | None, price: int | None, trigger: int | None) -> tuple[str, str]:
    """A trailing order's offset and limit words: as given (`+5.0000%`, `-10.0`),
    a stored order's from its offsets (Kraken still shows the offset it was given)."""
    pair = o.pair
    off = req.price if req is not None else None
    if off is None and o.trail_offset:
        amount = Decimal(o.trail_offset) / 10_000 if o.trail_pct else Decimal(o.trail_offset).scaleb(-pair.pair_decimals)
        off = RelPrice("+", amount, o.trail_pct)
    text = _trail_text(pair, off) if off is not None else _price_text(pair, trigger)
    p2 = req.price2 if req is not None else None
    if p2 is None and o.limit_offset is not None:
        lo = o.limit_offset
        p2 = RelPrice("+" if lo >= 0 else "-", Decimal(abs(lo)).scaleb(-pair.pair_decimals), False)
    return text, _trail_text(pair, p2) if isinstance(p2, RelPrice) else _price_text(pair, price)


# the order-type words of `descr.order` ({price}: the limit price, {trigger}: the trigger price)
_TYPE_PHRASE = {
    MARKET: "market",
    LIMIT: "limit {price}",
    ICEBERG: "iceberg {price}",
    STOP_LOSS: "stop loss {trigger}",
    TAKE_PROFIT: "take profit {trigger}",
    STOP_LOSS_LIMIT: "stop loss {trigger} -> limit {price}",
    TAKE_PROFIT_LIMIT: "take profit {trigger} -> limit {price}",
}


def _type_phrase(o: Order, req: OrderRequest | None, price: int | None, trigger: int | None) -> str:
    otype = o.ordertype
    phrase = _TYPE_PHRASE.get(otype)
    if phrase is not None:
        return phrase.format(price=_price_text(o.pair, price), trigger=_price_text(o.pair, trigger))
    if otype in TRAILING_TYPES:
        text, limit = _trail_words(o, req, price, trigger)
        return f"trailing stop {text}" if otype == TRAILING_STOP else f"trailing stop {text} -> limit {limit}"
    return otype.replace("-", " ")


def _sentence(o: Order, req: OrderRequest | None, qty: int, price: int | None, trigger: int | None) -> str:
    pair = o.pair
    if o.viqc and req is not None:
        vol = f"{req.qty}"  # a quote-sized buy shows the quote amount
    else:
        vol = f"{Decimal(qty).scaleb(-pair.lot_decimals):.{pair.lot_decimals}f}"
    text = f"{o.side} {vol} {pair.altname} @ " + _type_phrase(o, req, price, trigger)
    return f"{text} with {o.leverage}:1 leverage" if o.leverage else text


def describe(o: Order) -> str:
    """Kraken's `descr.order` sentence of an order as it is (ccxt splits it on spaces)."""
    return _sentence(o, None, o.qty, o.price, o.trigger_price)


def describe_close(o: Order) -> str:
    """`descr.close`: the conditional close an order carries ("" without one)."""
    c = o.close
    if not c:
        return ""
    pair = o.pair
    otype = str(c["ordertype"])
    price = c.get("price")
    price2 = c.get("price2")
    p1 = _trail_text(pair, price) if price is not None else "0"  # type: ignore[arg-type]
    p2 = _trail_text(pair, price2) if price2 is not None else "0"  # type: ignore[arg-type]
    phrase = {
        LIMIT: f"limit {p1}",
        ICEBERG: f"iceberg {p1}",
        STOP_LOSS: f"stop loss {p1}",
        TAKE_PROFIT: f"take profit {p1}",
        STOP_LOSS_LIMIT: f"stop loss {p1} -> limit {p2}",
        TAKE_PROFIT_LIMIT: f"take profit {p1} -> limit {p2}",
        TRAILING_STOP: f"trailing stop {p1}",
        TRAILING_STOP_LIMIT: f"trailing stop {p1} -> limit {p2}",
    }.get(otype, otype)
    return f"close position @ {phrase}"


def _describe_request(pair: SpotPair, req: OrderRequest) -> str:
    vol = f"{req.qty:.{pair.lot_decimals}f}" if isinstance(req.qty, Decimal) else str(req.qty)
    if req.ordertype == MARKET:
        return f"{req.side} {vol} {pair.altname} @ market"
    return f"{req.side} {vol} {pair.altname} @ limit {_fmt_in(pair, req.price)}"


def add_descr(res: AddResult) -> tuple[str, str]:
    """AddOrder/AddOrderBatch/EditOrder `descr`: (order, close) sentences of the
    order as placed (or validated), not as the rest of the command left it."""
    o = res.shape
    if res.as_requested:
        return _describe_request(o.pair, res.req), ""
    return _sentence(o, res.req, res.qty, res.price, res.trigger_price), describe_close(o)


def descr_prices(o: Order) -> tuple[str, str]:
    """descr.price / descr.price2: primary (limit, or trigger for triggered types) and secondary."""
    pair = o.pair
    otype = o.ordertype
    if otype in TRIGGERED_TYPES:
        if otype in TRAILING_TYPES:
            # the offsets exactly as the sentence shows them: "+5.0000%", "-10.0"
            text, limit = _trail_words(o, None, o.price, o.trigger_price)
            return text, (limit if otype in LIMIT_AFTER_TRIGGER else "0")
        trig = price(pair, o.trigger_price) if o.trigger_price is not None else "0"
        p2 = price(pair, o.price) if (otype in LIMIT_AFTER_TRIGGER and o.price is not None) else "0"
        return trig, p2
    if o.price is not None:
        return price(pair, o.price), "0"
    return "0", "0"


def order_json(o: Order, trades: list[str] | None = None) -> dict[str, Any]:
    """One order as OpenOrders/ClosedOrders/QueryOrders show it."""
    pair = o.pair
    p1, p2 = descr_prices(o)
    d: dict[str, Any] = {"refid": None, "userref": o.userref}
    if o.cl_ord_id is not None:
        d["cl_ord_id"] = o.cl_ord_id
    d["status"] = o.status
    if o.closed_ns:
        d["reason"] = o.reason
    d["opentm"] = ts(o.opened_ns)
    if o.closed_ns:
        d["closetm"] = ts(o.closed_ns)
    d["starttm"] = o.start_ns // NS_PER_S if o.start_ns else 0
    d["expiretm"] = o.expire_ns // NS_PER_S if o.expire_ns else 0
    d["descr"] = {
        "pair": pair.altname,
        "type": o.side,
        "ordertype": o.ordertype,
        "price": p1,
        "price2": p2,
        "leverage": leverage_text(o),
        "order": describe(o),
        "close": describe_close(o),
    }
    d["vol"] = volume(pair, o.qty)
    d["vol_exec"] = volume(pair, o.filled)
    d["cost"] = cost(pair, o.cost)
    d["fee"] = fee_text(pair, o.fee)
    d["price"] = price(pair, o.avg_price_units()) if o.filled else ZERO5
    d["stopprice"] = price(pair, o.trigger_price) if (o.ordertype in TRIGGERED_TYPES and o.trigger_price) else ZERO5
    d["limitprice"] = price(pair, o.price) if (o.ordertype in LIMIT_AFTER_TRIGGER and o.price) else ZERO5
    if o.ordertype in TRIGGERED_TYPES:
        d["trigger"] = o.trigger_ref
    d["margin"] = bool(o.leverage)
    d["misc"] = misc(o)
    d["oflags"] = oflags(o)
    if trades:
        d["trades"] = trades
    return d


# ----------------------------------------------------------------- trades
class TradeRow:
    """A private trade as TradesHistory shows it; taker fills of one execution
    are consolidated (Kraken's `consolidate_taker=true` default)."""

    __slots__ = ("id", "fills")

    def __init__(self, fill: Fill) -> None:
        self.id = fill.id
        self.fills = [fill]

    @property
    def time_ns(self) -> int:
        return self.fills[0].ts

    def to_json(self, with_ledgers: bool = False, position: Position | None = None) -> dict[str, Any]:
        """`position`: the position entry this trade opened (its position fields)."""
        f0 = self.fills[0]
        o = f0.order
        pair = o.pair
        qty = sum(f.qty for f in self.fills)
        cst = sum(f.cost for f in self.fills)
        fee = sum(f.fee for f in self.fills)
        if len(self.fills) > 1:  # the volume-weighted price, to market-data precision
            dp = pub_dp(pair)
            scaled = cst * pair.cost_shift * 10 ** (dp - pair.pair_decimals)
            price_text = fmt_units((scaled * 2 + qty) // (2 * qty), dp)
        else:
            price_text = pub_price(pair, f0.price)
        d: dict[str, Any] = {
            "ordertxid": o.id,
            "postxid": POSTXID,
            "pair": pair.id,
            "time": ts(f0.ts),
            "type": f0.side,
            "ordertype": f0.ordertype,
            "price": price_text,
            "cost": cost(pair, cst),
            "fee": fee_text(pair, fee),
            "vol": volume(pair, qty),
            "margin": ZERO5,
            "leverage": "0",
            "misc": "",
            "trade_id": f0.trade_id,
            "maker": f0.maker,
        }
        if f0.leverage:
            d["margin"] = fee_text(pair, sum(f.margin for f in self.fills))
            d["leverage"] = str(f0.leverage)
            closing = next((f.posid for f in self.fills if f.posid), None)
            if closing is not None:
                d["postxid"] = closing
                d["misc"] = "closing"
            if position is not None:
                d.update(position_fields(position))
        if with_ledgers:
            d["ledgers"] = [lid for f in self.fills for lid in f.ledger_ids]
        return d


def position_fields(pos: Position) -> dict[str, Any]:
    """A position-opening trade's fields (TradesHistory/QueryTrades)."""
    pair = pos.pair
    cvol = pos.vol_closed
    cprice = (pos.ccost * pair.cost_shift * 2 + cvol) // (2 * cvol) if cvol else 0
    return {
        "posstatus": pos.status,
        "cprice": price(pair, cprice) if cvol else ZERO5,
        "ccost": cost(pair, pos.ccost),
        "cfee": fee_text(pair, pos.cfee),
        "cvol": volume(pair, cvol),
        "cmargin": fee_text(pair, pos.cmargin),
        "net": signed_quote(pair, pos.net),
        "trades": list(pos.trades),
    }


def signed_quote(pair: SpotPair, units: int) -> str:
    """A signed quote amount (balance units) to the pair's cost precision: `"-12.34000"`."""
    text = fee_text(pair, abs(units))
    return f"-{text}" if units < 0 else text


def position_json(pos: Position, calcs: PositionCalcs | None) -> dict[str, Any]:
    """One OpenPositions entry; `calcs` (docalcs) adds its value and net at the book."""
    pair = pos.pair
    d: dict[str, Any] = {
        "ordertxid": pos.ordertxid,
        "posstatus": pos.status,
        "pair": pair.id,
        "time": ts(pos.opened_ns),
        "type": pos.side,
        "ordertype": pos.ordertype,
        "cost": cost(pair, pos.cost),
        "fee": fee_text(pair, pos.fee),
        "vol": volume(pair, pos.vol),
        "vol_closed": volume(pair, pos.vol_closed),
        "margin": fee_text(pair, pos.margin),
    }
    if calcs is not None:
        d["value"] = cost(pair, calcs.value)
        d["net"] = signed_cost(pair, calcs.net)
    d["terms"] = terms_text(pos)
    d["rollovertm"] = str(pos.rollover_ns // NS_PER_S)
    d["misc"] = ""
    d["oflags"] = pos.oflags
    return d


def signed_cost(pair: SpotPair, units: int) -> str:
    text = cost(pair, abs(units))
    return f"{'-' if units < 0 else '+'}{text}"


def terms_text(pos: Position) -> str:
    """`terms`: the rollover rate, as Kraken words it ("0.0200% per 4 hours")."""
    return f"{terms_of(pos.pair).rollover_fee:.4f}% per 4 hours"


def consolidated_json(positions: list[Position], calcs: dict[str, PositionCalcs] | None) -> list[dict[str, Any]]:
    """OpenPositions `consolidation=market`: one row per pair and side."""
    groups: dict[tuple[str, str], list[Position]] = {}
    for pos in positions:
        groups.setdefault((pos.pair.id, pos.side), []).append(pos)
    out = []
    for (_, side), ents in groups.items():
        pair = ents[0].pair
        c = sum(p.cost for p in ents)
        m = sum(p.margin for p in ents)
        d: dict[str, Any] = {
            "pair": pair.id,
            "positions": str(len(ents)),
            "type": side,
            "leverage": f"{Decimal(c * pair.cost_mult) / Decimal(m):.5f}" if m else "0.00000",
            "cost": cost(pair, c),
            "fee": fee_text(pair, sum(p.fee for p in ents)),
            "vol": volume(pair, sum(p.vol for p in ents)),
            "vol_closed": volume(pair, sum(p.vol_closed for p in ents)),
            "margin": fee_text(pair, m),
        }
        if calcs is not None:
            d["value"] = cost(pair, sum(calcs[p.id].value for p in ents))
            d["net"] = signed_cost(pair, sum(calcs[p.id].net for p in ents))
        out.append(d)
    return out


def trade_rows(fills: list[Fill], consolidate: bool = True) -> list[TradeRow]:
    """Fills (oldest first) -> trade rows, merging one taker execution's fills."""
    rows: list[TradeRow] = []
    last: TradeRow | None = None
    for f in fills:
        if (
            consolidate
            and last is not None
            and not f.maker
            and not last.fills[-1].maker
            and last.fills[-1].order is f.order
            and last.fills[-1].ts == f.ts
        ):
            last.fills.append(f)
            continue
        last = TradeRow(f)
        rows.append(last)
    return rows


def ledger_json(engine: Any, e: Any) -> dict[str, Any]:
    asset = engine.instruments.assets.get(e.asset)
    dp = asset.decimals if asset is not None else BALANCE_DP
    return {
        "refid": e.refid,
        "time": ts(e.time_ns),
        "type": e.type,
        "subtype": e.subtype,
        "aclass": asset.aclass if asset is not None else "currency",
        "asset": e.asset,
        "amount": balance(e.amount, dp),
        "fee": balance(e.fee, dp),
        "balance": balance(e.balance, dp),
    }


def side_letter(side: str) -> str:
    return "b" if side == BUY else "s"


__all__ = [
    "MARKET_TYPES",
    "TradeRow",
    "asset_amount",
    "balance",
    "book_volume",
    "cost",
    "ledger_json",
    "order_json",
    "price",
    "pub_decimal",
    "pub_price",
    "rfc1123",
    "trade_rows",
    "ts",
    "volume",
]
