"""History (`/api/history/v2|v3/...`) and charts (`/api/charts/v1/...`).

History rows are Kraken's event envelopes (`elements[].event.<Kind>`) with
epoch-ms times and decimal strings; charts are OHLC candles built from the
engine's trades (trade) and recorded mark/index prices (mark/spot).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from simulator.core.clock import NS_PER_S
from simulator.core.derivatives import FuturesEngine
from simulator.core.derivatives.model import ContractSpec, FAccount, HistoryEvent, LogEntry, OSnap, TradeRec
from simulator.core.marketdata import sparse

from . import render
from .parse import Params, RestError

RESOLUTIONS = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "12h": 43200,
    "1d": 86400,
    "1w": 604800,
}
TICK_TYPES = ("mark", "spot", "trade")
MAX_CANDLES = 2000


def _s(d: Decimal | None) -> str | None:
    return None if d is None else f"{d.normalize():f}"


HIST_TYPE = {
    "lmt": "Limit",
    "post": "Post",
    "ioc": "IoC",
    "fok": "FoK",
    "mkt": "Market",
    "liquidation": "Liquidation",
    "stp": "Stop",
    "take_profit": "TakeProfit",
    "trailing_stop": "TrailingStop",
}


def _order(o: OSnap, account: str | None) -> dict[str, Any]:
    s = o.spec
    d: dict[str, Any] = {"uid": o.id}
    if account is not None:
        d["accountUid"] = account
    d.update(
        {
            "tradeable": s.symbol,
            "direction": "Buy" if o.side == "buy" else "Sell",
            "quantity": _s(s.size_dec(o.qty)),
            "filled": _s(s.size_dec(o.filled)),
            "timestamp": render.ms(o.created_ns),
            "limitPrice": _s(s.price_dec(o.price)) if o.price is not None else None,
            "orderType": "Market" if o.market else HIST_TYPE.get(o.otype, o.otype),
            "clientId": o.cl_ord_id or "",
            "reduceOnly": o.reduce_only,
            "lastUpdateTimestamp": render.ms(o.updated_ns),
        }
    )
    return d


def _trigger(o: OSnap, account: str) -> dict[str, Any]:
    s = o.spec
    return {
        "uid": o.id,
        "accountId": account,
        "clientId": o.cl_ord_id or "",
        "tradeable": s.symbol,
        "direction": "Buy" if o.side == "buy" else "Sell",
        "quantity": _s(s.size_dec(o.qty)),
        "timestamp": render.ms(o.created_ns),
        "limitPrice": _s(s.price_dec(o.price)) if o.price is not None else None,
        "orderType": "Limit" if o.price is not None else "Market",
        "reduceOnly": o.reduce_only,
        "lastUpdateTimestamp": render.ms(o.updated_ns),
        "triggerOptions": {
            "triggerPrice": _s(s.price_dec(o.stop_price or 0)),
            "triggerSide": render.trigger_side(o).upper(),
            "triggerSignal": render.SIGNAL_REST.get(o.signal, "last_price").upper(),
        },
    }


def _execution(t: TradeRec, spec: ContractSpec) -> dict[str, Any]:
    qty = spec.size_dec(t.qty)
    px = spec.price_dec(t.price)
    usd = qty * px if spec.linear else qty * spec.cs
    d: dict[str, Any] = {"uid": t.uid}
    if t.maker is not None:
        d["makerOrder"] = _order(t.maker, None)
    if t.taker is not None:
        d["takerOrder"] = _order(t.taker, None)
    d.update(
        {
            "timestamp": render.ms(t.ts),
            "quantity": _s(qty),
            "price": _s(px),
            "markPrice": _s(t.mark),
            "limitFilled": bool(t.maker is not None and t.maker.remaining == 0),
            "usdValue": _s(usd.quantize(Decimal("0.01"))),
        }
    )
    return d


def _page(rows: list[tuple[int, dict[str, Any]]], p: Params) -> list[dict[str, Any]]:
    """Filter by since/before (ms), order (sort asc|desc, default newest first), count."""
    since = p.integer("since")
    before = p.integer("before")
    if since is not None:
        rows = [r for r in rows if r[0] >= since]
    if before is not None:
        rows = [r for r in rows if r[0] < before]
    asc = (p.get("sort") or "desc").lower() == "asc"
    rows.sort(key=lambda r: r[0], reverse=not asc)
    count = p.integer("count")
    if count is not None:
        if count <= 0:
            raise RestError("invalidArgument")
        rows = rows[:count]
    return [r[1] for r in rows]


def _elements(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"elements": items, "len": len(items), "continuationToken": None}


def market_executions(eng: FuturesEngine, spec: ContractSpec, p: Params) -> dict[str, Any]:
    rows = []
    for t in eng.trades[spec.symbol]:
        rows.append(
            (
                render.ms(t.ts),
                {
                    "uid": t.uid,
                    "timestamp": render.ms(t.ts),
                    "event": {"Execution": {"execution": _execution(t, spec), "takerReducedQuantity": ""}},
                },
            )
        )
    return _elements(_page(rows, p))


def market_price(eng: FuturesEngine, spec: ContractSpec, p: Params) -> dict[str, Any]:
    rows = []
    for i, (ts, px) in enumerate(eng.mark_samples.get(spec.symbol, [])):
        rows.append((render.ms(ts), {"uid": f"{spec.symbol}-{i}", "timestamp": render.ms(ts), "event": {"price": _s(px)}}))
    return _elements(_page(rows, p))


def account_executions(eng: FuturesEngine, fa: FAccount, p: Params) -> dict[str, Any]:
    rows = []
    seen: set[str] = set()
    for f in fa.fills:
        if f.exec_id in seen:
            continue
        seen.add(f.exec_id)
        trade = next((t for t in reversed(eng.trades[f.spec.symbol]) if t.uid == f.exec_id), None)
        if trade is None:
            continue
        ex = _execution(trade, f.spec)
        if trade.maker is not None and trade.maker.account_id == fa.id:
            ex["makerOrder"]["accountUid"] = fa.id
        if trade.taker is not None and trade.taker.account_id == fa.id:
            ex["takerOrder"]["accountUid"] = fa.id
        rows.append(
            (
                render.ms(f.ts),
                {
                    "uid": f.fill_id,
                    "timestamp": render.ms(f.ts),
                    "event": {"Execution": {"execution": ex, "takerReducedQuantity": ""}},
                },
            )
        )
    out = _elements(_page(rows, p))
    out["accountUid"] = fa.id
    return out


ORDER_KINDS = {"OrderPlaced", "OrderUpdated", "OrderCancelled", "OrderRejected"}


def _order_event(h: HistoryEvent, account: str) -> dict[str, Any]:
    if h.kind == "OrderPlaced":
        return {"OrderPlaced": {"order": _order(h.order, account), "reason": h.reason, "reducedQuantity": ""}}
    if h.kind == "OrderUpdated":
        old = h.old or h.order
        return {
            "OrderUpdated": {"oldOrder": _order(old, account), "newOrder": _order(h.order, account), "reason": h.reason}
        }
    if h.kind == "OrderCancelled":
        return {"OrderCancelled": {"order": _order(h.order, account), "reason": h.reason}}
    return {"OrderRejected": {"order": _order(h.order, account), "reason": h.reason}}


def account_orders(fa: FAccount, p: Params) -> dict[str, Any]:
    rows = [
        (render.ms(h.ts), {"uid": h.uid, "timestamp": render.ms(h.ts), "event": _order_event(h, fa.id)})
        for h in fa.history
        if h.kind in ORDER_KINDS
    ]
    out = _elements(_page(rows, p))
    out["accountUid"] = fa.id
    return out


TRIGGER_KINDS = {
    "TriggerPlaced": "OrderTriggerPlaced",
    "TriggerCancelled": "OrderTriggerCancelled",
    "TriggerActivated": "OrderTriggerActivated",
    "TriggerUpdated": "OrderTriggerUpdated",
}


def account_triggers(fa: FAccount, p: Params) -> dict[str, Any]:
    rows = []
    for h in fa.history:
        name = TRIGGER_KINDS.get(h.kind)
        if name is None:
            continue
        body: dict[str, Any] = {"order": _trigger(h.order, fa.id), "reason": h.reason}
        rows.append((render.ms(h.ts), {"uid": h.uid, "timestamp": render.ms(h.ts), "event": {name: body}}))
    out = _elements(_page(rows, p))
    out["accountUid"] = fa.id
    return out


def _log_row(eng: FuturesEngine, lg: LogEntry) -> dict[str, Any]:
    spec = eng.specs.get(lg.asset)
    asset = lg.asset.lower() if spec is not None else render.asset_code(eng, lg.asset).lower()
    return {
        "asset": asset,
        "booking_uid": lg.booking_uid,
        "collateral": lg.collateral,
        "contract": lg.contract.lower() if lg.contract else None,
        "conversion_spread_percentage": None,
        "date": render.iso_ms(lg.ts),
        "execution": lg.execution,
        "fee": lg.fee if lg.fee is not None else Decimal(0),
        "funding_rate": lg.funding_rate,
        "id": lg.id,
        "info": lg.info,
        "liquidation_fee": lg.liquidation_fee,
        "margin_account": lg.margin_account,
        "mark_price": lg.mark_price,
        "new_average_entry_price": lg.new_entry,
        "new_balance": lg.new_balance,
        "old_average_entry_price": lg.old_entry,
        "old_balance": lg.old_balance,
        "realized_funding": lg.realized_funding,
        "realized_pnl": lg.realized_pnl,
        "trade_price": lg.trade_price,
        "position_uid": None,
    }


def account_log(eng: FuturesEngine, fa: FAccount, p: Params) -> dict[str, Any]:
    info = p.get("info")
    lo, hi = p.integer("from"), p.integer("to")
    rows = []
    for lg in fa.logs:
        if info and lg.info != info:
            continue
        if lo is not None and lg.id < lo:
            continue
        if hi is not None and lg.id > hi:
            continue
        rows.append((render.ms(lg.ts) * 1_000_000 + lg.id, _log_row(eng, lg)))
    since, before = p.integer("since"), p.integer("before")
    if since is not None:
        rows = [r for r in rows if r[0] // 1_000_000 >= since]
    if before is not None:
        rows = [r for r in rows if r[0] // 1_000_000 < before]
    asc = (p.get("sort") or "desc").lower() == "asc"
    rows.sort(key=lambda r: r[0], reverse=not asc)
    count = p.integer("count") or 500
    return {"accountUid": fa.id, "logs": [r[1] for r in rows[:count]]}


def account_log_csv(eng: FuturesEngine, fa: FAccount) -> str:
    cols = [
        "id",
        "date",
        "asset",
        "info",
        "booking_uid",
        "margin_account",
        "old_balance",
        "new_balance",
        "fee",
        "realized_pnl",
    ]
    lines = [",".join(cols)]
    for lg in fa.logs:
        row = _log_row(eng, lg)
        lines.append(",".join("" if row.get(c) is None else str(row[c]) for c in cols))
    return "\n".join(lines) + "\n"


# ===================================================================== charts


def _series(eng: FuturesEngine, spec: ContractSpec, tick_type: str) -> tuple[str, Sequence[Any], Decimal | None]:
    """The recorded points of a chart (time ordered: trades or (ns, price)
    samples), their key, and the price before the first one (filled series only)."""
    if tick_type == "trade":
        return f"trade:{spec.symbol}", eng.trades[spec.symbol], None
    if tick_type == "mark":
        return f"mark:{spec.symbol}", eng.mark_samples.get(spec.symbol, []), spec.contract.reference_price
    return f"spot:{spec.index_key}", eng.index_samples.get(spec.index_key, []), spec.contract.reference_price


def candles(
    eng: FuturesEngine, spec: ContractSpec, tick_type: str, resolution: str, p: Params, now_ns: int
) -> dict[str, Any]:
    """OHLC candles from the core's candle series of the points that exist:
    the work is bounded by the candles returned (a binary search finds the
    start, empty stretches are skipped in one step), never by the width of
    the asked range."""
    step = RESOLUTIONS[resolution]
    to_s = p.integer("to")
    from_s = p.integer("from")
    count = p.integer("count")
    limit = MAX_CANDLES if count is None or count <= 0 else min(count, MAX_CANDLES)
    now_s = now_ns // NS_PER_S
    end = min(to_s if to_s is not None else now_s, now_s)
    start = max(0, from_s if from_s is not None else end - step * MAX_CANDLES)
    key, pts, first = _series(eng, spec, tick_type)
    if start > end or (not pts and first is None):
        return {"candles": [], "more_candles": False}
    series = eng.market.candles(key, step, pts)
    b = start // step * step
    out: list[dict[str, Any]] = []
    if tick_type == "trade":
        found, more = sparse(series, b, end, limit)
        for c in found:
            out.append({"time": c.begin // NS_PER_S * 1000, "open": _s(spec.price_dec(c.open)),
                        "high": _s(spec.price_dec(c.high)), "low": _s(spec.price_dec(c.low)),
                        "close": _s(spec.price_dec(c.close)),
                        "volume": _s(spec.size_dec(c.volume)) if c.volume else "0"})  # fmt: skip
        return {"candles": out, "more_candles": more}
    rows, more = series.filled(b, end, first, limit)
    for t, o, h, lo, c, _vol, _notional, _n in rows:
        out.append({"time": t * 1000, "open": _s(o), "high": _s(h), "low": _s(lo), "close": _s(c), "volume": "0"})
    return {"candles": out, "more_candles": more}
