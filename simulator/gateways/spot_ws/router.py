"""The load balancer in front of the engine (Kraken WS is non-sticky).

With `rt.faults.ws_reorder` off, a connection's engine-bound messages reach
the sequencer in the order they were read (after the optional protocol
latency).  With it on, each message takes one of `ws_paths` paths with a
seeded random latency drawn from `rt.rng`; a path is FIFO, different paths
race, so two back-to-back messages can be sequenced in the other order.
Messages read while an earlier one is still in flight count as sent at the
same instant, which keeps the outcome a function of the seed alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import WsConnection


class Router:
    __slots__ = ("conn", "in_flight", "sent_at", "path_free")

    def __init__(self, conn: WsConnection) -> None:
        self.conn = conn
        self.in_flight = 0
        self.sent_at = 0.0
        self.path_free: dict[int, float] = {}

    def reordering(self) -> bool:
        return bool(self.conn.hub.rt.faults.ws_reorder)

    def route(self, run: Callable[[], None]) -> None:
        """Schedule `run` (which submits to the engine and replies) at its arrival time."""
        rt = self.conn.hub.rt
        f = rt.faults
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.in_flight == 0:
            self.sent_at = now
        path = rt.rng.randrange(max(1, f.ws_paths))
        lo, hi = f.ws_latency_ms
        arrive = self.sent_at + rt.rng.uniform(lo, hi) / 1000.0
        arrive = max(arrive, self.path_free.get(path, 0.0))
        self.path_free[path] = arrive
        self.in_flight += 1

        def fire() -> None:
            self.in_flight -= 1
            if not self.conn.closed:
                run()

        loop.call_at(arrive, fire)
