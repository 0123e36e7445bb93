"""The FIX application: accounts, order entry, execution reports, market data.

Implements `FixApplication` for the session layer. Every business message
is submitted to the sequencer synchronously inside `on_message`, so a
session's messages reach the engine in MsgSeqNum order (the session layer
awaits one callback before the next). Execution reports are never built in
the request path: they come from the engine's events on `rt.bus`, so an
order gets the same reports whoever changed it (this session, REST, WS, a
timer, the dead man's switch).

Threading: the bus calls `on_entry` on whatever thread ran the command
(admin and REST calls may run in worker threads). Entries are queued in
engine order and drained on the event loop thread only, right away when
the command ran there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.core.accounts import CANCEL_ORDERS, CREATE_ORDERS
from simulator.core.errors import EngineError, Reject
from simulator.core.events import OrderEvent
from simulator.core.orders import TERMINAL, Origin
from simulator.gateways.fix import business_tags as F
from simulator.gateways.fix.application import AuthResult, LogonInfo, SessionHandle
from simulator.gateways.fix.business_tags import BusinessReject, ExecType, FieldProblem, OrdStatus
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.render import OrderTrack, spot_report
from simulator.gateways.fix.store import SessionKey
from simulator.gateways.fix.tags import BusinessRejectReason

if TYPE_CHECKING:
    from simulator.core.sequencer import JournalEntry
    from simulator.server.runtime import Runtime

log = logging.getLogger("kraken_sim.fix")

TRADING_MSG_TYPES = frozenset({"D", "F", "G", "q", "H"})
MARKET_DATA_MSG_TYPES = frozenset({"V", "g"})
ANY_SESSION_MSG_TYPES = frozenset({"x"})
R = BusinessRejectReason


DEMO = "demo"  # plain_comp_ids value naming the demo account


@dataclass
class FixConfig:
    """Gateway knobs (README "Configuration"); scenario `[fix]` and /admin/fix."""

    # Logons without credentials run the plain profile (no signature, reset on logon),
    # but only for the SenderCompIDs listed here: CompID -> account id, "demo", or a
    # scenario account's name. Any other credential-less CompID is closed without a reply.
    plain_enabled: bool = True
    plain_comp_ids: dict[str, str] = field(default_factory=dict)
    # SendingTime accuracy window in seconds against the venue clock; None: off.
    sending_time_accuracy_s: float | None = 120.0
    # Market data: symbols one session may hold subscribed at once (35=Y 281=2 beyond).
    md_max_subscriptions: int = 200
    # Derivatives FIX budget cost of one order-entry message (per-session bucket).
    derivatives_cost: int = 10

    def to_json(self) -> dict[str, Any]:
        return {
            "plain_enabled": self.plain_enabled,
            "plain_comp_ids": dict(self.plain_comp_ids),
            "sending_time_accuracy_s": self.sending_time_accuracy_s,
            "md_max_subscriptions": self.md_max_subscriptions,
            "derivatives_cost": self.derivatives_cost,
        }


class FixConn:
    """A logged-on connection: what the handlers need, and its `rt.connections` entry."""

    protocol = "fix"

    def __init__(
        self, handle: SessionHandle, account_id: str, conn_id: str, generation: int,
        permissions: frozenset[str] | None, plain: bool,
    ) -> None:
        self.handle = handle
        self.instance_id = handle.instance_id
        self.key = handle.key
        self.account_id = account_id
        self.conn_id = conn_id
        self.generation = generation
        self.permissions = permissions
        self.plain = plain
        self.trading = handle.service.kind == "trading"
        self.market = handle.service.market
        self.alloc_accounts: set[str] = set()  # subaccounts this connection booked orders to
        self.origin = Origin("fix", handle.instance_id, account_id)

    @property
    def sender_comp_id(self) -> str:
        return self.key.target_comp_id

    def accounts(self) -> set[str]:
        return {self.account_id, *self.alloc_accounts}

    def may(self, *perms: str) -> bool:
        return self.permissions is None or any(p in self.permissions for p in perms)

    async def drop(self) -> None:
        """Admin fault: close the TCP connection without Logout (cancel-on-disconnect fires)."""
        self.handle.drop("dropped by admin")
        closed = getattr(self.handle, "closed", None)
        if isinstance(closed, asyncio.Event):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closed.wait(), 3.0)


@dataclass(slots=True, eq=False)
class Request:
    """The FIX request being submitted right now; its journal entry is the one
    whose origin is this very object."""

    conn: FixConn
    origin: Origin
    kind: str  # new | cancel | replace | mass
    cl_ord_id: str | None
    symbol: str | None = None
    order_id: str | None = None  # cancel/replace: the target order
    applied: bool = False  # replace: the new ClOrdID is in place
    orig: str | None = None  # replace: the ClOrdID being replaced


Handler = Callable[[FixConn, Msg], None]


def reject_reason(exc: EngineError) -> int:
    """BusinessRejectReason (380) for an engine refusal (fix.md §6.8, §9.3)."""
    code = getattr(exc, "code", None)
    if code is Reject.UNKNOWN_ORDER:
        return R.UNKNOWN_ORDER
    if code is Reject.PERMISSION_DENIED:
        return R.NOT_AUTHORIZED
    if code is Reject.UNKNOWN_PAIR:
        return R.UNKNOWN_SECURITY
    if code is Reject.UNAVAILABLE:
        return R.APPLICATION_NOT_AVAILABLE
    return R.OTHER


class KrakenFixApplication:
    """`FixApplication` over the venue: one per runtime, survives resets."""

    def __init__(self, rt: Runtime, config: FixConfig | None = None) -> None:
        from simulator.gateways.fix.futures import FuturesOrders
        from simulator.gateways.fix.marketdata import MarketData
        from simulator.gateways.fix.orders import SpotOrders

        self.rt = rt
        self.log = log
        self.config = config or FixConfig()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0
        self.generation = 0
        self.conns: dict[str, FixConn] = {}  # live connections by instance id
        self.instances: dict[str, SessionKey] = {}  # every instance that logged on -> its identity
        self.latest: dict[SessionKey, SessionHandle] = {}  # newest session object per identity
        self.tracks: dict[str, OrderTrack] = {}  # open FIX orders by order id
        self.aliases: dict[tuple[str, str], str] = {}  # (account, ClOrdID) -> order id
        self.request: Request | None = None
        self._pending: deque[JournalEntry] = deque()
        self._drain_scheduled = False
        self._draining = False
        self._exec_n = 0
        self.exec_epoch = 1  # the process start count with a state directory (ExecIDs stay unique across restarts)
        self.spot = SpotOrders(self)
        self.futures = FuturesOrders(self)
        self.md = MarketData(self)
        self.handlers: dict[str, Handler] = {
            "D": self._route_new,
            "F": self._route_cancel,
            "G": self._route_replace,
            "q": self._mass_cancel,
            "H": self._route_status,
            "V": self.md.on_market_data_request,
            "x": self.md.on_security_list_request,
            "g": self.md.on_trading_session_status_request,
        }

    # ------------------------------------------------------------ lifecycle
    def bind_loop(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()

    def on_reset(self) -> None:
        """Venue reset: forget every order, alias and subscription; old sessions go stale."""
        self.generation += 1
        self.config = FixConfig()
        self.tracks.clear()
        self.aliases.clear()
        self.instances.clear()
        self.latest.clear()
        self.md.clear()
        for conn in self.conns.values():
            self.rt.connections.pop(conn.conn_id, None)
        self.conns.clear()
        self._pending.clear()

    def next_exec_id(self) -> str:
        """Unique per execution report: `E<epoch>.<n>`, the epoch counting
        process starts on one state directory (so a restart never repeats one)."""
        self._exec_n += 1
        return f"E{self.exec_epoch}.{self._exec_n}"

    # ------------------------------------------------------- FixApplication
    def api_secret(self, api_key: str) -> str | None:
        key = self.rt.venue.accounts.key(api_key)
        if key is None or key.kind != "fix":
            return None
        return key.secret

    def comp_id_owner(self, comp_id: str) -> str | None:
        """The account an admin-issued SenderCompID belongs to (`<id>` or `<id>_DRV`)."""
        base = comp_id[:-4] if comp_id.endswith("_DRV") else comp_id
        for acct_id, creds in self.rt.venue.credentials.items():
            if creds.fix_sender_comp_id in (comp_id, base):
                return acct_id
        return None

    def resolve_account(self, ref: str) -> str | None:
        """An account id, "demo", or a scenario account's name -> the account id (None: unknown)."""
        rt = self.rt
        if ref == DEMO:
            return rt.demo.account.id if rt.demo is not None else None
        named = rt.services.named_accounts
        creds = named.get(ref)
        if creds is not None:
            return str(creds.account.id)
        return ref if rt.venue.accounts.get(ref) is not None else None

    def plain_account(self, comp_id: str) -> str | None:
        """The account of a configured plain SenderCompID (None: not configured)."""
        mapped = self.config.plain_comp_ids.get(comp_id)
        return self.resolve_account(mapped) if mapped is not None else None

    def authenticate(self, logon: LogonInfo) -> AuthResult:
        venue = self.rt.venue
        comp_id = logon.client_comp_id
        owner = self.comp_id_owner(comp_id)
        if logon.service.require_signature:
            key = venue.accounts.key(logon.api_key or "")
            if key is None or key.kind != "fix":
                return AuthResult.reject()
            plain_owner = self.plain_account(comp_id)
            if owner is None and plain_owner is not None:
                owner = plain_owner  # a CompID configured for a plain account is that account's
            if owner is not None and owner != key.account_id:
                return AuthResult.reject()  # another account's SenderCompID
            return AuthResult.accept(key.account_id)
        if owner is not None:
            return AuthResult.reject()  # an issued CompID is its account's alone: signed only
        account = self.plain_account(comp_id)
        return AuthResult.accept(account) if account else AuthResult.reject()

    def on_logon(self, session: SessionHandle) -> None:
        account = session.account_id or ""
        perms: frozenset[str] | None = None
        logon = session.logon_message
        api_key = logon.get(553) if logon is not None else None
        if session.service.require_signature and api_key:
            key = self.rt.venue.accounts.key(api_key)
            perms = key.permissions if key is not None else frozenset()
        profile = getattr(session, "profile", None)
        plain = getattr(profile, "name", "") == "plain"
        # the connection id is the instance id: the journal's `session` of its commands
        conn = FixConn(session, account, session.instance_id, self.generation, perms, plain)
        self.conns[session.instance_id] = conn
        self.instances[session.instance_id] = session.key
        self.latest[session.key] = session
        self.rt.connections[conn.conn_id] = conn

    def on_message(self, session: SessionHandle, msg: Msg) -> Awaitable[None] | None:
        delay = self.rt.latency_s("fix")
        if delay > 0:
            return self._delayed(session, msg, delay)
        self.handle(session, msg)
        return None

    async def _delayed(self, session: SessionHandle, msg: Msg, delay: float) -> None:
        await asyncio.sleep(delay)  # the session awaits us: later messages wait too
        self.handle(session, msg)

    def handle(self, session: SessionHandle, msg: Msg) -> None:
        conn = self.conns.get(session.instance_id)
        mt = msg.msg_type or ""
        if conn is None or conn.generation != self.generation:
            session.send_business_reject(msg, R.APPLICATION_NOT_AVAILABLE, Reject.UNAVAILABLE.value)
            return
        handler = self.handlers.get(mt)
        allowed = (mt in ANY_SESSION_MSG_TYPES or (mt in TRADING_MSG_TYPES and conn.trading)
                   or (mt in MARKET_DATA_MSG_TYPES and not conn.trading))
        if handler is None or not allowed:
            session.send_business_reject(msg, R.UNSUPPORTED_MESSAGE_TYPE, f"Unsupported Message Type: {mt}")
            return
        try:
            handler(conn, msg)
        except FieldProblem as p:
            session.send_reject(msg, p.reason, p.tag, p.text)
        except BusinessReject as b:
            session.send_business_reject(msg, b.reason, b.text)
        except EngineError as exc:
            session.send_business_reject(msg, reject_reason(exc), exc.text)
        finally:
            self.request = None

    def on_disconnect(self, session: SessionHandle, cancel_on_disconnect: bool) -> None:
        conn = self.conns.pop(session.instance_id, None)
        if conn is None:
            return
        self.rt.connections.pop(conn.conn_id, None)
        self.md.drop_connection(conn)
        if not (cancel_on_disconnect and conn.trading and conn.generation == self.generation):
            return
        log.info("FIX %s (%s): cancel on disconnect (%s)", conn.instance_id, conn.key,
                 getattr(session, "disconnect_reason", ""))
        origin = Origin("fix", conn.instance_id, conn.account_id)
        for account in sorted(conn.accounts()):
            try:
                self.rt.venue.spot_seq.submit(
                    "cancel_all", origin,
                    {"account_id": account, "only_session": conn.instance_id, "reason": F.COD_REASON},
                )
            except EngineError as exc:
                log.warning("FIX %s: cancel on disconnect refused: %s", conn.instance_id, exc.text)
        self.futures.cancel_on_disconnect(conn)

    # ------------------------------------------------------------ routing
    def is_derivatives(self, symbol: str) -> bool:
        return symbol.upper().startswith(("PI_", "PF_", "FI_", "FF_"))

    def _route_new(self, conn: FixConn, msg: Msg) -> None:
        self.fault_gate(msg)
        symbol = F.required(msg, F.SYMBOL)
        if self.is_derivatives(symbol):
            self.futures.new_order(conn, msg, symbol)
        else:
            self.spot.new_order(conn, msg, symbol)

    def _by_owner(self, conn: FixConn, msg: Msg, futures: Handler, spot: Handler) -> None:
        """A request about an existing order goes to the market that holds it."""
        (futures if self.futures.owns(conn, msg) else spot)(conn, msg)

    def _route_cancel(self, conn: FixConn, msg: Msg) -> None:
        self.fault_gate(msg)
        self._by_owner(conn, msg, self.futures.cancel, self.spot.cancel)

    def _route_replace(self, conn: FixConn, msg: Msg) -> None:
        self.fault_gate(msg)
        self._by_owner(conn, msg, self.futures.replace, self.spot.replace)

    def _route_status(self, conn: FixConn, msg: Msg) -> None:
        self._by_owner(conn, msg, self.futures.status, self.spot.status)

    def _mass_cancel(self, conn: FixConn, msg: Msg) -> None:
        self.fault_gate(msg)
        kind = F.required(msg, F.MASS_CANCEL_REQUEST_TYPE)
        if kind not in ("1", "6", "7"):
            raise F.bad_value(F.MASS_CANCEL_REQUEST_TYPE)
        symbol = F.required(msg, F.SYMBOL) if kind == "1" else msg.get(F.SYMBOL)
        if not conn.may(CANCEL_ORDERS, CREATE_ORDERS):
            raise BusinessReject(R.NOT_AUTHORIZED, Reject.PERMISSION_DENIED.value)
        if symbol is not None and kind == "1" and self.is_derivatives(symbol):
            self.futures.mass_cancel(conn, msg, kind, symbol)
            return
        self.spot.mass_cancel(conn, msg, kind, symbol if kind == "1" else None)
        if kind != "1":
            self.futures.mass_cancel(conn, msg, kind, None)

    def fault_gate(self, msg: Msg) -> None:
        """Injected EService:Unavailable/Busy (admin faults) reach FIX order entry too."""
        fault = self.rt.fault_reply()
        if fault is not None:
            raise BusinessReject(R.APPLICATION_NOT_AVAILABLE, fault)

    # ------------------------------------------------------------ delivery
    def handle_for(self, instance_id: str) -> SessionHandle | None:
        """Where reports for orders of a connection go: that connection, or the newest
        session of the same FIX identity (stored for resend when nobody is logged on)."""
        key = self.instances.get(instance_id)
        return self.latest.get(key) if key is not None else None

    def send(self, handle: SessionHandle, msg: Msg) -> None:
        try:
            handle.send(msg)
        except Exception:  # a closed store (acceptor stopping) must not break the feed
            log.exception("FIX: could not deliver %s", msg.msg_type)

    def on_entry(self, entry: JournalEntry) -> None:
        """Bus subscriber: runs inside the sequencer; queue, drain on the loop thread."""
        loop = self.loop
        if loop is None or not entry.events:
            return
        self._pending.append(entry)
        if threading.get_ident() == self.loop_thread:
            self._drain()
        elif not self._drain_scheduled:
            self._drain_scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        self._drain_scheduled = False
        try:
            pending = self._pending
            while pending:
                entry = pending.popleft()
                try:
                    if entry.engine == "spot":
                        self._spot_entry(entry)
                        if self.md.active:
                            self.md.on_spot_entry(entry)
                    elif entry.engine == "futures":
                        self.futures.on_entry(entry)
                        if self.md.active:
                            self.md.on_futures_entry(entry)
                except Exception:
                    log.exception("FIX: feed failed on journal entry %s", entry.seq)
        finally:
            self._draining = False

    # --------------------------------------------------- spot order reports
    def _spot_entry(self, entry: JournalEntry) -> None:
        req = self.request
        if req is not None and entry.origin is not req.origin:
            req = None
        cancel_req = req is not None and req.kind in ("cancel", "mass")
        relevant: list[OrderEvent] = []
        for ev in entry.events:
            if type(ev) is OrderEvent:
                org = ev.order.origin
                if (org is not None and org.protocol == "fix") or cancel_req:
                    relevant.append(ev)
        if not relevant:
            return
        last_status: dict[str, str] = {}
        instruments = self.rt.venue.instruments
        for ev in relevant:
            o = ev.order
            kind = ev.type
            track = self._track(o, req)
            owner = self.handle_for(o.origin.session) if o.origin is not None and o.origin.protocol == "fix" else None
            requester = None
            if cancel_req and req is not None and kind == "canceled" and o.account_id in req.conn.accounts():
                requester = req.conn.handle
            if owner is None and requester is None:
                continue
            terminal = ev.status in TERMINAL
            exec_type, status = self._exec_status(ev, last_status.get(o.id), entry)
            if exec_type is None:
                if terminal:
                    self._untrack(o.id)
                continue
            last_status[o.id] = status
            orig = None
            if (kind == "amended" and req is not None and req.kind == "replace" and track is not None
                    and req.order_id == o.id and not req.applied and req.cl_ord_id is not None):
                req.applied = True
                orig = track.cl_ord_id
                self.add_alias(track, req.cl_ord_id)
            cl = track.cl_ord_id if track is not None else o.cl_ord_id
            symbol = track.symbol if track is not None else o.pair.symbol
            text = ev.reason if kind in ("canceled", "expired", "filled") else None
            exec_id = self.next_exec_id()
            base = spot_report(instruments, ev, exec_id=exec_id, exec_type=exec_type, status=status,
                               ts=ev.ts, cl_ord_id=cl, symbol=symbol, orig_cl_ord_id=orig, text=text)
            owner_key = owner.key if owner is not None else None
            if requester is not None and req is not None:
                req_msg = spot_report(instruments, ev, exec_id=exec_id, exec_type=exec_type, status=status,
                                      ts=ev.ts, cl_ord_id=req.cl_ord_id, symbol=symbol, orig_cl_ord_id=cl,
                                      text=text)
                self.send(requester, req_msg)
                if owner is not None and owner_key != requester.key:
                    self.send(owner, base)
            elif owner is not None:
                self.send(owner, base)
            if terminal:
                self._untrack(o.id)

    def _exec_status(self, ev: OrderEvent, last: str | None, entry: JournalEntry) -> tuple[str | None, str]:
        """(ExecType, OrdStatus) for one engine event, from its facts; None: no report for it."""
        kind, o, cum, qty = ev.type, ev.order, ev.filled, ev.qty
        live = OrdStatus.PARTIALLY_FILLED if cum else OrdStatus.NEW
        if kind == "new":
            return ExecType.NEW, live
        if kind == "trade":
            return ExecType.TRADE, OrdStatus.FILLED if cum >= qty else OrdStatus.PARTIALLY_FILLED
        if kind == "canceled":
            return ExecType.CANCELED, OrdStatus.CANCELED
        if kind == "expired":
            return ExecType.EXPIRED, OrdStatus.EXPIRED
        if kind == "filled":
            if last == OrdStatus.FILLED or cum >= qty:
                return None, ""
            return ExecType.CANCELED, OrdStatus.CANCELED  # IOC/market remainder: done, not filled
        if kind == "amended":
            return ExecType.REPLACED, OrdStatus.FILLED if cum >= qty else OrdStatus.REPLACED
        if kind == "triggered":
            return ExecType.RESTATED, live
        if kind == "restated":
            return ExecType.RESTATED, live
        if kind == "pending_new":
            # only orders waiting for EffectiveTime (168) stay pending (fix.md §6.2 `A`)
            if o.start_ns and not any(e is not ev and getattr(e, "type", "") == "new" and getattr(e, "order", None)
                                      is o for e in entry.events):
                return ExecType.PENDING_NEW, OrdStatus.PENDING_NEW
            return None, ""
        return None, ""  # iceberg_refill and anything new: nothing on FIX

    def _track(self, o: Any, req: Request | None) -> OrderTrack | None:
        track = self.tracks.get(o.id)
        if track is not None or o.origin is None or o.origin.protocol != "fix":
            return track
        key = self.instances.get(o.origin.session)
        if key is None:
            return None
        account = o.origin.account_id or o.account_id
        symbol = req.symbol if req is not None and req.kind == "new" and req.symbol else o.pair.symbol
        track = OrderTrack(o.id, "spot", o.origin.session, account, o.cl_ord_id, symbol)
        self.tracks[o.id] = track
        if o.cl_ord_id is not None:
            track.aliases.append(o.cl_ord_id)
            self.aliases[(account, o.cl_ord_id)] = o.id
        return track

    def _untrack(self, order_id: str) -> None:
        track = self.tracks.pop(order_id, None)
        if track is not None:
            for alias in track.aliases:
                if self.aliases.get((track.account_id, alias)) == order_id:
                    del self.aliases[(track.account_id, alias)]

    def add_alias(self, track: OrderTrack, cl_ord_id: str) -> None:
        track.aliases.append(cl_ord_id)
        track.cl_ord_id = cl_ord_id
        self.aliases[(track.account_id, cl_ord_id)] = track.order_id
