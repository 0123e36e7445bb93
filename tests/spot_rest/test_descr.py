"""Spot REST `descr` sentences, worded by the gateway from the core's facts."""

from __future__ import annotations

from decimal import Decimal as D

from simulator.core.commands import CloseRequest
from simulator.core.orders import RelPrice
from simulator.gateways.spot_rest import render
from tests.core.conftest import Desk


def test_add_descr_shows_the_order_as_placed() -> None:
    desk = Desk()
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    r = desk.add(t, "buy", "1", "50000.0")
    assert render.add_descr(r) == ("buy 1.00000000 XBTUSD @ limit 50000.0", "")
    desk.add(m, "sell", "1", "60000.0")
    r = desk.add(t, "buy", "0.5", "60000.0", close=CloseRequest("limit", D("61000.0")))
    assert render.add_descr(r) == ("buy 0.50000000 XBTUSD @ limit 60000.0", "close position @ limit 61000.0")
    # a quote-sized buy: the sentence shows the quote amount, the order ends with its base quantity
    r = desk.add(t, "buy", "700", None, viqc=True)
    assert r.order.qty > 0 and render.add_descr(r)[0] == "buy 700 XBTUSD @ market"


def test_trailing_descr_prices_come_from_the_offsets() -> None:
    desk = Desk()
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "0.1", "50000.0")
    desk.add(t, "buy", "0.1", "50000.0")  # a last price for the trailing reference
    r = desk.add(
        m, "sell", "0.5", RelPrice("+", D("5"), True), otype="trailing-stop-limit", price2=RelPrice("-", D("10"), False)
    )
    o = r.order
    assert render.add_descr(r)[0] == "sell 0.50000000 XBTUSD @ trailing stop +5.0000% -> limit -10.0"
    assert render.describe(o) == "sell 0.50000000 XBTUSD @ trailing stop +5.0000% -> limit -10.0"
    assert render.descr_prices(o) == ("+5.0000%", "-10.0")
