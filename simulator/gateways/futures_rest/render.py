"""Kraken derivatives shapes built from engine state (shared by REST and WS).

Every name, enum word and nesting here follows Kraken's REST v3 / WS v1
payloads; numbers stay Decimal so the JSON writer emits them exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from simulator.core.derivatives import FuturesEngine, risk
from simulator.core.derivatives.engine import MarginView
from simulator.core.derivatives.model import (
    BUY,
    FLEX,
    STP,
    TAKE_PROFIT,
    TRAILING_STOP,
    ContractSpec,
    FAccount,
    FillRec,
    OSnap,
    Position,
    RestEvent,
    money,
)
from simulator.gateways.jsonw import JsonWriter


def iso_ms(ns: int) -> str:
    """Kraken REST times: `2019-09-05T16:33:50.734Z`."""
    ms = ns // 1_000_000
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def ms(ns: int) -> int:
    return ns // 1_000_000


def price(spec: ContractSpec, units: int | None) -> Decimal | None:
    return None if units is None else spec.price_dec(units)


def size(spec: ContractSpec, units: int) -> Decimal:
    return spec.size_dec(units)


def raw_num(v: Any) -> Any:
    """Instrument fixture values ("0.5", 1200) -> JSON numbers."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, Decimal)):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    try:
        return Decimal(str(v))
    except ArithmeticError:
        return v


def asset_code(eng: FuturesEngine, asset_id: str) -> str:
    a = eng.instruments.assets.get(asset_id)
    return a.altname if a is not None else asset_id


# ----------------------------------------------------------------- orders
def rest_type(o: OSnap) -> str:
    """OrderJson.type: lmt, post, ioc, fok (mkt shows as ioc); triggered
    stops as the order they became."""
    if o.market:
        return "ioc"
    if o.otype in (STP, TAKE_PROFIT, TRAILING_STOP):
        return "lmt"
    return o.otype


def trigger_side(o: OSnap) -> str:
    up = (o.otype == STP) == (o.side == BUY)
    if o.otype == TRAILING_STOP:
        up = o.side == BUY
    return "trigger_above" if up else "trigger_below"


SIGNAL_REST = {"mark": "mark_price", "last": "last_price", "index": "spot_price"}
SIGNAL_WS = {"mark": "mark", "last": "last", "index": "spot"}


def order_json(o: OSnap) -> dict[str, Any]:
    s = o.spec
    return {
        "orderId": o.id,
        "cliOrdId": o.cl_ord_id,
        "type": rest_type(o),
        "symbol": s.symbol,
        "side": o.side,
        "quantity": size(s, o.qty),
        "filled": size(s, o.filled),
        "limitPrice": price(s, o.price),
        "reduceOnly": o.reduce_only,
        "timestamp": iso_ms(o.created_ns),
        "lastUpdateTimestamp": iso_ms(o.updated_ns),
    }


def trigger_json(o: OSnap) -> dict[str, Any]:
    s = o.spec
    return {
        "uid": o.id,
        "clientId": o.cl_ord_id,
        "type": "lmt" if o.price is not None else "mkt",
        "symbol": s.symbol,
        "side": o.side,
        "quantity": size(s, o.qty),
        "limitPrice": price(s, o.price),
        "triggerPrice": price(s, o.stop_price),
        "triggerSide": trigger_side(o),
        "triggerSignal": SIGNAL_REST.get(o.signal, "last_price"),
        "reduceOnly": o.reduce_only,
        "timestamp": iso_ms(o.created_ns),
        "lastUpdateTimestamp": iso_ms(o.updated_ns),
        "startTime": None,
    }


def _reduced(o: OSnap | None, units: int | None) -> Decimal | None:
    return None if units is None or o is None else size(o.spec, units)


