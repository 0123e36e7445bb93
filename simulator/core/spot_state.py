"""The Spot engine's state as plain records (`SpotEngine.to_state` /
`from_state`), kept apart from the matching code it mirrors.

Orders and fills are shared between containers (the book, an account's
open orders, the id index, the fills of an order and of its account), so
each is written once in a table and referred to by index; a load rebuilds
the same sharing.  A book level keeps only its live orders in queue order
(dead entries are skipped by the matcher anyway).  Ledger entries live
with the accounts (AccountRegistry.to_state): fills name theirs by id bits.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

from .book import OrderBook
from .digest import field_names
from .events import Fill, TradeEvent
from .orders import _NO_TRADES, Order, Origin
from .state import Deferred, Table, book_rec, dec, enc, held, load_book
from .timers import COMPACT_FLOOR

if TYPE_CHECKING:
    from .accounts import LedgerEntry
    from .engine import SpotEngine

# Order fields that refer to other objects (the rest are ints, strings, bools, None)
_ORDER_REFS = frozenset({"pair", "origin", "trades", "close"})
_FILL_FIELDS = ("trade_id", "account_id", "pair_id", "side", "ordertype", "price", "qty", "cost", "fee",
                "fee_asset", "maker", "ts", "counter_order_id", "leverage", "margin", "posid", "opened", "closed",
                "pnl", "pos_status")  # fmt: skip
_TRADE_FIELDS = ("pair_id", "trade_id", "price", "qty", "taker_side", "ts", "maker_order_id", "taker_order_id",
                 "ordertype")  # fmt: skip


_GETTERS: dict[tuple[str, ...], Any] = {}


def _order_rec(o: Order, names: tuple[str, ...], fills: Table) -> list[Any]:
    get = _GETTERS.get(names)
    if get is None:
        get = _GETTERS[names] = (operator.attrgetter(*names), [(i, n) for i, n in enumerate(names) if n in _ORDER_REFS])
    getter, refs = get
    out = list(getter(o))
    for i, n in refs:
        v = out[i]
        if n == "pair":
            out[i] = v.id
        elif n == "origin":
            out[i] = None if v is None else [v.protocol, v.session, v.account_id]
        elif n == "trades":
            out[i] = None if v is _NO_TRADES else [fills.ref(f) for f in v]
        else:
            out[i] = enc(v)
    return out


def to_state(eng: SpotEngine) -> dict[str, Any]:
    """Live state (open orders, books, stops, counters, timers) as records
    now; history (closed orders, fills, trades) as references now and
    records later (a Deferred part: those objects no longer change)."""
    orders, fills = Table(), Table()
    ref = orders.ref
    names = field_names(Order)
    out: dict[str, Any] = {
        "now_ns": eng.now_ns,
        "status": eng.status,
        # what retention cut off each history list so far (the digest covers it)
        "retention_dropped": [[k[0], k[1], n] for k, n in eng.retention.dropped.items()],  # type: ignore[index]
        "open_orders": {a: [ref(o) for o in d.values()] for a, d in eng.open_orders.items()},
        "books": {pid: book_rec(b, orders) for pid, b in eng.books.items()},
        "stops": {pid: [ref(o) for o in lst] for pid, lst in eng.stops.items()},
        "cl_ids": [[a, cl, ref(o)] for (a, cl), o in eng.cl_ids.items()],
        "trade_seq": dict(eng.trade_seq),
        "last_price": dict(eng.last_price),
        "index_price": dict(eng.index_price),
        "open_count": [[a, p, n] for (a, p), n in eng.open_count.items()],
        "dead_man": dict(eng.dead_man),
        "exports": eng.exports.to_state(),
        "amend_history": eng.amend_history.to_state(),
        "timers": [list(t) for t in eng._timers],
        "timer_seq": eng._timer_seq,
        "timers_compact_at": eng._timers_compact_at,
        "order_fields": list(names),
        "margin": eng.margin.to_state(),
    }
    # every live order is in `open_orders`: its record is taken now, while it cannot change
    out["live_orders"] = [_order_rec(o, names, fills) for o in orders.objs]
    live = len(orders.objs)
    everything = list(eng.orders.values())
    closed, account_fills, trades = held(eng.closed_orders), held(eng.fills), held(eng.trades)

    def history() -> dict[str, Any]:
        hist: dict[str, Any] = {
            "orders_by_id": [ref(o) for o in everything],
            "closed_orders": {a: [ref(o) for o in lst] for a, lst in closed.items()},
            "fills": {a: [fills.ref(f) for f in lst] for a, lst in account_fills.items()},
            "trades": {pid: [[getattr(t, n) for n in _TRADE_FIELDS] for t in lst] for pid, lst in trades.items()},
        }
        recs: list[Any] = []
        fill_recs: list[Any] = []
        i = live
        while True:  # orders name their fills, fills their orders: until both tables are written
            while i < len(orders.objs):
                recs.append(_order_rec(orders.objs[i], names, fills))
                i += 1
            if len(fill_recs) == len(fills.objs):
                break
            f = fills.objs[len(fill_recs)]
            fill_recs.append([format(f._bits, "x"), ref(f.order), [format(e._bits, "x") for e in f.ledger],
                              *[getattr(f, n) for n in _FILL_FIELDS]])  # fmt: skip
        hist["closed_order_table"] = recs
        hist["fill_table"] = fill_recs
        return hist

    out["history"] = Deferred(history)
    return out


def from_state(eng: SpotEngine, state: dict[str, Any]) -> None:
    """Replace the engine's state with a saved one (the accounts, with their
    ledgers, are loaded first)."""
    inst = eng.instruments
    eng.retention.dropped = {(kind, key): n for kind, key, n in state.get("retention_dropped", [])}
    names = state["order_fields"]
    hist = state["history"]
    orders: list[Order] = []
    trade_refs: list[Any] = []
    for rec in (*state["live_orders"], *hist["closed_order_table"]):
        d = dict(zip(names, rec, strict=True))
        pair = inst.pairs[d["pair"]]
        o = Order(d["id"], d["account_id"], pair, d["side"], d["ordertype"], d["qty"])
        for n, v in d.items():
            if n in _ORDER_REFS:
                if n == "origin":
                    o.origin = None if v is None else Origin(*v)
                elif n == "close":
                    o.close = dec(v)
            elif n in Order.__slots__:
                setattr(o, n, v)
        trade_refs.append(d.get("trades"))
        orders.append(o)
    ledger: dict[str, LedgerEntry] = {}
    for acct in eng.accounts.accounts.values():
        for e in acct.ledger:
            ledger[format(e._bits, "x")] = e
    fills: list[Fill] = []
    for bits, oi, lrefs, *vals in hist["fill_table"]:
        o = orders[oi]
        f = Fill(int(bits, 16), 0, o, 0, 0, 0, 0, False, 0, "")
        for n, v in zip(_FILL_FIELDS[: len(vals)], vals, strict=True):  # older snapshots: no margin fields
            setattr(f, n, v)
        f.ledger = tuple(ledger[b] for b in lrefs)
        for e in f.ledger:
            e.ref = f
        fills.append(f)
    for o, tr in zip(orders, trade_refs, strict=True):
        o.trades = _NO_TRADES if tr is None else [fills[i] for i in tr]
    eng.now_ns = int(state["now_ns"])
    eng.status = state["status"]
    eng.orders = {orders[i].id: orders[i] for i in hist["orders_by_id"]}
    eng.open_orders = {a: {orders[i].id: orders[i] for i in lst} for a, lst in state["open_orders"].items()}
    eng.closed_orders = {a: [orders[i] for i in lst] for a, lst in hist["closed_orders"].items()}
    eng.fills = {a: [fills[i] for i in lst] for a, lst in hist["fills"].items()}
    for pid, b in state["books"].items():
        book = eng.books.get(pid)
        if book is None:
            book = eng.books[pid] = OrderBook(pid)
        load_book(book, b, orders)
    eng.stops = {pid: [orders[i] for i in lst] for pid, lst in state["stops"].items()}
    eng.cl_ids = {(a, cl): orders[i] for a, cl, i in state["cl_ids"]}
    eng.trades = {pid: [TradeEvent(*t) for t in lst] for pid, lst in hist["trades"].items()}
    eng.trade_seq = dict(state["trade_seq"])
    eng.last_price = dict(state["last_price"])
    eng.index_price = dict(state["index_price"])
    eng.open_count = {(a, p): n for a, p, n in state["open_count"]}
    eng.dead_man = dict(state["dead_man"])
    eng.exports.from_state(state["exports"])
    eng.amend_history.from_state(state["amend_history"])
    eng._timers = [(at, seq, kind, ref) for at, seq, kind, ref in state["timers"]]
    eng._timer_seq = int(state["timer_seq"])
    eng.margin.from_state(state.get("margin"))
    eng._timers_compact_at = int(state.get("timers_compact_at", COMPACT_FLOOR))
    eng._fee_cache = {}
    eng.events = []


__all__ = ["from_state", "to_state"]
