"""The derivatives market inside the venue: engine, sequencer and the hooks
the admin API and seeding call (deposits, account view, books, index).

`prepare(rt)` runs at every build/reset: it registers a fresh engine with
its own sequencer (`rt.venue.add_market("futures", ...)`), so every state
change is journaled and replayable like the Spot side.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from simulator.core.derivatives import HANDLERS, FuturesConfig, FuturesEngine
from simulator.core.derivatives.engine import FuturesError
from simulator.core.derivatives.model import BUY, SELL, ContractSpec, money
from simulator.core.errors import EngineError
from simulator.core.ids import IdGenerator
from simulator.core.numbers import bounded, to_decimal
from simulator.core.orders import Origin
from simulator.core.sequencer import Sequencer
from simulator.server.admin import admin_decimal as _dec  # one rule for every admin number
from simulator.server.admin import admin_guard
from simulator.server.runtime import Runtime
from simulator.server.scenario import BookSeed

ADMIN = Origin("admin", "futures")
SEED = Origin("admin", "seed")
# the market maker's futures collateral (its spot balances are seeded elsewhere)
MM_COLLATERAL = {"USD": Decimal("1000000000"), "XBT": Decimal("100000"), "ETH": Decimal("1000000")}


def engine(rt: Runtime) -> FuturesEngine:
    eng: FuturesEngine = rt.venue.extensions["futures"]
    return eng


def sequencer(rt: Runtime) -> Sequencer:
    return rt.venue.sequencers["futures"]


def prepare(rt: Runtime) -> None:
    venue = rt.venue
    eng = FuturesEngine(venue.instruments, venue.accounts, IdGenerator(venue.config.seed + 0xF07), FuturesConfig())
    seq = venue.add_market("futures", eng, HANDLERS)
    venue.extensions["futures"] = eng

    def deposit(account_id: str, asset: str, amount: Decimal) -> int:
        result: int = seq.submit(
            "deposit", ADMIN, {"account_id": account_id, "asset": asset, "amount": Decimal(amount)}
        )
        return result

    def set_index(symbol: str, price: Decimal) -> None:
        """`PF_XBTUSD` (or `in_xbtusd`): index, marks follow; `PF_XBTUSD:mark`: mark only."""
        name, _, what = symbol.partition(":")
        if what.lower() == "mark":
            seq.submit("set_mark", ADMIN, {"symbol": name, "price": Decimal(price)})
        elif what.lower() == "index":
            seq.submit("set_index", ADMIN, {"symbol": name, "price": Decimal(price), "move_marks": False})
        elif what:
            raise FuturesError("invalidArgument")
        else:
            seq.submit("set_index", ADMIN, {"symbol": name, "price": Decimal(price)})

    rt.hooks["futures_deposit"] = deposit
    rt.hooks["futures_account_view"] = lambda account_id: account_view(rt, account_id)
    rt.hooks["futures_seed_book"] = lambda seed, clear=False: seed_book(rt, seed, clear)
    rt.hooks["futures_set_index"] = set_index
    rt.hooks.setdefault("after_build", []).append(_seed_default_books)


def _seed_default_books(rt: Runtime) -> None:
    """Resting liquidity on every tradeable contract (or the scenario's list)."""
    eng = engine(rt)
    books = getattr(rt.scenario, "books", None)
    if books is None:
        seeds = [BookSeed(symbol=s) for s, spec in eng.specs.items() if spec.tradeable]
    else:
        seeds = [
            b for b in books if rt.venue.instruments.pair(b.symbol) is None and rt.venue.instruments.future(b.symbol)
        ]
    for s in seeds:
        seed_book(rt, s, False)


def _market_maker(rt: Runtime) -> str:
    from simulator.server.seeding import market_maker

    mm = market_maker(rt)
    eng = engine(rt)
    fa = eng.state.get(mm.account.id)
    if fa is None or not fa.flex.balances:
        seq = sequencer(rt)
        for asset, amount in MM_COLLATERAL.items():
            if rt.venue.instruments.asset(asset) is not None:
                seq.submit("deposit", SEED, {"account_id": mm.account.id, "asset": asset, "amount": amount})
    return mm.account.id


def ladder(spec: ContractSpec, mark: Decimal, seed: BookSeed) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`levels` prices each side of the mid, `step` apart (default 10 ticks)."""
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


def seed_book(rt: Runtime, seed: BookSeed, clear: bool = False) -> list[str]:
    """Place resting bids/asks from the market-maker account; returns order ids.
    All or nothing: every level passes the engine's order checks before the first
    is placed or anything is cleared."""
    eng = engine(rt)
    seq = sequencer(rt)
    spec = eng.spec(seed.symbol)
    bids, asks = list(seed.bids), list(seed.asks)
    if not bids and not asks:
        bids, asks = ladder(spec, eng.mark_of(spec), seed)
    reqs = [
        {
            "orderType": "lmt",
            "symbol": spec.symbol,
            "side": side,
            "size": bounded(to_decimal(qty)),
            "limitPrice": bounded(to_decimal(price)),
            "reduceOnly": False,
        }
        for side, levels in ((BUY, bids), (SELL, asks))
        for price, qty in levels
    ]
    mm = _market_maker(rt)
    ids: list[str] = []
    with seq._lock:
        for req in reqs:
            refused = eng.check_new(mm, req)
            if refused is not None:
                raise FuturesError(refused)
        if clear:
            seq.submit("cancel_all", SEED, {"account_id": mm, "symbol": spec.symbol})
        for req in reqs:
            res = seq.submit("send_order", SEED, {"account_id": mm, "req": req})
            if res.status != "placed":
                raise FuturesError(res.status)
            if res.order_id is not None:
                ids.append(res.order_id)
    return ids


def account_view(rt: Runtime, account_id: str) -> dict[str, Any]:
    """The admin API's futures section: collateral, margin, positions, orders."""
    eng = engine(rt)
    fa = eng.state.get(account_id)
    if fa is None:
        return {"flex": {}, "margin_accounts": {}, "positions": [], "open_orders": []}
    with sequencer(rt)._lock:
        accounts: dict[str, Any] = {}
        for name in eng.margin_accounts(fa):
            ma = fa.flex if name == "flex" else fa.inverse[name]
            view = eng.margin_view(fa, name)
            accounts[name] = {
                "balances": {_alt(rt, a): _text(money(u)) for a, u in sorted(ma.balances.items())},
                "portfolio_value": _text(money(view.portfolio_value)),
                "margin_equity": _text(money(view.equity)),
                "initial_margin": _text(money(view.im)),
                "maintenance_margin": _text(money(view.mm)),
                "available_margin": _text(money(view.available)),
                "pnl": _text(money(view.pnl)),
            }
        positions = [
            {
                "symbol": p.spec.symbol,
                "size": _text(p.spec.size_dec(p.size)),
                "entry_price": _text(p.entry_price()),
                "mark_price": _text(eng.mark_of(p.spec)),
            }
            for p in eng.positions_of(account_id)
        ]
        return {
            "margin_accounts": accounts,
            "positions": positions,
            "open_orders": sorted(fa.open),
        }


def _alt(rt: Runtime, asset_id: str) -> str:
    a = rt.venue.instruments.assets.get(asset_id)
    return a.altname if a is not None else asset_id


def _text(d: Decimal) -> str:
    s = f"{d.normalize():f}"
    return s


# ----------------------------------------------------------------- admin extras
class PriceIn(BaseModel):
    price: str


class FundingIn(BaseModel):
    rate: str | None = Field(None, description="relative hourly rate (e.g. 0.0001); null: premium-based again")


class NoteIn(BaseModel):
    note: str
    type: str = Field("general", description="market | general | new_feature | bug_fix | maintenance | settlement")
    priority: str = Field("low", description="low | medium | high")


def install(app: FastAPI, rt: Runtime) -> None:
    """Admin controls specific to derivatives: mark price, funding, notices."""

    r = APIRouter(prefix="/admin/futures", tags=["admin"], dependencies=[Depends(admin_guard(rt))])

    def run(kind: str, params: dict[str, Any]) -> Any:
        try:
            return sequencer(rt).submit(kind, ADMIN, params)
        except EngineError as exc:
            raise HTTPException(400, exc.text) from exc

    @r.post("/mark/{symbol}", summary="Set a contract's mark price (the index stays)")
    def set_mark(symbol: str, body: PriceIn) -> dict[str, Any]:
        run("set_mark", {"symbol": symbol, "price": _dec(body.price, "price")})
        return {"symbol": symbol, "mark": body.price}

    @r.post("/funding/{symbol}", summary="Pin a perpetual's relative funding rate per period")
    def set_funding(symbol: str, body: FundingIn) -> dict[str, Any]:
        rate = _dec(body.rate, "rate") if body.rate is not None else None
        run("set_funding", {"symbol": symbol, "rate": rate})
        return {"symbol": symbol, "rate": body.rate}

    @r.post("/notifications", summary="Publish a notification (REST notifications, WS notifications_auth)")
    def notify(body: NoteIn) -> dict[str, Any]:
        if body.priority not in ("low", "medium", "high"):
            raise HTTPException(400, "priority")
        result: dict[str, Any] = run("notify", {"note": body.note, "type": body.type, "priority": body.priority})
        return result

    @r.get("/house", summary="The venue's own book: fees, residues, liquidated positions")
    def house() -> dict[str, Any]:
        eng = engine(rt)
        with sequencer(rt)._lock:
            return {
                "balances": {_alt(rt, a): _text(money(u)) for a, u in sorted(eng.house.items())},
                "positions": {s: _text(p.spec.size_dec(p.size)) for s, p in sorted(eng.house_positions.items())},
            }

    app.include_router(r)
