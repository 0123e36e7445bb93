"""Order events carry the order's state at the moment they happened."""

from __future__ import annotations

from simulator.core.events import OrderEvent

from .conftest import Desk


def _order_events(desk: Desk, order_id: str) -> list[OrderEvent]:
    evs = desk.venue.journal.entries[-1].events
    return [e for e in evs if isinstance(e, OrderEvent) and e.order.id == order_id]


def test_two_fills_carry_running_totals_and_status(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "0.1", "50000.0")
    desk.add(m, "sell", "0.3", "50010.0")
    o = desk.add(t, "buy", "0.4", "50010.0").order
    evs = _order_events(desk, o.id)
    assert [e.type for e in evs] == ["pending_new", "new", "trade", "trade", "filled"]
    facts = [(e.status, e.qty, e.filled, e.last_qty, e.last_price) for e in evs]
    assert facts == [
        ("pending", 40_000_000, 0, 0, 0),
        ("open", 40_000_000, 0, 0, 0),
        ("open", 40_000_000, 10_000_000, 10_000_000, 500_000),
        ("open", 40_000_000, 40_000_000, 30_000_000, 500_100),
        ("closed", 40_000_000, 40_000_000, 0, 0),
    ]
    first, second = evs[2], evs[3]
    assert first.cost == first.fill.cost and second.cost == o.cost == first.cost + second.fill.cost
    assert first.fee == first.fill.fee and second.fee == o.fee
    assert first.avg_price_units() == 500_000 and second.avg_price_units() == o.avg_price_units() == 500_075
    assert evs[0].to_json()["filled"] == 0 and evs[-1].to_json()["status"] == "closed"


def test_trigger_is_seen_from_its_event_on(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "0.1", "50000.0")
    desk.add(t, "buy", "0.05", "50000.0")  # last trade 50000
    desk.add(m, "sell", "0.2", "50100.0")
    o = desk.add(t, "buy", "0.1", "49000.0", otype="stop-loss").order  # buy stop under the last: fires at once
    evs = _order_events(desk, o.id)
    assert [e.type for e in evs][:3] == ["pending_new", "new", "triggered"]
    assert [e.triggered for e in evs] == [False, False] + [True] * (len(evs) - 2)
    assert o.triggered and o.status == "closed"


def test_quote_sized_buy_events_carry_the_final_quantity(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "0.01", "50000.0")
    desk.add(m, "sell", "0.01", "50010.0")
    o = desk.add(t, "buy", "700", None, viqc=True).order
    evs = _order_events(desk, o.id)
    assert [e.type for e in evs] == ["pending_new", "new", "trade", "trade", "filled"]
    assert o.qty == o.filled > 1_000_000  # took the first ask whole, part of the second
    assert [e.qty for e in evs] == [o.qty] * 5
    assert [e.filled for e in evs] == [0, 0, 1_000_000, o.filled, o.filled]
