"""Fixtures for the derivatives tests: an in-process market (engine +
sequencer on a frozen clock) and a TLS-enabled venue for the WSS client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from simulator.core.commands import FuturesOrderRequest
from simulator.core.derivatives import FuturesEngine, OrderResult
from simulator.core.orders import Origin
from simulator.core.sequencer import Sequencer
from simulator.core.venue import Venue, VenueConfig
from simulator.pytest_plugin import KrakenVenue, start_venue

T0 = 1_800_000_000 * 10**9 + 10**9  # one second after a funding hour
ORIGIN = Origin("test", "s1")
LEGACY_NAMES = {"cliOrdId": "cl_ord_id", "reduceOnly": "reduce_only", "stopPrice": "stop_price",
                "triggerSignal": "trigger_signal", "trailingStopMaxDeviation": "trail_deviation",
                "trailingStopDeviationUnit": "trail_unit", "limitPriceOffsetValue": "limit_offset",
                "limitPriceOffsetUnit": "limit_offset_unit"}
DECIMALS = frozenset({"stop_price", "trail_deviation", "limit_offset"})


@dataclass
class Market:
    venue: Venue
    eng: FuturesEngine
    seq: Sequencer

    def account(self, **collateral: str) -> str:
        creds = self.venue.create_account({})
        for asset, amount in collateral.items():
            self.seq.submit(
                "deposit", ORIGIN, {"account_id": creds.account.id, "asset": asset, "amount": Decimal(amount)}
            )
        return creds.account.id

    def send(
        self, account: str, order_type: str, symbol: str, side: str, size: str, price: str | None = None, **kw: Any
    ) -> OrderResult:
        req = FuturesOrderRequest(symbol, side, order_type, Decimal(size),
                                  limit_price=Decimal(price) if price is not None else None)
        for k, v in kw.items():  # Futures REST names, as the tests write them
            name = LEGACY_NAMES[k]
            setattr(req, name, Decimal(v) if name in DECIMALS else v)
        res: OrderResult = self.seq.submit("send_order", ORIGIN, {"account_id": account, "req": req})
        return res

    def cmd(self, kind: str, **params: Any) -> Any:
        return self.seq.submit(kind, ORIGIN, params)

    def advance(self, seconds: float) -> None:
        self.venue.clock.advance_ns(int(seconds * 10**9))
        self.seq.poll_timers()

    def position(self, account: str, symbol: str) -> Decimal:
        fa = self.eng.fa(account)
        p = fa.positions.get(symbol)
        return p.spec.size_dec(p.size) if p else Decimal(0)

    def balance(self, account: str, asset: str = "ZUSD", margin: str = "flex") -> Decimal:
        fa = self.eng.fa(account)
        ma = fa.flex if margin == "flex" else fa.inverse[margin]
        return Decimal(ma.balances.get(asset, 0)).scaleb(-10)


def make_market(seed: int = 7) -> Market:
    venue = Venue(VenueConfig(seed=seed, clock_mode="frozen", clock_start_ns=T0))
    return Market(venue, venue.derivatives, venue.derivatives_seq)


@pytest.fixture
def market() -> Market:
    return make_market()


@pytest.fixture(scope="module")
def tls_venue() -> Iterator[KrakenVenue]:
    tv, venue = start_venue(tls=True)
    try:
        yield venue
    finally:
        tv.stop()
