"""Order entry: AddOrder, AddOrderBatch, AmendOrder, EditOrder, CancelOrder,
CancelAll, CancelAllOrdersAfter, CancelOrderBatch.

The gateway only parses Kraken's parameters into core requests; every
business rule (funds, ticks, minimums, status gates, STP, post-only...) is
the engine's, reached through the spot sequencer so all three protocols
behave alike and everything is journaled."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from simulator.core import validation
from simulator.core.accounts import CANCEL_ORDERS, CREATE_ORDERS
from simulator.core.clock import NS_PER_S, parse_rfc3339, rfc3339_s
from simulator.core.commands import AmendRequest, CloseRequest, EditRequest, OrderRequest
from simulator.core.engine import BATCH_MAX, BATCH_MIN, AddResult
from simulator.core.errors import EngineError, Reject
from simulator.core.instruments import SpotPair
from simulator.core.numbers import fmt_decimal
from simulator.core.orders import BUY, GTC, ORDER_TYPES, SELL, STP_MODES, STP_NEWEST, TIFS, Order

from . import render
from .parse import ApiError, Params, invalid, parse_price, rest_error, sane
from .registry import Ctx, private

OFLAGS = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})
CLOSE_FIELDS = frozenset({"ordertype", "price", "price2"})
ORDER_FIELDS = (
    "ordertype", "type", "volume", "displayvol", "price", "price2", "trigger", "leverage", "reduce_only",
    "stptype", "oflags", "timeinforce", "starttm", "expiretm", "userref", "cl_ord_id", "close", "asset_class",
)  # fmt: skip
_USERREF = re.compile(r"^[+-]?\d+$")
CREATE = [(CREATE_ORDERS,)]
CANCEL = [(CANCEL_ORDERS, CREATE_ORDERS)]


# ------------------------------------------------------------------ parsing
def cl_ord_id(p: Params) -> str | None:
    v = p.text("cl_ord_id", max_len=64)
    try:
        return None if v is None else validation.cl_ord_id(v)
    except validation.Invalid as exc:
        raise rest_error(exc) from exc


def when(p: Params, name: str, now_ns: int, min_rel_s: int = 0) -> int:
    """starttm/expiretm: `0` (none/now), `+N` seconds from now, or unix seconds."""
    v = p.raw(name)
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise invalid(name)
    text = str(v).strip()
    try:
        if text.startswith("+"):
            rel = Decimal(text[1:])
            if not rel.is_finite() or rel < min_rel_s or text[1:2] in ("+", "-"):
                raise invalid(name)
            return now_ns + int(sane(rel, name) * NS_PER_S)
        d = Decimal(text)
    except ArithmeticError as exc:
        raise invalid(name) from exc
    if not d.is_finite() or d < 0:
        raise invalid(name)
    return int(sane(d, name) * NS_PER_S)


def deadline(p: Params, now_ns: int) -> int:
    text = p.text("deadline", max_len=64)
    if text is None:
        return 0
    try:
        return validation.deadline(parse_rfc3339(text), now_ns)
    except (ValueError, OverflowError) as exc:
        raise invalid("deadline") from exc
    except validation.Invalid as exc:
        raise rest_error(exc) from exc


def close_request(p: Params) -> CloseRequest | None:
    raw = p.raw("close")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw or set(raw) - CLOSE_FIELDS:
        raise invalid("close")
    ordertype = raw.get("ordertype")
    if not isinstance(ordertype, str) or ordertype not in ORDER_TYPES:
        raise invalid("close[ordertype]")
    return CloseRequest(
        ordertype, parse_price(raw.get("price"), "close[price]"), parse_price(raw.get("price2"), "close[price2]")
    )


def order_request(ctx: Ctx, p: Params, pair: str, now_ns: int, deadline_ns: int, validate: bool) -> OrderRequest:
    """Kraken's AddOrder fields -> the engine's OrderRequest (types only; rules are the engine's)."""
    ordertype = p.enum("ordertype", ORDER_TYPES)
    if ordertype is None:
        raise invalid("ordertype")
    side = p.enum("type", (BUY, SELL))
    if side is None:
        raise invalid("type")
    volume = p.decimal("volume")
    if volume is None:
        raise invalid("volume")
    flags = p.items("oflags", max_items=5)
    if set(flags) - OFLAGS or len(set(flags)) != len(flags) or {"fcib", "fciq"} <= set(flags):
        raise invalid("oflags")
    tif = p.text("timeinforce", max_len=8)
    tif = tif.upper() if tif is not None else GTC
    if tif not in TIFS:
        raise invalid("timeinforce")
    leverage = p.text("leverage", max_len=16)
    if leverage is not None:
        try:
            validation.leverage(leverage)
        except validation.Invalid as exc:
            raise rest_error(exc) from exc
    ref = p.userref()
    display = p.decimal("displayvol")
    start = when(p, "starttm", now_ns)
    expire = when(p, "expiretm", now_ns, min_rel_s=5)
    return OrderRequest(
        pair=pair,
        side=side,
        ordertype=ordertype,
        qty=volume,
        price=p.price("price"),
        price2=p.price("price2"),
        trigger_ref=p.enum("trigger", ("last", "index"), "last") or "last",
        tif=tif,
        post_only="post" in flags,
        reduce_only=p.flag("reduce_only"),
        stp=p.enum("stptype", STP_MODES, STP_NEWEST) or STP_NEWEST,
        cl_ord_id=cl_ord_id(p),
        userref=ref,
        display_qty=display,
        fee_in_base=True if "fcib" in flags else (False if "fciq" in flags else None),
        viqc="viqc" in flags,
        start_ns=start if start > now_ns else 0,
        expire_ns=expire,
        deadline_ns=deadline_ns,
        validate=validate,
        close=close_request(p),
        leverage=None if leverage in (None, "none") else leverage,
        oflags=",".join(flags),
    )


def _descr(res: AddResult) -> dict[str, str]:
    order, close = render.add_descr(res)
    d = {"order": order}
    if close:
        d["close"] = close
    return d


# ------------------------------------------------------------------ AddOrder
def trading_agreement(p: Params) -> None:
    """`trading_agreement=agree`: Kraken requires it of some jurisdictions and
    clients (freqtrade, clikraken) send it for everyone; its only value is `agree`."""
    v = p.text("trading_agreement", max_len=16)
    if v is not None and v != "agree":
        raise invalid("trading_agreement")


@private(
    "AddOrder", (*ORDER_FIELDS, "pair", "deadline", "validate", "broker", "trading_agreement"), perms=CREATE
)
def add_order(ctx: Ctx, p: Params) -> dict[str, Any]:
    now = ctx.now_ns()
    trading_agreement(p)
    pair = p.req_text("pair", 32)
    ctx.pair(pair)  # an unknown pair is refused here, never journaled
    validate = p.flag("validate")
    req = order_request(ctx, p, pair, now, deadline(p, now), validate)
    res = ctx.submit("add_order", {"account_id": ctx.account_id, "req": req})
    out: dict[str, Any] = {"descr": _descr(res)}
    if res.order is not None:
        out["txid"] = [res.order.id]
    return out


@private(
    "AddOrderBatch",
    ("orders", "pair", "deadline", "validate", "asset_class", "broker", "trading_agreement"),
    perms=[(CREATE_ORDERS,), (CANCEL_ORDERS,)],
)
def add_order_batch(ctx: Ctx, p: Params) -> dict[str, Any]:
    now = ctx.now_ns()
    trading_agreement(p)
    pair = p.req_text("pair", 32)
    ctx.pair(pair)
    validate = p.flag("validate")
    dl = deadline(p, now)
    raw = p.raw("orders")
    if not isinstance(raw, list) or not BATCH_MIN <= len(raw) <= BATCH_MAX or not all(isinstance(x, dict) for x in raw):
        raise invalid("orders")
    reqs = [order_request(ctx, Params(x, ORDER_FIELDS), pair, now, dl, False) for x in raw]
    slots = ctx.submit("add_order_batch", {"account_id": ctx.account_id, "reqs": reqs, "validate": validate})
    rows: list[dict[str, Any]] = []
    for res in slots:
        if isinstance(res, EngineError):
            rows.append({"error": res.text})
            continue
        row: dict[str, Any] = {}
        if res.order is not None:
            row["txid"] = res.order.id
        order, close = render.add_descr(res)
        row["descr"] = {"order": order}
        if close:
            row["close"] = close
        rows.append(row)
    return {"orders": rows}


# ----------------------------------------------------------- amend and edit
def _find_by_ref(ctx: Ctx, txid: str) -> str:
    """EditOrder's `txid` may be an int userref naming exactly one open order."""
    if not _USERREF.match(txid):
        return txid
    ref = int(txid)
    matches = [o.id for o in ctx.engine.open_orders.get(ctx.account_id, {}).values() if o.userref == ref]
    if len(matches) != 1:
        raise ApiError(Reject.UNKNOWN_ORDER.value)
    return matches[0]


@private(
    "AmendOrder",
    (
        "txid",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "trigger_price",
        "post_only",
        "deadline",
        "pair",
        "asset_class",
    ),
    perms=CANCEL,
)
def amend_order(ctx: Ctx, p: Params) -> dict[str, Any]:
    now = ctx.now_ns()
    txid, cl = p.text("txid", max_len=64), p.text("cl_ord_id", max_len=64)
    if (txid is None) == (cl is None):
        raise invalid("txid")
    if p.has("pair"):
        ctx.pair(p.req_text("pair", 32))
    req = AmendRequest(
        order_id=txid,
        cl_ord_id=cl,
        qty=p.decimal("order_qty"),
        display_qty=p.decimal("display_qty"),
        limit_price=p.price("limit_price"),
        trigger_price=p.price("trigger_price"),
        post_only=p.flag("post_only"),
        deadline_ns=deadline(p, now),
    )
    _, amend_id = ctx.submit("amend_order", {"account_id": ctx.account_id, "req": req})
    return {"amend_id": amend_id}


def _price_out(pair: SpotPair, units: int | None, given: Any) -> str:
    if units is not None:
        return render.price(pair, units)
    if isinstance(given, Decimal):
        return fmt_decimal(given, pair.pair_decimals)
    return str(given) if given is not None else "0"


@private(
    "EditOrder",
    (
        "txid",
        "pair",
        "volume",
        "displayvol",
        "price",
        "price2",
        "oflags",
        "deadline",
        "cancel_response",
        "validate",
        "userref",
        "asset_class",
        "trading_agreement",
    ),
    perms=[(CREATE_ORDERS,), (CANCEL_ORDERS,)],
)
def edit_order(ctx: Ctx, p: Params) -> dict[str, Any]:
    now = ctx.now_ns()
    trading_agreement(p)
    txid = _find_by_ref(ctx, p.req_text("txid", 64))
    pair_name = p.req_text("pair", 32)
    ctx.pair(pair_name)
    flags = p.items("oflags", max_items=5)
    if set(flags) - OFLAGS:
        raise invalid("oflags")
    p.flag("cancel_response")
    validate = p.flag("validate")
    req = EditRequest(
        order_id=txid,
        pair=pair_name,
        qty=p.decimal("volume"),
        display_qty=p.decimal("displayvol"),
        price=p.price("price"),
        price2=p.price("price2"),
        post_only=("post" in flags) if p.has("oflags") else None,
        userref=p.userref(),
        deadline_ns=deadline(p, now),
        validate=validate,
    )
    old, res = ctx.submit("edit_order", {"account_id": ctx.account_id, "req": req})
    new: Order | None = res.order
    pair = old.pair
    total = req.qty if req.qty is not None else Decimal(old.qty).scaleb(-pair.lot_decimals)
    out: dict[str, Any] = {"status": "ok"}
    if new is not None:
        out["txid"] = new.id
    out["originaltxid"] = old.id
    out["volume"] = fmt_decimal(total, pair.lot_decimals)
    old_price = Decimal(old.price).scaleb(-pair.pair_decimals) if old.price is not None else None
    out["price"] = _price_out(
        pair, new.price if new is not None else None, req.price if req.price is not None else old_price
    )
    out["price2"] = _price_out(pair, None, req.price2) if req.price2 is not None else "0"
    out["orders_cancelled"] = 0 if validate else 1
    out["descr"] = {"order": render.add_descr(res)[0]}
    if new is not None and new.userref is not None:
        out["newuserref"] = new.userref
    if old.userref is not None:
        out["olduserref"] = old.userref
    return out


# -------------------------------------------------------------------- cancel
def _cancel_params(ctx: Ctx, txid: str | None, cl: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"account_id": ctx.account_id}
    if cl is not None:
        params["cl_ord_id"] = cl
    elif txid is not None and _USERREF.match(txid):
        try:
            params["userref"] = validation.userref(txid, "txid")
        except validation.Invalid as exc:
            raise invalid("txid") from exc
    else:
        params["order_id"] = txid
    return params


@private("CancelOrder", ("txid", "cl_ord_id"), perms=CANCEL)
def cancel_order(ctx: Ctx, p: Params) -> dict[str, Any]:
    txid, cl = p.text("txid", max_len=64), p.text("cl_ord_id", max_len=64)
    if (txid is None) == (cl is None):
        raise invalid("txid")
    canceled = ctx.submit("cancel_order", _cancel_params(ctx, txid, cl))
    return {"count": len(canceled)}


@private("CancelAll", perms=CANCEL)
def cancel_all(ctx: Ctx, p: Params) -> dict[str, Any]:
    return {"count": len(ctx.submit("cancel_all", {"account_id": ctx.account_id}))}


@private("CancelAllOrdersAfter", ("timeout",), perms=CANCEL)
def cancel_all_after(ctx: Ctx, p: Params) -> dict[str, Any]:
    timeout = p.integer("timeout", lo=0, hi=86399)
    if timeout is None:
        raise invalid("timeout")
    at = ctx.submit("cancel_all_after", {"account_id": ctx.account_id, "timeout": timeout})
    return {"currentTime": rfc3339_s(ctx.engine.now_ns), "triggerTime": rfc3339_s(at) if at else "0"}


@private("CancelOrderBatch", ("orders", "cl_ord_ids"), perms=CANCEL)
def cancel_order_batch(ctx: Ctx, p: Params) -> dict[str, Any]:
    raw = p.raw("orders")
    targets: list[tuple[str | None, str | None]] = []
    if raw is not None and raw != "":
        items = raw if isinstance(raw, list) else p.items("orders", max_items=50)
        for x in items:
            if isinstance(x, dict) and set(x) <= {"txid"}:
                x = x.get("txid")
            if isinstance(x, bool) or not isinstance(x, (str, int)) or str(x) == "":
                raise invalid("orders")
            targets.append((str(x), None))
    targets += [(None, c) for c in p.items("cl_ord_ids", max_items=50)]
    unique = list(dict.fromkeys(targets))
    if not unique or len(unique) > 50:
        raise invalid("orders")
    count = 0
    for txid, cl in unique:
        try:
            count += len(ctx.submit("cancel_order", _cancel_params(ctx, txid, cl)))
        except EngineError as exc:
            if exc.code is not Reject.UNKNOWN_ORDER:
                raise
    return {"count": count}
