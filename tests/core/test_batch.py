"""The batch-add command (`add_order_batch`): one journal entry, all-or-nothing
validation, per-order refusals in their slots, half-price rate charge, and a
replay that rebuilds the same state."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from simulator.core.commands import OrderRequest, decode_params
from simulator.core.errors import EngineError
from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig

from .conftest import T0, Desk

ORIGIN = Origin("rest", "s1")


def batch(desk: Desk, acct: str, reqs: list[OrderRequest], validate: bool = False) -> list[object]:
    out: list[object] = desk.seq.submit(
        "add_order_batch", Origin("rest", "s1", acct), {"account_id": acct, "reqs": reqs, "validate": validate}
    )
    return out


def buy(qty: str, price: str, **kw: object) -> OrderRequest:
    return OrderRequest("XBTUSD", "buy", "limit", D(qty), D(price), **kw)  # type: ignore[arg-type]


def test_one_entry_per_order_slots_and_replay(desk: Desk) -> None:
    acct = desk.account(ZUSD=1000)
    n = len(desk.venue.journal.entries)
    slots = batch(desk, acct, [buy("0.01", "10000"), buy("1", "10000"), buy("0.02", "10000", cl_ord_id="b1")])
    assert len(desk.venue.journal.entries) == n + 1  # the whole batch is one command
    assert isinstance(slots[1], EngineError) and slots[1].text == "EOrder:Insufficient funds"
    placed = [s.order.id for s in slots if not isinstance(s, EngineError)]  # type: ignore[attr-defined]
    assert sorted(placed) == sorted(desk.eng.open_orders[acct])
    assert all(o.batch for o in desk.eng.open_orders[acct].values())
    # the journal written out and read back rebuilds the same state
    lines = [json.loads(json.dumps(e.to_json(with_events=False))) for e in desk.venue.journal.entries]
    for c in lines:
        c["params"] = decode_params(c["params"])
    fresh = Venue(VenueConfig(seed=7, clock_mode="frozen", clock_start_ns=T0))
    fresh.replay(lines)
    assert fresh.state_digest() == desk.venue.state_digest()


def test_parameter_error_refuses_whole_batch(desk: Desk) -> None:
    acct = desk.account(ZUSD=100000)
    before = desk.venue.state_digest()
    with pytest.raises(EngineError, match="EOrder:Invalid price"):
        batch(desk, acct, [buy("0.01", "10000"), buy("0.01", "10000.05")])
    assert desk.venue.state_digest() == before and not desk.eng.open_orders.get(acct)


@pytest.mark.parametrize("reqs", [[buy("0.01", "10000")], [buy("0.01", "10000")] * 16])
def test_batch_size_is_two_to_fifteen(desk: Desk, reqs: list[OrderRequest]) -> None:
    acct = desk.account(ZUSD=100000)
    with pytest.raises(EngineError, match="EGeneral:Invalid arguments:orders"):
        batch(desk, acct, reqs)


def test_one_pair_per_batch(desk: Desk) -> None:
    acct = desk.account(ZUSD=100000)
    other = OrderRequest("ETHUSD", "buy", "limit", D("0.1"), D("100"))
    with pytest.raises(EngineError, match="EGeneral:Invalid arguments:orders"):
        batch(desk, acct, [buy("0.01", "10000"), other])


def test_validate_places_nothing(desk: Desk) -> None:
    acct = desk.account(ZUSD=100000)
    slots = batch(desk, acct, [buy("0.01", "10000"), buy("0.02", "10000")], validate=True)
    assert [s.order for s in slots] == [None, None]  # type: ignore[attr-defined]
    assert not desk.eng.open_orders.get(acct)
