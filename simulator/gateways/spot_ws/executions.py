"""`executions` and `balances` (auth host): execution reports from engine
events, open-order/fill snapshots, balance snapshots and ledger updates.

Engine events are handled after the command finished, when an order already
shows its final state; each report therefore takes the order's quantity,
running totals and trigger state from its event (fixed when it happened)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from simulator.core.events import BalanceEvent, Fill, OrderEvent
from simulator.core.numbers import BALANCE_DP, fmt_units, rescale
from simulator.core.orders import (
    CANCELED,
    CLOSED,
    EXPIRED,
    LIMIT_AFTER_TRIGGER,
    PENDING,
    TRAILING_TYPES,
    TRIGGERED_TYPES,
    Order,
)
from simulator.gateways.jsonw import Raw

from .render import asset_amount, ts_us

if TYPE_CHECKING:
    from simulator.core.engine import SpotEngine

MAX_RATE_COUNT = {"starter": 60, "intermediate": 125, "pro": 180}
STATUS_ONLY = frozenset({"new", "filled", "canceled", "expired", "trade"})  # order_status=false keeps these
SNAP_TRADES = 50


class ExecSub:
    """One connection's `executions` subscription."""

    __slots__ = ("conn", "account_id", "snap_orders", "snap_trades", "order_status", "ratecounter", "seq")

    def __init__(
        self, conn: Any, account_id: str, snap_orders: bool, snap_trades: bool, order_status: bool, ratecounter: bool
    ) -> None:
        self.conn = conn
        self.account_id = account_id
        self.snap_orders = snap_orders
        self.snap_trades = snap_trades
        self.order_status = order_status
        self.ratecounter = ratecounter
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class BalanceSub:
    __slots__ = ("conn", "account_id", "seq")

    def __init__(self, conn: Any, account_id: str) -> None:
        self.conn = conn
        self.account_id = account_id
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


# ------------------------------------------------------------------ helpers
def _ids(o: Order) -> dict[str, Any]:
    if o.cl_ord_id is not None:
        return {"cl_ord_id": o.cl_ord_id}
    return {"order_userref": o.userref or 0}


def usd_equiv(eng: SpotEngine, asset_id: str, balance_units: int) -> Raw:
    """A fee's value in USD (4 decimals), priced from the asset's USD pair."""
    if not balance_units:
        return Raw("0.0000")
    ins = eng.instruments
    asset = ins.assets.get(asset_id)
    if asset is None:
        return Raw("0.0000")
    if asset.display == "USD":
        value = Decimal(balance_units).scaleb(-BALANCE_DP)
    else:
        pair = ins.pair(f"{asset.display}/USD")
        if pair is None:
            return Raw("0.0000")
        px = eng.last_price.get(pair.id) or eng.index_price.get(pair.id)
        if not px:
            return Raw("0.0000")
        value = Decimal(balance_units).scaleb(-BALANCE_DP) * Decimal(px).scaleb(-pair.pair_decimals)
    return Raw(f"{value.quantize(Decimal('0.0001')):f}")


def order_status(o: Order, filled: int) -> str:
    st = o.status
    if st == PENDING:
        return "pending_new"
    if st == CLOSED:
        return "filled"
    if st == CANCELED:
        return "canceled"
    if st == EXPIRED:
        return "expired"
    return "partially_filled" if filled else "new"


def _avg(o: Order, filled: int, cost: int) -> Raw:
    p = o.pair
    units = (cost * p.cost_shift * 2 + filled) // (2 * filled) if filled else 0
    return Raw(fmt_units(units, p.pair_decimals))


def _triggers(o: Order, ts: int, triggered: bool) -> dict[str, Any]:
    p = o.pair
    pdp = p.pair_decimals
    if o.ordertype in TRAILING_TYPES:
        if o.trail_pct:
            price: Raw = Raw(f"{Decimal(o.trail_offset) / 10_000:.2f}")
            ptype = "pct"
        else:
            price = Raw(fmt_units(o.trail_offset, pdp))
            ptype = "quote"
    else:
        price = Raw(fmt_units(o.trigger_price or 0, pdp))
        ptype = "static"
    d: dict[str, Any] = {
        "reference": o.trigger_ref,
        "price": price,
        "price_type": ptype,
        "actual_price": Raw(fmt_units(o.trigger_price or 0, pdp)),
        "status": "triggered" if triggered else "untriggered",
        "timestamp": ts_us(ts),
    }
    if o.ordertype in TRAILING_TYPES and o.peak is not None:
        d["peak_price"] = Raw(fmt_units(o.peak, pdp))
    return d


