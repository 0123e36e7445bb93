"""One client WebSocket: the read loop, the envelope, and its outbound side.

Replies, snapshots and private channels share one bounded FIFO per
connection; public feeds are read from their topics' logs at this
connection's cursors (conflated when it is behind).  The hub's pump writes
both (ws_common); the reader sends its own request's replies at once.  A
client that falls too far behind is disconnected (as a venue drops a
consumer it cannot serve) instead of slowing the engine or growing memory."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from simulator.gateways.jsonw import dumps
from simulator.gateways.ws_common import QueuedConnection

from .methods import METHOD_PERMISSIONS, TRADING_METHODS, Reply, Trading
from .parse import WsError, unsupported
from .render import ts_us
from .router import Router
from .subscriptions import PRIVATE_REFUSED, Ack, Subscriptions

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("kraken_sim.spot_ws")
ENVELOPE = frozenset({"method", "params", "req_id"})
PERMISSION_DENIED = "EGeneral:Permission denied"


def _now_text() -> str:
    return ts_us(time.time_ns())


class WsConnection(QueuedConnection):
    """A live spot WS connection (registered in rt.connections as protocol "ws")."""

    protocol = "ws"

    def __init__(self, hub: Hub, ws: WebSocket, kind: str) -> None:
        self.hub = hub
        self.ws = ws
        self.kind = kind  # public | auth | l3
        self.id = hub.rt.new_connection_id("ws")
        self.connection_id = hub.conn_ids.getrandbits(64)
        self.account_id: str | None = None
        self._init_output()
        self.subs: dict[tuple[Any, ...], Any] = {}
        self.closed = False
        self.last_recv = time.monotonic()
        self.last_send = self.last_recv
        self.router = Router(self)
        self.subscriptions = Subscriptions(self)
        self.tokens = hub.config.msg_burst
        self.tokens_at = self.last_recv
        self._current: tuple[str, int | None, str] = ("", None, "")  # method, req_id, time_in of the request in hand
        self.in_handle = False

    # --------------------------------------------------------------- output
    def send(self, text: str) -> None:
        """Queue a message (any thread); overflowing the queue drops the client."""
        if self.enqueue(text) and not self.reader_flushes():  # the reader flushes after its own request
            self.hub.wake(self)

    def reply(
        self,
        method: str,
        req_id: int | None,
        time_in: str,
        result: Any = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        d: dict[str, Any] = {"method": method, "success": error is None, "time_in": time_in, "time_out": _now_text()}
        if error is not None:
            d["error"] = error
        if result is not None:
            d["result"] = result
        if req_id is not None:
            d["req_id"] = req_id
        if extra:
            d.update(extra)
        self.send(dumps(dict(sorted(d.items()))))

    def send_acks(self, acks: list[Ack]) -> None:
        cur = self._current
        for a in acks:
            extra = dict(a.extra)
            method = extra.pop("method", cur[0])
            self.reply(method, cur[1], cur[2], a.result, a.error, extra)

    # ---------------------------------------------------------------- lifecycle
    async def serve(self) -> None:
        hub = self.hub
        await self.ws.accept()
        hub.bind_loop()
        hub.conns.add(self)
        hub.rt.connections[self.id] = self
        self.send(hub.status_message(self.connection_id))
        try:
            while not self.closed:
                msg = await self.ws.receive()
                t = msg["type"]
                if t == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    raw = msg.get("bytes") or b""
                    try:
                        text = raw.decode()
                    except UnicodeDecodeError:
                        text = ""
                self.last_recv = time.monotonic()
                self.in_handle = True
                try:
                    with hub.inflight:
                        await self.handle(text)
                except Exception:  # noqa: BLE001 - one bad request must not kill the session
                    log.exception("spot ws request failed")
                    method, req_id, time_in = self._current  # the reply keeps its request's id
                    self.reply(method or "unknown", req_id, time_in, error="EGeneral:Internal error")
                finally:
                    self.in_handle = False
                self.flush()
        except Exception:  # noqa: BLE001 - disconnects surface here in several shapes
            pass
        finally:
            await self._cleanup()

    async def drop(self, code: int = 1001, reason: str = "") -> None:
        """Close the connection from the venue side (admin fault, reset, idle)."""
        await self._close(code, reason)

    # ----------------------------------------------------------------- input
    def _rate_ok(self) -> bool:
        cfg = self.hub.config
        now = time.monotonic()
        self.tokens = min(cfg.msg_burst, self.tokens + (now - self.tokens_at) * cfg.msg_rate)
        self.tokens_at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    async def handle(self, text: str) -> None:
        time_in = _now_text()
        self._current = ("", None, time_in)
        cfg = self.hub.config
        if not self._rate_ok():
            self._plain_error("Exceeded msg rate", time_in)
            return
        if len(text) > cfg.max_frame:
            self._plain_error(cfg.malformed_text, time_in)
            return
        try:
            msg = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError):
            self._plain_error(cfg.malformed_text, time_in)
            return
        if type(msg) is not dict or type(msg.get("method")) is not str:
            self._plain_error(cfg.malformed_text, time_in)
            return
        method: str = msg["method"]
        req_id = msg.get("req_id")
        if req_id is not None and type(req_id) is not int:
            self.reply(method, None, time_in, error="Req_id field must be an integer")
            return
        self._current = (method, req_id, time_in)
        for k in msg:
            if k not in ENVELOPE:
                self.reply(method, req_id, time_in, error=unsupported(k, method).text)
                return
        params = msg.get("params")
        if method == "ping":
            if "params" in msg:
                self.reply("ping", req_id, time_in, error=unsupported("params", "ping").text)
                return
            d: dict[str, Any] = {"method": "pong"}
            if req_id is not None:
                d["req_id"] = req_id
            d["time_in"] = time_in
            d["time_out"] = _now_text()
            self.send(dumps(d))
            return
        if params is None:
            params = {}
        elif type(params) is not dict:
            self.reply(method, req_id, time_in, error="Params field must be an object")
            return
        if method in ("subscribe", "unsubscribe"):
            try:
                acks = self.subscriptions.handle(method, params)
            except WsError as exc:
                extra = dict(exc.extra)
                if method == "unsubscribe" and exc.text == "Subscription Not Found":
                    extra.setdefault("method", "subscribe")
                self.send_acks([Ack(error=exc.text, **extra)])
                return
            self.send_acks(acks)
            return
        if method not in TRADING_METHODS:
            self.reply(method, req_id, time_in, error="Unsupported event")
            return
        if self.kind != "auth":
            self.reply(method, req_id, time_in, error=PRIVATE_REFUSED)
            return
        token = params.get("token")
        if token is None:
            self.reply(method, req_id, time_in, error="Token(s) not found")
            return
        store = self.hub.rt.services.ws_tokens
        acct = store.account_for(token, self) if type(token) is str else None
        if acct is None:
            self.reply(method, req_id, time_in, error="EAPI:Invalid token")
            return
        self.account_id = acct
        perms = store.permissions_for(token) if store is not None else None
        if perms is not None and any(not (group & perms) for group in METHOD_PERMISSIONS.get(method, ())):
            self.reply(method, req_id, time_in, error=PERMISSION_DENIED)
            return
        try:
            job = Trading(self, acct, method, params).build()
        except WsError as exc:
            self.reply(method, req_id, time_in, error=exc.text)
            return

        def run() -> None:
            replies: list[Reply] = job()
            for result, error, extra in replies:
                self.reply(method, req_id, time_in, result, error, extra)

        if self.router.reordering():
            self.router.route(run)
            return
        lat = self.hub.rt.latency_s("ws")
        if lat:
            await asyncio.sleep(lat)
        run()

    def _plain_error(self, text: str, time_in: str) -> None:
        self.send(dumps({"error": text, "success": False, "time_in": time_in, "time_out": _now_text()}))
