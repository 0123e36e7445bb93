"""Wire formatting shared by every channel: exact number tokens and times.

Numbers never pass through a float: engine integers are rendered with the
pair's or asset's decimals, as the real venue pads them (`0.00000000`)."""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.core.clock import NS_PER_S, rfc3339_s, rfc3339_us
from simulator.core.instruments import Asset, SpotPair
from simulator.core.numbers import BALANCE_DP, fmt_units, rescale
from simulator.gateways.jsonw import Raw

__all__ = ["Raw", "asset_amount", "cost", "price", "qty", "rfc3339_s", "rfc3339_us", "ts_ns", "ts_us"]


def price(pair: SpotPair, units: int | None) -> Raw:
    return Raw(fmt_units(units or 0, pair.pair_decimals))


def qty(pair: SpotPair, lots: int) -> Raw:
    return Raw(fmt_units(lots, pair.lot_decimals))


def cost(pair: SpotPair, units: int) -> Raw:
    return Raw(fmt_units(units, pair.cost_decimals))


def asset_amount(asset: Asset, balance_units: int) -> Raw:
    """Balance units (1e-10) rendered with the asset's precision."""
    dp = min(asset.decimals, BALANCE_DP)
    return Raw(fmt_units(rescale(balance_units, BALANCE_DP, dp), dp))


_last_second: tuple[int, str] = (-1, "")


def ts_us(ns: int) -> str:
    """RFC 3339 with microseconds; the date part is cached per second (hot path)."""
    global _last_second
    secs, frac = divmod(ns // 1000, 1_000_000)
    cached = _last_second
    if cached[0] != secs:
        cached = (secs, datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _last_second = cached
    return f"{cached[1]}.{frac:06d}Z"


def ts_ns(ns: int) -> str:
    """RFC 3339 with nanoseconds (level3 orders, ohlc interval_begin)."""
    secs, frac = divmod(ns, NS_PER_S)
    dt = datetime.fromtimestamp(secs, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"
