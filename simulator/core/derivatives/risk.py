"""Risk numbers of positions and collateral, computed once.

Futures REST (`openpositions`, `accounts`) and Futures WS (`open_positions`,
`balances`) report the same liquidation price, effective leverage, ROE,
unrealised funding and available collateral; each formatter only names and
rounds them in its dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .engine import FuturesEngine, MarginView
from .model import FAccount, Position, money

TEN_DP = Decimal("1e-10")


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One position at the mark: PnL, margins, leverage, liquidation price."""

    pnl: Decimal
    im: Decimal
    mm: Decimal
    leverage: Decimal  # |notional| / equity of its margin account
    liquidation: Decimal  # mark at which equity falls to maintenance, the rest held
    roe: Decimal  # PnL / initial margin, in percent
    funding: Decimal  # unrealised funding of the current period


@dataclass(frozen=True, slots=True)
class CollateralLine:
    """One currency of the multi-collateral (flex) account, in its own units
    (quantity, available) and in USD (value, collateral)."""

    asset: str
    quantity: Decimal
    value: Decimal
    collateral: Decimal
    available: Decimal

    @property
    def haircut(self) -> Decimal:
        return (1 - self.collateral / self.value) if self.value else Decimal(0)


def unrealized_funding(eng: FuturesEngine, p: Position) -> Decimal:
    """Funding the position has accrued since the last funding time (perpetuals)."""
    spec = p.spec
    if not spec.perpetual:
        return Decimal(0)
    frac = eng.funding_fraction()
    if not frac:
        return Decimal(0)
    n = spec.notional(p.size, eng.mark_of(spec))
    return (-money(n) * eng.relative_funding(spec) * frac).quantize(TEN_DP)


def position_risk(eng: FuturesEngine, fa: FAccount, p: Position) -> PositionRisk:
    s = p.spec
    mark = eng.mark_of(s)
    n = s.notional(p.size, mark)
    pnl = money(s.value(p.size, mark) - p.cost)
    ir, mr = eng.margin_rates(fa, s, p.size, n)
    im = money(abs(n)) * ir
    mm = money(abs(n)) * mr
    view = eng.margin_view(fa, s.margin_account)
    equity = money(view.equity)
    lev = money(abs(n)) / equity if equity > 0 else Decimal(0)
    liq = Decimal(0)
    size = s.size_dec(p.size) * s.cs
    slack = money(view.equity - view.mm)
    if size:
        if s.linear:
            liq = mark - slack / size
        else:
            inv = 1 / mark + slack / size
            liq = 1 / inv if inv > 0 else Decimal(0)
    return PositionRisk(
        pnl=pnl,
        im=im,
        mm=mm,
        leverage=lev,
        liquidation=max(liq, Decimal(0)),
        roe=(pnl / im * 100) if im else Decimal(0),
        funding=unrealized_funding(eng, p),
    )


def account_leverage(view: MarginView) -> Decimal:
    """A margin account's effective leverage: initial margin over equity, in percent."""
    return money(view.im) / money(view.equity) * 100 if view.equity > 0 else Decimal(0)


def flex_collateral(eng: FuturesEngine, fa: FAccount, view: MarginView) -> list[CollateralLine]:
    """Each flex currency: its USD value, collateral value after the haircut,
    and how much of it is free (the account's available margin, in that currency)."""
    out = []
    avail_usd = money(max(view.available, 0))
    for asset, units in sorted(fa.flex.balances.items()):
        px = eng.usd_price(asset)
        qty = money(units)
        a = eng.instruments.assets.get(asset)
        factor = Decimal(a.collateral_value) if a is not None else Decimal(0)
        value = qty * px
        coll = value * factor if value > 0 else value
        if px and factor and qty > 0:
            available = min(qty, avail_usd / (px * factor))
        else:
            available = min(qty, Decimal(0)) if qty < 0 else Decimal(0)
        out.append(CollateralLine(asset, qty, value.quantize(TEN_DP), coll.quantize(TEN_DP), available.quantize(TEN_DP)))
    return out


__all__ = [
    "CollateralLine",
    "PositionRisk",
    "account_leverage",
    "flex_collateral",
    "position_risk",
    "unrealized_funding",
]
