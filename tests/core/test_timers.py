"""Timer heaps stay bounded (issue 15.11): a cancelled GTD order or a
re-armed dead man's switch leaves no timer behind for long, live timers
still fire at their time, and a replay (whole, or from saved state) drops
the same timers at the same commands."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from simulator.core.commands import OrderRequest
from simulator.core.orders import Origin
from simulator.core.sequencer import Journal
from simulator.core.timers import COMPACT_FLOOR
from simulator.core.venue import Venue, VenueConfig

from .conftest import T0

REST = Origin("rest", "s1")
SEC = 1_000_000_000
YEAR = 365 * 86_400 * SEC
ROUNDS = 3 * COMPACT_FLOOR  # well past the threshold: without compaction the heap holds them all
BOUND = 2 * COMPACT_FLOOR + 8


def _venue() -> tuple[Venue, str]:
    v = Venue(VenueConfig(seed=5, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
    a = v.create_account({"USD": D(10**7), "XBT": D(100)}).account.id
    return v, a


def _gtd(expire_ns: int) -> OrderRequest:
    return OrderRequest("XBTUSD", "buy", "limit", D("0.01"), D("1000"), tif="GTD", expire_ns=expire_ns)


def _add(v: Venue, a: str, req: OrderRequest) -> Any:
    return v.spot_seq.submit("add_order", REST, {"account_id": a, "req": req})


def test_cancelled_gtd_orders_leave_no_timers_behind() -> None:
    v, a = _venue()
    keeper = _add(v, a, _gtd(T0 + 3600 * SEC)).order  # expires in an hour: must still expire
    for _ in range(ROUNDS):
        v.clock.advance_ms(1)
        o = _add(v, a, _gtd(T0 + YEAR)).order  # a far expiry, cancelled at once
        v.spot_seq.submit("cancel_order", REST, {"account_id": a, "order_id": o.id})
    assert len(v.spot._timers) <= BOUND
    v.clock.set_ns(T0 + 3600 * SEC)
    v.spot_seq.poll_timers()
    assert keeper.status == "expired"


def test_a_re_armed_dead_mans_switch_keeps_one_timer() -> None:
    v, a = _venue()
    resting = _add(v, a, OrderRequest("XBTUSD", "buy", "limit", D("0.01"), D("1000"))).order
    for _ in range(ROUNDS):
        v.clock.advance_ms(1)
        v.spot_seq.submit("cancel_all_after", REST, {"account_id": a, "timeout": 86_399})
    assert len(v.spot._timers) <= BOUND
    last = v.spot.dead_man[a]
    v.clock.set_ns(last - 1)
    v.spot_seq.poll_timers()
    assert resting.is_open
    v.clock.set_ns(last)
    v.spot_seq.poll_timers()
    assert resting.status == "canceled"


def test_a_re_armed_derivatives_switch_keeps_one_timer() -> None:
    v, a = _venue()
    v.deposit_derivatives(a, "USD", D(100_000))
    fut = v.derivatives_seq
    req = {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": D("0.01"), "limitPrice": D("1000"),
           "reduceOnly": False}  # fmt: skip
    fut.submit("send_order", REST, {"account_id": a, "req": req})
    fa = v.derivatives.state[a]
    assert fa.open
    for _ in range(ROUNDS):
        v.clock.advance_ms(1)
        fut.submit("cancel_all_after", REST, {"account_id": a, "timeout": 86_399})
    assert len(v.derivatives._timers) <= BOUND
    v.clock.set_ns(fa.dms_at)
    fut.poll_timers()
    assert not fa.open


def _churn(v: Venue, a: str, rounds: int) -> None:
    """GTD orders placed and cancelled, short dead man's switches re-armed and
    left to fire: timers go stale, fire, and get compacted along the way."""
    for i in range(rounds):
        v.clock.advance_ms(7)
        o = _add(v, a, _gtd(T0 + YEAR + i)).order
        if i % 3:
            v.spot_seq.submit("cancel_order", REST, {"account_id": a, "order_id": o.id})
        v.spot_seq.submit("cancel_all_after", REST, {"account_id": a, "timeout": 1 + i % 5})
        v.spot_seq.poll_timers()


def test_replay_and_a_restore_drop_the_same_timers(tmp_path: Path) -> None:
    v, a = _venue()
    _churn(v, a, ROUNDS // 2)
    saved = json.loads(json.dumps(v.to_state()))
    mid_seq = v.journal.last_seq
    _churn(v, a, ROUNDS // 2)
    assert len(v.spot._timers) <= BOUND  # compacted along the way (a third of the GTD orders still live)
    path = tmp_path / "journal.jsonl"
    v.journal.write_jsonl(str(path))

    whole = Venue(v.config)
    whole.replay(Journal.read_commands(str(path)))
    assert whole.journal.last_seq == v.journal.last_seq
    assert whole.state_digest() == v.state_digest()

    restored = Venue(v.config)
    restored.from_state(saved)
    restored.replay(c for c in Journal.read_commands(str(path)) if c["seq"] > mid_seq)
    assert restored.journal.last_seq == v.journal.last_seq
    assert restored.state_digest() == v.state_digest()
