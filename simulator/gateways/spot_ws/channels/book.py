"""Level 2 `book` feed: one shared view per (pair, depth), diffed after each
engine command.

The group remembers what its subscribers were last shown (the top-N window).
After a command it re-reads the engine's top N and sends only the difference
(the diff is the core's, `simulator.core.bookwindow`, shared with FIX):
changed or newly visible levels, and a zero for a level that left the book.
A level pushed out by a better insert gets no delete (clients trim to depth),
and a level that comes into view when one inside is deleted is sent, as
Kraken does.  Every message carries the CRC32 of the top 10 a side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.core.bookwindow import LevelWindow, level_changes, level_window
from simulator.core.numbers import fmt_units

from ..render import ts_us
from .checksum import l2_checksum

if TYPE_CHECKING:
    from simulator.core.book import BookSide, OrderBook
    from simulator.core.instruments import SpotPair

DEPTHS = (10, 25, 100, 500, 1000)


def top(side: BookSide, n: int) -> list[tuple[int, int]]:
    return list(level_window(side, n).items())


def book_checksum(book: OrderBook, pair: SpotPair) -> int:
    return l2_checksum(top(book.asks, 10), top(book.bids, 10), pair.pair_decimals, pair.lot_decimals)


class BookGroup:
    """Subscribers of one (pair, depth) and the window they were last shown."""

    __slots__ = ("pair", "depth", "subs", "bids", "asks", "symbol_json")

    def __init__(self, pair: SpotPair, depth: int) -> None:
        self.pair = pair
        self.depth = depth
        self.subs: set = set()
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.symbol_json = '"' + pair.symbol + '"'

    def _levels(self, entries: list[tuple[int, int]]) -> str:
        pdp, qdp = self.pair.pair_decimals, self.pair.lot_decimals
        return ",".join(f'{{"price":{fmt_units(p, pdp)},"qty":{fmt_units(q, qdp)}}}' for p, q in entries)

    def _message(
        self, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], book: OrderBook, ts: int
    ) -> str:
        cs = book_checksum(book, self.pair)
        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":{self.symbol_json},'
            f'"bids":[{self._levels(bids)}],"asks":[{self._levels(asks)}],'
            f'"checksum":{cs},"timestamp":"{ts_us(ts)}"}}]}}'
        )

    def snapshot(self, book: OrderBook, ts: int) -> str:
        """The current window (also resets what the group has shown)."""
        self.bids = level_window(book.bids, self.depth)
        self.asks = level_window(book.asks, self.depth)
        return self._message("snapshot", list(self.bids.items()), list(self.asks.items()), book, ts)

    def peek_snapshot(self, book: OrderBook, ts: int) -> str:
        """A snapshot for one more subscriber; the shared window is already current."""
        return self._message("snapshot", top(book.bids, self.depth), top(book.asks, self.depth), book, ts)

    def _side(self, shown: LevelWindow, side: BookSide) -> tuple[list[tuple[int, int]], LevelWindow]:
        """Kraken's update rows for one side (a level gone from the book is
        sent as qty 0; one only pushed out of the depth is left to the
        client's trimming) and the new window."""
        now = level_window(side, self.depth)
        ch = level_changes(shown, now, side)
        rows = [(p, 0) for p, _, left in ch.gone if left is None] + [(p, q) for p, q, _ in ch.updates]
        return rows, now

    def update(self, book: OrderBook, ts: int, bid_touched: bool, ask_touched: bool) -> str | None:
        """The update message after a command, or None when the window is unchanged."""
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        if bid_touched:
            bids, now = self._side(self.bids, book.bids)
            if bids:
                self.bids = now
        if ask_touched:
            asks, now = self._side(self.asks, book.asks)
            if asks:
                self.asks = now
        if not bids and not asks:
            return None
        return self._message("update", bids, asks, book, ts)
