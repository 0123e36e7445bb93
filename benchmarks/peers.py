"""Adapters that replay a ``benchmarks.workload`` op list through peer books.

Peers are the pure-Python PyPI packages ``pyorderbook`` (0.4.9) and
``lightmatchingengine`` (2019.1.4).  Each ``run_*`` times only the loop that
applies the ops: the peer's book is built, and the ops are converted into the
peer's native inputs (prices, ids, order objects), before the clock starts.
``n_fills`` always counts (taker, maker) pairs, the same unit as
``benchmarks.reference``.

Each ``fills_of_*`` replays the same ops untimed and returns fills as
``(taker_oid, maker_oid, price_ticks, qty_lots)`` so the peers can be checked
against the reference engine.

The peers are imported lazily: ``pyorderbook`` calls
``logging.basicConfig(level=INFO)`` at import time, which we do not want as a
side effect of importing this module.
"""

from __future__ import annotations

import gc
import time
from decimal import Decimal
from typing import Any

Fill = tuple[int, int, int, int]
"""(taker_oid, maker_oid, price_ticks, qty_lots)."""

SYMBOL = "XBT/USD"


# ---------------------------------------------------------------- pyorderbook
#
# API (read from site-packages/pyorderbook):
#   Order(side: Side.BID|Side.ASK, symbol, price, quantity: int) -- assigns its
#       own uuid4() id and stores Decimal(str(price)).
#   Book.match(order) -> TradeBlotter(.trades: list[Trade]) -- one Trade per
#       (incoming, standing) pair; price = maker's price; remainder rests.
#   Book.cancel(order) -- cancels by the Order *object* (it reads id, symbol,
#       side, price from it); there is no cancel-by-id.  A client has to keep
#       its Order objects anyway, so each cancel op carries a reference to the
#       Order that was submitted for that oid.
#
# Prices are given as exact Decimals (ticks scaled by 10^-1); the library
# re-parses them via str(), which round-trips exactly.


def _ticks_to_decimal(ticks: int) -> Decimal:
    """Exact decimal price for a tick count (tick = 0.1)."""
    return Decimal(ticks).scaleb(-1)


def _prepare_pyorderbook(
    ops: list[tuple],
) -> tuple[list[tuple[bool, Any]], dict[Any, int]]:
    """Build pyorderbook Order objects up front; also map uuid -> our oid.

    Orders are mutated by matching, so a prepared list is single-use.
    """
    from pyorderbook import Order, Side

    orders: dict[int, Any] = {}
    uuid_to_oid: dict[Any, int] = {}
    prepared: list[tuple[bool, Any]] = []
    for op in ops:
        if op[0] == "add":
            _, oid, side, price, qty = op
            order = Order(
                Side.BID if side == "buy" else Side.ASK,
                SYMBOL,
                _ticks_to_decimal(price),
                qty,
            )
            orders[oid] = order
            uuid_to_oid[order.id] = oid
            prepared.append((True, order))
        else:
            prepared.append((False, orders[op[1]]))
    return prepared, uuid_to_oid


def run_pyorderbook(
    ops: list[tuple], *, include_order_construction: bool = False
) -> tuple[float, int]:
    """Time ``ops`` through pyorderbook; return (seconds, n_fills).

    By default Order objects (uuid4 + Decimal parsing) are built before the
    clock starts, which flatters pyorderbook.  With
    ``include_order_construction=True`` they are built inside the timed loop,
    as a client turning integer messages into orders would have to, and
    cancels look the Order up in a client-side dict.
    """
    from pyorderbook import Book, Order, Side

    book = Book()
    match = book.match
    cancel = book.cancel
    n_fills = 0
    if not include_order_construction:
        prepared, _ = _prepare_pyorderbook(ops)
        gc.collect()
        t0 = time.perf_counter()
        for is_add, order in prepared:
            if is_add:
                n_fills += len(match(order).trades)
            else:
                cancel(order)
        return time.perf_counter() - t0, n_fills

    # Only the enum/Decimal conversion is hoisted; Order() runs in the loop.
    raw: list[tuple[bool, int, Any, Decimal | None, int]] = [
        (
            True,
            op[1],
            Side.BID if op[2] == "buy" else Side.ASK,
            _ticks_to_decimal(op[3]),
            op[4],
        )
        if op[0] == "add"
        else (False, op[1], None, None, 0)
        for op in ops
    ]
    live: dict[int, Any] = {}
    gc.collect()
    t0 = time.perf_counter()
    for is_add, oid, side, price, qty in raw:
        if is_add:
            order = Order(side, SYMBOL, price, qty)
            live[oid] = order
            n_fills += len(match(order).trades)
        else:
            cancel(live.pop(oid))
    return time.perf_counter() - t0, n_fills


