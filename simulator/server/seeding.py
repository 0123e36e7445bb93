"""Building the configured starting state: demo account, scenario accounts,
resting liquidity on Spot pairs and Derivatives contracts.  Everything goes
through the venue's commands, so it is journaled and a reset rebuilds the
same state (same seed, same keys)."""

from __future__ import annotations

from decimal import Decimal

from simulator.core.commands import FuturesOrderRequest, OrderRequest
from simulator.core.derivatives import FuturesCode, FuturesError
from simulator.core.derivatives.model import ContractSpec
from simulator.core.errors import EngineError, Reject
from simulator.core.instruments import SpotPair
from simulator.core.numbers import bounded, to_decimal
from simulator.core.orders import BUY, SELL, Origin
from simulator.core.venue import AccountCredentials, Venue
from simulator.scenario import BookSeed, Scenario

from .runtime import Runtime

ADMIN = Origin("admin", "seed")
MM_BALANCE = Decimal("1000000000")
# the market maker's derivatives collateral (its spot balances are MM_BALANCE of every asset)
MM_COLLATERAL = {"USD": Decimal("1000000000"), "XBT": Decimal("100000"), "ETH": Decimal("1000000")}

Levels = list[tuple[str, str]]


def market_maker(rt: Runtime) -> AccountCredentials:
    """The account that owns seeded liquidity (created on first use)."""
    mm = rt.services.market_maker
    if mm is None:
        venue = rt.venue
        mm = venue.create_account(
            {a.id: MM_BALANCE for a in venue.instruments.assets.values()}, tier="pro", rate_limits=False
        )
        rt.services.market_maker = mm
    return mm


def seed_book(rt: Runtime, seed: BookSeed, clear: bool = False) -> list[str]:
    """Resting bids/asks for one Spot pair or Derivatives contract; returns the order ids.

    All or nothing: every level is checked by the engine's own order rules
    (numbers, ticks, lots, minimums) before the first is placed or anything is
    cleared, so a refused book leaves the venue as it was."""
    if rt.venue.instruments.pair(seed.symbol) is None and rt.venue.instruments.future(seed.symbol) is not None:
        return _seed_derivatives(rt, seed, clear)
    return _seed_spot(rt, seed, clear)


def _seed_spot(rt: Runtime, seed: BookSeed, clear: bool) -> list[str]:
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
    acct_id = market_maker(rt).account.id
    ids: list[str] = []
    with venue.spot_seq.exclusive():
        for req in reqs:
            venue.spot.build_order(acct_id, req)  # a pure check: raises EngineError, changes nothing
        if clear:
            venue.spot_seq.submit("cancel_all", ADMIN, {"account_id": acct_id, "pair": pair.id})
        for req in reqs:
            res = venue.spot_seq.submit("add_order", ADMIN, {"account_id": acct_id, "req": req})
            if res.order is not None:
                ids.append(res.order.id)
    return ids


def _derivatives_market_maker(rt: Runtime) -> str:
    """The market maker, with derivatives collateral on first use."""
    venue = rt.venue
    mm = market_maker(rt).account.id
    fa = venue.derivatives.state.get(mm)
    if fa is None or not fa.flex.balances:
        for asset, amount in MM_COLLATERAL.items():
            if venue.instruments.asset(asset) is not None:
                venue.deposit_derivatives(mm, asset, amount, ADMIN)
    return mm


def _seed_derivatives(rt: Runtime, seed: BookSeed, clear: bool) -> list[str]:
    venue = rt.venue
    eng, seq = venue.derivatives, venue.derivatives_seq
    spec = eng.spec(seed.symbol)
    bids, asks = list(seed.bids), list(seed.asks)
    if not bids and not asks:
        bids, asks = derivatives_ladder(spec, eng.mark_of(spec), seed)
    reqs = [
        FuturesOrderRequest(spec.symbol, side, "lmt", bounded(to_decimal(qty)), limit_price=bounded(to_decimal(price)))
        for side, levels in ((BUY, bids), (SELL, asks))
        for price, qty in levels
    ]
    mm = _derivatives_market_maker(rt)
    ids: list[str] = []
    with seq.exclusive():
        for req in reqs:
            refused = eng.check_new(mm, req)
            if refused is not None:
                raise FuturesError(refused)
        if clear:
            seq.submit("cancel_all", ADMIN, {"account_id": mm, "symbol": spec.symbol})
        for req in reqs:
            res = seq.submit("send_order", ADMIN, {"account_id": mm, "req": req})
            if res.status is not FuturesCode.PLACED:
                raise FuturesError(res.status)
            if res.order_id is not None:
                ids.append(res.order_id)
    return ids


def ladder(venue: Venue, pair: SpotPair, seed: BookSeed) -> tuple[Levels, Levels]:
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


def derivatives_ladder(spec: ContractSpec, mark: Decimal, seed: BookSeed) -> tuple[Levels, Levels]:
    """`levels` prices each side of the mid (default: the mark), `step` apart (default 10 ticks)."""
    tick = spec.contract.tick_size
    mid = Decimal(seed.mid) if seed.mid else mark
    if not mid or mid <= 0:
        return [], []
    step = Decimal(seed.step) if seed.step else tick * 10
    step = max((step / tick).to_integral_value(), Decimal(1)) * tick
    mid = (mid / tick).to_integral_value() * tick
    qty = Decimal(seed.qty) if seed.qty else spec.size_dec(1000 * spec.qstep)
    bids = [(str(mid - step * i), str(qty)) for i in range(1, seed.levels + 1) if mid - step * i > 0]
    asks = [(str(mid + step * i), str(qty)) for i in range(1, seed.levels + 1)]
    return bids, asks


def _deposit(venue: Venue, account_id: str, balances: dict[str, str]) -> None:
    for asset, amount in balances.items():
        venue.deposit_derivatives(account_id, asset, Decimal(amount))


def build_state(rt: Runtime, scenario: Scenario) -> None:
    """Demo account first (its keys are stable across resets), then the named
    accounts, Spot books, the status, Derivatives books and living markets."""
    venue = rt.venue
    rt.demo = venue.create_account(dict(scenario.demo_balances))
    _deposit(venue, rt.demo.account.id, scenario.demo_futures_balances)
    named: dict[str, AccountCredentials] = {}
    for a in scenario.accounts:
        creds = venue.create_account(dict(a.balances), tier=a.tier, nonce_window=a.nonce_window, margin=a.margin)
        named[a.name] = creds
        _deposit(venue, creds.account.id, a.futures_balances)
    rt.services.named_accounts = named
    inst = venue.instruments
    books = scenario.books
    if books is None:
        spot = [BookSeed(symbol=p.id) for p in inst.pairs.values() if p.status == "online"]
        derivatives = [BookSeed(symbol=s) for s, spec in venue.derivatives.specs.items() if spec.tradeable]
    else:
        spot = [b for b in books if inst.pair(b.symbol) is not None or inst.future(b.symbol) is None]
        derivatives = [b for b in books if inst.pair(b.symbol) is None and inst.future(b.symbol) is not None]
    for b in spot:
        _seed_spot(rt, b, False)
    if scenario.status != "online":
        venue.spot_seq.submit("set_status", ADMIN, {"status": scenario.status})
    for b in derivatives:
        _seed_derivatives(rt, b, False)
    rt.services.market.apply_scenario()
