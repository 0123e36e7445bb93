"""The venue's rate limits as the protocol edges ask for them: by account id,
at venue time.

Gateways keep no counters of their own: they call these, and the Spot
engine's admission hook charges the trading counter for every protocol.
The model itself (tiers, costs, decay) is `ratelimit.py`.
"""

from __future__ import annotations

from .accounts import AccountRegistry
from .clock import VenueClock
from .errors import EngineError, Reject
from .ratelimit import FuturesRateLimits, SpotRateLimits, futures_rest_cost, history_cost


class VenueLimits:
    """One per venue build (it reads that build's counters)."""

    def __init__(
        self, accounts: AccountRegistry, clock: VenueClock, spot: SpotRateLimits, derivatives: FuturesRateLimits
    ) -> None:
        self.accounts = accounts
        self.clock = clock
        self.spot = spot
        self.derivatives = derivatives

    def charge_spot_call(self, account_id: str, endpoint: str) -> None:
        """A Spot REST private call; raises EngineError when the counter is full."""
        acct = self.accounts.get(account_id)
        if acct is not None:
            self.spot.charge_call(acct, endpoint, self.clock.now_ns())

    def spot_trade_counter(self, account_id: str, pair_id: str) -> float:
        """The account's decayed trading counter on one pair (WS `ratecount`)."""
        acct = self.accounts.get(account_id)
        return 0.0 if acct is None else self.spot.trade_counter(acct, pair_id, self.clock.now_ns())

    def spot_max_trade_counter(self, account_id: str) -> int:
        """The account's trading-counter threshold (WS `maxratecount`)."""
        acct = self.accounts.get(account_id)
        return 0 if acct is None else self.spot.max_trade_counter(acct)

    def charge_futures_rest(self, account_id: str, endpoint: str, cost: int | None = None, history: bool = False) -> None:
        """A Derivatives REST call at its published cost (or `cost`)."""
        c = cost if cost is not None else (history_cost(endpoint) if history else futures_rest_cost(endpoint))
        if not self.derivatives.charge_rest(account_id, c, self.clock.now_ns(), history=history):
            raise EngineError(Reject.RATE_LIMIT_API)

    def charge_futures_fix(self, session_id: str, account_id: str, cost: int) -> None:
        """A Derivatives FIX message, on its session's own budget."""
        if not self.derivatives.charge_fix(session_id, account_id, cost, self.clock.now_ns()):
            raise EngineError(Reject.RATE_LIMIT)
