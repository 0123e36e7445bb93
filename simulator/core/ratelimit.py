"""Kraken's rate limits as one model the gateways only call.

Scopes (the seed decides where sources disagree):
- Spot trading counter: per account (master and subaccounts pooled), per pair,
  charged by the engine itself, so REST, WS and FIX share it automatically.
- Spot API call counter: per account, charged by Spot REST private calls.
- Spot open orders: per account per pair, cap by tier.
- Derivatives REST: 500 cost units per 10 s per account (+ the history pool).
- Derivatives FIX: one budget per FIX session.
All time is venue time (ns), so a frozen clock makes every case exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.core.clock import NS_PER_S

from .accounts import Account, AccountRegistry
from .digest import StateHash
from .errors import EngineError, Reject

MICRO = 1_000_000  # counters are kept in millionths


@dataclass(frozen=True)
class SpotTier:
    call_max: int
    call_decay_micro: int  # per second, millionths
    trade_threshold: int
    trade_decay_micro: int
    max_open_per_pair: int


SPOT_TIERS = {
    "starter": SpotTier(15, 330_000, 60, 1_000_000, 60),
    "intermediate": SpotTier(20, 500_000, 125, 2_340_000, 80),
    "pro": SpotTier(20, 1_000_000, 180, 3_750_000, 225),
}

# REST private call costs (everything else private: 1; trading calls: 0, they
# are charged on the trading counter instead)
CALL_COSTS = {"Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2}
TRADING_CALLS = frozenset(
    {
        "AddOrder",
        "AddOrderBatch",
        "AmendOrder",
        "EditOrder",
        "CancelOrder",
        "CancelOrderBatch",
        "CancelAll",
        "CancelAllOrdersAfter",
    }
)

_AMEND_BANDS = ((5, 3), (10, 2), (15, 1))
_EDIT_BANDS = ((5, 6), (10, 5), (15, 4), (45, 2), (90, 1))
_CANCEL_BANDS = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))


def age_penalty(bands: tuple[tuple[int, int], ...], age_ns: int) -> int:
    for limit_s, cost in bands:
        if age_ns < limit_s * NS_PER_S:
            return cost
    return 0


class DecayingCounter:
    """A counter that decays linearly with venue time, never below zero."""

    __slots__ = ("value", "at_ns")

    def __init__(self) -> None:
        self.value = 0  # millionths
        self.at_ns = 0

    def current(self, now_ns: int, decay_micro_per_s: int) -> int:
        if now_ns > self.at_ns:
            self.value = max(0, self.value - (now_ns - self.at_ns) * decay_micro_per_s // NS_PER_S)
            self.at_ns = now_ns
        return self.value

    def peek(self, now_ns: int, decay_micro_per_s: int) -> int:
        """The value at `now_ns`, for a read: unchanged state, so reads (not
        journaled) never shift what the next charge (journaled) sees."""
        if now_ns > self.at_ns:
            return max(0, self.value - (now_ns - self.at_ns) * decay_micro_per_s // NS_PER_S)
        return self.value


class SpotRateLimits:
    """The Spot limits; `admission` is installed as the engine's hook."""

    def __init__(self, accounts: AccountRegistry) -> None:
        self.accounts = accounts
        self.trading: dict[tuple[str, str], DecayingCounter] = {}
        self.calls: dict[str, DecayingCounter] = {}
        self.enabled = True

    def _scope(self, acct: Account) -> Account:
        """Master and subaccounts share the master's limits and tier."""
        if acct.parent_id is not None:
            parent = self.accounts.get(acct.parent_id)
            if parent is not None:
                return parent
        return acct

    def _active(self, acct: Account) -> bool:
        return self.enabled and acct.rate_limits_enabled

    # -------------------------------------------------------- trading counter
    def trade_counter(self, acct: Account, pair_id: str, now_ns: int) -> float:
        """The live counter value (what WS `ratecounter` shows)."""
        master = self._scope(acct)
        tier = SPOT_TIERS[master.tier]
        c = self.trading.get((master.id, pair_id))
        return 0.0 if c is None else c.peek(now_ns, tier.trade_decay_micro) / MICRO

    def charge_trade(self, acct: Account, pair_id: str, cost_micro: int, now_ns: int, enforce: bool = True) -> None:
        if not self._active(acct) or cost_micro <= 0:
            return
        master = self._scope(acct)
        tier = SPOT_TIERS[master.tier]
        c = self.trading.get((master.id, pair_id))
        if c is None:
            c = self.trading[(master.id, pair_id)] = DecayingCounter()
            c.at_ns = now_ns
        value = c.current(now_ns, tier.trade_decay_micro)
        if enforce and value + cost_micro > tier.trade_threshold * MICRO:
            raise EngineError(Reject.RATE_LIMIT)
        c.value = value + cost_micro

    def admission(self, action: str, acct: Account, pair: object, order: object, now_ns: int) -> None:
        """Engine hook: charge (or refuse) one transaction on its pair."""
        if not self.enabled or not acct.rate_limits_enabled or pair is None:  # _active, inline: every order asks
            return
        pair_id = pair.id  # type: ignore[attr-defined]
        tier = SPOT_TIERS[self._scope(acct).tier]
        age = now_ns - getattr(order, "rl_ns", now_ns)
        if action == "add":
            if order is not None and getattr(order, "batch", False):
                cost = MICRO // 2
            else:
                cost = MICRO
            opened = self._open_on_pair(acct, pair_id)
            if opened >= tier.max_open_per_pair:
                raise EngineError(Reject.ORDERS_LIMIT)
            self.charge_trade(acct, pair_id, cost, now_ns)
        elif action == "amend":
            self.charge_trade(acct, pair_id, MICRO + age_penalty(_AMEND_BANDS, age) * MICRO, now_ns)
        elif action == "edit":
            self.charge_trade(acct, pair_id, MICRO + age_penalty(_EDIT_BANDS, age) * MICRO, now_ns)
        elif action == "cancel":
            self.charge_trade(acct, pair_id, age_penalty(_CANCEL_BANDS, age) * MICRO, now_ns)
        elif action == "batch_cancel":
            # accepted even over the threshold (Kraken: the batch still goes through)
            self.charge_trade(acct, pair_id, age_penalty(_CANCEL_BANDS, age) * MICRO, now_ns, enforce=False)

    def _open_on_pair(self, acct: Account, pair_id: str) -> int:
        counter = getattr(self, "open_counter", None)
        if counter is None:
            return 0
        return int(counter(acct.id, pair_id))

    # ----------------------------------------------------------- call counter
    def charge_call(self, acct: Account, endpoint: str, now_ns: int) -> None:
        """REST private call counter; raises EAPI:Rate limit exceeded."""
        if not self._active(acct) or endpoint in TRADING_CALLS:
            return
        master = self._scope(acct)
        tier = SPOT_TIERS[master.tier]
        cost = CALL_COSTS.get(endpoint, 1) * MICRO
        c = self.calls.get(master.id)
        if c is None:
            c = self.calls[master.id] = DecayingCounter()
            c.at_ns = now_ns
        value = c.current(now_ns, tier.call_decay_micro)
        if value + cost > tier.call_max * MICRO:
            raise EngineError(Reject.RATE_LIMIT_API)
        c.value = value + cost

    def call_counter(self, acct: Account, now_ns: int) -> float:
        master = self._scope(acct)
        c = self.calls.get(master.id)
        return 0.0 if c is None else c.current(now_ns, SPOT_TIERS[master.tier].call_decay_micro) / MICRO

    def max_trade_counter(self, acct: Account) -> int:
        return SPOT_TIERS[self._scope(acct).tier].trade_threshold

    def digest(self) -> str:
        """The trading counters: the engine charges them inside its commands,
        so a replay rebuilds them exactly.  Not the REST call counters: a
        gateway charges those before a request becomes a command (a refused
        call never reaches the journal), so no replay can rebuild them."""
        h = StateHash()
        h.add("enabled", self.enabled)
        for key in sorted(self.trading):
            c = self.trading[key]
            h.add("trading", key, c.value, c.at_ns)
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """The trading and call counters (the open-order counter is wiring)."""
        return {
            "enabled": self.enabled,
            "trading": [[a, p, c.value, c.at_ns] for (a, p), c in self.trading.items()],
            "calls": [[a, c.value, c.at_ns] for a, c in self.calls.items()],
        }

    def from_state(self, state: dict[str, Any]) -> None:
        def counter(value: int, at_ns: int) -> DecayingCounter:
            c = DecayingCounter()
            c.value, c.at_ns = value, at_ns
            return c

        self.enabled = bool(state["enabled"])
        self.trading = {(a, p): counter(v, at) for a, p, v, at in state["trading"]}
        self.calls = {a: counter(v, at) for a, v, at in state["calls"]}


