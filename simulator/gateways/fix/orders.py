"""Spot order entry: NewOrderSingle, cancel, cancel/replace (amend), mass cancel, status.

Each handler turns one FIX message into one engine command (or a reject):
field problems raise `FieldProblem` (35=3), business problems found before
the engine `BusinessReject` (35=j), and the engine's own refusals arrive as
`EngineError` (35=j with Kraken's error text). Acknowledgements are not sent
here: the engine's events come back through the bus as ExecutionReports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeVar

from simulator.core import validation
from simulator.core.accounts import CANCEL_ORDERS, CREATE_ORDERS
from simulator.core.clock import NS_PER_S
from simulator.core.commands import AmendRequest, OrderRequest, PriceIn
from simulator.core.errors import Reject
from simulator.core.events import OrderEvent
from simulator.core.instruments import SpotPair
from simulator.core.margin import flag_leverage
from simulator.core.orders import (
    LIMIT,
    LIMIT_AFTER_TRIGGER,
    TRAILING_TYPES,
    TRIGGERED_TYPES,
    Order,
    Origin,
    RelPrice,
)
from simulator.gateways.fix import business_tags as F
from simulator.gateways.fix.business_tags import BusinessReject, ExecType
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.render import current_status, spot_report
from simulator.gateways.fix.tags import BusinessRejectReason as R

if TYPE_CHECKING:
    from simulator.core.venue import Venue
    from simulator.gateways.fix.kraken_application import FixConn, KrakenFixApplication


class _Owned(Protocol):
    @property
    def account_id(self) -> str: ...


OrderT = TypeVar("OrderT", bound=_Owned)

MAX_EXPIRE_NS = 31 * 86_400 * NS_PER_S  # ExpireTime at most a month ahead
EXEC_INST_SPOT = frozenset({"E", "P", "v", "f", "q"})
NEEDS_PRICE = frozenset({LIMIT, "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"})


def unknown_order() -> BusinessReject:
    return BusinessReject(R.UNKNOWN_ORDER, Reject.UNKNOWN_ORDER.value)


def permission_denied() -> BusinessReject:
    return BusinessReject(R.NOT_AUTHORIZED, Reject.PERMISSION_DENIED.value)


def invalid(name: str) -> BusinessReject:
    return BusinessReject(R.OTHER, f"{Reject.INVALID_ARGUMENTS.value}:{name}")


def valid_until(msg: Msg, now_ns: int) -> int:
    """ValidUntilTime (62): Kraken's `deadline`, at most 60 s ahead (fix.md §6.1)."""
    try:
        return validation.deadline(F.timestamp_field(msg, F.VALID_UNTIL_TIME) or 0, now_ns)
    except validation.Invalid as exc:
        raise invalid("deadline") from exc


def exec_inst(msg: Msg, allowed: frozenset[str]) -> set[str]:
    """ExecInst (18): several values, space-separated (fix.md §6.1)."""
    raw = msg.get(F.EXEC_INST)
    if raw is None:
        return set()
    values = set(raw.split())
    if not values or values - allowed:
        raise F.bad_value(F.EXEC_INST)
    return values


def display_qty(msg: Msg) -> Decimal | None:
    """Iceberg display size: DisplayQty (1138), or FIX's MaxFloor (111)."""
    value = F.decimal_field(msg, F.DISPLAY_QTY)
    return value if value is not None else F.decimal_field(msg, F.MAX_FLOOR)


