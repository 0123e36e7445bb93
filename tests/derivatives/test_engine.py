"""The derivatives engine in-process: matching, PnL, margin, order types,
triggers, funding, dead man's switch, liquidation, expiry, bad input."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from simulator.core.commands import FuturesEditRequest, FuturesOrderRequest
from simulator.core.derivatives import FuturesError
from simulator.core.derivatives.events import FOrderEvent

from .conftest import Market, make_market

PF = "PF_XBTUSD"
PI = "PI_XBTUSD"


def test_linear_fill_pnl_fees_and_margin(market: Market) -> None:
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    r = market.send(a, "lmt", PF, "sell", "1", "91500")
    assert r.status == "placed" and [e.type for e in r.events] == ["PLACE"]
    r = market.send(b, "mkt", PF, "buy", "1")
    assert r.status == "placed"
    assert [(e.type, e.price, e.amount) for e in r.events] == [("EXECUTION", 91500, 10000)]
    assert r.events[0].order is not None and r.events[0].order.market  # mkt executes as an IOC
    assert market.position(b, PF) == D(1) and market.position(a, PF) == D(-1)
    assert market.balance(b) == D("100000") - D("45.75")  # taker 5 bp
    assert market.balance(a) == D("100000") - D("18.3")  # maker 2 bp
    market.cmd("set_mark", symbol=PF, price=D("92000"))
    eng = market.eng
    vb = eng.margin_view(eng.fa(b), "flex")
    va = eng.margin_view(eng.fa(a), "flex")
    assert D(vb.pnl).scaleb(-10) == D(500) and D(va.pnl).scaleb(-10) == D(-500)
    assert D(vb.im).scaleb(-10) == D(920) and D(vb.mm).scaleb(-10) == D(460)  # 1% / 0.5% under $1M notional
    assert vb.available == vb.equity - vb.im_orders
    # partial close realises PnL at the fill price
    market.send(a, "lmt", PF, "buy", "0.4", "92000")
    market.send(b, "lmt", PF, "sell", "0.4", "92000")
    assert market.position(b, PF) == D("0.6")
    # b: -45.75 taker, +200 realised, -(0.4*92000*0.0005)=18.4 taker fee
    assert market.balance(b) == D("100000") - D("45.75") + D("200") - D("18.4")


def test_inverse_position_pnl_in_coin(market: Market) -> None:
    a = market.account(XBT="2")
    b = market.account(XBT="2")
    market.send(a, "lmt", PI, "sell", "10000", "50000")
    market.send(b, "lmt", PI, "buy", "10000", "50000")
    market.cmd("set_mark", symbol=PI, price=D("40000"))
    eng = market.eng
    view = eng.margin_view(eng.fa(b), "fi_xbtusd")
    assert D(view.pnl).scaleb(-10) == D("-0.05")  # 10000 * (1/50000 - 1/40000)
    assert eng.fa(b).positions[PI].entry_price() == D(50000)
    market.send(b, "lmt", PI, "sell", "10000", "40000")
    market.send(a, "lmt", PI, "buy", "10000", "40000")
    fee = D(10000) / D(50000) * D("0.0005") + D(10000) / D(40000) * D("0.0002")  # taker, then maker
    assert market.balance(b, "XXBT", "fi_xbtusd") == D(2) - D("0.05") - fee


def test_reduce_only(market: Market) -> None:
    a = market.account(USD="100000")
    mm = market.account(USD="1000000")
    assert market.send(a, "lmt", PF, "sell", "1", "90000", reduceOnly=True).status == "wouldNotReducePosition"
    market.send(mm, "lmt", PF, "sell", "1", "91000")
    market.send(a, "mkt", PF, "buy", "0.5")
    r = market.send(a, "lmt", PF, "sell", "2", "95000", reduceOnly=True)
    assert r.status == "placed" and r.events[0].reduced == 15000 and r.events[0].order.qty == 5000  # type: ignore[union-attr]
    assert market.send(a, "lmt", PF, "buy", "0.1", "80000", reduceOnly=True).status == "wouldNotReducePosition"


def test_post_ioc_fok_mkt_and_self_fill(market: Market) -> None:
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    market.send(a, "lmt", PF, "sell", "1", "91500")
    r = market.send(b, "post", PF, "buy", "1", "91500")
    assert r.status == "postWouldExecute" and r.events[0].reason == "POST_WOULD_EXECUTE"
    assert market.eng.books[PF].best_bid() is None
    assert market.send(b, "ioc", PF, "buy", "1", "91000").status == "iocWouldNotExecute"
    assert market.send(b, "fok", PF, "buy", "2", "92000").status == "iocWouldNotExecute"
    assert market.position(b, PF) == 0
    # mkt stops 1% beyond the best ask
    market.send(a, "lmt", PF, "sell", "1", "93000")
    r = market.send(b, "mkt", PF, "buy", "1.5")
    assert market.position(b, PF) == D(1)  # 93000 > 91500 * 1.01
    assert r.events[0].order.price == 92415  # type: ignore[union-attr]
    assert market.send(a, "ioc", PF, "buy", "0.1", "93000").status == "selfFill"


def test_remainder_cancelled_after_a_partial_fill_is_an_event(market: Market) -> None:
    """A limit order that fills in part, then meets its owner's own resting
    order, loses the rest (self-trade prevention); so does a partly filled
    IOC.  The cancel is an order event (journal, open_orders_verbose)."""
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    market.send(b, "lmt", PF, "sell", "0.3", "91500")
    market.send(a, "lmt", PF, "sell", "1", "91600")  # a's own, behind b's
    seen: list[FOrderEvent] = []
    unsubscribe = market.seq.subscribe(lambda e: seen.extend(x for x in e.events if isinstance(x, FOrderEvent)))
    r = market.send(a, "lmt", PF, "buy", "1", "91700")
    assert r.status == "placed" and market.position(a, PF) == D("0.3")
    mine = [e for e in seen if e.order.account_id == a and e.order.side == "buy"]
    assert [(e.reason, e.is_cancel, e.verbose_only, e.quiet) for e in mine] == [
        ("accepted", False, False, True), ("would_execute_self", True, True, False)]
    assert (mine[0].order.filled, mine[1].order.filled) == (0, 3000)  # each the order at that moment
    assert market.eng.fa(a).open.keys() == {o.id for o in market.eng.fa(a).open.values() if o.side == "sell"}
    seen.clear()
    c = market.account(USD="100000")
    market.send(c, "ioc", PF, "buy", "1.5", "91650")  # takes a's 1 @ 91600, the rest finds nothing
    assert market.position(c, PF) == D(1)
    assert [(e.reason, e.is_cancel) for e in seen if e.order.account_id == c] == [
        ("accepted", False), ("ioc_order_failed_because_it_would_not_be_executed", True)]
    unsubscribe()


def test_trigger_orders(market: Market) -> None:
    a = market.account(USD="100000")
    mm = market.account(USD="1000000")
    market.send(mm, "lmt", PF, "sell", "5", "91500")
    market.send(mm, "lmt", PF, "buy", "5", "91300")
    r = market.send(a, "stp", PF, "buy", "1", stopPrice="92000", triggerSignal="mark")
    assert r.status == "placed" and r.events[0].order.is_trigger  # type: ignore[union-attr]
    assert market.position(a, PF) == 0
    market.cmd("set_mark", symbol=PF, price=D("92000"))
    assert market.position(a, PF) == D(1)  # triggered into a market order at 91500
    tp = market.send(
        a, "take_profit", PF, "sell", "1", "91300", stopPrice="91400", triggerSignal="index", reduceOnly=True
    )
    assert tp.status == "placed"
    market.cmd("set_index", symbol=PF, price=D("91400"), move_marks=False)
    assert market.position(a, PF) == D(0)
    # trailing stop on the mark: follows the peak, fires on the pullback
    market.send(a, "mkt", PF, "buy", "1")
    ts = market.send(
        a,
        "trailing_stop",
        PF,
        "sell",
        "1",
        trailingStopMaxDeviation="1",
        trailingStopDeviationUnit="PERCENT",
        triggerSignal="mark",
        reduceOnly=True,
    )
    order = market.eng.orders[ts.order_id or ""]
    assert order.stop_price == 91080  # mark 92000 * 0.99
    market.cmd("set_mark", symbol=PF, price=D("95000"))
    assert order.stop_price == 94050 and market.position(a, PF) == D(1)
    market.cmd("set_mark", symbol=PF, price=D("94000"))
    assert market.position(a, PF) == D(0)
    reasons = [e.reason for e in market.venue.journal.entries[-1].events if isinstance(e, FOrderEvent)]
    assert reasons[0] == "stop_order_triggered"
    assert market.eng.fa(a).fills[-1].price == 91300


def test_edit_priority_and_taker_after_edit(market: Market) -> None:
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    r1 = market.send(a, "lmt", PF, "buy", "1", "91000")
    market.send(b, "lmt", PF, "buy", "1", "91000")
    e = market.cmd("edit_order", account_id=a, req=FuturesEditRequest(r1.order_id, size=D("0.5")))
    assert e.status == "edited" and e.events[0].type == "EDIT"
    lvl = market.eng.books[PF].bids.best()
    assert lvl is not None and lvl.visible == 15000 and next(iter(lvl.live())).id == r1.order_id  # kept priority
    market.send(b, "lmt", PF, "sell", "1", "91500")
    e = market.cmd("edit_order", account_id=a, req=FuturesEditRequest(r1.order_id, limit_price=D("91500")))
    assert e.status == "edited" and [x.type for x in e.events] == ["EDIT", "EXECUTION"]
    assert e.events[1].prior_edit is not None
    fill = market.eng.fa(a).fills[-1]
    assert fill.fill_type == "takerAfterEdit"
    assert market.cmd("edit_order", account_id=a, req=FuturesEditRequest("nope")).status == "orderForEditNotFound"
    assert market.cmd("edit_order", account_id=b, req=FuturesEditRequest(r1.order_id)).status == "orderForEditNotFound"


def test_cancel_cancel_all_and_dead_mans_switch(market: Market) -> None:
    a = market.account(USD="100000")
    r1 = market.send(a, "lmt", PF, "buy", "0.1", "90000", cliOrdId="c-1")
    market.send(a, "lmt", "PF_ETHUSD", "buy", "1", "3000")
    res = market.cmd("cancel_order", account_id=a, cl_ord_id="c-1")
    assert res.status == "cancelled" and res.order_id == r1.order_id
    assert market.cmd("cancel_order", account_id=a, order_id=r1.order_id).status == "notFound"
    assert len(market.cmd("cancel_all", account_id=a, symbol=PF)) == 0
    market.send(a, "lmt", PF, "buy", "0.1", "90000")
    now, at = market.cmd("cancel_all_after", account_id=a, timeout=60)
    assert at - now == 60 * 10**9
    market.advance(59)
    assert len(market.eng.fa(a).open) == 2
    market.advance(2)
    assert len(market.eng.fa(a).open) == 0
    reasons = [e.reason for e in market.venue.journal.entries[-1].events if isinstance(e, FOrderEvent)]
    assert reasons == ["dead_man_switch", "dead_man_switch"]
    assert market.cmd("cancel_all_after", account_id=a, timeout=0)[1] == 0


def test_hourly_funding_moves_value_from_longs_to_shorts(market: Market) -> None:
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    market.send(a, "lmt", PF, "sell", "1", "91415")
    market.send(b, "lmt", PF, "buy", "1", "91415")
    market.cmd("set_mark", symbol=PF, price=D("92329.15"))  # +1% premium -> 1%/24 per hour
    ba, bb = market.balance(a), market.balance(b)
    total = market.eng.total_value("ZUSD")
    market.advance(3600)
    rel = market.eng.funding_history[PF][-1][2]
    assert rel == ((D("92329.15") - D("91415")) / D("91415") / 24).quantize(D("1e-18"))
    paid = (D("92329.15") * rel).quantize(D("1e-10"))
    assert market.balance(b) == bb - paid and market.balance(a) == ba + paid
    assert market.eng.total_value("ZUSD") == total
    logs = [lg for lg in market.eng.fa(b).logs if lg.info == "funding rate change"]
    assert logs and logs[-1].realized_funding == -paid


def test_liquidation_below_maintenance(market: Market) -> None:
    a = market.account(USD="1000")
    mm = market.account(USD="10000000")
    market.send(mm, "lmt", PF, "sell", "1", "91415")
    market.send(a, "lmt", PF, "buy", "1", "91415")  # 1% IM = 914.15 of 1000
    market.send(a, "lmt", PF, "buy", "0.001", "80000")
    total = market.eng.total_value("ZUSD")
    market.cmd("set_mark", symbol=PF, price=D("90800"))  # equity ~385 < mm 454
    fa = market.eng.fa(a)
    assert not fa.positions and not fa.open
    assert fa.fills[-1].fill_type == "liquidation"
    assert market.eng.house_positions[PF].size == 10000
    assert market.eng.total_value("ZUSD") == total
    trade = market.eng.trades[PF][-1]
    assert trade.type == "liquidation"
    # bankruptcy: the venue absorbs the deficit
    c = market.account(USD="1000")
    market.send(mm, "lmt", PF, "sell", "1", "90800")
    market.send(c, "lmt", PF, "buy", "1", "90800")
    market.cmd("set_mark", symbol=PF, price=D("80000"))
    assert market.balance(c) >= 0 and not market.eng.fa(c).positions
    assert market.eng.total_value("ZUSD") == total + 10**13  # the new 1000 USD deposit


def test_fixed_maturity_contract_expires(market: Market) -> None:
    fi = "FI_XBTUSD_271231"
    a = market.account(XBT="1")
    b = market.account(XBT="1")
    market.send(a, "lmt", fi, "sell", "1000", "93500")
    market.send(b, "lmt", fi, "buy", "1000", "93500")
    market.send(b, "lmt", fi, "buy", "1000", "90000")
    spec = market.eng.specs[fi]
    assert spec.expiry_ns is not None
    market.venue.clock.set_ns(spec.expiry_ns + 1)
    market.seq.poll_timers()
    assert not spec.tradeable and not market.eng.fa(b).open and not market.eng.fa(b).positions
    assert market.send(a, "lmt", fi, "buy", "1000", "90000").status == "marketInactive"


def test_bad_input_changes_nothing(market: Market) -> None:
    a = market.account(USD="1000")
    before = market.eng.state_digest()
    assert market.send(a, "lmt", PF, "buy", "0.00001", "90000").status == "invalidSize"
    assert market.send(a, "lmt", PF, "buy", "0.1", "90000.5").status == "invalidPrice"
    assert market.send(a, "lmt", PF, "buy", "-1", "90000").status == "invalidSize"
    assert market.send(a, "xyz", PF, "buy", "1", "90000").status == "invalidOrderType"
    assert market.send(a, "lmt", PF, "up", "1", "90000").status == "invalidSide"
    assert market.send(a, "lmt", PF, "buy", "2", "90000").status == "insufficientAvailableFunds"
    assert market.send(a, "lmt", PF, "buy", "2000", "90000").status == "maxPositionViolation"
    assert market.send(a, "lmt", PF, "buy", "0.001", "90000", cliOrdId="x" * 101).status == "clientOrderIdTooBig"
    assert market.send(a, "stp", PF, "buy", "0.001").status == "invalidPrice"
    with pytest.raises(FuturesError) as exc:
        market.send(a, "lmt", "PF_NOPE", "buy", "1", "1")
    assert exc.value.text == "contractNotFound"
    with pytest.raises(FuturesError):
        market.cmd("deposit", account_id=a, asset="NOPE", amount=D(1))
    with pytest.raises(FuturesError):
        market.cmd("set_mark", symbol=PF, price=D(0))
    assert market.eng.state_digest() == before


def test_journal_replay_rebuilds_identical_state() -> None:
    m = make_market()
    a = m.account(USD="100000", XBT="1")
    b = m.account(USD="100000", XBT="1")
    m.send(a, "lmt", PF, "sell", "1", "91500")
    m.send(b, "mkt", PF, "buy", "0.5")
    m.send(b, "lmt", PI, "buy", "1000", "91000")
    m.send(a, "lmt", PI, "sell", "500", "91000")
    m.cmd("set_mark", symbol=PF, price=D("93000"))
    m.advance(3600)
    m.cmd(
        "batch",
        account_id=a,
        instructions=[FuturesOrderRequest(PF, "buy", "lmt", D("0.1"), limit_price=D("90000"), tag="1")],
    )
    digest = m.eng.state_digest()
    commands = [e.to_json(with_events=False) for e in m.venue.journal.entries]
    from simulator.core.commands import decode_params

    for c in commands:
        c["params"] = decode_params(c["params"])
    fresh = make_market()
    fresh.venue.replay(commands)
    assert fresh.eng.state_digest() == digest


def test_pnl_preference_is_a_known_currency_on_linear_contracts(market: Market) -> None:
    a = market.account(USD="1000")
    market.cmd("set_pnl_pref", account_id=a, symbol=PF, currency="xbt")
    assert market.eng.fa(a).pnl_pref == {PF: "XBT"}
    for symbol, currency in ((PF, "NOPE"), (PF, "US D"), (PF, "X" * 50), (PI, "USD")):
        with pytest.raises(FuturesError):
            market.cmd("set_pnl_pref", account_id=a, symbol=symbol, currency=currency)
    assert market.eng.fa(a).pnl_pref == {PF: "XBT"}  # refusals changed nothing


def test_fill_events_carry_the_order_at_that_moment(market: Market) -> None:
    """Each fill event's order shows the cumulative quantity and cost after
    that fill (so the average price), not the order's final totals."""
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    market.send(a, "lmt", PF, "sell", "0.1", "91500")
    market.send(a, "lmt", PF, "sell", "0.3", "91600")
    market.send(b, "ioc", PF, "buy", "0.5", "91600")
    events = market.venue.journal.entries[-1].events
    mine = [e.fill.order for e in events if getattr(e, "kind", "") == "futures_fill" and e.fill.account_id == b]
    assert [(o.filled, o.avg_price) for o in mine] == [(1000, 91500), (4000, 91575)]
    accepted = next(e.order for e in events if getattr(e, "reason", "") == "accepted")
    assert (accepted.filled, accepted.cost) == (0, 0)