# ------------------------------------------------------------------ futures
FUTURES_REST_COSTS = {
    "sendorder": 10,
    "editorder": 10,
    "cancelorder": 10,
    "accounts": 2,
    "openpositions": 2,
    "fills": 2,
    "cancelallorders": 25,
    "cancelallordersafter": 25,
    "withdrawaltospotwallet": 100,
    "openorders": 2,
    "orders/status": 1,
    "unwindqueue": 200,
    "leveragepreferences": 2,
    "leveragepreferences:put": 10,
    "pnlpreferences": 2,
    "pnlpreferences:put": 10,
    "transfer": 10,
    "transfer/subaccount": 10,
    "self-trade-strategy": 2,
}
FUTURES_REST_BUDGET = 500
FUTURES_REST_WINDOW_S = 10
HISTORY_POOL = 100
HISTORY_REFILL_S = 600


def futures_rest_cost(endpoint: str, batch_size: int = 0, last_fill_time: bool = False, put: bool = False) -> int:
    if endpoint == "batchorder":
        return 9 + batch_size
    if endpoint == "fills" and last_fill_time:
        return 25
    key = f"{endpoint}:put" if put and f"{endpoint}:put" in FUTURES_REST_COSTS else endpoint
    return FUTURES_REST_COSTS.get(key, 0)


