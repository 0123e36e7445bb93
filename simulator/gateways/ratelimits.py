"""Publishes the core rate-limit model to the gateways as hooks.

Gateways never keep their own counters: they call these, and the engine's
admission hook charges the Spot trading counter for every protocol."""

from __future__ import annotations

from simulator.core.errors import EngineError, Reject
from simulator.server.runtime import Runtime


def prepare(rt: Runtime) -> None:
    def spot_rest(account_id: str, endpoint: str) -> None:
        v = rt.venue
        acct = v.accounts.get(account_id)
        if acct is not None:
            v.ratelimits.charge_call(acct, endpoint, v.clock.now_ns())

    def spot_ratecounter(account_id: str, pair_id: str) -> float:
        v = rt.venue
        acct = v.accounts.get(account_id)
        return 0.0 if acct is None else v.ratelimits.trade_counter(acct, pair_id, v.clock.now_ns())

    def spot_maxratecount(account_id: str) -> int:
        v = rt.venue
        acct = v.accounts.get(account_id)
        return 0 if acct is None else v.ratelimits.max_trade_counter(acct)

    def futures_rest(account_id: str, endpoint: str, cost: int | None = None, history: bool = False) -> None:
        from simulator.core.ratelimit import futures_rest_cost, history_cost

        v = rt.venue
        c = cost if cost is not None else (history_cost(endpoint) if history else futures_rest_cost(endpoint))
        if not v.futures_ratelimits.charge_rest(account_id, c, v.clock.now_ns(), history=history):
            raise EngineError(Reject.RATE_LIMIT_API)

    def futures_fix(session_id: str, account_id: str, cost: int) -> None:
        v = rt.venue
        if not v.futures_ratelimits.charge_fix(session_id, account_id, cost, v.clock.now_ns()):
            raise EngineError(Reject.RATE_LIMIT)

    rt.hooks["spot_rest_ratelimit"] = spot_rest
    rt.hooks["spot_ratecounter"] = spot_ratecounter
    rt.hooks["spot_maxratecount"] = spot_maxratecount
    rt.hooks["futures_rest_ratelimit"] = futures_rest
    rt.hooks["futures_fix_ratelimit"] = futures_fix
