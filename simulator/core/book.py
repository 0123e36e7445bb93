"""Price-time order book per instrument.

Each side maps a sort key to a price level (asks by price, bids by -price)
and keeps the keys in a plain list sorted best-last, so the best level is
`keys[-1]` and the levels nearest the touch, where nearly all adds and
removals happen, are the cheapest to insert and delete (`bisect` is C).  A
level keeps its orders in arrival order; a cancel only marks the order out of
the book (O(1)) and the matcher skips it.  Dead entries the matcher never
reaches (orders cancelled behind a long-lived one at the same price) are
dropped once they outnumber the live ones (amortised O(1) per cancel), so a
level holds what is live, not every order that ever rested there.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from .digest import StateHash
from .orders import BUY, Order

DEAD_SLACK = 16  # dead entries a level may hold beyond its live count before they are dropped


class Level:
    __slots__ = ("price", "orders", "visible", "count")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.visible = 0  # sum of the live orders' visible quantity
        self.count = 0  # live orders

    def live(self) -> Iterator[Order]:
        for o in self.orders:
            if o.in_book:
                yield o


class BookSide:
    """One side: `levels` by key, `keys` sorted so that the best is last."""

    __slots__ = ("is_bid", "levels", "keys")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        # bids: ascending prices (best = highest, last); asks: descending (best = lowest, last)
        self.keys: list[int] = []

    def key(self, price: int) -> int:
        return price if self.is_bid else -price

    def best(self) -> Level | None:
        keys = self.keys
        return self.levels[keys[-1]] if keys else None

    def level(self, price: int) -> Level | None:
        return self.levels.get(self.key(price))

    def add_level(self, key: int, lvl: Level) -> None:
        self.levels[key] = lvl
        keys = self.keys
        if not keys or key > keys[-1]:
            keys.append(key)
        else:
            insort(keys, key)

    def drop_level(self, key: int) -> None:
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def __iter__(self) -> Iterator[Level]:
        """Levels best first."""
        levels = self.levels
        for k in reversed(self.keys):
            yield levels[k]

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)


class OrderBook:
    """Resting orders of one instrument; L2 and L3 views, top-N for checksums."""

    __slots__ = ("symbol", "bids", "asks")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(True)
        self.asks = BookSide(False)

    def side(self, side: str) -> BookSide:
        return self.bids if side == BUY else self.asks

    def opposite(self, side: str) -> BookSide:
        return self.asks if side == BUY else self.bids

    def insert(self, order: Order) -> Level:
        """Append at the back of its price level (price-time priority)."""
        bs = self.bids if order.side == BUY else self.asks
        price = order.price
        assert price is not None
        key = bs.key(price)
        lvl = bs.levels.get(key)
        if lvl is None:
            lvl = Level(price)
            bs.add_level(key, lvl)
        lvl.orders.append(order)
        lvl.visible += order.visible
        lvl.count += 1
        order.in_book = True
        return lvl

    def remove(self, order: Order, purge: bool = False) -> Level:
        """Take an order out; its level goes when its last live order does.

        Normally the entry stays in the level's queue, dead, until the matcher,
        the level's end or a sweep (dead entries past the live count) drops it.
        `purge` removes it now: needed when the same order object will be
        inserted again (a price amend)."""
        bs = self.bids if order.side == BUY else self.asks
        price = order.price
        assert price is not None
        key = bs.key(price)
        lvl: Level = bs.levels[key]
        order.in_book = False
        lvl.visible -= order.visible
        lvl.count -= 1
        if lvl.count == 0:
            bs.drop_level(key)
        elif purge:
            lvl.orders.remove(order)
        elif len(lvl.orders) > 2 * lvl.count + DEAD_SLACK:
            # in place: a matcher walking this level holds the deque itself
            q = lvl.orders
            live = [o for o in q if o.in_book]
            q.clear()
            q.extend(live)
        return lvl

    def requeue(self, order: Order) -> None:
        """Move a live order to the back of its level (it loses priority)."""
        lvl = self.side(order.side).level(order.price or 0)
        assert lvl is not None
        lvl.orders.remove(order)
        lvl.orders.append(order)

    def state_digest(self) -> str:
        """Every live order in queue order per level (who trades first)."""
        h = StateHash()
        for name, side in (("bid", self.bids), ("ask", self.asks)):
            for lvl in side:
                ids = [o.id for o in lvl.live()]
                if ids:
                    h.add(name, lvl.price, lvl.visible, ids)
        return h.hexdigest()

    def best_bid(self) -> int | None:
        lvl = self.bids.best()
        return lvl.price if lvl else None

    def best_ask(self) -> int | None:
        lvl = self.asks.best()
        return lvl.price if lvl else None

    def l2(self, side: str, depth: int | None = None) -> list[tuple[int, int]]:
        """[(price, visible qty)] best first."""
        out = []
        for lvl in self.side(side):
            out.append((lvl.price, lvl.visible))
            if depth is not None and len(out) >= depth:
                break
        return out

    def l3(self, side: str, depth: int | None = None) -> list[tuple[int, list[Order]]]:
        """[(price, [orders in queue order])] best first."""
        out = []
        for lvl in self.side(side):
            out.append((lvl.price, list(lvl.live())))
            if depth is not None and len(out) >= depth:
                break
        return out

    def orders(self) -> Iterator[Order]:
        for bs in (self.bids, self.asks):
            for lvl in bs:
                yield from lvl.live()

    def is_crossed(self) -> bool:
        b, a = self.best_bid(), self.best_ask()
        return b is not None and a is not None and b >= a
