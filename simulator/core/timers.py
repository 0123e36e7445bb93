"""Timer heaps hold what can still fire, not every timer ever set.

An engine's timers are a heap of (at_ns, seq, kind, ref), popped when due.
A timer whose reason went away -- a GTD order cancelled long before its
expiry, a dead man's switch re-armed or disarmed -- stays in the heap until
its time comes, which may be a day (or years) away: at 200 commands/s a
client that re-arms its switch or cancels GTD orders leaves millions of
entries behind.  So once the heap grows past a threshold the entries that
can no longer fire are dropped and the threshold becomes twice what is
left (amortised O(1) per timer set).

The threshold is engine state, saved with the timers: a replay from the
journal or from a snapshot compacts at exactly the same commands as the
run did, so the heap -- and with it every timer-driven `tick` the
sequencer journals -- is the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

Timer = tuple[int, int, str, str]  # (at_ns, seq, kind, ref)
COMPACT_FLOOR = 1024  # heaps this small are never compacted


def push(timers: list[Timer], timer: Timer, compact_at: int, live: Callable[[Timer], bool]) -> int:
    """Push `timer`; past `compact_at` entries, drop the ones `live` says can
    no longer fire (in place).  Returns the threshold for the next push."""
    heapq.heappush(timers, timer)
    if len(timers) <= compact_at:
        return compact_at
    timers[:] = [t for t in timers if live(t)]
    heapq.heapify(timers)
    return max(COMPACT_FLOOR, 2 * len(timers))
