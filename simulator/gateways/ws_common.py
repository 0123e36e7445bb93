"""What the Spot v2 and Derivatives v1 WebSocket gateways share: a hub made once
per runtime (it outlives venue resets) and bound to the server's event loop,
waking a connection's writer from any thread, and closing a connection whose
bounded outbound queue may still hold replies.

Fan-out yields to order entry: a feed update queues its text on every
subscriber at once (cheap), but the writers that put it on the wire are woken
by one pump per hub, a few at a time, and only when nothing else is waiting
on the event loop.  Each send is a syscall; 1000 of them in one loop turn
would hold an order request that arrived meanwhile for the whole turn.
Per-connection order is untouched: each connection still has one FIFO queue
and one writer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from simulator.server.runtime import Runtime

WAKE_BATCH = 1  # writers woken per loop turn by the pump
WRITER_BATCH = 2  # messages a woken writer sends before it queues up behind the others again
YIELD_CAP = 64  # loop turns the pump defers to other work before it wakes a batch anyway (progress)


class LoopBound:
    """A hub bound to the event loop its connections live on."""

    loop: asyncio.AbstractEventLoop | None
    loop_thread: int | None
    conns: Any  # the open connections (each has `drop`)
    _task: asyncio.Task[None] | None

    def _background(self) -> Coroutine[Any, Any, None]:
        """The hub's periodic work, run on the server's loop."""
        raise NotImplementedError

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

    def on_entry(self, entry: Any) -> None:
        raise NotImplementedError

    def on_reset(self) -> None:
        raise NotImplementedError

    _due: deque[Any] | None = None
    _pump: asyncio.Task[None] | None = None

    def wake(self, conn: Any) -> None:
        """Have `conn`'s writer woken by the pump, from any thread (admin calls run
        engine commands in a worker thread)."""
        if threading.get_ident() == self.loop_thread:
            self._schedule(conn)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self._schedule, conn)

    def _schedule(self, conn: Any) -> None:
        if self._due is None:
            self._due = deque()
        self._due.append(conn)
        loop = asyncio.get_running_loop()
        if self._pump is None or self._pump.done() or self._pump.get_loop() is not loop:
            self._pump = loop.create_task(self._run_pump(self._due))

    async def _run_pump(self, due: deque[Any]) -> None:
        """Wake the due writers WAKE_BATCH per loop turn, each turn only once the
        loop has nothing else ready (a request read, a reply to write)."""
        ready = getattr(asyncio.get_running_loop(), "_ready", None)  # the default loop's run queue
        while due:
            await asyncio.sleep(0)
            waited = 0
            while ready and waited < YIELD_CAP:
                await asyncio.sleep(0)
                waited += 1
            for _ in range(min(WAKE_BATCH, len(due))):
                due.popleft().wake.set()

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
