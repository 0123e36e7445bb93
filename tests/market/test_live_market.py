"""Participants driving a real engine (no server): the sequencer path, the
venue clock, determinism and journal replay."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from simulator.core.clock import VenueClock
from simulator.core.participants import maker_name, taker_name
from simulator.core.sequencer import Journal
from simulator.core.venue import Venue, VenueConfig
from simulator.server.market import LiveMarket, MarketConfig, create_bot_account, load_series, parse_market_config

T0 = 1_767_225_600_000_000_000


def venue(seed: int = 3) -> Venue:
    clock = VenueClock("frozen")
    clock.set_ns(T0)  # exactly T0 (a start given to a running clock drifts by the ns it took to freeze)
    return Venue(VenueConfig(seed=seed), clock=clock)


def live(v: Venue, cfg: MarketConfig, seed: int = 3) -> LiveMarket:
    pair = v.instruments.pair(cfg.symbol)
    assert pair is not None
    agents = [maker_name(i) for i in range(cfg.makers)] + [taker_name(i) for i in range(cfg.takers)]
    accounts = {a: create_bot_account(v, f"{a}:{pair.id}") for a in agents}
    return LiveMarket(v, cfg, seed, v.clock.now_ns(), accounts)


def run(v: Venue, m: LiveMarket, seconds: int, step_ms: int = 1000) -> None:
    for _ in range(seconds * 1000 // step_ms):
        v.clock.advance_ms(step_ms)
        m.run_due(v.clock.now_ns())
        book = v.spot.books[m.pair.id]
        assert not book.is_crossed()


CFG = {"symbol": "BTC/USD", "makers": 2, "takers": 2, "taker": {"rate": 0.5}, "walk": {"vol_bps": 3}}


def test_participants_trade_through_the_sequencer_from_their_own_accounts() -> None:
    v = venue()
    m = live(v, parse_market_config(CFG))
    start = v.clock.now_ns()
    assert m.run_due(v.clock.now_ns()) == 0  # frozen clock: nothing until time moves
    run(v, m, 30)
    assert m.steps == 60
    trades = v.spot.trades[m.pair.id]
    assert len(trades) > 10
    bots = set(m.agents.values())
    entries = [e for e in v.journal.entries if e.origin.protocol == "bot" and e.kind != "create_account"]
    assert entries and all(e.origin.account_id in bots for e in entries)
    assert {e.kind for e in entries} >= {"add_order", "amend_order"}
    # each maker quotes both sides; takers only take (IOC): nothing of theirs rests
    for agent, acct in m.agents.items():
        resting = [o for o in v.spot.open_orders.get(acct, {}).values()]
        if agent.startswith("maker"):
            assert {o.side for o in resting} == {"buy", "sell"}
        else:
            assert resting == []
    # every command is stamped with its step's venue time, on the grid
    assert {(e.ts - start) % 500_000_000 for e in entries} == {0}
    assert not m.rejects or set(m.rejects) <= {"EOrder:Post only order", "EOrder:Unknown order"}


def test_same_seed_same_journal_and_replay_rebuilds_the_state(tmp_path: Path) -> None:
    def one() -> Venue:
        v = venue()
        run(v, live(v, parse_market_config(CFG)), 20)
        return v

    a, b = one(), one()
    ja = [e.to_json(with_events=False) for e in a.journal.entries]
    jb = [e.to_json(with_events=False) for e in b.journal.entries]
    assert ja == jb
    assert a.state_digest() == b.state_digest()
    path = tmp_path / "journal.jsonl"
    a.journal.write_jsonl(str(path))
    fresh = venue()
    n = fresh.replay(Journal.read_commands(str(path)))
    assert n == len(ja)
    assert fresh.state_digest() == a.state_digest()
    # a different seed makes a different market
    c = venue()
    run(c, live(c, parse_market_config(CFG), seed=4), 20)
    assert c.state_digest() != a.state_digest()


def test_a_large_clock_jump_runs_at_most_max_catchup_steps() -> None:
    v = venue()
    m = live(v, parse_market_config({**CFG, "max_catchup": 25, "interval_ms": 100}))
    v.clock.advance_ms(3_600_000)
    assert m.run_due(v.clock.now_ns()) == 25
    assert m.run_due(v.clock.now_ns()) == 0
    # the steps that ran are the most recent ones
    last = max(e.ts for e in v.journal.entries if e.origin.protocol == "bot")
    assert last == v.clock.now_ns()


def test_series_walk_follows_the_shipped_recording() -> None:
    v = venue()
    pair = v.instruments.pair("BTC/USD")
    assert pair is not None
    pts = load_series("btcusd_1m.csv", pair)
    assert len(pts) > 700 and pts[0][0] == 0
    assert pts[1][0] == 60_000_000_000
    m = live(v, parse_market_config({"symbol": "BTC/USD", "makers": 1, "takers": 0, "walk": {"kind": "series", "speed": 60}}))
    run(v, m, 10)
    # 10 s at 60x = the 10th minute of the recording
    assert m.model.reference == pts[10][1]
    bids = v.spot.books[pair.id].l2("buy", 1)
    assert bids and abs(bids[0][0] - pts[10][1]) < pts[10][1] // 1000


def test_disabled_and_withdrawn_markets_stop_and_leave_nothing() -> None:
    v = venue()
    m = live(v, parse_market_config(CFG))
    run(v, m, 5)
    m.withdraw()
    m.cfg.enabled = False
    steps = m.steps
    run(v, m, 5)
    assert m.steps == steps
    assert all(not v.spot.open_orders.get(acct) for acct in m.agents.values())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "market.symbol: required"),
        ({"symbol": "X", "makers": -1}, "market.makers"),
        ({"symbol": "X", "makers": "2"}, "market.makers: must be an integer"),
        ({"symbol": "X", "walk": {"kind": "levy"}}, "market.walk.kind"),
        ({"symbol": "X", "walk": {"vol": 1}}, "market.walk.vol: unknown field"),
        ({"symbol": "X", "taker": {"rate": 2}}, "market.taker.rate"),
        ({"symbol": "X", "maker": {"qty": ["2", "1"]}}, "market.maker.qty"),
        ({"symbol": "X", "colour": "red"}, "market.colour: unknown field"),
    ],
)
def test_config_errors_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        parse_market_config(data)


def test_config_merges_over_a_base_and_converts_units() -> None:
    base = parse_market_config({"symbol": "BTC/USD", "makers": 3, "walk": {"kind": "series"}})
    assert base.walk["file"] == "btcusd_1m.csv"
    cfg = parse_market_config({"takers": 4, "maker": {"qty": ["0.001", "0.002"]}}, base=base)
    assert (cfg.symbol, cfg.makers, cfg.takers) == ("BTC/USD", 3, 4)
    v = venue()
    m = live(v, parse_market_config({"symbol": "BTC/USD", "maker": {"qty": ["0.001", "0.002"], "levels": 2}}))
    run(v, m, 1)
    sizes = {o.qty for acct in m.agents.values() for o in v.spot.open_orders.get(acct, {}).values()}
    assert sizes and all(Decimal(100_000) <= s <= Decimal(200_000) for s in sizes)
