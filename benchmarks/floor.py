"""The allocation floor of the engine benchmark's workload, beside pyorderbook.

    python -m benchmarks.floor [--ops 200000]

What the engine must leave behind per operation, with no matching,
validation or balance logic at all: a resting add keeps its order, its
`pending_new`/`new`/book events and a journal entry; a fill keeps a public
trade, one fill per side, four ledger entries (base and quote on each side),
a book event and one trade event per side.  Timing only those allocations,
weighted by the workload's mix, gives a lower bound for any CPython engine
that journals, settles and reports as ours does, to compare with the
engine-benchmark target (2x pyorderbook's ops/s, in the same run).
"""

from __future__ import annotations

import argparse
import gc
import timeit

from benchmarks import peers
from benchmarks.workload import _SimBook, generate
from simulator.core.accounts import LedgerEntry
from simulator.core.events import BookEvent, Fill, OrderEvent, TradeEvent
from simulator.core.ids import IdGenerator
from simulator.core.orders import Order, Origin
from simulator.core.sequencer import JournalEntry
from simulator.core.venue import Venue, VenueConfig
from simulator.server.gcpolicy import SERVER_THRESHOLDS


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    gc.set_threshold(*SERVER_THRESHOLDS)
    venue = Venue(VenueConfig(seed=1, clock_mode="frozen", clock_start_ns=1, rate_limits=False))
    pair = venue.spot.pair("XBTUSD")
    ids = IdGenerator(1)
    origin = Origin("bench", "", "a")
    kept: list[object] = []
    by_id: dict[str, Order] = {}
    maker = Order("OMAKER", "b", pair, "sell", "limit", 100)

    def resting_add() -> None:
        o = Order("", "a", pair, "buy", "limit", 100)
        o.id = ids.order_id()
        by_id[o.id] = o
        events = [OrderEvent("pending_new", o, 1), OrderEvent("new", o, 1), BookEvent(pair.id, "buy", 1, 1, o.id, 1, "add", 1)]
        kept.append(JournalEntry(1, 1, "spot", "add_order", origin, {"account_id": "a"}, events))

    def one_fill() -> None:
        t = TradeEvent(pair.id, 1, 1, 1, "buy", 1, maker.id, "OTAKER", "limit")
        f1 = Fill(ids.reserve(), 1, maker, 1, 1, 1, 0, False, 1, maker.id)
        f2 = Fill(ids.reserve(), 1, maker, 1, 1, 1, 0, True, 1, "OTAKER")
        ledger = [LedgerEntry(ids.reserve(), f1, 1, "trade", "", "XXBT", 1, 0, 1, "a") for _ in range(4)]
        kept.append((t, f1, f2, ledger, BookEvent(pair.id, "sell", 1, 1, maker.id, 1, "modify", 1),
                     OrderEvent("trade", maker, 1, f1), OrderEvent("trade", maker, 1, f2)))

    ops = generate(a.ops, 1)
    adds = sum(1 for op in ops if op[0] == "add")
    cancels = len(ops) - adds
    book = _SimBook()  # replay the ops to count their fills exactly
    fills = 0
    for op in ops:
        if op[0] == "add":
            fills += len(book.add(*op[1:]))
        else:
            book.cancel(op[1])
    best_pyob = best_floor = float("inf")
    for _ in range(a.repeat):
        secs, _n = peers.run_pyorderbook(ops)
        best_pyob = min(best_pyob, secs / len(ops))
        n = 100_000
        add_s = timeit.timeit(resting_add, number=n) / n
        fill_s = timeit.timeit(one_fill, number=n // 4) / (n // 4)
        # a cancel keeps a journal entry and two events: counted as half an add
        floor = (adds * add_s + fills * fill_s + cancels * 0.5 * add_s) / len(ops)
        best_floor = min(best_floor, floor)
        kept.clear()
        by_id.clear()
    budget = best_pyob / 2
    print(f"pyorderbook: {best_pyob * 1e6:.2f} us/op; the 2x target leaves {budget * 1e6:.2f} us/op")
    print(f"allocation floor (objects a journaling, settling engine keeps): {best_floor * 1e6:.2f} us/op "
          f"= {best_floor / budget:.2f}x the target's whole budget, before any logic")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
