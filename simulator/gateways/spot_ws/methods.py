"""Trading methods (auth host): parse and check params at the gateway, then
hand the engine a job that the load-balancer model runs when the message
"arrives".  A job returns reply specs (result, error, top-level extras)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from simulator.core import validation
from simulator.core.accounts import CANCEL_ORDERS, CREATE_ORDERS
from simulator.core.clock import parse_rfc3339, rfc3339_s
from simulator.core.commands import AmendRequest, CloseRequest, EditRequest, OrderRequest
from simulator.core.engine import BATCH_MAX, BATCH_MIN
from simulator.core.errors import EngineError, Reject
from simulator.core.instruments import SpotPair
from simulator.core.margin import flag_leverage
from simulator.core.orders import (
    LIMIT_AFTER_TRIGGER,
    MARKET,
    ORDER_TYPES,
    SETTLE_POSITION,
    STP_BOTH,
    STP_NEWEST,
    STP_OLDEST,
    TRAILING_STOP_LIMIT,
    TRAILING_TYPES,
    TRIGGERED_TYPES,
    Origin,
    RelPrice,
)

from .parse import (
    WsError,
    array,
    boolean,
    check_fields,
    enum,
    integer,
    missing,
    number,
    obj,
    string,
    ws_error,
)

if TYPE_CHECKING:
    from .connection import WsConnection

Reply = tuple[dict[str, Any] | None, str | None, dict[str, Any]]
Job = Callable[[], list[Reply]]

TRADING_METHODS = frozenset(
    {
        "add_order",
        "amend_order",
        "edit_order",
        "cancel_order",
        "cancel_all",
        "cancel_all_orders_after",
        "batch_add",
        "batch_cancel",
    }
)

_EITHER = frozenset({CREATE_ORDERS, CANCEL_ORDERS})
# the token's key needs one permission of every group (as the REST twins: AddOrder, AddOrderBatch...)
METHOD_PERMISSIONS: dict[str, tuple[frozenset[str], ...]] = {
    "add_order": (frozenset({CREATE_ORDERS}),),
    "batch_add": (frozenset({CREATE_ORDERS}), frozenset({CANCEL_ORDERS})),
    "amend_order": (_EITHER,),
    "edit_order": (frozenset({CREATE_ORDERS}), frozenset({CANCEL_ORDERS})),
    "cancel_order": (_EITHER,),
    "cancel_all": (_EITHER,),
    "cancel_all_orders_after": (_EITHER,),
    "batch_cancel": (_EITHER,),
}

ORDER_FIELDS = frozenset(
    {
        "order_type",
        "side",
        "order_qty",
        "limit_price",
        "limit_price_type",
        "triggers",
        "time_in_force",
        "expire_time",
        "effective_time",
        "post_only",
        "reduce_only",
        "margin",
        "cl_ord_id",
        "order_userref",
        "conditional",
        "display_qty",
        "fee_preference",
        "no_mpp",
        "stp_type",
        "cash_order_qty",
        "sender_sub_id",
        "stop_price",  # deprecated: triggers.price
        "trigger",  # deprecated: triggers.reference
    }
)
ADD_FIELDS = ORDER_FIELDS | {"symbol", "deadline", "validate", "token"}
AMEND_FIELDS = frozenset(
    {
        "order_id",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "limit_price_type",
        "post_only",
        "trigger_price",
        "trigger_price_type",
        "deadline",
        "symbol",
        "token",
    }
)
EDIT_FIELDS = frozenset(
    {
        "order_id",
        "symbol",
        "order_qty",
        "limit_price",
        "triggers",
        "post_only",
        "reduce_only",
        "display_qty",
        "fee_preference",
        "no_mpp",
        "order_userref",
        "deadline",
        "validate",
        "token",
        "price",  # deprecated: limit_price
        "stop_price",  # deprecated: triggers.price
        "trigger",  # deprecated: triggers.reference
    }
)
TRIGGER_FIELDS = frozenset({"reference", "price", "price_type"})
CONDITIONAL_FIELDS = frozenset(
    {"order_type", "limit_price", "limit_price_type", "trigger_price", "trigger_price_type", "stop_price"}
)
PRICE_TYPES = ("static", "pct", "quote")
STP = {"cancel_newest": STP_NEWEST, "cancel_oldest": STP_OLDEST, "cancel_both": STP_BOTH}
TIF = {"gtc": "GTC", "gtd": "GTD", "ioc": "IOC", "fok": "FOK"}


def _invalid(detail: str) -> WsError:
    return WsError(f"EGeneral:Invalid arguments:{detail}")


def check_cl_ord_id(v: str, field: str = "cl_ord_id") -> str:
    try:
        return validation.cl_ord_id(v, field)
    except validation.Invalid as exc:
        raise ws_error(exc) from exc


def check_userref(params: dict[str, Any], field: str) -> int | None:
    v = integer(params, field)
    try:
        return validation.userref(v, field)
    except validation.Invalid as exc:
        raise ws_error(exc) from exc


def _time(params: dict[str, Any], field: str) -> int:
    v = string(params, field)
    if v is None:
        return 0
    try:
        return parse_rfc3339(v)
    except ValueError:
        raise _invalid(field) from None


def _rel(value: Decimal, ptype: str) -> Decimal | RelPrice:
    if ptype == "static":
        return value
    return RelPrice("-" if value < 0 else "+", abs(value), ptype == "pct")


def _pair(conn: WsConnection, symbol: str | None) -> SpotPair:
    if symbol is None:
        raise missing("symbol")
    pair = conn.hub.rt.venue.instruments.pair(symbol)
    if pair is None or pair.symbol != symbol:
        raise WsError(Reject.UNKNOWN_PAIR.value)
    return pair


def parse_order(p: dict[str, Any], pair: SpotPair, method: str) -> OrderRequest:
    """One order's params (add_order, or a batch_add entry) -> OrderRequest.
    `margin: true` has no ratio on WS: the core's flag_leverage names it."""
    otype = enum(p, "order_type", ORDER_TYPES)
    if otype is None:
        raise missing("order_type")
    side = enum(p, "side", ("buy", "sell"))
    if side is None:
        raise missing("side")
    qty = number(p, "order_qty")
    cash = number(p, "cash_order_qty")
    viqc = False
    if cash is not None:
        if otype != MARKET or side != "buy" or qty is not None:
            raise _invalid("cash_order_qty")
        qty, viqc = cash, True
    if qty is None:
        raise missing("order_qty")
    margin = boolean(p, "margin")
    try:
        # order_qty 0 closes the whole position (a margin or settle-position order): the core's rule
        if viqc or qty != 0 or qty.is_signed() or not (margin or otype == SETTLE_POSITION):
            validation.positive(qty, "cash_order_qty" if viqc else "order_qty")
    except validation.Invalid as exc:
        raise ws_error(exc) from exc
    limit = number(p, "limit_price")
    limit_type = enum(p, "limit_price_type", PRICE_TYPES, "static") or "static"
    trig_obj = obj(p, "triggers")
    trig_price: Decimal | None = None
    trig_type = "static"
    # the deprecated top-level `trigger` names the reference when `triggers` does not
    trig_ref = enum(p, "trigger", ("index", "last"), "last") or "last"
    if trig_obj is not None:
        check_fields(trig_obj, TRIGGER_FIELDS, method)
        trig_price = number(trig_obj, "price", required=True)
        trig_type = enum(trig_obj, "price_type", PRICE_TYPES, "static") or "static"
        trig_ref = enum(trig_obj, "reference", ("index", "last"), trig_ref) or trig_ref
    stop = number(p, "stop_price")
    if trig_price is None and stop is not None:
        trig_price = stop
    price: Any = None
    price2: Any = None
    if otype in TRIGGERED_TYPES:
        if trig_price is None:
            raise missing("triggers")
        if otype in TRAILING_TYPES:
            if trig_type == "static":
                raise _invalid("triggers price_type")
            price = RelPrice("+", abs(trig_price), trig_type == "pct")
        else:
            price = _rel(trig_price, trig_type)
        if otype in LIMIT_AFTER_TRIGGER:
            if limit is None:
                raise missing("limit_price")
            if otype == TRAILING_STOP_LIMIT and limit_type != "static":
                price2 = RelPrice("-" if limit < 0 else "+", abs(limit), limit_type == "pct")
            else:
                price2 = limit
        elif limit is not None:
            raise _invalid("limit_price")
    else:
        if trig_obj is not None:
            raise _invalid("triggers")
        price = limit
    tif = TIF.get((string(p, "time_in_force") or "gtc").lower())
    if tif is None:
        raise _invalid("time_in_force")
    no_mpp = boolean(p, "no_mpp")
    if no_mpp and otype != MARKET:
        raise WsError("EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market")
    cl = string(p, "cl_ord_id")
    if cl is not None:
        check_cl_ord_id(cl)
    userref = check_userref(p, "order_userref")
    sub = string(p, "sender_sub_id")
    if sub is not None:
        check_cl_ord_id(sub, "sender_sub_id")
    fee_pref = enum(p, "fee_preference", ("base", "quote"))
    stp = STP[enum(p, "stp_type", tuple(STP), "cancel_newest") or "cancel_newest"]
    close = None
    cond = obj(p, "conditional")
    if cond is not None:
        check_fields(cond, CONDITIONAL_FIELDS, method)
        ctype = enum(cond, "order_type", tuple(ORDER_TYPES))
        if ctype is None:
            raise missing("conditional order_type")
        c_limit = number(cond, "limit_price")
        c_trig = number(cond, "trigger_price")
        if c_trig is None:
            c_trig = number(cond, "stop_price")
        c_ttype = enum(cond, "trigger_price_type", PRICE_TYPES, "static") or "static"
        c_ltype = enum(cond, "limit_price_type", PRICE_TYPES, "static") or "static"
        if ctype in TRIGGERED_TYPES:
            cp: Any = _rel(c_trig, c_ttype) if c_trig is not None else None
            if ctype in TRAILING_TYPES and c_trig is not None:
                cp = RelPrice("+", abs(c_trig), c_ttype == "pct")
            cp2: Any = _rel(c_limit, c_ltype) if c_limit is not None else None
            close = CloseRequest(ctype, cp, cp2 if ctype in LIMIT_AFTER_TRIGGER else None)
        else:
            close = CloseRequest(ctype, c_limit)
    return OrderRequest(
        pair=pair.id,
        side=side,
        ordertype=otype,
        qty=qty,
        price=price,
        price2=price2,
        trigger_ref=trig_ref,
        tif=tif,
        post_only=boolean(p, "post_only"),
        reduce_only=boolean(p, "reduce_only"),
        stp=stp,
        cl_ord_id=cl,
        userref=userref,
        display_qty=number(p, "display_qty"),
        fee_in_base=None if fee_pref is None else fee_pref == "base",
        viqc=viqc,
        start_ns=_time(p, "effective_time"),
        expire_ns=_time(p, "expire_time"),
        close=close,
        leverage=str(flag_leverage(pair, side)) if margin else None,
    )


