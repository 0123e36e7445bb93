"""Fan-out yields to order entry (issue 15 item 12): the writers of 1000
subscribers are not all woken in one loop turn, and the pump defers to other
ready work (a request being read) before it wakes the next batch."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from simulator.gateways.ws_common import WAKE_BATCH, LoopBound


class _Hub(LoopBound):
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()


def test_pump_wakes_a_few_writers_per_turn_and_defers_to_ready_work() -> None:
    async def run() -> None:
        hub = _Hub()
        conns = [SimpleNamespace(wake=asyncio.Event()) for _ in range(1000)]
        for c in conns:
            hub.wake(c)
        assert not any(c.wake.is_set() for c in conns)  # nothing is woken inside the feed call
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert sum(c.wake.is_set() for c in conns) <= WAKE_BATCH

        # while other work keeps the loop busy, the pump holds back
        before = sum(c.wake.is_set() for c in conns)
        busy = [0]

        def chain() -> None:  # an "order request" in several loop hops
            busy[0] += 1
            if busy[0] < 20:
                hub.loop.call_soon(chain)  # type: ignore[union-attr]

        hub.loop.call_soon(chain)  # type: ignore[union-attr]
        while busy[0] < 20:
            await asyncio.sleep(0)
        assert sum(c.wake.is_set() for c in conns) - before <= WAKE_BATCH

        for _ in range(2000):  # and once the loop is idle, every writer is woken
            if all(c.wake.is_set() for c in conns):
                break
            await asyncio.sleep(0.001)
        assert all(c.wake.is_set() for c in conns)

    asyncio.run(run())
