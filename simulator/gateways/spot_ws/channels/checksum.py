"""Kraken's CRC32 book checksums (L2 and L3), over the top 10 levels a side.

Tokens are the wire number strings with the dot and leading zeros removed;
asks (best first) come before bids (best first)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from itertools import islice

from simulator.core.numbers import fmt_units


def token(units: int, dp: int) -> str:
    return fmt_units(units, dp).replace(".", "").lstrip("0")


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
