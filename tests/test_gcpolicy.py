"""The server frees the history retention cuts (issue 15.11): it is garbage
in cycles (order <-> fills <-> ledger entries), and with a full collection
only every ~100 million allocations a day-long sidecar kept all of it.  The
server's `CutCollector` runs a full collection per batch of cut items."""

from __future__ import annotations

import gc
from decimal import Decimal as D

from simulator.core.commands import OrderRequest
from simulator.core.engine import EngineConfig
from simulator.core.orders import Order, Origin
from simulator.core.retention import RetentionPolicy
from simulator.core.venue import Venue, VenueConfig
from simulator.server.gcpolicy import SERVER_THRESHOLDS, CutCollector

T0 = 1_767_225_600_000_000_000
ROUNDS = 60_000  # each: three orders closed, two fills, four ledger entries; history lives long enough to age
KEEP = 4_000


def test_cut_history_is_collected_by_the_server() -> None:
    v = Venue(VenueConfig(seed=2, clock_mode="frozen", clock_start_ns=T0, rate_limits=False, journal_max=KEEP,
                          engine=EngineConfig(retention=RetentionPolicy(keep=KEEP, trades_keep=KEEP))))  # fmt: skip
    maker, taker = (v.create_account({"USD": D(10**9), "XBT": D(10**4)}).account.id for _ in range(2))
    seq = v.spot_seq

    def add(acct: str, side: str, price: str, tif: str = "GTC") -> Order:
        req = OrderRequest("XBTUSD", side, "limit", D("0.01"), D(price), tif=tif)
        return seq.submit("add_order", Origin("rest", "s", acct), {"account_id": acct, "req": req}).order  # type: ignore[no-any-return]

    saved = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*SERVER_THRESHOLDS)
    collector = CutCollector(min_interval_s=0)  # the server polls it every second
    collections = 0
    try:
        for i in range(ROUNDS):
            if i % 200 == 0:
                collections += collector.poll(sum(v.spot.retention.dropped.values()))
            v.clock.advance_ms(5)
            add(maker, "sell", "50000")
            add(taker, "buy", "50000", "IOC")
            o = add(taker, "buy", "40000")
            seq.submit("cancel_order", Origin("rest", "s", taker), {"account_id": taker, "order_id": o.id})
        held = sum(1 for x in gc.get_objects() if isinstance(x, Order))
    finally:
        gc.set_threshold(*saved)
    # retention keeps about 2 x KEEP closed orders (plus those the journal's events name); the rest is garbage in
    # cycles that only a full collection frees: with a full collection every ~100 million allocations two thirds
    # of all the orders ever made were still held (and growing), now at most a quarter of the heap waits for one
    kept = len(v.spot.orders)
    assert collections > 0
    assert held < ROUNDS, f"{held} orders held, {kept} retained, {ROUNDS * 3} made"
