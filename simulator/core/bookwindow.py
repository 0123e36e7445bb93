"""What changed in the top-N window of a book side since a subscriber last
saw it: the one diff behind every incremental book feed (Spot WS `book` and
`level3`, FIX market data, for Spot and Derivatives books).

A feed keeps the window it last showed (levels, or the orders in them) and,
after a command touched the book, cuts the current window and diffs.  The
diff says everything each dialect needs to decide what to send:
- a shown level/order that is no longer in the window carries what is left
  of it in the book (`left` None: gone from the book; a number: it was only
  pushed out of the window, which WS clients trim themselves and FIX reports
  as a delete with that size);
- updates come in window order (best first), flagged new or changed;
- an order that moved price, or lost its queue place (iceberg refill, amend
  up), is deleted and added again, so a client's queue order (and so the
  Level 3 checksum) matches the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LevelWindow = dict[int, int]  # price -> visible quantity, best first
OrderRow = tuple[str, int, int]  # (order id, visible quantity, time it entered the book)
OrderWindow = dict[int, list[OrderRow]]  # price -> the level's queue, best level first


def level_window(side: Any, n: int) -> LevelWindow:
    """The best `n` levels of a book side."""
    out: LevelWindow = {}
    for lvl in side:
        out[lvl.price] = lvl.visible
        if len(out) >= n:
            break
    return out


def _entered(o: Any) -> int:
    return getattr(o, "opened_ns", 0) or getattr(o, "created_ns", 0)


def order_window(side: Any, n: int) -> OrderWindow:
    """The orders of the best `n` levels, each level in queue order."""
    out: OrderWindow = {}
    for lvl in side:
        out[lvl.price] = [(o.id, o.visible, _entered(o)) for o in lvl.orders if o.in_book]
        if len(out) >= n:
            break
    return out


@dataclass
class LevelChanges:
    gone: list[tuple[int, int, int | None]] = field(default_factory=list)  # (price, shown qty, left in book)
    updates: list[tuple[int, int, bool]] = field(default_factory=list)  # (price, qty, new) best first

    def __bool__(self) -> bool:
        return bool(self.gone or self.updates)


def level_changes(shown: LevelWindow, now: LevelWindow, side: Any) -> LevelChanges:
    out = LevelChanges()
    for p, q in shown.items():
        if p not in now:
            lvl = side.level(p)
            out.gone.append((p, q, lvl.visible if lvl is not None else None))
    for p, q in now.items():
        old = shown.get(p)
        if old != q:
            out.updates.append((p, q, old is None))
    return out


@dataclass
class OrderChanges:
    # (order id, price, shown qty, time it entered the book, left: what it still shows at that price;
    # None: no longer there)
    deletes: list[tuple[str, int, int, int, int | None]] = field(default_factory=list)
    # ("modify" | "add", order id, price, qty, time it entered the book), best level first, queue order
    updates: list[tuple[str, str, int, int, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.deletes or self.updates)


def _left_at(side: Any, price: int, oid: str) -> int | None:
    lvl = side.level(price)
    if lvl is None:
        return None
    for o in lvl.orders:
        if o.id == oid and o.in_book:
            return int(o.visible)
    return None


def order_changes(shown: OrderWindow, now: OrderWindow, side: Any) -> OrderChanges:
    out = OrderChanges()
    where: dict[str, int] = {oid: p for p, os in now.items() for oid, _, _ in os}
    requeued: list[tuple[str, int, int, int, int | None]] = []
    for p, os in shown.items():
        for oid, q, ts in os:
            at = where.get(oid)
            if at == p:
                continue  # still at its level: handled below
            out.deletes.append((oid, p, q, ts, None if at is not None else _left_at(side, p, oid)))
    for p, os in now.items():
        old = shown.get(p, [])
        old_q = {oid: (q, ts) for oid, q, ts in old}
        kept = [oid for oid, _, _ in old if where.get(oid) == p]
        # the longest prefix of the new queue that keeps the old relative order
        i = 0
        while i < len(os) and i < len(kept) and os[i][0] == kept[i]:
            i += 1
        for oid, q, ts in os[:i]:
            if old_q[oid][0] != q:
                out.updates.append(("modify", oid, p, q, ts))
        for oid, q, ts in os[i:]:
            if oid in old_q:  # moved back in the queue: delete + add
                requeued.append((oid, p, old_q[oid][0], old_q[oid][1], None))
            out.updates.append(("add", oid, p, q, ts))
    out.deletes += requeued
    return out


__all__ = [
    "LevelChanges",
    "LevelWindow",
    "OrderChanges",
    "OrderRow",
    "OrderWindow",
    "level_changes",
    "level_window",
    "order_changes",
    "order_window",
]