def order_request(msg: Msg, pair: SpotPair, cl_ord_id: str, now_ns: int) -> OrderRequest:
    """NewOrderSingle -> the engine's OrderRequest (Kraken's Spot dialect)."""
    side = F.enum_value(msg, F.SIDE, F.SIDES)
    ordertype = F.enum_value(msg, F.ORD_TYPE, F.ORD_TYPES)
    qty = F.decimal_field(msg, F.ORDER_QTY)
    if qty is None:
        raise F.missing(F.ORDER_QTY)
    tif = F.enum_value(msg, F.TIME_IN_FORCE, F.TIFS)
    F.required(msg, F.TRANSACT_TIME)
    F.timestamp_field(msg, F.TRANSACT_TIME)
    limit = F.decimal_field(msg, F.PRICE)
    stop = F.decimal_field(msg, F.STOP_PX)
    if ordertype in NEEDS_PRICE and limit is None:
        raise F.missing(F.PRICE)
    if ordertype in TRIGGERED_TYPES and stop is None:
        raise F.missing(F.STOP_PX)
    price: PriceIn = None
    price2: PriceIn = None
    if ordertype == LIMIT:
        price = limit
    elif ordertype in TRAILING_TYPES:
        assert stop is not None
        price = RelPrice("+", stop, False)  # StopPx is the trailing offset in quote
        price2 = limit
    elif ordertype in TRIGGERED_TYPES:
        price = stop
        price2 = limit if ordertype in LIMIT_AFTER_TRIGGER else None
    insts = exec_inst(msg, EXEC_INST_SPOT)
    if "f" in insts and "q" in insts:
        raise F.bad_value(F.EXEC_INST, "f and q exclude each other")
    trigger_ref = {"1": "index", "5": "last"}.get(msg.get(F.DISCRETION_INST) or "5")
    if trigger_ref is None:
        raise F.bad_value(F.DISCRETION_INST)
    stp = F.enum_value(msg, F.STP_TYPE, F.STP_MODES, default="cancel-newest")
    leverage = msg.get(F.LEVERAGE)
    if leverage not in (None, "0", "1"):
        raise F.bad_value(F.LEVERAGE)
    expire_ns = 0
    if tif == "GTD":
        expire = F.timestamp_field(msg, F.EXPIRE_TIME)
        if expire is None:
            raise F.missing(F.EXPIRE_TIME)
        if expire > now_ns + MAX_EXPIRE_NS:
            raise invalid("expiretm")
        expire_ns = expire
    start = F.timestamp_field(msg, F.EFFECTIVE_TIME) or 0
    deadline = valid_until(msg, now_ns)
    return OrderRequest(
        pair=pair.id,
        side=side,
        ordertype=ordertype,
        qty=qty,
        price=price,
        price2=price2,
        trigger_ref=trigger_ref,
        tif=tif,
        post_only="P" in insts,
        reduce_only="E" in insts,
        stp=stp,
        cl_ord_id=cl_ord_id,
        display_qty=display_qty(msg),
        fee_in_base=True if "f" in insts else (False if "q" in insts else None),
        viqc="v" in insts,
        start_ns=start if start > now_ns else 0,
        expire_ns=expire_ns,
        deadline_ns=deadline,
        leverage=str(flag_leverage(pair, side)) if leverage == "1" else None,  # 5001=1: margin on
    )


def alloc_account(venue: Venue, conn: FixConn, msg: Msg) -> str:
    """Broker allocation (78/79): one subaccount of the logged-on account (fix.md §8)."""
    count = msg.get(F.NO_ALLOCS)
    target = msg.get(F.ALLOC_ACCOUNT)
    if count is None and target is None:
        return conn.account_id
    if count is not None and count != "1":
        raise invalid("NoAllocs")
    if target is None:
        raise F.missing(F.ALLOC_ACCOUNT)
    acct = venue.accounts.get(target)
    if acct is None or acct.parent_id != conn.account_id:
        raise permission_denied()
    return acct.id


def find_order(
    application: KrakenFixApplication,
    conn: FixConn,
    msg: Msg,
    cl_tag: int,
    orders: Mapping[str, OrderT],
    by_cl_ord_id: Callable[[str], OrderT | None],
) -> OrderT | None:
    """The order a cancel/replace/status names, in either market: OrderID (37)
    wins over the ClOrdID (fix.md §6.3); ClOrdIDs resolve through the replace
    chain first, then through the engine's own client ids (`by_cl_ord_id`)."""
    order_id = msg.get(F.ORDER_ID)
    if order_id is not None:
        return _mine(application.rt.venue, conn, orders.get(order_id))
    cl = msg.get(cl_tag)
    if cl is None:
        raise F.missing(cl_tag)
    tracked = application.aliases.get((conn.account_id, cl))
    if tracked is not None:
        return _mine(application.rt.venue, conn, orders.get(tracked))
    return by_cl_ord_id(cl)