def _deadline(conn: WsConnection, p: dict[str, Any]) -> int:
    try:
        return validation.deadline(_time(p, "deadline"), conn.hub.rt.venue.clock.now_ns())
    except validation.Invalid as exc:
        raise ws_error(exc) from exc


def _add_result(req: OrderRequest, order_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.cl_ord_id is not None:
        out["cl_ord_id"] = req.cl_ord_id
    out["order_id"] = order_id
    if req.userref is not None:
        out["order_userref"] = req.userref
    return out


class Trading:
    """Builds the engine job for one trading request from one connection."""

    def __init__(self, conn: WsConnection, account_id: str, method: str, params: dict[str, Any]) -> None:
        self.conn = conn
        self.rt = conn.hub.rt
        self.account_id = account_id
        self.method = method
        self.params = params
        self.origin = Origin("ws", conn.id, account_id)

    # --------------------------------------------------------------- plumbing
    def submit(self, kind: str, params: dict[str, Any]) -> Any:
        return self.rt.venue.spot_seq.submit(kind, self.origin, params)

    def admit(self) -> str | None:
        """Injected service faults (rate limits are the engine's, on the trading counter)."""
        return self.rt.fault_reply()

    def build(self) -> Job:
        return getattr(self, "_" + self.method)()  # type: ignore[no-any-return]

    def _guarded(self, body: Callable[[], list[Reply]]) -> Job:
        def job() -> list[Reply]:
            err = self.admit()
            if err is not None:
                return [(None, err, {})]
            try:
                return body()
            except EngineError as exc:
                return [(None, exc.text, {})]

        return job

    # ---------------------------------------------------------------- methods
    def _add_order(self) -> Job:
        p = self.params
        check_fields(p, ADD_FIELDS, "add_order")
        pair = _pair(self.conn, string(p, "symbol"))
        req = parse_order(p, pair, "add_order")
        req.deadline_ns = _deadline(self.conn, p)
        req.validate = boolean(p, "validate")

        def body() -> list[Reply]:
            res = self.submit("add_order", {"account_id": self.account_id, "req": req})
            return [(_add_result(req, res.order.id if res.order is not None else ""), None, {})]

        return self._guarded(body)

    def _amend_order(self) -> Job:
        p = self.params
        check_fields(p, AMEND_FIELDS, "amend_order")
        oid = string(p, "order_id")
        cl = string(p, "cl_ord_id")
        if (oid is None) == (cl is None):
            raise missing("order_id")
        symbol = string(p, "symbol")
        if symbol is not None:
            _pair(self.conn, symbol)
        trig = number(p, "trigger_price")
        ttype = enum(p, "trigger_price_type", PRICE_TYPES, "static") or "static"
        limit = number(p, "limit_price")
        ltype = enum(p, "limit_price_type", PRICE_TYPES, "static") or "static"
        req = AmendRequest(
            order_id=oid,
            cl_ord_id=cl,
            qty=number(p, "order_qty"),
            display_qty=number(p, "display_qty"),
            limit_price=_rel(limit, ltype) if limit is not None else None,
            trigger_price=_rel(trig, ttype) if trig is not None else None,
            post_only=boolean(p, "post_only"),
            deadline_ns=_deadline(self.conn, p),
        )

        def body() -> list[Reply]:
            _, amend_id = self.submit("amend_order", {"account_id": self.account_id, "req": req})
            out: dict[str, Any] = {"amend_id": amend_id}
            if cl is not None:
                out["cl_ord_id"] = cl
            else:
                out["order_id"] = oid
            return [(out, None, {})]

        return self._guarded(body)

    def _edit_order(self) -> Job:
        p = self.params
        check_fields(p, EDIT_FIELDS, "edit_order")
        oid = string(p, "order_id")
        if oid is None:
            raise missing("order_id")
        pair = _pair(self.conn, string(p, "symbol"))
        userref = check_userref(p, "order_userref")
        if boolean(p, "no_mpp"):
            raise WsError("EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market")
        trig_obj = obj(p, "triggers")
        price2: Any = None
        enum(p, "trigger", ("index", "last"))  # deprecated reference: checked; edit_order takes no triggered order
        if trig_obj is not None:
            check_fields(trig_obj, TRIGGER_FIELDS, "edit_order")
            tp = number(trig_obj, "price", required=True)
            assert tp is not None
            price2 = _rel(tp, enum(trig_obj, "price_type", PRICE_TYPES, "static") or "static")
        else:
            price2 = number(p, "stop_price")  # deprecated: triggers.price
        limit = number(p, "limit_price")
        if limit is None:
            limit = number(p, "price")  # deprecated: limit_price
        enum(p, "fee_preference", ("base", "quote"))
        reduce_only = p.get("reduce_only")
        post_only = p.get("post_only")
        req = EditRequest(
            order_id=oid,
            pair=pair.id,
            qty=number(p, "order_qty"),
            display_qty=number(p, "display_qty"),
            price=limit,
            price2=price2,
            post_only=boolean(p, "post_only") if post_only is not None else None,
            userref=userref,
            deadline_ns=_deadline(self.conn, p),
            validate=boolean(p, "validate"),
            reduce_only=boolean(p, "reduce_only") if reduce_only is not None else None,
        )

        def body() -> list[Reply]:
            old, res = self.submit("edit_order", {"account_id": self.account_id, "req": req})
            new_id = res.order.id if res.order is not None else ""
            return [({"order_id": new_id, "original_order_id": old.id}, None, {})]

        return self._guarded(body)

    def _cancel_order(self) -> Job:
        p = self.params
        check_fields(p, frozenset({"order_id", "cl_ord_id", "order_userref", "token"}), "cancel_order")
        ids = array(p, "order_id") or []
        cls = array(p, "cl_ord_id") or []
        refs = array(p, "order_userref") or []
        for v in ids + cls:
            if type(v) is not str:
                raise WsError(
                    "Order_id field must be an array of strings"
                    if v in ids
                    else "Cl_ord_id field must be an array of strings"
                )
        for v in refs:
            if type(v) is not int:
                raise WsError("Order_userref field must be an array of integers")
        if not ids and not cls and not refs:
            raise missing("order_id")
        acct = self.account_id

        def body() -> list[Reply]:
            out: list[Reply] = []
            for field, given in (("order_id", ids), ("cl_ord_id", cls)):
                for v in given:
                    try:
                        self.submit("cancel_order", {"account_id": acct, field: v})
                        out.append(({field: v}, None, {}))
                    except EngineError as exc:
                        out.append((None, exc.text, {}))
            for ref in refs:
                try:
                    done = self.submit("cancel_order", {"account_id": acct, "userref": ref})
                except EngineError as exc:
                    out.append((None, exc.text, {}))
                    continue
                if not done:
                    out.append((None, Reject.UNKNOWN_ORDER.value, {}))
                for o in done:
                    out.append(({"order_id": o.id}, None, {}))
            return out

        return self._guarded(body)

    def _cancel_all(self) -> Job:
        check_fields(self.params, frozenset({"token"}), "cancel_all")

        def body() -> list[Reply]:
            done = self.submit("cancel_all", {"account_id": self.account_id})
            return [({"count": len(done)}, None, {})]

        return self._guarded(body)

    def _cancel_all_orders_after(self) -> Job:
        p = self.params
        check_fields(p, frozenset({"timeout", "token"}), "cancel_all_orders_after")
        timeout = integer(p, "timeout", required=True)
        assert timeout is not None
        if not 0 <= timeout < 86400:
            raise _invalid("timeout")

        def body() -> list[Reply]:
            at = self.submit("cancel_all_after", {"account_id": self.account_id, "timeout": timeout})
            now = self.rt.venue.spot.now_ns
            return [({"currentTime": rfc3339_s(now), "triggerTime": rfc3339_s(at) if at else "0"}, None, {})]

        return self._guarded(body)

    def _batch_add(self) -> Job:
        p = self.params
        check_fields(p, frozenset({"symbol", "orders", "deadline", "validate", "token"}), "batch_add")
        pair = _pair(self.conn, string(p, "symbol"))
        orders = array(p, "orders")
        if orders is None:
            raise missing("orders")
        if not BATCH_MIN <= len(orders) <= BATCH_MAX:
            raise _invalid("orders")
        deadline = _deadline(self.conn, p)
        validate = boolean(p, "validate")
        reqs: list[OrderRequest] = []
        for o in orders:
            if type(o) is not dict:
                raise WsError("Orders field must be an array of objects")
            check_fields(o, ORDER_FIELDS, "batch_add")
            r = parse_order(o, pair, "batch_add")
            r.deadline_ns = deadline
            reqs.append(r)
        acct = self.account_id

        def body() -> list[Reply]:
            slots = self.submit("add_order_batch", {"account_id": acct, "reqs": reqs, "validate": validate})
            results: list[dict[str, Any]] = []
            for r, res in zip(reqs, slots, strict=True):
                if isinstance(res, EngineError):
                    row = _add_result(r, "")
                    del row["order_id"]
                    row["error"] = res.text
                    results.append(row)
                else:
                    results.append(_add_result(r, res.order.id if res.order is not None else ""))
            return [(results, None, {})]  # type: ignore[list-item]

        return self._guarded(body)

    def _batch_cancel(self) -> Job:
        p = self.params
        check_fields(p, frozenset({"orders", "cl_ord_id", "token"}), "batch_cancel")
        ids = array(p, "orders") or []
        cls = array(p, "cl_ord_id") or []
        for v in ids + cls:
            if type(v) is not str:
                raise WsError("Orders field must be an array of strings")
        if not 2 <= len(ids) + len(cls) <= 50:
            raise _invalid("orders")
        acct = self.account_id
        shape = self.conn.hub.config.batch_cancel_shape

        def body() -> list[Reply]:
            n = 0
            for v in ids:
                kw: dict[str, Any] = {"order_id": v}
                if v.lstrip("-").isdigit():
                    try:
                        kw = {"userref": validation.userref(v, "orders")}
                    except validation.Invalid:
                        pass  # no int32: names no order
                try:
                    done = self.submit("cancel_order", {"account_id": acct, **kw})
                    n += len(done)
                except EngineError:
                    pass
            for cl in cls:
                try:
                    n += len(self.submit("cancel_order", {"account_id": acct, "cl_ord_id": cl}))
                except EngineError:
                    pass
            if shape == "documented":
                return [({"count": n}, None, {})]
            return [(None, None, {"orders_cancelled": n})]

        return self._guarded(body)
