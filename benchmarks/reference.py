"""Brute-force reference matching engine: the benchmark's correctness oracle.

Deliberately naive -- one plain list of resting orders in arrival order and a
linear scan per fill -- so that it is obviously correct by inspection.
Speed is irrelevant; use it only on small workloads (a few thousand ops).

Semantics: limit orders only, price-time priority, partial fills, a
remainder rests at its limit price, fill price is the resting (maker)
order's price, cancels remove a live order and raise if it is not live.
"""

from __future__ import annotations

from dataclasses import dataclass

Fill = tuple[int, int, int, int]
"""(taker_oid, maker_oid, price_ticks, qty_lots)."""


@dataclass
class _Resting:
    oid: int
    side: str
    price: int
    qty: int


def _crosses(taker_side: str, taker_price: int, maker: _Resting) -> bool:
    """True if ``maker`` is on the other side and its price is acceptable."""
    if taker_side == "buy":
        return maker.side == "sell" and maker.price <= taker_price
    return maker.side == "buy" and maker.price >= taker_price


def _better(taker_side: str, a: _Resting, b: _Resting) -> bool:
    """True if ``a`` has a strictly better price than ``b`` for this taker.

    Strictly: on equal price the earlier one (``b``, met first in the
    arrival-ordered list) keeps priority -- that is the time priority.
    """
    if taker_side == "buy":
        return a.price < b.price
    return a.price > b.price


def run(ops: list[tuple]) -> list[Fill]:
    """Apply ``ops`` to an empty book and return every fill in order."""
    book: list[_Resting] = []  # arrival order == time priority
    seen: set[int] = set()
    fills: list[Fill] = []
    for op in ops:
        if op[0] == "add":
            _, oid, side, price, qty = op
            if side not in ("buy", "sell"):
                raise ValueError(f"bad side in {op!r}")
            if qty <= 0:
                raise ValueError(f"non-positive qty in {op!r}")
            if oid in seen:
                raise ValueError(f"duplicate oid in {op!r}")
            seen.add(oid)
            while qty > 0:
                best_i = -1
                for i, maker in enumerate(book):
                    if _crosses(side, price, maker) and (
                        best_i < 0 or _better(side, maker, book[best_i])
                    ):
                        best_i = i
                if best_i < 0:
                    break
                maker = book[best_i]
                q = min(qty, maker.qty)
                fills.append((oid, maker.oid, maker.price, q))
                qty -= q
                maker.qty -= q
                if maker.qty == 0:
                    del book[best_i]
            if qty > 0:
                book.append(_Resting(oid, side, price, qty))
        elif op[0] == "cancel":
            oid = op[1]
            for i, resting in enumerate(book):
                if resting.oid == oid:
                    del book[i]
                    break
            else:
                raise ValueError(f"cancel of an order that is not live: {op!r}")
        else:
            raise ValueError(f"unknown op {op!r}")
    return fills
