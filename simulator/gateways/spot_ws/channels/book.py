"""Level 2 `book` feed: one shared view per (pair, depth), diffed after each
engine command.

The group remembers what its subscribers were last shown (the top-N window).
After a command it re-reads the engine's top N and sends only the difference
(the diff is the core's, `simulator.core.bookwindow`, shared with FIX):
changed or newly visible levels, and a zero for a level that left the book.
A level pushed out by a better insert gets no delete (clients trim to depth),
and a level that comes into view when one inside is deleted is sent, as
Kraken does.  Every message carries the CRC32 of the top 10 a side.

The group is the `Topic` its subscribers read: each update is rendered once
and logged with what it changed (per price: the qty shown before, the qty
after, 0 for a level that left the window, deleted or pushed out).  A
subscriber behind by several updates gets them conflated into one: the exact
diff from the window it was last shown to the current one (zeros for every
level it holds that left, the latest qty of every level that changed), with
the current checksum, so its local book still validates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from simulator.core.bookwindow import LevelWindow, level_changes, level_window
from simulator.core.numbers import fmt_units
from simulator.gateways.ws_common import ConflatedTopic

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


Change = tuple[int, int | None, int]  # (price, qty shown before or None, qty after; 0: left the window)


class BookUpdate(NamedTuple):
    """One logged update: its text and what it changed (for conflation)."""

    text: str
    bids: tuple[Change, ...]  # tuples of numbers: the garbage collector stops tracking them
    asks: tuple[Change, ...]
    checksum: int
    ts: int


def _net(entries: list[BookUpdate], side: str, best_first_desc: bool) -> list[tuple[int, int]]:
    """One side's rows from the window before `entries` to the window after them."""
    acc: dict[int, list[int | None]] = {}
    for e in entries:
        for p, old, new in getattr(e, side):
            a = acc.get(p)
            if a is None:
                acc[p] = [old, new]
            else:
                a[1] = new
    zeros = [(p, 0) for p, (old, new) in acc.items() if new == 0 and old is not None]
    ups = sorted(((p, new) for p, (old, new) in acc.items() if new and new != old), reverse=best_first_desc)
    return zeros + ups  # type: ignore[operator]


class BookGroup(ConflatedTopic):
    """Subscribers of one (pair, depth) and the window they were last shown."""

    __slots__ = ("pair", "depth", "bids", "asks", "symbol_json")

    def __init__(self, pair: SpotPair, depth: int) -> None:
        super().__init__()
        self.pair = pair
        self.depth = depth
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.symbol_json = '"' + pair.symbol + '"'

    def _levels(self, entries: list[tuple[int, int]]) -> str:
        pdp, qdp = self.pair.pair_decimals, self.pair.lot_decimals
        return ",".join(f'{{"price":{fmt_units(p, pdp)},"qty":{fmt_units(q, qdp)}}}' for p, q in entries)

    def _message(
        self, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], book: OrderBook, ts: int
    ) -> str:
        return self._render(kind, bids, asks, book_checksum(book, self.pair), ts)

    def _render(self, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], cs: int, ts: int) -> str:
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

    def _side(self, shown: LevelWindow, side: BookSide) -> tuple[list[tuple[int, int]], list[Change], LevelWindow]:
        """Kraken's update rows for one side (a level gone from the book is
        sent as qty 0; one only pushed out of the depth is left to the
        client's trimming), every change (for conflation) and the new window."""
        now = level_window(side, self.depth)
        ch = level_changes(shown, now, side)
        rows = [(p, 0) for p, _, left in ch.gone if left is None] + [(p, q) for p, q, _ in ch.updates]
        changes: list[Change] = [(p, q, 0) for p, q, _ in ch.gone]
        changes += [(p, shown.get(p), q) for p, q, _ in ch.updates]
        return rows, changes, now

    def update(self, book: OrderBook, ts: int, bid_touched: bool, ask_touched: bool) -> BookUpdate | None:
        """The update after a command, or None when the window is unchanged."""
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        bch: list[Change] = []
        ach: list[Change] = []
        if bid_touched:
            bids, bch, now = self._side(self.bids, book.bids)
            if bch:
                self.bids = now
        if ask_touched:
            asks, ach, now = self._side(self.asks, book.asks)
            if ach:
                self.asks = now
        if not bch and not ach:
            return None
        cs = book_checksum(book, self.pair)
        text = self._render("update", bids, asks, cs, ts) if bids or asks else ""
        return BookUpdate(text, tuple(bch), tuple(ach), cs, ts)

    @staticmethod
    def text(entry: BookUpdate) -> str:  # type: ignore[override]
        return entry.text

    def read(self, cursor: int, loaded: bool = False) -> tuple[str | None, int] | None:
        got = super().read(cursor, loaded)
        if got is not None and got[0] == "":
            return None, got[1]  # only levels pushed out of the window: nothing on the wire
        return got

    def resync(self, conn: Any, hub: Any) -> bool:
        """A subscriber that fell off the log (its socket was full for that long)
        gets a fresh snapshot, then the updates after it (a client rebuilds its
        book on a snapshot, as after subscribing); a second time before its
        socket drained, it is dropped (a consumer that does not read)."""
        if self in conn.resynced:
            return False
        conn.resynced.add(self)
        with hub.lock:
            book = hub.rt.venue.spot.books[self.pair.id]
            conn.enqueue(self.peek_snapshot(book, hub.rt.venue.clock.now_ns()))
            conn.cursors[self] = self.head
        return True

    def merge(self, entries: list[BookUpdate]) -> str | None:
        """The exact diff from the window before `entries` to the current one."""
        bids = _net(entries, "bids", True)
        asks = _net(entries, "asks", False)
        if not bids and not asks:
            return None
        last = entries[-1]
        return self._render("update", bids, asks, last.checksum, last.ts)
