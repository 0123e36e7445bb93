"""The state digest (`GET /admin/state`, `kraken-sim replay`) covers all a
replay must reproduce -- not only balances, orders and trades, but ledgers
entry by entry, timers (GTD expiry, dead man's switch, trigger orders) and
the rate counters, on both markets -- and a replay of a mixed run reaches
exactly the live digest."""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.core.sequencer import Journal
from simulator.core.venue import Venue, VenueConfig
from simulator.gateways import load_gateways
from simulator.pytest_plugin import KrakenVenue
from simulator.server.runtime import Runtime, Settings
from tests.prove.kit import FuturesRest, Rest

PF = "PF_XBTUSD"


def _spot(rest: Rest, creds: dict[str, Any], **params: Any) -> str:
    params.setdefault("pair", "XBTUSD")
    params.setdefault("ordertype", "limit")
    return str(rest.ok(creds, "AddOrder", params)["txid"][0])


def _mixed_run(v: KrakenVenue) -> dict[str, Any]:
    """Orders that rest, fill, get cancelled and expire; a stop waiting for
    its trigger; GTD orders still pending; dead man's switches; rate counters
    (the accounts keep Kraken's limits); the same on derivatives."""
    v.admin.freeze()
    a = v.admin.create_account({"USD": "10000000", "XBT": "100"}, futures_balances={"USD": "1000000"})
    b = v.admin.create_account({"USD": "10000000", "XBT": "100"}, futures_balances={"USD": "1000000"})
    m = v.admin.create_account({"USD": "100000"}, margin=True)
    out: dict[str, Any] = {"a": a, "b": b, "m": m}
    with Rest(v) as rest, FuturesRest(v) as fr:
        # Spot margin: a position (with its rollover timer), a partial close, a margin order resting
        _spot(rest, m, type="buy", ordertype="market", volume="0.02", leverage="2")
        _spot(rest, m, type="sell", ordertype="market", volume="0.005", leverage="2")
        _spot(rest, m, type="buy", price="1000", volume="0.01", leverage="3")
        for i in range(3):
            _spot(rest, a, type="sell", price=str(150000 + i * 10), volume="0.01")
        _spot(rest, b, type="buy", price="150010", volume="0.015")  # fills one and part of another
        gone = _spot(rest, a, type="buy", price="1000", volume="0.01")
        rest.ok(a, "CancelOrder", {"txid": gone})
        out["expires"] = _spot(rest, a, type="buy", price="1001", volume="0.01", expiretm="+5")
        out["pending_gtd"] = _spot(rest, a, type="buy", price="1002", volume="0.01", expiretm="+3600")
        out["stop"] = _spot(rest, b, type="sell", ordertype="stop-loss", price="2000", volume="0.01")
        rest.ok(a, "CancelAllOrdersAfter", {"timeout": 600})

        for i in range(3):
            fr.place(a, PF, "sell", "0.01", str(150000 + i * 10))
        fr.ok(b, "POST", "sendorder", {"orderType": "lmt", "symbol": PF, "side": "buy", "size": "0.015",
                                       "limitPrice": "150010"})
        res = fr.ok(b, "POST", "sendorder", {"orderType": "stp", "symbol": PF, "side": "sell", "size": "0.01",
                                             "stopPrice": "2000", "triggerSignal": "mark"})
        out["futures_stop"] = res["sendStatus"]["order_id"]
        fr.ok(b, "POST", "cancelallordersafter", {"timeout": "600"})
    v.admin.advance(10_000)  # the +5 s order expires: the venue's timer task runs the tick
    deadline = time.monotonic() + 10
    with Rest(v) as rest:
        while rest.ok(a, "QueryOrders", {"txid": out["expires"]})[out["expires"]]["status"] != "expired":
            assert time.monotonic() < deadline, "the GTD order never expired"
            time.sleep(0.02)
    return out


def _replayed(journal: Path) -> Venue:
    """The run rebuilt in this process from its journal (as `kraken-sim replay` does)."""
    commands = list(Journal.read_commands(str(journal)))
    venue = Venue(VenueConfig(seed=0, clock_mode="frozen", clock_start_ns=commands[0]["ts"]))
    rt = Runtime(venue, Settings(seed=0))
    for gw in load_gateways():
        prep = getattr(gw, "prepare", None)
        if prep is not None:
            prep(rt)
    venue.replay(commands)
    return venue


@pytest.fixture
def recorded(kraken_venue: KrakenVenue, tmp_path: Path) -> Iterator[tuple[KrakenVenue, dict[str, Any], Path]]:
    run = _mixed_run(kraken_venue)
    path = tmp_path / "journal.jsonl"
    path.write_bytes(httpx.get(kraken_venue.admin.base + "/journal.jsonl", timeout=30).content)
    yield kraken_venue, run, path


