from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from simulator.core.commands import OrderRequest
from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


class Desk:
    """Drives a frozen-clock venue the way a gateway would."""

    def __init__(self, seed: int = 7) -> None:
        self.venue = Venue(VenueConfig(seed=seed, clock_mode="frozen", clock_start_ns=T0))
        self.seq = self.venue.spot_seq
        self.eng = self.venue.spot

    def account(self, **balances: Any) -> str:
        return self.venue.create_account({k: D(str(v)) for k, v in balances.items()}).account.id

    def add(self, acct: str, side: str, qty: str, price: Any = None, pair: str = "XBTUSD", otype: str | None = None, **kw: Any) -> Any:
        p = D(price) if isinstance(price, str) else price
        req = OrderRequest(pair, side, otype or ("limit" if price is not None else "market"), D(qty), p, **kw)
        return self.seq.submit("add_order", Origin("rest", "s1", acct), {"account_id": acct, "req": req})

    def cancel(self, acct: str, **kw: Any) -> Any:
        return self.seq.submit("cancel_order", Origin("rest", "s1", acct), {"account_id": acct, **kw})

    def bal(self, acct: str, asset: str) -> D:
        a = self.venue.accounts.accounts[acct]
        return D(a.balances.get(asset, 0)).scaleb(-10)

    def avail(self, acct: str, asset: str) -> D:
        a = self.venue.accounts.accounts[acct]
        return D(a.available(asset)).scaleb(-10)

    def advance(self, ms: int) -> None:
        self.venue.clock.advance_ms(ms)
        self.seq.poll_timers()


@pytest.fixture
def desk() -> Desk:
    return Desk()
