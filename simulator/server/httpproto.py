"""uvicorn's HTTP/1.1 protocol with a request deadline.

uvicorn closes a keep-alive connection that stays idle after a response
(`timeout_keep_alive`), but arms nothing before the first request, and stops
the idle timer at the first byte of the next one: a client that connects and
sends nothing, or half a request line or headers, or a declared body it never
finishes, holds a socket (and a descriptor) forever.  Here every request,
head and body, must arrive within `request_timeout` seconds of the connection
opening or of the previous response; otherwise the connection is closed.  A
WebSocket upgrade hands the socket to the WS protocol and drops the deadline."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .inflight import Inflight


class DeadlineHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus the request deadline (see the module docstring).

    One lazy timer per connection: a request only moves `_expires` (no timer
    is made or cancelled per request); when the timer fires it closes the
    connection if the deadline has passed, else sleeps until the new one."""

    request_timeout: float = 10.0
    inflight: Inflight = Inflight()  # replaced per server by `deadline_protocol`

    _expires: float | None = None  # None: no request is awaited (one is being served)
    _timer: asyncio.TimerHandle | None = None
    _requests = 0  # this connection's requests begun and not yet answered (pipelining: several)

    def _await_request(self) -> None:
        self._expires = self.loop.time() + self.request_timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self._expires, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._expires is None or self.transport.is_closing():
            return
        if self.loop.time() >= self._expires:
            self.transport.close()
        else:
            self._timer = self.loop.call_at(self._expires, self._check)

    def _stop(self) -> None:
        self._expires = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self.inflight.count -= self._requests  # an unanswered request ends with its connection
        self._requests = 0
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._requests += 1
        self.inflight.count += 1
        if self._expires is None:
            self._await_request()  # a request pipelined behind one in progress gets its own deadline

    def on_message_complete(self) -> None:
        self._expires = None  # the whole request is in; the app's time is not bounded here
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop()  # the socket now belongs to the WS protocol
        self.inflight.count -= self._requests
        self._requests = 0
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        if self._requests:
            self._requests -= 1
            self.inflight.count -= 1
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._await_request()  # waiting for the next request (a pipelined one is already in)


def deadline_protocol(request_timeout: float, inflight: Inflight) -> type[DeadlineHttpProtocol]:
    """The protocol class for uvicorn's `http=` setting, with this deadline,
    counting its requests in `inflight`."""
    attrs: dict[str, Any] = {"request_timeout": request_timeout, "inflight": inflight}
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), attrs)


__all__ = ["DeadlineHttpProtocol", "deadline_protocol"]
