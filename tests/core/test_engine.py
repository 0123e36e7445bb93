"""Engine behaviour through its public API (sequencer commands)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from simulator.core.commands import AmendRequest, EditRequest, OrderRequest
from simulator.core.errors import EngineError
from simulator.core.orders import Origin, RelPrice

from .conftest import Desk


def book(desk: Desk, pair: str = "XXBTZUSD") -> tuple[list, list]:
    b = desk.eng.books[pair]
    return b.l2("buy"), b.l2("sell")


def test_limit_rests_and_holds_quote_plus_fee(desk: Desk) -> None:
    a = desk.account(USD=100000)
    r = desk.add(a, "buy", "1", "50000.0")
    assert r.order.status == "open"
    assert r.order.price == 500_000 and r.qty == 100_000_000
    # 50000 + 0.40% taker fee held
    assert desk.avail(a, "ZUSD") == D("100000") - D("50200")
    desk.cancel(a, order_id=r.order.id)
    assert desk.avail(a, "ZUSD") == D("100000")
    assert r.order.status == "canceled" and r.order.reason == "User requested"


def test_cross_fills_at_maker_price_with_fees_and_conservation(desk: Desk) -> None:
    s = desk.account(XBT=2)
    b = desk.account(USD=200000)
    desk.add(s, "sell", "1.5", "60000.0")
    r = desk.add(b, "buy", "2", "60010.0")
    o = r.order
    assert o.filled == 150_000_000 and o.status == "open"
    assert book(desk) == ([(600100, 50_000_000)], [])
    assert desk.bal(s, "ZUSD") == D("90000") - D("225")  # maker 0.25%
    assert desk.bal(b, "ZUSD") == D("200000") - D("90000") - D("360")  # taker 0.40%
    assert desk.bal(b, "XXBT") == D("1.5")
    assert desk.bal(s, "XXBT") == D("0.5")
    trades = desk.eng.trades["XXBTZUSD"]
    assert [(t.trade_id, t.price, t.qty) for t in trades] == [(1, 600000, 150_000_000)]


def test_price_time_priority(desk: Desk) -> None:
    m1, m2, t = desk.account(XBT=5), desk.account(XBT=5), desk.account(USD=10**6)
    o1 = desk.add(m1, "sell", "1", "60000.0").order
    o2 = desk.add(m2, "sell", "1", "60000.0").order
    o3 = desk.add(m1, "sell", "1", "59990.0").order
    desk.add(t, "buy", "1.5", "60000.0")
    assert o3.filled == 100_000_000 and o1.filled == 50_000_000 and o2.filled == 0


@pytest.mark.parametrize(
    "kw,err",
    [
        ({"pair": "NOPE"}, "EQuery:Unknown asset pair"),
        ({"price": "60000.05"}, "EOrder:Invalid price:XBTUSD price can only be specified up to 1 decimals."),
        ({"qty": "0.00001"}, "EGeneral:Invalid arguments:volume minimum not met"),
        ({"qty": "0.000000001"}, "EGeneral:Invalid arguments:volume"),
        ({"qty": "100"}, "EOrder:Insufficient funds"),
        ({"price": "-1"}, "EOrder:Invalid price"),
    ],
)
def test_rejections_change_nothing(desk: Desk, kw: dict, err: str) -> None:
    a = desk.account(USD=1000)
    before = desk.venue.state_digest()
    args = {"qty": "0.01", "price": "60000.0", "pair": "XBTUSD"} | kw
    with pytest.raises(EngineError) as ei:
        desk.add(a, "buy", args["qty"], args["price"], pair=args["pair"])
    assert ei.value.text == err
    assert desk.venue.state_digest() == before
    assert desk.venue.journal.entries[-1].error == err


def test_tick_size_check() -> None:
    from simulator.core.instruments import load_default_instruments
    from simulator.core.venue import Venue, VenueConfig

    data = load_default_instruments()
    data["spot_pairs"][0]["tick_size"] = "0.5"
    v = Venue(VenueConfig(seed=1, clock_mode="frozen", instruments=data))
    a = v.create_account({"USD": D(10**6)}).account.id
    submit = v.spot_seq.submit
    with pytest.raises(EngineError, match="EOrder:Tick size check failed"):
        submit("add_order", Origin("rest", "", a), {"account_id": a, "req": OrderRequest("XBTUSD", "buy", "limit", D("0.1"), D("50000.2"))})
    r = submit("add_order", Origin("rest", "", a), {"account_id": a, "req": OrderRequest("XBTUSD", "buy", "limit", D("0.1"), D("50000.5"))})
    assert r.order.price == 500005


def test_market_order_walks_book_and_ioc_remainder(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "60000.0")
    desk.add(m, "sell", "1", "60100.0")
    r = desk.add(t, "buy", "3")
    assert r.order.filled == 200_000_000 and r.order.status == "closed"
    assert desk.avail(t, "ZUSD") == desk.bal(t, "ZUSD")  # nothing left held
    ioc = desk.add(m, "sell", "1", "59000.0", tif="IOC")
    assert ioc.order.status == "canceled" and ioc.order.filled == 0


def test_post_only_rejected_when_crossing(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "60000.0")
    with pytest.raises(EngineError, match="EOrder:Post only order"):
        desk.add(t, "buy", "1", "60000.0", post_only=True)
    ok = desk.add(t, "buy", "1", "59999.9", post_only=True)
    assert ok.order.status == "open"


def test_fok_all_or_nothing(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "60000.0")
    r = desk.add(t, "buy", "2", "60000.0", tif="FOK")
    assert r.order.status == "canceled" and r.order.filled == 0
    r = desk.add(t, "buy", "1", "60000.0", tif="FOK")
    assert r.order.status == "closed" and r.order.filled == 100_000_000


def test_self_trade_prevention_modes(desk: Desk) -> None:
    a, other = desk.account(XBT=5, USD=10**6), desk.account(XBT=5)
    rest = desk.add(a, "sell", "1", "60000.0").order
    r = desk.add(a, "buy", "1", "60000.0")  # cancel-newest (default)
    assert r.order.status == "canceled" and rest.status == "open"
    r = desk.add(a, "buy", "1", "60000.0", stp="cancel-oldest")
    assert rest.status == "canceled" and r.order.status == "open"
    r.order and desk.cancel(a, order_id=r.order.id)
    rest = desk.add(a, "sell", "1", "60000.0").order
    r = desk.add(a, "buy", "1", "60000.0", stp="cancel-both")
    assert rest.status == "canceled" and r.order.status == "canceled"
    o = desk.add(other, "sell", "1", "60000.0").order
    desk.add(a, "buy", "1", "60000.0")
    assert o.status == "closed"


def test_iceberg_shows_display_and_refill_loses_priority(desk: Desk) -> None:
    m, m2, t = desk.account(XBT=5), desk.account(XBT=5), desk.account(USD=10**6)
    ice = desk.add(m, "sell", "1.5", "60000.0", otype="iceberg", display_qty=D("0.1")).order
    plain = desk.add(m2, "sell", "0.1", "60000.0").order
    assert book(desk)[1] == [(600000, 20_000_000)]
    desk.add(t, "buy", "0.15", "60000.0")
    # the iceberg's tranche filled (0.1), refilled to the back; then plain took 0.05
    assert ice.filled == 10_000_000 and plain.filled == 5_000_000
    assert book(desk)[1] == [(600000, 15_000_000)]


def test_amend_priority_rules(desk: Desk) -> None:
    m, m2, t = desk.account(XBT=5), desk.account(XBT=5), desk.account(USD=10**6)
    o1 = desk.add(m, "sell", "1", "60000.0").order
    o2 = desk.add(m2, "sell", "1", "60000.0").order
    desk.seq.submit("amend_order", Origin("rest", "", m), {"account_id": m, "req": AmendRequest(order_id=o1.id, qty=D("0.5"))})
    desk.add(t, "buy", "0.1", "60000.0")
    assert o1.filled == 10_000_000  # decrease kept priority
    desk.seq.submit("amend_order", Origin("rest", "", m), {"account_id": m, "req": AmendRequest(order_id=o1.id, qty=D("2"))})
    desk.add(t, "buy", "0.1", "60000.0")
    assert o2.filled == 10_000_000  # increase lost priority
    assert o1.amended


def test_amend_below_filled_closes(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    o = desk.add(m, "sell", "1", "60000.0").order
    desk.add(t, "buy", "0.4", "60000.0")
    desk.seq.submit("amend_order", Origin("rest", "", m), {"account_id": m, "req": AmendRequest(order_id=o.id, qty=D("0.3"))})
    assert o.status == "closed" and o.qty == o.filled == 40_000_000
    assert desk.avail(m, "XXBT") == desk.bal(m, "XXBT")


def test_edit_replaces_with_new_id(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    o = desk.add(a, "buy", "1", "50000.0").order
    old, res = desk.seq.submit("edit_order", Origin("rest", "", a), {"account_id": a, "req": EditRequest(order_id=o.id, price=D("50100.0"))})
    assert old.status == "canceled" and res.order.id != o.id and res.order.price == 501000


def test_gtd_expires_on_clock(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    now = desk.venue.clock.now_ns()
    o = desk.add(a, "buy", "1", "50000.0", tif="GTD", expire_ns=now + 10_000_000_000).order
    desk.advance(9_000)
    assert o.status == "open"
    desk.advance(1_000)
    assert o.status == "expired" and desk.avail(a, "ZUSD") == D(10**6)


def test_start_time_keeps_pending(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    now = desk.venue.clock.now_ns()
    o = desk.add(a, "buy", "1", "50000.0", start_ns=now + 5_000_000_000).order
    assert o.status == "pending" and not o.in_book
    desk.advance(5_000)
    assert o.status == "open" and o.in_book


def test_dead_mans_switch(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    o = desk.add(a, "buy", "1", "50000.0").order
    desk.seq.submit("cancel_all_after", Origin("rest", "", a), {"account_id": a, "timeout": 60})
    desk.advance(59_000)
    assert o.status == "open"
    desk.advance(1_000)
    assert o.status == "canceled" and o.reason == "Dead man's switch"


def test_stop_loss_triggers_on_last_trade(desk: Desk) -> None:
    m, s, t = desk.account(XBT=5, USD=10**6), desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "buy", "2", "59000.0")
    stop = desk.add(s, "sell", "1", "59500.0", otype="stop-loss").order
    assert stop.status == "open" and not stop.triggered
    desk.add(m, "sell", "0.1", "59400.0")  # rests
    desk.add(t, "buy", "0.1", "59400.0")  # trade at 59400 <= 59500 triggers the stop
    assert stop.triggered and stop.status == "closed" and stop.filled == 100_000_000


def test_take_profit_limit_and_index_trigger(desk: Desk) -> None:
    m, s = desk.account(XBT=5, USD=10**6), desk.account(XBT=5)
    desk.add(m, "buy", "2", "61000.0")
    desk.seq.submit("set_index_price", Origin("admin"), {"pair": "XBTUSD", "price": D("60000.0")})
    tp = desk.add(s, "sell", "1", "65000.0", otype="take-profit-limit", price2=D("60000.0"), trigger_ref="index").order
    assert tp.status == "open"
    desk.seq.submit("set_index_price", Origin("admin"), {"pair": "XBTUSD", "price": D("65000.0")})
    assert tp.triggered and tp.status == "closed"


def test_trailing_stop_follows_peak(desk: Desk) -> None:
    m, s, t = desk.account(XBT=5, USD=10**6), desk.account(XBT=5), desk.account(USD=10**6, XBT=5)
    desk.add(m, "sell", "0.1", "60000.0")
    desk.add(t, "buy", "0.1", "60000.0")  # last = 60000
    ts = desk.add(s, "sell", "1", RelPrice("+", D("500"), False), otype="trailing-stop").order
    assert ts.trigger_price == 595000
    desk.add(m, "sell", "0.1", "61000.0")
    desk.add(t, "buy", "0.1", "61000.0")  # peak 61000 -> trigger 60500
    desk.add(m, "buy", "3", "60400.0")
    assert not ts.triggered and ts.trigger_price == 605000
    desk.add(t, "sell", "0.1", "60400.0")  # last 60400 <= 60500
    assert ts.triggered and ts.filled == 100_000_000


def test_conditional_close_placed_on_fill(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "60000.0")
    from simulator.core.commands import CloseRequest

    r = desk.add(t, "buy", "0.5", "60000.0", close=CloseRequest("limit", D("61000.0")))
    assert r.order.close == {"ordertype": "limit", "price": D("61000.0"), "price2": None}
    opens = list(desk.eng.open_orders[t].values())
    assert len(opens) == 1 and opens[0].side == "sell" and opens[0].qty == 50_000_000


def test_cl_ord_id_unique_among_open(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    desk.add(a, "buy", "0.1", "50000.0", cl_ord_id="abc")
    with pytest.raises(EngineError, match="Duplicate"):
        desk.add(a, "buy", "0.1", "50000.0", cl_ord_id="abc")
    desk.cancel(a, cl_ord_id="abc")
    desk.add(a, "buy", "0.1", "50000.0", cl_ord_id="abc")


def test_cancel_by_userref_and_unknown(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    for _ in range(3):
        desk.add(a, "buy", "0.1", "50000.0", userref=7)
    assert len(desk.cancel(a, userref=7)) == 3
    with pytest.raises(EngineError, match="EOrder:Unknown order"):
        desk.cancel(a, order_id="OAAAAA-AAAAA-AAAAAA")


def test_accounts_are_isolated(desk: Desk) -> None:
    a, b = desk.account(USD=10**6), desk.account(USD=10**6)
    o = desk.add(a, "buy", "0.1", "50000.0").order
    with pytest.raises(EngineError, match="EOrder:Unknown order"):
        desk.cancel(b, order_id=o.id)
    assert o.status == "open"


def test_fix_session_cancel_scope(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    req = OrderRequest("XBT/USD", "buy", "limit", D("0.1"), D("50000.0"))
    o = desk.seq.submit("add_order", Origin("fix", "fix-1", a), {"account_id": a, "req": req}).order
    with pytest.raises(EngineError, match="Unknown order"):
        desk.cancel(a, order_id=o.id, only_session="fix-2")
    desk.cancel(a, order_id=o.id, only_session="fix-1")
    assert o.status == "canceled"


def test_status_gates(desk: Desk) -> None:
    a = desk.account(USD=10**6)
    desk.seq.submit("set_status", Origin("admin"), {"status": "post_only"})
    with pytest.raises(EngineError, match="EService:Market in post_only mode"):
        desk.add(a, "buy", "0.1", "50000.0")
    desk.add(a, "buy", "0.1", "50000.0", post_only=True)
    desk.seq.submit("set_status", Origin("admin"), {"status": "cancel_only"})
    with pytest.raises(EngineError, match="cancel_only"):
        desk.add(a, "buy", "0.1", "50000.0", post_only=True)
    with pytest.raises(EngineError, match="cancel_only"):
        desk.add(a, "buy", "0.1", "1.0", pair="ACAEUR") if False else desk.add(a, "buy", "1", "1.0", pair="ACAEUR")


def test_viqc_market_buy_spends_quote(desk: Desk) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "50000.0")
    r = desk.add(t, "buy", "1000", None, viqc=True)
    o = r.order
    assert o.status == "closed" and 0 < o.filled
    spent = D(10**6) - desk.bal(t, "ZUSD")
    assert spent <= D("1000") and spent > D("990")


def test_journal_replay_rebuilds_identical_state(desk: Desk, tmp_path) -> None:
    m, t = desk.account(XBT=5), desk.account(USD=10**6)
    desk.add(m, "sell", "1", "60000.0")
    desk.add(t, "buy", "0.3", "60000.0")
    o = desk.add(t, "buy", "0.3", "59000.0", tif="GTD", expire_ns=desk.venue.clock.now_ns() + 2_000_000_000).order
    desk.advance(3000)
    assert o.status == "expired"
    with pytest.raises(EngineError):
        desk.add(t, "buy", "100", "60000.0")
    path = tmp_path / "j.jsonl"
    desk.venue.journal.write_jsonl(str(path))
    fresh = Desk()
    fresh.venue.replay(fresh.venue.journal.read_commands(str(path)))
    assert fresh.venue.state_digest() == desk.venue.state_digest()