def rest_event(ev: RestEvent) -> dict[str, Any]:
    o = ev.order
    if ev.type == "EXECUTION":
        assert o is not None
        return {
            "type": "EXECUTION",
            "executionId": ev.exec_id,
            "price": price(o.spec, ev.price),
            "amount": size(o.spec, ev.amount or 0),
            "orderPriorEdit": order_json(ev.prior_edit) if ev.prior_edit is not None else None,
            "orderPriorExecution": order_json(o),
            "takerReducedQuantity": None,
        }
    trig = o is not None and o.is_trigger
    body = trigger_json if trig else order_json
    if ev.type == "PLACE":
        assert o is not None
        if trig:
            return {"type": "PLACE", "orderTrigger": trigger_json(o)}
        return {"type": "PLACE", "order": order_json(o), "reducedQuantity": _reduced(o, ev.reduced)}
    if ev.type == "CANCEL":
        key = "orderTrigger" if trig else "order"
        return {"type": "CANCEL", "uid": o.id if o else None, key: body(o) if o else None}
    if ev.type == "REJECT":
        key = "orderTrigger" if trig else "order"
        return {"type": "REJECT", "uid": o.id if o else None, key: body(o) if o else None, "reason": ev.reason}
    if ev.type == "EDIT":
        assert o is not None and ev.old is not None
        return {"type": "EDIT", "old": body(ev.old), "new": body(o), "reducedQuantity": _reduced(o, ev.reduced)}
    return {"type": ev.type}


TRIGGER_TYPE = {STP: "stop", TAKE_PROFIT: "take_profit", TRAILING_STOP: "trailing_stop"}


def open_order(o: OSnap) -> dict[str, Any]:
    """GET /openorders entry."""
    s = o.spec
    d: dict[str, Any] = {"order_id": o.id}
    if o.cl_ord_id is not None:
        d["cliOrdId"] = o.cl_ord_id
    d.update({"symbol": s.symbol, "side": o.side, "orderType": TRIGGER_TYPE[o.otype] if o.is_trigger else "lmt"})
    if o.price is not None:
        d["limitPrice"] = price(s, o.price)
    if o.is_trigger:
        d["stopPrice"] = price(s, o.stop_price)
    d.update(
        {
            "unfilledSize": size(s, o.remaining),
            "receivedTime": iso_ms(o.created_ns),
            "status": "partiallyFilled" if o.filled else "untouched",
            "filledSize": size(s, o.filled),
            "reduceOnly": o.reduce_only,
        }
    )
    if o.is_trigger:
        d["triggerSignal"] = SIGNAL_WS.get(o.signal, "last")
    d["lastUpdateTime"] = iso_ms(o.updated_ns)
    return d


def ws_order(o: OSnap) -> dict[str, Any]:
    """WS open_orders order object (qty is the unfilled size)."""
    s = o.spec
    d: dict[str, Any] = {
        "instrument": s.symbol,
        "time": ms(o.created_ns),
        "last_update_time": ms(o.updated_ns),
        "qty": size(s, o.remaining),
        "filled": size(s, o.filled),
    }
    if not (o.is_trigger and o.otype == TRAILING_STOP):
        d["limit_price"] = price(s, o.price) if o.price is not None else Decimal(0)
    d["stop_price"] = price(s, o.stop_price) if (o.is_trigger and o.stop_price is not None) else Decimal(0)
    d["type"] = TRIGGER_TYPE[o.otype] if o.is_trigger else "limit"
    d["order_id"] = o.id
    if o.cl_ord_id is not None:
        d["cli_ord_id"] = o.cl_ord_id
    d["direction"] = 0 if o.side == BUY else 1
    d["reduce_only"] = o.reduce_only
    if o.is_trigger:
        d["triggerSignal"] = SIGNAL_WS.get(o.signal, "last")
        if o.otype == TRAILING_STOP:
            unit = "percent" if o.trail_unit == "PERCENT" else "quote_currency"
            d["trailing_stop_options"] = {"max_deviation": o.trail_dev, "unit": unit}
    return d


# ----------------------------------------------------------------- fills
FILL_ORDER_TYPE = {
    "lmt": "limit",
    "post": "post",
    "ioc": "ioc",
    "fok": "fok",
    "mkt": "market",
    "liquidation": "liquidation",
    "stp": "stop",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
}


