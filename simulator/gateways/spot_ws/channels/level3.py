"""`level3` feed (order by order): one shared view per (pair, depth).

Like the L2 group it diffs the engine's window against what subscribers saw,
order by order: `add` for orders that appear (including every order of a
level that comes into view), `modify` for a visible-quantity change, `delete`
for an order that left the book.  An order that lost its queue place (an
iceberg refill, an amend up) is sent as delete + add so the client's queue
order, and so the checksum, matches the engine's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.core.numbers import fmt_units

from ..fmt import ts_ns
from .checksum import l3_checksum

if TYPE_CHECKING:
    from simulator.core.book import BookSide, OrderBook
    from simulator.core.instruments import SpotPair
    from simulator.core.orders import Order

DEPTHS = (10, 100, 1000)

Window = dict[int, list[tuple[str, int, int]]]  # price -> [(order_id, visible lots, ts)] in queue order


def window(side: BookSide, n: int) -> Window:
    out: Window = {}
    for lvl in side:
        orders: list[Order] = [o for o in lvl.orders if o.in_book]
        out[lvl.price] = [(o.id, o.visible, o.opened_ns) for o in orders]
        if len(out) >= n:
            break
    return out


def l3_book_checksum(book: OrderBook, pair: SpotPair) -> int:
    asks = [(p, [q for _, q, _ in os]) for p, os in window(book.asks, 10).items()]
    bids = [(p, [q for _, q, _ in os]) for p, os in window(book.bids, 10).items()]
    return l3_checksum(asks, bids, pair.pair_decimals, pair.lot_decimals)


class L3Group:
    __slots__ = ("pair", "depth", "subs", "bids", "asks")

    def __init__(self, pair: SpotPair, depth: int) -> None:
        self.pair = pair
        self.depth = depth
        self.subs: set[Any] = set()
        self.bids: Window = {}
        self.asks: Window = {}

    def _order(self, oid: str, price: int, q: int, ts: int, event: str | None = None) -> str:
        pdp, qdp = self.pair.pair_decimals, self.pair.lot_decimals
        head = f'{{"event":"{event}",' if event else "{"
        return (
            f'{head}"order_id":"{oid}","limit_price":{fmt_units(price, pdp)},'
            f'"order_qty":{fmt_units(q, qdp)},"timestamp":"{ts_ns(ts)}"}}'
        )

    def _snapshot_side(self, w: Window) -> str:
        return ",".join(self._order(oid, p, q, ts) for p, os in w.items() for oid, q, ts in os)

    def snapshot(self, book: OrderBook, ts: int, reset: bool = True) -> str:
        bids = window(book.bids, self.depth)
        asks = window(book.asks, self.depth)
        if reset:
            self.bids, self.asks = bids, asks
        cs = l3_book_checksum(book, self.pair)
        return (
            f'{{"channel":"level3","type":"snapshot","data":[{{"symbol":"{self.pair.symbol}",'
            f'"bids":[{self._snapshot_side(bids)}],"asks":[{self._snapshot_side(asks)}],'
            f'"checksum":{cs},"timestamp":"{ts_ns(ts)}"}}]}}'
        )

    def _diff(self, shown: Window, now: Window, side: BookSide, ts: int) -> list[str]:
        deletes: list[str] = []
        rest: list[str] = []
        still: dict[str, int] = {}
        for p, os in now.items():
            for oid, _, _ in os:
                still[oid] = p
        for p, os in shown.items():
            for oid, q, _ in os:
                if still.get(oid) == p:
                    continue  # handled with its level below
                if still.get(oid) is not None or not _in_level(side, p, oid):
                    deletes.append(self._order(oid, p, q, ts, "delete"))
        for p, os in now.items():
            old = shown.get(p, [])
            old_q = {oid: q for oid, q, _ in old}
            kept = [oid for oid, _, _ in old if oid in still and still[oid] == p]
            # longest prefix of the new queue that keeps the old relative order
            i = 0
            while i < len(os) and i < len(kept) and os[i][0] == kept[i]:
                i += 1
            for oid, q, _ in os[:i]:
                if old_q.get(oid) != q:
                    rest.append(self._order(oid, p, q, ts, "modify"))
            for oid, q, ots in os[i:]:
                if oid in old_q:  # moved back in the queue: delete + add
                    deletes.append(self._order(oid, p, old_q[oid], ts, "delete"))
                rest.append(self._order(oid, p, q, ots, "add"))
        return deletes + rest

    def update(self, book: OrderBook, ts: int) -> str | None:
        nb = window(book.bids, self.depth)
        na = window(book.asks, self.depth)
        bids = self._diff(self.bids, nb, book.bids, ts)
        asks = self._diff(self.asks, na, book.asks, ts)
        self.bids, self.asks = nb, na
        if not bids and not asks:
            return None
        cs = l3_book_checksum(book, self.pair)
        return (
            f'{{"channel":"level3","type":"update","data":[{{"checksum":{cs},"symbol":"{self.pair.symbol}",'
            f'"bids":[{",".join(bids)}],"asks":[{",".join(asks)}],"timestamp":"{ts_ns(ts)}"}}]}}'
        )


def _in_level(side: BookSide, price: int, oid: str) -> bool:
    lvl = side.level(price)
    return lvl is not None and any(o.id == oid and o.in_book for o in lvl.orders)
