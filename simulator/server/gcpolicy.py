"""Garbage-collector settings for a simulator process.

A venue keeps nearly everything it makes (orders, fills, ledger entries, the
journal), so CPython's default young-generation threshold (700 allocations)
makes the collector re-scan a growing heap of objects that will never be
garbage — measured at a third of the engine's time under load.  A server
process raises the threshold; cycles are still collected, only less often.
In-process users (the pytest plugin) keep their own settings.

History that retention cuts is garbage in cycles (an order and its fills,
a fill and its ledger entries), which only a full collection frees, and with
the third threshold at 100 a full collection waits ~100 million allocations
(about a day at 200 commands/s: the cut history piled up at ~150 MiB/h).
Lowering the thresholds makes every growing heap pay for full collections
(the engine benchmark lost a fifth of its throughput), so instead a full
collection follows the garbage: `CutCollector` runs one once retention has
cut `CUT_BATCH` more history items since the last (at most every
`MIN_INTERVAL_S`).  A venue that cuts nothing never pays for it."""

from __future__ import annotations

import gc
import time

SERVER_THRESHOLDS = (50_000, 20, 100)
CUT_BATCH = 20_000  # history items cut between two full collections
MIN_INTERVAL_S = 10.0


def tune_for_server() -> None:
    """Apply `SERVER_THRESHOLDS` (what `kraken-sim serve` runs with)."""
    gc.set_threshold(*SERVER_THRESHOLDS)


class CutCollector:
    """A full collection per `CUT_BATCH` history items retention has cut."""

    def __init__(self, batch: int = CUT_BATCH, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.batch = batch
        self.min_interval_s = min_interval_s
        self.seen = 0
        self.last = float("-inf")

    def poll(self, cut_total: int) -> bool:
        """`cut_total`: items cut so far (it may restart lower after a reset).
        Collects when due; True when it did."""
        if cut_total < self.seen:
            self.seen = cut_total
        now = time.monotonic()
        if cut_total - self.seen < self.batch or now - self.last < self.min_interval_s:
            return False
        self.seen, self.last = cut_total, now
        gc.collect()
        return True
