"""Retention bounds what a retained closed order holds (issue 15.11): a
resting order filled piece by piece kept every one of its fills in its
`trades` (and each fill its ledger entries) after the account's fills list
had cut them, so the fills bound bounded nothing.  The cut fills now leave
their order too; a replay cuts at the same places (the same digest)."""

from __future__ import annotations

import gc
from decimal import Decimal as D

from simulator.core.commands import OrderRequest
from simulator.core.engine import EngineConfig
from simulator.core.events import Fill
from simulator.core.orders import Origin
from simulator.core.retention import RetentionPolicy
from simulator.core.venue import Venue, VenueConfig

T0 = 1_767_225_600_000_000_000
KEEP = 200


def _venue(journal_max: int | None = None) -> Venue:
    return Venue(VenueConfig(seed=4, clock_mode="frozen", clock_start_ns=T0, rate_limits=False, journal_max=journal_max,
                             engine=EngineConfig(retention=RetentionPolicy(keep=KEEP, trades_keep=KEEP))))  # fmt: skip


def _run(journal_max: int | None = 50) -> tuple[Venue, str]:
    v = _venue(journal_max)
    maker, taker = (v.create_account({"USD": D(10**7), "XBT": D(10**3)}).account.id for _ in range(2))
    seq = v.spot_seq

    def add(acct: str, side: str, qty: str, tif: str = "GTC") -> str:
        req = OrderRequest("XBTUSD", side, "limit", D(qty), D("50000"), tif=tif)
        return seq.submit("add_order", Origin("rest", "s", acct), {"account_id": acct, "req": req}).order.id  # type: ignore[no-any-return]

    big = add(maker, "sell", "100")  # rests, filled 0.01 at a time
    for _ in range(2000):
        v.clock.advance_ms(3)
        add(taker, "buy", "0.01", "IOC")
    return v, big


def test_a_retained_order_holds_only_its_retained_fills() -> None:
    v, big = _run()
    o = v.spot.orders[big]
    assert o.filled and len(o.trades) <= KEEP + (KEEP >> 3)
    assert all(f in v.spot.fills[o.account_id] for f in o.trades)
    gc.collect()
    held = sum(1 for x in gc.get_objects() if isinstance(x, Fill))
    assert held < 6 * KEEP, held  # both accounts' lists (and the journal's few events), not 4000 fills


def test_the_cut_replays_to_the_same_state() -> None:
    v, big = _run(journal_max=None)
    again = _venue()
    again.replay([{**e.to_json(with_events=False), "params": e.params} for e in v.journal.entries])
    assert again.state_digest() == v.state_digest()
    assert [f.id for f in again.spot.orders[big].trades] == [f.id for f in v.spot.orders[big].trades]
