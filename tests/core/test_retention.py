"""Retention (issue 15.11): finished history past the policy leaves memory,
the newest stays queryable, and a replay cuts at the same places."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from simulator.core.commands import OrderRequest
from simulator.core.engine import EngineConfig
from simulator.core.orders import Origin
from simulator.core.retention import DAY_NS, Retention, RetentionPolicy, bound
from simulator.core.sequencer import Journal
from simulator.core.venue import Venue, VenueConfig
from simulator.scenario import ScenarioError, parse_scenario, retention_policy

from .conftest import T0

KEEP = 16


def _venue(policy: RetentionPolicy) -> Venue:
    return Venue(VenueConfig(seed=3, clock_mode="frozen", clock_start_ns=T0, engine=EngineConfig(retention=policy)))


def _trade_rounds(v: Venue, rounds: int, step_ms: int = 1000) -> tuple[str, str]:
    """`rounds` crossings between a maker and a taker: each closes two orders,
    makes two fills and four ledger entries, one public trade."""
    maker = v.create_account({"USD": D(10**9), "XBT": D(10**4)}).account.id
    taker = v.create_account({"USD": D(10**9), "XBT": D(10**4)}).account.id
    seq = v.spot_seq
    for _ in range(rounds):
        v.clock.advance_ms(step_ms)
        for acct, side in ((maker, "sell"), (taker, "buy")):
            req = OrderRequest("XBTUSD", side, "limit", D("0.01"), D("50000"))
            seq.submit("add_order", Origin("rest", "s", acct), {"account_id": acct, "req": req})
    return maker, taker


def test_history_stays_within_its_bound_and_the_newest_is_kept() -> None:
    v = _venue(RetentionPolicy(keep=KEEP, trades_keep=KEEP))
    maker, taker = _trade_rounds(v, 200)
    eng = v.spot
    cap = KEEP + (KEEP >> 3)
    for acct in (maker, taker):
        closed = eng.closed_orders[acct]
        assert KEEP <= len(closed) <= cap
        assert KEEP <= len(eng.fills[acct]) <= cap
        assert KEEP <= len(v.accounts.accounts[acct].ledger) <= cap
        # the newest are the ones kept, in order
        assert [o.closed_ns for o in closed] == sorted(o.closed_ns for o in closed)
        assert closed[-1].closed_ns == eng.now_ns
    assert KEEP <= len(eng.trades["XXBTZUSD"]) <= cap
    assert eng.trades["XXBTZUSD"][-1].trade_id == 200
    # a closed order that left is unknown everywhere (queries: as if it never existed)
    assert len([o for o in eng.orders.values() if o.account_id == maker]) == len(eng.closed_orders[maker])
    assert eng.retention.dropped[("closed", maker)] == 200 - len(eng.closed_orders[maker])


def test_without_a_policy_nothing_leaves() -> None:
    v = _venue(RetentionPolicy.unbounded())
    maker, _ = _trade_rounds(v, 60)
    assert len(v.spot.closed_orders[maker]) == 60
    assert len(v.accounts.accounts[maker].ledger) >= 120
    assert not v.spot.retention.dropped


def test_the_age_horizon_drops_old_history_too() -> None:
    hour = 3600 * 10**9
    v = _venue(RetentionPolicy(keep=1000, trades_keep=1000, max_age_ns=hour))
    maker, _ = _trade_rounds(v, 40, step_ms=5 * 60_000)  # 40 rounds 5 minutes apart
    closed = v.spot.closed_orders[maker]
    oldest_allowed = v.spot.now_ns - hour - (hour >> 3)
    assert all(o.closed_ns >= oldest_allowed for o in closed)
    assert len(closed) < 40


def test_replay_cuts_at_the_same_places(tmp_path: Path) -> None:
    policy = RetentionPolicy(keep=KEEP, trades_keep=KEEP)
    v = _venue(policy)
    _trade_rounds(v, 120)
    path = tmp_path / "journal.jsonl"
    v.journal.write_jsonl(str(path))
    again = _venue(policy)
    again.replay(Journal.read_commands(str(path)))
    assert again.spot.retention.dropped == v.spot.retention.dropped
    assert again.state_digest() == v.state_digest()


def test_pruning_is_amortised() -> None:
    """A list is cut once per eighth of its bound, not on every append."""
    r = Retention(RetentionPolicy(keep=80))
    items: list[int] = []
    cuts = 0
    for i in range(10_000):
        items.append(i)
        cuts += bool(r.appended("k", items, i, lambda x: x))
    assert 80 <= len(items) <= 90 and items[-1] == 9999
    assert cuts <= 10_000 // 10 + 1
    samples = list(range(100))
    assert bound(samples, 100) == 0 and bound(samples + list(range(20)), 100) == 20


@pytest.mark.parametrize("bad", [{"keep": -1}, {"keep": "x"}, {"days": True}, {"forever": 1}])
def test_scenario_retention_table_is_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ScenarioError, match="retention"):
        parse_scenario({"retention": bad})


def test_flags_override_the_scenario_and_zero_means_all() -> None:
    sc = parse_scenario({"retention": {"keep": 500, "trades_keep": 0, "days": 2}})
    p = retention_policy(sc.retention)
    assert (p.keep, p.trades_keep, p.max_age_ns) == (500, None, 2 * DAY_NS)
    p = retention_policy(sc.retention, keep=7, days=0)
    assert (p.keep, p.trades_keep, p.max_age_ns) == (7, None, None)
    assert retention_policy(None) == RetentionPolicy()


def test_an_order_amended_all_day_keeps_its_original_and_newest_amends() -> None:
    from simulator.core import amends

    h = amends.AmendHistory()
    orig = amends.AmendRecord("A0", amends.ORIGINAL, 1, 0, 1, 1, None, False, 0)
    for i in range(1, 5000):
        h.record("O1", orig, amends.AmendRecord(f"A{i}", amends.USER, 1, 0, 1, i, None, False, i))
    versions = h.of("O1")
    assert versions[0] is orig
    assert amends.AMENDS_KEEP <= len(versions) - 1 <= amends.AMENDS_KEEP + (amends.AMENDS_KEEP >> 3)
    assert versions[-1].amend_id == "A4999" and [v.ts for v in versions[1:]] == sorted(v.ts for v in versions[1:])


def test_replay_cli_takes_the_runs_retention_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from simulator.cli import main

    v = _venue(RetentionPolicy(keep=KEEP, trades_keep=KEEP))
    _trade_rounds(v, 60)
    path = tmp_path / "journal.jsonl"
    v.journal.write_jsonl(str(path))
    flags = ["--seed", "3", "--history-keep", str(KEEP), "--trades-keep", str(KEEP)]
    assert main(["replay", str(path), *flags]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == v.state_digest()
    assert main(["replay", str(path), "--seed", "3"]) == 0  # the default policy keeps more: another state
    assert json.loads(capsys.readouterr().out)["digest"] != v.state_digest()
    assert main(["replay", str(path), "--history-keep", "-1"]) == 2