def test_replay_of_a_mixed_run_reproduces_the_digest(recorded: tuple[KrakenVenue, dict[str, Any], Path]) -> None:
    v, run, path = recorded
    live = v.admin.request("GET", "/state")
    venue = v.runtime.venue
    # the run holds what the digest must now cover
    assert venue.ratelimits.trading and any(c.value for c in venue.ratelimits.trading.values())
    assert venue.spot.dead_man and any(k == "expire" for _, _, k, _ in venue.spot._timers)
    assert any(o.id == run["stop"] for stops in venue.spot.stops.values() for o in stops)
    fut = venue.derivatives
    assert any(o.id == run["futures_stop"] for t in fut.triggers.values() for o in t)
    assert fut.state[run["b"]["account_id"]].dms_at > 0
    assert sum(len(a.ledger) for a in venue.accounts.accounts.values()) > 0
    assert venue.spot.margin.open_positions(run["m"]["account_id"])  # and Spot margin positions
    assert any(k == "rollover" for _, _, k, _ in venue.spot._timers)

    out = subprocess.run([sys.executable, "-m", "simulator", "replay", str(path), "--seed", "0"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == {"replayed": live["journal_last"], "digest": live["digest"]}
    assert _replayed(path).state_digest() == live["digest"]


def _bump_ledger_amount(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    e = v.accounts.accounts[run["a"]["account_id"]].ledger[-1]
    e.amount += 1  # the balance stays: only the ledger says otherwise
    return lambda: setattr(e, "amount", e.amount - 1)


def _bump_ledger_time(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    e = v.accounts.accounts[run["b"]["account_id"]].ledger[0]
    e.time_ns += 1
    return lambda: setattr(e, "time_ns", e.time_ns - 1)


def _extra_timer(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    timers = v.spot._timers
    item = (max(t[0] for t in timers) + 1, 10**9, "expire", run["pending_gtd"])
    heapq.heappush(timers, item)
    return lambda: (timers.remove(item), heapq.heapify(timers))  # type: ignore[func-returns-value]


def _later_expiry(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    o = v.spot.orders[run["pending_gtd"]]
    o.expire_ns += 1
    return lambda: setattr(o, "expire_ns", o.expire_ns - 1)


def _rate_counter(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    c = next(c for c in v.ratelimits.trading.values() if c.value)
    c.value += 1
    return lambda: setattr(c, "value", c.value - 1)


def _futures_dms(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    fa = v.derivatives.state[run["b"]["account_id"]]
    fa.dms_at += 1
    return lambda: setattr(fa, "dms_at", fa.dms_at - 1)


def _futures_trigger(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    o = v.derivatives.orders[run["futures_stop"]]
    o.signal = "index"
    return lambda: setattr(o, "signal", "mark")


def _futures_fill_fee(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    f = v.derivatives.state[run["b"]["account_id"]].fills[-1]
    f.fee += 1
    return lambda: setattr(f, "fee", f.fee - 1)


def _position_closed_vol(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    [pos] = v.spot.margin.open_positions(run["m"]["account_id"])
    pos.vol_closed += 1
    return lambda: setattr(pos, "vol_closed", pos.vol_closed - 1)


def _margin_reserved(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    d = v.spot.margin.reserved[run["m"]["account_id"]]
    d["ZUSD"] += 1
    return lambda: d.__setitem__("ZUSD", d["ZUSD"] - 1)


def _margin_flag(v: Venue, run: dict[str, Any]) -> Callable[[], None]:
    acct = v.accounts.accounts[run["m"]["account_id"]]
    acct.margin_enabled = False
    return lambda: setattr(acct, "margin_enabled", True)


DIVERGENCES = [_bump_ledger_amount, _bump_ledger_time, _extra_timer, _later_expiry, _rate_counter, _futures_dms,
               _futures_trigger, _futures_fill_fee, _position_closed_vol, _margin_reserved, _margin_flag]


@pytest.mark.parametrize("diverge", DIVERGENCES, ids=[d.__name__.strip("_") for d in DIVERGENCES])
def test_a_divergent_ledger_timer_or_counter_changes_the_digest(
    recorded: tuple[KrakenVenue, dict[str, Any], Path], diverge: Callable[[Venue, dict[str, Any]], Callable[[], None]]
) -> None:
    v, run, path = recorded
    venue = _replayed(path)
    same = venue.state_digest()
    assert same == v.admin.request("GET", "/state")["digest"]
    undo = diverge(venue, run)
    assert venue.state_digest() != same
    undo()
    assert venue.state_digest() == same


def test_reading_a_rate_counter_changes_no_state(recorded: tuple[KrakenVenue, dict[str, Any], Path]) -> None:
    """WS `ratecounter` reads the trading counter at wall-clock time, outside
    the journal: the read must leave the counter as the commands left it, or
    the next (journaled) charge would see a value no replay reproduces."""
    v, run, path = recorded
    venue = _replayed(path)
    same = venue.state_digest()
    acct = venue.accounts.accounts[run["a"]["account_id"]]
    (_, pair_id), counter = next((k, c) for k, c in venue.ratelimits.trading.items() if k[0] == acct.id and c.value)
    later = counter.at_ns + 3 * 10**9
    assert 0 <= venue.ratelimits.trade_counter(acct, pair_id, later) < counter.value / 1e6
    assert venue.state_digest() == same
