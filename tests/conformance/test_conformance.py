"""One venue, one copy of each rule: the same order request, good or bad, gets the
same outcome on every protocol (Spot REST, Spot WS v2, FIX; Futures REST, Futures
WS, FIX for derivatives), each in its own dialect.

Accepted: an order exists in the venue.  Refused: the protocol's own words, the
state digest unchanged, and, for a rule checked before the engine runs (numbers,
unknown pair, expired deadline, client order id, userref), nothing journaled at
all.  Refusals only the engine can decide (the pair's lot precision, a post-only
order that would cross) are journaled as refusals, with no state change (the
derivatives engine records the rejected post-only order, as Kraken Futures does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from simulator.pytest_plugin import KrakenVenue, start_venue
from tests.prove.kit import fund, snapshot

from .drivers import DRIVERS, Driver, Order, best_ask

QTY = {"spot-rest": "volume", "spot-ws": "order_qty"}
PRICE = {"spot-rest": "price", "spot-ws": "limit_price"}


def bad_number(tag: int, fix_reason: int, field: dict[str, str], ws_type: str | None = None,
               futures: str = "error:invalidArgument") -> dict[str, str]:
    """A value that breaks a number rule: refused at every protocol's edge."""
    return {
        "spot-rest": f"EGeneral:Invalid arguments:{field['spot-rest']}",
        "spot-ws": ws_type or f"EGeneral:Invalid arguments:{field['spot-ws']}",
        "spot-fix": f"3:{tag}:{fix_reason}",
        "futures-rest": futures,
        "futures-ws": futures,
        "derivatives-fix": f"3:{tag}:{fix_reason}",
    }


def refused(spot: str, futures: str, futures_reply: str = "status") -> dict[str, str]:
    """A rule decided past the protocol edge: Kraken's string on Spot REST and WS, a
    BusinessMessageReject on FIX, and on Futures REST (WS enters through it) a
    sendStatus (`futures_reply="error"`: an error envelope)."""
    return {
        "spot-rest": spot,
        "spot-ws": spot,
        "spot-fix": f"j:{spot}",
        "futures-rest": f"{futures_reply}:{futures}",
        "futures-ws": f"{futures_reply}:{futures}",
        "derivatives-fix": f"j:{futures}",
    }


ALL = frozenset(cls.name for cls in DRIVERS)
DERIVATIVES = frozenset({"futures-rest", "futures-ws", "derivatives-fix"})


@dataclass(frozen=True)
class Case:
    id: str
    order: Order
    expect: dict[str, str | None] | None  # None: accepted everywhere; a driver's None: the protocol has no such field
    journaled: frozenset[str] = frozenset()  # drivers whose engine refuses it (recorded); others: nothing journaled


