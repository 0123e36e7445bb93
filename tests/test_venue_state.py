"""Explicit saved state (`Venue.to_state()` / `from_state()`): plain records
only (JSON, no live objects), a load reaches the same digest, and both
venues go on identically (same next ids).  Every attribute of each state
owner is either saved or named wiring here: a new field that is neither
fails, so it cannot silently go missing from snapshots."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from simulator.core.accounts import Account, ApiKey, LedgerEntry
from simulator.core.commands import AmendRequest, OrderRequest
from simulator.core.derivatives.model import FAccount, FOrder
from simulator.core.engine import SpotEngine
from simulator.core.events import Fill
from simulator.core.orders import Order, Origin
from simulator.core.state import Deferred, materialize
from simulator.core.venue import Venue, VenueConfig

T0 = 1_767_225_600_000_000_000  # 2026-01-01
PF = "PF_XBTUSD"
REST = Origin("rest", "s1")


def _limit(side: str, price: str, qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest("XBTUSD", side, "limit", Decimal(qty), price=Decimal(price), **kw)


def _futures(side: str, price: str, size: str, otype: str = "lmt", **kw: Any) -> dict[str, Any]:
    req: dict[str, Any] = {"orderType": otype, "symbol": PF, "side": side, "size": Decimal(size), "reduceOnly": False}
    if otype == "stp":
        req["stopPrice"] = Decimal(price)
    else:
        req["limitPrice"] = Decimal(price)
    req.update(kw)
    return req


def _busy_venue() -> tuple[Venue, str, str]:
    """Spot: resting, filled, cancelled, amended, GTD, stop and close orders,
    an export, a withdrawal, a dead man's switch, a subaccount; derivatives:
    resting, filled and trigger orders, positions."""
    v = Venue(VenueConfig(seed=11, clock_mode="frozen", clock_start_ns=T0))
    a = v.create_account({"ZUSD": Decimal("1000000"), "XXBT": Decimal("10")}).account.id
    b = v.create_account({"ZUSD": Decimal("1000000"), "XXBT": Decimal("10")}).account.id
    spot = v.spot_seq
    for i in range(3):
        spot.submit("add_order", REST, {"account_id": a, "req": _limit("sell", str(70000 + 10 * i), "0.01")})
    spot.submit("add_order", REST, {"account_id": b, "req": _limit("buy", "70010", "0.015")})
    gone = spot.submit("add_order", REST, {"account_id": a, "req": _limit("buy", "1000", "0.01")}).order
    spot.submit("cancel_order", REST, {"account_id": a, "order_id": gone.id})
    amended = spot.submit("add_order", REST, {"account_id": a, "req": _limit("buy", "1100", "0.02", cl_ord_id="c-1")})
    spot.submit("amend_order", REST, {"account_id": a, "req": AmendRequest(order_id=amended.order.id,
                                                                           qty=Decimal("0.03"))})
    spot.submit("add_order", REST, {"account_id": a, "req": _limit("buy", "1200", "0.01", tif="GTD",
                                                                   expire_ns=T0 + 3_600_000_000_000)})
    stop = OrderRequest("XBTUSD", "sell", "stop-loss", Decimal("0.01"), price=Decimal("2000"))
    spot.submit("add_order", REST, {"account_id": b, "req": stop})
    spot.submit("cancel_all_after", REST, {"account_id": a, "timeout": 600})
    spot.submit("add_export", REST, {"account_id": a, "report": "trades", "description": "mine"})
    spot.submit("funding_create_subaccount", REST, {"account_id": a, "username": "sub1", "email": "s@x.io"})
    for acct in (a, b):
        v.deposit_derivatives(acct, "USD", Decimal("100000"))
    fut = v.derivatives_seq
    for i in range(3):
        fut.submit("send_order", REST, {"account_id": a, "req": _futures("sell", str(90000 + 10 * i), "0.01")})
    fut.submit("send_order", REST, {"account_id": b, "req": _futures("buy", "90010", "0.015")})
    fut.submit("send_order", REST, {"account_id": b, "req": _futures("sell", "50000", "0.01", "stp")})
    v.clock.advance_ns(2_000_000_000)
    return v, a, b


def _round_trip(v: Venue) -> Venue:
    text = json.dumps(v.to_state())  # plain records: the stdlib JSON writer takes them as they are
    fresh = Venue(v.config)
    fresh.from_state(json.loads(text))
    fresh.clock.set_ns(v.clock.now_ns())
    return fresh


def _plain(x: Any, path: str = "") -> None:
    if isinstance(x, dict):
        for k, y in x.items():
            assert isinstance(k, str), f"{path}: key {k!r}"
            _plain(y, f"{path}.{k}")
    elif isinstance(x, list):
        for i, y in enumerate(x):
            _plain(y, f"{path}[{i}]")
    else:
        assert x is None or type(x) in (str, int, bool), f"{path}: {type(x).__name__}"


def test_state_is_plain_records_and_loads_to_the_same_digest() -> None:
    v, _, _ = _busy_venue()
    state = v.to_state()
    _plain(state)
    fresh = _round_trip(v)
    assert fresh.state_digest() == v.state_digest()
    assert fresh.to_state() == state  # nothing lost or reshaped on the way back
    assert len(fresh.journal.entries) == len(v.journal.entries) and fresh.journal._seq == v.journal._seq
    # the journal's entries with their events, as a reader sees them
    assert [e.to_json() for e in fresh.journal.entries] == [e.to_json() for e in v.journal.entries]


def test_history_is_deferred_until_written() -> None:
    """What a snapshot takes with the sequencers held: history only as references."""
    v, _, _ = _busy_venue()
    captured = v.capture_state()
    assert isinstance(captured["spot"]["history"], Deferred)
    assert isinstance(captured["derivatives"]["history"], Deferred)
    assert all(isinstance(a["ledger"], Deferred) for a in captured["accounts"]["accounts"])
    # built later, after more trading, it still describes the moment it was taken
    before = v.to_state()
    spot = v.spot_seq
    a = next(iter(v.spot.open_orders))
    spot.submit("add_order", REST, {"account_id": a, "req": _limit("buy", "70040", "0.02")})
    assert materialize(captured) == before


def test_both_venues_go_on_identically() -> None:
    v, a, b = _busy_venue()
    fresh = _round_trip(v)
    outcomes = []
    for venue in (v, fresh):
        spot, fut = venue.spot_seq, venue.derivatives_seq
        taker = spot.submit("add_order", REST, {"account_id": b, "req": _limit("buy", "70030", "0.02")}).order
        fill_ids = [f.id for f in taker.trades]
        ledger_ids = [e.id for e in venue.accounts.accounts[b].ledger[-4:]]
        fres = fut.submit("send_order", REST, {"account_id": b, "req": _futures("buy", "90020", "0.02")})
        venue.clock.advance_ns(3_600_000_000_000)  # the GTD order expires, the dead man's switch fires, funding runs
        spot.submit("tick", Origin("timer"))
        fut.submit("tick", Origin("timer"))
        creds = venue.create_account({"ZUSD": Decimal("5")})
        outcomes.append((taker.id, taker.status, fill_ids, ledger_ids, fres.order_id,
                         [e.type for e in fres.events], creds.account.id, creds.spot_key.key, venue.state_digest()))
    assert outcomes[0] == outcomes[1]


def test_a_restored_fill_and_its_ledger_entries_are_linked() -> None:
    v, _, b = _busy_venue()
    fresh = _round_trip(v)
    fills = fresh.spot.fills[b]
    assert len(fills) == 2  # the taker ate one ask whole and part of the next
    for fill in fills:
        assert fill.order is fresh.spot.orders[fill.order.id]
        assert fill in fill.order.trades
        assert len(fill.ledger) == 2 and all(e.ref is fill for e in fill.ledger)
        assert all(e in fresh.accounts.accounts[b].ledger for e in fill.ledger)
    book = fresh.spot.books["XXBTZUSD"]
    assert all(o is fresh.spot.orders[o.id] for o in book.orders())


# ---------------------------------------------------------------- coverage guard
# attributes each owner does not save: wiring rebuilt from the config, caches, in-flight events, and the
# derived read indexes (`history`, `market`), which rebuild themselves from the saved lists on first read
WIRING: dict[type, set[str]] = {
    SpotEngine: {"instruments", "accounts", "ids", "config", "events", "_fee_cache", "admission", "timer_handlers",
                 "history", "market", "_retain_floor", "_retain_trades_floor"},
}
SAVED_SPOT = {"now_ns", "status", "books", "orders", "open_orders", "closed_orders", "fills", "trades", "trade_seq",
              "last_price", "index_price", "stops", "cl_ids", "open_count", "dead_man", "exports", "amend_history", "retention",
              "_timers", "_timer_seq", "_timers_compact_at", "margin"}  # fmt: skip
SAVED_DERIVATIVES = {"now_ns", "status", "books", "triggers", "orders", "state", "trades", "trade_seq", "last", "mark",
                     "index", "mark_samples", "index_samples", "funding_override", "funding_history",
                     "last_funding_ns", "open_interest", "house", "house_positions", "notifications", "_timers",
                     "_timer_seq", "_timers_compact_at", "_funding_at", "_expiry_armed", "asset_usd"}  # fmt: skip
WIRING_DERIVATIVES = {"instruments", "accounts", "ids", "config", "events", "specs", "_touched", "market"}
SAVED_FUNDING = {"addresses", "withdrawals", "allocations", "subaccount_names"}
WIRING_FUNDING = {"config", "instruments", "accounts", "account", "_create_account", "_strategies"}
VENUE_PARTS = {"config", "clock", "ids", "instruments", "accounts", "journal", "spot", "ratelimits", "funding",
               "spot_seq", "derivatives", "futures_ratelimits", "derivatives_seq", "sequencers", "limits",
               "credentials", "extensions"}  # fmt: skip


@pytest.mark.parametrize(
    ("owner", "saved", "wiring"),
    [
        ("spot", SAVED_SPOT, WIRING[SpotEngine]),
        ("derivatives", SAVED_DERIVATIVES, WIRING_DERIVATIVES),
        ("funding", SAVED_FUNDING, WIRING_FUNDING),
    ],
)
def test_every_attribute_is_saved_or_wiring(owner: str, saved: set[str], wiring: set[str]) -> None:
    obj = getattr(Venue(VenueConfig(seed=1)), owner)
    unknown = set(vars(obj)) - saved - wiring
    assert not unknown, f"{type(obj).__name__}: save {sorted(unknown)} in to_state()/from_state(), or name it wiring"


def test_every_venue_part_is_known() -> None:
    v = Venue(VenueConfig(seed=1))
    assert set(vars(v)) == VENUE_PARTS, "a new venue part: save it in Venue.to_state()/from_state()"


@pytest.mark.parametrize("cls", [Order, Fill, LedgerEntry, Account, FOrder, FAccount, ApiKey])
def test_records_name_every_field(cls: type) -> None:
    """Slotted records are saved field by field: these are the fields the
    savers know (Order and FOrder are saved by their slot list, so any new
    slot rides along; the others are listed)."""
    from simulator.core import spot_state
    from simulator.core.digest import field_names

    known = {
        Order: set(field_names(Order)),
        FOrder: set(field_names(FOrder)),
        Fill: {"_bits", "_id", "order", "ledger", *spot_state._FILL_FIELDS},
        LedgerEntry: {"_bits", "_id", "ref", "account_id", "time_ns", "type", "subtype", "asset", "amount", "fee",
                      "balance"},
        Account: {"id", "balances", "held", "tier", "volume_30d", "parent_id", "subaccounts", "keys", "ledger",
                  "rate_limits_enabled", "futures", "name", "margin_enabled"},
        FAccount: {"id", "flex", "inverse", "cash", "positions", "open", "closed", "fills", "logs", "history",
                   "leverage", "pnl_pref", "dms_at", "fill_seq", "log_seq"},
        ApiKey: {"key", "secret", "account_id", "kind", "permissions", "nonce_window", "otp", "last_nonce",
                 "seen_nonces"},
    }[cls]  # fmt: skip
    assert set(field_names(cls)) == known, f"{cls.__name__}: a new field; save it in its owner's to_state()"


def test_margin_book_attributes_are_saved_or_wiring() -> None:
    """The Spot engine's margin book is saved field by field too."""
    m = Venue(VenueConfig(seed=1)).spot.margin
    saved = {"positions", "open", "by_pair", "open_n", "closed", "closing", "reserved", "called", "liquidations"}
    wiring = {"eng", "touched_pairs", "touched_accounts", "emptied", "_terms", "_pair_of", "pending"}  # per command
    assert set(vars(m)) - saved - wiring == set()
