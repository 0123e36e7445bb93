"""Seeded, deterministic order-flow workload for the engine benchmark.

Every engine under test (ours and the peers) is fed the *same* list of
operations, so throughput numbers are comparable and fills can be
cross-checked against ``benchmarks.reference``.

Operations are plain tuples in integer units (price in ticks of 0.1,
quantity in lots of 1e-8):

* ``("add", oid, side, price_ticks, qty_lots)`` -- a limit order; ``side`` is
  ``"buy"`` or ``"sell"``.  Both resting and crossing orders use this shape;
  what distinguishes them is only where they are priced.
* ``("cancel", oid)`` -- cancel of an order that is live at that point.

Order ids are assigned sequentially from 1 in the order the adds appear.
Generation does not depend on ``n_ops`` beyond stopping, so
``generate(k, s) == generate(n, s)[:k]`` for ``k <= n``: a small correctness
run is literally the prefix of the timed run.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter, deque

MID_TICKS = 600_000
"""Anchor price in ticks: 60000.0 at a tick of 0.1."""

MAX_REST_OFFSET = 40
"""Resting orders sit 1..MAX_REST_OFFSET ticks behind the touch/anchor."""

MAX_CROSS_THROUGH = 4
"""Crossing orders are priced 0..MAX_CROSS_THROUGH ticks through the far best."""

REST_QTY = (10_000, 5_000_000)
CROSS_QTY = (10_000, 8_000_000)

P_REST = 0.60
P_CROSS = 0.15
# The remaining 0.25 are cancels.

Op = tuple
"""("add", oid, side, price_ticks, qty_lots) or ("cancel", oid)."""


class _SimBook:
    """Exact, reasonably fast matching simulation used while generating.

    The generator needs the true book state (best prices, which orders are
    still live after fills) so that resting orders really rest, crossing
    orders really cross and cancels always target live orders.  This is an
    independent implementation from ``benchmarks.reference``; the reference
    raising on a dead cancel is what cross-validates the two.
    """

    def __init__(self) -> None:
        # side -> price -> FIFO of oids resting there
        self.levels: dict[str, dict[int, deque[int]]] = {"buy": {}, "sell": {}}
        # side -> ascending prices that currently have at least one order
        self.prices: dict[str, list[int]] = {"buy": [], "sell": []}
        self.remaining: dict[int, int] = {}
        self.where: dict[int, tuple[str, int]] = {}
        # live oids in a list (+ position index) for O(1) uniform choice/removal
        self.live: list[int] = []
        self.pos: dict[int, int] = {}

    def best_bid(self) -> int | None:
        """Highest bid price, or None if the bid side is empty."""
        p = self.prices["buy"]
        return p[-1] if p else None

    def best_ask(self) -> int | None:
        """Lowest ask price, or None if the ask side is empty."""
        p = self.prices["sell"]
        return p[0] if p else None

    def _rest(self, oid: int, side: str, price: int, qty: int) -> None:
        level = self.levels[side].get(price)
        if level is None:
            level = self.levels[side][price] = deque()
            bisect.insort(self.prices[side], price)
        level.append(oid)
        self.remaining[oid] = qty
        self.where[oid] = (side, price)
        self.pos[oid] = len(self.live)
        self.live.append(oid)

    def _forget(self, oid: int) -> None:
        """Drop a no-longer-live order from the bookkeeping (not the level)."""
        del self.remaining[oid]
        del self.where[oid]
        i = self.pos.pop(oid)
        last = self.live.pop()
        if last != oid:
            self.live[i] = last
            self.pos[last] = i

    def _drop_level_if_empty(self, side: str, price: int) -> None:
        if not self.levels[side][price]:
            del self.levels[side][price]
            prices = self.prices[side]
            del prices[bisect.bisect_left(prices, price)]

    def add(
        self, oid: int, side: str, price: int, qty: int
    ) -> list[tuple[int, int, int, int]]:
        """Match a limit order, rest any remainder, return the fills."""
        fills: list[tuple[int, int, int, int]] = []
        other = "sell" if side == "buy" else "buy"
        other_prices = self.prices[other]
        while qty and other_prices:
            best = other_prices[0] if side == "buy" else other_prices[-1]
            if (side == "buy" and best > price) or (side == "sell" and best < price):
                break
            level = self.levels[other][best]
            while qty and level:
                maker = level[0]
                m_qty = self.remaining[maker]
                q = min(qty, m_qty)
                fills.append((oid, maker, best, q))
                qty -= q
                if q == m_qty:
                    level.popleft()
                    self._forget(maker)
                else:
                    self.remaining[maker] = m_qty - q
            self._drop_level_if_empty(other, best)
        if qty:
            self._rest(oid, side, price, qty)
        return fills

    def cancel(self, oid: int) -> None:
        """Remove a live order; raises KeyError if it is not live."""
        side, price = self.where[oid]
        self.levels[side][price].remove(oid)
        self._forget(oid)
        self._drop_level_if_empty(side, price)


def generate(n_ops: int = 200_000, seed: int = 1) -> list[Op]:
    """Return ``n_ops`` deterministic operations (see module docstring).

    Mix: ~60% resting adds, ~15% crossing adds, ~25% cancels of live orders.
    When a crossing order or cancel is impossible (empty far side, nothing
    live -- only at the very start) a resting add is emitted instead.
    """
    rng = random.Random(seed)
    book = _SimBook()
    ops: list[Op] = []
    next_oid = 1
    for _ in range(n_ops):
        r = rng.random()
        if r >= P_REST + P_CROSS and book.live:
            oid = book.live[rng.randrange(len(book.live))]
            book.cancel(oid)
            ops.append(("cancel", oid))
            continue
        side = "buy" if rng.random() < 0.5 else "sell"
        far_best = book.best_ask() if side == "buy" else book.best_bid()
        crossing = P_REST <= r < P_REST + P_CROSS and far_best is not None
        if crossing:
            assert far_best is not None
            through = rng.randint(0, MAX_CROSS_THROUGH)
            price = far_best + through if side == "buy" else far_best - through
            qty = rng.randint(*CROSS_QTY)
        else:
            # Skewed towards the touch; never at or through the far best.
            offset = 1 + min(
                rng.randrange(MAX_REST_OFFSET), rng.randrange(MAX_REST_OFFSET)
            )
            if side == "buy":
                ref = MID_TICKS if far_best is None else min(MID_TICKS, far_best)
                price = ref - offset
            else:
                ref = MID_TICKS if far_best is None else max(MID_TICKS, far_best)
                price = ref + offset
            qty = rng.randint(*REST_QTY)
        oid = next_oid
        next_oid += 1
        fills = book.add(oid, side, price, qty)
        assert bool(fills) == crossing, "resting add crossed or crossing add missed"
        ops.append(("add", oid, side, price, qty))
    return ops


def workload_stats(ops: list[Op]) -> str:
    """Human-readable summary, re-derived by replaying ``ops`` exactly.

    Replaying (rather than trusting generator counters) means this also
    describes any hand-made or truncated op list.
    """
    book = _SimBook()
    kinds: Counter[str] = Counter()
    n_fills = 0
    n_rested_residual = 0
    max_live = 0
    add_prices: list[int] = []
    add_qtys: list[int] = []
    for op in ops:
        if op[0] == "add":
            _, oid, side, price, qty = op
            fills = book.add(oid, side, price, qty)
            add_prices.append(price)
            add_qtys.append(qty)
            if fills:
                kinds["crossing add"] += 1
                n_fills += len(fills)
                if oid in book.remaining:
                    n_rested_residual += 1
            else:
                kinds["resting add"] += 1
        else:
            book.cancel(op[1])
            kinds["cancel"] += 1
        max_live = max(max_live, len(book.live))
    n = len(ops) or 1
    lines = [f"ops: {len(ops):,}"]
    for k in ("resting add", "crossing add", "cancel"):
        lines.append(f"  {k:<13} {kinds[k]:>9,}  ({100 * kinds[k] / n:5.1f}%)")
    n_cross = kinds["crossing add"] or 1
    lines.append(
        f"fills: {n_fills:,} ({n_fills / n_cross:.2f} makers per crossing add; "
        f"{n_rested_residual:,} crossing adds left a resting residual)"
    )
    if add_prices:
        lines.append(
            f"add prices: {min(add_prices):,}..{max(add_prices):,} ticks "
            f"(max |price - {MID_TICKS:,}| = {max(abs(p - MID_TICKS) for p in add_prices)})"
        )
        lines.append(f"add qtys: {min(add_qtys):,}..{max(add_qtys):,} lots")
    lines.append(
        f"live orders: max {max_live:,}, final {len(book.live):,} on "
        f"{len(book.prices['buy'])} bid / {len(book.prices['sell'])} ask levels "
        f"(best {book.best_bid()} / {book.best_ask()})"
    )
    return "\n".join(lines)
