"""Plain records for saved state (snapshots): each state owner writes its
own `to_state()` and reads it back with `from_state()`; this module only
spells values the JSON way.

A record is dicts with string keys, lists, ints, strings, bools and None.
`enc` turns the few richer values engines keep (Decimal, tuples, sets,
dicts keyed by tuples, relative prices) into tagged plain values and `dec`
turns them back, exactly.  Objects are never walked here: an owner names
each field it saves and refers to other objects by id or table index, so
a field nobody saves is a visible omission, not a silently pickled object.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from .book import Level, OrderBook
from .orders import RelPrice

_SCALAR = (str, int, bool, type(None))
K = TypeVar("K")
V = TypeVar("V")


def enc(v: Any) -> Any:
    """A value as a plain record (raises TypeError for an object)."""
    t = type(v)
    if t in (str, int, bool) or v is None:
        return v
    if t is Decimal:
        return {"$d": str(v)}
    if t is list or t is deque:
        return [enc(x) for x in v]
    if t is tuple:
        return {"$t": [enc(x) for x in v]}
    if t is dict:
        if all(type(k) is str and not k.startswith("$") for k in v):
            return {k: enc(x) for k, x in v.items()}
        return {"$m": [[enc(k), enc(x)] for k, x in v.items()]}
    if t is set or t is frozenset:
        return {"$s": sorted((enc(x) for x in v), key=repr)}
    if t is RelPrice:
        return {"$rel": [v.sign, str(v.amount), v.percent]}
    raise TypeError(f"no plain record for {t.__name__}: its owner must save it field by field")


def dec(v: Any) -> Any:
    """The value `enc` was given (tuples, sets, Decimals as they were)."""
    t = type(v)
    if t is list:
        return [dec(x) for x in v]
    if t is not dict:
        return v
    if len(v) == 1:
        ((k, x),) = v.items()
        if k == "$d":
            return Decimal(x)
        if k == "$t":
            return tuple(dec(y) for y in x)
        if k == "$m":
            return {dec(a): dec(b) for a, b in x}
        if k == "$s":
            return {dec(y) for y in x}
        if k == "$rel":
            return RelPrice(x[0], Decimal(x[1]), bool(x[2]))
    return {k: dec(x) for k, x in v.items()}


def dec_map(v: Any) -> dict[Any, Any]:
    out = dec(v)
    if not isinstance(out, dict):
        raise ValueError("not a map")
    return out


class Deferred:
    """Records of history that no longer changes (closed orders, fills,
    ledger entries, trades), captured now as references and turned into
    records later: a snapshot takes the references with the sequencers
    held, and builds the records off the event loop.  `build` may only read
    objects that no command changes any more."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build


def held(lists: Mapping[K, Iterable[V]]) -> dict[K, list[V]]:
    """Per key, the history list as it stands now (references to objects that
    no longer change), for a Deferred part to write later."""
    return {k: list(v) for k, v in lists.items()}


def materialize(x: Any) -> Any:
    """`x` with every Deferred part built: plain records throughout."""
    t = type(x)
    if t is Deferred:
        return materialize(x.build())
    if t is dict:
        return {k: materialize(v) for k, v in x.items()}
    if t is list:
        return [materialize(v) for v in x]
    return x


def expand(x: Any) -> Any:
    """A JSON writer's `default`: builds a Deferred part where it is written."""
    if type(x) is Deferred:
        return x.build()
    raise TypeError(f"{type(x).__name__} is not a plain record")


class Table:
    """Objects shared between containers (an order in a book, an account's
    open orders and a fill), written once and referred to by index."""

    __slots__ = ("objs", "_at")

    def __init__(self) -> None:
        self.objs: list[Any] = []
        self._at: dict[int, int] = {}

    def ref(self, obj: Any) -> int:
        i = self._at.get(id(obj))
        if i is None:
            i = self._at[id(obj)] = len(self.objs)
            self.objs.append(obj)
        return i


def book_rec(book: OrderBook, orders: Table) -> dict[str, Any]:
    """A book as records: per level its price, counters and live orders in
    queue order (dead entries are skipped by the matcher anyway)."""

    def side(levels: dict[int, Level]) -> list[Any]:
        return [[lvl.price, lvl.visible, lvl.count, [orders.ref(o) for o in lvl.live()]] for lvl in levels.values()]

    return {"bids": side(book.bids.levels), "asks": side(book.asks.levels)}


def load_book(book: OrderBook, rec: dict[str, Any], orders: Sequence[Any]) -> None:
    """Refill `book` from `book_rec`'s record; `orders` is the loaded order table."""
    for bs, levels in ((book.bids, rec["bids"]), (book.asks, rec["asks"])):
        bs.levels.clear()
        for price, visible, count, ids in levels:
            lvl = Level(price)
            lvl.orders.extend(orders[i] for i in ids)
            lvl.visible, lvl.count = visible, count
            bs.levels[bs.key(price)] = lvl
        bs.keys = sorted(bs.levels)


__all__ = ["Deferred", "Table", "book_rec", "dec", "dec_map", "enc", "expand", "held", "load_book", "materialize"]
