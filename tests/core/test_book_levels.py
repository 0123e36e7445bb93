"""A price level holds what is live (issue 15.11): orders cancelled behind a
long-lived order at the same price leave the level's queue (before, each
stayed there -- with its fills and ledger entries -- for as long as the
level lived), and the queue order of the live ones is unchanged."""

from __future__ import annotations

from decimal import Decimal as D

from simulator.core.book import DEAD_SLACK
from simulator.core.commands import FuturesCancelRequest, FuturesOrderRequest, OrderRequest
from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig

from .conftest import T0

REST = Origin("rest", "s1")
ROUNDS = 2000


def _venue() -> tuple[Venue, str, str, str]:
    v = Venue(VenueConfig(seed=9, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
    a, b, c = (v.create_account({"USD": D(10**7), "XBT": D(100)}).account.id for _ in range(3))
    return v, a, b, c


def _sell(v: Venue, acct: str, price: str = "60000", qty: str = "0.01") -> str:
    req = OrderRequest("XBTUSD", "sell", "limit", D(qty), D(price))
    return str(v.spot_seq.submit("add_order", REST, {"account_id": acct, "req": req}).order.id)


def test_cancelled_orders_leave_a_level_that_stays() -> None:
    v, a, b, c = _venue()
    first = _sell(v, a)  # rests all along: the level never empties
    for _ in range(ROUNDS):
        oid = _sell(v, b)
        v.spot_seq.submit("cancel_order", REST, {"account_id": b, "order_id": oid})
    second = _sell(v, b)
    lvl = v.spot.books["XXBTZUSD"].asks.best()  # the only ask level
    assert lvl is not None and lvl.count == 2
    assert len(lvl.orders) <= 2 * lvl.count + DEAD_SLACK
    assert [o.id for o in lvl.live()] == [first, second]
    # price-time priority is what it was: the first order trades first
    buy = OrderRequest("XBTUSD", "buy", "limit", D("0.01"), D("60000"), tif="IOC")
    v.spot_seq.submit("add_order", REST, {"account_id": c, "req": buy})
    assert v.spot.orders[first].status == "closed" and v.spot.orders[second].is_open


def test_cancelled_derivatives_orders_leave_a_level_that_stays() -> None:
    v, a, b, c = _venue()
    for acct in (a, b, c):
        v.deposit_derivatives(acct, "USD", D(1_000_000))
    fut = v.derivatives_seq

    def sell(acct: str) -> str:
        req = FuturesOrderRequest("PF_XBTUSD", "sell", "lmt", D("0.01"), limit_price=D("60000"))
        return str(fut.submit("send_order", REST, {"account_id": acct, "req": req}).order_id)

    first = sell(a)
    for _ in range(ROUNDS):
        fut.submit("cancel_order", REST, {"account_id": b, "req": FuturesCancelRequest(sell(b))})
    second = sell(b)
    lvl = v.derivatives.books["PF_XBTUSD"].asks.best()  # the only ask level
    assert lvl is not None and lvl.count == 2
    assert len(lvl.orders) <= 2 * lvl.count + DEAD_SLACK
    assert [o.id for o in lvl.live()] == [first, second]
    buy = FuturesOrderRequest("PF_XBTUSD", "buy", "ioc", D("0.01"), limit_price=D("60000"))
    fut.submit("send_order", REST, {"account_id": c, "req": buy})
    assert [o.id for o in lvl.live()] == [second]
