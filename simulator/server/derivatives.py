"""The admin API's derivatives parts: index/mark setting, the account view
(collateral, margin, positions) and /admin/futures (mark, funding, notices,
the house book).  The market itself is the venue's (`venue.derivatives`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from simulator.core.derivatives.errors import FuturesCode, FuturesError
from simulator.core.derivatives.model import money
from simulator.core.errors import EngineError
from simulator.core.venue import DERIVATIVES_ADMIN as ADMIN

from .admin_numbers import admin_decimal as _dec  # one rule for every admin number
from .runtime import Runtime
from .site import Site


def set_index(rt: Runtime, symbol: str, price: Decimal) -> None:
    """`PF_XBTUSD` (or `in_xbtusd`): index, marks follow; `PF_XBTUSD:mark`: mark
    only; `PF_XBTUSD:index`: index only."""
    seq = rt.venue.derivatives_seq
    name, _, what = symbol.partition(":")
    if what.lower() == "mark":
        seq.submit("set_mark", ADMIN, {"symbol": name, "price": Decimal(price)})
    elif what.lower() == "index":
        seq.submit("set_index", ADMIN, {"symbol": name, "price": Decimal(price), "move_marks": False})
    elif what:
        raise FuturesError(FuturesCode.INVALID_ARGUMENT)
    else:
        seq.submit("set_index", ADMIN, {"symbol": name, "price": Decimal(price)})


def account_view(rt: Runtime, account_id: str) -> dict[str, Any]:
    """The admin API's futures section: collateral, margin, positions, orders."""
    seq = rt.venue.derivatives_seq
    with seq.exclusive() as eng:
        fa = eng.state.get(account_id)
        if fa is None:
            return {"flex": {}, "margin_accounts": {}, "positions": [], "open_orders": []}
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


def install(site: Site, rt: Runtime) -> None:
    """Admin controls specific to derivatives: mark price, funding, notices (on the
    guarded admin sub-application)."""
    r = APIRouter(prefix="/futures", tags=["admin"])

    def run(kind: str, params: dict[str, Any]) -> Any:
        try:
            return rt.venue.derivatives_seq.submit(kind, ADMIN, params)
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
        with rt.venue.derivatives_seq.exclusive() as eng:
            return {
                "balances": {_alt(rt, a): _text(money(u)) for a, u in sorted(eng.house.items())},
                "positions": {s: _text(p.spec.size_dec(p.size)) for s, p in sorted(eng.house_positions.items())},
            }

    site.admin.include_router(r)
