"""The FIX 4.4 session state machine, acceptor side, for one TCP connection.

Liveness (heartbeats, TestRequest, timeouts) runs on the event loop's
monotonic clock, because a frozen venue clock must not make a live client
time out; SendingTime, nonces and the daily reset use the venue clock.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.core.clock import VenueClock
from simulator.gateways.fix import logon, tags
from simulator.gateways.fix.application import FixApplication, LogonInfo
from simulator.gateways.fix.auth import NonceTracker
from simulator.gateways.fix.codec import (
    DecodeError,
    Frame,
    Framer,
    Msg,
    decode,
    encode_message,
    fix_timestamp,
    format_value,
)
from simulator.gateways.fix.logon import LogonRefused, resolve
from simulator.gateways.fix.profile import FixProfile, ServiceSpec
from simulator.gateways.fix.registry import SessionRegistry, session_day
from simulator.gateways.fix.resend import GapFill, plan_resend, resend_range
from simulator.gateways.fix.store import MessageStore, SessionKey
from simulator.gateways.fix.tags import RejectReason
from simulator.gateways.fix.validate import (
    Problem,
    check_admin,
    check_dictionary,
    check_fields,
    check_header,
    check_msg_type,
    parse_seq_num,
)
from simulator.server.inflight import Inflight

log = logging.getLogger(__name__)

_READ_CHUNK = 65536
_LOG_CLIP = 200  # characters of a client's bytes or text that reach the log


def clip(text: object, limit: int = _LOG_CLIP) -> str:
    """Client-controlled text for the log: at most `limit` characters, with the size cut."""
    out = text if isinstance(text, str) else repr(text)
    return out if len(out) <= limit else f"{out[:limit]}... ({len(out) - limit} more)"


class LogBudget:
    """Token bucket for one noisy log line, shared by every connection: `burst` lines, then
    `per_s` a second; what it holds back is counted and reported with the next line."""

    def __init__(self, burst: int = 10, per_s: float = 1.0) -> None:
        self.burst, self.per_s = burst, per_s
        self._tokens = float(burst)
        self._at = time.monotonic()
        self.suppressed = 0

    def take(self) -> int | None:
        """None: stay quiet; else how many lines were held back since the last one."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens < 1:
            self.suppressed += 1
            return None
        self._tokens -= 1
        held, self.suppressed = self.suppressed, 0
        return held


GARBLED_LOG = LogBudget()


class State(enum.Enum):
    AWAIT_LOGON = "await_logon"
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"
    CLOSED = "closed"


@dataclass
class SessionContext:
    """Acceptor-wide collaborators shared by every connection."""

    profile: FixProfile
    application: FixApplication
    clock: VenueClock
    registry: SessionRegistry
    nonces: NonceTracker
    # Picks the profile for a connection from its Logon (one port serving, e.g., a
    # signed Kraken profile and a plain one); None keeps `profile` for every logon.
    select_profile: Callable[[Msg], FixProfile | None] | None = None
    # Frames being processed count here (the venue's WS fan-out gives way to them).
    inflight: Inflight = field(default_factory=Inflight)


Route = list[tuple[int, str]]
_tag_of = operator.itemgetter(0)
_ROUTE_TAGS = frozenset(tags.REVERSE_ROUTE)


def reply_route(ref: Msg) -> Route:
    """A reply's routing header: the request's routing fields reversed (115 -> 128, ...)."""
    if not ref.has_any(_ROUTE_TAGS):
        return []  # the usual request: no routing fields to look for
    reverse = tags.REVERSE_ROUTE
    return [(reverse[t], v) for t, v in ref.pairs if t in reverse and v]


def kept_route(stored: Msg) -> Route:
    """The routing fields of a stored message, for its retransmission."""
    return [(t, v) for t, v in stored.pairs if t in tags.REVERSE_ROUTE]