def fills_of_pyorderbook(ops: list[tuple]) -> list[Fill]:
    """Replay ``ops`` through pyorderbook (untimed) and return its fills."""
    from pyorderbook import Book

    prepared, uuid_to_oid = _prepare_pyorderbook(ops)
    book = Book()
    fills: list[Fill] = []
    for is_add, order in prepared:
        if is_add:
            for t in book.match(order).trades:
                fills.append(
                    (
                        uuid_to_oid[t.incoming_order_id],
                        uuid_to_oid[t.standing_order_id],
                        int(t.fill_price.scaleb(1)),
                        t.fill_quantity,
                    )
                )
        else:
            book.cancel(order)  # raises KeyError if the order is not live
    return fills


# -------------------------------------------------------- lightmatchingengine
#
# API (read from site-packages/lightmatchingengine/lightmatchingengine.py):
#   LightMatchingEngine.add_order(instmt, price, qty, side: Side.BUY|Side.SELL)
#       -> (order, trades).  The engine assigns order ids itself, 1, 2, 3, ...
#       per engine instance; price 0 would mean a market order (never used).
#       ``trades`` holds, per price level swept, one aggregated trade for the
#       aggressor (order_id == taker id, qty = total at that level) followed by
#       one trade per maker hit (order_id == maker id).  The maker trades are
#       exactly our (taker, maker) fills.
#   LightMatchingEngine.cancel_order(order_id, instmt) -> order | None.
#       Cancel by the engine's own id: since ids are sequential we precompute
#       our-oid -> engine-id before timing.
#
# Prices are floats ticks / 10: correctly-rounded division is monotone and
# deterministic, so distinct ticks stay distinct and ordered, equal ticks
# compare equal, and round(price * 10) recovers the ticks exactly.


def _prepare_lightmatchingengine(
    ops: list[tuple],
) -> tuple[list[tuple[bool, float, int, int]], list[int]]:
    """Convert ops to (is_add, price|engine_id, qty, side) and engine-id -> oid.

    For an add the tuple is (True, price_float, qty, side_enum); for a cancel
    it is (False, engine_id, 0, 0) -- same arity so the loop unpacks cheaply.
    """
    from lightmatchingengine.lightmatchingengine import Side

    engine_id: dict[int, int] = {}
    oid_of: list[int] = [0]  # engine ids start at 1
    prepared: list[tuple[bool, float, int, int]] = []
    for op in ops:
        if op[0] == "add":
            _, oid, side, price, qty = op
            engine_id[oid] = len(oid_of)
            oid_of.append(oid)
            prepared.append(
                (True, price / 10, qty, Side.BUY if side == "buy" else Side.SELL)
            )
        else:
            prepared.append((False, engine_id[op[1]], 0, 0))
    return prepared, oid_of


def run_lightmatchingengine(ops: list[tuple]) -> tuple[float, int]:
    """Time ``ops`` through lightmatchingengine; return (seconds, n_fills)."""
    from lightmatchingengine.lightmatchingengine import LightMatchingEngine

    prepared, oid_of = _prepare_lightmatchingengine(ops)
    engine = LightMatchingEngine()
    add = engine.add_order
    cancel = engine.cancel_order
    n_fills = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_add, a, qty, side in prepared:
        if is_add:
            order, trades = add(SYMBOL, a, qty, side)
            if trades:
                taker = order.order_id
                for t in trades:
                    if t.order_id != taker:
                        n_fills += 1
        else:
            cancel(a, SYMBOL)
    seconds = time.perf_counter() - t0
    if engine.curr_order_id != len(oid_of) - 1:
        raise RuntimeError("lightmatchingengine id assignment is not sequential from 1")
    return seconds, n_fills


def fills_of_lightmatchingengine(ops: list[tuple]) -> list[Fill]:
    """Replay ``ops`` through lightmatchingengine (untimed); return its fills."""
    from lightmatchingengine.lightmatchingengine import LightMatchingEngine

    prepared, oid_of = _prepare_lightmatchingengine(ops)
    engine = LightMatchingEngine()
    fills: list[Fill] = []
    n_adds = 0
    for is_add, a, qty, side in prepared:
        if is_add:
            order, trades = engine.add_order(SYMBOL, a, qty, side)
            n_adds += 1
            if order.order_id != n_adds:
                raise RuntimeError(
                    "lightmatchingengine id assignment is not sequential"
                )
            taker = oid_of[order.order_id]
            for t in trades:
                if t.order_id != order.order_id:
                    fills.append(
                        (
                            taker,
                            oid_of[t.order_id],
                            round(t.trade_price * 10),
                            t.trade_qty,
                        )
                    )
        elif engine.cancel_order(int(a), SYMBOL) is None:
            raise RuntimeError(f"lightmatchingengine refused cancel of engine id {a}")
    return fills
