"""Garbage-collector settings for a simulator process.

A venue keeps nearly everything it makes (orders, fills, ledger entries, the
journal), so CPython's default young-generation threshold (700 allocations)
makes the collector re-scan a growing heap of objects that will never be
garbage — measured at a third of the engine's time under load.  A server
process raises the threshold; cycles are still collected, only less often.
In-process users (the pytest plugin) keep their own settings.

History that retention cuts is garbage in cycles (an order and its fills,
a fill and its ledger entries), which only a full collection frees.  With
the third threshold at 100 a full collection waited for 100 middle ones
(about 100 million allocations): a day at 200 commands/s, so the cut history
piled up at ~150 MiB/h.  With 2 and 1, CPython's own rule decides: a full
collection once the objects promoted since the last one reach a quarter of
the long-lived heap -- amortised, and the garbage stays a fraction of what
is kept."""

from __future__ import annotations

import gc

SERVER_THRESHOLDS = (50_000, 2, 1)


def tune_for_server() -> None:
    """Apply `SERVER_THRESHOLDS` (what `kraken-sim serve` runs with)."""
    gc.set_threshold(*SERVER_THRESHOLDS)
