"""What the Spot v2 and Derivatives v1 WebSocket gateways share: a hub made once
per runtime (it outlives venue resets) and bound to the server's event loop,
waking a connection's writer from any thread, and closing a connection whose
bounded outbound queue may still hold replies."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from simulator.server.runtime import Runtime


class LoopBound(ABC):
    """A hub bound to the event loop its connections live on."""

    loop: asyncio.AbstractEventLoop | None
    loop_thread: int | None
    conns: Any  # the open connections (each has `drop`)
    _task: asyncio.Task[None] | None

    @abstractmethod
    def _background(self) -> Coroutine[Any, Any, None]:
        """The hub's periodic work, run on the server's loop."""

    def bind_loop(self) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.loop_thread = threading.get_ident()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._background())

    async def shutdown(self) -> None:
        """Server stop: every connection is told (1001) and the periodic work ends."""
        for c in list(self.conns):
            await c.drop(1001, "shutting down")
        if self._task is not None:
            self._task.cancel()

    @abstractmethod
    def on_entry(self, entry: Any) -> None:
        """One journal entry from the bus (runs inside the sequencer: enqueue only)."""

    @abstractmethod
    def on_reset(self) -> None:
        """The venue was reset: tell the live connections."""

    def wake(self, conn: Any) -> None:
        """Wake a writer from any thread (admin calls run engine commands in a worker thread)."""
        if threading.get_ident() == self.loop_thread:
            conn.wake.set()
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(conn.wake.set)

    def call_in_loop(self, fn: Any, *args: Any) -> None:
        if self.loop is None:
            return
        if threading.get_ident() == self.loop_thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)


H = TypeVar("H", bound=LoopBound)


def attach(rt: Runtime, hub: H) -> H:
    """A new hub follows the journal and hears of venue resets."""
    rt.bus.subscribe(hub.on_entry)
    rt.services.on_reset.append(hub.on_reset)
    return hub


class QueuedConnection:
    """Shutdown of a connection with a writer task draining `queue`."""

    closed: bool
    queue: Any
    ws: Any
    id: str
    hub: Any
    _writer: asyncio.Task[Any] | None

    async def _cleanup(self) -> None:
        self.closed = True
        self.hub.forget(self)
        self.hub.rt.connections.pop(self.id, None)
        if self._writer is not None:
            if self.queue and not self._writer.done():
                # let queued replies go out before the writer stops
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drain(), timeout=1.0)
            self._writer.cancel()

    async def _drain(self) -> None:
        while self.queue and self._writer is not None and not self._writer.done():
            await asyncio.sleep(0.005)

    async def _close(self, code: int, reason: str) -> None:
        self.closed = True
        with contextlib.suppress(Exception):  # already closed
            await self.ws.close(code, reason)