def rest_fill(f: FillRec) -> dict[str, Any]:
    s = f.spec
    d: dict[str, Any] = {
        "fill_id": f.fill_id,
        "symbol": s.symbol,
        "side": f.side,
        "order_id": f.order.id,
        "size": size(s, f.qty),
        "price": s.price_dec(f.price),
        "fillTime": iso_ms(f.ts),
        "fillType": f.fill_type,
    }
    if f.order.cl_ord_id is not None:
        d["cliOrdId"] = f.order.cl_ord_id
    return d


def ws_fill(eng: FuturesEngine, f: FillRec, with_cli: bool) -> dict[str, Any]:
    s = f.spec
    d: dict[str, Any] = {
        "instrument": s.symbol,
        "time": ms(f.ts),
        "price": s.price_dec(f.price),
        "seq": f.seq,
        "buy": f.side == BUY,
        "qty": size(s, f.qty),
        "remaining_order_qty": size(s, f.order.remaining),
        "order_id": f.order.id,
    }
    if with_cli and f.order.cl_ord_id is not None:
        d["cli_ord_id"] = f.order.cl_ord_id
    d.update(
        {
            "fill_id": f.fill_id,
            "fill_type": f.fill_type,
            "fee_paid": money(f.fee),
            "fee_currency": "USD" if s.linear else _coin(eng, f.fee_asset),
            "taker_order_type": FILL_ORDER_TYPE.get(f.taker_otype, f.taker_otype),
            "order_type": FILL_ORDER_TYPE.get(f.order.otype, f.order.otype),
        }
    )
    return d


def _coin(eng: FuturesEngine, asset_id: str) -> str:
    a = eng.instruments.assets.get(asset_id)
    return a.display if a is not None else asset_id


# ----------------------------------------------------------------- positions
def rest_position(eng: FuturesEngine, fa: FAccount, p: Position) -> dict[str, Any]:
    s = p.spec
    d: dict[str, Any] = {
        "side": "long" if p.size > 0 else "short",
        "symbol": s.symbol,
        "price": p.entry_price(),
        "fillTime": iso_ms(p.updated_ns),
        "size": size(s, abs(p.size)),
        "unrealizedFunding": risk.unrealized_funding(eng, p) if s.perpetual else None,
    }
    if s.linear:
        d["pnlCurrency"] = fa.pnl_pref.get(s.symbol, "USD")
        lev = fa.leverage.get(s.symbol)
        if lev is not None:
            d["maxFixedLeverage"] = lev
    return d


def flex_currencies(eng: FuturesEngine, fa: FAccount, view: MarginView) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = {}
    for c in risk.flex_collateral(eng, fa, view):
        out[asset_code(eng, c.asset)] = {
            "quantity": c.quantity,
            "value": c.value,
            "collateral": c.collateral,
            "available": c.available,
        }
    return out


def flex_totals(view: MarginView) -> dict[str, Decimal]:
    unreal = view.pnl + view.funding
    return {
        "initialMargin": money(view.im),
        "initialMarginWithOrders": money(view.im_orders),
        "maintenanceMargin": money(view.mm),
        "balanceValue": money(view.balance_value),
        "portfolioValue": money(view.portfolio_value),
        "collateralValue": money(view.collateral),
        "pnl": money(view.pnl),
        "unrealizedFunding": money(view.funding),
        "totalUnrealized": money(unreal),
        "totalUnrealizedAsMargin": money(unreal),
        "availableMargin": money(view.available),
        "marginEquity": money(view.equity),
    }


def accounts_json(eng: FuturesEngine, fa: FAccount) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cash = {asset_code(eng, a).lower(): f"{money(u).normalize():f}" for a, u in sorted(fa.cash.items())}
    out["cash"] = {"type": "cashAccount", "balances": cash}
    for name in sorted(fa.inverse):
        ma = fa.inverse[name]
        view = eng.margin_view(fa, name)
        code = asset_code(eng, ma.currency or "").lower()
        reqs = {"im": money(view.im), "mm": money(view.mm), "lt": money(view.mm), "tt": money(view.mm)}
        out[name] = {
            "auxiliary": {
                "usd": Decimal(0),
                "pv": money(view.portfolio_value),
                "pnl": money(view.pnl),
                "af": money(view.available),
                "funding": money(view.funding),
            },
            "marginRequirements": reqs,
            "triggerEstimates": dict(reqs),
            "balances": {code: f"{money(ma.balances.get(ma.currency or '', 0)).normalize():f}"},
            "currency": code,
            "type": "marginAccount",
        }
    view = eng.margin_view(fa, FLEX)
    flex: dict[str, Any] = {"type": "multiCollateralMarginAccount", "currencies": flex_currencies(eng, fa, view)}
    flex.update(flex_totals(view))
    out["flex"] = flex
    return out


