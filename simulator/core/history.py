"""Per-account history indexes: closed orders, trades and ledger entries,
paged newest first at O(page + log n).

The engine only appends to its history lists (`closed_orders[acct]`,
`fills[acct]`, `Account.ledger`), in time order.  The indexes here are
derived from those lists, folded in lazily when a read asks (each item is
indexed once), so the matching path pays nothing and a read costs what it
returns plus what arrived since the last read: never the length of history.

Windows follow Kraken's `start`/`end`: exclusive start, inclusive end.
Ids (`start=<txid>`) resolve without an id map: the venue's ids are a
bijection of a counter, so an entry's place in its (creation ordered) list
is found by binary search on the counter.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .accounts import LedgerEntry
    from .events import Fill
    from .ids import IdGenerator
    from .orders import Order

T = TypeVar("T")
K = TypeVar("K")
PAGE = 50


def _window(keys: Sequence[K], key: Callable[[K], int], start: int | None, end: int | None) -> tuple[int, int]:
    """[lo, hi) of the positions in `keys` whose time is in (start, end]."""
    lo = 0 if start is None else bisect_right(keys, start, key=key)
    hi = len(keys) if end is None else bisect_right(keys, end, key=key)
    return lo, max(lo, hi)


def _newest_first(lists: Sequence[tuple[Sequence[int], int, int]], ofs: int, limit: int) -> list[int]:
    """Positions ranked `ofs`..`ofs+limit` (newest first) of the union of
    disjoint sorted slices `lists[i][0][lo:hi]`: a binary search on the
    position value finds where the page starts, a k-way merge reads it."""
    total = sum(hi - lo for _, lo, hi in lists)
    if ofs >= total or limit <= 0:
        return []
    if len(lists) == 1:
        keys, lo, hi = lists[0]
        top = hi - ofs
        return [keys[i] for i in range(top - 1, max(lo, top - limit) - 1, -1)]
    # the (ofs+1)-th largest position: smallest p with count(> p) <= ofs
    a = min(keys[lo] for keys, lo, hi in lists if hi > lo)
    b = max(keys[hi - 1] for keys, lo, hi in lists if hi > lo)
    while a < b:
        mid = (a + b) // 2
        above = sum(hi - max(lo, bisect_right(keys, mid, lo, hi)) for keys, lo, hi in lists)
        if above <= ofs:
            b = mid
        else:
            a = mid + 1
    heads = []
    for keys, lo, hi in lists:
        i = bisect_right(keys, a, lo, hi) - 1
        if i >= lo:
            heads.append((-keys[i], i, keys, lo))
    heapq.heapify(heads)
    out: list[int] = []
    while heads and len(out) < limit:
        neg, i, keys, lo = heapq.heappop(heads)
        out.append(-neg)
        if i - 1 >= lo:
            heapq.heappush(heads, (-keys[i - 1], i - 1, keys, lo))
    return out


# ------------------------------------------------------------- closed orders
@dataclass
class _OrderView:
    """Positions (into the closed list) of one filter: in close order, and
    (built on first use) in open order."""

    by_close: list[int] = field(default_factory=list)
    by_open: list[tuple[int, int]] | None = None  # (opened_ns, position)


class ClosedOrderIndex:
    """One account's closed orders (the engine's list, in close order)."""

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders
        self.seen = 0
        self.all = _OrderView()
        self.by_userref: dict[int, _OrderView] = {}
        self.by_cl: dict[str, _OrderView] = {}

    def _catch_up(self) -> None:
        orders = self.orders
        for i in range(self.seen, len(orders)):
            o = orders[i]
            views = [self.all]
            if o.userref is not None:
                views.append(self.by_userref.setdefault(o.userref, _OrderView()))
            if o.cl_ord_id is not None:
                views.append(self.by_cl.setdefault(o.cl_ord_id, _OrderView()))
            for v in views:
                v.by_close.append(i)
                if v.by_open is not None:
                    insort(v.by_open, (o.opened_ns, i))
        self.seen = len(orders)

    def _view(self, userref: int | None, cl_ord_id: str | None) -> _OrderView:
        """The narrowest indexed view (both filters: the client id's, filtered)."""
        if cl_ord_id is not None:
            v = self.by_cl.get(cl_ord_id)
            if v is None:
                return _OrderView()
            if userref is not None:  # a handful of orders share a client id
                return _OrderView([i for i in v.by_close if self.orders[i].userref == userref])
            return v
        if userref is not None:
            return self.by_userref.get(userref) or _OrderView()
        return self.all

    def page(
        self,
        start: int | None = None,
        end: int | None = None,
        closetime: str = "both",
        userref: int | None = None,
        cl_ord_id: str | None = None,
        ofs: int = 0,
        limit: int = PAGE,
    ) -> tuple[list[Order], int]:
        """(the page, newest first; how many match) as ClosedOrders shows
        them: `closetime` open/close/both picks the time(s) the window tests
        and the order (open: by open time, else by close time)."""
        self._catch_up()
        orders = self.orders
        view = self._view(userref, cl_ord_id)
        if closetime == "open":
            by_open = self._by_open(view)
            lo, hi = _window(by_open, lambda e: e[0], start, end)
            top = hi - ofs
            return [orders[by_open[j][1]] for j in range(top - 1, max(lo, top - limit) - 1, -1)], hi - lo
        keys = view.by_close
        lo, hi = _window(keys, lambda i: orders[i].closed_ns, start, end)
        later: list[int] = []  # both: closed after `end` but opened inside the window
        if closetime == "both" and end is not None and hi < len(keys):
            by_open = self._by_open(view)
            olo, ohi = _window(by_open, lambda e: e[0], start, end)
            if ohi - olo < len(keys) - hi:  # scan the smaller of the two candidate sets
                later = [i for _, i in by_open[olo:ohi] if orders[i].closed_ns > end]
                later.sort(key=lambda i: (orders[i].closed_ns, i), reverse=True)
            else:
                later = [i for i in keys[hi:] if start is None or orders[i].opened_ns > start]
                later = [i for i in later if orders[i].opened_ns <= end]
                later.reverse()
        head = [orders[i] for i in later[ofs : ofs + limit]]
        want = limit - len(head)
        top = hi - max(0, ofs - len(later))
        tail = [orders[keys[j]] for j in range(top - 1, max(lo, top - want) - 1, -1)] if want > 0 else []
        return head + tail, len(later) + hi - lo

    def _by_open(self, view: _OrderView) -> list[tuple[int, int]]:
        if view.by_open is None:
            view.by_open = sorted((self.orders[i].opened_ns, i) for i in view.by_close)
        return view.by_open


# ------------------------------------------------------------------- trades
class TradeIndex:
    """One account's fills, and where each consolidated trade row starts
    (Kraken merges one taker execution's fills into one row)."""

    def __init__(self, fills: list[Fill]) -> None:
        self.fills = fills
        self.seen = 0
        self.row_starts: list[int] = []
        # the same for fills of spot (non-margin) orders only: TradesHistory `type=no position`
        self.spot_row_starts: list[int] = []
        self.spot_fills: list[int] = []

    def _catch_up(self) -> None:
        fills = self.fills
        starts = self.row_starts
        for i in range(self.seen, len(fills)):
            f = fills[i]
            spot = not f.leverage
            if spot:
                self.spot_fills.append(i)
            if i > 0:
                p = fills[i - 1]
                if not f.maker and not p.maker and p.order is f.order and p.ts == f.ts:
                    continue
            starts.append(i)
            if spot:
                self.spot_row_starts.append(i)
        self.seen = len(fills)

    def rows(self, consolidate: bool, spot: bool = False) -> Sequence[int]:
        """Start positions of the rows (every fill when not consolidated);
        `spot`: only the rows of spot (non-margin) fills."""
        self._catch_up()
        if spot:
            return self.spot_row_starts if consolidate else self.spot_fills
        return self.row_starts if consolidate else range(len(self.fills))

    def row(self, starts: Sequence[int], j: int) -> list[Fill]:
        """The fills of row `j` of `starts`."""
        s = starts[j]
        if isinstance(starts, range) or starts is self.spot_fills:
            return self.fills[s : s + 1]
        if starts is self.spot_row_starts:  # the row ends where the next row of any kind starts
            k = bisect_right(self.row_starts, s)
            e = self.row_starts[k] if k < len(self.row_starts) else len(self.fills)
            return self.fills[s:e]
        e = starts[j + 1] if j + 1 < len(starts) else len(self.fills)
        return self.fills[s:e]

    def page(
        self, consolidate: bool, start: int | None, end: int | None, ofs: int, limit: int = PAGE, spot: bool = False
    ) -> tuple[list[list[Fill]], int]:
        fills = self.fills
        starts = self.rows(consolidate, spot)
        lo, hi = _window(starts, lambda i: fills[i].ts, start, end)
        top = hi - ofs
        return [self.row(starts, j) for j in range(top - 1, max(lo, top - limit) - 1, -1)], hi - lo


# ------------------------------------------------------------------ ledgers
class LedgerIndex:
    """One account's ledger, with positions per asset and per (asset, type)."""

    def __init__(self, entries: list[LedgerEntry]) -> None:
        self.entries = entries
        self.seen = 0
        self.by: dict[tuple[str, str | None], list[int]] = {}

    def _catch_up(self) -> None:
        entries = self.entries
        by = self.by
        for i in range(self.seen, len(entries)):
            e = entries[i]
            by.setdefault((e.asset, None), []).append(i)
            by.setdefault((e.asset, e.type), []).append(i)
        self.seen = len(entries)

    def assets(self) -> list[str]:
        self._catch_up()
        return [a for a, t in self.by if t is None]

    def page(
        self, assets: Iterable[str], kind: str | None, start: int | None, end: int | None, ofs: int, limit: int = PAGE
    ) -> tuple[list[LedgerEntry], int]:
        """Entries of `assets` (and of type `kind`, None = all) in the window."""
        self._catch_up()
        entries = self.entries
        slices = []
        for a in assets:
            keys = self.by.get((a, kind))
            if keys:
                lo, hi = _window(keys, lambda i: entries[i].time_ns, start, end)
                if hi > lo:
                    slices.append((keys, lo, hi))
        total = sum(hi - lo for _, lo, hi in slices)
        return [entries[i] for i in _newest_first(slices, ofs, limit)], total


# ------------------------------------------------------------------ lookups
def find_by_id(items: Sequence[T], text: str, ids: IdGenerator, bits: Callable[[T], int], render: Callable[[T], str]) -> int | None:
    """Where the item whose rendered id is `text` sits in `items` (a list in
    id-creation order), or None."""
    want = ids.counter_of_text(text)
    if want is None:
        return None
    i = bisect_left(items, want, key=lambda x: ids.counter_of(bits(x)))
    if i < len(items) and render(items[i]) == text:
        return i
    return None


class HistoryIndex:
    """The indexes of one engine, per account, made on first read."""

    def __init__(self) -> None:
        self.orders: dict[str, ClosedOrderIndex] = {}
        self.trades: dict[str, TradeIndex] = {}
        self.ledgers: dict[str, LedgerIndex] = {}

    def closed(self, account_id: str, orders: list[Order]) -> ClosedOrderIndex:
        ix = self.orders.get(account_id)
        if ix is None or ix.orders is not orders:
            ix = self.orders[account_id] = ClosedOrderIndex(orders)
        return ix

    def fills(self, account_id: str, fills: list[Fill]) -> TradeIndex:
        ix = self.trades.get(account_id)
        if ix is None or ix.fills is not fills:
            ix = self.trades[account_id] = TradeIndex(fills)
        return ix

    def forget(self, key: object, _n: int = 0) -> None:
        """Retention cut the front off one of the lists (`("closed"|"fills"|"ledger",
        account)`): the index holding positions into it is rebuilt on the next read."""
        if not isinstance(key, tuple) or len(key) != 2:
            return
        kind, account_id = key
        if kind == "closed":
            self.orders.pop(account_id, None)
        elif kind == "fills":
            self.trades.pop(account_id, None)
        elif kind == "ledger":
            self.ledgers.pop(account_id, None)

    def ledger(self, account_id: str, entries: list[LedgerEntry]) -> LedgerIndex:
        ix = self.ledgers.get(account_id)
        if ix is None or ix.entries is not entries:
            ix = self.ledgers[account_id] = LedgerIndex(entries)
        return ix


__all__ = ["PAGE", "ClosedOrderIndex", "HistoryIndex", "LedgerIndex", "TradeIndex", "find_by_id"]
