"""`level3` feed (order by order): one shared view per (pair, depth).

Like the L2 group it diffs the engine's window against what subscribers saw,
order by order (the core's diff, `simulator.core.bookwindow`, shared with FIX): `add` for orders that appear (including every order of a
level that comes into view), `modify` for a visible-quantity change, `delete`
for an order that left the book.  An order that lost its queue place (an
iceberg refill, an amend up) is sent as delete + add so the client's queue
order, and so the checksum, matches the engine's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.core.bookwindow import OrderWindow, order_changes, order_window
from simulator.core.numbers import fmt_units
from simulator.gateways.ws_common import Topic

from ..render import ts_ns
from .checksum import l3_checksum

if TYPE_CHECKING:
    from simulator.core.book import BookSide, OrderBook
    from simulator.core.instruments import SpotPair

DEPTHS = (10, 100, 1000)

def window(side: BookSide, n: int) -> OrderWindow:
    return order_window(side, n)


def l3_book_checksum(book: OrderBook, pair: SpotPair) -> int:
    asks = [(p, [q for _, q, _ in os]) for p, os in window(book.asks, 10).items()]
    bids = [(p, [q for _, q, _ in os]) for p, os in window(book.bids, 10).items()]
    return l3_checksum(asks, bids, pair.pair_decimals, pair.lot_decimals)


class L3Group(Topic):
    """The `Topic` of one (pair, depth): order-by-order updates are never
    conflated (a subscriber too far behind is disconnected instead)."""

    __slots__ = ("pair", "depth", "bids", "asks")

    def __init__(self, pair: SpotPair, depth: int) -> None:
        super().__init__()
        self.pair = pair
        self.depth = depth
        self.bids: OrderWindow = {}
        self.asks: OrderWindow = {}

    def _order(self, oid: str, price: int, q: int, ts: int, event: str | None = None) -> str:
        pdp, qdp = self.pair.pair_decimals, self.pair.lot_decimals
        head = f'{{"event":"{event}",' if event else "{"
        return (
            f'{head}"order_id":"{oid}","limit_price":{fmt_units(price, pdp)},'
            f'"order_qty":{fmt_units(q, qdp)},"timestamp":"{ts_ns(ts)}"}}'
        )

    def _snapshot_side(self, w: OrderWindow) -> str:
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

    def _diff(self, shown: OrderWindow, now: OrderWindow, side: BookSide, ts: int) -> list[str]:
        """Kraken's rows: deletes first (an order only pushed out of the depth
        is left to the client's trimming), then modifies and adds in queue order."""
        ch = order_changes(shown, now, side)
        rows = [self._order(oid, p, q, ts, "delete") for oid, p, q, _, left in ch.deletes if left is None]
        for action, oid, p, q, ots in ch.updates:
            rows.append(self._order(oid, p, q, ts if action == "modify" else ots, action))
        return rows

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
