"""Derivatives order entry on the unified session: PF_/PI_/FI_ symbols route here.

The derivatives engine answers a request with a typed result code (Kraken
Futures' `sendStatus`), and its events cover every step of an order: the
quiet `accepted` / `edit_accepted` events of the request's own order (before
it trades), each fill, the remainder cancel.  So every execution report,
the request's own ones included, is built from the events as they pass on
the bus, each event carrying the order as it was at that moment.  Each
order-entry message is charged to the connection's own Derivatives FIX budget
(`rt.venue.limits.charge_futures_fix`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from simulator.core import validation
from simulator.core.accounts import CANCEL_ORDERS, CREATE_ORDERS
from simulator.core.commands import FuturesCancelRequest, FuturesEditRequest, FuturesOrderRequest
from simulator.core.derivatives.errors import NOT_FOUND, FuturesCode, refusal
from simulator.core.derivatives.events import ACCEPTED, EDIT_ACCEPTED
from simulator.core.errors import EngineError
from simulator.core.numbers import plain
from simulator.core.orders import Origin
from simulator.gateways.fix import business_tags as F
from simulator.gateways.fix.business_tags import COD_REASON, BusinessReject, ExecType, OrdStatus
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.orders import (
    alloc_account,
    exec_inst,
    find_order,
    permission_denied,
    unknown_order,
    valid_until,
)
from simulator.gateways.fix.render import OrderTrack, fill_fields, report_head, report_msg
from simulator.gateways.fix.tags import BusinessRejectReason as R

if TYPE_CHECKING:
    from simulator.core.sequencer import JournalEntry, Sequencer
    from simulator.gateways.fix.kraken_application import FixConn, KrakenFixApplication, Request

EXEC_INST_DRV = frozenset({"s", "E", "P"})
SPOT_ONLY_TAGS = (F.EXPIRE_TIME, F.EFFECTIVE_TIME, F.DISPLAY_QTY, F.MAX_FLOOR, F.LEVERAGE, F.STP_TYPE)
ORD_TYPE_CODE = {"mkt": "1", "lmt": "2", "post": "2", "ioc": "2", "fok": "2", "trailing_stop": "U"}
TIF_CODE = {"ioc": "3", "fok": "4", "mkt": "3"}
SKIP_REASONS = frozenset({"partial_fill", "limit_order_from_stop", "new_placed_order_by_user", "edited_by_user"})
TRIGGER_TYPES = frozenset({"stp", "take_profit", "trailing_stop"})


def refused(code: FuturesCode) -> BusinessReject:
    """FIX words a derivatives refusal as a BusinessMessageReject: reason 1
    (unknown order) for an order it cannot find, else 0, and the engine's
    error string in Text (58)."""
    return BusinessReject(R.UNKNOWN_ORDER if code in NOT_FOUND else R.OTHER, code.value)


def num(d: Decimal) -> str:
    """Derivatives numbers as Kraken Futures prints them: no trailing zeros."""
    return plain(d)


def fut_ord_type(otype: str, has_limit: bool, triggered: bool) -> str:
    if otype == "stp":
        return ("2" if has_limit else "1") if triggered else ("4" if has_limit else "3")
    if otype == "take_profit":
        return ("2" if has_limit else "1") if triggered else ("T" if has_limit else "R")
    if otype == "trailing_stop" and triggered:
        return "2" if has_limit else "1"
    return ORD_TYPE_CODE.get(otype, "2")


class FuturesOrders:
    """Order entry and reports for the derivatives engine (`rt.venue.derivatives_seq`)."""

    def __init__(self, application: KrakenFixApplication) -> None:
        self.application = application

    # ------------------------------------------------------------ plumbing
    @property
    def engine(self) -> Any:
        return self.application.rt.venue.derivatives

    @property
    def seq(self) -> Sequencer | None:
        return self.application.rt.venue.derivatives_seq

    def available(self) -> bool:
        return self.seq is not None and self.engine is not None

    def owns(self, conn: FixConn, msg: Msg) -> bool:
        """Does this cancel/replace/status address a derivatives order?"""
        symbol = msg.get(F.SYMBOL)
        if symbol is not None:
            return self.application.is_derivatives(symbol)
        eng = self.engine
        order_id = msg.get(F.ORDER_ID)
        if order_id is not None:
            return eng is not None and order_id in eng.orders
        cl = msg.get(F.ORIG_CL_ORD_ID) or msg.get(F.CL_ORD_ID)
        tracked = self.application.aliases.get((conn.account_id, cl or ""))
        track = self.application.tracks.get(tracked or "")
        return track is not None and track.market == "futures"

    def _need(self) -> Any:
        if not self.available():
            raise BusinessReject(R.UNKNOWN_SECURITY, "Derivatives market not available")
        return self.engine

    def _charge(self, conn: FixConn) -> None:
        self.application.rt.venue.limits.charge_futures_fix(conn.instance_id, conn.account_id, self.application.config.derivatives_cost)

    def _begin(self, conn: FixConn, kind: str, cl: str | None, **kw: Any) -> Request:
        from simulator.gateways.fix.kraken_application import Request

        req = Request(conn, Origin("fix", conn.instance_id, conn.account_id), kind, cl, **kw)
        self.application.request = req
        return req

    def find(self, conn: FixConn, msg: Msg, cl_tag: int = F.ORIG_CL_ORD_ID) -> Any:
        eng = self.engine

        def open_by_cl_ord_id(cl: str) -> Any:
            fa = eng.state.get(conn.account_id)
            return next((o for o in fa.open.values() if o.cl_ord_id == cl), None) if fa is not None else None

        return find_order(self.application, conn, msg, cl_tag, eng.orders, open_by_cl_ord_id)

    # ---------------------------------------------------------------- D
    def new_order(self, conn: FixConn, msg: Msg, symbol: str) -> None:
        eng = self._need()
        cl = F.derivatives_cl_ord_id(msg)
        spec = eng.specs.get(symbol.upper())
        if spec is None:
            raise BusinessReject(R.UNKNOWN_SECURITY, FuturesCode.CONTRACT_NOT_FOUND.value)
        side = F.enum_value(msg, F.SIDE, F.SIDES)
        kind = F.required(msg, F.ORD_TYPE)
        if kind not in ("1", "2", "3", "4", "R", "T", "U"):
            raise F.bad_value(F.ORD_TYPE, "V is Spot only" if kind == "V" else "")
        qty = F.decimal_field(msg, F.ORDER_QTY)
        if qty is None:
            raise F.missing(F.ORDER_QTY)
        tif = F.required(msg, F.TIME_IN_FORCE)
        if tif not in ("1", "3", "4"):
            raise F.bad_value(F.TIME_IN_FORCE, "GTD is Spot only" if tif == "6" else "")
        F.required(msg, F.TRANSACT_TIME)
        F.timestamp_field(msg, F.TRANSACT_TIME)
        for tag in SPOT_ONLY_TAGS:
            if tag in msg:
                raise F.FieldProblem(2, tag, f"Tag not defined for this message type: {F.label(tag)} (Spot only)")
        insts = exec_inst(msg, EXEC_INST_DRV)
        if "s" not in insts:
            raise F.bad_value(F.EXEC_INST, "s (single fee) is required on Derivatives")
        price = F.decimal_field(msg, F.PRICE)
        stop = F.decimal_field(msg, F.STOP_PX)
        if kind in ("2", "4", "T") and price is None:
            raise F.missing(F.PRICE)
        if kind in ("3", "4", "R", "T", "U") and stop is None:
            raise F.missing(F.STOP_PX)
        signal = {"1": "index", "5": "last"}.get(msg.get(F.DISCRETION_INST) or "5")
        if signal is None:
            raise F.bad_value(F.DISCRETION_INST)
        req = FuturesOrderRequest(spec.symbol, side, "", qty, cl_ord_id=cl, reduce_only="E" in insts,
                                  deadline_ns=valid_until(msg, self.application.rt.venue.clock.now_ns()) or 0)
        if kind == "1":
            req.order_type = "mkt"
        elif kind == "2":
            req.order_type = "post" if "P" in insts else {"1": "lmt", "3": "ioc", "4": "fok"}[tif]
            req.limit_price = price
        elif kind == "U":
            req.order_type, req.trigger_signal = "trailing_stop", signal
            req.trail_deviation, req.trail_unit = stop, "QUOTE_CURRENCY"
        else:
            req.order_type = "stp" if kind in ("3", "4") else "take_profit"
            req.stop_price, req.trigger_signal = stop, signal
            if kind in ("4", "T"):
                req.limit_price = price
        if (conn.account_id, cl) in self.application.aliases:
            raise refused(FuturesCode.CLIENT_ORDER_ID_ALREADY_EXIST)  # a live order's replaced id
        account = alloc_account(self.application.rt.venue, conn, msg)
        if not conn.may(CREATE_ORDERS):
            raise permission_denied()
        self._charge(conn)
        if account != conn.account_id:
            conn.alloc_accounts.add(account)
        request = self._begin(conn, "new", cl, symbol=symbol)
        seq = self.seq
        assert seq is not None
        try:
            result = seq.submit("send_order", request.origin, {"account_id": account, "req": req})
        except validation.Invalid as exc:
            raise refused(refusal(exc)) from exc
        if result.status is not FuturesCode.PLACED or result.order_id is None:
            raise refused(result.status)

    # ---------------------------------------------------------------- F
    def cancel(self, conn: FixConn, msg: Msg) -> None:
        self._need()
        cl = F.required(msg, F.CL_ORD_ID)
        if not conn.may(CANCEL_ORDERS, CREATE_ORDERS):
            raise permission_denied()
        seq = self.seq
        assert seq is not None
        with seq.exclusive():
            o = self.find(conn, msg)
            if o is None or o.origin_session != conn.instance_id:
                raise unknown_order()
            self._charge(conn)
            request = self._begin(conn, "cancel", cl, order_id=o.id)
            result = seq.submit("cancel_order", request.origin,
                                {"account_id": o.account_id, "req": FuturesCancelRequest(o.id)})
        if result.status is not FuturesCode.CANCELLED:
            raise refused(result.status)

    # ---------------------------------------------------------------- G
    def replace(self, conn: FixConn, msg: Msg) -> None:
        """Derivatives amend (Kraken: UAT only so far): size absolute, prices in place."""
        self._need()
        new_cl = F.derivatives_cl_ord_id(msg)
        qty = F.decimal_field(msg, F.ORDER_QTY)
        if qty is None:
            raise F.missing(F.ORDER_QTY)
        F.required(msg, F.ORD_TYPE)
        price = F.decimal_field(msg, F.PRICE)
        stop = F.decimal_field(msg, F.STOP_PX)
        if not conn.may(CREATE_ORDERS):
            raise permission_denied()
        seq = self.seq
        assert seq is not None
        with seq.exclusive():
            o = self.find(conn, msg)
            if o is None or o.origin_session != conn.instance_id or o.state not in ("open", "trigger"):
                raise unknown_order()
            track = self.application.tracks.get(o.id)
            if track is None:
                raise unknown_order()
            if new_cl != track.cl_ord_id and (conn.account_id, new_cl) in self.application.aliases:
                raise refused(FuturesCode.CLIENT_ORDER_ID_ALREADY_EXIST)
            self._charge(conn)
            edit = FuturesEditRequest(o.id, size=qty, absolute_size=True)
            if price is not None and o.otype != "trailing_stop":
                edit.limit_price = price
            if stop is not None and o.state == "trigger" and o.otype != "trailing_stop":
                edit.stop_price = stop
            request = self._begin(conn, "replace", new_cl, order_id=o.id)
            request.orig = track.cl_ord_id
            result = seq.submit("edit_order", request.origin, {"account_id": o.account_id, "req": edit})
        if result.status is not FuturesCode.EDITED:
            raise refused(result.status)

    # ---------------------------------------------------------------- q
    def mass_cancel(self, conn: FixConn, msg: Msg, kind: str, symbol: str | None) -> None:
        if not self.available():
            if symbol is not None:
                raise BusinessReject(R.UNKNOWN_SECURITY, "Derivatives market not available")
            return
        eng = self.engine
        spec = None
        if symbol is not None:
            spec = eng.specs.get(symbol.upper())
            if spec is None:
                raise BusinessReject(R.UNKNOWN_SECURITY, FuturesCode.CONTRACT_NOT_FOUND.value)
        seq = self.seq
        assert seq is not None
        request = self._begin(conn, "mass", msg.get(F.CL_ORD_ID))
        with seq.exclusive():
            if kind == "7":
                if eng.state.get(conn.account_id) is not None:
                    seq.submit("cancel_all", request.origin, {"account_id": conn.account_id})
                return
            self._cancel_session_orders(conn, request.origin, spec)

    def _cancel_session_orders(self, conn: FixConn, origin: Origin, spec: Any = None) -> None:
        eng, seq = self.engine, self.seq
        assert seq is not None
        for account in sorted(conn.accounts()):
            fa = eng.state.get(account)
            if fa is None:
                continue
            mine = [o for o in fa.open.values()
                    if o.origin_session == conn.instance_id and (spec is None or o.spec is spec)]
            for o in sorted(mine, key=lambda x: (x.created_ns, x.id)):
                try:
                    seq.submit("cancel_order", origin, {"account_id": account, "req": FuturesCancelRequest(o.id)})
                except EngineError as exc:
                    self.application.log.warning("FIX %s: derivatives cancel refused: %s", conn.instance_id, exc.text)

    def cancel_on_disconnect(self, conn: FixConn) -> None:
        if not self.available():
            return
        request = self._begin(conn, "cod", None)
        try:
            self._cancel_session_orders(conn, request.origin)
        finally:
            self.application.request = None

    # ---------------------------------------------------------------- H
    def status(self, conn: FixConn, msg: Msg) -> None:
        self._need()
        o = self.find(conn, msg, cl_tag=F.CL_ORD_ID)
        if o is None or o.state not in ("open", "trigger"):
            raise unknown_order()
        track = self.application.tracks.get(o.id) or OrderTrack(o.id, "futures", "", conn.account_id, o.cl_ord_id,
                                                         o.spec.symbol)
        extra = [(F.ORD_STATUS_REQ_ID, v) for v in [msg.get(F.ORD_STATUS_REQ_ID)] if v is not None]
        status = OrdStatus.PARTIALLY_FILLED if o.filled else OrdStatus.NEW
        conn.handle.send(self.report(o, track, ExecType.ORDER_STATUS, status, o.filled,
                                     ts=self.application.rt.venue.clock.now_ns(), terminal=False, extra=extra))

    # ------------------------------------------------------------- reports
    def report(
        self, o: Any, track: OrderTrack | None, exec_type: str, status: str, cum: int, *, ts: int, terminal: bool,
        fill: Any = None, trade_id: int | None = None, text: str | None = None, orig: str | None = None,
        cl_override: str | None = None, extra: list[tuple[int, str]] | None = None,
    ) -> Msg:
        spec = o.spec
        cl = cl_override if cl_override is not None else (track.cl_ord_id if track is not None else o.cl_ord_id)
        limit = o.price if o.otype != "mkt" and not (o.otype in TRIGGER_TYPES and o.market) else None
        symbol = track.symbol if track is not None and track.symbol else spec.symbol
        body = report_head(o.id, cl, orig, self.application.next_exec_id(), exec_type, status, symbol, o.side,
                           num(spec.size_dec(o.qty)), fut_ord_type(o.otype, limit is not None, o.triggered))
        if limit is not None:
            body.append((F.PRICE, num(spec.price_dec(limit))))
        if o.otype in TRIGGER_TYPES and o.stop_price is not None:
            body.append((F.STOP_PX, num(spec.price_dec(o.stop_price))))
        body.append((F.TIME_IN_FORCE, TIF_CODE.get(o.otype, "1")))
        insts = ["s"] + (["P"] if o.otype == "post" else []) + (["E"] if o.reduce_only else [])
        body.append((F.EXEC_INST, " ".join(insts)))
        if fill is not None:
            body += fill_fields(
                self.application.rt.venue.instruments,
                num(spec.size_dec(fill.qty)),
                num(spec.price_dec(fill.price)),
                str(trade_id) if trade_id is not None else fill.exec_id,
                fill.fill_type == "maker",
                fill.fee,
                fill.fee_asset,
            )
        leaves = 0 if terminal else max(o.qty - cum, 0)
        return report_msg(body, num(spec.size_dec(leaves)), num(spec.size_dec(cum)), num(spec.price_dec(o.avg_price)),
                          ts, text, extra)

    # ----------------------------------------------------------------- bus
    def on_entry(self, entry: JournalEntry) -> None:
        application = self.application
        req = application.request
        if req is not None and entry.origin is not req.origin:
            req = None
        trade_ids: dict[str, int] = {}
        for ev in entry.events:
            if getattr(ev, "kind", "") == "futures_trade":
                trade_ids[ev.trade.uid] = ev.trade.trade_id
        # the quiet steps of order entry (an order taken, an edit applied) have their own handlers
        on_order = {ACCEPTED: self._accepted, EDIT_ACCEPTED: self._edit_accepted}
        for ev in entry.events:
            kind = getattr(ev, "kind", "")
            if kind == "futures_fill":
                self._on_fill(ev.fill, trade_ids.get(ev.fill.exec_id))
            elif kind == "futures_order":
                on_order.get(ev.reason, self._on_order)(ev, req)

    def _is_own(self, o: Any, req: Request | None) -> bool:
        """Is this the order the FIX request being submitted placed or edits?"""
        if req is None:
            return False
        if req.kind == "new":
            return o.cl_ord_id == req.cl_ord_id and o.account_id in req.conn.accounts()
        return req.kind == "replace" and o.id == req.order_id

    def _on_fill(self, fill: Any, trade_id: int | None) -> None:
        o = fill.order  # the order just after this fill: its totals are the report's
        track = self.application.tracks.get(o.id)
        if track is None:
            return
        handle = self.application.handle_for(track.owner)
        if handle is None:
            return
        status = OrdStatus.FILLED if o.filled >= o.qty else OrdStatus.PARTIALLY_FILLED
        self.application.send(handle, self.report(o, track, ExecType.TRADE, status, o.filled, ts=fill.ts, terminal=False,
                                          fill=fill, trade_id=trade_id))
        if o.filled >= o.qty:
            self.application._untrack(o.id)

    def _accepted(self, ev: Any, req: Request | None) -> None:
        """A new order the engine took: the request's own order is tracked from
        here and acknowledged (orders placed over other protocols are not FIX's)."""
        o = ev.order
        if req is None or not self._is_own(o, req) or req.cl_ord_id is None:
            return
        conn = req.conn
        track = OrderTrack(o.id, "futures", conn.instance_id, conn.account_id, req.cl_ord_id,
                           req.symbol or o.spec.symbol)
        track.aliases.append(req.cl_ord_id)
        self.application.tracks[o.id] = track
        self.application.aliases[(conn.account_id, req.cl_ord_id)] = o.id
        status = OrdStatus.NEW if not o.filled else OrdStatus.PARTIALLY_FILLED
        self.application.send(conn.handle, self.report(o, track, ExecType.NEW, status, o.filled, ts=o.created_ns or ev.ts,
                                               terminal=False))

    def _edit_accepted(self, ev: Any, req: Request | None) -> None:
        """An edit applied: Replaced, to the requester under its new ClOrdID, or
        to the owner when another protocol edited a FIX order."""
        o = ev.order
        track = self.application.tracks.get(o.id)
        if track is None:
            return
        if req is not None and self._is_own(o, req) and req.cl_ord_id is not None:
            orig = req.orig
            self.application.add_alias(track, req.cl_ord_id)
            self.application.send(req.conn.handle, self.report(o, track, ExecType.REPLACED, OrdStatus.REPLACED, o.filled,
                                                       ts=ev.ts, terminal=False, orig=orig))
            return
        owner = self.application.handle_for(track.owner)
        if owner is not None:
            self.application.send(owner, self.report(o, track, ExecType.REPLACED, OrdStatus.REPLACED, o.filled, ts=ev.ts,
                                             terminal=False))

    def _on_order(self, ev: Any, req: Request | None) -> None:
        o = ev.order
        reason = ev.reason
        track = self.application.tracks.get(o.id)
        owner = self.application.handle_for(track.owner) if track is not None else None
        requester = None
        mass = req is not None and req.kind in ("cancel", "mass")
        if mass and ev.is_cancel and req is not None and o.account_id in req.conn.accounts():
            requester = req.conn.handle
        if reason in SKIP_REASONS or (reason == "full_fill" and ev.is_cancel):
            if ev.is_cancel:
                self.application._untrack(o.id)
            return
        if owner is None and requester is None:
            return
        ts = ev.ts
        if reason == "stop_order_triggered":
            msg = self.report(o, track, ExecType.RESTATED, OrdStatus.NEW if not o.filled else
                              OrdStatus.PARTIALLY_FILLED, o.filled, ts=ts, terminal=False)
        elif ev.is_cancel:
            text = COD_REASON if req is not None and req.kind == "cod" else reason
            if requester is not None and req is not None:
                cl = track.cl_ord_id if track is not None else o.cl_ord_id
                self.application.send(requester, self.report(o, track, ExecType.CANCELED, OrdStatus.CANCELED, o.filled,
                                                     ts=ts, terminal=True, text=text, cl_override=req.cl_ord_id,
                                                     orig=cl))
                if owner is not None and owner.key != requester.key:
                    self.application.send(owner, self.report(o, track, ExecType.CANCELED, OrdStatus.CANCELED, o.filled,
                                                     ts=ts, terminal=True, text=text))
            elif owner is not None:
                self.application.send(owner, self.report(o, track, ExecType.CANCELED, OrdStatus.CANCELED, o.filled,
                                                 ts=ts, terminal=True, text=text))
            self.application._untrack(o.id)
            return
        else:
            return
        if owner is not None:
            self.application.send(owner, msg)
