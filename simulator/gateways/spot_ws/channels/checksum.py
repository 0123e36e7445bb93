"""Kraken's CRC32 book checksums (L2 and L3), over the top 10 levels a side.

Tokens are the wire number strings with the dot and leading zeros removed;
asks (best first) come before bids (best first)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from itertools import islice

from simulator.core.numbers import fmt_units

TOKEN_CACHE = 1 << 16  # tokens remembered per number of decimals (then the cache starts over)
_tokens: dict[int, dict[int, str]] = {}


def token(units: int, dp: int) -> str:
    """Memoized: every book change recomputes a checksum over the same few
    prices and quantities, in the order path (a fifth of an order's cost)."""
    cache = _tokens.get(dp)
    if cache is None:
        cache = _tokens.setdefault(dp, {})
    t = cache.get(units)
    if t is None:
        if len(cache) >= TOKEN_CACHE:
            cache.clear()
        t = cache[units] = fmt_units(units, dp).replace(".", "").lstrip("0")
    return t


def l2_checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]], price_dp: int, qty_dp: int) -> int:
    """asks ascending, bids descending, (price units, qty lots); only the first 10 count."""
    parts: list[str] = []
    for side in (asks, bids):
        for p, q in islice(side, 10):
            parts.append(token(p, price_dp))
            parts.append(token(q, qty_dp))
    return zlib.crc32("".join(parts).encode())


def l3_checksum(
    asks: Iterable[tuple[int, Iterable[int]]], bids: Iterable[tuple[int, Iterable[int]]], price_dp: int, qty_dp: int
) -> int:
    """Per side: [(price units, [order qty lots in queue order])], 10 best levels."""
    parts: list[str] = []
    for side in (asks, bids):
        for p, qtys in islice(side, 10):
            pt = token(p, price_dp)
            for q in qtys:
                parts.append(pt)
                parts.append(token(q, qty_dp))
    return zlib.crc32("".join(parts).encode())
