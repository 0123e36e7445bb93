"""Building the configured starting state: demo account, scenario accounts,
resting liquidity.  Everything goes through the venue's commands, so it is
journaled and a reset rebuilds the same state (same seed, same keys)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.core.commands import OrderRequest
from simulator.core.errors import EngineError, Reject
from simulator.core.instruments import SpotPair
from simulator.core.numbers import bounded, to_decimal
from simulator.core.orders import BUY, SELL, Origin
from simulator.core.venue import AccountCredentials, Venue

from .runtime import Runtime
from .scenario import BookSeed, Scenario

ADMIN = Origin("admin", "seed")
MM_BALANCE = Decimal("1000000000")


def market_maker(rt: Runtime) -> AccountCredentials:
    """The account that owns seeded liquidity (created on first use)."""
    mm: AccountCredentials | None = rt.hooks.get("market_maker")
    if mm is None:
        venue = rt.venue
        mm = venue.create_account(
            {a.id: MM_BALANCE for a in venue.instruments.assets.values()}, tier="pro", rate_limits=False
        )
        rt.hooks["market_maker"] = mm
    return mm


def seed_book(rt: Runtime, seed: BookSeed, clear: bool = False) -> list[str]:
    """Place resting bids/asks for one symbol; returns the order ids.

    All or nothing: every level is checked by the engine's own order rules
    (numbers, ticks, lots, minimums) before the first is placed or anything is
    cleared, so a refused book leaves the venue as it was."""
    venue = rt.venue
    pair = venue.instruments.pair(seed.symbol)
    if pair is None:
        raise EngineError(Reject.UNKNOWN_PAIR)
    bids, asks = list(seed.bids), list(seed.asks)
    if not bids and not asks:
        try:
            bids, asks = ladder(venue, pair, seed)
        except ArithmeticError as exc:  # a mid/qty too large for the pair's decimals
            raise ValueError(f"mid, step or qty out of range for {pair.altname}") from exc
    reqs = [
        OrderRequest(pair.id, side, "limit", bounded(to_decimal(qty)), bounded(to_decimal(price)))
        for side, levels in ((BUY, bids), (SELL, asks))
        for price, qty in levels
    ]
    mm = market_maker(rt)
    acct_id = mm.account.id
    with venue.spot_seq._lock:
        for req in reqs:
            venue.spot.build_order(acct_id, req)  # a pure check: raises EngineError, changes nothing
        if clear:
            venue.spot_seq.submit("cancel_all", ADMIN, {"account_id": acct_id, "pair": pair.id})
        ids: list[str] = []
        for req in reqs:
            res = venue.spot_seq.submit("add_order", ADMIN, {"account_id": acct_id, "req": req})
            if res.order is not None:
                ids.append(res.order.id)
    return ids


def ladder(venue: Venue, pair: SpotPair, seed: BookSeed) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A symmetric ladder of `levels` prices each side of the mid."""
    mid = Decimal(seed.mid) if seed.mid else venue.instruments.reference_prices.get(pair.id)
    if not mid:
        return [], []
    tick = pair.tick_size
    step = Decimal(seed.step) if seed.step else tick * 10
    if step < tick:
        step = tick
    step = (step / tick).to_integral_value() * tick
    mid = (mid / tick).to_integral_value() * tick
    qty = Decimal(seed.qty) if seed.qty else (pair.ordermin * 2000)
    qty = qty.quantize(Decimal(1).scaleb(-pair.lot_decimals))
    q = Decimal(1).scaleb(-pair.pair_decimals)
    bids = [(str((mid - step * i).quantize(q)), str(qty)) for i in range(1, seed.levels + 1) if mid - step * i > 0]
    asks = [(str((mid + step * i).quantize(q)), str(qty)) for i in range(1, seed.levels + 1)]
    return bids, asks


def build_state(rt: Runtime, scenario: Scenario) -> None:
    """Demo account first (its keys are stable across resets), then the rest."""
    venue = rt.venue
    rt.demo = venue.create_account(dict(scenario.demo_balances))
    fut = rt.hooks.get("futures_deposit")
    if fut is not None:
        for asset, amount in scenario.demo_futures_balances.items():
            fut(rt.demo.account.id, asset, Decimal(amount))
    named: dict[str, Any] = {}
    for a in scenario.accounts:
        creds = venue.create_account(dict(a.balances), tier=a.tier, nonce_window=a.nonce_window)
        named[a.name] = creds
        if fut is not None:
            for asset, amount in a.futures_balances.items():
                fut(creds.account.id, asset, Decimal(amount))
    rt.hooks["named_accounts"] = named
    books = scenario.books
    if books is None:
        books = [BookSeed(symbol=p.id) for p in venue.instruments.pairs.values() if p.status == "online"]
    for b in books:
        if venue.instruments.pair(b.symbol) is None and venue.instruments.future(b.symbol) is not None:
            continue  # futures books are seeded by the derivatives gateway's after_build hook
        seed_book(rt, b)
    if scenario.status != "online":
        venue.spot_seq.submit("set_status", ADMIN, {"status": scenario.status})
    for hook in rt.hooks.get("after_build", []):
        hook(rt)