def _margin(o: Order) -> dict[str, Any]:
    """A margin order's flags (executions `margin`, `liquidated`): none on a spot order."""
    if not o.leverage:
        return {}
    d: dict[str, Any] = {"margin": True}
    if o.liquidation:
        d["liquidated"] = True
    return d


def _fill_margin(o: Order, f: Fill) -> dict[str, Any]:
    """A margin fill's facts as the fill fixed them: executed on margin
    (`margin_borrow`) and what it did to the position (`position_status`)."""
    if not f.leverage:
        return {}
    d: dict[str, Any] = {"margin": True, "margin_borrow": True}
    if f.pos_status:
        d["position_status"] = f.pos_status
    if o.liquidation:
        d["liquidated"] = True
    return d


def full_report(
    eng: SpotEngine,
    o: Order,
    exec_type: str,
    status: str,
    ts: int,
    at: OrderEvent,
    snapshot: bool = False,
) -> dict[str, Any]:
    """The whole order as `at` saw it (pending_new, and open orders in the snapshot)."""
    p = o.pair
    filled, cost = at.filled, at.cost
    d: dict[str, Any] = {
        "order_id": o.id,
        "symbol": p.symbol,
        "order_qty": Raw(fmt_units(at.qty, p.lot_decimals)),
        "cum_cost": Raw(fmt_units(cost, p.cost_decimals)),
        "time_in_force": o.tif,
        "exec_type": exec_type,
        "side": o.side,
        "order_type": o.ordertype,
        **_ids(o),
    }
    if o.price is not None or o.ordertype in LIMIT_AFTER_TRIGGER:
        d["limit_price_type"] = "static"
        d["limit_price"] = Raw(fmt_units(o.price or 0, p.pair_decimals))
    d["stop_price"] = Raw(fmt_units(o.trigger_price or 0, p.pair_decimals))
    if o.ordertype in TRIGGERED_TYPES:
        d["triggers"] = _triggers(o, ts, at.triggered)
    if o.display:
        d["display_qty"] = Raw(fmt_units(o.display, p.lot_decimals))
    if o.post_only:
        d["post_only"] = True
    if o.reduce_only:
        d["reduce_only"] = True
    d.update(_margin(o))
    if o.expire_ns:
        d["expire_time"] = ts_us(o.expire_ns)
    if o.start_ns:
        d["effective_time"] = ts_us(o.start_ns)
    if snapshot:
        d["cum_qty"] = Raw(fmt_units(filled, p.lot_decimals))
        d["avg_price"] = _avg(o, filled, cost)
        d["amended"] = o.amended
    d["order_status"] = status
    d["fee_usd_equiv"] = usd_equiv(eng, o.fee_asset, at.fee)
    d["fee_ccy_pref"] = "fcib" if o.fee_in_base else "fciq"
    d["timestamp"] = ts_us(ts)
    return d


def trade_report(eng: SpotEngine, o: Order, f: Fill, status: str, filled: int, cost: int, fee: int) -> dict[str, Any]:
    """One fill with the order's totals as of that fill."""
    p = o.pair
    fee_asset = eng.instruments.assets[f.fee_asset]
    return {
        "order_id": o.id,
        **_ids(o),
        "exec_id": f.id,
        "exec_type": "trade",
        "trade_id": f.trade_id,
        "symbol": p.symbol,
        "side": o.side,
        "last_qty": Raw(fmt_units(f.qty, p.lot_decimals)),
        "last_price": Raw(fmt_units(f.price, p.pair_decimals)),
        "liquidity_ind": "m" if f.maker else "t",
        "cost": Raw(fmt_units(f.cost, p.cost_decimals)),
        "order_type": o.ordertype,
        "timestamp": ts_us(f.ts),
        "order_status": status,
        "cum_qty": Raw(fmt_units(filled, p.lot_decimals)),
        "cum_cost": Raw(fmt_units(cost, p.cost_decimals)),
        "avg_price": _avg(o, filled, cost),
        "fee_usd_equiv": usd_equiv(eng, f.fee_asset, fee),
        "fees": [{"asset": fee_asset.display, "qty": asset_amount(fee_asset, f.fee)}],
        "fee_ccy_pref": "fcib" if o.fee_in_base else "fciq",
        **_fill_margin(o, f),
    }


