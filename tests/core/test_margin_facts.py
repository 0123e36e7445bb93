"""Margin facts the protocols render from events: a fill's position status
(WS v2 `position_status`) as it was when it happened, and the leverage a
margin flag without a ratio (WS v2 `margin`, FIX 5001=1) stands for."""

from __future__ import annotations

from decimal import Decimal as D

from simulator.core.margin import MARGIN_FLAG_CAP, flag_leverage, terms_of

from .conftest import Desk


def _fills(res: object) -> list[object]:
    return [f for f in res.order.trades]  # type: ignore[attr-defined]


def test_fill_position_status_is_fixed_when_it_happens(desk: Desk) -> None:
    mm = desk.account(ZUSD=10_000_000, XXBT=1000)
    desk.add(mm, "buy", "5", "50000")
    desk.add(mm, "sell", "5", "50010")
    a = desk.venue.create_account({"ZUSD": D(100_000)}, margin=True).account.id
    [opening] = _fills(desk.add(a, "buy", "0.4", leverage="2"))
    assert opening.pos_status == "opened"  # type: ignore[attr-defined]
    [part] = _fills(desk.add(a, "sell", "0.1", leverage="2"))
    assert part.pos_status == "closing"  # type: ignore[attr-defined]
    [last] = _fills(desk.add(a, "sell", "0.3", leverage="2"))
    assert last.pos_status == "closed"  # type: ignore[attr-defined]
    # the earlier fills keep what they did, though the position is now closed
    assert (opening.pos_status, part.pos_status) == ("opened", "closing")  # type: ignore[attr-defined]
    # a spot fill says nothing about positions
    [spot] = _fills(desk.add(a, "buy", "0.01"))
    assert spot.pos_status == ""  # type: ignore[attr-defined]


def test_flag_leverage_is_the_pairs_highest_up_to_five(desk: Desk) -> None:
    pairs = desk.venue.instruments.pairs
    xbt = pairs["XXBTZUSD"]
    t = terms_of(xbt)
    assert max(t.leverage_buy) > MARGIN_FLAG_CAP  # XBT/USD offers more than 5
    assert flag_leverage(xbt, "buy") == MARGIN_FLAG_CAP
    for pair in pairs.values():
        t = terms_of(pair)
        for side, offered in (("buy", t.leverage_buy), ("sell", t.leverage_sell)):
            lev = flag_leverage(pair, side)
            assert lev <= MARGIN_FLAG_CAP
            assert lev in offered or not [x for x in offered if x <= MARGIN_FLAG_CAP]