def history_cost(endpoint: str, count: int | None = None) -> int:
    if endpoint == "accountlogcsv":
        return 6
    if endpoint == "accountlog":
        n = 500 if count is None else count
        for limit, cost in ((25, 1), (50, 2), (1000, 3), (5000, 6)):
            if n <= limit:
                return cost
        return 10
    return 1


class Budget:
    """`capacity` units refilled continuously over `window_s` (token bucket)."""

    __slots__ = ("capacity", "window_ns", "used", "at_ns")

    def __init__(self, capacity: int, window_s: int) -> None:
        self.capacity = capacity * MICRO
        self.window_ns = window_s * NS_PER_S
        self.used = 0
        self.at_ns = 0

    def spend(self, cost: int, now_ns: int) -> bool:
        if now_ns > self.at_ns:
            refill = (now_ns - self.at_ns) * self.capacity // self.window_ns
            self.used = max(0, self.used - refill)
            self.at_ns = now_ns
        c = cost * MICRO
        if self.used + c > self.capacity:
            return False
        self.used += c
        return True

    def remaining(self, now_ns: int) -> float:
        self.spend(0, now_ns)
        return (self.capacity - self.used) / MICRO


class FuturesRateLimits:
    """Derivatives: REST per account (+ history pool), FIX per session."""

    def __init__(self, accounts: AccountRegistry) -> None:
        self.accounts = accounts
        self.rest: dict[str, Budget] = {}
        self.history: dict[str, Budget] = {}
        self.fix: dict[str, Budget] = {}
        self.enabled = True

    def charge_rest(self, account_id: str, cost: int, now_ns: int, history: bool = False) -> bool:
        acct = self.accounts.get(account_id)
        if not self.enabled or acct is None or not acct.rate_limits_enabled or cost <= 0:
            return True
        pool = self.history if history else self.rest
        b = pool.get(account_id)
        if b is None:
            b = pool[account_id] = Budget(HISTORY_POOL, HISTORY_REFILL_S) if history else Budget(
                FUTURES_REST_BUDGET, FUTURES_REST_WINDOW_S
            )
            b.at_ns = now_ns
        return b.spend(cost, now_ns)

    def charge_fix(self, session_id: str, account_id: str, cost: int, now_ns: int) -> bool:
        acct = self.accounts.get(account_id)
        if not self.enabled or acct is None or not acct.rate_limits_enabled:
            return True
        b = self.fix.get(session_id)
        if b is None:
            b = self.fix[session_id] = Budget(FUTURES_REST_BUDGET, FUTURES_REST_WINDOW_S)
            b.at_ns = now_ns
        return b.spend(cost, now_ns)

    def to_state(self) -> dict[str, Any]:
        def pool(budgets: dict[str, Budget]) -> list[Any]:
            return [[k, b.capacity, b.window_ns, b.used, b.at_ns] for k, b in budgets.items()]

        return {"enabled": self.enabled, "rest": pool(self.rest), "history": pool(self.history), "fix": pool(self.fix)}

    def from_state(self, state: dict[str, Any]) -> None:
        def pool(recs: list[Any]) -> dict[str, Budget]:
            out = {}
            for k, capacity, window_ns, used, at_ns in recs:
                b = out[k] = Budget(0, 0)
                b.capacity, b.window_ns, b.used, b.at_ns = capacity, window_ns, used, at_ns
            return out

        self.enabled = bool(state["enabled"])
        self.rest, self.history, self.fix = pool(state["rest"]), pool(state["history"]), pool(state["fix"])