class FixSession:
    """One connection's session: implements `SessionHandle` for the application."""

    def __init__(
        self, ctx: SessionContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        instance_id: str, peer: str | None,
    ) -> None:
        self._ctx = ctx
        self._profile = ctx.profile
        self._reader = reader
        self._writer = writer
        self._framer = Framer(ctx.profile.limits)
        self._loop = asyncio.get_running_loop()
        self._instance_id = instance_id
        self.peer = peer
        self.state = State.AWAIT_LOGON
        self._key: SessionKey | None = None
        self._service: ServiceSpec | None = None
        self._store: MessageStore | None = None
        self._account_id: str | None = None
        self._logon: Msg | None = None
        self._cod = True
        self._claimed = False
        self._app_notified = False
        self.heartbeat_s = 0
        self.disconnect_reason: str | None = None
        self.graceful = False
        now = self._loop.time()
        self._connected_at = now
        self._last_recv = now
        self._last_sent = now
        self._logout_deadline = 0.0
        self._test_requests = 0
        self._queue: dict[int, tuple[Msg, bool]] = {}
        self._resend_until: int | None = None
        self._pending_reset_day: int | None = None
        # while the application handles a message: (its task, the reply routing header)
        self._replying: tuple[asyncio.Task[None] | None, Route] | None = None
        self.closed = asyncio.Event()

    # ---- SessionHandle -------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def key(self) -> SessionKey:
        if self._key is None:
            raise RuntimeError("session has no identity before Logon")
        return self._key

    @property
    def client_comp_id(self) -> str:
        return self.key.target_comp_id

    @property
    def service(self) -> ServiceSpec:
        if self._service is None:
            raise RuntimeError("session has no service before Logon")
        return self._service

    @property
    def account_id(self) -> str | None:
        return self._account_id

    @property
    def cancel_on_disconnect(self) -> bool:
        return self._cod

    @property
    def logon_message(self) -> Msg | None:
        return self._logon

    @property
    def is_logged_on(self) -> bool:
        return self.state in (State.ACTIVE, State.LOGOUT_SENT)

    @property
    def profile(self) -> FixProfile:
        """The profile this connection runs under (chosen at Logon)."""
        return self._profile

    @property
    def is_closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def store(self) -> MessageStore:
        if self._store is None:
            raise RuntimeError("session has no store before Logon")
        return self._store

    def send(self, msg: Msg) -> int:
        pairs = msg.pairs
        first = pairs[0] if pairs else (0, "")
        # applications put MsgType first (Msg.new): no index of the message needed to find it
        mt = first[1] if first[0] == tags.MSG_TYPE else msg.msg_type
        if not mt or mt in tags.ADMIN_MSG_TYPES:
            raise ValueError(f"send() is for application messages, got MsgType {mt!r}")
        body = pairs[1:] if first[0] == tags.MSG_TYPE else [(t, v) for t, v in pairs if t != tags.MSG_TYPE]
        if not tags.SESSION_MANAGED_TAGS.isdisjoint(map(_tag_of, body)):
            bad = [t for t, _ in body if t in tags.SESSION_MANAGED_TAGS]
            raise ValueError(f"session-managed tags in an application message: {bad}")
        replying = self._replying
        route = replying[1] if replying is not None and replying[0] is asyncio.current_task() else ()
        seq, raw = self._encode_and_store(mt, body, route)
        self._ctx.registry.deliver(self.key, raw)
        return seq

    def send_reject(
        self, ref: Msg, reason: int, ref_tag: int | None = None, text: str | None = None
    ) -> int:
        body: list[tuple[int, str]] = [(tags.REF_SEQ_NUM, str(ref.seq_num or 0))]
        if ref_tag is not None:
            body.append((tags.REF_TAG_ID, str(ref_tag)))
        if ref.msg_type:
            body.append((tags.REF_MSG_TYPE, ref.msg_type))
        body.append((tags.SESSION_REJECT_REASON, str(reason)))
        if text:
            body.append((tags.TEXT, text))
        return self._send_admin("3", body, reply_route(ref))

    def send_business_reject(
        self, ref: Msg, reason: int, text: str, ref_id: str | None = None
    ) -> int:
        body: list[tuple[int, str]] = [(tags.REF_SEQ_NUM, str(ref.seq_num or 0)),
                                       (tags.TEXT, format_value(text))]
        if ref.msg_type:
            body.append((tags.REF_MSG_TYPE, ref.msg_type))
        ref_id = ref_id if ref_id is not None else ref.get(tags.CL_ORD_ID)
        if ref_id:
            body.append((tags.BUSINESS_REJECT_REF_ID, ref_id))
        body.append((tags.BUSINESS_REJECT_REASON, str(reason)))
        seq, raw = self._encode_and_store("j", body, reply_route(ref))
        self._ctx.registry.deliver(self.key, raw)
        return seq

    def logout(self, text: str | None = None) -> None:
        if self.state is State.ACTIVE:
            self._send_admin("5", [(tags.TEXT, text)] if text else [])
            self.state = State.LOGOUT_SENT
            self._logout_deadline = self._loop.time() + self._profile.logout_timeout_s
            self.disconnect_reason = f"venue logout: {text}" if text else "venue logout"
            self.graceful = True
        elif self.state is State.AWAIT_LOGON:
            self._close(f"closed before logon: {text}", graceful=False)

    def drop(self, reason: str = "dropped") -> None:
        self._close(reason, graceful=False)

    def daily_reset(self, day: int) -> None:
        """Rollover: log the client out; the store resets when the connection ends."""
        if self.is_logged_on:
            self._pending_reset_day = day
            if self.state is State.ACTIVE:
                self.logout("Daily session reset")

    # ---- connection lifecycle ------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes; never raises."""
        timer = asyncio.create_task(self._timer())
        try:
            await self._read_loop()
        except (ConnectionError, OSError) as exc:
            self._close(f"connection error: {exc!r}", graceful=False)
        except Exception:
            log.exception("FIX %s: session failed", self._instance_id)
            self._close("internal error", graceful=False)
        finally:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
            await self._finish()

    async def _read_loop(self) -> None:
        while self.state is not State.CLOSED:
            data = await self._reader.read(_READ_CHUNK)
            if not data:
                self._close("connection closed by peer", graceful=self.graceful)
                return
            self._framer.feed(data)
            with self._ctx.inflight:
                for frame in self._framer.frames():
                    await self._on_frame(frame)
                    if self.is_closed:
                        return

    def _close(self, reason: str, *, graceful: bool) -> None:
        if self.state is State.CLOSED:
            return
        was = self.state
        self.state = State.CLOSED
        if was is not State.LOGOUT_SENT or self.disconnect_reason is None:
            self.disconnect_reason = reason
        self.graceful = graceful
        log.info("FIX %s (%s): closing: %s", self._instance_id, self._key, clip(reason, 300))
        self._writer.close()

    async def _finish(self) -> None:
        self._close("finished", graceful=self.graceful)
        key = self._key
        try:
            if self._app_notified:
                # the venue's own daily reset is not a client leaving: orders stay
                cod = (self._cod and self._pending_reset_day is None
                       and (not self.graceful or self._profile.cod_on_logout))
                try:
                    await resolve(self._ctx.application.on_disconnect(self, cod))
                except Exception:
                    log.exception("FIX %s: on_disconnect failed", self._instance_id)
            if self._pending_reset_day is not None and self._store is not None:
                self._store.reset(self._pending_reset_day)
        finally:
            if key is not None and self._claimed:
                self._ctx.registry.release(key, self)
            try:
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)
            except (TimeoutError, ConnectionError, OSError):
                pass
            self.closed.set()

    async def _timer(self) -> None:
        while self.state is not State.CLOSED:
            hb = self.heartbeat_s
            await asyncio.sleep(max(0.05, min(0.25, hb / 10)) if hb else 0.25)
            self._on_tick()

    def _on_tick(self) -> None:
        now = self._loop.time()
        if self.state is State.AWAIT_LOGON:
            if now - self._connected_at > self._profile.logon_timeout_s:
                self._close("no Logon received in time", graceful=False)
            return
        if self.state is State.LOGOUT_SENT and now > self._logout_deadline:
            self._close("no Logout reply in time", graceful=True)
            return
        hb = self.heartbeat_s
        if not self.is_logged_on or hb <= 0:
            return
        silent = now - self._last_recv
        if silent >= 2.4 * hb:
            self._close("Timed out waiting for heartbeat", graceful=False)
            return
        if silent >= 1.5 * hb * (self._test_requests + 1):
            self._test_requests += 1
            self._send_admin("1", [(tags.TEST_REQ_ID, f"TEST{self._test_requests}")])
        elif now - self._last_sent >= hb:
            self._send_admin("0", [])

    # ---- output ---------------------------------------------------------

    def write(self, raw: bytes) -> None:
        """Put bytes on the wire (registry delivery and own admin traffic)."""
        if self._writer.is_closing():
            return
        self._writer.write(raw)
        self._last_sent = self._loop.time()
        if log.isEnabledFor(logging.DEBUG):  # the message text is built only when it is logged
            log.debug("FIX %s out: %s", self._instance_id, raw.replace(b"\x01", b"|"))
        if self._writer.transport.get_write_buffer_size() > self._profile.max_outbound_buffer_bytes:
            self._close("slow consumer: outbound buffer full", graceful=False)

    def _encode(self, msg_type: str, seq: int, body: list[tuple[int, str]],
                orig_sending_time: str | None = None, route: Route | tuple[()] = ()) -> bytes:
        return encode_message(
            self._profile.begin_string, msg_type, self.key.sender_comp_id,
            self.key.target_comp_id, seq, fix_timestamp(self._ctx.clock.now_ns()), body,
            orig_sending_time=orig_sending_time, route=route,
        )

    def _encode_and_store(self, msg_type: str, body: list[tuple[int, str]],
                          route: Route | tuple[()] = ()) -> tuple[int, bytes]:
        store = self.store
        seq = store.next_sender_seq
        raw = self._encode(msg_type, seq, body, route=route)
        store.save_outbound(seq, raw)
        return seq, raw

    def _send_admin(self, msg_type: str, body: list[tuple[int, str]], route: Route | tuple[()] = ()) -> int:
        seq, raw = self._encode_and_store(msg_type, body, route)
        self.write(raw)
        return seq

    def _refuse_logon(self, refused: LogonRefused) -> None:
        """Logout without touching the session's store (the logon was never accepted)."""
        log.info("FIX %s: logon refused: %s", self._instance_id, clip(str(refused), 300))
        if refused.text is not None and self._key is not None:
            seq = self._ctx.registry.peek_next_sender(self._key)
            self.write(self._encode("5", seq, [(tags.TEXT, refused.text)]))
        self._close(f"logon refused: {refused}", graceful=False)

    # ---- input ----------------------------------------------------------

    async def _on_frame(self, frame: Frame) -> None:
        msg: Msg | None = None
        error = frame.error
        if error is None:
            try:
                msg = decode(frame.raw)
            except DecodeError as exc:
                error = str(exc)
        if msg is not None and (len(msg.pairs) < 3 or msg.pairs[2][0] != tags.MSG_TYPE):
            error = "MsgType (35) is not the third field"
        if error is not None or msg is None:
            if self.state is State.AWAIT_LOGON:
                self._close(f"garbled first message: {error}", graceful=False)
            else:
                self._log_garbled(error or "", frame.raw)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("FIX %s in: %s", self._instance_id, msg.to_string())
        self._last_recv = self._loop.time()
        self._test_requests = 0
        if self.state is State.AWAIT_LOGON:
            try:
                await self._on_logon(msg)
            except LogonRefused as refused:
                self._refuse_logon(refused)
            return
        await self._on_session_message(msg)

    def _log_garbled(self, error: str, raw: bytes) -> None:
        """A frame up to 64 KB from anyone: clipped, and rate-limited across connections."""
        held = GARBLED_LOG.take()
        if held is None:
            return
        more = f" ({held} more garbled messages not logged)" if held else ""
        log.warning("FIX %s: garbled message dropped (%d bytes): %s: %s%s", self._instance_id, len(raw),
                    clip(error), clip(raw[:_LOG_CLIP + 1]), more)

    async def _on_session_message(self, msg: Msg) -> None:
        key = self.key
        if msg.get(tags.BEGIN_STRING) != key.begin_string:
            self._send_admin("5", [(tags.TEXT, "Incorrect BeginString")])
            self._close("incorrect BeginString", graceful=False)
            return
        mt = msg.msg_type
        # SequenceReset-Reset: the receiver ignores MsgSeqNum (even 0) and moves to NewSeqNo
        hard_reset = mt == "4" and msg.get(tags.GAP_FILL_FLAG) != "Y"
        seq = parse_seq_num(msg.get(tags.MSG_SEQ_NUM), allow_zero=hard_reset)
        if seq is None:
            self._send_admin("5", [(tags.TEXT, "Received message without MsgSeqNum")])
            self._close("message without valid MsgSeqNum", graceful=False)
            return
        if not self._comp_ids_ok(msg, seq):
            return
        expected = self.store.next_target_seq
        resets = hard_reset or (mt == "A" and msg.get(tags.RESET_SEQ_NUM_FLAG) == "Y")
        if resets:
            await self._process(msg, seq)  # SequenceReset-Reset / Logon 141=Y ignore MsgSeqNum
            await self._drain_queue()
            return
        if mt == "5" and seq != expected and not (seq < expected and msg.poss_dup):
            self._on_logout(msg)  # a Logout is honoured whatever its MsgSeqNum
            return
        if seq < expected:
            self._on_too_low(msg, seq, expected)
            return
        if seq > expected:
            served = mt == "2" and self._problem(msg) is None
            if served:
                self._serve_resend(msg)
            self._on_too_high(msg, seq, expected, processed=served)
            return
        await self._process(msg, seq)
        if self._queue or self._resend_until is not None:
            await self._drain_queue()

    def _comp_ids_ok(self, msg: Msg, seq: int) -> bool:
        sender, target = msg.get(tags.SENDER_COMP_ID), msg.get(tags.TARGET_COMP_ID)
        for tag, value in ((tags.SENDER_COMP_ID, sender), (tags.TARGET_COMP_ID, target)):
            if value is None:
                self._reject(msg, seq, Problem(RejectReason.REQUIRED_TAG_MISSING, tag,
                                               f"Missing mandatory field: {tags.tag_label(tag)}"))
                return False
        if sender == "" or target == "":
            return True  # a tag without a value: Reject 373=4 by validation, the session goes on
        if sender != self.key.target_comp_id or target != self.key.sender_comp_id:
            self.send_reject(msg, RejectReason.COMPID_PROBLEM, tags.SENDER_COMP_ID
                             if sender != self.key.target_comp_id else tags.TARGET_COMP_ID,
                             "CompID problem")
            self._send_admin("5", [(tags.TEXT, "CompID problem")])
            self._close("CompID problem", graceful=False)
            return False
        return True

    def _on_too_low(self, msg: Msg, seq: int, expected: int) -> None:
        if msg.poss_dup:
            # a duplicate we already processed: only its header is checked (missing
            # OrigSendingTime: 373=1; OrigSendingTime after SendingTime: 373=10 and Logout)
            problem = check_header(msg, self._ctx.clock.now_ns(), self._profile.max_latency_s)
            if problem is not None:
                self._reject(msg, seq, problem)
            return
        text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
        self._send_admin("5", [(tags.TEXT, text)])
        self._close(text, graceful=False)

    def _on_too_high(self, msg: Msg, seq: int, expected: int, *, processed: bool) -> None:
        if len(self._queue) >= self._profile.max_queued_messages:
            self._send_admin("5", [(tags.TEXT, "Too many messages queued behind a gap")])
            self._close("queue overflow", graceful=False)
            return
        self._queue.setdefault(seq, (msg, processed))
        if self._resend_until is None:
            self._request_resend(expected)
        self._resend_until = max(self._resend_until or 0, seq)

    def _request_resend(self, begin: int) -> None:
        self._send_admin("2", [(tags.BEGIN_SEQ_NO, str(begin)), (tags.END_SEQ_NO, "0")])

    async def _drain_queue(self) -> None:
        while self._queue and self.state is not State.CLOSED:
            expected = self.store.next_target_seq
            for stale in [s for s in self._queue if s < expected]:
                del self._queue[stale]
            item = self._queue.pop(expected, None)
            if item is None:
                break
            msg, processed = item
            if processed:
                self.store.set_next_target_seq(expected + 1)
            else:
                await self._process(msg, expected)
        if self._resend_until is not None and self.store.next_target_seq > self._resend_until:
            self._resend_until = None

    def _problem(self, msg: Msg) -> Problem | None:
        return (
            check_fields(msg, self._profile.limits)
            or check_header(msg, self._ctx.clock.now_ns(), self._profile.max_latency_s)
            or check_msg_type(msg)
            or check_dictionary(msg)
            or check_admin(msg)
        )

    def _reject(self, msg: Msg, seq: int, problem: Problem) -> None:
        """Reject; the MsgSeqNum is consumed when it was the expected one (as QuickFIX)."""
        self.send_reject(msg, problem.reason, problem.tag, problem.text)
        mt = msg.msg_type
        if mt != "4" and seq == self.store.next_target_seq:
            self.store.set_next_target_seq(seq + 1)
        if problem.logout:
            self._send_admin("5", [(tags.TEXT, problem.text)])
            self._close(problem.text, graceful=False)

    async def _process(self, msg: Msg, seq: int) -> None:
        """Handle a message whose MsgSeqNum is the expected one (or a SequenceReset-Reset)."""
        problem = self._problem(msg)
        if problem is not None:
            self._reject(msg, seq, problem)
            return
        mt = msg.msg_type
        if mt == "4":
            self._on_sequence_reset(msg)
            return
        self.store.set_next_target_seq(seq + 1)
        if mt == "0":
            return
        if mt == "1":
            self._send_admin("0", [(tags.TEST_REQ_ID, msg.get(tags.TEST_REQ_ID) or "")], reply_route(msg))
        elif mt == "2":
            self._serve_resend(msg)
        elif mt == "3":
            log.info("FIX %s: client rejected our message: %s", self._instance_id, clip(msg.to_string(), 500))
        elif mt == "5":
            self._on_logout(msg)
        elif mt == "A":
            self._on_logon_in_session(msg, seq)
        else:
            await self._deliver_to_app(msg)

    async def _deliver_to_app(self, msg: Msg) -> None:
        """The application's replies to `msg` (what it sends from this task while handling
        it) carry the request's routing fields reversed, as QuickFIX's reverseRoute."""
        route = reply_route(msg)
        self._replying = (asyncio.current_task(), route) if route else None
        try:
            handled = self._ctx.application.on_message(self, msg)
            if inspect.isawaitable(handled):  # a coroutine only when the application needs one
                await handled
        except Exception:
            log.exception("FIX %s: application failed on %s", self._instance_id, clip(msg.to_string(), 500))
            self.send_business_reject(msg, tags.BusinessRejectReason.OTHER, "Internal error")
        finally:
            self._replying = None

    def _on_sequence_reset(self, msg: Msg) -> None:
        new_seq = int(msg.get(tags.NEW_SEQ_NO) or 0)
        expected = self.store.next_target_seq
        if new_seq < expected:
            self.send_reject(msg, RejectReason.VALUE_INCORRECT, tags.NEW_SEQ_NO,
                             f"NewSeqNo too low, expecting {expected} but received {new_seq}")
            return
        self.store.set_next_target_seq(new_seq)

    def _on_logout(self, msg: Msg) -> None:
        if self.state is State.LOGOUT_SENT:
            self._close(self.disconnect_reason or "logout handshake complete", graceful=True)
            return
        self._send_admin("5", [])
        self._close(f"client logout: {msg.get(tags.TEXT) or ''}".rstrip(": "), graceful=True)

    def _on_logon_in_session(self, msg: Msg, seq: int) -> None:
        """Logon with 141=Y mid-session resets both sides to 1 (FIX 4.4); else reject."""
        if msg.get(tags.RESET_SEQ_NUM_FLAG) != "Y":
            self.send_reject(msg, RejectReason.OTHER, None, "Session already logged on")
            return
        self.store.reset()
        self._queue.clear()
        self._resend_until = None
        self._send_logon_reply(reset=True)
        self.store.set_next_target_seq(seq + 1)

    def _serve_resend(self, msg: Msg) -> None:
        """Replay application messages with PossDup; gap-fill admin and unknown ones."""
        last = self.store.next_sender_seq - 1
        bounds = resend_range(int(msg.get(tags.BEGIN_SEQ_NO) or 1), int(msg.get(tags.END_SEQ_NO) or 0), last)
        if bounds is None:
            log.info("FIX %s: ResendRequest beyond last sent %s: %s", self._instance_id, last,
                     clip(msg.to_string(), 300))
            return
        stored = dict(self.store.get_range(*bounds))
        for item in plan_resend(stored, *bounds):
            if isinstance(item, GapFill):
                self._send_gap_fill(item.seq, item.new_seq)
                continue
            original = item.msg
            orig_time = original.get(tags.SENDING_TIME) or fix_timestamp(self._ctx.clock.now_ns())
            self.write(self._encode(original.msg_type or "", item.seq, original.body(),
                                    orig_sending_time=orig_time, route=kept_route(original)))

    def _send_gap_fill(self, seq: int, new_seq: int) -> None:
        now = fix_timestamp(self._ctx.clock.now_ns())
        body = [(tags.GAP_FILL_FLAG, "Y"), (tags.NEW_SEQ_NO, str(new_seq))]
        self.write(self._encode("4", seq, body, orig_sending_time=now))

    # ---- logon ----------------------------------------------------------

    async def _on_logon(self, msg: Msg) -> None:
        """First message: identify, validate, authenticate, sequence, reply."""
        ctx = self._ctx
        profile = self._profile = self._profile_for(msg)
        key, service, seq = logon.identify(msg, profile)
        if not ctx.registry.claim(key, self):
            raise LogonRefused(f"session {key} already logged on")
        self._key, self._service, self._claimed = key, service, True
        now_ns = ctx.clock.now_ns()
        heartbeat = logon.validate(msg, profile, now_ns)
        api_key = await logon.check_signature(msg, service, key, ctx.application, ctx.nonces, ctx.clock.now_ms())
        info = LogonInfo(self._instance_id, key, key.target_comp_id, service, api_key, self.peer, msg)
        result = await logon.authenticate(ctx.application, info)
        if ctx.registry.holder(key) is not self or self.state is not State.AWAIT_LOGON:
            raise LogonRefused("connection lost during logon")
        self._account_id = result.account_id
        self._accept_logon(msg, seq, heartbeat, session_day(now_ns, profile.daily_reset_utc))
        self._app_notified = True
        try:
            await resolve(ctx.application.on_logon(self))
        except Exception:
            log.exception("FIX %s: on_logon failed", self._instance_id)
        await self._drain_queue()

    def _profile_for(self, msg: Msg) -> FixProfile:
        """The profile this connection runs under, chosen from its Logon."""
        select = self._ctx.select_profile
        if select is None:
            return self._ctx.profile
        try:
            chosen = select(msg)
        except Exception:
            log.exception("FIX %s: profile selection failed", self._instance_id)
            raise LogonRefused("profile selection failed", "Logon failed: internal error") from None
        return chosen or self._ctx.profile

    def _accept_logon(self, msg: Msg, seq: int, heartbeat: int, day: int) -> None:
        store = self._store = self._ctx.registry.store(self.key)
        if store.session_day != day:
            store.reset(day)
        reset_requested = msg.get(tags.RESET_SEQ_NUM_FLAG) == "Y"
        if reset_requested or self._profile.reset_on_logon:
            store.reset(day)
        expected = store.next_target_seq
        if seq < expected and not reset_requested:
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            self._send_admin("5", [(tags.TEXT, text)])
            raise LogonRefused(text)
        self._logon = msg
        self._cod = msg.get(tags.CANCEL_ORDERS_ON_DISCONNECT, "0") == "0"
        self.heartbeat_s = heartbeat
        self.state = State.ACTIVE
        self._send_logon_reply(reset=reset_requested)
        log.info("FIX %s: %s logged on (account %s, seq in %s out %s)", self._instance_id,
                 self.key, self._account_id, seq, store.next_sender_seq - 1)
        if reset_requested or seq == expected:
            store.set_next_target_seq(seq + 1)
        else:
            self._on_too_high(msg, seq, expected, processed=True)

    def _send_logon_reply(self, *, reset: bool) -> None:
        body = [(tags.ENCRYPT_METHOD, "0"), (tags.HEART_BT_INT, str(self.heartbeat_s))]
        if reset:
            body.append((tags.RESET_SEQ_NUM_FLAG, "Y"))
        self._send_admin("A", body)