def _mine(venue: Venue, conn: FixConn, o: OrderT | None) -> OrderT | None:
    """The order if it belongs to the logged-on account (or one of its subaccounts)."""
    if o is None:
        return None
    if o.account_id == conn.account_id:
        return o
    acct = venue.accounts.get(o.account_id)
    return o if acct is not None and acct.parent_id == conn.account_id else None


class SpotOrders:
    """Order entry for Spot symbols (BTC/USD, XBT/USD, ...)."""

    def __init__(self, application: KrakenFixApplication) -> None:
        self.application = application

    @property
    def venue(self) -> Venue:
        return self.application.rt.venue

    def _request(self, conn: FixConn, kind: str, cl_ord_id: str | None, **kw: str | None) -> Origin:
        from simulator.gateways.fix.kraken_application import Request

        origin = Origin("fix", conn.instance_id, conn.account_id)
        self.application.request = Request(conn, origin, kind, cl_ord_id, **kw)  # type: ignore[arg-type]
        return origin

    # ---------------------------------------------------------------- D
    def new_order(self, conn: FixConn, msg: Msg, symbol: str) -> None:
        venue = self.venue
        cl_ord_id = F.spot_cl_ord_id(msg)
        pair = venue.instruments.pair(symbol)
        if pair is None:
            raise BusinessReject(R.UNKNOWN_SECURITY, Reject.UNKNOWN_PAIR.value)
        req = order_request(msg, pair, cl_ord_id, venue.clock.now_ns())
        if (conn.account_id, cl_ord_id) in self.application.aliases:
            raise BusinessReject(R.OTHER, Reject.DUPLICATE_CL_ORD_ID.value)  # a live order's replaced id
        account = alloc_account(venue, conn, msg)
        if not conn.may(CREATE_ORDERS):
            raise permission_denied()
        if account != conn.account_id:
            conn.alloc_accounts.add(account)
        origin = self._request(conn, "new", cl_ord_id, symbol=symbol)
        venue.spot_seq.submit("add_order", origin, {"account_id": account, "req": req})

    # ------------------------------------------------------------ lookups
    def find(self, conn: FixConn, msg: Msg, cl_tag: int = F.ORIG_CL_ORD_ID) -> Order | None:
        spot = self.venue.spot
        return find_order(
            self.application, conn, msg, cl_tag, spot.orders, lambda cl: spot.cl_ids.get((conn.account_id, cl))
        )

    # ---------------------------------------------------------------- F
    def cancel(self, conn: FixConn, msg: Msg) -> None:
        cl_ord_id = F.required(msg, F.CL_ORD_ID)
        if not conn.may(CANCEL_ORDERS, CREATE_ORDERS):
            raise permission_denied()
        seq = self.venue.spot_seq
        with seq.exclusive():
            o = self.find(conn, msg)
            if o is None:
                raise unknown_order()
            origin = self._request(conn, "cancel", cl_ord_id, order_id=o.id)
            seq.submit("cancel_order", origin, {"account_id": o.account_id, "order_id": o.id,
                                                "only_session": conn.instance_id})

    # ---------------------------------------------------------------- G
    def replace(self, conn: FixConn, msg: Msg) -> None:
        """Spot OrderCancelReplaceRequest amends in place: same OrderID, new ClOrdID."""
        new_cl = F.spot_cl_ord_id(msg)
        qty = F.decimal_field(msg, F.ORDER_QTY)
        if qty is None:
            raise F.missing(F.ORDER_QTY)
        ordertype = F.enum_value(msg, F.ORD_TYPE, F.ORD_TYPES)
        F.enum_value(msg, F.TIME_IN_FORCE, F.TIFS)
        price = F.decimal_field(msg, F.PRICE)
        stop = F.decimal_field(msg, F.STOP_PX)
        insts = exec_inst(msg, frozenset({"P"}))
        display = display_qty(msg)
        venue = self.venue
        deadline = valid_until(msg, venue.clock.now_ns())
        if not conn.may(CREATE_ORDERS):
            raise permission_denied()
        seq = venue.spot_seq
        with seq.exclusive():
            o = self.find(conn, msg)
            if o is None or not o.is_open or o.origin is None or o.origin.session != conn.instance_id:
                raise unknown_order()  # G reaches only this connection's orders (fix.md §7.3)
            current = "limit" if o.ordertype == "iceberg" else o.ordertype
            if ordertype != current:
                raise invalid("ordertype")
            track = self.application.tracks.get(o.id)
            if track is None or new_cl != track.cl_ord_id:
                taken = (conn.account_id, new_cl) in self.application.aliases or (o.account_id, new_cl) in venue.spot.cl_ids
                if taken:
                    raise BusinessReject(R.OTHER, Reject.DUPLICATE_CL_ORD_ID.value)
            amend = AmendRequest(
                order_id=o.id,
                qty=qty,
                display_qty=display,
                limit_price=price if o.ordertype in NEEDS_PRICE or o.ordertype == "iceberg" else None,
                trigger_price=stop if o.ordertype in TRIGGERED_TYPES and o.ordertype not in TRAILING_TYPES
                and not o.triggered else None,
                post_only="P" in insts,
                deadline_ns=deadline,
            )
            origin = self._request(conn, "replace", new_cl, order_id=o.id)
            seq.submit("amend_order", origin, {"account_id": o.account_id, "req": amend})

    # ---------------------------------------------------------------- q
    def mass_cancel(self, conn: FixConn, msg: Msg, kind: str, symbol: str | None) -> None:
        """530=1 symbol / 6 this session's orders / 7 every order of the account (fix.md §6.6)."""
        venue = self.venue
        pair_id = None
        if symbol is not None:
            pair = venue.instruments.pair(symbol)
            if pair is None:
                raise BusinessReject(R.UNKNOWN_SECURITY, Reject.UNKNOWN_PAIR.value)
            pair_id = pair.id
        if kind == "7":
            targets: list[tuple[str, str | None]] = [(conn.account_id, None)]
            targets += [(a, conn.instance_id) for a in sorted(conn.alloc_accounts)]
        else:
            targets = [(a, conn.instance_id) for a in sorted(conn.accounts())]
        origin = self._request(conn, "mass", msg.get(F.CL_ORD_ID))
        for account, only in targets:
            venue.spot_seq.submit("cancel_all", origin, {"account_id": account, "only_session": only,
                                                          "pair": pair_id})

    # ---------------------------------------------------------------- H
    def status(self, conn: FixConn, msg: Msg) -> None:
        """OrderStatusRequest -> ExecutionReport 150=I for a live order (fix.md §6.7)."""
        o = self.find(conn, msg, cl_tag=F.CL_ORD_ID)
        if o is None or not o.is_open:
            raise unknown_order()
        track = self.application.tracks.get(o.id)
        extra = [(F.ORD_STATUS_REQ_ID, v) for v in [msg.get(F.ORD_STATUS_REQ_ID)] if v is not None]
        now = self.venue.clock.now_ns()
        report = spot_report(
            self.venue.instruments, OrderEvent("status", o, now),
            exec_id=self.application.next_exec_id(), exec_type=ExecType.ORDER_STATUS, status=current_status(o),
            ts=now, cl_ord_id=track.cl_ord_id if track else o.cl_ord_id,
            symbol=track.symbol if track else o.pair.symbol, extra=extra,
        )
        conn.handle.send(report)

