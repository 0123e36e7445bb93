"""The derivatives engine's state as plain records (`FuturesEngine.to_state`
/ `from_state`), kept apart from the engine it mirrors.

Orders are shared (the id index, an account's open and closed orders, the
books, the trigger lists) and order snapshots (`OSnap`, immutable) are shared
by fills, history, trades: each is written once in a table and referred to by
index, so a load rebuilds the same sharing.  Contract specs are wiring (built
from the instruments) and are named by symbol.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ..digest import field_names
from ..state import Deferred, Table, book_rec, dec, enc, held, load_book
from ..timers import COMPACT_FLOOR
from .model import FAccount, FillRec, FOrder, HistoryEvent, LogEntry, MarginAccount, OSnap, Position, TradeRec

if TYPE_CHECKING:
    from .engine import FuturesEngine

_SNAP_FIELDS = tuple(f.name for f in fields(OSnap))
_LOG_FIELDS = tuple(f.name for f in fields(LogEntry))


class _Out:
    """Tables of one save: orders and order snapshots."""

    def __init__(self) -> None:
        self.orders = Table()
        self.snaps = Table()

    def snap(self, s: OSnap | None) -> int | None:
        return None if s is None else self.snaps.ref(s)


def _snap_rec(s: OSnap) -> list[Any]:
    return [s.spec.symbol if n == "spec" else enc(getattr(s, n)) for n in _SNAP_FIELDS]


def _order_rec(o: FOrder, names: tuple[str, ...]) -> list[Any]:
    return [o.spec.symbol if n == "spec" else enc(getattr(o, n)) for n in names]


def _position_rec(p: Position) -> list[Any]:
    return [p.spec.symbol, p.size, p.cost, p.opened_ns, p.updated_ns]


def _account_rec(fa: FAccount, out: _Out) -> tuple[dict[str, Any], Any]:
    """(live part now, a builder of the history part for later)."""
    live = {
        "id": fa.id,
        "flex": dict(fa.flex.balances),
        "inverse": [[ma.name, ma.currency, dict(ma.balances)] for ma in fa.inverse.values()],
        "cash": dict(fa.cash),
        "positions": [_position_rec(p) for p in fa.positions.values()],
        "open": [out.orders.ref(o) for o in fa.open.values()],
        "leverage": enc(fa.leverage),
        "pnl_pref": dict(fa.pnl_pref),
        "dms_at": fa.dms_at,
        "fill_seq": fa.fill_seq,
        "log_seq": fa.log_seq,
    }
    closed, fills, logs, history = list(fa.closed), list(fa.fills), list(fa.logs), list(fa.history)

    def later() -> dict[str, Any]:
        return {
            "closed": [out.orders.ref(o) for o in closed],
            "fills": [[f.fill_id, f.exec_id, f.account_id, out.snap(f.order), f.spec.symbol, f.side, f.qty, f.price,
                       f.fill_type, f.fee, f.fee_asset, f.ts, f.seq, f.taker_otype] for f in fills],
            "logs": [[enc(getattr(e, n)) for n in _LOG_FIELDS] for e in logs],
            "history": [[h.uid, h.ts, h.kind, out.snap(h.order), out.snap(h.old), h.reason] for h in history],
        }  # fmt: skip

    return live, later


def to_state(eng: FuturesEngine) -> dict[str, Any]:
    """Live state (open and trigger orders, books, positions, money, prices,
    timers) as records now; history (finished orders, fills, logs, order
    history, trades, samples) as references now and records later (a
    Deferred part: those objects no longer change)."""
    out = _Out()
    ref = out.orders.ref
    names = field_names(FOrder)
    accounts = [_account_rec(fa, out) for fa in eng.state.values()]
    state: dict[str, Any] = {
        "now_ns": eng.now_ns,
        "status": eng.status,
        "accounts": [live for live, _ in accounts],
        "books": {s: book_rec(b, out.orders) for s, b in eng.books.items()},
        "triggers": {s: [ref(o) for o in lst] for s, lst in eng.triggers.items()},
        "trade_seq": dict(eng.trade_seq),
        "last": enc(eng.last),
        "mark": enc(eng.mark),
        "index": enc(eng.index),
        "funding_override": enc(eng.funding_override),
        "last_funding_ns": eng.last_funding_ns,
        "open_interest": dict(eng.open_interest),
        "house": dict(eng.house),
        "house_positions": {k: _position_rec(p) for k, p in eng.house_positions.items()},
        "notifications": enc(eng.notifications),
        "timers": [list(t) for t in eng._timers],
        "timer_seq": eng._timer_seq,
        "timers_compact_at": eng._timers_compact_at,
        "funding_at": eng._funding_at,
        "expiry_armed": eng._expiry_armed,
        "asset_usd": enc(eng.asset_usd),
        "order_fields": list(names),
    }  # fmt: skip
    # every live order is an account's open order: its record is taken now, while it cannot change
    state["live_orders"] = [_order_rec(o, names) for o in out.orders.objs]
    live = len(out.orders.objs)
    everything = list(eng.orders.values())
    trades, mark_samples = held(eng.trades), held(eng.mark_samples)
    index_samples, funding_history = held(eng.index_samples), held(eng.funding_history)

    def history() -> dict[str, Any]:
        hist: dict[str, Any] = {
            "orders_by_id": [ref(o) for o in everything],
            "accounts": [later() for _, later in accounts],
            "trades": {s: [[t.uid, t.trade_id, t.symbol, t.price, t.qty, t.side, t.type, t.ts, str(t.mark),
                            out.snap(t.maker), out.snap(t.taker)] for t in lst] for s, lst in trades.items()},
            "mark_samples": enc(mark_samples),
            "index_samples": enc(index_samples),
            "funding_history": enc(funding_history),
        }  # fmt: skip
        hist["closed_order_table"] = [_order_rec(o, names) for o in out.orders.objs[live:]]
        hist["snap_table"] = [_snap_rec(s) for s in out.snaps.objs]
        return hist

    state["history"] = Deferred(history)
    return state


def from_state(eng: FuturesEngine, state: dict[str, Any]) -> None:
    """Replace the engine's state with a saved one."""
    specs = eng.specs
    names = state["order_fields"]
    hist = state["history"]
    orders: list[FOrder] = []
    for rec in (*state["live_orders"], *hist["closed_order_table"]):
        d = dict(zip(names, rec, strict=True))
        o = FOrder(d["id"], d["account_id"], specs[d["spec"]], d["side"], d["otype"], d["qty"])
        for n, v in d.items():
            if n != "spec" and n in FOrder.__slots__:
                setattr(o, n, dec(v))
        orders.append(o)
    snaps = []
    for rec in hist["snap_table"]:
        kw: dict[str, Any] = {n: specs[v] if n == "spec" else dec(v) for n, v in zip(_SNAP_FIELDS, rec, strict=True)}
        snaps.append(OSnap(**kw))

    def snap(i: int | None) -> OSnap | None:
        return None if i is None else snaps[i]

    def position(rec: list[Any]) -> Position:
        sym, size, cost, opened, updated = rec
        return Position(specs[sym], size, cost, opened, updated)

    hmax = eng.config.history_max
    eng.state = {}
    for live, later in zip(state["accounts"], hist["accounts"], strict=True):
        d = {**live, **later}
        fa = FAccount(d["id"], hmax)
        fa.flex.balances = dict(d["flex"])
        fa.inverse = {name: MarginAccount(name, cur, dict(bal)) for name, cur, bal in d["inverse"]}
        fa.cash = dict(d["cash"])
        fa.positions = {p.spec.symbol: p for p in map(position, d["positions"])}
        fa.open = {orders[i].id: orders[i] for i in d["open"]}
        fa.closed.extend(orders[i] for i in d["closed"])
        fa.fills.extend(
            FillRec(fid, xid, acct, snap(si), specs[sym], side, qty, price, ftype, fee, fasset, ts, seq, totype)  # type: ignore[arg-type]
            for fid, xid, acct, si, sym, side, qty, price, ftype, fee, fasset, ts, seq, totype in d["fills"]
        )
        fa.logs.extend(LogEntry(*map(dec, rec)) for rec in d["logs"])
        fa.history.extend(
            HistoryEvent(uid, ts, kind, snap(oi), snap(old), reason)  # type: ignore[arg-type]
            for uid, ts, kind, oi, old, reason in d["history"]
        )
        fa.leverage = dec(d["leverage"])
        fa.pnl_pref = dict(d["pnl_pref"])
        fa.dms_at, fa.fill_seq, fa.log_seq = d["dms_at"], d["fill_seq"], d["log_seq"]
        eng.state[fa.id] = fa
    eng.now_ns = int(state["now_ns"])
    eng.status = state["status"]
    eng.orders = {orders[i].id: orders[i] for i in hist["orders_by_id"]}
    for sym, b in state["books"].items():
        load_book(eng.books[sym], b, orders)
    eng.triggers = {s: [orders[i] for i in lst] for s, lst in state["triggers"].items()}
    tmax = eng.config.trades_max
    eng.trades = {
        s: deque(
            (TradeRec(uid, tid, sym, price, qty, side, typ, ts, dec({"$d": mark}), snap(mk), snap(tk))
             for uid, tid, sym, price, qty, side, typ, ts, mark, mk, tk in lst),
            maxlen=tmax,
        )
        for s, lst in hist["trades"].items()
    }  # fmt: skip
    eng.trade_seq = dict(state["trade_seq"])
    eng.last = dec(state["last"])
    eng.mark = dec(state["mark"])
    eng.index = dec(state["index"])
    eng.mark_samples = dec(hist["mark_samples"])
    eng.index_samples = dec(hist["index_samples"])
    eng.funding_override = dec(state["funding_override"])
    eng.funding_history = dec(hist["funding_history"])
    eng.last_funding_ns = int(state["last_funding_ns"])
    eng.open_interest = dict(state["open_interest"])
    eng.house = dict(state["house"])
    eng.house_positions = {k: position(rec) for k, rec in state["house_positions"].items()}
    eng.notifications = dec(state["notifications"])
    eng._timers = [(at, seq, kind, ref) for at, seq, kind, ref in state["timers"]]
    eng._timer_seq = int(state["timer_seq"])
    eng._timers_compact_at = int(state.get("timers_compact_at", COMPACT_FLOOR))
    eng._funding_at = int(state["funding_at"])
    eng._expiry_armed = bool(state["expiry_armed"])
    eng.asset_usd = dec(state["asset_usd"])
    eng._touched = set()
    eng.events = []


__all__ = ["from_state", "to_state"]
