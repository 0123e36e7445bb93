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


class DeadlineHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus the request deadline (see the module docstring)."""

    request_timeout: float = 10.0

    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()  # a request pipelined behind one in progress gets its own deadline

    def on_message_complete(self) -> None:
        self._disarm()  # the whole request is in; the app's time is not bounded here
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the socket now belongs to the WS protocol
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # waiting for the next request (a pipelined one is already in)


def deadline_protocol(request_timeout: float) -> type[DeadlineHttpProtocol]:
    """The protocol class for uvicorn's `http=` setting, with this deadline."""
    attrs: dict[str, Any] = {"request_timeout": request_timeout}
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), attrs)


__all__ = ["DeadlineHttpProtocol", "deadline_protocol"]
