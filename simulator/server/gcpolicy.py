"""Garbage-collector settings for a simulator process.

A venue keeps nearly everything it makes (orders, fills, ledger entries, the
journal), so CPython's default young-generation threshold (700 allocations)
makes the collector re-scan a growing heap of objects that will never be
garbage — measured at a third of the engine's time under load.  A server
process raises the threshold; cycles are still collected, only less often.
In-process users (the pytest plugin) keep their own settings."""

from __future__ import annotations

import gc

SERVER_THRESHOLDS = (50_000, 20, 100)


def tune_for_server() -> None:
    """Apply `SERVER_THRESHOLDS` (what `kraken-sim serve` runs with)."""
    gc.set_threshold(*SERVER_THRESHOLDS)