# ----------------------------------------------------------------- market data
def stats(eng: FuturesEngine, spec: ContractSpec) -> dict[str, Any]:
    """Book top, last trade and 24h statistics of one contract."""
    book = eng.books[spec.symbol]
    d: dict[str, Any] = {}
    b = book.bids.best()
    a = book.asks.best()
    d["bid"] = spec.price_dec(b.price) if b else None
    d["bid_size"] = spec.size_dec(b.visible) if b else None
    d["ask"] = spec.price_dec(a.price) if a else None
    d["ask_size"] = spec.size_dec(a.visible) if a else None
    day = eng.market.ticker(spec.symbol, eng.trades[spec.symbol], eng.now_ns).day
    vol = day.volume
    d["vol24h"] = spec.size_dec(vol)
    if spec.linear:
        vq = Decimal(day.notional).scaleb(-(spec.qdp + spec.pdp)) if day.notional else Decimal(0)
    else:
        vq = spec.size_dec(vol) * spec.cs
    d["volumeQuote"] = vq
    last = eng.last.get(spec.symbol)
    if last is not None:
        d["last"] = spec.price_dec(last[0])
        d["lastSize"] = spec.size_dec(last[1])
        d["lastTime"] = last[2]
    if day.open is not None and day.high is not None and day.low is not None:
        d["open24h"] = spec.price_dec(day.open)
        d["high24h"] = spec.price_dec(day.high)
        d["low24h"] = spec.price_dec(day.low)
        op = d["open24h"]
        d["change24h"] = ((d["last"] - op) / op * 100).quantize(Decimal("1e-8")).normalize() if op else Decimal(0)
    else:
        d["change24h"] = Decimal(0)
    d["openInterest"] = spec.size_dec(eng.open_interest.get(spec.symbol, 0))
    return d


def pair_of(spec: ContractSpec) -> str:
    return str(spec.contract.raw.get("pair") or f"{spec.contract.base}:{spec.contract.quote}")


def rest_ticker(eng: FuturesEngine, spec: ContractSpec) -> dict[str, Any]:
    st = stats(eng, spec)
    d: dict[str, Any] = {"symbol": spec.symbol}
    if "last" in st:
        d["last"] = st["last"]
        d["lastTime"] = iso_ms(st["lastTime"])
    d["tag"] = spec.tag
    d["pair"] = pair_of(spec)
    d["markPrice"] = eng.mark_of(spec)
    if st["bid"] is not None:
        d["bid"] = st["bid"]
        d["bidSize"] = st["bid_size"]
    if st["ask"] is not None:
        d["ask"] = st["ask"]
        d["askSize"] = st["ask_size"]
    d["vol24h"] = st["vol24h"]
    d["volumeQuote"] = st["volumeQuote"]
    d["openInterest"] = st["openInterest"]
    for k in ("open24h", "high24h", "low24h"):
        if k in st:
            d[k] = st[k]
    if "last" in st:
        d["lastSize"] = st["lastSize"]
    if spec.perpetual:
        rel = eng.relative_funding(spec)
        applied = eng.funding_history[spec.symbol]
        d["fundingRate"] = applied[-1][1] if applied else eng.absolute_funding(spec, rel)
        d["fundingRatePrediction"] = eng.absolute_funding(spec, rel)
    d["suspended"] = eng.status == "maintenance" or not spec.tradeable
    d["indexPrice"] = eng.index_of(spec)
    d["postOnly"] = eng.status == "post_only"
    d["change24h"] = st["change24h"]
    return d


