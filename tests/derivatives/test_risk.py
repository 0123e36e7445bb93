"""Risk numbers (core/derivatives/risk.py), the one copy REST and WS report:
the liquidation price is where equity meets today's maintenance margin, leverage
and ROE follow from margin and PnL."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from simulator.core.derivatives import risk
from simulator.core.derivatives.model import money

from .conftest import Market

PF, PI = "PF_XBTUSD", "PI_XBTUSD"


@pytest.mark.parametrize(("symbol", "collateral", "account", "size"), [
    (PF, {"USD": "10000"}, "flex", "1"),
    (PI, {"XBT": "0.5"}, "fi_xbtusd", "10000"),
])
def test_liquidation_price_is_where_equity_meets_maintenance(
    market: Market, symbol: str, collateral: dict[str, str], account: str, size: str
) -> None:
    a = market.account(**collateral)
    b = market.account(USD="1000000", XBT="100")
    market.send(b, "lmt", symbol, "sell", size, "50000")
    market.send(a, "lmt", symbol, "buy", size, "50000")
    eng = market.eng
    fa = eng.fa(a)
    r = risk.position_risk(eng, fa, fa.positions[symbol])
    view = eng.margin_view(fa, account)
    assert 0 < r.liquidation < D(50000)
    assert r.roe == r.pnl / r.im * 100 and r.im > 0
    assert r.leverage == money(abs(fa.positions[symbol].spec.notional(fa.positions[symbol].size, eng.mark_of(
        fa.positions[symbol].spec)))) / money(view.equity)
    eng.mark[symbol] = r.liquidation.quantize(D("0.01"))  # a read-only what-if: no command runs
    at = eng.margin_view(fa, account)
    # equity there meets today's maintenance margin (the estimate holds margin rates, funding
    # and every other position where they are: within 1%)
    assert abs(at.equity - view.mm) <= view.mm // 100