CASES = [
    Case("good", Order(), None),
    Case("qty 1e999999", Order(qty="1e999999"), bad_number(38, 6, QTY)),
    Case("qty 1e40", Order(qty="1e40"), bad_number(38, 6, QTY)),
    Case("qty 10^40 written out", Order(qty="1" + "0" * 40), bad_number(38, 5, QTY)),
    Case("qty NaN", Order(qty="NaN"), bad_number(38, 6, QTY, "Order_qty field must be a number_float")),
    Case("qty -0", Order(qty="-0"), bad_number(38, 5, QTY)),
    Case("qty 31 decimals", Order(qty="1." + "0" * 30 + "1"), bad_number(38, 5, QTY)),
    Case("qty empty", Order(qty=""), {
        "spot-rest": "EGeneral:Invalid arguments:volume", "spot-ws": "Order_qty field must be a number_float",
        "spot-fix": "3:38:4", "futures-rest": "error:requiredArgumentMissing",
        "futures-ws": "error:requiredArgumentMissing", "derivatives-fix": "3:38:4"}),
    Case("price 1e999999", Order(price="1e999999"), bad_number(44, 6, PRICE)),
    Case("price NaN", Order(price="NaN"), bad_number(44, 6, PRICE, "Limit_price field must be a number_float")),
    Case("qty finer than the lot", Order(qty="0.010000001"),
         refused("EGeneral:Invalid arguments:volume", "invalidSize"), journaled=ALL),
    Case("unknown pair", Order(unknown_symbol=True),
         refused("EQuery:Unknown asset pair", "contractNotFound", futures_reply="error")),
    Case("post-only would cross", Order(post_only=True),
         refused("EOrder:Post only order", "postWouldExecute"), journaled=ALL),
    Case("expired deadline", Order(expired_deadline=True),
         refused("EService:Deadline elapsed", "wouldProcessAfterSpecifiedTime")),
    # Spot: a UUID, 32 hex or up to 18 printable characters; Futures: up to 100, and a UUID on FIX
    Case("client order id too long", Order(cl_ord_id="a" * 101), {
        "spot-rest": "EGeneral:Invalid arguments:cl_ord_id", "spot-ws": "EGeneral:Invalid arguments:cl_ord_id",
        "spot-fix": "3:11:5", "futures-rest": "status:clientOrderIdTooBig",
        "futures-ws": "status:clientOrderIdTooBig", "derivatives-fix": "3:11:5"},
        journaled=frozenset({"futures-rest", "futures-ws"})),
    Case("userref beyond int32", Order(userref="2147483648"), {
        "spot-rest": "EGeneral:Invalid arguments:userref", "spot-ws": "EGeneral:Invalid arguments:order_userref",
        "spot-fix": None, "futures-rest": None, "futures-ws": None, "derivatives-fix": None}),
]


@pytest.fixture(scope="module")
def venue() -> Iterator[KrakenVenue]:
    tv, v = start_venue(seed=3)
    try:
        yield v
    finally:
        tv.stop()


@pytest.fixture(scope="module")
def drivers(venue: KrakenVenue) -> Iterator[dict[str, Driver]]:
    """One account per protocol (rate limits off), each with Spot and Futures funds."""
    out: dict[str, Driver] = {}
    try:
        for cls in DRIVERS:
            creds = fund(venue, {"USD": "1000000", "XBT": "100"}, futures_balances={"USD": "1000000"})
            out[cls.name] = cls(venue, creds)
        yield out
    finally:
        for d in out.values():
            d.close()


def _journal_since(venue: KrakenVenue, seq: int) -> list[dict[str, Any]]:
    return [e for e in venue.admin.journal(since=seq) if e["protocol"] != "timer"]


@pytest.mark.parametrize("driver_name", [cls.name for cls in DRIVERS])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_request_same_outcome(venue: KrakenVenue, drivers: dict[str, Driver], case: Case,
                                   driver_name: str) -> None:
    driver = drivers[driver_name]
    if case.expect is not None and case.expect[driver_name] is None:
        pytest.skip(f"{driver_name} has no such field")
    order = case.order
    if order.post_only:
        order = replace(order, price=best_ask(venue, driver.market))
    open_before = driver.open_orders()
    digest, last = snapshot(venue)

    out = driver.send(order)

    if case.expect is None:
        assert out.accepted, out
        assert out.text in driver.open_orders()  # the order exists in the venue
        return
    assert not out.accepted and out.text == case.expect[driver_name], (out, case.expect[driver_name])
    assert driver.open_orders() == open_before
    entries = _journal_since(venue, last)
    if driver_name not in case.journaled:
        assert entries == [], entries  # refused before anything was journaled
    else:
        assert all(e.get("error") for e in entries) or driver_name in DERIVATIVES, entries
    timers = any(e["protocol"] == "timer" for e in venue.admin.journal(since=last))
    rejected_order = driver.market == "derivatives" and order.post_only  # Kraken Futures keeps the rejected order
    if not timers and not rejected_order:
        assert snapshot(venue)[0] == digest, "state changed"
