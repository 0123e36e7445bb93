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

from simulator.core.events import Fill
from simulator.core.instruments import Asset, SpotPair
from simulator.core.numbers import BALANCE_DP, fmt_units, rescale
from simulator.core.orders import (
    BUY,
    LIMIT_AFTER_TRIGGER,
    STOP_LOSS,
    STOP_LOSS_LIMIT,
    TRAILING_STOP,
    TRIGGERED_TYPES,
    Order,
)

ZERO5 = "0.00000"
NS = 1_000_000_000
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
    dt = datetime.fromtimestamp(ns // NS, tz=UTC)
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
    return ",".join(parts)


def descr_prices(o: Order, engine: Any) -> tuple[str, str]:
    """descr.price / descr.price2: primary (limit, or trigger for triggered types) and secondary."""
    pair = o.pair
    otype = o.ordertype
    if otype in TRIGGERED_TYPES:
        if "trailing" in otype:
            # the offsets exactly as the sentence shows them: "+5.0000%", "-10.0"
            words = engine.describe(o).split(" @ ", 1)[1].split(" ")
            return words[2], (words[-1] if otype in LIMIT_AFTER_TRIGGER else "0")
        trig = price(pair, o.trigger_price) if o.trigger_price is not None else "0"
        p2 = price(pair, o.price) if (otype in LIMIT_AFTER_TRIGGER and o.price is not None) else "0"
        return trig, p2
    if o.price is not None:
        return price(pair, o.price), "0"
    return "0", "0"


def order_json(engine: Any, o: Order, trades: list[str] | None = None) -> dict[str, Any]:
    """One order as OpenOrders/ClosedOrders/QueryOrders show it."""
    pair = o.pair
    p1, p2 = descr_prices(o, engine)
    d: dict[str, Any] = {"refid": None, "userref": o.userref}
    if o.cl_ord_id is not None:
        d["cl_ord_id"] = o.cl_ord_id
    d["status"] = o.status
    if o.closed_ns:
        d["reason"] = o.reason
    d["opentm"] = ts(o.opened_ns)
    if o.closed_ns:
        d["closetm"] = ts(o.closed_ns)
    d["starttm"] = o.start_ns // NS if o.start_ns else 0
    d["expiretm"] = o.expire_ns // NS if o.expire_ns else 0
    d["descr"] = {
        "pair": pair.altname,
        "type": o.side,
        "ordertype": o.ordertype,
        "price": p1,
        "price2": p2,
        "leverage": "none",
        "order": engine.describe(o),
        "close": engine.describe_close(o),
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
    d["margin"] = False
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

    def to_json(self, with_ledgers: bool = False) -> dict[str, Any]:
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
        if with_ledgers:
            d["ledgers"] = [lid for f in self.fills for lid in f.ledger_ids]
        return d


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