def indices(eng: FuturesEngine) -> list[tuple[str, ContractSpec]]:
    """Every index the venue publishes (`in_xbtusd`, and each contract's
    `underlying` such as `rr_xbtusd`), once, with a contract that follows it."""
    out: list[tuple[str, ContractSpec]] = []
    seen: set[str] = set()
    for spec in eng.specs.values():
        names = [f"in_{spec.index_key}"]
        und = spec.contract.raw.get("underlying")
        if und:
            names.append(str(und))
        for name in names:
            if name not in seen:
                seen.add(name)
                out.append((name, spec))
    return out


def index_tickers(eng: FuturesEngine) -> list[dict[str, Any]]:
    out = []
    for name, spec in indices(eng):
        samples = eng.index_samples.get(spec.index_key)
        ts = samples[-1][0] if samples else eng.now_ns
        out.append({"symbol": name, "last": eng.index_of(spec), "lastTime": iso_ms(ts)})
    return out


def index_instruments(eng: FuturesEngine) -> list[dict[str, Any]]:
    """The indices as /instruments lists them: "all currently listed markets and indices"."""
    return [{"symbol": name, "type": "spot index", "tradeable": False} for name, _ in indices(eng)]


def instrument_json(eng: FuturesEngine, spec: ContractSpec) -> dict[str, Any]:
    raw = spec.contract.raw
    d: dict[str, Any] = {"symbol": spec.symbol, "type": raw.get("type", spec.contract.type)}
    if raw.get("underlying"):
        d["underlying"] = raw["underlying"]
    d["tickSize"] = raw_num(raw.get("tickSize"))
    d["contractSize"] = raw_num(raw.get("contractSize", 1))
    d["tradeable"] = spec.tradeable
    _set_numbers(d, raw, "impactMidSize", "maxPositionSize")
    _set_texts(d, raw, "openingDate", "lastTradingTime")
    levels = []
    for m in raw.get("marginLevels", []):
        lv: dict[str, Any] = {}
        if "contracts" in m:
            lv["contracts"] = int(Decimal(str(m["contracts"])))
        else:
            lv["numNonContractUnits"] = raw_num(m.get("numNonContractUnits", 0))
        lv["initialMargin"] = raw_num(m["initialMargin"])
        lv["maintenanceMargin"] = raw_num(m["maintenanceMargin"])
        levels.append(lv)
    d["marginLevels"] = levels
    if spec.perpetual:
        _set_numbers(d, raw, "fundingRateCoefficient", "maxRelativeFundingRate")
    _set_texts(d, raw, "isin")
    d["contractValueTradePrecision"] = int(raw.get("contractValueTradePrecision", 0) or 0)
    d["postOnly"] = eng.status == "post_only" or bool(raw.get("postOnly", False))
    _set_texts(d, raw, "feeScheduleUid")
    d["mtf"] = bool(raw.get("mtf", False))
    d["base"] = raw.get("base", spec.contract.base)
    d["quote"] = raw.get("quote", spec.contract.quote)
    d["pair"] = pair_of(spec)
    d["category"] = raw.get("category", "")
    d["tags"] = list(raw.get("tags", []))
    d["tradfi"] = bool(raw.get("tradfi", False))
    return d


def _set_numbers(d: dict[str, Any], raw: dict[str, Any], *keys: str) -> None:
    """The fixture's numeric fields that are set (Kraken leaves unset ones out)."""
    for k in keys:
        if raw.get(k) is not None:
            d[k] = raw_num(raw[k])


def _set_texts(d: dict[str, Any], raw: dict[str, Any], *keys: str) -> None:
    """The fixture's text fields that are non-empty."""
    for k in keys:
        if raw.get(k):
            d[k] = raw[k]


def num_text(d: Decimal) -> str:
    """Plain number text the way Kraken's Java side writes doubles: no
    exponent, and at least one fractional digit (`91415.0`, `0.0001`)."""
    if not d.is_finite():
        return "null"
    if d == 0:
        return "0.0"
    text = f"{d.normalize():f}"
    if "." not in text:
        text += ".0"
    return text


JSON = JsonWriter(num_text)
"""The derivatives dialect's JSON writer (REST v3 and WS v1)."""