def _totals(o: Order, filled: int, cost: int, fee: int, eng: SpotEngine) -> dict[str, Any]:
    p = o.pair
    return {
        "cum_qty": Raw(fmt_units(filled, p.lot_decimals)),
        "cum_cost": Raw(fmt_units(cost, p.cost_decimals)),
        "fee_usd_equiv": usd_equiv(eng, o.fee_asset, fee),
        "avg_price": _avg(o, filled, cost),
    }


def reports_for(eng: SpotEngine, events: list[Any], accounts: set[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """(pair_id, report) per account, in engine order, for the accounts asked for."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for ev in events:
        if type(ev) is not OrderEvent:
            continue
        o = ev.order
        acct = o.account_id
        if acct not in accounts:
            continue
        filled = ev.filled
        kind = ev.type
        ts = ev.ts
        rep: dict[str, Any]
        if kind == "trade" and ev.fill is not None:
            st = "filled" if filled >= ev.qty else "partially_filled"
            rep = trade_report(eng, o, ev.fill, st, filled, ev.cost, ev.fee)
        elif kind == "pending_new":
            rep = full_report(eng, o, "pending_new", "pending_new", ts, ev)
        elif kind == "new":
            st = "partially_filled" if filled else "new"
            rep = {"timestamp": ts_us(ts), "order_status": st, "exec_type": "new", **_ids(o), "order_id": o.id}
        elif kind == "filled":
            rep = {
                "timestamp": ts_us(ts),
                "order_status": "filled",
                "exec_type": "filled",
                **_totals(o, filled, ev.cost, ev.fee, eng),
                **_ids(o),
                "order_id": o.id,
            }
        elif kind in ("canceled", "expired"):
            reason = ev.reason or ("Order expired" if kind == "expired" else "User requested")
            rep = {
                "timestamp": ts_us(ts),
                "order_status": kind,
                "exec_type": kind,
                **_totals(o, filled, ev.cost, ev.fee, eng),
                **_ids(o),
                "cancel_reason": reason,
                "reason": reason,
                "order_id": o.id,
            }
        elif kind == "amended":
            p = o.pair
            rep = {
                "timestamp": ts_us(ts),
                "exec_type": "amended",
                "order_status": "partially_filled" if filled else "new",
                "cum_qty": Raw(fmt_units(filled, p.lot_decimals)),
                "reason": "User requested",
                "amended": True,
                "order_qty": Raw(fmt_units(ev.qty, p.lot_decimals)),
            }
            if o.price is not None:
                rep["limit_price"] = Raw(fmt_units(o.price, p.pair_decimals))
                rep["limit_price_type"] = "static"
            if o.display:
                rep["display_qty"] = Raw(fmt_units(o.display, p.lot_decimals))
            if o.ordertype in TRIGGERED_TYPES and not ev.triggered:
                rep["triggers"] = _triggers(o, ts, False)
            if ev.amend_id:
                rep["amend_id"] = ev.amend_id
            rep.update(_ids(o))
            rep["order_id"] = o.id
        elif kind in ("triggered", "status", "restated"):
            rep = {
                "timestamp": ts_us(ts),
                "exec_type": "restated" if kind == "restated" else "status",
                "order_status": "partially_filled" if filled else "new",
                "triggers": _triggers(o, ts, ev.triggered),
                **_ids(o),
                "order_id": o.id,
            }
            if ev.reason:
                rep["reason"] = ev.reason
        elif kind == "iceberg_refill":
            p = o.pair
            rep = {
                "timestamp": ts_us(ts),
                "exec_type": "iceberg_refill",
                "order_status": "partially_filled" if filled else "new",
                "display_qty": Raw(fmt_units(o.display, p.lot_decimals)),
                "display_qty_remain": Raw(fmt_units(o.visible, p.lot_decimals)),
                "cum_qty": Raw(fmt_units(filled, p.lot_decimals)),
                **_ids(o),
                "order_id": o.id,
            }
        else:
            continue
        out.setdefault(acct, []).append((o.pair.id, rep))
    return out


def snapshot_reports(eng: SpotEngine, account_id: str, snap_orders: bool, snap_trades: bool) -> list[dict[str, Any]]:
    """Open orders (full records) and/or the last 50 fills, as Kraken snapshots them."""
    out: list[dict[str, Any]] = []
    now = eng.now_ns
    if snap_trades:
        for f in eng.fills.get(account_id, [])[-SNAP_TRADES:]:
            o = f.order
            out.append(trade_report(eng, o, f, order_status(o, o.filled), o.filled, o.cost, o.fee))
    if snap_orders:
        opened = sorted(eng.open_orders.get(account_id, {}).values(), key=lambda x: x.opened_ns)
        for o in opened:
            waiting = o.status == PENDING or (o.ordertype in TRIGGERED_TYPES and not o.triggered)
            st = "pending_new" if o.status == PENDING else order_status(o, o.filled)
            out.append(
                full_report(
                    eng,
                    o,
                    "pending_new" if waiting else "new",
                    st,
                    o.last_update_ns or o.opened_ns or now,
                    OrderEvent("status", o, now),
                    True,
                )
            )
    return out


# ----------------------------------------------------------------- balances
LEDGER_CATEGORY = {
    "trade": "trade",
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "transfer": "transfer",
    "margin": "margin-trade",  # a margin fill's P&L and fees
    "settled": "margin-settle",  # settle-position: paid for / delivered with funds
}


def balance_snapshot(eng: SpotEngine, account_id: str) -> list[dict[str, Any]]:
    acct = eng.accounts.get(account_id)
    out: list[dict[str, Any]] = []
    if acct is None:
        return out
    for aid, units in sorted(
        acct.balances.items(),
        key=lambda kv: eng.instruments.assets[kv[0]].display if kv[0] in eng.instruments.assets else kv[0],
    ):
        asset = eng.instruments.assets.get(aid)
        if asset is None:
            continue
        amount = asset_amount(asset, units)
        out.append(
            {
                "asset": asset.display,
                "asset_class": "currency",
                "balance": amount,
                "wallets": [{"type": "spot", "id": "main", "balance": amount}],
            }
        )
    return out


def ledger_updates(eng: SpotEngine, events: list[Any], accounts: set[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        if type(ev) is not BalanceEvent or ev.account_id not in accounts:
            continue
        e: Any = ev.entry
        asset = eng.instruments.assets.get(e.asset)
        if asset is None:
            continue
        d = {
            "ledger_id": e.id,
            "ref_id": e.refid,
            "timestamp": ts_us(e.time_ns),
            "type": e.type,
            "subtype": e.subtype or "",
            "category": LEDGER_CATEGORY.get(e.type, e.type),
            "asset": asset.display,
            "asset_class": "currency",
            "wallet_type": "spot",
            "wallet_id": "main",
            "amount": asset_amount(asset, e.amount),
            "fee": asset_amount(asset, e.fee),
            "balance": asset_amount(asset, e.balance),
        }
        out.setdefault(ev.account_id, []).append(d)
    return out


def ratecount_token(value: Any) -> Raw:
    """The hook's counter as a JSON number (at most 4 decimals)."""
    d = Decimal(str(value)).quantize(Decimal("0.0001"))
    text = f"{d.normalize():f}"
    return Raw(text if "." in text or "e" not in text else str(int(d)))


__all__ = [
    "BalanceSub",
    "ExecSub",
    "MAX_RATE_COUNT",
    "STATUS_ONLY",
    "balance_snapshot",
    "ledger_updates",
    "ratecount_token",
    "reports_for",
    "rescale",
    "snapshot_reports",
]
