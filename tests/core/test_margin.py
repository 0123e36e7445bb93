"""Spot margin in the core: leverage, positions, P&L, rollover, margin calls,
liquidation, settle-position, snapshots and replay."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext
from typing import Any

import pytest

from simulator.core.commands import OrderRequest
from simulator.core.errors import EngineError
from simulator.core.margin import MAX_ROLLOVER_CATCHUP, ROLLOVER_NS
from simulator.core.orders import Origin
from simulator.core.sequencer import Journal
from simulator.core.state import materialize
from simulator.core.venue import Venue, VenueConfig

from .conftest import T0, Desk

ADMIN = Origin("admin")


def margin_account(desk: Desk, **balances: Any) -> str:
    creds = desk.venue.create_account({k: D(str(v)) for k, v in balances.items()}, margin=True)
    return creds.account.id


def book(desk: Desk, bid: str, ask: str, qty: str = "5") -> str:
    """A market maker with one bid and one ask level (XBTUSD)."""
    mm = desk.account(ZUSD=10_000_000, XXBT=1000)
    desk.add(mm, "buy", qty, bid)
    desk.add(mm, "sell", qty, ask)
    return mm


def requote(desk: Desk, mm: str, bid: str, ask: str, qty: str = "5") -> None:
    desk.seq.submit("cancel_all", ADMIN, {"account_id": mm})
    desk.add(mm, "buy", qty, bid)
    desk.add(mm, "sell", qty, ask)


def notices(desk: Desk) -> list[str]:
    return [e.name for j in desk.venue.journal.entries for e in j.events if e.kind == "notice"]


def tb(desk: Desk, acct: str) -> Any:
    with desk.seq.exclusive() as eng:
        return eng.margin.trade_balance(acct)


def test_margin_is_off_by_default(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = desk.account(ZUSD=100_000)
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.1", leverage="2")
    assert e.value.text == "EOrder:Cannot open position"
    desk.seq.submit("set_tier", ADMIN, {"account_id": a, "margin": True})
    assert desk.add(a, "buy", "0.1", leverage="2").order.leverage == 2


def test_leverage_the_pair_does_not_offer_is_refused(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=100_000)
    seq = desk.venue.journal.last_seq
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.1", leverage="11")  # XBTUSD: 2..10
    assert e.value.text == "EGeneral:Invalid arguments:leverage"
    assert desk.venue.journal.last_seq == seq  # the sequencer's guard refused it: never journaled
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "100", pair="USDCUSD", price="1.0", leverage="2")  # no margin on USDC/USD
    assert e.value.text == "EGeneral:Invalid arguments:leverage"


def test_open_long_holds_margin_not_cost_and_charges_fees(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=10_000)
    res = desk.add(a, "buy", "0.5", leverage="5")  # cost 25005: far more than the balance
    o = res.order
    assert o.status == "closed" and o.filled == 50_000_000
    assert desk.bal(a, "XXBT") == 0  # no base received: a position
    pos = desk.eng.margin.open_positions(a)
    assert len(pos) == 1
    p = pos[0]
    assert p.id == o.trades[0].id and p.ordertxid == o.id and p.side == "buy"
    assert p.cost == 2_500_500_000  # 25005.00000 in cost units (5 dp)
    assert p.margin == D("5001").scaleb(10)  # cost / 5
    # fees: taker 0.40% + opening 0.02% of 25005, from the quote balance (ledger type margin)
    fee = D("25005") * D("0.0042")
    assert desk.bal(a, "ZUSD") == D(10_000) - fee
    entry = desk.venue.accounts.accounts[a].ledger[-1]
    assert entry.type == "margin" and entry.amount == 0 and D(entry.fee).scaleb(-10) == fee
    t = tb(desk, a)
    assert t.m == D(5001)
    assert t.c == D(25005)
    assert t.v == D("25000")  # marked at the best bid
    assert t.n == D(-5)
    assert t.e == t.tb + t.n and t.mf == t.e - t.m
    with localcontext() as ctx:
        ctx.prec = 60
        assert t.ml == t.e / t.m * 100


def test_insufficient_margin(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=1000)
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.5", leverage="2")  # needs 12502.5 of margin
    assert e.value.text == "EOrder:Insufficient margin"


def test_close_realises_marked_pnl_in_quote(desk: Desk) -> None:
    mm = book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=20_000)
    desk.add(a, "buy", "0.2", leverage="2")
    requote(desk, mm, "51000", "51010")
    marked = tb(desk, a).n
    assert marked == D("0.2") * (51000 - 50010)
    before = desk.bal(a, "ZUSD")
    res = desk.add(a, "sell", "0.2", leverage="2")
    f = res.order.trades[0]
    assert f.closed == 20_000_000 and f.opened == 0
    fee = D(f.fee).scaleb(-10)
    assert desk.bal(a, "ZUSD") - before == marked - fee
    assert desk.eng.margin.open_positions(a) == []
    p = desk.eng.margin.positions[f.posid]
    assert p.status == "closed" and p.trades == [f.id] and p.vol_closed == p.vol
    assert D(p.net).scaleb(-10) == marked - fee
    assert desk.venue.accounts.accounts[a].ledger[-1].type == "margin"


def test_opposite_order_larger_than_position_flips(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=50_000)
    desk.add(a, "buy", "0.1", leverage="3")
    desk.add(a, "sell", "0.3", leverage="3")
    (p,) = desk.eng.margin.open_positions(a)
    assert p.side == "sell" and p.vol == 20_000_000


def test_reduce_only(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=50_000)
    with pytest.raises(EngineError) as e:
        desk.add(a, "sell", "0.1", leverage="2", reduce_only=True)
    assert e.value.text == "EOrder:Reduce only:No position exists"
    desk.add(a, "buy", "0.1", leverage="2")
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.1", leverage="2", reduce_only=True)
    assert e.value.text == "EOrder:Reduce only:Non-PC"
    res = desk.add(a, "sell", "0.5", leverage="2", reduce_only=True)
    assert res.order.qty == 10_000_000  # capped at the position
    assert desk.eng.margin.open_positions(a) == []


def test_volume_zero_closes_the_whole_position(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=50_000)
    desk.add(a, "buy", "0.1", leverage="2")
    desk.add(a, "buy", "0.05", leverage="2")
    assert len(desk.eng.margin.open_positions(a)) == 2
    desk.add(a, "sell", "0", leverage="2")
    assert desk.eng.margin.open_positions(a) == []


def test_position_size_limit(desk: Desk) -> None:
    desk.venue.instruments.pairs["XXBTZUSD"].raw["long_position_limit"] = 1  # the fixture: 350 BTC
    desk.eng.margin._terms.clear()
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=1_000_000)
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "2", "50010", leverage="5")
    assert e.value.text == "EOrder:Margin position size exceeded"


def test_limit_order_reserves_margin_until_filled_or_cancelled(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=10_000)
    res = desk.add(a, "buy", "0.2", "49000", leverage="2")
    o = res.order
    assert o.margin_hold > D("4900").scaleb(10)
    assert desk.venue.accounts.accounts[a].held.get("ZUSD", 0) == 0  # hold_trade: spot orders only
    assert tb(desk, a).o == D(o.margin_hold).scaleb(-10)
    desk.cancel(a, order_id=o.id)
    assert o.margin_hold == 0 and tb(desk, a).o == 0


def test_settle_position_pays_cost_and_receives_base(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=30_000)
    desk.add(a, "buy", "0.2", leverage="2")
    usd = desk.bal(a, "ZUSD")
    res = desk.add(a, "sell", "0", otype="settle-position", leverage="2")
    assert res.order.status == "closed" and res.order.filled == 20_000_000
    assert desk.bal(a, "XXBT") == D("0.2")
    assert usd - desk.bal(a, "ZUSD") == D("0.2") * 50010
    assert desk.eng.margin.open_positions(a) == []
    assert [e.type for e in desk.venue.accounts.accounts[a].ledger[-2:]] == ["settled", "settled"]


def test_rollover_every_four_hours(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=30_000)
    desk.add(a, "buy", "0.2", leverage="2")
    (p,) = desk.eng.margin.open_positions(a)
    fee = D(p.cost).scaleb(-5) * D("0.0002")
    usd = desk.bal(a, "ZUSD")
    desk.advance(4 * 3600 * 1000 - 1)
    assert desk.bal(a, "ZUSD") == usd
    desk.advance(1)
    assert desk.bal(a, "ZUSD") == usd - fee
    desk.advance(8 * 3600 * 1000)
    assert desk.bal(a, "ZUSD") == usd - 3 * fee
    assert p.rollovers == 3
    assert [e.type for e in desk.venue.accounts.accounts[a].ledger[-3:]] == ["rollover"] * 3


def test_rollover_catch_up_is_bounded(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=30_000)
    desk.add(a, "buy", "0.2", leverage="2")
    (p,) = desk.eng.margin.open_positions(a)
    n = len(desk.venue.accounts.accounts[a].ledger)
    desk.advance(1000 * ROLLOVER_NS // 1_000_000)  # 1000 periods
    charged = len(desk.venue.accounts.accounts[a].ledger) - n
    assert charged == MAX_ROLLOVER_CATCHUP
    assert p.rollovers == MAX_ROLLOVER_CATCHUP and p.rollovers_skipped == 1000 - MAX_ROLLOVER_CATCHUP
    notes = [e for e in desk.venue.journal.entries[-1].events if getattr(e, "name", "") == "rollover_skipped"]
    assert notes and notes[0].data["periods"] == 1000 - MAX_ROLLOVER_CATCHUP


def test_margin_call_then_liquidation(desk: Desk) -> None:
    mm = book(desk, "50000", "50010", qty="50")
    a = margin_account(desk, ZUSD=6_000)
    desk.add(a, "buy", "1", leverage="10")  # margin 5001, equity ~5790
    assert a not in desk.eng.margin.called
    requote(desk, mm, "49100", "49110", qty="50")  # equity ~4880: level ~98
    assert a not in desk.eng.margin.called
    requote(desk, mm, "48000", "48010", qty="50")  # level ~76: margin call
    assert a in desk.eng.margin.called
    assert "margin_call" in notices(desk)
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.01", leverage="10")
    assert e.value.text == "EOrder:Margin level too low"
    requote(desk, mm, "46000", "46010", qty="50")  # level ~36: liquidation
    assert desk.eng.margin.open_positions(a) == []
    closed = desk.eng.closed_orders[a][-1]
    assert closed.liquidation and closed.side == "sell" and closed.filled == 100_000_000
    assert "liquidation" in notices(desk) and "liquidated" in notices(desk)
    # everything accounted: the balance is the sum of the ledger
    acct = desk.venue.accounts.accounts[a]
    assert sum(e.amount - e.fee for e in acct.ledger) == acct.balances["ZUSD"]


def _flow(v: Venue) -> None:
    seq = v.spot_seq
    mm = v.create_account({"ZUSD": D(10_000_000), "XXBT": D(1000)}).account.id
    a = v.create_account({"ZUSD": D(20_000)}, margin=True).account.id

    def add(acct: str, side: str, qty: str, price: str | None = None, **kw: Any) -> None:
        req = OrderRequest("XBTUSD", side, "limit" if price else "market", D(qty), D(price) if price else None, **kw)
        seq.submit("add_order", Origin("rest", "s", acct), {"account_id": acct, "req": req})

    add(mm, "buy", "10", "50000")
    add(mm, "sell", "10", "50010")
    add(a, "buy", "0.3", leverage="3")
    add(a, "sell", "0.1", "52000", leverage="3")
    v.clock.advance_ms(5 * 3600 * 1000)
    seq.poll_timers()
    add(a, "sell", "0.1", leverage="3")


def test_replay_and_snapshot_reproduce_margin_state() -> None:
    cfg = VenueConfig(seed=3, clock_mode="frozen", clock_start_ns=T0)
    v = Venue(cfg)
    _flow(v)
    assert v.spot.margin.positions
    digest = v.state_digest()
    lines = [e.to_json(with_events=False) for e in v.journal.entries]
    r = Venue(VenueConfig(seed=3, clock_mode="frozen", clock_start_ns=T0))
    import json

    from simulator.core.commands import decode_params

    cmds = []
    for d in lines:
        d = json.loads(json.dumps(d))
        d["params"] = decode_params(d["params"])
        cmds.append(d)
    r.replay(cmds)
    assert r.state_digest() == digest
    s = Venue(VenueConfig(seed=3, clock_mode="frozen", clock_start_ns=T0))
    s.from_state(json.loads(json.dumps(materialize(v.to_state()))))
    assert s.state_digest() == digest
    assert [p.id for p in s.spot.margin.open_positions(next(iter(s.spot.margin.open)))]
    assert isinstance(Journal, type)


def test_starter_tier_may_not_open_positions(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = desk.venue.create_account({"ZUSD": D(100_000)}, tier="starter", margin=True).account.id
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.1", leverage="2")
    assert e.value.text == "EOrder:Cannot open position"


def test_margin_allowance_per_currency_and_tier(desk: Desk) -> None:
    book(desk, "50000", "50010", qty="100")
    a = margin_account(desk, ZUSD=1_000_000)  # intermediate: 70 000 USD of extension, 25 XBT
    desk.add(a, "buy", "2", leverage="2")  # extends 50 010 USD
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "1", leverage="2")  # 25 005 more: over 70 000
    assert e.value.text == "EOrder:Margin allowance exceeded"
    desk.add(a, "buy", "0.5", leverage="2")  # 12 502.5 more: within
    # a short extends the base: 25 XBT
    b = margin_account(desk, ZUSD=5_000_000)
    with pytest.raises(EngineError) as e:
        desk.add(b, "sell", "26", leverage="2")
    assert e.value.text == "EOrder:Margin allowance exceeded"
    desk.add(b, "sell", "20", leverage="2")


def test_collateral_of_open_positions_cannot_be_withdrawn(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=20_000)
    desk.add(a, "buy", "1", leverage="5")  # margin 10 002, fees ~210: free margin ~9 780
    acct = desk.venue.accounts.accounts[a]
    free = desk.eng.margin.withdrawable(acct, "ZUSD")
    assert free is not None and 9_700 < D(free).scaleb(-10) < 9_800
    params = {"account_id": a, "asset_name": "USD", "key": "usd-bank", "amount": D(15_000)}
    with pytest.raises(Exception, match="EFunding:Insufficient funds"):
        desk.seq.submit("funding_withdraw", Origin("rest", "s", a), params)
    desk.seq.submit("funding_withdraw", Origin("rest", "s", a), {**params, "amount": D(5_000)})


def test_a_deposit_clears_a_margin_call(desk: Desk) -> None:
    mm = book(desk, "50000", "50010", qty="50")
    a = margin_account(desk, ZUSD=6_000)
    desk.add(a, "buy", "1", leverage="10")
    requote(desk, mm, "48000", "48010", qty="50")
    assert a in desk.eng.margin.called
    desk.seq.submit("adjust_balance", ADMIN, {"account_id": a, "asset": "ZUSD", "amount": D(10_000)})
    assert a not in desk.eng.margin.called
    assert "margin_call_cleared" in notices(desk)


def test_max_leverage_for_an_order_only_on_margin(desk: Desk) -> None:
    from simulator.core.margin import max_leverage

    pairs = desk.venue.instruments.pairs
    assert max_leverage(pairs["XXBTZUSD"], "buy") == 5  # offers 2..10, capped at 5
    assert max_leverage(pairs["ATOMUSD"], "sell") == 3
    assert max_leverage(pairs["USDCUSD"], "buy") == 0


def test_an_account_no_longer_eligible_may_only_reduce(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=50_000)
    desk.add(a, "buy", "0.2", leverage="2")
    desk.seq.submit("set_tier", ADMIN, {"account_id": a, "margin": False})
    with pytest.raises(EngineError) as e:
        desk.add(a, "buy", "0.1", leverage="2")
    assert e.value.text == "EOrder:Cannot open position"
    with pytest.raises(EngineError) as e:
        desk.add(a, "sell", "0.3", leverage="2")  # would close and open the other way
    assert e.value.text == "EOrder:Cannot open opposing position"
    desk.add(a, "sell", "0.1", leverage="2")
    (p,) = desk.eng.margin.open_positions(a)
    assert p.open_vol == 10_000_000


def test_scenario_accounts_may_enable_margin() -> None:
    from simulator.scenario import ScenarioError, parse_scenario

    sc = parse_scenario({"accounts": [{"name": "bot", "margin": True}, {"name": "plain"}]})
    assert [a.margin for a in sc.accounts] == [True, False]
    with pytest.raises(ScenarioError, match="accounts\\[0\\].margin"):
        parse_scenario({"accounts": [{"name": "bot", "margin": "yes"}]})


def test_conditional_close_of_a_margin_order_closes_its_position(desk: Desk) -> None:
    from simulator.core.commands import CloseRequest

    mm = book(desk, "50000", "50010", qty="50")
    a = margin_account(desk, ZUSD=50_000)
    res = desk.add(a, "buy", "0.2", leverage="2", close=CloseRequest("stop-loss", D("49000")))
    (child,) = desk.eng.open_orders[a].values()
    assert child.side == "sell" and child.leverage == 2 and child.margin_hold == 0  # it only closes
    assert res.order.leverage == 2
    requote(desk, mm, "48900", "48910", qty="50")  # a trade at or below 49000 triggers the stop
    seller = desk.account(XXBT=1)
    desk.add(seller, "sell", "0.01")  # last trade 48900: the stop fires and sells into the bid
    assert desk.eng.margin.open_positions(a) == []
    assert child.status == "closed" and child.trades[0].closed == 20_000_000


def test_a_spot_trade_that_eats_the_bid_re_rates_positions(desk: Desk) -> None:
    mm = desk.account(ZUSD=10_000_000, XXBT=1000)
    desk.add(mm, "buy", "1", "50000")
    desk.add(mm, "buy", "50", "46000")
    desk.add(mm, "sell", "50", "50010")
    a = margin_account(desk, ZUSD=6_000)
    desk.add(a, "buy", "1", leverage="10")
    seller = desk.account(XXBT=10)
    desk.add(seller, "sell", "1")  # a spot market sell takes the 50 000 bid: the best bid is now 46 000
    assert desk.eng.margin.open_positions(a) == []  # marked at 46 000: below margin_stop, liquidated
    assert desk.eng.closed_orders[a][-1].liquidation


def test_the_best_bid_expiring_re_rates_positions(desk: Desk) -> None:
    mm = desk.account(ZUSD=10_000_000, XXBT=1000)
    desk.add(mm, "buy", "1", "50000", expire_ns=T0 + 60 * 1_000_000_000)
    desk.add(mm, "buy", "50", "46000")
    desk.add(mm, "sell", "50", "50010")
    a = margin_account(desk, ZUSD=6_000)
    desk.add(a, "buy", "1", leverage="10")
    desk.advance(61_000)  # the 50 000 bid expires: marked at 46 000 now
    assert desk.eng.margin.open_positions(a) == []


def test_reduce_only_orders_left_without_a_position_are_cancelled(desk: Desk) -> None:
    book(desk, "50000", "50010")
    a = margin_account(desk, ZUSD=50_000)
    desk.add(a, "buy", "0.2", leverage="2")
    take_profit = desk.add(a, "sell", "0.2", "60000", leverage="2", reduce_only=True).order
    assert take_profit.status == "open"
    desk.add(a, "sell", "0", leverage="2")  # closes the position at market
    assert desk.eng.margin.open_positions(a) == []
    assert take_profit.status == "canceled" and take_profit.reason == "Reduce only:Position is closed"
