"""WebSocket v1 message bodies (Kraken's mixed snake/camel case kept as is)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.core.derivatives import FuturesEngine, risk
from simulator.core.derivatives.engine import NS_PER_S
from simulator.core.derivatives.model import FLEX, ContractSpec, FAccount, LogEntry, OSnap, TradeRec, money
from simulator.gateways.futures_rest import render

DAY_NS = 86400 * NS_PER_S


def ticker(eng: FuturesEngine, spec: ContractSpec, now_ns: int, lite: bool = False) -> dict[str, Any]:
    st = render.stats(eng, spec)
    mark = eng.mark_of(spec)
    index = eng.index_of(spec)
    premium = ((mark - index) / index * 100).quantize(Decimal("0.1")) if index else Decimal(0)
    dtm = max(0, (spec.expiry_ns - now_ns) // DAY_NS) if spec.expiry_ns else 0
    maturity = spec.expiry_ns // 1_000_000 if spec.expiry_ns else 0
    zero = Decimal(0)
    if lite:
        d: dict[str, Any] = {
            "feed": "ticker_lite",
            "product_id": spec.symbol,
            "bid": st["bid"] if st["bid"] is not None else zero,
            "ask": st["ask"] if st["ask"] is not None else zero,
            "change": st["change24h"],
            "premium": premium,
            "volume": st["vol24h"],
            "tag": spec.tag,
            "pair": render.pair_of(spec),
            "dtm": dtm,
            "maturityTime": maturity,
            "volumeQuote": st["volumeQuote"],
        }
        return d
    d = {"time": now_ns // 1_000_000, "product_id": spec.symbol}
    if spec.perpetual:
        rel = eng.relative_funding(spec)
        applied = eng.funding_history.get(spec.symbol) or []
        last_abs, last_rel = (applied[-1][1], applied[-1][2]) if applied else (eng.absolute_funding(spec, rel), rel)
        pred_abs = eng.absolute_funding(spec, rel)
        for name, val in (
            ("funding_rate", last_abs),
            ("funding_rate_prediction", pred_abs),
            ("relative_funding_rate", last_rel),
            ("relative_funding_rate_prediction", rel),
        ):
            if val:
                d[name] = val
        d["next_funding_rate_time"] = eng.next_funding_ns() // 1_000_000
    im = spec.contract.margin_levels[0][1] if spec.contract.margin_levels else Decimal("0.02")
    leverage = f"{int(Decimal(1) / im)}x" if im else "1x"
    d.update(
        {
            "feed": "ticker",
            "bid": st["bid"] if st["bid"] is not None else zero,
            "ask": st["ask"] if st["ask"] is not None else zero,
            "bid_size": st["bid_size"] if st["bid_size"] is not None else zero,
            "ask_size": st["ask_size"] if st["ask_size"] is not None else zero,
            "volume": st["vol24h"],
            "dtm": dtm,
            "leverage": leverage,
            "index": index,
            "premium": premium,
        }
    )
    if "last" in st:
        d["last"] = st["last"]
    d.update(
        {
            "change": st["change24h"],
            "suspended": eng.status == "maintenance" or not spec.tradeable,
            "tag": spec.tag,
            "pair": render.pair_of(spec),
            "openInterest": st["openInterest"],
            "markPrice": mark,
            "maturityTime": maturity,
            "post_only": eng.status == "post_only",
            "volumeQuote": st["volumeQuote"],
        }
    )
    for k, name in (("open24h", "open"), ("high24h", "high"), ("low24h", "low")):
        if k in st:
            d[name] = st[k]
    return d


def book_snapshot(eng: FuturesEngine, spec: ContractSpec, seq: int, now_ns: int) -> dict[str, Any]:
    book = eng.books[spec.symbol]
    return {
        "feed": "book_snapshot",
        "product_id": spec.symbol,
        "timestamp": now_ns // 1_000_000,
        "seq": seq,
        "tickSize": None,
        "bids": [{"price": spec.price_dec(p), "qty": spec.size_dec(q)} for p, q in book.l2("buy")],
        "asks": [{"price": spec.price_dec(p), "qty": spec.size_dec(q)} for p, q in book.l2("sell")],
    }


def book_delta(spec: ContractSpec, side: str, price: int, qty: int, seq: int, ts: int) -> dict[str, Any]:
    return {
        "feed": "book",
        "product_id": spec.symbol,
        "side": side,
        "seq": seq,
        "price": spec.price_dec(price),
        "qty": spec.size_dec(qty),
        "timestamp": ts // 1_000_000,
    }


def trade(spec: ContractSpec, t: TradeRec) -> dict[str, Any]:
    return {
        "feed": "trade",
        "product_id": spec.symbol,
        "uid": t.uid,
        "side": t.side,
        "type": t.type,
        "seq": t.trade_id,
        "time": t.ts // 1_000_000,
        "qty": spec.size_dec(t.qty),
        "price": spec.price_dec(t.price),
    }


def trade_snapshot(eng: FuturesEngine, spec: ContractSpec) -> dict[str, Any]:
    trades = list(eng.trades[spec.symbol])[-100:]
    return {"feed": "trade_snapshot", "product_id": spec.symbol, "trades": [trade(spec, t) for t in reversed(trades)]}


def order_update(feed: str, o: OSnap, reason: str, is_cancel: bool) -> dict[str, Any]:
    """open_orders delta: the full order while it lives (and on full_fill),
    the id-only form when it is removed."""
    if is_cancel and reason != "full_fill":
        d: dict[str, Any] = {"feed": feed, "order_id": o.id}
        if o.cl_ord_id is not None:
            d["cli_ord_id"] = o.cl_ord_id
        d["is_cancel"] = True
        d["reason"] = reason
        return d
    return {"feed": feed, "order": render.ws_order(o), "is_cancel": is_cancel, "reason": reason}


def positions(eng: FuturesEngine, fa: FAccount, seq: int, now_ns: int) -> dict[str, Any]:
    out = []
    for p in eng.positions_of(fa.id):
        spec = p.spec
        r = risk.position_risk(eng, fa, p)
        d: dict[str, Any] = {
            "instrument": spec.symbol,
            "balance": spec.size_dec(p.size),
            "pnl": r.pnl.quantize(Decimal("1e-10")),
            "entry_price": p.entry_price(),
            "mark_price": eng.mark_of(spec),
            "index_price": eng.index_of(spec),
            "liquidation_threshold": r.liquidation.quantize(Decimal("1e-8")),
            "effective_leverage": r.leverage.quantize(Decimal("1e-8")),
            "return_on_equity": r.roe.quantize(Decimal("1e-8")),
            "unrealized_funding": r.funding,
            "initial_margin": r.im.quantize(Decimal("1e-10")),
            "initial_margin_with_orders": r.im.quantize(Decimal("1e-10")),
            "maintenance_margin": r.mm.quantize(Decimal("1e-10")),
        }
        if spec.linear:
            d["pnl_currency"] = fa.pnl_pref.get(spec.symbol, "USD")
        out.append(d)
    return {"feed": "open_positions", "account": fa.id, "positions": out, "seq": seq, "timestamp": now_ns // 1_000_000}


def balances(eng: FuturesEngine, fa: FAccount, seq: int, now_ns: int, snapshot: bool) -> dict[str, Any]:
    holding = {render.asset_code(eng, a): money(u) for a, u in sorted(fa.cash.items())}
    futures: dict[str, Any] = {}
    for name in sorted(fa.inverse):
        ma = fa.inverse[name]
        view = eng.margin_view(fa, name)
        code = render.asset_code(eng, ma.currency or "")
        pair = f"{code}:USD"
        futures[f"F-{pair}"] = {
            "name": f"F-{pair}",
            "pair": pair,
            "unit": code,
            "portfolio_value": money(view.portfolio_value),
            "balance": money(ma.balances.get(ma.currency or "", 0)),
            "maintenance_margin": money(view.mm),
            "initial_margin": money(view.im),
            "available": money(view.available),
            "unrealized_funding": money(view.funding),
            "pnl": money(view.pnl),
        }
    view = eng.margin_view(fa, FLEX)
    currencies = {}
    for c in risk.flex_collateral(eng, fa, view):
        currencies[render.asset_code(eng, c.asset)] = {
            "quantity": c.quantity,
            "value": c.value,
            "collateral_value": c.collateral,
            "available": c.available,
            "haircut": c.haircut.quantize(Decimal("1e-6")),
            "conversion_spread": Decimal(0),
        }
    totals = _flex_totals(render.flex_totals(view))
    flex: dict[str, Any] = {
        "currencies": currencies,
        **totals,
        "isolated": {},
        # the whole flex wallet is cross margin: the same totals again, with its leverage
        "cross": {**totals, "effective_leverage": risk.account_leverage(view).quantize(Decimal("1e-8"))},
    }
    return {
        "feed": "balances_snapshot" if snapshot else "balances",
        "account": fa.id,
        "holding": holding,
        "futures": futures,
        "flex_futures": flex,
        "timestamp": now_ns // 1_000_000,
        "seq": seq,
    }


def _flex_totals(t: dict[str, Decimal]) -> dict[str, Decimal]:
    """The flex wallet totals in the WS balances feed's snake_case words."""
    return {
        "balance_value": t["balanceValue"],
        "portfolio_value": t["portfolioValue"],
        "collateral_value": t["collateralValue"],
        "initial_margin": t["initialMargin"],
        "initial_margin_without_orders": t["initialMargin"],
        "maintenance_margin": t["maintenanceMargin"],
        "pnl": t["pnl"],
        "unrealized_funding": t["unrealizedFunding"],
        "total_unrealized": t["totalUnrealized"],
        "total_unrealized_as_margin": t["totalUnrealizedAsMargin"],
        "margin_equity": t["marginEquity"],
        "available_margin": t["availableMargin"],
    }


def log_entry(eng: FuturesEngine, lg: LogEntry) -> dict[str, Any]:
    spec = eng.specs.get(lg.asset)
    asset = lg.asset.lower() if spec is not None else render.asset_code(eng, lg.asset).lower()
    return {
        "id": lg.id,
        "date": render.iso_ms(lg.ts),
        "asset": asset,
        "info": lg.info,
        "booking_uid": lg.booking_uid,
        "margin_account": lg.margin_account,
        "old_balance": lg.old_balance,
        "new_balance": lg.new_balance,
        "old_average_entry_price": lg.old_entry,
        "new_average_entry_price": lg.new_entry,
        "trade_price": lg.trade_price,
        "mark_price": lg.mark_price,
        "realized_pnl": lg.realized_pnl,
        "fee": lg.fee,
        "execution": lg.execution,
        "collateral": lg.collateral,
        "funding_rate": lg.funding_rate,
        "realized_funding": lg.realized_funding,
        "conversion_spread_percentage": None,
        "liquidation_fee": lg.liquidation_fee,
    }
