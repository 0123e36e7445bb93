"""A client-side order book built only from wire messages, with Kraken's
checksum computed from the wire tokens (independent of the simulator code)."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any


def tok(d: Decimal) -> str:
    return format(d, "f").replace(".", "").lstrip("0")


class Replica:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.checked = 0

    def _apply(self, side: dict[Decimal, Decimal], levels: list[dict[str, Any]], reverse: bool) -> None:
        for lv in levels:
            p, q = lv["price"], lv["qty"]
            if q == 0:
                side.pop(p, None)
            else:
                side[p] = q
        keep = sorted(side, reverse=reverse)[: self.depth]
        for p in list(side):
            if p not in keep:
                del side[p]

    def apply(self, msg: dict[str, Any]) -> None:
        d = msg["data"][0]
        if msg["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        self._apply(self.bids, d["bids"], True)
        self._apply(self.asks, d["asks"], False)
        assert d["checksum"] == self.checksum(), "checksum mismatch"
        self.checked += 1

    def levels(self, side: str) -> list[tuple[Decimal, Decimal]]:
        book = self.bids if side == "bids" else self.asks
        return [(p, book[p]) for p in sorted(book, reverse=side == "bids")]

    def checksum(self) -> int:
        s = "".join(tok(p) + tok(q) for p, q in self.levels("asks")[:10])
        s += "".join(tok(p) + tok(q) for p, q in self.levels("bids")[:10])
        return zlib.crc32(s.encode())


class L3Replica:
    """Order-by-order book from `level3` messages (queue order from adds)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, list[list[Any]]] = {}
        self.asks: dict[Decimal, list[list[Any]]] = {}
        self.checked = 0

    def _apply(self, side: dict[Decimal, list[list[Any]]], events: list[dict[str, Any]], reverse: bool) -> None:
        for ev in events:
            p, oid, q = ev["limit_price"], ev["order_id"], ev["order_qty"]
            kind = ev.get("event", "add")
            if kind == "add":
                side.setdefault(p, []).append([oid, q])
            elif kind == "modify":
                for row in side.get(p, []):
                    if row[0] == oid:
                        row[1] = q
            else:
                lvl = side.get(p, [])
                side[p] = [r for r in lvl if r[0] != oid]
                if not side[p]:
                    del side[p]
        keep = sorted(side, reverse=reverse)[: self.depth]
        for p in list(side):
            if p not in keep:
                del side[p]

    def apply(self, msg: dict[str, Any]) -> None:
        d = msg["data"][0]
        if msg["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        self._apply(self.bids, d["bids"], True)
        self._apply(self.asks, d["asks"], False)
        assert d["checksum"] == self.checksum(), "l3 checksum mismatch"
        self.checked += 1

    def checksum(self) -> int:
        s = ""
        for side, rev in ((self.asks, False), (self.bids, True)):
            for p in sorted(side, reverse=rev)[:10]:
                for _, q in side[p]:
                    s += tok(p) + tok(q)
        return zlib.crc32(s.encode())
